/* `kfarm-client`: send requests and broadcasts to a kfarm job from the shell, check every reply,
 * and print a summary (count, errors, req/s, latency percentiles). Exits non-zero on any error
 * reply, unknown or duplicated reply, or time-out. */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <kfarm/client.h>

#include "clock.h"
#include "errbuf.h"
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
    long subscribers;
    double timeout_s;
    double duration_s; /* > 0: stop sending after this long, then wait for the replies */
    struct broadcast broadcasts[64];
    int n_broadcasts;
    int ordered_broadcasts;
    int json, print, quiet, verify_echo;
    int stats; /* --stats / --watch: show the gateway's $stats table */
    int help, version;
    struct kf_stats_view_opts view;
};

static void usage(FILE *out)
{
    fputs(
        "Usage: kfarm-client [options]\n"
        "Send requests and broadcasts to a kfarm job (or any EvKit worker) and check replies.\n"
        "\n"
        "Where the job is (one of):\n"
        "  --connect tcp://H:P             the gateway bound (kfarm --bind): connect to it\n"
        "                                  (A,B,...: to each; requests spread over them)\n"
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
        "  --json               print the summary (with --stats: the gateway's $stats) as JSON\n"
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
    return (double)kf_now_ns() / 1e9;
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

/* One option of the command line: where its value goes (offset into struct cli) and its limits. */
struct cli_rule;
typedef int (*cli_apply_fn)(struct cli *c, const struct cli_rule *r, const char *arg, char *err,
                            size_t errlen);
struct cli_rule {
    const char *name; /* long name, or NULL for -n */
    int has_arg;
    cli_apply_fn apply;
    size_t offset;
    double min, max;
};

#define AT(field)         offsetof(struct cli, field)
#define FIELD(c, r, type) ((type *)((char *)(c) + (r)->offset))

static const char *label(const struct cli_rule *r)
{
    return r->name ? r->name : "n";
}

static int set_string(struct cli *c, const struct cli_rule *r, const char *arg, char *err,
                      size_t errlen)
{
    (void)err, (void)errlen;
    *FIELD(c, r, const char *) = arg;
    return 0;
}

/* --bind and --broadcast-bind: the EvKit topology, this client binds. */
static int set_bound(struct cli *c, const struct cli_rule *r, const char *arg, char *err,
                     size_t errlen)
{
    c->bind = 1;
    return set_string(c, r, arg, err, errlen);
}

static int set_flag(struct cli *c, const struct cli_rule *r, const char *arg, char *err,
                    size_t errlen)
{
    (void)arg, (void)err, (void)errlen;
    *FIELD(c, r, int) = 1;
    return 0;
}

static int set_watch(struct cli *c, const struct cli_rule *r, const char *arg, char *err,
                     size_t errlen)
{
    (void)r, (void)arg, (void)err, (void)errlen;
    c->stats = 1;
    c->view.watch = 1;
    return 0;
}

static int set_long(struct cli *c, const struct cli_rule *r, const char *arg, char *err,
                    size_t errlen)
{
    char *end;
    errno = 0;
    long v = strtol(arg, &end, 10);
    if (errno || *end || end == arg || v < (long)r->min || v > (long)r->max)
        return kf_errf(err, errlen, -EINVAL, "%s%s %s: expected a %s integer", r->name ? "--" : "-",
                       label(r), arg, r->min > 0 ? "positive" : "non-negative");
    *FIELD(c, r, long) = v;
    return 0;
}

static int set_seconds(struct cli *c, const struct cli_rule *r, const char *arg, char *err,
                       size_t errlen)
{
    char *end;
    double v = strtod(arg, &end);
    if (*end || end == arg || !(v > 0) || v > r->max)
        return kf_errf(err, errlen, -EINVAL, "--%s %s: expected seconds > 0", r->name, arg);
    memcpy((char *)c + r->offset, &v, sizeof(v)); /* a double field at r->offset */
    return 0;
}

static int set_data(struct cli *c, const struct cli_rule *r, const char *arg, char *err,
                    size_t errlen)
{
    (void)r;
    free(c->data);
    c->data = strdup(arg);
    c->data_len = strlen(arg);
    return c->data ? 0 : kf_errf(err, errlen, -ENOMEM, "out of memory");
}

static int set_data_file(struct cli *c, const struct cli_rule *r, const char *arg, char *err,
                         size_t errlen)
{
    free(c->data);
    c->data = read_file(arg, &c->data_len);
    if (!c->data)
        return kf_errf(err, errlen, -errno, "--%s %s: %s", r->name, arg, strerror(errno));
    return 0;
}

#define REQ  required_argument
#define NONE no_argument
static const struct cli_rule rules[] = {
    {"connect", REQ, set_string, AT(endpoint), 0, 0},
    {"broadcast-connect", REQ, set_string, AT(broadcast_endpoint), 0, 0},
    {"bind", REQ, set_bound, AT(endpoint), 0, 0},
    {"broadcast-bind", REQ, set_bound, AT(broadcast_endpoint), 0, 0},
    {"endpoint-file", REQ, set_string, AT(endpoint_file), 0, 0},
    {"kind", REQ, set_string, AT(kind), 0, 0},
    {"data", REQ, set_data, 0, 0, 0},
    {"data-file", REQ, set_data_file, 0, 0, 0},
    {NULL, REQ, set_long, AT(n), 0, 100000000},
    {"inflight", REQ, set_long, AT(inflight), 1, 100000000},
    {"broadcast", REQ, NULL, 0, 0, 0}, /* KIND DATA: two values, see parse_args */
    {"ordered", NONE, set_flag, AT(ordered_broadcasts), 0, 0},
    {"subscribers", REQ, set_long, AT(subscribers), 0, 1000000},
    {"verify-echo", NONE, set_flag, AT(verify_echo), 0, 0},
    {"timeout", REQ, set_seconds, AT(timeout_s), 0, 1e9},
    {"duration", REQ, set_seconds, AT(duration_s), 0, 1e9},
    {"print", NONE, set_flag, AT(print), 0, 0},
    {"json", NONE, set_flag, AT(json), 0, 0},
    {"quiet", NONE, set_flag, AT(quiet), 0, 0},
    {"stats", NONE, set_flag, AT(stats), 0, 0},
    {"watch", NONE, set_watch, 0, 0, 0},
    {"interval", REQ, set_seconds, AT(view.interval_s), 0, 3600},
    {"count", REQ, set_long, AT(view.count), 1, 1000000000},
    {"help", NONE, set_flag, AT(help), 0, 0},
    {"version", NONE, set_flag, AT(version), 0, 0},
};
#define N_RULES (sizeof(rules) / sizeof(rules[0]))

static const struct cli_rule *find_rule(int val, const char *name)
{
    if (val >= 256 && val < 256 + (int)N_RULES)
        return &rules[val - 256];
    for (size_t i = 0; i < N_RULES; i++)
        if (rules[i].name && name ? !strcmp(rules[i].name, name) : rules[i].name == name)
            return &rules[i];
    return NULL;
}

/* Fills c from the command line. Returns 0, or a negative errno with a message in err. */
static int parse_args(struct cli *c, int argc, char **argv, char *err, size_t errlen)
{
    struct option longopts[N_RULES + 1];
    size_t n = 0;
    for (size_t i = 0; i < N_RULES; i++)
        if (rules[i].name)
            longopts[n++] = (struct option){rules[i].name, rules[i].has_arg, NULL, 256 + (int)i};
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    c->kind = "echo";
    c->n = 1;
    c->inflight = 1;
    c->timeout_s = 30;
    c->subscribers = 1;
    c->view.interval_s = 1;
    opterr = 0;
    int o, rc;
    while ((o = getopt_long(argc, argv, ":n:h", longopts, NULL)) != -1) {
        if (o == ':')
            return kf_errf(err, errlen, -EINVAL, "%s needs a value; see --help", argv[optind - 1]);
        const struct cli_rule *r = o == 'n'   ? find_rule(0, NULL)
                                   : o == 'h' ? find_rule(0, "help")
                                              : find_rule(o, NULL);
        if (!r || o == '?')
            return kf_errf(err, errlen, -EINVAL, "unknown option %s; see --help", argv[optind - 1]);
        if (r->apply) {
            if ((rc = r->apply(c, r, optarg, err, errlen)))
                return rc;
        } else if (optind >= argc || c->n_broadcasts == 64) {
            return kf_errf(err, errlen, -EINVAL, "--broadcast needs KIND and DATA");
        } else {
            c->broadcasts[c->n_broadcasts++] = (struct broadcast){optarg, argv[optind++]};
        }
        if (c->help || c->version)
            return 0;
    }
    if (optind < argc)
        return kf_errf(err, errlen, -EINVAL, "unexpected argument %s; see --help", argv[optind]);
    if (!c->endpoint && !c->endpoint_file)
        return kf_errf(err, errlen, -EINVAL,
                       "say where the job is: --connect, --bind or --endpoint-file; see --help");
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
    if (kf_client_wait_subscribers(cl, (int)c->subscribers, timeout_ms)) {
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

/* The state of one run of requests: what was sent when, what came back. */
struct run {
    double *sent_at, *lat;
    unsigned char *answered;
    char *payload;
    size_t cap;
    long next, done, errors, bad, timeouts;
};

static int run_init(struct run *u, const struct cli *c)
{
    memset(u, 0, sizeof(*u));
    u->sent_at = calloc((size_t)c->n + 1, sizeof(double));
    u->lat = calloc((size_t)c->n + 1, sizeof(double));
    u->answered = calloc((size_t)c->n + 1, 1);
    u->cap = c->data_len + 32;
    u->payload = malloc(u->cap);
    return u->sent_at && u->lat && u->answered && u->payload ? 0 : -ENOMEM;
}

static void run_fini(struct run *u)
{
    free(u->sent_at);
    free(u->lat);
    free(u->answered);
    free(u->payload);
}

/* Sends requests until --inflight are outstanding. Returns 0, or a negative errno. */
static int send_more(const struct cli *c, struct kf_client *cl, struct run *u)
{
    while (u->next < c->n && u->next - u->done < c->inflight) {
        char id[32];
        int idlen = snprintf(id, sizeof(id), "%ld", u->next);
        size_t plen = c->data_len;
        if (c->data_len)
            memcpy(u->payload, c->data, c->data_len);
        if (c->verify_echo)
            plen += (size_t)snprintf(u->payload + plen, 32, "#%ld", u->next);
        u->sent_at[u->next] = now_s();
        int rc = kf_client_send(cl, id, (size_t)idlen, c->kind, u->payload, plen);
        if (rc) {
            fprintf(stderr, "kfarm-client: send failed: %s\n", strerror(-rc));
            return rc;
        }
        u->next++;
    }
    return 0;
}

/* Checks one reply: a known id answered once, and with --verify-echo the expected payload. */
static void check_reply(const struct cli *c, struct run *u, const struct kf_reply *r)
{
    char *end;
    long i = strtol(r->id, &end, 10);
    if (*end || end == r->id || i < 0 || i >= u->next || u->answered[i]) {
        fprintf(stderr, "kfarm-client: reply with %s id '%.*s'\n",
                (i >= 0 && i < u->next && !*end) ? "duplicated" : "unknown", (int)r->id_len,
                (char *)r->id);
        u->bad++;
        return;
    }
    u->answered[i] = 1;
    u->lat[u->done] = now_s() - u->sent_at[i];
    u->done++;
    if (!r->ok) {
        u->errors++;
        if (!c->print && u->errors <= 5)
            fprintf(stderr, "kfarm-client: request %ld failed: %.*s\n", i, (int)r->len,
                    (char *)r->data);
    } else if (c->verify_echo) {
        int n =
            snprintf(u->payload, u->cap, "%.*s#%ld", (int)c->data_len, c->data ? c->data : "", i);
        if ((size_t)n != r->len || memcmp(u->payload, r->data, r->len)) {
            fprintf(stderr, "kfarm-client: reply %ld does not match its request\n", i);
            u->bad++;
        }
    }
}

/* Waits for one reply and checks it. Returns 0, or a negative errno (time-out: -ETIMEDOUT). */
static int take_reply(const struct cli *c, struct kf_client *cl, struct run *u, int timeout_ms)
{
    struct kf_reply r;
    int rc = kf_client_recv(cl, &r, timeout_ms);
    if (rc == 0) {
        u->timeouts = u->next - u->done;
        fprintf(stderr, "kfarm-client: no reply for %.0f s; %ld requests unanswered\n",
                c->timeout_s, u->timeouts);
        return -ETIMEDOUT;
    }
    if (rc == -ECONNRESET) {
        u->timeouts = u->next - u->done;
        fprintf(stderr,
                "kfarm-client: the connection to the gateway was lost (its job ended, was "
                "cancelled or lost a node); %ld requests unanswered: resend them once the job "
                "is back (a requeued job rewrites its endpoint file)\n",
                u->timeouts);
        return rc;
    }
    if (rc < 0) {
        fprintf(stderr, "kfarm-client: receive failed: %s\n", strerror(-rc));
        return rc;
    }
    check_reply(c, u, &r);
    if (c->print)
        print_reply(&r);
    kf_reply_fini(&r);
    return 0;
}

static void print_summary(const struct cli *c, struct run *u, double elapsed)
{
    qsort(u->lat, (size_t)u->done, sizeof(double), cmp_double);
    double p50 = u->done ? u->lat[(size_t)(0.50 * (double)(u->done - 1))] * 1e6 : 0;
    double p99 = u->done ? u->lat[(size_t)(0.99 * (double)(u->done - 1))] * 1e6 : 0;
    double rate = elapsed > 0 ? (double)u->done / elapsed : 0;
    if (c->json)
        printf("{\"count\": %ld, \"errors\": %ld, \"bad_replies\": %ld, \"timeouts\": %ld, "
               "\"seconds\": %.3f, \"req_per_s\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f}\n",
               u->done, u->errors, u->bad, u->timeouts, elapsed, rate, p50, p99);
    else if (!c->quiet && c->n)
        printf("%ld requests, %ld errors, %.0f req/s, p50 %.0f us, p99 %.0f us\n", u->done,
               u->errors, rate, p50, p99);
}

/* Sends the requests and checks the replies. Returns the exit status. */
static int run_requests(const struct cli *c, struct kf_client *cl, int timeout_ms, int status)
{
    struct run u;
    if (run_init(&u, c)) {
        fprintf(stderr, "kfarm-client: out of memory for %ld requests\n", c->n);
        run_fini(&u);
        return 2;
    }
    double t0 = now_s();
    int sending = 1;
    while (status == 0 && u.done < (sending ? c->n : u.next)) {
        if (c->duration_s > 0 && now_s() - t0 > c->duration_s)
            sending = 0;
        if ((sending && send_more(c, cl, &u)) || take_reply(c, cl, &u, timeout_ms))
            status = 1;
        else
            progress(c, u.done, 0);
    }
    double elapsed = now_s() - t0;
    progress(c, u.done, 1);
    print_summary(c, &u, elapsed);
    if (u.errors || u.bad || u.timeouts)
        status = 1;
    run_fini(&u);
    return status;
}

/* Where the job is: the command line, or its endpoint file. Returns the client, or NULL. */
static struct kf_client *open_client(struct cli *c, char *ep, char *bep, size_t len, int timeout_ms)
{
    char err[1024];
    if (c->endpoint_file) {
        if (kf_client_read_endpoint_file(c->endpoint_file, timeout_ms, ep, len, bep, len, err,
                                         sizeof(err))) {
            fprintf(stderr, "kfarm-client: %s\n", err);
            return NULL;
        }
        c->endpoint = ep;
        if (bep[0] && !c->broadcast_endpoint)
            c->broadcast_endpoint = bep;
    }
    struct kf_client_opts o = {c->endpoint, c->broadcast_endpoint, c->bind};
    struct kf_client *cl = kf_client_new(&o, err, sizeof(err));
    if (!cl)
        fprintf(stderr, "kfarm-client: %s\n", err);
    return cl;
}

int main(int argc, char **argv)
{
    struct cli c = {0};
    char ep[512], bep[512], err[1024];
    int status;
    struct kf_client *cl = NULL;
    if (parse_args(&c, argc, argv, err, sizeof(err))) {
        fprintf(stderr, "kfarm-client: %s\n", err);
        status = 2;
    } else if (c.help || c.version) {
        if (c.help)
            usage(stdout);
        else
            printf("kfarm-client %s\n", KFARM_VERSION);
        status = 0;
    } else {
        int timeout_ms = (int)(c.timeout_s * 1000);
        cl = open_client(&c, ep, bep, sizeof(ep), timeout_ms);
        if (!cl) {
            status = 2;
        } else if (c.stats) {
            c.view.timeout_ms = timeout_ms;
            c.view.json = c.json;
            status = kf_stats_view_run(cl, &c.view, stdout);
        } else {
            status = run_requests(&c, cl, timeout_ms, send_broadcasts(&c, cl, timeout_ms) ? 1 : 0);
        }
    }
    kf_client_free(cl);
    free(c.data);
    return status;
}
