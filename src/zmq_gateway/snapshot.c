/* Builds the gateway's self-report. Clients are told apart by their ROUTER routing id (bind mode);
 * in connect mode the gateway has exactly one peer, the EvKit client that bound. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "json_get.h"
#include "snapshot.h"

struct client_count {
    const unsigned char *route;
    size_t route_len;
    long running, waiting;
};

struct client_table {
    struct client_count *c;
    size_t n, cap;
    int oom;
    int bind_mode; /* in connect mode every request is the one peer's, whatever its route */
};

static void count_client(struct kf_request *r, void *arg)
{
    struct client_table *t = arg;
    size_t i;
    for (i = 0; i < t->n; i++)
        if (!t->bind_mode ||
            (t->c[i].route_len == r->route_len && !memcmp(t->c[i].route, r->route, r->route_len)))
            break;
    if (i == t->n) {
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 16;
            struct client_count *c = realloc(t->c, cap * sizeof(*c));
            if (!c) {
                t->oom = 1;
                return;
            }
            t->c = c;
            t->cap = cap;
        }
        t->c[t->n++] = (struct client_count){r->route, r->route_len, 0, 0};
    }
    if (r->worker)
        t->c[i].running++;
    else
        t->c[i].waiting++;
}

static void client_name(const struct client_count *c, int bind_mode, char *out, size_t len)
{
    if (!bind_mode) {
        snprintf(out, len, "evkit");
        return;
    }
    size_t o = 0;
    for (size_t i = 0; i < c->route_len && o + 3 < len; i++)
        o += (size_t)snprintf(out + o, len - o, "%02x", c->route[i]);
    out[o] = '\0';
}

static int add_clients(cJSON *root, struct kf_inflight *inflight, int bind_mode)
{
    struct client_table t = {.bind_mode = bind_mode};
    kf_inflight_foreach(inflight, count_client, &t);
    cJSON *arr = cJSON_AddArrayToObject(root, "clients");
    for (size_t i = 0; arr && !t.oom && i < t.n; i++) {
        char name[2 * 256 + 1];
        client_name(&t.c[i], bind_mode, name, sizeof(name));
        cJSON *o = cJSON_CreateObject();
        if (!o || !cJSON_AddStringToObject(o, "client", name) ||
            !cJSON_AddNumberToObject(o, "inflight", (double)(t.c[i].running + t.c[i].waiting)) ||
            !cJSON_AddNumberToObject(o, "waiting", (double)t.c[i].waiting)) {
            cJSON_Delete(o);
            t.oom = 1;
            break;
        }
        cJSON_AddItemToArray(arr, o);
    }
    free(t.c);
    return arr && !t.oom ? 0 : -1;
}

char *kf_snapshot_json(const struct kf_stats *s, const struct kf_dispatch *d,
                       struct kf_inflight *inflight, int bind_mode, size_t held_bytes)
{
    cJSON *root = kf_stats_to_cjson(s, d, kf_inflight_pending(inflight));
    char *out = NULL;
    if (root && cJSON_AddNumberToObject(root, "pending_bytes", (double)held_bytes) &&
        add_clients(root, inflight, bind_mode) == 0)
        out = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return out;
}

/* ---- Prometheus text ---- */

struct buf {
    char *p;
    size_t len, cap;
    int oom;
};

static void put(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void put(struct buf *b, const char *fmt, ...)
{
    for (int tries = 0; tries < 2 && !b->oom; tries++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(b->p ? b->p + b->len : NULL, b->p ? b->cap - b->len : 0, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if (b->p && b->len + (size_t)n < b->cap) {
            b->len += (size_t)n;
            return;
        }
        size_t cap = (b->cap + (size_t)n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
}

static void family(struct buf *b, const char *name, const char *type, const char *help)
{
    put(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void put_gateway_families(struct buf *b, const cJSON *root)
{
    family(b, "kfarm_uptime_seconds", "gauge", "Seconds since the gateway started.");
    put(b, "kfarm_uptime_seconds %.3f\n", kf_json_number(root, "uptime_s"));
    family(b, "kfarm_requests_total", "counter", "Requests accepted by the gateway.");
    put(b, "kfarm_requests_total %.0f\n", kf_json_number(root, "requests"));
    family(b, "kfarm_broadcasts_total", "counter", "Broadcasts forwarded to the workers.");
    put(b, "kfarm_broadcasts_total %.0f\n", kf_json_number(root, "broadcasts"));
    family(b, "kfarm_gateway_errors_total", "counter",
           "Requests the gateway answered with an error itself (bad frames, limits, shutdown).");
    put(b, "kfarm_gateway_errors_total %.0f\n", kf_json_number(root, "gateway_errors"));
    family(b, "kfarm_pending_requests", "gauge", "Requests waiting for a free worker slot.");
    put(b, "kfarm_pending_requests %.0f\n", kf_json_number(root, "pending"));
    family(b, "kfarm_pending_bytes", "gauge",
           "Bytes of requests and broadcasts the gateway holds (bounded by --max-pending-bytes).");
    put(b, "kfarm_pending_bytes %.0f\n", kf_json_number(root, "pending_bytes"));
    family(b, "kfarm_latency_seconds", "gauge",
           "End-to-end request latency seen by the gateway, by quantile.");
    put(b, "kfarm_latency_seconds{quantile=\"0.5\"} %g\n",
        kf_json_number(root, "latency_p50_us") / 1e6);
    put(b, "kfarm_latency_seconds{quantile=\"0.99\"} %g\n",
        kf_json_number(root, "latency_p99_us") / 1e6);
}

static void put_worker_families(struct buf *b, const cJSON *workers)
{
    const cJSON *w;
    family(b, "kfarm_worker_requests_total", "counter", "Replies from each worker rank.");
    cJSON_ArrayForEach(w, workers)
    {
        put(b, "kfarm_worker_requests_total{rank=\"%.0f\"} %.0f\n", kf_json_number(w, "rank"),
            kf_json_number(w, "requests"));
    }
    family(b, "kfarm_worker_errors_total", "counter", "Error replies from each worker rank.");
    cJSON_ArrayForEach(w, workers)
    {
        put(b, "kfarm_worker_errors_total{rank=\"%.0f\"} %.0f\n", kf_json_number(w, "rank"),
            kf_json_number(w, "errors"));
    }
    family(b, "kfarm_worker_inflight", "gauge", "Requests outstanding at each worker rank.");
    cJSON_ArrayForEach(w, workers)
    {
        put(b, "kfarm_worker_inflight{rank=\"%.0f\"} %.0f\n", kf_json_number(w, "rank"),
            kf_json_number(w, "inflight"));
    }
    family(b, "kfarm_worker_service_seconds", "gauge",
           "Kernel service time on each worker rank, by quantile.");
    cJSON_ArrayForEach(w, workers)
    {
        put(b, "kfarm_worker_service_seconds{rank=\"%.0f\",quantile=\"0.5\"} %g\n",
            kf_json_number(w, "rank"), kf_json_number(w, "service_p50_us") / 1e6);
        put(b, "kfarm_worker_service_seconds{rank=\"%.0f\",quantile=\"0.99\"} %g\n",
            kf_json_number(w, "rank"), kf_json_number(w, "service_p99_us") / 1e6);
    }
    family(b, "kfarm_worker_variant_info", "gauge",
           "The variant each worker rank used last and why (value is always 1).");
    cJSON_ArrayForEach(w, workers)
    {
        put(b,
            "kfarm_worker_variant_info{rank=\"%.0f\",variant=\"%s\","
            "why=\"%s\"} 1\n",
            kf_json_number(w, "rank"), kf_json_string(w, "variant", ""),
            kf_json_string(w, "why", ""));
    }
    family(b, "kfarm_worker_accel_available", "gauge",
           "1 when the worker's last decision saw its accelerator available.");
    cJSON_ArrayForEach(w, workers)
    {
        put(b, "kfarm_worker_accel_available{rank=\"%.0f\"} %.0f\n", kf_json_number(w, "rank"),
            kf_json_number(w, "accel_available"));
    }
}

static void put_client_families(struct buf *b, const cJSON *clients)
{
    const cJSON *c;
    family(b, "kfarm_client_inflight", "gauge",
           "Requests accepted and not yet answered, per client (ROUTER id in hex, or evkit).");
    cJSON_ArrayForEach(c, clients)
    {
        put(b, "kfarm_client_inflight{client=\"%s\"} %.0f\n", kf_json_string(c, "client", ""),
            kf_json_number(c, "inflight"));
    }
}

char *kf_snapshot_prometheus(const char *json)
{
    cJSON *root = cJSON_Parse(json);
    const cJSON *workers = cJSON_GetObjectItemCaseSensitive(root, "workers");
    const cJSON *clients = cJSON_GetObjectItemCaseSensitive(root, "clients");
    if (!cJSON_IsArray(workers)) {
        cJSON_Delete(root);
        return NULL;
    }
    struct buf b = {0};
    put_gateway_families(&b, root);
    put_worker_families(&b, workers);
    put_client_families(&b, clients);
    cJSON_Delete(root);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}
