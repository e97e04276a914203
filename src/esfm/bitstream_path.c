/* Bitstream files under the policy's bitstream_dir: canonical paths (realpath), containment,
 * root-only directories and files, and one open file descriptor from hash to flash. */
#include "esfm_internal.h"
#include "policy.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Absolute, no empty, "." or ".." component: what the policy may write (realpath does the rest). */
int esfm_bitstream_lexical_ok(const char *p)
{
    if (!p || p[0] != '/')
        return 0;
    for (const char *c = p; *c;) {
        while (*c == '/')
            c++;
        const char *e = strchr(c, '/');
        if (!e)
            e = c + strlen(c);
        size_t n = (size_t)(e - c);
        if ((n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
            return 0;
        c = e;
    }
    return 1;
}

/* dir is canonical; true when path lies strictly below it. */
static int below(const char *dir, const char *path)
{
    size_t n = strlen(dir);
    if (n == 1)
        return path[0] == '/' && path[1] != '\0';
    return strncmp(dir, path, n) == 0 && path[n] == '/' && path[n + 1] != '\0';
}

/* Root-owned and not writable by group or others; `sticky_ok` lets /tmp-like ancestors pass
 * (the sticky bit keeps others from renaming a root-owned entry in them). */
static int safe_stat(const struct stat *st, bool sticky_ok)
{
    if (st->st_uid != 0)
        return 0;
    if (!(st->st_mode & (S_IWGRP | S_IWOTH)))
        return 1;
    return sticky_ok && S_ISDIR(st->st_mode) && (st->st_mode & S_ISVTX);
}

/* "bitstream NAME: file PATH must ..." or "bitstream NAME (PATH): directory DIR must ...". */
static int unsafe(const struct esfm_bitstream *b, const char *canon, const char *what,
                  const char *obj, const struct stat *st, char *err, size_t errlen)
{
    bool file = strcmp(obj, canon) == 0;
    return kf_errf(err, errlen, -EACCES,
                   "bitstream %s%s%s%s: %s %s must be owned by root and not group/world-writable "
                   "(owner uid %u, mode %03o), or anyone who can write it can swap the image "
                   "between the sha256 check and the flash; fix with: chown root %s; chmod "
                   "go-w %s",
                   b->name, file ? "" : " (", file ? "" : canon, file ? "" : ")", what, obj,
                   (unsigned)st->st_uid, (unsigned)(st->st_mode & 07777), obj, obj);
}

/* Every directory from / down to the file's parent: root-owned and not group/world-writable
 * (ancestors of the bitstream dir may be sticky, like /tmp). canon is below cdir. */
static int check_dirs(const struct esfm_bitstream *b, const char *cdir, const char *canon,
                      char *err, size_t errlen)
{
    size_t dirlen = strcmp(cdir, "/") == 0 ? 0 : strlen(cdir);
    size_t parent = (size_t)(strrchr(canon, '/') - canon);
    char d[PATH_MAX];
    for (size_t len = 0; len <= parent; len++) {
        if (len && canon[len] != '/')
            continue;
        /* canon[0..len) is one directory on the way ("/" for len 0). */
        snprintf(d, sizeof d, "%.*s", (int)(len ? len : 1), canon);
        struct stat st;
        if (lstat(d, &st))
            return kf_errf(err, errlen, -ENOENT, "bitstream %s (%s): cannot stat directory %s: %s",
                           b->name, canon, d, strerror(errno));
        if (!S_ISDIR(st.st_mode) || !safe_stat(&st, len < dirlen))
            return unsafe(b, canon, len == dirlen ? "bitstream_dir" : "directory", d, &st, err,
                          errlen);
    }
    return 0;
}

/* Owner, mode and type of the file itself. */
static int check_file(const struct esfm_bitstream *b, const char *canon, const struct stat *st,
                      char *err, size_t errlen)
{
    if (!S_ISREG(st->st_mode))
        return kf_errf(err, errlen, -EACCES, "bitstream %s: %s is not a regular file", b->name,
                       canon);
    if (!safe_stat(st, false))
        return unsafe(b, canon, "file", canon, st, err, errlen);
    return 0;
}

int esfm_bitstream_canon(const struct esfm_policy *p, const struct esfm_bitstream *b,
                         char canon[PATH_MAX], char *err, size_t errlen)
{
    char cdir[PATH_MAX];
    if (!p->bitstream_dir)
        return kf_errf(err, errlen, -EACCES,
                       "bitstream %s (%s): the policy has no \"bitstream_dir\"; add the "
                       "directory that holds the allow-listed images",
                       b->name, b->path);
    if (!realpath(p->bitstream_dir, cdir))
        return kf_errf(err, errlen, errno == ENOENT ? -ENOENT : -EACCES,
                       "bitstream_dir %s: %s; create it (root-owned, mode 755) or fix the "
                       "policy",
                       p->bitstream_dir, strerror(errno));
    if (!realpath(b->path, canon))
        return kf_errf(err, errlen, errno == ENOENT ? -ENOENT : -EACCES,
                       "cannot resolve bitstream %s (%s): %s", b->name, b->path, strerror(errno));
    if (!below(cdir, canon))
        return kf_errf(err, errlen, -EACCES,
                       "bitstream %s: %s resolves to %s, outside the policy's bitstream_dir %s "
                       "(a symlink or .. leads out); refusing it",
                       b->name, b->path, canon, cdir);
    int rc = check_dirs(b, cdir, canon, err, errlen);
    if (rc)
        return rc;
    struct stat st;
    if (stat(canon, &st))
        return kf_errf(err, errlen, errno == ENOENT ? -ENOENT : -EACCES,
                       "cannot stat bitstream %s (%s): %s", b->name, canon, strerror(errno));
    return check_file(b, canon, &st, err, errlen);
}

int esfm_bitstream_open(const struct esfm_policy *p, const struct esfm_bitstream *b,
                        struct esfm_bitstream_file *f, char *err, size_t errlen)
{
    f->fd = -1;
    int rc = esfm_bitstream_canon(p, b, f->canon, err, errlen);
    if (rc)
        return rc;
    /* O_NOFOLLOW: the last component was a plain file when realpath saw it and must still be. */
    f->fd = open(f->canon, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
    if (f->fd < 0)
        return kf_errf(err, errlen, errno == ENOENT ? -ENOENT : -EACCES,
                       "cannot open bitstream %s (%s): %s", b->name, f->canon, strerror(errno));
    if (fstat(f->fd, &f->st)) {
        rc = kf_errf(err, errlen, -EACCES, "fstat bitstream %s: %s", f->canon, strerror(errno));
        goto fail;
    }
    if ((rc = check_file(b, f->canon, &f->st, err, errlen)))
        goto fail;
    return 0;
fail:
    close(f->fd);
    f->fd = -1;
    return rc;
}

int esfm_bitstream_recheck(const struct esfm_policy *p, const struct esfm_bitstream *b,
                           const struct esfm_bitstream_file *f, const char *when, char *err,
                           size_t errlen)
{
    char canon[PATH_MAX];
    int rc = esfm_bitstream_canon(p, b, canon, err, errlen);
    if (rc)
        return rc;
    struct stat now, at_path;
    if (strcmp(canon, f->canon) != 0 || fstat(f->fd, &now) || lstat(canon, &at_path) ||
        now.st_dev != f->st.st_dev || now.st_ino != f->st.st_ino ||
        at_path.st_dev != f->st.st_dev || at_path.st_ino != f->st.st_ino ||
        now.st_size != f->st.st_size || now.st_mtim.tv_sec != f->st.st_mtim.tv_sec ||
        now.st_mtim.tv_nsec != f->st.st_mtim.tv_nsec ||
        now.st_ctim.tv_sec != f->st.st_ctim.tv_sec || now.st_ctim.tv_nsec != f->st.st_ctim.tv_nsec)
        return kf_errf(err, errlen, -EACCES,
                       "bitstream %s (%s) was replaced or changed %s; refusing it (run esfm "
                       "init again once it is stable)",
                       b->name, f->canon, when);
    return check_file(b, canon, &now, err, errlen);
}

void esfm_bitstream_close(struct esfm_bitstream_file *f)
{
    if (f->fd >= 0)
        close(f->fd);
    f->fd = -1;
}
