/*
 * segment_merge.c - the compaction primitive: merges segments into one.
 *
 * Inputs are ordered oldest to newest. Columns are visited in key order by
 * walking every input's sorted column list at once; within a column the
 * inputs' points are merged by timestamp, and on equal timestamps the
 * value with the greatest version wins (versioned columns; an unversioned
 * point counts as version 0), by the rule of store/lww.h: equal nonzero
 * versions go to the larger value, unversioned ties to the newest input
 * (last write wins). Memory is bounded: one
 * decoded block per input, one staging block, the writer's partial block
 * and the output index. The output goes through ne_segw, so it is
 * published atomically or not at all; the inputs are never modified.
 *
 * Blocks are decoded lazily: a cursor standing at the start of a block
 * knows its first timestamp from the index. A full block (block_points
 * points) that lies entirely before every other input's next point and
 * needs no retention cut is copied verbatim, CRC checked, without decoding
 * or re-encoding: merging large segments with disjoint or run-wise
 * interleaved time ranges then costs little more than a file copy.
 * With a time grid (align_ns), so is a block the grid closed: at least
 * align_min points, the writer's own partial block (if any) closed by
 * the grid before it, and the column's next point in every input (the
 * block after it in its own input, the other inputs' next points) in a
 * later grid cell than its last point, or no next point at all. The
 * writer would have cut the same points into one block there too, so the
 * output keeps one block per cell: data imported in time order is then
 * re-encoded only while its cell is still being filled, not in every
 * later merge.
 *
 * Each input is read through a read-ahead window (seg__ra): columns are
 * merged in key order, which is every input's file order, so one read
 * serves many small blocks.
 *
 * Dropped points (before keep_min_ts, or in an input column's drop
 * ranges): a block that meets a drop range is decoded as soon as the
 * cursor enters it ("touched"), so a cursor that is not loaded always
 * stands on a block whose points are all kept; a loaded cursor's position
 * never rests on a dropped point.
 */
#include <inttypes.h>
#include <string.h>

#include "ports/crc32c.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "store/lww.h"
#include "store/segment/seg_internal.h"

static const char MOD[] = "segment";

/* One input's position in the column being merged. */
struct cursor {
    const struct ne_seg *seg;
    uint32_t col;
    uint32_t cur;          /* current block */
    uint32_t blk, blk_end; /* next block, end of the range */
    uint32_t pos;          /* next point in the current block */
    bool active;
    bool loaded;           /* b holds the current block (else pos == 0) */
    bool touched;          /* the current block meets a drop range */
    struct ne_seg_trange *drop; /* this input column's drop ranges */
    size_t ndrop, cap_drop;
    struct ne_seg_block b;
    struct seg__ra ra; /* read-ahead over this input's blocks */
};

struct merge {
    struct ne_seg *const *in;
    size_t n;
    const struct ne_seg_merge_opts *o;
    uint32_t *ci;         /* per input: current column index */
    uint32_t **dbmap;     /* per input: its db index -> output db index */
    const char **dbs;     /* output db names (borrowed from the inputs) */
    uint32_t ndbs;
    struct cursor *cur;   /* per input */
    struct ne_segw *w;
    /* staging: points chosen but not yet given to the writer */
    int64_t *sts;
    uint8_t *svals;
    uint64_t *sver;       /* staged versions (versioned output column) */
    bool versioned;       /* the output column is */
    uint32_t sn, cap;
    size_t vsize;
};

void ne_seg_merge_opts_default(struct ne_seg_merge_opts *o)
{
    memset(o, 0, sizeof *o);
    o->keep_min_ts = INT64_MIN;
}

/* ---- databases ---------------------------------------------------------------- */

static uint32_t db_index(struct merge *m, const char *name)
{
    for (uint32_t i = 0; i < m->ndbs; i++)
        if (strcmp(m->dbs[i], name) == 0)
            return i;
    m->dbs[m->ndbs] = name;
    return m->ndbs++;
}

/* Builds the union of the inputs' database names and each input's map. */
static int map_dbs(struct merge *m)
{
    size_t total = 1;
    bool unnamed = false;
    for (size_t k = 0; k < m->n; k++) {
        total += ne_seg_info(m->in[k])->ndbs;
        unnamed |= ne_seg_info(m->in[k])->ndbs == 0 && ne_seg_info(m->in[k])->ncols > 0;
    }
    m->dbs = ne_calloc(total, sizeof *m->dbs);
    m->dbmap = ne_calloc(m->n, sizeof *m->dbmap);
    if (!m->dbs || !m->dbmap)
        return NE_ENOMEM;
    for (size_t k = 0; k < m->n; k++) {
        uint32_t nd = ne_seg_info(m->in[k])->ndbs;
        m->dbmap[k] = ne_calloc(nd ? nd : 1, sizeof(uint32_t));
        if (!m->dbmap[k])
            return NE_ENOMEM;
        for (uint32_t i = 0; i < nd; i++)
            m->dbmap[k][i] = db_index(m, ne_seg_db_name(m->in[k], i));
    }
    if (unnamed && m->ndbs > 0) { /* unnamed columns next to named ones */
        uint32_t e = db_index(m, "");
        for (size_t k = 0; k < m->n; k++)
            if (ne_seg_info(m->in[k])->ndbs == 0)
                m->dbmap[k][0] = e;
    }
    return 0;
}

static void wal_union(struct ne_seg *const *in, size_t n, uint64_t *lo, uint64_t *hi)
{
    bool any = false;
    *lo = *hi = 0;
    for (size_t k = 0; k < n; k++) {
        const struct ne_seg_info *i = ne_seg_info(in[k]);
        if (i->wal_seq_min == 0 && i->wal_seq_max == 0)
            continue; /* no WAL range recorded */
        if (!any || i->wal_seq_min < *lo)
            *lo = i->wal_seq_min;
        if (!any || i->wal_seq_max > *hi)
            *hi = i->wal_seq_max;
        any = true;
    }
}

/* ---- one column ------------------------------------------------------------------ */

static int stage_flush(struct merge *m)
{
    if (m->sn == 0)
        return 0;
    int rc = ne_segw_append_v(m->w, m->sts, m->svals, m->sver, m->sn);
    m->sn = 0;
    return rc;
}

static const struct ne_seg_bspan *cur_stats(const struct cursor *c)
{
    return &ne_seg_block(c->seg, c->col, c->cur)->stats;
}

/* The cursor's next timestamp (from the index while not loaded). */
static int64_t cur_ts(const struct cursor *c)
{
    return c->loaded ? c->b.ts[c->pos] : cur_stats(c)->min_ts;
}

/* True if the point at ts is dropped (retention cut or a drop range). */
static bool dropped(const struct merge *m, const struct cursor *c, int64_t ts)
{
    if (ts < m->o->keep_min_ts)
        return true;
    for (size_t i = 0; i < c->ndrop; i++)
        if (ts >= c->drop[i].t0 && ts <= c->drop[i].t1)
            return true;
    return false;
}

/* How the drop ranges meet [lo, hi]: 0 not at all, 1 in part, 2 one range
 * holds all of it. */
static int drop_meets(const struct cursor *c, int64_t lo, int64_t hi)
{
    int r = 0;
    for (size_t i = 0; i < c->ndrop; i++) {
        if (c->drop[i].t0 <= lo && hi <= c->drop[i].t1)
            return 2;
        if (c->drop[i].t0 <= hi && lo <= c->drop[i].t1)
            r = 1;
    }
    return r;
}

/* Moves pos past dropped points of a touched block. */
static void skip_dropped(const struct merge *m, struct cursor *c)
{
    if (!c->touched)
        return;
    while (c->pos < c->b.n && dropped(m, c, c->b.ts[c->pos]))
        c->pos++;
}

/* Decodes the current block and skips points before keep_min_ts (and in
 * drop ranges). Returns 0 with c->pos < c->b.n, or 0 with nothing left in
 * the block. */
static int cursor_load(struct merge *m, struct cursor *c)
{
    int rc = stage_flush(m); /* staged string views may point into c->b */
    if (!rc)
        rc = seg__block_read_ra(c->seg, &c->ra, c->col, c->cur, &c->b);
    if (rc)
        return rc;
    c->loaded = true;
    c->pos = 0;
    while (c->pos < c->b.n && c->b.ts[c->pos] < m->o->keep_min_ts)
        c->pos++;
    skip_dropped(m, c);
    return 0;
}

/* Moves to the next block in range that holds points to keep; deactivates
 * the cursor when its range is done. Blocks wholly kept stay undecoded;
 * blocks wholly dropped are skipped undecoded. */
static int cursor_next_block(struct merge *m, struct cursor *c)
{
    while (c->blk < c->blk_end) {
        c->cur = c->blk++;
        c->loaded = false;
        c->pos = 0;
        const struct ne_seg_bspan *st = cur_stats(c);
        int meets = drop_meets(c, st->min_ts, st->max_ts);
        if (meets == 2)
            continue;
        c->touched = meets == 1;
        if (st->min_ts >= m->o->keep_min_ts && !c->touched)
            return 0;
        int rc = cursor_load(m, c); /* a retention cut or a drop: decode to skip */
        if (rc || c->pos < c->b.n)
            return rc;
    }
    c->active = false;
    return 0;
}

/* Fills the cursor's drop ranges for input k's column key. */
static int cursor_drops(struct merge *m, struct cursor *c, size_t k,
                        const struct ne_seg_colkey *key)
{
    c->ndrop = 0;
    c->touched = false;
    if (!m->o->drop_ranges)
        return 0;
    size_t n = m->o->drop_ranges(m->o->ctx, k, key, c->drop, c->cap_drop);
    if (n > c->cap_drop) {
        struct ne_seg_trange *v = ne_realloc(c->drop, n * sizeof *v);
        if (!v)
            return NE_ENOMEM;
        c->drop = v;
        c->cap_drop = n;
        n = m->o->drop_ranges(m->o->ctx, k, key, c->drop, c->cap_drop);
        if (n > c->cap_drop)
            return NE_EINVAL;
    }
    c->ndrop = n;
    return 0;
}

static int cursor_start(struct merge *m, struct cursor *c, const struct ne_seg *seg, uint32_t col)
{
    c->seg = seg;
    c->col = col;
    c->active = true;
    ne_seg_blocks_in_range(seg, col, m->o->keep_min_ts, INT64_MAX, &c->blk, &c->blk_end);
    return cursor_next_block(m, c);
}

static int ensure_loaded(struct merge *m, struct cursor *c)
{
    return c->loaded ? 0 : cursor_load(m, c);
}

static int cursor_advance(struct merge *m, struct cursor *c)
{
    int rc = ensure_loaded(m, c);
    if (rc)
        return rc;
    c->pos++;
    skip_dropped(m, c);
    if (c->pos < c->b.n)
        return 0;
    return cursor_next_block(m, c);
}

/* End of the run of kept points starting at c->pos, at most end. */
static uint32_t kept_run_end(const struct merge *m, const struct cursor *c, uint32_t end)
{
    if (!c->touched)
        return end;
    uint32_t j = c->pos + 1;
    while (j < end && !dropped(m, c, c->b.ts[j]))
        j++;
    return j;
}

static const uint8_t *value_at(const struct merge *m, const struct cursor *c, uint32_t i)
{
    return (const uint8_t *)c->b.v.f + (size_t)i * m->vsize;
}

/* The grid cell of t: floor(t / g), times before the epoch included (the
 * writer's rule). */
static int64_t grid_cell(int64_t t, int64_t g)
{
    int64_t q = t / g;
    return (t % g != 0 && t < 0) ? q - 1 : q;
}

/* True if the grid closes the cursor's current block st in the output
 * (see the header; the writer's state is checked by writer_closes).
 * Anything not yet known to lie in a later cell (a dropped block after it
 * included) keeps the block from being copied. */
static bool grid_closed(const struct merge *m, const struct cursor *c,
                        const struct ne_seg_bspan *st, bool has_limit, int64_t limit)
{
    int64_t g = m->o->align_ns;
    if (g <= 0 || st->count < m->o->align_min || st->count > seg__segw_block_points(m->w))
        return false;
    int64_t cell = grid_cell(st->max_ts, g);
    if (has_limit && grid_cell(limit, g) <= cell)
        return false;
    if (c->blk >= c->blk_end)
        return true;
    return grid_cell(ne_seg_block(c->seg, c->col, c->blk)->stats.min_ts, g) > cell;
}

/* True if the writer, given a point at t next, would first close its
 * partial block (none, or one of align_min points or more in an earlier
 * cell): a block copied before t then cuts nothing the writer would have
 * kept together. Staged points must have been handed over. */
static bool writer_closes(const struct merge *m, int64_t t)
{
    int64_t last = 0;
    uint32_t pn = seg__segw_pending(m->w, &last);
    return pn == 0 || (pn >= m->o->align_min &&
                       grid_cell(last, m->o->align_ns) < grid_cell(t, m->o->align_ns));
}

/* True if the cursor's current block may go to the output as it is: not
 * decoded yet, wholly before limit (when has_limit), and full or closed by
 * the grid. Any other partial block is merged point by point: copied as it
 * is, blocks of successive flushes would stay as small as they were
 * written. */
static bool can_copy(const struct merge *m, const struct cursor *c, bool has_limit, int64_t limit)
{
    const struct ne_seg_blockref *ref = ne_seg_block(c->seg, c->col, c->cur);
    const struct ne_seg_bspan *st = &ref->stats;
    if (c->loaded || (ref->vlen != 0) != m->versioned || (has_limit && st->max_ts >= limit))
        return false;
    return st->count == seg__segw_block_points(m->w) || grid_closed(m, c, st, has_limit, limit);
}

/* Copies the cursor's current block verbatim (after checking its CRC). */
static int copy_block(struct merge *m, struct cursor *c)
{
    const struct ne_seg_blockref *ref = ne_seg_block(c->seg, c->col, c->cur);
    int rc = stage_flush(m);
    if (rc)
        return rc;
    size_t len = (size_t)ref->len + ref->vlen;
    uint32_t vcrc = seg__block_vcrc(c->seg, ref);
    struct ne_block_stats st;
    const uint8_t *raw = NULL;
    rc = seg__ra_get(c->seg, &c->ra, ref->off, len, &raw);
    if (!rc && (ne_crc32c(0, raw, ref->len) != ref->crc ||
                ne_crc32c(0, raw + ref->len, ref->vlen) != vcrc))
        rc = NE_ECHECKSUM;
    if (!rc)
        rc = ne_seg_block_stats(c->seg, c->col, c->cur, &st);
    if (rc) {
        ne_logf(NE_LOG_ERROR, MOD, "%s: column %u block %u: %s", ne_seg_path_of(c->seg), c->col,
                c->cur, ne_strerror(rc));
        return rc;
    }
    rc = seg__segw_copy_block(m->w, raw, ref->len, ref->crc, ref->vlen, vcrc, &st);
    return rc ? rc : cursor_next_block(m, c);
}

/* Copies the cursor's current block verbatim when can_copy says it may
 * and, for a partial block, the writer would close its own partial block
 * before it (checked once the staged points are handed over); *done says
 * whether it did. */
static int try_copy(struct merge *m, struct cursor *c, bool has_limit, int64_t limit, bool *done)
{
    *done = false;
    if (!can_copy(m, c, has_limit, limit))
        return 0;
    const struct ne_seg_bspan *st = cur_stats(c);
    if (st->count != seg__segw_block_points(m->w)) {
        int rc = stage_flush(m);
        if (rc || !writer_closes(m, st->min_ts))
            return rc;
    }
    *done = true;
    return copy_block(m, c);
}

/* Appends everything left of c (the only active input). */
static int drain_one(struct merge *m, struct cursor *c)
{
    int rc = stage_flush(m);
    while (!rc && c->active) {
        bool copied;
        rc = try_copy(m, c, false, 0, &copied);
        if (rc || copied)
            continue;
        rc = ensure_loaded(m, c);
        while (!rc && c->pos < c->b.n) { /* runs of kept points */
            uint32_t e = kept_run_end(m, c, c->b.n);
            rc = ne_segw_append_v(m->w, c->b.ts + c->pos, value_at(m, c, c->pos),
                                  c->b.ver ? c->b.ver + c->pos : NULL, e - c->pos);
            c->pos = e;
            skip_dropped(m, c);
        }
        if (!rc)
            rc = cursor_next_block(m, c);
    }
    return rc;
}

/* Picks the smallest timestamp; on ties the newest input (highest index). */
static int pick(struct merge *m, size_t *nactive, size_t *only)
{
    int win = -1;
    int64_t best = 0;
    *nactive = 0;
    for (size_t k = 0; k < m->n; k++) {
        struct cursor *c = &m->cur[k];
        if (!c->active)
            continue;
        (*nactive)++;
        *only = k;
        int64_t t = cur_ts(c);
        if (win < 0 || t <= best) {
            win = (int)k;
            best = t;
        }
    }
    return win;
}

/* Smallest next timestamp of the active cursors other than skip. */
static bool others_min(const struct merge *m, size_t skip, int64_t *out)
{
    bool any = false;
    for (size_t k = 0; k < m->n; k++) {
        const struct cursor *c = &m->cur[k];
        if (k == skip || !c->active)
            continue;
        int64_t t = cur_ts(c);
        if (!any || t < *out)
            *out = t;
        any = true;
    }
    return any;
}

/* The winner's points strictly before every other input's next point
 * cannot collide: append them in one call. */
static int take_run(struct merge *m, struct cursor *c, int64_t limit)
{
    int rc = ensure_loaded(m, c);
    if (rc)
        return rc;
    uint32_t lo = c->pos + 1, hi = c->b.n;
    while (lo < hi) { /* first point with ts >= limit */
        uint32_t mid = lo + (hi - lo) / 2;
        if (c->b.ts[mid] < limit)
            lo = mid + 1;
        else
            hi = mid;
    }
    lo = kept_run_end(m, c, lo); /* a dropped point ends the run too */
    rc = stage_flush(m);
    if (!rc)
        rc = ne_segw_append_v(m->w, c->b.ts + c->pos, value_at(m, c, c->pos),
                              c->b.ver ? c->b.ver + c->pos : NULL, lo - c->pos);
    c->pos = lo - 1;
    return rc ? rc : cursor_advance(m, c);
}

static uint64_t ver_at(const struct cursor *c)
{
    return c->b.ver ? c->b.ver[c->pos] : 0;
}

/* The cursor's current value as the tie rule sees it. */
static struct ne_lww_val lww_at(const struct merge *m, const struct cursor *c)
{
    const uint8_t *p = value_at(m, c, c->pos);
    struct ne_lww_val x = {0};
    if (c->b.type == NE_V_STRING) {
        const struct ne_sv *sv = (const struct ne_sv *)(const void *)p;
        x.p = sv->p;
        x.n = sv->n;
    } else if (c->b.type == NE_V_BOOL) {
        x.u = *(const bool *)(const void *)p ? 1 : 0;
    } else {
        memcpy(&x.u, p, sizeof x.u);
    }
    return x;
}

/* Whether cursor a's value beats b's (both loaded, on one timestamp): the
 * rule of store/lww.h, the newer input (the higher cursor) arriving later. */
static bool lww_beats(const struct merge *m, const struct cursor *a, const struct cursor *b)
{
    if (a > b)
        return ne_lww_replaces(ver_at(a), lww_at(m, a), ver_at(b), lww_at(m, b));
    return !ne_lww_replaces(ver_at(b), lww_at(m, b), ver_at(a), lww_at(m, a));
}

/* Among the cursors standing on timestamp t (wc, the newest of them, is
 * loaded), the winner by store/lww.h. */
static int lww_winner(struct merge *m, struct cursor *wc, int64_t t, struct cursor **out)
{
    *out = wc;
    for (size_t k = 0; k < m->n; k++) {
        struct cursor *c = &m->cur[k];
        if (c == wc || !c->active || cur_ts(c) != t)
            continue;
        int rc = ensure_loaded(m, c);
        if (rc)
            return rc;
        if (c->pos < c->b.n && c->b.ts[c->pos] == t && lww_beats(m, c, *out))
            *out = c;
    }
    return 0;
}

/* Takes the winning value at the smallest timestamp (store/lww.h) and
 * moves every cursor standing on that timestamp. */
static int take_one(struct merge *m, struct cursor *wc)
{
    int rc = ensure_loaded(m, wc);
    if (rc)
        return rc;
    int64_t t = wc->b.ts[wc->pos];
    if (m->versioned && (rc = lww_winner(m, wc, t, &wc)))
        return rc;
    m->sts[m->sn] = t;
    if (m->versioned)
        m->sver[m->sn] = ver_at(wc);
    memcpy(m->svals + (size_t)m->sn * m->vsize, value_at(m, wc, wc->pos), m->vsize);
    if (++m->sn == m->cap)
        rc = stage_flush(m);
    for (size_t k = 0; !rc && k < m->n; k++) {
        struct cursor *c = &m->cur[k];
        if (c->active && cur_ts(c) == t)
            rc = cursor_advance(m, c);
    }
    return rc;
}

static int merge_points(struct merge *m)
{
    for (;;) {
        size_t nactive, only = 0;
        int win = pick(m, &nactive, &only);
        if (win < 0)
            break;
        if (nactive == 1)
            return drain_one(m, &m->cur[only]);
        struct cursor *wc = &m->cur[win];
        int64_t other = 0;
        others_min(m, (size_t)win, &other);
        bool copied;
        int rc = try_copy(m, wc, true, other, &copied);
        if (!rc && !copied)
            rc = cur_ts(wc) < other ? take_run(m, wc, other) : take_one(m, wc);
        if (rc)
            return rc;
    }
    return stage_flush(m);
}

static bool key_match(const struct merge *m, size_t k, const struct ne_seg_colkey *key)
{
    const struct ne_seg_col *c = ne_seg_col(m->in[k], m->ci[k]);
    return c && ne_seg_colkey_cmp(&c->key, key) == 0;
}

/* Merges the column with key (taken from input newest) from every input
 * that has it. */
static int merge_column(struct merge *m, const struct ne_seg_colkey *key)
{
    m->vsize = seg__vsize(key->type);
    unsigned flags = 0;
    for (size_t k = 0; k < m->n; k++) {
        struct cursor *c = &m->cur[k];
        c->active = false;
        if (!key_match(m, k, key))
            continue;
        const struct ne_seg_col *col = ne_seg_col(m->in[k], m->ci[k]);
        if (col->key.type != key->type) {
            ne_logf(NE_LOG_WARN, MOD,
                    "merge: series %" PRIu64 " field %.*s is %s in %s but %s in a newer "
                    "segment: dropping its %" PRIu64 " older points",
                    key->series_id, (int)key->field.n, key->field.p,
                    ne_vtype_name(col->key.type), ne_seg_path_of(m->in[k]),
                    ne_vtype_name(key->type), col->npoints);
            continue;
        }
        flags |= col->flags & NE_SEG_COL_VERSIONED;
        int rc = cursor_drops(m, c, k, &col->key);
        if (!rc)
            rc = cursor_start(m, c, m->in[k], m->ci[k]);
        if (rc)
            return rc;
    }
    m->versioned = (flags & NE_SEG_COL_VERSIONED) != 0;
    int rc = ne_segw_begin_column_v(m->w, key, flags);
    if (!rc)
        rc = merge_points(m);
    if (!rc)
        rc = ne_segw_end_column(m->w);
    return rc;
}

/* Finds the smallest current key; returns the newest input holding it, or
 * -1 when every input is done. */
static int next_key(struct merge *m, struct ne_seg_colkey *key)
{
    int newest = -1;
    for (size_t k = 0; k < m->n; k++) {
        const struct ne_seg_col *c = ne_seg_col(m->in[k], m->ci[k]);
        if (!c)
            continue;
        if (newest < 0 || ne_seg_colkey_cmp(&c->key, key) <= 0) {
            newest = (int)k;
            *key = c->key;
        }
    }
    if (newest >= 0)
        key->db = m->dbmap[newest][ne_seg_info(m->in[newest])->ndbs ? key->db : 0];
    return newest;
}

static int merge_all(struct merge *m)
{
    struct ne_seg_colkey key;
    int newest;
    while ((newest = next_key(m, &key)) >= 0) {
        const char *db = m->ndbs ? m->dbs[key.db] : "";
        bool keep = !m->o->keep_col || m->o->keep_col(m->o->ctx, &key, db);
        if (keep) {
            int rc = merge_column(m, &key);
            if (rc)
                return rc;
        }
        for (size_t k = 0; k < m->n; k++)
            if (key_match(m, k, &key))
                m->ci[k]++;
    }
    return 0;
}

static void merge_free(struct merge *m)
{
    if (m->cur)
        for (size_t k = 0; k < m->n; k++) {
            ne_seg_block_free(&m->cur[k].b);
            seg__ra_free(&m->cur[k].ra);
            ne_free(m->cur[k].drop);
        }
    if (m->dbmap)
        for (size_t k = 0; k < m->n; k++)
            ne_free(m->dbmap[k]);
    ne_free(m->dbmap);
    ne_free(m->dbs);
    ne_free(m->cur);
    ne_free(m->ci);
    ne_free(m->sts);
    ne_free(m->svals);
    ne_free(m->sver);
    ne_segw_abort(&m->w);
}

static int merge_init(struct merge *m)
{
    m->cap = m->o->block_points ? m->o->block_points : NE_SEG_BLOCK_POINTS;
    if (m->cap > NE_SEG_BLOCK_POINTS_MAX)
        return NE_EINVAL;
    m->ci = ne_calloc(m->n ? m->n : 1, sizeof *m->ci);
    m->cur = ne_calloc(m->n ? m->n : 1, sizeof *m->cur);
    m->sts = ne_malloc(m->cap * sizeof *m->sts);
    m->svals = ne_malloc(m->cap * sizeof(struct ne_sv));
    m->sver = ne_malloc(m->cap * sizeof *m->sver);
    if (!m->ci || !m->cur || !m->sts || !m->svals || !m->sver)
        return NE_ENOMEM;
    for (size_t k = 0; k < m->n; k++)
        ne_seg_block_init(&m->cur[k].b);
    return map_dbs(m);
}

int ne_seg_merge(struct ne_seg *const inputs[], size_t n, const char *out_dir, uint64_t out_id,
                 const struct ne_seg_merge_opts *opts, struct ne_seg_info *info)
{
    struct ne_seg_merge_opts defaults;
    if (!opts) {
        ne_seg_merge_opts_default(&defaults);
        opts = &defaults;
    }
    if ((n && !inputs) || !out_dir)
        return NE_EINVAL;
    struct merge m = {.in = inputs, .n = n, .o = opts};
    int rc = merge_init(&m);
    if (!rc) {
        struct ne_segw_opts wo = {.block_points = m.cap,
                                  .codec = opts->codec,
                                  .dbs = m.dbs,
                                  .ndbs = m.ndbs,
                                  .align_ns = opts->align_ns,
                                  .align_min = opts->align_min};
        wal_union(inputs, n, &wo.wal_seq_min, &wo.wal_seq_max);
        rc = ne_segw_open(out_dir, out_id, &wo, &m.w);
    }
    if (!rc)
        rc = merge_all(&m);
    if (!rc)
        rc = ne_segw_finish(&m.w, info);
    if (rc)
        ne_logf(NE_LOG_ERROR, MOD, "merge of %zu segments into %016" PRIx64 " failed: %s", n,
                out_id, ne_strerror(rc));
    merge_free(&m);
    return rc;
}
