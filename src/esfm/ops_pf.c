/* PF operations: init (detach VFs, optional verified flash, remove/rescan, autoprobe off, QDMA
 * queue budget, VF count) and reconf (pause or detach VMs' VFs, 0 then N, resume survivors). */
#include "hv.h"
#include "clock.h"
#include "esfm_internal.h"
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct pf_vf {
    char vf[ESFM_BDF_LEN], domain[128], alias[64], method[16];
    bool survive, attached;
    int rc;
    char err[ESFM_ERR_LEN];
};

struct pf_run {
    struct esfm_ctx *ctx;
    struct pf_vf *v;
    const char *driver;
    char (*vfs)[ESFM_BDF_LEN];
    int *rcs;
    char (*errs)[ESFM_ERR_LEN];
};

static void park_one(void *arg, size_t i)
{
    struct pf_run *r = arg;
    struct pf_vf *x = &r->v[i];
    if (!x->attached)
        return; /* already out of the VM (paused by detach earlier) */
    if (!x->survive) {
        x->rc = esfm_vf_detach(r->ctx, x->vf, x->domain, x->alias, x->err, sizeof x->err);
        if (x->rc == -ENOENT)
            x->rc = 0;
        return;
    }
    const char *m = NULL;
    x->rc = esfm_vf_pause(r->ctx, x->vf, x->domain, x->alias, &m, x->err, sizeof x->err);
    if (!x->rc)
        snprintf(x->method, sizeof x->method, "%s", m);
}

static void resume_one(void *arg, size_t i)
{
    struct pf_run *r = arg;
    struct pf_vf *x = &r->v[i];
    if (!x->survive)
        return;
    x->rc = esfm_vf_unpause(r->ctx, x->vf, x->domain, x->alias, x->method[0] ? x->method : "qmp",
                            x->err, sizeof x->err);
}

static void bind_one(void *arg, size_t i)
{
    struct pf_run *r = arg;
    r->rcs[i] =
        esfm_pci_bind_with_driver_override(r->ctx, r->vfs[i], r->driver, r->errs[i], ESFM_ERR_LEN);
    esfm_step(r->ctx, "bind VF driver");
}

/* Binds every VF of pf to driver (in parallel). */
static int bind_vfs(struct esfm_ctx *ctx, const char *pf, const char *driver, char *err,
                    size_t errlen)
{
    char(*vfs)[ESFM_BDF_LEN];
    size_t n;
    if (!driver || !*driver || esfm_pci_list_vfs(ctx, pf, &vfs, &n))
        return 0;
    int rc = 0;
    if (n) {
        int *rcs = calloc(n, sizeof *rcs);
        char(*errs)[ESFM_ERR_LEN] = calloc(n, ESFM_ERR_LEN);
        if (!rcs || !errs) {
            rc = kf_errf(err, errlen, -ENOMEM, "out of memory");
        } else {
            struct pf_run run = {
                .ctx = ctx, .driver = driver, .vfs = vfs, .rcs = rcs, .errs = errs};
            esfm_run_parallel(ctx->parallel, n, bind_one, &run);
            for (size_t i = 0; i < n && !rc; i++)
                if (rcs[i])
                    rc = kf_errf(err, errlen, rcs[i] == -ENOENT ? -ENOENT : -EIO, "%s", errs[i]);
            if (!rc)
                esfm_logf(ctx, "bound %zu VF(s) of %s to %s", n, pf, driver);
        }
        free(rcs);
        free(errs);
    }
    free(vfs);
    return rc;
}

static double mono_ms(void)
{
    return (double)kf_now_ns() / 1e6;
}

static int set_numvfs(struct esfm_ctx *ctx, const char *pf, unsigned to, bool cycle, char *err,
                      size_t errlen)
{
    unsigned cur = 0;
    int rc = esfm_pci_read_uint(ctx, pf, "sriov_numvfs", &cur, err, errlen);
    if (rc)
        return -EIO;
    /* The kernel refuses a direct change between two non-zero counts: go through 0. reconf
     * always cycles, so that every VF comes back reset. */
    double t0 = mono_ms(), t1 = t0;
    if (cur != 0 && (cur != to || to == 0 || cycle)) {
        if ((rc = esfm_pci_set_numvfs(ctx, pf, 0, err, errlen)))
            return -EIO;
        esfm_step(ctx, "sriov_numvfs 0");
        t1 = mono_ms();
    }
    if (to != 0) {
        if ((rc = esfm_pci_set_numvfs(ctx, pf, to, err, errlen)))
            return -EIO;
        esfm_step(ctx, "sriov_numvfs N");
    }
    esfm_logf(ctx, "sriov_numvfs of %s: %u -> 0 in %.0f ms, 0 -> %u in %.0f ms", pf, cur, t1 - t0,
              to, mono_ms() - t1);
    return 0;
}

static int check_pf_driver(struct esfm_ctx *ctx, const char *pf, char *err, size_t errlen)
{
    char drv[64];
    esfm_pci_driver(ctx, pf, drv, sizeof drv);
    if (drv[0])
        return 0;
    return kf_errf(err, errlen, -EIO,
                   "PF %s has no driver bound, and only a PF driver (one with sriov_configure, "
                   "e.g. pci-pf-stub) can create VFs; set \"pf_driver\" in the policy and run "
                   "esfm init %s",
                   pf, pf);
}

static cJSON *plan_json(const struct pf_vf *v, size_t n)
{
    cJSON *a = cJSON_CreateArray();
    for (size_t i = 0; i < n; i++) {
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "vf", v[i].vf);
        cJSON_AddStringToObject(e, "domain", v[i].domain);
        cJSON_AddStringToObject(e, "alias", v[i].alias);
        cJSON_AddBoolToObject(e, "survive", v[i].survive);
        cJSON_AddBoolToObject(e, "attached", v[i].attached);
        if (v[i].method[0])
            cJSON_AddStringToObject(e, "method", v[i].method);
        cJSON_AddItemToArray(a, e);
    }
    return a;
}

static size_t plan_from_json(const cJSON *a, struct pf_vf **out)
{
    size_t n = (size_t)cJSON_GetArraySize(a), k = 0;
    struct pf_vf *v = calloc(n ? n : 1, sizeof *v);
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        if (!v)
            break;
        const char *s;
        if ((s = esfm_json_str(e, "vf")))
            snprintf(v[k].vf, sizeof v[k].vf, "%s", s);
        if ((s = esfm_json_str(e, "domain")))
            snprintf(v[k].domain, sizeof v[k].domain, "%s", s);
        if ((s = esfm_json_str(e, "alias")))
            snprintf(v[k].alias, sizeof v[k].alias, "%s", s);
        if ((s = esfm_json_str(e, "method")))
            snprintf(v[k].method, sizeof v[k].method, "%s", s);
        v[k].survive = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "survive"));
        v[k].attached = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(e, "attached"));
        k++;
    }
    *out = v;
    return v ? k : 0;
}

/* Collects the PF's VFs that VMs hold (or that are paused by detach) into a plan. */
/* Changing the VF count resets every VF of the PF, attached to a VM or not: refuse before
 * anything moves if any of them has active queues (unless --force). */
static int check_pf_not_busy(struct esfm_ctx *ctx, const char *pf, char *err, size_t errlen)
{
    char(*vfs)[ESFM_BDF_LEN];
    size_t nv;
    if (esfm_pci_list_vfs(ctx, pf, &vfs, &nv))
        return kf_errf(err, errlen, -EIO, "cannot list VFs of %s", pf);
    int rc = 0;
    for (size_t i = 0; !rc && i < nv; i++)
        rc = esfm_check_not_busy(ctx, vfs[i], err, errlen);
    free(vfs);
    return rc;
}

static int plan_vms(struct esfm_ctx *ctx, const char *pf, int keep, struct pf_vf **out, size_t *n,
                    char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    char(*vfs)[ESFM_BDF_LEN];
    size_t nv;
    if (esfm_pci_list_vfs(ctx, pf, &vfs, &nv))
        return kf_errf(err, errlen, -EIO, "cannot list VFs of %s", pf);
    int fd = esfm_state_lock(ctx, err, errlen);
    if (fd < 0) {
        free(vfs);
        return fd;
    }
    cJSON *st = esfm_state_read(ctx, err, errlen);
    esfm_state_unlock(fd);
    struct esfm_hostdev *h = NULL;
    size_t nh = 0;
    int rc = st ? 0 : -ENOLCK;
    if (!rc && ctx->hv)
        rc = esfm_hostdevs(ctx, &h, &nh, err, errlen);
    struct pf_vf *v = calloc(nv ? nv : 1, sizeof *v);
    if (!rc && !v)
        rc = kf_errf(err, errlen, -ENOMEM, "out of memory");
    size_t k = 0;
    for (size_t i = 0; !rc && i < nv; i++) {
        const struct esfm_hostdev *e = esfm_hostdev_find(h, nh, vfs[i]);
        cJSON *r = esfm_state_vf(st, vfs[i]);
        const char *pm = r ? esfm_json_str(r, "paused") : NULL;
        if (!ctx->hv && r) {
            rc = kf_errf(err, errlen, -EINVAL,
                         "VF %s is recorded as used by VM %s; pass --connect URI so that ESFM "
                         "can move it",
                         vfs[i], esfm_json_str(r, "domain"));
            break;
        }
        if (!e && !(pm && strcmp(pm, "detach") == 0))
            continue;
        /* A stopped VM's config keeps a surviving VF: same address after the change. */
        if (e && !e->running && keep >= 0 && i < (size_t)keep)
            continue;
        struct pf_vf *x = &v[k++];
        snprintf(x->vf, sizeof x->vf, "%s", vfs[i]);
        snprintf(x->domain, sizeof x->domain, "%s", e ? e->domain : esfm_json_str(r, "domain"));
        snprintf(x->alias, sizeof x->alias, "%s", e ? e->alias : esfm_json_str(r, "alias"));
        /* v is allocated when rc == 0 */
        // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
        if (!x->alias[0])
            esfm_alias_for(x->vf, x->alias);
        x->attached = e != NULL;
        x->survive = keep >= 0 && i < (size_t)keep;
        if (!e)
            snprintf(x->method, sizeof x->method, "detach");
    }
    free(h);
    free(vfs);
    cJSON_Delete(st);
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    *n = k;
    return 0;
}

/* Forgets the VFs removed from their VMs for good, in one state write: all or none of them. */
static int forget_removed(struct esfm_ctx *ctx, struct pf_vf *v, size_t n, char *err, size_t errlen)
{
    int fd = esfm_state_lock(ctx, err, errlen);
    if (fd < 0)
        return fd;
    cJSON *st = esfm_state_read(ctx, err, errlen);
    int rc = st ? 0 : -ENOLCK;
    for (size_t i = 0; st && i < n; i++)
        if (!v[i].survive)
            esfm_state_vf_del(st, v[i].vf);
    if (st)
        rc = esfm_state_write(ctx, st, err, errlen);
    cJSON_Delete(st);
    esfm_state_unlock(fd);
    for (size_t i = 0; !rc && i < n; i++)
        if (!v[i].survive)
            esfm_logf(ctx, "%s no longer exists; it was removed from VM %s", v[i].vf, v[i].domain);
    return rc;
}

/* Puts back what park_one moved while the PF has not changed yet: paused VFs are unpaused, the
 * ones detached (for good or by the pause fallback) are attached again. Appends to err what could
 * not be put back and returns -1 then (the journal must stay for the repair), else 0. */
static int restore_parked(struct esfm_ctx *ctx, struct pf_vf *v, size_t n, char *err, size_t errlen)
{
    for (size_t k = 0; k < n; k++) {
        bool parked = v[k].rc == 0 && v[k].attached;
        if (parked && !v[k].survive) /* detached for good: the VF stays, re-attach */
            snprintf(v[k].method, sizeof v[k].method, "detach");
        v[k].survive = parked;
        v[k].rc = 0;
    }
    struct pf_run run = {.ctx = ctx, .v = v};
    esfm_run_parallel(ctx->parallel, n, resume_one, &run);
    int rc = 0;
    for (size_t k = 0; k < n; k++) {
        if (!v[k].survive || !v[k].rc)
            continue;
        size_t l = strnlen(err, errlen);
        if (l + 1 < errlen)
            snprintf(err + l, errlen - l, "; %s could not return to %s (%s)", v[k].vf, v[k].domain,
                     v[k].err);
        rc = -1;
    }
    return rc;
}

/* Park: moves the VMs' VFs out of the way (survivors paused, the others detached). Outside a
 * repair, a failure puts back what moved (*keep says whether that failed). */
static int reconf_park(struct esfm_ctx *ctx, const char *pf, struct pf_vf *v, size_t n, bool repair,
                       bool *keep, char *err, size_t errlen)
{
    struct pf_run run = {.ctx = ctx, .v = v};
    esfm_run_parallel(ctx->parallel, n, park_one, &run);
    for (size_t i = 0; i < n; i++) {
        if (!v[i].rc)
            continue;
        if (repair) {
            esfm_logf(ctx, "repair: %s: %s", v[i].vf, v[i].err);
            continue;
        }
        /* Nothing changed on the PF yet: put back what was parked and give up. */
        int rc = kf_errf(err, errlen, v[i].rc, "reconf %s: moving %s out of %s: %s", pf, v[i].vf,
                         v[i].domain, v[i].err);
        *keep = restore_parked(ctx, v, n, err, errlen) != 0;
        return rc;
    }
    /* The removed VFs are forgotten before the count changes; when that cannot be written (a
     * full disk) nothing has changed on the PF yet either: put everything back. */
    int rc = forget_removed(ctx, v, n, err, errlen);
    if (rc && !repair)
        *keep = restore_parked(ctx, v, n, err, errlen) != 0;
    return rc;
}

/* Resume: survivors back in their VMs, recorded as they are. A VF that cannot return stays
 * recorded as paused so that esfm unpause can retry; a record that cannot be written sets *keep. */
static int reconf_resume(struct esfm_ctx *ctx, const char *pf, unsigned to, struct pf_vf *v,
                         size_t n, bool *keep, char *err, size_t errlen)
{
    struct pf_run run = {.ctx = ctx, .v = v};
    esfm_run_parallel(ctx->parallel, n, resume_one, &run);
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        char e2[ESFM_ERR_LEN];
        if (!v[i].survive)
            continue;
        const char *paused = v[i].rc ? (v[i].method[0] ? v[i].method : "qmp") : NULL;
        int wrc = esfm_record_vf(ctx, v[i].vf, v[i].domain, v[i].alias, NULL, paused, false, e2,
                                 sizeof e2);
        if (v[i].rc && !rc)
            rc = kf_errf(err, errlen, v[i].rc,
                         "reconf %s: VF count is %u but %s could not return to %s: %s; "
                         "retry with esfm unpause %s",
                         pf, to, v[i].vf, v[i].domain, v[i].err, v[i].vf);
        if (wrc) {
            *keep = true;
            if (!rc)
                rc = kf_errf(err, errlen, wrc, "reconf %s: %s", pf, e2);
        }
    }
    return rc;
}

/* The part of reconf after the intent is journaled (with the plan, before any VF moves); the
 * repair of a crashed reconf runs it again from the journal (every step is idempotent). *keep is
 * set when the journal entry must stay for the repair: the PF changed (or parked VFs could not
 * be put back) and the reconf did not finish. */
static int reconf_run(struct esfm_ctx *ctx, const char *pf, unsigned to, struct pf_vf *v, size_t n,
                      bool repair, bool *keep, char *err, size_t errlen)
{
    *keep = false;
    int rc = esfm_pci_rescan(ctx, err, errlen);
    esfm_step(ctx, "rescan");
    if (rc)
        return -EIO;
    if (repair) {
        /* Only VFs still in their VM need parking; a QMP-paused one pauses again harmlessly. */
        struct esfm_hostdev *h = NULL;
        size_t nh = 0;
        if (n && (rc = esfm_hostdevs(ctx, &h, &nh, err, errlen)))
            return rc;
        for (size_t i = 0; i < n; i++) {
            v[i].attached = esfm_hostdev_find(h, nh, v[i].vf) != NULL;
            /* A survivor out of its VM was detached (fallback): it must be attached again. */
            if (!v[i].attached && v[i].survive)
                snprintf(v[i].method, sizeof v[i].method, "detach");
        }
        free(h);
    }
    if ((rc = reconf_park(ctx, pf, v, n, repair, keep, err, errlen)))
        return rc;
    *keep = true; /* from here on the PF changes */
    if ((rc = set_numvfs(ctx, pf, to, true, err, errlen)))
        return rc;
    if ((rc = bind_vfs(ctx, pf, ctx->policy->vf_driver, err, errlen)))
        return rc;
    *keep = false;
    return reconf_resume(ctx, pf, to, v, n, keep, err, errlen);
}

int esfm_reconf_finish(struct esfm_ctx *ctx, cJSON *intent, char *err, size_t errlen)
{
    const char *pf = esfm_json_str(intent, "pf");
    cJSON *to = cJSON_GetObjectItemCaseSensitive(intent, "to");
    if (!pf || !cJSON_IsNumber(to))
        return kf_errf(err, errlen, -ENOLCK, "reconf journal entry lacks pf/to");
    if (!ctx->hv && cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(intent, "vfs")) > 0)
        return kf_errf(err, errlen, -EINVAL,
                       "an interrupted reconf of %s moved VMs' VFs; run esfm with --connect "
                       "to repair it",
                       pf);
    struct pf_vf *v;
    size_t n = plan_from_json(cJSON_GetObjectItemCaseSensitive(intent, "vfs"), &v);
    int lock = esfm_pf_lock(ctx, pf, err, errlen);
    bool keep;
    int rc = lock < 0 ? lock
                      : reconf_run(ctx, pf, (unsigned)to->valueint, v, n, true, &keep, err, errlen);
    if (lock >= 0)
        close(lock);
    free(v);
    return rc;
}

int esfm_reconf(struct esfm_ctx *ctx, const char *pf_arg, int nvfs, char *err, size_t errlen)
{
    char pf[ESFM_BDF_LEN];
    int rc = esfm_resolve_pf(ctx, pf_arg, pf, err, errlen);
    if (rc)
        return rc;
    unsigned total = 0, cur = 0;
    if ((rc = esfm_pci_read_uint(ctx, pf, "sriov_totalvfs", &total, err, errlen)) ||
        (rc = esfm_pci_read_uint(ctx, pf, "sriov_numvfs", &cur, err, errlen)))
        return -EIO;
    if (nvfs < 0 || (unsigned)nvfs > total)
        return kf_errf(err, errlen, -EINVAL,
                       "PF %s supports 0 to %u VFs (sriov_totalvfs), "
                       "not %d",
                       pf, total, nvfs);
    if ((rc = check_pf_driver(ctx, pf, err, errlen)))
        return rc;
    int lock = esfm_pf_lock(ctx, pf, err, errlen);
    if (lock < 0)
        return lock;
    struct pf_vf *v = NULL;
    size_t n = 0;
    struct esfm_journal j = {.fd = -1};
    cJSON *intent = NULL;
    if ((rc = plan_vms(ctx, pf, nvfs, &v, &n, err, errlen)))
        goto out;
    if ((rc = check_pf_not_busy(ctx, pf, err, errlen)))
        goto out;
    intent = esfm_intent_new("reconf", NULL, NULL, NULL);
    cJSON_AddStringToObject(intent, "pf", pf);
    cJSON_AddNumberToObject(intent, "from", cur);
    cJSON_AddNumberToObject(intent, "to", nvfs);
    cJSON_AddItemToObject(intent, "vfs", plan_json(v, n));
    if ((rc = esfm_journal_begin(ctx, intent, &j, err, errlen)))
        goto out;
    double t0 = mono_ms();
    bool keep;
    rc = reconf_run(ctx, pf, (unsigned)nvfs, v, n, false, &keep, err, errlen);
    double ms = mono_ms() - t0;
    if (rc && esfm_hv_lost(ctx)) {
        /* libvirtd went away while VFs were moving: which VM still holds which VF is unknown,
         * and putting them back needs a new connection. The journal keeps the reconf and the
         * next command finishes it (reconf's repair re-reads the VMs and rolls forward). */
        esfm_journal_keep(&j);
        rc = esfm_hv_lost_note(rc, "reconf", err, errlen);
        goto out;
    }
    if (rc && keep) {
        /* The PF changed, or parked VFs could not be put back: the next command finishes the
         * reconf from the journal (rolls it forward). */
        esfm_journal_keep(&j);
        size_t l = strnlen(err, errlen);
        if (l + 1 < errlen)
            snprintf(err + l, errlen - l,
                     "; the journal keeps the reconf and the next esfm command (e.g. esfm "
                     "reconcile) finishes it");
        goto out;
    }
    esfm_journal_end(ctx, &j);
    if (!rc) {
        size_t moved = 0, gone = 0;
        for (size_t i = 0; i < n; i++)
            v[i].survive ? moved++ : gone++;
        esfm_logf(ctx,
                  "reconf %s: %u -> %d VFs in %.0f ms; %zu VF(s) resumed in their VM, "
                  "%zu removed from VMs",
                  pf, cur, nvfs, ms, moved, gone);
    }
out:
    cJSON_Delete(intent);
    free(v);
    close(lock);
    return rc;
}

/* ---- init ---- */

static int wait_for_device(struct esfm_ctx *ctx, const char *bdf, int ms)
{
    for (int waited = 0; waited <= ms; waited += 50) {
        if (esfm_pci_exists(ctx, bdf))
            return 0;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return -ENOENT;
}

static void report_pf(struct esfm_ctx *ctx, const char *pf)
{
    char drv[64], ap[16] = "?", q[32] = "-";
    unsigned nv = 0, tot = 0;
    esfm_pci_driver(ctx, pf, drv, sizeof drv);
    esfm_pci_read_uint(ctx, pf, "sriov_numvfs", &nv, NULL, 0);
    esfm_pci_read_uint(ctx, pf, "sriov_totalvfs", &tot, NULL, 0);
    esfm_pci_read_str(ctx, pf, "sriov_drivers_autoprobe", ap, sizeof ap);
    esfm_pci_read_str(ctx, pf, "qdma/qmax", q, sizeof q);
    esfm_logf(ctx,
              "PF %s: driver %s, sriov_numvfs %u of %u, sriov_drivers_autoprobe %s, "
              "qdma/qmax %s",
              pf, drv[0] ? drv : "none", nv, tot, ap, q);
    char(*vfs)[ESFM_BDF_LEN];
    size_t n;
    if (esfm_pci_list_vfs(ctx, pf, &vfs, &n))
        return;
    for (size_t i = 0; i < n; i++) {
        esfm_pci_driver(ctx, vfs[i], drv, sizeof drv);
        esfm_logf(ctx, "  VF %s driver %s", vfs[i], drv[0] ? drv : "none");
    }
    free(vfs);
}

/* Detaches the journaled VFs still in a VM, forgets them, and drops the VF count to 0. */
static int init_park(struct esfm_ctx *ctx, const char *pf, cJSON *intent, char *err, size_t errlen)
{
    struct pf_vf *v;
    size_t n = plan_from_json(cJSON_GetObjectItemCaseSensitive(intent, "vfs"), &v);
    int rc = 0;
    if (n) {
        struct esfm_hostdev *h = NULL;
        size_t nh = 0;
        if ((rc = esfm_need_hv(ctx, err, errlen)) ||
            (rc = esfm_hostdevs(ctx, &h, &nh, err, errlen))) {
            free(v);
            return rc;
        }
        for (size_t i = 0; i < n; i++) {
            v[i].survive = false;
            v[i].attached = esfm_hostdev_find(h, nh, v[i].vf) != NULL;
        }
        free(h);
        struct pf_run run = {.ctx = ctx, .v = v};
        esfm_run_parallel(ctx->parallel, n, park_one, &run);
        for (size_t i = 0; i < n; i++)
            if (v[i].rc && !rc)
                rc = kf_errf(err, errlen, v[i].rc, "init %s: detaching %s from %s: %s", pf, v[i].vf,
                             v[i].domain, v[i].err);
        if (!rc)
            rc = forget_removed(ctx, v, n, err, errlen);
    }
    free(v);
    return rc ? rc : set_numvfs(ctx, pf, 0, false, err, errlen);
}

int esfm_init_finish(struct esfm_ctx *ctx, cJSON *intent, char *err, size_t errlen)
{
    const char *pf = esfm_json_str(intent, "pf");
    const char *vfdrv = esfm_json_str(intent, "vf_driver");
    cJSON *nv = cJSON_GetObjectItemCaseSensitive(intent, "nvfs");
    if (!pf || !cJSON_IsNumber(nv))
        return kf_errf(err, errlen, -ENOLCK, "init journal entry lacks pf/nvfs");
    int rc;
    if (esfm_pci_exists(ctx, pf) && (rc = init_park(ctx, pf, intent, err, errlen)))
        return rc;
    if (esfm_pci_exists(ctx, pf)) {
        if ((rc = esfm_pci_remove(ctx, pf, err, errlen)))
            return -EIO;
        esfm_step(ctx, "remove PF");
    }
    if ((rc = esfm_pci_rescan(ctx, err, errlen)))
        return -EIO;
    esfm_step(ctx, "rescan");
    if (wait_for_device(ctx, pf, 5000))
        return kf_errf(err, errlen, -EIO, "PF %s did not come back after a PCI rescan", pf);
    char drv[64];
    esfm_pci_driver(ctx, pf, drv, sizeof drv);
    if (!drv[0] && ctx->policy->pf_driver) {
        if ((rc = esfm_pci_bind_with_driver_override(ctx, pf, ctx->policy->pf_driver, err, errlen)))
            return rc == -ENOENT ? rc : -EIO;
        esfm_step(ctx, "bind PF driver");
    }
    if ((rc = check_pf_driver(ctx, pf, err, errlen)))
        return rc;
    if ((rc = esfm_pci_set_autoprobe(ctx, pf, false, err, errlen)))
        return -EIO;
    esfm_step(ctx, "autoprobe 0");
    char qp[512];
    esfm_pci_path(ctx, pf, "qdma/qmax", qp, sizeof qp);
    if (ctx->policy->qdma_qmax >= 0 && access(qp, F_OK) == 0) {
        if ((rc = esfm_pci_set_qmax(ctx, pf, (unsigned)ctx->policy->qdma_qmax, err, errlen)))
            return -EIO;
        esfm_step(ctx, "qdma qmax");
    }
    if (nv->valueint >= 0 && (rc = set_numvfs(ctx, pf, (unsigned)nv->valueint, false, err, errlen)))
        return rc;
    if ((rc = bind_vfs(ctx, pf, vfdrv, err, errlen)))
        return rc;
    report_pf(ctx, pf);
    return 0;
}

/* Opens an allow-listed bitstream and checks its sha256, hashed from the descriptor that stays
 * open until the flash is over (bf), so that the file flashed is the file checked. */
static int open_bitstream(struct esfm_ctx *ctx, const char *bitstream,
                          const struct esfm_bitstream **bs, struct esfm_bitstream_file *bf,
                          char sha[65], char *err, size_t errlen)
{
    *bs = esfm_policy_bitstream(ctx->policy, bitstream);
    if (!*bs)
        return kf_errf(err, errlen, -EACCES,
                       "bitstream '%s' is not allow-listed in the policy; add {name, path, "
                       "sha256} under \"bitstreams\"",
                       bitstream);
    if (!ctx->policy->flash_argv)
        return kf_errf(err, errlen, -EINVAL, "the policy has no \"flash_command\"; cannot flash %s",
                       bitstream);
    int rc = esfm_bitstream_open(ctx->policy, *bs, bf, err, errlen);
    if (rc)
        return rc;
    if ((rc = esfm_sha256_fd(bf->fd, bf->canon, sha, err, errlen))) {
        esfm_bitstream_close(bf);
        return rc;
    }
    if (strcmp(sha, (*bs)->sha256) != 0) {
        esfm_bitstream_close(bf);
        return kf_errf(err, errlen, -EACCES,
                       "bitstream %s (%s) has sha256 %s but the policy expects %s; "
                       "refusing to flash",
                       bitstream, bf->canon, sha, (*bs)->sha256);
    }
    return 0;
}

/* Runs the flasher on the checked descriptor; the file must not change before or during it. */
static int flash_bitstream(struct esfm_ctx *ctx, const char *pf, const struct esfm_bitstream *bs,
                           struct esfm_bitstream_file *bf, const char *sha, char *err,
                           size_t errlen)
{
    int rc = esfm_bitstream_recheck(ctx->policy, bs, bf, "between its sha256 check and the flash",
                                    err, errlen);
    if (rc)
        return rc;
    esfm_logf(ctx, "flashing %s (%s, sha256 %s) on %s", bs->name, bf->canon, sha, pf);
    rc = esfm_flash_run(ctx->policy->flash_argv, pf, bs->name, bf->canon, bf->fd, sha, err, errlen);
    if (rc)
        return rc;
    if ((rc = esfm_bitstream_recheck(ctx->policy, bs, bf, "during the flash", err, errlen)))
        return rc;
    esfm_step(ctx, "flash");
    return 0;
}

int esfm_init(struct esfm_ctx *ctx, const char *pf_arg, int nvfs, const char *bitstream,
              const char *vf_driver, char *err, size_t errlen)
{
    char pf[ESFM_BDF_LEN], sha[65];
    int rc = esfm_resolve_pf(ctx, pf_arg, pf, err, errlen);
    if (rc)
        return rc;
    unsigned total = 0, cur = 0;
    if (esfm_pci_read_uint(ctx, pf, "sriov_totalvfs", &total, err, errlen) ||
        esfm_pci_read_uint(ctx, pf, "sriov_numvfs", &cur, err, errlen))
        return -EIO;
    if (nvfs < 0)
        nvfs = (int)cur; /* remove/rescan drops the VFs: bring back as many as there were */
    if ((unsigned)nvfs > total)
        return kf_errf(err, errlen, -EINVAL,
                       "PF %s supports 0 to %u VFs (sriov_totalvfs), "
                       "not %d",
                       pf, total, nvfs);
    const struct esfm_bitstream *bs = NULL;
    struct esfm_bitstream_file bf = {.fd = -1};
    if (bitstream && (rc = open_bitstream(ctx, bitstream, &bs, &bf, sha, err, errlen)))
        return rc;
    if (!vf_driver)
        vf_driver = ctx->policy->vf_driver;
    if (vf_driver && !esfm_pci_driver_exists(ctx, vf_driver)) {
        esfm_bitstream_close(&bf);
        return kf_errf(err, errlen, -ENOENT,
                       "VF driver %s is not loaded (no %s/bus/pci/drivers/%s); load its module",
                       vf_driver, ctx->sysfs_root, vf_driver);
    }
    int lock = esfm_pf_lock(ctx, pf, err, errlen);
    if (lock < 0) {
        esfm_bitstream_close(&bf);
        return lock;
    }
    struct pf_vf *v = NULL;
    size_t n = 0;
    struct esfm_journal j = {.fd = -1};
    cJSON *intent = NULL;
    if ((rc = plan_vms(ctx, pf, -1, &v, &n, err, errlen)))
        goto out;
    if ((rc = check_pf_not_busy(ctx, pf, err, errlen)))
        goto out;
    intent = esfm_intent_new("init", NULL, NULL, NULL);
    cJSON_AddStringToObject(intent, "pf", pf);
    cJSON_AddNumberToObject(intent, "nvfs", nvfs);
    if (bitstream)
        cJSON_AddStringToObject(intent, "bitstream", bitstream);
    if (vf_driver)
        cJSON_AddStringToObject(intent, "vf_driver", vf_driver);
    cJSON_AddBoolToObject(intent, "flashed", false);
    cJSON_AddItemToObject(intent, "vfs", plan_json(v, n));
    if ((rc = esfm_journal_begin(ctx, intent, &j, err, errlen)))
        goto out;
    if ((rc = init_park(ctx, pf, intent, err, errlen)))
        goto end;
    if (bs && (rc = flash_bitstream(ctx, pf, bs, &bf, sha, err, errlen)))
        goto end;
    if (bs) {
        cJSON_ReplaceItemInObjectCaseSensitive(intent, "flashed", cJSON_CreateBool(true));
        if ((rc = esfm_journal_update(ctx, &j, intent, err, errlen)))
            goto end;
    }
    rc = esfm_init_finish(ctx, intent, err, errlen);
end:
    esfm_journal_end(ctx, &j);
out:
    cJSON_Delete(intent);
    free(v);
    close(lock);
    esfm_bitstream_close(&bf);
    return rc;
}
