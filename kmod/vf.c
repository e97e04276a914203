// SPDX-License-Identifier: GPL-2.0
/*
 * kfarm_vf VF driver: one character device per VF, /dev/kfarm_vf/<bdf>, whose
 * ioctls raise and lower the VF's active queue count kept at its PF (as the
 * QDMA mailbox does), and the VF's sysfs group kfarm/ (busy).
 *
 * Locking: kfarm_vf_lock (see kfarm_vf.h) guards the slot counters, vf->pf and
 * each open file's queue count; ioctl, open and release take it for a few
 * instructions and never copy to or from user memory while holding it. The
 * driver core holds the VF's device_lock around probe and remove. Lifetime:
 * struct kfarm_vf is freed by the release of its class device, which every
 * open file pins through the cdev, so a VF removed while open only turns the
 * file's ioctls into -ENODEV; its queues are dropped from the PF at removal.
 */
#include <linux/fs.h>
#include <linux/idr.h>
#include <linux/module.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "kfarm_vf.h"
#include "include/uapi/kfarm_vf.h"

/* One open file of a VF's character device. */
struct kfarm_vf_file {
	struct kfarm_vf *vf;
	unsigned int queues;	/* [L] queues added through this file */
};

static DEFINE_IDA(kfarm_vf_minors);

/* The PF's slot for @vf, or NULL once the VF was removed. */
static struct kfarm_vf_slot *kfarm_vf_slot(struct kfarm_vf *vf)
{
	lockdep_assert_held(&kfarm_vf_lock);
	return vf->pf ? &vf->pf->slots[vf->index] : NULL;
}

static long kfarm_vf_queue_add(struct kfarm_vf_file *vff, u32 count)
{
	struct kfarm_vf_slot *slot = kfarm_vf_slot(vff->vf);

	lockdep_assert_held(&kfarm_vf_lock);
	if (!slot)
		return -ENODEV;
	if (vff->vf->pf->reconfiguring)
		return -EBUSY;
	if (count > KFARM_VF_MAX_QUEUES - slot->queues)
		return -ERANGE;
	/* A file with queues pins the module: rmmod fails while any is busy. */
	if (!vff->queues)
		__module_get(THIS_MODULE);
	vff->queues += count;
	slot->queues += count;
	return slot->queues;
}

static long kfarm_vf_queue_del(struct kfarm_vf_file *vff, u32 count)
{
	struct kfarm_vf_slot *slot = kfarm_vf_slot(vff->vf);

	lockdep_assert_held(&kfarm_vf_lock);
	if (!slot)
		return -ENODEV;
	if (count > vff->queues)
		return -ERANGE;
	vff->queues -= count;
	slot->queues -= count;
	/* Not the last reference: the open file pins the module too. */
	if (!vff->queues)
		module_put(THIS_MODULE);
	return slot->queues;
}

static long kfarm_vf_ioctl(struct file *file, unsigned int cmd,
			   unsigned long arg)
{
	struct kfarm_vf_file *vff = file->private_data;
	struct kfarm_vf_queues req;
	long ret;

	if (cmd != KFARM_VF_QUEUE_ADD && cmd != KFARM_VF_QUEUE_DEL)
		return -ENOTTY;
	if (copy_from_user(&req, (void __user *)arg, sizeof(req)))
		return -EFAULT;
	if (!req.count || req.flags || req.reserved)
		return -EINVAL;
	if (req.count > KFARM_VF_MAX_QUEUES)
		return -ERANGE;

	mutex_lock(&kfarm_vf_lock);
	if (cmd == KFARM_VF_QUEUE_ADD)
		ret = kfarm_vf_queue_add(vff, req.count);
	else
		ret = kfarm_vf_queue_del(vff, req.count);
	mutex_unlock(&kfarm_vf_lock);
	return ret;
}

static int kfarm_vf_open(struct inode *inode, struct file *file)
{
	struct kfarm_vf *vf = container_of(inode->i_cdev, struct kfarm_vf,
					   cdev);
	struct kfarm_vf_file *vff;
	struct kfarm_vf_slot *slot;

	vff = kzalloc(sizeof(*vff), GFP_KERNEL);
	if (!vff)
		return -ENOMEM;
	vff->vf = vf;

	mutex_lock(&kfarm_vf_lock);
	slot = kfarm_vf_slot(vf);
	if (slot) {
		slot->opens++;
		slot->opener = task_tgid_nr(current);
	}
	mutex_unlock(&kfarm_vf_lock);
	if (!slot) {
		kfree(vff);
		return -ENODEV;
	}
	file->private_data = vff;
	return nonseekable_open(inode, file);
}

/* Closing the file deletes its queues, also when the holder was killed. */
static int kfarm_vf_release(struct inode *inode, struct file *file)
{
	struct kfarm_vf_file *vff = file->private_data;
	struct kfarm_vf_slot *slot;
	unsigned int held;

	mutex_lock(&kfarm_vf_lock);
	slot = kfarm_vf_slot(vff->vf);
	if (slot) {
		slot->queues -= vff->queues;
		if (!--slot->opens)
			slot->opener = 0;
	}
	held = vff->queues;
	mutex_unlock(&kfarm_vf_lock);

	if (held) {
		dev_dbg(&vff->vf->dev, "close released %u queues\n", held);
		module_put(THIS_MODULE);
	}
	kfree(vff);
	return 0;
}

static const struct file_operations kfarm_vf_fops = {
	.owner = THIS_MODULE,
	.open = kfarm_vf_open,
	.release = kfarm_vf_release,
	.unlocked_ioctl = kfarm_vf_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = no_llseek,
};

/* "<active queues> <opener pid or 0>", the same numbers as the PF's vf_busy. */
static ssize_t busy_show(struct device *dev, struct device_attribute *attr,
			 char *buf)
{
	struct kfarm_vf *vf = dev_get_drvdata(dev);
	struct kfarm_vf_slot *slot;
	unsigned int queues = 0;
	pid_t opener = 0;

	mutex_lock(&kfarm_vf_lock);
	slot = kfarm_vf_slot(vf);
	if (slot) {
		queues = slot->queues;
		opener = slot->opener;
	}
	mutex_unlock(&kfarm_vf_lock);
	return sysfs_emit(buf, "%u %d\n", queues, opener);
}
static DEVICE_ATTR_RO(busy);

static struct attribute *kfarm_vf_attrs[] = {
	&dev_attr_busy.attr,
	NULL,
};

static const struct attribute_group kfarm_vf_group = {
	.name = "kfarm",
	.attrs = kfarm_vf_attrs,
};

static const struct attribute_group *kfarm_vf_groups[] = {
	&kfarm_vf_group,
	NULL,
};

static void kfarm_vf_dev_release(struct device *dev)
{
	struct kfarm_vf *vf = container_of(dev, struct kfarm_vf, dev);

	ida_free(&kfarm_vf_minors, MINOR(dev->devt));
	kfree(vf);
}

static int kfarm_vf_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct kfarm_vf_slot *slot;
	struct kfarm_pf *pf;
	struct kfarm_vf *vf;
	int index, minor, ret;

	if (!pdev->is_virtfn) {
		pci_info(pdev, "not an SR-IOV VF, %s does not bind it\n",
			 KFARM_VF_NAME);
		return -ENODEV;
	}
	pf = pci_iov_get_pf_drvdata(pdev, &kfarm_pf_driver);
	if (IS_ERR(pf)) {
		pci_info(pdev, "its PF %s is not bound to %s; bind it first\n",
			 pci_name(pci_physfn(pdev)), KFARM_PF_NAME);
		return -ENODEV;
	}
	index = pci_iov_vf_id(pdev);
	if (index < 0 || index >= pf->total_vfs)
		return -ENODEV;

	minor = ida_alloc_max(&kfarm_vf_minors, KFARM_VF_MINORS - 1,
			      GFP_KERNEL);
	if (minor < 0)
		return minor;
	vf = kzalloc(sizeof(*vf), GFP_KERNEL);
	if (!vf) {
		ida_free(&kfarm_vf_minors, minor);
		return -ENOMEM;
	}
	vf->pdev = pdev;
	vf->index = index;
	/* From here on put_device() frees vf and the minor. */
	device_initialize(&vf->dev);
	vf->dev.class = kfarm_vf_class;
	vf->dev.parent = &pdev->dev;
	vf->dev.devt = MKDEV(MAJOR(kfarm_vf_devt), minor);
	vf->dev.release = kfarm_vf_dev_release;
	ret = dev_set_name(&vf->dev, "%s", pci_name(pdev));
	if (ret)
		goto err_put;
	cdev_init(&vf->cdev, &kfarm_vf_fops);
	vf->cdev.owner = THIS_MODULE;

	mutex_lock(&kfarm_vf_lock);
	slot = &pf->slots[index];
	kfarm_vf_slot_clear(slot);
	slot->vf = vf;
	vf->pf = pf;
	mutex_unlock(&kfarm_vf_lock);
	pci_set_drvdata(pdev, vf);

	ret = cdev_device_add(&vf->cdev, &vf->dev);
	if (ret) {
		pci_err(pdev, "cannot add /dev/%s/%s: %d\n", KFARM_VF_NAME,
			pci_name(pdev), ret);
		goto err_detach;
	}
	pci_info(pdev, "VF %d of %s, /dev/%s/%s\n", index,
		 pci_name(pci_physfn(pdev)), KFARM_VF_NAME, pci_name(pdev));
	return 0;

err_detach:
	mutex_lock(&kfarm_vf_lock);
	slot->vf = NULL;
	vf->pf = NULL;
	mutex_unlock(&kfarm_vf_lock);
err_put:
	put_device(&vf->dev);
	return ret;
}

/*
 * Unbinding cannot be refused (sriov_numvfs and rmmod are refused while
 * busy, but a PF unbind or hot-unplug is not): the VF's queues are dropped
 * from the PF and the holders' ioctls fail with -ENODEV until they close.
 */
static void kfarm_vf_remove(struct pci_dev *pdev)
{
	struct kfarm_vf *vf = pci_get_drvdata(pdev);
	struct kfarm_vf_slot *slot;
	unsigned int busy;

	cdev_device_del(&vf->cdev, &vf->dev);

	mutex_lock(&kfarm_vf_lock);
	slot = kfarm_vf_slot(vf);
	busy = slot ? slot->queues : 0;
	if (slot)	/* NULL if the PF went first, see kfarm_pf_remove() */
		kfarm_vf_slot_clear(slot);
	vf->pf = NULL;
	mutex_unlock(&kfarm_vf_lock);

	if (busy)
		pci_warn(pdev, "removed with %u queues active; holders get ENODEV\n",
			 busy);
	put_device(&vf->dev);
}

struct pci_driver kfarm_vf_driver = {
	.name = KFARM_VF_NAME,
	.id_table = NULL,	/* bound through driver_override only */
	.probe = kfarm_vf_probe,
	.remove = kfarm_vf_remove,
	.dev_groups = kfarm_vf_groups,
};
