/* What a worker rank needs to know to serve: the adapters to load and how to choose variants.
 * Filled by whoever starts the worker (src/kfarm/ from the command line), so the worker never
 * sees the program's options. */
#ifndef KF_WORKER_CONFIG_H
#define KF_WORKER_CONFIG_H

#include <stddef.h>

#include <kfarm/mqtt_security.h>

#define KF_MAX_ADAPTERS 8
#define KF_MAX_ADAPTER_ARGS 64

struct kf_adapter_spec {
    const char *name; /* built-in name or path to a .so */
    size_t n_args;
    const char *keys[KF_MAX_ADAPTER_ARGS];
    const char *values[KF_MAX_ADAPTER_ARGS];
};

struct kf_worker_config {
    size_t n_adapters;
    struct kf_adapter_spec adapters[KF_MAX_ADAPTERS];
    /* variant selection (variant.c) */
    int variant;                /* 0 auto (tuner), KF_VARIANT_CPU or KF_VARIANT_ACCEL */
    const char *tuner_file;     /* margot.json-shaped tuner configuration, or NULL */
    const char *knowledge_file; /* ops.json-shaped knowledge to start from, or NULL */
    const char *knowledge_save; /* where to save what was learned (%r = rank, %k = kind), or NULL */
    const char *mqtt;           /* broker URI, or NULL */
    struct kf_mqtt_security mqtt_security;
    const char *accel_bdf;  /* the accelerator VF; NULL: first of KFARM_VF_BDFS */
    const char *sysfs_root; /* where the VF is looked for; NULL: /sys */
    /* the gateway says shut down within its drain timeout; past it plus a margin, a worker
     * leaves on its own */
    double drain_timeout_s;
};

#endif
