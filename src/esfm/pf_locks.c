/* The PF locks VF operations hold shared. Lock order, everywhere: PF locks in ascending BDF
 * order, then <state>/state.lock, then a journal entry's own lock. init and reconf hold their
 * PF's lock exclusively (esfm_pf_lock), so no VF of a PF is attached, detached, paused or handed
 * to a job while that PF is being reconfigured; VF operations still run beside each other. */
#include "esfm_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

static int cmp_bdf(const void *a, const void *b)
{
    return strcmp(a, b);
}

static int hold_one(struct esfm_ctx *ctx, const char *pf, int *fd, char *err, size_t errlen)
{
    char p[512];
    snprintf(p, sizeof p, "%s/locks/%s.lock", ctx->state_dir, pf);
    *fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (*fd < 0)
        return kf_errf(err, errlen, -ENOLCK, "cannot open lock %s: %s", p, strerror(errno));
    while (flock(*fd, LOCK_SH) < 0) {
        if (errno != EINTR) {
            int e = errno;
            close(*fd);
            *fd = -1;
            return kf_errf(err, errlen, -ENOLCK, "cannot lock %s: %s", p, strerror(e));
        }
    }
    return 0;
}

int esfm_pf_hold(struct esfm_ctx *ctx, const char *vf, struct esfm_pf_hold *h, char *err,
                 size_t errlen)
{
    char(*pfs)[ESFM_BDF_LEN] = NULL, one[ESFM_BDF_LEN], norm[ESFM_BDF_LEN];
    size_t n = 0;
    h->fds = NULL;
    h->n = 0;
    if (vf && esfm_normalize_bdf(vf, norm) == 0 && esfm_pci_physfn(ctx, norm, one) == 0) {
        pfs = &one;
        n = 1;
    } else if (esfm_pci_list_pfs(ctx, &pfs, &n)) {
        return 0; /* no PF to hold: the operation finds nothing to act on and says so */
    } else {
        qsort(pfs, n, sizeof *pfs, cmp_bdf);
    }
    int rc = 0;
    h->fds = calloc(n ? n : 1, sizeof *h->fds);
    if (!h->fds) {
        rc = -ENOMEM; /* set here, not from kf_errf's return, so the analyser sees fds != NULL */
        kf_errf(err, errlen, rc, "out of memory");
    }
    for (size_t i = 0; !rc && i < n; i++)
        if (!(rc = hold_one(ctx, pfs[i], &h->fds[h->n], err, errlen)))
            h->n++;
    if (pfs != &one)
        free(pfs);
    if (rc)
        esfm_pf_release(h);
    return rc;
}

void esfm_pf_release(struct esfm_pf_hold *h)
{
    for (size_t i = 0; i < h->n; i++)
        close(h->fds[i]); /* closing drops the flock */
    free(h->fds);
    h->fds = NULL;
    h->n = 0;
}
