/* Design of experiments for kfarm-learner: which knob configurations to measure. */
#ifndef KFARM_TUNER_DOE_H
#define KFARM_TUNER_DOE_H

#include "block_desc.h"

/* Full factorial when the knob space has at most max_full configurations, else `samples`
 * distinct configurations drawn uniformly (seeded). *out: n * nk values (malloc'd).
 * Returns n, or 0 on allocation failure. */
size_t doe_configs(const struct block_desc *d, size_t max_full, size_t samples, unsigned seed,
                   double **out);

#endif
