/* Unit tests of the MPI wire format (src/mpi_link/wire.c): single messages and BATCH messages round
 * trip with their version, and a malformed batch is refused at the first bad record. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "wire.h"

static void test_pack_unpack_round_trip_with_version(void **state)
{
    (void)state;
    struct kf_wire_hdr h = {.type = KF_WIRE_REQUEST, .seq = 0x500000007ull};
    size_t n;
    void *buf = kf_wire_pack(&h, "echo", 4, "hello", 5, &n);
    assert_non_null(buf);
    assert_int_equal(n, sizeof(h) + 9);
    struct kf_wire_msg m;
    assert_int_equal(kf_wire_unpack(buf, n, &m), 0);
    assert_int_equal(m.hdr.type, KF_WIRE_REQUEST);
    assert_int_equal(m.hdr.version, KF_WIRE_VERSION);
    assert_int_equal(m.hdr.seq, 0x500000007ull);
    assert_int_equal(m.hdr.kind_len, 4);
    assert_memory_equal(m.kind, "echo", 4);
    assert_int_equal(m.payload_len, 5);
    assert_memory_equal(m.payload, "hello", 5);
    /* shorter than its header, or than its header says */
    assert_int_equal(kf_wire_unpack(buf, sizeof(h) - 1, &m), -EBADMSG);
    assert_int_equal(kf_wire_unpack(buf, sizeof(h) + 3, &m), -EBADMSG);
    free(buf);
}

/* A batch of three: two built in place, one from kf_wire_pack; returned malloc()ed. */
static void *three_record_batch(size_t *len)
{
    struct kf_wire_batch b = {0};
    struct kf_wire_hdr r1 = {.type = KF_WIRE_REPLY, .seq = 1, .status = KF_WIRE_OK,
                             .service_ns = 1234};
    struct kf_wire_hdr r2 = {.type = KF_WIRE_REPLY, .seq = 2, .status = KF_WIRE_FAILED};
    struct kf_wire_hdr q3 = {.type = KF_WIRE_REQUEST, .seq = 3};
    assert_int_equal(kf_wire_batch_add(&b, &r1, NULL, 0, "one", 3), 0);
    assert_int_equal(kf_wire_batch_add(&b, &r2, NULL, 0, "", 0), 0);
    size_t n;
    void *packed = kf_wire_pack(&q3, "k", 1, "three", 5, &n);
    assert_non_null(packed);
    assert_int_equal(kf_wire_batch_add_packed(&b, packed, n), 0);
    free(packed);
    assert_int_equal(b.count, 3);
    void *buf = kf_wire_batch_take(&b, len);
    assert_non_null(buf);
    assert_int_equal(b.count, 0); /* a new batch starts empty */
    assert_null(b.buf);
    return buf;
}

static void test_batch_round_trip_in_order(void **state)
{
    (void)state;
    size_t len;
    void *buf = three_record_batch(&len);
    struct kf_wire_msg m, rec;
    assert_int_equal(kf_wire_unpack(buf, len, &m), 0);
    assert_int_equal(m.hdr.type, KF_WIRE_BATCH);
    assert_int_equal(m.hdr.version, KF_WIRE_VERSION);
    assert_int_equal(m.hdr.seq, 3); /* the record count */
    size_t off = 0;
    assert_int_equal(kf_wire_batch_next(&m, &off, &rec), 1);
    assert_int_equal(rec.hdr.type, KF_WIRE_REPLY);
    assert_int_equal(rec.hdr.version, KF_WIRE_VERSION);
    assert_int_equal(rec.hdr.seq, 1);
    assert_int_equal(rec.hdr.service_ns, 1234);
    assert_int_equal(rec.payload_len, 3);
    assert_memory_equal(rec.payload, "one", 3);
    assert_int_equal(kf_wire_batch_next(&m, &off, &rec), 1);
    assert_int_equal(rec.hdr.seq, 2);
    assert_int_equal(rec.hdr.status, KF_WIRE_FAILED);
    assert_int_equal(rec.payload_len, 0);
    assert_int_equal(kf_wire_batch_next(&m, &off, &rec), 1);
    assert_int_equal(rec.hdr.type, KF_WIRE_REQUEST);
    assert_int_equal(rec.hdr.seq, 3);
    assert_int_equal(rec.hdr.kind_len, 1);
    assert_memory_equal(rec.kind, "k", 1);
    assert_memory_equal(rec.payload, "three", 5);
    assert_int_equal(off, m.payload_len);
    assert_int_equal(kf_wire_batch_next(&m, &off, &rec), 0);
    assert_int_equal(kf_wire_batch_next(&m, &off, &rec), 0); /* stays at the end */
    free(buf);
}

static void test_empty_batch_gives_nothing_to_send(void **state)
{
    (void)state;
    struct kf_wire_batch b = {0};
    size_t len = 99;
    assert_null(kf_wire_batch_take(&b, &len));
    assert_int_equal(len, 0);
    kf_wire_batch_fini(&b);
}

static void test_unsent_batch_is_freed_by_fini(void **state)
{
    (void)state;
    struct kf_wire_batch b = {0};
    struct kf_wire_hdr h = {.type = KF_WIRE_REPLY};
    for (int i = 0; i < 100; i++) /* grows past the first allocation */
        assert_int_equal(kf_wire_batch_add(&b, &h, NULL, 0, "0123456789abcdef0123456789", 26),
                         0);
    assert_int_equal(b.count, 100);
    kf_wire_batch_fini(&b); /* ASan (KFARM_SANITIZE) reports a leak otherwise */
    assert_null(b.buf);
    assert_int_equal(b.count, 0);
}

/* Walks buf as a batch; returns how many records were read before the walk ended with rc. */
static int walk(const void *buf, size_t len, int *rc)
{
    struct kf_wire_msg m, rec;
    assert_int_equal(kf_wire_unpack(buf, len, &m), 0);
    size_t off = 0;
    int n = 0;
    while ((*rc = kf_wire_batch_next(&m, &off, &rec)) == 1)
        n++;
    return n;
}

static void test_truncated_batch_stops_at_the_bad_record(void **state)
{
    (void)state;
    size_t len;
    unsigned char *buf = three_record_batch(&len);
    int rc;
    assert_int_equal(walk(buf, len, &rc), 3);
    assert_int_equal(rc, 0);
    /* cut inside the third record: two good ones, then an error */
    assert_int_equal(walk(buf, len - 1, &rc), 2);
    assert_int_equal(rc, -EBADMSG);
    /* cut inside the first record's length field */
    assert_int_equal(walk(buf, sizeof(struct kf_wire_hdr) + 2, &rc), 0);
    assert_int_equal(rc, -EBADMSG);
    /* a length past the end of the batch */
    uint32_t huge = UINT32_MAX;
    memcpy(buf + sizeof(struct kf_wire_hdr), &huge, sizeof(huge));
    assert_int_equal(walk(buf, len, &rc), 0);
    assert_int_equal(rc, -EBADMSG);
    /* a record too short to hold a header */
    uint32_t tiny = 4;
    memcpy(buf + sizeof(struct kf_wire_hdr), &tiny, sizeof(tiny));
    assert_int_equal(walk(buf, len, &rc), 0);
    assert_int_equal(rc, -EBADMSG);
    free(buf);
}

static void test_batch_inside_a_batch_is_refused(void **state)
{
    (void)state;
    size_t inner_len, outer_len;
    void *inner = three_record_batch(&inner_len);
    struct kf_wire_batch b = {0};
    assert_int_equal(kf_wire_batch_add_packed(&b, inner, inner_len), 0);
    void *outer = kf_wire_batch_take(&b, &outer_len);
    int rc;
    assert_int_equal(walk(outer, outer_len, &rc), 0);
    assert_int_equal(rc, -EBADMSG);
    free(inner);
    free(outer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pack_unpack_round_trip_with_version),
        cmocka_unit_test(test_batch_round_trip_in_order),
        cmocka_unit_test(test_empty_batch_gives_nothing_to_send),
        cmocka_unit_test(test_unsent_batch_is_freed_by_fini),
        cmocka_unit_test(test_truncated_batch_stops_at_the_bad_record),
        cmocka_unit_test(test_batch_inside_a_batch_is_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
