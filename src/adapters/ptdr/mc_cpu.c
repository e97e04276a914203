/* CPU variant of the Monte Carlo kernel: samples of one route advance together, segment by
 * segment, in blocks of PTDR_BLOCK lanes that the compiler vectorises; the blocks of a request
 * are shared among `threads` threads (the knob). */
#include <pthread.h>
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

/* Blocks [first, last) of the request, numbered route-major. Every block has its own random
 * streams and output, so how blocks are shared among threads never changes a time. */
struct share {
    const struct ptdr_profiles *p;
    const struct ptdr_request *q;
    float *times;
    size_t first, last;
};

static void *run_share(void *arg)
{
    const struct share *sh = arg;
    const struct ptdr_request *q = sh->q;
    size_t per_route = (q->samples + PTDR_BLOCK - 1) / PTDR_BLOCK;
    float tail[PTDR_BLOCK];
    for (size_t b = sh->first; b < sh->last; b++) {
        uint32_t r = (uint32_t)(b / per_route), s0 = (uint32_t)(b % per_route) * PTDR_BLOCK;
        const uint32_t *segs = q->segs + q->route_off[r];
        uint32_t n = q->route_off[r + 1] - q->route_off[r];
        float *out = sh->times + (size_t)r * q->samples;
        uint32_t w = q->samples - s0 < PTDR_BLOCK ? q->samples - s0 : PTDR_BLOCK;
        /* A short last block still computes full lanes (extra samples are discarded): one fixed
         * trip count keeps the loops vectorised. */
        if (w == PTDR_BLOCK) {
            run_block(sh->p, segs, n, q->seed, r, s0, q->dep_slot, q->dep_offset, out + s0);
        } else {
            run_block(sh->p, segs, n, q->seed, r, s0, q->dep_slot, q->dep_offset, tail);
            memcpy(out + s0, tail, w * sizeof(float));
        }
    }
    return NULL;
}

void ptdr_mc_cpu(const struct ptdr_profiles *p, const struct ptdr_request *q, unsigned threads,
                 float *times)
{
    size_t blocks = (size_t)q->n_routes * ((q->samples + PTDR_BLOCK - 1) / PTDR_BLOCK);
    if (threads < 1)
        threads = 1;
    if (threads > PTDR_MAX_THREADS)
        threads = PTDR_MAX_THREADS;
    if (threads > blocks)
        threads = blocks ? (unsigned)blocks : 1;
    struct share sh[PTDR_MAX_THREADS] = {{0}};
    pthread_t tid[PTDR_MAX_THREADS];
    unsigned started = 0;
    for (unsigned t = 0; t < threads; t++)
        sh[t] = (struct share){p, q, times, blocks * t / threads, blocks * (t + 1) / threads};
    /* This thread runs share 0; a thread that cannot start leaves its share to this one. */
    for (unsigned t = 1; t < threads; t++)
        if (pthread_create(&tid[t], NULL, run_share, &sh[t]) == 0)
            started |= 1u << t;
    run_share(&sh[0]);
    for (unsigned t = 1; t < threads; t++) {
        if (started & (1u << t))
            pthread_join(tid[t], NULL);
        else
            run_share(&sh[t]);
    }
}
