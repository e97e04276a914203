/* A background MQTT connection (paho MQTTAsync) with a locked inbox: received messages are
 * queued and drained by the owner's thread, subscriptions are renewed on every reconnect. */
#ifndef KFARM_TUNER_MQTT_LINK_H
#define KFARM_TUNER_MQTT_LINK_H

#include <stddef.h>

struct kf_mqtt_security;
struct mqtt_link;

struct mqtt_message {
    char *topic;
    char *payload; /* NUL-terminated copy */
    size_t len;
};

/* Called from paho's thread after each (re)connect and after the subscriptions were renewed;
 * it may publish (e.g. a welcome) but must not touch state the owner's thread uses unlocked. */
typedef void (*mqtt_link_connected_fn)(void *arg);

/* Creates the client and starts connecting in the background. uri is tcp:// (mqtt://) or, for
 * TLS, ssl:// (mqtts://); sec (NULL: anonymous, default trust) gives the user, password file and
 * TLS files, checked and read here. will_topic/will_payload may be NULL. Never blocks on the
 * network. Returns NULL with err filled on a bad URI, id, option or password file. */
struct mqtt_link *mqtt_link_new(const char *uri, const struct kf_mqtt_security *sec,
                                const char *client_id, const char *will_topic,
                                const char *will_payload, mqtt_link_connected_fn on_connected,
                                void *arg, char *err, size_t errlen);
/* Subscribes now if connected and again after every reconnect. */
int mqtt_link_subscribe(struct mqtt_link *l, const char *topic);
/* Subscribes to each of n topics (the servers' fixed topic lists). */
void mqtt_link_subscribe_all(struct mqtt_link *l, const char *const *topics, size_t n);
/* Queues a message; returns 0, or a negative value when not connected (the message is lost:
 * learning traffic is not worth buffering). */
int mqtt_link_publish(struct mqtt_link *l, const char *topic, const char *payload, size_t len,
                      int qos, int retained);
/* Retries a failed first connection when due; cheap, call it from the owner's loop. */
void mqtt_link_poll(struct mqtt_link *l);
int mqtt_link_connected(struct mqtt_link *l);
/* Nonzero when messages are waiting (lock-free check for hot paths). */
int mqtt_link_pending(struct mqtt_link *l);
/* Pops the oldest message into *m (caller frees with mqtt_message_fini); 0 when empty. */
int mqtt_link_next(struct mqtt_link *l, struct mqtt_message *m);
void mqtt_message_fini(struct mqtt_message *m);
/* Sleeps until a message is queued or timeout_ms passed (servers' main loops; no spinning). */
void mqtt_link_wait(struct mqtt_link *l, int timeout_ms);
/* Publishes final_topic/final_payload (if not NULL) and disconnects, waiting at most ~1 s. */
void mqtt_link_free(struct mqtt_link *l, const char *final_topic, const char *final_payload);

/* 1 with the reason in buf when an attempt failed since *seen (the caller's counter, start at 0)
 * for another reason than the one this returned last (or the link connected in between). For
 * the owner's thread: a log line per change, not per retry. */
int mqtt_link_error_changed(struct mqtt_link *l, unsigned *seen, char *buf, size_t len);
/* Prints "<prog>: <why>; retrying" on stderr when mqtt_link_error_changed() says so. */
void mqtt_link_log_error(struct mqtt_link *l, const char *prog, unsigned *seen);

/* Replaces characters MQTT reserves in topic levels ('/', '+', '#') and spaces with '_'. */
void mqtt_topic_level(char *s);

#endif
