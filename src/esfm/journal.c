/* Write-ahead journal: an intent file per multi-step operation in <state-dir>/journal/, written
 * and fsync'd before the first change, flock'd while its process lives, removed when done. */
#include "esfm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

static int write_all_at0(int fd, const char *text)
{
    size_t len = strlen(text), off = 0;
    if (ftruncate(fd, 0))
        return -errno;
    while (off < len) {
        ssize_t w = pwrite(fd, text + off, len - off, (off_t)off);
        if (w < 0)
            return -errno;
        off += (size_t)w;
    }
    return fsync(fd) ? -errno : 0;
}

int esfm_journal_begin(struct esfm_ctx *ctx, const cJSON *intent, struct esfm_journal *j, char *err,
                       size_t errlen)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/journal", ctx->state_dir);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    static atomic_uint seq;
    unsigned s = atomic_fetch_add(&seq, 1);
    snprintf(j->path, sizeof j->path, "%s/%lld.%09ld-%d-%u.json", dir, (long long)ts.tv_sec,
             ts.tv_nsec, (int)getpid(), s);
    j->fd = open(j->path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (j->fd < 0)
        return kf_errf(err, errlen, -ENOLCK, "cannot create journal entry %s: %s", j->path,
                       strerror(errno));
    /* Held until the entry is removed: a reconciler that can take it knows we are dead. */
    flock(j->fd, LOCK_EX);
    char *text = cJSON_PrintUnformatted(intent);
    int rc = text ? write_all_at0(j->fd, text) : -ENOMEM;
    free(text);
    if (!rc)
        rc = sync_dir(dir);
    if (rc) {
        unlink(j->path);
        close(j->fd);
        j->fd = -1;
        return kf_errf(err, errlen, -ENOLCK, "cannot write journal entry %s: %s", j->path,
                       strerror(-rc));
    }
    esfm_step(ctx, "journal intent written");
    return 0;
}

int esfm_journal_update(struct esfm_ctx *ctx, struct esfm_journal *j, const cJSON *intent,
                        char *err, size_t errlen)
{
    char *text = cJSON_PrintUnformatted(intent);
    int rc = text ? write_all_at0(j->fd, text) : -ENOMEM;
    free(text);
    if (rc)
        return kf_errf(err, errlen, -ENOLCK, "cannot update journal entry %s: %s", j->path,
                       strerror(-rc));
    esfm_step(ctx, "journal updated");
    return 0;
}

void esfm_journal_keep(struct esfm_journal *j)
{
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
}

void esfm_journal_end(struct esfm_ctx *ctx, struct esfm_journal *j)
{
    if (j->fd < 0)
        return;
    unlink(j->path);
    char dir[512];
    snprintf(dir, sizeof dir, "%s/journal", ctx->state_dir);
    sync_dir(dir);
    close(j->fd);
    j->fd = -1;
}
