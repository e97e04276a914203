// SPDX-License-Identifier: GPL-2.0
/*
 * kfarm_vf module glue: the shared lock, the kfarm_vf device class with its
 * /dev/kfarm_vf/<bdf> naming, the char device region, the ids= parameter and
 * registration of the PF driver (pf.c) and the VF driver (vf.c).
 *
 * Locking: init and exit run single-threaded with respect to this module;
 * kfarm_vf_lock itself is described in kfarm_vf.h. Unloading while a VF has
 * active queues is refused by the module refcount (see vf.c), so exit never
 * finds a busy VF.
 */
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/version.h>

#include "kfarm_vf.h"

/* Guards the PF slots and VF links; see kfarm_vf.h. */
DEFINE_MUTEX(kfarm_vf_lock);
struct class *kfarm_vf_class;
dev_t kfarm_vf_devt;

#define KFARM_MAX_IDS	16

static char *ids;
module_param(ids, charp, 0444);
MODULE_PARM_DESC(ids,
		 "PFs to bind at load, \"vendor:device[,vendor:device...]\" in hex; "
		 "driver_override=kfarm_pf works too");

struct kfarm_pci_id {
	unsigned int vendor;
	unsigned int device;
};

/* Parses ids= before anything is registered, so a typo fails the load. */
static int kfarm_parse_ids(struct kfarm_pci_id *out, int max)
{
	char *copy, *p, *id, trail;
	int n = 0, ret = 0;

	if (!ids || !*ids)
		return 0;
	copy = kstrdup(ids, GFP_KERNEL);
	if (!copy)
		return -ENOMEM;
	p = copy;
	while ((id = strsep(&p, ","))) {
		if (!*id)
			continue;
		if (n == max) {
			pr_err("ids: more than %d IDs\n", max);
			ret = -EINVAL;
			break;
		}
		if (sscanf(id, "%x:%x%c", &out[n].vendor, &out[n].device,
			   &trail) != 2 ||
		    out[n].vendor > 0xffff || out[n].device > 0xffff) {
			pr_err("ids: '%s' is not vendor:device in hex (e.g. 1b36:0010)\n",
			       id);
			ret = -EINVAL;
			break;
		}
		n++;
	}
	kfree(copy);
	return ret ? ret : n;
}

/*
 * Out of tree, so built for more than one kernel: class devnode took a const
 * device in 6.2, class_create() lost its owner in 6.4.
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 2, 0)
static char *kfarm_vf_devnode(const struct device *dev, umode_t *mode)
#else
static char *kfarm_vf_devnode(struct device *dev, umode_t *mode)
#endif
{
	return kasprintf(GFP_KERNEL, KFARM_VF_NAME "/%s", dev_name(dev));
}

static int __init kfarm_vf_init(void)
{
	struct kfarm_pci_id pci_ids[KFARM_MAX_IDS];
	int nids, i, ret;

	nids = kfarm_parse_ids(pci_ids, KFARM_MAX_IDS);
	if (nids < 0)
		return nids;

	ret = alloc_chrdev_region(&kfarm_vf_devt, 0, KFARM_VF_MINORS,
				  KFARM_VF_NAME);
	if (ret)
		return ret;
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 4, 0)
	kfarm_vf_class = class_create(KFARM_VF_NAME);
#else
	kfarm_vf_class = class_create(THIS_MODULE, KFARM_VF_NAME);
#endif
	if (IS_ERR(kfarm_vf_class)) {
		ret = PTR_ERR(kfarm_vf_class);
		goto err_region;
	}
	kfarm_vf_class->devnode = kfarm_vf_devnode;

	ret = pci_register_driver(&kfarm_vf_driver);
	if (ret)
		goto err_class;
	ret = pci_register_driver(&kfarm_pf_driver);
	if (ret)
		goto err_vf_driver;

	for (i = 0; i < nids; i++) {
		ret = pci_add_dynid(&kfarm_pf_driver, pci_ids[i].vendor,
				    pci_ids[i].device, PCI_ANY_ID, PCI_ANY_ID,
				    0, 0, 0);
		if (ret) {
			pr_err("ids: cannot add %04x:%04x: %d\n",
			       pci_ids[i].vendor, pci_ids[i].device, ret);
			goto err_pf_driver;
		}
	}
	return 0;

err_pf_driver:
	pci_unregister_driver(&kfarm_pf_driver);
err_vf_driver:
	pci_unregister_driver(&kfarm_vf_driver);
err_class:
	class_destroy(kfarm_vf_class);
err_region:
	unregister_chrdev_region(kfarm_vf_devt, KFARM_VF_MINORS);
	return ret;
}

static void __exit kfarm_vf_exit(void)
{
	/* Unbinding the PFs disables their VFs, which unbinds the VF driver. */
	pci_unregister_driver(&kfarm_pf_driver);
	pci_unregister_driver(&kfarm_vf_driver);
	class_destroy(kfarm_vf_class);
	unregister_chrdev_region(kfarm_vf_devt, KFARM_VF_MINORS);
}

module_init(kfarm_vf_init);
module_exit(kfarm_vf_exit);

MODULE_DESCRIPTION("kfarm SR-IOV PF/VF driver with per-VF busy tracking");
MODULE_AUTHOR("kfarm project");
MODULE_LICENSE("GPL");
