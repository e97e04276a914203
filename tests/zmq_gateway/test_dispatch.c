/* Unit tests of dispatch: fewest outstanding first, ties to the faster worker, full means wait. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "dispatch.h"
#include "inflight.h"

static void test_picks_the_worker_with_fewest_outstanding(void **state)
{
    (void)state;
    struct kf_dispatch *d = kf_dispatch_new(1, 3, 4);
    kf_dispatch_started(d, 1);
    kf_dispatch_started(d, 1);
    kf_dispatch_started(d, 2);
    assert_int_equal(kf_dispatch_pick(d), 3);
    kf_dispatch_started(d, 3);
    kf_dispatch_started(d, 3);
    assert_int_equal(kf_dispatch_pick(d), 2);
    assert_int_equal(kf_dispatch_total_outstanding(d), 5);
    kf_dispatch_free(d);
}

static void test_ties_go_to_the_faster_worker(void **state)
{
    (void)state;
    struct kf_dispatch *d = kf_dispatch_new(1, 2, 4);
    kf_dispatch_started(d, 1);
    kf_dispatch_finished(d, 1, 5000000);
    kf_dispatch_started(d, 2);
    kf_dispatch_finished(d, 2, 1000);
    assert_int_equal(kf_dispatch_pick(d), 2);
    kf_dispatch_started(d, 2);
    assert_int_equal(kf_dispatch_pick(d), 1);
    kf_dispatch_free(d);
}

static void test_no_worker_when_all_slots_are_taken(void **state)
{
    (void)state;
    struct kf_dispatch *d = kf_dispatch_new(1, 2, 2);
    for (int i = 0; i < 4; i++) {
        int r = kf_dispatch_pick(d);
        assert_true(r == 1 || r == 2);
        kf_dispatch_started(d, r);
    }
    assert_int_equal(kf_dispatch_pick(d), -1);
    kf_dispatch_finished(d, 2, 10);
    assert_int_equal(kf_dispatch_pick(d), 2);
    kf_dispatch_free(d);
}

static void test_suspect_rank_gets_no_work_until_cleared(void **state)
{
    (void)state;
    struct kf_dispatch *d = kf_dispatch_new(1, 3, 2);
    kf_dispatch_set_suspect(d, 1, 1);
    for (int i = 0; i < 4; i++) {
        int r = kf_dispatch_pick(d);
        assert_true(r == 2 || r == 3);
        kf_dispatch_started(d, r);
    }
    /* the healthy ranks are full and rank 1 is idle but suspect: nobody */
    assert_int_equal(kf_dispatch_pick(d), -1);
    assert_true(kf_dispatch_suspect(d, 1));
    kf_dispatch_set_suspect(d, 1, 0);
    assert_int_equal(kf_dispatch_pick(d), 1);
    kf_dispatch_free(d);
}

static void test_load_spreads_evenly_over_many_workers(void **state)
{
    (void)state;
    enum { N = 64, SLOTS = 3 };
    struct kf_dispatch *d = kf_dispatch_new(1, N, SLOTS);
    for (int i = 0; i < N * SLOTS; i++)
        kf_dispatch_started(d, kf_dispatch_pick(d));
    for (int r = 1; r <= N; r++)
        assert_int_equal(kf_dispatch_outstanding(d, r), SLOTS);
    assert_int_equal(kf_dispatch_pick(d), -1);
    kf_dispatch_free(d);
}

static void test_stale_sequence_numbers_are_not_found(void **state)
{
    (void)state;
    struct kf_inflight *t = kf_inflight_new();
    struct kf_request *a = kf_inflight_add(t, "r", 1, "1", 1);
    uint64_t seq = a->seq;
    assert_ptr_equal(kf_inflight_find(t, seq), a);
    kf_inflight_remove(t, a);
    assert_null(kf_inflight_find(t, seq));
    struct kf_request *b = kf_inflight_add(t, NULL, 0, "2", 1); /* reuses the slot */
    assert_int_not_equal(b->seq, seq);
    assert_null(kf_inflight_find(t, seq));
    assert_ptr_equal(kf_inflight_find(t, b->seq), b);
    for (int i = 0; i < 1000; i++)
        kf_inflight_push_pending(t, kf_inflight_add(t, NULL, 0, "x", 1));
    assert_int_equal(kf_inflight_pending(t), 1000);
    assert_int_equal(kf_inflight_count(t), 1001);
    kf_inflight_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_picks_the_worker_with_fewest_outstanding),
        cmocka_unit_test(test_ties_go_to_the_faster_worker),
        cmocka_unit_test(test_no_worker_when_all_slots_are_taken),
        cmocka_unit_test(test_suspect_rank_gets_no_work_until_cleared),
        cmocka_unit_test(test_load_spreads_evenly_over_many_workers),
        cmocka_unit_test(test_stale_sequence_numbers_are_not_found),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
