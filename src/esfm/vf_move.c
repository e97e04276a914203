/* The moves of one VF that every operation is built from (attach, detach, pause with its detach
 * fallback, unpause) through the hypervisor backend, the busy check and the hostdev lookups. */
#include "hv.h"
#include "esfm_internal.h"
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int esfm_need_hv(struct esfm_ctx *ctx, char *err, size_t errlen)
{
    if (ctx->hv)
        return 0;
    return kf_errf(err, errlen, -EINVAL,
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
    return kf_errf(err, errlen, -EBUSY,
                   "VF %s is busy: %u active queue(s)%s; stop the process using it or pass "
                   "--force",
                   vf, q, who);
}

int esfm_vf_attach(struct esfm_ctx *ctx, const char *vf, const char *domain, char *guest, char *err,
                   size_t errlen)
{
    char alias[ESFM_ALIAS_LEN], g[ESFM_BDF_LEN] = "";
    esfm_alias_for(vf, alias);
    int rc = ctx->hv->ops->attach(ctx->hv, domain, vf, alias, ctx->hv_flags, g, err, errlen);
    esfm_step(ctx, "hypervisor attach");
    if (rc)
        return rc;
    if (guest)
        snprintf(guest, ESFM_BDF_LEN, "%s", g);
    esfm_logf(ctx, "attached %s to %s as %s%s%s", vf, domain, alias, g[0] ? ", guest " : "", g);
    esfm_publish_state(ctx, vf, "active");
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
        return kf_errf(err, errlen, rc, "%s", qerr);
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
                    const char *method, char *err, size_t errlen)
{
    int rc;
    if (method && strcmp(method, "detach") == 0) {
        char g[ESFM_BDF_LEN];
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
