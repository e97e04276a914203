/* The --fpga-vfs, --fpga-bitstream and --fpga-fallback options: their table, their callbacks,
 * and the syntax checks shared by every context (the policy checks are in local.c). */
#include "kfarm_spank.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <slurm/spank.h>

static struct ks_request request = {.fallback = KS_FALLBACK_CPU};
static const struct ks_config *config; /* set by slurm_spank_init before any option callback */

void ks_args_set_config(const struct ks_config *cfg)
{
    config = cfg;
}

struct ks_request *ks_args_request(void)
{
    return &request;
}

const char *ks_fallback_name(enum ks_fallback f)
{
    return f == KS_FALLBACK_FAIL ? "fail" : "cpu";
}

int ks_parse_vfs(const char *s, unsigned *out, char *err, size_t errlen)
{
    char *end = NULL;
    long v;
    if (!s || !*s)
        goto bad;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || *end || s[0] < '0' || s[0] > '9' || v < 1 || v > INT_MAX)
        goto bad; /* the upper bound is the policy's: local.c checks it with the policy */
    *out = (unsigned)v;
    return 0;
bad:
    snprintf(err, errlen,
             "--fpga-vfs=%s is not allowed: give a whole number of FPGA VFs per node, 1 or more "
             "(up to the site's per-job limit), or leave the option out",
             s ? s : "");
    return -EINVAL;
}

int ks_parse_bitstream(const char *s, char *out, size_t outlen, char *err, size_t errlen)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n >= outlen || n >= 64)
        goto bad;
    for (size_t i = 0; i < n; i++)
        if (!(s[i] == '-' || s[i] == '_' || s[i] == '.' || (s[i] >= '0' && s[i] <= '9') ||
              (s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z')))
            goto bad;
    memcpy(out, s, n + 1);
    return 0;
bad:
    snprintf(err, errlen,
             "--fpga-bitstream=%s is not allowed: give the name of a bitstream the site's ESFM "
             "policy allow-lists (1-63 characters of A-Z a-z 0-9 . _ -)",
             s ? s : "");
    return -EINVAL;
}

int ks_parse_fallback(const char *s, enum ks_fallback *out, char *err, size_t errlen)
{
    if (s && strcmp(s, "cpu") == 0) {
        *out = KS_FALLBACK_CPU;
        return 0;
    }
    if (s && strcmp(s, "fail") == 0) {
        *out = KS_FALLBACK_FAIL;
        return 0;
    }
    snprintf(err, errlen,
             "--fpga-fallback=%s is not allowed: use cpu (run without the accelerator when no VF "
             "can be had) or fail (do not start the tasks)",
             s ? s : "");
    return -EINVAL;
}

int ks_parse_option(struct ks_request *req, int which, const char *arg, char *err, size_t errlen)
{
    switch (which) {
    case KS_OPT_VFS:
        return ks_parse_vfs(arg, &req->nvfs, err, errlen);
    case KS_OPT_BITSTREAM:
        return ks_parse_bitstream(arg, req->bitstream, sizeof req->bitstream, err, errlen);
    case KS_OPT_FALLBACK:
        return ks_parse_fallback(arg, &req->fallback, err, errlen);
    default:
        snprintf(err, errlen, "unknown option %d", which);
        return -EINVAL;
    }
}

/* Slurm calls this for each option given, in every context that parses options; a negative
 * return makes srun/sbatch/salloc exit before anything is queued. */
static void report_stderr(const char *msg)
{
    fprintf(stderr, "%s\n", msg);
}

void (*ks_args_report)(const char *msg) = report_stderr;

/* The policy is checked here too, not only in init_post_opt: Slurm ignores a failing
 * init_post_opt of a plugin listed `optional` in plugstack.conf, but a failing option callback
 * stops srun/sbatch/salloc however the plugin is listed. slurmstepd (remote) only parses. */
static int option_cb(int val, const char *optarg, int remote)
{
    char err[KS_ERR_LEN], msg[KS_ERR_LEN + 8];
    if (ks_parse_option(&request, val, optarg, err, sizeof err) == 0 &&
        (remote || !config || ks_check_option(config, &request, val, err, sizeof err) == 0))
        return 0;
    snprintf(msg, sizeof msg, "kfarm: %s", err);
    ks_args_report(msg);
    return -1;
}

struct spank_option ks_spank_options[] = {
    {"fpga-vfs", "N", "Attach N FPGA virtual functions to each node's VM for the job [kfarm]", 1,
     KS_OPT_VFS, option_cb},
    {"fpga-bitstream", "NAME", "FPGA bitstream the job needs (allow-listed by the site) [kfarm]", 1,
     KS_OPT_BITSTREAM, option_cb},
    {"fpga-fallback", "cpu|fail",
     "When no FPGA VF can be had: run on CPU (default) or fail the job's tasks [kfarm]", 1,
     KS_OPT_FALLBACK, option_cb},
    SPANK_OPTIONS_TABLE_END,
};

int ks_args_from_job(const struct ks_slurm *s, struct ks_request *req, char *err, size_t errlen)
{
    for (int i = 0; i < KS_OPT_COUNT; i++) {
        const char *arg = NULL;
        int found = s->getopt(s->sp, i, &arg);
        if (found < 0) {
            snprintf(err, errlen, "cannot read option %d of the job", i);
            return -EINVAL;
        }
        int rc;
        if (found && (rc = ks_parse_option(req, i, arg, err, errlen)))
            return rc;
    }
    return 0;
}
