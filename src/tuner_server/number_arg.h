/* Strict parsing of the numbers the learner's and observer's options take: a typo such as
 * "--samples l6" is refused with the option's name and range, never read as 0. */
#ifndef KFARM_TUNER_NUMBER_ARG_H
#define KFARM_TUNER_NUMBER_ARG_H

#include <stddef.h>

/* *out = s as a whole number in [min, max]; 0, or -1 after printing "PROG: OPT S: ..." to stderr */
int tuner_arg_size(const char *prog, const char *opt, const char *s, size_t min, size_t max,
                   size_t *out);
/* *out = s as a finite number in (0, max]; 0, or -1 after printing the reason to stderr */
int tuner_arg_positive(const char *prog, const char *opt, const char *s, double max, double *out);

#endif
