/* The selector's optional MQTT hookup: welcome/observation/kia on mARGOt v3 topics, predictions
 * and explore commands from kfarm-learner, accelerator state from kfarm/accel/<node>/<bdf>. */
#include "selector.h"
#include "text_file.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void on_connected(void *arg)
{
    struct tuner_selector *s = arg;
    /* publishing happens on the owner's thread (choose()), where the welcome may be rebuilt */
    atomic_store(&s->welcome_acked, 0);
    atomic_store(&s->welcome_now, 1);
}

static double coarse_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *build_welcome(const struct tuner_selector *s)
{
    const struct tuner *t = s->core;
    cJSON *w = cJSON_CreateObject(), *a;
    cJSON_AddStringToObject(w, "client", s->cid);
    cJSON_AddStringToObject(w, "app", s->app);
    cJSON_AddStringToObject(w, "block", s->kind);
    a = cJSON_AddArrayToObject(w, "knobs");
    for (size_t i = 0; i < t->nk; i++) {
        const struct knob *k = &t->knobs[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", k->name);
        if (k->is_enum) {
            /* without an accelerator only the CPU variant can run here */
            int n = i == s->variant_knob && !s->has_accel ? 1 : (int)k->n_labels;
            cJSON_AddItemToObject(o, "values",
                                  cJSON_CreateStringArray((const char *const *)k->labels, n));
        } else {
            double r[3] = {(double)k->min, (double)k->max, (double)k->step};
            cJSON_AddItemToObject(o, "range", cJSON_CreateDoubleArray(r, 3));
        }
        cJSON_AddItemToArray(a, o);
    }
    a = cJSON_AddArrayToObject(w, "features");
    for (size_t i = 0; i < t->nf; i++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", t->features[i].name);
        cJSON_AddStringToObject(o, "comparison",
                                t->features[i].cmp == TUNER_LE   ? "le"
                                : t->features[i].cmp == TUNER_GE ? "ge"
                                                                 : "-");
        cJSON_AddItemToArray(a, o);
    }
    a = cJSON_AddArrayToObject(w, "metrics");
    for (size_t i = 0; i < t->nm; i++)
        cJSON_AddItemToArray(a, cJSON_CreateString(t->metrics[i].name));
    cJSON *obj = cJSON_AddObjectToObject(w, "objective");
    cJSON_AddStringToObject(obj, "minimize", "time_per_unit");
    a = cJSON_AddArrayToObject(w, "hw_features");
    cJSON_AddItemToArray(a, cJSON_CreateString("accel_available"));
    cJSON_AddNumberToObject(w, "observations_per_configuration",
                            (double)s->lp.observations_per_config);
    /* which knowledge we hold, so a learner resends it only when we miss the current one */
    char hash[17];
    snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)s->st.prediction_hash);
    cJSON_AddStringToObject(w, "knowledge_hash", hash);
    char *out = cJSON_PrintUnformatted(w);
    cJSON_Delete(w);
    return out;
}

int tuner_selector_set_mqtt(struct tuner_selector *s, const char *uri,
                            const struct kf_mqtt_security *sec, const char *node,
                            const char *accel_bdf, char *err, size_t errlen)
{
    if (s->mq)
        return tuner_errorf(err, errlen, -EALREADY, "selector '%s' already has MQTT", s->kind);
    char host[128] = "host", fullhost[128] = "localhost", nodebuf[128];
    if (gethostname(fullhost, sizeof(fullhost) - 1))
        snprintf(fullhost, sizeof(fullhost), "localhost");
    fullhost[sizeof(fullhost) - 1] = 0;
    snprintf(host, sizeof(host), "%s", fullhost);
    char *dot = strchr(host, '.');
    if (dot)
        *dot = 0;
    snprintf(s->cid, sizeof(s->cid), "%s-%ld-%s", host, (long)getpid(), s->kind);
    mqtt_topic_level(s->cid);
    snprintf(s->t_welcome, sizeof(s->t_welcome), "margot/%s/welcome/%s", s->appid, s->cid);
    snprintf(s->t_obs, sizeof(s->t_obs), "margot/%s/observation/%s", s->appid, s->cid);
    snprintf(s->t_kia, sizeof(s->t_kia), "margot/%s/kia/%s", s->appid, s->cid);
    snprintf(s->t_explore, sizeof(s->t_explore), "margot/%s/%s/explore", s->appid, s->cid);
    snprintf(s->t_pred, sizeof(s->t_pred), "margot/%s/prediction", s->appid);
    s->t_accel[0] = 0;
    if (accel_bdf) {
        /* the host name as ESFM writes it (gethostname, not shortened) */
        snprintf(nodebuf, sizeof(nodebuf), "%s", node ? node : fullhost);
        mqtt_topic_level(nodebuf);
        snprintf(s->t_accel, sizeof(s->t_accel), "kfarm/accel/%s/%s", nodebuf, accel_bdf);
    }
    s->mq = mqtt_link_new(uri, sec, s->cid, s->t_kia, s->cid, on_connected, s, err, errlen);
    if (!s->mq)
        return -EINVAL;
    mqtt_link_subscribe(s->mq, s->t_explore);
    mqtt_link_subscribe(s->mq, s->t_pred);
    if (s->t_accel[0])
        mqtt_link_subscribe(s->mq, s->t_accel);
    return 0;
}

int tuner_selector_mqtt_error(struct tuner_selector *s, char *buf, size_t len)
{
    return s->mq ? mqtt_link_error_changed(s->mq, &s->mqtt_error_seen, buf, len) : 0;
}

const char *tuner_selector_client_id(const struct tuner_selector *s)
{
    return s->mq ? s->cid : NULL;
}

static void apply_explore(struct tuner_selector *s, const char *payload)
{
    cJSON *root = cJSON_Parse(payload);
    const cJSON *kn = cJSON_GetObjectItemCaseSensitive(root, "knobs");
    s->explore_active = 0;
    if (cJSON_IsObject(kn)) {
        double k[TUNER_MAX_KNOBS];
        int ok = 1;
        for (size_t i = 0; i < s->core->nk && ok; i++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(kn, s->core->knobs[i].name);
            if (cJSON_IsString(v))
                ok = tuner_knob_value(s->core, i, v->valuestring, &k[i]) == 0;
            else if (cJSON_IsNumber(v))
                k[i] = v->valuedouble;
            else
                ok = 0;
        }
        int set = ok ? selector_setting_of(s, k) : -1;
        if (set >= 0) {
            s->explore_setting = (uint32_t)set;
            s->explore_active = 1;
        }
    }
    cJSON_Delete(root);
}

static void apply_prediction(struct tuner_selector *s, const char *payload)
{
    struct tuner *k = selector_core_like(s);
    char err[256];
    if (k && tuner_knowledge_parse(k, payload, "prediction", err, sizeof(err)) == 0 &&
        selector_apply_knowledge(s, k) >= 0) {
        s->st.predictions++;
        s->st.prediction_hash = tuner_text_hash(payload);
        s->explore_active = 0;
    }
    tuner_free(k);
}

static void apply_accel(struct tuner_selector *s, const char *payload)
{
    cJSON *root = cJSON_Parse(payload);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "state");
    if (cJSON_IsString(st))
        atomic_store(&s->mqtt_accel, !strcmp(st->valuestring, "active"));
    cJSON_Delete(root);
}

void selector_mqtt_drain(struct tuner_selector *s)
{
    mqtt_link_poll(s->mq);
    /* A learner that was away when we connected never saw the welcome: repeat it every 2 s
     * until one answers, then every minute (a restarted learner or observer finds us again). */
    int acked = atomic_load_explicit(&s->welcome_acked, memory_order_relaxed);
    int now_due = atomic_load_explicit(&s->welcome_now, memory_order_relaxed);
    if (now_due || !acked || (s->st.decisions & 63) == 0) {
        double now = coarse_now();
        if ((now_due || now >= s->next_welcome) && mqtt_link_connected(s->mq)) {
            atomic_store(&s->welcome_now, 0);
            char *w = build_welcome(s);
            if (w) {
                mqtt_link_publish(s->mq, s->t_welcome, w, strlen(w), 1, 0);
                free(w);
            }
            s->next_welcome = now + (acked ? 60.0 : 2.0);
        }
    }
    if (!mqtt_link_pending(s->mq))
        return;
    struct mqtt_message m;
    while (mqtt_link_next(s->mq, &m)) {
        selector_mqtt_handle(s, m.topic, m.payload);
        mqtt_message_fini(&m);
    }
}

/* Separate from the drain so that tests/fuzz/fuzz_tuner_selector.c can feed it broker-less. */
void selector_mqtt_handle(struct tuner_selector *s, const char *topic, const char *payload)
{
    if (!strcmp(topic, s->t_explore)) {
        apply_explore(s, payload);
        atomic_store(&s->welcome_acked, 1);
    } else if (!strcmp(topic, s->t_pred)) {
        apply_prediction(s, payload); /* broadcast: not an answer to our welcome */
    } else if (s->t_accel[0] && !strcmp(topic, s->t_accel))
        apply_accel(s, payload);
}

static size_t json_str(char *dst, size_t cap, const char *name, const char *val)
{
    int n = snprintf(dst, cap, "\"%s\":\"%s\"", name, val);
    return n > 0 && (size_t)n < cap ? (size_t)n : cap;
}

static size_t json_num(char *dst, size_t cap, const char *name, double v)
{
    int n = snprintf(dst, cap, "\"%s\":%.17g", name, v);
    return n > 0 && (size_t)n < cap ? (size_t)n : cap;
}

void selector_mqtt_observation(struct tuner_selector *s, const struct tuner_choice *c, double sec,
                               double tpu, double units)
{
    if (!mqtt_link_connected(s->mq) || c->cluster_ >= s->n_clusters || c->setting_ >= s->n_settings)
        return;
    /* built by hand: this runs once per request and cJSON would allocate per field */
    const struct tuner *t = s->core;
    char buf[2048];
    size_t len = 0, cap = sizeof(buf);
    const double *key = s->clusters[c->cluster_].key;
    const double *kn = s->settings + c->setting_ * t->nk;
    len += (size_t)snprintf(buf + len, cap - len, "{\"client\":\"%s\",\"features\":{", s->cid);
    for (size_t i = 0; i < s->nf && len < cap; i++) {
        len += json_num(buf + len, cap - len, t->features[s->feat_map[i]].name, key[i]);
        len += len < cap ? (size_t)snprintf(buf + len, cap - len, ",") : 0;
    }
    int accel = c->variant == TUNER_VARIANT_ACCEL || s->prev_accel == 1;
    if (len < cap)
        len += json_num(buf + len, cap - len, "accel_available", accel);
    if (len < cap)
        len += (size_t)snprintf(buf + len, cap - len, "},\"knobs\":{");
    for (size_t i = 0; i < t->nk && len < cap; i++) {
        const char *label = tuner_knob_label(t, i, kn[i]);
        if (i)
            len += (size_t)snprintf(buf + len, cap - len, ",");
        if (len < cap)
            len += label ? json_str(buf + len, cap - len, t->knobs[i].name, label)
                         : json_num(buf + len, cap - len, t->knobs[i].name, kn[i]);
    }
    if (len < cap)
        len += (size_t)snprintf(buf + len, cap - len,
                                "},\"metrics\":{\"time_per_unit\":%.17g,\"time\":%.17g,"
                                "\"throughput\":%.17g},\"work_units\":%.17g}",
                                tpu, sec, tpu > 0 ? 1.0 / tpu : 0.0, units);
    if (len >= cap)
        return; /* absurdly long names: skip rather than send broken JSON */
    mqtt_link_publish(s->mq, s->t_obs, buf, len, 0, 0);
}

void selector_mqtt_free(struct tuner_selector *s)
{
    if (!s->mq)
        return;
    /* a clean exit says goodbye like the last will would */
    mqtt_link_free(s->mq, s->t_kia, s->cid);
    s->mq = NULL;
}
