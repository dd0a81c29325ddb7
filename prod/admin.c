/* The admin HTTP API on libmicrohttpd (see admin.h). libmicrohttpd parses
 * HTTP; this file routes requests, bounds request bodies and the bytes
 * buffered across connections, maps the replica's answers to status codes
 * and JSON, and drives MHD from libev: MHD runs in "external" mode with
 * epoll and without a listening socket, so one descriptor (MHD's epoll
 * set) and one timeout say when MHD_run has work; the gate
 * (prod/admin_gate.c) accepts connections and hands MHD the ones whose
 * request head passed its checks. */
#include "prod/admin.h"

#include <ev.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <errno.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conf/errmsg.h"
#include "conf/hex.h"
#include "core/assert.h"
#include "core/err.h"

#define CONTENT_TYPE_JSON "application/json"
#define CONTENT_TYPE_BYTES "application/octet-stream"
#define CONTENT_TYPE_METRICS "text/plain; version=0.0.4; charset=utf-8"
/* {"error": "<message>"}: messages are short, fixed strings. */
#define ERROR_BODY_BYTES_MAX 256u
/* The ids GET /artifacts asks for first; it asks again if there are more. */
#define LIST_IDS_FIRST 1024u
/* One id in the list: quotes, 64 hex digits, ", ". */
#define LIST_ID_JSON_BYTES (2u + 64u + 2u)
/* MHD's own connection limit: above ours (the gate admits no more than
 * PROD_ADMIN_CONNECTIONS_MAX), so that MHD never refuses one itself. */
#define MHD_CONNECTIONS_MAX (2u * PROD_ADMIN_CONNECTIONS_MAX)
/* The 503 of a spent budget. */
#define BUSY_MESSAGE "too many bytes buffered, retry later"

struct prod_admin {
    struct ev_loop *loop;         /* borrowed */
    struct MHD_Daemon *daemon;    /* owned */
    struct prod_admin_gate *gate; /* owned */
    ev_io io;                     /* MHD's epoll descriptor readable */
    ev_timer timer;               /* MHD's next timeout */
    struct prod_admin_ops ops;
    struct prod_admin_limits limits;
    size_t serving;        /* connections MHD has */
    size_t buffered_bytes; /* sum of every request's held */
    uint64_t refused_buffer_total;
    uint16_t port;
    bool starting; /* MHD's first log message is kept */
    char start_log[ERROR_BODY_BYTES_MAX];
    char json[PROD_ADMIN_JSON_BYTES_MAX]; /* state_json, health_json */
};

enum route {
    ROUTE_ARTIFACTS, /* /artifacts */
    ROUTE_ARTIFACT,  /* /artifacts/<hex> */
    ROUTE_STATE,     /* /state */
    ROUTE_HEALTH,    /* /health */
    ROUTE_METRICS,   /* /metrics */
    /* /registry/earliest */
    ROUTE_REGISTRY_EARLIEST,
    ROUTE_PURGE, /* /purge: POST only */
};

/* One request, from its headers to its completion (MHD's con_cls). */
struct request {
    enum route route;
    bool post;                   /* else GET or HEAD */
    bool answered;               /* a response is queued */
    unsigned fail_status;        /* the body could not be kept (413 past
                                    body_bytes_max, 503 past the budget,
                                    500 no memory): answered so */
    const char *fail_message;    /* static */
    enum p2p_artifact_kind kind; /* POST /artifacts */
    uint64_t height;             /* POST /artifacts: 0 when none */
    uint8_t *body;               /* owned; cap bytes */
    size_t len, cap;
    size_t dropped; /* body bytes read and not kept */
    size_t held;    /* bytes counted in a->buffered_bytes */
};

/* An artifact's answer, read from the pool block by block. */
struct artifact_read {
    struct prod_admin *a; /* borrowed */
    struct p2p_artifact_id id;
    size_t len;
};

/* ---- the budget of buffered bytes ---- */

/* Counts n more bytes for r: false (nothing counted) past the budget. */
static bool budget_take(struct prod_admin *a, struct request *r, size_t n)
{
    P2P_ASSERT(a->buffered_bytes <= a->limits.buffered_bytes_max);
    if (n > a->limits.buffered_bytes_max - a->buffered_bytes) {
        a->refused_buffer_total++;
        return false;
    }
    a->buffered_bytes += n;
    r->held += n;
    return true;
}

/* Returns everything r holds (its request is over). */
static void budget_give(struct prod_admin *a, struct request *r)
{
    P2P_ASSERT(r->held <= a->buffered_bytes);
    a->buffered_bytes -= r->held;
    r->held = 0;
}

/* ---- responses ---- */

static enum MHD_Result queue(struct MHD_Connection *c, struct request *r,
                             unsigned status, const char *type,
                             struct MHD_Response *resp);

/* Queues a response; MHD takes or copies data as mode says. */
static enum MHD_Result respond(struct MHD_Connection *c, struct request *r,
                               unsigned status, const char *type, void *data,
                               size_t len, enum MHD_ResponseMemoryMode mode)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(len, data, mode);
    if (resp == NULL) {
        if (mode == MHD_RESPMEM_MUST_FREE)
            free(data);
        return MHD_NO;
    }
    return queue(c, r, status, type, resp);
}

/* Queues resp (it is destroyed here, queued or not) with its headers. */
static enum MHD_Result queue(struct MHD_Connection *c, struct request *r,
                             unsigned status, const char *type,
                             struct MHD_Response *resp)
{
    if (type != NULL)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    /* One request per connection: the gate checks only a connection's
     * first head. */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED) {
        const char *allow = r->route == ROUTE_ARTIFACT ? "GET, HEAD"
                            : r->route == ROUTE_PURGE  ? "POST"
                            : r->route == ROUTE_ARTIFACTS ||
                                    r->route == ROUTE_STATE ||
                                    r->route == ROUTE_REGISTRY_EARLIEST
                                ? "GET, HEAD, POST"
                                : "GET, HEAD";
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    }
    enum MHD_Result ok = MHD_queue_response(c, status, resp);
    MHD_destroy_response(resp);
    if (ok == MHD_YES)
        r->answered = true;
    return ok;
}

static enum MHD_Result respond_json(struct MHD_Connection *c, struct request *r,
                                    unsigned status, const char *json,
                                    size_t len)
{
    return respond(c, r, status, CONTENT_TYPE_JSON, (void *)json, len,
                   MHD_RESPMEM_MUST_COPY);
}

static enum MHD_Result respond_error(struct MHD_Connection *c,
                                     struct request *r, unsigned status,
                                     const char *message)
{
    char body[ERROR_BODY_BYTES_MAX];
    /* message is one of this file's literals: no quote or backslash. */
    P2P_DASSERT(strpbrk(message, "\"\\") == NULL);
    int n = snprintf(body, sizeof(body), "{\"error\": \"%s\"}", message);
    P2P_ASSERT(n > 0 && (size_t)n < sizeof(body));
    return respond_json(c, r, status, body, (size_t)n);
}

/* The status and message for an ops error; known codes get their own.
 * One wording per failure whatever the route: a failed write (a full
 * disk, say) is "write failed" for an artifact and a state alike. */
static enum MHD_Result respond_ops_error(struct MHD_Connection *c,
                                         struct request *r, int err)
{
    switch (err) {
    case P2P_ERR_EXISTS:
        return respond_error(c, r, MHD_HTTP_CONFLICT, "exists");
    case P2P_ERR_OVERSIZE:
        return respond_error(c, r, MHD_HTTP_CONTENT_TOO_LARGE, "too large");
    case P2P_ERR_LIMIT:
        return respond_error(c, r, MHD_HTTP_INSUFFICIENT_STORAGE, "pool full");
    case P2P_ERR_NOT_FOUND:
        return respond_error(c, r, MHD_HTTP_NOT_FOUND, "not found");
    case P2P_ERR_NOMEM:
        return respond_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                             "out of memory");
    case P2P_ERR_WRITE:
        return respond_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                             "write failed");
    default:
        return respond_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                             "internal error");
    }
}

/* A body that could not be kept: err from append. */
static void fail_body(struct request *r, int err)
{
    P2P_ASSERT(r->fail_status == 0);
    if (err == P2P_ERR_OVERSIZE) {
        r->fail_status = MHD_HTTP_CONTENT_TOO_LARGE;
        r->fail_message = "too large";
    } else if (err == P2P_ERR_LIMIT) {
        r->fail_status = MHD_HTTP_SERVICE_UNAVAILABLE;
        r->fail_message = BUSY_MESSAGE;
    } else {
        r->fail_status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        r->fail_message = "out of memory";
    }
}

/* ---- routing ---- */

/* Exactly 2 * P2P_ID_BYTES hex digits into *id. */
static bool parse_id(const char *s, struct p2p_artifact_id *id)
{
    return conf_hex_decode(s, strlen(s), id->b, P2P_ID_BYTES, NULL) == 0;
}

/* The route of url, or false (404). */
static bool route_of(const char *url, enum route *out)
{
    static const struct {
        const char *path;
        enum route route;
    } exact[] = {
        {"/artifacts", ROUTE_ARTIFACTS},
        {"/state", ROUTE_STATE},
        {"/health", ROUTE_HEALTH},
        {"/metrics", ROUTE_METRICS},
        {"/registry/earliest", ROUTE_REGISTRY_EARLIEST},
        {"/purge", ROUTE_PURGE},
    };
    for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++) {
        if (strcmp(url, exact[i].path) == 0) {
            *out = exact[i].route;
            return true;
        }
    }
    if (strncmp(url, "/artifacts/", strlen("/artifacts/")) == 0) {
        *out = ROUTE_ARTIFACT;
        return true;
    }
    return false;
}

static bool route_allows_post(enum route route)
{
    return route == ROUTE_ARTIFACTS || route == ROUTE_STATE ||
           route == ROUTE_REGISTRY_EARLIEST || route == ROUTE_PURGE;
}

/* s as a decimal number: 1 to 20 digits, at most 2^64 - 1. */
static bool parse_decimal(const char *s, size_t len, uint64_t *out)
{
    if (len == 0 || len > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* X-Artifact-Height: decimal digits, 0 (none) when absent. */
static bool height_of(struct MHD_Connection *c, uint64_t *height)
{
    const char *v =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Artifact-Height");
    *height = 0;
    return v == NULL || parse_decimal(v, strlen(v), height);
}

/* X-Artifact-Kind: push or advert (any case), advert when absent. */
static bool kind_of(struct MHD_Connection *c, enum p2p_artifact_kind *kind)
{
    const char *v =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Artifact-Kind");
    if (v == NULL || strcasecmp(v, "advert") == 0)
        *kind = P2P_KIND_ADVERT;
    else if (strcasecmp(v, "push") == 0)
        *kind = P2P_KIND_PUSH;
    else
        return false;
    return true;
}

/* Content-Length as a number: 1 with *len, 0 when absent (chunked), -1
 * when malformed. A number past 2^64 - 1 is UINT64_MAX (too large). */
static int content_length(struct MHD_Connection *c, uint64_t *len)
{
    const char *v = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (v == NULL)
        return 0;
    uint64_t n = 0;
    if (*v == '\0')
        return P2P_ERR_DECODE;
    for (; *v != '\0'; v++) {
        if (*v < '0' || *v > '9')
            return P2P_ERR_DECODE;
        unsigned d = (unsigned)(*v - '0');
        n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
    }
    *len = n;
    return 1;
}

/* ---- the first call: headers ---- */

/* Checks a POST's headers and sizes its buffer; answers on error. */
static enum MHD_Result begin_post(struct prod_admin *a,
                                  struct MHD_Connection *c, struct request *r)
{
    if (r->route == ROUTE_ARTIFACTS && !kind_of(c, &r->kind))
        return respond_error(c, r, MHD_HTTP_BAD_REQUEST,
                             "X-Artifact-Kind must be push or advert");
    if (r->route == ROUTE_ARTIFACTS && !height_of(c, &r->height))
        return respond_error(c, r, MHD_HTTP_BAD_REQUEST,
                             "X-Artifact-Height must be a height (decimal "
                             "digits)");
    uint64_t len = 0;
    int has = content_length(c, &len);
    if (has < 0)
        return respond_error(c, r, MHD_HTTP_BAD_REQUEST, "bad Content-Length");
    if (has > 0 && len > a->limits.body_bytes_max)
        return respond_error(c, r, MHD_HTTP_CONTENT_TOO_LARGE, "too large");
    /* Known length: one buffer of that size. Chunked: grown on demand. */
    if (has > 0 && len > 0) {
        if (!budget_take(a, r, (size_t)len))
            return respond_error(c, r, MHD_HTTP_SERVICE_UNAVAILABLE,
                                 BUSY_MESSAGE);
        r->body = malloc((size_t)len);
        if (r->body == NULL)
            return respond_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                                 "out of memory");
        r->cap = (size_t)len;
    }
    return MHD_YES;
}

static enum MHD_Result begin(struct prod_admin *a, struct MHD_Connection *c,
                             const char *url, const char *method,
                             struct request *r)
{
    if (!route_of(url, &r->route))
        return respond_error(c, r, MHD_HTTP_NOT_FOUND, "no such path");
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
               strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    r->post = strcmp(method, MHD_HTTP_METHOD_POST) == 0;
    if ((!get && !(r->post && route_allows_post(r->route))) ||
        (get && r->route == ROUTE_PURGE))
        return respond_error(c, r, MHD_HTTP_METHOD_NOT_ALLOWED,
                             "method not allowed");
    if (r->post)
        return begin_post(a, c, r);
    return MHD_YES;
}

/* ---- upload data ---- */

/* Appends data to r's body, growing a chunked upload's buffer up to the
 * limit: 0, P2P_ERR_OVERSIZE (it would pass body_bytes_max), P2P_ERR_LIMIT
 * (the growth would pass the budget) or P2P_ERR_NOMEM. */
static int append(struct prod_admin *a, struct request *r, const char *data,
                  size_t n)
{
    size_t max = a->limits.body_bytes_max;
    if (n > max - r->len)
        return P2P_ERR_OVERSIZE;
    if (n > r->cap - r->len) {
        size_t cap = r->cap < PROD_ADMIN_CHUNKED_BYTES_MIN
                         ? PROD_ADMIN_CHUNKED_BYTES_MIN
                         : r->cap;
        while (cap - r->len < n && cap < max)
            cap = cap > max / 2 ? max : cap * 2;
        if (cap > max)
            cap = max;
        if (!budget_take(a, r, cap - r->cap))
            return P2P_ERR_LIMIT;
        uint8_t *body = realloc(r->body, cap);
        if (body == NULL)
            return P2P_ERR_NOMEM; /* r->held is returned at completion */
        r->body = body;
        r->cap = cap;
    }
    P2P_ASSERT(n <= r->cap - r->len);
    memcpy(r->body + r->len, data, n);
    r->len += n;
    return 0;
}

/* ---- the last call: the answer ---- */

/* The body for ops: never NULL, even when empty. */
static const uint8_t *body_of(const struct request *r)
{
    static const uint8_t empty[1];
    return r->body != NULL ? r->body : empty;
}

static enum MHD_Result post_artifact(struct prod_admin *a,
                                     struct MHD_Connection *c,
                                     struct request *r)
{
    struct p2p_artifact_id id;
    int err = a->ops.post_artifact(a->ops.ctx, r->kind, body_of(r), r->len,
                                   r->height, &id);
    if (err == P2P_ERR_STATE)
        return respond_error(c, r, MHD_HTTP_CONFLICT, "below the purge height");
    if (err != 0)
        return respond_ops_error(
            c, r, err == P2P_ERR_NOT_FOUND ? P2P_ERR_INTERNAL : err);
    char body[sizeof("{\"id\": \"\"}") + 2 * P2P_ID_BYTES];
    char hex[2 * P2P_ID_BYTES + 1];
    conf_hex_encode(id.b, P2P_ID_BYTES, hex, 2 * P2P_ID_BYTES + 1);
    int n = snprintf(body, sizeof(body), "{\"id\": \"%s\"}", hex);
    P2P_ASSERT(n > 0 && (size_t)n < sizeof(body));
    return respond_json(c, r, MHD_HTTP_CREATED, body, (size_t)n);
}

/* The validated pool's ids, malloc'ed: 0 with *ids and *count, or an
 * error (P2P_ERR_NOMEM, P2P_ERR_LIMIT past PROD_ADMIN_LIST_IDS_MAX). */
static int list_ids(struct prod_admin *a, struct p2p_artifact_id **ids,
                    size_t *count)
{
    size_t room = LIST_IDS_FIRST;
    *ids = NULL;
    /* Twice at most: the second call has room for the count the first
     * reported (nothing changes the pool between two calls). */
    for (int attempt = 0; attempt < 2; attempt++) {
        struct p2p_artifact_id *buf = realloc(*ids, room * sizeof(**ids));
        if (buf == NULL)
            return P2P_ERR_NOMEM;
        *ids = buf;
        size_t n = a->ops.list_artifacts(a->ops.ctx, buf, room);
        if (n <= room) {
            *count = n;
            return 0;
        }
        if (n > PROD_ADMIN_LIST_IDS_MAX)
            return P2P_ERR_LIMIT;
        room = n;
    }
    return P2P_ERR_INTERNAL;
}

static enum MHD_Result get_list(struct prod_admin *a, struct MHD_Connection *c,
                                struct request *r)
{
    struct p2p_artifact_id *ids;
    size_t count = 0;
    int err = list_ids(a, &ids, &count);
    if (err != 0) {
        free(ids);
        return respond_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                             err == P2P_ERR_LIMIT ? "too many artifacts"
                                                  : "out of memory");
    }
    size_t cap = sizeof("{\"artifacts\": []}") + count * LIST_ID_JSON_BYTES;
    if (!budget_take(a, r, cap)) {
        free(ids);
        return respond_error(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, BUSY_MESSAGE);
    }
    char *json = malloc(cap);
    if (json == NULL) {
        free(ids);
        return respond_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                             "out of memory");
    }
    size_t len = 0;
    len += (size_t)snprintf(json, cap, "{\"artifacts\": [");
    for (size_t i = 0; i < count; i++) {
        if (i > 0) {
            memcpy(json + len, ", ", 2);
            len += 2;
        }
        json[len++] = '"';
        conf_hex_encode(ids[i].b, P2P_ID_BYTES, json + len,
                        2 * P2P_ID_BYTES + 1);
        len += 2 * P2P_ID_BYTES;
        json[len++] = '"';
    }
    memcpy(json + len, "]}", 3);
    len += 2;
    P2P_ASSERT(len < cap);
    free(ids);
    return respond(c, r, MHD_HTTP_OK, CONTENT_TYPE_JSON, json, len,
                   MHD_RESPMEM_MUST_FREE);
}

/* MHD asks for the bytes at pos, at most max of them. */
static ssize_t read_artifact(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct artifact_read *rd = cls;
    const uint8_t *bytes = NULL;
    size_t len = 0;
    if (rd->a->ops.get_artifact(rd->a->ops.ctx, &rd->id, &bytes, &len) != 0 ||
        len != rd->len)
        return MHD_CONTENT_READER_END_WITH_ERROR; /* gone: cut short */
    if (pos >= len)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = len - (size_t)pos < max ? len - (size_t)pos : max;
    memcpy(buf, bytes + pos, n);
    return (ssize_t)n;
}

static enum MHD_Result get_artifact(struct prod_admin *a,
                                    struct MHD_Connection *c, struct request *r,
                                    const char *url)
{
    struct p2p_artifact_id id;
    if (!parse_id(url + strlen("/artifacts/"), &id))
        return respond_error(c, r, MHD_HTTP_BAD_REQUEST,
                             "artifact id must be 64 hex digits");
    const uint8_t *bytes = NULL;
    size_t len = 0;
    int err = a->ops.get_artifact(a->ops.ctx, &id, &bytes, &len);
    if (err != 0)
        return respond_ops_error(
            c, r, err == P2P_ERR_NOT_FOUND ? err : P2P_ERR_INTERNAL);
    if (len == 0)
        return respond(c, r, MHD_HTTP_OK, CONTENT_TYPE_BYTES, NULL, 0,
                       MHD_RESPMEM_PERSISTENT);
    /* The bytes are borrowed only until the next ops call, and the pool
     * may drop the artifact while it is sent: no copy and no pointer is
     * kept, every block is looked up again (read_artifact). */
    struct artifact_read *rd = malloc(sizeof(*rd));
    if (rd == NULL)
        return respond_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                             "out of memory");
    *rd = (struct artifact_read){.a = a, .id = id, .len = len};
    struct MHD_Response *resp = MHD_create_response_from_callback(
        len, PROD_ADMIN_ARTIFACT_BLOCK_BYTES, read_artifact, rd, free);
    if (resp == NULL) {
        free(rd);
        return MHD_NO;
    }
    return queue(c, r, MHD_HTTP_OK, CONTENT_TYPE_BYTES, resp);
}

static enum MHD_Result post_state(struct prod_admin *a,
                                  struct MHD_Connection *c, struct request *r)
{
    uint64_t height = 0;
    struct p2p_state_hash root;
    int err = a->ops.post_state(a->ops.ctx, body_of(r), r->len, &height, &root);
    if (err != 0)
        return respond_ops_error(c, r,
                                 err == P2P_ERR_OVERSIZE ||
                                         err == P2P_ERR_WRITE ||
                                         err == P2P_ERR_NOMEM
                                     ? err
                                     : P2P_ERR_INTERNAL);
    char hex[2 * P2P_STATE_HASH_BYTES + 1];
    char body[sizeof("{\"height\": , \"root\": \"\"}") + 20 +
              2 * P2P_STATE_HASH_BYTES];
    conf_hex_encode(root.b, P2P_STATE_HASH_BYTES, hex,
                    2 * P2P_STATE_HASH_BYTES + 1);
    int n =
        snprintf(body, sizeof(body),
                 "{\"height\": %" PRIu64 ", \"root\": \"%s\"}", height, hex);
    P2P_ASSERT(n > 0 && (size_t)n < sizeof(body));
    return respond_json(c, r, MHD_HTTP_CREATED, body, (size_t)n);
}

/* GET /state and GET /health: a JSON object from the replica. */
static enum MHD_Result get_json(struct prod_admin *a, struct MHD_Connection *c,
                                struct request *r)
{
    bool healthy = true;
    int n = r->route == ROUTE_STATE
                ? a->ops.state_json(a->ops.ctx, a->json, sizeof(a->json))
            : r->route == ROUTE_REGISTRY_EARLIEST
                ? a->ops.registry_json(a->ops.ctx, a->json, sizeof(a->json))
                : a->ops.health_json(a->ops.ctx, a->json, sizeof(a->json),
                                     &healthy);
    if (n < 0 || (size_t)n >= sizeof(a->json))
        return respond_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                             "internal error");
    return respond_json(c, r,
                        healthy ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                        a->json, (size_t)n);
}

/* The body as a registry version: 1 to 20 decimal digits, >= 1, at most
 * 2^64 - 1, then at most one newline. */
static bool parse_version(const struct request *r, uint64_t *out)
{
    size_t len = r->len;
    if (len > 0 && r->body[len - 1] == '\n')
        len--;
    if (len == 0 || len > 20)
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < len; i++) {
        uint8_t ch = r->body[i];
        if (ch < '0' || ch > '9')
            return false;
        unsigned d = ch - '0';
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return v >= 1;
}

/* POST /registry/earliest: the clients' earliest registry version. */
static enum MHD_Result post_registry_earliest(struct prod_admin *a,
                                              struct MHD_Connection *c,
                                              struct request *r)
{
    uint64_t version = 0;
    if (!parse_version(r, &version))
        return respond_error(c, r, MHD_HTTP_BAD_REQUEST,
                             "the body must be a registry version (decimal "
                             "digits, at least 1)");
    int err = a->ops.set_registry_earliest(a->ops.ctx, version);
    if (err == P2P_ERR_STATE)
        return respond_error(c, r, MHD_HTTP_CONFLICT,
                             "older than the earliest registry version in "
                             "use");
    if (err != 0)
        return respond_ops_error(c, r,
                                 err == P2P_ERR_NOMEM ? err : P2P_ERR_INTERNAL);
    return get_json(a, c, r);
}

/* POST /purge: the purge height. */
static enum MHD_Result post_purge(struct prod_admin *a,
                                  struct MHD_Connection *c, struct request *r)
{
    uint64_t height = 0, purged = 0;
    if (!parse_version(r, &height))
        return respond_error(c, r, MHD_HTTP_BAD_REQUEST,
                             "the body must be a height (decimal digits, at "
                             "least 1)");
    int err = a->ops.purge(a->ops.ctx, height, &purged);
    if (err == P2P_ERR_STATE)
        return respond_error(c, r, MHD_HTTP_CONFLICT,
                             "below the purge height already set");
    if (err != 0)
        return respond_ops_error(c, r,
                                 err == P2P_ERR_NOMEM || err == P2P_ERR_WRITE
                                     ? err
                                     : P2P_ERR_INTERNAL);
    char body[96];
    int n = snprintf(body, sizeof(body),
                     "{\"purge_height\": %" PRIu64 ", \"purged\": %" PRIu64 "}",
                     height, purged);
    P2P_ASSERT(n > 0 && (size_t)n < sizeof(body));
    return respond_json(c, r, MHD_HTTP_OK, body, (size_t)n);
}

static enum MHD_Result get_metrics(struct prod_admin *a,
                                   struct MHD_Connection *c, struct request *r)
{
    char *text = NULL;
    size_t len = 0;
    if (a->ops.metrics_text(a->ops.ctx, &text, &len) != 0) {
        free(text);
        return respond_error(c, r, MHD_HTTP_INTERNAL_SERVER_ERROR,
                             "internal error");
    }
    if (!budget_take(a, r, len)) {
        free(text);
        return respond_error(c, r, MHD_HTTP_SERVICE_UNAVAILABLE, BUSY_MESSAGE);
    }
    return respond(c, r, MHD_HTTP_OK, CONTENT_TYPE_METRICS, text, len,
                   MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result answer(struct prod_admin *a, struct MHD_Connection *c,
                              struct request *r, const char *url)
{
    if (r->fail_status != 0)
        return respond_error(c, r, r->fail_status, r->fail_message);
    switch (r->route) {
    case ROUTE_ARTIFACTS:
        return r->post ? post_artifact(a, c, r) : get_list(a, c, r);
    case ROUTE_ARTIFACT:
        return get_artifact(a, c, r, url);
    case ROUTE_STATE:
        return r->post ? post_state(a, c, r) : get_json(a, c, r);
    case ROUTE_HEALTH:
        return get_json(a, c, r);
    case ROUTE_METRICS:
        return get_metrics(a, c, r);
    case ROUTE_REGISTRY_EARLIEST:
        return r->post ? post_registry_earliest(a, c, r) : get_json(a, c, r);
    case ROUTE_PURGE:
        return post_purge(a, c, r);
    }
    P2P_UNREACHABLE();
    return MHD_NO;
}

/* ---- MHD's callbacks ---- */

/* MHD calls this once with the headers (*con_cls NULL), then once per
 * piece of body (*upload_size > 0), then once more at the end
 * (*upload_size == 0). */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c,
                                  const char *url, const char *method,
                                  const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    struct prod_admin *a = cls;
    struct request *r = *con_cls;
    if (r == NULL) {
        r = calloc(1, sizeof(*r));
        if (r == NULL)
            return MHD_NO; /* MHD closes the connection */
        *con_cls = r;
        return begin(a, c, url, method, r);
    }
    if (*upload_size > 0) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (!r->answered && r->fail_status == 0 && r->post) {
            int err = append(a, r, upload_data, n);
            if (err == 0)
                return MHD_YES;
            fail_body(r, err);
            /* The buffer is of no more use: its bytes go back now. */
            free(r->body);
            r->body = NULL;
            r->len = r->cap = 0;
            budget_give(a, r);
            /* MHD 0.9.75 refuses an answer before the body's end (then
             * it comes at the end); later versions may take it now. */
            respond_error(c, r, r->fail_status, r->fail_message);
        }
        /* Dropped unbuffered; an endless upload is cut off. */
        r->dropped += n;
        return r->dropped <= PROD_ADMIN_DISCARD_BYTES_MAX ? MHD_YES : MHD_NO;
    }
    if (r->answered)
        return MHD_YES;
    return answer(a, c, r, url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    struct prod_admin *a = cls;
    struct request *r = *con_cls;
    if (r == NULL)
        return;
    budget_give(a, r);
    free(r->body);
    free(r);
    *con_cls = NULL;
}

/* MHD's connections come and go: the gate counts them as served. */
static void on_connection(void *cls, struct MHD_Connection *c,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct prod_admin *a = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        a->serving++;
    } else {
        P2P_ASSERT(a->serving > 0);
        a->serving--;
    }
}

/* MHD's log: only the first message while starting is kept (it says
 * why MHD_start_daemon failed); later ones are about single clients and
 * are dropped. */
static void on_log(void *cls, const char *fmt, va_list ap)
{
    struct prod_admin *a = cls;
    if (!a->starting || a->start_log[0] != '\0')
        return;
    vsnprintf(a->start_log, sizeof(a->start_log), fmt, ap);
    size_t n = strlen(a->start_log);
    while (n > 0 && a->start_log[n - 1] == '\n')
        a->start_log[--n] = '\0';
}

/* ---- the loop ---- */

/* Arms the timer at MHD's next deadline (none: stopped). */
static void rearm(struct prod_admin *a)
{
    MHD_UNSIGNED_LONG_LONG ms = 0;
    ev_timer_stop(a->loop, &a->timer);
    if (MHD_get_timeout(a->daemon, &ms) != MHD_YES)
        return;
    ev_timer_set(&a->timer, (double)ms / 1000.0, 0.0);
    ev_timer_start(a->loop, &a->timer);
}

static void pump(struct prod_admin *a)
{
    MHD_run(a->daemon);
    rearm(a);
}

static void on_io(struct ev_loop *loop, ev_io *w, int revents)
{
    pump(w->data);
}

static void on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    pump(w->data);
}

/* ---- start and stop ---- */

static bool ops_complete(const struct prod_admin_ops *ops)
{
    return ops != NULL && ops->post_artifact != NULL &&
           ops->list_artifacts != NULL && ops->get_artifact != NULL &&
           ops->post_state != NULL && ops->state_json != NULL &&
           ops->health_json != NULL && ops->metrics_text != NULL &&
           ops->registry_json != NULL && ops->set_registry_earliest != NULL &&
           ops->purge != NULL;
}

/* addr's port (network order in, host order out), or false. */
static bool port_of(const struct sockaddr *addr, socklen_t addr_len,
                    uint16_t *port)
{
    if (addr->sa_family == AF_INET &&
        addr_len >= (socklen_t)sizeof(struct sockaddr_in)) {
        *port =
            ntohs(((const struct sockaddr_in *)(const void *)addr)->sin_port);
        return true;
    }
    if (addr->sa_family == AF_INET6 &&
        addr_len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        *port =
            ntohs(((const struct sockaddr_in6 *)(const void *)addr)->sin6_port);
        return true;
    }
    return false;
}

/* The listening socket, made here so that it gets SO_REUSEADDR (a
 * restarted replica must get its port back while connections of the old
 * one sit in TIME_WAIT) but not SO_REUSEPORT (two replicas must not share
 * a port), non-blocking for the gate's accept loop. -1 with errno on
 * failure. */
static int listen_socket(const struct sockaddr *addr, socklen_t addr_len)
{
    int fd =
        socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, addr, addr_len) != 0 ||
        listen(fd, (int)PROD_ADMIN_CONNECTIONS_MAX) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* The port fd is bound to (host order), or 0. */
static uint16_t bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0)
        return 0;
    uint16_t port = 0;
    return port_of((const struct sockaddr *)&ss, len, &port) ? port : 0;
}

/* MHD without a listening socket: the gate hands it connections. */
static struct MHD_Daemon *start_daemon(struct prod_admin *a)
{
    /* The logger comes first, so that it sees every message. */
    return MHD_start_daemon(
        MHD_USE_EPOLL | MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG, 0, NULL,
        NULL, on_request, a, MHD_OPTION_EXTERNAL_LOGGER, on_log, a,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)MHD_CONNECTIONS_MAX,
        MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)PROD_ADMIN_CONNECTION_TIMEOUT_S,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)PROD_ADMIN_CONNECTION_MEMORY_BYTES, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, a, MHD_OPTION_NOTIFY_CONNECTION, on_connection, a,
        MHD_OPTION_END);
}

/* ---- the gate's calls ---- */

static size_t gate_serving(void *ctx)
{
    struct prod_admin *a = ctx;
    return a->serving;
}

static void gate_admit(void *ctx, int fd, const struct sockaddr *addr,
                       socklen_t addr_len)
{
    struct prod_admin *a = ctx;
    /* On failure MHD has closed fd (the client sees the connection end). */
    if (MHD_add_connection(a->daemon, fd, addr, addr_len) == MHD_YES)
        pump(a);
}

static int start_gate(struct prod_admin *a, int fd)
{
    struct prod_admin_gate_opts opts = {
        .head = {.head_bytes_max = PROD_ADMIN_HEAD_BYTES_MAX,
                 .fields_max = PROD_ADMIN_HEAD_FIELDS_MAX,
                 .body_bytes_max = a->limits.body_bytes_max},
        .connections_max = PROD_ADMIN_CONNECTIONS_MAX,
        .head_timeout_ms = PROD_ADMIN_HEAD_TIMEOUT_S * 1000u,
    };
    struct prod_admin_gate_ops ops = {
        .ctx = a, .serving = gate_serving, .admit = gate_admit};
    return prod_admin_gate_start(a->loop, fd, &opts, &ops, &a->gate);
}

int prod_admin_start(struct ev_loop *loop, const struct sockaddr *addr,
                     socklen_t addr_len, const struct prod_admin_limits *limits,
                     const struct prod_admin_ops *ops, struct prod_admin **out,
                     char *err, size_t err_len)
{
    P2P_ASSERT(loop != NULL && addr != NULL && out != NULL);
    conf_errmsg_set(err, err_len, "%s", "");
    uint16_t port = 0;
    if (!ops_complete(ops) || !port_of(addr, addr_len, &port)) {
        conf_errmsg_set(err, err_len, "admin: bad address or operations");
        return P2P_ERR_INVALID_ARG;
    }
    if (limits == NULL || limits->buffered_bytes_max < limits->body_bytes_max) {
        conf_errmsg_set(err, err_len,
                        "admin: the buffer budget is below the body limit");
        return P2P_ERR_INVALID_ARG;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) != MHD_YES) {
        conf_errmsg_set(err, err_len,
                        "admin: libmicrohttpd was built without epoll");
        return P2P_ERR_INVALID_ARG;
    }
    struct prod_admin *a = calloc(1, sizeof(*a));
    if (a == NULL) {
        conf_errmsg_set(err, err_len, "admin: out of memory");
        return P2P_ERR_NOMEM;
    }
    a->loop = loop;
    a->ops = *ops;
    a->limits = *limits;
    int fd = listen_socket(addr, addr_len);
    if (fd < 0) {
        char host[NI_MAXHOST] = "?";
        getnameinfo(addr, addr_len, host, sizeof(host), NULL, 0,
                    NI_NUMERICHOST);
        conf_errmsg_set(err, err_len, "admin: cannot listen on %s port %u: %s",
                        host, (unsigned)port, strerror(errno));
        goto fail_free_admin;
    }
    a->port = bound_port(fd);
    a->starting = true;
    a->daemon = start_daemon(a);
    a->starting = false;
    if (a->daemon == NULL) {
        conf_errmsg_set(err, err_len, "admin: libmicrohttpd did not start: %s",
                        a->start_log[0] != '\0' ? a->start_log : "MHD failed");
        close(fd);
        goto fail_free_admin;
    }
    const union MHD_DaemonInfo *epoll_info =
        MHD_get_daemon_info(a->daemon, MHD_DAEMON_INFO_EPOLL_FD);
    if (epoll_info == NULL || a->port == 0) {
        conf_errmsg_set(err, err_len, "admin: no epoll descriptor or port");
        close(fd);
        goto fail_stop_daemon;
    }
    int rc = start_gate(a, fd); /* owns fd from here */
    if (rc != 0) {
        conf_errmsg_set(err, err_len, "admin: the gate did not start: %s",
                        p2p_strerror(rc));
        goto fail_stop_daemon;
    }
    ev_io_init(&a->io, on_io, epoll_info->epoll_fd, EV_READ);
    a->io.data = a;
    ev_init(&a->timer, on_timer);
    a->timer.data = a;
    ev_io_start(loop, &a->io);
    rearm(a);
    *out = a;
    return 0;

fail_stop_daemon:
    MHD_stop_daemon(a->daemon);
fail_free_admin:
    free(a);
    return P2P_ERR_CONNECT;
}

void prod_admin_get_stats(const struct prod_admin *a,
                          struct prod_admin_stats *out)
{
    P2P_ASSERT(a != NULL && out != NULL);
    out->serving = a->serving;
    out->buffered_bytes = a->buffered_bytes;
    out->refused_buffer_total = a->refused_buffer_total;
    prod_admin_gate_get_stats(a->gate, &out->gate);
}

uint16_t prod_admin_port(const struct prod_admin *a)
{
    P2P_ASSERT(a != NULL);
    return a->port;
}

void prod_admin_stop(struct prod_admin *a)
{
    if (a == NULL)
        return;
    prod_admin_gate_stop(a->gate);
    ev_io_stop(a->loop, &a->io);
    ev_timer_stop(a->loop, &a->timer);
    MHD_stop_daemon(a->daemon); /* runs on_completed for open requests */
    P2P_ASSERT(a->buffered_bytes == 0);
    free(a);
}
