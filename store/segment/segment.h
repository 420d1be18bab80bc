/*
 * segment.h - immutable columnar segment files of the store.
 *
 * A segment holds a set of columns. A column is (series id, field name,
 * type): the series id is assigned by the engine's series index, the field
 * name is raw bytes, the type is an enum ne_vtype. Inside a segment columns
 * are sorted by (series id, field) where fields compare as bytes
 * (memcmp over the shorter length, then the shorter one first). Each column
 * holds its points sorted by timestamp, unique timestamps, split into blocks
 * of at most opts.block_points points. Every block is encoded by the codec
 * layer (store/codec/codec.h), carries a CRC32C in the index, and has its
 * struct ne_block_stats (count, min, max, sum, first, last, min_ts, max_ts,
 * ...) in the footer index, so aggregates over whole blocks need no
 * decoding. The file format is specified in segment_writer.c.
 *
 * Files are named <dir>/<16 lower-case hex digits of the id>.seg, so a
 * directory listing sorts by id. They are published atomically:
 * <name>.seg.tmp is written, fdatasync'ed, renamed to <name>.seg and the
 * directory is fsync'ed. A crash leaves either nothing, or a stale .seg.tmp
 * (remove it with ne_seg_clean_tmp), or the complete, durable file.
 *
 * Threads: a writer is used by one thread at a time. A reader (struct
 * ne_seg) is immutable after ne_seg_open: any number of threads may call
 * the read functions on it concurrently, each with its own
 * struct ne_seg_block.
 *
 * Compaction protocol for the engine (crash-safe at every instant):
 *   1. ne_seg_merge(inputs, n, dir, new_id, ...) returns 0: the output is
 *      durable (its rename and the directory are fsync'ed) and holds every
 *      point of the inputs (newest wins on identical series/field/ts).
 *   2. Record that the inputs are superseded (e.g. in the engine's manifest,
 *      or rely on the rule below), then unlink the inputs and fsync the dir.
 *   If the process dies between 1 and 2, both the output and its inputs
 *   exist after restart, holding the same points (less what opts chose to
 *   drop). The output has a higher id and a WAL range that is the union of
 *   the inputs' ranges, so the engine recognises a leftover input as a
 *   segment whose WAL range lies inside the range of a segment with a
 *   higher id, and deletes it then.
 *   For that rule (and for "newer wins" across segments) to stay
 *   unambiguous, merge only runs of segments adjacent in WAL order, passed
 *   oldest first. Never delete an input before step 1 returned 0, and
 *   never reuse an id.
 *
 * WAL protocol: a segment records the WAL sequence range
 * [wal_seq_min, wal_seq_max] it was built from (merge takes the union; a
 * range of [0, 0] means "none recorded" and is left out of unions).
 * Once ne_segw_finish returned 0, the WAL files wholly inside that range
 * may be dropped.
 *
 * Errors: 0 or a negative NE_E* code (ports/err.h). Data errors are
 * NE_ECORRUPT (structure), NE_ECHECKSUM (a CRC does not match),
 * NE_EVERSION (unknown format version: a hard error, never a guess).
 * Deleted data is not recorded in segments: the engine keeps its
 * tombstones and has ne_seg_merge drop deleted points (drop_ranges below).
 */
#ifndef NE_STORE_SEGMENT_H
#define NE_STORE_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "store/codec/codec.h"
#include "store/point.h"

/* Default and maximum number of points per block. */
#define NE_SEG_BLOCK_POINTS 4096u
#define NE_SEG_BLOCK_POINTS_MAX 65536u
/* Longest field name a column may have (bytes). */
#define NE_SEG_FIELD_MAX 65535u
/* Length of a segment file name "<16 hex>.seg.tmp" plus its NUL. */
#define NE_SEG_NAME_MAX 32u

/* ---- shared types ------------------------------------------------------ */

/* Segment-level facts, from the footer. */
struct ne_seg_info {
    uint64_t seg_id;
    uint32_t version;        /* format version of the file */
    int64_t min_ts, max_ts;  /* over every point (0, 0 when empty) */
    uint64_t wal_seq_min, wal_seq_max;
    uint32_t ndbs;           /* database names held (see ne_seg_db_name) */
    uint32_t nseries;        /* distinct series ids */
    uint32_t ncols;
    uint64_t nblocks;
    uint64_t npoints;        /* field values */
    uint64_t file_bytes;
};

/* A column's identity. field is borrowed (the caller keeps it alive for the
 * call); db indexes the database names of the segment (0 if it holds one). */
struct ne_seg_colkey {
    uint64_t series_id;
    struct ne_sv field;
    uint8_t type; /* enum ne_vtype */
    uint32_t db;
};

/* The column's points carry last-writer-wins versions (struct
 * ne_seg_block.ver): an opaque uint64 per point, greater wins, 0 meaning
 * "no version" (older than any). Columns without it cost nothing extra. */
#define NE_SEG_COL_VERSIONED 1u

/* Compares two keys by (series_id, field bytes). <0, 0, >0. Type and db are
 * not part of the order. */
int ne_seg_colkey_cmp(const struct ne_seg_colkey *a, const struct ne_seg_colkey *b);

/* Writes "<dir>/<id as 16 hex>.seg" into buf (n bytes). Returns 0 or
 * NE_ERANGE if it does not fit. */
int ne_seg_path(char *buf, size_t n, const char *dir, uint64_t id);

/* Parses a directory entry name "<16 hex>.seg" into *id. Returns 0, or
 * NE_EINVAL for any other name (including "*.seg.tmp"). */
int ne_seg_parse_name(const char *name, uint64_t *id);

/* Removes every stale "*.seg.tmp" in dir (left by a crash mid-write). Call at
 * store start-up, before any writer runs. Returns 0 or an I/O error. */
int ne_seg_clean_tmp(const char *dir);

/* ---- writer -------------------------------------------------------------- */

struct ne_segw_opts {
    uint32_t block_points;       /* points per block; 0 = NE_SEG_BLOCK_POINTS */
    const struct ne_codec_opts *codec; /* NULL: codec defaults (borrowed for open) */
    const char *const *dbs;      /* database names (borrowed), ndbs entries */
    uint32_t ndbs;
    uint64_t wal_seq_min, wal_seq_max; /* WAL range the content comes from */
    /* Time grid for block boundaries (0: none). With align_ns > 0 a block
     * is also ended before a point that lies in a later grid cell
     * ([k * align_ns, (k + 1) * align_ns), from the epoch) than the
     * block's last point, once the block holds at least align_min points
     * (0 counts as 1). Blocks then lie inside one cell of the grid, so
     * GROUP BY time buckets that are multiples of it are answered from
     * block statistics; align_min keeps sparse columns from becoming
     * many tiny blocks. Nothing in the file records it. */
    int64_t align_ns;
    uint32_t align_min;
    /* Store the footer as it is, without zstd (else zstd when that is
     * smaller): for a segment that is merged again soon, such as a
     * memtable flush, which then neither pays the compression nor, when
     * the segment is opened, the decompression. */
    bool footer_raw;
};

struct ne_segw; /* opaque */

/* Starts segment seg_id in dir (which must exist): removes a stale
 * <id>.seg.tmp, fails with NE_EEXISTS if <id>.seg exists. opts may be NULL
 * (one unnamed database, no WAL range). The names in opts are copied.
 * On success *out owns the writer: end it with ne_segw_finish or
 * ne_segw_abort. The writer keeps only the serialised index in memory
 * (some 20-60 bytes per block plus the field names) and one partial block:
 * blocks go to disk as they fill. */
int ne_segw_open(const char *dir, uint64_t seg_id, const struct ne_segw_opts *opts,
                 struct ne_segw **out);

/* Starts a column. Columns must come in strictly increasing key order
 * (ne_seg_colkey_cmp); key->db < opts.ndbs (or 0). NE_EINVAL otherwise. */
int ne_segw_begin_column(struct ne_segw *w, const struct ne_seg_colkey *key);
/* The same with column flags (NE_SEG_COL_VERSIONED or 0). */
int ne_segw_begin_column_v(struct ne_segw *w, const struct ne_seg_colkey *key, unsigned flags);

/* Appends n points to the current column. ts must be strictly increasing,
 * also across calls. vals points to n values of the column's type:
 *   NE_V_FLOAT double[], NE_V_INT int64_t[], NE_V_UINT uint64_t[],
 *   NE_V_BOOL bool[], NE_V_STRING struct ne_sv[] (each < 2^31 bytes).
 * Arrays are borrowed for the call. Full blocks are encoded and written at
 * once; a partial block is buffered (copied) until the next call. */
int ne_segw_append(struct ne_segw *w, const int64_t *ts, const void *vals, uint32_t n);

/* The same with each point's version: ver (n entries, borrowed) is kept
 * only when the column was begun with NE_SEG_COL_VERSIONED; ver NULL
 * there stores 0 for these points. */
int ne_segw_append_v(struct ne_segw *w, const int64_t *ts, const void *vals, const uint64_t *ver,
                     uint32_t n);

/* Ends the current column (writes its last partial block). A column with
 * no point is not recorded. */
int ne_segw_end_column(struct ne_segw *w);

/* begin + append + end in one call. */
int ne_segw_add_column(struct ne_segw *w, const struct ne_seg_colkey *key, const int64_t *ts,
                       const void *vals, uint32_t n);

/* Ends the open column if any, writes the footer and tail, fdatasyncs,
 * renames <id>.seg.tmp to <id>.seg and fsyncs the directory. Always frees
 * the writer and sets *wp to NULL. On success the segment is durable and
 * *info (may be NULL) describes it; on failure the tmp file is removed and
 * nothing is published. Once any call on the writer failed, finish fails
 * with that error. */
int ne_segw_finish(struct ne_segw **wp, struct ne_seg_info *info);

/* Drops the writer and its tmp file. NULL-safe; sets *wp to NULL. */
void ne_segw_abort(struct ne_segw **wp);

/* ---- reader ---------------------------------------------------------------- */

struct ne_seg; /* opaque, immutable after open */

/* Opens a segment: checks the tail (magic, version, lengths), reads the
 * footer, checks its CRC and its structure, and keeps the index in memory
 * (blocks stay on disk): 68 bytes per column, 48 per block, each block's
 * statistic values (some 5-50 bytes) and each distinct field name.
 * Returns NE_ECORRUPT / NE_ECHECKSUM / NE_EVERSION for a bad file. On success *out owns the reader: ne_seg_close. */
int ne_seg_open(const char *path, struct ne_seg **out);

/* Closes *rp and sets it to NULL. NULL-safe. */
void ne_seg_close(struct ne_seg **rp);

/* Segment facts. Borrowed; valid until close. */
const struct ne_seg_info *ne_seg_info(const struct ne_seg *r);

/* Path the segment was opened with. Borrowed; valid until close. */
const char *ne_seg_path_of(const struct ne_seg *r);

/* Database name i (i < info.ndbs), NUL-terminated. Borrowed. */
const char *ne_seg_db_name(const struct ne_seg *r, uint32_t i);

/* A column as listed by the reader. Everything is borrowed from the reader
 * (field.p points into its index) and valid until close. Its statistics
 * over all its blocks are not kept: ne_seg_col_stats folds them. */
struct ne_seg_col {
    struct ne_seg_colkey key;
    uint8_t flags;               /* NE_SEG_COL_* */
    uint32_t nblocks;
    uint64_t npoints;
    int64_t min_ts, max_ts;
};

/* Encoded bytes of column col's blocks (their lengths summed from the
 * index; version streams excluded), 0 if col is out of range. */
uint64_t ne_seg_col_bytes(const struct ne_seg *r, uint32_t col);

/* Column i (i < info.ncols), in key order. NULL if out of range. */
const struct ne_seg_col *ne_seg_col(const struct ne_seg *r, uint32_t i);

/* Finds the column (series_id, field). Returns 0 and *idx, or NE_ENOTFOUND. */
int ne_seg_find_col(const struct ne_seg *r, uint64_t series_id, struct ne_sv field,
                    uint32_t *idx);

/* The columns of one series are consecutive: [*first, *first + *count).
 * Returns 0, or NE_ENOTFOUND (first and count untouched). */
int ne_seg_find_series(const struct ne_seg *r, uint64_t series_id, uint32_t *first,
                       uint32_t *count);

/* The part of a block's statistics the reader keeps in memory: enough to
 * find blocks by time and to size reads. */
struct ne_seg_bspan {
    int64_t min_ts, max_ts;
    uint32_t count;              /* points in the block (>= 1) */
};

/* Where a block lives and what it holds, without decoding: 48 bytes per
 * block, the whole in-memory index entry. The full statistics (min, max,
 * sum, first, last, ...) stay in the footer: ne_seg_block_stats. */
struct ne_seg_blockref {
    uint64_t off;                /* file offset of the block */
    uint32_t len;                /* encoded length */
    uint32_t crc;                /* CRC32C of those len bytes */
    uint32_t vlen;               /* version stream right after the block
                                    (versioned columns; else 0) */
    uint32_t at_;                /* private: footer offset of its stats */
    struct ne_seg_bspan stats;
};

/* Block b (b < col->nblocks) of column col. NULL if out of range.
 * Borrowed; valid until close. Blocks of a column are in time order and do
 * not overlap. */
const struct ne_seg_blockref *ne_seg_block(const struct ne_seg *r, uint32_t col, uint32_t b);

/* The full statistics of block b of column col, parsed from the footer
 * the reader keeps (no I/O; a few dozen bytes of varints) into *out. String
 * views in *out are borrowed from the reader, valid until close. Returns 0,
 * or NE_EINVAL if col or b is out of range. */
int ne_seg_block_stats(const struct ne_seg *r, uint32_t col, uint32_t b,
                       struct ne_block_stats *out);

/* The statistics of column col over all its blocks (ne_block_stats_merge of
 * each block's, in time order) into *out; string views borrowed from the
 * reader. Returns 0, or NE_EINVAL if col is out of range. */
int ne_seg_col_stats(const struct ne_seg *r, uint32_t col, struct ne_block_stats *out);

/* The blocks of column col that may hold points with t0 <= ts <= t1 (both
 * inclusive): [*first, *end). Empty (first == end) if none. */
void ne_seg_blocks_in_range(const struct ne_seg *r, uint32_t col, int64_t t0, int64_t t1,
                            uint32_t *first, uint32_t *end);

/* A decoded block. Reused across reads: init once, free once; a read grows
 * the arrays as needed (no allocation once they are large enough).
 * After ne_seg_block_read, n points: ts[0..n) and the member of v matching
 * type. String views point into the block's own buffers and stay valid
 * until the next read into it or its free. */
struct ne_seg_block {
    uint32_t n;
    uint8_t type; /* enum ne_vtype */
    int64_t *ts;
    union {
        double *f;
        int64_t *i;
        uint64_t *u;
        bool *b;
        struct ne_sv *s;
    } v;
    uint64_t *ver; /* n versions, or NULL when the column has none */
    /* private */
    size_t cap_;              /* elements of ts and v */
    uint64_t *ver_;           /* cap_ versions, allocated on first use */
    struct ne_buf raw_;       /* the block's bytes as read */
    struct ne_buf scratch_;   /* codec scratch (zstd output) */
};

void ne_seg_block_init(struct ne_seg_block *blk);
void ne_seg_block_free(struct ne_seg_block *blk);

/* Reads block b of column col, checks its CRC32C (NE_ECHECKSUM on a
 * mismatch, before any decoding), decodes it into *blk and checks that it
 * agrees with its index entry (count, time order, min_ts/max_ts), else
 * NE_ECORRUPT. On failure blk->n is 0. */
int ne_seg_block_read(const struct ne_seg *r, uint32_t col, uint32_t b,
                      struct ne_seg_block *blk);

/* ---- merge (compaction primitive) ------------------------------------------ */

/* A time range, both ends inclusive. */
struct ne_seg_trange {
    int64_t t0, t1;
};

struct ne_seg_merge_opts {
    uint32_t block_points;  /* 0 = NE_SEG_BLOCK_POINTS */
    const struct ne_codec_opts *codec; /* NULL: codec defaults */
    int64_t align_ns;       /* block time grid, as struct ne_segw_opts; 0: none */
    uint32_t align_min;
    int64_t keep_min_ts;    /* drop points with ts < this (retention); INT64_MIN keeps all */
    /* If set, called once per column; return false to drop the column
     * (a dropped database or measurement). db_name may be "". */
    bool (*keep_col)(void *ctx, const struct ne_seg_colkey *key, const char *db_name);
    /* If set, called for each input column about to be merged (input: its
     * index in inputs[]): writes up to cap time ranges whose points of that
     * input's column are dropped (deleted data) into out and returns how
     * many there are; when that is more than cap it is called again with
     * room for all. A block wholly inside one range is skipped undecoded;
     * a block meeting one is decoded, never copied verbatim. */
    size_t (*drop_ranges)(void *ctx, size_t input, const struct ne_seg_colkey *key,
                          struct ne_seg_trange *out, size_t cap);
    void *ctx; /* for keep_col and drop_ranges */
};

/* Fills o with the defaults: keep everything, default block size/codecs. */
void ne_seg_merge_opts_default(struct ne_seg_merge_opts *o);

/* Merges inputs[0..n) (ordered oldest to newest) into a new segment
 * <out_dir>/<out_id>.seg, column by column: on identical (series, field, ts)
 * the value with the greatest version wins (versioned columns), and among
 * equal versions (or none) the value of the newest input. A column is
 * versioned in the output if it is in any input. If a column has different types in
 * different inputs, the newest input's type wins and the other points are
 * dropped (logged). Database names and WAL ranges are the union of the
 * inputs'. Memory is bounded: one block per input plus one output block.
 * A full input block (block_points points) that collides with no other
 * input and needs no retention cut or drop range is copied verbatim after
 * its CRC is checked (it keeps its encoding, whatever opts->codec says); every other
 * point is decoded, merged and re-encoded into blocks of block_points.
 * opts may be NULL (keep everything). The inputs are borrowed and not
 * modified; deleting them is the caller's job, after this returned 0 (see
 * the compaction protocol above). On success *info (may be NULL) describes
 * the output; a merge whose result is empty still publishes an empty
 * segment. On failure nothing is published. */
int ne_seg_merge(struct ne_seg *const inputs[], size_t n, const char *out_dir, uint64_t out_id,
                 const struct ne_seg_merge_opts *opts, struct ne_seg_info *info);

/* ---- tools ------------------------------------------------------------------- */

/* Prints the layout of the segment at path to out: tail, footer, databases,
 * then per column its key, type, blocks, codecs, bytes and bytes per value,
 * and whether each block CRC checks. Returns 0 if everything checked, else
 * the first error (the report is still printed as far as possible). */
int ne_seg_inspect(const char *path, FILE *out);

/* Checks the segment at path completely: tail, footer CRC, structure, every
 * block CRC, every block decodes and matches its index entry and stats.
 * Returns 0 if all is well; otherwise the error, and a one-line reason in
 * why (n bytes, may be NULL/0), e.g. "column 12 block 3: checksum mismatch". */
int ne_seg_verify(const char *path, char *why, size_t n);

#endif
