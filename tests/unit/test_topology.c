/* The topology container (core/topology.c) and its entry point on a node:
 * a sorted copy of the members, lookups, every refusal (duplicate id, id
 * past ids_max, stale version, earliest past version, address without its
 * NUL, too many members, allocation failure) leaving the installed version
 * intact, each bound tested on both sides. */
#include "conn_harness.h"

#include "core/topology.h"

#define IDS_MAX 16u

/* A topology holding version 5 (earliest 2) with members 1, 2, 3. */
static void set_base(struct p2p_topology *t, struct p2p_mem *mem)
{
    static const p2p_node_id ids[] = {3, 1, 2};
    struct p2p_member m[3];
    ch_members(m, ids, 3);
    p2p_topology_init(t);
    ck_assert_int_eq(
        p2p_topology_set(
            t, mem,
            &(struct p2p_topology_update){
                .version = 5, .earliest_version = 2, .members = m, .count = 3},
            IDS_MAX),
        0);
}

/* The topology still is the one set_base installed. */
static void assert_base(const struct p2p_topology *t,
                        const struct p2p_member *members_before)
{
    ck_assert_uint_eq(t->version, 5);
    ck_assert_uint_eq(t->earliest_version, 2);
    ck_assert_ptr_eq(t->members, members_before);
    ck_assert_uint_eq(t->count, 3);
    for (uint32_t i = 0; i < 3; i++) {
        char want[P2P_ADDR_BYTES_MAX];
        snprintf(want, sizeof(want), "10.0.%u:4100", (unsigned)(i + 1));
        ck_assert_uint_eq(t->members[i].id, i + 1);
        ck_assert_str_eq(t->members[i].addr, want);
    }
}

START_TEST(set_sorts_a_copy)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_topology t;
    p2p_topology_init(&t);
    ck_assert_uint_eq(t.version, 0);
    ck_assert_uint_eq(t.count, 0);
    static const p2p_node_id ids[] = {7, 2, 15, 0, 9};
    struct p2p_member m[5];
    ch_members(m, ids, 5);
    ck_assert_int_eq(
        p2p_topology_set(
            &t, &mem,
            &(struct p2p_topology_update){
                .version = 3, .earliest_version = 1, .members = m, .count = 5},
            IDS_MAX),
        0);
    ck_assert_uint_eq(t.version, 3);
    ck_assert_uint_eq(t.earliest_version, 1);
    ck_assert_uint_eq(t.count, 5);
    ck_assert_ptr_ne(t.members, m);
    static const p2p_node_id sorted[] = {0, 2, 7, 9, 15};
    for (uint32_t i = 0; i < 5; i++) {
        char want[P2P_ADDR_BYTES_MAX];
        snprintf(want, sizeof(want), "10.0.%u:4100", (unsigned)sorted[i]);
        ck_assert_uint_eq(t.members[i].id, sorted[i]);
        ck_assert_str_eq(t.members[i].addr, want); /* moved with its id */
    }
    /* A copy: the caller's array may change or go away. */
    memset(m, 0xff, sizeof(m));
    ck_assert_uint_eq(t.members[0].id, 0);
    ck_assert(p2p_topology_is_member(&t, 15));
    ck_assert_uint_eq(mem.module_bytes[P2P_MEM_OTHER], 5 * sizeof(m[0]));
    p2p_topology_fini(&t, &mem);
    ck_assert_uint_eq(t.count, 0);
    ck_assert_ptr_null(t.members);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

START_TEST(find_hits_members_only)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_topology t;
    p2p_topology_init(&t);
    /* Nothing installed: nobody is a member. */
    ck_assert_ptr_null(p2p_topology_find(&t, 0));
    ck_assert(!p2p_topology_is_member(&t, 0));
    static const p2p_node_id ids[] = {9, 1, 4, 15, 6, 0};
    struct p2p_member m[6];
    ch_members(m, ids, 6);
    ck_assert_int_eq(
        p2p_topology_set(
            &t, &mem,
            &(struct p2p_topology_update){
                .version = 1, .earliest_version = 1, .members = m, .count = 6},
            IDS_MAX),
        0);
    for (p2p_node_id id = 0; id < IDS_MAX + 2; id++) {
        bool member = false;
        for (size_t i = 0; i < CH_COUNT(ids); i++)
            member |= ids[i] == id;
        const struct p2p_member *f = p2p_topology_find(&t, id);
        ck_assert_msg((f != NULL) == member, "id %u", (unsigned)id);
        ck_assert(p2p_topology_is_member(&t, id) == member);
        if (f != NULL) {
            char want[P2P_ADDR_BYTES_MAX];
            snprintf(want, sizeof(want), "10.0.%u:4100", (unsigned)id);
            ck_assert_uint_eq(f->id, id);
            ck_assert_str_eq(f->addr, want);
        }
    }
    ck_assert(!p2p_topology_is_member(&t, UINT32_MAX));
    p2p_topology_fini(&t, &mem);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* Every refused replacement of version 5 {1, 2, 3}: the error, and the
 * installed version untouched (same array, same contents). */
struct refusal {
    const char *what;
    uint64_t version, earliest;
    p2p_node_id ids[4];
    uint32_t count;
    int addr_without_nul_at; /* -1 = every address is terminated */
    bool null_members;
    int rc;
};

static const struct refusal refusals[] = {
    {"duplicate id", 6, 6, {4, 2, 4}, 3, -1, false, P2P_ERR_INVALID_ARG},
    {"duplicate, last and first", 6, 6, {9, 1, 0, 9}, 4, -1, false,
     P2P_ERR_INVALID_ARG},
    {"id == ids_max", 6, 6, {0, IDS_MAX}, 2, -1, false, P2P_ERR_INVALID_ARG},
    {"id UINT32_MAX", 6, 6, {UINT32_MAX}, 1, -1, false, P2P_ERR_INVALID_ARG},
    {"same version", 5, 5, {1}, 1, -1, false, P2P_ERR_STATE},
    {"older version", 4, 4, {1}, 1, -1, false, P2P_ERR_STATE},
    {"older version, empty", 1, 0, {0}, 0, -1, false, P2P_ERR_STATE},
    {"earliest > version", 6, 7, {1}, 1, -1, false, P2P_ERR_INVALID_ARG},
    {"address without NUL", 6, 6, {1, 2}, 2, 1, false, P2P_ERR_INVALID_ARG},
    {"NULL members", 6, 6, {0}, 2, -1, true, P2P_ERR_INVALID_ARG},
};

START_TEST(refusal_keeps_installed_version)
{
    const struct refusal *r = &refusals[_i];
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_topology t;
    set_base(&t, &mem);
    const struct p2p_member *before = t.members;
    size_t bytes_before = mem.bytes;
    struct p2p_member m[4];
    ch_members(m, r->ids, r->count);
    if (r->addr_without_nul_at >= 0)
        memset(m[r->addr_without_nul_at].addr, 'a', P2P_ADDR_BYTES_MAX);
    int rc = p2p_topology_set(
        &t, &mem,
        &(struct p2p_topology_update){.version = r->version,
                                      .earliest_version = r->earliest,
                                      .members = r->null_members ? NULL : m,
                                      .count = r->count},
        IDS_MAX);
    ck_assert_msg(rc == r->rc, "%s: got %d, want %d", r->what, rc, r->rc);
    assert_base(&t, before);
    ck_assert_uint_eq(mem.bytes, bytes_before); /* nothing held or leaked */
    p2p_topology_fini(&t, &mem);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* The accepted side of each bound above. */
START_TEST(accepted_boundaries)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_topology t;
    set_base(&t, &mem);
    /* version = old + 1, earliest = version, id = ids_max - 1, an address
     * of P2P_ADDR_BYTES_MAX - 1 characters and its NUL. */
    struct p2p_member m[2];
    static const p2p_node_id ids[] = {IDS_MAX - 1, 0};
    ch_members(m, ids, 2);
    memset(m[1].addr, 'a', P2P_ADDR_BYTES_MAX - 1);
    m[1].addr[P2P_ADDR_BYTES_MAX - 1] = '\0';
    ck_assert_int_eq(
        p2p_topology_set(
            &t, &mem,
            &(struct p2p_topology_update){
                .version = 6, .earliest_version = 6, .members = m, .count = 2},
            IDS_MAX),
        0);
    ck_assert_uint_eq(t.version, 6);
    ck_assert_uint_eq(t.earliest_version, 6);
    ck_assert_uint_eq(t.count, 2);
    ck_assert_uint_eq(t.members[0].id, 0);
    ck_assert_uint_eq(strlen(t.members[0].addr), P2P_ADDR_BYTES_MAX - 1);
    ck_assert(p2p_topology_is_member(&t, IDS_MAX - 1));
    ck_assert(!p2p_topology_is_member(&t, 1)); /* the old members are gone */
    /* Versions may jump; earliest may stay far behind. */
    ck_assert_int_eq(
        p2p_topology_set(&t, &mem,
                         &(struct p2p_topology_update){.version = UINT64_MAX,
                                                       .earliest_version = 0,
                                                       .members = m,
                                                       .count = 1},
                         IDS_MAX),
        0);
    ck_assert_uint_eq(t.version, UINT64_MAX);
    /* Nothing is newer than UINT64_MAX. */
    ck_assert_int_eq(
        p2p_topology_set(&t, &mem,
                         &(struct p2p_topology_update){.version = UINT64_MAX,
                                                       .earliest_version = 0,
                                                       .members = m,
                                                       .count = 1},
                         IDS_MAX),
        P2P_ERR_STATE);
    p2p_topology_fini(&t, &mem);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* Version 0 means "none yet": it can never be installed. */
START_TEST(version_zero_is_never_installed)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_topology t;
    p2p_topology_init(&t);
    struct p2p_member m[1];
    static const p2p_node_id ids[] = {1};
    ch_members(m, ids, 1);
    ck_assert_int_eq(
        p2p_topology_set(
            &t, &mem,
            &(struct p2p_topology_update){
                .version = 0, .earliest_version = 0, .members = m, .count = 1},
            IDS_MAX),
        P2P_ERR_STATE);
    ck_assert_uint_eq(t.count, 0);
    ck_assert_uint_eq(mem.bytes, 0);
    ck_assert_int_eq(
        p2p_topology_set(
            &t, &mem,
            &(struct p2p_topology_update){
                .version = 1, .earliest_version = 0, .members = m, .count = 1},
            IDS_MAX),
        0);
    p2p_topology_fini(&t, &mem);
}
END_TEST

/* An empty member list is a valid version: nobody is a member, and the
 * previous members' memory is given back. */
START_TEST(empty_version_frees_members)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_topology t;
    set_base(&t, &mem);
    ck_assert_uint_gt(mem.bytes, 0);
    ck_assert_int_eq(
        p2p_topology_set(&t, &mem,
                         &(struct p2p_topology_update){.version = 6,
                                                       .earliest_version = 6,
                                                       .members = NULL,
                                                       .count = 0},
                         IDS_MAX),
        0);
    ck_assert_uint_eq(t.count, 0);
    ck_assert_ptr_null(t.members);
    ck_assert_uint_eq(t.version, 6);
    ck_assert(!p2p_topology_is_member(&t, 1));
    ck_assert_uint_eq(mem.bytes, 0);
    p2p_topology_fini(&t, &mem);
}
END_TEST

/* P2P_TOPOLOGY_MEMBERS_MAX members fit (given in reverse order, they come
 * out sorted); one more is refused before anything is read or held. */
START_TEST(member_count_limit_both_sides)
{
    const uint32_t max = P2P_TOPOLOGY_MEMBERS_MAX;
    struct p2p_member *m = calloc(max + 1, sizeof(*m));
    ck_assert_ptr_nonnull(m);
    for (uint32_t i = 0; i <= max; i++)
        m[i].id = max - i; /* ids max..0; all but the first below max */
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_topology t;
    p2p_topology_init(&t);
    ck_assert_int_eq(
        p2p_topology_set(&t, &mem,
                         &(struct p2p_topology_update){.version = 1,
                                                       .earliest_version = 1,
                                                       .members = m,
                                                       .count = max + 1},
                         max + 1),
        P2P_ERR_INVALID_ARG);
    ck_assert_uint_eq(t.version, 0);
    ck_assert_uint_eq(mem.bytes, 0);
    ck_assert_int_eq(
        p2p_topology_set(&t, &mem,
                         &(struct p2p_topology_update){.version = 1,
                                                       .earliest_version = 1,
                                                       .members = m + 1,
                                                       .count = max},
                         max),
        0);
    ck_assert_uint_eq(t.count, max);
    for (uint32_t i = 0; i < max; i++)
        ck_assert_uint_eq(t.members[i].id, i);
    ck_assert(p2p_topology_is_member(&t, max - 1));
    ck_assert(!p2p_topology_is_member(&t, max));
    p2p_topology_fini(&t, &mem);
    ck_assert_uint_eq(mem.bytes, 0);
    free(m);
}
END_TEST

/* Fail the N-th allocation for N = 1, 2, ... until the replacement goes
 * through: each refusal is P2P_ERR_NOMEM with version 5 untouched. */
START_TEST(allocation_failure_keeps_installed_version)
{
    static const p2p_node_id ids[] = {8, 4, 12};
    struct p2p_member m[3];
    ch_members(m, ids, 3);
    for (uint64_t n = 1;; n++) {
        ck_assert_uint_lt(n, 16);
        struct p2p_mem mem;
        p2p_mem_init(&mem);
        struct p2p_topology t;
        set_base(&t, &mem);
        const struct p2p_member *before = t.members;
        size_t bytes_before = mem.bytes;
        mem.fail_at = mem.allocs + n;
        int rc = p2p_topology_set(
            &t, &mem,
            &(struct p2p_topology_update){
                .version = 6, .earliest_version = 6, .members = m, .count = 3},
            IDS_MAX);
        bool failed = mem.allocs >= mem.fail_at;
        if (failed) {
            ck_assert_int_eq(rc, P2P_ERR_NOMEM);
            assert_base(&t, before);
            ck_assert_uint_eq(mem.bytes, bytes_before);
        } else {
            ck_assert_int_eq(rc, 0);
            ck_assert_uint_eq(t.version, 6);
            ck_assert_uint_eq(t.members[0].id, 4);
        }
        p2p_topology_fini(&t, &mem);
        ck_assert_uint_eq(mem.bytes, 0);
        if (!failed)
            break;
    }
}
END_TEST

/* ---- on a node ---- */

/* A refused version changes nothing on the node: the installed topology,
 * its metric and the outbox stay as they were. The node checks ids
 * against cfg.node_ids_max. */
START_TEST(node_refusal_changes_nothing)
{
    struct p2p_config c;
    ch_config(&c, 0);
    c.node_ids_max = 8;
    struct harness h;
    ch_init_cfg(&h, &c);
    static const p2p_node_id v1[] = {0, 1, 2};
    ck_assert_int_eq(ch_topology(&h, 1, v1, 3), 0);
    h_clear(&h);
    const struct p2p_topology *t = p2p_node_topology(h.node);
    const struct p2p_member *before = t->members;

    static const p2p_node_id past_ids_max[] = {0, 8};
    static const p2p_node_id dup[] = {0, 3, 3};
    struct p2p_member m[3];
    ch_members(m, dup, 3);
    ck_assert_int_eq(ch_topology(&h, 2, past_ids_max, 2), P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(ch_topology(&h, 2, dup, 3), P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(ch_topology(&h, 1, v1, 2), P2P_ERR_STATE);
    ck_assert_int_eq(
        p2p_node_on_topology(
            h.node, h.now,
            &(struct p2p_topology_update){
                .version = 2, .earliest_version = 3, .members = m, .count = 1}),
        P2P_ERR_INVALID_ARG);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 0);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->topology_changes, 1);
    ck_assert_ptr_eq(t->members, before);
    ck_assert_uint_eq(t->version, 1);
    ck_assert_uint_eq(t->count, 3);
    /* id 7 = node_ids_max - 1 is fine; it is ours to dial. */
    static const p2p_node_id v2[] = {0, 1, 2, 7};
    ck_assert_int_eq(ch_topology(&h, 2, v2, 4), 0);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_DIAL, 7), 1);
    ck_assert_uint_eq(p2p_node_metrics(h.node)->topology_changes, 2);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_fini(&h);
}
END_TEST

/* Node 0 with peers 1 and 2 up (legacy): install a topology that keeps 1,
 * drops 2 and adds 3, bring 3 up, then drop everyone but 0. Stops at the
 * first fatal error, after which only p2p_node_del may be called. */
static void topology_changes_under_failures(struct harness *h)
{
    static const uint8_t body[10] = {1};
    if (p2p_err_is_fatal(p2p_node_insert(h->node, h->now, P2P_KIND_PUSH, body,
                                         sizeof(body), NULL)))
        return;
    static const p2p_node_id v1[] = {0, 1, 3};
    int rc = ch_topology(h, 1, v1, 3);
    if (p2p_err_is_fatal(rc))
        return;
    ck_assert_int_eq(rc, 0);
    ck_assert_uint_eq(p2p_node_topology(h->node)->version, 1);
    rc = p2p_node_on_peer_up(h->node, h->now, 3);
    if (p2p_err_is_fatal(rc))
        return;
    static const p2p_node_id v2[] = {0};
    rc = ch_topology(h, 2, v2, 1);
    if (p2p_err_is_fatal(rc))
        return;
    ck_assert_int_eq(rc, 0);
    ck_assert(!p2p_node_accepts_peer(h->node, h->now, 1));
}

START_TEST(node_survives_every_allocation_failure)
{
    h_walk_allocation_failures(2, topology_changes_under_failures);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("topology");
    TCase *tc = tcase_create("container");
    tcase_add_test(tc, set_sorts_a_copy);
    tcase_add_test(tc, find_hits_members_only);
    tcase_add_loop_test(tc, refusal_keeps_installed_version, 0,
                        (int)CH_COUNT(refusals));
    tcase_add_test(tc, accepted_boundaries);
    tcase_add_test(tc, version_zero_is_never_installed);
    tcase_add_test(tc, empty_version_frees_members);
    tcase_add_test(tc, member_count_limit_both_sides);
    tcase_add_test(tc, allocation_failure_keeps_installed_version);
    suite_add_tcase(s, tc);
    tc = tcase_create("node");
    tcase_add_test(tc, node_refusal_changes_nothing);
    tcase_add_test(tc, node_survives_every_allocation_failure);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
