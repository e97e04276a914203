/* The admin VF commands: attach (a named or the first free VF), detach, pause and unpause, each
 * journaled before its hypervisor call and recorded in the state dir after it. */
#include "hv.h"
#include "esfm_internal.h"
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Checks that a named VF is free, or picks one (vf_named false), under the state lock. */
static int check_or_pick(struct esfm_ctx *ctx, bool vf_named, const struct esfm_hostdev *h,
                         size_t nh, cJSON *st, char vf[ESFM_BDF_LEN], char *err, size_t errlen)
{
    if (!vf_named) {
        if (pick_free_vf(ctx, h, nh, st, vf))
            return kf_errf(err, errlen, -EBUSY,
                           "no free VF: every VF is attached or reserved (see esfm list-vfs); "
                           "create more with esfm reconf PF N");
        return 0;
    }
    const struct esfm_hostdev *e = esfm_hostdev_find(h, nh, vf);
    if (e)
        return kf_errf(err, errlen, -EBUSY, "VF %s is already attached to VM %s", vf, e->domain);
    cJSON *r = esfm_state_vf(st, vf);
    if (r) {
        const char *d = esfm_json_str(r, "domain");
        return kf_errf(err, errlen, -EBUSY,
                       "VF %s is reserved for VM %s (%s); unpause or detach it first", vf,
                       d ? d : "?", esfm_json_str(r, "paused") ? "paused" : "attach in progress");
    }
    return 0;
}

/* Reserves the VF for domain: under the state lock, checks (or picks) it, journals the intent,
 * then records it pending. On error nothing is journaled or recorded. */
static int reserve_vf(struct esfm_ctx *ctx, bool vf_named, char vf[ESFM_BDF_LEN],
                      const char *domain, struct esfm_journal *j, char *err, size_t errlen)
{
    struct esfm_hostdev *h = NULL;
    size_t nh = 0;
    cJSON *st = NULL;
    int rc, fd = esfm_state_lock(ctx, err, errlen);
    if (fd < 0)
        return fd;
    if (!(st = esfm_state_read(ctx, err, errlen)))
        rc = -ENOLCK;
    else if (!(rc = esfm_hostdevs(ctx, &h, &nh, err, errlen)))
        rc = check_or_pick(ctx, vf_named, h, nh, st, vf, err, errlen);
    char alias[ESFM_ALIAS_LEN];
    esfm_alias_for(vf, alias);
    if (!rc) {
        cJSON *intent = esfm_intent_new("attach", vf, domain, alias);
        rc = esfm_journal_begin(ctx, intent, j, err, errlen);
        cJSON_Delete(intent);
    }
    if (!rc) {
        cJSON *r = esfm_state_vf_add(st, vf);
        cJSON_AddStringToObject(r, "domain", domain);
        cJSON_AddStringToObject(r, "alias", alias);
        cJSON_AddBoolToObject(r, "pending", true);
        if ((rc = esfm_state_write(ctx, st, err, errlen)))
            esfm_journal_end(ctx, j);
    }
    esfm_state_unlock(fd);
    cJSON_Delete(st);
    free(h);
    return rc;
}

int esfm_attach(struct esfm_ctx *ctx, const char *vf_arg, const char *domain, char *vf_out,
                char *err, size_t errlen)
{
    char vf[ESFM_BDF_LEN], pf[ESFM_BDF_LEN], alias[ESFM_ALIAS_LEN], guest[ESFM_BDF_LEN] = "";
    int rc = esfm_need_hv(ctx, err, errlen);
    if (rc)
        return rc;
    if (!domain || !*domain)
        return kf_errf(err, errlen, -EINVAL, "attach needs a VM name");
    if (vf_arg && (rc = esfm_resolve_vf(ctx, vf_arg, vf, pf, err, errlen)))
        return rc;
    if ((rc = ctx->hv->ops->domain_lookup(ctx->hv, domain, err, errlen)))
        return rc;
    struct esfm_journal j = {.fd = -1};
    if ((rc = reserve_vf(ctx, vf_arg != NULL, vf, domain, &j, err, errlen)))
        return rc;
    esfm_step(ctx, "VF reserved");
    esfm_alias_for(vf, alias);
    rc = esfm_vf_attach(ctx, vf, domain, guest, err, errlen);
    if (rc && esfm_hv_lost(ctx)) {
        /* libvirtd went away during the call: the VF may or may not be in the VM. Rolling back
         * needs a new connection, so the journal entry stays and the next command rolls the
         * attach back (as after a crash of esfm itself). */
        esfm_journal_keep(&j);
        return esfm_hv_lost_note(rc, "attach", err, errlen);
    }
    char e2[ESFM_ERR_LEN];
    int wrc = 0;
    if (rc) /* nothing attached: drop the reservation */
        wrc = esfm_forget_vf(ctx, vf, e2, sizeof e2);
    else
        rc = wrc = esfm_record_vf(ctx, vf, domain, alias, guest, NULL, false, err, errlen);
    esfm_step(ctx, "VF recorded");
    /* When the state could not be written (a full disk), the journal entry stays: the next run
     * rolls the attach back, so the VF is neither leaked in the VM nor left reserved. */
    if (wrc)
        esfm_journal_keep(&j);
    else
        esfm_journal_end(ctx, &j);
    if (!rc && vf_out)
        snprintf(vf_out, ESFM_BDF_LEN, "%s", vf);
    return rc;
}

int esfm_detach(struct esfm_ctx *ctx, const char *vf_arg, char *err, size_t errlen)
{
    char vf[ESFM_BDF_LEN];
    int rc = esfm_need_hv(ctx, err, errlen);
    if (rc)
        return rc;
    if (esfm_normalize_bdf(vf_arg, vf))
        return kf_errf(err, errlen, -EINVAL, "'%s' is not a PCI address (DDDD:BB:SS.F)",
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
            rc = kf_errf(err, errlen, -ENOENT, "VF %s is not attached to any VM", vf);
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

/* What the state file says about a paused VF: method ("qmp"/"detach"), domain and alias; ""
 * when it is not paused. */
static int read_paused(struct esfm_ctx *ctx, const char *vf, char method[16], char domain[128],
                       char alias[64], char *err, size_t errlen)
{
    int fd = esfm_state_lock(ctx, err, errlen);
    if (fd < 0)
        return fd;
    cJSON *st = esfm_state_read(ctx, err, errlen);
    cJSON *r = st ? esfm_state_vf(st, vf) : NULL;
    const char *pm = r ? esfm_json_str(r, "paused") : NULL;
    if (pm) {
        snprintf(method, 16, "%s", pm);
        snprintf(domain, 128, "%s", esfm_json_str(r, "domain"));
        snprintf(alias, 64, "%s", esfm_json_str(r, "alias"));
    }
    cJSON_Delete(st);
    esfm_state_unlock(fd);
    return st ? 0 : -ENOLCK;
}

/* The VM and alias of a VF to pause, from the hypervisor; it must be idle and have an alias. */
static int find_pause_target(struct esfm_ctx *ctx, const char *vf, char domain[128], char alias[64],
                             char *err, size_t errlen)
{
    struct esfm_hostdev *h = NULL;
    size_t nh = 0;
    int rc = esfm_hostdevs(ctx, &h, &nh, err, errlen);
    if (rc)
        return rc;
    const struct esfm_hostdev *e = esfm_hostdev_find(h, nh, vf);
    if (e) {
        snprintf(domain, 128, "%s", e->domain);
        snprintf(alias, 64, "%s", e->alias);
    }
    free(h);
    if (!e)
        return kf_errf(err, errlen, -ENOENT, "VF %s is not attached to any VM", vf);
    if (!alias[0])
        return kf_errf(err, errlen, -EINVAL,
                       "VF %s in VM %s has no device alias, so QMP cannot name it; "
                       "detach and attach it with esfm",
                       vf, domain);
    return esfm_check_not_busy(ctx, vf, err, errlen);
}

int esfm_pause(struct esfm_ctx *ctx, const char *vf_arg, bool pause, bool *fell_back, char *err,
               size_t errlen)
{
    char vf[ESFM_BDF_LEN], domain[128] = "", alias[64] = "", method[16] = "";
    if (fell_back)
        *fell_back = false;
    int rc = esfm_need_hv(ctx, err, errlen);
    if (rc)
        return rc;
    if (esfm_normalize_bdf(vf_arg, vf))
        return kf_errf(err, errlen, -EINVAL, "'%s' is not a PCI address (DDDD:BB:SS.F)",
                       vf_arg ? vf_arg : "");
    if ((rc = read_paused(ctx, vf, method, domain, alias, err, errlen)))
        return rc;
    if (pause && method[0])
        return kf_errf(err, errlen, -EINVAL, "VF %s is already paused (%s); unpause it first", vf,
                       method);
    if (!pause && !method[0])
        return kf_errf(err, errlen, -EINVAL, "VF %s is not paused", vf);
    if (pause && (rc = find_pause_target(ctx, vf, domain, alias, err, errlen)))
        return rc;
    struct esfm_journal j = {.fd = -1};
    cJSON *intent = esfm_intent_new(pause ? "pause" : "unpause", vf, domain, alias);
    if (!pause)
        cJSON_AddStringToObject(intent, "method", method);
    rc = esfm_journal_begin(ctx, intent, &j, err, errlen);
    cJSON_Delete(intent);
    if (rc)
        return rc;
    const char *m = method;
    if (pause)
        rc = esfm_vf_pause(ctx, vf, domain, alias, &m, err, errlen);
    else
        rc = esfm_vf_unpause(ctx, vf, domain, alias, method, err, errlen);
    if (rc && esfm_hv_lost(ctx)) {
        /* As for attach: whether QEMU paused (or the fallback detached) is unknown; the next
         * command rolls a pause back and an unpause forward from the journal. */
        esfm_journal_keep(&j);
        return esfm_hv_lost_note(rc, pause ? "pause" : "unpause", err, errlen);
    }
    if (!rc) {
        if (fell_back)
            *fell_back = strcmp(m, "detach") == 0;
        rc = esfm_record_vf(ctx, vf, domain, alias, NULL, pause ? m : NULL, false, err, errlen);
    }
    esfm_step(ctx, "pause recorded");
    esfm_journal_end(ctx, &j);
    return rc;
}
