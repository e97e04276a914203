/* kfarm-observer: watches the tuner's MQTT topics (mARGOt's Theo role) and writes resource hints
 * for admins or a scheduler — command line, connection and the message loop. */
#include "number_arg.h"
#include "observer.h"
#include "server_loop.h"
#include "clock.h"

#include <getopt.h>
#include <kfarm/mqtt_security.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* getopt values of the shared --mqtt-* security options */
#define OPT_MQTT_SECURITY 1000
#define P                 "kfarm-observer"

static void usage(FILE *f)
{
    fprintf(f, "usage: kfarm-observer --broker tcp://HOST:PORT|ssl://HOST:PORT --hints FILE "
               "[options]\n"
               "  --threshold X         relative drift of the objective that counts (default 0.3)\n"
               "  --samples M           consecutive drifting observations to relearn (default 5)\n"
               "  --knowledge-dir DIR   keep every knowledge version as DIR/<app>.v<N>.json\n"
               "  --client-id ID        MQTT client id (default kfarm-observer-<pid>)\n"
               "  --mqtt-username U        MQTT user name (with --mqtt-password-file)\n"
               "  --mqtt-password-file F   the password, first line of F (owner-only: chmod 600)\n"
               "  --mqtt-cafile F          CA(s) the broker's certificate must chain to (ssl://)\n"
               "  --mqtt-cert F            client certificate (PEM) for brokers that require one\n"
               "  --mqtt-key F             its private key (PEM)\n");
}

static double now_s(void)
{
    return (double)kf_now_ns() * 1e-9;
}

/* Fills o and sec from the command line: -1 to go on, else the exit status (0 after --help, 2
 * on a bad option). */
static int parse_args(int argc, char **argv, struct observer_opts *o, struct kf_mqtt_security *sec)
{
    static const struct option opts[] = {{"broker", required_argument, 0, 'b'},
                                         {"hints", required_argument, 0, 'o'},
                                         {"threshold", required_argument, 0, 't'},
                                         {"samples", required_argument, 0, 'm'},
                                         {"knowledge-dir", required_argument, 0, 'k'},
                                         {"client-id", required_argument, 0, 'i'},
                                         {"help", no_argument, 0, 'h'},
                                         KF_MQTT_SECURITY_LONG_OPTIONS(OPT_MQTT_SECURITY),
                                         {0, 0, 0, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            o->broker = optarg;
            break;
        case 'o':
            o->hints_path = optarg;
            break;
        case 't':
            if (tuner_arg_positive(P, "--threshold", optarg, 1e9, &o->threshold))
                return 2;
            break;
        case 'm':
            if (tuner_arg_size(P, "--samples", optarg, 1, 1000000, &o->samples))
                return 2;
            break;
        case 'k':
            o->knowledge_dir = optarg;
            break;
        case 'i':
            o->client_id = optarg;
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
    if (!o->broker || !o->hints_path || !(o->threshold > 0) || o->samples == 0) {
        usage(stderr);
        return 2;
    }
    return -1;
}

static void handle(void *server, const char *topic, const char *payload)
{
    observer_handle(server, topic, payload);
}

static void idle(void *server, int last)
{
    static double last_write;
    struct observer *ob = server;
    /* hints follow observations; twice a second is plenty for a resource manager */
    if (last || (ob->dirty && now_s() - last_write >= 0.5)) {
        observer_write_hints(ob);
        last_write = now_s();
    }
}

int main(int argc, char **argv)
{
    struct observer ob;
    memset(&ob, 0, sizeof(ob));
    ob.o.threshold = 0.3;
    ob.o.samples = 5;
    struct kf_mqtt_security sec = {0};
    int rc = parse_args(argc, argv, &ob.o, &sec);
    if (rc >= 0)
        return rc;
    const char *const topics[] = {"margot/+/welcome/+", "margot/+/observation/+", "margot/+/kia/+",
                                  "margot/+/prediction"};
    ob.mq = server_connect("kfarm-observer", ob.o.broker, &sec, ob.o.client_id, topics,
                           sizeof(topics) / sizeof(topics[0]), NULL, NULL);
    if (!ob.mq)
        return 1;
    static const struct server_loop_ops ops = {handle, idle};
    ob.dirty = 1;
    server_loop_run(ob.mq, "kfarm-observer", &ops, &ob);
    mqtt_link_free(ob.mq, NULL, NULL);
    observer_fini(&ob);
    return 0;
}
