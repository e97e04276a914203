/* Regression tests for what the fuzzers found (tests/fuzz): each input that crashed a parser,
 * replayed here in the normal (gcc, optionally ASan/UBSan) build so that it cannot come back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <kfarm/tuner.h>

#include "block_desc.h"
#include "frames.h"
#include "learner.h"

/* fuzz_gateway: a message whose frame count is 3 but of which the caller kept only 2 frames was
 * taken as a request, reading the third frame past the caller's array. */
static void test_frames_never_read_past_kept_frames(void **state)
{
    (void)state;
    struct kf_frame *f = malloc(2 * sizeof(*f)); /* exactly two: ASan sees a third read */
    assert_non_null(f);
    f[0] = (struct kf_frame){"7", 1};
    f[1] = (struct kf_frame){"echo", 4};
    struct kf_request_view v;
    char err[256];
    assert_int_equal(kf_frames_parse(f, 2, 3, 5, 1000, &v, err, sizeof(err)),
                     KF_FRAMES_ERROR_REPLY);
    assert_memory_equal(v.id, "7", 1);
    assert_non_null(strstr(err, "frames"));
    free(f);
}

/* fuzz_tuner_config: a block with no features and no knobs did pointer arithmetic on NULL
 * columns (UBSan) as soon as an operating point was added and updated. */
static void test_block_without_features_or_knobs_updates(void **state)
{
    (void)state;
    char err[512];
    const char *cfg = "{\"blocks\":[{\"name\":\"empty\",\"metrics\":[{\"name\":\"t\"}]}]}";
    struct tuner *t = tuner_config_parse(cfg, "empty.json", NULL, NULL, err, sizeof(err));
    assert_non_null(t);
    assert_int_equal(tuner_n_features(t), 0);
    assert_int_equal(tuner_n_knobs(t), 0);
    double m[1] = {1.0};
    assert_int_equal(tuner_add_op(t, NULL, NULL, m, NULL), 0);
    struct tuner_decision d;
    assert_int_equal(tuner_update(t, NULL, &d), 0);
    assert_int_equal(d.op, 0);
    tuner_free(t);
}

/* fuzz_tuner_config: "reactive_inertia": 444444444443 asked calloc for terabytes. */
static void test_huge_reactive_inertia_is_refused(void **state)
{
    (void)state;
    char err[512] = "";
    const char *cfg = "{\"blocks\":[{\"name\":\"mc\",\"monitors\":[{\"name\":\"tm\",\"window\":4}],"
                      "\"metrics\":[{\"name\":\"t\",\"observed_by\":\"tm\","
                      "\"reactive_inertia\":444444444443}]}]}";
    struct tuner *t = tuner_config_parse(cfg, "m.json", NULL, NULL, err, sizeof(err));
    assert_null(t);
    assert_non_null(strstr(err, "reactive_inertia"));
    /* a huge monitor window is capped, not allocated */
    const char *win = "{\"blocks\":[{\"name\":\"mc\",\"monitors\":[{\"name\":\"tm\","
                      "\"window\":99999999999999}],\"metrics\":[{\"name\":\"t\","
                      "\"observed_by\":\"tm\",\"reactive_inertia\":1}]}]}";
    t = tuner_config_parse(win, "m.json", NULL, NULL, err, sizeof(err));
    assert_non_null(t);
    tuner_free(t);
}

/* fuzz_tuner_mqtt: a welcome (anyone on the broker can send one) with
 * "observations_per_configuration": 5.5e52 overflowed the conversion to size_t (UBSan). */
static void test_huge_observation_count_in_welcome_is_capped(void **state)
{
    (void)state;
    struct block_desc d;
    char err[256];
    const char *w = "{\"block\":\"mc\",\"knobs\":[{\"name\":\"v\",\"values\":[\"cpu\"]}],"
                    "\"metrics\":[\"t\"],\"observations_per_configuration\":5.5e52}";
    assert_int_equal(block_desc_parse(&d, w, err, sizeof(err)), 0);
    assert_int_equal(d.obs_per_config, BD_MAX_OBS_PER_CONFIG);
    block_desc_fini(&d);
}

/* fuzz_tuner_mqtt: kfarm-learner keeps the last 16 dropped client ids in a ring, but every welcome
 * looked through all n_dropped of them: after 17 kia messages (anyone on the broker can send them)
 * it read past the ring, and zeroed a byte there when the welcoming id matched what it found.
 * Right behind the ring lies n_dropped itself, whose bytes read as a string are "\x14" after 20
 * kia messages: a client with that id wiped the count. ASan builds also see the read past it. */
static void test_welcome_after_many_dropped_clients(void **state)
{
    (void)state;
    const char *welcome =
        "{\"client\":\"c\",\"block\":\"mc\",\"knobs\":[{\"name\":\"variant\",\"values\":"
        "[\"cpu\",\"accel\"]}],\"features\":[{\"name\":\"size\",\"comparison\":\"-\"}],"
        "\"metrics\":[\"time_per_unit\"],\"observations_per_configuration\":3}";
    struct learner l;
    memset(&l, 0, sizeof(l));
    l.o.max_full = 64;
    l.o.samples = 4;
    char topic[64];
    for (int i = 0; i < 20; i++) {
        snprintf(topic, sizeof(topic), "margot/app.mc/welcome/c%d", i);
        learner_handle(&l, topic, welcome);
        snprintf(topic, sizeof(topic), "margot/app.mc/kia/c%d", i);
        learner_handle(&l, topic, "");
    }
    assert_int_equal(l.n_apps, 1);
    assert_int_equal(l.apps[0].n_dropped, 20);
    learner_handle(&l, "margot/app.mc/welcome/\x14", welcome);
    assert_int_equal(l.apps[0].n_dropped, 20);
    assert_int_equal(l.apps[0].n_clients, 1);
    /* the ring still holds the last 16 ids (c4..c19), slot i % 16 for the i-th drop */
    for (int i = 4; i < 20; i++) {
        snprintf(topic, sizeof(topic), "c%d", i);
        assert_string_equal(l.apps[0].dropped[i % LEARNER_DROPPED_KEPT], topic);
    }
    learner_fini(&l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames_never_read_past_kept_frames),
        cmocka_unit_test(test_block_without_features_or_knobs_updates),
        cmocka_unit_test(test_huge_reactive_inertia_is_refused),
        cmocka_unit_test(test_huge_observation_count_in_welcome_is_capped),
        cmocka_unit_test(test_welcome_after_many_dropped_clients),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
