/* The gateway event loop. ZeroMQ sockets are waited on with ppoll on their descriptors; MPI has no
 * descriptor, so while requests are out at workers the loop polls MPI with a yield-then-sleep
 * backoff, and while nothing is out it sleeps in ppoll until a client or a signal wakes it. */
#include <errno.h>
#include <fcntl.h>
#include <mpi.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "backoff.h"
#include "clock.h"
#include "dispatch.h"
#include "errbuf.h"
#include "doorbell.h"
#include "frames.h"
#include "gateway.h"
#include "heap_trim.h"
#include "inflight.h"
#include "info.h"
#include "log.h"
#include "metrics_http.h"
#include "rate_limit.h"
#include "sendq.h"
#include "session.h"
#include "snapshot.h"
#include "stats.h"
#include "trace.h"
#include "wire.h"
#include "wire_recv.h"

#define MAX_KEPT_FRAMES 6 /* route + id + kind + payload + enough to report extras */
#define BATCH 256         /* messages handled per source per loop turn, for fairness */
#define BROADCAST_PREFIX "$broadcast:"
/* Replies from this size on go to ZeroMQ from the MPI buffer without a copy; below it a copy is
 * cheaper than the extra frame bookkeeping, and the buffer is freed at once anyway. */
#define ZERO_COPY_MIN (64u << 10)
#define HEAP_TRIM_INTERVAL_NS 5000000000u /* at most one malloc_trim per 5 s (heap_trim.c) */
/* $stats costs O(in flight + clients): all clients together get at most 50 a second (a watcher
 * asks once a second), so a flood of them cannot take the gateway's time from requests. */
#define STATS_PER_S 50
/* Requests for one worker that become ready in one loop turn travel in one BATCH message: one MPI
 * match and at most one wake-up for all of them (size rules in wire.h). */

struct kf_gateway {
    const struct kf_gateway_config *o;
    struct kf_session s;
    struct kf_dispatch *dispatch;
    struct kf_inflight *inflight;
    struct kf_sendq *sendq;
    struct kf_stats *stats;
    struct kf_trace *trace;            /* --trace, or NULL */
    struct kf_metrics_http *metrics;   /* --metrics-listen, or NULL */
    struct kf_info *info;              /* what the workers serve, for $info */
    int n_workers;
    int *worker_ranks;
    int stopping;
    uint64_t stop_deadline;
    struct kf_backoff backoff;
    struct kf_doorbell doorbell;      /* workers on this node ring it after replying */
    struct kf_doorbell_peer *workers; /* indexed by rank; rung when a worker may be asleep */
    struct kf_sleepflags *flags;
    struct kf_wire_batch *batches; /* indexed by rank: requests not yet sent */
    size_t batched_bytes;          /* sum of batches[].len, for --max-pending-bytes */
    struct kf_heap_trim trim; /* gives freed message buffers back (heap_trim.c) */
    /* --request-timeout: per rank, requests answered with the time-out error whose worker has not
     * replied yet; each still holds its slot, so the rank is not over-committed when it resumes */
    int *timed_out;
    uint64_t timeout_ns, next_expiry_ns;
    struct kf_rate_limit stats_rate; /* $stats asks */
};

static int signal_pipe[2] = {-1, -1};
static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
    got_signal = sig;
    int saved = errno;
    if (write(signal_pipe[1], "s", 1) < 0) {
        /* the pipe is full: a wake-up is already pending */
    }
    errno = saved;
}

void kf_gateway_stop_workers(int world_size)
{
    struct kf_wire_hdr h = {.type = KF_WIRE_SHUTDOWN, .version = KF_WIRE_VERSION};
    for (int r = 1; r < world_size; r++)
        MPI_Send(&h, sizeof(h), MPI_BYTE, r, KF_WIRE_TAG, MPI_COMM_WORLD);
}

int kf_gateway_open(struct kf_gateway **out, const struct kf_gateway_config *o, int world_size,
                    struct kf_sleepflags *flags, char *err, size_t errlen)
{
    int rc;
    struct kf_gateway *g = calloc(1, sizeof(*g));
    if (!g) {
        rc = kf_errf(err, errlen, -ENOMEM, "out of memory");
        goto fail;
    }
    g->o = o;
    g->flags = flags;
    g->n_workers = world_size - 1;
    g->dispatch = kf_dispatch_new(1, g->n_workers, o->max_inflight);
    g->inflight = kf_inflight_new();
    g->sendq = kf_sendq_new();
    g->stats = kf_stats_new(g->n_workers);
    g->info = kf_info_new(g->n_workers, o->topic);
    g->worker_ranks = calloc((size_t)g->n_workers, sizeof(int));
    g->workers = calloc((size_t)world_size, sizeof(*g->workers));
    g->batches = calloc((size_t)world_size, sizeof(*g->batches));
    g->timed_out = calloc((size_t)world_size, sizeof(*g->timed_out));
    g->timeout_ns = (uint64_t)(o->request_timeout_s * 1e9);
    g->doorbell.fd = -1;
    if (!g->dispatch || !g->inflight || !g->sendq || !g->stats || !g->info || !g->worker_ranks ||
        !g->workers || !g->batches || !g->timed_out) {
        rc = kf_errf(err, errlen, -ENOMEM, "out of memory");
        goto fail;
    }
    for (int i = 0; i < g->n_workers; i++)
        g->worker_ranks[i] = i + 1;
    for (int i = 0; i < world_size; i++)
        g->workers[i].fd = -1;
    if (kf_doorbell_open(&g->doorbell, err, errlen))
        kf_warn("%s; waiting for replies will poll instead", err);
    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK)) {
        rc = kf_errf(err, errlen, -errno, "cannot create the signal pipe: %s", strerror(errno));
        goto fail;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    if ((rc = kf_session_open(&g->s, o, err, errlen)) ||
        (o->trace_file &&
         (rc = kf_trace_open(&g->trace, o->trace_file, g->n_workers, o->trace_max_bytes, err,
                             errlen))) ||
        (o->metrics_listen &&
         (rc = kf_metrics_http_start(&g->metrics, o->metrics_listen, err, errlen))))
        goto fail;
    if (g->metrics)
        kf_info("metrics at http://%s/metrics (port %d)", o->metrics_listen,
                kf_metrics_http_port(g->metrics));
    kf_backoff_init(&g->backoff, 200000);
    kf_backoff_setup_thread();
    kf_heap_trim_init(&g->trim, HEAP_TRIM_INTERVAL_NS, kf_now_ns());
    kf_rate_limit_init(&g->stats_rate, STATS_PER_S, STATS_PER_S, kf_now_ns());
    *out = g;
    return 0;
fail:
    kf_gateway_stop_workers(world_size);
    if (g) {
        kf_dispatch_free(g->dispatch);
        kf_inflight_free(g->inflight);
        kf_sendq_free(g->sendq, 1);
        kf_stats_free(g->stats);
        kf_info_free(g->info);
        kf_trace_close(g->trace);
        free(g->worker_ranks);
        free(g->workers);
        free(g->batches);
        free(g->timed_out);
        kf_doorbell_close(&g->doorbell);
        if (g->s.ctx)
            kf_session_close(&g->s, 0);
        free(g);
    }
    return rc;
}

/* ---- replies to clients ---- */

/* Never blocks: a reply the client's queue has no room for (--max-client-replies, or a client
 * that has gone) is dropped and counted. Only the first frame can be refused; once it is taken,
 * libzmq takes the rest of the message. */
static void send_frames(struct kf_gateway *g, const void *route, size_t route_len,
                        const struct kf_frame *f, int n)
{
    int first = g->s.bind_mode ? zmq_send(g->s.req, route, route_len, ZMQ_SNDMORE | ZMQ_DONTWAIT)
                               : zmq_send(g->s.req, f[0].data, f[0].len,
                                          (n > 1 ? ZMQ_SNDMORE : 0) | ZMQ_DONTWAIT);
    if (first < 0) {
        kf_stats_reply_dropped(g->stats, zmq_errno() == EAGAIN);
        return;
    }
    for (int i = g->s.bind_mode ? 0 : 1; i < n; i++)
        zmq_send(g->s.req, f[i].data, f[i].len, i + 1 < n ? ZMQ_SNDMORE : 0);
}

static void reply_error(struct kf_gateway *g, const void *route, size_t route_len, const void *id,
                        size_t id_len, const char *msg)
{
    struct kf_frame f[2] = {{id, id_len}, {msg, strlen(msg)}};
    send_frames(g, route, route_len, f, 2);
}

static void reply_ok(struct kf_gateway *g, const void *route, size_t route_len, const void *id,
                     size_t id_len, const void *payload, size_t len)
{
    struct kf_frame f[3] = {{id, id_len}, {"ok", 2}, {payload, len}};
    send_frames(g, route, route_len, f, 3);
}

static void fail_request(struct kf_gateway *g, struct kf_request *r, const char *msg)
{
    reply_error(g, r->route, r->route_len, r->id, r->id_len, msg);
    kf_stats_client_error(g->stats);
    kf_inflight_remove(g->inflight, r);
}

/* ---- to workers ---- */

static void ring_if_asleep(struct kf_gateway *g, int rank)
{
    if (kf_sleepflags_asleep(g->flags, rank))
        kf_doorbell_ring(&g->workers[rank]);
}

/* A request that could not be queued was not sent: it is answered with an error instead of
 * waiting forever. */
static void fail_unsent(struct kf_gateway *g, int rank, const struct kf_wire_msg *m)
{
    struct kf_request *r = kf_inflight_find(g->inflight, m->hdr.seq);
    if (r && r->worker == rank) {
        kf_dispatch_finished(g->dispatch, rank, 0);
        fail_request(g, r, "gateway out of memory; request not run");
    }
}

/* Fails what buf (a BATCH or one REQUEST) carried, and frees it. */
static void fail_batch(struct kf_gateway *g, int rank, void *buf, size_t len)
{
    struct kf_wire_msg m, rec;
    size_t off = 0;
    if (kf_wire_unpack(buf, len, &m) == 0) {
        if (m.hdr.type == KF_WIRE_REQUEST)
            fail_unsent(g, rank, &m);
        while (m.hdr.type == KF_WIRE_BATCH && kf_wire_batch_next(&m, &off, &rec) == 1)
            fail_unsent(g, rank, &rec);
    }
    free(buf);
}

/* Sends what is batched for this worker. Called before anything else goes to it (order) and at
 * the end of every loop turn. */
static void flush_batch(struct kf_gateway *g, int rank)
{
    size_t len;
    unsigned count = g->batches[rank].count;
    unsigned char *buf = kf_wire_batch_take(&g->batches[rank], &len);
    if (!buf)
        return;
    g->batched_bytes -= len; /* what send_to_worker added; the sendq counts it from here on */
    if (count == 1) {
        /* One request (one at a time): as a plain REQUEST, the worker's shortest path. */
        len -= KF_WIRE_BATCH_FIRST_RECORD;
        memmove(buf, buf + KF_WIRE_BATCH_FIRST_RECORD, len);
    }
    if (kf_sendq_post(g->sendq, buf, len, &rank, 1)) {
        fail_batch(g, rank, buf, len);
        return;
    }
    ring_if_asleep(g, rank);
}

static void flush_batches(struct kf_gateway *g)
{
    for (int r = 1; r <= g->n_workers; r++)
        flush_batch(g, r);
}

static void send_to_worker(struct kf_gateway *g, struct kf_request *r, int rank)
{
    r->worker = rank;
    if (g->timeout_ns)
        r->t_sent = kf_now_ns();
    kf_dispatch_started(g->dispatch, rank);
    struct kf_wire_batch *b = &g->batches[rank];
    if (r->packed_len <= KF_WIRE_BATCH_MAX_RECORD) {
        if (kf_wire_batch_full(b, r->packed_len))
            flush_batch(g, rank);
        size_t before = b->len;
        if (kf_wire_batch_add_packed(b, r->packed, r->packed_len) == 0) {
            g->batched_bytes += b->len - before;
            free(kf_inflight_take_packed(g->inflight, r));
            return;
        }
    }
    /* Large (or no memory to batch it): alone, after what is batched for this worker. */
    flush_batch(g, rank);
    size_t len = r->packed_len;
    void *buf = kf_inflight_take_packed(g->inflight, r);
    if (kf_sendq_post(g->sendq, buf, len, &rank, 1)) {
        free(buf);
        kf_dispatch_finished(g->dispatch, rank, 0);
        fail_request(g, r, "gateway out of memory; request not run");
        return;
    }
    ring_if_asleep(g, rank);
}

static void dispatch_pending(struct kf_gateway *g)
{
    int rank;
    while (kf_inflight_pending(g->inflight) && (rank = kf_dispatch_pick(g->dispatch)) >= 0)
        send_to_worker(g, kf_inflight_pop_pending(g->inflight), rank);
}

static int broadcast_to_workers(struct kf_gateway *g, const char *kind, size_t kind_len,
                                const void *payload, size_t len)
{
    struct kf_wire_hdr h = {.type = KF_WIRE_BROADCAST};
    size_t n;
    /* Requests received before the broadcast go first. */
    flush_batches(g);
    void *buf = kf_wire_pack(&h, kind, kind_len, payload, len, &n);
    if (!buf || kf_sendq_post(g->sendq, buf, n, g->worker_ranks, g->n_workers)) {
        free(buf);
        kf_error("out of memory forwarding broadcast '%.*s'", (int)kind_len, kind);
        return -ENOMEM;
    }
    kf_stats_broadcast(g->stats);
    for (int r = 1; r <= g->n_workers; r++)
        ring_if_asleep(g, r);
    return 0;
}

/* Strips the subscription topic, as EvKit workers do, so adapters see bare kinds. */
static void strip_topic(const struct kf_gateway *g, const char **kind, size_t *kind_len)
{
    size_t t = strlen(g->o->topic);
    if (t && *kind_len >= t && memcmp(*kind, g->o->topic, t) == 0) {
        *kind += t;
        *kind_len -= t;
    }
}

/* ---- from clients ---- */

/* Bytes of requests and broadcasts the gateway holds: waiting for a worker slot, batched for a
 * worker, or posted to MPI and not yet received by every worker; plus the ids and routing ids of
 * requests not yet answered. Each part is a counter kept where
 * the bytes are stored and released, so this is O(1). */
static size_t held_bytes(const struct kf_gateway *g)
{
    return kf_inflight_packed_bytes(g->inflight) + kf_inflight_key_bytes(g->inflight) +
           g->batched_bytes + kf_sendq_bytes(g->sendq);
}

/* Gateway-wide bound (--max-pending-bytes): many clients together cannot make the gateway hold
 * more than it. A message of `need` bytes is refused with an error reply when the bytes held plus
 * it would exceed the bound; it is always taken when nothing is held, so a bound below one large
 * request does not make that request impossible. */
static int pending_over_limit(struct kf_gateway *g, const void *route, size_t route_len,
                              const struct kf_request_view *v, size_t need)
{
    size_t held = held_bytes(g);
    if (held == 0 || held + need <= g->o->max_pending_bytes)
        return 0;
    char err[200];
    snprintf(err, sizeof(err),
             "gateway busy: %zu bytes of requests waiting (kfarm --max-pending-bytes %zu); retry "
             "later",
             held, g->o->max_pending_bytes);
    kf_stats_client_error(g->stats);
    reply_error(g, route, route_len, v->id, v->id_len, err);
    return 1;
}

static void handle_control(struct kf_gateway *g, const void *route, size_t route_len,
                           const struct kf_request_view *v)
{
    size_t plen = strlen(BROADCAST_PREFIX);
    if (v->kind_len > plen && memcmp(v->kind, BROADCAST_PREFIX, plen) == 0) {
        const char *kind = v->kind + plen;
        size_t kind_len = v->kind_len - plen;
        strip_topic(g, &kind, &kind_len);
        if (!kf_info_broadcast_handled(g->info, kind, kind_len)) {
            char msg[256];
            snprintf(msg, sizeof(msg),
                     "no worker handles broadcast '%.*s'; $info lists the broadcast kinds served",
                     (int)(kind_len > 64 ? 64 : kind_len), kind);
            kf_stats_client_error(g->stats);
            reply_error(g, route, route_len, v->id, v->id_len, msg);
            return;
        }
        if (pending_over_limit(g, route, route_len, v,
                               sizeof(struct kf_wire_hdr) + kind_len + v->payload_len))
            return;
        if (broadcast_to_workers(g, kind, kind_len, v->payload, v->payload_len))
            reply_error(g, route, route_len, v->id, v->id_len, "gateway out of memory");
        else
            reply_ok(g, route, route_len, v->id, v->id_len, "", 0);
        return;
    }
    if (v->kind_len == 5 && memcmp(v->kind, "$info", 5) == 0) {
        char *json = kf_info_json(g->info);
        if (json)
            reply_ok(g, route, route_len, v->id, v->id_len, json, strlen(json));
        else
            reply_error(g, route, route_len, v->id, v->id_len, "gateway out of memory");
        free(json);
        return;
    }
    if (v->kind_len == 6 && memcmp(v->kind, "$stats", 6) == 0) {
        if (!kf_rate_limit_take(&g->stats_rate, kf_now_ns())) {
            kf_stats_client_error(g->stats);
            reply_error(g, route, route_len, v->id, v->id_len,
                        "$stats asked more than 50 times a second of this gateway; retry later");
            return;
        }
        char *json = kf_snapshot_json(g->stats, g->dispatch, g->inflight, g->s.bind_mode,
                                      held_bytes(g));
        if (json)
            reply_ok(g, route, route_len, v->id, v->id_len, json, strlen(json));
        else
            reply_error(g, route, route_len, v->id, v->id_len, "gateway out of memory");
        free(json);
        return;
    }
    char msg[256];
    snprintf(msg, sizeof(msg),
             "unknown gateway command '%.*s'; the gateway knows $broadcast:<kind>, $info and "
             "$stats",
             (int)(v->kind_len > 64 ? 64 : v->kind_len), v->kind);
    reply_error(g, route, route_len, v->id, v->id_len, msg);
}

/* Per-client in-flight limit (bind mode): one client cannot fill the pending queue ahead of the
 * others or the gateway's memory; over the limit it gets an error reply and may retry. */
static int client_over_limit(struct kf_gateway *g, const void *route, size_t route_len,
                             const struct kf_request_view *v)
{
    size_t n = kf_inflight_route_count(g->inflight, route, route_len);
    if (route_len == 0 || n < (size_t)g->o->max_client_inflight)
        return 0;
    char err[160];
    snprintf(err, sizeof(err),
             "too many requests in flight from this client (%zu, kfarm --max-client-inflight); "
             "wait for replies and retry",
             n);
    kf_stats_client_error(g->stats);
    reply_error(g, route, route_len, v->id, v->id_len, err);
    return 1;
}

static void accept_request(struct kf_gateway *g, const void *route, size_t route_len,
                           const struct kf_request_view *v)
{
    if (v->kind[0] == '$') {
        handle_control(g, route, route_len, v);
        return;
    }
    if (g->stopping) {
        reply_error(g, route, route_len, v->id, v->id_len,
                    "kfarm is shutting down; the request was not run");
        return;
    }
    if (client_over_limit(g, route, route_len, v) ||
        pending_over_limit(g, route, route_len, v,
                           sizeof(struct kf_wire_hdr) + v->kind_len + v->payload_len +
                               route_len + v->id_len))
        return;
    struct kf_request *r = kf_inflight_add(g->inflight, route, route_len, v->id, v->id_len);
    struct kf_wire_hdr h = {.type = KF_WIRE_REQUEST};
    if (r) {
        size_t len;
        h.seq = r->seq;
        void *buf = kf_wire_pack(&h, v->kind, v->kind_len, v->payload, v->payload_len, &len);
        kf_inflight_set_packed(g->inflight, r, buf, len);
    }
    if (!r || !r->packed) {
        if (r)
            kf_inflight_remove(g->inflight, r);
        reply_error(g, route, route_len, v->id, v->id_len, "gateway out of memory");
        return;
    }
    r->t_start = kf_now_ns();
    if (g->trace)
        r->trace_kind = kf_trace_kind(g->trace, v->kind, v->kind_len);
    kf_stats_request(g->stats);
    int rank = kf_inflight_pending(g->inflight) ? -1 : kf_dispatch_pick(g->dispatch);
    if (rank >= 0)
        send_to_worker(g, r, rank);
    else
        kf_inflight_push_pending(g->inflight, r);
}

/* Receives one multipart message, keeping its first frames. Returns the frame count, 0 when
 * nothing was waiting. */
static size_t recv_multipart(void *sock, zmq_msg_t *kept, size_t *n_kept, size_t *bytes)
{
    size_t total = 0;
    *n_kept = 0;
    *bytes = 0;
    int more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, sock, total ? 0 : ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&m);
            return total;
        }
        total++;
        *bytes += zmq_msg_size(&m);
        more = zmq_msg_more(&m);
        if (*n_kept < MAX_KEPT_FRAMES)
            kept[(*n_kept)++] = m;
        else
            zmq_msg_close(&m);
    }
    return total;
}

static void close_all(zmq_msg_t *m, size_t n)
{
    for (size_t i = 0; i < n; i++)
        zmq_msg_close(&m[i]);
}

static int drain_requests(struct kf_gateway *g)
{
    int handled = 0;
    for (; handled < BATCH; handled++) {
        zmq_msg_t parts[MAX_KEPT_FRAMES];
        size_t kept, bytes;
        size_t total = recv_multipart(g->s.req, parts, &kept, &bytes);
        if (total == 0)
            break;
        size_t skip = g->s.bind_mode ? 1 : 0; /* ROUTER prepends the client's routing id */
        const void *route = skip ? zmq_msg_data(&parts[0]) : NULL;
        size_t route_len = skip ? zmq_msg_size(&parts[0]) : 0;
        struct kf_frame f[MAX_KEPT_FRAMES];
        for (size_t i = skip; i < kept; i++)
            f[i - skip] = (struct kf_frame){zmq_msg_data(&parts[i]), zmq_msg_size(&parts[i])};
        struct kf_request_view v;
        char err[256];
        size_t frames = total - skip;
        switch (kf_frames_parse(f, kept - skip, frames, bytes - route_len,
                                g->o->max_message_bytes, &v, err, sizeof(err))) {
        case KF_FRAMES_REQUEST:
            accept_request(g, route, route_len, &v);
            break;
        case KF_FRAMES_ERROR_REPLY:
            kf_debug("%s", err);
            kf_stats_client_error(g->stats);
            reply_error(g, route, route_len, v.id, v.id_len, err);
            break;
        case KF_FRAMES_DROP:
            kf_warn("%s", err);
            break;
        }
        close_all(parts, kept);
    }
    return handled;
}

static int drain_broadcasts(struct kf_gateway *g)
{
    int handled = 0;
    if (!g->s.sub)
        return 0;
    for (; handled < BATCH; handled++) {
        zmq_msg_t parts[MAX_KEPT_FRAMES];
        size_t kept, bytes;
        size_t total = recv_multipart(g->s.sub, parts, &kept, &bytes);
        if (total == 0)
            break;
        if (total != 2) {
            kf_warn("broadcast of %zu frames dropped; a broadcast is 2 frames [topic+kind, "
                    "payload]",
                    total);
        } else {
            const char *kind = zmq_msg_data(&parts[0]);
            size_t kind_len = zmq_msg_size(&parts[0]);
            strip_topic(g, &kind, &kind_len);
            if (!kf_utf8_valid(kind, kind_len))
                kf_warn("broadcast dropped: its kind is not valid UTF-8");
            else if (!kf_info_broadcast_handled(g->info, kind, kind_len))
                kf_info_warn_unhandled(g->info, kind, kind_len);
            else
                broadcast_to_workers(g, kind, kind_len, zmq_msg_data(&parts[1]),
                                     zmq_msg_size(&parts[1]));
        }
        close_all(parts, kept);
    }
    return handled;
}

/* ---- from workers ---- */

/* A reply whose request timed out (its seq's generation is gone, so it cannot match a newer
 * request): dropped and counted; it frees the slot the timed-out request kept. */
static int drop_late_reply(struct kf_gateway *g, int source, const struct kf_wire_msg *m)
{
    if (g->timed_out[source] == 0)
        return 0;
    g->timed_out[source]--;
    kf_dispatch_finished(g->dispatch, source, m->hdr.service_ns);
    kf_stats_late_reply(g->stats, source);
    kf_debug("late reply from rank %d for timed-out request %llx dropped", source,
             (unsigned long long)m->hdr.seq);
    return 1;
}

static void free_reply_buf(void *data, void *hint)
{
    (void)data;
    free(hint);
}

/* Sends a large reply's payload to the client from the MPI receive buffer itself (ZeroMQ frees
 * buf once it has written it), instead of a copy. Returns 1 when it took buf, 0 when the caller
 * keeps it (too small to be worth it, or ZeroMQ refused the message). */
static int reply_ok_owned(struct kf_gateway *g, const struct kf_request *r,
                          const struct kf_wire_msg *m, void *buf)
{
    zmq_msg_t msg;
    if (!buf || m->payload_len < ZERO_COPY_MIN ||
        zmq_msg_init_data(&msg, (void *)m->payload, m->payload_len, free_reply_buf, buf))
        return 0;
    /* as send_frames: only the first frame can be refused (--max-client-replies), never blocks */
    int first = g->s.bind_mode
                    ? zmq_send(g->s.req, r->route, r->route_len, ZMQ_SNDMORE | ZMQ_DONTWAIT)
                    : zmq_send(g->s.req, r->id, r->id_len, ZMQ_SNDMORE | ZMQ_DONTWAIT);
    if (first < 0) {
        kf_stats_reply_dropped(g->stats, zmq_errno() == EAGAIN);
        zmq_msg_close(&msg); /* frees buf */
        return 1;
    }
    if (g->s.bind_mode)
        zmq_send(g->s.req, r->id, r->id_len, ZMQ_SNDMORE);
    zmq_send(g->s.req, "ok", 2, ZMQ_SNDMORE);
    if (zmq_msg_send(&msg, g->s.req, 0) < 0)
        zmq_msg_close(&msg); /* frees buf */
    return 1;
}

/* buf: the MPI message m lies in when it came alone (the reply may take it, see reply_ok_owned),
 * NULL for a record of a batch. Returns 1 when buf was taken. */
static int handle_reply(struct kf_gateway *g, int source, const struct kf_wire_msg *m, void *buf)
{
    int taken = 0;
    struct kf_request *r = kf_inflight_find(g->inflight, m->hdr.seq);
    if (kf_dispatch_suspect(g->dispatch, source)) {
        kf_info("rank %d answers again; it gets new work", source);
        kf_dispatch_set_suspect(g->dispatch, source, 0);
    }
    if ((!r || r->worker != source) && drop_late_reply(g, source, m))
        return 0;
    if (!r || r->worker != source) {
        /* Answered already (drain timeout) or never sent: answering again would duplicate. */
        kf_debug("reply from rank %d for unknown request %llx dropped", source,
                 (unsigned long long)m->hdr.seq);
        return 0;
    }
    kf_dispatch_finished(g->dispatch, source, m->hdr.service_ns);
    int ok = m->hdr.status == KF_WIRE_OK;
    kf_stats_reply(g->stats, source, &m->hdr, kf_now_ns() - r->t_start);
    kf_trace_reply(g->trace, source, r->trace_kind, &m->hdr);
    if (ok) {
        taken = reply_ok_owned(g, r, m, buf);
        if (!taken)
            reply_ok(g, r->route, r->route_len, r->id, r->id_len, m->payload, m->payload_len);
    } else {
        struct kf_frame f[2] = {{r->id, r->id_len}, {m->payload, m->payload_len}};
        send_frames(g, r->route, r->route_len, f, 2);
    }
    kf_inflight_remove(g->inflight, r);
    return taken;
}

/* ---- hung workers (--request-timeout) ---- */

static void expire_one(struct kf_request *r, void *arg)
{
    struct kf_gateway *g = arg;
    uint64_t now = kf_now_ns();
    if (!r->worker || now - r->t_sent < g->timeout_ns)
        return;
    int rank = r->worker;
    char msg[120];
    snprintf(msg, sizeof(msg), "request timed out on rank %d after %.1f s", rank,
             (double)(now - r->t_sent) / 1e9);
    if (!kf_dispatch_suspect(g->dispatch, rank))
        kf_warn("%s; rank %d gets no new work until it answers", msg, rank);
    kf_dispatch_set_suspect(g->dispatch, rank, 1);
    g->timed_out[rank]++;
    kf_stats_timed_out(g->stats, rank);
    reply_error(g, r->route, r->route_len, r->id, r->id_len, msg);
    kf_inflight_remove(g->inflight, r);
}

/* Scans the running requests a few times per time-out period: a request is answered at most a
 * tenth of the period late, and the O(in-flight) scan stays rare. */
static void expire_requests(struct kf_gateway *g)
{
    if (!g->timeout_ns || kf_dispatch_total_outstanding(g->dispatch) == 0)
        return;
    uint64_t now = kf_now_ns();
    if (now < g->next_expiry_ns)
        return;
    uint64_t step = g->timeout_ns / 10;
    g->next_expiry_ns = now + (step < 10000000 ? 10000000 : step);
    kf_inflight_foreach(g->inflight, expire_one, g);
}

static int poll_workers(struct kf_gateway *g)
{
    int handled = 0;
    for (; handled < BATCH; handled++) {
        int source, len;
        void *buf = kf_wire_recv(MPI_ANY_SOURCE, &source, &len);
        if (!buf)
            break;
        struct kf_wire_msg m, rec;
        size_t off = 0;
        int more;
        if (kf_wire_unpack(buf, (size_t)len, &m)) {
            kf_error("malformed %d-byte message from rank %d dropped", len, source);
        } else if (m.hdr.type == KF_WIRE_REPLY) {
            if (handle_reply(g, source, &m, buf))
                buf = NULL;
        } else if (m.hdr.type == KF_WIRE_BATCH) {
            while ((more = kf_wire_batch_next(&m, &off, &rec)) == 1) {
                if (rec.hdr.type == KF_WIRE_REPLY)
                    handle_reply(g, source, &rec, NULL);
                else
                    kf_warn("unexpected message type %u in a batch from rank %d dropped",
                            rec.hdr.type, source);
            }
            if (more < 0)
                kf_error("malformed record at byte %zu of a %d-byte batch from rank %d; the rest "
                         "dropped",
                         off, len, source);
        } else {
            kf_warn("unexpected message type %u from rank %d dropped", m.hdr.type, source);
        }
        free(buf);
    }
    return handled;
}

/* Collects every worker's HELLO; returns the number that failed to start, or -1 on signal. */
static int await_workers(struct kf_gateway *g)
{
    int seen = 0, failed = 0;
    struct kf_backoff b;
    kf_backoff_init(&b, 5000000);
    while (seen < g->n_workers) {
        if (got_signal)
            return -1;
        int source, len;
        void *buf = kf_wire_recv(MPI_ANY_SOURCE, &source, &len);
        if (!buf) {
            kf_backoff_wait(&b);
            continue;
        }
        struct kf_wire_msg m;
        if (kf_wire_unpack(buf, (size_t)len, &m) == 0 && m.hdr.type == KF_WIRE_HELLO) {
            seen++;
            if (m.hdr.version != KF_WIRE_VERSION) {
                failed++;
                kf_error("worker rank %d speaks MPI wire format %u, this gateway %u: run one kfarm "
                         "build on every node",
                         source, m.hdr.version, KF_WIRE_VERSION);
            } else if (m.hdr.status == KF_WIRE_OK) {
                /* doorbell name, NUL, what the rank serves (wire.h) */
                const char *p = m.payload, *nul = memchr(p, '\0', m.payload_len);
                size_t name_len = nul ? (size_t)(nul - p) : m.payload_len;
                kf_doorbell_peer_open(&g->workers[source], p, name_len);
                if (nul)
                    kf_info_set_rank(g->info, source, nul + 1, m.payload_len - name_len - 1);
            } else {
                failed++;
                kf_error("worker rank %d cannot start: %.*s", source, (int)m.payload_len,
                         (const char *)m.payload);
            }
        }
        free(buf);
    }
    return failed;
}

/* Tells every worker to start, with the name of the doorbell to ring after replies. */
static void welcome_workers(struct kf_gateway *g)
{
    struct kf_wire_hdr h = {.type = KF_WIRE_WELCOME};
    size_t n;
    size_t name_len = g->doorbell.fd >= 0 ? strlen(g->doorbell.name) : 0;
    void *buf = kf_wire_pack(&h, NULL, 0, g->doorbell.name, name_len, &n);
    for (int r = 1; buf && r <= g->n_workers; r++)
        MPI_Send(buf, (int)n, MPI_BYTE, r, KF_WIRE_TAG, MPI_COMM_WORLD);
    free(buf);
}

/* ---- lifecycle ---- */

static void fail_pending(struct kf_gateway *g, const char *msg)
{
    struct kf_request *r;
    while ((r = kf_inflight_pop_pending(g->inflight)))
        fail_request(g, r, msg);
}

static void fail_one(struct kf_request *r, void *arg)
{
    fail_request(arg, r, "the request did not finish within kfarm's --drain-timeout at shutdown");
}

static void begin_stop(struct kf_gateway *g)
{
    g->stopping = 1;
    g->stop_deadline = kf_now_ns() + (uint64_t)(g->o->drain_timeout_s * 1e9);
    kf_info("%s: stopping; %zu requests running, %zu waiting (failed now)",
            strsignal(got_signal), kf_inflight_count(g->inflight) - kf_inflight_pending(g->inflight),
            kf_inflight_pending(g->inflight));
    fail_pending(g, "kfarm is shutting down; the request was not run");
}

static void drain_signal_pipe(void)
{
    char buf[64];
    while (read(signal_pipe[0], buf, sizeof(buf)) > 0)
        ;
}

static int has_input(void *sock)
{
    int events = 0;
    size_t l = sizeof(events);
    return sock && zmq_getsockopt(sock, ZMQ_EVENTS, &events, &l) == 0 && (events & ZMQ_POLLIN);
}

/* Sleeps until a client message, a worker's ring, a signal, or timeout_ns (< 0: none). Returns 1
 * when woken by an event rather than the timeout. */
static int wait_for_events(struct kf_gateway *g, int64_t timeout_ns)
{
    if (has_input(g->s.req) || has_input(g->s.sub))
        return 1;
    struct pollfd fds[5];
    int n = 0;
    size_t l = sizeof(int);
    fds[n] = (struct pollfd){.events = POLLIN};
    zmq_getsockopt(g->s.req, ZMQ_FD, &fds[n++].fd, &l);
    if (g->s.sub) {
        fds[n] = (struct pollfd){.events = POLLIN};
        zmq_getsockopt(g->s.sub, ZMQ_FD, &fds[n++].fd, &l);
    }
    int sig = n, bell = -1;
    fds[n++] = (struct pollfd){.fd = signal_pipe[0], .events = POLLIN};
    if (g->doorbell.fd >= 0) {
        bell = n;
        fds[n++] = (struct pollfd){.fd = g->doorbell.fd, .events = POLLIN};
    }
    if (g->metrics)
        fds[n++] = (struct pollfd){.fd = kf_metrics_http_fd(g->metrics), .events = POLLIN};
    struct timespec ts = {.tv_sec = timeout_ns / 1000000000, .tv_nsec = timeout_ns % 1000000000};
    int woken = ppoll(fds, (nfds_t)n, timeout_ns < 0 ? NULL : &ts, NULL) > 0;
    /* Read them only when ready: at 64 in flight this loop sleeps ~10 k times per 100 k requests
     * and a read that finds nothing is a syscall each (4.5% of the gateway's samples in perf,
     * bench/RESULTS.md). Something that arrives after ppoll is left for the next ppoll, which
     * then returns at once. */
    if (woken && fds[sig].revents)
        drain_signal_pipe();
    if (woken && bell >= 0 && fds[bell].revents) /* also an error: reading clears it, no spin */
        kf_doorbell_drain(&g->doorbell);
    return woken;
}

/* Publishes a snapshot for the metrics thread when a scraper asked for a fresh one. */
static void publish_metrics(struct kf_gateway *g)
{
    if (!g->metrics || !kf_metrics_http_wanted(g->metrics))
        return;
    char *json = kf_snapshot_json(g->stats, g->dispatch, g->inflight, g->s.bind_mode,
                                  held_bytes(g));
    char *text = json ? kf_snapshot_prometheus(json) : NULL;
    kf_metrics_http_publish(g->metrics, json, text);
    free(json);
    free(text);
}

static void serve(struct kf_gateway *g)
{
    for (;;) {
        publish_metrics(g);
        int work = drain_requests(g);
        work += drain_broadcasts(g);
        work += poll_workers(g);
        expire_requests(g);
        dispatch_pending(g);
        flush_batches(g);
        int sending = kf_sendq_progress(g->sendq);
        kf_heap_trim_note(&g->trim, work);
        kf_heap_trim_maybe(&g->trim, kf_now_ns());
        if (got_signal && !g->stopping)
            begin_stop(g);
        if (g->stopping &&
            (kf_inflight_count(g->inflight) == 0 || kf_now_ns() > g->stop_deadline))
            return;
        if (work) {
            kf_backoff_reset(&g->backoff);
            continue;
        }
        if (kf_dispatch_total_outstanding(g->dispatch) == 0 && sending == 0) {
            /* Nothing can come from MPI: sleep until a client or a signal (or the heap trim that
             * gives back what the last requests freed). */
            wait_for_events(g, g->stopping ? 50000000 : kf_heap_trim_due_ns(&g->trim, kf_now_ns()));
            kf_backoff_reset(&g->backoff);
            continue;
        }
        uint64_t ns = kf_backoff_step(&g->backoff);
        if (!ns)
            continue;
        /* Say we sleep, then look once more: a reply sent before the worker saw the flag is
         * found here, any later one comes with a ring. */
        kf_sleepflags_set(g->flags, 1);
        if (poll_workers(g) == 0 && wait_for_events(g, (int64_t)ns))
            kf_backoff_reset(&g->backoff);
        kf_sleepflags_set(g->flags, 0);
    }
}

static void free_gateway(struct kf_gateway *g)
{
    kf_metrics_http_stop(g->metrics);
    kf_trace_close(g->trace);
    kf_session_close(&g->s, 1000);
    kf_sendq_free(g->sendq, 2);
    kf_dispatch_free(g->dispatch);
    kf_inflight_free(g->inflight);
    kf_stats_free(g->stats);
    kf_info_free(g->info);
    free(g->worker_ranks);
    for (int r = 1; r <= g->n_workers; r++)
        kf_doorbell_peer_close(&g->workers[r]);
    free(g->workers);
    for (int r = 0; r <= g->n_workers; r++)
        kf_wire_batch_fini(&g->batches[r]);
    free(g->batches);
    free(g->timed_out);
    kf_doorbell_close(&g->doorbell);
    close(signal_pipe[0]);
    close(signal_pipe[1]);
    free(g);
}

int kf_gateway_run(struct kf_gateway *g)
{
    int status = 0;
    int failed = await_workers(g);
    if (failed != 0) {
        if (failed > 0)
            kf_error("%d of %d workers failed to start; stopping the job", failed, g->n_workers);
        status = failed > 0 ? 3 : 0;
        goto out;
    }
    if (g->o->endpoint_file) {
        char err[1024], url[300] = "";
        if (g->metrics)
            kf_session_metrics_url(&g->s, g->o->metrics_listen, kf_metrics_http_port(g->metrics),
                                   url, sizeof(url));
        if (kf_session_write_endpoint_file(&g->s, g->o->endpoint_file, g->metrics ? url : NULL,
                                           err, sizeof(err))) {
            kf_error("%s", err);
            status = 2;
            goto out;
        }
    }
    welcome_workers(g);
    kf_info("serving: %d workers, %d slots each, requests %s %s%s%s", g->n_workers,
            g->o->max_inflight, g->s.bind_mode ? "bound at" : "connected to", g->s.endpoint,
            g->s.broadcast_endpoint[0] ? ", broadcasts " : "", g->s.broadcast_endpoint);
    serve(g);
    kf_inflight_foreach(g->inflight, fail_one, g);
out:
    kf_gateway_stop_workers(g->n_workers + 1);
    for (int r = 1; r <= g->n_workers; r++)
        kf_doorbell_ring(&g->workers[r]);
    kf_stats_log(g->stats);
    free_gateway(g);
    return status;
}
