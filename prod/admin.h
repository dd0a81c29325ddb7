/* The replica's admin HTTP API (docs/replica.md, "Admin HTTP API"):
 * libmicrohttpd without a thread of its own, driven from the replica's
 * libev loop (an ev_io on MHD's epoll descriptor and an ev_timer at MHD's
 * next timeout). Every request is answered on the loop thread through a
 * table of operations the replica provides, so the admin holds no state of
 * the node.
 *
 *   POST /artifacts       201 {"id": "<hex>"}; header X-Artifact-Kind:
 *                         push|advert (default advert), else 400; header
 *                         X-Artifact-Height: decimal (default 0: none),
 *                         else 400; 413 too large, 409 exists or below
 *                         the purge height, 507 pool full
 *   GET  /artifacts       200 {"artifacts": ["<hex>", ...]}
 *   GET  /artifacts/<hex> 200 the bytes; 400 not 64 hex digits, 404
 *   POST /state           201 {"height": H, "root": "<hex>"}; 413; 500
 *                         "write failed" as for artifacts
 *   GET  /state           200 what state_json writes
 *   GET  /health          200 (503 when unhealthy) what health_json writes
 *   GET  /metrics         200 Prometheus text (version 0.0.4)
 *   GET  /registry/earliest  200 what registry_json writes
 *   POST /registry/earliest  body: a registry version in decimal (a final
 *                         newline allowed); 200 what registry_json writes
 *                         after set_registry_earliest; 400 not a version,
 *                         409 older than the earliest in use
 *   POST /purge           body: a height in decimal (a final newline
 *                         allowed); 200 {"purge_height": H, "purged": N}
 *                         after purge; 400 not a height, 409 below the
 *                         purge height already set
 *
 * Other paths get 404, other methods 405 (with Allow); HEAD is answered as
 * GET without a body. Every error body is {"error": "..."}, also for a
 * request libmicrohttpd would refuse itself: prod/admin_gate.c accepts
 * every connection, checks each request head before libmicrohttpd reads
 * it and answers a bad one itself (400, 413, 414, 431, 501, 505, 408 when
 * the head does not come in time), and answers 503 past
 * PROD_ADMIN_CONNECTIONS_MAX connections. Every answer closes its
 * connection (one request per connection: a second request on a kept
 * connection would reach libmicrohttpd unchecked).
 *
 * Memory: request bodies, and answers built whole (the artifact list,
 * /metrics), count against limits->buffered_bytes_max, summed over every
 * connection; one that would pass it is answered 503 before it is
 * buffered and its bytes are returned when its request completes. An
 * artifact is sent from the pool in blocks (never copied whole). Beyond
 * that budget the admin holds at most PROD_ADMIN_CONNECTIONS_MAX x
 * PROD_ADMIN_CONNECTION_MEMORY_BYTES of libmicrohttpd buffers. */
#ifndef P2P_PROD_ADMIN_H
#define P2P_PROD_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/state_manifest.h"
#include "core/types.h"
#include "prod/admin_gate.h"

struct ev_loop;

/* Connections served at once (waiting for their request head, or with
 * libmicrohttpd); more are answered 503 at once. */
#define PROD_ADMIN_CONNECTIONS_MAX 64u
/* A connection idle this long once its head has come is closed. */
#define PROD_ADMIN_CONNECTION_TIMEOUT_S 30u
/* A request head must be complete this long after the accept (408). */
#define PROD_ADMIN_HEAD_TIMEOUT_S 10u
/* A request head's bytes (414 or 431 past it) and fields (431). */
#define PROD_ADMIN_HEAD_BYTES_MAX 8192u
#define PROD_ADMIN_HEAD_FIELDS_MAX 64u
/* libmicrohttpd's buffers for one connection (the head, the answer's
 * headers, a block of an answer being sent). */
#define PROD_ADMIN_CONNECTION_MEMORY_BYTES (64u * 1024u)
/* An artifact is sent in blocks of at most this size. */
#define PROD_ADMIN_ARTIFACT_BLOCK_BYTES (32u * 1024u)
/* The default of limits->buffered_bytes_max (limits.admin_buffer). */
#define PROD_ADMIN_BUFFERED_BYTES_DEFAULT (256ull << 20)
/* What state_json and health_json may write, NUL included. */
#define PROD_ADMIN_JSON_BYTES_MAX (64u * 1024u)
/* GET /artifacts lists at most this many ids (500 past it). */
#define PROD_ADMIN_LIST_IDS_MAX (1u << 20)
/* Body bytes read and dropped after an upload passed the body limit (or
 * after an answer was queued); past this the connection is closed without
 * an answer. libmicrohttpd 0.9.75 cannot answer while a body is still
 * arriving, so a chunked upload's 413 comes once the body has ended. */
#define PROD_ADMIN_DISCARD_BYTES_MAX (16u << 20)
/* A chunked upload's buffer starts at this size and doubles up to the
 * body limit. */
#define PROD_ADMIN_CHUNKED_BYTES_MIN (64u * 1024u)

/* What the admin asks of the replica. Every call runs on the loop thread,
 * inside the admin's libev callbacks; none may re-enter the admin. */
struct prod_admin_ops {
    void *ctx; /* borrowed; passed back to every call */
    /* Adds an artifact made of body[0..len) (borrowed for the call) at
     * height (0: none): 0 with *id, or P2P_ERR_EXISTS (409),
     * P2P_ERR_STATE (409: height below the purge height),
     * P2P_ERR_OVERSIZE (413), P2P_ERR_LIMIT (507), P2P_ERR_WRITE or any
     * other (500). */
    int (*post_artifact)(void *ctx, enum p2p_artifact_kind kind,
                         const uint8_t *body, size_t len, uint64_t height,
                         struct p2p_artifact_id *id);
    /* Fills ids[0..max) with the validated pool's ids; returns the count,
     * which may be > max (the admin calls again with more room). */
    size_t (*list_artifacts)(void *ctx, struct p2p_artifact_id *ids,
                             size_t max);
    /* An artifact's bytes, borrowed until the next call into ctx: 0, or
     * P2P_ERR_NOT_FOUND (404), others 500. Called again for every block
     * of the answer while it is sent; once the artifact is gone (or its
     * length changed) the connection is closed, the answer cut short. */
    int (*get_artifact)(void *ctx, const struct p2p_artifact_id *id,
                        const uint8_t **bytes, size_t *len);
    /* A new checkpoint from bytes[0..len) (borrowed for the call): 0 with
     * *height and *root, or P2P_ERR_OVERSIZE (413), others 500. */
    int (*post_state)(void *ctx, const uint8_t *bytes, size_t len,
                      uint64_t *height, struct p2p_state_hash *root);
    /* A JSON object written into buf[0..cap), NUL-terminated: its length
     * (< cap), or a negative error (500). */
    int (*state_json)(void *ctx, char *buf, size_t cap);
    /* As state_json; *healthy = false answers 503 with the same body. */
    int (*health_json)(void *ctx, char *buf, size_t cap, bool *healthy);
    /* The whole /metrics text in *text (malloc'ed; the admin frees it),
     * *len bytes: 0, or a negative error (500). */
    int (*metrics_text)(void *ctx, char **text, size_t *len);
    /* The registry versions in use, as state_json writes (GET
     * /registry/earliest, and the answer to a POST). */
    int (*registry_json)(void *ctx, char *buf, size_t cap);
    /* The node's clients reference registry versions from `version` (>=
     * 1) on (POST /registry/earliest): 0, or P2P_ERR_STATE (409: older
     * than the earliest version already in use), others 500. */
    int (*set_registry_earliest)(void *ctx, uint64_t version);
    /* POST /purge: the purge height becomes `height` (>= 1); what has a
     * height below it leaves the pool: 0 with *purged (how many), or
     * P2P_ERR_STATE (409: below the purge height already set), others
     * 500. */
    int (*purge)(void *ctx, uint64_t height, uint64_t *purged);
};

/* The admin's memory limits. */
struct prod_admin_limits {
    size_t body_bytes_max;     /* one request body (limits.admin_body) */
    size_t buffered_bytes_max; /* all connections' bodies and whole
                                  answers together (limits.admin_buffer);
                                  at least body_bytes_max */
};

/* What the admin holds now, and the gate's counters. */
struct prod_admin_stats {
    size_t serving;                /* connections libmicrohttpd has */
    size_t buffered_bytes;         /* of limits->buffered_bytes_max */
    uint64_t refused_buffer_total; /* 503: the budget was spent */
    struct prod_admin_gate_stats gate;
};

struct prod_admin;

/* Listens on addr (IPv4 or IPv6; port 0 picks a free one) and serves the
 * API from loop. Request bodies above limits->body_bytes_max are answered
 * 413 without being buffered: at once when Content-Length says so (before
 * the body is read), or at the end of a chunked upload that passed it (its
 * rest is dropped as it arrives, PROD_ADMIN_DISCARD_BYTES_MAX at most);
 * likewise 503 for a body past what is left of
 * limits->buffered_bytes_max. *limits and *ops are copied; ops->ctx must
 * outlive the admin. Returns 0 with *out, or P2P_ERR_INVALID_ARG (a NULL
 * operation, an address family other than AF_INET/AF_INET6, a budget
 * below the body limit), P2P_ERR_NOMEM, P2P_ERR_CONNECT (no listening
 * socket or MHD could not start: the address is taken, say), with a
 * message in err[0..err_len) (NUL-terminated, may be truncated). */
int prod_admin_start(struct ev_loop *loop, const struct sockaddr *addr,
                     socklen_t addr_len, const struct prod_admin_limits *limits,
                     const struct prod_admin_ops *ops, struct prod_admin **out,
                     char *err, size_t err_len);

void prod_admin_get_stats(const struct prod_admin *a,
                          struct prod_admin_stats *out);

/* The port actually bound (the chosen one when addr's port was 0). */
uint16_t prod_admin_port(const struct prod_admin *a);

/* Stops the watchers, closes every connection (requests under way are
 * dropped) and frees a. NULL is allowed. Call from the loop thread, not
 * from inside an ops call. */
void prod_admin_stop(struct prod_admin *a);

#endif
