/* Test client for the MQTT integration tests: a worker-like loop driving a tuner_selector with
 * synthetic timings (CPU 1 us/unit; accelerator 50 us + 0.1 us/unit), reporting its state.
 *   selector_client --broker URI --status FILE [--accel-bdf BDF --node N] [--sizes 8,1000]
 *                   [--period-ms 2] [--duration S] [--mqtt-username U --mqtt-password-file F
 *                   --mqtt-cafile F --mqtt-cert F --mqtt-key F] (as kfarm's)
 * SIGUSR1 makes the CPU variant 5x slower (an injected environment change); SIGTERM stops. */
#include <kfarm/tuner.h>

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop, slow_cpu;

static void on_term(int s)
{
    (void)s;
    stop = 1;
}

static void on_usr1(int s)
{
    (void)s;
    slow_cpu = 1;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void write_status(const char *path, struct tuner_selector *s, const int *variant_by_size,
                         const double *sizes, size_t n_sizes, const char *reason)
{
    struct tuner_selector_stats st;
    tuner_selector_get_stats(s, &st);
    char tmp[1024];
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return;
    fprintf(f,
            "{\"client\":\"%s\",\"decisions\":%llu,\"predictions\":%llu,"
            "\"prediction_hash\":\"%016llx\",\"mqtt_connected\":%d,\"accel_available\":%d,"
            "\"reexplorations\":%llu,\"reason\":\"%s\",\"variant\":{",
            tuner_selector_client_id(s) ? tuner_selector_client_id(s) : "",
            (unsigned long long)st.decisions, (unsigned long long)st.predictions,
            (unsigned long long)st.prediction_hash, st.mqtt_connected, st.accel_available,
            (unsigned long long)st.reexplorations, reason);
    for (size_t i = 0; i < n_sizes; i++)
        fprintf(f, "%s\"%g\":\"%s\"", i ? "," : "", sizes[i],
                variant_by_size[i] < 0 ? "none"
                : variant_by_size[i]   ? "accel"
                                       : "cpu");
    fprintf(f, "}}\n");
    fclose(f);
    rename(tmp, path);
}

int main(int argc, char **argv)
{
    const char *broker = NULL, *status = NULL, *bdf = NULL, *node = NULL;
    double sizes[8] = {8, 1000};
    size_t n_sizes = 2;
    long period_ms = 2;
    double duration = 1e9;
    static const struct option opts[] = {{"broker", required_argument, 0, 'b'},
                                         {"status", required_argument, 0, 's'},
                                         {"accel-bdf", required_argument, 0, 'a'},
                                         {"node", required_argument, 0, 'n'},
                                         {"sizes", required_argument, 0, 'z'},
                                         {"period-ms", required_argument, 0, 'p'},
                                         {"duration", required_argument, 0, 'd'},
                                         KF_MQTT_SECURITY_LONG_OPTIONS(1000),
                                         {0, 0, 0, 0}};
    struct kf_mqtt_security sec = {0};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'b':
            broker = optarg;
            break;
        case 's':
            status = optarg;
            break;
        case 'a':
            bdf = optarg;
            break;
        case 'n':
            node = optarg;
            break;
        case 'p':
            period_ms = strtol(optarg, NULL, 10);
            break;
        case 'd':
            duration = strtod(optarg, NULL);
            break;
        case 'z': {
            n_sizes = 0;
            for (char *tok = strtok(optarg, ","); tok && n_sizes < 8; tok = strtok(NULL, ","))
                sizes[n_sizes++] = strtod(tok, NULL);
            break;
        }
        default:
            if (c >= 1000 && c < 1000 + KF_MQTT_OPT_COUNT) {
                kf_mqtt_security_set(&sec, c - 1000, optarg);
                break;
            }
            return 2;
        }
    }
    if (!status)
        return 2;
    signal(SIGTERM, on_term);
    signal(SIGINT, on_term);
    signal(SIGUSR1, on_usr1);
    static const char *const names[] = {"size"};
    char err[512];
    struct tuner_selector *s =
        tuner_selector_new("test", "mc", names, 1, 1, NULL, NULL, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "selector_client: %s\n", err);
        return 1;
    }
    if (broker && tuner_selector_set_mqtt(s, broker, &sec, node, bdf, err, sizeof(err)) < 0) {
        fprintf(stderr, "selector_client: %s\n", err);
        tuner_selector_free(s);
        return 1;
    }
    int variant_by_size[8];
    for (size_t i = 0; i < 8; i++)
        variant_by_size[i] = -1;
    unsigned noise = (unsigned)getpid();
    double start = now_s(), last_status = 0;
    const char *reason = "";
    for (unsigned long i = 0; !stop && now_s() - start < duration; i++) {
        size_t si = i % n_sizes;
        double size = sizes[si];
        struct tuner_choice ch;
        tuner_selector_choose(s, &size, 1, 1, &ch);
        noise = noise * 1103515245u + 12345u;
        double jitter = 1.0 + 0.04 * ((double)((noise >> 16) % 201) / 100.0 - 1.0);
        double t = ch.variant == TUNER_VARIANT_ACCEL ? 50e-6 + size * 0.1e-6
                                                     : size * 1e-6 * (slow_cpu ? 5.0 : 1.0);
        tuner_selector_observe(s, &ch, t * jitter, size);
        variant_by_size[si] = ch.variant;
        char why[512];
        if (tuner_selector_mqtt_error(s, why, sizeof(why)))
            fprintf(stderr, "selector_client: %s\n", why);
        reason = ch.reason_str;
        if (now_s() - last_status > 0.05) {
            write_status(status, s, variant_by_size, sizes, n_sizes, reason);
            last_status = now_s();
        }
        struct timespec ts = {0, period_ms * 1000000L};
        nanosleep(&ts, NULL);
    }
    write_status(status, s, variant_by_size, sizes, n_sizes, reason);
    tuner_selector_free(s);
    return 0;
}
