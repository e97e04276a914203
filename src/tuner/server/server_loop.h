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

/* Until SIGINT or SIGTERM: logs each new connection error as prog, hands every received message
 * to ops->handle, calls ops->idle, waits for more (200 ms at most). */
void server_loop_run(struct mqtt_link *mq, const char *prog, const struct server_loop_ops *ops,
                     void *server);

#endif
