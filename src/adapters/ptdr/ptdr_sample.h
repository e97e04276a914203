/* The arithmetic of one Monte Carlo step, shared verbatim by the CPU variant (C) and the OpenCL
 * kernel (the build embeds this file in front of ptdr.cl), so both give bit-identical times. */
#ifndef PTDR_SAMPLE_H
#define PTDR_SAMPLE_H

/* Why a shared header: identical results need the same RNG, the same float operations in the
 * same order and the same conversions. Both sides compile without FP contraction (no FMA) and
 * with correctly rounded division, so every operation below is one IEEE binary32 operation. */
#ifdef __OPENCL_C_VERSION__
typedef ulong ptdr_u64;
typedef uint ptdr_u32;
typedef ushort ptdr_u16;
#define PTDR_FN       inline
#define PTDR_BLOCK_FN inline
#define PTDR_GLOBAL   __global
#else
#include <stdint.h>
typedef uint64_t ptdr_u64;
typedef uint32_t ptdr_u32;
typedef uint16_t ptdr_u16;
#define PTDR_FN       static inline
/* Forced inline: the CPU variant compiles the block once per vector ISA (target_clones), and
 * only an inlined copy gets that ISA. */
#define PTDR_BLOCK_FN static inline __attribute__((always_inline))
#define PTDR_GLOBAL
#endif

#define PTDR_SLOTS        672u   /* 15-minute slots in a week, Monday 00:00 = slot 0 */
#define PTDR_SLOT_SECONDS 900.0f /* length of a slot */
#define PTDR_REL_STRIDE   673u   /* per segment: 672 slot starts + the end of the last slot */
#define PTDR_GOLDEN       0x9e3779b97f4a7c15UL
/* Beyond 2^24 slots (~480 years) of elapsed time the slot count saturates: keeps the
 * float->uint conversion defined on both sides when a route takes absurdly long. */
#define PTDR_MAX_STEPS 16777215u

/* splitmix64 finaliser: a bijective mixer; counter-based use needs no state between draws. */
PTDR_FN ptdr_u64 ptdr_mix64(ptdr_u64 z)
{
    z ^= z >> 30;
    z *= 0xbf58476d1ce4e5b9UL;
    z ^= z >> 27;
    z *= 0x94d049bb133111ebUL;
    z ^= z >> 31;
    return z;
}

/* Key of one (route, sample) stream; draws inside it are indexed by the segment position. */
PTDR_FN ptdr_u64 ptdr_stream(ptdr_u64 seed, ptdr_u32 route, ptdr_u32 sample)
{
    return ptdr_mix64(seed ^ ptdr_mix64(((ptdr_u64)route << 32) | (ptdr_u64)sample));
}

/* Uniform draw in [0, 1) for segment position pos of a stream: 24 random bits, exact in float. */
PTDR_FN float ptdr_uniform(ptdr_u64 stream, ptdr_u32 pos)
{
    ptdr_u64 x = ptdr_mix64(stream + ((ptdr_u64)pos + 1UL) * PTDR_GOLDEN);
    return (float)(ptdr_u32)(x >> 40) * 5.9604644775390625e-8f; /* 2^-24 */
}

/* Whole slots elapsed since the start of the departure slot after `elapsed` seconds on the
 * road; dep_offset = seconds into the departure slot (< 900). */
PTDR_FN ptdr_u32 ptdr_steps(float dep_offset, float elapsed)
{
    float q = (dep_offset + elapsed) / PTDR_SLOT_SECONDS;
    return q < 16777216.0f ? (ptdr_u32)q : PTDR_MAX_STEPS;
}

/* Slot of the week `steps` slots after the departure slot. */
PTDR_FN ptdr_u32 ptdr_slot_of(ptdr_u32 dep_slot, ptdr_u32 steps)
{
    return (dep_slot + steps % PTDR_SLOTS) % PTDR_SLOTS;
}

/* Slot of the week the vehicle is in after `elapsed` seconds. */
PTDR_FN ptdr_u32 ptdr_slot(ptdr_u32 dep_slot, float dep_offset, float elapsed)
{
    return ptdr_slot_of(dep_slot, ptdr_steps(dep_offset, elapsed));
}

/* Index of the bin drawn by u in the profile occupying bins [lo, hi): the first bin whose
 * cumulative probability exceeds u; the last bin when rounding left cumprobs short of u. */
PTDR_FN ptdr_u32 ptdr_pick_bin(PTDR_GLOBAL const float *cumprobs, ptdr_u32 lo, ptdr_u32 hi, float u)
{
    ptdr_u32 k = lo;
    while (k + 1u < hi && u >= cumprobs[k])
        k++;
    return k;
}

/* Seconds to traverse a segment: lv = length / max_speed (precomputed per segment at load),
 * value = level of service drawn (fraction of max speed). */
PTDR_FN float ptdr_seg_time(float lv, float value)
{
    return lv / value;
}

/* Block of PTDR_BLOCK consecutive samples of one route, the unit both variants run (the CPU
 * variant per call, the OpenCL kernel per work-item). t receives the travel times.
 *
 * Why lanes are samples: one sample's walk along a route is a chain of dependent loads and a
 * division per segment (latency-bound), while PTDR_BLOCK independent samples keep a core busy
 * and let the RNG, the slot and the division run as vector instructions.
 *
 * Why the bin search is a select chain: lanes of a block are almost always in one or two
 * consecutive slots, so the profile of a slot is shared by many lanes. For one profile, "first
 * bin whose cumprob exceeds u" is, because cumprobs are non-decreasing (checked at load), "the
 * value after the last cumprob <= u": one vector compare and select per bin over all lanes, no
 * gathers, and exactly the bin ptdr_pick_bin returns. Lanes spread over more than PTDR_SPREAD
 * slots take the scalar search. */
#define PTDR_BLOCK  64u
#define PTDR_SPREAD 4u

PTDR_BLOCK_FN void ptdr_run_block(PTDR_GLOBAL const float *lv, PTDR_GLOBAL const ptdr_u32 *seg_base,
                                  PTDR_GLOBAL const ptdr_u16 *slot_rel,
                                  PTDR_GLOBAL const float *values,
                                  PTDR_GLOBAL const float *cumprobs,
                                  PTDR_GLOBAL const ptdr_u32 *segs, ptdr_u32 n_segs, ptdr_u64 seed,
                                  ptdr_u32 route, ptdr_u32 s0, ptdr_u32 dep_slot, float dep_offset,
                                  float *t)
{
    ptdr_u64 st[PTDR_BLOCK];
    float u[PTDR_BLOCK], val[PTDR_BLOCK];
    ptdr_u32 steps[PTDR_BLOCK];

    for (ptdr_u32 j = 0; j < PTDR_BLOCK; j++) {
        st[j] = ptdr_stream(seed, route, s0 + j);
        t[j] = 0.0f;
        val[j] = 0.0f;
    }
    for (ptdr_u32 i = 0; i < n_segs; i++) {
        ptdr_u32 seg = segs[i];
        float seg_lv = lv[seg];
        PTDR_GLOBAL const ptdr_u16 *rel = slot_rel + (ptdr_u64)seg * PTDR_REL_STRIDE;
        ptdr_u32 base = seg_base[seg];
        ptdr_u32 lo_steps = 0xffffffffu, hi_steps = 0;
        for (ptdr_u32 j = 0; j < PTDR_BLOCK; j++) {
            /* Unwrapped slot count, so that lanes on both sides of the week's end stay
             * neighbours; reduced by ptdr_slot_of when the profile is looked up. */
            steps[j] = ptdr_steps(dep_offset, t[j]);
            u[j] = ptdr_uniform(st[j], i);
            lo_steps = steps[j] < lo_steps ? steps[j] : lo_steps;
            hi_steps = steps[j] > hi_steps ? steps[j] : hi_steps;
        }
        if (hi_steps - lo_steps < PTDR_SPREAD) {
            for (ptdr_u32 a = lo_steps; a <= hi_steps; a++) {
                ptdr_u32 slot = ptdr_slot_of(dep_slot, a);
                ptdr_u32 lo = base + rel[slot], n = (ptdr_u32)rel[slot + 1] - rel[slot];
                float v0 = values[lo];
                for (ptdr_u32 j = 0; j < PTDR_BLOCK; j++)
                    val[j] = steps[j] == a ? v0 : val[j];
                for (ptdr_u32 b = 0; b + 1u < n; b++) {
                    float cb = cumprobs[lo + b], vb = values[lo + b + 1u];
                    for (ptdr_u32 j = 0; j < PTDR_BLOCK; j++)
                        val[j] = (steps[j] == a && u[j] >= cb) ? vb : val[j];
                }
            }
        } else {
            for (ptdr_u32 j = 0; j < PTDR_BLOCK; j++) {
                ptdr_u32 slot = ptdr_slot_of(dep_slot, steps[j]);
                ptdr_u32 lo = base + rel[slot], hi = base + rel[slot + 1];
                val[j] = values[ptdr_pick_bin(cumprobs, lo, hi, u[j])];
            }
        }
        for (ptdr_u32 j = 0; j < PTDR_BLOCK; j++)
            t[j] += ptdr_seg_time(seg_lv, val[j]);
    }
}

#endif
