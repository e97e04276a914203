/* Which variant of a kernel runs a request: the CPU one, or the accelerator one when the adapter
 * has it, the accelerator is there and the tuner (one selector per kind) says it pays. */
#ifndef KF_VARIANT_H
#define KF_VARIANT_H

#include <stdint.h>

#include "registry.h"
#include "wire.h"
#include "worker_config.h"

struct kf_variants;

struct kf_variant_run {
    int rc;               /* the kernel's return code */
    uint8_t variant;      /* KF_VARIANT_CPU or KF_VARIANT_ACCEL: what ran */
    uint8_t reason;       /* enum kf_variant_reason */
    uint8_t accel;        /* 1 when the accelerator was available for this decision */
    uint64_t service_ns;  /* a batch's time is shared equally among its requests */
    uint16_t batch;       /* requests in the call that served this one (0: a single call) */
};

struct kf_variants *kf_variants_new(const struct kf_worker_config *cfg, int rank);
/* Runs request payload with kernel k, choosing the variant; fills res like a kernel. */
void kf_variants_run(struct kf_variants *v, const struct kf_registry_kernel *k,
                     const void *payload, size_t len, struct kf_result *res,
                     struct kf_variant_run *out);
/* Runs items[0] and, when the kernel has a batch entry point and the tuner's batch knob allows,
 * more of the following items (same kind, same feature cluster) in one call; fills their rc and
 * result and out[i]. Never waits for requests: it batches only what it is given. Returns how
 * many items it ran (>= 1). */
size_t kf_variants_run_batch(struct kf_variants *v, const struct kf_registry_kernel *k,
                             struct kf_batch_item *items, size_t n, struct kf_variant_run *out);
/* Saves learned knowledge if --knowledge-save was given, then frees. */
void kf_variants_free(struct kf_variants *v);

#endif
