/* Slot table of in-flight requests: seq = generation << 32 | slot, so a stale or duplicated
 * reply (wrong generation) is recognised instead of answering a request twice; and a count of
 * requests per client routing id, for the per-client in-flight limit; and the bytes of the request
 * messages held, for the gateway-wide bound. */
#include <stdlib.h>
#include <string.h>

#include "inflight.h"

struct slot {
    struct kf_request *req;
    uint32_t gen;
    uint32_t next_free;
};

/* Requests in flight per client routing id (bind mode), chained in a fixed hash table. */
struct route_count {
    struct route_count *next;
    size_t count, len;
    unsigned char route[];
};

#define ROUTE_BUCKETS 1024

struct kf_inflight {
    struct route_count *routes[ROUTE_BUCKETS];
    struct slot *slots;
    uint32_t n_slots, free_head, count;
    struct kf_request *pending_head, *pending_tail;
    size_t n_pending;
    size_t packed_bytes; /* sum of packed_len over requests whose packed is set */
    size_t key_bytes;    /* sum of route_len + id_len over the requests in the table */
};

#define NO_SLOT UINT32_MAX

struct kf_inflight *kf_inflight_new(void)
{
    struct kf_inflight *t = calloc(1, sizeof(*t));
    if (t)
        t->free_head = NO_SLOT;
    return t;
}

static size_t route_hash(const void *route, size_t len)
{
    const unsigned char *b = route;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ b[i]) * 1099511628211ull;
    return (size_t)(h % ROUTE_BUCKETS);
}

static struct route_count **route_find(struct kf_inflight *t, const void *route, size_t len)
{
    struct route_count **p = &t->routes[route_hash(route, len)];
    while (*p && !((*p)->len == len && memcmp((*p)->route, route, len) == 0))
        p = &(*p)->next;
    return p;
}

/* +1 or -1 for this route; an entry disappears at zero so that clients that come and go (a new
 * routing id per connection) do not accumulate. Returns -1 when out of memory. */
static int route_adjust(struct kf_inflight *t, const void *route, size_t len, int delta)
{
    if (len == 0)
        return 0; /* connect mode: one client */
    struct route_count **p = route_find(t, route, len);
    if (!*p) {
        if (delta < 0)
            return 0;
        struct route_count *n = calloc(1, sizeof(*n) + len);
        if (!n)
            return -1;
        n->len = len;
        memcpy(n->route, route, len);
        *p = n;
    }
    if (delta > 0) {
        (*p)->count++;
    } else if (--(*p)->count == 0) {
        struct route_count *dead = *p;
        *p = dead->next;
        free(dead);
    }
    return 0;
}

size_t kf_inflight_route_count(const struct kf_inflight *t, const void *route, size_t route_len)
{
    struct route_count **p = route_find((struct kf_inflight *)t, route, route_len);
    return *p ? (*p)->count : 0;
}

void kf_inflight_free(struct kf_inflight *t)
{
    if (!t)
        return;
    for (size_t b = 0; b < ROUTE_BUCKETS; b++)
        while (t->routes[b]) {
            struct route_count *n = t->routes[b]->next;
            free(t->routes[b]);
            t->routes[b] = n;
        }
    for (uint32_t i = 0; i < t->n_slots; i++) {
        if (t->slots[i].req) {
            free(t->slots[i].req->packed);
            free(t->slots[i].req);
        }
    }
    free(t->slots);
    free(t);
}

static int grow(struct kf_inflight *t)
{
    uint32_t n = t->n_slots ? t->n_slots * 2 : 64;
    struct slot *s = realloc(t->slots, n * sizeof(*s));
    if (!s)
        return -1;
    for (uint32_t i = t->n_slots; i < n; i++)
        s[i] = (struct slot){.req = NULL, .gen = 1, .next_free = i + 1 < n ? i + 1 : t->free_head};
    t->free_head = t->n_slots;
    t->slots = s;
    t->n_slots = n;
    return 0;
}

struct kf_request *kf_inflight_add(struct kf_inflight *t, const void *route, size_t route_len,
                                   const void *id, size_t id_len)
{
    if (t->free_head == NO_SLOT && grow(t))
        return NULL;
    struct kf_request *r = calloc(1, sizeof(*r) + route_len + id_len);
    if (!r || route_adjust(t, route, route_len, +1)) {
        free(r);
        return NULL;
    }
    uint32_t i = t->free_head;
    t->free_head = t->slots[i].next_free;
    t->slots[i].req = r;
    r->seq = (uint64_t)t->slots[i].gen << 32 | i;
    r->route = (unsigned char *)(r + 1);
    r->id = r->route + route_len;
    r->route_len = route_len;
    r->id_len = id_len;
    if (route_len)
        memcpy(r->route, route, route_len);
    if (id_len)
        memcpy(r->id, id, id_len);
    t->count++;
    t->key_bytes += route_len + id_len;
    return r;
}

struct kf_request *kf_inflight_find(struct kf_inflight *t, uint64_t seq)
{
    uint32_t i = (uint32_t)seq;
    if (i >= t->n_slots || t->slots[i].gen != (uint32_t)(seq >> 32))
        return NULL;
    return t->slots[i].req;
}

void kf_inflight_remove(struct kf_inflight *t, struct kf_request *r)
{
    uint32_t i = (uint32_t)r->seq;
    t->slots[i].req = NULL;
    t->slots[i].gen++;
    t->slots[i].next_free = t->free_head;
    t->free_head = i;
    t->count--;
    t->key_bytes -= r->route_len + r->id_len;
    route_adjust(t, r->route, r->route_len, -1);
    free(kf_inflight_take_packed(t, r));
    free(r);
}

void kf_inflight_set_packed(struct kf_inflight *t, struct kf_request *r, void *buf, size_t len)
{
    free(kf_inflight_take_packed(t, r));
    r->packed = buf;
    r->packed_len = buf ? len : 0;
    t->packed_bytes += r->packed_len;
}

void *kf_inflight_take_packed(struct kf_inflight *t, struct kf_request *r)
{
    void *buf = r->packed;
    if (buf)
        t->packed_bytes -= r->packed_len;
    r->packed = NULL;
    return buf;
}

size_t kf_inflight_packed_bytes(const struct kf_inflight *t)
{
    return t->packed_bytes;
}

size_t kf_inflight_key_bytes(const struct kf_inflight *t)
{
    return t->key_bytes;
}

size_t kf_inflight_count(const struct kf_inflight *t)
{
    return t->count;
}

void kf_inflight_push_pending(struct kf_inflight *t, struct kf_request *r)
{
    r->next_pending = NULL;
    if (t->pending_tail)
        t->pending_tail->next_pending = r;
    else
        t->pending_head = r;
    t->pending_tail = r;
    t->n_pending++;
}

struct kf_request *kf_inflight_pop_pending(struct kf_inflight *t)
{
    struct kf_request *r = t->pending_head;
    if (!r)
        return NULL;
    t->pending_head = r->next_pending;
    if (!t->pending_head)
        t->pending_tail = NULL;
    t->n_pending--;
    r->next_pending = NULL;
    return r;
}

size_t kf_inflight_pending(const struct kf_inflight *t)
{
    return t->n_pending;
}

void kf_inflight_foreach(struct kf_inflight *t, void (*fn)(struct kf_request *, void *), void *arg)
{
    for (uint32_t i = 0; i < t->n_slots; i++)
        if (t->slots[i].req)
            fn(t->slots[i].req, arg);
}
