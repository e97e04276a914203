/* Shared by the ptdr fuzz targets: runs the CPU Monte Carlo kernel over a profile set that a
 * loader accepted, so that a file passing validation but breaking a kernel invariant shows up. */
#ifndef KFARM_PTDR_FUZZ_COMMON_H
#define KFARM_PTDR_FUZZ_COMMON_H

#include <stdlib.h>

#include "ptdr.h"

static inline void ptdr_fuzz_run_kernel(const struct ptdr_profiles *p, uint32_t slot)
{
    if (p->n_seg == 0)
        return;
    uint32_t n = p->n_seg < 8 ? p->n_seg : 8;
    uint32_t segs[8], off[2] = {0, n};
    for (uint32_t i = 0; i < n; i++)
        segs[i] = i;
    struct ptdr_request q = {.n_routes = 1,
                             .route_off = off,
                             .segs = segs,
                             .samples = 4,
                             .dep_slot = slot % 672,
                             .dep_offset = 0.5f,
                             .seed = slot};
    float times[4];
    ptdr_mc_cpu(p, &q, 1, times);
    for (int i = 0; i < 4; i++)
        if (!(times[i] >= 0)) /* also catches NaN */
            abort();
}

#endif
