/* Robust statistics for calibration and learning: median, MAD-based outlier rejection, and the
 * power-of-two feature bucketing that selector, learner and observer share. */
#include "tuner_private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median_sorted(const double *v, size_t n)
{
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int tuner_robust_stats(double *v, size_t n, double k, struct tuner_stats *out)
{
    if (n == 0)
        return -EINVAL;
    qsort(v, n, sizeof(double), cmp_double);
    double med = median_sorted(v, n);
    double *dev = malloc(n * sizeof(double));
    if (!dev)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++)
        dev[i] = fabs(v[i] - med);
    qsort(dev, n, sizeof(double), cmp_double);
    /* 1.4826 * MAD estimates sigma for normal data */
    double mad = 1.4826 * median_sorted(dev, n);
    if (mad == 0) {
        /* more than half the samples are identical (timer granularity): fall back to the mean
         * absolute deviation so that a lone spike is still rejected */
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += dev[i];
        mad = 1.2533 * s / (double)n;
    }
    free(dev);
    double sum = 0, sum2 = 0;
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && mad > 0 && fabs(v[i] - med) > k * mad)
            continue;
        sum += v[i];
        kept++;
    }
    double mean = sum / (double)kept;
    for (size_t i = 0; i < n; i++) {
        if (k > 0 && mad > 0 && fabs(v[i] - med) > k * mad)
            continue;
        sum2 += (v[i] - mean) * (v[i] - mean);
    }
    out->mean = mean;
    out->stddev = kept > 1 ? sqrt(sum2 / (double)(kept - 1)) : 0.0;
    out->kept = kept;
    out->dropped = n - kept;
    return 0;
}

double tuner_feature_bucket(double x)
{
    if (x == 0 || !isfinite(x))
        return 0;
    double e = round(log2(fabs(x)));
    return copysign(exp2(e), x);
}
