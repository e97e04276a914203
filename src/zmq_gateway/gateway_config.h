/* What the gateway rank needs to know to serve: its client sockets, limits and observers. Filled
 * by whoever starts the gateway (src/kfarm/ from the command line; tests directly), so the
 * gateway never sees the program's options. */
#ifndef KF_GATEWAY_CONFIG_H
#define KF_GATEWAY_CONFIG_H

#include <stddef.h>

struct kf_gateway_config {
    /* client-facing sockets: connect (EvKit topology) or bind (many clients) */
    int bind_mode;
    const char *endpoint;           /* --connect / --bind */
    const char *broadcast_endpoint; /* --broadcast-connect / --broadcast-bind, or NULL */
    const char *endpoint_file;      /* bind mode: where the bound endpoints are published */
    const char *advertise; /* address written to the endpoint file for wildcard binds */
    const char *topic;     /* broadcast subscription prefix; "" for all */
    /* CURVE (docs/security.md): this gateway's secret key; bind mode: the client public keys to
     * admit; connect mode: the client's public key */
    const char *curve_secret_key, *curve_allowed_keys, *curve_server_key;
    double connect_timeout_s;
    double drain_timeout_s;
    /* a request running longer on a worker is answered with an error, its rank made suspect
     * (no new work until it answers); 0: no limit */
    double request_timeout_s;
    const char *metrics_listen; /* HOST:PORT for the Prometheus endpoint, or NULL */
    const char *trace_file;     /* one line per reply, for tools/kfarm-plot, or NULL */
    size_t trace_max_bytes;     /* the trace file stops growing there (0: no cap) */
    int max_inflight;           /* requests outstanding per worker */
    int max_client_inflight;    /* bind mode: requests one client may have in flight */
    int max_client_replies;     /* replies queued for one client that does not read (SNDHWM) */
    size_t max_message_bytes;
    /* requests (and broadcasts) the gateway holds, all clients together */
    size_t max_pending_bytes;
};

#endif
