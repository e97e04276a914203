/* Unit tests of heap_trim: at most one trim per interval, none with nothing freed, an idle loop
 * told when the next one is due; and that a trim really gives freed 1 MiB buffers back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "heap_trim.h"

#define S 1000000000ull

static void test_trims_at_most_once_per_interval(void **state)
{
    (void)state;
    struct kf_heap_trim t;
    kf_heap_trim_init(&t, 5 * S, 100 * S);
    assert_int_equal(kf_heap_trim_maybe(&t, 106 * S), 0); /* nothing handled yet */
    kf_heap_trim_note(&t, 3);
    assert_int_equal(kf_heap_trim_maybe(&t, 104 * S), 0); /* within the interval */
    assert_int_equal(kf_heap_trim_maybe(&t, 106 * S), 1);
    assert_int_equal(t.trims, 1);
    kf_heap_trim_note(&t, 1);
    assert_int_equal(kf_heap_trim_maybe(&t, 110 * S), 0);
    assert_int_equal(kf_heap_trim_maybe(&t, 111 * S), 1);
    assert_int_equal(t.trims, 2);
}

static void test_idle_loop_is_told_when_the_next_trim_is_due(void **state)
{
    (void)state;
    struct kf_heap_trim t;
    kf_heap_trim_init(&t, 5 * S, 100 * S);
    assert_true(kf_heap_trim_due_ns(&t, 101 * S) < 0); /* nothing to trim: sleep freely */
    kf_heap_trim_note(&t, 1);
    assert_int_equal(kf_heap_trim_due_ns(&t, 101 * S), (int64_t)(4 * S));
    assert_int_equal(kf_heap_trim_due_ns(&t, 107 * S), 0);
    assert_int_equal(kf_heap_trim_maybe(&t, 107 * S), 1);
    assert_true(kf_heap_trim_due_ns(&t, 107 * S) < 0);
}

#if !defined(__SANITIZE_ADDRESS__) && defined(__GLIBC__)
static long rss_kib(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    long pages = 0, resident = 0;
    if (!f)
        return -1;
    if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
        resident = -1;
    fclose(f);
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}
#endif

/* What the gateway and workers see: after one freed mmapped 1 MiB buffer, glibc serves the next
 * ones from the heap and keeps them when freed; the trim gives them back. */
static void test_trim_gives_freed_large_buffers_back(void **state)
{
    (void)state;
#if defined(__SANITIZE_ADDRESS__) || !defined(__GLIBC__)
    skip(); /* ASan's allocator is not glibc's: nothing to trim */
#else
    enum { N = 48, SIZE = 1 << 20 };
    /* a freed mmapped 1 MiB buffer raises glibc's dynamic mmap threshold (volatile: the compiler
     * would drop a malloc/free pair) */
    void *volatile first = malloc(SIZE);
    assert_non_null(first);
    memset(first, 1, 64);
    free(first);
    void *b[N];
    for (int i = 0; i < N; i++) {
        b[i] = malloc(SIZE);
        assert_non_null(b[i]);
        memset(b[i], i + 1, SIZE);
    }
    /* free all but the last, which pins the heap top: only a trim can release the rest */
    for (int i = 0; i < N - 1; i++)
        free(b[i]);
    long before = rss_kib();
    struct kf_heap_trim t;
    kf_heap_trim_init(&t, 0, 0);
    kf_heap_trim_note(&t, N);
    assert_int_equal(kf_heap_trim_maybe(&t, 1), 1);
    long after = rss_kib();
    free(b[N - 1]);
    print_message("RSS %ld KiB with %d freed 1 MiB buffers, %ld KiB after the trim\n", before,
                  N - 1, after);
    assert_true(before - after > (N / 2) * 1024);
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trims_at_most_once_per_interval),
        cmocka_unit_test(test_idle_loop_is_told_when_the_next_trim_is_due),
        cmocka_unit_test(test_trim_gives_freed_large_buffers_back),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
