/* Repairs what a crashed run left in the journal (attach is rolled back, everything else rolled
 * forward), and lists pending entries for esfm status. Runs before every command. */
#include "hv.h"
#include "esfm_internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

static const struct esfm_hostdev *find_in(struct esfm_ctx *ctx, struct esfm_hostdev **h, size_t *n,
                                          const char *vf, char *err, size_t errlen)
{
    if (esfm_hostdevs(ctx, h, n, err, errlen))
        return NULL;
    return esfm_hostdev_find(*h, *n, vf);
}

static int repair_vf(struct esfm_ctx *ctx, const char *op, cJSON *in, char *err, size_t errlen)
{
    const char *vf = esfm_json_str(in, "vf"), *dom = esfm_json_str(in, "domain"),
               *alias = esfm_json_str(in, "alias");
    if (!vf || !dom || !alias)
        return kf_errf(err, errlen, -ENOLCK, "%s journal entry lacks vf/domain/alias", op);
    int rc = esfm_need_hv(ctx, err, errlen);
    if (rc)
        return rc;
    int fd = esfm_state_lock(ctx, err, errlen);
    if (fd < 0)
        return fd;
    cJSON *st = esfm_state_read(ctx, err, errlen);
    esfm_state_unlock(fd);
    if (!st)
        return -ENOLCK;
    cJSON *r = esfm_state_vf(st, vf);
    bool pending = r && cJSON_GetObjectItemCaseSensitive(r, "pending");
    const char *paused = r ? esfm_json_str(r, "paused") : NULL;
    char pm[16] = "";
    if (paused)
        snprintf(pm, sizeof pm, "%s", paused);
    bool recorded = r != NULL;
    cJSON_Delete(st);
    struct esfm_hostdev *h = NULL;
    size_t nh = 0;
    err[0] = '\0';
    const struct esfm_hostdev *e = find_in(ctx, &h, &nh, vf, err, errlen);
    if (!e && err[0]) {
        free(h);
        return -EREMOTEIO;
    }
    bool in_dom = e && strcmp(e->domain, dom) == 0;
    free(h);
    char e2[ESFM_ERR_LEN];
    if (strcmp(op, "attach") == 0) {
        if (recorded && !pending)
            return 0; /* it completed; only the journal removal was lost */
        if (in_dom && (rc = esfm_vf_detach(ctx, vf, dom, alias, err, errlen)) && rc != -ENOENT)
            return rc;
        esfm_logf(ctx, "repair: rolled back interrupted attach of %s to %s", vf, dom);
        return esfm_forget_vf(ctx, vf, err, errlen);
    }
    if (strcmp(op, "detach") == 0) {
        if (in_dom && (rc = esfm_vf_detach(ctx, vf, dom, alias, err, errlen)) && rc != -ENOENT)
            return rc;
        esfm_logf(ctx, "repair: finished interrupted detach of %s from %s", vf, dom);
        return esfm_forget_vf(ctx, vf, err, errlen);
    }
    if (strcmp(op, "pause") == 0) {
        if (pm[0])
            return 0;
        /* Roll back: the VF goes back to plain attached. */
        if (in_dom)
            ctx->hv->ops->pause(ctx->hv, dom, alias, false, e2, sizeof e2);
        else if ((rc = esfm_vf_attach(ctx, vf, dom, NULL, err, errlen)))
            return rc;
        esfm_logf(ctx, "repair: rolled back interrupted pause of %s in %s", vf, dom);
        return esfm_record_vf(ctx, vf, dom, alias, NULL, NULL, false, err, errlen);
    }
    /* unpause: roll forward */
    if (!pm[0])
        return 0;
    if (!in_dom && (rc = esfm_vf_attach(ctx, vf, dom, NULL, err, errlen)))
        return rc;
    if (in_dom)
        ctx->hv->ops->pause(ctx->hv, dom, alias, false, e2, sizeof e2);
    esfm_logf(ctx, "repair: finished interrupted unpause of %s in %s", vf, dom);
    return esfm_record_vf(ctx, vf, dom, alias, NULL, NULL, false, err, errlen);
}

int esfm_repair(struct esfm_ctx *ctx, cJSON *in, char *err, size_t errlen)
{
    const char *op = esfm_json_str(in, "op");
    if (!op)
        return kf_errf(err, errlen, -ENOLCK, "journal entry without an op");
    if (!strcmp(op, "attach") || !strcmp(op, "detach") || !strcmp(op, "pause") ||
        !strcmp(op, "unpause"))
        return repair_vf(ctx, op, in, err, errlen);
    if (!strcmp(op, "job-attach"))
        return esfm_job_attach_repair(ctx, in, err, errlen);
    if (!strcmp(op, "job-detach")) {
        /* The job is over: finish releasing its VFs even if a counter says busy. */
        bool force = ctx->force;
        ctx->force = true;
        int rc = esfm_job_detach(ctx, esfm_json_str(in, "job"), err, errlen);
        ctx->force = force;
        return rc;
    }
    if (!strcmp(op, "reconf")) {
        int rc = esfm_reconf_finish(ctx, in, err, errlen);
        if (!rc)
            esfm_logf(ctx, "repair: finished interrupted reconf of %s", esfm_json_str(in, "pf"));
        return rc;
    }
    if (!strcmp(op, "init")) {
        if (esfm_json_str(in, "bitstream") &&
            !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(in, "flashed")))
            esfm_logf(ctx,
                      "warning: init of %s was interrupted before flashing %s finished; "
                      "run esfm init --bitstream %s again",
                      esfm_json_str(in, "pf"), esfm_json_str(in, "bitstream"),
                      esfm_json_str(in, "bitstream"));
        int lock = esfm_pf_lock(ctx, esfm_json_str(in, "pf"), err, errlen);
        if (lock < 0)
            return lock;
        int rc = esfm_init_finish(ctx, in, err, errlen);
        close(lock);
        if (!rc)
            esfm_logf(ctx, "repair: finished interrupted init of %s", esfm_json_str(in, "pf"));
        return rc;
    }
    return kf_errf(err, errlen, -ENOLCK, "journal entry with unknown op '%s'", op);
}

/* The names in <state>/journal ending in suffix (all when NULL), sorted. */
static int entry_names(struct esfm_ctx *ctx, const char *suffix, char ***names, size_t *n)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/journal", ctx->state_dir);
    struct dirent **list;
    int k = scandir(dir, &list, NULL, alphasort);
    *names = NULL;
    *n = 0;
    if (k < 0)
        return -errno;
    size_t sl = suffix ? strlen(suffix) : 0;
    char **v = calloc((size_t)k + 1, sizeof *v);
    for (int i = 0; i < k; i++) {
        const char *d = list[i]->d_name;
        size_t l = strlen(d);
        if (v && d[0] != '.' && l > sl && (!suffix || strcmp(d + l - sl, suffix) == 0))
            v[(*n)++] = strdup(d);
        free(list[i]);
    }
    free(list);
    *names = v;
    return v ? 0 : -ENOMEM;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Removes what dead owners left besides intents: a lock whose intent was never written or was
 * removed (a crash inside begin or end), and kf_atomic_write's temporary file of an intent that
 * was being replaced. A living owner's files are kept: it holds the entry's lock. */
static void remove_litter(struct esfm_ctx *ctx)
{
    char **names;
    size_t n;
    if (entry_names(ctx, NULL, &names, &n))
        return;
    for (size_t i = 0; i < n; i++) {
        char path[600], intent[600];
        snprintf(path, sizeof path, "%s/journal/%s", ctx->state_dir, names[i]);
        const char *tmp = strstr(names[i], ".json.tmp");
        size_t l = strlen(names[i]);
        bool lock = l > 5 && strcmp(names[i] + l - 5, ".lock") == 0;
        if (!tmp && !lock)
            continue;
        size_t idlen = tmp ? (size_t)(tmp - names[i]) : l - 5;
        snprintf(intent, sizeof intent, "%s/journal/%.*s.json", ctx->state_dir, (int)idlen,
                 names[i]);
        bool has_intent = access(intent, F_OK) == 0;
        if (lock && has_intent)
            continue;
        int fd = esfm_journal_try_lock(intent, false);
        if (fd < 0)
            continue;
        if (tmp)
            unlink(path);
        if (!access(intent, F_OK))
            has_intent = true;
        if (!has_intent) {
            char lp[600];
            snprintf(lp, sizeof lp, "%s/journal/%.*s.lock", ctx->state_dir, (int)idlen, names[i]);
            unlink(lp);
        }
        close(fd);
    }
    free_names(names, n);
}

/* Repairs one entry if its owner is dead. Returns 1 when it was repaired (and removed). */
static int reconcile_entry(struct esfm_ctx *ctx, const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/journal/%s", ctx->state_dir, name);
    int fd = esfm_journal_try_lock(path, false);
    if (fd < 0)
        return 0; /* its process is alive, or someone else repaired it */
    cJSON *in = NULL;
    int rc = esfm_read_json(path, &in);
    if (rc == -ENOENT) {           /* finished, or repaired by another process, before we locked */
        esfm_journal_remove(path); /* the lock we may have made again */
        close(fd);
        return 0;
    }
    char e[ESFM_ERR_LEN] = "";
    if (rc)
        /* Intents are replaced whole (kf_atomic_write), so a crash cannot leave a partial one:
         * this is damage from outside. Dropping it could leak what it was doing; keep it. */
        snprintf(e, sizeof e,
                 "the entry is unreadable (%s), which a crash cannot cause; look at it, repair "
                 "by hand (esfm list-vf-vm, list-vfs) and remove it",
                 rc == -EINVAL ? "not JSON" : strerror(-rc));
    else
        rc = esfm_repair(ctx, in, e, sizeof e);
    if (rc)
        esfm_logf(ctx, "warning: could not repair %s (%s): %s; it stays pending", name,
                  in ? esfm_json_str(in, "op") : "?", e);
    else
        esfm_journal_remove(path);
    cJSON_Delete(in);
    close(fd);
    return rc ? 0 : 1;
}

int esfm_reconcile(struct esfm_ctx *ctx, int *repaired, char *err, size_t errlen)
{
    char **names;
    size_t n;
    *repaired = 0;
    if (entry_names(ctx, ".json", &names, &n))
        return kf_errf(err, errlen, -ENOLCK, "cannot read %s/journal", ctx->state_dir);
    for (size_t i = 0; i < n; i++)
        *repaired += reconcile_entry(ctx, names[i]);
    free_names(names, n);
    remove_litter(ctx);
    return 0;
}

int esfm_list_pending(struct esfm_ctx *ctx, struct esfm_pending **out, size_t *n, char *err,
                      size_t errlen)
{
    char **names;
    size_t k;
    *out = NULL;
    *n = 0;
    if (entry_names(ctx, ".json", &names, &k))
        return kf_errf(err, errlen, -ENOLCK, "cannot read %s/journal", ctx->state_dir);
    struct esfm_pending *v = calloc(k ? k : 1, sizeof *v);
    for (size_t i = 0; v && i < k; i++) {
        char path[600];
        snprintf(path, sizeof path, "%s/journal/%s", ctx->state_dir, names[i]);
        cJSON *in = NULL;
        if (esfm_read_json(path, &in) == -ENOENT)
            continue; /* finished meanwhile */
        struct esfm_pending *p = &v[(*n)++];
        snprintf(p->name, sizeof p->name, "%s", names[i]);
        int fd = esfm_journal_try_lock(path, true);
        p->running = fd == -EWOULDBLOCK;
        if (fd >= 0)
            close(fd);
        const char *op = esfm_json_str(in, "op");
        const char *obj = esfm_json_str(in, "pf");
        if (!obj)
            obj = esfm_json_str(in, "vf");
        if (!obj)
            obj = esfm_json_str(in, "job");
        snprintf(p->op, sizeof p->op, "%s", op ? op : "?");
        snprintf(p->object, sizeof p->object, "%s", obj ? obj : "?");
        cJSON_Delete(in);
    }
    free_names(names, k);
    if (!v)
        return kf_errf(err, errlen, -ENOMEM, "out of memory");
    *out = v;
    return 0;
}
