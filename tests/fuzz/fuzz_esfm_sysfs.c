/* Fuzz target: ESFM's reads of sysfs values (pci.c, busy.c), its state file (state.c) and the
 * BDF/count parsers of the command line (error.c). A fake PCI tree in a temp dir gets the input's
 * chunks as attribute contents: sriov_totalvfs, sriov_numvfs, vendor, device, kfarm/busy,
 * kfarm/vf_busy, vfs.json; then two strings for the BDF and count parsers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_files.h"
#include "esfm_cli.h"
#include "esfm_internal.h"

#define PF "0000:01:00.0"
#define VF "0000:01:00.1"

static struct esfm_ctx *ctx;
static char devs[256], state[256];

static void put(const char *rel, const void *data, size_t size)
{
    char p[512];
    snprintf(p, sizeof(p), "%s/%s", devs, rel);
    FILE *f = fopen(p, "w");
    if (!f)
        abort();
    if (size && fwrite(data, 1, size, f) != size)
        abort();
    fclose(f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char sys[256], p[512];
    snprintf(sys, sizeof(sys), "%s/sys", kfz_dir());
    snprintf(state, sizeof(state), "%s/state", kfz_dir());
    snprintf(devs, sizeof(devs), "%s/bus/pci/devices", sys);
    const char *dirs[] = {"/bus",
                          "/bus/pci",
                          "/bus/pci/devices",
                          "/bus/pci/devices/" PF,
                          "/bus/pci/devices/" PF "/kfarm",
                          "/bus/pci/devices/" VF,
                          "/bus/pci/devices/" VF "/kfarm"};
    mkdir(sys, 0700);
    for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
        snprintf(p, sizeof(p), "%s%s", sys, dirs[i]);
        if (mkdir(p, 0700))
            abort();
    }
    snprintf(p, sizeof(p), "%s/" VF "/physfn", devs);
    if (symlink("../" PF, p))
        abort();
    snprintf(p, sizeof(p), "%s/" PF "/virtfn0", devs);
    if (symlink("../" VF, p))
        abort();
    struct esfm_options o = {.sysfs_root = sys, .state_dir = state, .skip_reconcile = true};
    char err[512];
    if (esfm_ctx_new(&o, &ctx, err, sizeof(err))) {
        fprintf(stderr, "fuzz_esfm_sysfs: %s\n", err);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const files[] = {PF "/sriov_totalvfs", PF "/sriov_numvfs",
                                        PF "/vendor",         PF "/device",
                                        VF "/kfarm/busy",     PF "/kfarm/vf_busy"};
    struct kfz_cursor c = {data, size};
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        size_t n;
        const uint8_t *p = kfz_chunk(&c, &n);
        put(files[i], p, n);
    }
    char err[512];
    unsigned v = 0;
    esfm_pci_read_uint(ctx, PF, "sriov_numvfs", &v, err, sizeof(err));
    char(*vfs)[ESFM_BDF_LEN] = NULL;
    size_t nvf = 0;
    if (esfm_pci_list_vfs(ctx, PF, &vfs, &nvf) == 0 && nvf > 1)
        abort(); /* only virtfn0 exists */
    free(vfs);
    char(*pfs)[ESFM_BDF_LEN] = NULL;
    size_t npf = 0;
    if (esfm_pci_list_pfs(ctx, &pfs, &npf) == 0 && npf > 1)
        abort();
    free(pfs);
    char pf[ESFM_BDF_LEN];
    esfm_pci_find_by_id(ctx, "10ee:903f", pf);
    unsigned q = 0;
    pid_t pid = 0;
    esfm_busy_queues(ctx, VF, &q, &pid);

    size_t n;
    const uint8_t *p = kfz_chunk(&c, &n);
    char path[512];
    snprintf(path, sizeof(path), "%s/vfs.json", state);
    FILE *f = fopen(path, "w");
    if (!f || (n && fwrite(p, 1, n, f) != n))
        abort();
    fclose(f);
    cJSON *st = esfm_state_read(ctx, err, sizeof(err));
    if (st) {
        esfm_state_vf(st, VF);
        cJSON_Delete(st);
    }

    p = kfz_chunk(&c, &n);
    char *s = kfz_strndup(p, n);
    char bdf[ESFM_BDF_LEN];
    if (esfm_normalize_bdf(s, bdf) == 0 && (!esfm_valid_bdf(bdf) || strlen(bdf) != 12))
        abort();
    free(s);
    s = kfz_strndup(c.p, c.left);
    unsigned u;
    if (esfm_parse_uint(s, 4096, &u) == 0 && u > 4096)
        abort();
    free(s);
    return 0;
}
