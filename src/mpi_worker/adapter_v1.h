/* Adapters built for ABI version 1 (kernels take no knobs): the layout of their kernel table, and
 * the conversion that lets the worker serve them through the version 2 structures. */
#ifndef KF_ADAPTER_V1_H
#define KF_ADAPTER_V1_H

#include <stddef.h>

#include <kfarm/adapter.h>

/* struct kf_adapter did not change between versions 1 and 2; struct kf_kernel did. */
typedef int (*kf_kernel_v1_fn)(void *state, const void *payload, size_t len,
                               struct kf_result *out);

struct kf_kernel_v1 {
    const char *kind;
    kf_kernel_v1_fn cpu;
    kf_kernel_v1_fn accel;
    kf_features_fn features;
    const char *const *feature_names;
};

/* What a converted kernel's functions get as state: the v1 kernel and the adapter's state. */
struct kf_v1_shim {
    const struct kf_kernel_v1 *v1;
    void *state;
};

/* The kernels of v1 adapter a as version 2 kernels (no knobs, no batches) whose functions call
 * the v1 ones; shims[i] is the state to call kernels[i] with. Both arrays are malloc()ed (one per
 * kernel; NULL when the adapter has none) and freed by the caller. Returns 0 or -ENOMEM. */
int kf_adapter_v1_convert(const struct kf_adapter *a, void *state, struct kf_kernel **kernels,
                          struct kf_v1_shim **shims);

#endif
