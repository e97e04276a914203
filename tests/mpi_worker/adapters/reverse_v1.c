/* An adapter written for ABI version 1 and built against a copy of that version's header
 * (adapters/v1/kfarm/adapter.h, kept as it was): kind `reverse-v1` returns the payload reversed
 * behind the `prefix=` argument, its features are the payload length. kfarm must load and serve
 * it unchanged. */
#include <stdlib.h>
#include <string.h>

#include <kfarm/adapter.h>

#if KF_ADAPTER_ABI_VERSION != 1
#error this fixture must be built against the version 1 header
#endif

struct reverse_state {
    char prefix[64];
};

static int reverse_init(void **state, const struct kf_args *args, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    struct reverse_state *s = calloc(1, sizeof(*s));
    if (!s)
        return KF_ERROR;
    const char *prefix = kf_args_get(args, "prefix");
    snprintf(s->prefix, sizeof(s->prefix), "%s", prefix ? prefix : "");
    *state = s;
    return KF_OK;
}

static void reverse_fini(void *state)
{
    free(state);
}

static int reverse_kernel(void *state, const void *payload, size_t len, struct kf_result *out)
{
    struct reverse_state *s = state;
    size_t p = strlen(s->prefix);
    char *buf = malloc(p + len + 1);
    if (!buf)
        return kf_result_error(out, "out of memory");
    memcpy(buf, s->prefix, p);
    for (size_t i = 0; i < len; i++)
        buf[p + i] = ((const char *)payload)[len - 1 - i];
    out->data = buf;
    out->len = p + len;
    return KF_OK;
}

static int reverse_features(void *state, const void *payload, size_t len, double *f, size_t max)
{
    (void)state;
    (void)payload;
    if (max < 1)
        return 0;
    f[0] = (double)len;
    return 1;
}

static const char *const names[] = {"bytes", NULL};
/* Positional, as version 1 adapters were often written. */
static const struct kf_kernel kernels[] = {
    {"reverse-v1", reverse_kernel, NULL, reverse_features, names},
    {"reverse-v1-again", reverse_kernel, NULL, NULL, NULL},
};

const struct kf_adapter kfarm_adapter = {
    .abi_version = KF_ADAPTER_ABI_VERSION,
    .name = "reverse-v1",
    .init = reverse_init,
    .fini = reverse_fini,
    .kernels = kernels,
    .n_kernels = 2,
};
