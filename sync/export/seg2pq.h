/*
 * seg2pq.h - turns a sealed store segment into Parquet objects for cloud
 * sync: one object per (database, measurement, UTC hour) with data.
 *
 * A segment holds columns keyed by (series id, field); the text of a
 * series (measurement and tags) lives in the store's series index, not in
 * the file, so the converter asks a resolver for it (ne_seg2pq_resolve_store
 * wraps ne_store_series_info). The database name comes from the segment.
 *
 * Object schema (columns in this order):
 *
 *   time      NE_PQ_TIME   the point's timestamp (ns, UTC), never null
 *   <tag>...  NE_PQ_TAG    every tag key of the measurement's series in the
 *                          segment, sorted by key bytes; null where a series
 *                          lacks the tag
 *   <field>.. typed        every field of the measurement's columns in the
 *                          segment, sorted by name bytes; null where a point
 *                          lacks the field:
 *                            float -> NE_PQ_DOUBLE    int  -> NE_PQ_INT64
 *                            uint  -> NE_PQ_INT64     bool -> NE_PQ_BOOL
 *                            string -> NE_PQ_STRING
 *
 * Every object of one measurement in one segment has the same schema, even
 * where a column is all null in that hour.
 *
 * Unsigned fields: Parquet INT64 is signed and the writer has no unsigned
 * logical type, so a uint value above INT64_MAX is written as null and
 * counted in ne_seg2pq_stats.uint_nulled (values up to INT64_MAX are exact).
 *
 * Column names: tags keep their key and fields their name, except where
 * names collide:
 *   - a field whose name has several types in the measurement (types are
 *     per series in the store) keeps the plain name for the type InfluxDB
 *     prefers (float, integer, unsigned, string, boolean, in this order);
 *     the others become "<name>_<type>" with InfluxDB's type names
 *     ("integer", "unsigned", "string", "boolean");
 *   - a tag key "time" becomes "time_tag";
 *   - a field named "time" or like a tag column becomes "<name>_field"
 *     (InfluxQL tells such a pair apart with ::field, Parquet cannot);
 *   - if a renamed column still collides, "2", "3", ... is appended to the
 *     suffix ("x_field2"). Tag columns are named before field columns.
 *   NUL bytes in a name (never in line protocol) are written as "%00", an
 *   empty name (never from the store) as "_".
 *
 * Rows: one per (series, timestamp) holding that series' field values at
 * that timestamp (a segment column has unique timestamps). Series come in
 * id order, each series' rows in time order.
 *
 * Footer key_value_metadata: neoedge.segment (16 lower-case hex digits of
 * the segment id), neoedge.node (when opts.node is set), neoedge.db,
 * neoedge.measurement, neoedge.hour ("YYYY-MM-DDTHH:00:00Z"), then
 * opts.pq.kv.
 *
 * Output is deterministic: the same segment, resolver answers and options
 * give the same objects in the same order, byte for byte (a retried upload
 * rewrites the same object under the same key).
 *
 * Memory is bounded by what one object needs (the Parquet writer's row
 * group, one decoded block per field of the series being written, a batch
 * of rows) plus per-series and per-column bookkeeping of the segment
 * (its measurement and tag text, 17 bytes per column). Blocks are decoded
 * one at a time, hour by hour; a block spanning several hours is decoded
 * once per hour it covers.
 */
#ifndef NE_SYNC_EXPORT_SEG2PQ_H
#define NE_SYNC_EXPORT_SEG2PQ_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "sync/parquet/parquet.h"

/* One finished object, handed to ne_seg2pq_fn. Everything is borrowed for
 * the duration of the call. */
struct ne_seg2pq_obj {
    uint64_t seg_id;
    uint64_t index; /* position in the segment's object order, from 0
                       (skip = index + 1 resumes after this object) */
    const char *db, *measurement;
    int64_t hour_start_ns; /* first ns of the UTC hour */
    /* "db=<db>/measurement=<m>/date=YYYY-MM-DD/hour=HH": Hive-style
     * partition path, db and measurement percent-encoded (ne_seg2pq_escape).
     * The caller adds its prefix and a file name. */
    const char *key_suffix;
    uint64_t rows;    /* rows in the object */
    uint64_t values;  /* non-null field values in it */
    uint64_t bytes;   /* file size */
    const char *path; /* the spooled Parquet file, fdatasync'ed */
};

/* Upload callback: returns 0 to go on, non-zero to stop the conversion
 * (that value is returned by ne_seg2pq_convert). The file at obj->path is
 * deleted when it returns, whatever it returns. */
typedef int (*ne_seg2pq_fn)(void *ctx, const struct ne_seg2pq_obj *obj);

/* Series resolver: fills *out with the identity of series_id and returns
 * 0, NE_ENOTFOUND for an unknown series, or another negative NE_E* code
 * (which stops the conversion). The strings in *out need only live until
 * the resolver is called again (the converter copies them). */
typedef int (*ne_seg2pq_resolve_fn)(void *ctx, uint64_t series_id, struct ne_series_info *out);

/* A resolver over an open store: ctx is the struct ne_store *. */
int ne_seg2pq_resolve_store(void *ctx, uint64_t series_id, struct ne_series_info *out);

struct ne_seg2pq_opts {
    const char *spool_dir;        /* existing directory for the object files */
    ne_seg2pq_resolve_fn resolve; /* required */
    void *resolve_ctx;
    const char *node;     /* neoedge.node metadata; NULL: left out */
    struct ne_pq_opts pq; /* writer options (zero fields: defaults);
                             pq.kv is appended to our metadata */
};

/* What a conversion did. */
struct ne_seg2pq_stats {
    uint64_t objects;        /* objects handed to fn */
    uint64_t skipped;        /* objects left out because of skip */
    uint64_t rows, values;   /* rows / non-null field values of those objects */
    uint64_t bytes;          /* Parquet bytes of those objects */
    uint64_t uint_nulled;    /* unsigned values > INT64_MAX written as null */
    uint64_t unknown_series; /* series the resolver did not know: left out */
    uint64_t unknown_values; /* their field values */
};

/* Converts the segment at seg_path. For each (db, measurement, hour) with
 * data, in ascending order of db name, measurement name (bytes) and hour,
 * writes the object to "<spool_dir>/<16 hex seg id>-<index>.parquet"
 * (replacing a stale file of that name), fdatasyncs it, calls fn and
 * deletes the file. The first `skip` objects are neither written nor
 * handed to fn (a resumed upload skips what was delivered).
 * A series the resolver does not know is left out (logged once, counted in
 * st). st may be NULL; it is zeroed first and counts what was done even on
 * failure.
 * Returns 0, fn's non-zero value, NE_EINVAL (bad options), NE_ETOOBIG
 * (a measurement with more columns than NE_PQ_MAX_COLS), NE_ECORRUPT /
 * NE_ECHECKSUM / NE_EVERSION (bad segment), the resolver's error, or an
 * I/O or memory error. */
int ne_seg2pq_convert(const char *seg_path, const struct ne_seg2pq_opts *o, uint64_t skip,
                      ne_seg2pq_fn fn, void *ctx, struct ne_seg2pq_stats *st);

/* Percent-encodes a partition value into out (n bytes, NUL-terminated):
 * '/', '%', '=', bytes below 0x20 and 0x7f become "%XX" (upper-case hex);
 * everything else, UTF-8 included, is kept. Returns the length written, or
 * NE_ERANGE if out is too small (3 * len + 1 always suffices). */
int ne_seg2pq_escape(const char *s, size_t len, char *out, size_t n);

/* Removes files left in spool_dir by an interrupted conversion (names
 * "<16 hex>-<digits>.parquet"); other files are kept. Returns 0 or an I/O
 * error. */
int ne_seg2pq_clean_spool(const char *spool_dir);

#endif
