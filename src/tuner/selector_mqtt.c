/* The selector's optional MQTT hookup: welcome/observation/kia on mARGOt v3 topics, predictions
 * and explore commands from kfarm-learner, accelerator state from kfarm/accel/<node>/<bdf>. A
 * sink of the selector (selector.h): it keeps its own state and uses only the selector's calls. */
#include "mqtt_link.h"
#include "selector.h"
#include "selector_mqtt.h"
#include "tuner_private.h"

#include <cjson/cJSON.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct selector_mqtt {
    struct mqtt_link *mq;     /* NULL in the broker-less test seam */
    unsigned mqtt_error_seen; /* mqtt_link_error_changed() counter */
    char cid[160];
    char t_welcome[400], t_obs[400], t_kia[400], t_explore[400], t_pred[400], t_accel[400];
    int accel;                /* -1 unknown, 0 paused/detached, 1 active (owner's thread) */
    atomic_int welcome_acked; /* a learner answered since the last (re)connect */
    atomic_int welcome_now;   /* (re)connected: send the welcome at the next decision */
    double next_welcome;      /* until then, the welcome is repeated (servers may be away) */
    uint64_t polls;           /* decisions seen, to look at the clock only every 64th */
};

static const struct selector_sink_ops mqtt_sink_ops;

static void on_connected(void *arg)
{
    struct selector_mqtt *m = arg;
    /* publishing happens on the owner's thread (choose()), where the welcome may be rebuilt */
    atomic_store(&m->welcome_acked, 0);
    atomic_store(&m->welcome_now, 1);
}

static double coarse_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static char *build_welcome(const struct selector_mqtt *m, const struct tuner_selector *s)
{
    const struct tuner *t = selector_block(s);
    struct tuner_selector_stats st;
    tuner_selector_get_stats(s, &st);
    cJSON *w = cJSON_CreateObject(), *a;
    cJSON_AddStringToObject(w, "client", m->cid);
    cJSON_AddStringToObject(w, "app", selector_app(s));
    cJSON_AddStringToObject(w, "block", selector_kind(s));
    a = cJSON_AddArrayToObject(w, "knobs");
    for (size_t i = 0; i < t->nk; i++) {
        const struct knob *k = &t->knobs[i];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", k->name);
        if (k->is_enum) {
            /* only what can run here (without an accelerator, the CPU variant) */
            int n = (int)selector_knob_values(s, i);
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
                            (double)selector_learn_params(s)->observations_per_config);
    /* which knowledge we hold, so a learner resends it only when we miss the current one */
    char hash[17];
    snprintf(hash, sizeof(hash), "%016llx", (unsigned long long)st.prediction_hash);
    cJSON_AddStringToObject(w, "knowledge_hash", hash);
    char *out = cJSON_PrintUnformatted(w);
    cJSON_Delete(w);
    return out;
}

/* The hookup's state and topics, without a connection yet. */
static struct selector_mqtt *selector_mqtt_new(const struct tuner_selector *s, const char *node,
                                               const char *accel_bdf)
{
    struct selector_mqtt *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->accel = -1;
    char host[128] = "host", fullhost[128] = "localhost", nodebuf[128];
    char appid[2 * TUNER_NAME_MAX + 2]; /* "<app>.<kind>", the <app> level of the topics */
    if (gethostname(fullhost, sizeof(fullhost) - 1))
        snprintf(fullhost, sizeof(fullhost), "localhost");
    fullhost[sizeof(fullhost) - 1] = 0;
    snprintf(host, sizeof(host), "%s", fullhost);
    char *dot = strchr(host, '.');
    if (dot)
        *dot = 0;
    snprintf(appid, sizeof(appid), "%s.%s", selector_app(s), selector_kind(s));
    mqtt_topic_level(appid);
    snprintf(m->cid, sizeof(m->cid), "%s-%ld-%s", host, (long)getpid(), selector_kind(s));
    mqtt_topic_level(m->cid);
    snprintf(m->t_welcome, sizeof(m->t_welcome), "margot/%s/welcome/%s", appid, m->cid);
    snprintf(m->t_obs, sizeof(m->t_obs), "margot/%s/observation/%s", appid, m->cid);
    snprintf(m->t_kia, sizeof(m->t_kia), "margot/%s/kia/%s", appid, m->cid);
    snprintf(m->t_explore, sizeof(m->t_explore), "margot/%s/%s/explore", appid, m->cid);
    snprintf(m->t_pred, sizeof(m->t_pred), "margot/%s/prediction", appid);
    if (accel_bdf) {
        /* the host name as ESFM writes it (gethostname, not shortened) */
        snprintf(nodebuf, sizeof(nodebuf), "%s", node ? node : fullhost);
        mqtt_topic_level(nodebuf);
        snprintf(m->t_accel, sizeof(m->t_accel), "kfarm/accel/%s/%s", nodebuf, accel_bdf);
    }
    return m;
}

static void selector_mqtt_free(void *sink)
{
    struct selector_mqtt *m = sink;
    /* a clean exit says goodbye like the last will would */
    if (m->mq)
        mqtt_link_free(m->mq, m->t_kia, m->cid);
    free(m);
}

int tuner_selector_set_mqtt(struct tuner_selector *s, const char *uri,
                            const struct kf_mqtt_security *sec, const char *node,
                            const char *accel_bdf, char *err, size_t errlen)
{
    if (selector_sink(s, &mqtt_sink_ops))
        return kf_errf(err, errlen, -EALREADY, "selector '%s' already has MQTT", selector_kind(s));
    struct selector_mqtt *m = selector_mqtt_new(s, node, accel_bdf);
    if (!m)
        return kf_errf(err, errlen, -ENOMEM, "out of memory for the MQTT hookup");
    m->mq = mqtt_link_new(uri, sec, m->cid, m->t_kia, m->cid, on_connected, m, err, errlen);
    int rc = m->mq ? selector_set_sink(s, &mqtt_sink_ops, m) : -EINVAL;
    if (rc < 0) {
        if (rc == -EALREADY)
            kf_errf(err, errlen, rc, "selector '%s' already has a sink", selector_kind(s));
        selector_mqtt_free(m);
        return rc;
    }
    mqtt_link_subscribe(m->mq, m->t_explore);
    mqtt_link_subscribe(m->mq, m->t_pred);
    if (m->t_accel[0])
        mqtt_link_subscribe(m->mq, m->t_accel);
    return 0;
}

struct selector_mqtt *selector_mqtt_attach_offline(struct tuner_selector *s, const char *node,
                                                   const char *accel_bdf)
{
    struct selector_mqtt *m = selector_mqtt_new(s, node, accel_bdf);
    if (m && selector_set_sink(s, &mqtt_sink_ops, m) < 0) {
        selector_mqtt_free(m);
        m = NULL;
    }
    return m;
}

const char *selector_mqtt_topic(const struct selector_mqtt *m, enum selector_mqtt_topic which)
{
    switch (which) {
    case SELECTOR_MQTT_EXPLORE:
        return m->t_explore;
    case SELECTOR_MQTT_PREDICTION:
        return m->t_pred;
    case SELECTOR_MQTT_ACCEL:
        return m->t_accel;
    }
    return "";
}

int tuner_selector_mqtt_error(struct tuner_selector *s, char *buf, size_t len)
{
    struct selector_mqtt *m = selector_sink(s, &mqtt_sink_ops);
    return m && m->mq ? mqtt_link_error_changed(m->mq, &m->mqtt_error_seen, buf, len) : 0;
}

const char *tuner_selector_client_id(const struct tuner_selector *s)
{
    const struct selector_mqtt *m = selector_sink(s, &mqtt_sink_ops);
    return m ? m->cid : NULL;
}

static void apply_explore(struct tuner_selector *s, const char *payload)
{
    const struct tuner *t = selector_block(s);
    cJSON *root = cJSON_Parse(payload);
    const cJSON *kn = cJSON_GetObjectItemCaseSensitive(root, "knobs");
    double k[TUNER_MAX_KNOBS];
    int ok = cJSON_IsObject(kn);
    for (size_t i = 0; i < t->nk && ok; i++) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(kn, t->knobs[i].name);
        if (cJSON_IsString(v))
            ok = tuner_knob_value(t, i, v->valuestring, &k[i]) == 0;
        else if (cJSON_IsNumber(v))
            k[i] = v->valuedouble;
        else
            ok = 0;
    }
    selector_explore(s, ok ? k : NULL); /* a command we cannot follow ends the experiment */
    cJSON_Delete(root);
}

static int parse_accel(const char *payload, int accel)
{
    cJSON *root = cJSON_Parse(payload);
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(root, "state");
    if (cJSON_IsString(st))
        accel = !strcmp(st->valuestring, "active");
    cJSON_Delete(root);
    return accel;
}

/* Separate from the poll so that tests/fuzz/fuzz_tuner_selector.c can feed it broker-less. */
void selector_mqtt_handle(struct selector_mqtt *m, struct tuner_selector *s, const char *topic,
                          const char *payload)
{
    if (!strcmp(topic, m->t_explore)) {
        apply_explore(s, payload);
        atomic_store(&m->welcome_acked, 1);
    } else if (!strcmp(topic, m->t_pred)) {
        char err[256];
        /* broadcast: not an answer to our welcome; a bad one is dropped (the learner resends) */
        selector_apply_prediction(s, payload, err, sizeof(err));
    } else if (m->t_accel[0] && !strcmp(topic, m->t_accel))
        m->accel = parse_accel(payload, m->accel);
}

/* A learner that was away when we connected never saw the welcome: repeat it every 2 s until one
 * answers, then every minute (a restarted learner or observer finds us again). */
static void send_welcome_when_due(struct selector_mqtt *m, const struct tuner_selector *s)
{
    int acked = atomic_load_explicit(&m->welcome_acked, memory_order_relaxed);
    int now_due = atomic_load_explicit(&m->welcome_now, memory_order_relaxed);
    if (!now_due && acked && (m->polls & 63) != 0)
        return;
    double now = coarse_now();
    if ((now_due || now >= m->next_welcome) && mqtt_link_connected(m->mq)) {
        atomic_store(&m->welcome_now, 0);
        char *w = build_welcome(m, s);
        if (w) {
            mqtt_link_publish(m->mq, m->t_welcome, w, strlen(w), 1, 0);
            free(w);
        }
        m->next_welcome = now + (acked ? 60.0 : 2.0);
    }
}

static int selector_mqtt_poll(void *sink, struct tuner_selector *s)
{
    struct selector_mqtt *m = sink;
    if (!m->mq)
        return m->accel;
    mqtt_link_poll(m->mq);
    send_welcome_when_due(m, s);
    m->polls++;
    if (!mqtt_link_pending(m->mq))
        return m->accel;
    struct mqtt_message msg;
    while (mqtt_link_next(m->mq, &msg)) {
        selector_mqtt_handle(m, s, msg.topic, msg.payload);
        mqtt_message_fini(&msg);
    }
    return m->accel;
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

static void selector_mqtt_observed(void *sink, const struct tuner_selector *s,
                                   const struct selector_observation *o)
{
    struct selector_mqtt *m = sink;
    if (!m->mq || !mqtt_link_connected(m->mq))
        return;
    /* built by hand: this runs once per request and cJSON would allocate per field */
    const struct tuner *t = selector_block(s);
    char buf[2048];
    size_t len = 0, cap = sizeof(buf);
    len += (size_t)snprintf(buf + len, cap - len, "{\"client\":\"%s\",\"features\":{", m->cid);
    for (size_t i = 0; i < selector_n_features(s) && len < cap; i++) {
        len += json_num(buf + len, cap - len, selector_feature_name(s, i), o->features[i]);
        len += len < cap ? (size_t)snprintf(buf + len, cap - len, ",") : 0;
    }
    if (len < cap)
        len += json_num(buf + len, cap - len, "accel_available", o->accel_available);
    if (len < cap)
        len += (size_t)snprintf(buf + len, cap - len, "},\"knobs\":{");
    for (size_t i = 0; i < t->nk && len < cap; i++) {
        const char *label = tuner_knob_label(t, i, o->knobs[i]);
        if (i)
            len += (size_t)snprintf(buf + len, cap - len, ",");
        if (len < cap)
            len += label ? json_str(buf + len, cap - len, t->knobs[i].name, label)
                         : json_num(buf + len, cap - len, t->knobs[i].name, o->knobs[i]);
    }
    double tpu = o->time_per_unit;
    if (len < cap)
        len += (size_t)snprintf(buf + len, cap - len,
                                "},\"metrics\":{\"time_per_unit\":%.17g,\"time\":%.17g,"
                                "\"throughput\":%.17g},\"work_units\":%.17g}",
                                tpu, o->seconds, tpu > 0 ? 1.0 / tpu : 0.0, o->work_units);
    if (len >= cap)
        return; /* absurdly long names: skip rather than send broken JSON */
    mqtt_link_publish(m->mq, m->t_obs, buf, len, 0, 0);
}

static int selector_mqtt_connected(const void *sink)
{
    const struct selector_mqtt *m = sink;
    return m->mq ? mqtt_link_connected(m->mq) : 0;
}

static const struct selector_sink_ops mqtt_sink_ops = {
    .poll = selector_mqtt_poll,
    .observed = selector_mqtt_observed,
    .connected = selector_mqtt_connected,
    .free = selector_mqtt_free,
};
