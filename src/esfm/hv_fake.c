/* FAKE hypervisor backend (URI fake:///path/state.json[?latency=paper|0]): domains and their
 * PCI hostdevs live in a JSON file shared by every process, so that the SPANK plugin, separate
 * esfm runs and the tests see the same VMs. It stands in for VFIO passthrough, which cannot run
 * here. With latency=paper each call sleeps the per-VF time measured on real hardware. */
#include "hv.h"
#include "esfm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

/* EVEREST D5.5 table 2, one VF: remove (detach) 1265 ms, add (attach) 1472 ms, pause 1273 ms,
 * unpause 1346 ms. Rescan and the VF-count change are sysfs steps, charged by the fake kernel. */
enum { LAT_ATTACH, LAT_DETACH, LAT_PAUSE, LAT_UNPAUSE, LAT_N };
static const int paper_ms[LAT_N] = {1472, 1265, 1273, 1346};

struct hv_fake {
    struct esfm_hv base;
    char path[512];
    char lock[520];
    int latency_ms[LAT_N];
};

static void charge(struct hv_fake *f, int which)
{
    int ms = f->latency_ms[which];
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* Locks the state file, returns the parsed state (or a new empty one) and the lock fd. */
static cJSON *load(struct hv_fake *f, int *lockfd, char *err, size_t len)
{
    *lockfd = open(f->lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (*lockfd < 0) {
        kf_errf(err, len, -EREMOTEIO, "fake hypervisor: cannot open %s: %s", f->lock,
                strerror(errno));
        return NULL;
    }
    flock(*lockfd, LOCK_EX);
    cJSON *st = NULL;
    int rc = esfm_read_json(f->path, &st);
    if (rc == -ENOENT) {
        st = cJSON_CreateObject();
    } else if (rc) {
        kf_errf(err, len, -EREMOTEIO, "fake hypervisor: %s: %s", f->path,
                rc == -EINVAL ? "not valid JSON" : strerror(-rc));
        close(*lockfd);
        return NULL;
    }
    if (st && !cJSON_GetObjectItemCaseSensitive(st, "domains"))
        cJSON_AddObjectToObject(st, "domains");
    return st;
}

static int save_unlock(struct hv_fake *f, cJSON *st, int lockfd, bool changed, char *err,
                       size_t len)
{
    int rc = 0;
    if (changed) {
        char *text = cJSON_Print(st);
        rc = text ? kf_atomic_write_text(f->path, text, 0600, err, len) : -ENOMEM;
        free(text);
        if (rc)
            rc = -EREMOTEIO;
    }
    cJSON_Delete(st);
    close(lockfd);
    return rc;
}

static cJSON *find_domain(cJSON *st, const char *name)
{
    return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st, "domains"), name);
}

static cJSON *hostdevs_of(cJSON *dom)
{
    cJSON *h = cJSON_GetObjectItemCaseSensitive(dom, "hostdevs");
    if (!h)
        h = cJSON_AddArrayToObject(dom, "hostdevs");
    return h;
}

/* Test hooks: a domain's "fail_attach"/"fail_detach"/"fail_pause" lists name VFs whose call
 * fails, so that the tests can check ESFM's rollbacks. */
static bool injected(const cJSON *dom, const char *key, const char *bdf)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(dom, key))
    {
        if (cJSON_IsString(e) && bdf && strcmp(e->valuestring, bdf) == 0)
            return true;
    }
    return false;
}

static int no_domain(struct hv_fake *f, const char *name, char *err, size_t len)
{
    return kf_errf(err, len, -ENOENT,
                   "VM '%s' not found (fake hypervisor %s); check the VM name with "
                   "esfm list-vf-vm or virsh list --all",
                   name, f->path);
}

static void fake_close(struct esfm_hv *hv)
{
    free(hv);
}

static int fake_lookup(struct esfm_hv *hv, const char *domain, char *err, size_t len)
{
    struct hv_fake *f = (struct hv_fake *)hv;
    int fd;
    cJSON *st = load(f, &fd, err, len);
    if (!st)
        return -EREMOTEIO;
    int rc = find_domain(st, domain) ? 0 : no_domain(f, domain, err, len);
    save_unlock(f, st, fd, false, NULL, 0);
    return rc;
}

static int fake_attach(struct esfm_hv *hv, const char *domain, const char *bdf, const char *alias,
                       unsigned flags, char guest[ESFM_BDF_LEN], char *err, size_t len)
{
    (void)flags;
    struct hv_fake *f = (struct hv_fake *)hv;
    charge(f, LAT_ATTACH);
    int fd;
    cJSON *st = load(f, &fd, err, len);
    if (!st)
        return -EREMOTEIO;
    int rc = 0;
    cJSON *dom = find_domain(st, domain);
    if (!dom) {
        rc = no_domain(f, domain, err, len);
        goto out;
    }
    if (injected(dom, "fail_attach", bdf)) {
        rc = kf_errf(err, len, -EREMOTEIO, "fake hypervisor: injected attach failure for %s on %s",
                     bdf, domain);
        goto out;
    }
    const cJSON *e;
    cJSON *d;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(st, "domains"))
    {
        cJSON_ArrayForEach(e, hostdevs_of(d))
        {
            const char *b = esfm_json_str(e, "bdf");
            if (b && strcmp(b, bdf) == 0) {
                rc = kf_errf(err, len, -EBUSY, "PCI device %s is in use by domain %s", bdf,
                             d->string);
                goto out;
            }
        }
    }
    cJSON *slot = cJSON_GetObjectItemCaseSensitive(dom, "next_bus");
    int bus = cJSON_IsNumber(slot) ? slot->valueint : 7;
    snprintf(guest, ESFM_BDF_LEN, "0000:%02x:00.0", bus & 0xff);
    cJSON_DeleteItemFromObjectCaseSensitive(dom, "next_bus");
    cJSON_AddNumberToObject(dom, "next_bus", bus + 1);
    cJSON *h = cJSON_CreateObject();
    cJSON_AddStringToObject(h, "bdf", bdf);
    cJSON_AddStringToObject(h, "alias", alias);
    cJSON_AddStringToObject(h, "guest", guest);
    cJSON_AddBoolToObject(h, "paused", false);
    cJSON_AddItemToArray(hostdevs_of(dom), h);
out:;
    int rc2 = save_unlock(f, st, fd, rc == 0, err, len);
    return rc ? rc : rc2;
}

static cJSON *find_hostdev(cJSON *dom, const char *alias, const char *bdf, int *idx)
{
    int i = 0;
    cJSON *e;
    cJSON_ArrayForEach(e, hostdevs_of(dom))
    {
        const char *a = esfm_json_str(e, "alias"), *b = esfm_json_str(e, "bdf");
        if ((alias && a && strcmp(a, alias) == 0) || (!alias && bdf && b && !strcmp(b, bdf))) {
            *idx = i;
            return e;
        }
        i++;
    }
    return NULL;
}

static int fake_detach(struct esfm_hv *hv, const char *domain, const char *bdf, const char *alias,
                       unsigned flags, int timeout_ms, char *err, size_t len)
{
    (void)flags;
    (void)timeout_ms;
    struct hv_fake *f = (struct hv_fake *)hv;
    charge(f, LAT_DETACH);
    int fd;
    cJSON *st = load(f, &fd, err, len);
    if (!st)
        return -EREMOTEIO;
    int rc = 0, idx;
    cJSON *dom = find_domain(st, domain);
    if (!dom)
        rc = no_domain(f, domain, err, len);
    else if (!find_hostdev(dom, alias, bdf, &idx))
        rc = kf_errf(err, len, -ENOENT, "domain %s has no hostdev %s (%s)", domain,
                     alias ? alias : "?", bdf ? bdf : "?");
    else if (injected(dom, "fail_detach", bdf))
        rc = kf_errf(err, len, -EREMOTEIO, "fake hypervisor: injected detach failure for %s", bdf);
    else
        cJSON_DeleteItemFromArray(hostdevs_of(dom), idx);
    int rc2 = save_unlock(f, st, fd, rc == 0, err, len);
    return rc ? rc : rc2;
}

static int fake_pause(struct esfm_hv *hv, const char *domain, const char *alias, bool pause,
                      char *err, size_t len)
{
    struct hv_fake *f = (struct hv_fake *)hv;
    int fd;
    cJSON *st = load(f, &fd, err, len);
    if (!st)
        return -EREMOTEIO;
    int rc = 0, idx;
    cJSON *dom = find_domain(st, domain), *h = NULL;
    if (!dom) {
        rc = no_domain(f, domain, err, len);
    } else if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(dom, "running"))) {
        rc = kf_errf(err, len, -EREMOTEIO,
                     "Requested operation is not valid: domain %s is not running", domain);
    } else if (!cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(dom, "device_pause"))) {
        /* What an unpatched QEMU answers. */
        rc = kf_errf(err, len, -EOPNOTSUPP,
                     "{\"class\":\"CommandNotFound\",\"desc\":\"The command device_pause has "
                     "not been found\"}");
    } else if (!(h = find_hostdev(dom, alias, NULL, &idx))) {
        rc = kf_errf(err, len, -ENOENT, "Device '%s' not found in %s", alias, domain);
    } else if (injected(dom, "fail_pause", esfm_json_str(h, "bdf"))) {
        rc = kf_errf(err, len, -EREMOTEIO,
                     "fake hypervisor: injected device_pause failure "
                     "for %s",
                     alias);
    }
    if (rc) {
        save_unlock(f, st, fd, false, NULL, 0);
        return rc;
    }
    save_unlock(f, st, fd, false, NULL, 0);
    charge(f, pause ? LAT_PAUSE : LAT_UNPAUSE);
    st = load(f, &fd, err, len);
    if (!st)
        return -EREMOTEIO;
    dom = find_domain(st, domain);
    h = dom ? find_hostdev(dom, alias, NULL, &idx) : NULL;
    if (h) {
        cJSON_DeleteItemFromObjectCaseSensitive(h, "paused");
        cJSON_AddBoolToObject(h, "paused", pause);
    } else {
        rc = kf_errf(err, len, -ENOENT, "Device '%s' vanished from %s", alias, domain);
    }
    int rc2 = save_unlock(f, st, fd, rc == 0, err, len);
    return rc ? rc : rc2;
}

static int fake_list(struct esfm_hv *hv, struct esfm_hostdev **out, size_t *n, char *err,
                     size_t len)
{
    struct hv_fake *f = (struct hv_fake *)hv;
    int fd;
    *out = NULL;
    *n = 0;
    cJSON *st = load(f, &fd, err, len);
    if (!st)
        return -EREMOTEIO;
    size_t cnt = 0;
    cJSON *d, *e;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(st, "domains")) cnt +=
        (size_t)cJSON_GetArraySize(hostdevs_of(d));
    struct esfm_hostdev *v = calloc(cnt ? cnt : 1, sizeof *v);
    if (!v) {
        save_unlock(f, st, fd, false, NULL, 0);
        return kf_errf(err, len, -ENOMEM, "out of memory");
    }
    size_t k = 0;
    cJSON_ArrayForEach(d, cJSON_GetObjectItemCaseSensitive(st, "domains"))
    {
        cJSON_ArrayForEach(e, hostdevs_of(d))
        {
            const char *b = esfm_json_str(e, "bdf"), *a = esfm_json_str(e, "alias"),
                       *g = esfm_json_str(e, "guest");
            snprintf(v[k].domain, sizeof v[k].domain, "%s", d->string);
            snprintf(v[k].bdf, sizeof v[k].bdf, "%s", b ? b : "");
            snprintf(v[k].alias, sizeof v[k].alias, "%s", a ? a : "");
            snprintf(v[k].guest_bdf, sizeof v[k].guest_bdf, "%s", g ? g : "");
            v[k].running = !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(d, "running"));
            k++;
        }
    }
    save_unlock(f, st, fd, false, NULL, 0);
    *out = v;
    *n = k;
    return 0;
}

static const struct esfm_hv_ops fake_ops = {
    .name = "fake",
    .close = fake_close,
    .domain_lookup = fake_lookup,
    .attach = fake_attach,
    .detach = fake_detach,
    .pause = fake_pause,
    .list = fake_list,
};

int esfm_hv_fake_open(const char *uri, struct esfm_hv **out, char *err, size_t len)
{
    const char *p = uri + strlen("fake://");
    if (*p != '/')
        return kf_errf(err, len, -EINVAL, "fake URI wants an absolute path: fake:///dir/x.json");
    struct hv_fake *f = calloc(1, sizeof *f);
    if (!f)
        return kf_errf(err, len, -ENOMEM, "out of memory");
    f->base.ops = &fake_ops;
    const char *q = strchr(p, '?');
    size_t plen = q ? (size_t)(q - p) : strlen(p);
    if (plen >= sizeof f->path) {
        free(f);
        return kf_errf(err, len, -EINVAL, "fake URI path too long");
    }
    memcpy(f->path, p, plen);
    f->path[plen] = '\0';
    snprintf(f->lock, sizeof f->lock, "%s.lock", f->path);
    if (q) {
        if (strcmp(q, "?latency=paper") == 0) {
            memcpy(f->latency_ms, paper_ms, sizeof paper_ms);
        } else if (strcmp(q, "?latency=0") != 0) {
            free(f);
            return kf_errf(err, len, -EINVAL,
                           "fake URI option '%s' unknown; use ?latency=paper or ?latency=0", q);
        }
    }
    *out = &f->base;
    return 0;
}

int esfm_hv_open(const char *uri, struct esfm_hv **out, char *err, size_t len)
{
    if (strncmp(uri, "fake://", 7) == 0)
        return esfm_hv_fake_open(uri, out, err, len);
#ifdef ESFM_WITH_LIBVIRT
    return esfm_hv_libvirt_open(uri, out, err, len);
#else
    return kf_errf(err, len, -EINVAL,
                   "this esfm was built without libvirt (ESFM_LIBVIRT=OFF); only fake:// URIs "
                   "work, got '%s'",
                   uri);
#endif
}
