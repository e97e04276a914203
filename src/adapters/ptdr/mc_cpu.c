/* CPU variant of the Monte Carlo kernel: samples of one route advance together, segment by
 * segment, in blocks of PTDR_BLOCK lanes that the compiler vectorises. */
#include <string.h>

#include "ptdr.h"
#include "ptdr_sample.h"

/* The block code is shared with the OpenCL kernel (ptdr_sample.h); here it is compiled for the
 * best vector ISA of the machine, chosen at load time. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(PTDR_NO_CLONES)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
static void
run_block(const struct ptdr_profiles *p, const uint32_t *segs, uint32_t n_segs, uint64_t seed,
          uint32_t route, uint32_t s0, uint32_t dep_slot, float dep_offset, float *out)
{
    ptdr_run_block(p->lv, p->seg_base, p->slot_rel, p->values, p->cumprobs, segs, n_segs, seed,
                   route, s0, dep_slot, dep_offset, out);
}

void ptdr_mc_cpu(const struct ptdr_profiles *p, const struct ptdr_request *q, float *times)
{
    float tail[PTDR_BLOCK];
    for (uint32_t r = 0; r < q->n_routes; r++) {
        const uint32_t *segs = q->segs + q->route_off[r];
        uint32_t n = q->route_off[r + 1] - q->route_off[r];
        float *out = times + (size_t)r * q->samples;
        for (uint32_t s0 = 0; s0 < q->samples; s0 += PTDR_BLOCK) {
            uint32_t w = q->samples - s0 < PTDR_BLOCK ? q->samples - s0 : PTDR_BLOCK;
            /* A short last block still computes full lanes (extra samples are discarded):
             * one fixed trip count keeps the loops vectorised. */
            if (w == PTDR_BLOCK) {
                run_block(p, segs, n, q->seed, r, s0, q->dep_slot, q->dep_offset, out + s0);
            } else {
                run_block(p, segs, n, q->seed, r, s0, q->dep_slot, q->dep_offset, tail);
                memcpy(out + s0, tail, w * sizeof(float));
            }
        }
    }
}
