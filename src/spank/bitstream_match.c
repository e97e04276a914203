/* Before a job that names a bitstream gets VFs: the node's PF must run it, as ESFM recorded what
 * it flashed (esfm init/reconf --bitstream). With plugstack reflash=allow and no VF of the PF in
 * use, the prolog re-flashes the PF first; otherwise the job gets the fallback rule with why. A
 * PF ESFM never flashed is trusted as the admin set it up (nothing to compare with). */
#include "esfm_session.h"

#include <errbuf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* VFs of pf that a VM or a job holds: a re-flash would take them away. */
static unsigned vfs_in_use(struct esfm_ctx *ctx, const char *pf)
{
    struct esfm_vf_info *v = NULL;
    size_t n = 0;
    char err[ESFM_ERR_LEN];
    if (esfm_list_vfs(ctx, pf, &v, &n, err, sizeof err))
        return 1; /* unsure: do not flash */
    unsigned used = 0;
    for (size_t i = 0; i < n; i++)
        used += v[i].state != ESFM_VF_FREE || v[i].job_id[0] || v[i].busy;
    free(v);
    return used;
}

static int reflash(const struct ks_slurm *s, const struct ks_config *cfg, struct esfm_ctx *ctx,
                   const char *pf, const char *has, const char *want, char *err, size_t errlen)
{
    if (strcmp(cfg->reflash, "allow") != 0)
        return kf_errf(err, errlen, -EMEDIUMTYPE,
                       "PF %s has bitstream %s, the job asks for %s, and re-flashing in the job "
                       "prolog is off (plugstack reflash=allow turns it on)",
                       pf, has, want);
    unsigned used = vfs_in_use(ctx, pf);
    if (used)
        return kf_errf(err, errlen, -ETXTBSY,
                       "PF %s has bitstream %s, the job asks for %s, and %u of its VFs are in "
                       "use: it cannot be re-flashed now",
                       pf, has, want, used);
    char why[ESFM_ERR_LEN];
    int rc = esfm_init(ctx, pf, -1, want, NULL, why, sizeof why);
    if (rc)
        return kf_errf(err, errlen, rc, "re-flashing PF %s with %s failed: %s", pf, want, why);
    ks_infof(s, "kfarm: re-flashed PF %s with %s (it had %s)", pf, want, has);
    return 0;
}

int ks_bitstream_ready(const struct ks_slurm *s, const struct ks_config *cfg, struct esfm_ctx *ctx,
                       const char *want, char *err, size_t errlen)
{
    struct esfm_pf_info *pfs = NULL;
    size_t n = 0;
    char why[ESFM_ERR_LEN], name[ESFM_BITSTREAM_NAME_LEN], sha[65], other[ESFM_BDF_LEN] = "";
    char other_has[ESFM_BITSTREAM_NAME_LEN] = "";
    int rc = esfm_list_pfs(ctx, &pfs, &n, why, sizeof why);
    if (rc)
        return kf_errf(err, errlen, rc, "%s", why);
    rc = 0;
    for (size_t i = 0; i < n; i++) {
        int r = esfm_pf_bitstream(ctx, pfs[i].bdf, name, sha);
        if (r == -ENOENT || (r == 0 && strcmp(name, want) == 0))
            goto out; /* has it, or never flashed by ESFM: trusted */
        if (r == 0 && !other[0]) {
            snprintf(other, sizeof other, "%s", pfs[i].bdf);
            snprintf(other_has, sizeof other_has, "%s", name);
        }
    }
    if (other[0])
        rc = reflash(s, cfg, ctx, other, other_has, want, err, errlen);
out:
    free(pfs);
    return rc;
}
