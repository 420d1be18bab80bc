/*
 * parquet_gen.c - writes Parquet files with the sync Parquet writer, and
 * beside each one an expectation file computed from the same input arrays
 * (not from the writer), for parquet_duckdb.mjs to check through DuckDB.
 *
 * Usage: parquet_gen OUTDIR
 * Writes OUTDIR/<name>.parquet and OUTDIR/<name>.json for each dataset, and
 * OUTDIR/<name>.rows.jsonl (every row, exact) for the small ones.
 *
 * Expectation JSON: {"file", "rows", "row_groups", "columns": [{"name",
 * "kind", "count", "nulls", "min", "max", "sum"}]}. int64 values and sums
 * are strings (exact); doubles are numbers or "NaN"/"Infinity"/"-Infinity".
 */
#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/platform.h"
#include "sync/parquet/parquet.h"

#define MAXC 12

struct ds {
    const char *name;
    size_t rows;
    size_t ncols;
    struct ne_pq_column cols[MAXC];
    struct ne_pq_values vals[MAXC];
    uint8_t *valid[MAXC];
    int64_t *i64[MAXC];
    double *f64[MAXC];
    uint8_t *b[MAXC];
    struct ne_pq_bytes *str[MAXC];
    struct ne_pq_opts opts;
    int dump; /* write rows.jsonl */
};

static uint64_t rng = 88172645463325252ull;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Every allocation of the data sets is kept here and freed at exit. */
static void **allocs;
static size_t nallocs, capallocs;

static void *xcalloc(size_t n, size_t s)
{
    void *p = calloc(n ? n : 1, s);
    if (p && nallocs == capallocs) {
        capallocs = capallocs ? capallocs * 2 : 1024;
        void **a = realloc(allocs, capallocs * sizeof(*a));
        if (!a) {
            free(p);
            p = NULL;
        } else {
            allocs = a;
        }
    }
    if (!p) {
        perror("calloc");
        exit(2);
    }
    allocs[nallocs++] = p;
    return p;
}

static void free_all(void)
{
    for (size_t i = 0; i < nallocs; i++)
        free(allocs[i]);
    free(allocs);
}

static const char *const words[] = {
    "alpha",     "",     "grüße", "日本語テキスト", "emoji 🚀", "quote\"back\\slash",
    "tab\there", "beta", "x",     "zzz-last",       "Ärger",   "naïve café",
};
#define NWORDS (sizeof(words) / sizeof(words[0]))

static int add_col(struct ds *d, const char *name, enum ne_pq_kind k, int null_pct)
{
    int i = (int)d->ncols++;
    d->cols[i] = (struct ne_pq_column){name, k};
    if (k != NE_PQ_TIME && null_pct > 0) {
        d->valid[i] = xcalloc((d->rows + 7) / 8, 1);
        for (size_t r = 0; r < d->rows; r++)
            if ((int)(next() % 100) >= null_pct) d->valid[i][r / 8] |= (uint8_t)(1u << (r % 8));
        d->vals[i].valid = d->valid[i];
    }
    return i;
}

static int present(const struct ds *d, int c, size_t r)
{
    return !d->valid[c] || (d->valid[c][r / 8] >> (r % 8) & 1);
}

/* ---- data sets ---------------------------------------------------------- */

static void fill_time(struct ds *d, int c, int64_t start, int64_t step, int jitter)
{
    d->i64[c] = xcalloc(d->rows, 8);
    for (size_t r = 0; r < d->rows; r++)
        d->i64[c][r] = start + (int64_t)r * step + (jitter ? (int64_t)(next() % 1000) : 0);
    d->vals[c].v.i64 = d->i64[c];
}

static void fill_tag(struct ds *d, int c, size_t card, const char *prefix)
{
    d->str[c] = xcalloc(d->rows, sizeof(struct ne_pq_bytes));
    char **pool = xcalloc(card, sizeof(char *));
    for (size_t k = 0; k < card; k++) {
        pool[k] = xcalloc(64, 1);
        snprintf(pool[k], 64, "%s-%05zu", prefix, k);
    }
    for (size_t r = 0; r < d->rows; r++) {
        const char *s = pool[(r * 7 + next() % 3) % card];
        d->str[c][r] = (struct ne_pq_bytes){s, (uint32_t)strlen(s)};
    }
    d->vals[c].v.str = d->str[c];
}

static void fill_words(struct ds *d, int c, int with_long)
{
    d->str[c] = xcalloc(d->rows, sizeof(struct ne_pq_bytes));
    static char longs[4][3000];
    for (int k = 0; k < 4; k++) {
        memset(longs[k], 'a' + k, sizeof(longs[k]) - 1);
        longs[k][sizeof(longs[k]) - 1] = 0;
    }
    for (size_t r = 0; r < d->rows; r++) {
        const char *s = words[next() % NWORDS];
        if (with_long && next() % 50 == 0) s = longs[next() % 4];
        d->str[c][r] = (struct ne_pq_bytes){s, (uint32_t)strlen(s)};
    }
    d->vals[c].v.str = d->str[c];
}

static void fill_unique_strings(struct ds *d, int c)
{
    d->str[c] = xcalloc(d->rows, sizeof(struct ne_pq_bytes));
    for (size_t r = 0; r < d->rows; r++) {
        char *s = xcalloc(48, 1);
        snprintf(s, 48, "msg %016" PRIx64 " #%zu", next(), r);
        d->str[c][r] = (struct ne_pq_bytes){s, (uint32_t)strlen(s)};
    }
    d->vals[c].v.str = d->str[c];
}

static void fill_f64(struct ds *d, int c, int specials)
{
    d->f64[c] = xcalloc(d->rows, 8);
    for (size_t r = 0; r < d->rows; r++) {
        double v = ((double)(next() % 2000001) - 1000000.0) / 128.0;
        if (specials) {
            switch (next() % 16) {
            case 0:
                v = NAN;
                break;
            case 1:
                v = INFINITY;
                break;
            case 2:
                v = -INFINITY;
                break;
            case 3:
                v = -0.0;
                break;
            case 4:
                v = 0.0;
                break;
            case 5:
                v = 1e300;
                break;
            case 6:
                v = -5e-324;
                break;
            default:
                break;
            }
        }
        d->f64[c][r] = v;
    }
    d->vals[c].v.f64 = d->f64[c];
}

static void fill_i64(struct ds *d, int c, int extremes)
{
    d->i64[c] = xcalloc(d->rows, 8);
    for (size_t r = 0; r < d->rows; r++) {
        int64_t v = (int64_t)(next() % 2000001) - 1000000;
        if (extremes && next() % 97 == 0) v = next() % 2 ? INT64_MAX : INT64_MIN;
        d->i64[c][r] = v;
    }
    d->vals[c].v.i64 = d->i64[c];
}

static void fill_bool(struct ds *d, int c)
{
    d->b[c] = xcalloc(d->rows, 1);
    for (size_t r = 0; r < d->rows; r++)
        d->b[c][r] = (uint8_t)(next() % 3 == 0 ? 0 : (next() % 5) + 1);
    d->vals[c].v.b = d->b[c];
}

/* ---- expectations --------------------------------------------------------- */

static void json_str(FILE *f, const char *p, size_t n)
{
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void json_f64(FILE *f, double v)
{
    if (isnan(v))
        fputs("\"NaN\"", f);
    else if (isinf(v))
        fputs(v > 0 ? "\"Infinity\"" : "\"-Infinity\"", f);
    else if (v == 0 && signbit(v))
        fputs("\"-0\"", f);
    else
        fprintf(f, "%.17g", v);
}

static const char *kind_name(enum ne_pq_kind k)
{
    static const char *const n[] = {"time", "tag", "double", "int64", "bool", "string"};
    return n[k];
}

static int bytes_less(struct ne_pq_bytes a, struct ne_pq_bytes b)
{
    size_t n = a.len < b.len ? a.len : b.len;
    int r = n ? memcmp(a.ptr, b.ptr, n) : 0;
    return r < 0 || (r == 0 && a.len < b.len);
}

static void expect_column(FILE *f, const struct ds *d, int c)
{
    enum ne_pq_kind k = d->cols[c].kind;
    size_t count = 0;
    __int128 isum = 0;
    int64_t imin = INT64_MAX, imax = INT64_MIN;
    double dsum = 0, dmin = INFINITY, dmax = -INFINITY;
    int dnan = 0;
    struct ne_pq_bytes smin = {0}, smax = {0};
    for (size_t r = 0; r < d->rows; r++) {
        if (!present(d, c, r)) continue;
        count++;
        if (k == NE_PQ_TIME || k == NE_PQ_INT64 || k == NE_PQ_BOOL) {
            int64_t v = k == NE_PQ_BOOL ? d->b[c][r] != 0 : d->i64[c][r];
            isum += v;
            imin = v < imin ? v : imin;
            imax = v > imax ? v : imax;
        } else if (k == NE_PQ_DOUBLE) {
            double v = d->f64[c][r];
            if (isnan(v)) {
                dnan = 1;
                continue;
            }
            dsum += v;
            dmin = v < dmin ? v : dmin;
            dmax = v > dmax ? v : dmax;
        } else {
            struct ne_pq_bytes s = d->str[c][r];
            if (count == 1 || bytes_less(s, smin)) smin = s;
            if (count == 1 || bytes_less(smax, s)) smax = s;
        }
    }
    fprintf(f, "{\"name\":");
    json_str(f, d->cols[c].name, strlen(d->cols[c].name));
    fprintf(f, ",\"kind\":\"%s\",\"count\":%zu,\"nulls\":%zu", kind_name(k), count,
            d->rows - count);
    if (count && (k == NE_PQ_TIME || k == NE_PQ_INT64 || k == NE_PQ_BOOL)) {
        char buf[64];
        unsigned __int128 u = isum < 0 ? -(unsigned __int128)isum : (unsigned __int128)isum;
        int n = 0;
        do {
            buf[n++] = (char)('0' + (int)(u % 10));
            u /= 10;
        } while (u);
        fprintf(f, ",\"min\":\"%" PRId64 "\",\"max\":\"%" PRId64 "\",\"sum\":\"%s", imin, imax,
                isum < 0 ? "-" : "");
        while (n)
            fputc(buf[--n], f);
        fputc('"', f);
    } else if (count && k == NE_PQ_DOUBLE) {
        fprintf(f, ",\"has_nan\":%s,\"min\":", dnan ? "true" : "false");
        json_f64(f, dmin);
        fputs(",\"max\":", f);
        json_f64(f, dmax);
        fputs(",\"sum\":", f);
        json_f64(f, dsum);
    } else if (count) {
        fputs(",\"min\":", f);
        json_str(f, smin.ptr, smin.len);
        fputs(",\"max\":", f);
        json_str(f, smax.ptr, smax.len);
    }
    fputc('}', f);
}

static void dump_rows(const struct ds *d, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(2);
    }
    for (size_t r = 0; r < d->rows; r++) {
        fputc('[', f);
        for (size_t c = 0; c < d->ncols; c++) {
            if (c) fputc(',', f);
            if (!present(d, (int)c, r)) {
                fputs("null", f);
                continue;
            }
            switch (d->cols[c].kind) {
            case NE_PQ_TIME:
            case NE_PQ_INT64:
                fprintf(f, "\"%" PRId64 "\"", d->i64[c][r]);
                break;
            case NE_PQ_DOUBLE:
                json_f64(f, d->f64[c][r]);
                break;
            case NE_PQ_BOOL:
                fputs(d->b[c][r] ? "true" : "false", f);
                break;
            default:
                json_str(f, d->str[c][r].ptr, d->str[c][r].len);
            }
        }
        fputs("]\n", f);
    }
    fclose(f);
}

/* ---- writing ---------------------------------------------------------- */

static int file_sink(void *ctx, const void *p, size_t n)
{
    return fwrite(p, 1, n, ctx) == n ? 0 : -1;
}

static void write_ds(struct ds *d, const char *dir, size_t batch)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s.parquet", dir, d->name);
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    struct ne_pq_schema s = {d->cols, d->ncols};
    struct ne_pq_kv kv[] = {{"neoedge.node", "gw-01"}, {"neoedge.segment", d->name}};
    d->opts.kv = kv;
    d->opts.nkv = 2;
    struct ne_pq_writer *w;
    if (ne_pq_open(&s, &d->opts, file_sink, f, &w) != 0) {
        fprintf(stderr, "open failed\n");
        exit(1);
    }
    /* Batches are slices of the arrays: the bitmaps need byte-aligned starts. */
    for (size_t at = 0; at < d->rows; at += batch) {
        size_t n = d->rows - at < batch ? d->rows - at : batch;
        struct ne_pq_values v[MAXC];
        for (size_t c = 0; c < d->ncols; c++) {
            v[c] = d->vals[c];
            if (v[c].valid) v[c].valid += at / 8;
            switch (d->cols[c].kind) {
            case NE_PQ_TIME:
            case NE_PQ_INT64:
                if (v[c].v.i64) v[c].v.i64 += at;
                break;
            case NE_PQ_DOUBLE:
                if (v[c].v.f64) v[c].v.f64 += at;
                break;
            case NE_PQ_BOOL:
                if (v[c].v.b) v[c].v.b += at;
                break;
            default:
                if (v[c].v.str) v[c].v.str += at;
                break;
            }
        }
        struct ne_pq_batch b = {n, v};
        if (ne_pq_write_rows(w, &b) != 0) {
            fprintf(stderr, "write failed\n");
            exit(1);
        }
    }
    if (ne_pq_close(&w) != 0 || fclose(f) != 0) {
        fprintf(stderr, "close failed\n");
        exit(1);
    }
    uint64_t rgr = d->opts.row_group_rows ? d->opts.row_group_rows : (1u << 20);
    snprintf(path, sizeof(path), "%s/%s.json", dir, d->name);
    FILE *j = fopen(path, "w");
    fprintf(j,
            "{\"file\":\"%s.parquet\",\"rows\":%zu,\"row_groups\":%" PRIu64
            ",\"created_by\":\"%s\",\"columns\":[",
            d->name, d->rows, (uint64_t)((d->rows + rgr - 1) / rgr), ne_pq_created_by());
    for (size_t c = 0; c < d->ncols; c++) {
        if (c) fputc(',', j);
        expect_column(j, d, (int)c);
    }
    fputs("]}\n", j);
    fclose(j);
    if (d->dump) {
        snprintf(path, sizeof(path), "%s/%s.rows.jsonl", dir, d->name);
        dump_rows(d, path);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: parquet_gen OUTDIR\n");
        return 2;
    }
    const char *dir = argv[1];

    /* every kind, nulls, specials, non-ASCII, several pages and row groups */
    struct ds a = {.name = "types", .rows = 30000, .dump = 1};
    a.opts.row_group_rows = 12000;
    a.opts.page_rows = 1000;
    fill_time(&a, add_col(&a, "time", NE_PQ_TIME, 0), 1767225600000000000ll, 1000000000, 1);
    fill_tag(&a, add_col(&a, "host", NE_PQ_TAG, 0), 37, "host");
    fill_words(&a, add_col(&a, "région", NE_PQ_TAG, 20), 0);
    fill_f64(&a, add_col(&a, "value", NE_PQ_DOUBLE, 10), 1);
    fill_i64(&a, add_col(&a, "count", NE_PQ_INT64, 30), 1);
    fill_bool(&a, add_col(&a, "ok", NE_PQ_BOOL, 15));
    fill_words(&a, add_col(&a, "note", NE_PQ_STRING, 40), 1);
    add_col(&a, "empty", NE_PQ_DOUBLE, 0); /* no array: all null */
    a.valid[a.ncols - 1] = xcalloc((a.rows + 7) / 8, 1);
    fill_unique_strings(&a, add_col(&a, "msg", NE_PQ_STRING, 5));
    write_ds(&a, dir, 777 * 8);

    /* a larger file: aggregates only; dictionary fallback on "msg" */
    struct ds b = {.name = "large", .rows = 400000};
    b.opts.row_group_rows = 150000;
    b.opts.dict_bytes = 64 << 10;
    fill_time(&b, add_col(&b, "time", NE_PQ_TIME, 0), 1700000000000000000ll, 250000000, 0);
    fill_tag(&b, add_col(&b, "device", NE_PQ_TAG, 0), 1000, "dev");
    fill_tag(&b, add_col(&b, "site", NE_PQ_TAG, 0), 20, "site");
    fill_f64(&b, add_col(&b, "temperature", NE_PQ_DOUBLE, 2), 0);
    fill_i64(&b, add_col(&b, "battery", NE_PQ_INT64, 2), 0);
    fill_bool(&b, add_col(&b, "alarm", NE_PQ_BOOL, 2));
    fill_unique_strings(&b, add_col(&b, "msg", NE_PQ_STRING, 1));
    write_ds(&b, dir, 65536);

    /* only the schema: zero rows */
    struct ds e = {.name = "empty", .rows = 0, .dump = 1};
    add_col(&e, "time", NE_PQ_TIME, 0);
    add_col(&e, "host", NE_PQ_TAG, 0);
    add_col(&e, "v", NE_PQ_DOUBLE, 0);
    write_ds(&e, dir, 1);

    /* one row, extreme times */
    struct ds o = {.name = "one", .rows = 3, .dump = 1};
    o.i64[0] = xcalloc(3, 8);
    o.i64[0][0] = -1000000000000000001ll;
    o.i64[0][1] = 0;
    o.i64[0][2] = 9000000000000000007ll;
    add_col(&o, "time", NE_PQ_TIME, 0);
    o.vals[0].v.i64 = o.i64[0];
    fill_words(&o, add_col(&o, "t", NE_PQ_TAG, 0), 0);
    fill_i64(&o, add_col(&o, "n", NE_PQ_INT64, 0), 1);
    write_ds(&o, dir, 2);
    free_all();
    return 0;
}
