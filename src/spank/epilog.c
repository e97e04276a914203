/* Job epilog (slurmd, as root, once per job and node at its end however it ended: exit,
 * failure, scancel, time limit): detaches the job's VFs and forgets its record. Idempotent. */
#include "esfm_session.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

int ks_epilog(const struct ks_slurm *s, const struct ks_config *cfg, const struct ks_request *req)
{
    if (ks_config_vm(cfg))
        return ks_epilog_vm(s, cfg, req);
    uint32_t id;
    char err[ESFM_ERR_LEN], job[16];
    struct ks_record rec;
    struct esfm_ctx *ctx = NULL;
    if (s->job_id(s->sp, &id)) {
        ks_errorf(s, "kfarm: epilog: Slurm did not give the job id; the next prolog cleans up");
        return 0;
    }
    int have = ks_record_read(cfg->state_dir, id, &rec, err, sizeof err);
    if (have == -ENOENT && !req->nvfs)
        return 0; /* not an FPGA job */
    if (have && have != -ENOENT)
        ks_errorf(s, "kfarm: %s", err);
    snprintf(job, sizeof job, "%" PRIu32, id);
    if (ks_esfm_open(s, cfg, &ctx, err, sizeof err) || esfm_job_detach(ctx, job, err, sizeof err)) {
        /* The record stays, so that the next prolog on this node retries. */
        ks_errorf(s, "kfarm: epilog: job %s: %s; the next job prolog on this node retries", job,
                  err);
        goto out;
    }
    if (ks_record_remove(cfg->state_dir, id, err, sizeof err))
        ks_errorf(s, "kfarm: %s", err);
    else
        ks_infof(s, "kfarm: job %s: VFs detached", job);
out:
    esfm_ctx_free(ctx);
    return 0;
}
