/* An external adapter built by the tests and loaded by path: kind `reverse` returns the payload
 * reversed; adapter argument `prefix=` is prepended; `fail_init=1` makes init fail. */
#include <stdlib.h>
#include <string.h>

#include <kfarm/adapter.h>

struct reverse_state {
    char prefix[64];
};

static int reverse_init(void **state, const struct kf_args *args, char *err, size_t errlen)
{
    const char *fail = kf_args_get(args, "fail_init");
    if (fail && strcmp(fail, "1") == 0) {
        snprintf(err, errlen, "fail_init=1 was given");
        return KF_ERROR;
    }
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

static int reverse_kernel(void *state, const void *payload, size_t len,
                          const struct kf_knobs *knobs, struct kf_result *out)
{
    (void)knobs;
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

#ifndef ADAPTER_ABI
#define ADAPTER_ABI KF_ADAPTER_ABI_VERSION
#endif
#ifdef NO_CPU_VARIANT
static const struct kf_kernel bad_kernels[] = {{.kind = "reverse", .cpu = NULL}};
int reverse_unused_kernel(void *s, const void *p, size_t n, const struct kf_knobs *k,
                          struct kf_result *o);
int reverse_unused_kernel(void *s, const void *p, size_t n, const struct kf_knobs *k,
                          struct kf_result *o)
{
    return reverse_kernel(s, p, n, k, o);
}
#define KERNELS bad_kernels
#else
static const struct kf_kernel kernels[] = {{.kind = "reverse", .cpu = reverse_kernel}};
#define KERNELS kernels
#endif

#ifndef SYMBOL
#define SYMBOL kfarm_adapter
#endif

const struct kf_adapter SYMBOL = {
    .abi_version = ADAPTER_ABI,
    .name = "reverse",
    .init = reverse_init,
    .fini = reverse_fini,
    .kernels = KERNELS,
    .n_kernels = 1,
};
