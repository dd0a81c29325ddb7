/* What the transport counts, per peer and in total, for /metrics
 * (prod/admin_metrics.c writes them as Prometheus families). */
#ifndef P2P_PROD_PEER_STATS_H
#define P2P_PROD_PEER_STATS_H

#include <stdint.h>

/* Why a handshake was refused before any protocol message was read. */
enum prod_refusal {
    PROD_REFUSE_NOT_MEMBER,  /* the peer's key is not in the registry */
    PROD_REFUSE_NO_CERT,     /* no certificate, or one we cannot parse */
    PROD_REFUSE_BANNED,      /* core refuses the peer (ban, dial rule) */
    PROD_REFUSE_TLS,         /* any other TLS failure (ALPN, alert) */
    PROD_REFUSE_LIMIT,       /* too many connections */
    PROD_REFUSE_COUNT
};

const char *prod_refusal_name(enum prod_refusal r);

/* One registry member as the transport sees it. */
struct prod_peer_stats {
    uint32_t index;           /* core's node id */
    char id_hex[65];          /* node id: SHA-256 of the SPKI, hex */
    const char *conn_state;   /* "up", "dialing", "idle", "wait" */
    uint64_t bytes_sent, bytes_received;       /* stream payload bytes */
    uint64_t messages_sent, messages_received; /* streams (one RPC each) */
    uint64_t streams_reset;
    uint64_t handshakes;      /* completed connections, both directions */
    uint64_t rtt_us;          /* smoothed RTT of the current connection */
};

struct prod_transport_totals {
    uint64_t refusals[PROD_REFUSE_COUNT];
    uint64_t conns_dialled, conns_accepted, conns_closed;
    uint64_t udp_datagrams_in, udp_datagrams_out;
    uint64_t udp_bytes_in, udp_bytes_out;
    uint64_t conns_up;        /* gauge */
};

#endif
