/* Regression tests for what fuzz_esfm_sysfs found: ESFM's reads of sysfs values on a fake PCI
 * tree in a temp dir (the fuzz target's layout). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "esfm_internal.h"

static char dir[64] = "/tmp/kfarm-esfm-regress.XXXXXX";

static void put(const char *rel, const char *text)
{
    char p[256];
    snprintf(p, sizeof(p), "%s/sys/bus/pci/devices/%s", dir, rel);
    FILE *f = fopen(p, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* A PF whose sriov_totalvfs said 8888888 made list-vfs readlink 8.9 million virtfn links (the
 * fuzzer's 15 s timeout) and allocate for them; TotalVFs is a 16-bit field, so more is an error. */
static void test_absurd_totalvfs_is_refused_quickly(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(dir));
    char p[256], sys[128], st[128];
    snprintf(sys, sizeof(sys), "%s/sys", dir);
    snprintf(st, sizeof(st), "%s/state", dir);
    const char *dirs[] = {"/sys", "/sys/bus", "/sys/bus/pci", "/sys/bus/pci/devices",
                          "/sys/bus/pci/devices/0000:01:00.0"};
    for (size_t i = 0; i < 5; i++) {
        snprintf(p, sizeof(p), "%s%s", dir, dirs[i]);
        assert_int_equal(mkdir(p, 0700), 0);
    }
    struct esfm_options o = {.sysfs_root = sys, .state_dir = st, .skip_reconcile = true};
    struct esfm_ctx *ctx;
    char err[256];
    assert_int_equal(esfm_ctx_new(&o, &ctx, err, sizeof(err)), 0);
    put("0000:01:00.0/sriov_totalvfs", "8888888\n");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    char(*vfs)[ESFM_BDF_LEN] = NULL;
    size_t n = 0;
    assert_int_equal(esfm_pci_list_vfs(ctx, "0000:01:00.0", &vfs, &n), -EIO);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 2);
    assert_null(vfs);
    /* the largest legal value still works */
    put("0000:01:00.0/sriov_totalvfs", "65535\n");
    assert_int_equal(esfm_pci_list_vfs(ctx, "0000:01:00.0", &vfs, &n), 0);
    assert_int_equal(n, 0);
    free(vfs);
    esfm_ctx_free(ctx);
    snprintf(p, sizeof(p), "rm -rf '%s'", dir);
    assert_int_equal(system(p), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_absurd_totalvfs_is_refused_quickly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
