/* BUGGIFY fault points (core/buggify.h): off unless asked for, enabled per
 * node from its seed, deterministic, and firing at the stated rate. */
#include <check.h>

#include "core/buggify.h"
#include "core/shim.h"

/* The fault points alone, as a node with this seed gets them. */
static void make(struct p2p_buggify *b, uint64_t seed, bool on)
{
    struct p2p_config c;
    p2p_config_default(&c, 1, seed);
    c.buggify = on;
    p2p__buggify_init(b, &c);
}

START_TEST(off_unless_asked)
{
    for (uint64_t seed = 0; seed < 200; seed++) {
        struct p2p_buggify b;
        make(&b, seed, false);
        ck_assert_uint_eq(b.on, 0);
        for (int i = 0; i < 100; i++)
            ck_assert(!p2p__buggify_fire(&b, P2P_BUGGIFY_DEFER_UPDATE));
        ck_assert_uint_eq(b.fired, 0);
    }
    /* A node makes its own the same way. */
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_config c;
    p2p_config_default(&c, 1, 7);
    struct p2p_node *n;
    ck_assert_int_eq(p2p_node_new(&c, &mem, &n), 0);
    p2p_node_del(n);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* About P2P_BUGGIFY_ENABLE_PCT % of (node, point) pairs are enabled, the
 * same ones for the same seed, and enabled points fire about
 * P2P_BUGGIFY_FIRE_PCT % of the time. */
START_TEST(rates_and_determinism)
{
    unsigned enabled = 0, pairs = 0, fired = 0, tries = 0;
    for (uint64_t seed = 0; seed < 400; seed++) {
        struct p2p_buggify a, b;
        make(&a, seed, true);
        make(&b, seed, true);
        ck_assert_uint_eq(a.on, b.on);
        for (unsigned p = 0; p < P2P_BUGGIFY_POINTS; p++) {
            pairs++;
            if (!(a.on & (1u << p)))
                continue;
            enabled++;
            for (int i = 0; i < 100; i++, tries++) {
                bool x = p2p__buggify_fire(&a, (enum p2p_buggify_point)p);
                ck_assert(x == p2p__buggify_fire(&b, (enum p2p_buggify_point)p));
                fired += x;
            }
        }
        ck_assert_uint_eq(a.fired, b.fired);
    }
    double en = 100.0 * enabled / pairs, fi = 100.0 * fired / tries;
    ck_assert_msg(en > P2P_BUGGIFY_ENABLE_PCT - 5 && en < P2P_BUGGIFY_ENABLE_PCT + 5,
                  "enabled %.1f %%", en);
    ck_assert_msg(fi > P2P_BUGGIFY_FIRE_PCT - 2 && fi < P2P_BUGGIFY_FIRE_PCT + 2,
                  "fired %.1f %%", fi);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("buggify");
    TCase *tc = tcase_create("points");
    tcase_add_test(tc, off_unless_asked);
    tcase_add_test(tc, rates_and_determinism);
    suite_add_tcase(s, tc);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed == 0 ? 0 : 1;
}
