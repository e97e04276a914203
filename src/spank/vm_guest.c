/* The guest's sysfs in mode=vm: a VF the host hot-plugs shows up at the guest address esfmd
 * promised (pinned in the hostdev XML); the prolog waits for it, bounded, and binds the driver
 * the tasks use, one named write per step as in ESFM's pci.c. */
#include "vm.h"

#include "clock.h"
#include "errbuf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void dev_path(const char *root, const char *bdf, const char *attr, char *out, size_t len)
{
    snprintf(out, len, "%s/bus/pci/devices/%s%s%s", root[0] ? root : "/sys", bdf,
             attr ? "/" : "", attr ? attr : "");
}

static int write_attr(const char *path, const char *value, char *err, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return kf_errf(err, errlen, -errno, "cannot open %s: %s", path, strerror(errno));
    ssize_t n = write(fd, value, strlen(value));
    int e = n < 0 ? errno : 0;
    close(fd);
    if (n < 0)
        return kf_errf(err, errlen, -e, "writing '%s' to %s: %s", value, path, strerror(e));
    return 0;
}

static void current_driver(const char *root, const char *bdf, char *drv, size_t len)
{
    char link[PATH_MAX], target[PATH_MAX];
    dev_path(root, bdf, "driver", link, sizeof link);
    ssize_t n = readlink(link, target, sizeof target - 1);
    drv[0] = '\0';
    if (n <= 0)
        return;
    target[n] = '\0';
    const char *slash = strrchr(target, '/'), *name = slash ? slash + 1 : target;
    size_t l = strnlen(name, len - 1);
    memcpy(drv, name, l);
    drv[l] = '\0';
}

int ks_guest_wait_vf(const char *sysfs_root, const char *bdf, uint64_t deadline_ns, char *err,
                     size_t errlen)
{
    char path[PATH_MAX], rescan[PATH_MAX];
    dev_path(sysfs_root, bdf, NULL, path, sizeof path);
    snprintf(rescan, sizeof rescan, "%s/bus/pci/rescan", sysfs_root[0] ? sysfs_root : "/sys");
    uint64_t start = kf_now_ns();
    bool rescanned = false;
    while (access(path, F_OK) != 0) {
        uint64_t now = kf_now_ns();
        if (now >= deadline_ns)
            return kf_errf(err, errlen, -ETIMEDOUT,
                           "VF %s did not appear in this VM (%s) within %llu ms of the host's "
                           "attach",
                           bdf, path, (unsigned long long)((now - start) / 1000000ull));
        /* ACPI/pciehp hot-plug normally announces the device; a rescan catches a missed one. */
        if (!rescanned && now - start > (deadline_ns - start) / 2) {
            char e2[256];
            write_attr(rescan, "1", e2, sizeof e2);
            rescanned = true;
        }
        struct timespec ts = {0, 20 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return 0;
}

int ks_guest_bind(const char *sysfs_root, const char *bdf, const char *driver, char *err,
                  size_t errlen)
{
    char drv[64], path[PATH_MAX];
    current_driver(sysfs_root, bdf, drv, sizeof drv);
    if (strcmp(drv, driver) == 0)
        return 0;
    int rc;
    if (drv[0]) {
        dev_path(sysfs_root, bdf, "driver/unbind", path, sizeof path);
        if ((rc = write_attr(path, bdf, err, errlen)))
            return rc;
    }
    dev_path(sysfs_root, bdf, "driver_override", path, sizeof path);
    if ((rc = write_attr(path, driver, err, errlen)))
        return rc;
    snprintf(path, sizeof path, "%s/bus/pci/drivers_probe", sysfs_root[0] ? sysfs_root : "/sys");
    if ((rc = write_attr(path, bdf, err, errlen)))
        return rc;
    current_driver(sysfs_root, bdf, drv, sizeof drv);
    if (strcmp(drv, driver) != 0)
        return kf_errf(err, errlen, -EIO,
                       "VF %s is bound to '%s' after probing, not to %s (is the %s module loaded "
                       "in this VM?)",
                       bdf, drv, driver, driver);
    return 0;
}
