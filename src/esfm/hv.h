/* The hypervisor interface: attach/detach PCI hostdevs, QMP device_pause, list hostdevs.
 * Backends: libvirt (hv_libvirt.c) and the named fake (hv_fake.c, URI fake:///state.json). */
#ifndef ESFM_HV_H
#define ESFM_HV_H

#include <kfarm/esfm.h>

struct esfm_hv;

/* Return codes: 0, -ENOENT (domain or device not found), -EBUSY (device already used by a
 * domain), -EOPNOTSUPP (QEMU answered CommandNotFound), -ETIMEDOUT (no device-removed event in
 * time), -EREMOTEIO (any other hypervisor failure; err has its message).
 * attach's guest_bdf is in and out: a non-empty address on entry pins the VF there (-EBUSY when
 * the domain already has a device at it); on return it holds the address the guest sees. */
struct esfm_hv_ops {
    const char *name;
    void (*close)(struct esfm_hv *hv);
    int (*domain_lookup)(struct esfm_hv *hv, const char *domain, char *err, size_t len);
    int (*attach)(struct esfm_hv *hv, const char *domain, const char *bdf, const char *alias,
                  unsigned flags, char guest_bdf[ESFM_BDF_LEN], char *err, size_t len);
    int (*detach)(struct esfm_hv *hv, const char *domain, const char *bdf, const char *alias,
                  unsigned flags, int timeout_ms, char *err, size_t len);
    int (*pause)(struct esfm_hv *hv, const char *domain, const char *alias, bool pause, char *err,
                 size_t len);
    int (*list)(struct esfm_hv *hv, struct esfm_hostdev **out, size_t *n, char *err, size_t len);
    /* false once the connection to the hypervisor is lost (libvirtd restarted or crashed): the
     * outcome of a call that failed then is unknown. NULL: never lost (the fake). */
    bool (*alive)(struct esfm_hv *hv);
    /* 1 when the domain runs, 0 when it is defined but stopped, -ENOENT when unknown (a
     * transient domain that stopped), -EREMOTEIO. esfmd releases a stopped domain's VFs. */
    int (*domain_active)(struct esfm_hv *hv, const char *domain, char *err, size_t len);
};

struct esfm_hv {
    const struct esfm_hv_ops *ops;
};

int esfm_hv_open(const char *uri, struct esfm_hv **out, char *err, size_t len);
int esfm_hv_fake_open(const char *uri, struct esfm_hv **out, char *err, size_t len);
#ifdef ESFM_WITH_LIBVIRT
int esfm_hv_libvirt_open(const char *uri, struct esfm_hv **out, char *err, size_t len);
#endif
/* The hostdev XML ESFM attaches (shared by the libvirt backend and its tests). guest (NULL or
 * "": the hypervisor chooses) pins the guest PCI address: <address type='pci' .../>. */
int esfm_hostdev_xml(const char *bdf, const char *alias, const char *guest, char *buf,
                     size_t len);
/* Parses every PCI hostdev of a domain XML into *out (appends, growing *n). */
int esfm_hostdevs_from_xml(const char *domain, const char *xml, struct esfm_hostdev **out,
                           size_t *n);
/* True when a QMP reply or error text says the command does not exist. */
bool esfm_qmp_is_command_not_found(const char *text);
#endif
