/* A worker rank: receives requests and broadcasts from the gateway over MPI, in order, runs them
 * with its adapters' kernels and sends the replies back. */
#ifndef KF_WORKER_H
#define KF_WORKER_H

#include "sleepflags.h"
#include "worker_config.h"

/* Runs until the gateway says shut down. Returns the process exit status: 0, 3 when the adapters
 * failed to load (the gateway was told), 1 when SIGTERM came and the gateway never said shut
 * down, 70 out of memory. */
int kf_worker_run(const struct kf_worker_config *cfg, int rank, struct kf_sleepflags *flags);

#endif
