/* The esfm command: parses global options and a command, runs it through libesfm's public API
 * and prints the report (text or --json). Exit codes are esfm_exit_code()'s (docs/esfm.md). */
#include "esfm_cli.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: esfm [options] COMMAND [args]\n"
    "commands:\n"
    "  init [PF] [--vfs N] [--bitstream NAME] [--vf-driver DRV]\n"
    "  reconf PF N                 change the VF count; VMs' VFs are paused/resumed\n"
    "  attach [VF] VM              attach a VF (the first free one when none is named)\n"
    "  detach VF\n"
    "  pause VF | unpause VF       QMP device_pause, falling back to detach/attach\n"
    "  list-vfs [PF]               (alias list_vfs)\n"
    "  list-vf-vm                  (alias list_vf_vm) VF -> VM from the hypervisor\n"
    "  status                      PFs, VFs, pending journal entries (does not repair)\n"
    "  reconcile                   repair what crashed runs left\n"
    "  job-attach JOB VM N [--uid U] [--partition P]   (what the SPANK plugin calls)\n"
    "  job-detach JOB\n"
    "options:\n"
    "  --sysfs-root DIR   (default /sys)      --connect URI   libvirt URI or fake:///file.json\n"
    "  --policy FILE      admin policy        --state-dir DIR (default /var/lib/esfm)\n"
    "  --mqtt tcp://H:P   publish VF states   --parallel N    threads for multi-VF steps\n"
    "  --mqtt ssl://H:P   the same over TLS; with --mqtt-cafile FILE (CA of the broker),\n"
    "                     --mqtt-username U --mqtt-password-file FILE (owner-only file),\n"
    "                     --mqtt-cert FILE --mqtt-key FILE (client certificate)\n"
    "  --force            ignore busy VFs     --json          machine-readable listings\n"
    "  --live | --config  hypervisor scope    --timeout MS    device-removed wait bound\n"
    "exit codes: 0 ok, 1 internal, 2 usage/bad input, 3 policy refused, 4 not found,\n"
    "  5 busy, 6 hypervisor error, 7 sysfs error, 8 state/journal error, 9 flash failed\n";

/* What the command line says: options, then the command's words (a[0] is the command). */
struct cli {
    struct esfm_options o;
    bool json;
    int nvfs; /* --vfs, -1 = not given */
    const char *bitstream, *vf_driver, *partition;
    unsigned uid;
    char **a;
    int na;
    int n; /* the VF count argument of reconf and job-attach */
};

static void print_line(void *arg, const char *line)
{
    fprintf(arg, "%s\n", line);
    fflush(arg);
}

static int usage_error(const char *fmt, const char *a)
{
    fprintf(stderr, "esfm: ");
    fprintf(stderr, fmt, a);
    fprintf(stderr, "\n(esfm --help shows the commands)\n");
    return 2;
}

static void print_json(cJSON *j)
{
    char *t = cJSON_Print(j);
    if (t)
        printf("%s\n", t);
    free(t);
    cJSON_Delete(j);
}

static int cmd_list_vfs(struct esfm_ctx *ctx, const struct cli *c, char *err)
{
    const char *pf = c->na > 1 ? c->a[1] : NULL;
    bool json = c->json;
    struct esfm_vf_info *v;
    size_t n;
    int rc = esfm_list_vfs(ctx, pf, &v, &n, err, ESFM_ERR_LEN);
    if (rc)
        return rc;
    if (json) {
        cJSON *a = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "pf", v[i].pf);
            cJSON_AddStringToObject(o, "vf", v[i].bdf);
            cJSON_AddStringToObject(o, "driver", v[i].driver);
            cJSON_AddStringToObject(o, "state", esfm_vf_state_name(v[i].state));
            cJSON_AddStringToObject(o, "vm", v[i].domain);
            cJSON_AddStringToObject(o, "job", v[i].job_id);
            cJSON_AddBoolToObject(o, "busy", v[i].busy);
            cJSON_AddNumberToObject(o, "busy_queues", v[i].busy_queues);
            cJSON_AddItemToArray(a, o);
        }
        print_json(a);
    } else {
        printf("%-13s %-13s %-10s %-9s %-5s %-16s %s\n", "PF", "VF", "DRIVER", "STATE", "BUSY",
               "VM", "JOB");
        for (size_t i = 0; i < n; i++)
            printf("%-13s %-13s %-10s %-9s %-5s %-16s %s\n", v[i].pf, v[i].bdf,
                   v[i].driver[0] ? v[i].driver : "-", esfm_vf_state_name(v[i].state),
                   v[i].busy ? "yes" : "no", v[i].domain[0] ? v[i].domain : "-",
                   v[i].job_id[0] ? v[i].job_id : "-");
    }
    free(v);
    return 0;
}

static int cmd_list_vf_vm(struct esfm_ctx *ctx, const struct cli *c, char *err)
{
    bool json = c->json;
    struct esfm_hostdev *h;
    size_t n;
    int rc = esfm_list_vf_vm(ctx, &h, &n, err, ESFM_ERR_LEN);
    if (rc)
        return rc;
    if (json) {
        cJSON *a = cJSON_CreateArray();
        for (size_t i = 0; i < n; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "vm", h[i].domain);
            cJSON_AddStringToObject(o, "vf", h[i].bdf);
            cJSON_AddStringToObject(o, "alias", h[i].alias);
            cJSON_AddStringToObject(o, "guest", h[i].guest_bdf);
            cJSON_AddItemToArray(a, o);
        }
        print_json(a);
    } else {
        printf("%-13s %-20s %-26s %s\n", "VF", "VM", "ALIAS", "GUEST");
        for (size_t i = 0; i < n; i++)
            printf("%-13s %-20s %-26s %s\n", h[i].bdf, h[i].domain,
                   h[i].alias[0] ? h[i].alias : "-", h[i].guest_bdf[0] ? h[i].guest_bdf : "-");
    }
    free(h);
    return 0;
}

static int cmd_status(struct esfm_ctx *ctx, const struct cli *c, char *err)
{
    bool json = c->json;
    struct esfm_pf_info *pf = NULL;
    struct esfm_vf_info *vf = NULL;
    struct esfm_pending *p = NULL;
    size_t npf, nvf, np;
    int rc = esfm_list_pfs(ctx, &pf, &npf, err, ESFM_ERR_LEN);
    if (!rc)
        rc = esfm_list_vfs(ctx, NULL, &vf, &nvf, err, ESFM_ERR_LEN);
    if (!rc)
        rc = esfm_list_pending(ctx, &p, &np, err, ESFM_ERR_LEN);
    if (rc)
        goto out;
    size_t count[3] = {0};
    for (size_t i = 0; i < nvf; i++)
        count[vf[i].state]++;
    if (json) {
        cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "pfs");
        for (size_t i = 0; i < npf; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "pf", pf[i].bdf);
            cJSON_AddStringToObject(e, "driver", pf[i].driver);
            cJSON_AddNumberToObject(e, "numvfs", pf[i].numvfs);
            cJSON_AddNumberToObject(e, "totalvfs", pf[i].totalvfs);
            cJSON_AddItemToArray(a, e);
        }
        cJSON *counts = cJSON_AddObjectToObject(o, "vfs");
        for (int s = 0; s < 3; s++)
            cJSON_AddNumberToObject(counts, esfm_vf_state_name((enum esfm_vf_state)s), count[s]);
        a = cJSON_AddArrayToObject(o, "pending");
        for (size_t i = 0; i < np; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "entry", p[i].name);
            cJSON_AddStringToObject(e, "op", p[i].op);
            cJSON_AddStringToObject(e, "object", p[i].object);
            cJSON_AddBoolToObject(e, "running", p[i].running);
            cJSON_AddItemToArray(a, e);
        }
        print_json(o);
    } else {
        for (size_t i = 0; i < npf; i++)
            printf("PF %s driver %s VFs %u/%u\n", pf[i].bdf,
                   pf[i].driver[0] ? pf[i].driver : "none", pf[i].numvfs, pf[i].totalvfs);
        printf("VFs: %zu free, %zu attached, %zu paused\n", count[0], count[1], count[2]);
        if (!np)
            printf("journal: clean\n");
        for (size_t i = 0; i < np; i++)
            printf("pending: %s %s (%s)%s\n", p[i].op, p[i].object, p[i].name,
                   p[i].running ? " in progress" : " interrupted; the next command repairs it");
    }
out:
    free(pf);
    free(vf);
    free(p);
    return rc;
}

int esfm_parse_uint(const char *s, unsigned max, unsigned *out)
{
    if (!s || !*s)
        return -EINVAL;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -EINVAL;
    errno = 0;
    unsigned long v = strtoul(s, NULL, 10);
    if (errno || v > max)
        return -ERANGE;
    *out = (unsigned)v;
    return 0;
}

static int parse_count(const char *s, int *out)
{
    unsigned v;
    if (esfm_parse_uint(s, 65535, &v))
        return -1;
    *out = (int)v;
    return 0;
}

static int cmd_init(struct esfm_ctx *ctx, const struct cli *c, char *err)
{
    return esfm_init(ctx, c->na > 1 ? c->a[1] : NULL, c->nvfs, c->bitstream, c->vf_driver, err,
                     ESFM_ERR_LEN);
}

static int cmd_reconf(struct esfm_ctx *ctx, const struct cli *c, char *err)
{
    return esfm_reconf(ctx, c->a[1], c->n, err, ESFM_ERR_LEN);
}

static int cmd_attach(struct esfm_ctx *ctx, const struct cli *c, char *err)
{
    char vf[ESFM_BDF_LEN];
    return esfm_attach(ctx, c->na == 3 ? c->a[1] : NULL, c->a[c->na - 1], vf, err, ESFM_ERR_LEN);
}

static int cmd_detach(struct esfm_ctx *ctx, const struct cli *c, char *err)
{
    return esfm_detach(ctx, c->a[1], err, ESFM_ERR_LEN);
}

static int cmd_pause(struct esfm_ctx *ctx, const struct cli *c, char *err)
{
    bool fell_back;
    return esfm_pause(ctx, c->a[1], true, &fell_back, err, ESFM_ERR_LEN);
}

static int cmd_unpause(struct esfm_ctx *ctx, const struct cli *c, char *err)
{
    bool fell_back;
    return esfm_pause(ctx, c->a[1], false, &fell_back, err, ESFM_ERR_LEN);
}

static int cmd_reconcile(struct esfm_ctx *ctx, const struct cli *c, char *err)
{
    (void)c;
    int repaired = 0;
    int rc = esfm_reconcile(ctx, &repaired, err, ESFM_ERR_LEN);
    if (!rc)
        printf("journal: %d entr%s repaired\n", repaired, repaired == 1 ? "y" : "ies");
    return rc;
}

static int cmd_job_attach(struct esfm_ctx *ctx, const struct cli *c, char *err)
{
    struct esfm_grant *g = calloc((size_t)c->n, sizeof *g);
    struct esfm_job job = {.job_id = c->a[1], .uid = c->uid, .partition = c->partition};
    int rc =
        g ? esfm_job_attach(ctx, &job, c->a[2], (unsigned)c->n, g, err, ESFM_ERR_LEN) : -ENOMEM;
    for (int i = 0; !rc && i < c->n; i++)
        printf("%s %s %s\n", g[i].vf_bdf, g[i].alias, g[i].guest_bdf[0] ? g[i].guest_bdf : "-");
    free(g);
    return rc;
}

static int cmd_job_detach(struct esfm_ctx *ctx, const struct cli *c, char *err)
{
    return esfm_job_detach(ctx, c->a[1], err, ESFM_ERR_LEN);
}

/* The commands: name, the old underscore alias, how many arguments, and what runs it. */
static const struct command {
    const char *name, *alias;
    int min, max;
    int (*run)(struct esfm_ctx *ctx, const struct cli *c, char *err);
} commands[] = {
    {"init", NULL, 0, 1, cmd_init},
    {"reconf", NULL, 2, 2, cmd_reconf},
    {"attach", NULL, 1, 2, cmd_attach},
    {"detach", NULL, 1, 1, cmd_detach},
    {"pause", NULL, 1, 1, cmd_pause},
    {"unpause", NULL, 1, 1, cmd_unpause},
    {"list-vfs", "list_vfs", 0, 1, cmd_list_vfs},
    {"list-vf-vm", "list_vf_vm", 0, 0, cmd_list_vf_vm},
    {"status", NULL, 0, 0, cmd_status},
    {"reconcile", NULL, 0, 0, cmd_reconcile},
    {"job-attach", NULL, 3, 3, cmd_job_attach},
    {"job-detach", NULL, 1, 1, cmd_job_detach},
};

static const struct command *find_command(const char *name)
{
    for (size_t t = 0; t < sizeof commands / sizeof commands[0]; t++)
        if (!strcmp(name, commands[t].name) ||
            (commands[t].alias && !strcmp(name, commands[t].alias)))
            return &commands[t];
    return NULL;
}

enum {
    O_SYSFS = 256,
    O_CONNECT,
    O_POLICY,
    O_STATE,
    O_MQTT,
    O_PARALLEL,
    O_FORCE,
    O_JSON,
    O_VFS,
    O_BITSTREAM,
    O_VFDRV,
    O_LIVE,
    O_CONFIG,
    O_TIMEOUT,
    O_UID,
    O_PARTITION,
    O_HELP,
    O_MQTT_SECURITY /* + KF_MQTT_OPT_* */
};

static const struct option long_options[] = {
    {"sysfs-root", 1, 0, O_SYSFS},
    {"connect", 1, 0, O_CONNECT},
    {"policy", 1, 0, O_POLICY},
    {"state-dir", 1, 0, O_STATE},
    {"mqtt", 1, 0, O_MQTT},
    {"parallel", 1, 0, O_PARALLEL},
    {"force", 0, 0, O_FORCE},
    {"json", 0, 0, O_JSON},
    {"vfs", 1, 0, O_VFS},
    {"bitstream", 1, 0, O_BITSTREAM},
    {"vf-driver", 1, 0, O_VFDRV},
    {"live", 0, 0, O_LIVE},
    {"config", 0, 0, O_CONFIG},
    {"timeout", 1, 0, O_TIMEOUT},
    {"uid", 1, 0, O_UID},
    {"partition", 1, 0, O_PARTITION},
    {"help", 0, 0, O_HELP},
    KF_MQTT_SECURITY_LONG_OPTIONS(O_MQTT_SECURITY),
    {0, 0, 0, 0},
};

/* One option into c. Returns -1 when it is taken, else the exit code (0 after --help). */
static int take_option(struct cli *c, int opt, char **argv)
{
    int v;
    switch (opt) {
    case O_SYSFS:
        c->o.sysfs_root = optarg;
        return -1;
    case O_CONNECT:
        c->o.connect_uri = optarg;
        return -1;
    case O_POLICY:
        c->o.policy_path = optarg;
        return -1;
    case O_STATE:
        c->o.state_dir = optarg;
        return -1;
    case O_MQTT:
        c->o.mqtt_uri = optarg;
        return -1;
    case O_FORCE:
        c->o.force = true;
        return -1;
    case O_JSON:
        c->json = true;
        return -1;
    case O_BITSTREAM:
        c->bitstream = optarg;
        return -1;
    case O_VFDRV:
        c->vf_driver = optarg;
        return -1;
    case O_LIVE:
        c->o.hv_flags |= ESFM_HV_LIVE;
        return -1;
    case O_CONFIG:
        c->o.hv_flags |= ESFM_HV_CONFIG;
        return -1;
    case O_PARTITION:
        c->partition = optarg;
        return -1;
    case O_PARALLEL:
        if (parse_count(optarg, &c->o.parallel) || c->o.parallel < 1)
            return usage_error("--parallel wants a number >= 1, got '%s'", optarg);
        return -1;
    case O_VFS:
        if (parse_count(optarg, &c->nvfs))
            return usage_error("--vfs wants a VF count (0, 1, 2...), got '%s'", optarg);
        return -1;
    case O_TIMEOUT:
        if (parse_count(optarg, &c->o.detach_timeout_ms) || c->o.detach_timeout_ms < 1)
            return usage_error("--timeout wants milliseconds >= 1, got '%s'", optarg);
        return -1;
    case O_UID:
        if (parse_count(optarg, &v))
            return usage_error("--uid wants a number, got '%s'", optarg);
        c->uid = (unsigned)v;
        return -1;
    case 'h':
    case O_HELP:
        fputs(usage_text, stdout);
        return 0;
    }
    if (opt >= O_MQTT_SECURITY && opt < O_MQTT_SECURITY + KF_MQTT_OPT_COUNT) {
        kf_mqtt_security_set(&c->o.mqtt_security, opt - O_MQTT_SECURITY, optarg);
        return -1;
    }
    if (optopt >= '0' && optopt <= '9')
        return usage_error("counts must be whole numbers >= 0, got '%s'", argv[optind - 1]);
    return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
}

/* Options, the command and its argument count. Returns -1 when the command may run, else the
 * exit code. */
static int parse_command_line(struct cli *c, int argc, char **argv, const struct command **cmd)
{
    int opt, rc;
    optind = 1;
    opterr = 0;
    while ((opt = getopt_long(argc, argv, "h", long_options, NULL)) != -1)
        if ((rc = take_option(c, opt, argv)) >= 0)
            return rc;
    c->a = argv + optind;
    c->na = argc - optind;
    if (c->na < 1)
        return usage_error("%s", "no command given");
    if (!(*cmd = find_command(c->a[0])))
        return usage_error("unknown command '%s'", c->a[0]);
    if (c->na - 1 < (*cmd)->min || c->na - 1 > (*cmd)->max) {
        fprintf(stderr, "esfm: %s takes %d to %d arguments, got %d\n", (*cmd)->name, (*cmd)->min,
                (*cmd)->max, c->na - 1);
        return 2;
    }
    if ((*cmd)->run == cmd_reconf && parse_count(c->a[2], &c->n))
        return usage_error("the VF count must be a whole number (0, 1, 2...), got '%s'", c->a[2]);
    if ((*cmd)->run == cmd_job_attach && (parse_count(c->a[3], &c->n) || c->n < 1))
        return usage_error("the VF count must be a number >= 1, got '%s'", c->a[3]);
    return -1;
}

int esfm_cli_run(int argc, char **argv, const struct esfm_sysfs_ops *sysfs_ops)
{
    struct cli c = {.o = {.log = print_line, .log_arg = stdout, .sysfs_ops = sysfs_ops},
                    .nvfs = -1};
    const struct command *cmd = NULL;
    int rc = parse_command_line(&c, argc, argv, &cmd);
    if (rc >= 0)
        return rc;
    c.o.skip_reconcile = cmd->run == cmd_status;
    char err[ESFM_ERR_LEN] = "";
    struct esfm_ctx *ctx = NULL;
    rc = esfm_ctx_new(&c.o, &ctx, err, sizeof err);
    if (!rc)
        rc = cmd->run(ctx, &c, err);
    esfm_ctx_free(ctx);
    if (rc) {
        fprintf(stderr, "esfm: %s: %s\n", cmd->name, err[0] ? err : strerror(-rc));
        return esfm_exit_code(rc);
    }
    return 0;
}
