/* Doorbells across network namespaces (what separates nodes in tests/harness/slurm-multinode, and
 * what abstract UNIX socket names are scoped to): ringing a doorbell on another "node" fails with
 * ECONNREFUSED and disables that peer, so the sender never retries it and the sleeper's timed poll
 * takes over; on the same node the ring wakes the sleeper. Needs root (unshare CLONE_NEWNET). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "doorbell.h"

static int rung_within(const struct kf_doorbell *d, int ms)
{
    struct pollfd p = {.fd = d->fd, .events = POLLIN};
    return poll(&p, 1, ms) == 1;
}

static void test_ring_on_the_same_node_wakes_the_sleeper(void **state)
{
    (void)state;
    char err[256];
    struct kf_doorbell d;
    assert_int_equal(kf_doorbell_open(&d, err, sizeof(err)), 0);
    struct kf_doorbell_peer p;
    kf_doorbell_peer_open(&p, d.name, strlen(d.name));
    kf_doorbell_ring(&p);
    assert_true(rung_within(&d, 1000));
    assert_true(p.fd >= 0); /* still usable */
    kf_doorbell_peer_close(&p);
    kf_doorbell_close(&d);
}

/* A child in its own network namespace opens a doorbell and sends its name; the parent rings it.
 * The child reports (exit status) whether any ring arrived within 300 ms. */
static void test_ring_to_another_netns_disables_the_peer(void **state)
{
    (void)state;
    int names[2], go[2];
    assert_int_equal(pipe(names), 0);
    assert_int_equal(pipe(go), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char err[256];
        struct kf_doorbell d;
        if (unshare(CLONE_NEWNET) || kf_doorbell_open(&d, err, sizeof(err)))
            _exit(2);
        if (write(names[1], d.name, sizeof(d.name)) != (ssize_t)sizeof(d.name))
            _exit(2);
        char c;
        if (read(go[0], &c, 1) != 1) /* the parent has rung */
            _exit(2);
        _exit(rung_within(&d, 300) ? 1 : 0);
    }
    char name[KF_DOORBELL_NAME_MAX];
    assert_int_equal(read(names[0], name, sizeof(name)), (ssize_t)sizeof(name));
    struct kf_doorbell_peer p;
    kf_doorbell_peer_open(&p, name, strnlen(name, sizeof(name)));
    assert_true(p.fd >= 0);
    kf_doorbell_ring(&p);
    assert_int_equal(p.fd, -1); /* ECONNREFUSED: not on this node; never rung again */
    kf_doorbell_ring(&p);       /* a disabled peer is a no-op */
    assert_int_equal(write(go[1], "g", 1), 1);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0); /* 2: setup failed; 1: a ring crossed namespaces */
    close(names[0]);
    close(names[1]);
    close(go[0]);
    close(go[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ring_on_the_same_node_wakes_the_sleeper),
        cmocka_unit_test(test_ring_to_another_netns_disables_the_peer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
