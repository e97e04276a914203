/* Fuzz target: MQTT messages as a worker's selector receives them (selector_mqtt.c): explore
 * commands, predictions (knowledge) and accelerator states, each followed by a decision and an
 * observation, so that what a message left behind is used the way the worker uses it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_files.h"
#include "selector.h"
#include "selector_mqtt.h"

/* One kernel knob besides the variant (4 values) and one caller feature: 8 settings. */
static const char margot[] =
    "{\"name\":\"kfarm\",\"blocks\":[{\"name\":\"mc\",\n"
    " \"knobs\":[{\"name\":\"variant\",\"type\":\"string\",\"values\":[\"cpu\",\"accel\"]},\n"
    "            {\"name\":\"batch\",\"type\":\"int\",\"range\":[1,16,5]}],\n"
    " \"features\":[{\"name\":\"size\",\"type\":\"int\",\"comparison\":\"le\"}],\n"
    " \"learning\":{\"min_samples\":2}}]}";

/* Input: [flags] then messages "[which][payload]\0[feature][micros u16]" until the end.
 * flags bit 0: the kind has an accelerator. which % 4: explore, prediction, accel state, a topic
 * the selector did not subscribe to. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *path;
    if (!path) {
        const char *p = kfz_write("margot.json", margot, sizeof(margot) - 1);
        if (!p)
            abort();
        path = strdup(p);
    }
    struct kfz_cursor c = {data, size};
    int has_accel = kfz_u8(&c) & 1;
    static const char *const names[] = {"size"};
    char err[512] = "";
    struct tuner_selector *s =
        tuner_selector_new("kfarm", "mc", names, 1, has_accel, path, NULL, err, sizeof(err));
    if (!s) {
        fprintf(stderr, "fuzz_tuner_selector: %s\n", err);
        abort();
    }
    /* the hookup tuner_selector_set_mqtt makes, on the same topics, without a broker */
    struct selector_mqtt *m = selector_mqtt_attach_offline(s, "n1", "0000:01:00.1");
    if (!m)
        abort();
    const char *topics[] = {selector_mqtt_topic(m, SELECTOR_MQTT_EXPLORE),
                            selector_mqtt_topic(m, SELECTOR_MQTT_PREDICTION),
                            selector_mqtt_topic(m, SELECTOR_MQTT_ACCEL), "margot/kfarm.mc/other"};
    for (int msgs = 0; c.left && msgs < 32; msgs++) {
        uint8_t which = kfz_u8(&c);
        size_t pl;
        const uint8_t *pp = kfz_until(&c, 0, &pl);
        char *payload = kfz_strndup(pp, pl);
        selector_mqtt_handle(m, s, topics[which % 4], payload);
        free(payload);
        int heard = tuner_selector_accel_heard(s);
        if (heard < -1 || heard > 1)
            abort();
        uint8_t f = kfz_u8(&c);
        double feature = (double)(f & 0x7f) * 97.0;
        struct tuner_choice ch;
        if (tuner_selector_choose(s, &feature, 1, f >> 7, &ch) != 0)
            abort();
        /* a choice names a setting that exists, and the accelerator only when allowed */
        if (ch.setting_ >= selector_n_settings(s) || ch.cluster_ >= selector_n_clusters(s) ||
            ch.n_knobs != 1 ||
            (ch.variant == TUNER_VARIANT_ACCEL && (!has_accel || !(f >> 7) || heard == 0)))
            abort();
        tuner_selector_observe(s, &ch, (double)kfz_u16(&c) * 1e-6, 1.0);
    }
    tuner_selector_free(s);
    return 0;
}
