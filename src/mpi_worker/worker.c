/* The worker loop: one MPI channel from the gateway carries requests and broadcasts in the order
 * the gateway received them, so applying them in arrival order keeps the ordering guarantee. */
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <poll.h>

#include "backoff.h"
#include "clock.h"
#include "describe.h"
#include "doorbell.h"
#include "heap_trim.h"
#include "log.h"
#include "registry.h"
#include "sendq.h"
#include "variant.h"
#include "wire.h"
#include "wire_recv.h"
#include "worker.h"

struct worker {
    int rank;
    struct kf_registry *registry;
    const struct kf_worker_config *cfg;
    struct kf_doorbell doorbell;     /* the gateway rings it after sending us work */
    struct kf_doorbell_peer gateway; /* we ring it after sending a reply */
    struct kf_variants *variants;
    struct kf_sleepflags *flags;
    struct kf_sendq *sendq;       /* to the gateway, all MPI_Isend */
    struct kf_wire_batch replies; /* replies not sent yet (see flush_replies) */
    uint64_t replies_since;       /* when the oldest of them was made */
    uint64_t last_service_ns;     /* how long the last kernel ran */
    struct kf_heap_trim trim;     /* gives freed buffers back, also when idle (heap_trim.c) */
    unsigned long served, failed, broadcasts;
};

/* Replies are batched like requests (one MPI message and at most one wake-up of the gateway for
 * several), but a reply is held only while the worker has more work at hand, kernels are short
 * (last one under HOLD_NS) and the oldest held reply is younger than HOLD_NS. Size rules: wire.h.
 */
#define HOLD_NS 50000u
/* Open MPI's shared-memory transport sends up to 256 bytes inline, its match header included. */
#define INLINE_BYTES 200
/* Most requests of one kind taken from a gateway batch for a kernel's batch entry point. */
#define GATHER_MAX 64

static volatile sig_atomic_t worker_sigterm;

static void on_sigterm(int sig)
{
    (void)sig;
    worker_sigterm = 1;
}

static void ring_gateway(struct worker *w)
{
    if (kf_sleepflags_asleep(w->flags, 0))
        kf_doorbell_ring(&w->gateway);
}

/* A batch goes out with MPI_Isend: Open MPI sends only up to 256 bytes inline over shared memory,
 * and a blocking send of more returns only once the gateway has run and taken it. */
static void send_batch(struct worker *w, void *buf, size_t n)
{
    int gateway = 0;
    if (kf_sendq_post(w->sendq, buf, n, &gateway, 1)) {
        /* No memory to queue it: send it blocking rather than lose it. */
        MPI_Send(buf, (int)n, MPI_BYTE, 0, KF_WIRE_TAG, MPI_COMM_WORLD);
        free(buf);
    }
    ring_gateway(w);
}

static void flush_replies(struct worker *w)
{
    size_t n;
    unsigned count = w->replies.count;
    unsigned char *buf = kf_wire_batch_take(&w->replies, &n);
    if (!buf)
        return;
    size_t skip = KF_WIRE_BATCH_FIRST_RECORD;
    if (count == 1 && n - skip <= INLINE_BYTES) {
        /* One small reply (one request at a time): as a plain REPLY with a blocking send, which
         * Open MPI completes at once (inline), as before batches. */
        MPI_Send(buf + skip, (int)(n - skip), MPI_BYTE, 0, KF_WIRE_TAG, MPI_COMM_WORLD);
        free(buf);
        ring_gateway(w);
        return;
    }
    send_batch(w, buf, n);
}

/* Before running a request: send the held replies unless holding them on is cheap. */
static void maybe_flush_replies(struct worker *w)
{
    if (w->replies.count &&
        (w->last_service_ns >= HOLD_NS || kf_now_ns() - w->replies_since >= HOLD_NS))
        flush_replies(w);
}

static void send_to_gateway(struct worker *w, const struct kf_wire_hdr *hdr, const void *payload,
                            size_t len)
{
    if (hdr->type == KF_WIRE_REPLY && len <= KF_WIRE_BATCH_MAX_RECORD) {
        if (kf_wire_batch_full(&w->replies, sizeof(*hdr) + len))
            flush_replies(w);
        if (kf_wire_batch_add(&w->replies, hdr, NULL, 0, payload, len) == 0) {
            if (w->replies.count == 1)
                w->replies_since = kf_now_ns();
            return;
        }
    }
    flush_replies(w); /* keeps replies in the order they were made */
    size_t n;
    void *buf = kf_wire_pack(hdr, NULL, 0, payload, len, &n);
    if (!buf) {
        /* Without a reply the gateway would wait for this request forever; say so and stop. */
        kf_error("out of memory building a %zu-byte reply; aborting the job", len);
        MPI_Abort(MPI_COMM_WORLD, 70);
    }
    /* Blocking, as before batches: a large reply over a network transport needs this rank's
     * progress until the gateway has it all, and sleeping between polls would stall it. */
    MPI_Send(buf, (int)n, MPI_BYTE, 0, KF_WIRE_TAG, MPI_COMM_WORLD);
    free(buf);
    ring_gateway(w);
}

static void reply_error(struct worker *w, const struct kf_wire_msg *req, const char *msg)
{
    struct kf_wire_hdr h = {.type = KF_WIRE_REPLY, .status = KF_WIRE_FAILED, .seq = req->hdr.seq};
    send_to_gateway(w, &h, msg, strlen(msg));
}

static void send_result(struct worker *w, const struct kf_wire_msg *req, struct kf_result *res,
                        const struct kf_variant_run *r);

static void handle_request(struct worker *w, const struct kf_wire_msg *req)
{
    const struct kf_registry_kernel *k =
        kf_registry_kernel(w->registry, req->kind, req->hdr.kind_len);
    if (!k) {
        char msg[1200];
        snprintf(msg, sizeof(msg), "unknown kind '%.*s'; this job serves: %s",
                 (int)(req->hdr.kind_len > 100 ? 100 : req->hdr.kind_len), req->kind,
                 kf_registry_kinds(w->registry));
        w->failed++;
        reply_error(w, req, msg);
        return;
    }
    struct kf_result res = {0};
    struct kf_variant_run run;
    kf_variants_run(w->variants, k, req->payload, req->payload_len, &res, &run);
    send_result(w, req, &res, &run);
}

/* Replies with what a kernel returned, and frees it. */
static void send_result(struct worker *w, const struct kf_wire_msg *req, struct kf_result *res,
                        const struct kf_variant_run *r)
{
    const struct kf_variant_run run = *r;
    w->last_service_ns = run.service_ns;
    struct kf_wire_hdr h = {.type = KF_WIRE_REPLY,
                            .seq = req->hdr.seq,
                            .variant = run.variant,
                            .reason = run.reason,
                            .accel = run.accel,
                            .service_ns = run.service_ns};
    if (run.rc == KF_OK) {
        h.status = KF_WIRE_OK;
        send_to_gateway(w, &h, res->data, res->data ? res->len : 0);
        w->served++;
    } else {
        res->error[sizeof(res->error) - 1] = '\0';
        const char *msg = res->error[0] ? res->error : "kernel failed without a message";
        h.status = KF_WIRE_FAILED;
        send_to_gateway(w, &h, msg, strlen(msg));
        w->failed++;
    }
    free(res->data);
    res->data = NULL;
}

/* Requests of one kind with a batch entry point that arrived together: the variant code decides
 * how many share a call (the batch knob); each gets its own reply. */
static void handle_requests(struct worker *w, const struct kf_registry_kernel *k,
                            const struct kf_wire_msg *reqs, size_t n)
{
    struct kf_batch_item items[GATHER_MAX];
    struct kf_variant_run runs[GATHER_MAX];
    memset(items, 0, n * sizeof(items[0]));
    for (size_t i = 0; i < n; i++) {
        items[i].payload = reqs[i].payload;
        items[i].len = reqs[i].payload_len;
    }
    maybe_flush_replies(w);
    for (size_t i = 0; i < n;) {
        size_t done = kf_variants_run_batch(w->variants, k, items + i, n - i, runs + i);
        for (size_t j = i; j < i + done; j++)
            send_result(w, &reqs[j], &items[j].result, &runs[j]);
        i += done;
    }
}

/* The requests that follow rec in batch m with the same kind, for a kernel with a batch entry
 * point; *off moves past those taken. Returns how many requests reqs holds (>= 1). */
static size_t gather_requests(const struct kf_wire_msg *m, size_t *off,
                              const struct kf_wire_msg *rec, struct kf_wire_msg *reqs)
{
    size_t n = 0;
    reqs[n++] = *rec;
    while (n < GATHER_MAX) {
        size_t next = *off;
        struct kf_wire_msg r;
        if (kf_wire_batch_next(m, &next, &r) != 1 || r.hdr.type != KF_WIRE_REQUEST ||
            r.hdr.kind_len != rec->hdr.kind_len || memcmp(r.kind, rec->kind, r.hdr.kind_len))
            break;
        reqs[n++] = r;
        *off = next;
    }
    return n;
}

static void handle_broadcast(struct worker *w, const struct kf_wire_msg *m)
{
    int klen = (int)(m->hdr.kind_len > 100 ? 100 : m->hdr.kind_len);
    const struct kf_registry_broadcast *b =
        kf_registry_broadcast(w->registry, m->kind, m->hdr.kind_len);
    w->broadcasts++;
    if (!b) {
        kf_debug("broadcast '%.*s' has no handler here; ignored", klen, m->kind);
        return;
    }
    char err[512] = "";
    if (b->handler->fn(b->state, m->payload, m->payload_len, err, sizeof(err)) != KF_OK)
        kf_warn("broadcast '%.*s' failed: %s", klen, m->kind, err[0] ? err : "(no message)");
}

/* HELLO when ready: the doorbell name (empty when polling), a NUL, then what this rank serves
 * (describe.c), which the gateway answers $info with. */
static void send_ready(struct worker *w, const struct kf_wire_hdr *h)
{
    size_t name_len = w->doorbell.fd >= 0 ? strlen(w->doorbell.name) : 0;
    char *served = kf_describe_registry(w->registry);
    size_t served_len = served ? strlen(served) : 0;
    char *buf = malloc(name_len + 1 + served_len);
    if (!buf) {
        send_to_gateway(w, h, w->doorbell.name, name_len); /* served kinds unknown to $info */
    } else {
        memcpy(buf, w->doorbell.name, name_len);
        buf[name_len] = '\0';
        if (served_len)
            memcpy(buf + name_len + 1, served, served_len);
        send_to_gateway(w, h, buf, name_len + 1 + served_len);
    }
    free(buf);
    free(served);
}

/* Loads the adapters and tells the gateway whether this rank can serve. */
static int say_hello(struct worker *w)
{
    char err[1024] = "";
    int rc = 0;
    for (size_t i = 0; i < w->cfg->n_adapters && rc == 0; i++) {
        const struct kf_adapter_spec *s = &w->cfg->adapters[i];
        struct kf_args args = {.count = s->n_args, .keys = s->keys, .values = s->values};
        rc = kf_registry_load(w->registry, s->name, &args, err, sizeof(err));
    }
    if (rc == 0 && kf_doorbell_open(&w->doorbell, err, sizeof(err)))
        kf_warn("%s; this worker will poll instead", err);
    struct kf_wire_hdr h = {.type = KF_WIRE_HELLO, .status = rc ? KF_WIRE_FAILED : KF_WIRE_OK};
    if (rc)
        send_to_gateway(w, &h, err, strlen(err));
    else
        send_ready(w, &h);
    if (rc)
        kf_error("%s", err);
    else
        kf_debug("ready; kinds: %s", kf_registry_kinds(w->registry));
    return rc;
}

/* Sleeps up to ns or until the gateway rings; returns 1 when rung. */
static int wait_for_gateway(struct worker *w, uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000u),
                          .tv_nsec = (long)(ns % 1000000000u)};
    if (w->doorbell.fd < 0) {
        nanosleep(&ts, NULL);
        return 0;
    }
    struct pollfd p = {.fd = w->doorbell.fd, .events = POLLIN};
    if (ppoll(&p, 1, &ts, NULL) <= 0)
        return 0;
    kf_doorbell_drain(&w->doorbell);
    return 1;
}

/* Applies one message from the gateway; returns 1 when it says shut down. */
static int handle_message(struct worker *w, const struct kf_wire_msg *m, int failed_start)
{
    switch (m->hdr.type) {
    case KF_WIRE_WELCOME:
        kf_doorbell_peer_open(&w->gateway, m->payload, m->payload_len);
        break;
    case KF_WIRE_REQUEST:
        maybe_flush_replies(w);
        if (failed_start)
            reply_error(w, m, "this worker failed to start; see the job log");
        else
            handle_request(w, m);
        break;
    case KF_WIRE_BROADCAST:
        flush_replies(w); /* a broadcast handler may take long */
        if (!failed_start)
            handle_broadcast(w, m);
        break;
    case KF_WIRE_SHUTDOWN:
        return 1;
    default:
        kf_error("unexpected message type %u from the gateway; ignored", m->hdr.type);
    }
    return 0;
}

/* Waits for the next message from the gateway: polls, and when there is none backs off, sleeping
 * on the doorbell. Returns the message, or NULL when it is time to leave without one (SIGTERM and
 * no shutdown from the gateway within grace_ns). */
static void *next_message(struct worker *w, struct kf_backoff *idle, uint64_t grace_ns, int *len)
{
    uint64_t sigterm_at = 0;
    for (;;) {
        kf_heap_trim_maybe(&w->trim, kf_now_ns());
        kf_sendq_progress(w->sendq);
        void *buf = kf_wire_recv(0, NULL, len);
        if (buf)
            return buf;
        flush_replies(w); /* nothing more at hand: the gateway gets what is done */
        if (worker_sigterm) {
            if (!sigterm_at) {
                sigterm_at = kf_now_ns();
            } else if (kf_now_ns() - sigterm_at > grace_ns) {
                kf_warn("no shutdown from the gateway %.0f s after SIGTERM; leaving",
                        (double)grace_ns / 1e9);
                return NULL;
            }
        }
        uint64_t ns = kf_backoff_step(idle);
        if (!ns)
            continue;
        /* Say we sleep, then look once more: a message sent before the gateway saw the flag
         * is found here, any later one comes with a ring. */
        kf_sleepflags_set(w->flags, 1);
        buf = kf_wire_recv(0, NULL, len);
        if (!buf && wait_for_gateway(w, ns))
            kf_backoff_reset(idle); /* work is on its way: poll at once */
        kf_sleepflags_set(w->flags, 0);
        if (buf)
            return buf;
    }
}

/* Applies one message (or each record of a batch); returns 1 when the gateway says shut down. */
static int apply_message(struct worker *w, void *buf, int len, int failed_start)
{
    struct kf_wire_msg m;
    if (kf_wire_unpack(buf, (size_t)len, &m)) {
        kf_error("malformed %d-byte message from the gateway; ignored", len);
        return 0;
    }
    if (m.hdr.type != KF_WIRE_BATCH)
        return handle_message(w, &m, failed_start);
    int stop = 0, more;
    struct kf_wire_msg rec;
    size_t off = 0;
    while ((more = kf_wire_batch_next(&m, &off, &rec)) == 1) {
        /* Requests for a kernel with a batch entry point go together (handle_requests). */
        const struct kf_registry_kernel *k =
            rec.hdr.type == KF_WIRE_REQUEST && !failed_start
                ? kf_registry_kernel(w->registry, rec.kind, rec.hdr.kind_len)
                : NULL;
        if (k && (k->kernel->cpu_batch || k->kernel->accel_batch)) {
            struct kf_wire_msg reqs[GATHER_MAX];
            size_t n = gather_requests(&m, &off, &rec, reqs);
            handle_requests(w, k, reqs, n);
            continue;
        }
        stop |= handle_message(w, &rec, failed_start);
    }
    if (more < 0)
        kf_error("malformed record at byte %zu of a %d-byte batch from the gateway; the rest "
                 "ignored",
                 off, len);
    return stop;
}

/* Serves until the gateway says shut down (returns 0) or SIGTERM outlasts the grace (returns 1). */
static int serve(struct worker *w, int failed_start)
{
    struct kf_backoff idle;
    kf_backoff_init(&idle, 1000000);
    /* Gives freed request and reply buffers back at most once per 5 s (heap_trim.c). */
    kf_heap_trim_init(&w->trim, 5000000000u, kf_now_ns());
    /* The gateway normally says shut down within its drain timeout; past that (gateway gone or
     * stuck), leave on our own so that no rank outlives the job. */
    uint64_t grace_ns = (uint64_t)((w->cfg->drain_timeout_s + 10) * 1e9);
    for (;;) {
        int len = 0;
        void *buf = next_message(w, &idle, grace_ns, &len);
        if (!buf)
            return 1;
        kf_backoff_reset(&idle);
        int stop = apply_message(w, buf, len, failed_start);
        free(buf);
        kf_heap_trim_note(&w->trim, 1);
        if (stop)
            return 0;
    }
}

int kf_worker_run(const struct kf_worker_config *cfg, int rank, struct kf_sleepflags *flags)
{
    struct worker w = {.rank = rank,
                       .cfg = cfg,
                       .registry = kf_registry_new(),
                       .doorbell = {.fd = -1},
                       .gateway = {.fd = -1},
                       .flags = flags};
    w.variants = kf_variants_new(cfg, rank);
    w.sendq = kf_sendq_new();
    int status;
    if (!w.registry || !w.variants || !w.sendq) {
        kf_error("out of memory");
        status = 70;
        goto out;
    }
    struct sigaction sa = {.sa_handler = on_sigterm};
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    kf_backoff_setup_thread();

    int failed_start = say_hello(&w);
    /* What the SPANK plugin attached for this job (docs/spank.md), for the job log. */
    if (getenv("KFARM_ACCEL"))
        kf_info("accelerator: KFARM_ACCEL=%s KFARM_VF_BDFS=%s KFARM_ACCEL_REASON=%s",
                getenv("KFARM_ACCEL"), getenv("KFARM_VF_BDFS") ? getenv("KFARM_VF_BDFS") : "",
                getenv("KFARM_ACCEL_REASON") ? getenv("KFARM_ACCEL_REASON") : "");
    if (serve(&w, failed_start)) {
        status = 1;
    } else {
        flush_replies(&w);
        kf_info("served %lu requests (%lu failed), applied %lu broadcasts", w.served, w.failed,
                w.broadcasts);
        status = failed_start ? 3 : 0;
    }
out:
    kf_wire_batch_fini(&w.replies);
    /* Waits up to 1 s for sends in flight, so that the last replies reach the gateway. */
    kf_sendq_free(w.sendq, status == 70 ? 0 : 1);
    kf_variants_free(w.variants);
    kf_registry_free(w.registry);
    kf_doorbell_close(&w.doorbell);
    kf_doorbell_peer_close(&w.gateway);
    return status;
}
