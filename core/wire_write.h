/* Hand-written protobuf encoding of the message heads that precede a
 * shared body (core/body.h): an envelope or an artifact whose last bytes
 * are the body are written up to the body, and the body goes on the wire
 * after them without being copied. With no body the bytes are exactly
 * protobuf-c's (fields in number order, proto3 defaults omitted); with one,
 * the fields before it keep that order and the body field comes last. */
#ifndef P2P_CORE_WIRE_WRITE_H
#define P2P_CORE_WIRE_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "core/types.h"

/* The most bytes a varint takes. */
#define P2P_WIRE_VARINT_BYTES_MAX 10
/* The most bytes p2p_wire_artifact_head_at writes: kind (key and a 5-byte
 * varint), the id (key, length, 32 bytes), the height (key and a 10-byte
 * varint), the body's key and length. */
#define P2P_WIRE_ARTIFACT_HEAD_BYTES_MAX                                       \
    (1 + 5 + 2 + P2P_ID_BYTES + 1 + 10 + 1 + 5)
/* The most a SlotUpdate's head adds before its artifact: two uint64 fields
 * and the artifact's key and length. */
#define P2P_WIRE_SLOT_UPDATE_HEAD_BYTES_MAX (2 * (1 + 10) + 1 + 5)

/* The most bytes p2p_wire_update_ack writes: two uint64 fields. */
#define P2P_WIRE_UPDATE_ACK_BYTES_MAX (2 * (1 + 10))

/* What p2p_wire_fetch_request writes: the id's key, length and bytes. */
#define P2P_WIRE_FETCH_REQUEST_BYTES (2 + P2P_ID_BYTES)

/* Bytes the varint of v takes. */
size_t p2p_wire_varint_size(uint64_t v);

/* Writes the varint of v at out (room for P2P_WIRE_VARINT_BYTES_MAX);
 * returns the bytes written. */
size_t p2p_wire_put_varint(uint8_t *out, uint64_t v);

/* Writes an Artifact {kind, id, body} up to its body's bytes: kind when
 * non-zero, id when non-NULL, then the body's key and length when body_len
 * is non-zero. The body's bytes follow on the wire. Returns the bytes
 * written (at most P2P_WIRE_ARTIFACT_HEAD_BYTES_MAX). */
size_t p2p_wire_artifact_head(uint8_t *out, uint32_t kind,
                              const struct p2p_artifact_id *id,
                              size_t body_len);

/* p2p_wire_artifact_head with the artifact's height (field 4) when
 * non-zero, before the body's key: without one, the same bytes. */
size_t p2p_wire_artifact_head_at(uint8_t *out, uint32_t kind,
                                 const struct p2p_artifact_id *id,
                                 size_t body_len, uint64_t height);

/* Writes UpdateAck {slot_id, commit_id} whole (zero fields left out);
 * returns the bytes written (at most P2P_WIRE_UPDATE_ACK_BYTES_MAX). */
size_t p2p_wire_update_ack(uint8_t *out, uint64_t slot_id, uint64_t commit_id);

/* Writes FetchRequest {id} whole; returns P2P_WIRE_FETCH_REQUEST_BYTES. */
size_t p2p_wire_fetch_request(uint8_t *out, const struct p2p_artifact_id *id);

#endif
