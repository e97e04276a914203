/* state_dir/<jobid> records: round trip, one-line values, corrupt or foreign files, listing. */
#include "kfarm_spank.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[64];

static int make_dir(void **st)
{
    (void)st;
    snprintf(dir, sizeof dir, "/tmp/kfarm-spank-rec-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int remove_dir(void **st)
{
    (void)st;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd);
}

static void test_record_round_trip_keeps_values_on_one_line(void **st)
{
    (void)st;
    char sub[128], err[KS_ERR_LEN];
    snprintf(sub, sizeof sub, "%s/a/b", dir); /* created on first write, private */
    struct ks_record w = {
        .job_id = 4242, .uid = 1000, .nvfs = 2, .accel = false, .fallback = KS_FALLBACK_FAIL};
    snprintf(w.domain, sizeof w.domain, "node07-vm");
    snprintf(w.host_bdfs, sizeof w.host_bdfs, "0000:01:00.1,0000:01:00.2");
    snprintf(w.reason, sizeof w.reason, "line one\nkey=value");
    assert_int_equal(ks_record_write(sub, &w, err, sizeof err), 0);
    struct stat sb;
    assert_int_equal(stat(sub, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0700);
    struct ks_record r;
    assert_int_equal(ks_record_read(sub, 4242, &r, err, sizeof err), 0);
    assert_int_equal(r.uid, 1000);
    assert_int_equal(r.nvfs, 2);
    assert_false(r.accel);
    assert_int_equal(r.fallback, KS_FALLBACK_FAIL);
    assert_string_equal(r.domain, "node07-vm");
    assert_string_equal(r.host_bdfs, w.host_bdfs);
    assert_string_equal(r.reason, "line one key=value"); /* no forged keys from a reason */
    assert_int_equal(ks_record_read(sub, 4243, &r, err, sizeof err), -ENOENT);
    assert_int_equal(ks_record_remove(sub, 4242, err, sizeof err), 0);
    assert_int_equal(ks_record_remove(sub, 4242, err, sizeof err), 0); /* idempotent */
    assert_int_equal(ks_record_read(sub, 4242, &r, err, sizeof err), -ENOENT);
}

static void test_record_of_another_job_is_corrupt(void **st)
{
    (void)st;
    char path[128], err[KS_ERR_LEN];
    snprintf(path, sizeof path, "%s/77", dir);
    FILE *f = fopen(path, "w");
    fputs("job=78\naccel=1\n", f);
    fclose(f);
    struct ks_record r;
    assert_int_equal(ks_record_read(dir, 77, &r, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "corrupt"));
}

static void test_list_skips_what_is_not_a_record(void **st)
{
    (void)st;
    char err[KS_ERR_LEN], path[128];
    struct ks_record w = {.job_id = 5};
    assert_int_equal(ks_record_write(dir, &w, err, sizeof err), 0);
    w.job_id = 17;
    assert_int_equal(ks_record_write(dir, &w, err, sizeof err), 0);
    const char *junk[] = {"9.tmp", "x1", "99999999999"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, junk[i]);
        fclose(fopen(path, "w"));
    }
    uint32_t *ids;
    size_t n;
    assert_int_equal(ks_record_list(dir, &ids, &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_true((ids[0] == 5 && ids[1] == 17) || (ids[0] == 17 && ids[1] == 5));
    free(ids);
    snprintf(path, sizeof path, "%s/none", dir);
    assert_int_equal(ks_record_list(path, &ids, &n, err, sizeof err), 0);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_record_round_trip_keeps_values_on_one_line, make_dir,
                                        remove_dir),
        cmocka_unit_test_setup_teardown(test_record_of_another_job_is_corrupt, make_dir,
                                        remove_dir),
        cmocka_unit_test_setup_teardown(test_list_skips_what_is_not_a_record, make_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
