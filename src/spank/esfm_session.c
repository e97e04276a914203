/* Opens libesfm with the plugstack configuration, logging ESFM's report lines through Slurm.
 * Used by the job prolog (attach, stale cleanup) and the epilog (detach). */
#include "esfm_session.h"

#include <stdio.h>

static void log_line(void *arg, const char *line)
{
    ks_infof(arg, "kfarm: esfm: %s", line);
}

int ks_esfm_open(const struct ks_slurm *s, const struct ks_config *cfg, struct esfm_ctx **ctx,
                 char *err, size_t errlen)
{
    struct esfm_options o = {
        .sysfs_root = cfg->sysfs_root[0] ? cfg->sysfs_root : NULL,
        .connect_uri = cfg->hypervisor,
        .policy_path = cfg->policy[0] ? cfg->policy : NULL,
        .state_dir = cfg->esfm_state_dir,
        .mqtt_uri = cfg->mqtt[0] ? cfg->mqtt : NULL,
        .log = log_line,
        .log_arg = (void *)s,
    };
    ks_config_mqtt_security(cfg, &o.mqtt_security);
    return esfm_ctx_new(&o, ctx, err, errlen);
}
