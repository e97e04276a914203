/* Unit tests of the byte count behind --max-pending-bytes (inflight.c): added when a request's
 * message is stored, released on every path (taken for a worker, replaced, answered, freed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "inflight.h"

static struct kf_request *add_with(struct kf_inflight *t, const char *route, size_t len)
{
    struct kf_request *r = kf_inflight_add(t, route, strlen(route), "id", 2);
    assert_non_null(r);
    void *buf = malloc(len);
    assert_non_null(buf);
    memset(buf, 'p', len);
    kf_inflight_set_packed(t, r, buf, len);
    return r;
}

static void test_counted_when_stored_released_when_taken(void **state)
{
    (void)state;
    struct kf_inflight *t = kf_inflight_new();
    assert_int_equal(kf_inflight_packed_bytes(t), 0);
    struct kf_request *a = add_with(t, "client-a", 100);
    struct kf_request *b = add_with(t, "client-b", 4000);
    assert_int_equal(kf_inflight_packed_bytes(t), 4100);
    /* handed to a worker: the caller owns the message, the request stays in flight */
    void *buf = kf_inflight_take_packed(t, a);
    assert_non_null(buf);
    free(buf);
    assert_int_equal(kf_inflight_packed_bytes(t), 4000);
    assert_int_equal(kf_inflight_count(t), 2);
    /* taking twice gives nothing and counts nothing */
    assert_null(kf_inflight_take_packed(t, a));
    assert_int_equal(kf_inflight_packed_bytes(t), 4000);
    /* answered after it ran: nothing left to release */
    kf_inflight_remove(t, a);
    assert_int_equal(kf_inflight_packed_bytes(t), 4000);
    /* answered (or failed) while still waiting: its bytes go with it */
    kf_inflight_remove(t, b);
    assert_int_equal(kf_inflight_packed_bytes(t), 0);
    kf_inflight_free(t);
}

static void test_ids_and_routes_counted_until_answered(void **state)
{
    (void)state;
    struct kf_inflight *t = kf_inflight_new();
    struct kf_request *a = kf_inflight_add(t, "route-a", 7, "id-1", 4);
    struct kf_request *b = kf_inflight_add(t, "", 0, "id-22", 5);
    assert_int_equal(kf_inflight_key_bytes(t), 7 + 4 + 5);
    /* handed to a worker: the ids stay until the reply */
    free(kf_inflight_take_packed(t, a));
    assert_int_equal(kf_inflight_key_bytes(t), 7 + 4 + 5);
    kf_inflight_remove(t, a);
    assert_int_equal(kf_inflight_key_bytes(t), 5);
    kf_inflight_remove(t, b);
    assert_int_equal(kf_inflight_key_bytes(t), 0);
    kf_inflight_free(t);
}

static void test_replacing_and_failed_pack_keep_the_count_exact(void **state)
{
    (void)state;
    struct kf_inflight *t = kf_inflight_new();
    struct kf_request *r = add_with(t, "c", 300);
    void *buf = malloc(50);
    assert_non_null(buf);
    kf_inflight_set_packed(t, r, buf, 50); /* the old message is freed and uncounted */
    assert_int_equal(kf_inflight_packed_bytes(t), 50);
    kf_inflight_set_packed(t, r, NULL, 999); /* out of memory packing: nothing held */
    assert_int_equal(kf_inflight_packed_bytes(t), 0);
    assert_int_equal(r->packed_len, 0);
    kf_inflight_remove(t, r);
    assert_int_equal(kf_inflight_packed_bytes(t), 0);
    kf_inflight_free(t);
}

static void test_pending_queue_and_shutdown(void **state)
{
    (void)state;
    struct kf_inflight *t = kf_inflight_new();
    size_t want = 0;
    for (size_t i = 1; i <= 500; i++) {
        char route[16];
        snprintf(route, sizeof(route), "client-%zu", i % 7);
        kf_inflight_push_pending(t, add_with(t, route, i));
        want += i;
    }
    assert_int_equal(kf_inflight_packed_bytes(t), want);
    /* the first 200 go to workers, in order */
    for (size_t i = 1; i <= 200; i++) {
        struct kf_request *r = kf_inflight_pop_pending(t);
        assert_int_equal(r->packed_len, i);
        free(kf_inflight_take_packed(t, r));
        want -= i;
        assert_int_equal(kf_inflight_packed_bytes(t), want);
    }
    /* pending ones failed at shutdown */
    for (size_t i = 201; i <= 300; i++) {
        kf_inflight_remove(t, kf_inflight_pop_pending(t));
        want -= i;
    }
    assert_int_equal(kf_inflight_packed_bytes(t), want);
    assert_int_equal(kf_inflight_pending(t), 200);
    /* the rest are freed with the table (ASan: no leak) */
    kf_inflight_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counted_when_stored_released_when_taken),
        cmocka_unit_test(test_ids_and_routes_counted_until_answered),
        cmocka_unit_test(test_replacing_and_failed_pack_keep_the_count_exact),
        cmocka_unit_test(test_pending_queue_and_shutdown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
