/* ptdr-run: answers ptdr requests (one JSON per line on stdin) locally through the adapter ABI,
 * one reply per line: the reference for end-to-end checks and a quick way to try the kernels. */
#include <kfarm/adapter.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ARGS 32

extern const struct kf_adapter kf_adapter_ptdr;

static void usage(FILE *f)
{
    const struct kf_adapter *a = &kf_adapter_ptdr;
    fprintf(f,
            "usage: ptdr-run [--kind KIND] [--variant cpu|accel] [key=value...] < requests.jsonl\n"
            "e.g.   ptdr-run profiles=map.bin seed=1 samples=1000 < routes.jsonl\n"
            "  --kind KIND        the kernel:");
    for (size_t i = 0; i < a->n_kernels; i++)
        fprintf(f, "%s %s", i ? "," : "", a->kernels[i].kind);
    fprintf(
        f,
        " (default monte-carlo)\n"
        "  --variant V        cpu or accel (OpenCL; the CPU answers when no device is there)\n"
        "  key=value          adapter arguments (profiles=FILE, seed=, samples=, ...), at most %d\n"
        "  -h, --help         this help;  --version  the version\n"
        "One reply per request line; a request that fails prints `error: MESSAGE` on its line.\n"
        "Exit status: 0 every request answered, 1 a request failed or the adapter did not\n"
        "start, 2 bad usage.\n",
        MAX_ARGS);
}

static const struct kf_kernel *find_kernel(const char *kind)
{
    const struct kf_adapter *a = &kf_adapter_ptdr;
    for (size_t i = 0; i < a->n_kernels; i++)
        if (strcmp(a->kernels[i].kind, kind) == 0)
            return &a->kernels[i];
    return NULL;
}

/* Answers every line of stdin; returns the number of requests that failed. */
static size_t answer_lines(void *state, const struct kf_kernel *k, int accel)
{
    char *line = NULL;
    size_t cap = 0, failed = 0;
    ssize_t len;
    while ((len = getline(&line, &cap, stdin)) > 0) {
        struct kf_result res;
        memset(&res, 0, sizeof(res));
        long knob_values[KF_MAX_KNOBS];
        struct kf_knobs knobs = kf_knobs_default(k, knob_values);
        int r = (accel ? k->accel : k->cpu)(state, line, (size_t)len, &knobs, &res);
        if (r == KF_UNAVAILABLE) {
            memset(&res, 0, sizeof(res));
            r = k->cpu(state, line, (size_t)len, &knobs, &res);
        }
        if (r == KF_OK) {
            printf("%.*s\n", (int)res.len, res.data ? (char *)res.data : "");
        } else {
            printf("error: %s\n", res.error);
            failed++;
        }
        free(res.data);
    }
    free(line);
    return failed;
}

int main(int argc, char **argv)
{
    enum { OPT_KIND = 256, OPT_VARIANT, OPT_VERSION };
    static const struct option longopts[] = {
        {"kind", required_argument, NULL, OPT_KIND},
        {"variant", required_argument, NULL, OPT_VARIANT},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    const char *kind = "monte-carlo", *keys[MAX_ARGS], *values[MAX_ARGS];
    char *kv[MAX_ARGS];
    int accel = 0, c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_KIND:
            kind = optarg;
            break;
        case OPT_VARIANT:
            if (strcmp(optarg, "cpu") && strcmp(optarg, "accel")) {
                fprintf(stderr, "ptdr-run: --variant %s: allowed values are cpu and accel\n",
                        optarg);
                return 2;
            }
            accel = strcmp(optarg, "accel") == 0;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case OPT_VERSION:
            printf("ptdr-run %s\n", KFARM_VERSION);
            return 0;
        default:
            fprintf(stderr, "ptdr-run: see ptdr-run --help\n");
            return 2;
        }
    }
    const struct kf_kernel *k = find_kernel(kind);
    if (!k) {
        fprintf(stderr, "ptdr-run: --kind %s: unknown; see ptdr-run --help for the kinds\n", kind);
        return 2;
    }
    if (argc - optind > MAX_ARGS) {
        fprintf(stderr, "ptdr-run: %d key=value arguments; at most %d\n", argc - optind, MAX_ARGS);
        return 2;
    }
    size_t n = 0;
    for (int i = optind; i < argc; i++) {
        if (!strchr(argv[i], '=') || argv[i][0] == '=') {
            fprintf(stderr, "ptdr-run: %s: adapter arguments are key=value\n", argv[i]);
            return 2;
        }
        kv[n] = argv[i];
        keys[n] = argv[i];
        values[n] = strchr(argv[i], '=') + 1;
        n++;
    }
    /* The adapter wants keys as separate strings: cut argv's copies at '=' (argv is ours). */
    for (size_t i = 0; i < n; i++)
        *strchr(kv[i], '=') = '\0';
    const struct kf_adapter *a = &kf_adapter_ptdr;
    struct kf_args args = {n, keys, values};
    void *state = NULL;
    char err[KF_ERROR_MAX];
    if (a->init(&state, &args, err, sizeof(err)) != KF_OK) {
        fprintf(stderr, "ptdr-run: %s\n", err);
        return 1;
    }
    if (accel && !a->accel_available(state))
        fprintf(stderr, "ptdr-run: accelerator unavailable, answering with the CPU variant\n");
    size_t failed = answer_lines(state, k, accel);
    a->fini(state);
    if (failed)
        fprintf(stderr, "ptdr-run: %zu requests failed (their lines say error:)\n", failed);
    return failed ? 1 : 0;
}
