/* The RPC routes, the transport's cap on one envelope and the per-route
 * size limits: the types a node's config names (core/config.h). The
 * envelopes and their readers are in core/framing.h. */
#ifndef P2P_CORE_ROUTES_H
#define P2P_CORE_ROUTES_H

#include <stddef.h>

/* The transport's cap on one envelope (either direction), as in the IC. */
#define P2P_FRAME_MESSAGE_BYTES_MAX (128u << 20)

/* The routing table. Values index p2p_route_limits; they are also carried
 * in outbox actions, so only append. */
enum p2p_route {
    P2P_ROUTE_ARTIFACT_UPDATE, /* "/artifact/update": SlotUpdate -> UpdateAck */
    P2P_ROUTE_ARTIFACT_RPC,    /* "/artifact/rpc": FetchRequest -> Artifact */
    P2P_ROUTE_STATE_ADVERT,    /* "/state-sync/advert": StateAdvert -> 200 */
    P2P_ROUTE_STATE_CHUNK,     /* "/state-sync/chunk": ChunkRequest ->
                                  manifest or chunk bytes (200), 204 */
    P2P_ROUTES_COUNT
};

/* Per-route limits on the whole encoded envelope, in bytes. A reader also
 * caps every limit at P2P_FRAME_MESSAGE_BYTES_MAX. */
struct p2p_route_limits {
    size_t request_bytes_max[P2P_ROUTES_COUNT];  /* what a peer may send us */
    size_t response_bytes_max[P2P_ROUTES_COUNT]; /* what a peer may answer */
};

#endif
