/*
 * engine_util.h - helpers shared by the store engine tests: building
 * batches, collecting scan results into flat arrays, temp directories.
 */
#ifndef NE_TESTS_ENGINE_UTIL_H
#define NE_TESTS_ENGINE_UTIL_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/platform.h"
#include "store/point.h"
#include "store/store.h"

/* Base of test timestamps: 2026-01-01T00:00:00Z. */
#define EU_T0  1767225600000000000LL
#define EU_SEC 1000000000LL

/* Adds one point meas,tag=tagval field=value (float) at ts. */
static inline void eu_point_f(struct ne_batch *b, const char *meas, const char *tag,
                              const char *tagval, const char *field, int64_t ts, double v)
{
    ne_batch_begin(b, ne_sv_c(meas), ts);
    if (tag) ne_batch_tag(b, ne_sv_c(tag), ne_sv_c(tagval));
    ne_batch_field_f(b, ne_sv_c(field), v);
    ne_batch_end(b);
}

static inline void eu_point_i(struct ne_batch *b, const char *meas, const char *tag,
                              const char *tagval, const char *field, int64_t ts, int64_t v)
{
    union ne_value u = {.i = v};
    ne_batch_begin(b, ne_sv_c(meas), ts);
    if (tag) ne_batch_tag(b, ne_sv_c(tag), ne_sv_c(tagval));
    ne_batch_field(b, ne_sv_c(field), NE_V_INT, u);
    ne_batch_end(b);
}

/* Everything one scan returned, flattened. */
struct eu_rows {
    size_t n, cap;
    uint64_t *sid;
    int64_t *ts;
    double *f;     /* float/int/uint/bool values as double */
    char **s;      /* string values (owned) or NULL */
    char **tagval; /* first tag value of the series (owned) or NULL */
    unsigned chunks;
};

static inline int eu_collect(void *ctx, const struct ne_scan_chunk *c)
{
    struct eu_rows *r = ctx;
    r->chunks++;
    for (size_t i = 1; i < c->n; i++)
        if (c->ts[i] <= c->ts[i - 1]) return -12345; /* not sorted/unique: the caller checks */
    if (r->n + c->n > r->cap) {
        size_t nc = (r->n + c->n) * 2;
        r->sid = realloc(r->sid, nc * sizeof *r->sid);
        r->ts = realloc(r->ts, nc * sizeof *r->ts);
        r->f = realloc(r->f, nc * sizeof *r->f);
        r->s = realloc(r->s, nc * sizeof *r->s);
        r->tagval = realloc(r->tagval, nc * sizeof *r->tagval);
        r->cap = nc;
    }
    for (size_t i = 0; i < c->n; i++) {
        size_t k = r->n++;
        r->sid[k] = c->series->id;
        r->ts[k] = c->ts[i];
        r->s[k] = NULL;
        r->tagval[k] = c->series->ntags ? strdup(c->series->tags[0].val.p) : NULL;
        switch (c->type) {
        case NE_V_FLOAT:
            r->f[k] = c->v.f[i];
            break;
        case NE_V_INT:
            r->f[k] = (double)c->v.i[i];
            break;
        case NE_V_UINT:
            r->f[k] = (double)c->v.u[i];
            break;
        case NE_V_BOOL:
            r->f[k] = c->v.b[i];
            break;
        default:
            r->f[k] = 0;
            r->s[k] = strndup(c->v.s[i].p, c->v.s[i].n);
            break;
        }
    }
    return 0;
}

static inline void eu_rows_free(struct eu_rows *r)
{
    for (size_t i = 0; i < r->n; i++) {
        free(r->s[i]);
        free(r->tagval[i]);
    }
    free(r->sid);
    free(r->ts);
    free(r->f);
    free(r->s);
    free(r->tagval);
    memset(r, 0, sizeof *r);
}

/* Scans db/meas/field over all time into r (reset first). */
static inline int eu_scan(struct ne_store *s, const char *db, const char *meas, const char *field,
                          struct eu_rows *r)
{
    eu_rows_free(r);
    struct ne_store_scan_req q = {
        .db = db, .measurement = meas, .field = field, .t0 = INT64_MIN, .t1 = INT64_MAX};
    return ne_store_scan(s, &q, eu_collect, r);
}

/* Options for a test store in dir: sync durability, small memtable. */
static inline void eu_opts(struct ne_store_opts *o, const char *dir)
{
    ne_store_opts_default(o);
    o->data_dir = dir;
    o->durability = NE_STORE_SYNC;
    o->future_grace_ns = 0;
    o->memtable_max_age_ns = 0;
}

/* Opens the store of o; NULL when it cannot (the caller closes it). */
static inline struct ne_store *eu_open(const struct ne_store_opts *o)
{
    struct ne_store *s = NULL;
    return ne_store_open(o, &s) == 0 ? s : NULL;
}

/* eu_opts for dir, then eu_open: the usual test store, o kept for a
 * reopen. NULL when it cannot open (the caller closes it). */
static inline struct ne_store *eu_open_new(struct ne_store_opts *o, const char *dir)
{
    eu_opts(o, dir);
    return eu_open(o);
}

static inline void eu_rmtree(const char *dir)
{
    ne_fs_remove_tree(dir);
}

#endif
