/* Selector behaviour with synthetic timings: calibrate -> exploit, CPU fallback from the next
 * decision when the accelerator goes, re-exploration when it returns or when timings drift,
 * knowledge saved and reloaded, knobs from margot.json. */
#include <kfarm/tuner.h>

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

/* Synthetic kernel: CPU costs 1 us per unit; the accelerator 50 us per request + 0.1 us per
 * unit (times accel_slowdown), so it wins above ~55 units. Deterministic +-5% noise. */
struct sim {
    double accel_slowdown, cpu_slowdown;
    unsigned noise;
};

static double sim_seconds(struct sim *m, const struct tuner_choice *c, double size)
{
    m->noise = m->noise * 1103515245u + 12345u;
    double jitter = 1.0 + 0.05 * ((double)((m->noise >> 16) % 201) / 100.0 - 1.0);
    double t = c->variant == TUNER_VARIANT_ACCEL ? (50e-6 + size * 0.1e-6) * m->accel_slowdown
                                                 : size * 1e-6 * m->cpu_slowdown;
    return t * jitter;
}

static const char *const names[] = {"size"};

/* runs n requests of the given size; returns how many used the accelerator */
static int run(struct tuner_selector *s, struct sim *m, double size, int accel, int n,
               enum tuner_reason *last_reason)
{
    int used = 0;
    for (int i = 0; i < n; i++) {
        struct tuner_choice c;
        assert_int_equal(tuner_selector_choose(s, &size, 1, accel, &c), 0);
        if (!accel)
            assert_int_equal(c.variant, TUNER_VARIANT_CPU);
        used += c.variant == TUNER_VARIANT_ACCEL;
        if (last_reason)
            *last_reason = c.reason;
        tuner_selector_observe(s, &c, sim_seconds(m, &c, size), size);
    }
    return used;
}

static void test_calibrate_then_exploit_best_variant_per_size(void **st)
{
    (void)st;
    char err[256];
    struct tuner_selector *s =
        tuner_selector_new("app", "mc", names, 1, 1, NULL, NULL, err, sizeof(err));
    assert_non_null(s);
    struct sim m = {1, 1, 1};
    double big = 1000;
    struct tuner_choice c;
    int cal = 0, cpu = 0, acc = 0;
    for (int i = 0; i < 20; i++) { /* 10 samples of each variant */
        tuner_selector_choose(s, &big, 1, 1, &c);
        cal += c.reason == TUNER_REASON_CALIBRATING;
        cpu += c.variant == TUNER_VARIANT_CPU;
        acc += c.variant == TUNER_VARIANT_ACCEL;
        assert_string_equal(c.reason_str, "calibrating");
        tuner_selector_observe(s, &c, sim_seconds(&m, &c, big), big);
    }
    assert_int_equal(cal, 20);
    assert_int_equal(cpu, 10);
    assert_int_equal(acc, 10);
    enum tuner_reason r;
    assert_int_equal(run(s, &m, big, 1, 50, &r), 50);
    assert_int_equal(r, TUNER_REASON_EXPLOITING);
    /* small inputs: their own cluster, calibrated, then CPU */
    run(s, &m, 8, 1, 20, NULL);
    assert_int_equal(run(s, &m, 8, 1, 50, &r), 0);
    assert_int_equal(r, TUNER_REASON_EXPLOITING);
    /* same cluster (bucket 8) for 7..11 */
    assert_int_equal(run(s, &m, 11, 1, 10, &r), 0);
    assert_int_equal(r, TUNER_REASON_EXPLOITING);
    tuner_selector_free(s);
}

/* Crafted features (2001 distinct power-of-two buckets) do not grow the table past its cap:
 * later keys share an existing cluster, and the calibrated one keeps its decision. */
static void test_crafted_features_cannot_grow_clusters_without_bound(void **st)
{
    (void)st;
    char err[256];
    struct tuner_selector *s =
        tuner_selector_new("app", "mc", names, 1, 1, NULL, NULL, err, sizeof(err));
    assert_non_null(s);
    struct sim m = {1, 1, 1};
    enum tuner_reason r;
    run(s, &m, 1000, 1, 20, NULL);
    assert_int_equal(run(s, &m, 1000, 1, 10, &r), 10);
    assert_int_equal(r, TUNER_REASON_EXPLOITING);
    unsigned max_cluster = 0;
    for (int e = -1000; e <= 1000; e++) {
        double x = ldexp(1.0, e);
        struct tuner_choice c;
        assert_int_equal(tuner_selector_choose(s, &x, 1, 1, &c), 0);
        if (c.cluster_ > max_cluster)
            max_cluster = c.cluster_;
    }
    assert_true(max_cluster >= 1000); /* the flood did make new clusters, up to the cap */
    assert_true(max_cluster < 1024);
    assert_int_equal(run(s, &m, 1000, 1, 10, &r), 10);
    assert_int_equal(r, TUNER_REASON_EXPLOITING);
    tuner_selector_free(s);
}

static void test_fallback_then_reexplore_when_accel_returns(void **st)
{
    (void)st;
    char err[256];
    struct tuner_selector *s =
        tuner_selector_new("app", "mc", names, 1, 1, NULL, NULL, err, sizeof(err));
    struct sim m = {1, 1, 7};
    double big = 1000;
    run(s, &m, big, 1, 20, NULL);
    assert_int_equal(run(s, &m, big, 1, 10, NULL), 10);
    /* accelerator paused: CPU from the very next decision, reason fallback */
    struct tuner_choice c;
    assert_int_equal(tuner_selector_choose(s, &big, 1, 0, &c), 0);
    assert_int_equal(c.variant, TUNER_VARIANT_CPU);
    assert_int_equal(c.reason, TUNER_REASON_FALLBACK);
    assert_non_null(strstr(c.reason_str, "accelerator unavailable"));
    tuner_selector_observe(s, &c, sim_seconds(&m, &c, big), big);
    enum tuner_reason r;
    assert_int_equal(run(s, &m, big, 0, 30, &r), 0);
    assert_int_equal(r, TUNER_REASON_FALLBACK);
    /* a size never seen while paused: CPU is calibrated, accel is not tried */
    assert_int_equal(run(s, &m, 4000, 0, 15, NULL), 0);

    /* it returns: the accelerator is measured again (10 samples), then chosen as faster */
    struct tuner_selector_stats before, after;
    tuner_selector_get_stats(s, &before);
    assert_int_equal(tuner_selector_choose(s, &big, 1, 1, &c), 0);
    assert_int_equal(c.variant, TUNER_VARIANT_ACCEL);
    assert_int_equal(c.reason, TUNER_REASON_CALIBRATING);
    tuner_selector_observe(s, &c, sim_seconds(&m, &c, big), big);
    tuner_selector_get_stats(s, &after);
    assert_int_equal(after.reexplorations, before.reexplorations + 1);
    assert_int_equal(run(s, &m, big, 1, 9, NULL), 9);
    assert_int_equal(run(s, &m, big, 1, 20, &r), 20);
    assert_int_equal(r, TUNER_REASON_EXPLOITING);

    /* paused again, and when it comes back it is a slow device: CPU wins after re-exploration */
    run(s, &m, big, 0, 5, NULL);
    m.accel_slowdown = 20;
    run(s, &m, big, 1, 10, NULL);
    assert_int_equal(run(s, &m, big, 1, 20, &r), 0);
    assert_int_equal(r, TUNER_REASON_EXPLOITING);
    tuner_selector_free(s);
}

static void test_drift_triggers_reexploration(void **st)
{
    (void)st;
    char err[256];
    struct tuner_selector *s =
        tuner_selector_new("app", "mc", names, 1, 1, NULL, NULL, err, sizeof(err));
    struct sim m = {1, 1, 3};
    double big = 1000;
    run(s, &m, big, 1, 20, NULL);
    assert_int_equal(run(s, &m, big, 1, 20, NULL), 20);
    /* the accelerator becomes 30x slower without any state change (e.g. a shared device) */
    m.accel_slowdown = 30;
    int used = run(s, &m, big, 1, 60, NULL);
    struct tuner_selector_stats stt;
    tuner_selector_get_stats(s, &stt);
    assert_true(stt.reexplorations >= 1);
    assert_true(used < 60);
    assert_int_equal(run(s, &m, big, 1, 20, NULL), 0);
    tuner_selector_free(s);
}

static void test_outliers_do_not_decide(void **st)
{
    (void)st;
    char err[256];
    struct tuner_selector *s =
        tuner_selector_new("app", "mc", names, 1, 1, NULL, NULL, err, sizeof(err));
    struct sim m = {1, 1, 5};
    double big = 1000;
    /* one huge spike on the (faster) accelerator during calibration must not make CPU win */
    int spikes = 0;
    for (int i = 0; i < 20; i++) {
        struct tuner_choice c;
        tuner_selector_choose(s, &big, 1, 1, &c);
        double t = sim_seconds(&m, &c, big);
        if (c.variant == TUNER_VARIANT_ACCEL && !spikes++)
            t = 1.0; /* a page-fault storm: 7000x the normal time */
        tuner_selector_observe(s, &c, t, big);
    }
    assert_int_equal(run(s, &m, big, 1, 20, NULL), 20);
    tuner_selector_free(s);
}

static void test_knowledge_saved_and_reloaded_starts_calibrated(void **st)
{
    (void)st;
    char err[256];
    char path[] = "/tmp/kfarm-sel-opsXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unlink(path);
    /* a missing knowledge file is fine: the job saves to it at the end */
    struct tuner_selector *s =
        tuner_selector_new("app", "mc", names, 1, 1, NULL, path, err, sizeof(err));
    assert_non_null(s);
    struct sim m = {1, 1, 9};
    run(s, &m, 1000, 1, 20, NULL);
    run(s, &m, 8, 1, 20, NULL);
    assert_int_equal(tuner_selector_save(s, path, err, sizeof(err)), 0);
    tuner_selector_free(s);

    s = tuner_selector_new("app", "mc", names, 1, 1, NULL, path, err, sizeof(err));
    assert_non_null(s);
    double big = 1000, small = 8;
    struct tuner_choice c;
    tuner_selector_choose(s, &big, 1, 1, &c);
    assert_int_equal(c.reason, TUNER_REASON_EXPLOITING);
    assert_int_equal(c.variant, TUNER_VARIANT_ACCEL);
    tuner_selector_choose(s, &small, 1, 1, &c);
    assert_int_equal(c.reason, TUNER_REASON_EXPLOITING);
    assert_int_equal(c.variant, TUNER_VARIANT_CPU);
    tuner_selector_free(s);

    /* a corrupt knowledge file is an error that names it */
    FILE *f = fopen(path, "w");
    fputs("{\"mc\": [{\"knobs\": 3}]}", f);
    fclose(f);
    assert_null(tuner_selector_new("app", "mc", names, 1, 1, NULL, path, err, sizeof(err)));
    assert_non_null(strstr(err, path));
    unlink(path);
}

static void test_margot_json_knobs_and_constraints(void **st)
{
    (void)st;
    char path[] = "/tmp/kfarm-sel-margotXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *cfg =
        "{\"name\":\"kfarm\",\"blocks\":[{\"name\":\"mc\",\n"
        " \"knobs\":[{\"name\":\"batch\",\"range\":[1,4,1]}],\n"
        " \"learning\":{\"min_samples\":3},\n"
        " \"extra-functional_requirements\":[{\"name\":\"s\",\n"
        "  \"minimize\":{\"linear_mean\":[{\"time_per_unit\":1}]},\n"
        "  \"subject_to\":[{\"subject\":\"batch\",\"comparison\":\"le\",\"value\":2}]}]}]}";
    assert_true(write(fd, cfg, strlen(cfg)) == (ssize_t)strlen(cfg));
    close(fd);
    char err[256];
    struct tuner_selector *s =
        tuner_selector_new("app", "mc", names, 1, 0, path, NULL, err, sizeof(err));
    assert_non_null(s);
    assert_string_equal(tuner_selector_knob_name(s, 0), "batch");
    /* cpu only (no accelerator) x 4 batch values x 3 samples; bigger batch is faster */
    double size = 100;
    int seen[5] = {0};
    struct tuner_choice c;
    for (int i = 0; i < 12; i++) {
        tuner_selector_choose(s, &size, 1, 0, &c);
        assert_int_equal(c.n_knobs, 1);
        assert_int_equal(c.variant, TUNER_VARIANT_CPU);
        assert_int_equal(c.reason, TUNER_REASON_CALIBRATING);
        seen[c.knobs[0]]++;
        tuner_selector_observe(s, &c, size * 1e-6 / (double)c.knobs[0], size);
    }
    for (int b = 1; b <= 4; b++)
        assert_int_equal(seen[b], 3);
    /* batch 4 is fastest but the constraint caps it at 2 */
    tuner_selector_choose(s, &size, 1, 0, &c);
    assert_int_equal(c.reason, TUNER_REASON_EXPLOITING);
    assert_int_equal(c.knobs[0], 2);
    tuner_selector_free(s);

    /* a metric the selector cannot measure */
    FILE *f = fopen(path, "w");
    fputs("{\"blocks\":[{\"name\":\"mc\",\"metrics\":[{\"name\":\"energy\"}]}]}", f);
    fclose(f);
    assert_null(tuner_selector_new("app", "mc", names, 1, 0, path, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "energy"));
    unlink(path);
}

/* Kernel-declared knobs (the adapter's table) are tuned; a knob space beyond the design budget
 * is not calibrated in full: at most design_budget settings per cluster, then the best of them is
 * exploited. Here 2 variants x 5^3 knob values = 250 settings; the fastest is the accelerator
 * with knob b at its 4th value (one knob away from the variant's first setting). */
static void test_declared_knobs_learned_within_the_design_budget(void **st)
{
    (void)st;
    static const char *const layouts[] = {"l0", "l1", "l2", "l3", "l4"};
    const struct tuner_knob_decl decl[] = {
        {.name = "a", .min = 1, .max = 5, .step = 1},
        {.name = "b", .min = 0, .max = 40, .step = 10},
        {.name = "layout", .labels = layouts, .n_labels = 5},
    };
    char err[256];
    struct tuner_selector *s =
        tuner_selector_new_knobs("app", "mc", names, 1, 1, decl, 3, NULL, NULL, err, sizeof(err));
    assert_non_null(s);
    struct tuner_learn_params lp;
    tuner_learn_params_default(&lp);
    double size = 100;
    unsigned char tried[2][6][41][5] = {{{{0}}}};
    size_t distinct = 0, i;
    struct tuner_choice c;
    for (i = 0; i < 2000; i++) {
        assert_int_equal(tuner_selector_choose(s, &size, 1, 1, &c), 0);
        assert_int_equal(c.n_knobs, 3);
        long a = c.knobs[0], b = c.knobs[1], l = c.knobs[2];
        assert_true(a >= 1 && a <= 5 && b >= 0 && b <= 40 && b % 10 == 0 && l >= 0 && l <= 4);
        if (c.reason == TUNER_REASON_EXPLOITING)
            break;
        if (!tried[c.variant][a][b][l]++)
            distinct++;
        /* every knob away from its first value costs, except b = 30 on the accelerator */
        double t = 100e-6 * (1 + 0.1 * (double)(a - 1) + 0.1 * (double)l);
        if (c.variant == TUNER_VARIANT_ACCEL)
            t *= b == 30 ? 0.2 : 0.8 + 0.01 * (double)b;
        else
            t *= 1 + 0.01 * (double)b;
        tuner_selector_observe(s, &c, t, size);
    }
    print_message("exploiting after %zu decisions, %zu settings tried\n", i, distinct);
    assert_true(distinct <= lp.design_budget);
    assert_true(i <= lp.design_budget * lp.min_samples);
    assert_int_equal(c.reason, TUNER_REASON_EXPLOITING);
    assert_int_equal(c.variant, TUNER_VARIANT_ACCEL);
    assert_int_equal(c.knobs[0], 1);
    assert_int_equal(c.knobs[1], 30);
    assert_int_equal(c.knobs[2], 0);
    tuner_selector_free(s);

    /* margot.json may narrow a declared knob, not leave its domain */
    char path[] = "/tmp/kfarm-sel-declXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *cfg =
        "{\"blocks\":[{\"name\":\"mc\",\"knobs\":[{\"name\":\"b\",\"range\":[0,50,10]}]}]}";
    assert_true(write(fd, cfg, strlen(cfg)) == (ssize_t)strlen(cfg));
    close(fd);
    assert_null(
        tuner_selector_new_knobs("app", "mc", names, 1, 1, decl, 3, path, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "knob 'b'"));
    FILE *f = fopen(path, "w");
    fputs("{\"blocks\":[{\"name\":\"mc\",\"knobs\":[{\"name\":\"b\",\"range\":[10,30,20]}]}]}", f);
    fclose(f);
    s = tuner_selector_new_knobs("app", "mc", names, 1, 1, decl, 3, path, NULL, err, sizeof(err));
    assert_non_null(s);
    tuner_selector_free(s);
    unlink(path);
}

static void test_bad_arguments_fall_back_to_cpu(void **st)
{
    (void)st;
    char err[256];
    struct tuner_selector *s =
        tuner_selector_new("app", "mc", names, 1, 1, NULL, NULL, err, sizeof(err));
    struct tuner_choice c;
    double f[2] = {1, 2};
    assert_int_equal(tuner_selector_choose(s, f, 2, 1, &c), -EINVAL);
    assert_int_equal(c.variant, TUNER_VARIANT_CPU);
    tuner_selector_observe(s, &c, 1.0, 1.0); /* ignored, no crash */
    tuner_selector_observe(s, NULL, 1.0, 1.0);
    assert_null(tuner_selector_client_id(s));
    assert_int_equal(tuner_selector_accel_heard(s), -1); /* no MQTT: nothing heard */
    assert_int_equal(tuner_selector_set_mqtt(s, "http://x", NULL, NULL, NULL, err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "tcp://"));
    tuner_selector_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calibrate_then_exploit_best_variant_per_size),
        cmocka_unit_test(test_crafted_features_cannot_grow_clusters_without_bound),
        cmocka_unit_test(test_fallback_then_reexplore_when_accel_returns),
        cmocka_unit_test(test_drift_triggers_reexploration),
        cmocka_unit_test(test_outliers_do_not_decide),
        cmocka_unit_test(test_knowledge_saved_and_reloaded_starts_calibrated),
        cmocka_unit_test(test_margot_json_knobs_and_constraints),
        cmocka_unit_test(test_bad_arguments_fall_back_to_cpu),
        cmocka_unit_test(test_declared_knobs_learned_within_the_design_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
