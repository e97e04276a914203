/* kfarm-learner logic: clients welcome themselves, are asked to explore DoE configurations,
 * observations accumulate to N per configuration, then knowledge is built and broadcast. */
#include "learner.h"
#include "doe.h"
#include "linear_model.h"
#include "atomic_file.h"
#include "text_file.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG(...) fprintf(stderr, "kfarm-learner: " __VA_ARGS__)

static struct lapp *find_app(struct learner *l, const char *id)
{
    for (size_t i = 0; i < l->n_apps; i++)
        if (!strcmp(l->apps[i].id, id))
            return &l->apps[i];
    return NULL;
}

static struct lapp *new_app(struct learner *l, const char *id, const char *welcome)
{
    struct lapp a;
    memset(&a, 0, sizeof(a));
    char err[256];
    if (strlen(id) >= sizeof(a.id) || block_desc_parse(&a.d, welcome, err, sizeof(err)) < 0) {
        LOG("app %s: bad welcome ignored: %s\n", id, err);
        return NULL;
    }
    snprintf(a.id, sizeof(a.id), "%s", id);
    a.n_cfg = doe_configs(&a.d, l->o.max_full, l->o.samples, l->o.seed, &a.cfg);
    a.configs = calloc(a.n_cfg ? a.n_cfg : 1, sizeof(struct lconfig));
    a.n_obs_needed = l->o.observations    ? l->o.observations
                     : a.d.obs_per_config ? a.d.obs_per_config
                                          : 5;
    struct lapp *apps = realloc(l->apps, (l->n_apps + 1) * sizeof(*apps));
    if (!a.n_cfg || !a.configs || !apps) {
        free(a.cfg);
        free(a.configs);
        block_desc_fini(&a.d);
        if (apps)
            l->apps = apps;
        return NULL;
    }
    l->apps = apps;
    l->apps[l->n_apps] = a;
    LOG("app %s: block %s, %zu configurations x %zu observations\n", id, a.d.block, a.n_cfg,
        a.n_obs_needed);
    return &l->apps[l->n_apps++];
}

static struct lclient *find_client(struct lapp *a, const char *cid)
{
    for (size_t i = 0; i < a->n_clients; i++)
        if (!strcmp(a->clients[i].cid, cid))
            return &a->clients[i];
    return NULL;
}

static struct lclient *add_client(struct lapp *a, const char *cid)
{
    struct lclient *c = find_client(a, cid);
    if (c)
        return c;
    if (a->n_clients == a->cap_clients) {
        size_t cap = a->cap_clients ? 2 * a->cap_clients : 8;
        struct lclient *n = realloc(a->clients, cap * sizeof(*n));
        if (!n)
            return NULL;
        a->clients = n;
        a->cap_clients = cap;
    }
    c = &a->clients[a->n_clients++];
    snprintf(c->cid, sizeof(c->cid), "%s", cid);
    c->assigned = -1;
    return c;
}

static void bucket(const struct lapp *a, const double *f, double *key)
{
    for (size_t j = 0; j < a->d.nf; j++)
        key[j] = tuner_feature_bucket(f[j]);
}

/* Observations of a configuration in the input cluster of key; hw: compare the hardware
 * features instead of the input ones. */
static size_t obs_in(const struct lapp *a, size_t cfg, const double *key, int hw)
{
    size_t n = 0;
    for (size_t i = 0; i < a->configs[cfg].n_obs; i++) {
        double k[TUNER_MAX_FEATURES];
        bucket(a, a->configs[cfg].obs[i].f, k);
        int same = 1;
        for (size_t j = 0; j < a->d.nf && same; j++)
            same = (a->d.hw[j] != 0) != (hw != 0) || k[j] == key[j];
        n += same;
    }
    return n;
}

/* N observations, and N in every common input cluster (seen N times overall, whatever the
 * hardware): the model interpolates rare inputs, but must not extrapolate a variant to inputs
 * it never ran on. */
static int config_done(const struct lapp *a, size_t i)
{
    if (a->configs[i].abandoned)
        return 1;
    if (a->configs[i].n_obs < a->n_obs_needed)
        return 0;
    for (size_t k = 0; k < a->n_keys; k++)
        if (a->keys[k].n >= a->n_obs_needed && obs_in(a, i, a->keys[k].f, 0) < a->n_obs_needed)
            return 0;
    return 1;
}

static void count_key(struct lapp *a, const double *f)
{
    double key[TUNER_MAX_FEATURES];
    bucket(a, f, key);
    for (size_t k = 0; k < a->n_keys; k++)
        if (!a->d.nf || !memcmp(a->keys[k].f, key, a->d.nf * sizeof(double))) {
            a->keys[k].n++;
            return;
        }
    if (a->n_keys == a->cap_keys) {
        size_t cap = a->cap_keys ? 2 * a->cap_keys : 8;
        struct lkey *n = realloc(a->keys, cap * sizeof(*n));
        if (!n)
            return;
        a->keys = n;
        a->cap_keys = cap;
    }
    memcpy(a->keys[a->n_keys].f, key, sizeof(key));
    a->keys[a->n_keys++].n = 1;
}

static void publish(struct learner *l, const char *topic, const char *payload)
{
    if (mqtt_link_publish(l->mq, topic, payload, strlen(payload), 1, 0) < 0)
        LOG("cannot publish on %s now (broker down?); it is sent again on the next welcome\n",
            topic);
}

static void send_explore(struct learner *l, struct lapp *a, struct lclient *c)
{
    char topic[512];
    snprintf(topic, sizeof(topic), "margot/%s/%s/explore", a->id, c->cid);
    cJSON *o = cJSON_CreateObject();
    if (c->assigned >= 0)
        cJSON_AddItemToObject(o, "knobs",
                              block_desc_knobs_json(&a->d, a->cfg + (size_t)c->assigned * a->d.nk));
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (s) {
        if (l->o.verbose)
            LOG("app %s: %s explores %s\n", a->id, c->cid, s);
        publish(l, topic, s);
    }
    free(s);
}

/* The next configuration for a client: an unfinished one nobody else runs, else the unfinished
 * one with the fewest observations. */
static void assign(struct learner *l, struct lapp *a, struct lclient *c)
{
    long best = -1;
    size_t best_n = SIZE_MAX;
    for (size_t i = 0; i < a->n_cfg; i++) {
        if (config_done(a, i))
            continue;
        int taken = 0;
        for (size_t j = 0; j < a->n_clients; j++)
            taken |= &a->clients[j] != c && a->clients[j].assigned == (long)i;
        size_t score = a->configs[i].n_obs + (taken ? a->n_obs_needed : 0);
        if (score < best_n) {
            best_n = score;
            best = (long)i;
        }
    }
    if (best != c->assigned || best < 0) {
        c->assigned = best;
        send_explore(l, a, c);
    }
}

static void broadcast_knowledge(struct learner *l, struct lapp *a)
{
    char topic[512];
    snprintf(topic, sizeof(topic), "margot/%s/prediction", a->id);
    publish(l, topic, a->knowledge);
}

static void finish_learning(struct learner *l, struct lapp *a)
{
    char *k = learner_build_knowledge(a);
    if (!k) {
        LOG("app %s: out of memory building the knowledge\n", a->id);
        return;
    }
    free(a->knowledge);
    a->knowledge = k;
    a->learned = 1;
    a->version++;
    size_t aband = 0;
    for (size_t i = 0; i < a->n_cfg; i++)
        aband += a->configs[i].abandoned != 0;
    LOG("app %s: knowledge v%u built (%zu configurations, %zu abandoned), broadcasting\n", a->id,
        a->version, a->n_cfg, aband);
    if (l->o.knowledge_dir) {
        char path[1024], err[256];
        snprintf(path, sizeof(path), "%s/%s.json", l->o.knowledge_dir, a->id);
        if (kf_atomic_write_text(path, k, TUNER_TEXT_FILE_MODE, err, sizeof(err)) < 0)
            LOG("%s\n", err);
    }
    for (size_t j = 0; j < a->n_clients; j++)
        a->clients[j].assigned = -1;
    broadcast_knowledge(l, a);
}

static int all_done(const struct lapp *a)
{
    for (size_t i = 0; i < a->n_cfg; i++)
        if (!config_done(a, i))
            return 0;
    return 1;
}

static void on_welcome(struct learner *l, const char *app, const char *cid, const char *payload)
{
    struct lapp *a = find_app(l, app);
    if (!a && !(a = new_app(l, app, payload)))
        return;
    int known = find_client(a, cid) != NULL;
    struct lclient *c = add_client(a, cid);
    if (!c)
        return;
    /* dropped is a ring of the last LEARNER_DROPPED_KEPT ids while n_dropped counts every kia:
     * looking through n_dropped entries read (and wrote) past the ring after 17 kia messages,
     * which any MQTT peer can send (found by fuzz_tuner_mqtt) */
    size_t kept = a->n_dropped < LEARNER_DROPPED_KEPT ? a->n_dropped : LEARNER_DROPPED_KEPT;
    for (size_t i = 0; i < kept; i++)
        if (!strcmp(a->dropped[i], cid))
            a->dropped[i][0] = 0; /* it came back */
    if (!known)
        LOG("app %s: client %s welcome (%zu clients)\n", app, cid, a->n_clients);
    l->dirty = 1;
    if (a->learned) {
        /* a late joiner, or a client that missed the current knowledge while disconnected */
        char have[17], cur[17];
        cJSON *w = cJSON_Parse(payload);
        const cJSON *h = cJSON_GetObjectItemCaseSensitive(w, "knowledge_hash");
        snprintf(have, sizeof(have), "%s", cJSON_IsString(h) ? h->valuestring : "");
        snprintf(cur, sizeof(cur), "%016llx", (unsigned long long)tuner_text_hash(a->knowledge));
        cJSON_Delete(w);
        if (strcmp(have, cur))
            broadcast_knowledge(l, a);
        c->assigned = -1;
        send_explore(l, a, c); /* "nothing to explore": tells the client we heard it */
    } else {
        c->assigned = -2; /* force a fresh explore message */
        assign(l, a, c);
    }
}

static void on_observation(struct learner *l, const char *app, const char *cid, const char *payload)
{
    struct lapp *a = find_app(l, app);
    if (!a || a->learned)
        return;
    struct lclient *c = add_client(a, cid);
    cJSON *root = cJSON_Parse(payload);
    double k[TUNER_MAX_KNOBS] = {0};
    struct obs o = {0}; /* unused feature/metric slots are copied and compared too */
    if (!c || !root ||
        block_desc_knobs(&a->d, cJSON_GetObjectItemCaseSensitive(root, "knobs"), k) < 0 ||
        block_desc_features(&a->d, cJSON_GetObjectItemCaseSensitive(root, "features"), o.f) < 0 ||
        block_desc_metrics(&a->d, cJSON_GetObjectItemCaseSensitive(root, "metrics"), o.m, NULL) <
            0) {
        cJSON_Delete(root);
        return;
    }
    cJSON_Delete(root);
    count_key(a, o.f);
    long idx = -1;
    for (size_t i = 0; i < a->n_cfg && idx < 0; i++)
        if (!a->d.nk || !memcmp(a->cfg + i * a->d.nk, k, a->d.nk * sizeof(double)))
            idx = (long)i;
    if (idx >= 0 && !config_done(a, (size_t)idx)) {
        struct lconfig *cf = &a->configs[idx];
        if (cf->n_obs == cf->cap) {
            size_t cap = cf->cap ? 2 * cf->cap : 8;
            struct obs *n = realloc(cf->obs, cap * sizeof(*n));
            if (!n)
                return;
            cf->obs = n;
            cf->cap = cap;
        }
        cf->obs[cf->n_obs++] = o;
        l->dirty = 1;
    }
    if (c->assigned >= 0 && idx != c->assigned && !config_done(a, (size_t)c->assigned)) {
        struct lconfig *cf = &a->configs[c->assigned];
        /* in-flight explore messages explain a few; many mean the client cannot run it */
        if (++cf->mismatches >= 3 * a->n_obs_needed + 5 && cf->n_obs == 0) {
            cf->abandoned = 1;
            LOG("app %s: configuration %ld abandoned (clients do not run it; last from %s)\n",
                a->id, c->assigned, cid);
        }
    }
    if (all_done(a)) {
        finish_learning(l, a);
        l->dirty = 1;
        return;
    }
    if (c->assigned < 0 || config_done(a, (size_t)c->assigned))
        assign(l, a, c);
}

static void on_kia(struct learner *l, const char *app, const char *cid)
{
    struct lapp *a = find_app(l, app);
    struct lclient *c = a ? find_client(a, cid) : NULL;
    if (!c)
        return;
    *c = a->clients[--a->n_clients];
    snprintf(a->dropped[a->n_dropped % LEARNER_DROPPED_KEPT], sizeof(a->dropped[0]), "%s", cid);
    a->n_dropped++;
    LOG("app %s: client %s dropped (kia), %zu left\n", app, cid, a->n_clients);
    l->dirty = 1;
}

static void on_relearn(struct learner *l, const char *app)
{
    struct lapp *a = find_app(l, app);
    if (!a || !a->learned)
        return;
    for (size_t i = 0; i < a->n_cfg; i++) {
        a->configs[i].n_obs = 0;
        a->configs[i].mismatches = 0;
        a->configs[i].abandoned = 0;
    }
    a->n_keys = 0;
    a->learned = 0;
    a->relearns++;
    LOG("app %s: relearning (request %u)\n", app, a->relearns);
    for (size_t j = 0; j < a->n_clients; j++) {
        a->clients[j].assigned = -2;
        assign(l, a, &a->clients[j]);
    }
    l->dirty = 1;
}

void learner_handle(struct learner *l, const char *topic, const char *payload)
{
    /* margot/<app>/welcome|observation|kia/<cid>, margot/<app>/relearn */
    char buf[600], *lv[5];
    size_t n = 0;
    if (strlen(topic) >= sizeof(buf))
        return;
    strcpy(buf, topic);
    for (char *p = buf, *save; n < 5 && (lv[n] = strtok_r(n ? NULL : p, "/", &save)); n++)
        p = NULL;
    if (n < 3 || strcmp(lv[0], "margot"))
        return;
    if (n == 3 && !strcmp(lv[2], "relearn"))
        on_relearn(l, lv[1]);
    else if (n == 4 && !strcmp(lv[2], "welcome"))
        on_welcome(l, lv[1], lv[3], payload);
    else if (n == 4 && !strcmp(lv[2], "observation"))
        on_observation(l, lv[1], lv[3], payload);
    else if (n == 4 && !strcmp(lv[2], "kia"))
        on_kia(l, lv[1], lv[3]);
}

char *learner_build_knowledge(const struct lapp *a)
{
    const struct block_desc *d = &a->d;
    size_t nf = d->nf, nm = d->nm;
    cJSON *root = cJSON_CreateObject();
    cJSON *ops = cJSON_AddArrayToObject(root, d->block);
    for (size_t ci = 0; ops && ci < a->n_cfg; ci++) {
        const struct lconfig *cf = &a->configs[ci];
        if (cf->abandoned || cf->n_obs == 0)
            continue;
        size_t n = cf->n_obs;
        double *X = malloc((nf ? nf : 1) * n * sizeof(double)), *y = malloc(n * sizeof(double));
        double *tmp = malloc(n * sizeof(double));
        struct linear_model *lm = calloc(nm, sizeof(*lm));
        if (!X || !y || !tmp || !lm)
            goto next;
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < nf; j++)
                X[i * nf + j] = cf->obs[i].f[j];
        for (size_t m = 0; m < nm; m++) {
            for (size_t i = 0; i < n; i++)
                y[i] = cf->obs[i].m[m];
            linear_model_fit(&lm[m], X, y, n, nf);
        }
        /* one OP per input cluster seen by any configuration: measured where this one ran
         * there, predicted by its linear model elsewhere */
        for (size_t c = 0; c < a->n_keys; c++) {
            const double *key = a->keys[c].f;
            if (!obs_in(a, ci, key, 1))
                continue; /* never ran with this hardware (e.g. accelerator absent) */
            cJSON *op = cJSON_CreateObject(), *fs = cJSON_AddObjectToObject(op, "features");
            cJSON_AddItemToArray(ops, op);
            for (size_t j = 0; j < nf; j++)
                cJSON_AddNumberToObject(fs, d->features[j], key[j]);
            cJSON_AddItemToObject(op, "knobs", block_desc_knobs_json(d, a->cfg + ci * d->nk));
            cJSON *ms = cJSON_AddObjectToObject(op, "metrics");
            for (size_t m = 0; m < nm; m++) {
                size_t cnt = 0;
                for (size_t i2 = 0; i2 < n; i2++) {
                    int same = 1;
                    for (size_t j = 0; j < nf && same; j++)
                        same = tuner_feature_bucket(cf->obs[i2].f[j]) == key[j];
                    if (same)
                        tmp[cnt++] = cf->obs[i2].m[m];
                }
                double pair[2];
                struct tuner_stats st;
                if (cnt >= 2 && tuner_robust_stats(tmp, cnt, 3.0, &st) == 0) {
                    pair[0] = st.mean;
                    pair[1] = st.stddev;
                } else {
                    pair[0] = linear_model_predict(&lm[m], key);
                    pair[1] = lm[m].resid_sd;
                }
                cJSON_AddItemToObject(ms, d->metrics[m], cJSON_CreateDoubleArray(pair, 2));
            }
        }
    next:
        free(X);
        free(y);
        free(tmp);
        free(lm);
    }
    char *s = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    return s;
}

int learner_write_state(struct learner *l)
{
    if (!l->o.state_path)
        return 0;
    cJSON *root = cJSON_CreateObject(), *apps = cJSON_AddObjectToObject(root, "apps");
    for (size_t i = 0; i < l->n_apps; i++) {
        const struct lapp *a = &l->apps[i];
        cJSON *o = cJSON_AddObjectToObject(apps, a->id);
        size_t complete = 0, aband = 0;
        for (size_t c = 0; c < a->n_cfg; c++) {
            complete += a->configs[c].n_obs >= a->n_obs_needed;
            aband += a->configs[c].abandoned != 0;
        }
        cJSON_AddStringToObject(o, "state", a->learned ? "learned" : "learning");
        cJSON_AddNumberToObject(o, "version", a->version);
        cJSON_AddNumberToObject(o, "relearns", a->relearns);
        cJSON_AddNumberToObject(o, "configurations", (double)a->n_cfg);
        cJSON_AddNumberToObject(o, "complete", (double)complete);
        cJSON_AddNumberToObject(o, "abandoned", (double)aband);
        cJSON *cl = cJSON_AddArrayToObject(o, "clients");
        for (size_t c = 0; c < a->n_clients; c++)
            cJSON_AddItemToArray(cl, cJSON_CreateString(a->clients[c].cid));
        cJSON *dr = cJSON_AddArrayToObject(o, "dropped");
        size_t nd = a->n_dropped < LEARNER_DROPPED_KEPT ? a->n_dropped : LEARNER_DROPPED_KEPT;
        for (size_t c = 0; c < nd; c++)
            if (a->dropped[c][0])
                cJSON_AddItemToArray(dr, cJSON_CreateString(a->dropped[c]));
    }
    char *s = cJSON_Print(root);
    cJSON_Delete(root);
    if (!s)
        return -ENOMEM;
    char err[256];
    int rc = kf_atomic_write_text(l->o.state_path, s, TUNER_TEXT_FILE_MODE, err, sizeof(err));
    if (rc < 0)
        LOG("%s\n", err);
    free(s);
    l->dirty = 0;
    return rc;
}

void learner_fini(struct learner *l)
{
    for (size_t i = 0; i < l->n_apps; i++) {
        struct lapp *a = &l->apps[i];
        for (size_t c = 0; c < a->n_cfg; c++)
            free(a->configs[c].obs);
        free(a->configs);
        free(a->cfg);
        free(a->clients);
        free(a->knowledge);
        free(a->keys);
        block_desc_fini(&a->d);
    }
    free(l->apps);
    l->apps = NULL;
    l->n_apps = 0;
}
