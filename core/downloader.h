/* Internal: the artifact downloader (the IC's artifact assembler and bouncer, rs/p2p/artifact_downloader). One
 * download per advertised id that is not in the pool, fetched from one
 * advertiser at a time (least loaded first, ties broken by the node's
 * PRNG), verified against its id, retried on another advertiser, and
 * backed off once every advertiser failed in a round. The bouncer is asked
 * before every attempt and on every refresh. A download waits on one
 * timer at a time, cancelled when the wait ends early (a new advertiser)
 * or the download ends.
 *
 * Adverts come from the receiver, one per peer's slot. An advert that
 * finds no room (the table or the peer's quota full), and the adverts of a
 * download that ended for lack of room while still advertised
 * (the IC restarts such a task), go on the downloader's retry list and are
 * offered again on every refresh (cfg.bouncer_refresh_ns) until they fit
 * or their slot changes.
 *
 * The module reports to nobody above it: a fetched artifact goes to the
 * unvalidated pool through core/intake.h, misbehaviour to the ledger.
 * Cross-file internal names carry p2p__downloader_. */
#ifndef P2P_CORE_DOWNLOADER_H
#define P2P_CORE_DOWNLOADER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/env.h"
#include "core/framing.h"
#include "core/keymap.h"
#include "core/streams.h"
#include "core/table.h"

/* How long a download waits when every untried advertiser is at its
 * concurrency limit, before looking again: latency-sensitive (push kind)
 * artifacts look again sooner. */
#define P2P_DOWNLOAD_BUSY_RETRY_NS (100 * P2P_NS_PER_MS)
#define P2P_DOWNLOAD_BUSY_RETRY_PUSH_NS (10 * P2P_NS_PER_MS)
/* Times a fetch's deadline may move while its peer is busy but alive and
 * no other advertiser can be asked instead (once when there is one). */
#define P2P_FETCH_EXTENSIONS_MAX 4u
/* Response and Artifact envelopes around a body: tags, lengths, status,
 * kind (and an optional id), with room to spare. A fetch's answer may be
 * the largest advertised size plus this. */
#define P2P_FETCH_ENVELOPE_BYTES 128u

enum p2p_download_state { DL_WAIT_BOUNCER, DL_READY, DL_FETCHING, DL_BACKOFF };

struct p2p_advertiser {
    p2p_node_id peer;
    uint32_t refs; /* slots of that peer naming the id */
    bool failed;   /* failed in the current round */
};

struct p2p_download {
    bool used;
    uint32_t gen;
    struct p2p_artifact_id id;
    enum p2p_artifact_kind kind;
    uint64_t size;
    uint64_t fetch_bytes; /* size charged to the peer fetched from */
    enum p2p_download_state state;
    struct p2p_advertiser *advs; /* owned */
    uint32_t advs_count, advs_capacity;
    uint32_t round;         /* rounds of every advertiser failing */
    p2p_time backoff_until; /* while DL_BACKOFF */
    p2p_timer_handle timer; /* while DL_BACKOFF; cancelled when it leaves */
    bool round_backoff;     /* the wait is a round's backoff, not a
                                  wait for a free advertiser */
    uint32_t stream;        /* while fetching */
    p2p_node_id fetching_from;
    uint32_t extensions; /* the fetch's deadline moved (no other
                                  advertiser, the peer busy but alive) */
    uint32_t next_free;
    p2p_time created_ns; /* for P2P_HIST_DOWNLOAD */
};

/* The advert a peer's slot made, while the slot still names it. */
struct p2p_dl_advert {
    bool offered;                /* the slot's id was offered (and the slot
                                  has not changed since) */
    bool pending;                /* on the retry list: refused for room */
    enum p2p_artifact_kind kind; /* as advertised, for the retry */
    uint64_t size;
    struct p2p_artifact_id id;
};

/* What the downloader knows of one peer. */
struct p2p_dl_peer {
    uint32_t fetches_inflight;
    uint64_t fetch_bytes_inflight; /* advertised sizes of those fetches */
    uint32_t advertising;          /* downloads this peer advertises */
    struct p2p_dl_advert *adverts; /* owned; indexed by slot id */
    uint32_t adverts_capacity;
};

/* The module's state (caller storage; fields private to downloader.c). */
struct p2p_downloader {
    const struct p2p_env *env;   /* borrowed */
    struct p2p_streams *streams; /* borrowed: fetches go out on it */
    struct p2p_table downloads;  /* of struct p2p_download */
    struct p2p_keymap by_id;
    bool refresh_scheduled;    /* a P2P_TIMER_BOUNCER_REFRESH is pending */
    uint32_t pending;          /* adverts on the retry list */
    struct p2p_dl_peer *peers; /* owned; indexed by node id */
    uint32_t peers_capacity;
};

/* An empty downloader; env and streams are borrowed and outlive it. */
void p2p__downloader_init(struct p2p_downloader *d, const struct p2p_env *env,
                          struct p2p_streams *streams, uint64_t key_seed);
/* Frees every download (streams are left to their table's fini). */
void p2p__downloader_fini(struct p2p_downloader *d);
/* Makes room for peer's record (peer < cfg.node_ids_max). Errors:
 * P2P_ERR_NOMEM. */
int p2p__downloader_peer_fit(struct p2p_downloader *d, p2p_node_id peer);

/* peer's slot advertises id. 0, or P2P_ERR_LIMIT when no download could
 * be made for it now (table or the peer's quota full): the advert is
 * then on the retry list. */
int p2p__downloader_advertised(struct p2p_downloader *d, p2p_time now,
                               p2p_node_id peer, uint32_t slot,
                               const struct p2p_artifact_id *id,
                               enum p2p_artifact_kind kind, uint64_t size);
/* peer's slot changed: its advert, if any, leaves the retry list. */
void p2p__downloader_slot_changed(struct p2p_downloader *d, p2p_node_id peer,
                                  uint32_t slot);
/* One of peer's slots no longer advertises id (one reference less). When
 * that was peer's last, a fetch in flight to it is abandoned (reset, no
 * failure counted, no penalty) and another advertiser asked at once;
 * with no advertiser left the download is dropped. */
void p2p__downloader_unadvertised(struct p2p_downloader *d, p2p_time now,
                                  p2p_node_id peer,
                                  const struct p2p_artifact_id *id);
/* peer's connection is gone: its adverts leave the retry list (its
 * references are withdrawn slot by slot with unadvertised). */
void p2p__downloader_peer_down(struct p2p_downloader *d, p2p_node_id peer);
/* The artifact arrived by some route: its download, if any, ends. */
void p2p__downloader_done(struct p2p_downloader *d,
                          const struct p2p_artifact_id *id);
/* A fetch stream (dl, gen) ended: err 0 with its frame, or why not. */
void p2p__downloader_on_response(struct p2p_downloader *d, p2p_time now,
                                 uint32_t dl, uint32_t gen, int err,
                                 const struct p2p_frame *f);
/* A P2P_TIMER_DOWNLOAD fired. */
void p2p__downloader_on_timer(struct p2p_downloader *d, p2p_time now,
                              uint32_t dl, uint32_t gen);
/* The deadline of fetch stream (dl, gen) opened at opened_ns passed; its
 * peer last answered a request of ours opened at answered_ns. How much
 * longer to wait for it (0: fail it now). See downloader.c. */
p2p_time p2p__downloader_more_time(struct p2p_downloader *d, p2p_time now,
                                   uint32_t dl, uint32_t gen,
                                   p2p_time opened_ns, p2p_time answered_ns);
/* Re-asks the bouncer for every download (a new bouncer was installed). */
void p2p__downloader_refresh(struct p2p_downloader *d, p2p_time now);
/* The periodic refresh (P2P_TIMER_BOUNCER_REFRESH): re-asks, offers the
 * retry list again, then re-arms while downloads or retries exist. */
void p2p__downloader_on_refresh_timer(struct p2p_downloader *d, p2p_time now);
/* Whether a P2P_TIMER_DOWNLOAD (dl, gen, deadline) still matters. */
bool p2p__downloader_timer_live(const struct p2p_downloader *d, uint32_t dl,
                                uint32_t gen, p2p_time deadline);
/* Downloads in any state. */
static inline uint32_t p2p__downloader_count(const struct p2p_downloader *d)
{
    return d->downloads.count;
}
/* Fetches in flight to peer. */
uint32_t p2p__downloader_fetches(const struct p2p_downloader *d,
                                 p2p_node_id peer);
/* The O(1) part of p2p__downloader_check: index and table agree. */
static inline bool p2p__downloader_counts_ok(const struct p2p_downloader *d)
{
    return d->by_id.count == d->downloads.count;
}
/* 0, or P2P_ERR_INTERNAL: a download without advertiser, a fetch without
 * its stream, a download of a held artifact, counts that disagree.
 * O(downloads + adverts). */
int p2p__downloader_check(const struct p2p_downloader *d);

#endif
