/* Request/response envelopes, the URI routing table and an incremental
 * stream reader (docs/architecture.md).
 *
 * Every RPC uses a fresh bidirectional stream: the requester writes one
 * P2p__V1__Request {path = 1, body = 2} and ends its half (FIN); the
 * responder writes one P2p__V1__Response {status = 1, body = 2} and ends its
 * half. The envelope is plain protobuf with no length prefix: the stream's
 * end is the message's end. Because path is field 1 and encoders write
 * fields in order, a reader learns the route, and so its size limit, from
 * the first bytes of the stream and refuses oversize input as it arrives,
 * before buffering it.
 *
 * Pure: no clock, no randomness, no globals; all memory through p2p_mem. */
#ifndef P2P_CORE_FRAMING_H
#define P2P_CORE_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/body.h"
#include "core/body_sink.h"
#include "core/mem.h"
#include "core/routes.h"
#include "core/state_manifest.h"

/* The longest request path a reader accepts; longer is P2P_ERR_OVERSIZE. */
#define P2P_FRAME_PATH_BYTES_MAX 64

/* What a request-mode reader buffers at most before it knows the route: the
 * path's tag and length (protobuf varints of at most 5 bytes each, the
 * longest protobuf-c reads) plus the path itself. */
#define P2P_FRAME_PREFIX_BYTES_MAX (5 + 5 + P2P_FRAME_PATH_BYTES_MAX)

/* Default whole-envelope limits of the small routes. An UpdateAck response
 * is at most 30 bytes and a FetchRequest (a 32-byte id) at most 51; the
 * slack lets a later version add fields without a flag day. */
#define P2P_FRAME_ACK_BYTES_MAX 256
#define P2P_FRAME_FETCH_REQUEST_BYTES_MAX 256
/* State sync: an advert or a chunk request is under 70 bytes, and the
 * answers to an advert are empty. A chunk response carries an encoding
 * byte and at most the largest chunk (8 MiB; manifests travel as manifest
 * chunks of 1 MiB) and its envelope; the sync manager caps each answer at
 * its chunk's size in the manifest. */
#define P2P_FRAME_STATE_ADVERT_BYTES_MAX 256
#define P2P_FRAME_STATE_ADVERT_RESPONSE_BYTES_MAX 64
#define P2P_FRAME_CHUNK_REQUEST_BYTES_MAX 256
#define P2P_FRAME_CHUNK_RESPONSE_BYTES_MAX                                     \
    (1u + P2P_STATE_CHUNK_BYTES_MAX + 64u)

/* Returns the route's path as a static NUL-terminated string, or NULL when
 * r is not a route. */
const char *p2p_route_path(enum p2p_route r);

/* Finds the route whose path is exactly path[0..len) (no NUL needed; path
 * is borrowed and may be NULL when len is 0) and stores it in *out.
 * Errors: P2P_ERR_NO_ROUTE when no route has that path (*out untouched). */
int p2p_route_lookup(const uint8_t *path, size_t len, enum p2p_route *out);

/* Fills l with the defaults: update requests (a push carries the artifact)
 * and rpc responses (the artifact) P2P_FRAME_MESSAGE_BYTES_MAX; update
 * responses P2P_FRAME_ACK_BYTES_MAX; rpc requests
 * P2P_FRAME_FETCH_REQUEST_BYTES_MAX. */
void p2p_route_limits_default(struct p2p_route_limits *l);

/* A request envelope to encode (p2p_frame_request_encode's options). */
struct p2p_frame_request {
    enum p2p_route route; /* its path goes on the wire */
    const uint8_t *body;  /* borrowed for the call; NULL when body_len 0 */
    size_t body_len;
    /* Bytes of the body that are not in body but follow the envelope on
     * the wire (a shared body, core/outbox.h): the envelope is written up
     * to them. 0 for a whole envelope. */
    size_t tail_len;
};

/* A response envelope to encode (p2p_frame_response_encode's options). */
struct p2p_frame_response {
    uint32_t status;     /* HTTP-like, core/status.h */
    const uint8_t *body; /* borrowed for the call; NULL when body_len 0 */
    size_t body_len;
    size_t tail_len; /* as in struct p2p_frame_request */
};

/* Encodes Request {path of req->route, body} into a new buffer allocated
 * from mem under module; on success the caller owns *out and frees it with
 * p2p_mem_free(mem, module, *out). On error *out and *out_len are untouched
 * and nothing is allocated.
 * Errors: P2P_ERR_INVALID_ARG (no such route, NULL body with body_len > 0),
 * P2P_ERR_OVERSIZE (the envelope would exceed P2P_FRAME_MESSAGE_BYTES_MAX),
 * P2P_ERR_NOMEM. */
int p2p_frame_request_encode(struct p2p_mem *mem, enum p2p_mem_module module,
                             const struct p2p_frame_request *req, uint8_t **out,
                             size_t *out_len);

/* Encodes Response {status, body} like p2p_frame_request_encode (same
 * ownership and errors, without the route check). An envelope with status 0
 * and an empty body encodes to zero bytes (*out_len = 0, *out still a
 * freeable one-byte block); readers refuse it as P2P_ERR_TRUNCATED, so
 * responders always send a non-zero status. */
int p2p_frame_response_encode(struct p2p_mem *mem, enum p2p_mem_module module,
                              const struct p2p_frame_response *resp,
                              uint8_t **out, size_t *out_len);

/* Which envelope a reader expects. */
enum p2p_frame_mode {
    P2P_FRAME_REQUEST,  /* inbound stream: we read a request */
    P2P_FRAME_RESPONSE, /* outbound stream: we read the answer */
};

/* A decoded envelope. */
struct p2p_frame {
    enum p2p_route route; /* request: from the path; response: the route
                            * the reader was given */
    uint32_t status;      /* response only (0 for requests) */
    const uint8_t *body;  /* borrowed from the reader, valid until its
                            * fini; never NULL, even when body_len is 0 */
    size_t body_len;
    /* NULL, or the body's last bytes, after body[0..body_len): a shared
     * body the reader holds (p2p_frame_reader_feed_tail), valid until its
     * fini. Only a frame whose consumer reads tails gets one: an
     * ARTIFACT_UPDATE request or an ARTIFACT_RPC response. */
    struct p2p_body *tail;
};

/* Reassembles one stream direction. Caller storage; treat the fields as
 * private. The struct may be copied by value (e.g. moved out of a table)
 * as long as only one copy is used and fini'd afterwards: frames borrow the
 * heap buffer, not the struct. */
struct p2p_frame_reader {
    struct p2p_mem *mem;                   /* borrowed */
    const struct p2p_route_limits *limits; /* borrowed, outlives the reader */
    uint8_t *buf;    /* owned, P2P_MEM_STREAMS; NULL until a byte */
    size_t len;      /* bytes received, all buffered */
    size_t cap;      /* bytes allocated for buf */
    size_t limit;    /* envelope cap; the prefix cap until the
                            * request's route is known */
    size_t scan_pos; /* next top-level field header not yet checked
                            * against the limit */
    enum p2p_frame_mode mode;
    enum p2p_route route; /* valid once route_known */
    bool route_known;
    bool borrowed;         /* buf is the caller's (p2p_frame_reader_whole):
                            * never freed or grown */
    struct p2p_body *tail; /* held (charged to P2P_MEM_STREAMS): the
                            * stream's last bytes, not copied; NULL when
                            * none */
    size_t tail_len;       /* its length, announced before the head is
                            * fed */
    bool tail_fits;        /* the head's top-level fields were all checked
                            * and the last one ends with the tail */
    bool finished;         /* finish() succeeded */
    int err;               /* sticky: 0, or the first error returned */
    /* Streaming (p2p_frame_reader_set_store): the artifact body that ends
     * the stream goes to the store as it arrives, buf keeping only the
     * bytes before it; at finish the sealed body becomes the tail. */
    const struct p2p_body_store *store; /* borrowed; NULL: none */
    struct p2p_body_sink *sink;         /* owned while streaming */
    bool stream_judged;                 /* the shape was judged once */
};

/* Prepares r for one stream direction. mem and limits are borrowed and
 * must outlive r. In P2P_FRAME_REQUEST mode the route is learnt from the
 * path, which must be the first field on the wire (response_route is
 * ignored); in P2P_FRAME_RESPONSE mode the caller passes the route its
 * request went to, whose response limit applies from the first byte.
 * Allocates nothing. An out-of-range mode or response_route puts r in the
 * error state: every later call returns P2P_ERR_INVALID_ARG. */
void p2p_frame_reader_init(struct p2p_frame_reader *r, struct p2p_mem *mem,
                           enum p2p_frame_mode mode,
                           const struct p2p_route_limits *limits,
                           enum p2p_route response_route);

/* Takes the next len bytes of the stream (data borrowed, copied; may be
 * NULL when len is 0). Limits are checked before anything is buffered: in
 * request mode at most P2P_FRAME_PREFIX_BYTES_MAX bytes are held until the
 * path is complete, then the route's request limit applies to the total;
 * in response mode the route's response limit applies from the first byte.
 * After any error r stays in the error state and every later feed and
 * finish returns that error; only fini may follow usefully.
 * Errors: P2P_ERR_DECODE (request: the first field is not a
 * length-delimited field 1, or its tag or length varint is malformed),
 * P2P_ERR_OVERSIZE (request path longer than P2P_FRAME_PATH_BYTES_MAX, or
 * total bytes past the route's limit), P2P_ERR_NO_ROUTE (request path not
 * in the table), P2P_ERR_NOMEM (buffer growth refused; fatal),
 * P2P_ERR_STATE (called after a successful finish; r is unchanged),
 * P2P_ERR_INVALID_ARG (bad init, or NULL data with len > 0). */
int p2p_frame_reader_feed(struct p2p_frame_reader *r, const uint8_t *data,
                          size_t len);

/* p2p_frame_reader_feed of data[0..len) followed by the bytes of a shared
 * body (tail, borrowed; NULL: plain feed) that end the stream: nothing may
 * be fed after them, only finish. The reader keeps a reference to tail
 * instead of copying it when the envelope's body field runs exactly to its
 * end and the route's consumer reads tails (struct p2p_frame); otherwise
 * its bytes are copied as a plain feed would. Limits count tail bytes like
 * fed ones; errors as p2p_frame_reader_feed. */
int p2p_frame_reader_feed_tail(struct p2p_frame_reader *r, const uint8_t *data,
                               size_t len, struct p2p_body *tail);

/* A stream whose bytes all arrive at once (nothing fed before, and they
 * end with FIN): feed_tail and finish in one call, with the same results
 * and errors, except that data is not copied: the frame borrows it, so
 * *out is valid only while data is (and until fini). r must not be fed
 * afterwards; fini it as usual. Errors: those of feed and finish, and
 * P2P_ERR_STATE when bytes were fed before. */
int p2p_frame_reader_whole(struct p2p_frame_reader *r, const uint8_t *data,
                           size_t len, struct p2p_body *tail,
                           struct p2p_frame *out);

/* Called at the stream's end (FIN): decodes the whole envelope into *out
 * (body borrowed from r, valid until fini). Accepts any valid protobuf
 * encoding (unknown fields skipped, non-minimal varints, last body wins)
 * with two restrictions: a request's path is its first field and appears
 * once, and an empty stream is no envelope. A truncation that falls exactly
 * between two fields is indistinguishable from a shorter valid envelope and
 * decodes as one; the layer above validates the body. Calling finish again
 * returns the same frame. On error *out is untouched and r enters the
 * error state.
 * Errors: P2P_ERR_TRUNCATED (the bytes end inside a field, or nothing
 * arrived, or a request ended before its path), P2P_ERR_DECODE (invalid
 * wire type, field number 0, overlong varint, a known field with the wrong
 * wire type, a second path), or the sticky error of an earlier call. */
int p2p_frame_reader_finish(struct p2p_frame_reader *r, struct p2p_frame *out);

/* The frame's whole body (its bytes and its tail) in one new buffer
 * charged to mem under P2P_MEM_WIRE (freed by the caller with
 * p2p_mem_free; a one-byte block when empty). Errors: P2P_ERR_NOMEM. */
int p2p_frame_flatten(struct p2p_mem *mem, const struct p2p_frame *f,
                      uint8_t **out, size_t *out_len);

/* Frees r's buffer; frames taken from r become invalid. Safe to call twice
 * and in any state; afterwards only init may be called. */
void p2p_frame_reader_fini(struct p2p_frame_reader *r);

/* Lowers a RESPONSE-mode reader's limit to bytes_max when that is smaller
 * (e.g. to what an advertised artifact size needs); never raises it. Call
 * before the first feed. */
void p2p_frame_reader_cap(struct p2p_frame_reader *r, size_t bytes_max);

/* Lets a RESPONSE-mode reader of ARTIFACT_RPC write the artifact body
 * that ends the stream into store (borrowed, outlives r; NULL: none) as it
 * arrives, when it has at least store->bytes_min bytes: the envelope's
 * body field and, inside it, the Artifact's body field both run to the
 * stream's end, as every encoder of ours writes them (kind, id, body).
 * Other shapes, routes and smaller bodies are buffered as usual; bytes
 * after such a body (a valid but unusual encoding) are read back from the
 * store and buffered too. The frame's tail is then the stored body, its id
 * already known (hashed as it arrived). Call before the first feed. */
void p2p_frame_reader_set_store(struct p2p_frame_reader *r,
                                const struct p2p_body_store *store);

/* Bytes of buffer r holds (allocated capacity, >= bytes received), for
 * per-stream memory accounting. */
size_t p2p_frame_reader_buffered(const struct p2p_frame_reader *r);

#endif
