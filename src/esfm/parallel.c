/* Runs independent per-VF steps on a few threads so that N slow hypervisor calls overlap;
 * each worker takes the next index until all are done. */
#include "esfm_internal.h"

#include <stdlib.h>

struct par {
    void (*fn)(void *, size_t);
    void *arg;
    size_t n;
    atomic_size_t next;
};

static void *worker(void *p)
{
    struct par *w = p;
    for (;;) {
        size_t i = atomic_fetch_add(&w->next, 1);
        if (i >= w->n)
            return NULL;
        w->fn(w->arg, i);
    }
}

void esfm_run_parallel(int threads, size_t n, void (*fn)(void *arg, size_t i), void *arg)
{
    struct par w = {.fn = fn, .arg = arg, .n = n};
    atomic_init(&w.next, 0);
    size_t t = threads <= 0 ? n : (size_t)threads;
    if (t > n)
        t = n;
    if (t <= 1) {
        worker(&w);
        return;
    }
    pthread_t *tids = calloc(t, sizeof *tids);
    size_t started = 0;
    for (size_t i = 0; tids && i < t; i++)
        if (pthread_create(&tids[i], NULL, worker, &w) == 0)
            started++;
    if (!started)
        worker(&w); /* no threads available: do it here */
    for (size_t i = 0; i < started; i++)
        pthread_join(tids[i], NULL);
    free(tids);
}
