/* Parsing of `kfarm` command-line options into struct kf_options. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"
#include "wire.h"

enum {
    OPT_CONNECT = 256,
    OPT_BROADCAST_CONNECT,
    OPT_BIND,
    OPT_BROADCAST_BIND,
    OPT_ENDPOINT_FILE,
    OPT_ADVERTISE,
    OPT_TOPIC,
    OPT_ADAPTER,
    OPT_ADAPTER_ARG,
    OPT_MAX_INFLIGHT,
    OPT_MAX_MESSAGE_BYTES,
    OPT_LOG_LEVEL,
    OPT_CONNECT_TIMEOUT,
    OPT_DRAIN_TIMEOUT,
    OPT_VERSION,
    OPT_VARIANT,
    OPT_TUNER,
    OPT_KNOWLEDGE,
    OPT_KNOWLEDGE_SAVE,
    OPT_MQTT,
    OPT_ACCEL_BDF,
    OPT_SYSFS_ROOT,
    OPT_METRICS_LISTEN,
    OPT_TRACE,
    OPT_CURVE_SECRET_KEY,
    OPT_CURVE_ALLOWED_KEYS,
    OPT_CURVE_SERVER_KEY,
    OPT_MAX_CLIENT_INFLIGHT,
    OPT_MAX_PENDING_BYTES,
    OPT_MQTT_SECURITY, /* + KF_MQTT_OPT_*: --mqtt-username ... --mqtt-key */
};

static const struct option long_options[] = {
    {"connect", required_argument, NULL, OPT_CONNECT},
    {"broadcast-connect", required_argument, NULL, OPT_BROADCAST_CONNECT},
    {"bind", required_argument, NULL, OPT_BIND},
    {"broadcast-bind", required_argument, NULL, OPT_BROADCAST_BIND},
    {"endpoint-file", required_argument, NULL, OPT_ENDPOINT_FILE},
    {"advertise", required_argument, NULL, OPT_ADVERTISE},
    {"topic", required_argument, NULL, OPT_TOPIC},
    {"adapter", required_argument, NULL, OPT_ADAPTER},
    {"adapter-arg", required_argument, NULL, OPT_ADAPTER_ARG},
    {"max-inflight", required_argument, NULL, OPT_MAX_INFLIGHT},
    {"max-message-bytes", required_argument, NULL, OPT_MAX_MESSAGE_BYTES},
    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
    {"connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT},
    {"drain-timeout", required_argument, NULL, OPT_DRAIN_TIMEOUT},
    {"variant", required_argument, NULL, OPT_VARIANT},
    {"tuner", required_argument, NULL, OPT_TUNER},
    {"knowledge", required_argument, NULL, OPT_KNOWLEDGE},
    {"knowledge-save", required_argument, NULL, OPT_KNOWLEDGE_SAVE},
    {"mqtt", required_argument, NULL, OPT_MQTT},
    {"accel-bdf", required_argument, NULL, OPT_ACCEL_BDF},
    {"sysfs-root", required_argument, NULL, OPT_SYSFS_ROOT},
    {"metrics-listen", required_argument, NULL, OPT_METRICS_LISTEN},
    {"trace", required_argument, NULL, OPT_TRACE},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, OPT_VERSION},
    {"curve-secret-key", required_argument, NULL, OPT_CURVE_SECRET_KEY},
    {"curve-allowed-keys", required_argument, NULL, OPT_CURVE_ALLOWED_KEYS},
    {"curve-server-key", required_argument, NULL, OPT_CURVE_SERVER_KEY},
    {"max-client-inflight", required_argument, NULL, OPT_MAX_CLIENT_INFLIGHT},
    {"max-pending-bytes", required_argument, NULL, OPT_MAX_PENDING_BYTES},
    KF_MQTT_SECURITY_LONG_OPTIONS(OPT_MQTT_SECURITY),
    {NULL, 0, NULL, 0},
};

void kf_options_usage(FILE *out)
{
    fputs("Usage: srun --mpi=pmix -n N kfarm [options]\n"
          "Serve compute kernels to EvKit clients: rank 0 is the ZeroMQ gateway, ranks 1..N-1\n"
          "are workers (N >= 2).\n"
          "\n"
          "Client sockets (--connect or --bind is required; broadcasts are optional):\n"
          "  --connect tcp://H:P            connect a DEALER to a client that bound one (EvKit)\n"
          "  --broadcast-connect tcp://H:P  connect a SUB to the client's PUB\n"
          "  --bind tcp://*:P               bind a ROUTER for many clients (P may be 0 or *)\n"
          "  --broadcast-bind tcp://*:P     bind a SUB that clients' PUB sockets connect to\n"
          "  --endpoint-file FILE           bind mode: write the bound endpoints to FILE\n"
          "  --advertise HOST|IFACE|NET/N   address written for wildcard binds: a host, an\n"
          "                                 interface's IPv4, or this node's IPv4 in a subnet\n"
          "                                 (default: the node's routable IPv4)\n"
          "  --topic PREFIX                 broadcast subscription prefix, stripped from kinds\n"
          "                                 (default: all broadcasts)\n"
          "  --connect-timeout S            connect mode: wait at most S seconds for the client's\n"
          "                                 sockets to accept connections (default 30)\n"
          "  --curve-secret-key FILE        turn on ZeroMQ CURVE with this secret key (Z85)\n"
          "  --curve-allowed-keys FILE      bind mode: client public keys admitted, one a line\n"
          "  --curve-server-key FILE        connect mode: the client's public key\n"
          "\n"
          "Kernels:\n"
          "  --adapter NAME|PATH.so         load a built-in adapter (echo, ptdr) or a .so;\n"
          "                                 repeatable\n"
          "  --adapter-arg KEY=VALUE        argument for the preceding --adapter; repeatable\n"
          "  --max-inflight K               requests outstanding per worker (default 16)\n"
          "  --max-message-bytes B          largest request accepted (default 16777216)\n"
          "  --max-client-inflight N        bind mode: requests one client may have in flight;\n"
          "                                 more get an error reply (default 4096)\n"
          "  --max-pending-bytes B          bytes of requests the gateway holds for all clients\n"
          "                                 together (waiting for a worker, being sent); a\n"
          "                                 request over it gets an error reply (default\n"
          "                                 1073741824)\n"
          "\n"
          "Variants and tuning (kernels with an accelerator variant):\n"
          "  --variant auto|cpu|accel       auto (default): the tuner chooses per rank and kind;\n"
          "                                 accel falls back to cpu when the device is gone\n"
          "  --tuner FILE.json              tuner configuration (margot.json shape)\n"
          "  --knowledge FILE.json          start from this knowledge (ops.json shape)\n"
          "  --knowledge-save PATH          save what was learned at exit (%r = rank, %k = kind)\n"
          "  --mqtt tcp://H:P               learn with kfarm-learner and hear accelerator\n"
          "                                 pause/unpause (kfarm/accel/<node>/<bdf>) over MQTT;\n"
          "                                 ssl://H:P (or mqtts://) for TLS\n"
          "  --mqtt-username U              MQTT user name (with --mqtt-password-file)\n"
          "  --mqtt-password-file F         the password: first line of F, which must be\n"
          "                                 owner-only (chmod 600)\n"
          "  --mqtt-cafile F                CA(s) the broker's certificate must chain to\n"
          "  --mqtt-cert F                  client certificate (PEM), if the broker wants one\n"
          "  --mqtt-key F                   its private key (PEM)\n"
          "  --accel-bdf BDF                the accelerator VF (default: first of KFARM_VF_BDFS)\n"
          "  --sysfs-root DIR               where the VF is looked for (default /sys)\n"
          "\n"
          "Observing:\n"
          "  --metrics-listen HOST:PORT     serve Prometheus metrics at http://HOST:PORT/metrics\n"
          "                                 (and the $stats JSON at /stats)\n"
          "  --trace FILE                   write one line per reply (rank, kind, variant, why,\n"
          "                                 accelerator, service time) for kfarm-plot\n"
          "\n"
          "Other:\n"
          "  --drain-timeout S              on SIGTERM, wait at most S seconds for running\n"
          "                                 requests (default 5)\n"
          "  --log-level error|warn|info|debug  (default info)\n"
          "  -h, --help                     this text\n"
          "  --version                      print the version\n",
          out);
}

static int fail(char *err, size_t errlen, const char *fmt, const char *a, const char *b)
{
    snprintf(err, errlen, fmt, a, b);
    return -1;
}

static int parse_long(const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

static int parse_seconds(const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || end == s || *end || !(v >= 0) || v > 86400)
        return -1;
    *out = v;
    return 0;
}

static int check_endpoint(const char *opt, const char *ep, char *err, size_t errlen)
{
    if (strncmp(ep, "tcp://", 6) && strncmp(ep, "ipc://", 6) && strncmp(ep, "inproc://", 9))
        return fail(err, errlen, "%s %s: expected an endpoint such as tcp://host:5555", opt, ep);
    if (!strncmp(ep, "tcp://", 6) && !strrchr(ep + 6, ':'))
        return fail(err, errlen, "%s %s: the endpoint has no port (tcp://host:port)", opt, ep);
    return 0;
}

static int add_adapter_arg(struct kf_options *o, const char *arg, char *err, size_t errlen)
{
    if (o->n_adapters == 0)
        return fail(err, errlen, "--adapter-arg %s: give --adapter NAME before its arguments%s",
                    arg, "");
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return fail(err, errlen, "--adapter-arg %s: expected KEY=VALUE%s", arg, "");
    struct kf_adapter_spec *a = &o->adapters[o->n_adapters - 1];
    if (a->n_args == KF_MAX_ADAPTER_ARGS)
        return fail(err, errlen, "--adapter-arg %s: too many arguments for adapter %s", arg,
                    a->name);
    char *key = strndup(arg, (size_t)(eq - arg));
    if (!key)
        return fail(err, errlen, "out of memory%s%s", "", "");
    o->owned[o->n_owned++] = key;
    a->keys[a->n_args] = key;
    a->values[a->n_args] = eq + 1;
    a->n_args++;
    return 0;
}

int kf_options_parse(struct kf_options *o, int argc, char **argv, char *err, size_t errlen)
{
    memset(o, 0, sizeof(*o));
    o->topic = "";
    /* Measured with bench/gateway on 2 cores: 4 -> 45 k, 8 -> 65 k, 16 -> 85 k, 32 -> 72 k req/s.
     * Deeper pipelines hand each worker wake-up more work; beyond 16 one worker hoards. */
    o->max_inflight = 16;
    o->max_client_inflight = 4096;
    o->max_message_bytes = 16u << 20;
    /* 64 requests of the largest size: far more than the workers' slots need to stay busy, and
     * a small part of a compute node's memory (docs/security.md). */
    o->max_pending_bytes = (size_t)1 << 30;
    o->log_level = KF_LOG_INFO;
    o->connect_timeout_s = 30;
    o->drain_timeout_s = 5;
    int connect_seen = 0, bind_seen = 0;
    long v;

    optind = 1;
    opterr = 0;
    int c;
    while ((c = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
        switch (c) {
        case OPT_CONNECT:
        case OPT_BIND:
            if (check_endpoint(c == OPT_BIND ? "--bind" : "--connect", optarg, err, errlen))
                return -1;
            o->endpoint = optarg;
            *(c == OPT_BIND ? &bind_seen : &connect_seen) = 1;
            break;
        case OPT_BROADCAST_CONNECT:
        case OPT_BROADCAST_BIND:
            if (check_endpoint(c == OPT_BROADCAST_BIND ? "--broadcast-bind" : "--broadcast-connect",
                               optarg, err, errlen))
                return -1;
            o->broadcast_endpoint = optarg;
            *(c == OPT_BROADCAST_BIND ? &bind_seen : &connect_seen) = 1;
            break;
        case OPT_ENDPOINT_FILE:
            o->endpoint_file = optarg;
            break;
        case OPT_ADVERTISE:
            o->advertise = optarg;
            break;
        case OPT_TOPIC:
            o->topic = optarg;
            break;
        case OPT_CURVE_SECRET_KEY:
            o->curve_secret_key = optarg;
            break;
        case OPT_CURVE_ALLOWED_KEYS:
            o->curve_allowed_keys = optarg;
            break;
        case OPT_CURVE_SERVER_KEY:
            o->curve_server_key = optarg;
            break;
        case OPT_ADAPTER:
            if (o->n_adapters == KF_MAX_ADAPTERS)
                return fail(err, errlen, "--adapter %s: at most 8 adapters%s", optarg, "");
            o->adapters[o->n_adapters++].name = optarg;
            break;
        case OPT_ADAPTER_ARG:
            if (add_adapter_arg(o, optarg, err, errlen))
                return -1;
            break;
        case OPT_MAX_INFLIGHT:
            if (parse_long(optarg, 1, 1024, &v))
                return fail(err, errlen, "--max-inflight %s: expected an integer from 1 to 1024%s",
                            optarg, "");
            o->max_inflight = (int)v;
            break;
        case OPT_MAX_CLIENT_INFLIGHT:
            if (parse_long(optarg, 1, 1L << 20, &v))
                return fail(err, errlen,
                            "--max-client-inflight %s: expected an integer from 1 to %s", optarg,
                            "1048576");
            o->max_client_inflight = (int)v;
            break;
        case OPT_MAX_PENDING_BYTES:
            if (parse_long(optarg, 64, 1L << 40, &v))
                return fail(err, errlen, "--max-pending-bytes %s: expected bytes from 64 to %s",
                            optarg, "1099511627776");
            o->max_pending_bytes = (size_t)v;
            break;
        case OPT_MAX_MESSAGE_BYTES:
            if (parse_long(optarg, 64, 1L << 31, &v))
                return fail(err, errlen, "--max-message-bytes %s: expected bytes from 64 to %s",
                            optarg, "2147483648");
            o->max_message_bytes = (size_t)v;
            break;
        case OPT_LOG_LEVEL:
            if (kf_log_level_parse(optarg, &o->log_level))
                return fail(err, errlen, "--log-level %s: expected error, warn, info or debug%s",
                            optarg, "");
            break;
        case OPT_CONNECT_TIMEOUT:
        case OPT_DRAIN_TIMEOUT:
            if (parse_seconds(optarg, c == OPT_CONNECT_TIMEOUT ? &o->connect_timeout_s
                                                               : &o->drain_timeout_s))
                return fail(err, errlen, "%s %s: expected seconds from 0 to 86400",
                            c == OPT_CONNECT_TIMEOUT ? "--connect-timeout" : "--drain-timeout",
                            optarg);
            break;
        case OPT_VARIANT:
            if (strcmp(optarg, "auto") == 0)
                o->variant = 0;
            else if (strcmp(optarg, "cpu") == 0)
                o->variant = KF_VARIANT_CPU;
            else if (strcmp(optarg, "accel") == 0)
                o->variant = KF_VARIANT_ACCEL;
            else
                return fail(err, errlen, "--variant %s: expected auto, cpu or accel%s", optarg, "");
            break;
        case OPT_TUNER:
            o->tuner_file = optarg;
            break;
        case OPT_KNOWLEDGE:
            o->knowledge_file = optarg;
            break;
        case OPT_KNOWLEDGE_SAVE:
            o->knowledge_save = optarg;
            break;
        case OPT_MQTT:
            if (kf_mqtt_uri_tls(optarg) < 0)
                return fail(err, errlen, "--mqtt %s: expected tcp://host:port or ssl://host:port%s",
                            optarg, " (TLS)");
            o->mqtt = optarg;
            break;
        case OPT_ACCEL_BDF:
            o->accel_bdf = optarg;
            break;
        case OPT_SYSFS_ROOT:
            o->sysfs_root = optarg;
            break;
        case OPT_METRICS_LISTEN:
            if (!strrchr(optarg, ':'))
                return fail(err, errlen, "--metrics-listen %s: expected HOST:PORT, e.g. "
                            "127.0.0.1:9464%s", optarg, "");
            o->metrics_listen = optarg;
            break;
        case OPT_TRACE:
            o->trace_file = optarg;
            break;
        case 'h':
            o->help = 1;
            return 0;
        case OPT_VERSION:
            o->version = 1;
            return 0;
        case OPT_MQTT_SECURITY + KF_MQTT_OPT_USERNAME:
        case OPT_MQTT_SECURITY + KF_MQTT_OPT_PASSWORD_FILE:
        case OPT_MQTT_SECURITY + KF_MQTT_OPT_CAFILE:
        case OPT_MQTT_SECURITY + KF_MQTT_OPT_CERT:
        case OPT_MQTT_SECURITY + KF_MQTT_OPT_KEY:
            kf_mqtt_security_set(&o->mqtt_security, c - OPT_MQTT_SECURITY, optarg);
            break;
        case ':':
            return fail(err, errlen, "%s needs a value; see kfarm --help%s", argv[optind - 1], "");
        default:
            return fail(err, errlen, "unknown option %s; see kfarm --help%s", argv[optind - 1],
                        "");
        }
    }
    if (optind < argc)
        return fail(err, errlen, "unexpected argument %s; see kfarm --help%s", argv[optind], "");
    if (connect_seen && bind_seen)
        return fail(err, errlen, "use either --connect/--broadcast-connect or --bind/--broadcast-bind%s%s",
                    ", not both", "");
    if (!o->endpoint)
        return fail(err, errlen, "no client endpoint: give --connect tcp://H:P (the client binds) "
                    "or --bind tcp://*:P (clients connect)%s%s", "", "");
    o->bind_mode = bind_seen;
    if (o->endpoint_file && !o->bind_mode)
        return fail(err, errlen, "--endpoint-file is for --bind mode; in --connect mode the client "
                    "already knows its endpoints%s%s", "", "");
    const struct kf_mqtt_security *ms = &o->mqtt_security;
    if (!o->mqtt && (ms->username || ms->password_file || ms->cafile || ms->certfile || ms->keyfile))
        return fail(err, errlen, "the --mqtt-* security options need --mqtt URI%s%s", "", "");
    /* the files are read where the workers connect, which may be other nodes */
    if (o->mqtt && kf_mqtt_security_check(o->mqtt, ms, err, errlen))
        return -1;
    if (o->n_adapters == 0)
        o->adapters[o->n_adapters++].name = "echo";
    return 0;
}

void kf_options_fini(struct kf_options *o)
{
    for (size_t i = 0; i < o->n_owned; i++)
        free(o->owned[i]);
    o->n_owned = 0;
}
