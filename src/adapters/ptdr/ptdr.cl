/* OpenCL C Monte Carlo kernel: one work-item per block of PTDR_BLOCK samples of one route of one
 * request; a launch runs a batch of requests (routes of all of them along dimension 1). The build
 * prepends ptdr_sample.h, whose ptdr_run_block the CPU variant runs too, so both variants give
 * identical times and the device compiler can vectorise the same lane loops. */
#pragma OPENCL FP_CONTRACT OFF

/* route_info: per route of the batch {request, route index in the request, offset of its times
 * in `times`}; req_u: per request {samples, departure slot}. */
__kernel void ptdr_monte_carlo(__global const float *lv, __global const uint *seg_base,
                               __global const ushort *slot_rel, __global const float *values,
                               __global const float *cumprobs, __global const uint *route_off,
                               __global const uint *segs, __global const uint *route_info,
                               __global const uint *req_u, __global const ulong *req_seed,
                               __global const float *req_dep_offset, __global float *times)
{
    uint s0 = (uint)get_global_id(0) * PTDR_BLOCK, g = (uint)get_global_id(1);
    uint j = route_info[3 * g], r = route_info[3 * g + 1], off = route_info[3 * g + 2];
    uint samples = req_u[2 * j];
    if (s0 >= samples)
        return;
    float t[PTDR_BLOCK];
    uint first = route_off[g];
    ptdr_run_block(lv, seg_base, slot_rel, values, cumprobs, segs + first,
                   route_off[g + 1] - first, req_seed[j], r, s0, req_u[2 * j + 1],
                   req_dep_offset[j], t);
    uint w = samples - s0 < PTDR_BLOCK ? samples - s0 : PTDR_BLOCK;
    __global float *out = times + off + s0;
    for (uint k = 0; k < w; k++)
        out[k] = t[k];
}
