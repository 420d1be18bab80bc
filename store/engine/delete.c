/*
 * delete.c - deletion: DROP DATABASE, DROP MEASUREMENT and DELETE
 * (ne_store_drop_database, ne_store_drop_measurement, ne_store_delete),
 * and the rules by which reads and compaction leave deleted points out.
 *
 * A deletion, start to end:
 *   1. it pauses writes (s->deleting: ne_store_write waits) and flushes
 *      the memtables, so every point written before it is in a segment and
 *      has a WAL sequence number below seq, the next one the WAL gives;
 *      writes after it get seq or higher and go to segments whose ids are
 *      >= seg_limit (s->next_seg_id at that moment);
 *   2. under store.mu it resolves what goes: a database, a measurement, or
 *      the series a filter picks. A series whose every point lies in the
 *      deleted time range (judged by block time ranges) dies like the
 *      series of a dropped measurement; the others keep a tombstone for
 *      [t0, t1];
 *   3. it appends one DELETE record (format in series.c) to the series log
 *      and fdatasyncs it; nothing changes in memory before that, and the
 *      call returns only after it. No merge starts meanwhile (its output
 *      would get an id >= seg_limit without having dropped the points);
 *   4. it applies the record to the index (dead series, dropped database,
 *      tombstone), removes the synced segments that hold nothing else, and
 *      marks the others for purging.
 *
 * Why no deleted point comes back, even after a crash:
 *   - WAL replay never applies a record older than the delete: they were
 *     all flushed, and open raises flushed_seq to seq - 1 whatever the
 *     CHECKPOINT says;
 *   - a dead series only has points written before its death: a later
 *     write of its key creates a new series (new id);
 *   - a tombstone applies to segments with id < seg_limit; every segment
 *     made after the delete holds newer writes (a flush) or was purged of
 *     it (a merge drops the points of every tombstone that applies to its
 *     inputs), and open raises next_seg_id to seg_limit so no later
 *     segment falls below it.
 * Tombstones and death marks are durable in the series log; a tombstone
 * leaves memory (is "retired") once no segment below its limit holds
 * points in its range, and is retired again at the next open.
 *
 * Reads (scan.c) skip dead series, skip blocks a tombstone covers, and
 * decode and filter blocks one meets (their statistics are never used).
 * Compaction (compact.c) drops dead series' columns and tombstoned points
 * whenever it merges, and rewrites a synced segment marked purge on its
 * own. Segments not yet delivered to every sink (hold_for_sync) are
 * delivered as they were sealed: they are neither removed nor rewritten
 * until synced, and reads filter them meanwhile.
 */
#include <stdlib.h>
#include <string.h>

#include "ports/log.h"
#include "ports/platform.h"
#include "store/engine/store_int.h"

/* ---- what a segment holds of deleted data ----------------------------------------- */

static bool tomb_meets_col(const struct eng_tomb *t, const struct ne_seg *r, uint32_t col)
{
    uint32_t b0, b1;
    ne_seg_blocks_in_range(r, col, t->t0, t->t1, &b0, &b1);
    return b0 < b1;
}

/* How much of column col of g is deleted: 0 nothing, 1 some, 2 all. */
static int col_deleted(const struct ne_store *s, const struct eng_seg *g, uint32_t col)
{
    const struct ne_seg_col *c = ne_seg_col(g->r, col);
    const struct eng_series *se = eng_index_series_by_id(s->ix, c->key.series_id);
    if (se && se->dead) return 2;
    int r = 0;
    for (size_t i = 0; i < eng_index_ntombs(s->ix); i++) {
        const struct eng_tomb *t = eng_index_tomb_at(s->ix, i);
        if (g->id >= t->seg_limit || t->t0 > c->max_ts || c->min_ts > t->t1 ||
            !eng_tomb_has(t, c->key.series_id))
            continue;
        if (t->t0 <= c->min_ts && c->max_ts <= t->t1) return 2;
        if (tomb_meets_col(t, g->r, col)) r = 1;
    }
    return r;
}

bool eng_del_mark(struct ne_store *s, struct eng_seg *g)
{
    g->purge = false;
    if (!eng_index_ndead(s->ix) && !eng_index_ntombs(s->ix)) return false;
    uint32_t ncols = ne_seg_info(g->r)->ncols;
    bool all = ncols > 0;
    for (uint32_t i = 0; i < ncols; i++) {
        int d = col_deleted(s, g, i);
        g->purge |= d != 0;
        all &= d == 2;
    }
    return all;
}

int eng_del_ranges_of(const struct ne_store *s, uint64_t id, struct eng_trange **v, size_t *n,
                      size_t *cap)
{
    for (size_t i = 0; i < eng_index_ntombs(s->ix); i++) {
        const struct eng_tomb *t = eng_index_tomb_at(s->ix, i);
        if (!eng_tomb_has(t, id)) continue;
        if (*n == *cap) {
            size_t nc = *cap ? *cap * 2 : 8;
            struct eng_trange *p = ne_realloc(*v, nc * sizeof *p);
            if (!p) return NE_ENOMEM;
            *v = p;
            *cap = nc;
        }
        (*v)[(*n)++] = (struct eng_trange){t->seg_limit, t->t0, t->t1};
    }
    return 0;
}

/* True if some point of g may lie in t's range. */
static bool tomb_touches(const struct eng_tomb *t, const struct eng_seg *g)
{
    if (g->id >= t->seg_limit || t->t0 > g->max_ts || g->min_ts > t->t1) return false;
    for (size_t i = 0; i < t->nids; i++) {
        uint32_t first, count;
        if (ne_seg_find_series(g->r, t->ids[i], &first, &count)) continue;
        for (uint32_t c = first; c < first + count; c++)
            if (tomb_meets_col(t, g->r, c)) return true;
    }
    return false;
}

void eng_del_retire(struct ne_store *s)
{
    for (size_t i = 0; i < eng_index_ntombs(s->ix);) {
        const struct eng_tomb *t = eng_index_tomb_at(s->ix, i);
        bool needed = false;
        for (size_t k = 0; k < s->nsegs && !needed; k++)
            needed = tomb_touches(t, s->segs[k]);
        if (needed)
            i++;
        else
            eng_index_retire_tomb(s->ix, i);
    }
}

int eng_del_purge_step(struct ne_store *s, bool *did)
{
    *did = false;
    if (s->compacting || s->deleting) return 0; /* see compact.c: compact_step */
    for (size_t i = 0; i < s->nsegs; i++) {
        struct eng_seg *g = s->segs[i];
        if (!g->purge || !eng_seg_synced(s, g)) continue;
        bool all = eng_del_mark(s, g); /* tombstones may have changed since */
        if (!g->purge) continue;
        *did = true;
        if (all && g->refs == 1) {
            eng_seg_drop(s, i);
            eng_del_retire(s);
            eng_update_gauges(s);
            return 0;
        }
        return eng_merge_run(s, i, i + 1);
    }
    return 0;
}

void eng_del_open(struct ne_store *s)
{
    uint64_t max_seq, max_limit;
    eng_index_del_marks(s->ix, &max_seq, &max_limit);
    if (max_seq && s->flushed_seq < max_seq - 1) s->flushed_seq = max_seq - 1;
    if (s->next_seg_id < max_limit) s->next_seg_id = max_limit;
    for (size_t i = 0; i < s->nsegs; i++)
        (void)eng_del_mark(s, s->segs[i]);
    eng_del_retire(s);
}

/* ---- compaction ------------------------------------------------------------------- */

static bool dm_keep_col(void *ctx, const struct ne_seg_colkey *key, const char *db_name)
{
    struct eng_del_merge *dm = ctx;
    (void)db_name;
    pthread_mutex_lock(&dm->s->mu);
    const struct eng_series *se = eng_index_series_by_id(dm->s->ix, key->series_id);
    bool keep = !se || !se->dead;
    pthread_mutex_unlock(&dm->s->mu);
    return keep;
}

static size_t dm_drop_ranges(void *ctx, size_t input, const struct ne_seg_colkey *key,
                             struct ne_seg_trange *out, size_t cap)
{
    const struct eng_del_merge *dm = ctx;
    size_t n = 0;
    for (size_t i = 0; i < dm->ntombs; i++) {
        const struct eng_tomb *t = dm->tombs[i];
        if (dm->in[input]->id >= t->seg_limit || !eng_tomb_has(t, key->series_id)) continue;
        if (n < cap) out[n] = (struct ne_seg_trange){t->t0, t->t1};
        n++;
    }
    return n;
}

int eng_del_merge_init(struct eng_del_merge *dm, struct ne_store *s, struct eng_seg **in, size_t n,
                       struct ne_seg_merge_opts *mo)
{
    *dm = (struct eng_del_merge){.s = s, .in = in, .n = n};
    size_t nt = eng_index_ntombs(s->ix);
    if (!eng_index_ndead(s->ix) && !nt) return 0;
    if (nt) {
        dm->tombs = ne_malloc(nt * sizeof *dm->tombs);
        if (!dm->tombs) return NE_ENOMEM;
        for (size_t i = 0; i < nt; i++) {
            dm->tombs[i] = eng_index_tomb_at(s->ix, i);
            dm->tombs[i]->refs++;
        }
        dm->ntombs = nt;
    }
    mo->keep_col = dm_keep_col;
    mo->drop_ranges = dm_drop_ranges;
    mo->ctx = dm;
    return 0;
}

void eng_del_merge_free(struct eng_del_merge *dm)
{
    for (size_t i = 0; i < dm->ntombs; i++)
        eng_tomb_unref(dm->tombs[i]);
    ne_free(dm->tombs);
    dm->tombs = NULL;
    dm->ntombs = 0;
}

/* ---- resolving a deletion ------------------------------------------------------------ */

struct del_req {
    enum eng_del_what what;
    const char *db, *meas; /* meas: NULL for every measurement (series) */
    ne_store_filter_fn filter;
    void *filter_ctx;
    int64_t t0, t1;
};

/* The record to log and apply, with the id lists it owns. */
struct del_plan {
    struct eng_del d;
    uint64_t *dead, *range;
    size_t cap_dead, cap_range;
    bool nothing; /* no series matched: nothing to log */
};

static int push_id(uint64_t **v, size_t *n, size_t *cap, uint64_t id)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        uint64_t *p = ne_realloc(*v, nc * sizeof *p);
        if (!p) return NE_ENOMEM;
        *v = p;
        *cap = nc;
    }
    (*v)[(*n)++] = id;
    return 0;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* True if [lo, hi] lies inside [t0, t1] or in a tombstone of series id
 * that applies to segment g. */
static bool span_deleted(const struct ne_store *s, const struct eng_seg *g, uint64_t id, int64_t lo,
                         int64_t hi, int64_t t0, int64_t t1)
{
    if (t0 <= lo && hi <= t1) return true;
    for (size_t i = 0; i < eng_index_ntombs(s->ix); i++) {
        const struct eng_tomb *t = eng_index_tomb_at(s->ix, i);
        if (g->id < t->seg_limit && t->t0 <= lo && hi <= t->t1 && eng_tomb_has(t, id)) return true;
    }
    return false;
}

/* True if deleting [t0, t1] leaves series se no point: every block of its
 * columns lies in that range or in one of its tombstones. The memtables
 * are empty here (the delete flushed them); a column still there counts
 * as a point left. */
static bool series_emptied(const struct ne_store *s, const struct eng_series *se, int64_t t0,
                           int64_t t1)
{
    if (t0 == INT64_MIN && t1 == INT64_MAX) return true;
    const struct eng_memtable *mts[2] = {s->sealed, s->active};
    for (int k = 0; k < 2; k++)
        for (uint32_t f = 0; mts[k] && f < se->nfields; f++) {
            const struct eng_mcol *c = eng_mt_find(mts[k], se, f);
            if (c && c->n) return false;
        }
    for (size_t i = 0; i < s->nsegs; i++) {
        const struct eng_seg *g = s->segs[i];
        uint32_t first, count;
        if (ne_seg_find_series(g->r, se->id, &first, &count)) continue;
        for (uint32_t c = first; c < first + count; c++) {
            uint32_t nb = ne_seg_col(g->r, c)->nblocks;
            for (uint32_t b = 0; b < nb; b++) {
                const struct ne_seg_bspan *st = &ne_seg_block(g->r, c, b)->stats;
                if (!span_deleted(s, g, se->id, st->min_ts, st->max_ts, t0, t1)) return false;
            }
        }
    }
    return true;
}

static int plan_series(struct ne_store *s, const struct del_req *q, const struct eng_meas *m,
                       struct del_plan *p)
{
    int rc = 0;
    const char *dbname = eng_index_db_at(s->ix, m->db)->name;
    for (uint64_t i = 0; !rc && i < m->nseries; i++) {
        const struct eng_series *se = m->series[i];
        if (se->dead) continue;
        struct ne_series_info in = {se->id, dbname, se->meas_name.p, se->tags, se->ntags};
        if (q->filter && !q->filter(q->filter_ctx, &in)) continue;
        if (series_emptied(s, se, q->t0, q->t1))
            rc = push_id(&p->dead, &p->d.ndead, &p->cap_dead, se->id);
        else
            rc = push_id(&p->range, &p->d.nrange, &p->cap_range, se->id);
    }
    return rc;
}

/* Resolves q into p under store.mu. NE_ENOTFOUND for a missing database
 * (or measurement, for DROP MEASUREMENT). */
static int del_plan(struct ne_store *s, const struct del_req *q, struct del_plan *p)
{
    uint32_t db;
    int rc = eng_index_db_find(s->ix, q->db, &db);
    if (rc) return rc;
    p->d.what = q->what;
    p->d.db = db;
    if (q->what == ENG_DEL_DB) return 0;
    const struct eng_meas *m = NULL;
    if (q->meas) {
        rc = eng_index_meas_find(s->ix, db, q->meas, &m);
        if (rc || !m->nlive) {
            p->nothing = true;
            return q->what == ENG_DEL_MEAS ? NE_ENOTFOUND : 0;
        }
    }
    if (q->what == ENG_DEL_MEAS) {
        p->d.meas = (struct ne_sv){m->name, m->len};
        return 0;
    }
    p->d.t0 = q->t0;
    p->d.t1 = q->t1;
    if (m) {
        rc = plan_series(s, q, m, p);
    } else {
        for (uint32_t i = 0; !rc && i < eng_index_nmeas(s->ix); i++) {
            const struct eng_meas *mi = eng_index_meas_at(s->ix, i);
            if (mi->db == db && mi->nlive) rc = plan_series(s, q, mi, p);
        }
    }
    if (rc) return rc;
    if (p->d.ndead) qsort(p->dead, p->d.ndead, sizeof *p->dead, cmp_u64);
    if (p->d.nrange) qsort(p->range, p->d.nrange, sizeof *p->range, cmp_u64);
    p->d.dead = p->dead;
    p->d.range = p->range;
    p->nothing = !p->d.ndead && !p->d.nrange;
    return 0;
}

/* ---- running one ----------------------------------------------------------------------- */

/* After the record is durable: the index, the segments. mu held. */
static int del_apply(struct ne_store *s, const struct eng_del *d)
{
    int rc = eng_index_apply_del(s->ix, d);
    if (rc) {
        /* durable but not applied: reads show the data until the store
         * reopens and applies the log */
        ne_log(NE_LOG_ERROR, ENG_MOD, "delete logged but not applied in memory", "err",
               ne_strerror(rc), NULL);
        return rc;
    }
    s->del_gen++;
    for (size_t i = 0; i < s->nsegs;) {
        struct eng_seg *g = s->segs[i];
        bool all = eng_del_mark(s, g);
        if (all && eng_seg_synced(s, g) && g->refs == 1)
            eng_seg_drop(s, i); /* holds only deleted data */
        else
            i++;
    }
    eng_del_retire(s);
    eng_update_gauges(s);
    pthread_cond_broadcast(&s->cv); /* the compactor purges the rest */
    return 0;
}

static uint64_t next_seq(const struct ne_store *s)
{
    return s->wal ? eng_wal_next_seq(s->wal) : s->next_seq;
}

/* Logs and applies plan p; mu held on entry and exit (released for the
 * log write). The series log has one writer at a time: s->flushing is
 * held while it writes. */
static int del_commit(struct ne_store *s, struct del_plan *p)
{
    while (s->flushing)
        pthread_cond_wait(&s->cv, &s->mu);
    p->d.seq = next_seq(s);
    p->d.seg_limit = s->next_seg_id;
    struct ne_buf rec = NE_BUF_INIT;
    eng_index_take_pending(s->ix, &rec); /* records older than the delete go first */
    size_t pending = rec.len;
    int rc = eng_index_encode_del(&p->d, &rec);
    if (!rc) {
        s->flushing = true;
        pthread_mutex_unlock(&s->mu);
        rc = eng_index_write_pending(s->ix, &rec);
        pthread_mutex_lock(&s->mu);
        s->flushing = false;
    }
    if (rc) {
        rec.len = pending; /* the delete record is not kept for a retry */
        eng_index_restore_pending(s->ix, &rec);
    } else {
        rc = del_apply(s, &p->d);
    }
    ne_buf_free(&rec);
    return rc;
}

static int del_run(struct ne_store *s, const struct del_req *q)
{
    if (!s || !q->db || !*q->db || q->t0 > q->t1) return NE_EINVAL;
    pthread_mutex_lock(&s->mu);
    while (s->deleting)
        pthread_cond_wait(&s->cv, &s->mu);
    if (atomic_load(&s->state) != ENG_OK) {
        pthread_mutex_unlock(&s->mu);
        return NE_EFAILED;
    }
    s->deleting = true;
    pthread_mutex_unlock(&s->mu);

    int rc = ne_store_flush(s); /* every earlier write into a segment */
    struct del_plan p = {0};
    pthread_mutex_lock(&s->mu);
    if (!rc) rc = del_plan(s, q, &p);
    if (!rc && !p.nothing) rc = del_commit(s, &p);
    s->deleting = false;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    eng_reap(s);
    ne_free(p.dead);
    ne_free(p.range);
    if (rc && rc != NE_ENOTFOUND)
        ne_log(NE_LOG_ERROR, ENG_MOD, "delete failed", "db", q->db, "err", ne_strerror(rc), NULL);
    return rc;
}

int ne_store_drop_database(struct ne_store *s, const char *db)
{
    struct del_req q = {.what = ENG_DEL_DB, .db = db, .t0 = INT64_MIN, .t1 = INT64_MAX};
    return del_run(s, &q);
}

int ne_store_drop_measurement(struct ne_store *s, const char *db, const char *measurement)
{
    if (!measurement || !*measurement) return NE_EINVAL;
    struct del_req q = {
        .what = ENG_DEL_MEAS, .db = db, .meas = measurement, .t0 = INT64_MIN, .t1 = INT64_MAX};
    return del_run(s, &q);
}

int ne_store_delete(struct ne_store *s, const struct ne_store_delete_req *r)
{
    if (!r) return NE_EINVAL;
    struct del_req q = {.what = ENG_DEL_SERIES,
                        .db = r->db,
                        .meas = r->measurement,
                        .filter = r->filter,
                        .filter_ctx = r->filter_ctx,
                        .t0 = r->t0,
                        .t1 = r->t1};
    return del_run(s, &q);
}
