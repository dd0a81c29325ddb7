/* Internal: artifact ids stored once each, with a reference count, named
 * by a 32-bit handle. The receiver's slot views name their ids through it:
 * the same id in many peers' slots (every relayer advertises or pushes
 * each artifact) costs one 32-byte copy, not one per view.
 *
 * A handle stays valid while its id has references; when the last one is
 * released the record goes back to a free list (LIFO: its handle is the
 * next one given out). Lookup by id goes through a keymap, never iterated,
 * so handles follow the order of interning alone. Bounded by ids_max
 * (at most P2P_CONFIG_TABLE_MAX). Cross-file internal names carry
 * p2p__id_table_. */
#ifndef P2P_CORE_ID_TABLE_H
#define P2P_CORE_ID_TABLE_H

#include <stdbool.h>
#include <stdint.h>

#include "core/keymap.h"
#include "core/mem.h"
#include "core/table.h"
#include "core/types.h"

/* One interned id. */
struct p2p_id_entry {
    struct p2p_artifact_id id;
    uint32_t refs;      /* 0 while on the free list */
    uint32_t next_free; /* the table's free-list link */
    uint32_t gen;       /* the table's generation (unused here) */
};

/* The module's state (caller storage; fields private to id_table.c). */
struct p2p_id_table {
    struct p2p_mem *mem;   /* borrowed */
    struct p2p_table ents; /* of struct p2p_id_entry; index = handle */
    struct p2p_keymap by_id;
};

/* An empty table of at most ids_max ids (<= P2P_CONFIG_TABLE_MAX), its
 * memory charged to module. mem is borrowed and outlives it; key_seed
 * keys the hash (draw it from the node's key stream). */
void p2p__id_table_init(struct p2p_id_table *t, struct p2p_mem *mem,
                        enum p2p_mem_module module, uint32_t ids_max,
                        uint64_t key_seed);
/* Frees everything, whatever references remain; the table stays usable
 * (empty). */
void p2p__id_table_fini(struct p2p_id_table *t);
/* One more reference to id (borrowed: copied when new): *handle names it
 * until the reference is released. Errors: P2P_ERR_LIMIT (ids_max
 * distinct ids held), P2P_ERR_NOMEM; the table is then unchanged. */
int p2p__id_table_intern(struct p2p_id_table *t,
                         const struct p2p_artifact_id *id, uint32_t *handle);
/* intern in two steps, for a caller that must not fail between them:
 * find says whether id is held (and sets *handle; no reference is taken);
 * hold takes one more reference to a held id's handle and cannot fail;
 * insert adds an id that is not held, with one reference (errors as
 * intern's, the table unchanged). */
bool p2p__id_table_find(const struct p2p_id_table *t,
                        const struct p2p_artifact_id *id, uint32_t *handle);
void p2p__id_table_hold(struct p2p_id_table *t, uint32_t handle);
int p2p__id_table_insert(struct p2p_id_table *t,
                         const struct p2p_artifact_id *id, uint32_t *handle);
/* One reference less to handle's id (which must have one); the last one
 * frees the record, and the last id held frees the table's memory. */
void p2p__id_table_release(struct p2p_id_table *t, uint32_t handle);
/* The id handle names (it must have references). The pointer is
 * borrowed: valid until the next intern or insert, or the last release
 * of handle. */
const struct p2p_artifact_id *p2p__id_table_id(const struct p2p_id_table *t,
                                               uint32_t handle);
/* handle's reference count: 0 when it names nothing (also past the
 * records made so far). */
uint32_t p2p__id_table_refs(const struct p2p_id_table *t, uint32_t handle);
/* Records made so far: every handle given out is below this. */
uint32_t p2p__id_table_capacity(const struct p2p_id_table *t);
/* Ids held (with at least one reference). */
uint32_t p2p__id_table_count(const struct p2p_id_table *t);
/* 0, or P2P_ERR_INTERNAL when the map and the records disagree (count,
 * free records with references). O(records). */
int p2p__id_table_check(const struct p2p_id_table *t);

#endif
