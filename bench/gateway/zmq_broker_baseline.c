/* Baseline for bench/gateway: the plain ZeroMQ broker kfarm's gateway is measured against.
 *   zmq_broker_baseline broker FRONT BACK   zmq_proxy between a DEALER bound at FRONT (the client
 *                                           connects) and a DEALER bound at BACK (workers connect)
 *   zmq_broker_baseline worker BACK         a no-op worker:
 *                                           [id, kind, payload] -> [id, "ok", payload]
 *   zmq_broker_baseline worker-bind EP      the same worker binding EP; the client connects
 *                                           straight to W of them (kfarm-client --connect A,B):
 *                                           no broker, the direct limit no broker can beat
 */
#include <stdio.h>
#include <string.h>
#include <zmq.h>

static int broker(const char *front, const char *back)
{
    void *ctx = zmq_ctx_new();
    void *f = zmq_socket(ctx, ZMQ_DEALER), *b = zmq_socket(ctx, ZMQ_DEALER);
    if (zmq_bind(f, front) || zmq_bind(b, back)) {
        fprintf(stderr, "baseline broker: bind: %s\n", zmq_strerror(zmq_errno()));
        return 1;
    }
    zmq_proxy(f, b, NULL); /* returns when the context is terminated (the process is killed) */
    return 0;
}

static int worker(const char *ep, int bind)
{
    void *ctx = zmq_ctx_new();
    void *s = zmq_socket(ctx, ZMQ_DEALER);
    if (bind ? zmq_bind(s, ep) : zmq_connect(s, ep)) {
        fprintf(stderr, "baseline worker: %s %s: %s\n", bind ? "bind" : "connect", ep,
                zmq_strerror(zmq_errno()));
        return 1;
    }
    for (;;) {
        zmq_msg_t parts[3];
        int n = 0, more = 1;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, s, 0) < 0)
                return 1;
            more = zmq_msg_more(&m);
            if (n < 3)
                parts[n++] = m;
            else
                zmq_msg_close(&m);
        }
        if (n != 3) {
            for (int i = 0; i < n; i++)
                zmq_msg_close(&parts[i]);
            continue;
        }
        zmq_msg_send(&parts[0], s, ZMQ_SNDMORE);
        zmq_send(s, "ok", 2, ZMQ_SNDMORE);
        zmq_msg_send(&parts[2], s, 0);
        zmq_msg_close(&parts[1]);
    }
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "broker") == 0)
        return broker(argv[2], argv[3]);
    if (argc == 3 && strcmp(argv[1], "worker") == 0)
        return worker(argv[2], 0);
    if (argc == 3 && strcmp(argv[1], "worker-bind") == 0)
        return worker(argv[2], 1);
    fprintf(stderr,
            "usage: zmq_broker_baseline broker FRONT BACK | worker BACK | worker-bind EP\n");
    return 2;
}
