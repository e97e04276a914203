/* CPU and OpenCL variants of the ptdr kernel give bit-identical travel times on generated data
 * (PoCL here, an FPGA ICD in production), also from a prebuilt binary; device selection and the
 * no-device path (unavailable, CPU still serves). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptdr.h"
#include "ptdr_fixture.h"
#include "ptdr_sample.h"

extern const struct kf_adapter kf_adapter_ptdr;

static struct ptdr_profiles *prof;
static const char *prof_path, *req_path;

static int setup(void **state)
{
    (void)state;
    char err[1024];
    prof_path = fx_generate("gen.json", "profiles --segments 300 --seed 5");
    req_path =
        fx_generate("req.jsonl", "routes --segments 300 --seed 6 --requests 6 --alternatives 3 "
                                 "--length 150");
    if (ptdr_profiles_load(prof_path, &prof, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ptdr_profiles_free(prof);
    fx_cleanup();
    return 0;
}

/* PoCL is part of every machine scripts/setup prepares: no device is a failure that says what to
 * install, never a skip (a skipped comparison would pass without comparing anything). */
#define NO_DEVICE_HINT                                                                            \
    "install pocl-opencl-icd and ocl-icd-opencl-dev (scripts/setup does); check `clinfo -l`"

static struct ptdr_cl *open_device(const char *binary)
{
    char err[KF_ERROR_MAX];
    struct ptdr_cl *cl = ptdr_cl_new(NULL, binary, err, sizeof(err));
    if (!cl)
        fail_msg("no OpenCL device: %s; " NO_DEVICE_HINT, err);
    assert_int_equal(ptdr_cl_upload(cl, prof, err, sizeof(err)), 0);
    return cl;
}

/* Runs every generated request with several sample counts on both variants; returns how many
 * travel times were compared. */
static size_t compare_all(struct ptdr_cl *cl)
{
    static const uint32_t sample_counts[] = {1, 77, 1000};
    char line[1 << 16], err[KF_ERROR_MAX];
    size_t compared = 0;
    FILE *f = fopen(req_path, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        for (size_t i = 0; i < sizeof(sample_counts) / sizeof(sample_counts[0]); i++) {
            struct ptdr_request q;
            if (ptdr_request_parse(&q, line, strlen(line), prof, sample_counts[i], 0, 42, err,
                                   sizeof(err)))
                fail_msg("%s", err);
            size_t n = (size_t)q.n_routes * q.samples;
            float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
            ptdr_mc_cpu(prof, &q, 1, a);
            memset(b, 0xff, n * sizeof(float));
            if (ptdr_cl_run(cl, prof, &q, b, err, sizeof(err)))
                fail_msg("%s", err);
            for (size_t k = 0; k < n; k++)
                if (memcmp(&a[k], &b[k], sizeof(float)) != 0)
                    fail_msg("sample %zu of %u routes x %u: cpu %.9g, accel %.9g", k, q.n_routes,
                             q.samples, (double)a[k], (double)b[k]);
            /* Sanity: the draws vary, so identical arrays are not trivially equal. */
            if (q.samples > 1)
                assert_true(a[0] != a[1] || a[1] != a[2 % q.samples]);
            compared += n;
            free(a);
            free(b);
            ptdr_request_fini(&q);
        }
    }
    fclose(f);
    return compared;
}

static void test_cpu_and_accel_times_are_bit_identical(void **state)
{
    (void)state;
    struct ptdr_cl *cl = open_device(NULL);
    size_t n = compare_all(cl);
    print_message("%zu travel times identical on %s\n", n, ptdr_cl_device_name(cl));
    assert_true(n > 10000);
    ptdr_cl_free(cl);
}

/* The obvious one-sample-at-a-time walk with the scalar bin search: the definition the vector
 * select chain of ptdr_run_block must reproduce exactly. */
static void scalar_walk(const struct ptdr_profiles *p, const struct ptdr_request *q, float *times)
{
    for (uint32_t r = 0; r < q->n_routes; r++)
        for (uint32_t s = 0; s < q->samples; s++) {
            uint64_t st = ptdr_stream(q->seed, r, s);
            float t = 0.0f;
            for (uint32_t i = q->route_off[r]; i < q->route_off[r + 1]; i++) {
                uint32_t seg = q->segs[i];
                uint32_t slot = ptdr_slot(q->dep_slot, q->dep_offset, t);
                const uint16_t *rel = p->slot_rel + (size_t)seg * PTDR_REL_STRIDE;
                uint32_t lo = p->seg_base[seg] + rel[slot], hi = p->seg_base[seg] + rel[slot + 1];
                float u = ptdr_uniform(st, i - q->route_off[r]);
                t += ptdr_seg_time(p->lv[seg], p->values[ptdr_pick_bin(p->cumprobs, lo, hi, u)]);
            }
            times[(size_t)r * q->samples + s] = t;
        }
}

/* Compares the CPU variant with the scalar walk on every request of a file (or one request);
 * returns the number of travel times compared. */
static size_t compare_with_walk(const struct ptdr_profiles *p, const char *path, const char *one)
{
    char err[KF_ERROR_MAX], line[1 << 17];
    size_t compared = 0;
    FILE *in = path ? fopen(path, "r") : NULL;
    while (in ? fgets(line, sizeof(line), in) != NULL
              : (one && snprintf(line, sizeof(line), "%s", one))) {
        struct ptdr_request q;
        if (ptdr_request_parse(&q, line, strlen(line), p, 150, 0, 77, err, sizeof(err)))
            fail_msg("%s", err);
        size_t n = (size_t)q.n_routes * q.samples;
        float *a = malloc(n * sizeof(float)), *b = malloc(n * sizeof(float));
        scalar_walk(p, &q, a);
        ptdr_mc_cpu(p, &q, 1, b);
        for (size_t k = 0; k < n; k++)
            if (memcmp(&a[k], &b[k], sizeof(float)) != 0)
                fail_msg("sample %zu: scalar walk %.9g, cpu variant %.9g", k, (double)a[k],
                         (double)b[k]);
        compared += n;
        free(a);
        free(b);
        ptdr_request_fini(&q);
        one = NULL;
    }
    if (in)
        fclose(in);
    return compared;
}

static void test_cpu_block_matches_scalar_walk(void **state)
{
    (void)state;
    char err[KF_ERROR_MAX];
    /* Generated data: lanes of a block share one or two slots (the select chain). */
    const char *long_req = fx_generate("long.jsonl", "routes --segments 300 --seed 8 --requests 2 "
                                                     "--alternatives 2 --length 2000");
    assert_true(compare_with_walk(prof, req_path, NULL) > 1000);
    assert_true(compare_with_walk(prof, long_req, NULL) > 500);
    /* A wild segment (100 s or 2000 s, the slot changing every 15 minutes): after a few segments
     * the lanes spread over far more than PTDR_SPREAD slots (the scalar fallback), and over the
     * week's end. */
    struct fx_segment wild[] = {
        {"W1", 1000, 10, {3, {1.0, 0.3, 0.05}, {0.4, 0.7, 1.0}}, 5, {2, {0.9, 0.5}, {0.5, 1.0}}},
        {"W2", 500, 25, {2, {1.0, 0.1}, {0.5, 1.0}}, 670, {1, {0.25}, {1.0}}},
    };
    struct ptdr_profiles *w;
    if (ptdr_profiles_load(fx_write_profiles("wild.json", wild, 2, 672), &w, err, sizeof(err)))
        fail_msg("%s", err);
    char req[4096] = "{\"departure_time\":603000000,\"routes\":[[";
    for (int i = 0; i < 60; i++)
        strcat(req, i ? (i % 3 ? ",\"W1\"" : ",\"W2\"") : "\"W1\"");
    strcat(req, "],[\"W2\",\"W1\"]]}");
    assert_true(compare_with_walk(w, NULL, req) == 2 * 150);
    ptdr_profiles_free(w);
}

static void test_prebuilt_binary_gives_identical_times(void **state)
{
    (void)state;
    char err[KF_ERROR_MAX], path[600];
    struct ptdr_cl *cl = open_device(NULL);
    snprintf(path, sizeof(path), "%s/ptdr.clbin", fx_tmpdir());
    assert_int_equal(ptdr_cl_save_binary(cl, path, err, sizeof(err)), 0);
    ptdr_cl_free(cl);
    cl = open_device(path);
    assert_true(compare_all(cl) > 0);
    ptdr_cl_free(cl);
    /* A file that is not a program for this device is refused with its name. */
    const char *junk = fx_write_text("junk.clbin", "not a binary");
    assert_null(ptdr_cl_new(NULL, junk, err, sizeof(err)));
    assert_non_null(strstr(err, "junk.clbin"));
}

static void test_device_selection(void **state)
{
    (void)state;
    char err[KF_ERROR_MAX], name[300];
    struct ptdr_cl *cl = open_device(NULL);
    snprintf(name, sizeof(name), "%s", ptdr_cl_device_name(cl));
    ptdr_cl_free(cl);
    cl = ptdr_cl_new("0:0", NULL, err, sizeof(err));
    assert_non_null(cl);
    ptdr_cl_free(cl);
    /* Part of the device name (after "platform: "). */
    char *dev = strstr(name, ": ") + 2;
    dev[8] = '\0';
    cl = ptdr_cl_new(dev, NULL, err, sizeof(err));
    assert_non_null(cl);
    ptdr_cl_free(cl);
    assert_null(ptdr_cl_new("no-such-device-xyz", NULL, err, sizeof(err)));
    assert_non_null(strstr(err, "no-such-device-xyz"));
    assert_null(ptdr_cl_new("7:3", NULL, err, sizeof(err)));
    assert_null(ptdr_cl_new("none", NULL, err, sizeof(err)));
}

static void check_no_accel(const char *const *kv)
{
    struct fx_adapter fx;
    char err[KF_ERROR_MAX], *reply;
    assert_int_equal(fx_init(&fx, &kf_adapter_ptdr, kv, err, sizeof(err)), KF_OK);
    assert_int_equal(fx.a->accel_available(fx.state), 0);
    const char *p = "{\"routes\":[[\"OSM1000T1007\"]],\"frequency\":1,\"departure_time\":0}";
    assert_int_equal(fx_call(&fx, "monte-carlo", 1, p, &reply), KF_UNAVAILABLE);
    assert_non_null(strstr(reply, "accelerator unavailable"));
    free(reply);
    assert_int_equal(fx_call(&fx, "ptdr-stats", 1, p, &reply), KF_UNAVAILABLE);
    free(reply);
    assert_int_equal(fx_call(&fx, "monte-carlo", 0, p, &reply), KF_OK);
    assert_string_equal(reply, "0");
    free(reply);
    fx_fini(&fx);
}

static void test_no_device_reports_unavailable_and_cpu_serves(void **state)
{
    (void)state;
    char prof_kv[600];
    snprintf(prof_kv, sizeof(prof_kv), "profiles=%s", prof_path);
    const char *by_arg[] = {prof_kv, "opencl_device=none", NULL};
    check_no_accel(by_arg);
    const char *by_name[] = {prof_kv, "opencl_device=no-such-device", NULL};
    check_no_accel(by_name);
    /* KFARM_OPENCL_DEVICE picks the device when the argument is absent. */
    setenv("KFARM_OPENCL_DEVICE", "none", 1);
    const char *by_env[] = {prof_kv, NULL};
    check_no_accel(by_env);
    unsetenv("KFARM_OPENCL_DEVICE");
}

static void test_adapter_accel_matches_cpu_through_abi(void **state)
{
    (void)state;
    char prof_kv[600], err[KF_ERROR_MAX], line[1 << 16], *a, *b;
    snprintf(prof_kv, sizeof(prof_kv), "profiles=%s", prof_path);
    const char *kv[] = {prof_kv, "seed=3", "samples=500", NULL};
    struct fx_adapter fx;
    assert_int_equal(fx_init(&fx, &kf_adapter_ptdr, kv, err, sizeof(err)), KF_OK);
    if (!fx.a->accel_available(fx.state)) {
        fx_fini(&fx);
        fail_msg("the ptdr adapter found no OpenCL device; " NO_DEVICE_HINT);
    }
    FILE *f = fopen(req_path, "r");
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\n")] = '\0';
        for (int stats = 0; stats < 2; stats++) {
            const char *kind = stats ? "ptdr-stats" : "monte-carlo";
            assert_int_equal(fx_call(&fx, kind, 0, line, &a), KF_OK);
            assert_int_equal(fx_call(&fx, kind, 1, line, &b), KF_OK);
            assert_string_equal(a, b);
            free(a);
            free(b);
        }
    }
    fclose(f);
    fx_fini(&fx);
}

static const struct kf_kernel *kernel_of(const struct kf_adapter *a, const char *kind)
{
    for (size_t i = 0; i < a->n_kernels; i++)
        if (strcmp(a->kernels[i].kind, kind) == 0)
            return &a->kernels[i];
    fail_msg("no kernel %s", kind);
    return NULL;
}

static char *call_with_threads(struct fx_adapter *fx, const struct kf_kernel *k, const char *req,
                               long threads)
{
    long v[2] = {threads, 1};
    struct kf_knobs knobs = {2, v};
    struct kf_result out = {0};
    int rc = k->cpu(fx->state, req, strlen(req), &knobs, &out);
    if (rc != KF_OK)
        fail_msg("cpu with threads=%ld: %s", threads, out.error);
    char *s = strndup(out.data, out.len);
    free(out.data);
    return s;
}

/* Knobs change speed, never replies: the CPU variant with 1..4 threads and the accelerator's
 * batch entry point (several requests in one launch, a bad one among them) answer exactly as the
 * single-request CPU variant does. */
static void test_knobs_and_batches_give_identical_replies(void **state)
{
    (void)state;
    char prof_kv[600], err[KF_ERROR_MAX], line[1 << 16];
    snprintf(prof_kv, sizeof(prof_kv), "profiles=%s", prof_path);
    const char *kv[] = {prof_kv, NULL};
    struct fx_adapter fx;
    assert_int_equal(fx_init(&fx, &kf_adapter_ptdr, kv, err, sizeof(err)), KF_OK);
    if (!fx.a->accel_available(fx.state)) {
        fx_fini(&fx);
        fail_msg("no OpenCL device: install pocl-opencl-icd");
    }
    const char *kinds[] = {"monte-carlo", "ptdr-stats"};
    for (size_t ki = 0; ki < 2; ki++) {
        const struct kf_kernel *k = kernel_of(fx.a, kinds[ki]);
        assert_int_equal(k->n_knobs, 2);
        assert_string_equal(k->knobs[1].name, KF_KNOB_BATCH);
        struct kf_batch_item items[8];
        char *want[8];
        size_t n = 0;
        FILE *f = fopen(req_path, "r");
        assert_non_null(f);
        while (n < 7 && fgets(line, sizeof(line), f)) {
            if (n == 3) { /* one bad request in the middle of the batch */
                items[n] = (struct kf_batch_item){
                    .payload = strdup("{\"routes\":[[\"nope\"]],\"departure_time\":0}")};
                items[n].len = strlen(items[n].payload);
                want[n++] = NULL;
            }
            want[n] = call_with_threads(&fx, k, line, 1);
            for (long t = 2; t <= (long)PTDR_MAX_THREADS; t++) {
                char *other = call_with_threads(&fx, k, line, t);
                assert_string_equal(other, want[n]);
                free(other);
            }
            items[n] = (struct kf_batch_item){.payload = strdup(line), .len = strlen(line)};
            n++;
        }
        fclose(f);
        assert_true(n >= 5);
        long v[2] = {1, (long)n};
        struct kf_knobs knobs = {2, v};
        assert_int_equal(k->accel_batch(fx.state, items, n, &knobs), KF_OK);
        for (size_t i = 0; i < n; i++) {
            if (!want[i]) {
                assert_int_equal(items[i].rc, KF_ERROR);
                assert_non_null(strstr(items[i].result.error, "nope"));
            } else {
                if (items[i].rc != KF_OK)
                    fail_msg("%s item %zu: %s", kinds[ki], i, items[i].result.error);
                char *got = strndup(items[i].result.data, items[i].result.len);
                assert_string_equal(got, want[i]);
                free(got);
            }
            free(items[i].result.data);
            free((void *)items[i].payload);
            free(want[i]);
        }
    }
    fx_fini(&fx);
}

/* A batch is one kernel launch, and its times are those of the requests run one by one. */
static void test_batch_is_one_launch(void **state)
{
    (void)state;
    char err[KF_ERROR_MAX], line[1 << 16];
    struct ptdr_cl *cl = open_device(NULL);
    struct ptdr_request q[6];
    const struct ptdr_request *qp[6];
    size_t n = 0, work = 0;
    FILE *f = fopen(req_path, "r");
    assert_non_null(f);
    while (n < 6 && fgets(line, sizeof(line), f)) {
        /* different sample counts, so requests have different block counts */
        if (ptdr_request_parse(&q[n], line, strlen(line), prof, 50 + 100 * (uint32_t)n, 0, 9, err,
                               sizeof(err)))
            fail_msg("%s", err);
        qp[n] = &q[n];
        work += (size_t)q[n].n_routes * q[n].samples;
        n++;
    }
    fclose(f);
    float *all = malloc(work * sizeof(float)), *one = malloc(work * sizeof(float));
    unsigned long before = ptdr_cl_launches(cl);
    assert_int_equal(ptdr_cl_run_batch(cl, prof, qp, n, all, err, sizeof(err)), 0);
    assert_int_equal(ptdr_cl_launches(cl) - before, 1);
    size_t off = 0;
    for (size_t j = 0; j < n; j++) {
        size_t w = (size_t)q[j].n_routes * q[j].samples;
        assert_int_equal(ptdr_cl_run(cl, prof, &q[j], one, err, sizeof(err)), 0);
        assert_memory_equal(all + off, one, w * sizeof(float));
        ptdr_mc_cpu(prof, &q[j], 3, one);
        assert_memory_equal(all + off, one, w * sizeof(float));
        off += w;
        ptdr_request_fini(&q[j]);
    }
    assert_int_equal(ptdr_cl_launches(cl) - before, 1 + n);
    free(all);
    free(one);
    ptdr_cl_free(cl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cpu_block_matches_scalar_walk),
        cmocka_unit_test(test_cpu_and_accel_times_are_bit_identical),
        cmocka_unit_test(test_prebuilt_binary_gives_identical_times),
        cmocka_unit_test(test_device_selection),
        cmocka_unit_test(test_no_device_reports_unavailable_and_cpu_serves),
        cmocka_unit_test(test_adapter_accel_matches_cpu_through_abi),
        cmocka_unit_test(test_knobs_and_batches_give_identical_replies),
        cmocka_unit_test(test_batch_is_one_launch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
