/* FAKE Slurm for tests/spank (see fake_slurm.h). The callbacks that Slurm gives no handle to
 * (log, node name, squeue) use the current fake. */
#include "fake_slurm.h"

#include <stdio.h>
#include <string.h>

static struct fake_slurm *current;

static enum ks_context f_context(void)
{
    return current->ctx;
}

static int f_job_id(void *sp, uint32_t *id)
{
    struct fake_slurm *f = sp;
    if (f->no_ids)
        return -1;
    *id = f->job_id;
    return 0;
}

static int f_job_uid(void *sp, uid_t *uid)
{
    struct fake_slurm *f = sp;
    if (f->no_ids)
        return -1;
    *uid = f->uid;
    return 0;
}

static int f_getopt(void *sp, int which, const char **arg)
{
    struct fake_slurm *f = sp;
    *arg = f->opts[which];
    return f->opts[which] != NULL;
}

static int f_setenv(void *sp, const char *name, const char *value)
{
    struct fake_slurm *f = sp;
    size_t i;
    for (i = 0; i < f->nenv && strcmp(f->env_name[i], name); i++)
        ;
    if (i == FAKE_ENV_MAX)
        return -1;
    snprintf(f->env_name[i], sizeof f->env_name[i], "%s", name);
    snprintf(f->env_value[i], sizeof f->env_value[i], "%s", value);
    if (i == f->nenv)
        f->nenv++;
    return 0;
}

static const char *f_node(void)
{
    return current->node;
}

static const char *f_partition(void)
{
    return current->partition;
}

static int f_alive(const struct ks_config *cfg, uint32_t id)
{
    (void)cfg;
    for (size_t i = 0; i < current->nalive; i++)
        if (current->alive[i] == id)
            return 1;
    return 0;
}

static int f_gres_alloc(const struct ks_config *cfg, uint32_t id, const char *node,
                        struct ks_gres_alloc *a, char *err, size_t errlen)
{
    (void)cfg;
    (void)id;
    (void)node;
    if (current->gres_rc) {
        snprintf(err, errlen, "FAKE scontrol did not answer");
        return current->gres_rc;
    }
    *a = current->gres;
    return 0;
}

static int f_drain(const struct ks_config *cfg, const char *node, const char *reason, char *err,
                   size_t errlen)
{
    (void)cfg;
    (void)err;
    (void)errlen;
    snprintf(current->drained, sizeof current->drained, "%s: %s", node, reason);
    return 0;
}

static void append(char *buf, size_t len, const char *msg)
{
    size_t o = strlen(buf);
    snprintf(buf + o, len - o, "%s\n", msg);
}

static void f_error(const char *msg)
{
    append(current->errors, sizeof current->errors, msg);
}

static void f_info(const char *msg)
{
    append(current->infos, sizeof current->infos, msg);
}

void fake_slurm_init(struct fake_slurm *f, enum ks_context ctx, uint32_t job, uid_t uid)
{
    memset(f, 0, sizeof *f);
    f->ctx = ctx;
    f->job_id = job;
    f->uid = uid;
    f->node = "1";
    f->s = (struct ks_slurm){.sp = f,
                             .context = f_context,
                             .job_id = f_job_id,
                             .job_uid = f_job_uid,
                             .getopt = f_getopt,
                             .setenv = f_setenv,
                             .node_name = f_node,
                             .partition = f_partition,
                             .job_alive = f_alive,
                             .gres_alloc = f_gres_alloc,
                             .drain_node = f_drain,
                             .error = f_error,
                             .info = f_info};
    current = f;
}

const char *fake_slurm_env(const struct fake_slurm *f, const char *name)
{
    for (size_t i = 0; i < f->nenv; i++)
        if (strcmp(f->env_name[i], name) == 0)
            return f->env_value[i];
    return NULL;
}
