/* Least-outstanding dispatch over worker ranks with an indexed binary heap. */
#include <stdlib.h>

#include "dispatch.h"

struct worker_slot {
    int rank;
    int outstanding;
    int suspect; /* a request timed out on it: no new work until it answers (--request-timeout) */
    uint64_t ewma_ns;
    int heap_pos;
};

struct kf_dispatch {
    int first_rank, n, slots, total;
    struct worker_slot *w;
    int *heap; /* indexes into w */
};

static int before(const struct kf_dispatch *d, int a, int b)
{
    const struct worker_slot *x = &d->w[a], *y = &d->w[b];
    if (x->suspect != y->suspect)
        return y->suspect; /* suspects sink, so the top is a healthy rank while there is one */
    if (x->outstanding != y->outstanding)
        return x->outstanding < y->outstanding;
    if (x->ewma_ns != y->ewma_ns)
        return x->ewma_ns < y->ewma_ns;
    return x->rank < y->rank;
}

static void swap(struct kf_dispatch *d, int i, int j)
{
    int t = d->heap[i];
    d->heap[i] = d->heap[j];
    d->heap[j] = t;
    d->w[d->heap[i]].heap_pos = i;
    d->w[d->heap[j]].heap_pos = j;
}

static void sift(struct kf_dispatch *d, int i)
{
    while (i > 0 && before(d, d->heap[i], d->heap[(i - 1) / 2])) {
        swap(d, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        int l = 2 * i + 1, r = l + 1, m = i;
        if (l < d->n && before(d, d->heap[l], d->heap[m]))
            m = l;
        if (r < d->n && before(d, d->heap[r], d->heap[m]))
            m = r;
        if (m == i)
            return;
        swap(d, i, m);
        i = m;
    }
}

struct kf_dispatch *kf_dispatch_new(int first_rank, int n, int slots)
{
    struct kf_dispatch *d = calloc(1, sizeof(*d));
    if (!d)
        return NULL;
    d->w = calloc((size_t)n, sizeof(*d->w));
    d->heap = calloc((size_t)n, sizeof(*d->heap));
    if (!d->w || !d->heap) {
        kf_dispatch_free(d);
        return NULL;
    }
    d->first_rank = first_rank;
    d->n = n;
    d->slots = slots;
    for (int i = 0; i < n; i++) {
        d->w[i] = (struct worker_slot){.rank = first_rank + i, .heap_pos = i};
        d->heap[i] = i;
    }
    return d;
}

void kf_dispatch_free(struct kf_dispatch *d)
{
    if (!d)
        return;
    free(d->w);
    free(d->heap);
    free(d);
}

int kf_dispatch_pick(const struct kf_dispatch *d)
{
    if (d->n == 0)
        return -1;
    const struct worker_slot *top = &d->w[d->heap[0]];
    return !top->suspect && top->outstanding < d->slots ? top->rank : -1;
}

void kf_dispatch_started(struct kf_dispatch *d, int rank)
{
    struct worker_slot *s = &d->w[rank - d->first_rank];
    s->outstanding++;
    d->total++;
    sift(d, s->heap_pos);
}

void kf_dispatch_finished(struct kf_dispatch *d, int rank, uint64_t service_ns)
{
    struct worker_slot *s = &d->w[rank - d->first_rank];
    if (s->outstanding > 0) {
        s->outstanding--;
        d->total--;
    }
    /* 1/8 weight: follows a change of variant within a few requests, ignores single outliers. */
    s->ewma_ns = s->ewma_ns ? s->ewma_ns - s->ewma_ns / 8 + service_ns / 8 : service_ns;
    sift(d, s->heap_pos);
}

int kf_dispatch_outstanding(const struct kf_dispatch *d, int rank)
{
    return d->w[rank - d->first_rank].outstanding;
}

uint64_t kf_dispatch_service_ns(const struct kf_dispatch *d, int rank)
{
    return d->w[rank - d->first_rank].ewma_ns;
}

int kf_dispatch_total_outstanding(const struct kf_dispatch *d)
{
    return d->total;
}

void kf_dispatch_set_suspect(struct kf_dispatch *d, int rank, int suspect)
{
    struct worker_slot *s = &d->w[rank - d->first_rank];
    if (s->suspect == !!suspect)
        return;
    s->suspect = !!suspect;
    sift(d, s->heap_pos);
}

int kf_dispatch_suspect(const struct kf_dispatch *d, int rank)
{
    return d->w[rank - d->first_rank].suspect;
}
