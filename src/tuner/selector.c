/* Per-kind variant selector for workers: calibrates every knob setting per feature cluster,
 * exploits the best through a tuner block, falls back to CPU and re-explores on change. */
#include "selector.h"
#include "text_file.h"
#include "tuner_private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SETTINGS 4096
/* Feature buckets are powers of two, so crafted features (a client's request, a learner's
 * knowledge) could make ~2^11 distinct keys per feature and grow the table without bound;
 * past this many clusters new keys share the nearest existing cluster instead. */
#define MAX_CLUSTERS   1024
#define SAMPLE_CAP_MIN 32

static const char *const reason_text[] = {"calibrating", "exploiting",
                                          "fallback: accelerator unavailable"};

struct cell {
    double *tpu, *sec; /* calibration samples (time per unit, seconds per request) */
    size_t n;
    int calibrated;
    uint64_t epoch; /* bumped on re-exploration: older observations are stale */
    double mean_tpu, sd_tpu, mean_sec, sd_sec;
    struct tuner_monitor *mon; /* observed time per unit while exploited */
    size_t out_of_band;
};

struct lcluster {
    double key[TUNER_MAX_FEATURES]; /* bucketed caller features */
    struct cell *cells;             /* one per setting */
};

struct tuner_selector {
    char app[TUNER_NAME_MAX], kind[TUNER_NAME_MAX];
    size_t nf;
    int has_accel;
    struct tuner *core;
    struct tuner_learn_params lp;
    size_t variant_knob, accel_feature, m_tpu, m_time, m_thr;
    size_t feat_map[TUNER_MAX_FEATURES];          /* caller feature i -> core feature index */
    size_t extra_knobs[TUNER_MAX_KNOBS], n_extra; /* core knob indices besides the variant */

    /* settings: every combination of knob values (mixed radix over the knob domains) */
    size_t n_settings;
    double *settings;         /* n_settings * nk */
    unsigned char *in_design; /* per setting: calibrated locally (design_budget) */
    double *domain[TUNER_MAX_KNOBS];
    size_t dom_n[TUNER_MAX_KNOBS];

    struct lcluster *clusters;
    size_t n_clusters, cap_clusters;
    size_t last_cluster;
    int have_last_cluster;

    int knowledge_dirty;
    int prev_accel;
    int core_valid; /* core's current OP is (core_cluster, core_setting) */
    uint32_t core_setting, core_cluster;
    int explore_active;
    uint32_t explore_setting;
    struct tuner_selector_stats st;

    /* who listens and brings outside knowledge (the MQTT hookup), NULL without */
    const struct selector_sink_ops *sink_ops;
    void *sink;
};

/* ---- definitions ---- */

static int ensure_metric(struct tuner *t, const char *name, size_t *idx, char *err, size_t errlen)
{
    int i = tuner_metric_index(t, name);
    if (i < 0)
        i = tuner_add_metric(t, name, err, errlen);
    if (i < 0)
        return i;
    *idx = (size_t)i;
    return 0;
}

/* Metrics: only what the selector can measure. */
static int define_metrics(struct tuner_selector *s, char *err, size_t errlen)
{
    struct tuner *t = s->core;
    for (size_t i = 0; i < t->nm; i++) {
        const char *m = t->metrics[i].name;
        if (strcmp(m, "time_per_unit") && strcmp(m, "time") && strcmp(m, "throughput"))
            return kf_errf(err, errlen, -EINVAL,
                           "block '%s': metric '%s' cannot be measured "
                           "by the selector; expected time_per_unit, time or throughput",
                           t->block, m);
    }
    int rc;
    if ((rc = ensure_metric(t, "time_per_unit", &s->m_tpu, err, errlen)) ||
        (rc = ensure_metric(t, "time", &s->m_time, err, errlen)) ||
        (rc = ensure_metric(t, "throughput", &s->m_thr, err, errlen)))
        return rc;
    if (!t->metrics[s->m_tpu].mon && (rc = tuner_set_adaptation(t, s->m_tpu, 5, 5)) < 0)
        return kf_errf(err, errlen, rc, "out of memory for adaptation");
    return 0;
}

/* The variant knob (cpu, accel), defined here or checked if margot.json has it. */
static int define_variant_knob(struct tuner_selector *s, char *err, size_t errlen)
{
    struct tuner *t = s->core;
    int v = tuner_knob_index(t, "variant");
    if (v < 0) {
        static const char *const labels[] = {"cpu", "accel"};
        v = tuner_add_knob_enum(t, "variant", labels, 2, err, errlen);
        if (v < 0)
            return v;
    } else {
        const struct knob *k = &t->knobs[v];
        if (!k->is_enum || k->n_labels < 1 || k->n_labels > 2 || strcmp(k->labels[0], "cpu") ||
            (k->n_labels == 2 && strcmp(k->labels[1], "accel")))
            return kf_errf(err, errlen, -EINVAL,
                           "block '%s': knob 'variant' must be "
                           "{\"values\": [\"cpu\", \"accel\"]}",
                           t->block);
    }
    s->variant_knob = (size_t)v;
    for (size_t i = 0; i < t->nk; i++)
        if (i != s->variant_knob)
            s->extra_knobs[s->n_extra++] = i;
    return 0;
}

/* Features: the caller's (matched by name) plus accel_available, and no others. */
static int define_features(struct tuner_selector *s, const char *const *names, char *err,
                           size_t errlen)
{
    struct tuner *t = s->core;
    for (size_t i = 0; i < s->nf; i++) {
        int f = tuner_feature_index(t, names[i]);
        if (f < 0)
            f = tuner_add_feature(t, names[i], TUNER_DONT_CARE, err, errlen);
        if (f < 0)
            return f;
        s->feat_map[i] = (size_t)f;
    }
    int a = tuner_feature_index(t, "accel_available");
    if (a < 0)
        a = tuner_add_feature(t, "accel_available", TUNER_LE, err, errlen);
    if (a < 0)
        return a;
    s->accel_feature = (size_t)a;
    if (t->nf != s->nf + 1)
        for (size_t j = 0; j < t->nf; j++) {
            int given = (size_t)a == j;
            for (size_t i = 0; i < s->nf; i++)
                given |= s->feat_map[i] == j;
            if (!given)
                return kf_errf(err, errlen, -EINVAL,
                               "block '%s': feature '%s' of margot.json"
                               " is not among the features the adapter gives",
                               t->block, t->features[j].name);
        }
    return 0;
}

/* Default objective: minimise time per unit of input. */
static int define_default_rank(struct tuner_selector *s, char *err, size_t errlen)
{
    struct tuner *t = s->core;
    int rc;
    if (t->n_states == 0 && (rc = tuner_add_state(t, "default", err, errlen)) < 0)
        return rc;
    for (size_t i = 0; i < t->n_states; i++)
        if (t->states[i].n_terms == 0) {
            struct tuner_rank_term r = {TUNER_METRIC, "time_per_unit", 1};
            if ((rc = tuner_set_rank(t, t->states[i].name, TUNER_MINIMIZE, TUNER_LINEAR, &r, 1, err,
                                     errlen)) < 0)
                return rc;
        }
    return 0;
}

/* Settings: product of the knob domains (variant restricted to cpu without accelerator). */
static int define_settings(struct tuner_selector *s, char *err, size_t errlen)
{
    struct tuner *t = s->core;
    size_t total = 1;
    for (size_t k = 0; k < t->nk; k++) {
        size_t n = tuner_knob_domain(t, k, NULL, 0);
        if (k == s->variant_knob && !s->has_accel)
            n = 1;
        if (n == 0 || total * n > MAX_SETTINGS)
            return kf_errf(err, errlen, -E2BIG,
                           "block '%s': the knobs make more than %d "
                           "settings to calibrate; narrow the ranges",
                           t->block, MAX_SETTINGS);
        s->domain[k] = malloc(n * sizeof(double));
        if (!s->domain[k])
            return kf_errf(err, errlen, -ENOMEM, "out of memory");
        s->dom_n[k] = tuner_knob_domain(t, k, s->domain[k], n);
        if (s->dom_n[k] > n)
            s->dom_n[k] = n;
        total *= s->dom_n[k];
    }
    s->n_settings = total;
    s->settings = malloc(total * (t->nk ? t->nk : 1) * sizeof(double));
    if (!s->settings)
        return kf_errf(err, errlen, -ENOMEM, "out of memory");
    for (size_t idx = 0; idx < total; idx++) {
        size_t r = idx;
        for (size_t k = t->nk; k-- > 0;) {
            s->settings[idx * t->nk + k] = s->domain[k][r % s->dom_n[k]];
            r /= s->dom_n[k];
        }
    }
    return 0;
}

static int define_block(struct tuner_selector *s, const char *const *names, char *err,
                        size_t errlen)
{
    int rc;
    if ((rc = define_metrics(s, err, errlen)) || (rc = define_variant_knob(s, err, errlen)) ||
        (rc = define_features(s, names, err, errlen)) || (rc = define_default_rank(s, err, errlen)))
        return rc;
    return define_settings(s, err, errlen);
}

static int selector_setting_of(const struct tuner_selector *s, const double *knobs)
{
    size_t idx = 0;
    for (size_t k = 0; k < s->core->nk; k++) {
        size_t j = 0;
        while (j < s->dom_n[k] && s->domain[k][j] != knobs[k])
            j++;
        if (j == s->dom_n[k])
            return -ENOENT;
        idx = idx * s->dom_n[k] + j;
    }
    return (int)idx;
}

static int setting_variant(const struct tuner_selector *s, size_t setting)
{
    return (int)s->settings[setting * s->core->nk + s->variant_knob];
}

/* Domain index of knob k in setting set (settings are mixed radix, last knob fastest). */
static size_t setting_digit(const struct tuner_selector *s, size_t set, size_t k)
{
    for (size_t j = s->core->nk; j-- > k + 1;)
        set /= s->dom_n[j];
    return set % s->dom_n[k];
}

/* Which settings a cluster calibrates. All of them up to the budget; beyond, a design that
 * stays cheap in the number of knobs: per variant its first setting and every setting that
 * differs from it in one knob (one factor at a time), then seeded random ones up to the budget.
 * Knowledge (a file, a learner) may still bring settings outside it; they are exploited too. */
static int choose_design(struct tuner_selector *s)
{
    s->in_design = calloc(s->n_settings, 1);
    if (!s->in_design)
        return -ENOMEM;
    size_t budget = s->lp.design_budget ? s->lp.design_budget : 1, chosen = 0;
    if (s->n_settings <= budget) {
        memset(s->in_design, 1, s->n_settings);
        return 0;
    }
    for (size_t set = 0; set < s->n_settings; set++) {
        size_t off_base = 0; /* knobs besides the variant away from their first value */
        for (size_t k = 0; k < s->core->nk; k++)
            off_base += k != s->variant_knob && setting_digit(s, set, k) != 0;
        if (off_base <= 1) {
            s->in_design[set] = 1;
            chosen++;
        }
    }
    uint32_t x = 2166136261u; /* FNV-1a of the kind: the same design on every rank */
    for (const char *p = s->kind; *p; p++)
        x = (x ^ (unsigned char)*p) * 16777619u;
    for (size_t tries = 0; chosen < budget && tries < 64 * budget; tries++) {
        x = x * 1664525u + 1013904223u;
        size_t set = (x >> 8) % s->n_settings;
        if (!s->in_design[set]) {
            s->in_design[set] = 1;
            chosen++;
        }
    }
    return 0;
}

static struct tuner *selector_core_like(const struct tuner_selector *s)
{
    const struct tuner *c = s->core;
    struct tuner *t = tuner_new(c->block);
    if (!t)
        return NULL;
    for (size_t i = 0; i < c->nk; i++) {
        const struct knob *k = &c->knobs[i];
        int rc = k->is_enum ? tuner_add_knob_enum(t, k->name, (const char *const *)k->labels,
                                                  k->n_labels, NULL, 0)
                            : tuner_add_knob_range(t, k->name, k->min, k->max, k->step, NULL, 0);
        if (rc < 0)
            goto fail;
    }
    for (size_t i = 0; i < c->nf; i++)
        if (tuner_add_feature(t, c->features[i].name, c->features[i].cmp, NULL, 0) < 0)
            goto fail;
    for (size_t i = 0; i < c->nm; i++)
        if (tuner_add_metric(t, c->metrics[i].name, NULL, 0) < 0)
            goto fail;
    return t;
fail:
    tuner_free(t);
    return NULL;
}

/* ---- clusters and cells ---- */

static void cell_reset(struct cell *c)
{
    c->n = 0;
    c->calibrated = 0;
    c->epoch++;
    c->out_of_band = 0;
    if (c->mon)
        tuner_monitor_clear(c->mon);
}

/* Distance of two bucketed keys: buckets apart, in log2 steps per feature (a sign change or a
 * zero against a non-zero costs more than any in-range step). */
static double key_distance(const double *a, const double *b, size_t nf)
{
    double d = 0;
    for (size_t i = 0; i < nf; i++) {
        if (a[i] == b[i])
            continue;
        if (a[i] == 0 || b[i] == 0 || (a[i] < 0) != (b[i] < 0))
            d += 4096;
        else
            d += fabs(log2(fabs(a[i])) - log2(fabs(b[i])));
    }
    return d;
}

static int selector_find_cluster(const struct tuner_selector *s, const double *key)
{
    size_t nf = s->nf;
    for (size_t i = 0; i < s->n_clusters; i++)
        if (!nf || !memcmp(s->clusters[i].key, key, nf * sizeof(double)))
            return (int)i;
    return -1;
}

static struct lcluster *selector_cluster(struct tuner_selector *s, const double *key, size_t *idx)
{
    size_t nf = s->nf;
    int found = selector_find_cluster(s, key);
    if (found >= 0) {
        *idx = (size_t)found;
        return &s->clusters[found];
    }
    if (s->n_clusters >= MAX_CLUSTERS) {
        size_t best = 0;
        double best_d = INFINITY;
        for (size_t i = 0; i < s->n_clusters; i++) {
            double d = key_distance(s->clusters[i].key, key, nf);
            if (d < best_d) {
                best_d = d;
                best = i;
            }
        }
        *idx = best;
        return &s->clusters[best];
    }
    if (s->n_clusters == s->cap_clusters) {
        size_t cap = s->cap_clusters ? 2 * s->cap_clusters : 8;
        struct lcluster *n = realloc(s->clusters, cap * sizeof(*n));
        if (!n)
            return NULL;
        s->clusters = n;
        s->cap_clusters = cap;
    }
    struct lcluster *c = &s->clusters[s->n_clusters];
    memset(c, 0, sizeof(*c));
    if (nf)
        memcpy(c->key, key, nf * sizeof(double));
    c->cells = calloc(s->n_settings, sizeof(struct cell));
    if (!c->cells)
        return NULL;
    *idx = s->n_clusters++;
    return c;
}

static void cell_calibrated(struct tuner_selector *s, struct cell *c, double tpu, double sd_tpu,
                            double sec, double sd_sec)
{
    c->calibrated = 1;
    c->mean_tpu = tpu;
    c->sd_tpu = sd_tpu;
    c->mean_sec = sec;
    c->sd_sec = sd_sec;
    c->out_of_band = 0;
    if (c->mon)
        tuner_monitor_clear(c->mon);
    s->knowledge_dirty = 1;
}

static int cell_add_sample(struct tuner_selector *s, struct cell *c, double tpu, double sec)
{
    size_t cap = s->lp.min_samples > SAMPLE_CAP_MIN ? s->lp.min_samples : SAMPLE_CAP_MIN;
    if (!c->tpu) {
        c->tpu = malloc(cap * sizeof(double));
        c->sec = malloc(cap * sizeof(double));
        if (!c->tpu || !c->sec)
            return -ENOMEM;
    }
    if (c->n < cap) {
        c->tpu[c->n] = tpu;
        c->sec[c->n] = sec;
        c->n++;
    }
    if (c->n >= s->lp.min_samples) {
        struct tuner_stats a, b;
        if (tuner_robust_stats(c->tpu, c->n, s->lp.outlier_mads, &a) < 0 ||
            tuner_robust_stats(c->sec, c->n, s->lp.outlier_mads, &b) < 0)
            return -ENOMEM;
        cell_calibrated(s, c, a.mean, a.stddev, b.mean, b.stddev);
    }
    return 0;
}

static int selector_apply_knowledge(struct tuner_selector *s, const struct tuner *k)
{
    size_t applied = 0;
    for (size_t o = 0; o < k->n_ops; o++) {
        const double *kn = k->op_knobs + o * k->nk;
        int set = selector_setting_of(s, kn);
        if (set < 0)
            continue; /* e.g. an accel OP for a kind without accelerator here */
        double key[TUNER_MAX_FEATURES];
        for (size_t i = 0; i < s->nf; i++)
            key[i] = tuner_feature_bucket(k->op_features[o * k->nf + s->feat_map[i]]);
        if (s->n_clusters >= MAX_CLUSTERS && selector_find_cluster(s, key) < 0)
            continue; /* knowledge must not overwrite the calibration of another cluster */
        size_t ci;
        struct lcluster *cl = selector_cluster(s, key, &ci);
        if (!cl)
            return -ENOMEM;
        struct cell *c = &cl->cells[set];
        const double *m = k->op_mean + o * k->nm, *sd = k->op_std + o * k->nm;
        cell_reset(c);
        cell_calibrated(s, c, m[s->m_tpu], sd[s->m_tpu], m[s->m_time], sd[s->m_time]);
        applied++;
    }
    s->have_last_cluster = 0;
    return (int)applied;
}

static int rebuild_core(struct tuner_selector *s)
{
    struct tuner *t = s->core;
    tuner_clear_ops(t);
    s->core_valid = 0;
    double f[TUNER_MAX_FEATURES], m[TUNER_MAX_METRICS] = {0}, sd[TUNER_MAX_METRICS] = {0};
    for (size_t ci = 0; ci < s->n_clusters; ci++) {
        const struct lcluster *cl = &s->clusters[ci];
        for (size_t i = 0; i < s->nf; i++)
            f[s->feat_map[i]] = cl->key[i];
        for (size_t set = 0; set < s->n_settings; set++) {
            const struct cell *c = &cl->cells[set];
            if (!c->calibrated)
                continue;
            m[s->m_tpu] = c->mean_tpu;
            sd[s->m_tpu] = c->sd_tpu;
            m[s->m_time] = c->mean_sec;
            sd[s->m_time] = c->sd_sec;
            m[s->m_thr] = c->mean_tpu > 0 ? 1.0 / c->mean_tpu : 0;
            sd[s->m_thr] = c->mean_tpu > 0 ? c->sd_tpu / (c->mean_tpu * c->mean_tpu) : 0;
            int accel = setting_variant(s, set) == TUNER_VARIANT_ACCEL;
            /* a CPU setting is valid whether or not the accelerator is there (mARGOt idiom:
             * accel_available is an "le" feature, so cluster 0 holds only CPU settings) */
            for (int a = accel; a <= s->has_accel; a++) {
                f[s->accel_feature] = a;
                if (tuner_add_op(t, f, s->settings + set * t->nk, m, sd) < 0)
                    return -ENOMEM;
            }
        }
    }
    s->knowledge_dirty = 0;
    return 0;
}

/* ---- the sink and the calls it uses (selector.h) ---- */

/* What the sink knows of the accelerator, after it applied what arrived; -1 without a sink. */
static int poll_sink(struct tuner_selector *s)
{
    return s->sink_ops ? s->sink_ops->poll(s->sink, s) : -1;
}

int selector_set_sink(struct tuner_selector *s, const struct selector_sink_ops *ops, void *sink)
{
    if (s->sink_ops)
        return -EALREADY;
    s->sink_ops = ops;
    s->sink = sink;
    return 0;
}

void *selector_sink(const struct tuner_selector *s, const struct selector_sink_ops *ops)
{
    return s->sink_ops == ops ? s->sink : NULL;
}

const char *selector_app(const struct tuner_selector *s)
{
    return s->app;
}

const char *selector_kind(const struct tuner_selector *s)
{
    return s->kind;
}

const struct tuner *selector_block(const struct tuner_selector *s)
{
    return s->core;
}

size_t selector_knob_values(const struct tuner_selector *s, size_t k)
{
    return k < s->core->nk ? s->dom_n[k] : 0;
}

const struct tuner_learn_params *selector_learn_params(const struct tuner_selector *s)
{
    return &s->lp;
}

size_t selector_n_features(const struct tuner_selector *s)
{
    return s->nf;
}

const char *selector_feature_name(const struct tuner_selector *s, size_t i)
{
    return i < s->nf ? s->core->features[s->feat_map[i]].name : NULL;
}

size_t selector_n_settings(const struct tuner_selector *s)
{
    return s->n_settings;
}

size_t selector_n_clusters(const struct tuner_selector *s)
{
    return s->n_clusters;
}

int selector_explore(struct tuner_selector *s, const double *knobs)
{
    s->explore_active = 0;
    if (!knobs)
        return 0;
    int set = selector_setting_of(s, knobs);
    if (set < 0)
        return set;
    s->explore_setting = (uint32_t)set;
    s->explore_active = 1;
    return 0;
}

int selector_apply_prediction(struct tuner_selector *s, const char *text, char *err, size_t errlen)
{
    struct tuner *k = selector_core_like(s);
    if (!k)
        return kf_errf(err, errlen, -ENOMEM, "out of memory for a prediction");
    int rc = tuner_knowledge_parse(k, text, "prediction", err, errlen);
    if (rc == 0)
        rc = selector_apply_knowledge(s, k);
    tuner_free(k);
    if (rc < 0)
        return rc;
    s->st.predictions++;
    s->st.prediction_hash = tuner_text_hash(text);
    s->explore_active = 0;
    return 0;
}

/* ---- public API ---- */

/* A knob margot.json declares for a kernel knob must stay inside the kernel's domain. */
static int narrows(const struct knob *k, const struct tuner_knob_decl *d)
{
    if (d->labels) {
        if (!k->is_enum || k->n_labels != d->n_labels)
            return 0;
        for (size_t i = 0; i < d->n_labels; i++)
            if (strcmp(k->labels[i], d->labels[i]))
                return 0;
        return 1;
    }
    return !k->is_enum && k->min >= d->min && k->max <= d->max &&
           (k->min - d->min) % d->step == 0 && k->step % d->step == 0;
}

static int add_declared_knobs(struct tuner *t, const struct tuner_knob_decl *knobs, size_t n,
                              char *err, size_t errlen)
{
    for (size_t i = 0; i < n; i++) {
        const struct tuner_knob_decl *d = &knobs[i];
        int k = tuner_knob_index(t, d->name);
        if (k >= 0) {
            if (!narrows(&t->knobs[k], d))
                return kf_errf(err, errlen, -EINVAL,
                               "block '%s': knob '%s' of margot.json is not inside the "
                               "kernel's declaration (%s); give a range within it on its "
                               "steps, or the same labels",
                               t->block, d->name, d->labels ? "labels" : "range");
            continue;
        }
        int rc = d->labels ? tuner_add_knob_enum(t, d->name, d->labels, d->n_labels, err, errlen)
                           : tuner_add_knob_range(t, d->name, d->min, d->max, d->step, err, errlen);
        if (rc < 0)
            return rc;
    }
    return 0;
}

struct tuner_selector *tuner_selector_new(const char *app, const char *kind,
                                          const char *const *feature_names, size_t n_features,
                                          int has_accel, const char *margot_json,
                                          const char *knowledge, char *err, size_t errlen)
{
    return tuner_selector_new_knobs(app, kind, feature_names, n_features, has_accel, NULL, 0,
                                    margot_json, knowledge, err, errlen);
}

struct tuner_selector *tuner_selector_new_knobs(const char *app, const char *kind,
                                                const char *const *feature_names, size_t n_features,
                                                int has_accel, const struct tuner_knob_decl *knobs,
                                                size_t n_knobs, const char *margot_json,
                                                const char *knowledge, char *err, size_t errlen)
{
    if (n_features > TUNER_MAX_FEATURES - 1 || (n_features && !feature_names)) {
        kf_errf(err, errlen, -EINVAL, "selector '%s': at most %d features, with names",
                kind ? kind : "", TUNER_MAX_FEATURES - 1);
        return NULL;
    }
    struct tuner_selector *s = calloc(1, sizeof(*s));
    if (!s) {
        kf_errf(err, errlen, -ENOMEM, "out of memory for a selector");
        return NULL;
    }
    s->prev_accel = -1;
    tuner_learn_params_default(&s->lp);
    if (tuner_copy_name(s->app, app ? app : "kfarm", "app", err, errlen) < 0 ||
        tuner_copy_name(s->kind, kind, "kind", err, errlen) < 0)
        goto fail;
    s->nf = n_features;
    s->has_accel = has_accel != 0;
    if (margot_json) {
        static const char *const measured[] = {"time_per_unit", "time", "throughput"};
        char e[512];
        /* the block named like the kind, else a file with a single (or first) block */
        s->core = tuner_config_load_ex(margot_json, kind, &s->lp, measured, 3, e, sizeof(e));
        if (!s->core && strstr(e, "no block named"))
            s->core = tuner_config_load_ex(margot_json, NULL, &s->lp, measured, 3, e, sizeof(e));
        if (!s->core) {
            kf_errf(err, errlen, -EINVAL, "%s", e);
            goto fail;
        }
        /* the block is this kind's, whatever it was called in the file */
        snprintf(s->core->block, sizeof(s->core->block), "%s", s->kind);
    } else {
        s->core = tuner_new(kind);
        if (!s->core) {
            kf_errf(err, errlen, -ENOMEM, "out of memory for a selector");
            goto fail;
        }
    }
    if (add_declared_knobs(s->core, knobs, n_knobs, err, errlen) < 0 ||
        define_block(s, feature_names, err, errlen) < 0)
        goto fail;
    if (choose_design(s) < 0) {
        kf_errf(err, errlen, -ENOMEM, "out of memory for a selector");
        goto fail;
    }
    if (knowledge) {
        char e[512];
        char *text = tuner_read_text(knowledge, e, sizeof(e));
        if (text) {
            struct tuner *k = selector_core_like(s);
            int rc = k ? tuner_knowledge_parse(k, text, knowledge, err, errlen) : -ENOMEM;
            if (rc == 0)
                rc = selector_apply_knowledge(s, k);
            tuner_free(k);
            free(text);
            if (rc < 0)
                goto fail;
        } else if (errno != ENOENT) {
            kf_errf(err, errlen, -EIO, "%s", e);
            goto fail;
        }
    }
    return s;
fail:
    tuner_selector_free(s);
    return NULL;
}

static void reexplore_accel(struct tuner_selector *s)
{
    for (size_t ci = 0; ci < s->n_clusters; ci++)
        for (size_t set = 0; set < s->n_settings; set++)
            if (setting_variant(s, set) == TUNER_VARIANT_ACCEL) {
                struct cell *c = &s->clusters[ci].cells[set];
                if (c->calibrated || c->n)
                    s->knowledge_dirty = 1;
                cell_reset(c);
            }
    s->st.reexplorations++;
}

static void fill_choice(const struct tuner_selector *s, size_t cluster, size_t set,
                        enum tuner_reason r, struct tuner_choice *out)
{
    const double *k = s->settings + set * s->core->nk;
    out->variant = (int)k[s->variant_knob];
    out->n_knobs = s->n_extra;
    for (size_t i = 0; i < s->n_extra; i++)
        out->knobs[i] = lround(k[s->extra_knobs[i]]);
    out->reason = r;
    out->reason_str = reason_text[r];
    out->setting_ = (uint32_t)set;
    out->cluster_ = (uint32_t)cluster;
    out->epoch_ = s->clusters ? s->clusters[cluster].cells[set].epoch : 0;
}

/* Every setting of the cluster is calibrated: the tuner block picks the best for these features. */
static int exploit(struct tuner_selector *s, const double *key, size_t nf, int accel, size_t ci,
                   enum tuner_reason base, struct tuner_choice *out)
{
    if (s->knowledge_dirty && rebuild_core(s) < 0) {
        fill_choice(s, ci, 0, TUNER_REASON_FALLBACK, out);
        return -ENOMEM;
    }
    double in[TUNER_MAX_FEATURES];
    for (size_t i = 0; i < nf; i++) /* nf == s->nf: the caller checked */
        in[s->feat_map[i]] = key[i];
    in[s->accel_feature] = accel;
    struct tuner_decision d;
    int set = -1;
    if (tuner_update(s->core, in, &d) == 0)
        set = selector_setting_of(s, tuner_op_knobs(s->core, d.op));
    if (set < 0 || !s->clusters[ci].cells[set].calibrated ||
        (!accel && setting_variant(s, (size_t)set) == TUNER_VARIANT_ACCEL)) {
        set = 0; /* cannot happen with consistent knowledge; CPU setting 0 is always allowed */
        s->core_valid = 0;
    } else {
        s->core_valid = 1;
        s->core_setting = (uint32_t)set;
        s->core_cluster = (uint32_t)ci;
    }
    fill_choice(s, ci, (size_t)set, base, out);
    return 0;
}

int tuner_selector_choose(struct tuner_selector *s, const double *features, size_t n,
                          int accel_available, struct tuner_choice *out)
{
    int heard = poll_sink(s);
    int accel = s->has_accel && accel_available && heard != 0;
    if (s->prev_accel == 0 && accel)
        reexplore_accel(s); /* it may be another device, or the host changed: measure again */
    s->prev_accel = accel;
    s->st.accel_available = accel;
    s->st.decisions++;
    enum tuner_reason base =
        accel || !s->has_accel ? TUNER_REASON_EXPLOITING : TUNER_REASON_FALLBACK;

    double key[TUNER_MAX_FEATURES];
    if (n != s->nf || (n && !features)) {
        memset(out, 0, sizeof(*out));
        out->variant = TUNER_VARIANT_CPU;
        out->reason = TUNER_REASON_FALLBACK;
        out->reason_str = "fallback: bad features";
        out->cluster_ = UINT32_MAX;
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        key[i] = tuner_feature_bucket(features[i]);
    size_t ci;
    struct lcluster *cl;
    if (s->have_last_cluster &&
        (!n || !memcmp(s->clusters[s->last_cluster].key, key, n * sizeof(double)))) {
        ci = s->last_cluster;
        cl = &s->clusters[ci];
    } else {
        cl = selector_cluster(s, key, &ci);
        if (!cl) {
            fill_choice(s, 0, 0, TUNER_REASON_FALLBACK, out);
            out->cluster_ = UINT32_MAX;
            return -ENOMEM;
        }
        s->last_cluster = ci;
        s->have_last_cluster = 1;
    }

    /* a learner's explore command wins while it is running an experiment */
    if (s->explore_active && s->explore_setting < s->n_settings &&
        (accel || setting_variant(s, s->explore_setting) == TUNER_VARIANT_CPU)) {
        fill_choice(s, ci, s->explore_setting,
                    base == TUNER_REASON_FALLBACK ? base : TUNER_REASON_CALIBRATING, out);
        return 0;
    }

    /* calibrate what is allowed and not trusted yet, fewest samples first */
    size_t pick = SIZE_MAX, fewest = SIZE_MAX;
    for (size_t set = 0; set < s->n_settings; set++) {
        const struct cell *c = &cl->cells[set];
        if (c->calibrated || !s->in_design[set] ||
            (!accel && setting_variant(s, set) == TUNER_VARIANT_ACCEL))
            continue;
        if (c->n < fewest) {
            fewest = c->n;
            pick = set;
        }
    }
    if (pick != SIZE_MAX) {
        fill_choice(s, ci, pick, base == TUNER_REASON_FALLBACK ? base : TUNER_REASON_CALIBRATING,
                    out);
        return 0;
    }

    return exploit(s, key, n, accel, ci, base, out);
}

int tuner_selector_accel_heard(struct tuner_selector *s)
{
    return poll_sink(s);
}

static void reexplore_cluster(struct tuner_selector *s, struct lcluster *cl)
{
    for (size_t set = 0; set < s->n_settings; set++)
        cell_reset(&cl->cells[set]);
    s->knowledge_dirty = 1;
    s->st.reexplorations++;
    tuner_reset_adaptation(s->core, s->m_tpu); /* forget the old error coefficient */
}

void tuner_selector_observe(struct tuner_selector *s, const struct tuner_choice *c, double seconds,
                            double work_units)
{
    if (!c || !(seconds >= 0) || !(work_units > 0) || !isfinite(seconds))
        return;
    s->st.observations++;
    double tpu = seconds / work_units;
    if (c->cluster_ >= s->n_clusters || c->setting_ >= s->n_settings)
        return;
    if (s->sink_ops) {
        struct selector_observation o = {
            .features = s->clusters[c->cluster_].key,
            .accel_available = c->variant == TUNER_VARIANT_ACCEL || s->prev_accel == 1,
            .knobs = s->settings + c->setting_ * s->core->nk,
            .seconds = seconds,
            .time_per_unit = tpu,
            .work_units = work_units,
        };
        s->sink_ops->observed(s->sink, s, &o);
    }
    struct lcluster *cl = &s->clusters[c->cluster_];
    struct cell *cell = &cl->cells[c->setting_];
    if (c->epoch_ != cell->epoch)
        return; /* measured before this setting was sent back to calibration */
    if (!cell->calibrated) {
        cell_add_sample(s, cell, tpu, seconds);
        return;
    }
    if (c->reason == TUNER_REASON_CALIBRATING)
        return; /* a learner experiment on a setting we already trust */
    if (s->core_valid && s->core_setting == c->setting_ && s->core_cluster == c->cluster_)
        tuner_observe(s->core, s->m_tpu, tpu);
    /* drift of this setting: expected / observed outside the band for M windows in a row */
    if (!cell->mon && !(cell->mon = tuner_monitor_new(5)))
        return;
    tuner_monitor_push(cell->mon, tpu);
    if (!tuner_monitor_full(cell->mon))
        return;
    double obs = tuner_monitor_avg(cell->mon);
    double ratio = obs > 0 ? cell->mean_tpu / obs : 1.0;
    int outside = fabs(obs - cell->mean_tpu) > cell->sd_tpu &&
                  (ratio < 1.0 / s->lp.band || ratio > s->lp.band);
    cell->out_of_band = outside ? cell->out_of_band + 1 : 0;
    if (cell->out_of_band >= s->lp.band_samples)
        reexplore_cluster(s, cl);
}

int tuner_selector_save(struct tuner_selector *s, const char *path, char *err, size_t errlen)
{
    if (s->knowledge_dirty && rebuild_core(s) < 0)
        return kf_errf(err, errlen, -ENOMEM, "%s: out of memory building the knowledge", path);
    return tuner_knowledge_save(s->core, path, err, errlen);
}

const char *tuner_selector_knob_name(const struct tuner_selector *s, size_t i)
{
    return i < s->n_extra ? s->core->knobs[s->extra_knobs[i]].name : NULL;
}

void tuner_selector_get_stats(const struct tuner_selector *s, struct tuner_selector_stats *st)
{
    *st = s->st;
    st->mqtt_connected = s->sink_ops ? s->sink_ops->connected(s->sink) : 0;
}

void tuner_selector_free(struct tuner_selector *s)
{
    if (!s)
        return;
    if (s->sink_ops)
        s->sink_ops->free(s->sink);
    for (size_t ci = 0; ci < s->n_clusters; ci++) {
        for (size_t set = 0; set < s->n_settings; set++) {
            free(s->clusters[ci].cells[set].tpu);
            free(s->clusters[ci].cells[set].sec);
            tuner_monitor_free(s->clusters[ci].cells[set].mon);
        }
        free(s->clusters[ci].cells);
    }
    free(s->clusters);
    for (size_t k = 0; k < TUNER_MAX_KNOBS; k++)
        free(s->domain[k]);
    free(s->settings);
    free(s->in_design);
    tuner_free(s->core);
    free(s);
}
