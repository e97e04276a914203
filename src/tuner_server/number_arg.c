/* Strict number parsing for kfarm-learner's and kfarm-observer's options (see number_arg.h). */
#include "number_arg.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

int tuner_arg_size(const char *prog, const char *opt, const char *s, size_t min, size_t max,
                   size_t *out)
{
    char *end = NULL;
    unsigned long long v = 0;
    errno = 0;
    /* strtoull accepts "-1" (as a huge value) and leading blanks: want plain digits only */
    if (isdigit((unsigned char)s[0]))
        v = strtoull(s, &end, 10);
    if (!end || errno || *end || v < min || v > max) {
        fprintf(stderr, "%s: %s %s: expected a whole number from %zu to %zu\n", prog, opt, s, min,
                max);
        return -1;
    }
    *out = (size_t)v;
    return 0;
}

int tuner_arg_positive(const char *prog, const char *opt, const char *s, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (end == s || *end || errno || !isfinite(v) || !(v > 0) || v > max) {
        fprintf(stderr, "%s: %s %s: expected a number above 0 and at most %g\n", prog, opt, s,
                max);
        return -1;
    }
    *out = v;
    return 0;
}
