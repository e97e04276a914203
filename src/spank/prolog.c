/* Job prolog (slurmd, as root, once per job and node before any task): cleans what jobs that
 * ended without an epilog left, attaches the job's VFs through ESFM and records the outcome. */
#include "esfm_session.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A job another prolog recorded but Slurm says has ended: its epilog never ran here (slurmd
 * crashed, the node rebooted). Its VFs go back to the pool. */
static void release_job(const struct ks_slurm *s, const struct ks_config *cfg, struct esfm_ctx *ctx,
                        uint32_t id)
{
    char job[16], err[ESFM_ERR_LEN];
    snprintf(job, sizeof job, "%" PRIu32, id);
    if (esfm_job_detach(ctx, job, err, sizeof err)) {
        ks_errorf(s, "kfarm: job %s ended without its epilog and its VFs could not be detached: %s",
                  job, err);
        return;
    }
    if (ks_record_remove(cfg->state_dir, id, err, sizeof err))
        ks_errorf(s, "kfarm: %s", err);
    ks_infof(s, "kfarm: job %s ended without its epilog; its VFs are detached", job);
}

static bool listed(const uint32_t *ids, size_t n, uint32_t id)
{
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id)
            return true;
    return false;
}

/* *ctx is opened on the first stale job when NULL; the caller frees it. */
static void clean_stale(const struct ks_slurm *s, const struct ks_config *cfg, uint32_t self,
                        struct esfm_ctx **ctx)
{
    char err[ESFM_ERR_LEN];
    uint32_t *ids = NULL;
    size_t n = 0;
    if (ks_record_list(cfg->state_dir, &ids, &n, err, sizeof err))
        ks_errorf(s, "kfarm: %s", err);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == self || s->job_alive(cfg, ids[i]))
            continue;
        if (!*ctx && ks_esfm_open(s, cfg, ctx, err, sizeof err)) {
            ks_errorf(s, "kfarm: cannot clean job %" PRIu32 ": %s", ids[i], err);
            break;
        }
        release_job(s, cfg, *ctx, ids[i]);
    }
    /* Jobs ESFM holds VFs for without a record: a prolog that died between attach and record. */
    struct esfm_vf_info *vfs = NULL;
    size_t nv = 0;
    if (*ctx && esfm_list_vfs(*ctx, NULL, &vfs, &nv, err, sizeof err) == 0) {
        for (size_t i = 0; i < nv; i++) {
            char *end;
            unsigned long id = strtoul(vfs[i].job_id, &end, 10);
            if (!vfs[i].job_id[0] || *end || id > UINT32_MAX || id == self ||
                listed(ids, n, (uint32_t)id) || s->job_alive(cfg, (uint32_t)id))
                continue;
            release_job(s, cfg, *ctx, (uint32_t)id);
        }
    }
    free(vfs);
    free(ids);
}

static void join_bdfs(const struct esfm_grant *g, unsigned n, bool guest, char *out, size_t len)
{
    size_t o = 0;
    out[0] = '\0';
    for (unsigned i = 0; i < n && o < len; i++)
        o += (size_t)snprintf(out + o, len - o, "%s%s", i ? "," : "",
                              guest && g[i].guest_bdf[0] ? g[i].guest_bdf : g[i].vf_bdf);
}

/* Returns 0 attached, or the error (rec->reason says why); -ENOTCONN: ESFM could not be opened. */
static int attach(const struct ks_slurm *s, const struct ks_config *cfg, struct esfm_ctx **ctx,
                  const char *open_err, struct ks_record *rec)
{
    char err[ESFM_ERR_LEN], job[16];
    int rc = -EINVAL;
    snprintf(job, sizeof job, "%" PRIu32, rec->job_id);
    const char *node = s->node_name();
    if (!node) {
        snprintf(err, sizeof err, "slurmd did not give this node's name (SLURMD_NODENAME)");
        goto fail;
    }
    if (ks_config_domain(cfg, node, rec->domain, sizeof rec->domain, err, sizeof err))
        goto fail;
    /* srun/sbatch skip the check when users cannot read the policy: it is done here. */
    if (rec->bitstream[0] &&
        (rc = esfm_policy_check_request(cfg->policy[0] ? cfg->policy : NULL, rec->nvfs,
                                        rec->bitstream, err, sizeof err)))
        goto fail;
    if (!*ctx) {
        snprintf(err, sizeof err, "%s", open_err);
        rc = -ENOTCONN;
        goto fail;
    }
    if (rec->bitstream[0] &&
        (rc = ks_bitstream_ready(s, cfg, *ctx, rec->bitstream, err, sizeof err)))
        goto fail;
    struct esfm_grant *g = calloc(rec->nvfs, sizeof *g);
    if (!g) {
        snprintf(err, sizeof err, "out of memory");
        rc = -ENOMEM;
        goto fail;
    }
    struct esfm_job ej = {.job_id = job, .uid = rec->uid, .partition = s->partition()};
    if ((rc = esfm_job_attach(*ctx, &ej, rec->domain, rec->nvfs, g, err, sizeof err))) {
        free(g);
        goto fail;
    }
    join_bdfs(g, rec->nvfs, false, rec->host_bdfs, sizeof rec->host_bdfs);
    join_bdfs(g, rec->nvfs, true, rec->guest_bdfs, sizeof rec->guest_bdfs);
    free(g);
    rec->accel = true;
    ks_infof(s, "kfarm: job %s: %u VF(s) on %s: %s", job, rec->nvfs, rec->domain, rec->host_bdfs);
    return 0;
fail:
    rec->accel = false;
    snprintf(rec->reason, sizeof rec->reason, "%s", err);
    return rc ? rc : -EINVAL;
}

/* With VFs as a Slurm GRES, the count is what slurmctld allocated on this node, whatever the job
 * wrote (--fpga-vfs through the cli_filter, or --gres=fpgavf:N by hand). false: nothing to
 * attach and no record to write (not an FPGA job here). */
static bool take_gres_count(const struct ks_slurm *s, const struct ks_config *cfg,
                            struct ks_record *rec)
{
    char err[KS_ERR_LEN];
    struct ks_gres_alloc a;
    const char *node = s->node_name();
    int rc = node ? s->gres_alloc(cfg, rec->job_id, node, &a, err, sizeof err) : -EINVAL;
    if (rc) {
        if (!node)
            snprintf(err, sizeof err, "slurmd did not give this node's name (SLURMD_NODENAME)");
        snprintf(rec->reason, sizeof rec->reason, "%s", err);
        /* A job with --gres by hand but no --fpga-vfs gets nothing here: say so in the log. */
        ks_errorf(s, "kfarm: job %" PRIu32 ": %s", rec->job_id, err);
        return rec->nvfs > 0;
    }
    if (!a.count) {
        snprintf(rec->reason, sizeof rec->reason,
                 "the job asked for %u VFs but Slurm allocated it no %s GRES on node %s (submit "
                 "through kfarm's cli_filter, or with --gres=%s:N)",
                 rec->nvfs, cfg->gres, node, cfg->gres);
        return rec->nvfs > 0;
    }
    rec->nvfs = a.count;
    if (a.type[0] && !rec->bitstream[0])
        snprintf(rec->bitstream, sizeof rec->bitstream, "%s", a.type);
    return true;
}

/* ESFM's VFs are not what slurmctld counts (fewer free than it allocated: an admin took one by
 * hand, a VF failed), or ESFM cannot be reached: the node must get no more FPGA jobs until an
 * admin looked. Policy refusals (a user's cap) are the job's business, not the node's. */
static bool node_problem(int rc)
{
    return rc == -ENOTCONN || rc == -EBUSY || rc == -EREMOTEIO || rc == -EIO || rc == -ENOLCK ||
           rc == -ENOENT;
}

static void drain_for(const struct ks_slurm *s, const struct ks_config *cfg, struct ks_record *rec)
{
    char err[KS_ERR_LEN];
    const char *node = s->node_name();
    if (!node)
        return;
    if (s->drain_node(cfg, node, rec->reason, err, sizeof err)) {
        ks_errorf(s, "kfarm: job %" PRIu32 ": %s", rec->job_id, err);
        return;
    }
    ks_errorf(s, "kfarm: node %s drained: %s", node, rec->reason);
    size_t n = strlen(rec->reason);
    snprintf(rec->reason + n, sizeof rec->reason - n, " (node %s drained)", node);
}

int ks_prolog(const struct ks_slurm *s, const struct ks_config *cfg, const struct ks_request *req)
{
    if (ks_config_vm(cfg))
        return ks_prolog_vm(s, cfg, req);
    struct ks_record rec = {.nvfs = req->nvfs, .fallback = req->fallback};
    struct esfm_ctx *ctx = NULL;
    char err[ESFM_ERR_LEN];
    if (s->job_id(s->sp, &rec.job_id) || s->job_uid(s->sp, &rec.uid)) {
        ks_errorf(s, "kfarm: prolog: Slurm did not give the job id and uid; nothing attached");
        return 0;
    }
    snprintf(rec.bitstream, sizeof rec.bitstream, "%s", req->bitstream);
    bool fpga_job = cfg->gres[0] ? take_gres_count(s, cfg, &rec) : rec.nvfs > 0;
    bool gres_known = !rec.reason[0]; /* take_gres_count says why when it could not tell */
    /* Opened first when the job asks for VFs, so that the cleanup also sees jobs ESFM holds
     * VFs for without a record. */
    char open_err[ESFM_ERR_LEN] = "";
    if (fpga_job && ks_esfm_open(s, cfg, &ctx, open_err, sizeof open_err))
        ctx = NULL;
    clean_stale(s, cfg, rec.job_id, &ctx);
    if (!fpga_job)
        goto out;
    int rc = gres_known ? attach(s, cfg, &ctx, open_err, &rec) : -EINVAL;
    if (rc && cfg->gres[0] && node_problem(rc))
        drain_for(s, cfg, &rec);
    if (rc)
        ks_infof(s, "kfarm: job %" PRIu32 " gets no VFs (fallback %s): %s", rec.job_id,
                 ks_fallback_name(rec.fallback), rec.reason);
    if (ks_record_write(cfg->state_dir, &rec, err, sizeof err)) {
        /* Without a record the tasks cannot learn the VFs: give them back now. */
        ks_errorf(s, "kfarm: %s; detaching job %" PRIu32 "'s VFs", err, rec.job_id);
        char job[16];
        snprintf(job, sizeof job, "%" PRIu32, rec.job_id);
        if (rec.accel && esfm_job_detach(ctx, job, err, sizeof err))
            ks_errorf(s, "kfarm: %s", err);
    }
out:
    esfm_ctx_free(ctx);
    return 0;
}
