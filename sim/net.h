/* The message-level network model.
 *
 * Two classes of messages, as the replica's transport sends them: small
 * ones (at most SIM_NET_SMALL_BYTES: updates, acknowledgements, requests)
 * go ahead of large ones on both ends, queueing only behind other small
 * ones, and push the large class's reservations back by their own transfer
 * time, so each link's capacity is still respected; large ones (artifact
 * and chunk answers, big pushes) are sent one at a time (sim/run.c queues
 * them and hands them here when the uplink is free, so a stream reset
 * before a large message starts frees its uplink time).
 *
 * A message from a to b: serialises on a's uplink (size / bandwidth, FIFO),
 * crosses the link (latency + uniform jitter in [-jitter, +jitter], never
 * below zero), and occupies b's downlink (size / bandwidth) from its first
 * byte's arrival: pipelined, so an idle path costs latency + one transfer
 * time, and a busy uplink or downlink queues it. Downlink time is
 * reserved when the message is sent (one event per message), in the
 * downlink's idle time from the first byte's arrival on
 * (sim/busy_spans.h): a message arriving before time reserved earlier for
 * a message sent over a longer link fills the idle time before that
 * reservation instead of queueing behind it, and times already handed
 * out never move, so the downlink never carries more than its bandwidth.
 * Each downlink keeps two lists of busy spans not yet over, at most
 * SIM_NET_DOWNLINK_SPANS_MAX each (past that the two nearest merge, the
 * idle time between them counting as busy): the small class's, which
 * small messages fill, and every message's, which large messages fill
 * and in which a small message also takes its transfer time from its
 * start on (pushing the large class's later reservations back). Loss is
 * modelled as retransmission
 * delay: with the chance that at least one of the message's packets is lost,
 * the message is late by one retransmission timeout (two round trips); a
 * further round is needed when some packet was lost twice, and so on. The
 * recovery delays that message only, not the links' reservations. */
#ifndef P2P_SIM_NET_H
#define P2P_SIM_NET_H

#include <stdbool.h>
#include <stdint.h>

#include "core/rng.h"
#include "core/types.h"
#include "sim/busy_spans.h"
#include "sim/scenario.h"

#define SIM_NET_PACKET_BYTES 1200u      /* QUIC-sized packets, for loss */
#define SIM_NET_SMALL_BYTES (64u << 10) /* the replica's small streams */
#define SIM_NET_LOSS_ROUNDS_MAX 16      /* retransmission rounds modelled */
/* Busy spans each downlink remembers per list (the header comment). */
#define SIM_NET_DOWNLINK_SPANS_MAX 32u

struct sim_link {
    uint64_t latency_ns, jitter_ns;
    uint32_t loss_ppm;
};

/* The loss model's chances for one (loss rate, packet count): worked out
 * with pow() once and remembered, since most messages on a run repeat a
 * few sizes and rates. Same inputs, same doubles: traces are unchanged. */
#define SIM_NET_LOSS_MEMO 512u /* direct-mapped entries */
struct sim_loss_memo {
    uint32_t ppm; /* 0: empty (a rate of 0 never asks) */
    uint64_t packets;
    uint32_t chance_ppm[SIM_NET_LOSS_ROUNDS_MAX]; /* round k needed */
};

/* A node's downlink: its reservations not yet over, in order, apart (one
 * more entry each for the one being merged in). While no large message's
 * time is among them the two lists are equal, and only small[] is kept:
 * the same results for half the work. */
struct sim_net_downlink {
    bool apart; /* all[] holds every message's list; else small[] does */
    uint32_t small_count, all_count;
    struct sim_busy_span small[SIM_NET_DOWNLINK_SPANS_MAX + 1]; /* small */
    struct sim_busy_span all[SIM_NET_DOWNLINK_SPANS_MAX + 1];   /* every */
};

struct sim_net {
    uint32_t nodes;
    struct sim_link *links; /* nodes x nodes, [from * nodes + to] */
    uint64_t *uplink_bps, *downlink_bps;
    p2p_time *uplink_free;         /* the large class's uplink */
    p2p_time *small_up_free;       /* the small class's uplink */
    struct sim_net_downlink *down; /* owned, one per node */
    p2p_time last_send;            /* the latest sim_net_send's now */
    uint32_t burst_loss_ppm;       /* extra loss on every link (a loss fault) */
    struct p2p_rng rng;            /* the network's own stream */
    struct sim_loss_memo *loss_memo; /* owned, SIM_NET_LOSS_MEMO entries */
};

/* Builds the link matrix from the scenario; 0 or P2P_ERR_NOMEM. */
int sim_net_init(struct sim_net *net, const struct sim_scenario *s,
                 uint32_t nodes, uint64_t seed);
void sim_net_fini(struct sim_net *net);

/* When a message of len bytes sent by `from` at `now` is fully received
 * by `to`. Updates the uplink and downlink reservations (of the small
 * class when len <= SIM_NET_SMALL_BYTES). `now` never goes back from one
 * call to the next (asserted: a downlink forgets its reservations over
 * by `now`). */
p2p_time sim_net_send(struct sim_net *net, p2p_time now, uint32_t from,
                      uint32_t to, uint64_t len);

/* Asserts every downlink's busy spans are bounded, non-empty, in order
 * and apart: O(nodes x SIM_NET_DOWNLINK_SPANS_MAX). */
void sim_net_invariants(const struct sim_net *net);

/* When `node`'s uplink has sent every large message handed to it. */
p2p_time sim_net_uplink_free(const struct sim_net *net, uint32_t node);

/* For reports; these change nothing. Right after sim_net_send(.., from,
 * .., len): the interval [*start, *end) in which `from`'s uplink
 * serialised that message (a later small message cutting into a large
 * one's interval moves the large one's real end, not what this said). */
void sim_net_uplink_span(const struct sim_net *net, uint32_t from, uint64_t len,
                         p2p_time *start, p2p_time *end);
/* How long `node`'s downlink takes to take in len bytes. */
p2p_time sim_net_downlink_ns(const struct sim_net *net, uint32_t node,
                             uint64_t len);

#endif
