/* kfarm adapter ABI: what a kernel library exports so that kfarm workers can serve it.
 * Built-in adapters (echo, ptdr) and external .so adapters loaded by path use the same ABI. */
#ifndef KFARM_ADAPTER_H
#define KFARM_ADAPTER_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Bump on any incompatible change to the structures below. This kfarm loads adapters built for
 * version 2 (this header) and version 1 (kernels without knobs, work units or batches; they are
 * served as before); any other version is refused at load with a message. */
#define KF_ADAPTER_ABI_VERSION 2

/* An external adapter .so exports one object of type struct kf_adapter under this name. */
#define KF_ADAPTER_SYMBOL "kfarm_adapter"

/* Return codes of kernels and handlers. */
#define KF_OK           0
#define KF_ERROR        (-1) /* the request failed; the message in the result says why */
#define KF_UNAVAILABLE  (-2) /* accelerator variant only: no device now, run the CPU variant */

#define KF_ERROR_MAX 512

/* Output of one kernel call. The kernel sets data/len to a malloc()ed buffer that the worker
 * frees with free(), or leaves data NULL for an empty reply. On failure it fills error. */
struct kf_result {
    void *data;
    size_t len;
    char error[KF_ERROR_MAX];
};

/* key=value arguments given with --adapter-arg, in command-line order. */
struct kf_args {
    size_t count;
    const char *const *keys;
    const char *const *values;
};

/* ---- Knobs: parameters of a kernel that the tuner chooses per request ----
 *
 * A kernel declares its knobs; the tuner learns, per cluster of input features, which values
 * (together with the variant, cpu/accel) give the least time per work unit, and every call gets
 * the values chosen for that request. A knob must never change what a reply says, only how fast
 * it is computed (the tuner compares settings on the assumption that they all give the same
 * answer). The knob named "batch" (KF_KNOB_BATCH) also tells the worker how many queued requests
 * it may hand to a batch entry point at once (see kf_batch_fn). */
#define KF_KNOB_RANGE  1 /* integers min, min + step, ..., up to max (inclusive) */
#define KF_KNOB_LABELS 2 /* one of labels[]; the value passed is the label's index */

#define KF_KNOB_BATCH "batch"
#define KF_MAX_KNOBS 15 /* per kernel (the tuner adds its own knob, the variant) */

struct kf_knob {
    const char *name; /* [A-Za-z0-9_]+, unique within the kernel, not "variant" */
    int type;         /* KF_KNOB_RANGE or KF_KNOB_LABELS */
    long min, max, step;       /* range knobs: max >= min, step >= 1 */
    const char *const *labels; /* label knobs: NULL-ended, at least one label */
    long def; /* default: a value of the domain (label knobs: an index); used when no tuner
               * chooses (--variant cpu/accel, no margot.json) */
};

/* The values chosen for one call, one per declared knob in declaration order (count equals the
 * kernel's n_knobs; 0 for kernels without knobs). Never NULL. Valid during the call only. */
struct kf_knobs {
    size_t count;
    const long *values;
};

/* ---- Kernels ---- */

/* A kernel variant: payload bytes in, bytes or an error out. state is what init returned; knobs
 * the values chosen for this request. payload is valid during the call only. */
typedef int (*kf_kernel_fn)(void *state, const void *payload, size_t len,
                            const struct kf_knobs *knobs, struct kf_result *out);

/* Input features of one request (e.g. its size) for the tuner; fills at most max values and
 * returns how many it wrote, or a negative value when the payload cannot be decoded. */
typedef int (*kf_features_fn)(void *state, const void *payload, size_t len, double *features,
                              size_t max);

/* Work units of one request (> 0), e.g. routes x samples: the tuner's objective is time per
 * unit, so requests of different sizes in one feature cluster are compared fairly. features are
 * what features_fn returned for it (n values; n is 0 without features_fn). A value <= 0, or no
 * work_units function, counts the request as 1 unit. */
typedef double (*kf_work_units_fn)(void *state, const void *payload, size_t len,
                                   const double *features, size_t n);

/* One request of a batch: the kernel reads payload/len and sets rc (KF_OK or KF_ERROR) and
 * result exactly as a single-request call would. */
struct kf_batch_item {
    const void *payload;
    size_t len;
    int rc;
    struct kf_result result;
};

/* Batch entry point of a variant: runs n >= 1 queued requests of its kind at once (e.g. in one
 * accelerator launch) with one set of knob values, and answers each in items[i]. One bad request
 * fails alone: its item gets KF_ERROR, the others their replies. Returns KF_OK when every item
 * has its rc, or (accelerator variant only) KF_UNAVAILABLE when the device is gone and no item
 * was answered: the worker then runs each request with the CPU variant. A variant with a batch
 * entry point must also have the single-request one (the worker uses it for lone requests and
 * when batching is off). */
typedef int (*kf_batch_fn)(void *state, struct kf_batch_item *items, size_t n,
                           const struct kf_knobs *knobs);

/* Flags of a kernel. */
#define KF_KERNEL_RETRY_SAFE 0x1u /* running a request twice is harmless (no side effects): a
                                   * request lost with a vanished worker may be run again */

struct kf_kernel {
    const char *kind;        /* request kind, UTF-8, e.g. "monte-carlo" */
    kf_kernel_fn cpu;        /* required */
    kf_kernel_fn accel;      /* optional: accelerator variant; may return KF_UNAVAILABLE */
    kf_features_fn features; /* optional */
    const char *const *feature_names; /* optional: names of what features writes, NULL-ended */
    /* ABI 2 */
    const struct kf_knob *knobs; /* optional: n_knobs declarations */
    size_t n_knobs;
    kf_work_units_fn work_units; /* optional: 1 unit per request without it */
    kf_batch_fn cpu_batch;       /* optional: needs cpu */
    kf_batch_fn accel_batch;     /* optional: needs accel */
    unsigned flags;              /* KF_KERNEL_* */
};

/* A broadcast handler: applies shared state on this worker. Returns KF_OK or KF_ERROR with a
 * message in err (the worker logs it; broadcasts have no reply). */
typedef int (*kf_broadcast_fn)(void *state, const void *payload, size_t len, char *err,
                               size_t errlen);

struct kf_broadcast_handler {
    const char *kind; /* broadcast kind after the topic prefix, e.g. "load-profiles" */
    kf_broadcast_fn fn;
};

/* Threading contract (docs/adapters.md says more):
 * - a worker rank calls the functions of one adapter (kernels, batches, features, work_units,
 *   broadcast handlers, accel_available, init, fini) from one thread, one call at a time; ranks
 *   are separate processes with separate states;
 * - a kernel may run its own threads (OpenMP, a pool, a "threads" knob) inside a call, but all
 *   work that reads the payload or writes the result ends before the call returns; threads that
 *   outlive a call must not touch request memory and are stopped by fini;
 * - payloads and knobs are valid during the call only; result data is malloc()ed by the kernel
 *   and freed by the worker. */
struct kf_adapter {
    uint32_t abi_version; /* KF_ADAPTER_ABI_VERSION */
    const char *name;
    /* Optional. Sets *state; returns KF_OK, or KF_ERROR with a message in err. */
    int (*init)(void **state, const struct kf_args *args, char *err, size_t errlen);
    /* Optional. Releases what init made. */
    void (*fini)(void *state);
    const struct kf_kernel *kernels;
    size_t n_kernels;
    const struct kf_broadcast_handler *broadcasts;
    size_t n_broadcasts;
    /* Optional: 1 when the accelerator variants can run now, 0 otherwise. Called before each
     * tuning decision window, so it must be cheap. */
    int (*accel_available)(void *state);
};

/* Helpers for adapters. Inline so that an external .so needs nothing from kfarm at link time. */

/* Formats an error into out->error and returns KF_ERROR. */
static inline int kf_result_error(struct kf_result *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static inline int kf_result_error(struct kf_result *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->error, sizeof(out->error), fmt, ap);
    va_end(ap);
    return KF_ERROR;
}

/* Copies len bytes into a new malloc()ed output buffer; returns KF_OK or KF_ERROR. */
static inline int kf_result_set(struct kf_result *out, const void *data, size_t len)
{
    out->data = malloc(len ? len : 1);
    if (!out->data)
        return kf_result_error(out, "out of memory for a %zu-byte reply", len);
    if (len)
        memcpy(out->data, data, len);
    out->len = len;
    return KF_OK;
}

/* Value of knob i of this call, or fallback when the call has fewer knobs. */
static inline long kf_knob_get(const struct kf_knobs *knobs, size_t i, long fallback)
{
    return knobs && i < knobs->count ? knobs->values[i] : fallback;
}

/* The declared defaults of kernel k's knobs, for callers that run a kernel directly (tools,
 * tests): values must have room for KF_MAX_KNOBS. */
static inline struct kf_knobs kf_knobs_default(const struct kf_kernel *k, long *values)
{
    size_t n = k->n_knobs < KF_MAX_KNOBS ? k->n_knobs : KF_MAX_KNOBS;
    for (size_t i = 0; i < n; i++)
        values[i] = k->knobs[i].def;
    struct kf_knobs knobs = {n, values};
    return knobs;
}

/* Value of key in args, or NULL when absent (the last occurrence wins). */
static inline const char *kf_args_get(const struct kf_args *args, const char *key)
{
    const char *found = NULL;
    for (size_t i = 0; args && i < args->count; i++)
        if (strcmp(args->keys[i], key) == 0)
            found = args->values[i];
    return found;
}

#ifdef __cplusplus
}
#endif
#endif
