/*
 * parquet.h - streaming Apache Parquet writer for cloud sync.
 *
 * The writer takes columnar batches (one array per column plus an optional
 * validity bitmap) and hands the file's bytes to a sink callback as they are
 * produced, so an uploader can stream them without a temporary file. Rows
 * are buffered for one row group at a time (bounded by row count and by
 * encoded bytes); each finished row group is written to the sink in one go,
 * and ne_pq_close writes the footer.
 *
 * Column kinds and how they are stored:
 *
 *   kind          physical    logical / converted    repetition  encoding
 *   NE_PQ_TIME    INT64       TIMESTAMP(UTC, NANOS)  REQUIRED    DELTA_BINARY_PACKED
 *   NE_PQ_TAG     BYTE_ARRAY  STRING / UTF8          OPTIONAL    RLE_DICTIONARY *
 *   NE_PQ_DOUBLE  DOUBLE      -                      OPTIONAL    RLE_DICTIONARY *
 *   NE_PQ_INT64   INT64       -                      OPTIONAL    RLE_DICTIONARY *
 *   NE_PQ_BOOL    BOOLEAN     -                      OPTIONAL    PLAIN
 *   NE_PQ_STRING  BYTE_ARRAY  STRING / UTF8          OPTIONAL    RLE_DICTIONARY *
 *
 *   (no converted type exists for nanosecond timestamps: LogicalType only)
 *   * with a PLAIN dictionary page; PLAIN data pages for the rest of a
 *     column chunk once its dictionary would pass ne_pq_opts.dict_bytes.
 *
 * Pages are data page v1, definition levels RLE/bit-packed hybrid (width 1),
 * every page compressed with ZSTD. Each column chunk carries statistics
 * (min_value/max_value/null_count; legacy min/max too for INT64, DOUBLE and
 * BOOLEAN, whose legacy signed order is correct). NaN never enters double
 * min/max; a zero minimum is written as -0.0 and a zero maximum as +0.0, as
 * the format asks.
 *
 * Output is deterministic: the same schema, options and rows (split into
 * batches in any way) give byte-identical files, so a retried upload
 * rewrites the same object.
 *
 * A writer is not thread-safe: one thread uses it at a time.
 *
 * Errors: every call returns 0 or a negative NE_E* code (ports/err.h). After
 * any failure (sink error, allocation failure) the writer is failed: later
 * writes return NE_EFAILED; ne_pq_close still releases it.
 */
#ifndef NE_SYNC_PARQUET_H
#define NE_SYNC_PARQUET_H

#include <stddef.h>
#include <stdint.h>

enum ne_pq_kind {
    NE_PQ_TIME = 0, /* int64 nanoseconds since the Unix epoch, never null */
    NE_PQ_TAG,      /* UTF-8 string, low cardinality */
    NE_PQ_DOUBLE,   /* IEEE 754 double */
    NE_PQ_INT64,    /* signed 64-bit integer */
    NE_PQ_BOOL,     /* boolean, one byte per row (0 = false, else true) */
    NE_PQ_STRING,   /* UTF-8 string field */
};

struct ne_pq_column {
    const char *name; /* borrowed during ne_pq_open only (copied) */
    enum ne_pq_kind kind;
};

struct ne_pq_schema {
    const struct ne_pq_column *cols;
    size_t ncols; /* 1..NE_PQ_MAX_COLS, names unique and non-empty */
};

#define NE_PQ_MAX_COLS 4096

struct ne_pq_kv {
    const char *key;   /* borrowed during ne_pq_open only (copied) */
    const char *value; /* may be NULL */
};

/* Options; zero fields take the defaults in brackets. */
struct ne_pq_opts {
    uint64_t row_group_rows;   /* rows per row group [1,048,576] */
    uint64_t row_group_bytes;  /* encoded, compressed bytes per row group [64 MiB] */
    uint32_t page_rows;        /* rows per data page [20,000] */
    uint32_t page_bytes;       /* uncompressed bytes per data page [1 MiB] */
    uint32_t dict_bytes;       /* dictionary budget per column chunk [1 MiB] */
    int zstd_level;            /* ZSTD level [3] */
    const struct ne_pq_kv *kv; /* key_value_metadata, written in this order */
    size_t nkv;
};

/* A string value: len bytes at ptr (not NUL-terminated, may be empty). */
struct ne_pq_bytes {
    const char *ptr;
    uint32_t len;
};

/* The values of one column in a batch. Row i is null when valid != NULL and
 * bit i of valid (LSB first: valid[i / 8] >> (i % 8) & 1) is 0; the value
 * array entry of a null row is ignored. The NE_PQ_TIME column must have
 * valid == NULL. Use the union member that matches the column kind; a NULL
 * array makes every row of a non-time column null (valid is then ignored). */
struct ne_pq_values {
    const uint8_t *valid;
    union {
        const int64_t *i64;            /* NE_PQ_TIME, NE_PQ_INT64 */
        const double *f64;             /* NE_PQ_DOUBLE */
        const uint8_t *b;              /* NE_PQ_BOOL */
        const struct ne_pq_bytes *str; /* NE_PQ_TAG, NE_PQ_STRING */
    } v;
};

/* nrows rows; cols[i] holds schema column i. Everything is borrowed for the
 * duration of the call only. */
struct ne_pq_batch {
    size_t nrows;
    const struct ne_pq_values *cols;
};

/* The sink: receives the file's bytes in order. Returns 0, or a negative
 * NE_E* code that fails the writer (and is returned to its caller). buf is
 * borrowed for the duration of the call. */
typedef int (*ne_pq_write_fn)(void *ctx, const void *buf, size_t len);

struct ne_pq_writer; /* opaque */

/* Opens a writer and writes the leading magic "PAR1" to sink. opts may be
 * NULL. On success *out owns the writer: finish it with ne_pq_close (or
 * ne_pq_abort). Returns NE_EINVAL for a bad schema or options, NE_ENOMEM,
 * or the sink's error. */
int ne_pq_open(const struct ne_pq_schema *schema, const struct ne_pq_opts *opts,
               ne_pq_write_fn sink, void *ctx, struct ne_pq_writer **out);

/* Appends the batch's rows. Full row groups are written to the sink from
 * inside this call. Returns 0, NE_EINVAL (null in the time column, a string
 * longer than 2 GiB; the writer stays usable and nothing of the batch was
 * taken), NE_ENOMEM or the sink's error (writer failed). */
int ne_pq_write_rows(struct ne_pq_writer *w, const struct ne_pq_batch *batch);

/* Writes the pending row group (if any), the footer and the trailing magic,
 * then frees the writer and sets *wp to NULL. A file with zero rows is valid
 * (schema only). Returns 0, or the first error of the writer's life (the
 * file is then incomplete and must be discarded). NULL-safe. */
int ne_pq_close(struct ne_pq_writer **wp);

/* Frees the writer without writing anything more; sets *wp to NULL. */
void ne_pq_abort(struct ne_pq_writer **wp);

/* A ready-made sink that appends to a file: ctx is a struct ne_file *
 * (ports/platform.h) opened for writing, borrowed; the caller syncs,
 * renames and closes it (publish with temp -> fsync -> rename). Returns 0 or
 * the ne_file_append error. */
int ne_pq_sink_file(void *ctx, const void *buf, size_t len);

/* Rows accepted so far, and bytes handed to the sink so far. */
uint64_t ne_pq_rows(const struct ne_pq_writer *w);
uint64_t ne_pq_bytes(const struct ne_pq_writer *w);

/* "neoedge version X.Y.Z", the created_by string of every file. Static. */
const char *ne_pq_created_by(void);

#endif
