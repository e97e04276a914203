/* Policy file checks (root-owned, not group/world-writable, well-formed), state dir mode, and
 * the OpenSSL sha256 of bitstreams. */
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
#include <unistd.h>

static void test_policy_writable_by_others_is_refused(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    env_policy(e, "{}");
    chmod(e->policy, 0664);
    struct esfm_ctx *c = NULL;
    char err[ESFM_ERR_LEN];
    assert_int_equal(env_ctx(e, true, false, &c, err), -EACCES);
    assert_non_null(strstr(err, "chmod go-w"));
    chmod(e->policy, 0646);
    assert_int_equal(env_ctx(e, true, false, &c, err), -EACCES);
    chmod(e->policy, 0644);
    assert_int_equal(chown(e->policy, 1000, 0), 0);
    assert_int_equal(env_ctx(e, true, false, &c, err), -EACCES);
    assert_non_null(strstr(err, "owned by root"));
    assert_int_equal(chown(e->policy, 0, 0), 0);
    assert_int_equal(env_ctx(e, true, false, &c, err), 0);
    esfm_ctx_free(c);
    env_free(e);
}

static void test_malformed_policies_are_refused_with_reason(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    const char *bad[][2] = {
        {"{", "not valid JSON"},
        {"{\"vfs\":{\"per_job\":-1}}", "per_job"},
        {"{\"vfs\":{\"per_job\":1.5}}", "per_job"},
        {"{\"vfs\":{\"exclusive\":1}}", "exclusive"},
        {"{\"bitstream_dir\":\"/opt\",\"bitstreams\":[{\"name\":\"a\",\"path\":\"rel\","
         "\"sha256\":\"00\"}]}",
         "absolute"},
        {"{\"bitstreams\":[{\"name\":\"a\",\"path\":\"/opt/a\",\"sha256\":"
         "\"00000000000000000000000000000000"
         "00000000000000000000000000000000\"}]}",
         "needs \"bitstream_dir\""},
        {"{\"bitstream_dir\":\"opt\"}", "absolute directory path"},
        {"{\"bitstream_dir\":\"/opt/../etc\"}", "without . or .."},
        {"{\"flash_command\":[\"xbflash\",\"{pf}\"]}", "absolute path"},
        {"{\"flash_command\":[]}", "flash_command"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        env_policy(e, bad[i][0]);
        struct esfm_ctx *c = NULL;
        char err[ESFM_ERR_LEN] = "";
        int rc = env_ctx(e, true, false, &c, err);
        if (rc != -EINVAL || !strstr(err, bad[i][1]))
            fail_msg("policy %s: rc %d err '%s'", bad[i][0], rc, err);
    }
    struct esfm_ctx *c = NULL;
    char err[ESFM_ERR_LEN];
    snprintf(e->policy, sizeof e->policy, "%s/missing.json", e->dir);
    assert_int_equal(env_ctx(e, true, false, &c, err), -ENOENT);
    env_free(e);
}

static void test_state_dir_is_private(void **s)
{
    (void)s;
    struct env *e = env_new(true);
    mkdir(e->state, 0755);
    struct esfm_ctx *c = NULL;
    char err[ESFM_ERR_LEN];
    assert_int_equal(env_ctx(e, false, false, &c, err), 0);
    struct stat st;
    assert_int_equal(stat(e->state, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    esfm_ctx_free(c);
    env_free(e);
}

static void test_sha256_is_openssls(void **s)
{
    (void)s;
    char path[] = "/tmp/esfm-sha-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abc", 3), 3);
    close(fd);
    char hex[65], err[ESFM_ERR_LEN];
    assert_int_equal(esfm_sha256_file(path, hex, err, sizeof err), 0);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    unlink(path);
    assert_int_equal(esfm_sha256_file(path, hex, err, sizeof err), -ENOENT);
}

static void test_documented_example_policy_loads(void **s)
{
    (void)s;
    struct esfm_policy *p = NULL;
    char err[ESFM_ERR_LEN] = "";
    int rc = esfm_policy_load(ESFM_EXAMPLE_POLICY, &p, err, sizeof err);
    if (rc)
        fail_msg("%s: %s", ESFM_EXAMPLE_POLICY, err);
    assert_int_equal(p->per_job, 4);
    assert_int_equal(esfm_policy_partition_cap(p, "debug"), 1);
    assert_int_equal(esfm_policy_partition_cap(p, "other"), 4);
    assert_non_null(esfm_policy_bitstream(p, "ptdr-u55c-v3"));
    assert_string_equal(p->flash_argv[3], "{pf}");
    assert_false(p->shared);
    esfm_policy_free(p);
}

static void test_request_check_names_what_is_allowed(void **s)
{
    (void)s;
    char err[ESFM_ERR_LEN] = "";
    int rc = esfm_policy_check_request(ESFM_EXAMPLE_POLICY, 4, "ptdr-u55c-v3", err, sizeof err);
    if (rc)
        fail_msg("%s", err);
    assert_int_equal(esfm_policy_check_request(ESFM_EXAMPLE_POLICY, 5, NULL, err, sizeof err),
                     -EACCES);
    assert_non_null(strstr(err, "1 to 4 per job"));
    assert_int_equal(esfm_policy_check_request(ESFM_EXAMPLE_POLICY, 1, "nope", err, sizeof err),
                     -EACCES);
    assert_non_null(strstr(err, "allowed: ptdr-u55c-v3"));
    assert_int_equal(esfm_policy_check_request(NULL, 999, NULL, err, sizeof err), 0);
    assert_int_equal(esfm_policy_check_request(NULL, 1, "any", err, sizeof err), -EACCES);
    assert_true(esfm_policy_check_request("/nonexistent/p.json", 1, NULL, err, sizeof err) < 0);
    assert_non_null(strstr(err, "/nonexistent/p.json"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_policy_writable_by_others_is_refused),
        cmocka_unit_test(test_malformed_policies_are_refused_with_reason),
        cmocka_unit_test(test_state_dir_is_private),
        cmocka_unit_test(test_sha256_is_openssls),
        cmocka_unit_test(test_documented_example_policy_loads),
        cmocka_unit_test(test_request_check_names_what_is_allowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
