/*
 * scan.c - reads: column scans merging segments and memtables, and the
 * metadata lookups of the series index.
 *
 * Consistency: for each series the scan takes, under the store lock, a
 * reference on every segment and a copy of the series' memtable values, in
 * one step; so a flush or compaction running meanwhile can neither hide nor
 * double anything. Precedence for equal (series, field, ts): the greatest
 * last-writer-wins version (equal nonzero versions: the larger value, by
 * store/lww.h), then segments by WAL range (older first), then
 * the sealed memtable, then the active one; the stable sort keeps the
 * last, i.e. the newest write. Versions are gathered only once a source of
 * the series holds some (ver_on): unversioned data takes the old path.
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
    uint64_t *ver; /* parallel to ts/v while ver_on (capacity vcap) */
    bool ver_on;
    size_t vcap;
    size_t n, cap;
    char *strs;
    size_t nstrs, cap_strs;
    int64_t *tts;
    union eng_val *tv;
    bool *b;
    struct ne_sv *sv;
    size_t tcap;
    /* the column being assembled starts at col_base; ordered: its values
     * so far are known to be strictly ascending in time (no sort needed) */
    size_t col_base;
    bool ordered;
    /* zero copy: the column's first slice may stay in blk (pend_i0, pend_n)
     * until another block is read or the column turns out to be just it */
    bool pend;
    uint32_t pend_i0, pend_n;
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

/* The scan's arrays grow one after the other: one that grew stays grown
 * when a later one fails, and the capacity is not raised then. */
static int grow_vals(struct scan *sc, size_t extra)
{
    if (sc->n + extra <= sc->cap) return 0;
    size_t nc = ne_grown_cap(sc->cap, 1024, sc->n + extra);
    if (!ne_realloc_array(&sc->ts, nc, sizeof *sc->ts) ||
        !ne_realloc_array(&sc->v, nc, sizeof *sc->v))
        return NE_ENOMEM;
    if (sc->ver_on) {
        if (!ne_realloc_array(&sc->ver, nc, sizeof *sc->ver)) return NE_ENOMEM;
        sc->vcap = nc;
    }
    sc->cap = nc;
    return 0;
}

/* Starts gathering versions: the values so far get version 0. */
static int ver_start(struct scan *sc)
{
    if (sc->ver_on) return 0;
    if (sc->vcap < sc->cap) {
        uint64_t *ver = ne_realloc(sc->ver, (sc->cap ? sc->cap : 1) * sizeof *ver);
        if (!ver) return NE_ENOMEM;
        sc->ver = ver;
        sc->vcap = sc->cap;
    }
    if (sc->n) memset(sc->ver, 0, sc->n * sizeof *sc->ver);
    sc->ver_on = true;
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
    int rc = c->ver ? ver_start(sc) : 0;
    if (!rc) rc = grow_vals(sc, c->n);
    for (uint32_t i = 0; !rc && i < c->n; i++) {
        if (c->ts[i] < sc->q->t0 || c->ts[i] > sc->q->t1) continue;
        union eng_val v = c->v[i];
        if (c->type == NE_V_STRING) rc = put_str(sc, eng_mt_str(m, v), &v.u);
        if (sc->ver_on) sc->ver[sc->n] = c->ver ? c->ver[i] : 0;
        sc->ts[sc->n] = c->ts[i];
        sc->v[sc->n++] = v;
    }
    return rc;
}

static int grow_mt(struct scan *sc, uint32_t n)
{
    if (n <= sc->mt_cap) return 0;
    if (!ne_realloc_array(&sc->mt_lo, n, sizeof *sc->mt_lo) ||
        !ne_realloc_array(&sc->mt_hi, n, sizeof *sc->mt_hi) ||
        !ne_realloc_array(&sc->mt_span, n, sizeof *sc->mt_span) ||
        !ne_realloc_array(&sc->fcopy, n, sizeof *sc->fcopy))
        return NE_ENOMEM;
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
    sc->ver_on = false;
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

/* First index of the sorted ts[0..n) that is >= t. */
static uint32_t lower_bound(const int64_t *ts, uint32_t n, int64_t t)
{
    uint32_t lo = 0, hi = n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (ts[mid] < t)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Scratch arrays of n entries (tts, tv for sorting and merging; b, sv for
 * the chunk handed to the callback). */
static int grow_tmp(struct scan *sc, size_t n)
{
    if (sc->tcap >= n) return 0;
    if (!ne_realloc_array(&sc->tts, n, sizeof *sc->tts) ||
        !ne_realloc_array(&sc->tv, n, sizeof *sc->tv) ||
        !ne_realloc_array(&sc->b, n, sizeof *sc->b) ||
        !ne_realloc_array(&sc->sv, n, sizeof *sc->sv))
        return NE_ENOMEM;
    sc->tcap = n;
    return 0;
}

/* Merges blk's slice [i0, i0 + k) into the column when it starts before
 * the column's end (segments of one column overlapping at their edges).
 * Both are strictly ascending; the result is too, and on an equal time
 * the block's value (from a newer segment) replaces the column's. Only
 * the column's tail from the slice's first time on is moved. */
static int merge_slice(struct scan *sc, uint32_t i0, size_t k)
{
    const struct ne_seg_block *b = &sc->blk;
    size_t lo = sc->col_base, hi = sc->n;
    while (lo < hi) { /* the first column index with ts >= the slice's first */
        size_t mid = lo + (hi - lo) / 2;
        if (sc->ts[mid] < b->ts[i0])
            lo = mid + 1;
        else
            hi = mid;
    }
    size_t p = lo, na = sc->n - p;
    int rc = grow_tmp(sc, na);
    if (!rc) rc = grow_vals(sc, k);
    if (rc) return rc;
    memcpy(sc->tts, sc->ts + p, na * sizeof *sc->tts);
    memcpy(sc->tv, sc->v + p, na * sizeof *sc->tv);
    size_t i = 0, j = i0, end = i0 + k, w = p;
    while (i < na && j < end) {
        if (sc->tts[i] < b->ts[j]) {
            sc->ts[w] = sc->tts[i];
            sc->v[w++] = sc->tv[i++];
            continue;
        }
        if (sc->tts[i] == b->ts[j]) i++; /* replaced by the newer value */
        sc->ts[w] = b->ts[j];
        sc->v[w++].u = b->v.u[j++];
    }
    for (; i < na; i++, w++) {
        sc->ts[w] = sc->tts[i];
        sc->v[w] = sc->tv[i];
    }
    for (; j < end; j++, w++) {
        sc->ts[w] = b->ts[j];
        sc->v[w].u = b->v.u[j];
    }
    sc->n = w;
    return 0;
}

/* Appends blk's points [i0, i0 + k) to the column in two copies: double,
 * int64 and uint64 have the bit layout of union eng_val. */
static int copy_slice(struct scan *sc, uint32_t i0, size_t k)
{
    const struct ne_seg_block *b = &sc->blk;
    if (sc->n > sc->col_base && b->ts[i0] <= sc->ts[sc->n - 1]) {
        if (sc->ordered && !sc->ver_on) return merge_slice(sc, i0, k);
        sc->ordered = false;
    }
    int rc = grow_vals(sc, k);
    if (rc) return rc;
    memcpy(sc->ts + sc->n, b->ts + i0, k * sizeof *sc->ts);
    memcpy(sc->v + sc->n, b->v.u + i0, k * sizeof *sc->v);
    if (sc->ver_on) memset(sc->ver + sc->n, 0, k * sizeof *sc->ver); /* unversioned block */
    sc->n += k;
    return 0;
}

/* Copies the pending slice into the column: before blk is reused. */
static int flush_pending(struct scan *sc)
{
    if (!sc->pend) return 0;
    sc->pend = false;
    return copy_slice(sc, sc->pend_i0, sc->pend_n);
}

/* The fast path of append_block: a numeric block without tombstones. Its
 * timestamps are strictly ascending (the segment reader checks), so the
 * in-range part is one slice. The column's first slice is not copied yet:
 * a column made of it alone (one block, no memtable values: the common
 * case once compacted) goes to the callback straight from blk. */
static int append_slice(struct scan *sc)
{
    const struct ne_seg_block *b = &sc->blk;
    uint32_t i0 = b->n && b->ts[0] < sc->q->t0 ? lower_bound(b->ts, b->n, sc->q->t0) : 0;
    uint32_t i1 = b->n && b->ts[b->n - 1] > sc->q->t1 ? lower_bound(b->ts, b->n, sc->q->t1) : b->n;
    if (i1 < b->n && b->ts[i1] == sc->q->t1) i1++; /* t1 is inclusive */
    if (i1 <= i0) return 0;
    if (sc->n == sc->col_base) { /* the column's first values: keep them in blk */
        sc->pend = true;
        sc->pend_i0 = i0;
        sc->pend_n = i1 - i0;
        return 0;
    }
    return copy_slice(sc, i0, i1 - i0);
}

static int append_block(struct scan *sc, uint8_t type, uint64_t seg_id, bool filter)
{
    const struct ne_seg_block *b = &sc->blk;
    /* versioned data takes the general path, which carries versions */
    if (!filter && !b->ver && !sc->ver_on &&
        (type == NE_V_FLOAT || type == NE_V_INT || type == NE_V_UINT))
        return append_slice(sc);
    sc->ordered = false;
    int rc = b->ver ? ver_start(sc) : 0;
    if (!rc) rc = grow_vals(sc, b->n);
    for (uint32_t i = 0; !rc && i < b->n; i++) {
        if (b->ts[i] < sc->q->t0 || b->ts[i] > sc->q->t1) continue;
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
        if (sc->ver_on) sc->ver[sc->n] = b->ver ? b->ver[i] : 0;
        sc->ts[sc->n] = b->ts[i];
        sc->v[sc->n++] = v;
    }
    return rc;
}

/* Reads the segment part of one column into ts/v (after the memtable
 * copies, which are then moved behind it). */
static int read_segments(struct scan *sc, const struct eng_field *ef, struct span mt)
{
    int64_t col_lo[sc->nsegs ? sc->nsegs : 1], col_hi[sc->nsegs ? sc->nsegs : 1];
    uint32_t col_idx[sc->nsegs ? sc->nsegs : 1];
    for (size_t i = 0; i < sc->nsegs; i++) {
        col_lo[i] = INT64_MAX;
        col_hi[i] = INT64_MIN;
        if (ne_seg_find_col(sc->segs[i]->r, sc->info.id, ef->name, &col_idx[i]) == 0) {
            const struct ne_seg_col *c = ne_seg_col(sc->segs[i]->r, col_idx[i]);
            if (c->key.type == ef->type) {
                col_lo[i] = c->min_ts;
                col_hi[i] = c->max_ts;
                continue;
            }
        }
        col_idx[i] = UINT32_MAX;
    }
    for (size_t i = 0; i < sc->nsegs; i++) {
        if (col_idx[i] == UINT32_MAX) continue;
        const struct ne_seg *r = sc->segs[i]->r;
        uint64_t seg_id = sc->segs[i]->id;
        uint32_t b0, b1;
        ne_seg_blocks_in_range(r, col_idx[i], sc->q->t0, sc->q->t1, &b0, &b1);
        for (uint32_t b = b0; b < b1; b++) {
            const struct ne_seg_blockref *br = ne_seg_block(r, col_idx[i], b);
            int cover = sc->ntr ? tomb_cover(sc, seg_id, br->stats.min_ts, br->stats.max_ts) : 0;
            if (cover == 2) continue; /* deleted */
            if (sc->bfn && !cover && br->stats.min_ts >= sc->q->t0 && br->stats.max_ts <= sc->q->t1 &&
                !overlaps_other(sc, i, col_lo, col_hi, mt, br->stats.min_ts, br->stats.max_ts)) {
                struct ne_block_stats st;
                struct ne_scan_block sb = {&sc->info, ef->name.p, ef->type, &st};
                int rc = ne_seg_block_stats(r, col_idx[i], b, &st);
                if (!rc) rc = sc->bfn(sc->ctx, &sb);
                if (rc < 0) return rc;
                if (rc > 0) continue; /* the statistics were used */
                /* declined: decode the block like any other */
            }
            int rc = flush_pending(sc); /* blk is about to be reused */
            if (!rc) rc = ne_seg_block_read(r, col_idx[i], b, &sc->blk);
            if (!rc) rc = append_block(sc, ef->type, seg_id, cover != 0);
            if (rc) {
                if (rc < 0)
                    ne_log(NE_LOG_ERROR, ENG_MOD, "segment block unreadable", "path",
                           ne_seg_path_of(r), "err", ne_strerror(rc), NULL);
                return rc;
            }
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
    uint64_t *ver = sc->ver_on ? sc->ver + from : NULL;
    if (!sc->ordered)
        n = ver ? eng_sort_dedup_v(ts, v, ver, n, ef->type, sc->strs)
                : eng_sort_dedup(ts, v, n, sc->tts, sc->tv);
    struct ne_scan_chunk c = {
        .series = &sc->info, .field = ef->name.p, .type = ef->type, .n = n, .ts = ts, .ver = ver};
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

/* A column that is one slice of the block in blk: handed over in place. */
static int emit_block(struct scan *sc, const struct eng_field *ef)
{
    const struct ne_seg_block *b = &sc->blk;
    sc->pend = false;
    struct ne_scan_chunk c = {.series = &sc->info, .field = ef->name.p, .type = ef->type,
                              .n = sc->pend_n, .ts = b->ts + sc->pend_i0};
    c.v.u = b->v.u + sc->pend_i0; /* float, int or uint: same layout */
    return sc->fn ? sc->fn(sc->ctx, &c) : 0;
}

/* One column: segment values, then the memtable copy (newest last). */
static int scan_column(struct scan *sc, uint32_t f)
{
    size_t mt_n = sc->mt_hi[f] - sc->mt_lo[f];
    size_t base = sc->mt_end; /* after all memtable copies */
    sc->n = base;
    sc->col_base = base;
    sc->ordered = true;
    sc->pend = false;
    int rc = read_segments(sc, &sc->fcopy[f], sc->mt_span[f]);
    if (!rc && sc->pend && !mt_n) return emit_block(sc, &sc->fcopy[f]);
    if (!rc) rc = flush_pending(sc);
    if (!rc) rc = grow_vals(sc, mt_n);
    if (rc) return rc;
    if (mt_n) {
        sc->ordered = false; /* memtable values may overlap: sort and dedup */
        memcpy(sc->ts + sc->n, sc->ts + sc->mt_lo[f], mt_n * sizeof *sc->ts);
        memcpy(sc->v + sc->n, sc->v + sc->mt_lo[f], mt_n * sizeof *sc->v);
        if (sc->ver_on) memcpy(sc->ver + sc->n, sc->ver + sc->mt_lo[f], mt_n * sizeof *sc->ver);
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
    ne_free(sc.ver);
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

int ne_store_tag_value_views(struct ne_store *s, const char *db, const char *measurement,
                             const char *key, struct ne_sv **vals, size_t *n, size_t *cap)
{
    struct ne_sv m = {measurement, (uint32_t)strlen(measurement)};
    struct ne_sv k = {key, (uint32_t)strlen(key)};
    pthread_mutex_lock(&s->mu);
    uint32_t d;
    int rc = eng_index_db_find(s->ix, db, &d);
    if (!rc) rc = eng_index_tag_values(s->ix, d, m, k, vals, n, cap);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int ne_store_tag_key_views(struct ne_store *s, const char *db, const char *measurement,
                           struct ne_sv **keys, size_t *n, size_t *cap)
{
    struct ne_sv m = {measurement, (uint32_t)strlen(measurement)};
    pthread_mutex_lock(&s->mu);
    uint32_t d;
    int rc = eng_index_db_find(s->ix, db, &d);
    if (!rc) rc = eng_index_tag_keys(s->ix, d, m, keys, n, cap);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int ne_store_tag_values(struct ne_store *s, const char *db, const char *measurement,
                        const char *key, ne_store_name_fn fn, void *ctx)
{
    struct ne_sv *v = NULL;
    size_t n = 0, cap = 0;
    int rc = ne_store_tag_value_views(s, db, measurement, key, &v, &n, &cap);
    for (size_t i = 0; !rc && i < n; i++)
        rc = fn(ctx, v[i].p); /* index views are NUL-terminated */
    ne_free(v);
    return rc;
}

int ne_store_field_keys(struct ne_store *s, const char *db, const char *measurement,
                        ne_store_field_fn fn, void *ctx)
{
    struct names nm = {0};
    pthread_mutex_lock(&s->mu);
    const struct eng_meas *m;
    int rc = find_meas(s, db, measurement, &m);
    const struct eng_series *prev = NULL; /* the last live series */
    for (uint64_t i = 0; !rc && i < m->nseries; i++) {
        const struct eng_series *se = m->series[i];
        if (se->dead) continue;
        for (uint32_t f = 0; !rc && f < se->nfields; f++) {
            /* series of a measurement mostly list the same fields in the
             * same order: one compare then spares the hash lookup */
            if (prev && f < prev->nfields &&
                strcmp(prev->fields[f].name.p, se->fields[f].name.p) == 0)
                continue;
            rc = names_add_new(&nm, se->fields[f].name.p, se->fields[f].type);
        }
        prev = se;
    }
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
