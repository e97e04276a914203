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

/* Bump on any incompatible change to the structures below; the loader refuses a mismatch. */
#define KF_ADAPTER_ABI_VERSION 1

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

/* A kernel variant: payload bytes in, bytes or an error out. state is what init returned. */
typedef int (*kf_kernel_fn)(void *state, const void *payload, size_t len, struct kf_result *out);

/* Input features of one request (e.g. its size) for the tuner; fills at most max values and
 * returns how many it wrote, or a negative value when the payload cannot be decoded. */
typedef int (*kf_features_fn)(void *state, const void *payload, size_t len, double *features,
                              size_t max);

/* A broadcast handler: applies shared state on this worker. Returns KF_OK or KF_ERROR with a
 * message in err (the worker logs it; broadcasts have no reply). */
typedef int (*kf_broadcast_fn)(void *state, const void *payload, size_t len, char *err,
                               size_t errlen);

struct kf_kernel {
    const char *kind;        /* request kind, UTF-8, e.g. "monte-carlo" */
    kf_kernel_fn cpu;        /* required */
    kf_kernel_fn accel;      /* optional: accelerator variant; may return KF_UNAVAILABLE */
    kf_features_fn features; /* optional */
    const char *const *feature_names; /* optional: names of what features writes, NULL-ended */
};

struct kf_broadcast_handler {
    const char *kind; /* broadcast kind after the topic prefix, e.g. "load-profiles" */
    kf_broadcast_fn fn;
};

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
