/* Admin VF operations: attach (a named or the first free VF), detach, pause and unpause, each
 * journaled before its hypervisor call and recorded in the state dir after it. */
#include "hv.h"
#include "internal.h"
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

cJSON *esfm_intent_new(const char *op, const char *vf, const char *domain, const char *alias)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "op", op);
    if (vf)
        cJSON_AddStringToObject(j, "vf", vf);
    if (domain)
        cJSON_AddStringToObject(j, "domain", domain);
    if (alias)
        cJSON_AddStringToObject(j, "alias", alias);
    return j;
}

/* Updates the record of vf under the state lock: fn edits it (or deletes it). */
static int state_edit(struct esfm_ctx *ctx, void (*fn)(cJSON *st, void *arg), void *arg, char *err,
                      size_t errlen)
{
    int fd = esfm_state_lock(ctx, err, errlen);
    if (fd < 0)
        return fd;
    cJSON *st = esfm_state_read(ctx, err, errlen);
    int rc = -ENOLCK;
    if (st) {
        fn(st, arg);
        rc = esfm_state_write(ctx, st, err, errlen);
        cJSON_Delete(st);
    }
    esfm_state_unlock(fd);
    return rc;
}

struct rec_args {
    const char *vf, *domain, *alias, *guest, *paused;
    bool del, pending;
};

static void rec_apply(cJSON *st, void *p)
{
    struct rec_args *a = p;
    if (a->del) {
        esfm_state_vf_del(st, a->vf);
        return;
    }
    cJSON *r = esfm_state_vf(st, a->vf);
    if (!r)
        r = esfm_state_vf_add(st, a->vf);
    if (!r)
        return;
    const char *keys[] = {"domain", "alias", "guest"};
    const char *vals[] = {a->domain, a->alias, a->guest};
    for (int i = 0; i < 3; i++) {
        if (!vals[i])
            continue;
        cJSON_DeleteItemFromObjectCaseSensitive(r, keys[i]);
        cJSON_AddStringToObject(r, keys[i], vals[i]);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(r, "pending");
    if (a->pending)
        cJSON_AddBoolToObject(r, "pending", true);
    cJSON_DeleteItemFromObjectCaseSensitive(r, "paused");
    if (a->paused)
        cJSON_AddStringToObject(r, "paused", a->paused);
}

int esfm_record_vf(struct esfm_ctx *ctx, const char *vf, const char *domain, const char *alias,
                   const char *guest, const char *paused, bool pending, char *err, size_t errlen)
{
    struct rec_args a = {vf, domain, alias, guest, paused, false, pending};
    return state_edit(ctx, rec_apply, &a, err, errlen);
}

int esfm_forget_vf(struct esfm_ctx *ctx, const char *vf, char *err, size_t errlen)
{
    struct rec_args a = {.vf = vf, .del = true};
    return state_edit(ctx, rec_apply, &a, err, errlen);
}

/* Picks the first VF (over all PFs, BDF order) that no VM holds and no record reserves. */
static int pick_free_vf(struct esfm_ctx *ctx, const struct esfm_hostdev *h, size_t nh, cJSON *st,
                        char vf[ESFM_BDF_LEN])
{
    char(*pfs)[ESFM_BDF_LEN];
    size_t npf;
    if (esfm_pci_list_pfs(ctx, &pfs, &npf))
        return -ENOENT;
    int rc = -EBUSY;
    for (size_t p = 0; p < npf && rc; p++) {
        char(*vfs)[ESFM_BDF_LEN];
        size_t nv;
        if (esfm_pci_list_vfs(ctx, pfs[p], &vfs, &nv))
            continue;
        for (size_t i = 0; i < nv && rc; i++) {
            if (!esfm_hostdev_find(h, nh, vfs[i]) && !esfm_state_vf(st, vfs[i])) {
                snprintf(vf, ESFM_BDF_LEN, "%s", vfs[i]);
                rc = 0;
            }
        }
        free(vfs);
    }
    free(pfs);
    return rc;
}

static int attach(struct esfm_ctx *ctx, const char *vf_arg, const char *domain, char *vf_out,
                  char *err, size_t errlen)
{
    char vf[ESFM_BDF_LEN], pf[ESFM_BDF_LEN], alias[ESFM_ALIAS_LEN], guest[ESFM_BDF_LEN] = "";
    int rc = esfm_need_hv(ctx, err, errlen);
    if (rc)
        return rc;
    if (!domain || !*domain)
        return esfm_fail(err, errlen, -EINVAL, "attach needs a VM name");
    if (vf_arg && (rc = esfm_resolve_vf(ctx, vf_arg, vf, pf, err, errlen)))
        return rc;
    if ((rc = ctx->hv->ops->domain_lookup(ctx->hv, domain, err, errlen)))
        return rc;
    struct esfm_hostdev *h = NULL;
    size_t nh = 0;
    struct esfm_journal j = {.fd = -1};
    cJSON *intent = NULL, *st = NULL;
    int fd = esfm_state_lock(ctx, err, errlen);
    if (fd < 0)
        return fd;
    if (!(st = esfm_state_read(ctx, err, errlen))) {
        rc = -ENOLCK;
        goto unlock;
    }
    if ((rc = esfm_hostdevs(ctx, &h, &nh, err, errlen)))
        goto unlock;
    if (vf_arg) {
        const struct esfm_hostdev *e = esfm_hostdev_find(h, nh, vf);
        cJSON *r = esfm_state_vf(st, vf);
        if (e) {
            rc =
                esfm_fail(err, errlen, -EBUSY, "VF %s is already attached to VM %s", vf, e->domain);
            goto unlock;
        }
        if (r) {
            const char *d = esfm_json_str(r, "domain");
            rc = esfm_fail(
                err, errlen, -EBUSY, "VF %s is reserved for VM %s (%s); unpause or detach it first",
                vf, d ? d : "?", esfm_json_str(r, "paused") ? "paused" : "attach in progress");
            goto unlock;
        }
    } else if (pick_free_vf(ctx, h, nh, st, vf)) {
        rc = esfm_fail(err, errlen, -EBUSY,
                       "no free VF: every VF is attached or reserved (see esfm list-vfs); "
                       "create more with esfm reconf PF N");
        goto unlock;
    }
    esfm_alias_for(vf, alias);
    intent = esfm_intent_new("attach", vf, domain, alias);
    if ((rc = esfm_journal_begin(ctx, intent, &j, err, errlen)))
        goto unlock;
    cJSON *r = esfm_state_vf_add(st, vf);
    cJSON_AddStringToObject(r, "domain", domain);
    cJSON_AddStringToObject(r, "alias", alias);
    cJSON_AddBoolToObject(r, "pending", true);
    rc = esfm_state_write(ctx, st, err, errlen);
unlock:
    esfm_state_unlock(fd);
    cJSON_Delete(st);
    cJSON_Delete(intent);
    free(h);
    if (rc) {
        esfm_journal_end(ctx, &j);
        return rc;
    }
    esfm_step(ctx, "VF reserved");
    rc = esfm_vf_attach(ctx, vf, domain, guest, err, errlen);
    if (rc && esfm_hv_lost(ctx)) {
        /* libvirtd went away during the call: the VF may or may not be in the VM. Rolling back
         * needs a new connection, so the journal entry stays and the next command rolls the
         * attach back (as after a crash of esfm itself). */
        esfm_journal_keep(&j);
        return esfm_hv_lost_note(rc, "attach", err, errlen);
    }
    char e2[ESFM_ERR_LEN];
    if (rc)
        esfm_forget_vf(ctx, vf, e2, sizeof e2); /* nothing attached: drop the reservation */
    else
        rc = esfm_record_vf(ctx, vf, domain, alias, guest, NULL, false, err, errlen);
    esfm_step(ctx, "VF recorded");
    esfm_journal_end(ctx, &j);
    if (!rc && vf_out)
        snprintf(vf_out, ESFM_BDF_LEN, "%s", vf);
    return rc;
}

static int detach(struct esfm_ctx *ctx, const char *vf_arg, char *err, size_t errlen)
{
    char vf[ESFM_BDF_LEN];
    int rc = esfm_need_hv(ctx, err, errlen);
    if (rc)
        return rc;
    if (esfm_normalize_bdf(vf_arg, vf))
        return esfm_fail(err, errlen, -EINVAL, "'%s' is not a PCI address (DDDD:BB:SS.F)",
                         vf_arg ? vf_arg : "");
    struct esfm_hostdev *h = NULL;
    size_t nh = 0;
    if ((rc = esfm_hostdevs(ctx, &h, &nh, err, errlen)))
        return rc;
    const struct esfm_hostdev *e = esfm_hostdev_find(h, nh, vf);
    if (!e) {
        free(h);
        int fd = esfm_state_lock(ctx, err, errlen);
        if (fd < 0)
            return fd;
        cJSON *st = esfm_state_read(ctx, err, errlen);
        cJSON *r = st ? esfm_state_vf(st, vf) : NULL;
        if (r && esfm_json_str(r, "paused")) {
            /* Paused by detach: the VM already lost it; forgetting the VM frees the VF. */
            esfm_logf(ctx, "%s was paused by detach from %s; forgetting it", vf,
                      esfm_json_str(r, "domain"));
            esfm_state_vf_del(st, vf);
            rc = esfm_state_write(ctx, st, err, errlen);
            esfm_publish_state(ctx, vf, "detached");
        } else if (st) {
            rc = esfm_fail(err, errlen, -ENOENT, "VF %s is not attached to any VM", vf);
        } else {
            rc = -ENOLCK;
        }
        cJSON_Delete(st);
        esfm_state_unlock(fd);
        return rc;
    }
    char domain[128], alias[64];
    snprintf(domain, sizeof domain, "%s", e->domain);
    snprintf(alias, sizeof alias, "%s", e->alias);
    free(h);
    if ((rc = esfm_check_not_busy(ctx, vf, err, errlen)))
        return rc;
    struct esfm_journal j = {.fd = -1};
    cJSON *intent = esfm_intent_new("detach", vf, domain, alias);
    rc = esfm_journal_begin(ctx, intent, &j, err, errlen);
    cJSON_Delete(intent);
    if (rc)
        return rc;
    rc = esfm_vf_detach(ctx, vf, domain, alias[0] ? alias : NULL, err, errlen);
    if (rc && esfm_hv_lost(ctx)) {
        /* Unknown whether libvirtd removed it before it went away: the next command rolls the
         * detach forward from the journal (detach again if still there, then forget). */
        esfm_journal_keep(&j);
        return esfm_hv_lost_note(rc, "detach", err, errlen);
    }
    if (!rc)
        rc = esfm_forget_vf(ctx, vf, err, errlen);
    esfm_step(ctx, "VF forgotten");
    esfm_journal_end(ctx, &j);
    return rc;
}

static int pause_vf(struct esfm_ctx *ctx, const char *vf_arg, bool pause, bool *fell_back,
                    char *err, size_t errlen)
{
    char vf[ESFM_BDF_LEN], domain[128] = "", alias[64] = "", method[16] = "", guest[ESFM_BDF_LEN] = "";
    if (fell_back)
        *fell_back = false;
    int rc = esfm_need_hv(ctx, err, errlen);
    if (rc)
        return rc;
    if (esfm_normalize_bdf(vf_arg, vf))
        return esfm_fail(err, errlen, -EINVAL, "'%s' is not a PCI address (DDDD:BB:SS.F)",
                         vf_arg ? vf_arg : "");
    int fd = esfm_state_lock(ctx, err, errlen);
    if (fd < 0)
        return fd;
    cJSON *st = esfm_state_read(ctx, err, errlen);
    cJSON *r = st ? esfm_state_vf(st, vf) : NULL;
    const char *pm = r ? esfm_json_str(r, "paused") : NULL;
    if (pm) {
        snprintf(method, sizeof method, "%s", pm);
        snprintf(domain, sizeof domain, "%s", esfm_json_str(r, "domain"));
        snprintf(alias, sizeof alias, "%s", esfm_json_str(r, "alias"));
        const char *g = esfm_json_str(r, "guest");
        snprintf(guest, sizeof guest, "%s", g ? g : "");
    }
    cJSON_Delete(st);
    esfm_state_unlock(fd);
    if (!st)
        return -ENOLCK;
    if (pause && pm)
        return esfm_fail(err, errlen, -EINVAL, "VF %s is already paused (%s); unpause it first", vf,
                         method);
    if (!pause && !pm)
        return esfm_fail(err, errlen, -EINVAL, "VF %s is not paused", vf);
    if (pause) {
        struct esfm_hostdev *h = NULL;
        size_t nh = 0;
        if ((rc = esfm_hostdevs(ctx, &h, &nh, err, errlen)))
            return rc;
        const struct esfm_hostdev *e = esfm_hostdev_find(h, nh, vf);
        if (e) {
            snprintf(domain, sizeof domain, "%s", e->domain);
            snprintf(alias, sizeof alias, "%s", e->alias);
        }
        free(h);
        if (!e)
            return esfm_fail(err, errlen, -ENOENT, "VF %s is not attached to any VM", vf);
        if (!alias[0])
            return esfm_fail(err, errlen, -EINVAL,
                             "VF %s in VM %s has no device alias, so QMP cannot name it; "
                             "detach and attach it with esfm",
                             vf, domain);
        if ((rc = esfm_check_not_busy(ctx, vf, err, errlen)))
            return rc;
    }
    struct esfm_journal j = {.fd = -1};
    cJSON *intent = esfm_intent_new(pause ? "pause" : "unpause", vf, domain, alias);
    if (!pause)
        cJSON_AddStringToObject(intent, "method", method);
    rc = esfm_journal_begin(ctx, intent, &j, err, errlen);
    cJSON_Delete(intent);
    if (rc)
        return rc;
    if (pause) {
        const char *m = NULL;
        rc = esfm_vf_pause(ctx, vf, domain, alias, &m, err, errlen);
        if (!rc) {
            if (fell_back)
                *fell_back = strcmp(m, "detach") == 0;
            rc = esfm_record_vf(ctx, vf, domain, alias, NULL, m, false, err, errlen);
        }
    } else {
        rc = esfm_vf_unpause(ctx, vf, domain, alias, method, guest, err, errlen);
        if (!rc) {
            if (fell_back)
                *fell_back = strcmp(method, "detach") == 0;
            rc = esfm_record_vf(ctx, vf, domain, alias, NULL, NULL, false, err, errlen);
        }
    }
    if (rc && esfm_hv_lost(ctx)) {
        /* As for attach: whether QEMU paused (or the fallback detached) is unknown; the next
         * command rolls a pause back and an unpause forward from the journal. */
        esfm_journal_keep(&j);
        return esfm_hv_lost_note(rc, pause ? "pause" : "unpause", err, errlen);
    }
    esfm_step(ctx, "pause recorded");
    esfm_journal_end(ctx, &j);
    return rc;
}

/* The public VF operations hold their PF's lock shared (all PFs' when no VF is named), so that
 * they never run beside init/reconf of that PF (lock order: pf_locks.c). */
int esfm_attach(struct esfm_ctx *ctx, const char *vf_arg, const char *domain, char *vf_out,
                char *err, size_t errlen)
{
    struct esfm_pf_hold h;
    int rc = esfm_pf_hold(ctx, vf_arg, &h, err, errlen);
    if (rc)
        return rc;
    rc = attach(ctx, vf_arg, domain, vf_out, err, errlen);
    esfm_pf_release(&h);
    return rc;
}

int esfm_detach(struct esfm_ctx *ctx, const char *vf_arg, char *err, size_t errlen)
{
    struct esfm_pf_hold h;
    int rc = esfm_pf_hold(ctx, vf_arg, &h, err, errlen);
    if (rc)
        return rc;
    rc = detach(ctx, vf_arg, err, errlen);
    esfm_pf_release(&h);
    return rc;
}

int esfm_pause(struct esfm_ctx *ctx, const char *vf_arg, bool pause, bool *fell_back, char *err,
               size_t errlen)
{
    struct esfm_pf_hold h;
    int rc = esfm_pf_hold(ctx, vf_arg, &h, err, errlen);
    if (rc)
        return rc;
    rc = pause_vf(ctx, vf_arg, pause, fell_back, err, errlen);
    esfm_pf_release(&h);
    return rc;
}
