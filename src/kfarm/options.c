/* Parsing of `kfarm` command-line options into struct kf_options: one table row per option says
 * where its value goes and how it is checked; the checks across options come after. */
#include <errno.h>
#include <getopt.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kfarm/tuner.h>

#include "errbuf.h"
#include "options.h"
#include "wire.h"

struct parse_state {
    int connect_seen, bind_seen;
};

struct rule;
typedef int (*apply_fn)(struct kf_options *o, const struct rule *r, const char *arg,
                        struct parse_state *st, char *err, size_t errlen);

/* One option: its name, where the value goes (offset into struct kf_options) and its limits. */
struct rule {
    const char *name;
    int has_arg;
    apply_fn apply;
    size_t offset;
    long min, max;
    int side; /* endpoints: 1 bind, 0 connect; MQTT security: which KF_MQTT_OPT_* */
};

#define AT(field)         offsetof(struct kf_options, field)
#define FIELD(o, r, type) ((type *)((char *)(o) + (r)->offset))

static int bad(char *err, size_t errlen, const char *name, const char *arg, const char *expected)
{
    return kf_errf(err, errlen, -EINVAL, "--%s %s: %s", name, arg, expected);
}

static int set_string(struct kf_options *o, const struct rule *r, const char *arg,
                      struct parse_state *st, char *err, size_t errlen)
{
    (void)st, (void)err, (void)errlen;
    *FIELD(o, r, const char *) = arg;
    return 0;
}

/* --tuner: opened and parsed now, on every rank (each on its own node, where it will read it), so
 * a missing file or a typo in margot.json fails the job before it serves instead of leaving a
 * kind on the CPU variant with one line in a worker's log at its first request. The gateway's
 * CURVE key files are read by rank 0 alone, at its start, so other nodes need not have them. */
static int set_tuner_file(struct kf_options *o, const struct rule *r, const char *arg,
                          struct parse_state *st, char *err, size_t errlen)
{
    char why[512];
    struct tuner *t = tuner_config_load(arg, NULL, NULL, why, sizeof(why));
    if (!t)
        return kf_errf(err, errlen, -EINVAL, "--%s %s: %s", r->name, arg, why);
    tuner_free(t);
    return set_string(o, r, arg, st, err, errlen);
}

static int set_endpoint(struct kf_options *o, const struct rule *r, const char *arg,
                        struct parse_state *st, char *err, size_t errlen)
{
    if (strncmp(arg, "tcp://", 6) && strncmp(arg, "ipc://", 6) && strncmp(arg, "inproc://", 9))
        return bad(err, errlen, r->name, arg, "expected an endpoint such as tcp://host:5555");
    if (!strncmp(arg, "tcp://", 6) && !strrchr(arg + 6, ':'))
        return bad(err, errlen, r->name, arg, "the endpoint has no port (tcp://host:port)");
    *(r->side ? &st->bind_seen : &st->connect_seen) = 1;
    return set_string(o, r, arg, st, err, errlen);
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static int set_int(struct kf_options *o, const struct rule *r, const char *arg,
                   struct parse_state *st, char *err, size_t errlen)
{
    (void)st;
    long v;
    if (parse_long(arg, r->min, r->max, &v))
        return kf_errf(err, errlen, -EINVAL, "--%s %s: expected an integer from %ld to %ld",
                       r->name, arg, r->min, r->max);
    *FIELD(o, r, int) = (int)v;
    return 0;
}

static int set_bytes(struct kf_options *o, const struct rule *r, const char *arg,
                     struct parse_state *st, char *err, size_t errlen)
{
    (void)st;
    long v;
    if (parse_long(arg, r->min, r->max, &v))
        return kf_errf(err, errlen, -EINVAL, "--%s %s: expected bytes from %ld to %ld", r->name,
                       arg, r->min, r->max);
    *FIELD(o, r, size_t) = (size_t)v;
    return 0;
}

static int set_seconds(struct kf_options *o, const struct rule *r, const char *arg,
                       struct parse_state *st, char *err, size_t errlen)
{
    (void)st;
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (errno || end == arg || *end || !(v >= 0) || v > 86400)
        return bad(err, errlen, r->name, arg, "expected seconds from 0 to 86400");
    memcpy((char *)o + r->offset, &v, sizeof v); /* a double field at r->offset */
    return 0;
}

static int set_log_level(struct kf_options *o, const struct rule *r, const char *arg,
                         struct parse_state *st, char *err, size_t errlen)
{
    (void)st;
    if (kf_log_level_parse(arg, &o->log_level))
        return bad(err, errlen, r->name, arg, "expected error, warn, info or debug");
    return 0;
}

static int set_log_format(struct kf_options *o, const struct rule *r, const char *arg,
                          struct parse_state *st, char *err, size_t errlen)
{
    (void)st;
    if (kf_log_format_parse(arg, &o->log_format))
        return bad(err, errlen, r->name, arg, "expected text or json");
    return 0;
}

static int set_variant(struct kf_options *o, const struct rule *r, const char *arg,
                       struct parse_state *st, char *err, size_t errlen)
{
    (void)st;
    if (strcmp(arg, "auto") == 0)
        o->worker.variant = 0;
    else if (strcmp(arg, "cpu") == 0)
        o->worker.variant = KF_VARIANT_CPU;
    else if (strcmp(arg, "accel") == 0)
        o->worker.variant = KF_VARIANT_ACCEL;
    else
        return bad(err, errlen, r->name, arg, "expected auto, cpu or accel");
    return 0;
}

static int set_mqtt(struct kf_options *o, const struct rule *r, const char *arg,
                    struct parse_state *st, char *err, size_t errlen)
{
    if (kf_mqtt_uri_tls(arg) < 0)
        return bad(err, errlen, r->name, arg, "expected tcp://host:port or ssl://host:port (TLS)");
    return set_string(o, r, arg, st, err, errlen);
}

static int set_mqtt_security(struct kf_options *o, const struct rule *r, const char *arg,
                             struct parse_state *st, char *err, size_t errlen)
{
    (void)st, (void)err, (void)errlen;
    kf_mqtt_security_set(&o->worker.mqtt_security, r->side, arg);
    return 0;
}

static int set_metrics_listen(struct kf_options *o, const struct rule *r, const char *arg,
                              struct parse_state *st, char *err, size_t errlen)
{
    if (!strrchr(arg, ':'))
        return bad(err, errlen, r->name, arg, "expected HOST:PORT, e.g. 127.0.0.1:9464");
    return set_string(o, r, arg, st, err, errlen);
}

static int add_adapter(struct kf_options *o, const struct rule *r, const char *arg,
                       struct parse_state *st, char *err, size_t errlen)
{
    (void)st;
    struct kf_worker_config *w = &o->worker;
    if (w->n_adapters == KF_MAX_ADAPTERS)
        return bad(err, errlen, r->name, arg, "at most 8 adapters");
    w->adapters[w->n_adapters++].name = arg;
    return 0;
}

static int add_adapter_arg(struct kf_options *o, const struct rule *r, const char *arg,
                           struct parse_state *st, char *err, size_t errlen)
{
    (void)st;
    struct kf_worker_config *w = &o->worker;
    if (w->n_adapters == 0)
        return bad(err, errlen, r->name, arg, "give --adapter NAME before its arguments");
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return bad(err, errlen, r->name, arg, "expected KEY=VALUE");
    struct kf_adapter_spec *a = &w->adapters[w->n_adapters - 1];
    if (a->n_args == KF_MAX_ADAPTER_ARGS)
        return kf_errf(err, errlen, -EINVAL, "--%s %s: too many arguments for adapter %s", r->name,
                       arg, a->name);
    char *key = strndup(arg, (size_t)(eq - arg));
    if (!key)
        return kf_errf(err, errlen, -ENOMEM, "out of memory");
    o->owned[o->n_owned++] = key;
    a->keys[a->n_args] = key;
    a->values[a->n_args] = eq + 1;
    a->n_args++;
    return 0;
}

static int set_flag(struct kf_options *o, const struct rule *r, const char *arg,
                    struct parse_state *st, char *err, size_t errlen)
{
    (void)arg, (void)st, (void)err, (void)errlen;
    *FIELD(o, r, int) = 1;
    return 0;
}

#define REQ required_argument
static const struct rule rules[] = {
    {"connect", REQ, set_endpoint, AT(gateway.endpoint), 0, 0, 0},
    {"broadcast-connect", REQ, set_endpoint, AT(gateway.broadcast_endpoint), 0, 0, 0},
    {"bind", REQ, set_endpoint, AT(gateway.endpoint), 0, 0, 1},
    {"broadcast-bind", REQ, set_endpoint, AT(gateway.broadcast_endpoint), 0, 0, 1},
    {"endpoint-file", REQ, set_string, AT(gateway.endpoint_file), 0, 0, 0},
    {"advertise", REQ, set_string, AT(gateway.advertise), 0, 0, 0},
    {"topic", REQ, set_string, AT(gateway.topic), 0, 0, 0},
    {"curve-secret-key", REQ, set_string, AT(gateway.curve_secret_key), 0, 0, 0},
    {"curve-allowed-keys", REQ, set_string, AT(gateway.curve_allowed_keys), 0, 0, 0},
    {"curve-server-key", REQ, set_string, AT(gateway.curve_server_key), 0, 0, 0},
    {"connect-timeout", REQ, set_seconds, AT(gateway.connect_timeout_s), 0, 0, 0},
    {"drain-timeout", REQ, set_seconds, AT(gateway.drain_timeout_s), 0, 0, 0},
    {"request-timeout", REQ, set_seconds, AT(gateway.request_timeout_s), 0, 0, 0},
    {"adapter", REQ, add_adapter, 0, 0, 0, 0},
    {"adapter-arg", REQ, add_adapter_arg, 0, 0, 0, 0},
    {"max-inflight", REQ, set_int, AT(gateway.max_inflight), 1, 1024, 0},
    {"max-client-inflight", REQ, set_int, AT(gateway.max_client_inflight), 1, 1L << 20, 0},
    {"max-client-replies", REQ, set_int, AT(gateway.max_client_replies), 1, 1L << 20, 0},
    {"max-message-bytes", REQ, set_bytes, AT(gateway.max_message_bytes), 64, 1L << 31, 0},
    {"max-pending-bytes", REQ, set_bytes, AT(gateway.max_pending_bytes), 64, 1L << 40, 0},
    {"variant", REQ, set_variant, 0, 0, 0, 0},
    {"tuner", REQ, set_tuner_file, AT(worker.tuner_file), 0, 0, 0},
    {"knowledge", REQ, set_string, AT(worker.knowledge_file), 0, 0, 0},
    {"knowledge-save", REQ, set_string, AT(worker.knowledge_save), 0, 0, 0},
    {"mqtt", REQ, set_mqtt, AT(worker.mqtt), 0, 0, 0},
    {"mqtt-username", REQ, set_mqtt_security, 0, 0, 0, KF_MQTT_OPT_USERNAME},
    {"mqtt-password-file", REQ, set_mqtt_security, 0, 0, 0, KF_MQTT_OPT_PASSWORD_FILE},
    {"mqtt-cafile", REQ, set_mqtt_security, 0, 0, 0, KF_MQTT_OPT_CAFILE},
    {"mqtt-cert", REQ, set_mqtt_security, 0, 0, 0, KF_MQTT_OPT_CERT},
    {"mqtt-key", REQ, set_mqtt_security, 0, 0, 0, KF_MQTT_OPT_KEY},
    {"accel-bdf", REQ, set_string, AT(worker.accel_bdf), 0, 0, 0},
    {"sysfs-root", REQ, set_string, AT(worker.sysfs_root), 0, 0, 0},
    {"metrics-listen", REQ, set_metrics_listen, AT(gateway.metrics_listen), 0, 0, 0},
    {"trace", REQ, set_string, AT(gateway.trace_file), 0, 0, 0},
    {"trace-max-bytes", REQ, set_bytes, AT(gateway.trace_max_bytes), 0, 1L << 40, 0},
    {"log-level", REQ, set_log_level, 0, 0, 0, 0},
    {"log-format", REQ, set_log_format, 0, 0, 0, 0},
    {"help", no_argument, set_flag, AT(help), 0, 0, 0},
    {"version", no_argument, set_flag, AT(version), 0, 0, 0},
};
#define N_RULES   (sizeof(rules) / sizeof(rules[0]))
#define HELP_RULE (N_RULES - 2)

static void set_defaults(struct kf_options *o)
{
    memset(o, 0, sizeof(*o));
    struct kf_gateway_config *g = &o->gateway;
    g->topic = "";
    /* Measured with bench/gateway on 2 cores: 4 -> 45 k, 8 -> 65 k, 16 -> 85 k, 32 -> 72 k req/s.
     * Deeper pipelines hand each worker wake-up more work; beyond 16 one worker hoards. */
    g->max_inflight = 16;
    g->max_client_inflight = 4096;
    g->trace_max_bytes = (size_t)1 << 30;
    /* Twice the in-flight limit: a client that reads at all never loses a reply to it. */
    g->max_client_replies = 8192;
    g->max_message_bytes = 16u << 20;
    /* 64 requests of the largest size: far more than the workers' slots need to stay busy, and
     * a small part of a compute node's memory (docs/security.md). */
    g->max_pending_bytes = (size_t)1 << 30;
    g->connect_timeout_s = 30;
    g->drain_timeout_s = 5;
    o->log_level = KF_LOG_INFO;
}

/* What no single option can check: the mode, a required endpoint, options that need others. */
static int check_together(struct kf_options *o, const struct parse_state *st, char *err,
                          size_t errlen)
{
    struct kf_gateway_config *g = &o->gateway;
    if (st->connect_seen && st->bind_seen)
        return kf_errf(err, errlen, -EINVAL,
                       "use either --connect/--broadcast-connect or --bind/--broadcast-bind, not "
                       "both");
    if (!g->endpoint)
        return kf_errf(err, errlen, -EINVAL,
                       "no client endpoint: give --connect tcp://H:P (the client binds) or --bind "
                       "tcp://*:P (clients connect)");
    g->bind_mode = st->bind_seen;
    if (g->endpoint_file && !g->bind_mode)
        return kf_errf(err, errlen, -EINVAL,
                       "--endpoint-file is for --bind mode; in --connect mode the client already "
                       "knows its endpoints");
    const struct kf_worker_config *w = &o->worker;
    const struct kf_mqtt_security *ms = &w->mqtt_security;
    if (!w->mqtt &&
        (ms->username || ms->password_file || ms->cafile || ms->certfile || ms->keyfile))
        return kf_errf(err, errlen, -EINVAL, "the --mqtt-* security options need --mqtt URI");
    /* the files are read where the workers connect, which may be other nodes */
    if (w->mqtt && kf_mqtt_security_check(w->mqtt, ms, err, errlen))
        return -EINVAL;
    return 0;
}

int kf_options_parse(struct kf_options *o, int argc, char **argv, char *err, size_t errlen)
{
    set_defaults(o);
    int rc = kf_config_expand(&o->args, argc, argv, err, errlen);
    if (rc)
        return rc;
    argc = o->args.argc;
    argv = o->args.argv;
    struct option longopts[N_RULES + 1];
    for (size_t i = 0; i < N_RULES; i++)
        longopts[i] = (struct option){rules[i].name, rules[i].has_arg, NULL, 256 + (int)i};
    longopts[N_RULES] = (struct option){NULL, 0, NULL, 0};

    struct parse_state st = {0};
    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        if (c == ':')
            return kf_errf(err, errlen, -EINVAL, "%s needs a value; see kfarm --help",
                           argv[optind - 1]);
        if (c == 'h')
            c = 256 + (int)HELP_RULE;
        if (c < 256 || c >= 256 + (int)N_RULES)
            return kf_errf(err, errlen, -EINVAL, "unknown option %s; see kfarm --help",
                           argv[optind - 1]);
        const struct rule *r = &rules[c - 256];
        rc = r->apply(o, r, optarg, &st, err, errlen);
        if (rc)
            return rc;
        if (o->help || o->version)
            return 0; /* answered without looking further, whatever follows */
    }
    if (optind < argc)
        return kf_errf(err, errlen, -EINVAL, "unexpected argument %s; see kfarm --help",
                       argv[optind]);
    rc = check_together(o, &st, err, errlen);
    if (rc)
        return rc;
    if (o->worker.n_adapters == 0)
        o->worker.adapters[o->worker.n_adapters++].name = "echo";
    o->worker.drain_timeout_s = o->gateway.drain_timeout_s;
    return 0;
}

void kf_options_fini(struct kf_options *o)
{
    for (size_t i = 0; i < o->n_owned; i++)
        free(o->owned[i]);
    o->n_owned = 0;
    kf_config_args_fini(&o->args);
}
