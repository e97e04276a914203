/* The metrics endpoint. The HTTP thread only reads a snapshot the gateway thread published
 * (mutex-protected copies); when the snapshot is older than REFRESH_NS it rings the gateway through
 * an eventfd and waits briefly for a new one, so an idle gateway publishes only when scraped. */
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>

#include "clock.h"
#include "errbuf.h"
#include "metrics_http.h"

#define REFRESH_NS 100000000ull /* snapshots younger than this are served as they are */
#define WAIT_MS    1000         /* longest wait for the gateway; then the old snapshot is served */

struct kf_metrics_http {
    struct MHD_Daemon *daemon;
    int efd;
    int port;
    pthread_mutex_t lock;
    pthread_cond_t fresh;
    uint64_t generation, published_ns;
    char *json, *text;
};

/* Returns a copy of the wanted document, refreshed if stale; NULL before the first snapshot. */
static char *snapshot_copy(struct kf_metrics_http *m, int want_json)
{
    pthread_mutex_lock(&m->lock);
    if (kf_now_ns() - m->published_ns > REFRESH_NS) {
        uint64_t gen = m->generation, one = 1;
        if (write(m->efd, &one, sizeof(one)) < 0) {
            /* counter saturated: a wake-up is pending anyway */
        }
        struct timespec deadline;
        clock_gettime(CLOCK_REALTIME, &deadline);
        deadline.tv_sec += WAIT_MS / 1000;
        while (m->generation == gen)
            if (pthread_cond_timedwait(&m->fresh, &m->lock, &deadline) == ETIMEDOUT)
                break;
    }
    const char *doc = want_json ? m->json : m->text;
    char *copy = doc ? strdup(doc) : NULL;
    pthread_mutex_unlock(&m->lock);
    return copy;
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned status, const char *type,
                               char *body)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(body);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)version;
    (void)upload_data;
    (void)con_cls;
    struct kf_metrics_http *m = cls;
    if (strcmp(method, "GET") != 0 || *upload_data_size)
        return respond(c, MHD_HTTP_METHOD_NOT_ALLOWED, "text/plain",
                       strdup("only GET /metrics and GET /stats\n"));
    int json = strcmp(url, "/stats") == 0;
    if (!json && strcmp(url, "/metrics") != 0 && strcmp(url, "/") != 0)
        return respond(c, MHD_HTTP_NOT_FOUND, "text/plain",
                       strdup("kfarm serves /metrics (Prometheus text) and /stats (JSON)\n"));
    char *body = snapshot_copy(m, json);
    if (!body)
        return respond(c, MHD_HTTP_SERVICE_UNAVAILABLE, "text/plain",
                       strdup("the gateway has not published statistics yet; retry\n"));
    return respond(c, MHD_HTTP_OK,
                   json ? "application/json" : "text/plain; version=0.0.4; charset=utf-8", body);
}

/* Splits "HOST:PORT" (HOST may be [v6]) and resolves it for a listening socket. */
static int resolve(const char *listen, struct addrinfo **out, char *err, size_t errlen)
{
    const char *colon = strrchr(listen, ':');
    if (!colon || colon == listen || !colon[1]) {
        return kf_errf(err, errlen, -EINVAL,
                       "--metrics-listen %s: expected HOST:PORT, e.g. 127.0.0.1:9464", listen);
    }
    const char *orig = listen;
    char host[256];
    size_t hl = (size_t)(colon - listen);
    if (listen[0] == '[' && colon[-1] == ']') {
        listen++;
        hl -= 2;
    }
    if (hl >= sizeof(host)) {
        return kf_errf(err, errlen, -EINVAL, "--metrics-listen: host name too long");
    }
    memcpy(host, listen, hl);
    host[hl] = '\0';
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    int rc = getaddrinfo(strcmp(host, "*") ? host : NULL, colon + 1, &hints, out);
    if (rc) {
        return kf_errf(err, errlen, -EHOSTUNREACH, "--metrics-listen %s: cannot resolve: %s", orig,
                       gai_strerror(rc));
    }
    return 0;
}

int kf_metrics_http_start(struct kf_metrics_http **out, const char *listen, char *err,
                          size_t errlen)
{
    struct addrinfo *ai = NULL;
    int rc;
    *out = NULL;
    struct kf_metrics_http *m = calloc(1, sizeof(*m));
    if (!m)
        return kf_errf(err, errlen, -ENOMEM, "out of memory");
    m->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    pthread_mutex_init(&m->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&m->fresh, &ca);
    pthread_condattr_destroy(&ca);
    if (m->efd < 0) {
        rc = kf_errf(err, errlen, -errno, "cannot create an eventfd: %s", strerror(errno));
        goto fail;
    }
    if ((rc = resolve(listen, &ai, err, errlen)))
        goto fail;
    if (!ai) {
        rc = kf_errf(err, errlen, -EHOSTUNREACH, "--metrics-listen %s: no address", listen);
        goto fail;
    }
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    if (ai->ai_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    m->daemon =
        MHD_start_daemon(flags, 0, NULL, NULL, on_request, m, MHD_OPTION_SOCK_ADDR, ai->ai_addr,
                         MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)10, MHD_OPTION_END);
    if (!m->daemon) {
        rc = kf_errf(err, errlen, -EADDRINUSE,
                     "--metrics-listen %s: cannot listen there (address in use or not local?)",
                     listen);
        goto fail;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->daemon, MHD_DAEMON_INFO_BIND_PORT);
    m->port = info ? info->port : 0;
    freeaddrinfo(ai);
    *out = m;
    return 0;
fail:
    if (ai)
        freeaddrinfo(ai);
    kf_metrics_http_stop(m);
    return rc;
}

void kf_metrics_http_stop(struct kf_metrics_http *m)
{
    if (!m)
        return;
    if (m->daemon)
        MHD_stop_daemon(m->daemon);
    if (m->efd >= 0)
        close(m->efd);
    pthread_cond_destroy(&m->fresh);
    pthread_mutex_destroy(&m->lock);
    free(m->json);
    free(m->text);
    free(m);
}

int kf_metrics_http_port(const struct kf_metrics_http *m)
{
    return m->port;
}

int kf_metrics_http_fd(const struct kf_metrics_http *m)
{
    return m->efd;
}

int kf_metrics_http_wanted(struct kf_metrics_http *m)
{
    uint64_t v;
    return read(m->efd, &v, sizeof(v)) == (ssize_t)sizeof(v);
}

void kf_metrics_http_publish(struct kf_metrics_http *m, const char *json, const char *text)
{
    char *j = json ? strdup(json) : NULL, *t = text ? strdup(text) : NULL;
    pthread_mutex_lock(&m->lock);
    if (j && t) {
        free(m->json);
        free(m->text);
        m->json = j;
        m->text = t;
        j = t = NULL;
    }
    m->published_ns = kf_now_ns();
    m->generation++;
    pthread_cond_broadcast(&m->fresh);
    pthread_mutex_unlock(&m->lock);
    free(j);
    free(t);
}
