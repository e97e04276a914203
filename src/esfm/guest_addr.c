/* Pinned guest PCI addresses: the VF a job gets appears in its VM at an address chosen from the
 * admin's reserved buses, so the address the job was told stays true across pause by detach. */
#include "esfm_internal.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static bool used(cJSON *st, const struct esfm_hostdev *h, size_t nh, const char *domain,
                 char (*taken)[ESFM_BDF_LEN], size_t ntaken, const char *addr)
{
    for (size_t i = 0; i < nh; i++)
        if (strcmp(h[i].domain, domain) == 0 && strcmp(h[i].guest_bdf, addr) == 0)
            return true;
    for (size_t i = 0; i < ntaken; i++)
        if (strcmp(taken[i], addr) == 0)
            return true;
    cJSON *r;
    cJSON_ArrayForEach(r, cJSON_GetObjectItemCaseSensitive(st, "vfs"))
    {
        const char *d = esfm_json_str(r, "domain"), *g = esfm_json_str(r, "guest");
        if (d && g && strcmp(d, domain) == 0 && strcmp(g, addr) == 0)
            return true;
    }
    return false;
}

int esfm_guest_pick(struct esfm_ctx *ctx, cJSON *st, const struct esfm_hostdev *h, size_t nh,
                    const char *domain, char (*taken)[ESFM_BDF_LEN], size_t ntaken,
                    char out[ESFM_BDF_LEN], char *err, size_t errlen)
{
    for (unsigned b = ctx->guest_bus_first; b < ctx->guest_bus_first + ctx->guest_buses; b++) {
        snprintf(out, ESFM_BDF_LEN, "0000:%02x:00.0", b);
        if (!used(st, h, nh, domain, taken, ntaken, out))
            return 0;
    }
    out[0] = '\0';
    return kf_errf(err, errlen, -EBUSY,
                     "VM %s has no free guest PCI slot among the %u reserved buses from 0x%02x; "
                     "give it more pcie-root-ports and raise the reserved range",
                     domain, ctx->guest_buses, ctx->guest_bus_first);
}
