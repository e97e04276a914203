/* `kfarm-client`: send requests and broadcasts to a kfarm job from the shell, check every reply,
 * and print a summary (count, errors, req/s, latency percentiles). Exits non-zero on any error
 * reply, unknown or duplicated reply, or time-out. */
#include <errno.h>
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kfarm/client.h>

#include "stats_view.h"

struct broadcast {
    const char *kind;
    const char *data;
};

struct cli {
    const char *endpoint, *broadcast_endpoint, *endpoint_file;
    int bind;
    const char *kind;
    char *data;
    size_t data_len;
    long n;
    long inflight;
    double timeout_s;
    double duration_s; /* > 0: stop sending after this long, then wait for the replies */
    struct broadcast broadcasts[64];
    int n_broadcasts;
    int ordered_broadcasts;
    int subscribers;
    int json, print, quiet, verify_echo;
    int stats;                  /* --stats / --watch: show the gateway's $stats table */
    struct kf_stats_view_opts view;
};

static void usage(FILE *out)
{
    fputs("Usage: kfarm-client [options]\n"
          "Send requests and broadcasts to a kfarm job (or any EvKit worker) and check replies.\n"
          "\n"
          "Where the job is (one of):\n"
          "  --connect tcp://H:P             the gateway bound (kfarm --bind): connect to it\n"
          "  --broadcast-connect tcp://H:P   ... and its broadcast socket\n"
          "  --endpoint-file FILE            read both from kfarm's --endpoint-file (waits for it)\n"
          "  --bind tcp://*:P                EvKit topology: bind, the gateway connects\n"
          "  --broadcast-bind tcp://*:P      ... and bind the broadcast socket\n"
          "\n"
          "What to send:\n"
          "  --kind KIND          request kind (default echo)\n"
          "  --data STRING        request payload (default empty)\n"
          "  --data-file FILE     request payload from a file\n"
          "  -n N                 number of requests (default 1; 0 sends only broadcasts)\n"
          "  --inflight K         requests outstanding at once (default 1)\n"
          "  --duration S         stop sending after S seconds (then -n is an upper bound)\n"
          "  --broadcast KIND DATA  send a broadcast before the requests; repeatable\n"
          "  --ordered            send broadcasts on the request socket as $broadcast:KIND, so\n"
          "                       they are ordered with the requests and acknowledged\n"
          "  --subscribers N      broadcasts wait for N subscribed gateways (default 1)\n"
          "  --verify-echo        payload i is DATA#i and its reply must be exactly that\n"
          "\n"
          "Output:\n"
          "  --timeout S          give up when no reply comes for S seconds (default 30)\n"
          "  --print              print each reply: id, ok|error, payload\n"
          "  --json               print the summary as JSON\n"
          "  --quiet              no progress bar, no summary unless --json\n"
          "\n"
          "Watching the job (instead of sending requests):\n"
          "  --stats              print the gateway's per-rank and per-client table once\n"
          "  --watch              refresh the table like top (Ctrl-C ends)\n"
          "  --interval S         seconds between refreshes (default 1)\n"
          "  --count N            stop after N refreshes (default: until interrupted)\n"
          "  -h, --help, --version\n",
          out);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0)
            break;
    }
    fclose(f);
    *len = n;
    return buf;
}

static int parse_args(struct cli *c, int argc, char **argv)
{
    enum { O_CONNECT = 256, O_BCONNECT, O_BIND, O_BBIND, O_EPFILE, O_KIND, O_DATA, O_DATAFILE,
           O_INFLIGHT, O_BROADCAST, O_ORDERED, O_SUBS, O_VERIFY, O_TIMEOUT, O_PRINT, O_JSON,
           O_QUIET, O_VERSION, O_DURATION, O_STATS, O_WATCH, O_INTERVAL, O_COUNT };
    static const struct option opts[] = {
        {"connect", 1, 0, O_CONNECT}, {"broadcast-connect", 1, 0, O_BCONNECT},
        {"bind", 1, 0, O_BIND}, {"broadcast-bind", 1, 0, O_BBIND},
        {"endpoint-file", 1, 0, O_EPFILE}, {"kind", 1, 0, O_KIND}, {"data", 1, 0, O_DATA},
        {"data-file", 1, 0, O_DATAFILE}, {"inflight", 1, 0, O_INFLIGHT},
        {"broadcast", 1, 0, O_BROADCAST}, {"ordered", 0, 0, O_ORDERED},
        {"subscribers", 1, 0, O_SUBS}, {"verify-echo", 0, 0, O_VERIFY},
        {"timeout", 1, 0, O_TIMEOUT}, {"print", 0, 0, O_PRINT}, {"json", 0, 0, O_JSON},
        {"quiet", 0, 0, O_QUIET}, {"help", 0, 0, 'h'}, {"version", 0, 0, O_VERSION},
        {"duration", 1, 0, O_DURATION}, {"stats", 0, 0, O_STATS}, {"watch", 0, 0, O_WATCH},
        {"interval", 1, 0, O_INTERVAL}, {"count", 1, 0, O_COUNT},
        {0, 0, 0, 0}};
    c->kind = "echo";
    c->n = 1;
    c->inflight = 1;
    c->timeout_s = 30;
    c->subscribers = 1;
    c->view.interval_s = 1;
    opterr = 0;
    int o;
    char *end;
    while ((o = getopt_long(argc, argv, ":n:h", opts, NULL)) != -1) {
        switch (o) {
        case O_CONNECT: c->endpoint = optarg; break;
        case O_BCONNECT: c->broadcast_endpoint = optarg; break;
        case O_BIND: c->endpoint = optarg; c->bind = 1; break;
        case O_BBIND: c->broadcast_endpoint = optarg; c->bind = 1; break;
        case O_EPFILE: c->endpoint_file = optarg; break;
        case O_KIND: c->kind = optarg; break;
        case O_DATA:
            free(c->data);
            c->data = strdup(optarg);
            c->data_len = strlen(optarg);
            break;
        case O_DATAFILE:
            free(c->data);
            c->data = read_file(optarg, &c->data_len);
            if (!c->data) {
                fprintf(stderr, "kfarm-client: --data-file %s: %s\n", optarg, strerror(errno));
                return -1;
            }
            break;
        case 'n':
        case O_INFLIGHT: {
            long v = strtol(optarg, &end, 10);
            if (*end || end == optarg || v < (o == 'n' ? 0 : 1) || v > 100000000) {
                fprintf(stderr, "kfarm-client: %s %s: expected a %s integer\n",
                        o == 'n' ? "-n" : "--inflight", optarg,
                        o == 'n' ? "non-negative" : "positive");
                return -1;
            }
            *(o == 'n' ? &c->n : &c->inflight) = v;
            break;
        }
        case O_BROADCAST:
            if (optind >= argc || c->n_broadcasts == 64) {
                fprintf(stderr, "kfarm-client: --broadcast needs KIND and DATA\n");
                return -1;
            }
            c->broadcasts[c->n_broadcasts++] = (struct broadcast){optarg, argv[optind++]};
            break;
        case O_ORDERED: c->ordered_broadcasts = 1; break;
        case O_SUBS: c->subscribers = atoi(optarg); break;
        case O_VERIFY: c->verify_echo = 1; break;
        case O_TIMEOUT:
            c->timeout_s = strtod(optarg, &end);
            if (*end || end == optarg || !(c->timeout_s > 0)) {
                fprintf(stderr, "kfarm-client: --timeout %s: expected seconds > 0\n", optarg);
                return -1;
            }
            break;
        case O_DURATION:
            c->duration_s = strtod(optarg, &end);
            if (*end || end == optarg || !(c->duration_s > 0)) {
                fprintf(stderr, "kfarm-client: --duration %s: expected seconds > 0\n", optarg);
                return -1;
            }
            break;
        case O_STATS: c->stats = 1; break;
        case O_WATCH: c->stats = 1; c->view.watch = 1; break;
        case O_INTERVAL:
            c->view.interval_s = strtod(optarg, &end);
            if (*end || end == optarg || !(c->view.interval_s > 0) || c->view.interval_s > 3600) {
                fprintf(stderr, "kfarm-client: --interval %s: expected seconds > 0\n", optarg);
                return -1;
            }
            break;
        case O_COUNT:
            c->view.count = strtol(optarg, &end, 10);
            if (*end || end == optarg || c->view.count < 1) {
                fprintf(stderr, "kfarm-client: --count %s: expected a positive integer\n", optarg);
                return -1;
            }
            break;
        case O_PRINT: c->print = 1; break;
        case O_JSON: c->json = 1; break;
        case O_QUIET: c->quiet = 1; break;
        case 'h': usage(stdout); exit(0);
        case O_VERSION: printf("kfarm-client %s\n", KFARM_VERSION); exit(0);
        case ':':
            fprintf(stderr, "kfarm-client: %s needs a value; see --help\n", argv[optind - 1]);
            return -1;
        default:
            fprintf(stderr, "kfarm-client: unknown option %s; see --help\n", argv[optind - 1]);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "kfarm-client: unexpected argument %s; see --help\n", argv[optind]);
        return -1;
    }
    if (!c->endpoint && !c->endpoint_file) {
        fprintf(stderr, "kfarm-client: say where the job is: --connect, --bind or "
                        "--endpoint-file; see --help\n");
        return -1;
    }
    return 0;
}

static void progress(const struct cli *c, long done, int force)
{
    static double last;
    double t = now_s();
    if (c->quiet || !isatty(2) || c->n == 0 || (!force && t - last < 0.1))
        return;
    last = t;
    int width = 40, filled = (int)(width * done / c->n);
    fprintf(stderr, "\r[%.*s%*s] %ld/%ld", filled, "########################################",
            width - filled, "", done, c->n);
    if (force)
        fputc('\n', stderr);
}

static void print_reply(const struct kf_reply *r)
{
    printf("%.*s %s %.*s\n", (int)r->id_len, (const char *)r->id, r->ok ? "ok" : "error",
           (int)r->len, (const char *)r->data);
}

/* Sends the broadcasts, either on the PUB socket or ordered on the request socket. */
static int send_broadcasts(const struct cli *c, struct kf_client *cl, int timeout_ms)
{
    if (!c->n_broadcasts)
        return 0;
    if (c->ordered_broadcasts) {
        for (int i = 0; i < c->n_broadcasts; i++) {
            char kind[512], id[32];
            snprintf(kind, sizeof(kind), "$broadcast:%s", c->broadcasts[i].kind);
            snprintf(id, sizeof(id), "b%d", i);
            kf_client_send(cl, id, strlen(id), kind, c->broadcasts[i].data,
                           strlen(c->broadcasts[i].data));
            struct kf_reply r;
            if (kf_client_recv(cl, &r, timeout_ms) != 1) {
                fprintf(stderr, "kfarm-client: no acknowledgement for broadcast %s\n", kind);
                return -1;
            }
            int ok = r.ok;
            if (!ok)
                fprintf(stderr, "kfarm-client: broadcast %s refused: %.*s\n", kind, (int)r.len,
                        (char *)r.data);
            kf_reply_fini(&r);
            if (!ok)
                return -1;
        }
        return 0;
    }
    if (kf_client_wait_subscribers(cl, c->subscribers, timeout_ms)) {
        fprintf(stderr, "kfarm-client: no gateway subscribed to the broadcast socket within "
                        "the time-out; is the job running with a broadcast endpoint?\n");
        return -1;
    }
    for (int i = 0; i < c->n_broadcasts; i++) {
        if (kf_client_broadcast(cl, c->broadcasts[i].kind, c->broadcasts[i].data,
                                strlen(c->broadcasts[i].data))) {
            fprintf(stderr, "kfarm-client: broadcast failed: %s\n", strerror(errno));
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    struct cli c = {0};
    if (parse_args(&c, argc, argv)) {
        free(c.data);
        return 2;
    }
    char ep[512], bep[512], err[1024];
    int timeout_ms = (int)(c.timeout_s * 1000);
    if (c.endpoint_file) {
        if (kf_client_read_endpoint_file(c.endpoint_file, timeout_ms, ep, sizeof(ep), bep,
                                         sizeof(bep), err, sizeof(err))) {
            fprintf(stderr, "kfarm-client: %s\n", err);
            free(c.data);
            return 2;
        }
        c.endpoint = ep;
        if (bep[0] && !c.broadcast_endpoint)
            c.broadcast_endpoint = bep;
    }
    struct kf_client_opts o = {c.endpoint, c.broadcast_endpoint, c.bind};
    struct kf_client *cl = kf_client_new(&o, err, sizeof(err));
    if (!cl) {
        fprintf(stderr, "kfarm-client: %s\n", err);
        free(c.data);
        return 2;
    }
    if (c.stats) {
        c.view.timeout_ms = timeout_ms;
        int rc = kf_stats_view_run(cl, &c.view, stdout);
        kf_client_free(cl);
        free(c.data);
        return rc;
    }
    int status = 0;
    if (send_broadcasts(&c, cl, timeout_ms))
        status = 1;

    double *sent_at = calloc((size_t)c.n + 1, sizeof(double));
    double *lat = calloc((size_t)c.n + 1, sizeof(double));
    unsigned char *answered = calloc((size_t)c.n + 1, 1);
    size_t cap = c.data_len + 32;
    char *payload = malloc(cap);
    if (!sent_at || !lat || !answered || !payload) {
        fprintf(stderr, "kfarm-client: out of memory for %ld requests\n", c.n);
        free(sent_at);
        free(lat);
        free(answered);
        free(payload);
        return 2;
    }
    long next = 0, done = 0, errors = 0, bad = 0, timeouts = 0;
    double t0 = now_s();
    int sending = 1;
    while (status == 0 && done < (sending ? c.n : next)) {
        if (c.duration_s > 0 && now_s() - t0 > c.duration_s)
            sending = 0;
        while (sending && next < c.n && next - done < c.inflight) {
            char id[32];
            int idlen = snprintf(id, sizeof(id), "%ld", next);
            size_t plen = c.data_len;
            if (c.data_len)
                memcpy(payload, c.data, c.data_len);
            if (c.verify_echo)
                plen += (size_t)snprintf(payload + plen, 32, "#%ld", next);
            sent_at[next] = now_s();
            if (kf_client_send(cl, id, (size_t)idlen, c.kind, payload, plen)) {
                fprintf(stderr, "kfarm-client: send failed: %s\n", strerror(errno));
                status = 1;
                break;
            }
            next++;
        }
        struct kf_reply r;
        int rc = kf_client_recv(cl, &r, timeout_ms);
        if (rc == 0) {
            timeouts = next - done;
            fprintf(stderr, "kfarm-client: no reply for %.0f s; %ld requests unanswered\n",
                    c.timeout_s, timeouts);
            status = 1;
            break;
        }
        if (rc < 0 && errno == ECONNRESET) {
            timeouts = next - done;
            fprintf(stderr,
                    "kfarm-client: the connection to the gateway was lost (its job ended, was "
                    "cancelled or lost a node); %ld requests unanswered: resend them once the job "
                    "is back (a requeued job rewrites its endpoint file)\n",
                    timeouts);
            status = 1;
            break;
        }
        if (rc < 0) {
            fprintf(stderr, "kfarm-client: receive failed: %s\n", strerror(errno));
            status = 1;
            break;
        }
        char *end;
        long i = strtol(r.id, &end, 10);
        if (*end || end == r.id || i < 0 || i >= next || answered[i]) {
            fprintf(stderr, "kfarm-client: reply with %s id '%.*s'\n",
                    (i >= 0 && i < next && !*end) ? "duplicated" : "unknown", (int)r.id_len,
                    (char *)r.id);
            bad++;
        } else {
            answered[i] = 1;
            lat[done] = now_s() - sent_at[i];
            done++;
            if (!r.ok) {
                errors++;
                if (!c.print && errors <= 5)
                    fprintf(stderr, "kfarm-client: request %ld failed: %.*s\n", i, (int)r.len,
                            (char *)r.data);
            } else if (c.verify_echo) {
                int n = snprintf(payload, cap, "%.*s#%ld", (int)c.data_len, c.data ? c.data : "", i);
                if ((size_t)n != r.len || memcmp(payload, r.data, r.len)) {
                    fprintf(stderr, "kfarm-client: reply %ld does not match its request\n", i);
                    bad++;
                }
            }
        }
        if (c.print)
            print_reply(&r);
        kf_reply_fini(&r);
        progress(&c, done, 0);
    }
    double elapsed = now_s() - t0;
    progress(&c, done, 1);
    qsort(lat, (size_t)done, sizeof(double), cmp_double);
    double p50 = done ? lat[(size_t)(0.50 * (double)(done - 1))] * 1e6 : 0;
    double p99 = done ? lat[(size_t)(0.99 * (double)(done - 1))] * 1e6 : 0;
    double rate = elapsed > 0 ? (double)done / elapsed : 0;
    if (c.json)
        printf("{\"count\": %ld, \"errors\": %ld, \"bad_replies\": %ld, \"timeouts\": %ld, "
               "\"seconds\": %.3f, \"req_per_s\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f}\n",
               done, errors, bad, timeouts, elapsed, rate, p50, p99);
    else if (!c.quiet && c.n)
        printf("%ld requests, %ld errors, %.0f req/s, p50 %.0f us, p99 %.0f us\n", done, errors,
               rate, p50, p99);
    if (errors || bad || timeouts)
        status = 1;
    free(sent_at);
    free(lat);
    free(answered);
    free(payload);
    free(c.data);
    kf_client_free(cl);
    return status;
}
