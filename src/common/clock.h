/* Monotonic time in nanoseconds: the one clock kfarm measures durations and deadlines with. */
#ifndef KF_CLOCK_H
#define KF_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t kf_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

#endif
