/* Unit tests of adapter loading: built-ins by name, .so files by path, ABI version 1 adapters, and
 * every way an adapter can be wrong (missing, no symbol, other ABI, no CPU variant, failing init,
 * clashing kind, bad knob and batch declarations). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "adapter_check.h"
#include "registry.h"

#ifndef ADAPTER_DIR
#error ADAPTER_DIR must name the directory of the test adapters
#endif

static int load(struct kf_registry *r, const char *name, char *err)
{
    struct kf_args none = {0};
    return kf_registry_load(r, name, &none, err, 512);
}

static void test_builtin_echo_by_name(void **state)
{
    (void)state;
    struct kf_registry *r = kf_registry_new();
    char err[512];
    assert_int_equal(load(r, "echo", err), 0);
    const struct kf_registry_kernel *k = kf_registry_kernel(r, "echo", 4);
    assert_non_null(k);
    struct kf_result res = {0};
    struct kf_knobs none = {0};
    assert_int_equal(k->kernel->cpu(k->state, "abc", 3, &none, &res), KF_OK);
    assert_int_equal(res.len, 3);
    assert_memory_equal(res.data, "abc", 3);
    free(res.data);
    assert_non_null(kf_registry_broadcast(r, "set-state", 9));
    assert_null(kf_registry_kernel(r, "nope", 4));
    kf_registry_free(r);
}

static void test_unknown_builtin_lists_the_builtins(void **state)
{
    (void)state;
    struct kf_registry *r = kf_registry_new();
    char err[512];
    assert_int_equal(load(r, "nosuch", err), -ENOENT);
    assert_non_null(strstr(err, "echo"));
    kf_registry_free(r);
}

static void test_external_adapter_by_path_with_args(void **state)
{
    (void)state;
    struct kf_registry *r = kf_registry_new();
    char err[512];
    const char *keys[] = {"prefix"}, *values[] = {">"};
    struct kf_args args = {1, keys, values};
    assert_int_equal(kf_registry_load(r, ADAPTER_DIR "/reverse.so", &args, err, sizeof(err)), 0);
    const struct kf_registry_kernel *k = kf_registry_kernel(r, "reverse", 7);
    assert_non_null(k);
    struct kf_result res = {0};
    struct kf_knobs none = {0};
    assert_int_equal(k->kernel->cpu(k->state, "abc", 3, &none, &res), KF_OK);
    assert_int_equal(res.len, 4);
    assert_memory_equal(res.data, ">cba", 4);
    free(res.data);
    kf_registry_free(r);
}

static void expect_failure(const char *path, const char *needle)
{
    struct kf_registry *r = kf_registry_new();
    char err[512] = "";
    assert_true(load(r, path, err) < 0);
    if (!strstr(err, needle))
        fail_msg("error for %s does not mention '%s': %s", path, needle, err);
    assert_null(kf_registry_kernel(r, "reverse", 7));
    kf_registry_free(r);
}

static void test_bad_adapters_are_refused_with_a_reason(void **state)
{
    (void)state;
    expect_failure(ADAPTER_DIR "/missing.so", "cannot load");
    expect_failure(ADAPTER_DIR "/reverse_nosymbol.so", "kfarm_adapter");
    expect_failure(ADAPTER_DIR "/reverse_abi99.so", "ABI version 99");
    expect_failure(ADAPTER_DIR "/reverse_nocpu.so", "no CPU variant");
}

static void test_failing_init_is_reported(void **state)
{
    (void)state;
    struct kf_registry *r = kf_registry_new();
    char err[512];
    const char *keys[] = {"fail_init"}, *values[] = {"1"};
    struct kf_args args = {1, keys, values};
    assert_int_equal(kf_registry_load(r, ADAPTER_DIR "/reverse.so", &args, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "fail_init=1 was given"));
    kf_registry_free(r);
}

static void test_a_kind_served_twice_is_refused(void **state)
{
    (void)state;
    struct kf_registry *r = kf_registry_new();
    char err[512];
    assert_int_equal(load(r, ADAPTER_DIR "/reverse.so", err), 0);
    assert_int_equal(load(r, ADAPTER_DIR "/reverse.so", err), -EEXIST);
    assert_non_null(strstr(err, "already served"));
    assert_non_null(kf_registry_kernel(r, "reverse", 7)); /* the first one still serves */
    kf_registry_free(r);
}

static void test_v1_adapter_loads_and_serves(void **state)
{
    (void)state;
    struct kf_registry *r = kf_registry_new();
    char err[512];
    const char *keys[] = {"prefix"}, *values[] = {"<"};
    struct kf_args args = {1, keys, values};
    assert_int_equal(kf_registry_load(r, ADAPTER_DIR "/reverse_v1.so", &args, err, sizeof(err)), 0);
    /* The second kernel is found at version 1's stride, not version 2's. */
    const char *kinds[] = {"reverse-v1", "reverse-v1-again"};
    for (size_t i = 0; i < 2; i++) {
        const struct kf_registry_kernel *k = kf_registry_kernel(r, kinds[i], strlen(kinds[i]));
        assert_non_null(k);
        assert_int_equal(k->kernel->n_knobs, 0);
        assert_null(k->kernel->accel);
        assert_null(k->kernel->cpu_batch);
        struct kf_result res = {0};
        struct kf_knobs none = {0};
        assert_int_equal(k->kernel->cpu(k->state, "abc", 3, &none, &res), KF_OK);
        assert_int_equal(res.len, 4);
        assert_memory_equal(res.data, "<cba", 4);
        free(res.data);
    }
    const struct kf_registry_kernel *k = kf_registry_kernel(r, "reverse-v1", 10);
    double f[1];
    assert_non_null(k->kernel->features);
    assert_int_equal(k->kernel->features(k->state, "abcde", 5, f, 1), 1);
    assert_true(f[0] == 5.0);
    assert_string_equal(k->kernel->feature_names[0], "bytes");
    assert_null(kf_registry_kernel(r, "reverse-v1", 10)->kernel->knobs);
    kf_registry_free(r);
}

/* ---- declarations, checked without a .so ---- */

static int cpu_ok(void *s, const void *p, size_t n, const struct kf_knobs *k, struct kf_result *o)
{
    (void)s;
    (void)k;
    return kf_result_set(o, p, n);
}

static int batch_ok(void *s, struct kf_batch_item *items, size_t n, const struct kf_knobs *k)
{
    for (size_t i = 0; i < n; i++)
        items[i].rc = cpu_ok(s, items[i].payload, items[i].len, k, &items[i].result);
    return KF_OK;
}

static const char *const labels_ab[] = {"a", "b", NULL};
static const char *const labels_aa[] = {"a", "a", NULL};
static const char *const labels_none[] = {NULL};

#define RANGE(n, lo, hi, st, d)                                                                    \
    {                                                                                              \
        .name = n, .type = KF_KNOB_RANGE, .min = lo, .max = hi, .step = st, .def = d               \
    }
#define LABELS(n, l, d)                                                                            \
    {                                                                                              \
        .name = n, .type = KF_KNOB_LABELS, .labels = l, .def = d                                   \
    }

/* Checks a one-kernel adapter; needle NULL: must pass. */
static void check_decl(struct kf_kernel k, const char *needle)
{
    struct kf_adapter a = {
        .abi_version = KF_ADAPTER_ABI_VERSION, .name = "t", .kernels = &k, .n_kernels = 1};
    char err[512] = "";
    int rc = kf_adapter_check(&a, "t.so", err, sizeof(err));
    if (!needle) {
        if (rc)
            fail_msg("a good declaration was refused: %s", err);
        return;
    }
    if (rc != -EINVAL)
        fail_msg("a bad declaration was accepted (rc %d), expected '%s'", rc, needle);
    if (!strstr(err, needle))
        fail_msg("error does not mention '%s': %s", needle, err);
    print_message("refused as expected: %s\n", err);
}

static void test_bad_declarations_are_refused_with_a_reason(void **state)
{
    (void)state;
    struct kf_knob good[] = {RANGE("threads", 1, 4, 1, 1), LABELS("layout", labels_ab, 1),
                             RANGE("batch", 1, 16, 5, 6)};
    check_decl((struct kf_kernel){.kind = "k",
                                  .cpu = cpu_ok,
                                  .accel = cpu_ok,
                                  .knobs = good,
                                  .n_knobs = 3,
                                  .cpu_batch = batch_ok,
                                  .accel_batch = batch_ok,
                                  .flags = KF_KERNEL_RETRY_SAFE},
               NULL);

    struct kf_knob bad_type[] = {{.name = "x", .type = 7}};
    check_decl((struct kf_kernel){.kind = "k", .cpu = cpu_ok, .knobs = bad_type, .n_knobs = 1},
               "unknown knob type 7");
    struct kf_knob empty_range[] = {RANGE("x", 5, 4, 1, 5)};
    check_decl((struct kf_kernel){.kind = "k", .cpu = cpu_ok, .knobs = empty_range, .n_knobs = 1},
               "knob 'x': empty domain");
    struct kf_knob zero_step[] = {RANGE("x", 1, 4, 0, 1)};
    check_decl((struct kf_kernel){.kind = "k", .cpu = cpu_ok, .knobs = zero_step, .n_knobs = 1},
               "empty domain");
    struct kf_knob no_labels[] = {LABELS("x", labels_none, 0)};
    check_decl((struct kf_kernel){.kind = "k", .cpu = cpu_ok, .knobs = no_labels, .n_knobs = 1},
               "empty domain (no labels)");
    struct kf_knob null_labels[] = {LABELS("x", NULL, 0)};
    check_decl((struct kf_kernel){.kind = "k", .cpu = cpu_ok, .knobs = null_labels, .n_knobs = 1},
               "empty domain (no labels)");
    struct kf_knob def_high[] = {RANGE("x", 1, 4, 1, 5)};
    check_decl((struct kf_kernel){.kind = "k", .cpu = cpu_ok, .knobs = def_high, .n_knobs = 1},
               "default 5 is out of range");
    struct kf_knob def_off_step[] = {RANGE("x", 1, 16, 5, 2)};
    check_decl((struct kf_kernel){.kind = "k", .cpu = cpu_ok, .knobs = def_off_step, .n_knobs = 1},
               "default 2 is out of range");
    struct kf_knob def_label[] = {LABELS("x", labels_ab, 2)};
    check_decl((struct kf_kernel){.kind = "k", .cpu = cpu_ok, .knobs = def_label, .n_knobs = 1},
               "default 2 is out of range");
    struct kf_knob dup_label[] = {LABELS("x", labels_aa, 0)};
    check_decl((struct kf_kernel){.kind = "k", .cpu = cpu_ok, .knobs = dup_label, .n_knobs = 1},
               "label 'a' is given twice");
    struct kf_knob dup[] = {RANGE("x", 1, 4, 1, 1), RANGE("x", 1, 2, 1, 1)};
    check_decl((struct kf_kernel){.kind = "k", .cpu = cpu_ok, .knobs = dup, .n_knobs = 2},
               "duplicate knob name 'x'");
    struct kf_knob variant[] = {RANGE("variant", 1, 4, 1, 1)};
    check_decl((struct kf_kernel){.kind = "k", .cpu = cpu_ok, .knobs = variant, .n_knobs = 1},
               "bad name 'variant'");
    struct kf_knob spaced[] = {RANGE("two words", 1, 4, 1, 1)};
    check_decl((struct kf_kernel){.kind = "k", .cpu = cpu_ok, .knobs = spaced, .n_knobs = 1},
               "bad name 'two words'");
    check_decl((struct kf_kernel){.kind = "k", .cpu = cpu_ok, .n_knobs = 1},
               "n_knobs is 1 but knobs is NULL");

    struct kf_knob batch[] = {RANGE("batch", 1, 8, 1, 1)};
    check_decl((struct kf_kernel){.kind = "k", .cpu_batch = batch_ok, .knobs = batch, .n_knobs = 1},
               "CPU batch entry point without a single-request CPU variant");
    check_decl(
        (struct kf_kernel){
            .kind = "k", .cpu = cpu_ok, .accel_batch = batch_ok, .knobs = batch, .n_knobs = 1},
        "accelerator batch entry point without a single-request accelerator variant");
    check_decl((struct kf_kernel){.kind = "k", .cpu = cpu_ok, .cpu_batch = batch_ok},
               "a batch entry point needs a range knob 'batch'");
    struct kf_knob batch0[] = {RANGE("batch", 0, 8, 1, 1)};
    check_decl(
        (struct kf_kernel){
            .kind = "k", .cpu = cpu_ok, .cpu_batch = batch_ok, .knobs = batch0, .n_knobs = 1},
        "expected min >= 1");
    check_decl((struct kf_kernel){.kind = "k", .cpu = cpu_ok, .flags = 0x80}, "unknown flags 0x80");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_echo_by_name),
        cmocka_unit_test(test_unknown_builtin_lists_the_builtins),
        cmocka_unit_test(test_external_adapter_by_path_with_args),
        cmocka_unit_test(test_bad_adapters_are_refused_with_a_reason),
        cmocka_unit_test(test_failing_init_is_reported),
        cmocka_unit_test(test_a_kind_served_twice_is_refused),
        cmocka_unit_test(test_v1_adapter_loads_and_serves),
        cmocka_unit_test(test_bad_declarations_are_refused_with_a_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
