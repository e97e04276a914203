/* The block description a client sends in its welcome message (knobs and their values,
 * features, metrics, objective, hardware features), as kfarm-learner and kfarm-observer see it. */
#ifndef KFARM_TUNER_BLOCK_DESC_H
#define KFARM_TUNER_BLOCK_DESC_H

#include <kfarm/tuner.h>

#include <cjson/cJSON.h>

struct bd_knob {
    char name[TUNER_NAME_MAX];
    int is_enum;
    size_t n;
    double *values; /* range: the values; enumeration: 0..n-1 */
    char **labels;  /* enumeration only */
};

struct block_desc {
    char block[TUNER_NAME_MAX];
    struct bd_knob knobs[TUNER_MAX_KNOBS];
    size_t nk;
    char features[TUNER_MAX_FEATURES][TUNER_NAME_MAX];
    size_t nf;
    char metrics[TUNER_MAX_METRICS][TUNER_NAME_MAX];
    size_t nm;
    char objective[TUNER_NAME_MAX]; /* metric to optimise */
    int maximize;
    int objective_idx;
    int hw[TUNER_MAX_FEATURES]; /* 1 if feature i is a hardware feature */
    size_t obs_per_config;      /* 0: not given */
};

/* Most observations per configuration a welcome may ask for. */
#define BD_MAX_OBS_PER_CONFIG 100000

int block_desc_parse(struct block_desc *d, const char *json, char *err, size_t errlen);
void block_desc_fini(struct block_desc *d);
/* Knob values from {"name": label-or-number}; -ENOENT if a knob is missing or unknown value. */
int block_desc_knobs(const struct block_desc *d, const cJSON *obj, double *out);
/* {"name": label-or-number} for knob values k. */
cJSON *block_desc_knobs_json(const struct block_desc *d, const double *k);
/* Feature values from {"name": number}; -ENOENT if one is missing. */
int block_desc_features(const struct block_desc *d, const cJSON *obj, double *out);
/* Metric values from {"name": number or [mean, std]}; -ENOENT if one is missing. */
int block_desc_metrics(const struct block_desc *d, const cJSON *obj, double *mean, double *sd);

#endif
