/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kfarm_vf internals shared by the PF driver (pf.c), the VF driver (vf.c)
 * and the module glue (main.c).
 *
 * Locking: one mutex, kfarm_vf_lock, guards every field marked [L] below:
 * the per-VF slots of each PF, pf->num_vfs, pf->reconfiguring and vf->pf.
 * It is only held for short bookkeeping, never across pci_enable_sriov(),
 * pci_disable_sriov(), device registration or removal, or user copies,
 * because those take device locks or wait for sysfs readers that may
 * themselves be waiting for kfarm_vf_lock. Lock order: device_lock (taken
 * by the driver core around probe/remove/sriov_configure) -> kfarm_vf_lock.
 */
#ifndef KFARM_VF_H
#define KFARM_VF_H

#include <linux/cdev.h>
#include <linux/device.h>
#include <linux/mutex.h>
#include <linux/pci.h>
#include <linux/types.h>

#define KFARM_VF_NAME		"kfarm_vf"
#define KFARM_PF_NAME		"kfarm_pf"
/* Minor numbers, one per VF bound to the VF driver. */
#define KFARM_VF_MINORS		256

extern struct mutex kfarm_vf_lock;
extern struct class *kfarm_vf_class;
extern dev_t kfarm_vf_devt;
extern struct pci_driver kfarm_pf_driver;
extern struct pci_driver kfarm_vf_driver;

struct kfarm_vf;

/*
 * What the PF knows about one of its VFs: the queue count the VF reported
 * (the QDMA mailbox queue-add/queue-delete bookkeeping) and who opened it.
 */
struct kfarm_vf_slot {
	unsigned int queues;		/* [L] active queues */
	unsigned int opens;		/* [L] open files of the VF's device */
	pid_t opener;			/* [L] tgid of the last opener, 0 if none open */
	struct kfarm_vf *vf;		/* [L] VF driver state, NULL if not bound */
	char bdf[20];			/* [L] the VF's PCI name, set when enabled */
};

/* PF driver state, drvdata of the PF. */
struct kfarm_pf {
	struct pci_dev *pdev;
	int total_vfs;			/* size of @slots */
	int num_vfs;			/* [L] VFs enabled */
	bool reconfiguring;		/* [L] VF count changing: no queue adds */
	struct kfarm_vf_slot *slots;	/* [L] indexed by VF id */
};

/*
 * VF driver state. @dev is the character device (class kfarm_vf); its
 * release frees this struct, so open files, which pin @cdev and through it
 * @dev, keep it alive after the VF is removed.
 */
struct kfarm_vf {
	struct device dev;
	struct cdev cdev;
	struct pci_dev *pdev;
	struct kfarm_pf *pf;		/* [L] NULL once the VF is removed */
	int index;			/* VF id at the PF */
};

unsigned int kfarm_pf_busy_total(struct kfarm_pf *pf);
void kfarm_vf_slot_clear(struct kfarm_vf_slot *slot);

#endif /* KFARM_VF_H */
