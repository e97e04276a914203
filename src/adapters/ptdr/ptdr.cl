/* OpenCL C Monte Carlo kernel: one work-item per (route, sample). The build prepends
 * ptdr_sample.h, the arithmetic shared with the CPU variant, so both give identical times. */
#pragma OPENCL FP_CONTRACT OFF

__kernel void ptdr_monte_carlo(__global const float *lv, __global const uint *seg_base,
                               __global const ushort *slot_rel, __global const float *values,
                               __global const float *cumprobs, __global const uint *route_off,
                               __global const uint *segs, uint n_routes, uint samples, ulong seed,
                               uint dep_slot, float dep_offset, __global float *times)
{
    size_t gid = get_global_id(0);
    if (gid >= (size_t)n_routes * samples)
        return;
    uint r = (uint)(gid / samples), s = (uint)(gid % samples);
    ulong st = ptdr_stream(seed, r, s);
    uint first = route_off[r], n = route_off[r + 1] - first;
    float t = 0.0f;
    for (uint i = 0; i < n; i++) {
        uint seg = segs[first + i];
        __global const ushort *rel = slot_rel + (size_t)seg * PTDR_REL_STRIDE;
        uint slot = ptdr_slot(dep_slot, dep_offset, t);
        uint lo = seg_base[seg] + rel[slot], hi = seg_base[seg] + rel[slot + 1];
        float u = ptdr_uniform(st, i);
        t += ptdr_seg_time(lv[seg], values[ptdr_pick_bin(cumprobs, lo, hi, u)]);
    }
    times[gid] = t;
}
