/* In-place decoders of the hot gossip messages (proto/p2p.proto): views
 * into the received bytes instead of protobuf-c's unpacked copies.
 *
 * Each decoder reads one message from buf[0..len) and fills a view whose
 * bytes fields point into buf: nothing is allocated or copied, so a view is
 * valid exactly as long as buf is (borrowed, never freed through a view).
 *
 * The decoders accept exactly the inputs protobuf-c 1.4's generated unpack
 * accepts and produce the same values, including its departures from the
 * protobuf specification:
 *  - the last occurrence of a scalar or bytes field wins;
 *  - a SlotUpdate's oneof member that occurs again replaces the earlier one
 *    whole, even when it is the same member (protobuf-c frees the earlier
 *    Artifact or ArtifactRef before it unpacks the new one: no merge), and
 *    every occurrence must itself be a valid message;
 *  - unknown fields of wire type 0, 1, 2 and 5 are skipped; wire types 3
 *    and 4 (groups), 6 and 7 are errors, known or not;
 *  - a key is at most 5 bytes; a one-byte key with field number 0 is an
 *    error, a longer key that spells number 0 is an unknown field;
 *  - a varint is at most 10 bytes; uint32 and uint64 fields take its low 32
 *    or 64 bits;
 *  - a length prefix is at most 5 bytes and at most INT_MAX;
 *  - a known field with the wrong wire type is an error, except the bool
 *    `deleted`, which protobuf-c takes from any wire type: it is true when
 *    any byte of the field's value as on the wire (a varint, 4 or 8 bytes,
 *    or a length prefix and its payload) has one of its low 7 bits set;
 *  - a message of more than P2P_WIRE_VIEW_FIELDS_MAX fields (known or not)
 *    is an error.
 *
 * Pure: no allocation, no globals; safe to call from any thread. */
#ifndef P2P_CORE_WIRE_VIEW_H
#define P2P_CORE_WIRE_VIEW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most fields (known and unknown) protobuf-c 1.4 reads in one message
 * before it gives up ("too many fields": its 23 slabs of 16 << i members
 * each). Only a message of over 256 MiB can reach it. */
#define P2P_WIRE_VIEW_FIELDS_MAX ((size_t)16 * (((size_t)1 << 23) - 1))

/* Bytes borrowed from the decoded buffer. data is NULL when the field did
 * not occur (len is 0 then); when it occurred, data points at its payload
 * inside buf, even when len is 0, so data - buf is the payload's offset in
 * buf. Never read data[0] when len is 0. */
struct p2p_bytes_view {
    const uint8_t *data; /* borrowed from buf, or NULL */
    size_t len;
};

/* Artifact {kind = 1, body = 2, id = 3}. */
struct p2p_artifact_view {
    uint32_t kind;
    struct p2p_bytes_view body; /* body.data - buf: offset of the body */
    struct p2p_bytes_view id;
    uint64_t height; /* 0 when absent */
};

/* ArtifactRef {id = 1, kind = 2, size = 3}. */
struct p2p_artifact_ref_view {
    struct p2p_bytes_view id;
    uint32_t kind;
    uint64_t size;
};

/* Which member of SlotUpdate's oneof `update` occurred last; the values
 * are the field numbers, as in protobuf-c's P2p__V1__SlotUpdate__UpdateCase. */
enum p2p_slot_update_case {
    P2P_SLOT_UPDATE_NONE = 0,
    P2P_SLOT_UPDATE_ARTIFACT = 3,
    P2P_SLOT_UPDATE_REF = 4,
    P2P_SLOT_UPDATE_DELETED = 5,
};

/* SlotUpdate {commit_id = 1, slot_id = 2, oneof update {artifact = 3,
 * ref = 4, deleted = 5}}. Only the member update_case names is set; the
 * other two are zero (all three when the case is NONE). */
struct p2p_slot_update_view {
    uint64_t commit_id;
    uint64_t slot_id;
    enum p2p_slot_update_case update_case;
    struct p2p_artifact_view artifact;
    struct p2p_artifact_ref_view ref;
    bool deleted;
};

/* UpdateAck {slot_id = 1, commit_id = 2}. */
struct p2p_update_ack_view {
    uint64_t slot_id;
    uint64_t commit_id;
};

/* FetchRequest {id = 1}. */
struct p2p_fetch_request_view {
    struct p2p_bytes_view id;
};

/* Decodes an Artifact from buf[0..len) into *out; the views borrow buf
 * (which may be NULL when len is 0: an empty message, all defaults). On
 * error *out is untouched.
 * Errors: P2P_ERR_DECODE (not an Artifact protobuf-c would accept). */
int p2p_wire_view_artifact(const uint8_t *buf, size_t len,
                           struct p2p_artifact_view *out);

/* p2p_wire_view_artifact of a message whose last tail bytes are not in
 * buf: they follow buf[0..len) elsewhere (a shared body, core/body.h) and
 * must be exactly the artifact's body, whose view is then {buf + len,
 * tail}. Any other shape is P2P_ERR_DECODE here, though the whole bytes
 * may decode: the caller then decodes them whole. tail 0 is
 * p2p_wire_view_artifact. */
int p2p_wire_view_artifact_tail(const uint8_t *buf, size_t len, size_t tail,
                                struct p2p_artifact_view *out);

/* Decodes an ArtifactRef, like p2p_wire_view_artifact.
 * Errors: P2P_ERR_DECODE. */
int p2p_wire_view_artifact_ref(const uint8_t *buf, size_t len,
                               struct p2p_artifact_ref_view *out);

/* Decodes a SlotUpdate, like p2p_wire_view_artifact. A pushed artifact's
 * views point into buf too: out->artifact.body.data - buf is the body's
 * offset in buf.
 * Errors: P2P_ERR_DECODE (also when any occurrence of artifact or ref,
 * even one a later member replaced, is not a valid message). */
int p2p_wire_view_slot_update(const uint8_t *buf, size_t len,
                              struct p2p_slot_update_view *out);

/* p2p_wire_view_slot_update with a tail, as p2p_wire_view_artifact_tail:
 * the tail must be exactly the pushed artifact's body. */
int p2p_wire_view_slot_update_tail(const uint8_t *buf, size_t len, size_t tail,
                                   struct p2p_slot_update_view *out);

/* Decodes an UpdateAck, like p2p_wire_view_artifact.
 * Errors: P2P_ERR_DECODE. */
int p2p_wire_view_update_ack(const uint8_t *buf, size_t len,
                             struct p2p_update_ack_view *out);

/* Decodes a FetchRequest, like p2p_wire_view_artifact.
 * Errors: P2P_ERR_DECODE. */
int p2p_wire_view_fetch_request(const uint8_t *buf, size_t len,
                                struct p2p_fetch_request_view *out);

#endif
