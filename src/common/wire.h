/* The gateway <-> worker messages carried over MPI. Every message is one contiguous buffer:
 * a fixed header, then (for requests and broadcasts) the kind, then the payload. */
#ifndef KF_WIRE_H
#define KF_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* One tag for everything: MPI keeps messages from one sender in order only within a matching
 * (source, tag), and the ordering guarantee (a broadcast precedes later requests) relies on it. */
#define KF_WIRE_TAG 7

enum kf_wire_type {
    KF_WIRE_HELLO = 1, /* worker -> gateway: ready (status 0) or failed (payload: message) */
    KF_WIRE_REQUEST,   /* gateway -> worker: seq, kind, payload */
    KF_WIRE_BROADCAST, /* gateway -> worker: kind, payload */
    KF_WIRE_REPLY,     /* worker -> gateway: seq, status, payload or error message */
    KF_WIRE_SHUTDOWN,  /* gateway -> worker: finish and exit */
};

enum kf_wire_status { KF_WIRE_OK = 0, KF_WIRE_FAILED = 1 };
enum kf_wire_variant { KF_VARIANT_NONE = 0, KF_VARIANT_CPU = 1, KF_VARIANT_ACCEL = 2 };

struct kf_wire_hdr {
    uint8_t type;
    uint8_t status;
    uint8_t variant;
    uint8_t reserved;
    uint32_t kind_len;
    uint64_t seq;
    uint64_t service_ns; /* replies: time the kernel took on the worker */
};

struct kf_wire_msg {
    struct kf_wire_hdr hdr;
    const char *kind; /* not NUL-terminated; hdr.kind_len bytes */
    const void *payload;
    size_t payload_len;
};

/* Builds a message into a new malloc()ed buffer; returns NULL when out of memory. */
void *kf_wire_pack(const struct kf_wire_hdr *hdr, const char *kind, size_t kind_len,
                   const void *payload, size_t payload_len, size_t *out_len);

/* Points msg into buf; returns 0, or -1 when buf is too short for what its header says. */
int kf_wire_unpack(const void *buf, size_t len, struct kf_wire_msg *msg);

#endif
