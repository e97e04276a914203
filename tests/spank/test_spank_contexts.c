/* The context handlers on a FAKE Slurm with the real libesfm on a FAKE sysfs kernel and the FAKE
 * hypervisor (4 VFs, VMs vm1/vm2): prolog attach and record, task environment, fallback, caps
 * across jobs, stale cleanup, idempotent epilog, and the srun/sbatch policy check. */
#include "esfm_test_env.h"
#include "fake_slurm.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BITSTREAMS                                                                                 \
    "\"bitstream_dir\":\"/opt\",\"bitstreams\":[{\"name\":\"ptdr-v1\",\"path\":\"/opt/"            \
    "b.xclbin\",\"sha256\":"                                                                       \
    "\"3f1a9c0e6b2d4f8a7c5e1b9d0a2c4e6f8b1d3f5a7c9e0b2d4f6a8c1e3b5d7f90\"}]"

struct t {
    struct env *e;
    struct ks_config cfg;
    struct fake_slurm f;
    uint32_t alive[16]; /* jobs Slurm says still run */
    size_t nalive;
};

static int setup(void **st)
{
    struct t *t = calloc(1, sizeof *t);
    t->e = env_new(true);
    env_set_numvfs(t->e, 4);
    env_policy(t->e, "{\"vfs\":{\"per_job\":2,\"per_user\":3}," BITSTREAMS "}");
    snprintf(t->cfg.hypervisor, sizeof t->cfg.hypervisor, "%s", t->e->uri);
    snprintf(t->cfg.domain, sizeof t->cfg.domain, "vm%%n"); /* node "1" -> vm1 */
    snprintf(t->cfg.state_dir, sizeof t->cfg.state_dir, "%s/spank", t->e->dir);
    snprintf(t->cfg.esfm_state_dir, sizeof t->cfg.esfm_state_dir, "%s", t->e->state);
    snprintf(t->cfg.sysfs_root, sizeof t->cfg.sysfs_root, "%s", t->e->root);
    snprintf(t->cfg.policy, sizeof t->cfg.policy, "%s", t->e->policy);
    *st = t;
    return 0;
}

static int teardown(void **st)
{
    struct t *t = *st;
    env_free(t->e);
    free(t);
    return 0;
}

/* Runs the prolog of job `job` for uid asking `vfs` VFs (NULL: none) with `fallback`. */
static void prolog(struct t *t, uint32_t job, uid_t uid, const char *vfs, const char *fallback)
{
    fake_slurm_init(&t->f, KS_CTX_JOB_SCRIPT, job, uid);
    memcpy(t->f.alive, t->alive, sizeof t->f.alive);
    t->f.nalive = t->nalive;
    t->f.opts[KS_OPT_VFS] = vfs;
    t->f.opts[KS_OPT_FALLBACK] = fallback;
    struct ks_request req = {0};
    char err[KS_ERR_LEN];
    assert_int_equal(ks_args_from_job(&t->f.s, &req, err, sizeof err), 0);
    assert_int_equal(ks_prolog(&t->f.s, &t->cfg, &req), 0);
}

static void epilog(struct t *t, uint32_t job)
{
    fake_slurm_init(&t->f, KS_CTX_JOB_SCRIPT, job, 0);
    struct ks_request req = {0};
    assert_int_equal(ks_epilog(&t->f.s, &t->cfg, &req), 0);
}

/* A step of job `job` starts: init as root, then the tasks' environment; returns task_init. */
static int step(struct t *t, uint32_t job, unsigned asked, struct ks_remote *rm)
{
    fake_slurm_init(&t->f, KS_CTX_REMOTE, job, 1000);
    struct ks_request req = {.nvfs = asked};
    assert_int_equal(ks_remote_init(&t->f.s, &t->cfg, rm), 0);
    assert_int_equal(ks_remote_user_init(&t->f.s, &req, rm), 0);
    return ks_remote_task_init(&t->f.s, rm);
}

static struct ks_record record(struct t *t, uint32_t job)
{
    struct ks_record r;
    char err[KS_ERR_LEN];
    int rc = ks_record_read(t->cfg.state_dir, job, &r, err, sizeof err);
    if (rc)
        fail_msg("job %u: %s", job, err);
    return r;
}

static bool has_record(struct t *t, uint32_t job)
{
    struct ks_record r;
    char err[KS_ERR_LEN];
    return ks_record_read(t->cfg.state_dir, job, &r, err, sizeof err) == 0;
}

static int vfs_on(struct t *t, const char *domain)
{
    int n = 0;
    const char *vfs[] = {VF0, VF1, VF2, VF3};
    for (int i = 0; i < 4; i++) {
        char d[128] = "";
        if (env_holders(t->e, vfs[i], d) == 1 && strcmp(d, domain) == 0)
            n++;
    }
    return n;
}

static void test_prolog_attaches_once_and_tasks_see_guest_bdfs(void **st)
{
    struct t *t = *st;
    prolog(t, 100, 1000, "2", NULL);
    struct ks_record r = record(t, 100);
    assert_true(r.accel);
    assert_int_equal(r.nvfs, 2);
    assert_string_equal(r.domain, "vm1");
    assert_int_equal(vfs_on(t, "vm1"), 2);
    assert_non_null(strchr(r.guest_bdfs, ','));
    assert_string_not_equal(r.guest_bdfs, r.host_bdfs); /* the VM's addresses, not the host's */

    /* Every step (batch, then srun steps that do not repeat the option) gets the same VFs. */
    for (int i = 0; i < 2; i++) {
        struct ks_remote rm;
        assert_int_equal(step(t, 100, i == 0 ? 2 : 0, &rm), 0);
        assert_string_equal(fake_slurm_env(&t->f, "KFARM_ACCEL"), "1");
        assert_string_equal(fake_slurm_env(&t->f, "KFARM_VF_BDFS"), r.guest_bdfs);
        assert_string_equal(fake_slurm_env(&t->f, "KFARM_ACCEL_REASON"), "");
    }
    assert_int_equal(vfs_on(t, "vm1"), 2); /* steps never attach */

    epilog(t, 100);
    assert_int_equal(vfs_on(t, "vm1"), 0);
    assert_false(has_record(t, 100));
    epilog(t, 100); /* idempotent */
    assert_string_equal(t->f.errors, "");
}

static void test_user_cap_across_jobs_with_cpu_and_fail_fallback(void **st)
{
    struct t *t = *st;
    for (uint32_t j = 1; j <= 6; j++)
        t->alive[t->nalive++] = j;
    prolog(t, 1, 1000, "2", NULL);
    prolog(t, 2, 1000, "1", NULL);
    struct ks_record a = record(t, 1), b = record(t, 2);
    assert_true(a.accel && b.accel);
    assert_null(strstr(a.host_bdfs, b.host_bdfs)); /* disjoint */
    assert_int_equal(vfs_on(t, "vm1"), 3);

    prolog(t, 3, 1000, "1", "fail"); /* over the per-user cap of 3 */
    struct ks_record c = record(t, 3);
    assert_false(c.accel);
    assert_non_null(strstr(c.reason, "per user"));
    struct ks_remote rm;
    assert_int_equal(step(t, 3, 1, &rm), -1); /* tasks do not start */
    assert_string_equal(fake_slurm_env(&t->f, "KFARM_ACCEL"), "0");
    assert_non_null(strstr(fake_slurm_env(&t->f, "KFARM_ACCEL_REASON"), "per user"));
    assert_non_null(strstr(t->f.errors, "--fpga-fallback=fail"));

    prolog(t, 4, 1000, "1", "cpu");
    assert_false(record(t, 4).accel);
    assert_int_equal(step(t, 4, 1, &rm), 0); /* runs on the CPU */
    assert_string_equal(fake_slurm_env(&t->f, "KFARM_ACCEL"), "0");
    assert_string_equal(fake_slurm_env(&t->f, "KFARM_VF_BDFS"), "");

    prolog(t, 5, 2000, "1", NULL); /* another user gets the last VF */
    assert_true(record(t, 5).accel);
    prolog(t, 6, 3000, "1", NULL); /* none left */
    assert_non_null(strstr(record(t, 6).reason, "free"));
    assert_int_equal(vfs_on(t, "vm1"), 4);
    for (uint32_t j = 1; j <= 6; j++)
        epilog(t, j);
    assert_int_equal(vfs_on(t, "vm1"), 0);
}

static void test_next_prolog_releases_jobs_that_ended_without_epilog(void **st)
{
    struct t *t = *st;
    prolog(t, 7, 1000, "2", NULL);
    /* Job 7 still runs: other jobs' prologs leave it alone. */
    t->alive[t->nalive++] = 7;
    prolog(t, 8, 1000, NULL, NULL);
    prolog(t, 13, 2000, "1", NULL);
    assert_int_equal(vfs_on(t, "vm1"), 3);
    epilog(t, 13);
    assert_int_equal(vfs_on(t, "vm1"), 2);
    /* Job 7 ended without its epilog: the next prolog (any job) gives its VFs back. */
    t->nalive = 0;
    prolog(t, 9, 1000, NULL, NULL);
    assert_int_equal(vfs_on(t, "vm1"), 0);
    assert_false(has_record(t, 7));
    assert_non_null(strstr(t->f.infos, "job 7 ended without its epilog"));

    /* A prolog that died between ESFM's attach and the record: ESFM knows the job. */
    struct esfm_ctx *ctx;
    char err[ESFM_ERR_LEN];
    assert_int_equal(env_ctx(t->e, false, false, &ctx, err), 0);
    struct esfm_grant g[1];
    struct esfm_job j = {.job_id = "11", .uid = 1000};
    assert_int_equal(esfm_job_attach(ctx, &j, "vm1", 1, g, err, sizeof err), 0);
    esfm_ctx_free(ctx);
    prolog(t, 12, 1000, "2", NULL);
    assert_true(record(t, 12).accel);
    assert_int_equal(vfs_on(t, "vm1"), 2); /* job 11's VF went back; job 12 holds 2 */
    assert_non_null(strstr(t->f.infos, "job 11 ended without its epilog"));
    epilog(t, 12);
}

static void test_prolog_never_fails_and_tells_the_tasks_why(void **st)
{
    struct t *t = *st;
    fake_slurm_init(&t->f, KS_CTX_JOB_SCRIPT, 20, 1000);
    t->f.no_ids = true;
    struct ks_request req = {.nvfs = 1};
    assert_int_equal(ks_prolog(&t->f.s, &t->cfg, &req), 0);
    assert_non_null(strstr(t->f.errors, "job id"));
    assert_false(has_record(t, 20));

    /* A bitstream the policy does not allow (srun/sbatch could not read the policy). */
    fake_slurm_init(&t->f, KS_CTX_JOB_SCRIPT, 22, 1000);
    t->f.opts[KS_OPT_VFS] = "1";
    t->f.opts[KS_OPT_BITSTREAM] = "other";
    struct ks_request bad = {0};
    char err[KS_ERR_LEN];
    assert_int_equal(ks_args_from_job(&t->f.s, &bad, err, sizeof err), 0);
    assert_int_equal(ks_prolog(&t->f.s, &t->cfg, &bad), 0);
    assert_false(record(t, 22).accel);
    assert_non_null(strstr(record(t, 22).reason, "allowed: ptdr-v1"));
    assert_int_equal(vfs_on(t, "vm1"), 0);
    /* No node name from slurmd. */
    fake_slurm_init(&t->f, KS_CTX_JOB_SCRIPT, 23, 1000);
    t->f.node = NULL;
    t->f.opts[KS_OPT_VFS] = "1";
    assert_int_equal(ks_args_from_job(&t->f.s, &bad, err, sizeof err), 0);
    assert_int_equal(ks_prolog(&t->f.s, &t->cfg, &bad), 0);
    assert_non_null(strstr(record(t, 23).reason, "SLURMD_NODENAME"));

    snprintf(t->cfg.hypervisor, sizeof t->cfg.hypervisor, "fake:///nonexistent/dir/hv.json");
    prolog(t, 21, 1000, "1", NULL);
    struct ks_record r = record(t, 21);
    assert_false(r.accel);
    assert_string_not_equal(r.reason, "");
    struct ks_remote rm;
    assert_int_equal(step(t, 21, 0, &rm), 0);
    assert_string_equal(fake_slurm_env(&t->f, "KFARM_ACCEL"), "0");
    assert_string_equal(fake_slurm_env(&t->f, "KFARM_ACCEL_REASON"), r.reason);
    epilog(t, 21); /* ESFM holds nothing for the job: done */
    assert_false(has_record(t, 21));
}

static void test_steps_without_record(void **st)
{
    struct t *t = *st;
    struct ks_remote rm;
    assert_int_equal(step(t, 30, 0, &rm), 0); /* no FPGA job: environment untouched */
    assert_int_equal(t->f.nenv, 0);
    assert_int_equal(step(t, 31, 1, &rm), 0); /* asked, but the prolog did not run */
    assert_string_equal(fake_slurm_env(&t->f, "KFARM_ACCEL"), "0");
    assert_non_null(strstr(fake_slurm_env(&t->f, "KFARM_ACCEL_REASON"), "no record"));
}

static void test_srun_sbatch_check_says_what_is_allowed(void **st)
{
    struct t *t = *st;
    fake_slurm_init(&t->f, KS_CTX_LOCAL, 0, 1000);
    struct ks_request req = {.nvfs = 2};
    assert_int_equal(ks_local_check(&t->f.s, &t->cfg, &req), 0);
    snprintf(req.bitstream, sizeof req.bitstream, "ptdr-v1");
    assert_int_equal(ks_local_check(&t->f.s, &t->cfg, &req), 0);
    req.nvfs = 999;
    assert_int_equal(ks_local_check(&t->f.s, &t->cfg, &req), -1);
    assert_non_null(strstr(t->f.errors, "the policy allows 1 to 2 per job"));
    req.nvfs = 1;
    snprintf(req.bitstream, sizeof req.bitstream, "other");
    assert_int_equal(ks_local_check(&t->f.s, &t->cfg, &req), -1);
    assert_non_null(strstr(t->f.errors, "allowed: ptdr-v1"));
    req.nvfs = 0;
    assert_int_equal(ks_local_check(&t->f.s, &t->cfg, &req), -1);
    assert_non_null(strstr(t->f.errors, "needs --fpga-vfs=N"));
    /* No policy: the plugin's own bound. */
    t->cfg.policy[0] = '\0';
    struct ks_request many = {.nvfs = KS_MAX_VFS + 1};
    assert_int_equal(ks_local_check(&t->f.s, &t->cfg, &many), -1);
    assert_non_null(strstr(t->f.errors, "1 to 256"));
    /* A policy users cannot read is left to the prolog. */
    snprintf(t->cfg.policy, sizeof t->cfg.policy, "%s/missing.json", t->e->dir);
    req.bitstream[0] = '\0';
    req.nvfs = 3;
    assert_int_equal(ks_local_check(&t->f.s, &t->cfg, &req), 0);
}

/* A job's environment is the user's: the handlers take job id and uid from Slurm (the fake's
 * spank_get_item) even when SLURM_JOB_ID/SLURM_JOB_UID in the process environment say another
 * job (the real plugin's prolog/epilog environment is slurmd's, but nothing may depend on it). */
static void test_job_identity_ignores_the_environment(void **st)
{
    struct t *t = *st;
    t->alive[t->nalive++] = 100;
    t->alive[t->nalive++] = 200;
    prolog(t, 100, 1000, "2", NULL);
    struct ks_record a = record(t, 100);
    assert_true(a.accel);
    setenv("SLURM_JOB_ID", "100", 1);
    setenv("SLURM_JOBID", "100", 1);
    setenv("SLURM_JOB_UID", "1000", 1);
    prolog(t, 200, 2000, "1", NULL);
    struct ks_record b = record(t, 200);
    assert_true(b.accel);
    assert_int_equal(b.job_id, 200);
    assert_int_equal(b.uid, 2000);
    assert_null(strstr(a.host_bdfs, b.host_bdfs));
    assert_string_equal(record(t, 100).host_bdfs, a.host_bdfs);
    struct ks_remote rm;
    assert_int_equal(step(t, 200, 1, &rm), 0);
    assert_string_equal(fake_slurm_env(&t->f, "KFARM_VF_BDFS"), b.guest_bdfs);
    epilog(t, 200);
    assert_false(has_record(t, 200));
    assert_int_equal(vfs_on(t, "vm1"), 2); /* job 100's two VFs stay */
    assert_string_equal(record(t, 100).host_bdfs, a.host_bdfs);
    unsetenv("SLURM_JOB_ID");
    unsetenv("SLURM_JOBID");
    unsetenv("SLURM_JOB_UID");
    epilog(t, 100);
    assert_int_equal(vfs_on(t, "vm1"), 0);
}

/* With gres=fpgavf the prolog attaches what Slurm allocated on the node (FAKE scontrol), not what
 * --fpga-vfs said: --gres by hand works the same, no GRES means no VF, and a job that is not an
 * FPGA job here leaves no record. */
static void prolog_gres(struct t *t, uint32_t job, uid_t uid, const char *vfs, unsigned count)
{
    snprintf(t->cfg.gres, sizeof t->cfg.gres, "fpgavf");
    fake_slurm_init(&t->f, KS_CTX_JOB_SCRIPT, job, uid);
    memcpy(t->f.alive, t->alive, sizeof t->f.alive);
    t->f.nalive = t->nalive;
    t->f.opts[KS_OPT_VFS] = vfs;
    t->f.gres = (struct ks_gres_alloc){.on_node = true, .count = count};
    struct ks_request req = {0};
    char err[KS_ERR_LEN];
    assert_int_equal(ks_args_from_job(&t->f.s, &req, err, sizeof err), 0);
    assert_int_equal(ks_prolog(&t->f.s, &t->cfg, &req), 0);
}

static void test_gres_count_is_what_slurm_allocated(void **st)
{
    struct t *t = *st;
    prolog_gres(t, 10, 1000, "1", 2);
    struct ks_record r = record(t, 10);
    assert_true(r.accel);
    assert_int_equal(r.nvfs, 2);
    assert_int_equal(vfs_on(t, "vm1"), 2);
    epilog(t, 10);
    prolog_gres(t, 11, 1000, NULL, 1); /* --gres=fpgavf:1 by hand */
    r = record(t, 11);
    assert_true(r.accel);
    assert_int_equal(vfs_on(t, "vm1"), 1);
    struct ks_remote rm;
    assert_int_equal(step(t, 11, 0, &rm), 0);
    assert_string_equal(fake_slurm_env(&t->f, "KFARM_ACCEL"), "1");
    epilog(t, 11);
    prolog_gres(t, 12, 1000, "1", 0); /* --fpga-vfs without the GRES (no cli_filter) */
    r = record(t, 12);
    assert_false(r.accel);
    assert_non_null(strstr(r.reason, "Slurm allocated it no fpgavf GRES on node 1"));
    assert_string_equal(t->f.drained, "");
    assert_int_equal(vfs_on(t, "vm1"), 0);
    epilog(t, 12);
    prolog_gres(t, 13, 1000, NULL, 0);
    assert_false(has_record(t, 13));
}

/* ESFM has fewer free VFs than Slurm allocated: the node is drained with the reason; a policy
 * refusal (the user's cap) is not the node's fault and drains nothing. */
static void test_gres_mismatch_drains_the_node_policy_does_not(void **st)
{
    struct t *t = *st;
    t->alive[0] = 20, t->alive[1] = 22, t->nalive = 2; /* the jobs holding VFs still run */
    prolog_gres(t, 20, 1000, "2", 2);
    assert_true(record(t, 20).accel);
    prolog_gres(t, 21, 1000, "2", 2); /* per_user 3: refused by the policy */
    struct ks_record r = record(t, 21);
    assert_false(r.accel);
    assert_string_equal(t->f.drained, "");
    prolog_gres(t, 22, 1001, "2", 2);
    assert_true(record(t, 22).accel);
    prolog_gres(t, 23, 1002, "1", 1); /* Slurm thinks one is free; ESFM has none */
    r = record(t, 23);
    assert_false(r.accel);
    assert_non_null(strstr(r.reason, "only 0 are free"));
    assert_non_null(strstr(r.reason, "(node 1 drained)"));
    assert_non_null(strstr(t->f.drained, "1: job 23 asks for 1 VFs but only 0 are free"));
}

static void prolog_bitstream(struct t *t, uint32_t job, const char *bitstream)
{
    fake_slurm_init(&t->f, KS_CTX_JOB_SCRIPT, job, 1000);
    memcpy(t->f.alive, t->alive, sizeof t->f.alive);
    t->f.nalive = t->nalive;
    t->f.opts[KS_OPT_VFS] = "1";
    t->f.opts[KS_OPT_BITSTREAM] = bitstream;
    struct ks_request req = {0};
    char err[KS_ERR_LEN];
    assert_int_equal(ks_args_from_job(&t->f.s, &req, err, sizeof err), 0);
    assert_int_equal(ks_prolog(&t->f.s, &t->cfg, &req), 0);
}

/* A job naming a bitstream gets VFs of a PF that runs it (ESFM's record of what it flashed). With
 * reflash=never a PF with another bitstream gives the fallback with why; with reflash=allow an
 * idle PF is re-flashed by the prolog (FAKE flasher: /bin/cp), a PF with VFs in use is not. */
static void write_file(const char *dir, const char *name, const char *text, char *path, size_t len)
{
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_bitstream_matched_and_idle_pf_reflashed(void **st)
{
    struct t *t = *st;
    char v1[400], v2[400], pol[4096], err[ESFM_ERR_LEN], name[ESFM_BITSTREAM_NAME_LEN], sha[65];
    write_file(t->e->dir, "v1.bit", "abc", v1, sizeof v1);
    write_file(t->e->dir, "v2.bit", "def", v2, sizeof v2);
    snprintf(pol, sizeof pol,
             "{\"vfs\":{\"per_job\":2,\"per_user\":4},\"bitstream_dir\":\"%s\",\"bitstreams\":["
             "{\"name\":\"v1\",\"path\":\"%s\",\"sha256\":"
             "\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"},"
             "{\"name\":\"v2\",\"path\":\"%s\",\"sha256\":"
             "\"cb8379ac2098aa165029e3938a51da0bcecfc008fd6795f401178647f96c5b34\"}],"
             "\"flash_command\":[\"/bin/cp\",\"{bitstream}\",\"%s/flashed-{pf}\"]}",
             t->e->dir, v1, v2, t->e->dir);
    env_policy(t->e, pol);
    struct esfm_ctx *c = NULL;
    assert_int_equal(env_ctx(t->e, true, false, &c, err), 0);
    assert_int_equal(esfm_init(c, PF, 4, "v1", NULL, err, sizeof err), 0);

    t->alive[0] = 31, t->nalive = 1;
    prolog_bitstream(t, 30, "v2");
    struct ks_record r = record(t, 30);
    assert_false(r.accel);
    assert_non_null(strstr(r.reason, "PF 0000:01:00.0 has bitstream v1, the job asks for v2"));
    assert_non_null(strstr(r.reason, "reflash=allow"));
    epilog(t, 30);

    snprintf(t->cfg.reflash, sizeof t->cfg.reflash, "allow");
    prolog_bitstream(t, 31, "v2");
    assert_true(record(t, 31).accel);
    assert_int_equal(esfm_pf_bitstream(c, PF, name, sha), 0);
    assert_string_equal(name, "v2");
    assert_non_null(strstr(t->f.infos, "re-flashed PF 0000:01:00.0 with v2 (it had v1)"));
    char path[600];
    snprintf(path, sizeof path, "%s/flashed-%s", t->e->dir, PF);
    char *flashed = env_read_file(path);
    assert_non_null(flashed);
    assert_string_equal(flashed, "def");
    free(flashed);

    prolog_bitstream(t, 32, "v1"); /* job 31 holds a VF of the PF */
    r = record(t, 32);
    assert_false(r.accel);
    assert_non_null(strstr(r.reason, "1 of its VFs are in use: it cannot be re-flashed now"));
    assert_string_equal(t->f.drained, "");
    prolog_bitstream(t, 33, "v2");
    assert_true(record(t, 33).accel);
    esfm_ctx_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_prolog_attaches_once_and_tasks_see_guest_bdfs, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_user_cap_across_jobs_with_cpu_and_fail_fallback, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_next_prolog_releases_jobs_that_ended_without_epilog,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_prolog_never_fails_and_tells_the_tasks_why, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_steps_without_record, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gres_count_is_what_slurm_allocated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bitstream_matched_and_idle_pf_reflashed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_gres_mismatch_drains_the_node_policy_does_not, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_job_identity_ignores_the_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_srun_sbatch_check_says_what_is_allowed, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
