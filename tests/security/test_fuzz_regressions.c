/* Regression tests for what the fuzzers found (tests/fuzz): each input that crashed a parser,
 * replayed here in the normal (gcc, optionally ASan/UBSan) build so that it cannot come back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <kfarm/tuner.h>

#include "block_desc.h"
#include "frames.h"

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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frames_never_read_past_kept_frames),
        cmocka_unit_test(test_block_without_features_or_knobs_updates),
        cmocka_unit_test(test_huge_reactive_inertia_is_refused),
        cmocka_unit_test(test_huge_observation_count_in_welcome_is_capped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
