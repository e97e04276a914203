/* libkfarm_client: EvKit client sockets over ZeroMQ. The broadcast socket is an XPUB (wire
 * compatible with PUB) so the client can see subscriptions arrive and avoid losing broadcasts. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include <kfarm/client.h>

#include "clock.h"
#include "errbuf.h"

#define KF_CLIENT_HEARTBEAT_MS 2000

struct kf_client {
    void *ctx;
    void *req;
    void *pub;
    void *watch; /* PAIR receiving the request socket's disconnect events, or NULL */
    int subscribers;
};

/* A closed connection means the gateway process ended (job cancelled or failed, node lost): the
 * requests it held will never be answered, so recv reports it rather than waiting for a time-out.
 * (A DEALER would reconnect with a new identity; replies addressed to the old one are gone.) */
static void *watch_disconnects(void *ctx, void *sock)
{
    char addr[64];
    snprintf(addr, sizeof(addr), "inproc://kfarm-client-watch-%p", sock);
    if (zmq_socket_monitor(sock, addr, ZMQ_EVENT_DISCONNECTED))
        return NULL;
    void *pair = zmq_socket(ctx, ZMQ_PAIR);
    if (pair && zmq_connect(pair, addr) == 0)
        return pair;
    if (pair)
        zmq_close(pair);
    zmq_socket_monitor(sock, NULL, 0);
    return NULL;
}

/* Consumes one monitor event; returns 1 when it was a disconnect. */
static int read_disconnect(void *watch)
{
    int disconnected = 0, more = 1;
    for (int part = 0; more; part++) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, watch, 0) < 0) {
            zmq_msg_close(&m);
            return 0;
        }
        if (part == 0 && zmq_msg_size(&m) >= 2) {
            uint16_t ev;
            memcpy(&ev, zmq_msg_data(&m), sizeof(ev));
            disconnected = ev == ZMQ_EVENT_DISCONNECTED;
        }
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    return disconnected;
}

static int open_one(void *sock, const char *ep, int bind, char *err, size_t errlen)
{
    if ((bind ? zmq_bind(sock, ep) : zmq_connect(sock, ep)) == 0)
        return 0;
    return kf_errf(err, errlen, -zmq_errno(), "cannot %s %s: %s", bind ? "bind" : "connect to", ep,
                   zmq_strerror(zmq_errno()));
}

/* A comma-separated list connects (or binds) the one socket to each endpoint: a DEALER connected
 * to several peers spreads requests over them by itself (several gateways, or bench/gateway's
 * direct limit, no-op workers with no broker). */
static int open_socket(void *sock, const char *eps, int bind, char *err, size_t errlen)
{
    char ep[512];
    for (const char *p = eps;; p++) {
        size_t n = strcspn(p, ",");
        if (n == 0 || n >= sizeof(ep))
            return kf_errf(err, errlen, -EINVAL, "bad endpoint list '%s': %s", eps,
                           n ? "an endpoint is too long" : "an endpoint is empty");
        memcpy(ep, p, n);
        ep[n] = '\0';
        int rc = open_one(sock, ep, bind, err, errlen);
        if (rc)
            return rc;
        p += n;
        if (!*p)
            return 0;
    }
}

struct kf_client *kf_client_new(const struct kf_client_opts *o, char *err, size_t errlen)
{
    struct kf_client *c = calloc(1, sizeof(*c));
    if (!c) {
        kf_errf(err, errlen, -ENOMEM, "out of memory");
        return NULL;
    }
    c->ctx = zmq_ctx_new();
    c->req = c->ctx ? zmq_socket(c->ctx, ZMQ_DEALER) : NULL;
    if (!c->req) {
        kf_errf(err, errlen, -zmq_errno(), "cannot create a ZeroMQ socket: %s",
                zmq_strerror(zmq_errno()));
        goto fail;
    }
    int zero = 0;
    zmq_setsockopt(c->req, ZMQ_LINGER, &zero, sizeof(zero));
    /* ZMTP heartbeats: a gateway whose node vanished without closing its connections (power,
     * network) is noticed within the timeout and reported like a closed connection. */
    int ivl = KF_CLIENT_HEARTBEAT_MS, timeout = 3 * KF_CLIENT_HEARTBEAT_MS;
    zmq_setsockopt(c->req, ZMQ_HEARTBEAT_IVL, &ivl, sizeof(ivl));
    zmq_setsockopt(c->req, ZMQ_HEARTBEAT_TIMEOUT, &timeout, sizeof(timeout));
    if (open_socket(c->req, o->endpoint, o->bind, err, errlen))
        goto fail;
    /* Only when connected to a bound gateway: a client that binds (EvKit topology) also sees the
     * gateway's start-up probe connect and close, and a gateway may reconnect to it. */
    c->watch = o->bind ? NULL : watch_disconnects(c->ctx, c->req);
    if (o->broadcast_endpoint) {
        c->pub = zmq_socket(c->ctx, ZMQ_XPUB);
        zmq_setsockopt(c->pub, ZMQ_LINGER, &zero, sizeof(zero));
        if (!c->pub || open_socket(c->pub, o->broadcast_endpoint, o->bind, err, errlen))
            goto fail;
    }
    return c;
fail:
    kf_client_free(c);
    return NULL;
}

void kf_client_free(struct kf_client *c)
{
    if (!c)
        return;
    if (c->watch) {
        int zero = 0;
        zmq_setsockopt(c->watch, ZMQ_LINGER, &zero, sizeof(zero));
        zmq_close(c->watch);
    }
    if (c->req)
        zmq_close(c->req);
    if (c->pub)
        zmq_close(c->pub);
    if (c->ctx)
        zmq_ctx_term(c->ctx);
    free(c);
}

static int read_value(const char *line, const char *key, char *out, size_t outlen)
{
    size_t k = strlen(key);
    if (strncmp(line, key, k) || line[k] != '=')
        return 0;
    snprintf(out, outlen, "%s", line + k + 1);
    out[strcspn(out, "\r\n")] = '\0';
    return 1;
}

int kf_client_read_endpoint_file(const char *path, int timeout_ms, char *endpoint, size_t eplen,
                                 char *broadcast, size_t blen, char *err, size_t errlen)
{
    struct timespec nap = {0, 50000000};
    FILE *f;
    for (int waited = 0; !(f = fopen(path, "r")); waited += 50) {
        if (errno != ENOENT || waited >= timeout_ms) {
            return kf_errf(err, errlen, -errno, "endpoint file %s: %s%s", path, strerror(errno),
                           errno == ENOENT ? " (is the kfarm job running with --endpoint-file?)"
                                           : "");
        }
        nanosleep(&nap, NULL);
    }
    endpoint[0] = broadcast[0] = '\0';
    char line[512];
    while (fgets(line, sizeof(line), f)) {
        if (!read_value(line, "KFARM_ENDPOINT", endpoint, eplen))
            read_value(line, "KFARM_BROADCAST_ENDPOINT", broadcast, blen);
    }
    fclose(f);
    if (!endpoint[0]) {
        return kf_errf(err, errlen, -EINVAL, "endpoint file %s has no KFARM_ENDPOINT= line", path);
    }
    return 0;
}

int kf_client_send(struct kf_client *c, const void *id, size_t id_len, const char *kind,
                   const void *payload, size_t len)
{
    if (zmq_send(c->req, id, id_len, ZMQ_SNDMORE) < 0 ||
        zmq_send(c->req, kind, strlen(kind), ZMQ_SNDMORE) < 0 ||
        zmq_send(c->req, payload, len, 0) < 0)
        return -errno;
    return 0;
}

static void *copy_msg(zmq_msg_t *m, size_t *len)
{
    *len = zmq_msg_size(m);
    void *p = malloc(*len + 1);
    if (p) {
        memcpy(p, zmq_msg_data(m), *len);
        ((char *)p)[*len] = '\0';
    }
    return p;
}

int kf_client_recv(struct kf_client *c, struct kf_reply *r, int timeout_ms)
{
    memset(r, 0, sizeof(*r));
    zmq_pollitem_t it[2] = {{.socket = c->req, .events = ZMQ_POLLIN},
                            {.socket = c->watch, .events = ZMQ_POLLIN}};
    for (;;) {
        int rc = zmq_poll(it, c->watch ? 2 : 1, timeout_ms);
        if (rc < 0)
            return -errno;
        if (rc == 0)
            return 0;
        if (it[0].revents & ZMQ_POLLIN)
            break; /* replies that arrived before a disconnect are delivered first */
        if (read_disconnect(c->watch)) {
            errno = ECONNRESET;
            return -ECONNRESET;
        }
    }
    zmq_msg_t parts[3];
    size_t n = 0, total = 0;
    int more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, c->req, 0) < 0) {
            int e = errno;
            zmq_msg_close(&m);
            for (size_t i = 0; i < n; i++)
                zmq_msg_close(&parts[i]);
            errno = e;
            return -e;
        }
        more = zmq_msg_more(&m);
        total++;
        if (n < 3)
            parts[n++] = m;
        else
            zmq_msg_close(&m);
    }
    r->id = copy_msg(&parts[0], &r->id_len);
    if (total == 3 && zmq_msg_size(&parts[1]) == 2 &&
        memcmp(zmq_msg_data(&parts[1]), "ok", 2) == 0) {
        r->ok = 1;
        r->data = copy_msg(&parts[2], &r->len);
    } else if (total == 2) {
        r->data = copy_msg(&parts[1], &r->len);
    } else {
        static const char msg[] = "malformed reply: expected [id, \"ok\", payload] or [id, error]";
        r->data = strdup(msg);
        r->len = sizeof(msg) - 1;
    }
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&parts[i]);
    if (r->id && r->data)
        return 1;
    kf_reply_fini(r);
    errno = ENOMEM;
    return -ENOMEM;
}

void kf_reply_fini(struct kf_reply *r)
{
    free(r->id);
    free(r->data);
    memset(r, 0, sizeof(*r));
}

int kf_client_broadcast(struct kf_client *c, const char *kind, const void *payload, size_t len)
{
    if (!c->pub) {
        errno = ENOTCONN;
        return -ENOTCONN;
    }
    if (zmq_send(c->pub, kind, strlen(kind), ZMQ_SNDMORE) < 0 ||
        zmq_send(c->pub, payload, len, 0) < 0)
        return -errno;
    return 0;
}

int kf_client_wait_subscribers(struct kf_client *c, int n, int timeout_ms)
{
    if (!c->pub)
        return -ENOTCONN;
    uint64_t t0 = kf_now_ns();
    while (c->subscribers < n) {
        long left = timeout_ms - (long)((kf_now_ns() - t0) / 1000000);
        if (left <= 0)
            return -ETIMEDOUT;
        zmq_pollitem_t it = {.socket = c->pub, .events = ZMQ_POLLIN};
        if (zmq_poll(&it, 1, left) <= 0)
            continue;
        char buf[256];
        int len = zmq_recv(c->pub, buf, sizeof(buf), 0);
        if (len > 0 && buf[0] == 1) /* subscribe; 0 would be an unsubscribe */
            c->subscribers++;
        else if (len > 0 && buf[0] == 0 && c->subscribers > 0)
            c->subscribers--;
    }
    return 0;
}
