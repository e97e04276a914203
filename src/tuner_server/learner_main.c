/* kfarm-learner: the MQTT knowledge learner (mARGOt's AGORA role) — command line, connection
 * and the message loop; the learning logic is in learner.c. */
#include "learner.h"
#include "number_arg.h"
#include "server_loop.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <kfarm/mqtt_security.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* getopt values of the shared --mqtt-* security options */
#define OPT_MQTT_SECURITY 1000
#define P                 "kfarm-learner"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kfarm-learner --broker tcp://HOST:PORT|ssl://HOST:PORT [options]\n"
            "  --state FILE          write apps, clients and progress as JSON on every change\n"
            "  --knowledge-dir DIR   write each app's knowledge to DIR/<app>.json\n"
            "  --observations N      observations per configuration (default: client's, else 5)\n"
            "  --max-full N          full factorial up to N configurations (default 64)\n"
            "  --samples N           random configurations beyond that (default 16)\n"
            "  --seed N              DoE random seed (default 1)\n"
            "  --client-id ID        MQTT client id (default kfarm-learner-<pid>)\n"
            "  --verbose             log every explore command\n"
            "  --mqtt-username U        MQTT user name (with --mqtt-password-file)\n"
            "  --mqtt-password-file F   the password, first line of F (owner-only: chmod 600)\n"
            "  --mqtt-cafile F          CA(s) the broker's certificate must chain to (ssl://)\n"
            "  --mqtt-cert F            client certificate (PEM) for brokers that require one\n"
            "  --mqtt-key F             its private key (PEM)\n");
}

static void on_connected(void *arg)
{
    (void)arg;
    fprintf(stderr, "kfarm-learner: connected\n");
}

/* Fills o and sec from the command line: -1 to go on, else the exit status (0 after --help, 2
 * on a bad option). */
static int parse_args(int argc, char **argv, struct learner_opts *o, struct kf_mqtt_security *sec)
{
    static const struct option opts[] = {{"broker", required_argument, 0, 'b'},
                                         {"state", required_argument, 0, 's'},
                                         {"knowledge-dir", required_argument, 0, 'k'},
                                         {"observations", required_argument, 0, 'n'},
                                         {"max-full", required_argument, 0, 'f'},
                                         {"samples", required_argument, 0, 'r'},
                                         {"seed", required_argument, 0, 'e'},
                                         {"client-id", required_argument, 0, 'i'},
                                         {"verbose", no_argument, 0, 'v'},
                                         {"help", no_argument, 0, 'h'},
                                         KF_MQTT_SECURITY_LONG_OPTIONS(OPT_MQTT_SECURITY),
                                         {0, 0, 0, 0}};
    size_t n;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            o->broker = optarg;
            break;
        case 's':
            o->state_path = optarg;
            break;
        case 'k':
            o->knowledge_dir = optarg;
            break;
        case 'n':
            if (tuner_arg_size(P, "--observations", optarg, 1, 1000000, &o->observations))
                return 2;
            break;
        case 'f':
            if (tuner_arg_size(P, "--max-full", optarg, 0, 1000000, &o->max_full))
                return 2;
            break;
        case 'r':
            if (tuner_arg_size(P, "--samples", optarg, 1, 1000000, &o->samples))
                return 2;
            break;
        case 'e':
            if (tuner_arg_size(P, "--seed", optarg, 0, UINT_MAX, &n))
                return 2;
            o->seed = (unsigned)n;
            break;
        case 'i':
            o->client_id = optarg;
            break;
        case 'v':
            o->verbose = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            if (c >= OPT_MQTT_SECURITY && c < OPT_MQTT_SECURITY + KF_MQTT_OPT_COUNT) {
                kf_mqtt_security_set(sec, c - OPT_MQTT_SECURITY, optarg);
                break;
            }
            usage(stderr);
            return 2;
        }
    }
    if (!o->broker || o->samples == 0) {
        usage(stderr);
        return 2;
    }
    return -1;
}

static void handle(void *server, const char *topic, const char *payload)
{
    learner_handle(server, topic, payload);
}

static void idle(void *server, int last)
{
    struct learner *l = server;
    if (l->dirty || last)
        learner_write_state(l);
}

int main(int argc, char **argv)
{
    struct learner l;
    memset(&l, 0, sizeof(l));
    l.o.max_full = 64;
    l.o.samples = 16;
    l.o.seed = 1;
    struct kf_mqtt_security sec = {0};
    int rc = parse_args(argc, argv, &l.o, &sec);
    if (rc >= 0)
        return rc;
    const char *const topics[] = {"margot/+/welcome/+", "margot/+/observation/+", "margot/+/kia/+",
                                  "margot/+/relearn"};
    l.mq = server_connect("kfarm-learner", l.o.broker, &sec, l.o.client_id, topics,
                          sizeof(topics) / sizeof(topics[0]), on_connected, &l);
    if (!l.mq)
        return 1;
    static const struct server_loop_ops ops = {handle, idle};
    l.dirty = 1;
    server_loop_run(l.mq, "kfarm-learner", &ops, &l);
    mqtt_link_free(l.mq, NULL, NULL);
    learner_fini(&l);
    return 0;
}
