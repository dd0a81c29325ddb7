/* The outbox: typed actions core asks its backend to carry out.
 *
 * Handlers append; the backend drains after every call into core (read
 * p2p_outbox_count()/p2p_outbox_at(), then p2p_outbox_clear()). Payload bytes
 * belong to the outbox until clear: a backend that keeps them copies them,
 * or takes them (p2p_outbox_take_bytes), and takes its own reference to a
 * shared body. Bounded by actions_max; an append past it fails with
 * P2P_ERR_LIMIT.
 *
 * A message that carries an artifact body ends with it: the action holds
 * the bytes before it and a reference to the shared body (core/body.h), so
 * the body is never copied into the message. A backend that cannot send
 * two pieces leaves shared_bodies off (the default) and gets every message
 * flat, as one buffer. */
#ifndef P2P_CORE_OUTBOX_H
#define P2P_CORE_OUTBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/body.h"
#include "core/mem.h"
#include "core/types.h"

enum p2p_action_type {
    /* Open a new bidirectional stream to `peer` with id `stream_id`, write
     * `bytes` (one request envelope) and end our half. */
    P2P_ACT_STREAM_OPEN,
    /* Write `bytes` (one response envelope) on the inbound stream
     * (`peer`, `stream_id`) and end our half. */
    P2P_ACT_STREAM_RESPOND,
    /* Abandon a stream: `inbound` tells which side opened it. */
    P2P_ACT_STREAM_RESET,
    /* An artifact entered the unvalidated pool; the client should validate
     * it (p2p_node_validate). `peer` is the node it came from. */
    P2P_ACT_ARTIFACT_RECEIVED,
    /* Something worth a trace line happened; see enum p2p_event. */
    P2P_ACT_EVENT,
    /* Open a connection to `peer` (core/conn_manager.c); the backend
     * answers with p2p_node_on_peer_up or p2p_node_on_dial_failed. */
    P2P_ACT_CONN_DIAL,
    /* Close the connection to `peer`, or abandon dialling it; `value` is
     * the reason (a P2P_ERR_*). Core already treats the peer as down: the
     * backend does not call p2p_node_on_peer_down for it. */
    P2P_ACT_CONN_CLOSE,
    /* An artifact handed over with P2P_ACT_ARTIFACT_RECEIVED (`id`) left
     * the unvalidated pool before the client took it (a p2p_node_validate
     * call for it succeeded): every peer that advertised it withdrew
     * it. The client forgets it; p2p_node_validate would answer
     * P2P_ERR_NOT_FOUND. */
    P2P_ACT_ARTIFACT_WITHDRAWN,
};

/* Protocol events reported for traces and debugging (P2P_ACT_EVENT). */
enum p2p_event {
    P2P_EV_UPDATE_STALE,     /* a slot update older than the one held */
    P2P_EV_DOWNLOAD_START,   /* a fetch of `id` from `peer` began */
    P2P_EV_DOWNLOAD_FAIL,    /* that fetch failed (value = error code) */
    P2P_EV_DOWNLOAD_BACKOFF, /* every advertiser failed; waiting value ns */
    P2P_EV_DOWNLOAD_DROP,    /* download abandoned (value = reason code) */
    P2P_EV_ID_MISMATCH,      /* `peer` sent bytes that do not hash to id */
    P2P_EV_UPDATE_RETRY,     /* a slot update to `peer` is retried */
    P2P_EV_STREAM_ERROR,     /* a stream from `peer` failed (value = error) */
    P2P_EV_POOL_FULL,        /* an artifact was refused: pool at its bound */
    /* State sync; `id` carries the state's root hash, value its height. */
    P2P_EV_STATE_SYNC_START,  /* a sync began (manifest asked of `peer`) */
    P2P_EV_STATE_SYNC_DONE,   /* every chunk held: handed to the store */
    P2P_EV_STATE_SYNC_CANCEL, /* abandoned: not needed, or a newer state */
    P2P_EV_STATE_BAD_DATA,    /* `peer` served a manifest or chunk that did
                                 not match (value = chunk index, or -1) */
    P2P_EV_DOWNLOAD_WAIT,     /* a fetch's deadline passed; no other
                                 advertiser, `peer` busy but alive: it
                                 waits value ns more */
};

const char *p2p_event_name(enum p2p_event ev);

/* What a stream's bytes carry, so backends can account bytes per purpose. */
enum p2p_traffic {
    P2P_TRAFFIC_PUSH,     /* slot update carrying an artifact body */
    P2P_TRAFFIC_ADVERT,   /* slot update carrying only an id */
    P2P_TRAFFIC_ACK,      /* response to a slot update */
    P2P_TRAFFIC_FETCH,    /* artifact fetch request */
    P2P_TRAFFIC_ARTIFACT, /* fetch response (body, or 204) */
    P2P_TRAFFIC_OTHER,    /* rejections and anything else */
    P2P_TRAFFIC_STATE,    /* state sync: adverts, chunk requests and
                              responses (manifests and chunks) */
    P2P_TRAFFIC_COUNT
};

const char *p2p_traffic_name(enum p2p_traffic t);

struct p2p_action {
    enum p2p_action_type type;
    p2p_node_id peer;
    uint64_t stream_id;
    uint32_t route;           /* OPEN: enum p2p_route of the request */
    uint32_t status;          /* RESPOND: the response status */
    enum p2p_traffic traffic; /* OPEN/RESPOND: what the bytes carry */
    bool inbound;             /* RESET: the peer opened the stream */
    uint8_t *bytes;           /* OPEN/RESPOND: owned by the outbox */
    size_t len;
    /* OPEN/RESPOND: NULL, or the message's last body->len bytes, after
     * bytes[0..len) (a reference held by the outbox, charged to its mem
     * under P2P_MEM_OUTBOX; only with shared_bodies set). */
    struct p2p_body *body;
    struct p2p_artifact_id id; /* RECEIVED, WITHDRAWN, EVENT */
    enum p2p_artifact_kind kind;
    uint64_t size;        /* RECEIVED: body bytes */
    enum p2p_event event; /* EVENT */
    int64_t value;        /* EVENT: event-specific; CONN_CLOSE: reason */
};

struct p2p_outbox {
    struct p2p_mem *mem;      /* borrowed */
    struct p2p_action *items; /* owned */
    size_t count, capacity, actions_max;
    bool events_enabled; /* P2P_ACT_EVENT actions are only kept if set */
    bool shared_bodies;  /* the backend takes bodies apart (see above) */
};

void p2p_outbox_init(struct p2p_outbox *o, struct p2p_mem *mem,
                     size_t actions_max);
/* Frees every pending action and the array. */
void p2p_outbox_fini(struct p2p_outbox *o);

/* Appends a copy of *a; on success the outbox owns a->bytes (allocated from
 * the outbox's mem under P2P_MEM_OUTBOX) and holds its own reference to
 * a->body (borrowed), or, without shared_bodies, has copied the body onto
 * the end of bytes (the action's body is then NULL). On error nothing is
 * appended and the caller still owns a->bytes.
 * Errors: P2P_ERR_LIMIT, P2P_ERR_NOMEM. */
int p2p_outbox_push(struct p2p_outbox *o, const struct p2p_action *a);

/* Appends an event action; silently nothing when events are disabled or the
 * outbox is full (events are best effort). */
void p2p_outbox_event(struct p2p_outbox *o, enum p2p_event ev, p2p_node_id peer,
                      const struct p2p_artifact_id *id, int64_t value);

static inline size_t p2p_outbox_count(const struct p2p_outbox *o)
{
    return o->count;
}

static inline const struct p2p_action *p2p_outbox_at(const struct p2p_outbox *o,
                                                     size_t i)
{
    return &o->items[i];
}

/* Bytes the action puts on the wire: its bytes and its body. */
static inline size_t p2p_action_wire_len(const struct p2p_action *a)
{
    return a->len + (a->body != NULL ? a->body->len : 0);
}

/* Hands action i's bytes to the caller, who frees them with
 * p2p_mem_free(o->mem, P2P_MEM_OUTBOX, bytes) (NULL when it has none);
 * the action keeps its length. Saves a copy in a backend that keeps
 * them. */
uint8_t *p2p_outbox_take_bytes(struct p2p_outbox *o, size_t i);

/* Drops every action, frees their bytes and lets go of their bodies. */
void p2p_outbox_clear(struct p2p_outbox *o);

#endif
