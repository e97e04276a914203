/* esfmd: parses its options (the esfm ones it shares, the domains it serves and their Slurm
 * node names), opens libesfm (which repairs what a crashed run left) and runs the loop until
 * SIGTERM; running requests finish first. */
#include "esfmd.h"

#include "atomic_file.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage_text[] =
    "usage: esfmd --connect URI --domain VM[=NODE] [--domain ...] [options]\n"
    "  --domain VM[=NODE]     serve libvirt domain VM, the Slurm node NODE (default VM);\n"
    "                         its channel socket is SOCKET_DIR/VM.sock\n"
    "  --socket-dir DIR       (default /run/esfmd)\n"
    "  --max-vfs-per-vm N     most VFs one VM may hold (default: no cap beyond the policy)\n"
    "  --read-timeout MS      bound on one request line (default 2000)\n"
    "  --check-interval MS    how often stopped domains are looked for (default 1000)\n"
    "  --guest-buses FIRST:N  pin VFs at 0000:BB:00.0 on the N guest buses from FIRST (the\n"
    "                         domains' reserved pcie-root-ports; numbers may be 0x hex)\n"
    "  --connect URI --policy FILE --state-dir DIR --sysfs-root DIR --mqtt URI\n"
    "  --parallel N --timeout MS   as for esfm (docs/esfm.md)\n"
    "  --help, --version\n"
    "exit status: 0 stopped by SIGTERM, 2 usage, else esfm's codes (3 not root or policy,\n"
    "  8 state dir) or 1 (a socket could not be made)\n"
    "protocol and trust model: docs/esfmd.md\n";

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static volatile sig_atomic_t *stop_flag;

void esfmd_logf(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_lock);
    fprintf(stderr, "esfmd: %s\n", line);
    fflush(stderr);
    pthread_mutex_unlock(&log_lock);
}

static void log_line(void *arg, const char *line)
{
    (void)arg;
    esfmd_logf("%s", line);
}

static void on_signal(int sig)
{
    (void)sig;
    if (stop_flag)
        *stop_flag = 1;
}

static bool valid_name(const char *s, size_t n)
{
    if (n == 0 || n > ESFMD_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("_.-", s[i]))
            return false;
    return true;
}

static int add_domain(struct esfmd_config *c, const char *arg)
{
    const char *eq = strchr(arg, '=');
    size_t nl = eq ? (size_t)(eq - arg) : strlen(arg);
    const char *node = eq ? eq + 1 : arg;
    if (!valid_name(arg, nl) || !valid_name(node, strlen(node))) {
        fprintf(stderr, "esfmd: --domain %s: names are 1-%d of [A-Za-z0-9_.-]\n", arg,
                ESFMD_NAME_MAX);
        return -EINVAL;
    }
    if (c->ndomains == ESFMD_MAX_DOMAINS) {
        fprintf(stderr, "esfmd: at most %d domains\n", ESFMD_MAX_DOMAINS);
        return -EINVAL;
    }
    struct esfmd_domain *dom = &c->domains[c->ndomains++];
    memset(dom, 0, sizeof *dom);
    snprintf(dom->name, sizeof dom->name, "%.*s", (int)nl, arg);
    snprintf(dom->node, sizeof dom->node, "%s", node);
    dom->lfd = -1;
    return 0;
}

static int parse_int(const char *s, const char *opt, int min, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (*s == '\0' || *end || v < min || v > 1000000) {
        fprintf(stderr, "esfmd: %s wants a number >= %d, not '%s'\n", opt, min, s);
        return -EINVAL;
    }
    *out = (int)v;
    return 0;
}

static int parse_buses(const char *s, struct esfm_options *o)
{
    char *end, *end2;
    unsigned long first = strtoul(s, &end, 0), n = *end == ':' ? strtoul(end + 1, &end2, 0) : 0;
    if (*end != ':' || *end2 || n < 1 || first + n > 256) {
        fprintf(stderr, "esfmd: --guest-buses FIRST:N within buses 0-255 (e.g. 0x10:16), not '%s'\n",
                s);
        return -EINVAL;
    }
    o->guest_bus_first = (unsigned)first;
    o->guest_buses = (unsigned)n;
    return 0;
}

static int parse_args(int argc, char **argv, struct esfmd_config *c, struct esfm_options *o)
{
    static const struct option opts[] = {
        {"domain", 1, 0, 'd'},       {"socket-dir", 1, 0, 's'},     {"max-vfs-per-vm", 1, 0, 'm'},
        {"read-timeout", 1, 0, 'r'}, {"check-interval", 1, 0, 'i'}, {"connect", 1, 0, 'c'},
        {"policy", 1, 0, 'p'},       {"state-dir", 1, 0, 'S'},      {"sysfs-root", 1, 0, 'y'},
        {"mqtt", 1, 0, 'q'},         {"parallel", 1, 0, 'P'},       {"timeout", 1, 0, 't'},
        {"guest-buses", 1, 0, 'g'},  {"help", 0, 0, 'h'},           {"version", 0, 0, 'V'},
        {0, 0, 0, 0}};
    int ch, rc = 0;
    while (!rc && (ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (ch) {
        case 'd': rc = add_domain(c, optarg); break;
        case 's': c->socket_dir = optarg; break;
        case 'm': rc = parse_int(optarg, "--max-vfs-per-vm", 0, &c->max_vfs_per_vm); break;
        case 'r': rc = parse_int(optarg, "--read-timeout", 10, &c->read_timeout_ms); break;
        case 'i': rc = parse_int(optarg, "--check-interval", 10, &c->check_ms); break;
        case 'c': o->connect_uri = optarg; break;
        case 'p': o->policy_path = c->policy_path = optarg; break;
        case 'S': o->state_dir = optarg; break;
        case 'y': o->sysfs_root = optarg; break;
        case 'q': o->mqtt_uri = optarg; break;
        case 'P': rc = parse_int(optarg, "--parallel", 1, &o->parallel); break;
        case 't': rc = parse_int(optarg, "--timeout", 1, &o->detach_timeout_ms); break;
        case 'g': rc = parse_buses(optarg, o); break;
        case 'h': fputs(usage_text, stdout); exit(0);
        case 'V': printf("esfmd %s\n", KFARM_VERSION); exit(0);
        default: rc = -EINVAL;
        }
    }
    if (!rc && (optind != argc || !c->ndomains || !o->connect_uri)) {
        fprintf(stderr, "esfmd: %s\n", optind != argc ? "unexpected argument"
                                       : !c->ndomains ? "no --domain given"
                                                      : "no --connect URI given");
        rc = -EINVAL;
    }
    if (rc)
        fputs(usage_text, stderr);
    return rc;
}

/* <state>/nodes.json: which Slurm node each served VM is, for every ESFM process's MQTT topics
 * (kfarm/accel/<node>/<guest BDF>, esfm pause included). */
static int write_nodes(const struct esfmd_config *c, const char *state_dir, char *err,
                       size_t errlen)
{
    char path[512], text[ESFMD_MAX_DOMAINS * (2 * ESFMD_NAME_MAX + 8) + 8];
    size_t o = 0;
    o += (size_t)snprintf(text + o, sizeof text - o, "{");
    for (size_t i = 0; i < c->ndomains; i++)
        o += (size_t)snprintf(text + o, sizeof text - o, "%s\"%s\":\"%s\"", i ? "," : "",
                              c->domains[i].name, c->domains[i].node);
    snprintf(text + o, sizeof text - o, "}\n");
    snprintf(path, sizeof path, "%s/nodes.json", state_dir ? state_dir : "/var/lib/esfm");
    return kf_atomic_write_text(path, text, 0644, err, errlen);
}

int main(int argc, char **argv)
{
    static struct esfmd_config cfg = {.socket_dir = "/run/esfmd", .read_timeout_ms =
                                      ESFMD_READ_TIMEOUT_MS, .check_ms = 1000,
                                      .max_vfs_per_vm = -1};
    static struct esfmd d;
    struct esfm_options o = {.log = log_line};
    if (parse_args(argc, argv, &cfg, &o))
        return 2;
    char err[ESFM_ERR_LEN];
    int rc = esfm_ctx_new(&o, &d.ctx, err, sizeof err);
    if (rc) {
        esfmd_logf("cannot start: %s", err);
        return esfm_exit_code(rc);
    }
    d.cfg = &cfg;
    if ((rc = write_nodes(&cfg, o.state_dir, err, sizeof err))) {
        esfmd_logf("cannot start: %s", err);
        esfm_ctx_free(d.ctx);
        return esfm_exit_code(rc);
    }
    static volatile sig_atomic_t stop;
    stop_flag = &stop;
    struct sigaction sa = {.sa_handler = on_signal}; /* no SA_RESTART: poll returns EINTR */
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if ((rc = esfmd_open_sockets(&d, err, sizeof err)) == 0) {
        esfmd_logf("serving %zu domain(s) on %s/*.sock (protocol %s)", cfg.ndomains,
                   cfg.socket_dir, ESFMD_PROTO);
        rc = esfmd_run(&d, &stop, err, sizeof err);
    }
    if (rc)
        esfmd_logf("%s", err);
    esfmd_close(&d);
    esfm_ctx_free(d.ctx);
    return rc ? 1 : 0;
}
