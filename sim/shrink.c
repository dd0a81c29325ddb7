/* p2p-sim shrink: greedy reduction of a failing scenario.
 *
 * The failure signature of the file (sim/swarm.h) is found first; then
 * every reduction below is tried in turn, and kept when the smaller
 * scenario is valid (it loads from the writer's text and passes the
 * checks `run` makes) and fails with the same signature:
 *   - remove a fault, keeping pairs consistent: a partition with its heal,
 *     a crash with its restart, a leave with the join that undoes it; a
 *     restart alone (its crash becomes permanent); a heal alone only when
 *     no partition is open;
 *   - drop one node from a fault that names several;
 *   - remove a workload item, an expectation, a link override, a protocol
 *     knob; zero the network's loss and jitter;
 *   - remove the state section (with its state_synced expectations and
 *     bad-chunks faults, which need it), or make it smaller: one chunk,
 *     half its size, no churn, double its checkpoint interval or chunk;
 *     drop one node from a state_synced list;
 *   - halve the duration (or end it just after the last fault);
 *   - remove the highest node id when nothing names it;
 *   - halve an item's rate, then its size.
 * After every edit, a state_synced list loses the nodes the edit left not
 * running at the end (a restart removed) or not existing (a join
 * removed), and goes when empty: a node made to stay down would fail it
 * in another way under the same name.
 * Rounds repeat until one keeps nothing, or the run budget is spent. Every
 * candidate runs in a child (sim_swarm_run_isolated), so a crash is a
 * signature like any other. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/cli.h"
#include "conf/units.h"
#include "core/assert.h"
#include "core/err.h"
#include "core/state_manifest.h"
#include "sim/scenario_write.h"
#include "sim/swarm.h"

#define RUNS_MAX_DEFAULT 400u
#define DESC_BYTES 256u
#define PATH_BYTES 1024u
#define DURATION_STEP_NS (100 * P2P_NS_PER_MS) /* durations it writes */
#define PARTNERS_MAX 64u /* partners one removal drops, at most */

enum exit_code { EXIT_OK = 0, EXIT_NO_FAILURE = 1, EXIT_BAD_INPUT = 2 };

struct shrink_args {
    const char *path;
    char out[PATH_BYTES];
    bool has_seed;
    uint64_t seed;
    unsigned timeout_s;
    unsigned runs_max;
    bool quiet;
};

struct shrinker {
    const struct shrink_args *a;
    struct sim_scenario cur;       /* owned: the smallest failing so far */
    struct sim_swarm_outcome want; /* the original failure */
    unsigned runs, kept;
};

/* ---- editing a scenario ------------------------------------------------ */

static void fault_free(struct sim_fault *f)
{
    free(f->nodes);
    for (size_t g = 0; g < f->groups_count; g++)
        free(f->groups[g]);
    free(f->groups);
    free(f->group_sizes);
}

static void drop_fault(struct sim_scenario *s, size_t k)
{
    P2P_ASSERT(k < s->faults_count);
    fault_free(&s->faults[k]);
    memmove(&s->faults[k], &s->faults[k + 1],
            (s->faults_count - k - 1) * sizeof s->faults[0]);
    s->faults_count--;
}

static bool names(const struct sim_fault *f, uint32_t v)
{
    for (size_t i = 0; i < f->nodes_count; i++)
        if (f->nodes[i] == v)
            return true;
    for (size_t g = 0; g < f->groups_count; g++)
        for (size_t i = 0; i < f->group_sizes[g]; i++)
            if (f->groups[g][i] == v)
                return true;
    return false;
}

/* Removes v from f's node list; true when the list is now empty. */
static bool drop_node(struct sim_fault *f, uint32_t v)
{
    for (size_t i = 0; i < f->nodes_count; i++) {
        if (f->nodes[i] == v) {
            memmove(&f->nodes[i], &f->nodes[i + 1],
                    (f->nodes_count - i - 1) * sizeof f->nodes[0]);
            f->nodes_count--;
            break;
        }
    }
    return f->nodes_count == 0;
}

/* The first fault after k of `kind` naming v; faults_count when none. */
static size_t next_naming(const struct sim_scenario *s, size_t k,
                          enum sim_fault_kind kind, uint32_t v)
{
    for (size_t j = k + 1; j < s->faults_count; j++)
        if (s->faults[j].kind == kind && names(&s->faults[j], v))
            return j;
    return s->faults_count;
}

/* Drops v from the fault after k of `partner` kind that undoes fault k for
 * v (a restart for a crash, a join for a leave); the index of a partner
 * left empty (to remove after k), or faults_count. */
static size_t unpair(struct sim_scenario *s, size_t k,
                     enum sim_fault_kind partner, uint32_t v)
{
    size_t j = next_naming(s, k, partner, v);
    if (j < s->faults_count && drop_node(&s->faults[j], v))
        return j;
    return s->faults_count;
}

/* Whether a partition is in force just before fault k. */
static bool partitioned_before(const struct sim_scenario *s, size_t k)
{
    for (size_t j = k; j-- > 0;) {
        if (s->faults[j].kind == SIM_FAULT_PARTITION)
            return true;
        if (s->faults[j].kind == SIM_FAULT_HEAL)
            return false;
    }
    return false;
}

static void describe_fault(const struct sim_fault *f, char *buf, size_t len)
{
    char at[32];
    conf_units_format_duration(f->at_ns, at, sizeof at);
    int n = snprintf(buf, len, "%s at %s",
                     sim_scenario_fault_kind_name(f->kind), at);
    if (f->nodes_count > 0 && n > 0 && (size_t)n < len) {
        n += snprintf(buf + n, len - (size_t)n, " [");
        for (size_t i = 0; i < f->nodes_count && (size_t)n < len; i++)
            n += snprintf(buf + n, len - (size_t)n, "%s%" PRIu32, i ? ", " : "",
                          f->nodes[i]);
        if ((size_t)n < len)
            snprintf(buf + n, len - (size_t)n, "]");
    }
}

/* A crash or a leave at k goes with what undoes it for each of its nodes
 * (the next restart, the next join); partners left empty go too. */
static void cut_with_partners(struct sim_scenario *s, size_t k,
                              const char *what, char *desc, size_t len)
{
    const struct sim_fault *f = &s->faults[k];
    enum sim_fault_kind partner =
        f->kind == SIM_FAULT_CRASH ? SIM_FAULT_RESTART : SIM_FAULT_JOIN;
    P2P_ASSERT(f->kind == SIM_FAULT_CRASH || f->kind == SIM_FAULT_LEAVE);
    bool paired = false;
    for (size_t i = 0; i < f->nodes_count; i++)
        paired =
            paired || next_naming(s, k, partner, f->nodes[i]) < s->faults_count;
    snprintf(desc, len, "removed %s%s%s", what, paired ? " with its " : "",
             paired ? sim_scenario_fault_kind_name(partner) : "");
    /* Partners emptied are dropped from the last, so indexes hold. */
    size_t empty[PARTNERS_MAX], count = 0;
    for (size_t i = 0; i < f->nodes_count; i++) {
        size_t j = unpair(s, k, partner, f->nodes[i]);
        if (j < s->faults_count && count < PARTNERS_MAX)
            empty[count++] = j;
    }
    while (count > 0) {
        size_t top = 0;
        for (size_t x = 1; x < count; x++)
            if (empty[x] > empty[top])
                top = x;
        size_t j = empty[top], left = 0;
        drop_fault(s, j);
        for (size_t x = 0; x < count; x++) /* the same partner only once */
            if (empty[x] != j)
                empty[left++] = empty[x];
        count = left;
    }
    P2P_ASSERT(k < s->faults_count);
}

/* The heal ending the partition at k, if k starts an episode (no
 * partition in force before it); faults_count otherwise. A partition that
 * replaces another leaves the heal to that one. */
static size_t heal_of(const struct sim_scenario *s, size_t k)
{
    size_t j = k + 1;
    while (j < s->faults_count && s->faults[j].kind != SIM_FAULT_HEAL &&
           s->faults[j].kind != SIM_FAULT_PARTITION)
        j++;
    if (partitioned_before(s, k) || j == s->faults_count ||
        s->faults[j].kind != SIM_FAULT_HEAL)
        return s->faults_count;
    return j;
}

/* Removes fault k with what pairs with it. False when it cannot go alone
 * and has no partner (a heal that ends a partition). */
static bool cut_fault(struct sim_scenario *s, size_t k, char *desc, size_t len)
{
    char what[DESC_BYTES];
    P2P_ASSERT(k < s->faults_count);
    describe_fault(&s->faults[k], what, sizeof what);
    switch (s->faults[k].kind) {
    case SIM_FAULT_HEAL:
        if (partitioned_before(s, k))
            return false;
        snprintf(desc, len, "removed %s (nothing to heal)", what);
        break;
    case SIM_FAULT_PARTITION: {
        size_t j = heal_of(s, k);
        snprintf(desc, len, "removed %s%s", what,
                 j < s->faults_count ? " with its heal" : "");
        if (j < s->faults_count)
            drop_fault(s, j);
        break;
    }
    case SIM_FAULT_CRASH:
    case SIM_FAULT_LEAVE:
        cut_with_partners(s, k, what, desc, len);
        break;
    case SIM_FAULT_RESTART:
        snprintf(desc, len, "removed %s (the crash is permanent now)", what);
        break;
    default:
        snprintf(desc, len, "removed %s", what);
        break;
    }
    drop_fault(s, k);
    return true;
}

/* Drops node number `which` of fault k's list (for a crash or a leave,
 * from its partner too). False when the fault names fewer than two. */
static bool cut_fault_node(struct sim_scenario *s, size_t k, size_t which,
                           char *desc, size_t len)
{
    struct sim_fault *f = &s->faults[k];
    if (f->kind == SIM_FAULT_PARTITION) {
        size_t total = 0;
        for (size_t g = 0; g < f->groups_count; g++)
            total += f->group_sizes[g];
        if (total < 2 || which >= total)
            return false;
        for (size_t g = 0; g < f->groups_count; g++) {
            if (which >= f->group_sizes[g]) {
                which -= f->group_sizes[g];
                continue;
            }
            uint32_t v = f->groups[g][which];
            memmove(&f->groups[g][which], &f->groups[g][which + 1],
                    (f->group_sizes[g] - which - 1) * sizeof(uint32_t));
            if (--f->group_sizes[g] == 0) {
                free(f->groups[g]);
                memmove(&f->groups[g], &f->groups[g + 1],
                        (f->groups_count - g - 1) * sizeof f->groups[0]);
                memmove(&f->group_sizes[g], &f->group_sizes[g + 1],
                        (f->groups_count - g - 1) * sizeof f->group_sizes[0]);
                f->groups_count--;
            }
            snprintf(desc, len,
                     "took node %" PRIu32 " out of the partition "
                     "at fault %zu",
                     v, k);
            return f->groups_count > 0;
        }
        return false;
    }
    if (f->nodes_count < 2 || which >= f->nodes_count)
        return false;
    uint32_t v = f->nodes[which];
    char what[DESC_BYTES];
    describe_fault(f, what, sizeof what);
    snprintf(desc, len, "dropped node %" PRIu32 " from %s", v, what);
    if (f->kind == SIM_FAULT_CRASH || f->kind == SIM_FAULT_LEAVE) {
        size_t j = unpair(
            s, k,
            f->kind == SIM_FAULT_CRASH ? SIM_FAULT_RESTART : SIM_FAULT_JOIN, v);
        if (j < s->faults_count)
            drop_fault(s, j); /* after k: k's index holds */
    }
    drop_node(&s->faults[k], v);
    return true;
}

static bool cut_workload(struct sim_scenario *s, size_t k, char *desc,
                         size_t len)
{
    if (k >= s->workload_count)
        return false;
    snprintf(desc, len, "removed workload[%zu] (%s, %s)", k,
             s->workload[k].kind == P2P_KIND_PUSH ? "push" : "advert",
             s->workload[k].poisson ? "rate" : "every");
    memmove(&s->workload[k], &s->workload[k + 1],
            (s->workload_count - k - 1) * sizeof s->workload[0]);
    s->workload_count--;
    return true;
}

static void drop_expect(struct sim_scenario *s, size_t k)
{
    P2P_ASSERT(k < s->expects_count);
    free(s->expects[k].nodes);
    memmove(&s->expects[k], &s->expects[k + 1],
            (s->expects_count - k - 1) * sizeof s->expects[0]);
    s->expects_count--;
}

static bool cut_expect(struct sim_scenario *s, size_t k, char *desc, size_t len)
{
    if (k >= s->expects_count)
        return false;
    snprintf(desc, len, "removed expectation %s",
             sim_scenario_expect_kind_name(s->expects[k].kind));
    drop_expect(s, k);
    return true;
}

static bool cut_link(struct sim_scenario *s, size_t k, char *desc, size_t len)
{
    if (k >= s->net.links_count)
        return false;
    snprintf(desc, len, "removed the link override %" PRIu32 "->%" PRIu32,
             s->net.links[k].from, s->net.links[k].to);
    memmove(&s->net.links[k], &s->net.links[k + 1],
            (s->net.links_count - k - 1) * sizeof s->net.links[0]);
    s->net.links_count--;
    return true;
}

/* Network and protocol simplifications, numbered. */
static bool simplify(struct sim_scenario *s, size_t k, char *desc, size_t len)
{
    struct sim_protocol *p = &s->protocol;
    switch (k) {
    case 0:
        if (s->net.loss_ppm == 0)
            return false;
        s->net.loss_ppm = 0;
        snprintf(desc, len, "set network.loss to 0");
        return true;
    case 1:
        if (s->net.jitter_ns == 0)
            return false;
        s->net.jitter_ns = 0;
        snprintf(desc, len, "set network.jitter to 0");
        return true;
    case 2:
        if (!p->has_push_threshold)
            return false;
        p->has_push_threshold = false;
        snprintf(desc, len, "removed protocol.push_threshold");
        return true;
    case 3:
        if (!p->has_validation_delay)
            return false;
        p->has_validation_delay = false;
        snprintf(desc, len, "removed protocol.validation_delay");
        return true;
    case 4:
        if (!p->has_artifact_ttl)
            return false;
        p->has_artifact_ttl = false;
        snprintf(desc, len, "removed protocol.artifact_ttl");
        return true;
    case 5:
        if (!p->has_relay)
            return false;
        p->has_relay = false;
        snprintf(desc, len, "removed protocol.relay");
        return true;
    case 6:
        if (!p->has_buggify)
            return false;
        p->has_buggify = false;
        snprintf(desc, len, "removed protocol.buggify");
        return true;
    default:
        return false;
    }
}

/* ---- state sync ---------------------------------------------------------- */

/* Whether node v exists and runs at the end of s's timeline (faults are
 * sorted by time): started with the subnet or by a join, and not crashed
 * after its last start. */
static bool runs_at_end(const struct sim_scenario *s, uint32_t v)
{
    bool running = v < s->nodes, crashed = false, exists = v < s->nodes;
    for (size_t i = 0; i < s->faults_count; i++) {
        const struct sim_fault *f = &s->faults[i];
        if (!names(f, v))
            continue;
        switch (f->kind) {
        case SIM_FAULT_JOIN:
            exists = true;
            if (!running && !crashed)
                running = true;
            break;
        case SIM_FAULT_CRASH:
            running = false;
            crashed = true;
            break;
        case SIM_FAULT_RESTART:
            running = true;
            crashed = false;
            break;
        default:
            break;
        }
    }
    return exists && running;
}

/* Drops from every state_synced list of s the nodes that ran at the end
 * of `before` (s before an edit) and no longer do in s, and the lists left
 * empty; every list when s has no state section. */
static void prune_synced(struct sim_scenario *s,
                         const struct sim_scenario *before)
{
    for (size_t k = s->expects_count; k-- > 0;) {
        struct sim_expect *e = &s->expects[k];
        if (e->kind != SIM_EXPECT_STATE_SYNCED)
            continue;
        size_t left = 0;
        for (size_t j = 0; j < e->nodes_count; j++) {
            uint32_t v = e->nodes[j];
            if (s->state.present &&
                (runs_at_end(s, v) || !runs_at_end(before, v)))
                e->nodes[left++] = v;
        }
        e->nodes_count = left;
        if (left == 0)
            drop_expect(s, k);
    }
}

/* Removes the state section, with the faults and expectations that need
 * it (bad-chunks byzantine nodes, state_synced). */
static bool cut_state(struct sim_scenario *s, size_t k, char *desc, size_t len)
{
    if (k != 0 || !s->state.present)
        return false;
    size_t bad = 0;
    for (size_t i = s->faults_count; i-- > 0;) {
        if (s->faults[i].kind == SIM_FAULT_BYZANTINE &&
            s->faults[i].behaviour == SIM_BYZ_BAD_CHUNKS) {
            drop_fault(s, i);
            bad++;
        }
    }
    memset(&s->state, 0, sizeof s->state);
    prune_synced(s, s);
    snprintf(desc, len, "removed the state section%s",
             bad > 0 ? " and its bad-chunks faults" : "");
    return true;
}

/* A smaller or quieter state: k = 0 cuts it to one chunk, 1 halves its
 * size, 2 drops its churn, 3 doubles its checkpoint interval (while below
 * the duration), 4 doubles its chunk (within the size and core's chunk
 * limit). */
static bool lighten_state(struct sim_scenario *s, size_t k, char *desc,
                          size_t len)
{
    struct sim_state_cfg *st = &s->state;
    char buf[32];
    if (!st->present)
        return false;
    switch (k) {
    case 0:
        if (st->size_bytes <= st->chunk_bytes)
            return false;
        st->size_bytes = st->chunk_bytes;
        conf_units_format_size(st->size_bytes, buf, sizeof buf);
        snprintf(desc, len, "cut the state to one chunk of %s", buf);
        return true;
    case 1:
        if (st->size_bytes < 2)
            return false;
        st->size_bytes /= 2;
        if (st->chunk_bytes > st->size_bytes)
            st->chunk_bytes = st->size_bytes;
        conf_units_format_size(st->size_bytes, buf, sizeof buf);
        snprintf(desc, len, "halved state.size to %s", buf);
        return true;
    case 2:
        if (st->churn_ppm == 0)
            return false;
        st->churn_ppm = 0;
        snprintf(desc, len, "set state.churn to 0");
        return true;
    case 3:
        if (st->checkpoint_every_ns >= s->duration_ns)
            return false;
        st->checkpoint_every_ns *= 2;
        conf_units_format_duration(st->checkpoint_every_ns, buf, sizeof buf);
        snprintf(desc, len, "doubled state.checkpoint_every to %s", buf);
        return true;
    case 4:
        if (st->chunk_bytes * 2 > st->size_bytes ||
            st->chunk_bytes * 2 > P2P_STATE_CHUNK_BYTES_MAX)
            return false;
        st->chunk_bytes *= 2;
        conf_units_format_size(st->chunk_bytes, buf, sizeof buf);
        snprintf(desc, len, "doubled state.chunk to %s", buf);
        return true;
    default:
        return false;
    }
}

/* A shorter run: k = 0 halves it, 1 ends it 1 s after the last fault, 2
 * takes a quarter off. Workload items are cut to fit. */
static bool shorten(struct sim_scenario *s, size_t k, char *desc, size_t len)
{
    uint64_t d = s->duration_ns, last = 0;
    for (size_t i = 0; i < s->faults_count; i++)
        if (s->faults[i].at_ns > last)
            last = s->faults[i].at_ns;
    if (k == 0)
        d = d / 2;
    else if (k == 1)
        d = last + P2P_NS_PER_S;
    else if (k == 2)
        d = d - d / 4;
    else
        return false;
    d = d / DURATION_STEP_NS * DURATION_STEP_NS;
    if (d == 0 || d >= s->duration_ns || d < last)
        return false;
    for (size_t i = 0; i < s->workload_count; i++) {
        struct sim_workload_item *w = &s->workload[i];
        if (w->stop_ns > d)
            w->stop_ns = d;
        if (w->start_ns >= w->stop_ns)
            return false;
    }
    char was[32], now[32];
    conf_units_format_duration(s->duration_ns, was, sizeof was);
    conf_units_format_duration(d, now, sizeof now);
    snprintf(desc, len, "duration %s -> %s", was, now);
    s->duration_ns = d;
    return true;
}

/* Removes the highest id of the subnet when nothing names it. */
static bool cut_top_node(struct sim_scenario *s, size_t k, char *desc,
                         size_t len)
{
    if (k != 0 || s->nodes < 2)
        return false;
    uint32_t v = s->nodes - 1;
    for (size_t i = 0; i < s->faults_count; i++)
        if (names(&s->faults[i], v))
            return false;
    for (size_t i = 0; i < s->net.links_count; i++)
        if (s->net.links[i].from == v || s->net.links[i].to == v)
            return false;
    for (size_t i = 0; i < s->workload_count; i++)
        if (s->workload[i].from == SIM_FROM_NODE &&
            s->workload[i].from_node == v)
            return false;
    for (size_t i = 0; i < s->expects_count; i++)
        for (size_t j = 0; j < s->expects[i].nodes_count; j++)
            if (s->expects[i].nodes[j] == v)
                return false;
    snprintf(desc, len, "subnet.nodes %" PRIu32 " -> %" PRIu32, s->nodes, v);
    s->nodes = v;
    return true;
}

/* Item k / 2: halves its rate (k even) or its size (k odd). */
static bool lighten(struct sim_scenario *s, size_t k, char *desc, size_t len)
{
    if (k / 2 >= s->workload_count)
        return false;
    struct sim_workload_item *w = &s->workload[k / 2];
    if (k % 2 == 0) {
        if (w->interval_ns > s->duration_ns / 2)
            return false;
        w->interval_ns *= 2;
        snprintf(desc, len, "halved workload[%zu]'s rate", k / 2);
        return true;
    }
    if (w->size_bytes / 2 < SIM_SCENARIO_ARTIFACT_BYTES_MIN)
        return false;
    w->size_bytes /= 2;
    w->size_max_bytes = w->size_max_bytes / 2 < w->size_bytes
                            ? w->size_bytes
                            : w->size_max_bytes / 2;
    snprintf(desc, len, "halved workload[%zu]'s size", k / 2);
    return true;
}

/* ---- trying candidates ------------------------------------------------- */

/* Through the writer and the loader: the copy is exactly what a file with
 * this text holds. */
static int reload(const struct sim_scenario *s, const char *path,
                  struct sim_scenario *out)
{
    char *text = NULL;
    size_t len = 0;
    int rc = sim_scenario_write_string(s, &text, &len);
    if (rc != 0)
        return rc;
    rc = sim_scenario_load_string(text, len, path, out, NULL);
    free(text);
    return rc;
}

static bool valid(const struct sim_scenario *s)
{
    char *msg = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&msg, &len);
    if (m == NULL)
        return false;
    int rc = sim_swarm_check(s, m);
    fclose(m);
    free(msg);
    return rc == 0;
}

static bool same_failure(const struct sim_swarm_outcome *a,
                         const struct sim_swarm_outcome *b)
{
    return a->status == b->status && strcmp(a->signature, b->signature) == 0;
}

typedef bool (*edit_fn)(struct sim_scenario *s, size_t k, char *desc,
                        size_t len);

/* Applies edit k to a copy of the current scenario and keeps the copy when
 * it still fails the same way. Returns 1 kept, 0 not kept, P2P_ERR_LIMIT
 * when the run budget is spent, or the error reloading the scenario
 * (P2P_ERR_NOMEM). */
static int attempt(struct shrinker *sh, edit_fn edit, size_t k)
{
    struct sim_scenario cand, clean;
    char desc[DESC_BYTES] = "";
    if (sh->runs >= sh->a->runs_max)
        return P2P_ERR_LIMIT;
    int rc = reload(&sh->cur, sh->cur.path, &cand);
    if (rc != 0)
        return rc;
    bool applied = edit(&cand, k, desc, sizeof desc);
    if (applied)
        prune_synced(&cand, &sh->cur);
    rc = applied ? reload(&cand, sh->cur.path, &clean) : P2P_ERR_STATE;
    sim_scenario_fini(&cand);
    if (rc != 0)
        return 0; /* not applicable, or no longer a valid file */
    if (!valid(&clean)) {
        sim_scenario_fini(&clean);
        return 0;
    }
    struct sim_swarm_outcome o;
    sh->runs++;
    sim_swarm_run_isolated(&clean, sh->a->has_seed ? &sh->a->seed : NULL,
                           sh->a->timeout_s, &o);
    if (!same_failure(&o, &sh->want)) {
        sim_scenario_fini(&clean);
        return 0;
    }
    sim_scenario_fini(&sh->cur);
    sh->cur = clean;
    sh->kept++;
    if (!sh->a->quiet)
        printf("shrink: %s: still fails (%zu faults, %" PRIu32 " nodes, %zu "
               "workload items; run %u, %.2fs)\n",
               desc, sh->cur.faults_count, sh->cur.nodes,
               sh->cur.workload_count, sh->runs, o.wall_s);
    fflush(stdout);
    return 1;
}

typedef bool (*applies_fn)(const struct sim_scenario *s, size_t k);

/* Tries edit k for k = 0, 1, ... below bound(), skipping those applies()
 * rules out without a run. A kept edit removes entry k (and perhaps a
 * partner after it), so the same k is tried again; entries before k never
 * move. Sets *kept when an edit was kept. */
static int pass(struct shrinker *sh, edit_fn edit,
                size_t (*bound)(const struct sim_scenario *),
                applies_fn applies, bool *kept)
{
    size_t k = 0;
    while (k < bound(&sh->cur)) {
        if (applies != NULL && !applies(&sh->cur, k)) {
            k++;
            continue;
        }
        int rc = attempt(sh, edit, k);
        if (rc < 0)
            return rc;
        if (rc > 0)
            *kept = true;
        else
            k++;
    }
    return 0;
}

/* How many edits of each kind a scenario admits (k = 0 .. n - 1). */
#define COUNT_FN(name, expr)                                                   \
    static size_t name(const struct sim_scenario *s)                           \
    {                                                                          \
        (void)s;                                                               \
        return (expr);                                                         \
    }
COUNT_FN(n_faults, s->faults_count)
COUNT_FN(n_workload, s->workload_count)
COUNT_FN(n_expects, s->expects_count)
COUNT_FN(n_links, s->net.links_count)
COUNT_FN(n_simplify, 7)
COUNT_FN(n_shorten, 3)
COUNT_FN(n_top, 1)
COUNT_FN(n_lighten, 2 * s->workload_count)
COUNT_FN(n_state, 1)
COUNT_FN(n_lighten_state, 5)

/* Fault-node edits are numbered fault * width + node. */
#define FAULT_NODES_WIDTH 1024u
static size_t n_fault_nodes(const struct sim_scenario *s)
{
    return s->faults_count * FAULT_NODES_WIDTH;
}

static bool cut_one_fault_node(struct sim_scenario *s, size_t k, char *desc,
                               size_t len)
{
    return cut_fault_node(s, k / FAULT_NODES_WIDTH, k % FAULT_NODES_WIDTH, desc,
                          len);
}

/* Node `which` exists in a fault that names two or more. */
static bool fault_node_exists(const struct sim_scenario *s, size_t k)
{
    const struct sim_fault *f = &s->faults[k / FAULT_NODES_WIDTH];
    size_t total = f->nodes_count;
    for (size_t g = 0; g < f->groups_count; g++)
        total += f->group_sizes[g];
    return total >= 2 && k % FAULT_NODES_WIDTH < total;
}

/* state_synced node edits are numbered expectation * width + node. */
static size_t n_expect_nodes(const struct sim_scenario *s)
{
    return s->expects_count * FAULT_NODES_WIDTH;
}

static bool expect_node_exists(const struct sim_scenario *s, size_t k)
{
    const struct sim_expect *e = &s->expects[k / FAULT_NODES_WIDTH];
    return e->kind == SIM_EXPECT_STATE_SYNCED && e->nodes_count >= 2 &&
           k % FAULT_NODES_WIDTH < e->nodes_count;
}

static bool cut_expect_node(struct sim_scenario *s, size_t k, char *desc,
                            size_t len)
{
    struct sim_expect *e = &s->expects[k / FAULT_NODES_WIDTH];
    size_t j = k % FAULT_NODES_WIDTH;
    if (e->kind != SIM_EXPECT_STATE_SYNCED || e->nodes_count < 2 ||
        j >= e->nodes_count)
        return false;
    snprintf(desc, len, "dropped node %" PRIu32 " from state_synced",
             e->nodes[j]);
    memmove(&e->nodes[j], &e->nodes[j + 1],
            (e->nodes_count - j - 1) * sizeof e->nodes[0]);
    e->nodes_count--;
    return true;
}

static int shrink_rounds(struct shrinker *sh)
{
    static const struct {
        edit_fn edit;
        size_t (*bound)(const struct sim_scenario *);
        applies_fn applies;
    } passes[] = {
        {cut_fault, n_faults, NULL},
        {shorten, n_shorten, NULL},
        {cut_workload, n_workload, NULL},
        {cut_top_node, n_top, NULL},
        {cut_one_fault_node, n_fault_nodes, fault_node_exists},
        {cut_expect, n_expects, NULL},
        {cut_expect_node, n_expect_nodes, expect_node_exists},
        {cut_state, n_state, NULL},
        {cut_link, n_links, NULL},
        {simplify, n_simplify, NULL},
        {lighten, n_lighten, NULL},
        {lighten_state, n_lighten_state, NULL},
    };
    for (;;) {
        bool kept = false;
        for (size_t i = 0; i < sizeof passes / sizeof passes[0]; i++) {
            int rc = pass(sh, passes[i].edit, passes[i].bound,
                          passes[i].applies, &kept);
            if (rc < 0)
                return rc;
        }
        if (!kept)
            return 0;
    }
}

/* ---- the command --------------------------------------------------------- */

static void usage(FILE *out)
{
    fprintf(
        out,
        "usage: p2p-sim shrink FILE.yaml [--out FILE2] [--seed N] [options]\n"
        "\n"
        "Runs the scenario to find how it fails (the first failed\n"
        "expectation, the kind of invariant violation, or a crash), then\n"
        "removes faults, nodes, workload and time, and lowers rates and\n"
        "sizes, as long as it still fails the same way. Prints each step\n"
        "kept and writes the smallest scenario found. Exit status: 0\n"
        "written, 1 FILE does not fail, 2 bad input. See docs/swarm.md.\n"
        "\n"
        "options:\n"
        "  --out FILE2         where to write (default: FILE, its .yaml\n"
        "                      replaced by .shrunk.yaml)\n"
        "  --seed N            run with this seed (written into FILE2)\n"
        "  --runs-max N        at most N candidate runs (default %u)\n"
        "  --timeout SECONDS   wall-clock limit per run (default %u)\n"
        "  --quiet             print only the result\n"
        "  -h, --help          this text\n",
        RUNS_MAX_DEFAULT, SIM_SWARM_TIMEOUT_DEFAULT_S);
}

static void default_out(const char *path, char *buf, size_t len)
{
    size_t n = strlen(path);
    if (n > 5 && strcmp(path + n - 5, ".yaml") == 0)
        snprintf(buf, len, "%.*s.shrunk.yaml", (int)(n - 5), path);
    else if (n > 4 && strcmp(path + n - 4, ".yml") == 0)
        snprintf(buf, len, "%.*s.shrunk.yaml", (int)(n - 4), path);
    else
        snprintf(buf, len, "%s.shrunk.yaml", path);
}

static int parse_args(int argc, char **argv, struct shrink_args *a)
{
    static const struct option longopts[] = {
        {"out", required_argument, NULL, 'o'},
        {"seed", required_argument, NULL, 's'},
        {"runs-max", required_argument, NULL, 'r'},
        {"timeout", required_argument, NULL, 't'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *out = NULL;
    uint64_t v;
    memset(a, 0, sizeof *a);
    a->timeout_s = SIM_SWARM_TIMEOUT_DEFAULT_S;
    a->runs_max = RUNS_MAX_DEFAULT;
    conf_cli_begin();
    int c;
    while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            out = optarg;
            break;
        case 's':
            if (conf_units_parse_u64(optarg, &a->seed) != 0) {
                fprintf(stderr,
                        "p2p-sim shrink: --seed: '%s' is not a "
                        "non-negative integer\n",
                        optarg);
                return EXIT_BAD_INPUT;
            }
            a->has_seed = true;
            break;
        case 'r':
            if (conf_units_parse_u64(optarg, &v) != 0 || v == 0 ||
                v > 1000000) {
                fprintf(stderr,
                        "p2p-sim shrink: --runs-max: '%s' is not in "
                        "1..1000000\n",
                        optarg);
                return EXIT_BAD_INPUT;
            }
            a->runs_max = (unsigned)v;
            break;
        case 't':
            if (conf_units_parse_u64(optarg, &v) != 0 || v == 0 || v > 86400) {
                fprintf(stderr,
                        "p2p-sim shrink: --timeout: '%s' is not in "
                        "1..86400\n",
                        optarg);
                return EXIT_BAD_INPUT;
            }
            a->timeout_s = (unsigned)v;
            break;
        case 'q':
            a->quiet = true;
            break;
        case 'h':
            usage(stdout);
            exit(EXIT_OK);
        default:
            conf_cli_bad_flag(stderr, "p2p-sim shrink", c, argv, longopts);
            usage(stderr);
            return EXIT_BAD_INPUT;
        }
    }
    if (optind != argc - 1) {
        fprintf(stderr, "p2p-sim shrink: expected exactly one scenario file\n");
        usage(stderr);
        return EXIT_BAD_INPUT;
    }
    a->path = argv[optind];
    if (out != NULL)
        snprintf(a->out, sizeof a->out, "%s", out);
    else
        default_out(a->path, a->out, sizeof a->out);
    return EXIT_OK;
}

static int write_result(const struct shrinker *sh)
{
    const struct shrink_args *a = sh->a;
    FILE *f = fopen(a->out, "w");
    if (f == NULL) {
        fprintf(stderr, "p2p-sim shrink: cannot write %s: %s\n", a->out,
                strerror(errno));
        return P2P_ERR_WRITE;
    }
    fprintf(f,
            "# Shrunk by p2p-sim shrink from %s (%u steps kept in %u "
            "runs).\n# It fails with: ",
            a->path, sh->kept, sh->runs);
    for (const char *p = sh->want.detail; *p; p++)
        fputc(*p == '\n' ? ' ' : *p, f);
    fprintf(f, "\n# replay: p2p-sim run %s\n", a->out);
    int rc = sim_scenario_write(&sh->cur, f);
    if (fclose(f) != 0 || rc != 0) {
        fprintf(stderr, "p2p-sim shrink: writing %s failed\n", a->out);
        return P2P_ERR_WRITE;
    }
    return 0;
}

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int sim_shrink_main(int argc, char **argv)
{
    struct shrink_args a;
    int rc = parse_args(argc, argv, &a);
    if (rc != EXIT_OK)
        return rc;
    struct sim_scenario sc;
    struct sim_scenario_error err;
    if (sim_scenario_load_file(a.path, &sc, &err) != 0) {
        char msg[512];
        sim_scenario_error_format(&err, a.path, msg, sizeof msg);
        fprintf(stderr, "%s\n", msg);
        return EXIT_BAD_INPUT;
    }
    if (sim_swarm_check(&sc, stderr) != 0) {
        sim_scenario_fini(&sc);
        return EXIT_BAD_INPUT;
    }
    if (a.has_seed) { /* the result replays on its own */
        sc.seed = a.seed;
        sc.has_seed = true;
    }
    struct shrinker sh = {.a = &a};
    double t0 = wall_now();
    sim_swarm_run_isolated(&sc, NULL, a.timeout_s, &sh.want);
    sh.runs = 1;
    if (sh.want.status == SIM_SWARM_OK) {
        printf("shrink: %s does not fail with seed %" PRIu64 "; nothing to "
               "shrink\n",
               a.path, sh.want.seed);
        sim_scenario_fini(&sc);
        return EXIT_NO_FAILURE;
    }
    if (sh.want.status == SIM_SWARM_ERROR) {
        fprintf(stderr, "p2p-sim shrink: %s: %s\n", a.path, sh.want.detail);
        sim_scenario_fini(&sc);
        return EXIT_BAD_INPUT;
    }
    printf("shrink: %s fails with seed %" PRIu64 ": %s\n", a.path, sh.want.seed,
           sh.want.detail);
    printf("shrink: keeping the failure '%s' while removing what it does "
           "not need\n",
           sh.want.signature);
    size_t faults0 = sc.faults_count, items0 = sc.workload_count;
    uint32_t nodes0 = sc.nodes;
    uint64_t duration0 = sc.duration_ns;
    sh.cur = sc; /* owned by sh from here on */
    rc = shrink_rounds(&sh);
    if (rc < 0 && sh.runs >= a.runs_max)
        printf("shrink: stopped after %u runs (--runs-max)\n", sh.runs);
    else if (rc < 0)
        fprintf(stderr, "p2p-sim shrink: out of memory; writing the "
                        "smallest so far\n");
    rc = write_result(&sh);
    char d0[32], d1[32];
    conf_units_format_duration(duration0, d0, sizeof d0);
    conf_units_format_duration(sh.cur.duration_ns, d1, sizeof d1);
    if (rc == 0)
        printf("shrink: wrote %s: %zu faults (was %zu), %" PRIu32 " nodes "
               "(was %" PRIu32 "), %zu workload items (was %zu), duration "
               "%s (was %s); %u steps kept in %u runs, %.1f s\n"
               "replay: p2p-sim run %s\n",
               a.out, sh.cur.faults_count, faults0, sh.cur.nodes, nodes0,
               sh.cur.workload_count, items0, d1, d0, sh.kept, sh.runs,
               wall_now() - t0, a.out);
    sim_scenario_fini(&sh.cur);
    return rc == 0 ? EXIT_OK : EXIT_BAD_INPUT;
}
