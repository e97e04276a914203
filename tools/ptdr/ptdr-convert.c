/* ptdr-convert: validates a ptdr profile file (JSON or binary) and writes the binary form that
 * the adapter memory-maps; --info prints sizes and the load time of a file. */
#include <getopt.h>
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
               "       ptdr-convert --info FILE       load FILE and print its sizes\n"
               "  -h, --help  this help;  --version  the version\n"
               "Exit status: 0 done, 1 a file cannot be read, is invalid or cannot be written, "
               "2 bad usage.\n");
}

int main(int argc, char **argv)
{
    enum { OPT_INFO = 256, OPT_VERSION };
    static const struct option longopts[] = {
        {"info", required_argument, NULL, OPT_INFO},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    const char *info = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_INFO:
            info = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case OPT_VERSION:
            printf("ptdr-convert %s\n", KFARM_VERSION);
            return 0;
        default:
            fprintf(stderr, "ptdr-convert: see ptdr-convert --help\n");
            return 2;
        }
    }
    int rest = argc - optind;
    if ((info && rest != 0) || (!info && rest != 2)) {
        fprintf(stderr, "ptdr-convert: give IN OUT, or --info FILE alone\n");
        usage(stderr);
        return 2;
    }
    const char *in = info ? info : argv[optind];
    char err[1024];
    struct ptdr_profiles *p = NULL;
    double t0 = now();
    if (ptdr_profiles_load(in, &p, err, sizeof(err))) {
        fprintf(stderr, "ptdr-convert: %s\n", err);
        return 1;
    }
    double t1 = now();
    printf("%s: %u segments, %llu bins (at most %u per profile), loaded in %.3f s\n", in, p->n_seg,
           (unsigned long long)p->n_bins, p->max_bins, t1 - t0);
    printf("raw float32 profile bytes %zu, resident bytes %zu, ratio %.3f\n",
           ptdr_profiles_raw_bytes(p), ptdr_profiles_resident_bytes(p),
           (double)ptdr_profiles_resident_bytes(p) / (double)ptdr_profiles_raw_bytes(p));
    int rc = 0;
    if (!info) {
        if (ptdr_profiles_write_binary(p, argv[optind + 1], err, sizeof(err))) {
            fprintf(stderr, "ptdr-convert: %s\n", err);
            rc = 1;
        } else {
            printf("wrote %s (%zu bytes)\n", argv[optind + 1], p->block_size);
        }
    }
    ptdr_profiles_free(p);
    return rc;
}
