/* The message loop kfarm-learner and kfarm-observer both run on their MQTT link. */
#ifndef KFARM_TUNER_SERVER_LOOP_H
#define KFARM_TUNER_SERVER_LOOP_H

#include "mqtt_link.h"

struct server_loop_ops {
    void (*handle)(void *server, const char *topic, const char *payload);
    /* after each round of messages (at least every 200 ms) and once at the end: write what
     * changed */
    void (*idle)(void *server, int last);
};

/* Connects to broker as client_id (NULL: "<prog>-<pid>") and subscribes to the n topics; on
 * failure says why on stderr and returns NULL. connected (may be NULL) runs after each connect. */
struct mqtt_link *server_connect(const char *prog, const char *broker,
                                 const struct kf_mqtt_security *sec, const char *client_id,
                                 const char *const *topics, size_t n,
                                 mqtt_link_connected_fn connected, void *arg);

/* Until SIGINT or SIGTERM: logs each new connection error as prog, hands every received message
 * to ops->handle, calls ops->idle, waits for more (200 ms at most). */
void server_loop_run(struct mqtt_link *mq, const char *prog, const struct server_loop_ops *ops,
                     void *server);

#endif
