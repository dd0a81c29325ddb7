/* Stateful libFuzzer harness for one node (core/shim.h).
 *
 * Node 0 runs with small limits; peers 1..3 start up. The input is decoded
 * as a sequence of operations (at most OPS_MAX), each a peer message, a
 * response to one of the node's outbound streams, a reset, a clock step, a
 * client call, a new registry version (a random subset of ids 0..PEERS as
 * members) or the transport's answer to a dial the node asked for. Peers' well-formed messages are built with the real wire
 * code (protobuf-c and p2p_frame_encode_*), as in tests/unit/harness.h;
 * others are raw input bytes. After every operation the harness drains the
 * outbox (checking that every request and response the node wrote decodes,
 * and remembering the streams it opened and the artifacts it received),
 * then runs p2p_node_check_invariants_deep(). At the end the node is freed
 * and every byte must be back. Any failure aborts. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "p2p.pb-c.h"

#include "core/err.h"
#include "core/framing.h"
#include "core/pool.h"
#include "core/shim.h"
#include "fuzz_check.h"

/* No call into the node may fail fatally: there is no byte budget. */
#define CHECK_RC(rc)                                                          \
    do {                                                                      \
        int rc_ = (rc);                                                       \
        if (p2p_err_is_fatal(rc_)) {                                          \
            fprintf(stderr, "%s:%d: fatal error %d (%s)\n", __FILE__,         \
                    __LINE__, rc_, p2p_strerror(rc_));                        \
            abort();                                                          \
        }                                                                     \
    } while (0)

#define OPS_MAX 256
#define PEERS 3                 /* peers 1..PEERS */
#define LIMIT 64                /* the node's table limits */
#define T0 1000
#define TIME_MAX (30ULL * 24 * 3600 * P2P_NS_PER_S) /* from T0 */
#define BODY_MAX (128u << 10) /* 8 fill a 1 MiB pool section */
#define KNOWN_MAX 8
#define IDS_MAX 16
#define IN_OPEN_MAX 64
#define OUT_OPEN_MAX 64

/* ---- input ---- */

struct input {
    const uint8_t *p;
    size_t n;
};

static uint8_t u8(struct input *in)
{
    if (in->n == 0)
        return 0;
    in->n--;
    return *in->p++;
}

static uint64_t u64n(struct input *in, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v = (v << 8) | u8(in);
    return v;
}

/* Up to want bytes of input, borrowed; *got says how many. */
static const uint8_t *take(struct input *in, size_t want, size_t *got)
{
    *got = want < in->n ? want : in->n;
    const uint8_t *p = in->p;
    in->p += *got;
    in->n -= *got;
    return p;
}

/* ---- harness state ---- */

struct out_stream {         /* a stream the node opened and we may answer */
    p2p_node_id peer;
    uint64_t stream_id;
    uint32_t route;
    uint64_t slot_id, commit_id;    /* update route */
    struct p2p_artifact_id id;      /* rpc route: the id fetched */
};

struct in_stream {          /* a stream we opened and have not finished */
    p2p_node_id peer;
    uint64_t stream_id;
};

struct known {              /* a body we made, so fetches can be served */
    struct p2p_artifact_id id;
    size_t len;
    uint8_t body[BODY_MAX];
};

struct fz {
    struct p2p_mem mem;
    struct p2p_config cfg;
    struct p2p_node *node;
    struct p2p_route_limits big;
    p2p_time now;
    uint64_t next_stream;
    bool up[PEERS + 1];
    bool dialing[PEERS + 1];   /* a CONN_DIAL awaits the transport's answer */
    uint64_t version;          /* registry versions installed */
    uint64_t earliest;         /* the earliest version in use */
    uint8_t bouncer_mode;
    struct out_stream out[OUT_OPEN_MAX];
    size_t out_count;
    struct in_stream in[IN_OPEN_MAX];
    size_t in_count;
    struct p2p_artifact_id ids[IDS_MAX]; /* received or inserted */
    size_t ids_count, ids_next;
    /* Large buffers, not cleared between inputs: known[i] is read only
     * for i < known_count, scratch only after make_body wrote it. */
    struct known *known;  /* KNOWN_MAX */
    size_t known_count, known_next;
    uint8_t *scratch;     /* BODY_MAX */
};

static struct fz g_fz;
static struct known g_known[KNOWN_MAX];
static uint8_t g_scratch[BODY_MAX];

static void remember_id(struct fz *f, const struct p2p_artifact_id *id)
{
    f->ids[f->ids_next] = *id;
    f->ids_next = (f->ids_next + 1) % IDS_MAX;
    if (f->ids_count < IDS_MAX)
        f->ids_count++;
}

static const struct known *find_known(const struct fz *f,
                                      const struct p2p_artifact_id *id)
{
    for (size_t i = 0; i < f->known_count; i++)
        if (p2p_id_eq(&f->known[i].id, id))
            return &f->known[i];
    return NULL;
}

/* Builds a body from the input into f->scratch: a length byte, a shape
 * byte (odd: the length is scaled by 16, so bodies cross the push
 * threshold; low bits 111: by 1024, so a few fill the pool), then input bytes,
 * padded with a pattern. */
static size_t make_body(struct fz *f, struct input *in)
{
    size_t len = u8(in);
    uint8_t shape = u8(in);
    if ((shape & 7) == 7)
        len = len * 1024 + (shape >> 4);
    else if (shape & 1)
        len = len * 16 + (shape >> 4);
    if (len > BODY_MAX)
        len = BODY_MAX;
    size_t got;
    const uint8_t *p = take(in, len < 64 ? len : 64, &got);
    memcpy(f->scratch, p, got);
    for (size_t i = got; i < len; i++)
        f->scratch[i] = (uint8_t)(i * 31u + shape);
    return len;
}

/* Remembers scratch[0..len) as a known body; returns its id. */
static struct p2p_artifact_id keep_body(struct fz *f, size_t len)
{
    struct known *k = &f->known[f->known_next];
    f->known_next = (f->known_next + 1) % KNOWN_MAX;
    if (f->known_count < KNOWN_MAX)
        f->known_count++;
    memcpy(k->body, f->scratch, len);
    k->len = len;
    p2p_id_of(k->body, len, &k->id);
    return k->id;
}

/* An id: a known body's, a remembered one, or 32 input bytes. */
static struct p2p_artifact_id pick_id(struct fz *f, struct input *in)
{
    struct p2p_artifact_id id;
    uint8_t sel = u8(in);
    if ((sel & 3) == 0 && f->known_count > 0)
        return f->known[(sel >> 2) % f->known_count].id;
    if ((sel & 3) == 1 && f->ids_count > 0)
        return f->ids[(sel >> 2) % f->ids_count];
    size_t got;
    const uint8_t *p = take(in, P2P_ID_BYTES, &got);
    memset(id.b, sel, sizeof(id.b));
    memcpy(id.b, p, got);
    return id;
}

static p2p_node_id pick_peer(struct input *in)
{
    return 1 + u8(in) % PEERS;
}

static void in_forget(struct fz *f, p2p_node_id peer, uint64_t stream_id)
{
    for (size_t i = 0; i < f->in_count; i++)
        if (f->in[i].peer == peer && f->in[i].stream_id == stream_id) {
            f->in[i] = f->in[--f->in_count];
            return;
        }
}

static void in_add(struct fz *f, p2p_node_id peer, uint64_t stream_id)
{
    for (size_t i = 0; i < f->in_count; i++)
        if (f->in[i].peer == peer && f->in[i].stream_id == stream_id)
            return;
    if (f->in_count < IN_OPEN_MAX)
        f->in[f->in_count++] = (struct in_stream){peer, stream_id};
}

static void out_forget(struct fz *f, p2p_node_id peer, uint64_t stream_id)
{
    for (size_t i = 0; i < f->out_count; i++)
        if (f->out[i].peer == peer && f->out[i].stream_id == stream_id) {
            f->out[i] = f->out[--f->out_count];
            return;
        }
}

/* ---- draining the outbox ---- */

/* Decodes an envelope the node wrote; it must be valid. Returns the body
 * in a malloc'd copy (caller frees). */
static uint8_t *decode_own(struct fz *f, enum p2p_frame_mode mode,
                           uint32_t route, const uint8_t *bytes, size_t len,
                           struct p2p_frame *frame_out, size_t *body_len)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_frame_reader r;
    p2p_frame_reader_init(&r, &mem, mode, &f->big, (enum p2p_route)route);
    FUZZ_CHECK(p2p_frame_reader_feed(&r, bytes, len) == 0);
    FUZZ_CHECK(p2p_frame_reader_finish(&r, frame_out) == 0);
    uint8_t *copy = malloc(frame_out->body_len ? frame_out->body_len : 1);
    FUZZ_CHECK(copy != NULL);
    memcpy(copy, frame_out->body, frame_out->body_len);
    *body_len = frame_out->body_len;
    frame_out->body = NULL;
    p2p_frame_reader_fini(&r);
    FUZZ_CHECK(mem.bytes == 0);
    return copy;
}

/* The connection to peer is gone: its streams with it, without resets. */
static void forget_peer(struct fz *f, p2p_node_id peer)
{
    f->up[peer] = false;
    for (size_t i = f->out_count; i-- > 0;)
        if (f->out[i].peer == peer)
            f->out[i] = f->out[--f->out_count];
    for (size_t i = f->in_count; i-- > 0;)
        if (f->in[i].peer == peer)
            f->in[i] = f->in[--f->in_count];
}

static void on_open(struct fz *f, const struct p2p_action *a)
{
    FUZZ_CHECK(a->peer >= 1 && a->peer <= PEERS && f->up[a->peer]);
    FUZZ_CHECK(a->route < P2P_ROUTES_COUNT);
    struct p2p_frame fr;
    size_t len;
    uint8_t *body = decode_own(f, P2P_FRAME_REQUEST, 0, a->bytes, a->len,
                               &fr, &len);
    FUZZ_CHECK(fr.route == a->route);
    struct out_stream o;
    memset(&o, 0, sizeof(o));
    o.peer = a->peer;
    o.stream_id = a->stream_id;
    o.route = a->route;
    if (a->route == P2P_ROUTE_ARTIFACT_UPDATE) {
        P2p__V1__SlotUpdate *u = p2p__v1__slot_update__unpack(NULL, len, body);
        FUZZ_CHECK(u != NULL);
        FUZZ_CHECK(u->slot_id < f->cfg.slots_max);
        o.slot_id = u->slot_id;
        o.commit_id = u->commit_id;
        p2p__v1__slot_update__free_unpacked(u, NULL);
    } else {
        P2p__V1__FetchRequest *q = p2p__v1__fetch_request__unpack(NULL, len, body);
        FUZZ_CHECK(q != NULL && q->id.len == P2P_ID_BYTES);
        memcpy(o.id.b, q->id.data, P2P_ID_BYTES);
        p2p__v1__fetch_request__free_unpacked(q, NULL);
    }
    free(body);
    /* Stream ids are never reused while open. */
    for (size_t i = 0; i < f->out_count; i++)
        FUZZ_CHECK(!(f->out[i].peer == o.peer &&
                     f->out[i].stream_id == o.stream_id));
    if (f->out_count == OUT_OPEN_MAX) /* forget the oldest; it times out */
        memmove(&f->out[0], &f->out[1], sizeof(f->out[0]) * --f->out_count);
    f->out[f->out_count++] = o;
}

static void on_respond(struct fz *f, const struct p2p_action *a)
{
    FUZZ_CHECK(a->peer >= 1 && a->peer <= PEERS);
    FUZZ_CHECK(a->status == 200 || a->status == 204 || a->status == 400);
    struct p2p_frame fr;
    size_t len;
    uint8_t *body = decode_own(f, P2P_FRAME_RESPONSE, 0, a->bytes, a->len,
                               &fr, &len);
    FUZZ_CHECK(fr.status == a->status);
    free(body);
    in_forget(f, a->peer, a->stream_id);
}

static void drain(struct fz *f)
{
    struct p2p_outbox *o = p2p_node_outbox(f->node);
    for (size_t i = 0; i < p2p_outbox_count(o); i++) {
        const struct p2p_action *a = p2p_outbox_at(o, i);
#ifdef FUZZ_NODE_TRACE /* -DFUZZ_NODE_TRACE: print every action */
        fprintf(stderr, "  t=%llu act %d peer %u stream %llu route %u "
                "status %u inbound %d event %d value %lld len %zu\n",
                (unsigned long long)f->now, (int)a->type, a->peer,
                (unsigned long long)a->stream_id, a->route, a->status,
                (int)a->inbound, (int)a->event, (long long)a->value, a->len);
#endif
        switch (a->type) {
        case P2P_ACT_STREAM_OPEN:
            on_open(f, a);
            break;
        case P2P_ACT_STREAM_RESPOND:
            on_respond(f, a);
            break;
        case P2P_ACT_STREAM_RESET:
            if (a->inbound)
                in_forget(f, a->peer, a->stream_id);
            else
                out_forget(f, a->peer, a->stream_id);
            break;
        case P2P_ACT_ARTIFACT_RECEIVED:
            remember_id(f, &a->id);
            break;
        case P2P_ACT_ARTIFACT_WITHDRAWN:
            break;
        case P2P_ACT_EVENT:
            break;
        case P2P_ACT_CONN_CLOSE:
            /* A ban, a refusal or a member that left: core already treats
             * the peer as down; a dial in progress is abandoned. */
            FUZZ_CHECK(a->peer >= 1 && a->peer <= PEERS);
            forget_peer(f, a->peer);
            f->dialing[a->peer] = false;
            break;
        case P2P_ACT_CONN_DIAL:
            /* Only after a topology, only higher ids (node 0 dials all),
             * never one that is up or already being dialled. */
            FUZZ_CHECK(f->version > 0);
            FUZZ_CHECK(a->peer >= 1 && a->peer <= PEERS);
            FUZZ_CHECK(!f->up[a->peer] && !f->dialing[a->peer]);
            f->dialing[a->peer] = true;
            break;
        default:
            FUZZ_CHECK(!"unexpected action type");
        }
    }
    p2p_outbox_clear(o);
    FUZZ_CHECK(p2p_node_check_invariants_deep(f->node) == 0);
}

/* ---- sending to the node ---- */

/* Sends bytes on a stream, split in two at an input-chosen point; the
 * second part carries fin (if asked). Returns the last call's result. */
static int send_split(struct fz *f, struct input *in, p2p_node_id peer,
                      uint64_t stream_id, bool inbound, const uint8_t *bytes,
                      size_t len, bool fin)
{
    size_t cut = len ? u8(in) % (len + 1) : 0;
    if (cut > 0 && cut < len) {
        int rc = p2p_node_on_stream_data(
            f->node, f->now,
            &(struct p2p_stream_bytes){.peer = peer,
                                       .stream_id = stream_id,
                                       .inbound = inbound,
                                       .data = bytes,
                                       .len = cut,
                                       .fin = false});
        CHECK_RC(rc);
        if (rc != 0)
            return rc;
        bytes += cut;
        len -= cut;
    }
    int rc = p2p_node_on_stream_data(
        f->node, f->now,
        &(struct p2p_stream_bytes){.peer = peer,
                                   .stream_id = stream_id,
                                   .inbound = inbound,
                                   .data = bytes,
                                   .len = len,
                                   .fin = fin});
    CHECK_RC(rc);
    return rc;
}

static uint8_t *pack_msg(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *b = malloc(*len ? *len : 1);
    FUZZ_CHECK(b != NULL);
    protobuf_c_message_pack(m, b);
    return b;
}

/* A peer opens a new stream and sends request {route, body} with fin. */
static void send_request(struct fz *f, struct input *in, p2p_node_id peer,
                         enum p2p_route route, const uint8_t *body,
                         size_t len)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    uint8_t *frame;
    size_t frame_len;
    FUZZ_CHECK(p2p_frame_request_encode(
                   &mem, P2P_MEM_OTHER,
                   &(struct p2p_frame_request){
                       .route = route, .body = body, .body_len = len},
                   &frame, &frame_len) == 0);
    uint64_t sid = f->next_stream++;
    bool fin = (u8(in) & 7) != 0; /* mostly complete requests */
    int rc = send_split(f, in, peer, sid, true, frame, frame_len, fin);
    if (rc == 0 && !fin)
        in_add(f, peer, sid);
    p2p_mem_free(&mem, P2P_MEM_OTHER, frame);
    FUZZ_CHECK(mem.bytes == 0);
}

/* Answers stream (peer, sid) with Response {status, body}. */
static void send_response(struct fz *f, struct input *in,
                          const struct out_stream *o, uint32_t status,
                          const uint8_t *body, size_t len, bool fin)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    uint8_t *frame;
    size_t frame_len;
    FUZZ_CHECK(p2p_frame_response_encode(
                   &mem, P2P_MEM_OTHER,
                   &(struct p2p_frame_response){
                       .status = status, .body = body, .body_len = len},
                   &frame, &frame_len) == 0);
    p2p_node_id peer = o->peer;
    uint64_t sid = o->stream_id;
    if (fin)
        out_forget(f, peer, sid); /* o points into f->out: copied above */
    (void)send_split(f, in, peer, sid, false, frame, frame_len, fin);
    p2p_mem_free(&mem, P2P_MEM_OTHER, frame);
    FUZZ_CHECK(mem.bytes == 0);
}

/* ---- operations ---- */

/* (a) raw bytes on a new or existing inbound stream. */
static void op_raw_request(struct fz *f, struct input *in)
{
    uint8_t sel = u8(in);
    p2p_node_id peer = pick_peer(in);
    uint64_t sid;
    if ((sel & 3) == 0 && f->in_count > 0) {
        const struct in_stream *s = &f->in[(sel >> 2) % f->in_count];
        peer = s->peer;
        sid = s->stream_id;
    } else if ((sel & 3) == 1) {
        sid = u8(in); /* may collide with anything */
    } else {
        sid = f->next_stream++;
    }
    size_t got;
    const uint8_t *p = take(in, u8(in), &got);
    bool fin = (sel & 4) != 0;
    int rc =
        p2p_node_on_stream_data(f->node, f->now,
                                &(struct p2p_stream_bytes){.peer = peer,
                                                           .stream_id = sid,
                                                           .inbound = true,
                                                           .data = p,
                                                           .len = got,
                                                           .fin = fin});
    CHECK_RC(rc);
    if (fin || rc != 0)
        in_forget(f, peer, sid);
    else
        in_add(f, peer, sid);
}

/* (a') a well-framed request with an arbitrary body. */
static void op_framed_request(struct fz *f, struct input *in)
{
    p2p_node_id peer = pick_peer(in);
    enum p2p_route route = (enum p2p_route)(u8(in) % P2P_ROUTES_COUNT);
    size_t got;
    const uint8_t *p = take(in, u8(in), &got);
    send_request(f, in, peer, route, p, got);
}

/* (b) a SlotUpdate: advert, push or deletion. */
static void op_slot_update(struct fz *f, struct input *in)
{
    p2p_node_id peer = pick_peer(in);
    uint8_t sel = u8(in);
    P2p__V1__SlotUpdate u = P2P__V1__SLOT_UPDATE__INIT;
    P2p__V1__ArtifactRef ref = P2P__V1__ARTIFACT_REF__INIT;
    P2p__V1__Artifact art = P2P__V1__ARTIFACT__INIT;
    struct p2p_artifact_id id, other;
    u.slot_id = u8(in) % (LIMIT + 8); /* a few past slots_per_peer_max */
    u.commit_id = (sel & 0x80) ? u64n(in, 8) : u8(in);
    switch (sel % 3) {
    case 0: { /* advert */
        size_t len = 0;
        if (sel & 8) { /* of a body we can serve */
            len = make_body(f, in);
            id = keep_body(f, len);
        } else {
            id = pick_id(f, in);
        }
        ref.id.data = id.b;
        ref.id.len = (sel & 0x70) == 0x70 ? u8(in) % P2P_ID_BYTES : P2P_ID_BYTES;
        ref.kind = (sel & 0x10) ? P2P_KIND_ADVERT : P2P_KIND_PUSH;
        if ((sel & 0x60) == 0x60)
            ref.kind = u8(in); /* mostly invalid */
        ref.size = (sel & 0x20) ? u64n(in, 3) : len;
        u.update_case = P2P__V1__SLOT_UPDATE__UPDATE_REF;
        u.ref = &ref;
        break;
    }
    case 1: { /* push */
        size_t len = make_body(f, in);
        id = keep_body(f, len);
        art.kind = (sel & 0x10) ? P2P_KIND_ADVERT : P2P_KIND_PUSH;
        art.body.data = f->known[(f->known_next + KNOWN_MAX - 1) % KNOWN_MAX].body;
        art.body.len = len;
        switch ((sel >> 5) & 3) {
        case 0: /* no id */
            break;
        case 1: /* its id */
        case 2:
            art.id.data = id.b;
            art.id.len = P2P_ID_BYTES;
            break;
        case 3: /* another id, or a bad length */
            other = pick_id(f, in);
            art.id.data = other.b;
            art.id.len = (sel & 8) ? P2P_ID_BYTES : u8(in) % P2P_ID_BYTES;
            break;
        }
        u.update_case = P2P__V1__SLOT_UPDATE__UPDATE_ARTIFACT;
        u.artifact = &art;
        break;
    }
    default:
        u.update_case = P2P__V1__SLOT_UPDATE__UPDATE_DELETED;
        u.deleted = (sel & 8) != 0;
        break;
    }
    size_t len;
    uint8_t *packed = pack_msg(&u.base, &len);
    send_request(f, in, peer, P2P_ROUTE_ARTIFACT_UPDATE, packed, len);
    free(packed);
}

/* (c) a well-formed answer to one of the node's streams. */
static void op_respond_good(struct fz *f, struct input *in)
{
    if (f->out_count == 0)
        return;
    uint8_t sel = u8(in);
    struct out_stream o = f->out[u8(in) % f->out_count];
    bool fin = (sel & 0xc0) != 0xc0;
    if (o.route == P2P_ROUTE_ARTIFACT_UPDATE) {
        P2p__V1__UpdateAck ack = P2P__V1__UPDATE_ACK__INIT;
        ack.slot_id = o.slot_id;
        ack.commit_id = (sel & 2) ? o.commit_id + 1 : o.commit_id;
        size_t len;
        uint8_t *packed = pack_msg(&ack.base, &len);
        uint32_t status = (sel & 1) ? 200 : (sel & 4) ? 400 : 500;
        send_response(f, in, &o, status, packed, len, fin);
        free(packed);
        return;
    }
    const struct known *k = find_known(f, &o.id);
    if ((sel & 3) == 3) { /* not held */
        send_response(f, in, &o, 204, NULL, 0, fin);
        return;
    }
    P2p__V1__Artifact art = P2P__V1__ARTIFACT__INIT;
    art.kind = (sel & 4) ? P2P_KIND_ADVERT : P2P_KIND_PUSH;
    if (k != NULL && (sel & 8) == 0) {
        art.body.data = (uint8_t *)k->body;
        art.body.len = k->len;
    } else { /* the wrong bytes */
        size_t len = make_body(f, in);
        art.body.data = f->scratch;
        art.body.len = len;
    }
    size_t len;
    uint8_t *packed = pack_msg(&art.base, &len);
    send_response(f, in, &o, 200, packed, len, fin);
    free(packed);
}

/* (c') an arbitrary answer: any status and body, or raw bytes. */
static void op_respond_raw(struct fz *f, struct input *in)
{
    if (f->out_count == 0)
        return;
    uint8_t sel = u8(in);
    struct out_stream o = f->out[u8(in) % f->out_count];
    bool fin = (sel & 1) != 0;
    size_t got;
    const uint8_t *p = take(in, u8(in), &got);
    if (sel & 2) {
        uint32_t status = (uint32_t)u64n(in, (sel >> 2) & 3 ? 4 : 1);
        send_response(f, in, &o, status, p, got, fin);
        return;
    }
    if (fin)
        out_forget(f, o.peer, o.stream_id);
    int rc = p2p_node_on_stream_data(
        f->node, f->now,
        &(struct p2p_stream_bytes){.peer = o.peer,
                                   .stream_id = o.stream_id,
                                   .inbound = false,
                                   .data = p,
                                   .len = got,
                                   .fin = fin});
    CHECK_RC(rc);
}

/* (d) the transport resets a stream. */
static void op_reset(struct fz *f, struct input *in)
{
    uint8_t sel = u8(in);
    p2p_node_id peer;
    uint64_t sid;
    bool inbound;
    if ((sel & 3) == 0 && f->out_count > 0) {
        const struct out_stream *o = &f->out[(sel >> 2) % f->out_count];
        peer = o->peer;
        sid = o->stream_id;
        inbound = false;
    } else if ((sel & 3) == 1 && f->in_count > 0) {
        const struct in_stream *s = &f->in[(sel >> 2) % f->in_count];
        peer = s->peer;
        sid = s->stream_id;
        inbound = true;
    } else {
        peer = (p2p_node_id)(u8(in) % (PEERS + 2)); /* 0 and 4 too */
        sid = u8(in);
        inbound = (sel & 4) != 0;
    }
    CHECK_RC(p2p_node_on_stream_reset(f->node, f->now, peer, sid, inbound));
    if (inbound)
        in_forget(f, peer, sid);
    else
        out_forget(f, peer, sid);
}

static void fire_timers(struct fz *f)
{
    FUZZ_CHECK(p2p_node_on_timer(f->node, f->now) == 0);
    /* Every deadline <= now fired, including ones set while firing. */
    p2p_time next = p2p_node_next_deadline(f->node);
    FUZZ_CHECK(next == P2P_TIME_NEVER || next > f->now);
}

/* (e) the clock moves, by an input-chosen step or to the next deadline. */
static void op_time(struct fz *f, struct input *in)
{
    static const p2p_time units[8] = {
        1, P2P_NS_PER_US, P2P_NS_PER_MS, 10 * P2P_NS_PER_MS,
        100 * P2P_NS_PER_MS, P2P_NS_PER_S, 10 * P2P_NS_PER_S,
        60 * P2P_NS_PER_S};
    uint8_t sel = u8(in);
    p2p_time to;
    if (sel & 8) {
        to = p2p_node_next_deadline(f->node);
        if (to == P2P_TIME_NEVER)
            to = f->now;
        if (sel & 0x10)
            to += 1; /* just past it, not only at it */
    } else {
        to = f->now + units[sel & 7] * (1 + (p2p_time)u8(in));
    }
    if (to > T0 + TIME_MAX)
        to = T0 + TIME_MAX;
    if (to > f->now)
        f->now = to;
    fire_timers(f);
}

/* (f) the client: insert, validate, remove. */
static void op_client(struct fz *f, struct input *in)
{
    uint8_t sel = u8(in);
    switch (sel % 3) {
    case 0: {
        size_t len = make_body(f, in);
        struct p2p_artifact_id id;
        struct p2p_artifact_id got_id;
        id = keep_body(f, len);
        enum p2p_artifact_kind kind = (sel & 4) ? P2P_KIND_ADVERT : P2P_KIND_PUSH;
        int rc = p2p_node_insert(f->node, f->now, kind, f->scratch, len,
                                 &got_id);
        CHECK_RC(rc);
        if (rc == 0) {
            FUZZ_CHECK(p2p_id_eq(&id, &got_id));
            const struct p2p_pool_entry *e =
                p2p_pool_get(p2p_node_pool(f->node), &id);
            FUZZ_CHECK(e != NULL && e->section == P2P_POOL_VALIDATED);
            remember_id(f, &id);
        }
        break;
    }
    case 1: {
        struct p2p_artifact_id id = pick_id(f, in);
        bool accept = (sel & 4) != 0;
        int rc = p2p_node_validate(f->node, f->now, &id, accept);
        CHECK_RC(rc);
        const struct p2p_pool_entry *e =
            p2p_pool_get(p2p_node_pool(f->node), &id);
        if (rc == 0 && accept)
            FUZZ_CHECK(e != NULL && e->section == P2P_POOL_VALIDATED);
        if (rc == 0 && !accept)
            FUZZ_CHECK(e == NULL);
        break;
    }
    default: {
        struct p2p_artifact_id id = pick_id(f, in);
        int rc = p2p_node_remove(f->node, f->now, &id);
        CHECK_RC(rc);
        FUZZ_CHECK(p2p_pool_get(p2p_node_pool(f->node), &id) == NULL);
        break;
    }
    }
}

/* (g) a connection goes down or comes back; a banned peer is refused. */
static void op_peer(struct fz *f, struct input *in)
{
    p2p_node_id peer = pick_peer(in);
    if (f->up[peer]) {
        FUZZ_CHECK(p2p_node_on_peer_down(f->node, f->now, peer) == 0);
        forget_peer(f, peer);
    } else {
        struct p2p_peer_info info;
        FUZZ_CHECK(p2p_node_peer_info(f->node, peer, &info) == 0);
        int rc = p2p_node_on_peer_up(f->node, f->now, peer);
        if (f->version == 0)
            FUZZ_CHECK(rc == (info.banned_until > f->now ? P2P_ERR_REFUSED
                                                         : 0));
        else /* also refused when it (or node 0) is not a member */
            FUZZ_CHECK(rc == 0 || rc == P2P_ERR_REFUSED);
        f->up[peer] = rc == 0;
        if (rc == 0)
            f->dialing[peer] = false; /* the connection answered the dial */
    }
}

/* (h) a new registry version: ids 0..PEERS whose bit is set are members
 * (node 0 itself may be left out, which closes everything); bits 4-5 say
 * how far the earliest version in use lags behind the latest (it never
 * moves back). With bit 6 set there is no new version: only the earliest
 * moves. */
static void op_topology(struct fz *f, struct input *in)
{
    uint8_t mask = u8(in);
    uint64_t lag = (mask >> 4) & 3u;
    bool only_earliest = (mask & 0x40u) != 0;
    struct p2p_member m[PEERS + 1];
    uint32_t count = 0;
    memset(m, 0, sizeof(m));
    for (p2p_node_id id = 0; id <= PEERS; id++)
        if (mask & (1u << id))
            m[count++].id = id;
    if (!only_earliest)
        f->version++;
    uint64_t earliest = f->version > lag ? f->version - lag : 0;
    if (earliest < f->earliest)
        earliest = f->earliest;
    if (only_earliest) {
        int rc = p2p_node_on_registry_earliest(f->node, f->now, earliest);
        FUZZ_CHECK(rc == (f->version == 0 ? P2P_ERR_STATE : 0));
    } else {
        FUZZ_CHECK(p2p_node_on_topology(
                       f->node, f->now,
                       &(struct p2p_topology_update){.version = f->version,
                                                     .earliest_version =
                                                         earliest,
                                                     .members = m,
                                                     .count = count}) == 0);
    }
    /* The node may have moved it further (versions past its bound). */
    f->earliest = p2p_node_topology(f->node)->earliest_version;
    FUZZ_CHECK(f->earliest >= earliest || f->version == 0);
}

/* (i) the transport answers a dial: connected, or failed. */
static void op_dial_answer(struct fz *f, struct input *in)
{
    uint8_t sel = u8(in);
    p2p_node_id peer = 1 + sel % PEERS;
    if (!f->dialing[peer])
        return;
    f->dialing[peer] = false;
    if (sel & 0x80) {
        FUZZ_CHECK(p2p_node_on_dial_failed(f->node, f->now, peer) == 0);
        return;
    }
    int rc = p2p_node_on_peer_up(f->node, f->now, peer);
    FUZZ_CHECK(rc == 0 || rc == P2P_ERR_REFUSED);
    f->up[peer] = rc == 0;
}

/* The client's bouncer: a pure function of bouncer_mode, which changes only
 * through p2p_node_set_bouncer. */
static enum p2p_verdict bouncer(void *ctx, const struct p2p_artifact_id *id,
                                enum p2p_artifact_kind kind, uint64_t size)
{
    uint8_t mode = *(const uint8_t *)ctx;
    if (mode < 0x40)
        return P2P_WANTS;
    if ((mode & 0x80) && size > 2048)
        return P2P_UNWANTED;
    return (enum p2p_verdict)((id->b[0] + mode + (unsigned)kind) % 3);
}

static void op_bouncer(struct fz *f, struct input *in)
{
    f->bouncer_mode = u8(in);
    p2p_node_set_bouncer(f->node, f->now, bouncer, &f->bouncer_mode);
}

/* A peer fetches an artifact from the node. */
static void op_fetch(struct fz *f, struct input *in)
{
    p2p_node_id peer = pick_peer(in);
    struct p2p_artifact_id id = pick_id(f, in);
    P2p__V1__FetchRequest q = P2P__V1__FETCH_REQUEST__INIT;
    q.id.data = id.b;
    q.id.len = P2P_ID_BYTES;
    size_t len;
    uint8_t *packed = pack_msg(&q.base, &len);
    send_request(f, in, peer, P2P_ROUTE_ARTIFACT_RPC, packed, len);
    free(packed);
}

/* ---- entry point ---- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz *f = &g_fz;
    memset(f, 0, sizeof(*f));
    f->known = g_known;
    f->scratch = g_scratch;
    struct input in = {data, size};

    p2p_mem_init(&f->mem);
    p2p_config_default(&f->cfg, 0, 0x5eed);
    f->cfg.streams_max = LIMIT;
    f->cfg.downloads_max = LIMIT;
    f->cfg.slots_max = LIMIT;
    f->cfg.slots_per_peer_max = LIMIT;
    for (int s = 0; s < P2P_POOL_SECTIONS; s++) {
        f->cfg.pool.count_max[s] = LIMIT;
        f->cfg.pool.bytes_max[s] = 1u << 20;
    }
    /* Per-peer bounds small enough for short inputs to reach them. */
    f->cfg.downloads_per_peer_max = 8;
    f->cfg.fetches_per_peer_max = 2;
    f->cfg.streams_in_per_peer_max = 16;
    f->cfg.events = true;
    for (unsigned i = 0; i < P2P_ROUTES_COUNT; i++)
        f->big.request_bytes_max[i] = f->big.response_bytes_max[i] =
            P2P_FRAME_MESSAGE_BYTES_MAX;
    FUZZ_CHECK(p2p_node_new(&f->cfg, &f->mem, &f->node) == 0);
    f->now = T0;
    f->next_stream = 1000; /* above the ids op_raw_request may pick */
    for (p2p_node_id p = 1; p <= PEERS; p++) {
        FUZZ_CHECK(p2p_node_on_peer_up(f->node, f->now, p) == 0);
        f->up[p] = true;
    }
    drain(f);

    for (unsigned ops = 0; ops < OPS_MAX && in.n > 0; ops++) {
#ifdef FUZZ_NODE_TRACE
        if (in.n > 0)
            fprintf(stderr, "op %u: %u\n", ops, (unsigned)(in.p[0] % 14));
#endif
        switch (u8(&in) % 14) {
        case 0: op_raw_request(f, &in); break;
        case 1: op_framed_request(f, &in); break;
        case 2:
        case 3: op_slot_update(f, &in); break;
        case 4: op_respond_good(f, &in); break;
        case 5: op_respond_raw(f, &in); break;
        case 6: op_reset(f, &in); break;
        case 7: op_time(f, &in); break;
        case 8: op_client(f, &in); break;
        case 9: op_peer(f, &in); break;
        case 10: op_bouncer(f, &in); break;
        case 11: op_topology(f, &in); break;
        case 12: op_dial_answer(f, &in); break;
        default: op_fetch(f, &in); break;
        }
        drain(f);
    }

    p2p_node_del(f->node);
    FUZZ_CHECK(f->mem.bytes == 0);
    return 0;
}
