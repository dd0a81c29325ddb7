#include "core/bouncer.h"

enum p2p_verdict p2p_bouncer_wants_all(void *ctx,
                                       const struct p2p_artifact_id *id,
                                       enum p2p_artifact_kind kind,
                                       uint64_t size)
{
    (void)ctx;
    (void)id;
    (void)kind;
    (void)size;
    return P2P_WANTS;
}

const char *p2p_verdict_name(enum p2p_verdict v)
{
    switch (v) {
    case P2P_WANTS:
        return "wants";
    case P2P_MAYBE_WANTS_LATER:
        return "maybe_wants_later";
    case P2P_UNWANTED:
        return "unwanted";
    default:
        return "?";
    }
}
