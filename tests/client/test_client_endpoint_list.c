/* Unit test of the C client's endpoint list (src/client/client.c): `--connect A,B` connects one
 * DEALER to every endpoint so requests spread over them (several gateways; bench/gateway's direct
 * limit), and a malformed list is refused with -EINVAL naming it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <zmq.h>

#include <cmocka.h>

#include "kfarm/client.h"

/* Requests a ROUTER received within timeout_ms. */
static int count_requests(void *router, int timeout_ms)
{
    int n = 0;
    zmq_pollitem_t it = {.socket = router, .events = ZMQ_POLLIN};
    while (zmq_poll(&it, 1, timeout_ms) == 1) {
        int more = 1;
        while (more) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            assert_true(zmq_msg_recv(&m, router, 0) >= 0);
            more = zmq_msg_more(&m);
            zmq_msg_close(&m);
        }
        n++;
        timeout_ms = 200; /* the rest are already on their way */
    }
    return n;
}

static void test_requests_spread_over_every_endpoint(void **state)
{
    (void)state;
    void *ctx = zmq_ctx_new();
    void *r[2];
    char ep[2][128], list[300];
    for (int i = 0; i < 2; i++) {
        size_t l = sizeof(ep[i]);
        r[i] = zmq_socket(ctx, ZMQ_ROUTER);
        assert_int_equal(zmq_bind(r[i], "tcp://127.0.0.1:*"), 0);
        assert_int_equal(zmq_getsockopt(r[i], ZMQ_LAST_ENDPOINT, ep[i], &l), 0);
    }
    snprintf(list, sizeof(list), "%s,%s", ep[0], ep[1]);
    char err[256] = "";
    struct kf_client_opts o = {.endpoint = list};
    struct kf_client *c = kf_client_new(&o, err, sizeof(err));
    assert_non_null(c);
    for (int i = 0; i < 8; i++)
        assert_int_equal(kf_client_send(c, "1", 1, "echo", "x", 1), 0);
    int a = count_requests(r[0], 5000), b = count_requests(r[1], 5000);
    assert_int_equal(a + b, 8);
    assert_int_equal(a, 4); /* round robin over both connections */
    kf_client_free(c);
    for (int i = 0; i < 2; i++) {
        int zero = 0;
        zmq_setsockopt(r[i], ZMQ_LINGER, &zero, sizeof(zero));
        zmq_close(r[i]);
    }
    zmq_ctx_term(ctx);
}

static void test_malformed_list_is_refused(void **state)
{
    (void)state;
    const char *bad[] = {"tcp://127.0.0.1:1,,tcp://127.0.0.1:2", "tcp://127.0.0.1:1,", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256] = "";
        struct kf_client_opts o = {.endpoint = bad[i]};
        assert_null(kf_client_new(&o, err, sizeof(err)));
        assert_non_null(strstr(err, "an endpoint is empty"));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_requests_spread_over_every_endpoint),
        cmocka_unit_test(test_malformed_list_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
