/* kfarm-learner's state: per application, the DoE configurations and their observations, the
 * clients, and the knowledge built once every configuration has N observations. */
#ifndef KFARM_TUNER_LEARNER_H
#define KFARM_TUNER_LEARNER_H

#include "block_desc.h"
#include "mqtt_link.h"

#define LEARNER_DROPPED_KEPT 16

struct obs {
    double f[TUNER_MAX_FEATURES];
    double m[TUNER_MAX_METRICS];
};

struct lconfig {
    struct obs *obs;
    size_t n_obs, cap;
    size_t mismatches; /* observations of other configurations from clients asked to run it */
    int abandoned;     /* no client can run it (e.g. accelerator configurations, none attached) */
};

struct lclient {
    char cid[160];
    long assigned; /* configuration index, -1 none */
};

struct lkey {
    double f[TUNER_MAX_FEATURES]; /* bucketed features: one input cluster */
    size_t n;                     /* observations seen in it (any configuration) */
};

struct lapp {
    char id[200];
    struct lkey *keys; /* input clusters seen while learning */
    size_t n_keys, cap_keys;
    struct block_desc d;
    double *cfg; /* n_cfg * nk */
    struct lconfig *configs;
    size_t n_cfg, n_obs_needed;
    struct lclient *clients;
    size_t n_clients, cap_clients;
    char dropped[LEARNER_DROPPED_KEPT][160];
    size_t n_dropped;
    int learned;
    unsigned version, relearns;
    char *knowledge;
};

struct learner_opts {
    const char *broker, *state_path, *knowledge_dir, *client_id;
    size_t observations, max_full, samples;
    unsigned seed;
    int verbose;
};

struct learner {
    struct learner_opts o;
    struct mqtt_link *mq;
    struct lapp *apps;
    size_t n_apps;
    int dirty;
};

void learner_handle(struct learner *l, const char *topic, const char *payload);
int learner_write_state(struct learner *l);
void learner_fini(struct learner *l);
/* Builds the ops.json knowledge of an app from its observations (malloc'd). */
char *learner_build_knowledge(const struct lapp *a);

#endif
