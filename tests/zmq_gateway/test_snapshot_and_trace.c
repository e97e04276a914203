/* Unit tests of the gateway's self-report (per-client in-flight counts, the Prometheus text form)
 * and of the trace writer (reply lines, pause/unpause events), on the real gateway objects. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include <cjson/cJSON.h>

#include "snapshot.h"
#include "trace.h"

static void test_clients_counted_by_route_running_and_waiting(void **state)
{
    (void)state;
    struct kf_stats *s = kf_stats_new(2);
    struct kf_dispatch *d = kf_dispatch_new(1, 2, 4);
    struct kf_inflight *t = kf_inflight_new();
    const unsigned char a[] = {0, 1, 2}, b[] = {0, 9};
    struct kf_request *r1 = kf_inflight_add(t, a, sizeof(a), "1", 1);
    struct kf_request *r2 = kf_inflight_add(t, a, sizeof(a), "2", 1);
    struct kf_request *r3 = kf_inflight_add(t, b, sizeof(b), "1", 1);
    r1->worker = 1;
    kf_dispatch_started(d, 1);
    r3->worker = 2;
    kf_dispatch_started(d, 2);
    kf_inflight_push_pending(t, r2);
    struct kf_wire_hdr h = {.type = KF_WIRE_REPLY,
                            .status = KF_WIRE_FAILED,
                            .variant = KF_VARIANT_ACCEL,
                            .reason = KF_REASON_EXPLOITING,
                            .accel = 1,
                            .service_ns = 1000000};
    kf_stats_request(s);
    kf_stats_reply(s, 2, &h, 2000000);

    char *json = kf_snapshot_json(s, d, t, 1, 12345);
    assert_non_null(json);
    cJSON *root = cJSON_Parse(json);
    cJSON *clients = cJSON_GetObjectItem(root, "clients");
    assert_int_equal(cJSON_GetArraySize(clients), 2);
    cJSON *c0 = cJSON_GetArrayItem(clients, 0), *c1 = cJSON_GetArrayItem(clients, 1);
    /* order follows the in-flight table; find each by name */
    if (strcmp(cJSON_GetObjectItem(c0, "client")->valuestring, "000102") != 0) {
        cJSON *x = c0;
        c0 = c1;
        c1 = x;
    }
    assert_string_equal(cJSON_GetObjectItem(c0, "client")->valuestring, "000102");
    assert_int_equal(cJSON_GetObjectItem(c0, "inflight")->valueint, 2);
    assert_int_equal(cJSON_GetObjectItem(c0, "waiting")->valueint, 1);
    assert_string_equal(cJSON_GetObjectItem(c1, "client")->valuestring, "0009");
    assert_int_equal(cJSON_GetObjectItem(c1, "inflight")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(root, "pending")->valueint, 1);
    assert_int_equal(cJSON_GetObjectItem(root, "pending_bytes")->valueint, 12345);
    cJSON_Delete(root);

    setenv("SLURM_JOB_ID", "4242", 1);
    char *text = kf_snapshot_prometheus(json);
    assert_non_null(text);
    assert_non_null(strstr(text, "# TYPE kfarm_requests_total counter\nkfarm_requests_total 1\n"));
    assert_non_null(strstr(text, "# TYPE kfarm_pending_bytes gauge\nkfarm_pending_bytes 12345\n"));
    assert_non_null(strstr(text, "kfarm_worker_requests_total{rank=\"2\"} 1\n"));
    assert_non_null(strstr(text, "kfarm_worker_errors_total{rank=\"2\"} 1\n"));
    assert_non_null(strstr(text, "kfarm_worker_inflight{rank=\"1\"} 1\n"));
    assert_non_null(strstr(
        text, "kfarm_worker_variant_info{rank=\"2\",variant=\"accel\",why=\"exploiting\"} 1\n"));
    assert_non_null(strstr(text, "kfarm_worker_accel_available{rank=\"2\"} 1\n"));
    assert_non_null(strstr(text, "kfarm_client_inflight{client=\"000102\"} 2\n"));
    assert_non_null(strstr(text, "kfarm_client_inflight{client=\"0009\"} 1\n"));
    assert_non_null(
        strstr(text, "# TYPE kfarm_build_info gauge\nkfarm_build_info{version=\"" KFARM_VERSION
                     "\",commit=\""));
    assert_non_null(strstr(text, "\",job=\"4242\"} 1\n"));
    /* every line is a comment or `name{labels} value` */
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        assert_true(line[0] == '#' || strchr(line, ' ') < nl);
        line = nl + 1;
    }
    free(text);
    free(json);
    assert_null(kf_snapshot_prometheus("{\"not\": \"stats\"}"));

    /* connect mode: one peer, named evkit */
    json = kf_snapshot_json(s, d, t, 0, 0);
    assert_non_null(strstr(json, "\"client\":\"evkit\",\"inflight\":3"));
    free(json);
    kf_inflight_free(t);
    kf_dispatch_free(d);
    kf_stats_free(s);
}

static void test_trace_lines_and_accelerator_events(void **state)
{
    (void)state;
    char path[] = "/tmp/kfarm-trace-test.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char err[256];
    struct kf_trace *t;
    assert_int_equal(kf_trace_open(&t, path, 2, 0, err, sizeof(err)), 0);
    assert_non_null(t);
    uint16_t work = kf_trace_kind(t, "work", 4), other = kf_trace_kind(t, "odd kind\t", 9);
    assert_int_equal(kf_trace_kind(t, "work", 4), work);
    assert_int_not_equal(work, other);
    struct kf_wire_hdr h = {.variant = KF_VARIANT_ACCEL,
                            .reason = KF_REASON_EXPLOITING,
                            .accel = 1,
                            .service_ns = 1500};
    kf_trace_reply(t, 1, work, &h);
    h.variant = KF_VARIANT_CPU;
    h.reason = KF_REASON_FALLBACK;
    h.accel = 0;
    kf_trace_reply(t, 1, work, &h); /* rank 1 saw the accelerator go */
    h.status = KF_WIRE_FAILED;
    kf_trace_reply(t, 2, other, &h); /* rank 2's first reply: no event */
    h.status = KF_WIRE_OK;
    h.accel = 1;
    kf_trace_reply(t, 1, work, &h); /* back */
    kf_trace_reply(t, 7, work, &h); /* not a worker rank: ignored */
    kf_trace_close(t);

    FILE *f = fopen(path, "r");
    char line[512], col[8][64];
    int n = 0, events = 0;
    const char *want_events[] = {"accel-paused", "accel-unpaused"};
    while (fgets(line, sizeof(line), f)) {
        if (line[0] == '#')
            continue;
        assert_int_equal(sscanf(line,
                                "%63[^\t]\t%63[^\t]\t%63[^\t]\t%63[^\t]\t%63[^\t]\t%63[^\t]\t"
                                "%63[^\t]\t%63[^\n]",
                                col[0], col[1], col[2], col[3], col[4], col[5], col[6], col[7]),
                         8);
        if (strncmp(col[2], "accel-", 6) == 0) {
            assert_string_equal(col[2], want_events[events]);
            assert_string_equal(col[1], "1");
            events++;
        } else {
            n++;
        }
    }
    fclose(f);
    unlink(path);
    assert_int_equal(n, 4);
    assert_int_equal(events, 2);
    struct kf_trace *none;
    assert_int_equal(kf_trace_open(&none, "/nonexistent-dir/trace", 2, 0, err, sizeof(err)), -ENOENT);
    assert_null(none);
    assert_non_null(strstr(err, "/nonexistent-dir/trace"));
}

static void test_trace_stops_at_its_cap_and_bounds_kinds(void **state)
{
    (void)state;
    char path[] = "/tmp/kfarm-trace-test.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    char err[256];
    struct kf_trace *t;
    assert_int_equal(kf_trace_open(&t, path, 1, 4096, err, sizeof(err)), 0);
    /* a kind over 64 bytes, and kinds beyond the table, are all "other" (0) */
    char long_kind[65];
    memset(long_kind, 'k', sizeof(long_kind));
    assert_int_equal(kf_trace_kind(t, long_kind, sizeof(long_kind)), 0);
    assert_int_not_equal(kf_trace_kind(t, long_kind, 64), 0);
    for (int i = 0; i < 300; i++) {
        char k[16];
        int n = snprintf(k, sizeof(k), "kind-%d", i);
        uint16_t id = kf_trace_kind(t, k, (size_t)n);
        assert_true(id < 256);
    }
    struct kf_wire_hdr h = {.variant = KF_VARIANT_CPU, .service_ns = 1500};
    for (int i = 0; i < 10000; i++)
        kf_trace_reply(t, 1, 1, &h);
    kf_trace_close(t);
    FILE *f = fopen(path, "r");
    char line[512], last[512] = "";
    long size = 0;
    while (fgets(line, sizeof(line), f)) {
        size += (long)strlen(line);
        snprintf(last, sizeof(last), "%s", line);
    }
    fclose(f);
    unlink(path);
    /* the header, lines up to the cap (the last may pass it), and the line saying why it ends */
    assert_true(size < 4096 + 1024);
    assert_non_null(strstr(last, "# trace stopped"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_clients_counted_by_route_running_and_waiting),
        cmocka_unit_test(test_trace_lines_and_accelerator_events),
        cmocka_unit_test(test_trace_stops_at_its_cap_and_bounds_kinds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
