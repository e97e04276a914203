/* Unit tests of the token bucket (src/common/rate_limit.c) that rate-limits the gateway's $stats:
 * a burst passes, then the average rate, on a clock the test drives. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "rate_limit.h"

#define MS 1000000ull

static void test_burst_passes_then_the_rate(void **state)
{
    (void)state;
    struct kf_rate_limit r;
    uint64_t t = 5000 * MS;
    kf_rate_limit_init(&r, 10, 5, t);
    for (int i = 0; i < 5; i++)
        assert_true(kf_rate_limit_take(&r, t));
    assert_false(kf_rate_limit_take(&r, t));
    /* 10 a second: one more after 100 ms, not before */
    assert_false(kf_rate_limit_take(&r, t + 50 * MS));
    assert_true(kf_rate_limit_take(&r, t + 100 * MS));
    assert_false(kf_rate_limit_take(&r, t + 100 * MS));
    /* a long pause refills to the burst, no further */
    t += 100000 * MS;
    int passed = 0;
    for (int i = 0; i < 100; i++)
        passed += kf_rate_limit_take(&r, t);
    assert_int_equal(passed, 5);
}

static void test_flood_over_a_second_gets_the_rate(void **state)
{
    (void)state;
    struct kf_rate_limit r;
    kf_rate_limit_init(&r, 50, 50, 0);
    int passed = 0;
    for (uint64_t t = 0; t < 1000 * MS; t += MS / 10) /* 10000 asks in one second */
        passed += kf_rate_limit_take(&r, t);
    assert_in_range(passed, 99, 100); /* the burst plus one second at the rate */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_burst_passes_then_the_rate),
        cmocka_unit_test(test_flood_over_a_second_gets_the_rate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
