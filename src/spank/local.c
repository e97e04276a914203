/* srun/sbatch/salloc side (local and allocator contexts): checks the request against the admin
 * policy before anything is queued, so that bad input fails there and never reaches a node. */
#include "kfarm_spank.h"

#include <kfarm/esfm.h>
#include <unistd.h>

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
    /* Sites may keep the policy unreadable to users; the job prolog still enforces it. */
    bool readable = !cfg->policy[0] || access(cfg->policy, R_OK) == 0;
    if (readable &&
        esfm_policy_check_request(cfg->policy[0] ? cfg->policy : NULL, req->nvfs,
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
