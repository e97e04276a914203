/* Decodes monte-carlo / ptdr-stats requests: routes of segment ids resolved against the loaded
 * profiles, departure wrapped into the week, frequency and samples validated, and the seed. */
#include "ptdr.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptdr_sample.h"

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        goto fail;                                                                                 \
    } while (0)

static uint64_t fnv(uint64_t h, const void *data, size_t len)
{
    const unsigned char *b = data;
    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 1099511628211ull;
    }
    return h;
}

/* Reads departure_time, frequency and samples (shared by parse and features). */
static int parse_scalars(const cJSON *root, uint32_t default_samples, int allow_samples,
                         double *dep_ms, double *freq, uint32_t *samples, char *err, size_t errlen)
{
    const cJSON *dep = cJSON_GetObjectItemCaseSensitive(root, "departure_time");
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(root, "frequency");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(root, "samples");
    if (!dep)
        FAIL("\"departure_time\" is missing (milliseconds since Monday 00:00)");
    if (!cJSON_IsNumber(dep) || !isfinite(dep->valuedouble) || dep->valuedouble < 0)
        FAIL("\"departure_time\" must be a number >= 0 (milliseconds since Monday 00:00)");
    /* Later weeks repeat the profiles: a departure beyond one week wraps. */
    *dep_ms = fmod(dep->valuedouble, PTDR_WEEK_MS) + 0.0; /* + 0.0: -0 hashes like 0 */
    *freq = 0.0;
    if (f) {
        if (!cJSON_IsNumber(f) || !isfinite(f->valuedouble) || f->valuedouble < 0)
            FAIL("\"frequency\" must be a number of seconds >= 0");
        *freq = f->valuedouble;
    }
    *samples = default_samples;
    if (n && allow_samples) {
        if (!cJSON_IsNumber(n) || n->valuedouble != floor(n->valuedouble) || n->valuedouble < 1 ||
            n->valuedouble > PTDR_MAX_SAMPLES)
            FAIL("\"samples\" must be an integer in 1..%u", PTDR_MAX_SAMPLES);
        *samples = (uint32_t)n->valuedouble;
    }
    return 0;
fail:
    return -EINVAL;
}

static const cJSON *get_routes(const cJSON *root, char *err, size_t errlen)
{
    const cJSON *routes = cJSON_GetObjectItemCaseSensitive(root, "routes");
    if (!cJSON_IsArray(routes))
        FAIL("\"routes\" must be an array of routes, each an array of segment ids");
    if (!routes->child)
        FAIL("\"routes\" is empty: give at least one route");
    return routes;
fail:
    return NULL;
}

int ptdr_request_parse(struct ptdr_request *q, const void *payload, size_t len,
                       const struct ptdr_profiles *p, uint32_t default_samples, int allow_samples,
                       uint64_t adapter_seed, char *err, size_t errlen)
{
    memset(q, 0, sizeof(*q));
    cJSON *root = cJSON_ParseWithLength(payload, len);
    if (!cJSON_IsObject(root))
        FAIL("payload is not a JSON object (malformed JSON or wrong type)");
    double freq;
    if (parse_scalars(root, default_samples, allow_samples, &q->departure_ms, &freq, &q->samples,
                      err, errlen))
        goto fail;
    q->frequency = freq;
    const cJSON *routes = get_routes(root, err, errlen);
    if (!routes)
        goto fail;
    size_t n_routes = 0, n_segs = 0;
    for (const cJSON *r = routes->child; r; r = r->next, n_routes++) {
        if (!cJSON_IsArray(r))
            FAIL("route %zu is not an array of segment ids", n_routes);
        if (!r->child)
            FAIL("route %zu is empty", n_routes);
        n_segs += (size_t)cJSON_GetArraySize(r);
    }
    if (n_routes > UINT32_MAX / q->samples || n_routes * q->samples > PTDR_MAX_WORK)
        FAIL("%zu routes x %u samples is more than %u travel times per request; split it", n_routes,
             q->samples, PTDR_MAX_WORK);
    if (n_segs > UINT32_MAX)
        FAIL("too many segments in one request");
    q->n_routes = (uint32_t)n_routes;
    q->route_off = malloc((n_routes + 1) * sizeof(*q->route_off));
    q->segs = malloc(n_segs * sizeof(*q->segs));
    if (!q->route_off || !q->segs)
        FAIL("out of memory for %zu route segments", n_segs);

    /* The seed hashes what defines the answer, not the JSON spelling, so that monte-carlo and
     * ptdr-stats with the same routes and departure draw the same samples. */
    uint64_t h = 1469598103934665603ull;
    h = fnv(h, &q->departure_ms, sizeof(q->departure_ms));
    h = fnv(h, &q->samples, sizeof(q->samples));
    size_t k = 0, ri = 0;
    for (const cJSON *r = routes->child; r; r = r->next, ri++) {
        q->route_off[ri] = (uint32_t)k;
        size_t pos = 0;
        for (const cJSON *s = r->child; s; s = s->next, pos++) {
            if (!cJSON_IsString(s))
                FAIL("route %zu, position %zu: segment id must be a string", ri, pos);
            int64_t seg = ptdr_profiles_find(p, s->valuestring);
            if (seg < 0)
                FAIL("route %zu, position %zu: unknown segment id \"%.200s\" (not in %s)", ri, pos,
                     s->valuestring, p->path);
            q->segs[k++] = (uint32_t)seg;
            h = fnv(h, s->valuestring, strlen(s->valuestring) + 1);
        }
        h = fnv(h, "/", 1);
    }
    q->route_off[n_routes] = (uint32_t)k;
    q->seed = ptdr_mix64(adapter_seed ^ ptdr_mix64(h));

    double dep_s = q->departure_ms / 1000.0;
    double slot = floor(dep_s / 900.0);
    if (slot > PTDR_SLOTS - 1)
        slot = PTDR_SLOTS - 1;
    q->dep_slot = (uint32_t)slot;
    q->dep_offset = (float)(dep_s - slot * 900.0);
    if (q->dep_offset >= 900.0f) /* float rounding of 899.99999 */
        q->dep_offset = nextafterf(900.0f, 0.0f);
    cJSON_Delete(root);
    return 0;
fail:
    cJSON_Delete(root);
    ptdr_request_fini(q);
    return -EINVAL;
}

void ptdr_request_fini(struct ptdr_request *q)
{
    free(q->route_off);
    free(q->segs);
    q->route_off = NULL;
    q->segs = NULL;
}

int ptdr_request_features(const void *payload, size_t len, uint32_t default_samples,
                          int allow_samples, double *features, size_t max)
{
    char err[128];
    int n = -1;
    cJSON *root = cJSON_ParseWithLength(payload, len);
    double dep, freq;
    uint32_t samples;
    const cJSON *routes;
    if (!cJSON_IsObject(root) ||
        parse_scalars(root, default_samples, allow_samples, &dep, &freq, &samples, err,
                      sizeof(err)) ||
        !(routes = get_routes(root, err, sizeof(err))))
        goto out;
    double n_routes = 0, n_segs = 0;
    for (const cJSON *r = routes->child; r; r = r->next) {
        n_routes++;
        n_segs += cJSON_GetArraySize(r);
    }
    double all[3] = {n_routes, n_segs, samples};
    n = 0;
    for (; (size_t)n < max && n < 3; n++)
        features[n] = all[n];
out:
    cJSON_Delete(root);
    return n;
}
