/* Option syntax (--fpga-vfs, --fpga-bitstream, --fpga-fallback), options read back in the
 * prolog through getopt, and plugstack.conf arguments with the VM name pattern. */
#include "fake_slurm.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

static void test_fpga_vfs_accepts_positive_whole_numbers_only(void **st)
{
    (void)st;
    char err[KS_ERR_LEN];
    unsigned n = 0;
    assert_int_equal(ks_parse_vfs("2", &n, err, sizeof err), 0);
    assert_int_equal(n, 2);
    assert_int_equal(ks_parse_vfs("999", &n, err, sizeof err), 0); /* the policy bounds it */
    const char *bad[] = {"abc", "-1", "0", "+3", "3x", "", " 2", "99999999999999999999", NULL};
    for (int i = 0; bad[i]; i++) {
        err[0] = '\0';
        n = 7;
        assert_int_equal(ks_parse_vfs(bad[i], &n, err, sizeof err), -EINVAL);
        assert_int_equal(n, 7);
        assert_non_null(strstr(err, "whole number"));
        assert_non_null(strstr(err, bad[i]));
    }
    assert_int_equal(ks_parse_vfs(NULL, &n, err, sizeof err), -EINVAL);
}

static void test_fpga_fallback_is_cpu_or_fail(void **st)
{
    (void)st;
    char err[KS_ERR_LEN];
    enum ks_fallback f = KS_FALLBACK_CPU;
    assert_int_equal(ks_parse_fallback("fail", &f, err, sizeof err), 0);
    assert_int_equal(f, KS_FALLBACK_FAIL);
    assert_int_equal(ks_parse_fallback("cpu", &f, err, sizeof err), 0);
    assert_int_equal(f, KS_FALLBACK_CPU);
    assert_int_equal(ks_parse_fallback("gpu", &f, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "use cpu"));
    assert_non_null(strstr(err, "or fail"));
    assert_string_equal(ks_fallback_name(KS_FALLBACK_FAIL), "fail");
}

static void test_fpga_bitstream_name_characters(void **st)
{
    (void)st;
    char err[KS_ERR_LEN], out[64];
    assert_int_equal(ks_parse_bitstream("ptdr-u55c_v3.1", out, sizeof out, err, sizeof err), 0);
    assert_string_equal(out, "ptdr-u55c_v3.1");
    const char *bad[] = {"", "a/b", "../x", "a b", "x;rm", NULL};
    for (int i = 0; bad[i]; i++)
        assert_int_equal(ks_parse_bitstream(bad[i], out, sizeof out, err, sizeof err), -EINVAL);
    char longname[80];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_int_equal(ks_parse_bitstream(longname, out, sizeof out, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "allow-lists"));
}

static void test_options_read_back_in_prolog_through_getopt(void **st)
{
    (void)st;
    struct fake_slurm f;
    fake_slurm_init(&f, KS_CTX_JOB_SCRIPT, 10, 1000);
    struct ks_request req = {0};
    char err[KS_ERR_LEN];
    assert_int_equal(ks_args_from_job(&f.s, &req, err, sizeof err), 0);
    assert_int_equal(req.nvfs, 0);
    f.opts[KS_OPT_VFS] = "3";
    f.opts[KS_OPT_FALLBACK] = "fail";
    f.opts[KS_OPT_BITSTREAM] = "b1";
    assert_int_equal(ks_args_from_job(&f.s, &req, err, sizeof err), 0);
    assert_int_equal(req.nvfs, 3);
    assert_int_equal(req.fallback, KS_FALLBACK_FAIL);
    assert_string_equal(req.bitstream, "b1");
    f.opts[KS_OPT_VFS] = "x";
    assert_int_equal(ks_args_from_job(&f.s, &req, err, sizeof err), -EINVAL);
}

static char reported[KS_ERR_LEN];

static void capture(const char *msg)
{
    snprintf(reported, sizeof reported, "%s", msg);
}

static void test_option_callbacks_report_and_refuse(void **st)
{
    (void)st;
    assert_string_equal(ks_spank_options[KS_OPT_VFS].name, "fpga-vfs");
    assert_string_equal(ks_spank_options[KS_OPT_BITSTREAM].name, "fpga-bitstream");
    assert_string_equal(ks_spank_options[KS_OPT_FALLBACK].name, "fpga-fallback");
    assert_null(ks_spank_options[KS_OPT_COUNT].name);
    ks_args_report = capture;
    struct spank_option *vfs = &ks_spank_options[KS_OPT_VFS];
    assert_int_equal(vfs->cb(vfs->val, "abc", 0), -1);
    assert_non_null(strstr(reported, "--fpga-vfs=abc is not allowed"));
    assert_int_equal(ks_args_request()->nvfs, 0);
    reported[0] = '\0';
    assert_int_equal(vfs->cb(vfs->val, "2", 0), 0);
    assert_string_equal(reported, "");
    assert_int_equal(ks_args_request()->nvfs, 2);
    struct spank_option *fb = &ks_spank_options[KS_OPT_FALLBACK];
    assert_int_equal(fb->cb(fb->val, "maybe", 1), -1);
    assert_non_null(strstr(reported, "--fpga-fallback=maybe"));
}

static void test_plugstack_arguments(void **st)
{
    (void)st;
    struct ks_config c;
    char err[KS_ERR_LEN];
    char *ok[] = {"hypervisor=qemu:///system", "domain=%n-vm", "policy=/etc/kfarm/esfm.json",
                  "state_dir=/var/lib/kfarm/spank", "mqtt=tcp://127.0.0.1:1883"};
    assert_int_equal(ks_config_parse(5, ok, &c, err, sizeof err), 0);
    assert_string_equal(c.hypervisor, "qemu:///system");
    assert_string_equal(c.policy, "/etc/kfarm/esfm.json");
    assert_string_equal(c.esfm_state_dir, "/var/lib/esfm"); /* default */
    assert_string_equal(c.squeue, "/usr/bin/squeue");
    assert_string_equal(c.sysfs_root, "");
    char vm[64];
    assert_int_equal(ks_config_domain(&c, "node07", vm, sizeof vm, err, sizeof err), 0);
    assert_string_equal(vm, "node07-vm");

    char *typo[] = {"hypervisor=qemu:///system", "polcy=/x"};
    assert_int_equal(ks_config_parse(2, typo, &c, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "polcy=/x"));
    char *none[] = {"domain=%n"};
    assert_int_equal(ks_config_parse(1, none, &c, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "hypervisor=URI"));
    char *rel[] = {"hypervisor=test:///default", "state_dir=spank"};
    assert_int_equal(ks_config_parse(2, rel, &c, err, sizeof err), -EINVAL);
    char *pct[] = {"hypervisor=test:///default", "domain=vm-%x"};
    assert_int_equal(ks_config_parse(2, pct, &c, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "%n"));
    char *lit[] = {"hypervisor=test:///default", "domain=%%n-%n"};
    assert_int_equal(ks_config_parse(2, lit, &c, err, sizeof err), 0);
    assert_int_equal(ks_config_domain(&c, "a", vm, sizeof vm, err, sizeof err), 0);
    assert_string_equal(vm, "%n-a");
    assert_int_equal(ks_config_domain(&c, "a-very-long-node-name", vm, 8, err, sizeof err),
                     -ENAMETOOLONG);
}

/* mqtt_username=, mqtt_password_file=, mqtt_cafile=, mqtt_cert=, mqtt_key= reach libesfm as its
 * MQTT security settings; bad combinations are refused when the plugin loads. */
static void test_plugstack_mqtt_security(void **st)
{
    (void)st;
    struct ks_config c;
    struct kf_mqtt_security sec;
    char err[KS_ERR_LEN];
    char *ok[] = {"hypervisor=qemu:///system", "mqtt=ssl://broker:8883", "mqtt_username=esfm",
                  "mqtt_password_file=/etc/kfarm/esfm.pw", "mqtt_cafile=/etc/kfarm/ca.pem",
                  "mqtt_cert=/etc/kfarm/c.pem", "mqtt_key=/etc/kfarm/c.key"};
    assert_int_equal(ks_config_parse(7, ok, &c, err, sizeof err), 0);
    ks_config_mqtt_security(&c, &sec);
    assert_string_equal(sec.username, "esfm");
    assert_string_equal(sec.password_file, "/etc/kfarm/esfm.pw");
    assert_string_equal(sec.cafile, "/etc/kfarm/ca.pem");
    assert_string_equal(sec.certfile, "/etc/kfarm/c.pem");
    assert_string_equal(sec.keyfile, "/etc/kfarm/c.key");
    char *plain[] = {"hypervisor=qemu:///system", "mqtt=tcp://broker:1883"};
    assert_int_equal(ks_config_parse(2, plain, &c, err, sizeof err), 0);
    ks_config_mqtt_security(&c, &sec);
    assert_null(sec.username);
    assert_null(sec.password_file);
    assert_null(sec.cafile);

    char *no_uri[] = {"hypervisor=qemu:///system", "mqtt_username=esfm"};
    assert_int_equal(ks_config_parse(2, no_uri, &c, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "need mqtt=URI"));
    char *no_pw[] = {"hypervisor=qemu:///system", "mqtt=ssl://b:1", "mqtt_username=esfm"};
    assert_int_equal(ks_config_parse(3, no_pw, &c, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "mqtt_password_file="));
    char *tls_on_tcp[] = {"hypervisor=qemu:///system", "mqtt=tcp://b:1", "mqtt_cafile=/ca"};
    assert_int_equal(ks_config_parse(3, tls_on_tcp, &c, err, sizeof err), -EINVAL);
    assert_non_null(strstr(err, "is for TLS"));
}

static bool fake_node_in(const char *list, const char *node, void *arg)
{
    (void)arg;
    return strcmp(list, "n[1-2]") == 0 && (strcmp(node, "n1") == 0 || strcmp(node, "n2") == 0);
}

/* `scontrol show job -d` GRES detail lines of 22.05: with and without IDX, typed, several GRES,
 * node lists, and the job-wide JOB_GRES line that must not count. */
static void test_gres_allocation_from_show_job(void **st)
{
    (void)st;
    struct ks_gres_alloc a;
    const char *text = "JobId=7 JobName=wrap\n"
                       "   JOB_GRES=fpgavf:5\n"
                       "     Nodes=n[1-2] CPU_IDs=0 Mem=0 GRES=gpu:1(IDX:0),fpgavf:2(IDX:0,2)\n"
                       "     Nodes=n3 CPU_IDs=0 Mem=0 GRES=fpgavf:ptdr-v1(CNT:1)\n"
                       "     Nodes=n4 CPU_IDs=0 Mem=0 GRES=\n"
                       "   TresPerNode=gres:fpgavf:2\n";
    ks_gres_parse_show_job(text, "fpgavf", "n2", fake_node_in, NULL, &a);
    assert_true(a.on_node);
    assert_int_equal(a.count, 2);
    assert_string_equal(a.type, "");
    ks_gres_parse_show_job(text, "fpgavf", "n3", fake_node_in, NULL, &a);
    assert_int_equal(a.count, 1);
    assert_string_equal(a.type, "ptdr-v1");
    ks_gres_parse_show_job(text, "fpgavf", "n4", fake_node_in, NULL, &a);
    assert_true(a.on_node);
    assert_int_equal(a.count, 0);
    ks_gres_parse_show_job(text, "fpgavf", "n9", fake_node_in, NULL, &a);
    assert_false(a.on_node);
    assert_int_equal(a.count, 0);
    ks_gres_parse_show_job(text, "gpu", "n1", fake_node_in, NULL, &a);
    assert_int_equal(a.count, 1);
    ks_gres_parse_show_job("     Nodes=n3 GRES=fpgavf:t:3(IDX:0-2)\n", "fpgavf", "n3", fake_node_in,
                           NULL, &a);
    assert_int_equal(a.count, 3);
    assert_string_equal(a.type, "t");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fpga_vfs_accepts_positive_whole_numbers_only),
        cmocka_unit_test(test_fpga_fallback_is_cpu_or_fail),
        cmocka_unit_test(test_fpga_bitstream_name_characters),
        cmocka_unit_test(test_options_read_back_in_prolog_through_getopt),
        cmocka_unit_test(test_option_callbacks_report_and_refuse),
        cmocka_unit_test(test_plugstack_arguments),
        cmocka_unit_test(test_gres_allocation_from_show_job),
        cmocka_unit_test(test_plugstack_mqtt_security),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
