/* Validation of client request frames and UTF-8 kinds. */
#include <stdint.h>
#include <stdio.h>

#include "frames.h"

int kf_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xE0) == 0xC0) {
            n = 1;
            cp = c & 0x1F;
        } else if ((c & 0xF0) == 0xE0) {
            n = 2;
            cp = c & 0x0F;
        } else if ((c & 0xF8) == 0xF0) {
            n = 3;
            cp = c & 0x07;
        } else {
            return 0;
        }
        if (len - i <= n) /* truncated sequence */
            return 0;
        for (size_t k = 1; k <= n; k++) {
            if ((p[i + k] & 0xC0) != 0x80)
                return 0;
            cp = (cp << 6) | (p[i + k] & 0x3F);
        }
        static const uint32_t min_cp[] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += n + 1;
    }
    return 1;
}

enum kf_frames_verdict kf_frames_parse(const struct kf_frame *f, size_t n, size_t total_frames,
                                       size_t total_bytes, size_t max_bytes,
                                       struct kf_request_view *out, char *err, size_t errlen)
{
    if (total_frames == 0 || n == 0) {
        snprintf(err, errlen, "empty message dropped");
        return KF_FRAMES_DROP;
    }
    out->id = f[0].data;
    out->id_len = f[0].len > KF_MAX_ID_BYTES ? KF_MAX_ID_BYTES : f[0].len;
    if (total_frames != 3) {
        snprintf(err, errlen,
                 "malformed request: %zu frames; a request is 3 frames [id, kind, payload]",
                 total_frames);
        return KF_FRAMES_ERROR_REPLY;
    }
    if (n < 3) {
        /* the caller kept fewer frames than the message had: never read past what it kept */
        snprintf(err, errlen, "malformed request: only %zu of its 3 frames were received", n);
        return KF_FRAMES_ERROR_REPLY;
    }
    if (f[0].len == 0) {
        snprintf(err, errlen, "malformed request: empty id; give every request a non-empty id");
        return KF_FRAMES_ERROR_REPLY;
    }
    if (f[0].len > KF_MAX_ID_BYTES) {
        snprintf(err, errlen,
                 "malformed request: id of %zu bytes is over the maximum of %d bytes (this reply "
                 "echoes its first %d)",
                 f[0].len, KF_MAX_ID_BYTES, KF_MAX_ID_BYTES);
        return KF_FRAMES_ERROR_REPLY;
    }
    if (total_bytes > max_bytes) {
        snprintf(err, errlen,
                 "request of %zu bytes is over the limit of %zu bytes (kfarm "
                 "--max-message-bytes)",
                 total_bytes, max_bytes);
        return KF_FRAMES_ERROR_REPLY;
    }
    if (f[1].len == 0) {
        snprintf(err, errlen, "malformed request: empty kind");
        return KF_FRAMES_ERROR_REPLY;
    }
    if (!kf_utf8_valid(f[1].data, f[1].len)) {
        snprintf(err, errlen, "malformed request: the kind is not valid UTF-8");
        return KF_FRAMES_ERROR_REPLY;
    }
    out->kind = f[1].data;
    out->kind_len = f[1].len;
    out->payload = f[2].data;
    out->payload_len = f[2].len;
    return KF_FRAMES_REQUEST;
}
