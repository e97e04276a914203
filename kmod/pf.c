// SPDX-License-Identifier: GPL-2.0
/*
 * kfarm_vf PF driver: enables and disables the VFs of any SR-IOV PF, refuses
 * to change their number while a VF has active queues, and shows the per-VF
 * queue counts in the PF's sysfs group kfarm/ (vf_busy, busy_total).
 *
 * Locking: the driver core holds the PF's device_lock around probe, remove
 * and sriov_configure. kfarm_vf_lock (see kfarm_vf.h) guards the slots; it is
 * dropped before pci_enable_sriov()/pci_disable_sriov(), because disabling
 * removes the VFs and the VF driver's remove takes kfarm_vf_lock. While it is
 * dropped, pf->reconfiguring keeps queue adds out, so the idle state checked
 * under the lock still holds when the VFs go away.
 */
#include <linux/module.h>
#include <linux/slab.h>

#include "kfarm_vf.h"

unsigned int kfarm_pf_busy_total(struct kfarm_pf *pf)
{
	unsigned int total = 0;
	int i;

	lockdep_assert_held(&kfarm_vf_lock);
	for (i = 0; i < pf->total_vfs; i++)
		total += pf->slots[i].queues;
	return total;
}

/* Forgets a VF's queues and openers; the BDF stays, the VF still exists. */
void kfarm_vf_slot_clear(struct kfarm_vf_slot *slot)
{
	lockdep_assert_held(&kfarm_vf_lock);
	slot->queues = 0;
	slot->opens = 0;
	slot->opener = 0;
	slot->vf = NULL;
}

/*
 * Records the enabled VFs' BDFs in the slots: the PCI core does not export
 * the VF bus number, so the VFs are looked up among the PCI devices.
 */
static void kfarm_pf_scan_vfs(struct kfarm_pf *pf)
{
	struct pci_dev *vf = NULL;
	int id, i;

	lockdep_assert_held(&kfarm_vf_lock);
	pf->num_vfs = pci_num_vf(pf->pdev);
	for (i = 0; i < pf->total_vfs; i++)
		strscpy(pf->slots[i].bdf, "-", sizeof(pf->slots[i].bdf));
	while ((vf = pci_get_device(PCI_ANY_ID, PCI_ANY_ID, vf))) {
		if (!vf->is_virtfn || pci_physfn(vf) != pf->pdev)
			continue;
		id = pci_iov_vf_id(vf);
		if (id >= 0 && id < pf->total_vfs)
			strscpy(pf->slots[id].bdf, pci_name(vf),
				sizeof(pf->slots[id].bdf));
	}
}

/*
 * Marks @pf as reconfiguring unless a VF has active queues; returns the
 * number of active queues (0 on success).
 */
static unsigned int kfarm_pf_begin_reconfigure(struct kfarm_pf *pf)
{
	unsigned int busy;

	mutex_lock(&kfarm_vf_lock);
	busy = kfarm_pf_busy_total(pf);
	if (!busy)
		pf->reconfiguring = true;
	mutex_unlock(&kfarm_vf_lock);
	return busy;
}

static void kfarm_pf_end_reconfigure(struct kfarm_pf *pf)
{
	mutex_lock(&kfarm_vf_lock);
	kfarm_pf_scan_vfs(pf);
	pf->reconfiguring = false;
	mutex_unlock(&kfarm_vf_lock);
}

static int kfarm_pf_sriov_configure(struct pci_dev *pdev, int num_vfs)
{
	struct kfarm_pf *pf = pci_get_drvdata(pdev);
	unsigned int busy;
	int ret;

	if (pci_vfs_assigned(pdev)) {
		pci_info(pdev, "VFs are assigned to guests, not changing them\n");
		return -EPERM;
	}
	busy = kfarm_pf_begin_reconfigure(pf);
	if (busy) {
		pci_info(pdev, "refusing to set %d VFs: %u queues active, see kfarm/vf_busy\n",
			 num_vfs, busy);
		return -EBUSY;
	}

	if (num_vfs) {
		ret = pci_enable_sriov(pdev, num_vfs);
		if (ret)
			pci_err(pdev, "enabling %d VFs failed: %d\n", num_vfs, ret);
		else
			ret = num_vfs;
	} else {
		pci_disable_sriov(pdev);
		ret = 0;
	}

	kfarm_pf_end_reconfigure(pf);
	return ret;
}

/*
 * One line per enabled VF: "<vf bdf> <active queues> <opener pid or 0>".
 * Only whole lines are written; a PF with more VFs than fit in one page
 * (about 150) lists the first ones, and the VF's own kfarm/busy has the rest.
 */
static ssize_t vf_busy_show(struct device *dev, struct device_attribute *attr,
			    char *buf)
{
	struct pci_dev *pdev = to_pci_dev(dev);
	struct kfarm_pf *pf = pci_get_drvdata(pdev);
	char line[64];
	int len = 0, n, i;

	mutex_lock(&kfarm_vf_lock);
	for (i = 0; i < pf->num_vfs; i++) {
		struct kfarm_vf_slot *s = &pf->slots[i];

		n = scnprintf(line, sizeof(line), "%s %u %d\n", s->bdf,
			      s->queues, s->opener);
		if (len + n >= PAGE_SIZE)
			break;
		len += sysfs_emit_at(buf, len, "%s", line);
	}
	mutex_unlock(&kfarm_vf_lock);
	return len;
}
static DEVICE_ATTR_RO(vf_busy);

static ssize_t busy_total_show(struct device *dev,
			       struct device_attribute *attr, char *buf)
{
	struct kfarm_pf *pf = pci_get_drvdata(to_pci_dev(dev));
	unsigned int total;

	mutex_lock(&kfarm_vf_lock);
	total = kfarm_pf_busy_total(pf);
	mutex_unlock(&kfarm_vf_lock);
	return sysfs_emit(buf, "%u\n", total);
}
static DEVICE_ATTR_RO(busy_total);

static struct attribute *kfarm_pf_attrs[] = {
	&dev_attr_vf_busy.attr,
	&dev_attr_busy_total.attr,
	NULL,
};

static const struct attribute_group kfarm_pf_group = {
	.name = "kfarm",
	.attrs = kfarm_pf_attrs,
};

static const struct attribute_group *kfarm_pf_groups[] = {
	&kfarm_pf_group,
	NULL,
};

static int kfarm_pf_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	int total = pci_sriov_get_totalvfs(pdev);
	struct kfarm_pf *pf;

	/* ids= may match the VFs too: they share the PF's IDs on some devices. */
	if (pdev->is_virtfn || total <= 0) {
		pci_info(pdev, "not an SR-IOV PF, %s does not bind it\n",
			 KFARM_PF_NAME);
		return -ENODEV;
	}

	pf = devm_kzalloc(&pdev->dev, sizeof(*pf), GFP_KERNEL);
	if (!pf)
		return -ENOMEM;
	pf->slots = devm_kcalloc(&pdev->dev, total, sizeof(*pf->slots),
				 GFP_KERNEL);
	if (!pf->slots)
		return -ENOMEM;
	pf->pdev = pdev;
	pf->total_vfs = total;

	mutex_lock(&kfarm_vf_lock);
	kfarm_pf_scan_vfs(pf);
	mutex_unlock(&kfarm_vf_lock);
	pci_set_drvdata(pdev, pf);
	pci_info(pdev, "SR-IOV PF with %d VFs (%d enabled)\n", total,
		 pf->num_vfs);
	return 0;
}

/*
 * Unbinding cannot be refused, so busy VFs are taken away too: their VF
 * driver instances turn to -ENODEV for the holders (see vf.c). VFs assigned
 * to guests the legacy way are left enabled, as pci_sriov_configure_simple()
 * would; the VFs bound to kfarm_vf are then cut loose from this PF first,
 * since its state goes away with it.
 */
static void kfarm_pf_remove(struct pci_dev *pdev)
{
	struct kfarm_pf *pf = pci_get_drvdata(pdev);
	bool assigned = pci_vfs_assigned(pdev);
	unsigned int busy;
	int i;

	mutex_lock(&kfarm_vf_lock);
	busy = kfarm_pf_busy_total(pf);
	pf->reconfiguring = true;
	if (assigned) {
		for (i = 0; i < pf->total_vfs; i++) {
			if (pf->slots[i].vf)
				pf->slots[i].vf->pf = NULL;
			kfarm_vf_slot_clear(&pf->slots[i]);
		}
	}
	mutex_unlock(&kfarm_vf_lock);
	if (busy)
		pci_warn(pdev, "unbound with %u queues active; removing its VFs anyway\n",
			 busy);
	if (assigned)
		pci_warn(pdev, "VFs assigned to guests, leaving them enabled\n");
	else
		pci_disable_sriov(pdev);
}

struct pci_driver kfarm_pf_driver = {
	.name = KFARM_PF_NAME,
	.id_table = NULL,	/* driver_override or the ids= parameter */
	.probe = kfarm_pf_probe,
	.remove = kfarm_pf_remove,
	.sriov_configure = kfarm_pf_sriov_configure,
	.dev_groups = kfarm_pf_groups,
};
