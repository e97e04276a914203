/* $info: what the job serves, merged from the workers' HELLOs (one entry per kind, with the ranks
 * that serve it), and the broadcast kinds no worker handles. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "info.h"
#include "log.h"

/* Distinct unhandled PUB broadcast kinds logged; kinds beyond these are not logged. */
#define MAX_WARNED 64

struct kf_info {
    int n_workers;
    const char *topic;
    cJSON **served; /* indexed by rank, 1..n_workers; NULL when unknown */
    char *warned[MAX_WARNED];
    size_t n_warned;
};

struct kf_info *kf_info_new(int n_workers, const char *topic)
{
    struct kf_info *in = calloc(1, sizeof(*in));
    if (!in)
        return NULL;
    in->served = calloc((size_t)n_workers + 1, sizeof(cJSON *));
    if (!in->served) {
        free(in);
        return NULL;
    }
    in->n_workers = n_workers;
    in->topic = topic;
    return in;
}

void kf_info_free(struct kf_info *in)
{
    if (!in)
        return;
    for (int r = 0; r <= in->n_workers; r++)
        cJSON_Delete(in->served[r]);
    for (size_t i = 0; i < in->n_warned; i++)
        free(in->warned[i]);
    free(in->served);
    free(in);
}

void kf_info_set_rank(struct kf_info *in, int rank, const char *json, size_t len)
{
    if (!in || rank < 1 || rank > in->n_workers || len == 0)
        return;
    cJSON_Delete(in->served[rank]);
    in->served[rank] = cJSON_ParseWithLength(json, len);
    if (!in->served[rank])
        kf_warn("worker rank %d described its kinds in JSON the gateway cannot read; $info "
                "will not list them",
                rank);
}

/* The entry for kind in kinds, added (from the worker's entry e, without its rank list) when
 * first seen. */
static cJSON *kind_entry(cJSON *kinds, const cJSON *e)
{
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(e, "kind");
    cJSON *k;
    cJSON_ArrayForEach(k, kinds)
    {
        if (cJSON_Compare(cJSON_GetObjectItemCaseSensitive(k, "kind"), name, 1))
            return k;
    }
    k = cJSON_Duplicate(e, 1);
    cJSON_AddArrayToObject(k, "ranks");
    cJSON_AddItemToArray(kinds, k);
    return k;
}

static void add_unique_string(cJSON *array, const cJSON *s)
{
    const cJSON *x;
    cJSON_ArrayForEach(x, array)
    {
        if (cJSON_Compare(x, s, 1))
            return;
    }
    cJSON_AddItemToArray(array, cJSON_Duplicate(s, 0));
}

char *kf_info_json(const struct kf_info *in)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "protocol", KF_PROTOCOL_VERSION);
    cJSON_AddStringToObject(root, "version", KFARM_VERSION);
    cJSON_AddStringToObject(root, "topic", in->topic ? in->topic : "");
    cJSON_AddNumberToObject(root, "gateways", 1);
    cJSON_AddNumberToObject(root, "workers", in->n_workers);
    cJSON *kinds = cJSON_AddArrayToObject(root, "kinds");
    cJSON *broadcasts = cJSON_AddArrayToObject(root, "broadcasts");
    for (int r = 1; r <= in->n_workers; r++) {
        const cJSON *e, *b;
        cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(in->served[r], "kinds"))
        {
            cJSON_AddItemToArray(cJSON_GetObjectItemCaseSensitive(kind_entry(kinds, e), "ranks"),
                                 cJSON_CreateNumber(r));
        }
        cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(in->served[r], "broadcasts"))
        {
            add_unique_string(broadcasts, b);
        }
    }
    char *text = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return text;
}

static int served_has(const cJSON *served, const char *kind, size_t kind_len)
{
    const cJSON *b;
    cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(served, "broadcasts"))
    {
        if (cJSON_IsString(b) && strlen(b->valuestring) == kind_len &&
            memcmp(b->valuestring, kind, kind_len) == 0)
            return 1;
    }
    return 0;
}

int kf_info_broadcast_handled(const struct kf_info *in, const char *kind, size_t kind_len)
{
    for (int r = 1; r <= in->n_workers; r++)
        if (!in->served[r] || served_has(in->served[r], kind, kind_len))
            return 1;
    return 0;
}

void kf_info_warn_unhandled(struct kf_info *in, const char *kind, size_t kind_len)
{
    for (size_t i = 0; i < in->n_warned; i++)
        if (strlen(in->warned[i]) == kind_len && memcmp(in->warned[i], kind, kind_len) == 0)
            return;
    if (in->n_warned == MAX_WARNED)
        return; /* a flood of made-up kinds must not flood the log either */
    in->warned[in->n_warned] = strndup(kind, kind_len);
    if (in->warned[in->n_warned])
        in->n_warned++;
    kf_warn("broadcast '%.*s' dropped: no worker handles it (kinds in $info); further ones of "
            "this kind are dropped silently",
            (int)(kind_len > 64 ? 64 : kind_len), kind);
}
