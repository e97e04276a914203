/* update(): the best OP of the selected cluster under the active state's constraints and rank,
 * relaxing constraints from the lowest priority up; cached while nothing it depends on changes. */
#include "tuner_private.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static int is_upper(enum tuner_cmp c)
{
    return c == TUNER_LT || c == TUNER_LE;
}

/* Per-OP values laid out by cluster position so that a decision scans contiguous arrays:
 * the rank and, for each constraint, mean +- confidence * stddev (negated for lower bounds). */
int tuner_rebuild_derived(struct tuner *t)
{
    const struct state *s = t->n_states ? &t->states[t->active] : NULL;
    size_t nc = s ? s->n_c : 0, n = t->n_ops;
    if (nc * n > t->cv_cap) {
        double *cv = realloc(t->cv, nc * n * sizeof(double));
        if (!cv)
            return -ENOMEM;
        t->cv = cv;
        t->cv_cap = nc * n;
    }
    double sign = s && s->dir == TUNER_MAXIMIZE ? -1.0 : 1.0;
    for (size_t p = 0; p < n; p++) {
        size_t i = t->cl_ops[p];
        double r = s && s->comb == TUNER_GEOMETRIC ? 1.0 : 0.0;
        for (size_t k = 0; s && k < s->n_terms; k++) {
            const struct rank_term *rt = &s->terms[k];
            double v = rt->subject == TUNER_METRIC ? t->op_mean[i * t->nm + rt->field]
                                                   : t->op_knobs[i * t->nk + rt->field];
            if (s->comb == TUNER_GEOMETRIC)
                r *= pow(v, rt->coef);
            else
                r += rt->coef * v;
        }
        t->pos_rank[p] = sign * r;
        for (size_t c = 0; c < nc; c++) {
            const struct constraint *k = &s->c[c];
            double v, sd = 0;
            if (k->subject == TUNER_METRIC) {
                v = t->op_mean[i * t->nm + k->field];
                sd = k->confidence * t->op_std[i * t->nm + k->field];
            } else {
                v = t->op_knobs[i * t->nk + k->field];
            }
            t->cv[c * n + p] = is_upper(k->cmp) ? v + sd : -(v - sd);
        }
    }
    t->rank_dirty = 0;
    return 0;
}

double tuner_effective_goal(const struct tuner *t, const struct constraint *c)
{
    return c->subject == TUNER_METRIC ? c->goal * t->metrics[c->field].coef : c->goal;
}

static size_t best_by_rank(const struct tuner *t, const size_t *pos, size_t n)
{
    size_t best = pos[0];
    double r = t->pos_rank[best];
    for (size_t k = 1; k < n; k++)
        if (t->pos_rank[pos[k]] < r) {
            r = t->pos_rank[pos[k]];
            best = pos[k];
        }
    return best;
}

/* Returns the chosen position. */
static size_t solve(struct tuner *t, size_t cluster, int *relaxed)
{
    size_t start = t->cl_start[cluster], n = t->cl_count[cluster], all = t->n_ops;
    const struct state *s = t->n_states ? &t->states[t->active] : NULL;
    size_t nc = s ? s->n_c : 0;
    const double *rank = t->pos_rank + start;
    *relaxed = 0;

    /* common case: feasibility mask constraint by constraint (contiguous, vectorisable), then
     * the best rank among the feasible */
    unsigned char *ok = (unsigned char *)t->scratch_d; /* n bytes fit in n doubles */
    memset(ok, 1, n);
    for (size_t c = 0; c < nc; c++) {
        const double *v = t->cv + c * all + start;
        double g = tuner_effective_goal(t, &s->c[c]);
        if (!is_upper(s->c[c].cmp))
            g = -g;
        if (s->c[c].cmp == TUNER_LT || s->c[c].cmp == TUNER_GT)
            for (size_t k = 0; k < n; k++)
                ok[k] &= v[k] < g;
        else
            for (size_t k = 0; k < n; k++)
                ok[k] &= v[k] <= g;
    }
    size_t best = SIZE_MAX;
    double best_r = INFINITY;
    for (size_t k = 0; k < n; k++)
        if (ok[k] && (rank[k] < best_r || best == SIZE_MAX)) {
            best_r = rank[k];
            best = k;
        }
    if (best != SIZE_MAX)
        return start + best;

    /* infeasible: apply constraints in priority order; where one cannot be met by any remaining
     * OP, keep the OPs closest to meeting it and go on with the less important ones */
    *relaxed = 1;
    size_t *cand = t->scratch_a, *next = t->scratch_b;
    for (size_t k = 0; k < n; k++)
        cand[k] = start + k;
    for (size_t c = 0; c < nc && n > 1; c++) {
        const double *v = t->cv + c * all;
        double g = tuner_effective_goal(t, &s->c[c]);
        if (!is_upper(s->c[c].cmp))
            g = -g;
        int strict = s->c[c].cmp == TUNER_LT || s->c[c].cmp == TUNER_GT;
        size_t m = 0;
        double closest = INFINITY;
        for (size_t k = 0; k < n; k++) {
            double viol = v[cand[k]] - g;
            if (strict ? viol < 0 : viol <= 0)
                next[m++] = cand[k];
            else if (viol < closest)
                closest = viol;
        }
        if (m == 0) {
            for (size_t k = 0; k < n; k++)
                if (v[cand[k]] - g <= closest)
                    next[m++] = cand[k];
            if (m == 0)
                continue; /* NaN metrics: this constraint cannot discriminate */
        }
        size_t *tmp = cand;
        cand = next;
        next = tmp;
        n = m;
    }
    return best_by_rank(t, cand, n);
}

int tuner_update(struct tuner *t, const double *features, struct tuner_decision *out)
{
    size_t nf = t->nf;
    if (nf && !features)
        return -EINVAL;
    if (t->solved && (nf == 0 || !memcmp(features, t->last_features, nf * sizeof(double)))) {
        *out = t->last;
        out->changed = 0;
        return 0;
    }
    if (t->n_ops == 0)
        return -ENOENT;
    if (t->clusters_dirty) {
        tuner_rebuild_clusters(t);
        if (t->clusters_dirty)
            return -ENOMEM;
        t->rank_dirty = 1;
    }
    if (t->rank_dirty && tuner_rebuild_derived(t) < 0)
        return -ENOMEM;

    struct tuner_decision d = {0};
    d.cluster = tuner_select_cluster(t, features);
    if (t->solved && d.cluster == t->last.cluster) {
        /* only the features moved, within the same cluster: the decision stands */
        memcpy(t->last_features, features, nf * sizeof(double));
        *out = t->last;
        out->changed = 0;
        return 0;
    }
    d.op = t->cl_ops[solve(t, d.cluster, &d.relaxed)];

    const double *knobs = t->op_knobs + d.op * t->nk;
    d.changed =
        !t->have_prev_knobs || (t->nk && memcmp(knobs, t->prev_knobs, t->nk * sizeof(double)));
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
