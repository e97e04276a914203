/* The plugin's way into libesfm: one context per prolog/epilog run, configured from
 * plugstack.conf. */
#ifndef KFARM_SPANK_ESFM_SESSION_H
#define KFARM_SPANK_ESFM_SESSION_H

#include "kfarm_spank.h"

#include <kfarm/esfm.h>

int ks_esfm_open(const struct ks_slurm *s, const struct ks_config *cfg, struct esfm_ctx **ctx,
                 char *err, size_t errlen);

/* bitstream_match.c: 0 when the node's PF runs `want` (or ESFM never flashed it), after a
 * re-flash when cfg->reflash allows it and no VF of the PF is in use; <0 with why. */
int ks_bitstream_ready(const struct ks_slurm *s, const struct ks_config *cfg, struct esfm_ctx *ctx,
                       const char *want, char *err, size_t errlen);

#endif
