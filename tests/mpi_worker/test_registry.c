/* Unit tests of adapter loading: built-ins by name, .so files by path, and every way a .so can be
 * wrong (missing, no symbol, other ABI, no CPU variant, failing init, clashing kind). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

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
    assert_int_equal(k->kernel->cpu(k->state, "abc", 3, &res), KF_OK);
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
    assert_int_equal(k->kernel->cpu(k->state, "abc", 3, &res), KF_OK);
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_builtin_echo_by_name),
        cmocka_unit_test(test_unknown_builtin_lists_the_builtins),
        cmocka_unit_test(test_external_adapter_by_path_with_args),
        cmocka_unit_test(test_bad_adapters_are_refused_with_a_reason),
        cmocka_unit_test(test_failing_init_is_reported),
        cmocka_unit_test(test_a_kind_served_twice_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
