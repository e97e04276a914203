/* Loading adapters (built-in or dlopen()ed) and finding kernels and broadcast handlers by kind. */
#include <errno.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter_check.h"
#include "adapter_v1.h"
#include "errbuf.h"
#include "builtin.h"
#include "registry.h"

#define MAX_ADAPTERS 8
#define MAX_ENTRIES  256

struct loaded_adapter {
    const struct kf_adapter *adapter;
    void *state;
    void *dl; /* NULL for built-ins */
    /* ABI 1 adapters: their kernels as version 2 kernels, and the state those are called with */
    struct kf_kernel *v1_kernels;
    struct kf_v1_shim *v1_shims;
};

struct kf_registry {
    struct loaded_adapter adapters[MAX_ADAPTERS];
    size_t n_adapters;
    struct kf_registry_kernel kernels[MAX_ENTRIES];
    size_t n_kernels;
    struct kf_registry_broadcast broadcasts[MAX_ENTRIES];
    size_t n_broadcasts;
    char kinds[1024];
};

struct kf_registry *kf_registry_new(void)
{
    return calloc(1, sizeof(struct kf_registry));
}

static int is_path(const char *s)
{
    size_t n = strlen(s);
    return strchr(s, '/') || (n > 3 && strcmp(s + n - 3, ".so") == 0);
}

static int add_entries(struct kf_registry *r, struct loaded_adapter *la, char *err, size_t errlen)
{
    const struct kf_adapter *a = la->adapter;
    for (size_t i = 0; i < a->n_kernels; i++) {
        const char *kind = la->v1_kernels ? la->v1_kernels[i].kind : a->kernels[i].kind;
        if (kf_registry_kernel(r, kind, strlen(kind))) {
            return kf_errf(err, errlen, -EEXIST,
                           "adapter %s: kind '%s' is already served by another adapter", a->name,
                           kind);
        }
        if (r->n_kernels == MAX_ENTRIES) {
            return kf_errf(err, errlen, -E2BIG, "adapter %s: more than %d kernels in all", a->name,
                           MAX_ENTRIES);
        }
        r->kernels[r->n_kernels++] = (struct kf_registry_kernel){
            .kernel = la->v1_kernels ? &la->v1_kernels[i] : &a->kernels[i],
            .adapter = a,
            .state = la->v1_shims ? (void *)&la->v1_shims[i] : la->state,
            .adapter_state = la->state};
        const struct kf_kernel *k = r->kernels[r->n_kernels - 1].kernel;
        for (size_t j = 0; j < k->n_knobs; j++)
            r->kernels[r->n_kernels - 1].defaults[j] = k->knobs[j].def;
        size_t used = strlen(r->kinds);
        snprintf(r->kinds + used, sizeof(r->kinds) - used, "%s%s", used ? ", " : "", kind);
    }
    for (size_t i = 0; i < a->n_broadcasts; i++) {
        if (r->n_broadcasts == MAX_ENTRIES) {
            return kf_errf(err, errlen, -E2BIG,
                           "adapter %s: more than %d broadcast handlers in all", a->name,
                           MAX_ENTRIES);
        }
        r->broadcasts[r->n_broadcasts++] = (struct kf_registry_broadcast){
            .handler = &a->broadcasts[i], .adapter = a, .state = la->state};
    }
    return 0;
}

int kf_registry_load(struct kf_registry *r, const char *name, const struct kf_args *args, char *err,
                     size_t errlen)
{
    if (r->n_adapters == MAX_ADAPTERS) {
        return kf_errf(err, errlen, -E2BIG, "adapter %s: at most %d adapters", name, MAX_ADAPTERS);
    }
    struct loaded_adapter la = {0};
    int rc;
    if (is_path(name)) {
        la.dl = dlopen(name, RTLD_NOW | RTLD_LOCAL);
        if (!la.dl) {
            return kf_errf(err, errlen, -ENOENT, "adapter %s: cannot load: %s", name, dlerror());
        }
        la.adapter = dlsym(la.dl, KF_ADAPTER_SYMBOL);
        if (!la.adapter) {
            rc = kf_errf(err, errlen, -ENOENT,
                         "adapter %s: no symbol '%s'; an adapter exports one struct kf_adapter "
                         "under that name (see kfarm/adapter.h)",
                         name, KF_ADAPTER_SYMBOL);
            goto fail;
        }
    } else {
        la.adapter = kf_builtin_adapter(name);
        if (!la.adapter) {
            return kf_errf(err, errlen, -ENOENT,
                           "adapter %s: no such built-in adapter (built-ins: %s); give a path to "
                           "load a .so",
                           name, kf_builtin_adapter_names());
        }
    }
    if ((rc = kf_adapter_check(la.adapter, name, err, errlen)))
        goto fail;
    if (la.adapter->init) {
        char msg[512] = "";
        if (la.adapter->init(&la.state, args, msg, sizeof(msg)) != KF_OK) {
            rc = kf_errf(err, errlen, -EINVAL, "adapter %s: init failed: %s", name,
                         msg[0] ? msg : "(no message)");
            goto fail;
        }
    }
    if (la.adapter->abi_version == 1 &&
        (rc = kf_adapter_v1_convert(la.adapter, la.state, &la.v1_kernels, &la.v1_shims))) {
        kf_errf(err, errlen, rc, "adapter %s: out of memory", name);
        if (la.adapter->fini)
            la.adapter->fini(la.state);
        goto fail;
    }
    r->adapters[r->n_adapters] = la;
    size_t n_kernels = r->n_kernels, n_broadcasts = r->n_broadcasts, kinds_len = strlen(r->kinds);
    if ((rc = add_entries(r, &r->adapters[r->n_adapters], err, errlen))) {
        if (la.adapter->fini)
            la.adapter->fini(la.state);
        /* Forget what this adapter added before the clash. */
        r->n_kernels = n_kernels;
        r->n_broadcasts = n_broadcasts;
        r->kinds[kinds_len] = '\0';
        goto fail;
    }
    r->n_adapters++;
    return 0;
fail:
    free(la.v1_kernels);
    free(la.v1_shims);
    if (la.dl)
        dlclose(la.dl);
    return rc;
}

static int kind_eq(const char *a, const char *b, size_t blen)
{
    return strlen(a) == blen && memcmp(a, b, blen) == 0;
}

const struct kf_registry_kernel *kf_registry_kernel(const struct kf_registry *r, const char *kind,
                                                    size_t kind_len)
{
    for (size_t i = 0; i < r->n_kernels; i++)
        if (kind_eq(r->kernels[i].kernel->kind, kind, kind_len))
            return &r->kernels[i];
    return NULL;
}

const struct kf_registry_broadcast *kf_registry_broadcast(const struct kf_registry *r,
                                                          const char *kind, size_t kind_len)
{
    for (size_t i = 0; i < r->n_broadcasts; i++)
        if (kind_eq(r->broadcasts[i].handler->kind, kind, kind_len))
            return &r->broadcasts[i];
    return NULL;
}

const struct kf_registry_kernel *kf_registry_kernel_at(const struct kf_registry *r, size_t i)
{
    return i < r->n_kernels ? &r->kernels[i] : NULL;
}

const struct kf_registry_broadcast *kf_registry_broadcast_at(const struct kf_registry *r, size_t i)
{
    return i < r->n_broadcasts ? &r->broadcasts[i] : NULL;
}

const char *kf_registry_kinds(const struct kf_registry *r)
{
    return r->kinds;
}

void kf_registry_free(struct kf_registry *r)
{
    if (!r)
        return;
    for (size_t i = r->n_adapters; i-- > 0;) {
        struct loaded_adapter *la = &r->adapters[i];
        if (la->adapter->fini)
            la->adapter->fini(la->state);
        if (la->dl)
            dlclose(la->dl);
        free(la->v1_kernels);
        free(la->v1_shims);
    }
    free(r);
}
