/* Segment speed profiles in memory: one contiguous float32 structure-of-arrays block whose layout
 * is also the binary file format, so a converted file is memory-mapped as is. */
#ifndef PTDR_PROFILES_H
#define PTDR_PROFILES_H

#include <stddef.h>
#include <stdint.h>

#define PTDR_MAX_BINS       64        /* most bins (values) one 15-minute profile may have */
#define PTDR_MAGIC          "KFPTDR1" /* 8 bytes with the NUL */
#define PTDR_FORMAT_VERSION 1u

/* Binary layout (little endian, every section starts on a 64-byte boundary):
 *   header        struct ptdr_file_header
 *   lv            float    [n_seg]          length / max_speed, seconds at full speed
 *   length        float    [n_seg]          metres
 *   max_speed     float    [n_seg]          m/s
 *   seg_base      uint32   [n_seg]          first bin of the segment
 *   slot_rel      uint16   [n_seg * 673]    bin of each slot relative to seg_base, + end
 *   values        float    [n_bins]         level of service, fraction of max_speed, > 0
 *   cumprobs      float    [n_bins]         cumulative probabilities, last of a profile = 1
 *   id_off        uint32   [n_seg + 1]      offsets of ids in the id text
 *   ids           char     [ids_size]       NUL-terminated segment ids */
struct ptdr_file_header {
    char magic[8];
    uint32_t version;
    uint32_t slots; /* 672 */
    uint32_t n_seg;
    uint32_t max_bins; /* most bins in one profile of this file */
    uint64_t n_bins;
    uint64_t ids_size;
    uint64_t off_lv, off_length, off_max_speed, off_seg_base, off_slot_rel, off_values,
        off_cumprobs, off_id_off, off_ids, total_size;
};

struct ptdr_profiles {
    uint32_t n_seg;
    uint32_t max_bins;
    uint64_t n_bins;
    const float *lv, *length, *max_speed;
    const uint32_t *seg_base;
    const uint16_t *slot_rel;
    const float *values, *cumprobs;
    const uint32_t *id_off;
    const char *ids;

    void *block; /* the whole layout: malloc()ed (JSON) or mmap()ed (binary) */
    size_t block_size;
    int mapped;
    uint32_t *index; /* open-addressing hash of ids -> segment + 1 (0 = empty) */
    uint32_t index_mask;
    char *path;
    void *device; /* accelerator-side copy (struct ptdr_cl_profiles), owned by the OpenCL code */
    void (*device_free)(void *device);
};

/* Loads a profile file, JSON or binary (told apart by the magic), validated and indexed
 * (profiles_load.c). On error returns a negative errno-style code and writes into err which file,
 * which segment and what is wrong. */
int ptdr_profiles_load(const char *path, struct ptdr_profiles **out, char *err, size_t errlen);
int ptdr_profiles_load_json(const char *path, struct ptdr_profiles **out, char *err, size_t errlen);
int ptdr_profiles_load_binary(const char *path, struct ptdr_profiles **out, char *err,
                              size_t errlen);

/* The loaders: build the block of a JSON file (profiles_json.c) or map a binary file and check
 * its header (profiles_bin.c). Not usable before ptdr_profiles_finish. */
int ptdr_profiles_read_json(const char *path, struct ptdr_profiles **out, char *err, size_t errlen);
int ptdr_profiles_map_binary(const char *path, struct ptdr_profiles **out, char *err,
                             size_t errlen);
/* Validates a built block and indexes its ids: the one step after either loader. */
int ptdr_profiles_finish(struct ptdr_profiles *p, char *err, size_t errlen);
/* Writes p in the binary format (atomically: temp file + rename). */
int ptdr_profiles_write_binary(const struct ptdr_profiles *p, const char *path, char *err,
                               size_t errlen);
void ptdr_profiles_free(struct ptdr_profiles *p);

/* Segment index of id, or -1. */
int64_t ptdr_profiles_find(const struct ptdr_profiles *p, const char *id);
const char *ptdr_profiles_id(const struct ptdr_profiles *p, uint32_t seg);

/* Bytes of the profile data in memory (block + id index). */
size_t ptdr_profiles_resident_bytes(const struct ptdr_profiles *p);
/* Raw float32 size of the profiles: (values + cumprobs) * 4 bytes. */
size_t ptdr_profiles_raw_bytes(const struct ptdr_profiles *p);

/* Internal to the loaders: computes the section offsets of a layout. */
void ptdr_layout(struct ptdr_file_header *h, uint32_t n_seg, uint64_t n_bins, uint64_t ids_size,
                 uint32_t max_bins);
/* Points the arrays of p into p->block according to h. */
void ptdr_profiles_bind(struct ptdr_profiles *p, const struct ptdr_file_header *h);
/* Builds the id index; returns 0 or -EINVAL naming a duplicate id in err. */
int ptdr_profiles_index(struct ptdr_profiles *p, const char *path, char *err, size_t errlen);
/* Checks every invariant the kernels rely on (bounds, ordering, values); names file/segment. */
int ptdr_profiles_validate(const struct ptdr_profiles *p, const char *path, char *err,
                           size_t errlen);

#endif
