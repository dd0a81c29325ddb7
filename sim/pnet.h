/* The packet-level network model: single UDP datagrams (QUIC packets)
 * between simulated nodes, for the network model in which real QUIC
 * datagrams travel. sim/net.h models whole messages instead.
 *
 * A datagram of len bytes sent by `from` to `to` at `now`:
 *
 * 1. MTU. One longer than mtu_bytes is dropped (SIM_PNET_DROP_MTU) before
 *    it enters the network: it uses no uplink time and draws nothing.
 * 2. Uplink. It serialises on `from`'s uplink, FIFO, for len * 8 / bps
 *    (in ns, rounded up; a bandwidth of 0 is infinite: no time, no
 *    queue). Drop-tail: when the bytes still queued on the uplink at
 *    `now` (those not yet sent: (uplink_free - now) * bps / 8e9, rounded
 *    down) plus len would exceed queue_bytes, it is dropped
 *    (SIM_PNET_DROP_UPLINK_QUEUE) and reserves nothing.
 * 3. Link. Its last byte leaves the uplink at `sent` and crosses the link
 *    in latency + a uniform jitter in [-jitter, +jitter] (never below 0).
 *    A link is a FIFO path: a datagram whose jitter would make it
 *    overtake the previous one on the same link arrives with it instead,
 *    so jitter alone never reorders one link's datagrams (it does reorder
 *    datagrams of different senders to one receiver, as real paths do).
 *    Having used its uplink time, it vanishes if `to` is a blackhole
 *    (SIM_PNET_DROP_BLACKHOLE), else it is lost with the link's loss_ppm
 *    plus the extra loss (SIM_PNET_DROP_LOSS).
 * 4. Reordering. With reorder_ppm it is held back an extra delay uniform
 *    in [1, reorder_ns] on top of its link time; it does not hold back
 *    the link's later datagrams, which may so overtake it.
 * 5. Duplication. With duplicate_ppm a second copy follows it on the same
 *    path, reaching the downlink 1 ns to reorder_ns (or 1 ms when
 *    reorder_ns is 0) after the first, uniformly; each copy has its own
 *    downlink reservation and its own corruption draw.
 * 6. Downlink. Each copy is taken in by `to`'s downlink at its
 *    bandwidth, len * 8 / bps, in the downlink's idle time from its
 *    arrival from the link on, and arrives when its last byte has left
 *    the downlink (an idle path costs uplink time + link time + downlink
 *    time; a busy downlink queues it). Drop-tail as on the uplink, the
 *    bytes queued at the copy's link arrival being the rest of the busy
 *    span that arrival falls in (SIM_PNET_DROP_DOWNLINK_QUEUE).
 *    Simplification: downlink time is reserved when the datagram is sent,
 *    in send order, not in order of arrival: a copy reaching the downlink
 *    before one sent earlier over a longer (or jittered, or reordered)
 *    path does not push that one back, whose time was given out already,
 *    but fills the idle time around it. So the downlink never carries
 *    more than its bandwidth and is never idle while a copy that has
 *    reached it waits, but such a copy may come out later than in a FIFO
 *    by arrival. Each downlink remembers at most
 *    SIM_PNET_DOWNLINK_SPANS_MAX busy spans not yet over; past that, the
 *    two nearest merge and the idle time between them counts as busy.
 * 7. Corruption. With corrupt_ppm a copy is corrupt: bit `bit`, uniform
 *    in [0, len * 8), is to be flipped (never for len 0).
 *
 * Randomness: the model's own p2p_rng stream, seeded at init. Every
 * datagram within the MTU draws the same values in the same order
 * whatever becomes of it (the draws of a feature whose rate, or a link's
 * jitter, is 0 are skipped): the jitter (jitter > 0), the loss (link +
 * extra loss > 0), the reorder chance and delay (reorder_ppm > 0), the
 * duplicate chance and delay (duplicate_ppm > 0), then for each of two
 * copies the corrupt chance and bit (corrupt_ppm > 0; no bit for len 0).
 * So the results depend only on the seed, the settings and the sequence
 * of calls, and a datagram dropped by a queue shifts no later draw.
 *
 * Arithmetic is integer only (128-bit products where needed); no floating
 * point. Bounded: at most SIM_PNET_NODES_MAX nodes; the links matrix is
 * nodes x nodes of struct sim_pnet_path (32 bytes: 512 MiB at 4096
 * nodes), plus one struct sim_pnet_node per node. */
#ifndef P2P_SIM_PNET_H
#define P2P_SIM_PNET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/rng.h"
#include "core/types.h"
#include "sim/busy_spans.h"

#define SIM_PNET_NODES_MAX 4096u
#define SIM_PNET_QUEUE_BYTES_DEFAULT (1u << 20)
#define SIM_PNET_QUEUE_BYTES_MAX (1ull << 30) /* per uplink or downlink */
#define SIM_PNET_MTU_DEFAULT 1500u /* largest datagram payload carried */
#define SIM_PNET_MTU_MAX 65527u    /* the largest UDP payload (IPv6) */
#define SIM_PNET_PPM 1000000u      /* a rate of 100 % */
/* Busy spans each downlink remembers (the header comment's step 6). */
#define SIM_PNET_DOWNLINK_SPANS_MAX 32u
/* The longest latency, jitter or reorder delay (one hour): with times
 * below 2^62 ns, no sum of them overflows. */
#define SIM_PNET_DELAY_NS_MAX (3600ull * P2P_NS_PER_S)
/* The duplicate's delay bound when reorder_ns is 0. */
#define SIM_PNET_DUPLICATE_NS_DEFAULT P2P_NS_PER_MS

/* One direction of a node pair's link. */
struct sim_pnet_link {
    uint64_t latency_ns, jitter_ns; /* each <= SIM_PNET_DELAY_NS_MAX */
    uint32_t loss_ppm;              /* <= SIM_PNET_PPM */
};

struct sim_pnet_params {
    uint32_t mtu_bytes;     /* datagrams longer are dropped (DROP_MTU);
                               1..SIM_PNET_MTU_MAX */
    uint64_t queue_bytes;   /* each node's uplink and downlink queue,
                               drop-tail; mtu_bytes..QUEUE_BYTES_MAX */
    uint32_t reorder_ppm;   /* chance per datagram of an extra delay */
    uint64_t reorder_ns;    /* that extra delay is uniform in
                               [1, reorder_ns]; > 0 when reorder_ppm is */
    uint32_t duplicate_ppm; /* chance per datagram of a second copy */
    uint32_t corrupt_ppm;   /* chance per copy that one bit is flipped */
};

/* What became of a datagram (or of one copy of it). */
enum sim_pnet_drop {
    SIM_PNET_DELIVERED,
    SIM_PNET_DROP_MTU,
    SIM_PNET_DROP_UPLINK_QUEUE,
    SIM_PNET_DROP_DOWNLINK_QUEUE,
    SIM_PNET_DROP_LOSS,
    SIM_PNET_DROP_BLACKHOLE,
    SIM_PNET_DROP_COUNT
};

/* "delivered", "mtu", "uplink_queue", "downlink_queue", "loss",
 * "blackhole"; "?" for a value out of range. Static strings. */
const char *sim_pnet_drop_name(enum sim_pnet_drop d);

/* One copy that arrives. */
struct sim_pnet_arrival {
    p2p_time at;  /* when its last byte has left the receiver's downlink */
    bool corrupt; /* flip bit `bit` of the datagram (bit < len * 8) */
    uint32_t bit; /* 0 when not corrupt */
};

/* For reports. Every datagram sent is either dropped whole (before
 * duplication) or becomes one or two copies, each delivered or dropped:
 * sent + duplicated == delivered + the sum of dropped[]. */
struct sim_pnet_counters {
    uint64_t sent, sent_bytes;             /* every sim_pnet_send */
    uint64_t delivered, delivered_bytes;   /* copies that arrive */
    uint64_t dropped[SIM_PNET_DROP_COUNT]; /* per reason; [DELIVERED] 0 */
    uint64_t dropped_bytes[SIM_PNET_DROP_COUNT];
    uint64_t reordered;  /* datagrams held back past the link */
    uint64_t duplicated; /* second copies made (past the loss) */
    uint64_t corrupted;  /* copies delivered with a flipped bit */
};

/* One direction of a link and its FIFO state. */
struct sim_pnet_path {
    struct sim_pnet_link link;
    p2p_time last_ns; /* latest arrival from the link, before reordering */
};

/* A node's access links. */
struct sim_pnet_node {
    uint64_t uplink_bps, downlink_bps; /* 0: infinite */
    p2p_time uplink_free;              /* its last reserved byte is sent */
    bool blackhole;                    /* every datagram to it vanishes */
    uint32_t spans_count;
    /* The downlink's reservations not yet over, in order, apart (one
     * more entry for the one being merged in). */
    struct sim_busy_span spans[SIM_PNET_DOWNLINK_SPANS_MAX + 1];
};

struct sim_pnet {
    uint32_t nodes;                    /* 1..SIM_PNET_NODES_MAX */
    struct sim_pnet_params params;     /* copied at init */
    struct sim_pnet_path *paths;       /* owned, nodes x nodes, [from][to] */
    struct sim_pnet_node *node;        /* owned, nodes */
    uint32_t extra_loss_ppm;           /* added on every link (a loss fault) */
    struct p2p_rng rng;                /* the model's own stream */
    struct sim_pnet_counters counters; /* read them directly */
};

/* The defaults: SIM_PNET_MTU_DEFAULT, SIM_PNET_QUEUE_BYTES_DEFAULT, no
 * reordering, duplication or corruption. */
void sim_pnet_params_default(struct sim_pnet_params *params);

/* Sets up p for `nodes` nodes with the given params (copied; NULL: the
 * defaults) and the random stream of `seed`. Links start with no latency,
 * jitter or loss and nodes with infinite bandwidth. Returns 0,
 * P2P_ERR_INVALID_ARG (nodes is 0 or above SIM_PNET_NODES_MAX, or a
 * param is out of its range above; p is left zeroed) or P2P_ERR_NOMEM.
 * On success sim_pnet_fini frees it. */
int sim_pnet_init(struct sim_pnet *p, uint32_t nodes,
                  const struct sim_pnet_params *params, uint64_t seed);
/* Frees what init allocated and zeroes p; safe on a zeroed p. */
void sim_pnet_fini(struct sim_pnet *p);

/* Sets the link from `from` to `to` (both < nodes; l's delays within
 * SIM_PNET_DELAY_NS_MAX, its loss within SIM_PNET_PPM: asserted) for
 * datagrams sent from now on. */
void sim_pnet_set_link(struct sim_pnet *p, uint32_t from, uint32_t to,
                       const struct sim_pnet_link *l);
/* Sets every link, both directions and each node's own, to *l. */
void sim_pnet_set_all_links(struct sim_pnet *p, const struct sim_pnet_link *l);
/* Sets `node`'s access bandwidths in bit/s (0: infinite) for datagrams
 * sent from now on; what is reserved stays. */
void sim_pnet_set_bandwidth(struct sim_pnet *p, uint32_t node,
                            uint64_t uplink_bps, uint64_t downlink_bps);
/* A loss added to every link's (a loss fault); ppm <= SIM_PNET_PPM. */
void sim_pnet_set_extra_loss(struct sim_pnet *p, uint32_t ppm);
/* While on, every datagram to `node` vanishes after its uplink time. */
void sim_pnet_set_blackhole(struct sim_pnet *p, uint32_t node, bool on);

/* A datagram of len bytes sent by `from` to `to` (both < nodes) at `now`,
 * which never goes back from one call to the next (a downlink forgets
 * its reservations over by `now`).
 * Returns how many copies arrive (0, 1 or 2), their arrivals in out[0..n)
 * in order of arrival (a second copy never arrives before the first),
 * and in *why SIM_PNET_DELIVERED when one or more arrive, else the reason
 * it was dropped (of the first copy when both are dropped). Updates the
 * uplink, downlink and link reservations and the counters. */
size_t sim_pnet_send(struct sim_pnet *p, p2p_time now, uint32_t from,
                     uint32_t to, size_t len, struct sim_pnet_arrival out[2],
                     enum sim_pnet_drop *why);

/* When `node`'s uplink has sent every datagram reserved on it. */
p2p_time sim_pnet_uplink_free(const struct sim_pnet *p, uint32_t node);
/* Whether node's uplink queue has room for a datagram of len bytes at now
 * (sim_pnet_send would not drop it as SIM_PNET_DROP_UPLINK_QUEUE); if not,
 * *room_at is when it will have (> now). Draws nothing. A datagram over
 * the MTU counts as taken (the send drops it as such). */
bool sim_pnet_uplink_takes(const struct sim_pnet *p, p2p_time now,
                           uint32_t node, size_t len, p2p_time *room_at);

/* Asserts every node's and the counters' invariants: O(nodes). */
void sim_pnet_invariants(const struct sim_pnet *p);

#endif
