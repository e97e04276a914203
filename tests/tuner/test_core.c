/* Core tuner semantics: constraint priority and relaxation, linear and geometric rank,
 * confidence bounds, adaptation with inertia, feature clusters, monitors, robust statistics. */
#include <kfarm/tuner.h>

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

/* knob x in 0..9; metrics time = 10 - x (stddev sd), error = x; no features */
static struct tuner *make_line(double sd)
{
    struct tuner *t = tuner_new("b");
    assert_non_null(t);
    assert_int_equal(tuner_add_knob_range(t, "x", 0, 9, 1, NULL, 0), 0);
    assert_int_equal(tuner_add_metric(t, "time", NULL, 0), 0);
    assert_int_equal(tuner_add_metric(t, "error", NULL, 0), 1);
    for (int x = 0; x < 10; x++) {
        double k = x, m[2] = {10 - x, x}, s[2] = {sd, 0};
        assert_true(tuner_add_op(t, NULL, &k, m, s) >= 0);
    }
    assert_int_equal(tuner_add_state(t, "s", NULL, 0), 0);
    return t;
}

static double chosen_x(struct tuner *t)
{
    struct tuner_decision d;
    assert_int_equal(tuner_update(t, NULL, &d), 0);
    return tuner_op_knobs(t, d.op)[0];
}

static void test_rank_minimize_linear_picks_smallest(void **s)
{
    (void)s;
    struct tuner *t = make_line(0);
    struct tuner_rank_term r = {TUNER_METRIC, "time", 1};
    assert_int_equal(tuner_set_rank(t, NULL, TUNER_MINIMIZE, TUNER_LINEAR, &r, 1, NULL, 0), 0);
    assert_true(chosen_x(t) == 9);
    r.name = "error";
    assert_int_equal(tuner_set_rank(t, NULL, TUNER_MINIMIZE, TUNER_LINEAR, &r, 1, NULL, 0), 0);
    assert_true(chosen_x(t) == 0);
    tuner_free(t);
}

static void test_rank_linear_combination_weights_terms(void **s)
{
    (void)s;
    /* minimize 1*time + 3*error = 10 - x + 3x = 10 + 2x -> x = 0; with weights 3 and 1: 30-2x */
    struct tuner *t = make_line(0);
    struct tuner_rank_term r[2] = {{TUNER_METRIC, "time", 1}, {TUNER_METRIC, "error", 3}};
    assert_int_equal(tuner_set_rank(t, NULL, TUNER_MINIMIZE, TUNER_LINEAR, r, 2, NULL, 0), 0);
    assert_true(chosen_x(t) == 0);
    r[0].coef = 3;
    r[1].coef = 1;
    assert_int_equal(tuner_set_rank(t, NULL, TUNER_MINIMIZE, TUNER_LINEAR, r, 2, NULL, 0), 0);
    assert_true(chosen_x(t) == 9);
    tuner_free(t);
}

static void test_rank_geometric_maximizes_product(void **s)
{
    (void)s;
    /* maximize time^1 * error^1 = (10-x)*x -> x = 5; a knob term counts too */
    struct tuner *t = make_line(0);
    struct tuner_rank_term r[2] = {{TUNER_METRIC, "time", 1}, {TUNER_METRIC, "error", 1}};
    assert_int_equal(tuner_set_rank(t, NULL, TUNER_MAXIMIZE, TUNER_GEOMETRIC, r, 2, NULL, 0), 0);
    assert_true(chosen_x(t) == 5);
    /* (10-x)^2 * x is largest at x = 10/3 -> 3 */
    r[0].coef = 2;
    assert_int_equal(tuner_set_rank(t, NULL, TUNER_MAXIMIZE, TUNER_GEOMETRIC, r, 2, NULL, 0), 0);
    assert_true(chosen_x(t) == 3);
    tuner_free(t);
}

static void test_constraints_filter_then_rank(void **s)
{
    (void)s;
    struct tuner *t = make_line(0);
    struct tuner_rank_term r = {TUNER_METRIC, "time", 1};
    tuner_set_rank(t, NULL, TUNER_MINIMIZE, TUNER_LINEAR, &r, 1, NULL, 0);
    assert_true(tuner_add_constraint(t, NULL, TUNER_METRIC, "error", TUNER_LE, 4, 1, 0, NULL, 0) >=
                0);
    assert_true(chosen_x(t) == 4);
    int id = tuner_add_constraint(t, NULL, TUNER_METRIC, "error", TUNER_LT, 4, 2, 0, NULL, 0);
    assert_true(id >= 0);
    assert_true(chosen_x(t) == 3); /* lt is strict */
    assert_int_equal(tuner_remove_constraint(t, NULL, id), 0);
    assert_true(chosen_x(t) == 4);
    /* a knob constraint */
    assert_true(tuner_add_constraint(t, NULL, TUNER_KNOB, "x", TUNER_LE, 2, 0, 0, NULL, 0) >= 0);
    assert_true(chosen_x(t) == 2);
    tuner_free(t);
}

static void test_relaxation_drops_lowest_priority_first(void **s)
{
    (void)s;
    struct tuner *t = make_line(0);
    struct tuner_rank_term r = {TUNER_METRIC, "time", 1};
    tuner_set_rank(t, NULL, TUNER_MINIMIZE, TUNER_LINEAR, &r, 1, NULL, 0);
    /* error >= 6 (priority 1) conflicts with error <= 3 (priority 2): the important one holds */
    tuner_add_constraint(t, NULL, TUNER_METRIC, "error", TUNER_GE, 6, 1, 0, NULL, 0);
    tuner_add_constraint(t, NULL, TUNER_METRIC, "error", TUNER_LE, 3, 2, 0, NULL, 0);
    struct tuner_decision d;
    assert_int_equal(tuner_update(t, NULL, &d), 0);
    assert_true(d.relaxed);
    /* among error >= 6 the closest to error <= 3 is x = 6 (not the best rank x = 9) */
    assert_true(tuner_op_knobs(t, d.op)[0] == 6);
    tuner_free(t);

    /* same constraints with priorities swapped: error <= 3 wins, closest to >= 6 is x = 3 */
    t = make_line(0);
    tuner_set_rank(t, NULL, TUNER_MINIMIZE, TUNER_LINEAR, &r, 1, NULL, 0);
    tuner_add_constraint(t, NULL, TUNER_METRIC, "error", TUNER_GE, 6, 2, 0, NULL, 0);
    tuner_add_constraint(t, NULL, TUNER_METRIC, "error", TUNER_LE, 3, 1, 0, NULL, 0);
    assert_true(chosen_x(t) == 3);
    tuner_free(t);
}

static void test_relaxation_keeps_lower_constraints_and_ties_by_rank(void **s)
{
    (void)s;
    /* two knobs: a in 0..3, b in 0..3; metric m = a (so several OPs tie on m) */
    struct tuner *t = tuner_new("b");
    tuner_add_knob_range(t, "a", 0, 3, 1, NULL, 0);
    tuner_add_knob_range(t, "b", 0, 3, 1, NULL, 0);
    tuner_add_metric(t, "m", NULL, 0);
    tuner_add_metric(t, "q", NULL, 0);
    for (int a = 0; a < 4; a++)
        for (int b = 0; b < 4; b++) {
            double k[2] = {a, b}, m[2] = {a, b};
            tuner_add_op(t, NULL, k, m, NULL);
        }
    tuner_add_state(t, "s", NULL, 0);
    struct tuner_rank_term r = {TUNER_KNOB, "b", 1};
    tuner_set_rank(t, NULL, TUNER_MAXIMIZE, TUNER_LINEAR, &r, 1, NULL, 0);
    /* m >= 10 cannot hold: the closest OPs have a = 3; then q <= 1 (lower priority) applies among
     * them, and rank (maximize b) breaks the tie: a = 3, b = 1 */
    tuner_add_constraint(t, NULL, TUNER_METRIC, "m", TUNER_GE, 10, 0, 0, NULL, 0);
    tuner_add_constraint(t, NULL, TUNER_METRIC, "q", TUNER_LE, 1, 5, 0, NULL, 0);
    struct tuner_decision d;
    assert_int_equal(tuner_update(t, NULL, &d), 0);
    assert_true(d.relaxed);
    assert_true(tuner_op_knobs(t, d.op)[0] == 3);
    assert_true(tuner_op_knobs(t, d.op)[1] == 1);
    tuner_free(t);
}

static void test_confidence_uses_stddev(void **s)
{
    (void)s;
    struct tuner *t = make_line(1.0); /* time = 10 - x, stddev 1 */
    struct tuner_rank_term r = {TUNER_METRIC, "error", 1};
    tuner_set_rank(t, NULL, TUNER_MINIMIZE, TUNER_LINEAR, &r, 1, NULL, 0);
    int id = tuner_add_constraint(t, NULL, TUNER_METRIC, "time", TUNER_LE, 5, 0, 0, NULL, 0);
    assert_true(chosen_x(t) == 5); /* time 5 <= 5 */
    tuner_remove_constraint(t, NULL, id);
    tuner_add_constraint(t, NULL, TUNER_METRIC, "time", TUNER_LE, 5, 0, 2, NULL, 0);
    assert_true(chosen_x(t) == 7); /* 10 - x + 2 <= 5 */
    tuner_free(t);
}

static void test_update_reports_change_only_when_knobs_change(void **s)
{
    (void)s;
    struct tuner *t = make_line(0);
    struct tuner_rank_term r = {TUNER_METRIC, "time", 1};
    tuner_set_rank(t, NULL, TUNER_MINIMIZE, TUNER_LINEAR, &r, 1, NULL, 0);
    struct tuner_decision d;
    assert_int_equal(tuner_update(t, NULL, &d), 0);
    assert_true(d.changed);
    assert_int_equal(tuner_update(t, NULL, &d), 0);
    assert_false(d.changed);
    int id = tuner_add_constraint(t, NULL, TUNER_METRIC, "error", TUNER_LE, 9, 0, 0, NULL, 0);
    assert_int_equal(tuner_update(t, NULL, &d), 0);
    assert_false(d.changed); /* still x = 9 */
    tuner_set_constraint_goal(t, NULL, id, 2);
    assert_int_equal(tuner_update(t, NULL, &d), 0);
    assert_true(d.changed);
    tuner_free(t);
}

static void test_states_switch_problem(void **s)
{
    (void)s;
    struct tuner *t = make_line(0);
    struct tuner_rank_term r = {TUNER_METRIC, "time", 1};
    tuner_set_rank(t, "s", TUNER_MINIMIZE, TUNER_LINEAR, &r, 1, NULL, 0);
    assert_int_equal(tuner_add_state(t, "precise", NULL, 0), 0);
    assert_int_equal(tuner_add_state(t, "precise", NULL, 0), -EEXIST);
    r.name = "error";
    tuner_set_rank(t, "precise", TUNER_MINIMIZE, TUNER_LINEAR, &r, 1, NULL, 0);
    assert_string_equal(tuner_active_state(t), "s");
    assert_true(chosen_x(t) == 9);
    assert_int_equal(tuner_set_active_state(t, "precise"), 0);
    assert_true(chosen_x(t) == 0);
    assert_int_equal(tuner_set_active_state(t, "nope"), -ENOENT);
    tuner_free(t);
}

static void test_adaptation_rescales_goal_with_inertia(void **s)
{
    (void)s;
    struct tuner *t = make_line(0.1);
    struct tuner_rank_term r = {TUNER_METRIC, "error", 1};
    tuner_set_rank(t, NULL, TUNER_MINIMIZE, TUNER_LINEAR, &r, 1, NULL, 0);
    tuner_add_constraint(t, NULL, TUNER_METRIC, "time", TUNER_LE, 5, 0, 0, NULL, 0);
    assert_int_equal(tuner_set_adaptation(t, 0, 2, 3), 0);
    assert_true(chosen_x(t) == 5); /* expects time 5 */
    /* the window (2) is not full after one sample: coefficient stays 1 */
    tuner_observe(t, 0, 10);
    assert_true(tuner_error_coefficient(t, 0) == 1.0);
    /* observed 10 vs expected 5: sample 0.5; inertia 3 averages it with the earlier 1 */
    tuner_observe(t, 0, 10);
    assert_true(fabs(tuner_error_coefficient(t, 0) - 0.75) < 1e-12);
    /* goal 5 * 0.75 = 3.75 -> x = 7 (time 3) */
    struct tuner_decision d;
    tuner_update(t, NULL, &d);
    assert_true(tuner_op_knobs(t, d.op)[0] == 7);
    assert_true(d.changed);
    /* observations within one stddev of the new OP's expectation give samples of 1 */
    tuner_observe(t, 0, 3.05);
    tuner_observe(t, 0, 3.05);
    tuner_observe(t, 0, 3.05);
    assert_true(fabs(tuner_error_coefficient(t, 0) - 1.0) < 1e-12);
    assert_true(chosen_x(t) == 5);
    tuner_free(t);
}

static void test_feature_clusters_validity_and_distance(void **s)
{
    (void)s;
    struct tuner *t = tuner_new("b");
    tuner_add_knob_range(t, "k", 0, 1, 1, NULL, 0);
    tuner_add_metric(t, "m", NULL, 0);
    tuner_add_feature(t, "size", TUNER_LE, NULL, 0);
    tuner_add_feature(t, "kind", TUNER_DONT_CARE, NULL, 0);
    /* clusters at size 10, 20, 40; the knob value tells which cluster was used */
    double sizes[3] = {10, 20, 40};
    for (int c = 0; c < 3; c++) {
        double f[2] = {sizes[c], 0}, k = c, m = 1;
        tuner_add_op(t, f, &k, &m, NULL);
    }
    tuner_add_state(t, "s", NULL, 0);
    struct tuner_decision d;
    double in[2] = {19, 0};
    tuner_update(t, in, &d);
    assert_true(tuner_op_knobs(t, d.op)[0] == 0); /* 20 is nearer but not <= 19 */
    in[0] = 20;
    tuner_update(t, in, &d);
    assert_true(tuner_op_knobs(t, d.op)[0] == 1);
    in[0] = 1000;
    tuner_update(t, in, &d);
    assert_true(tuner_op_knobs(t, d.op)[0] == 2);
    in[0] = 5; /* nothing valid: nearest cluster */
    tuner_update(t, in, &d);
    assert_true(tuner_op_knobs(t, d.op)[0] == 0);
    /* moving inside the same cluster keeps the decision, unchanged */
    in[0] = 12;
    tuner_update(t, in, &d);
    assert_true(tuner_op_knobs(t, d.op)[0] == 0);
    assert_false(d.changed);
    in[0] = 25;
    tuner_update(t, in, &d);
    assert_true(tuner_op_knobs(t, d.op)[0] == 1);
    assert_true(d.changed);
    assert_int_equal(tuner_update(t, NULL, &d), -EINVAL);
    tuner_free(t);

    /* normalized distance: the large-magnitude feature does not dominate */
    t = tuner_new("b");
    tuner_add_knob_range(t, "k", 0, 1, 1, NULL, 0);
    tuner_add_metric(t, "m", NULL, 0);
    tuner_add_feature(t, "big", TUNER_DONT_CARE, NULL, 0);
    tuner_add_feature(t, "small", TUNER_DONT_CARE, NULL, 0);
    double f0[2] = {0, 0}, f1[2] = {1000, 1}, k0 = 0, k1 = 1, m = 1;
    tuner_add_op(t, f0, &k0, &m, NULL);
    tuner_add_op(t, f1, &k1, &m, NULL);
    tuner_add_state(t, "s", NULL, 0);
    double q[2] = {400, 1}; /* euclidean: nearer to 0; normalized: 0.4^2 vs 0.6^2 + 0 ... */
    tuner_update(t, q, &d);
    assert_true(tuner_op_knobs(t, d.op)[0] == 0);
    tuner_set_feature_distance(t, TUNER_NORMALIZED);
    tuner_update(t, q, &d); /* 0.16 + 1 vs 0.36 + 0 */
    assert_true(tuner_op_knobs(t, d.op)[0] == 1);
    tuner_free(t);
}

static void test_monitor_window_statistics(void **s)
{
    (void)s;
    struct tuner_monitor *m = tuner_monitor_new(3);
    assert_false(tuner_monitor_full(m));
    tuner_monitor_push(m, 1);
    tuner_monitor_push(m, 5);
    tuner_monitor_push(m, 3);
    assert_true(tuner_monitor_full(m));
    assert_true(tuner_monitor_avg(m) == 3);
    assert_true(tuner_monitor_stddev(m) == 2);
    tuner_monitor_push(m, 7); /* drops 1 */
    assert_true(tuner_monitor_avg(m) == 5);
    assert_true(tuner_monitor_min(m) == 3);
    assert_true(tuner_monitor_max(m) == 7);
    assert_true(tuner_monitor_last(m) == 7);
    assert_int_equal(tuner_monitor_count(m), 3);
    tuner_monitor_clear(m);
    assert_int_equal(tuner_monitor_count(m), 0);
    tuner_monitor_free(m);
}

static void test_robust_stats_drop_outliers(void **s)
{
    (void)s;
    double v[11] = {10, 11, 9, 10, 10, 11, 9, 10, 10, 10, 1000};
    struct tuner_stats st;
    assert_int_equal(tuner_robust_stats(v, 11, 3, &st), 0);
    assert_int_equal(st.dropped, 1);
    assert_true(fabs(st.mean - 10) < 1e-9);
    assert_int_equal(tuner_robust_stats(v, 0, 3, &st), -EINVAL);
    assert_true(tuner_feature_bucket(0) == 0);
    assert_true(tuner_feature_bucket(3) == 4);
    assert_true(tuner_feature_bucket(100) == 128);
    assert_true(tuner_feature_bucket(-5) == -4);
}

static void test_definitions_are_checked(void **s)
{
    (void)s;
    struct tuner *t = tuner_new("b");
    char err[256];
    assert_int_equal(tuner_add_knob_range(t, "k", 5, 1, 1, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "k"));
    assert_int_equal(tuner_add_knob_range(t, "k", 0, 4, 2, err, sizeof(err)), 0);
    assert_int_equal(tuner_add_metric(t, "k", err, sizeof(err)), -EEXIST);
    double dom[8];
    assert_int_equal(tuner_knob_domain(t, 0, dom, 8), 3);
    assert_true(dom[2] == 4);
    tuner_add_state(t, "s", NULL, 0);
    assert_true(tuner_add_constraint(t, NULL, TUNER_METRIC, "nope", TUNER_LE, 1, 0, 0, err,
                                     sizeof(err)) == -ENOENT);
    assert_non_null(strstr(err, "nope"));
    struct tuner_decision d;
    assert_int_equal(tuner_update(t, NULL, &d), -ENOENT);
    tuner_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rank_minimize_linear_picks_smallest),
        cmocka_unit_test(test_rank_linear_combination_weights_terms),
        cmocka_unit_test(test_rank_geometric_maximizes_product),
        cmocka_unit_test(test_constraints_filter_then_rank),
        cmocka_unit_test(test_relaxation_drops_lowest_priority_first),
        cmocka_unit_test(test_relaxation_keeps_lower_constraints_and_ties_by_rank),
        cmocka_unit_test(test_confidence_uses_stddev),
        cmocka_unit_test(test_update_reports_change_only_when_knobs_change),
        cmocka_unit_test(test_states_switch_problem),
        cmocka_unit_test(test_adaptation_rescales_goal_with_inertia),
        cmocka_unit_test(test_feature_clusters_validity_and_distance),
        cmocka_unit_test(test_monitor_window_statistics),
        cmocka_unit_test(test_robust_stats_drop_outliers),
        cmocka_unit_test(test_definitions_are_checked),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
