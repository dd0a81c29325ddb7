/* The replica's state, shared by prod/replica.c (startup, loop, registry,
 * transport events, core's outbox) and prod/replica_admin.c (the admin
 * API's operations). Not for other modules. */
#ifndef P2P_PROD_REPLICA_INT_H
#define P2P_PROD_REPLICA_INT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <ev.h>

#include "core/shim.h"
#include "prod/admin.h"
#include "prod/config.h"
#include "prod/disk_pool.h"
#include "prod/disk_state.h"
#include "prod/registry.h"
#include "quic/tls.h"
#include "prod/transport.h"

/* Received artifacts validated after one drain of the outbox. */
#define PROD_REPLICA_VALIDATE_MAX 4096u
/* Transport refusals (a failed open, a failed dial) fed back to core
 * after one drain. */
#define PROD_REPLICA_FEEDBACK_MAX 4096u

struct prod_feedback {
    bool dial; /* a dial failed; else an open failed */
    uint32_t peer;
    uint64_t stream_id;
};

struct prod_replica {
    struct ev_loop *loop;
    struct prod_config cfg;
    struct prod_registry *reg;  /* the version applied (heap: large) */
    struct prod_registry *next; /* scratch for polling */
    /* The versions in use (reg the latest): whom to dial and accept. */
    struct prod_registry_history hist;
    /* The earliest registry version the node's clients reference, as
     * POST /registry/earliest set it; 0: none set, the earliest in use is
     * the latest. */
    uint64_t earliest_pin;
    uint8_t self_key[QUIC_KEY_ID_LEN];
    char self_hex[65];
    uint32_t self; /* registry index; UINT32_MAX: not yet */
    struct quic_tls *tls;
    struct prod_transport *transport;
    int datadir_lock; /* prod_durable_lock's fd; -1: none */
    struct prod_disk_pool *disk_pool;
    struct prod_disk_state *disk_state;
    struct prod_admin *admin;
    struct p2p_mem mem;
    struct p2p_node *node; /* NULL until the registry lists us */
    ev_timer core_timer, poll_timer;
    ev_signal sigint, sigterm;
    struct p2p_artifact_id validate[PROD_REPLICA_VALIDATE_MAX];
    uint32_t validate_count;
    struct prod_feedback feedback[PROD_REPLICA_FEEDBACK_MAX];
    uint32_t feedback_count;
    bool draining; /* inside drain: no nested drains */
    bool failed;   /* a fatal error stopped the loop */
    uint64_t artifacts_persisted, persist_failures;
    uint64_t refusal_logged_at; /* when a refusal was last logged */
    uint64_t refusals_unlogged; /* refusals since then */
};

uint64_t prod_replica_now(void);
void prod_replica_log(const struct prod_replica *r, enum prod_log_level level,
                      const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Carries out core's outbox, validates what arrived, re-arms the timer. */
void prod_replica_drain(struct prod_replica *r);
/* The earliest registry version in use for a new latest version: the
 * pinned one, at most the latest and at least the one in use; the latest
 * without a pin. */
uint64_t prod_replica_earliest_for(const struct prod_replica *r,
                                   uint64_t latest);
/* The admin API's operations (prod/replica_admin.c); ctx = r. */
const struct prod_admin_ops *prod_replica_admin_ops(struct prod_replica *r,
                                                    struct prod_admin_ops *ops);

#endif
