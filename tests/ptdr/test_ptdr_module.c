/* ptdr.so loaded by path like any external adapter: dlopen, the kfarm_adapter symbol (and
 * nothing else exported), then init, both kinds, features, load-profiles and fini via the ABI. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptdr_fixture.h"

static void test_module_serves_requests_through_the_abi(void **state)
{
    (void)state;
    void *h = dlopen(PTDR_SO, RTLD_NOW | RTLD_LOCAL);
    if (!h)
        fail_msg("dlopen %s: %s", PTDR_SO, dlerror());
    const struct kf_adapter *a = dlsym(h, KF_ADAPTER_SYMBOL);
    assert_non_null(a);
    /* Only the ABI symbol is exported: internals cannot clash with the host's. */
    assert_null(dlsym(h, "kf_adapter_ptdr"));
    assert_null(dlsym(h, "ptdr_mc_cpu"));
    /* nor kfarm_base, which the module links in statically (-Wl,--exclude-libs,ALL) */
    assert_null(dlsym(h, "kf_errf"));
    assert_null(dlsym(h, "kf_atomic_write"));
    assert_int_equal(a->abi_version, KF_ADAPTER_ABI_VERSION);
    assert_string_equal(a->name, "ptdr");
    assert_int_equal(a->n_kernels, 2);
    assert_string_equal(a->kernels[0].kind, "monte-carlo");
    assert_string_equal(a->kernels[1].kind, "ptdr-stats");
    assert_non_null(a->kernels[0].accel);
    assert_int_equal(a->n_broadcasts, 1);
    assert_string_equal(a->broadcasts[0].kind, "load-profiles");

    const char *prof = fx_generate("m.json", "profiles --segments 50 --seed 2");
    const char *prof2 = fx_generate("m2.json", "profiles --segments 60 --seed 3");
    char kv0[600], err[KF_ERROR_MAX], *r, *r2;
    snprintf(kv0, sizeof(kv0), "profiles=%s", prof);
    const char *kv[] = {kv0, "samples=300", "seed=4", NULL};
    struct fx_adapter fx;
    assert_int_equal(fx_init(&fx, a, kv, err, sizeof(err)), KF_OK);
    const char *req = "{\"routes\":[[\"OSM1000T1007\",\"OSM1007T1014\"],[\"OSM1014T1021\"]],"
                      "\"frequency\":60,\"departure_time\":28800000}";
    assert_int_equal(fx_call(&fx, "monte-carlo", 0, req, &r), KF_OK);
    assert_true(strcmp(r, "0") == 0 || strcmp(r, "1") == 0);
    if (a->accel_available(fx.state)) {
        assert_int_equal(fx_call(&fx, "monte-carlo", 1, req, &r2), KF_OK);
        assert_string_equal(r, r2);
        free(r2);
    }
    free(r);
    assert_int_equal(fx_call(&fx, "ptdr-stats", 0, req, &r), KF_OK);
    assert_non_null(strstr(r, "\"p95\""));
    free(r);
    double f[3];
    assert_int_equal(a->kernels[1].features(fx.state, req, strlen(req), f, 3), 3);
    assert_true(f[0] == 2 && f[1] == 3 && f[2] == 300);
    char payload[700];
    snprintf(payload, sizeof(payload), "\"%s\"", prof2);
    assert_int_equal(fx_broadcast(&fx, "load-profiles", payload, err, sizeof(err)), KF_OK);
    assert_int_equal(fx_call(&fx, "monte-carlo", 0,
                             "{\"routes\":[[\"OSM1413T1420\"]],\"departure_time\":0}", &r),
                     KF_OK);
    free(r);
    fx_fini(&fx);
    assert_int_equal(dlclose(h), 0);
    fx_cleanup();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_module_serves_requests_through_the_abi),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
