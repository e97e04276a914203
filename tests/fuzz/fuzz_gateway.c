/* Fuzz target: what the gateway does with bytes from the network before a worker sees them —
 * request frame checks (frames.c), the in-flight table driven by a random operation stream checked
 * against a shadow model (inflight.c), and the MPI reply unpacking (wire.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frames.h"
#include "fuzz_files.h"
#include "inflight.h"
#include "wire.h"

#define MAX_FRAMES 6
#define MAX_LIVE   512

static void check_frames(struct kfz_cursor *c)
{
    struct kf_frame f[MAX_FRAMES];
    size_t n = kfz_u8(c) % (MAX_FRAMES + 1), bytes = 0;
    for (size_t i = 0; i < n; i++) {
        f[i].data = kfz_chunk(c, &f[i].len);
        bytes += f[i].len;
    }
    /* a message may have had more frames than the gateway kept */
    size_t total = n + (kfz_u8(c) & 3);
    size_t max_bytes = kfz_u16(c);
    struct kf_request_view v;
    char err[256];
    enum kf_frames_verdict r = kf_frames_parse(f, n, total, bytes, max_bytes, &v, err, sizeof(err));
    if (r == KF_FRAMES_REQUEST) {
        /* the verdict promises a complete, well-formed request */
        if (n != 3 || total != 3 || v.id_len == 0 || v.id_len > KF_MAX_ID_BYTES ||
            v.id_len != f[0].len || v.kind_len == 0 || bytes > max_bytes ||
            !kf_utf8_valid(v.kind, v.kind_len) || v.payload_len != f[2].len)
            abort();
    } else if (r == KF_FRAMES_ERROR_REPLY) {
        /* the error reply echoes at most KF_MAX_ID_BYTES of the id */
        if (n == 0 || v.id != f[0].data || v.id_len > KF_MAX_ID_BYTES ||
            strnlen(err, sizeof(err)) == 0)
            abort();
    } else if (r != KF_FRAMES_DROP || (n != 0 && total != 0)) {
        abort();
    }
}

struct shadow {
    struct kf_request *r;
    uint64_t seq;
    unsigned char id[16];
    size_t id_len;
    int pending;
};

static void check_inflight(struct kfz_cursor *c)
{
    struct kf_inflight *t = kf_inflight_new();
    static struct shadow live[MAX_LIVE];
    size_t n_live = 0, n_pending = 0, held = 0; /* held: bytes of pending messages */
    uint64_t retired[64] = {0};
    size_t n_retired = 0;
    while (c->left) {
        uint8_t op = kfz_u8(c);
        switch (op % 6) {
        case 0: /* accept a request */
        case 1: {
            if (n_live == MAX_LIVE)
                break;
            size_t route_len, id_len;
            const uint8_t *route = kfz_chunk(c, &route_len);
            const uint8_t *id = kfz_chunk(c, &id_len);
            struct kf_request *r = kf_inflight_add(t, route, route_len, id, id_len);
            if (!r)
                abort();
            if (memcmp(r->route, route, route_len) || memcmp(r->id, id, id_len))
                abort();
            struct shadow *s = &live[n_live++];
            s->r = r;
            s->seq = r->seq;
            s->id_len = id_len < sizeof(s->id) ? id_len : sizeof(s->id);
            memcpy(s->id, id, s->id_len);
            s->pending = 0;
            break;
        }
        case 2: { /* a worker replies to a live request: found, then forgotten */
            if (!n_live)
                break;
            size_t i = kfz_u16(c) % n_live;
            if (live[i].pending)
                break; /* the gateway only gets replies for dispatched requests */
            struct kf_request *r = kf_inflight_find(t, live[i].seq);
            if (r != live[i].r || memcmp(r->id, live[i].id, live[i].id_len))
                abort();
            kf_inflight_remove(t, r);
            retired[n_retired++ % 64] = live[i].seq;
            live[i] = live[--n_live];
            break;
        }
        case 3: { /* a stale, duplicated or forged reply must find nothing answered twice */
            uint64_t seq = op & 0x80 ? retired[kfz_u8(c) % 64] : kfz_u64(c);
            struct kf_request *r = kf_inflight_find(t, seq);
            if (r) {
                size_t i = 0;
                while (i < n_live && live[i].r != r)
                    i++;
                if (i == n_live || live[i].seq != seq)
                    abort();
            }
            break;
        }
        case 4: { /* no free worker: queue it */
            for (size_t i = 0; i < n_live; i++)
                if (!live[i].pending) {
                    live[i].pending = 1;
                    size_t len = 1 + kfz_u8(c);
                    kf_inflight_set_packed(t, live[i].r, malloc(len), len);
                    held += live[i].r->packed ? len : 0;
                    kf_inflight_push_pending(t, live[i].r);
                    n_pending++;
                    break;
                }
            break;
        }
        case 5: { /* a slot frees up: dispatch the oldest pending */
            struct kf_request *r = kf_inflight_pop_pending(t);
            if (!r) {
                if (n_pending)
                    abort();
                break;
            }
            n_pending--;
            for (size_t i = 0; i < n_live; i++)
                if (live[i].r == r)
                    live[i].pending = 0;
            held -= r->packed ? r->packed_len : 0;
            free(kf_inflight_take_packed(t, r));
            break;
        }
        }
        if (kf_inflight_count(t) != n_live || kf_inflight_pending(t) != n_pending ||
            kf_inflight_packed_bytes(t) != held) /* --max-pending-bytes' count */
            abort();
        if (n_live) { /* the per-client count of one live request's route */
            const struct kf_request *r = live[op % n_live].r;
            size_t same = 0;
            for (size_t i = 0; i < n_live; i++)
                same += live[i].r->route_len == r->route_len &&
                        memcmp(live[i].r->route, r->route, r->route_len) == 0;
            if (r->route_len && kf_inflight_route_count(t, r->route, r->route_len) != same)
                abort();
        }
    }
    kf_inflight_free(t);
}

static void check_wire(const uint8_t *data, size_t size)
{
    struct kf_wire_msg m;
    if (kf_wire_unpack(data, size, &m) == 0) {
        const char *end = (const char *)data + size;
        if (m.kind + m.hdr.kind_len > end || (const char *)m.payload + m.payload_len != end)
            abort();
        /* every record of a batch lies inside it, and the walk moves forward */
        struct kf_wire_msg rec;
        size_t off = 0, prev = 0;
        while (m.hdr.type == KF_WIRE_BATCH && kf_wire_batch_next(&m, &off, &rec) == 1) {
            if (off <= prev || off > m.payload_len || rec.kind < (const char *)m.payload ||
                (const char *)rec.payload + rec.payload_len > end || rec.hdr.type == KF_WIRE_BATCH)
                abort();
            prev = off;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kfz_cursor c = {data, size};
    check_wire(data, size);
    check_frames(&c);
    check_inflight(&c);
    return 0;
}
