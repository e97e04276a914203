/* mode=vm's guest side: the esfmd channel (a virtio-serial port, or a UNIX socket in tests) and
 * the guest's sysfs (wait for a hot-plugged VF at its promised address, bind its driver). */
#ifndef KFARM_SPANK_VM_H
#define KFARM_SPANK_VM_H

#include "kfarm_spank.h"

#include <kfarm/esfmd_proto.h>

#include <stdint.h>

/* Sends "esfm1 ID VERB k=v..." and waits until cfg->channel_timeout_ms for the reply with that
 * ID (lines with other ids, left by an earlier opener of the port, are skipped). 0 on "ok" with
 * the reply in *reply; an "err" reply gives its code (-EACCES...) and esfmd's text in err; a
 * transport failure -EIO/-ETIMEDOUT with what to check. */
int ks_channel_call(const struct ks_config *cfg, const char *verb, const char *const *kv,
                    struct esfmd_msg *reply, char *err, size_t errlen);

/* Waits until deadline_ns (kf_now_ns) for <sysfs_root>/bus/pci/devices/<bdf>; asks the guest
 * kernel for one PCI rescan when half the time has gone. */
int ks_guest_wait_vf(const char *sysfs_root, const char *bdf, uint64_t deadline_ns, char *err,
                     size_t errlen);
/* Binds bdf to driver (driver_override + drivers_probe) unless it is bound to it already, and
 * checks the result. */
int ks_guest_bind(const char *sysfs_root, const char *bdf, const char *driver, char *err,
                  size_t errlen);
#endif
