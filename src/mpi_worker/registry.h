/* The kernels and broadcast handlers a worker serves, gathered from its loaded adapters
 * (built-in by name or external .so by path) and looked up by kind. */
#ifndef KF_REGISTRY_H
#define KF_REGISTRY_H

#include <stddef.h>

#include <kfarm/adapter.h>

struct kf_registry;

/* A kernel as the worker calls it. Adapters of ABI version 1 are served through converted
 * version 2 kernels (adapter_v1.h), so callers know one ABI. */
struct kf_registry_kernel {
    const struct kf_kernel *kernel;
    const struct kf_adapter *adapter;
    void *state;         /* first argument of the kernel's functions */
    void *adapter_state; /* first argument of the adapter's functions (accel_available) */
    long defaults[KF_MAX_KNOBS]; /* the declared default of each knob */
};

struct kf_registry_broadcast {
    const struct kf_broadcast_handler *handler;
    const struct kf_adapter *adapter;
    void *state;
};

struct kf_registry *kf_registry_new(void);
/* Loads an adapter by built-in name or .so path and runs its init with args.
 * Returns 0, or a negative errno with what failed and what to do in err: -ENOENT (no such
 * adapter or symbol), -EPROTO (ABI version), -EEXIST (a kind served twice), -E2BIG (too many),
 * -EINVAL (a bad table, or init failed). */
int kf_registry_load(struct kf_registry *r, const char *name_or_path, const struct kf_args *args,
                     char *err, size_t errlen);
const struct kf_registry_kernel *kf_registry_kernel(const struct kf_registry *r, const char *kind,
                                                    size_t kind_len);
const struct kf_registry_broadcast *kf_registry_broadcast(const struct kf_registry *r,
                                                          const char *kind, size_t kind_len);
/* The i-th kernel or broadcast handler in load order, NULL past the last (for $info). */
const struct kf_registry_kernel *kf_registry_kernel_at(const struct kf_registry *r, size_t i);
const struct kf_registry_broadcast *kf_registry_broadcast_at(const struct kf_registry *r, size_t i);
/* Comma-separated request kinds, for error messages. */
const char *kf_registry_kinds(const struct kf_registry *r);
/* Runs every adapter's fini and unloads external ones. */
void kf_registry_free(struct kf_registry *r);

#endif
