/* esfm_job_detach: detaches every VF a job holds (shared VFs stay while another job holds them)
 * and forgets the job; idempotent, journaled so that a crash is finished by the next run. */
#include "hv.h"
#include "job.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void job_detach_one(void *arg, size_t i)
{
    struct job_run *r = arg;
    struct job_vf *x = &r->v[i];
    if (!x->fresh || x->skip)
        return;
    x->rc = esfm_vf_detach(r->ctx, x->vf, x->domain, x->alias, x->err, sizeof x->err);
    if (x->rc == -ENOENT)
        x->rc = 0; /* already gone from the VM */
}

/* The VFs recorded for job_id, in *out (malloc'd; *n = 0 and *out = NULL when none). */
static int collect_job_vfs(cJSON *st, const char *job_id, struct job_vf **out, size_t *n, char *err,
                           size_t errlen)
{
    size_t cap = 0;
    struct job_vf *v = NULL;
    cJSON *r;
    *n = 0;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(st, "vfs"))
    {
        if (!job_entry(r, job_id, NULL))
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            struct job_vf *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                free(v);
                return kf_errf(err, errlen, -ENOMEM, "out of memory");
            }
            v = nv;
        }
        struct job_vf *x = &v[(*n)++];
        memset(x, 0, sizeof *x);
        const char *d = esfm_json_str(r, "domain"), *a = esfm_json_str(r, "alias");
        snprintf(x->vf, sizeof x->vf, "%s", r->string);
        snprintf(x->domain, sizeof x->domain, "%s", d ? d : "");
        snprintf(x->alias, sizeof x->alias, "%s", a ? a : "");
        /* Shared VFs stay attached while another job holds them; paused-by-detach ones are
         * already out of the VM. */
        x->fresh = cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "jobs")) == 1;
        const char *pm = esfm_json_str(r, "paused");
        x->skip = pm && strcmp(pm, "detach") == 0;
    }
    *out = v;
    return 0;
}

/* Detaches the n VFs (journaled) and drops the job from the records of those that left. */
static int detach_job_vfs(struct esfm_ctx *ctx, cJSON *st, const char *job_id, struct job_vf *v,
                          size_t n, char *err, size_t errlen)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i].fresh && !v[i].skip && (rc = esfm_check_not_busy(ctx, v[i].vf, err, errlen)))
            return rc;
    cJSON *intent = esfm_intent_new("job-detach", NULL, NULL, NULL);
    cJSON_AddStringToObject(intent, "job", job_id);
    struct esfm_journal j = {.fd = -1};
    rc = esfm_journal_begin(ctx, intent, &j, err, errlen);
    cJSON_Delete(intent);
    if (rc)
        return rc;
    struct job_run run = {ctx, v};
    esfm_run_parallel(ctx->parallel, n, job_detach_one, &run);
    bool lost = false;
    for (size_t i = 0; i < n; i++)
        lost |= v[i].rc != 0;
    lost = lost && esfm_hv_lost(ctx);
    for (size_t i = 0; i < n; i++) {
        if (v[i].rc) {
            if (!rc)
                rc = kf_errf(err, errlen, v[i].rc, "job %s: detaching VF %s from %s: %s", job_id,
                             v[i].vf, v[i].domain, v[i].err);
            continue; /* stays recorded: a retry detaches it */
        }
        job_drop(st, job_id, v[i].vf);
    }
    int wrc = esfm_state_write(ctx, st, err, errlen);
    if (!rc)
        rc = wrc;
    esfm_step(ctx, "job forgotten");
    if (lost) { /* libvirtd went away: the next command finishes the detach from the journal */
        esfm_journal_keep(&j);
        esfm_hv_lost_note(rc, "job-detach", err, errlen);
    } else {
        esfm_journal_end(ctx, &j);
    }
    return rc;
}

int esfm_job_detach(struct esfm_ctx *ctx, const char *job_id, char *err, size_t errlen)
{
    if (!job_id_valid(job_id))
        return kf_errf(err, errlen, -EINVAL,
                       "job id '%s' is invalid (1-63 characters of [A-Za-z0-9_.-])",
                       job_id ? job_id : "");
    int rc = esfm_need_hv(ctx, err, errlen);
    if (rc)
        return rc;
    int fd = esfm_state_lock(ctx, err, errlen);
    if (fd < 0)
        return fd;
    cJSON *st = esfm_state_read(ctx, err, errlen);
    size_t n = 0;
    struct job_vf *v = NULL;
    if (!st)
        rc = -ENOLCK;
    else
        rc = collect_job_vfs(st, job_id, &v, &n, err, errlen);
    /* n == 0: idempotent, nothing recorded for this job */
    if (!rc && n > 0) {
        rc = detach_job_vfs(ctx, st, job_id, v, n, err, errlen);
        if (!rc)
            esfm_logf(ctx, "job %s released %zu VF(s)", job_id, n);
    }
    cJSON_Delete(st);
    esfm_state_unlock(fd);
    free(v);
    return rc;
}
