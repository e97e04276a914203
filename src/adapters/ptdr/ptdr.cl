/* OpenCL C Monte Carlo kernel: one work-item per block of PTDR_BLOCK samples of one route. The
 * build prepends ptdr_sample.h, whose ptdr_run_block the CPU variant runs too, so both variants
 * give identical times and the device compiler can vectorise the same lane loops. */
#pragma OPENCL FP_CONTRACT OFF

__kernel void ptdr_monte_carlo(__global const float *lv, __global const uint *seg_base,
                               __global const ushort *slot_rel, __global const float *values,
                               __global const float *cumprobs, __global const uint *route_off,
                               __global const uint *segs, uint samples, ulong seed,
                               uint dep_slot, float dep_offset, __global float *times)
{
    uint s0 = (uint)get_global_id(0) * PTDR_BLOCK, r = (uint)get_global_id(1);
    if (s0 >= samples)
        return;
    float t[PTDR_BLOCK];
    uint first = route_off[r];
    ptdr_run_block(lv, seg_base, slot_rel, values, cumprobs, segs + first,
                   route_off[r + 1] - first, seed, r, s0, dep_slot, dep_offset, t);
    uint w = samples - s0 < PTDR_BLOCK ? samples - s0 : PTDR_BLOCK;
    __global float *out = times + (size_t)r * samples + s0;
    for (uint j = 0; j < w; j++)
        out[j] = t[j];
}
