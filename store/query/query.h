/*
 * query.h - the InfluxQL executor.
 *
 * The executor runs parsed statements (store/query/influxql.h) against a
 * data source described by struct ne_qsrc (the store engine supplies one;
 * tests may supply another) and streams results to a struct ne_qout (the
 * JSON and CSV writers in store/query/output.c implement it). Results go
 * out series by series, row by row; the executor never builds a whole
 * response in memory.
 *
 * Types of cells follow InfluxDB: aggregates of integer fields stay
 * integers where InfluxDB keeps them (sum, min, max, first, last, spread,
 * mode, percentile), mean/median/stddev are floats.
 */
#ifndef NE_STORE_QUERY_QUERY_H
#define NE_STORE_QUERY_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/codec/codec.h"
#include "store/point.h"
#include "store/query/influxql.h"

/* ---- the data source ------------------------------------------------------ */

struct ne_qsrc_series {
    uint64_t id;
    const struct ne_tag *tags; /* sorted by key; borrowed for the callback */
    uint32_t ntags;
};

typedef int (*ne_qsrc_name_fn)(void *arg, const char *name);
typedef int (*ne_qsrc_series_fn)(void *arg, const struct ne_qsrc_series *s);
typedef int (*ne_qsrc_field_fn)(void *arg, const char *name, enum ne_vtype type);
/* A run of n points of one column of series series_id, sorted by time,
 * unique timestamps, within the scan's range. vals is the type's array
 * (codec.h), borrowed for the call. Return 0 to go on, non-zero to stop
 * the scan (that value is returned). */
typedef int (*ne_qsrc_points_fn)(void *arg, uint64_t series_id, const int64_t *ts,
                                 const void *vals, size_t n);
/* A whole block inside the scan's range, offered by its statistics so an
 * aggregate need not decode it. Return 1 if the stats were used, 0 to have
 * the points delivered through the points callback instead. */
typedef int (*ne_qsrc_block_fn)(void *arg, uint64_t series_id, const struct ne_block_stats *st);

struct ne_qsrc {
    void *ctx;
    int (*databases)(void *ctx, ne_qsrc_name_fn fn, void *arg);
    int (*measurements)(void *ctx, const char *db, ne_qsrc_name_fn fn, void *arg);
    /* Series of a measurement, in ascending order of their series key. */
    int (*series)(void *ctx, const char *db, const char *meas, ne_qsrc_series_fn fn, void *arg);
    /* Field keys of a measurement, sorted by name. */
    int (*fields)(void *ctx, const char *db, const char *meas, ne_qsrc_field_fn fn, void *arg);
    /* Optional (may be NULL: the executor then reads every series): the
     * distinct values of tag key among the measurement's series, ascending
     * in byte order, each once, read from an index and appended to the
     * array *vals (*n used, *cap allocated, grown with ne_realloc, freed
     * by the executor). The views must stay valid until the source is
     * closed (the executor keeps them, uncopied, for the rest of the
     * statement). A missing measurement or key appends nothing. */
    int (*tag_values)(void *ctx, const char *db, const char *meas, const char *key,
                      struct ne_sv **vals, size_t *n, size_t *cap);
    /* Optional, with tag_values: the tag keys the measurement's series
     * have, each once, in any order, appended the same way (views valid
     * until the source is closed). */
    int (*tag_keys)(void *ctx, const char *db, const char *meas, struct ne_sv **keys, size_t *n,
                    size_t *cap);
    /* Points of field in [t0, t1] (inclusive) of the series whose ids are
     * listed (ascending), each series' points ascending in time with the
     * newest write winning per timestamp. block_fn may be NULL. */
    int (*scan)(void *ctx, const char *db, const char *meas, const uint64_t *ids, size_t nids,
                const char *field, enum ne_vtype type, int64_t t0, int64_t t1,
                ne_qsrc_points_fn points_fn, ne_qsrc_block_fn block_fn, void *arg);
    /* Statements that change data; NULL -> "not supported" errors. Each
     * returns once the change is durable; NE_ENOTFOUND for a missing
     * database (or measurement). */
    int (*create_database)(void *ctx, const char *db);
    int (*drop_database)(void *ctx, const char *db);
    int (*drop_measurement)(void *ctx, const char *db, const char *meas);
    /* Deletes the points in [t0, t1] (inclusive) of the series listed
     * (ascending ids, of any measurements of db; n may be 0 when the
     * WHERE picked none). */
    int (*delete_points)(void *ctx, const char *db, const uint64_t *series_ids, size_t n,
                         int64_t t0, int64_t t1);
    /* Optional (may be NULL): hands fn, one text each, the warnings the
     * source gathered since the last call (e.g. parts of a distributed
     * answer that could not be read) and forgets them. The executor calls
     * it as each statement ends and passes them to ne_qout.message. */
    int (*warnings)(void *ctx, ne_qsrc_name_fn fn, void *arg);
    /* true if scan may run on two threads at once (over disjoint series):
     * a large aggregate then reads half of its series on a thread of its
     * own. */
    bool parallel_scan;
};

/* Fills out with a source that reads the local store s (borrowed; out is
 * valid while s is open). Defined in store/query/store_src.c. */
struct ne_store;
void ne_store_qsrc(struct ne_store *s, struct ne_qsrc *out);

/* ---- the output ------------------------------------------------------------- */

enum ne_qcell_type {
    NE_QC_NULL = 0,
    NE_QC_FLOAT,
    NE_QC_INT,
    NE_QC_UINT,
    NE_QC_BOOL,
    NE_QC_STRING,
    NE_QC_TIME, /* i: ns since the epoch; printed per the epoch option */
};

struct ne_qcell {
    uint8_t type;
    union {
        double f;
        int64_t i;
        uint64_t u;
        bool b;
        struct ne_sv s;
    } v;
};

/* How a chunked writer cuts a statement's answer into responses, as
 * InfluxDB 1.x does (its SELECT emitter versus its meta executors):
 *   NE_QCHUNK_ROWS    SELECT, SHOW SERIES, SHOW FIELD KEYS: each series goes
 *                     in responses of at most chunk_size rows; every
 *                     response but the statement's last says "partial",
 *                     and so does a series part that continues in the next;
 *   NE_QCHUNK_SERIES  the other SHOWs: one response per series, never cut,
 *                     never "partial". */
enum ne_qchunking { NE_QCHUNK_ROWS = 0, NE_QCHUNK_SERIES };

struct ne_qout {
    void *ctx;
    /* statement_id starts a statement's result; every statement gets
     * exactly one begin/end pair. */
    int (*begin_statement)(void *ctx, int statement_id);
    /* Optional (may be NULL): called right after begin_statement. */
    int (*chunking)(void *ctx, enum ne_qchunking how);
    int (*begin_series)(void *ctx, const char *name, const struct ne_tag *tags, size_t ntags,
                        const char *const *columns, size_t ncols);
    int (*row)(void *ctx, const struct ne_qcell *cells, size_t n);
    /* Optional (may be NULL: row is called once per row instead): n rows
     * of two string cells, first (the same on every row) and second[i],
     * as n calls of row would write them. Both borrowed for the call. */
    int (*rows_str2)(void *ctx, struct ne_sv first, const struct ne_sv *second, size_t n);
    int (*end_series)(void *ctx);
    /* Optional (may be NULL): a message on the statement's result, level
     * "warning" (JSON: "messages":[{"level":..,"text":..}]), called after
     * its series and before end_statement. */
    int (*message)(void *ctx, const char *level, const char *text);
    /* msg == NULL: success. A statement with an error has no series. */
    int (*end_statement)(void *ctx, const char *error);
};

struct ne_query_opts {
    const char *db;  /* default database (the db= parameter), may be NULL */
    int64_t now_ns;  /* value of now() */
    uint64_t max_rows_per_series; /* 0: unlimited */
    uint64_t max_buckets;         /* GROUP BY time buckets per series; 0: 1,000,000 */
    uint64_t raw_window_values;   /* raw SELECT: field values of a group read at a
                                     time (a time window); 0: 524,288 (select_raw.c) */
};

/* Runs every statement of q in order. Errors of one statement are reported
 * through out->end_statement and do not stop the next statement (InfluxDB
 * does so). Returns 0, or the first non-zero value an output callback
 * returned (e.g. the client went away). */
int ne_query_run(const struct ne_qsrc *src, const struct ne_query_opts *opts,
                 const struct ne_iql_query *q, const struct ne_qout *out);

/* Parses text and runs it: a syntax error becomes one statement with an
 * error, as InfluxDB answers. */
int ne_query_text(const struct ne_qsrc *src, const struct ne_query_opts *opts, const char *text,
                  size_t len, const struct ne_qout *out);

/* ---- writers -------------------------------------------------------------------- */

enum ne_qfmt { NE_QFMT_JSON = 0, NE_QFMT_CSV, NE_QFMT_TABLE };

/* Epoch precision for times: NULL/"" = RFC3339 strings, or "ns", "u", "µ",
 * "ms", "s", "m", "h" = integers in that unit. */
struct ne_qwriter_opts {
    enum ne_qfmt format;
    const char *epoch;
    bool pretty;
    /* Called with each chunk of output text; returns 0 or non-zero to stop. */
    int (*emit)(void *ctx, const char *p, size_t n);
    void *emit_ctx;
    /* JSON: InfluxDB's chunked=true form, one response object per line
     * (see enum ne_qchunking), each line passed to emit as it ends (long
     * lines in 64 KiB pieces). CSV: the same text as unchunked, passed to
     * emit every chunk_size rows and at the end of each statement. The
     * table format ignores it. chunk_size: rows per response, 0 = 10000. */
    bool chunked;
    size_t chunk_size;
    /* Unchunked only: the writer keeps the whole answer in its buffer
     * instead of passing it to emit (which may then be NULL), for the
     * caller to take with ne_qwriter_take: an HTTP body sent as it is,
     * without a copy. */
    bool keep;
};

struct ne_qwriter; /* opaque; buffers output and flushes it through emit */

/* Creates a writer; *out owns it (ne_qwriter_free). 0 or NE_EINVAL/NE_ENOMEM. */
int ne_qwriter_new(const struct ne_qwriter_opts *o, struct ne_qwriter **out);
/* The ne_qout that writes through w (valid while w lives). */
const struct ne_qout *ne_qwriter_out(struct ne_qwriter *w);
/* Writes the closing text (JSON "]}") and flushes. */
int ne_qwriter_finish(struct ne_qwriter *w);
/* A keeping writer's text so far, handed over: *p (the caller frees it
 * with ne_free; NULL when empty) and its length *n; the writer is empty
 * after. 0, NE_ENOMEM when the writer ran out of memory (nothing handed
 * over), or the error that stopped it. */
int ne_qwriter_take(struct ne_qwriter *w, char **p, size_t *n);
void ne_qwriter_free(struct ne_qwriter **wp);

/* ---- streaming an answer ---------------------------------------------------------- */

/* A query that runs on a thread of its own and writes its answer into a
 * bounded buffer the caller drains: an HTTP body that streams while the
 * executor works, with memory bounded by max_buffered plus one writer
 * emit (one chunk line, or 64 KiB). */
struct ne_qstream; /* opaque */

struct ne_qstream_opts {
    const struct ne_qsrc *src;         /* copied; its store must outlive the stream */
    const struct ne_query_opts *qopts; /* copied (db too) */
    struct ne_qwriter_opts wopts;      /* emit and emit_ctx are set by the stream */
    size_t max_buffered;               /* 0: 64 KiB */
};

/* Starts running q. On success the stream owns q and *out owns the stream
 * (ne_qstream_free); on failure q stays the caller's. 0, NE_EINVAL or
 * NE_ENOMEM. */
int ne_qstream_start(const struct ne_qstream_opts *o, struct ne_iql_query *q,
                     struct ne_qstream **out);

/* Copies up to max bytes of the answer into buf, waiting until some are
 * there. Returns how many, 0 once the whole answer was read, or a
 * negative NE_E* code if the query stopped on an error after what was
 * read (e.g. a writer failure; statement errors are part of the answer). */
long ne_qstream_read(struct ne_qstream *st, char *buf, size_t max);

/* Stops the query if it still runs (its next output fails), waits for its
 * thread and frees everything. NULL-safe; sets *sp to NULL. */
void ne_qstream_free(struct ne_qstream **sp);

/* The text forms the writers use (shortest round-trip float without an
 * exponent in [1e-6, 1e21); RFC3339 with trimmed fraction). Return the
 * length written (truncated to cap). */
size_t ne_query_format_float(double v, char *out, size_t cap);
size_t ne_query_format_time(int64_t ns, char *out, size_t cap);

#endif
