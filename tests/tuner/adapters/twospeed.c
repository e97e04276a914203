/* A test adapter whose accelerator variant is known to be faster: kind `work` sleeps 4 ms on the
 * CPU variant and 1 ms on the accelerator variant, and replies with the variant that ran. It
 * lets the worker-tuner test check that the accelerator is chosen back "where it is faster"
 * without depending on how fast PoCL is on this machine. */
#include <errno.h>
#include <time.h>

#include <kfarm/adapter.h>

static void nap_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
}

static int work_cpu(void *state, const void *payload, size_t len, const struct kf_knobs *knobs,
                    struct kf_result *out)
{
    (void)state;
    (void)knobs;
    (void)payload;
    (void)len;
    nap_ms(4);
    return kf_result_set(out, "cpu", 3);
}

static int work_accel(void *state, const void *payload, size_t len, const struct kf_knobs *knobs,
                      struct kf_result *out)
{
    (void)state;
    (void)knobs;
    (void)payload;
    (void)len;
    nap_ms(1);
    return kf_result_set(out, "accel", 5);
}

static int work_features(void *state, const void *payload, size_t len, double *f, size_t max)
{
    (void)state;
    (void)payload;
    if (max < 1)
        return 0;
    f[0] = (double)len;
    return 1;
}

static const char *const names[] = {"bytes", NULL};
static const struct kf_kernel kernels[] = {{.kind = "work", .cpu = work_cpu, .accel = work_accel,
                                            .features = work_features, .feature_names = names}};

const struct kf_adapter kfarm_adapter = {
    .abi_version = KF_ADAPTER_ABI_VERSION,
    .name = "twospeed",
    .kernels = kernels,
    .n_kernels = 1,
};
