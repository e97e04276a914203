/* Internal interfaces of the ptdr adapter: decoded requests, the two Monte Carlo variants (CPU and
 * OpenCL) that fill the same per-sample travel-time array, and the statistics computed from it. */
#ifndef PTDR_PTDR_H
#define PTDR_PTDR_H

#include <stddef.h>
#include <stdint.h>

#include "profiles.h"

#define PTDR_WEEK_MS     604800000.0
#define PTDR_MAX_SAMPLES 1000000u
/* Most (route, sample) travel times one request may ask for: bounds the reply memory. */
#define PTDR_MAX_WORK (1u << 24)

/* A decoded request: routes as segment indices into one profile set. */
struct ptdr_request {
    uint32_t n_routes;
    uint32_t *route_off; /* n_routes + 1 offsets into segs */
    uint32_t *segs;
    uint32_t samples;
    uint32_t dep_slot;   /* departure slot of the week, 0..671 */
    float dep_offset;    /* seconds into that slot, [0, 900) */
    double departure_ms; /* departure_time modulo one week */
    double frequency;    /* seconds between the vehicle's re-routing requests; validated only */
    uint64_t seed;       /* adapter seed mixed with a hash of the request content */
};

/* Decodes a monte-carlo / ptdr-stats payload against profiles p. allow_samples: accept a
 * "samples" override (ptdr-stats); default_samples otherwise. Returns 0 or -EINVAL with the
 * reason (e.g. the unknown segment id) in err. */
int ptdr_request_parse(struct ptdr_request *q, const void *payload, size_t len,
                       const struct ptdr_profiles *p, uint32_t default_samples, int allow_samples,
                       uint64_t adapter_seed, char *err, size_t errlen);
void ptdr_request_fini(struct ptdr_request *q);

/* Input features of a request without resolving ids: routes, total segments, samples. */
int ptdr_request_features(const void *payload, size_t len, uint32_t default_samples,
                          int allow_samples, double *features, size_t max);

/* Most threads one CPU call uses (the `threads` knob's maximum). */
#define PTDR_MAX_THREADS 4u
/* The `batch` knob: requests per OpenCL launch, 1, 1 + step, ... up to the maximum. */
#define PTDR_MAX_BATCH  16
#define PTDR_BATCH_STEP 5

/* CPU variant: times[r * samples + s] = travel time in seconds of sample s on route r, computed
 * by `threads` threads (1..PTDR_MAX_THREADS; the times do not depend on it). */
void ptdr_mc_cpu(const struct ptdr_profiles *p, const struct ptdr_request *q, unsigned threads,
                 float *times);

/* Accelerator variant (OpenCL). */
struct ptdr_cl;
/* Opens the device picked by sel ("P:D" platform:device indices, a substring of the device
 * name, or NULL/"" for the first device; "none" disables) and builds the kernel, from
 * binary_path when given. Returns NULL with the reason in err when no device can be used. */
struct ptdr_cl *ptdr_cl_new(const char *sel, const char *binary_path, char *err, size_t errlen);
void ptdr_cl_free(struct ptdr_cl *cl);
/* Copies p's arrays to the device once; they stay there until p is freed. */
int ptdr_cl_upload(struct ptdr_cl *cl, struct ptdr_profiles *p, char *err, size_t errlen);
/* Runs the request on the device into times (same layout as ptdr_mc_cpu). Returns 0 or a
 * negative code with err filled. */
int ptdr_cl_run(struct ptdr_cl *cl, const struct ptdr_profiles *p, const struct ptdr_request *q,
                float *times, char *err, size_t errlen);
/* Runs n requests in one kernel launch into times: the times of request j (same layout as
 * ptdr_mc_cpu) follow those of requests 0..j-1. The launch holds at most PTDR_MAX_WORK samples
 * in all. Returns 0 or a negative code with err filled. */
int ptdr_cl_run_batch(struct ptdr_cl *cl, const struct ptdr_profiles *p,
                      const struct ptdr_request *const *qs, size_t n, float *times, char *err,
                      size_t errlen);
/* Kernel launches so far (tests count them to check that a batch is one launch). */
unsigned long ptdr_cl_launches(struct ptdr_cl *cl);
/* Name of the device in use. */
const char *ptdr_cl_device_name(const struct ptdr_cl *cl);
/* Writes the built program binary for the device (what opencl_binary= loads). */
int ptdr_cl_save_binary(struct ptdr_cl *cl, const char *path, char *err, size_t errlen);

/* Statistics of one route's samples. */
struct ptdr_route_stats {
    double mean, stddev, p05, p50, p95;
};
/* Mean of each route (sum in sample order, in double) and the index of the lowest; ties go to
 * the first route. */
uint32_t ptdr_best_route(const float *times, uint32_t n_routes, uint32_t samples);
/* Full statistics; returns 0 or -ENOMEM. */
int ptdr_route_stats(const float *times, uint32_t samples, struct ptdr_route_stats *st);
double ptdr_route_mean(const float *times, uint32_t samples);

#endif
