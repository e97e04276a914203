/* The per-VF moves every operation is built from (attach, detach, pause with its detach
 * fallback, unpause), the busy check, and resolving PF/VF arguments against sysfs. */
#include "hv.h"
#include "internal.h"
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int esfm_need_hv(struct esfm_ctx *ctx, char *err, size_t errlen)
{
    if (ctx->hv)
        return 0;
    return esfm_fail(err, errlen, -EINVAL,
                     "this command talks to the hypervisor: pass --connect URI (e.g. "
                     "qemu:///system)");
}

bool esfm_hv_lost(struct esfm_ctx *ctx)
{
    return ctx->hv && ctx->hv->ops->alive && !ctx->hv->ops->alive(ctx->hv);
}

int esfm_hv_lost_note(int rc, const char *op, char *err, size_t errlen)
{
    size_t l = strnlen(err, errlen);
    if (l + 1 < errlen)
        snprintf(err + l, errlen - l,
                 "; the connection to libvirtd was lost (restarted?), so whether the %s took "
                 "effect is unknown: the journal keeps it and the next esfm command (e.g. esfm "
                 "reconcile) finishes it",
                 op);
    return rc;
}

int esfm_hostdevs(struct esfm_ctx *ctx, struct esfm_hostdev **out, size_t *n, char *err,
                  size_t errlen)
{
    int rc = esfm_need_hv(ctx, err, errlen);
    if (rc)
        return rc;
    return ctx->hv->ops->list(ctx->hv, out, n, err, errlen);
}

const struct esfm_hostdev *esfm_hostdev_find(const struct esfm_hostdev *h, size_t n,
                                             const char *bdf)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(h[i].bdf, bdf) == 0)
            return &h[i];
    return NULL;
}

int esfm_check_not_busy(struct esfm_ctx *ctx, const char *vf, char *err, size_t errlen)
{
    if (ctx->force)
        return 0;
    unsigned q = 0;
    pid_t pid = 0;
    esfm_busy_queues(ctx, vf, &q, &pid);
    if (q == 0)
        return 0;
    char who[48] = "";
    if (pid)
        snprintf(who, sizeof who, " held by pid %d", (int)pid);
    return esfm_fail(err, errlen, -EBUSY,
                     "VF %s is busy: %u active queue(s)%s; stop the process using it or pass "
                     "--force",
                     vf, q, who);
}

int esfm_vf_attach(struct esfm_ctx *ctx, const char *vf, const char *domain, char *guest, char *err,
                   size_t errlen)
{
    char alias[ESFM_ALIAS_LEN], g[ESFM_BDF_LEN] = "";
    esfm_alias_for(vf, alias);
    if (guest)
        snprintf(g, sizeof g, "%s", guest); /* a pinned address, or "" */
    int rc = ctx->hv->ops->attach(ctx->hv, domain, vf, alias, ctx->hv_flags, g, err, errlen);
    esfm_step(ctx, "hypervisor attach");
    if (rc)
        return rc;
    if (guest)
        snprintf(guest, ESFM_BDF_LEN, "%s", g);
    esfm_logf(ctx, "attached %s to %s as %s%s%s", vf, domain, alias, g[0] ? ", guest " : "", g);
    esfm_publish_vf(ctx, vf, domain, g, "active");
    return 0;
}

int esfm_vf_detach(struct esfm_ctx *ctx, const char *vf, const char *domain, const char *alias,
                   char *err, size_t errlen)
{
    int rc = ctx->hv->ops->detach(ctx->hv, domain, vf, alias, ctx->hv_flags, ctx->detach_timeout_ms,
                                  err, errlen);
    esfm_step(ctx, "hypervisor detach");
    if (rc)
        return rc;
    esfm_logf(ctx, "detached %s from %s", vf, domain);
    esfm_publish_state(ctx, vf, "detached");
    return 0;
}

int esfm_vf_pause(struct esfm_ctx *ctx, const char *vf, const char *domain, const char *alias,
                  const char **method, char *err, size_t errlen)
{
    char qerr[ESFM_ERR_LEN] = "";
    int rc = ctx->hv->ops->pause(ctx->hv, domain, alias, true, qerr, sizeof qerr);
    esfm_step(ctx, "QMP device_pause");
    if (rc == 0) {
        *method = "qmp";
        esfm_logf(ctx, "paused %s in %s (QMP device_pause)", vf, domain);
        esfm_publish_state(ctx, vf, "paused");
        return 0;
    }
    if (rc != -EOPNOTSUPP)
        return esfm_fail(err, errlen, rc, "%s", qerr);
    esfm_logf(ctx,
              "QEMU of %s has no device_pause (CommandNotFound): falling back to detach of %s; "
              "unpause will re-attach it",
              domain, vf);
    rc = ctx->hv->ops->detach(ctx->hv, domain, vf, alias, ctx->hv_flags, ctx->detach_timeout_ms,
                              err, errlen);
    esfm_step(ctx, "fallback detach");
    if (rc)
        return rc;
    *method = "detach";
    esfm_publish_state(ctx, vf, "paused");
    return 0;
}

int esfm_vf_unpause(struct esfm_ctx *ctx, const char *vf, const char *domain, const char *alias,
                    const char *method, const char *guest, char *err, size_t errlen)
{
    int rc;
    if (method && strcmp(method, "detach") == 0) {
        char g[ESFM_BDF_LEN]; /* back at the address it had: the job's KFARM_VF_BDFS stay true */
        snprintf(g, sizeof g, "%s", guest ? guest : "");
        rc = ctx->hv->ops->attach(ctx->hv, domain, vf, alias, ctx->hv_flags, g, err, errlen);
        esfm_step(ctx, "fallback re-attach");
        if (!rc)
            esfm_logf(ctx, "re-attached %s to %s (unpause by attach)", vf, domain);
    } else {
        rc = ctx->hv->ops->pause(ctx->hv, domain, alias, false, err, errlen);
        esfm_step(ctx, "QMP device_pause false");
        if (!rc)
            esfm_logf(ctx, "unpaused %s in %s (QMP device_pause)", vf, domain);
    }
    if (!rc)
        esfm_publish_state(ctx, vf, "active");
    return rc;
}

int esfm_resolve_pf(struct esfm_ctx *ctx, const char *arg, char pf[ESFM_BDF_LEN], char *err,
                    size_t errlen)
{
    if (!arg) {
        for (char **id = ctx->policy->pf_ids; id && *id; id++)
            if (esfm_pci_find_by_id(ctx, *id, pf) == 0)
                return 0;
        return esfm_fail(err, errlen, ctx->policy->pf_ids ? -ENOENT : -EINVAL,
                         ctx->policy->pf_ids
                             ? "no PF matching the policy's pf_ids found under %s/bus/pci"
                             : "name the PF (BDF or vendor:device), or list pf_ids in the "
                               "policy (%s)",
                         ctx->sysfs_root);
    }
    unsigned v, d;
    char tail;
    if (strlen(arg) == 9 && sscanf(arg, "%4x:%4x%c", &v, &d, &tail) == 2) {
        int rc = esfm_pci_find_by_id(ctx, arg, pf);
        if (rc)
            return esfm_fail(err, errlen, -ENOENT, "no SR-IOV PF with vendor:device %s under %s",
                             arg, ctx->sysfs_root);
        return 0;
    }
    if (esfm_normalize_bdf(arg, pf))
        return esfm_fail(err, errlen, -EINVAL,
                         "'%s' is not a PCI address (DDDD:BB:SS.F) nor vendor:device", arg);
    if (!esfm_pci_exists(ctx, pf))
        return esfm_fail(err, errlen, -ENOENT,
                         "no PCI device %s under %s/bus/pci/devices; check lspci -D", pf,
                         ctx->sysfs_root);
    if (!esfm_pci_is_pf(ctx, pf)) {
        char phys[ESFM_BDF_LEN];
        if (esfm_pci_physfn(ctx, pf, phys) == 0)
            return esfm_fail(err, errlen, -EINVAL, "%s is a VF of PF %s, not a PF", pf, phys);
        return esfm_fail(err, errlen, -EINVAL, "%s is not an SR-IOV PF (it has no sriov_totalvfs)",
                         pf);
    }
    return 0;
}

int esfm_resolve_vf(struct esfm_ctx *ctx, const char *arg, char vf[ESFM_BDF_LEN],
                    char pf[ESFM_BDF_LEN], char *err, size_t errlen)
{
    if (esfm_normalize_bdf(arg, vf))
        return esfm_fail(err, errlen, -EINVAL, "'%s' is not a PCI address (DDDD:BB:SS.F)", arg);
    if (!esfm_pci_exists(ctx, vf))
        return esfm_fail(err, errlen, -ENOENT,
                         "no PCI device %s under %s/bus/pci/devices; see esfm list-vfs", vf,
                         ctx->sysfs_root);
    if (esfm_pci_physfn(ctx, vf, pf))
        return esfm_fail(err, errlen, -EINVAL, "%s is not a VF (it has no physfn link)%s", vf,
                         esfm_pci_is_pf(ctx, vf) ? "; it is a PF" : "");
    return 0;
}
