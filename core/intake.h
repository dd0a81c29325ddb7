/* Internal: the intake, where an artifact body from a peer (pushed, or
 * fetched by the downloader) enters the unvalidated pool and the client
 * hears of it, and where it leaves again if every advertiser withdraws it
 * before the client takes it. A leaf: it borrows the pool, the outbox and
 * the counters from the environment. Cross-file internal names carry
 * p2p__intake_. */
#ifndef P2P_CORE_INTAKE_H
#define P2P_CORE_INTAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/env.h"

/* An artifact body that hashes to id (p2p__intake_accept's options). */
struct p2p_intake {
    p2p_node_id peer;                 /* who sent it */
    const struct p2p_artifact_id *id; /* borrowed for the call */
    enum p2p_artifact_kind kind;
    /* The body: shared (borrowed; the pool takes a reference), or
     * body[0..len) (borrowed, copied) when shared is NULL. */
    struct p2p_body *shared;
    const uint8_t *body;
    size_t len;
    uint64_t height; /* as the artifact carried it; 0: none */
};

/* Into the unvalidated pool, with a P2P_ACT_ARTIFACT_RECEIVED for the
 * client. Errors (nothing kept): P2P_ERR_EXISTS (held already),
 * P2P_ERR_LIMIT (the pool's bound: counted in pool_full, with an event),
 * P2P_ERR_NOMEM, and the outbox's errors. The caller then ends the id's
 * download on success. */
int p2p__intake_accept(const struct p2p_env *env, p2p_time now,
                       const struct p2p_intake *a);

/* Every peer that advertised id withdrew it (the receiver's last slot
 * view naming id is gone: its slot overwritten or deleted, or its peer
 * left the subnet), as the IC's receiver removes an artifact once its
 * last advertiser left. An artifact the client has not taken yet (still in
 * the unvalidated pool: no p2p_node_validate call for it succeeded)
 * leaves the pool, with a P2P_ACT_ARTIFACT_WITHDRAWN for the client; one the client
 * took (validated, or rejected and gone) stays its own. Returns whether
 * it was dropped; an artifact the client could not be told of (outbox
 * full) is kept. */
bool p2p__intake_withdrawn(const struct p2p_env *env, p2p_time now,
                           const struct p2p_artifact_id *id);

#endif
