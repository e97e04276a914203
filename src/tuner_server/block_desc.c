/* Welcome-message block descriptions for the MQTT servers: parsing, and conversions between
 * JSON knob/feature/metric objects and value vectors in the description's order. */
#include "block_desc.h"
#include "errbuf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_RANGE_VALUES 100000

static int copy(char *dst, const cJSON *v)
{
    if (!cJSON_IsString(v) || !*v->valuestring || strlen(v->valuestring) >= TUNER_NAME_MAX)
        return -EINVAL;
    strcpy(dst, v->valuestring);
    return 0;
}

/* One knob of the welcome: its values (an enumeration's labels, or a range's values). */
static int parse_knob(struct bd_knob *b, const cJSON *k)
{
    const cJSON *vals = cJSON_GetObjectItemCaseSensitive(k, "values");
    const cJSON *range = cJSON_GetObjectItemCaseSensitive(k, "range");
    if (copy(b->name, cJSON_GetObjectItemCaseSensitive(k, "name")))
        return -EINVAL;
    if (cJSON_IsArray(vals) && cJSON_GetArraySize(vals) > 0) {
        b->n = (size_t)cJSON_GetArraySize(vals);
        b->is_enum = 1;
        b->values = calloc(b->n, sizeof(double));
        b->labels = calloc(b->n, sizeof(char *));
        if (!b->values || !b->labels)
            return -EINVAL;
        size_t i = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, vals)
        {
            char num[32];
            if (cJSON_IsNumber(v))
                snprintf(num, sizeof(num), "%.17g", v->valuedouble);
            else if (!cJSON_IsString(v))
                return -EINVAL;
            b->labels[i] = strdup(cJSON_IsString(v) ? v->valuestring : num);
            if (!b->labels[i])
                return -EINVAL;
            b->values[i] = (double)i;
            i++;
        }
    } else if (cJSON_IsArray(range) && cJSON_GetArraySize(range) == 3) {
        double lo = cJSON_GetArrayItem(range, 0)->valuedouble;
        double hi = cJSON_GetArrayItem(range, 1)->valuedouble;
        double st = cJSON_GetArrayItem(range, 2)->valuedouble;
        if (!(st > 0) || hi < lo || (hi - lo) / st > MAX_RANGE_VALUES)
            return -EINVAL;
        b->n = (size_t)((hi - lo) / st) + 1;
        b->values = calloc(b->n, sizeof(double));
        if (!b->values)
            return -EINVAL;
        for (size_t i = 0; i < b->n; i++)
            b->values[i] = lo + (double)i * st;
    } else {
        return -EINVAL;
    }
    return 0;
}

/* The metric to minimise or maximise (default: minimise the first); objective_idx stays -1 when
 * the named one is not a metric. */
static void pick_objective(struct block_desc *d, const cJSON *root)
{
    const cJSON *obj = cJSON_GetObjectItemCaseSensitive(root, "objective");
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(obj, "minimize");
    if (!o) {
        o = cJSON_GetObjectItemCaseSensitive(obj, "maximize");
        d->maximize = o != NULL;
    }
    if (o && copy(d->objective, o) == 0) {
        for (size_t i = 0; i < d->nm; i++)
            if (!strcmp(d->metrics[i], d->objective))
                d->objective_idx = (int)i;
    } else {
        strcpy(d->objective, d->metrics[0]);
        d->objective_idx = 0;
    }
}

int block_desc_parse(struct block_desc *d, const char *json, char *err, size_t errlen)
{
    memset(d, 0, sizeof(*d));
    d->objective_idx = -1;
    cJSON *root = cJSON_Parse(json);
    int rc = -EINVAL;
    const char *what = "not valid JSON";
    if (!root)
        goto out;
    what = "block: expected a name";
    if (copy(d->block, cJSON_GetObjectItemCaseSensitive(root, "block")))
        goto out;
    const cJSON *k, *list = cJSON_GetObjectItemCaseSensitive(root, "knobs");
    what = "knobs: expected [{\"name\", \"values\"|\"range\"}, ...] (at most 16)";
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > TUNER_MAX_KNOBS)
        goto out;
    cJSON_ArrayForEach(k, list)
    {
        if (parse_knob(&d->knobs[d->nk++], k))
            goto out;
    }
    what = "features: expected [{\"name\"}, ...] (at most 16)";
    list = cJSON_GetObjectItemCaseSensitive(root, "features");
    if (list && (!cJSON_IsArray(list) || cJSON_GetArraySize(list) > TUNER_MAX_FEATURES))
        goto out;
    cJSON_ArrayForEach(k, list)
    {
        if (copy(d->features[d->nf++], cJSON_GetObjectItemCaseSensitive(k, "name")))
            goto out;
    }
    what = "metrics: expected a non-empty array of names (at most 16)";
    list = cJSON_GetObjectItemCaseSensitive(root, "metrics");
    if (!cJSON_IsArray(list) || cJSON_GetArraySize(list) == 0 ||
        cJSON_GetArraySize(list) > TUNER_MAX_METRICS)
        goto out;
    cJSON_ArrayForEach(k, list)
    {
        if (copy(d->metrics[d->nm++], k))
            goto out;
    }
    pick_objective(d, root);
    what = "objective: expected {\"minimize\"|\"maximize\": \"<one of the metrics>\"}";
    if (d->objective_idx < 0)
        goto out;
    cJSON_ArrayForEach(k, cJSON_GetObjectItemCaseSensitive(root, "hw_features"))
    {
        for (size_t i = 0; cJSON_IsString(k) && i < d->nf; i++)
            if (!strcmp(d->features[i], k->valuestring))
                d->hw[i] = 1;
    }
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "observations_per_configuration");
    /* any client on the broker can send a welcome: a huge count must neither overflow the
     * conversion nor stall learning forever (found by tests/fuzz/fuzz_tuner_mqtt) */
    if (cJSON_IsNumber(n) && n->valuedouble >= 1)
        d->obs_per_config =
            n->valuedouble > BD_MAX_OBS_PER_CONFIG ? BD_MAX_OBS_PER_CONFIG : (size_t)n->valuedouble;
    rc = 0;
out:
    if (rc) {
        kf_errf(err, errlen, rc, "welcome: %s", what);
        block_desc_fini(d);
    }
    cJSON_Delete(root);
    return rc;
}

void block_desc_fini(struct block_desc *d)
{
    for (size_t i = 0; i < d->nk; i++) {
        for (size_t j = 0; d->knobs[i].labels && j < d->knobs[i].n; j++)
            free(d->knobs[i].labels[j]);
        free(d->knobs[i].labels);
        free(d->knobs[i].values);
    }
    d->nk = 0;
}

int block_desc_knobs(const struct block_desc *d, const cJSON *obj, double *out)
{
    for (size_t i = 0; i < d->nk; i++) {
        const struct bd_knob *b = &d->knobs[i];
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, b->name);
        size_t j = 0;
        if (b->is_enum) {
            char num[32];
            const char *label = cJSON_IsString(v) ? v->valuestring : NULL;
            if (cJSON_IsNumber(v)) {
                snprintf(num, sizeof(num), "%.17g", v->valuedouble);
                label = num;
            }
            while (label && j < b->n && strcmp(b->labels[j], label))
                j++;
            if (!label || j == b->n)
                return -ENOENT;
            out[i] = (double)j;
        } else {
            if (!cJSON_IsNumber(v))
                return -ENOENT;
            out[i] = v->valuedouble;
        }
    }
    return 0;
}

cJSON *block_desc_knobs_json(const struct block_desc *d, const double *k)
{
    cJSON *o = cJSON_CreateObject();
    for (size_t i = 0; o && i < d->nk; i++) {
        const struct bd_knob *b = &d->knobs[i];
        if (b->is_enum)
            cJSON_AddStringToObject(o, b->name, b->labels[(size_t)k[i]]);
        else
            cJSON_AddNumberToObject(o, b->name, k[i]);
    }
    return o;
}

int block_desc_features(const struct block_desc *d, const cJSON *obj, double *out)
{
    for (size_t i = 0; i < d->nf; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, d->features[i]);
        if (!cJSON_IsNumber(v))
            return -ENOENT;
        out[i] = v->valuedouble;
    }
    return 0;
}

int block_desc_metrics(const struct block_desc *d, const cJSON *obj, double *mean, double *sd)
{
    for (size_t i = 0; i < d->nm; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, d->metrics[i]);
        if (cJSON_IsArray(v) && cJSON_IsNumber(cJSON_GetArrayItem(v, 0))) {
            mean[i] = cJSON_GetArrayItem(v, 0)->valuedouble;
            const cJSON *s = cJSON_GetArrayItem(v, 1);
            if (sd)
                sd[i] = cJSON_IsNumber(s) ? s->valuedouble : 0;
        } else if (cJSON_IsNumber(v)) {
            mean[i] = v->valuedouble;
            if (sd)
                sd[i] = 0;
        } else {
            return -ENOENT;
        }
    }
    return 0;
}
