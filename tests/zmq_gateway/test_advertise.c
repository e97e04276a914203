/* Unit tests of the address a wildcard bind advertises: by default an address an interface of this
 * node holds, not loopback when the node has another; --advertise as a subnet, an interface or a
 * literal; clear errors for a subnet or interface without an IPv4 here. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "advertise.h"

/* The first IPv4 of an up, non-loopback interface here, or "" when there is none. */
static void first_routable(char *out, size_t len, char *ifname, size_t iflen)
{
    struct ifaddrs *list = NULL, *i;
    out[0] = ifname[0] = '\0';
    if (getifaddrs(&list))
        return;
    for (i = list; i; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET || !(i->ifa_flags & IFF_UP) ||
            (i->ifa_flags & IFF_LOOPBACK))
            continue;
        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, out, (socklen_t)len);
        snprintf(ifname, iflen, "%s", i->ifa_name);
        break;
    }
    freeifaddrs(list);
}

static int held_here(const char *addr)
{
    struct ifaddrs *list = NULL, *i;
    char a[64];
    int found = 0;
    if (getifaddrs(&list))
        return 0;
    for (i = list; i && !found; i = i->ifa_next) {
        if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
            continue;
        inet_ntop(AF_INET, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, a, sizeof(a));
        found = strcmp(a, addr) == 0;
    }
    freeifaddrs(list);
    return found;
}

static void test_default_is_a_routable_address_of_this_node(void **state)
{
    (void)state;
    char want[64], ifname[IF_NAMESIZE + 1], out[64], err[256];
    first_routable(want, sizeof(want), ifname, sizeof(ifname));
    assert_int_equal(kf_advertise_resolve(NULL, out, sizeof(out), err, sizeof(err)), 0);
    if (want[0]) {
        assert_string_not_equal(out, "127.0.0.1");
        assert_true(held_here(out));
    } else {
        assert_string_equal(out, "127.0.0.1");
    }
}

static void test_interface_and_subnet_forms(void **state)
{
    (void)state;
    char want[64], ifname[IF_NAMESIZE + 1], out[64], err[256], subnet[80];
    assert_int_equal(kf_advertise_resolve("lo", out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "127.0.0.1");
    assert_int_equal(kf_advertise_resolve("127.0.0.0/8", out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "127.0.0.1");
    first_routable(want, sizeof(want), ifname, sizeof(ifname));
    if (want[0]) {
        assert_int_equal(kf_advertise_resolve(ifname, out, sizeof(out), err, sizeof(err)), 0);
        assert_string_equal(out, want);
        snprintf(subnet, sizeof(subnet), "%s/32", want);
        assert_int_equal(kf_advertise_resolve(subnet, out, sizeof(out), err, sizeof(err)), 0);
        assert_string_equal(out, want);
    }
    assert_int_equal(kf_advertise_resolve("gw.example.org", out, sizeof(out), err, sizeof(err)), 0);
    assert_string_equal(out, "gw.example.org");
}

/* Runs fn in a child in a fresh network namespace (only loopback, down); its exit status. */
static int in_empty_netns(int (*fn)(void))
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(unshare(CLONE_NEWNET) ? 100 : fn());
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
        return -1;
    return WEXITSTATUS(status);
}

static int errors_say_which_form_failed(void)
{
    char out[64], err[256];
    if (kf_advertise_resolve("10.213.0.0/16", out, sizeof(out), err, sizeof(err)) !=
            -EADDRNOTAVAIL ||
        !strstr(err, "10.213.0.0/16") || !strstr(err, "no interface"))
        return 1;
    if (kf_advertise_resolve("10.0.0.0/99", out, sizeof(out), err, sizeof(err)) != -EINVAL ||
        !strstr(err, "expected a subnet"))
        return 2;
    return 0;
}

static void test_errors_say_which_form_failed(void **state)
{
    (void)state;
    assert_int_equal(in_empty_netns(errors_say_which_form_failed), 0);
}

/* A node whose hostname does not resolve and whose only interface is loopback (a fresh network
 * namespace): 127.0.0.1, the one address that exists, rather than a failure. */
static int default_is_loopback(void)
{
    char out[64], err[256];
    if (kf_advertise_resolve(NULL, out, sizeof(out), err, sizeof(err)))
        return 3;
    return strcmp(out, "127.0.0.1") == 0 ? 0 : 1;
}

static void test_empty_network_namespace_falls_back_to_loopback(void **state)
{
    (void)state;
    assert_int_equal(in_empty_netns(default_is_loopback), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_is_a_routable_address_of_this_node),
        cmocka_unit_test(test_interface_and_subnet_forms),
        cmocka_unit_test(test_errors_say_which_form_failed),
        cmocka_unit_test(test_empty_network_namespace_falls_back_to_loopback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
