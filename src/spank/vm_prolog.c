/* mode=vm job prolog and epilog: this node is a VM. The prolog asks esfmd on the host for the
 * job's VFs over the channel, waits for each at its promised guest address, binds the guest
 * driver, and records guest addresses for the tasks; the epilog releases through esfmd. */
#include "vm.h"

#include "clock.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int release(const struct ks_config *cfg, uint32_t id, char *err, size_t errlen)
{
    char job[16];
    struct esfmd_msg m;
    snprintf(job, sizeof job, "%" PRIu32, id);
    const char *kv[] = {"job", job, NULL};
    return ks_channel_call(cfg, "job-detach", kv, &m, err, errlen);
}

/* Jobs recorded here that Slurm says have ended: their epilog never ran (slurmd crashed). */
static void clean_stale(const struct ks_slurm *s, const struct ks_config *cfg, uint32_t self)
{
    char err[KS_ERR_LEN];
    uint32_t *ids = NULL;
    size_t n = 0;
    if (ks_record_list(cfg->state_dir, &ids, &n, err, sizeof err))
        ks_errorf(s, "kfarm: %s", err);
    for (size_t i = 0; i < n; i++) {
        if (ids[i] == self || s->job_alive(cfg, ids[i]))
            continue;
        if (release(cfg, ids[i], err, sizeof err)) {
            ks_errorf(s, "kfarm: job %" PRIu32 " ended without its epilog; releasing: %s", ids[i],
                      err);
            continue;
        }
        if (ks_record_remove(cfg->state_dir, ids[i], err, sizeof err))
            ks_errorf(s, "kfarm: %s", err);
        ks_infof(s, "kfarm: job %" PRIu32 " ended without its epilog; its VFs are released",
                 ids[i]);
    }
    free(ids);
}

/* Every granted VF present at its guest address and bound: 0, or why not. */
static int settle_vfs(const struct ks_config *cfg, const char *bdfs, unsigned nvfs, char *err,
                      size_t errlen)
{
    char list[KS_LIST_LEN], *save = NULL;
    snprintf(list, sizeof list, "%s", bdfs);
    uint64_t deadline = kf_now_ns() + (uint64_t)atol(cfg->guest_wait_ms) * 1000000ull;
    unsigned k = 0;
    for (char *b = strtok_r(list, ",", &save); b; b = strtok_r(NULL, ",", &save), k++) {
        int rc = ks_guest_wait_vf(cfg->sysfs_root, b, deadline, err, errlen);
        if (!rc && cfg->guest_driver[0])
            rc = ks_guest_bind(cfg->sysfs_root, b, cfg->guest_driver, err, errlen);
        if (rc)
            return rc;
    }
    if (k != nvfs) {
        snprintf(err, errlen, "esfmd granted %u VF(s) (%s), the job asked %u", k, bdfs, nvfs);
        return -EPROTO;
    }
    return 0;
}

static void attach(const struct ks_slurm *s, const struct ks_config *cfg, struct ks_record *rec)
{
    char err[KS_ERR_LEN], job[16], n[12], uid[12];
    snprintf(job, sizeof job, "%" PRIu32, rec->job_id);
    snprintf(n, sizeof n, "%u", rec->nvfs);
    snprintf(uid, sizeof uid, "%u", (unsigned)rec->uid);
    const char *node = s->node_name();
    snprintf(rec->domain, sizeof rec->domain, "%s", node ? node : "");
    const char *kv[] = {"job", job, "vfs", n, "uid", uid, "partition", s->partition(),
                        "bitstream", rec->bitstream[0] ? rec->bitstream : NULL, NULL};
    struct esfmd_msg m;
    if (ks_channel_call(cfg, "job-attach", kv, &m, err, sizeof err))
        goto fail;
    const char *bdfs = esfmd_msg_get(&m, "bdfs");
    if (!bdfs || settle_vfs(cfg, bdfs, rec->nvfs, err, sizeof err)) {
        char e2[KS_ERR_LEN];
        if (!bdfs)
            snprintf(err, sizeof err, "esfmd's reply has no bdfs=");
        if (release(cfg, rec->job_id, e2, sizeof e2))
            ks_errorf(s, "kfarm: job %s: giving the VFs back failed: %s", job, e2);
        goto fail;
    }
    snprintf(rec->guest_bdfs, sizeof rec->guest_bdfs, "%s", bdfs);
    rec->accel = true;
    ks_infof(s, "kfarm: job %s: %u VF(s) from esfmd at guest %s", job, rec->nvfs, bdfs);
    return;
fail:
    rec->accel = false;
    snprintf(rec->reason, sizeof rec->reason, "%s", err);
    ks_infof(s, "kfarm: job %s gets no VFs (fallback %s): %s", job, ks_fallback_name(rec->fallback),
             err);
}

int ks_prolog_vm(const struct ks_slurm *s, const struct ks_config *cfg,
                 const struct ks_request *req)
{
    struct ks_record rec = {.nvfs = req->nvfs, .fallback = req->fallback};
    char err[KS_ERR_LEN];
    if (s->job_id(s->sp, &rec.job_id) || s->job_uid(s->sp, &rec.uid)) {
        ks_errorf(s, "kfarm: prolog: Slurm did not give the job id and uid; nothing attached");
        return 0;
    }
    clean_stale(s, cfg, rec.job_id);
    if (!req->nvfs)
        return 0;
    snprintf(rec.bitstream, sizeof rec.bitstream, "%s", req->bitstream);
    attach(s, cfg, &rec);
    if (ks_record_write(cfg->state_dir, &rec, err, sizeof err)) {
        ks_errorf(s, "kfarm: %s; releasing job %" PRIu32 "'s VFs", err, rec.job_id);
        if (rec.accel && release(cfg, rec.job_id, err, sizeof err))
            ks_errorf(s, "kfarm: %s", err);
    }
    return 0;
}

int ks_epilog_vm(const struct ks_slurm *s, const struct ks_config *cfg,
                 const struct ks_request *req)
{
    uint32_t id;
    char err[KS_ERR_LEN];
    struct ks_record rec;
    if (s->job_id(s->sp, &id)) {
        ks_errorf(s, "kfarm: epilog: Slurm did not give the job id; the next prolog cleans up");
        return 0;
    }
    int have = ks_record_read(cfg->state_dir, id, &rec, err, sizeof err);
    if (have == -ENOENT && !req->nvfs)
        return 0;
    if (release(cfg, id, err, sizeof err)) {
        ks_errorf(s, "kfarm: epilog: job %" PRIu32 ": %s; the next job prolog on this node "
                     "retries (and esfmd releases everything when this VM stops)",
                  id, err);
        return 0;
    }
    if (ks_record_remove(cfg->state_dir, id, err, sizeof err))
        ks_errorf(s, "kfarm: %s", err);
    else
        ks_infof(s, "kfarm: job %" PRIu32 ": VFs released through esfmd", id);
    return 0;
}
