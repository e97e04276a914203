/* ESFM admin operations on the FAKE kernel and FAKE hypervisor: init, reconf with pause or the
 * detach fallback, attach/detach/pause, busy counters, listings, and every bad input leaving
 * the tree and the VMs unchanged. */
#include "esfm_test_env.h"
#include "esfm_internal.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct esfm_ctx *ctx_of(struct env *e, bool policy, bool force)
{
    struct esfm_ctx *c = NULL;
    char err[ESFM_ERR_LEN] = "";
    int rc = env_ctx(e, policy, force, &c, err);
    if (rc)
        fprintf(stderr, "ctx: %s\n", err);
    assert_int_equal(rc, 0);
    return c;
}

static void test_init_sets_autoprobe_qmax_count_and_vf_driver(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    env_policy(e, "{\"qdma_qmax\": 512, \"vf_driver\": \"vfio-pci\"}");
    struct esfm_ctx *c = ctx_of(e, true, false);
    char err[ESFM_ERR_LEN], b[64];
    assert_int_equal(esfm_init(c, PF, 4, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(env_numvfs(e), 4);
    fake_kernel_read(&e->k, PF, "sriov_drivers_autoprobe", b, sizeof b);
    assert_string_equal(b, "0");
    fake_kernel_read(&e->k, PF, "qdma/qmax", b, sizeof b);
    assert_string_equal(b, "512");
    struct esfm_vf_info *v;
    size_t n;
    assert_int_equal(esfm_list_vfs(c, NULL, &v, &n, err, sizeof err), 0);
    assert_int_equal(n, 4);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(v[i].driver, "vfio-pci");
    free(v);
    assert_non_null(strstr(e->log, "sriov_numvfs 4 of 8"));
    /* init by vendor:device finds the same PF; a second init is idempotent */
    assert_int_equal(esfm_init(c, "1b36:0010", 2, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(env_numvfs(e), 2);
    /* without a count, init brings back as many VFs as there were */
    assert_int_equal(esfm_init(c, PF, -1, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(env_numvfs(e), 2);
    esfm_ctx_free(c);
    env_free(e);
}

static void test_init_binds_pf_driver_from_policy(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    char p[600];
    snprintf(p, sizeof p, "%s/bus/pci/drivers/pci-pf-stub/unbind", e->root);
    assert_int_equal(e->k.ops.write_attr(e->k.ops.priv, p, PF), 0);
    struct esfm_ctx *c = ctx_of(e, false, false);
    char err[ESFM_ERR_LEN];
    /* without pf_driver: a clear error, nothing created */
    assert_int_equal(esfm_reconf(c, PF, 2, err, sizeof err), -EIO);
    assert_non_null(strstr(err, "pci-pf-stub"));
    esfm_ctx_free(c);
    env_policy(e, "{\"pf_driver\": \"pci-pf-stub\", \"pf_ids\": [\"1b36:0010\"]}");
    c = ctx_of(e, true, false);
    assert_int_equal(esfm_init(c, NULL, 3, NULL, NULL, err, sizeof err), 0);
    assert_int_equal(env_numvfs(e), 3);
    char drv[64];
    esfm_pci_driver(c, PF, drv, sizeof drv);
    assert_string_equal(drv, "pci-pf-stub");
    esfm_ctx_free(c);
    env_free(e);
}

static void write_bitstream(struct env *e, char *path, size_t len)
{
    snprintf(path, len, "%s/image.bit", e->dir);
    FILE *f = fopen(path, "w");
    fputs("abc", f); /* sha256("abc") is the FIPS 180-2 test vector */
    fclose(f);
}

#define ABC_SHA "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void test_init_flashes_allowlisted_bitstream_by_execve(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    char bit[400], pol[2048];
    write_bitstream(e, bit, sizeof bit);
    snprintf(pol, sizeof pol,
             "{\"bitstream_dir\":\"%s\","
             "\"bitstreams\":[{\"name\":\"ptdr\",\"path\":\"%s\",\"sha256\":\"%s\"}],"
             "\"flash_command\":[\"/bin/cp\",\"{bitstream}\",\"%s/flashed-{name}-{pf}\"]}",
             e->dir, bit, ABC_SHA, e->dir);
    env_policy(e, pol);
    struct esfm_ctx *c = ctx_of(e, true, false);
    char err[ESFM_ERR_LEN], out[600];
    assert_int_equal(esfm_init(c, PF, 1, "ptdr", NULL, err, sizeof err), 0);
    snprintf(out, sizeof out, "%s/flashed-ptdr-%s", e->dir, PF);
    char *t = env_read_file(out);
    assert_non_null(t);
    assert_string_equal(t, "abc");
    free(t);
    esfm_ctx_free(c);
    env_free(e);
}

/* The flasher gets a fixed environment (PATH, LANG=C), none of the caller's: the test flasher
 * writes the environment it was started with (/proc/<its pid>/environ) to a file. */
static void test_flasher_runs_with_a_clean_environment(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    char bit[400], pol[2048], out[600];
    write_bitstream(e, bit, sizeof bit);
    snprintf(out, sizeof out, "%s/flasher-env", e->dir);
    snprintf(pol, sizeof pol,
             "{\"bitstream_dir\":\"%s\","
             "\"bitstreams\":[{\"name\":\"ptdr\",\"path\":\"%s\",\"sha256\":\"%s\"}],"
             "\"flash_command\":[\"/bin/sh\",\"-c\",\"tr '\\\\0' '\\\\n' </proc/$$/environ >%s\"]}",
             e->dir, bit, ABC_SHA, out);
    env_policy(e, pol);
    setenv("LD_PRELOAD_KFARM_TEST", "leaked", 1);
    setenv("IFS", "x", 1);
    struct esfm_ctx *c = ctx_of(e, true, false);
    char err[ESFM_ERR_LEN];
    int rc = esfm_init(c, PF, 1, "ptdr", NULL, err, sizeof err);
    unsetenv("LD_PRELOAD_KFARM_TEST");
    unsetenv("IFS");
    if (rc)
        fail_msg("init: %s", err);
    char *t = env_read_file(out);
    assert_non_null(t);
    assert_string_equal(t, "PATH=/usr/sbin:/usr/bin:/sbin:/bin\nLANG=C\n");
    free(t);
    esfm_ctx_free(c);
    env_free(e);
}

static void test_init_refuses_unlisted_or_tampered_bitstream(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    char bit[400], pol[2048];
    write_bitstream(e, bit, sizeof bit);
    snprintf(pol, sizeof pol,
             "{\"bitstream_dir\":\"%s\","
             "\"bitstreams\":[{\"name\":\"ptdr\",\"path\":\"%s\",\"sha256\":\"%064d\"}],"
             "\"flash_command\":[\"/bin/cp\",\"{bitstream}\",\"%s/flashed\"]}",
             e->dir, bit, 0, e->dir);
    env_policy(e, pol);
    env_set_numvfs(e, 2);
    struct esfm_ctx *c = ctx_of(e, true, false);
    char err[ESFM_ERR_LEN];
    assert_int_equal(esfm_init(c, PF, 4, "other", NULL, err, sizeof err), -EACCES);
    assert_non_null(strstr(err, "not allow-listed"));
    assert_int_equal(esfm_init(c, PF, 4, "ptdr", NULL, err, sizeof err), -EACCES);
    assert_non_null(strstr(err, ABC_SHA));
    assert_int_equal(env_numvfs(e), 2); /* nothing changed */
    assert_int_equal(env_journal_entries(e), 0);
    esfm_ctx_free(c);
    env_free(e);
}

static void test_failing_flash_command_is_reported(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    char bit[400], pol[2048];
    write_bitstream(e, bit, sizeof bit);
    snprintf(pol, sizeof pol,
             "{\"bitstream_dir\":\"%s\","
             "\"bitstreams\":[{\"name\":\"ptdr\",\"path\":\"%s\",\"sha256\":\"%s\"}],"
             "\"flash_command\":[\"/bin/false\",\"{pf}\"]}",
             e->dir, bit, ABC_SHA);
    env_policy(e, pol);
    struct esfm_ctx *c = ctx_of(e, true, false);
    char err[ESFM_ERR_LEN];
    assert_int_equal(esfm_init(c, PF, 2, "ptdr", NULL, err, sizeof err), -ENOEXEC);
    assert_non_null(strstr(err, "/bin/false for ptdr on " PF " exited with 1"));
    assert_int_equal(esfm_exit_code(-ENOEXEC), 9);
    assert_int_equal(env_journal_entries(e), 0);
    esfm_ctx_free(c);
    env_free(e);
}

static void test_reconf_pauses_and_resumes_vms_vfs(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    env_set_numvfs(e, 3);
    env_attach(e, VF0, "vm1");
    env_attach(e, VF2, "vm2");
    struct esfm_ctx *c = ctx_of(e, false, false);
    char err[ESFM_ERR_LEN], dom[64];
    e->log[0] = 0;
    assert_int_equal(esfm_reconf(c, PF, 2, err, sizeof err), 0);
    assert_int_equal(env_numvfs(e), 2);
    assert_int_equal(env_holders(e, VF0, dom), 1);
    assert_string_equal(dom, "vm1");
    assert_false(env_hostdev_paused(e, VF0));
    assert_int_equal(env_holders(e, VF2, NULL), 0); /* VF2 no longer exists */
    assert_non_null(strstr(e->log, "paused " VF0));
    assert_non_null(strstr(e->log, "unpaused " VF0));
    assert_non_null(strstr(e->log, VF2 " no longer exists"));
    /* 2 -> 4 goes through 0 and keeps VF0 in vm1 */
    assert_int_equal(esfm_reconf(c, PF, 4, err, sizeof err), 0);
    assert_int_equal(env_numvfs(e), 4);
    assert_int_equal(env_holders(e, VF0, dom), 1);
    assert_int_equal(env_journal_entries(e), 0);
    esfm_ctx_free(c);
    env_free(e);
}

static void test_reconf_falls_back_to_detach_without_device_pause(void **s)
{
    (void)s;
    struct env *e = env_new(false);
    env_set_numvfs(e, 2);
    env_attach(e, VF1, "vm2");
    struct esfm_ctx *c = ctx_of(e, false, false);
    char err[ESFM_ERR_LEN], dom[64];
    assert_int_equal(esfm_reconf(c, PF, 3, err, sizeof err), 0);
    assert_non_null(strstr(e->log, "CommandNotFound"));
    assert_non_null(strstr(e->log, "falling back to detach"));
    assert_int_equal(env_holders(e, VF1, dom), 1);
    assert_string_equal(dom, "vm2");
    esfm_ctx_free(c);
    env_free(e);
}

static void test_reconf_that_cannot_park_a_vf_puts_everything_back(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    env_set_numvfs(e, 3);
    env_attach(e, VF0, "vm1");
    env_attach(e, VF1, "vm2");
    cJSON *fail = cJSON_CreateArray();
    cJSON_AddItemToArray(fail, cJSON_CreateString(VF0));
    env_hv_set(e, "vm1", "fail_pause", fail);
    struct esfm_ctx *c = ctx_of(e, false, false);
    char err[ESFM_ERR_LEN], dom[64];
    /* VF1 (index 1) would go away with N=1, so it is detached; VF0's pause fails */
    assert_int_equal(esfm_reconf(c, PF, 1, err, sizeof err), -EREMOTEIO);
    assert_non_null(strstr(err, "injected device_pause failure"));
    assert_int_equal(env_numvfs(e), 3);
    assert_int_equal(env_holders(e, VF1, dom), 1);
    assert_string_equal(dom, "vm2");
    assert_int_equal(env_holders(e, VF0, dom), 1);
    assert_false(env_hostdev_paused(e, VF0));
    assert_int_equal(env_journal_entries(e), 0);
    struct esfm_vf_info *v;
    size_t n;
    assert_int_equal(esfm_list_vfs(c, PF, &v, &n, err, sizeof err), 0);
    assert_int_equal(v[0].state, ESFM_VF_ATTACHED);
    assert_int_equal(v[1].state, ESFM_VF_ATTACHED);
    free(v);
    esfm_ctx_free(c);
    env_free(e);
}

static void test_reconf_leaves_stopped_vms_surviving_vfs_alone(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    env_set_numvfs(e, 3);
    env_attach(e, VF0, "vm1");
    env_attach(e, VF1, "vm2");
    env_hv_set(e, "vm2", "running", cJSON_CreateFalse()); /* pause there would fail */
    struct esfm_ctx *c = ctx_of(e, false, false);
    char err[ESFM_ERR_LEN], dom[64];
    assert_int_equal(esfm_reconf(c, PF, 2, err, sizeof err), 0);
    assert_int_equal(env_holders(e, VF1, dom), 1);
    assert_string_equal(dom, "vm2");
    assert_null(strstr(e->log, "paused " VF1));
    assert_non_null(strstr(e->log, "paused " VF0));
    /* 2 -> 1: VF1 no longer exists, so the stopped VM's config lets go of it */
    assert_int_equal(esfm_reconf(c, PF, 1, err, sizeof err), 0);
    assert_int_equal(env_holders(e, VF1, NULL), 0);
    assert_int_equal(env_holders(e, VF0, dom), 1);
    esfm_ctx_free(c);
    env_free(e);
}

static void test_bad_input_changes_nothing(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    env_set_numvfs(e, 2);
    env_attach(e, VF0, "vm1");
    char *hv0 = env_read_file(e->hv);
    struct esfm_ctx *c = ctx_of(e, false, false);
    char err[ESFM_ERR_LEN];
    assert_int_equal(esfm_reconf(c, PF, 9, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "0 to 8"));
    assert_int_equal(esfm_reconf(c, "0000:07:00.0", 1, err, sizeof err), -ENOENT);
    assert_int_equal(esfm_reconf(c, VF1, 1, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "is a VF of PF"));
    assert_int_equal(esfm_reconf(c, "0000:00:02.0", 1, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "not an SR-IOV PF"));
    assert_int_equal(esfm_reconf(c, "zz:00", 1, err, sizeof err), -EINVAL);
    assert_int_equal(esfm_attach(c, VF1, "nosuchvm", NULL, err, sizeof err), -ENOENT);
    assert_non_null(strstr(err, "nosuchvm"));
    assert_int_equal(esfm_attach(c, VF0, "vm2", NULL, err, sizeof err), -EBUSY);
    assert_int_equal(esfm_attach(c, PF, "vm2", NULL, err, sizeof err), -EINVAL);
    assert_int_equal(esfm_detach(c, VF1, err, sizeof err), -ENOENT);
    assert_int_equal(esfm_pause(c, VF1, true, NULL, err, sizeof err), -ENOENT);
    assert_int_equal(esfm_pause(c, VF0, false, NULL, err, sizeof err), -EINVAL);
    assert_int_equal(env_numvfs(e), 2);
    char *hv1 = env_read_file(e->hv);
    assert_string_equal(hv0, hv1);
    assert_int_equal(env_journal_entries(e), 0);
    free(hv0);
    free(hv1);
    esfm_ctx_free(c);
    env_free(e);
}

static void test_attach_free_vf_then_detach(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    env_set_numvfs(e, 2);
    struct esfm_ctx *c = ctx_of(e, false, false);
    char err[ESFM_ERR_LEN], vf[ESFM_BDF_LEN], vf2[ESFM_BDF_LEN];
    assert_int_equal(esfm_attach(c, NULL, "vm1", vf, err, sizeof err), 0);
    assert_string_equal(vf, VF0);
    assert_int_equal(esfm_attach(c, NULL, "vm2", vf2, err, sizeof err), 0);
    assert_string_equal(vf2, VF1);
    assert_int_equal(esfm_attach(c, NULL, "vm2", vf2, err, sizeof err), -EBUSY);
    assert_non_null(strstr(err, "no free VF"));
    struct esfm_hostdev *h;
    size_t n;
    assert_int_equal(esfm_list_vf_vm(c, &h, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_string_equal(h[0].alias, "ua-kfarm-0000-01-00-1");
    free(h);
    assert_int_equal(esfm_detach(c, VF0, err, sizeof err), 0);
    assert_int_equal(env_holders(e, VF0, NULL), 0);
    assert_int_equal(esfm_attach(c, NULL, "vm2", vf2, err, sizeof err), 0);
    assert_string_equal(vf2, VF0);
    esfm_ctx_free(c);
    env_free(e);
}

static void test_busy_vf_refused_unless_force(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    env_set_numvfs(e, 3);
    env_attach(e, VF0, "vm1");
    env_attach(e, VF1, "vm1");
    fake_kernel_put(&e->k, "bus/pci/devices/" VF0 "/kfarm/busy", "2 4242\n");
    fake_kernel_put(&e->k, "bus/pci/devices/" PF "/kfarm/vf_busy", VF1 " 1 777\n" VF2 " 0 0\n");
    struct esfm_ctx *c = ctx_of(e, false, false);
    char err[ESFM_ERR_LEN];
    assert_int_equal(esfm_detach(c, VF0, err, sizeof err), -EBUSY);
    assert_non_null(strstr(err, "pid 4242"));
    assert_int_equal(esfm_pause(c, VF1, true, NULL, err, sizeof err), -EBUSY);
    assert_int_equal(esfm_reconf(c, PF, 1, err, sizeof err), -EBUSY);
    assert_int_equal(env_numvfs(e), 3);
    struct esfm_vf_info *v;
    size_t n;
    assert_int_equal(esfm_list_vfs(c, PF, &v, &n, err, sizeof err), 0);
    assert_int_equal(n, 3);
    assert_true(v[0].busy);
    assert_int_equal(v[0].busy_queues, 2);
    assert_true(v[1].busy);
    assert_false(v[2].busy);
    assert_int_equal(v[0].state, ESFM_VF_ATTACHED);
    assert_string_equal(v[0].domain, "vm1");
    free(v);
    esfm_ctx_free(c);
    c = ctx_of(e, false, true);
    assert_int_equal(esfm_detach(c, VF0, err, sizeof err), 0);
    esfm_ctx_free(c);
    env_free(e);
}

static void test_pause_unpause_by_qmp_and_by_fallback(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    env_set_numvfs(e, 2);
    env_attach(e, VF0, "vm1");
    struct esfm_ctx *c = ctx_of(e, false, false);
    char err[ESFM_ERR_LEN];
    bool fb = true;
    assert_int_equal(esfm_pause(c, VF0, true, &fb, err, sizeof err), 0);
    assert_false(fb);
    assert_true(env_hostdev_paused(e, VF0));
    struct esfm_vf_info *v;
    size_t n;
    assert_int_equal(esfm_list_vfs(c, NULL, &v, &n, err, sizeof err), 0);
    assert_int_equal(v[0].state, ESFM_VF_PAUSED);
    free(v);
    assert_int_equal(esfm_pause(c, VF0, true, &fb, err, sizeof err), -EINVAL);
    assert_int_equal(esfm_pause(c, VF0, false, &fb, err, sizeof err), 0);
    assert_false(env_hostdev_paused(e, VF0));
    /* the same VM without device_pause: detach, and unpause attaches again */
    env_hv_set(e, "vm1", "device_pause", cJSON_CreateFalse());
    assert_int_equal(esfm_pause(c, VF0, true, &fb, err, sizeof err), 0);
    assert_true(fb);
    assert_int_equal(env_holders(e, VF0, NULL), 0);
    assert_int_equal(esfm_list_vfs(c, NULL, &v, &n, err, sizeof err), 0);
    assert_int_equal(v[0].state, ESFM_VF_PAUSED);
    assert_string_equal(v[0].domain, "vm1");
    free(v);
    /* a paused-by-detach VF is reserved: nobody else gets it */
    char got[ESFM_BDF_LEN];
    assert_int_equal(esfm_attach(c, NULL, "vm2", got, err, sizeof err), 0);
    assert_string_equal(got, VF1);
    assert_int_equal(esfm_pause(c, VF0, false, &fb, err, sizeof err), 0);
    assert_true(fb);
    assert_int_equal(env_holders(e, VF0, NULL), 1);
    esfm_ctx_free(c);
    env_free(e);
}

static void test_alias_is_a_libvirt_user_alias(void **s)
{
    (void)s;
    char a[ESFM_ALIAS_LEN];
    esfm_alias_for("0000:3b:00.7", a);
    assert_string_equal(a, "ua-kfarm-0000-3b-00-7");
    char b[ESFM_BDF_LEN];
    assert_int_equal(esfm_normalize_bdf("3B:00.7", b), 0);
    assert_string_equal(b, "0000:3b:00.7");
    assert_int_equal(esfm_normalize_bdf("0000:3b:00.8", b), -EINVAL);
    assert_int_equal(esfm_normalize_bdf("0000:3b:00.1x", b), -EINVAL);
}

static void test_exit_codes_are_documented_values(void **s)
{
    (void)s;
    assert_int_equal(esfm_exit_code(0), 0);
    assert_int_equal(esfm_exit_code(-EINVAL), 2);
    assert_int_equal(esfm_exit_code(-EACCES), 3);
    assert_int_equal(esfm_exit_code(-ENOENT), 4);
    assert_int_equal(esfm_exit_code(-EBUSY), 5);
    assert_int_equal(esfm_exit_code(-EREMOTEIO), 6);
    assert_int_equal(esfm_exit_code(-EIO), 7);
    assert_int_equal(esfm_exit_code(-ENOLCK), 8);
    assert_int_equal(esfm_exit_code(-ENOEXEC), 9);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_sets_autoprobe_qmax_count_and_vf_driver),
        cmocka_unit_test(test_init_binds_pf_driver_from_policy),
        cmocka_unit_test(test_init_flashes_allowlisted_bitstream_by_execve),
        cmocka_unit_test(test_flasher_runs_with_a_clean_environment),
        cmocka_unit_test(test_init_refuses_unlisted_or_tampered_bitstream),
        cmocka_unit_test(test_failing_flash_command_is_reported),
        cmocka_unit_test(test_reconf_pauses_and_resumes_vms_vfs),
        cmocka_unit_test(test_reconf_falls_back_to_detach_without_device_pause),
        cmocka_unit_test(test_reconf_that_cannot_park_a_vf_puts_everything_back),
        cmocka_unit_test(test_reconf_leaves_stopped_vms_surviving_vfs_alone),
        cmocka_unit_test(test_bad_input_changes_nothing),
        cmocka_unit_test(test_attach_free_vf_then_detach),
        cmocka_unit_test(test_busy_vf_refused_unless_force),
        cmocka_unit_test(test_pause_unpause_by_qmp_and_by_fallback),
        cmocka_unit_test(test_alias_is_a_libvirt_user_alias),
        cmocka_unit_test(test_exit_codes_are_documented_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
