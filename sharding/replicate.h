/*
 * replicate.h - the write side of replication: forwarding accepted writes
 * to the other owners of their shards, through durable per-peer hint
 * queues (hinted handoff).
 *
 * Flow. The node that accepts a write stores it locally first, then hands
 * the batch to ne_replicator_submit: every point is placed on the ring
 * (series -> shard -> owners) and, for each owner other than this node,
 * the points it owns are encoded into one record appended to that peer's
 * queue (hintq.h) in data_dir/cluster/hints/<peer>/. One sender thread
 * per peer drains its queue in batches of records, each batch one
 * NE_FT_WRITE_BATCH request over the peer transport (which compresses big
 * payloads). The receiving node writes the points into its own store only
 * (never forwards them again) and answers NE_FT_WRITE_ACK once its store
 * has made them durable; the sender then moves the queue's cursor past
 * the batch. While a peer cannot be reached (transport errors, or
 * membership does not show it alive) its queue grows; it drains when the
 * peer is back. Records older than hint_window, or beyond the hint byte
 * budget (oldest first), are dropped, counted and logged (anti-entropy
 * repairs what they held). Each point travels with its last-writer-wins
 * version (hlc.h), so every replica keeps the same winner.
 *
 * Shard moves (rebalance.h). While a shard moves, reads may go to an old
 * owner that still keeps a complete copy, so a point also goes to every
 * peer that, by its last move status, keeps its shard
 * (ne_replicator_set_keepers) - until that peer drops its copy and says
 * so. Points a peer gets only as a keeper travel in keeper records; the
 * peer stores them only while it still keeps the shard (the keeps
 * callback) and skips them once it dropped it (counted): their owners get
 * them anyway, and a dropped shard must not grow a partial copy again.
 *
 * Wire formats (little endian, strings are [len u32][bytes]):
 *   record (one queue record; the points one peer owns of one write):
 *     [db_len u16][db bytes][npoints u32] then per point:
 *     ([version u64] when bit 15 of db_len is set: a versioned record;
 *      bit 14 set: a keeper record, see above)
 *     [measurement str][ts i64][ntags u16]([key str][value str])*
 *     [nfields u16]([key str][type u8][value])*
 *     value: float/int/uint 8 bytes (IEEE 754 / two's complement),
 *            bool 1 byte (0/1), string [len u32][bytes].
 *   tombstone record (a cluster-wide deletion, tomb.h; queued for every
 *   member by ne_replicator_broadcast, carries no points):
 *     [0x2000 u16][tombstone as in tomb.h]
 *     (0x2000 can never start a point record: its db_len is 1..255 with
 *     only bits 15 and 14 as flags)
 *   NE_FT_WRITE_BATCH request: [nrecords u32]([len u32][record])*
 *   NE_FT_WRITE_ACK reply:     [accepted u32][rejected u32] (points)
 *
 * Durability: with the store's durability `sync` an append is fdatasync'd
 * before ne_replicator_submit returns; with `interval` queues are synced
 * at least every max_lag; with `none` never explicitly.
 *
 * Metrics (label peer="id"): neoedge_replication_queue_bytes,
 * neoedge_replication_queue_records, neoedge_replication_lag_seconds (age
 * of the oldest record not acknowledged), neoedge_replication_sent_points_total,
 * neoedge_replication_dropped_points_total{peer,reason="hint_window"|
 * "max_bytes"|"corrupt"}; and neoedge_replication_received_points_total.
 * Gauges are refreshed after every append, after each drain and at least
 * once a second while a sender works.
 */
#ifndef NE_SHARDING_REPLICATE_H
#define NE_SHARDING_REPLICATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sharding/frame.h"
#include "sharding/ring.h"
#include "sharding/transport.h"
#include "store/store.h"

struct ne_replicator; /* opaque */

/* Resolves a peer id to the "host:port" its transport answers on. Returns
 * 0, or a negative code when the peer is not reachable now (unknown, dead
 * or left): the sender then waits and asks again. Called from sender
 * threads. */
typedef int (*ne_repl_peer_fn)(void *ctx, const char *peer_id, char *addr, size_t n);

/* Writes received points into this node's store; the contract of
 * ne_store_write_versioned (returns once durable): ver holds b->npts
 * versions, or is NULL when the sender sent none. Called from transport
 * threads. */
typedef int (*ne_repl_write_fn)(void *ctx, const char *db, const struct ne_batch *b,
                                const uint64_t *ver, struct ne_write_result *res);

/* Whether this node still keeps the shard of the series with hash
 * series_hash (ne_ring_series_hash): it owns the shard, or lost it and
 * has not dropped its copy yet. Keeper records are written only for
 * those; called from transport threads, inside ne_replicator_handle. */
typedef bool (*ne_repl_keeps_fn)(void *ctx, uint64_t series_hash);
/* Applies a cluster-wide deletion received from a peer: tomb is the
 * encoded tombstone (tomb.h), n bytes, untrusted. Returns 0 once it is
 * applied and durable (also when it was known already), or an error (the
 * sender retries the batch later). Called from transport threads, in
 * the order of the records around it. */
typedef int (*ne_repl_tomb_fn)(void *ctx, const uint8_t *tomb, size_t n);

struct ne_replicator_opts {
    const char *node_id;  /* this node (borrowed for the call) */
    const char *hint_dir; /* queues live in hint_dir/<peer>/ (borrowed for the call) */
    enum ne_store_durability durability; /* of the queues, as the store's */
    int64_t max_lag_ns;                  /* send and sync at least this often; 0: 1 s */
    int64_t hint_window_ns;              /* drop records older; 0: keep */
    uint64_t hint_max_bytes;             /* all queues together; 0: no bound */
    size_t batch_bytes;                  /* payload per request; 0: 1 MiB, at most 8 MiB */
    uint64_t file_bytes;                 /* queue segment size; 0: hintq default */
    struct ne_transport *tp;             /* borrowed; NULL: nothing is sent */
    ne_repl_peer_fn peer_addr;
    ne_repl_write_fn local_write; /* NULL: received batches are refused */
    ne_repl_keeps_fn keeps;       /* NULL: keeper records are written whole */
    ne_repl_tomb_fn local_tomb;   /* NULL: batches with a deletion are refused */
    void *ctx;                    /* for peer_addr, local_write, keeps and local_tomb */
};

/* Opens the queues already in hint_dir (what a previous run left: they
 * drain as their peers come back) and starts their senders. Returns 0 and
 * *out (stop with ne_replicator_stop), NE_EINVAL, NE_ENOMEM or an I/O code. */
int ne_replicator_start(const struct ne_replicator_opts *o, struct ne_replicator **out);

/* Stops and joins the senders (a request in flight finishes or times
 * out), syncs and closes the queues. NULL-safe; sets *pr to NULL. */
void ne_replicator_stop(struct ne_replicator **pr);

/* Replaces the ring writes are placed with; the replicator takes
 * ownership of ring (freed at the next replacement or at stop). NULL
 * forwards nothing; a ring without this node (decommissioned) forwards
 * every point to all the owners of its shard. */
void ne_replicator_set_ring(struct ne_replicator *r, struct ne_ring *ring);

/* A peer keeping copies of shards for reads while they move: holds has
 * bit s (byte s / 8, bit s % 8) set for each shard s it holds complete,
 * as its last move status said (rebalance.h). */
struct ne_repl_keeper {
    const char *id;       /* borrowed for the call */
    const uint8_t *holds; /* ceil(shards / 8) bytes, borrowed for the call */
};

/* Replaces the keepers (copied): from now on a point also goes, in a
 * keeper record, to each keeper (not this node) holding its shard that
 * does not own it on the ring. shards: the bit count of every holds.
 * n 0 clears them. Returns 0 or NE_ENOMEM (the old keepers stay). */
int ne_replicator_set_keepers(struct ne_replicator *r, uint32_t shards,
                              const struct ne_repl_keeper *k, size_t n);

/* Queues the points of b (every timestamp set: no NE_TS_UNSET), with their
 * versions ver (b->npts entries, borrowed; NULL: none), for the other
 * owners of their shards and the keepers of their shards. Call after the local store accepted b.
 * Returns 0 once every record is appended (and durable in sync mode), or
 * the first error (NE_ENOMEM, NE_ETOOBIG, an I/O code): the local write
 * stands, but those points may not reach their other owners. */
int ne_replicator_submit(struct ne_replicator *r, const char *db, const struct ne_batch *b,
                         const uint64_t *ver);

/* Queues one tombstone record (rec, len bytes: made by
 * ne_repl_encode_tomb; copied) for each of peers[0..n) but this node,
 * creating their queues as needed, so that a member that is down gets it
 * when it returns (within hint_window; hint_max_bytes holds for these
 * records too). Returns 0 or the first error (the others are still
 * queued). */
int ne_replicator_broadcast(struct ne_replicator *r, const char *const *peers, size_t n,
                            const void *rec, size_t len);

/* Serves an NE_FT_WRITE_BATCH request from peer_id: writes every record
 * through local_write (the points of keeper records only where keeps
 * says so) and replies NE_FT_WRITE_ACK. Returns 0, NE_ECORRUPT
 * (malformed request: nothing written), NE_EUNSUPPORTED (no local_write)
 * or the store's error (the sender retries the whole batch later; a
 * record written twice is harmless: last writer wins). */
int ne_replicator_handle(struct ne_replicator *r, const char *peer_id, const uint8_t *msg, size_t n,
                         struct ne_pbuf *reply, uint8_t *reply_type);

/* Figures of one peer's queue (tests, status). */
struct ne_replicator_peer_stats {
    uint64_t queue_bytes, queue_records, queue_points;
    double lag_seconds;
    uint64_t sent_points;
    uint64_t dropped_window, dropped_bytes, dropped_corrupt;
    uint64_t keeper_points; /* of the queued ones, in keeper records (since start) */
};
/* Returns 0, or NE_ENOTFOUND when no queue exists for peer_id. */
int ne_replicator_peer_stats(struct ne_replicator *r, const char *peer_id,
                             struct ne_replicator_peer_stats *out);

/* ---- the record codec (exposed for tests) --------------------------------- */

/* Appends the record of points idx[0..n) of b in database db to out, with
 * their versions ver[idx[i]] (ver NULL: an unversioned record).
 * Returns 0, NE_EINVAL (db longer than 255 bytes, a point without its
 * timestamp, more than 65535 tags or fields) or NE_ENOMEM. */
int ne_repl_encode(struct ne_pbuf *out, const char *db, const struct ne_batch *b,
                   const uint64_t *ver, const uint32_t *idx, size_t n);

/* Appends the tombstone record of t to out. Returns 0, NE_EINVAL or
 * NE_ENOMEM. */
struct ne_tomb;
int ne_repl_encode_tomb(struct ne_pbuf *out, const struct ne_tomb *t);

/* Whether the record p[0..n) is a tombstone record. */
bool ne_repl_is_tomb(const uint8_t *p, size_t n);

/* Point versions decoded beside a batch: v[i] for b->pts[i] (0 for points
 * of unversioned records); any: some record was versioned. Zero-initialise,
 * free with ne_repl_vers_free. */
struct ne_repl_vers {
    uint64_t *v;
    size_t cap;
    bool any;
};
void ne_repl_vers_free(struct ne_repl_vers *vs);

/* Decodes one record of n bytes: db (NUL-terminated, at least 256 bytes)
 * and the points, appended to b (reset first), their versions to *vs (may
 * be NULL: dropped). The views of b point into p, which must outlive b's
 * use. Returns 0, NE_ECORRUPT or NE_ENOMEM. */
int ne_repl_decode(const uint8_t *p, size_t n, char *db, struct ne_batch *b,
                   struct ne_repl_vers *vs);

#endif
