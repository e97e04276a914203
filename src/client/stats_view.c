/* Renders the gateway's `$stats` JSON. In watch mode the screen is cleared with ANSI escapes
 * between frames (when out is a terminal) and req/s is computed from successive snapshots. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "clock.h"
#include "json_get.h"
#include "stats_view.h"

#define MAX_RANKS 4096

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
    (void)sig;
    interrupted = 1;
}

/* Sends $stats and returns the parsed reply, or NULL with a message on stderr. */
static cJSON *fetch(struct kf_client *c, int timeout_ms, long seq)
{
    char id[32];
    int n = snprintf(id, sizeof(id), "stats-%ld", seq);
    if (kf_client_send(c, id, (size_t)n, "$stats", "", 0)) {
        fprintf(stderr, "kfarm-client: cannot send $stats\n");
        return NULL;
    }
    for (;;) {
        struct kf_reply r;
        int rc = kf_client_recv(c, &r, timeout_ms);
        if (rc != 1) {
            fprintf(stderr, "kfarm-client: the gateway did not answer $stats within %d ms\n",
                    timeout_ms);
            return NULL;
        }
        if (r.id_len != (size_t)n || memcmp(r.id, id, (size_t)n)) { /* an older answer */
            kf_reply_fini(&r);
            continue;
        }
        cJSON *j = r.ok ? cJSON_ParseWithLength(r.data, r.len) : NULL;
        if (!j)
            fprintf(stderr, "kfarm-client: $stats: %s: %.*s\n",
                    r.ok ? "reply is not JSON" : "error reply", (int)r.len, (char *)r.data);
        kf_reply_fini(&r);
        return j;
    }
}

static void print_table(FILE *out, const cJSON *s, const double *prev, double dt)
{
    fprintf(out,
            "kfarm: up %.1f s, %.0f requests, %.0f broadcasts, %.0f gateway errors, %.0f "
            "waiting; latency p50 %.0f us, p99 %.0f us\n\n",
            kf_json_number(s, "uptime_s"), kf_json_number(s, "requests"),
            kf_json_number(s, "broadcasts"), kf_json_number(s, "gateway_errors"),
            kf_json_number(s, "pending"), kf_json_number(s, "latency_p50_us"),
            kf_json_number(s, "latency_p99_us"));
    fprintf(out, "%5s %10s %7s %8s %8s %10s %10s %-7s %-12s %-5s\n", "RANK", "REQUESTS", "ERRORS",
            "INFLIGHT", "REQ/S", "P50_US", "P99_US", "VARIANT", "WHY", "ACCEL");
    const cJSON *w;
    cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(s, "workers"))
    {
        int rank = (int)kf_json_number(w, "rank");
        char rate[32] = "-";
        if (prev && dt > 0 && rank > 0 && rank < MAX_RANKS && prev[rank] >= 0)
            snprintf(rate, sizeof(rate), "%.0f", (kf_json_number(w, "requests") - prev[rank]) / dt);
        fprintf(out, "%5d %10.0f %7.0f %8.0f %8s %10.1f %10.1f %-7s %-12s %-5s\n", rank,
                kf_json_number(w, "requests"), kf_json_number(w, "errors"),
                kf_json_number(w, "inflight"), rate, kf_json_number(w, "service_p50_us"),
                kf_json_number(w, "service_p99_us"), kf_json_string(w, "variant", "-"),
                kf_json_string(w, "why", "-"), kf_json_number(w, "accel_available") ? "yes" : "no");
    }
    const cJSON *clients = cJSON_GetObjectItemCaseSensitive(s, "clients");
    if (cJSON_GetArraySize(clients) > 0) {
        fprintf(out, "\n%-24s %8s %8s\n", "CLIENT", "INFLIGHT", "WAITING");
        const cJSON *c;
        cJSON_ArrayForEach(c, clients)
        {
            fprintf(out, "%-24s %8.0f %8.0f\n", kf_json_string(c, "client", "-"),
                    kf_json_number(c, "inflight"), kf_json_number(c, "waiting"));
        }
    }
}

static double mono_s(void)
{
    return (double)kf_now_ns() / 1e9;
}

int kf_stats_view_run(struct kf_client *c, const struct kf_stats_view_opts *o, FILE *out)
{
    double *prev = malloc(MAX_RANKS * sizeof(double));
    if (!prev) {
        fprintf(stderr, "kfarm-client: out of memory\n");
        return 1;
    }
    for (int i = 0; i < MAX_RANKS; i++)
        prev[i] = -1;
    struct sigaction sa = {.sa_handler = on_interrupt}, old;
    if (o->watch)
        sigaction(SIGINT, &sa, &old);
    int status = 0, tty = isatty(fileno(out));
    double t_prev = 0;
    for (long i = 0; !interrupted && (!o->watch || !o->count || i < o->count); i++) {
        if (i > 0) {
            struct timespec d = {(time_t)o->interval_s,
                                 (long)((o->interval_s - (double)(time_t)o->interval_s) * 1e9)};
            nanosleep(&d, NULL);
            if (interrupted)
                break;
        }
        cJSON *s = fetch(c, o->timeout_ms, i);
        if (!s) {
            status = 1;
            break;
        }
        double t = mono_s();
        if (o->watch && tty)
            fputs("\033[H\033[2J", out);
        print_table(out, s, i ? prev : NULL, t - t_prev);
        if (o->watch && !tty)
            fputs("\n", out); /* frames separated by a blank line when piped */
        fflush(out);
        const cJSON *w;
        cJSON_ArrayForEach(w, cJSON_GetObjectItemCaseSensitive(s, "workers"))
        {
            int rank = (int)kf_json_number(w, "rank");
            if (rank > 0 && rank < MAX_RANKS)
                prev[rank] = kf_json_number(w, "requests");
        }
        t_prev = t;
        cJSON_Delete(s);
        if (!o->watch)
            break;
    }
    if (o->watch)
        sigaction(SIGINT, &old, NULL);
    free(prev);
    return status;
}
