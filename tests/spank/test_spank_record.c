/* state_dir/<jobid> records: round trip, one-line values, corrupt or foreign files, listing; and
 * the squeue answer that decides whether a recorded job still runs (FAKE squeue scripts). */
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
    /* the record itself is root's alone, whatever the umask: it names the job's VFs */
    char rec[160];
    snprintf(rec, sizeof rec, "%s/4242", sub);
    assert_int_equal(stat(rec, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
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

/* A FAKE squeue printing `out` and exiting with `rc`; returns what ks_job_alive_squeue says. */
static int alive_with(const char *out, int rc)
{
    struct ks_config c = {0};
    snprintf(c.squeue, sizeof c.squeue, "%s/squeue", dir);
    FILE *f = fopen(c.squeue, "w");
    fprintf(
        f,
        "#!/bin/sh\n[ \"$*\" = \"--noheader --states=all --jobs 42 --format=%%T\" ] || exit 99\n"
        "printf '%s'\nexit %d\n",
        out, rc);
    fclose(f);
    chmod(c.squeue, 0755);
    return ks_job_alive_squeue(&c, 42);
}

static void test_job_alive_follows_squeue(void **st)
{
    (void)st;
    assert_int_equal(alive_with("RUNNING\\n", 0), 1);
    assert_int_equal(alive_with("COMPLETING\\n", 0), 1); /* its epilog still runs */
    assert_int_equal(alive_with("PENDING\\n", 0), 1);    /* requeued */
    assert_int_equal(alive_with("COMPLETED\\n", 0), 0);
    assert_int_equal(alive_with("CANCELLED\\n", 0), 0);
    assert_int_equal(alive_with("TIMEOUT\\n", 0), 0);
    assert_int_equal(alive_with("NODE_FAIL\\n", 0), 0);
    assert_int_equal(alive_with("", 0), 0);
    assert_int_equal(alive_with("slurm_load_jobs error: Invalid job id specified\\n", 1), 0);
    /* The controller does not answer: keep the job's VFs. */
    assert_int_equal(alive_with("slurm_load_jobs error: Socket timed out\\n", 1), 1);
    struct ks_config none = {0};
    snprintf(none.squeue, sizeof none.squeue, "%s/no-such-squeue", dir);
    assert_int_equal(ks_job_alive_squeue(&none, 42), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_record_round_trip_keeps_values_on_one_line, make_dir,
                                        remove_dir),
        cmocka_unit_test_setup_teardown(test_record_of_another_job_is_corrupt, make_dir,
                                        remove_dir),
        cmocka_unit_test_setup_teardown(test_list_skips_what_is_not_a_record, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_job_alive_follows_squeue, make_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
