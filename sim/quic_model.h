/* The quic network model: every node runs the replica's own QUIC endpoint
 * (quic/endpoint.h: ngtcp2 + GnuTLS, mutual TLS 1.3, the registry check
 * inside the handshake) and its datagrams cross a simulated packet network
 * (sim/pnet.h). Chosen by `network.model: quic` or `--model quic`
 * (docs/scenario-format.md); the message model (sim/net.h, sim/conn.c)
 * stays the default.
 *
 * What it replaces: core's dials and closes go to the node's endpoint
 * instead of sim/conn.c, and every message (sim_uplink_send) becomes a
 * stream on it; the endpoint's callbacks (a peer up or down, a dial that
 * failed, stream bytes, a reset) become core inputs. Everything else of
 * the run (workload, faults, expectations, state sync, byzantine
 * behaviours at the stream level, the trace) is the message model's.
 *
 * A node's own uplink is its network card: when its queue is full it
 * takes no more (the endpoint keeps the rest and waits, as the replica
 * waits for a socket that said EAGAIN) rather than dropping them; the
 * receiver's downlink drops at its queue's tail, as a router does.
 *
 * Addresses: node n is 10.0.0.0 + n; its endpoint listens on port
 * SIM_QUIC_SERVER_PORT (the registry's address) and dials from
 * SIM_QUIC_CLIENT_PORT behind a NAT that maps it to public port
 * SIM_QUIC_NAT_PORT_BASE + k, k its rebinds so far (fault nat_rebind);
 * datagrams to an older public port are dropped. A handshake_flood node
 * dials from SIM_QUIC_FLOOD_PORT with a key that is no member's.
 *
 * Keys and certificates are made per node from the seed
 * (sim/quic_identity.h). The endpoint's randomness is a p2p_rng stream per
 * node and incarnation; its `now` is the node's local clock; certificates
 * are judged at SIM_QUIC_WALL_EPOCH_S plus local seconds. GnuTLS's own
 * randomness (TLS randoms, key shares) changes only ciphertext, never a
 * size or a time, and the trace records datagrams by size, time and
 * header type only: same seed, same trace.
 *
 * Ordering: a drain only queues work on endpoints (no callback runs
 * inside it); sim_world_settle then flushes every endpoint touched
 * (sim_quic_model_flush), whose callbacks may mark nodes again, until
 * nothing is left. */
#ifndef P2P_SIM_QUIC_MODEL_H
#define P2P_SIM_QUIC_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "core/types.h"

#define SIM_QUIC_SERVER_PORT 4100u
#define SIM_QUIC_CLIENT_PORT 5000u
#define SIM_QUIC_FLOOD_PORT 6000u
#define SIM_QUIC_NAT_PORT_BASE 20000u
#define SIM_QUIC_NAT_PORTS 10000u /* public ports cycle through these */
/* 2026-01-01T00:00:00Z: the wall clock certificates are judged by at a
 * node's local time 0. */
#define SIM_QUIC_WALL_EPOCH_S 1767225600LL
/* Datagrams in flight at once over the whole network; past it a datagram
 * is dropped and counted (as "sim_limit"). */
#define SIM_QUIC_DATAGRAMS_IN_FLIGHT_MAX (1u << 22)
/* Core inputs one node's endpoint owes it (failed opens and dials), at
 * most; past it they are dropped (core's deadlines recover). */
#define SIM_QUIC_FEEDBACK_MAX 4096u
/* Node ids the quic model runs at most (each endpoint holds per-peer
 * tables of QUIC_ENDPOINT_PEERS_MAX). */
#define SIM_QUIC_NODES_MAX 4096u

struct sim_world;
struct sim_event;
struct sim_msg;

/* Sets up the model for w (w->sc, w->nodes_count, w->seed set): the
 * packet network from the scenario, every node id's identity. 0, or
 * P2P_ERR_NOMEM / P2P_ERR_LIMIT / P2P_ERR_INTERNAL with a message on
 * stderr. */
int sim_quic_model_new(struct sim_world *w);
void sim_quic_model_del(struct sim_world *w);

/* A node (re)started: a new endpoint with its identity. */
int sim_quic_model_node_start(struct sim_world *w, uint32_t node);
/* A node crashed: its endpoint is gone without a word (no close is
 * sent); datagrams to it are dropped until it restarts. */
void sim_quic_model_node_crash(struct sim_world *w, uint32_t node);

/* Core's actions (run.c's drain). */
void sim_quic_model_dial(struct sim_world *w, uint32_t node, uint32_t peer);
void sim_quic_model_close(struct sim_world *w, uint32_t node, uint32_t peer,
                          int reason);
/* A message from core or a byzantine forgery (owned: freed here): an open,
 * an answer or a reset of a stream on the connection to m->to. */
void sim_quic_model_send_msg(struct sim_world *w, uint32_t from,
                             struct sim_msg *m);

/* node's endpoint has work (its clock changed: re-arm its timer). */
void sim_quic_model_touch(struct sim_world *w, uint32_t node);
/* A skew fault on node: its endpoint's clock takes the new drift, not the
 * offset (see struct qnode in quic_model.c), and re-arms its timer. */
void sim_quic_model_skew(struct sim_world *w, uint32_t node, int64_t drift_ppm);

/* Flushes every endpoint with work and gives core what its endpoint owes
 * it. True when that marked some node (settle again). */
bool sim_quic_model_flush(struct sim_world *w);

/* Events: a datagram arrives (SIM_EV_DATAGRAM, ptr owned), an endpoint's
 * timer (SIM_EV_QUIC_TIMER). */
void sim_quic_model_on_datagram(struct sim_world *w, struct sim_event *e);
void sim_quic_model_on_timer(struct sim_world *w, uint32_t node, p2p_time at);
/* The node's uplink queue has room again (SIM_EV_QUIC_WRITABLE). */
void sim_quic_model_on_writable(struct sim_world *w, uint32_t node);
/* Frees a SIM_EV_DATAGRAM's datagram. */
void sim_quic_model_free_datagram(struct sim_world *w, void *ptr);

/* Whether node's endpoint has its connection to peer up. */
bool sim_quic_model_up(const struct sim_world *w, uint32_t node, uint32_t peer);

/* Faults. */
void sim_quic_model_set_extra_loss(struct sim_world *w, uint32_t ppm);
void sim_quic_model_blackhole(struct sim_world *w, uint32_t node, bool on);
void sim_quic_model_nat_rebind(struct sim_world *w, uint32_t node);
/* A byzantine node's behaviour started (slow reader: its downlink), and
 * its packet-level misdeeds (garbage datagrams, a handshake flood). */
void sim_quic_model_byzantine_start(struct sim_world *w, uint32_t node);
void sim_quic_model_byzantine_tick(struct sim_world *w, uint32_t node);

/* For the summary. */
struct sim_quic_model_totals {
    uint64_t datagrams_sent, datagram_bytes_sent;
    uint64_t datagrams_delivered, datagrams_dropped;
    uint64_t dropped_partition, dropped_network, dropped_nat, dropped_down;
    uint64_t handshakes, refusals;
    uint64_t stalls; /* connections the endpoints closed as stalled */
};
void sim_quic_model_totals(const struct sim_world *w,
                           struct sim_quic_model_totals *out);

#endif
