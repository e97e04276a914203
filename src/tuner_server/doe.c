/* Design of experiments: full factorial over small knob spaces, uniform random sampling of
 * distinct configurations over large ones (a cheap, unbiased cover mARGOt's DoE plugins offer). */
#include "doe.h"

#include <stdlib.h>
#include <string.h>

static unsigned next_rand(unsigned *s)
{
    *s = *s * 1103515245u + 12345u;
    return (*s >> 8) & 0xffffffu;
}

size_t doe_configs(const struct block_desc *d, size_t max_full, size_t samples, unsigned seed,
                   double **out)
{
    size_t nk = d->nk ? d->nk : 1, total = 1;
    int full = 1;
    for (size_t k = 0; k < d->nk; k++) {
        if (total > max_full / (d->knobs[k].n ? d->knobs[k].n : 1)) {
            full = 0;
            break;
        }
        total *= d->knobs[k].n;
    }
    if (full && total > max_full)
        full = 0;
    size_t n = full ? total : samples;
    double *c = calloc(n, nk * sizeof(double));
    if (!c)
        return 0;
    if (full) {
        for (size_t i = 0; i < n; i++) {
            size_t r = i;
            for (size_t k = d->nk; k-- > 0;) {
                c[i * nk + k] = d->knobs[k].values[r % d->knobs[k].n];
                r /= d->knobs[k].n;
            }
        }
    } else {
        size_t got = 0, tries = 0;
        while (got < n && tries++ < 100 * n) {
            double *row = c + got * nk;
            for (size_t k = 0; k < d->nk; k++)
                /* block_desc gives every knob >= 1 value */
                // NOLINTNEXTLINE(clang-analyzer-core.DivideZero)
                row[k] = d->knobs[k].values[next_rand(&seed) % d->knobs[k].n];
            size_t j = 0;
            while (j < got && memcmp(c + j * nk, row, nk * sizeof(double)))
                j++;
            if (j == got)
                got++;
        }
        n = got;
    }
    *out = c;
    return n;
}
