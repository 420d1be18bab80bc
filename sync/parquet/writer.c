/*
 * writer.c - the streaming Parquet writer (see parquet.h for the column
 * mapping and the contract).
 *
 * File layout, as produced here:
 *
 *   "PAR1"
 *   row group 0:  column chunk 0:  [dictionary page] data page, data page, ...
 *                 column chunk 1:  ...
 *   row group 1:  ...
 *   FileMetaData (Thrift compact)
 *   footer length (uint32 LE)  "PAR1"
 *
 *   page := PageHeader (Thrift compact: type, sizes, CRC-32 of the
 *           compressed body) + ZSTD(body)
 *   data page v1 body := [uint32 LE len + RLE-hybrid def levels, width 1]
 *                        (OPTIONAL columns only) + values
 *   values := PLAIN | DELTA_BINARY_PACKED (time) |
 *             RLE_DICTIONARY: 1 byte bit width + RLE-hybrid indices
 *   dictionary page body := PLAIN values (8 bytes LE; byte arrays as
 *                           uint32 LE len + bytes)
 *
 * Invariants:
 *  - One row group is buffered at a time: each column keeps its finished
 *    data pages (header + compressed body) in chunk, and its dictionary in
 *    dict_data; both are written to the sink when the row group ends, the
 *    dictionary page first. Memory is bounded by row_group_bytes plus one
 *    page per column.
 *  - Page staging arrays are allocated at open for page_rows rows; buffers
 *    only grow (amortised), so the per-row path never allocates.
 *  - Tag, string, double and int64 columns are dictionary-encoded; such a
 *    column switches to PLAIN for the rest of its chunk when the dictionary
 *    would pass dict_bytes; the dictionary restarts with every row group.
 *    A chunk whose first page (of 1,000 values or more) is over 3/4
 *    distinct values is written PLAIN from the start, without dictionary.
 *    Doubles are dictionary keys bit for bit (-0.0 and each NaN kept).
 *  - Each RowGroup's metadata is Thrift-encoded as soon as it is written
 *    (rg_meta); the footer splices those bytes into FileMetaData.row_groups.
 *  - Nothing depends on time, addresses or hash-table layout beyond the
 *    input order, so equal input gives equal bytes.
 */
#include "sync/parquet/parquet.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <zstd.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sync/parquet/encode.h"
#include "sync/parquet/thrift.h"

#ifndef NE_PQ_VERSION
#define NE_PQ_VERSION "0.0.0"
#endif

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the PLAIN encoders below copy little-endian memory as is"
#endif

#define MOD "parquet"

/* parquet.thrift enum values used here. */
enum { T_BOOLEAN = 0, T_INT64 = 2, T_DOUBLE = 5, T_BYTE_ARRAY = 6 };
enum { REP_REQUIRED = 0, REP_OPTIONAL = 1 };
enum { CONV_UTF8 = 0 };
enum { ENC_PLAIN = 0, ENC_RLE = 3, ENC_DELTA_BINARY_PACKED = 5, ENC_RLE_DICTIONARY = 8 };
enum { PAGE_DATA = 0, PAGE_DICTIONARY = 2 };
enum { CODEC_ZSTD = 6 };

#define STAT_MAX_BYTES 1024 /* longer string min/max are left out */
#define SLICE_ROWS     4096 /* rows per step between row-group size checks */

struct col {
    char *name;
    enum ne_pq_kind kind;
    bool optional;
    bool dict;     /* dictionary-encoded kind */
    bool fixed;    /* dictionary entries are 8-byte values, not byte arrays */
    bool fallback; /* dictionary full: PLAIN for the rest of this chunk */

    /* the page being staged */
    uint32_t page_n;  /* rows (levels) */
    uint32_t page_nn; /* non-null values */
    uint32_t *levels; /* [page_rows] definition levels, optional columns */
    int64_t *i64;     /* [page_rows] time values (delta-encoded at flush) */
    uint8_t *bools;   /* [page_rows] */
    uint32_t *idx;    /* [page_rows] dictionary indices */
    struct pq_buf plain;

    /* the dictionary of this chunk: PLAIN entries, their offsets (byte
     * arrays; 8-byte entries sit at index * 8), and an open-addressing hash
     * set whose slots hold (hash >> 32) << 32 | (index + 1), 0 = empty, so
     * most probes never touch the entries */
    struct pq_buf dict_data;
    uint32_t *dict_off;
    uint32_t dict_n, dict_cap;
    uint64_t *slots;
    uint32_t nslots; /* power of two */

    /* finished data pages of this chunk */
    struct pq_buf chunk;
    uint64_t chunk_raw;    /* headers + uncompressed bodies */
    uint64_t chunk_values; /* rows, nulls included */
    uint32_t pages_dict, pages_plain, pages_delta;

    /* statistics of this chunk */
    uint64_t nulls;
    bool has_minmax;
    int64_t imin, imax;
    double dmin, dmax;
    struct pq_buf smin, smax;
};

struct ne_pq_writer {
    ne_pq_write_fn sink;
    void *ctx;
    struct ne_pq_opts o;
    struct ne_pq_kv *kv;
    size_t ncols;
    struct col *cols;
    ZSTD_CCtx *zc;
    struct pq_buf body; /* scratch: one page body */
    struct pq_buf zout; /* scratch: its compressed form */
    struct pq_buf hdr;  /* scratch: a page header */
    struct pq_buf rg_meta;
    uint32_t n_rg;
    uint64_t rg_rows;
    uint64_t rows;
    uint64_t off; /* bytes handed to the sink */
    int err;      /* sticky */
};

const char *ne_pq_created_by(void)
{
    return "neoedge version " NE_PQ_VERSION;
}

/* ---- sink ------------------------------------------------------------- */

static int emit(struct ne_pq_writer *w, const void *p, size_t n)
{
    if (w->err) return w->err;
    if (n == 0) return 0;
    int rc = w->sink(w->ctx, p, n);
    if (rc != 0) {
        w->err = rc < 0 ? rc : NE_EIO;
        NE_ERROR(MOD, "sink failed at offset %llu: %s", (unsigned long long)w->off,
                 ne_strerror(w->err));
        return w->err;
    }
    w->off += n;
    return 0;
}

static int fail_nomem(struct ne_pq_writer *w, const char *what)
{
    if (!w->err) {
        w->err = NE_ENOMEM;
        NE_ERROR(MOD, "out of memory (%s)", what);
    }
    return w->err;
}

/* ---- statistics ----------------------------------------------------- */

static void stat_i64(struct col *c, int64_t v)
{
    if (!c->has_minmax) {
        c->imin = c->imax = v;
        c->has_minmax = true;
        return;
    }
    if (v < c->imin) c->imin = v;
    if (v > c->imax) c->imax = v;
}

static void stat_f64(struct col *c, double v)
{
    if (isnan(v)) return;
    if (!c->has_minmax) {
        c->dmin = c->dmax = v;
        c->has_minmax = true;
        return;
    }
    if (v < c->dmin) c->dmin = v;
    if (v > c->dmax) c->dmax = v;
}

/* Unsigned byte-wise order, as the format defines for UTF-8 strings. */
static int bytes_cmp(const void *a, size_t an, const void *b, size_t bn)
{
    size_t n = an < bn ? an : bn;
    int r = n ? memcmp(a, b, n) : 0;
    if (r) return r;
    return an < bn ? -1 : an > bn;
}

static void stat_bytes(struct col *c, const char *p, uint32_t n)
{
    bool first = !c->has_minmax;
    if (first || bytes_cmp(p, n, c->smin.p, c->smin.len) < 0) {
        c->smin.len = 0;
        pq__buf_put(&c->smin, p, n);
    }
    if (first || bytes_cmp(p, n, c->smax.p, c->smax.len) > 0) {
        c->smax.len = 0;
        pq__buf_put(&c->smax, p, n);
    }
    c->has_minmax = true;
}

/* ---- dictionary --------------------------------------------------------- */

/* Word-at-a-time multiplicative hash; only the high 32 bits are used. */
static uint64_t mix(uint64_t h, uint64_t x)
{
    h = (h ^ x) * 0x9e3779b97f4a7c15ull;
    return h ^ (h >> 32);
}

static uint64_t hash_bytes(const void *p, uint32_t n)
{
    const uint8_t *s = p;
    uint64_t h = 0x243f6a8885a308d3ull ^ n, x;
    for (; n >= 8; s += 8, n -= 8) {
        memcpy(&x, s, 8);
        h = mix(h, x);
    }
    if (n) {
        x = 0;
        memcpy(&x, s, n);
        h = mix(h, x);
    }
    return mix(h, 0xbf58476d1ce4e5b9ull);
}

static uint64_t dict_hash(const struct col *c, const void *p, uint32_t n)
{
    if (c->fixed) {
        uint64_t x;
        memcpy(&x, p, 8);
        return mix(0x243f6a8885a308d3ull, x) * 0xbf58476d1ce4e5b9ull;
    }
    return hash_bytes(p, n);
}

static const uint8_t *dict_entry(const struct col *c, uint32_t i, uint32_t *len)
{
    if (c->fixed) {
        *len = 8;
        return c->dict_data.p + (size_t)i * 8;
    }
    const uint8_t *e = c->dict_data.p + c->dict_off[i];
    *len = (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 24;
    return e + 4;
}

static int dict_grow_slots(struct col *c)
{
    uint32_t n = c->nslots ? c->nslots * 2 : 1024;
    uint64_t *s = ne_calloc(n, sizeof(*s));
    if (!s) return NE_ENOMEM;
    for (uint32_t i = 0; i < c->nslots; i++) {
        uint64_t e = c->slots[i];
        if (!e) continue;
        uint32_t k = (uint32_t)(e >> 32) & (n - 1);
        while (s[k])
            k = (k + 1) & (n - 1);
        s[k] = e;
    }
    ne_free(c->slots);
    c->slots = s;
    c->nslots = n;
    return 0;
}

/* Finds or adds the value p (n bytes; 8 for fixed columns, compared bit for
 * bit). *out gets the index; returns 0, NE_ELIMIT when adding would pass the
 * budget (nothing added), or NE_ENOMEM. */
static int dict_add(struct col *c, const void *p, uint32_t n, uint32_t budget, uint32_t *out)
{
    uint64_t tag = dict_hash(c, p, n) & 0xffffffff00000000ull;
    uint32_t k = (uint32_t)(tag >> 32) & (c->nslots - 1);
    for (; c->slots[k]; k = (k + 1) & (c->nslots - 1)) {
        if ((c->slots[k] & 0xffffffff00000000ull) != tag) continue;
        uint32_t ix = (uint32_t)c->slots[k] - 1, len;
        const uint8_t *e = dict_entry(c, ix, &len);
        if (len == n && (n == 0 || memcmp(e, p, n) == 0)) {
            *out = ix;
            return 0;
        }
    }
    uint32_t prefix = c->fixed ? 0 : 4;
    if (c->dict_data.len + prefix + (uint64_t)n > budget && c->dict_n > 0) return NE_ELIMIT;
    if (c->dict_n == c->dict_cap) {
        uint32_t cap = c->dict_cap ? c->dict_cap * 2 : 256;
        uint32_t *o = ne_realloc(c->dict_off, cap * sizeof(*o));
        if (!o) return NE_ENOMEM;
        c->dict_off = o;
        c->dict_cap = cap;
    }
    c->dict_off[c->dict_n] = (uint32_t)c->dict_data.len;
    if (!c->fixed) pq__buf_le32(&c->dict_data, n);
    pq__buf_put(&c->dict_data, p, n);
    if (c->dict_data.err) return c->dict_data.err;
    c->slots[k] = tag | ++c->dict_n;
    if (!c->fixed) stat_bytes(c, p, n); /* a string chunk's min/max are among its entries */
    *out = c->dict_n - 1;
    if ((uint64_t)c->dict_n * 2 > c->nslots) return dict_grow_slots(c);
    return 0;
}

static void dict_reset(struct col *c)
{
    c->dict_data.len = 0;
    c->dict_n = 0;
    if (c->slots) memset(c->slots, 0, c->nslots * sizeof(*c->slots));
    c->fallback = false;
}

/* ---- pages -------------------------------------------------------------- */

static int physical_type(enum ne_pq_kind k)
{
    switch (k) {
    case NE_PQ_TIME:
    case NE_PQ_INT64:
        return T_INT64;
    case NE_PQ_DOUBLE:
        return T_DOUBLE;
    case NE_PQ_BOOL:
        return T_BOOLEAN;
    case NE_PQ_TAG:
    case NE_PQ_STRING:
        return T_BYTE_ARRAY;
    }
    return T_BYTE_ARRAY;
}

/* Compresses w->body and puts header + compressed body into dst. */
static int seal_page(struct ne_pq_writer *w, struct pq_buf *dst, int page_type, uint32_t num_values,
                     int encoding, uint64_t *raw_out)
{
    struct pq_buf *in = &w->body;
    if (in->err) return fail_nomem(w, "page body");
    size_t bound = ZSTD_compressBound(in->len);
    w->zout.len = 0;
    if (pq__buf_reserve(&w->zout, bound) != 0) return fail_nomem(w, "page buffer");
    size_t z = ZSTD_compressCCtx(w->zc, w->zout.p, bound, in->p, in->len, w->o.zstd_level);
    if (ZSTD_isError(z)) {
        NE_ERROR(MOD, "zstd: %s", ZSTD_getErrorName(z));
        w->err = NE_EIO;
        return w->err;
    }
    w->zout.len = z;
    if (in->len > INT32_MAX || z > INT32_MAX) {
        NE_ERROR(MOD, "page of %zu bytes is too large", in->len);
        w->err = NE_ETOOBIG;
        return w->err;
    }

    struct pq_tc t;
    w->hdr.len = 0;
    pq__tc_init(&t, &w->hdr);
    pq__tc_i32(&t, 1, page_type);
    pq__tc_i32(&t, 2, (int32_t)in->len);
    pq__tc_i32(&t, 3, (int32_t)z);
    pq__tc_i32(&t, 4, (int32_t)pq__crc32(0, w->zout.p, z));
    if (page_type == PAGE_DATA) {
        pq__tc_struct(&t, 5);
        pq__tc_i32(&t, 1, (int32_t)num_values);
        pq__tc_i32(&t, 2, encoding);
        pq__tc_i32(&t, 3, ENC_RLE);
        pq__tc_i32(&t, 4, ENC_RLE);
        pq__tc_end(&t);
    } else {
        pq__tc_struct(&t, 7);
        pq__tc_i32(&t, 1, (int32_t)num_values);
        pq__tc_i32(&t, 2, encoding);
        pq__tc_end(&t);
    }
    pq__tc_end(&t);
    pq__buf_put(dst, w->hdr.p, w->hdr.len);
    pq__buf_put(dst, w->zout.p, z);
    if (w->hdr.err || dst->err) return fail_nomem(w, "page");
    *raw_out = w->hdr.len + in->len;
    return 0;
}

static void put_levels(struct pq_buf *b, const struct col *c)
{
    size_t at = b->len;
    pq__buf_le32(b, 0);
    pq__rle_encode(b, c->levels, c->page_n, 1);
    if (b->err) return;
    uint32_t n = (uint32_t)(b->len - at - 4);
    uint8_t le[4] = {(uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24)};
    memcpy(b->p + at, le, 4);
}

/* Encodes the staged page into w->body; returns its value encoding. */
static int encode_page(struct ne_pq_writer *w, struct col *c)
{
    struct pq_buf *b = &w->body;
    b->len = 0;
    if (c->optional) put_levels(b, c);
    switch (c->kind) {
    case NE_PQ_TIME:
        pq__delta_encode(b, c->i64, c->page_nn);
        return ENC_DELTA_BINARY_PACKED;
    case NE_PQ_BOOL:
        pq__bool_plain(b, c->bools, c->page_nn);
        return ENC_PLAIN;
    case NE_PQ_TAG:
    case NE_PQ_STRING:
    case NE_PQ_DOUBLE:
    case NE_PQ_INT64:
        if (!c->fallback && c->dict_n > 0) {
            int bw = pq__bit_width(c->dict_n - 1);
            if (bw == 0) bw = 1;
            pq__buf_byte(b, (uint8_t)bw);
            pq__rle_encode(b, c->idx, c->page_nn, bw);
            return ENC_RLE_DICTIONARY;
        }
        pq__buf_put(b, c->plain.p, c->plain.len);
        return ENC_PLAIN;
    }
    return ENC_PLAIN;
}

/* Values nearly all distinct gain nothing from a dictionary: the indices
 * only add to the PLAIN bytes. Decided once per chunk, at its first page
 * (when it has at least DICT_PROBE_MIN values): past 3/4 distinct, that
 * page is rewritten as PLAIN and the chunk stays PLAIN, with no
 * dictionary page. */
#define DICT_PROBE_MIN 1000u

static void put_plain(struct col *c, const void *p, uint32_t n);

static void maybe_drop_dict(struct col *c)
{
    if (c->fallback || c->dict_n == 0 || c->pages_dict || c->pages_plain ||
        c->page_nn < DICT_PROBE_MIN || (uint64_t)c->dict_n * 4 <= (uint64_t)c->page_nn * 3)
        return;
    for (uint32_t i = 0; i < c->page_nn; i++) {
        uint32_t len;
        const uint8_t *e = dict_entry(c, c->idx[i], &len);
        put_plain(c, e, len);
    }
    dict_reset(c);
    c->fallback = true;
}

static int flush_page(struct ne_pq_writer *w, struct col *c)
{
    if (c->page_n == 0) return 0;
    maybe_drop_dict(c);
    if (c->plain.err) return fail_nomem(w, "page values");
    int enc = encode_page(w, c);
    uint64_t raw;
    int rc = seal_page(w, &c->chunk, PAGE_DATA, c->page_n, enc, &raw);
    if (rc) return rc;
    c->chunk_raw += raw;
    c->chunk_values += c->page_n;
    if (enc == ENC_RLE_DICTIONARY)
        c->pages_dict++;
    else if (enc == ENC_DELTA_BINARY_PACKED)
        c->pages_delta++;
    else
        c->pages_plain++;
    c->page_n = c->page_nn = 0;
    c->plain.len = 0;
    return 0;
}

/* Uncompressed bytes staged in the current page (an estimate for dict). */
static size_t staged_bytes(const struct col *c)
{
    return c->plain.len + (size_t)c->page_nn * (c->kind == NE_PQ_BOOL ? 1 : 4);
}

/* ---- appending values --------------------------------------------------- */

/* Stages one PLAIN value: 8 bytes, or uint32 LE length + bytes. */
static void put_plain(struct col *c, const void *p, uint32_t n)
{
    if (c->fixed) {
        pq__buf_put(&c->plain, p, 8);
        return;
    }
    pq__buf_le32(&c->plain, n);
    pq__buf_put(&c->plain, p, n);
    stat_bytes(c, p, n);
}

/* Stages a value as a dictionary index, or as PLAIN once the chunk's
 * dictionary is full (the page so far is flushed first: a page has one
 * encoding). */
static int add_encoded(struct ne_pq_writer *w, struct col *c, const void *p, uint32_t n)
{
    if (!c->fallback) {
        uint32_t ix;
        int rc = dict_add(c, p, n, w->o.dict_bytes, &ix);
        if (rc == 0) {
            c->idx[c->page_nn] = ix;
            return 0;
        }
        if (rc != NE_ELIMIT) return fail_nomem(w, "dictionary");
        if ((rc = flush_page(w, c)) != 0) return rc;
        c->fallback = true;
    }
    put_plain(c, p, n);
    return 0;
}

static int add_value(struct ne_pq_writer *w, struct col *c, const struct ne_pq_values *v, size_t r)
{
    switch (c->kind) {
    case NE_PQ_TIME:
        c->i64[c->page_nn] = v->v.i64[r];
        stat_i64(c, v->v.i64[r]);
        return 0;
    case NE_PQ_INT64:
        stat_i64(c, v->v.i64[r]);
        return add_encoded(w, c, &v->v.i64[r], 8);
    case NE_PQ_DOUBLE:
        stat_f64(c, v->v.f64[r]);
        return add_encoded(w, c, &v->v.f64[r], 8);
    case NE_PQ_BOOL: {
        uint8_t b = v->v.b[r] != 0;
        c->bools[c->page_nn] = b;
        stat_i64(c, b);
        return 0;
    }
    case NE_PQ_TAG:
    case NE_PQ_STRING:
        return add_encoded(w, c, v->v.str[r].ptr, v->v.str[r].len);
    }
    return NE_EINVAL;
}

/* Buffers grow with sticky errors; one check per value catches them. */
static int check_bufs(struct ne_pq_writer *w, const struct col *c)
{
    if (c->plain.err || c->smin.err || c->smax.err) return fail_nomem(w, "column values");
    return 0;
}

static bool is_valid(const uint8_t *bm, size_t r)
{
    return !bm || (bm[r >> 3] >> (r & 7) & 1);
}

static int append_column(struct ne_pq_writer *w, struct col *c, const struct ne_pq_values *v,
                         size_t from, size_t n)
{
    for (size_t r = from; r < from + n; r++) {
        bool present = v->v.i64 && is_valid(v->valid, r);
        if (present) {
            int rc = add_value(w, c, v, r);
            if (rc == 0) rc = check_bufs(w, c);
            if (rc) return rc;
            c->page_nn++;
        } else {
            c->nulls++;
        }
        if (c->optional) c->levels[c->page_n] = present;
        c->page_n++;
        if (c->page_n >= w->o.page_rows || staged_bytes(c) >= w->o.page_bytes) {
            int rc = flush_page(w, c);
            if (rc) return rc;
        }
    }
    return 0;
}

/* ---- row groups ------------------------------------------------------- */

static uint64_t rg_bytes(const struct ne_pq_writer *w)
{
    uint64_t n = 0;
    for (size_t i = 0; i < w->ncols; i++) {
        const struct col *c = &w->cols[i];
        n += c->chunk.len + c->dict_data.len + staged_bytes(c);
    }
    return n;
}

/* Legacy min/max (Statistics fields 1, 2) only where the old signed order
 * is the right one. */
static bool legacy_stats_ok(enum ne_pq_kind k)
{
    return k != NE_PQ_TAG && k != NE_PQ_STRING;
}

static void stat_value(const struct col *c, bool want_max, struct pq_buf *out)
{
    out->len = 0;
    switch (c->kind) {
    case NE_PQ_TIME:
    case NE_PQ_INT64:
        pq__buf_le64(out, (uint64_t)(want_max ? c->imax : c->imin));
        break;
    case NE_PQ_BOOL:
        pq__buf_byte(out, (uint8_t)(want_max ? c->imax : c->imin));
        break;
    case NE_PQ_DOUBLE: {
        double d = want_max ? c->dmax : c->dmin;
        if (d == 0.0) d = want_max ? 0.0 : -0.0;
        uint64_t u;
        memcpy(&u, &d, 8);
        pq__buf_le64(out, u);
        break;
    }
    case NE_PQ_TAG:
    case NE_PQ_STRING: {
        const struct pq_buf *s = want_max ? &c->smax : &c->smin;
        pq__buf_put(out, s->p, s->len);
        break;
    }
    }
}

static void put_statistics(struct ne_pq_writer *w, struct pq_tc *t, const struct col *c)
{
    struct pq_buf mn = {0}, mx = {0};
    bool mm = c->has_minmax;
    if (mm) {
        stat_value(c, false, &mn);
        stat_value(c, true, &mx);
        if (mn.err || mx.err) {
            fail_nomem(w, "statistics");
            mm = false;
        } else if (mn.len > STAT_MAX_BYTES || mx.len > STAT_MAX_BYTES) {
            mm = false;
        }
    }
    pq__tc_struct(t, 12);
    if (mm && legacy_stats_ok(c->kind)) {
        pq__tc_bin(t, 1, mx.p, mx.len);
        pq__tc_bin(t, 2, mn.p, mn.len);
    }
    pq__tc_i64(t, 3, (int64_t)c->nulls);
    if (mm) {
        pq__tc_bin(t, 5, mx.p, mx.len);
        pq__tc_bin(t, 6, mn.p, mn.len);
    }
    pq__tc_end(t);
    pq__buf_free(&mn);
    pq__buf_free(&mx);
}

struct enc_stat {
    int page, enc;
    uint32_t n;
};

static void put_encoding_stats(struct pq_tc *t, const struct col *c, bool has_dict)
{
    struct enc_stat st[4];
    uint32_t n = 0;
    if (has_dict) st[n++] = (struct enc_stat){PAGE_DICTIONARY, ENC_PLAIN, 1};
    if (c->pages_plain) st[n++] = (struct enc_stat){PAGE_DATA, ENC_PLAIN, c->pages_plain};
    if (c->pages_delta)
        st[n++] = (struct enc_stat){PAGE_DATA, ENC_DELTA_BINARY_PACKED, c->pages_delta};
    if (c->pages_dict) st[n++] = (struct enc_stat){PAGE_DATA, ENC_RLE_DICTIONARY, c->pages_dict};
    pq__tc_list(t, 13, PQ_T_STRUCT, n);
    for (uint32_t i = 0; i < n; i++) {
        pq__tc_elem_struct(t);
        pq__tc_i32(t, 1, st[i].page);
        pq__tc_i32(t, 2, st[i].enc);
        pq__tc_i32(t, 3, (int32_t)st[i].n);
        pq__tc_end(t);
    }
}

static void put_encodings(struct pq_tc *t, const struct col *c, bool has_dict)
{
    int enc[4];
    uint32_t n = 0;
    if (has_dict || c->pages_plain) enc[n++] = ENC_PLAIN;
    if (c->optional) enc[n++] = ENC_RLE;
    if (c->pages_delta) enc[n++] = ENC_DELTA_BINARY_PACKED;
    if (c->pages_dict) enc[n++] = ENC_RLE_DICTIONARY;
    pq__tc_list(t, 2, PQ_T_I32, n);
    for (uint32_t i = 0; i < n; i++)
        pq__tc_elem_i32(t, enc[i]);
}

/* Writes one column chunk to the sink and its ColumnChunk to t. */
static int write_chunk(struct ne_pq_writer *w, struct pq_tc *t, struct col *c, uint64_t *raw_total,
                       uint64_t *comp_total)
{
    uint64_t start = w->off, raw = c->chunk_raw;
    bool has_dict = c->dict_n > 0;
    if (has_dict) {
        w->body.len = 0;
        pq__buf_put(&w->body, c->dict_data.p, c->dict_data.len);
        struct pq_buf page = {0};
        uint64_t draw;
        int rc = seal_page(w, &page, PAGE_DICTIONARY, c->dict_n, ENC_PLAIN, &draw);
        if (rc == 0) rc = emit(w, page.p, page.len);
        pq__buf_free(&page);
        if (rc) return rc;
        raw += draw;
    }
    uint64_t data_off = w->off;
    int rc = emit(w, c->chunk.p, c->chunk.len);
    if (rc) return rc;

    pq__tc_elem_struct(t);
    pq__tc_i64(t, 2, (int64_t)start);
    pq__tc_struct(t, 3);
    pq__tc_i32(t, 1, physical_type(c->kind));
    put_encodings(t, c, has_dict);
    pq__tc_list(t, 3, PQ_T_BINARY, 1);
    pq__tc_elem_str(t, c->name);
    pq__tc_i32(t, 4, CODEC_ZSTD);
    pq__tc_i64(t, 5, (int64_t)c->chunk_values);
    pq__tc_i64(t, 6, (int64_t)raw);
    pq__tc_i64(t, 7, (int64_t)(w->off - start));
    pq__tc_i64(t, 9, (int64_t)data_off);
    if (has_dict) pq__tc_i64(t, 11, (int64_t)start);
    put_statistics(w, t, c);
    put_encoding_stats(t, c, has_dict);
    pq__tc_end(t); /* ColumnMetaData */
    pq__tc_end(t); /* ColumnChunk */
    *raw_total += raw;
    *comp_total += w->off - start;
    return w->err;
}

static void reset_chunk(struct col *c)
{
    c->chunk.len = 0;
    c->chunk_raw = c->chunk_values = 0;
    c->pages_dict = c->pages_plain = c->pages_delta = 0;
    c->nulls = 0;
    c->has_minmax = false;
    dict_reset(c);
}

static int flush_row_group(struct ne_pq_writer *w)
{
    if (w->rg_rows == 0) return 0;
    for (size_t i = 0; i < w->ncols; i++) {
        int rc = flush_page(w, &w->cols[i]);
        if (rc) return rc;
    }
    if (w->n_rg == INT16_MAX) {
        NE_ERROR(MOD, "more than %d row groups in one file", INT16_MAX);
        w->err = NE_ELIMIT;
        return w->err;
    }
    uint64_t start = w->off, raw = 0, comp = 0;
    struct pq_tc t;
    pq__tc_init(&t, &w->rg_meta);
    pq__tc_list(&t, 1, PQ_T_STRUCT, (uint32_t)w->ncols);
    for (size_t i = 0; i < w->ncols; i++) {
        int rc = write_chunk(w, &t, &w->cols[i], &raw, &comp);
        if (rc) return rc;
        reset_chunk(&w->cols[i]);
    }
    pq__tc_i64(&t, 2, (int64_t)raw);
    pq__tc_i64(&t, 3, (int64_t)w->rg_rows);
    pq__tc_i64(&t, 5, (int64_t)start);
    pq__tc_i64(&t, 6, (int64_t)comp);
    pq__tc_i16(&t, 7, (int16_t)w->n_rg);
    pq__tc_end(&t);
    if (w->rg_meta.err) return fail_nomem(w, "row group metadata");
    w->n_rg++;
    w->rg_rows = 0;
    return 0;
}

/* ---- footer ----------------------------------------------------------- */

static void put_schema_element(struct pq_tc *t, const struct col *c)
{
    pq__tc_elem_struct(t);
    pq__tc_i32(t, 1, physical_type(c->kind));
    pq__tc_i32(t, 3, c->optional ? REP_OPTIONAL : REP_REQUIRED);
    pq__tc_str(t, 4, c->name);
    if (c->kind == NE_PQ_TAG || c->kind == NE_PQ_STRING) {
        pq__tc_i32(t, 6, CONV_UTF8);
        pq__tc_struct(t, 10); /* LogicalType */
        pq__tc_struct(t, 1);  /* STRING */
        pq__tc_end(t);
        pq__tc_end(t);
    } else if (c->kind == NE_PQ_TIME) {
        /* No converted type exists for nanoseconds: LogicalType only. */
        pq__tc_struct(t, 10); /* LogicalType */
        pq__tc_struct(t, 8);  /* TIMESTAMP */
        pq__tc_bool(t, 1, true);
        pq__tc_struct(t, 2); /* TimeUnit */
        pq__tc_struct(t, 3); /* NANOS */
        pq__tc_end(t);
        pq__tc_end(t);
        pq__tc_end(t);
        pq__tc_end(t);
    }
    pq__tc_end(t);
}

static int write_footer(struct ne_pq_writer *w)
{
    struct pq_buf f = {0};
    struct pq_tc t;
    pq__tc_init(&t, &f);
    pq__tc_i32(&t, 1, 2);
    pq__tc_list(&t, 2, PQ_T_STRUCT, (uint32_t)w->ncols + 1);
    pq__tc_elem_struct(&t);
    pq__tc_str(&t, 4, "schema");
    pq__tc_i32(&t, 5, (int32_t)w->ncols);
    pq__tc_end(&t);
    for (size_t i = 0; i < w->ncols; i++)
        put_schema_element(&t, &w->cols[i]);
    pq__tc_i64(&t, 3, (int64_t)w->rows);
    pq__tc_list(&t, 4, PQ_T_STRUCT, w->n_rg);
    pq__buf_put(&f, w->rg_meta.p, w->rg_meta.len);
    if (w->o.nkv) {
        pq__tc_list(&t, 5, PQ_T_STRUCT, (uint32_t)w->o.nkv);
        for (size_t i = 0; i < w->o.nkv; i++) {
            pq__tc_elem_struct(&t);
            pq__tc_str(&t, 1, w->kv[i].key);
            if (w->kv[i].value) pq__tc_str(&t, 2, w->kv[i].value);
            pq__tc_end(&t);
        }
    }
    pq__tc_str(&t, 6, ne_pq_created_by());
    pq__tc_list(&t, 7, PQ_T_STRUCT, (uint32_t)w->ncols);
    for (size_t i = 0; i < w->ncols; i++) {
        pq__tc_elem_struct(&t);
        pq__tc_struct(&t, 1); /* TYPE_ORDER */
        pq__tc_end(&t);
        pq__tc_end(&t);
    }
    pq__tc_end(&t);
    size_t meta_len = f.len;
    pq__buf_le32(&f, (uint32_t)meta_len);
    pq__buf_put(&f, "PAR1", 4);
    int rc = f.err ? fail_nomem(w, "footer") : emit(w, f.p, f.len);
    pq__buf_free(&f);
    return rc;
}

/* ---- open / close ------------------------------------------------------- */

static void free_col(struct col *c)
{
    ne_free(c->name);
    ne_free(c->levels);
    ne_free(c->i64);
    ne_free(c->bools);
    ne_free(c->idx);
    ne_free(c->dict_off);
    ne_free(c->slots);
    pq__buf_free(&c->plain);
    pq__buf_free(&c->dict_data);
    pq__buf_free(&c->chunk);
    pq__buf_free(&c->smin);
    pq__buf_free(&c->smax);
}

static void writer_free(struct ne_pq_writer *w)
{
    for (size_t i = 0; i < w->ncols; i++)
        free_col(&w->cols[i]);
    ne_free(w->cols);
    for (size_t i = 0; i < w->o.nkv; i++) {
        ne_free((char *)w->kv[i].key);
        ne_free((char *)w->kv[i].value);
    }
    ne_free(w->kv);
    ZSTD_freeCCtx(w->zc);
    pq__buf_free(&w->body);
    pq__buf_free(&w->zout);
    pq__buf_free(&w->hdr);
    pq__buf_free(&w->rg_meta);
    ne_free(w);
}

static int check_schema(const struct ne_pq_schema *s)
{
    if (!s || !s->cols || s->ncols == 0 || s->ncols > NE_PQ_MAX_COLS) return NE_EINVAL;
    for (size_t i = 0; i < s->ncols; i++) {
        const struct ne_pq_column *c = &s->cols[i];
        if (!c->name || !c->name[0] || (unsigned)c->kind > NE_PQ_STRING) return NE_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(s->cols[j].name, c->name) == 0) return NE_EINVAL;
    }
    return 0;
}

static int set_opts(struct ne_pq_opts *o, const struct ne_pq_opts *in)
{
    if (in)
        *o = *in;
    else
        memset(o, 0, sizeof(*o));
    if (!o->row_group_rows) o->row_group_rows = 1u << 20;
    if (!o->row_group_bytes) o->row_group_bytes = 64u << 20;
    if (!o->page_rows) o->page_rows = 20000;
    if (!o->page_bytes) o->page_bytes = 1u << 20;
    if (!o->dict_bytes) o->dict_bytes = 1u << 20;
    if (!o->zstd_level) o->zstd_level = 3;
    if (o->nkv && !o->kv) return NE_EINVAL;
    if (o->page_rows > (1u << 24) || o->zstd_level > ZSTD_maxCLevel()) return NE_EINVAL;
    for (size_t i = 0; i < o->nkv; i++)
        if (!o->kv[i].key) return NE_EINVAL;
    return 0;
}

static int init_col(struct col *c, const struct ne_pq_column *s, uint32_t page_rows)
{
    c->kind = s->kind;
    c->optional = s->kind != NE_PQ_TIME;
    c->dict = s->kind != NE_PQ_TIME && s->kind != NE_PQ_BOOL;
    c->fixed = s->kind == NE_PQ_DOUBLE || s->kind == NE_PQ_INT64;
    c->name = ne_strdup(s->name);
    if (!c->name) return NE_ENOMEM;
    if (c->optional && !(c->levels = ne_malloc(page_rows * sizeof(*c->levels)))) return NE_ENOMEM;
    if (c->kind == NE_PQ_TIME && !(c->i64 = ne_malloc(page_rows * sizeof(*c->i64))))
        return NE_ENOMEM;
    if (c->kind == NE_PQ_BOOL && !(c->bools = ne_malloc(page_rows))) return NE_ENOMEM;
    if (c->dict) {
        if (!(c->idx = ne_malloc(page_rows * sizeof(*c->idx)))) return NE_ENOMEM;
        return dict_grow_slots(c);
    }
    return 0;
}

static int copy_kv(struct ne_pq_writer *w)
{
    if (!w->o.nkv) return 0;
    w->kv = ne_calloc(w->o.nkv, sizeof(*w->kv));
    if (!w->kv) return NE_ENOMEM;
    for (size_t i = 0; i < w->o.nkv; i++) {
        const struct ne_pq_kv *k = &w->o.kv[i];
        w->kv[i].key = ne_strdup(k->key);
        w->kv[i].value = k->value ? ne_strdup(k->value) : NULL;
        if (!w->kv[i].key || (k->value && !w->kv[i].value)) return NE_ENOMEM;
    }
    w->o.kv = w->kv;
    return 0;
}

int ne_pq_open(const struct ne_pq_schema *schema, const struct ne_pq_opts *opts,
               ne_pq_write_fn sink, void *ctx, struct ne_pq_writer **out)
{
    struct ne_pq_opts o;
    if (!sink || !out || check_schema(schema) != 0 || set_opts(&o, opts) != 0) {
        NE_ERROR(MOD, "invalid schema or options");
        return NE_EINVAL;
    }
    struct ne_pq_writer *w = ne_calloc(1, sizeof(*w));
    if (!w) return NE_ENOMEM;
    w->sink = sink;
    w->ctx = ctx;
    w->o = o;
    size_t nkv = o.nkv;
    w->o.nkv = 0; /* counts copied entries until copy_kv is done */
    int rc = NE_ENOMEM;
    w->cols = ne_calloc(schema->ncols, sizeof(*w->cols));
    if (!w->cols) goto fail;
    for (size_t i = 0; i < schema->ncols; i++, w->ncols++)
        if ((rc = init_col(&w->cols[i], &schema->cols[i], o.page_rows)) != 0) {
            w->ncols++;
            goto fail;
        }
    w->o.nkv = nkv;
    if ((rc = copy_kv(w)) != 0) goto fail;
    rc = NE_ENOMEM;
    if (!(w->zc = ZSTD_createCCtx())) goto fail;
    if ((rc = emit(w, "PAR1", 4)) != 0) goto fail;
    *out = w;
    return 0;
fail:
    if (rc == NE_ENOMEM) NE_ERROR(MOD, "out of memory opening a writer");
    if (!w->kv) w->o.nkv = 0;
    writer_free(w);
    return rc;
}

static int check_batch(const struct ne_pq_writer *w, const struct ne_pq_batch *b)
{
    if (!b || (b->nrows && !b->cols)) return NE_EINVAL;
    for (size_t i = 0; i < w->ncols && b->nrows; i++) {
        const struct col *c = &w->cols[i];
        const struct ne_pq_values *v = &b->cols[i];
        if (c->kind == NE_PQ_TIME && (v->valid || !v->v.i64)) return NE_EINVAL;
        if ((c->kind != NE_PQ_TAG && c->kind != NE_PQ_STRING) || !v->v.str) continue;
        for (size_t r = 0; r < b->nrows; r++)
            if (is_valid(v->valid, r) &&
                (v->v.str[r].len > INT32_MAX - 4 || (!v->v.str[r].ptr && v->v.str[r].len)))
                return NE_EINVAL;
    }
    return 0;
}

int ne_pq_write_rows(struct ne_pq_writer *w, const struct ne_pq_batch *batch)
{
    if (!w) return NE_EINVAL;
    if (w->err) return NE_EFAILED;
    if (check_batch(w, batch) != 0) {
        NE_ERROR(MOD, "invalid batch (null time, missing column array or oversized string)");
        return NE_EINVAL;
    }
    size_t done = 0;
    while (done < batch->nrows) {
        size_t n = batch->nrows - done;
        if (n > SLICE_ROWS) n = SLICE_ROWS;
        if (n > w->o.row_group_rows - w->rg_rows) n = (size_t)(w->o.row_group_rows - w->rg_rows);
        for (size_t i = 0; i < w->ncols; i++) {
            int rc = append_column(w, &w->cols[i], &batch->cols[i], done, n);
            if (rc) return rc;
        }
        done += n;
        w->rg_rows += n;
        w->rows += n;
        if (w->rg_rows >= w->o.row_group_rows || rg_bytes(w) >= w->o.row_group_bytes) {
            int rc = flush_row_group(w);
            if (rc) return rc;
        }
    }
    return 0;
}

int ne_pq_close(struct ne_pq_writer **wp)
{
    if (!wp || !*wp) return 0;
    struct ne_pq_writer *w = *wp;
    *wp = NULL;
    if (!w->err && flush_row_group(w) == 0) write_footer(w);
    int rc = w->err;
    writer_free(w);
    return rc;
}

void ne_pq_abort(struct ne_pq_writer **wp)
{
    if (!wp || !*wp) return;
    writer_free(*wp);
    *wp = NULL;
}

int ne_pq_sink_file(void *ctx, const void *buf, size_t len)
{
    return ne_file_append(ctx, buf, len);
}

uint64_t ne_pq_rows(const struct ne_pq_writer *w)
{
    return w ? w->rows : 0;
}

uint64_t ne_pq_bytes(const struct ne_pq_writer *w)
{
    return w ? w->off : 0;
}
