/* Atomic file replacement (temp file, fsync, rename, directory fsync) for every writer in the tree:
 * ptdr binary profiles, ESFM state and journal, SPANK records, tuner files, the endpoint file. */
#include "atomic_file.h"

#include "errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int kf_fsync_parent_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash)
        dir = strdup(".");
    else if (slash == path)
        dir = strdup("/");
    else
        dir = strndup(path, (size_t)(slash - path));
    if (!dir)
        return -ENOMEM;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) ? -errno : 0;
    close(fd);
    return rc;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int kf_atomic_write(const char *path, const void *data, size_t len, mode_t mode, char *err,
                    size_t errlen)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + sizeof ".tmpXXXXXX");
    if (!tmp)
        return kf_errf(err, errlen, -ENOMEM, "%s: out of memory", path);
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmpXXXXXX", sizeof ".tmpXXXXXX");
    int fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        int rc = kf_errf(err, errlen, -errno, "%s: cannot create a temporary file beside it: %s",
                         path, strerror(errno));
        free(tmp);
        return rc;
    }
    int rc = 0;
    if (fchmod(fd, mode) < 0)
        rc = kf_errf(err, errlen, -errno, "%s: cannot set mode %04o: %s", tmp, (unsigned)mode,
                     strerror(errno));
    if (!rc) {
        int w = write_all(fd, data, len);
        if (w)
            rc = kf_errf(err, errlen, w, "%s: write failed: %s", tmp, strerror(-w));
    }
    if (!rc && fsync(fd) < 0)
        rc = kf_errf(err, errlen, -errno, "%s: fsync failed: %s", tmp, strerror(errno));
    /* close() can report a deferred write error (NFS); it counts. */
    if (close(fd) < 0 && !rc)
        rc = kf_errf(err, errlen, -errno, "%s: close failed: %s", tmp, strerror(errno));
    if (!rc && rename(tmp, path) < 0)
        rc = kf_errf(err, errlen, -errno, "cannot rename %s to %s: %s", tmp, path,
                     strerror(errno));
    if (rc)
        unlink(tmp);
    else
        kf_fsync_parent_dir(path); /* best effort: the new contents are in place either way */
    free(tmp);
    return rc;
}

int kf_atomic_write_text(const char *path, const char *text, mode_t mode, char *err, size_t errlen)
{
    return kf_atomic_write(path, text, strlen(text), mode, err, errlen);
}
