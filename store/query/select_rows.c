/*
 * select_rows.c - rows of SELECT: columns of a group read from the store
 * and joined on time into rows, the rows of one result series, fill and
 * transformations (derivative, difference, moving_average, cumulative_sum)
 * over them, and writing the series with ORDER BY, OFFSET and LIMIT.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"
#include "store/query/select_int.h"

/* ---- collecting rows ---------------------------------------------------------- */



static int colbuf_append(struct colbuf *b, const int64_t *ts, const void *vals, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = ne_grown_cap(b->cap, 256, b->n + n);
        if (!ne_realloc_array(&b->t, cap, sizeof *b->t) ||
            !ne_realloc_array(&b->c, cap, sizeof *b->c))
            return NE_ENOMEM;
        b->cap = cap;
    }
    for (size_t i = 0; i < n; i++) {
        b->t[b->n] = ts[i];
        b->c[b->n] = query__typed_cell(b->type, vals, i, b->pool);
        b->n++;
    }
    return 0;
}

/* Series ids of a group, sorted, with their index in the group. */

static int cmp_u64idx(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    return *x < *y ? -1 : *x > *y;
}

int query__idmap_build(struct idmap *m, const struct qseries *const *series, size_t ns)
{
    struct {
        uint64_t id;
        uint64_t idx;
    } *tmp = ne_malloc(ns * sizeof *tmp + 1);
    m->ids = ne_malloc(ns * sizeof *m->ids + 1);
    m->idx = ne_malloc(ns * sizeof *m->idx + 1);
    if (!tmp || !m->ids || !m->idx) {
        ne_free(tmp);
        return NE_ENOMEM;
    }
    for (size_t i = 0; i < ns; i++) {
        tmp[i].id = series[i]->id;
        tmp[i].idx = i;
    }
    qsort(tmp, ns, sizeof *tmp, cmp_u64idx); /* id is the first member */
    for (size_t i = 0; i < ns; i++) {
        m->ids[i] = tmp[i].id;
        m->idx[i] = (uint32_t)tmp[i].idx;
    }
    m->n = ns;
    ne_free(tmp);
    return 0;
}

void query__idmap_free(struct idmap *m)
{
    ne_free(m->ids);
    ne_free(m->idx);
    memset(m, 0, sizeof *m);
}

int query__idmap_find(const struct idmap *m, uint64_t id)
{
    size_t lo = 0, hi = m->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (m->ids[mid] == id)
            return (int)m->idx[mid];
        if (m->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

struct gscan {
    struct colbuf *bufs; /* one per series of the group, for one field */
    const struct idmap *map;
    int rc;
};

static int gscan_points(void *arg, uint64_t sid, const int64_t *ts, const void *vals, size_t n)
{
    struct gscan *g = arg;
    int i = query__idmap_find(g->map, sid);
    if (i < 0)
        return 0;
    int rc = colbuf_append(&g->bufs[i], ts, vals, n);
    return rc ? (g->rc = rc) : 0;
}


static int rowset_reserve(struct rowset *r, size_t more)
{
    if (r->n + more <= r->cap)
        return 0;
    size_t cap = ne_grown_cap(r->cap, 256, r->n + more);
    if (!ne_realloc_array(&r->t, cap, sizeof *r->t) ||
        !ne_realloc_array(&r->series, cap, sizeof *r->series) ||
        !ne_realloc_array(&r->cells, cap * (r->width ? r->width : 1), sizeof *r->cells))
        return NE_ENOMEM;
    r->cap = cap;
    return 0;
}

void query__rowset_free(struct rowset *r)
{
    ne_free(r->t);
    ne_free(r->series);
    ne_free(r->cells);
    query__pool_free(&r->pool);
    memset(r, 0, sizeof *r);
}

/* Appends one row per distinct timestamp of series sidx from its field
 * buffers (cells null where a field has no value at that time). */
static int merge_series_rows(struct colbuf *const *bufs, size_t nf, uint32_t sidx,
                             struct rowset *rs)
{
    size_t pos[MAX_COLS * 2] = {0};
    for (;;) {
        int64_t tmin = INT64_MAX;
        bool any = false;
        for (size_t f = 0; f < nf; f++)
            if (pos[f] < bufs[f]->n && (!any || bufs[f]->t[pos[f]] < tmin)) {
                tmin = bufs[f]->t[pos[f]];
                any = true;
            }
        if (!any)
            return 0;
        int rc = rowset_reserve(rs, 1);
        if (rc)
            return rc;
        struct ne_qcell *row = rs->cells + rs->n * rs->width;
        for (size_t f = 0; f < nf; f++) {
            if (pos[f] < bufs[f]->n && bufs[f]->t[pos[f]] == tmin)
                row[f] = bufs[f]->c[pos[f]++];
            else
                row[f].type = NE_QC_NULL;
        }
        rs->t[rs->n] = tmin;
        rs->series[rs->n] = sidx;
        rs->n++;
    }
}

/* Reads the plan's fields of the group's series in [lo, hi] (one scan per
 * field) and appends their rows to rs, series by series. */
int query__collect_group_rows(struct qexec *x, const struct plan *p, const struct qschema *sch,
                              const struct qseries *const *series, size_t ns, int64_t lo,
                              int64_t hi, struct rowset *rs)
{
    size_t nf = p->fields.n;
    if (nf == 0 || ns == 0)
        return 0;
    struct idmap map = {0};
    int rc = query__idmap_build(&map, series, ns);
    struct colbuf *bufs = rc ? NULL : ne_calloc(nf * ns, sizeof *bufs);
    if (!bufs)
        rc = NE_ENOMEM;
    for (size_t f = 0; rc == 0 && f < nf; f++) {
        for (size_t i = 0; i < ns; i++) {
            bufs[f * ns + i].type = p->field_types[f];
            bufs[f * ns + i].pool = &rs->pool;
        }
        struct gscan g = {bufs + f * ns, &map, 0};
        rc = x->src->scan(x->src->ctx, sch->db, sch->meas, map.ids, map.n, p->fields.v[f],
                          (enum ne_vtype)p->field_types[f], lo, hi, gscan_points, NULL, &g);
        if (rc == 0)
            rc = g.rc;
    }
    for (size_t i = 0; rc == 0 && i < ns; i++) {
        struct colbuf *cols_i[MAX_COLS * 2];
        for (size_t f = 0; f < nf; f++)
            cols_i[f] = &bufs[f * ns + i];
        rc = merge_series_rows(cols_i, nf, (uint32_t)i, rs);
        for (size_t f = 0; f < nf; f++) { /* joined: the columns can go */
            ne_free(cols_i[f]->t);
            ne_free(cols_i[f]->c);
            cols_i[f]->t = NULL;
            cols_i[f]->c = NULL;
        }
    }
    if (bufs)
        for (size_t k = 0; k < nf * ns; k++) {
            ne_free(bufs[k].t);
            ne_free(bufs[k].c);
        }
    ne_free(bufs);
    query__idmap_free(&map);
    return rc;
}

/* Sorts row indexes by time (stable: series order breaks ties). */

int query__cmp_rowref(const void *a, const void *b)
{
    const struct rowref *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* ---- output of one group -------------------------------------------------------- */



int query__gout_add(struct group_out *g, int64_t t, const struct ne_qcell *cells)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? g->cap * 2 : 64;
        struct outrow *r = ne_realloc(g->rows, cap * sizeof *r);
        if (!r)
            return NE_ENOMEM;
        g->rows = r;
        g->cap = cap;
    }
    if (g->store_n + g->ncols > g->store_cap) {
        size_t cap =
            ne_grown_cap(g->store_cap, 64 * (g->ncols ? g->ncols : 1), g->store_n + g->ncols);
        struct ne_qcell *s = ne_realloc(g->store, cap * sizeof *s);
        if (!s)
            return NE_ENOMEM;
        /* rows point into the store by offset: rebase */
        for (size_t i = 0; i < g->n; i++)
            g->rows[i].cells = s + (g->rows[i].cells - g->store);
        g->store = s;
        g->store_cap = cap;
    }
    struct ne_qcell *dst = g->store + g->store_n;
    memcpy(dst, cells, g->ncols * sizeof *dst);
    g->store_n += g->ncols;
    g->rows[g->n].t = t;
    g->rows[g->n].cells = dst;
    g->n++;
    return 0;
}

void query__gout_free(struct group_out *g)
{
    ne_free(g->rows);
    ne_free(g->store);
    memset(g, 0, sizeof *g);
}

static bool num_cell(const struct ne_qcell *c, double *v)
{
    if (c->type == NE_QC_FLOAT || c->type == NE_QC_INT || c->type == NE_QC_UINT) {
        *v = query__cell_f(c);
        return true;
    }
    return false;
}

int query__tf_init(struct tf_state *s, const struct column *c)
{
    memset(s, 0, sizeof *s);
    if (c->tf == T_MAVG) {
        s->win = ne_calloc((size_t)c->tf_n, sizeof *s->win);
        if (!s->win)
            return NE_ENOMEM;
    }
    return 0;
}

void query__tf_free(struct tf_state *s)
{
    ne_free(s->win);
    memset(s, 0, sizeof *s);
}

/* The transformation of value v (the cell's number) at time t; s advances. */
static struct ne_qcell tf_step(struct tf_state *s, const struct column *c, int64_t unit,
                               const struct ne_qcell *cell, double v, int64_t t)
{
    struct ne_qcell out = {.type = NE_QC_NULL};
    switch (c->tf) {
    case T_DERIV:
    case T_NNDERIV:
        if (s->have_prev && t != s->prev_t) {
            /* backwards in time (ORDER BY time DESC) the elapsed time
             * counts from the point to its predecessor, as in InfluxDB */
            int64_t el = s->desc ? s->prev_t - t : t - s->prev_t;
            double d = (v - s->prev) / ((double)el / (double)unit);
            if (c->tf == T_DERIV || d >= 0)
                out = query__fcell(d);
        }
        break;
    case T_DIFF:
    case T_NNDIFF:
        if (s->have_prev) {
            if (cell->type == NE_QC_INT) {
                out.type = NE_QC_INT;
                out.v.i = cell->v.i - (int64_t)s->prev;
                if (c->tf == T_NNDIFF && out.v.i < 0)
                    out.type = NE_QC_NULL;
            } else {
                double d = v - s->prev;
                if (c->tf == T_DIFF || d >= 0)
                    out = query__fcell(d);
            }
        }
        break;
    case T_MAVG:
        if (s->wn == (size_t)c->tf_n)
            s->wsum -= s->win[s->wpos];
        else
            s->wn++;
        s->win[s->wpos] = v;
        s->wsum += v;
        s->wpos = (s->wpos + 1) % (size_t)c->tf_n;
        if (s->wn == (size_t)c->tf_n)
            out = query__fcell(s->wsum / (double)s->wn);
        break;
    case T_CUMSUM:
        s->cum += v;
        if (cell->type == NE_QC_INT) {
            out.type = NE_QC_INT;
            out.v.i = (int64_t)s->cum;
        } else {
            out = query__fcell(s->cum);
        }
        break;
    default:
        out = *cell;
    }
    s->prev = v;
    s->prev_t = t;
    s->have_prev = true;
    return out;
}

/* Transforms column col of g's rows, from the last row back when
 * backwards, continuing from s. */
static void tf_run(struct tf_state *s, struct group_out *g, size_t col, const struct column *c,
                   int64_t group_interval, bool backwards)
{
    int64_t unit = c->tf_unit;
    if (group_interval && !c->tf_unit_given && c->expr && query__has_call(c->expr))
        unit = group_interval; /* derivative of an aggregate: per interval */
    for (size_t k = 0; k < g->n; k++) {
        struct outrow *r = &g->rows[backwards ? g->n - 1 - k : k];
        struct ne_qcell *cell = &r->cells[col];
        double v;
        if (!num_cell(cell, &v)) {
            cell->type = NE_QC_NULL;
            continue;
        }
        *cell = tf_step(s, c, unit, cell, v, r->t);
    }
}

void query__tf_apply(struct tf_state *s, struct group_out *g, size_t col, const struct column *c,
                     int64_t group_interval)
{
    tf_run(s, g, col, c, group_interval, false);
}

int query__apply_transform(struct group_out *g, size_t col, const struct column *c,
                           int64_t group_interval, bool desc)
{
    struct tf_state s;
    int rc = query__tf_init(&s, c);
    if (rc == 0) {
        s.desc = desc;
        tf_run(&s, g, col, c, group_interval, desc);
    }
    query__tf_free(&s);
    return rc;
}

void query__apply_fill(struct group_out *g, const struct ne_iql_stmt *st, const bool *empty)
{
    /* fill(previous) takes the bucket before in the answer's order: the
     * later one under ORDER BY time DESC, as InfluxDB does */
    bool back = st->fill == NE_FILL_PREVIOUS && st->order_desc;
    for (size_t c = 0; c < g->ncols; c++) {
        struct ne_qcell prev = {.type = NE_QC_NULL};
        for (size_t k = 0; k < g->n; k++) {
            size_t i = back ? g->n - 1 - k : k;
            struct ne_qcell *cell = &g->rows[i].cells[c];
            if (cell->type != NE_QC_NULL) {
                prev = *cell;
                continue;
            }
            if (!empty[i])
                continue;
            if (st->fill == NE_FILL_VALUE) {
                if (st->fill_value_is_int) {
                    cell->type = NE_QC_INT;
                    cell->v.i = (int64_t)st->fill_value;
                } else {
                    *cell = query__fcell(st->fill_value);
                }
            } else if (st->fill == NE_FILL_PREVIOUS) {
                *cell = prev;
            } else if (st->fill == NE_FILL_LINEAR) {
                double a, b;
                size_t j = i + 1;
                while (j < g->n && g->rows[j].cells[c].type == NE_QC_NULL)
                    j++;
                if (j < g->n && i > 0 && num_cell(&prev, &a) &&
                    num_cell(&g->rows[j].cells[c], &b)) {
                    int64_t t0 = 0;
                    for (size_t h = i; h-- > 0;)
                        if (g->rows[h].cells[c].type != NE_QC_NULL) {
                            t0 = g->rows[h].t;
                            break;
                        }
                    double frac = (double)(g->rows[i].t - t0) / (double)(g->rows[j].t - t0);
                    double v = a + (b - a) * frac;
                    if (prev.type == NE_QC_INT && g->rows[j].cells[c].type == NE_QC_INT) {
                        cell->type = NE_QC_INT;
                        cell->v.i = (int64_t)v;
                    } else {
                        *cell = query__fcell(v);
                    }
                }
            }
        }
    }
}

/* Writes one group's rows as a result series. */
int query__emit_group(struct qexec *x, const struct ne_iql_stmt *st, const struct plan *p,
                      const char *meas, const struct ne_tag *tags, size_t ntags,
                      struct group_out *g, int64_t emit_from)
{
    bool any_tf = false;
    for (size_t c = 0; c < p->ncols; c++)
        any_tf |= p->cols[c].tf != T_NONE;
    const char *cols[MAX_COLS + 1];
    cols[0] = "time";
    for (size_t c = 0; c < p->ncols; c++)
        cols[c + 1] = p->cols[c].name;
    size_t off = st->offset > 0 ? (size_t)st->offset : 0;
    size_t lim = st->limit > 0 ? (size_t)st->limit : SIZE_MAX;
    size_t emitted = 0, skipped = 0;
    bool begun = false;
    struct ne_qcell row[MAX_COLS + 1];
    for (size_t k = 0; k < g->n && emitted < lim; k++) {
        size_t i = st->order_desc ? g->n - 1 - k : k;
        if (g->rows[i].t < emit_from)
            continue;
        if (any_tf) {
            bool all_null = true;
            for (size_t c = 0; c < p->ncols; c++)
                all_null &= g->rows[i].cells[c].type == NE_QC_NULL;
            if (all_null)
                continue;
        }
        if (skipped < off) {
            skipped++;
            continue;
        }
        if (!begun) {
            int rc = query__begin_series(x, meas, tags, ntags, cols, p->ncols + 1);
            if (rc)
                return rc;
            begun = true;
        }
        row[0].type = NE_QC_TIME;
        row[0].v.i = g->rows[i].t;
        memcpy(row + 1, g->rows[i].cells, p->ncols * sizeof *row);
        int rc = query__row(x, row, p->ncols + 1);
        if (rc)
            return rc;
        emitted++;
    }
    return begun ? query__end_series(x) : 0;
}
