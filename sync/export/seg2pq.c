/*
 * seg2pq.c - converts a sealed segment into Parquet objects, one per
 * (database, measurement, UTC hour) with data (contract in seg2pq.h).
 *
 * How it walks the segment without holding it in memory:
 *  - Every segment column keeps a cursor: the block holding its next
 *    unwritten point (blk) and that point's timestamp (next), or done.
 *    Invariant: every point before `next` belongs to an hour already
 *    written or skipped, so a group's next object is the smallest
 *    hour(next) over its columns, and that hour is known to hold data.
 *  - An object is written series by series (id order). For one series the
 *    columns with data in the hour are merged by timestamp, each with one
 *    decoded block (struct cur); a column leaves the merge at the first
 *    point past the hour, and its cursor records where it stopped.
 *  - Rows go into a batch of at most a few thousand rows (fewer for wide
 *    measurements) that is handed to the Parquet writer when full; string
 *    field bytes are copied into the batch, so decoded blocks may be
 *    reused at once. The writer buffers one row group.
 *  - A skipped object only moves the cursors past its hour, decoding at
 *    most the one block per column that straddles the hour's end.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sync/export/seg2pq_int.h"

#define HOUR_NS 3600000000000LL
/* Hours whose bounds fit in int64 without clamping: [-HMAX, HMAX). */
#define HMAX           (INT64_MAX / HOUR_NS)
#define BATCH_ROWS_MAX 4096u
#define BATCH_ROWS_MIN 64u
#define BATCH_BYTES    (4u << 20)

/* ---- hours ------------------------------------------------------------------ */

static int64_t hour_of(int64_t ts)
{
    int64_t q = ts / HOUR_NS;
    if (ts % HOUR_NS < 0) q--;
    return q;
}

/* First and last nanosecond of hour h, clamped to the int64 range. */
static void hour_bounds(int64_t h, int64_t *t0, int64_t *t1)
{
    *t0 = h < -HMAX ? INT64_MIN : h * HOUR_NS;
    *t1 = h >= HMAX ? INT64_MAX : (h + 1) * HOUR_NS - 1;
}

/* "YYYY-MM-DD" and "HH" of hour h (UTC). */
static void hour_text(int64_t h, char date[32], char hh[8])
{
    time_t secs = (time_t)(h * 3600);
    struct tm tm;
    if (!gmtime_r(&secs, &tm)) memset(&tm, 0, sizeof tm);
    snprintf(date, 32, "%04d-%02d-%02d", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
    snprintf(hh, 8, "%02d", tm.tm_hour);
}

/* ---- rows batch ---------------------------------------------------------------- */

/* Storage of one non-time column of the batch. */
struct bcol {
    uint8_t *valid;
    void *vals;     /* int64_t, double, uint8_t or struct ne_pq_bytes per row */
    uint64_t *soff; /* string fields: offset of each row's bytes in str */
};

struct batch {
    uint32_t cap, n;
    uint32_t ncols;
    int64_t *time;
    struct bcol *c;
    struct ne_pq_values *vals;
    struct ne_buf str; /* string field bytes of the pending rows */
};

static size_t kind_size(enum ne_pq_kind k)
{
    switch (k) {
    case NE_PQ_BOOL:
        return 1;
    case NE_PQ_TAG:
    case NE_PQ_STRING:
        return sizeof(struct ne_pq_bytes);
    default:
        return 8;
    }
}

static void batch_free(struct batch *b)
{
    for (uint32_t j = 1; b->c && j < b->ncols; j++) {
        ne_free(b->c[j].valid);
        ne_free(b->c[j].vals);
        ne_free(b->c[j].soff);
    }
    ne_free(b->c);
    ne_free(b->vals);
    ne_free(b->time);
    ne_buf_free(&b->str);
    memset(b, 0, sizeof *b);
}

static void batch_clear(struct batch *b)
{
    for (uint32_t j = 1; j < b->ncols; j++)
        memset(b->c[j].valid, 0, (b->cap + 7) / 8);
    b->n = 0;
    ne_buf_reset(&b->str);
}

/* Sizes the batch for schema sch: rows * columns stays near BATCH_BYTES. */
static int batch_init(struct batch *b, const struct s2_schema *sch)
{
    memset(b, 0, sizeof *b);
    ne_buf_init(&b->str);
    uint32_t rows = BATCH_BYTES / (16u * sch->ncols);
    b->cap = rows > BATCH_ROWS_MAX ? BATCH_ROWS_MAX : rows < BATCH_ROWS_MIN ? BATCH_ROWS_MIN : rows;
    b->ncols = sch->ncols;
    b->time = ne_malloc(b->cap * sizeof *b->time);
    b->c = ne_calloc(sch->ncols, sizeof *b->c);
    b->vals = ne_calloc(sch->ncols, sizeof *b->vals);
    if (!b->time || !b->c || !b->vals) goto nomem;
    b->vals[0].v.i64 = b->time;
    for (uint32_t j = 1; j < sch->ncols; j++) {
        enum ne_pq_kind k = sch->cols[j].kind;
        struct bcol *c = &b->c[j];
        c->valid = ne_malloc((b->cap + 7) / 8);
        c->vals = ne_malloc(b->cap * kind_size(k));
        if (k == NE_PQ_STRING) c->soff = ne_malloc(b->cap * sizeof *c->soff);
        if (!c->valid || !c->vals || (k == NE_PQ_STRING && !c->soff)) goto nomem;
        b->vals[j].valid = c->valid;
        b->vals[j].v.i64 = c->vals; /* the union members share the pointer */
    }
    batch_clear(b);
    return 0;
nomem:
    batch_free(b);
    return NE_ENOMEM;
}

static inline void bit_set(uint8_t *bits, uint32_t i)
{
    bits[i / 8] |= (uint8_t)(1u << (i % 8));
}

/* Points string field views at their bytes and hands the rows over. */
static int batch_flush(struct batch *b, struct ne_pq_writer *w)
{
    if (b->n == 0) return 0;
    for (uint32_t j = 1; j < b->ncols; j++) {
        const struct bcol *c = &b->c[j];
        if (!c->soff) continue;
        struct ne_pq_bytes *s = c->vals;
        for (uint32_t i = 0; i < b->n; i++)
            if (c->valid[i / 8] >> (i % 8) & 1) s[i].ptr = (const char *)b->str.p + c->soff[i];
    }
    struct ne_pq_batch pb = {b->n, b->vals};
    int rc = ne_pq_write_rows(w, &pb);
    batch_clear(b);
    return rc;
}

/* ---- conversion state ---------------------------------------------------------- */

/* A field column of the series being written, merged by timestamp. */
struct cur {
    uint32_t col;  /* segment column */
    uint32_t pcol; /* Parquet column */
    uint32_t pos;  /* next point in blk */
    bool active;   /* has a point in the hour at pos */
    struct ne_seg_block blk;
};

struct conv {
    const struct ne_seg2pq_opts *o;
    struct ne_seg *seg;
    const struct ne_seg_info *info;
    char seg_hex[17];
    struct s2_plan plan;
    /* per segment column: Parquet column, cursor block, next timestamp, done */
    uint32_t *pcol, *blk;
    int64_t *next;
    uint8_t *done;
    struct cur *cur; /* as many as the widest series has columns */
    uint32_t ncur;
    /* the group being written */
    struct s2_schema sch;
    struct batch b;
    struct ne_pq_bytes *tagv; /* the current series' tag values, by tag column */
    uint8_t *tagset;
    /* the object being written */
    struct ne_pq_writer *w;
    uint64_t rows, values;
    ne_seg2pq_fn fn;
    void *ctx;
    struct ne_seg2pq_stats *st;
};

static int conv_init_cursors(struct conv *cv)
{
    uint32_t n = cv->info->ncols;
    cv->pcol = ne_calloc(n ? n : 1, sizeof *cv->pcol);
    cv->blk = ne_calloc(n ? n : 1, sizeof *cv->blk);
    cv->next = ne_calloc(n ? n : 1, sizeof *cv->next);
    cv->done = ne_calloc(n ? n : 1, 1);
    uint32_t widest = 1;
    for (uint32_t i = 0; i < cv->plan.nseries; i++)
        if (cv->plan.series[i].ncols > widest) widest = cv->plan.series[i].ncols;
    cv->cur = ne_calloc(widest, sizeof *cv->cur);
    if (!cv->pcol || !cv->blk || !cv->next || !cv->done || !cv->cur) return NE_ENOMEM;
    cv->ncur = widest;
    for (uint32_t i = 0; i < widest; i++)
        ne_seg_block_init(&cv->cur[i].blk);
    for (uint32_t c = 0; c < n; c++) {
        const struct ne_seg_col *col = ne_seg_col(cv->seg, c);
        cv->next[c] = col->min_ts;
        cv->done[c] = col->npoints == 0 || col->nblocks == 0;
    }
    return 0;
}

static void conv_free(struct conv *cv)
{
    ne_pq_abort(&cv->w);
    for (uint32_t i = 0; cv->cur && i < cv->ncur; i++)
        ne_seg_block_free(&cv->cur[i].blk);
    ne_free(cv->cur);
    ne_free(cv->pcol);
    ne_free(cv->blk);
    ne_free(cv->next);
    ne_free(cv->done);
    ne_free(cv->tagv);
    ne_free(cv->tagset);
    batch_free(&cv->b);
    s2_schema_free(&cv->sch);
    s2_plan_free(&cv->plan);
    ne_seg_close(&cv->seg);
}

static int read_block(struct conv *cv, uint32_t col, uint32_t b, struct ne_seg_block *blk)
{
    int rc = ne_seg_block_read(cv->seg, col, b, blk);
    if (rc)
        NE_ERROR("sync", "segment %s: reading column %u block %u: %s", ne_seg_path_of(cv->seg), col,
                 b, ne_strerror(rc));
    return rc;
}

/* First index of blk whose timestamp is >= t (blk->n if none). */
static uint32_t lower_bound(const struct ne_seg_block *blk, int64_t t)
{
    uint32_t lo = 0, hi = blk->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (blk->ts[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Moves column c's cursor to its first point after t1 (a skipped hour). */
static int col_skip_past(struct conv *cv, uint32_t c, int64_t t1)
{
    uint32_t nb = ne_seg_col(cv->seg, c)->nblocks;
    for (uint32_t b = cv->blk[c]; t1 != INT64_MAX && b < nb; b++) {
        const struct ne_seg_blockref *ref = ne_seg_block(cv->seg, c, b);
        if (ref->stats.max_ts <= t1) continue;
        cv->blk[c] = b;
        if (ref->stats.min_ts > t1) {
            cv->next[c] = ref->stats.min_ts;
            return 0;
        }
        struct ne_seg_block *blk = &cv->cur[0].blk;
        int rc = read_block(cv, c, b, blk);
        if (rc) return rc;
        uint32_t i = lower_bound(blk, t1 + 1);
        if (i < blk->n) {
            cv->next[c] = blk->ts[i];
            return 0;
        }
    }
    cv->done[c] = 1;
    return 0;
}

/* Starts merging column c, whose next point lies in the hour. */
static int cur_start(struct conv *cv, struct cur *k, uint32_t c)
{
    k->col = c;
    k->pcol = cv->pcol[c];
    int rc = read_block(cv, c, cv->blk[c], &k->blk);
    if (rc) return rc;
    k->pos = lower_bound(&k->blk, cv->next[c]);
    k->active = k->pos < k->blk.n;
    if (!k->active) {
        NE_ERROR("sync", "segment %s: column %u lost its point at %" PRId64,
                 ne_seg_path_of(cv->seg), c, cv->next[c]);
        return NE_ECORRUPT;
    }
    return 0;
}

/* Steps past the point just written; leaves the merge at the hour's end. */
static int cur_step(struct conv *cv, struct cur *k, int64_t t1)
{
    uint32_t c = k->col;
    if (++k->pos < k->blk.n) {
        if (k->blk.ts[k->pos] > t1) {
            cv->next[c] = k->blk.ts[k->pos];
            k->active = false;
        }
        return 0;
    }
    uint32_t b = cv->blk[c] + 1;
    if (b >= ne_seg_col(cv->seg, c)->nblocks) {
        cv->done[c] = 1;
        k->active = false;
        return 0;
    }
    cv->blk[c] = b;
    const struct ne_seg_blockref *ref = ne_seg_block(cv->seg, c, b);
    if (ref->stats.min_ts > t1) {
        cv->next[c] = ref->stats.min_ts;
        k->active = false;
        return 0;
    }
    k->pos = 0;
    return read_block(cv, c, b, &k->blk);
}

/* ---- rows ------------------------------------------------------------------------ */

/* The series' tag values, by tag column of the schema. */
static void series_tags(struct conv *cv, const struct s2_series *s)
{
    memset(cv->tagset, 0, cv->sch.ntag ? cv->sch.ntag : 1);
    for (uint32_t t = 0; t < s->ntags; t++) {
        const struct s2_tag *tg = &cv->plan.tags[s->tag0 + t];
        struct ne_sv key = {tg->key.p, tg->key.len};
        uint32_t lo = 0, hi = cv->sch.ntag;
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (ne_sv_cmp(cv->sch.tag_keys[mid], key) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        cv->tagset[lo] = 1;
        cv->tagv[lo] = (struct ne_pq_bytes){tg->val.p, tg->val.len};
    }
}

/* Puts the value at k's position into row r. */
static int put_value(struct conv *cv, const struct cur *k, uint32_t r)
{
    struct bcol *c = &cv->b.c[k->pcol];
    const struct ne_seg_block *blk = &k->blk;
    uint32_t i = k->pos;
    switch (blk->type) {
    case NE_V_FLOAT:
        ((double *)c->vals)[r] = blk->v.f[i];
        break;
    case NE_V_INT:
        ((int64_t *)c->vals)[r] = blk->v.i[i];
        break;
    case NE_V_UINT:
        if (blk->v.u[i] > (uint64_t)INT64_MAX) {
            cv->st->uint_nulled++;
            return 0;
        }
        ((int64_t *)c->vals)[r] = (int64_t)blk->v.u[i];
        break;
    case NE_V_BOOL:
        ((uint8_t *)c->vals)[r] = blk->v.b[i] ? 1 : 0;
        break;
    case NE_V_STRING: {
        struct ne_sv sv = blk->v.s[i];
        c->soff[r] = cv->b.str.len;
        ((struct ne_pq_bytes *)c->vals)[r] = (struct ne_pq_bytes){NULL, sv.n};
        int rc = ne_buf_append(&cv->b.str, sv.p, sv.n);
        if (rc) return rc;
        break;
    }
    default:
        return NE_ECORRUPT;
    }
    bit_set(c->valid, r);
    cv->values++;
    return 0;
}

/* Appends the row at timestamp ts: tags, then the values of every column
 * whose head is at ts (those columns step on). */
static int emit_row(struct conv *cv, struct cur *ks, uint32_t nk, int64_t ts, int64_t t1)
{
    struct batch *b = &cv->b;
    uint32_t r = b->n;
    b->time[r] = ts;
    for (uint32_t t = 0; t < cv->sch.ntag; t++) {
        if (!cv->tagset[t]) continue;
        bit_set(b->c[1 + t].valid, r);
        ((struct ne_pq_bytes *)b->c[1 + t].vals)[r] = cv->tagv[t];
    }
    int rc = 0;
    for (uint32_t i = 0; !rc && i < nk; i++) {
        struct cur *k = &ks[i];
        if (!k->active || k->blk.ts[k->pos] != ts) continue;
        rc = put_value(cv, k, r);
        if (!rc) rc = cur_step(cv, k, t1);
    }
    if (rc) return rc;
    cv->rows++;
    if (++b->n == b->cap) rc = batch_flush(b, cv->w);
    return rc;
}

/* Writes series s's rows of the hour [t0, t1]. */
static int series_rows(struct conv *cv, const struct s2_series *s, int64_t t1)
{
    uint32_t nk = 0;
    int rc = 0;
    for (uint32_t c = s->col0; !rc && c < s->col0 + s->ncols; c++)
        if (!cv->done[c] && cv->next[c] <= t1) rc = cur_start(cv, &cv->cur[nk++], c);
    if (rc || nk == 0) return rc;
    series_tags(cv, s);
    for (;;) {
        bool any = false;
        int64_t ts = INT64_MAX;
        for (uint32_t i = 0; i < nk; i++) {
            const struct cur *k = &cv->cur[i];
            if (k->active && (!any || k->blk.ts[k->pos] < ts)) {
                ts = k->blk.ts[k->pos];
                any = true;
            }
        }
        if (!any) return 0;
        rc = emit_row(cv, cv->cur, nk, ts, t1);
        if (rc) return rc;
    }
}

/* ---- objects ------------------------------------------------------------------------ */

int ne_seg2pq_escape(const char *s, size_t len, char *out, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool esc = ch < 0x20 || ch == 0x7f || ch == '/' || ch == '%' || ch == '=';
        if (w + (esc ? 3 : 1) >= n) return NE_ERANGE;
        if (esc) {
            out[w++] = '%';
            out[w++] = hex[ch >> 4];
            out[w++] = hex[ch & 15];
        } else {
            out[w++] = (char)ch;
        }
    }
    if (w >= n) return NE_ERANGE;
    out[w] = 0;
    return (int)w;
}

/* "db=<db>/measurement=<m>/date=YYYY-MM-DD/hour=HH", malloc'd. */
static char *key_suffix(const struct s2_series *s, const char *date, const char *hh)
{
    size_t dn = strlen(s->db), n = 3 * (dn + s->meas.len) + 64;
    char *k = ne_malloc(n);
    if (!k) return NULL;
    size_t w = (size_t)snprintf(k, n, "db=");
    w += (size_t)ne_seg2pq_escape(s->db, dn, k + w, n - w);
    w += (size_t)snprintf(k + w, n - w, "/measurement=");
    w += (size_t)ne_seg2pq_escape(s->meas.p, s->meas.len, k + w, n - w);
    snprintf(k + w, n - w, "/date=%s/hour=%s", date, hh);
    return k;
}

/* Writes every series' rows of the hour through cv->w. */
static int object_rows(struct conv *cv, const struct s2_group *g, int64_t t1)
{
    int rc = 0;
    for (uint32_t i = g->s0; !rc && i < g->s0 + g->ns; i++)
        rc = series_rows(cv, &cv->plan.series[i], t1);
    if (!rc) rc = batch_flush(&cv->b, cv->w);
    return rc;
}

/* Opens the writer on file f with the object's metadata. */
static int object_open(struct conv *cv, const struct s2_series *s, const char *date, const char *hh,
                       struct ne_file *f)
{
    const struct ne_pq_opts *po = &cv->o->pq;
    size_t nkv = 0;
    struct ne_pq_kv *kv = ne_malloc((5 + po->nkv) * sizeof *kv);
    if (!kv) return NE_ENOMEM;
    char hour[48];
    snprintf(hour, sizeof hour, "%sT%s:00:00Z", date, hh);
    kv[nkv++] = (struct ne_pq_kv){"neoedge.segment", cv->seg_hex};
    if (cv->o->node) kv[nkv++] = (struct ne_pq_kv){"neoedge.node", cv->o->node};
    kv[nkv++] = (struct ne_pq_kv){"neoedge.db", s->db};
    kv[nkv++] = (struct ne_pq_kv){"neoedge.measurement", s->meas.p};
    kv[nkv++] = (struct ne_pq_kv){"neoedge.hour", hour};
    for (size_t i = 0; i < po->nkv; i++)
        kv[nkv++] = po->kv[i];
    struct ne_pq_opts opts = *po;
    opts.kv = kv;
    opts.nkv = nkv;
    struct ne_pq_schema schema = {cv->sch.cols, cv->sch.ncols};
    int rc = ne_pq_open(&schema, &opts, ne_pq_sink_file, f, &cv->w);
    ne_free(kv);
    return rc;
}

/* Writes the object of group g for hour h into path and syncs it;
 * *bytes gets its size. */
static int object_write(struct conv *cv, const struct s2_group *g, int64_t h, const char *path,
                        const char *date, const char *hh, uint64_t *bytes)
{
    struct ne_file *f = NULL;
    int64_t t0, t1;
    hour_bounds(h, &t0, &t1);
    int rc = ne_file_open(path, NE_F_WRITE | NE_F_CREATE | NE_F_TRUNC, &f);
    if (rc) {
        NE_ERROR("sync", "cannot create spool file %s: %s", path, ne_strerror(rc));
        return rc;
    }
    rc = object_open(cv, &cv->plan.series[g->s0], date, hh, f);
    if (!rc) rc = object_rows(cv, g, t1);
    if (!rc) rc = ne_pq_close(&cv->w);
    ne_pq_abort(&cv->w);
    if (!rc) rc = ne_file_datasync(f);
    if (!rc) rc = ne_file_size(f, bytes);
    int crc = ne_file_close(&f);
    if (!rc) rc = crc;
    if (rc) NE_ERROR("sync", "writing Parquet object %s: %s", path, ne_strerror(rc));
    return rc;
}

/* Writes, hands over and deletes object number `index`: group g, hour h. */
static int object_deliver(struct conv *cv, const struct s2_group *g, int64_t h, uint64_t index)
{
    const struct s2_series *s = &cv->plan.series[g->s0];
    char date[32], hh[8];
    hour_text(h, date, hh);
    size_t pn = strlen(cv->o->spool_dir) + 64;
    char *path = ne_malloc(pn);
    char *key = key_suffix(s, date, hh);
    int rc = path && key ? 0 : NE_ENOMEM;
    if (!rc)
        snprintf(path, pn, "%s/%s-%06" PRIu64 ".parquet", cv->o->spool_dir, cv->seg_hex, index);
    bool named = !rc;
    cv->rows = cv->values = 0;
    uint64_t bytes = 0;
    if (!rc) rc = object_write(cv, g, h, path, date, hh, &bytes);
    if (!rc) {
        int64_t t0, t1;
        hour_bounds(h, &t0, &t1);
        struct ne_seg2pq_obj obj = {
            .seg_id = cv->info->seg_id,
            .index = index,
            .db = s->db,
            .measurement = s->meas.p,
            .hour_start_ns = t0,
            .key_suffix = key,
            .rows = cv->rows,
            .values = cv->values,
            .bytes = bytes,
            .path = path,
        };
        cv->st->objects++;
        cv->st->rows += cv->rows;
        cv->st->values += cv->values;
        cv->st->bytes += bytes;
        rc = cv->fn(cv->ctx, &obj);
    }
    if (named) {
        int urc = ne_fs_unlink(path);
        if (urc && urc != NE_ENOTFOUND)
            NE_WARN("sync", "cannot remove spool file %s: %s", path, ne_strerror(urc));
    }
    ne_free(path);
    ne_free(key);
    return rc;
}

/* The group's next hour with data: false when every column is done. */
static bool group_next_hour(const struct conv *cv, const struct s2_group *g, int64_t *h)
{
    bool any = false;
    int64_t best = INT64_MAX;
    for (uint32_t i = g->s0; i < g->s0 + g->ns; i++) {
        const struct s2_series *s = &cv->plan.series[i];
        for (uint32_t c = s->col0; c < s->col0 + s->ncols; c++) {
            if (cv->done[c]) continue;
            int64_t hc = hour_of(cv->next[c]);
            if (hc < best) best = hc;
            any = true;
        }
    }
    *h = best;
    return any;
}

static int group_skip_hour(struct conv *cv, const struct s2_group *g, int64_t h)
{
    int64_t t0, t1;
    hour_bounds(h, &t0, &t1);
    int rc = 0;
    for (uint32_t i = g->s0; !rc && i < g->s0 + g->ns; i++) {
        const struct s2_series *s = &cv->plan.series[i];
        for (uint32_t c = s->col0; !rc && c < s->col0 + s->ncols; c++)
            if (!cv->done[c] && cv->next[c] <= t1) rc = col_skip_past(cv, c, t1);
    }
    return rc;
}

/* Sets up the group's schema, batch and tag scratch. */
static int group_begin(struct conv *cv, const struct s2_group *g)
{
    int rc = s2_schema_build(cv->seg, &cv->plan, g, cv->pcol, &cv->sch);
    if (!rc) rc = batch_init(&cv->b, &cv->sch);
    if (rc) return rc;
    uint32_t nt = cv->sch.ntag ? cv->sch.ntag : 1;
    cv->tagv = ne_calloc(nt, sizeof *cv->tagv);
    cv->tagset = ne_calloc(nt, 1);
    return cv->tagv && cv->tagset ? 0 : NE_ENOMEM;
}

static void group_end(struct conv *cv)
{
    ne_free(cv->tagv);
    ne_free(cv->tagset);
    cv->tagv = NULL;
    cv->tagset = NULL;
    batch_free(&cv->b);
    s2_schema_free(&cv->sch);
}

/* Every object of group g, hour by hour; *index counts objects. */
static int group_convert(struct conv *cv, const struct s2_group *g, uint64_t skip, uint64_t *index)
{
    int64_t h;
    int rc = 0;
    bool begun = false;
    while (!rc && group_next_hour(cv, g, &h)) {
        if (*index < skip) {
            rc = group_skip_hour(cv, g, h);
            cv->st->skipped++;
        } else {
            if (!begun) rc = group_begin(cv, g);
            begun = true;
            if (!rc) rc = object_deliver(cv, g, h, *index);
        }
        (*index)++;
    }
    if (begun) group_end(cv);
    return rc;
}

int ne_seg2pq_convert(const char *seg_path, const struct ne_seg2pq_opts *o, uint64_t skip,
                      ne_seg2pq_fn fn, void *ctx, struct ne_seg2pq_stats *st)
{
    struct ne_seg2pq_stats dummy;
    if (!st) st = &dummy;
    memset(st, 0, sizeof *st);
    if (!seg_path || !o || !o->spool_dir || !o->resolve || !fn) return NE_EINVAL;
    struct conv cv = {.o = o, .fn = fn, .ctx = ctx, .st = st};
    int rc = ne_seg_open(seg_path, &cv.seg);
    if (rc) {
        NE_ERROR("sync", "cannot open segment %s for Parquet export: %s", seg_path,
                 ne_strerror(rc));
        return rc;
    }
    cv.info = ne_seg_info(cv.seg);
    snprintf(cv.seg_hex, sizeof cv.seg_hex, "%016" PRIx64, cv.info->seg_id);
    rc = s2_plan_build(cv.seg, o, &cv.plan, st);
    if (!rc) rc = conv_init_cursors(&cv);
    uint64_t index = 0;
    for (uint32_t g = 0; !rc && g < cv.plan.ngroups; g++)
        rc = group_convert(&cv, &cv.plan.groups[g], skip, &index);
    conv_free(&cv);
    return rc;
}

/* ---- helpers ---------------------------------------------------------------------------- */

int ne_seg2pq_resolve_store(void *ctx, uint64_t series_id, struct ne_series_info *out)
{
    return ne_store_series_info(ctx, series_id, out);
}

/* "<16 hex>-<digits>.parquet" */
static bool spool_name(const char *name)
{
    size_t n = strlen(name), i = 0;
    const size_t ext = sizeof ".parquet" - 1;
    if (n < 16 + 1 + 1 + ext || strcmp(name + n - ext, ".parquet") != 0) return false;
    for (; i < 16; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return false;
    if (name[i++] != '-') return false;
    for (; i < n - ext; i++)
        if (name[i] < '0' || name[i] > '9') return false;
    return true;
}

static int clean_one(void *ctx, const char *name, bool is_dir)
{
    if (is_dir || !spool_name(name)) return 0;
    const char *dir = ctx;
    size_t n = strlen(dir) + strlen(name) + 2;
    char *path = ne_malloc(n);
    if (!path) return NE_ENOMEM;
    snprintf(path, n, "%s/%s", dir, name);
    int rc = ne_fs_unlink(path);
    ne_free(path);
    return rc == NE_ENOTFOUND ? 0 : rc;
}

int ne_seg2pq_clean_spool(const char *spool_dir)
{
    return ne_fs_list_dir(spool_dir, clean_one, (void *)spool_dir);
}
