/*
 * segment_tools.c - file names, stale-tmp cleanup, and the two tools built
 * on the reader: ne_seg_verify (every CRC, every block decoded and checked
 * against its index stats) and ne_seg_inspect (the layout, the codecs
 * chosen per column and the bytes they take).
 *
 * Neither tool changes the file. Both open it through the normal reader,
 * so whatever they accept the store accepts.
 */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ports/log.h"
#include "ports/platform.h"
#include "store/segment/seg_internal.h"

/* ---- names ------------------------------------------------------------------ */

int ne_seg_parse_name(const char *name, uint64_t *id)
{
    uint64_t v = 0;
    if (!name || strlen(name) != 20 || strcmp(name + 16, ".seg") != 0)
        return NE_EINVAL;
    for (int i = 0; i < 16; i++) {
        char c = name[i];
        int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
        if (d < 0)
            return NE_EINVAL;
        v = (v << 4) | (uint64_t)d;
    }
    *id = v;
    return 0;
}

struct clean_ctx {
    const char *dir;
    int err;
};

static int clean_one(void *ctx, const char *name, bool is_dir)
{
    struct clean_ctx *c = ctx;
    size_t n = strlen(name);
    if (is_dir || n < 8 || strcmp(name + n - 8, ".seg.tmp") != 0)
        return 0;
    char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", c->dir, name) >= (int)sizeof path)
        return 0;
    int rc = ne_fs_unlink(path);
    if (rc && rc != NE_ENOTFOUND && !c->err) {
        ne_logf(NE_LOG_ERROR, "segment", "%s: remove stale tmp: %s", path, ne_strerror(rc));
        c->err = rc;
    }
    return 0;
}

int ne_seg_clean_tmp(const char *dir)
{
    struct clean_ctx c = {.dir = dir};
    int rc = ne_fs_list_dir(dir, clean_one, &c);
    return rc ? rc : c.err;
}

/* ---- stats comparison -------------------------------------------------------- */

static bool num_eq(uint8_t type, union ne_stat_val a, union ne_stat_val b)
{
    if (type == NE_V_FLOAT)
        return a.f == b.f || (isnan(a.f) && isnan(b.f));
    return a.u == b.u;
}

static bool sv_eq(struct ne_sv a, struct ne_sv b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

bool seg__stats_equal(const struct ne_block_stats *a, const struct ne_block_stats *b)
{
    if (a->type != b->type || a->count != b->count || a->min_ts != b->min_ts ||
        a->max_ts != b->max_ts || a->first_ts != b->first_ts || a->last_ts != b->last_ts)
        return false;
    switch (a->type) {
    case NE_V_FLOAT:
        if (a->sum_f != b->sum_f && !(isnan(a->sum_f) && isnan(b->sum_f)))
            return false;
        if ((a->flags & NE_STATS_HAS_NAN) != (b->flags & NE_STATS_HAS_NAN))
            return false;
        break;
    case NE_V_INT:
    case NE_V_UINT:
        if (a->sum_hi != b->sum_hi || a->sum_lo != b->sum_lo)
            return false;
        break;
    case NE_V_BOOL:
        if (a->true_count != b->true_count)
            return false;
        break;
    case NE_V_STRING:
        return sv_eq(a->first_s, b->first_s) && sv_eq(a->last_s, b->last_s);
    default:
        return false;
    }
    return num_eq(a->type, a->min, b->min) && num_eq(a->type, a->max, b->max) &&
           num_eq(a->type, a->first, b->first) && num_eq(a->type, a->last, b->last);
}

/* ---- verify ---------------------------------------------------------------------- */

static void say(char *why, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void say(char *why, size_t n, const char *fmt, ...)
{
    if (!why || n == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, n, fmt, ap);
    va_end(ap);
}

/* Loads a block, recomputes its stats from the decoded points and compares
 * them with the index entry. */
static int check_block(const struct ne_seg *r, uint32_t c, uint32_t b, struct ne_seg_block *blk)
{
    int rc = seg__block_load(r, c, b, blk);
    if (rc)
        return rc;
    struct ne_block_stats st, idx;
    rc = ne_block_stats_compute((enum ne_vtype)blk->type, blk->ts, blk->v.f, blk->n, &st);
    if (!rc)
        rc = ne_seg_block_stats(r, c, b, &idx);
    if (rc)
        return NE_ECORRUPT;
    return seg__stats_equal(&st, &idx) ? 0 : NE_ECORRUPT;
}

static int verify_blocks(const struct ne_seg *r, char *why, size_t n)
{
    struct ne_seg_block blk;
    ne_seg_block_init(&blk);
    int rc = 0;
    for (uint32_t c = 0; c < r->info.ncols && !rc; c++) {
        for (uint32_t b = 0; b < r->cols[c].nblocks && !rc; b++) {
            rc = check_block(r, c, b, &blk);
            if (rc)
                say(why, n, "column %u (series %" PRIu64 " field %.*s) block %u: %s", c,
                    r->cols[c].key.series_id, (int)r->cols[c].key.field.n,
                    r->cols[c].key.field.p, b,
                    rc == NE_ECORRUPT ? "block disagrees with its index entry"
                                      : ne_strerror(rc));
        }
    }
    ne_seg_block_free(&blk);
    return rc;
}

static int verify_seg(const struct ne_seg *r, char *why, size_t n)
{
    int rc = verify_blocks(r, why, n);
    if (!rc)
        say(why, n, "ok: %u columns, %" PRIu64 " blocks, %" PRIu64 " points", r->info.ncols,
            r->info.nblocks, r->info.npoints);
    return rc;
}

int ne_seg_verify(const char *path, char *why, size_t n)
{
    struct ne_seg *r;
    int rc = ne_seg_open(path, &r);
    if (rc) {
        say(why, n, "cannot open: %s", ne_strerror(rc));
        return rc;
    }
    rc = verify_seg(r, why, n);
    ne_seg_close(&r);
    return rc;
}

/* ---- inspect ------------------------------------------------------------------- */

/* Distinct codec choices of a column, for one summary line. */
struct codec_mix {
    uint8_t ts[8], val[8];
    uint32_t nts, nval, zstd;
};

static void mix_add(uint8_t *ids, uint32_t *n, uint8_t id)
{
    for (uint32_t i = 0; i < *n; i++)
        if (ids[i] == id)
            return;
    if (*n < 8)
        ids[(*n)++] = id;
}

static void mix_print(FILE *out, const char *what, const uint8_t *ids, uint32_t n)
{
    fprintf(out, " %s=", what);
    for (uint32_t i = 0; i < n; i++)
        fprintf(out, "%s%s", i ? "," : "", ne_codec_name(ids[i]));
    if (n == 0)
        fputs("?", out);
}

/* Checks and describes every block of column c; returns the first error. */
static int inspect_col(const struct ne_seg *r, uint32_t c, FILE *out, struct ne_seg_block *blk)
{
    const struct ne_seg_col *col = &r->cols[c];
    struct codec_mix mix = {{0}, {0}, 0, 0, 0};
    int first_err = 0;
    for (uint32_t b = 0; b < col->nblocks; b++) {
        int rc = check_block(r, c, b, blk);
        struct ne_block_info bi;
        if (!rc && ne_codec_block_info(blk->raw_.p, blk->raw_.len, &bi) == 0) {
            mix_add(mix.ts, &mix.nts, bi.ts_codec);
            mix_add(mix.val, &mix.nval, bi.val_codec);
            mix.zstd += bi.zstd;
        }
        if (rc) {
            const struct ne_seg_blockref *ref = ne_seg_block(r, c, b);
            fprintf(out, "    block %u at %" PRIu64 " (%u bytes): %s\n", b, ref->off, ref->len,
                    rc == NE_ECORRUPT ? "disagrees with its index entry" : ne_strerror(rc));
            if (!first_err)
                first_err = rc;
        }
    }
    const char *db = r->info.ndbs ? r->dbs[col->key.db] : "";
    fprintf(out,
            "  column %u: series %" PRIu64 " field \"%.*s\" %s db \"%s\": %" PRIu64
            " points, %u blocks, %" PRIu64 " bytes (%.3f B/value), time [%" PRId64
            ", %" PRId64 "],",
            c, col->key.series_id, (int)col->key.field.n, col->key.field.p,
            ne_vtype_name(col->key.type), db, col->npoints, col->nblocks, ne_seg_col_bytes(r, c),
            (double)ne_seg_col_bytes(r, c) / (double)col->npoints, col->min_ts, col->max_ts);
    mix_print(out, "ts", mix.ts, mix.nts);
    mix_print(out, "val", mix.val, mix.nval);
    fprintf(out, " zstd=%u/%u crc=%s\n", mix.zstd, col->nblocks, first_err ? "BAD" : "ok");
    return first_err;
}

static void inspect_head(const struct ne_seg *r, FILE *out)
{
    const struct ne_seg_info *i = &r->info;
    fprintf(out, "segment %s\n", r->path);
    fprintf(out, "  version %u, id %016" PRIx64 ", %" PRIu64 " bytes\n", i->version, i->seg_id,
            i->file_bytes);
    fprintf(out,
            "  header 0..%u, blocks %u..%" PRIu64 ", footer %" PRIu64 "..%" PRIu64
            " (%u bytes stored, %u raw%s), tail %" PRIu64 "..%" PRIu64 "\n",
            SEG_HEADER_SIZE, SEG_HEADER_SIZE, r->footer_off, r->footer_off,
            r->footer_off + r->footer_len, r->footer_len, r->footer_raw_len,
            r->footer_len != r->footer_raw_len ? ", zstd" : "", r->size - SEG_TAIL_SIZE,
            r->size);
    fprintf(out,
            "  time [%" PRId64 ", %" PRId64 "], wal [%" PRIu64 ", %" PRIu64 "], %u series, %u "
            "columns, %" PRIu64 " blocks, %" PRIu64 " points, %.3f B/value overall\n",
            i->min_ts, i->max_ts, i->wal_seq_min, i->wal_seq_max, i->nseries, i->ncols,
            i->nblocks, i->npoints, i->npoints ? (double)i->file_bytes / (double)i->npoints : 0.0);
    fprintf(out, "  databases:");
    for (uint32_t d = 0; d < i->ndbs; d++)
        fprintf(out, " \"%s\"", r->dbs[d]);
    fprintf(out, "%s\n", i->ndbs ? "" : " (none)");
}

/* Bytes and values per type, summed over the columns. */
static void inspect_types(const struct ne_seg *r, FILE *out)
{
    for (uint8_t t = NE_V_FLOAT; t <= NE_V_STRING; t++) {
        uint64_t bytes = 0, pts = 0;
        for (uint32_t c = 0; c < r->info.ncols; c++) {
            if (r->cols[c].key.type == t) {
                bytes += ne_seg_col_bytes(r, c);
                pts += r->cols[c].npoints;
            }
        }
        if (pts)
            fprintf(out, "  %-8s %" PRIu64 " values in %" PRIu64 " block bytes: %.3f B/value\n",
                    ne_vtype_name(t), pts, bytes, (double)bytes / (double)pts);
    }
}

int ne_seg_inspect(const char *path, FILE *out)
{
    struct ne_seg *r;
    int rc = ne_seg_open(path, &r);
    if (rc) {
        fprintf(out, "segment %s: cannot open: %s\n", path, ne_strerror(rc));
        return rc;
    }
    inspect_head(r, out);
    inspect_types(r, out);
    struct ne_seg_block blk;
    ne_seg_block_init(&blk);
    for (uint32_t c = 0; c < r->info.ncols; c++) {
        int e = inspect_col(r, c, out, &blk);
        if (e && !rc)
            rc = e;
    }
    ne_seg_block_free(&blk);
    fprintf(out, "  checksums and stats: %s\n", rc ? ne_strerror(rc) : "all verified");
    ne_seg_close(&r);
    return rc;
}
