/* Background MQTT connection for the tuner's selector, learner and observer: paho MQTTAsync (the
 * OpenSSL build) with user/password and TLS, automatic reconnect, and a mutex-protected inbox. */
#include "mqtt_link.h"
#include "clock.h"
#include "tuner_private.h"

#include <MQTTAsync.h>
#include <kfarm/mqtt_security.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_SUBS  8
#define MAX_INBOX 4096 /* beyond this, old messages are dropped: a stalled owner must not OOM */

struct node {
    struct mqtt_message m;
    struct node *next;
};

struct mqtt_link {
    MQTTAsync client;
    MQTTAsync_connectOptions opts;
    MQTTAsync_willOptions will;
    MQTTAsync_SSLOptions ssl;
    char *will_topic, *will_payload;
    char *uri, *username, *cafile, *certfile, *keyfile;
    char password[KF_MQTT_PASSWORD_BUF];
    mqtt_link_connected_fn on_connected;
    void *arg;
    pthread_mutex_t lock; /* guards subs, the inbox and the error texts */
    pthread_cond_t arrived;
    char *subs[MAX_SUBS];
    size_t n_subs;
    struct node *head, *tail;
    size_t queued;
    atomic_int pending;
    atomic_int connected;
    atomic_int retry_due; /* the first connection failed: mqtt_link_poll() retries */
    double retry_at;
    char tls_error[256];    /* OpenSSL's text from the current attempt's handshake */
    char error[512];        /* why the last attempt failed (error_gen counts the failures) */
    char error_logged[512]; /* owner's thread: the reason mqtt_link_error_changed() gave last */
    unsigned connects_logged;
    atomic_uint connect_gen;
    atomic_uint error_gen;
};

static double now_s(void)
{
    return (double)kf_now_ns() * 1e-9;
}

void mqtt_topic_level(char *s)
{
    for (; *s; s++)
        if (*s == '/' || *s == '+' || *s == '#' || *s == ' ')
            *s = '_';
}

static void subscribe_locked(struct mqtt_link *l, const char *topic)
{
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    MQTTAsync_subscribe(l->client, topic, 1, &ro);
}

static void on_connected(void *ctx, char *cause)
{
    (void)cause;
    struct mqtt_link *l = ctx;
    atomic_store(&l->connected, 1);
    atomic_fetch_add(&l->connect_gen, 1);
    pthread_mutex_lock(&l->lock);
    l->tls_error[0] = 0;
    for (size_t i = 0; i < l->n_subs; i++)
        subscribe_locked(l, l->subs[i]);
    pthread_mutex_unlock(&l->lock);
    if (l->on_connected)
        l->on_connected(l->arg);
}

/* OpenSSL's error queue after a failed handshake (paho's thread). */
static int on_ssl_error(const char *str, size_t len, void *u)
{
    struct mqtt_link *l = u;
    pthread_mutex_lock(&l->lock);
    size_t n = strcspn(str, "\n");
    if (n > len)
        n = len;
    if (!l->tls_error[0]) /* the first line names the cause ("certificate verify failed") */
        snprintf(l->tls_error, sizeof(l->tls_error), "%.*s", (int)n, str);
    pthread_mutex_unlock(&l->lock);
    return 1;
}

static void on_connect_failure(void *ctx, MQTTAsync_failureData *resp)
{
    struct mqtt_link *l = ctx;
    /* paho passes the broker's CONNACK return code (1-5) when the broker refused us, a negative
     * library code when the connection failed before (TCP, TLS) */
    int code = resp ? resp->code : MQTTASYNC_FAILURE;
    struct kf_mqtt_security sec = {l->username, NULL, l->cafile, l->certfile, l->keyfile};
    pthread_mutex_lock(&l->lock);
    kf_mqtt_connect_error(l->error, sizeof(l->error), l->uri, &sec,
                          code > 0 && code <= 5 ? code : 0, code,
                          l->tls_error[0] ? l->tls_error : NULL);
    l->tls_error[0] = 0;
    pthread_mutex_unlock(&l->lock);
    atomic_fetch_add(&l->error_gen, 1);
    /* paho reconnects by itself only after a first success; retry the first one ourselves */
    l->retry_at = now_s() + 1.0;
    atomic_store(&l->retry_due, 1);
}

static void on_connection_lost(void *ctx, char *cause)
{
    (void)cause;
    struct mqtt_link *l = ctx;
    atomic_store(&l->connected, 0);
}

static int on_message(void *ctx, char *topic, int topic_len, MQTTAsync_message *msg)
{
    struct mqtt_link *l = ctx;
    struct node *n = calloc(1, sizeof(*n));
    size_t tl = topic_len > 0 ? (size_t)topic_len : strlen(topic);
    if (n) {
        n->m.topic = malloc(tl + 1);
        n->m.payload = malloc((size_t)msg->payloadlen + 1);
        if (n->m.topic && n->m.payload) {
            memcpy(n->m.topic, topic, tl);
            n->m.topic[tl] = 0;
            memcpy(n->m.payload, msg->payload, (size_t)msg->payloadlen);
            n->m.payload[msg->payloadlen] = 0;
            n->m.len = (size_t)msg->payloadlen;
            pthread_mutex_lock(&l->lock);
            if (l->queued == MAX_INBOX) {
                struct node *old = l->head;
                l->head = old->next;
                if (!l->head)
                    l->tail = NULL;
                l->queued--;
                mqtt_message_fini(&old->m);
                free(old);
            }
            if (l->tail)
                l->tail->next = n;
            else
                l->head = n;
            l->tail = n;
            l->queued++;
            atomic_store(&l->pending, 1);
            pthread_cond_signal(&l->arrived);
            pthread_mutex_unlock(&l->lock);
            n = NULL;
        } else {
            mqtt_message_fini(&n->m);
        }
        free(n);
    }
    MQTTAsync_freeMessage(&msg);
    MQTTAsync_free(topic);
    return 1;
}

static void start_connect(struct mqtt_link *l)
{
    l->opts.onFailure = on_connect_failure;
    l->opts.context = l;
    if (MQTTAsync_connect(l->client, &l->opts) != MQTTASYNC_SUCCESS) {
        l->retry_at = now_s() + 1.0;
        atomic_store(&l->retry_due, 1);
    }
}

static char *dup_or_null(const char *s, int *oom)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *oom = 1;
    return d;
}

/* Copies what paho needs at every reconnect and reads the password file. */
static int set_security(struct mqtt_link *l, const char *uri, const struct kf_mqtt_security *sec,
                        char *err, size_t errlen)
{
    int oom = 0;
    l->uri = dup_or_null(uri, &oom);
    if (sec) {
        l->username = dup_or_null(sec->username, &oom);
        l->cafile = dup_or_null(sec->cafile, &oom);
        l->certfile = dup_or_null(sec->certfile, &oom);
        l->keyfile = dup_or_null(sec->keyfile, &oom);
    }
    if (oom)
        return kf_errf(err, errlen, -ENOMEM, "out of memory for the MQTT client");
    if (sec && sec->password_file) {
        int rc = kf_mqtt_read_password(sec->password_file, l->password, sizeof(l->password), err,
                                       errlen);
        if (rc)
            return rc;
    }
    return 0;
}

static void free_security(struct mqtt_link *l)
{
    explicit_bzero(l->password, sizeof(l->password));
    free(l->uri);
    free(l->username);
    free(l->cafile);
    free(l->certfile);
    free(l->keyfile);
}

struct mqtt_link *mqtt_link_new(const char *uri, const struct kf_mqtt_security *sec,
                                const char *client_id, const char *will_topic,
                                const char *will_payload, mqtt_link_connected_fn connected,
                                void *arg, char *err, size_t errlen)
{
    if (kf_mqtt_security_check(uri, sec, err, errlen) ||
        kf_mqtt_security_check_files(sec, err, errlen))
        return NULL;
    struct mqtt_link *l = calloc(1, sizeof(*l));
    if (!l) {
        kf_errf(err, errlen, -ENOMEM, "out of memory for the MQTT client");
        return NULL;
    }
    if (set_security(l, uri, sec, err, errlen)) {
        free_security(l);
        free(l);
        return NULL;
    }
    kf_mqtt_reserve_std_fds(); /* a daemon started with stdin closed */
    pthread_mutex_init(&l->lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->arrived, &ca);
    pthread_condattr_destroy(&ca);
    l->on_connected = connected;
    l->arg = arg;
    int rc = MQTTAsync_create(&l->client, uri, client_id, MQTTCLIENT_PERSISTENCE_NONE, NULL);
    if (rc != MQTTASYNC_SUCCESS) {
        kf_errf(err, errlen, -EINVAL, "cannot create MQTT client '%s' for %s (paho rc %d)",
                client_id, uri, rc);
        free_security(l);
        pthread_mutex_destroy(&l->lock);
        pthread_cond_destroy(&l->arrived);
        free(l);
        return NULL;
    }
    MQTTAsync_setCallbacks(l->client, l, on_connection_lost, on_message, NULL);
    MQTTAsync_setConnected(l->client, l, on_connected);
    MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer;
    o.keepAliveInterval = 3; /* a dead client's will fires within ~1.5 keepalives */
    o.cleansession = 1;
    o.automaticReconnect = 1;
    o.minRetryInterval = 1;
    o.maxRetryInterval = 2;
    o.connectTimeout = 3;
    l->opts = o;
    if (l->username) {
        l->opts.username = l->username;
        l->opts.password = l->password;
    }
    if (kf_mqtt_uri_tls(uri) == 1) {
        MQTTAsync_SSLOptions so = MQTTAsync_SSLOptions_initializer;
        so.trustStore = l->cafile; /* NULL: OpenSSL's default paths */
        so.keyStore = l->certfile;
        so.privateKey = l->keyfile;
        so.enableServerCertAuth = 1;
        so.verify = 1; /* the certificate must name the host of the URI */
        so.ssl_error_cb = on_ssl_error;
        so.ssl_error_context = l;
        l->ssl = so;
        l->opts.ssl = &l->ssl;
    }
    if (will_topic) {
        MQTTAsync_willOptions w = MQTTAsync_willOptions_initializer;
        l->will_topic = strdup(will_topic);
        l->will_payload = strdup(will_payload ? will_payload : "");
        w.topicName = l->will_topic;
        w.message = l->will_payload;
        w.qos = 1;
        l->will = w;
        l->opts.will = &l->will;
    }
    start_connect(l);
    return l;
}

int mqtt_link_subscribe(struct mqtt_link *l, const char *topic)
{
    pthread_mutex_lock(&l->lock);
    if (l->n_subs == MAX_SUBS) {
        pthread_mutex_unlock(&l->lock);
        return -ENOSPC;
    }
    l->subs[l->n_subs] = strdup(topic);
    if (!l->subs[l->n_subs]) {
        pthread_mutex_unlock(&l->lock);
        return -ENOMEM;
    }
    l->n_subs++;
    if (atomic_load(&l->connected))
        subscribe_locked(l, topic);
    pthread_mutex_unlock(&l->lock);
    return 0;
}

int mqtt_link_publish(struct mqtt_link *l, const char *topic, const char *payload, size_t len,
                      int qos, int retained)
{
    if (!l || !atomic_load(&l->connected))
        return -ENOTCONN;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    int rc = MQTTAsync_send(l->client, topic, (int)len, payload, qos, retained, &ro);
    return rc == MQTTASYNC_SUCCESS ? 0 : -EIO;
}

void mqtt_link_poll(struct mqtt_link *l)
{
    if (atomic_load(&l->retry_due) && now_s() >= l->retry_at) {
        atomic_store(&l->retry_due, 0);
        start_connect(l);
    }
}

int mqtt_link_connected(struct mqtt_link *l)
{
    return l && atomic_load(&l->connected) && MQTTAsync_isConnected(l->client);
}

int mqtt_link_pending(struct mqtt_link *l)
{
    return atomic_load_explicit(&l->pending, memory_order_relaxed);
}

int mqtt_link_next(struct mqtt_link *l, struct mqtt_message *m)
{
    pthread_mutex_lock(&l->lock);
    struct node *n = l->head;
    if (n) {
        l->head = n->next;
        if (!l->head)
            l->tail = NULL;
        l->queued--;
    }
    if (!l->head)
        atomic_store(&l->pending, 0);
    pthread_mutex_unlock(&l->lock);
    if (!n)
        return 0;
    *m = n->m;
    free(n);
    return 1;
}

void mqtt_message_fini(struct mqtt_message *m)
{
    free(m->topic);
    free(m->payload);
    m->topic = m->payload = NULL;
}

void mqtt_link_free(struct mqtt_link *l, const char *final_topic, const char *final_payload)
{
    if (!l)
        return;
    if (final_topic && mqtt_link_connected(l)) {
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        if (MQTTAsync_send(l->client, final_topic, (int)strlen(final_payload), final_payload, 1, 0,
                           &ro) == MQTTASYNC_SUCCESS)
            MQTTAsync_waitForCompletion(l->client, ro.token, 1000);
    }
    if (MQTTAsync_isConnected(l->client)) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        d.timeout = 500;
        MQTTAsync_disconnect(l->client, &d);
        for (int i = 0; i < 100 && MQTTAsync_isConnected(l->client); i++) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    MQTTAsync_destroy(&l->client);
    struct mqtt_message m;
    while (mqtt_link_next(l, &m))
        mqtt_message_fini(&m);
    for (size_t i = 0; i < l->n_subs; i++)
        free(l->subs[i]);
    free(l->will_topic);
    free(l->will_payload);
    free_security(l);
    pthread_mutex_destroy(&l->lock);
    pthread_cond_destroy(&l->arrived);
    free(l);
}

void mqtt_link_wait(struct mqtt_link *l, int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&l->lock);
    while (!l->head)
        if (pthread_cond_timedwait(&l->arrived, &l->lock, &ts))
            break;
    pthread_mutex_unlock(&l->lock);
}

void mqtt_link_subscribe_all(struct mqtt_link *l, const char *const *topics, size_t n)
{
    for (size_t i = 0; i < n; i++)
        mqtt_link_subscribe(l, topics[i]);
}

/* Why the last connection attempt failed (refused user, TLS verification, unreachable). */
static void last_error(struct mqtt_link *l, char *buf, size_t len)
{
    pthread_mutex_lock(&l->lock);
    snprintf(buf, len, "%s", l->error);
    pthread_mutex_unlock(&l->lock);
}

int mqtt_link_error_changed(struct mqtt_link *l, unsigned *seen, char *buf, size_t len)
{
    unsigned gen = atomic_load(&l->error_gen);
    if (gen == *seen)
        return 0;
    *seen = gen;
    unsigned connects = atomic_load(&l->connect_gen);
    if (connects != l->connects_logged) { /* connected in between: the same reason is news */
        l->connects_logged = connects;
        l->error_logged[0] = 0;
    }
    char why[sizeof(l->error)];
    last_error(l, why, sizeof(why));
    /* one report per change of reason, not one per retry every second */
    if (!strcmp(why, l->error_logged))
        return 0;
    snprintf(l->error_logged, sizeof(l->error_logged), "%s", why);
    snprintf(buf, len, "%s", why);
    return 1;
}

void mqtt_link_log_error(struct mqtt_link *l, const char *prog, unsigned *seen)
{
    char why[512];
    if (mqtt_link_error_changed(l, seen, why, sizeof(why)))
        fprintf(stderr, "%s: %s; retrying\n", prog, why);
}
