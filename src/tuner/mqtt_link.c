/* Background MQTT connection for the tuner's selector, learner and observer: paho MQTTAsync with
 * automatic reconnect, a retry for the first connection, and a mutex-protected inbox. */
#include "mqtt_link.h"
#include "internal.h"

#include <MQTTAsync.h>
#include <pthread.h>
#include <stdatomic.h>
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
    char *will_topic, *will_payload;
    mqtt_link_connected_fn on_connected;
    void *arg;
    pthread_mutex_t lock; /* guards subs and the inbox */
    pthread_cond_t arrived;
    char *subs[MAX_SUBS];
    size_t n_subs;
    struct node *head, *tail;
    size_t queued;
    atomic_int pending;
    atomic_int connected;
    atomic_int retry_due; /* the first connection failed: mqtt_link_poll() retries */
    double retry_at;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
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
    pthread_mutex_lock(&l->lock);
    for (size_t i = 0; i < l->n_subs; i++)
        subscribe_locked(l, l->subs[i]);
    pthread_mutex_unlock(&l->lock);
    if (l->on_connected)
        l->on_connected(l->arg);
}

static void on_connect_failure(void *ctx, MQTTAsync_failureData *resp)
{
    (void)resp;
    struct mqtt_link *l = ctx;
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

struct mqtt_link *mqtt_link_new(const char *uri, const char *client_id, const char *will_topic,
                                const char *will_payload, mqtt_link_connected_fn connected,
                                void *arg, char *err, size_t errlen)
{
    if (!uri || strncmp(uri, "tcp://", 6)) {
        tuner_errorf(err, errlen, -EINVAL, "MQTT broker URI '%s': expected tcp://host:port",
                     uri ? uri : "(null)");
        return NULL;
    }
    struct mqtt_link *l = calloc(1, sizeof(*l));
    if (!l) {
        tuner_errorf(err, errlen, -ENOMEM, "out of memory for the MQTT client");
        return NULL;
    }
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
        tuner_errorf(err, errlen, -EINVAL, "cannot create MQTT client '%s' for %s (paho rc %d)",
                     client_id, uri, rc);
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
