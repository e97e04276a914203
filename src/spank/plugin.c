/* spank_kfarm.so entry points: each slurm_spank_* callback switches on the SPANK context and
 * hands over to local.c (srun/sbatch/salloc), prolog.c/epilog.c (slurmd) or remote.c (stepd). */
#include "slurm_api.h"

#include <slurm/spank.h>
#include <unistd.h>

SPANK_PLUGIN(kfarm, 1);

/* Slurm loads the plugin once per process and calls back without a user pointer: the state of
 * this process lives here. */
static struct {
    struct ks_config cfg;
    struct ks_remote remote;
} plugin;

/* Every callback gets the plugstack arguments, and Slurm does not call slurm_spank_init in the
 * prolog/epilog process: each callback parses them. */
static int load_config(const struct ks_slurm *s, int ac, char **av)
{
    char err[KS_ERR_LEN];
    if (ks_config_parse(ac, av, &plugin.cfg, err, sizeof err) == 0) {
        ks_args_set_config(&plugin.cfg);
        return 0;
    }
    ks_errorf(s, "kfarm: %s", err);
    return -1;
}

int slurm_spank_init(spank_t sp, int ac, char **av)
{
    struct ks_slurm s;
    ks_slurm_real(&s, sp);
    if (load_config(&s, ac, av))
        return -1;
    switch (s.context()) {
    case KS_CTX_LOCAL:
    case KS_CTX_ALLOCATOR:
        return ks_slurm_register_options(&s);
    case KS_CTX_REMOTE:
        if (ks_slurm_register_options(&s))
            return -1;
        return ks_remote_init(&s, &plugin.cfg, &plugin.remote);
    default:
        return 0;
    }
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av)
{
    struct ks_slurm s;
    ks_slurm_real(&s, sp);
    if (load_config(&s, ac, av))
        return -1;
    switch (s.context()) {
    case KS_CTX_LOCAL:
    case KS_CTX_ALLOCATOR:
        return ks_local_check(&s, &plugin.cfg, ks_args_request());
    default:
        return 0;
    }
}

/* The prolog and epilog run in a fresh `slurmstepd spank prolog|epilog` process where no option
 * callback runs: the options come from the job's SPANK environment through getopt. */
static int job_script(spank_t sp, int ac, char **av, bool prolog)
{
    struct ks_slurm s;
    struct ks_request req = {.fallback = KS_FALLBACK_CPU};
    char err[KS_ERR_LEN];
    ks_slurm_real(&s, sp);
    if (s.context() != KS_CTX_JOB_SCRIPT)
        return 0;
    if (load_config(&s, ac, av))
        return 0; /* a failing prolog/epilog drains the node; the error is in slurmd's log */
    if (ks_args_from_job(&s, &req, err, sizeof err)) {
        /* srun/sbatch checked these already; never fail (drain) the node over them. */
        ks_errorf(&s, "kfarm: %s", err);
        req.nvfs = 0;
    }
    return prolog ? ks_prolog(&s, &plugin.cfg, &req) : ks_epilog(&s, &plugin.cfg, &req);
}

int slurm_spank_job_prolog(spank_t sp, int ac, char **av)
{
    return job_script(sp, ac, av, true);
}

int slurm_spank_job_epilog(spank_t sp, int ac, char **av)
{
    return job_script(sp, ac, av, false);
}

int slurm_spank_user_init(spank_t sp, int ac, char **av)
{
    (void)ac;
    (void)av;
    struct ks_slurm s;
    ks_slurm_real(&s, sp);
    if (s.context() != KS_CTX_REMOTE)
        return 0;
    return ks_remote_user_init(&s, ks_args_request(), &plugin.remote);
}

int slurm_spank_task_init(spank_t sp, int ac, char **av)
{
    (void)ac;
    (void)av;
    struct ks_slurm s;
    ks_slurm_real(&s, sp);
    if (s.context() != KS_CTX_REMOTE)
        return 0;
    if (ks_remote_task_init(&s, &plugin.remote) == 0)
        return 0;
    /* This runs in the task's own process, before its exec. Slurm stops the task on a failing
     * task_init only when the plugin is listed `required`; for an `optional` one it would run
     * the task anyway. --fpga-fallback=fail must hold either way: end the task as Slurm does
     * for a required plugin (exit status 1, the job ends FAILED). */
    _exit(1);
}
