/* The kfarm busy counter written by kmod/: a VF's kfarm/busy ("<queues> [pid]") or the PF's
 * kfarm/vf_busy lines "<vf bdf> <active queues> <pid>". Absent files mean idle. */
#include "esfm_internal.h"

#include <stdio.h>
#include <string.h>

int esfm_busy_queues(struct esfm_ctx *ctx, const char *vf, unsigned *queues, pid_t *pid)
{
    char p[512], pf[ESFM_BDF_LEN];
    *queues = 0;
    if (pid)
        *pid = 0;
    esfm_pci_path(ctx, vf, "kfarm/busy", p, sizeof p);
    FILE *f = fopen(p, "re");
    if (f) {
        unsigned q = 0;
        int pp = 0;
        int got = fscanf(f, "%u %d", &q, &pp);
        fclose(f);
        if (got >= 1) {
            *queues = q;
            if (pid && got == 2)
                *pid = pp;
        }
        return 0;
    }
    if (esfm_pci_physfn(ctx, vf, pf))
        return 0;
    esfm_pci_path(ctx, pf, "kfarm/vf_busy", p, sizeof p);
    f = fopen(p, "re");
    if (!f)
        return 0;
    char line[256];
    while (fgets(line, sizeof line, f)) {
        char b[32];
        unsigned q;
        int pp;
        if (sscanf(line, "%31s %u %d", b, &q, &pp) == 3 && strcmp(b, vf) == 0) {
            *queues += q;
            if (pid && q)
                *pid = pp;
        }
    }
    fclose(f);
    return 0;
}
