/* The intake (core/intake.h). */
#include "core/intake.h"

#include "core/assert.h"
#include "core/err.h"

int p2p__intake_accept(const struct p2p_env *env, p2p_time now,
                       const struct p2p_intake *a)
{
    P2P_ASSERT(a->id != NULL &&
               (a->shared != NULL || a->body != NULL || a->len == 0));
    if (p2p_pool_get(env->pool, a->id) != NULL)
        return P2P_ERR_EXISTS;
    if (a->height > 0 && a->height < env->pool->purge_height) {
        env->metrics->artifacts_purged++; /* purged on arrival */
        return P2P_ERR_UNWANTED;
    }
    struct p2p_pool_item item = {.section = P2P_POOL_UNVALIDATED,
                                 .id = a->id,
                                 .kind = a->kind,
                                 .shared = a->shared,
                                 .body = a->body,
                                 .len = a->len,
                                 .from = a->peer,
                                 .height = a->height};
    int rc = p2p_pool_insert(env->pool, now, &item);
    if (rc == P2P_ERR_LIMIT) {
        env->metrics->pool_full++;
        p2p_outbox_event(env->outbox, P2P_EV_POOL_FULL, a->peer, a->id,
                         (int64_t)a->len);
    }
    if (rc != 0)
        return rc;
    struct p2p_action act = {.type = P2P_ACT_ARTIFACT_RECEIVED,
                             .peer = a->peer,
                             .id = *a->id,
                             .kind = a->kind,
                             .size = a->len};
    rc = p2p_outbox_push(env->outbox, &act);
    if (rc != 0) {
        /* The client would never hear of it: take it back out. */
        (void)p2p_pool_remove(env->pool, a->id);
        return rc;
    }
    env->metrics->artifacts_received++;
    return 0;
}

bool p2p__intake_withdrawn(const struct p2p_env *env, p2p_time now,
                           const struct p2p_artifact_id *id)
{
    (void)now;
    const struct p2p_pool_entry *e = p2p_pool_get(env->pool, id);
    if (e == NULL || e->section != P2P_POOL_UNVALIDATED)
        return false; /* not held, or the client's already */
    struct p2p_action act = {.type = P2P_ACT_ARTIFACT_WITHDRAWN,
                             .peer = e->from,
                             .id = *id,
                             .kind = e->kind,
                             .size = e->len};
    if (p2p_outbox_push(env->outbox, &act) != 0)
        return false; /* the client would validate what is gone: keep it */
    int rc = p2p_pool_remove(env->pool, id);
    P2P_ASSERT(rc == 0);
    env->metrics->artifacts_withdrawn++;
    return true;
}
