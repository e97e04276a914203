/* MPI_Isend bookkeeping with shared, reference-counted buffers (one buffer per broadcast): the
 * gateway never blocks on a send, and a worker does not wait in MPI_Send for a busy gateway. */
#include <errno.h>
#include <mpi.h>
#include <stdlib.h>
#include <time.h>

#include "clock.h"
#include "sendq.h"
#include "wire.h"

struct shared_buf {
    void *data;
    size_t len;
    int refs;
};

struct kf_sendq {
    MPI_Request *reqs;
    struct shared_buf **bufs;
    int *done; /* scratch for MPI_Testsome */
    int n, cap;
    size_t bytes; /* kf_sendq_bytes */
};

struct kf_sendq *kf_sendq_new(void)
{
    return calloc(1, sizeof(struct kf_sendq));
}

static int reserve(struct kf_sendq *q, int extra)
{
    if (q->n + extra <= q->cap)
        return 0;
    int cap = q->cap ? q->cap : 64;
    while (cap < q->n + extra)
        cap *= 2;
    /* MPI_Request is a handle */
    // NOLINTNEXTLINE(bugprone-sizeof-expression)
    MPI_Request *r = realloc(q->reqs, (size_t)cap * sizeof(*r));
    if (r)
        q->reqs = r;
    /* array of pointers */
    // NOLINTNEXTLINE(bugprone-sizeof-expression)
    struct shared_buf **b = realloc(q->bufs, (size_t)cap * sizeof(*b));
    if (b)
        q->bufs = b;
    int *d = realloc(q->done, (size_t)cap * sizeof(*d));
    if (d)
        q->done = d;
    if (!r || !b || !d)
        return -ENOMEM;
    q->cap = cap;
    return 0;
}

int kf_sendq_post(struct kf_sendq *q, void *buf, size_t len, const int *ranks, int n)
{
    struct shared_buf *sb = malloc(sizeof(*sb));
    if (!sb || reserve(q, n)) {
        free(sb);
        return -ENOMEM;
    }
    if (n <= 0) {
        free(buf);
        free(sb);
        return 0;
    }
    sb->data = buf;
    sb->len = len;
    sb->refs = n;
    q->bytes += len;
    for (int i = 0; i < n; i++) {
        MPI_Isend(buf, (int)len, MPI_BYTE, ranks[i], KF_WIRE_TAG, MPI_COMM_WORLD, &q->reqs[q->n]);
        q->bufs[q->n] = sb;
        q->n++;
    }
    return 0;
}

size_t kf_sendq_bytes(const struct kf_sendq *q)
{
    return q->bytes;
}

/* One send of sb completed or was cancelled; the last one frees it and uncounts its bytes. */
static void release(struct kf_sendq *q, struct shared_buf *sb)
{
    if (--sb->refs == 0) {
        q->bytes -= sb->len;
        free(sb->data);
        free(sb);
    }
}

int kf_sendq_progress(struct kf_sendq *q)
{
    if (q->n == 0)
        return 0;
    int outcount = 0;
    MPI_Testsome(q->n, q->reqs, &outcount, q->done, MPI_STATUSES_IGNORE);
    if (outcount <= 0 || outcount == MPI_UNDEFINED)
        return q->n;
    for (int i = 0; i < outcount; i++)
        release(q, q->bufs[q->done[i]]);
    /* Completed requests became MPI_REQUEST_NULL: compact the arrays. */
    int k = 0;
    for (int i = 0; i < q->n; i++) {
        if (q->reqs[i] != MPI_REQUEST_NULL) {
            q->reqs[k] = q->reqs[i];
            q->bufs[k] = q->bufs[i];
            k++;
        }
    }
    q->n = k;
    return q->n;
}

void kf_sendq_free(struct kf_sendq *q, double timeout_s)
{
    if (!q)
        return;
    uint64_t t0 = kf_now_ns();
    while (kf_sendq_progress(q) > 0) {
        if ((double)(kf_now_ns() - t0) / 1e9 > timeout_s)
            break;
        struct timespec nap = {0, 200000};
        nanosleep(&nap, NULL);
    }
    for (int i = 0; i < q->n; i++) {
        MPI_Cancel(&q->reqs[i]);
        MPI_Request_free(&q->reqs[i]);
        release(q, q->bufs[i]);
    }
    free(q->reqs);
    free(q->bufs);
    free(q->done);
    free(q);
}
