/* Publishes a VF's accelerator state on kfarm/accel/<node>/<bdf> as {"state": "..."} (retained,
 * QoS 1) through paho-mqtt C (OpenSSL build: TLS, user/password), so workers' tuners learn when
 * their accelerator comes and goes. */
#include "esfm_internal.h"

#include <MQTTClient.h>
#include <kfarm/mqtt_security.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct esfm_mqtt {
    MQTTClient client;
    pthread_mutex_t lock;
    char tls_error[256]; /* OpenSSL's first error line from a failed handshake */
    char password[KF_MQTT_PASSWORD_BUF];
};

/* OpenSSL's error queue after a failed handshake (during MQTTClient_connect). */
static int on_ssl_error(const char *str, size_t len, void *u)
{
    struct esfm_mqtt *m = u;
    size_t n = strcspn(str, "\n");
    if (n > len)
        n = len;
    if (!m->tls_error[0])
        snprintf(m->tls_error, sizeof m->tls_error, "%.*s", (int)n, str);
    return 1;
}

static void mqtt_free_unconnected(struct esfm_mqtt *m)
{
    explicit_bzero(m->password, sizeof m->password);
    free(m);
}

int esfm_mqtt_new(const char *uri, const struct kf_mqtt_security *sec, const char *node,
                  struct esfm_mqtt **out, char *err, size_t errlen)
{
    char why[512];
    int rc;
    if (kf_mqtt_uri_tls(uri) < 0)
        return kf_errf(err, errlen, -EINVAL,
                       "--mqtt wants tcp://HOST:PORT, or ssl://HOST:PORT for TLS, got '%s'", uri);
    if ((rc = kf_mqtt_security_check(uri, sec, why, sizeof why)) ||
        (rc = kf_mqtt_security_check_files(sec, why, sizeof why)))
        return kf_errf(err, errlen, rc, "%s", why);
    struct esfm_mqtt *m = calloc(1, sizeof *m);
    if (!m)
        return kf_errf(err, errlen, -ENOMEM, "out of memory");
    if (sec && sec->password_file &&
        (rc = kf_mqtt_read_password(sec->password_file, m->password, sizeof m->password, why,
                                    sizeof why))) {
        mqtt_free_unconnected(m);
        return kf_errf(err, errlen, rc, "%s", why);
    }
    kf_mqtt_reserve_std_fds(); /* the SPANK prolog runs with stdin closed */
    char id[128];
    snprintf(id, sizeof id, "esfm-%s-%d", node, (int)getpid());
    if (MQTTClient_create(&m->client, uri, id, MQTTCLIENT_PERSISTENCE_NONE, NULL) !=
        MQTTCLIENT_SUCCESS) {
        mqtt_free_unconnected(m);
        return kf_errf(err, errlen, -EINVAL, "cannot create an MQTT client for %s", uri);
    }
    MQTTClient_connectOptions co = MQTTClient_connectOptions_initializer;
    co.keepAliveInterval = 30;
    co.cleansession = 1;
    co.connectTimeout = 5;
    if (sec && sec->username) {
        co.username = sec->username;
        co.password = m->password;
    }
    MQTTClient_SSLOptions so = MQTTClient_SSLOptions_initializer;
    if (kf_mqtt_uri_tls(uri) == 1) {
        so.trustStore = sec ? sec->cafile : NULL; /* NULL: OpenSSL's default paths */
        so.keyStore = sec ? sec->certfile : NULL;
        so.privateKey = sec ? sec->keyfile : NULL;
        so.enableServerCertAuth = 1;
        so.verify = 1; /* the certificate must name the host of the URI */
        so.ssl_error_cb = on_ssl_error;
        so.ssl_error_context = m;
        co.ssl = &so;
    }
    rc = MQTTClient_connect(m->client, &co);
    if (rc != MQTTCLIENT_SUCCESS) {
        /* paho returns the broker's CONNACK code (1-5) when the broker refused us */
        kf_mqtt_connect_error(why, sizeof why, uri, sec, rc > 0 && rc <= 5 ? rc : 0, rc,
                              m->tls_error[0] ? m->tls_error : NULL);
        MQTTClient_destroy(&m->client);
        mqtt_free_unconnected(m);
        return kf_errf(err, errlen, rc == 4 || rc == 5 ? -EACCES : -EREMOTEIO, "%s", why);
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
    explicit_bzero(m->password, sizeof m->password);
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
