/* Bitstream paths: canonicalised and required under the policy's bitstream_dir (symlink escapes,
 * "..", wrong owner/mode refused, at policy load and at init), and the hash-to-flash race. */
#include "esfm_test_env.h"
#include "esfm_internal.h"
#include "policy.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define ABC_SHA "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

/* e->dir (root, 0700, in sticky /tmp) holds bits/ (the bitstream_dir, 0755) with image.bit
 * (root, 0644, "abc") and outside/ with a file of the same content that no policy lists. */
struct bt {
    struct env *e;
    char bits[300], img[320], outside[320];
};

static void put(const char *path, const char *text, mode_t mode)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    assert_int_equal(chmod(path, mode), 0);
}

static void bt_new(struct bt *t)
{
    t->e = env_new(true);
    snprintf(t->bits, sizeof t->bits, "%s/bits", t->e->dir);
    snprintf(t->img, sizeof t->img, "%s/image.bit", t->bits);
    snprintf(t->outside, sizeof t->outside, "%s/outside", t->e->dir);
    assert_int_equal(mkdir(t->bits, 0755), 0);
    assert_int_equal(mkdir(t->outside, 0755), 0);
    put(t->img, "abc", 0644);
    char o[400];
    snprintf(o, sizeof o, "%s/secret.bit", t->outside);
    put(o, "abc", 0644);
}

/* A policy with one bitstream "b" at `path` under `dir`, flashed by `flash` (a JSON array). */
static void bt_policy(struct bt *t, const char *dir, const char *path, const char *flash)
{
    char pol[2048];
    snprintf(pol, sizeof pol,
             "{\"bitstream_dir\":\"%s\",\"bitstreams\":[{\"name\":\"b\",\"path\":\"%s\","
             "\"sha256\":\"%s\"}],\"flash_command\":%s}",
             dir, path, ABC_SHA, flash ? flash : "[\"/bin/true\"]");
    env_policy(t->e, pol);
}

static int bt_load(struct bt *t, char *err)
{
    struct esfm_policy *p = NULL;
    err[0] = '\0'; /* no stale message from an earlier call */
    int rc = esfm_policy_load(t->e->policy, &p, err, ESFM_ERR_LEN);
    esfm_policy_free(p);
    return rc;
}

/* esfm init on the fake PF with bitstream "b"; the context opens (policy load) first. */
static int bt_init(struct bt *t, char *err)
{
    struct esfm_ctx *c = NULL;
    err[0] = '\0';
    int rc = env_ctx(t->e, true, false, &c, err);
    if (rc)
        return rc;
    rc = esfm_init(c, PF, 1, "b", NULL, err, ESFM_ERR_LEN);
    esfm_ctx_free(c);
    return rc;
}

static void expect(int rc, int want, char *err, const char *part)
{
    if (rc != want || !strstr(err, part))
        fail_msg("rc %d (want %d), err '%s' lacks '%s'", rc, want, err, part);
}

static void test_good_path_is_flashed_by_its_canonical_name_and_fd(void **s)
{
    (void)s;
    struct bt t;
    bt_new(&t);
    char link[400], flash[1024], err[ESFM_ERR_LEN] = "", out[400], seen[400];
    /* The policy names the dir through a symlink: both sides are canonicalised. */
    snprintf(link, sizeof link, "%s/bits-link", t.e->dir);
    assert_int_equal(symlink(t.bits, link), 0);
    snprintf(out, sizeof out, "%s/flashed", t.e->dir);
    snprintf(seen, sizeof seen, "%s/arg", t.e->dir);
    snprintf(flash, sizeof flash,
             "[\"/bin/sh\",\"-c\",\"cat \\\"$1\\\" >%s && ln -s \\\"$2\\\" %s\",\"flasher\","
             "\"{bitstream_fd}\",\"{bitstream}\"]",
             out, seen);
    char path[400];
    snprintf(path, sizeof path, "%s/image.bit", link);
    bt_policy(&t, link, path, flash);
    int rc = bt_init(&t, err);
    if (rc)
        fail_msg("init: %s", err);
    char *got = env_read_file(out);
    assert_non_null(got);
    assert_string_equal(got, "abc"); /* the flasher read the checked descriptor */
    free(got);
    char arg[400] = "";
    assert_true(readlink(seen, arg, sizeof arg - 1) > 0);
    assert_string_equal(arg, t.img); /* {bitstream} is the canonical path, not the link */
    env_free(t.e);
}

static void test_symlink_escaping_the_dir_is_refused(void **s)
{
    (void)s;
    struct bt t;
    bt_new(&t);
    char evil[400], target[400], err[ESFM_ERR_LEN] = "";
    snprintf(evil, sizeof evil, "%s/evil.bit", t.bits);
    snprintf(target, sizeof target, "%s/secret.bit", t.outside);
    assert_int_equal(symlink(target, evil), 0);
    bt_policy(&t, t.bits, evil, NULL);
    expect(bt_load(&t, err), -EACCES, err, "outside the policy's bitstream_dir");
    assert_non_null(strstr(err, evil));
    assert_non_null(strstr(err, target));
    /* A symlinked directory inside bits/ that leads out is the same escape. */
    char sub[400], p[450];
    snprintf(sub, sizeof sub, "%s/sub", t.bits);
    assert_int_equal(symlink(t.outside, sub), 0);
    snprintf(p, sizeof p, "%s/secret.bit", sub);
    bt_policy(&t, t.bits, p, NULL);
    expect(bt_load(&t, err), -EACCES, err, "outside the policy's bitstream_dir");
    /* The escape made after the policy was loaded (a context already open) is caught at init. */
    bt_policy(&t, t.bits, t.img, NULL);
    struct esfm_ctx *c = NULL;
    assert_int_equal(env_ctx(t.e, true, false, &c, err), 0);
    assert_int_equal(unlink(t.img), 0);
    assert_int_equal(symlink(target, t.img), 0);
    expect(esfm_init(c, PF, 1, "b", NULL, err, sizeof err), -EACCES, err,
           "outside the policy's bitstream_dir");
    esfm_ctx_free(c);
    /* A symlink that stays inside the dir is fine. */
    assert_int_equal(unlink(t.img), 0);
    put(t.img, "abc", 0644);
    char alias[400];
    snprintf(alias, sizeof alias, "%s/alias.bit", t.bits);
    assert_int_equal(symlink("image.bit", alias), 0);
    bt_policy(&t, t.bits, alias, NULL);
    int rc = bt_init(&t, err);
    if (rc)
        fail_msg("in-dir symlink: %s", err);
    env_free(t.e);
}

static void test_dotdot_and_paths_outside_the_dir_are_refused(void **s)
{
    (void)s;
    struct bt t;
    bt_new(&t);
    char p[450], err[ESFM_ERR_LEN] = "";
    snprintf(p, sizeof p, "%s/../outside/secret.bit", t.bits);
    bt_policy(&t, t.bits, p, NULL);
    expect(bt_load(&t, err), -EINVAL, err, "no . or .. components");
    assert_non_null(strstr(err, p));
    snprintf(p, sizeof p, "%s/./image.bit", t.bits);
    bt_policy(&t, t.bits, p, NULL);
    expect(bt_load(&t, err), -EINVAL, err, "no . or .. components");
    snprintf(p, sizeof p, "%s/secret.bit", t.outside);
    bt_policy(&t, t.bits, p, NULL);
    expect(bt_load(&t, err), -EINVAL, err, "must lie in bitstream_dir");
    /* A sibling whose name starts like the dir is not inside it. */
    snprintf(p, sizeof p, "%s-evil/x.bit", t.bits);
    bt_policy(&t, t.bits, p, NULL);
    expect(bt_load(&t, err), -EINVAL, err, "must lie in bitstream_dir");
    assert_true(esfm_bitstream_lexical_ok("/a/b.c/d..e"));
    assert_false(esfm_bitstream_lexical_ok("/a/../b"));
    assert_false(esfm_bitstream_lexical_ok("/a/.."));
    assert_false(esfm_bitstream_lexical_ok("a/b"));
    env_free(t.e);
}

static void test_wrong_owner_or_mode_is_refused(void **s)
{
    (void)s;
    struct bt t;
    bt_new(&t);
    char err[ESFM_ERR_LEN] = "";
    bt_policy(&t, t.bits, t.img, NULL);
    assert_int_equal(bt_load(&t, err), 0);
    /* The file. */
    assert_int_equal(chown(t.img, 1000, 0), 0);
    expect(bt_load(&t, err), -EACCES, err, "file");
    assert_non_null(strstr(err, "owner uid 1000"));
    assert_non_null(strstr(err, t.img));
    assert_int_equal(chown(t.img, 0, 0), 0);
    assert_int_equal(chmod(t.img, 0664), 0);
    expect(bt_load(&t, err), -EACCES, err, "not group/world-writable");
    assert_int_equal(chmod(t.img, 0646), 0);
    expect(bt_load(&t, err), -EACCES, err, "mode 646");
    assert_int_equal(chmod(t.img, 0644), 0);
    /* The bitstream_dir: a world-writable one is refused even with the sticky bit. */
    assert_int_equal(chmod(t.bits, 01777), 0);
    expect(bt_load(&t, err), -EACCES, err, "bitstream_dir");
    assert_int_equal(chmod(t.bits, 0755), 0);
    assert_int_equal(chown(t.bits, 1000, 0), 0);
    expect(bt_load(&t, err), -EACCES, err, "owner uid 1000");
    assert_int_equal(chown(t.bits, 0, 0), 0);
    /* A directory between bitstream_dir and the file. */
    char sub[400], img2[450];
    snprintf(sub, sizeof sub, "%s/v2", t.bits);
    assert_int_equal(mkdir(sub, 0755), 0);
    assert_int_equal(chmod(sub, 0775), 0); /* not through mkdir: the umask would clear g+w */
    snprintf(img2, sizeof img2, "%s/image.bit", sub);
    put(img2, "abc", 0644);
    bt_policy(&t, t.bits, img2, NULL);
    expect(bt_load(&t, err), -EACCES, err, "directory");
    assert_non_null(strstr(err, sub));
    assert_int_equal(chmod(sub, 0755), 0);
    assert_int_equal(bt_load(&t, err), 0);
    /* An ancestor of bitstream_dir (e->dir) writable by others without the sticky bit. */
    assert_int_equal(chmod(t.e->dir, 0777), 0);
    expect(bt_load(&t, err), -EACCES, err, t.e->dir);
    assert_int_equal(chmod(t.e->dir, 0700), 0);
    /* Made unsafe after the policy was loaded: init refuses it before hashing or flashing. */
    struct esfm_ctx *c = NULL;
    assert_int_equal(env_ctx(t.e, true, false, &c, err), 0);
    assert_int_equal(chmod(img2, 0666), 0);
    expect(esfm_init(c, PF, 1, "b", NULL, err, sizeof err), -EACCES, err, "chmod go-w");
    assert_int_equal(esfm_exit_code(-EACCES), 3);
    assert_int_equal(env_journal_entries(t.e), 0);
    esfm_ctx_free(c);
    env_free(t.e);
}

static void test_missing_file_loads_but_init_refuses_it(void **s)
{
    (void)s;
    struct bt t;
    bt_new(&t);
    char p[400], err[ESFM_ERR_LEN] = "";
    snprintf(p, sizeof p, "%s/not-here.bit", t.bits);
    bt_policy(&t, t.bits, p, NULL);
    assert_int_equal(bt_load(&t, err), 0); /* srun's host need not have the images */
    expect(bt_init(&t, err), -ENOENT, err, "cannot resolve bitstream b");
    assert_non_null(strstr(err, p));
    env_free(t.e);
}

static void test_image_changed_or_replaced_during_flash_is_reported(void **s)
{
    (void)s;
    struct bt t;
    bt_new(&t);
    char err[ESFM_ERR_LEN] = "";
    /* The "flasher" stands in for anyone (root) writing the image while it is flashed. */
    bt_policy(&t, t.bits, t.img,
              "[\"/bin/sh\",\"-c\",\"echo x >>\\\"$1\\\"\",\"f\",\"{bitstream}\"]");
    expect(bt_init(&t, err), -EACCES, err, "changed during the flash");
    assert_non_null(strstr(err, t.img));
    put(t.img, "abc", 0644);
    bt_policy(&t, t.bits, t.img,
              "[\"/bin/sh\",\"-c\",\"cp \\\"$1\\\" \\\"$1.n\\\" && mv \\\"$1.n\\\" \\\"$1\\\"\","
              "\"f\",\"{bitstream}\"]");
    expect(bt_init(&t, err), -EACCES, err, "replaced or changed during the flash");
    env_free(t.e);
}

/* esfm_policy_check_request as uid `uid` in a child process (0: as root). */
static int check_request_as(struct bt *t, uid_t uid)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[ESFM_ERR_LEN] = "";
        if (uid && (setgid(65534) || setuid(uid)))
            _exit(100);
        int rc = esfm_policy_check_request(t->e->policy, 1, "b", err, sizeof err);
        if (rc)
            fprintf(stderr, "uid %u: %s\n", (unsigned)uid, err);
        _exit(rc == 0 ? 0 : rc == -EACCES ? 3 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

/* srun/sbatch check a request as the user, who cannot look into a root-only bitstream_dir: that
 * check skips the files, and the prolog's (root) does them. */
static void test_user_side_check_skips_what_only_root_can_see(void **s)
{
    (void)s;
    struct bt t;
    bt_new(&t);
    assert_int_equal(chmod(t.e->dir, 0755), 0);
    assert_int_equal(chmod(t.bits, 0700), 0);
    bt_policy(&t, t.bits, t.img, NULL);
    assert_int_equal(check_request_as(&t, 0), 0);
    assert_int_equal(check_request_as(&t, 65534), 0);
    assert_int_equal(chmod(t.img, 0666), 0);
    assert_int_equal(check_request_as(&t, 0), 3); /* the prolog refuses it */
    assert_int_equal(check_request_as(&t, 65534), 0);
    env_free(t.e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_path_is_flashed_by_its_canonical_name_and_fd),
        cmocka_unit_test(test_symlink_escaping_the_dir_is_refused),
        cmocka_unit_test(test_dotdot_and_paths_outside_the_dir_are_refused),
        cmocka_unit_test(test_wrong_owner_or_mode_is_refused),
        cmocka_unit_test(test_missing_file_loads_but_init_refuses_it),
        cmocka_unit_test(test_image_changed_or_replaced_during_flash_is_reported),
        cmocka_unit_test(test_user_side_check_skips_what_only_root_can_see),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
