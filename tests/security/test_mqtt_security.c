/* Unit tests of the MQTT security settings every kfarm MQTT client shares (kf_mqtt_security):
 * the password file rules, option combinations, URI schemes and the connection error texts. */
#include <errno.h>
#include <fcntl.h>
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
#include <kfarm/mqtt_security.h>

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/kfarm-mqtt-sec-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd);
}

static const char *write_file(const char *name, const char *text, mode_t mode)
{
    static char path[128];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

static void test_password_is_the_first_line_of_an_owner_only_file(void **state)
{
    (void)state;
    char pw[KF_MQTT_PASSWORD_BUF], err[512];
    const char *p = write_file("pw", "s3cret word\nsecond line\n", 0600);
    assert_int_equal(kf_mqtt_read_password(p, pw, sizeof(pw), err, sizeof(err)), 0);
    assert_string_equal(pw, "s3cret word");
    p = write_file("pw-crlf", "abc\r\n", 0400);
    assert_int_equal(kf_mqtt_read_password(p, pw, sizeof(pw), err, sizeof(err)), 0);
    assert_string_equal(pw, "abc");
    p = write_file("pw-nonl", "no-newline", 0600);
    assert_int_equal(kf_mqtt_read_password(p, pw, sizeof(pw), err, sizeof(err)), 0);
    assert_string_equal(pw, "no-newline");
}

static void test_password_file_readable_by_group_or_others_is_refused(void **state)
{
    (void)state;
    static const mode_t modes[] = {0644, 0640, 0604, 0620, 0602, 0660};
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        char pw[KF_MQTT_PASSWORD_BUF], err[512], want[32];
        memset(pw, 'x', sizeof(pw));
        const char *p = write_file("open", "secret\n", modes[i]);
        assert_int_equal(kf_mqtt_read_password(p, pw, sizeof(pw), err, sizeof(err)), -EPERM);
        snprintf(want, sizeof(want), "has mode %04o", (unsigned)modes[i]);
        assert_non_null(strstr(err, want));
        assert_non_null(strstr(err, "chmod 600"));
        assert_null(memchr(pw, 's', sizeof(pw))); /* nothing of it kept */
    }
}

static void test_bad_password_files_say_why(void **state)
{
    (void)state;
    char pw[KF_MQTT_PASSWORD_BUF], err[512], big[400];
    const char *p = write_file("empty", "\nsecret\n", 0600);
    assert_int_equal(kf_mqtt_read_password(p, pw, sizeof(pw), err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "is empty"));
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    p = write_file("long", big, 0600);
    assert_int_equal(kf_mqtt_read_password(p, pw, sizeof(pw), err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "longer than 254 bytes"));
    assert_int_equal(kf_mqtt_read_password("/nonexistent/pw", pw, sizeof(pw), err, sizeof(err)),
                     -ENOENT);
    assert_non_null(strstr(err, "--mqtt-password-file /nonexistent/pw"));
    assert_int_not_equal(kf_mqtt_read_password(dir, pw, sizeof(pw), err, sizeof(err)), 0);
    assert_non_null(strstr(err, "not a regular file"));
}

static void test_uri_schemes(void **state)
{
    (void)state;
    assert_int_equal(kf_mqtt_uri_tls("tcp://h:1883"), 0);
    assert_int_equal(kf_mqtt_uri_tls("mqtt://h:1883"), 0);
    assert_int_equal(kf_mqtt_uri_tls("ssl://h:8883"), 1);
    assert_int_equal(kf_mqtt_uri_tls("mqtts://h:8883"), 1);
    assert_int_equal(kf_mqtt_uri_tls("ws://h:80"), -1);
    assert_int_equal(kf_mqtt_uri_tls("h:1883"), -1);
    assert_int_equal(kf_mqtt_uri_tls(NULL), -1);
}

static void test_option_combinations(void **state)
{
    (void)state;
    char err[512];
    struct kf_mqtt_security s = {0};
    assert_int_equal(kf_mqtt_security_check("tcp://h:1", &s, err, sizeof(err)), 0);
    assert_int_equal(kf_mqtt_security_check("tcp://h:1", NULL, err, sizeof(err)), 0);
    assert_int_not_equal(kf_mqtt_security_check("http://h:1", &s, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "ssl://HOST:PORT"));

    kf_mqtt_security_set(&s, KF_MQTT_OPT_USERNAME, "u");
    assert_int_not_equal(kf_mqtt_security_check("ssl://h:1", &s, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "needs --mqtt-password-file"));
    kf_mqtt_security_set(&s, KF_MQTT_OPT_PASSWORD_FILE, "/f");
    assert_int_equal(kf_mqtt_security_check("ssl://h:1", &s, err, sizeof(err)), 0);
    assert_int_equal(kf_mqtt_security_check("tcp://h:1", &s, err, sizeof(err)), 0);

    s = (struct kf_mqtt_security){.password_file = "/f"};
    assert_int_not_equal(kf_mqtt_security_check("ssl://h:1", &s, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "needs --mqtt-username"));

    s = (struct kf_mqtt_security){0};
    kf_mqtt_security_set(&s, KF_MQTT_OPT_CAFILE, "/ca");
    assert_int_not_equal(kf_mqtt_security_check("tcp://h:1", &s, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "--mqtt-cafile is for TLS"));
    assert_int_equal(kf_mqtt_security_check("mqtts://h:1", &s, err, sizeof(err)), 0);
    kf_mqtt_security_set(&s, KF_MQTT_OPT_KEY, "/k");
    assert_int_not_equal(kf_mqtt_security_check("ssl://h:1", &s, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "--mqtt-key /k needs --mqtt-cert"));
    kf_mqtt_security_set(&s, KF_MQTT_OPT_CERT, "/c");
    assert_int_equal(kf_mqtt_security_check("ssl://h:1", &s, err, sizeof(err)), 0);
    assert_int_equal(kf_mqtt_security_set(&s, KF_MQTT_OPT_COUNT, "x"), -EINVAL);

    /* the files: named by option when unreadable */
    assert_int_not_equal(kf_mqtt_security_check_files(&s, err, sizeof(err)), 0);
    assert_non_null(strstr(err, "--mqtt-cafile /ca: cannot read it"));
}

static void test_connection_errors_name_what_to_check(void **state)
{
    (void)state;
    char err[512];
    struct kf_mqtt_security s = {.username = "alice", .password_file = "/f", .cafile = "/ca.crt"};
    kf_mqtt_connect_error(err, sizeof(err), "ssl://b:1", &s, 5, 5, NULL);
    assert_string_equal(err, "MQTT broker ssl://b:1 refused user alice: not authorised (check "
                             "--mqtt-username/--mqtt-password-file)");
    kf_mqtt_connect_error(err, sizeof(err), "ssl://b:1", &s, 4, 4, NULL);
    assert_non_null(strstr(err, "refused user alice: bad user name or password"));
    kf_mqtt_connect_error(err, sizeof(err), "ssl://b:1", NULL, 5, 5, NULL);
    assert_non_null(strstr(err, "refused an anonymous client: not authorised (give"));
    kf_mqtt_connect_error(err, sizeof(err), "ssl://b:1", &s, 0, -1,
                          "error:0A000086:SSL routines::certificate verify failed");
    assert_non_null(strstr(err, "does not verify against /ca.crt (--mqtt-cafile)"));
    kf_mqtt_connect_error(err, sizeof(err), "ssl://b:1", NULL, 0, -1,
                          "error:0A000086:SSL routines::certificate verify failed");
    assert_non_null(strstr(err, "the system's trust store"));
    kf_mqtt_connect_error(err, sizeof(err), "tcp://b:1", NULL, 0, -1, NULL);
    assert_non_null(strstr(err, "A TLS listener needs an ssl:// URI"));
    kf_mqtt_connect_error(err, sizeof(err), "ssl://b:1", NULL, 0, -1, NULL);
    assert_non_null(strstr(err, "Does its certificate name b (subjectAltName)?"));
    assert_non_null(strstr(err, "give --mqtt-cert"));
    s.certfile = "/c.pem";
    kf_mqtt_connect_error(err, sizeof(err), "mqtts://b.example:8883", &s, 0, -1, NULL);
    assert_non_null(strstr(err, "name b.example (subjectAltName)"));
    assert_non_null(strstr(err, "accept --mqtt-cert /c.pem"));
}

/* slurmstepd runs the SPANK prolog with stdin closed: paho would take the broker's socket, fd 0,
 * for "no socket" (tests/security/spank_mqtt_tls.sh is the end-to-end case). */
static void test_closed_stdin_is_reserved_before_connecting(void **state)
{
    (void)state;
    int saved = dup(0);
    assert_true(saved > 2);
    close(0);
    kf_mqtt_reserve_std_fds();
    assert_int_not_equal(fcntl(0, F_GETFD), -1);
    int probe = open("/dev/null", O_RDONLY);
    assert_true(probe > 2); /* a socket made now cannot be fd 0 */
    close(probe);
    assert_int_equal(dup2(saved, 0), 0);
    close(saved);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_password_is_the_first_line_of_an_owner_only_file),
        cmocka_unit_test(test_password_file_readable_by_group_or_others_is_refused),
        cmocka_unit_test(test_bad_password_files_say_why),
        cmocka_unit_test(test_uri_schemes),
        cmocka_unit_test(test_option_combinations),
        cmocka_unit_test(test_connection_errors_name_what_to_check),
        cmocka_unit_test(test_closed_stdin_is_reserved_before_connecting),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
