/*
 * store.h - the local columnar time-series store (public API).
 *
 * Write path: ne_store_write takes a batch (store/point.h) and returns only
 * when the configured durability is reached: WAL (group commit) ->
 * memtable -> immutable compressed segments. Read path and tools: see the
 * sections below. Thread-safe: any thread may call any function.
 */
#ifndef NE_STORE_STORE_H
#define NE_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <stdio.h>

#include "ports/platform.h"
#include "store/point.h"
#include "store/segment/segment.h"

enum ne_store_durability { NE_STORE_SYNC = 0, NE_STORE_INTERVAL, NE_STORE_NONE };

struct ne_store_opts {
    const char *data_dir;  /* the store lives in data_dir/store (borrowed) */
    enum ne_store_durability durability;
    int64_t max_loss_ns;           /* interval: fdatasync at least this often */
    uint64_t memtable_bytes;       /* budget for all memtables together */
    int64_t memtable_max_age_ns;   /* seal a memtable older than this */
    uint64_t segment_target_bytes; /* compaction target size */
    int64_t late_window_ns;        /* 0: accept any age */
    int64_t future_grace_ns;       /* reject points further ahead than this
                                      (0: no limit) */
    uint64_t max_series_per_db;          /* 0: unlimited */
    uint64_t max_series_per_measurement; /* 0: unlimited */
    int64_t retention_max_age_ns;        /* 0: forever */
    uint64_t retention_max_disk_bytes;   /* 0: no budget */
    bool retention_evict_unsynced;
    /* Cloud sync is configured: segments holding WAL sequence numbers
     * above the synced mark (ne_store_set_synced_seq; 0 until set) are
     * neither compacted nor evicted, except that with
     * retention_evict_unsynced they go after every synced segment. */
    bool hold_for_sync;
};

/* Fills opts with the defaults (interval, 100 ms, 16 MiB, ...). */
void ne_store_opts_default(struct ne_store_opts *o);

struct ne_store; /* opaque */

/* Why a point was not stored. */
enum ne_reject {
    NE_REJ_FUTURE = 0,   /* timestamp beyond future_grace */
    NE_REJ_TOO_OLD,      /* older than late_window */
    NE_REJ_TYPE,         /* field type conflicts with its column */
    NE_REJ_CARDINALITY,  /* new series over a series limit */
    NE_REJ_INVALID,      /* empty names, bad characters, ... */
    NE_REJ__COUNT,
};
const char *ne_reject_name(enum ne_reject r); /* "future", "too_old", ... */

struct ne_write_result {
    uint32_t accepted;              /* points stored */
    uint32_t rejected;              /* points refused, sum of by_reason */
    uint32_t by_reason[NE_REJ__COUNT];
    char first_error[256];          /* text naming the first refused point */
};

/* Opens (creating if needed) the store under opts->data_dir, replaying the
 * WAL. On success *out owns the store: close with ne_store_close. */
int ne_store_open(const struct ne_store_opts *opts, struct ne_store **out);

/* Flushes memtables to segments, syncs, frees. Sets *sp to NULL. */
void ne_store_close(struct ne_store **sp);

/* Writes the batch into database db (created on first write). Points with
 * NE_TS_UNSET get the arrival time. Returns 0 when every accepted point has
 * reached the configured durability (res says how many were accepted and
 * why others were refused; a refused point never blocks the rest).
 * Returns, with nothing of the batch stored:
 *   NE_EBUSY    backpressure: the memtable budget is full and flushing lags
 *               (the call first waits up to 1 s for a flush in progress);
 *   NE_ENOSPC   the disk is full (the WAL stays intact; resumes when space
 *               returns);
 *   NE_EFAILED  an fsync failed: nothing is acknowledged until the store has
 *               reopened and replayed its WAL (it does so by itself).
 * The batch is borrowed for the duration of the call. */
int ne_store_write(struct ne_store *s, const char *db, const struct ne_batch *b,
                   struct ne_write_result *res);

/* Same as ne_store_write, each point b->pts[i] carrying a last-writer-wins
 * version ver[i] (ver borrowed, b->npts entries; an opaque uint64, greater
 * wins, 0 meaning none). For one (series, field, timestamp) the store then
 * keeps, in memtables, segments, compaction and reads alike, the value
 * with the greatest version; between equal nonzero versions the larger
 * value (so every replica keeps the same one: store/lww.h); between
 * unversioned writes (version 0) the later, as with ne_store_write. */
int ne_store_write_versioned(struct ne_store *s, const char *db, const struct ne_batch *b,
                             const uint64_t *ver, struct ne_write_result *res);

/* Seals every memtable into a segment now and waits for it. */
int ne_store_flush(struct ne_store *s);

/* Figures for /metrics, /health and the console. */
struct ne_store_stats {
    uint64_t points_written, values_written;
    uint64_t wal_bytes, segment_bytes, segments;
    uint64_t memtable_bytes, series;
    uint64_t disk_budget_bytes; /* 0 if none */
    bool disk_full, failed;
    char why[128]; /* why not healthy, "" if healthy */
};
void ne_store_stats(struct ne_store *s, struct ne_store_stats *out);

/* ---- reads (query engine, tools, tests) ------------------------------------ */

/* A series as reads present it. Everything is borrowed from the store's
 * index and valid until ne_store_close (the index only grows: a deleted
 * series stays in it, marked, and is no longer listed or read). */
struct ne_series_info {
    uint64_t id;
    const char *db;
    const char *measurement;
    const struct ne_tag *tags; /* sorted by key; views are NUL-terminated */
    uint32_t ntags;
};

/* A run of one column (series + field) in time order, unique timestamps,
 * last writer wins already applied. Arrays are borrowed for the callback. */
struct ne_scan_chunk {
    const struct ne_series_info *series;
    const char *field;
    enum ne_vtype type;
    size_t n;
    const int64_t *ts;
    union {
        const double *f;
        const int64_t *i;
        const uint64_t *u;
        const bool *b;
        const struct ne_sv *s;
    } v;
    const uint64_t *ver; /* n LWW versions, or NULL when none is stored */
};

/* Whole-block statistics, for aggregates that need no decoding. */
struct ne_scan_block {
    const struct ne_series_info *series;
    const char *field;
    enum ne_vtype type;
    const struct ne_block_stats *stats; /* store/codec/codec.h */
};

/* Series filter: return true to read the series. */
typedef bool (*ne_store_filter_fn)(void *ctx, const struct ne_series_info *s);
/* Chunk callback: return 0 to go on, non-zero to stop (returned by scan). */
typedef int (*ne_store_chunk_fn)(void *ctx, const struct ne_scan_chunk *c);
typedef int (*ne_store_block_fn)(void *ctx, const struct ne_scan_block *b);

struct ne_store_scan_req {
    const char *db;
    const char *measurement;
    ne_store_filter_fn filter; /* NULL: every series of the measurement */
    void *filter_ctx;
    const char *field; /* NULL: every field */
    int64_t t0, t1;    /* inclusive range */
};

/* Reads every matching column: calls fn once per (series, field) that has
 * points in [t0, t1], merging segments and memtables (on equal
 * series/field/timestamp the greatest version wins, then the newest write). Series come in creation order. Callbacks
 * run without store locks held but must not close the store.
 * Returns 0, NE_ENOTFOUND (no such database or measurement), the callback's
 * non-zero value, or an I/O / data error from a segment. */
int ne_store_scan(struct ne_store *s, const struct ne_store_scan_req *q, ne_store_chunk_fn fn,
                  void *ctx);

/* Same, but a segment block that lies wholly inside [t0, t1] and that no
 * other segment or memtable overlaps in time for its column is first
 * offered to block_fn as statistics: block_fn returns 1 if it used them
 * (the block is not decoded), 0 to decline (the block is decoded and its
 * points go to fn like the rest), or a negative error that stops the scan. */
int ne_store_scan_blocks(struct ne_store *s, const struct ne_store_scan_req *q,
                         ne_store_chunk_fn fn, ne_store_block_fn block_fn, void *ctx);

/* ---- metadata lookups (SHOW DATABASES / MEASUREMENTS / TAG KEYS ...) -------- */

/* Callbacks run with the store lock held: they must not call the store.
 * Return 0 to go on, non-zero to stop (that value is returned). */
typedef int (*ne_store_name_fn)(void *ctx, const char *name);
typedef int (*ne_store_series_fn)(void *ctx, const struct ne_series_info *s);
typedef int (*ne_store_field_fn)(void *ctx, const char *name, enum ne_vtype type);

int ne_store_list_databases(struct ne_store *s, ne_store_name_fn fn, void *ctx);
/* Creates an empty database (CREATE DATABASE); an existing one is fine.
 * Its record reaches the series log with the next flush or at close, so an
 * empty database created just before a crash may be gone after it (writing
 * into it creates it again). 0, NE_EINVAL (empty or over 255 bytes),
 * NE_ENOMEM. */
int ne_store_create_database(struct ne_store *s, const char *name);
/* NE_ENOTFOUND if db is unknown. */
int ne_store_list_measurements(struct ne_store *s, const char *db, ne_store_name_fn fn,
                               void *ctx);
int ne_store_list_series(struct ne_store *s, const char *db, const char *measurement,
                         ne_store_series_fn fn, void *ctx);
/* Distinct tag keys / values of a measurement, sorted, each once. */
int ne_store_tag_keys(struct ne_store *s, const char *db, const char *measurement,
                      ne_store_name_fn fn, void *ctx);
int ne_store_tag_values(struct ne_store *s, const char *db, const char *measurement,
                        const char *key, ne_store_name_fn fn, void *ctx);
/* The same values as views with their lengths, read from the series
 * index's sorted value list of the tag key (no walk over the series),
 * appended to the caller's array *vals (*n used, *cap allocated; grown
 * with ne_realloc; the caller frees it). The views stay valid while the
 * store is open (the index only grows). 0; NE_ENOTFOUND for an unknown
 * database or measurement (a key no series has appends nothing);
 * NE_ENOMEM. */
int ne_store_tag_value_views(struct ne_store *s, const char *db, const char *measurement,
                             const char *key, struct ne_sv **vals, size_t *n, size_t *cap);
/* The tag keys live series of the measurement have, unsorted, each once,
 * appended the same way (views valid while the store is open). */
int ne_store_tag_key_views(struct ne_store *s, const char *db, const char *measurement,
                           struct ne_sv **keys, size_t *n, size_t *cap);
/* Field keys with their type, sorted by name, each once. */
int ne_store_field_keys(struct ne_store *s, const char *db, const char *measurement,
                        ne_store_field_fn fn, void *ctx);
/* Series of a measurement having tag key=value (postings lookup). */
int ne_store_series_with_tag(struct ne_store *s, const char *db, const char *measurement,
                             const char *key, const char *value, ne_store_series_fn fn,
                             void *ctx);

/* ---- deletion (DROP DATABASE, DROP MEASUREMENT, DELETE) ---------------------- */

/* Each of these flushes the memtables first (writes wait meanwhile), logs
 * the deletion durably (fdatasync) and only then returns 0: from then on
 * no read, listing or restart (crash included) shows the deleted points,
 * and a later write at the same series and timestamps is visible again.
 * Disk space comes back when compaction rewrites or removes the segments
 * (at once for a synced segment holding nothing else); segments not yet
 * delivered to every sink (opts.hold_for_sync) keep their bytes until
 * they are, and reads filter them. Errors: NE_EINVAL (bad arguments),
 * NE_EFAILED (the store is recovering), an I/O error of the flush or the
 * log (nothing was deleted), NE_ENOMEM. */

/* Removes database db: its series and points; SHOW and writes see it no
 * more (a write or ne_store_create_database makes it again, empty).
 * NE_ENOTFOUND if db is unknown. */
int ne_store_drop_database(struct ne_store *s, const char *db);

/* Removes measurement of db, its series and points. NE_ENOTFOUND if db or
 * the measurement is unknown (or already has no series). */
int ne_store_drop_measurement(struct ne_store *s, const char *db, const char *measurement);

struct ne_store_delete_req {
    const char *db;
    const char *measurement;   /* NULL: every measurement of db */
    ne_store_filter_fn filter; /* NULL: every series. Called under the store
                                  lock: it must not call the store. */
    void *filter_ctx;
    int64_t t0, t1;            /* inclusive; INT64_MIN..INT64_MAX: all time */
};

/* Deletes the points of the series filter picks with t0 <= ts <= t1 (the
 * request is borrowed). A series left with no point leaves the index
 * (SHOW, cardinality); the others keep their remaining points. Returns 0
 * also when nothing matched; NE_ENOTFOUND if db is unknown. */
int ne_store_delete(struct ne_store *s, const struct ne_store_delete_req *r);

/* ---- maintenance hooks ------------------------------------------------------ */

/* ---- sealed segments, for cloud sync (sync/sink) ------------------------------ */

/* A published segment as sync sees it. Flush segments hold disjoint,
 * increasing ranges of WAL sequence numbers, so "every sequence number up
 * to N is delivered" is a sink's whole cursor. */
struct ne_store_seg_desc {
    uint64_t id;               /* file name <id as 16 hex>.seg */
    uint64_t seq_min, seq_max; /* WAL sequence numbers it holds */
    int64_t min_ts, max_ts;    /* point timestamps */
    int64_t sealed_ns;         /* wall time it was written (file mtime after a restart) */
    uint64_t bytes;            /* file size */
    uint64_t points;           /* field values */
    char path[256];            /* full path; the file may be removed once the
                                  segment is synced (open it to keep it) */
};

/* Fills out[0..max) with the segments whose seq_max > after_seq, oldest
 * (lowest seq_min) first, and returns how many it wrote. *backlog (may be
 * NULL) gets the count and bytes of all such segments and the sealed time
 * of the oldest. */
struct ne_store_backlog {
    uint64_t segments, bytes;
    int64_t oldest_sealed_ns; /* 0 when none */
};
size_t ne_store_segments_after(struct ne_store *s, uint64_t after_seq,
                               struct ne_store_seg_desc *out, size_t max,
                               struct ne_store_backlog *backlog);

/* The sync mark: every WAL sequence number <= seq has been delivered to
 * every sink (the minimum of the sinks' cursors). With opts.hold_for_sync,
 * segments above it are kept out of compaction and retention (see there).
 * Never moves backwards. */
void ne_store_set_synced_seq(struct ne_store *s, uint64_t seq);

/* The identity of series id (from a segment column): borrowed from the
 * index, valid until ne_store_close. 0 or NE_ENOTFOUND. */
int ne_store_series_info(struct ne_store *s, uint64_t id, struct ne_series_info *out);

/* Runs retention and compaction now, until nothing is left to do
 * (normally done in the background). Returns 0 or the first error. */
int ne_store_compact(struct ne_store *s);

/* ---- tools (`neoedge inspect wal PATH`, `neoedge verify DATA_DIR`) ----------- */

/* Prints every record of one WAL file. Returns 0 if the file is valid to its
 * end, NE_ECORRUPT if it has a torn tail or corruption (described). */
int ne_store_inspect_wal(const char *path, FILE *out);

/* Checks a store offline: series log, every WAL file, every segment
 * (checksums, structure), leftovers (quarantined files). Prints a report
 * to out; returns 0 if healthy, else the first error found. The store must
 * not be open in another process. */
int ne_store_verify_dir(const char *data_dir, FILE *out);

#endif
