/* Profile set lifetime and the parts shared by the JSON and binary loaders: section layout, the
 * segment-id index and the invariants every loaded set must satisfy before a kernel may use it. */
#include "profiles.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "ptdr_sample.h"

static uint64_t align64(uint64_t x)
{
    return (x + 63u) & ~(uint64_t)63u;
}

void ptdr_layout(struct ptdr_file_header *h, uint32_t n_seg, uint64_t n_bins, uint64_t ids_size,
                 uint32_t max_bins)
{
    memset(h, 0, sizeof(*h));
    memcpy(h->magic, PTDR_MAGIC, 8);
    h->version = PTDR_FORMAT_VERSION;
    h->slots = PTDR_SLOTS;
    h->n_seg = n_seg;
    h->max_bins = max_bins;
    h->n_bins = n_bins;
    h->ids_size = ids_size;
    uint64_t off = align64(sizeof(*h));
    h->off_lv = off;
    off = align64(off + 4ull * n_seg);
    h->off_length = off;
    off = align64(off + 4ull * n_seg);
    h->off_max_speed = off;
    off = align64(off + 4ull * n_seg);
    h->off_seg_base = off;
    off = align64(off + 4ull * n_seg);
    h->off_slot_rel = off;
    off = align64(off + 2ull * PTDR_REL_STRIDE * n_seg);
    h->off_values = off;
    off = align64(off + 4ull * n_bins);
    h->off_cumprobs = off;
    off = align64(off + 4ull * n_bins);
    h->off_id_off = off;
    off = align64(off + 4ull * (n_seg + 1ull));
    h->off_ids = off;
    h->total_size = align64(off + ids_size);
}

void ptdr_profiles_bind(struct ptdr_profiles *p, const struct ptdr_file_header *h)
{
    char *b = p->block;
    p->n_seg = h->n_seg;
    p->n_bins = h->n_bins;
    p->max_bins = h->max_bins;
    p->lv = (const float *)(b + h->off_lv);
    p->length = (const float *)(b + h->off_length);
    p->max_speed = (const float *)(b + h->off_max_speed);
    p->seg_base = (const uint32_t *)(b + h->off_seg_base);
    p->slot_rel = (const uint16_t *)(b + h->off_slot_rel);
    p->values = (const float *)(b + h->off_values);
    p->cumprobs = (const float *)(b + h->off_cumprobs);
    p->id_off = (const uint32_t *)(b + h->off_id_off);
    p->ids = b + h->off_ids;
}

/* FNV-1a: ids are short strings; good enough spread for an open-addressing table. */
static uint64_t hash_id(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

int ptdr_profiles_index(struct ptdr_profiles *p, const char *path, char *err, size_t errlen)
{
    uint32_t cap = 16;
    while (cap < 2ull * p->n_seg)
        cap <<= 1;
    p->index = calloc(cap, sizeof(*p->index));
    if (!p->index) {
        snprintf(err, errlen, "%s: out of memory for the index of %u segments", path, p->n_seg);
        return -ENOMEM;
    }
    p->index_mask = cap - 1;
    for (uint32_t s = 0; s < p->n_seg; s++) {
        const char *id = ptdr_profiles_id(p, s);
        uint32_t i = (uint32_t)hash_id(id) & p->index_mask;
        while (p->index[i]) {
            if (strcmp(ptdr_profiles_id(p, p->index[i] - 1), id) == 0) {
                snprintf(err, errlen,
                         "%s: segment %u (id %s): duplicate id, first seen at segment %u", path, s,
                         id, p->index[i] - 1);
                return -EINVAL;
            }
            i = (i + 1) & p->index_mask;
        }
        p->index[i] = s + 1;
    }
    return 0;
}

int64_t ptdr_profiles_find(const struct ptdr_profiles *p, const char *id)
{
    uint32_t i = (uint32_t)hash_id(id) & p->index_mask;
    while (p->index[i]) {
        if (strcmp(ptdr_profiles_id(p, p->index[i] - 1), id) == 0)
            return p->index[i] - 1;
        i = (i + 1) & p->index_mask;
    }
    return -1;
}

const char *ptdr_profiles_id(const struct ptdr_profiles *p, uint32_t seg)
{
    return p->ids + p->id_off[seg];
}

size_t ptdr_profiles_resident_bytes(const struct ptdr_profiles *p)
{
    return p->block_size + (size_t)(p->index_mask + 1u) * sizeof(*p->index);
}

size_t ptdr_profiles_raw_bytes(const struct ptdr_profiles *p)
{
    return (size_t)p->n_bins * 2u * sizeof(float);
}

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        return -EINVAL;                                                                            \
    } while (0)

int ptdr_profiles_validate(const struct ptdr_profiles *p, const char *path, char *err,
                           size_t errlen)
{
    uint64_t next_base = 0;
    for (uint32_t s = 0; s < p->n_seg; s++) {
        if (p->id_off[s] >= p->id_off[s + 1] || p->ids[p->id_off[s + 1] - 1] != '\0')
            FAIL("%s: segment %u: id text is not NUL-terminated inside the id table", path, s);
        const char *id = ptdr_profiles_id(p, s);
        if (!(p->length[s] > 0.0f) || !isfinite(p->length[s]))
            FAIL("%s: segment %u (id %s): length %g m is not a positive number", path, s, id,
                 (double)p->length[s]);
        if (!(p->max_speed[s] > 0.0f) || !isfinite(p->max_speed[s]))
            FAIL("%s: segment %u (id %s): max_speed %g m/s is not a positive number", path, s, id,
                 (double)p->max_speed[s]);
        if (p->lv[s] != p->length[s] / p->max_speed[s])
            FAIL("%s: segment %u (id %s): stored length/max_speed does not match; regenerate the "
                 "file with ptdr-convert",
                 path, s, id);
        if (p->seg_base[s] != next_base)
            FAIL("%s: segment %u (id %s): bins do not follow the previous segment's", path, s, id);
        const uint16_t *rel = p->slot_rel + (size_t)s * PTDR_REL_STRIDE;
        if (rel[0] != 0)
            FAIL("%s: segment %u (id %s): slot 0 does not start at the segment's first bin", path,
                 s, id);
        for (uint32_t t = 0; t < PTDR_SLOTS; t++) {
            uint32_t n = (uint32_t)rel[t + 1] - rel[t];
            if (rel[t + 1] <= rel[t] || n > p->max_bins)
                FAIL("%s: segment %u (id %s), slot %u: %d bins (must be 1..%u)", path, s, id, t,
                     (int)rel[t + 1] - (int)rel[t], p->max_bins);
            uint64_t lo = p->seg_base[s] + rel[t], hi = lo + n;
            if (hi > p->n_bins)
                FAIL("%s: segment %u (id %s), slot %u: bins beyond the end of the file", path, s,
                     id, t);
            float prev = 0.0f;
            for (uint64_t k = lo; k < hi; k++) {
                float v = p->values[k], c = p->cumprobs[k];
                if (!(v > 0.0f) || !isfinite(v))
                    FAIL("%s: segment %u (id %s), slot %u: value %g is not a positive level of "
                         "service",
                         path, s, id, t, (double)v);
                if (!(c >= prev) || c > 1.0f)
                    FAIL("%s: segment %u (id %s), slot %u: cumprobs must be non-decreasing in "
                         "[0, 1] (got %g after %g)",
                         path, s, id, t, (double)c, (double)prev);
                prev = c;
            }
            if (prev != 1.0f)
                FAIL("%s: segment %u (id %s), slot %u: cumprobs end at %.9g, not 1", path, s, id, t,
                     (double)prev);
        }
        next_base += rel[PTDR_SLOTS];
    }
    if (next_base != p->n_bins)
        FAIL("%s: the segments use %llu bins but the file holds %llu", path,
             (unsigned long long)next_base, (unsigned long long)p->n_bins);
    return 0;
}

int ptdr_profiles_finish(struct ptdr_profiles *p, char *err, size_t errlen)
{
    int rc = ptdr_profiles_validate(p, p->path, err, errlen);
    return rc ? rc : ptdr_profiles_index(p, p->path, err, errlen);
}

void ptdr_profiles_free(struct ptdr_profiles *p)
{
    if (!p)
        return;
    if (p->device && p->device_free)
        p->device_free(p->device);
    if (p->mapped)
        munmap(p->block, p->block_size);
    else
        free(p->block);
    free(p->index);
    free(p->path);
    free(p);
}
