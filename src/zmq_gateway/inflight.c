/* Slot table of in-flight requests: seq = generation << 32 | slot, so a stale or duplicated
 * reply (wrong generation) is recognised instead of answering a request twice. */
#include <stdlib.h>
#include <string.h>

#include "inflight.h"

struct slot {
    struct kf_request *req;
    uint32_t gen;
    uint32_t next_free;
};

struct kf_inflight {
    struct slot *slots;
    uint32_t n_slots, free_head, count;
    struct kf_request *pending_head, *pending_tail;
    size_t n_pending;
};

#define NO_SLOT UINT32_MAX

struct kf_inflight *kf_inflight_new(void)
{
    struct kf_inflight *t = calloc(1, sizeof(*t));
    if (t)
        t->free_head = NO_SLOT;
    return t;
}

void kf_inflight_free(struct kf_inflight *t)
{
    if (!t)
        return;
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
    if (!r)
        return NULL;
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
    free(r->packed);
    free(r);
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
