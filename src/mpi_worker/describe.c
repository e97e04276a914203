/* What a worker serves, as the JSON its HELLO carries to the gateway for $info: each kind with
 * its variants and input features, and the broadcast kinds it handles. */
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "describe.h"

/* A declared knob: {"name", "default", and "min"/"max"/"step" or "labels"}. */
static cJSON *describe_knob(const struct kf_knob *kn)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "name", kn->name);
    if (kn->type == KF_KNOB_LABELS) {
        cJSON *l = cJSON_AddArrayToObject(o, "labels");
        for (size_t i = 0; kn->labels && kn->labels[i]; i++)
            cJSON_AddItemToArray(l, cJSON_CreateString(kn->labels[i]));
    } else {
        cJSON_AddNumberToObject(o, "min", (double)kn->min);
        cJSON_AddNumberToObject(o, "max", (double)kn->max);
        cJSON_AddNumberToObject(o, "step", (double)kn->step);
    }
    cJSON_AddNumberToObject(o, "default", (double)kn->def);
    return o;
}

static cJSON *describe_kernel(const struct kf_registry_kernel *k)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "kind", k->kernel->kind);
    cJSON *v = cJSON_AddArrayToObject(o, "variants");
    cJSON_AddItemToArray(v, cJSON_CreateString("cpu"));
    if (k->kernel->accel)
        cJSON_AddItemToArray(v, cJSON_CreateString("accel"));
    cJSON *f = cJSON_AddArrayToObject(o, "features");
    for (size_t i = 0;
         k->kernel->features && k->kernel->feature_names && k->kernel->feature_names[i]; i++)
        cJSON_AddItemToArray(f, cJSON_CreateString(k->kernel->feature_names[i]));
    cJSON *knobs = cJSON_AddArrayToObject(o, "knobs");
    for (size_t i = 0; k->kernel->knobs && i < k->kernel->n_knobs; i++)
        cJSON_AddItemToArray(knobs, describe_knob(&k->kernel->knobs[i]));
    return o;
}

char *kf_describe_registry(const struct kf_registry *r)
{
    cJSON *root = cJSON_CreateObject();
    cJSON *kinds = cJSON_AddArrayToObject(root, "kinds");
    const struct kf_registry_kernel *k;
    for (size_t i = 0; (k = kf_registry_kernel_at(r, i)); i++)
        cJSON_AddItemToArray(kinds, describe_kernel(k));
    cJSON *bc = cJSON_AddArrayToObject(root, "broadcasts");
    const struct kf_registry_broadcast *b;
    for (size_t i = 0; (b = kf_registry_broadcast_at(r, i)); i++)
        cJSON_AddItemToArray(bc, cJSON_CreateString(b->handler->kind));
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}
