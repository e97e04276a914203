/* The gateway <-> worker messages carried over MPI. Every message is one contiguous buffer:
 * a fixed header, then (for requests and broadcasts) the kind, then the payload; a BATCH carries
 * several such messages back to back, so that one MPI message and one wake-up move more work. */
#ifndef KF_WIRE_H
#define KF_WIRE_H

#include <stddef.h>
#include <stdint.h>

/* One tag for everything: MPI keeps messages from one sender in order only within a matching
 * (source, tag), and the ordering guarantee (a broadcast precedes later requests) relies on it. */
#define KF_WIRE_TAG 7

/* Bumped when the format changes; every header carries it, and the gateway refuses a worker whose
 * HELLO has another (a job whose ranks run different kfarm builds). Version 1 had no BATCH and
 * sent 0 in this byte. */
#define KF_WIRE_VERSION 2

enum kf_wire_type {
    KF_WIRE_HELLO = 1, /* worker -> gateway: ready (payload: its doorbell name) or failed
                          (status KF_WIRE_FAILED, payload: the message) */
    KF_WIRE_WELCOME,   /* gateway -> worker: start; payload: the gateway's doorbell name */
    KF_WIRE_REQUEST,   /* gateway -> worker: seq, kind, payload */
    KF_WIRE_BROADCAST, /* gateway -> worker: kind, payload */
    KF_WIRE_REPLY,     /* worker -> gateway: seq, status, payload or error message */
    KF_WIRE_SHUTDOWN,  /* gateway -> worker: finish and exit */
    KF_WIRE_BATCH,     /* either way: records of [u32 length][message], applied in order; a
                          record holds a REQUEST (gateway -> worker) or a REPLY (worker ->
                          gateway), never another BATCH */
};

enum kf_wire_status { KF_WIRE_OK = 0, KF_WIRE_FAILED = 1 };
enum kf_wire_variant { KF_VARIANT_NONE = 0, KF_VARIANT_CPU = 1, KF_VARIANT_ACCEL = 2 };

/* Why a variant ran (replies); shown by $stats. */
enum kf_variant_reason {
    KF_REASON_NONE = 0,
    KF_REASON_CPU_ONLY,    /* the kernel has no accelerator variant */
    KF_REASON_FIXED,       /* --variant cpu|accel */
    KF_REASON_CALIBRATING, /* the tuner is measuring this setting */
    KF_REASON_EXPLOITING,  /* the tuner's best setting for these features */
    KF_REASON_FALLBACK,    /* accelerator unavailable (or no tuner): CPU */
};

const char *kf_variant_reason_name(int reason);

struct kf_wire_hdr {
    uint8_t type;
    uint8_t status;
    uint8_t variant; /* replies: the variant that ran */
    uint8_t reason;  /* replies: why (enum kf_variant_reason) */
    uint8_t accel;   /* replies: 1 when the accelerator was available for the decision */
    uint8_t version; /* KF_WIRE_VERSION; set by kf_wire_pack and kf_wire_batch_* */
    uint8_t reserved[2];
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

/* Points msg into buf; returns 0, or -EBADMSG when buf is too short for what its header says. */
int kf_wire_unpack(const void *buf, size_t len, struct kf_wire_msg *msg);

/* What goes into a BATCH, on both sides: a message larger than KF_WIRE_BATCH_MAX_RECORD travels
 * alone (no copy into a batch), and a batch stays within KF_WIRE_BATCH_MAX_BYTES, under the eager
 * limit of Open MPI's TCP transport (64 KiB), so that it never needs the sender's progress to
 * arrive at a rank on another node. */
#define KF_WIRE_BATCH_MAX_RECORD 16384
#define KF_WIRE_BATCH_MAX_BYTES 32768
/* Where the one record of a one-record BATCH starts (after the batch header and the record's
 * length): sent from there, it is the plain message. */
#define KF_WIRE_BATCH_FIRST_RECORD (sizeof(struct kf_wire_hdr) + sizeof(uint32_t))

/* A BATCH being built: a growing buffer that starts with its header. */
struct kf_wire_batch {
    unsigned char *buf;
    size_t len, cap;
    unsigned count; /* records so far */
};

/* Appends one message (header, kind, payload) as a record, packed in place. Returns 0, or -ENOMEM
 * (-E2BIG for a record over 4 GiB); the batch is unchanged. */
int kf_wire_batch_add(struct kf_wire_batch *b, const struct kf_wire_hdr *hdr, const char *kind,
                      size_t kind_len, const void *payload, size_t payload_len);
/* Appends a message kf_wire_pack built. Returns 0, or -ENOMEM/-E2BIG (batch unchanged). */
int kf_wire_batch_add_packed(struct kf_wire_batch *b, const void *msg, size_t len);
/* Hands over the finished BATCH message (malloc()ed; NULL when empty) and starts a new batch. */
void *kf_wire_batch_take(struct kf_wire_batch *b, size_t *out_len);
void kf_wire_batch_fini(struct kf_wire_batch *b);
/* Whether b holds records and one more message of len bytes would take it past
 * KF_WIRE_BATCH_MAX_BYTES (then send b first). */
int kf_wire_batch_full(const struct kf_wire_batch *b, size_t len);

/* Walks the records of a BATCH: *off starts at 0. Returns 1 with rec pointing at the next record,
 * 0 after the last, -EBADMSG when the record at *off is malformed (its length runs past the batch, it is
 * too short for a header, or it is itself a BATCH); the records before it stay valid. */
int kf_wire_batch_next(const struct kf_wire_msg *batch, size_t *off, struct kf_wire_msg *rec);

#endif
