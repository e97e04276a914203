/* server_loop_run: one loop for both MQTT servers, stopped by SIGINT/SIGTERM (see server_loop.h).
 */
#include "server_loop.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

struct mqtt_link *server_connect(const char *prog, const char *broker,
                                 const struct kf_mqtt_security *sec, const char *client_id,
                                 const char *const *topics, size_t n,
                                 mqtt_link_connected_fn connected, void *arg)
{
    char cid[64], err[256];
    snprintf(cid, sizeof(cid), "%s-%ld", prog, (long)getpid());
    struct mqtt_link *mq = mqtt_link_new(broker, sec, client_id ? client_id : cid, NULL, NULL,
                                         connected, arg, err, sizeof(err));
    if (!mq) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return NULL;
    }
    mqtt_link_subscribe_all(mq, topics, n);
    return mq;
}

void server_loop_run(struct mqtt_link *mq, const char *prog, const struct server_loop_ops *ops,
                     void *server)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    unsigned errors_seen = 0;
    while (!stop) {
        mqtt_link_poll(mq);
        mqtt_link_log_error(mq, prog, &errors_seen);
        struct mqtt_message m;
        while (!stop && mqtt_link_next(mq, &m)) {
            ops->handle(server, m.topic, m.payload);
            mqtt_message_fini(&m);
        }
        ops->idle(server, 0);
        mqtt_link_wait(mq, 200);
    }
    ops->idle(server, 1);
}
