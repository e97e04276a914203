/* Returns a rank's freed heap memory to the kernel with malloc_trim, at most once per interval
 * and once more after requests stop, so that its RSS follows the live load, not its history.
 *
 * Why: each request passes through several buffers of up to 1 MiB (gateway: libzmq's received
 * message, the packed MPI request, the worker's reply, libzmq's copy of it; worker: the received
 * request, the kernel's result, the packed reply). glibc's dynamic mmap threshold rises to 1 MiB
 * after the first such buffer is freed, so later ones come from the arenas (the main one and
 * libzmq's I/O thread's), and freed chunks stay there: only the top of the main heap above
 * M_TRIM_THRESHOLD (also raised dynamically) is ever returned. Measured with malloc_info (gdb)
 * on the gateway of bench/soak (8 clients, 0 B..1 MiB): after 90 k, 127 k and 163 k requests the
 * bytes in use were 2.416, 2.425, 2.427 MB (no leak), but the arenas held 20-24 MB, 18-21 MB of
 * it free, after a burst of large messages up to 36.8 MB. That retained memory is what moved
 * the gateway's RSS by several MiB and, after a burst, kept it up (the +7% RSS peak of the
 * first 555 k-request soak); a worker (20 MB RSS) jumped by 1.5 MB (+7%) and stayed there.
 * With the trim an idle gateway is back at 22 MB (34 MB without), workers at 19 MB.
 *
 * Alternatives measured on the same soak: a fixed M_MMAP_THRESHOLD of 128 KiB (every large buffer
 * mmapped and unmapped) also keeps the heap small, but the gateway then spent 478 instead of
 * 227 us of CPU per request (page faults and zeroing on every large message). A trim releases
 * free pages (madvise) without changing where buffers come from; what it costs is one walk of
 * the free lists and re-faulting the pages reused afterwards, so it runs at most every few
 * seconds. Side by side at 5 s: the same request rate with and without; madvise under 1% of the
 * gateway's perf samples; page faults 12.9% of the workers' samples vs 8.2% without (glibc's own
 * top-of-heap trimming faults pages in too). Figures: bench/RESULTS.md, section soak. */
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
