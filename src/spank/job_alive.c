/* Asks Slurm (squeue --states=all) whether a job recorded on this node still runs, so that the
 * prolog can release what a job that ended without an epilog left. Unsure means alive. */
#include "kfarm_spank.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* States after which a job holds nothing on any node. COMPLETING still runs its epilog. */
static const char *const ended[] = {"COMPLETED",     "CANCELLED", "FAILED",    "TIMEOUT",
                                    "NODE_FAIL",     "PREEMPTED", "BOOT_FAIL", "DEADLINE",
                                    "OUT_OF_MEMORY", "REVOKED",   NULL};

int ks_job_alive_squeue(const struct ks_config *cfg, uint32_t job_id)
{
    char id[16], out[256] = "";
    snprintf(id, sizeof id, "%" PRIu32, job_id);
    char *argv[] = {(char *)cfg->squeue, "--noheader", "--states=all", "--jobs", id,
                    "--format=%T",       NULL};
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC))
        return 1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
    pid_t pid;
    int rc = posix_spawn(&pid, cfg->squeue, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (rc) {
        close(pfd[0]);
        return 1;
    }
    size_t o = 0;
    ssize_t r;
    while ((r = read(pfd[0], out + o, sizeof out - 1 - o)) > 0)
        o += (size_t)r;
    out[o] = '\0';
    close(pfd[0]);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 1;
    if (!WIFEXITED(status))
        return 1;
    if (WEXITSTATUS(status) != 0)
        return strstr(out, "Invalid job id") ? 0 : 1; /* purged from the controller: ended */
    out[strcspn(out, " \n")] = '\0';
    if (!out[0])
        return 0;
    for (int i = 0; ended[i]; i++)
        if (strcmp(out, ended[i]) == 0)
            return 0;
    return 1;
}
