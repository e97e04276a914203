/* Gateway counters: per worker rank requests, errors, service-time percentiles and variant; totals
 * and uptime. Served as JSON to `$stats` requests and logged at shutdown. */
#ifndef KF_STATS_H
#define KF_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "dispatch.h"
#include "wire.h"

struct kf_stats;

struct kf_stats *kf_stats_new(int n_workers);
void kf_stats_free(struct kf_stats *s);
void kf_stats_request(struct kf_stats *s);
void kf_stats_broadcast(struct kf_stats *s);
/* A request answered with an error by the gateway itself (bad frames, shutdown). */
void kf_stats_client_error(struct kf_stats *s);
/* A worker's reply (its header says what ran and why) that took latency_ns end to end. */
void kf_stats_reply(struct kf_stats *s, int rank, const struct kf_wire_hdr *reply,
                    uint64_t latency_ns);
/* A request on this rank answered with the time-out error (--request-timeout). */
void kf_stats_timed_out(struct kf_stats *s, int rank);
/* A reply that came after its request had timed out: dropped, never delivered. */
void kf_stats_late_reply(struct kf_stats *s, int rank);
/* A reply libzmq refused: the client's queue is full (queue_full) or the client has gone. */
void kf_stats_reply_dropped(struct kf_stats *s, int queue_full);
struct cJSON;
/* The document as a cJSON tree the caller may extend and must cJSON_Delete; NULL when out of
 * memory. */
struct cJSON *kf_stats_to_cjson(const struct kf_stats *s, const struct kf_dispatch *d,
                                size_t pending);
/* A malloc()ed JSON document; NULL when out of memory. */
char *kf_stats_json(const struct kf_stats *s, const struct kf_dispatch *d, size_t pending);
void kf_stats_log(const struct kf_stats *s);

#endif
