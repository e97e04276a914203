/* fake-tree: builds a FAKE sysfs tree for script tests:
 *   fake-tree ROOT pf BDF TOTAL [DRIVER|-] [QMAX]   an SR-IOV PF (vendor 0x1b36 device 0x0010)
 *   fake-tree ROOT dev BDF [DRIVER|-]               a plain PCI device
 *   fake-tree ROOT driver NAME                      a loaded driver */
#include "fake_kernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: fake-tree ROOT pf|dev|driver ARGS...\n");
        return 2;
    }
    mkdir(argv[1], 0755);
    struct fake_kernel k;
    if (fake_kernel_init(&k, argv[1]))
        return 1;
    int rc = 2;
    const char *drv = argc > 5 && strcmp(argv[5], "-") ? argv[5] : NULL;
    if (!strcmp(argv[2], "pf") && argc >= 5)
        rc = fake_kernel_add_pf(&k, argv[3], "0x1b36", "0x0010", (unsigned)atoi(argv[4]), drv,
                                argc > 6 ? atoi(argv[6]) : -1);
    else if (!strcmp(argv[2], "dev"))
        rc = fake_kernel_add_device(&k, argv[3], argc > 4 && strcmp(argv[4], "-") ? argv[4] : NULL);
    else if (!strcmp(argv[2], "driver"))
        rc = fake_kernel_add_driver(&k, argv[3]);
    fake_kernel_fini(&k);
    if (rc)
        fprintf(stderr, "fake-tree: failed (%d)\n", rc);
    return rc ? 1 : 0;
}
