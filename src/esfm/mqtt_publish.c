/* Publishes a VF's accelerator state on kfarm/accel/<node>/<bdf> as {"state": "..."} (retained,
 * QoS 1) through paho-mqtt C, so workers' tuners learn when their accelerator comes and goes. */
#include "internal.h"

#include <MQTTClient.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct esfm_mqtt {
    MQTTClient client;
    pthread_mutex_t lock;
};

int esfm_mqtt_new(const char *uri, const char *node, struct esfm_mqtt **out, char *err,
                  size_t errlen)
{
    if (strncmp(uri, "tcp://", 6) != 0)
        return esfm_fail(err, errlen, -EINVAL, "--mqtt wants tcp://HOST:PORT, got '%s'", uri);
    struct esfm_mqtt *m = calloc(1, sizeof *m);
    if (!m)
        return esfm_fail(err, errlen, -ENOMEM, "out of memory");
    char id[128];
    snprintf(id, sizeof id, "esfm-%s-%d", node, (int)getpid());
    if (MQTTClient_create(&m->client, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL) !=
        MQTTCLIENT_SUCCESS) {
        free(m);
        return esfm_fail(err, errlen, -EINVAL, "cannot create an MQTT client for %s", uri);
    }
    MQTTClient_connectOptions co = MQTTClient_connectOptions_initializer;
    co.keepAliveInterval = 30;
    co.cleansession = 1;
    co.connectTimeout = 5;
    int rc = MQTTClient_connect(m->client, &co);
    if (rc != MQTTCLIENT_SUCCESS) {
        MQTTClient_destroy(&m->client);
        free(m);
        return esfm_fail(err, errlen, -EREMOTEIO,
                         "cannot connect to MQTT broker %s (paho rc %d); is it running?", uri, rc);
    }
    pthread_mutex_init(&m->lock, NULL);
    *out = m;
    return 0;
}

void esfm_mqtt_free(struct esfm_mqtt *m)
{
    if (!m)
        return;
    MQTTClient_disconnect(m->client, 1000);
    MQTTClient_destroy(&m->client);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

void esfm_publish_state(struct esfm_ctx *ctx, const char *vf, const char *state)
{
    if (!ctx->mqtt)
        return;
    char topic[256], payload[64];
    snprintf(topic, sizeof topic, "kfarm/accel/%s/%s", ctx->node, vf);
    int len = snprintf(payload, sizeof payload, "{\"state\":\"%s\"}", state);
    pthread_mutex_lock(&ctx->mqtt->lock);
    MQTTClient_deliveryToken tok;
    int rc = MQTTClient_publish(ctx->mqtt->client, topic, len, payload, 1, 1, &tok);
    if (rc == MQTTCLIENT_SUCCESS)
        rc = MQTTClient_waitForCompletion(ctx->mqtt->client, tok, 5000);
    pthread_mutex_unlock(&ctx->mqtt->lock);
    if (rc != MQTTCLIENT_SUCCESS)
        esfm_logf(ctx, "warning: MQTT publish of %s=%s failed (paho rc %d)", topic, state, rc);
}
