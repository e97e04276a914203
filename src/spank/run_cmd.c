/* Runs one Slurm client command (squeue, scontrol) from the job prolog with a deadline and keeps
 * the start of its output: a controller that does not answer must not hold a prolog for long. */
#include "kfarm_spank.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static long elapsed_ms(const struct timespec *t0)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

/* Reads fd into out until EOF or the deadline; the rest past outlen is drained. false: timed out.
 */
static bool read_all(int fd, char *out, size_t outlen, int timeout_ms)
{
    size_t o = 0;
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        long left = timeout_ms - elapsed_ms(&t0);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (left <= 0 || (poll(&p, 1, (int)left) < 0 && errno != EINTR)) {
            out[o] = '\0';
            return false;
        }
        char buf[512];
        ssize_t r = read(fd, buf, sizeof buf);
        if (r == 0 || (r < 0 && errno != EINTR && errno != EAGAIN))
            break;
        for (ssize_t i = 0; i < r && o < outlen - 1; i++)
            out[o++] = buf[i];
    }
    out[o] = '\0';
    return true;
}

int ks_run_capture(char *const argv[], char *out, size_t outlen, int timeout_ms, int *exit_status)
{
    int pfd[2];
    out[0] = '\0';
    if (pipe2(pfd, O_CLOEXEC))
        return -errno;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pfd[1], 2);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pfd[1]);
    if (rc) {
        close(pfd[0]);
        return -rc;
    }
    bool done = read_all(pfd[0], out, outlen, timeout_ms);
    close(pfd[0]);
    if (!done)
        kill(pid, SIGKILL);
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -errno;
    if (!done)
        return -ETIMEDOUT;
    if (!WIFEXITED(status))
        return -ECHILD;
    *exit_status = WEXITSTATUS(status);
    return 0;
}
