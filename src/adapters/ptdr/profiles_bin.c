/* The binary profile format: writes the in-memory layout to a file, and loads a file by mapping
 * it read-only, checking the header and every invariant before the kernels see it. */
#include "profiles.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ptdr_sample.h"

static int write_all(int fd, const void *buf, size_t len)
{
    const char *b = buf;
    while (len) {
        ssize_t n = write(fd, b, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        b += n;
        len -= (size_t)n;
    }
    return 0;
}

int ptdr_profiles_write_binary(const struct ptdr_profiles *p, const char *path, char *err,
                               size_t errlen)
{
    struct ptdr_file_header h;
    ptdr_layout(&h, p->n_seg, p->n_bins, p->id_off[p->n_seg], p->max_bins);
    /* The block of a loaded set already is the file image; re-derive the header anyway so a
     * writer bug cannot produce a file the loader would map differently. */
    if (h.total_size != p->block_size || memcmp(&h, p->block, sizeof(h)) != 0) {
        snprintf(err, errlen, "%s: internal error: profile layout does not match its header", path);
        return -EINVAL;
    }
    size_t plen = strlen(path);
    char *tmp = malloc(plen + 16);
    if (!tmp) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    snprintf(tmp, plen + 16, "%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = fd < 0 ? -errno : 0;
    if (!rc)
        rc = write_all(fd, p->block, p->block_size);
    if (!rc && fsync(fd) < 0)
        rc = -errno;
    if (fd >= 0 && close(fd) < 0 && !rc)
        rc = -errno;
    if (!rc && rename(tmp, path) < 0)
        rc = -errno;
    if (rc) {
        snprintf(err, errlen, "%s: cannot write the binary profiles: %s", path, strerror(-rc));
        unlink(tmp);
    }
    free(tmp);
    return rc;
}

int ptdr_profiles_load_binary(const char *path, struct ptdr_profiles **out, char *err,
                              size_t errlen)
{
    int rc = 0;
    struct ptdr_profiles *p = NULL;
    void *map = MAP_FAILED;
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        rc = -errno;
        snprintf(err, errlen, "%s: cannot open the profile file: %s", path, strerror(-rc));
        goto fail;
    }
    if ((size_t)st.st_size < sizeof(struct ptdr_file_header)) {
        snprintf(err, errlen, "%s: truncated binary profile file (%lld bytes)", path,
                 (long long)st.st_size);
        rc = -EINVAL;
        goto fail;
    }
    map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
    if (map == MAP_FAILED) {
        rc = -errno;
        snprintf(err, errlen, "%s: cannot map the file: %s", path, strerror(-rc));
        goto fail;
    }
    struct ptdr_file_header h, want;
    memcpy(&h, map, sizeof(h));
    if (memcmp(h.magic, PTDR_MAGIC, 8) != 0 || h.version != PTDR_FORMAT_VERSION ||
        h.slots != PTDR_SLOTS) {
        snprintf(err, errlen,
                 "%s: not a version-%u ptdr binary profile file (convert it again "
                 "with ptdr-convert)",
                 path, PTDR_FORMAT_VERSION);
        rc = -EINVAL;
        goto fail;
    }
    if (h.n_seg < 1 || h.n_bins > UINT32_MAX || h.max_bins < 1 || h.max_bins > PTDR_MAX_BINS) {
        snprintf(err, errlen, "%s: header has impossible sizes (segments %u, bins %llu)", path,
                 h.n_seg, (unsigned long long)h.n_bins);
        rc = -EINVAL;
        goto fail;
    }
    /* Offsets are recomputed, never trusted: a file whose header disagrees is rejected. */
    ptdr_layout(&want, h.n_seg, h.n_bins, h.ids_size, h.max_bins);
    if (memcmp(&want, &h, sizeof(h)) != 0 || want.total_size != (uint64_t)st.st_size) {
        snprintf(err, errlen,
                 "%s: section table or file size (%lld bytes) does not match the "
                 "header (truncated or corrupt file)",
                 path, (long long)st.st_size);
        rc = -EINVAL;
        goto fail;
    }
    p = calloc(1, sizeof(*p));
    if (!p || !(p->path = strdup(path))) {
        snprintf(err, errlen, "%s: out of memory", path);
        rc = -ENOMEM;
        goto fail;
    }
    p->block = map;
    p->block_size = (size_t)st.st_size;
    p->mapped = 1;
    map = MAP_FAILED;
    ptdr_profiles_bind(p, &h);
    if (p->id_off[p->n_seg] != h.ids_size || p->id_off[0] != 0) {
        snprintf(err, errlen, "%s: id table does not span the id text", path);
        rc = -EINVAL;
        goto fail;
    }
    for (uint32_t s = 0; s < p->n_seg; s++)
        if (p->id_off[s + 1] > h.ids_size) {
            snprintf(err, errlen, "%s: segment %u: id offset beyond the id text", path, s);
            rc = -EINVAL;
            goto fail;
        }
    rc = ptdr_profiles_validate(p, path, err, errlen);
    if (rc)
        goto fail;
    rc = ptdr_profiles_index(p, path, err, errlen);
    if (rc)
        goto fail;
    close(fd);
    *out = p;
    return 0;
fail:
    if (map != MAP_FAILED)
        munmap(map, (size_t)st.st_size);
    ptdr_profiles_free(p);
    if (fd >= 0)
        close(fd);
    return rc;
}
