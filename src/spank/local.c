/* srun/sbatch/salloc side (local and allocator contexts): checks the request against the admin
 * policy before anything is queued, so that bad input fails there and never reaches a node. */
#include "kfarm_spank.h"

#include <errbuf.h>
#include <errno.h>
#include <kfarm/esfm.h>
#include <stdio.h>
#include <unistd.h>

/* Sites may keep the policy unreadable to users; the job prolog still enforces it. */
static bool policy_readable(const struct ks_config *cfg)
{
    return !cfg->policy[0] || access(cfg->policy, R_OK) == 0;
}

static const char *policy_path(const struct ks_config *cfg)
{
    return cfg->policy[0] ? cfg->policy : NULL;
}

int ks_check_option(const struct ks_config *cfg, const struct ks_request *req, int which,
                    char *err, size_t errlen)
{
    char why[ESFM_ERR_LEN];
    switch (which) {
    case KS_OPT_VFS:
        /* The policy's message first: it names the site's own limit. */
        if (policy_readable(cfg) &&
            esfm_policy_check_request(policy_path(cfg), req->nvfs, NULL, why, sizeof why))
            return kf_errf(err, errlen, -EACCES, "--fpga-vfs=%u: %s", req->nvfs, why);
        if (req->nvfs > KS_MAX_VFS)
            return kf_errf(err, errlen, -EINVAL,
                           "--fpga-vfs=%u: a job may ask for 1 to %d VFs per node", req->nvfs,
                           KS_MAX_VFS);
        return 0;
    case KS_OPT_BITSTREAM:
        /* One VF: the bitstream alone is checked; the count has its own option. */
        if (policy_readable(cfg) &&
            esfm_policy_check_request(policy_path(cfg), 1, req->bitstream, why, sizeof why))
            return kf_errf(err, errlen, -EACCES, "--fpga-bitstream=%s: %s", req->bitstream, why);
        return 0;
    default:
        return 0;
    }
}

int ks_local_check(const struct ks_slurm *s, const struct ks_config *cfg,
                   const struct ks_request *req)
{
    char err[ESFM_ERR_LEN];
    if (req->bitstream[0] && !req->nvfs) {
        ks_errorf(s, "kfarm: --fpga-bitstream=%s needs --fpga-vfs=N (how many VFs per node)",
                  req->bitstream);
        return -1;
    }
    if (!req->nvfs)
        return 0;
    if (policy_readable(cfg) &&
        esfm_policy_check_request(policy_path(cfg), req->nvfs,
                                  req->bitstream[0] ? req->bitstream : NULL, err, sizeof err)) {
        ks_errorf(s, "kfarm: --fpga-vfs=%u%s%s: %s", req->nvfs,
                  req->bitstream[0] ? " --fpga-bitstream=" : "", req->bitstream, err);
        return -1;
    }
    if (req->nvfs > KS_MAX_VFS) {
        ks_errorf(s, "kfarm: --fpga-vfs=%u: a job may ask for 1 to %d VFs per node", req->nvfs,
                  KS_MAX_VFS);
        return -1;
    }
    return 0;
}
