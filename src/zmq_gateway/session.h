/* The gateway's client-facing ZeroMQ sockets: DEALER+SUB connected to an EvKit client that bound
 * its sockets, or ROUTER+SUB bound for many clients; and the endpoint file a job script publishes. */
#ifndef KF_SESSION_H
#define KF_SESSION_H

#include <stddef.h>

#include "curve.h"
#include "gateway_config.h"

struct kf_session {
    void *ctx;
    void *req; /* DEALER (connect mode) or ROUTER (bind mode) */
    void *sub; /* SUB, or NULL without a broadcast endpoint */
    int bind_mode;
    char endpoint[256];           /* as clients should use it */
    char broadcast_endpoint[256]; /* empty without one */
    struct kf_curve curve;        /* CURVE keys and ZAP handler, when --curve-secret-key */
};

/* Creates, binds or connects the sockets. In connect mode it first checks (for up to
 * --connect-timeout) that the client accepts TCP connections, so a wrong address fails the job
 * at start instead of leaving it waiting. Returns 0, or a negative errno with a message in err. */
int kf_session_open(struct kf_session *s, const struct kf_gateway_config *o, char *err,
                    size_t errlen);
/* Writes KFARM_ENDPOINT=..., KFARM_BROADCAST_ENDPOINT=... and, when metrics_url is not NULL,
 * KFARM_METRICS_URL=... atomically (kf_atomic_write_text). Returns 0 or a negative errno. */
int kf_session_write_endpoint_file(const struct kf_session *s, const char *path,
                                   const char *metrics_url, char *err, size_t errlen);
/* The URL a scraper should use for --metrics-listen HOST:PORT bound at `port`: HOST, or the
 * host clients use for requests when HOST is a wildcard (0.0.0.0, ::, empty). */
void kf_session_metrics_url(const struct kf_session *s, const char *listen, int port, char *url,
                            size_t len);
void kf_session_close(struct kf_session *s, int linger_ms);

#endif
