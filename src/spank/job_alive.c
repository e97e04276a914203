/* Asks Slurm (squeue --states=all) whether a job recorded on this node still runs, so that the
 * prolog can release what a job that ended without an epilog left. Unsure means alive. */
#include "kfarm_spank.h"

#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define SQUEUE_TIMEOUT_MS 15000

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
    /* Bounded: a controller that does not answer must not hold the job's prolog for long. */
    size_t o = 0;
    bool timed_out = false;
    const uint64_t t0 = kf_now_ns();
    for (;;) {
        long left = SQUEUE_TIMEOUT_MS - (long)((kf_now_ns() - t0) / 1000000);
        struct pollfd p = {.fd = pfd[0], .events = POLLIN};
        if (left <= 0 || (poll(&p, 1, (int)left) < 0 && errno != EINTR)) {
            timed_out = true;
            break;
        }
        char buf[256];
        ssize_t r = read(pfd[0], buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
            break;
        for (ssize_t i = 0; i < r && o < sizeof out - 1; i++)
            out[o++] = buf[i]; /* the first line is all that matters; the rest is drained */
    }
    out[o] = '\0';
    close(pfd[0]);
    if (timed_out)
        kill(pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return 1;
    if (timed_out || !WIFEXITED(status))
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
