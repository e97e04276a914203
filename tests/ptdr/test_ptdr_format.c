/* The binary profile format: JSON -> binary -> mmap gives the same bytes and the same answers,
 * the resident size stays within 1.2x the raw float32 profiles, a large map loads in well under
 * a second, and damaged files are refused naming the file and segment. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ptdr.h"
#include "ptdr_fixture.h"
#include "ptdr_sample.h"

static const char *json_path;

static int setup(void **state)
{
    (void)state;
    json_path = fx_generate("map.json", "profiles --segments 200 --seed 11 --max-bins 6");
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void test_binary_round_trip_is_identical(void **state)
{
    (void)state;
    char err[1024], bin[600];
    struct ptdr_profiles *a, *b;
    snprintf(bin, sizeof(bin), "%s/map.bin", fx_tmpdir());
    assert_int_equal(ptdr_profiles_load(json_path, &a, err, sizeof(err)), 0);
    assert_int_equal(ptdr_profiles_write_binary(a, bin, err, sizeof(err)), 0);
    assert_int_equal(ptdr_profiles_load(bin, &b, err, sizeof(err)), 0);
    assert_false(a->mapped);
    assert_true(b->mapped);
    assert_int_equal(a->n_seg, 200);
    assert_int_equal(a->n_seg, b->n_seg);
    assert_true(a->n_bins == b->n_bins && a->max_bins == b->max_bins);
    assert_int_equal(a->block_size, b->block_size);
    assert_memory_equal(a->block, b->block, a->block_size);
    assert_int_equal(ptdr_profiles_find(b, "OSM1000T1007"), 0);
    assert_int_equal(ptdr_profiles_find(b, "OSM2393T2400"), 199);
    assert_int_equal(ptdr_profiles_find(b, "OSM1T2"), -1);
    /* Same answers from both. */
    const char *req = "{\"routes\":[[\"OSM1000T1007\",\"OSM1007T1014\"],[\"OSM2393T2400\"]],"
                      "\"departure_time\":29000000}";
    struct ptdr_request qa, qb;
    assert_int_equal(ptdr_request_parse(&qa, req, strlen(req), a, 333, 0, 9, err, sizeof(err)), 0);
    assert_int_equal(ptdr_request_parse(&qb, req, strlen(req), b, 333, 0, 9, err, sizeof(err)), 0);
    float ta[666], tb[666];
    ptdr_mc_cpu(a, &qa, 1, ta);
    ptdr_mc_cpu(b, &qb, 1, tb);
    assert_memory_equal(ta, tb, sizeof(ta));
    ptdr_request_fini(&qa);
    ptdr_request_fini(&qb);
    /* The in-memory form stays within 1.2x the raw float32 profile data. */
    double ratio = (double)ptdr_profiles_resident_bytes(b) / (double)ptdr_profiles_raw_bytes(b);
    print_message("resident / raw float32 = %.3f\n", ratio);
    assert_true(ratio <= 1.2);
    ptdr_profiles_free(a);
    ptdr_profiles_free(b);
}

/* Builds a synthetic map of n_seg segments with 2 bins per profile straight into the layout. */
static struct ptdr_profiles *synthetic(uint32_t n_seg)
{
    struct ptdr_file_header h;
    uint64_t n_bins = 2ull * PTDR_SLOTS * n_seg, ids_size = 0;
    char id[32];
    for (uint32_t s = 0; s < n_seg; s++)
        ids_size += (uint64_t)snprintf(id, sizeof(id), "S%u", s) + 1;
    ptdr_layout(&h, n_seg, n_bins, ids_size, 2);
    struct ptdr_profiles *p = calloc(1, sizeof(*p));
    p->block = calloc(1, h.total_size);
    p->block_size = h.total_size;
    p->path = strdup("synthetic");
    memcpy(p->block, &h, sizeof(h));
    ptdr_profiles_bind(p, &h);
    char *ids = (char *)p->ids;
    uint64_t ido = 0;
    for (uint32_t s = 0; s < n_seg; s++) {
        ((float *)p->length)[s] = 100.0f + s % 50;
        ((float *)p->max_speed)[s] = 10.0f;
        ((float *)p->lv)[s] = p->length[s] / p->max_speed[s];
        ((uint32_t *)p->seg_base)[s] = s * 2 * PTDR_SLOTS;
        ((uint32_t *)p->id_off)[s] = (uint32_t)ido;
        ido += (uint64_t)sprintf(ids + ido, "S%u", s) + 1;
        for (uint32_t t = 0; t <= PTDR_SLOTS; t++)
            ((uint16_t *)p->slot_rel)[(size_t)s * PTDR_REL_STRIDE + t] = (uint16_t)(2 * t);
    }
    ((uint32_t *)p->id_off)[n_seg] = (uint32_t)ido;
    for (uint64_t k = 0; k < n_bins; k++) {
        ((float *)p->values)[k] = k % 2 ? 0.5f : 1.0f;
        ((float *)p->cumprobs)[k] = k % 2 ? 1.0f : 0.75f;
    }
    return p;
}

static void test_large_map_mmap_load_is_fast(void **state)
{
    (void)state;
    char err[1024], bin[600];
    snprintf(bin, sizeof(bin), "%s/large.bin", fx_tmpdir());
    struct ptdr_profiles *p = synthetic(10000), *q;
    assert_int_equal(ptdr_profiles_write_binary(p, bin, err, sizeof(err)), 0);
    ptdr_profiles_free(p);
    double t0 = now();
    if (ptdr_profiles_load(bin, &q, err, sizeof(err)))
        fail_msg("%s", err);
    double dt = now() - t0;
    print_message("%u segments, %llu bins, %zu MB: loaded and validated in %.3f s\n", q->n_seg,
                  (unsigned long long)q->n_bins, q->block_size >> 20, dt);
    assert_true(dt < 1.0);
    assert_true(q->mapped);
    assert_true((double)ptdr_profiles_resident_bytes(q) <= 1.2 * ptdr_profiles_raw_bytes(q));
    assert_int_equal(ptdr_profiles_find(q, "S9999"), 9999);
    ptdr_profiles_free(q);
    unlink(bin);
}

/* Writes a copy of src with the bytes at off replaced, and expects the load to fail naming
 * what. */
static void expect_damaged(const char *src, const char *name, long off, const void *bytes, size_t n,
                           const char *want)
{
    char dst[600], err[1024];
    snprintf(dst, sizeof(dst), "%s/%s", fx_tmpdir(), name);
    FILE *in = fopen(src, "rb"), *out = fopen(dst, "wb");
    int c;
    long pos = 0;
    while ((c = fgetc(in)) != EOF) {
        if (pos >= off && pos < off + (long)n)
            c = ((const unsigned char *)bytes)[pos - off];
        if (off >= 0 || pos < -off) /* negative off: truncate to -off bytes */
            fputc(c, out);
        pos++;
    }
    fclose(in);
    fclose(out);
    struct ptdr_profiles *p = NULL;
    int rc = ptdr_profiles_load(dst, &p, err, sizeof(err));
    if (rc == 0 || !strstr(err, dst) || !strstr(err, want))
        fail_msg("%s: rc %d, \"%s\", want \"%s\"", name, rc, err, want);
}

static void test_damaged_binary_files_are_refused(void **state)
{
    (void)state;
    char err[1024], bin[600];
    struct ptdr_profiles *p;
    snprintf(bin, sizeof(bin), "%s/ok.bin", fx_tmpdir());
    assert_int_equal(ptdr_profiles_load(json_path, &p, err, sizeof(err)), 0);
    assert_int_equal(ptdr_profiles_write_binary(p, bin, err, sizeof(err)), 0);
    struct ptdr_file_header h;
    memcpy(&h, p->block, sizeof(h));
    uint32_t big = 1000;
    expect_damaged(bin, "nseg.bin", offsetof(struct ptdr_file_header, n_seg), &big, 4,
                   "does not match");
    expect_damaged(bin, "version.bin", offsetof(struct ptdr_file_header, version), &big, 4,
                   "not a version-1");
    expect_damaged(bin, "trunc.bin", -(long)(h.total_size - 64), "", 0, "does not match");
    /* Segment 3, slot 5 starts after slot 6: non-monotonic bin table. */
    uint16_t rel = 60000;
    expect_damaged(bin, "rel.bin", (long)(h.off_slot_rel + 2 * (3 * PTDR_REL_STRIDE + 6)), &rel, 2,
                   "segment 3 (id OSM1021T1028), slot 5");
    /* The last cumprob of segment 0, slot 0 no longer 1. */
    float half = 0.5f;
    uint32_t last0 = p->slot_rel[1] - 1;
    expect_damaged(bin, "cum.bin", (long)(h.off_cumprobs + 4 * last0), &half, 4,
                   "segment 0 (id OSM1000T1007), slot 0");
    float neg = -1.0f;
    expect_damaged(bin, "val.bin", (long)(h.off_values + 4 * (p->seg_base[7] + 3)), &neg, 4,
                   "segment 7 (id OSM1049T1056)");
    ptdr_profiles_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_binary_round_trip_is_identical),
        cmocka_unit_test(test_large_map_mmap_load_is_fast),
        cmocka_unit_test(test_damaged_binary_files_are_refused),
    };
    return cmocka_run_group_tests(tests, setup, fx_teardown);
}
