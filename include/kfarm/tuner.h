/* kfarm tuner: mARGOt-semantics autotuner (knobs, metrics, features, operating points, states with
 * constraints and rank, monitors, adaptation) plus a per-kind CPU/accelerator selector for workers.
 */
#ifndef KFARM_TUNER_H
#define KFARM_TUNER_H

#include <stddef.h>
#include <stdint.h>

#include <kfarm/mqtt_security.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TUNER_NAME_MAX     64 /* names of blocks, knobs, metrics, features, states (with NUL) */
#define TUNER_MAX_KNOBS    16
#define TUNER_MAX_METRICS  16
#define TUNER_MAX_FEATURES 16

/* ======================================================================================
 * Selector: what the kfarm worker calls, one per (rank, kernel kind).
 *
 * The selector owns a tuner block with the knob "variant" (cpu/accel) plus the kernel knobs of
 * margot.json, the caller's input features plus the feature "accel_available", and the metrics
 * time_per_unit (seconds / work unit), time (seconds per request) and throughput (units / s).
 * Default objective: minimise time_per_unit. It learns with no server: every knob setting is
 * calibrated per feature cluster (>= min samples, outliers beyond k MAD dropped), then the best
 * one is exploited; a setting is re-explored when its error coefficient leaves a band for M
 * samples, and accelerator settings are re-explored when the accelerator comes back.
 *
 * Typical worker loop:
 *     sel = tuner_selector_new("kfarm", "monte-carlo", names, 1, has_accel, NULL, NULL, err, n);
 *     for each request:
 *         tuner_selector_choose(sel, feats, 1, accel_now, &c);
 *         run c.variant (and c.knobs) ; measure seconds
 *         tuner_selector_observe(sel, &c, seconds, work_units);
 *     tuner_selector_save(sel, "ops.json", err, n); tuner_selector_free(sel);
 * A selector is not thread-safe: use it from one thread (the MQTT hookup has its own thread and
 * hands messages over through a locked inbox that choose() drains). */

#define TUNER_VARIANT_CPU   0
#define TUNER_VARIANT_ACCEL 1

enum tuner_reason {
    TUNER_REASON_CALIBRATING = 0, /* measuring a setting that is not calibrated yet */
    TUNER_REASON_EXPLOITING = 1,  /* best calibrated setting for these features */
    TUNER_REASON_FALLBACK = 2,    /* accelerator unavailable: CPU variant forced */
};

struct tuner_choice {
    int variant;                 /* TUNER_VARIANT_CPU or TUNER_VARIANT_ACCEL */
    size_t n_knobs;              /* kernel knobs besides the variant, in margot.json order */
    long knobs[TUNER_MAX_KNOBS]; /* range knobs: the value; enumeration knobs: the index */
    enum tuner_reason reason;
    const char *reason_str; /* static text: "calibrating", "exploiting", "fallback: ..." */
    /* private to the selector: which setting and cluster this choice belongs to */
    uint32_t setting_;
    uint32_t cluster_;
    uint64_t epoch_;
};

struct tuner_selector;

/* Creates a selector for one kernel kind. feature_names (n_features, may be 0) name the values
 * given to choose(). has_accel: the kind has an accelerator variant. margot_json: optional
 * margot.json whose block named `kind` (or its only block) adds kernel knobs, constraints, rank
 * and learning parameters; knowledge: optional ops.json loaded as calibrated knowledge (a
 * missing file is not an error, so a job can always pass the path it will save to).
 * Returns NULL and fills err on failure. */
struct tuner_selector *tuner_selector_new(const char *app, const char *kind,
                                          const char *const *feature_names, size_t n_features,
                                          int has_accel, const char *margot_json,
                                          const char *knowledge, char *err, size_t errlen);

/* A knob the kernel itself declares (kfarm/adapter.h struct kf_knob), tuned besides the variant:
 * a range (labels NULL) or labels (n_labels > 0; the value is the label's index). */
struct tuner_knob_decl {
    const char *name;
    long min, max, step;
    const char *const *labels;
    size_t n_labels;
};

/* tuner_selector_new for a kernel that declares knobs: each declared knob is tuned (after the
 * variant, in declaration order) unless margot.json declares a knob of that name, which then
 * narrows it: a range inside the declared one on its steps, or exactly the same labels; anything
 * else is refused with err naming the knob. Knobs margot.json adds beyond the declared ones are
 * tuned too (the kernel does not see them). */
struct tuner_selector *tuner_selector_new_knobs(const char *app, const char *kind,
                                                const char *const *feature_names,
                                                size_t n_features, int has_accel,
                                                const struct tuner_knob_decl *knobs,
                                                size_t n_knobs, const char *margot_json,
                                                const char *knowledge, char *err, size_t errlen);

/* Picks the variant and knobs for the next request. features: n values (n must equal
 * n_features). accel_available: 0/1 from the caller (sysfs VF + OpenCL device check); when an
 * MQTT hookup is set and has heard kfarm/accel/<node>/<bdf>, that state is ANDed with it.
 * Returns 0, or -EINVAL on bad arguments (out is then a CPU fallback choice). */
int tuner_selector_choose(struct tuner_selector *sel, const double *features, size_t n,
                          int accel_available, struct tuner_choice *out);

/* Records what the choice cost: seconds of wall time for work_units of input (> 0; pass 1 when
 * the kind has no notion of size). Several choices may be outstanding (pipelined requests): each
 * carries its setting and cluster. An observation of a setting that was sent back to
 * calibration after the choice was made (accelerator returned, drift) is not used for it. */
void tuner_selector_observe(struct tuner_selector *sel, const struct tuner_choice *choice,
                            double seconds, double work_units);

/* Writes the calibrated knowledge as ops.json (block = kind) atomically (tmp + rename). */
int tuner_selector_save(struct tuner_selector *sel, const char *ops_json_path, char *err,
                        size_t errlen);

/* Optional MQTT hookup (mARGOt v3 topics, see docs/tuner.md): connects in the background to
 * broker_uri ("tcp://host:port", or "ssl://host:port" for TLS) as sec says (user, password file,
 * CA and client certificate; NULL: anonymous, see kfarm/mqtt_security.h), publishes margot/<app>.<kind>/welcome/<cid> and one
 * observation per observe(), sets margot/<app>.<kind>/kia/<cid> as last will, applies received
 * predictions and explore commands, and, when accel_bdf is not NULL, subscribes to
 * kfarm/accel/<node>/<accel_bdf> ({"state":"active"|"paused"|"detached"}) for the
 * accel_available feature. node NULL means gethostname() (what ESFM uses). A broker that is down or
 * goes away never blocks choose()/observe(); the client reconnects on its own. Returns 0 or a
 * negative errno with err filled (bad URI or security option, unreadable or group/world-readable
 * password file, client creation failed). */
int tuner_selector_set_mqtt(struct tuner_selector *sel, const char *broker_uri,
                            const struct kf_mqtt_security *sec, const char *node,
                            const char *accel_bdf, char *err, size_t errlen);

/* Why the MQTT connection failed (refused user, TLS verification, broker unreachable): 1 with
 * the text in buf when the reason is new since the last call, else 0 (one log line per change,
 * not per retry). For the owner's log; cheap enough to call per request. */
int tuner_selector_mqtt_error(struct tuner_selector *sel, char *buf, size_t len);

/* What the MQTT hookup last heard on kfarm/accel/<node>/<bdf>: 1 active, 0 paused or detached,
 * -1 nothing yet (or no MQTT). Applies pending MQTT messages first. For callers that fix the
 * variant (no choose()) but must still stay off a paused accelerator. */
int tuner_selector_accel_heard(struct tuner_selector *sel);

/* The MQTT client id used on the topics ("<host>-<pid>-<kind>"), or NULL without MQTT. */
const char *tuner_selector_client_id(const struct tuner_selector *sel);

/* Name of kernel knob i (0 <= i < choice.n_knobs), for logs and $stats. */
const char *tuner_selector_knob_name(const struct tuner_selector *sel, size_t i);

/* Counters for $stats and tests. */
struct tuner_selector_stats {
    uint64_t decisions, observations;
    uint64_t reexplorations;  /* clusters/settings sent back to calibration */
    uint64_t predictions;     /* knowledge messages applied from a learner */
    uint64_t prediction_hash; /* FNV-1a of the last applied knowledge message (0: none) */
    int accel_available;      /* last value used by choose() */
    int mqtt_connected;
};
void tuner_selector_get_stats(const struct tuner_selector *sel, struct tuner_selector_stats *st);

void tuner_selector_free(struct tuner_selector *sel);

/* Feature clustering shared by the selector, learner and observer: 0 stays 0, anything else
 * maps to sign(x) * 2^round(log2 |x|), so inputs of similar magnitude share a cluster. */
double tuner_feature_bucket(double x);

/* ======================================================================================
 * Core autotuner (one mARGOt block). */

enum tuner_cmp { TUNER_LT, TUNER_LE, TUNER_GT, TUNER_GE, TUNER_DONT_CARE };
enum tuner_subject { TUNER_METRIC, TUNER_KNOB };
enum tuner_direction { TUNER_MINIMIZE, TUNER_MAXIMIZE };
enum tuner_combination { TUNER_LINEAR, TUNER_GEOMETRIC };
enum tuner_distance { TUNER_EUCLIDEAN, TUNER_NORMALIZED };

struct tuner;

struct tuner *tuner_new(const char *block_name);
void tuner_free(struct tuner *t);
const char *tuner_block_name(const struct tuner *t);

/* Knob definitions. Range: min..max by step (inclusive). Enumeration: values are labels and the
 * knob value of an OP is the label's index. Return the knob index or a negative errno. */
int tuner_add_knob_range(struct tuner *t, const char *name, long min, long max, long step,
                         char *err, size_t errlen);
int tuner_add_knob_enum(struct tuner *t, const char *name, const char *const *labels, size_t n,
                        char *err, size_t errlen);
int tuner_add_metric(struct tuner *t, const char *name, char *err, size_t errlen);
/* validity: TUNER_LE (a cluster is valid when its value <= the input's), TUNER_GE, or
 * TUNER_DONT_CARE ("-"). */
int tuner_add_feature(struct tuner *t, const char *name, enum tuner_cmp validity, char *err,
                      size_t errlen);
void tuner_set_feature_distance(struct tuner *t, enum tuner_distance d);

size_t tuner_n_knobs(const struct tuner *t);
size_t tuner_n_metrics(const struct tuner *t);
size_t tuner_n_features(const struct tuner *t);
int tuner_knob_index(const struct tuner *t, const char *name);    /* -ENOENT if unknown */
int tuner_metric_index(const struct tuner *t, const char *name);  /* -ENOENT if unknown */
int tuner_feature_index(const struct tuner *t, const char *name); /* -ENOENT if unknown */
const char *tuner_knob_name(const struct tuner *t, size_t i);
const char *tuner_metric_name(const struct tuner *t, size_t i);
const char *tuner_feature_name(const struct tuner *t, size_t i);
enum tuner_cmp tuner_feature_validity(const struct tuner *t, size_t i);
/* All values knob i can take, ascending; returns their count (writes at most cap). */
size_t tuner_knob_domain(const struct tuner *t, size_t i, double *values, size_t cap);
/* Enumeration label of a value, or NULL for range knobs / out of range. */
const char *tuner_knob_label(const struct tuner *t, size_t i, double value);
/* Label or number to value; -EINVAL if the label is not in the enumeration. */
int tuner_knob_value(const struct tuner *t, size_t i, const char *label, double *value);

/* Operating points (the knowledge). Arrays have n_features / n_knobs / n_metrics entries;
 * stddevs may be NULL (all 0). Returns the OP index or a negative errno. */
int tuner_add_op(struct tuner *t, const double *features, const double *knobs, const double *means,
                 const double *stddevs);
/* Changes a metric of an existing OP (e.g. learned online). */
int tuner_set_op_metric(struct tuner *t, size_t op, size_t metric, double mean, double stddev);
void tuner_clear_ops(struct tuner *t);
size_t tuner_n_ops(const struct tuner *t);
const double *tuner_op_features(const struct tuner *t, size_t op);
const double *tuner_op_knobs(const struct tuner *t, size_t op);
double tuner_op_mean(const struct tuner *t, size_t op, size_t metric);
double tuner_op_stddev(const struct tuner *t, size_t op, size_t metric);

/* States. The first state added becomes active. state NULL below means the active state. */
int tuner_add_state(struct tuner *t, const char *name, char *err, size_t errlen);
int tuner_set_active_state(struct tuner *t, const char *name);
const char *tuner_active_state(const struct tuner *t);

/* Adds a constraint `field cmp goal` on a metric or knob. priority: smaller is more important
 * (relaxed last). confidence: sigmas of the metric's stddev the OP must clear the goal by.
 * Returns a constraint id (>= 0) for the functions below, or a negative errno. */
int tuner_add_constraint(struct tuner *t, const char *state, enum tuner_subject subject,
                         const char *field, enum tuner_cmp cmp, double goal, int priority,
                         double confidence, char *err, size_t errlen);
int tuner_remove_constraint(struct tuner *t, const char *state, int id);
int tuner_set_constraint_goal(struct tuner *t, const char *state, int id, double goal);

struct tuner_rank_term {
    enum tuner_subject subject;
    const char *name;
    double coef; /* linear: weight; geometric: exponent */
};
/* rank = sum(coef * value) (linear) or prod(value ^ coef) (geometric), minimised or maximised. */
int tuner_set_rank(struct tuner *t, const char *state, enum tuner_direction dir,
                   enum tuner_combination comb, const struct tuner_rank_term *terms, size_t n,
                   char *err, size_t errlen);

struct tuner_decision {
    size_t op;      /* index of the chosen OP */
    size_t cluster; /* feature cluster used */
    int changed;    /* the knob configuration differs from the previous decision */
    int relaxed;    /* no OP satisfied every constraint; constraints were relaxed */
};
/* Chooses the best OP for the given features (n_features values; NULL if none): the best rank
 * among OPs satisfying every constraint of the active state; when none does, constraints are
 * relaxed from the lowest priority up (the OPs closest to the first unsatisfiable constraint are
 * kept and the lower ones applied to them; ties by rank). Returns 0 or -ENOENT (no OPs). */
int tuner_update(struct tuner *t, const double *features, struct tuner_decision *out);

/* Adaptation: metric m is observed by a window-sized monitor; each observation yields an error
 * coefficient sample expected/observed (1 while the window fills or within one stddev of the
 * expected value of the current OP); the coefficient is the average of the last `inertia`
 * samples and multiplies the goals of the constraints on m. */
int tuner_set_adaptation(struct tuner *t, size_t metric, size_t window, size_t inertia);
int tuner_observe(struct tuner *t, size_t metric, double value);
double tuner_error_coefficient(const struct tuner *t, size_t metric);
/* Clears the monitors (not the inertia ring); update() does it when the configuration changes. */
void tuner_reset_monitors(struct tuner *t);

/* ---- margot.json configuration and ops.json knowledge ---- */

struct tuner_learn_params {
    size_t min_samples;             /* per setting and feature cluster before it is trusted (10) */
    double outlier_mads;            /* k: samples beyond k MADs from the median are dropped (3) */
    double band;                    /* error coefficient band [1/band, band] (1.5) */
    size_t band_samples;            /* M: consecutive samples outside the band to re-explore (5) */
    size_t observations_per_config; /* learner: N observations per configuration (5) */
    /* selector: settings calibrated per cluster when the knob space is larger: full factorial up
     * to this many, else a design (each variant's first setting, one knob varied at a time from
     * it, then seeded random settings up to the budget) (32) */
    size_t design_budget;
};
void tuner_learn_params_default(struct tuner_learn_params *p);

/* Builds a tuner from block `block` (NULL: the only/first block) of a margot.json file:
 * knobs ("range": [min,max,step] or "values": [...]), metrics (with optional
 * "reactive_inertia" and "observed_by" monitor window), features ("comparison": le/ge/-),
 * "feature_distance", and extra-functional_requirements (states with minimize/maximize
 * {linear_mean|geometric_mean: [{name: coef}]} and subject_to [{subject, comparison, value,
 * confidence, priority}]). "agora" fills lp when not NULL. Errors name file, field, expected. */
struct tuner *tuner_config_load(const char *path, const char *block, struct tuner_learn_params *lp,
                                char *err, size_t errlen);
struct tuner *tuner_config_parse(const char *json, const char *origin, const char *block,
                                 struct tuner_learn_params *lp, char *err, size_t errlen);

/* ops.json: {"<block>": [{"features":{..},"knobs":{..},"metrics":{"m":[mean,std]}}]}. Adds the
 * block's OPs to t (other blocks are ignored; a missing block is an error). */
int tuner_knowledge_load(struct tuner *t, const char *path, char *err, size_t errlen);
int tuner_knowledge_parse(struct tuner *t, const char *json, const char *origin, char *err,
                          size_t errlen);
/* The block's OPs as ops.json text (malloc'd, caller frees), NULL on allocation failure. */
char *tuner_knowledge_dump(const struct tuner *t);
int tuner_knowledge_save(const struct tuner *t, const char *path, char *err, size_t errlen);

/* ---- Monitors ---- */
struct tuner_monitor;
struct tuner_monitor *tuner_monitor_new(size_t window);
void tuner_monitor_free(struct tuner_monitor *m);
void tuner_monitor_push(struct tuner_monitor *m, double v);
void tuner_monitor_clear(struct tuner_monitor *m);
size_t tuner_monitor_count(const struct tuner_monitor *m);
int tuner_monitor_full(const struct tuner_monitor *m);
double tuner_monitor_avg(const struct tuner_monitor *m);
double tuner_monitor_stddev(const struct tuner_monitor *m); /* sample stddev; 0 if < 2 values */
double tuner_monitor_min(const struct tuner_monitor *m);
double tuner_monitor_max(const struct tuner_monitor *m);
double tuner_monitor_last(const struct tuner_monitor *m);

/* ---- Robust statistics used by calibration and learning ---- */
struct tuner_stats {
    double mean, stddev;
    size_t kept, dropped;
};
/* Mean/stddev of v[0..n) after dropping values beyond k * MAD (scaled to sigma) from the
 * median. v is reordered. Returns 0 or -EINVAL when n == 0. */
int tuner_robust_stats(double *v, size_t n, double k, struct tuner_stats *out);

#ifdef __cplusplus
}
#endif
#endif
