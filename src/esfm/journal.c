/* Write-ahead journal: an intent per multi-step operation in <state-dir>/journal/, as two files:
 * <id>.json, the intent, only ever replaced whole (kf_atomic_write: new file, fsync, rename,
 * directory fsync), and <id>.lock, flock'd while its process lives. A crash or a full disk leaves
 * the old or the new intent, never a partial one; the lock is a file of its own because a rename
 * replaces the inode a lock on the intent would be held on. */
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

/* <dir>/<id>.lock for the intent <dir>/<id>.json. */
static void lock_path_of(const char *json_path, char *out, size_t len)
{
    size_t l = strlen(json_path);
    if (l > 5 && strcmp(json_path + l - 5, ".json") == 0)
        l -= 5;
    snprintf(out, len, "%.*s.lock", (int)l, json_path);
}

static int write_intent(const char *path, const cJSON *intent, char *err, size_t errlen)
{
    char *text = cJSON_PrintUnformatted(intent);
    if (!text)
        return kf_errf(err, errlen, -ENOMEM, "out of memory");
    int rc = kf_atomic_write_text(path, text, 0600, err, errlen);
    free(text);
    return rc;
}

/* Creates and locks <id>.lock for a new entry id (j->path gets <id>.json). */
static int create_locked(struct esfm_ctx *ctx, struct esfm_journal *j, char *err, size_t errlen)
{
    static atomic_uint seq;
    for (int attempt = 0; attempt < 3; attempt++) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned s = atomic_fetch_add(&seq, 1);
        snprintf(j->path, sizeof j->path, "%s/journal/%lld.%09ld-%d-%u.json", ctx->state_dir,
                 (long long)ts.tv_sec, ts.tv_nsec, (int)getpid(), s);
        char lock[sizeof j->path];
        lock_path_of(j->path, lock, sizeof lock);
        j->fd = open(lock, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (j->fd < 0)
            return kf_errf(err, errlen, -ENOLCK, "cannot create journal lock %s: %s", lock,
                           strerror(errno));
        struct stat st;
        while (flock(j->fd, LOCK_EX) < 0 && errno == EINTR)
            ;
        /* A reconciler that took the lock between our create and flock removed it as litter (it
         * had no intent yet): take a new one. */
        if (fstat(j->fd, &st) == 0 && st.st_nlink > 0)
            return 0;
        close(j->fd);
    }
    j->fd = -1;
    return kf_errf(err, errlen, -ENOLCK, "cannot create a journal lock in %s/journal",
                   ctx->state_dir);
}

int esfm_journal_begin(struct esfm_ctx *ctx, const cJSON *intent, struct esfm_journal *j, char *err,
                       size_t errlen)
{
    /* The lock first: an intent is never without its living owner's lock, so a reconciler that
     * can take the lock knows the owner is dead. */
    int rc = create_locked(ctx, j, err, errlen);
    if (rc)
        return rc;
    char e2[ESFM_ERR_LEN];
    if ((rc = write_intent(j->path, intent, e2, sizeof e2))) {
        char lock[sizeof j->path];
        lock_path_of(j->path, lock, sizeof lock);
        unlink(lock);
        close(j->fd);
        j->fd = -1;
        return kf_errf(err, errlen, -ENOLCK, "cannot write journal entry: %s", e2);
    }
    esfm_step(ctx, "journal intent written");
    return 0;
}

int esfm_journal_update(struct esfm_ctx *ctx, struct esfm_journal *j, const cJSON *intent,
                        char *err, size_t errlen)
{
    char e2[ESFM_ERR_LEN];
    if (write_intent(j->path, intent, e2, sizeof e2))
        return kf_errf(err, errlen, -ENOLCK,
                       "cannot update journal entry (it keeps the previous intent): %s", e2);
    esfm_step(ctx, "journal updated");
    return 0;
}

void esfm_journal_keep(struct esfm_journal *j)
{
    if (j->fd >= 0)
        close(j->fd);
    j->fd = -1;
}

void esfm_journal_remove(const char *json_path)
{
    char lock[600];
    lock_path_of(json_path, lock, sizeof lock);
    /* The intent before its lock: a lock without an intent is only litter (removed by the next
     * reconcile), an intent without a lock would look like a dead owner's. */
    unlink(json_path);
    kf_fsync_parent_dir(json_path);
    unlink(lock);
}

void esfm_journal_end(struct esfm_ctx *ctx, struct esfm_journal *j)
{
    (void)ctx;
    if (j->fd < 0)
        return;
    esfm_journal_remove(j->path);
    close(j->fd);
    j->fd = -1;
}

int esfm_journal_try_lock(const char *json_path, bool shared)
{
    char lock[600];
    lock_path_of(json_path, lock, sizeof lock);
    /* Created when missing (not for a shared look): the owner makes it before the intent, so a
     * missing one means the owner is gone (or the entry was written by an older esfm). */
    int fd = open(lock, shared ? O_RDONLY | O_CLOEXEC : O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (flock(fd, (shared ? LOCK_SH : LOCK_EX) | LOCK_NB)) {
        close(fd);
        return -EWOULDBLOCK;
    }
    /* Unlinked after we opened it: another reconciler repaired the entry meanwhile. */
    if (fstat(fd, &st) || st.st_nlink == 0) {
        close(fd);
        return -ENOENT;
    }
    return fd;
}
