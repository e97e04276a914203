/* Server-side learning without a broker: linear model, design of experiments, kfarm-learner's
 * logic (explore, knowledge, kia, relearn) and kfarm-observer's hints, driven by messages. */
#include "block_desc.h"
#include "doe.h"
#include "learner.h"
#include "linear_model.h"
#include "observer.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static const char *welcome =
    "{\"client\":\"c1\",\"block\":\"mc\","
    "\"knobs\":[{\"name\":\"variant\",\"values\":[\"cpu\",\"accel\"]},"
    "{\"name\":\"batch\",\"range\":[1,2,1]}],"
    "\"features\":[{\"name\":\"size\",\"comparison\":\"-\"},"
    "{\"name\":\"accel_available\",\"comparison\":\"le\"}],"
    "\"metrics\":[\"time_per_unit\",\"time\"],\"objective\":{\"minimize\":\"time_per_unit\"},"
    "\"hw_features\":[\"accel_available\"],\"observations_per_configuration\":3}";

static char *slurp(const char *path)
{
    static char buf[65536];
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = 0;
    return buf;
}

static void test_linear_model_fits_and_skips_constant_features(void **st)
{
    (void)st;
    double X[5 * 3], y[5];
    for (int i = 0; i < 5; i++) {
        X[i * 3] = i;
        X[i * 3 + 1] = (i * i) % 3;
        X[i * 3 + 2] = 7; /* constant: no coefficient */
        y[i] = 2 + 3 * X[i * 3] - X[i * 3 + 1];
    }
    struct linear_model m;
    assert_int_equal(linear_model_fit(&m, X, y, 5, 3), 0);
    assert_false(m.use[2]);
    double q[3] = {10, 1, 7};
    assert_true(fabs(linear_model_predict(&m, q) - 31) < 1e-9);
    assert_true(m.resid_sd < 1e-9);
    /* two rows, two varying features: not enough for a model, the mean is used */
    assert_int_equal(linear_model_fit(&m, X, y, 2, 3), 0);
    assert_true(fabs(linear_model_predict(&m, q) - (y[0] + y[1]) / 2) < 1e-12);
    assert_int_equal(linear_model_fit(&m, X, y, 0, 3), -EINVAL);
}

static void test_doe_full_factorial_or_distinct_samples(void **st)
{
    (void)st;
    struct block_desc d;
    char err[128];
    assert_int_equal(block_desc_parse(&d, welcome, err, sizeof(err)), 0);
    assert_int_equal(d.nk, 2);
    assert_true(d.hw[1] && !d.hw[0]);
    double *c;
    assert_int_equal(doe_configs(&d, 64, 3, 1, &c), 4);
    assert_true(c[0] == 0 && c[1] == 1 && c[6] == 1 && c[7] == 2);
    free(c);
    size_t n = doe_configs(&d, 2, 3, 7, &c);
    assert_int_equal(n, 3);
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            assert_false(c[i * 2] == c[j * 2] && c[i * 2 + 1] == c[j * 2 + 1]);
    free(c);
    block_desc_fini(&d);
    assert_true(block_desc_parse(&d, "{\"block\":\"mc\",\"knobs\":3}", err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "knobs"));
}

static void observe(struct learner *l, const char *cid, const char *variant, int batch, double size,
                    double tpu)
{
    char topic[256], payload[512];
    snprintf(topic, sizeof(topic), "margot/app.mc/observation/%s", cid);
    snprintf(payload, sizeof(payload),
             "{\"features\":{\"size\":%g,\"accel_available\":1},\"knobs\":{\"variant\":\"%s\","
             "\"batch\":%d},\"metrics\":{\"time_per_unit\":%g,\"time\":%g}}",
             size, variant, batch, tpu, tpu * size);
    learner_handle(l, topic, payload);
}

static void test_learner_explores_then_builds_knowledge(void **st)
{
    (void)st;
    struct learner l;
    memset(&l, 0, sizeof(l));
    l.o.max_full = 64;
    l.o.samples = 4;
    learner_handle(&l, "margot/app.mc/welcome/c1", welcome);
    learner_handle(&l, "margot/app.mc/welcome/c2", welcome);
    assert_int_equal(l.n_apps, 1);
    struct lapp *a = &l.apps[0];
    assert_int_equal(a->n_cfg, 4);
    assert_int_equal(a->n_obs_needed, 3);
    assert_int_equal(a->n_clients, 2);
    /* two clients get two different configurations */
    assert_true(a->clients[0].assigned >= 0 && a->clients[1].assigned >= 0);
    assert_true(a->clients[0].assigned != a->clients[1].assigned);
    const char *v[2] = {"cpu", "accel"};
    /* the clients run what they are told to explore, alternating input sizes like a worker */
    for (int it = 0; it < 500 && !a->learned; it++)
        for (int ci = 0; ci < 2 && !a->learned; ci++) {
            long cfg = a->clients[ci].assigned;
            assert_true(cfg >= 0 && cfg < 4);
            const double *k = a->cfg + cfg * 2;
            const char *var = v[(int)k[0]];
            int batch = (int)k[1];
            double size = (it + ci) % 2 ? 8 : 1000;
            /* cpu: 1 us/unit; accel: 50 us / size + 0.1 us; batch 2 is 10% faster */
            double f = batch == 2 ? 0.9 : 1.0;
            observe(&l, a->clients[ci].cid, var, batch, size,
                    f * (k[0] == 0 ? 1e-6 : 50e-6 / size + 0.1e-6));
        }
    assert_true(a->learned);
    assert_int_equal(a->version, 1);
    for (size_t c = 0; c < a->n_cfg; c++)
        assert_true(a->configs[c].n_obs >= 3);
    cJSON *k = cJSON_Parse(a->knowledge);
    const cJSON *ops = cJSON_GetObjectItem(k, "mc"), *op;
    assert_int_equal(cJSON_GetArraySize(ops), 8); /* 4 configurations x 2 input clusters */
    int checked = 0;
    cJSON_ArrayForEach(op, ops)
    {
        double size = cJSON_GetObjectItem(cJSON_GetObjectItem(op, "features"), "size")->valuedouble;
        const char *var =
            cJSON_GetObjectItem(cJSON_GetObjectItem(op, "knobs"), "variant")->valuestring;
        double batch = cJSON_GetObjectItem(cJSON_GetObjectItem(op, "knobs"), "batch")->valuedouble;
        double tpu =
            cJSON_GetArrayItem(
                cJSON_GetObjectItem(cJSON_GetObjectItem(op, "metrics"), "time_per_unit"), 0)
                ->valuedouble;
        double f = batch == 2 ? 0.9 : 1.0;
        double want = f * (!strcmp(var, "cpu") ? 1e-6 : 50e-6 / (size == 8 ? 8 : 1000) + 0.1e-6);
        assert_true(size == 8 || size == 1024);
        assert_true(fabs(tpu - want) < 1e-12);
        checked++;
    }
    assert_int_equal(checked, 8);
    cJSON_Delete(k);

    /* a client that dies is dropped; one that comes back is listed again */
    learner_handle(&l, "margot/app.mc/kia/c2", "c2");
    assert_int_equal(a->n_clients, 1);
    assert_string_equal(a->dropped[0], "c2");
    learner_handle(&l, "margot/app.mc/welcome/c2", welcome);
    assert_int_equal(a->n_clients, 2);

    /* relearn starts the experiments again, keeps serving the old knowledge until done */
    learner_handle(&l, "margot/app.mc/relearn", "{\"reason\":\"test\"}");
    assert_false(a->learned);
    assert_int_equal(a->relearns, 1);
    assert_non_null(a->knowledge);
    learner_fini(&l);
}

static void test_observer_hints_happiness_and_gain(void **st)
{
    (void)st;
    char path[] = "/tmp/kfarm-hintsXXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct observer ob;
    memset(&ob, 0, sizeof(ob));
    ob.o.threshold = 0.3;
    ob.o.samples = 3;
    ob.o.hints_path = path;
    observer_handle(&ob, "margot/app.mc/welcome/c1", welcome);
    const char *knowledge = "{\"mc\":["
                            "{\"features\":{\"size\":1024,\"accel_available\":1},\"knobs\":{"
                            "\"variant\":\"accel\",\"batch\":1},"
                            "\"metrics\":{\"time_per_unit\":[2e-7,0],\"time\":[1,0]}},"
                            "{\"features\":{\"size\":1024,\"accel_available\":1},\"knobs\":{"
                            "\"variant\":\"cpu\",\"batch\":1},"
                            "\"metrics\":{\"time_per_unit\":[1e-6,0],\"time\":[1,0]}},"
                            "{\"features\":{\"size\":1024,\"accel_available\":0},\"knobs\":{"
                            "\"variant\":\"cpu\",\"batch\":1},"
                            "\"metrics\":{\"time_per_unit\":[1e-6,0],\"time\":[1,0]}}]}";
    observer_handle(&ob, "margot/app.mc/prediction", knowledge);
    observer_handle(&ob, "margot/app.mc/prediction", knowledge); /* repeat: same version */
    assert_int_equal(ob.apps[0].n_versions, 1);
    assert_int_equal(ob.apps[0].n_ops, 3);
    const char *obs = "{\"features\":{\"size\":1000,\"accel_available\":0},\"knobs\":{\"variant\":"
                      "\"cpu\",\"batch\":1},\"metrics\":{\"time_per_unit\":1e-6,\"time\":1e-3}}";
    observer_handle(&ob, "margot/app.mc/observation/c1", obs);
    assert_int_equal(observer_write_hints(&ob), 0);
    cJSON *h = cJSON_Parse(slurp(path));
    const cJSON *c1 = cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(h, "apps"), "app.mc"),
                            "clients"),
        "c1");
    assert_int_equal(cJSON_GetArraySize(c1), 1);
    const cJSON *e = cJSON_GetArrayItem(c1, 0);
    assert_true(fabs(cJSON_GetObjectItem(e, "happiness")->valuedouble - 0.2) < 1e-9);
    assert_true(fabs(cJSON_GetObjectItem(cJSON_GetObjectItem(e, "gain_with_other_resources"),
                                         "accel_available=1")
                         ->valuedouble -
                     5) < 1e-9);
    assert_true(fabs(cJSON_GetObjectItem(e, "best_with_current_resources")->valuedouble - 1e-6) <
                1e-15);
    cJSON_Delete(h);
    /* a dead client disappears from the hints */
    observer_handle(&ob, "margot/app.mc/kia/c1", "c1");
    observer_write_hints(&ob);
    h = cJSON_Parse(slurp(path));
    assert_null(cJSON_GetObjectItem(
        cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(h, "apps"), "app.mc"),
                            "clients"),
        "c1"));
    cJSON_Delete(h);
    observer_fini(&ob);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_linear_model_fits_and_skips_constant_features),
        cmocka_unit_test(test_doe_full_factorial_or_distinct_samples),
        cmocka_unit_test(test_learner_explores_then_builds_knowledge),
        cmocka_unit_test(test_observer_hints_happiness_and_gain),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
