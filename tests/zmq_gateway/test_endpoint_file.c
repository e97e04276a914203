/* Unit tests of the endpoint file the gateway publishes (src/zmq_gateway/session.c): exact
 * contents with and without the optional lines, mode 0600 whatever the umask, no temporary file
 * left, and a failure that names the file and returns a negative errno. */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "session.h"

static char dir[] = "/tmp/kf-endpoint-XXXXXX";

static int make_dir(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static void read_all(const char *path, char *buf, size_t len)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, len - 1, f);
    buf[n] = '\0';
    fclose(f);
}

static int entries_in(const char *path)
{
    DIR *d = opendir(path);
    assert_non_null(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void test_endpoint_file_has_every_line_and_mode_0600(void **state)
{
    (void)state;
    struct kf_session s = {0};
    snprintf(s.endpoint, sizeof(s.endpoint), "tcp://10.0.0.1:5555");
    snprintf(s.broadcast_endpoint, sizeof(s.broadcast_endpoint), "tcp://10.0.0.1:5556");
    char path[256], buf[1024], err[512] = "";
    snprintf(path, sizeof(path), "%s/ep", dir);
    mode_t old = umask(0); /* the mode must not follow the umask */
    int rc = kf_session_write_endpoint_file(&s, path, "http://10.0.0.1:9464/metrics", err,
                                            sizeof(err));
    umask(old);
    assert_int_equal(rc, 0);
    read_all(path, buf, sizeof(buf));
    assert_string_equal(buf, "KFARM_ENDPOINT=tcp://10.0.0.1:5555\n"
                             "KFARM_BROADCAST_ENDPOINT=tcp://10.0.0.1:5556\n"
                             "KFARM_METRICS_URL=http://10.0.0.1:9464/metrics\n");
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(entries_in(dir), 1); /* no temporary file left beside it */

    /* Rewritten without the optional lines: only the request endpoint. */
    s.broadcast_endpoint[0] = '\0';
    assert_int_equal(kf_session_write_endpoint_file(&s, path, NULL, err, sizeof(err)), 0);
    read_all(path, buf, sizeof(buf));
    assert_string_equal(buf, "KFARM_ENDPOINT=tcp://10.0.0.1:5555\n");
    unlink(path);
}

static void test_unwritable_endpoint_file_names_it(void **state)
{
    (void)state;
    struct kf_session s = {0};
    snprintf(s.endpoint, sizeof(s.endpoint), "tcp://h:1");
    char path[256], err[512] = "";
    snprintf(path, sizeof(path), "%s/no-such-dir/ep", dir);
    assert_int_equal(kf_session_write_endpoint_file(&s, path, NULL, err, sizeof(err)), -ENOENT);
    if (!strstr(err, "--endpoint-file") || !strstr(err, path))
        fail_msg("error does not name the option and the file: %s", err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_endpoint_file_has_every_line_and_mode_0600),
        cmocka_unit_test(test_unwritable_endpoint_file_names_it),
    };
    return cmocka_run_group_tests(tests, make_dir, remove_dir);
}
