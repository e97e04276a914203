/* Private to libkfarm_tuner (src/tuner/): the data layout of a tuner block, shared by its files;
 * the MQTT servers (server/) never see it. OPs are stored as structure-of-arrays so that update()
 * walks contiguous memory. */
#ifndef KFARM_TUNER_PRIVATE_H
#define KFARM_TUNER_PRIVATE_H

#include <kfarm/tuner.h>

#include "errbuf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>

struct knob {
    char name[TUNER_NAME_MAX];
    int is_enum;
    long min, max, step;
    char **labels;
    size_t n_labels;
};

struct metric {
    char name[TUNER_NAME_MAX];
    /* adaptation, enabled when mon != NULL */
    struct tuner_monitor *mon;
    double *ring;
    size_t inertia, ring_n, ring_pos;
    double coef;
};

struct feature {
    char name[TUNER_NAME_MAX];
    enum tuner_cmp cmp;
};

struct constraint {
    int id;
    enum tuner_subject subject;
    size_t field;
    enum tuner_cmp cmp;
    double goal;
    int priority;
    double confidence;
};

struct rank_term {
    enum tuner_subject subject;
    size_t field;
    double coef;
};

struct state {
    char name[TUNER_NAME_MAX];
    struct constraint *c; /* sorted by priority (stable) */
    size_t n_c, cap_c;
    int next_id;
    enum tuner_direction dir;
    enum tuner_combination comb;
    struct rank_term terms[TUNER_MAX_METRICS + TUNER_MAX_KNOBS];
    size_t n_terms;
};

struct tuner {
    char block[TUNER_NAME_MAX];
    struct knob knobs[TUNER_MAX_KNOBS];
    struct metric metrics[TUNER_MAX_METRICS];
    struct feature features[TUNER_MAX_FEATURES];
    size_t nk, nm, nf;
    enum tuner_distance distance;

    /* knowledge */
    size_t n_ops, cap_ops;
    double *op_features, *op_knobs, *op_mean, *op_std;

    /* derived from the knowledge, rebuilt lazily */
    int clusters_dirty;
    size_t n_clusters;
    double *cl_features; /* n_clusters * nf */
    size_t *cl_start, *cl_count, *cl_ops;
    double cl_range[TUNER_MAX_FEATURES];
    int rank_dirty;   /* rank and constraint values below need a rebuild */
    double *pos_rank; /* rank of the OP at each cluster-ordered position (smaller is better) */
    double *cv;       /* per active constraint, per position: value to compare with its goal,
                       * sign-normalised so that every constraint reads `cv <= goal` (or <) */
    size_t cv_cap;
    size_t *scratch_a, *scratch_b;
    double *scratch_d;

    struct state *states;
    size_t n_states, active;

    /* decision cache: valid while nothing changed and the features are the same */
    int solved;
    double last_features[TUNER_MAX_FEATURES];
    struct tuner_decision last;
    int have_prev_knobs;
    double prev_knobs[TUNER_MAX_KNOBS];
    int have_current; /* last.op refers to the current knowledge */
};

int tuner_copy_name(char *dst, const char *src, const char *what, char *err, size_t errlen);
struct state *tuner_find_state(struct tuner *t, const char *name);
void tuner_invalidate(struct tuner *t);
void tuner_rebuild_clusters(struct tuner *t);
int tuner_rebuild_derived(struct tuner *t);
size_t tuner_select_cluster(const struct tuner *t, const double *features);
double tuner_effective_goal(const struct tuner *t, const struct constraint *c);
/* Forgets a metric's observations and error coefficient (back to 1), keeping its window and
 * inertia. */
void tuner_reset_adaptation(struct tuner *t, size_t metric);

/* Like tuner_config_parse/load, defining `metrics` (if the file does not) before the states so
 * that requirements may use them (the selector's measured metrics). */
struct tuner *tuner_config_parse_ex(const char *json, const char *origin, const char *block,
                                    struct tuner_learn_params *lp, const char *const *metrics,
                                    size_t n_metrics, char *err, size_t errlen);
struct tuner *tuner_config_load_ex(const char *path, const char *block,
                                   struct tuner_learn_params *lp, const char *const *metrics,
                                   size_t n_metrics, char *err, size_t errlen);

#endif
