/* The replica's admin HTTP API (prod/admin.c) and its Prometheus families
 * (prod/admin_metrics.c). The admin runs on 127.0.0.1 port 0 over a fake
 * operations table (an in-memory pool and state); libcurl's multi
 * interface sends each request while the same thread turns the libev loop,
 * so server and client share one thread and no sleeps are needed. Checks
 * every route, status code and content type, the body limit on both sides
 * (Content-Length and chunked), and that core's families plus the
 * replica's pass `promtool check metrics` (skipped with a notice when
 * promtool is not installed). Over raw sockets too: the errors
 * libmicrohttpd would answer in HTML come as JSON, the connection limit
 * answers 503 and recovers, the budget of buffered bytes holds on both
 * sides of its limit and is returned when a request ends. */
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/err.h"
#include "core/metrics_registry.h"
#include "core/shim.h"
#include "prod/admin.h"
#include "prod/admin_metrics.h"
#include "prod/config.h"

/* The test's body limit: small, so both sides of it are cheap. */
#define BODY_MAX 1024u
/* The fixture's budget of buffered bytes: room for the largest answer
 * built whole here (the /metrics text, the list of 1500 ids). */
#define BUFFER_MAX (8u << 20)
/* Artifacts the fake pool holds; more than the admin's first list call
 * asks for, so the second call is exercised. */
#define FAKE_ARTIFACTS_MAX 1500u
/* A reply body kept by the client (the largest is the /metrics text). */
#define REPLY_BYTES_MAX (1u << 20)
/* Wall-clock bound on one request. */
#define REQUEST_TIMEOUT_S 10

/* ---- the fake replica ---- */

struct fake_artifact {
    struct p2p_artifact_id id;
    enum p2p_artifact_kind kind;
    uint8_t *bytes;
    size_t len;
};

struct fake {
    struct fake_artifact items[FAKE_ARTIFACTS_MAX];
    size_t count;
    size_t pool_max;          /* past it, post answers P2P_ERR_LIMIT */
    int post_err;             /* forced post_artifact error, 0 = none */
    int state_err;            /* forced post_state error, 0 = none */
    size_t list_calls;
    size_t get_calls;
    size_t get_found_max;     /* get finds nothing after this many calls
                                 (0: no limit): the artifact is purged */
    uint64_t height;
    struct p2p_state_hash root;
    size_t state_bytes;
    bool healthy;
    bool fail_reads;          /* state_json, health_json, metrics_text fail */
    uint64_t earliest;        /* the registry version set_registry_earliest
                                 took last */
    uint64_t earliest_floor;  /* below it: P2P_ERR_STATE */
    size_t earliest_calls;
    uint64_t post_height;     /* the height post_artifact took last */
    uint64_t purge_height;    /* the height purge took last */
    size_t purge_calls;
    struct p2p_mem mem;
    struct p2p_node *node;    /* core's families for /metrics */
};

static void hex(const uint8_t *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static int fake_post(void *ctx, enum p2p_artifact_kind kind,
                     const uint8_t *body, size_t len, uint64_t height,
                     struct p2p_artifact_id *id)
{
    struct fake *f = ctx;
    if (f->post_err != 0)
        return f->post_err;
    f->post_height = height;
    if (height > 0 && height < f->purge_height)
        return P2P_ERR_STATE;
    p2p_id_of(body, len, id);
    for (size_t i = 0; i < f->count; i++)
        if (p2p_id_eq(&f->items[i].id, id))
            return P2P_ERR_EXISTS;
    if (f->count == f->pool_max)
        return P2P_ERR_LIMIT;
    struct fake_artifact *a = &f->items[f->count++];
    a->id = *id;
    a->kind = kind;
    a->len = len;
    a->bytes = malloc(len > 0 ? len : 1);
    ck_assert_ptr_nonnull(a->bytes);
    if (len > 0)
        memcpy(a->bytes, body, len);
    return 0;
}

static size_t fake_list(void *ctx, struct p2p_artifact_id *ids, size_t max)
{
    struct fake *f = ctx;
    f->list_calls++;
    for (size_t i = 0; i < f->count && i < max; i++)
        ids[i] = f->items[i].id;
    return f->count;
}

static int fake_get(void *ctx, const struct p2p_artifact_id *id,
                    const uint8_t **bytes, size_t *len)
{
    struct fake *f = ctx;
    f->get_calls++;
    if (f->get_found_max != 0 && f->get_calls > f->get_found_max)
        return P2P_ERR_NOT_FOUND;
    for (size_t i = 0; i < f->count; i++) {
        if (p2p_id_eq(&f->items[i].id, id)) {
            *bytes = f->items[i].bytes;
            *len = f->items[i].len;
            return 0;
        }
    }
    return P2P_ERR_NOT_FOUND;
}

static int fake_post_state(void *ctx, const uint8_t *bytes, size_t len,
                           uint64_t *height, struct p2p_state_hash *root)
{
    struct fake *f = ctx;
    if (f->state_err != 0)
        return f->state_err;
    if (len == 0)
        return P2P_ERR_DECODE;
    p2p_state_hash_of(bytes, len, &f->root);
    f->height++;
    f->state_bytes = len;
    *height = f->height;
    *root = f->root;
    return 0;
}

static int fake_state_json(void *ctx, char *buf, size_t cap)
{
    struct fake *f = ctx;
    if (f->fail_reads)
        return P2P_ERR_INTERNAL;
    char root[2 * P2P_STATE_HASH_BYTES + 1];
    hex(f->root.b, P2P_STATE_HASH_BYTES, root);
    return snprintf(buf, cap, "{\"height\": %llu, \"root\": \"%s\", "
                    "\"bytes\": %zu}", (unsigned long long)f->height, root,
                    f->state_bytes);
}

static int fake_health_json(void *ctx, char *buf, size_t cap, bool *healthy)
{
    struct fake *f = ctx;
    *healthy = f->healthy;
    if (f->fail_reads) /* as if the JSON did not fit */
        return (int)cap;
    return snprintf(buf, cap, "{\"ok\": %s, \"node\": 0}",
                    f->healthy ? "true" : "false");
}

static int fake_registry_json(void *ctx, char *buf, size_t cap)
{
    struct fake *f = ctx;
    return snprintf(buf, cap, "{\"earliest_version\": %llu}",
                    (unsigned long long)f->earliest);
}

static int fake_set_earliest(void *ctx, uint64_t version)
{
    struct fake *f = ctx;
    f->earliest_calls++;
    if (version < f->earliest_floor)
        return P2P_ERR_STATE;
    f->earliest = version;
    return 0;
}

static int fake_purge(void *ctx, uint64_t height, uint64_t *purged)
{
    struct fake *f = ctx;
    f->purge_calls++;
    if (height < f->purge_height)
        return P2P_ERR_STATE;
    f->purge_height = height;
    *purged = 7;
    return 0;
}

/* Two peers in different states, one with an awkward state string. */
static void sample_stats(struct quic_peer_stats peers[2],
                         struct quic_endpoint_totals *tot)
{
    memset(peers, 0, 2 * sizeof(peers[0]));
    memset(tot, 0, sizeof(*tot));
    peers[0].index = 1;
    memset(peers[0].id_hex, 'a', 64);
    peers[0].conn_state = "up";
    peers[0].bytes_sent = 1000;
    peers[0].bytes_received = 2000;
    peers[0].messages_sent = 3;
    peers[0].messages_received = 4;
    peers[0].streams_reset_received = 5;
    peers[0].streams_reset_sent = 15;
    peers[0].handshakes = 6;
    peers[0].rtt_us = 1500;
    peers[1].index = 2;
    memset(peers[1].id_hex, 'b', 64);
    peers[1].conn_state = "we\"ird\\";
    peers[1].rtt_us = 7;
    tot->refusals[QUIC_REFUSE_NOT_MEMBER] = 2;
    tot->conns_dialled = 8;
    tot->conns_accepted = 9;
    tot->conns_closed = 10;
    tot->conns_up = 1;
    tot->udp_datagrams_in = 11;
    tot->udp_datagrams_out = 12;
    tot->udp_bytes_in = 13;
    tot->udp_bytes_out = 14;
    tot->bytes_sent[P2P_TRAFFIC_PUSH] = 16;
    tot->bytes_received[P2P_TRAFFIC_STATE] = 17;
    tot->messages_sent = 18;
    tot->messages_received = 19;
}

/* Core's families of a fresh node, then the replica's: malloc'ed. */
static char *full_metrics(struct p2p_node *node, size_t *len)
{
    struct quic_peer_stats peers[2];
    struct quic_endpoint_totals tot;
    sample_stats(peers, &tot);
    struct p2p_metrics_text t;
    p2p_metrics_text_init(&t, NULL, 0);
    p2p_node_metrics_write(node, 0, &t);
    prod_admin_metrics_write(&t, peers, 2, &tot);
    size_t need = t.len + 1;
    char *buf = malloc(need);
    ck_assert_ptr_nonnull(buf);
    p2p_metrics_text_init(&t, buf, need);
    p2p_node_metrics_write(node, 0, &t);
    prod_admin_metrics_write(&t, peers, 2, &tot);
    ck_assert_int_eq(p2p_metrics_text_finish(&t, len), 0);
    ck_assert_uint_eq(*len, need - 1);
    return buf;
}

static int fake_metrics(void *ctx, char **text, size_t *len)
{
    struct fake *f = ctx;
    if (f->fail_reads)
        return P2P_ERR_NOMEM;
    *text = full_metrics(f->node, len);
    return 0;
}

/* ---- the fixture: a loop, a fake and an admin ---- */

static struct fake *fk;
static struct ev_loop *loop;
static struct prod_admin *admin;
static CURLM *multi;

static const struct prod_admin_limits test_limits = {
    .body_bytes_max = BODY_MAX, .buffered_bytes_max = BUFFER_MAX};

static const struct prod_admin_ops fake_ops_template = {
    .post_artifact = fake_post,
    .list_artifacts = fake_list,
    .get_artifact = fake_get,
    .post_state = fake_post_state,
    .state_json = fake_state_json,
    .health_json = fake_health_json,
    .metrics_text = fake_metrics,
    .registry_json = fake_registry_json,
    .set_registry_earliest = fake_set_earliest,
    .purge = fake_purge,
};

static void loopback(struct sockaddr_in *sin, uint16_t port)
{
    memset(sin, 0, sizeof(*sin));
    sin->sin_family = AF_INET;
    sin->sin_port = htons(port);
    sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

static void setup(void)
{
    fk = calloc(1, sizeof(*fk));
    ck_assert_ptr_nonnull(fk);
    fk->pool_max = FAKE_ARTIFACTS_MAX;
    fk->healthy = true;
    p2p_mem_init(&fk->mem);
    struct p2p_config c;
    p2p_config_default(&c, 0, 1);
    ck_assert_int_eq(p2p_node_new(&c, &fk->mem, &fk->node), 0);
    loop = ev_loop_new(EVFLAG_AUTO);
    ck_assert_ptr_nonnull(loop);
    struct prod_admin_ops ops = fake_ops_template;
    ops.ctx = fk;
    struct sockaddr_in sin;
    loopback(&sin, 0);
    char err[256];
    int rc = prod_admin_start(loop, (const struct sockaddr *)&sin,
                              sizeof(sin), &test_limits, &ops, &admin, err,
                              sizeof(err));
    ck_assert_msg(rc == 0, "start: %d %s", rc, err);
    ck_assert_uint_ne(prod_admin_port(admin), 0);
    multi = curl_multi_init();
    ck_assert_ptr_nonnull(multi);
}

static void teardown(void)
{
    curl_multi_cleanup(multi);
    prod_admin_stop(admin);
    ev_loop_destroy(loop);
    for (size_t i = 0; i < fk->count; i++)
        free(fk->items[i].bytes);
    p2p_node_del(fk->node);
    free(fk);
}

/* ---- the client ---- */

struct reply {
    CURLcode result;
    long status;
    char type[128];
    char allow[64];
    char body[REPLY_BYTES_MAX + 1]; /* NUL-terminated */
    size_t len;
};

/* A request's body, sent through the read callback (chunked uploads). */
struct upload {
    const uint8_t *data;
    size_t len, off;
    size_t piece;             /* at most this much per callback */
};

struct request_opts {
    const char *method;       /* GET when NULL */
    const char *path;
    const char *header;       /* one extra header line, or NULL */
    const void *body;
    size_t len;
    bool chunked;             /* Transfer-Encoding: chunked */
    bool expect_continue;     /* Expect: 100-continue */
    size_t piece;             /* chunked: bytes per chunk (default 100) */
    bool may_fail;            /* the transfer may end in a curl error */
};

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
    struct reply *r = user;
    size_t k = size * n;
    ck_assert_uint_le(k, REPLY_BYTES_MAX - r->len);
    memcpy(r->body + r->len, data, k);
    r->len += k;
    r->body[r->len] = '\0';
    return k;
}

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
    struct reply *r = user;
    size_t k = size * n;
    if (k > 7 && strncasecmp(data, "Allow: ", 7) == 0) {
        size_t v = k - 7 < sizeof(r->allow) ? k - 7 : sizeof(r->allow) - 1;
        memcpy(r->allow, data + 7, v);
        r->allow[v] = '\0';
        r->allow[strcspn(r->allow, "\r\n")] = '\0';
    }
    return k;
}

static size_t on_read(char *buf, size_t size, size_t n, void *user)
{
    struct upload *u = user;
    size_t k = size * n;
    if (k > u->len - u->off)
        k = u->len - u->off;
    if (k > u->piece)
        k = u->piece;
    memcpy(buf, u->data + u->off, k);
    u->off += k;
    return k;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs the request to completion, turning the admin's loop meanwhile. */
static CURLcode drive(CURL *e)
{
    double deadline = now_s() + REQUEST_TIMEOUT_S;
    ck_assert_int_eq(curl_multi_add_handle(multi, e), CURLM_OK);
    int running = 1;
    while (running > 0) {
        ck_assert_int_eq(curl_multi_perform(multi, &running), CURLM_OK);
        if (running == 0)
            break;
        ck_assert_int_eq(curl_multi_poll(multi, NULL, 0, 1, NULL), CURLM_OK);
        ev_run(loop, EVRUN_NOWAIT);
        ck_assert_msg(now_s() < deadline, "request timed out");
    }
    int left = 0;
    CURLMsg *m = curl_multi_info_read(multi, &left);
    ck_assert_ptr_nonnull(m);
    ck_assert_int_eq(m->msg, CURLMSG_DONE);
    CURLcode result = m->data.result;
    curl_multi_remove_handle(multi, e);
    return result;
}

static struct reply *request(const struct request_opts *o)
{
    static struct reply reply;
    struct reply *r = &reply;
    memset(r, 0, offsetof(struct reply, body) + 1);
    r->len = 0;
    char url[256];
    snprintf(url, sizeof(url), "http://127.0.0.1:%u%s",
             (unsigned)prod_admin_port(admin), o->path);
    CURL *e = curl_easy_init();
    ck_assert_ptr_nonnull(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    struct curl_slist *hdrs = NULL;
    if (o->header != NULL)
        hdrs = curl_slist_append(hdrs, o->header);
    /* curl adds Expect on its own for large bodies; say which we want. */
    hdrs = curl_slist_append(hdrs, o->expect_continue ? "Expect: 100-continue"
                                                      : "Expect:");
    struct upload up = {.data = o->body, .len = o->len,
                        .piece = o->piece != 0 ? o->piece : 100};
    const char *method = o->method != NULL ? o->method : "GET";
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        if (o->chunked) {
            hdrs = curl_slist_append(hdrs, "Transfer-Encoding: chunked");
            curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(e, CURLOPT_READDATA, &up);
        } else {
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, o->body != NULL ? o->body
                                                                    : "");
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                             (curl_off_t)o->len);
        }
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, hdrs);
    r->result = drive(e);
    ck_assert_msg(o->may_fail || r->result == CURLE_OK, "curl: %s",
                  curl_easy_strerror(r->result));
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    char *type = NULL;
    curl_easy_getinfo(e, CURLINFO_CONTENT_TYPE, &type);
    if (type != NULL)
        snprintf(r->type, sizeof(r->type), "%s", type);
    curl_easy_cleanup(e);
    curl_slist_free_all(hdrs);
    return r;
}

static struct reply *get(const char *path)
{
    return request(&(struct request_opts){.path = path});
}

static struct reply *post(const char *path, const char *header,
                          const void *body, size_t len)
{
    return request(&(struct request_opts){
        .method = "POST", .path = path, .header = header, .body = body,
        .len = len});
}

/* An error answer: the status, JSON, and an "error" member. */
static void assert_error(const struct reply *r, long status)
{
    ck_assert_int_eq(r->status, status);
    ck_assert_str_eq(r->type, "application/json");
    ck_assert_msg(strncmp(r->body, "{\"error\": \"", 11) == 0 &&
                      r->body[r->len - 1] == '}',
                  "error body: %s", r->body);
}

static void id_hex_of(const void *body, size_t len, char out[65])
{
    struct p2p_artifact_id id;
    p2p_id_of(body, len, &id);
    hex(id.b, P2P_ID_BYTES, out);
}

/* ---- POST /artifacts ---- */

START_TEST(post_push_and_advert)
{
    char want[65], body[128];
    id_hex_of("hello", 5, want);
    struct reply *r = post("/artifacts", "X-Artifact-Kind: push", "hello", 5);
    ck_assert_int_eq(r->status, 201);
    ck_assert_str_eq(r->type, "application/json");
    snprintf(body, sizeof(body), "{\"id\": \"%s\"}", want);
    ck_assert_str_eq(r->body, body);
    ck_assert_uint_eq(fk->count, 1);
    ck_assert_int_eq(fk->items[0].kind, P2P_KIND_PUSH);
    ck_assert_uint_eq(fk->items[0].len, 5);
    ck_assert_mem_eq(fk->items[0].bytes, "hello", 5);

    /* No header: advert. */
    r = post("/artifacts", NULL, "world", 5);
    ck_assert_int_eq(r->status, 201);
    ck_assert_int_eq(fk->items[1].kind, P2P_KIND_ADVERT);
    r = post("/artifacts", "X-Artifact-Kind: advert", "third", 5);
    ck_assert_int_eq(r->status, 201);
    ck_assert_int_eq(fk->items[2].kind, P2P_KIND_ADVERT);
    ck_assert_uint_eq(fk->count, 3);
}
END_TEST

START_TEST(post_bad_kind_is_400)
{
    struct reply *r = post("/artifacts", "X-Artifact-Kind: gossip", "x", 1);
    assert_error(r, 400);
    r = post("/artifacts", "X-Artifact-Kind: PUSH2", "x", 1);
    assert_error(r, 400);
    r = post("/artifacts", "X-Artifact-Kind;", "x", 1); /* empty value */
    assert_error(r, 400);
    ck_assert_uint_eq(fk->count, 0);
    r = post("/artifacts", "X-Artifact-Kind: PUSH", "x", 1);
    ck_assert_int_eq(r->status, 201);
    ck_assert_int_eq(fk->items[0].kind, P2P_KIND_PUSH);
}
END_TEST

/* X-Artifact-Height reaches post_artifact (0 without it); one that is
 * not decimal digits is 400 without a call; below the purge height, 409. */
START_TEST(post_height_header)
{
    struct reply *r = post("/artifacts", "X-Artifact-Height: 42", "h42", 3);
    ck_assert_int_eq(r->status, 201);
    ck_assert_uint_eq(fk->post_height, 42);
    r = post("/artifacts", NULL, "none", 4);
    ck_assert_int_eq(r->status, 201);
    ck_assert_uint_eq(fk->post_height, 0);
    r = post("/artifacts", "X-Artifact-Height: 18446744073709551615", "max", 3);
    ck_assert_int_eq(r->status, 201);
    ck_assert_uint_eq(fk->post_height, UINT64_MAX);
    static const char *const bad[] = {
        "X-Artifact-Height: -1", "X-Artifact-Height: 1x",
        "X-Artifact-Height: 0x10", "X-Artifact-Height;",
        "X-Artifact-Height: 18446744073709551616", "X-Artifact-Height: 1 2"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = post("/artifacts", bad[i], "bad", 3);
        assert_error(r, 400);
        ck_assert_msg(strstr(r->body, "X-Artifact-Height") != NULL, "%s",
                      r->body);
    }
    ck_assert_uint_eq(fk->count, 3);
    fk->purge_height = 10;
    r = post("/artifacts", "X-Artifact-Height: 9", "old", 3);
    assert_error(r, 409);
    ck_assert_msg(strstr(r->body, "purge height") != NULL, "%s", r->body);
    ck_assert_int_eq(post("/artifacts", "X-Artifact-Height: 10", "new", 3)->status,
                     201);
}
END_TEST

/* POST /purge: the height reaches the replica, the answer names it and
 * the count; not a height is 400 without a call; moving back is 409; GET
 * is 405 with Allow: POST. */
START_TEST(purge_route)
{
    struct reply *r = post("/purge", NULL, "5\n", 2);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->type, "application/json");
    ck_assert_str_eq(r->body, "{\"purge_height\": 5, \"purged\": 7}");
    ck_assert_uint_eq(fk->purge_height, 5);
    static const char *const bad[] = {"", "0", "-1", "x", " 5", "5\n\n",
                                      "18446744073709551616"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_error(post("/purge", NULL, bad[i], strlen(bad[i])), 400);
    ck_assert_uint_eq(fk->purge_calls, 1);
    r = post("/purge", NULL, "4", 1);
    assert_error(r, 409);
    ck_assert_uint_eq(fk->purge_height, 5);
    ck_assert_int_eq(post("/purge", NULL, "5", 1)->status, 200);
    r = get("/purge");
    assert_error(r, 405);
    ck_assert_str_eq(r->allow, "POST");
    ck_assert_uint_eq(fk->purge_calls, 3);
}
END_TEST

/* Each error of post_artifact has its status. */
START_TEST(post_errors_map_to_status)
{
    ck_assert_int_eq(post("/artifacts", NULL, "dup", 3)->status, 201);
    assert_error(post("/artifacts", NULL, "dup", 3), 409);
    fk->pool_max = 1;
    assert_error(post("/artifacts", NULL, "new", 3), 507);
    fk->post_err = P2P_ERR_OVERSIZE;
    assert_error(post("/artifacts", NULL, "new", 3), 413);
    fk->post_err = P2P_ERR_WRITE;
    assert_error(post("/artifacts", NULL, "new", 3), 500);
    fk->post_err = P2P_ERR_INTERNAL;
    assert_error(post("/artifacts", NULL, "new", 3), 500);
    ck_assert_uint_eq(fk->count, 1);
}
END_TEST

/* Content-Length at the limit is accepted, one byte over is 413. */
START_TEST(body_limit_with_content_length)
{
    static uint8_t body[BODY_MAX + 1];
    memset(body, 'a', sizeof(body));
    assert_error(post("/artifacts", NULL, body, BODY_MAX + 1), 413);
    ck_assert_uint_eq(fk->count, 0);
    ck_assert_int_eq(post("/artifacts", NULL, body, BODY_MAX)->status, 201);
    ck_assert_uint_eq(fk->count, 1);
    ck_assert_uint_eq(fk->items[0].len, BODY_MAX);
}
END_TEST

/* A large body announced with Expect: 100-continue is refused before it
 * is sent. */
START_TEST(large_body_refused_before_upload)
{
    size_t len = 4u << 20;
    uint8_t *body = malloc(len);
    ck_assert_ptr_nonnull(body);
    memset(body, 'b', len);
    struct reply *r = request(&(struct request_opts){
        .method = "POST", .path = "/artifacts", .body = body, .len = len,
        .expect_continue = true});
    assert_error(r, 413);
    r = request(&(struct request_opts){
        .method = "POST", .path = "/state", .body = body, .len = len,
        .expect_continue = true});
    assert_error(r, 413);
    free(body);
    ck_assert_uint_eq(fk->count, 0);
    ck_assert_uint_eq(fk->height, 0);
}
END_TEST

/* Chunked uploads: the limit holds without a Content-Length. */
START_TEST(body_limit_chunked)
{
    static uint8_t body[BODY_MAX + 1];
    memset(body, 'c', sizeof(body));
    struct reply *r = request(&(struct request_opts){
        .method = "POST", .path = "/artifacts", .body = body,
        .len = BODY_MAX + 1, .chunked = true});
    assert_error(r, 413);
    ck_assert_uint_eq(fk->count, 0);
    r = request(&(struct request_opts){
        .method = "POST", .path = "/artifacts", .body = body,
        .len = BODY_MAX, .chunked = true});
    ck_assert_int_eq(r->status, 201);
    ck_assert_uint_eq(fk->count, 1);
    ck_assert_uint_eq(fk->items[0].len, BODY_MAX);
    ck_assert_mem_eq(fk->items[0].bytes, body, BODY_MAX);
}
END_TEST

/* A chunked upload far past the limit is dropped as it comes and answered
 * 413 at its end; past PROD_ADMIN_DISCARD_BYTES_MAX dropped bytes the
 * connection is closed instead. */
START_TEST(chunked_overflow_is_dropped)
{
    /* Dropped bytes are at most len, and at least len - BODY_MAX. */
    size_t len = PROD_ADMIN_DISCARD_BYTES_MAX;
    size_t too_long = PROD_ADMIN_DISCARD_BYTES_MAX + BODY_MAX + 1;
    uint8_t *body = malloc(too_long);
    ck_assert_ptr_nonnull(body);
    memset(body, 'd', too_long);
    struct reply *r = request(&(struct request_opts){
        .method = "POST", .path = "/artifacts", .body = body, .len = len,
        .chunked = true, .piece = 64u << 10});
    assert_error(r, 413);
    r = request(&(struct request_opts){
        .method = "POST", .path = "/artifacts", .body = body,
        .len = too_long, .chunked = true, .piece = 64u << 10,
        .may_fail = true});
    ck_assert_msg(r->result != CURLE_OK && r->status == 0,
                  "curl %d, status %ld", r->result, r->status);
    free(body);
    ck_assert_uint_eq(fk->count, 0);
    /* The admin still answers. */
    ck_assert_int_eq(get("/health")->status, 200);
}
END_TEST

/* ---- GET /artifacts ---- */

START_TEST(list_artifacts)
{
    struct reply *r = get("/artifacts");
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->type, "application/json");
    ck_assert_str_eq(r->body, "{\"artifacts\": []}");
    char a[65], b[65], want[256];
    id_hex_of("one", 3, a);
    id_hex_of("two", 3, b);
    ck_assert_int_eq(post("/artifacts", NULL, "one", 3)->status, 201);
    ck_assert_int_eq(post("/artifacts", NULL, "two", 3)->status, 201);
    r = get("/artifacts");
    ck_assert_int_eq(r->status, 200);
    snprintf(want, sizeof(want), "{\"artifacts\": [\"%s\", \"%s\"]}", a, b);
    ck_assert_str_eq(r->body, want);
}
END_TEST

/* More ids than the admin's first call makes room for. */
START_TEST(list_many_artifacts)
{
    for (uint32_t i = 0; i < FAKE_ARTIFACTS_MAX; i++) {
        struct p2p_artifact_id id;
        ck_assert_int_eq(fake_post(fk, P2P_KIND_PUSH, (const uint8_t *)&i,
                                   sizeof(i), 0, &id), 0);
    }
    fk->list_calls = 0;
    struct reply *r = get("/artifacts");
    ck_assert_int_eq(r->status, 200);
    ck_assert_uint_eq(fk->list_calls, 2);
    size_t want = strlen("{\"artifacts\": []}") +
                  FAKE_ARTIFACTS_MAX * 66 + (FAKE_ARTIFACTS_MAX - 1) * 2;
    ck_assert_uint_eq(r->len, want);
    char last[65];
    hex(fk->items[FAKE_ARTIFACTS_MAX - 1].id.b, P2P_ID_BYTES, last);
    ck_assert_ptr_nonnull(strstr(r->body, last));
}
END_TEST

/* ---- GET /artifacts/<hex> ---- */

START_TEST(get_artifact_by_id)
{
    static const uint8_t bytes[] = {0, 1, 2, 0xff, 0, 'z'};
    char id[65], path[128];
    id_hex_of(bytes, sizeof(bytes), id);
    ck_assert_int_eq(post("/artifacts", NULL, bytes, sizeof(bytes))->status,
                     201);
    snprintf(path, sizeof(path), "/artifacts/%s", id);
    struct reply *r = get(path);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->type, "application/octet-stream");
    ck_assert_uint_eq(r->len, sizeof(bytes));
    ck_assert_mem_eq(r->body, bytes, sizeof(bytes));
    /* Upper-case hex names the same id. */
    for (char *p = path + strlen("/artifacts/"); *p != '\0'; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    ck_assert_int_eq(get(path)->status, 200);
}
END_TEST

START_TEST(get_artifact_bad_or_unknown)
{
    char path[128], id[65];
    id_hex_of("absent", 6, id);
    snprintf(path, sizeof(path), "/artifacts/%s", id);
    assert_error(get(path), 404);
    /* 63 digits, 65 digits, a non-hex digit, nothing. */
    snprintf(path, sizeof(path), "/artifacts/%.63s", id);
    assert_error(get(path), 400);
    snprintf(path, sizeof(path), "/artifacts/%s0", id);
    assert_error(get(path), 400);
    snprintf(path, sizeof(path), "/artifacts/%.63sg", id);
    assert_error(get(path), 400);
    assert_error(get("/artifacts/"), 400);
}
END_TEST

/* ---- routing ---- */

START_TEST(unknown_path_is_404)
{
    assert_error(get("/"), 404);
    assert_error(get("/nope"), 404);
    assert_error(get("/artifactsx"), 404);
    assert_error(get("/health/"), 404);
    assert_error(post("/nope", NULL, "x", 1), 404);
    ck_assert_uint_eq(fk->count, 0);
}
END_TEST

START_TEST(wrong_method_is_405)
{
    struct reply *r =
        request(&(struct request_opts){.method = "DELETE",
                                       .path = "/artifacts"});
    assert_error(r, 405);
    ck_assert_str_eq(r->allow, "GET, HEAD, POST");
    r = post("/health", NULL, "x", 1);
    assert_error(r, 405);
    ck_assert_str_eq(r->allow, "GET, HEAD");
    r = post("/metrics", NULL, "x", 1);
    assert_error(r, 405);
    char path[128], id[65];
    id_hex_of("x", 1, id);
    snprintf(path, sizeof(path), "/artifacts/%s", id);
    r = post(path, NULL, "x", 1);
    assert_error(r, 405);
    ck_assert_str_eq(r->allow, "GET, HEAD");
    r = request(&(struct request_opts){.method = "PUT", .path = "/state"});
    assert_error(r, 405);
    ck_assert_uint_eq(fk->count, 0);
    ck_assert_uint_eq(fk->height, 0);
}
END_TEST

/* ---- /registry/earliest ---- */

/* A POSTed version reaches the replica and the answer is its JSON; GET
 * reads it; a body that is no version (empty, 0, a sign, a space, past
 * 2^64 - 1, two newlines) is 400 without a call; the replica's refusal
 * of an older version is 409; PUT is 405. */
START_TEST(registry_earliest_post_and_get)
{
    struct reply *r = post("/registry/earliest", NULL, "3", 1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->type, "application/json");
    ck_assert_str_eq(r->body, "{\"earliest_version\": 3}");
    r = post("/registry/earliest", NULL, "18446744073709551615\n", 21);
    ck_assert_int_eq(r->status, 200);
    ck_assert_uint_eq(fk->earliest, UINT64_MAX);
    r = get("/registry/earliest");
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->body, "{\"earliest_version\": 18446744073709551615}");
    ck_assert_uint_eq(fk->earliest_calls, 2);
    static const char *const bad[] = {"", "0", "00", "+3", "-1", " 3", "3 ",
                                      "3\n\n", "18446744073709551616",
                                      "3a", "0x10"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        r = post("/registry/earliest", NULL, bad[i], strlen(bad[i]));
        assert_error(r, 400);
        ck_assert_msg(strstr(r->body, "registry version") != NULL, "%s",
                      r->body);
    }
    ck_assert_uint_eq(fk->earliest_calls, 2);
    fk->earliest_floor = 5;
    r = post("/registry/earliest", NULL, "4", 1);
    assert_error(r, 409);
    ck_assert_uint_eq(fk->earliest_calls, 3);
    ck_assert_uint_eq(fk->earliest, UINT64_MAX);
    r = post("/registry/earliest", NULL, "5", 1);
    ck_assert_int_eq(r->status, 200);
    ck_assert_uint_eq(fk->earliest, 5);
    r = request(&(struct request_opts){.method = "PUT",
                                       .path = "/registry/earliest"});
    assert_error(r, 405);
    ck_assert_str_eq(r->allow, "GET, HEAD, POST");
    assert_error(get("/registry"), 404);
}
END_TEST

/* ---- /health, /state ---- */

START_TEST(health_ok_and_unhealthy)
{
    struct reply *r = get("/health");
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->type, "application/json");
    ck_assert_str_eq(r->body, "{\"ok\": true, \"node\": 0}");
    r = request(&(struct request_opts){.method = "HEAD", .path = "/health"});
    ck_assert_int_eq(r->status, 200);
    ck_assert_uint_eq(r->len, 0);
    fk->healthy = false;
    r = get("/health");
    ck_assert_int_eq(r->status, 503);
    ck_assert_str_eq(r->body, "{\"ok\": false, \"node\": 0}");
}
END_TEST

START_TEST(state_post_and_get)
{
    static const char bytes[] = "some state bytes";
    struct p2p_state_hash root;
    char root_hex[65], want[256];
    p2p_state_hash_of((const uint8_t *)bytes, strlen(bytes), &root);
    hex(root.b, P2P_STATE_HASH_BYTES, root_hex);
    struct reply *r = post("/state", NULL, bytes, strlen(bytes));
    ck_assert_int_eq(r->status, 201);
    ck_assert_str_eq(r->type, "application/json");
    snprintf(want, sizeof(want), "{\"height\": 1, \"root\": \"%s\"}",
             root_hex);
    ck_assert_str_eq(r->body, want);
    r = get("/state");
    ck_assert_int_eq(r->status, 200);
    snprintf(want, sizeof(want),
             "{\"height\": 1, \"root\": \"%s\", \"bytes\": %zu}", root_hex,
             strlen(bytes));
    ck_assert_str_eq(r->body, want);
    /* The replica's own refusal (here: an empty state) is a 500. */
    assert_error(post("/state", NULL, "", 0), 500);
    ck_assert_uint_eq(fk->height, 1);
    /* Over the body limit: 413 and no checkpoint. */
    static uint8_t big[BODY_MAX + 1];
    assert_error(post("/state", NULL, big, sizeof(big)), 413);
    ck_assert_uint_eq(fk->height, 1);
}
END_TEST

/* The replica's failures (an error, a JSON too long) are 500s. */
START_TEST(read_failures_are_500)
{
    fk->fail_reads = true;
    assert_error(get("/state"), 500);
    assert_error(get("/health"), 500);
    assert_error(get("/metrics"), 500);
    fk->fail_reads = false;
    ck_assert_int_eq(get("/metrics")->status, 200);
}
END_TEST

/* ---- /metrics and promtool ---- */

static bool have_promtool(void)
{
    return system("command -v promtool >/dev/null 2>&1") == 0;
}

/* What promtool says of a text: its exit status (0 clean, 3 lint
 * problems only, else not parseable) and its output. */
struct promtool_verdict {
    int status;
    char output[8192];
};

static void promtool_run(const char *text, size_t len,
                         struct promtool_verdict *v)
{
    char in[] = "/tmp/test_prod_admin_in_XXXXXX";
    char out[] = "/tmp/test_prod_admin_out_XXXXXX";
    int fd = mkstemp(in);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    int ofd = mkstemp(out);
    ck_assert_int_ge(ofd, 0);
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "promtool check metrics < %s > %s 2>&1", in,
             out);
    int st = system(cmd);
    v->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    ssize_t n = read(ofd, v->output, sizeof(v->output) - 1);
    v->output[n > 0 ? n : 0] = '\0';
    close(ofd);
    unlink(in);
    unlink(out);
}

/* The text parses and promtool's linter finds nothing in it (core's
 * families and the replica's alike). */
static void assert_promtool_clean(const char *text, size_t len)
{
    struct promtool_verdict v;
    promtool_run(text, len, &v);
    ck_assert_msg(v.status == 0, "promtool %d: %s", v.status, v.output);
}

static void promtool_missing_notice(void)
{
    printf("NOTICE: promtool not found (Debian package prometheus); "
           "metrics not checked by it\n");
}

START_TEST(metrics_endpoint)
{
    struct reply *r = get("/metrics");
    ck_assert_int_eq(r->status, 200);
    ck_assert_str_eq(r->type, "text/plain; version=0.0.4; charset=utf-8");
    ck_assert_ptr_nonnull(strstr(r->body, "\np2p_artifacts_validated_total "));
    ck_assert_ptr_nonnull(
        strstr(r->body,
               "\np2p_replica_peer_state{peer=\"1\",state=\"up\"} 1\n"));
    if (!have_promtool()) {
        promtool_missing_notice();
        return;
    }
    assert_promtool_clean(r->body, r->len);
}
END_TEST

/* Core's families of a fresh node plus the replica's parse; the
 * replica's own pass promtool's linter without a finding, with peers and
 * without. */
START_TEST(metrics_pass_promtool)
{
    if (!have_promtool()) {
        promtool_missing_notice();
        return;
    }
    size_t len = 0;
    char *text = full_metrics(fk->node, &len);
    struct promtool_verdict v;
    promtool_run(text, len, &v);
    free(text);
    ck_assert_msg(v.status == 0, "promtool %d: %s", v.status, v.output);

    struct quic_peer_stats peers[2];
    struct quic_endpoint_totals tot;
    sample_stats(peers, &tot);
    static char buf[16384];
    struct p2p_metrics_text t;
    for (uint32_t count = 0; count <= 2; count += 2) {
        p2p_metrics_text_init(&t, buf, sizeof(buf));
        prod_admin_metrics_write(&t, peers, count, &tot);
        ck_assert_int_eq(p2p_metrics_text_finish(&t, &len), 0);
        promtool_run(buf, len, &v);
        ck_assert_msg(v.status == 0, "promtool %d: %s", v.status, v.output);
    }
}
END_TEST

/* The replica's families, line by line. */
START_TEST(metrics_writer_lines)
{
    struct quic_peer_stats peers[2];
    struct quic_endpoint_totals tot;
    sample_stats(peers, &tot);
    static char buf[16384];
    struct p2p_metrics_text t;
    p2p_metrics_text_init(&t, buf, sizeof(buf));
    prod_admin_metrics_write(&t, peers, 2, &tot);
    size_t len = 0;
    ck_assert_int_eq(p2p_metrics_text_finish(&t, &len), 0);
    static const char *const lines[] = {
        "# TYPE p2p_replica_peer_info gauge\n",
        /* One line in two pieces, in parentheses: clang's
         * -Wstring-concatenation takes a bare pair in an array for a
         * missing comma. */
        ("p2p_replica_peer_info{peer=\"1\",id=\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"} 1\n"),
        "p2p_replica_peer_state{peer=\"1\",state=\"up\"} 1\n",
        "p2p_replica_peer_state{peer=\"1\",state=\"idle\"} 0\n",
        "p2p_replica_peer_state{peer=\"2\",state=\"up\"} 0\n",
        "p2p_replica_peer_state{peer=\"2\",state=\"we\\\"ird\\\\\"} 1\n",
        "# TYPE p2p_replica_peer_bytes_sent_total counter\n",
        "p2p_replica_peer_bytes_sent_total{peer=\"1\"} 1000\n",
        "p2p_replica_peer_bytes_received_total{peer=\"1\"} 2000\n",
        "p2p_replica_peer_messages_sent_total{peer=\"1\"} 3\n",
        "p2p_replica_peer_messages_received_total{peer=\"1\"} 4\n",
        ("p2p_replica_peer_streams_reset_total{peer=\"1\",direction="
         "\"sent\"} 15\n"),
        ("p2p_replica_peer_streams_reset_total{peer=\"1\",direction="
         "\"received\"} 5\n"),
        "p2p_replica_peer_handshakes_total{peer=\"1\"} 6\n",
        "p2p_replica_peer_handshakes_total{peer=\"2\"} 0\n",
        "# TYPE p2p_replica_peer_rtt_seconds gauge\n",
        "p2p_replica_peer_rtt_seconds{peer=\"1\"} 0.0015\n",
        "p2p_replica_handshake_refusals_total{reason=\"not_member\"} 2\n",
        "p2p_replica_handshake_refusals_total{reason=\"limit\"} 0\n",
        "p2p_replica_connections_accepted_total 9\n",
        "p2p_replica_connections_closed_total 10\n",
        "# TYPE p2p_transport_bytes_sent_total counter\n",
        "p2p_transport_bytes_sent_total{traffic=\"push\"} 16\n",
        "p2p_transport_bytes_sent_total{traffic=\"state\"} 0\n",
        "p2p_transport_bytes_received_total{traffic=\"state\"} 17\n",
        "p2p_transport_messages_sent_total 18\n",
        "p2p_transport_messages_received_total 19\n",
        "p2p_replica_udp_datagrams_in_total 11\n",
        "p2p_replica_udp_datagrams_out_total 12\n",
        "p2p_replica_udp_bytes_in_total 13\n",
        "p2p_replica_udp_bytes_out_total 14\n",
    };
    for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
        ck_assert_msg(strstr(buf, lines[i]) != NULL, "missing %s", lines[i]);
    /* One name per concept: connections up and dials are core's. */
    static const char *const gone[] = {
        "p2p_replica_peer_connected", "p2p_replica_connections_up",
        "p2p_replica_connections_dialled_total", "state=\"wait\"",
    };
    for (size_t i = 0; i < sizeof(gone) / sizeof(gone[0]); i++)
        ck_assert_msg(strstr(buf, gone[i]) == NULL, "still has %s", gone[i]);
    /* A peer that is not up has no RTT sample. */
    ck_assert_ptr_null(strstr(buf, "p2p_replica_peer_rtt_seconds{peer=\"2\""));

    /* A too-small buffer reports the size needed and writes no further. */
    char small[64];
    memset(small, 'x', sizeof(small));
    p2p_metrics_text_init(&t, small, 32);
    prod_admin_metrics_write(&t, peers, 2, &tot);
    size_t need = 0;
    ck_assert_int_eq(p2p_metrics_text_finish(&t, &need), P2P_ERR_LIMIT);
    ck_assert_uint_eq(need, len);
    ck_assert_mem_eq(small, buf, 32);
    ck_assert_int_eq(small[32], 'x');
}
END_TEST

/* RTT seconds: whole, fractional, sub-millisecond. */
START_TEST(metrics_rtt_formatting)
{
    static const struct {
        uint64_t us;
        const char *text;
    } cases[] = {
        {0, "0"}, {1, "0.000001"}, {1000, "0.001"}, {1000000, "1"},
        {2500000, "2.5"}, {123456789, "123.456789"},
    };
    struct quic_endpoint_totals tot = {0};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct quic_peer_stats p = {.index = 0, .conn_state = "up",
                                    .rtt_us = cases[i].us};
        char buf[8192], want[96];
        struct p2p_metrics_text t;
        p2p_metrics_text_init(&t, buf, sizeof(buf));
        prod_admin_metrics_write(&t, &p, 1, &tot);
        size_t len;
        ck_assert_int_eq(p2p_metrics_text_finish(&t, &len), 0);
        snprintf(want, sizeof(want),
                 "\np2p_replica_peer_rtt_seconds{peer=\"0\"} %s\n",
                 cases[i].text);
        ck_assert_msg(strstr(buf, want) != NULL, "want %s", want);
    }
}
END_TEST

/* ---- raw sockets: what curl will not send ---- */

/* Stops the fixture's admin and starts one with other limits. */
static void restart_admin(const struct prod_admin_limits *limits)
{
    prod_admin_stop(admin);
    struct prod_admin_ops ops = fake_ops_template;
    ops.ctx = fk;
    struct sockaddr_in sin;
    loopback(&sin, 0);
    char err[256];
    int rc = prod_admin_start(loop, (const struct sockaddr *)&sin,
                              sizeof(sin), limits, &ops, &admin, err,
                              sizeof(err));
    ck_assert_msg(rc == 0, "start: %d %s", rc, err);
}

/* Turns the loop until done(arg) holds; fails after REQUEST_TIMEOUT_S. */
static void turn_until(bool (*done)(void *), void *arg, const char *what)
{
    double deadline = now_s() + REQUEST_TIMEOUT_S;
    while (!done(arg)) {
        ck_assert_msg(now_s() < deadline, "timed out waiting for %s", what);
        ev_run(loop, EVRUN_NOWAIT);
        poll(NULL, 0, 1);
    }
}

static struct prod_admin_stats admin_stats(void)
{
    struct prod_admin_stats st;
    prod_admin_get_stats(admin, &st);
    return st;
}

static bool buffered_is(void *arg)
{
    return admin_stats().buffered_bytes == *(size_t *)arg;
}

static bool waiting_is(void *arg)
{
    return admin_stats().gate.waiting == *(size_t *)arg;
}

static bool serving_is(void *arg)
{
    return admin_stats().serving == *(size_t *)arg;
}

/* A connected, non-blocking client socket. */
static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in sin;
    loopback(&sin, prod_admin_port(admin));
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    return fd;
}

/* Sends what the socket takes now (a refusal may cut the rest off). */
static size_t raw_send(int fd, const void *data, size_t len)
{
    ssize_t n = send(fd, data, len, MSG_NOSIGNAL);
    return n > 0 ? (size_t)n : 0;
}

static void raw_send_str(int fd, const char *s)
{
    ck_assert_uint_eq(raw_send(fd, s, strlen(s)), strlen(s));
}

struct raw_answer {
    int fd;
    size_t len;
    bool ended;
    char buf[16384]; /* NUL-terminated */
};

static bool raw_ended(void *arg)
{
    struct raw_answer *a = arg;
    for (;;) {
        ssize_t n =
            recv(a->fd, a->buf + a->len, sizeof(a->buf) - 1 - a->len, 0);
        if (n > 0) {
            a->len += (size_t)n;
            a->buf[a->len] = '\0';
            continue;
        }
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            a->ended = true;
        return a->ended;
    }
}

/* Reads fd's answer to the end of the connection (every answer closes
 * it), then closes fd. */
static struct raw_answer *raw_answer(int fd)
{
    static struct raw_answer a;
    memset(&a, 0, offsetof(struct raw_answer, buf) + 1);
    a.fd = fd;
    turn_until(raw_ended, &a, "an answer");
    close(fd);
    return &a;
}

/* status, JSON, an "error" member, the connection closed. */
static void assert_raw_error(const struct raw_answer *a, unsigned status)
{
    char line[32];
    snprintf(line, sizeof(line), "HTTP/1.1 %u ", status);
    ck_assert_msg(strncmp(a->buf, line, strlen(line)) == 0, "answer: %s",
                  a->buf);
    ck_assert_msg(strcasestr(a->buf, "\r\nContent-Type: application/json\r\n")
                      != NULL, "answer: %s", a->buf);
    const char *body = strstr(a->buf, "\r\n\r\n");
    ck_assert_ptr_nonnull(body);
    ck_assert_msg(strncmp(body + 4, "{\"error\": \"", 11) == 0 &&
                      a->buf[a->len - 1] == '}',
                  "body: %s", body + 4);
}

static struct raw_answer *raw_request(const char *req)
{
    int fd = raw_connect();
    raw_send_str(fd, req);
    return raw_answer(fd);
}

/* What libmicrohttpd answers itself, in HTML, comes as JSON: a bad
 * request line or header, HTTP/1.1 without Host, a Content-Length past
 * 2^64 or exactly 2^64 - 1 (413, not 400), a request line or a head too
 * long, another HTTP version. */
START_TEST(mhd_errors_are_json)
{
    static const struct {
        const char *req;
        unsigned status;
    } cases[] = {
        {"GET /health HTTP/1.1 extra\r\nHost: x\r\n\r\n", 400},
        {"GET /health HTTP/1.1\r\nHost x\r\n\r\n", 400},
        {"GET /health HTTP/1.1\r\n\r\n", 400},
        {"GET /health HTTP/2.0\r\nHost: x\r\n\r\n", 505},
        {"GET /health HTTP/0.9\r\n\r\n", 505},
        {"POST /artifacts HTTP/1.1\r\nHost: x\r\n"
         "Content-Length: 18446744073709551615\r\n\r\n",
         413},
        {"POST /artifacts HTTP/1.1\r\nHost: x\r\n"
         "Content-Length: 99999999999999999999\r\n\r\n",
         413},
        {"POST /state HTTP/1.1\r\nHost: x\r\n"
         "Content-Length: 12a\r\n\r\n",
         400},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        assert_raw_error(raw_request(cases[i].req), cases[i].status);
    /* 414 and 431: 40 KiB, past libmicrohttpd's own buffers too. */
    size_t big = 40u << 10;
    char *req = malloc(big + 64);
    ck_assert_ptr_nonnull(req);
    memset(req, 'a', big);
    memcpy(req, "GET /", 5);
    strcpy(req + big, " HTTP/1.1\r\nHost: x\r\n\r\n");
    int fd = raw_connect();
    raw_send(fd, req, strlen(req));
    assert_raw_error(raw_answer(fd), 414);
    memcpy(req, "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ", 38);
    strcpy(req + big, "\r\n\r\n");
    fd = raw_connect();
    raw_send(fd, req, strlen(req));
    assert_raw_error(raw_answer(fd), 431);
    free(req);
    ck_assert_uint_eq(fk->count, 0);
    ck_assert_int_eq(get("/health")->status, 200);
}
END_TEST

/* HTTP/1.1 asks to keep the connection; every answer closes it. */
START_TEST(every_answer_closes)
{
    struct raw_answer *a =
        raw_request("GET /health HTTP/1.1\r\nHost: x\r\n\r\n"
                    "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_msg(strncmp(a->buf, "HTTP/1.1 200 ", 13) == 0, "%s", a->buf);
    ck_assert_ptr_nonnull(strcasestr(a->buf, "\r\nConnection: close\r\n"));
    /* One answer only: the second request is not served. */
    ck_assert_ptr_null(strstr(a->buf + 13, "HTTP/1.1 "));
}
END_TEST

/* PROD_ADMIN_CONNECTIONS_MAX connections, idle or with libmicrohttpd,
 * and the next is answered 503 at once; as they close, the admin answers
 * again (it used to stop answering for good). */
START_TEST(connection_limit_503_and_recovery)
{
    static int fds[PROD_ADMIN_CONNECTIONS_MAX];
    size_t max = PROD_ADMIN_CONNECTIONS_MAX, zero = 0;
    /* Idle: they wait in the gate for a head. */
    for (size_t i = 0; i < max; i++)
        fds[i] = raw_connect();
    turn_until(waiting_is, &max, "every connection waiting");
    struct reply *r = get("/health");
    assert_error(r, 503);
    ck_assert_str_eq(r->body, "{\"error\": \"too many connections\"}");
    close(fds[0]);
    size_t left = max - 1;
    turn_until(waiting_is, &left, "one gone");
    ck_assert_int_eq(get("/health")->status, 200);
    for (size_t i = 1; i < max; i++)
        close(fds[i]);
    turn_until(waiting_is, &zero, "every one gone");
    /* With libmicrohttpd: uploads that stall after their head. */
    for (size_t i = 0; i < max; i++) {
        fds[i] = raw_connect();
        raw_send_str(fds[i], "POST /state HTTP/1.1\r\nHost: x\r\n"
                             "Content-Length: 10\r\n\r\n");
    }
    turn_until(serving_is, &max, "every upload served");
    assert_error(get("/health"), 503);
    for (size_t i = 0; i < max; i++)
        close(fds[i]);
    turn_until(serving_is, &zero, "every upload closed");
    ck_assert_int_eq(get("/health")->status, 200);
    struct prod_admin_stats st = admin_stats();
    ck_assert_uint_eq(st.gate.refused_busy_total, 2);
    ck_assert_uint_eq(st.buffered_bytes, 0);
    ck_assert_uint_eq(fk->height, 0);
}
END_TEST

/* The budget of buffered bytes: a body that fits exactly is taken, one
 * byte more is 503 (before a byte of it is buffered), a chunked upload
 * that would grow past it too, and an answer built whole; a request's
 * bytes come back when it completes or its client goes away. */
START_TEST(buffer_budget_both_sides)
{
    struct prod_admin_limits lim = {.body_bytes_max = BODY_MAX,
                                    .buffered_bytes_max = 1500};
    restart_admin(&lim);
    size_t held = 1000, zero = 0;
    int fd = raw_connect();
    raw_send_str(fd, "POST /artifacts HTTP/1.1\r\nHost: x\r\n"
                     "Content-Length: 1000\r\n\r\nabc");
    turn_until(buffered_is, &held, "the held upload counted");
    static uint8_t body[BODY_MAX];
    memset(body, 'q', sizeof(body));
    struct reply *r = post("/artifacts", NULL, body, 501);
    assert_error(r, 503);
    ck_assert_str_eq(r->body,
                     "{\"error\": \"too many bytes buffered, retry later\"}");
    ck_assert_uint_eq(fk->count, 0);
    ck_assert_int_eq(post("/artifacts", NULL, body, 500)->status, 201);
    turn_until(buffered_is, &held, "the 500 bytes returned");
    r = request(&(struct request_opts){.method = "POST",
                                       .path = "/artifacts", .body = body,
                                       .len = 600, .chunked = true});
    assert_error(r, 503);
    turn_until(buffered_is, &held, "only the held upload counted");
    close(fd);
    turn_until(buffered_is, &zero, "the held upload's bytes returned");
    /* The whole budget is there again. */
    ck_assert_int_eq(post("/artifacts", NULL, body, BODY_MAX)->status, 201);
    turn_until(buffered_is, &zero, "the last upload's bytes returned");
    ck_assert_uint_eq(admin_stats().refused_buffer_total, 2);
    ck_assert_uint_eq(fk->count, 2);
}
END_TEST

/* Answers built whole (the /metrics text, the list of ids) count too. */
START_TEST(whole_answers_count)
{
    size_t metrics_len = 0;
    free(full_metrics(fk->node, &metrics_len));
    ck_assert_uint_gt(metrics_len, BODY_MAX);
    struct prod_admin_limits lim = {.body_bytes_max = BODY_MAX,
                                    .buffered_bytes_max = BODY_MAX};
    restart_admin(&lim);
    assert_error(get("/metrics"), 503);
    ck_assert_int_eq(post("/artifacts", NULL, "one", 3)->status, 201);
    ck_assert_int_eq(get("/artifacts")->status, 200);
    size_t zero = 0;
    turn_until(buffered_is, &zero, "every answer's bytes returned");
    ck_assert_uint_eq(admin_stats().refused_buffer_total, 1);
}
END_TEST

/* A budget below the body limit could never take a body of that size. */
START_TEST(budget_below_body_limit_refused)
{
    struct prod_admin_limits lim = {.body_bytes_max = BODY_MAX,
                                    .buffered_bytes_max = BODY_MAX - 1};
    struct prod_admin_ops ops = fake_ops_template;
    ops.ctx = fk;
    struct sockaddr_in sin;
    loopback(&sin, 0);
    struct prod_admin *other = NULL;
    char err[256];
    ck_assert_int_eq(prod_admin_start(loop, (const struct sockaddr *)&sin,
                                      sizeof(sin), &lim, &ops, &other, err,
                                      sizeof(err)),
                     P2P_ERR_INVALID_ARG);
    ck_assert_ptr_null(other);
    lim.buffered_bytes_max = BODY_MAX;
    restart_admin(&lim);
    ck_assert_int_eq(post("/artifacts", NULL, "x", 1)->status, 201);
}
END_TEST

/* An artifact is read from the pool block by block while it is sent,
 * nothing of it buffered; one purged meanwhile cuts the answer short. */
START_TEST(artifact_sent_in_blocks)
{
    size_t len = 3 * PROD_ADMIN_ARTIFACT_BLOCK_BYTES + 5;
    uint8_t *bytes = malloc(len);
    ck_assert_ptr_nonnull(bytes);
    for (size_t i = 0; i < len; i++)
        bytes[i] = (uint8_t)(i * 7 + i / 251);
    struct p2p_artifact_id id;
    ck_assert_int_eq(fake_post(fk, P2P_KIND_PUSH, bytes, len, 0, &id), 0);
    char path[128], hex_id[65];
    hex(id.b, P2P_ID_BYTES, hex_id);
    snprintf(path, sizeof(path), "/artifacts/%s", hex_id);
    fk->get_calls = 0;
    struct reply *r = get(path);
    ck_assert_int_eq(r->status, 200);
    ck_assert_uint_eq(r->len, len);
    ck_assert_mem_eq(r->body, bytes, len);
    /* Once for the status, then at least once per block. */
    ck_assert_uint_ge(fk->get_calls, 1 + 4);
    ck_assert_uint_eq(admin_stats().buffered_bytes, 0);
    /* HEAD: the length, no block read. */
    fk->get_calls = 0;
    r = request(&(struct request_opts){.method = "HEAD", .path = path});
    ck_assert_int_eq(r->status, 200);
    ck_assert_uint_eq(fk->get_calls, 1);
    /* Purged after its first block. */
    fk->get_calls = 0;
    fk->get_found_max = 2;
    r = request(&(struct request_opts){.path = path, .may_fail = true});
    ck_assert_msg(r->result != CURLE_OK && r->len < len, "curl %d, %zu bytes",
                  r->result, r->len);
    fk->get_found_max = 0;
    ck_assert_int_eq(get("/health")->status, 200);
    /* An empty artifact. */
    ck_assert_int_eq(fake_post(fk, P2P_KIND_PUSH, NULL, 0, 0, &id), 0);
    hex(id.b, P2P_ID_BYTES, hex_id);
    snprintf(path, sizeof(path), "/artifacts/%s", hex_id);
    r = get(path);
    ck_assert_int_eq(r->status, 200);
    ck_assert_uint_eq(r->len, 0);
    free(bytes);
}
END_TEST

/* A failed write (a full disk) reads the same for a state and an
 * artifact. */
START_TEST(write_failure_same_wording)
{
    fk->state_err = P2P_ERR_WRITE;
    struct reply *r = post("/state", NULL, "state", 5);
    assert_error(r, 500);
    ck_assert_str_eq(r->body, "{\"error\": \"write failed\"}");
    fk->post_err = P2P_ERR_WRITE;
    r = post("/artifacts", NULL, "art", 3);
    assert_error(r, 500);
    ck_assert_str_eq(r->body, "{\"error\": \"write failed\"}");
    /* Out of memory likewise; other failures stay internal errors. */
    fk->state_err = P2P_ERR_NOMEM;
    ck_assert_str_eq(post("/state", NULL, "state", 5)->body,
                     "{\"error\": \"out of memory\"}");
    fk->state_err = P2P_ERR_LIMIT;
    ck_assert_str_eq(post("/state", NULL, "state", 5)->body,
                     "{\"error\": \"internal error\"}");
}
END_TEST

/* limits.admin_buffer: its default, a value, and below admin_body. */
START_TEST(config_admin_buffer)
{
    static const char base[] = "key: k.pem\ncert: c.pem\n"
                               "listen: 127.0.0.1:4100\nregistry: r.yaml\n"
                               "data_dir: d\nadmin: 127.0.0.1:8100\n";
    struct prod_config *c = malloc(sizeof(*c));
    ck_assert_ptr_nonnull(c);
    char text[512], err[256];
    ck_assert_int_eq(prod_config_load_mem((const uint8_t *)base,
                                          strlen(base), "n.yaml", c, err,
                                          sizeof(err)),
                     0);
    ck_assert_uint_eq(c->admin_buffered_bytes_max,
                      PROD_ADMIN_BUFFERED_BYTES_DEFAULT);
    snprintf(text, sizeof(text),
             "%slimits:\n  admin_body: 64MiB\n  admin_buffer: 64MiB\n", base);
    ck_assert_int_eq(prod_config_load_mem((const uint8_t *)text,
                                          strlen(text), "n.yaml", c, err,
                                          sizeof(err)),
                     0);
    ck_assert_uint_eq(c->admin_buffered_bytes_max, 64u << 20);
    /* admin_body stays 128 MiB: one byte of budget short and more. */
    snprintf(text, sizeof(text), "%slimits:\n  admin_buffer: 134217727\n",
             base);
    ck_assert_int_eq(prod_config_load_mem((const uint8_t *)text,
                                          strlen(text), "n.yaml", c, err,
                                          sizeof(err)),
                     P2P_ERR_DECODE);
    ck_assert_msg(strstr(err, "n.yaml:8: limits.admin_buffer:") != NULL,
                  "err: %s", err);
    free(c);
}
END_TEST

/* ---- start ---- */

START_TEST(start_errors)
{
    struct prod_admin_ops ops = fake_ops_template;
    ops.ctx = fk;
    struct sockaddr_in sin;
    loopback(&sin, prod_admin_port(admin));
    struct prod_admin *other = NULL;
    char err[256];
    /* The port is taken. */
    int rc = prod_admin_start(loop, (const struct sockaddr *)&sin,
                              sizeof(sin), &test_limits, &ops, &other, err,
                              sizeof(err));
    ck_assert_int_eq(rc, P2P_ERR_CONNECT);
    ck_assert_ptr_null(other);
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)prod_admin_port(admin));
    ck_assert_msg(strstr(err, "127.0.0.1") != NULL && strstr(err, port),
                  "err: %s", err);
    /* A missing operation. */
    ops.metrics_text = NULL;
    loopback(&sin, 0);
    rc = prod_admin_start(loop, (const struct sockaddr *)&sin, sizeof(sin),
                          &test_limits, &ops, &other, err, sizeof(err));
    ck_assert_int_eq(rc, P2P_ERR_INVALID_ARG);
    /* Not an IP address. */
    ops = fake_ops_template;
    struct sockaddr unix_addr = {.sa_family = AF_UNIX};
    rc = prod_admin_start(loop, &unix_addr, sizeof(unix_addr), &test_limits, &ops,
                          &other, err, sizeof(err));
    ck_assert_int_eq(rc, P2P_ERR_INVALID_ARG);
    ck_assert_ptr_null(other);
    /* The first admin still answers. */
    ck_assert_int_eq(get("/health")->status, 200);
}
END_TEST

int main(void)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "curl_global_init failed\n");
        return EXIT_FAILURE;
    }
    Suite *s = suite_create("prod_admin");
    TCase *tc = tcase_create("admin");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, post_push_and_advert);
    tcase_add_test(tc, registry_earliest_post_and_get);
    tcase_add_test(tc, post_height_header);
    tcase_add_test(tc, purge_route);
    tcase_add_test(tc, post_bad_kind_is_400);
    tcase_add_test(tc, post_errors_map_to_status);
    tcase_add_test(tc, body_limit_with_content_length);
    tcase_add_test(tc, large_body_refused_before_upload);
    tcase_add_test(tc, body_limit_chunked);
    tcase_add_test(tc, chunked_overflow_is_dropped);
    tcase_add_test(tc, list_artifacts);
    tcase_add_test(tc, list_many_artifacts);
    tcase_add_test(tc, get_artifact_by_id);
    tcase_add_test(tc, get_artifact_bad_or_unknown);
    tcase_add_test(tc, unknown_path_is_404);
    tcase_add_test(tc, wrong_method_is_405);
    tcase_add_test(tc, health_ok_and_unhealthy);
    tcase_add_test(tc, state_post_and_get);
    tcase_add_test(tc, read_failures_are_500);
    tcase_add_test(tc, metrics_endpoint);
    tcase_add_test(tc, metrics_pass_promtool);
    tcase_add_test(tc, metrics_writer_lines);
    tcase_add_test(tc, metrics_rtt_formatting);
    tcase_add_test(tc, start_errors);
    tcase_add_test(tc, mhd_errors_are_json);
    tcase_add_test(tc, every_answer_closes);
    tcase_add_test(tc, connection_limit_503_and_recovery);
    tcase_add_test(tc, buffer_budget_both_sides);
    tcase_add_test(tc, whole_answers_count);
    tcase_add_test(tc, budget_below_body_limit_refused);
    tcase_add_test(tc, artifact_sent_in_blocks);
    tcase_add_test(tc, write_failure_same_wording);
    tcase_add_test(tc, config_admin_buffer);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
