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
#define PTDR_FN inline
#define PTDR_GLOBAL __global
#else
#include <stdint.h>
typedef uint64_t ptdr_u64;
typedef uint32_t ptdr_u32;
typedef uint16_t ptdr_u16;
#define PTDR_FN static inline
#define PTDR_GLOBAL
#endif

#define PTDR_SLOTS 672u          /* 15-minute slots in a week, Monday 00:00 = slot 0 */
#define PTDR_SLOT_SECONDS 900.0f /* length of a slot */
#define PTDR_REL_STRIDE 673u     /* per segment: 672 slot starts + the end of the last slot */
#define PTDR_GOLDEN 0x9e3779b97f4a7c15UL
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

#endif
