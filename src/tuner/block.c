/* A tuner block's definition: knobs (ranges, enumerations), metrics and input features,
 * with lookups by name and the enumeration of each knob's domain. */
#include "tuner_private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int tuner_copy_name(char *dst, const char *src, const char *what, char *err, size_t errlen)
{
    if (!src || !*src)
        return kf_errf(err, errlen, -EINVAL, "%s name is empty: give it a name", what);
    if (strlen(src) >= TUNER_NAME_MAX)
        return kf_errf(err, errlen, -ENAMETOOLONG, "%s name '%.32s...' is longer than %d bytes",
                       what, src, TUNER_NAME_MAX - 1);
    strcpy(dst, src);
    return 0;
}

struct tuner *tuner_new(const char *block_name)
{
    struct tuner *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    if (tuner_copy_name(t->block, block_name ? block_name : "block", "block", NULL, 0) < 0) {
        free(t);
        return NULL;
    }
    t->clusters_dirty = 1;
    t->rank_dirty = 1;
    return t;
}

void tuner_free(struct tuner *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->nk; i++) {
        for (size_t j = 0; j < t->knobs[i].n_labels; j++)
            free(t->knobs[i].labels[j]);
        free(t->knobs[i].labels);
    }
    for (size_t i = 0; i < t->nm; i++) {
        tuner_monitor_free(t->metrics[i].mon);
        free(t->metrics[i].ring);
    }
    for (size_t i = 0; i < t->n_states; i++)
        free(t->states[i].c);
    free(t->states);
    free(t->op_features);
    free(t->op_knobs);
    free(t->op_mean);
    free(t->op_std);
    free(t->cl_features);
    free(t->cl_start);
    free(t->cl_count);
    free(t->cl_ops);
    free(t->pos_rank);
    free(t->cv);
    free(t->scratch_a);
    free(t->scratch_b);
    free(t->scratch_d);
    free(t);
}

const char *tuner_block_name(const struct tuner *t)
{
    return t->block;
}

/* Definitions can only change while there is no knowledge: OPs are laid out by these counts. */
static int check_definable(struct tuner *t, const char *name, char *err, size_t errlen)
{
    if (t->n_ops)
        return kf_errf(err, errlen, -EBUSY,
                       "cannot define '%s' in block '%s': it already has operating points",
                       name ? name : "", t->block);
    if (tuner_knob_index(t, name) >= 0 || tuner_metric_index(t, name) >= 0 ||
        tuner_feature_index(t, name) >= 0)
        return kf_errf(err, errlen, -EEXIST, "name '%s' is already used in block '%s'", name,
                       t->block);
    return 0;
}

int tuner_add_knob_range(struct tuner *t, const char *name, long min, long max, long step,
                         char *err, size_t errlen)
{
    int rc = check_definable(t, name, err, errlen);
    if (rc < 0)
        return rc;
    if (t->nk == TUNER_MAX_KNOBS)
        return kf_errf(err, errlen, -ENOSPC, "block '%s' has more than %d knobs", t->block,
                       TUNER_MAX_KNOBS);
    if (step <= 0 || max < min)
        return kf_errf(err, errlen, -EINVAL,
                       "knob '%s': range [%ld, %ld, %ld] needs min <= max and step > 0", name, min,
                       max, step);
    struct knob *k = &t->knobs[t->nk];
    memset(k, 0, sizeof(*k));
    if ((rc = tuner_copy_name(k->name, name, "knob", err, errlen)) < 0)
        return rc;
    k->min = min;
    k->max = max;
    k->step = step;
    return (int)t->nk++;
}

int tuner_add_knob_enum(struct tuner *t, const char *name, const char *const *labels, size_t n,
                        char *err, size_t errlen)
{
    int rc = check_definable(t, name, err, errlen);
    if (rc < 0)
        return rc;
    if (t->nk == TUNER_MAX_KNOBS)
        return kf_errf(err, errlen, -ENOSPC, "block '%s' has more than %d knobs", t->block,
                       TUNER_MAX_KNOBS);
    if (n == 0)
        return kf_errf(err, errlen, -EINVAL, "knob '%s': the enumeration has no values", name);
    struct knob *k = &t->knobs[t->nk];
    memset(k, 0, sizeof(*k));
    if ((rc = tuner_copy_name(k->name, name, "knob", err, errlen)) < 0)
        return rc;
    k->labels = calloc(n, sizeof(char *));
    if (!k->labels)
        return kf_errf(err, errlen, -ENOMEM, "out of memory for knob '%s'", name);
    for (size_t i = 0; i < n; i++) {
        k->labels[i] = strdup(labels[i] ? labels[i] : "");
        if (!k->labels[i]) {
            for (size_t j = 0; j < i; j++)
                free(k->labels[j]);
            free(k->labels);
            k->labels = NULL;
            return kf_errf(err, errlen, -ENOMEM, "out of memory for knob '%s'", name);
        }
    }
    k->n_labels = n;
    k->is_enum = 1;
    k->min = 0;
    k->max = (long)n - 1;
    k->step = 1;
    return (int)t->nk++;
}

int tuner_add_metric(struct tuner *t, const char *name, char *err, size_t errlen)
{
    int rc = check_definable(t, name, err, errlen);
    if (rc < 0)
        return rc;
    if (t->nm == TUNER_MAX_METRICS)
        return kf_errf(err, errlen, -ENOSPC, "block '%s' has more than %d metrics", t->block,
                       TUNER_MAX_METRICS);
    struct metric *m = &t->metrics[t->nm];
    memset(m, 0, sizeof(*m));
    if ((rc = tuner_copy_name(m->name, name, "metric", err, errlen)) < 0)
        return rc;
    m->coef = 1.0;
    return (int)t->nm++;
}

int tuner_add_feature(struct tuner *t, const char *name, enum tuner_cmp validity, char *err,
                      size_t errlen)
{
    int rc = check_definable(t, name, err, errlen);
    if (rc < 0)
        return rc;
    if (t->nf == TUNER_MAX_FEATURES)
        return kf_errf(err, errlen, -ENOSPC, "block '%s' has more than %d features", t->block,
                       TUNER_MAX_FEATURES);
    if (validity != TUNER_LE && validity != TUNER_GE && validity != TUNER_DONT_CARE)
        return kf_errf(err, errlen, -EINVAL,
                       "feature '%s': validity must be le, ge or - (don't care)", name);
    struct feature *f = &t->features[t->nf];
    if ((rc = tuner_copy_name(f->name, name, "feature", err, errlen)) < 0)
        return rc;
    f->cmp = validity;
    return (int)t->nf++;
}

void tuner_set_feature_distance(struct tuner *t, enum tuner_distance d)
{
    t->distance = d;
    tuner_invalidate(t);
}

size_t tuner_n_knobs(const struct tuner *t)
{
    return t->nk;
}

size_t tuner_n_metrics(const struct tuner *t)
{
    return t->nm;
}

size_t tuner_n_features(const struct tuner *t)
{
    return t->nf;
}

int tuner_knob_index(const struct tuner *t, const char *name)
{
    for (size_t i = 0; name && i < t->nk; i++)
        if (!strcmp(t->knobs[i].name, name))
            return (int)i;
    return -ENOENT;
}

int tuner_metric_index(const struct tuner *t, const char *name)
{
    for (size_t i = 0; name && i < t->nm; i++)
        if (!strcmp(t->metrics[i].name, name))
            return (int)i;
    return -ENOENT;
}

int tuner_feature_index(const struct tuner *t, const char *name)
{
    for (size_t i = 0; name && i < t->nf; i++)
        if (!strcmp(t->features[i].name, name))
            return (int)i;
    return -ENOENT;
}

const char *tuner_knob_name(const struct tuner *t, size_t i)
{
    return i < t->nk ? t->knobs[i].name : NULL;
}

const char *tuner_metric_name(const struct tuner *t, size_t i)
{
    return i < t->nm ? t->metrics[i].name : NULL;
}

const char *tuner_feature_name(const struct tuner *t, size_t i)
{
    return i < t->nf ? t->features[i].name : NULL;
}

enum tuner_cmp tuner_feature_validity(const struct tuner *t, size_t i)
{
    return i < t->nf ? t->features[i].cmp : TUNER_DONT_CARE;
}

size_t tuner_knob_domain(const struct tuner *t, size_t i, double *values, size_t cap)
{
    if (i >= t->nk)
        return 0;
    const struct knob *k = &t->knobs[i];
    size_t n = 0;
    for (long v = k->min; v <= k->max; v += k->step) {
        if (n < cap)
            values[n] = (double)v;
        n++;
        if (v > k->max - k->step)
            break; /* no overflow past LONG_MAX */
    }
    return n;
}

const char *tuner_knob_label(const struct tuner *t, size_t i, double value)
{
    if (i >= t->nk || !t->knobs[i].is_enum)
        return NULL;
    long idx = lround(value);
    if (idx < 0 || (size_t)idx >= t->knobs[i].n_labels)
        return NULL;
    return t->knobs[i].labels[idx];
}

int tuner_knob_value(const struct tuner *t, size_t i, const char *label, double *value)
{
    if (i >= t->nk || !label)
        return -EINVAL;
    const struct knob *k = &t->knobs[i];
    if (k->is_enum) {
        for (size_t j = 0; j < k->n_labels; j++)
            if (!strcmp(k->labels[j], label)) {
                *value = (double)j;
                return 0;
            }
        return -EINVAL;
    }
    char *end;
    double v = strtod(label, &end);
    if (end == label || *end)
        return -EINVAL;
    *value = v;
    return 0;
}
