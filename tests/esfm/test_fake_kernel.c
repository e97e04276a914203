/* The FAKE kernel reacts to sysfs writes the way Linux's PCI core does; ESFM's other tests rely
 * on it, so its reactions are checked here (and against the real kernel in the guest test). */
#include "esfm_test_env.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static int wr(struct env *e, const char *rel, const char *v)
{
    char p[600];
    snprintf(p, sizeof p, "%s/%s", e->root, rel);
    return e->k.ops.write_attr(e->k.ops.priv, p, v);
}

static void test_numvfs_creates_vf_dirs_and_links(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    assert_int_equal(wr(e, "bus/pci/devices/" PF "/sriov_numvfs", "3"), 0);
    char p[600], t[256];
    for (int i = 0; i < 3; i++) {
        snprintf(p, sizeof p, "%s/bus/pci/devices/%s/virtfn%d", e->root, PF, i);
        ssize_t r = readlink(p, t, sizeof t - 1);
        assert_true(r > 0);
        t[r] = 0;
        char want[32];
        snprintf(want, sizeof want, "../0000:01:00.%d", i + 1);
        assert_string_equal(t, want);
    }
    snprintf(p, sizeof p, "%s/bus/pci/devices/%s/physfn", e->root, VF2);
    ssize_t r = readlink(p, t, sizeof t - 1);
    assert_true(r > 0);
    t[r] = 0;
    assert_string_equal(t, "../" PF);
    assert_int_equal(env_numvfs(e), 3);
    assert_int_equal(wr(e, "bus/pci/devices/" PF "/sriov_numvfs", "0"), 0);
    snprintf(p, sizeof p, "%s/bus/pci/devices/%s", e->root, VF0);
    assert_int_not_equal(access(p, F_OK), 0);
    env_free(e);
}

static void test_direct_count_change_is_ebusy(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    assert_int_equal(wr(e, "bus/pci/devices/" PF "/sriov_numvfs", "2"), 0);
    assert_int_equal(wr(e, "bus/pci/devices/" PF "/sriov_numvfs", "3"), -EBUSY);
    assert_int_equal(env_numvfs(e), 2);
    env_free(e);
}

static void test_count_over_total_is_erange(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    assert_int_equal(wr(e, "bus/pci/devices/" PF "/sriov_numvfs", "9"), -ERANGE);
    env_free(e);
}

static void test_numvfs_without_pf_driver_is_enoent(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    assert_int_equal(wr(e, "bus/pci/drivers/pci-pf-stub/unbind", PF), 0);
    assert_int_equal(wr(e, "bus/pci/devices/" PF "/sriov_numvfs", "1"), -ENOENT);
    env_free(e);
}

static void test_drivers_probe_binds_driver_override(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    assert_int_equal(wr(e, "bus/pci/devices/" PF "/sriov_numvfs", "1"), 0);
    assert_int_equal(wr(e, "bus/pci/devices/" VF0 "/driver_override", "vfio-pci"), 0);
    assert_int_equal(wr(e, "bus/pci/drivers_probe", VF0), 0);
    char p[600], t[256];
    snprintf(p, sizeof p, "%s/bus/pci/devices/%s/driver", e->root, VF0);
    ssize_t r = readlink(p, t, sizeof t - 1);
    assert_true(r > 0);
    t[r] = 0;
    assert_non_null(strstr(t, "vfio-pci"));
    assert_int_equal(wr(e, "bus/pci/drivers/vfio-pci/bind", VF0), -EBUSY);
    assert_int_equal(wr(e, "bus/pci/drivers/pci-pf-stub/unbind", VF0), -ENODEV);
    assert_int_equal(wr(e, "bus/pci/drivers_probe", "0000:09:00.0"), -ENODEV);
    env_free(e);
}

static void test_remove_and_rescan_bring_pf_back_bound(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    assert_int_equal(wr(e, "bus/pci/devices/" PF "/sriov_numvfs", "2"), 0);
    assert_int_equal(wr(e, "bus/pci/devices/" PF "/remove", "1"), 0);
    char p[600];
    snprintf(p, sizeof p, "%s/bus/pci/devices/%s", e->root, PF);
    assert_int_not_equal(access(p, F_OK), 0);
    assert_int_equal(wr(e, "bus/pci/rescan", "1"), 0);
    assert_int_equal(access(p, F_OK), 0);
    assert_int_equal(env_numvfs(e), 0);
    assert_int_equal(wr(e, "bus/pci/devices/" PF "/sriov_numvfs", "1"), 0);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numvfs_creates_vf_dirs_and_links),
        cmocka_unit_test(test_direct_count_change_is_ebusy),
        cmocka_unit_test(test_count_over_total_is_erange),
        cmocka_unit_test(test_numvfs_without_pf_driver_is_enoent),
        cmocka_unit_test(test_drivers_probe_binds_driver_override),
        cmocka_unit_test(test_remove_and_rescan_bring_pf_back_bound),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
