/* libkfarm_client: send EvKit requests and broadcasts to a kfarm gateway (or any EvKit worker).
 * Both topologies: connect to a gateway that bound (--bind), or bind and let the gateway connect
 * (the EvKit topology, --connect on the gateway side). */
#ifndef KFARM_CLIENT_H
#define KFARM_CLIENT_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct kf_client;

struct kf_client_opts {
    const char *endpoint;           /* request socket, e.g. tcp://host:5555; a comma-separated
                                       list connects to each and spreads requests over them */
    const char *broadcast_endpoint; /* broadcast socket, or NULL */
    int bind;                       /* 1: bind both sockets and let the gateway connect */
};

/* One reply: ok with a payload, or an error message. Owned by the caller: kf_reply_fini. */
struct kf_reply {
    void *id;
    size_t id_len;
    int ok;
    void *data; /* payload when ok, error message (not NUL-terminated) otherwise */
    size_t len;
};

/* Returns the client, or NULL with a message in err. */
struct kf_client *kf_client_new(const struct kf_client_opts *opts, char *err, size_t errlen);
void kf_client_free(struct kf_client *c);

/* Reads KFARM_ENDPOINT / KFARM_BROADCAST_ENDPOINT from a file written by `kfarm --endpoint-file`,
 * waiting up to timeout_ms for it to appear. Returns 0, or a negative errno with a message in err
 * (-ENOENT: the file did not appear in time). */
int kf_client_read_endpoint_file(const char *path, int timeout_ms, char *endpoint, size_t eplen,
                                 char *broadcast, size_t blen, char *err, size_t errlen);

/* Queues a request [id, kind, payload]. Returns 0, or a negative errno (errno is set too). */
int kf_client_send(struct kf_client *c, const void *id, size_t id_len, const char *kind,
                   const void *payload, size_t len);
/* Waits up to timeout_ms (-1: forever) for a reply. Returns 1 with *r filled, 0 on time-out, a
 * negative errno on error (errno is set too). A reply of unexpected shape is returned as an error
 * reply saying so. -ECONNRESET (connect mode, the gateway bound): the connection to the gateway
 * closed (its job
 * ended, was cancelled, or lost a node), or the gateway missed ZMTP heartbeats for 6 s (its node
 * vanished without closing anything);
 * the requests still outstanding will not be answered: resend them to the job's new endpoint
 * (a requeued job rewrites its endpoint file), or give up. */
int kf_client_recv(struct kf_client *c, struct kf_reply *r, int timeout_ms);
void kf_reply_fini(struct kf_reply *r);

/* Publishes a broadcast [kind, payload]; kind includes the gateway's topic prefix, if any.
 * Returns 0, or a negative errno (-ENOTCONN without a broadcast endpoint; errno is set too). */
int kf_client_broadcast(struct kf_client *c, const char *kind, const void *payload, size_t len);
/* Waits until n subscribers (gateways) are subscribed to the broadcast socket, so that the next
 * broadcast is not lost to the PUB/SUB slow-joiner race. Returns 0, -ETIMEDOUT, or -ENOTCONN
 * without a broadcast endpoint. */
int kf_client_wait_subscribers(struct kf_client *c, int n, int timeout_ms);

#ifdef __cplusplus
}
#endif
#endif
