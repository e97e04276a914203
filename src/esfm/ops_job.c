/* The job API the SPANK plugin calls: attach N free VFs to a job's VM within the policy's
 * budgets (all or nothing, in parallel), and detach everything a job holds (idempotent). */
#include "hv.h"
#include "internal.h"
#include "policy.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_JOB_VFS 256

static bool valid_job_id(const char *s)
{
    if (!s || !*s || strlen(s) > 63)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_.-", *s))
            return false;
    return true;
}

static cJSON *job_entry(cJSON *rec, const char *job_id, int *idx)
{
    int i = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(rec, "jobs"))
    {
        const char *j = esfm_json_str(e, "job");
        if (j && strcmp(j, job_id) == 0) {
            if (idx)
                *idx = i;
            return e;
        }
        i++;
    }
    return NULL;
}

/* Removes job_id from every record; records left without jobs that it created are deleted.
 * Returns how many records mention the job. */
static void drop_job(cJSON *st, const char *job_id, const char *only_vf)
{
    cJSON *vfs = cJSON_GetObjectItemCaseSensitive(st, "vfs");
    cJSON *r = vfs ? vfs->child : NULL;
    while (r) {
        cJSON *next = r->next;
        int idx;
        if ((!only_vf || strcmp(r->string, only_vf) == 0) && job_entry(r, job_id, &idx)) {
            cJSON_DeleteItemFromArray(cJSON_GetObjectItemCaseSensitive(r, "jobs"), idx);
            if (cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "jobs")) == 0)
                cJSON_DeleteItemFromObjectCaseSensitive(vfs, r->string);
        }
        r = next;
    }
}

static int count_usage(cJSON *st, const struct esfm_job *job, int *user, int *part)
{
    *user = *part = 0;
    cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(st, "vfs"))
    {
        bool u = false, p = false;
        cJSON *e;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(r, "jobs"))
        {
            cJSON *uid = cJSON_GetObjectItemCaseSensitive(e, "uid");
            const char *pp = esfm_json_str(e, "partition");
            if (cJSON_IsNumber(uid) && (uid_t)uid->valuedouble == job->uid)
                u = true;
            if (job->partition && pp && strcmp(pp, job->partition) == 0)
                p = true;
        }
        *user += u;
        *part += p;
    }
    return 0;
}

struct job_vf {
    char vf[ESFM_BDF_LEN], alias[ESFM_ALIAS_LEN], guest[ESFM_BDF_LEN], domain[128];
    bool fresh; /* attached now (false: a shared VF the domain already has) */
    bool skip;
    int rc;
    char err[ESFM_ERR_LEN];
};

struct job_run {
    struct esfm_ctx *ctx;
    struct job_vf *v;
};

static void attach_one(void *arg, size_t i)
{
    struct job_run *r = arg;
    struct job_vf *x = &r->v[i];
    if (x->fresh)
        x->rc = esfm_vf_attach(r->ctx, x->vf, x->domain, x->guest, x->err, sizeof x->err);
}

static void detach_one(void *arg, size_t i)
{
    struct job_run *r = arg;
    struct job_vf *x = &r->v[i];
    if (!x->fresh || x->skip)
        return;
    x->rc = esfm_vf_detach(r->ctx, x->vf, x->domain, x->alias, x->err, sizeof x->err);
    if (x->rc == -ENOENT)
        x->rc = 0; /* already gone from the VM */
}

static int check_budget(struct esfm_ctx *ctx, cJSON *st, const struct esfm_job *job, unsigned nvfs,
                        char *err, size_t errlen)
{
    const struct esfm_policy *p = ctx->policy;
    if (p->per_job >= 0 && nvfs > (unsigned)p->per_job)
        return esfm_fail(err, errlen, -EACCES,
                         "job %s asks for %u VFs; the policy allows %d per job", job->job_id, nvfs,
                         p->per_job);
    int user, part;
    count_usage(st, job, &user, &part);
    if (p->per_user >= 0 && (unsigned)user + nvfs > (unsigned)p->per_user)
        return esfm_fail(err, errlen, -EACCES,
                         "user %u holds %d VFs and asks %u more; the policy allows %d per user",
                         (unsigned)job->uid, user, nvfs, p->per_user);
    int cap = esfm_policy_partition_cap(p, job->partition);
    if (cap >= 0 && (unsigned)part + nvfs > (unsigned)cap)
        return esfm_fail(err, errlen, -EACCES,
                         "partition %s holds %d VFs and job %s asks %u more; the policy allows "
                         "%d",
                         job->partition ? job->partition : "(none)", part, job->job_id, nvfs, cap);
    return 0;
}

/* Chooses nvfs VFs: free ones, or in shared mode ones this domain already holds for jobs. */
static size_t choose_vfs(struct esfm_ctx *ctx, cJSON *st, const struct esfm_hostdev *h, size_t nh,
                         const char *domain, unsigned nvfs, struct job_vf *out)
{
    char(*pfs)[ESFM_BDF_LEN];
    size_t npf, k = 0;
    if (esfm_pci_list_pfs(ctx, &pfs, &npf))
        return 0;
    for (int pass = 0; pass < 2 && k < nvfs; pass++) {
        if (pass == 0 && !ctx->policy->shared)
            continue;
        for (size_t p = 0; p < npf && k < nvfs; p++) {
            char(*vfs)[ESFM_BDF_LEN];
            size_t nv;
            if (esfm_pci_list_vfs(ctx, pfs[p], &vfs, &nv))
                continue;
            for (size_t i = 0; i < nv && k < nvfs; i++) {
                cJSON *r = esfm_state_vf(st, vfs[i]);
                bool take;
                if (pass == 0) { /* shared: reuse what the domain already holds for jobs */
                    const char *d = r ? esfm_json_str(r, "domain") : NULL;
                    take = r && d && strcmp(d, domain) == 0 &&
                           !cJSON_GetObjectItemCaseSensitive(r, "pending") &&
                           !esfm_json_str(r, "paused") &&
                           cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "jobs")) > 0;
                } else {
                    take = !r && !esfm_hostdev_find(h, nh, vfs[i]);
                }
                if (!take)
                    continue;
                struct job_vf *x = &out[k++];
                memset(x, 0, sizeof *x);
                snprintf(x->vf, sizeof x->vf, "%s", vfs[i]);
                snprintf(x->domain, sizeof x->domain, "%s", domain);
                esfm_alias_for(x->vf, x->alias);
                x->fresh = pass == 1;
                if (!x->fresh) {
                    const char *g = esfm_json_str(r, "guest");
                    snprintf(x->guest, sizeof x->guest, "%s", g ? g : "");
                }
            }
            free(vfs);
        }
    }
    free(pfs);
    return k;
}

/* Pins fresh VFs at free addresses of the reserved guest buses (when the admin reserved some). */
static int pin_guests(struct esfm_ctx *ctx, cJSON *st, const struct esfm_hostdev *h, size_t nh,
                      const char *domain, struct job_vf *v, size_t k, char *err, size_t errlen)
{
    if (!ctx->guest_buses)
        return 0;
    char(*taken)[ESFM_BDF_LEN] = calloc(k, sizeof *taken);
    if (!taken)
        return esfm_fail(err, errlen, -ENOMEM, "out of memory");
    size_t nt = 0;
    int rc = 0;
    for (size_t i = 0; !rc && i < k; i++) {
        if (!v[i].fresh)
            continue;
        rc = esfm_guest_pick(ctx, st, h, nh, domain, taken, nt, v[i].guest, err, errlen);
        if (!rc)
            memcpy(taken[nt++], v[i].guest, ESFM_BDF_LEN);
    }
    free(taken);
    return rc;
}

static cJSON *job_json(const struct esfm_job *job)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "job", job->job_id);
    cJSON_AddNumberToObject(e, "uid", (double)job->uid);
    if (job->partition)
        cJSON_AddStringToObject(e, "partition", job->partition);
    return e;
}

static int job_attach(struct esfm_ctx *ctx, const struct esfm_job *job, const char *domain,
                      unsigned nvfs, struct esfm_grant *grants, char *err, size_t errlen)
{
    if (!job || !valid_job_id(job->job_id))
        return esfm_fail(err, errlen, -EINVAL,
                         "job id '%s' is invalid (1-63 characters of [A-Za-z0-9_.-])",
                         job && job->job_id ? job->job_id : "");
    if (nvfs < 1 || nvfs > MAX_JOB_VFS)
        return esfm_fail(err, errlen, -EINVAL, "a job may ask for 1 to %d VFs, not %u", MAX_JOB_VFS,
                         nvfs);
    if (!domain || !*domain)
        return esfm_fail(err, errlen, -EINVAL, "no VM name given for job %s", job->job_id);
    int rc = esfm_need_hv(ctx, err, errlen);
    if (rc || (rc = ctx->hv->ops->domain_lookup(ctx->hv, domain, err, errlen)))
        return rc;
    struct job_vf *v = calloc(nvfs, sizeof *v);
    if (!v)
        return esfm_fail(err, errlen, -ENOMEM, "out of memory");
    struct esfm_hostdev *h = NULL;
    size_t nh = 0, k = 0;
    struct esfm_journal j = {.fd = -1};
    cJSON *intent = NULL, *st = NULL;
    bool existing = false;
    int fd = esfm_state_lock(ctx, err, errlen);
    if (fd < 0) {
        free(v);
        return fd;
    }
    if (!(st = esfm_state_read(ctx, err, errlen))) {
        rc = -ENOLCK;
        goto unlock;
    }
    /* A repeated call for the same job and VM returns what the job already holds. */
    cJSON *r;
    const char *other = NULL;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(st, "vfs"))
    {
        if (!job_entry(r, job->job_id, NULL))
            continue;
        const char *d = esfm_json_str(r, "domain"), *g = esfm_json_str(r, "guest");
        if (!d || strcmp(d, domain) != 0)
            other = d ? d : "?";
        else if (k < nvfs) {
            snprintf(grants[k].vf_bdf, ESFM_BDF_LEN, "%s", r->string);
            snprintf(grants[k].guest_bdf, ESFM_BDF_LEN, "%s", g ? g : "");
            esfm_alias_for(r->string, grants[k].alias);
        }
        k++;
        existing = true;
    }
    if (existing) {
        if (other)
            rc = esfm_fail(err, errlen, -EBUSY,
                           "job %s already holds VFs on VM %s; detach it before asking for %s",
                           job->job_id, other, domain);
        else if (k != nvfs)
            rc = esfm_fail(err, errlen, -EBUSY,
                           "job %s already holds %zu VFs; detach it before asking for %u",
                           job->job_id, k, nvfs);
        goto unlock;
    }
    if ((rc = check_budget(ctx, st, job, nvfs, err, errlen)))
        goto unlock;
    if ((rc = esfm_hostdevs(ctx, &h, &nh, err, errlen)))
        goto unlock;
    k = choose_vfs(ctx, st, h, nh, domain, nvfs, v);
    if (k < nvfs) {
        rc = esfm_fail(err, errlen, -EBUSY,
                       "job %s asks for %u VFs but only %zu are free (see esfm list-vfs)",
                       job->job_id, nvfs, k);
        goto unlock;
    }
    if ((rc = pin_guests(ctx, st, h, nh, domain, v, k, err, errlen)))
        goto unlock;
    intent = esfm_intent_new("job-attach", NULL, domain, NULL);
    cJSON_AddStringToObject(intent, "job", job->job_id);
    cJSON *arr = cJSON_AddArrayToObject(intent, "vfs");
    for (size_t i = 0; i < k; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(v[i].vf));
    if ((rc = esfm_journal_begin(ctx, intent, &j, err, errlen)))
        goto unlock;
    for (size_t i = 0; i < k; i++) {
        cJSON *rec = v[i].fresh ? esfm_state_vf_add(st, v[i].vf) : esfm_state_vf(st, v[i].vf);
        if (v[i].fresh) {
            cJSON_AddStringToObject(rec, "domain", domain);
            cJSON_AddStringToObject(rec, "alias", v[i].alias);
            if (v[i].guest[0]) /* reserved now, so that a concurrent attach picks another */
                cJSON_AddStringToObject(rec, "guest", v[i].guest);
            cJSON_AddBoolToObject(rec, "pending", true);
        }
        cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(rec, "jobs"), job_json(job));
    }
    rc = esfm_state_write(ctx, st, err, errlen);
unlock:
    esfm_state_unlock(fd);
    cJSON_Delete(intent);
    cJSON_Delete(st);
    free(h);
    if (rc || existing) {
        esfm_journal_end(ctx, &j);
        free(v);
        return rc;
    }
    esfm_step(ctx, "job VFs reserved");
    struct job_run run = {ctx, v};
    esfm_run_parallel(ctx->parallel, k, attach_one, &run);
    int first = -1;
    for (size_t i = 0; i < k; i++)
        if (v[i].rc && first < 0)
            first = (int)i;
    if (first >= 0 && esfm_hv_lost(ctx)) {
        /* libvirtd went away mid-operation: the rollback cannot run on this connection and
         * the failed call's outcome is unknown. The journal entry stays, so the next command
         * rolls the whole job-attach back with a new connection. */
        rc = esfm_fail(err, errlen, v[first].rc, "job %s: attaching VF %s to %s failed: %s",
                       job->job_id, v[first].vf, domain, v[first].err);
        esfm_journal_keep(&j);
        free(v);
        return esfm_hv_lost_note(rc, "job-attach", err, errlen);
    }
    if (first >= 0) {
        /* All or nothing: take back what did attach. */
        rc = esfm_fail(err, errlen, v[first].rc, "job %s: attaching VF %s to %s failed: %s",
                       job->job_id, v[first].vf, domain, v[first].err);
        for (size_t i = 0; i < k; i++) {
            v[i].skip = v[i].rc != 0;
            v[i].rc = 0;
        }
        esfm_run_parallel(ctx->parallel, k, detach_one, &run);
    }
    char e2[ESFM_ERR_LEN];
    fd = esfm_state_lock(ctx, e2, sizeof e2);
    st = fd >= 0 ? esfm_state_read(ctx, e2, sizeof e2) : NULL;
    if (st) {
        for (size_t i = 0; i < k; i++) {
            if (first >= 0) {
                if (!v[i].skip && v[i].rc) /* rollback detach failed: keep it recorded */
                    continue;
                drop_job(st, job->job_id, v[i].vf);
                continue;
            }
            cJSON *rec = esfm_state_vf(st, v[i].vf);
            cJSON_DeleteItemFromObjectCaseSensitive(rec, "pending");
            if (v[i].fresh && v[i].guest[0]) {
                cJSON_DeleteItemFromObjectCaseSensitive(rec, "guest");
                cJSON_AddStringToObject(rec, "guest", v[i].guest);
            }
        }
        int wrc = esfm_state_write(ctx, st, e2, sizeof e2);
        if (wrc && !rc)
            rc = esfm_fail(err, errlen, wrc, "%s", e2);
    } else if (!rc) {
        rc = esfm_fail(err, errlen, -ENOLCK, "%s", e2);
    }
    cJSON_Delete(st);
    esfm_state_unlock(fd);
    esfm_step(ctx, "job VFs recorded");
    /* The journal stays when recording failed, so that the next run rolls the attach back. */
    if (st)
        esfm_journal_end(ctx, &j);
    else
        close(j.fd);
    if (!rc) {
        for (size_t i = 0; i < k; i++) {
            snprintf(grants[i].vf_bdf, ESFM_BDF_LEN, "%s", v[i].vf);
            snprintf(grants[i].guest_bdf, ESFM_BDF_LEN, "%s", v[i].guest);
            snprintf(grants[i].alias, ESFM_ALIAS_LEN, "%s", v[i].alias);
        }
        esfm_logf(ctx, "job %s holds %u VF(s) on %s", job->job_id, nvfs, domain);
    }
    free(v);
    return rc;
}

static int job_detach(struct esfm_ctx *ctx, const char *job_id, char *err, size_t errlen)
{
    if (!valid_job_id(job_id))
        return esfm_fail(err, errlen, -EINVAL,
                         "job id '%s' is invalid (1-63 characters of [A-Za-z0-9_.-])",
                         job_id ? job_id : "");
    int rc = esfm_need_hv(ctx, err, errlen);
    if (rc)
        return rc;
    int fd = esfm_state_lock(ctx, err, errlen);
    if (fd < 0)
        return fd;
    cJSON *st = esfm_state_read(ctx, err, errlen);
    if (!st) {
        esfm_state_unlock(fd);
        return -ENOLCK;
    }
    size_t n = 0, cap = 0;
    struct job_vf *v = NULL;
    cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(st, "vfs"))
    {
        if (!job_entry(r, job_id, NULL))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 8;
            struct job_vf *nv = realloc(v, cap * sizeof *v);
            if (!nv) {
                rc = esfm_fail(err, errlen, -ENOMEM, "out of memory");
                goto out;
            }
            v = nv;
        }
        struct job_vf *x = &v[n++];
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
    if (n == 0)
        goto out; /* idempotent: nothing recorded for this job */
    for (size_t i = 0; i < n; i++)
        if (v[i].fresh && !v[i].skip && (rc = esfm_check_not_busy(ctx, v[i].vf, err, errlen)))
            goto out;
    cJSON *intent = esfm_intent_new("job-detach", NULL, NULL, NULL);
    cJSON_AddStringToObject(intent, "job", job_id);
    struct esfm_journal j = {.fd = -1};
    rc = esfm_journal_begin(ctx, intent, &j, err, errlen);
    cJSON_Delete(intent);
    if (rc)
        goto out;
    struct job_run run = {ctx, v};
    esfm_run_parallel(ctx->parallel, n, detach_one, &run);
    bool lost = false;
    for (size_t i = 0; i < n; i++)
        lost |= v[i].rc != 0;
    lost = lost && esfm_hv_lost(ctx);
    for (size_t i = 0; i < n; i++) {
        if (v[i].rc) {
            if (!rc)
                rc = esfm_fail(err, errlen, v[i].rc, "job %s: detaching VF %s from %s: %s", job_id,
                               v[i].vf, v[i].domain, v[i].err);
            continue; /* stays recorded: a retry detaches it */
        }
        drop_job(st, job_id, v[i].vf);
    }
    int wrc = esfm_state_write(ctx, st, err, errlen);
    if (!rc)
        rc = wrc;
    esfm_step(ctx, "job forgotten");
    if (lost) /* libvirtd went away: the next command finishes the detach from the journal */
        esfm_journal_keep(&j);
    else
        esfm_journal_end(ctx, &j);
    if (lost)
        esfm_hv_lost_note(rc, "job-detach", err, errlen);
    if (!rc)
        esfm_logf(ctx, "job %s released %zu VF(s)", job_id, n);
out:
    cJSON_Delete(st);
    esfm_state_unlock(fd);
    free(v);
    return rc;
}

/* Every PF's lock, shared: the job's VFs come from (or go back to) any PF, never one being
 * reconfigured. */
int esfm_job_attach(struct esfm_ctx *ctx, const struct esfm_job *job, const char *domain,
                    unsigned nvfs, struct esfm_grant *grants, char *err, size_t errlen)
{
    struct esfm_pf_hold h;
    int rc = esfm_pf_hold(ctx, NULL, &h, err, errlen);
    if (rc)
        return rc;
    rc = job_attach(ctx, job, domain, nvfs, grants, err, errlen);
    esfm_pf_release(&h);
    return rc;
}

int esfm_job_detach(struct esfm_ctx *ctx, const char *job_id, char *err, size_t errlen)
{
    struct esfm_pf_hold h;
    int rc = esfm_pf_hold(ctx, NULL, &h, err, errlen);
    if (rc)
        return rc;
    rc = job_detach(ctx, job_id, err, errlen);
    esfm_pf_release(&h);
    return rc;
}

int esfm_job_attach_repair(struct esfm_ctx *ctx, cJSON *intent, char *err, size_t errlen)
{
    const char *job_id = esfm_json_str(intent, "job");
    const cJSON *vfs = cJSON_GetObjectItemCaseSensitive(intent, "vfs");
    if (!job_id)
        return esfm_fail(err, errlen, -ENOLCK, "job-attach journal entry lacks the job id");
    int rc = esfm_need_hv(ctx, err, errlen);
    if (rc)
        return rc;
    struct esfm_hostdev *h = NULL;
    size_t nh = 0;
    if ((rc = esfm_hostdevs(ctx, &h, &nh, err, errlen)))
        return rc;
    int fd = esfm_state_lock(ctx, err, errlen);
    if (fd < 0) {
        free(h);
        return fd;
    }
    cJSON *st = esfm_state_read(ctx, err, errlen);
    if (!st) {
        rc = -ENOLCK;
        goto out;
    }
    /* Completed (records final) means only the journal removal was lost. */
    bool done = false;
    const cJSON *e;
    cJSON_ArrayForEach(e, vfs)
    {
        cJSON *r = cJSON_IsString(e) ? esfm_state_vf(st, e->valuestring) : NULL;
        if (r && job_entry(r, job_id, NULL) && !cJSON_GetObjectItemCaseSensitive(r, "pending"))
            done = true;
    }
    if (done)
        goto out;
    cJSON_ArrayForEach(e, vfs)
    {
        if (!cJSON_IsString(e))
            continue;
        const char *vf = e->valuestring;
        cJSON *r = esfm_state_vf(st, vf);
        bool ours = r && job_entry(r, job_id, NULL);
        bool alone = ours && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(r, "jobs")) == 1;
        const struct esfm_hostdev *hd = esfm_hostdev_find(h, nh, vf);
        char alias[ESFM_ALIAS_LEN];
        esfm_alias_for(vf, alias);
        if ((alone || !r) && hd && strcmp(hd->alias, alias) == 0) {
            char e2[ESFM_ERR_LEN];
            int drc = esfm_vf_detach(ctx, vf, hd->domain, alias, e2, sizeof e2);
            if (drc && drc != -ENOENT) {
                rc = esfm_fail(err, errlen, drc, "rolling back job %s: %s", job_id, e2);
                continue;
            }
        }
        if (ours)
            drop_job(st, job_id, vf);
        esfm_logf(ctx, "repair: rolled back %s of interrupted attach for job %s", vf, job_id);
    }
    int wrc = esfm_state_write(ctx, st, err, errlen);
    if (!rc)
        rc = wrc;
out:
    cJSON_Delete(st);
    esfm_state_unlock(fd);
    free(h);
    return rc;
}
