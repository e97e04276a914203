/* Fuzz target: the JSON profile loader (profiles_json.c, validation and id index in profiles.c);
 * an accepted file is run through the CPU kernel and round-tripped through the binary format. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_files.h"
#include "ptdr_fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = kfz_write("p.json", data, size);
    if (!path)
        abort();
    struct ptdr_profiles *p = NULL;
    char err[512] = "";
    if (ptdr_profiles_load_json(path, &p, err, sizeof(err)) != 0) {
        if (p || strnlen(err, sizeof(err)) == 0)
            abort();
        return 0;
    }
    ptdr_fuzz_run_kernel(p, (uint32_t)size);
    for (uint32_t s = 0; s < p->n_seg; s++)
        if (ptdr_profiles_find(p, ptdr_profiles_id(p, s)) != (int64_t)s)
            abort();
    char bin[256];
    snprintf(bin, sizeof(bin), "%s/p.bin", kfz_dir());
    if (ptdr_profiles_write_binary(p, bin, err, sizeof(err)) == 0) {
        struct ptdr_profiles *b = NULL;
        if (ptdr_profiles_load_binary(bin, &b, err, sizeof(err)) != 0) {
            fprintf(stderr, "binary round trip refused: %s\n", err);
            abort();
        }
        if (b->n_seg != p->n_seg || b->n_bins != p->n_bins ||
            memcmp(b->values, p->values, sizeof(float) * p->n_bins))
            abort();
        ptdr_profiles_free(b);
    }
    ptdr_profiles_free(p);
    return 0;
}
