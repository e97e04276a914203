/* ops.json knowledge: {"<block>": [{"features":{..},"knobs":{..},"metrics":{"m":[mean,std]}}]},
 * loaded into a block's OPs and dumped from them; errors say file, OP index, field, expected. */
#include "tuner_private.h"
#include "atomic_file.h"
#include "text_file.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

/* The knobs of OP idx into k: every knob of the block, by value or enumeration label. */
static int parse_op_knobs(const struct tuner *t, const cJSON *ks, const char *origin, size_t idx,
                          double *k, char *err, size_t errlen)
{
    const char *b = t->block;
    const cJSON *it;
    cJSON_ArrayForEach(it, ks)
    {
        if (tuner_knob_index(t, it->string) < 0)
            return kf_errf(err, errlen, -EINVAL,
                           "%s: %s[%zu].knobs.%s: unknown knob; "
                           "expected one of the block's knobs",
                           origin, b, idx, it->string);
    }
    for (size_t i = 0; i < t->nk; i++) {
        const struct knob *kn = &t->knobs[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(ks, kn->name);
        char num[32];
        const char *label = NULL;
        if (cJSON_IsString(v))
            label = v->valuestring;
        else if (cJSON_IsNumber(v) && kn->is_enum) {
            snprintf(num, sizeof(num), "%.17g", v->valuedouble);
            label = num;
        }
        if (label && kn->is_enum) {
            if (tuner_knob_value(t, i, label, &k[i]) < 0)
                return kf_errf(err, errlen, -EINVAL,
                               "%s: %s[%zu].knobs.%s: \"%s\" is not "
                               "one of the knob's values",
                               origin, b, idx, kn->name, label);
        } else if (cJSON_IsNumber(v) && !kn->is_enum) {
            k[i] = v->valuedouble;
        } else {
            return kf_errf(err, errlen, -EINVAL, "%s: %s[%zu].knobs.%s: expected %s", origin, b,
                           idx, kn->name,
                           kn->is_enum ? "one of the enumeration's values" : "a number");
        }
    }
    return 0;
}

/* The metrics of OP idx: a number (the mean) or [mean, stddev] each. */
static int parse_op_metrics(const struct tuner *t, const cJSON *ms, const char *origin, size_t idx,
                            double *mean, double *sd, char *err, size_t errlen)
{
    const char *b = t->block;
    for (size_t i = 0; i < t->nm; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(ms, t->metrics[i].name);
        sd[i] = 0;
        if (cJSON_IsNumber(v)) {
            mean[i] = v->valuedouble;
        } else if (cJSON_IsArray(v) && cJSON_GetArraySize(v) >= 1 && cJSON_GetArraySize(v) <= 2 &&
                   cJSON_IsNumber(cJSON_GetArrayItem(v, 0)) &&
                   (cJSON_GetArraySize(v) == 1 || cJSON_IsNumber(cJSON_GetArrayItem(v, 1)))) {
            mean[i] = cJSON_GetArrayItem(v, 0)->valuedouble;
            if (cJSON_GetArraySize(v) == 2)
                sd[i] = cJSON_GetArrayItem(v, 1)->valuedouble;
            if (sd[i] < 0)
                return kf_errf(err, errlen, -EINVAL,
                               "%s: %s[%zu].metrics.%s: stddev must "
                               "be >= 0",
                               origin, b, idx, t->metrics[i].name);
        } else {
            return kf_errf(err, errlen, -EINVAL,
                           "%s: %s[%zu].metrics.%s: expected [mean, "
                           "stddev] or a number",
                           origin, b, idx, t->metrics[i].name);
        }
    }
    return 0;
}

static int parse_op(struct tuner *t, const cJSON *op, const char *origin, size_t idx, char *err,
                    size_t errlen)
{
    double f[TUNER_MAX_FEATURES], k[TUNER_MAX_KNOBS], mean[TUNER_MAX_METRICS],
        sd[TUNER_MAX_METRICS];
    const char *b = t->block;
    if (!cJSON_IsObject(op))
        return kf_errf(err, errlen, -EINVAL,
                       "%s: %s[%zu]: expected an object with "
                       "features, knobs and metrics",
                       origin, b, idx);
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(op, "features");
    const cJSON *ks = cJSON_GetObjectItemCaseSensitive(op, "knobs");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(op, "metrics");
    if ((t->nf && !cJSON_IsObject(fs)) || !cJSON_IsObject(ks) || !cJSON_IsObject(ms))
        return kf_errf(err, errlen, -EINVAL,
                       "%s: %s[%zu]: expected objects \"features\"%s, "
                       "\"knobs\" and \"metrics\"",
                       origin, b, idx, t->nf ? "" : " (optional)");
    for (size_t i = 0; i < t->nf; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(fs, t->features[i].name);
        if (!cJSON_IsNumber(v))
            return kf_errf(err, errlen, -EINVAL,
                           "%s: %s[%zu].features.%s: expected a "
                           "number",
                           origin, b, idx, t->features[i].name);
        f[i] = v->valuedouble;
    }
    int rc;
    if ((rc = parse_op_knobs(t, ks, origin, idx, k, err, errlen)) ||
        (rc = parse_op_metrics(t, ms, origin, idx, mean, sd, err, errlen)))
        return rc;
    rc = tuner_add_op(t, f, k, mean, sd);
    return rc < 0 ? kf_errf(err, errlen, rc, "%s: out of memory adding OP %zu", origin, idx) : 0;
}

int tuner_knowledge_parse(struct tuner *t, const char *json, const char *origin, char *err,
                          size_t errlen)
{
    if (!origin)
        origin = "(ops.json)";
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(json, &end, 0);
    if (!root)
        return kf_errf(err, errlen, -EINVAL,
                       "%s: not valid JSON (error near byte %ld): "
                       "expected an ops.json object",
                       origin, end ? (long)(end - json) : -1L);
    int rc = 0;
    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(root, t->block);
    if (!cJSON_IsObject(root) || !cJSON_IsArray(ops)) {
        rc = kf_errf(err, errlen, -EINVAL,
                     "%s: %s: expected an array of operating points "
                     "under the block's name",
                     origin, t->block);
        goto out;
    }
    /* all or nothing: a bad OP leaves the previous knowledge in place */
    size_t before = t->n_ops, idx = 0;
    const cJSON *op;
    cJSON_ArrayForEach(op, ops)
    {
        if ((rc = parse_op(t, op, origin, idx++, err, errlen)) < 0) {
            t->n_ops = before;
            t->clusters_dirty = t->rank_dirty = 1;
            tuner_invalidate(t);
            break;
        }
    }
out:
    cJSON_Delete(root);
    return rc;
}

int tuner_knowledge_load(struct tuner *t, const char *path, char *err, size_t errlen)
{
    char *text = tuner_read_text(path, err, errlen);
    if (!text)
        return errno ? -errno : -EIO;
    int rc = tuner_knowledge_parse(t, text, path, err, errlen);
    free(text);
    return rc;
}

char *tuner_knowledge_dump(const struct tuner *t)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *ops = cJSON_AddArrayToObject(root, t->block);
    if (!ops)
        goto fail;
    for (size_t o = 0; o < t->n_ops; o++) {
        cJSON *op = cJSON_CreateObject(), *fs, *ks, *ms;
        if (!op || !cJSON_AddItemToArray(ops, op) ||
            !(fs = cJSON_AddObjectToObject(op, "features")) ||
            !(ks = cJSON_AddObjectToObject(op, "knobs")) ||
            !(ms = cJSON_AddObjectToObject(op, "metrics")))
            goto fail;
        for (size_t i = 0; i < t->nf; i++)
            if (!cJSON_AddNumberToObject(fs, t->features[i].name, t->op_features[o * t->nf + i]))
                goto fail;
        for (size_t i = 0; i < t->nk; i++) {
            double v = t->op_knobs[o * t->nk + i];
            const char *label = tuner_knob_label(t, i, v);
            if (!(label ? cJSON_AddStringToObject(ks, t->knobs[i].name, label)
                        : cJSON_AddNumberToObject(ks, t->knobs[i].name, v)))
                goto fail;
        }
        for (size_t i = 0; i < t->nm; i++) {
            double pair[2] = {t->op_mean[o * t->nm + i], t->op_std[o * t->nm + i]};
            cJSON *a = cJSON_CreateDoubleArray(pair, 2);
            if (!a || !cJSON_AddItemToObject(ms, t->metrics[i].name, a)) {
                cJSON_Delete(a);
                goto fail;
            }
        }
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    return s;
fail:
    cJSON_Delete(root);
    return NULL;
}

int tuner_knowledge_save(const struct tuner *t, const char *path, char *err, size_t errlen)
{
    char *s = tuner_knowledge_dump(t);
    if (!s)
        return kf_errf(err, errlen, -ENOMEM, "%s: out of memory building the knowledge", path);
    int rc = kf_atomic_write_text(path, s, TUNER_TEXT_FILE_MODE, err, errlen);
    free(s);
    return rc;
}
