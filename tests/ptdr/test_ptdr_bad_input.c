/* Bad input to the ptdr adapter: every malformed request gets an error that says what is wrong
 * (naming the unknown segment), every bad profile file is refused naming the file and segment,
 * and after a refused load-profiles the adapter keeps serving the previous profiles. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptdr_fixture.h"

extern const struct kf_adapter kf_adapter_ptdr;

static const char *good_path;
static struct fx_segment good[] = {
    {"OSM1T2", 1000, 10, FX_ONE(0.5), -1, FX_ONE(0.5)},
    {"OSM2T3", 500, 10, {2, {1.0, 0.5}, {0.5, 1.0}}, -1, FX_ONE(1.0)},
};

static int setup(void **state)
{
    (void)state;
    good_path = fx_write_profiles("good.json", good, 2, 672);
    return 0;
}

static void open_good(struct fx_adapter *fx)
{
    char err[KF_ERROR_MAX], kv0[600];
    snprintf(kv0, sizeof(kv0), "profiles=%s", good_path);
    const char *kv[] = {kv0, NULL};
    assert_int_equal(fx_init(fx, &kf_adapter_ptdr, kv, err, sizeof(err)), KF_OK);
}

/* Both variants (accel when available) must refuse payload with a message containing want. */
static void expect_request_error(struct fx_adapter *fx, const char *kind, const char *payload,
                                 const char *want)
{
    for (int accel = 0; accel < 1 + fx->a->accel_available(fx->state); accel++) {
        char *reply;
        int rc = fx_call(fx, kind, accel, payload, &reply);
        if (rc != KF_ERROR || !strstr(reply, want))
            fail_msg("%s %s (%s): rc %d, reply \"%s\", want an error with \"%s\"", kind, payload,
                     accel ? "accel" : "cpu", rc, reply, want);
        free(reply);
    }
}

static void test_bad_requests_get_error_replies(void **state)
{
    (void)state;
    struct fx_adapter fx;
    open_good(&fx);
    static const struct {
        const char *payload, *want;
    } cases[] = {
        {"{\"routes\":[[\"OSM1T2\",\"OSM77T78\"]],\"departure_time\":0}",
         "unknown segment id \"OSM77T78\""},
        {"{\"routes\":[],\"departure_time\":0}", "\"routes\" is empty"},
        {"{\"routes\":[[\"OSM1T2\"],[]],\"departure_time\":0}", "route 1 is empty"},
        {"{\"routes\":[[\"OSM1T2\"]],\"departure_time\":\"noon\"}", "departure_time"},
        {"{\"routes\":[[\"OSM1T2\"]],\"departure_time\":-1}", "departure_time"},
        {"{\"routes\":[[\"OSM1T2\"]]}", "departure_time\" is missing"},
        {"{\"routes\":[[\"OSM1T2\"]],\"departure_time\":0,\"frequency\":-5}", "frequency"},
        {"{\"routes\":[[\"OSM1T2\"]],\"departure_time\":0,\"frequency\":\"often\"}", "frequency"},
        {"{\"routes\":[[\"OSM1T2\"]],\"departure_time\":0", "malformed JSON"},
        {"[1,2]", "not a JSON object"},
        {"", "not a JSON object"},
        {"{\"routes\":\"OSM1T2\",\"departure_time\":0}", "\"routes\" must be an array"},
        {"{\"routes\":[[12]],\"departure_time\":0}", "must be a string"},
        {"{\"routes\":[\"OSM1T2\"],\"departure_time\":0}", "route 0 is not an array"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        expect_request_error(&fx, "monte-carlo", cases[i].payload, cases[i].want);
        expect_request_error(&fx, "ptdr-stats", cases[i].payload, cases[i].want);
    }
    expect_request_error(&fx, "ptdr-stats",
                         "{\"routes\":[[\"OSM1T2\"]],\"departure_time\":0,\"samples\":0}",
                         "samples");
    expect_request_error(&fx, "ptdr-stats",
                         "{\"routes\":[[\"OSM1T2\"]],\"departure_time\":0,\"samples\":2.5}",
                         "samples");
    expect_request_error(&fx, "ptdr-stats",
                         "{\"routes\":[[\"OSM1T2\"],[\"OSM1T2\"],[\"OSM1T2\"],[\"OSM1T2\"],"
                         "[\"OSM1T2\"],[\"OSM1T2\"],[\"OSM1T2\"],[\"OSM1T2\"],[\"OSM1T2\"],"
                         "[\"OSM1T2\"],[\"OSM1T2\"],[\"OSM1T2\"],[\"OSM1T2\"],[\"OSM1T2\"],"
                         "[\"OSM1T2\"],[\"OSM1T2\"],[\"OSM1T2\"],[\"OSM1T2\"]],"
                         "\"departure_time\":0,\"samples\":1000000}",
                         "split it");
    /* The features of an undecodable request are refused too; good ones give 3 values. */
    double f[3];
    const struct kf_kernel *k = &fx.a->kernels[0];
    assert_int_equal(k->features(fx.state, "{", 1, f, 3), -1);
    const char *ok = "{\"routes\":[[\"OSM1T2\",\"OSM2T3\"],[\"OSM1T2\"]],\"departure_time\":0}";
    assert_int_equal(k->features(fx.state, ok, strlen(ok), f, 3), 3);
    assert_true(f[0] == 2 && f[1] == 3 && f[2] == 1000);
    assert_string_equal(k->feature_names[0], "routes");
    fx_fini(&fx);
}

static void test_departure_beyond_a_week_wraps(void **state)
{
    (void)state;
    struct fx_adapter fx;
    open_good(&fx);
    char *a, *b;
    assert_int_equal(
        fx_call(&fx, "ptdr-stats", 0, "{\"routes\":[[\"OSM2T3\"]],\"departure_time\":1000}", &a),
        KF_OK);
    assert_int_equal(fx_call(&fx, "ptdr-stats", 0,
                             "{\"routes\":[[\"OSM2T3\"]],\"departure_time\":604801000}", &b),
                     KF_OK);
    assert_string_equal(a, b);
    free(a);
    free(b);
    fx_fini(&fx);
}

/* A bad profile file: refused at init (naming file and segment) and by load-profiles, after
 * which the adapter still answers from the good profiles. */
static void expect_bad_profiles(const char *path, const char *want1, const char *want2)
{
    char err[KF_ERROR_MAX], kv0[600], *before, *after;
    snprintf(kv0, sizeof(kv0), "profiles=%s", path);
    const char *kv[] = {kv0, NULL};
    struct fx_adapter fx;
    int rc = fx_init(&fx, &kf_adapter_ptdr, kv, err, sizeof(err));
    if (rc != KF_ERROR || !strstr(err, path) || !strstr(err, want1) ||
        (want2 && !strstr(err, want2)))
        fail_msg("init with %s: rc %d, \"%s\"; want \"%s\" and \"%s\"", path, rc, err, want1,
                 want2 ? want2 : "");

    open_good(&fx);
    const char *req = "{\"routes\":[[\"OSM1T2\"],[\"OSM2T3\"]],\"departure_time\":0}";
    assert_int_equal(fx_call(&fx, "ptdr-stats", 0, req, &before), KF_OK);
    char payload[700];
    snprintf(payload, sizeof(payload), "\"%s\"", path);
    err[0] = '\0';
    assert_int_equal(fx_broadcast(&fx, "load-profiles", payload, err, sizeof(err)), KF_ERROR);
    assert_non_null(strstr(err, want1));
    assert_non_null(strstr(err, "keeping the current profiles"));
    assert_int_equal(fx_call(&fx, "ptdr-stats", 0, req, &after), KF_OK);
    assert_string_equal(before, after);
    free(before);
    free(after);
    fx_fini(&fx);
}

static void test_bad_profile_files_are_refused_naming_file_and_segment(void **state)
{
    (void)state;
    struct fx_segment s[2];
    memcpy(s, good, sizeof(s));
    s[1].id = "OSM9T10";

    expect_bad_profiles(fx_write_profiles("slots671.json", s, 2, 671), "id OSM1T2", "671 slots");
    s[1].all = (struct fx_profile){2, {1.0, 0.5}, {0.3, 0.9}};
    expect_bad_profiles(fx_write_profiles("cum.json", s, 2, 672), "id OSM9T10",
                        "cumprobs end at 0.9");
    s[1].all = (struct fx_profile){2, {1.0, -0.5}, {0.3, 1.0}};
    expect_bad_profiles(fx_write_profiles("neg.json", s, 2, 672), "(id OSM9T10), slot 0",
                        "values[1] must be a positive");
    s[1].all = (struct fx_profile){2, {0.0, 0.5}, {0.3, 1.0}};
    expect_bad_profiles(fx_write_profiles("zero.json", s, 2, 672), "id OSM9T10",
                        "values[0] must be a positive");
    s[1].all = (struct fx_profile){2, {1.0, 0.5}, {0.7, 0.3}};
    expect_bad_profiles(fx_write_profiles("dec.json", s, 2, 672), "id OSM9T10", "cumprobs[1]");
    s[1].all = good[1].all;
    s[1].special_slot = 300;
    s[1].special = (struct fx_profile){1, {1.0}, {0.5}};
    expect_bad_profiles(fx_write_profiles("slot300.json", s, 2, 672), "slot 300", "not 1");
    s[1] = good[1];
    s[1].id = "OSM9T10";
    s[1].length = -3;
    expect_bad_profiles(fx_write_profiles("len.json", s, 2, 672), "id OSM9T10", "length");
    s[1].length = 500;
    s[1].max_speed = 0;
    expect_bad_profiles(fx_write_profiles("vmax.json", s, 2, 672), "id OSM9T10", "max_speed");
    s[1].max_speed = 10;
    s[1].id = "OSM1T2";
    expect_bad_profiles(fx_write_profiles("dup.json", s, 2, 672), "id OSM1T2", "duplicate");

    expect_bad_profiles(fx_write_text("mismatch.json",
                                      "[{\"id\":\"X1\",\"length\":1,\"max_speed\":1,"
                                      "\"profiles\":[{\"values\":[1,0.5],\"cumprobs\":[1]}]}]"),
                        "segment 0 (id X1)", "slots");
    expect_bad_profiles(fx_write_text("malformed.json", "[{\"id\": \"X1\", "), "malformed JSON",
                        NULL);
    expect_bad_profiles(fx_write_text("empty.json", "[]"), "no segments", NULL);
    expect_bad_profiles(fx_write_text("noid.json", "[{\"length\":1}]"), "segment 0", "\"id\"");
    char missing[600];
    snprintf(missing, sizeof(missing), "%s/does-not-exist.json", fx_tmpdir());
    expect_bad_profiles(missing, "cannot open", NULL);
    /* A truncated binary file. */
    const char *bin = fx_write_text("trunc.bin", "KFPTDR1");
    FILE *f = fopen(bin, "ab");
    fwrite("\0\1\0\0\0\xa0\2\0\0\1\0\0\0", 1, 13, f);
    fclose(f);
    expect_bad_profiles(bin, "truncated", NULL);
}

static void test_load_profiles_payload_must_be_a_path_string(void **state)
{
    (void)state;
    struct fx_adapter fx;
    char err[KF_ERROR_MAX];
    open_good(&fx);
    static const char *bad[] = {"42", "{\"path\":1}", "\"", "\"\"", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(fx_broadcast(&fx, "load-profiles", bad[i], err, sizeof(err)), KF_ERROR);
        assert_non_null(strstr(err, "JSON string"));
    }
    char *r;
    assert_int_equal(
        fx_call(&fx, "monte-carlo", 0, "{\"routes\":[[\"OSM1T2\"]],\"departure_time\":0}", &r),
        KF_OK);
    free(r);
    fx_fini(&fx);
}

static void test_good_reload_replaces_profiles(void **state)
{
    (void)state;
    struct fx_adapter fx;
    char err[KF_ERROR_MAX], payload[700], *r;
    open_good(&fx);
    struct fx_segment other[] = {{"OSM5T6", 100, 10, FX_ONE(1.0), -1, FX_ONE(1.0)}};
    snprintf(payload, sizeof(payload), "\"%s\"", fx_write_profiles("other.json", other, 1, 672));
    assert_int_equal(fx_broadcast(&fx, "load-profiles", payload, err, sizeof(err)), KF_OK);
    expect_request_error(&fx, "monte-carlo", "{\"routes\":[[\"OSM1T2\"]],\"departure_time\":0}",
                         "unknown segment id \"OSM1T2\"");
    assert_int_equal(
        fx_call(&fx, "ptdr-stats", 0, "{\"routes\":[[\"OSM5T6\"]],\"departure_time\":0}", &r),
        KF_OK);
    assert_non_null(strstr(r, "\"mean\":10,"));
    free(r);
    fx_fini(&fx);
}

static void test_bad_adapter_arguments(void **state)
{
    (void)state;
    struct fx_adapter fx;
    char err[KF_ERROR_MAX], *r;
    const char *unknown[] = {"sample=10", NULL};
    assert_int_equal(fx_init(&fx, &kf_adapter_ptdr, unknown, err, sizeof(err)), KF_ERROR);
    assert_non_null(strstr(err, "unknown adapter argument \"sample\""));
    const char *samples[] = {"samples=0", NULL};
    assert_int_equal(fx_init(&fx, &kf_adapter_ptdr, samples, err, sizeof(err)), KF_ERROR);
    assert_non_null(strstr(err, "samples=0"));
    const char *seed[] = {"seed=-1", NULL};
    assert_int_equal(fx_init(&fx, &kf_adapter_ptdr, seed, err, sizeof(err)), KF_ERROR);
    /* No profiles yet: requests say how to load them. */
    const char *none[] = {"opencl_device=none", NULL};
    assert_int_equal(fx_init(&fx, &kf_adapter_ptdr, none, err, sizeof(err)), KF_OK);
    assert_int_equal(
        fx_call(&fx, "monte-carlo", 0, "{\"routes\":[[\"OSM1T2\"]],\"departure_time\":0}", &r),
        KF_ERROR);
    assert_non_null(strstr(r, "load-profiles"));
    free(r);
    fx_fini(&fx);
}

struct hammer {
    struct fx_adapter *fx;
    int stop, requests, failures;
};

static void *hammer_requests(void *arg)
{
    struct hammer *h = arg;
    while (!__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE)) {
        char *r;
        for (int accel = 0; accel < 1 + h->fx->a->accel_available(h->fx->state); accel++) {
            int rc = fx_call(h->fx, "ptdr-stats", accel,
                             "{\"routes\":[[\"OSM1T2\",\"OSM2T3\"]],\"departure_time\":0,"
                             "\"samples\":200}",
                             &r);
            h->failures += rc != KF_OK && rc != KF_UNAVAILABLE;
            h->requests++;
            free(r);
        }
    }
    return NULL;
}

static void test_reload_while_requests_run(void **state)
{
    (void)state;
    struct fx_adapter fx;
    char err[KF_ERROR_MAX], a[700], b[700];
    open_good(&fx);
    struct fx_segment slow[2];
    memcpy(slow, good, sizeof(slow));
    slow[0].length = 5000;
    snprintf(a, sizeof(a), "\"%s\"", good_path);
    snprintf(b, sizeof(b), "\"%s\"", fx_write_profiles("slow.json", slow, 2, 672));
    struct hammer h = {&fx, 0, 0, 0};
    pthread_t tid;
    assert_int_equal(pthread_create(&tid, NULL, hammer_requests, &h), 0);
    /* Old sets are freed by whichever side drops the last reference: ASan checks the rest. */
    for (int i = 0; i < 20; i++)
        assert_int_equal(fx_broadcast(&fx, "load-profiles", i % 2 ? a : b, err, sizeof(err)),
                         KF_OK);
    __atomic_store_n(&h.stop, 1, __ATOMIC_RELEASE);
    pthread_join(tid, NULL);
    assert_int_equal(h.failures, 0);
    assert_true(h.requests > 0);
    fx_fini(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_requests_get_error_replies),
        cmocka_unit_test(test_departure_beyond_a_week_wraps),
        cmocka_unit_test(test_bad_profile_files_are_refused_naming_file_and_segment),
        cmocka_unit_test(test_load_profiles_payload_must_be_a_path_string),
        cmocka_unit_test(test_good_reload_replaces_profiles),
        cmocka_unit_test(test_bad_adapter_arguments),
        cmocka_unit_test(test_reload_while_requests_run),
    };
    return cmocka_run_group_tests(tests, setup, fx_teardown);
}
