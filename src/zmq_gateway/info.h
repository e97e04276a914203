/* The gateway's answer to $info (protocol version, served kinds, topic, ranks), built from what
 * each worker's HELLO said it serves; also whether any worker handles a broadcast kind. */
#ifndef KF_INFO_H
#define KF_INFO_H

#include <stddef.h>

/* The EvKit-compatible protocol kfarm speaks to clients (docs/protocol.md), reported by $info;
 * bumped when a client-visible frame or gateway command changes meaning. */
#define KF_PROTOCOL_VERSION 1

struct kf_info;

struct kf_info *kf_info_new(int n_workers, const char *topic);
void kf_info_free(struct kf_info *in);
/* Records what worker `rank` (1..n_workers) serves: the JSON after the NUL of its HELLO payload
 * (describe.c). A rank with none or unreadable JSON is "unknown": broadcasts are not refused
 * for its sake. */
void kf_info_set_rank(struct kf_info *in, int rank, const char *json, size_t len);
/* The $info reply, malloc()ed; NULL when out of memory. */
char *kf_info_json(const struct kf_info *in);
/* 1 when some worker handles broadcasts of kind (or some worker's kinds are unknown), else 0. */
int kf_info_broadcast_handled(const struct kf_info *in, const char *kind, size_t kind_len);
/* For PUB broadcasts, which have no reply: logs a kind no worker handles, once per kind. */
void kf_info_warn_unhandled(struct kf_info *in, const char *kind, size_t kind_len);

#endif
