/* The thin wrapper over Slurm's SPANK API: the only file besides plugin.c that calls spank_* or
 * slurm_*; the context handlers get it as a struct ks_slurm (tests/spank fakes it). */
#include "slurm_api.h"

#include <stdlib.h>
#include <string.h>

#include <slurm/spank.h>

static enum ks_context real_context(void)
{
    switch (spank_context()) {
    case S_CTX_LOCAL:
        return KS_CTX_LOCAL;
    case S_CTX_ALLOCATOR:
        return KS_CTX_ALLOCATOR;
    case S_CTX_REMOTE:
        return KS_CTX_REMOTE;
    case S_CTX_JOB_SCRIPT:
        return KS_CTX_JOB_SCRIPT;
    default:
        return KS_CTX_OTHER;
    }
}

static int real_job_id(void *sp, uint32_t *id)
{
    return spank_get_item(sp, S_JOB_ID, id) == ESPANK_SUCCESS ? 0 : -1;
}

static int real_job_uid(void *sp, uid_t *uid)
{
    return spank_get_item(sp, S_JOB_UID, uid) == ESPANK_SUCCESS ? 0 : -1;
}

static int real_getopt(void *sp, int which, const char **arg)
{
    char *a = NULL;
    spank_err_t rc = spank_option_getopt(sp, &ks_spank_options[which], &a);
    *arg = a;
    return rc == ESPANK_SUCCESS ? 1 : 0;
}

static int real_setenv(void *sp, const char *name, const char *value)
{
    return spank_setenv(sp, name, value, 1) == ESPANK_SUCCESS ? 0 : -1;
}

/* slurmd sets these in the prolog/epilog environment itself (after the user's SPANK_ variables),
 * so the job cannot forge them. */
static const char *real_node_name(void)
{
    return getenv("SLURMD_NODENAME");
}

static const char *real_partition(void)
{
    return getenv("SLURM_JOB_PARTITION");
}

static void real_error(const char *msg)
{
    slurm_error("%s", msg);
}

static void real_info(const char *msg)
{
    slurm_info("%s", msg);
}

void ks_slurm_real(struct ks_slurm *s, void *sp)
{
    *s = (struct ks_slurm){
        .sp = sp,
        .context = real_context,
        .job_id = real_job_id,
        .job_uid = real_job_uid,
        .getopt = real_getopt,
        .setenv = real_setenv,
        .node_name = real_node_name,
        .partition = real_partition,
        .job_alive = ks_job_alive_squeue,
        .gres_alloc = ks_gres_alloc_scontrol,
        .drain_node = ks_drain_node_scontrol,
        .error = real_error,
        .info = real_info,
    };
    ks_args_report = real_error;
}

int ks_slurm_register_options(const struct ks_slurm *s)
{
    for (int i = 0; i < KS_OPT_COUNT; i++) {
        spank_err_t rc = spank_option_register(s->sp, &ks_spank_options[i]);
        if (rc != ESPANK_SUCCESS) {
            ks_errorf(s, "kfarm: cannot register --%s: %s", ks_spank_options[i].name,
                      spank_strerror(rc));
            return -1;
        }
    }
    return 0;
}
