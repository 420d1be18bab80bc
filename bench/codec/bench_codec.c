/*
 * bench_codec.c - compression ratio and speed of the column block codecs.
 *
 *   bench_codec [-b block_points] [-z zstd_level] [-r repeat] [file.lp]
 *
 * With a line-protocol file (e.g. from bench/gen_iot.py), every
 * series+field becomes one column, sorted by time and cut into blocks of
 * block_points values, as the store does. Without one, S1-like columns
 * are synthesised (1000 devices x 3600 s: temperature, humidity, pressure,
 * battery, status). Prints one row per field name: values, bytes per value
 * (whole blocks: header, timestamps, values, CRC), the timestamp share,
 * the codecs chosen most, and encode / decode speed (values/s and MB/s of
 * the in-memory arrays, 16 bytes per value: timestamp + value). Speeds
 * are the fastest of `repeat` passes over each column (machines are shared).
 * Figures only: nothing is asserted.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/platform.h"
#include "store/codec/codec.h"

/* ---- columns ------------------------------------------------------------- */

struct column {
    char *field;  /* field name (owned) */
    uint8_t type; /* enum ne_vtype */
    int64_t *ts;
    uint64_t *v; /* float/int/uint bits, bool 0/1, string: index into strs */
    size_t n, cap;
    struct ne_sv *sv; /* strings, built before encoding */
};

struct table {
    struct column *cols;
    size_t n, cap;
    /* series+field -> column: open addressing on a string key */
    char **keys;
    size_t *idx;
    size_t hcap, hn;
    /* string arena */
    char *arena;
    size_t alen, acap;
};

static void *xrealloc(void *p, size_t n)
{
    void *q = ne_realloc(p, n);
    if (!q) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return q;
}

static uint64_t hash_str(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)s[i]) * 1099511628211ULL;
    return h;
}

static void table_grow_hash(struct table *t)
{
    size_t ncap = t->hcap ? t->hcap * 2 : 1024;
    char **nk = calloc(ncap, sizeof *nk);
    size_t *ni = calloc(ncap, sizeof *ni);
    if (!nk || !ni) exit(1);
    for (size_t i = 0; i < t->hcap; i++) {
        if (!t->keys[i]) continue;
        size_t h = hash_str(t->keys[i], strlen(t->keys[i])) & (ncap - 1);
        while (nk[h])
            h = (h + 1) & (ncap - 1);
        nk[h] = t->keys[i];
        ni[h] = t->idx[i];
    }
    free(t->keys);
    free(t->idx);
    t->keys = nk;
    t->idx = ni;
    t->hcap = ncap;
}

static struct column *table_col(struct table *t, const char *key, size_t klen, const char *field,
                                size_t flen, uint8_t type)
{
    if (2 * (t->hn + 1) > t->hcap) table_grow_hash(t);
    size_t h = hash_str(key, klen) & (t->hcap - 1);
    while (t->keys[h]) {
        if (strlen(t->keys[h]) == klen && memcmp(t->keys[h], key, klen) == 0)
            return &t->cols[t->idx[h]];
        h = (h + 1) & (t->hcap - 1);
    }
    t->keys[h] = ne_strndup(key, klen);
    t->idx[h] = t->n;
    t->hn++;
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->cols = xrealloc(t->cols, t->cap * sizeof *t->cols);
    }
    struct column *c = &t->cols[t->n++];
    memset(c, 0, sizeof *c);
    c->field = ne_strndup(field, flen);
    c->type = type;
    return c;
}

static void col_push(struct column *c, int64_t ts, uint64_t v)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 64;
        c->ts = xrealloc(c->ts, c->cap * sizeof *c->ts);
        c->v = xrealloc(c->v, c->cap * sizeof *c->v);
    }
    c->ts[c->n] = ts;
    c->v[c->n++] = v;
}

static uint64_t arena_put(struct table *t, const char *s, size_t n)
{
    if (t->alen + n + 4 > t->acap) {
        t->acap = t->acap ? t->acap * 2 : 1 << 20;
        while (t->acap < t->alen + n + 4)
            t->acap *= 2;
        t->arena = xrealloc(t->arena, t->acap);
    }
    uint64_t off = t->alen;
    uint32_t len = (uint32_t)n;
    memcpy(t->arena + t->alen, &len, 4);
    memcpy(t->arena + t->alen + 4, s, n);
    t->alen += n + 4;
    return off;
}

/* ---- line protocol (the simple subset gen_iot.py writes) ----------------- */

static void parse_field(struct table *t, const char *series, size_t slen, const char *f,
                        size_t flen, int64_t ts)
{
    const char *eq = memchr(f, '=', flen);
    if (!eq) return;
    size_t klen = (size_t)(eq - f);
    const char *val = eq + 1;
    size_t vlen = flen - klen - 1;
    char key[1024];
    if (slen + klen + 2 > sizeof key || vlen == 0) return;
    memcpy(key, series, slen);
    key[slen] = ' ';
    memcpy(key + slen + 1, f, klen);
    uint8_t type;
    uint64_t bits = 0;
    const char *sp = NULL;
    size_t sn = 0;
    if (val[0] == '"') {
        type = NE_V_STRING;
        sp = val + 1;
        sn = vlen >= 2 ? vlen - 2 : 0;
    } else if (val[vlen - 1] == 'i') {
        type = NE_V_INT;
        bits = (uint64_t)strtoll(val, NULL, 10);
    } else if (val[vlen - 1] == 'u') {
        type = NE_V_UINT;
        bits = strtoull(val, NULL, 10);
    } else if (val[0] == 't' || val[0] == 'T' || val[0] == 'f' || val[0] == 'F') {
        type = NE_V_BOOL;
        bits = val[0] == 't' || val[0] == 'T';
    } else {
        type = NE_V_FLOAT;
        double d = strtod(val, NULL);
        memcpy(&bits, &d, 8);
    }
    struct column *c = table_col(t, key, slen + 1 + klen, f, klen, type);
    if (c->type != type) return; /* type conflict: dropped, as the store would */
    if (type == NE_V_STRING) bits = arena_put(t, sp, sn);
    col_push(c, ts, bits);
}

static void parse_line(struct table *t, char *line, size_t len)
{
    while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
        line[--len] = '\0';
    if (len == 0 || line[0] == '#') return;
    char *sp1 = memchr(line, ' ', len);
    if (!sp1) return;
    size_t slen = (size_t)(sp1 - line);
    char *fields = sp1 + 1;
    /* the field set ends at the first space outside quotes */
    char *p = fields;
    int inq = 0;
    while (*p && (inq || *p != ' ')) {
        if (*p == '"')
            inq = !inq;
        else if (*p == '\\' && p[1])
            p++;
        p++;
    }
    int64_t ts = *p ? strtoll(p + 1, NULL, 10) : 0;
    char *end = p, *f = fields;
    inq = 0;
    for (char *q = fields; q <= end; q++) {
        if (q < end && *q == '"') inq = !inq;
        if (q == end || (!inq && *q == ',')) {
            parse_field(t, line, slen, f, (size_t)(q - f), ts);
            f = q + 1;
        }
    }
}

static int load_file(struct table *t, const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        perror(path);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, fp)) > 0)
        parse_line(t, line, (size_t)n);
    free(line);
    fclose(fp);
    return 0;
}

/* S1-like columns without a file: same shapes as gen_iot.py --shape sensors. */
static void synthesise(struct table *t)
{
    uint64_t rng = 88172645463325252ULL;
#define RND() (rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17, rng)
    const int64_t t0 = 1767225600000000000LL;
    for (int d = 0; d < 1000; d++) {
        char key[64];
        int kl = snprintf(key, sizeof key, "env,site=site-%02d,device=dev-%05d", d / 50, d);
        int64_t temp = 1500 + (int64_t)(RND() % 1300), hum = 300 + (int64_t)(RND() % 350);
        int64_t pres = 100300 + (int64_t)(RND() % 2000), bat = 40 + (int64_t)(RND() % 60);
        int warn = 0;
        for (int s = 0; s < 3600; s++) {
            int64_t ts = t0 + (int64_t)s * 1000000000LL;
            temp += (int64_t)(RND() % 5) - 2;
            hum += (int64_t)(RND() % 3) - 1;
            pres += (int64_t)(RND() % 5) - 2;
            if (RND() % 1000 == 0 && bat > 0) bat--;
            if (RND() % 2000 == 0) warn = !warn;
            char line[256];
            int ll = snprintf(line, sizeof line,
                              "%.*s temperature=%.2f,humidity=%.1f,pressure=%.2f,battery=%" PRId64
                              "i,status=\"%s\" %" PRId64 "\n",
                              kl, key, (double)temp / 100, (double)hum / 10, (double)pres / 100,
                              bat, warn ? "warn" : "ok", ts);
            parse_line(t, line, (size_t)ll);
        }
    }
#undef RND
}

/* ---- per-column preparation -------------------------------------------------- */

static int64_t *g_sort_ts;

static int cmp_idx(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    int64_t tx = g_sort_ts[x], ty = g_sort_ts[y];
    return tx < ty ? -1 : tx > ty ? 1 : (x < y ? -1 : x > y);
}

/* Sorts by time (stable), as a memtable flush would. */
static void col_sort(struct column *c)
{
    int sorted = 1;
    for (size_t i = 1; i < c->n && sorted; i++)
        sorted = c->ts[i - 1] <= c->ts[i];
    if (sorted) return;
    size_t *idx = malloc(c->n * sizeof *idx);
    int64_t *ts = malloc(c->n * sizeof *ts);
    uint64_t *v = malloc(c->n * sizeof *v);
    for (size_t i = 0; i < c->n; i++)
        idx[i] = i;
    g_sort_ts = c->ts;
    qsort(idx, c->n, sizeof *idx, cmp_idx);
    for (size_t i = 0; i < c->n; i++) {
        ts[i] = c->ts[idx[i]];
        v[i] = c->v[idx[i]];
    }
    memcpy(c->ts, ts, c->n * sizeof *ts);
    memcpy(c->v, v, c->n * sizeof *v);
    free(idx);
    free(ts);
    free(v);
}

static void col_prepare(struct table *t, struct column *c)
{
    col_sort(c);
    if (c->type == NE_V_STRING) {
        c->sv = xrealloc(NULL, (c->n ? c->n : 1) * sizeof *c->sv);
        for (size_t i = 0; i < c->n; i++) {
            uint32_t len;
            memcpy(&len, t->arena + c->v[i], 4);
            c->sv[i].p = t->arena + c->v[i] + 4;
            c->sv[i].n = len;
        }
    } else if (c->type == NE_V_BOOL) {
        bool *b = (bool *)c->v; /* compact in place: bool[i] <= 8 * i */
        for (size_t i = 0; i < c->n; i++)
            b[i] = c->v[i] != 0;
    }
}

static const void *col_vals(const struct column *c, size_t off)
{
    switch (c->type) {
    case NE_V_STRING:
        return c->sv + off;
    case NE_V_BOOL:
        return (const bool *)c->v + off;
    default:
        return c->v + off;
    }
}

/* ---- measurement ---------------------------------------------------------------- */

struct fieldrow {
    const char *field;
    uint8_t type;
    uint64_t values, blocks, bytes, ts_bytes, zstd_blocks;
    uint64_t codec_hist[64];
    double enc_s, dec_s, dec_val_s;
};

#define MAX_ROWS 64

/* The row of c's field name and type; NULL when the table is full. */
static struct fieldrow *row_for(struct fieldrow *rows, size_t *nrows, const struct column *c)
{
    for (size_t i = 0; i < *nrows; i++)
        if (strcmp(rows[i].field, c->field) == 0 && rows[i].type == c->type) return &rows[i];
    if (*nrows == MAX_ROWS) return NULL;
    struct fieldrow *r = &rows[(*nrows)++];
    memset(r, 0, sizeof *r);
    r->field = c->field;
    r->type = c->type;
    return r;
}

static double now_s(void)
{
    return (double)ne_time_mono_ns() / 1e9;
}

struct encoded {
    struct ne_buf buf;
    size_t *off; /* block starts, nblocks + 1 */
    size_t *cnt;
    size_t nblocks;
};

static void encode_pass(const struct column *c, size_t bp, const struct ne_codec_opts *o,
                        struct encoded *e)
{
    ne_buf_reset(&e->buf);
    for (size_t b = 0; b < e->nblocks; b++) {
        size_t off = b * bp, k = c->n - off < bp ? c->n - off : bp;
        e->off[b] = e->buf.len;
        e->cnt[b] = k;
        if (ne_codec_encode_block(c->type, c->ts + off, col_vals(c, off), k, o, &e->buf, NULL)) {
            fprintf(stderr, "encode failed\n");
            exit(1);
        }
    }
    e->off[e->nblocks] = e->buf.len;
}

/* Encodes the column in blocks of bp values, `repeat` times (the fastest
 * pass counts), and records sizes and codec choices. */
static void encode_column(const struct column *c, size_t bp, const struct ne_codec_opts *o,
                          int repeat, struct encoded *e, struct fieldrow *r)
{
    size_t nb = (c->n + bp - 1) / bp;
    e->off = xrealloc(NULL, (nb + 1) * sizeof *e->off);
    e->cnt = xrealloc(NULL, (nb ? nb : 1) * sizeof *e->cnt);
    e->nblocks = nb;
    ne_buf_init(&e->buf);
    double best = 1e30;
    for (int k = 0; k < repeat; k++) {
        double t0 = now_s();
        encode_pass(c, bp, o, e);
        double dt = now_s() - t0;
        best = dt < best ? dt : best;
    }
    r->enc_s += best;
    for (size_t b = 0; b < nb; b++) {
        struct ne_block_info info;
        if (ne_codec_block_info(e->buf.p + e->off[b], e->off[b + 1] - e->off[b], &info) == 0) {
            r->ts_bytes += info.ts_len;
            r->zstd_blocks += info.zstd;
            r->codec_hist[info.val_codec & 63]++;
        }
    }
    r->values += c->n;
    r->blocks += nb;
    r->bytes += e->buf.len;
}

/* Decodes every block of the column `repeat` times and keeps the fastest
 * pass (the machine may be shared): once with timestamps, once values only. */
static void decode_column(const struct encoded *e, uint8_t type, int repeat, int64_t *ts,
                          void *vals, struct ne_buf *scratch, struct fieldrow *r)
{
    size_t got;
    for (int pass = 0; pass < 2; pass++) {
        double best = 1e30;
        for (int k = 0; k < repeat; k++) {
            double t0 = now_s();
            for (size_t b = 0; b < e->nblocks; b++) {
                const uint8_t *p = e->buf.p + e->off[b];
                size_t len = e->off[b + 1] - e->off[b];
                if (ne_codec_decode_block(p, len, type, pass ? NULL : ts, vals, e->cnt[b], scratch,
                                          &got) != 0) {
                    fprintf(stderr, "decode failed\n");
                    exit(1);
                }
            }
            double dt = now_s() - t0;
            best = dt < best ? dt : best;
        }
        if (pass)
            r->dec_val_s += best;
        else
            r->dec_s += best;
    }
}

static const char *top_codec(const struct fieldrow *r)
{
    size_t best = 0;
    for (size_t i = 1; i < 64; i++)
        if (r->codec_hist[i] > r->codec_hist[best]) best = i;
    return ne_codec_name((int)best);
}

int main(int argc, char **argv)
{
    size_t bp = 4096;
    int zl = 1, repeat = 3; /* the store's zstd level */
    const char *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-b") == 0 && i + 1 < argc)
            bp = (size_t)atol(argv[++i]);
        else if (strcmp(argv[i], "-z") == 0 && i + 1 < argc)
            zl = atoi(argv[++i]);
        else if (strcmp(argv[i], "-r") == 0 && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else
            path = argv[i];
    }
    if (bp == 0 || bp > NE_CODEC_MAX_VALUES || repeat < 1) {
        fprintf(stderr,
                "usage: bench_codec [-b block_points] [-z zstd_level] [-r repeat] [file.lp]\n");
        return 2;
    }
    struct table t;
    memset(&t, 0, sizeof t);
    if (path ? load_file(&t, path) != 0 : (synthesise(&t), 0)) return 1;
    struct ne_codec_opts o;
    ne_codec_opts_default(&o);
    o.zstd_level = zl;
    static struct fieldrow rows[MAX_ROWS];
    size_t nrows = 0, maxn = 0;
    for (size_t i = 0; i < t.n; i++) {
        col_prepare(&t, &t.cols[i]);
        maxn = t.cols[i].n > maxn ? t.cols[i].n : maxn;
    }
    int64_t *ts = xrealloc(NULL, (bp + 1) * sizeof *ts);
    void *vals = xrealloc(NULL, (bp + 1) * sizeof(struct ne_sv));
    struct ne_buf scratch = NE_BUF_INIT;
    for (size_t i = 0; i < t.n; i++) {
        struct column *c = &t.cols[i];
        struct fieldrow *r = row_for(rows, &nrows, c);
        if (!r) continue;
        struct encoded e;
        encode_column(c, bp, &o, repeat, &e, r);
        decode_column(&e, c->type, repeat, ts, vals, &scratch, r);
        ne_buf_free(&e.buf);
        ne_free(e.off);
        ne_free(e.cnt);
    }
    printf("input: %s, %zu columns, block_points %zu, zstd level %d\n",
           path ? path : "synthetic S1 (1000 devices x 3600 s)", t.n, bp, zl);
    printf("%-18s %-8s %11s %8s %8s %7s %-10s %9s %9s %9s %8s\n", "field", "type", "values",
           "B/value", "ts B/val", "zstd%", "codec", "enc Mv/s", "dec Mv/s", "val Mv/s", "dec MB/s");
    uint64_t tv = 0, tb = 0;
    double te = 0, td = 0;
    for (size_t i = 0; i < nrows; i++) {
        struct fieldrow *r = &rows[i];
        double v = (double)r->values;
        printf("%-18s %-8s %11" PRIu64 " %8.3f %8.3f %6.1f%% %-10s %9.1f %9.1f %9.1f %8.0f\n",
               r->field, ne_vtype_name(r->type), r->values, (double)r->bytes / v,
               (double)r->ts_bytes / v, 100.0 * (double)r->zstd_blocks / (double)r->blocks,
               top_codec(r), v / r->enc_s / 1e6, v / r->dec_s / 1e6, v / r->dec_val_s / 1e6,
               16 * v / r->dec_s / 1e6);
        tv += r->values;
        tb += r->bytes;
        te += r->enc_s;
        td += r->dec_s;
    }
    printf("%-18s %-8s %11" PRIu64 " %8.3f %8s %7s %-10s %9.1f %9.1f\n", "TOTAL", "", tv,
           (double)tb / (double)tv, "", "", "", (double)tv / te / 1e6, (double)tv / td / 1e6);
    return 0;
}
