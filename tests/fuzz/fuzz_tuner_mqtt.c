/* Fuzz target: MQTT messages as kfarm-learner and kfarm-observer receive them (learner.c,
 * observer.c, block_desc.c): the input is a sequence of "topic\0payload\0" messages handled by
 * one learner and one observer with no broker (publishing fails quietly, as with a broker down). */
#include <stdlib.h>
#include <string.h>

#include "fuzz_files.h"
#include "learner.h"
#include "observer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct learner l;
    struct observer ob;
    memset(&l, 0, sizeof(l));
    memset(&ob, 0, sizeof(ob));
    l.o.max_full = 64;
    l.o.samples = 4;
    ob.o.threshold = 2.0;
    ob.o.samples = 4;
    struct kfz_cursor c = {data, size};
    for (int msgs = 0; c.left && msgs < 64; msgs++) {
        size_t tl, pl;
        const uint8_t *tp = kfz_until(&c, 0, &tl);
        const uint8_t *pp = kfz_until(&c, 0, &pl);
        char *topic = kfz_strndup(tp, tl), *payload = kfz_strndup(pp, pl);
        learner_handle(&l, topic, payload);
        observer_handle(&ob, topic, payload);
        free(topic);
        free(payload);
    }
    learner_fini(&l);
    observer_fini(&ob);
    return 0;
}
