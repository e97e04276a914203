/* Test fixtures for the ptdr tests: small profile files written on the fly, an adapter instance
 * driven through the kf_adapter ABI, and calls that return the reply as a string. */
#ifndef PTDR_FIXTURE_H
#define PTDR_FIXTURE_H

#include <kfarm/adapter.h>

/* One profile used for every slot unless slot_fn overrides it. */
struct fx_profile {
    int n;
    double values[8];
    double cumprobs[8];
};
/* A profile whose only outcome is v (probability 1). */
#define FX_ONE(v)                                                                                  \
    {                                                                                              \
        1, {v},                                                                                    \
        {                                                                                          \
            1.0                                                                                    \
        }                                                                                          \
    }

struct fx_segment {
    const char *id;
    double length, max_speed;
    struct fx_profile all; /* profile of every slot... */
    int special_slot;      /* ...except this one (-1: none) */
    struct fx_profile special;
};

/* Makes a private temp directory (removed by fx_cleanup) and returns its path. */
const char *fx_tmpdir(void);
void fx_cleanup(void);
/* cmocka group teardown that only calls fx_cleanup. */
int fx_teardown(void **state);
/* Writes segments as a JSON profile file in the temp dir; slots = how many slots to write
 * (672 for a valid file). Returns the path (static storage per name). */
const char *fx_write_profiles(const char *name, const struct fx_segment *segs, int n, int slots);
/* Writes text to a file in the temp dir and returns its path. */
const char *fx_write_text(const char *name, const char *text);
/* Runs ptdr-gen with args (a string of arguments) writing to name in the temp dir. */
const char *fx_generate(const char *name, const char *args);

/* Adapter instance through the ABI. */
struct fx_adapter {
    const struct kf_adapter *a;
    void *state;
};
/* init with NULL-terminated "key=value" strings; returns KF_OK or KF_ERROR (err filled). */
int fx_init(struct fx_adapter *fx, const struct kf_adapter *a, const char *const *kv, char *err,
            size_t errlen);
void fx_fini(struct fx_adapter *fx);
/* Calls kernel kind (variant 0 cpu, 1 accel) on payload; returns the rc, *reply gets a malloc()ed
 * NUL-terminated reply or error text. */
int fx_call(struct fx_adapter *fx, const char *kind, int accel, const char *payload, char **reply);
int fx_broadcast(struct fx_adapter *fx, const char *kind, const char *payload, char *err,
                 size_t errlen);

#endif
