/* CPU variant of the Monte Carlo kernel: samples of one route advance together, segment by
 * segment, in blocks whose lanes the compiler vectorises (RNG, slot, division). */
#include <string.h>

#include "ptdr.h"
#include "ptdr_sample.h"

#define PTDR_BLOCK 64

/* Why lanes are samples: one sample's walk along a route is a chain of dependent loads and a
 * division per segment (latency-bound), while PTDR_BLOCK independent samples keep the core busy
 * and let the RNG and the division run as vector instructions. The bin search stays scalar:
 * profiles have few bins and lanes may sit in different slots. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(PTDR_NO_CLONES)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
static void run_block(const struct ptdr_profiles *p, const uint32_t *segs, uint32_t n_segs,
                      uint64_t seed, uint32_t route, uint32_t s0, uint32_t dep_slot,
                      float dep_offset, float *out)
{
    uint64_t st[PTDR_BLOCK];
    float t[PTDR_BLOCK], u[PTDR_BLOCK], val[PTDR_BLOCK];
    uint32_t slot[PTDR_BLOCK];
    const float *cum = p->cumprobs, *values = p->values;

    for (uint32_t j = 0; j < PTDR_BLOCK; j++) {
        st[j] = ptdr_stream(seed, route, s0 + j);
        t[j] = 0.0f;
    }
    for (uint32_t i = 0; i < n_segs; i++) {
        uint32_t seg = segs[i];
        float lv = p->lv[seg];
        const uint16_t *rel = p->slot_rel + (size_t)seg * PTDR_REL_STRIDE;
        uint32_t base = p->seg_base[seg];
        for (uint32_t j = 0; j < PTDR_BLOCK; j++) {
            slot[j] = ptdr_slot(dep_slot, dep_offset, t[j]);
            u[j] = ptdr_uniform(st[j], i);
        }
        for (uint32_t j = 0; j < PTDR_BLOCK; j++) {
            uint32_t lo = base + rel[slot[j]], hi = base + rel[slot[j] + 1];
            val[j] = values[ptdr_pick_bin(cum, lo, hi, u[j])];
        }
        for (uint32_t j = 0; j < PTDR_BLOCK; j++)
            t[j] += ptdr_seg_time(lv, val[j]);
    }
    memcpy(out, t, sizeof(t));
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
