/* Statistics over the per-sample travel times both variants produce: route means for the
 * monte-carlo answer, and mean, standard deviation and percentiles for ptdr-stats. */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ptdr.h"

double ptdr_route_mean(const float *times, uint32_t samples)
{
    double sum = 0.0;
    for (uint32_t s = 0; s < samples; s++)
        sum += times[s];
    return sum / samples;
}

uint32_t ptdr_best_route(const float *times, uint32_t n_routes, uint32_t samples)
{
    uint32_t best = 0;
    double best_mean = INFINITY;
    for (uint32_t r = 0; r < n_routes; r++) {
        double m = ptdr_route_mean(times + (size_t)r * samples, samples);
        if (m < best_mean) {
            best_mean = m;
            best = r;
        }
    }
    return best;
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted values: the smallest value with at least p of the samples
 * at or below it. */
static double percentile(const float *sorted, uint32_t n, double p)
{
    double rank = ceil(p * n);
    uint32_t i = rank < 1 ? 0 : (uint32_t)rank - 1;
    return sorted[i < n ? i : n - 1];
}

int ptdr_route_stats(const float *times, uint32_t samples, struct ptdr_route_stats *st)
{
    float *sorted = malloc(samples * sizeof(*sorted));
    if (!sorted)
        return -ENOMEM;
    memcpy(sorted, times, samples * sizeof(*sorted));
    qsort(sorted, samples, sizeof(*sorted), cmp_float);
    st->mean = ptdr_route_mean(times, samples);
    double ss = 0.0;
    for (uint32_t s = 0; s < samples; s++)
        ss += (times[s] - st->mean) * (times[s] - st->mean);
    st->stddev = samples > 1 ? sqrt(ss / (samples - 1)) : 0.0;
    st->p05 = percentile(sorted, samples, 0.05);
    st->p50 = percentile(sorted, samples, 0.50);
    st->p95 = percentile(sorted, samples, 0.95);
    free(sorted);
    return 0;
}
