/* Forged wire bytes for byzantine nodes in the simulator.
 *
 * A byzantine node misbehaves on the wire (docs/scenario-format.md: garbage
 * frames, oversized frames, adverts it cannot serve, wrong bytes for an
 * id). These pure functions make the bytes; the simulator decides when to
 * send them. Every forged message is built from core's own encoders
 * (framing, wire_pack) wherever an honest node would write the same bytes,
 * so a forgery differs from honest traffic only where it means to.
 *
 * Pure: no clock, no globals; randomness only from a caller's p2p_rng.
 * Results are allocated with malloc (sim side, not p2p_mem): the caller
 * owns *out and frees it with free(). On error nothing is allocated and
 * the outputs are untouched. Core's encoders run on a private scratch
 * p2p_mem that is empty again when each call returns. */
#ifndef P2P_SIM_BYZANTINE_FORGE_H
#define P2P_SIM_BYZANTINE_FORGE_H

#include <stddef.h>
#include <stdint.h>

#include "core/framing.h"
#include "core/rng.h"
#include "core/types.h"

/* The most garbage one call makes: enough to span several reads, small
 * enough that a flood of it costs the simulator little. */
#define SIM_FORGE_GARBAGE_BYTES_MAX (64u << 10)

/* The most filler after an oversize prefix: enough to carry the envelope
 * past any route's limit (limits are capped at the message maximum). */
#define SIM_FORGE_FILLER_BYTES_MAX P2P_FRAME_MESSAGE_BYTES_MAX

/* The largest response envelope sim_byzantine_forge_corrupt_response takes: the
 * transport's cap, as for an honest one. */
#define SIM_FORGE_RESPONSE_BYTES_MAX P2P_FRAME_MESSAGE_BYTES_MAX

/* What sim_byzantine_forge_corrupt_response XORs into one body byte: one bit,
 * the smallest change, which SHA-256 must still catch. */
#define SIM_FORGE_CORRUPT_XOR 0x01u

/* Makes len random bytes (1 <= len <= SIM_FORGE_GARBAGE_BYTES_MAX) that no
 * reader can take for an envelope: the first byte is a one-byte protobuf
 * tag with wire type 6 or 7, which protobuf does not define. So a
 * request-mode p2p_frame_reader fails its first non-empty feed with
 * P2P_ERR_DECODE (the path must come first), a response-mode reader fails
 * its finish with P2P_ERR_DECODE (or a feed with P2P_ERR_OVERSIZE past the
 * route's limit), and protobuf-c refuses it, whatever the other bytes are.
 * Draws from rng (borrowed) only. On success *out (owned by the caller,
 * free()) holds len bytes.
 * Errors: P2P_ERR_INVALID_ARG (NULL rng or out, len 0 or above the
 * maximum), P2P_ERR_NOMEM. */
int sim_byzantine_forge_garbage(struct p2p_rng *rng, size_t len, uint8_t **out);

/* Makes the start of a request envelope for route whose body field
 * declares limit + 1 bytes, where limit is limits->request_bytes_max[route]
 * capped at P2P_FRAME_MESSAGE_BYTES_MAX as the reader caps it, followed by
 * filler zero bytes (filler <= SIM_FORGE_FILLER_BYTES_MAX). The path part
 * is what p2p_frame_request_encode writes; the body's tag and length are
 * written here, since the declared body is never sent. No valid envelope
 * starts this way. A reader refuses it with P2P_ERR_OVERSIZE once the
 * bytes received pass the limit (see sim_byzantine_forge_oversize_filler_min);
 * before that, the current reader only reports P2P_ERR_TRUNCATED at the
 * stream's end (it checks bytes received, not lengths declared). limits
 * is borrowed. On success *out (owned, free()) holds *len bytes.
 * Errors: P2P_ERR_INVALID_ARG (route not in the table, NULL pointer,
 * filler above the maximum), P2P_ERR_NOMEM. */
int sim_byzantine_forge_oversize(enum p2p_route route,
                                 const struct p2p_route_limits *limits,
                                 size_t filler, uint8_t **out, size_t *len);

/* Stores in *filler the least filler with which sim_byzantine_forge_oversize's
 * envelope passes the route's limit, so that a reader fed it fails with
 * P2P_ERR_OVERSIZE before the stream ends (0 when the prefix alone passes
 * it). Always <= SIM_FORGE_FILLER_BYTES_MAX. limits is borrowed.
 * Errors: P2P_ERR_INVALID_ARG (route not in the table, NULL pointer),
 * P2P_ERR_NOMEM. */
int sim_byzantine_forge_oversize_filler_min(
    enum p2p_route route, const struct p2p_route_limits *limits,
    size_t *filler);

/* What a forged advert says: slot `slot` holds, since commit commit_id,
 * the artifact id (borrowed) of this kind and size. */
struct sim_byzantine_forge_advert_spec {
    uint32_t slot;
    uint64_t commit_id;
    const struct p2p_artifact_id *id;
    enum p2p_artifact_kind kind;
    uint64_t size;
};

/* Makes a complete request envelope on P2P_ROUTE_ARTIFACT_UPDATE carrying
 * a SlotUpdate {commit_id, slot_id = slot, ref = {id, kind, size}} as a
 * (borrowed) says: the bytes an honest sender writes to advertise id,
 * built with the same message and encoders. A byzantine node adverts what
 * it will not serve (or claims any size). On success *out (owned, free())
 * holds *len bytes.
 * Errors: P2P_ERR_INVALID_ARG (NULL pointer, kind not a p2p_artifact_kind),
 * P2P_ERR_NOMEM. */
int sim_byzantine_forge_advert(const struct sim_byzantine_forge_advert_spec *a,
                               uint8_t **out, size_t *len);

/* Takes a response envelope in[0..len) as an honest node answers an
 * /artifact/rpc fetch (Response {status, body = Artifact}) and, when its
 * Artifact carries a non-empty body, makes the same response with one
 * body byte (the middle one) XORed with SIM_FORGE_CORRUPT_XOR: status,
 * kind, any id field and unknown Artifact fields are kept, so the answer
 * is well-formed but its body no longer hashes to the id. Re-encoded with
 * core's encoders, an honest (canonical) envelope comes back the same
 * length with exactly one byte changed; unknown envelope fields, which
 * honest nodes never write, are dropped. in is borrowed (NULL only when
 * len is 0).
 * Returns 1 with *out (owned, free()) and *out_len set; 0 when there is
 * no body to corrupt (empty response body, e.g. 204 not found, or an
 * Artifact with an empty body), with *out = NULL and *out_len = 0.
 * Errors: P2P_ERR_INVALID_ARG (NULL pointer), P2P_ERR_OVERSIZE (len above
 * SIM_FORGE_RESPONSE_BYTES_MAX), P2P_ERR_TRUNCATED or P2P_ERR_DECODE (not
 * a response envelope, as the reader says; or a body that is not an
 * Artifact), P2P_ERR_NOMEM. */
int sim_byzantine_forge_corrupt_response(const uint8_t *in, size_t len,
                                         uint8_t **out, size_t *out_len);

#endif
