/* kfarm-observer logic (mARGOt's Theo role): keeps every knowledge version, detects drift of
 * observations from the knowledge and hardware-feature changes, asks for relearning, and
 * computes resource hints (happiness, gain with other resources). */
#include "observer.h"
#include "clock.h"
#include "atomic_file.h"
#include "text_file.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOG(...)          fprintf(stderr, "kfarm-observer: " __VA_ARGS__)
#define RELEARN_TIMEOUT_S 120.0 /* a relearn that never finished may be asked again */
#define OBS_WINDOW        10

static double now_s(void)
{
    return (double)kf_now_ns() * 1e-9;
}

static int same_vec(const double *a, const double *b, size_t n)
{
    return n == 0 || !memcmp(a, b, n * sizeof(double));
}

static struct oapp *get_app(struct observer *ob, const char *id, int create)
{
    for (size_t i = 0; i < ob->n_apps; i++)
        if (!strcmp(ob->apps[i].id, id))
            return &ob->apps[i];
    if (!create || strlen(id) >= sizeof(ob->apps[0].id))
        return NULL;
    struct oapp *n = realloc(ob->apps, (ob->n_apps + 1) * sizeof(*n));
    if (!n)
        return NULL;
    ob->apps = n;
    struct oapp *a = &ob->apps[ob->n_apps++];
    memset(a, 0, sizeof(*a));
    snprintf(a->id, sizeof(a->id), "%s", id);
    return a;
}

static struct oclient *get_client(struct oapp *a, const char *cid)
{
    for (size_t i = 0; i < a->n_clients; i++)
        if (!strcmp(a->clients[i].cid, cid))
            return &a->clients[i];
    if (a->n_clients == a->cap_clients) {
        size_t cap = a->cap_clients ? 2 * a->cap_clients : 8;
        struct oclient *n = realloc(a->clients, cap * sizeof(*n));
        if (!n)
            return NULL;
        a->clients = n;
        a->cap_clients = cap;
    }
    struct oclient *c = &a->clients[a->n_clients++];
    memset(c, 0, sizeof(*c));
    snprintf(c->cid, sizeof(c->cid), "%s", cid);
    return c;
}

static struct oentry *get_entry(struct oapp *a, struct oclient *c, const double *f, const double *k)
{
    for (size_t i = 0; i < c->n_e; i++)
        if (same_vec(c->e[i].f, f, a->d.nf) && same_vec(c->e[i].k, k, a->d.nk))
            return &c->e[i];
    if (c->n_e == c->cap_e) {
        size_t cap = c->cap_e ? 2 * c->cap_e : 8;
        struct oentry *n = realloc(c->e, cap * sizeof(*n));
        if (!n)
            return NULL;
        c->e = n;
        c->cap_e = cap;
    }
    struct oentry *e = &c->e[c->n_e];
    memset(e, 0, sizeof(*e));
    memcpy(e->f, f, sizeof(e->f));
    memcpy(e->k, k, sizeof(e->k));
    if (!(e->win = tuner_monitor_new(OBS_WINDOW)))
        return NULL;
    c->n_e++;
    return e;
}

static void reset_drift(struct oapp *a, int clear_windows)
{
    for (size_t i = 0; i < a->n_clients; i++)
        for (size_t j = 0; j < a->clients[i].n_e; j++) {
            a->clients[i].e[j].drift = 0;
            if (clear_windows)
                tuner_monitor_clear(a->clients[i].e[j].win);
        }
}

static void request_relearn(struct observer *ob, struct oapp *a, const char *reason)
{
    if (a->relearning && now_s() - a->relearn_at < RELEARN_TIMEOUT_S)
        return;
    if (a->n_versions == 0)
        return; /* nothing learned yet: the learner is still at it */
    char topic[512], payload[512];
    snprintf(topic, sizeof(topic), "margot/%s/relearn", a->id);
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "reason", reason);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    snprintf(payload, sizeof(payload), "%s", s ? s : "{}");
    free(s);
    if (mqtt_link_publish(ob->mq, topic, payload, strlen(payload), 1, 0) < 0) {
        LOG("app %s: cannot ask for relearning now (broker down?)\n", a->id);
        return;
    }
    a->relearning = 1;
    a->relearn_at = now_s();
    a->relearn_requests++;
    snprintf(a->last_reason, sizeof(a->last_reason), "%s", reason);
    reset_drift(a, 0);
    LOG("app %s: relearn requested: %s\n", a->id, reason);
    ob->dirty = 1;
}

static void on_prediction(struct observer *ob, struct oapp *a, const char *payload)
{
    if (!a->have_desc)
        return;
    if (a->n_versions && !strcmp(a->versions[a->n_versions - 1], payload))
        return; /* the learner repeats its knowledge for late joiners: not a new version */
    cJSON *root = cJSON_Parse(payload);
    const cJSON *ops = cJSON_GetObjectItemCaseSensitive(root, a->d.block), *op;
    if (!cJSON_IsArray(ops)) {
        cJSON_Delete(root);
        return;
    }
    char **v = realloc(a->versions, (a->n_versions + 1) * sizeof(char *));
    if (!v || !(v[a->n_versions] = strdup(payload))) {
        if (v)
            a->versions = v;
        cJSON_Delete(root);
        return;
    }
    a->versions = v;
    a->n_versions++;
    /* merge: the newest measurement of a (features, knobs) point wins, older points stay so
     * that knowledge from other conditions (e.g. with an accelerator) remains usable */
    cJSON_ArrayForEach(op, ops)
    {
        struct kop k;
        double m[TUNER_MAX_METRICS];
        if (block_desc_features(&a->d, cJSON_GetObjectItemCaseSensitive(op, "features"), k.f) ||
            block_desc_knobs(&a->d, cJSON_GetObjectItemCaseSensitive(op, "knobs"), k.k) ||
            block_desc_metrics(&a->d, cJSON_GetObjectItemCaseSensitive(op, "metrics"), m, NULL))
            continue;
        for (size_t j = 0; j < a->d.nf; j++)
            k.f[j] = tuner_feature_bucket(k.f[j]);
        k.obj = m[a->d.objective_idx];
        size_t i = 0;
        while (i < a->n_ops &&
               !(same_vec(a->ops[i].f, k.f, a->d.nf) && same_vec(a->ops[i].k, k.k, a->d.nk)))
            i++;
        if (i == a->n_ops) {
            if (a->n_ops == a->cap_ops) {
                size_t cap = a->cap_ops ? 2 * a->cap_ops : 32;
                struct kop *n = realloc(a->ops, cap * sizeof(*n));
                if (!n)
                    break;
                a->ops = n;
                a->cap_ops = cap;
            }
            a->n_ops++;
        }
        a->ops[i] = k;
    }
    cJSON_Delete(root);
    a->relearning = 0;
    reset_drift(a, 1);
    LOG("app %s: knowledge version %zu stored (%zu merged OPs)\n", a->id, a->n_versions, a->n_ops);
    if (ob->o.knowledge_dir) {
        char path[1024], err[256];
        snprintf(path, sizeof(path), "%s/%s.v%zu.json", ob->o.knowledge_dir, a->id, a->n_versions);
        if (kf_atomic_write_text(path, payload, TUNER_TEXT_FILE_MODE, err, sizeof(err)) < 0)
            LOG("%s\n", err);
    }
    ob->dirty = 1;
}

static const struct kop *expected_op(const struct oapp *a, const double *f, const double *k)
{
    for (size_t i = 0; i < a->n_ops; i++)
        if (same_vec(a->ops[i].f, f, a->d.nf) && same_vec(a->ops[i].k, k, a->d.nk))
            return &a->ops[i];
    return NULL;
}

static void on_observation(struct observer *ob, struct oapp *a, const char *cid,
                           const char *payload)
{
    if (!a->have_desc)
        return;
    struct oclient *c = get_client(a, cid);
    cJSON *root = cJSON_Parse(payload);
    double f[TUNER_MAX_FEATURES], k[TUNER_MAX_KNOBS], m[TUNER_MAX_METRICS];
    if (!c || !root ||
        block_desc_features(&a->d, cJSON_GetObjectItemCaseSensitive(root, "features"), f) ||
        block_desc_knobs(&a->d, cJSON_GetObjectItemCaseSensitive(root, "knobs"), k) ||
        block_desc_metrics(&a->d, cJSON_GetObjectItemCaseSensitive(root, "metrics"), m, NULL)) {
        cJSON_Delete(root);
        return;
    }
    cJSON_Delete(root);
    for (size_t j = 0; j < a->d.nf; j++)
        f[j] = tuner_feature_bucket(f[j]);
    char reason[256] = "";
    if (c->seen)
        for (size_t j = 0; j < a->d.nf && !reason[0]; j++)
            if (a->d.hw[j] && c->f[j] != f[j])
                snprintf(reason, sizeof(reason), "client %s: hardware feature %s changed %g -> %g",
                         cid, a->d.features[j], c->f[j], f[j]);
    memcpy(c->f, f, sizeof(f));
    c->seen = c->alive = 1;
    struct oentry *en = get_entry(a, c, f, k);
    if (!en)
        return;
    en->last = ++c->tick;
    double obj = m[a->d.objective_idx];
    tuner_monitor_push(en->win, obj);
    ob->dirty = 1;
    if (reason[0]) {
        request_relearn(ob, a, reason);
        return;
    }
    const struct kop *e = expected_op(a, f, k);
    if (!e || e->obj == 0 || a->relearning)
        return;
    double ratio = obj / e->obj;
    en->drift = fabs(ratio - 1.0) > ob->o.threshold ? en->drift + 1 : 0;
    if (en->drift >= ob->o.samples) {
        snprintf(reason, sizeof(reason), "client %s: %s observed/expected = %.3g for %zu samples",
                 cid, a->d.objective, ratio, en->drift);
        request_relearn(ob, a, reason);
    }
}

static void drop_client(struct observer *ob, struct oapp *a, const char *cid)
{
    /* kept, not freed: a client whose connection dropped (or a restarting broker that sent its
     * will) comes back with the same id, and its hardware history must survive */
    for (size_t i = 0; i < a->n_clients; i++)
        if (!strcmp(a->clients[i].cid, cid)) {
            a->clients[i].alive = 0;
            ob->dirty = 1;
            return;
        }
}

void observer_handle(struct observer *ob, const char *topic, const char *payload)
{
    char buf[600], *lv[5], *save = NULL;
    size_t n = 0;
    if (strlen(topic) >= sizeof(buf))
        return;
    strcpy(buf, topic);
    while (n < 5 && (lv[n] = strtok_r(n ? NULL : buf, "/", &save)))
        n++;
    if (n < 3 || strcmp(lv[0], "margot"))
        return;
    struct oapp *a = get_app(ob, lv[1], 1);
    if (!a)
        return;
    if (n == 3 && !strcmp(lv[2], "prediction")) {
        on_prediction(ob, a, payload);
    } else if (n == 4 && !strcmp(lv[2], "welcome")) {
        char err[256];
        if (!a->have_desc) {
            if (block_desc_parse(&a->d, payload, err, sizeof(err)) == 0)
                a->have_desc = 1;
            else
                LOG("app %s: %s\n", a->id, err);
        }
        struct oclient *c = a->have_desc ? get_client(a, lv[3]) : NULL;
        if (c)
            c->alive = 1;
        ob->dirty = 1;
    } else if (n == 4 && !strcmp(lv[2], "observation")) {
        on_observation(ob, a, lv[3], payload);
    } else if (n == 4 && !strcmp(lv[2], "kia")) {
        drop_client(ob, a, lv[3]);
    }
}

static int better(const struct oapp *a, double x, double y)
{
    return a->d.maximize ? x > y : x < y;
}

static void hw_label(const struct oapp *a, const double *f, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = 0;
    for (size_t j = 0; j < a->d.nf && len < cap; j++)
        if (a->d.hw[j])
            len += (size_t)snprintf(out + len, cap - len, "%s%s=%g", len ? "," : "",
                                    a->d.features[j], f[j]);
}

static int same_input(const struct oapp *a, const double *x, const double *y)
{
    for (size_t j = 0; j < a->d.nf; j++)
        if (!a->d.hw[j] && x[j] != y[j])
            return 0;
    return 1;
}

static int same_hw(const struct oapp *a, const double *x, const double *y)
{
    for (size_t j = 0; j < a->d.nf; j++)
        if (a->d.hw[j] && x[j] != y[j])
            return 0;
    return 1;
}

static cJSON *entry_hints(const struct oapp *a, const struct oentry *en)
{
    double observed = tuner_monitor_avg(en->win);
    double best = NAN, best_here = NAN;
    for (size_t i = 0; i < a->n_ops; i++) {
        const struct kop *o = &a->ops[i];
        if (!same_input(a, o->f, en->f))
            continue;
        if (isnan(best) || better(a, o->obj, best))
            best = o->obj;
        if (same_hw(a, o->f, en->f) && (isnan(best_here) || better(a, o->obj, best_here)))
            best_here = o->obj;
    }
    cJSON *h = cJSON_CreateObject();
    cJSON *fs = cJSON_AddObjectToObject(h, "features");
    for (size_t j = 0; j < a->d.nf; j++)
        cJSON_AddNumberToObject(fs, a->d.features[j], en->f[j]);
    cJSON_AddItemToObject(h, "knobs", block_desc_knobs_json(&a->d, en->k));
    cJSON_AddNumberToObject(h, "observed", observed);
    if (!isnan(best)) {
        cJSON_AddNumberToObject(h, "best_feasible", best);
        cJSON_AddNumberToObject(h, "happiness", a->d.maximize ? observed / best : best / observed);
    }
    if (!isnan(best_here))
        cJSON_AddNumberToObject(h, "best_with_current_resources", best_here);
    /* the best objective with each other hardware configuration seen in the knowledge */
    cJSON *g = cJSON_AddObjectToObject(h, "gain_with_other_resources");
    for (size_t i = 0; i < a->n_ops; i++) {
        const struct kop *o = &a->ops[i];
        if (!same_input(a, o->f, en->f) || same_hw(a, o->f, en->f))
            continue;
        char label[256];
        hw_label(a, o->f, label, sizeof(label));
        double bh = o->obj;
        for (size_t j = 0; j < a->n_ops; j++)
            if (same_input(a, a->ops[j].f, en->f) && same_hw(a, a->ops[j].f, o->f) &&
                better(a, a->ops[j].obj, bh))
                bh = a->ops[j].obj;
        double gain = a->d.maximize ? bh / observed : observed / bh;
        cJSON_DeleteItemFromObjectCaseSensitive(g, label);
        cJSON_AddNumberToObject(g, label, gain);
    }
    return h;
}

/* One hint per input (non-hardware features) the client served: its latest (knobs, hardware). */
static cJSON *client_hints(const struct oapp *a, const struct oclient *c)
{
    cJSON *list = cJSON_CreateArray();
    for (size_t i = 0; i < c->n_e; i++) {
        const struct oentry *en = &c->e[i];
        int latest = tuner_monitor_count(en->win) > 0;
        for (size_t j = 0; j < c->n_e && latest; j++)
            if (j != i && same_input(a, c->e[j].f, en->f) && c->e[j].last > en->last)
                latest = 0;
        if (latest)
            cJSON_AddItemToArray(list, entry_hints(a, en));
    }
    return list;
}

int observer_write_hints(struct observer *ob)
{
    ob->dirty = 0;
    if (!ob->o.hints_path)
        return 0;
    cJSON *root = cJSON_CreateObject();
    cJSON_AddNumberToObject(root, "generated", (double)time(NULL));
    cJSON *apps = cJSON_AddObjectToObject(root, "apps");
    for (size_t i = 0; i < ob->n_apps; i++) {
        const struct oapp *a = &ob->apps[i];
        if (!a->have_desc)
            continue;
        cJSON *o = cJSON_AddObjectToObject(apps, a->id);
        cJSON_AddStringToObject(o, "objective", a->d.objective);
        cJSON_AddStringToObject(o, "direction", a->d.maximize ? "maximize" : "minimize");
        cJSON_AddNumberToObject(o, "knowledge_versions", (double)a->n_versions);
        cJSON_AddNumberToObject(o, "relearn_requests", a->relearn_requests);
        cJSON_AddBoolToObject(o, "relearning", a->relearning);
        cJSON_AddStringToObject(o, "last_relearn_reason", a->last_reason);
        cJSON *cl = cJSON_AddObjectToObject(o, "clients");
        for (size_t c = 0; c < a->n_clients; c++)
            if (a->clients[c].alive)
                cJSON_AddItemToObject(cl, a->clients[c].cid, client_hints(a, &a->clients[c]));
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (!s)
        return -ENOMEM;
    char err[256];
    int rc = kf_atomic_write_text(ob->o.hints_path, s, TUNER_TEXT_FILE_MODE, err, sizeof(err));
    if (rc < 0)
        LOG("%s\n", err);
    free(s);
    return rc;
}

void observer_fini(struct observer *ob)
{
    for (size_t i = 0; i < ob->n_apps; i++) {
        struct oapp *a = &ob->apps[i];
        for (size_t v = 0; v < a->n_versions; v++)
            free(a->versions[v]);
        free(a->versions);
        free(a->ops);
        for (size_t c = 0; c < a->n_clients; c++) {
            for (size_t e = 0; e < a->clients[c].n_e; e++)
                tuner_monitor_free(a->clients[c].e[e].win);
            free(a->clients[c].e);
        }
        free(a->clients);
        if (a->have_desc)
            block_desc_fini(&a->d);
    }
    free(ob->apps);
    ob->apps = NULL;
    ob->n_apps = 0;
}
