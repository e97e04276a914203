/* Unit tests of the observing options of `kfarm`: --metrics-listen HOST:PORT and --trace FILE. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_listen_and_trace_are_kept),
        cmocka_unit_test(test_metrics_listen_without_port_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
