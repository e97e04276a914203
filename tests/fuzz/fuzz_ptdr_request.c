/* Fuzz target: ptdr monte-carlo / ptdr-stats request payloads (request.c) against a small valid
 * profile set, then the CPU kernel and the statistics on what the decoder accepted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_files.h"
#include "ptdr.h"

static struct ptdr_profiles *profiles;

static void write_profile_set(FILE *f)
{
    static const char *const ids[] = {"OSM1T2", "OSM2T3", "OSM3T4", "OSM77T78", "7"};
    fputs("[", f);
    for (int s = 0; s < 5; s++) {
        fprintf(f, "%s{\"id\":\"%s\",\"length\":%d,\"max_speed\":%d,\"profiles\":[", s ? "," : "",
                ids[s], 100 + 50 * s, 10 + s);
        for (int t = 0; t < 672; t++)
            fprintf(f, "%s{\"values\":[0.25,0.5,1.0],\"cumprobs\":[0.1,0.6,1.0]}", t ? "," : "");
        fputs("]}", f);
    }
    fputs("]", f);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    char path[256], err[512];
    snprintf(path, sizeof(path), "%s/profiles.json", kfz_dir());
    FILE *f = fopen(path, "w");
    if (!f)
        abort();
    write_profile_set(f);
    fclose(f);
    if (ptdr_profiles_load(path, &profiles, err, sizeof(err))) {
        fprintf(stderr, "fuzz_ptdr_request: %s\n", err);
        abort();
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int allow_samples = data[0] & 1;
    double features[8];
    ptdr_request_features(data + 1, size - 1, 8, allow_samples, features, 8);
    struct ptdr_request q;
    char err[512];
    if (ptdr_request_parse(&q, data + 1, size - 1, profiles, 8, allow_samples, 42, err,
                           sizeof(err)) != 0) {
        if (strnlen(err, sizeof(err)) == 0)
            abort(); /* every refusal says why */
        return 0;
    }
    if (q.n_routes == 0 || q.dep_slot >= 672 || !(q.dep_offset >= 0 && q.dep_offset < 900))
        abort();
    for (uint32_t r = 0; r < q.n_routes; r++)
        if (q.route_off[r] > q.route_off[r + 1])
            abort();
    for (uint32_t i = 0; i < q.route_off[q.n_routes]; i++)
        if (q.segs[i] >= profiles->n_seg)
            abort();
    /* run what is cheap enough to run on every input */
    if ((uint64_t)q.samples * q.n_routes <= 4096 && q.route_off[q.n_routes] <= 4096) {
        float *times = malloc(sizeof(float) * q.samples * q.n_routes);
        if (!times)
            abort();
        ptdr_mc_cpu(profiles, &q, 1, times);
        uint32_t best = ptdr_best_route(times, q.n_routes, q.samples);
        if (best >= q.n_routes)
            abort();
        struct ptdr_route_stats st;
        if (ptdr_route_stats(times, q.samples, &st) == 0 && !(st.p05 <= st.p95))
            abort();
        free(times);
    }
    ptdr_request_fini(&q);
    return 0;
}
