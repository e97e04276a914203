/* The libvirt backend: hostdev attach/detach with virDomain{Attach,Detach}DeviceFlags, a bounded
 * wait for the device-removed event, QMP device_pause through virDomainQemuMonitorCommand and
 * the hostdev list from every domain's XML. Any URI libvirt accepts works (remote, test:///). */
#include "hv.h"
#include "esfm_internal.h"

#include <errno.h>
#include <libvirt/libvirt-qemu.h>
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct hv_libvirt {
    struct esfm_hv base;
    virConnectPtr conn;
};

/* ---- one process-wide event loop thread, alive while a connection is open ---- */
static pthread_mutex_t loop_lock = PTHREAD_MUTEX_INITIALIZER;
static int loop_users;
static bool loop_registered;
static atomic_bool loop_stop;
static pthread_t loop_thread;

static void *run_loop(void *arg)
{
    (void)arg;
    while (!atomic_load(&loop_stop))
        if (virEventRunDefaultImpl() < 0)
            break;
    return NULL;
}

static void wake_cb(int timer, void *opaque)
{
    (void)opaque;
    virEventRemoveTimeout(timer);
}

static void quiet_errors(void *data, virErrorPtr e)
{
    (void)data;
    (void)e; /* messages are reported through err buffers instead of stderr */
}

static int loop_get(void)
{
    int rc = 0;
    pthread_mutex_lock(&loop_lock);
    if (!loop_registered) {
        virSetErrorFunc(NULL, quiet_errors);
        if (virEventRegisterDefaultImpl() < 0)
            rc = -EREMOTEIO;
        else
            loop_registered = true;
    }
    if (!rc && loop_users++ == 0) {
        atomic_store(&loop_stop, false);
        if (pthread_create(&loop_thread, NULL, run_loop, NULL)) {
            loop_users--;
            rc = -EAGAIN;
        }
    }
    pthread_mutex_unlock(&loop_lock);
    return rc;
}

static void loop_put(void)
{
    pthread_mutex_lock(&loop_lock);
    if (--loop_users == 0) {
        atomic_store(&loop_stop, true);
        virEventAddTimeout(0, wake_cb, NULL, NULL);
        pthread_join(loop_thread, NULL);
    }
    pthread_mutex_unlock(&loop_lock);
}

static const char *last_error(void)
{
    const char *m = virGetLastErrorMessage();
    return m ? m : "unknown libvirt error";
}

static int lookup(struct hv_libvirt *h, const char *name, virDomainPtr *dom, char *err, size_t len)
{
    *dom = virDomainLookupByName(h->conn, name);
    if (*dom)
        return 0;
    if (virGetLastErrorCode() == VIR_ERR_NO_DOMAIN)
        return kf_errf(err, len, -ENOENT, "VM '%s' not found; list them with virsh list --all",
                       name);
    return kf_errf(err, len, -EREMOTEIO, "looking up VM '%s': %s", name, last_error());
}

static unsigned affect_flags(virDomainPtr dom, unsigned flags)
{
    unsigned f = 0;
    if (flags == 0 || (flags & ESFM_HV_LIVE)) {
        if (virDomainIsActive(dom) == 1)
            f |= VIR_DOMAIN_AFFECT_LIVE;
    }
    if (flags == 0 || (flags & ESFM_HV_CONFIG)) {
        if (virDomainIsPersistent(dom) == 1)
            f |= VIR_DOMAIN_AFFECT_CONFIG;
    }
    return f ? f : VIR_DOMAIN_AFFECT_CURRENT;
}

static void lv_close(struct esfm_hv *hv)
{
    struct hv_libvirt *h = (struct hv_libvirt *)hv;
    virConnectClose(h->conn);
    loop_put();
    free(h);
}

static int lv_lookup(struct esfm_hv *hv, const char *domain, char *err, size_t len)
{
    virDomainPtr dom;
    int rc = lookup((struct hv_libvirt *)hv, domain, &dom, err, len);
    if (!rc)
        virDomainFree(dom);
    return rc;
}

static int guest_address(virDomainPtr dom, const char *domain, const char *alias,
                         char guest[ESFM_BDF_LEN])
{
    char *xml = virDomainGetXMLDesc(dom, 0);
    if (!xml)
        return -EREMOTEIO;
    struct esfm_hostdev *v = NULL;
    size_t n = 0;
    int rc = esfm_hostdevs_from_xml(domain, xml, &v, &n);
    free(xml);
    int found = -ENOENT;
    for (size_t i = 0; !rc && i < n; i++) {
        if (strcmp(v[i].alias, alias) == 0) {
            if (guest)
                snprintf(guest, ESFM_BDF_LEN, "%s", v[i].guest_bdf);
            found = 0;
        }
    }
    free(v);
    return rc ? rc : found;
}

static int lv_attach(struct esfm_hv *hv, const char *domain, const char *bdf, const char *alias,
                     unsigned flags, char guest[ESFM_BDF_LEN], char *err, size_t len)
{
    struct hv_libvirt *h = (struct hv_libvirt *)hv;
    virDomainPtr dom;
    int rc = lookup(h, domain, &dom, err, len);
    if (rc)
        return rc;
    char xml[1024];
    esfm_hostdev_xml(bdf, alias, xml, sizeof xml);
    if (virDomainAttachDeviceFlags(dom, xml, affect_flags(dom, flags)) < 0) {
        rc = kf_errf(err, len, -EREMOTEIO, "libvirt could not attach VF %s to VM %s: %s", bdf,
                     domain, last_error());
    } else {
        guest[0] = '\0';
        guest_address(dom, domain, alias, guest);
    }
    virDomainFree(dom);
    return rc;
}

struct removed_wait {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    const char *alias;
    bool done;
};

static void removed_cb(virConnectPtr conn, virDomainPtr dom, const char *alias, void *opaque)
{
    (void)conn;
    (void)dom;
    struct removed_wait *w = opaque;
    pthread_mutex_lock(&w->lock);
    if (strcmp(alias, w->alias) == 0) {
        w->done = true;
        pthread_cond_broadcast(&w->cond);
    }
    pthread_mutex_unlock(&w->lock);
}

static int lv_detach(struct esfm_hv *hv, const char *domain, const char *bdf, const char *alias,
                     unsigned flags, int timeout_ms, char *err, size_t len)
{
    struct hv_libvirt *h = (struct hv_libvirt *)hv;
    virDomainPtr dom;
    int rc = lookup(h, domain, &dom, err, len);
    if (rc)
        return rc;
    struct removed_wait w = {.alias = alias};
    pthread_mutex_init(&w.lock, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&w.cond, &ca);
    pthread_condattr_destroy(&ca);
    unsigned f = affect_flags(dom, flags);
    int cb = -1;
    if (f & VIR_DOMAIN_AFFECT_LIVE)
        cb = virConnectDomainEventRegisterAny(h->conn, dom, VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED,
                                              VIR_DOMAIN_EVENT_CALLBACK(removed_cb), &w, NULL);
    char xml[1024];
    esfm_hostdev_xml(bdf, alias, xml, sizeof xml);
    if (virDomainDetachDeviceFlags(dom, xml, f) < 0) {
        rc = kf_errf(
            err, len, virGetLastErrorCode() == VIR_ERR_DEVICE_MISSING ? -ENOENT : -EREMOTEIO,
            "libvirt could not detach VF %s (%s) from VM %s: %s", bdf, alias, domain, last_error());
    } else if (f & VIR_DOMAIN_AFFECT_LIVE) {
        /* libvirt returns once the unplug is requested; the guest releases the device later. */
        struct timespec dl;
        clock_gettime(CLOCK_MONOTONIC, &dl);
        dl.tv_sec += timeout_ms / 1000;
        dl.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
        if (dl.tv_nsec >= 1000000000L) {
            dl.tv_sec++;
            dl.tv_nsec -= 1000000000L;
        }
        pthread_mutex_lock(&w.lock);
        while (!w.done && guest_address(dom, domain, alias, NULL) == 0)
            if (pthread_cond_timedwait(&w.cond, &w.lock, &dl) == ETIMEDOUT)
                break;
        pthread_mutex_unlock(&w.lock);
        if (!w.done && guest_address(dom, domain, alias, NULL) == 0)
            rc = kf_errf(err, len, -ETIMEDOUT,
                         "VM %s did not release VF %s within %d ms (guest ignored the unplug "
                         "request?); retry or use --force after stopping its users",
                         domain, bdf, timeout_ms);
    }
    if (cb >= 0)
        virConnectDomainEventDeregisterAny(h->conn, cb);
    pthread_cond_destroy(&w.cond);
    pthread_mutex_destroy(&w.lock);
    virDomainFree(dom);
    return rc;
}

static int lv_pause(struct esfm_hv *hv, const char *domain, const char *alias, bool pause,
                    char *err, size_t len)
{
    struct hv_libvirt *h = (struct hv_libvirt *)hv;
    virDomainPtr dom;
    int rc = lookup(h, domain, &dom, err, len);
    if (rc)
        return rc;
    cJSON *cmd = cJSON_CreateObject();
    cJSON_AddStringToObject(cmd, "execute", "device_pause");
    cJSON *args = cJSON_AddObjectToObject(cmd, "arguments");
    cJSON_AddStringToObject(args, "id", alias);
    cJSON_AddBoolToObject(args, "pause", pause);
    char *text = cJSON_PrintUnformatted(cmd);
    cJSON_Delete(cmd);
    char *reply = NULL;
    if (!text) {
        rc = kf_errf(err, len, -ENOMEM, "out of memory");
    } else if (virDomainQemuMonitorCommand(dom, text, &reply, 0) < 0) {
        const char *m = last_error();
        rc = kf_errf(err, len, esfm_qmp_is_command_not_found(m) ? -EOPNOTSUPP : -EREMOTEIO,
                     "QMP device_pause on %s/%s: %s", domain, alias, m);
    } else {
        cJSON *r = cJSON_Parse(reply);
        cJSON *e = cJSON_GetObjectItemCaseSensitive(r, "error");
        if (e) {
            const char *cls = esfm_json_str(e, "class"), *desc = esfm_json_str(e, "desc");
            rc = kf_errf(err, len,
                         cls && strcmp(cls, "CommandNotFound") == 0 ? -EOPNOTSUPP : -EREMOTEIO,
                         "QMP device_pause on %s/%s: %s: %s", domain, alias, cls ? cls : "?",
                         desc ? desc : reply);
        }
        cJSON_Delete(r);
    }
    free(reply);
    free(text);
    virDomainFree(dom);
    return rc;
}

static int lv_list(struct esfm_hv *hv, struct esfm_hostdev **out, size_t *n, char *err, size_t len)
{
    struct hv_libvirt *h = (struct hv_libvirt *)hv;
    virDomainPtr *doms = NULL;
    *out = NULL;
    *n = 0;
    int nd = virConnectListAllDomains(h->conn, &doms, 0);
    if (nd < 0)
        return kf_errf(err, len, -EREMOTEIO, "listing VMs: %s", last_error());
    int rc = 0;
    for (int i = 0; i < nd; i++) {
        if (!rc) {
            char *xml = virDomainGetXMLDesc(doms[i], 0);
            const char *name = virDomainGetName(doms[i]);
            if (!xml)
                rc = kf_errf(err, len, -EREMOTEIO, "reading XML of VM %s: %s", name, last_error());
            size_t before = *n;
            if (xml && esfm_hostdevs_from_xml(name, xml, out, n) == -ENOMEM)
                rc = kf_errf(err, len, -ENOMEM, "out of memory");
            bool running = virDomainIsActive(doms[i]) == 1;
            for (size_t k = before; !rc && k < *n; k++)
                (*out)[k].running = running;
            free(xml);
        }
        virDomainFree(doms[i]);
    }
    free(doms);
    if (rc) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return rc;
}

static bool lv_alive(struct esfm_hv *hv)
{
    return virConnectIsAlive(((struct hv_libvirt *)hv)->conn) == 1;
}

static const struct esfm_hv_ops libvirt_ops = {
    .name = "libvirt",
    .close = lv_close,
    .domain_lookup = lv_lookup,
    .attach = lv_attach,
    .detach = lv_detach,
    .pause = lv_pause,
    .list = lv_list,
    .alive = lv_alive,
};

int esfm_hv_libvirt_open(const char *uri, struct esfm_hv **out, char *err, size_t len)
{
    /* libvirt writes to its socket without MSG_NOSIGNAL and asks applications to ignore SIGPIPE:
     * otherwise a libvirtd restarted mid-operation kills esfm (or the SPANK plugin's process)
     * with SIGPIPE before the journal can record why (tests/security/esfm_libvirtd_restart.sh).
     * Only the default disposition is changed; a handler the host process installed stays. */
    struct sigaction sa;
    if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL) {
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }
    int rc = loop_get();
    if (rc)
        return kf_errf(err, len, -EREMOTEIO, "cannot start the libvirt event loop");
    struct hv_libvirt *h = calloc(1, sizeof *h);
    if (!h) {
        loop_put();
        return kf_errf(err, len, -ENOMEM, "out of memory");
    }
    h->base.ops = &libvirt_ops;
    h->conn = virConnectOpen(uri);
    if (!h->conn) {
        rc =
            kf_errf(err, len, -EREMOTEIO,
                    "cannot connect to libvirt at %s: %s; is libvirtd running?", uri, last_error());
        free(h);
        loop_put();
        return rc;
    }
    *out = &h->base;
    return 0;
}
