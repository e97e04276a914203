/* esfm-bench: wall time of ESFM's multi-VF operations with 1, 4 and 10 VFs, sequential (one VF
 * after the other, as the reference bash ESFM does) vs parallel (one thread per VF), on the FAKE
 * kernel and FAKE hypervisor charging EVEREST D5.5's measured per-step latencies.
 *   esfm-bench [--quick]     (--quick: 1 and 4 VFs only) */
#include "fake_kernel.h"

#include <kfarm/esfm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* EVEREST D5.5 table 2 totals (ms): detach/attach and pause/unpause cycles for 1, 4, 10 VFs. */
static const int paper_da[] = {4131, 12967, 31358};
static const int paper_pu[] = {4052, 12711, 30195};

struct bench {
    char dir[64], root[128], state[128], hv[128], uri[192];
    struct fake_kernel k;
};

static double now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void die(const char *what, const char *err)
{
    fprintf(stderr, "esfm-bench: %s: %s\n", what, err);
    exit(1);
}

static void setup(struct bench *b, int nvms, bool device_pause)
{
    snprintf(b->dir, sizeof b->dir, "/tmp/esfm-bench-XXXXXX");
    if (!mkdtemp(b->dir))
        die("mkdtemp", "failed");
    snprintf(b->root, sizeof b->root, "%s/sys", b->dir);
    snprintf(b->state, sizeof b->state, "%s/state", b->dir);
    snprintf(b->hv, sizeof b->hv, "%s/hv.json", b->dir);
    snprintf(b->uri, sizeof b->uri, "fake://%s?latency=paper", b->hv);
    mkdir(b->root, 0755);
    fake_kernel_init(&b->k, b->root);
    fake_kernel_add_pf(&b->k, "0000:01:00.0", "0x10ee", "0x903f", 16, "pci-pf-stub", -1);
    FILE *f = fopen(b->hv, "w");
    fprintf(f, "{\"domains\":{");
    for (int i = 0; i < nvms; i++)
        fprintf(f, "%s\"vm%d\":{\"device_pause\":%s}", i ? "," : "", i + 1,
                device_pause ? "true" : "false");
    fprintf(f, "}}");
    fclose(f);
}

static struct esfm_ctx *open_ctx(struct bench *b, int parallel, bool latency)
{
    fake_kernel_set_latency(&b->k, latency ? "paper" : NULL);
    char uri[256];
    snprintf(uri, sizeof uri, "%.*s",
             (int)(strlen(b->uri) - (latency ? 0 : strlen("?latency=paper"))), b->uri);
    struct esfm_options o = {.sysfs_root = b->root,
                             .connect_uri = uri,
                             .state_dir = b->state,
                             .parallel = parallel,
                             .sysfs_ops = &b->k.ops};
    struct esfm_ctx *c;
    char err[ESFM_ERR_LEN];
    if (esfm_ctx_new(&o, &c, err, sizeof err))
        die("open", err);
    return c;
}

static void teardown(struct bench *b)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", b->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "esfm-bench: cannot remove %s\n", b->dir);
    fake_kernel_fini(&b->k);
}

/* The paper's cycle: N VFs on N VMs; rescan, take every VF out (detach or pause), change the VF
 * count, put every VF back (attach or unpause) = esfm reconf PF N. */
static double reconf_cycle(int n, bool device_pause, int parallel)
{
    struct bench b;
    setup(&b, n, device_pause);
    struct esfm_ctx *c = open_ctx(&b, 0, false);
    char err[ESFM_ERR_LEN];
    if (esfm_init(c, "0000:01:00.0", n, NULL, NULL, err, sizeof err))
        die("init", err);
    for (int i = 0; i < n; i++) {
        char vf[32], vm[16];
        unsigned rid = 0x100u + 1u + (unsigned)i; /* PF 01:00.0, VF offset 1, stride 1 */
        snprintf(vf, sizeof vf, "0000:%02x:%02x.%x", rid >> 8, (rid >> 3) & 31, rid & 7);
        snprintf(vm, sizeof vm, "vm%d", i + 1);
        if (esfm_attach(c, vf, vm, NULL, err, sizeof err))
            die("attach", err);
    }
    esfm_ctx_free(c);
    c = open_ctx(&b, parallel, true);
    double t0 = now_ms();
    if (esfm_reconf(c, "0000:01:00.0", n, err, sizeof err))
        die("reconf", err);
    double dt = now_ms() - t0;
    esfm_ctx_free(c);
    teardown(&b);
    return dt;
}

/* What a job does: attach N free VFs to its VM at start, detach them at the end. */
static double job_cycle(int n, int parallel)
{
    struct bench b;
    setup(&b, 1, true);
    struct esfm_ctx *c = open_ctx(&b, 0, false);
    char err[ESFM_ERR_LEN];
    if (esfm_init(c, "0000:01:00.0", n, NULL, NULL, err, sizeof err))
        die("init", err);
    esfm_ctx_free(c);
    c = open_ctx(&b, parallel, true);
    struct esfm_grant g[16];
    double t0 = now_ms();
    if (esfm_job_attach(c, &(struct esfm_job){"bench", 1000, "fpga"}, "vm1", (unsigned)n, g, err,
                        sizeof err))
        die("job attach", err);
    if (esfm_job_detach(c, "bench", err, sizeof err))
        die("job detach", err);
    double dt = now_ms() - t0;
    esfm_ctx_free(c);
    teardown(&b);
    return dt;
}

int main(int argc, char **argv)
{
    bool quick = argc > 1 && !strcmp(argv[1], "--quick");
    const int ns[] = {1, 4, 10};
    int count = quick ? 2 : 3;
    double base_da = 0, base_pu = 0;
    printf("ESFM reconf cycle (rescan, take N VFs out of N VMs, change #VF, put them back), "
           "fake latencies of EVEREST D5.5 table 2\n");
    printf("%-4s %-5s %12s %12s %12s %8s %10s\n", "VFs", "mode", "paper ms", "sequential",
           "parallel", "seq/par", "par/par1");
    for (int i = 0; i < count; i++) {
        for (int pu = 0; pu < 2; pu++) {
            double seq = reconf_cycle(ns[i], pu, 1);
            double par = reconf_cycle(ns[i], pu, 0);
            if (i == 0)
                *(pu ? &base_pu : &base_da) = par;
            printf("%-4d %-5s %12d %12.0f %12.0f %8.2f %10.2f\n", ns[i], pu ? "P/U" : "D/A",
                   pu ? paper_pu[i] : paper_da[i], seq, par, seq / par,
                   par / (pu ? base_pu : base_da));
            fflush(stdout);
        }
    }
    printf("\nJob start + end (attach N VFs to the job's VM, detach them), same latencies\n");
    printf("%-4s %12s %12s %8s %10s\n", "VFs", "sequential", "parallel", "seq/par", "par/par1");
    double base = 0;
    for (int i = 0; i < count; i++) {
        double seq = job_cycle(ns[i], 1);
        double par = job_cycle(ns[i], 0);
        if (i == 0)
            base = par;
        printf("%-4d %12.0f %12.0f %8.2f %10.2f\n", ns[i], seq, par, seq / par, par / base);
        fflush(stdout);
    }
    return 0;
}
