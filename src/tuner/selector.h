/* Private state of a tuner_selector, shared by selector.c (decisions, calibration, knowledge)
 * and selector_mqtt.c (the optional MQTT hookup). */
#ifndef KFARM_TUNER_SELECTOR_H
#define KFARM_TUNER_SELECTOR_H

#include "internal.h"
#include "mqtt_link.h"

#include <stdatomic.h>

struct cell {
    double *tpu, *sec; /* calibration samples (time per unit, seconds per request) */
    size_t n;
    int calibrated;
    uint64_t epoch; /* bumped on re-exploration: older observations are stale */
    double mean_tpu, sd_tpu, mean_sec, sd_sec;
    struct tuner_monitor *mon; /* observed time per unit while exploited */
    size_t out_of_band;
};

struct lcluster {
    double key[TUNER_MAX_FEATURES]; /* bucketed caller features */
    struct cell *cells;             /* one per setting */
};

struct tuner_selector {
    char app[TUNER_NAME_MAX], kind[TUNER_NAME_MAX];
    char appid[2 * TUNER_NAME_MAX + 2]; /* "<app>.<kind>", the <app> level of the topics */
    size_t nf;
    int has_accel;
    struct tuner *core;
    struct tuner_learn_params lp;
    size_t variant_knob, accel_feature, m_tpu, m_time, m_thr;
    size_t feat_map[TUNER_MAX_FEATURES];          /* caller feature i -> core feature index */
    size_t extra_knobs[TUNER_MAX_KNOBS], n_extra; /* core knob indices besides the variant */

    /* settings: every combination of knob values (mixed radix over the knob domains) */
    size_t n_settings;
    double *settings; /* n_settings * nk */
    unsigned char *in_design; /* per setting: calibrated locally (design_budget) */
    double *domain[TUNER_MAX_KNOBS];
    size_t dom_n[TUNER_MAX_KNOBS];

    struct lcluster *clusters;
    size_t n_clusters, cap_clusters;
    size_t last_cluster;
    int have_last_cluster;

    int knowledge_dirty;
    int prev_accel;
    int core_valid; /* core's current OP is (core_cluster, core_setting) */
    uint32_t core_setting, core_cluster;
    int explore_active;
    uint32_t explore_setting;
    struct tuner_selector_stats st;

    /* MQTT hookup (NULL without) */
    struct mqtt_link *mq;
    unsigned mqtt_error_seen; /* mqtt_link_error_changed() counter */
    char cid[160];
    char t_welcome[400], t_obs[400], t_kia[400], t_explore[400], t_pred[400], t_accel[400];
    atomic_int mqtt_accel;    /* -1 unknown, 0 paused/detached, 1 active */
    atomic_int welcome_acked; /* a learner answered since the last (re)connect */
    atomic_int welcome_now;   /* (re)connected: send the welcome at the next decision */
    double next_welcome;      /* until then, the welcome is repeated (servers may be away) */
};

int selector_setting_of(const struct tuner_selector *s, const double *knobs);
struct tuner *selector_core_like(const struct tuner_selector *s);
int selector_apply_knowledge(struct tuner_selector *s, const struct tuner *k);
/* The cluster of a bucketed key, made if new; past MAX_CLUSTERS (selector.c) the nearest
 * existing one. NULL only when out of memory. */
struct lcluster *selector_cluster(struct tuner_selector *s, const double *key, size_t *idx);
/* Index of the cluster with exactly this key, or -1. */
int selector_find_cluster(const struct tuner_selector *s, const double *key);
void selector_mqtt_drain(struct tuner_selector *s);
/* Applies one message received on the selector's topics (explore, prediction, accel state);
 * messages on other topics are ignored. payload is NUL-terminated. */
void selector_mqtt_handle(struct tuner_selector *s, const char *topic, const char *payload);
void selector_mqtt_observation(struct tuner_selector *s, const struct tuner_choice *c, double sec,
                               double tpu, double units);
void selector_mqtt_free(struct tuner_selector *s);

#endif
