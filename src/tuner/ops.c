/* Operating points: the knowledge of a block, stored column-wise (features, knobs, metric means
 * and stddevs); any change invalidates the derived clusters, ranks and the cached decision. */
#include "tuner_private.h"

#include <stdlib.h>
#include <string.h>

void tuner_invalidate(struct tuner *t)
{
    t->solved = 0;
}

static int grow(double **p, size_t count, size_t width)
{
    /* A zero-width column (a block without features or knobs) still gets an array, so that
     * `column + op * width` never does arithmetic on a NULL pointer (undefined behaviour). */
    double *n = realloc(*p, (width ? count * width : 1) * sizeof(double));
    if (!n)
        return -ENOMEM;
    *p = n;
    return 0;
}

static int reserve(struct tuner *t, size_t want)
{
    if (want <= t->cap_ops)
        return 0;
    size_t cap = t->cap_ops ? t->cap_ops * 2 : 16;
    while (cap < want)
        cap *= 2;
    if (grow(&t->op_features, cap, t->nf) || grow(&t->op_knobs, cap, t->nk) ||
        grow(&t->op_mean, cap, t->nm) || grow(&t->op_std, cap, t->nm))
        return -ENOMEM;
    size_t *a = realloc(t->scratch_a, cap * sizeof(size_t));
    if (!a)
        return -ENOMEM;
    t->scratch_a = a;
    size_t *b = realloc(t->scratch_b, cap * sizeof(size_t));
    if (!b)
        return -ENOMEM;
    t->scratch_b = b;
    double *d = realloc(t->scratch_d, cap * sizeof(double));
    if (!d)
        return -ENOMEM;
    t->scratch_d = d;
    d = realloc(t->pos_rank, cap * sizeof(double));
    if (!d)
        return -ENOMEM;
    t->pos_rank = d;
    size_t *c = realloc(t->cl_ops, cap * sizeof(size_t));
    if (!c)
        return -ENOMEM;
    t->cl_ops = c;
    t->cap_ops = cap;
    return 0;
}

static void mark_knowledge_changed(struct tuner *t)
{
    t->clusters_dirty = 1;
    t->rank_dirty = 1;
    t->have_current = 0;
    tuner_invalidate(t);
}

int tuner_add_op(struct tuner *t, const double *features, const double *knobs, const double *means,
                 const double *stddevs)
{
    if ((t->nf && !features) || (t->nk && !knobs) || (t->nm && !means))
        return -EINVAL;
    if (reserve(t, t->n_ops + 1) < 0)
        return -ENOMEM;
    size_t i = t->n_ops;
    if (t->nf)
        memcpy(t->op_features + i * t->nf, features, t->nf * sizeof(double));
    if (t->nk)
        memcpy(t->op_knobs + i * t->nk, knobs, t->nk * sizeof(double));
    if (t->nm) {
        memcpy(t->op_mean + i * t->nm, means, t->nm * sizeof(double));
        if (stddevs)
            memcpy(t->op_std + i * t->nm, stddevs, t->nm * sizeof(double));
        else
            memset(t->op_std + i * t->nm, 0, t->nm * sizeof(double));
    }
    t->n_ops++;
    mark_knowledge_changed(t);
    return (int)i;
}

int tuner_set_op_metric(struct tuner *t, size_t op, size_t metric, double mean, double stddev)
{
    if (op >= t->n_ops || metric >= t->nm)
        return -EINVAL;
    t->op_mean[op * t->nm + metric] = mean;
    t->op_std[op * t->nm + metric] = stddev;
    /* clusters are unchanged: only ranks and the decision depend on metric values */
    t->rank_dirty = 1;
    tuner_invalidate(t);
    return 0;
}

void tuner_clear_ops(struct tuner *t)
{
    t->n_ops = 0;
    mark_knowledge_changed(t);
}

size_t tuner_n_ops(const struct tuner *t)
{
    return t->n_ops;
}

const double *tuner_op_features(const struct tuner *t, size_t op)
{
    return op < t->n_ops && t->nf ? t->op_features + op * t->nf : NULL;
}

const double *tuner_op_knobs(const struct tuner *t, size_t op)
{
    return op < t->n_ops && t->nk ? t->op_knobs + op * t->nk : NULL;
}

double tuner_op_mean(const struct tuner *t, size_t op, size_t metric)
{
    return op < t->n_ops && metric < t->nm ? t->op_mean[op * t->nm + metric] : 0.0;
}

double tuner_op_stddev(const struct tuner *t, size_t op, size_t metric)
{
    return op < t->n_ops && metric < t->nm ? t->op_std[op * t->nm + metric] : 0.0;
}
