/* Listings: PFs with their VF counts, VFs with driver/state/VM/job/busy (sysfs joined with the
 * hypervisor's hostdevs and the state records), and list-vf-vm straight from the hypervisor. */
#include "hv.h"
#include "esfm_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int esfm_list_pfs(struct esfm_ctx *ctx, struct esfm_pf_info **out, size_t *n, char *err,
                  size_t errlen)
{
    char(*pfs)[ESFM_BDF_LEN];
    size_t k;
    *out = NULL;
    *n = 0;
    int rc = esfm_pci_list_pfs(ctx, &pfs, &k);
    if (rc)
        return kf_errf(err, errlen, -EIO, "cannot read %s/bus/pci/devices: %s", ctx->sysfs_root,
                       strerror(-rc));
    struct esfm_pf_info *v = calloc(k ? k : 1, sizeof *v);
    for (size_t i = 0; v && i < k; i++) {
        snprintf(v[i].bdf, sizeof v[i].bdf, "%s", pfs[i]);
        esfm_pci_driver(ctx, pfs[i], v[i].driver, sizeof v[i].driver);
        esfm_pci_read_uint(ctx, pfs[i], "sriov_numvfs", &v[i].numvfs, NULL, 0);
        esfm_pci_read_uint(ctx, pfs[i], "sriov_totalvfs", &v[i].totalvfs, NULL, 0);
    }
    free(pfs);
    if (!v)
        return kf_errf(err, errlen, -ENOMEM, "out of memory");
    *out = v;
    *n = k;
    return 0;
}

int esfm_list_vf_vm(struct esfm_ctx *ctx, struct esfm_hostdev **out, size_t *n, char *err,
                    size_t errlen)
{
    return esfm_hostdevs(ctx, out, n, err, errlen);
}

/* One line of the listing: the VF's driver and busy counter from sysfs, its VM from the
 * hypervisor, paused and owning jobs from the state file. */
static void describe_vf(struct esfm_ctx *ctx, const char *pf, const char *vf,
                        const struct esfm_hostdev *h, size_t nh, cJSON *st, struct esfm_vf_info *x)
{
    memset(x, 0, sizeof *x);
    snprintf(x->pf, sizeof x->pf, "%s", pf);
    snprintf(x->bdf, sizeof x->bdf, "%s", vf);
    esfm_pci_driver(ctx, vf, x->driver, sizeof x->driver);
    esfm_busy_queues(ctx, vf, &x->busy_queues, NULL);
    x->busy = x->busy_queues > 0;
    const struct esfm_hostdev *e = esfm_hostdev_find(h, nh, vf);
    cJSON *r = esfm_state_vf(st, vf);
    if (e) {
        x->state = ESFM_VF_ATTACHED;
        snprintf(x->domain, sizeof x->domain, "%s", e->domain);
    }
    if (r && esfm_json_str(r, "paused")) {
        x->state = ESFM_VF_PAUSED;
        snprintf(x->domain, sizeof x->domain, "%s", esfm_json_str(r, "domain"));
    }
    cJSON *jobs = r ? cJSON_GetObjectItemCaseSensitive(r, "jobs") : NULL;
    size_t o = 0;
    cJSON *j;
    cJSON_ArrayForEach(j, jobs)
    {
        const char *id = esfm_json_str(j, "job");
        if (id && o + strlen(id) + 2 < sizeof x->job_id)
            o += (size_t)snprintf(x->job_id + o, sizeof x->job_id - o, "%s%s", o ? "," : "", id);
    }
}

int esfm_list_vfs(struct esfm_ctx *ctx, const char *pf_arg, struct esfm_vf_info **out, size_t *n,
                  char *err, size_t errlen)
{
    *out = NULL;
    *n = 0;
    char(*pfs)[ESFM_BDF_LEN] = NULL;
    size_t npf = 0;
    int rc;
    if (pf_arg) {
        pfs = calloc(1, ESFM_BDF_LEN);
        if (!pfs)
            return kf_errf(err, errlen, -ENOMEM, "out of memory");
        if ((rc = esfm_resolve_pf(ctx, pf_arg, pfs[0], err, errlen))) {
            free(pfs);
            return rc;
        }
        npf = 1;
    } else if ((rc = esfm_pci_list_pfs(ctx, &pfs, &npf))) {
        return kf_errf(err, errlen, -EIO, "cannot read %s/bus/pci/devices: %s", ctx->sysfs_root,
                       strerror(-rc));
    }
    struct esfm_hostdev *h = NULL;
    size_t nh = 0;
    if (ctx->hv && (rc = esfm_hostdevs(ctx, &h, &nh, err, errlen))) {
        free(pfs);
        return rc;
    }
    int fd = esfm_state_lock(ctx, err, errlen);
    cJSON *st = fd >= 0 ? esfm_state_read(ctx, err, errlen) : NULL;
    esfm_state_unlock(fd);
    struct esfm_vf_info *v = NULL;
    size_t k = 0, cap = 0;
    rc = st ? 0 : -ENOLCK;
    for (size_t p = 0; !rc && p < npf; p++) {
        char(*vfs)[ESFM_BDF_LEN];
        size_t nv;
        if (esfm_pci_list_vfs(ctx, pfs[p], &vfs, &nv))
            continue;
        for (size_t i = 0; i < nv; i++) {
            if (k == cap) {
                size_t ncap = cap ? cap * 2 : 16;
                struct esfm_vf_info *nw = realloc(v, ncap * sizeof *v);
                if (!nw) {
                    rc = -ENOMEM; /* not kf_errf's return: the analyser must see rc != 0 */
                    kf_errf(err, errlen, rc, "out of memory");
                    break;
                }
                v = nw;
                cap = ncap;
            }
            struct esfm_vf_info *x = &v[k++];
            describe_vf(ctx, pfs[p], vfs[i], h, nh, st, x);
        }
        free(vfs);
    }
    cJSON_Delete(st);
    free(h);
    free(pfs);
    if (rc) {
        free(v);
        return rc;
    }
    *out = v;
    *n = k;
    return 0;
}
