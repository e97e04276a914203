/* --metrics-listen HOST:PORT: an HTTP endpoint (libmicrohttpd, in its own thread) serving the
 * gateway's self-report as Prometheus text (/metrics) and as the $stats JSON (/stats). */
#ifndef KF_METRICS_HTTP_H
#define KF_METRICS_HTTP_H

#include <stddef.h>

struct kf_metrics_http;

/* Listens on listen ("HOST:PORT", PORT may be 0) into *out. Returns 0, or a negative errno with
 * a message in err. */
int kf_metrics_http_start(struct kf_metrics_http **out, const char *listen, char *err,
                          size_t errlen);
/* Stops the HTTP thread and frees; NULL is a no-op. */
void kf_metrics_http_stop(struct kf_metrics_http *m);
/* The port actually bound. */
int kf_metrics_http_port(const struct kf_metrics_http *m);
/* A descriptor that becomes readable when a scraper wants a fresh snapshot: the gateway polls it
 * with its sockets, so it needs no timer and no thread touches gateway state but its own. */
int kf_metrics_http_fd(const struct kf_metrics_http *m);
/* 1 when a fresh snapshot is wanted (and consumes the wake-up). */
int kf_metrics_http_wanted(struct kf_metrics_http *m);
/* Replaces the published snapshot (copies json and text). */
void kf_metrics_http_publish(struct kf_metrics_http *m, const char *json, const char *text);

#endif
