/* The plugin's way into libesfm: one context per prolog/epilog run, configured from
 * plugstack.conf. */
#ifndef KFARM_SPANK_ESFM_SESSION_H
#define KFARM_SPANK_ESFM_SESSION_H

#include "kfarm_spank.h"

#include <kfarm/esfm.h>

int ks_esfm_open(const struct ks_slurm *s, const struct ks_config *cfg, struct esfm_ctx **ctx,
                 char *err, size_t errlen);

#endif
