/*
 * segment_reader.c - opens a segment file, keeps its index in memory and
 * reads blocks on demand (format: segment_writer.c).
 *
 * Invariants after a successful open: the tail, header and footer CRCs
 * matched; the footer parsed to exactly its length; columns strictly
 * increase by key; every column has >= 1 block; blocks of a column are in
 * time order without overlap; block offsets are contiguous from the header
 * to the footer; each block's stats have the column's type. Nothing is
 * changed after open, so the read functions are safe from many threads.
 * Memory: one 64-byte struct ne_seg_col per column, one 48-byte struct
 * ne_seg_blockref per block (offset, length, CRC, time range, count and
 * where its full statistics sit in the arena) and the arena: the bytes of
 * the footer still needed after open, i.e. each block's stats record (a
 * tag byte and the serialised values, without the type, count and times
 * the block entry already holds: see STATS_REC_FULL), preceded by its
 * version CRC in versioned columns, and each distinct field name once.
 * The full statistics are parsed from there when asked for
 * (ne_seg_block_stats): keeping them parsed cost 136 bytes per block
 * and as much again per column, and keeping the whole footer the column
 * headers, block lengths and CRCs a second time, for every open segment.
 * Blocks are read with ne_file_pread into the caller's ne_seg_block.
 */
#include <inttypes.h>
#include <string.h>
#include <zstd.h>

#include "ports/crc32c.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "store/segment/seg_internal.h"

static const char MOD[] = "segment";

/* What every open segment keeps per block and per column (see Memory). */
_Static_assert(sizeof(struct ne_seg_blockref) <= 48, "block index entry grew");
_Static_assert(sizeof(struct ne_seg_col) <= 64, "column entry grew");

int seg__pread(const struct ne_seg *r, void *buf, size_t len, uint64_t off)
{
    if (off > r->size || len > r->size - off)
        return NE_ECORRUPT;
    if (r->mem) {
        memcpy(buf, r->mem + off, len);
        return 0;
    }
    size_t got = 0;
    while (got < len) {
        size_t n = 0;
        int rc = ne_file_pread(r->f, (uint8_t *)buf + got, len - got, off + got, &n);
        if (rc)
            return rc;
        if (n == 0)
            return NE_ECORRUPT; /* shorter than when opened */
        got += n;
    }
    return 0;
}

void seg__ra_free(struct seg__ra *ra)
{
    ne_free(ra->p);
    memset(ra, 0, sizeof *ra);
}

int seg__ra_get(const struct ne_seg *r, struct seg__ra *ra, uint64_t off, size_t len,
                const uint8_t **out)
{
    if (off > r->size || len > r->size - off)
        return NE_ECORRUPT;
    if (r->mem) {
        *out = r->mem + off;
        return 0;
    }
    if (off >= ra->off && off + len <= ra->off + ra->len) {
        *out = ra->p + (off - ra->off);
        return 0;
    }
    uint64_t end = off + SEG_RA_CHUNK < r->footer_off ? off + SEG_RA_CHUNK : r->footer_off;
    if (end < off + len)
        end = off + len;
    size_t n = (size_t)(end - off);
    if (n > ra->cap) {
        uint8_t *p = ne_realloc(ra->p, n);
        if (!p)
            return NE_ENOMEM;
        ra->p = p;
        ra->cap = n;
    }
    ra->len = 0;
    int rc = seg__pread(r, ra->p, n, off);
    if (rc)
        return rc;
    ra->off = off;
    ra->len = n;
    *out = ra->p;
    return 0;
}

/* ---- tail, header, footer ----------------------------------------------- */

static int check_tail(struct ne_seg *r, uint16_t *flags)
{
    uint8_t t[SEG_TAIL_SIZE];
    if (r->size < SEG_HEADER_SIZE + SEG_TAIL_SIZE)
        return NE_ECORRUPT;
    int rc = seg__pread(r, t, sizeof t, r->size - SEG_TAIL_SIZE);
    if (rc)
        return rc;
    if (seg__get32(t + 36) != SEG_TAIL_MAGIC)
        return NE_ECORRUPT;
    if (seg__get32(t + 32) != ne_crc32c(0, t, 32))
        return NE_ECHECKSUM;
    r->info.version = seg__get16(t + 20);
    if (r->info.version != SEG_VERSION && r->info.version != SEG_VERSION_LWW)
        return NE_EVERSION;
    *flags = seg__get16(t + 22);
    r->footer_off = seg__get64(t);
    r->footer_len = seg__get32(t + 8);
    r->footer_raw_len = seg__get32(t + 12);
    r->footer_crc = seg__get32(t + 16);
    r->info.seg_id = seg__get64(t + 24);
    uint64_t body = r->size - SEG_TAIL_SIZE;
    if ((*flags & ~SEG_TAIL_ZSTD) || r->footer_off < SEG_HEADER_SIZE ||
        r->footer_off > body || body - r->footer_off != r->footer_len ||
        r->footer_raw_len > SEG_FOOTER_RAW_MAX ||
        (!(*flags & SEG_TAIL_ZSTD) && r->footer_raw_len != r->footer_len))
        return NE_ECORRUPT;
    return 0;
}

static int check_header(struct ne_seg *r)
{
    uint8_t h[SEG_HEADER_SIZE];
    int rc = seg__pread(r, h, sizeof h, 0);
    if (rc)
        return rc;
    if (seg__get32(h) != SEG_MAGIC)
        return NE_ECORRUPT;
    if (seg__get32(h + 20) != ne_crc32c(0, h, 20))
        return NE_ECHECKSUM;
    if (seg__get16(h + 4) != SEG_VERSION)
        return NE_EVERSION;
    if (seg__get16(h + 6) != 0 || seg__get64(h + 8) != r->info.seg_id)
        return NE_ECORRUPT;
    return 0;
}

/* Reads the stored footer, checks its CRC, decompresses it into r->footer. */
static int load_footer(struct ne_seg *r, uint16_t flags)
{
    uint8_t *stored = ne_malloc(r->footer_len ? r->footer_len : 1);
    if (!stored)
        return NE_ENOMEM;
    int rc = seg__pread(r, stored, r->footer_len, r->footer_off);
    if (!rc && ne_crc32c(0, stored, r->footer_len) != r->footer_crc)
        rc = NE_ECHECKSUM;
    if (rc || !(flags & SEG_TAIL_ZSTD)) {
        if (rc)
            ne_free(stored);
        else
            r->footer = stored;
        return rc;
    }
    unsigned long long want = ZSTD_getFrameContentSize(stored, r->footer_len);
    if (want != r->footer_raw_len) {
        ne_free(stored);
        return NE_ECORRUPT;
    }
    r->footer = ne_malloc(r->footer_raw_len ? r->footer_raw_len : 1);
    if (!r->footer) {
        ne_free(stored);
        return NE_ENOMEM;
    }
    size_t n = ZSTD_decompress(r->footer, r->footer_raw_len, stored, r->footer_len);
    ne_free(stored);
    if (ZSTD_isError(n) || n != r->footer_raw_len)
        return NE_ECORRUPT;
    return 0;
}

/* A kept stats record starts with a tag byte: the stats' flags, whose
 * type, count and time range are the block entry's and whose first/last
 * timestamps are its min/max (time-sorted blocks); then the values as
 * serialised (ne_block_stats_get_values). Tag STATS_REC_FULL: the whole
 * serialised stats follow (first/last elsewhere, or an unknown flag). */
#define STATS_REC_FULL 0x80u

/* Distinct field names remembered while the arena fills (most segments
 * have a handful, repeated in every series); past that, names are copied. */
#define NAME_SLOTS 256u

/* Parsing state of the footer. */
struct fparse {
    struct ne_rd rd;
    uint64_t off;    /* offset of the next block */
    size_t blk_cap;  /* capacity of r->blocks */
    size_t nnames;
    struct {
        uint32_t off, len1; /* in r->arena; len1 = length + 1, 0: free slot */
    } names[NAME_SLOTS];    /* open addressing on the name's hash */
};

/* Appends len bytes at p to the arena (sized for the whole footer at
 * first, so it does not move while the footer is parsed); returns their
 * offset. */
static uint32_t arena_put(struct ne_seg *r, const uint8_t *p, size_t len)
{
    uint32_t at = (uint32_t)r->arena_len;
    memcpy(r->arena + at, p, len);
    r->arena_len += len;
    return at;
}

/* The arena offset of field name p[0..len), copied there the first time. */
static uint32_t arena_name(struct ne_seg *r, struct fparse *fp, const uint8_t *p, uint32_t len)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 16777619u;
    for (uint32_t k = 0; k < NAME_SLOTS; k++) {
        uint32_t i = (h + k) % NAME_SLOTS;
        if (fp->names[i].len1 == 0) {
            if (fp->nnames >= NAME_SLOTS / 2)
                break; /* keep probes short: copy the rest */
            fp->nnames++;
            fp->names[i].off = arena_put(r, p, len);
            fp->names[i].len1 = len + 1;
            return fp->names[i].off;
        }
        if (fp->names[i].len1 == len + 1 && memcmp(r->arena + fp->names[i].off, p, len) == 0)
            return fp->names[i].off;
    }
    return arena_put(r, p, len);
}

static int rd_uv_max(struct ne_rd *rd, uint64_t max, uint64_t *v)
{
    int rc = ne_rd_uvarint(rd, v);
    return (!rc && *v > max) ? NE_ECORRUPT : rc;
}

static int parse_dbs(struct ne_seg *r, struct ne_rd *rd)
{
    uint64_t n;
    int rc = rd_uv_max(rd, ne_rd_left(rd), &n);
    if (rc)
        return rc;
    r->dbs = ne_calloc(n ? n : 1, sizeof(char *));
    if (!r->dbs)
        return NE_ENOMEM;
    r->info.ndbs = (uint32_t)n;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len;
        const uint8_t *p;
        rc = rd_uv_max(rd, ne_rd_left(rd), &len);
        if (!rc)
            rc = ne_rd_bytes(rd, len, &p);
        if (rc)
            return rc;
        if (memchr(p, 0, len))
            return NE_ECORRUPT;
        r->dbs[i] = ne_strndup((const char *)p, len);
        if (!r->dbs[i])
            return NE_ENOMEM;
    }
    return 0;
}

/* Keeps a block's serialised stats (len bytes at p, the values from voff
 * on) in the arena as a stats record (see Memory); returns its offset. */
static uint32_t keep_stats(struct ne_seg *r, const struct ne_block_stats *st, const uint8_t *p,
                           size_t len, size_t voff)
{
    uint8_t tag = st->flags;
    bool implied = st->first_ts == st->min_ts && st->last_ts == st->max_ts &&
                   !(st->flags & STATS_REC_FULL);
    if (!implied) {
        tag = STATS_REC_FULL;
        voff = 0;
    }
    uint32_t at = arena_put(r, &tag, 1);
    arena_put(r, p + voff, len - voff);
    return at;
}

static int parse_block(struct ne_seg *r, struct fparse *fp, struct ne_seg_col *c, bool first)
{
    uint64_t len;
    size_t used;
    if (seg__grow((void **)&r->blocks, &fp->blk_cap, r->info.nblocks + 1, sizeof *r->blocks))
        return NE_ENOMEM;
    struct ne_seg_blockref *b = &r->blocks[r->info.nblocks];
    int rc = rd_uv_max(&fp->rd, SEG_BLOCK_LEN_MAX, &len);
    if (!rc)
        rc = ne_rd_u32le(&fp->rd, &b->crc);
    if (rc)
        return rc;
    uint64_t vlen = 0;
    const uint8_t *keep = NULL; /* the version CRC: goes to the arena */
    if (c->flags & NE_SEG_COL_VERSIONED) {
        uint32_t vcrc; /* kept in the arena: seg__block_vcrc */
        rc = rd_uv_max(&fp->rd, SEG_BLOCK_LEN_MAX, &vlen);
        keep = fp->rd.p;
        if (!rc)
            rc = ne_rd_u32le(&fp->rd, &vcrc);
        if (rc)
            return rc;
        if (vlen == 0)
            return NE_ECORRUPT;
    }
    struct ne_block_stats full;
    size_t voff;
    rc = ne_block_stats_get_split(fp->rd.p, ne_rd_left(&fp->rd), &full, &used, &voff);
    if (rc)
        return rc;
    if (keep)
        arena_put(r, keep, 4);
    b->at_ = keep_stats(r, &full, fp->rd.p, used, voff);
    fp->rd.p += used;
    const struct ne_block_stats *st = &full;
    if (len == 0 || len + vlen > r->footer_off - fp->off || st->type != c->key.type ||
        st->count == 0 || st->count > NE_SEG_BLOCK_POINTS_MAX || st->min_ts > st->max_ts ||
        (uint64_t)st->max_ts - (uint64_t)st->min_ts < st->count - 1u ||
        (!first && r->blocks[r->info.nblocks - 1].stats.max_ts >= st->min_ts))
        return NE_ECORRUPT;
    b->stats.min_ts = st->min_ts;
    b->stats.max_ts = st->max_ts;
    b->stats.count = st->count;
    b->off = fp->off;
    b->len = (uint32_t)len;
    b->vlen = (uint32_t)vlen;
    fp->off += len + vlen;
    r->info.nblocks++;
    return 0;
}

/* Adds the block just parsed to its column's totals. */
static void col_add_block(struct ne_seg_col *c, const struct ne_seg_blockref *b, bool first)
{
    if (first)
        c->min_ts = b->stats.min_ts;
    c->max_ts = b->stats.max_ts;
    c->npoints += b->stats.count;
}

static int parse_col(struct ne_seg *r, struct fparse *fp, uint32_t i)
{
    struct ne_seg_col *c = &r->cols[i];
    uint64_t db, flen, nb;
    uint8_t type;
    const uint8_t *field;
    int rc = ne_rd_uvarint(&fp->rd, &c->key.series_id);
    if (!rc)
        rc = rd_uv_max(&fp->rd, r->info.ndbs ? r->info.ndbs - 1 : 0, &db);
    if (!rc)
        rc = ne_rd_u8(&fp->rd, &type);
    if (!rc)
        rc = rd_uv_max(&fp->rd, NE_SEG_FIELD_MAX, &flen);
    if (!rc)
        rc = ne_rd_bytes(&fp->rd, flen, &field);
    if (!rc)
        rc = rd_uv_max(&fp->rd, ne_rd_left(&fp->rd), &nb);
    if (rc)
        return rc;
    if (r->info.version >= SEG_VERSION_LWW && (type & SEG_TYPE_VERSIONED)) {
        c->flags = NE_SEG_COL_VERSIONED;
        type &= (uint8_t)~SEG_TYPE_VERSIONED;
    }
    if (!seg__type_ok(type) || nb == 0 || nb > UINT32_MAX - r->info.nblocks) /* col_block0 */
        return NE_ECORRUPT;
    c->key.db = (uint32_t)db;
    c->key.type = type;
    c->key.field.p = (const char *)r->arena + arena_name(r, fp, field, (uint32_t)flen);
    c->key.field.n = (uint32_t)flen;
    c->nblocks = (uint32_t)nb;
    if (i > 0 && ne_seg_colkey_cmp(&r->cols[i - 1].key, &c->key) >= 0)
        return NE_ECORRUPT;
    if (i == 0 || r->cols[i - 1].key.series_id != c->key.series_id)
        r->info.nseries++;
    r->col_block0[i] = (uint32_t)r->info.nblocks;
    for (uint64_t b = 0; b < nb; b++) {
        rc = parse_block(r, fp, c, b == 0);
        if (rc)
            return rc;
        col_add_block(c, &r->blocks[r->info.nblocks - 1], b == 0);
    }
    r->info.npoints += c->npoints;
    return 0;
}

/* Checks the segment-level times against the columns'. */
static int check_times(struct ne_seg *r, int64_t min_ts, int64_t max_ts)
{
    int64_t mn = 0, mx = 0;
    for (uint32_t i = 0; i < r->info.ncols; i++) {
        if (i == 0 || r->cols[i].min_ts < mn)
            mn = r->cols[i].min_ts;
        if (i == 0 || r->cols[i].max_ts > mx)
            mx = r->cols[i].max_ts;
    }
    if (mn != min_ts || mx != max_ts)
        return NE_ECORRUPT;
    r->info.min_ts = mn;
    r->info.max_ts = mx;
    return 0;
}

/* The block references live as long as the segment is open (one index
 * per published segment): give back the slack of the last doubling. */
static void shrink_blocks(struct ne_seg *r, size_t cap)
{
    size_t n = r->info.nblocks ? r->info.nblocks : 1;
    if (cap <= n)
        return;
    struct ne_seg_blockref *b = ne_realloc(r->blocks, n * sizeof *b);
    if (b) /* on failure the larger array stays, still valid */
        r->blocks = b;
}

/* Gives back the arena's unused room; rebases the field names if the
 * arena moved. */
static void shrink_arena(struct ne_seg *r)
{
    uint8_t *a = ne_realloc(r->arena, r->arena_len ? r->arena_len : 1);
    if (!a || a == r->arena) /* on failure the larger arena stays, still valid */
        return;
    for (uint32_t i = 0; i < r->info.ncols; i++)
        r->cols[i].key.field.p = (const char *)a + ((const uint8_t *)r->cols[i].key.field.p -
                                                    r->arena);
    r->arena = a;
}

static int parse_footer(struct ne_seg *r)
{
    struct fparse fp = {.off = SEG_HEADER_SIZE};
    uint64_t seg_id, ncols;
    int64_t min_ts, max_ts;
    ne_rd_init(&fp.rd, r->footer, r->footer_raw_len);
    int rc = ne_rd_uvarint(&fp.rd, &seg_id);
    if (!rc)
        rc = ne_rd_svarint(&fp.rd, &min_ts);
    if (!rc)
        rc = ne_rd_svarint(&fp.rd, &max_ts);
    if (!rc)
        rc = ne_rd_uvarint(&fp.rd, &r->info.wal_seq_min);
    if (!rc)
        rc = ne_rd_uvarint(&fp.rd, &r->info.wal_seq_max);
    if (!rc)
        rc = parse_dbs(r, &fp.rd);
    if (!rc)
        rc = rd_uv_max(&fp.rd, ne_rd_left(&fp.rd) / 5, &ncols);
    if (rc)
        return rc;
    if (seg_id != r->info.seg_id)
        return NE_ECORRUPT;
    r->cols = ne_calloc(ncols ? ncols : 1, sizeof *r->cols);
    r->col_block0 = ne_calloc(ncols ? ncols : 1, sizeof *r->col_block0);
    /* every column has a block: sized for one each, the common case (a
     * flush writes one block per column), it grows only past that */
    r->blocks = ne_malloc((ncols ? ncols : 1) * sizeof *r->blocks);
    r->arena = ne_malloc(r->footer_raw_len ? r->footer_raw_len : 1);
    if (!r->cols || !r->col_block0 || !r->blocks || !r->arena)
        return NE_ENOMEM;
    fp.blk_cap = ncols ? ncols : 1;
    r->info.ncols = (uint32_t)ncols;
    for (uint32_t i = 0; i < r->info.ncols && !rc; i++)
        rc = parse_col(r, &fp, i);
    if (rc)
        return rc;
    shrink_blocks(r, fp.blk_cap);
    if (ne_rd_left(&fp.rd) != 0 || fp.off != r->footer_off)
        return NE_ECORRUPT;
    rc = check_times(r, min_ts, max_ts);
    if (!rc) {
        shrink_arena(r);
        ne_free(r->footer); /* everything still needed is in the arena */
        r->footer = NULL;
    }
    return rc;
}

static int open_common(struct ne_seg *r)
{
    uint16_t flags = 0;
    int rc = check_tail(r, &flags);
    if (!rc)
        rc = check_header(r);
    if (!rc)
        rc = load_footer(r, flags);
    if (!rc)
        rc = parse_footer(r);
    if (!rc)
        r->info.file_bytes = r->size;
    return rc;
}

void ne_seg_close(struct ne_seg **rp)
{
    if (!rp || !*rp)
        return;
    struct ne_seg *r = *rp;
    *rp = NULL;
    ne_file_close(&r->f);
    if (r->dbs)
        for (uint32_t i = 0; i < r->info.ndbs; i++)
            ne_free(r->dbs[i]);
    ne_free(r->dbs);
    ne_free(r->cols);
    ne_free(r->col_block0);
    ne_free(r->blocks);
    ne_free(r->footer);
    ne_free(r->arena);
    ne_free(r->path);
    ne_free(r);
}

int ne_seg_open(const char *path, struct ne_seg **out)
{
    if (!path || !out)
        return NE_EINVAL;
    struct ne_seg *r = ne_calloc(1, sizeof *r);
    if (!r)
        return NE_ENOMEM;
    r->path = ne_strdup(path);
    int rc = r->path ? 0 : NE_ENOMEM;
    if (!rc)
        rc = ne_file_open(path, NE_F_READ, &r->f);
    if (!rc)
        rc = ne_file_size(r->f, &r->size);
    if (!rc)
        rc = open_common(r);
    if (rc) {
        ne_logf(NE_LOG_ERROR, MOD, "%s: open: %s", path, ne_strerror(rc));
        ne_seg_close(&r);
        return rc;
    }
    *out = r;
    return 0;
}

int seg__open_mem(const void *p, size_t len, struct ne_seg **out)
{
    struct ne_seg *r = ne_calloc(1, sizeof *r);
    if (!r)
        return NE_ENOMEM;
    r->mem = p;
    r->size = len;
    r->path = ne_strdup("(memory)");
    int rc = r->path ? open_common(r) : NE_ENOMEM;
    if (rc) {
        ne_seg_close(&r);
        return rc;
    }
    *out = r;
    return 0;
}

/* ---- index queries ---------------------------------------------------------- */

const struct ne_seg_info *ne_seg_info(const struct ne_seg *r)
{
    return &r->info;
}

const char *ne_seg_path_of(const struct ne_seg *r)
{
    return r->path;
}

const char *ne_seg_db_name(const struct ne_seg *r, uint32_t i)
{
    return i < r->info.ndbs ? r->dbs[i] : NULL;
}

const struct ne_seg_col *ne_seg_col(const struct ne_seg *r, uint32_t i)
{
    return i < r->info.ncols ? &r->cols[i] : NULL;
}

int ne_seg_find_col(const struct ne_seg *r, uint64_t series_id, struct ne_sv field,
                    uint32_t *idx)
{
    struct ne_seg_colkey k = {.series_id = series_id, .field = field};
    uint32_t lo = 0, hi = r->info.ncols;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = ne_seg_colkey_cmp(&r->cols[mid].key, &k);
        if (c == 0) {
            *idx = mid;
            return 0;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NE_ENOTFOUND;
}

int ne_seg_find_series(const struct ne_seg *r, uint64_t series_id, uint32_t *first,
                       uint32_t *count)
{
    uint32_t lo = 0, hi = r->info.ncols;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (r->cols[mid].key.series_id < series_id)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint32_t end = lo;
    while (end < r->info.ncols && r->cols[end].key.series_id == series_id)
        end++;
    if (end == lo)
        return NE_ENOTFOUND;
    *first = lo;
    *count = end - lo;
    return 0;
}

const struct ne_seg_blockref *ne_seg_block(const struct ne_seg *r, uint32_t col, uint32_t b)
{
    if (col >= r->info.ncols || b >= r->cols[col].nblocks)
        return NULL;
    return &r->blocks[r->col_block0[col] + b];
}

int ne_seg_block_stats(const struct ne_seg *r, uint32_t col, uint32_t b,
                       struct ne_block_stats *out)
{
    const struct ne_seg_blockref *ref = ne_seg_block(r, col, b);
    if (!ref)
        return NE_EINVAL;
    size_t used; /* parsed once at open: cannot fail short of a bug */
    const uint8_t *p = r->arena + ref->at_;
    size_t left = r->arena_len - ref->at_;
    if (p[0] & STATS_REC_FULL)
        return ne_block_stats_get(p + 1, left - 1, out, &used) ? NE_ECORRUPT : 0;
    memset(out, 0, sizeof *out);
    out->type = r->cols[col].key.type;
    out->flags = p[0];
    out->count = ref->stats.count;
    out->min_ts = out->first_ts = ref->stats.min_ts;
    out->max_ts = out->last_ts = ref->stats.max_ts;
    return ne_block_stats_get_values(p + 1, left - 1, out, &used) ? NE_ECORRUPT : 0;
}

uint64_t ne_seg_col_bytes(const struct ne_seg *r, uint32_t col)
{
    uint64_t n = 0;
    for (uint32_t b = 0; col < r->info.ncols && b < r->cols[col].nblocks; b++)
        n += r->blocks[r->col_block0[col] + b].len;
    return n;
}

int ne_seg_col_stats(const struct ne_seg *r, uint32_t col, struct ne_block_stats *out)
{
    if (col >= r->info.ncols)
        return NE_EINVAL;
    struct ne_block_stats st;
    for (uint32_t b = 0; b < r->cols[col].nblocks; b++) {
        int rc = ne_seg_block_stats(r, col, b, b ? &st : out);
        if (!rc && b)
            rc = ne_block_stats_merge(out, &st) ? NE_ECORRUPT : 0;
        if (rc)
            return rc;
    }
    return 0;
}

uint32_t seg__block_vcrc(const struct ne_seg *r, const struct ne_seg_blockref *ref)
{
    return ref->vlen ? seg__get32(r->arena + ref->at_ - 4) : 0;
}

void ne_seg_blocks_in_range(const struct ne_seg *r, uint32_t col, int64_t t0, int64_t t1,
                            uint32_t *first, uint32_t *end)
{
    *first = *end = 0;
    if (col >= r->info.ncols || t0 > t1)
        return;
    const struct ne_seg_blockref *bl = &r->blocks[r->col_block0[col]];
    uint32_t n = r->cols[col].nblocks, lo = 0, hi = n;
    while (lo < hi) { /* first block with max_ts >= t0 */
        uint32_t mid = lo + (hi - lo) / 2;
        if (bl[mid].stats.max_ts < t0)
            lo = mid + 1;
        else
            hi = mid;
    }
    uint32_t f = lo;
    hi = n;
    while (lo < hi) { /* first block with min_ts > t1 */
        uint32_t mid = lo + (hi - lo) / 2;
        if (bl[mid].stats.min_ts <= t1)
            lo = mid + 1;
        else
            hi = mid;
    }
    *first = f;
    *end = lo;
}

/* ---- blocks ------------------------------------------------------------------ */

void ne_seg_block_init(struct ne_seg_block *blk)
{
    memset(blk, 0, sizeof *blk);
    ne_buf_init(&blk->raw_);
    ne_buf_init(&blk->scratch_);
}

void ne_seg_block_free(struct ne_seg_block *blk)
{
    ne_free(blk->ts);
    ne_free(blk->v.f);
    ne_free(blk->ver_);
    ne_buf_free(&blk->raw_);
    ne_buf_free(&blk->scratch_);
    ne_seg_block_init(blk);
}

/* Makes room for n points in blk (values sized for the widest type). */
static int block_reserve(struct ne_seg_block *blk, size_t n)
{
    if (n <= blk->cap_)
        return 0;
    int64_t *ts = ne_realloc(blk->ts, n * sizeof *ts);
    if (!ts)
        return NE_ENOMEM;
    blk->ts = ts;
    void *v = ne_realloc(blk->v.f, n * sizeof(struct ne_sv));
    if (!v)
        return NE_ENOMEM;
    blk->v.f = v;
    if (blk->ver_) { /* grown only once versions were met */
        uint64_t *ver = ne_realloc(blk->ver_, n * sizeof *ver);
        if (!ver)
            return NE_ENOMEM;
        blk->ver_ = ver;
    }
    blk->cap_ = n;
    return 0;
}

/* Decodes the version stream that follows the block in raw_ (if any). */
static int block_versions(struct ne_seg_block *blk, const struct ne_seg_blockref *ref,
                          uint32_t vcrc)
{
    blk->ver = NULL;
    if (!ref->vlen)
        return 0;
    const uint8_t *p = blk->raw_.p + ref->len;
    if (ne_crc32c(0, p, ref->vlen) != vcrc)
        return NE_ECHECKSUM;
    if (!blk->ver_ && !(blk->ver_ = ne_malloc(blk->cap_ * sizeof *blk->ver_)))
        return NE_ENOMEM;
    int rc = seg__ver_decode(p, ref->vlen, blk->ver_, blk->n);
    if (!rc)
        blk->ver = blk->ver_;
    return rc;
}

/* Wide clones of the order check, as for the codec's decoders (see
 * store/codec/codec_internal.h: no ifunc resolvers under the sanitizers). */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__GLIBC__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define SEG_WIDE __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define SEG_WIDE
#endif

typedef int64_t seg_i64x4 __attribute__((vector_size(32)));

/* True if ts[0..n) strictly ascends. Four neighbours compared at a time
 * without an early exit (every block read pays this per point; -O2 does
 * not vectorise the plain loop). */
SEG_WIDE static bool ascending(const int64_t *ts, uint32_t n)
{
    seg_i64x4 bad = {0, 0, 0, 0};
    uint32_t i = 1;
    for (; i + 4 <= n; i += 4) {
        seg_i64x4 a, b;
        memcpy(&a, ts + i - 1, sizeof a);
        memcpy(&b, ts + i, sizeof b);
        bad |= a >= b;
    }
    int64_t any = bad[0] | bad[1] | bad[2] | bad[3];
    for (; i < n; i++)
        any |= ts[i - 1] >= ts[i];
    return any == 0;
}

static int check_decoded(const struct ne_seg_block *blk, const struct ne_seg_blockref *ref)
{
    if (blk->n != ref->stats.count || blk->ts[0] != ref->stats.min_ts ||
        blk->ts[blk->n - 1] != ref->stats.max_ts)
        return NE_ECORRUPT;
    return ascending(blk->ts, blk->n) ? 0 : NE_ECORRUPT;
}

/* seg__block_load, reading through ra when not NULL. */
static int block_load(const struct ne_seg *r, struct seg__ra *ra, uint32_t col, uint32_t b,
                      struct ne_seg_block *blk)
{
    const struct ne_seg_blockref *ref = ne_seg_block(r, col, b);
    blk->n = 0;
    if (!ref)
        return NE_EINVAL;
    uint8_t type = r->cols[col].key.type;
    size_t len = (size_t)ref->len + ref->vlen;
    blk->ver = NULL;
    ne_buf_reset(&blk->raw_);
    if (!ne_buf_grow(&blk->raw_, len))
        return NE_ENOMEM;
    const uint8_t *src = NULL;
    int rc = ra ? seg__ra_get(r, ra, ref->off, len, &src) : seg__pread(r, blk->raw_.p, len, ref->off);
    if (rc)
        return rc;
    if (ra) /* decoded strings point into raw_: the window moves on */
        memcpy(blk->raw_.p, src, len);
    if (ne_crc32c(0, blk->raw_.p, ref->len) != ref->crc)
        return NE_ECHECKSUM;
    enum ne_vtype pt;
    uint32_t count;
    rc = ne_codec_block_peek(blk->raw_.p, ref->len, &pt, &count);
    if (rc || (uint8_t)pt != type || count != ref->stats.count)
        return rc == NE_EVERSION ? rc : NE_ECORRUPT;
    if (block_reserve(blk, count))
        return NE_ENOMEM;
    size_t n = 0;
    rc = ne_codec_decode_block(blk->raw_.p, ref->len, (enum ne_vtype)type, blk->ts, blk->v.f,
                               blk->cap_, &blk->scratch_, &n);
    if (rc == NE_ENOMEM || rc == NE_ECHECKSUM || rc == NE_EVERSION)
        return rc;
    if (rc)
        return NE_ECORRUPT;
    blk->n = (uint32_t)n;
    blk->type = type;
    rc = check_decoded(blk, ref);
    if (!rc)
        rc = block_versions(blk, ref, seg__block_vcrc(r, ref));
    if (rc)
        blk->n = 0;
    return rc;
}

int seg__block_load(const struct ne_seg *r, uint32_t col, uint32_t b, struct ne_seg_block *blk)
{
    return block_load(r, NULL, col, b, blk);
}

int seg__block_read_ra(const struct ne_seg *r, struct seg__ra *ra, uint32_t col, uint32_t b,
                       struct ne_seg_block *blk)
{
    int rc = block_load(r, ra, col, b, blk);
    if (rc && rc != NE_EINVAL)
        ne_logf(NE_LOG_ERROR, MOD, "%s: column %u block %u: %s", r->path, col, b,
                ne_strerror(rc));
    return rc;
}

int ne_seg_block_read(const struct ne_seg *r, uint32_t col, uint32_t b,
                      struct ne_seg_block *blk)
{
    return seg__block_read_ra(r, NULL, col, b, blk);
}
