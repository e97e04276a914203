/* A token bucket: at most `burst` events at once and `per_s` a second on average. For what any
 * client may ask that costs the server more than it costs the client (the gateway's $stats). */
#ifndef KF_RATE_LIMIT_H
#define KF_RATE_LIMIT_H

#include <stdint.h>

struct kf_rate_limit {
    double per_s, burst, tokens;
    uint64_t last_ns;
};

/* Starts full: the first `burst` events pass at once. */
void kf_rate_limit_init(struct kf_rate_limit *r, double per_s, double burst, uint64_t now_ns);
/* 1 when an event at now_ns may go ahead (and counts it), 0 when over the rate. */
int kf_rate_limit_take(struct kf_rate_limit *r, uint64_t now_ns);

#endif
