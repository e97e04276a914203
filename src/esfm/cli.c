/* The esfm command: parses global options and a command, runs it through libesfm and prints
 * the report (text or --json). Exit codes are esfm_exit_code()'s, documented in docs/esfm.md. */
#include "internal.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
    "usage: esfm [options] COMMAND [args]\n"
    "commands:\n"
    "  init [PF] [--vfs N] [--bitstream NAME] [--vf-driver DRV]\n"
    "  reconf PF N --bitstream NAME   re-flash PF (no VF busy), then N VFs\n"
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

/* "bitstream" and "bitstream_sha256" of the PF as ESFM flashed it; null when it never did. */
static void add_bitstream(struct esfm_ctx *ctx, cJSON *o, const char *pf)
{
    char name[ESFM_BITSTREAM_NAME_LEN], sha[65];
    if (esfm_pf_bitstream(ctx, pf, name, sha) == 0) {
        cJSON_AddStringToObject(o, "bitstream", name);
        cJSON_AddStringToObject(o, "bitstream_sha256", sha);
    } else {
        cJSON_AddNullToObject(o, "bitstream");
        cJSON_AddNullToObject(o, "bitstream_sha256");
    }
}

static int cmd_list_vfs(struct esfm_ctx *ctx, const char *pf, bool json, char *err)
{
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
            add_bitstream(ctx, o, v[i].pf);
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

static int cmd_list_vf_vm(struct esfm_ctx *ctx, bool json, char *err)
{
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

static int cmd_status(struct esfm_ctx *ctx, bool json, char *err)
{
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
            add_bitstream(ctx, e, pf[i].bdf);
            cJSON_AddItemToArray(a, e);
        }
        cJSON *c = cJSON_AddObjectToObject(o, "vfs");
        for (int s = 0; s < 3; s++)
            cJSON_AddNumberToObject(c, esfm_vf_state_name((enum esfm_vf_state)s), count[s]);
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
        for (size_t i = 0; i < npf; i++) {
            char name[ESFM_BITSTREAM_NAME_LEN], sha[65];
            bool known = esfm_pf_bitstream(ctx, pf[i].bdf, name, sha) == 0;
            printf("PF %s driver %s VFs %u/%u bitstream %s%s%s%s\n", pf[i].bdf,
                   pf[i].driver[0] ? pf[i].driver : "none", pf[i].numvfs, pf[i].totalvfs,
                   known ? name : "unknown (not flashed by esfm)", known ? " (sha256 " : "",
                   known ? sha : "", known ? ")" : "");
        }
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

static int parse_count(const char *s, int *out)
{
    unsigned v;
    if (esfm_parse_uint(s, 65535, &v))
        return -1;
    *out = (int)v;
    return 0;
}

int esfm_cli_main(int argc, char **argv, const struct esfm_sysfs_ops *sysfs_ops)
{
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
    static const struct option opts[] = {
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
    struct esfm_options o = {.log = print_line, .log_arg = stdout, .sysfs_ops = sysfs_ops};
    bool json = false;
    int nvfs = -1, c, v;
    const char *bitstream = NULL, *vf_driver = NULL, *partition = NULL;
    unsigned uid = 0;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case O_SYSFS:
            o.sysfs_root = optarg;
            break;
        case O_CONNECT:
            o.connect_uri = optarg;
            break;
        case O_POLICY:
            o.policy_path = optarg;
            break;
        case O_STATE:
            o.state_dir = optarg;
            break;
        case O_MQTT:
            o.mqtt_uri = optarg;
            break;
        case O_FORCE:
            o.force = true;
            break;
        case O_JSON:
            json = true;
            break;
        case O_BITSTREAM:
            bitstream = optarg;
            break;
        case O_VFDRV:
            vf_driver = optarg;
            break;
        case O_LIVE:
            o.hv_flags |= ESFM_HV_LIVE;
            break;
        case O_CONFIG:
            o.hv_flags |= ESFM_HV_CONFIG;
            break;
        case O_PARTITION:
            partition = optarg;
            break;
        case O_PARALLEL:
            if (parse_count(optarg, &o.parallel) || o.parallel < 1)
                return usage_error("--parallel wants a number >= 1, got '%s'", optarg);
            break;
        case O_VFS:
            if (parse_count(optarg, &nvfs))
                return usage_error("--vfs wants a VF count (0, 1, 2...), got '%s'", optarg);
            break;
        case O_TIMEOUT:
            if (parse_count(optarg, &o.detach_timeout_ms) || o.detach_timeout_ms < 1)
                return usage_error("--timeout wants milliseconds >= 1, got '%s'", optarg);
            break;
        case O_UID:
            if (parse_count(optarg, &v))
                return usage_error("--uid wants a number, got '%s'", optarg);
            uid = (unsigned)v;
            break;
        case 'h':
        case O_HELP:
            fputs(usage_text, stdout);
            return 0;
        default:
            if (c >= O_MQTT_SECURITY && c < O_MQTT_SECURITY + KF_MQTT_OPT_COUNT) {
                kf_mqtt_security_set(&o.mqtt_security, c - O_MQTT_SECURITY, optarg);
                break;
            }
            if (optopt >= '0' && optopt <= '9')
                return usage_error("counts must be whole numbers >= 0, got '%s'", argv[optind - 1]);
            return usage_error("unknown or incomplete option '%s'", argv[optind - 1]);
        }
    }
    char **a = argv + optind;
    int na = argc - optind;
    if (na < 1)
        return usage_error("%s", "no command given");
    const char *cmd = a[0];
    if (!strcmp(cmd, "list_vfs"))
        cmd = "list-vfs";
    if (!strcmp(cmd, "list_vf_vm"))
        cmd = "list-vf-vm";
    struct {
        const char *name;
        int min, max;
    } const table[] = {
        {"init", 0, 1},   {"reconf", 2, 2},    {"attach", 1, 2},     {"detach", 1, 1},
        {"pause", 1, 1},  {"unpause", 1, 1},   {"list-vfs", 0, 1},   {"list-vf-vm", 0, 0},
        {"status", 0, 0}, {"reconcile", 0, 0}, {"job-attach", 3, 3}, {"job-detach", 1, 1},
    };
    size_t t;
    for (t = 0; t < sizeof table / sizeof table[0]; t++)
        if (!strcmp(cmd, table[t].name))
            break;
    if (t == sizeof table / sizeof table[0])
        return usage_error("unknown command '%s'", cmd);
    if (na - 1 < table[t].min || na - 1 > table[t].max) {
        fprintf(stderr, "esfm: %s takes %d to %d arguments, got %d\n", cmd, table[t].min,
                table[t].max, na - 1);
        return 2;
    }
    int n = 0;
    if (!strcmp(cmd, "reconf") && parse_count(a[2], &n))
        return usage_error("the VF count must be a whole number (0, 1, 2...), got '%s'", a[2]);
    if (!strcmp(cmd, "job-attach") && (parse_count(a[3], &n) || n < 1))
        return usage_error("the VF count must be a number >= 1, got '%s'", a[3]);
    o.skip_reconcile = !strcmp(cmd, "status");

    char err[ESFM_ERR_LEN] = "";
    struct esfm_ctx *ctx = NULL;
    int rc = esfm_ctx_new(&o, &ctx, err, sizeof err);
    if (rc)
        goto out;
    if (!strcmp(cmd, "init")) {
        rc = esfm_init(ctx, na > 1 ? a[1] : NULL, nvfs, bitstream, vf_driver, err, sizeof err);
    } else if (!strcmp(cmd, "reconf") && bitstream) {
        /* Re-flashing re-creates the VFs (the seed ESFM's reconf with a bitstream): init's
         * park-flash-restore, refused while a VF of the PF is busy. */
        rc = esfm_init(ctx, a[1], n, bitstream, vf_driver, err, sizeof err);
    } else if (!strcmp(cmd, "reconf")) {
        rc = esfm_reconf(ctx, a[1], n, err, sizeof err);
    } else if (!strcmp(cmd, "attach")) {
        char vf[ESFM_BDF_LEN];
        rc = esfm_attach(ctx, na == 3 ? a[1] : NULL, a[na - 1], vf, err, sizeof err);
    } else if (!strcmp(cmd, "detach")) {
        rc = esfm_detach(ctx, a[1], err, sizeof err);
    } else if (!strcmp(cmd, "pause") || !strcmp(cmd, "unpause")) {
        bool fb;
        rc = esfm_pause(ctx, a[1], !strcmp(cmd, "pause"), &fb, err, sizeof err);
    } else if (!strcmp(cmd, "list-vfs")) {
        rc = cmd_list_vfs(ctx, na > 1 ? a[1] : NULL, json, err);
    } else if (!strcmp(cmd, "list-vf-vm")) {
        rc = cmd_list_vf_vm(ctx, json, err);
    } else if (!strcmp(cmd, "status")) {
        rc = cmd_status(ctx, json, err);
    } else if (!strcmp(cmd, "reconcile")) {
        int repaired = 0;
        rc = esfm_reconcile(ctx, &repaired, err, sizeof err);
        if (!rc)
            printf("journal: %d entr%s repaired\n", repaired, repaired == 1 ? "y" : "ies");
    } else if (!strcmp(cmd, "job-attach")) {
        struct esfm_grant *g = calloc((size_t)n, sizeof *g);
        struct esfm_job job = {.job_id = a[1], .uid = uid, .partition = partition};
        rc = g ? esfm_job_attach(ctx, &job, a[2], (unsigned)n, g, err, sizeof err) : -ENOMEM;
        for (int i = 0; !rc && i < n; i++)
            printf("%s %s %s\n", g[i].vf_bdf, g[i].alias, g[i].guest_bdf[0] ? g[i].guest_bdf : "-");
        free(g);
    } else if (!strcmp(cmd, "job-detach")) {
        rc = esfm_job_detach(ctx, a[1], err, sizeof err);
    }
out:
    esfm_ctx_free(ctx);
    if (rc) {
        fprintf(stderr, "esfm: %s: %s\n", cmd, err[0] ? err : strerror(-rc));
        return esfm_exit_code(rc);
    }
    return 0;
}
