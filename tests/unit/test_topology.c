/* The topology container (core/topology.c) and its entry points on a
 * node: a sorted copy of the members, lookups, every refusal (duplicate
 * id, id past ids_max, stale version, earliest past version or moving
 * back, address without its NUL, too many members, allocation failure)
 * leaving the installed versions intact, each bound tested on both sides;
 * the membership over the versions in use (the union, the newest address,
 * old versions dropped as the earliest moves, at most
 * P2P_TOPOLOGY_VERSIONS_MAX kept), and on a node a member that left staying
 * connected and served until the earliest version moves past it. */
#include "conn_harness.h"

#include "core/metrics_registry.h"
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
    {"earliest moves back", 6, 1, {1}, 1, -1, false, P2P_ERR_STATE},
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
    /* Versions may jump; earliest may stay where it was, far behind. */
    ck_assert_int_eq(
        p2p_topology_set(&t, &mem,
                         &(struct p2p_topology_update){.version = UINT64_MAX,
                                                       .earliest_version = 6,
                                                       .members = m,
                                                       .count = 1},
                         IDS_MAX),
        0);
    ck_assert_uint_eq(t.version, UINT64_MAX);
    ck_assert_uint_eq(t.earliest_version, 6);
    /* Nothing is newer than UINT64_MAX. */
    ck_assert_int_eq(
        p2p_topology_set(&t, &mem,
                         &(struct p2p_topology_update){.version = UINT64_MAX,
                                                       .earliest_version = 6,
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

/* ---- several versions in use ---- */

/* Installs `version` with members ids[0..count) and the given earliest;
 * the topology checks out after it. */
static void set_ids(struct p2p_topology *t, struct p2p_mem *mem,
                    uint64_t version, uint64_t earliest,
                    const p2p_node_id *ids, uint32_t count, uint32_t ids_max)
{
    struct p2p_member m[P2P_TOPOLOGY_VERSIONS_MAX + 4];
    ck_assert_uint_le(count, CH_COUNT(m));
    ch_members(m, ids, count);
    ck_assert_int_eq(
        p2p_topology_set(t, mem,
                         &(struct p2p_topology_update){
                             .version = version,
                             .earliest_version = earliest,
                             .members = count > 0 ? m : NULL,
                             .count = count},
                         ids_max),
        0);
    ck_assert_int_eq(p2p_topology_check(t), 0);
}

/* The membership is exactly ids[0..count), in order. */
static void assert_members(const struct p2p_topology *t,
                           const p2p_node_id *ids, uint32_t count)
{
    ck_assert_uint_eq(t->count, count);
    for (uint32_t i = 0; i < count; i++)
        ck_assert_uint_eq(t->members[i].id, ids[i]);
}

/* Bytes the kept versions' arrays hold, plus the union's own when it has
 * one. */
static size_t held_bytes(const struct p2p_topology *t)
{
    size_t n = 0;
    for (uint32_t k = 0; k < t->versions_count; k++)
        n += t->versions[k].count * sizeof(struct p2p_member);
    if (t->versions_count > 1)
        n += t->count * sizeof(struct p2p_member);
    return n;
}

/* Members are the union over the versions from the earliest in use to the
 * latest; moving the earliest drops the versions it passes, and with one
 * version left the membership is that version's own array again. */
START_TEST(union_over_versions_in_use)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_topology t;
    p2p_topology_init(&t);
    ck_assert_ptr_null(p2p_topology_latest(&t));
    static const p2p_node_id v1[] = {1, 2, 3}, v2[] = {1, 2}, v3[] = {4, 1, 2};
    set_ids(&t, &mem, 1, 1, v1, 3, IDS_MAX);
    ck_assert_ptr_eq(t.members, t.versions[0].members);
    set_ids(&t, &mem, 2, 1, v2, 2, IDS_MAX);
    static const p2p_node_id u12[] = {1, 2, 3};
    assert_members(&t, u12, 3); /* 3 left in version 2: still a member */
    ck_assert_uint_eq(t.versions_count, 2);
    ck_assert_ptr_ne(t.members, t.versions[0].members);
    ck_assert_ptr_ne(t.members, t.versions[1].members);
    set_ids(&t, &mem, 3, 1, v3, 3, IDS_MAX);
    static const p2p_node_id u123[] = {1, 2, 3, 4};
    assert_members(&t, u123, 4);
    ck_assert_uint_eq(t.versions_count, 3);
    ck_assert_uint_eq(t.earliest_version, 1);
    ck_assert_uint_eq(p2p_topology_latest(&t)->version, 3);
    ck_assert_uint_eq(p2p_topology_latest(&t)->count, 3);
    ck_assert_uint_eq(mem.bytes, held_bytes(&t));
    /* Version 1 goes: 3 is no member any more. */
    ck_assert_int_eq(p2p_topology_set_earliest(&t, &mem, 2), 0);
    ck_assert_int_eq(p2p_topology_check(&t), 0);
    static const p2p_node_id u23[] = {1, 2, 4};
    assert_members(&t, u23, 3);
    ck_assert(!p2p_topology_is_member(&t, 3));
    ck_assert_uint_eq(t.versions_count, 2);
    ck_assert_uint_eq(t.versions[0].version, 2);
    ck_assert_uint_eq(t.earliest_version, 2);
    ck_assert_uint_eq(mem.bytes, held_bytes(&t));
    /* The same earliest again changes nothing. */
    const struct p2p_member *before = t.members;
    ck_assert_int_eq(p2p_topology_set_earliest(&t, &mem, 2), 0);
    ck_assert_ptr_eq(t.members, before);
    /* Only the latest is left: its own array is the membership. */
    ck_assert_int_eq(p2p_topology_set_earliest(&t, &mem, 3), 0);
    ck_assert_int_eq(p2p_topology_check(&t), 0);
    ck_assert_uint_eq(t.versions_count, 1);
    ck_assert_ptr_eq(t.members, t.versions[0].members);
    static const p2p_node_id u3[] = {1, 2, 4};
    assert_members(&t, u3, 3);
    ck_assert_uint_eq(mem.bytes, 3 * sizeof(struct p2p_member));
    p2p_topology_fini(&t, &mem);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* Where several kept versions list a node, the newest one's address is
 * the member's; an older address comes back only if no newer kept
 * version lists the node. */
START_TEST(newest_address_wins)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_topology t;
    p2p_topology_init(&t);
    struct p2p_member m[2];
    static const p2p_node_id ids[] = {1, 2};
    ch_members(m, ids, 2);
    snprintf(m[0].addr, sizeof(m[0].addr), "old-1");
    snprintf(m[1].addr, sizeof(m[1].addr), "old-2");
    ck_assert_int_eq(p2p_topology_set(&t, &mem,
                                      &(struct p2p_topology_update){
                                          .version = 1,
                                          .earliest_version = 1,
                                          .members = m,
                                          .count = 2},
                                      IDS_MAX),
                     0);
    snprintf(m[0].addr, sizeof(m[0].addr), "new-1");
    ck_assert_int_eq(p2p_topology_set(&t, &mem,
                                      &(struct p2p_topology_update){
                                          .version = 2,
                                          .earliest_version = 1,
                                          .members = m,
                                          .count = 1},
                                      IDS_MAX),
                     0);
    ck_assert_str_eq(p2p_topology_find(&t, 1)->addr, "new-1");
    ck_assert_str_eq(p2p_topology_find(&t, 2)->addr, "old-2");
    /* An empty version 3: 1 keeps version 2's address, not version 1's. */
    ck_assert_int_eq(p2p_topology_set(&t, &mem,
                                      &(struct p2p_topology_update){
                                          .version = 3,
                                          .earliest_version = 1,
                                          .members = NULL,
                                          .count = 0},
                                      IDS_MAX),
                     0);
    ck_assert_int_eq(p2p_topology_check(&t), 0);
    ck_assert_uint_eq(t.count, 2);
    ck_assert_str_eq(p2p_topology_find(&t, 1)->addr, "new-1");
    ck_assert_str_eq(p2p_topology_find(&t, 2)->addr, "old-2");
    ck_assert_int_eq(p2p_topology_set_earliest(&t, &mem, 2), 0);
    ck_assert_uint_eq(t.count, 1);
    ck_assert_str_eq(p2p_topology_find(&t, 1)->addr, "new-1");
    ck_assert_int_eq(p2p_topology_set_earliest(&t, &mem, 3), 0);
    ck_assert_uint_eq(t.count, 0);
    ck_assert_ptr_null(t.members);
    ck_assert_int_eq(p2p_topology_check(&t), 0);
    p2p_topology_fini(&t, &mem);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* An earliest between two kept versions keeps the older one: it is the
 * registry as it stood at that version (the versions between were never
 * seen, or changed nothing). At the newer one, the older goes. */
START_TEST(earliest_between_versions_keeps_the_one_in_force)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_topology t;
    p2p_topology_init(&t);
    static const p2p_node_id v2[] = {1, 2}, v5[] = {1};
    set_ids(&t, &mem, 2, 2, v2, 2, IDS_MAX);
    set_ids(&t, &mem, 5, 2, v5, 1, IDS_MAX);
    ck_assert_int_eq(p2p_topology_set_earliest(&t, &mem, 4), 0);
    ck_assert_int_eq(p2p_topology_check(&t), 0);
    ck_assert_uint_eq(t.versions_count, 2);
    ck_assert(p2p_topology_is_member(&t, 2));
    ck_assert_int_eq(p2p_topology_set_earliest(&t, &mem, 5), 0);
    ck_assert_uint_eq(t.versions_count, 1);
    ck_assert(!p2p_topology_is_member(&t, 2));
    /* A first version may name an earliest it never saw: only it counts. */
    struct p2p_topology u;
    p2p_topology_init(&u);
    set_ids(&u, &mem, 7, 3, v2, 2, IDS_MAX);
    ck_assert_uint_eq(u.versions_count, 1);
    ck_assert_uint_eq(u.earliest_version, 3);
    p2p_topology_fini(&u, &mem);
    p2p_topology_fini(&t, &mem);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* With the earliest held at 1, P2P_TOPOLOGY_VERSIONS_MAX versions are
 * kept (version k lists node k alone); one more drops version 1, whose
 * only member goes, and the earliest in use becomes 2. */
START_TEST(versions_bound_both_sides)
{
    const uint32_t max = P2P_TOPOLOGY_VERSIONS_MAX;
    const uint32_t ids_max = max + 8;
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_topology t;
    p2p_topology_init(&t);
    for (p2p_node_id k = 1; k <= max; k++)
        set_ids(&t, &mem, k, 1, &k, 1, ids_max);
    ck_assert_uint_eq(t.versions_count, max);
    ck_assert_uint_eq(t.earliest_version, 1);
    ck_assert_uint_eq(t.count, max);
    ck_assert(p2p_topology_is_member(&t, 1));
    p2p_node_id next = max + 1;
    set_ids(&t, &mem, next, 1, &next, 1, ids_max);
    ck_assert_uint_eq(t.versions_count, max);
    ck_assert_uint_eq(t.versions[0].version, 2);
    ck_assert_uint_eq(t.earliest_version, 2);
    ck_assert_uint_eq(t.count, max);
    ck_assert(!p2p_topology_is_member(&t, 1));
    ck_assert(p2p_topology_is_member(&t, 2));
    ck_assert(p2p_topology_is_member(&t, next));
    ck_assert_uint_eq(mem.bytes, held_bytes(&t));
    /* The earliest that was moved for us is the floor now. */
    ck_assert_int_eq(p2p_topology_set_earliest(&t, &mem, 1), P2P_ERR_STATE);
    p2p_topology_fini(&t, &mem);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* p2p_topology_set_earliest's refusals change nothing. */
START_TEST(set_earliest_refusals)
{
    struct p2p_mem mem;
    p2p_mem_init(&mem);
    struct p2p_topology t;
    p2p_topology_init(&t);
    ck_assert_int_eq(p2p_topology_set_earliest(&t, &mem, 0), P2P_ERR_STATE);
    ck_assert_int_eq(p2p_topology_set_earliest(&t, &mem, 1), P2P_ERR_STATE);
    static const p2p_node_id v1[] = {1, 2}, v2[] = {1}, v3[] = {3};
    set_ids(&t, &mem, 1, 1, v1, 2, IDS_MAX);
    set_ids(&t, &mem, 2, 1, v2, 1, IDS_MAX);
    set_ids(&t, &mem, 3, 2, v3, 1, IDS_MAX);
    const struct p2p_member *before = t.members;
    size_t bytes = mem.bytes;
    ck_assert_int_eq(p2p_topology_set_earliest(&t, &mem, 1), P2P_ERR_STATE);
    ck_assert_int_eq(p2p_topology_set_earliest(&t, &mem, 4),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(p2p_topology_set_earliest(&t, &mem, UINT64_MAX),
                     P2P_ERR_INVALID_ARG);
    ck_assert_ptr_eq(t.members, before);
    ck_assert_uint_eq(t.earliest_version, 2);
    ck_assert_uint_eq(t.versions_count, 2);
    ck_assert_uint_eq(mem.bytes, bytes);
    /* The latest itself is fine. */
    ck_assert_int_eq(p2p_topology_set_earliest(&t, &mem, 3), 0);
    static const p2p_node_id u[] = {3};
    assert_members(&t, u, 1);
    p2p_topology_fini(&t, &mem);
    ck_assert_uint_eq(mem.bytes, 0);
}
END_TEST

/* Fail the N-th allocation of a new version and of a move of the
 * earliest while three versions are kept: each refusal is P2P_ERR_NOMEM
 * with the versions, the membership and the bytes held untouched. */
START_TEST(allocation_failure_keeps_versions_in_use)
{
    static const p2p_node_id v1[] = {1, 2, 3}, v2[] = {2, 3, 4},
                             v3[] = {3, 4, 5}, v4[] = {5, 6};
    for (int op = 0; op < 2; op++) {
        for (uint64_t n = 1;; n++) {
            ck_assert_uint_lt(n, 16);
            struct p2p_mem mem;
            p2p_mem_init(&mem);
            struct p2p_topology t;
            p2p_topology_init(&t);
            set_ids(&t, &mem, 1, 1, v1, 3, IDS_MAX);
            set_ids(&t, &mem, 2, 1, v2, 3, IDS_MAX);
            set_ids(&t, &mem, 3, 1, v3, 3, IDS_MAX);
            const struct p2p_member *before = t.members;
            size_t bytes = mem.bytes;
            mem.fail_at = mem.allocs + n;
            int rc;
            if (op == 0) {
                struct p2p_member m[2];
                ch_members(m, v4, 2);
                rc = p2p_topology_set(&t, &mem,
                                      &(struct p2p_topology_update){
                                          .version = 4,
                                          .earliest_version = 2,
                                          .members = m,
                                          .count = 2},
                                      IDS_MAX);
            } else {
                rc = p2p_topology_set_earliest(&t, &mem, 2);
            }
            bool failed = mem.allocs >= mem.fail_at;
            if (failed) {
                ck_assert_int_eq(rc, P2P_ERR_NOMEM);
                ck_assert_ptr_eq(t.members, before);
                ck_assert_uint_eq(t.versions_count, 3);
                ck_assert_uint_eq(t.version, 3);
                ck_assert_uint_eq(t.earliest_version, 1);
                ck_assert_uint_eq(t.count, 5);
                ck_assert_uint_eq(mem.bytes, bytes);
            } else {
                ck_assert_int_eq(rc, 0);
                ck_assert_uint_eq(t.earliest_version, 2);
                ck_assert(!p2p_topology_is_member(&t, 1));
                ck_assert(p2p_topology_is_member(&t, 2));
            }
            ck_assert_int_eq(p2p_topology_check(&t), 0);
            p2p_topology_fini(&t, &mem);
            ck_assert_uint_eq(mem.bytes, 0);
            if (!failed)
                break;
        }
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

/* Installs `version` (members ids[0..count)) with the given earliest on
 * h's node; returns p2p_node_on_topology's code. */
static int node_version(struct harness *h, uint64_t version, uint64_t earliest,
                        const p2p_node_id *ids, uint32_t count)
{
    struct p2p_member m[CH_MEMBERS_MAX];
    ck_assert_uint_le(count, CH_MEMBERS_MAX);
    ch_members(m, ids, count);
    return p2p_node_on_topology(
        h->node, h->now,
        &(struct p2p_topology_update){.version = version,
                                      .earliest_version = earliest,
                                      .members = m,
                                      .count = count});
}

/* Node 0 with peers 1 and 2 up. Version 2 drops 2 while the clients still
 * reference version 1: 2 stays a member, connected, and is sent a new
 * artifact. When the earliest moves to 2, its connection is closed and it
 * is refused; the gauges follow. */
START_TEST(node_keeps_leaving_member_until_earliest_moves)
{
    struct harness h;
    ch_init(&h, 0);
    static const p2p_node_id v1[] = {0, 1, 2}, v2[] = {0, 1};
    ck_assert_int_eq(node_version(&h, 1, 1, v1, 3), 0);
    ch_up(&h, 1);
    ch_up(&h, 2);
    h_clear(&h);
    ck_assert_int_eq(node_version(&h, 2, 1, v2, 2), 0);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_CLOSE, 2), 0);
    ck_assert(ch_info(&h, 2).member);
    ck_assert(ch_info(&h, 2).up);
    struct p2p_gauges g;
    p2p_node_gauges(h.node, h.now, &g);
    ck_assert_uint_eq(g.topology_version, 2);
    ck_assert_uint_eq(g.topology_earliest_version, 1);
    ck_assert_uint_eq(g.topology_members, 2);
    ck_assert_uint_eq(g.topology_members_in_use, 3);
    /* Served: a new artifact goes to 2 as to 1. */
    static const uint8_t body[10] = {7};
    ck_assert_int_eq(p2p_node_insert(h.node, h.now, P2P_KIND_PUSH, body,
                                     sizeof(body), NULL),
                     0);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_STREAM_OPEN, 2), 1);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_STREAM_OPEN, 1), 1);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_on_registry_earliest(h.node, h.now, 2), 0);
    const struct p2p_action *close = ch_find_to(&h, P2P_ACT_CONN_CLOSE, 2);
    ck_assert_ptr_nonnull(close);
    ck_assert_int_eq(close->value, P2P_ERR_STATE);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_CLOSE, 1), 0);
    ck_assert(!ch_info(&h, 2).member);
    ck_assert(!ch_info(&h, 2).up);
    ck_assert(ch_info(&h, 1).up);
    p2p_node_gauges(h.node, h.now, &g);
    ck_assert_uint_eq(g.topology_earliest_version, 2);
    ck_assert_uint_eq(g.topology_members_in_use, 2);
    ck_assert_int_eq(p2p_node_on_peer_up(h.node, h.now, 2), P2P_ERR_REFUSED);
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_fini(&h);
}
END_TEST

/* Node 2 itself left in version 2: while version 1 is in use it keeps its
 * connections (and accepts its lower peers); then it closes them all. */
START_TEST(node_that_left_keeps_its_connections_until_earliest_moves)
{
    struct harness h;
    ch_init(&h, 2);
    static const p2p_node_id v1[] = {0, 1, 2}, v2[] = {0, 1};
    ck_assert_int_eq(node_version(&h, 1, 1, v1, 3), 0);
    ch_up(&h, 0);
    ch_up(&h, 1);
    h_clear(&h);
    ck_assert_int_eq(node_version(&h, 2, 1, v2, 2), 0);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 0);
    ck_assert(p2p_node_accepts_peer(h.node, h.now, 0));
    ck_assert(ch_info(&h, 0).up && ch_info(&h, 1).up);
    ck_assert_int_eq(p2p_node_on_registry_earliest(h.node, h.now, 2), 0);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_CLOSE, 0), 1);
    ck_assert_uint_eq(ch_count_to(&h, P2P_ACT_CONN_CLOSE, 1), 1);
    ck_assert(!p2p_node_accepts_peer(h.node, h.now, 0));
    ck_assert_int_eq(p2p_node_check_invariants_deep(h.node), 0);
    h_fini(&h);
}
END_TEST

/* The node refuses an earliest before any version, one moving back and
 * one past the latest, with nothing in its outbox and nothing changed. */
START_TEST(node_earliest_refusals_change_nothing)
{
    struct harness h;
    ch_init(&h, 0);
    ck_assert_int_eq(p2p_node_on_registry_earliest(h.node, h.now, 1),
                     P2P_ERR_STATE);
    static const p2p_node_id v1[] = {0, 1, 2}, v2[] = {0, 1}, v3[] = {0};
    ck_assert_int_eq(node_version(&h, 1, 1, v1, 3), 0);
    ck_assert_int_eq(node_version(&h, 2, 1, v2, 2), 0);
    ck_assert_int_eq(node_version(&h, 3, 2, v3, 1), 0);
    /* Version 3 moved the earliest to 2: node 2 went, 1 stays. */
    ck_assert(!ch_info(&h, 2).member);
    ck_assert(ch_info(&h, 1).member);
    h_clear(&h);
    ck_assert_int_eq(p2p_node_on_registry_earliest(h.node, h.now, 1),
                     P2P_ERR_STATE);
    ck_assert_int_eq(p2p_node_on_registry_earliest(h.node, h.now, 4),
                     P2P_ERR_INVALID_ARG);
    ck_assert_int_eq(node_version(&h, 4, 1, v3, 1), P2P_ERR_STATE);
    ck_assert_uint_eq(p2p_outbox_count(h_out(&h)), 0);
    ck_assert_uint_eq(p2p_node_topology(h.node)->earliest_version, 2);
    ck_assert_uint_eq(p2p_node_topology(h.node)->version, 3);
    ck_assert(ch_info(&h, 1).member);
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
    tcase_add_test(tc, union_over_versions_in_use);
    tcase_add_test(tc, newest_address_wins);
    tcase_add_test(tc, earliest_between_versions_keeps_the_one_in_force);
    tcase_add_test(tc, versions_bound_both_sides);
    tcase_add_test(tc, set_earliest_refusals);
    tcase_add_test(tc, allocation_failure_keeps_versions_in_use);
    suite_add_tcase(s, tc);
    tc = tcase_create("node");
    tcase_add_test(tc, node_refusal_changes_nothing);
    tcase_add_test(tc, node_keeps_leaving_member_until_earliest_moves);
    tcase_add_test(tc,
                   node_that_left_keeps_its_connections_until_earliest_moves);
    tcase_add_test(tc, node_earliest_refusals_change_nothing);
    tcase_add_test(tc, node_survives_every_allocation_failure);
    suite_add_tcase(s, tc);
    return h_run_suite(s);
}
