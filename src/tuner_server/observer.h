/* kfarm-observer's state: per application the knowledge versions (merged, newest wins), per
 * client the recent observations; drift and hardware changes trigger relearning. */
#ifndef KFARM_TUNER_OBSERVER_H
#define KFARM_TUNER_OBSERVER_H

#include "block_desc.h"
#include "mqtt_link.h"

struct kop {
    double f[TUNER_MAX_FEATURES]; /* bucketed */
    double k[TUNER_MAX_KNOBS];
    double obj;
};

/* What a client observed at one (features, knobs) point: drift is tracked per point, since a
 * worker alternates inputs and variants and one point drifting must not be masked by others. */
struct oentry {
    double f[TUNER_MAX_FEATURES]; /* bucketed */
    double k[TUNER_MAX_KNOBS];
    struct tuner_monitor *win; /* objective */
    size_t drift;
    unsigned long last; /* client's observation counter when last seen */
};

struct oclient {
    char cid[160];
    double f[TUNER_MAX_FEATURES]; /* last observation's features (hardware change detection) */
    int seen, alive;
    struct oentry *e;
    size_t n_e, cap_e;
    unsigned long tick;
};

struct oapp {
    char id[200];
    struct block_desc d;
    int have_desc;
    char **versions;
    size_t n_versions;
    struct kop *ops;
    size_t n_ops, cap_ops;
    struct oclient *clients;
    size_t n_clients, cap_clients;
    int relearning;
    double relearn_at;
    unsigned relearn_requests;
    char last_reason[256];
};

struct observer_opts {
    const char *broker, *hints_path, *knowledge_dir, *client_id;
    double threshold;
    size_t samples;
};

struct observer {
    struct observer_opts o;
    struct mqtt_link *mq;
    struct oapp *apps;
    size_t n_apps;
    int dirty;
};

void observer_handle(struct observer *ob, const char *topic, const char *payload);
int observer_write_hints(struct observer *ob);
void observer_fini(struct observer *ob);

#endif
