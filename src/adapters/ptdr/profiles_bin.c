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

#include "atomic_file.h"
#include "errbuf.h"
#include "ptdr_sample.h"

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
    char why[512];
    int rc = kf_atomic_write(path, p->block, p->block_size, 0644, why, sizeof(why));
    return rc ? kf_errf(err, errlen, rc, "cannot write the binary profiles: %s", why) : 0;
}

/* The header of a file of size bytes: magic, version, plausible sizes, and the section table
 * the loader would compute itself. */
static int check_header(const struct ptdr_file_header *hp, size_t size, const char *path, char *err,
                        size_t errlen)
{
    const struct ptdr_file_header h = *hp;
    struct ptdr_file_header want;
    if (memcmp(h.magic, PTDR_MAGIC, 8) != 0 || h.version != PTDR_FORMAT_VERSION ||
        h.slots != PTDR_SLOTS) {
        return kf_errf(err, errlen, -EINVAL,
                       "%s: not a version-%u ptdr binary profile file (convert it again "
                       "with ptdr-convert)",
                       path, PTDR_FORMAT_VERSION);
    }
    if (h.n_seg < 1 || h.n_bins > UINT32_MAX || h.max_bins < 1 || h.max_bins > PTDR_MAX_BINS) {
        return kf_errf(err, errlen, -EINVAL,
                       "%s: header has impossible sizes (segments %u, bins %llu)", path, h.n_seg,
                       (unsigned long long)h.n_bins);
    }
    /* Offsets are recomputed, never trusted: a file whose header disagrees is rejected. */
    ptdr_layout(&want, h.n_seg, h.n_bins, h.ids_size, h.max_bins);
    if (memcmp(&want, &h, sizeof(h)) != 0 || want.total_size != (uint64_t)size) {
        return kf_errf(err, errlen, -EINVAL,
                       "%s: section table or file size (%lld bytes) does not match the "
                       "header (truncated or corrupt file)",
                       path, (long long)size);
    }
    return 0;
}

/* The id offsets stay inside the id text. */
static int check_ids(const struct ptdr_profiles *p, uint64_t ids_size, const char *path, char *err,
                     size_t errlen)
{
    if (p->id_off[p->n_seg] != ids_size || p->id_off[0] != 0) {
        return kf_errf(err, errlen, -EINVAL, "%s: id table does not span the id text", path);
    }
    for (uint32_t s = 0; s < p->n_seg; s++)
        if (p->id_off[s + 1] > ids_size) {
            return kf_errf(err, errlen, -EINVAL, "%s: segment %u: id offset beyond the id text",
                           path, s);
        }
    return 0;
}

int ptdr_profiles_map_binary(const char *path, struct ptdr_profiles **out, char *err, size_t errlen)
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
    struct ptdr_file_header h;
    memcpy(&h, map, sizeof(h));
    rc = check_header(&h, (size_t)st.st_size, path, err, errlen);
    if (rc)
        goto fail;
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
    rc = check_ids(p, h.ids_size, path, err, errlen);
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
