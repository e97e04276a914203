/* ptdr-run: answers ptdr requests (one JSON per line on stdin) locally through the adapter ABI,
 * one reply per line: the reference for end-to-end checks and a quick way to try the kernels. */
#include <kfarm/adapter.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct kf_adapter kf_adapter_ptdr;

static void usage(FILE *f)
{
    fprintf(f, "usage: ptdr-run [--kind monte-carlo|ptdr-stats] [--variant cpu|accel]\n"
               "                [key=value adapter arguments...] < requests.jsonl\n"
               "e.g.   ptdr-run profiles=map.bin seed=1 samples=1000 < routes.jsonl\n");
}

int main(int argc, char **argv)
{
    const char *kind = "monte-carlo", *keys[32], *values[32];
    char *kv[32];
    int accel = 0;
    size_t n = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--kind") == 0 && i + 1 < argc) {
            kind = argv[++i];
        } else if (strcmp(argv[i], "--variant") == 0 && i + 1 < argc) {
            accel = strcmp(argv[++i], "accel") == 0;
        } else if (strchr(argv[i], '=') && n < 32) {
            kv[n] = strdup(argv[i]);
            char *eq = strchr(kv[n], '=');
            *eq = '\0';
            keys[n] = kv[n];
            values[n] = eq + 1;
            n++;
        } else {
            usage(stderr);
            return 2;
        }
    }
    const struct kf_adapter *a = &kf_adapter_ptdr;
    const struct kf_kernel *k = NULL;
    for (size_t i = 0; i < a->n_kernels; i++)
        if (strcmp(a->kernels[i].kind, kind) == 0)
            k = &a->kernels[i];
    if (!k) {
        fprintf(stderr, "ptdr-run: unknown kind %s\n", kind);
        return 2;
    }
    struct kf_args args = {n, keys, values};
    void *state = NULL;
    char err[KF_ERROR_MAX];
    int rc = 0;
    if (a->init(&state, &args, err, sizeof(err)) != KF_OK) {
        fprintf(stderr, "ptdr-run: %s\n", err);
        rc = 1;
        goto out;
    }
    if (accel && !a->accel_available(state))
        fprintf(stderr, "ptdr-run: accelerator unavailable, answering with the CPU variant\n");
    char *line = NULL;
    size_t cap = 0;
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
        if (r == KF_OK)
            printf("%.*s\n", (int)res.len, res.data ? (char *)res.data : "");
        else
            printf("error: %s\n", res.error);
        free(res.data);
    }
    free(line);
    a->fini(state);
out:
    for (size_t i = 0; i < n; i++)
        free(kv[i]);
    return rc;
}
