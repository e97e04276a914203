/* ptdr-gen: deterministic generator of ptdr test data: segment profile sets (rush hours,
 * weekends, congested and free-flowing segments) and monte-carlo requests over them. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 672

static uint64_t mix64(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

struct rng {
    uint64_t s;
};

static double uniform(struct rng *r)
{
    r->s = mix64(r->s);
    return (double)(r->s >> 11) * 0x1p-53;
}

static void segment_id(char *buf, size_t len, uint32_t i)
{
    /* OSM-style ids: way id, then the node the segment ends at. */
    snprintf(buf, len, "OSM%uT%u", 1000u + 7u * i, 1000u + 7u * (i + 1u));
}

static double bump(double hour, double centre, double width)
{
    double d = (hour - centre) / width;
    return exp(-0.5 * d * d);
}

/* Congestion of a segment class in one 15-minute slot, 0 (free) .. ~1 (jammed). */
static double congestion(int cls, int slot)
{
    static const double base[] = {0.03, 0.12, 0.30}, rush[] = {0.25, 0.45, 0.65};
    int day = slot / 96;
    double hour = (slot % 96) / 4.0;
    double c = base[cls];
    if (day < 5)
        c += rush[cls] * (bump(hour, 8.0, 1.0) + 0.9 * bump(hour, 17.0, 1.3));
    else
        c += 0.5 * rush[cls] * bump(hour, 13.5, 2.5);
    if (hour < 5.0)
        c *= 0.4;
    return c > 0.95 ? 0.95 : c;
}

static int gen_profiles(FILE *out, uint32_t n_seg, uint64_t seed, int max_bins)
{
    static const double speeds[] = {8.33, 13.89, 22.22, 27.78, 36.11};
    char id[64];
    fputs("[\n", out);
    for (uint32_t i = 0; i < n_seg; i++) {
        struct rng r = {mix64(seed ^ mix64(i))};
        double u = uniform(&r);
        int cls = u < 0.1 ? 2 : u < 0.4 ? 1 : 0; /* congested / normal / free-flowing */
        double length = 20.0 + 780.0 * uniform(&r);
        double vmax = speeds[(int)(uniform(&r) * 5) % 5];
        segment_id(id, sizeof(id), i);
        fprintf(out, "{\"id\":\"%s\",\"length\":%.2f,\"max_speed\":%.2f,\"profiles\":[", id, length,
                vmax);
        for (int t = 0; t < SLOTS; t++) {
            double c = congestion(cls, t) * (0.85 + 0.3 * uniform(&r));
            int nb = 2 + (int)(c * (max_bins - 1));
            if (nb > max_bins)
                nb = max_bins;
            double p[64], sum = 0;
            for (int k = 0; k < nb; k++) {
                p[k] = exp(-k * 3.0 * (1.0 - c)) * (0.8 + 0.4 * uniform(&r));
                sum += p[k];
            }
            fputs(t ? ",{\"values\":[" : "{\"values\":[", out);
            for (int k = 0; k < nb; k++) {
                double v = 1.0 - (double)k / (nb - 1) * (0.25 + 0.7 * c);
                v *= 0.97 + 0.03 * uniform(&r);
                fprintf(out, "%s%.4f", k ? "," : "", v < 0.05 ? 0.05 : v);
            }
            fputs("],\"cumprobs\":[", out);
            double acc = 0;
            for (int k = 0; k < nb; k++) {
                acc += p[k] / sum;
                if (k == nb - 1)
                    fputs(k ? ",1" : "1", out);
                else
                    fprintf(out, "%s%.6f", k ? "," : "", acc);
            }
            fputs("]}", out);
        }
        fprintf(out, "]}%s\n", i + 1 < n_seg ? "," : "");
    }
    fputs("]\n", out);
    return ferror(out) ? -EIO : 0;
}

/* One request per line, shaped like the traffic simulator's monte-carlo requests. */
static int gen_routes(FILE *out, uint32_t n_seg, uint64_t seed, uint32_t requests,
                      uint32_t alternatives, uint32_t length)
{
    static const double freqs[] = {30, 60, 120, 300};
    char id[64];
    struct rng r = {mix64(seed ^ 0x5eedull)};
    for (uint32_t q = 0; q < requests; q++) {
        fputs("{\"routes\":[", out);
        for (uint32_t a = 0; a < alternatives; a++) {
            /* Alternatives share origin and differ in the stretch they take: a walk over
             * consecutive segments from a random start, as a path finder would return. */
            uint32_t s = (uint32_t)(uniform(&r) * n_seg) % n_seg;
            fputs(a ? ",[" : "[", out);
            for (uint32_t k = 0; k < length; k++) {
                segment_id(id, sizeof(id), (s + k) % n_seg);
                fprintf(out, "%s\"%s\"", k ? "," : "", id);
            }
            fputs("]", out);
        }
        uint64_t dep = (uint64_t)(uniform(&r) * 604800000.0);
        fprintf(out, "],\"frequency\":%.0f,\"departure_time\":%llu}\n",
                freqs[(int)(uniform(&r) * 4) % 4], (unsigned long long)dep);
    }
    return ferror(out) ? -EIO : 0;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: ptdr-gen profiles --segments N [--seed S] [--max-bins B] [-o FILE]\n"
               "       ptdr-gen routes --segments N [--seed S] [--requests K] [--alternatives A]\n"
               "                       [--length L] [-o FILE]\n"
               "Same arguments, same output. Segment ids are OSM<a>T<b>, the same for both modes.\n"
               "  --segments N       segments in the map, 1..50000000 (required)\n"
               "  --seed S           random seed, 0..2^64-1 (default 1)\n"
               "  --max-bins B       profiles: levels of service per slot, 2..64 (default 5)\n"
               "  --requests K       routes: requests, one a line, 1..100000000 (default 10)\n"
               "  --alternatives A   routes: routes per request, 1..10000 (default 3)\n"
               "  --length L         routes: segments per route, 1..1000000 (default 50)\n"
               "  -o, --output FILE  write there instead of standard output\n"
               "  -h, --help         this help;  --version  the version\n"
               "Exit status: 0 written, 1 cannot write, 2 bad usage.\n");
}

/* Parses an unsigned number in [lo, hi]; on failure names the option and the range (exit 2). */
static int num(const char *opt, const char *s, unsigned long long lo, unsigned long long hi,
               unsigned long long *v)
{
    char *end;
    errno = 0;
    *v = strtoull(s, &end, 0);
    if (errno || end == s || *end || s[0] == '-' || *v < lo || *v > hi) {
        fprintf(stderr, "ptdr-gen: %s %s: give a whole number from %llu to %llu\n", opt, s, lo, hi);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    enum {
        OPT_SEGMENTS = 256,
        OPT_SEED,
        OPT_MAX_BINS,
        OPT_REQUESTS,
        OPT_ALTERNATIVES,
        OPT_LENGTH,
        OPT_VERSION
    };
    static const struct option longopts[] = {
        {"segments", required_argument, NULL, OPT_SEGMENTS},
        {"seed", required_argument, NULL, OPT_SEED},
        {"max-bins", required_argument, NULL, OPT_MAX_BINS},
        {"requests", required_argument, NULL, OPT_REQUESTS},
        {"alternatives", required_argument, NULL, OPT_ALTERNATIVES},
        {"length", required_argument, NULL, OPT_LENGTH},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, OPT_VERSION},
        {NULL, 0, NULL, 0},
    };
    unsigned long long n_seg = 0, seed = 1, max_bins = 5, requests = 10, alternatives = 3,
                       length = 50;
    const char *path = NULL;
    int c, bad = 0;
    while (!bad && (c = getopt_long(argc, argv, "o:h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_SEGMENTS:
            bad = num("--segments", optarg, 1, 50000000, &n_seg);
            break;
        case OPT_SEED:
            bad = num("--seed", optarg, 0, UINT64_MAX, &seed);
            break;
        case OPT_MAX_BINS:
            bad = num("--max-bins", optarg, 2, 64, &max_bins);
            break;
        case OPT_REQUESTS:
            bad = num("--requests", optarg, 1, 100000000, &requests);
            break;
        case OPT_ALTERNATIVES:
            bad = num("--alternatives", optarg, 1, 10000, &alternatives);
            break;
        case OPT_LENGTH:
            bad = num("--length", optarg, 1, 1000000, &length);
            break;
        case 'o':
            path = optarg;
            break;
        case 'h':
            usage(stdout);
            return 0;
        case OPT_VERSION:
            printf("ptdr-gen %s\n", KFARM_VERSION);
            return 0;
        default:
            bad = 1;
            break; /* getopt_long named the option */
        }
    }
    if (bad) {
        fprintf(stderr, "ptdr-gen: see ptdr-gen --help\n");
        return 2;
    }
    if (optind != argc - 1 ||
        (strcmp(argv[optind], "profiles") && strcmp(argv[optind], "routes"))) {
        fprintf(stderr, "ptdr-gen: give one mode, profiles or routes%s%s\n",
                optind < argc ? "; got " : "", optind < argc ? argv[optind] : "");
        usage(stderr);
        return 2;
    }
    if (!n_seg) {
        fprintf(stderr, "ptdr-gen: --segments N is required\n");
        return 2;
    }
    FILE *out = path ? fopen(path, "w") : stdout;
    if (!out) {
        fprintf(stderr, "ptdr-gen: cannot write %s: %s\n", path, strerror(errno));
        return 1;
    }
    int rc = argv[optind][0] == 'p' ? gen_profiles(out, (uint32_t)n_seg, seed, (int)max_bins)
                                    : gen_routes(out, (uint32_t)n_seg, seed, (uint32_t)requests,
                                                 (uint32_t)alternatives, (uint32_t)length);
    if ((path && fclose(out) != 0) || rc) {
        fprintf(stderr, "ptdr-gen: write error on %s\n", path ? path : "stdout");
        return 1;
    }
    return 0;
}
