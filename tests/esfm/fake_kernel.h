/* FAKE kernel for ESFM's tests: a PCI sysfs tree in a temp dir plus the kernel's reactions to
 * writes (VF creation on sriov_numvfs, EBUSY/ERANGE/ENOENT, bind/unbind, drivers_probe, remove
 * and rescan), plugged in as ESFM's sysfs ops. Never built into libesfm. */
#ifndef ESFM_FAKE_KERNEL_H
#define ESFM_FAKE_KERNEL_H

#include <kfarm/esfm.h>
#include <pthread.h>

struct fake_kernel {
    char root[512];
    int rescan_ms, numvfs_ms; /* charged latencies (0 = none) */
    pthread_mutex_t lock;
    struct esfm_sysfs_ops ops;
};

/* Makes the skeleton (bus/pci/devices, drivers vfio-pci and pci-pf-stub, rescan,
 * drivers_probe) under root, which must exist. */
int fake_kernel_init(struct fake_kernel *k, const char *root);
void fake_kernel_fini(struct fake_kernel *k);
/* "paper": rescan 138 ms, a VF count change 1256 ms = 628 ms for each of the two writes (0, then
 * N) (EVEREST D5.5 table 2, one VF). */
void fake_kernel_set_latency(struct fake_kernel *k, const char *profile);
int fake_kernel_add_driver(struct fake_kernel *k, const char *driver);
/* An SR-IOV PF: vendor/device ids as "0x1b36"; driver may be NULL (unbound); qmax < 0 means no
 * qdma/qmax attribute. VFs get routing id PF + offset + i * stride. */
int fake_kernel_add_pf(struct fake_kernel *k, const char *bdf, const char *vendor,
                       const char *device, unsigned total, const char *driver, int qmax);
int fake_kernel_add_device(struct fake_kernel *k, const char *bdf, const char *driver);
/* Reads an attribute of a device into buf (trailing newline removed); returns 0 or -errno. */
int fake_kernel_read(struct fake_kernel *k, const char *bdf, const char *attr, char *buf,
                     size_t len);
/* Writes a file in the tree directly (test setup: kfarm/busy counters). */
int fake_kernel_put(struct fake_kernel *k, const char *relpath, const char *content);
#endif
