/* Returns the gateway's freed heap memory to the kernel with malloc_trim, at most once per
 * interval and once more after requests stop, so that its RSS follows the live load, not history.
 *
 * Why: the gateway mallocs several buffers per request (libzmq's received message, the packed MPI
 * request, the worker's reply, libzmq's copy of the reply), up to 1 MiB each. glibc's dynamic
 * mmap threshold rises to 1 MiB after the first such buffer is freed, so later ones come from the
 * main arena (and libzmq's I/O thread's arena), and freed chunks stay there: inside the heap they
 * are never returned, only the top above M_TRIM_THRESHOLD (also raised dynamically) is. Measured
 * with malloc_info on the soak (bench/soak, 8 clients, 0 B..1 MiB; bench/RESULTS.md "soak"): after
 * 90 k, 127 k and 163 k requests the bytes in use were 2.416, 2.425, 2.427 MB (no leak), but the
 * arenas held 20-24 MB, 18-21 MB of it free, up to 36.8 MB after a burst of large messages. That
 * retained memory is what moved the RSS by several MiB from sample to sample and, after a burst,
 * kept it up (the +7% RSS peak of the first 555 k-request soak).
 *
 * Alternatives measured on the same soak: a fixed M_MMAP_THRESHOLD of 128 KiB (mmap and munmap
 * every large buffer) also keeps the heap small, but doubled the gateway's CPU time per request
 * (478 vs 227 us: page faults and zeroing on every large message). malloc_trim once a second
 * releases the free pages (madvise) without changing where buffers come from; its cost is one
 * walk of the free lists and re-faulting pages that get reused, once per second. */
#include <malloc.h>

#include "heap_trim.h"

void kf_heap_trim_init(struct kf_heap_trim *t, uint64_t interval_ns, uint64_t now_ns)
{
    *t = (struct kf_heap_trim){.last_ns = now_ns, .interval_ns = interval_ns};
}

int kf_heap_trim_maybe(struct kf_heap_trim *t, uint64_t now_ns)
{
    if (!t->dirty || now_ns - t->last_ns < t->interval_ns)
        return 0;
#ifdef __GLIBC__
    malloc_trim(0);
#endif
    t->last_ns = now_ns;
    t->dirty = 0;
    t->trims++;
    return 1;
}

int64_t kf_heap_trim_due_ns(const struct kf_heap_trim *t, uint64_t now_ns)
{
    if (!t->dirty)
        return -1;
    uint64_t since = now_ns - t->last_ns;
    return since >= t->interval_ns ? 0 : (int64_t)(t->interval_ns - since);
}
