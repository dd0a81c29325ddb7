/* The admin API's operations on the replica (see prod/admin.h): artifacts
 * in and out of the validated pool, checkpoints, health and /metrics. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/chunk_scheduler.h"
#include "core/err.h"
#include "core/metrics_registry.h"
#include "prod/admin_api_metrics.h"
#include "prod/admin_metrics.h"
#include "prod/disk_body.h"
#include "prod/disk_metrics.h"
#include "prod/identity.h"
#include "prod/process_metrics.h"
#include "prod/replica_int.h"

/* The /metrics text starts with this much room and grows to what it
 * needs, up to the cap. */
#define PROD_METRICS_TEXT_BYTES 65536u
#define PROD_METRICS_TEXT_BYTES_MAX (16u << 20)

static int post_artifact(void *ctx, enum p2p_artifact_kind kind,
                         const uint8_t *body, size_t len, uint64_t height,
                         struct p2p_artifact_id *id)
{
    struct prod_replica *r = ctx;
    if (r->node == NULL)
        return P2P_ERR_INTERNAL;
    if (len > r->cfg.artifact_bytes_max || len > P2P_ARTIFACT_BYTES_MAX)
        return P2P_ERR_OVERSIZE;
    if (height > 0 && height < p2p_node_purge_height(r->node))
        return P2P_ERR_STATE;
    p2p_id_of(body, len, id);
    if (p2p_pool_get(p2p_node_pool(r->node), id) != NULL)
        return P2P_ERR_EXISTS;
    /* Durable first: once the client hears 201, a SIGKILL loses nothing.
     * The height before the artifact: an artifact on disk never lacks
     * the height it was acknowledged with. */
    int rc = prod_disk_pool_put_height(r->disk_pool, id, height);
    if (rc == 0)
        rc = prod_disk_pool_put_hashed(r->disk_pool, id, kind, body, len);
    if (rc != 0) {
        r->persist_failures++;
        prod_replica_log(r, PROD_LOG_ERROR,
                         "cannot persist a POSTed artifact: %s",
                         p2p_strerror(rc));
        return P2P_ERR_WRITE;
    }
    /* A large one is held as its file, mapped, not as a copy on the heap
     * (prod/disk_body.h); a small one, or one that cannot be mapped, is
     * copied. */
    struct p2p_body *b = NULL;
    if (len >= PROD_DISK_BODY_BYTES_MIN &&
        prod_disk_pool_map(r->disk_pool, id, kind, len, &b) != 0)
        b = NULL;
    if (b == NULL)
        b = p2p_body_copy(NULL, P2P_MEM_POOL, body, len);
    rc = b == NULL ? P2P_ERR_NOMEM
                   : p2p_node_insert_at_height(r->node, prod_replica_now(),
                                               kind, b, height, NULL);
    p2p_body_release(b, NULL, P2P_MEM_POOL);
    if (rc != 0) {
        (void)prod_disk_pool_remove(r->disk_pool, id);
        (void)prod_disk_pool_put_height(r->disk_pool, id, 0);
        return rc;
    }
    r->artifacts_persisted++;
    prod_replica_drain(r);
    return 0;
}

static size_t list_artifacts(void *ctx, struct p2p_artifact_id *ids, size_t max)
{
    struct prod_replica *r = ctx;
    if (r->node == NULL)
        return 0;
    const struct p2p_pool *p = p2p_node_pool(r->node);
    size_t n = 0;
    for (uint32_t i = 0; i < p->capacity; i++) {
        const struct p2p_pool_entry *e = &p->entries[i];
        if (!e->used || e->section != P2P_POOL_VALIDATED)
            continue;
        if (n < max)
            ids[n] = e->id;
        n++;
    }
    return n;
}

static int get_artifact(void *ctx, const struct p2p_artifact_id *id,
                        const uint8_t **bytes, size_t *len)
{
    struct prod_replica *r = ctx;
    if (r->node == NULL)
        return P2P_ERR_NOT_FOUND;
    const struct p2p_pool_entry *e = p2p_pool_get(p2p_node_pool(r->node), id);
    if (e == NULL || e->section != P2P_POOL_VALIDATED)
        return P2P_ERR_NOT_FOUND;
    *bytes = e->body;
    *len = e->len;
    return 0;
}

static int post_state(void *ctx, const uint8_t *bytes, size_t len,
                      uint64_t *height, struct p2p_state_hash *root)
{
    struct prod_replica *r = ctx;
    if (len > r->cfg.state_bytes_max)
        return P2P_ERR_OVERSIZE;
    int rc = prod_disk_state_checkpoint(r->disk_state, bytes, len,
                                        (uint32_t)r->cfg.state_chunk_bytes,
                                        height, root);
    if (rc != 0)
        return rc;
    if (r->node != NULL) {
        p2p_node_state_changed(r->node, prod_replica_now());
        prod_replica_drain(r);
    }
    return 0;
}

static int state_json(void *ctx, char *buf, size_t cap)
{
    struct prod_replica *r = ctx;
    uint64_t height = 0, bytes = 0;
    uint32_t chunks = 0;
    struct p2p_state_hash root;
    memset(&root, 0, sizeof(root));
    prod_disk_state_latest_info(r->disk_state, &height, &root, &chunks, &bytes);
    char root_hex[65];
    /* A state root and a node id are both SHA-256 digests. */
    _Static_assert(sizeof(root.b) == QUIC_KEY_ID_BYTES, "digest sizes");
    quic_cert_hex(root.b, root_hex);
    struct p2p_state_sync_info si;
    memset(&si, 0, sizeof(si));
    struct p2p_chunk_progress pr;
    memset(&pr, 0, sizeof(pr));
    bool progress = false;
    if (r->node != NULL) {
        p2p_node_state_sync_info(r->node, &si);
        progress = p2p_node_state_sync_progress(r->node, &pr);
    }
    int n = snprintf(buf, cap,
                     "{\"height\": %" PRIu64 ", \"root\": \"%s\", "
                     "\"chunks\": %u, \"bytes\": %" PRIu64 ", \"sync\": "
                     "{\"active\": %s, \"height\": %" PRIu64
                     ", \"peers\": %u, \"have_manifest\": %s",
                     height, height ? root_hex : "", chunks, bytes,
                     si.active ? "true" : "false", si.height, si.peers,
                     si.have_manifest ? "true" : "false");
    if (n >= 0 && (size_t)n < cap && progress)
        n += snprintf(buf + n, cap - (size_t)n,
                      ", \"chunks_total\": %u, \"chunks_held\": %u",
                      pr.chunks_total, pr.chunks_held);
    if (n >= 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, "}}");
    return n < 0 || (size_t)n >= cap ? P2P_ERR_LIMIT : n;
}

/* Over the members of every registry version in use. */
static uint32_t peers_up(const struct prod_replica *r)
{
    uint32_t up = 0;
    for (uint32_t i = 0; i < r->hist.topo.count; i++) {
        struct p2p_peer_info pi;
        uint32_t idx = r->hist.topo.members[i].id;
        if (idx != r->self && r->node != NULL &&
            p2p_node_peer_info(r->node, idx, &pi) == 0 && pi.up)
            up++;
    }
    return up;
}

static int health_json(void *ctx, char *buf, size_t cap, bool *healthy)
{
    struct prod_replica *r = ctx;
    /* Listed by a version in use: one that left stays healthy (and
     * served) until the earliest version in use moves past it. */
    bool listed = prod_registry_history_by_key(&r->hist, r->self_key) != NULL;
    *healthy = r->node != NULL && listed;
    int n;
    if (!*healthy)
        n = snprintf(buf, cap,
                     "{\"ok\": false, \"reason\": \"registry version %" PRIu64
                     " does not list this node\", \"id\": \"%s\"}",
                     r->reg->version, r->self_hex);
    else
        n = snprintf(buf, cap,
                     "{\"ok\": true, \"node\": %u, \"id\": \"%s\", "
                     "\"registry_version\": %" PRIu64
                     ", \"members\": %u, \"peers_up\": %u, "
                     "\"artifacts\": %zu, \"earliest_version\": %" PRIu64
                     ", \"members_in_use\": %u}",
                     r->self, r->self_hex, r->reg->version, r->reg->count,
                     peers_up(r),
                     p2p_node_pool(r->node)->count[P2P_POOL_VALIDATED],
                     r->hist.topo.earliest_version, r->hist.topo.count);
    return n < 0 || (size_t)n >= cap ? P2P_ERR_LIMIT : n;
}

static void write_all(struct prod_replica *r, struct p2p_metrics_text *t)
{
    if (r->node != NULL)
        p2p_node_metrics_write(r->node, prod_replica_now(), t);
    struct quic_endpoint_totals tot;
    prod_transport_totals(r->transport, &tot);
    /* Every member of a version in use, with its newest record. */
    uint32_t members = r->hist.topo.count;
    struct quic_peer_stats *peers =
        calloc(members ? members : 1, sizeof(*peers));
    uint32_t n = 0;
    for (uint32_t i = 0; peers != NULL && i < members; i++) {
        const struct prod_member *m = prod_registry_history_by_index(
            &r->hist, r->hist.topo.members[i].id);
        if (m == NULL)
            continue;
        if (m->index == r->self ||
            !prod_transport_peer_stats(r->transport, m->index, &peers[n]))
            continue;
        memcpy(peers[n].id_hex, m->id_hex, sizeof(peers[n].id_hex));
        n++;
    }
    prod_admin_metrics_write(t, peers, n, &tot);
    free(peers);
    struct prod_disk_metrics dm = {
        .artifacts_persisted = r->artifacts_persisted,
        .persist_failures = r->persist_failures,
    };
    prod_disk_pool_get_stats(r->disk_pool, &dm.pool);
    prod_disk_state_get_stats(r->disk_state, &dm.state);
    prod_disk_state_latest_info(r->disk_state, &dm.state_height, NULL, NULL,
                                NULL);
    prod_disk_metrics_write(t, &dm);
    if (r->admin != NULL) {
        struct prod_admin_stats as;
        prod_admin_get_stats(r->admin, &as);
        prod_admin_api_metrics_write(t, &as);
    }
    prod_process_metrics_write_self(t, &r->cfg);
}

static int metrics_text(void *ctx, char **text, size_t *len)
{
    struct prod_replica *r = ctx;
    size_t cap = PROD_METRICS_TEXT_BYTES;
    for (;;) {
        char *buf = malloc(cap);
        if (buf == NULL)
            return P2P_ERR_NOMEM;
        struct p2p_metrics_text t;
        p2p_metrics_text_init(&t, buf, cap);
        write_all(r, &t);
        size_t need = 0;
        if (p2p_metrics_text_finish(&t, &need) == 0) {
            *text = buf;
            *len = need;
            return 0;
        }
        free(buf);
        if (need + 1 > PROD_METRICS_TEXT_BYTES_MAX)
            return P2P_ERR_LIMIT;
        cap = need + 1;
    }
}

static int registry_json(void *ctx, char *buf, size_t cap)
{
    const struct prod_replica *r = ctx;
    const struct p2p_topology *t = &r->hist.topo;
    int n =
        snprintf(buf, cap,
                 "{\"registry_version\": %" PRIu64
                 ", \"earliest_version\": %" PRIu64 ", \"earliest_pinned\": ",
                 t->version, t->earliest_version);
    if (n >= 0 && (size_t)n < cap)
        n += r->earliest_pin == 0 ? snprintf(buf + n, cap - (size_t)n, "null")
                                  : snprintf(buf + n, cap - (size_t)n,
                                             "%" PRIu64, r->earliest_pin);
    if (n >= 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, ", \"versions\": [");
    for (uint32_t k = 0; k < r->hist.count && n >= 0 && (size_t)n < cap; k++)
        n += snprintf(buf + n, cap - (size_t)n, "%s%" PRIu64, k ? ", " : "",
                      r->hist.versions[k].version);
    if (n >= 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, "], \"members_in_use\": [");
    for (uint32_t i = 0; i < t->count && n >= 0 && (size_t)n < cap; i++)
        n += snprintf(buf + n, cap - (size_t)n, "%s%u", i ? ", " : "",
                      t->members[i].id);
    if (n >= 0 && (size_t)n < cap)
        n += snprintf(buf + n, cap - (size_t)n, "]}");
    return n < 0 || (size_t)n >= cap ? P2P_ERR_LIMIT : n;
}

/* The clients now reference versions from `version` on: the registry
 * versions before it (at most the latest) stop counting. */
static int set_registry_earliest(void *ctx, uint64_t version)
{
    struct prod_replica *r = ctx;
    if (version < r->hist.topo.earliest_version ||
        (r->earliest_pin != 0 && version < r->earliest_pin))
        return P2P_ERR_STATE;
    uint64_t pin_before = r->earliest_pin;
    r->earliest_pin = version;
    uint64_t e = prod_replica_earliest_for(r, r->hist.topo.version);
    int rc = prod_registry_history_set_earliest(&r->hist, e);
    if (rc != 0) {
        r->earliest_pin = pin_before;
        return rc;
    }
    prod_replica_log(r, PROD_LOG_INFO,
                     "the node's clients reference registry versions from "
                     "%llu on (earliest in use %llu, latest %llu)",
                     (unsigned long long)version, (unsigned long long)e,
                     (unsigned long long)r->hist.topo.version);
    if (r->node != NULL) {
        rc = p2p_node_on_registry_earliest(r->node, prod_replica_now(), e);
        if (rc != 0)
            prod_replica_log(r, PROD_LOG_ERROR,
                             "core refused earliest registry version %llu: %s",
                             (unsigned long long)e, p2p_strerror(rc));
        prod_replica_drain(r);
    }
    return 0;
}

/* POST /purge: the purge height is made durable first, then core purges
 * its pools and the files of what had a height below it go (a crash in
 * between is finished at the next start, prod/replica.c). */
static int purge(void *ctx, uint64_t height, uint64_t *purged)
{
    struct prod_replica *r = ctx;
    if (r->node == NULL)
        return P2P_ERR_INTERNAL;
    if (height < p2p_node_purge_height(r->node))
        return P2P_ERR_STATE;
    int rc = prod_disk_pool_set_purge_height(r->disk_pool, height);
    if (rc != 0) {
        r->persist_failures++;
        prod_replica_log(
            r, PROD_LOG_ERROR, "cannot persist purge height %llu: %s",
            (unsigned long long)height, prod_disk_pool_error(r->disk_pool));
        return P2P_ERR_WRITE;
    }
    uint64_t before = p2p_node_metrics(r->node)->artifacts_purged;
    rc = p2p_node_purge_below(r->node, prod_replica_now(), height);
    if (rc != 0)
        return rc;
    *purged = p2p_node_metrics(r->node)->artifacts_purged - before;
    prod_replica_drain(r);
    uint64_t removed = 0;
    rc = prod_disk_pool_purge_below(r->disk_pool, height, &removed);
    prod_replica_log(r, rc == 0 ? PROD_LOG_INFO : PROD_LOG_ERROR,
                     "purge below height %llu: %llu artifacts purged, %llu "
                     "files removed%s%s",
                     (unsigned long long)height, (unsigned long long)*purged,
                     (unsigned long long)removed, rc == 0 ? "" : "; stopped: ",
                     rc == 0 ? "" : prod_disk_pool_error(r->disk_pool));
    return rc == 0 ? 0 : P2P_ERR_WRITE;
}

const struct prod_admin_ops *prod_replica_admin_ops(struct prod_replica *r,
                                                    struct prod_admin_ops *ops)
{
    *ops = (struct prod_admin_ops){
        .ctx = r,
        .post_artifact = post_artifact,
        .list_artifacts = list_artifacts,
        .get_artifact = get_artifact,
        .post_state = post_state,
        .state_json = state_json,
        .health_json = health_json,
        .metrics_text = metrics_text,
        .registry_json = registry_json,
        .set_registry_earliest = set_registry_earliest,
        .purge = purge,
    };
    return ops;
}
