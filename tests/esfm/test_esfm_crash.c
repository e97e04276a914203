/* Crash recovery: each operation is killed (SIGKILL via ESFM_TEST_CRASH_AFTER_STEP) after step k,
 * for every k until it completes; the next context's reconciliation must leave a consistent
 * state: no VF lost, leaked, half-bound or in two VMs, and an empty journal. */
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
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define ABC_SHA "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

struct scenario {
    bool device_pause;
    void (*setup)(struct env *e);
    int (*op)(struct esfm_ctx *c, char *err);
    void (*check)(struct env *e);
    bool policy;
};

static int records_of(struct env *e, const char *job)
{
    cJSON *st = env_state(e), *r, *j;
    int n = 0;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(st, "vfs"))
    {
        cJSON_ArrayForEach(j, cJSON_GetObjectItem(r, "jobs")) n +=
            !strcmp(cJSON_GetObjectItem(j, "job")->valuestring, job);
    }
    cJSON_Delete(st);
    return n;
}

static bool has_record(struct env *e, const char *vf, bool *paused)
{
    cJSON *st = env_state(e);
    cJSON *r = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "vfs"), vf);
    if (paused)
        *paused = r && cJSON_GetObjectItem(r, "paused");
    cJSON_Delete(st);
    return r != NULL;
}

static void run_every_step(const struct scenario *sc)
{
    int k;
    for (k = 1; k < 300; k++) {
        struct env *e = env_new(sc->device_pause);
        sc->setup(e);
        fflush(NULL);
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            char v[16];
            snprintf(v, sizeof v, "%d", k);
            setenv("ESFM_TEST_CRASH_AFTER_STEP", v, 1);
            struct esfm_ctx *c;
            char err[ESFM_ERR_LEN];
            if (env_ctx(e, sc->policy, false, &c, err))
                _exit(3);
            int rc = sc->op(c, err);
            if (rc)
                fprintf(stderr, "op failed: %s\n", err);
            esfm_ctx_free(c);
            _exit(rc ? 3 : 0);
        }
        int st;
        assert_int_equal(waitpid(pid, &st, 0), pid);
        bool killed = WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL;
        if (!killed && !(WIFEXITED(st) && WEXITSTATUS(st) == 0))
            fail_msg("k=%d: the operation neither completed nor died by SIGKILL (%#x)", k, st);
        int code = killed ? 99 : 0;
        /* esfm status: the crash left an entry behind */
        struct esfm_ctx *c;
        char err[ESFM_ERR_LEN];
        struct esfm_options o = {.sysfs_root = e->root,
                                 .connect_uri = e->uri,
                                 .state_dir = e->state,
                                 .sysfs_ops = &e->k.ops,
                                 .skip_reconcile = true,
                                 .policy_path = sc->policy ? e->policy : NULL};
        assert_int_equal(esfm_ctx_new(&o, &c, err, sizeof err), 0);
        struct esfm_pending *p;
        size_t np;
        assert_int_equal(esfm_list_pending(c, &p, &np, err, sizeof err), 0);
        for (size_t i = 0; i < np; i++)
            assert_false(p[i].running);
        free(p);
        esfm_ctx_free(c);
        /* the next run repairs */
        int rc = env_ctx(e, sc->policy, false, &c, err);
        if (rc)
            fail_msg("k=%d: reopen failed: %s", k, err);
        esfm_ctx_free(c);
        if (env_journal_entries(e) != 0)
            fail_msg("k=%d: journal not clean after repair; log:\n%s", k, e->log);
        sc->check(e);
        env_free(e);
        if (code == 0)
            break;
    }
    fprintf(stderr, "crashed at each of %d steps, each repaired\n", k - 1);
    assert_true(k > 3);
}

/* ---- reconf 3 -> 2 with VF0 in vm1, VF1 and VF2 in vm2 ---- */
static void reconf_setup(struct env *e)
{
    env_set_numvfs(e, 3);
    env_attach(e, VF0, "vm1");
    env_attach(e, VF1, "vm2");
    env_attach(e, VF2, "vm2");
}

static int reconf_op(struct esfm_ctx *c, char *err)
{
    return esfm_reconf(c, PF, 2, err, ESFM_ERR_LEN);
}

static void reconf_check(struct env *e)
{
    char dom[64];
    bool paused;
    assert_int_equal(env_numvfs(e), 2);
    assert_int_equal(env_holders(e, VF0, dom), 1);
    assert_string_equal(dom, "vm1");
    assert_int_equal(env_holders(e, VF1, dom), 1);
    assert_string_equal(dom, "vm2");
    assert_int_equal(env_holders(e, VF2, NULL), 0);
    assert_false(env_hostdev_paused(e, VF0));
    assert_false(env_hostdev_paused(e, VF1));
    assert_true(has_record(e, VF0, &paused));
    assert_false(paused);
    assert_false(has_record(e, VF2, NULL));
}

static void test_reconf_crash_at_every_step_with_pause(void **s)
{
    (void)s;
    struct scenario sc = {true, reconf_setup, reconf_op, reconf_check, false};
    run_every_step(&sc);
}

static void test_reconf_crash_at_every_step_with_detach_fallback(void **s)
{
    (void)s;
    struct scenario sc = {false, reconf_setup, reconf_op, reconf_check, false};
    run_every_step(&sc);
}

/* ---- job attach of 3 VFs: after repair all or none ---- */
static void four_vfs(struct env *e)
{
    env_set_numvfs(e, 4);
}

static int job_attach_op(struct esfm_ctx *c, char *err)
{
    struct esfm_grant g[3];
    return esfm_job_attach(c, &(struct esfm_job){"J1", 1000, "batch"}, "vm1", 3, g, err,
                           ESFM_ERR_LEN);
}

static void job_attach_check(struct env *e)
{
    const char *vfs[] = {VF0, VF1, VF2, VF3};
    int attached = 0;
    for (int i = 0; i < 4; i++) {
        int h = env_holders(e, vfs[i], NULL);
        assert_true(h <= 1);
        attached += h;
        assert_int_equal(h, has_record(e, vfs[i], NULL));
    }
    assert_int_equal(records_of(e, "J1"), attached);
    assert_true(attached == 0 || attached == 3);
}

static void test_job_attach_crash_at_every_step(void **s)
{
    (void)s;
    struct scenario sc = {true, four_vfs, job_attach_op, job_attach_check, false};
    run_every_step(&sc);
}

/* ---- job detach ---- */
static void job_detach_setup(struct env *e)
{
    env_set_numvfs(e, 3);
    struct esfm_ctx *c;
    char err[ESFM_ERR_LEN];
    struct esfm_grant g[3];
    if (env_ctx(e, false, false, &c, err) ||
        esfm_job_attach(c, &(struct esfm_job){"J2", 1000, NULL}, "vm2", 3, g, err, sizeof err))
        abort();
    esfm_ctx_free(c);
}

static int job_detach_op(struct esfm_ctx *c, char *err)
{
    return esfm_job_detach(c, "J2", err, ESFM_ERR_LEN);
}

static void job_detach_check(struct env *e)
{
    assert_int_equal(
        env_holders(e, VF0, NULL) + env_holders(e, VF1, NULL) + env_holders(e, VF2, NULL), 0);
    assert_int_equal(records_of(e, "J2"), 0);
}

static void test_job_detach_crash_at_every_step(void **s)
{
    (void)s;
    struct scenario sc = {true, job_detach_setup, job_detach_op, job_detach_check, false};
    run_every_step(&sc);
}

/* ---- init with a flash, VF0 in vm1 ---- */
static void init_setup(struct env *e)
{
    char bit[400], pol[2048];
    snprintf(bit, sizeof bit, "%s/image.bit", e->dir);
    FILE *f = fopen(bit, "w");
    fputs("abc", f);
    fclose(f);
    snprintf(pol, sizeof pol,
             "{\"bitstream_dir\":\"%s\",\"bitstreams\":[{\"name\":\"b\",\"path\":\"%s\",\"sha256\":"
             "\"%s\"}],"
             "\"flash_command\":[\"/bin/cp\",\"{bitstream}\",\"%s/flashed\"],"
             "\"vf_driver\":\"vfio-pci\",\"qdma_qmax\":64}",
             e->dir, bit, ABC_SHA, e->dir);
    env_policy(e, pol);
    env_set_numvfs(e, 2);
    env_attach(e, VF0, "vm1");
}

static int init_op(struct esfm_ctx *c, char *err)
{
    return esfm_init(c, PF, 3, "b", NULL, err, ESFM_ERR_LEN);
}

static void init_check(struct env *e)
{
    char b[64];
    assert_int_equal(env_numvfs(e), 3);
    fake_kernel_read(&e->k, PF, "sriov_drivers_autoprobe", b, sizeof b);
    assert_string_equal(b, "0");
    fake_kernel_read(&e->k, PF, "qdma/qmax", b, sizeof b);
    assert_string_equal(b, "64");
    assert_int_equal(env_holders(e, VF0, NULL), 0);
    assert_false(has_record(e, VF0, NULL));
    const char *vfs[] = {VF0, VF1, VF2};
    for (int i = 0; i < 3; i++) {
        char p[600], t[256];
        snprintf(p, sizeof p, "%s/bus/pci/devices/%s/driver", e->root, vfs[i]);
        ssize_t r = readlink(p, t, sizeof t - 1);
        assert_true(r > 0);
        t[r] = 0;
        assert_non_null(strstr(t, "vfio-pci"));
    }
}

static void test_init_crash_at_every_step(void **s)
{
    (void)s;
    struct scenario sc = {true, init_setup, init_op, init_check, true};
    run_every_step(&sc);
}

/* ---- admin attach, detach, pause, unpause of VF1 in vm1 ---- */
static void three_vfs(struct env *e)
{
    env_set_numvfs(e, 3);
}

static void admin_attached(struct env *e)
{
    env_set_numvfs(e, 3);
    struct esfm_ctx *c;
    char err[ESFM_ERR_LEN], vf[ESFM_BDF_LEN];
    if (env_ctx(e, false, false, &c, err) || esfm_attach(c, VF1, "vm1", vf, err, sizeof err))
        abort();
    esfm_ctx_free(c);
}

static void admin_paused(struct env *e)
{
    admin_attached(e);
    struct esfm_ctx *c;
    char err[ESFM_ERR_LEN];
    if (env_ctx(e, false, false, &c, err) || esfm_pause(c, VF1, true, NULL, err, sizeof err))
        abort();
    esfm_ctx_free(c);
}

static int admin_attach_op(struct esfm_ctx *c, char *err)
{
    char vf[ESFM_BDF_LEN];
    return esfm_attach(c, VF1, "vm1", vf, err, ESFM_ERR_LEN);
}

static int admin_detach_op(struct esfm_ctx *c, char *err)
{
    return esfm_detach(c, VF1, err, ESFM_ERR_LEN);
}

static int admin_pause_op(struct esfm_ctx *c, char *err)
{
    return esfm_pause(c, VF1, true, NULL, err, ESFM_ERR_LEN);
}

static int admin_unpause_op(struct esfm_ctx *c, char *err)
{
    return esfm_pause(c, VF1, false, NULL, err, ESFM_ERR_LEN);
}

/* The record says paused exactly when the VF is paused (QMP) or out of its VM (detach fallback). */
static const char *record_paused(struct env *e, const char *vf)
{
    static char m[16];
    cJSON *st = env_state(e);
    cJSON *r = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "vfs"), vf);
    cJSON *p = cJSON_GetObjectItem(r, "paused");
    snprintf(m, sizeof m, "%s", cJSON_IsString(p) ? p->valuestring : "");
    assert_null(cJSON_GetObjectItem(r, "pending"));
    cJSON_Delete(st);
    return m;
}

/* attach is rolled back unless it had completed: VF1 in vm1 and recorded, or neither. */
static void admin_attach_check(struct env *e)
{
    char dom[64];
    int held = env_holders(e, VF1, dom);
    assert_int_equal(held, has_record(e, VF1, NULL));
    if (held)
        assert_string_equal(dom, "vm1");
    if (held)
        assert_string_equal(record_paused(e, VF1), "");
    assert_int_equal(env_holders(e, VF0, NULL) + env_holders(e, VF2, NULL), 0);
}

/* detach is rolled forward: VF1 out of every VM and forgotten. */
static void admin_detach_check(struct env *e)
{
    assert_int_equal(env_holders(e, VF1, NULL), 0);
    assert_false(has_record(e, VF1, NULL));
}

/* pause is rolled back unless it had completed; the record agrees with the VM either way. */
static void admin_pause_check(struct env *e)
{
    char dom[64];
    assert_true(has_record(e, VF1, NULL));
    const char *m = record_paused(e, VF1);
    int held = env_holders(e, VF1, dom);
    if (!strcmp(m, "detach")) {
        assert_int_equal(held, 0);
        return;
    }
    assert_int_equal(held, 1);
    assert_string_equal(dom, "vm1");
    assert_int_equal(env_hostdev_paused(e, VF1), !strcmp(m, "qmp"));
}

/* unpause is rolled forward: VF1 back in vm1, running, recorded as not paused. */
static void admin_unpause_check(struct env *e)
{
    char dom[64];
    assert_int_equal(env_holders(e, VF1, dom), 1);
    assert_string_equal(dom, "vm1");
    assert_false(env_hostdev_paused(e, VF1));
    assert_string_equal(record_paused(e, VF1), "");
}

static void test_admin_attach_crash_at_every_step(void **s)
{
    (void)s;
    struct scenario sc = {true, three_vfs, admin_attach_op, admin_attach_check, false};
    run_every_step(&sc);
}

static void test_admin_detach_crash_at_every_step(void **s)
{
    (void)s;
    struct scenario sc = {true, admin_attached, admin_detach_op, admin_detach_check, false};
    run_every_step(&sc);
}

static void test_admin_pause_crash_at_every_step(void **s)
{
    (void)s;
    struct scenario qmp = {true, admin_attached, admin_pause_op, admin_pause_check, false};
    run_every_step(&qmp);
    struct scenario fallback = {false, admin_attached, admin_pause_op, admin_pause_check, false};
    run_every_step(&fallback);
}

static void test_admin_unpause_crash_at_every_step(void **s)
{
    (void)s;
    struct scenario qmp = {true, admin_paused, admin_unpause_op, admin_unpause_check, false};
    run_every_step(&qmp);
    struct scenario fallback = {false, admin_paused, admin_unpause_op, admin_unpause_check, false};
    run_every_step(&fallback);
}

/* ---- the journal itself: an update that cannot be written leaves the previous intent ---- */
static void test_journal_update_that_fails_keeps_previous_intent(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    struct esfm_ctx *c;
    char err[ESFM_ERR_LEN];
    assert_int_equal(env_ctx(e, false, false, &c, err), 0);
    cJSON *small = cJSON_CreateObject(), *big = cJSON_CreateObject();
    cJSON_AddStringToObject(small, "op", "reconf");
    cJSON_AddNumberToObject(small, "to", 1);
    cJSON_AddStringToObject(big, "op", "reconf");
    char pad[4096];
    memset(pad, 'x', sizeof pad - 1);
    pad[sizeof pad - 1] = '\0';
    cJSON_AddStringToObject(big, "pad", pad);
    struct esfm_journal j = {.fd = -1};
    assert_int_equal(esfm_journal_begin(c, small, &j, err, sizeof err), 0);
    /* A write that stops part way (as on a full disk): files may not grow past 64 bytes. An
     * update in place (truncate, then write) would leave 64 bytes of the new intent. */
    struct rlimit old, lim;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    lim = old;
    lim.rlim_cur = 64;
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    int rc = esfm_journal_update(c, &j, big, err, sizeof err);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(rc, -ENOLCK);
    assert_non_null(strstr(err, "keeps the previous intent"));
    cJSON *in = NULL;
    assert_int_equal(esfm_read_json(j.path, &in), 0);
    assert_int_equal(cJSON_GetObjectItem(in, "to")->valueint, 1);
    assert_null(cJSON_GetObjectItem(in, "pad"));
    cJSON_Delete(in);
    /* and one that can be written replaces it whole */
    assert_int_equal(esfm_journal_update(c, &j, big, err, sizeof err), 0);
    assert_int_equal(esfm_read_json(j.path, &in), 0);
    assert_non_null(cJSON_GetObjectItem(in, "pad"));
    cJSON_Delete(in);
    esfm_journal_end(c, &j);
    assert_int_equal(env_journal_entries(e), 0);
    cJSON_Delete(small);
    cJSON_Delete(big);
    esfm_ctx_free(c);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reconf_crash_at_every_step_with_pause),
        cmocka_unit_test(test_reconf_crash_at_every_step_with_detach_fallback),
        cmocka_unit_test(test_job_attach_crash_at_every_step),
        cmocka_unit_test(test_job_detach_crash_at_every_step),
        cmocka_unit_test(test_init_crash_at_every_step),
        cmocka_unit_test(test_journal_update_that_fails_keeps_previous_intent),
        cmocka_unit_test(test_admin_attach_crash_at_every_step),
        cmocka_unit_test(test_admin_detach_crash_at_every_step),
        cmocka_unit_test(test_admin_pause_crash_at_every_step),
        cmocka_unit_test(test_admin_unpause_crash_at_every_step),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
