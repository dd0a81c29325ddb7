/* Small value types shared by every core module. */
#ifndef P2P_CORE_TYPES_H
#define P2P_CORE_TYPES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Virtual or monotonic time in nanoseconds; always passed in as `now`. */
typedef uint64_t p2p_time;
#define P2P_TIME_NEVER UINT64_MAX
#define P2P_NS_PER_US 1000ULL
#define P2P_NS_PER_MS 1000000ULL
#define P2P_NS_PER_S 1000000000ULL

/* Node ids are small integers; in prod derived from the node's public key
 * and mapped to an index by the registry. */
typedef uint32_t p2p_node_id;
#define P2P_NODE_NONE UINT32_MAX

/* An artifact id is the SHA-256 of the artifact's body. */
#define P2P_ID_BYTES 32
struct p2p_artifact_id {
    uint8_t b[P2P_ID_BYTES];
};

static inline bool p2p_id_eq(const struct p2p_artifact_id *a,
                             const struct p2p_artifact_id *b)
{
    return memcmp(a->b, b->b, P2P_ID_BYTES) == 0;
}

/* Computes the id of body[0..len). */
void p2p_id_of(const uint8_t *body, size_t len, struct p2p_artifact_id *out);

/* Writes the first `chars` hex digits of id (chars <= 64) plus a NUL to out,
 * which must hold chars + 1 bytes. */
void p2p_id_hex(const struct p2p_artifact_id *id, char *out, size_t chars);

/* How an artifact is disseminated: push sends the body inside the slot
 * update (latency sensitive), advert sends only the id and peers pull. */
enum p2p_artifact_kind {
    P2P_KIND_PUSH = 0,
    P2P_KIND_ADVERT = 1,
    P2P_KINDS_COUNT
};

const char *p2p_kind_name(enum p2p_artifact_kind kind);

/* Bytes that arrived on a stream: the backend's report to
 * p2p_node_on_stream_data (core/shim.h), which node.c hands to the stream
 * table. */
struct p2p_body;

struct p2p_stream_bytes {
    p2p_node_id peer;
    uint64_t stream_id;
    bool inbound;        /* the peer opened it: we read a request; else one
                            we opened: we read the response */
    const uint8_t *data; /* borrowed for the call */
    size_t len;
    bool fin; /* the end of the peer's half */
    /* NULL, or a shared body (core/body.h, borrowed) whose bytes follow
     * data[0..len) and end the peer's half (fin set): a backend that
     * carries bodies apart hands them over without a copy. */
    struct p2p_body *tail;
};

#endif
