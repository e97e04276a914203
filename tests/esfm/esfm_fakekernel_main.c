/* esfm-fakekernel: the esfm command (esfm_cli.h, the test seam) running on the FAKE kernel
 * (fake_kernel.c) over the tree given by --sysfs-root, for the CLI, crash and benchmark scripts.
 * Test-only binary. ESFM_FAKE_KERNEL_LATENCY=paper charges the measured rescan and VF-count
 * latencies. */
#include "esfm_cli.h"
#include "fake_kernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    const char *root = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--sysfs-root") && i + 1 < argc)
            root = argv[i + 1];
        else if (!strncmp(argv[i], "--sysfs-root=", 13))
            root = argv[i] + 13;
    }
    if (!root)
        return esfm_cli_run(argc, argv, NULL); /* usage errors and --help */
    struct fake_kernel k;
    /* The tree already exists (made by fake-tree); init only fills in what is missing. */
    if (fake_kernel_init(&k, root)) {
        fprintf(stderr, "esfm-fakekernel: cannot use %s as a fake sysfs tree\n", root);
        return 1;
    }
    fake_kernel_set_latency(&k, getenv("ESFM_FAKE_KERNEL_LATENCY"));
    int rc = esfm_cli_run(argc, argv, &k.ops);
    fake_kernel_fini(&k);
    return rc;
}
