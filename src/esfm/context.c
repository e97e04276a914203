/* Opening and closing an ESFM context: options, policy, state dir, hypervisor, MQTT, and the
 * reconciliation of crashed runs that every command does first. */
#include "hv.h"
#include "esfm_internal.h"
#include "policy.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int make_dir(const char *path, char *err, size_t errlen)
{
    if (mkdir(path, 0700) && errno != EEXIST)
        return kf_errf(err, errlen, -ENOLCK, "cannot create state dir %s: %s", path,
                       strerror(errno));
    struct stat st;
    if (stat(path, &st) || !S_ISDIR(st.st_mode))
        return kf_errf(err, errlen, -ENOLCK, "state dir %s is not a directory", path);
    /* Ownership records and journal decide what is detached: keep them private. */
    if ((st.st_mode & 0777) != 0700 && chmod(path, 0700))
        return kf_errf(err, errlen, -ENOLCK, "cannot chmod 0700 %s: %s", path, strerror(errno));
    return 0;
}

/* ESFM acts as root on sysfs, the hypervisor and every job's VFs, and takes its paths (policy,
 * state dir, sysfs root, hypervisor URI) from its caller. Run by anyone else (a setuid or
 * file-capability install, a sudo rule keeping the user's uid) it would let a user detach or
 * pause other jobs' VFs, so it refuses before touching anything. A user's own job's VFs are
 * released by Slurm (the SPANK epilog) when the job ends. */
static int caller_is_root(char *err, size_t errlen)
{
    uid_t r = getuid(), e = geteuid();
    if (r == 0 && e == 0)
        return 0;
    return kf_errf(err, errlen, -EACCES,
                   "ESFM runs only as root (real uid %u, effective uid %u): it acts on every "
                   "job's VFs, so a user may not detach, pause or release any VF; a job's VFs "
                   "are released by Slurm when the job ends (scancel it); admins run esfm as "
                   "root, never setuid",
                   (unsigned)r, (unsigned)e);
}

int esfm_ctx_new(const struct esfm_options *opt, struct esfm_ctx **out, char *err, size_t errlen)
{
    *out = NULL;
    int rc = caller_is_root(err, errlen);
    if (rc)
        return rc;
    struct esfm_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return kf_errf(err, errlen, -ENOMEM, "out of memory");
    pthread_mutex_init(&ctx->log_lock, NULL);
    ctx->sysfs_root = strdup(opt->sysfs_root ? opt->sysfs_root : "/sys");
    ctx->state_dir = strdup(opt->state_dir ? opt->state_dir : "/var/lib/esfm");
    ctx->connect_uri = opt->connect_uri ? strdup(opt->connect_uri) : NULL;
    if (!ctx->sysfs_root || !ctx->state_dir || (opt->connect_uri && !ctx->connect_uri)) {
        rc = kf_errf(err, errlen, -ENOMEM, "out of memory");
        goto fail;
    }
    size_t sl = strlen(ctx->sysfs_root);
    while (sl > 1 && ctx->sysfs_root[sl - 1] == '/')
        ctx->sysfs_root[--sl] = '\0';
    ctx->parallel = opt->parallel;
    ctx->force = opt->force;
    ctx->hv_flags = opt->hv_flags;
    ctx->detach_timeout_ms = opt->detach_timeout_ms > 0 ? opt->detach_timeout_ms : 10000;
    ctx->sysfs = opt->sysfs_ops ? *opt->sysfs_ops : esfm_sysfs_real;
    ctx->log = opt->log;
    ctx->log_arg = opt->log_arg;
    atomic_init(&ctx->steps, 0);
    const char *crash = getenv("ESFM_TEST_CRASH_AFTER_STEP");
    ctx->crash_after = crash ? strtol(crash, NULL, 10) : 0;
    const char *stop = getenv("ESFM_TEST_STOP_AFTER_STEP");
    ctx->stop_after = stop ? strtol(stop, NULL, 10) : 0;
    if (gethostname(ctx->node, sizeof ctx->node))
        snprintf(ctx->node, sizeof ctx->node, "localhost");
    char sub[600];
    if ((rc = make_dir(ctx->state_dir, err, errlen)))
        goto fail;
    snprintf(sub, sizeof sub, "%s/journal", ctx->state_dir);
    if ((rc = make_dir(sub, err, errlen)))
        goto fail;
    snprintf(sub, sizeof sub, "%s/locks", ctx->state_dir);
    if ((rc = make_dir(sub, err, errlen)))
        goto fail;
    if ((rc = esfm_policy_load(opt->policy_path, &ctx->policy, err, errlen)))
        goto fail;
    if (ctx->connect_uri && (rc = esfm_hv_open(ctx->connect_uri, &ctx->hv, err, errlen)))
        goto fail;
    if (opt->mqtt_uri && (rc = esfm_mqtt_new(opt->mqtt_uri, &opt->mqtt_security, ctx->node,
                                             &ctx->mqtt, err, errlen)))
        goto fail;
    int repaired = 0;
    if (!opt->skip_reconcile && (rc = esfm_reconcile(ctx, &repaired, err, errlen)))
        goto fail;
    *out = ctx;
    return 0;
fail:
    esfm_ctx_free(ctx);
    return rc;
}

void esfm_ctx_free(struct esfm_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->hv)
        ctx->hv->ops->close(ctx->hv);
    esfm_mqtt_free(ctx->mqtt);
    esfm_policy_free(ctx->policy);
    free(ctx->sysfs_root);
    free(ctx->state_dir);
    free(ctx->connect_uri);
    pthread_mutex_destroy(&ctx->log_lock);
    free(ctx);
}
