/* Feature clusters: OPs sharing a feature vector form a cluster; the input's features select the
 * nearest valid cluster (per-field le/ge/- validity, euclidean or normalized distance). */
#include "tuner_private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void tuner_rebuild_clusters(struct tuner *t)
{
    size_t nf = t->nf, n = t->n_ops;
    free(t->cl_features);
    free(t->cl_start);
    free(t->cl_count);
    t->cl_features = NULL;
    t->cl_start = t->cl_count = NULL;
    t->n_clusters = 0;
    t->clusters_dirty = 0;
    if (n == 0)
        return;
    size_t *of = malloc(n * sizeof(size_t)); /* cluster of each OP */
    t->cl_features = malloc((nf ? nf : 1) * n * sizeof(double));
    t->cl_start = calloc(n, sizeof(size_t));
    t->cl_count = calloc(n, sizeof(size_t));
    if (!of || !t->cl_features || !t->cl_start || !t->cl_count) {
        free(of);
        t->clusters_dirty = 1; /* retried on the next update */
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const double *f = t->op_features + i * nf;
        size_t c = 0;
        while (c < t->n_clusters && nf && memcmp(t->cl_features + c * nf, f, nf * sizeof(double)))
            c++;
        if (c == t->n_clusters) {
            if (nf)
                memcpy(t->cl_features + c * nf, f, nf * sizeof(double));
            t->n_clusters++;
        }
        of[i] = c;
        t->cl_count[c]++;
    }
    size_t pos = 0;
    for (size_t c = 0; c < t->n_clusters; c++) {
        t->cl_start[c] = pos;
        pos += t->cl_count[c];
        t->cl_count[c] = 0;
    }
    for (size_t i = 0; i < n; i++) {
        size_t c = of[i];
        t->cl_ops[t->cl_start[c] + t->cl_count[c]++] = i;
    }
    for (size_t j = 0; j < nf; j++) {
        double lo = INFINITY, hi = -INFINITY;
        for (size_t c = 0; c < t->n_clusters; c++) {
            double v = t->cl_features[c * nf + j];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        t->cl_range[j] = hi > lo ? hi - lo : 1.0;
    }
    free(of);
}

static double distance(const struct tuner *t, const double *a, const double *b)
{
    double d = 0;
    for (size_t j = 0; j < t->nf; j++) {
        double x = a[j] - b[j];
        if (t->distance == TUNER_NORMALIZED)
            x /= t->cl_range[j];
        d += x * x;
    }
    return d;
}

static int valid(const struct tuner *t, const double *cluster, const double *input)
{
    for (size_t j = 0; j < t->nf; j++) {
        if (t->features[j].cmp == TUNER_LE && !(cluster[j] <= input[j]))
            return 0;
        if (t->features[j].cmp == TUNER_GE && !(cluster[j] >= input[j]))
            return 0;
    }
    return 1;
}

/* The nearest valid cluster; when no cluster is valid, the nearest one (better than nothing:
 * the caller asked for a decision). */
size_t tuner_select_cluster(const struct tuner *t, const double *features)
{
    if (t->nf == 0 || t->n_clusters <= 1)
        return 0;
    size_t best = 0, best_any = 0;
    double best_d = INFINITY, best_any_d = INFINITY;
    for (size_t c = 0; c < t->n_clusters; c++) {
        const double *cf = t->cl_features + c * t->nf;
        double d = distance(t, cf, features);
        if (d < best_any_d) {
            best_any_d = d;
            best_any = c;
        }
        if (d < best_d && valid(t, cf, features)) {
            best_d = d;
            best = c;
        }
    }
    return best_d < INFINITY ? best : best_any;
}
