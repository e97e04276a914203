/* Analytic checks of the ptdr kernels through the adapter ABI: exact times for deterministic
 * profiles (also across slot and week boundaries), dominating routes, and the sampled mean and
 * spread of a two-value profile against their closed forms. Both variants when a device exists. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptdr_fixture.h"

extern const struct kf_adapter kf_adapter_ptdr;

static const char *profiles_path;

static int setup(void **state)
{
    (void)state;
    struct fx_segment segs[] = {
        /* A: 1000 m at 10 m/s, always half speed: 200 s. */
        {"OSM1T2", 1000, 10, FX_ONE(0.5), -1, FX_ONE(0.5)},
        /* B: 100 s, except 400 s in slot 1 (Monday 00:15-00:30). */
        {"OSM2T3", 1000, 10, FX_ONE(1.0), 1, FX_ONE(0.25)},
        /* C: 100 s, except 200 s in slot 0 (Monday 00:00-00:15). */
        {"OSM3T4", 1000, 10, FX_ONE(1.0), 0, FX_ONE(0.5)},
        /* T: 10 s with probability 0.3, 20 s with probability 0.7. */
        {"OSM4T5", 100, 10, {2, {1.0, 0.5}, {0.3, 1.0}}, -1, FX_ONE(1.0)},
        /* S: slow twin of T, 5x the time in every outcome. */
        {"OSM5T6", 100, 2, {2, {1.0, 0.5}, {0.3, 1.0}}, -1, FX_ONE(1.0)},
    };
    profiles_path = fx_write_profiles("analytic.json", segs, 5, 672);
    return 0;
}

/* Opens the adapter; *accel tells whether the accelerator variant can be checked too. */
static void open_adapter(struct fx_adapter *fx, const char *seed, int *accel)
{
    char err[KF_ERROR_MAX], prof[600], sd[64];
    snprintf(prof, sizeof(prof), "profiles=%s", profiles_path);
    snprintf(sd, sizeof(sd), "seed=%s", seed);
    const char *kv[] = {prof, sd, "samples=2000", NULL};
    assert_int_equal(fx_init(fx, &kf_adapter_ptdr, kv, err, sizeof(err)), KF_OK);
    *accel = fx->a->accel_available(fx->state);
    static int told;
    if (!told++)
        print_message("accelerator variant %s\n", *accel ? "checked too" : "unavailable here");
}

/* Calls kind on both variants (when available), checks they agree byte for byte, and returns
 * the CPU reply. */
static char *call_both(struct fx_adapter *fx, int accel, const char *kind, const char *payload)
{
    char *cpu, *acc;
    int rc = fx_call(fx, kind, 0, payload, &cpu);
    if (rc != KF_OK)
        fail_msg("%s on %s: %s", kind, payload, cpu);
    if (accel) {
        assert_int_equal(fx_call(fx, kind, 1, payload, &acc), KF_OK);
        assert_string_equal(acc, cpu);
        free(acc);
    }
    return cpu;
}

static double stat_of(const char *reply, int route, const char *name)
{
    cJSON *j = cJSON_Parse(reply);
    assert_non_null(j);
    cJSON *r = cJSON_GetArrayItem(j, route);
    assert_non_null(r);
    cJSON *v = cJSON_GetObjectItemCaseSensitive(r, name);
    assert_true(cJSON_IsNumber(v));
    double x = v->valuedouble;
    cJSON_Delete(j);
    return x;
}

static void check_exact(struct fx_adapter *fx, int accel, const char *routes, double dep_ms,
                        double want)
{
    char payload[512];
    snprintf(payload, sizeof(payload), "{\"routes\":[%s],\"frequency\":60,\"departure_time\":%.0f}",
             routes, dep_ms);
    char *reply = call_both(fx, accel, "ptdr-stats", payload);
    static const char *names[] = {"mean", "p05", "p50", "p95"};
    for (int i = 0; i < 4; i++)
        if (stat_of(reply, 0, names[i]) != want)
            fail_msg("%s at %.0f ms: %s = %.9g, want %.9g (%s)", routes, dep_ms, names[i],
                     stat_of(reply, 0, names[i]), want, reply);
    assert_true(stat_of(reply, 0, "stddev") == 0.0);
    free(reply);
}

static void test_deterministic_profile_gives_exact_time(void **state)
{
    (void)state;
    struct fx_adapter fx;
    int accel;
    open_adapter(&fx, "1", &accel);
    check_exact(&fx, accel, "[\"OSM1T2\"]", 0, 200);
    check_exact(&fx, accel, "[\"OSM1T2\",\"OSM1T2\",\"OSM1T2\"]", 123456789, 600);
    fx_fini(&fx);
}

static void test_slot_is_taken_when_entering_each_segment(void **state)
{
    (void)state;
    struct fx_adapter fx;
    int accel;
    open_adapter(&fx, "1", &accel);
    /* Depart 850 s into slot 0: B in slot 0 (100 s), then three times in slot 1 (400 s each,
     * entering at 950, 1350, 1750 s), then slot 2 (100 s, entering at 2150 s). */
    const char *five_b = "[\"OSM2T3\",\"OSM2T3\",\"OSM2T3\",\"OSM2T3\",\"OSM2T3\"]";
    check_exact(&fx, accel, five_b, 850000, 1400);
    /* Departure beyond a week wraps modulo the week. */
    check_exact(&fx, accel, five_b, 850000 + 3 * 604800000.0, 1400);
    /* Depart in the last slot of the week: C takes 100 s there, then the trip enters the next
     * week's slot 0 where C takes 200 s. */
    check_exact(&fx, accel, "[\"OSM3T4\",\"OSM3T4\"]", (671 * 900 + 850) * 1000.0, 300);
    fx_fini(&fx);
}

static void test_dominating_route_index_is_returned(void **state)
{
    (void)state;
    struct fx_adapter fx;
    int accel;
    open_adapter(&fx, "7", &accel);
    char *r;
    /* Every outcome of S is 5x the matching outcome of T. */
    r = call_both(&fx, accel, "monte-carlo",
                  "{\"routes\":[[\"OSM5T6\",\"OSM5T6\"],[\"OSM4T5\",\"OSM4T5\"],[\"OSM5T6\"]],"
                  "\"frequency\":30,\"departure_time\":3600000}");
    assert_string_equal(r, "1");
    free(r);
    r = call_both(&fx, accel, "monte-carlo",
                  "{\"routes\":[[\"OSM2T3\"],[\"OSM1T2\"]],\"frequency\":0,"
                  "\"departure_time\":36000000}");
    assert_string_equal(r, "0");
    free(r);
    fx_fini(&fx);
}

static void test_two_value_profile_mean_matches_closed_form(void **state)
{
    (void)state;
    struct fx_adapter fx;
    int accel;
    open_adapter(&fx, "12345", &accel);
    /* 20 segments T: each 10 s w.p. 0.3 and 20 s w.p. 0.7, independent draws.
     * Mean 20 * 17 = 340 s; variance 20 * (0.3 * 0.7 * 10^2) = 420 s^2. */
    char payload[1024] = "{\"samples\":20000,\"departure_time\":0,\"routes\":[[";
    for (int i = 0; i < 20; i++)
        strcat(payload, i ? ",\"OSM4T5\"" : "\"OSM4T5\"");
    strcat(payload, "]]}");
    char *r = call_both(&fx, accel, "ptdr-stats", payload);
    double mean = stat_of(r, 0, "mean"), sd = stat_of(r, 0, "stddev");
    double se = sqrt(420.0 / 20000);
    if (fabs(mean - 340.0) > 5 * se)
        fail_msg("sampled mean %.4f is %.1f standard errors from 340", mean,
                 fabs(mean - 340.0) / se);
    /* The sample standard deviation of 20000 draws is within 3% of sqrt(420) w.h.p. */
    assert_true(fabs(sd - sqrt(420.0)) < 0.03 * sqrt(420.0));
    /* Only multiples of 10 s between 200 and 400 can occur. */
    double p05 = stat_of(r, 0, "p05"), p95 = stat_of(r, 0, "p95");
    assert_true(fmod(p05, 10.0) == 0 && p05 >= 200 && p95 <= 400 && p05 < 340 && p95 > 340);
    free(r);
    fx_fini(&fx);
}

static void test_same_seed_same_answer_other_seed_other_samples(void **state)
{
    (void)state;
    struct fx_adapter a, b;
    int acc_a, acc_b;
    open_adapter(&a, "1", &acc_a);
    open_adapter(&b, "2", &acc_b);
    const char *p = "{\"routes\":[[\"OSM4T5\",\"OSM4T5\",\"OSM4T5\"]],\"departure_time\":0}";
    char *r1 = call_both(&a, acc_a, "ptdr-stats", p), *r2 = call_both(&a, acc_a, "ptdr-stats", p);
    char *r3 = call_both(&b, acc_b, "ptdr-stats", p);
    assert_string_equal(r1, r2);
    assert_string_not_equal(r1, r3);
    /* The request content is part of the seed: another departure in the same slot (same
     * distribution) draws other samples. */
    char *r4 = call_both(&a, acc_a, "ptdr-stats",
                         "{\"routes\":[[\"OSM4T5\",\"OSM4T5\",\"OSM4T5\"]],\"departure_time\":1}");
    assert_string_not_equal(r1, r4);
    free(r1);
    free(r2);
    free(r3);
    free(r4);
    fx_fini(&a);
    fx_fini(&b);
}

static void test_monte_carlo_agrees_with_stats_means(void **state)
{
    (void)state;
    struct fx_adapter fx;
    int accel;
    open_adapter(&fx, "99", &accel);
    /* Two routes with equal expected time 34 s: the index depends on the draws, and must be the
     * route with the lower sampled mean in ptdr-stats (same content, same samples). */
    const char *p = "{\"routes\":[[\"OSM4T5\",\"OSM4T5\"],[\"OSM4T5\",\"OSM4T5\"]],"
                    "\"departure_time\":5000}";
    char *mc = call_both(&fx, accel, "monte-carlo", p),
         *st = call_both(&fx, accel, "ptdr-stats", p);
    int want = stat_of(st, 1, "mean") < stat_of(st, 0, "mean") ? 1 : 0;
    assert_int_equal(atoi(mc), want);
    free(mc);
    free(st);
    fx_fini(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deterministic_profile_gives_exact_time),
        cmocka_unit_test(test_slot_is_taken_when_entering_each_segment),
        cmocka_unit_test(test_dominating_route_index_is_returned),
        cmocka_unit_test(test_two_value_profile_mean_matches_closed_form),
        cmocka_unit_test(test_same_seed_same_answer_other_seed_other_samples),
        cmocka_unit_test(test_monte_carlo_agrees_with_stats_means),
    };
    return cmocka_run_group_tests(tests, setup, fx_teardown);
}
