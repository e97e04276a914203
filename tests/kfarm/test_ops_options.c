/* Unit tests of the observing and operating options of `kfarm`: --metrics-listen HOST:PORT,
 * --trace FILE, --log-format, --tuner checked at start, --config FILE. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "options.h"

static int parse(struct kf_options *o, char *err, int argc, char **rest)
{
    char *argv[16] = {"kfarm", "--bind", "tcp://*:0"};
    for (int i = 0; i < argc; i++)
        argv[3 + i] = rest[i];
    return kf_options_parse(o, argc + 3, argv, err, 512);
}

static void test_metrics_listen_and_trace_are_kept(void **state)
{
    (void)state;
    struct kf_options o;
    char err[512];
    char *args[] = {"--metrics-listen", "127.0.0.1:9464", "--trace", "/tmp/t.tsv"};
    assert_int_equal(parse(&o, err, 4, args), 0);
    assert_string_equal(o.gateway.metrics_listen, "127.0.0.1:9464");
    assert_string_equal(o.gateway.trace_file, "/tmp/t.tsv");
    kf_options_fini(&o);
    assert_int_equal(parse(&o, err, 0, args), 0);
    assert_null(o.gateway.metrics_listen);
    assert_null(o.gateway.trace_file);
    kf_options_fini(&o);
}

static void test_metrics_listen_without_port_is_refused(void **state)
{
    (void)state;
    struct kf_options o;
    char err[512];
    char *args[] = {"--metrics-listen", "localhost"};
    assert_int_equal(parse(&o, err, 2, args), -EINVAL);
    assert_non_null(strstr(err, "--metrics-listen localhost"));
    assert_non_null(strstr(err, "HOST:PORT"));
    kf_options_fini(&o);
    char *noval[] = {"--trace"};
    assert_int_equal(parse(&o, err, 1, noval), -EINVAL);
    assert_non_null(strstr(err, "--trace needs a value"));
    kf_options_fini(&o);
}

/* A temp file with text; its path in path (PATH_MAX). */
static void write_temp(char *path, const char *text)
{
    strcpy(path, "/tmp/kfarm-test-opts.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_log_format(void **state)
{
    (void)state;
    struct kf_options o;
    char err[512];
    char *json[] = {"--log-format", "json"};
    assert_int_equal(parse(&o, err, 2, json), 0);
    assert_int_equal(o.log_format, KF_LOG_JSON);
    kf_options_fini(&o);
    char *bad[] = {"--log-format", "xml"};
    assert_int_equal(parse(&o, err, 2, bad), -EINVAL);
    assert_non_null(strstr(err, "--log-format xml: expected text or json"));
    kf_options_fini(&o);
}

static void test_tuner_file_checked_at_start(void **state)
{
    (void)state;
    struct kf_options o;
    char err[512], good[64], broken[64];
    write_temp(good, "{\"name\":\"app\",\"blocks\":[{\"name\":\"echo\",\"knobs\":[{\"name\":"
                     "\"batch\",\"type\":\"int\",\"range\":[1,4,1]}]}]}");
    write_temp(broken, "{\"name\":\"app\",\"blocks\":[{\"name\":");
    char *ok[] = {"--tuner", good};
    assert_int_equal(parse(&o, err, 2, ok), 0);
    assert_string_equal(o.worker.tuner_file, good);
    kf_options_fini(&o);
    char *missing[] = {"--tuner", "/nope.json"};
    assert_int_equal(parse(&o, err, 2, missing), -EINVAL);
    assert_non_null(strstr(err, "--tuner /nope.json: "));
    kf_options_fini(&o);
    char *bad[] = {"--tuner", broken};
    assert_int_equal(parse(&o, err, 2, bad), -EINVAL);
    assert_non_null(strstr(err, "--tuner "));
    kf_options_fini(&o);
    unlink(good);
    unlink(broken);
}

static void test_config_file_values_keep_spaces(void **state)
{
    (void)state;
    struct kf_options o;
    char err[512], conf[64];
    write_temp(
        conf, "# comment\n\n  --trace /tmp/a dir/my trace.tsv  \n"
              "--metrics-listen=127.0.0.1:0\n--adapter echo\n--adapter-arg greeting=hello world\n");
    char *args[] = {"--config", conf, "--log-level", "debug"};
    assert_int_equal(parse(&o, err, 4, args), 0);
    assert_string_equal(o.gateway.trace_file, "/tmp/a dir/my trace.tsv");
    assert_string_equal(o.gateway.metrics_listen, "127.0.0.1:0");
    assert_int_equal(o.log_level, KF_LOG_DEBUG);
    assert_string_equal(o.worker.adapters[0].values[0], "hello world");
    kf_options_fini(&o);
    unlink(conf);
}

static void test_config_file_errors_name_file_and_line(void **state)
{
    (void)state;
    struct kf_options o;
    char err[512], conf[64];
    write_temp(conf, "--trace t.tsv\ntrace t.tsv\n");
    char *args[] = {"--config", conf};
    assert_int_equal(parse(&o, err, 2, args), -EINVAL);
    assert_non_null(strstr(err, "line 2: 'trace t.tsv' is not an option"));
    kf_options_fini(&o);
    unlink(conf);
    char *missing[] = {"--config", "/nope.conf"};
    assert_int_equal(parse(&o, err, 2, missing), -EINVAL);
    assert_non_null(strstr(err, "--config /nope.conf: cannot open"));
    kf_options_fini(&o);
    write_temp(conf, "--config other.conf\n");
    assert_int_equal(parse(&o, err, 2, args), -EINVAL);
    assert_non_null(strstr(err, "cannot be nested"));
    kf_options_fini(&o);
    unlink(conf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_listen_and_trace_are_kept),
        cmocka_unit_test(test_metrics_listen_without_port_is_refused),
        cmocka_unit_test(test_log_format),
        cmocka_unit_test(test_tuner_file_checked_at_start),
        cmocka_unit_test(test_config_file_values_keep_spaces),
        cmocka_unit_test(test_config_file_errors_name_file_and_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
