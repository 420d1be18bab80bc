/*
 * tomb.h - cluster-wide deletions as tombstones.
 *
 * In a cluster a DELETE, DROP MEASUREMENT or DROP DATABASE is stamped, by
 * the node that accepts it, with a last-writer-wins version V (hlc.h), as
 * a write batch is. Each member applies it to its store and keeps a
 * tombstone: what was deleted and V. Copies of deleted points may still
 * be on their way (a hint replayed after a peer returns, an anti-entropy
 * pull from a replica that missed the delete, a shard move): a versioned
 * point arriving with a version below V that the tombstone covers is
 * dropped instead of stored (ne_tombs_filter), while a point written
 * after the delete (version above V) is kept, as last-writer-wins wants.
 *
 * A tombstone is one of:
 *   NE_TOMB_DATABASE     every point of db;
 *   NE_TOMB_MEASUREMENT  every point of measurement meas of db;
 *   NE_TOMB_POINTS       the points of the listed series of db with
 *                        t0 <= ts <= t1 (series: ne_ring_series_hash of
 *                        measurement and tags, ascending, as the cluster
 *                        read source names series).
 *
 * Wire and disk form of one tombstone (little endian):
 *   [kind u8][version u64][db_len u16][db][meas_len u16][meas]
 *   [t0 i64][t1 i64][nseries u32]([series u64])*
 * db is 1..255 bytes; meas is empty except for NE_TOMB_MEASUREMENT (1..255
 * bytes); t0 <= t1 and nseries > 0 only for NE_TOMB_POINTS (the others
 * carry INT64_MIN, INT64_MAX, 0); series strictly ascending, at most
 * NE_TOMB_SERIES_MAX. Two tombstones are the same when their encodings
 * are equal.
 *
 * The set (struct ne_tombs) lives in one file, rewritten whole and
 * published atomically (ports: ne_fs_write_atomic) at every change:
 *
 *   [magic "NETS"][format u32 = 1][count u32]
 *   count x ([len u32][crc u32][tombstone: len bytes])
 *
 * crc is CRC32C of the tombstone bytes. A file that does not parse is a
 * hard error (it is only ever replaced whole); an unknown format too.
 *
 * Lifetime: a tombstone is forgotten once its version is older than ttl
 * (by the wall-clock milliseconds in V). After that, a copy of a deleted
 * point older than the delete can come back: a node down for longer than
 * ttl, returning with points the others deleted, spreads them again
 * through anti-entropy. ttl must therefore stay well above the hint
 * window and any outage a member is expected to come back from.
 *
 * Thread-safety: every function on a set takes its lock; ne_tombs_filter
 * a read lock, held until ne_tombs_kept_free (see there).
 */
#ifndef NE_SHARDING_TOMB_H
#define NE_SHARDING_TOMB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sharding/frame.h"
#include "store/store.h"

#define NE_TOMB_SERIES_MAX 65536u     /* series of one tombstone (a DELETE is split) */
#define NE_TOMB_LIST_MAX   (8u << 20) /* bytes of an encoded list (ne_tombs_encode) */

enum ne_tomb_kind { NE_TOMB_DATABASE = 1, NE_TOMB_MEASUREMENT = 2, NE_TOMB_POINTS = 3 };

struct ne_tomb {
    uint8_t kind;           /* enum ne_tomb_kind */
    uint64_t version;       /* the delete's version: points below it go */
    const char *db;         /* NUL-terminated */
    const char *meas;       /* NE_TOMB_MEASUREMENT: the measurement; else NULL */
    int64_t t0, t1;         /* NE_TOMB_POINTS: inclusive range */
    const uint64_t *series; /* NE_TOMB_POINTS: ascending series hashes */
    uint32_t nseries;
};

/* Appends the encoding of t to out. Returns 0, NE_EINVAL (t breaks the
 * rules above) or NE_ENOMEM. */
int ne_tomb_encode(const struct ne_tomb *t, struct ne_pbuf *out);

/* Decodes n bytes (untrusted). On success *out is one allocation holding
 * the tombstone and its strings and series (ne_free it). Returns 0,
 * NE_ECORRUPT (malformed, trailing bytes, rules broken) or NE_ENOMEM. */
int ne_tomb_decode(const uint8_t *p, size_t n, struct ne_tomb **out);

/* Whether t deletes a point of database db, measurement meas, series
 * hash `series` (ne_ring_series_hash), timestamp ts, written with
 * version ver: ver < t->version and the point lies in what t names. */
bool ne_tomb_covers(const struct ne_tomb *t, const char *db, struct ne_sv meas, uint64_t series,
                    int64_t ts, uint64_t ver);

/* Deletes from store s (borrowed) what t names, whatever the versions of
 * the points held (a later write is repaired by anti-entropy from the
 * replicas that kept it). A database or measurement already gone is
 * success. Returns 0 or the store's error. */
int ne_tomb_apply(struct ne_store *s, const struct ne_tomb *t);

/* ---- the durable set -------------------------------------------------------- */

struct ne_tombs; /* opaque */

/* Opens the set kept in path (absent: empty; its directory must exist),
 * forgetting tombstones older than ttl_ns (0: kept forever) at now_ns.
 * Returns 0 and *out (close with ne_tombs_close), NE_ECORRUPT,
 * NE_EVERSION, NE_ENOMEM or an I/O error. */
int ne_tombs_open(const char *path, int64_t ttl_ns, int64_t now_ns, struct ne_tombs **out);

/* NULL-safe; sets *pt to NULL. */
void ne_tombs_close(struct ne_tombs **pt);

/* Number of tombstones held. */
size_t ne_tombs_count(struct ne_tombs *t);

/* Points ne_tombs_filter left out since open (a monotonic count). */
uint64_t ne_tombs_dropped(struct ne_tombs *t);

/* A digest of the set: the sum (mod 2^64) of ne_ring_hash of each
 * tombstone's encoding; equal sets have equal digests, whatever the
 * order they were learned in. 0 when empty. */
uint64_t ne_tombs_digest(struct ne_tombs *t);

/* Takes in tombstone tb (borrowed) learned now_ns: when it is new and
 * not expired, it starts filtering at once, is applied to store s
 * (ne_tomb_apply) and then saved. Returns 1 (new, applied and durable),
 * 0 (already known or expired: nothing done), or an error (the store's
 * or the file's; tb is then forgotten again, so that a retry applies
 * it). Concurrent calls are serialised. */
int ne_tombs_learn(struct ne_tombs *t, struct ne_store *s, const struct ne_tomb *tb,
                   int64_t now_ns);

/* Forgets tombstones older than the ttl at now_ns and saves the set if
 * any went. Returns how many went (>= 0) or an I/O error. */
int ne_tombs_expire(struct ne_tombs *t, int64_t now_ns);

/* Appends [n u32]([len u32][tombstone])* of the tombstones held, newest
 * first, as many as fit in NE_TOMB_LIST_MAX bytes. Returns 0 or
 * NE_ENOMEM. */
int ne_tombs_encode(struct ne_tombs *t, struct ne_pbuf *out);

/* Learns (ne_tombs_learn) every tombstone of a list made by
 * ne_tombs_encode (n bytes, untrusted). *learned (may be NULL) gets how
 * many were new. Returns 0, NE_ECORRUPT (nothing learned past the
 * malformed part) or the first learning error. */
int ne_tombs_merge(struct ne_tombs *t, struct ne_store *s, const uint8_t *p, size_t n,
                   int64_t now_ns, uint32_t *learned);

/* The points of b (database db, versions ver: b->npts entries; NULL:
 * unversioned, nothing filtered) that no tombstone covers. On return
 * k->b is a shallow copy of *b (sharing its tags, fields and strings) and
 * k->ver its versions: b's own arrays when nothing is covered, else
 * arrays of the kept points owned by k. k->dropped counts the points left
 * out. Returns 0 (call ne_tombs_kept_free once the kept points are
 * written: until then the set's read lock is held, so no tombstone is
 * learned, and applied, between this filter and that write) or NE_ENOMEM
 * (k released). t may be NULL (nothing filtered). */
struct ne_tombs_kept {
    struct ne_batch b;
    const uint64_t *ver;
    uint32_t dropped;
    struct ne_point *own_pts; /* owned when points were dropped */
    uint64_t *own_ver;
    struct ne_tombs *locked; /* whose read lock is held */
};
int ne_tombs_filter(struct ne_tombs *t, const char *db, const struct ne_batch *b,
                    const uint64_t *ver, struct ne_tombs_kept *k);
void ne_tombs_kept_free(struct ne_tombs_kept *k);

#endif
