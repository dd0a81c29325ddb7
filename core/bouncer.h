/* The bouncer: the client's verdict on an artifact id, asked before every
 * download attempt and re-asked every refresh period for ids it deferred. */
#ifndef P2P_CORE_BOUNCER_H
#define P2P_CORE_BOUNCER_H

#include <stdint.h>

#include "core/types.h"

enum p2p_verdict {
    P2P_WANTS,             /* fetch it now */
    P2P_MAYBE_WANTS_LATER, /* keep the advert, ask again on refresh */
    P2P_UNWANTED,          /* drop the advert and cancel its download */
};

/* A pure function of the client's state: no I/O, no side effects, no calls
 * back into the node. ctx is the client's, borrowed. */
typedef enum p2p_verdict (*p2p_bouncer_fn)(void *ctx,
                                           const struct p2p_artifact_id *id,
                                           enum p2p_artifact_kind kind,
                                           uint64_t size);

/* The bouncer used until a client installs one: wants everything. */
enum p2p_verdict p2p_bouncer_wants_all(void *ctx,
                                       const struct p2p_artifact_id *id,
                                       enum p2p_artifact_kind kind,
                                       uint64_t size);

const char *p2p_verdict_name(enum p2p_verdict v);

#endif
