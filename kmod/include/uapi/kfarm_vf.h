/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kfarm_vf ioctl ABI: a process that uses a VF announces the DMA queues it
 * starts and stops, so that the host knows the VF is busy (see docs/kmod.md).
 *
 * The device node is /dev/kfarm_vf/<VF BDF>, e.g. /dev/kfarm_vf/0000:01:00.1.
 * Queues are counted per open file: closing the file deletes every queue it
 * added. Both ioctls return the VF's active queue count after the call (>= 0)
 * or -1 with errno set, and change nothing when they fail:
 *
 *   EFAULT  the argument pointer is not readable
 *   EINVAL  count is 0, or flags or reserved is not 0
 *   ERANGE  ADD would take the VF above KFARM_VF_MAX_QUEUES, or DEL asks for
 *           more queues than this file holds
 *   EBUSY   the PF is changing its VF count right now
 *   ENODEV  the VF was removed (unbound or VFs disabled); only close() works
 *   ENOTTY  unknown ioctl
 */
#ifndef _UAPI_KFARM_VF_H
#define _UAPI_KFARM_VF_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Queues one VF may have active, the QDMA IP's queue count per function. */
#define KFARM_VF_MAX_QUEUES	2048

/**
 * struct kfarm_vf_queues - argument of KFARM_VF_QUEUE_ADD and _DEL
 * @count: queues to add or delete, 1..KFARM_VF_MAX_QUEUES
 * @flags: must be 0 (reserved for queue types)
 * @reserved: must be 0
 */
struct kfarm_vf_queues {
	__u32 count;
	__u32 flags;
	__u64 reserved;
};

/* Out-of-tree, so not in ioctl-number.rst; the size field keeps it distinct. */
#define KFARM_VF_IOC_MAGIC	0xF4

/* Mark @count more queues of this VF active (QDMA mailbox "queue add"). */
#define KFARM_VF_QUEUE_ADD	_IOW(KFARM_VF_IOC_MAGIC, 0x01, struct kfarm_vf_queues)
/* Mark @count of this file's queues inactive (QDMA mailbox "queue delete"). */
#define KFARM_VF_QUEUE_DEL	_IOW(KFARM_VF_IOC_MAGIC, 0x02, struct kfarm_vf_queues)

#endif /* _UAPI_KFARM_VF_H */
