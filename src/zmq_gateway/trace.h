/* The gateway's request trace (--trace FILE): one line per worker reply saying which rank ran which
 * kind with which variant and why, and how long it took; read by tools/kfarm-plot. */
#ifndef KF_TRACE_H
#define KF_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "wire.h"

struct kf_trace;

/* Creates (truncates) path into *out; the file stops growing at about max_bytes (0: no cap) with
 * a last line and a log line saying so. Returns 0, or a negative errno with a message in err. */
int kf_trace_open(struct kf_trace **out, const char *path, int n_workers, uint64_t max_bytes,
                  char *err, size_t errlen);
/* Flushes and closes; NULL is a no-op. */
void kf_trace_close(struct kf_trace *t);
/* A small number naming the kind (0, "other", beyond 255 kinds or for a kind over 64 bytes), kept with the request until its reply (kinds are interned so
 * the in-flight table does not copy them). */
uint16_t kf_trace_kind(struct kf_trace *t, const char *kind, size_t len);
/* Records a reply from rank; also an accelerator event line when the rank's view changed. */
void kf_trace_reply(struct kf_trace *t, int rank, uint16_t kind, const struct kf_wire_hdr *reply);

#endif
