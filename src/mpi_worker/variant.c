/* Variant selection in the worker: a tuner selector per kernel kind (created on first use), fed
 * with the adapter's features, the accelerator's availability and the measured time. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <kfarm/tuner.h>

#include "clock.h"
#include "log.h"
#include "variant.h"
#include "wire.h"

#define MAX_KINDS    64
#define MAX_FEATURES 16
/* How often the accelerator's presence (VF in sysfs, device in the adapter) is checked. */
#define ACCEL_CHECK_NS 100000000u

struct kind_selector {
    const struct kf_kernel *kernel;
    struct tuner_selector *sel; /* NULL when creating it failed: CPU only */
    size_t n_features;
    int chose; /* asked for choices (not only listening to MQTT under --variant accel) */
    /* kernel knob j takes the choice's knob knob_from[j]; -1: the declared default */
    int knob_from[KF_MAX_KNOBS];
};

struct kf_variants {
    const struct kf_worker_config *cfg;
    int rank;
    struct kind_selector kinds[MAX_KINDS];
    size_t n_kinds;
    const char *vf_bdf; /* first of KFARM_VF_BDFS, or --accel-bdf */
    char vf_bdf_buf[64];
    int spank_says_no; /* KFARM_ACCEL=0 from the SPANK plugin */
    uint64_t accel_checked_at;
    int vf_present;
};

struct kf_variants *kf_variants_new(const struct kf_worker_config *cfg, int rank)
{
    struct kf_variants *v = calloc(1, sizeof(*v));
    if (!v)
        return NULL;
    v->cfg = cfg;
    v->rank = rank;
    const char *bdfs = getenv("KFARM_VF_BDFS");
    if (cfg->accel_bdf) {
        v->vf_bdf = cfg->accel_bdf;
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
    uint64_t t = kf_now_ns();
    if (t - v->accel_checked_at > ACCEL_CHECK_NS) {
        char path[256];
        struct stat st;
        snprintf(path, sizeof(path), "%s/bus/pci/devices/%s",
                 v->cfg->sysfs_root ? v->cfg->sysfs_root : "/sys", v->vf_bdf);
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

/* Which of the selector's knobs feeds each kernel knob (they are matched by name); knobs only
 * margot.json declares are tuned, but the kernel never sees them: say so once. */
static void map_knobs(struct kind_selector *ks)
{
    const struct kf_kernel *kernel = ks->kernel;
    for (size_t j = 0; j < KF_MAX_KNOBS; j++)
        ks->knob_from[j] = -1;
    const char *name;
    for (size_t i = 0; (name = tuner_selector_knob_name(ks->sel, i)); i++) {
        size_t j = 0;
        while (j < kernel->n_knobs && strcmp(kernel->knobs[j].name, name))
            j++;
        if (j < kernel->n_knobs && j < KF_MAX_KNOBS)
            ks->knob_from[j] = (int)i;
        else
            kf_warn("tuner for kind '%s': knob '%s' of the tuner configuration is not declared "
                    "by the kernel; it is tuned but the kernel never sees it",
                    kernel->kind, name);
    }
}

/* The knob values of a choice for the kernel (declared defaults where the tuner has none). */
static void choice_knobs(const struct kind_selector *ks, const struct tuner_choice *c,
                         const struct kf_registry_kernel *k, long *values)
{
    for (size_t j = 0; j < k->kernel->n_knobs && j < KF_MAX_KNOBS; j++) {
        int i = ks->knob_from[j];
        values[j] = i >= 0 && (size_t)i < c->n_knobs ? c->knobs[i] : k->defaults[j];
    }
}

/* Work units of a request for the tuner's time per unit: the kernel's count, 1 without one. */
static double work_units(const struct kf_registry_kernel *k, const void *payload, size_t len,
                         const double *features, size_t n)
{
    double u =
        k->kernel->work_units ? k->kernel->work_units(k->state, payload, len, features, n) : 1.0;
    return u > 0 ? u : 1.0;
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
    struct tuner_knob_decl decl[KF_MAX_KNOBS];
    size_t nk = kernel->n_knobs < KF_MAX_KNOBS ? kernel->n_knobs : KF_MAX_KNOBS;
    for (size_t j = 0; j < nk; j++) {
        const struct kf_knob *kn = &kernel->knobs[j];
        size_t labels = 0;
        while (kn->type == KF_KNOB_LABELS && kn->labels[labels])
            labels++;
        decl[j] = (struct tuner_knob_decl){.name = kn->name,
                                           .min = kn->min,
                                           .max = kn->max,
                                           .step = kn->step,
                                           .labels = labels ? kn->labels : NULL,
                                           .n_labels = labels};
    }
    int has_accel = kernel->accel && v->cfg->variant != KF_VARIANT_CPU;
    ks->sel =
        tuner_selector_new_knobs("kfarm", kernel->kind, kernel->feature_names, n, has_accel, decl,
                                 nk, v->cfg->tuner_file, v->cfg->knowledge_file, err, sizeof(err));
    if (!ks->sel) {
        kf_error("tuner for kind '%s': %s; serving it with the CPU variant", kernel->kind, err);
        return ks;
    }
    map_knobs(ks);
    /* The VF identity is <KFARM_ACCEL_NODE>/<KFARM_VF_BDFS entry>, as esfmd publishes it for a
     * VM node (the SPANK plugin exports the node in mode=vm); else this host's name (mode=host). */
    const char *node = getenv("KFARM_ACCEL_NODE");
    if (v->cfg->mqtt && tuner_selector_set_mqtt(ks->sel, v->cfg->mqtt, &v->cfg->mqtt_security,
                                                 node && *node ? node : NULL, v->vf_bdf, err,
                                                 sizeof(err)))
        kf_warn("tuner for kind '%s': MQTT %s: %s; learning locally", kernel->kind, v->cfg->mqtt,
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

/* values NULL: the declared defaults (no tuner decision). */
static int run_variant(const struct kf_registry_kernel *k, int variant, const void *payload,
                       size_t len, const long *values, struct kf_result *res, uint64_t *ns)
{
    struct kf_knobs knobs = {.count = k->kernel->n_knobs, .values = values ? values : k->defaults};
    uint64_t t0 = kf_now_ns();
    int rc = (variant == KF_VARIANT_ACCEL ? k->kernel->accel : k->kernel->cpu)(k->state, payload,
                                                                               len, &knobs, res);
    *ns = kf_now_ns() - t0;
    return rc;
}

static void choose(struct kind_selector *ks, const double *features, struct tuner_choice *c,
                   uint8_t *accel);
static void run_chosen(struct kf_variants *v, struct kind_selector *ks,
                       const struct kf_registry_kernel *k, struct tuner_choice *cp,
                       const double *features, const void *payload, size_t len,
                       struct kf_result *res, struct kf_variant_run *out);

void kf_variants_run(struct kf_variants *v, const struct kf_registry_kernel *k, const void *payload,
                     size_t len, struct kf_result *res, struct kf_variant_run *out)
{
    const struct kf_kernel *kernel = k->kernel;
    memset(out, 0, sizeof(*out));
    out->variant = KF_VARIANT_CPU;
    /* CPU only: nothing to choose unless the kernel has knobs (the tuner then picks them among
     * CPU settings). */
    int cpu_only = !kernel->accel || v->cfg->variant == KF_VARIANT_CPU;
    if (cpu_only && kernel->n_knobs == 0) {
        out->reason = kernel->accel ? KF_REASON_FIXED : KF_REASON_CPU_ONLY;
        out->rc = run_variant(k, KF_VARIANT_CPU, payload, len, NULL, res, &out->service_ns);
        return;
    }
    out->accel = cpu_only ? 0 : (uint8_t)accel_available(v, k);
    if (!cpu_only && v->cfg->variant == KF_VARIANT_ACCEL) {
        /* Fixed accelerator, but a device ESFM paused or detached (heard over MQTT) is not used:
         * the kind's selector only listens here, its choice is not asked for. */
        struct kind_selector *ks = out->accel && v->cfg->mqtt ? selector_for(v, kernel) : NULL;
        if (ks && ks->sel && tuner_selector_accel_heard(ks->sel) == 0)
            out->accel = 0;
        log_mqtt_error(ks);
        out->reason = out->accel ? KF_REASON_FIXED : KF_REASON_FALLBACK;
        out->variant = out->accel ? KF_VARIANT_ACCEL : KF_VARIANT_CPU;
        out->rc = run_variant(k, out->variant, payload, len, NULL, res, &out->service_ns);
        if (out->rc == KF_UNAVAILABLE) {
            memset(res, 0, sizeof(*res));
            out->variant = KF_VARIANT_CPU;
            out->reason = KF_REASON_FALLBACK;
            out->rc = run_variant(k, KF_VARIANT_CPU, payload, len, NULL, res, &out->service_ns);
        }
        return;
    }

    struct kind_selector *ks = selector_for(v, kernel);
    double features[MAX_FEATURES] = {0};
    int nf = ks && ks->n_features
                 ? kernel->features(k->state, payload, len, features, ks->n_features)
                 : 0;
    if (!ks || !ks->sel || nf < 0 || (size_t)nf != ks->n_features) {
        /* No tuner, or a payload the adapter cannot read: the CPU variant says what is wrong. */
        out->reason = KF_REASON_FALLBACK;
        out->rc = run_variant(k, KF_VARIANT_CPU, payload, len, NULL, res, &out->service_ns);
        return;
    }
    struct tuner_choice c;
    choose(ks, features, &c, &out->accel);
    run_chosen(v, ks, k, &c, features, payload, len, res, out);
}

/* Asks the kind's selector; *accel: in, what the worker sees; out, also what MQTT said. */
static void choose(struct kind_selector *ks, const double *features, struct tuner_choice *c,
                   uint8_t *accel)
{
    struct tuner_selector_stats st;
    tuner_selector_choose(ks->sel, features, ks->n_features, *accel, c);
    ks->chose = 1;
    log_mqtt_error(ks);
    tuner_selector_get_stats(ks->sel, &st);
    *accel = (uint8_t)st.accel_available;
}

static uint8_t reason_of(const struct tuner_choice *c)
{
    return c->reason == TUNER_REASON_CALIBRATING  ? KF_REASON_CALIBRATING
           : c->reason == TUNER_REASON_EXPLOITING ? KF_REASON_EXPLOITING
                                                  : KF_REASON_FALLBACK;
}

/* Runs one request as choice c says (the CPU variant if the accelerator vanished meanwhile) and
 * tells the selector what it cost. */
static void run_chosen(struct kf_variants *v, struct kind_selector *ks,
                       const struct kf_registry_kernel *k, struct tuner_choice *cp,
                       const double *features, const void *payload, size_t len,
                       struct kf_result *res, struct kf_variant_run *out)
{
    const struct kf_kernel *kernel = k->kernel;
    struct tuner_choice c = *cp;
    int variant = c.variant == TUNER_VARIANT_ACCEL ? KF_VARIANT_ACCEL : KF_VARIANT_CPU;
    long values[KF_MAX_KNOBS];
    choice_knobs(ks, &c, k, values);
    out->rc = run_variant(k, variant, payload, len, values, res, &out->service_ns);
    if (out->rc == KF_UNAVAILABLE) {
        /* The device went away between the check and the run: decide again without it. */
        kf_info("kind '%s': accelerator unavailable (%s); CPU variant", kernel->kind, res->error);
        memset(res, 0, sizeof(*res));
        out->accel = 0;
        v->accel_checked_at = 0;
        tuner_selector_choose(ks->sel, features, ks->n_features, 0, &c);
        variant = KF_VARIANT_CPU;
        choice_knobs(ks, &c, k, values);
        out->rc = run_variant(k, variant, payload, len, values, res, &out->service_ns);
    }
    out->variant = (uint8_t)variant;
    out->reason = reason_of(&c);
    /* Failed requests say nothing about a variant's speed. */
    if (out->rc == KF_OK)
        tuner_selector_observe(ks->sel, &c, (double)out->service_ns / 1e9,
                               work_units(k, payload, len, features, ks->n_features));
}

/* Index of the kernel's batch knob, or -1. */
static int batch_knob(const struct kf_kernel *kernel)
{
    for (size_t j = 0; j < kernel->n_knobs && j < KF_MAX_KNOBS; j++)
        if (strcmp(kernel->knobs[j].name, KF_KNOB_BATCH) == 0)
            return (int)j;
    return -1;
}

/* Features of a request, bucketed as the selector clusters them; -1 when unreadable. */
static int bucketed_features(const struct kind_selector *ks, const struct kf_registry_kernel *k,
                             const struct kf_batch_item *it, double *features, double *key)
{
    int nf = ks->n_features
                 ? k->kernel->features(k->state, it->payload, it->len, features, ks->n_features)
                 : 0;
    if (nf < 0 || (size_t)nf != ks->n_features)
        return -1;
    for (size_t i = 0; i < ks->n_features; i++)
        key[i] = tuner_feature_bucket(features[i]);
    return 0;
}

/* How many of items[1..n) may join items[0] in one call: up to the batch knob's value, and only
 * requests of the same feature cluster (the choice was made for that cluster). */
static size_t batch_size(const struct kind_selector *ks, const struct kf_registry_kernel *k,
                         const struct kf_batch_item *items, size_t n, long limit, const double *key)
{
    size_t count = 1;
    double f[MAX_FEATURES], other[MAX_FEATURES];
    while (count < n && (long)count < limit &&
           bucketed_features(ks, k, &items[count], f, other) == 0 &&
           memcmp(other, key, ks->n_features * sizeof(double)) == 0)
        count++;
    return count;
}

/* The batch entry point ran items[0..count) with choice c: replies, timing, one observation. */
static void record_batch(struct kind_selector *ks, const struct kf_registry_kernel *k,
                         const struct tuner_choice *c, struct kf_batch_item *items, size_t count,
                         uint64_t ns, uint8_t accel, struct kf_variant_run *out)
{
    double units = 0, f[MAX_FEATURES], key[MAX_FEATURES];
    for (size_t i = 0; i < count; i++) {
        out[i] = (struct kf_variant_run){
            .rc = items[i].rc,
            .variant = c->variant == TUNER_VARIANT_ACCEL ? KF_VARIANT_ACCEL : KF_VARIANT_CPU,
            .reason = reason_of(c),
            .accel = accel,
            .service_ns = ns / count,
            .batch = (uint16_t)count};
        if (items[i].rc == KF_OK && bucketed_features(ks, k, &items[i], f, key) == 0)
            units += work_units(k, items[i].payload, items[i].len, f, ks->n_features);
    }
    /* Failed requests say nothing about a setting's speed; the rest share the call's time. */
    if (units > 0)
        tuner_selector_observe(ks->sel, c, (double)ns / 1e9, units);
}

size_t kf_variants_run_batch(struct kf_variants *v, const struct kf_registry_kernel *k,
                             struct kf_batch_item *items, size_t n, struct kf_variant_run *out)
{
    const struct kf_kernel *kernel = k->kernel;
    int cpu_only = !kernel->accel || v->cfg->variant == KF_VARIANT_CPU;
    int bk = batch_knob(kernel);
    struct kind_selector *ks = NULL;
    double features[MAX_FEATURES] = {0}, key[MAX_FEATURES];
    /* Batches follow the tuner's batch knob: without a tuner decision, one request at a time. */
    if (n < 2 || bk < 0 || (cpu_only && kernel->n_knobs == 0) ||
        v->cfg->variant == KF_VARIANT_ACCEL || !(ks = selector_for(v, kernel)) || !ks->sel ||
        bucketed_features(ks, k, &items[0], features, key)) {
        kf_variants_run(v, k, items[0].payload, items[0].len, &items[0].result, &out[0]);
        items[0].rc = out[0].rc;
        return 1;
    }
    uint8_t accel = cpu_only ? 0 : (uint8_t)accel_available(v, k);
    struct tuner_choice c;
    choose(ks, features, &c, &accel);
    long values[KF_MAX_KNOBS];
    choice_knobs(ks, &c, k, values);
    kf_batch_fn entry = c.variant == TUNER_VARIANT_ACCEL ? kernel->accel_batch : kernel->cpu_batch;
    size_t count = entry ? batch_size(ks, k, items, n, values[bk], key) : 1;
    if (count == 1) {
        run_chosen(v, ks, k, &c, features, items[0].payload, items[0].len, &items[0].result,
                   &out[0]);
        items[0].rc = out[0].rc;
        return 1;
    }
    struct kf_knobs knobs = {.count = kernel->n_knobs, .values = values};
    uint64_t t0 = kf_now_ns();
    int rc = entry(k->state, items, count, &knobs);
    uint64_t ns = kf_now_ns() - t0;
    if (rc == KF_UNAVAILABLE) {
        /* The device went away: each request decides again without it. */
        kf_info("kind '%s': accelerator unavailable for a batch of %zu; CPU variant", kernel->kind,
                count);
        v->accel_checked_at = 0;
        for (size_t i = 0; i < count; i++) {
            memset(&items[i].result, 0, sizeof(items[i].result));
            uint8_t none = 0;
            if (bucketed_features(ks, k, &items[i], features, key) == 0) {
                choose(ks, features, &c, &none);
                run_chosen(v, ks, k, &c, features, items[i].payload, items[i].len, &items[i].result,
                           &out[i]);
            } else {
                kf_variants_run(v, k, items[i].payload, items[i].len, &items[i].result, &out[i]);
            }
            items[i].rc = out[i].rc;
        }
        return count;
    }
    record_batch(ks, k, &c, items, count, ns, accel, out);
    return count;
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
        if (v->cfg->knowledge_save && ks->chose) { /* nothing learned: keep the old file */
            char path[4096], err[512];
            expand_path(path, sizeof(path), v->cfg->knowledge_save, v->rank, ks->kernel->kind);
            if (tuner_selector_save(ks->sel, path, err, sizeof(err)))
                kf_warn("saving knowledge for '%s' to %s: %s", ks->kernel->kind, path, err);
            else
                kf_info("saved knowledge for '%s' to %s", ks->kernel->kind, path);
        }
        tuner_selector_free(ks->sel);
    }
    free(v);
}
