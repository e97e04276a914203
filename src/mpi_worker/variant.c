/* Variant selection in the worker: a tuner selector per kernel kind (created on first use), fed
 * with the adapter's features, the accelerator's availability and the measured time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <kfarm/tuner.h>

#include "log.h"
#include "variant.h"
#include "wire.h"

#define MAX_KINDS 64
#define MAX_FEATURES 16
/* How often the accelerator's presence (VF in sysfs, device in the adapter) is checked. */
#define ACCEL_CHECK_NS 100000000u

struct kind_selector {
    const struct kf_kernel *kernel;
    struct tuner_selector *sel; /* NULL when creating it failed: CPU only */
    size_t n_features;
    int chose; /* asked for choices (not only listening to MQTT under --variant accel) */
};

struct kf_variants {
    const struct kf_options *opts;
    int rank;
    struct kind_selector kinds[MAX_KINDS];
    size_t n_kinds;
    const char *vf_bdf;  /* first of KFARM_VF_BDFS, or --accel-bdf */
    char vf_bdf_buf[64];
    int spank_says_no;   /* KFARM_ACCEL=0 from the SPANK plugin */
    uint64_t accel_checked_at;
    int vf_present;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct kf_variants *kf_variants_new(const struct kf_options *opts, int rank)
{
    struct kf_variants *v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    v->opts = opts;
    v->rank = rank;
    const char *bdfs = getenv("KFARM_VF_BDFS");
    if (opts->accel_bdf) {
        v->vf_bdf = opts->accel_bdf;
    } else if (bdfs && *bdfs) {
        snprintf(v->vf_bdf_buf, sizeof(v->vf_bdf_buf), "%.*s", (int)strcspn(bdfs, ","), bdfs);
        v->vf_bdf = v->vf_bdf_buf;
    }
    const char *accel = getenv("KFARM_ACCEL");
    v->spank_says_no = accel && strcmp(accel, "0") == 0;
    if (v->spank_says_no) {
        const char *why = getenv("KFARM_ACCEL_REASON");
        kf_info("no accelerator for this job (KFARM_ACCEL=0%s%s): CPU variants only",
                why ? ": " : "", why ? why : "");
    } else if (v->vf_bdf) {
        kf_info("accelerator VF %s (KFARM_VF_BDFS=%s)", v->vf_bdf, bdfs ? bdfs : "");
    }
    return v;
}

/* The VF is still attached to this node (it disappears from sysfs when ESFM detaches it). */
static int vf_present(struct kf_variants *v)
{
    if (!v->vf_bdf)
        return 1;
    uint64_t t = now_ns();
    if (t - v->accel_checked_at > ACCEL_CHECK_NS) {
        char path[256];
        struct stat st;
        snprintf(path, sizeof(path), "%s/bus/pci/devices/%s",
                 v->opts->sysfs_root ? v->opts->sysfs_root : "/sys", v->vf_bdf);
        v->vf_present = stat(path, &st) == 0;
        v->accel_checked_at = t;
    }
    return v->vf_present;
}

static int accel_available(struct kf_variants *v, const struct kf_registry_kernel *k)
{
    if (v->spank_says_no || !vf_present(v))
        return 0;
    return k->adapter->accel_available ? k->adapter->accel_available(k->adapter_state) != 0 : 1;
}

static struct kind_selector *selector_for(struct kf_variants *v, const struct kf_kernel *kernel)
{
    for (size_t i = 0; i < v->n_kinds; i++)
        if (v->kinds[i].kernel == kernel)
            return &v->kinds[i];
    if (v->n_kinds == MAX_KINDS)
        return NULL;
    struct kind_selector *ks = &v->kinds[v->n_kinds++];
    ks->kernel = kernel;
    size_t n = 0;
    while (kernel->features && kernel->feature_names && kernel->feature_names[n] &&
           n < MAX_FEATURES)
        n++;
    ks->n_features = n;
    char err[512] = "";
    ks->sel = tuner_selector_new("kfarm", kernel->kind, kernel->feature_names, n, 1,
                                 v->opts->tuner_file, v->opts->knowledge_file, err, sizeof(err));
    if (!ks->sel) {
        kf_error("tuner for kind '%s': %s; serving it with the CPU variant", kernel->kind, err);
        return ks;
    }
    if (v->opts->mqtt && tuner_selector_set_mqtt(ks->sel, v->opts->mqtt, &v->opts->mqtt_security,
                                                 NULL, v->vf_bdf, err, sizeof(err)))
        kf_warn("tuner for kind '%s': MQTT %s: %s; learning locally", kernel->kind, v->opts->mqtt,
                err);
    return ks;
}

/* A refused user or a failed TLS handshake would otherwise only show as learning that never
 * starts: log each new reason once (the link retries every second). */
static void log_mqtt_error(struct kind_selector *ks)
{
    char why[512];
    if (ks && ks->sel && tuner_selector_mqtt_error(ks->sel, why, sizeof(why)))
        kf_warn("tuner for kind '%s': %s; retrying, learning locally meanwhile", ks->kernel->kind,
                why);
}

static int run_variant(const struct kf_registry_kernel *k, int variant, const void *payload,
                       size_t len, struct kf_result *res, uint64_t *ns)
{
    /* The declared defaults until the tuner's knob choices are wired in. */
    struct kf_knobs knobs = {.count = k->kernel->n_knobs, .values = k->defaults};
    uint64_t t0 = now_ns();
    int rc = (variant == KF_VARIANT_ACCEL ? k->kernel->accel : k->kernel->cpu)(k->state, payload,
                                                                               len, &knobs, res);
    *ns = now_ns() - t0;
    return rc;
}

void kf_variants_run(struct kf_variants *v, const struct kf_registry_kernel *k,
                     const void *payload, size_t len, struct kf_result *res,
                     struct kf_variant_run *out)
{
    const struct kf_kernel *kernel = k->kernel;
    memset(out, 0, sizeof(*out));
    out->variant = KF_VARIANT_CPU;
    if (!kernel->accel || v->opts->variant == KF_VARIANT_CPU) {
        out->reason = kernel->accel ? KF_REASON_FIXED : KF_REASON_CPU_ONLY;
        out->rc = run_variant(k, KF_VARIANT_CPU, payload, len, res, &out->service_ns);
        return;
    }
    out->accel = (uint8_t)accel_available(v, k);
    if (v->opts->variant == KF_VARIANT_ACCEL) {
        /* Fixed accelerator, but a device ESFM paused or detached (heard over MQTT) is not used:
         * the kind's selector only listens here, its choice is not asked for. */
        struct kind_selector *ks = out->accel && v->opts->mqtt ? selector_for(v, kernel) : NULL;
        if (ks && ks->sel && tuner_selector_accel_heard(ks->sel) == 0)
            out->accel = 0;
        log_mqtt_error(ks);
        out->reason = out->accel ? KF_REASON_FIXED : KF_REASON_FALLBACK;
        out->variant = out->accel ? KF_VARIANT_ACCEL : KF_VARIANT_CPU;
        out->rc = run_variant(k, out->variant, payload, len, res, &out->service_ns);
        if (out->rc == KF_UNAVAILABLE) {
            memset(res, 0, sizeof(*res));
            out->variant = KF_VARIANT_CPU;
            out->reason = KF_REASON_FALLBACK;
            out->rc = run_variant(k, KF_VARIANT_CPU, payload, len, res, &out->service_ns);
        }
        return;
    }

    struct kind_selector *ks = selector_for(v, kernel);
    double features[MAX_FEATURES] = {0};
    int nf = ks && ks->n_features ? kernel->features(k->state, payload, len, features,
                                                     ks->n_features)
                                  : 0;
    if (!ks || !ks->sel || nf < 0 || (size_t)nf != ks->n_features) {
        /* No tuner, or a payload the adapter cannot read: the CPU variant says what is wrong. */
        out->reason = KF_REASON_FALLBACK;
        out->rc = run_variant(k, KF_VARIANT_CPU, payload, len, res, &out->service_ns);
        return;
    }
    struct tuner_choice c;
    struct tuner_selector_stats st;
    tuner_selector_choose(ks->sel, features, ks->n_features, out->accel, &c);
    ks->chose = 1;
    log_mqtt_error(ks);
    tuner_selector_get_stats(ks->sel, &st);
    out->accel = (uint8_t)st.accel_available; /* also what MQTT said (paused, detached) */
    int variant = c.variant == TUNER_VARIANT_ACCEL ? KF_VARIANT_ACCEL : KF_VARIANT_CPU;
    out->rc = run_variant(k, variant, payload, len, res, &out->service_ns);
    if (out->rc == KF_UNAVAILABLE) {
        /* The device went away between the check and the run: decide again without it. */
        kf_info("kind '%s': accelerator unavailable (%s); CPU variant", kernel->kind, res->error);
        memset(res, 0, sizeof(*res));
        out->accel = 0;
        v->accel_checked_at = 0;
        tuner_selector_choose(ks->sel, features, ks->n_features, 0, &c);
        variant = KF_VARIANT_CPU;
        out->rc = run_variant(k, variant, payload, len, res, &out->service_ns);
    }
    out->variant = (uint8_t)variant;
    out->reason = c.reason == TUNER_REASON_CALIBRATING ? KF_REASON_CALIBRATING
                  : c.reason == TUNER_REASON_EXPLOITING ? KF_REASON_EXPLOITING
                                                        : KF_REASON_FALLBACK;
    /* Failed requests say nothing about a variant's speed. Work units: the selector compares
     * variants within a feature cluster, where requests are of similar size, so time per request
     * ranks them as time per unit would. */
    if (out->rc == KF_OK)
        tuner_selector_observe(ks->sel, &c, (double)out->service_ns / 1e9, 1.0);
}

/* --knowledge-save PATH: %r is the rank and %k the kind, so that ranks and kinds do not
 * overwrite each other's knowledge. */
static void expand_path(char *out, size_t outlen, const char *tmpl, int rank, const char *kind)
{
    size_t n = 0;
    for (const char *p = tmpl; *p && n + 1 < outlen; p++) {
        if (p[0] == '%' && p[1] == 'r') {
            n += (size_t)snprintf(out + n, outlen - n, "%d", rank);
            p++;
        } else if (p[0] == '%' && p[1] == 'k') {
            n += (size_t)snprintf(out + n, outlen - n, "%s", kind);
            p++;
        } else {
            out[n++] = *p;
        }
        if (n >= outlen)
            n = outlen - 1;
    }
    out[n] = '\0';
}

void kf_variants_free(struct kf_variants *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n_kinds; i++) {
        struct kind_selector *ks = &v->kinds[i];
        if (!ks->sel)
            continue;
        if (v->opts->knowledge_save && ks->chose) { /* nothing learned: keep the old file */
            char path[4096], err[512];
            expand_path(path, sizeof(path), v->opts->knowledge_save, v->rank, ks->kernel->kind);
            if (tuner_selector_save(ks->sel, path, err, sizeof(err)))
                kf_warn("saving knowledge for '%s' to %s: %s", ks->kernel->kind, path, err);
            else
                kf_info("saved knowledge for '%s' to %s", ks->kernel->kind, path);
        }
        tuner_selector_free(ks->sel);
    }
    free(v);
}
