/* Serving ABI version 1 adapters: their kernels are wrapped in version 2 kernels that ignore the
 * knobs, so the rest of the worker knows one ABI. */
#include <errno.h>
#include <stdlib.h>

#include "adapter_v1.h"

static const struct kf_kernel_v1 *v1_kernel(const struct kf_adapter *a, size_t i)
{
    return &((const struct kf_kernel_v1 *)(const void *)a->kernels)[i];
}

static int call_cpu(void *shim, const void *payload, size_t len, const struct kf_knobs *knobs,
                    struct kf_result *out)
{
    (void)knobs;
    const struct kf_v1_shim *s = shim;
    return s->v1->cpu(s->state, payload, len, out);
}

static int call_accel(void *shim, const void *payload, size_t len, const struct kf_knobs *knobs,
                      struct kf_result *out)
{
    (void)knobs;
    const struct kf_v1_shim *s = shim;
    return s->v1->accel(s->state, payload, len, out);
}

static int call_features(void *shim, const void *payload, size_t len, double *features, size_t max)
{
    const struct kf_v1_shim *s = shim;
    return s->v1->features(s->state, payload, len, features, max);
}

int kf_adapter_v1_convert(const struct kf_adapter *a, void *state, struct kf_kernel **kernels,
                          struct kf_v1_shim **shims)
{
    *kernels = NULL;
    *shims = NULL;
    if (a->n_kernels == 0)
        return 0;
    *kernels = calloc(a->n_kernels, sizeof(**kernels));
    *shims = calloc(a->n_kernels, sizeof(**shims));
    if (!*kernels || !*shims) {
        free(*kernels);
        free(*shims);
        *kernels = NULL;
        *shims = NULL;
        return -ENOMEM;
    }
    for (size_t i = 0; i < a->n_kernels; i++) {
        const struct kf_kernel_v1 *k = v1_kernel(a, i);
        (*shims)[i] = (struct kf_v1_shim){.v1 = k, .state = state};
        (*kernels)[i] = (struct kf_kernel){
            .kind = k->kind,
            .cpu = call_cpu,
            .accel = k->accel ? call_accel : NULL,
            .features = k->features ? call_features : NULL,
            .feature_names = k->feature_names,
        };
    }
    return 0;
}
