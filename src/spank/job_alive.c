/* Asks Slurm (squeue --states=all) whether a job recorded on this node still runs, so that the
 * prolog can release what a job that ended without an epilog left. Unsure means alive. */
#include "kfarm_spank.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define SQUEUE_TIMEOUT_MS 15000

/* States after which a job holds nothing on any node. COMPLETING still runs its epilog. */
static const char *const ended[] = {"COMPLETED",     "CANCELLED", "FAILED",    "TIMEOUT",
                                    "NODE_FAIL",     "PREEMPTED", "BOOT_FAIL", "DEADLINE",
                                    "OUT_OF_MEMORY", "REVOKED",   NULL};

int ks_job_alive_squeue(const struct ks_config *cfg, uint32_t job_id)
{
    char id[16], out[256];
    snprintf(id, sizeof id, "%" PRIu32, job_id);
    char *argv[] = {(char *)cfg->squeue, "--noheader", "--states=all", "--jobs", id,
                    "--format=%T",       NULL};
    int status;
    if (ks_run_capture(argv, out, sizeof out, SQUEUE_TIMEOUT_MS, &status))
        return 1; /* no squeue, or no answer in time: unsure */
    if (status != 0)
        return strstr(out, "Invalid job id") ? 0 : 1; /* purged from the controller: ended */
    out[strcspn(out, " \n")] = '\0';
    if (!out[0])
        return 0;
    for (int i = 0; ended[i]; i++)
        if (strcmp(out, ended[i]) == 0)
            return 0;
    return 1;
}
