/* `p2p-replica probe`: dials one member and says what it answered, as it
 * said it: accepted; refused, with the peer's reason (the refusal's name
 * travels as the CONNECTION_CLOSE's reason phrase: not_member,
 * duplicate_identity, ours_to_dial, ...); accepted and then closed (a
 * connection replaced by the member's own); or nothing. With --anonymous
 * it dials with a key made for this probe alone, which no registry lists:
 * the expected answer, "refused: not_member", shows the peer is up and
 * its QUIC and TLS answer, and no member's connection is touched.
 * Optionally it sends a bad stream (garbage bytes, or a request past its
 * route's limit) and says what the peer did. For operators (can this node
 * reach that one?) and for the end-to-end tests of refusals and of bad
 * input (tests/e2e/). */
#include "prod/probe.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "core/err.h"
#include "core/framing.h"
#include "prod/cli.h"
#include "prod/config.h"
#include "prod/identity.h"
#include "prod/keygen.h"
#include "prod/registry.h"
#include "prod/transport.h"
#include "prod/udp.h"

/* The most garbage one probe sends. */
#define PROBE_GARBAGE_BYTES_MAX (64u << 20)
/* How long an accepted connection must stay up to count as accepted for
 * good: a peer that takes our key but then prefers another connection
 * with it (the member's own) closes ours soon after. */
#define PROBE_SETTLE_S 1.0

/* Exit codes (docs/replica.md, probe --help). */
enum {
    PROBE_EXIT_EXPECTED = 0, /* accepted; --anonymous: refused as
                                not_member */
    PROBE_EXIT_FAILURE = 1,
    PROBE_EXIT_USAGE = 2,
    PROBE_EXIT_REFUSED = 3, /* refused (--anonymous: for another reason) */
    PROBE_EXIT_NO_ANSWER = 4,
    PROBE_EXIT_CLOSED = 5,        /* accepted, then closed within the settle */
    PROBE_EXIT_ANON_ACCEPTED = 6, /* --anonymous was let in */
};

enum probe_outcome {
    PROBE_WAITING,
    PROBE_UP,      /* accepted (HANDSHAKE_DONE), still up */
    PROBE_REFUSED, /* the handshake failed: refused or cut */
    PROBE_CLOSED,  /* up, then closed by the peer */
};

struct probe {
    struct ev_loop *loop;
    struct prod_transport *t;
    uint32_t peer;
    enum probe_outcome outcome;
    int reason;
    ev_tstamp up_at, closed_at;
    const uint8_t *send; /* the bad stream, once up */
    size_t send_len;
    bool stream_reset;
    size_t response_bytes;
    bool response_fin;
    ev_timer settle, deadline;
};

static bool refuse_all(void *ctx, const uint8_t key_id[QUIC_KEY_ID_LEN],
                       uint32_t *peer, enum quic_refusal *why)
{
    *why = QUIC_REFUSE_NOT_MEMBER;
    return false;
}

static void up_cb(void *ctx, uint32_t peer)
{
    struct probe *p = ctx;
    p->outcome = PROBE_UP;
    p->up_at = ev_now(p->loop);
    if (p->send != NULL)
        (void)prod_transport_open(p->t, peer, 1, p->send, p->send_len, NULL);
    ev_timer_start(p->loop, &p->settle);
}

static void down_cb(void *ctx, uint32_t peer, int reason)
{
    struct probe *p = ctx;
    p->outcome = PROBE_CLOSED;
    p->reason = reason;
    ev_now_update(p->loop);
    p->closed_at = ev_now(p->loop);
    ev_break(p->loop, EVBREAK_ALL);
}

static void failed_cb(void *ctx, uint32_t peer, int reason)
{
    struct probe *p = ctx;
    p->outcome = PROBE_REFUSED;
    p->reason = reason;
    ev_break(p->loop, EVBREAK_ALL);
}

static void data_cb(void *ctx, uint32_t peer, uint64_t stream_id, bool inbound,
                    const uint8_t *data, size_t len, bool fin)
{
    struct probe *p = ctx;
    p->response_bytes += len;
    p->response_fin |= fin;
}

static void reset_cb(void *ctx, uint32_t peer, uint64_t stream_id, bool inbound)
{
    struct probe *p = ctx;
    p->stream_reset = true;
}

static void settle_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    struct probe *p = w->data;
    /* Without a bad stream, settling is the answer; with one, wait for
     * the peer's reaction until the deadline. */
    if (p->send == NULL || p->stream_reset || p->response_fin)
        ev_break(loop, EVBREAK_ALL);
    else
        ev_timer_again(loop, w);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
    ev_break(loop, EVBREAK_ALL);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: p2p-replica probe --config FILE --peer INDEX [options]\n"
            "\n"
            "Dials registry member INDEX (the registry of FILE) and prints\n"
            "what it answered.\n"
            "\n"
            "  --anonymous      dial with a key made for this probe alone\n"
            "                   (no registry lists it) instead of FILE's\n"
            "                   identity: the expected answer is\n"
            "                   \"refused: ... said not_member\"; it disturbs\n"
            "                   no member\n"
            "  --garbage BYTES  once connected, send BYTES random bytes on a\n"
            "                   stream and print what the peer did\n"
            "  --oversize       once connected, send a fetch request past\n"
            "                   its route's size limit\n"
            "  --timeout S      give up after S seconds (default 10)\n"
            "  --help           this text\n"
            "\n"
            "Answers (one line), and the exit code:\n"
            "  accepted: ...                   0 (--anonymous: 6, a key no\n"
            "                                    registry lists was let in)\n"
            "  refused: ... said REASON (...)  3; --anonymous: 0 when REASON\n"
            "                                    is not_member, else 3\n"
            "  accepted, then closed: ...      5: the peer took the key, then\n"
            "                                    closed within 1 s (replaced:\n"
            "                                    the member's own connection\n"
            "                                    came back)\n"
            "  no answer ...                   4\n"
            "  bad input 2, local failure 1.\n"
            "REASON is the peer's: not_member, duplicate_identity (the\n"
            "member whose identity FILE holds is running and connected to\n"
            "INDEX), ours_to_dial (INDEX dials that member itself: the lower\n"
            "id dials), banned, bad_cert, no_cert, limit, tls.\n");
}

/* What the peer's refusal means, for the answer line. */
static const char *refusal_meaning(const char *reason)
{
    static const struct {
        const char *name, *meaning;
    } m[] = {
        {"not_member", "the key is not in its registry"},
        {"duplicate_identity",
         "the key already has a live connection from another address: the "
         "member is running"},
        {"ours_to_dial",
         "it dials that member itself (the lower id dials) and takes no "
         "handshake from it"},
        {"banned", "it has banned that member for misbehaviour"},
        {"bad_cert", "the certificate is not one the IC accepts"},
        {"no_cert", "it could not read our certificate"},
        {"limit", "it is at its connection limit"},
        {"tls", "the TLS handshake failed"},
    };
    for (size_t i = 0; i < sizeof(m) / sizeof(m[0]); i++)
        if (strcmp(reason, m[i].name) == 0)
            return m[i].meaning;
    return "a reason this probe does not know";
}

/* A fresh identity in a private temporary folder, loaded and deleted at
 * once: only the TLS object keeps it. */
static int anonymous_tls(struct quic_tls **tls, uint8_t key_id[QUIC_KEY_ID_LEN],
                         char *err, size_t err_len)
{
    const char *tmp = getenv("TMPDIR");
    char dir[512], key[600], cert[600];
    snprintf(dir, sizeof(dir), "%s/p2p-probe.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(dir) == NULL) {
        snprintf(err, err_len, "cannot make a temporary folder in %s",
                 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
        return P2P_ERR_WRITE;
    }
    snprintf(key, sizeof(key), "%s/key.pem", dir);
    snprintf(cert, sizeof(cert), "%s/cert.pem", dir);
    int rc = prod_keygen_generate(key, cert, key_id, err, err_len);
    if (rc == 0)
        rc = prod_identity_tls_new(key, cert, tls, key_id, err, err_len);
    (void)unlink(key);
    (void)unlink(cert);
    (void)rmdir(dir);
    return rc;
}

/* Prints the answer; returns the exit code. */
static int report(const struct probe *p, const struct prod_member *m,
                  const struct quic_endpoint_totals *tot,
                  const struct quic_peer_stats *st, bool anonymous,
                  double timeout)
{
    const char *said = st->remote_close;
    switch (p->outcome) {
    case PROBE_UP:
    case PROBE_CLOSED:
        if (p->outcome == PROBE_CLOSED && p->send == NULL) {
            printf("accepted, then closed: node %u at %s closed the "
                   "connection after %.2f s (%s%s%s)\n",
                   p->peer, m->addr_text, p->closed_at - p->up_at,
                   said[0] != '\0' ? said : p2p_strerror(p->reason),
                   strcmp(said, QUIC_CLOSE_REPLACED) == 0
                       ? ": a newer connection with this key took its place"
                       : "",
                   anonymous ? "; a key no registry lists was let in" : "");
            return anonymous ? PROBE_EXIT_ANON_ACCEPTED : PROBE_EXIT_CLOSED;
        }
        printf("accepted: node %u at %s%s\n", p->peer, m->addr_text,
               anonymous ? " (a key no registry lists was let in)" : "");
        if (p->send != NULL)
            printf("bad stream (%zu bytes): %s\n", p->send_len,
                   p->stream_reset ? "reset by the peer"
                   : p->outcome == PROBE_CLOSED
                       ? "connection closed by the peer"
                   : p->response_fin ? "answered"
                                     : "no reaction");
        return anonymous ? PROBE_EXIT_ANON_ACCEPTED : PROBE_EXIT_EXPECTED;
    case PROBE_REFUSED:
        if (p->reason == P2P_ERR_TIMEOUT)
            break;
        for (int r = 0; r < QUIC_REFUSE_COUNT; r++)
            if (tot->refusals[r] > 0) {
                printf("refused: node %u at %s: we refused its certificate "
                       "(%s: not the registry's key for it)\n",
                       p->peer, m->addr_text,
                       quic_peer_stats_refusal_name((enum quic_refusal)r));
                return PROBE_EXIT_REFUSED;
            }
        if (p->reason == P2P_ERR_REFUSED && said[0] != '\0') {
            printf("refused: node %u at %s said %s (%s)\n", p->peer,
                   m->addr_text, said, refusal_meaning(said));
            return anonymous && strcmp(said, "not_member") == 0
                       ? PROBE_EXIT_EXPECTED
                       : PROBE_EXIT_REFUSED;
        }
        printf("refused: node %u at %s ended the handshake without a reason "
               "(%s)\n",
               p->peer, m->addr_text, p2p_strerror(p->reason));
        return PROBE_EXIT_REFUSED;
    default:
        break;
    }
    printf("no answer from node %u at %s within %.1f s\n", p->peer,
           m->addr_text, timeout);
    return PROBE_EXIT_NO_ANSWER;
}

static int make_oversize(uint8_t **out, size_t *len)
{
    /* A valid envelope for /artifact/rpc whose body is 64x the route's
     * request limit: the peer must stop reading it as the bytes arrive. */
    size_t body_len = (size_t)P2P_FRAME_FETCH_REQUEST_BYTES_MAX * 64u;
    uint8_t *body = calloc(1, body_len);
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    uint8_t *env = NULL;
    struct p2p_frame_request req = {
        .route = P2P_ROUTE_ARTIFACT_RPC, .body = body, .body_len = body_len};
    int rc = body == NULL ? P2P_ERR_NOMEM
                          : p2p_frame_request_encode(&mem, P2P_MEM_OTHER, &req,
                                                     &env, len);
    free(body);
    if (rc != 0)
        return rc;
    *out = malloc(*len);
    if (*out != NULL)
        memcpy(*out, env, *len);
    p2p_mem_free(&mem, P2P_MEM_OTHER, env);
    return *out == NULL ? P2P_ERR_NOMEM : 0;
}

struct probe_args {
    const char *config;
    long peer, garbage;
    double timeout;
    bool oversize, anonymous, help;
};

/* A number flag's value, whole (strtol/strtod read all of it); prints
 * what is wrong otherwise. */
static bool whole_number(const char *flag, const char *v, const char *end)
{
    if (end != v && *end == '\0')
        return true;
    fprintf(stderr, "p2p-replica probe: --%s %s: not a number\n", flag, v);
    return false;
}

/* Fills *a; returns 0, or PROBE_EXIT_USAGE after printing what is wrong
 * and the usage on stderr. */
static int parse_args(int argc, char **argv, struct probe_args *a)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"peer", required_argument, NULL, 'p'},
        {"garbage", required_argument, NULL, 'g'},
        {"oversize", no_argument, NULL, 'o'},
        {"anonymous", no_argument, NULL, 'a'},
        {"timeout", required_argument, NULL, 't'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    *a = (struct probe_args){.peer = -1, .timeout = 10.0};
    conf_cli_begin();
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        char *end = NULL;
        bool ok = true;
        switch (ch) {
        case 'c':
            a->config = optarg;
            break;
        case 'p':
            a->peer = strtol(optarg, &end, 10);
            ok = whole_number("peer", optarg, end);
            break;
        case 'g':
            a->garbage = strtol(optarg, &end, 10);
            ok = whole_number("garbage", optarg, end);
            break;
        case 'o':
            a->oversize = true;
            break;
        case 'a':
            a->anonymous = true;
            break;
        case 't':
            a->timeout = strtod(optarg, &end);
            ok = whole_number("timeout", optarg, end);
            break;
        case 'h':
            a->help = true;
            break;
        default:
            conf_cli_bad_flag(stderr, "p2p-replica probe", ch, argv, opts);
            ok = false;
            break;
        }
        if (!ok) {
            usage(stderr);
            return PROBE_EXIT_USAGE;
        }
    }
    if (a->help)
        return 0;
    if (conf_cli_no_operands(stderr, "p2p-replica probe", argc, argv) != 0) {
        usage(stderr);
        return PROBE_EXIT_USAGE;
    }
    if (a->config == NULL || a->peer < 0 || !(a->timeout > 0) ||
        a->garbage < 0 || (size_t)a->garbage > PROBE_GARBAGE_BYTES_MAX ||
        (a->garbage > 0 && a->oversize)) {
        fprintf(stderr,
                "p2p-replica probe: need --config and --peer (and "
                "at most one of --garbage 1..%u, --oversize)\n",
                PROBE_GARBAGE_BYTES_MAX);
        usage(stderr);
        return PROBE_EXIT_USAGE;
    }
    return 0;
}

int prod_probe_cmd(int argc, char **argv)
{
    struct probe_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != 0)
        return rc;
    if (a.help) {
        usage(stdout);
        return 0;
    }
    const char *config = a.config;
    long peer = a.peer, garbage = a.garbage;
    double timeout = a.timeout;
    bool oversize = a.oversize, anonymous = a.anonymous;
    char err[1024];
    struct prod_config cfg;
    struct prod_registry *reg = calloc(1, sizeof(*reg));
    if (reg == NULL)
        return 1;
    if (prod_config_load(config, &cfg, err, sizeof(err)) != 0 ||
        prod_registry_load(cfg.registry_path, reg, err, sizeof(err)) != 0) {
        fprintf(stderr, "p2p-replica probe: %s\n", err);
        free(reg);
        return 2;
    }
    const struct prod_member *m = prod_registry_by_index(reg, (uint32_t)peer);
    if (m == NULL) {
        fprintf(stderr, "p2p-replica probe: no member %ld in %s\n", peer,
                cfg.registry_path);
        free(reg);
        return 2;
    }
    uint8_t self_key[QUIC_KEY_ID_LEN];
    struct quic_tls *tls = NULL;
    if (anonymous ? anonymous_tls(&tls, self_key, err, sizeof(err)) != 0
                  : prod_identity_tls_new(cfg.key_path, cfg.cert_path, &tls,
                                          self_key, err, sizeof(err)) != 0) {
        fprintf(stderr, "p2p-replica probe: %s\n", err);
        free(reg);
        return anonymous ? PROBE_EXIT_FAILURE : PROBE_EXIT_USAGE;
    }
    struct probe p = {.loop = ev_loop_new(EVFLAG_AUTO), .peer = (uint32_t)peer};
    uint8_t *bad = NULL;
    size_t bad_len = 0;
    if (garbage > 0) {
        bad = malloc((size_t)garbage);
        if (bad != NULL)
            (void)gnutls_rnd(GNUTLS_RND_NONCE, bad, (size_t)garbage);
        bad_len = (size_t)garbage;
    } else if (oversize && make_oversize(&bad, &bad_len) != 0) {
        bad = NULL;
    }
    if ((garbage > 0 || oversize) && bad == NULL) {
        fprintf(stderr, "p2p-replica probe: out of memory\n");
        return 1;
    }
    p.send = bad;
    p.send_len = bad_len;
    struct quic_endpoint_limits lim;
    quic_endpoint_limits_default(&lim);
    lim.dial_timeout_ns = (uint64_t)(timeout * 1e9);
    struct quic_endpoint_cbs cbs = {.ctx = &p,
                                    .accept_key = refuse_all,
                                    .peer_up = up_cb,
                                    .peer_down = down_cb,
                                    .dial_failed = failed_cb,
                                    .stream_data = data_cb,
                                    .stream_reset = reset_cb};
    struct sockaddr_storage any;
    socklen_t any_len;
    (void)prod_udp_parse_addr(m->addr.ss_family == AF_INET6 ? "[::1]:0"
                                                            : "127.0.0.1:0",
                              &any, &any_len);
    if (prod_transport_new(p.loop, (struct sockaddr *)&any, any_len, &lim, tls,
                           &cbs, &p.t, err, sizeof(err)) != 0) {
        fprintf(stderr, "p2p-replica probe: %s\n", err);
        return 1;
    }
    ev_timer_init(&p.settle, settle_cb, PROBE_SETTLE_S, PROBE_SETTLE_S);
    p.settle.data = &p;
    ev_timer_init(&p.deadline, deadline_cb, timeout, 0.0);
    ev_timer_start(p.loop, &p.deadline);
    rc = prod_transport_dial(p.t, p.peer, (struct sockaddr *)&m->addr,
                             m->addr_len, m->key_id);
    if (rc == 0)
        ev_run(p.loop, 0);
    struct quic_endpoint_totals tot;
    struct quic_peer_stats st;
    prod_transport_totals(p.t, &tot);
    if (!prod_transport_peer_stats(p.t, p.peer, &st))
        memset(&st, 0, sizeof(st));
    int code = report(&p, m, &tot, &st, anonymous, timeout);
    prod_transport_del(p.t);
    ev_loop_destroy(p.loop);
    quic_tls_del(tls);
    free(bad);
    free(reg);
    return code;
}
