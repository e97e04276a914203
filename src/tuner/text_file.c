/* Whole-file text I/O for configuration and knowledge: read into memory, write atomically
 * (temporary file in the same directory, fsync, rename) so readers never see half a file. */
#include "internal.h"
#include "text_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

char *tuner_read_text(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        tuner_errorf(err, errlen, -e, "%s: cannot open: %s", path, strerror(e));
        errno = e; /* callers tell a missing file from a bad one */
        return NULL;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf) {
        size_t n = fread(buf + len, 1, cap - len - 1, f);
        len += n;
        if (len + 1 < cap)
            break;
        char *nb = realloc(buf, cap * 2);
        if (!nb) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = nb;
        cap *= 2;
    }
    int bad = ferror(f);
    fclose(f);
    if (!buf) {
        tuner_errorf(err, errlen, -ENOMEM, "%s: out of memory reading it", path);
        return NULL;
    }
    if (bad) {
        free(buf);
        tuner_errorf(err, errlen, -EIO, "%s: read error", path);
        return NULL;
    }
    buf[len] = 0;
    return buf;
}

int tuner_write_text_atomic(const char *path, const char *text, char *err, size_t errlen)
{
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp)
        return tuner_errorf(err, errlen, -ENOMEM, "%s: out of memory", path);
    snprintf(tmp, plen + 16, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return tuner_errorf(err, errlen, -e, "%s: cannot create a temporary file beside it: %s",
                            path, strerror(e));
    }
    size_t len = strlen(text), off = 0;
    int rc = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = tuner_errorf(err, errlen, -errno, "%s: write failed: %s", tmp, strerror(errno));
            break;
        }
        off += (size_t)w;
    }
    if (!rc && fsync(fd) < 0)
        rc = tuner_errorf(err, errlen, -errno, "%s: fsync failed: %s", tmp, strerror(errno));
    fchmod(fd, 0644);
    close(fd);
    if (!rc && rename(tmp, path) < 0)
        rc = tuner_errorf(err, errlen, -errno, "cannot rename %s to %s: %s", tmp, path,
                          strerror(errno));
    if (rc)
        unlink(tmp);
    free(tmp);
    return rc;
}

uint64_t tuner_text_hash(const char *text)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = text; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}
