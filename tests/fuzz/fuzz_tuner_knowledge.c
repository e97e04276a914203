/* Fuzz target: ops.json knowledge (knowledge.c) loaded into the block of a fixed margot.json
 * (the one of tests/tuner/test_config.c), then an update over what was loaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <kfarm/tuner.h>

#include "fuzz_files.h"

static const char *config =
    "{\"name\":\"app\",\"version\":\"1\",\"blocks\":[{\"name\":\"other\"},{\n"
    " \"name\":\"mc\",\n"
    " \"monitors\":[{\"name\":\"tm\",\"type\":\"time\",\"window\":4}],\n"
    " \"knobs\":[{\"name\":\"variant\",\"type\":\"string\",\"values\":[\"cpu\",\"accel\"]},\n"
    "            {\"name\":\"batch\",\"type\":\"int\",\"range\":[1,16,5]}],\n"
    " \"metrics\":[{\"name\":\"time_per_unit\",\"type\":\"double\",\"distribution\":\"yes\",\n"
    "              \"observed_by\":\"tm\",\"reactive_inertia\":2},\n"
    "            {\"name\":\"error\",\"type\":\"double\"}],\n"
    " \"features\":[{\"name\":\"size\",\"type\":\"int\",\"comparison\":\"le\"}],\n"
    " \"feature_distance\":\"normalized\",\n"
    " \"extra-functional_requirements\":[\n"
    "  {\"name\":\"fast\",\"minimize\":{\"geometric_mean\":[{\"time_per_unit\":1}]},\n"
    "   \"subject_to\":[{\"subject\":\"error\",\"comparison\":\"le\",\"value\":2,"
    "\"confidence\":1},\n"
    "                   {\"subject\":\"batch\",\"comparison\":\"ge\",\"value\":6}]}]}]}";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";
    struct tuner *t = tuner_config_parse(config, "m.json", "mc", NULL, err, sizeof(err));
    if (!t) {
        fprintf(stderr, "fuzz_tuner_knowledge: %s\n", err);
        abort();
    }
    char *json = kfz_strndup(data, size);
    if (tuner_knowledge_parse(t, json, "fuzz-ops.json", err, sizeof(err)) != 0 &&
        strnlen(err, sizeof(err)) == 0)
        abort();
    free(json);
    double f[1] = {size ? data[0] : 0};
    struct tuner_decision d;
    tuner_update(t, f, &d);
    tuner_free(t);
    return 0;
}
