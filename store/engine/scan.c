/*
 * scan.c - reads: column scans merging segments and memtables, and the
 * metadata lookups of the series index.
 *
 * Consistency: for each series the scan takes, under the store lock, a
 * reference on every segment and a copy of the series' memtable values, in
 * one step; so a flush or compaction running meanwhile can neither hide nor
 * double anything. Precedence for equal (series, field, ts): segments by WAL
 * range (older first), then the sealed memtable, then the active one; the
 * stable sort keeps the last, i.e. the newest write.
 *
 * Deleted data (delete.c): dead series are skipped; the series' tombstone
 * ranges are copied with the snapshot, and a segment block one of them
 * covers (in a segment below its limit) is skipped, a block one meets is
 * decoded and filtered and never offered as statistics. Memtables need no
 * filtering: a delete flushes them first, so they hold only newer writes.
 */
#include <stdlib.h>
#include <string.h>

#include "ports/log.h"
#include "ports/platform.h"
#include "store/engine/store_int.h"

struct span {
    int64_t lo, hi;
};

struct scan {
    struct ne_store *s;
    const struct ne_store_scan_req *q;
    ne_store_chunk_fn fn;
    ne_store_block_fn bfn;
    void *ctx;
    struct eng_seg **segs;
    size_t nsegs, cap_segs;
    /* the column being assembled */
    int64_t *ts;
    union eng_val *v;
    size_t n, cap;
    char *strs;
    size_t nstrs, cap_strs;
    int64_t *tts;
    union eng_val *tv;
    bool *b;
    struct ne_sv *sv;
    size_t tcap;
    /* memtable copies of the series: per field slot, [mt_lo, mt_hi) in ts/v */
    size_t *mt_lo, *mt_hi, mt_end;
    struct span *mt_span;
    struct eng_field *fcopy; /* the series' fields, copied under the lock */
    uint32_t mt_cap, nf;
    struct ne_seg_block blk;
    struct ne_series_info info;
    /* tombstone ranges of the series, copied under the lock */
    struct eng_trange *tr;
    size_t ntr, cap_tr;
};

static int grow_vals(struct scan *sc, size_t extra)
{
    if (sc->n + extra <= sc->cap) return 0;
    size_t nc = sc->cap ? sc->cap * 2 : 1024;
    while (nc < sc->n + extra)
        nc *= 2;
    int64_t *ts = ne_realloc(sc->ts, nc * sizeof *ts);
    if (!ts) return NE_ENOMEM;
    sc->ts = ts;
    union eng_val *v = ne_realloc(sc->v, nc * sizeof *v);
    if (!v) return NE_ENOMEM;
    sc->v = v;
    sc->cap = nc;
    return 0;
}

static int put_str(struct scan *sc, struct ne_sv s, uint64_t *out)
{
    if (sc->nstrs + s.n > sc->cap_strs) {
        size_t nc = sc->cap_strs ? sc->cap_strs * 2 : 4096;
        while (nc < sc->nstrs + s.n)
            nc *= 2;
        char *p = ne_realloc(sc->strs, nc);
        if (!p) return NE_ENOMEM;
        sc->strs = p;
        sc->cap_strs = nc;
    }
    if (s.n) memcpy(sc->strs + sc->nstrs, s.p, s.n);
    *out = (uint64_t)sc->nstrs << 32 | s.n;
    sc->nstrs += s.n;
    return 0;
}

/* Copies the in-range values of a memtable column. */
static int copy_mcol(struct scan *sc, const struct eng_memtable *m, const struct eng_mcol *c)
{
    int rc = grow_vals(sc, c->n);
    for (uint32_t i = 0; !rc && i < c->n; i++) {
        if (c->ts[i] < sc->q->t0 || c->ts[i] > sc->q->t1) continue;
        union eng_val v = c->v[i];
        if (c->type == NE_V_STRING) rc = put_str(sc, eng_mt_str(m, v), &v.u);
        sc->ts[sc->n] = c->ts[i];
        sc->v[sc->n++] = v;
    }
    return rc;
}

static int grow_mt(struct scan *sc, uint32_t n)
{
    if (n <= sc->mt_cap) return 0;
    size_t *lo = ne_realloc(sc->mt_lo, n * sizeof *lo);
    if (lo) sc->mt_lo = lo;
    size_t *hi = lo ? ne_realloc(sc->mt_hi, n * sizeof *hi) : NULL;
    if (hi) sc->mt_hi = hi;
    struct span *sp = hi ? ne_realloc(sc->mt_span, n * sizeof *sp) : NULL;
    if (sp) sc->mt_span = sp;
    struct eng_field *fc = sp ? ne_realloc(sc->fcopy, n * sizeof *fc) : NULL;
    if (!fc) return NE_ENOMEM;
    sc->fcopy = fc;
    sc->mt_cap = n;
    return 0;
}

static void span_add(struct span *sp, int64_t lo, int64_t hi)
{
    if (lo < sp->lo) sp->lo = lo;
    if (hi > sp->hi) sp->hi = hi;
}

/* Under the lock: snapshots the segments and copies the memtable values of
 * every field of se. The copies sit at the front of ts/v; the column
 * assembly later moves them after the segment values. */
static int snapshot_series(struct scan *sc, struct eng_series *se)
{
    struct ne_store *s = sc->s;
    int rc = 0;
    if (s->nsegs > sc->cap_segs) {
        struct eng_seg **g = ne_realloc(sc->segs, s->nsegs * sizeof *g);
        if (!g) return NE_ENOMEM;
        sc->segs = g;
        sc->cap_segs = s->nsegs;
    }
    for (size_t i = 0; i < s->nsegs; i++) {
        sc->segs[i] = s->segs[i];
        s->segs[i]->refs++;
    }
    sc->nsegs = s->nsegs;
    sc->n = sc->nstrs = sc->mt_end = 0;
    sc->nf = 0;
    sc->ntr = 0;
    if ((rc = eng_del_ranges_of(s, se->id, &sc->tr, &sc->ntr, &sc->cap_tr))) return rc;
    if ((rc = grow_mt(sc, se->nfields ? se->nfields : 1))) return rc;
    sc->nf = se->nfields;
    if (se->nfields) memcpy(sc->fcopy, se->fields, se->nfields * sizeof *sc->fcopy);
    for (uint32_t f = 0; !rc && f < se->nfields; f++) {
        sc->mt_lo[f] = sc->n;
        sc->mt_span[f] = (struct span){INT64_MAX, INT64_MIN};
        const struct eng_memtable *mts[2] = {s->sealed, s->active};
        for (int k = 0; k < 2 && !rc; k++) {
            const struct eng_mcol *c = mts[k] ? eng_mt_find(mts[k], se, f) : NULL;
            if (!c || !c->n) continue;
            span_add(&sc->mt_span[f], c->min_ts, c->max_ts);
            rc = copy_mcol(sc, mts[k], c);
        }
        sc->mt_hi[f] = sc->n;
    }
    sc->mt_end = sc->n;
    return rc;
}

static void release_segs(struct scan *sc)
{
    for (size_t i = 0; i < sc->nsegs; i++)
        eng_seg_unref(sc->s, sc->segs[i]);
    sc->nsegs = 0;
}

static bool overlaps_other(struct scan *sc, size_t self, const int64_t *col_lo,
                           const int64_t *col_hi, struct span mt, int64_t lo, int64_t hi)
{
    if (mt.lo <= hi && lo <= mt.hi) return true;
    for (size_t i = 0; i < sc->nsegs; i++)
        if (i != self && col_lo[i] <= hi && lo <= col_hi[i]) return true;
    return false;
}

/* How the tombstones that apply to segment seg_id meet [lo, hi]: 0 not at
 * all, 1 in part, 2 one covers all of it. */
static int tomb_cover(const struct scan *sc, uint64_t seg_id, int64_t lo, int64_t hi)
{
    int r = 0;
    for (size_t i = 0; i < sc->ntr; i++) {
        const struct eng_trange *t = &sc->tr[i];
        if (seg_id >= t->seg_limit || t->t0 > hi || lo > t->t1) continue;
        if (t->t0 <= lo && hi <= t->t1) return 2;
        r = 1;
    }
    return r;
}

/* The first index of ts[0..n) (ascending) with ts[i] >= t. */
static size_t lower_bound(const int64_t *ts, size_t n, int64_t t)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ts[mid] < t) lo = mid + 1;
        else hi = mid;
    }
    return lo;
}

/* The decoded block's in-range part [*lo, *hi): blocks are sorted by time. */
static void block_window(const struct scan *sc, size_t *lo, size_t *hi)
{
    const struct ne_seg_block *b = &sc->blk;
    *lo = lower_bound(b->ts, b->n, sc->q->t0);
    *hi = sc->q->t1 == INT64_MAX ? b->n : lower_bound(b->ts, b->n, sc->q->t1 + 1);
    if (*hi < *lo) *hi = *lo;
}

static int append_block(struct scan *sc, uint8_t type, uint64_t seg_id, bool filter)
{
    const struct ne_seg_block *b = &sc->blk;
    size_t lo, hi;
    block_window(sc, &lo, &hi);
    int rc = grow_vals(sc, hi - lo);
    if (rc) return rc;
    if (!filter && type == NE_V_FLOAT) { /* the common case: one tight loop */
        memcpy(sc->ts + sc->n, b->ts + lo, (hi - lo) * sizeof *sc->ts);
        for (size_t i = lo; i < hi; i++)
            sc->v[sc->n++].f = b->v.f[i];
        return 0;
    }
    for (size_t i = lo; !rc && i < hi; i++) {
        if (filter && tomb_cover(sc, seg_id, b->ts[i], b->ts[i])) continue;
        union eng_val v = {.u = 0};
        switch (type) {
        case NE_V_FLOAT:
            v.f = b->v.f[i];
            break;
        case NE_V_INT:
            v.i = b->v.i[i];
            break;
        case NE_V_UINT:
            v.u = b->v.u[i];
            break;
        case NE_V_BOOL:
            v.u = b->v.b[i] ? 1 : 0;
            break;
        default:
            rc = put_str(sc, b->v.s[i], &v.u);
            break;
        }
        sc->ts[sc->n] = b->ts[i];
        sc->v[sc->n++] = v;
    }
    return rc;
}

static int grow_tmp(struct scan *sc, size_t n)
{
    if (sc->tcap >= n) return 0;
    int64_t *tts = ne_realloc(sc->tts, n * sizeof *tts);
    if (tts) sc->tts = tts;
    union eng_val *tv = tts ? ne_realloc(sc->tv, n * sizeof *tv) : NULL;
    if (tv) sc->tv = tv;
    bool *b = tv ? ne_realloc(sc->b, n * sizeof *b) : NULL;
    if (b) sc->b = b;
    struct ne_sv *sv = b ? ne_realloc(sc->sv, n * sizeof *sv) : NULL;
    if (!sv) return NE_ENOMEM;
    sc->sv = sv;
    sc->tcap = n;
    return 0;
}

/* ts/v[base, run) and [run, n) are each ascending: merges them so that
 * [base, n) is ascending, equal times in their order (the later run's
 * value after the earlier's, so the dedup keeps it). Segments of one
 * column usually follow each other in time or overlap at their edges:
 * only the overlapping tail of the first run is moved. */
static int merge_runs(struct scan *sc, size_t base, size_t run)
{
    if (run == base || run == sc->n || sc->ts[run - 1] < sc->ts[run] || sc->ts[run] == INT64_MAX)
        return 0;
    size_t p = base + lower_bound(sc->ts + base, run - base, sc->ts[run] + 1);
    size_t na = run - p, nb = sc->n - run;
    if (na == 0) return 0; /* they only meet at an equal time: in order */
    int rc = grow_tmp(sc, na);
    if (rc) return rc;
    memcpy(sc->tts, sc->ts + p, na * sizeof *sc->tts);
    memcpy(sc->tv, sc->v + p, na * sizeof *sc->tv);
    size_t i = 0, j = run, k = p; /* i in tmp (first run), j in the second */
    while (i < na && j < run + nb) {
        if (sc->ts[j] < sc->tts[i]) {
            sc->ts[k] = sc->ts[j];
            sc->v[k++] = sc->v[j++];
        } else {
            sc->ts[k] = sc->tts[i];
            sc->v[k++] = sc->tv[i++];
        }
    }
    while (i < na) {
        sc->ts[k] = sc->tts[i];
        sc->v[k++] = sc->tv[i++];
    }
    return 0; /* the rest of the second run is in place */
}

/* The one block of a column that nothing else overlaps: its decoded
 * arrays go to the callback as they are, without a copy. */
static int emit_block(struct scan *sc, const struct eng_field *ef)
{
    const struct ne_seg_block *b = &sc->blk;
    size_t lo, hi;
    block_window(sc, &lo, &hi);
    if (lo == hi || !sc->fn) return 0;
    struct ne_scan_chunk c = {
        .series = &sc->info, .field = ef->name.p, .type = ef->type, .n = hi - lo, .ts = b->ts + lo};
    switch (ef->type) {
    case NE_V_FLOAT:
        c.v.f = b->v.f + lo;
        break;
    case NE_V_INT:
        c.v.i = b->v.i + lo;
        break;
    case NE_V_UINT:
        c.v.u = b->v.u + lo;
        break;
    case NE_V_BOOL:
        c.v.b = b->v.b + lo;
        break;
    default:
        c.v.s = b->v.s + lo;
        break;
    }
    return sc->fn(sc->ctx, &c);
}

/* Where one segment's part of a column lies and which of its blocks meet
 * the scan's range. */
struct colpart {
    int64_t lo, hi;  /* the column's time range in that segment */
    uint32_t idx;    /* column index, UINT32_MAX if the segment lacks it */
    uint32_t b0, b1; /* blocks meeting [t0, t1] */
};

/* Offers block b of segment i to the block callback when its statistics
 * may stand for its points (wholly in range, not deleted in part, nothing
 * else overlapping it). 1 if they were used, 0 if not, < 0 an error. */
static int offer_stats(struct scan *sc, const struct eng_field *ef, size_t i,
                       const int64_t *col_lo, const int64_t *col_hi, struct span mt,
                       const struct ne_seg_blockref *br, int cover)
{
    if (!sc->bfn || cover || br->stats.min_ts < sc->q->t0 || br->stats.max_ts > sc->q->t1 ||
        overlaps_other(sc, i, col_lo, col_hi, mt, br->stats.min_ts, br->stats.max_ts))
        return 0;
    struct ne_scan_block sb = {&sc->info, ef->name.p, ef->type, &br->stats};
    return sc->bfn(sc->ctx, &sb);
}

static int read_failed(const struct ne_seg *r, int rc)
{
    if (rc < 0)
        ne_log(NE_LOG_ERROR, ENG_MOD, "segment block unreadable", "path", ne_seg_path_of(r), "err",
               ne_strerror(rc), NULL);
    return rc;
}

/* Reads the segment part of one column into ts/v (after the memtable
 * copies, which are then moved behind it), each block merged into what
 * is there so that the column stays in time order. When one block is all
 * the column has in range (no memtable values, no tombstones) its points
 * go to the callback straight from the decoder and *done is set. */
static int read_segments(struct scan *sc, const struct eng_field *ef, struct span mt, size_t mt_n,
                         bool *done)
{
    size_t ns = sc->nsegs ? sc->nsegs : 1;
    int64_t col_lo[ns], col_hi[ns];
    struct colpart part[ns];
    size_t nblocks = 0, only = 0;
    *done = false;
    for (size_t i = 0; i < sc->nsegs; i++) {
        struct colpart *cp = &part[i];
        *cp = (struct colpart){INT64_MAX, INT64_MIN, UINT32_MAX, 0, 0};
        uint32_t idx;
        if (ne_seg_find_col(sc->segs[i]->r, sc->info.id, ef->name, &idx) == 0) {
            const struct ne_seg_col *c = ne_seg_col(sc->segs[i]->r, idx);
            if (c->key.type == ef->type) {
                cp->lo = c->min_ts;
                cp->hi = c->max_ts;
                cp->idx = idx;
                ne_seg_blocks_in_range(sc->segs[i]->r, idx, sc->q->t0, sc->q->t1, &cp->b0,
                                       &cp->b1);
                nblocks += cp->b1 - cp->b0;
                if (cp->b1 > cp->b0) only = i;
            }
        }
        col_lo[i] = cp->lo;
        col_hi[i] = cp->hi;
    }
    if (nblocks == 1 && mt_n == 0 && sc->ntr == 0) {
        const struct ne_seg *r = sc->segs[only]->r;
        const struct ne_seg_blockref *br = ne_seg_block(r, part[only].idx, part[only].b0);
        *done = true;
        int rc = offer_stats(sc, ef, only, col_lo, col_hi, mt, br, 0);
        if (rc) return rc < 0 ? rc : 0;
        rc = ne_seg_block_read(r, part[only].idx, part[only].b0, &sc->blk);
        return rc ? read_failed(r, rc) : emit_block(sc, ef);
    }
    size_t base = sc->n;
    for (size_t i = 0; i < sc->nsegs; i++) {
        const struct colpart *cp = &part[i];
        const struct ne_seg *r = sc->segs[i]->r;
        uint64_t seg_id = sc->segs[i]->id;
        for (uint32_t b = cp->b0; b < cp->b1; b++) {
            const struct ne_seg_blockref *br = ne_seg_block(r, cp->idx, b);
            int cover = sc->ntr ? tomb_cover(sc, seg_id, br->stats.min_ts, br->stats.max_ts) : 0;
            if (cover == 2) continue; /* deleted */
            int rc = offer_stats(sc, ef, i, col_lo, col_hi, mt, br, cover);
            if (rc < 0) return rc;
            if (rc > 0) continue; /* the statistics were used */
            size_t run = sc->n;
            rc = ne_seg_block_read(r, cp->idx, b, &sc->blk);
            if (!rc) rc = append_block(sc, ef->type, seg_id, cover != 0);
            if (!rc) rc = merge_runs(sc, base, run);
            if (rc) return read_failed(r, rc);
        }
    }
    return 0;
}

static int emit(struct scan *sc, const struct eng_field *ef, size_t from)
{
    size_t n = sc->n - from;
    if (!n) return 0;
    int rc = grow_tmp(sc, n);
    if (rc) return rc;
    int64_t *ts = sc->ts + from;
    union eng_val *v = sc->v + from;
    n = eng_sort_dedup(ts, v, n, sc->tts, sc->tv);
    struct ne_scan_chunk c = {
        .series = &sc->info, .field = ef->name.p, .type = ef->type, .n = n, .ts = ts};
    switch (ef->type) {
    case NE_V_FLOAT:
        c.v.f = &v[0].f;
        break;
    case NE_V_INT:
        c.v.i = &v[0].i;
        break;
    case NE_V_UINT:
        c.v.u = &v[0].u;
        break;
    case NE_V_BOOL:
        for (size_t i = 0; i < n; i++)
            sc->b[i] = v[i].u != 0;
        c.v.b = sc->b;
        break;
    default:
        for (size_t i = 0; i < n; i++)
            sc->sv[i] = (struct ne_sv){sc->strs ? sc->strs + (v[i].u >> 32) : "", (uint32_t)v[i].u};
        c.v.s = sc->sv;
        break;
    }
    return sc->fn ? sc->fn(sc->ctx, &c) : 0;
}

/* One column: segment values, then the memtable copy (newest last). */
static int scan_column(struct scan *sc, uint32_t f)
{
    size_t mt_n = sc->mt_hi[f] - sc->mt_lo[f];
    size_t base = sc->mt_end; /* after all memtable copies */
    sc->n = base;
    bool done;
    int rc = read_segments(sc, &sc->fcopy[f], sc->mt_span[f], mt_n, &done);
    if (rc || done) return rc;
    rc = grow_vals(sc, mt_n);
    if (rc) return rc;
    if (mt_n) {
        memcpy(sc->ts + sc->n, sc->ts + sc->mt_lo[f], mt_n * sizeof *sc->ts);
        memcpy(sc->v + sc->n, sc->v + sc->mt_lo[f], mt_n * sizeof *sc->v);
    }
    sc->n += mt_n;
    return emit(sc, &sc->fcopy[f], base);
}

static int scan_series(struct scan *sc, struct eng_series *se)
{
    struct ne_store *s = sc->s;
    const struct ne_store_scan_req *q = sc->q;
    sc->info = (struct ne_series_info){se->id, eng_index_db_at(s->ix, se->db)->name,
                                       se->meas_name.p, se->tags, se->ntags};
    pthread_mutex_lock(&s->mu);
    bool dead = se->dead;
    pthread_mutex_unlock(&s->mu);
    if (dead || (q->filter && !q->filter(q->filter_ctx, &sc->info))) return 0;
    pthread_mutex_lock(&s->mu);
    dead = se->dead; /* deleted while the filter ran */
    int rc = dead ? 0 : snapshot_series(sc, se);
    pthread_mutex_unlock(&s->mu);
    if (dead) return 0;
    for (uint32_t f = 0; !rc && f < sc->nf; f++) {
        if (q->field && strcmp(q->field, sc->fcopy[f].name.p) != 0) continue;
        rc = scan_column(sc, f);
    }
    pthread_mutex_lock(&s->mu);
    release_segs(sc);
    bool reap = s->ngrave > 0;
    pthread_mutex_unlock(&s->mu);
    if (reap) eng_reap(s);
    return rc;
}

static int scan_run(struct ne_store *s, const struct ne_store_scan_req *q, ne_store_chunk_fn fn,
                    ne_store_block_fn bfn, void *ctx)
{
    if (!s || !q || !q->db || !q->measurement) return NE_EINVAL;
    struct scan sc = {.s = s, .q = q, .fn = fn, .bfn = bfn, .ctx = ctx};
    ne_seg_block_init(&sc.blk);
    uint32_t db;
    const struct eng_meas *m = NULL;
    pthread_mutex_lock(&s->mu);
    int rc = eng_index_db_find(s->ix, q->db, &db);
    if (!rc) rc = eng_index_meas_find(s->ix, db, q->measurement, &m);
    uint64_t nseries = m ? m->nseries : 0;
    pthread_mutex_unlock(&s->mu);
    /* the series array only grows; entries below nseries never move, but
     * the array itself may be reallocated: index it under the lock */
    for (uint64_t i = 0; !rc && i < nseries; i++) {
        pthread_mutex_lock(&s->mu);
        struct eng_series *se = m->series[i];
        pthread_mutex_unlock(&s->mu);
        rc = scan_series(&sc, se);
    }
    ne_seg_block_free(&sc.blk);
    ne_free(sc.segs);
    ne_free(sc.ts);
    ne_free(sc.v);
    ne_free(sc.strs);
    ne_free(sc.tts);
    ne_free(sc.tv);
    ne_free(sc.b);
    ne_free(sc.sv);
    ne_free(sc.mt_lo);
    ne_free(sc.mt_hi);
    ne_free(sc.mt_span);
    ne_free(sc.fcopy);
    ne_free(sc.tr);
    return rc;
}

int ne_store_scan(struct ne_store *s, const struct ne_store_scan_req *q, ne_store_chunk_fn fn,
                  void *ctx)
{
    return scan_run(s, q, fn, NULL, ctx);
}

int ne_store_scan_blocks(struct ne_store *s, const struct ne_store_scan_req *q,
                         ne_store_chunk_fn fn, ne_store_block_fn block_fn, void *ctx)
{
    return scan_run(s, q, fn, block_fn, ctx);
}

/* ---- metadata lookups -------------------------------------------------------- */

static int find_meas(struct ne_store *s, const char *db, const char *meas,
                     const struct eng_meas **out)
{
    uint32_t d;
    int rc = eng_index_db_find(s->ix, db, &d);
    return rc ? rc : eng_index_meas_find(s->ix, d, meas, out);
}

int ne_store_create_database(struct ne_store *s, const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n == 0 || n > 255)
        return NE_EINVAL;
    pthread_mutex_lock(&s->mu);
    uint32_t d;
    int rc = eng_index_db(s->ix, (struct ne_sv){name, (uint32_t)n}, &d);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int ne_store_list_databases(struct ne_store *s, ne_store_name_fn fn, void *ctx)
{
    pthread_mutex_lock(&s->mu);
    int rc = 0;
    for (uint32_t i = 0; !rc && i < eng_index_ndbs(s->ix); i++)
        if (!eng_index_db_at(s->ix, i)->dropped) rc = fn(ctx, eng_index_db_at(s->ix, i)->name);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int ne_store_list_measurements(struct ne_store *s, const char *db, ne_store_name_fn fn, void *ctx)
{
    pthread_mutex_lock(&s->mu);
    uint32_t d;
    int rc = eng_index_db_find(s->ix, db, &d);
    for (uint32_t i = 0; !rc && i < eng_index_nmeas(s->ix); i++) {
        const struct eng_meas *m = eng_index_meas_at(s->ix, i);
        if (m->db == d && m->nlive) rc = fn(ctx, m->name);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static struct ne_series_info series_info(struct ne_store *s, const struct eng_series *se)
{
    return (struct ne_series_info){se->id, eng_index_db_at(s->ix, se->db)->name, se->meas_name.p,
                                   se->tags, se->ntags};
}

int ne_store_series_info(struct ne_store *s, uint64_t id, struct ne_series_info *out)
{
    pthread_mutex_lock(&s->mu);
    const struct eng_series *se = eng_index_series_by_id(s->ix, id);
    if (se) *out = series_info(s, se);
    pthread_mutex_unlock(&s->mu);
    return se ? 0 : NE_ENOTFOUND;
}

int ne_store_list_series(struct ne_store *s, const char *db, const char *measurement,
                         ne_store_series_fn fn, void *ctx)
{
    pthread_mutex_lock(&s->mu);
    const struct eng_meas *m;
    int rc = find_meas(s, db, measurement, &m);
    for (uint64_t i = 0; !rc && i < m->nseries; i++) {
        if (m->series[i]->dead) continue;
        struct ne_series_info in = series_info(s, m->series[i]);
        rc = fn(ctx, &in);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Collects names (borrowed), sorts them, calls fn once per distinct one.
 * Keys of many series repeat the same few names: a small hash set of the
 * names seen keeps each out of the list after its first time. */
struct names {
    const char **v;
    uint8_t *types;
    size_t n, cap;
    uint32_t *seen; /* open addressing: index + 1 into v, 0 = free */
    size_t nseen;   /* slots, a power of two, at least twice n */
};

static uint32_t name_hash(const char *s)
{
    uint32_t h = 2166136261u; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The slot of name in the seen set: where it is, or the free one where it
 * goes. */
static uint32_t *seen_slot(struct names *nm, const char *name)
{
    size_t mask = nm->nseen - 1;
    for (size_t i = name_hash(name) & mask;; i = (i + 1) & mask) {
        uint32_t *sl = &nm->seen[i];
        if (!*sl || strcmp(nm->v[*sl - 1], name) == 0) return sl;
    }
}

static int seen_grow(struct names *nm)
{
    size_t ns = nm->nseen ? nm->nseen * 2 : 64;
    uint32_t *t = ne_calloc(ns, sizeof *t);
    if (!t) return NE_ENOMEM;
    ne_free(nm->seen);
    nm->seen = t;
    nm->nseen = ns;
    for (size_t i = 0; i < nm->n; i++)
        *seen_slot(nm, nm->v[i]) = (uint32_t)i + 1;
    return 0;
}

static int names_add(struct names *nm, const char *name, uint8_t type)
{
    if (nm->n == nm->cap) {
        size_t nc = nm->cap ? nm->cap * 2 : 64;
        const char **v = ne_realloc(nm->v, nc * sizeof *v);
        if (!v) return NE_ENOMEM;
        nm->v = v;
        uint8_t *t = ne_realloc(nm->types, nc);
        if (!t) return NE_ENOMEM;
        nm->types = t;
        nm->cap = nc;
    }
    nm->types[nm->n] = type;
    nm->v[nm->n++] = name;
    return 0;
}

/* names_add, but a name already collected is left out. */
static int names_add_new(struct names *nm, const char *name, uint8_t type)
{
    if (2 * (nm->n + 1) > nm->nseen && seen_grow(nm)) return NE_ENOMEM;
    uint32_t *sl = seen_slot(nm, name);
    if (*sl) return 0;
    int rc = names_add(nm, name, type);
    if (!rc) *sl = (uint32_t)nm->n;
    return rc;
}

/* Emits the collected names sorted and each once (when rc is still 0) and
 * frees them in every case. Returns rc or the first callback result. */
static int names_finish(struct names *nm, int rc, ne_store_name_fn fn, ne_store_field_fn ffn,
                        void *ctx, const struct eng_meas *m)
{
    if (!rc && nm->n) qsort(nm->v, nm->n, sizeof *nm->v, cmp_cstr);
    for (size_t i = 0; !rc && i < nm->n; i++) {
        if (i && strcmp(nm->v[i], nm->v[i - 1]) == 0) continue;
        if (fn) {
            rc = fn(ctx, nm->v[i]);
            continue;
        }
        /* the type of a field: from the first series that has it */
        uint8_t type = 0;
        for (uint64_t k = 0; !type && k < m->nseries; k++) {
            const struct eng_series *se = m->series[k];
            if (se->dead) continue;
            int sl = eng_series_field_find(se, ne_sv_c(nm->v[i]), 0);
            if (sl >= 0) type = se->fields[sl].type;
        }
        rc = ffn(ctx, nm->v[i], (enum ne_vtype)type);
    }
    ne_free(nm->v);
    ne_free(nm->types);
    ne_free(nm->seen);
    return rc;
}

int ne_store_tag_keys(struct ne_store *s, const char *db, const char *measurement,
                      ne_store_name_fn fn, void *ctx)
{
    struct names nm = {0};
    pthread_mutex_lock(&s->mu);
    const struct eng_meas *m;
    int rc = find_meas(s, db, measurement, &m);
    for (uint64_t i = 0; !rc && i < m->nseries; i++)
        for (uint32_t t = 0; !rc && !m->series[i]->dead && t < m->series[i]->ntags; t++)
            rc = names_add_new(&nm, m->series[i]->tags[t].key.p, 0);
    rc = names_finish(&nm, rc, fn, NULL, ctx, m);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int ne_store_tag_values(struct ne_store *s, const char *db, const char *measurement,
                        const char *key, ne_store_name_fn fn, void *ctx)
{
    struct names nm = {0};
    pthread_mutex_lock(&s->mu);
    const struct eng_meas *m;
    int rc = find_meas(s, db, measurement, &m);
    for (uint64_t i = 0; !rc && i < m->nseries; i++)
        for (uint32_t t = 0; !rc && !m->series[i]->dead && t < m->series[i]->ntags; t++)
            if (strcmp(m->series[i]->tags[t].key.p, key) == 0)
                rc = names_add(&nm, m->series[i]->tags[t].val.p, 0);
    rc = names_finish(&nm, rc, fn, NULL, ctx, m);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int ne_store_field_keys(struct ne_store *s, const char *db, const char *measurement,
                        ne_store_field_fn fn, void *ctx)
{
    struct names nm = {0};
    pthread_mutex_lock(&s->mu);
    const struct eng_meas *m;
    int rc = find_meas(s, db, measurement, &m);
    for (uint64_t i = 0; !rc && i < m->nseries; i++)
        for (uint32_t f = 0; !rc && !m->series[i]->dead && f < m->series[i]->nfields; f++)
            rc = names_add_new(&nm, m->series[i]->fields[f].name.p, m->series[i]->fields[f].type);
    rc = names_finish(&nm, rc, NULL, fn, ctx, m);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int ne_store_series_with_tag(struct ne_store *s, const char *db, const char *measurement,
                             const char *key, const char *value, ne_store_series_fn fn, void *ctx)
{
    pthread_mutex_lock(&s->mu);
    const struct eng_meas *m;
    int rc = find_meas(s, db, measurement, &m);
    uint64_t n = 0;
    struct eng_series *const *v =
        rc ? NULL : eng_index_postings(s->ix, m, ne_sv_c(key), ne_sv_c(value), &n);
    for (uint64_t i = 0; !rc && i < n; i++) {
        if (v[i]->dead) continue;
        struct ne_series_info in = series_info(s, v[i]);
        rc = fn(ctx, &in);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}
