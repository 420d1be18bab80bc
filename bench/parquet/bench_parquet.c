/*
 * bench_parquet.c - Parquet writer throughput and size on line protocol.
 *
 * Usage: bench_parquet [-o out.parquet] [-r repeat] [-z zstd_level] file.lp
 *
 * Loads the line protocol file, turns it into columns with a small ad-hoc
 * parser (one measurement per file assumed; tags become NE_PQ_TAG columns,
 * fields are typed by their syntax: 12i int64, "s" string, t/f bool, else
 * double; a field missing on a line is null), then writes Parquet `repeat`
 * times into memory and prints a table: rows, field values, bytes, bytes per
 * field value, rows/s and MB/s (output and line-protocol input). With -o the
 * last file is also written to disk (for the DuckDB comparison in run.sh).
 * The parser handles the generator's output, not every escape of the format.
 * Never asserts on time.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ports/platform.h"
#include "sync/parquet/parquet.h"

#define MAXCOLS 64

struct bcol {
    char name[64];
    enum ne_pq_kind kind;
    uint8_t *valid;
    int64_t *i64;
    double *f64;
    uint8_t *b;
    struct ne_pq_bytes *s;
};

static struct bcol cols[MAXCOLS];
static size_t ncols, nrows, cap;
static uint64_t nvalues;

static void die(const char *m)
{
    fprintf(stderr, "bench_parquet: %s\n", m);
    exit(1);
}

static void *grow(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q) die("out of memory");
    return q;
}

/* Grows one column's arrays from `from` to `to` rows (multiples of 8). */
static void grow_col(struct bcol *k, size_t from, size_t to)
{
    k->valid = grow(k->valid, to / 8);
    memset(k->valid + from / 8, 0, (to - from) / 8);
    if (k->kind == NE_PQ_TIME || k->kind == NE_PQ_INT64)
        k->i64 = grow(k->i64, to * 8);
    else if (k->kind == NE_PQ_DOUBLE)
        k->f64 = grow(k->f64, to * 8);
    else if (k->kind == NE_PQ_BOOL)
        k->b = grow(k->b, to);
    else
        k->s = grow(k->s, to * sizeof(*k->s));
}

static void grow_rows(void)
{
    size_t nc = cap ? cap * 2 : 65536;
    for (size_t c = 0; c < ncols; c++)
        grow_col(&cols[c], cap, nc);
    cap = nc;
}

static struct bcol *col_get(const char *name, size_t len, enum ne_pq_kind kind)
{
    for (size_t c = 0; c < ncols; c++)
        if (strlen(cols[c].name) == len && memcmp(cols[c].name, name, len) == 0) return &cols[c];
    if (ncols == MAXCOLS || len >= sizeof(cols[0].name)) die("too many or too long columns");
    struct bcol *k = &cols[ncols++];
    memcpy(k->name, name, len);
    k->kind = kind;
    grow_col(k, 0, cap);
    return k;
}

static void set_valid(struct bcol *k, size_t r)
{
    k->valid[r / 8] |= (uint8_t)(1u << (r % 8));
}

/* Parses one line [p, end). */
static void parse_line(const char *p, const char *end)
{
    if (nrows == cap) grow_rows();
    size_t r = nrows;
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    if (!sp) return;
    /* measurement[,tag=v...] */
    const char *q = memchr(p, ',', (size_t)(sp - p));
    while (q && q < sp) {
        const char *k = q + 1, *eq = memchr(k, '=', (size_t)(sp - k));
        if (!eq) return;
        const char *v = eq + 1, *ve = memchr(v, ',', (size_t)(sp - v));
        if (!ve) ve = sp;
        struct bcol *c = col_get(k, (size_t)(eq - k), NE_PQ_TAG);
        c->s[r] = (struct ne_pq_bytes){v, (uint32_t)(ve - v)};
        set_valid(c, r);
        q = ve < sp ? ve : NULL;
    }
    /* fields */
    const char *f = sp + 1, *ts = NULL;
    while (f < end) {
        const char *eq = memchr(f, '=', (size_t)(end - f));
        if (!eq) return;
        const char *v = eq + 1, *ve;
        if (*v == '"') {
            ve = memchr(v + 1, '"', (size_t)(end - v - 1));
            if (!ve) return;
            struct bcol *c = col_get(f, (size_t)(eq - f), NE_PQ_STRING);
            c->s[r] = (struct ne_pq_bytes){v + 1, (uint32_t)(ve - v - 1)};
            set_valid(c, r);
            ve++;
        } else {
            ve = v;
            while (ve < end && *ve != ',' && *ve != ' ')
                ve++;
            size_t n = (size_t)(ve - v);
            struct bcol *c;
            if (n && v[n - 1] == 'i') {
                c = col_get(f, (size_t)(eq - f), NE_PQ_INT64);
                c->i64[r] = strtoll(v, NULL, 10);
            } else if (*v == 't' || *v == 'f' || *v == 'T' || *v == 'F') {
                c = col_get(f, (size_t)(eq - f), NE_PQ_BOOL);
                c->b[r] = *v == 't' || *v == 'T';
            } else {
                c = col_get(f, (size_t)(eq - f), NE_PQ_DOUBLE);
                c->f64[r] = strtod(v, NULL);
            }
            set_valid(c, r);
        }
        nvalues++;
        if (ve < end && *ve == ' ') {
            ts = ve + 1;
            break;
        }
        f = ve + 1;
    }
    struct bcol *t = col_get("time", 4, NE_PQ_TIME);
    t->i64[r] = ts ? strtoll(ts, NULL, 10) : 0;
    nrows++;
}

struct counter {
    uint8_t *keep; /* the bytes, when they are to be written out */
    size_t len, cap;
    int keep_bytes;
};

static int count_sink(void *ctx, const void *buf, size_t n)
{
    struct counter *c = ctx;
    if (c->keep_bytes) {
        if (c->len + n > c->cap) {
            c->cap = (c->len + n) * 2;
            c->keep = grow(c->keep, c->cap);
        }
        memcpy(c->keep + c->len, buf, n);
    }
    c->len += n;
    return 0;
}

static char *load(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot open input");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = grow(NULL, (size_t)n + 1);
    if (fread(p, 1, (size_t)n, f) != (size_t)n) die("short read");
    fclose(f);
    p[n] = 0;
    *len = (size_t)n;
    return p;
}

int main(int argc, char **argv)
{
    const char *out = NULL;
    int repeat = 3, level = 3, opt;
    while ((opt = getopt(argc, argv, "o:r:z:")) != -1) {
        if (opt == 'o')
            out = optarg;
        else if (opt == 'r')
            repeat = atoi(optarg);
        else if (opt == 'z')
            level = atoi(optarg);
        else
            die("usage: bench_parquet [-o out.parquet] [-r repeat] [-z level] file.lp");
    }
    if (optind >= argc) die("usage: bench_parquet [-o out.parquet] [-r repeat] [-z level] file.lp");
    size_t inlen;
    char *in = load(argv[optind], &inlen);
    for (char *p = in, *e; p < in + inlen; p = e + 1) {
        e = memchr(p, '\n', (size_t)(in + inlen - p));
        if (!e) e = in + inlen;
        if (e > p && *p != '#') parse_line(p, e);
    }
    /* time first, then the rest in order of appearance */
    struct ne_pq_column sc[MAXCOLS];
    struct ne_pq_values v[MAXCOLS];
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++)
        for (size_t c = 0; c < ncols; c++) {
            if ((cols[c].kind == NE_PQ_TIME) != (pass == 0)) continue;
            sc[n] = (struct ne_pq_column){cols[c].name, cols[c].kind};
            v[n].valid = cols[c].kind == NE_PQ_TIME ? NULL : cols[c].valid;
            switch (cols[c].kind) {
            case NE_PQ_TIME:
            case NE_PQ_INT64:
                v[n].v.i64 = cols[c].i64;
                break;
            case NE_PQ_DOUBLE:
                v[n].v.f64 = cols[c].f64;
                break;
            case NE_PQ_BOOL:
                v[n].v.b = cols[c].b;
                break;
            default:
                v[n].v.str = cols[c].s;
                break;
            }
            n++;
        }
    struct ne_pq_schema schema = {sc, n};
    struct ne_pq_kv kv[] = {{"neoedge.node", "bench"}, {"neoedge.segment", "0"}};
    struct ne_pq_opts o = {.zstd_level = level, .kv = kv, .nkv = 2};
    const size_t batch = 8192;
    double best = 1e30;
    struct counter cnt = {0};
    for (int it = 0; it < repeat; it++) {
        cnt.len = 0;
        cnt.keep_bytes = out && it == repeat - 1;
        struct ne_pq_writer *w;
        int64_t t0 = ne_time_mono_ns();
        if (ne_pq_open(&schema, &o, count_sink, &cnt, &w) != 0) die("open failed");
        for (size_t at = 0; at < nrows; at += batch) {
            struct ne_pq_values bv[MAXCOLS];
            for (size_t c = 0; c < n; c++) {
                bv[c] = v[c];
                if (bv[c].valid) bv[c].valid += at / 8;
                switch (sc[c].kind) {
                case NE_PQ_TIME:
                case NE_PQ_INT64:
                    bv[c].v.i64 += at;
                    break;
                case NE_PQ_DOUBLE:
                    bv[c].v.f64 += at;
                    break;
                case NE_PQ_BOOL:
                    bv[c].v.b += at;
                    break;
                default:
                    bv[c].v.str += at;
                    break;
                }
            }
            struct ne_pq_batch b = {nrows - at < batch ? nrows - at : batch, bv};
            if (ne_pq_write_rows(w, &b) != 0) die("write failed");
        }
        if (ne_pq_close(&w) != 0) die("close failed");
        double s = (double)(ne_time_mono_ns() - t0) / 1e9;
        best = s < best ? s : best;
    }
    if (out) {
        FILE *f = fopen(out, "wb");
        if (!f || fwrite(cnt.keep, 1, cnt.len, f) != cnt.len || fclose(f) != 0)
            die("cannot write output");
    }
    printf("| rows | field values | columns | parquet bytes | bytes/value | rows/s | out MB/s | LP "
           "in MB/s |\n");
    printf("|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    printf("| %zu | %llu | %zu | %zu | %.3f | %.0f | %.1f | %.1f |\n", nrows,
           (unsigned long long)nvalues, n, cnt.len, (double)cnt.len / (double)nvalues,
           (double)nrows / best, (double)cnt.len / best / 1e6, (double)inlen / best / 1e6);
    printf("(best of %d runs, zstd level %d, batches of %zu rows, %s)\n", repeat, level, batch,
           ne_pq_created_by());
    free(cnt.keep);
    for (size_t c = 0; c < ncols; c++) {
        free(cols[c].valid);
        free(cols[c].i64);
        free(cols[c].f64);
        free(cols[c].b);
        free(cols[c].s);
    }
    free(in);
    return 0;
}
