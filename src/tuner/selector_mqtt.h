/* Test seam of the selector's MQTT hookup (tests/fuzz/fuzz_tuner_selector.c): its state and
 * topics without a broker, and the handler of one received message. Workers use
 * tuner_selector_set_mqtt (kfarm/tuner.h). */
#ifndef KFARM_TUNER_SELECTOR_MQTT_H
#define KFARM_TUNER_SELECTOR_MQTT_H

#include <kfarm/tuner.h>

struct selector_mqtt;

enum selector_mqtt_topic { SELECTOR_MQTT_EXPLORE, SELECTOR_MQTT_PREDICTION, SELECTOR_MQTT_ACCEL };

/* Attaches the hookup with no connection (nothing is published); accel_bdf may be NULL. NULL when
 * out of memory or the selector already has a sink. The selector frees it. */
struct selector_mqtt *selector_mqtt_attach_offline(struct tuner_selector *s, const char *node,
                                                   const char *accel_bdf);
/* The topic the hookup subscribes to for explore commands, predictions, accelerator state. */
const char *selector_mqtt_topic(const struct selector_mqtt *m, enum selector_mqtt_topic which);
/* Applies one message received on the hookup's topics; others are ignored. payload is
 * NUL-terminated. */
void selector_mqtt_handle(struct selector_mqtt *m, struct tuner_selector *s, const char *topic,
                          const char *payload);

#endif
