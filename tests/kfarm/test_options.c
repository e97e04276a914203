/* Unit tests of `kfarm` option parsing: defaults, both topologies, and clear errors. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "options.h"

static int parse(struct kf_options *o, char *err, int argc, ...)
{
    char *argv[32] = {"kfarm"};
    va_list ap;
    va_start(ap, argc);
    for (int i = 1; i <= argc; i++)
        argv[i] = va_arg(ap, char *);
    va_end(ap);
    return kf_options_parse(o, argc + 1, argv, err, 512);
}

static void test_bind_mode_with_adapter_args(void **state)
{
    (void)state;
    struct kf_options o;
    char err[512];
    assert_int_equal(parse(&o, err, 8, "--bind", "tcp://*:0", "--broadcast-bind", "tcp://*:0",
                           "--adapter", "ptdr", "--adapter-arg", "samples=100"),
                     0);
    assert_true(o.gateway.bind_mode);
    assert_int_equal(o.worker.n_adapters, 1);
    assert_string_equal(o.worker.adapters[0].keys[0], "samples");
    assert_string_equal(o.worker.adapters[0].values[0], "100");
    assert_int_equal(o.gateway.max_inflight, 16);
    kf_options_fini(&o);
}

static void test_connect_mode_defaults_to_echo(void **state)
{
    (void)state;
    struct kf_options o;
    char err[512];
    assert_int_equal(parse(&o, err, 4, "--connect", "tcp://h:1", "--topic", "traffic-sim:"), 0);
    assert_false(o.gateway.bind_mode);
    assert_string_equal(o.worker.adapters[0].name, "echo");
    assert_string_equal(o.gateway.topic, "traffic-sim:");
    kf_options_fini(&o);
}

static void expect_error(const char *needle, int argc, char *a, char *b, char *c, char *d)
{
    struct kf_options o;
    char err[512] = "";
    assert_int_equal(parse(&o, err, argc, a, b, c, d), -EINVAL);
    if (!strstr(err, needle))
        fail_msg("error does not mention '%s': %s", needle, err);
    kf_options_fini(&o);
}

static void test_bad_options_say_what_is_wrong(void **state)
{
    (void)state;
    expect_error("unknown option --frobnicate", 1, "--frobnicate", NULL, NULL, NULL);
    expect_error("no client endpoint", 2, "--adapter", "echo", NULL, NULL);
    expect_error("not both", 4, "--bind", "tcp://*:1", "--connect", "tcp://h:2");
    expect_error("expected an endpoint", 2, "--bind", "5555", NULL, NULL);
    expect_error("has no port", 2, "--connect", "tcp://host", NULL, NULL);
    expect_error("--max-inflight", 4, "--bind", "tcp://*:1", "--max-inflight", "0");
    expect_error("--log-level", 4, "--bind", "tcp://*:1", "--log-level", "loud");
    expect_error("before its arguments", 4, "--bind", "tcp://*:1", "--adapter-arg", "a=b");
    expect_error("needs a value", 1, "--bind", NULL, NULL, NULL);
    expect_error("--endpoint-file is for --bind", 4, "--connect", "tcp://h:1", "--endpoint-file",
                 "f");
}

static void test_adapter_arg_without_equals(void **state)
{
    (void)state;
    struct kf_options o;
    char err[512] = "";
    assert_int_equal(parse(&o, err, 6, "--bind", "tcp://*:1", "--adapter", "echo",
                           "--adapter-arg", "novalue"),
                     -EINVAL);
    assert_non_null(strstr(err, "KEY=VALUE"));
    kf_options_fini(&o);
}

static void test_mqtt_security_options(void **state)
{
    (void)state;
    struct kf_options o;
    char err[512] = "";
    assert_int_equal(parse(&o, err, 12, "--bind", "tcp://*:1", "--mqtt", "ssl://b:8883",
                           "--mqtt-username", "tuner", "--mqtt-password-file", "/etc/pw",
                           "--mqtt-cafile", "/etc/ca.pem", "--mqtt-cert", "/etc/c.pem"),
                     0);
    assert_string_equal(o.worker.mqtt, "ssl://b:8883");
    assert_string_equal(o.worker.mqtt_security.username, "tuner");
    assert_string_equal(o.worker.mqtt_security.password_file, "/etc/pw");
    assert_string_equal(o.worker.mqtt_security.cafile, "/etc/ca.pem");
    assert_string_equal(o.worker.mqtt_security.certfile, "/etc/c.pem");
    assert_null(o.worker.mqtt_security.keyfile);
    kf_options_fini(&o);
    /* defaults: plain and anonymous */
    assert_int_equal(parse(&o, err, 4, "--bind", "tcp://*:1", "--mqtt", "tcp://b:1883"), 0);
    assert_null(o.worker.mqtt_security.username);
    assert_null(o.worker.mqtt_security.cafile);
    kf_options_fini(&o);
    expect_error("need --mqtt URI", 4, "--bind", "tcp://*:1", "--mqtt-cafile", "/ca");
    assert_int_equal(parse(&o, err, 6, "--connect", "tcp://h:1", "--mqtt", "ssl://b:1",
                           "--mqtt-username", "u"),
                     -EINVAL);
    assert_non_null(strstr(err, "needs --mqtt-password-file"));
    kf_options_fini(&o);
    assert_int_equal(parse(&o, err, 6, "--connect", "tcp://h:1", "--mqtt", "tcp://b:1",
                           "--mqtt-cafile", "/ca"),
                     -EINVAL);
    assert_non_null(strstr(err, "--mqtt-cafile is for TLS"));
    kf_options_fini(&o);
    expect_error("expected tcp://host:port or ssl://host:port", 4, "--connect", "tcp://h:1",
                 "--mqtt", "ws://b:1");
}

static void test_max_pending_bytes(void **state)
{
    (void)state;
    struct kf_options o;
    char err[512] = "";
    /* default in both modes: 1 GiB, 64 requests of the default --max-message-bytes */
    assert_int_equal(parse(&o, err, 2, "--connect", "tcp://h:1"), 0);
    assert_int_equal(o.gateway.max_pending_bytes, (size_t)1 << 30);
    assert_int_equal(o.gateway.max_pending_bytes / o.gateway.max_message_bytes, 64);
    kf_options_fini(&o);
    assert_int_equal(parse(&o, err, 4, "--bind", "tcp://*:1", "--max-pending-bytes", "20000"), 0);
    assert_int_equal(o.gateway.max_pending_bytes, 20000);
    kf_options_fini(&o);
    assert_int_equal(parse(&o, err, 4, "--connect", "tcp://h:1", "--max-pending-bytes",
                           "1099511627776"),
                     0);
    assert_int_equal(o.gateway.max_pending_bytes, (size_t)1 << 40);
    kf_options_fini(&o);
    expect_error("--max-pending-bytes 0: expected bytes from 64 to 1099511627776", 4, "--bind",
                 "tcp://*:1", "--max-pending-bytes", "0");
    expect_error("--max-pending-bytes 1G: expected bytes", 4, "--bind", "tcp://*:1",
                 "--max-pending-bytes", "1G");
    expect_error("--max-pending-bytes 1099511627777", 4, "--bind", "tcp://*:1",
                 "--max-pending-bytes", "1099511627777");
    expect_error("--max-pending-bytes needs a value", 3, "--bind", "tcp://*:1",
                 "--max-pending-bytes", NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bind_mode_with_adapter_args),
        cmocka_unit_test(test_connect_mode_defaults_to_echo),
        cmocka_unit_test(test_bad_options_say_what_is_wrong),
        cmocka_unit_test(test_adapter_arg_without_equals),
        cmocka_unit_test(test_mqtt_security_options),
        cmocka_unit_test(test_max_pending_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
