/* Whether a VM runs, for esfmd: it releases the VFs of a domain that stopped and refuses
 * requests for one that does not run. */
#include "hv.h"
#include "esfm_internal.h"

#include <errno.h>

int esfm_domain_running(struct esfm_ctx *ctx, const char *domain, bool *running, char *err,
                        size_t errlen)
{
    int rc = esfm_need_hv(ctx, err, errlen);
    if (rc)
        return rc;
    if (!ctx->hv->ops->domain_active)
        return kf_errf(err, errlen, -EREMOTEIO, "hypervisor backend %s cannot tell whether a "
                         "domain runs", ctx->hv->ops->name);
    rc = ctx->hv->ops->domain_active(ctx->hv, domain, err, errlen);
    if (rc < 0 && rc != -ENOENT)
        return rc;
    *running = rc == 1;
    return rc == -ENOENT ? -ENOENT : 0;
}
