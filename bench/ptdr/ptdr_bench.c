/* ptdr benchmark: segment-samples per second per core of a plain scalar reference, the CPU
 * variant and the OpenCL variant, over route lengths and sample counts, side by side. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ptdr.h"
#include "ptdr_sample.h"

/* The CPU variant once more, compiled for the x86-64 baseline (SSE2) only: separates what the
 * lane structure gains from what AVX-512 adds. */
#define PTDR_NO_CLONES
#define ptdr_mc_cpu ptdr_mc_cpu_baseline
#include "mc_cpu.c"
#undef ptdr_mc_cpu

#define N_ROUTES    8
#define MIN_SECONDS 0.2
#define REPEATS     5 /* best of: other processes share the cores */

static double clock_s(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static double now(void)
{
    return clock_s(CLOCK_MONOTONIC);
}

/* The baseline: the obvious implementation, one sample at a time walking its route. Same
 * arithmetic as the variants (so its results are checked against them). */
static void scalar_reference(const struct ptdr_profiles *p, const struct ptdr_request *q,
                             float *times)
{
    for (uint32_t r = 0; r < q->n_routes; r++) {
        for (uint32_t s = 0; s < q->samples; s++) {
            uint64_t st = ptdr_stream(q->seed, r, s);
            float t = 0.0f;
            for (uint32_t i = q->route_off[r]; i < q->route_off[r + 1]; i++) {
                uint32_t seg = q->segs[i];
                uint32_t slot = ptdr_slot(q->dep_slot, q->dep_offset, t);
                const uint16_t *rel = p->slot_rel + (size_t)seg * PTDR_REL_STRIDE;
                uint32_t lo = p->seg_base[seg] + rel[slot], hi = p->seg_base[seg] + rel[slot + 1];
                float u = ptdr_uniform(st, i - q->route_off[r]);
                t += ptdr_seg_time(p->lv[seg], p->values[ptdr_pick_bin(p->cumprobs, lo, hi, u)]);
            }
            times[(size_t)r * q->samples + s] = t;
        }
    }
}

enum variant { SCALAR, BASELINE, CPU, ACCEL };

struct job {
    enum variant v;
    const struct ptdr_profiles *p;
    const struct ptdr_request *q;
    struct ptdr_cl *cl;
    float *times;
    long calls;
};

static void run_once(struct job *j)
{
    char err[512];
    if (j->v == SCALAR)
        scalar_reference(j->p, j->q, j->times);
    else if (j->v == BASELINE)
        ptdr_mc_cpu_baseline(j->p, j->q, 1, j->times);
    else if (j->v == CPU)
        ptdr_mc_cpu(j->p, j->q, 1, j->times);
    else if (ptdr_cl_run(j->cl, j->p, j->q, j->times, err, sizeof(err))) {
        fprintf(stderr, "accel: %s\n", err);
        exit(1);
    }
}

static void *worker(void *arg)
{
    struct job *j = arg;
    double t0 = now();
    j->calls = 0;
    do {
        run_once(j);
        j->calls++;
    } while (now() - t0 < MIN_SECONDS);
    return NULL;
}

/* Million segment-samples per second per core, per core-second of CPU time the process used
 * (all its threads, PoCL's included): other jobs sharing the node slow the wall clock, not this.
 * Host threads: the scalar and CPU variants run one request stream per core; the accelerator
 * gets one stream and uses the cores itself (PoCL). busy = CPU seconds / wall seconds. */
struct rate {
    double per_core, busy;
};

static struct rate measure_once(enum variant v, const struct ptdr_profiles *p,
                                const struct ptdr_request *q, struct ptdr_cl *cl, int cores)
{
    int threads = v == ACCEL ? 1 : cores;
    struct job jobs[8];
    pthread_t tid[8];
    size_t n = (size_t)q->n_routes * q->samples;
    for (int i = 0; i < threads; i++) {
        jobs[i] = (struct job){v, p, q, cl, malloc(n * sizeof(float)), 0};
        run_once(&jobs[i]); /* warm up (kernel compile, page faults) */
    }
    double t0 = now(), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    for (int i = 0; i < threads; i++)
        pthread_create(&tid[i], NULL, worker, &jobs[i]);
    long calls = 0;
    for (int i = 0; i < threads; i++) {
        pthread_join(tid[i], NULL);
        calls += jobs[i].calls;
        free(jobs[i].times);
    }
    double dt = now() - t0, dc = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    double seg_samples = (double)q->route_off[q->n_routes] * q->samples * calls;
    return (struct rate){seg_samples / dc / 1e6, dc / dt};
}

static struct rate measure(enum variant v, const struct ptdr_profiles *p,
                           const struct ptdr_request *q, struct ptdr_cl *cl, int cores)
{
    struct rate best = {0, 0};
    for (int i = 0; i < REPEATS; i++) {
        struct rate r = measure_once(v, p, q, cl, cores);
        if (r.per_core > best.per_core)
            best = r;
    }
    return best;
}

static char *make_request(const struct ptdr_profiles *p, uint32_t len, uint32_t salt)
{
    size_t cap = 64 + (size_t)N_ROUTES * len * 40, n = 0;
    char *b = malloc(cap);
    n += (size_t)snprintf(b + n, cap - n, "{\"routes\":[");
    uint64_t x = salt;
    for (int r = 0; r < N_ROUTES; r++) {
        n += (size_t)snprintf(b + n, cap - n, "%s[", r ? "," : "");
        for (uint32_t i = 0; i < len; i++) {
            x = ptdr_mix64(x + 1);
            n += (size_t)snprintf(b + n, cap - n, "%s\"%s\"", i ? "," : "",
                                  ptdr_profiles_id(p, (uint32_t)(x % p->n_seg)));
        }
        n += (size_t)snprintf(b + n, cap - n, "]");
    }
    /* Monday 07:45: rush hour, the widest profiles. */
    snprintf(b + n, cap - n, "],\"frequency\":60,\"departure_time\":27900000}");
    return b;
}

int main(int argc, char **argv)
{
    char err[1024];
    int cores = 1;
    if (argc < 2 || argc > 3 || (argc == 3 && (cores = atoi(argv[2])) < 1) || cores > 8) {
        fprintf(stderr, "usage: ptdr_bench PROFILES [CORES]\n");
        return 2;
    }
    /* PoCL sizes its thread pool from this when the first OpenCL call is made. */
    char nthreads[16];
    snprintf(nthreads, sizeof(nthreads), "%d", cores);
    setenv("POCL_MAX_PTHREAD_COUNT", nthreads, 1);
    struct ptdr_profiles *p;
    if (ptdr_profiles_load(argv[1], &p, err, sizeof(err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct ptdr_cl *cl = ptdr_cl_new(getenv("KFARM_OPENCL_DEVICE"), NULL, err, sizeof(err));
    if (cl && ptdr_cl_upload(cl, p, err, sizeof(err))) {
        ptdr_cl_free(cl);
        cl = NULL;
    }
    printf("profiles %s: %u segments, %llu bins; %d core(s); %d routes per request\n", argv[1],
           p->n_seg, (unsigned long long)p->n_bins, cores, N_ROUTES);
    printf("accelerator: %s\n", cl ? ptdr_cl_device_name(cl) : err);
    double load[3] = {0};
    FILE *la = fopen("/proc/loadavg", "r");
    if (la) {
        if (fscanf(la, "%lf %lf %lf", &load[0], &load[1], &load[2]) != 3)
            load[0] = -1;
        fclose(la);
    }
    printf("M segment-samples per core-second of CPU time (best of %d x %.1f s; load average "
           "before: %.2f)\n",
           REPEATS, MIN_SECONDS, load[0]);
    printf("%7s %7s | %9s %9s %9s %9s | %8s %8s %8s | %9s\n", "length", "samples", "scalar",
           "cpu-sse2", "cpu", "accel", "cpu/sc", "acc/sc", "acc/cpu", "busy c/a");
    static const uint32_t lengths[] = {10, 100, 1000}, samples[] = {100, 1000, 10000};
    for (size_t li = 0; li < 3; li++) {
        for (size_t si = 0; si < 3; si++) {
            char *payload = make_request(p, lengths[li], (uint32_t)(li * 3 + si));
            struct ptdr_request q;
            if (ptdr_request_parse(&q, payload, strlen(payload), p, samples[si], 0, 1, err,
                                   sizeof(err))) {
                fprintf(stderr, "%s\n", err);
                return 1;
            }
            /* The variants must agree with the reference before their speed means anything. */
            size_t n = (size_t)q.n_routes * q.samples;
            float *a = malloc(n * 4), *b = malloc(n * 4), *c = malloc(n * 4);
            scalar_reference(p, &q, a);
            ptdr_mc_cpu(p, &q, 1, b);
            int bad = memcmp(a, b, n * 4) != 0;
            ptdr_mc_cpu_baseline(p, &q, 1, b);
            if (bad || memcmp(a, b, n * 4) ||
                (cl && (ptdr_cl_run(cl, p, &q, c, err, sizeof(err)) || memcmp(a, c, n * 4)))) {
                fprintf(stderr, "variants disagree at length %u, samples %u\n", lengths[li],
                        samples[si]);
                return 1;
            }
            free(a);
            free(b);
            free(c);
            double sc = measure(SCALAR, p, &q, NULL, cores).per_core;
            double base = measure(BASELINE, p, &q, NULL, cores).per_core;
            struct rate cpu_r = measure(CPU, p, &q, NULL, cores);
            struct rate acc_r = cl ? measure(ACCEL, p, &q, cl, cores) : (struct rate){0, 0};
            double cpu = cpu_r.per_core, acc = acc_r.per_core;
            printf("%7u %7u | %9.1f %9.1f %9.1f %9.1f | %7.2fx %7.2fx %7.2fx | %4.1f %4.1f\n",
                   lengths[li], samples[si], sc, base, cpu, acc, cpu / sc, acc / sc, acc / cpu,
                   cpu_r.busy, acc_r.busy);
            fflush(stdout);
            ptdr_request_fini(&q);
            free(payload);
        }
    }
    ptdr_cl_free(cl);
    ptdr_profiles_free(p);
    return 0;
}
