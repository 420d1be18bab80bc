/*
 * segment_writer.c - writes an immutable segment file, streaming.
 *
 * Blocks go to the file as soon as they fill (through a ~1 MiB write
 * buffer); the writer keeps only the serialised index (a few dozen bytes
 * per block) and one partial block. The file is written as <id>.seg.tmp and
 * published by fdatasync + rename + directory fsync, so a reader never sees
 * a partial segment.
 *
 * Invariants: columns strictly increase by (series id, field bytes); within
 * a column timestamps strictly increase; every block holds 1..block_points
 * points; blocks are contiguous from offset 24 in index order.
 *
 * ON-DISK FORMAT, version 1. Fixed-width integers are little-endian;
 * "uv" is a LEB128 varint, "sv" a zigzag varint (store/codec/buf.h).
 *
 *  offset 0
 *  +--------------------------------------------------------------------+
 *  | HEADER (24 bytes)                                                  |
 *  |    0  magic    u32  "NSEG"                                         |
 *  |    4  version  u16  1                                              |
 *  |    6  flags    u16  0                                              |
 *  |    8  seg_id   u64                                                 |
 *  |   16  reserved u32  0                                              |
 *  |   20  crc      u32  CRC32C of bytes 0..19                          |
 *  +--------------------------------------------------------------------+
 *  | BLOCKS, back to back, in index order:                              |
 *  |   col 0 blk 0 | col 0 blk 1 | ... | col m blk k                    |
 *  |   each one store/codec block (self-describing, see block.c);       |
 *  |   its offset is 24 + the lengths of the blocks before it           |
 *  +--------------------------------------------------------------------+
 *  | FOOTER (footer_len bytes; a zstd frame when tail flag bit 0 is set;|
 *  | shown here decompressed, footer_raw_len bytes)                     |
 *  |   uv seg_id  sv min_ts  sv max_ts  uv wal_seq_min  uv wal_seq_max  |
 *  |   uv ndbs,  ndbs x { uv len, name bytes }                          |
 *  |   uv ncols, ncols x {                                              |
 *  |       uv series_id  uv db  u8 type  uv field_len  field bytes      |
 *  |       uv nblocks, nblocks x {                                      |
 *  |           uv len  u32 crc (CRC32C of the block's bytes)            |
 *  |           stats (ne_block_stats_put, store/codec/stats.c)          |
 *  |       } }                                                          |
 *  +--------------------------------------------------------------------+
 *  | TAIL (40 bytes, the last bytes of the file)                        |
 *  |    0  footer_off     u64                                           |
 *  |    8  footer_len     u32  stored footer bytes                      |
 *  |   12  footer_raw_len u32  footer bytes after decompression         |
 *  |   16  footer_crc     u32  CRC32C of the stored footer bytes        |
 *  |   20  version        u16  1                                        |
 *  |   22  flags          u16  bit 0: footer is zstd-compressed         |
 *  |   24  seg_id         u64                                           |
 *  |   32  tail_crc       u32  CRC32C of tail bytes 0..31               |
 *  |   36  magic          u32  "NSGT"                                   |
 *  +--------------------------------------------------------------------+
 *
 * VERSION 2 (written only when some column is versioned, i.e. its points
 * carry last-writer-wins versions; otherwise the file is exactly version
 * 1, and the header always says 1). Changes to the footer:
 *   - a versioned column's type byte has bit 7 set (0x80 | type);
 *   - each block entry of a versioned column is
 *       uv len  u32 crc  uv vlen  u32 vcrc  stats
 *     and the block's version stream, vlen bytes with CRC32C vcrc,
 *     follows the block's len bytes in the file (block offsets add both).
 *   Version stream: count points' versions in time order, as
 *       uv ver[0], then (count - 1) x sv (ver[i] - ver[i-1])
 *   (differences taken modulo 2^64; zigzag varints). Nothing else
 *   changes: a version 1 column reads as unversioned.
 *
 * A reader checks the tail magic, the tail CRC, then the version (an
 * unknown version is NE_EVERSION), the header, the footer CRC, and that the
 * footer parses to exactly footer_raw_len bytes with block lengths summing
 * to footer_off - 24.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <zstd.h>

#include "ports/crc32c.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "store/segment/seg_internal.h"

struct ne_segw {
    char *dir, *tmp_path, *final_path;
    struct ne_file *f;
    uint64_t seg_id;
    uint32_t block_points;
    int64_t align_ns;   /* block time grid (0: none), see struct ne_segw_opts */
    uint32_t align_min; /* >= 1 */
    bool footer_raw;    /* no zstd for the footer */
    struct ne_codec_opts copts;
    uint64_t wal_seq_min, wal_seq_max;
    struct ne_buf dbs; /* serialised: uv ndbs, names */
    uint32_t ndbs;
    int err; /* sticky: first failure */

    struct ne_buf out;   /* bytes not yet appended to the file */
    uint64_t file_off;   /* file offset of out.p[0] */
    struct ne_buf index; /* serialised column entries so far */
    struct ne_buf colblk; /* serialised block entries of the open column */

    /* the open column */
    bool in_col;
    struct ne_seg_colkey key; /* key.field.p points into field_buf */
    struct ne_buf field_buf;
    struct ne_buf prev_field; /* last finished column's field */
    uint64_t prev_sid;
    bool have_prev;
    uint32_t col_blocks;
    int64_t last_ts;
    bool have_ts;

    /* the partial block of the open column */
    int64_t *pts;
    uint8_t *pvals;       /* block_points values (8 bytes each, or offsets) */
    uint64_t *pver;       /* block_points versions (versioned columns) */
    bool any_ver;         /* some column is versioned: format version 2 */
    unsigned col_flags;   /* of the open column */
    struct ne_sv *psv;    /* strings: views built at flush time */
    struct ne_buf pstr;   /* strings: the bytes of pending values */
    uint32_t pn;

    /* totals for ne_seg_info */
    int64_t min_ts, max_ts;
    uint64_t ncols, nblocks, npoints, nseries;
};

static const char MOD[] = "segment";

size_t seg__vsize(uint8_t type)
{
    switch (type) {
    case NE_V_FLOAT:
    case NE_V_INT:
    case NE_V_UINT:
        return 8;
    case NE_V_BOOL:
        return sizeof(bool);
    case NE_V_STRING:
        return sizeof(struct ne_sv);
    default:
        return 0;
    }
}

bool seg__type_ok(uint8_t type)
{
    return type >= NE_V_FLOAT && type <= NE_V_STRING;
}

int seg__grow(void **p, size_t *cap, size_t need, size_t sz)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 16;
    while (n < need)
        n *= 2;
    if (n > SIZE_MAX / sz)
        return NE_ENOMEM;
    void *q = ne_realloc(*p, n * sz);
    if (!q)
        return NE_ENOMEM;
    *p = q;
    *cap = n;
    return 0;
}

int ne_seg_colkey_cmp(const struct ne_seg_colkey *a, const struct ne_seg_colkey *b)
{
    if (a->series_id != b->series_id)
        return a->series_id < b->series_id ? -1 : 1;
    uint32_t n = a->field.n < b->field.n ? a->field.n : b->field.n;
    int c = n ? memcmp(a->field.p, b->field.p, n) : 0;
    if (c)
        return c < 0 ? -1 : 1;
    if (a->field.n != b->field.n)
        return a->field.n < b->field.n ? -1 : 1;
    return 0;
}

int ne_seg_path(char *buf, size_t n, const char *dir, uint64_t id)
{
    int k = snprintf(buf, n, "%s/%016" PRIx64 ".seg", dir, id);
    return (k < 0 || (size_t)k >= n) ? NE_ERANGE : 0;
}

static char *path_dup(const char *dir, uint64_t id, const char *suffix)
{
    size_t n = strlen(dir) + NE_SEG_NAME_MAX + 2;
    char *p = ne_malloc(n);
    if (p)
        snprintf(p, n, "%s/%016" PRIx64 ".seg%s", dir, id, suffix);
    return p;
}

/* Records the first error; later calls fail with it. */
static int fail(struct ne_segw *w, int err, const char *what)
{
    if (!w->err) {
        w->err = err;
        ne_logf(NE_LOG_ERROR, MOD, "%s: %s: %s", w->tmp_path ? w->tmp_path : "segment", what,
                ne_strerror(err));
    }
    return err;
}

static int write_out(struct ne_segw *w)
{
    if (w->out.len == 0)
        return 0;
    int rc = ne_file_append(w->f, w->out.p, w->out.len);
    if (rc)
        return fail(w, rc, "write");
    w->file_off += w->out.len;
    ne_buf_reset(&w->out);
    return 0;
}

/* Writes the buffer out first if a block of about need bytes would take
 * it past SEG_WBUF_FLUSH: the buffer then stays at its ~1 MiB instead of
 * doubling to 2 MiB for the one block that crosses the mark. */
static int make_room(struct ne_segw *w, size_t need)
{
    if (w->out.len == 0 || w->out.len + need <= SEG_WBUF_FLUSH)
        return 0;
    return write_out(w);
}

/* A generous guess at n points' encoded size (timestamps and numbers
 * rarely take more than 9 bytes each; strings their bytes and a length). */
static size_t block_guess(const struct ne_segw *w, const void *vals, uint32_t n)
{
    size_t b = 64 + (size_t)n * 18;
    if (w->key.type == NE_V_STRING)
        for (uint32_t i = 0; i < n; i++)
            b += ((const struct ne_sv *)vals)[i].n;
    return b;
}

static int put_header(struct ne_segw *w)
{
    uint8_t h[SEG_HEADER_SIZE] = {0};
    seg__put32(h, SEG_MAGIC);
    seg__put16(h + 4, SEG_VERSION);
    seg__put16(h + 6, 0);
    seg__put64(h + 8, w->seg_id);
    seg__put32(h + 16, 0);
    seg__put32(h + 20, ne_crc32c(0, h, 20));
    return ne_buf_append(&w->out, h, sizeof h);
}

static int copy_dbs(struct ne_segw *w, const struct ne_segw_opts *o)
{
    uint32_t n = o ? o->ndbs : 0;
    int rc = ne_buf_put_uvarint(&w->dbs, n);
    for (uint32_t i = 0; !rc && i < n; i++) {
        const char *s = o->dbs[i] ? o->dbs[i] : "";
        size_t len = strlen(s);
        rc = ne_buf_put_uvarint(&w->dbs, len);
        if (!rc)
            rc = ne_buf_append(&w->dbs, s, len);
    }
    w->ndbs = n;
    return rc;
}

static void writer_free(struct ne_segw *w)
{
    if (!w)
        return;
    ne_file_close(&w->f);
    ne_free(w->dir);
    ne_free(w->tmp_path);
    ne_free(w->final_path);
    ne_buf_free(&w->dbs);
    ne_buf_free(&w->out);
    ne_buf_free(&w->index);
    ne_buf_free(&w->colblk);
    ne_buf_free(&w->field_buf);
    ne_buf_free(&w->prev_field);
    ne_buf_free(&w->pstr);
    ne_free(w->pts);
    ne_free(w->pvals);
    ne_free(w->psv);
    ne_free(w->pver);
    ne_free(w);
}

static int writer_alloc(const char *dir, uint64_t seg_id, const struct ne_segw_opts *o,
                        struct ne_segw **out)
{
    struct ne_segw *w = ne_calloc(1, sizeof *w);
    if (!w)
        return NE_ENOMEM;
    w->seg_id = seg_id;
    w->block_points = (o && o->block_points) ? o->block_points : NE_SEG_BLOCK_POINTS;
    w->align_ns = o ? o->align_ns : 0;
    w->align_min = (o && o->align_min) ? o->align_min : 1;
    w->footer_raw = o && o->footer_raw;
    if (o && o->codec)
        w->copts = *o->codec;
    else
        ne_codec_opts_default(&w->copts);
    w->wal_seq_min = o ? o->wal_seq_min : 0;
    w->wal_seq_max = o ? o->wal_seq_max : 0;
    w->dir = ne_strdup(dir);
    w->tmp_path = path_dup(dir, seg_id, ".tmp");
    w->final_path = path_dup(dir, seg_id, "");
    w->pts = ne_malloc(w->block_points * sizeof(int64_t));
    w->pvals = ne_malloc(w->block_points * (size_t)8);
    w->psv = ne_malloc(w->block_points * sizeof(struct ne_sv));
    if (!w->dir || !w->tmp_path || !w->final_path || !w->pts || !w->pvals || !w->psv ||
        copy_dbs(w, o)) {
        writer_free(w);
        return NE_ENOMEM;
    }
    *out = w;
    return 0;
}

int ne_segw_open(const char *dir, uint64_t seg_id, const struct ne_segw_opts *opts,
                 struct ne_segw **out)
{
    if (!dir || !out || (opts && opts->block_points > NE_SEG_BLOCK_POINTS_MAX) ||
        (opts && opts->ndbs && !opts->dbs) || (opts && opts->align_ns < 0))
        return NE_EINVAL;
    struct ne_segw *w;
    int rc = writer_alloc(dir, seg_id, opts, &w);
    if (rc) {
        ne_logf(NE_LOG_ERROR, MOD, "open segment %016" PRIx64 " in %s: %s", seg_id, dir,
                ne_strerror(rc));
        return rc;
    }
    if (ne_fs_exists(w->final_path)) {
        ne_logf(NE_LOG_ERROR, MOD, "%s: segment already exists", w->final_path);
        writer_free(w);
        return NE_EEXISTS;
    }
    rc = ne_fs_unlink(w->tmp_path);
    if (rc == NE_ENOTFOUND)
        rc = 0;
    if (!rc)
        rc = ne_file_open(w->tmp_path, NE_F_WRITE | NE_F_CREATE | NE_F_EXCL | NE_F_TRUNC, &w->f);
    if (!rc)
        rc = put_header(w);
    if (rc) {
        ne_logf(NE_LOG_ERROR, MOD, "%s: create: %s", w->tmp_path, ne_strerror(rc));
        if (w->f)
            ne_fs_unlink(w->tmp_path);
        writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

int ne_segw_begin_column(struct ne_segw *w, const struct ne_seg_colkey *key)
{
    return ne_segw_begin_column_v(w, key, 0);
}

int ne_segw_begin_column_v(struct ne_segw *w, const struct ne_seg_colkey *key, unsigned flags)
{
    if (w->err)
        return w->err;
    if (w->in_col || !key || !seg__type_ok(key->type) || key->field.n > NE_SEG_FIELD_MAX ||
        (key->field.n && !key->field.p) || key->db >= (w->ndbs ? w->ndbs : 1))
        return NE_EINVAL;
    if (w->have_prev) {
        struct ne_seg_colkey prev = {.series_id = w->prev_sid,
                                     .field = {(const char *)w->prev_field.p,
                                               (uint32_t)w->prev_field.len}};
        if (ne_seg_colkey_cmp(&prev, key) >= 0)
            return NE_EINVAL;
    }
    ne_buf_reset(&w->field_buf);
    if (ne_buf_append(&w->field_buf, key->field.p, key->field.n))
        return fail(w, NE_ENOMEM, "begin column");
    if ((flags & NE_SEG_COL_VERSIONED) && !w->pver &&
        !(w->pver = ne_malloc(w->block_points * sizeof *w->pver)))
        return fail(w, NE_ENOMEM, "begin column");
    w->key = *key;
    w->col_flags = flags & NE_SEG_COL_VERSIONED;
    w->key.field.p = (const char *)w->field_buf.p;
    w->in_col = true;
    w->col_blocks = 0;
    w->have_ts = false;
    w->pn = 0;
    ne_buf_reset(&w->pstr);
    ne_buf_reset(&w->colblk);
    return 0;
}

static bool versioned(const struct ne_segw *w)
{
    return (w->col_flags & NE_SEG_COL_VERSIONED) != 0;
}

/* Records the block that now ends the write buffer (it started at mark;
 * its last vlen bytes are its version stream): its index entry and the
 * totals. On failure the block is taken back. */
static int record_block(struct ne_segw *w, size_t mark, uint32_t crc, uint32_t vlen,
                        uint32_t vcrc, const struct ne_block_stats *st)
{
    size_t len = w->out.len - mark - vlen;
    size_t entry = w->colblk.len;
    int rc = ne_buf_put_uvarint(&w->colblk, len);
    if (!rc)
        rc = ne_buf_put_u32le(&w->colblk, crc);
    if (!rc && versioned(w))
        rc = ne_buf_put_uvarint(&w->colblk, vlen);
    if (!rc && versioned(w))
        rc = ne_buf_put_u32le(&w->colblk, vcrc);
    if (!rc)
        rc = ne_block_stats_put(st, &w->colblk);
    if (rc) {
        w->out.len = mark;
        w->colblk.len = entry;
        return fail(w, rc, "index block");
    }
    if (w->npoints == 0) {
        w->min_ts = st->min_ts;
        w->max_ts = st->max_ts;
    }
    if (st->min_ts < w->min_ts)
        w->min_ts = st->min_ts;
    if (st->max_ts > w->max_ts)
        w->max_ts = st->max_ts;
    w->col_blocks++;
    w->npoints += st->count;
    if (w->out.len >= SEG_WBUF_FLUSH)
        return write_out(w);
    return 0;
}

int seg__ver_encode(const uint64_t *ver, uint32_t n, struct ne_buf *out)
{
    int rc = n ? ne_buf_put_uvarint(out, ver[0]) : 0;
    for (uint32_t i = 1; !rc && i < n; i++)
        rc = ne_buf_put_svarint(out, (int64_t)(ver[i] - ver[i - 1]));
    return rc;
}

int seg__ver_decode(const uint8_t *p, size_t len, uint64_t *ver, uint32_t n)
{
    struct ne_rd rd;
    ne_rd_init(&rd, p, len);
    for (uint32_t i = 0; i < n; i++) {
        uint64_t u;
        int64_t d;
        if (i == 0 ? ne_rd_uvarint(&rd, &u) : ne_rd_svarint(&rd, &d))
            return NE_ECORRUPT;
        ver[i] = i == 0 ? u : ver[i - 1] + (uint64_t)d;
    }
    return ne_rd_left(&rd) ? NE_ECORRUPT : 0;
}

/* Encodes n points (and, versioned, their versions: ver NULL means all 0)
 * into the write buffer and records the block entry. */
static int flush_block(struct ne_segw *w, const int64_t *ts, const void *vals,
                       const uint64_t *ver, uint32_t n)
{
    struct ne_block_stats st;
    int rc = make_room(w, block_guess(w, vals, n));
    if (rc)
        return rc;
    size_t mark = w->out.len;
    rc = ne_codec_encode_block(w->key.type, ts, vals, n, &w->copts, &w->out, &st);
    if (rc)
        return fail(w, rc, "encode block");
    uint32_t crc = ne_crc32c(0, w->out.p + mark, w->out.len - mark), vlen = 0, vcrc = 0;
    if (versioned(w)) {
        size_t vmark = w->out.len;
        if (!ver) {
            memset(w->pver, 0, n * sizeof *w->pver);
            ver = w->pver;
        }
        if ((rc = seg__ver_encode(ver, n, &w->out)))
            return fail(w, rc, "encode versions");
        vlen = (uint32_t)(w->out.len - vmark);
        vcrc = ne_crc32c(0, w->out.p + vmark, vlen);
        w->any_ver = true;
    }
    return record_block(w, mark, crc, vlen, vcrc, &st);
}

/* Flushes the partial block (strings: builds their views first). */
static int flush_pending(struct ne_segw *w)
{
    if (w->pn == 0)
        return 0;
    const void *vals = w->pvals;
    if (w->key.type == NE_V_STRING) {
        const uint64_t *offs = (const uint64_t *)(void *)w->pvals;
        for (uint32_t i = 0; i < w->pn; i++) {
            uint64_t end = (i + 1 < w->pn) ? offs[i + 1] : w->pstr.len;
            /* all-empty strings leave the arena unallocated: no NULL + 0 */
            w->psv[i].p = w->pstr.p ? (const char *)w->pstr.p + offs[i] : "";
            w->psv[i].n = (uint32_t)(end - offs[i]);
        }
        vals = w->psv;
    }
    int rc = flush_block(w, w->pts, vals, versioned(w) ? w->pver : NULL, w->pn);
    w->pn = 0;
    ne_buf_reset(&w->pstr);
    return rc;
}

/* Copies k points into the partial block. */
static int stage(struct ne_segw *w, const int64_t *ts, const void *vals, const uint64_t *ver,
                 uint32_t k)
{
    memcpy(w->pts + w->pn, ts, k * sizeof(int64_t));
    if (versioned(w)) {
        if (ver)
            memcpy(w->pver + w->pn, ver, k * sizeof *ver);
        else
            memset(w->pver + w->pn, 0, k * sizeof *ver);
    }
    if (w->key.type != NE_V_STRING) {
        size_t vs = seg__vsize(w->key.type);
        memcpy(w->pvals + (size_t)w->pn * vs, vals, k * vs);
        w->pn += k;
        return 0;
    }
    const struct ne_sv *sv = vals;
    uint64_t *offs = (uint64_t *)(void *)w->pvals;
    size_t bytes = 0;
    for (uint32_t i = 0; i < k; i++)
        bytes += sv[i].n;
    if (ne_buf_reserve(&w->pstr, bytes))
        return fail(w, NE_ENOMEM, "stage strings");
    for (uint32_t i = 0; i < k; i++) { /* room reserved: plain copies */
        offs[w->pn + i] = w->pstr.len;
        if (sv[i].n) memcpy(w->pstr.p + w->pstr.len, sv[i].p, sv[i].n);
        w->pstr.len += sv[i].n;
    }
    w->pn += k;
    return 0;
}

static int check_append(struct ne_segw *w, const int64_t *ts, const void *vals, uint32_t n)
{
    if (!w->in_col || (n && (!ts || !vals)))
        return NE_EINVAL;
    if (n && w->have_ts && ts[0] <= w->last_ts)
        return NE_EINVAL;
    unsigned unordered = 0; /* no early exit: the loop vectorises */
    for (uint32_t i = 1; i < n; i++)
        unordered |= ts[i] <= ts[i - 1];
    if (unordered)
        return NE_EINVAL;
    if (w->key.type == NE_V_STRING) {
        const struct ne_sv *sv = vals;
        for (uint32_t i = 0; i < n; i++)
            if (sv[i].n > INT32_MAX || (sv[i].n && !sv[i].p))
                return NE_EINVAL;
    }
    return 0;
}

/* The grid cell of t: floor(t / g), times before the epoch included. */
static int64_t grid_cell(int64_t t, int64_t g)
{
    int64_t q = t / g;
    return (t % g != 0 && t < 0) ? q - 1 : q;
}

/* How many of the n ascending points ts go into the open block: up to its
 * room and, with a grid, up to the first point in a later cell than the
 * block's last one, once the block holds align_min points. *close says
 * the block is complete after them. At least one point unless *close. */
static uint32_t block_take(const struct ne_segw *w, const int64_t *ts, uint32_t n, bool *close)
{
    uint32_t room = w->block_points - w->pn;
    uint32_t lim = n < room ? n : room;
    *close = lim == room;
    if (!w->align_ns || lim == 0)
        return lim;
    uint32_t i = 0; /* points taken before the grid counts (filling to align_min) */
    if (w->pn < w->align_min)
        i = w->align_min - w->pn < lim ? w->align_min - w->pn : lim;
    if (i == lim)
        return lim;
    int64_t cell = grid_cell(i ? ts[i - 1] : w->pts[w->pn - 1], w->align_ns);
    if (grid_cell(ts[lim - 1], w->align_ns) == cell)
        return lim;
    uint32_t lo = i, hi = lim - 1; /* ts[hi] is in a later cell */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (grid_cell(ts[mid], w->align_ns) > cell)
            hi = mid;
        else
            lo = mid + 1;
    }
    *close = true;
    return lo;
}

int ne_segw_append(struct ne_segw *w, const int64_t *ts, const void *vals, uint32_t n)
{
    return ne_segw_append_v(w, ts, vals, NULL, n);
}

int ne_segw_append_v(struct ne_segw *w, const int64_t *ts, const void *vals, const uint64_t *ver,
                     uint32_t n)
{
    if (w->err)
        return w->err;
    int rc = check_append(w, ts, vals, n);
    if (rc || n == 0)
        return rc;
    w->last_ts = ts[n - 1];
    w->have_ts = true;
    size_t vs = seg__vsize(w->key.type);
    const uint8_t *v = vals;
    if (!versioned(w))
        ver = NULL;
    while (n > 0 && !rc) {
        bool close;
        uint32_t k = block_take(w, ts, n, &close);
        if (w->pn == 0 && close)
            rc = flush_block(w, ts, v, ver, k); /* whole block straight from the caller */
        else
            rc = stage(w, ts, v, ver, k);
        if (!rc && close && w->pn)
            rc = flush_pending(w);
        ts += k;
        v += (size_t)k * vs;
        ver = ver ? ver + k : NULL;
        n -= k;
    }
    return rc;
}

uint32_t seg__segw_block_points(const struct ne_segw *w)
{
    return w->block_points;
}

uint32_t seg__segw_pending(const struct ne_segw *w, int64_t *last_ts)
{
    if (w->pn)
        *last_ts = w->pts[w->pn - 1];
    return w->pn;
}

int seg__segw_copy_block(struct ne_segw *w, const uint8_t *raw, size_t len, uint32_t crc,
                         uint32_t vlen, uint32_t vcrc, const struct ne_block_stats *st)
{
    if (w->err)
        return w->err;
    if (!w->in_col || st->type != w->key.type || st->count == 0 || len == 0 ||
        (vlen != 0) != versioned(w) || (w->have_ts && st->min_ts <= w->last_ts))
        return NE_EINVAL;
    int rc = flush_pending(w);
    if (!rc)
        rc = make_room(w, len + vlen);
    if (rc)
        return rc;
    size_t mark = w->out.len;
    if (ne_buf_append(&w->out, raw, len + vlen))
        return fail(w, NE_ENOMEM, "copy block");
    w->last_ts = st->max_ts;
    w->have_ts = true;
    if (vlen)
        w->any_ver = true;
    return record_block(w, mark, crc, vlen, vcrc, st);
}

int ne_segw_end_column(struct ne_segw *w)
{
    if (w->err)
        return w->err;
    if (!w->in_col)
        return NE_EINVAL;
    int rc = flush_pending(w);
    if (rc)
        return rc;
    w->in_col = false;
    if (w->col_blocks == 0)
        return 0; /* an empty column is not recorded */
    const struct ne_seg_colkey *k = &w->key;
    rc = ne_buf_put_uvarint(&w->index, k->series_id);
    if (!rc)
        rc = ne_buf_put_uvarint(&w->index, k->db);
    if (!rc)
        rc = ne_buf_put_u8(&w->index, k->type | (versioned(w) ? SEG_TYPE_VERSIONED : 0));
    if (!rc)
        rc = ne_buf_put_uvarint(&w->index, k->field.n);
    if (!rc)
        rc = ne_buf_append(&w->index, k->field.p, k->field.n);
    if (!rc)
        rc = ne_buf_put_uvarint(&w->index, w->col_blocks);
    if (!rc)
        rc = ne_buf_append(&w->index, w->colblk.p, w->colblk.len);
    ne_buf_reset(&w->prev_field);
    if (!rc)
        rc = ne_buf_append(&w->prev_field, k->field.p, k->field.n);
    if (rc)
        return fail(w, rc, "index column");
    if (!w->have_prev || w->prev_sid != k->series_id)
        w->nseries++;
    w->prev_sid = k->series_id;
    w->have_prev = true;
    w->ncols++;
    w->nblocks += w->col_blocks;
    return 0;
}

int ne_segw_add_column(struct ne_segw *w, const struct ne_seg_colkey *key, const int64_t *ts,
                       const void *vals, uint32_t n)
{
    int rc = ne_segw_begin_column(w, key);
    if (!rc)
        rc = ne_segw_append(w, ts, vals, n);
    if (!rc)
        rc = ne_segw_end_column(w);
    return rc;
}

/* Builds the raw footer into raw. */
static int build_footer(struct ne_segw *w, struct ne_buf *raw)
{
    int64_t mn = w->npoints ? w->min_ts : 0, mx = w->npoints ? w->max_ts : 0;
    int rc = ne_buf_put_uvarint(raw, w->seg_id);
    if (!rc)
        rc = ne_buf_put_svarint(raw, mn);
    if (!rc)
        rc = ne_buf_put_svarint(raw, mx);
    if (!rc)
        rc = ne_buf_put_uvarint(raw, w->wal_seq_min);
    if (!rc)
        rc = ne_buf_put_uvarint(raw, w->wal_seq_max);
    if (!rc)
        rc = ne_buf_append(raw, w->dbs.p, w->dbs.len);
    if (!rc)
        rc = ne_buf_put_uvarint(raw, w->ncols);
    if (!rc)
        rc = ne_buf_append(raw, w->index.p, w->index.len);
    if (!rc && raw->len > SEG_FOOTER_RAW_MAX)
        rc = NE_ETOOBIG;
    return rc;
}

/* zstd level of the footer: the index is varints and 8-byte statistics,
 * which level 1 packs as small as level 3 (2.31x against 2.32x on an I1
 * flush's 850 KB footer) at twice the speed; every segment written pays
 * it, and compaction writes each point's index entry several times. */
#define FOOTER_ZSTD_LEVEL 1

/* Appends footer and tail to the write buffer. */
static int put_footer(struct ne_segw *w)
{
    struct ne_buf raw = NE_BUF_INIT, z = NE_BUF_INIT;
    uint16_t flags = 0;
    int rc = build_footer(w, &raw);
    const struct ne_buf *stored = &raw;
    size_t bound = ZSTD_compressBound(raw.len);
    if (!rc && !w->footer_raw && raw.len >= 256 && !ne_buf_reserve(&z, bound)) {
        size_t zn = ZSTD_compress(z.p, bound, raw.p, raw.len, FOOTER_ZSTD_LEVEL);
        if (!ZSTD_isError(zn) && zn < raw.len) {
            z.len = zn;
            stored = &z;
            flags |= SEG_TAIL_ZSTD;
        }
    }
    uint64_t footer_off = w->file_off + w->out.len;
    if (!rc)
        rc = ne_buf_append(&w->out, stored->p, stored->len);
    if (!rc) {
        uint8_t t[SEG_TAIL_SIZE];
        seg__put64(t, footer_off);
        seg__put32(t + 8, (uint32_t)stored->len);
        seg__put32(t + 12, (uint32_t)raw.len);
        seg__put32(t + 16, ne_crc32c(0, stored->p, stored->len));
        seg__put16(t + 20, w->any_ver ? SEG_VERSION_LWW : SEG_VERSION);
        seg__put16(t + 22, flags);
        seg__put64(t + 24, w->seg_id);
        seg__put32(t + 32, ne_crc32c(0, t, 32));
        seg__put32(t + 36, SEG_TAIL_MAGIC);
        rc = ne_buf_append(&w->out, t, sizeof t);
    }
    ne_buf_free(&raw);
    ne_buf_free(&z);
    return rc ? fail(w, rc, "build footer") : 0;
}

static int publish(struct ne_segw *w)
{
    int rc = ne_file_datasync(w->f);
    if (rc)
        return fail(w, rc, "fdatasync");
    rc = ne_file_close(&w->f);
    if (rc)
        return fail(w, rc, "close");
    rc = ne_fs_rename(w->tmp_path, w->final_path);
    if (rc)
        return fail(w, rc, "rename");
    rc = ne_fs_sync_dir(w->dir);
    if (rc) {
        /* The rename may or may not survive a crash: take it back so the
         * caller, who sees a failure, never finds a half-durable segment. */
        ne_fs_rename(w->final_path, w->tmp_path);
        return fail(w, rc, "fsync directory");
    }
    return 0;
}

static void fill_info(const struct ne_segw *w, uint64_t bytes, struct ne_seg_info *info)
{
    memset(info, 0, sizeof *info);
    info->seg_id = w->seg_id;
    info->version = w->any_ver ? SEG_VERSION_LWW : SEG_VERSION;
    info->min_ts = w->npoints ? w->min_ts : 0;
    info->max_ts = w->npoints ? w->max_ts : 0;
    info->wal_seq_min = w->wal_seq_min;
    info->wal_seq_max = w->wal_seq_max;
    info->ndbs = w->ndbs;
    info->nseries = (uint32_t)w->nseries;
    info->ncols = (uint32_t)w->ncols;
    info->nblocks = w->nblocks;
    info->npoints = w->npoints;
    info->file_bytes = bytes;
}

int ne_segw_finish(struct ne_segw **wp, struct ne_seg_info *info)
{
    if (!wp || !*wp)
        return NE_EINVAL;
    struct ne_segw *w = *wp;
    *wp = NULL;
    int rc = w->err;
    if (!rc && w->in_col)
        rc = ne_segw_end_column(w);
    if (!rc && w->ncols > UINT32_MAX)
        rc = fail(w, NE_ETOOBIG, "too many columns");
    if (!rc)
        rc = put_footer(w);
    if (!rc)
        rc = write_out(w);
    uint64_t bytes = w->file_off;
    if (!rc)
        rc = publish(w);
    if (rc) {
        ne_file_close(&w->f);
        ne_fs_unlink(w->tmp_path);
    } else if (info) {
        fill_info(w, bytes, info);
    }
    writer_free(w);
    return rc;
}

void ne_segw_abort(struct ne_segw **wp)
{
    if (!wp || !*wp)
        return;
    struct ne_segw *w = *wp;
    *wp = NULL;
    ne_file_close(&w->f);
    ne_fs_unlink(w->tmp_path);
    writer_free(w);
}
