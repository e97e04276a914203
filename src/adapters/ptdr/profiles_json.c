/* Loads the JSON profile format (an array of {id, length, max_speed, profiles[672]}) into the
 * in-memory layout, rejecting bad input with the file, segment and slot named. */
#include "profiles.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptdr_sample.h"

#define FAIL(code, ...)                                                                            \
    do {                                                                                           \
        snprintf(err, errlen, __VA_ARGS__);                                                        \
        rc = (code);                                                                               \
        goto fail;                                                                                 \
    } while (0)

static int read_file(const char *path, char **text, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = errno;
        snprintf(err, errlen, "%s: cannot open the profile file: %s", path, strerror(e));
        return -e;
    }
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 1 << 16;
            char *nb = realloc(buf, cap + 1);
            if (!nb) {
                free(buf);
                fclose(f);
                snprintf(err, errlen, "%s: out of memory reading the file", path);
                return -ENOMEM;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        snprintf(err, errlen, "%s: read error", path);
        return -EIO;
    }
    buf[n] = '\0';
    *text = buf;
    *len = n;
    return 0;
}

/* Segment id as text: strings as they are, integral numbers printed (some exports use them). */
static int id_text(const cJSON *id, char *buf, size_t len)
{
    if (cJSON_IsString(id) && id->valuestring[0])
        return snprintf(buf, len, "%s", id->valuestring) < (int)len ? 0 : -1;
    if (cJSON_IsNumber(id) && id->valuedouble == floor(id->valuedouble) &&
        fabs(id->valuedouble) < 9e15)
        return snprintf(buf, len, "%.0f", id->valuedouble) < (int)len ? 0 : -1;
    return -1;
}

/* Checks one profile and returns its bin count (> 0) or -1 with err filled. */
static int check_profile(const cJSON *prof, const char *where, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(prof, "values");
    const cJSON *c = cJSON_GetObjectItemCaseSensitive(prof, "cumprobs");
    if (!cJSON_IsObject(prof) || !cJSON_IsArray(v) || !cJSON_IsArray(c)) {
        snprintf(err, errlen, "%s: not an object with arrays \"values\" and \"cumprobs\"", where);
        return -1;
    }
    int n = cJSON_GetArraySize(v);
    if (n != cJSON_GetArraySize(c) || n < 1 || n > PTDR_MAX_BINS) {
        snprintf(err, errlen, "%s: %d values and %d cumprobs (need the same count, 1..%d)", where,
                 n, cJSON_GetArraySize(c), PTDR_MAX_BINS);
        return -1;
    }
    double prev = 0.0;
    const cJSON *x = v->child, *y = c->child;
    for (int i = 0; i < n; i++, x = x->next, y = y->next) {
        if (!cJSON_IsNumber(x) || !(x->valuedouble > 0.0) || !isfinite(x->valuedouble) ||
            !((float)x->valuedouble > 0.0f) || !isfinite((float)x->valuedouble)) {
            snprintf(err, errlen, "%s: values[%d] must be a positive number (level of service)",
                     where, i);
            return -1;
        }
        if (!cJSON_IsNumber(y) || !(y->valuedouble >= prev) || y->valuedouble > 1.0 + 1e-6) {
            snprintf(err, errlen,
                     "%s: cumprobs[%d] must be a number in [0, 1], not below the "
                     "previous one",
                     where, i);
            return -1;
        }
        prev = y->valuedouble;
    }
    if (fabs(prev - 1.0) > 1e-6) {
        snprintf(err, errlen, "%s: cumprobs end at %.9g, not 1", where, prev);
        return -1;
    }
    return n;
}

/* What the first pass measured: the layout's sizes. */
struct json_sizes {
    uint64_t n_bins, ids_size;
    uint32_t max_bins;
};

/* Pass 1: checks every segment and measures the layout. */
static int measure_segments(const cJSON *root, const char *path, struct json_sizes *z, char *err,
                            size_t errlen)
{
    int rc = 0;
    char id[256], where[512];
    int s = 0;
    memset(z, 0, sizeof(*z));
    for (const cJSON *seg = root->child; seg; seg = seg->next, s++) {
        if (!cJSON_IsObject(seg))
            FAIL(-EINVAL, "%s: segment %d: not an object", path, s);
        if (id_text(cJSON_GetObjectItemCaseSensitive(seg, "id"), id, sizeof(id)))
            FAIL(-EINVAL, "%s: segment %d: \"id\" must be a non-empty string (< 256 bytes)", path,
                 s);
        const cJSON *len = cJSON_GetObjectItemCaseSensitive(seg, "length");
        const cJSON *vmax = cJSON_GetObjectItemCaseSensitive(seg, "max_speed");
        const cJSON *profs = cJSON_GetObjectItemCaseSensitive(seg, "profiles");
        if (!cJSON_IsNumber(len) || !((float)len->valuedouble > 0.0f) ||
            !isfinite((float)len->valuedouble))
            FAIL(-EINVAL, "%s: segment %d (id %s): \"length\" must be a positive number of metres",
                 path, s, id);
        if (!cJSON_IsNumber(vmax) || !((float)vmax->valuedouble > 0.0f) ||
            !isfinite((float)vmax->valuedouble))
            FAIL(-EINVAL, "%s: segment %d (id %s): \"max_speed\" must be a positive number of m/s",
                 path, s, id);
        if (!cJSON_IsArray(profs) || cJSON_GetArraySize(profs) != (int)PTDR_SLOTS)
            FAIL(-EINVAL,
                 "%s: segment %d (id %s): \"profiles\" has %d slots, expected %u (one per "
                 "15 minutes of a week)",
                 path, s, id, cJSON_IsArray(profs) ? cJSON_GetArraySize(profs) : 0, PTDR_SLOTS);
        int t = 0;
        for (const cJSON *prof = profs->child; prof; prof = prof->next, t++) {
            snprintf(where, sizeof(where), "%s: segment %d (id %s), slot %d", path, s, id, t);
            int nb = check_profile(prof, where, err, errlen);
            if (nb < 0)
                return -EINVAL;
            z->n_bins += (uint64_t)nb;
            if ((uint32_t)nb > z->max_bins)
                z->max_bins = (uint32_t)nb;
        }
        z->ids_size += strlen(id) + 1;
    }
    if (z->n_bins > UINT32_MAX)
        FAIL(-E2BIG, "%s: %llu bins; at most %u fit the format", path,
             (unsigned long long)z->n_bins, UINT32_MAX);
    return 0;
fail:
    return rc;
}

/* Pass 2: copies the checked segments into the layout p->block is bound to. */
static void fill_segments(struct ptdr_profiles *p, const cJSON *root)
{
    char id[256];
    float *lv = (float *)p->lv, *length = (float *)p->length, *vmax = (float *)p->max_speed;
    float *values = (float *)p->values, *cum = (float *)p->cumprobs;
    uint32_t *seg_base = (uint32_t *)p->seg_base, *id_off = (uint32_t *)p->id_off;
    uint16_t *rel = (uint16_t *)p->slot_rel;
    char *ids = (char *)p->ids;
    uint64_t bin = 0, ido = 0;
    int s = 0;
    for (const cJSON *seg = root->child; seg; seg = seg->next, s++) {
        id_text(cJSON_GetObjectItemCaseSensitive(seg, "id"), id, sizeof(id));
        length[s] = (float)cJSON_GetObjectItemCaseSensitive(seg, "length")->valuedouble;
        vmax[s] = (float)cJSON_GetObjectItemCaseSensitive(seg, "max_speed")->valuedouble;
        lv[s] = length[s] / vmax[s];
        seg_base[s] = (uint32_t)bin;
        id_off[s] = (uint32_t)ido;
        memcpy(ids + ido, id, strlen(id) + 1);
        ido += strlen(id) + 1;
        uint32_t r = 0, t = 0;
        const cJSON *profs = cJSON_GetObjectItemCaseSensitive(seg, "profiles");
        for (const cJSON *prof = profs->child; prof; prof = prof->next, t++) {
            rel[(size_t)s * PTDR_REL_STRIDE + t] = (uint16_t)r;
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(prof, "values")->child;
            const cJSON *y = cJSON_GetObjectItemCaseSensitive(prof, "cumprobs")->child;
            for (; x; x = x->next, y = y->next, bin++, r++) {
                values[bin] = (float)x->valuedouble;
                /* Within 1e-6 of 1 counts as 1 (exports print rounded sums); the last bin
                 * must catch every draw, so store exactly 1. */
                /* same length as values, checked in the first pass */
                // NOLINTNEXTLINE(clang-analyzer-core.NullDereference)
                cum[bin] = y->next ? (float)y->valuedouble : 1.0f;
                if (cum[bin] > 1.0f)
                    cum[bin] = 1.0f;
            }
        }
        rel[(size_t)s * PTDR_REL_STRIDE + PTDR_SLOTS] = (uint16_t)r;
    }
    id_off[p->n_seg] = (uint32_t)ido;
}

int ptdr_profiles_read_json(const char *path, struct ptdr_profiles **out, char *err, size_t errlen)
{
    int rc = 0;
    char *text = NULL;
    size_t text_len = 0;
    cJSON *root = NULL;
    struct ptdr_profiles *p = NULL;

    rc = read_file(path, &text, &text_len, err, errlen);
    if (rc)
        return rc;
    const char *end = NULL;
    root = cJSON_ParseWithLengthOpts(text, text_len, &end, 0);
    if (!root)
        FAIL(-EINVAL, "%s: malformed JSON near byte %td", path, end ? end - text : (ptrdiff_t)0);
    if (!cJSON_IsArray(root))
        FAIL(-EINVAL, "%s: expected a JSON array of segments", path);
    int n_seg = cJSON_GetArraySize(root);
    if (n_seg < 1)
        FAIL(-EINVAL, "%s: no segments", path);
    struct json_sizes z;
    rc = measure_segments(root, path, &z, err, errlen);
    if (rc)
        goto fail;

    struct ptdr_file_header h;
    ptdr_layout(&h, (uint32_t)n_seg, z.n_bins, z.ids_size, z.max_bins);
    p = calloc(1, sizeof(*p));
    if (!p)
        FAIL(-ENOMEM, "%s: out of memory", path);
    p->block_size = h.total_size;
    /* 64-byte aligned like a mapped file: devices may use the arrays in place. */
    p->block = aligned_alloc(64, h.total_size);
    if (p->block)
        memset(p->block, 0, h.total_size);
    p->path = strdup(path);
    if (!p->block || !p->path)
        FAIL(-ENOMEM, "%s: out of memory for %llu bytes of profiles", path,
             (unsigned long long)h.total_size);
    memcpy(p->block, &h, sizeof(h));
    ptdr_profiles_bind(p, &h);
    fill_segments(p, root);
    cJSON_Delete(root);
    free(text);
    *out = p;
    return 0;
fail:
    ptdr_profiles_free(p);
    cJSON_Delete(root);
    free(text);
    return rc;
}
