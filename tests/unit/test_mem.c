/* The allocator hook alone (core/mem.h): live bytes per module and in
 * total, the peak, the byte budget at limit and limit + 1, the N-th
 * allocation failing for N = 1, 2, ... until nothing fails, realloc and dup,
 * the size limit at the block header's edge, and the module names. No node,
 * no simulator: only core/mem.h. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/mem.h"

/* The module total equals the sum of the modules: the hook's invariant. */
static void check_sums(const struct p2p_mem *mem)
{
    size_t sum = 0;
    for (int m = 0; m < P2P_MEM_MODULES_COUNT; m++)
        sum += mem->module_bytes[m];
    ck_assert_uint_eq(sum, mem->bytes);
    ck_assert_uint_ge(mem->bytes_peak, mem->bytes);
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return 0;
    return 1;
}

START_TEST(init_zeroes_every_counter)
{
    struct p2p_mem mem;
    memset(&mem, 0xa5, sizeof(mem));
    p2p_mem_init(&mem);
    for (int m = 0; m < P2P_MEM_MODULES_COUNT; m++)
        ck_assert_uint_eq(mem.module_bytes[m], 0);
    ck_assert_uint_eq(mem.bytes, 0);
    ck_assert_uint_eq(mem.bytes_peak, 0);
    ck_assert_uint_eq(mem.bytes_budget, 0);
    ck_assert_uint_eq(mem.allocs, 0);
    ck_assert_uint_eq(mem.fail_at, 0);
}
END_TEST

/* Sizes around the 16-byte header and powers of two. */
static const size_t sizes[] = {1, 15, 16, 17, 255, 4096, 65537};
#define SIZES_COUNT (sizeof(sizes) / sizeof(sizes[0]))

/* Every module is charged its own bytes, zeroed, and freeing returns each
 * module's count and the total to zero; the peak stays at the highest. */
START_TEST(alloc_charges_each_module_and_free_returns_to_zero)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    void *blocks[P2P_MEM_MODULES_COUNT][SIZES_COUNT];
    size_t total = 0;
    for (int m = 0; m < P2P_MEM_MODULES_COUNT; m++) {
        size_t module_total = 0;
        for (size_t s = 0; s < SIZES_COUNT; s++) {
            uint8_t *p = p2p_mem_alloc(&mem, (enum p2p_mem_module)m, sizes[s]);
            ck_assert_ptr_nonnull(p);
            ck_assert(all_zero(p, sizes[s]));
            memset(p, 0xff, sizes[s]); /* the whole block is usable */
            blocks[m][s] = p;
            module_total += sizes[s];
            total += sizes[s];
            ck_assert_uint_eq(mem.module_bytes[m], module_total);
            ck_assert_uint_eq(mem.bytes, total);
            ck_assert_uint_eq(mem.bytes_peak, total);
            for (int o = m + 1; o < P2P_MEM_MODULES_COUNT; o++)
                ck_assert_uint_eq(mem.module_bytes[o], 0);
            check_sums(&mem);
        }
    }
    ck_assert_uint_eq(mem.allocs, P2P_MEM_MODULES_COUNT * SIZES_COUNT);
    size_t peak = total;
    /* Free in an order that interleaves modules. */
    for (size_t s = 0; s < SIZES_COUNT; s++) {
        for (int m = P2P_MEM_MODULES_COUNT - 1; m >= 0; m--) {
            size_t before = mem.module_bytes[m];
            p2p_mem_free(&mem, (enum p2p_mem_module)m, blocks[m][s]);
            total -= sizes[s];
            ck_assert_uint_eq(mem.module_bytes[m], before - sizes[s]);
            ck_assert_uint_eq(mem.bytes, total);
            ck_assert_uint_eq(mem.bytes_peak, peak);
            check_sums(&mem);
        }
    }
    for (int m = 0; m < P2P_MEM_MODULES_COUNT; m++)
        ck_assert_uint_eq(mem.module_bytes[m], 0);
    ck_assert_uint_eq(mem.bytes, 0);
    ck_assert_uint_eq(mem.bytes_peak, peak);
}
END_TEST

START_TEST(alloc_raw_is_charged_like_alloc)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    for (size_t s = 0; s < SIZES_COUNT; s++) {
        uint8_t *p = p2p_mem_alloc_raw(&mem, P2P_MEM_WIRE, sizes[s]);
        ck_assert_ptr_nonnull(p);
        memset(p, 0x5a, sizes[s]);
        ck_assert_uint_eq(mem.module_bytes[P2P_MEM_WIRE], sizes[s]);
        ck_assert_uint_eq(mem.bytes, sizes[s]);
        ck_assert_uint_eq(mem.allocs, s + 1);
        p2p_mem_free(&mem, P2P_MEM_WIRE, p);
        ck_assert_uint_eq(mem.bytes, 0);
    }
    ck_assert_uint_eq(mem.bytes_peak, sizes[SIZES_COUNT - 1]);
}
END_TEST

START_TEST(free_of_null_changes_nothing)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    void *p = p2p_mem_alloc(&mem, P2P_MEM_POOL, 10);
    struct p2p_mem before = mem;
    for (int m = 0; m < P2P_MEM_MODULES_COUNT; m++)
        p2p_mem_free(&mem, (enum p2p_mem_module)m, NULL);
    ck_assert_mem_eq(&mem, &before, sizeof(mem));
    p2p_mem_free(&mem, P2P_MEM_POOL, p);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* The peak is the highest live total ever seen, through allocs, reallocs
 * that grow and frees, and never goes down. */
START_TEST(peak_is_the_highest_live_total)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    void *a = p2p_mem_alloc(&mem, P2P_MEM_POOL, 100);
    void *b = p2p_mem_alloc(&mem, P2P_MEM_SENDER, 200);
    ck_assert_uint_eq(mem.bytes_peak, 300);
    p2p_mem_free(&mem, P2P_MEM_SENDER, b);
    ck_assert_uint_eq(mem.bytes, 100);
    ck_assert_uint_eq(mem.bytes_peak, 300);
    b = p2p_mem_alloc(&mem, P2P_MEM_SENDER, 199); /* total 299: one below */
    ck_assert_uint_eq(mem.bytes_peak, 300);
    p2p_mem_free(&mem, P2P_MEM_SENDER, b);
    b = p2p_mem_alloc(&mem, P2P_MEM_SENDER, 200); /* total 300: equal */
    ck_assert_uint_eq(mem.bytes_peak, 300);
    p2p_mem_free(&mem, P2P_MEM_SENDER, b);
    b = p2p_mem_alloc(&mem, P2P_MEM_SENDER, 201); /* total 301: one above */
    ck_assert_uint_eq(mem.bytes_peak, 301);
    a = p2p_mem_realloc(&mem, P2P_MEM_POOL, a, 1000); /* grow */
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(mem.bytes, 1201);
    ck_assert_uint_eq(mem.bytes_peak, 1201);
    a = p2p_mem_realloc(&mem, P2P_MEM_POOL, a, 1); /* shrink */
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(mem.bytes, 202);
    ck_assert_uint_eq(mem.bytes_peak, 1201);
    p2p_mem_free(&mem, P2P_MEM_POOL, a);
    p2p_mem_free(&mem, P2P_MEM_SENDER, b);
    ck_assert_uint_eq(mem.bytes, 0);
    ck_assert_uint_eq(mem.bytes_peak, 1201);
}
END_TEST

/* realloc charges the difference (grow, same size, shrink), keeps the
 * contents up to the smaller size, and from NULL is an alloc. */
START_TEST(realloc_charges_the_difference_and_keeps_contents)
{
    static const struct {
        size_t from, to;
    } rows[] = {
        {1, 2}, {16, 17}, {100, 100}, {100, 99}, {4096, 1}, {1, 65536},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct p2p_mem mem;
        p2p_mem_init(&mem);
        void *other = p2p_mem_alloc(&mem, P2P_MEM_WIRE, 7);
        uint8_t *p = p2p_mem_realloc(&mem, P2P_MEM_STREAMS, NULL, rows[i].from);
        ck_assert_ptr_nonnull(p);
        ck_assert(all_zero(p, rows[i].from)); /* from NULL: p2p_mem_alloc */
        ck_assert_uint_eq(mem.module_bytes[P2P_MEM_STREAMS], rows[i].from);
        for (size_t k = 0; k < rows[i].from; k++)
            p[k] = (uint8_t)(k * 7 + 1);
        p = p2p_mem_realloc(&mem, P2P_MEM_STREAMS, p, rows[i].to);
        ck_assert_ptr_nonnull(p);
        size_t keep = rows[i].from < rows[i].to ? rows[i].from : rows[i].to;
        for (size_t k = 0; k < keep; k++)
            ck_assert_uint_eq(p[k], (uint8_t)(k * 7 + 1));
        memset(p, 0, rows[i].to); /* the whole new size is usable */
        ck_assert_uint_eq(mem.module_bytes[P2P_MEM_STREAMS], rows[i].to);
        ck_assert_uint_eq(mem.module_bytes[P2P_MEM_WIRE], 7);
        ck_assert_uint_eq(mem.bytes, rows[i].to + 7);
        ck_assert_uint_eq(mem.allocs, 3);
        check_sums(&mem);
        p2p_mem_free(&mem, P2P_MEM_STREAMS, p);
        p2p_mem_free(&mem, P2P_MEM_WIRE, other);
        ck_assert_uint_eq(mem.bytes, 0);
    }
}
END_TEST

/* A refused realloc returns NULL and leaves the block valid, its contents
 * and every byte count as they were (only the attempt is counted). */
START_TEST(realloc_refused_keeps_the_block)
{
    for (int how = 0; how < 2; how++) {
        struct p2p_mem mem;
        p2p_mem_init(&mem);
        uint8_t *p = p2p_mem_alloc(&mem, P2P_MEM_DOWNLOADER, 64);
        memset(p, 0x3c, 64);
        if (how == 0)
            mem.fail_at = mem.allocs + 1;
        else
            mem.bytes_budget = 64 + 63; /* growth to 128 is past it */
        struct p2p_mem before = mem;
        ck_assert_ptr_null(p2p_mem_realloc(&mem, P2P_MEM_DOWNLOADER, p, 128));
        ck_assert_uint_eq(mem.allocs, before.allocs + 1);
        before.allocs = mem.allocs;
        ck_assert_mem_eq(&mem, &before, sizeof(mem));
        for (size_t k = 0; k < 64; k++)
            ck_assert_uint_eq(p[k], 0x3c);
        /* The next attempt (or one within the budget) succeeds. */
        p = p2p_mem_realloc(&mem, P2P_MEM_DOWNLOADER, p, 127);
        ck_assert_ptr_nonnull(p);
        ck_assert_uint_eq(p[63], 0x3c);
        ck_assert_uint_eq(mem.bytes, 127);
        p2p_mem_free(&mem, P2P_MEM_DOWNLOADER, p);
        ck_assert_uint_eq(mem.bytes, 0);
    }
}
END_TEST

/* The budget: an allocation that brings the live total to exactly the
 * budget succeeds, one byte more fails and is charged nothing. Table over
 * the live bytes already held, for alloc, alloc_raw, dup and realloc. */
START_TEST(budget_at_limit_and_limit_plus_one)
{
    static const struct {
        size_t budget, live;
    } rows[] = {
        {1, 0}, {2, 1}, {100, 0}, {100, 50}, {100, 99}, {4096, 4000},
    };
    static const uint8_t src[4096];
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        for (int op = 0; op < 4; op++) {
            struct p2p_mem mem;
            p2p_mem_init(&mem);
            mem.bytes_budget = rows[i].budget;
            void *live = rows[i].live
                             ? p2p_mem_alloc(&mem, P2P_MEM_POOL, rows[i].live)
                             : NULL;
            size_t room = rows[i].budget - rows[i].live;
            void *grown = NULL;
            if (op == 3) { /* realloc grows a 1-byte block by room (+1) */
                grown = p2p_mem_alloc(&mem, P2P_MEM_OUTBOX, 1);
                room -= 1;
            }
            struct p2p_mem before = mem;
            void *p = NULL;
            for (int plus = 1; plus >= 0; plus--) { /* limit + 1, then limit */
                size_t n = room + (size_t)plus;
                switch (op) {
                case 0: p = p2p_mem_alloc(&mem, P2P_MEM_OUTBOX, n); break;
                case 1: p = p2p_mem_alloc_raw(&mem, P2P_MEM_OUTBOX, n); break;
                case 2: p = p2p_mem_dup(&mem, P2P_MEM_OUTBOX, src, n); break;
                default:
                    p = p2p_mem_realloc(&mem, P2P_MEM_OUTBOX, grown, 1 + n);
                    break;
                }
                if (plus == 1) {
                    ck_assert_msg(p == NULL, "row %zu op %d: past the budget", i, op);
                    ck_assert_uint_eq(mem.allocs, before.allocs + 1);
                    before.allocs = mem.allocs;
                    ck_assert_mem_eq(&mem, &before, sizeof(mem));
                } else {
                    ck_assert_msg(p != NULL, "row %zu op %d: at the budget", i, op);
                    ck_assert_uint_eq(mem.bytes, rows[i].budget);
                    ck_assert_uint_eq(mem.bytes_peak, rows[i].budget);
                }
            }
            if (op == 3 && p == NULL)
                p = grown;
            p2p_mem_free(&mem, P2P_MEM_OUTBOX, p);
            p2p_mem_free(&mem, P2P_MEM_POOL, live);
            ck_assert_uint_eq(mem.bytes, 0);
            check_sums(&mem);
        }
    }
}
END_TEST

/* Freeing makes room under the budget again. */
START_TEST(budget_room_returns_after_free)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    mem.bytes_budget = 1000;
    void *a = p2p_mem_alloc(&mem, P2P_MEM_POOL, 600);
    ck_assert_ptr_null(p2p_mem_alloc(&mem, P2P_MEM_SENDER, 401));
    void *b = p2p_mem_alloc(&mem, P2P_MEM_SENDER, 400);
    ck_assert_ptr_nonnull(b);
    ck_assert_ptr_null(p2p_mem_alloc(&mem, P2P_MEM_SENDER, 1));
    p2p_mem_free(&mem, P2P_MEM_POOL, a);
    a = p2p_mem_alloc(&mem, P2P_MEM_SENDER, 600);
    ck_assert_ptr_nonnull(a);
    ck_assert_uint_eq(mem.module_bytes[P2P_MEM_SENDER], 1000);
    ck_assert_uint_eq(mem.module_bytes[P2P_MEM_POOL], 0);
    p2p_mem_free(&mem, P2P_MEM_SENDER, a);
    p2p_mem_free(&mem, P2P_MEM_SENDER, b);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* fail_at = N fails exactly the N-th attempt (counted from init), and
 * only that one; every kind of allocation counts as an attempt. */
START_TEST(fail_at_fails_exactly_the_nth_attempt)
{
    enum { OPS = 8 };
    static const uint8_t src[32] = {1, 2, 3};
    for (uint64_t n = 1; n <= OPS + 1; n++) {
        struct p2p_mem mem;
        p2p_mem_init(&mem);
        mem.fail_at = n;
        void *blocks[OPS] = {0};
        size_t want_bytes = 0;
        for (int k = 0; k < OPS; k++) {
            void *p;
            switch (k % 4) {
            case 0: p = p2p_mem_alloc(&mem, P2P_MEM_RECEIVER, 32); break;
            case 1: p = p2p_mem_alloc_raw(&mem, P2P_MEM_RECEIVER, 32); break;
            case 2: p = p2p_mem_dup(&mem, P2P_MEM_RECEIVER, src, 32); break;
            default: p = p2p_mem_realloc(&mem, P2P_MEM_RECEIVER, NULL, 32); break;
            }
            ck_assert_uint_eq(mem.allocs, (uint64_t)k + 1);
            if ((uint64_t)k + 1 == n) {
                ck_assert_msg(p == NULL, "attempt %d of fail_at %llu succeeded", k + 1,
                              (unsigned long long)n);
            } else {
                ck_assert_msg(p != NULL, "attempt %d of fail_at %llu failed", k + 1,
                              (unsigned long long)n);
                want_bytes += 32;
            }
            ck_assert_uint_eq(mem.module_bytes[P2P_MEM_RECEIVER], want_bytes);
            blocks[k] = p;
        }
        for (int k = 0; k < OPS; k++)
            p2p_mem_free(&mem, P2P_MEM_RECEIVER, blocks[k]);
        ck_assert_uint_eq(mem.bytes, 0);
    }
}
END_TEST

/* A user of the hook that builds a small structure (a table, two entries
 * of different modules, one grown and one duplicated) and undoes what it
 * did on a refusal, as core modules do. Returns 0 or -1 (refused). */
struct rig {
    void *table;  /* P2P_MEM_POOL */
    void *entry;  /* P2P_MEM_SENDER */
    void *copy;   /* P2P_MEM_WIRE */
};

static int rig_build(struct rig *r, struct p2p_mem *mem)
{
    void *grown, *big;
    memset(r, 0, sizeof(*r));
    r->table = p2p_mem_alloc(mem, P2P_MEM_POOL, 64);
    if (r->table == NULL)
        return -1;
    r->entry = p2p_mem_alloc(mem, P2P_MEM_SENDER, 10);
    if (r->entry == NULL)
        goto fail_free_table;
    grown = p2p_mem_realloc(mem, P2P_MEM_SENDER, r->entry, 1000);
    if (grown == NULL)
        goto fail_free_entry;
    r->entry = grown;
    r->copy = p2p_mem_dup(mem, P2P_MEM_WIRE, r->entry, 500);
    if (r->copy == NULL)
        goto fail_free_entry;
    big = p2p_mem_realloc(mem, P2P_MEM_POOL, r->table, 4096);
    if (big == NULL)
        goto fail_free_copy;
    r->table = big;
    return 0;
fail_free_copy:
    p2p_mem_free(mem, P2P_MEM_WIRE, r->copy);
fail_free_entry:
    p2p_mem_free(mem, P2P_MEM_SENDER, r->entry);
fail_free_table:
    p2p_mem_free(mem, P2P_MEM_POOL, r->table);
    memset(r, 0, sizeof(*r));
    return -1;
}

/* Fails the N-th allocation for N = 1, 2, ... until the build completes
 * with no failure: every refusal leaves nothing charged, every success
 * charges each module its exact bytes, and freeing returns all to zero. */
START_TEST(walk_every_allocation_failure)
{
    uint64_t n;
    for (n = 1; n < 100; n++) {
        struct p2p_mem mem;
        p2p_mem_init(&mem);
        mem.fail_at = n;
        struct rig r;
        int rc = rig_build(&r, &mem);
        if (rc != 0) {
            ck_assert_uint_eq(mem.allocs, n); /* it stopped at the refusal */
            ck_assert_uint_eq(mem.bytes, 0);
            for (int m = 0; m < P2P_MEM_MODULES_COUNT; m++)
                ck_assert_uint_eq(mem.module_bytes[m], 0);
            continue;
        }
        ck_assert_uint_lt(mem.allocs, n); /* nothing failed */
        ck_assert_uint_eq(mem.module_bytes[P2P_MEM_POOL], 4096);
        ck_assert_uint_eq(mem.module_bytes[P2P_MEM_SENDER], 1000);
        ck_assert_uint_eq(mem.module_bytes[P2P_MEM_WIRE], 500);
        ck_assert_uint_eq(mem.bytes, 5596);
        ck_assert_uint_eq(mem.bytes_peak, 5596);
        check_sums(&mem);
        p2p_mem_free(&mem, P2P_MEM_POOL, r.table);
        p2p_mem_free(&mem, P2P_MEM_SENDER, r.entry);
        p2p_mem_free(&mem, P2P_MEM_WIRE, r.copy);
        ck_assert_uint_eq(mem.bytes, 0);
        break;
    }
    ck_assert_uint_eq(n, 6); /* five attempts, each failed once */
}
END_TEST

START_TEST(dup_copies_and_charges)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    uint8_t src[300];
    for (size_t k = 0; k < sizeof(src); k++)
        src[k] = (uint8_t)(k ^ 0x55);
    ck_assert_ptr_null(p2p_mem_dup(&mem, P2P_MEM_OTHER, src, 0));
    ck_assert_uint_eq(mem.bytes, 0);
    static const size_t lens[] = {1, 16, 17, 300};
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        uint8_t *p = p2p_mem_dup(&mem, P2P_MEM_OTHER, src, lens[i]);
        ck_assert_ptr_nonnull(p);
        ck_assert_ptr_ne(p, src);
        ck_assert_mem_eq(p, src, lens[i]);
        ck_assert_uint_eq(mem.module_bytes[P2P_MEM_OTHER], lens[i]);
        p2p_mem_free(&mem, P2P_MEM_OTHER, p);
        ck_assert_uint_eq(mem.bytes, 0);
    }
    mem.fail_at = mem.allocs + 1;
    ck_assert_ptr_null(p2p_mem_dup(&mem, P2P_MEM_OTHER, src, 10));
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* Sizes at the edges: n = 0 is never a block; a size that cannot carry the
 * block header (SIZE_MAX - 15 and above) is refused without touching the
 * counts; SIZE_MAX - 16 is the largest size passed on, here refused by a
 * budget so that no real allocation of that size is tried. */
START_TEST(size_edges_are_refused_and_charge_nothing)
{
    const size_t hdr = 16;
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    uint8_t *p = p2p_mem_alloc(&mem, P2P_MEM_POOL, 8);
    memset(p, 9, 8);
    static const size_t too_big[] = {SIZE_MAX - 15, SIZE_MAX - 1, SIZE_MAX};
    for (size_t i = 0; i < 3; i++) {
        struct p2p_mem before = mem;
        ck_assert_ptr_null(p2p_mem_alloc(&mem, P2P_MEM_POOL, too_big[i]));
        ck_assert_ptr_null(p2p_mem_alloc_raw(&mem, P2P_MEM_POOL, too_big[i]));
        ck_assert_ptr_null(p2p_mem_realloc(&mem, P2P_MEM_POOL, p, too_big[i]));
        ck_assert_ptr_null(p2p_mem_realloc(&mem, P2P_MEM_POOL, NULL, too_big[i]));
        before.allocs = mem.allocs;
        ck_assert_mem_eq(&mem, &before, sizeof(mem));
    }
    struct p2p_mem before = mem;
    ck_assert_ptr_null(p2p_mem_alloc(&mem, P2P_MEM_POOL, 0));
    ck_assert_ptr_null(p2p_mem_alloc_raw(&mem, P2P_MEM_POOL, 0));
    before.allocs = mem.allocs;
    ck_assert_mem_eq(&mem, &before, sizeof(mem));
    /* The largest size handed on, refused by the budget (live 8 bytes, so
     * no wrap-around of bytes + n is involved: 8 + SIZE_MAX - 16 fits). */
    mem.bytes_budget = 1 << 20;
    before = mem;
    ck_assert_ptr_null(p2p_mem_alloc(&mem, P2P_MEM_POOL, SIZE_MAX - hdr));
    ck_assert_ptr_null(p2p_mem_realloc(&mem, P2P_MEM_POOL, p, SIZE_MAX - hdr));
    before.allocs = mem.allocs;
    ck_assert_mem_eq(&mem, &before, sizeof(mem));
    for (size_t k = 0; k < 8; k++)
        ck_assert_uint_eq(p[k], 9); /* p is still valid */
    p2p_mem_free(&mem, P2P_MEM_POOL, p);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(module_names)
{
    static const char *const want[P2P_MEM_MODULES_COUNT] = {
        [P2P_MEM_POOL] = "pool",           [P2P_MEM_SENDER] = "sender",
        [P2P_MEM_RECEIVER] = "receiver",   [P2P_MEM_DOWNLOADER] = "downloader",
        [P2P_MEM_STREAMS] = "streams",     [P2P_MEM_OUTBOX] = "outbox",
        [P2P_MEM_WIRE] = "wire",           [P2P_MEM_STATE_SYNC] = "state_sync",
        [P2P_MEM_OTHER] = "other",
    };
    for (int m = 0; m < P2P_MEM_MODULES_COUNT; m++) {
        ck_assert_ptr_nonnull(want[m]); /* a new module needs a row here */
        ck_assert_str_eq(p2p_mem_module_name((enum p2p_mem_module)m), want[m]);
    }
    ck_assert_str_eq(p2p_mem_module_name(P2P_MEM_MODULES_COUNT), "?");
}
END_TEST

/* With 100 live bytes, a request of SIZE_MAX - 50 is past the budget: the
 * check must not wrap (it did, and the request reached malloc). */
START_TEST(budget_check_does_not_wrap)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    mem.bytes_budget = 1000;
    void *live = p2p_mem_alloc(&mem, P2P_MEM_POOL, 100);
    ck_assert_ptr_null(p2p_mem_alloc(&mem, P2P_MEM_POOL, SIZE_MAX - 50));
    ck_assert_uint_eq(mem.bytes, 100);
    p2p_mem_free(&mem, P2P_MEM_POOL, live);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mem");
    TCase *count = tcase_create("counting");
    tcase_add_test(count, init_zeroes_every_counter);
    tcase_add_test(count, alloc_charges_each_module_and_free_returns_to_zero);
    tcase_add_test(count, alloc_raw_is_charged_like_alloc);
    tcase_add_test(count, free_of_null_changes_nothing);
    tcase_add_test(count, peak_is_the_highest_live_total);
    tcase_add_test(count, realloc_charges_the_difference_and_keeps_contents);
    tcase_add_test(count, dup_copies_and_charges);
    tcase_add_test(count, module_names);
    suite_add_tcase(s, count);
    TCase *refuse = tcase_create("refusals");
    tcase_add_test(refuse, realloc_refused_keeps_the_block);
    tcase_add_test(refuse, budget_at_limit_and_limit_plus_one);
    tcase_add_test(refuse, budget_room_returns_after_free);
    tcase_add_test(refuse, fail_at_fails_exactly_the_nth_attempt);
    tcase_add_test(refuse, walk_every_allocation_failure);
    tcase_add_test(refuse, size_edges_are_refused_and_charge_nothing);
    tcase_add_test(refuse, budget_check_does_not_wrap);
    suite_add_tcase(s, refuse);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
