/* The id map against a reference model: random puts, gets and deletes with
 * heavy churn (the stream table's pattern), both sides of the bound, and
 * clustered keys that collide on their home slot. */
#include "harness.h"

#include "core/keymap.h"

#define MODEL_KEYS 512

static struct p2p_key key_n(uint32_t n)
{
    struct p2p_key k = {{0}};
    memcpy(k.b + 1, &n, sizeof(n)); /* structured, like stream keys */
    k.b[0] = 1;
    return k;
}

START_TEST(matches_a_reference_model_under_churn)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_keymap m;
    p2p_keymap_init(&m, &mem, P2P_MEM_OTHER, MODEL_KEYS, 0x1234);
    int64_t model[MODEL_KEYS];
    for (int i = 0; i < MODEL_KEYS; i++)
        model[i] = -1;
    size_t live = 0;
    struct p2p_rng rng;
    p2p_rng_init(&rng, 99, 3);
    for (int step = 0; step < 200000; step++) {
        uint32_t k = (uint32_t)p2p_rng_below(&rng, MODEL_KEYS);
        struct p2p_key key = key_n(k);
        uint32_t got;
        switch (p2p_rng_below(&rng, 3)) {
        case 0: {
            int rc = p2p_keymap_put(&m, &key, (uint32_t)step);
            ck_assert_int_eq(rc, model[k] >= 0 ? P2P_ERR_EXISTS : 0);
            if (rc == 0) {
                model[k] = step;
                live++;
            }
            break;
        }
        case 1: {
            int rc = p2p_keymap_del(&m, &key);
            ck_assert_int_eq(rc, model[k] >= 0 ? 0 : P2P_ERR_NOT_FOUND);
            if (rc == 0) {
                model[k] = -1;
                live--;
            }
            break;
        }
        default:
            ck_assert_int_eq(p2p_keymap_get(&m, &key, &got), model[k] >= 0);
            if (model[k] >= 0)
                ck_assert_uint_eq(got, (uint32_t)model[k]);
        }
        ck_assert_uint_eq(m.count, live);
    }
    /* Everything the model holds is still found after all that churn. */
    for (uint32_t k = 0; k < MODEL_KEYS; k++) {
        struct p2p_key key = key_n(k);
        ck_assert_int_eq(p2p_keymap_get(&m, &key, NULL), model[k] >= 0);
    }
    p2p_keymap_fini(&m);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(bound_limit_and_limit_plus_one)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_keymap m;
    p2p_keymap_init(&m, &mem, P2P_MEM_OTHER, 3, 7);
    for (uint32_t i = 0; i < 3; i++) {
        struct p2p_key k = key_n(i);
        ck_assert_int_eq(p2p_keymap_put(&m, &k, i), 0);
    }
    struct p2p_key extra = key_n(7);
    ck_assert_int_eq(p2p_keymap_put(&m, &extra, 7), P2P_ERR_LIMIT);
    ck_assert(!p2p_keymap_get(&m, &extra, NULL));
    p2p_keymap_fini(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("keymap");
    TCase *tc = tcase_create("map");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, matches_a_reference_model_under_churn);
    tcase_add_test(tc, bound_limit_and_limit_plus_one);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
