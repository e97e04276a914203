/* A test adapter that says what it was called with: kind `knobs` replies with its payload, the
 * knob values it received (alpha: range 1..9 step 2, mode: labels fast/exact, batch: 1..4) and
 * how many requests the call carried; it has a CPU batch entry point, and the payload `bad`
 * fails (alone, also inside a batch). Kind `launches` replies with the calls so far:
 * {"single": S, "batches": B, "batched": N}. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kfarm/adapter.h>

struct counts {
    unsigned long single, batches, batched;
};

static int count_init(void **state, const struct kf_args *args, char *err, size_t errlen)
{
    (void)args;
    *state = calloc(1, sizeof(struct counts));
    if (!*state) {
        snprintf(err, errlen, "out of memory");
        return KF_ERROR;
    }
    return KF_OK;
}

static void count_fini(void *state)
{
    free(state);
}

static const char *const modes[] = {"fast", "exact", NULL};

static int answer(const void *payload, size_t len, const struct kf_knobs *knobs, size_t n,
                  struct kf_result *out)
{
    if (len == 3 && memcmp(payload, "bad", 3) == 0)
        return kf_result_error(out, "knobs: bad request (as asked)");
    char buf[512];
    long mode = kf_knob_get(knobs, 1, -1);
    int w = snprintf(buf, sizeof(buf),
                     "{\"p\":\"%.*s\",\"alpha\":%ld,\"mode\":\"%s\",\"batch\":%ld,\"n\":%zu}",
                     (int)(len > 100 ? 100 : len), (const char *)payload, kf_knob_get(knobs, 0, -1),
                     mode == 0 || mode == 1 ? modes[mode] : "?", kf_knob_get(knobs, 2, -1), n);
    return kf_result_set(out, buf, (size_t)w);
}

static int knobs_cpu(void *state, const void *payload, size_t len, const struct kf_knobs *knobs,
                     struct kf_result *out)
{
    ((struct counts *)state)->single++;
    return answer(payload, len, knobs, 1, out);
}

static int knobs_batch(void *state, struct kf_batch_item *items, size_t n,
                       const struct kf_knobs *knobs)
{
    struct counts *c = state;
    c->batches++;
    c->batched += n;
    for (size_t i = 0; i < n; i++)
        items[i].rc = answer(items[i].payload, items[i].len, knobs, n, &items[i].result);
    return KF_OK;
}

static int launches(void *state, const void *payload, size_t len, const struct kf_knobs *knobs,
                    struct kf_result *out)
{
    (void)payload;
    (void)len;
    (void)knobs;
    const struct counts *c = state;
    char buf[200];
    int w = snprintf(buf, sizeof(buf), "{\"single\":%lu,\"batches\":%lu,\"batched\":%lu}",
                     c->single, c->batches, c->batched);
    return kf_result_set(out, buf, (size_t)w);
}

static const struct kf_knob knobs[] = {
    {.name = "alpha", .type = KF_KNOB_RANGE, .min = 1, .max = 9, .step = 2, .def = 3},
    {.name = "mode", .type = KF_KNOB_LABELS, .labels = modes, .def = 0},
    {.name = KF_KNOB_BATCH, .type = KF_KNOB_RANGE, .min = 1, .max = 4, .step = 1, .def = 1},
};

static const struct kf_kernel kernels[] = {
    {.kind = "knobs",
     .cpu = knobs_cpu,
     .cpu_batch = knobs_batch,
     .knobs = knobs,
     .n_knobs = 3,
     .flags = KF_KERNEL_RETRY_SAFE},
    {.kind = "launches", .cpu = launches},
};

const struct kf_adapter kfarm_adapter = {
    .abi_version = KF_ADAPTER_ABI_VERSION,
    .name = "knobecho",
    .init = count_init,
    .fini = count_fini,
    .kernels = kernels,
    .n_kernels = sizeof(kernels) / sizeof(kernels[0]),
};
