/* A FAKE Slurm behind struct ks_slurm for the cmocka tests: job identity, the job's options,
 * the environment the tasks would get, which jobs squeue says still run, and the log. */
#ifndef KFARM_TEST_FAKE_SLURM_H
#define KFARM_TEST_FAKE_SLURM_H

#include "kfarm_spank.h"

#define FAKE_ENV_MAX 8

struct fake_slurm {
    struct ks_slurm s;
    enum ks_context ctx;
    uint32_t job_id;
    uid_t uid;
    bool no_ids;                    /* spank_get_item fails */
    const char *opts[KS_OPT_COUNT]; /* NULL: option not given */
    const char *node, *partition;
    uint32_t alive[8]; /* jobs squeue reports running */
    size_t nalive;
    struct ks_gres_alloc gres; /* what FAKE scontrol show job -d says Slurm allocated here */
    int gres_rc;               /* <0: FAKE scontrol fails */
    char drained[KS_ERR_LEN + 64]; /* "node: reason" once drain_node was called */
    size_t nenv;
    char env_name[FAKE_ENV_MAX][32], env_value[FAKE_ENV_MAX][KS_ERR_LEN + 64];
    char errors[8192], infos[8192];
};

/* Resets f to job `job` of uid `uid` on node "1" and makes it the current fake. */
void fake_slurm_init(struct fake_slurm *f, enum ks_context ctx, uint32_t job, uid_t uid);
/* The value the tasks would see, or NULL when it was not set. */
const char *fake_slurm_env(const struct fake_slurm *f, const char *name);

#endif
