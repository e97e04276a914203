/* slurmstepd side (remote context), for every step: reads the prolog's record as root at init,
 * exports KFARM_VF_BDFS / KFARM_ACCEL / KFARM_ACCEL_REASON to the tasks, and with
 * --fpga-fallback=fail keeps the tasks from starting without their VFs. Never attaches. */
#include "kfarm_spank.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* What the tasks and slurmd's log say when the job prolog left nothing for this job. */
static const char NO_RECORD[] =
    "no FPGA VF was attached on this node: the job prolog left no record (admin: look for kfarm: "
    "lines in slurmd's log; the plugin must be in plugstack.conf on every node)";

int ks_remote_init(const struct ks_slurm *s, const struct ks_config *cfg, struct ks_remote *rm)
{
    uint32_t id;
    char err[KS_ERR_LEN];
    memset(rm, 0, sizeof *rm);
    if (s->job_id(s->sp, &id)) {
        /* Failing slurmstepd's init would fail the step (a batch step may drain the node). */
        ks_errorf(s, "kfarm: Slurm did not give the job id to slurmstepd; no KFARM_* variables");
        return 0;
    }
    rm->job_id = id;
    rm->vm_node = ks_config_vm(cfg);
    int rc = ks_record_read(cfg->state_dir, id, &rm->rec, err, sizeof err);
    if (rc == 0)
        rm->have_record = true;
    else if (rc != -ENOENT)
        ks_errorf(s, "kfarm: %s", err);
    return 0;
}

int ks_remote_user_init(const struct ks_slurm *s, const struct ks_request *req,
                        struct ks_remote *rm)
{
    if (!rm->have_record && !req->nvfs)
        return 0; /* the job asked for no VFs: leave its environment alone */
    const struct ks_record *r = &rm->rec;
    bool accel = rm->have_record && r->accel;
    const char *reason = rm->have_record ? r->reason : NO_RECORD;
    if (!rm->have_record)
        ks_errorf(s, "kfarm: job %" PRIu32 ": %s", rm->job_id, NO_RECORD);
    enum ks_fallback fb = rm->have_record ? r->fallback : req->fallback;
    if (s->setenv(s->sp, "KFARM_ACCEL", accel ? "1" : "0") ||
        s->setenv(s->sp, "KFARM_VF_BDFS", accel ? r->guest_bdfs : "") ||
        s->setenv(s->sp, "KFARM_ACCEL_REASON", accel ? "" : reason)) {
        /* Failing here would fail the step in slurmstepd (and may drain the node for a batch
         * step); the tasks then simply lack the variables and the workers use the CPU. */
        ks_errorf(s, "kfarm: cannot set the job's KFARM_* environment");
    }
    /* mode=vm: the VF identity's node (ESFM publishes kfarm/accel/<node>/<guest BDF>). */
    const char *node = s->node_name();
    if (accel && rm->vm_node && node && s->setenv(s->sp, "KFARM_ACCEL_NODE", node))
        ks_errorf(s, "kfarm: cannot set KFARM_ACCEL_NODE");
    if (!accel && fb == KS_FALLBACK_FAIL) {
        rm->refuse = true;
        snprintf(rm->message, sizeof rm->message,
                 "kfarm: the job asked for FPGA VFs with --fpga-fallback=fail and got none: %s",
                 reason);
    }
    return 0;
}

int ks_remote_task_init(const struct ks_slurm *s, const struct ks_remote *rm)
{
    if (!rm->refuse)
        return 0;
    /* The task's stderr is the job's: the user reads why here. A failing task fails the step
     * (and the batch job) without draining the node. */
    fprintf(stderr, "%s\n", rm->message);
    fflush(stderr);
    ks_errorf(s, "%s", rm->message);
    return -1;
}
