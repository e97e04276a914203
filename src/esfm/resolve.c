/* Resolving the PF and VF arguments of the commands against sysfs: a BDF in either form or a
 * PF's vendor:device, with messages that say what the argument is instead. */
#include "esfm_internal.h"
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int esfm_resolve_pf(struct esfm_ctx *ctx, const char *arg, char pf[ESFM_BDF_LEN], char *err,
                    size_t errlen)
{
    if (!arg) {
        for (char **id = ctx->policy->pf_ids; id && *id; id++)
            if (esfm_pci_find_by_id(ctx, *id, pf) == 0)
                return 0;
        return kf_errf(err, errlen, ctx->policy->pf_ids ? -ENOENT : -EINVAL,
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
            return kf_errf(err, errlen, -ENOENT, "no SR-IOV PF with vendor:device %s under %s", arg,
                           ctx->sysfs_root);
        return 0;
    }
    if (esfm_normalize_bdf(arg, pf))
        return kf_errf(err, errlen, -EINVAL,
                       "'%s' is not a PCI address (DDDD:BB:SS.F) nor vendor:device", arg);
    if (!esfm_pci_exists(ctx, pf))
        return kf_errf(err, errlen, -ENOENT,
                       "no PCI device %s under %s/bus/pci/devices; check lspci -D", pf,
                       ctx->sysfs_root);
    if (!esfm_pci_is_pf(ctx, pf)) {
        char phys[ESFM_BDF_LEN];
        if (esfm_pci_physfn(ctx, pf, phys) == 0)
            return kf_errf(err, errlen, -EINVAL, "%s is a VF of PF %s, not a PF", pf, phys);
        return kf_errf(err, errlen, -EINVAL, "%s is not an SR-IOV PF (it has no sriov_totalvfs)",
                       pf);
    }
    return 0;
}

int esfm_resolve_vf(struct esfm_ctx *ctx, const char *arg, char vf[ESFM_BDF_LEN],
                    char pf[ESFM_BDF_LEN], char *err, size_t errlen)
{
    if (esfm_normalize_bdf(arg, vf))
        return kf_errf(err, errlen, -EINVAL, "'%s' is not a PCI address (DDDD:BB:SS.F)", arg);
    if (!esfm_pci_exists(ctx, vf))
        return kf_errf(err, errlen, -ENOENT,
                       "no PCI device %s under %s/bus/pci/devices; see esfm list-vfs", vf,
                       ctx->sysfs_root);
    if (esfm_pci_physfn(ctx, vf, pf))
        return kf_errf(err, errlen, -EINVAL, "%s is not a VF (it has no physfn link)%s", vf,
                       esfm_pci_is_pf(ctx, vf) ? "; it is a PF" : "");
    return 0;
}
