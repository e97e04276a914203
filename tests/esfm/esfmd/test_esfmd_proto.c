/* The esfm1 line protocol: requests and replies parse and format, and every malformed, oversized
 * or binary line is refused with a code (docs/esfmd.md). */
#include <kfarm/esfmd_proto.h>

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static int parse(const char *line, struct esfmd_msg *m)
{
    char err[256];
    return esfmd_parse_line(line, strlen(line), m, err, sizeof err);
}

static void test_request_parses_with_arguments(void **state)
{
    (void)state;
    struct esfmd_msg m;
    assert_int_equal(parse("esfm1 a1 job-attach job=42 vfs=2 uid=1000", &m), 0);
    assert_string_equal(m.id, "a1");
    assert_string_equal(m.verb, "job-attach");
    assert_string_equal(esfmd_msg_get(&m, "job"), "42");
    assert_string_equal(esfmd_msg_get(&m, "vfs"), "2");
    assert_null(esfmd_msg_get(&m, "partition"));
}

static void test_err_reply_keeps_code_and_text(void **state)
{
    (void)state;
    struct esfmd_msg m;
    assert_int_equal(parse("esfm1 a1 err EACCES job 4 asks 3 VFs; the policy allows 2", &m), 0);
    assert_string_equal(m.verb, "err");
    assert_string_equal(m.code, "EACCES");
    assert_string_equal(m.text, "job 4 asks 3 VFs; the policy allows 2");
    assert_int_equal(esfmd_code_value(m.code), -EACCES);
}

static void test_bad_lines_are_refused_with_the_id_when_readable(void **state)
{
    (void)state;
    struct esfmd_msg m;
    assert_int_equal(parse("", &m), -EINVAL);
    assert_int_equal(parse("hello", &m), -EPROTONOSUPPORT);
    assert_int_equal(parse("esfm2 z9 hello", &m), -EPROTONOSUPPORT);
    assert_string_equal(m.id, "z9");
    assert_int_equal(parse("esfm1", &m), -EINVAL);
    assert_int_equal(parse("esfm1 bad/id hello", &m), -EINVAL);
    assert_string_equal(m.id, "-");
    assert_int_equal(parse("esfm1 0123456789abcdefX hello", &m), -EINVAL); /* id over 16 */
    assert_int_equal(parse("esfm1 q1", &m), -EINVAL);                     /* no verb */
    assert_int_equal(parse("esfm1 q1 Job-Attach", &m), -EINVAL);
    assert_int_equal(parse("esfm1 q1 job-attach job", &m), -EINVAL);
    assert_int_equal(parse("esfm1 q1 job-attach =3", &m), -EINVAL);
    assert_int_equal(parse("esfm1 q1 job-attach job=", &m), -EINVAL);
    assert_int_equal(parse("esfm1 q1 job-attach job=1 job=2", &m), -EINVAL);
    assert_int_equal(parse("esfm1 q1 job-attach a=1 b=2 c=3 d=4 e=5 f=6 g=7 h=8 i=9", &m),
                     -EINVAL);
    assert_string_equal(m.id, "q1");
    char bin[] = "esfm1 q1 hello x=\x01";
    assert_int_equal(esfmd_parse_line(bin, sizeof bin - 1, &m, NULL, 0), -EINVAL);
    char nul[] = "esfm1 q1 hel\0lo";
    assert_int_equal(esfmd_parse_line(nul, sizeof nul - 1, &m, NULL, 0), -EINVAL);
}

static void test_format_round_trips_and_refuses_bad_values(void **state)
{
    (void)state;
    char buf[ESFMD_LINE_MAX + 1];
    const char *kv[] = {"job", "7", "skip", NULL, "bdfs", "0000:07:00.0,0000:08:00.0", NULL};
    int n = esfmd_format(buf, sizeof buf, "r1", "ok", kv);
    assert_true(n > 0);
    assert_string_equal(buf, "esfm1 r1 ok job=7 bdfs=0000:07:00.0,0000:08:00.0\n");
    struct esfmd_msg m;
    assert_int_equal(esfmd_parse_line(buf, (size_t)n - 1, &m, NULL, 0), 0);
    assert_string_equal(esfmd_msg_get(&m, "bdfs"), "0000:07:00.0,0000:08:00.0");
    const char *space[] = {"job", "a b", NULL};
    assert_int_equal(esfmd_format(buf, sizeof buf, "r1", "ok", space), -EINVAL);
    const char *eq[] = {"job", "a=b", NULL};
    assert_int_equal(esfmd_format(buf, sizeof buf, "r1", "ok", eq), -EINVAL);
    char big[ESFMD_VAL_MAX + 1];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *three[] = {"a", big, "b", big, "c", big, NULL};
    assert_int_equal(esfmd_format(buf, sizeof buf, "r1", "ok", three), -E2BIG);
}

static void test_err_text_is_cleaned_and_cut_to_one_line(void **state)
{
    (void)state;
    char buf[ESFMD_LINE_MAX + 1], text[2000];
    memset(text, 'y', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    text[3] = '\n';
    int n = esfmd_format_err(buf, sizeof buf, "-", "E2BIG", text);
    assert_int_equal(n, ESFMD_LINE_MAX);
    assert_int_equal(buf[n - 1], '\n');
    assert_null(memchr(buf, '\n', (size_t)n - 1));
}

static void test_linebuf_splits_cuts_oversized_and_resyncs(void **state)
{
    (void)state;
    struct esfmd_linebuf lb = {0};
    char line[ESFMD_LINE_MAX];
    size_t used;
    const char *two = "esfm1 a hello\nesfm1 b st";
    assert_int_equal(esfmd_linebuf_take(&lb, two, strlen(two), &used, line), 1);
    assert_string_equal(line, "esfm1 a hello");
    assert_int_equal(esfmd_linebuf_take(&lb, two + used, strlen(two) - used, &used, line), 0);
    assert_int_equal(esfmd_linebuf_take(&lb, "atus\n", 5, &used, line), 1);
    assert_string_equal(line, "esfm1 b status");
    /* A line of exactly ESFMD_LINE_MAX bytes with its LF passes; one byte more does not. */
    char max[ESFMD_LINE_MAX + 1];
    memset(max, 'm', ESFMD_LINE_MAX - 1);
    max[ESFMD_LINE_MAX - 1] = '\n';
    assert_int_equal(esfmd_linebuf_take(&lb, max, ESFMD_LINE_MAX, &used, line), 1);
    assert_int_equal(strlen(line), ESFMD_LINE_MAX - 1);
    char over[ESFMD_LINE_MAX + 20];
    memset(over, 'o', sizeof over);
    assert_int_equal(esfmd_linebuf_take(&lb, over, sizeof over, &used, line), -E2BIG);
    size_t off = used;
    assert_int_equal(esfmd_linebuf_take(&lb, over + off, sizeof over - off, &used, line), 0);
    const char *next = "tail\nesfm1 c hello\n";
    assert_int_equal(esfmd_linebuf_take(&lb, next, strlen(next), &used, line), 1);
    assert_string_equal(line, "esfm1 c hello"); /* the oversized line's tail was dropped */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_parses_with_arguments),
        cmocka_unit_test(test_err_reply_keeps_code_and_text),
        cmocka_unit_test(test_bad_lines_are_refused_with_the_id_when_readable),
        cmocka_unit_test(test_format_round_trips_and_refuses_bad_values),
        cmocka_unit_test(test_err_text_is_cleaned_and_cut_to_one_line),
        cmocka_unit_test(test_linebuf_splits_cuts_oversized_and_resyncs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
