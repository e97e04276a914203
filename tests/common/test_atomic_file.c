/* kf_atomic_write: contents, mode independent of the umask, no temporary file left on success or
 * failure, the old file untouched when the write cannot happen. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "atomic_file.h"
#include "errbuf.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/kf-atomic-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static int count_entries(void)
{
    DIR *d = opendir(dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n;
}

static void read_back(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
}

static void test_writes_contents_with_exact_mode(void **state)
{
    (void)state;
    char path[128], err[256], buf[64];
    snprintf(path, sizeof path, "%s/f", dir);
    mode_t old = umask(0077);
    assert_int_equal(kf_atomic_write_text(path, "one", 0644, err, sizeof err), 0);
    umask(old);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0644);
    read_back(path, buf, sizeof buf);
    assert_string_equal(buf, "one");
    assert_int_equal(kf_atomic_write_text(path, "second", 0600, err, sizeof err), 0);
    read_back(path, buf, sizeof buf);
    assert_string_equal(buf, "second");
    assert_int_equal(count_entries(), 1); /* no temporary file left */
}

static void test_failure_names_file_and_leaves_old_contents(void **state)
{
    (void)state;
    char path[128], sub[128], err[256], buf[64];
    snprintf(path, sizeof path, "%s/keep", dir);
    assert_int_equal(kf_atomic_write_text(path, "old", 0600, err, sizeof err), 0);
    /* Renaming over a directory fails after the temporary file was written and synced. */
    snprintf(sub, sizeof sub, "%s/adir", dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    char inner[160];
    snprintf(inner, sizeof inner, "%s/x", sub);
    FILE *f = fopen(inner, "w");
    fclose(f);
    int rc = kf_atomic_write_text(sub, "new", 0600, err, sizeof err);
    assert_true(rc < 0);
    assert_non_null(strstr(err, sub));
    read_back(path, buf, sizeof buf);
    assert_string_equal(buf, "old");
    assert_int_equal(count_entries(), 2); /* keep + adir, no temporary file */
    /* A missing directory: the message says which path. */
    snprintf(path, sizeof path, "%s/nope/f", dir);
    rc = kf_atomic_write_text(path, "x", 0600, err, sizeof err);
    assert_int_equal(rc, -ENOENT);
    assert_non_null(strstr(err, "nope/f"));
}

static void test_errf_returns_code_and_tolerates_no_buffer(void **state)
{
    (void)state;
    char err[16];
    assert_int_equal(kf_errf(err, sizeof err, -EINVAL, "%s", "a long message that is cut"), -EINVAL);
    assert_int_equal(strlen(err), sizeof err - 1);
    assert_int_equal(kf_errf(NULL, 0, -EIO, "ignored %d", 1), -EIO);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_writes_contents_with_exact_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_names_file_and_leaves_old_contents, setup, teardown),
        cmocka_unit_test_setup_teardown(test_errf_returns_code_and_tolerates_no_buffer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
