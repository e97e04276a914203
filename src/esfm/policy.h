/* The admin policy: VF budgets per job/user/partition, exclusive or shared VFs, allow-listed
 * bitstreams {name, path, sha256}, flash_command template, PF ids and drivers. */
#ifndef ESFM_POLICY_H
#define ESFM_POLICY_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

struct esfm_bitstream {
    char *name, *path, *sha256;
};

struct esfm_partition_cap {
    char *name;
    int max;
};

struct esfm_policy {
    int per_job, per_user, per_partition_default; /* -1 = unlimited */
    struct esfm_partition_cap *partitions;
    size_t npartitions;
    bool shared;
    char *bitstream_dir; /* every bitstream must resolve below it; required with bitstreams */
    struct esfm_bitstream *bitstreams;
    size_t nbitstreams;
    char **flash_argv; /* NULL-terminated template or NULL */
    char **pf_ids;     /* NULL-terminated "vendor:device" list or NULL */
    char *pf_driver, *vf_driver;
    int qdma_qmax; /* -1 = leave */
};

/* Loads and checks (root-owned, not group/world-writable) a policy; path NULL = empty policy. */
int esfm_policy_load(const char *path, struct esfm_policy **out, char *err, size_t errlen);
void esfm_policy_free(struct esfm_policy *p);
int esfm_policy_partition_cap(const struct esfm_policy *p, const char *partition);
const struct esfm_bitstream *esfm_policy_bitstream(const struct esfm_policy *p, const char *name);

/* bitstream_path.c. A bitstream is used only through its canonical path (realpath), which must
 * lie below the canonical bitstream_dir, with every directory from / down to it and the file
 * root-owned and not group/world-writable (ancestors of bitstream_dir may be sticky, as /tmp). */
struct esfm_bitstream_file {
    int fd;               /* O_NOFOLLOW, held from the sha256 to the end of the flash */
    char canon[PATH_MAX]; /* what {bitstream} becomes */
    struct stat st;       /* at open: the rechecks compare against it */
};
/* 1 when p is absolute without "." or ".." components. */
int esfm_bitstream_lexical_ok(const char *p);
/* realpath + containment + directory and file checks (no open). -ENOENT missing, -EACCES refused.
 */
int esfm_bitstream_canon(const struct esfm_policy *p, const struct esfm_bitstream *b,
                         char canon[PATH_MAX], char *err, size_t errlen);
/* Canonicalises, checks and opens the file; f->fd is -1 on error. */
int esfm_bitstream_open(const struct esfm_policy *p, const struct esfm_bitstream *b,
                        struct esfm_bitstream_file *f, char *err, size_t errlen);
/* Canonicalises again and checks that the path still names the open, unchanged file. `when` says
 * when in the message ("before flashing", "while flashing"). */
int esfm_bitstream_recheck(const struct esfm_policy *p, const struct esfm_bitstream *b,
                           const struct esfm_bitstream_file *f, const char *when, char *err,
                           size_t errlen);
void esfm_bitstream_close(struct esfm_bitstream_file *f);
#endif
