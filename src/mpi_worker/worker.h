/* A worker rank: receives requests and broadcasts from the gateway over MPI, in order, runs them
 * with its adapters' kernels and sends the replies back. */
#ifndef KF_WORKER_H
#define KF_WORKER_H

#include "options.h"
#include "sleepflags.h"

/* Runs until the gateway says shut down. Returns the process exit status. */
int kf_worker_run(const struct kf_options *opts, int rank, struct kf_sleepflags *flags);

#endif
