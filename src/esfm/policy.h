/* The admin policy: VF budgets per job/user/partition, exclusive or shared VFs, allow-listed
 * bitstreams {name, path, sha256}, flash_command template, PF ids and drivers. */
#ifndef ESFM_POLICY_H
#define ESFM_POLICY_H

#include <stdbool.h>
#include <stddef.h>

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
#endif
