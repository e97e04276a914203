/* mode=vm: the plugin's prolog and epilog in a VM node talk to the real esfmd (a child process on
 * the FAKE sysfs tree and FAKE hypervisor) through the channel socket of domain vm1; a FAKE
 * hot-plug thread stands in for QEMU and the guest kernel, making each VF the hypervisor gives
 * vm1 appear in the guest's sysfs at its guest address, bound to kfarm_vf. */
#include "esfm_test_env.h"
#include "fake_slurm.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct t {
    struct env *e;
    struct ks_config cfg;
    struct fake_slurm f;
    char guest[320], sock[320];
    pid_t esfmd;
    pthread_t hotplug;
    atomic_bool plug, stop;
};

static void mkdirs(const char *path)
{
    char p[512];
    snprintf(p, sizeof p, "%s", path);
    for (char *s = p + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(p, 0755);
            *s = '/';
        }
    mkdir(p, 0755);
}

static void touch(const char *path)
{
    FILE *f = fopen(path, "a");
    if (f)
        fclose(f);
}

/* FAKE hot-plug: mirrors vm1's hostdevs (fake hypervisor) into the guest's sysfs. */
static void *hotplug_main(void *arg)
{
    struct t *t = arg;
    while (!atomic_load(&t->stop)) {
        char *text = atomic_load(&t->plug) ? env_read_file(t->e->hv) : NULL;
        cJSON *st = text ? cJSON_Parse(text) : NULL;
        cJSON *vm1 = cJSON_GetObjectItem(cJSON_GetObjectItem(st, "domains"), "vm1"), *h;
        cJSON_ArrayForEach(h, cJSON_GetObjectItem(vm1, "hostdevs"))
        {
            const char *g = cJSON_GetStringValue(cJSON_GetObjectItem(h, "guest"));
            char dev[512], link[600];
            snprintf(dev, sizeof dev, "%s/bus/pci/devices/%s", t->guest, g ? g : "x");
            if (!g || access(dev, F_OK) == 0)
                continue;
            mkdirs(dev);
            snprintf(link, sizeof link, "%s/driver", dev);
            if (symlink("../../../../bus/pci/drivers/kfarm_vf", link))
                fail_msg("symlink %s", link);
            snprintf(link, sizeof link, "%s/driver_override", dev);
            touch(link);
        }
        cJSON_Delete(st);
        free(text);
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static int setup(void **st)
{
    struct t *t = calloc(1, sizeof *t);
    t->e = env_new(true);
    env_set_numvfs(t->e, 4);
    env_policy(t->e, "{\"vfs\":{\"per_job\":2}}");
    snprintf(t->guest, sizeof t->guest, "%s/guest-sys", t->e->dir);
    char drv[400];
    snprintf(drv, sizeof drv, "%s/bus/pci/drivers/kfarm_vf", t->guest);
    mkdirs(drv);
    snprintf(drv, sizeof drv, "%s/bus/pci/drivers/kfarm_vf/unbind", t->guest);
    touch(drv);
    snprintf(drv, sizeof drv, "%s/bus/pci/drivers_probe", t->guest);
    touch(drv);
    char sockdir[300];
    snprintf(sockdir, sizeof sockdir, "%s/sock", t->e->dir);
    snprintf(t->sock, sizeof t->sock, "%s/vm1.sock", sockdir);
    t->esfmd = fork();
    if (t->esfmd == 0) {
        execl(ESFMD_PATH, "esfmd", "--connect", t->e->uri, "--sysfs-root", t->e->root,
              "--state-dir", t->e->state, "--policy", t->e->policy, "--socket-dir", sockdir,
              "--domain", "vm1=1", "--domain", "vm2=2", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 2000 && access(t->sock, F_OK) != 0; i++) {
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    assert_int_equal(access(t->sock, F_OK), 0);
    /* plugstack.conf of a VM node */
    char *argv[] = {"mode=vm", NULL, NULL, NULL, "guest_driver=kfarm_vf", "guest_wait_ms=3000",
                    "channel_timeout_ms=20000"};
    char a1[400], a2[400], a3[400], err[KS_ERR_LEN];
    snprintf(a1, sizeof a1, "channel=%s", t->sock);
    snprintf(a2, sizeof a2, "sysfs_root=%s", t->guest);
    snprintf(a3, sizeof a3, "state_dir=%s/spank", t->e->dir);
    argv[1] = a1;
    argv[2] = a2;
    argv[3] = a3;
    if (ks_config_parse(7, argv, &t->cfg, err, sizeof err))
        fail_msg("%s", err);
    atomic_store(&t->plug, true);
    pthread_create(&t->hotplug, NULL, hotplug_main, t);
    *st = t;
    return 0;
}

static int teardown(void **st)
{
    struct t *t = *st;
    atomic_store(&t->stop, true);
    pthread_join(t->hotplug, NULL);
    kill(t->esfmd, SIGTERM);
    int status = 0;
    waitpid(t->esfmd, &status, 0);
    env_free(t->e);
    free(t);
    return 0;
}

static void prolog(struct t *t, uint32_t job, const char *vfs, const char *fallback)
{
    fake_slurm_init(&t->f, KS_CTX_JOB_SCRIPT, job, 1000);
    t->f.opts[KS_OPT_VFS] = vfs;
    t->f.opts[KS_OPT_FALLBACK] = fallback;
    struct ks_request req = {0};
    char err[KS_ERR_LEN];
    assert_int_equal(ks_args_from_job(&t->f.s, &req, err, sizeof err), 0);
    assert_int_equal(ks_prolog(&t->f.s, &t->cfg, &req), 0);
}

static void epilog(struct t *t, uint32_t job)
{
    fake_slurm_init(&t->f, KS_CTX_JOB_SCRIPT, job, 0);
    struct ks_request req = {0};
    assert_int_equal(ks_epilog(&t->f.s, &t->cfg, &req), 0);
}

static int step(struct t *t, uint32_t job, unsigned asked, struct ks_remote *rm)
{
    fake_slurm_init(&t->f, KS_CTX_REMOTE, job, 1000);
    struct ks_request req = {.nvfs = asked};
    assert_int_equal(ks_remote_init(&t->f.s, &t->cfg, rm), 0);
    assert_int_equal(ks_remote_user_init(&t->f.s, &req, rm), 0);
    return ks_remote_task_init(&t->f.s, rm);
}

static struct ks_record record(struct t *t, uint32_t job)
{
    struct ks_record r;
    char err[KS_ERR_LEN];
    if (ks_record_read(t->cfg.state_dir, job, &r, err, sizeof err))
        fail_msg("job %u: %s", job, err);
    return r;
}

static int vfs_on_vm1(struct t *t)
{
    int n = 0;
    const char *vfs[] = {VF0, VF1, VF2, VF3};
    for (int i = 0; i < 4; i++) {
        char d[128] = "";
        if (env_holders(t->e, vfs[i], d) == 1 && strcmp(d, "vm1") == 0)
            n++;
    }
    return n;
}

static void test_vm_prolog_gives_guest_addresses_that_exist_and_epilog_releases(void **st)
{
    struct t *t = *st;
    prolog(t, 5, "2", NULL);
    struct ks_record r = record(t, 5);
    assert_true(r.accel);
    assert_int_equal(vfs_on_vm1(t), 2);
    char list[KS_LIST_LEN], *save = NULL;
    snprintf(list, sizeof list, "%s", r.guest_bdfs);
    int n = 0;
    for (char *b = strtok_r(list, ",", &save); b; b = strtok_r(NULL, ",", &save), n++) {
        char dev[600];
        snprintf(dev, sizeof dev, "%s/bus/pci/devices/%s", t->guest, b);
        assert_int_equal(access(dev, F_OK), 0); /* where the tasks run */
    }
    assert_int_equal(n, 2);
    struct ks_remote rm;
    assert_int_equal(step(t, 5, 2, &rm), 0);
    assert_string_equal(fake_slurm_env(&t->f, "KFARM_ACCEL"), "1");
    assert_string_equal(fake_slurm_env(&t->f, "KFARM_VF_BDFS"), r.guest_bdfs);
    epilog(t, 5);
    assert_int_equal(vfs_on_vm1(t), 0);
    struct ks_record gone;
    char err[KS_ERR_LEN];
    assert_int_equal(ks_record_read(t->cfg.state_dir, 5, &gone, err, sizeof err), -ENOENT);
    epilog(t, 5); /* idempotent */
}

static void test_vm_vf_that_never_appears_falls_back_and_is_given_back(void **st)
{
    struct t *t = *st;
    atomic_store(&t->plug, false);
    snprintf(t->cfg.guest_wait_ms, sizeof t->cfg.guest_wait_ms, "200");
    prolog(t, 6, "1", "cpu");
    struct ks_record r = record(t, 6);
    assert_false(r.accel);
    assert_non_null(strstr(r.reason, "did not appear"));
    assert_int_equal(vfs_on_vm1(t), 0);
    struct ks_remote rm;
    assert_int_equal(step(t, 6, 1, &rm), 0);
    assert_string_equal(fake_slurm_env(&t->f, "KFARM_ACCEL"), "0");
    assert_non_null(strstr(fake_slurm_env(&t->f, "KFARM_ACCEL_REASON"), "did not appear"));
    epilog(t, 6);
}

static void test_vm_guest_driver_that_does_not_bind_falls_back(void **st)
{
    struct t *t = *st;
    snprintf(t->cfg.guest_driver, sizeof t->cfg.guest_driver, "vfio-pci");
    prolog(t, 7, "1", "cpu");
    struct ks_record r = record(t, 7);
    assert_false(r.accel);
    if (!strstr(r.reason, "not to vfio-pci"))
        fail_msg("reason: %s", r.reason);
    assert_int_equal(vfs_on_vm1(t), 0);
    epilog(t, 7);
}

static void test_vm_host_policy_refusal_reaches_the_job(void **st)
{
    struct t *t = *st;
    prolog(t, 8, "3", "fail"); /* the host's policy allows 2 per job */
    struct ks_record r = record(t, 8);
    assert_false(r.accel);
    assert_non_null(strstr(r.reason, "allows 2 per job"));
    struct ks_remote rm;
    assert_int_equal(step(t, 8, 3, &rm), -1); /* fallback=fail: the tasks do not start */
    assert_int_equal(vfs_on_vm1(t), 0);
    epilog(t, 8);
}

static void test_vm_without_esfmd_says_what_to_check(void **st)
{
    struct t *t = *st;
    snprintf(t->cfg.channel, sizeof t->cfg.channel, "%s/no-such-port", t->e->dir);
    prolog(t, 9, "1", "cpu");
    struct ks_record r = record(t, 9);
    assert_false(r.accel);
    assert_non_null(strstr(r.reason, "cannot open the esfmd channel"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_vm_prolog_gives_guest_addresses_that_exist_and_epilog_releases, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vm_vf_that_never_appears_falls_back_and_is_given_back,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_vm_guest_driver_that_does_not_bind_falls_back, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_vm_host_policy_refusal_reaches_the_job, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_vm_without_esfmd_says_what_to_check, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
