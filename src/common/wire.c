/* Packing and unpacking of gateway <-> worker MPI messages. */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

void *kf_wire_pack(const struct kf_wire_hdr *hdr, const char *kind, size_t kind_len,
                   const void *payload, size_t payload_len, size_t *out_len)
{
    size_t len = sizeof(*hdr) + kind_len + payload_len;
    unsigned char *buf = malloc(len);
    if (!buf)
        return NULL;
    struct kf_wire_hdr h = *hdr;
    h.kind_len = (uint32_t)kind_len;
    memcpy(buf, &h, sizeof(h));
    if (kind_len)
        memcpy(buf + sizeof(h), kind, kind_len);
    if (payload_len)
        memcpy(buf + sizeof(h) + kind_len, payload, payload_len);
    *out_len = len;
    return buf;
}

int kf_wire_unpack(const void *buf, size_t len, struct kf_wire_msg *msg)
{
    if (len < sizeof(msg->hdr))
        return -1;
    memcpy(&msg->hdr, buf, sizeof(msg->hdr));
    if (msg->hdr.kind_len > len - sizeof(msg->hdr))
        return -1;
    const char *p = (const char *)buf + sizeof(msg->hdr);
    msg->kind = p;
    msg->payload = p + msg->hdr.kind_len;
    msg->payload_len = len - sizeof(msg->hdr) - msg->hdr.kind_len;
    return 0;
}

const char *kf_variant_reason_name(int reason)
{
    static const char *const names[] = {"none",        "cpu-only",   "fixed",
                                        "calibrating", "exploiting", "fallback"};
    return reason >= 0 && reason <= KF_REASON_FALLBACK ? names[reason] : "unknown";
}
