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

static void attach(const struct ks_slurm *s, const struct ks_config *cfg, struct esfm_ctx **ctx,
                   const char *open_err, struct ks_record *rec)
{
    char err[ESFM_ERR_LEN], job[16];
    snprintf(job, sizeof job, "%" PRIu32, rec->job_id);
    const char *node = s->node_name();
    if (!node) {
        snprintf(err, sizeof err, "slurmd did not give this node's name (SLURMD_NODENAME)");
        goto fail;
    }
    if (ks_config_domain(cfg, node, rec->domain, sizeof rec->domain, err, sizeof err))
        goto fail;
    /* srun/sbatch skip the check when users cannot read the policy: it is done here. */
    if (rec->bitstream[0] && esfm_policy_check_request(cfg->policy[0] ? cfg->policy : NULL,
                                                       rec->nvfs, rec->bitstream, err, sizeof err))
        goto fail;
    if (!*ctx) {
        snprintf(err, sizeof err, "%s", open_err);
        goto fail;
    }
    struct esfm_grant *g = calloc(rec->nvfs, sizeof *g);
    if (!g) {
        snprintf(err, sizeof err, "out of memory");
        goto fail;
    }
    struct esfm_job ej = {.job_id = job, .uid = rec->uid, .partition = s->partition()};
    if (esfm_job_attach(*ctx, &ej, rec->domain, rec->nvfs, g, err, sizeof err)) {
        free(g);
        goto fail;
    }
    join_bdfs(g, rec->nvfs, false, rec->host_bdfs, sizeof rec->host_bdfs);
    join_bdfs(g, rec->nvfs, true, rec->guest_bdfs, sizeof rec->guest_bdfs);
    free(g);
    rec->accel = true;
    ks_infof(s, "kfarm: job %s: %u VF(s) on %s: %s", job, rec->nvfs, rec->domain, rec->host_bdfs);
    return;
fail:
    rec->accel = false;
    snprintf(rec->reason, sizeof rec->reason, "%s", err);
    ks_infof(s, "kfarm: job %s gets no VFs (fallback %s): %s", job, ks_fallback_name(rec->fallback),
             err);
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
    /* Opened first when the job asks for VFs, so that the cleanup also sees jobs ESFM holds
     * VFs for without a record. */
    char open_err[ESFM_ERR_LEN] = "";
    if (req->nvfs && ks_esfm_open(s, cfg, &ctx, open_err, sizeof open_err))
        ctx = NULL;
    clean_stale(s, cfg, rec.job_id, &ctx);
    if (!req->nvfs)
        goto out;
    snprintf(rec.bitstream, sizeof rec.bitstream, "%s", req->bitstream);
    attach(s, cfg, &ctx, open_err, &rec);
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
