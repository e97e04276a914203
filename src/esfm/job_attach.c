/* esfm_job_attach, what the SPANK plugin calls: attach N free VFs to a job's VM within the
 * policy's budgets, all or nothing, in parallel: reserve -> attach -> roll back -> record. And
 * the repair of an interrupted job-attach. */
#include "hv.h"
#include "job.h"
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_JOB_VFS 256

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

static void attach_one(void *arg, size_t i)
{
    struct job_run *r = arg;
    struct job_vf *x = &r->v[i];
    if (x->fresh)
        x->rc = esfm_vf_attach(r->ctx, x->vf, x->domain, x->guest, x->err, sizeof x->err);
}

static int check_budget(struct esfm_ctx *ctx, cJSON *st, const struct esfm_job *job, unsigned nvfs,
                        char *err, size_t errlen)
{
    const struct esfm_policy *p = ctx->policy;
    if (p->per_job >= 0 && nvfs > (unsigned)p->per_job)
        return kf_errf(err, errlen, -EACCES, "job %s asks for %u VFs; the policy allows %d per job",
                       job->job_id, nvfs, p->per_job);
    int user, part;
    count_usage(st, job, &user, &part);
    if (p->per_user >= 0 && (unsigned)user + nvfs > (unsigned)p->per_user)
        return kf_errf(err, errlen, -EACCES,
                       "user %u holds %d VFs and asks %u more; the policy allows %d per user",
                       (unsigned)job->uid, user, nvfs, p->per_user);
    int cap = esfm_policy_partition_cap(p, job->partition);
    if (cap >= 0 && (unsigned)part + nvfs > (unsigned)cap)
        return kf_errf(err, errlen, -EACCES,
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

static cJSON *job_json(const struct esfm_job *job)
{
    cJSON *e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "job", job->job_id);
    cJSON_AddNumberToObject(e, "uid", (double)job->uid);
    if (job->partition)
        cJSON_AddStringToObject(e, "partition", job->partition);
    return e;
}

/* One job-attach in progress: what reserve, attach, roll back and record pass along. */
struct job_attach {
    struct esfm_ctx *ctx;
    const struct esfm_job *job;
    const char *domain;
    unsigned nvfs;
    struct job_vf *v; /* the nvfs VFs chosen by reserve */
    struct esfm_journal j;
};

static int check_request(struct esfm_ctx *ctx, const struct esfm_job *job, const char *domain,
                         unsigned nvfs, char *err, size_t errlen)
{
    /* -EINVAL returned directly, not kf_errf's return: the analyser must see that a NULL job
     * or domain never reaches the callers' dereferences. */
    if (!job || !job_id_valid(job->job_id)) {
        kf_errf(err, errlen, -EINVAL, "job id '%s' is invalid (1-63 characters of [A-Za-z0-9_.-])",
                job && job->job_id ? job->job_id : "");
        return -EINVAL;
    }
    if (nvfs < 1 || nvfs > MAX_JOB_VFS)
        return kf_errf(err, errlen, -EINVAL, "a job may ask for 1 to %d VFs, not %u", MAX_JOB_VFS,
                       nvfs);
    if (!domain || !*domain) {
        kf_errf(err, errlen, -EINVAL, "no VM name given for job %s", job->job_id);
        return -EINVAL;
    }
    int rc = esfm_need_hv(ctx, err, errlen);
    if (rc)
        return rc;
    return ctx->hv->ops->domain_lookup(ctx->hv, domain, err, errlen);
}

/* A repeated call for the same job and VM returns what the job already holds: 1 with grants
 * filled, 0 when the job holds nothing, -EBUSY when it holds VFs on another VM or another count. */
static int find_held(cJSON *st, const struct job_attach *a, struct esfm_grant *grants, char *err,
                     size_t errlen)
{
    size_t k = 0;
    const char *other = NULL;
    cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(st, "vfs"))
    {
        if (!job_entry(r, a->job->job_id, NULL))
            continue;
        const char *d = esfm_json_str(r, "domain"), *g = esfm_json_str(r, "guest");
        if (!d || strcmp(d, a->domain) != 0)
            other = d ? d : "?";
        else if (k < a->nvfs) {
            snprintf(grants[k].vf_bdf, ESFM_BDF_LEN, "%s", r->string);
            snprintf(grants[k].guest_bdf, ESFM_BDF_LEN, "%s", g ? g : "");
            esfm_alias_for(r->string, grants[k].alias);
        }
        k++;
    }
    if (k == 0)
        return 0;
    if (other)
        return kf_errf(err, errlen, -EBUSY,
                       "job %s already holds VFs on VM %s; detach it before asking for %s",
                       a->job->job_id, other, a->domain);
    if (k != a->nvfs)
        return kf_errf(err, errlen, -EBUSY,
                       "job %s already holds %zu VFs; detach it before asking for %u",
                       a->job->job_id, k, a->nvfs);
    return 1;
}

/* Pins fresh VFs at free addresses of the reserved guest buses (when the admin reserved some). */
static int pin_guests(struct esfm_ctx *ctx, cJSON *st, const struct esfm_hostdev *h, size_t nh,
                      const char *domain, struct job_vf *v, size_t k, char *err, size_t errlen)
{
    if (!ctx->guest_buses)
        return 0;
    char(*taken)[ESFM_BDF_LEN] = calloc(k, sizeof *taken);
    if (!taken)
        return kf_errf(err, errlen, -ENOMEM, "out of memory");
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

/* Journals the intent, then records the chosen VFs as pending for the job (state locked). */
static int reserve_chosen(struct job_attach *a, cJSON *st, char *err, size_t errlen)
{
    cJSON *intent = esfm_intent_new("job-attach", NULL, a->domain, NULL);
    cJSON_AddStringToObject(intent, "job", a->job->job_id);
    cJSON *arr = cJSON_AddArrayToObject(intent, "vfs");
    for (size_t i = 0; i < a->nvfs; i++)
        cJSON_AddItemToArray(arr, cJSON_CreateString(a->v[i].vf));
    int rc = esfm_journal_begin(a->ctx, intent, &a->j, err, errlen);
    cJSON_Delete(intent);
    if (rc)
        return rc;
    for (size_t i = 0; i < a->nvfs; i++) {
        struct job_vf *x = &a->v[i];
        cJSON *rec = x->fresh ? esfm_state_vf_add(st, x->vf) : esfm_state_vf(st, x->vf);
        if (x->fresh) {
            cJSON_AddStringToObject(rec, "domain", a->domain);
            cJSON_AddStringToObject(rec, "alias", x->alias);
            if (x->guest[0]) /* reserved now, so that a concurrent attach picks another */
                cJSON_AddStringToObject(rec, "guest", x->guest);
            cJSON_AddBoolToObject(rec, "pending", true);
        }
        cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(rec, "jobs"), job_json(a->job));
    }
    rc = esfm_state_write(a->ctx, st, err, errlen);
    if (rc)
        esfm_journal_end(a->ctx, &a->j); /* nothing recorded, nothing attached */
    return rc;
}

/* Reserve: under the state lock, choose nvfs VFs within the budgets and record them pending.
 * *held is set when the job already holds them (a repeated call; grants are filled). */
static int reserve(struct job_attach *a, struct esfm_grant *grants, bool *held, char *err,
                   size_t errlen)
{
    struct esfm_ctx *ctx = a->ctx;
    struct esfm_hostdev *h = NULL;
    size_t nh = 0;
    int fd = esfm_state_lock(ctx, err, errlen);
    if (fd < 0)
        return fd;
    cJSON *st = esfm_state_read(ctx, err, errlen);
    int rc = st ? find_held(st, a, grants, err, errlen) : -ENOLCK;
    *held = rc == 1;
    if (rc)
        goto out;
    if ((rc = check_budget(ctx, st, a->job, a->nvfs, err, errlen)))
        goto out;
    if ((rc = esfm_hostdevs(ctx, &h, &nh, err, errlen)))
        goto out;
    size_t k = choose_vfs(ctx, st, h, nh, a->domain, a->nvfs, a->v);
    if (k < a->nvfs) {
        rc = kf_errf(err, errlen, -EBUSY,
                     "job %s asks for %u VFs but only %zu are free (see esfm list-vfs)",
                     a->job->job_id, a->nvfs, k);
        goto out;
    }
    if ((rc = pin_guests(ctx, st, h, nh, a->domain, a->v, a->nvfs, err, errlen)))
        goto out;
    rc = reserve_chosen(a, st, err, errlen);
out:
    esfm_state_unlock(fd);
    cJSON_Delete(st);
    free(h);
    return rc < 0 ? rc : 0;
}

/* Attach: all chosen VFs in parallel. Returns the index of the first failure, or -1. */
static int attach_all(struct job_attach *a)
{
    struct job_run run = {a->ctx, a->v};
    esfm_run_parallel(a->ctx->parallel, a->nvfs, attach_one, &run);
    for (size_t i = 0; i < a->nvfs; i++)
        if (a->v[i].rc)
            return (int)i;
    return -1;
}

/* Roll back (all or nothing): detaches what did attach; a VF whose detach fails keeps rc. */
static void roll_back(struct job_attach *a)
{
    for (size_t i = 0; i < a->nvfs; i++) {
        a->v[i].skip = a->v[i].rc != 0;
        a->v[i].rc = 0;
    }
    struct job_run run = {a->ctx, a->v};
    esfm_run_parallel(a->ctx->parallel, a->nvfs, job_detach_one, &run);
}

/* Record: the final records (guest addresses, no longer pending), or after a roll back the job
 * dropped from the VFs that left. The journal entry stays when the state could not be written,
 * so that the next run rolls the attach back (nothing leaks on a full disk). */
static int record(struct job_attach *a, bool rolled_back, int rc, char *err, size_t errlen)
{
    struct esfm_ctx *ctx = a->ctx;
    char e2[ESFM_ERR_LEN];
    int fd = esfm_state_lock(ctx, e2, sizeof e2);
    cJSON *st = fd >= 0 ? esfm_state_read(ctx, e2, sizeof e2) : NULL;
    int wrc = st ? 0 : -ENOLCK;
    for (size_t i = 0; st && i < a->nvfs; i++) {
        struct job_vf *x = &a->v[i];
        if (rolled_back) {
            if (x->skip || !x->rc) /* a failed roll back detach stays recorded */
                job_drop(st, a->job->job_id, x->vf);
            continue;
        }
        cJSON *rec = esfm_state_vf(st, x->vf);
        cJSON_DeleteItemFromObjectCaseSensitive(rec, "pending");
        if (x->fresh && x->guest[0]) {
            cJSON_DeleteItemFromObjectCaseSensitive(rec, "guest");
            cJSON_AddStringToObject(rec, "guest", x->guest);
        }
    }
    if (st)
        wrc = esfm_state_write(ctx, st, e2, sizeof e2);
    if (wrc && !rc)
        rc = kf_errf(err, errlen, wrc, "%s", e2);
    cJSON_Delete(st);
    esfm_state_unlock(fd);
    esfm_step(ctx, "job VFs recorded");
    if (wrc)
        esfm_journal_keep(&a->j);
    else
        esfm_journal_end(ctx, &a->j);
    return rc;
}

static int job_attach(struct esfm_ctx *ctx, const struct esfm_job *job, const char *domain,
                    unsigned nvfs, struct esfm_grant *grants, char *err, size_t errlen)
{
    int rc = check_request(ctx, job, domain, nvfs, err, errlen);
    if (rc)
        return rc;
    struct job_attach a = {ctx, job, domain, nvfs, calloc(nvfs, sizeof *a.v), {.fd = -1}};
    if (!a.v)
        return kf_errf(err, errlen, -ENOMEM, "out of memory");
    bool held = false;
    rc = reserve(&a, grants, &held, err, errlen);
    if (rc || held)
        goto out;
    esfm_step(ctx, "job VFs reserved");
    int first = attach_all(&a);
    if (first >= 0) {
        struct job_vf *x = &a.v[first];
        rc = kf_errf(err, errlen, x->rc, "job %s: attaching VF %s to %s failed: %s", job->job_id,
                     x->vf, domain, x->err);
        if (esfm_hv_lost(ctx)) {
            /* libvirtd went away mid-operation: the roll back cannot run on this connection and
             * the failed call's outcome is unknown. The journal entry stays, so the next command
             * rolls the whole job-attach back with a new connection. */
            esfm_journal_keep(&a.j);
            rc = esfm_hv_lost_note(rc, "job-attach", err, errlen);
            goto out;
        }
        roll_back(&a);
    }
    rc = record(&a, first >= 0, rc, err, errlen);
    for (size_t i = 0; !rc && i < nvfs; i++) {
        snprintf(grants[i].vf_bdf, ESFM_BDF_LEN, "%s", a.v[i].vf);
        snprintf(grants[i].guest_bdf, ESFM_BDF_LEN, "%s", a.v[i].guest);
        snprintf(grants[i].alias, ESFM_ALIAS_LEN, "%s", a.v[i].alias);
    }
    if (!rc)
        esfm_logf(ctx, "job %s holds %u VF(s) on %s", job->job_id, nvfs, domain);
out:
    free(a.v);
    return rc;
}

/* Every PF's lock, shared: the job's VFs come from any PF, never one being reconfigured. */
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

int esfm_job_attach_repair(struct esfm_ctx *ctx, cJSON *intent, char *err, size_t errlen)
{
    const char *job_id = esfm_json_str(intent, "job");
    const cJSON *vfs = cJSON_GetObjectItemCaseSensitive(intent, "vfs");
    if (!job_id)
        return kf_errf(err, errlen, -ENOLCK, "job-attach journal entry lacks the job id");
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
                rc = kf_errf(err, errlen, drc, "rolling back job %s: %s", job_id, e2);
                continue;
            }
        }
        if (ours)
            job_drop(st, job_id, vf);
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
