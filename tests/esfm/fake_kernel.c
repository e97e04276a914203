/* FAKE kernel for ESFM's tests (see fake_kernel.h): a directory cannot react to writes, so this
 * reproduces what Linux's PCI core does for the attributes ESFM writes. */
#include "fake_kernel.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int put(const char *path, const char *content)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    size_t len = strlen(content);
    ssize_t w = write(fd, content, len);
    close(fd);
    return w == (ssize_t)len ? 0 : -EIO;
}

static int get(const char *path, char *buf, size_t len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t r = read(fd, buf, len - 1);
    close(fd);
    if (r < 0)
        return -EIO;
    buf[r] = '\0';
    while (r > 0 && (buf[r - 1] == '\n' || buf[r - 1] == ' '))
        buf[--r] = '\0';
    return 0;
}

static void sleep_ms(int ms)
{
    if (ms <= 0)
        return;
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static int rm_rf(const char *path)
{
    struct stat st;
    if (lstat(path, &st))
        return -errno;
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            char p[1024];
            snprintf(p, sizeof p, "%s/%s", path, e->d_name);
            rm_rf(p);
        }
        if (d)
            closedir(d);
        return rmdir(path) ? -errno : 0;
    }
    return unlink(path) ? -errno : 0;
}

static void dev_path(struct fake_kernel *k, const char *bdf, const char *attr, char *out,
                     size_t len)
{
    snprintf(out, len, "%s/bus/pci/devices/%s%s%s", k->root, bdf, attr ? "/" : "",
             attr ? attr : "");
}

static bool dev_exists(struct fake_kernel *k, const char *bdf)
{
    char p[1024];
    struct stat st;
    dev_path(k, bdf, NULL, p, sizeof p);
    return stat(p, &st) == 0;
}

static void dev_driver(struct fake_kernel *k, const char *bdf, char *drv, size_t len)
{
    char p[1024], t[512];
    dev_path(k, bdf, "driver", p, sizeof p);
    ssize_t r = readlink(p, t, sizeof t - 1);
    drv[0] = '\0';
    if (r <= 0)
        return;
    t[r] = '\0';
    const char *b = strrchr(t, '/');
    snprintf(drv, len, "%s", b ? b + 1 : t);
}

static int bind_dev(struct fake_kernel *k, const char *bdf, const char *drv)
{
    char p[1024], t[512], dp[1024];
    snprintf(dp, sizeof dp, "%s/bus/pci/drivers/%s", k->root, drv);
    struct stat st;
    if (stat(dp, &st))
        return -ENODEV;
    dev_path(k, bdf, "driver", p, sizeof p);
    snprintf(t, sizeof t, "../../drivers/%s", drv);
    if (symlink(t, p))
        return -errno;
    snprintf(p, sizeof p, "%s/%s", dp, bdf);
    snprintf(t, sizeof t, "../../devices/%s", bdf);
    symlink(t, p);
    return 0;
}

static void unbind_dev(struct fake_kernel *k, const char *bdf)
{
    char p[1024], drv[64];
    dev_driver(k, bdf, drv, sizeof drv);
    if (!drv[0])
        return;
    dev_path(k, bdf, "driver", p, sizeof p);
    unlink(p);
    snprintf(p, sizeof p, "%s/bus/pci/drivers/%s/%s", k->root, drv, bdf);
    unlink(p);
}

static int make_dev(struct fake_kernel *k, const char *bdf, const char *vendor, const char *device)
{
    char p[1024];
    dev_path(k, bdf, NULL, p, sizeof p);
    if (mkdir(p, 0755))
        return -errno;
    const char *attrs[][2] = {{"vendor", vendor},
                              {"device", device},
                              {"driver_override", "(null)\n"},
                              {"remove", ""},
                              {"class", "0x010802\n"}};
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
        char a[1024], v[64];
        dev_path(k, bdf, attrs[i][0], a, sizeof a);
        snprintf(v, sizeof v, "%s%s", attrs[i][1],
                 attrs[i][1][0] && !strchr(attrs[i][1], '\n') ? "\n" : "");
        put(a, v);
    }
    return 0;
}

static unsigned read_u(struct fake_kernel *k, const char *bdf, const char *attr)
{
    char p[1024], b[64];
    dev_path(k, bdf, attr, p, sizeof p);
    if (get(p, b, sizeof b))
        return 0;
    return (unsigned)strtoul(b, NULL, 0);
}

static void vf_bdf(const char *pf, unsigned off, unsigned stride, unsigned i, char out[16])
{
    unsigned d, b, s, f;
    sscanf(pf, "%x:%x:%x.%x", &d, &b, &s, &f);
    unsigned rid = (b << 8 | s << 3 | f) + off + i * stride;
    snprintf(out, 16, "%04x:%02x:%02x.%x", d, (rid >> 8) & 0xff, (rid >> 3) & 31, rid & 7);
}

static void destroy_vfs(struct fake_kernel *k, const char *pf)
{
    unsigned n = read_u(k, pf, "sriov_numvfs");
    for (unsigned i = 0; i < n; i++) {
        char link[1024], name[32], vf[16], p[1024];
        vf_bdf(pf, read_u(k, pf, "sriov_offset"), read_u(k, pf, "sriov_stride"), i, vf);
        unbind_dev(k, vf);
        dev_path(k, vf, NULL, p, sizeof p);
        rm_rf(p);
        snprintf(name, sizeof name, "virtfn%u", i);
        dev_path(k, pf, name, link, sizeof link);
        unlink(link);
    }
    char p[1024];
    dev_path(k, pf, "sriov_numvfs", p, sizeof p);
    put(p, "0\n");
}

static int set_numvfs(struct fake_kernel *k, const char *pf, const char *val)
{
    char *end;
    errno = 0;
    long n = strtol(val, &end, 10);
    if (errno || end == val || *end || n < 0)
        return -EINVAL;
    char drv[64];
    dev_driver(k, pf, drv, sizeof drv);
    unsigned cur = read_u(k, pf, "sriov_numvfs"), total = read_u(k, pf, "sriov_totalvfs");
    /* Order of checks as in drivers/pci/iov.c sriov_numvfs_store(). */
    if ((unsigned long)n > total)
        return -ERANGE;
    if ((unsigned)n == cur)
        return 0;
    if (!drv[0])
        return -ENOENT;
    if (n != 0 && cur != 0)
        return -EBUSY;
    if (n == 0) {
        destroy_vfs(k, pf);
        return 1; /* changed: charge latency */
    }
    char vdev[32], ven[32], p[1024];
    dev_path(k, pf, "sriov_vf_device", p, sizeof p);
    get(p, vdev, sizeof vdev);
    dev_path(k, pf, "vendor", p, sizeof p);
    get(p, ven, sizeof ven);
    for (long i = 0; i < n; i++) {
        char vf[16], link[1024], t[64], name[32];
        vf_bdf(pf, read_u(k, pf, "sriov_offset"), read_u(k, pf, "sriov_stride"), (unsigned)i, vf);
        make_dev(k, vf, ven, vdev);
        dev_path(k, vf, "physfn", link, sizeof link);
        snprintf(t, sizeof t, "../%s", pf);
        symlink(t, link);
        snprintf(name, sizeof name, "virtfn%ld", i);
        dev_path(k, pf, name, link, sizeof link);
        snprintf(t, sizeof t, "../%s", vf);
        symlink(t, link);
    }
    dev_path(k, pf, "sriov_numvfs", p, sizeof p);
    char v[16];
    snprintf(v, sizeof v, "%ld\n", n);
    put(p, v);
    return 1;
}

static int remove_dev(struct fake_kernel *k, const char *bdf)
{
    char from[1024], to[1024], drv[64];
    if (read_u(k, bdf, "sriov_totalvfs"))
        destroy_vfs(k, bdf);
    dev_driver(k, bdf, drv, sizeof drv);
    unbind_dev(k, bdf);
    snprintf(to, sizeof to, "%s/.fake-removed", k->root);
    mkdir(to, 0755);
    snprintf(to, sizeof to, "%s/.fake-removed/%s.driver", k->root, bdf);
    put(to, drv);
    dev_path(k, bdf, NULL, from, sizeof from);
    snprintf(to, sizeof to, "%s/.fake-removed/%s", k->root, bdf);
    return rename(from, to) ? -errno : 0;
}

static int rescan(struct fake_kernel *k)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/.fake-removed", k->root);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || strstr(e->d_name, ".driver"))
            continue;
        char from[1024], to[1024], drvf[1024], drv[64] = "", ovr[64] = "";
        snprintf(from, sizeof from, "%s/%s", dir, e->d_name);
        dev_path(k, e->d_name, NULL, to, sizeof to);
        if (rename(from, to))
            continue;
        snprintf(drvf, sizeof drvf, "%s/%s.driver", dir, e->d_name);
        get(drvf, drv, sizeof drv);
        unlink(drvf);
        /* Probing on rescan: driver_override wins, else the driver it had (its id match). */
        char p[1024];
        dev_path(k, e->d_name, "driver_override", p, sizeof p);
        get(p, ovr, sizeof ovr);
        const char *use = strcmp(ovr, "(null)") && ovr[0] ? ovr : drv;
        if (use[0])
            bind_dev(k, e->d_name, use);
    }
    closedir(d);
    return 1;
}

static int fake_write(void *priv, const char *path, const char *value)
{
    struct fake_kernel *k = priv;
    size_t rl = strlen(k->root);
    if (strncmp(path, k->root, rl) != 0 || path[rl] != '/')
        return -ENOENT;
    const char *rel = path + rl + 1;
    char val[256];
    snprintf(val, sizeof val, "%s", value);
    size_t vl = strlen(val);
    while (vl && val[vl - 1] == '\n')
        val[--vl] = '\0';
    int rc = 0, charge = 0;
    /* Linux serialises these under device_lock; the tree is shared by processes, so a file
     * lock does it here (the mutex covers threads of one process). */
    pthread_mutex_lock(&k->lock);
    char lp[600];
    snprintf(lp, sizeof lp, "%s/.fake-kernel.lock", k->root);
    int lfd = open(lp, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (lfd >= 0)
        flock(lfd, LOCK_EX);
    char bdf[32], attr[128], drv[64];
    struct stat st;
    if (strcmp(rel, "bus/pci/rescan") == 0) {
        rescan(k);
        charge = k->rescan_ms;
    } else if (strcmp(rel, "bus/pci/drivers_probe") == 0) {
        char cur[64], ovr[64] = "", p[1024];
        if (!dev_exists(k, val)) {
            rc = -ENODEV;
        } else {
            dev_driver(k, val, cur, sizeof cur);
            dev_path(k, val, "driver_override", p, sizeof p);
            get(p, ovr, sizeof ovr);
            if (!cur[0] && ovr[0] && strcmp(ovr, "(null)"))
                bind_dev(k, val, ovr); /* no such driver: nothing binds, no error */
        }
    } else if (sscanf(rel, "bus/pci/drivers/%63[^/]/%127s", drv, attr) == 2 &&
               (!strcmp(attr, "bind") || !strcmp(attr, "unbind"))) {
        char cur[64];
        if (!dev_exists(k, val)) {
            rc = -ENODEV;
        } else {
            dev_driver(k, val, cur, sizeof cur);
            if (!strcmp(attr, "bind"))
                rc = cur[0] ? -EBUSY : bind_dev(k, val, drv);
            else if (strcmp(cur, drv) != 0)
                rc = -ENODEV;
            else
                unbind_dev(k, val);
        }
    } else if (sscanf(rel, "bus/pci/devices/%31[^/]/%127s", bdf, attr) == 2) {
        if (!dev_exists(k, bdf)) {
            rc = -ENOENT;
        } else if (!strcmp(attr, "sriov_numvfs")) {
            rc = set_numvfs(k, bdf, val);
            if (rc > 0) {
                charge = k->numvfs_ms;
                rc = 0;
            }
        } else if (!strcmp(attr, "remove")) {
            rc = remove_dev(k, bdf);
        } else if (!strcmp(attr, "driver_override")) {
            char line[300];
            snprintf(line, sizeof line, "%s\n", vl ? val : "(null)");
            rc = put(path, line);
        } else if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) {
            char line[300];
            snprintf(line, sizeof line, "%s\n", val);
            rc = put(path, line);
        } else {
            rc = -ENOENT;
        }
    } else {
        rc = -ENOENT;
    }
    if (lfd >= 0)
        close(lfd);
    pthread_mutex_unlock(&k->lock);
    sleep_ms(charge);
    return rc;
}

int fake_kernel_add_driver(struct fake_kernel *k, const char *driver)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/bus/pci/drivers/%s", k->root, driver);
    if (mkdir(p, 0755) && errno != EEXIST)
        return -errno;
    const char *files[] = {"bind", "unbind", "new_id"};
    for (int i = 0; i < 3; i++) {
        char f[1100];
        snprintf(f, sizeof f, "%s/%s", p, files[i]);
        put(f, "");
    }
    return 0;
}

int fake_kernel_init(struct fake_kernel *k, const char *root)
{
    memset(k, 0, sizeof *k);
    snprintf(k->root, sizeof k->root, "%s", root);
    pthread_mutex_init(&k->lock, NULL);
    k->ops.write_attr = fake_write;
    k->ops.priv = k;
    const char *dirs[] = {"bus", "bus/pci", "bus/pci/devices", "bus/pci/drivers"};
    for (int i = 0; i < 4; i++) {
        char p[1024];
        snprintf(p, sizeof p, "%s/%s", root, dirs[i]);
        if (mkdir(p, 0755) && errno != EEXIST)
            return -errno;
    }
    char p[1024];
    snprintf(p, sizeof p, "%s/bus/pci/rescan", root);
    put(p, "");
    snprintf(p, sizeof p, "%s/bus/pci/drivers_probe", root);
    put(p, "");
    fake_kernel_add_driver(k, "vfio-pci");
    fake_kernel_add_driver(k, "pci-pf-stub");
    return 0;
}

void fake_kernel_fini(struct fake_kernel *k)
{
    pthread_mutex_destroy(&k->lock);
}

void fake_kernel_set_latency(struct fake_kernel *k, const char *profile)
{
    bool paper = profile && !strcmp(profile, "paper");
    k->rescan_ms = paper ? 138 : 0;
    k->numvfs_ms = paper ? 628 : 0; /* the paper's 1256 ms "change #VF" covers 0 then N */
}

int fake_kernel_add_pf(struct fake_kernel *k, const char *bdf, const char *vendor,
                       const char *device, unsigned total, const char *driver, int qmax)
{
    int rc = make_dev(k, bdf, vendor, device);
    if (rc)
        return rc;
    char v[32];
    snprintf(v, sizeof v, "%u\n", total);
    const char *attrs[][2] = {{"sriov_totalvfs", v},           {"sriov_numvfs", "0\n"},
                              {"sriov_offset", "1\n"},         {"sriov_stride", "1\n"},
                              {"sriov_vf_device", "0x0011\n"}, {"sriov_drivers_autoprobe", "1\n"}};
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
        char p[1024];
        dev_path(k, bdf, attrs[i][0], p, sizeof p);
        put(p, attrs[i][1]);
    }
    if (qmax >= 0) {
        char p[1024], q[32];
        dev_path(k, bdf, "qdma", p, sizeof p);
        mkdir(p, 0755);
        dev_path(k, bdf, "qdma/qmax", p, sizeof p);
        snprintf(q, sizeof q, "%d\n", qmax);
        put(p, q);
    }
    return driver ? bind_dev(k, bdf, driver) : 0;
}

int fake_kernel_add_device(struct fake_kernel *k, const char *bdf, const char *driver)
{
    int rc = make_dev(k, bdf, "0x8086", "0x10d3");
    return rc ? rc : (driver ? bind_dev(k, bdf, driver) : 0);
}

int fake_kernel_read(struct fake_kernel *k, const char *bdf, const char *attr, char *buf,
                     size_t len)
{
    char p[1024];
    dev_path(k, bdf, attr, p, sizeof p);
    return get(p, buf, len);
}

int fake_kernel_put(struct fake_kernel *k, const char *relpath, const char *content)
{
    char p[1024];
    snprintf(p, sizeof p, "%s/%s", k->root, relpath);
    char *slash = strrchr(p, '/');
    if (slash) {
        *slash = '\0';
        mkdir(p, 0755);
        *slash = '/';
    }
    return put(p, content);
}
