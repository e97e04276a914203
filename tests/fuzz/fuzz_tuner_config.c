/* Fuzz target: margot.json (config.c). The first byte picks the block name asked for; a block
 * that parses is driven once (update, dump, knowledge round trip) to exercise what it built. */
#include <stdlib.h>
#include <string.h>

#include <kfarm/tuner.h>

#include "fuzz_files.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    static const char *const blocks[] = {NULL, "mc", "other", ""};
    const char *block = blocks[data[0] & 3];
    char *json = kfz_strndup(data + 1, size - 1);
    char err[512] = "";
    struct tuner_learn_params lp;
    tuner_learn_params_default(&lp);
    struct tuner *t = tuner_config_parse(json, "fuzz.json", block, &lp, err, sizeof(err));
    free(json);
    if (!t) {
        if (strnlen(err, sizeof(err)) == 0)
            abort();
        return 0;
    }
    size_t nf = tuner_n_features(t), nk = tuner_n_knobs(t), nm = tuner_n_metrics(t);
    double f[64] = {0}, k[64] = {0}, m[64] = {0};
    if (nf <= 64 && nk <= 64 && nm <= 64) {
        tuner_add_op(t, f, k, m, NULL);
        struct tuner_decision d;
        tuner_update(t, f, &d);
        for (size_t i = 0; i < nm; i++)
            tuner_observe(t, i, 1.0);
        char *dump = tuner_knowledge_dump(t);
        if (dump && tuner_knowledge_parse(t, dump, "dump", err, sizeof(err)) != 0)
            abort(); /* what the tuner writes it must read back */
        free(dump);
    }
    tuner_free(t);
    return 0;
}
