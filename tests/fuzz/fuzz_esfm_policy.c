/* Fuzz target: the admin policy file (policy.c), as root would load it (root-owned, 0600); an
 * accepted policy is queried the way the operations query it. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_files.h"
#include "esfm_internal.h"
#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = kfz_write("policy.json", data, size);
    if (!path)
        abort();
    struct esfm_policy *p = NULL;
    char err[512] = "";
    if (esfm_policy_load(path, &p, err, sizeof(err)) != 0) {
        if (strnlen(err, sizeof(err)) == 0)
            abort();
        return 0;
    }
    esfm_policy_partition_cap(p, "batch");
    esfm_policy_partition_cap(p, NULL);
    for (size_t i = 0; i < p->nbitstreams; i++) {
        const struct esfm_bitstream *b = esfm_policy_bitstream(p, p->bitstreams[i].name);
        if (!b || b->path[0] != '/' || strlen(b->sha256) != 64)
            abort();
    }
    if (p->flash_argv && p->flash_argv[0][0] != '/')
        abort(); /* never a PATH search for what runs as root */
    esfm_policy_free(p);
    return 0;
}
