#include "core/outbox.h"

#include <stdint.h>
#include <string.h>

#include "core/err.h"

void p2p_outbox_init(struct p2p_outbox *o, struct p2p_mem *mem,
                     size_t actions_max)
{
    memset(o, 0, sizeof(*o));
    o->mem = mem;
    o->actions_max = actions_max;
}

void p2p_outbox_fini(struct p2p_outbox *o)
{
    p2p_outbox_clear(o);
    p2p_mem_free(o->mem, P2P_MEM_OUTBOX, o->items);
    o->items = NULL;
    o->capacity = 0;
}

static int reserve_one(struct p2p_outbox *o)
{
    if (o->count >= o->actions_max)
        return P2P_ERR_LIMIT;
    if (o->count < o->capacity)
        return 0;
    size_t capacity = o->capacity ? o->capacity * 2 : 64;
    if (capacity > o->actions_max)
        capacity = o->actions_max;
    struct p2p_action *items = p2p_mem_realloc(o->mem, P2P_MEM_OUTBOX, o->items,
                                               capacity * sizeof(*items));
    if (items == NULL)
        return P2P_ERR_NOMEM;
    o->items = items;
    o->capacity = capacity;
    return 0;
}

/* Without shared bodies: the body is copied onto the end of the bytes. */
static int flatten(struct p2p_outbox *o, struct p2p_action *a)
{
    size_t tail = a->body->len;
    if (tail == 0) {
        a->body = NULL;
        return 0;
    }
    if (a->len > SIZE_MAX - tail)
        return P2P_ERR_NOMEM;
    uint8_t *flat =
        p2p_mem_realloc(o->mem, P2P_MEM_OUTBOX, a->bytes, a->len + tail);
    if (flat == NULL)
        return P2P_ERR_NOMEM;
    memcpy(flat + a->len, a->body->bytes, tail);
    a->bytes = flat;
    a->len += tail;
    a->body = NULL;
    return 0;
}

int p2p_outbox_push(struct p2p_outbox *o, const struct p2p_action *a)
{
    int rc = reserve_one(o);
    if (rc != 0)
        return rc;
    struct p2p_action copy = *a;
    if (copy.body != NULL) {
        if (!o->shared_bodies) {
            /* realloc keeps the caller's block valid when it fails */
            rc = flatten(o, &copy);
            if (rc != 0)
                return rc;
        } else if (!p2p_body_hold(copy.body, o->mem, P2P_MEM_OUTBOX)) {
            return P2P_ERR_NOMEM;
        }
    }
    o->items[o->count++] = copy;
    return 0;
}

uint8_t *p2p_outbox_take_bytes(struct p2p_outbox *o, size_t i)
{
    uint8_t *b = o->items[i].bytes;
    o->items[i].bytes = NULL;
    return b;
}

void p2p_outbox_event(struct p2p_outbox *o, enum p2p_event ev, p2p_node_id peer,
                      const struct p2p_artifact_id *id, int64_t value)
{
    if (!o->events_enabled)
        return;
    struct p2p_action a = {
        .type = P2P_ACT_EVENT, .peer = peer, .event = ev, .value = value};
    if (id != NULL)
        a.id = *id;
    (void)p2p_outbox_push(o, &a);
}

void p2p_outbox_clear(struct p2p_outbox *o)
{
    for (size_t i = 0; i < o->count; i++) {
        p2p_mem_free(o->mem, P2P_MEM_OUTBOX, o->items[i].bytes);
        p2p_body_release(o->items[i].body, o->mem, P2P_MEM_OUTBOX);
    }
    o->count = 0;
}

const char *p2p_event_name(enum p2p_event ev)
{
    switch (ev) {
    case P2P_EV_UPDATE_STALE:
        return "update_stale";
    case P2P_EV_DOWNLOAD_START:
        return "download_start";
    case P2P_EV_DOWNLOAD_FAIL:
        return "download_fail";
    case P2P_EV_DOWNLOAD_BACKOFF:
        return "download_backoff";
    case P2P_EV_DOWNLOAD_DROP:
        return "download_drop";
    case P2P_EV_ID_MISMATCH:
        return "id_mismatch";
    case P2P_EV_UPDATE_RETRY:
        return "update_retry";
    case P2P_EV_STREAM_ERROR:
        return "stream_error";
    case P2P_EV_POOL_FULL:
        return "pool_full";
    case P2P_EV_STATE_SYNC_START:
        return "state_sync_start";
    case P2P_EV_STATE_SYNC_DONE:
        return "state_sync_done";
    case P2P_EV_STATE_SYNC_CANCEL:
        return "state_sync_cancel";
    case P2P_EV_STATE_BAD_DATA:
        return "state_bad_data";
    case P2P_EV_DOWNLOAD_WAIT:
        return "download_wait";
    default:
        return "?";
    }
}

const char *p2p_traffic_name(enum p2p_traffic t)
{
    static const char *const names[P2P_TRAFFIC_COUNT] = {
        "push", "advert", "ack", "fetch", "artifact", "other", "state",
    };
    return t < P2P_TRAFFIC_COUNT ? names[t] : "?";
}
