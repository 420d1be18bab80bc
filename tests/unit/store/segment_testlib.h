/*
 * segment_testlib.h - shared helpers of the segment unit tests: a
 * deterministic generator of columns of every type (with the awkward
 * values: NaN, +-Inf, -0.0, integer extremes, empty strings), writing them
 * as a segment, and reading a whole column back through the public API.
 */
#ifndef NE_TESTS_SEGMENT_TESTLIB_H
#define NE_TESTS_SEGMENT_TESTLIB_H

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/platform.h"
#include "store/segment/segment.h"

static uint64_t tl_rng = 88172645463325252ull;

static inline uint64_t tl_rand(void)
{
    tl_rng ^= tl_rng << 13;
    tl_rng ^= tl_rng >> 7;
    tl_rng ^= tl_rng << 17;
    return tl_rng;
}

/* One column held in memory, as plain arrays. */
struct tl_col {
    uint64_t sid;
    char field[24];
    uint8_t type;
    uint32_t db;
    uint32_t n;
    int64_t *ts;
    double *f;
    int64_t *i;
    uint64_t *u;
    bool *b;
    struct ne_sv *s;
    char *sbuf; /* bytes of the strings */
};

static inline struct ne_seg_colkey tl_key(const struct tl_col *c)
{
    struct ne_seg_colkey k = {c->sid, ne_sv_c(c->field), c->type, c->db};
    return k;
}

static inline const void *tl_vals(const struct tl_col *c)
{
    switch (c->type) {
    case NE_V_FLOAT:
        return c->f;
    case NE_V_INT:
        return c->i;
    case NE_V_UINT:
        return c->u;
    case NE_V_BOOL:
        return c->b;
    default:
        return c->s;
    }
}

static inline double tl_float(uint32_t k)
{
    switch (tl_rand() % 97) {
    case 0:
        return NAN;
    case 1:
        return INFINITY;
    case 2:
        return -INFINITY;
    case 3:
        return -0.0;
    default:
        return 20.0 + (double)(int64_t)(tl_rand() % 2001 - 1000) / 100.0 + (double)(k % 7);
    }
}

static inline int64_t tl_int(uint32_t k)
{
    switch (tl_rand() % 53) {
    case 0:
        return INT64_MIN;
    case 1:
        return INT64_MAX;
    default:
        return 100 - (int64_t)(k / 10) + (int64_t)(tl_rand() % 3);
    }
}

/* Fills c with n points of type starting at t0, step dt (+ jitter). */
static inline void tl_fill(struct tl_col *c, uint64_t sid, const char *field, uint8_t type,
                           uint32_t n, int64_t t0, int64_t dt)
{
    memset(c, 0, sizeof *c);
    c->sid = sid;
    snprintf(c->field, sizeof c->field, "%s", field);
    c->type = type;
    c->n = n;
    c->ts = calloc(n + 1, sizeof *c->ts);
    c->f = calloc(n + 1, sizeof *c->f);
    c->i = calloc(n + 1, sizeof *c->i);
    c->u = calloc(n + 1, sizeof *c->u);
    c->b = calloc(n + 1, sizeof *c->b);
    c->s = calloc(n + 1, sizeof *c->s);
    c->sbuf = calloc((size_t)n * 12 + 1, 1);
    int64_t t = t0;
    size_t so = 0;
    for (uint32_t k = 0; k < n; k++) {
        t += dt + (tl_rand() % 5 == 0 ? (int64_t)(tl_rand() % 1000) + 1 : 0);
        c->ts[k] = t;
        c->f[k] = tl_float(k);
        c->i[k] = tl_int(k);
        c->u[k] = (tl_rand() % 41 == 0) ? UINT64_MAX : 1000 + k;
        c->b[k] = (tl_rand() % 10) < 3;
        uint32_t len = (uint32_t)(tl_rand() % 11); /* 0..10, empty included */
        const char *words = k % 3 ? "okwarnokerr" : "xyz-\x01\xff-abc";
        memcpy(c->sbuf + so, words, len);
        c->s[k].p = c->sbuf + so;
        c->s[k].n = len;
        so += len;
    }
}

static inline void tl_free(struct tl_col *c)
{
    free(c->ts);
    free(c->f);
    free(c->i);
    free(c->u);
    free(c->b);
    free(c->s);
    free(c->sbuf);
    memset(c, 0, sizeof *c);
}

/* Bitwise equality of value k of a and value j of b (same type). */
static inline bool tl_val_eq(const struct tl_col *a, uint32_t k, uint8_t type, const void *vals,
                             uint32_t j)
{
    switch (type) {
    case NE_V_FLOAT:
        return memcmp(&a->f[k], (const double *)vals + j, 8) == 0;
    case NE_V_INT:
        return a->i[k] == ((const int64_t *)vals)[j];
    case NE_V_UINT:
        return a->u[k] == ((const uint64_t *)vals)[j];
    case NE_V_BOOL:
        return a->b[k] == ((const bool *)vals)[j];
    default: {
        const struct ne_sv *s = (const struct ne_sv *)vals + j;
        return s->n == a->s[k].n && (s->n == 0 || memcmp(s->p, a->s[k].p, s->n) == 0);
    }
    }
}

/* Opens segment id of dir; NULL when it cannot (the caller's check fails). */
static inline struct ne_seg *tl_open(const char *dir, uint64_t id)
{
    char path[512];
    struct ne_seg *r = NULL;
    if (ne_seg_path(path, sizeof path, dir, id) == 0)
        ne_seg_open(path, &r);
    return r;
}

/* Writes cols (in key order) as segment id in dir. */
static inline int tl_write(const char *dir, uint64_t id, struct tl_col *cols, size_t n,
                           const struct ne_segw_opts *o, struct ne_seg_info *info)
{
    struct ne_segw *w;
    int rc = ne_segw_open(dir, id, o, &w);
    if (rc)
        return rc;
    for (size_t k = 0; k < n && !rc; k++) {
        struct ne_seg_colkey key = tl_key(&cols[k]);
        rc = ne_segw_add_column(w, &key, cols[k].ts, tl_vals(&cols[k]), cols[k].n);
    }
    if (rc) {
        ne_segw_abort(&w);
        return rc;
    }
    return ne_segw_finish(&w, info);
}

/* Appends value j of a decoded block to out (strings copied into the
 * growing out->sbuf; their views are fixed up by tl_read_col). */
static inline void tl_push(struct tl_col *out, const struct ne_seg_block *blk, uint32_t j,
                           size_t *sused, size_t *scap, uint64_t *soff)
{
    uint32_t k = out->n++;
    out->ts[k] = blk->ts[j];
    switch (blk->type) {
    case NE_V_FLOAT:
        out->f[k] = blk->v.f[j];
        break;
    case NE_V_INT:
        out->i[k] = blk->v.i[j];
        break;
    case NE_V_UINT:
        out->u[k] = blk->v.u[j];
        break;
    case NE_V_BOOL:
        out->b[k] = blk->v.b[j];
        break;
    default: {
        uint32_t len = blk->v.s[j].n;
        while (*sused + len + 1 > *scap) {
            *scap = *scap ? *scap * 2 : 256;
            out->sbuf = realloc(out->sbuf, *scap);
        }
        if (len)
            memcpy(out->sbuf + *sused, blk->v.s[j].p, len);
        soff[k] = *sused;
        out->s[k].n = len;
        *sused += len;
    }
    }
}

/* Reads column idx of r completely into out (tl_free it). Returns 0 or the
 * first read error. */
static inline int tl_read_col(const struct ne_seg *r, uint32_t idx, struct tl_col *out)
{
    const struct ne_seg_col *c = ne_seg_col(r, idx);
    if (!c)
        return NE_EINVAL;
    memset(out, 0, sizeof *out);
    out->sid = c->key.series_id;
    snprintf(out->field, sizeof out->field, "%.*s", (int)c->key.field.n, c->key.field.p);
    out->type = c->key.type;
    out->db = c->key.db;
    uint64_t n = c->npoints;
    out->ts = calloc(n + 1, 8);
    out->f = calloc(n + 1, 8);
    out->i = calloc(n + 1, 8);
    out->u = calloc(n + 1, 8);
    out->b = calloc(n + 1, 1);
    out->s = calloc(n + 1, sizeof(struct ne_sv));
    uint64_t *soff = calloc(n + 1, 8);
    size_t sused = 0, scap = 0;
    struct ne_seg_block blk;
    ne_seg_block_init(&blk);
    int rc = 0;
    for (uint32_t b = 0; b < c->nblocks && !rc; b++) {
        rc = ne_seg_block_read(r, idx, b, &blk);
        for (uint32_t j = 0; !rc && j < blk.n && out->n < n; j++)
            tl_push(out, &blk, j, &sused, &scap, soff);
    }
    ne_seg_block_free(&blk);
    for (uint32_t k = 0; k < out->n && c->key.type == NE_V_STRING; k++)
        out->s[k].p = out->sbuf + soff[k];
    free(soff);
    return rc;
}

struct tl_suffix_ctx {
    const char *suf;
    int n;
};

static inline int tl_suffix_fn(void *ctx, const char *name, bool is_dir)
{
    struct tl_suffix_ctx *c = ctx;
    size_t a = strlen(name), b = strlen(c->suf);
    if (!is_dir && a >= b && strcmp(name + a - b, c->suf) == 0)
        c->n++;
    return 0;
}

/* Counts files in dir whose name ends with suffix. */
static inline int tl_count_suffix(const char *dir, const char *suffix)
{
    struct tl_suffix_ctx c = {suffix, 0};
    if (ne_fs_list_dir(dir, tl_suffix_fn, &c))
        return -1;
    return c.n;
}

#endif
