/* The ptdr adapter as kfarm sees it: init arguments, the monte-carlo and ptdr-stats kernels in
 * their CPU and accelerator variants, and the load-profiles broadcast that swaps profile sets. */
#include <kfarm/adapter.h>

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ptdr.h"

/* The kernels' knobs, in declaration order (struct kf_knobs values). */
enum { KNOB_THREADS, KNOB_BATCH };

/* A loaded profile set with the number of requests still using it: a reload swaps the current
 * set and the old one is freed by whoever drops the last reference. */
struct loaded {
    struct ptdr_profiles *p;
    unsigned refs;
};

struct ptdr_state {
    pthread_mutex_t lock;
    struct loaded *cur;
    uint64_t seed;
    uint32_t samples;
    struct ptdr_cl *cl;           /* NULL: no usable OpenCL device */
    char cl_status[KF_ERROR_MAX]; /* why the accelerator is unavailable; under lock */
};

static struct loaded *acquire(struct ptdr_state *st)
{
    pthread_mutex_lock(&st->lock);
    struct loaded *l = st->cur;
    if (l)
        l->refs++;
    pthread_mutex_unlock(&st->lock);
    return l;
}

static void release(struct ptdr_state *st, struct loaded *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&st->lock);
    unsigned left = --l->refs;
    pthread_mutex_unlock(&st->lock);
    if (left == 0) {
        ptdr_profiles_free(l->p);
        free(l);
    }
}

/* Loads path (and uploads it to the device); on success it becomes the current set. On any
 * error the previous set stays current. */
static int load_profiles(struct ptdr_state *st, const char *path, char *err, size_t errlen)
{
    struct ptdr_profiles *p = NULL;
    int rc = ptdr_profiles_load(path, &p, err, errlen);
    if (rc)
        return rc;
    if (st->cl) {
        char cerr[KF_ERROR_MAX];
        /* The CPU variant still serves when the upload fails; accel reports unavailable. */
        if (ptdr_cl_upload(st->cl, p, cerr, sizeof(cerr))) {
            pthread_mutex_lock(&st->lock);
            snprintf(st->cl_status, sizeof(st->cl_status), "%s", cerr);
            pthread_mutex_unlock(&st->lock);
        }
    }
    struct loaded *l = calloc(1, sizeof(*l));
    if (!l) {
        ptdr_profiles_free(p);
        snprintf(err, errlen, "%s: out of memory", path);
        return -ENOMEM;
    }
    l->p = p;
    l->refs = 1; /* the reference held by st->cur */
    pthread_mutex_lock(&st->lock);
    struct loaded *old = st->cur;
    st->cur = l;
    pthread_mutex_unlock(&st->lock);
    release(st, old);
    return 0;
}

static int parse_u64(const char *s, uint64_t *v)
{
    char *end;
    errno = 0;
    unsigned long long x = strtoull(s, &end, 0);
    if (errno || end == s || *end || s[0] == '-')
        return -1;
    *v = x;
    return 0;
}

static void ptdr_fini(void *state);

static int ptdr_init(void **state, const struct kf_args *args, char *err, size_t errlen)
{
    static const char *const known[] = {"profiles", "samples", "seed", "opencl_device",
                                        "opencl_binary"};
    for (size_t i = 0; args && i < args->count; i++) {
        size_t k = 0;
        while (k < sizeof(known) / sizeof(known[0]) && strcmp(args->keys[i], known[k]))
            k++;
        if (k == sizeof(known) / sizeof(known[0])) {
            snprintf(err, errlen,
                     "ptdr: unknown adapter argument \"%s\" (known: profiles, "
                     "samples, seed, opencl_device, opencl_binary)",
                     args->keys[i]);
            return KF_ERROR;
        }
    }
    struct ptdr_state *st = calloc(1, sizeof(*st));
    if (!st) {
        snprintf(err, errlen, "ptdr: out of memory");
        return KF_ERROR;
    }
    pthread_mutex_init(&st->lock, NULL);
    st->samples = 1000;
    const char *v;
    uint64_t x;
    if ((v = kf_args_get(args, "samples"))) {
        if (parse_u64(v, &x) || x < 1 || x > PTDR_MAX_SAMPLES) {
            snprintf(err, errlen, "ptdr: samples=%s must be an integer in 1..%u", v,
                     PTDR_MAX_SAMPLES);
            goto fail;
        }
        st->samples = (uint32_t)x;
    }
    if ((v = kf_args_get(args, "seed"))) {
        if (parse_u64(v, &x)) {
            snprintf(err, errlen, "ptdr: seed=%s must be an unsigned integer", v);
            goto fail;
        }
        st->seed = x;
    }
    const char *dev = kf_args_get(args, "opencl_device");
    if (!dev)
        dev = getenv("KFARM_OPENCL_DEVICE");
    st->cl =
        ptdr_cl_new(dev, kf_args_get(args, "opencl_binary"), st->cl_status, sizeof(st->cl_status));
    if ((v = kf_args_get(args, "profiles")) && load_profiles(st, v, err, errlen))
        goto fail;
    *state = st;
    return KF_OK;
fail:
    ptdr_fini(st);
    return KF_ERROR;
}

static void ptdr_fini(void *state)
{
    struct ptdr_state *st = state;
    if (!st)
        return;
    release(st, st->cur);
    ptdr_cl_free(st->cl); /* after the profiles: their device buffers belong to its context */
    pthread_mutex_destroy(&st->lock);
    free(st);
}

static int reply_stats(const float *times, const struct ptdr_request *q, struct kf_result *out)
{
    size_t cap = 128 + (size_t)q->n_routes * 160, n = 0;
    char *buf = malloc(cap);
    if (!buf)
        return kf_result_error(out, "out of memory for the reply");
    buf[n++] = '[';
    for (uint32_t r = 0; r < q->n_routes; r++) {
        struct ptdr_route_stats s;
        if (ptdr_route_stats(times + (size_t)r * q->samples, q->samples, &s)) {
            free(buf);
            return kf_result_error(out, "out of memory for statistics");
        }
        int w = snprintf(buf + n, cap - n,
                         "%s{\"mean\":%.10g,\"stddev\":%.10g,\"p05\":%.9g,\"p50\":%.9g,"
                         "\"p95\":%.9g}",
                         r ? "," : "", s.mean, s.stddev, s.p05, s.p50, s.p95);
        if (w < 0 || (size_t)w >= cap - n - 1) { /* cannot happen: 160 bytes fit any entry */
            free(buf);
            return kf_result_error(out, "internal error: reply buffer too small");
        }
        n += (size_t)w;
    }
    buf[n++] = ']';
    out->data = buf;
    out->len = n;
    return KF_OK;
}

/* The reply of a request from its sample times: the best route, or statistics per route. */
static int reply(const float *times, const struct ptdr_request *q, int stats, struct kf_result *out)
{
    if (stats)
        return reply_stats(times, q, out);
    char num[16];
    int n = snprintf(num, sizeof(num), "%" PRIu32, ptdr_best_route(times, q->n_routes, q->samples));
    return kf_result_set(out, num, (size_t)n);
}

static int run(struct ptdr_state *st, const void *payload, size_t len, const struct kf_knobs *knobs,
               struct kf_result *out, int accel, int stats)
{
    if (accel && !st->cl) {
        kf_result_error(out, "accelerator unavailable: %s", st->cl_status);
        return KF_UNAVAILABLE;
    }
    struct loaded *l = acquire(st);
    if (!l)
        return kf_result_error(out, "no profiles loaded: start the adapter with "
                                    "profiles=PATH or broadcast load-profiles");
    int rc = KF_ERROR;
    float *times = NULL;
    struct ptdr_request q;
    if (accel && !l->p->device) {
        pthread_mutex_lock(&st->lock);
        kf_result_error(out, "accelerator unavailable: profiles %s are not on the device (%s)",
                        l->p->path, st->cl_status);
        pthread_mutex_unlock(&st->lock);
        release(st, l);
        return KF_UNAVAILABLE;
    }
    if (ptdr_request_parse(&q, payload, len, l->p, st->samples, stats, st->seed, out->error,
                           sizeof(out->error))) {
        release(st, l);
        return KF_ERROR;
    }
    times = malloc((size_t)q.n_routes * q.samples * sizeof(*times));
    if (!times) {
        kf_result_error(out, "out of memory for %u x %u samples", q.n_routes, q.samples);
        goto out;
    }
    if (accel) {
        if (ptdr_cl_run(st->cl, l->p, &q, times, out->error, sizeof(out->error))) {
            rc = KF_UNAVAILABLE; /* a device failure: the CPU variant can still answer */
            goto out;
        }
    } else {
        ptdr_mc_cpu(l->p, &q, (unsigned)kf_knob_get(knobs, KNOB_THREADS, 1), times);
    }
    rc = reply(times, &q, stats, out);
out:
    free(times);
    ptdr_request_fini(&q);
    release(st, l);
    return rc;
}

/* Parsed requests of a batch that share one launch (the others failed to parse). */
struct batch {
    struct ptdr_request q[PTDR_MAX_BATCH + 1]; /* + the one that did not fit */
    const struct ptdr_request *qp[PTDR_MAX_BATCH];
    size_t item[PTDR_MAX_BATCH]; /* index in items of qp[k] */
    size_t n, work;
};

/* Runs the parsed requests of b in one launch and answers their items. Returns KF_OK, or
 * KF_UNAVAILABLE when the device failed (no item of b answered). */
static int launch(struct ptdr_state *st, const struct ptdr_profiles *p, struct batch *b,
                  struct kf_batch_item *items, int stats)
{
    if (b->n == 0)
        return KF_OK;
    float *times = malloc(b->work * sizeof(*times));
    if (!times) {
        for (size_t k = 0; k < b->n; k++)
            items[b->item[k]].rc = kf_result_error(&items[b->item[k]].result,
                                                   "out of memory for %zu samples", b->work);
        return KF_OK;
    }
    char err[KF_ERROR_MAX];
    if (ptdr_cl_run_batch(st->cl, p, b->qp, b->n, times, err, sizeof(err))) {
        free(times);
        pthread_mutex_lock(&st->lock);
        snprintf(st->cl_status, sizeof(st->cl_status), "%s", err);
        pthread_mutex_unlock(&st->lock);
        return KF_UNAVAILABLE;
    }
    size_t off = 0;
    for (size_t k = 0; k < b->n; k++) {
        struct kf_batch_item *it = &items[b->item[k]];
        it->rc = reply(times + off, b->qp[k], stats, &it->result);
        off += (size_t)b->qp[k]->n_routes * b->qp[k]->samples;
    }
    free(times);
    return KF_OK;
}

/* Accelerator batch: requests that parse go to the device together, in launches of at most
 * PTDR_MAX_WORK samples; a request that does not parse fails alone. */
static int run_batch(struct ptdr_state *st, struct kf_batch_item *items, size_t n, int stats)
{
    if (!st->cl)
        return KF_UNAVAILABLE;
    struct loaded *l = acquire(st);
    if (!l) {
        for (size_t i = 0; i < n; i++)
            items[i].rc =
                kf_result_error(&items[i].result, "no profiles loaded: start the adapter with "
                                                  "profiles=PATH or broadcast load-profiles");
        return KF_OK;
    }
    if (!l->p->device) {
        release(st, l);
        return KF_UNAVAILABLE;
    }
    struct batch *b = calloc(1, sizeof(*b));
    int rc = KF_OK;
    for (size_t i = 0; i < n && rc == KF_OK; i++) {
        struct kf_batch_item *it = &items[i];
        if (!b) {
            it->rc = kf_result_error(&it->result, "out of memory for a batch");
            continue;
        }
        struct ptdr_request *q = &b->q[b->n];
        if (ptdr_request_parse(q, it->payload, it->len, l->p, st->samples, stats, st->seed,
                               it->result.error, sizeof(it->result.error))) {
            it->rc = KF_ERROR;
            continue;
        }
        size_t work = (size_t)q->n_routes * q->samples;
        if (b->n == PTDR_MAX_BATCH || b->work + work > PTDR_MAX_WORK) {
            rc = launch(st, l->p, b, items, stats); /* full: this one starts the next launch */
            for (size_t k = 0; k < b->n; k++)
                ptdr_request_fini(&b->q[k]);
            b->q[0] = *q;
            b->n = b->work = 0;
            q = &b->q[0];
        }
        b->qp[b->n] = q;
        b->item[b->n++] = i;
        b->work += work;
    }
    if (b && rc == KF_OK)
        rc = launch(st, l->p, b, items, stats);
    for (size_t k = 0; b && k < b->n; k++)
        ptdr_request_fini(&b->q[k]);
    free(b);
    release(st, l);
    if (rc == KF_UNAVAILABLE) /* nothing answered: the worker runs them all on the CPU */
        for (size_t i = 0; i < n; i++) {
            free(items[i].result.data);
            memset(&items[i].result, 0, sizeof(items[i].result));
            items[i].rc = KF_OK;
        }
    return rc;
}

static int mc_accel_batch(void *state, struct kf_batch_item *items, size_t n,
                          const struct kf_knobs *knobs)
{
    (void)knobs; /* the worker sized the batch by the batch knob */
    return run_batch(state, items, n, 0);
}

static int stats_accel_batch(void *state, struct kf_batch_item *items, size_t n,
                             const struct kf_knobs *knobs)
{
    (void)knobs;
    return run_batch(state, items, n, 1);
}

static int mc_cpu(void *state, const void *payload, size_t len, const struct kf_knobs *knobs,
                  struct kf_result *out)
{
    return run(state, payload, len, knobs, out, 0, 0);
}

static int mc_accel(void *state, const void *payload, size_t len, const struct kf_knobs *knobs,
                    struct kf_result *out)
{
    return run(state, payload, len, knobs, out, 1, 0);
}

static int stats_cpu(void *state, const void *payload, size_t len, const struct kf_knobs *knobs,
                     struct kf_result *out)
{
    return run(state, payload, len, knobs, out, 0, 1);
}

static int stats_accel(void *state, const void *payload, size_t len, const struct kf_knobs *knobs,
                       struct kf_result *out)
{
    return run(state, payload, len, knobs, out, 1, 1);
}

static int mc_features(void *state, const void *payload, size_t len, double *f, size_t max)
{
    return ptdr_request_features(payload, len, ((struct ptdr_state *)state)->samples, 0, f, max);
}

static int stats_features(void *state, const void *payload, size_t len, double *f, size_t max)
{
    return ptdr_request_features(payload, len, ((struct ptdr_state *)state)->samples, 1, f, max);
}

static int on_load_profiles(void *state, const void *payload, size_t len, char *err, size_t errlen)
{
    cJSON *j = cJSON_ParseWithLength(payload, len);
    int rc = KF_ERROR;
    if (!cJSON_IsString(j) || !j->valuestring[0])
        snprintf(err, errlen,
                 "load-profiles: payload must be a JSON string with the path of a "
                 "profile file; keeping the current profiles");
    else if (load_profiles(state, j->valuestring, err, errlen) == 0)
        rc = KF_OK;
    else
        strncat(err, "; keeping the current profiles", errlen - strlen(err) - 1);
    cJSON_Delete(j);
    return rc;
}

static int ptdr_accel_available(void *state)
{
    struct ptdr_state *st = state;
    if (!st->cl)
        return 0;
    pthread_mutex_lock(&st->lock);
    int ok = st->cur && st->cur->p->device;
    pthread_mutex_unlock(&st->lock);
    return ok;
}

/* The work of a request is one segment traversal per sample: segments x samples. */
static double work_units(void *state, const void *payload, size_t len, const double *f, size_t n)
{
    (void)state;
    (void)payload;
    (void)len;
    return n == 3 ? f[1] * f[2] : 0;
}

static const char *const feature_names[] = {"routes", "segments", "samples", NULL};

/* threads: CPU threads per request (the CPU variant); batch: requests per OpenCL launch (the
 * accelerator variant). Neither changes a reply (test_ptdr_variants). */
static const struct kf_knob knobs[] = {
    [KNOB_THREADS] = {.name = "threads",
                      .type = KF_KNOB_RANGE,
                      .min = 1,
                      .max = PTDR_MAX_THREADS,
                      .step = 1,
                      .def = 1},
    [KNOB_BATCH] = {.name = KF_KNOB_BATCH,
                    .type = KF_KNOB_RANGE,
                    .min = 1,
                    .max = PTDR_MAX_BATCH,
                    .step = PTDR_BATCH_STEP,
                    .def = 1},
};

static const struct kf_kernel kernels[] = {
    {.kind = "monte-carlo",
     .cpu = mc_cpu,
     .accel = mc_accel,
     .features = mc_features,
     .feature_names = feature_names,
     .knobs = knobs,
     .n_knobs = 2,
     .work_units = work_units,
     .accel_batch = mc_accel_batch,
     .flags = KF_KERNEL_RETRY_SAFE},
    {.kind = "ptdr-stats",
     .cpu = stats_cpu,
     .accel = stats_accel,
     .features = stats_features,
     .feature_names = feature_names,
     .knobs = knobs,
     .n_knobs = 2,
     .work_units = work_units,
     .accel_batch = stats_accel_batch,
     .flags = KF_KERNEL_RETRY_SAFE},
};

static const struct kf_broadcast_handler broadcasts[] = {
    {"load-profiles", on_load_profiles},
};

const struct kf_adapter kf_adapter_ptdr = {
    .abi_version = KF_ADAPTER_ABI_VERSION,
    .name = "ptdr",
    .init = ptdr_init,
    .fini = ptdr_fini,
    .kernels = kernels,
    .n_kernels = sizeof(kernels) / sizeof(kernels[0]),
    .broadcasts = broadcasts,
    .n_broadcasts = sizeof(broadcasts) / sizeof(broadcasts[0]),
    .accel_available = ptdr_accel_available,
};

#ifdef PTDR_MODULE
/* ptdr.so: the same adapter under the name the loader looks up (KF_ADAPTER_SYMBOL). */
extern const struct kf_adapter kfarm_adapter
    __attribute__((alias("kf_adapter_ptdr"), visibility("default")));
#endif
