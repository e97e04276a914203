/* The `echo` adapter: trivial kernels for tests and benchmarks (echo, sleep, fail) and a piece of
 * broadcast state (set-state / get-state) that lets tests observe broadcast ordering. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <kfarm/adapter.h>

struct echo_state {
    void *state; /* last payload applied by the set-state broadcast */
    size_t state_len;
};

static int echo_init(void **state, const struct kf_args *args, char *err, size_t errlen)
{
    (void)args;
    struct echo_state *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "echo: out of memory");
        return KF_ERROR;
    }
    *state = s;
    return KF_OK;
}

static void echo_fini(void *state)
{
    struct echo_state *s = state;
    if (s)
        free(s->state);
    free(s);
}

static int kernel_echo(void *state, const void *payload, size_t len, const struct kf_knobs *knobs,
                       struct kf_result *out)
{
    (void)state;
    (void)knobs;
    return kf_result_set(out, payload, len);
}

/* {"ms": N}: sleeps N milliseconds (0..60000), replies with the payload. */
static int kernel_sleep(void *state, const void *payload, size_t len, const struct kf_knobs *knobs,
                        struct kf_result *out)
{
    (void)state;
    (void)knobs;
    cJSON *root = cJSON_ParseWithLength(payload, len);
    if (!root)
        return kf_result_error(out, "sleep: payload is not JSON; expected {\"ms\": N}");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(root, "ms");
    if (!cJSON_IsNumber(ms) || ms->valuedouble < 0 || ms->valuedouble > 60000) {
        cJSON_Delete(root);
        return kf_result_error(out, "sleep: expected {\"ms\": N} with 0 <= N <= 60000");
    }
    double v = ms->valuedouble;
    cJSON_Delete(root);
    struct timespec ts = {.tv_sec = (time_t)(v / 1000), .tv_nsec = (long)((v - (double)(time_t)(v / 1000) * 1000) * 1e6)};
    while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
        ;
    return kf_result_set(out, payload, len);
}

static int kernel_fail(void *state, const void *payload, size_t len, const struct kf_knobs *knobs,
                       struct kf_result *out)
{
    (void)state;
    (void)knobs;
    int n = len > 200 ? 200 : (int)len;
    return kf_result_error(out, "fail: this kernel always fails (payload: %.*s)", n,
                           (const char *)payload);
}

static int kernel_get_state(void *state, const void *payload, size_t len,
                            const struct kf_knobs *knobs, struct kf_result *out)
{
    (void)knobs;
    (void)payload;
    (void)len;
    struct echo_state *s = state;
    return kf_result_set(out, s->state, s->state_len);
}

static int broadcast_set_state(void *state, const void *payload, size_t len, char *err,
                               size_t errlen)
{
    struct echo_state *s = state;
    void *copy = malloc(len ? len : 1);
    if (!copy) {
        snprintf(err, errlen, "set-state: out of memory for %zu bytes", len);
        return KF_ERROR;
    }
    if (len)
        memcpy(copy, payload, len);
    free(s->state);
    s->state = copy;
    s->state_len = len;
    return KF_OK;
}

static const struct kf_kernel echo_kernels[] = {
    {.kind = "echo", .cpu = kernel_echo, .flags = KF_KERNEL_RETRY_SAFE},
    {.kind = "sleep", .cpu = kernel_sleep, .flags = KF_KERNEL_RETRY_SAFE},
    {.kind = "fail", .cpu = kernel_fail, .flags = KF_KERNEL_RETRY_SAFE},
    {.kind = "get-state", .cpu = kernel_get_state, .flags = KF_KERNEL_RETRY_SAFE},
};

static const struct kf_broadcast_handler echo_broadcasts[] = {
    {.kind = "set-state", .fn = broadcast_set_state},
};

const struct kf_adapter kf_adapter_echo = {
    .abi_version = KF_ADAPTER_ABI_VERSION,
    .name = "echo",
    .init = echo_init,
    .fini = echo_fini,
    .kernels = echo_kernels,
    .n_kernels = sizeof(echo_kernels) / sizeof(echo_kernels[0]),
    .broadcasts = echo_broadcasts,
    .n_broadcasts = sizeof(echo_broadcasts) / sizeof(echo_broadcasts[0]),
};
