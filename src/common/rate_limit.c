/* Token bucket refilled from the monotonic clock on each take, so it needs no timer. */
#include "rate_limit.h"

void kf_rate_limit_init(struct kf_rate_limit *r, double per_s, double burst, uint64_t now_ns)
{
    r->per_s = per_s;
    r->burst = burst;
    r->tokens = burst;
    r->last_ns = now_ns;
}

int kf_rate_limit_take(struct kf_rate_limit *r, uint64_t now_ns)
{
    if (now_ns > r->last_ns) {
        r->tokens += (double)(now_ns - r->last_ns) / 1e9 * r->per_s;
        if (r->tokens > r->burst)
            r->tokens = r->burst;
        r->last_ns = now_ns;
    }
    if (r->tokens < 1)
        return 0;
    r->tokens -= 1;
    return 1;
}
