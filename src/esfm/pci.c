/* The PCI tree under <sysfs-root>/bus/pci: reads of devices, drivers and SR-IOV links, and one
 * named helper per sysfs write (as libvirt's virpci.c does), each reporting path and errno. */
#include "esfm_internal.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int esfm_pci_path(struct esfm_ctx *ctx, const char *bdf, const char *attr, char *buf, size_t len)
{
    int n = snprintf(buf, len, "%s/bus/pci/devices/%s%s%s", ctx->sysfs_root, bdf, attr ? "/" : "",
                     attr ? attr : "");
    return (n < 0 || (size_t)n >= len) ? -ENAMETOOLONG : 0;
}

bool esfm_pci_exists(struct esfm_ctx *ctx, const char *bdf)
{
    char p[512];
    struct stat st;
    return esfm_pci_path(ctx, bdf, NULL, p, sizeof p) == 0 && stat(p, &st) == 0;
}

bool esfm_pci_is_pf(struct esfm_ctx *ctx, const char *bdf)
{
    char p[512];
    return esfm_pci_path(ctx, bdf, "sriov_totalvfs", p, sizeof p) == 0 && access(p, R_OK) == 0;
}

int esfm_pci_read_str(struct esfm_ctx *ctx, const char *bdf, const char *attr, char *buf,
                      size_t len)
{
    char p[512];
    if (esfm_pci_path(ctx, bdf, attr, p, sizeof p))
        return -ENAMETOOLONG;
    int fd = open(p, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t r = read(fd, buf, len - 1);
    int e = errno;
    close(fd);
    if (r < 0)
        return -e;
    buf[r] = '\0';
    while (r > 0 && isspace((unsigned char)buf[r - 1]))
        buf[--r] = '\0';
    return 0;
}

int esfm_pci_read_uint(struct esfm_ctx *ctx, const char *bdf, const char *attr, unsigned *v,
                       char *err, size_t errlen)
{
    char buf[64], p[512];
    esfm_pci_path(ctx, bdf, attr, p, sizeof p);
    int rc = esfm_pci_read_str(ctx, bdf, attr, buf, sizeof buf);
    if (rc)
        return kf_errf(err, errlen, rc, "cannot read %s: %s", p, strerror(-rc));
    char *end;
    errno = 0;
    unsigned long x = strtoul(buf, &end, 0);
    if (errno || end == buf || x > 0xffffffffUL)
        return kf_errf(err, errlen, -EIO, "%s holds '%s', not a number", p, buf);
    *v = (unsigned)x;
    return 0;
}

static int read_link_base(const char *path, char *out, size_t len)
{
    char target[512];
    ssize_t r = readlink(path, target, sizeof target - 1);
    if (r < 0)
        return -errno;
    target[r] = '\0';
    const char *b = strrchr(target, '/');
    snprintf(out, len, "%s", b ? b + 1 : target);
    return 0;
}

int esfm_pci_physfn(struct esfm_ctx *ctx, const char *vf, char pf[ESFM_BDF_LEN])
{
    char p[512];
    esfm_pci_path(ctx, vf, "physfn", p, sizeof p);
    return read_link_base(p, pf, ESFM_BDF_LEN);
}

void esfm_pci_driver(struct esfm_ctx *ctx, const char *bdf, char *drv, size_t len)
{
    char p[512];
    drv[0] = '\0';
    esfm_pci_path(ctx, bdf, "driver", p, sizeof p);
    if (read_link_base(p, drv, len))
        drv[0] = '\0';
}

bool esfm_pci_driver_exists(struct esfm_ctx *ctx, const char *driver)
{
    char p[512];
    struct stat st;
    snprintf(p, sizeof p, "%s/bus/pci/drivers/%s", ctx->sysfs_root, driver);
    return stat(p, &st) == 0;
}

int esfm_pci_list_vfs(struct esfm_ctx *ctx, const char *pf, char (**vfs)[ESFM_BDF_LEN], size_t *n)
{
    *vfs = NULL;
    *n = 0;
    unsigned total = 0;
    if (esfm_pci_read_uint(ctx, pf, "sriov_totalvfs", &total, NULL, 0))
        return -ENOENT;
    if (total > 65535) /* TotalVFs is a 16-bit field of the SR-IOV capability */
        return -EIO;
    char(*out)[ESFM_BDF_LEN] = calloc(total ? total : 1, ESFM_BDF_LEN);
    if (!out)
        return -ENOMEM;
    size_t k = 0;
    for (unsigned i = 0; i < total; i++) {
        char name[32], p[512];
        snprintf(name, sizeof name, "virtfn%u", i);
        esfm_pci_path(ctx, pf, name, p, sizeof p);
        if (read_link_base(p, out[k], ESFM_BDF_LEN) == 0)
            k++;
    }
    *vfs = out;
    *n = k;
    return 0;
}

static int cmp_bdf(const void *a, const void *b)
{
    return strcmp(a, b);
}

int esfm_pci_list_pfs(struct esfm_ctx *ctx, char (**pfs)[ESFM_BDF_LEN], size_t *n)
{
    char p[512];
    snprintf(p, sizeof p, "%s/bus/pci/devices", ctx->sysfs_root);
    *pfs = NULL;
    *n = 0;
    DIR *d = opendir(p);
    if (!d)
        return -errno;
    size_t cap = 0, k = 0;
    char(*out)[ESFM_BDF_LEN] = NULL;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        if (!esfm_valid_bdf(e->d_name) || !esfm_pci_is_pf(ctx, e->d_name))
            continue;
        if (k == cap) {
            cap = cap ? 2 * cap : 8;
            void *nw = realloc(out, cap * ESFM_BDF_LEN);
            if (!nw) {
                rc = -ENOMEM;
                break;
            }
            out = nw;
        }
        snprintf(out[k++], ESFM_BDF_LEN, "%s", e->d_name);
    }
    closedir(d);
    if (rc) {
        free(out);
        return rc;
    }
    if (k)
        qsort(out, k, ESFM_BDF_LEN, cmp_bdf);
    *pfs = out;
    *n = k;
    return 0;
}

int esfm_pci_find_by_id(struct esfm_ctx *ctx, const char *id, char pf[ESFM_BDF_LEN])
{
    unsigned ven, dev;
    char tail;
    if (sscanf(id, "%4x:%4x%c", &ven, &dev, &tail) != 2)
        return -EINVAL;
    char(*pfs)[ESFM_BDF_LEN];
    size_t n;
    int rc = esfm_pci_list_pfs(ctx, &pfs, &n);
    if (rc)
        return rc;
    rc = -ENOENT;
    for (size_t i = 0; i < n && rc; i++) {
        unsigned v = 0, d = 0;
        if (esfm_pci_read_uint(ctx, pfs[i], "vendor", &v, NULL, 0) == 0 &&
            esfm_pci_read_uint(ctx, pfs[i], "device", &d, NULL, 0) == 0 && v == ven && d == dev) {
            snprintf(pf, ESFM_BDF_LEN, "%s", pfs[i]);
            rc = 0;
        }
    }
    free(pfs);
    return rc;
}

/* ---- writes: one helper per attribute ---- */

static int write_attr(struct esfm_ctx *ctx, const char *path, const char *value, const char *why,
                      char *err, size_t len)
{
    int rc = ctx->sysfs.write_attr(ctx->sysfs.priv, path, value);
    if (rc)
        return kf_errf(err, len, rc, "%s: writing '%s' to %s failed: %s", why, value, path,
                       strerror(-rc));
    return 0;
}

static int write_dev_attr(struct esfm_ctx *ctx, const char *bdf, const char *attr,
                          const char *value, const char *why, char *err, size_t len)
{
    char p[512];
    if (esfm_pci_path(ctx, bdf, attr, p, sizeof p))
        return kf_errf(err, len, -ENAMETOOLONG, "sysfs path too long for %s", bdf);
    return write_attr(ctx, p, value, why, err, len);
}

int esfm_pci_set_numvfs(struct esfm_ctx *ctx, const char *pf, unsigned n, char *err, size_t len)
{
    char v[16];
    snprintf(v, sizeof v, "%u", n);
    return write_dev_attr(ctx, pf, "sriov_numvfs", v, "set VF count", err, len);
}

int esfm_pci_set_autoprobe(struct esfm_ctx *ctx, const char *pf, bool on, char *err, size_t len)
{
    return write_dev_attr(ctx, pf, "sriov_drivers_autoprobe", on ? "1" : "0",
                          "set VF driver autoprobe", err, len);
}

int esfm_pci_set_qmax(struct esfm_ctx *ctx, const char *pf, unsigned q, char *err, size_t len)
{
    char v[16];
    snprintf(v, sizeof v, "%u", q);
    return write_dev_attr(ctx, pf, "qdma/qmax", v, "set QDMA queue budget", err, len);
}

int esfm_pci_remove(struct esfm_ctx *ctx, const char *bdf, char *err, size_t len)
{
    return write_dev_attr(ctx, bdf, "remove", "1", "remove device", err, len);
}

int esfm_pci_rescan(struct esfm_ctx *ctx, char *err, size_t len)
{
    char p[512];
    snprintf(p, sizeof p, "%s/bus/pci/rescan", ctx->sysfs_root);
    return write_attr(ctx, p, "1", "rescan PCI bus", err, len);
}

int esfm_pci_unbind(struct esfm_ctx *ctx, const char *bdf, char *err, size_t len)
{
    char drv[64], p[512];
    esfm_pci_driver(ctx, bdf, drv, sizeof drv);
    if (!drv[0])
        return 0;
    snprintf(p, sizeof p, "%s/bus/pci/drivers/%s/unbind", ctx->sysfs_root, drv);
    return write_attr(ctx, p, bdf, "unbind device", err, len);
}

int esfm_pci_set_driver_override(struct esfm_ctx *ctx, const char *bdf, const char *driver,
                                 char *err, size_t len)
{
    /* An empty write clears the override; the kernel wants a newline for that. */
    return write_dev_attr(ctx, bdf, "driver_override", driver && *driver ? driver : "\n",
                          "set driver_override", err, len);
}

int esfm_pci_probe(struct esfm_ctx *ctx, const char *bdf, char *err, size_t len)
{
    char p[512];
    snprintf(p, sizeof p, "%s/bus/pci/drivers_probe", ctx->sysfs_root);
    return write_attr(ctx, p, bdf, "probe drivers", err, len);
}

int esfm_pci_bind_with_driver_override(struct esfm_ctx *ctx, const char *bdf, const char *driver,
                                       char *err, size_t len)
{
    char cur[64];
    esfm_pci_driver(ctx, bdf, cur, sizeof cur);
    if (strcmp(cur, driver) == 0)
        return 0;
    if (!esfm_pci_driver_exists(ctx, driver))
        return kf_errf(err, len, -ENOENT,
                       "driver %s is not loaded (no %s/bus/pci/drivers/%s); load its module",
                       driver, ctx->sysfs_root, driver);
    int rc = esfm_pci_unbind(ctx, bdf, err, len);
    if (!rc)
        rc = esfm_pci_set_driver_override(ctx, bdf, driver, err, len);
    if (!rc)
        rc = esfm_pci_probe(ctx, bdf, err, len);
    if (rc)
        return rc;
    esfm_pci_driver(ctx, bdf, cur, sizeof cur);
    if (strcmp(cur, driver) != 0)
        return kf_errf(err, len, -EIO, "%s did not bind to %s after drivers_probe (bound: %s)", bdf,
                       driver, cur[0] ? cur : "none");
    return 0;
}
