/* Runs the policy's flash_command with execve, an argv built from its template ({pf},
 * {bitstream} (canonical path), {bitstream_fd} (/proc/self/fd/N of the descriptor the sha256 was
 * read from), {name}, {sha256} substituted per argument; no shell) and a fixed environment. */
#include "esfm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char *substitute(const char *t, const char *const keys[], const char *const vals[],
                        size_t nk)
{
    size_t cap = strlen(t) + 1;
    for (size_t k = 0; k < nk; k++)
        cap += 4 * strlen(vals[k]) + 1;
    char *out = malloc(cap * 2);
    if (!out)
        return NULL;
    size_t o = 0;
    while (*t) {
        size_t k;
        for (k = 0; k < nk; k++) {
            size_t kl = strlen(keys[k]);
            if (strncmp(t, keys[k], kl) == 0) {
                size_t vl = strlen(vals[k]);
                memcpy(out + o, vals[k], vl);
                o += vl;
                t += kl;
                break;
            }
        }
        if (k == nk)
            out[o++] = *t++;
    }
    out[o] = '\0';
    return out;
}

int esfm_flash_run(char *const *tmpl, const char *pf, const char *name, const char *path, int fd,
                   const char *sha, char *err, size_t errlen)
{
    static const char *const keys[] = {"{pf}", "{bitstream_fd}", "{bitstream}", "{name}",
                                       "{sha256}"};
    char fdpath[32] = "";
    if (fd >= 0)
        snprintf(fdpath, sizeof fdpath, "/proc/self/fd/%d", fd);
    const char *const vals[] = {pf, fdpath, path, name, sha};
    size_t n = 0;
    while (tmpl[n])
        n++;
    if (n == 0)
        return kf_errf(err, errlen, -EINVAL, "flash_command is empty; give the flasher's path");
    char **argv = calloc(n + 1, sizeof *argv);
    if (!argv)
        return kf_errf(err, errlen, -ENOMEM, "out of memory");
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        argv[i] = substitute(tmpl[i], keys, vals, 5);
        if (!argv[i]) {
            rc = kf_errf(err, errlen, -ENOMEM, "out of memory");
            goto out;
        }
    }
    pid_t pid = fork();
    if (pid < 0) {
        rc = kf_errf(err, errlen, -ENOEXEC, "fork for flash_command failed: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        /* Only the checked bitstream descriptor crosses the exec (the rest are O_CLOEXEC). */
        if (fd >= 0)
            fcntl(fd, F_SETFD, 0);
        /* A fixed environment, not the caller's: the flasher runs as root and must not be
         * steered by LD_PRELOAD, IFS, a user's PATH or anything else the caller had set. */
        static char *const clean_env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C", NULL};
        execve(argv[0], argv, clean_env);
        _exit(127);
    }
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR) {
            rc = kf_errf(err, errlen, -ENOEXEC, "waitpid flash_command: %s", strerror(errno));
            goto out;
        }
    }
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        rc = kf_errf(err, errlen, -ENOEXEC,
                     "flash_command %s for %s on %s exited with %d%s; the FPGA may hold an "
                     "old image, re-run esfm init",
                     argv[0], name, pf, code, code == 127 ? " (cannot execute it)" : "");
    }
out:
    for (size_t i = 0; i < n; i++)
        free(argv[i]);
    free(argv);
    return rc;
}
