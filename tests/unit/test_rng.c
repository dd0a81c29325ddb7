/* core/rng.c: seeded streams and filling bytes from them. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"

START_TEST(equal_seeds_and_streams_give_equal_sequences)
{
    struct p2p_rng a, b, c;
    p2p_rng_init(&a, 42, 7);
    p2p_rng_init(&b, 42, 7);
    p2p_rng_init(&c, 42, 8);
    int differ = 0;
    for (int i = 0; i < 64; i++) {
        uint64_t x = p2p_rng_u64(&a);
        ck_assert_uint_eq(x, p2p_rng_u64(&b));
        differ += x != p2p_rng_u64(&c);
    }
    /* Another stream is another sequence. */
    ck_assert_int_gt(differ, 60);
}
END_TEST

/* fill writes each 64-bit draw little-endian, the last one cut short, and
 * takes exactly ceil(n / 8) draws. */
START_TEST(fill_writes_draws_little_endian)
{
    static const size_t lens[] = {0, 1, 7, 8, 9, 13, 16, 33};
    for (size_t t = 0; t < sizeof(lens) / sizeof(lens[0]); t++) {
        size_t n = lens[t];
        struct p2p_rng a, b;
        p2p_rng_init(&a, 5, 9);
        p2p_rng_init(&b, 5, 9);
        uint8_t got[40], want[40];
        memset(got, 0xee, sizeof(got));
        memset(want, 0xee, sizeof(want));
        p2p_rng_fill(&a, got, n);
        for (size_t i = 0; i < n; i += 8) {
            uint64_t v = p2p_rng_u64(&b);
            for (size_t k = 0; k < 8 && i + k < n; k++)
                want[i + k] = (uint8_t)(v >> (8 * k));
        }
        ck_assert_mem_eq(got, want, sizeof(got)); /* nothing past n */
        /* Both are at the same place in the sequence. */
        ck_assert_uint_eq(p2p_rng_u64(&a), p2p_rng_u64(&b));
    }
}
END_TEST

START_TEST(below_stays_below_its_bound)
{
    struct p2p_rng r;
    p2p_rng_init(&r, 3, 1);
    static const uint64_t bounds[] = {1, 2, 3, 10, 1000, UINT64_MAX};
    for (size_t t = 0; t < sizeof(bounds) / sizeof(bounds[0]); t++)
        for (int i = 0; i < 1000; i++)
            ck_assert_uint_lt(p2p_rng_below(&r, bounds[t]), bounds[t]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("rng");
    TCase *tc = tcase_create("rng");
    tcase_add_test(tc, equal_seeds_and_streams_give_equal_sequences);
    tcase_add_test(tc, fill_writes_draws_little_endian);
    tcase_add_test(tc, below_stays_below_its_bound);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
