/* CPU variant of the Monte Carlo kernel: samples of one route advance together, segment by
 * segment, in blocks whose lanes the compiler vectorises (RNG, slot, division). */
#include <string.h>

#include "ptdr.h"
#include "ptdr_sample.h"

#define PTDR_BLOCK 64

/* Why lanes are samples: one sample's walk along a route is a chain of dependent loads and a
 * division per segment (latency-bound), while PTDR_BLOCK independent samples keep the core busy
 * and let the RNG, the slot and the division run as vector instructions.
 *
 * Why the bin search is a select chain: lanes of a block are almost always in one or two
 * consecutive slots, so the profile of a slot is shared by many lanes. For such a profile the
 * search "first bin whose cumprob exceeds u" becomes, because cumprobs are non-decreasing
 * (checked at load), "the value after the last cumprob <= u": one vector compare and select per
 * bin over all lanes, no gathers, and exactly the bin ptdr_pick_bin returns. Lanes spread over
 * more than PTDR_SPREAD slots take the scalar search. */
#define PTDR_SPREAD 4u

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(PTDR_NO_CLONES)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
static void run_block(const struct ptdr_profiles *p, const uint32_t *segs, uint32_t n_segs,
                      uint64_t seed, uint32_t route, uint32_t s0, uint32_t dep_slot,
                      float dep_offset, float *out)
{
    uint64_t st[PTDR_BLOCK];
    float t[PTDR_BLOCK], u[PTDR_BLOCK], val[PTDR_BLOCK];
    uint32_t steps[PTDR_BLOCK];
    const float *cum = p->cumprobs, *values = p->values;

    for (uint32_t j = 0; j < PTDR_BLOCK; j++) {
        st[j] = ptdr_stream(seed, route, s0 + j);
        t[j] = 0.0f;
        val[j] = 0.0f;
    }
    for (uint32_t i = 0; i < n_segs; i++) {
        uint32_t seg = segs[i];
        float lv = p->lv[seg];
        const uint16_t *rel = p->slot_rel + (size_t)seg * PTDR_REL_STRIDE;
        uint32_t base = p->seg_base[seg];
        uint32_t lo_steps = UINT32_MAX, hi_steps = 0;
        for (uint32_t j = 0; j < PTDR_BLOCK; j++) {
            /* Unwrapped slot count, so that lanes on both sides of the week's end stay
             * neighbours; reduced like ptdr_slot when the profile is looked up. */
            steps[j] = ptdr_steps(dep_offset, t[j]);
            u[j] = ptdr_uniform(st[j], i);
            lo_steps = steps[j] < lo_steps ? steps[j] : lo_steps;
            hi_steps = steps[j] > hi_steps ? steps[j] : hi_steps;
        }
        if (hi_steps - lo_steps < PTDR_SPREAD) {
            for (uint32_t a = lo_steps; a <= hi_steps; a++) {
                uint32_t slot = ptdr_slot_of(dep_slot, a);
                uint32_t lo = base + rel[slot], n = (uint32_t)rel[slot + 1] - rel[slot];
                const float *c = cum + lo, *v = values + lo;
                float v0 = v[0];
                for (uint32_t j = 0; j < PTDR_BLOCK; j++)
                    val[j] = steps[j] == a ? v0 : val[j];
                for (uint32_t b = 0; b + 1 < n; b++) {
                    float cb = c[b], vb = v[b + 1];
                    for (uint32_t j = 0; j < PTDR_BLOCK; j++)
                        val[j] = steps[j] == a && u[j] >= cb ? vb : val[j];
                }
            }
        } else {
            for (uint32_t j = 0; j < PTDR_BLOCK; j++) {
                uint32_t slot = ptdr_slot_of(dep_slot, steps[j]);
                uint32_t lo = base + rel[slot], hi = base + rel[slot + 1];
                val[j] = values[ptdr_pick_bin(cum, lo, hi, u[j])];
            }
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
