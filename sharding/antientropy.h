/*
 * antientropy.h - repair between replicas: Merkle-style digests of the
 * local store compared with a peer's, and a pull of what differs.
 *
 * Hint queues deliver writes while a peer is briefly away; what they
 * could not (a node down longer than the hint window, a partition, a
 * dropped hint) is repaired here. Content is compared per shard and per
 * time bucket (bucket_ns, 1 h by default) as three levels of digests:
 *
 *   root(shard)            = F(sum of digest(shard, bucket) over its
 *                            buckets), 0 when the shard holds no data
 *   digest(shard, bucket)  = sum of digest(series, shard, bucket)
 *   digest(series, bucket) = sum of H(db, series, field, type, ts, value,
 *                            version) over its points in the bucket
 *
 * (sums modulo 2^64, so a digest does not depend on the order points are
 * read in, and each level is the sum of the level below; H is a 64-bit
 * hash, F a 64-bit mix with the low bit set). A round between this node and a peer
 * asks for the peer's roots of the shards both own, then the bucket
 * digests of the shards whose roots differ, then the series digests of
 * the buckets that differ, and pulls the points of the series that differ
 * in those buckets; they are written with their versions, so the local
 * store keeps the greater version of each (last writer wins) and the
 * pull is idempotent. A round only pulls: the peer repairs itself in its
 * own rounds (both ends run them), so the two converge to the union of
 * their writes.
 *
 * Windows (opts.window_ns > 0): a routine round compares only the
 * buckets from (the start of its last successful round with that peer -
 * window_ns) onwards, plus a sweep of all time for one slice of the
 * shards (shard % sweep_rounds == the peer's sweep position, advanced by
 * each successful routine round), so every shard is compared over all
 * time at least once in sweep_rounds successful rounds with a peer. A
 * round is full (all shards, all time) with a peer this node has had no
 * successful round with yet, after ne_ae_full_next (a peer came back from
 * an absence or a partition); a round cut short (an error, the pull
 * budget) moves neither the window's start nor the sweep. A point written
 * since the last round with a timestamp in the window is thus compared in
 * the next round; one older than the window (a back-filled write whose
 * hint was dropped while both were up) within sweep_rounds rounds.
 *
 * Deletions (tomb.h): with opts.tombs, a round starts by exchanging
 * tombstones (a digest first, lists only when they differ), each end
 * learning (and applying) those it lacks, so
 * that a replica that missed a deletion (down past the hint window) is
 * told before digests are compared; and every pulled point a tombstone
 * covers (written before the deletion) is dropped instead of stored.
 *
 * Wire formats (little endian; frame types in frame.h), all requests
 * idempotent:
 *   NE_FT_AE_ROOTS   req:   [bucket_ns i64][nshards u32]([shard u32])*([t0 i64][t1 i64])?
 *                    reply: [nshards u32]([shard u32][root u64])*
 *                           (root 0: no data in that shard)
 *   NE_FT_AE_BUCKETS req:   [bucket_ns i64][shard u32]([t0 i64][t1 i64])?
 *                    reply: [n u32]([bucket i64][digest u64])*, by bucket
 *                    (the optional window limits both to the buckets of
 *                    [t0, t1], t0 rounded down to its bucket's start; a
 *                    request without it covers all time)
 *   NE_FT_AE_SERIES  req:   [bucket_ns i64][shard u32][bucket i64]
 *                    reply: [n u32]([series u64][digest u64])*, by series
 *   NE_FT_AE_PULL    req:   [shard u32][t0 i64][t1 i64][n u32]([series u64])*
 *                    reply: [nrecords u32]([len u32][record])*, records
 *                           as in replicate.h, versioned; the points of
 *                           those series with t0 <= ts <= t1. A reply
 *                           over NE_AE_PULL_MAX bytes is refused with
 *                           NE_ETOOBIG: the caller halves [t0, t1].
 *   NE_FT_AE_TOMBS   req:   [digest u64][has_list u8]([list])?
 *                    reply: [digest u64][has_list u8]([list])?
 *                           digest: ne_tombs_digest of the sender's
 *                           tombstones; list: ne_tombs_encode. A round
 *                           sends its digest alone; a peer whose digest
 *                           differs answers with its list, which the round
 *                           learns; if the digests still differ the round
 *                           sends its list, which the peer learns. Equal
 *                           sets cost one 9-byte request and reply.
 * A bucket is floor(ts / bucket_ns); series is the hash of the database
 * name and the series (ne_ae_series_key).
 *
 * Cost: computing roots reads the local points of the shared shards in
 * the round's window (all time for a full round or the sweep's slice) once
 * per round (and those of a differing shard, then of a differing bucket,
 * once more each: the store's series filter skips the others unread);
 * memory is one root per shard, the buckets of one shard and the series
 * of one bucket at a time; replies are bounded (NE_AE_PULL_MAX per pull,
 * max_pull_bytes per round).
 */
#ifndef NE_SHARDING_ANTIENTROPY_H
#define NE_SHARDING_ANTIENTROPY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sharding/frame.h"
#include "sharding/ring.h"
#include "store/store.h"

struct ne_tombs;

#define NE_AE_BUCKET_NS  (3600LL * 1000000000LL)
#define NE_AE_PULL_MAX   (1u << 20)  /* bytes of one pull reply */
#define NE_AE_ROUND_PULL (64u << 20) /* bytes pulled per round at most (default) */
#define NE_AE_SWEEP_ROUNDS 12u       /* routine rounds per sweep of all time (default) */

/* Counters, for /metrics and `neoedge cluster status` (monotonic). */
struct ne_ae_stats {
    uint64_t rounds;            /* rounds finished (with or without repair) */
    uint64_t rounds_failed;     /* rounds cut short by an error */
    uint64_t buckets_compared;  /* (shard, bucket) digests compared */
    uint64_t buckets_differing; /* of which differed */
    uint64_t series_differing;  /* series pulled for a differing bucket */
    uint64_t points_repaired;   /* points pulled and written locally */
    uint64_t bytes_pulled;      /* pull reply bytes */
    uint64_t tombs_learned;     /* tombstones learned from peers' lists */
    uint64_t points_digested;   /* local points read to compute digests (rounds and serving) */
    uint64_t rounds_full;       /* of rounds, those that compared all shards over all time */
};

struct ne_ae_opts {
    struct ne_store *store;  /* borrowed; must outlive the ne_ae */
    int64_t bucket_ns;       /* 0: NE_AE_BUCKET_NS */
    uint64_t max_pull_bytes; /* per round; 0: NE_AE_ROUND_PULL */
    struct ne_tombs *tombs;  /* borrowed; NULL: no tombstones (tomb.h) */
    int64_t window_ns;       /* routine rounds' window (above); 0: every round is full */
    uint32_t sweep_rounds;   /* rounds per sweep of all time; 0: NE_AE_SWEEP_ROUNDS */
};

struct ne_ae; /* opaque; thread-safe */

/* Returns 0 and *out (free with ne_ae_free), NE_EINVAL or NE_ENOMEM. */
int ne_ae_new(const struct ne_ae_opts *o, struct ne_ae **out);
void ne_ae_free(struct ne_ae **pa);

/* Sends one request to the peer a round is run with: the contract of
 * ne_transport_call with its peer and address bound. */
typedef int (*ne_ae_call_fn)(void *ctx, uint8_t type, const void *msg, size_t n,
                             struct ne_pbuf *reply, uint8_t *reply_type);

/* One round with peer (a node index of ring; self is this node's): for
 * each shard both own, compares and pulls as described above, over the
 * window of a routine round or all time (the history of rounds is kept
 * per peer node name). Returns 0
 * (stats updated, also when nothing differed), or the first error of a
 * call or of the store (the round stops; what was pulled stays). */
int ne_ae_round(struct ne_ae *ae, const struct ne_ring *ring, uint32_t self, uint32_t peer,
                ne_ae_call_fn call, void *ctx);

/* Makes the next round with every known peer a full one (call it when a
 * peer comes back alive: whatever it missed may carry any timestamp). */
void ne_ae_full_next(struct ne_ae *ae);

/* A move (rebalance.h): pulls from peer, which holds shard complete,
 * everything of shard that differs here, over all its time buckets
 * (digests compared per bucket then per series, as in a round). shards:
 * the cluster's shard count. Bounded by max_pull_bytes: *complete is set
 * true when nothing was left for a next call (which goes on from what is
 * here, pulling only what still differs); *bytes gets the reply bytes
 * pulled. Returns 0, NE_EINVAL, or the first error of a call or of the
 * store (what was pulled stays). */
int ne_ae_pull_shard(struct ne_ae *ae, uint32_t shards, uint32_t shard, ne_ae_call_fn call,
                     void *ctx, uint64_t *bytes, bool *complete);

/* Serves one anti-entropy request (types NE_FT_AE_*) from a peer; shards
 * is the cluster's shard count (placement as ne_ring_shard_of_hash).
 * Returns 0 with the reply, NE_ECORRUPT (malformed), NE_ETOOBIG (a pull
 * over NE_AE_PULL_MAX) or a store error. */
int ne_ae_handle(struct ne_ae *ae, uint32_t shards, uint8_t type, const uint8_t *msg, size_t n,
                 struct ne_pbuf *reply, uint8_t *reply_type);

void ne_ae_stats(const struct ne_ae *ae, struct ne_ae_stats *out);

/* The series key of digests and pulls. */
uint64_t ne_ae_series_key(const char *db, const struct ne_series_info *s);

#endif
