/* Non-blocking MPI sends: a large request to a busy worker must not stall the gateway, nor a reply
 * of more than a few hundred bytes (which Open MPI does not send inline) stall a worker until the
 * gateway runs; every send is an MPI_Isend whose buffer lives here until it completes. */
#ifndef KF_SENDQ_H
#define KF_SENDQ_H

#include <stddef.h>

struct kf_sendq;

struct kf_sendq *kf_sendq_new(void);
/* Waits (bounded by timeout_s) for outstanding sends, then frees everything. */
void kf_sendq_free(struct kf_sendq *q, double timeout_s);
/* Sends buf to each of n ranks and takes ownership of buf (freed when the last send completes).
 * Returns 0, or -ENOMEM (buf stays the caller's, nothing was sent). */
int kf_sendq_post(struct kf_sendq *q, void *buf, size_t len, const int *ranks, int n);
/* Bytes of the buffers not yet sent to every rank they were posted to (a broadcast's buffer
 * counts once): O(1), for the gateway-wide bound --max-pending-bytes. */
size_t kf_sendq_bytes(const struct kf_sendq *q);
/* Completes what it can; returns the number of sends still outstanding. */
int kf_sendq_progress(struct kf_sendq *q);

#endif
