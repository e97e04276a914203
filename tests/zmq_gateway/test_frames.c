/* Unit tests of request frame validation: every malformed shape gets the right verdict. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "frames.h"

static enum kf_frames_verdict parse(size_t n, size_t max_bytes, struct kf_request_view *v,
                                    char *err)
{
    static const char *const data[] = {"7", "echo", "payload", "x", "y", "z"};
    struct kf_frame f[6];
    size_t bytes = 0;
    for (size_t i = 0; i < n && i < 6; i++) {
        f[i] = (struct kf_frame){data[i], strlen(data[i])};
        bytes += f[i].len;
    }
    return kf_frames_parse(f, n < 6 ? n : 6, n, bytes, max_bytes, v, err, 256);
}

static void test_three_frames_are_a_request(void **state)
{
    (void)state;
    struct kf_request_view v;
    char err[256];
    assert_int_equal(parse(3, 1000, &v, err), KF_FRAMES_REQUEST);
    assert_memory_equal(v.id, "7", 1);
    assert_int_equal(v.kind_len, 4);
    assert_memory_equal(v.kind, "echo", 4);
    assert_int_equal(v.payload_len, 7);
}

static void test_wrong_frame_counts_get_an_error_reply_with_the_id(void **state)
{
    (void)state;
    size_t counts[] = {1, 2, 4, 50};
    for (size_t i = 0; i < 4; i++) {
        struct kf_request_view v;
        char err[256];
        assert_int_equal(parse(counts[i], 1000, &v, err), KF_FRAMES_ERROR_REPLY);
        assert_memory_equal(v.id, "7", 1);
        assert_non_null(strstr(err, "3 frames"));
    }
}

static void test_empty_message_is_dropped(void **state)
{
    (void)state;
    struct kf_request_view v;
    char err[256];
    assert_int_equal(kf_frames_parse(NULL, 0, 0, 0, 1000, &v, err, sizeof(err)), KF_FRAMES_DROP);
}

static void test_empty_id_is_refused(void **state)
{
    (void)state;
    struct kf_frame f[3] = {{"", 0}, {"echo", 4}, {"p", 1}};
    struct kf_request_view v;
    char err[256];
    assert_int_equal(kf_frames_parse(f, 3, 3, 5, 1000, &v, err, sizeof(err)),
                     KF_FRAMES_ERROR_REPLY);
    assert_non_null(strstr(err, "empty id"));
}

static void test_kind_must_be_utf8(void **state)
{
    (void)state;
    struct kf_frame f[3] = {{"1", 1}, {"\xff\xfe", 2}, {"p", 1}};
    struct kf_request_view v;
    char err[256];
    assert_int_equal(kf_frames_parse(f, 3, 3, 4, 1000, &v, err, sizeof(err)),
                     KF_FRAMES_ERROR_REPLY);
    assert_non_null(strstr(err, "UTF-8"));
}

static void test_oversized_request_is_refused(void **state)
{
    (void)state;
    struct kf_request_view v;
    char err[256];
    assert_int_equal(parse(3, 10, &v, err), KF_FRAMES_ERROR_REPLY);
    assert_non_null(strstr(err, "--max-message-bytes"));
}

static void test_oversized_id_is_refused_and_not_echoed_whole(void **state)
{
    (void)state;
    static char id[KF_MAX_ID_BYTES + 100];
    memset(id, 'i', sizeof(id));
    struct kf_frame f[3] = {{id, sizeof(id)}, {"echo", 4}, {"p", 1}};
    struct kf_request_view v;
    char err[256];
    assert_int_equal(kf_frames_parse(f, 3, 3, sizeof(id) + 5, 1 << 20, &v, err, sizeof(err)),
                     KF_FRAMES_ERROR_REPLY);
    assert_non_null(strstr(err, "maximum of 256 bytes"));
    assert_int_equal(v.id_len, KF_MAX_ID_BYTES);
    /* malformed in another way: the error reply still echoes at most the maximum */
    assert_int_equal(kf_frames_parse(f, 2, 2, sizeof(id) + 4, 1 << 20, &v, err, sizeof(err)),
                     KF_FRAMES_ERROR_REPLY);
    assert_int_equal(v.id_len, KF_MAX_ID_BYTES);
    /* the maximum itself is a request */
    f[0].len = KF_MAX_ID_BYTES;
    assert_int_equal(kf_frames_parse(f, 3, 3, KF_MAX_ID_BYTES + 5, 1 << 20, &v, err, sizeof(err)),
                     KF_FRAMES_REQUEST);
    assert_int_equal(v.id_len, KF_MAX_ID_BYTES);
}

static void test_utf8_validation(void **state)
{
    (void)state;
    assert_true(kf_utf8_valid("monte-carlo", 11));
    assert_true(kf_utf8_valid("caf\xc3\xa9", 5));             /* é */
    assert_true(kf_utf8_valid("\xf0\x9f\x9a\x97", 4));         /* U+1F697 */
    assert_false(kf_utf8_valid("\xc3", 1));                    /* truncated */
    assert_false(kf_utf8_valid("\xc0\xaf", 2));                /* overlong '/' */
    assert_false(kf_utf8_valid("\xed\xa0\x80", 3));            /* surrogate */
    assert_false(kf_utf8_valid("\xf4\x90\x80\x80", 4));        /* past U+10FFFF */
    assert_false(kf_utf8_valid("a\x80", 2));                   /* stray continuation */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_three_frames_are_a_request),
        cmocka_unit_test(test_wrong_frame_counts_get_an_error_reply_with_the_id),
        cmocka_unit_test(test_empty_message_is_dropped),
        cmocka_unit_test(test_empty_id_is_refused),
        cmocka_unit_test(test_kind_must_be_utf8),
        cmocka_unit_test(test_oversized_request_is_refused),
        cmocka_unit_test(test_oversized_id_is_refused_and_not_echoed_whole),
        cmocka_unit_test(test_utf8_validation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
