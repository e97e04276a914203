/* What a selector offers to the code that plugs into it (the MQTT hookup, selector_mqtt.c), below
 * the public tuner.h calls: a sink it reports to and polls, and the calls a sink may use. The
 * selector's state stays in selector.c; a sink keeps its own. */
#ifndef KFARM_TUNER_SELECTOR_H
#define KFARM_TUNER_SELECTOR_H

#include <kfarm/tuner.h>

/* One observation of a setting the selector knows, as a sink forwards it. */
struct selector_observation {
    const double *features; /* the caller's features, bucketed: selector_n_features() values */
    int accel_available;
    const double *knobs; /* the setting: one value per knob of selector_block() */
    double seconds, time_per_unit, work_units;
};

/* The selector calls these on its owner's thread only. */
struct selector_sink_ops {
    /* Before each decision and accelerator query: apply what arrived (through the calls below)
     * and return what is known of the accelerator: -1 unknown, 0 paused or detached, 1 active. */
    int (*poll)(void *sink, struct tuner_selector *s);
    void (*observed)(void *sink, const struct tuner_selector *s,
                     const struct selector_observation *o);
    int (*connected)(const void *sink);
    void (*free)(void *sink);
};

/* Attaches a sink; the selector frees it with ops->free. -EALREADY if one is attached. */
int selector_set_sink(struct tuner_selector *s, const struct selector_sink_ops *ops, void *sink);
/* The attached sink when it has these ops, else NULL. */
void *selector_sink(const struct tuner_selector *s, const struct selector_sink_ops *ops);

const char *selector_app(const struct tuner_selector *s);
const char *selector_kind(const struct tuner_selector *s);
/* The block the selector decides with (knobs, features, metrics), read-only. */
const struct tuner *selector_block(const struct tuner_selector *s);
/* How many of knob k's values can run here (the variant: cpu only without an accelerator). */
size_t selector_knob_values(const struct tuner_selector *s, size_t k);
const struct tuner_learn_params *selector_learn_params(const struct tuner_selector *s);
/* The caller's features: how many, and the block's name for feature i. */
size_t selector_n_features(const struct tuner_selector *s);
const char *selector_feature_name(const struct tuner_selector *s, size_t i);
/* Sizes of the calibration table: choices name a setting and a cluster below these. */
size_t selector_n_settings(const struct tuner_selector *s);
size_t selector_n_clusters(const struct tuner_selector *s);

/* A learner's experiment: run the setting with these knob values (one per knob of the block)
 * until the next explore command or knowledge. NULL, or values that name no setting, ends it;
 * then -ENOENT for the latter. */
int selector_explore(struct tuner_selector *s, const double *knobs);
/* Applies knowledge received from a learner (ops.json text) as calibration, ends an experiment
 * and counts it in the stats (predictions, prediction_hash). 0 or a negative errno. */
int selector_apply_prediction(struct tuner_selector *s, const char *text, char *err, size_t errlen);

#endif
