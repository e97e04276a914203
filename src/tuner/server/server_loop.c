/* server_loop_run: one loop for both MQTT servers, stopped by SIGINT/SIGTERM (see server_loop.h).
 */
#include "server_loop.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
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
