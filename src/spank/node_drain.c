/* Drains this node in Slurm with a reason (`scontrol update nodename=N state=drain reason=...`)
 * when what ESFM has disagrees with what slurmctld counts: its VFs are not what Slurm thinks, or
 * ESFM cannot be reached. Slurm then sends no new job there until an admin resumes the node. */
#include "kfarm_spank.h"

#include <errbuf.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define SCONTROL_TIMEOUT_MS 15000

int ks_drain_node_scontrol(const struct ks_config *cfg, const char *node, const char *reason,
                           char *err, size_t errlen)
{
    char nodearg[160], reasonarg[KS_ERR_LEN + 16], out[512];
    snprintf(nodearg, sizeof nodearg, "nodename=%s", node);
    /* slurmctld keeps a reason of any length, but sinfo's %E shows the start: keep it short. */
    snprintf(reasonarg, sizeof reasonarg, "reason=kfarm: %.200s", reason);
    char *argv[] = {(char *)cfg->scontrol, "update", nodearg, "state=drain", reasonarg, NULL};
    int status = 0;
    int rc = ks_run_capture(argv, out, sizeof out, SCONTROL_TIMEOUT_MS, &status);
    if (rc == 0 && status == 0)
        return 0;
    out[strcspn(out, "\n")] = '\0';
    return kf_errf(err, errlen, rc ? rc : -EIO, "cannot drain node %s: %s %s", node, cfg->scontrol,
                   rc == -ETIMEDOUT ? "did not answer in 15 s"
                   : rc             ? strerror(-rc)
                                    : out);
}
