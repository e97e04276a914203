/* States of a block: named optimisation problems, one active, each a list of constraints kept in
 * priority order and a rank (linear or geometric combination of metrics and knobs). */
#include "tuner_private.h"

#include <stdlib.h>
#include <string.h>

struct state *tuner_find_state(struct tuner *t, const char *name)
{
    if (!name)
        return t->n_states ? &t->states[t->active] : NULL;
    for (size_t i = 0; i < t->n_states; i++)
        if (!strcmp(t->states[i].name, name))
            return &t->states[i];
    return NULL;
}

int tuner_add_state(struct tuner *t, const char *name, char *err, size_t errlen)
{
    if (name && tuner_find_state(t, name))
        return kf_errf(err, errlen, -EEXIST, "state '%s' already exists in block '%s'", name,
                       t->block);
    struct state *s = realloc(t->states, (t->n_states + 1) * sizeof(*s));
    if (!s)
        return kf_errf(err, errlen, -ENOMEM, "out of memory for state '%s'", name);
    t->states = s;
    s = &t->states[t->n_states];
    memset(s, 0, sizeof(*s));
    int rc = tuner_copy_name(s->name, name, "state", err, errlen);
    if (rc < 0)
        return rc;
    s->dir = TUNER_MINIMIZE;
    s->comb = TUNER_LINEAR;
    if (t->n_states++ == 0) {
        t->active = 0;
        t->rank_dirty = 1;
        tuner_invalidate(t);
    }
    return 0;
}

int tuner_set_active_state(struct tuner *t, const char *name)
{
    struct state *s = name ? tuner_find_state(t, name) : NULL;
    if (!s)
        return -ENOENT;
    size_t idx = (size_t)(s - t->states);
    if (idx != t->active) {
        t->active = idx;
        t->rank_dirty = 1;
        tuner_invalidate(t);
    }
    return 0;
}

const char *tuner_active_state(const struct tuner *t)
{
    return t->n_states ? t->states[t->active].name : NULL;
}

static int field_index(const struct tuner *t, enum tuner_subject subject, const char *field)
{
    return subject == TUNER_METRIC ? tuner_metric_index(t, field) : tuner_knob_index(t, field);
}

/* structural: the constraint list changed, so per-OP constraint values must be rebuilt */
static void touch(struct tuner *t, const struct state *s, int structural)
{
    if (s == &t->states[t->active]) {
        if (structural)
            t->rank_dirty = 1;
        tuner_invalidate(t);
    }
}

int tuner_add_constraint(struct tuner *t, const char *state, enum tuner_subject subject,
                         const char *field, enum tuner_cmp cmp, double goal, int priority,
                         double confidence, char *err, size_t errlen)
{
    struct state *s = tuner_find_state(t, state);
    if (!s)
        return kf_errf(err, errlen, -ENOENT, "state '%s' does not exist in block '%s'",
                       state ? state : "(active)", t->block);
    int f = field_index(t, subject, field);
    if (f < 0)
        return kf_errf(err, errlen, -ENOENT, "constraint on unknown %s '%s' in block '%s'",
                       subject == TUNER_METRIC ? "metric" : "knob", field ? field : "", t->block);
    if (cmp == TUNER_DONT_CARE || cmp < TUNER_LT || cmp > TUNER_GE)
        return kf_errf(err, errlen, -EINVAL,
                       "constraint on '%s': comparison must be lt, le, "
                       "gt or ge",
                       field);
    if (confidence < 0)
        return kf_errf(err, errlen, -EINVAL, "constraint on '%s': confidence must be >= 0", field);
    if (s->n_c == s->cap_c) {
        size_t cap = s->cap_c ? s->cap_c * 2 : 4;
        struct constraint *c = realloc(s->c, cap * sizeof(*c));
        if (!c)
            return kf_errf(err, errlen, -ENOMEM, "out of memory for a constraint");
        s->c = c;
        s->cap_c = cap;
    }
    /* insert after every constraint of the same or more important priority (stable order) */
    size_t pos = s->n_c;
    while (pos > 0 && s->c[pos - 1].priority > priority) {
        s->c[pos] = s->c[pos - 1];
        pos--;
    }
    struct constraint *c = &s->c[pos];
    c->id = s->next_id++;
    c->subject = subject;
    c->field = (size_t)f;
    c->cmp = cmp;
    c->goal = goal;
    c->priority = priority;
    c->confidence = subject == TUNER_METRIC ? confidence : 0.0;
    s->n_c++;
    touch(t, s, 1);
    return c->id;
}

int tuner_remove_constraint(struct tuner *t, const char *state, int id)
{
    struct state *s = tuner_find_state(t, state);
    if (!s)
        return -ENOENT;
    for (size_t i = 0; i < s->n_c; i++)
        if (s->c[i].id == id) {
            memmove(&s->c[i], &s->c[i + 1], (s->n_c - i - 1) * sizeof(*s->c));
            s->n_c--;
            touch(t, s, 1);
            return 0;
        }
    return -ENOENT;
}

int tuner_set_constraint_goal(struct tuner *t, const char *state, int id, double goal)
{
    struct state *s = tuner_find_state(t, state);
    if (!s)
        return -ENOENT;
    for (size_t i = 0; i < s->n_c; i++)
        if (s->c[i].id == id) {
            if (s->c[i].goal != goal) {
                s->c[i].goal = goal;
                touch(t, s, 0);
            }
            return 0;
        }
    return -ENOENT;
}

int tuner_set_rank(struct tuner *t, const char *state, enum tuner_direction dir,
                   enum tuner_combination comb, const struct tuner_rank_term *terms, size_t n,
                   char *err, size_t errlen)
{
    struct state *s = tuner_find_state(t, state);
    if (!s)
        return kf_errf(err, errlen, -ENOENT, "state '%s' does not exist in block '%s'",
                       state ? state : "(active)", t->block);
    if (n > sizeof(s->terms) / sizeof(s->terms[0]))
        return kf_errf(err, errlen, -E2BIG, "rank of state '%s' has too many terms", s->name);
    struct rank_term tmp[TUNER_MAX_METRICS + TUNER_MAX_KNOBS] = {0};
    for (size_t i = 0; i < n; i++) {
        int f = field_index(t, terms[i].subject, terms[i].name);
        if (f < 0)
            return kf_errf(err, errlen, -ENOENT, "rank of state '%s': unknown %s '%s'", s->name,
                           terms[i].subject == TUNER_METRIC ? "metric" : "knob",
                           terms[i].name ? terms[i].name : "");
        tmp[i].subject = terms[i].subject;
        tmp[i].field = (size_t)f;
        tmp[i].coef = terms[i].coef;
    }
    memcpy(s->terms, tmp, n * sizeof(tmp[0]));
    s->n_terms = n;
    s->dir = dir;
    s->comb = comb;
    if (s == &t->states[t->active]) {
        t->rank_dirty = 1;
        tuner_invalidate(t);
    }
    return 0;
}
