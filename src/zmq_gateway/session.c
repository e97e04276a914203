/* Opening the gateway's client sockets, probing connect endpoints, publishing bound endpoints. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "advertise.h"
#include "atomic_file.h"
#include "clock.h"
#include "errbuf.h"
#include "log.h"
#include "session.h"

/* Splits tcp://HOST:PORT; returns -1 when it is not a tcp endpoint. */
static int split_tcp(const char *ep, char *host, size_t hostlen, char *port, size_t portlen)
{
    if (strncmp(ep, "tcp://", 6))
        return -EINVAL;
    const char *h = ep + 6;
    const char *colon = strrchr(h, ':');
    if (!colon)
        return -EINVAL;
    size_t n = (size_t)(colon - h);
    if (n >= 2 && h[0] == '[' && h[n - 1] == ']') { /* [::1]:5555 */
        h++;
        n -= 2;
    }
    if (n >= hostlen || strlen(colon + 1) >= portlen)
        return -EINVAL;
    memcpy(host, h, n);
    host[n] = '\0';
    strcpy(port, colon + 1);
    return 0;
}

static int tcp_connects(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK, ai->ai_protocol);
    if (fd < 0)
        return 0;
    int ok = 0;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        ok = 1;
    } else if (errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int soerr = 0;
        socklen_t l = sizeof(soerr);
        if (poll(&p, 1, 1000) == 1 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &l) == 0 &&
            soerr == 0)
            ok = 1;
    }
    close(fd);
    return ok;
}

/* Waits until a TCP connection to ep succeeds, for at most timeout_s. */
static int probe_endpoint(const char *opt, const char *ep, double timeout_s, char *err,
                          size_t errlen)
{
    char host[256], port[32];
    if (split_tcp(ep, host, sizeof(host), port, sizeof(port)))
        return 0; /* ipc:// and inproc:// have nothing to probe */
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc)
        return kf_errf(err, errlen, -EHOSTUNREACH, "%s %s: cannot resolve '%s': %s", opt, ep, host,
                       gai_strerror(rc));
    uint64_t t0 = kf_now_ns();
    int logged = 0;
    for (;;) {
        for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
            if (tcp_connects(ai)) {
                freeaddrinfo(res);
                return 0;
            }
        }
        double waited = (double)(kf_now_ns() - t0) / 1e9;
        if (waited >= timeout_s)
            break;
        if (!logged++)
            kf_info("waiting up to %.0f s for the client at %s", timeout_s, ep);
        struct timespec nap = {0, 200000000};
        nanosleep(&nap, NULL);
    }
    freeaddrinfo(res);
    return kf_errf(err, errlen, -ETIMEDOUT,
                   "%s %s: nothing accepts connections there after %.0f s; start the client (it "
                   "binds its sockets) first, check the address, or raise --connect-timeout",
                   opt, ep, timeout_s);
}

static int bind_socket(void *sock, const char *opt, const char *ep, const char *advertise,
                       char *out, size_t outlen, char *err, size_t errlen)
{
    if (zmq_bind(sock, ep))
        return kf_errf(err, errlen, -zmq_errno(), "%s %s: cannot bind: %s", opt, ep,
                       zmq_strerror(zmq_errno()));
    char last[256];
    size_t l = sizeof(last);
    zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, last, &l);
    char host[256], port[32];
    if (split_tcp(last, host, sizeof(host), port, sizeof(port)) == 0 &&
        (strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0))
        snprintf(out, outlen, "tcp://%s:%s", advertise, port);
    else
        snprintf(out, outlen, "%s", last);
    return 0;
}

/* Binds or connects one socket of the session; out gets the endpoint as clients should use it. */
static int attach_socket(void *sock, int bind_mode, const char *opt, const char *ep,
                         const char *adv, char *out, size_t outlen, char *err, size_t errlen)
{
    if (bind_mode)
        return bind_socket(sock, opt, ep, adv, out, outlen, err, errlen);
    if (zmq_connect(sock, ep))
        return kf_errf(err, errlen, -zmq_errno(), "%s %s: %s", opt, ep, zmq_strerror(zmq_errno()));
    snprintf(out, outlen, "%s", ep);
    return 0;
}

int kf_session_open(struct kf_session *s, const struct kf_gateway_config *o, char *err,
                    size_t errlen)
{
    memset(s, 0, sizeof(*s));
    s->bind_mode = o->bind_mode;
    int rc;
    if (!o->bind_mode) {
        if ((rc = probe_endpoint("--connect", o->endpoint, o->connect_timeout_s, err, errlen)))
            return rc;
        if (o->broadcast_endpoint &&
            (rc = probe_endpoint("--broadcast-connect", o->broadcast_endpoint, o->connect_timeout_s,
                                 err, errlen)))
            return rc;
    }
    s->ctx = zmq_ctx_new();
    if (!s->ctx)
        return kf_errf(err, errlen, -zmq_errno(), "cannot create a ZeroMQ context: %s",
                       zmq_strerror(zmq_errno()));
    if ((rc = kf_curve_init(&s->curve, o->bind_mode, o->curve_secret_key, o->curve_allowed_keys,
                            o->curve_server_key, err, errlen)) ||
        (s->curve.enabled && o->bind_mode &&
         (rc = kf_curve_start_zap(&s->curve, s->ctx, err, errlen))))
        goto fail;
    s->req = zmq_socket(s->ctx, o->bind_mode ? ZMQ_ROUTER : ZMQ_DEALER);
    if ((rc = kf_curve_apply(&s->curve, s->req, o->bind_mode, err, errlen)))
        goto fail;
    /* A client that sends and never reads must not make the gateway queue every reply: at most
     * max_client_replies wait per client (the ROUTER keeps one pipe per peer, so others are not
     * affected); later ones are dropped and counted, never blocking the gateway (gateway.c sends
     * with ZMQ_DONTWAIT). MANDATORY makes the ROUTER say EAGAIN instead of dropping silently. */
    int hwm = o->max_client_replies > 0 ? o->max_client_replies : 8192, one = 1;
    zmq_setsockopt(s->req, ZMQ_SNDHWM, &hwm, sizeof(hwm));
    if (o->bind_mode)
        zmq_setsockopt(s->req, ZMQ_ROUTER_MANDATORY, &one, sizeof(one));
    /* libzmq receives a whole message before the gateway sees it: a frame beyond twice
     * --max-message-bytes closes the connection inside libzmq instead of being buffered; up to
     * that, the gateway answers with the limit's error reply (frames.c). */
    int64_t max_frame = o->max_message_bytes > (size_t)INT64_MAX / 2
                            ? INT64_MAX
                            : (int64_t)(2 * o->max_message_bytes);
    zmq_setsockopt(s->req, ZMQ_MAXMSGSIZE, &max_frame, sizeof(max_frame));
    char adv[256];
    if ((rc = kf_advertise_resolve(o->advertise, adv, sizeof(adv), err, errlen)) ||
        (rc = attach_socket(s->req, o->bind_mode, o->bind_mode ? "--bind" : "--connect",
                            o->endpoint, adv, s->endpoint, sizeof(s->endpoint), err, errlen)))
        goto fail;
    if (o->broadcast_endpoint) {
        s->sub = zmq_socket(s->ctx, ZMQ_SUB);
        zmq_setsockopt(s->sub, ZMQ_MAXMSGSIZE, &max_frame, sizeof(max_frame));
        zmq_setsockopt(s->sub, ZMQ_SUBSCRIBE, o->topic, strlen(o->topic));
        if ((rc = kf_curve_apply(&s->curve, s->sub, o->bind_mode, err, errlen)) ||
            (rc = attach_socket(s->sub, o->bind_mode,
                                o->bind_mode ? "--broadcast-bind" : "--broadcast-connect",
                                o->broadcast_endpoint, adv, s->broadcast_endpoint,
                                sizeof(s->broadcast_endpoint), err, errlen)))
            goto fail;
    }
    return 0;
fail:
    kf_session_close(s, 0);
    return rc < 0 ? rc : -EINVAL;
}

void kf_session_metrics_url(const struct kf_session *s, const char *listen, int port, char *url,
                            size_t len)
{
    char host[256] = "";
    const char *colon = strrchr(listen, ':');
    size_t n = colon ? (size_t)(colon - listen) : strlen(listen);
    if (n < sizeof(host)) {
        memcpy(host, listen, n);
        host[n] = 0;
    }
    if (!host[0] || !strcmp(host, "0.0.0.0") || !strcmp(host, "[::]") || !strcmp(host, "::") ||
        !strcmp(host, "*")) {
        /* Wildcard: scrapers reach the gateway where clients do (tcp://HOST:PORT). */
        const char *h = strstr(s->endpoint, "://");
        h = h ? h + 3 : s->endpoint;
        const char *end = strrchr(h, ':');
        n = end ? (size_t)(end - h) : strlen(h);
        if (n >= sizeof(host))
            n = sizeof(host) - 1;
        memcpy(host, h, n);
        host[n] = 0;
        if (!strcmp(host, "*") || !strcmp(host, "0.0.0.0"))
            snprintf(host, sizeof(host), "127.0.0.1");
    }
    snprintf(url, len, "http://%s:%d/metrics", host, port);
}

int kf_session_write_endpoint_file(const struct kf_session *s, const char *path,
                                   const char *metrics_url, char *err, size_t errlen)
{
    char text[1024];
    int n =
        snprintf(text, sizeof(text), "KFARM_ENDPOINT=%s\n%s%s%s%s%s%s", s->endpoint,
                 s->broadcast_endpoint[0] ? "KFARM_BROADCAST_ENDPOINT=" : "", s->broadcast_endpoint,
                 s->broadcast_endpoint[0] ? "\n" : "", metrics_url ? "KFARM_METRICS_URL=" : "",
                 metrics_url ? metrics_url : "", metrics_url ? "\n" : "");
    if (n < 0 || (size_t)n >= sizeof(text))
        return kf_errf(err, errlen, -ENAMETOOLONG, "--endpoint-file %s: endpoints too long", path);
    /* Readers poll for the file: it must appear complete or not at all. 0600: without CURVE the
     * endpoint is all another user needs to submit work to this job (docs/security.md). */
    char why[512];
    int rc = kf_atomic_write_text(path, text, 0600, why, sizeof(why));
    if (rc)
        return kf_errf(err, errlen, rc, "--endpoint-file %s: %s", path, why);
    return 0;
}

void kf_session_close(struct kf_session *s, int linger_ms)
{
    if (s->req) {
        zmq_setsockopt(s->req, ZMQ_LINGER, &linger_ms, sizeof(linger_ms));
        zmq_close(s->req);
    }
    if (s->sub) {
        zmq_setsockopt(s->sub, ZMQ_LINGER, &linger_ms, sizeof(linger_ms));
        zmq_close(s->sub);
    }
    if (s->ctx)
        zmq_ctx_term(s->ctx); /* also makes the ZAP thread leave */
    kf_curve_fini(&s->curve);
    memset(s, 0, sizeof(*s));
}
