/* Packing and unpacking of gateway <-> worker MPI messages. */
#include "wire.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Writes one message (header with kind_len and version set, kind, payload) at p. */
static void write_msg(unsigned char *p, const struct kf_wire_hdr *hdr, const char *kind,
                      size_t kind_len, const void *payload, size_t payload_len)
{
    struct kf_wire_hdr h = *hdr;
    h.kind_len = (uint32_t)kind_len;
    h.version = KF_WIRE_VERSION;
    memcpy(p, &h, sizeof(h));
    if (kind_len)
        memcpy(p + sizeof(h), kind, kind_len);
    if (payload_len)
        memcpy(p + sizeof(h) + kind_len, payload, payload_len);
}

void *kf_wire_pack(const struct kf_wire_hdr *hdr, const char *kind, size_t kind_len,
                   const void *payload, size_t payload_len, size_t *out_len)
{
    size_t len = sizeof(*hdr) + kind_len + payload_len;
    unsigned char *buf = malloc(len);
    if (!buf)
        return NULL;
    write_msg(buf, hdr, kind, kind_len, payload, payload_len);
    *out_len = len;
    return buf;
}

int kf_wire_unpack(const void *buf, size_t len, struct kf_wire_msg *msg)
{
    if (len < sizeof(msg->hdr))
        return -EBADMSG;
    memcpy(&msg->hdr, buf, sizeof(msg->hdr));
    if (msg->hdr.kind_len > len - sizeof(msg->hdr))
        return -EBADMSG;
    const char *p = (const char *)buf + sizeof(msg->hdr);
    msg->kind = p;
    msg->payload = p + msg->hdr.kind_len;
    msg->payload_len = len - sizeof(msg->hdr) - msg->hdr.kind_len;
    return 0;
}

/* Room for extra more bytes; returns -ENOMEM, or -E2BIG past what a u32 record allows. */
static int batch_reserve(struct kf_wire_batch *b, size_t extra)
{
    if (extra > UINT32_MAX)
        return -E2BIG;
    if (!b->buf)
        b->len = sizeof(struct kf_wire_hdr); /* the header is written by take */
    if (b->len + extra <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->len + extra)
        cap *= 2;
    unsigned char *n = realloc(b->buf, cap);
    if (!n)
        return -ENOMEM;
    b->buf = n;
    b->cap = cap;
    return 0;
}

int kf_wire_batch_add(struct kf_wire_batch *b, const struct kf_wire_hdr *hdr, const char *kind,
                      size_t kind_len, const void *payload, size_t payload_len)
{
    size_t rec = sizeof(*hdr) + kind_len + payload_len;
    if (rec > UINT32_MAX || batch_reserve(b, sizeof(uint32_t) + rec))
        return -ENOMEM;
    unsigned char *p = b->buf + b->len;
    uint32_t rec32 = (uint32_t)rec;
    memcpy(p, &rec32, sizeof(rec32));
    write_msg(p + sizeof(rec32), hdr, kind, kind_len, payload, payload_len);
    b->len += sizeof(rec32) + rec;
    b->count++;
    return 0;
}

int kf_wire_batch_add_packed(struct kf_wire_batch *b, const void *msg, size_t len)
{
    if (len > UINT32_MAX || batch_reserve(b, sizeof(uint32_t) + len))
        return -ENOMEM;
    uint32_t len32 = (uint32_t)len;
    memcpy(b->buf + b->len, &len32, sizeof(len32));
    memcpy(b->buf + b->len + sizeof(len32), msg, len);
    b->len += sizeof(len32) + len;
    b->count++;
    return 0;
}

void *kf_wire_batch_take(struct kf_wire_batch *b, size_t *out_len)
{
    if (!b->count) {
        *out_len = 0;
        return NULL;
    }
    struct kf_wire_hdr h = {.type = KF_WIRE_BATCH, .version = KF_WIRE_VERSION, .seq = b->count};
    memcpy(b->buf, &h, sizeof(h));
    void *out = b->buf;
    *out_len = b->len;
    *b = (struct kf_wire_batch){0};
    return out;
}

int kf_wire_batch_full(const struct kf_wire_batch *b, size_t len)
{
    return b->count && b->len + sizeof(uint32_t) + len > KF_WIRE_BATCH_MAX_BYTES;
}

void kf_wire_batch_fini(struct kf_wire_batch *b)
{
    free(b->buf);
    *b = (struct kf_wire_batch){0};
}

int kf_wire_batch_next(const struct kf_wire_msg *batch, size_t *off, struct kf_wire_msg *rec)
{
    if (*off >= batch->payload_len)
        return 0;
    size_t left = batch->payload_len - *off;
    const unsigned char *p = (const unsigned char *)batch->payload + *off;
    uint32_t len;
    if (left < sizeof(len))
        return -EBADMSG;
    memcpy(&len, p, sizeof(len));
    if (len > left - sizeof(len) || kf_wire_unpack(p + sizeof(len), len, rec) ||
        rec->hdr.type == KF_WIRE_BATCH)
        return -EBADMSG;
    *off += sizeof(len) + len;
    return 1;
}

const char *kf_variant_reason_name(int reason)
{
    static const char *const names[] = {"none",        "cpu-only",   "fixed",
                                        "calibrating", "exploiting", "fallback"};
    return reason >= 0 && reason <= KF_REASON_FALLBACK ? names[reason] : "unknown";
}
