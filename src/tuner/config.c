/* margot.json: builds a tuner block (knobs, metrics, features, monitors/adaptation, states) and
 * the learning parameters from mARGOt's configuration shape; errors say file, field, expected. */
#include "tuner_private.h"
#include "text_file.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

void tuner_learn_params_default(struct tuner_learn_params *p)
{
    p->min_samples = 10;
    p->outlier_mads = 3.0;
    p->band = 1.5;
    p->band_samples = 5;
    p->observations_per_config = 5;
    p->design_budget = 32;
}

struct ctx {
    const char *origin;
    char *err;
    size_t errlen;
    const cJSON *block; /* the block being parsed (metrics look up their monitor's window) */
};

#define FAIL(c, code, ...) kf_errf((c)->err, (c)->errlen, code, __VA_ARGS__)

static const cJSON *member(const cJSON *o, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(o, name);
}

static int get_string(struct ctx *c, const cJSON *o, const char *name, const char *where,
                      const char **out)
{
    const cJSON *v = member(o, name);
    *out = ""; /* defined on the error path too (the analyzer cannot see FAIL is nonzero) */
    if (!cJSON_IsString(v) || !*v->valuestring)
        return FAIL(c, -EINVAL, "%s: %s.%s: expected a non-empty string", c->origin, where, name);
    *out = v->valuestring;
    return 0;
}

static int get_long(const cJSON *v, long *out)
{
    if (!cJSON_IsNumber(v) || v->valuedouble != floor(v->valuedouble) ||
        fabs(v->valuedouble) > 9e15)
        return -EINVAL;
    *out = (long)v->valuedouble;
    return 0;
}

static int parse_cmp(const char *s, enum tuner_cmp *out)
{
    static const struct {
        const char *name;
        enum tuner_cmp cmp;
    } map[] = {{"lt", TUNER_LT},
               {"le", TUNER_LE},
               {"gt", TUNER_GT},
               {"ge", TUNER_GE},
               {"-", TUNER_DONT_CARE}};
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcasecmp(s, map[i].name)) {
            *out = map[i].cmp;
            return 0;
        }
    return -EINVAL;
}

static int parse_knob(struct ctx *c, struct tuner *t, const cJSON *k, const char *where)
{
    const char *name;
    int rc = get_string(c, k, "name", where, &name);
    if (rc)
        return rc;
    const cJSON *range = member(k, "range"), *values = member(k, "values");
    if (range) {
        long v[3] = {0, 0, 1};
        int n = cJSON_GetArraySize(range);
        if (!cJSON_IsArray(range) || n < 2 || n > 3 ||
            get_long(cJSON_GetArrayItem(range, 0), &v[0]) ||
            get_long(cJSON_GetArrayItem(range, 1), &v[1]) ||
            (n == 3 && get_long(cJSON_GetArrayItem(range, 2), &v[2])))
            return FAIL(c, -EINVAL,
                        "%s: %s.range: expected [min, max] or [min, max, step] of "
                        "integers",
                        c->origin, where);
        char e[256];
        rc = tuner_add_knob_range(t, name, v[0], v[1], v[2], e, sizeof(e));
        return rc < 0 ? FAIL(c, rc, "%s: %s: %s", c->origin, where, e) : 0;
    }
    if (cJSON_IsArray(values) && cJSON_GetArraySize(values) > 0) {
        size_t n = (size_t)cJSON_GetArraySize(values), i = 0;
        const char **labels = calloc(n, sizeof(char *));
        char(*num)[32] = calloc(n, sizeof(*num));
        if (!labels || !num) {
            free(labels);
            free(num);
            return FAIL(c, -ENOMEM, "%s: out of memory", c->origin);
        }
        const cJSON *v;
        cJSON_ArrayForEach(v, values)
        {
            if (cJSON_IsString(v)) {
                labels[i] = v->valuestring;
            } else if (cJSON_IsNumber(v)) {
                snprintf(num[i], sizeof(num[i]), "%.17g", v->valuedouble);
                labels[i] = num[i];
            } else {
                free(labels);
                free(num);
                return FAIL(c, -EINVAL, "%s: %s.values[%zu]: expected a string or a number",
                            c->origin, where, i);
            }
            i++;
        }
        char e[256];
        rc = tuner_add_knob_enum(t, name, labels, n, e, sizeof(e));
        free(labels);
        free(num);
        return rc < 0 ? FAIL(c, rc, "%s: %s: %s", c->origin, where, e) : 0;
    }
    return FAIL(c, -EINVAL,
                "%s: %s: expected \"range\": [min, max, step] or a non-empty "
                "\"values\" array",
                c->origin, where);
}

/* Monitor windows and inertia rings are allocated up front: a typo such as 444444444443 must
 * not ask for terabytes (found by tests/fuzz/fuzz_tuner_config). */
#define CONFIG_MAX_WINDOW 1000000

static size_t monitor_window(const cJSON *block, const char *monitor_name)
{
    const cJSON *m;
    cJSON_ArrayForEach(m, member(block, "monitors"))
    {
        const cJSON *n = member(m, "name");
        long w;
        if (cJSON_IsString(n) && !strcmp(n->valuestring, monitor_name) &&
            !get_long(member(m, "window"), &w) && w > 0)
            return w > CONFIG_MAX_WINDOW ? CONFIG_MAX_WINDOW : (size_t)w;
    }
    return 10; /* mARGOt monitors default to a small window; 10 smooths request noise */
}

static int parse_metric(struct ctx *c, struct tuner *t, const cJSON *block, const cJSON *m,
                        const char *where)
{
    const char *name;
    int rc = get_string(c, m, "name", where, &name);
    if (rc)
        return rc;
    char e[256];
    int idx = tuner_add_metric(t, name, e, sizeof(e));
    if (idx < 0)
        return FAIL(c, idx, "%s: %s: %s", c->origin, where, e);
    const cJSON *inertia = member(m, "reactive_inertia");
    if (inertia) {
        long n;
        if (get_long(inertia, &n) || n < 0 || n > CONFIG_MAX_WINDOW)
            return FAIL(c, -EINVAL, "%s: %s.reactive_inertia: expected an integer in 0..%d",
                        c->origin, where, CONFIG_MAX_WINDOW);
        const cJSON *by = member(m, "observed_by");
        if (n > 0) {
            if (!cJSON_IsString(by))
                return FAIL(c, -EINVAL,
                            "%s: %s.observed_by: expected the name of a monitor "
                            "(needed by reactive_inertia)",
                            c->origin, where);
            rc = tuner_set_adaptation(t, (size_t)idx, monitor_window(block, by->valuestring),
                                      (size_t)n);
            if (rc < 0)
                return FAIL(c, rc, "%s: %s: cannot set up adaptation", c->origin, where);
        }
    }
    return 0;
}

static int parse_feature(struct ctx *c, struct tuner *t, const cJSON *f, const char *where)
{
    const char *name;
    int rc = get_string(c, f, "name", where, &name);
    if (rc)
        return rc;
    enum tuner_cmp cmp = TUNER_DONT_CARE;
    const cJSON *cmpj = member(f, "comparison");
    if (cmpj && (!cJSON_IsString(cmpj) || parse_cmp(cmpj->valuestring, &cmp) ||
                 (cmp != TUNER_LE && cmp != TUNER_GE && cmp != TUNER_DONT_CARE)))
        return FAIL(c, -EINVAL, "%s: %s.comparison: expected \"le\", \"ge\" or \"-\"", c->origin,
                    where);
    char e[256];
    rc = tuner_add_feature(t, name, cmp, e, sizeof(e));
    return rc < 0 ? FAIL(c, rc, "%s: %s: %s", c->origin, where, e) : 0;
}

static int parse_rank(struct ctx *c, struct tuner *t, const char *state, const cJSON *req,
                      const char *where)
{
    const cJSON *obj = member(req, "minimize");
    enum tuner_direction dir = TUNER_MINIMIZE;
    if (!obj) {
        obj = member(req, "maximize");
        dir = TUNER_MAXIMIZE;
    }
    if (!obj)
        return 0;
    enum tuner_combination comb = TUNER_LINEAR;
    const cJSON *terms = member(obj, "linear_mean");
    if (!terms) {
        terms = member(obj, "geometric_mean");
        comb = TUNER_GEOMETRIC;
    }
    if (!cJSON_IsArray(terms))
        return FAIL(c, -EINVAL,
                    "%s: %s.%s: expected {\"linear_mean\"|\"geometric_mean\": "
                    "[{\"<metric or knob>\": coef}, ...]}",
                    c->origin, where, dir == TUNER_MINIMIZE ? "minimize" : "maximize");
    struct tuner_rank_term rt[TUNER_MAX_METRICS + TUNER_MAX_KNOBS];
    size_t n = 0;
    const cJSON *term;
    cJSON_ArrayForEach(term, terms)
    {
        const cJSON *kv = term->child;
        if (!cJSON_IsObject(term) || !kv || kv->next || !cJSON_IsNumber(kv) ||
            n == sizeof(rt) / sizeof(rt[0]))
            return FAIL(c, -EINVAL, "%s: %s rank term %zu: expected {\"<name>\": coefficient}",
                        c->origin, where, n);
        rt[n].name = kv->string;
        rt[n].coef = kv->valuedouble;
        rt[n].subject = tuner_metric_index(t, kv->string) >= 0 ? TUNER_METRIC : TUNER_KNOB;
        n++;
    }
    char e[256];
    int rc = tuner_set_rank(t, state, dir, comb, rt, n, e, sizeof(e));
    return rc < 0 ? FAIL(c, rc, "%s: %s: %s", c->origin, where, e) : 0;
}

static int parse_state(struct ctx *c, struct tuner *t, const cJSON *req, size_t idx)
{
    char where[96];
    snprintf(where, sizeof(where), "extra-functional_requirements[%zu]", idx);
    const cJSON *nj = member(req, "name");
    char defname[32];
    snprintf(defname, sizeof(defname), "state%zu", idx);
    const char *name = cJSON_IsString(nj) ? nj->valuestring : defname;
    char e[256];
    int rc = tuner_add_state(t, name, e, sizeof(e));
    if (rc < 0)
        return FAIL(c, rc, "%s: %s: %s", c->origin, where, e);
    if ((rc = parse_rank(c, t, name, req, where)))
        return rc;
    const cJSON *list = member(req, "subject_to");
    if (list && !cJSON_IsArray(list))
        return FAIL(c, -EINVAL, "%s: %s.subject_to: expected an array of constraints", c->origin,
                    where);
    const cJSON *con;
    int i = 0;
    cJSON_ArrayForEach(con, list)
    {
        char w[160];
        snprintf(w, sizeof(w), "%s.subject_to[%d]", where, i);
        const char *subject, *cmps;
        enum tuner_cmp cmp;
        if ((rc = get_string(c, con, "subject", w, &subject)) ||
            (rc = get_string(c, con, "comparison", w, &cmps)))
            return rc;
        if (parse_cmp(cmps, &cmp) || cmp == TUNER_DONT_CARE)
            return FAIL(c, -EINVAL,
                        "%s: %s.comparison: expected \"lt\", \"le\", \"gt\" or \"ge\", "
                        "got \"%s\"",
                        c->origin, w, cmps);
        const cJSON *val = member(con, "value"), *conf = member(con, "confidence"),
                    *prio = member(con, "priority");
        if (!cJSON_IsNumber(val))
            return FAIL(c, -EINVAL, "%s: %s.value: expected a number", c->origin, w);
        if (conf && (!cJSON_IsNumber(conf) || conf->valuedouble < 0))
            return FAIL(c, -EINVAL, "%s: %s.confidence: expected a number of sigmas >= 0",
                        c->origin, w);
        long p = i; /* mARGOt: earlier constraints are more important */
        if (prio && get_long(prio, &p))
            return FAIL(c, -EINVAL,
                        "%s: %s.priority: expected an integer (smaller = more "
                        "important)",
                        c->origin, w);
        enum tuner_subject subj = tuner_metric_index(t, subject) >= 0 ? TUNER_METRIC : TUNER_KNOB;
        rc = tuner_add_constraint(t, name, subj, subject, cmp, val->valuedouble, (int)p,
                                  conf ? conf->valuedouble : 0.0, e, sizeof(e));
        if (rc < 0)
            return FAIL(c, rc, "%s: %s: %s", c->origin, w, e);
        i++;
    }
    return 0;
}

static void parse_learning(const cJSON *block, struct tuner_learn_params *lp)
{
    const cJSON *a = member(block, "agora");
    long v;
    if (!get_long(member(a, "number_observations_per_configuration"), &v) && v > 0)
        lp->observations_per_config = (size_t)v;
    const cJSON *l = member(block, "learning");
    if (!get_long(member(l, "min_samples"), &v) && v > 0)
        lp->min_samples = (size_t)v;
    if (!get_long(member(l, "band_samples"), &v) && v > 0)
        lp->band_samples = (size_t)v;
    if (!get_long(member(l, "design_budget"), &v) && v > 0)
        lp->design_budget = (size_t)v;
    const cJSON *x = member(l, "outlier_mads");
    if (cJSON_IsNumber(x) && x->valuedouble >= 0)
        lp->outlier_mads = x->valuedouble;
    x = member(l, "band");
    if (cJSON_IsNumber(x) && x->valuedouble > 1)
        lp->band = x->valuedouble;
}

typedef int (*item_fn)(struct ctx *, struct tuner *, const cJSON *, const char *);

static int parse_list(struct ctx *c, struct tuner *t, const cJSON *block, const char *key,
                      const char *bwhere, item_fn fn)
{
    const cJSON *list = member(block, key), *it;
    if (!list)
        return 0;
    if (!cJSON_IsArray(list))
        return FAIL(c, -EINVAL, "%s: %s.%s: expected an array", c->origin, bwhere, key);
    int i = 0, rc;
    cJSON_ArrayForEach(it, list)
    {
        char w[128];
        snprintf(w, sizeof(w), "%s.%s[%d]", bwhere, key, i++);
        if (!cJSON_IsObject(it))
            return FAIL(c, -EINVAL, "%s: %s: expected an object", c->origin, w);
        if ((rc = fn(c, t, it, w)))
            return rc;
    }
    return 0;
}

static int metric_item(struct ctx *c, struct tuner *t, const cJSON *m, const char *w)
{
    return parse_metric(c, t, c->block, m, w);
}

struct tuner *tuner_config_parse(const char *json, const char *origin, const char *block,
                                 struct tuner_learn_params *lp, char *err, size_t errlen)
{
    return tuner_config_parse_ex(json, origin, block, lp, NULL, 0, err, errlen);
}

/* The block named `block` (NULL: the first) and its index in blocks, or NULL. */
static const cJSON *find_block(const cJSON *blocks, const char *block, int *idx)
{
    const cJSON *b;
    int i = 0;
    cJSON_ArrayForEach(b, blocks)
    {
        const cJSON *n = member(b, "name");
        if (!block || (cJSON_IsString(n) && !strcmp(n->valuestring, block))) {
            *idx = i;
            return b;
        }
        i++;
    }
    return NULL;
}

static int parse_distance(struct ctx *c, struct tuner *t, const cJSON *block, const char *where)
{
    const cJSON *dist = member(block, "feature_distance");
    if (!dist)
        return 0;
    if (cJSON_IsString(dist) && !strcmp(dist->valuestring, "euclidean"))
        tuner_set_feature_distance(t, TUNER_EUCLIDEAN);
    else if (cJSON_IsString(dist) && !strcmp(dist->valuestring, "normalized"))
        tuner_set_feature_distance(t, TUNER_NORMALIZED);
    else
        return FAIL(c, -EINVAL, "%s: %s.feature_distance: expected \"euclidean\" or \"normalized\"",
                    c->origin, where);
    return 0;
}

struct tuner *tuner_config_parse_ex(const char *json, const char *origin, const char *block,
                                    struct tuner_learn_params *lp, const char *const *metrics,
                                    size_t n_metrics, char *err, size_t errlen)
{
    struct ctx c = {origin ? origin : "(margot.json)", err, errlen, NULL};
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 0);
    if (!root) {
        FAIL(&c, -EINVAL,
             "%s: not valid JSON (error near byte %ld): expected a margot.json "
             "object",
             c.origin, end ? (long)(end - json) : -1L);
        return NULL;
    }
    struct tuner *t = NULL;
    const cJSON *blocks = member(root, "blocks"), *found = NULL;
    if (!cJSON_IsArray(blocks) || cJSON_GetArraySize(blocks) == 0) {
        FAIL(&c, -EINVAL, "%s: blocks: expected a non-empty array of blocks", c.origin);
        goto fail;
    }
    int found_idx = 0;
    found = find_block(blocks, block, &found_idx);
    if (!found) {
        FAIL(&c, -ENOENT, "%s: blocks: no block named \"%s\"", c.origin, block);
        goto fail;
    }
    char where[32];
    snprintf(where, sizeof(where), "blocks[%d]", found_idx);
    const char *bname;
    if (get_string(&c, found, "name", where, &bname))
        goto fail;
    t = tuner_new(bname);
    if (!t) {
        FAIL(&c, -ENOMEM, "%s: out of memory", c.origin);
        goto fail;
    }
    c.block = found;
    if (parse_list(&c, t, found, "knobs", where, parse_knob) ||
        parse_list(&c, t, found, "metrics", where, metric_item) ||
        parse_list(&c, t, found, "features", where, parse_feature))
        goto fail;
    for (size_t m = 0; m < n_metrics; m++)
        if (tuner_metric_index(t, metrics[m]) < 0 &&
            tuner_add_metric(t, metrics[m], err, errlen) < 0)
            goto fail;
    if (parse_distance(&c, t, found, where))
        goto fail;
    const cJSON *reqs = member(found, "extra-functional_requirements"), *r;
    if (reqs && !cJSON_IsArray(reqs)) {
        FAIL(&c, -EINVAL, "%s: %s.extra-functional_requirements: expected an array of states",
             c.origin, where);
        goto fail;
    }
    size_t si = 0;
    cJSON_ArrayForEach(r, reqs)
    {
        if (parse_state(&c, t, r, si++))
            goto fail;
    }
    if (lp)
        parse_learning(found, lp);
    cJSON_Delete(root);
    return t;
fail:
    tuner_free(t);
    cJSON_Delete(root);
    return NULL;
}

struct tuner *tuner_config_load(const char *path, const char *block, struct tuner_learn_params *lp,
                                char *err, size_t errlen)
{
    return tuner_config_load_ex(path, block, lp, NULL, 0, err, errlen);
}

struct tuner *tuner_config_load_ex(const char *path, const char *block,
                                   struct tuner_learn_params *lp, const char *const *metrics,
                                   size_t n_metrics, char *err, size_t errlen)
{
    char *text = tuner_read_text(path, err, errlen);
    if (!text)
        return NULL;
    struct tuner *t = tuner_config_parse_ex(text, path, block, lp, metrics, n_metrics, err, errlen);
    free(text);
    return t;
}
