/* What the gateway reports about itself: the `$stats` JSON (counters from stats.c plus per-client
 * in-flight counts from the in-flight table) and its Prometheus text form for --metrics-listen. */
#ifndef KF_SNAPSHOT_H
#define KF_SNAPSHOT_H

#include <stddef.h>

#include "dispatch.h"
#include "inflight.h"
#include "stats.h"

/* A malloc()ed JSON document; NULL when out of memory. held_bytes: the bytes of requests the
 * gateway holds, what --max-pending-bytes bounds. */
char *kf_snapshot_json(const struct kf_stats *s, const struct kf_dispatch *d,
                       struct kf_inflight *inflight, int bind_mode, size_t held_bytes);
/* The same document in Prometheus text exposition format 0.0.4 (malloc()ed); NULL when out of
 * memory or when json is not a $stats document. */
char *kf_snapshot_prometheus(const char *json);

#endif
