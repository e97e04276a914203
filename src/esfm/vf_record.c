/* What the operations write about one VF: its record in the state file (domain, alias, guest
 * address, paused method, pending) and the journal intent of an operation on it. */
#include "esfm_internal.h"

#include <errno.h>

cJSON *esfm_intent_new(const char *op, const char *vf, const char *domain, const char *alias)
{
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "op", op);
    if (vf)
        cJSON_AddStringToObject(j, "vf", vf);
    if (domain)
        cJSON_AddStringToObject(j, "domain", domain);
    if (alias)
        cJSON_AddStringToObject(j, "alias", alias);
    return j;
}

/* Updates the record of vf under the state lock: fn edits it (or deletes it). */
static int state_edit(struct esfm_ctx *ctx, void (*fn)(cJSON *st, void *arg), void *arg, char *err,
                      size_t errlen)
{
    int fd = esfm_state_lock(ctx, err, errlen);
    if (fd < 0)
        return fd;
    cJSON *st = esfm_state_read(ctx, err, errlen);
    int rc = -ENOLCK;
    if (st) {
        fn(st, arg);
        rc = esfm_state_write(ctx, st, err, errlen);
        cJSON_Delete(st);
    }
    esfm_state_unlock(fd);
    return rc;
}

struct rec_args {
    const char *vf, *domain, *alias, *guest, *paused;
    bool del, pending;
};

static void rec_apply(cJSON *st, void *p)
{
    struct rec_args *a = p;
    if (a->del) {
        esfm_state_vf_del(st, a->vf);
        return;
    }
    cJSON *r = esfm_state_vf(st, a->vf);
    if (!r)
        r = esfm_state_vf_add(st, a->vf);
    if (!r)
        return;
    const char *keys[] = {"domain", "alias", "guest"};
    const char *vals[] = {a->domain, a->alias, a->guest};
    for (int i = 0; i < 3; i++) {
        if (!vals[i])
            continue;
        cJSON_DeleteItemFromObjectCaseSensitive(r, keys[i]);
        cJSON_AddStringToObject(r, keys[i], vals[i]);
    }
    cJSON_DeleteItemFromObjectCaseSensitive(r, "pending");
    if (a->pending)
        cJSON_AddBoolToObject(r, "pending", true);
    cJSON_DeleteItemFromObjectCaseSensitive(r, "paused");
    if (a->paused)
        cJSON_AddStringToObject(r, "paused", a->paused);
}

int esfm_record_vf(struct esfm_ctx *ctx, const char *vf, const char *domain, const char *alias,
                   const char *guest, const char *paused, bool pending, char *err, size_t errlen)
{
    struct rec_args a = {vf, domain, alias, guest, paused, false, pending};
    return state_edit(ctx, rec_apply, &a, err, errlen);
}

int esfm_forget_vf(struct esfm_ctx *ctx, const char *vf, char *err, size_t errlen)
{
    struct rec_args a = {.vf = vf, .del = true};
    return state_edit(ctx, rec_apply, &a, err, errlen);
}
