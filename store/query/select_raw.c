/*
 * select_raw.c - raw SELECT (no aggregate, no transformation) streamed in
 * time windows, so that memory stays bounded whatever the answer's size.
 *
 * A group's rows must come out in time order across its series (ties in
 * series order), so they cannot be written series after series. Instead:
 *
 *  1. plan: one statistics pass per field over the range. Segment blocks
 *     inside it give their (first, last, count) without decoding; other
 *     points (memtables, blocks cut by the range) are counted from their
 *     runs. Each span's points are spread evenly over its time; a histogram
 *     of bins over the data's extent takes, per bin, the largest estimate
 *     of the fields (rows join the fields on time).
 *  2. windows: consecutive bins are merged while their estimate stays
 *     within opts->raw_window_values (default 524,288) divided by the
 *     number of fields read; empty bins are skipped.
 *  3. per window, in time order (reversed for ORDER BY time DESC): the
 *     window's rows are read, sorted, filtered and written; OFFSET and
 *     LIMIT run across windows, and a reached LIMIT stops the reading.
 *
 * Memory: one window's rows (about raw_window_values field values of the
 * group, some 40-60 bytes each with their times, in column buffers, then
 * joined rows), plus what the source holds per series while scanning (one
 * series' points of one window): about 30 MiB at the default.
 * The price: a segment block spanning several windows is decoded once per
 * window it meets.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"
#include "store/query/select_int.h"

#define DEFAULT_WINDOW_VALUES 524288u
#define MIN_WINDOW_ROWS 1024u
#define MAX_BINS (1u << 16)

struct span {
    int64_t lo, hi;
    uint64_t n;
    uint32_t field;
};

struct plan_pass {
    struct span *v;
    size_t n, cap;
    uint32_t field;
    int rc;
};

static int span_add(struct plan_pass *pp, int64_t lo, int64_t hi, uint64_t n)
{
    if (pp->n == pp->cap) {
        size_t cap = pp->cap ? pp->cap * 2 : 256;
        struct span *v = ne_realloc(pp->v, cap * sizeof *v);
        if (!v)
            return pp->rc = NE_ENOMEM;
        pp->v = v;
        pp->cap = cap;
    }
    pp->v[pp->n++] = (struct span){lo, hi, n, pp->field};
    return 0;
}

static int plan_points(void *arg, uint64_t sid, const int64_t *ts, const void *vals, size_t n)
{
    (void)sid;
    (void)vals;
    return n ? span_add(arg, ts[0], ts[n - 1], n) : 0;
}

static int plan_block(void *arg, uint64_t sid, const struct ne_block_stats *st)
{
    (void)sid;
    int rc = st->count ? span_add(arg, st->min_ts, st->max_ts, st->count) : 0;
    return rc ? rc : 1; /* the statistics are all the plan needs */
}

struct window {
    int64_t lo, hi;
};

struct windows {
    struct window *v;
    size_t n;
};

/* Bins of `width` ns from lo: exact integer arithmetic, so a point and the
 * bin whose range holds it always agree. */
static size_t bin_of(int64_t t, int64_t lo, uint64_t width)
{
    return (size_t)(((uint64_t)t - (uint64_t)lo) / width);
}

/* est[b] = the largest per-field estimate of rows in bin b of [lo, ...). */
static void histogram(const struct plan_pass *pp, size_t nfields, int64_t lo, int64_t hi,
                      uint64_t width, size_t nbins, double *est, double *diff)
{
    memset(est, 0, nbins * sizeof *est);
    for (size_t f = 0; f < nfields; f++) {
        memset(diff, 0, (nbins + 1) * sizeof *diff);
        for (size_t i = 0; i < pp->n; i++) {
            const struct span *s = &pp->v[i];
            if (s->field != f || s->hi < lo || s->lo > hi)
                continue;
            size_t b0 = bin_of(s->lo, lo, width), b1 = bin_of(s->hi, lo, width);
            double per = (double)s->n / (double)(b1 - b0 + 1);
            diff[b0] += per;
            diff[b1 + 1] -= per;
        }
        double run = 0;
        for (size_t b = 0; b < nbins; b++) {
            run += diff[b];
            if (run > est[b])
                est[b] = run;
        }
    }
}

/* Cuts [lo, hi] into windows of about max_rows estimated rows each. */
static int plan_windows(struct qexec *x, const struct plan *p, const struct qschema *sch,
                        const struct idmap *map, int64_t lo, int64_t hi, uint64_t max_rows,
                        struct windows *out)
{
    struct plan_pass pp = {0};
    int rc = 0;
    for (size_t f = 0; rc == 0 && f < p->fields.n; f++) {
        pp.field = (uint32_t)f;
        rc = x->src->scan(x->src->ctx, sch->db, sch->meas, map->ids, map->n, p->fields.v[f],
                          (enum ne_vtype)p->field_types[f], lo, hi, plan_points, plan_block, &pp);
        if (rc == 0)
            rc = pp.rc;
    }
    int64_t dlo = INT64_MAX, dhi = INT64_MIN;
    double total = 0;
    for (size_t i = 0; rc == 0 && i < pp.n; i++) {
        dlo = pp.v[i].lo < dlo ? pp.v[i].lo : dlo;
        dhi = pp.v[i].hi > dhi ? pp.v[i].hi : dhi;
        total += (double)pp.v[i].n;
    }
    if (rc || pp.n == 0) {
        ne_free(pp.v);
        return rc;
    }
    /* about 16 bins per window, so the cuts fall close to the bound */
    double want = ceil(total / (double)max_rows) * 16;
    uint64_t nb = want < 1 ? 1 : want > MAX_BINS ? MAX_BINS : (uint64_t)want;
    uint64_t extent = (uint64_t)dhi - (uint64_t)dlo; /* + 1 may wrap: kept off */
    uint64_t width = extent / nb + 1; /* nb * width > extent: bins cover it */
    size_t nbins = (size_t)(extent / width + 1);
    double *est = ne_malloc(nbins * sizeof *est);
    double *diff = ne_malloc((nbins + 1) * sizeof *diff);
    out->v = ne_malloc(nbins * sizeof *out->v);
    if (!est || !diff || !out->v) {
        rc = NE_ENOMEM;
    } else {
        histogram(&pp, p->fields.n, dlo, dhi, width, nbins, est, diff);
        double acc = 0;
        for (size_t b = 0; b < nbins; b++) {
            int64_t blo = (int64_t)((uint64_t)dlo + b * width);
            int64_t bhi = b + 1 == nbins ? dhi : (int64_t)((uint64_t)blo + width - 1);
            if (est[b] < 1e-6) { /* nothing there (a point adds >= 1/MAX_BINS): close */
                acc = 0;
                continue;
            }
            if (acc > 0 && acc + est[b] <= (double)max_rows) {
                out->v[out->n - 1].hi = bhi; /* extend the open window */
                acc += est[b];
            } else {
                out->v[out->n++] = (struct window){blo, bhi};
                acc = est[b];
            }
        }
    }
    ne_free(est);
    ne_free(diff);
    ne_free(pp.v);
    return rc;
}

/* Output state across windows. */
struct raw_out {
    const char *meas;
    const struct ne_tag *tags;
    size_t ntags;
    const char *cols[MAX_COLS + 1];
    size_t off, lim, skipped, emitted;
    uint64_t rows; /* rows that passed the filter, for max_rows_per_series */
    bool begun;
    bool any_tf;                /* a column has a transformation */
    struct tf_state tf[MAX_COLS]; /* per such column, carried across windows */
    struct group_out g;         /* any_tf: the window's rows, transformed */
};

static bool raw_done(const struct raw_out *o)
{
    return o->emitted >= o->lim;
}

/* Counts a row against max_rows_per_series. 0 or the failure. */
static int count_row(struct qexec *x, struct raw_out *o)
{
    uint64_t maxr = x->opts->max_rows_per_series;
    if (maxr && o->rows >= maxr)
        return query__fail(x, "max-row-limit exceeded (%llu rows)", (unsigned long long)maxr);
    o->rows++;
    return 0;
}

/* Writes one row (time, then the columns) after OFFSET. */
static int put_row(struct qexec *x, const struct plan *p, struct raw_out *o, int64_t t,
                   struct ne_qcell *row)
{
    if (o->skipped < o->off) {
        o->skipped++;
        return 0;
    }
    if (!o->begun) {
        int rc = query__begin_series(x, o->meas, o->tags, o->ntags, o->cols, p->ncols + 1);
        if (rc)
            return rc;
        o->begun = true;
    }
    row[0].type = NE_QC_TIME;
    row[0].v.i = t;
    int rc = query__row(x, row, p->ncols + 1);
    if (rc == 0)
        o->emitted++;
    return rc;
}

/* The columns of row r of rs into out[0..ncols); false when the filter
 * drops it or it has no field value. */
static bool row_cells(const struct ne_iql_stmt *st, const struct plan *p,
                      const struct qschema *sch, const struct qwhere *w,
                      const struct qseries *const *series, const struct rowset *rs, size_t r,
                      int64_t now_ns, struct ne_qcell *out)
{
    const struct ne_qcell *fc = rs->cells + r * rs->width;
    struct qrow_ctx ctx = {.time = rs->t[r], .series = series[rs->series[r]], .sch = sch,
                           .names = p->fields.v, .cells = fc, .n = p->fields.n,
                           .now_ns = now_ns};
    if (w->row_filter && !query__eval_bool(st->where, &ctx))
        return false;
    bool any_field = false;
    for (size_t c = 0; c < p->ncols; c++) {
        const struct column *col = &p->cols[c];
        out[c] = col->raw_field >= 0 ? fc[col->raw_field] : query__eval(col->expr, &ctx);
        if (out[c].type != NE_QC_NULL &&
            (col->raw_field >= 0 || query__has_field_ref(col->expr, sch)))
            any_field = true;
    }
    return any_field;
}

/* Writes the rows of one window (sorted, filtered) in the statement's order. */
static int emit_plain(struct qexec *x, const struct ne_iql_stmt *st, const struct plan *p,
                      const struct qschema *sch, const struct qwhere *w,
                      const struct qseries *const *series, const struct rowset *rs,
                      const struct rowref *order, struct raw_out *o)
{
    for (size_t k = 0; k < rs->n && !raw_done(o); k++) {
        size_t r = order[st->order_desc ? rs->n - 1 - k : k].i;
        struct ne_qcell row[MAX_COLS + 1];
        if (!row_cells(st, p, sch, w, series, rs, r, x->opts->now_ns, row + 1))
            continue;
        int rc = count_row(x, o);
        if (rc == 0)
            rc = put_row(x, p, o, rs->t[r], row);
        if (rc)
            return rc;
    }
    return 0;
}

/* Transforms the rows of one window in the statement's order (as InfluxDB
 * does: ORDER BY time DESC runs them backwards in time), continuing o->tf,
 * and writes them (rows whose columns are all null left out). */
static int emit_transformed(struct qexec *x, const struct ne_iql_stmt *st, const struct plan *p,
                            const struct qschema *sch, const struct qwhere *w,
                            const struct qseries *const *series, const struct rowset *rs,
                            const struct rowref *order, struct raw_out *o)
{
    struct group_out *g = &o->g;
    g->n = g->store_n = 0;
    for (size_t k = 0; k < rs->n; k++) {
        const struct rowref *rr = &order[st->order_desc ? rs->n - 1 - k : k];
        struct ne_qcell cells[MAX_COLS];
        if (!row_cells(st, p, sch, w, series, rs, rr->i, x->opts->now_ns, cells))
            continue;
        int rc = count_row(x, o);
        if (rc == 0)
            rc = query__gout_add(g, rr->t, cells);
        if (rc)
            return rc;
    }
    for (size_t c = 0; c < p->ncols; c++)
        if (p->cols[c].tf != T_NONE)
            query__tf_apply(&o->tf[c], g, c, &p->cols[c], 0);
    for (size_t k = 0; k < g->n && !raw_done(o); k++) {
        const struct outrow *gr = &g->rows[k];
        bool all_null = true;
        for (size_t c = 0; c < p->ncols; c++)
            all_null &= gr->cells[c].type == NE_QC_NULL;
        if (all_null)
            continue;
        struct ne_qcell row[MAX_COLS + 1];
        memcpy(row + 1, gr->cells, p->ncols * sizeof *row);
        int rc = put_row(x, p, o, gr->t, row);
        if (rc)
            return rc;
    }
    return 0;
}

/* Reads window wi's rows and writes them (emit_plain, emit_transformed).
 * *order grows as needed (owned by the caller). */
static int run_window(struct qexec *x, const struct ne_iql_stmt *st, const struct plan *p,
                      const struct qschema *sch, const struct qwhere *w,
                      const struct qseries *const *series, size_t ns, const struct window *wi,
                      struct rowref **order, size_t *order_cap, struct raw_out *o)
{
    struct rowset rs = {.width = p->fields.n};
    int rc = query__collect_group_rows(x, p, sch, series, ns, wi->lo, wi->hi, &rs);
    if (rc == 0 && rs.n > *order_cap) {
        ne_free(*order);
        *order_cap = rs.n;
        *order = ne_malloc(*order_cap * sizeof **order);
        if (!*order) {
            *order_cap = 0;
            rc = NE_ENOMEM;
        }
    }
    if (rc == 0 && rs.n) {
        for (size_t i = 0; i < rs.n; i++)
            (*order)[i] = (struct rowref){rs.t[i], i};
        qsort(*order, rs.n, sizeof **order, query__cmp_rowref);
        rc = o->any_tf ? emit_transformed(x, st, p, sch, w, series, &rs, *order, o)
                       : emit_plain(x, st, p, sch, w, series, &rs, *order, o);
    }
    query__rowset_free(&rs);
    return rc;
}

int query__raw_streamed(struct qexec *x, const struct ne_iql_stmt *st, const struct plan *p,
                        const struct qschema *sch, const struct qwhere *w,
                        const struct qseries *const *series, size_t ns,
                        const struct ne_tag *gtags, size_t ngtags)
{
    int64_t lo = w->has_tmin ? w->tmin : INT64_MIN;
    int64_t hi = w->has_tmax ? w->tmax : INT64_MAX;
    uint64_t max_vals = x->opts->raw_window_values ? x->opts->raw_window_values
                                                   : DEFAULT_WINDOW_VALUES;
    uint64_t max_rows = max_vals / (p->fields.n ? p->fields.n : 1);
    if (max_rows < MIN_WINDOW_ROWS)
        max_rows = MIN_WINDOW_ROWS;
    struct raw_out o = {.meas = sch->meas, .tags = gtags, .ntags = ngtags,
                        .off = st->offset > 0 ? (size_t)st->offset : 0,
                        .lim = st->limit > 0 ? (size_t)st->limit : SIZE_MAX,
                        .g = {.ncols = p->ncols}};
    o.cols[0] = "time";
    for (size_t c = 0; c < p->ncols; c++)
        o.cols[c + 1] = p->cols[c].name;
    if (p->fields.n == 0 || ns == 0 || raw_done(&o))
        return 0;
    for (size_t c = 0; c < p->ncols; c++)
        o.any_tf |= p->cols[c].tf != T_NONE;
    struct idmap map = {0};
    struct windows win = {0};
    struct rowref *order = NULL;
    size_t order_cap = 0;
    int rc = 0;
    for (size_t c = 0; rc == 0 && c < p->ncols; c++)
        if (p->cols[c].tf != T_NONE)
            if ((rc = query__tf_init(&o.tf[c], &p->cols[c])) == 0)
                o.tf[c].desc = st->order_desc;
    if (rc == 0)
        rc = query__idmap_build(&map, series, ns);
    if (rc == 0)
        rc = plan_windows(x, p, sch, &map, lo, hi, max_rows, &win);
    for (size_t k = 0; rc == 0 && k < win.n && !raw_done(&o); k++) {
        const struct window *wi = &win.v[st->order_desc ? win.n - 1 - k : k];
        rc = run_window(x, st, p, sch, w, series, ns, wi, &order, &order_cap, &o);
    }
    if (rc == 0 && o.begun)
        rc = query__end_series(x);
    for (size_t c = 0; c < p->ncols; c++)
        query__tf_free(&o.tf[c]);
    query__gout_free(&o.g);
    ne_free(order);
    ne_free(win.v);
    query__idmap_free(&map);
    return rc;
}
