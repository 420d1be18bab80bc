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

#include "ports/platform.h"
#include "store/point.h"

enum ne_store_durability { NE_STORE_SYNC = 0, NE_STORE_INTERVAL, NE_STORE_NONE };

struct ne_store_opts {
    const char *data_dir;  /* the store lives in data_dir/store (borrowed) */
    enum ne_store_durability durability;
    int64_t max_loss_ns;           /* interval: fdatasync at least this often */
    uint64_t memtable_bytes;       /* budget for all memtables together */
    int64_t memtable_max_age_ns;   /* seal a memtable older than this */
    uint64_t segment_target_bytes; /* compaction target size */
    int64_t late_window_ns;        /* 0: accept any age */
    int64_t future_grace_ns;       /* reject points further ahead than this */
    uint64_t max_series_per_db;          /* 0: unlimited */
    uint64_t max_series_per_measurement; /* 0: unlimited */
    int64_t retention_max_age_ns;        /* 0: forever */
    uint64_t retention_max_disk_bytes;   /* 0: no budget */
    bool retention_evict_unsynced;
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
 *   NE_EBUSY    backpressure: the memtable budget is full and flushing lags;
 *   NE_ENOSPC   the disk is full (the WAL stays intact; resumes when space
 *               returns);
 *   NE_EFAILED  an fsync failed: nothing is acknowledged until the store has
 *               reopened and replayed its WAL (it does so by itself).
 * The batch is borrowed for the duration of the call. */
int ne_store_write(struct ne_store *s, const char *db, const struct ne_batch *b,
                   struct ne_write_result *res);

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

#endif
