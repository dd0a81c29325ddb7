/* What a stream's bytes carry, told from their first bytes: the traffic
 * classes (core's enum p2p_traffic) by which the simulator counts bytes,
 * so that the replica's p2p_transport_bytes_{sent,received}_total{traffic}
 * mean what the simulator's do (docs/metrics.md).
 *
 * The sender of a message knows its class (core's outbox says it); the
 * receiver does not, so both sides of the replica tell it from the
 * envelope (core/framing.h), as the sender chose it:
 *   request  /artifact/update  push (the SlotUpdate carries the artifact,
 *                              field 3) or advert (anything else: an id,
 *                              a deletion, no body)
 *            /artifact/rpc     fetch
 *            /state-sync/...   state
 *            anything else     other
 *   response to an update      ack (status 200) or other (a rejection)
 *            to an rpc         artifact (200 or 204) or other
 *            to state sync     state
 *            to anything else  other
 *
 * Pure: no allocation, no I/O. Bytes are borrowed for the call. */
#ifndef P2P_PROD_STREAM_TRAFFIC_H
#define P2P_PROD_STREAM_TRAFFIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/outbox.h"

/* Bytes of a stream's start that are enough to decide, whatever the
 * route: the path's tag and length and the longest path, the body's tag
 * and length, a SlotUpdate's two varint fields and the tag after them. */
#define QUIC_TRAFFIC_HEAD_BYTES 128u

/* A route no request named (core's enum p2p_route has fewer values). */
#define QUIC_TRAFFIC_ROUTE_NONE 0xffu

/* The class of a request envelope whose first len bytes are b. True with
 * *traffic and *route (QUIC_TRAFFIC_ROUTE_NONE when the path is not a
 * route) when decided; false when more bytes could still decide. With
 * complete (the envelope ends at b + len, or no more bytes will be
 * looked at) it always decides. */
bool quic_stream_traffic_of_request(const uint8_t *b, size_t len, bool complete,
                                    enum p2p_traffic *traffic, uint8_t *route);

/* The class of a response envelope to a request on route (as
 * quic_stream_traffic_of_request found it), from its first len bytes b; same
 * contract. */
bool quic_stream_traffic_of_response(uint8_t route, const uint8_t *b,
                                     size_t len, bool complete,
                                     enum p2p_traffic *traffic);

#endif
