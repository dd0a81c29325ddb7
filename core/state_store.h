/* The state store: what a node's client gives state sync
 * (docs/state-sync.md). Core serves the store's newest state
 * to peers, and fills the store with the chunks of a newer state it
 * fetches. A backend implements these calls (the simulator: synthetic
 * states made from the seed; prod: checkpoints on disk) and installs them
 * with p2p_node_set_state_store.
 *
 * The calls are synchronous, like the bouncer: they run inside a core entry
 * point and must not call back into the node. Bytes they return are
 * borrowed until the next call into the store. */
#ifndef P2P_CORE_STATE_STORE_H
#define P2P_CORE_STATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/state_manifest.h"

struct p2p_state_store_ops {
    /* The newest complete state the node holds and serves: its manifest
     * (borrowed until the next call into the store) and root hash; NULL
     * when it holds none. */
    const struct p2p_state_manifest *(*latest)(void *ctx,
                                               struct p2p_state_hash *root);
    /* The manifest of a complete state the store still holds and serves:
     * the latest or a recent one (borrowed until the next call); NULL when
     * it holds no state with that height and root. Serving a few recent
     * states, as the IC does, lets a sync under way finish while its peers
     * move on to newer checkpoints. */
    const struct p2p_state_manifest *(*manifest)(
        void *ctx, uint64_t height, const struct p2p_state_hash *root);
    /* The bytes of chunk `index` of the complete state `root` at `height`
     * (borrowed until the next call). P2P_ERR_NOT_FOUND when the store no
     * longer holds that state or chunk: the peer is answered 204. */
    int (*chunk)(void *ctx, uint64_t height, const struct p2p_state_hash *root,
                 uint32_t index, const uint8_t **bytes, size_t *len);
    /* Whether the store already holds chunk `index` of manifest m, with
     * exactly the size and hash m names (from an earlier, interrupted sync
     * persisted before a crash, from an older state, or from a sync of
     * another root that shared it). Such chunks are not fetched again. */
    bool (*has_chunk)(void *ctx, const struct p2p_state_manifest *m,
                      const struct p2p_state_hash *root, uint32_t index);
    /* A chunk of the state being synced arrived and matched m: keep it
     * (persist it, so a restart resumes). 0, or an error: the chunk is
     * then fetched again. */
    int (*put_chunk)(void *ctx, const struct p2p_state_manifest *m,
                     const struct p2p_state_hash *root, uint32_t index,
                     const uint8_t *bytes, size_t len);
    /* Every chunk of m is held: the state is complete and becomes the
     * store's latest. */
    void (*complete)(void *ctx, const struct p2p_state_manifest *m,
                     const struct p2p_state_hash *root);
};

#endif
