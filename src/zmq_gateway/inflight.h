/* Requests the gateway has accepted and not yet answered, found by the sequence number that travels
 * to the worker and back; plus the FIFO of requests waiting for a free worker slot. */
#ifndef KF_INFLIGHT_H
#define KF_INFLIGHT_H

#include <stddef.h>
#include <stdint.h>

struct kf_request {
    uint64_t seq;
    int worker;        /* rank it runs on; 0 while pending */
    uint64_t t_start;  /* when the gateway received it (ns, monotonic) */
    uint64_t t_sent;   /* when it was given to its worker (ns, monotonic); for --request-timeout */
    uint16_t trace_kind; /* the kind's number in the --trace file */
    void *packed;      /* MPI message, while pending (set and taken through kf_inflight_*_packed) */
    size_t packed_len;
    struct kf_request *next_pending;
    size_t route_len, id_len;
    unsigned char *route; /* ROUTER routing id (bind mode), inline after the struct */
    unsigned char *id;    /* client's request id, inline */
};

struct kf_inflight;

struct kf_inflight *kf_inflight_new(void);
void kf_inflight_free(struct kf_inflight *t);
/* Copies route and id. Returns NULL when out of memory. */
struct kf_request *kf_inflight_add(struct kf_inflight *t, const void *route, size_t route_len,
                                   const void *id, size_t id_len);
/* The request with this seq, or NULL when unknown or already answered. */
struct kf_request *kf_inflight_find(struct kf_inflight *t, uint64_t seq);
/* Forgets the request and frees it (and its packed message, if still pending). */
void kf_inflight_remove(struct kf_inflight *t, struct kf_request *r);
size_t kf_inflight_count(const struct kf_inflight *t);
/* Requests in flight (pending or running) from the client with this routing id: what the
 * per-client limit (--max-client-inflight) is checked against. */
size_t kf_inflight_route_count(const struct kf_inflight *t, const void *route, size_t route_len);

/* Attaches the request's MPI message (owned by the request from now on) and counts its bytes. */
void kf_inflight_set_packed(struct kf_inflight *t, struct kf_request *r, void *buf, size_t len);
/* Detaches the message (the caller owns it now, or NULL) and stops counting it. */
void *kf_inflight_take_packed(struct kf_inflight *t, struct kf_request *r);
/* Bytes of the messages requests hold (set, not yet taken or removed): O(1), for the
 * gateway-wide bound --max-pending-bytes. */
size_t kf_inflight_packed_bytes(const struct kf_inflight *t);
/* Bytes of the routing ids and request ids the table holds (pending or running): O(1), counted
 * in --max-pending-bytes too, since the client chooses them. */
size_t kf_inflight_key_bytes(const struct kf_inflight *t);

void kf_inflight_push_pending(struct kf_inflight *t, struct kf_request *r);
struct kf_request *kf_inflight_pop_pending(struct kf_inflight *t);
size_t kf_inflight_pending(const struct kf_inflight *t);

/* Calls fn on every request (pending or not); fn may remove the request it is given. */
void kf_inflight_foreach(struct kf_inflight *t, void (*fn)(struct kf_request *, void *), void *arg);

#endif
