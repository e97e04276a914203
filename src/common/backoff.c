/* Poll-yield-sleep backoff for ranks that wait on MPI, whose progress needs polling. */
#include "backoff.h"

#include <sched.h>
#include <sys/prctl.h>
#include <time.h>

/* A couple of immediate re-polls catch a message already on its way (an MPI hop is about 2 us).
 * No sched_yield: with more ranks than cores a yield can hand the core to a busy rank for a whole
 * time slice. After that, sleep from 20 us upwards (a node-local doorbell cuts the sleep short),
 * which keeps an idle rank under 1% of a core. */
enum { YIELD_POLLS = 2 };
static const uint64_t first_sleep_ns = 20000;

void kf_backoff_setup_thread(void)
{
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
}

void kf_backoff_init(struct kf_backoff *b, uint64_t max_ns)
{
    b->max_ns = max_ns < first_sleep_ns ? first_sleep_ns : max_ns;
    kf_backoff_reset(b);
}

void kf_backoff_reset(struct kf_backoff *b)
{
    b->polls = 0;
    b->sleep_ns = first_sleep_ns;
}

uint64_t kf_backoff_step(struct kf_backoff *b)
{
    if (b->polls < YIELD_POLLS) {
        b->polls++;
        return 0;
    }
    uint64_t ns = b->sleep_ns;
    b->sleep_ns *= 2;
    if (b->sleep_ns > b->max_ns)
        b->sleep_ns = b->max_ns;
    return ns;
}

void kf_backoff_wait(struct kf_backoff *b)
{
    uint64_t ns = kf_backoff_step(b);
    if (ns == 0) {
        sched_yield();
        return;
    }
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u), .tv_nsec = (long)(ns % 1000000000u)};
    nanosleep(&ts, NULL);
}
