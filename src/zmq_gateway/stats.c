/* Gateway counters with log-scale histograms, so percentiles cost O(1) memory per rank. */
#include <math.h>
#include <stdlib.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "clock.h"
#include "log.h"
#include "stats.h"
#include "wire.h"

/* Bucket b holds durations in [2^(b/4), 2^((b+1)/4)) ns: 4 buckets per octave, ~19% wide. */
#define BUCKETS 256

struct histogram {
    uint64_t count;
    uint32_t bucket[BUCKETS];
};

struct rank_stats {
    uint64_t requests, errors;
    uint64_t timed_out, late_replies; /* --request-timeout: answered by the gateway; dropped */
    int variant, reason, accel;
    struct histogram service;
};

struct kf_stats {
    int n_workers;
    uint64_t started_ns;
    uint64_t requests, broadcasts, gateway_errors;
    uint64_t replies_dropped_full, replies_dropped_gone; /* client not reading; client gone */
    struct histogram latency;
    struct rank_stats *ranks;
};

static void hist_add(struct histogram *h, uint64_t ns)
{
    int b = ns ? (int)(log2((double)ns) * 4) : 0;
    if (b >= BUCKETS)
        b = BUCKETS - 1;
    if (b < 0)
        b = 0;
    h->bucket[b]++;
    h->count++;
}

/* Upper bound of the bucket holding the q-quantile, in ns; 0 when empty. */
static double hist_quantile(const struct histogram *h, double q)
{
    if (!h->count)
        return 0;
    uint64_t want = (uint64_t)ceil(q * (double)h->count), seen = 0;
    for (int b = 0; b < BUCKETS; b++) {
        seen += h->bucket[b];
        if (seen >= want && want)
            return pow(2.0, (b + 1) / 4.0);
    }
    return pow(2.0, BUCKETS / 4.0);
}

struct kf_stats *kf_stats_new(int n_workers)
{
    struct kf_stats *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->ranks = calloc((size_t)n_workers + 1, sizeof(*s->ranks));
    if (!s->ranks) {
        free(s);
        return NULL;
    }
    s->n_workers = n_workers;
    s->started_ns = kf_now_ns();
    return s;
}

void kf_stats_free(struct kf_stats *s)
{
    if (s)
        free(s->ranks);
    free(s);
}

void kf_stats_request(struct kf_stats *s)
{
    s->requests++;
}

void kf_stats_broadcast(struct kf_stats *s)
{
    s->broadcasts++;
}

void kf_stats_client_error(struct kf_stats *s)
{
    s->gateway_errors++;
}

void kf_stats_reply(struct kf_stats *s, int rank, const struct kf_wire_hdr *reply,
                    uint64_t latency_ns)
{
    struct rank_stats *r = &s->ranks[rank];
    uint64_t service_ns = reply->service_ns;
    r->requests++;
    if (reply->status != KF_WIRE_OK)
        r->errors++;
    if (reply->variant) {
        r->variant = reply->variant;
        r->reason = reply->reason;
        r->accel = reply->accel;
    }
    hist_add(&r->service, service_ns);
    hist_add(&s->latency, latency_ns);
}

void kf_stats_timed_out(struct kf_stats *s, int rank)
{
    s->ranks[rank].timed_out++;
    s->gateway_errors++;
}

void kf_stats_late_reply(struct kf_stats *s, int rank)
{
    s->ranks[rank].late_replies++;
}

void kf_stats_reply_dropped(struct kf_stats *s, int queue_full)
{
    if (queue_full) {
        if (s->replies_dropped_full++ == 0)
            kf_warn("a client does not read its replies: more than --max-client-replies wait "
                    "for it; its later replies are dropped (counted in $stats replies_dropped)");
    } else {
        s->replies_dropped_gone++;
    }
}

static double uptime_s(const struct kf_stats *s)
{
    return (double)(kf_now_ns() - s->started_ns) / 1e9;
}

static const char *variant_name(int v)
{
    return v == KF_VARIANT_ACCEL ? "accel" : v == KF_VARIANT_CPU ? "cpu" : "none";
}

cJSON *kf_stats_to_cjson(const struct kf_stats *s, const struct kf_dispatch *d, size_t pending)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return NULL;
    cJSON_AddNumberToObject(root, "uptime_s", uptime_s(s));
    cJSON_AddNumberToObject(root, "requests", (double)s->requests);
    cJSON_AddNumberToObject(root, "broadcasts", (double)s->broadcasts);
    cJSON_AddNumberToObject(root, "gateway_errors", (double)s->gateway_errors);
    cJSON_AddNumberToObject(root, "pending", (double)pending);
    cJSON_AddNumberToObject(root, "replies_dropped", (double)s->replies_dropped_full);
    cJSON_AddNumberToObject(root, "replies_to_gone_clients", (double)s->replies_dropped_gone);
    cJSON_AddNumberToObject(root, "latency_p50_us", hist_quantile(&s->latency, 0.5) / 1e3);
    cJSON_AddNumberToObject(root, "latency_p99_us", hist_quantile(&s->latency, 0.99) / 1e3);
    cJSON *ranks = cJSON_AddArrayToObject(root, "workers");
    for (int i = 1; ranks && i <= s->n_workers; i++) {
        const struct rank_stats *r = &s->ranks[i];
        cJSON *o = cJSON_CreateObject();
        if (!o)
            break;
        cJSON_AddNumberToObject(o, "rank", i);
        cJSON_AddNumberToObject(o, "requests", (double)r->requests);
        cJSON_AddNumberToObject(o, "errors", (double)r->errors);
        cJSON_AddNumberToObject(o, "inflight", kf_dispatch_outstanding(d, i));
        cJSON_AddBoolToObject(o, "suspect", kf_dispatch_suspect(d, i));
        cJSON_AddNumberToObject(o, "timed_out", (double)r->timed_out);
        cJSON_AddNumberToObject(o, "late_replies", (double)r->late_replies);
        cJSON_AddNumberToObject(o, "service_p50_us", hist_quantile(&r->service, 0.5) / 1e3);
        cJSON_AddNumberToObject(o, "service_p99_us", hist_quantile(&r->service, 0.99) / 1e3);
        cJSON_AddStringToObject(o, "variant", variant_name(r->variant));
        cJSON_AddStringToObject(o, "why", kf_variant_reason_name(r->reason));
        cJSON_AddBoolToObject(o, "accel_available", r->accel);
        cJSON_AddItemToArray(ranks, o);
    }
    return root;
}

char *kf_stats_json(const struct kf_stats *s, const struct kf_dispatch *d, size_t pending)
{
    cJSON *root = kf_stats_to_cjson(s, d, pending);
    char *out = root ? cJSON_PrintUnformatted(root) : NULL;
    cJSON_Delete(root);
    return out;
}

void kf_stats_log(const struct kf_stats *s)
{
    kf_info("served %llu requests, %llu broadcasts, %llu rejected by the gateway in %.1f s",
            (unsigned long long)s->requests, (unsigned long long)s->broadcasts,
            (unsigned long long)s->gateway_errors, uptime_s(s));
    for (int i = 1; i <= s->n_workers; i++)
        kf_debug("rank %d: %llu requests, %llu errors, service p50 %.1f us", i,
                 (unsigned long long)s->ranks[i].requests, (unsigned long long)s->ranks[i].errors,
                 hist_quantile(&s->ranks[i].service, 0.5) / 1e3);
}
