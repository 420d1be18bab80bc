/*
 * bench_segment.c - how compact and how fast segments are on real-shaped
 * data. Reads InfluxDB line protocol (e.g. from bench gen_iot.py), groups
 * it into columns (series = measurement + tags, ids in order of first
 * appearance), writes one segment, reads every block back, merges two
 * half-segments, and prints a table: bytes per value overall and per type,
 * write / read / merge throughput. Nothing here asserts on time.
 *
 *   python3 gen_iot.py --shape sensors --devices 1000 --duration 10m --seed 1 \
 *     > s1.lp && bench_segment s1.lp [block_points]
 *
 * The parser is deliberately small: no escapes, which the generator never
 * produces. Out-of-order lines are sorted per column before writing; a
 * repeated timestamp keeps the last value.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/log.h"
#include "ports/platform.h"
#include "store/segment/segment.h"

struct col {
    uint64_t sid;
    char field[64];
    uint8_t type;
    uint32_t n, cap;
    int64_t *ts;
    uint64_t *v; /* double/int64/uint64/bool bits, or an index into strs */
    struct ne_sv *s;
};

struct series {
    char *key;
    uint64_t id;
};

static struct col *g_cols;
static size_t g_ncols, g_capcols;
static struct series *g_ser; /* open addressing by key */
static size_t g_sercap = 1 << 16, g_nser;
static uint64_t g_values;

static uint64_t hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)p[i]) * 1099511628211ull;
    return h;
}

static uint64_t series_id(const char *p, size_t n)
{
    size_t i = hash(p, n) & (g_sercap - 1);
    while (g_ser[i].key) {
        if (strlen(g_ser[i].key) == n && memcmp(g_ser[i].key, p, n) == 0)
            return g_ser[i].id;
        i = (i + 1) & (g_sercap - 1);
    }
    if (g_nser * 2 >= g_sercap) {
        fprintf(stderr, "too many series for this benchmark\n");
        exit(1);
    }
    g_ser[i].key = strndup(p, n);
    g_ser[i].id = ++g_nser;
    return g_ser[i].id;
}

/* Column lookup: (sid, field) -> index, by a small open-addressing map. */
static size_t *g_cmap;
static size_t g_cmapcap = 1 << 18;

static struct col *column(uint64_t sid, const char *f, size_t fn, uint8_t type)
{
    size_t i = (hash(f, fn) ^ (sid * 0x9E3779B97F4A7C15ull)) & (g_cmapcap - 1);
    while (g_cmap[i]) {
        struct col *c = &g_cols[g_cmap[i] - 1];
        if (c->sid == sid && strlen(c->field) == fn && memcmp(c->field, f, fn) == 0)
            return c;
        i = (i + 1) & (g_cmapcap - 1);
    }
    if (g_ncols * 2 >= g_cmapcap || fn >= 64) {
        fprintf(stderr, "too many columns for this benchmark\n");
        exit(1);
    }
    if (g_ncols == g_capcols) {
        g_capcols = g_capcols ? g_capcols * 2 : 1024;
        g_cols = realloc(g_cols, g_capcols * sizeof *g_cols);
    }
    struct col *c = &g_cols[g_ncols++];
    memset(c, 0, sizeof *c);
    c->sid = sid;
    memcpy(c->field, f, fn);
    c->type = type;
    g_cmap[i] = g_ncols;
    return c;
}

static void col_push(struct col *c, int64_t ts, uint64_t v, struct ne_sv s)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 256;
        c->ts = realloc(c->ts, c->cap * sizeof *c->ts);
        c->v = realloc(c->v, c->cap * sizeof *c->v);
        if (c->type == NE_V_STRING)
            c->s = realloc(c->s, c->cap * sizeof *c->s);
    }
    c->ts[c->n] = ts;
    c->v[c->n] = v;
    if (c->type == NE_V_STRING)
        c->s[c->n] = s;
    c->n++;
    g_values++;
}

/* Parses "k=v,k=v" fields of one line into columns. */
static void parse_fields(uint64_t sid, const char *p, const char *end, int64_t ts)
{
    while (p < end) {
        const char *eq = memchr(p, '=', (size_t)(end - p));
        if (!eq)
            return;
        const char *v = eq + 1, *ve = v;
        if (*v == '"') {
            ve = memchr(v + 1, '"', (size_t)(end - v - 1));
            ve = ve ? ve + 1 : end;
        } else {
            while (ve < end && *ve != ',')
                ve++;
        }
        uint64_t bits = 0;
        uint8_t type;
        struct ne_sv s = {NULL, 0};
        char last = ve[-1];
        if (*v == '"') {
            type = NE_V_STRING;
            s.p = v + 1;
            s.n = (uint32_t)(ve - v - 2);
        } else if (last == 'i') {
            type = NE_V_INT;
            int64_t i = strtoll(v, NULL, 10);
            memcpy(&bits, &i, 8);
        } else if (last == 'u') {
            type = NE_V_UINT;
            bits = strtoull(v, NULL, 10);
        } else if (*v == 't' || *v == 'f' || *v == 'T' || *v == 'F') {
            type = NE_V_BOOL;
            bits = (*v == 't' || *v == 'T');
        } else {
            type = NE_V_FLOAT;
            double d = strtod(v, NULL);
            memcpy(&bits, &d, 8);
        }
        col_push(column(sid, p, (size_t)(eq - p), type), ts, bits, s);
        p = ve + (ve < end && *ve == ',');
    }
}

static void parse(const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *sp1 = memchr(p, ' ', (size_t)(le - p));
        const char *sp2 = sp1 ? memrchr(sp1 + 1, ' ', (size_t)(le - sp1 - 1)) : NULL;
        if (sp1 && sp2 && *p != '#') {
            int64_t ts = strtoll(sp2 + 1, NULL, 10);
            parse_fields(series_id(p, (size_t)(sp1 - p)), sp1 + 1, sp2, ts);
        }
        p = le + 1;
    }
}

/* ---- sorting ---------------------------------------------------------------- */

static int col_cmp(const void *a, const void *b)
{
    const struct col *x = a, *y = b;
    if (x->sid != y->sid)
        return x->sid < y->sid ? -1 : 1;
    return strcmp(x->field, y->field);
}

static const struct col *g_sorting;

static int idx_cmp(const void *a, const void *b)
{
    uint32_t i = *(const uint32_t *)a, j = *(const uint32_t *)b;
    int64_t x = g_sorting->ts[i], y = g_sorting->ts[j];
    if (x != y)
        return x < y ? -1 : 1;
    return i < j ? -1 : (i > j);
}

/* Sorts a column by time (stable), keeping the last of equal timestamps. */
static void col_sort(struct col *c)
{
    bool sorted = true;
    for (uint32_t i = 1; i < c->n && sorted; i++)
        sorted = c->ts[i] > c->ts[i - 1];
    if (sorted)
        return;
    uint32_t *idx = malloc(c->n * sizeof *idx);
    for (uint32_t i = 0; i < c->n; i++)
        idx[i] = i;
    g_sorting = c;
    qsort(idx, c->n, sizeof *idx, idx_cmp);
    int64_t *ts = malloc(c->n * 8);
    uint64_t *v = malloc(c->n * 8);
    struct ne_sv *s = c->s ? malloc(c->n * sizeof *s) : NULL;
    uint32_t m = 0;
    for (uint32_t k = 0; k < c->n; k++) {
        uint32_t i = idx[k];
        if (m && ts[m - 1] == c->ts[i])
            m--; /* the later line wins */
        ts[m] = c->ts[i];
        v[m] = c->v[i];
        if (s)
            s[m] = c->s[i];
        m++;
    }
    free(c->ts);
    free(c->v);
    free(c->s);
    free(idx);
    c->ts = ts;
    c->v = v;
    c->s = s;
    c->n = m;
}

/* ---- segment work ------------------------------------------------------------- */

static void *col_vals(const struct col *c, uint32_t from)
{
    if (c->type == NE_V_STRING)
        return c->s + from;
    if (c->type == NE_V_BOOL) {
        /* bools are kept as uint64 bits: pack into a bool array */
        bool *b = malloc(c->n - from + 1);
        for (uint32_t i = from; i < c->n; i++)
            b[i - from] = c->v[i] != 0;
        return b;
    }
    return c->v + from;
}

/* Writes columns [from_ts, to_ts) of every column as segment id. */
static int write_seg(const char *dir, uint64_t id, uint32_t bp, int64_t from_ts, int64_t to_ts,
                     struct ne_seg_info *info)
{
    const char *dbs[] = {"bench"};
    struct ne_segw_opts o = {.block_points = bp, .dbs = dbs, .ndbs = 1};
    struct ne_segw *w;
    int rc = ne_segw_open(dir, id, &o, &w);
    for (size_t k = 0; k < g_ncols && !rc; k++) {
        const struct col *c = &g_cols[k];
        uint32_t a = 0, b = c->n;
        while (a < c->n && c->ts[a] < from_ts)
            a++;
        while (b > a && c->ts[b - 1] >= to_ts)
            b--;
        if (a == b)
            continue;
        struct ne_seg_colkey key = {c->sid, ne_sv_c(c->field), c->type, 0};
        void *vals = col_vals(c, a);
        rc = ne_segw_add_column(w, &key, c->ts + a, vals, b - a);
        if (c->type == NE_V_BOOL)
            free(vals);
    }
    if (rc) {
        ne_segw_abort(&w);
        return rc;
    }
    return ne_segw_finish(&w, info);
}

/* True if point j of the decoded block equals point i of source column c. */
static bool same_point(const struct col *c, uint32_t i, const struct ne_seg_block *blk, uint32_t j)
{
    if (c->ts[i] != blk->ts[j])
        return false;
    switch (c->type) {
    case NE_V_STRING:
        return c->s[i].n == blk->v.s[j].n && memcmp(c->s[i].p, blk->v.s[j].p, c->s[i].n) == 0;
    case NE_V_BOOL:
        return (c->v[i] != 0) == blk->v.b[j];
    default:
        return memcmp(&c->v[i], &blk->v.u[j], 8) == 0;
    }
}

/* Reads every block back and compares it with the parsed input (the
 * columns are in the same order). */
static int read_all(const char *path, uint64_t *points)
{
    struct ne_seg *r;
    int rc = ne_seg_open(path, &r);
    if (rc)
        return rc;
    struct ne_seg_block blk;
    ne_seg_block_init(&blk);
    *points = 0;
    for (uint32_t c = 0; c < ne_seg_info(r)->ncols && !rc; c++) {
        uint32_t i = 0;
        for (uint32_t b = 0; b < ne_seg_col(r, c)->nblocks && !rc; b++) {
            rc = ne_seg_block_read(r, c, b, &blk);
            for (uint32_t j = 0; !rc && j < blk.n; j++, i++)
                if (i >= g_cols[c].n || !same_point(&g_cols[c], i, &blk, j))
                    rc = NE_ECORRUPT;
            *points += blk.n;
        }
    }
    ne_seg_block_free(&blk);
    ne_seg_close(&r);
    return rc;
}

static double secs(int64_t ns)
{
    return (double)ns / 1e9;
}

static void type_table(const char *path)
{
    struct ne_seg *r;
    if (ne_seg_open(path, &r))
        return;
    uint64_t block_bytes = 0;
    for (uint32_t c = 0; c < ne_seg_info(r)->ncols; c++)
        block_bytes += ne_seg_col_bytes(r, c);
    printf("| %-28s | %14" PRIu64 " |\n", "index+header+tail bytes",
           ne_seg_info(r)->file_bytes - block_bytes);
    for (uint8_t t = NE_V_FLOAT; t <= NE_V_STRING; t++) {
        uint64_t bytes = 0, pts = 0;
        for (uint32_t c = 0; c < ne_seg_info(r)->ncols; c++) {
            const struct ne_seg_col *col = ne_seg_col(r, c);
            if (col->key.type == t) {
                bytes += ne_seg_col_bytes(r, c);
                pts += col->npoints;
            }
        }
        if (pts)
            printf("| %-28s | %14.3f |\n", ne_vtype_name(t), (double)bytes / (double)pts);
    }
    ne_seg_close(&r);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench_segment FILE.lp [block_points]\n");
        return 2;
    }
    uint32_t bp = argc > 2 ? (uint32_t)strtoul(argv[2], NULL, 10) : NE_SEG_BLOCK_POINTS;
    char *buf;
    size_t len;
    if (ne_fs_read_all(argv[1], &buf, &len)) {
        fprintf(stderr, "cannot read %s\n", argv[1]);
        return 1;
    }
    g_ser = calloc(g_sercap, sizeof *g_ser);
    g_cmap = calloc(g_cmapcap, sizeof *g_cmap);
    parse(buf, len);
    for (size_t k = 0; k < g_ncols; k++)
        col_sort(&g_cols[k]);
    qsort(g_cols, g_ncols, sizeof *g_cols, col_cmp);
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    uint64_t kept = 0;
    for (size_t k = 0; k < g_ncols; k++) {
        mn = g_cols[k].ts[0] < mn ? g_cols[k].ts[0] : mn;
        mx = g_cols[k].ts[g_cols[k].n - 1] > mx ? g_cols[k].ts[g_cols[k].n - 1] : mx;
        kept += g_cols[k].n;
    }

    char dir[] = "/tmp/neoedge-bench-seg-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    struct ne_seg_info whole, h1, h2, merged;
    int64_t t0 = ne_time_mono_ns();
    int rc = write_seg(dir, 1, bp, INT64_MIN, INT64_MAX, &whole);
    int64_t t1 = ne_time_mono_ns();
    char path[512];
    ne_seg_path(path, sizeof path, dir, 1);
    uint64_t read_pts = 0;
    if (!rc)
        rc = read_all(path, &read_pts);
    int64_t t2 = ne_time_mono_ns();
    int64_t mid = mn + (mx - mn) / 2;
    if (!rc)
        rc = write_seg(dir, 2, bp, INT64_MIN, mid, &h1);
    if (!rc)
        rc = write_seg(dir, 3, bp, mid, INT64_MAX, &h2);
    struct ne_seg *in[2] = {NULL, NULL};
    char p2[512], p3[512];
    ne_seg_path(p2, sizeof p2, dir, 2);
    ne_seg_path(p3, sizeof p3, dir, 3);
    if (!rc)
        rc = ne_seg_open(p2, &in[0]);
    if (!rc)
        rc = ne_seg_open(p3, &in[1]);
    int64_t t3 = ne_time_mono_ns();
    struct ne_seg_merge_opts mo;
    ne_seg_merge_opts_default(&mo);
    mo.block_points = bp;
    if (!rc)
        rc = ne_seg_merge(in, 2, dir, 4, &mo, &merged);
    int64_t t4 = ne_time_mono_ns();
    ne_seg_close(&in[0]);
    ne_seg_close(&in[1]);
    if (rc) {
        fprintf(stderr, "benchmark failed: %s\n", ne_strerror(rc));
        ne_fs_remove_tree(dir);
        return 1;
    }
    printf("input %s: %zu bytes, %" PRIu64 " field values (%" PRIu64 " after dedup), %zu "
           "series, %zu columns, block_points %u\n\n",
           argv[1], len, g_values, kept, g_nser, g_ncols, bp);
    printf("| %-28s | %14s |\n", "figure", "value");
    printf("|------------------------------|----------------|\n");
    printf("| %-28s | %14" PRIu64 " |\n", "segment bytes", whole.file_bytes);
    printf("| %-28s | %14.3f |\n", "bytes per value (file)",
           (double)whole.file_bytes / (double)whole.npoints);
    type_table(path);
    printf("| %-28s | %14" PRIu64 " |\n", "blocks", whole.nblocks);
    printf("| %-28s | %14.2f |\n", "write M values/s", (double)whole.npoints / secs(t1 - t0) / 1e6);
    printf("| %-28s | %14.2f |\n", "read+decode+check M val/s", (double)read_pts / secs(t2 - t1) / 1e6);
    printf("| %-28s | %14.2f |\n", "merge 2 halves M values/s",
           (double)merged.npoints / secs(t4 - t3) / 1e6);
    printf("| %-28s | %14.3f |\n", "merged bytes per value",
           (double)merged.file_bytes / (double)merged.npoints);
    ne_fs_remove_tree(dir);
    return merged.npoints == whole.npoints && read_pts == whole.npoints ? 0 : 1;
}
