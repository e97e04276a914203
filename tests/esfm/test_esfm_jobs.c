/* The job API the SPANK plugin uses: exclusive VFs, budgets per job/user/partition, all-or-
 * nothing attach with rollback, idempotent detach, shared mode, and parallel attach timing. */
#include "esfm_test_env.h"
#include "esfm_internal.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static struct esfm_ctx *ctx_of(struct env *e, bool policy)
{
    struct esfm_ctx *c = NULL;
    char err[ESFM_ERR_LEN] = "";
    int rc = env_ctx(e, policy, false, &c, err);
    if (rc)
        fprintf(stderr, "ctx: %s\n", err);
    assert_int_equal(rc, 0);
    return c;
}

static int records_of(struct env *e, const char *job)
{
    cJSON *st = env_state(e), *r, *j;
    int n = 0;
    cJSON_ArrayForEach(r, cJSON_GetObjectItem(st, "vfs"))
    {
        cJSON_ArrayForEach(j, cJSON_GetObjectItem(r, "jobs")) n +=
            !strcmp(cJSON_GetObjectItem(j, "job")->valuestring, job);
    }
    cJSON_Delete(st);
    return n;
}

static void test_jobs_get_exclusive_vfs_within_budgets(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    env_set_numvfs(e, 8);
    env_policy(e, "{\"vfs\":{\"per_job\":2,\"per_user\":3,\"per_partition\":{\"debug\":1}}}");
    struct esfm_ctx *c = ctx_of(e, true);
    char err[ESFM_ERR_LEN];
    struct esfm_grant g[4], h[4];
    struct esfm_job a = {"100", 1000, "batch"}, b = {"101", 1000, "batch"},
                    cc = {"102", 2000, "batch"}, d = {"103", 3000, "debug"},
                    x = {"104", 4000, "debug"};
    assert_int_equal(esfm_job_attach(c, &a, "vm1", 2, g, err, sizeof err), 0);
    assert_string_not_equal(g[0].vf_bdf, g[1].vf_bdf);
    assert_string_equal(g[0].guest_bdf, "0000:07:00.0");
    assert_int_equal(esfm_job_attach(c, &b, "vm1", 2, h, err, sizeof err), -EACCES);
    assert_non_null(strstr(err, "per user"));
    assert_int_equal(esfm_job_attach(c, &cc, "vm2", 3, h, err, sizeof err), -EACCES);
    assert_non_null(strstr(err, "per job"));
    assert_int_equal(esfm_job_attach(c, &d, "vm2", 1, h, err, sizeof err), 0);
    assert_int_equal(esfm_job_attach(c, &x, "vm2", 1, h + 1, err, sizeof err), -EACCES);
    assert_non_null(strstr(err, "partition debug"));
    for (int i = 0; i < 2; i++)
        assert_string_not_equal(g[i].vf_bdf, h[0].vf_bdf);
    /* a repeated call returns what the job holds */
    struct esfm_grant g2[2];
    assert_int_equal(esfm_job_attach(c, &a, "vm1", 2, g2, err, sizeof err), 0);
    assert_string_equal(g2[0].vf_bdf, g[0].vf_bdf);
    assert_int_equal(esfm_job_attach(c, &a, "vm2", 2, g2, err, sizeof err), -EBUSY);
    assert_non_null(strstr(err, "already holds VFs on VM vm1"));
    assert_int_equal(esfm_job_attach(c, &a, "vm1", 1, g2, err, sizeof err), -EBUSY);
    assert_int_equal(esfm_job_attach(c, &a, "nosuchvm", 1, g2, err, sizeof err), -ENOENT);
    assert_int_equal(
        esfm_job_attach(c, &(struct esfm_job){"../x", 1, NULL}, "vm1", 1, g2, err, sizeof err),
        -EINVAL);
    struct esfm_vf_info *v;
    size_t n;
    assert_int_equal(esfm_list_vfs(c, NULL, &v, &n, err, sizeof err), 0);
    int held = 0;
    for (size_t i = 0; i < n; i++)
        held += !strcmp(v[i].job_id, "100");
    assert_int_equal(held, 2);
    free(v);
    assert_int_equal(esfm_job_detach(c, "100", err, sizeof err), 0);
    assert_int_equal(env_holders(e, g[0].vf_bdf, NULL), 0);
    assert_int_equal(records_of(e, "100"), 0);
    esfm_ctx_free(c);
    env_free(e);
}

static void test_job_attach_is_all_or_nothing(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    env_set_numvfs(e, 4);
    cJSON *fail = cJSON_CreateArray();
    cJSON_AddItemToArray(fail, cJSON_CreateString(VF2));
    env_hv_set(e, "vm1", "fail_attach", fail);
    struct esfm_ctx *c = ctx_of(e, false);
    char err[ESFM_ERR_LEN];
    struct esfm_grant g[3];
    struct esfm_job j = {"7", 1, NULL};
    assert_int_equal(esfm_job_attach(c, &j, "vm1", 3, g, err, sizeof err), -EREMOTEIO);
    assert_non_null(strstr(err, "injected"));
    assert_int_equal(
        env_holders(e, VF0, NULL) + env_holders(e, VF1, NULL) + env_holders(e, VF2, NULL), 0);
    assert_int_equal(records_of(e, "7"), 0);
    assert_int_equal(env_journal_entries(e), 0);
    /* not enough free VFs: refused before anything moves */
    assert_int_equal(esfm_job_attach(c, &j, "vm2", 5, g, err, sizeof err), -EBUSY);
    assert_non_null(strstr(err, "only 4 are free"));
    esfm_ctx_free(c);
    env_free(e);
}

static void test_job_detach_is_idempotent(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    env_set_numvfs(e, 2);
    struct esfm_ctx *c = ctx_of(e, false);
    char err[ESFM_ERR_LEN];
    struct esfm_grant g[2];
    struct esfm_job j = {"55", 1, "p"};
    assert_int_equal(esfm_job_detach(c, "55", err, sizeof err), 0);
    assert_int_equal(esfm_job_attach(c, &j, "vm2", 2, g, err, sizeof err), 0);
    assert_int_equal(esfm_job_detach(c, "55", err, sizeof err), 0);
    assert_int_equal(esfm_job_detach(c, "55", err, sizeof err), 0);
    assert_int_equal(env_holders(e, VF0, NULL) + env_holders(e, VF1, NULL), 0);
    esfm_ctx_free(c);
    env_free(e);
}

static void test_shared_policy_lets_jobs_share_a_vms_vf(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    env_set_numvfs(e, 1);
    env_policy(e, "{\"vfs\":{\"exclusive\":false}}");
    struct esfm_ctx *c = ctx_of(e, true);
    char err[ESFM_ERR_LEN];
    struct esfm_grant g[1], h[1];
    struct esfm_job a = {"1", 1, NULL}, b = {"2", 2, NULL};
    assert_int_equal(esfm_job_attach(c, &a, "vm1", 1, g, err, sizeof err), 0);
    assert_int_equal(esfm_job_attach(c, &b, "vm1", 1, h, err, sizeof err), 0);
    assert_string_equal(g[0].vf_bdf, h[0].vf_bdf);
    assert_int_equal(
        esfm_job_attach(c, &(struct esfm_job){"3", 3, NULL}, "vm2", 1, h, err, sizeof err), -EBUSY);
    assert_int_equal(esfm_job_detach(c, "1", err, sizeof err), 0);
    assert_int_equal(env_holders(e, VF0, NULL), 1); /* job 2 still holds it */
    assert_int_equal(esfm_job_detach(c, "2", err, sizeof err), 0);
    assert_int_equal(env_holders(e, VF0, NULL), 0);
    esfm_ctx_free(c);
    env_free(e);
}

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void test_parallel_attach_of_four_vfs_overlaps(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    env_set_numvfs(e, 4);
    strcat(e->uri, "?latency=paper"); /* attach 1472 ms each */
    struct esfm_ctx *c = ctx_of(e, false);
    char err[ESFM_ERR_LEN];
    struct esfm_grant g[4];
    double t0 = now_s();
    assert_int_equal(
        esfm_job_attach(c, &(struct esfm_job){"9", 1, NULL}, "vm1", 4, g, err, sizeof err), 0);
    double dt = now_s() - t0;
    fprintf(stderr, "4 VFs attached in %.2f s (sequential would be 5.9 s)\n", dt);
    /* Overlapped: about one attach (1.47 s); half of the sequential 5.9 s leaves room for a
     * loaded CI machine or valgrind. The bench checks the 1.5x target. */
    assert_true(dt > 1.4 && dt < 2.95);
    esfm_ctx_free(c);
    env_free(e);
}

/* Jobs attaching from separate processes at once: the state lock keeps VFs exclusive. */
static void test_concurrent_jobs_never_share_a_vf(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    env_set_numvfs(e, 8);
    enum { JOBS = 5, EACH = 2 }; /* 10 asked for, 8 exist: one job must be refused */
    fflush(NULL);
    pid_t pids[JOBS];
    for (int i = 0; i < JOBS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            struct esfm_ctx *c;
            char err[ESFM_ERR_LEN], id[16];
            struct esfm_grant g[EACH];
            snprintf(id, sizeof id, "c%d", i);
            if (env_ctx(e, false, false, &c, err))
                _exit(3);
            int rc = esfm_job_attach(c, &(struct esfm_job){id, (uid_t)i, NULL},
                                     i % 2 ? "vm1" : "vm2", EACH, g, err, sizeof err);
            esfm_ctx_free(c);
            fake_kernel_fini(&e->k);
            free(e); /* the child must not remove the parent's temp dir */
            _exit(rc == 0 ? 0 : rc == -EBUSY ? 5 : 1);
        }
    }
    int ok = 0, busy = 0;
    for (int i = 0; i < JOBS; i++) {
        int st;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st));
        ok += WEXITSTATUS(st) == 0;
        busy += WEXITSTATUS(st) == 5;
    }
    assert_int_equal(ok, 4);
    assert_int_equal(busy, 1);
    const char *vfs[] = {
        VF0, VF1, VF2, VF3, "0000:01:00.5", "0000:01:00.6", "0000:01:00.7", "0000:01:01.0"};
    for (int i = 0; i < 8; i++)
        assert_int_equal(env_holders(e, vfs[i], NULL), 1);
    for (int i = 0; i < JOBS; i++) {
        char id[16];
        snprintf(id, sizeof id, "c%d", i);
        int r = records_of(e, id);
        assert_true(r == 0 || r == EACH);
    }
    assert_int_equal(env_journal_entries(e), 0);
    env_free(e);
}

/* Two reconfs of the same PF at once (slow fake kernel): the PF lock serialises them, so the
 * kernel never sees a direct count change (EBUSY) and both succeed. While one runs, status
 * shows its journal entry as in progress. */
static void test_concurrent_reconfs_serialise_per_pf(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    env_set_numvfs(e, 1);
    fake_kernel_set_latency(&e->k, "paper");
    fflush(NULL);
    pid_t pids[2];
    for (int i = 0; i < 2; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            struct esfm_ctx *c;
            char err[ESFM_ERR_LEN];
            int rc = env_ctx(e, false, false, &c, err);
            if (!rc)
                rc = esfm_reconf(c, PF, 2 + i, err, sizeof err);
            if (rc)
                fprintf(stderr, "reconf %d: %s\n", 2 + i, err);
            esfm_ctx_free(c);
            fake_kernel_fini(&e->k);
            free(e);
            _exit(rc ? 1 : 0);
        }
    }
    struct esfm_options o = {.sysfs_root = e->root,
                             .connect_uri = e->uri,
                             .state_dir = e->state,
                             .sysfs_ops = &e->k.ops,
                             .skip_reconcile = true};
    bool seen_running = false;
    for (int tries = 0; tries < 300 && !seen_running; tries++) {
        struct esfm_ctx *c;
        char err[ESFM_ERR_LEN];
        struct esfm_pending *p = NULL;
        size_t n = 0;
        if (esfm_ctx_new(&o, &c, err, sizeof err) == 0) {
            if (esfm_list_pending(c, &p, &n, err, sizeof err) == 0)
                for (size_t i = 0; i < n; i++)
                    seen_running |= p[i].running && !strcmp(p[i].op, "reconf");
            free(p);
            esfm_ctx_free(c);
        }
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_true(seen_running);
    for (int i = 0; i < 2; i++) {
        int st;
        assert_int_equal(waitpid(pids[i], &st, 0), pids[i]);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    }
    unsigned n = env_numvfs(e);
    assert_true(n == 2 || n == 3);
    assert_int_equal(env_journal_entries(e), 0);
    env_free(e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jobs_get_exclusive_vfs_within_budgets),
        cmocka_unit_test(test_job_attach_is_all_or_nothing),
        cmocka_unit_test(test_job_detach_is_idempotent),
        cmocka_unit_test(test_shared_policy_lets_jobs_share_a_vms_vf),
        cmocka_unit_test(test_parallel_attach_of_four_vfs_overlaps),
        cmocka_unit_test(test_concurrent_jobs_never_share_a_vf),
        cmocka_unit_test(test_concurrent_reconfs_serialise_per_pf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
