/* The QUIC transport's handshakes on loopback, two or three transports on
 * one libev loop: a good handshake is accepted and counted once; a peer
 * certificate the IC would refuse (expired in 2001, not yet valid, a
 * self-signature that does not verify, signed under another name) is
 * refused in the handshake on either side and counted under bad_cert, not
 * as accepted; a second process with the same key, from another address,
 * is refused as a duplicate identity while the first stays up; a server
 * that "crashes" (gone without a CONNECTION_CLOSE) and restarts on its port
 * with the same key resets the old connection, which its client drops at
 * once; the static secret behind reset tokens depends on the key only. Real
 * sockets: these tests test the glue. No timed assertions: the loop runs
 * until the expected events or a generous deadline. */
#include <check.h>
#include <ftw.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ev.h>

#include "cert_harness.h"
#include "core/err.h"
#include "prod/identity.h"
#include "prod/keygen.h"
#include "quic/tls.h"
#include "prod/transport.h"
#include "prod/udp.h"
#include "prod/udp.h"

/* Long enough for a handshake on a loaded machine; only a bound. */
#define DEADLINE_S 20.0
/* The index the server gives every key it accepts, and the client's name
 * for the server. */
#define CLIENT_INDEX 1u
#define SERVER_INDEX 2u

static char tmp_dir[64];
static struct ev_loop *loop;

struct side {
    struct prod_transport *t;
    struct quic_tls *tls;
    uint8_t key_id[QUIC_KEY_ID_LEN];
    uint32_t ups, downs, dial_fails, warns;
};

static int rm_entry(const char *path, const struct stat *st, int flag,
                    struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void setup(void)
{
    strcpy(tmp_dir, "/tmp/p2p-transport-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmp_dir));
    loop = ev_loop_new(EVFLAG_AUTO);
    ck_assert_ptr_nonnull(loop);
}

static void teardown(void)
{
    ev_loop_destroy(loop);
    nftw(tmp_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *path_of(const char *name)
{
    static char bufs[4][PATH_MAX];
    static int next;
    char *b = bufs[next++ % 4];
    snprintf(b, PATH_MAX, "%s/%s", tmp_dir, name);
    return b;
}

/* ---- identities ---- */

/* name.key / name.crt: a keygen identity (opts NULL) or an Ed25519 key
 * with a certificate made as opts says. */
static void make_identity(const char *name, const struct cert_opts *opts)
{
    char key[PATH_MAX], crt[PATH_MAX], err[256];
    snprintf(key, sizeof(key), "%s", path_of(name));
    strcat(key, ".key");
    snprintf(crt, sizeof(crt), "%s", path_of(name));
    strcat(crt, ".crt");
    if (opts == NULL) {
        uint8_t id[QUIC_KEY_ID_BYTES];
        ck_assert_int_eq(prod_keygen_generate(key, crt, id, err, sizeof(err)),
                         0);
        return;
    }
    gnutls_x509_privkey_t k = cert_new_key(false);
    gnutls_x509_crt_t c = cert_make(k, opts);
    gnutls_datum_t kp, cp;
    ck_assert_int_ge(gnutls_x509_privkey_export2_pkcs8(
                         k, GNUTLS_X509_FMT_PEM, NULL, GNUTLS_PKCS_PLAIN, &kp),
                     0);
    ck_assert_int_ge(gnutls_x509_crt_export2(c, GNUTLS_X509_FMT_PEM, &cp), 0);
    ck_assert_int_eq(
        prod_keygen_write_atomic(key, kp.data, kp.size, 0600, err, sizeof(err)),
        0);
    ck_assert_int_eq(
        prod_keygen_write_atomic(crt, cp.data, cp.size, 0644, err, sizeof(err)),
        0);
    gnutls_free(kp.data);
    gnutls_free(cp.data);
    gnutls_x509_crt_deinit(c);
    gnutls_x509_privkey_deinit(k);
}

static void load_tls(struct side *s, const char *name)
{
    char key[PATH_MAX], crt[PATH_MAX], err[512];
    snprintf(key, sizeof(key), "%s.key", path_of(name));
    snprintf(crt, sizeof(crt), "%s.crt", path_of(name));
    int rc = prod_identity_tls_new(key, crt, &s->tls, s->key_id, err, sizeof(err));
    ck_assert_msg(rc == 0, "%s: %s", name, err);
}

/* ---- transports ---- */

static bool accept_any(void *ctx, const uint8_t key_id[QUIC_KEY_ID_LEN],
                       uint32_t *peer, enum quic_refusal *why)
{
    (void)ctx, (void)key_id, (void)why;
    *peer = CLIENT_INDEX;
    return true;
}

static void on_up(void *ctx, uint32_t peer)
{
    ((struct side *)ctx)->ups++;
}

static void on_down(void *ctx, uint32_t peer, int reason)
{
    ((struct side *)ctx)->downs++;
}

static void on_dial_failed(void *ctx, uint32_t peer, int reason)
{
    ((struct side *)ctx)->dial_fails++;
}

static void on_data(void *ctx, uint32_t peer, uint64_t stream_id,
                    bool inbound, const uint8_t *data, size_t len, bool fin)
{
}

static void on_reset(void *ctx, uint32_t peer, uint64_t stream_id,
                     bool inbound)
{
}

static void on_warn(void *ctx, const char *msg)
{
    ((struct side *)ctx)->warns++;
}

static void start_at(struct side *s, const char *name, const char *addr)
{
    load_tls(s, name);
    struct quic_endpoint_limits lim;
    quic_endpoint_limits_default(&lim);
    lim.keepalive_ns = 1000000000ull;
    struct quic_endpoint_cbs cbs = {
        .ctx = s, .accept_key = accept_any, .peer_up = on_up,
        .peer_down = on_down, .dial_failed = on_dial_failed,
        .stream_data = on_data, .stream_reset = on_reset, .warn = on_warn};
    struct sockaddr_storage any;
    socklen_t any_len;
    ck_assert_int_eq(prod_udp_parse_addr(addr, &any, &any_len), 0);
    char err[256];
    int rc = prod_transport_new(loop, (struct sockaddr *)&any, any_len, &lim,
                                s->tls, &cbs, &s->t, err, sizeof(err));
    ck_assert_msg(rc == 0, "transport: %s", err);
}

static void start(struct side *s, const char *name)
{
    start_at(s, name, "127.0.0.1:0");
}

static void stop(struct side *s)
{
    prod_transport_del(s->t);
    quic_tls_del(s->tls);
}

static void dial(struct side *client, struct side *server)
{
    struct sockaddr_storage addr;
    socklen_t len;
    prod_transport_local(server->t, &addr, &len);
    ck_assert_int_eq(prod_transport_dial(client->t, SERVER_INDEX,
                                         (struct sockaddr *)&addr, len,
                                         server->key_id),
                     0);
}

static struct quic_endpoint_totals totals(const struct side *s)
{
    struct quic_endpoint_totals tot;
    prod_transport_totals(s->t, &tot);
    return tot;
}

static bool timed_out;

static void deadline_cb(struct ev_loop *l, ev_timer *w, int revents)
{
    timed_out = true;
    ev_break(l, EVBREAK_ALL);
}

/* Runs the loop until done(a, b) or the deadline; returns done(a, b). */
static bool run_until(bool (*done)(struct side *, struct side *),
                      struct side *a, struct side *b)
{
    ev_timer deadline;
    ev_timer_init(&deadline, deadline_cb, DEADLINE_S, 0.0);
    ev_timer_start(loop, &deadline);
    timed_out = false;
    while (!done(a, b) && !timed_out)
        ev_run(loop, EVRUN_ONCE);
    ev_timer_stop(loop, &deadline);
    return done(a, b);
}

static bool both_up(struct side *client, struct side *server)
{
    return client->ups == 1 && server->ups == 1;
}

/* The dial failed and the side that judged the certificate counted it. */
static bool client_refused(struct side *client, struct side *judge)
{
    return client->dial_fails == 1 &&
           totals(judge).refusals[QUIC_REFUSE_BAD_CERT] == 1;
}

/* ---- tests ---- */

START_TEST(good_handshake_is_accepted_once)
{
    struct side server = {0}, client = {0};
    make_identity("server", NULL);
    make_identity("client", NULL);
    start(&server, "server");
    start(&client, "client");
    dial(&client, &server);
    ck_assert(run_until(both_up, &client, &server));
    struct quic_endpoint_totals st = totals(&server), ct = totals(&client);
    ck_assert_uint_eq(st.conns_accepted, 1);
    ck_assert_uint_eq(ct.conns_accepted, 0);
    ck_assert_uint_eq(ct.conns_dialled, 1);
    for (int r = 0; r < QUIC_REFUSE_COUNT; r++)
        ck_assert_uint_eq(st.refusals[r] + ct.refusals[r], 0);
    for (int d = 0; d < QUIC_DROP_COUNT; d++)
        ck_assert_uint_eq(st.initials_dropped[d], 0);
    stop(&client);
    stop(&server);
}
END_TEST

static const struct {
    const char *name;
    struct cert_opts opts;
} bad_certs[] = {
    {"expired in 2001", {.not_before = CERT_2000_S, .not_after = CERT_2001_S}},
    {"not yet valid", {.not_before = 4102444800LL /* 2100 */,
                       .not_after = 4133980800LL}},
    {"bad self-signature", {.not_before = CERT_2000_S, .no_expiry = true,
                            .flip_signature = true}},
    {"signed by another key", {.not_before = CERT_2000_S, .no_expiry = true,
                               .other_signer = true}},
    {"issuer is not the subject", {.not_before = CERT_2000_S,
                                   .no_expiry = true, .other_issuer = true}},
};

/* The server refuses a client presenting the certificate. */
START_TEST(server_refuses_a_bad_client_certificate)
{
    struct side server = {0}, client = {0};
    make_identity("server", NULL);
    make_identity("client", &bad_certs[_i].opts);
    start(&server, "server");
    start(&client, "client");
    dial(&client, &server);
    ck_assert_msg(run_until(client_refused, &client, &server),
                  "%s: not refused as bad_cert", bad_certs[_i].name);
    struct quic_endpoint_totals st = totals(&server);
    ck_assert_uint_eq(st.conns_accepted, 0);
    ck_assert_uint_eq(server.ups, 0);
    ck_assert_uint_eq(client.ups, 0);
    stop(&client);
    stop(&server);
}
END_TEST

/* The client refuses a server presenting the certificate. */
START_TEST(client_refuses_a_bad_server_certificate)
{
    struct side server = {0}, client = {0};
    make_identity("server", &bad_certs[_i].opts);
    make_identity("client", NULL);
    start(&server, "server");
    start(&client, "client");
    dial(&client, &server);
    ck_assert_msg(run_until(client_refused, &client, &client),
                  "%s: not refused as bad_cert", bad_certs[_i].name);
    ck_assert_uint_eq(totals(&server).conns_accepted, 0);
    ck_assert_uint_eq(server.ups, 0);
    stop(&client);
    stop(&server);
}
END_TEST

static bool dup_refused(struct side *second, struct side *server)
{
    return second->dial_fails == 1 &&
           totals(server).refusals[QUIC_REFUSE_DUPLICATE] == 1;
}

/* A second process with the first one's key, from another port, while
 * the first is connected: refused, counted for the peer, warned about;
 * the first connection stays. */
START_TEST(second_process_with_the_same_key_is_refused)
{
    struct side server = {0}, first = {0}, second = {0};
    make_identity("server", NULL);
    make_identity("twin", NULL);
    start(&server, "server");
    start(&first, "twin");
    start(&second, "twin");
    ck_assert_mem_eq(first.key_id, second.key_id, QUIC_KEY_ID_LEN);
    dial(&first, &server);
    ck_assert(run_until(both_up, &first, &server));
    dial(&second, &server);
    ck_assert(run_until(dup_refused, &second, &server));
    ck_assert_uint_eq(second.ups, 0);
    ck_assert_uint_eq(first.downs, 0);
    ck_assert_uint_eq(server.downs, 0);
    ck_assert_uint_ge(server.warns, 1);
    struct quic_peer_stats ps;
    ck_assert(prod_transport_peer_stats(server.t, CLIENT_INDEX, &ps));
    ck_assert_str_eq(ps.conn_state, "up");
    ck_assert_uint_eq(ps.duplicates, 1);
    ck_assert_uint_eq(ps.handshakes, 1);
    ck_assert_uint_eq(totals(&server).conns_accepted, 1);
    stop(&second);
    stop(&first);
    stop(&server);
}
END_TEST

static bool client_reset(struct side *client, struct side *server)
{
    return client->downs == 1 && totals(client).resets_received == 1;
}

/* The server process dies without a word (its socket refuses every
 * packet, so no CONNECTION_CLOSE leaves) and a new one starts on the same
 * port with the same key: the client's next packet (a keepalive) is
 * answered with a stateless reset, and the client drops the connection
 * and tells its owner (peer_down), long before the idle timeout (30 s). */
START_TEST(restarted_server_resets_the_old_connection)
{
    struct side server = {0}, client = {0}, again = {0};
    make_identity("server", NULL);
    make_identity("client", NULL);
    start(&server, "server");
    start(&client, "client");
    dial(&client, &server);
    ck_assert(run_until(both_up, &client, &server));
    struct sockaddr_storage addr;
    socklen_t len;
    prod_transport_local(server.t, &addr, &len);
    char text[64];
    quic_endpoint_addr_text(&addr, text, sizeof(text));
    struct prod_udp__test_hooks mute = {.send_budget_packets = 0};
    prod_udp__set_test_hooks(prod_transport__udp(server.t), &mute);
    stop(&server);
    start_at(&again, "server", text);
    ck_assert(run_until(client_reset, &client, &again));
    ck_assert_uint_ge(totals(&again).resets_sent, 1);
    ck_assert_uint_eq(client.dial_fails, 0);
    struct quic_peer_stats ps;
    ck_assert(prod_transport_peer_stats(client.t, SERVER_INDEX, &ps));
    ck_assert_str_eq(ps.conn_state, "idle");
    stop(&again);
    stop(&client);
}
END_TEST

/* The reset secret is a function of the key: the same after a restart
 * (a new prod_tls from the same files), different for another key. */
START_TEST(reset_secret_depends_on_the_key_only)
{
    struct side a = {0}, a2 = {0}, b = {0};
    make_identity("a", NULL);
    make_identity("b", NULL);
    load_tls(&a, "a");
    load_tls(&a2, "a");
    load_tls(&b, "b");
    uint8_t sa[QUIC_TLS_SECRET_LEN], sa2[QUIC_TLS_SECRET_LEN],
        sb[QUIC_TLS_SECRET_LEN], zero[QUIC_TLS_SECRET_LEN] = {0};
    quic_tls_reset_secret(a.tls, sa);
    quic_tls_reset_secret(a2.tls, sa2);
    quic_tls_reset_secret(b.tls, sb);
    ck_assert_mem_eq(sa, sa2, QUIC_TLS_SECRET_LEN);
    ck_assert_mem_ne(sa, sb, QUIC_TLS_SECRET_LEN);
    ck_assert_mem_ne(sa, zero, QUIC_TLS_SECRET_LEN);
    quic_tls_del(a.tls);
    quic_tls_del(a2.tls);
    quic_tls_del(b.tls);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("prod_transport");
    TCase *tc = tcase_create("handshakes");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    int bad = (int)(sizeof(bad_certs) / sizeof(bad_certs[0]));
    tcase_add_test(tc, good_handshake_is_accepted_once);
    tcase_add_loop_test(tc, server_refuses_a_bad_client_certificate, 0, bad);
    tcase_add_loop_test(tc, client_refuses_a_bad_server_certificate, 0, bad);
    tcase_add_test(tc, second_process_with_the_same_key_is_refused);
    tcase_add_test(tc, restarted_server_resets_the_old_connection);
    tcase_add_test(tc, reset_secret_depends_on_the_key_only);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
