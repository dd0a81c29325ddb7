/* What the transport counts, per peer and in total, for /metrics
 * (prod/admin_metrics.c writes them as Prometheus families). */
#ifndef P2P_PROD_PEER_STATS_H
#define P2P_PROD_PEER_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/outbox.h"

/* Why a handshake was refused before any protocol message was read. */
enum quic_refusal {
    QUIC_REFUSE_NOT_MEMBER,   /* the peer's key is not in the registry */
    QUIC_REFUSE_NO_CERT,      /* no certificate, or one we cannot parse */
    QUIC_REFUSE_BANNED,       /* core refuses the peer: banned for
                                misbehaviour */
    QUIC_REFUSE_TLS,          /* any other TLS failure (ALPN, alert) */
    QUIC_REFUSE_LIMIT,        /* too many connections */
    QUIC_REFUSE_BAD_CERT,     /* a certificate the IC would refuse: not
                                Ed25519, not self-signed, a self-signature
                                that does not verify, outside its validity
                                period (quic_cert_check) */
    QUIC_REFUSE_DUPLICATE,    /* the key already has a live connection from
                                another address: a second process with the
                                same identity (docs/replica.md); also our
                                own key from elsewhere */
    QUIC_REFUSE_OURS_TO_DIAL, /* a member with a higher id than ours: the
                                lower id dials (core's dial rule), so we
                                dial it and take no handshake from it */
    QUIC_REFUSE_COUNT
};

/* The reason's name: the label value of handshake_refusals_total and the
 * reason phrase of the CONNECTION_CLOSE that refuses the handshake, so
 * that the refused side (p2p-replica probe) can say why. */
const char *quic_peer_stats_refusal_name(enum quic_refusal r);
/* The reason named by phrase[0..len) (not NUL-terminated): true with *out,
 * false when no reason has that name. */
bool quic_peer_stats_refusal_from_name(const char *phrase, size_t len,
                                       enum quic_refusal *out);

/* Why a packet with an unknown connection id started no connection, or
 * why a connection it started never completed its handshake (refusals
 * excluded: they are counted by enum quic_refusal). Every Initial that
 * made a connection ends as exactly one of: accepted (handshake done),
 * a refusal, or QUIC_DROP_BAD_INITIAL / _TIMEOUT / _ABORTED. */
enum quic_initial_drop {
    QUIC_DROP_MALFORMED,   /* not a QUIC packet header we can read */
    QUIC_DROP_VERSION,     /* a long header of a QUIC version we lack */
    QUIC_DROP_NOT_INITIAL, /* a long header that is not a client Initial
                                (or one shorter than 1200 bytes) */
    QUIC_DROP_BAD_INITIAL, /* an Initial whose first packet did not
                                decrypt or parse */
    QUIC_DROP_TIMEOUT,     /* the handshake did not finish in time */
    QUIC_DROP_ABORTED,     /* the handshake ended otherwise (the client
                                closed it, a protocol error, shutdown) */
    QUIC_DROP_COUNT
};

const char *quic_peer_stats_initial_drop_name(enum quic_initial_drop d);

/* Why a stateless reset was not sent for a short-header packet with an
 * unknown connection id. */
enum quic_reset_unsent {
    QUIC_RESET_UNSENT_SMALL, /* the packet was too small to answer: a
                                reset must be smaller than its trigger */
    QUIC_RESET_UNSENT_RATE,  /* past PROD_TRANSPORT_RESETS_PER_S */
    QUIC_RESET_UNSENT_COUNT
};

const char *quic_peer_stats_reset_unsent_name(enum quic_reset_unsent u);

/* Room for a peer's reason phrase (longer ones are cut). */
#define QUIC_REMOTE_CLOSE_BYTES 32

/* The reason phrase of a connection closed because a newer one with the
 * same key came up (from the same address, or the old one was quiet). */
#define QUIC_CLOSE_REPLACED "replaced"

/* One registry member as the transport sees it. */
struct quic_peer_stats {
    uint32_t index;                      /* core's node id */
    char id_hex[65];                     /* node id: SHA-256 of the SPKI, hex */
    const char *conn_state;              /* "up", "dialing", "idle", "wait" */
    uint64_t bytes_sent, bytes_received; /* stream payload bytes */
    uint64_t messages_sent, messages_received; /* streams (one RPC each) */
    /* Streams with the peer ended by a reset, while core still had them:
     * received (the peer reset or stopped them, or they closed under
     * core), sent (core abandoned them: a deadline, a refusal, an answer
     * past the send budget). */
    uint64_t streams_reset_received, streams_reset_sent;
    uint64_t handshakes; /* completed connections, both directions */
    uint64_t duplicates; /* handshakes refused as QUIC_REFUSE_DUPLICATE */
    uint64_t rtt_us;     /* smoothed RTT of the current connection */
    /* The reason phrase of the last CONNECTION_CLOSE the peer sent us
     * (a refusal's quic_peer_stats_refusal_name, "replaced", ...;
     * printable ASCII), "" when it sent none. */
    char remote_close[QUIC_REMOTE_CLOSE_BYTES];
};

struct quic_endpoint_totals {
    uint64_t refusals[QUIC_REFUSE_COUNT];
    uint64_t initials_dropped[QUIC_DROP_COUNT];
    /* conns_accepted: inbound connections whose handshake completed. */
    uint64_t conns_dialled, conns_accepted, conns_closed;
    /* Connections closed because they stalled (quic/endpoint.c). */
    uint64_t conns_stalled;
    uint64_t resets_sent, resets_received;
    uint64_t resets_unsent[QUIC_RESET_UNSENT_COUNT];
    uint64_t udp_datagrams_in, udp_datagrams_out;
    uint64_t udp_bytes_in, udp_bytes_out;
    uint64_t conns_up; /* gauge */
    /* Stream payload bytes by traffic class (prod/stream_traffic.h), as
     * the simulator counts them; their sums equal the per-peer bytes. */
    uint64_t bytes_sent[P2P_TRAFFIC_COUNT], bytes_received[P2P_TRAFFIC_COUNT];
    /* Messages (one envelope each: a request or a response). */
    uint64_t messages_sent, messages_received;
};

#endif
