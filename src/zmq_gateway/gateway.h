/* The gateway rank: the only rank that talks ZeroMQ. It accepts EvKit requests and broadcasts,
 * dispatches requests to workers over MPI and routes their replies back to the asking client. */
#ifndef KF_GATEWAY_H
#define KF_GATEWAY_H

#include <stddef.h>

#include "gateway_config.h"
#include "sleepflags.h"

struct kf_gateway;

/* Opens the client sockets (before any worker is waited for, so a bad endpoint fails at once).
 * Returns 0, or a negative errno with a message in err; on failure the workers are told to stop.
 * cfg must outlive the gateway. */
int kf_gateway_open(struct kf_gateway **out, const struct kf_gateway_config *cfg, int world_size,
                    struct kf_sleepflags *flags, char *err, size_t errlen);
/* Waits for the workers, serves until SIGTERM/SIGINT, drains, stops the workers, frees g.
 * Returns the process exit status. */
int kf_gateway_run(struct kf_gateway *g);
/* Tells every worker to stop (used when the gateway cannot start). */
void kf_gateway_stop_workers(int world_size);

#endif
