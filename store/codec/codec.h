/*
 * codec.h - column block codecs of the store (public API).
 *
 * A block is one column's run of n values (0 <= n <= NE_CODEC_MAX_VALUES;
 * the caller chooses n, typically 1,000-8,192) with their int64 nanosecond
 * timestamps. ne_codec_encode_block turns the two arrays into one
 * self-describing, checksummed byte string; ne_codec_decode_block turns it
 * back, bit-exactly (NaN payloads, +-Inf, -0.0, int64/uint64 extremes,
 * empty and non-UTF-8 strings all survive).
 *
 * Timestamps and values are encoded separately, each by the codec that
 * gives the smallest output for this block (tried on the data, cheap
 * heuristics first); the chosen codec ids are stored in the block. The
 * encoded body may then pass through zstd (kept only when smaller).
 * The block layout is specified in store/codec/block.c; each codec's
 * layout in the file that implements it.
 *
 * Value arrays, by enum ne_vtype (store/point.h):
 *   NE_V_FLOAT  double[n]        NE_V_INT   int64_t[n]
 *   NE_V_UINT   uint64_t[n]      NE_V_BOOL  bool[n]
 *   NE_V_STRING struct ne_sv[n]
 *
 * Timestamps need not be sorted or unique (a sorted, regular series is
 * what compresses to ~0 bits per timestamp).
 *
 * Thread-safety: all functions are reentrant. Each thread that encodes or
 * decodes zstd bodies keeps one zstd context of its own (about 1-2 MiB for
 * an encoder), freed when the thread exits.
 * Errors: 0 or a negative NE_E* code (ports/err.h). Decoders never read
 * outside [p, p + len) and return NE_ECORRUPT / NE_ECHECKSUM / NE_EVERSION
 * on garbage; they do not log (the caller knows which file and offset).
 */
#ifndef NE_STORE_CODEC_CODEC_H
#define NE_STORE_CODEC_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/codec/buf.h"
#include "store/point.h"

/* Largest n accepted by the encoder and believed by the decoder. */
#define NE_CODEC_MAX_VALUES (1u << 20)

/* ---- codec ids (stored on disk: never renumber) ------------------------- */

enum ne_codec_id {
    NE_CODEC_AUTO = 0, /* "choose for me" in ne_codec_opts; never stored */
    /* integer streams: timestamps, int64, uint64 */
    NE_CODEC_INT_RAW = 1,   /* 8 bytes per value */
    NE_CODEC_INT_FOR = 2,   /* zigzag, frame of reference, bit-packed */
    NE_CODEC_INT_DELTA = 3, /* delta, zigzag, frame of reference, bit-packed */
    NE_CODEC_INT_DOD = 4,   /* delta-of-delta, zigzag, FOR, bit-packed */
    NE_CODEC_INT_DELTA_GCD = 5, /* deltas divided by their common divisor
                                   (a period with gaps), zigzag, bit-packed */
    /* floats */
    NE_CODEC_F_RAW = 16,     /* 8 bytes per value */
    NE_CODEC_F_DECIMAL = 17, /* v == m / 10^s with integer m: ints codec on m;
                                up to n/32 other values kept as exceptions */
    NE_CODEC_F_XOR = 18,     /* Gorilla-style XOR with the previous value */
    /* booleans */
    NE_CODEC_B_BITMAP = 32, /* one bit per value */
    NE_CODEC_B_RLE = 33,    /* run lengths (long runs: ~0 bits per value) */
    /* strings */
    NE_CODEC_S_PLAIN = 48, /* varint length + bytes, per value */
    NE_CODEC_S_DICT = 49,  /* dictionary of distinct strings + packed ids */
};

/* Short static name ("int-dod", "f-decimal", ...) or "unknown". */
const char *ne_codec_name(int id);

/* ---- options ------------------------------------------------------------- */

struct ne_codec_opts {
    int zstd_level;    /* 0: never zstd; 1..19 level; default 1. The zstd
                          result is kept only when smaller than the raw body.
                          Level 1 rather than 3: on a whole S1 import the
                          settled store is 10% larger (0.256 against 0.232
                          bytes per value), I1 the same (4.32 against 4.34),
                          for 4.5% less ingest CPU on S1 (median of 3
                          paired runs of bench/ingest/ingest_cpu.py). */
    size_t zstd_min;   /* bodies shorter than this skip zstd (default 256:
                          below it zstd saved under 0.1% of the bytes of
                          the I1 blocks it was tried on and about 5% on S1's
                          (transient flush blocks, merged later), at ~18k
                          instructions a call, 15% of an I1 import's) */
    bool exhaustive;   /* try every candidate codec, not only the heuristic
                          pick (smaller, slower encode); default false */
    uint8_t force_ts;  /* NE_CODEC_AUTO, or an int codec id (tests, tools) */
    uint8_t force_val; /* NE_CODEC_AUTO, or a codec id valid for the type;
                          a forced codec that cannot represent the data
                          (e.g. f-decimal on 0.1+0.2) falls back to auto */
};

/* Fills o with the defaults above. */
void ne_codec_opts_default(struct ne_codec_opts *o);

/* ---- block statistics ------------------------------------------------- */

/*
 * Computed by the encoder over the block's values, stored by the segment
 * (footer) so queries can aggregate or skip whole blocks without decoding.
 *
 * All types: count, min_ts/max_ts (over the timestamps), first_ts/last_ts
 * (timestamps of values[0] and values[n-1], i.e. earliest and latest when
 * the block is sorted by time).
 * Numeric types (float, int, uint): min, max, first, last (in the member of
 * the union matching the type), sum.
 *   - float: min/max ignore NaN (flag NE_STATS_HAS_NAN; if every value is
 *     NaN, min = max = NaN). sum_f is the double sum of non-NaN values
 *     (+-Inf when infinities occur, NaN when both signs do).
 *   - int/uint: the sum is exact, as a 128-bit two's complement integer
 *     split in sum_hi:sum_lo (n <= 2^20 values of 64 bits cannot overflow
 *     it). sum_f is the same sum as a double (rounded), for means.
 * bool: true_count; first/last in .u (0 or 1); min/max in .u with false <
 *   true: min.u = 0 if any value is false, max.u = 1 if any is true.
 * string: first_s/last_s are views of values[0] / values[n-1]: borrowed from
 *   the encoder's input (or from the bytes given to ne_block_stats_get),
 *   valid only as long as those.
 */
enum {
    NE_STATS_HAS_NAN = 1 << 0, /* float block holds at least one NaN */
};

union ne_stat_val {
    double f;
    int64_t i;
    uint64_t u;
};

struct ne_block_stats {
    uint8_t type;  /* enum ne_vtype */
    uint8_t flags; /* NE_STATS_* */
    uint32_t count;
    int64_t min_ts, max_ts, first_ts, last_ts;
    union ne_stat_val min, max, first, last;
    double sum_f;
    int64_t sum_hi; /* int/uint exact sum = sum_hi * 2^64 + sum_lo */
    uint64_t sum_lo;
    uint64_t true_count;          /* bool only */
    struct ne_sv first_s, last_s; /* string only (borrowed views) */
};

/* Computes the statistics of n values without encoding (n == 0: count 0,
 * everything else zero). 0 or NE_EINVAL. */
int ne_block_stats_compute(enum ne_vtype t, const int64_t *ts, const void *vals, size_t n,
                           struct ne_block_stats *out);

/* Folds b into a (same type; a->count == 0 means "empty", then a = b).
 * For whole-segment or whole-series aggregates. first/last follow the
 * smaller first_ts / larger last_ts (ties: a's first, b's last). Strings'
 * views are copied as views. Returns 0 or NE_EINVAL on a type mismatch. */
int ne_block_stats_merge(struct ne_block_stats *a, const struct ne_block_stats *b);

/* The exact int sum as int64 if it fits: 0, or NE_ERANGE. */
int ne_block_stats_sum_i64(const struct ne_block_stats *st, int64_t *out);

/* Serialises st compactly (varints; strings with their bytes) for a
 * segment footer. Layout in store/codec/stats.c. 0 or NE_ENOMEM. */
int ne_block_stats_put(const struct ne_block_stats *st, struct ne_buf *out);

/* Parses what ne_block_stats_put wrote at p (up to len bytes); *used gets
 * the number of bytes consumed. String views point into p.
 * 0 or NE_ECORRUPT. */
int ne_block_stats_get(const uint8_t *p, size_t len, struct ne_block_stats *out, size_t *used);

/* ne_block_stats_get, and *values_off (if not NULL) gets where the
 * per-type values start in p (after last_ts; == *used when count is 0):
 * for a caller that keeps the times elsewhere and only those bytes.
 * 0 or NE_ECORRUPT. */
int ne_block_stats_get_split(const uint8_t *p, size_t len, struct ne_block_stats *out,
                             size_t *used, size_t *values_off);

/* Parses the per-type values that ne_block_stats_put wrote after last_ts
 * (the bytes from ne_block_stats_get_split's *values_off on) into *st,
 * whose type and count (>= 1) the caller has set; the other fields are
 * left as they are. String views point into p. *used gets the bytes
 * consumed. 0, NE_EINVAL (bad type or count 0) or NE_ECORRUPT. */
int ne_block_stats_get_values(const uint8_t *p, size_t len, struct ne_block_stats *st,
                              size_t *used);

/* ---- encode / decode --------------------------------------------------- */

/*
 * Encodes n values (0 <= n <= NE_CODEC_MAX_VALUES) of type t with their
 * timestamps and appends the block to out (the caller owns out; on failure
 * out->len is restored). opts may be NULL for the defaults. st, if not NULL,
 * receives the block statistics (string views borrow from vals).
 * ts and vals are borrowed for the call only.
 * Returns 0, NE_EINVAL (n out of range, bad type, NULL arrays), NE_ENOMEM.
 */
int ne_codec_encode_block(enum ne_vtype t, const int64_t *ts, const void *vals, size_t n,
                          const struct ne_codec_opts *opts, struct ne_buf *out,
                          struct ne_block_stats *st);

/*
 * Decodes the block in [p, p + len) (exactly one block, as returned by the
 * encoder). t must match the block's type (else NE_ECONFLICT).
 * ts_out: int64_t[cap] or NULL (skip timestamps); vals_out: the type's
 * array of cap elements or NULL (skip values). cap must be >= the block's
 * count (NE_ETOOBIG otherwise; ne_codec_block_count tells it beforehand).
 * scratch: a caller-owned buffer the decoder may reset and fill (zstd
 * output); may be NULL for blocks without zstd, else NE_EINVAL. Decoded
 * strings are views into p or into scratch: valid while both are unchanged.
 * Reuse one scratch across blocks to avoid allocations.
 * On success *n_out = count. Errors: NE_ECORRUPT, NE_ECHECKSUM,
 * NE_EVERSION, NE_ECONFLICT, NE_ETOOBIG, NE_EINVAL, NE_ENOMEM.
 */
int ne_codec_decode_block(const uint8_t *p, size_t len, enum ne_vtype t, int64_t *ts_out,
                          void *vals_out, size_t cap, struct ne_buf *scratch, size_t *n_out);

/* Timestamps only (time-range scans, counting): same as decode_block with
 * vals_out == NULL; works for every value type. */
int ne_codec_decode_ts(const uint8_t *p, size_t len, int64_t *ts_out, size_t cap,
                       struct ne_buf *scratch, size_t *n_out);

/* Cheap header peek, no checksum: the value type and count of a block.
 * 0 or NE_ECORRUPT / NE_EVERSION. */
int ne_codec_block_peek(const uint8_t *p, size_t len, enum ne_vtype *type, uint32_t *count);

/* What the encoder chose, for `neoedge inspect` and the benchmarks. */
struct ne_block_info {
    uint8_t type;      /* enum ne_vtype */
    uint8_t ts_codec;  /* enum ne_codec_id */
    uint8_t val_codec; /* enum ne_codec_id */
    bool zstd;         /* body stored zstd-compressed */
    uint32_t count;
    size_t block_len;  /* whole block as stored (header, body, CRC) */
    size_t body_len;   /* body before zstd */
    size_t ts_len;     /* timestamp section, in the body */
    size_t val_len;    /* value section, in the body */
    uint8_t val_param; /* codec detail: f-decimal scale s, bit width, ... */
};

/* Verifies the checksum and fills *out. Decompresses a zstd body into an
 * internal temporary. 0 or the decode errors above. */
int ne_codec_block_info(const uint8_t *p, size_t len, struct ne_block_info *out);

#endif
