/* Fuzz target: the --fpga-* option values of spank_kfarm.so (args.c), the user's input to a root
 * plugin. Each value goes through the option callback (srun/sbatch/salloc, slurmstepd) and the
 * whole set through ks_args_from_job on the FAKE Slurm (job prolog/epilog), which must agree. */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fake_slurm.h"
#include "fuzz_files.h"

static void quiet(const char *msg)
{
    (void)msg;
}

/* What each parser promises about a value it accepted. */
static void check_accepted(const struct ks_request *r, int which, const char *arg)
{
    switch (which) {
    case KS_OPT_VFS:
        if (r->nvfs < 1 || r->nvfs > 0x7fffffffu || !isdigit((unsigned char)arg[0]) ||
            strtoul(arg, NULL, 10) != r->nvfs)
            abort();
        break;
    case KS_OPT_BITSTREAM: {
        size_t n = strnlen(r->bitstream, sizeof r->bitstream);
        if (n == 0 || n == sizeof r->bitstream || strcmp(r->bitstream, arg) ||
            strspn(r->bitstream,
                   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n)
            abort();
        break;
    }
    case KS_OPT_FALLBACK:
        if (strcmp(arg, ks_fallback_name(r->fallback)))
            abort();
        break;
    }
}

/* Input: up to KS_OPT_COUNT values, each "[which][value]\0"; which >= 0x80 gives no value
 * (Slurm passes NULL for an option given without one). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ks_args_report = quiet;
    struct kfz_cursor c = {data, size};
    char *vals[KS_OPT_COUNT] = {NULL};
    int ok_cb[KS_OPT_COUNT] = {0};
    struct ks_request *cb_req = ks_args_request();
    *cb_req = (struct ks_request){.fallback = KS_FALLBACK_CPU};
    for (int i = 0; i < KS_OPT_COUNT && c.left; i++) {
        uint8_t w = kfz_u8(&c);
        int which = (w & 0x7f) % KS_OPT_COUNT;
        size_t len;
        const uint8_t *p = kfz_until(&c, 0, &len);
        free(vals[which]);
        vals[which] = w & 0x80 ? NULL : kfz_strndup(p, len);
        /* the callback Slurm calls (local and remote contexts) */
        const struct spank_option *o = &ks_spank_options[which];
        int rc = o->cb(o->val, vals[which], i & 1);
        if (rc != 0 && rc != -1)
            abort();
        ok_cb[which] = rc == 0;
        if (rc == 0)
            check_accepted(cb_req, which, vals[which]);
    }
    /* the prolog's view of the same options (the last value of each): accepted exactly when
     * each last value was accepted. The FAKE getopt reports an option without a value as not
     * given (the real one passes NULL on, which the parser refuses). */
    struct fake_slurm f;
    fake_slurm_init(&f, KS_CTX_JOB_SCRIPT, 7, 1000);
    int expect_ok = 1;
    for (int i = 0; i < KS_OPT_COUNT; i++) {
        f.opts[i] = vals[i];
        if (vals[i] && !ok_cb[i])
            expect_ok = 0;
    }
    struct ks_request req = {.fallback = KS_FALLBACK_CPU};
    char err[KS_ERR_LEN] = "";
    int rc = ks_args_from_job(&f.s, &req, err, sizeof err);
    if ((rc == 0) != expect_ok || (rc && (rc != -EINVAL || strnlen(err, sizeof err) == 0)))
        abort();
    if (rc == 0 && (req.nvfs != (vals[KS_OPT_VFS] ? cb_req->nvfs : 0) ||
                    strcmp(req.bitstream, vals[KS_OPT_BITSTREAM] ? cb_req->bitstream : "") ||
                    req.fallback != (vals[KS_OPT_FALLBACK] ? cb_req->fallback : KS_FALLBACK_CPU)))
        abort();
    for (int i = 0; i < KS_OPT_COUNT; i++)
        free(vals[i]);
    return 0;
}
