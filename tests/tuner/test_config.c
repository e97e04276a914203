/* margot.json and ops.json parsing: the mARGOt shapes build the expected block, knowledge
 * round-trips, and bad files fail with errors that name the file, the field and what was expected.
 */
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

static const char *good_config =
    "{\"name\":\"app\",\"version\":\"1\",\"blocks\":[{\"name\":\"other\"},{\n"
    " \"name\":\"mc\",\n"
    " \"monitors\":[{\"name\":\"tm\",\"type\":\"time\",\"window\":4}],\n"
    " \"knobs\":[{\"name\":\"variant\",\"type\":\"string\",\"values\":[\"cpu\",\"accel\"]},\n"
    "            {\"name\":\"batch\",\"type\":\"int\",\"range\":[1,16,5]}],\n"
    " \"metrics\":[{\"name\":\"time_per_unit\",\"type\":\"double\",\"distribution\":\"yes\",\n"
    "              \"observed_by\":\"tm\",\"reactive_inertia\":2},\n"
    "            {\"name\":\"error\",\"type\":\"double\"}],\n"
    " \"features\":[{\"name\":\"size\",\"type\":\"int\",\"comparison\":\"le\"}],\n"
    " \"feature_distance\":\"normalized\",\n"
    " \"agora\":{\"number_observations_per_configuration\":7},\n"
    " \"learning\":{\"min_samples\":12,\"band\":2.0},\n"
    " \"extra-functional_requirements\":[\n"
    "  {\"name\":\"fast\",\"minimize\":{\"geometric_mean\":[{\"time_per_unit\":1}]},\n"
    "   "
    "\"subject_to\":[{\"subject\":\"error\",\"comparison\":\"le\",\"value\":2,\"confidence\":1},\n"
    "                   {\"subject\":\"batch\",\"comparison\":\"ge\",\"value\":6}]},\n"
    "  {\"name\":\"precise\",\"minimize\":{\"linear_mean\":[{\"error\":1}]}}]}]}";

static void test_margot_json_builds_block(void **s)
{
    (void)s;
    char err[512] = "";
    struct tuner_learn_params lp;
    tuner_learn_params_default(&lp);
    struct tuner *t = tuner_config_parse(good_config, "m.json", "mc", &lp, err, sizeof(err));
    assert_non_null(t);
    assert_string_equal(tuner_block_name(t), "mc");
    assert_int_equal(tuner_n_knobs(t), 2);
    assert_int_equal(tuner_n_metrics(t), 2);
    assert_int_equal(tuner_n_features(t), 1);
    assert_int_equal(tuner_feature_validity(t, 0), TUNER_LE);
    double dom[8];
    assert_int_equal(tuner_knob_domain(t, 1, dom, 8), 4); /* 1, 6, 11, 16 */
    assert_int_equal(tuner_knob_domain(t, 0, dom, 8), 2);
    assert_string_equal(tuner_knob_label(t, 0, 1), "accel");
    assert_int_equal(lp.observations_per_config, 7);
    assert_int_equal(lp.min_samples, 12);
    assert_true(lp.band == 2.0);
    assert_string_equal(tuner_active_state(t), "fast");

    /* knowledge: batch 1 is fastest but violates batch >= 6; error <= 2 with 1 sigma */
    double f = 100;
    double k1[2] = {0, 1}, m1[2] = {1, 0}, s1[2] = {0, 0};
    double k2[2] = {0, 6}, m2[2] = {2, 1.5}, s2[2] = {0, 1};  /* 1.5 + 1 > 2: infeasible */
    double k3[2] = {1, 11}, m3[2] = {3, 0.5}, s3[2] = {0, 1}; /* feasible */
    double k4[2] = {1, 16}, m4[2] = {4, 0.1}, s4[2] = {0, 0}; /* feasible, slower */
    tuner_add_op(t, &f, k1, m1, s1);
    tuner_add_op(t, &f, k2, m2, s2);
    tuner_add_op(t, &f, k3, m3, s3);
    tuner_add_op(t, &f, k4, m4, s4);
    struct tuner_decision d;
    assert_int_equal(tuner_update(t, &f, &d), 0);
    assert_int_equal(d.op, 2);
    assert_int_equal(tuner_set_active_state(t, "precise"), 0);
    assert_int_equal(tuner_update(t, &f, &d), 0);
    assert_int_equal(d.op, 0); /* no constraints: least error */

    /* ops.json round trip */
    char *dump = tuner_knowledge_dump(t);
    assert_non_null(dump);
    assert_non_null(strstr(dump, "\"accel\""));
    struct tuner *u = tuner_config_parse(good_config, "m.json", "mc", NULL, err, sizeof(err));
    assert_non_null(u);
    assert_int_equal(tuner_knowledge_parse(u, dump, "dump", err, sizeof(err)), 0);
    assert_int_equal(tuner_n_ops(u), 4);
    for (size_t i = 0; i < 4; i++) {
        assert_true(tuner_op_knobs(u, i)[1] == tuner_op_knobs(t, i)[1]);
        assert_true(tuner_op_stddev(u, i, 1) == tuner_op_stddev(t, i, 1));
    }
    free(dump);
    tuner_free(u);
    tuner_free(t);
}

static void test_margot_json_adaptation_from_monitor(void **s)
{
    (void)s;
    char err[512];
    struct tuner *t = tuner_config_parse(good_config, "m.json", "mc", NULL, err, sizeof(err));
    assert_non_null(t);
    double f = 1, k[2] = {0, 1}, m[2] = {1, 0};
    tuner_add_op(t, &f, k, m, NULL);
    struct tuner_decision d;
    tuner_update(t, &f, &d);
    /* monitor window 4 (from "tm"): three samples keep the coefficient at 1 */
    for (int i = 0; i < 3; i++)
        assert_int_equal(tuner_observe(t, 0, 2.0), 0);
    assert_true(tuner_error_coefficient(t, 0) == 1.0);
    tuner_observe(t, 0, 2.0);
    /* ring of 2 holds {1, 0.5} */
    assert_true(fabs(tuner_error_coefficient(t, 0) - 0.75) < 1e-12);
    assert_int_equal(tuner_observe(t, 1, 1.0), -ENOENT); /* "error" has no monitor */
    tuner_free(t);
}

struct bad {
    const char *json;
    const char *expect[3]; /* substrings the error must contain */
};

static void test_bad_margot_json_errors_name_field(void **s)
{
    (void)s;
    const struct bad cases[] = {
        {"{\"blocks\": [", {"bad.json", "not valid JSON", NULL}},
        {"{\"name\":\"a\"}", {"bad.json", "blocks", "non-empty array"}},
        {"{\"blocks\":[{\"name\":\"mc\",\"knobs\":[{\"name\":\"b\",\"range\":[1]}]}]}",
         {"blocks[0].knobs[0].range", "[min, max", NULL}},
        {"{\"blocks\":[{\"name\":\"mc\",\"knobs\":[{\"name\":\"b\",\"range\":[5,1,1]}]}]}",
         {"blocks[0].knobs[0]", "min <= max", NULL}},
        {"{\"blocks\":[{\"name\":\"mc\",\"knobs\":[{\"name\":\"b\"}]}]}",
         {"knobs[0]", "\"values\"", NULL}},
        {"{\"blocks\":[{\"name\":\"mc\",\"features\":[{\"name\":\"f\",\"comparison\":\"lt\"}]}]}",
         {"features[0].comparison", "\"le\", \"ge\" or \"-\"", NULL}},
        {"{\"blocks\":[{\"name\":\"mc\",\"metrics\":[{\"name\":\"t\"}],"
         "\"extra-functional_requirements\":[{\"name\":\"s\",\"subject_to\":"
         "[{\"subject\":\"nope\",\"comparison\":\"le\",\"value\":1}]}]}]}",
         {"subject_to[0]", "nope", NULL}},
        {"{\"blocks\":[{\"name\":\"mc\",\"metrics\":[{\"name\":\"t\"}],"
         "\"extra-functional_requirements\":[{\"name\":\"s\",\"subject_to\":"
         "[{\"subject\":\"t\",\"comparison\":\"eq\",\"value\":1}]}]}]}",
         {"subject_to[0].comparison", "\"lt\", \"le\", \"gt\" or \"ge\"", "eq"}},
        {"{\"blocks\":[{\"name\":\"mc\",\"metrics\":[{\"name\":\"t\"}],"
         "\"extra-functional_requirements\":[{\"name\":\"s\",\"subject_to\":"
         "[{\"subject\":\"t\",\"comparison\":\"le\",\"value\":\"x\"}]}]}]}",
         {"subject_to[0].value", "a number", NULL}},
        {"{\"blocks\":[{\"name\":\"mc\",\"metrics\":[{\"name\":\"t\",\"reactive_inertia\":3}]}]}",
         {"metrics[0].observed_by", "monitor", NULL}},
        {"{\"blocks\":[{\"name\":\"mc\",\"metrics\":[{\"name\":\"t\"}],"
         "\"extra-functional_requirements\":[{\"minimize\":{\"mean\":[]}}]}]}",
         {"minimize", "linear_mean", NULL}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char err[512] = "";
        struct tuner *t =
            tuner_config_parse(cases[i].json, "bad.json", NULL, NULL, err, sizeof(err));
        if (t)
            fail_msg("case %zu parsed", i);
        for (int j = 0; j < 3 && cases[i].expect[j]; j++)
            if (!strstr(err, cases[i].expect[j]))
                fail_msg("case %zu: error '%s' lacks '%s'", i, err, cases[i].expect[j]);
    }
    char err[512];
    assert_null(tuner_config_parse(good_config, "m.json", "nope", NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "no block named \"nope\""));
    assert_null(tuner_config_load("/nonexistent/margot.json", NULL, NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "/nonexistent/margot.json"));
}

static void test_bad_ops_json_errors_and_leaves_knowledge(void **s)
{
    (void)s;
    char err[512];
    struct tuner *t = tuner_config_parse(good_config, "m.json", "mc", NULL, err, sizeof(err));
    assert_non_null(t);
    const char *good =
        "{\"mc\":[{\"features\":{\"size\":4},\"knobs\":{\"variant\":\"cpu\",\"batch\":1},"
        "\"metrics\":{\"time_per_unit\":[1,0.1],\"error\":2}}]}";
    assert_int_equal(tuner_knowledge_parse(t, good, "ops.json", err, sizeof(err)), 0);
    assert_int_equal(tuner_n_ops(t), 1);
    const struct bad cases[] = {
        {"[", {"ops.json", "not valid JSON", NULL}},
        {"{\"other\":[]}", {"ops.json", "mc", "array of operating points"}},
        {"{\"mc\":[{\"features\":{\"size\":4},\"knobs\":{\"variant\":\"gpu\",\"batch\":1},"
         "\"metrics\":{\"time_per_unit\":1,\"error\":2}}]}",
         {"mc[0].knobs.variant", "\"gpu\"", NULL}},
        {"{\"mc\":[{\"features\":{\"size\":4},\"knobs\":{\"variant\":\"cpu\",\"batch\":1},"
         "\"metrics\":{\"time_per_unit\":1}}]}",
         {"mc[0].metrics.error", "[mean, stddev]", NULL}},
        {"{\"mc\":[{\"features\":{},\"knobs\":{\"variant\":\"cpu\",\"batch\":1},"
         "\"metrics\":{\"time_per_unit\":1,\"error\":1}}]}",
         {"mc[0].features.size", "a number", NULL}},
        {"{\"mc\":[{\"features\":{\"size\":4},\"knobs\":{\"variant\":\"cpu\",\"batch\":1,"
         "\"zz\":1},\"metrics\":{\"time_per_unit\":1,\"error\":1}}]}",
         {"mc[0].knobs.zz", "unknown knob", NULL}},
        /* second OP bad: the first must not stay behind */
        {"{\"mc\":[{\"features\":{\"size\":4},\"knobs\":{\"variant\":\"cpu\",\"batch\":1},"
         "\"metrics\":{\"time_per_unit\":1,\"error\":1}}, 5]}",
         {"mc[1]", "expected an object", NULL}},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        err[0] = 0;
        if (tuner_knowledge_parse(t, cases[i].json, "ops.json", err, sizeof(err)) == 0)
            fail_msg("case %zu parsed", i);
        for (int j = 0; j < 3 && cases[i].expect[j]; j++)
            if (!strstr(err, cases[i].expect[j]))
                fail_msg("case %zu: error '%s' lacks '%s'", i, err, cases[i].expect[j]);
        assert_int_equal(tuner_n_ops(t), 1);
    }
    /* save and load through a file */
    char path[] = "/tmp/kfarm-tuner-opsXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(tuner_knowledge_save(t, path, err, sizeof(err)), 0);
    struct tuner *u = tuner_config_parse(good_config, "m.json", "mc", NULL, err, sizeof(err));
    assert_int_equal(tuner_knowledge_load(u, path, err, sizeof(err)), 0);
    assert_int_equal(tuner_n_ops(u), 1);
    assert_true(tuner_op_stddev(u, 0, 0) == 0.1);
    unlink(path);
    assert_true(tuner_knowledge_load(u, path, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, path));
    tuner_free(u);
    tuner_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_margot_json_builds_block),
        cmocka_unit_test(test_margot_json_adaptation_from_monitor),
        cmocka_unit_test(test_bad_margot_json_errors_name_field),
        cmocka_unit_test(test_bad_ops_json_errors_and_leaves_knowledge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
