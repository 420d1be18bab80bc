/*
 * parquet_writer_test.c - the streaming Parquet writer, checked by reading
 * its files back with the independent test reader (parquet_test_read.h +
 * libzstd): every value of every kind (nulls, empty and non-ASCII strings,
 * NaN/Inf/-0.0, extreme integers) across several row groups and pages, the
 * footer (schema, logical types, key/value metadata, statistics, encodings),
 * page CRCs, byte-identical output for any batching, dictionary fallback,
 * row groups by size, and failures: bad input, sink errors, allocation
 * failures at every point.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <zstd.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sync/parquet/encode.h"
#include "sync/parquet/parquet.h"
#include "t.h"
#include "parquet_test_read.h"

/* ---- memory sink ------------------------------------------------------- */

struct msink {
    uint8_t *p;
    size_t len, cap;
    int calls;
    int fail_at; /* 1-based call that fails, 0 = never */
};

static int msink_write(void *ctx, const void *buf, size_t n)
{
    struct msink *s = ctx;
    if (++s->calls == s->fail_at) return NE_EIO;
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n)
            cap *= 2;
        s->p = realloc(s->p, cap);
        s->cap = cap;
    }
    memcpy(s->p + s->len, buf, n);
    s->len += n;
    return 0;
}

/* ---- test data ----------------------------------------------------------- */

static uint64_t seed = 0x1234567887654321ull;
static uint64_t rnd(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
}

static const char *const words[] = {"",         "a",  "grüße", "日本語",
                                    "🚀 launch", "zz", "Ärger", "tab\tx"};
#define NW (sizeof(words) / sizeof(words[0]))

enum { NC = 7 };
static const struct ne_pq_column cols[NC] = {
    {"time", NE_PQ_TIME}, {"host", NE_PQ_TAG},    {"temp", NE_PQ_DOUBLE}, {"count", NE_PQ_INT64},
    {"ok", NE_PQ_BOOL},   {"note", NE_PQ_STRING}, {"région", NE_PQ_TAG},
};

struct data {
    size_t n;
    int64_t *t, *i;
    double *d;
    uint8_t *b;
    struct ne_pq_bytes *host, *note, *reg;
    uint8_t *valid[NC];
    struct ne_pq_values v[NC];
};

static void data_make(struct data *x, size_t n)
{
    memset(x, 0, sizeof(*x));
    x->n = n;
    x->t = calloc(n + 1, 8);
    x->i = calloc(n + 1, 8);
    x->d = calloc(n + 1, 8);
    x->b = calloc(n + 1, 1);
    x->host = calloc(n + 1, sizeof(*x->host));
    x->note = calloc(n + 1, sizeof(*x->note));
    x->reg = calloc(n + 1, sizeof(*x->reg));
    static char hosts[50][16];
    for (int h = 0; h < 50; h++)
        snprintf(hosts[h], sizeof(hosts[h]), "host-%02d", h);
    for (size_t r = 0; r < n; r++) {
        x->t[r] = 1767225600000000000ll + (int64_t)r * 1000000 + (int64_t)(rnd() % 999);
        const char *h = hosts[rnd() % 50];
        x->host[r] = (struct ne_pq_bytes){h, (uint32_t)strlen(h)};
        static const double sp[] = {
            NAN, INFINITY, -INFINITY, -0.0, 0.0, 5e-324, -1.7976931348623157e308};
        x->d[r] = rnd() % 8 == 0 ? sp[rnd() % 7] : ((double)(rnd() % 100000) - 50000) / 64;
        x->i[r] =
            rnd() % 50 == 0 ? (rnd() % 2 ? INT64_MIN : INT64_MAX) : (int64_t)(rnd() % 1000) - 500;
        x->b[r] = (uint8_t)(rnd() % 3);
        const char *w = words[rnd() % NW];
        x->note[r] = (struct ne_pq_bytes){w, (uint32_t)strlen(w)};
        w = words[rnd() % NW];
        x->reg[r] = (struct ne_pq_bytes){w, (uint32_t)strlen(w)};
    }
    for (int c = 1; c < NC; c++) {
        x->valid[c] = calloc(n / 8 + 1, 1);
        for (size_t r = 0; r < n; r++)
            if (rnd() % 100 >= (uint64_t)(c * 6)) x->valid[c][r / 8] |= (uint8_t)(1u << (r % 8));
        x->v[c].valid = x->valid[c];
    }
    x->v[0].v.i64 = x->t;
    x->v[1].v.str = x->host;
    x->v[2].v.f64 = x->d;
    x->v[3].v.i64 = x->i;
    x->v[4].v.b = x->b;
    x->v[5].v.str = x->note;
    x->v[6].v.str = x->reg;
}

static void data_free(struct data *x)
{
    free(x->t);
    free(x->i);
    free(x->d);
    free(x->b);
    free(x->host);
    free(x->note);
    free(x->reg);
    for (int c = 0; c < NC; c++)
        free(x->valid[c]);
}

static int present(const struct data *x, int c, size_t r)
{
    return !x->valid[c] || (x->valid[c][r / 8] >> (r % 8) & 1);
}

/* Writes rows [0, n) of x in batches of `batch` rows (a multiple of 8). */
static int write_data(const struct data *x, const struct ne_pq_opts *o, size_t batch,
                      struct msink *s)
{
    struct ne_pq_schema sc = {cols, NC};
    struct ne_pq_writer *w;
    int rc = ne_pq_open(&sc, o, msink_write, s, &w);
    if (rc) return rc;
    for (size_t at = 0; at < x->n && rc == 0; at += batch) {
        struct ne_pq_values v[NC];
        memcpy(v, x->v, sizeof(v));
        for (int c = 1; c < NC; c++)
            v[c].valid += at / 8;
        v[0].v.i64 += at;
        v[1].v.str += at;
        v[2].v.f64 += at;
        v[3].v.i64 += at;
        v[4].v.b += at;
        v[5].v.str += at;
        v[6].v.str += at;
        struct ne_pq_batch b = {x->n - at < batch ? x->n - at : batch, v};
        rc = ne_pq_write_rows(w, &b);
    }
    if (rc) {
        ne_pq_close(&w);
        return rc;
    }
    return ne_pq_close(&w);
}

/* ---- reading back ------------------------------------------------------ */

struct rcol { /* one column, all row groups concatenated */
    size_t n;
    uint8_t *present;
    int64_t *i64;
    double *f64;
    char **s;
    uint32_t *slen;
    int64_t nulls_stat; /* sum of chunk statistics null_count */
    int dict_pages, plain_pages;
};

struct rfile {
    struct tv meta;
    size_t ncols, nrg;
    int64_t rows;
    struct rcol c[NC];
    int bad_crc;
};

static void rcol_grow(struct rcol *c, size_t n)
{
    c->present = realloc(c->present, n);
    c->i64 = realloc(c->i64, n * 8);
    c->f64 = realloc(c->f64, n * 8);
    c->s = realloc(c->s, n * sizeof(char *));
    c->slen = realloc(c->slen, n * 4);
}

/* Decodes `nn` PLAIN values of physical type `type` into rows given by `rows`. */
static int plain_values(struct rd *r, int type, struct rcol *c, const size_t *rows, size_t nn)
{
    for (size_t k = 0; k < nn; k++) {
        size_t at = rows[k];
        if (type == 0) {
            if ((size_t)(r->end - r->p) < (nn + 7) / 8) return -1;
            for (size_t j = 0; j < nn; j++)
                c->i64[rows[j]] = r->p[j / 8] >> (j % 8) & 1;
            r->p += (nn + 7) / 8;
            return 0;
        }
        if (type == 2 || type == 5) {
            if (r->end - r->p < 8) return -1;
            memcpy(type == 2 ? (void *)&c->i64[at] : (void *)&c->f64[at], r->p, 8);
            r->p += 8;
        } else {
            uint32_t len = rd_le32(r);
            if (r->bad || (size_t)(r->end - r->p) < len) return -1;
            c->s[at] = (char *)r->p;
            c->slen[at] = len;
            r->p += len;
        }
    }
    return 0;
}

static int read_chunk(const uint8_t *f, size_t flen, const struct tv *cc, int optional,
                      struct rcol *c, int *bad_crc, uint8_t **keep, size_t *nkeep)
{
    const struct tv *md = tv_get(cc, 3);
    int type = (int)tv_int(md, 1, -1);
    int64_t nv = tv_int(md, 5, -1);
    int64_t off = tv_int(md, 11, tv_int(md, 9, -1));
    const struct tv *st = tv_get(md, 12);
    c->nulls_stat += tv_int(st, 3, -1000000);
    if (tv_int(md, 4, -1) != 6 || off < 4 || (size_t)off >= flen) return -1;
    char **dict = NULL;
    uint32_t *dlen = NULL;
    size_t ndict = 0;
    int64_t done = 0;
    struct rd pr = {f + off, f + flen, 0};
    while (done < nv) {
        struct tv h = {0};
        tv_read(&pr, 12, &h, 0);
        int64_t usz = tv_int(&h, 2, -1), csz = tv_int(&h, 3, -1);
        if (pr.bad || csz < 0 || usz < 0 || csz > pr.end - pr.p) {
            tv_free(&h);
            return -1;
        }
        if ((uint32_t)tv_int(&h, 4, 0) != pq__crc32(0, pr.p, (size_t)csz)) (*bad_crc)++;
        uint8_t *body = malloc((size_t)usz + 1);
        size_t got = ZSTD_decompress(body, (size_t)usz, pr.p, (size_t)csz);
        pr.p += csz;
        keep[(*nkeep)++] = body; /* strings point into it */
        if (ZSTD_isError(got) || got != (size_t)usz) {
            tv_free(&h);
            return -1;
        }
        struct rd br = {body, body + usz, 0};
        int ptype = (int)tv_int(&h, 1, -1);
        if (ptype == 2) { /* dictionary */
            const struct tv *dh = tv_get(&h, 7);
            ndict = (size_t)tv_int(dh, 1, 0);
            dict = calloc(ndict + 1, sizeof(*dict));
            dlen = calloc(ndict + 1, sizeof(*dlen));
            for (size_t k = 0; k < ndict; k++) {
                dlen[k] = (type == 2 || type == 5) ? 8 : rd_le32(&br);
                dict[k] = (char *)br.p;
                if ((size_t)(br.end - br.p) < dlen[k])
                    br.bad = 1;
                else
                    br.p += dlen[k];
            }
            tv_free(&h);
            if (br.bad || br.p != br.end) return -1;
            continue;
        }
        const struct tv *dp = tv_get(&h, 5);
        size_t n = (size_t)tv_int(dp, 1, 0);
        int enc = (int)tv_int(dp, 2, -1);
        tv_free(&h);
        size_t base = c->n;
        rcol_grow(c, base + n);
        uint32_t *lv = malloc((n + 1) * 4);
        if (optional) {
            uint32_t ll = rd_le32(&br);
            struct rd lr = {br.p, br.p + ll, 0};
            if (ll > (size_t)(br.end - br.p) || rle_decode(&lr, 1, lv, n) != 0) {
                free(lv);
                return -1;
            }
            br.p += ll;
        } else {
            for (size_t k = 0; k < n; k++)
                lv[k] = 1;
        }
        size_t *rows = malloc((n + 1) * sizeof(size_t)), nn = 0;
        for (size_t k = 0; k < n; k++) {
            c->present[base + k] = (uint8_t)lv[k];
            if (lv[k]) rows[nn++] = base + k;
        }
        free(lv);
        int rc = 0;
        if (enc == 5) {
            int64_t *tmp = malloc((nn + 1) * 8);
            size_t got2 = 0;
            rc = delta_decode(&br, tmp, nn, &got2);
            if (got2 != nn) rc = -1;
            for (size_t k = 0; k < nn && !rc; k++)
                c->i64[rows[k]] = tmp[k];
            free(tmp);
        } else if (enc == 8) {
            int bw = rd_byte(&br);
            uint32_t *ix = malloc((nn + 1) * 4);
            rc = rle_decode(&br, bw, ix, nn);
            for (size_t k = 0; k < nn && !rc; k++) {
                if (ix[k] >= ndict) {
                    rc = -1;
                    break;
                }
                c->s[rows[k]] = dict[ix[k]];
                c->slen[rows[k]] = dlen[ix[k]];
                if (type == 2)
                    memcpy(&c->i64[rows[k]], dict[ix[k]], 8);
                else if (type == 5)
                    memcpy(&c->f64[rows[k]], dict[ix[k]], 8);
            }
            free(ix);
            c->dict_pages++;
        } else if (enc == 0) {
            rc = plain_values(&br, type, c, rows, nn);
            c->plain_pages++;
        } else {
            rc = -1;
        }
        free(rows);
        if (rc || br.p != br.end) {
            free(dict);
            free(dlen);
            return -1;
        }
        c->n += n;
        done += (int64_t)n;
    }
    free(dict);
    free(dlen);
    return 0;
}

static uint8_t *bodies[100000];
static size_t nbodies;

static void rfile_free(struct rfile *rf)
{
    tv_free(&rf->meta);
    for (size_t i = 0; i < NC; i++) {
        free(rf->c[i].present);
        free(rf->c[i].i64);
        free(rf->c[i].f64);
        free(rf->c[i].s);
        free(rf->c[i].slen);
    }
    for (size_t i = 0; i < nbodies; i++)
        free(bodies[i]);
    nbodies = 0;
    memset(rf, 0, sizeof(*rf));
}

static int read_file_(const uint8_t *f, size_t len, struct rfile *rf)
{
    memset(rf, 0, sizeof(*rf));
    if (len < 12 || memcmp(f, "PAR1", 4) || memcmp(f + len - 4, "PAR1", 4)) return -1;
    uint32_t ml = (uint32_t)f[len - 8] | (uint32_t)f[len - 7] << 8 | (uint32_t)f[len - 6] << 16 |
                  (uint32_t)f[len - 5] << 24;
    if (ml > len - 12) return -1;
    struct rd r = {f + len - 8 - ml, f + len - 8, 0};
    tv_read(&r, 12, &rf->meta, 0);
    if (r.bad || r.p != r.end) return -1;
    rf->rows = tv_int(&rf->meta, 3, -1);
    const struct tv *rgs = tv_get(&rf->meta, 4);
    const struct tv *schema = tv_get(&rf->meta, 2);
    if (!rgs || !schema) return -1;
    rf->nrg = rgs->nkids;
    rf->ncols = schema->nkids - 1;
    for (size_t g = 0; g < rgs->nkids; g++) {
        const struct tv *ccs = tv_get(&rgs->kids[g], 1);
        if (!ccs || ccs->nkids != rf->ncols || rf->ncols > NC) return -1;
        for (size_t c = 0; c < ccs->nkids; c++)
            if (read_chunk(f, len, &ccs->kids[c], tv_int(&schema->kids[c + 1], 3, -1) == 1,
                           &rf->c[c], &rf->bad_crc, bodies, &nbodies))
                return -1;
    }
    return 0;
}

/* Parses the footer and decodes every chunk. 0, or -1 (rf released). */
static int read_file(const uint8_t *f, size_t len, struct rfile *rf)
{
    int rc = read_file_(f, len, rf);
    if (rc) rfile_free(rf);
    return rc;
}

static int bytes_eq(const char *a, uint32_t an, const char *b, uint32_t bn)
{
    return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* ---- tests ------------------------------------------------------------- */

static void test_roundtrip_all_kinds(void)
{
    struct data x;
    data_make(&x, 25003);
    struct msink s = {0};
    struct ne_pq_kv kv[] = {{"neoedge.node", "gw-7"}, {"neoedge.segment", NULL}};
    struct ne_pq_opts o = {.row_group_rows = 10000, .page_rows = 1000, .kv = kv, .nkv = 2};
    T_OK(write_data(&x, &o, 4096, &s));
    struct rfile rf;
    int rc = read_file(s.p, s.len, &rf);
    T_EQ_INT(rc, 0);
    T_EQ_INT(rf.rows, 25003);
    T_EQ_INT(rf.nrg, 3);
    T_EQ_INT(rf.ncols, NC);
    T_EQ_INT(rf.bad_crc, 0);
    for (int c = 0; c < NC; c++) {
        T_EQ_INT(rf.c[c].n, x.n);
        int64_t nulls = 0;
        for (size_t r = 0; r < x.n; r++) {
            int p = present(&x, c, r);
            nulls += !p;
            if (rf.c[c].present[r] != p)
                T_FAIL_("column %d row %zu: presence %d != %d", c, r, rf.c[c].present[r], p);
            if (!p) continue;
            const struct rcol *rc2 = &rf.c[c];
            int ok = 1;
            switch (cols[c].kind) {
            case NE_PQ_TIME:
                ok = rc2->i64[r] == x.t[r];
                break;
            case NE_PQ_INT64:
                ok = rc2->i64[r] == x.i[r];
                break;
            case NE_PQ_BOOL:
                ok = rc2->i64[r] == (x.b[r] != 0);
                break;
            case NE_PQ_DOUBLE:
                ok = memcmp(&rc2->f64[r], &x.d[r], 8) == 0;
                break;
            default: {
                const struct ne_pq_bytes *v = c == 1 ? x.host : c == 5 ? x.note : x.reg;
                ok = bytes_eq(rc2->s[r], rc2->slen[r], v[r].ptr, v[r].len);
            }
            }
            if (!ok) T_FAIL_("column %d row %zu differs", c, r);
        }
        T_EQ_INT(rf.c[c].nulls_stat, nulls);
    }
    /* tag columns are dictionary-encoded on every page */
    T_CHECK(rf.c[1].dict_pages > 0 && rf.c[1].plain_pages == 0);
    T_CHECK(rf.c[2].dict_pages > 0 && rf.c[3].dict_pages > 0); /* doubles, int64 */

    /* footer: schema, logical types, metadata */
    const struct tv *schema = tv_get(&rf.meta, 2);
    const struct tv *tm = &schema->kids[1];
    T_EQ_INT(tv_int(tm, 1, -1), 2); /* INT64 */
    T_EQ_INT(tv_int(tm, 3, -1), 0); /* REQUIRED */
    T_CHECK(tv_get(tm, 6) == NULL); /* no converted type for nanos */
    const struct tv *ts = tv_get(tv_get(tm, 10), 8);
    T_CHECK(ts != NULL);
    T_EQ_INT(tv_int(ts, 1, 0), 1);             /* isAdjustedToUTC */
    T_CHECK(tv_get(tv_get(ts, 2), 3) != NULL); /* NANOS */
    const struct tv *host = &schema->kids[2];
    T_EQ_INT(tv_int(host, 1, -1), 6);
    T_EQ_INT(tv_int(host, 3, -1), 1);
    T_EQ_INT(tv_int(host, 6, -1), 0);             /* UTF8 */
    T_CHECK(tv_get(tv_get(host, 10), 1) != NULL); /* STRING */
    const struct tv *kvl = tv_get(&rf.meta, 5);
    T_EQ_INT(kvl->nkids, 2);
    T_CHECK(bytes_eq((const char *)tv_get(&kvl->kids[0], 2)->bin,
                     (uint32_t)tv_get(&kvl->kids[0], 2)->len, "gw-7", 4));
    T_CHECK(tv_get(&kvl->kids[1], 2) == NULL);
    const struct tv *cb = tv_get(&rf.meta, 6);
    T_CHECK(bytes_eq((const char *)cb->bin, (uint32_t)cb->len, ne_pq_created_by(),
                     (uint32_t)strlen(ne_pq_created_by())));
    T_EQ_INT(tv_get(&rf.meta, 7)->nkids, NC);

    /* per-chunk int64 statistics match the rows of that row group */
    const struct tv *rgs = tv_get(&rf.meta, 4);
    size_t first = 0;
    for (size_t g = 0; g < rgs->nkids; g++) {
        size_t nr = (size_t)tv_int(&rgs->kids[g], 3, 0);
        const struct tv *st = tv_get(tv_get(&tv_get(&rgs->kids[g], 1)->kids[3], 3), 12);
        int64_t mn = INT64_MAX, mx = INT64_MIN;
        for (size_t r = first; r < first + nr; r++)
            if (present(&x, 3, r)) {
                mn = x.i[r] < mn ? x.i[r] : mn;
                mx = x.i[r] > mx ? x.i[r] : mx;
            }
        int64_t smn, smx;
        memcpy(&smn, tv_get(st, 6)->bin, 8);
        memcpy(&smx, tv_get(st, 5)->bin, 8);
        T_EQ_INT(smn, mn);
        T_EQ_INT(smx, mx);
        T_CHECK(tv_get(st, 1) && tv_get(st, 2)); /* legacy min/max for INT64 */
        first += nr;
    }
    T_EQ_INT(first, x.n);
    rfile_free(&rf);
    free(s.p);
    data_free(&x);
}

static void test_deterministic_for_any_batching(void)
{
    struct data x;
    data_make(&x, 6000);
    struct ne_pq_opts o = {.row_group_rows = 2500, .page_rows = 300};
    struct msink a = {0}, b = {0}, c = {0};
    T_OK(write_data(&x, &o, 6000, &a));
    T_OK(write_data(&x, &o, 8, &b));
    T_OK(write_data(&x, &o, 1000, &c));
    T_EQ_INT(a.len, b.len);
    T_EQ_INT(a.len, c.len);
    T_CHECK(memcmp(a.p, b.p, a.len) == 0);
    T_CHECK(memcmp(a.p, c.p, a.len) == 0);
    free(a.p);
    free(b.p);
    free(c.p);
    data_free(&x);
}

/* A one-column file of doubles; returns the chunk statistics struct. */
static int write_doubles_opts(const double *v, size_t n, const struct ne_pq_opts *o,
                              struct msink *s)
{
    struct ne_pq_column c = {"v", NE_PQ_DOUBLE};
    struct ne_pq_schema sc = {&c, 1};
    struct ne_pq_writer *w;
    int rc = ne_pq_open(&sc, o, msink_write, s, &w);
    if (rc) return rc;
    struct ne_pq_values vals = {.v.f64 = v};
    struct ne_pq_batch b = {n, &vals};
    rc = ne_pq_write_rows(w, &b);
    int rc2 = ne_pq_close(&w);
    return rc ? rc : rc2;
}

static int write_doubles(const double *v, size_t n, struct msink *s)
{
    return write_doubles_opts(v, n, NULL, s);
}

static const struct tv *first_stats(const struct tv *meta)
{
    const struct tv *rg = &tv_get(meta, 4)->kids[0];
    return tv_get(tv_get(&tv_get(rg, 1)->kids[0], 3), 12);
}

static void test_double_statistics(void)
{
    struct msink s = {0};
    struct rfile rf;
    double d;
    const double zeros[] = {0.0, NAN, 0.0};
    T_OK(write_doubles(zeros, 3, &s));
    T_EQ_INT(read_file(s.p, s.len, &rf), 0);
    const struct tv *st = first_stats(&rf.meta);
    memcpy(&d, tv_get(st, 6)->bin, 8);
    T_CHECK(d == 0 && signbit(d)); /* min of zeros is written as -0.0 */
    memcpy(&d, tv_get(st, 5)->bin, 8);
    T_CHECK(d == 0 && !signbit(d));
    T_CHECK(isnan(rf.c[0].f64[1]));
    rfile_free(&rf);
    free(s.p);

    memset(&s, 0, sizeof(s));
    const double nans[] = {NAN, NAN};
    T_OK(write_doubles(nans, 2, &s));
    T_EQ_INT(read_file(s.p, s.len, &rf), 0);
    st = first_stats(&rf.meta);
    T_CHECK(tv_get(st, 5) == NULL && tv_get(st, 6) == NULL); /* NaN has no order */
    T_EQ_INT(tv_int(st, 3, -1), 0);
    rfile_free(&rf);
    free(s.p);

    memset(&s, 0, sizeof(s));
    const double mixed[] = {NAN, -INFINITY, 3.5, INFINITY, -0.0};
    T_OK(write_doubles(mixed, 5, &s));
    T_EQ_INT(read_file(s.p, s.len, &rf), 0);
    st = first_stats(&rf.meta);
    memcpy(&d, tv_get(st, 6)->bin, 8);
    T_CHECK(isinf(d) && d < 0);
    memcpy(&d, tv_get(st, 5)->bin, 8);
    T_CHECK(isinf(d) && d > 0);
    rfile_free(&rf);
    free(s.p);
}

static void test_double_dictionary_fallback(void)
{
    enum { N = 3000 };
    double *v = malloc(N * sizeof(*v));
    for (size_t r = 0; r < N; r++)
        v[r] = r % 3 ? (double)(r % 7) : (double)rnd() / 3.0; /* repeats, then unique */
    v[5] = -0.0;
    v[6] = 0.0;
    v[9] = NAN;
    struct ne_pq_opts o = {.dict_bytes = 2048, .page_rows = 256};
    struct msink s = {0};
    T_OK(write_doubles_opts(v, N, &o, &s));
    struct rfile rf;
    T_EQ_INT(read_file(s.p, s.len, &rf), 0);
    T_CHECK(rf.c[0].dict_pages >= 1 && rf.c[0].plain_pages >= 1);
    for (size_t r = 0; r < N; r++)
        if (memcmp(&rf.c[0].f64[r], &v[r], 8) != 0) T_FAIL_("row %zu differs", r);
    rfile_free(&rf);
    free(s.p);
    free(v);
}

/* A chunk whose first page is nearly all distinct values is PLAIN from the
 * start (no dictionary page); one with repeats keeps its dictionary. */
static void test_distinct_values_skip_dictionary(void)
{
    enum { N = 6000 };
    double *v = malloc(N * sizeof(*v));
    for (size_t r = 0; r < N; r++)
        v[r] = (double)rnd() / 7.0;
    struct ne_pq_opts o = {.page_rows = 2000};
    struct msink s = {0};
    T_OK(write_doubles_opts(v, N, &o, &s));
    struct rfile rf;
    T_EQ_INT(read_file(s.p, s.len, &rf), 0);
    T_EQ_INT(rf.c[0].dict_pages, 0);
    T_CHECK(rf.c[0].plain_pages >= 3);
    for (size_t r = 0; r < N; r++)
        if (memcmp(&rf.c[0].f64[r], &v[r], 8) != 0) T_FAIL_("row %zu differs", r);
    rfile_free(&rf);
    free(s.p);
    /* half the values repeat: the dictionary stays */
    for (size_t r = 0; r < N; r++)
        v[r] = r % 2 ? (double)(r % 10) : (double)rnd() / 7.0;
    memset(&s, 0, sizeof s);
    T_OK(write_doubles_opts(v, N, &o, &s));
    T_EQ_INT(read_file(s.p, s.len, &rf), 0);
    T_CHECK(rf.c[0].dict_pages >= 1);
    for (size_t r = 0; r < N; r++)
        if (memcmp(&rf.c[0].f64[r], &v[r], 8) != 0) T_FAIL_("row %zu differs", r);
    rfile_free(&rf);
    free(s.p);
    free(v);
}

static void test_dictionary_fallback_and_long_strings(void)
{
    enum { N = 5000 };
    static char buf[N][24];
    static char longs[2][2000];
    struct ne_pq_bytes v[N];
    memset(longs[0], 'a', sizeof(longs[0]));
    memset(longs[1], 'b', sizeof(longs[1]));
    for (size_t r = 0; r < N; r++) {
        snprintf(buf[r], sizeof(buf[r]), "unique-%zu", r);
        v[r] = (struct ne_pq_bytes){buf[r], (uint32_t)strlen(buf[r])};
    }
    v[17] = (struct ne_pq_bytes){longs[0], sizeof(longs[0])};
    v[4000] = (struct ne_pq_bytes){longs[1], sizeof(longs[1])};
    struct ne_pq_column c = {"s", NE_PQ_STRING};
    struct ne_pq_schema sc = {&c, 1};
    struct ne_pq_opts o = {.dict_bytes = 4096, .page_rows = 500};
    struct msink s = {0};
    struct ne_pq_writer *w;
    T_OK(ne_pq_open(&sc, &o, msink_write, &s, &w));
    struct ne_pq_values vals = {.v.str = v};
    struct ne_pq_batch b = {N, &vals};
    T_OK(ne_pq_write_rows(w, &b));
    T_EQ_U64(ne_pq_rows(w), N);
    T_OK(ne_pq_close(&w));
    T_CHECK(w == NULL);
    struct rfile rf;
    T_EQ_INT(read_file(s.p, s.len, &rf), 0);
    T_CHECK(rf.c[0].dict_pages >= 1 && rf.c[0].plain_pages >= 1);
    for (size_t r = 0; r < N; r++)
        if (!bytes_eq(rf.c[0].s[r], rf.c[0].slen[r], v[r].ptr, v[r].len))
            T_FAIL_("row %zu differs", r);
    const struct tv *st = first_stats(&rf.meta);
    T_CHECK(tv_get(st, 5) == NULL && tv_get(st, 6) == NULL); /* max is 2000 bytes: left out */
    T_CHECK(tv_get(st, 1) == NULL);                          /* never legacy stats for strings */
    T_EQ_INT(tv_int(st, 3, -1), 0);
    rfile_free(&rf);
    free(s.p);
}

static void test_row_groups_by_bytes_and_all_null(void)
{
    struct data x;
    data_make(&x, 30000);
    x.v[2].v.f64 = NULL; /* temp: every row null */
    struct msink s = {0};
    struct ne_pq_opts o = {.row_group_bytes = 64 << 10, .page_bytes = 8 << 10};
    T_OK(write_data(&x, &o, 30000, &s));
    struct rfile rf;
    T_EQ_INT(read_file(s.p, s.len, &rf), 0);
    T_CHECK(rf.nrg >= 3);
    T_EQ_INT(rf.rows, 30000);
    T_EQ_INT(rf.c[2].nulls_stat, 30000);
    for (size_t r = 0; r < x.n; r++)
        if (rf.c[2].present[r]) T_FAIL_("row %zu should be null", r);
    for (size_t r = 0; r < x.n; r++)
        if (rf.c[0].i64[r] != x.t[r]) T_FAIL_("time row %zu differs", r);
    rfile_free(&rf);
    free(s.p);
    data_free(&x);
}

static void test_file_sink(void)
{
    struct data x;
    data_make(&x, 2000);
    struct msink mem = {0};
    T_OK(write_data(&x, NULL, 2000, &mem));
    char dir[256], path[300];
    T_CHECK(t_tmpdir(dir, sizeof(dir)) != NULL);
    snprintf(path, sizeof(path), "%s/a.parquet", dir);
    struct ne_file *f;
    T_OK(ne_file_open(path, NE_F_WRITE | NE_F_CREATE | NE_F_TRUNC, &f));
    struct ne_pq_schema sc = {cols, NC};
    struct ne_pq_writer *w;
    T_OK(ne_pq_open(&sc, NULL, ne_pq_sink_file, f, &w));
    struct ne_pq_batch b = {x.n, x.v};
    T_OK(ne_pq_write_rows(w, &b));
    uint64_t before = ne_pq_bytes(w);
    T_OK(ne_pq_close(&w));
    T_OK(ne_file_datasync(f));
    T_OK(ne_file_close(&f));
    char *disk;
    size_t len;
    T_OK(ne_fs_read_all(path, &disk, &len));
    T_EQ_INT(len, mem.len); /* the same bytes as the memory sink */
    T_CHECK(memcmp(disk, mem.p, len) == 0);
    T_EQ_U64(before, 4); /* one row group, still buffered until close */
    ne_free(disk);
    T_OK(ne_fs_remove_tree(dir));
    free(mem.p);
    data_free(&x);
}

static void test_empty_file(void)
{
    struct msink s = {0};
    struct ne_pq_schema sc = {cols, NC};
    struct ne_pq_writer *w;
    T_OK(ne_pq_open(&sc, NULL, msink_write, &s, &w));
    struct ne_pq_batch b = {0, NULL};
    T_OK(ne_pq_write_rows(w, &b));
    T_OK(ne_pq_close(&w));
    struct rfile rf;
    T_EQ_INT(read_file(s.p, s.len, &rf), 0);
    T_EQ_INT(rf.rows, 0);
    T_EQ_INT(rf.nrg, 0);
    T_EQ_INT(rf.ncols, NC);
    rfile_free(&rf);
    free(s.p);
}

static void test_invalid_input(void)
{
    struct msink s = {0};
    struct ne_pq_writer *w = NULL;
    const struct ne_pq_column dup[] = {{"a", NE_PQ_INT64}, {"a", NE_PQ_DOUBLE}};
    const struct ne_pq_column noname[] = {{"", NE_PQ_INT64}};
    struct ne_pq_schema bad1 = {dup, 2}, bad2 = {noname, 1}, bad3 = {dup, 0};
    T_EQ_INT(ne_pq_open(&bad1, NULL, msink_write, &s, &w), NE_EINVAL);
    T_EQ_INT(ne_pq_open(&bad2, NULL, msink_write, &s, &w), NE_EINVAL);
    T_EQ_INT(ne_pq_open(&bad3, NULL, msink_write, &s, &w), NE_EINVAL);
    T_CHECK(w == NULL);
    T_EQ_INT(s.len, 0);

    struct data x;
    data_make(&x, 64);
    struct ne_pq_schema sc = {cols, NC};
    T_OK(ne_pq_open(&sc, NULL, msink_write, &s, &w));
    struct ne_pq_values v[NC];
    memcpy(v, x.v, sizeof(v));
    v[0].valid = x.valid[1]; /* nulls in the time column */
    struct ne_pq_batch b = {64, v};
    T_EQ_INT(ne_pq_write_rows(w, &b), NE_EINVAL);
    v[0].valid = NULL;
    v[0].v.i64 = NULL;
    T_EQ_INT(ne_pq_write_rows(w, &b), NE_EINVAL);
    T_EQ_U64(ne_pq_rows(w), 0);
    struct ne_pq_batch good = {64, x.v}; /* the writer is still usable */
    T_OK(ne_pq_write_rows(w, &good));
    T_OK(ne_pq_close(&w));
    struct rfile rf;
    T_EQ_INT(read_file(s.p, s.len, &rf), 0);
    T_EQ_INT(rf.rows, 64);
    rfile_free(&rf);
    free(s.p);
    data_free(&x);
}

static void test_sink_errors(void)
{
    struct data x;
    data_make(&x, 5000);
    struct ne_pq_opts o = {.row_group_rows = 1000};
    struct msink ok = {0};
    T_OK(write_data(&x, &o, 5000, &ok));
    int calls = ok.calls;
    T_CHECK(calls > 6);
    for (int k = 1; k <= calls; k++) {
        struct msink s = {.fail_at = k};
        int rc = write_data(&x, &o, 5000, &s);
        if (rc != NE_EIO) T_FAIL_("sink failing at call %d: rc %d", k, rc);
        free(s.p);
    }
    /* after a failure, writes are refused */
    struct msink s = {.fail_at = 2};
    struct ne_pq_schema sc = {cols, NC};
    struct ne_pq_writer *w;
    T_OK(ne_pq_open(&sc, &o, msink_write, &s, &w));
    struct ne_pq_batch b = {5000, x.v};
    T_EQ_INT(ne_pq_write_rows(w, &b), NE_EIO);
    T_EQ_INT(ne_pq_write_rows(w, &b), NE_EFAILED);
    T_EQ_INT(ne_pq_close(&w), NE_EIO);
    free(s.p);
    free(ok.p);
    data_free(&x);
}

static void test_allocation_failures(void)
{
    struct data x;
    data_make(&x, 3000);
    struct ne_pq_opts o = {.row_group_rows = 1000, .page_rows = 400, .dict_bytes = 64};
    struct msink ref = {0};
    T_OK(write_data(&x, &o, 3000, &ref));
    int clean = 0;
    for (uint64_t nth = 1; nth < 10000 && !clean; nth++) {
        struct msink s = {0};
        ne_fault_reset();
        ne_fault_arm(NE_FAULT_ALLOC, nth, NE_FAULT_NULL, false);
        int rc = write_data(&x, &o, 3000, &s);
        uint64_t fired = ne_fault_fired(NE_FAULT_ALLOC);
        ne_fault_reset();
        if (fired == 0) {
            clean = 1;
            T_OK(rc);
        } else if (rc != NE_ENOMEM) {
            free(s.p);
            T_FAIL_("allocation %llu failing: rc %d", (unsigned long long)nth, rc);
        }
        if (rc == 0 && (s.len != ref.len || memcmp(s.p, ref.p, s.len) != 0)) {
            free(s.p);
            T_FAIL_("allocation %llu: output differs", (unsigned long long)nth);
        }
        free(s.p);
    }
    T_CHECK(clean);
    free(ref.p);
    data_free(&x);
}

int main(void)
{
    ne_log_set_level(NE_LOG_OFF);
    T_RUN(test_roundtrip_all_kinds);
    T_RUN(test_deterministic_for_any_batching);
    T_RUN(test_double_statistics);
    T_RUN(test_double_dictionary_fallback);
    T_RUN(test_distinct_values_skip_dictionary);
    T_RUN(test_dictionary_fallback_and_long_strings);
    T_RUN(test_row_groups_by_bytes_and_all_null);
    T_RUN(test_file_sink);
    T_RUN(test_empty_file);
    T_RUN(test_invalid_input);
    T_RUN(test_sink_errors);
    T_RUN(test_allocation_failures);
    return t_done();
}
