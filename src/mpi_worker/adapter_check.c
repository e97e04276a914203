/* Load-time checks of adapter declarations: ABI version, kernel and broadcast tables, knobs
 * (type, domain, default, names), batch entry points. Messages name the adapter, the kernel and
 * the knob, and say what is expected. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "adapter_check.h"
#include "adapter_v1.h"
#include "errbuf.h"

size_t kf_knob_domain_size(const struct kf_knob *k)
{
    if (k->type == KF_KNOB_RANGE) /* unsigned: a range may span all of long */
        return (size_t)(((unsigned long)k->max - (unsigned long)k->min) / (unsigned long)k->step) +
               1;
    size_t n = 0;
    while (k->labels[n])
        n++;
    return n;
}

static int valid_name(const char *s)
{
    if (!s || !*s)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_'))
            return 0;
    return 1;
}

static int check_knob(const struct kf_knob *k, const char *where, char *err, size_t errlen)
{
    if (k->type == KF_KNOB_RANGE) {
        if (k->step < 1 || k->max < k->min)
            return kf_errf(err, errlen, -EINVAL,
                           "%s: empty domain (range min %ld, max %ld, step %ld); expected "
                           "max >= min and step >= 1",
                           where, k->min, k->max, k->step);
        if (k->def < k->min || k->def > k->max ||
            ((unsigned long)k->def - (unsigned long)k->min) % (unsigned long)k->step)
            return kf_errf(err, errlen, -EINVAL,
                           "%s: default %ld is out of range (%ld..%ld step %ld)", where, k->def,
                           k->min, k->max, k->step);
        if (strcmp(k->name, KF_KNOB_BATCH) == 0 && k->min < 1)
            return kf_errf(err, errlen, -EINVAL,
                           "%s: the batch knob counts requests per call; expected min >= 1", where);
        return 0;
    }
    if (k->type != KF_KNOB_LABELS)
        return kf_errf(err, errlen, -EINVAL,
                       "%s: unknown knob type %d; expected KF_KNOB_RANGE (%d) or KF_KNOB_LABELS "
                       "(%d)",
                       where, k->type, KF_KNOB_RANGE, KF_KNOB_LABELS);
    if (!k->labels || !k->labels[0])
        return kf_errf(err, errlen, -EINVAL,
                       "%s: empty domain (no labels); expected a NULL-ended list of at least one "
                       "label",
                       where);
    size_t n = kf_knob_domain_size(k);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < i; j++)
            if (strcmp(k->labels[i], k->labels[j]) == 0)
                return kf_errf(err, errlen, -EINVAL, "%s: label '%s' is given twice", where,
                               k->labels[i]);
    if (k->def < 0 || (size_t)k->def >= n)
        return kf_errf(err, errlen, -EINVAL,
                       "%s: default %ld is out of range (a label index, 0..%zu)", where, k->def,
                       n - 1);
    return 0;
}

static int check_knobs(const struct kf_kernel *k, const char *where, char *err, size_t errlen)
{
    if (k->n_knobs && !k->knobs)
        return kf_errf(err, errlen, -EINVAL, "%s: n_knobs is %zu but knobs is NULL", where,
                       k->n_knobs);
    if (k->n_knobs > KF_MAX_KNOBS)
        return kf_errf(err, errlen, -EINVAL, "%s: %zu knobs; at most %d", where, k->n_knobs,
                       KF_MAX_KNOBS);
    int have_batch = 0;
    for (size_t i = 0; i < k->n_knobs; i++) {
        const struct kf_knob *kn = &k->knobs[i];
        char at[400];
        if (!valid_name(kn->name) || strcmp(kn->name, "variant") == 0)
            return kf_errf(err, errlen, -EINVAL,
                           "%s, knob %zu: bad name '%s'; expected letters, digits and _, and not "
                           "'variant' (the tuner's own knob)",
                           where, i, kn->name ? kn->name : "(null)");
        for (size_t j = 0; j < i; j++)
            if (strcmp(k->knobs[j].name, kn->name) == 0)
                return kf_errf(err, errlen, -EINVAL, "%s: duplicate knob name '%s'", where,
                               kn->name);
        snprintf(at, sizeof(at), "%.300s, knob '%.64s'", where, kn->name);
        int rc = check_knob(kn, at, err, errlen);
        if (rc)
            return rc;
        if (strcmp(kn->name, KF_KNOB_BATCH) == 0)
            have_batch = kn->type == KF_KNOB_RANGE ? 1 : -1;
    }
    if ((k->cpu_batch || k->accel_batch) && have_batch != 1)
        return kf_errf(err, errlen, -EINVAL,
                       "%s: a batch entry point needs a range knob '%s' (requests per call, "
                       "min >= 1)",
                       where, KF_KNOB_BATCH);
    return 0;
}

static int check_kernel(const struct kf_kernel *k, size_t i, const char *from, char *err,
                        size_t errlen)
{
    char where[300];
    if (k->kind && *k->kind && !k->cpu && k->cpu_batch)
        return kf_errf(err, errlen, -EINVAL,
                       "adapter %s, kernel '%s': CPU batch entry point without a single-request "
                       "CPU variant; set cpu too (lone requests use it)",
                       from, k->kind);
    if (!k->kind || !*k->kind || !k->cpu)
        return kf_errf(err, errlen, -EINVAL, "adapter %s: kernel %zu has no kind or no CPU variant",
                       from, i);
    snprintf(where, sizeof(where), "adapter %s, kernel '%s'", from, k->kind);
    if (k->accel_batch && !k->accel)
        return kf_errf(err, errlen, -EINVAL,
                       "%s: accelerator batch entry point without a single-request accelerator "
                       "variant; set accel too (lone requests use it)",
                       where);
    if (k->flags & ~KF_KERNEL_RETRY_SAFE)
        return kf_errf(err, errlen, -EINVAL, "%s: unknown flags 0x%x", where,
                       k->flags & ~KF_KERNEL_RETRY_SAFE);
    return check_knobs(k, where, err, errlen);
}

int kf_adapter_check(const struct kf_adapter *a, const char *from, char *err, size_t errlen)
{
    if (a->abi_version != 1 && a->abi_version != KF_ADAPTER_ABI_VERSION)
        return kf_errf(err, errlen, -EPROTO,
                       "adapter %s: ABI version %u, but this kfarm speaks versions 1 and %d; "
                       "rebuild the adapter against this kfarm's include/kfarm/adapter.h",
                       from, a->abi_version, KF_ADAPTER_ABI_VERSION);
    if (!a->name || (a->n_kernels && !a->kernels) || (a->n_broadcasts && !a->broadcasts))
        return kf_errf(err, errlen, -EINVAL, "adapter %s: missing name or kernel/broadcast table",
                       from);
    for (size_t i = 0; i < a->n_kernels; i++) {
        if (a->abi_version == 1) {
            const struct kf_kernel_v1 *k =
                &((const struct kf_kernel_v1 *)(const void *)a->kernels)[i];
            if (!k->kind || !*k->kind || !k->cpu)
                return kf_errf(err, errlen, -EINVAL,
                               "adapter %s: kernel %zu has no kind or no CPU variant", from, i);
            continue;
        }
        int rc = check_kernel(&a->kernels[i], i, from, err, errlen);
        if (rc)
            return rc;
    }
    for (size_t i = 0; i < a->n_broadcasts; i++)
        if (!a->broadcasts[i].kind || !a->broadcasts[i].fn)
            return kf_errf(err, errlen, -EINVAL,
                           "adapter %s: broadcast handler %zu has no kind or function", from, i);
    return 0;
}
