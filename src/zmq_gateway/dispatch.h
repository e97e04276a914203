/* Choosing the worker for the next request: fewest outstanding requests, ties to the worker with
 * the shortest recent service time. A binary heap keeps each choice O(log workers). */
#ifndef KF_DISPATCH_H
#define KF_DISPATCH_H

#include <stdint.h>

struct kf_dispatch;

/* Workers are ranks first_rank .. first_rank+n-1, each with `slots` outstanding at most. */
struct kf_dispatch *kf_dispatch_new(int first_rank, int n, int slots);
void kf_dispatch_free(struct kf_dispatch *d);
/* The rank to send to, or -1 when every worker has all its slots taken or is suspect. */
int kf_dispatch_pick(const struct kf_dispatch *d);
void kf_dispatch_started(struct kf_dispatch *d, int rank);
void kf_dispatch_finished(struct kf_dispatch *d, int rank, uint64_t service_ns);
int kf_dispatch_outstanding(const struct kf_dispatch *d, int rank);
/* Recent service time of a rank (exponential moving average), in ns. */
uint64_t kf_dispatch_service_ns(const struct kf_dispatch *d, int rank);
int kf_dispatch_total_outstanding(const struct kf_dispatch *d);
/* A suspect rank (one of its requests timed out, --request-timeout) is never picked; it stops
 * being suspect when it answers again. */
void kf_dispatch_set_suspect(struct kf_dispatch *d, int rank, int suspect);
int kf_dispatch_suspect(const struct kf_dispatch *d, int rank);

#endif
