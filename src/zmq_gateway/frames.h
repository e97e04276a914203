/* Checking a client's multipart request [id, kind, payload] before anything else touches it:
 * frame count, empty id, kind encoding, size. Pure functions, unit tested. */
#ifndef KF_FRAMES_H
#define KF_FRAMES_H

#include <stddef.h>

/* Longest request id the gateway accepts (docs/protocol.md): ids are copied into the in-flight
 * table and echoed in the reply, so a client must not choose their size freely. An error reply to
 * a malformed message echoes at most this much of its id. */
#define KF_MAX_ID_BYTES 256

struct kf_frame {
    const void *data;
    size_t len;
};

struct kf_request_view {
    const void *id;
    size_t id_len;
    const char *kind;
    size_t kind_len;
    const void *payload;
    size_t payload_len;
};

enum kf_frames_verdict {
    KF_FRAMES_REQUEST,     /* well formed: out holds it */
    KF_FRAMES_ERROR_REPLY, /* malformed but has an id: reply [id, err] */
    KF_FRAMES_DROP,        /* nothing to reply to: log err and drop */
};

/* total_frames may exceed n when the caller kept only the first n frames of a longer message. */
enum kf_frames_verdict kf_frames_parse(const struct kf_frame *frames, size_t n,
                                       size_t total_frames, size_t total_bytes, size_t max_bytes,
                                       struct kf_request_view *out, char *err, size_t errlen);

/* 1 when s is well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF). */
int kf_utf8_valid(const char *s, size_t len);

#endif
