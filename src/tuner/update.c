/* update(): the best OP of the selected cluster under the active state's constraints and rank,
 * relaxing constraints from the lowest priority up; cached while nothing it depends on changes. */
#include "internal.h"

#include <math.h>
#include <string.h>

void tuner_rebuild_rank(struct tuner *t)
{
    t->rank_dirty = 0;
    if (t->n_states == 0) {
        for (size_t i = 0; i < t->n_ops; i++)
            t->op_rank[i] = 0;
        return;
    }
    const struct state *s = &t->states[t->active];
    double sign = s->dir == TUNER_MAXIMIZE ? -1.0 : 1.0; /* stored so that smaller is better */
    for (size_t i = 0; i < t->n_ops; i++) {
        double r = s->comb == TUNER_GEOMETRIC ? 1.0 : 0.0;
        for (size_t k = 0; k < s->n_terms; k++) {
            const struct rank_term *rt = &s->terms[k];
            double v = rt->subject == TUNER_METRIC ? t->op_mean[i * t->nm + rt->field]
                                                   : t->op_knobs[i * t->nk + rt->field];
            if (s->comb == TUNER_GEOMETRIC)
                r *= pow(v, rt->coef);
            else
                r += rt->coef * v;
        }
        t->op_rank[i] = sign * r;
    }
}

double tuner_effective_goal(const struct tuner *t, const struct constraint *c)
{
    return c->subject == TUNER_METRIC ? c->goal * t->metrics[c->field].coef : c->goal;
}

/* How far OP i is from satisfying c (<= 0: satisfied; for lt/gt 0 means "on the goal"). */
static inline double violation(const struct tuner *t, const struct constraint *c, double goal,
                               size_t i)
{
    double v, sd = 0;
    if (c->subject == TUNER_METRIC) {
        v = t->op_mean[i * t->nm + c->field];
        sd = c->confidence * t->op_std[i * t->nm + c->field];
    } else {
        v = t->op_knobs[i * t->nk + c->field];
    }
    switch (c->cmp) {
    case TUNER_LT:
    case TUNER_LE:
        return v + sd - goal;
    default:
        return goal - (v - sd);
    }
}

static inline int satisfied(enum tuner_cmp cmp, double viol)
{
    return (cmp == TUNER_LT || cmp == TUNER_GT) ? viol < 0 : viol <= 0;
}

static size_t best_by_rank(const struct tuner *t, const size_t *ops, size_t n)
{
    size_t best = ops[0];
    double r = t->op_rank[best];
    for (size_t k = 1; k < n; k++)
        if (t->op_rank[ops[k]] < r) {
            r = t->op_rank[ops[k]];
            best = ops[k];
        }
    return best;
}

static void solve(struct tuner *t, size_t cluster, struct tuner_decision *d)
{
    const size_t *ops = t->cl_ops + t->cl_start[cluster];
    size_t n = t->cl_count[cluster];
    const struct state *s = t->n_states ? &t->states[t->active] : NULL;
    size_t nc = s ? s->n_c : 0;
    double goals[64];
    const size_t max_goals = sizeof(goals) / sizeof(goals[0]);
    for (size_t k = 0; k < nc && k < max_goals; k++)
        goals[k] = tuner_effective_goal(t, &s->c[k]);
    if (nc > max_goals)
        nc = max_goals;

    /* common case first: the best-ranked OP satisfying every constraint, in one pass */
    size_t best = SIZE_MAX;
    double best_r = INFINITY;
    for (size_t k = 0; k < n; k++) {
        size_t i = ops[k];
        if (t->op_rank[i] >= best_r && best != SIZE_MAX)
            continue;
        size_t c = 0;
        while (c < nc && satisfied(s->c[c].cmp, violation(t, &s->c[c], goals[c], i)))
            c++;
        if (c == nc) {
            best = i;
            best_r = t->op_rank[i];
        }
    }
    d->relaxed = 0;
    if (best != SIZE_MAX) {
        d->op = best;
        return;
    }

    /* infeasible: apply constraints in priority order; where one cannot be met by any remaining
     * OP, keep the OPs closest to meeting it and go on with the less important ones */
    size_t *cand = t->scratch_a, *next = t->scratch_b;
    double *dist = t->scratch_d;
    memcpy(cand, ops, n * sizeof(size_t));
    d->relaxed = 1;
    for (size_t c = 0; c < nc && n > 1; c++) {
        size_t m = 0;
        double closest = INFINITY;
        for (size_t k = 0; k < n; k++) {
            double v = violation(t, &s->c[c], goals[c], cand[k]);
            dist[k] = v;
            if (satisfied(s->c[c].cmp, v))
                next[m++] = cand[k];
            else if (v < closest)
                closest = v;
        }
        if (m == 0) {
            for (size_t k = 0; k < n; k++)
                if (dist[k] <= closest)
                    next[m++] = cand[k];
            if (m == 0)
                continue; /* NaN metrics: this constraint cannot discriminate */
        }
        size_t *tmp = cand;
        cand = next;
        next = tmp;
        n = m;
    }
    d->op = best_by_rank(t, cand, n);
}

int tuner_update(struct tuner *t, const double *features, struct tuner_decision *out)
{
    size_t nf = t->nf;
    if (t->solved && (nf == 0 || !memcmp(features, t->last_features, nf * sizeof(double)))) {
        *out = t->last;
        out->changed = 0;
        return 0;
    }
    if (t->n_ops == 0)
        return -ENOENT;
    if (nf && !features)
        return -EINVAL;
    if (t->clusters_dirty) {
        tuner_rebuild_clusters(t);
        if (t->clusters_dirty)
            return -ENOMEM;
    }
    if (t->rank_dirty)
        tuner_rebuild_rank(t);

    struct tuner_decision d = {0};
    d.cluster = tuner_select_cluster(t, features);
    solve(t, d.cluster, &d);

    const double *knobs = t->op_knobs + d.op * t->nk;
    d.changed = !t->have_prev_knobs || (t->nk && memcmp(knobs, t->prev_knobs, t->nk * sizeof(double)));
    if (d.changed) {
        if (t->nk)
            memcpy(t->prev_knobs, knobs, t->nk * sizeof(double));
        t->have_prev_knobs = 1;
        tuner_reset_monitors(t);
    }
    if (nf)
        memcpy(t->last_features, features, nf * sizeof(double));
    t->last = d;
    t->solved = 1;
    t->have_current = 1;
    *out = d;
    return 0;
}
