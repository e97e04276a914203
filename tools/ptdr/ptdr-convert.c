/* ptdr-convert: validates a ptdr profile file (JSON or binary) and writes the binary form that
 * the adapter memory-maps; --info prints sizes and the load time of a file. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "profiles.h"
#include "clock.h"

static double now(void)
{
    return (double)kf_now_ns() * 1e-9;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: ptdr-convert IN.json OUT.bin   convert (and validate) profiles\n"
               "       ptdr-convert --info FILE       load FILE and print its sizes\n");
}

int main(int argc, char **argv)
{
    char err[1024];
    struct ptdr_profiles *p = NULL;
    int info = argc == 3 && strcmp(argv[1], "--info") == 0;
    if (argc != 3 || (!info && argv[1][0] == '-')) {
        usage(stderr);
        return 2;
    }
    double t0 = now();
    if (ptdr_profiles_load(argv[info ? 2 : 1], &p, err, sizeof(err))) {
        fprintf(stderr, "ptdr-convert: %s\n", err);
        return 1;
    }
    double t1 = now();
    printf("%s: %u segments, %llu bins (at most %u per profile), loaded in %.3f s\n",
           argv[info ? 2 : 1], p->n_seg, (unsigned long long)p->n_bins, p->max_bins, t1 - t0);
    printf("raw float32 profile bytes %zu, resident bytes %zu, ratio %.3f\n",
           ptdr_profiles_raw_bytes(p), ptdr_profiles_resident_bytes(p),
           (double)ptdr_profiles_resident_bytes(p) / (double)ptdr_profiles_raw_bytes(p));
    int rc = 0;
    if (!info) {
        if (ptdr_profiles_write_binary(p, argv[2], err, sizeof(err))) {
            fprintf(stderr, "ptdr-convert: %s\n", err);
            rc = 1;
        } else {
            printf("wrote %s (%zu bytes)\n", argv[2], p->block_size);
        }
    }
    ptdr_profiles_free(p);
    return rc;
}
