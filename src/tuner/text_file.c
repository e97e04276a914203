/* Whole-file text input for configuration and knowledge (writes go through kf_atomic_write_text),
 * and the hash that names a knowledge message. */
#include "tuner_private.h"
#include "text_file.h"

#include <stdlib.h>
#include <string.h>

char *tuner_read_text(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        kf_errf(err, errlen, -e, "%s: cannot open: %s", path, strerror(e));
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
        kf_errf(err, errlen, -ENOMEM, "%s: out of memory reading it", path);
        return NULL;
    }
    if (bad) {
        free(buf);
        kf_errf(err, errlen, -EIO, "%s: read error", path);
        return NULL;
    }
    buf[len] = 0;
    return buf;
}

uint64_t tuner_text_hash(const char *text)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = text; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return h;
}
