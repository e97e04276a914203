/* The real Slurm behind struct ks_slurm (slurm_api.c), used by plugin.c only. */
#ifndef KFARM_SPANK_SLURM_API_H
#define KFARM_SPANK_SLURM_API_H

#include "kfarm_spank.h"

void ks_slurm_real(struct ks_slurm *s, void *sp);
int ks_slurm_register_options(const struct ks_slurm *s);

#endif
