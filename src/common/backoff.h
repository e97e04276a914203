/* Waiting for MPI traffic without spinning a core: re-poll at once a couple of times, then sleep
 * with a growing interval. Oversubscription (more ranks than cores) is the normal case, so idle
 * ranks must sleep; callers sleep on their doorbell (doorbell.h) so a local sender can wake them. */
#ifndef KF_BACKOFF_H
#define KF_BACKOFF_H

#include <stdint.h>

struct kf_backoff {
    unsigned polls;    /* empty polls since the last activity */
    uint64_t sleep_ns; /* next sleep, doubling up to max_ns */
    uint64_t max_ns;
};

/* Sets the timer slack of the calling thread so that short sleeps are short. */
void kf_backoff_setup_thread(void);
void kf_backoff_init(struct kf_backoff *b, uint64_t max_ns);
/* Call when there was work: the next wait polls again from the start. */
void kf_backoff_reset(struct kf_backoff *b);
/* Call after an empty poll: advances and returns how long to wait now, 0 meaning "poll again".
 * For callers that wait on something else (ppoll on ZeroMQ descriptors) for that long. */
uint64_t kf_backoff_step(struct kf_backoff *b);
/* Call after an empty poll: yields or sleeps for the current step. */
void kf_backoff_wait(struct kf_backoff *b);

#endif
