/* Fuzz target: the binary (memory-mapped) profile loader (profiles_bin.c): header offsets and
 * sizes, section bounds, ids; an accepted file is run through the CPU kernel. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_files.h"
#include "ptdr_fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *path = kfz_write("p.bin", data, size);
    if (!path)
        abort();
    struct ptdr_profiles *p = NULL;
    char err[512] = "";
    if (ptdr_profiles_load_binary(path, &p, err, sizeof(err)) != 0) {
        if (p || strnlen(err, sizeof(err)) == 0)
            abort();
        return 0;
    }
    ptdr_fuzz_run_kernel(p, (uint32_t)size);
    for (uint32_t s = 0; s < p->n_seg; s++)
        if (ptdr_profiles_find(p, ptdr_profiles_id(p, s)) < 0)
            abort();
    ptdr_profiles_free(p);
    return 0;
}
