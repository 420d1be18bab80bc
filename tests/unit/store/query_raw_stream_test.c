/* Raw SELECT streams in time windows: over a real store of 1,000,000
 * points (200 series x 5,000 s, a float field everywhere and an int field
 * on half the rows), the executor's peak of allocated bytes (ne_alloc_track)
 * stays within a small bound set by opts.raw_window_values, far below what
 * the same query takes read in one window, and both give the same rows in
 * the same order. Also: ORDER BY time DESC with OFFSET/LIMIT across
 * windows, a time range that cuts blocks, chunked JSON output
 * (chunk_size rows per line), and transformations across windows. */
#include <stdlib.h>
#include <string.h>

#include "engine_util.h"
#include "ports/err.h"
#include "store/query/query.h"
#include "t.h"

#define NS 200
#define PTS 5000

static char dir[] = "/tmp/neoedge-rawstream.XXXXXX";
static struct ne_store *store;
static struct ne_qsrc src;

static double vof(int s, int i)
{
    return s * 1e6 + i + 0.25;
}

static void load(void)
{
    struct ne_store_opts o;
    eu_opts(&o, dir);
    o.durability = NE_STORE_NONE;
    T_OK(ne_store_open(&o, &store));
    struct ne_batch b;
    ne_batch_init(&b);
    static char tags[NS][8]; /* the batch borrows the views */
    for (int s = 0; s < NS; s++)
        snprintf(tags[s], sizeof tags[s], "d%03d", s);
    for (int i = 0; i < PTS; i++) {
        for (int s = 0; s < NS; s++) {
            ne_batch_begin(&b, ne_sv_c("m"), EU_T0 + (int64_t)i * EU_SEC);
            ne_batch_tag(&b, ne_sv_c("dev"), ne_sv_c(tags[s]));
            ne_batch_field_f(&b, ne_sv_c("v"), vof(s, i));
            if ((s + i) % 2 == 0) {
                union ne_value u = {.i = s * 10000 + i};
                ne_batch_field(&b, ne_sv_c("k"), NE_V_INT, u);
            }
            ne_batch_end(&b);
        }
        if (i % 25 == 24) {
            struct ne_write_result res;
            T_OK(ne_store_write(store, "db", &b, &res));
            ne_batch_reset(&b);
        }
    }
    ne_batch_free(&b);
    T_OK(ne_store_flush(store));
    ne_store_qsrc(store, &src);
}

/* What a query gave: rows, order checks, a checksum, the first rows. */
struct got {
    uint64_t rows, sum;
    int64_t last_t;
    bool desc, order_ok;
    size_t ncols;
    struct ne_qcell first[8][4];
    char strs[8][4][16]; /* the first rows' strings (the cells' views die with the row) */
    char err[256];
};

static int g_begin_stmt(void *ctx, int id)
{
    return 0;
}

static int g_begin_series(void *ctx, const char *name, const struct ne_tag *tags, size_t ntags,
                          const char *const *cols, size_t ncols)
{
    struct got *g = ctx;
    g->ncols = ncols;
    return 0;
}

static int g_row(void *ctx, const struct ne_qcell *c, size_t n)
{
    struct got *g = ctx;
    int64_t t = c[0].v.i;
    if (g->rows && (g->desc ? t > g->last_t : t < g->last_t))
        g->order_ok = false;
    g->last_t = t;
    if (g->rows < 8)
        for (size_t k = 0; k < n && k < 4; k++) {
            struct ne_qcell *f = &g->first[g->rows][k];
            *f = c[k];
            if (c[k].type != NE_QC_STRING) continue;
            f->v.s.n = c[k].v.s.n < sizeof g->strs[0][0] ? c[k].v.s.n : sizeof g->strs[0][0];
            memcpy(g->strs[g->rows][k], c[k].v.s.p, f->v.s.n);
            f->v.s.p = NULL; /* read strs instead */
        }
    uint64_t h = (uint64_t)t * 0x9e3779b97f4a7c15ULL;
    for (size_t k = 1; k < n; k++) {
        uint64_t bits = 0;
        if (c[k].type == NE_QC_FLOAT)
            memcpy(&bits, &c[k].v.f, 8);
        else if (c[k].type == NE_QC_INT)
            bits = (uint64_t)c[k].v.i ^ 0xabcdefULL;
        h = (h ^ bits) * 0x100000001b3ULL + k;
    }
    g->sum += h * (g->rows + 1); /* order matters */
    g->rows++;
    return 0;
}

static int g_end_series(void *ctx)
{
    return 0;
}

static int g_end_stmt(void *ctx, const char *err)
{
    struct got *g = ctx;
    if (err)
        snprintf(g->err, sizeof g->err, "%s", err);
    return 0;
}

/* Runs q with raw_window_values = window; *peak = the peak of bytes
 * allocated while it ran. */
static struct got query(const char *q, uint64_t window, bool desc, size_t *peak)
{
    struct got g = {.desc = desc, .order_ok = true};
    struct ne_qout out = {.ctx = &g, .begin_statement = g_begin_stmt,
                          .begin_series = g_begin_series, .row = g_row,
                          .end_series = g_end_series, .end_statement = g_end_stmt};
    struct ne_query_opts qo = {.db = "db", .now_ns = EU_T0, .raw_window_values = window};
    ne_alloc_track(true);
    int rc = ne_query_text(&src, &qo, q, strlen(q), &out);
    *peak = ne_alloc_peak();
    ne_alloc_track(false);
    if (rc && !g.err[0])
        snprintf(g.err, sizeof g.err, "query failed: %s", ne_strerror(rc));
    return g;
}

static void test_bounded_and_same(void)
{
    size_t peak_small, peak_whole;
    struct got a = query("SELECT * FROM m", 20000, false, &peak_small); /* 10,000 rows */
    struct got b = query("SELECT * FROM m", UINT64_MAX, false, &peak_whole);
    T_EQ_STR(a.err, "");
    T_EQ_STR(b.err, "");
    T_EQ_U64(a.rows, (uint64_t)NS * PTS);
    T_EQ_U64(b.rows, a.rows);
    T_CHECK(a.sum == b.sum);
    T_CHECK(a.order_ok && b.order_ok);
    T_EQ_INT(a.ncols, 4); /* time, dev, k, v */
    fprintf(stderr, "  peak bytes: windows of 10,000 rows %zu, one window %zu\n", peak_small,
            peak_whole);
    /* 1,000,000 rows are at least 24 MB as bare (time, k, v) triples; a
     * window of 10,000 rows and the source's per-series scan state stay
     * far below */
    T_CHECK(peak_small < 8u << 20);
    T_CHECK(peak_small * 8 < peak_whole);
    /* the first rows: t0, series in key order, k null on odd rows */
    T_EQ_INT(a.first[0][0].v.i, EU_T0);
    T_EQ_INT(a.first[0][1].type, NE_QC_STRING);
    T_CHECK(a.first[1][1].v.s.n == 4 && memcmp(a.strs[1][1], "d001", 4) == 0);
    T_EQ_INT(a.first[0][2].type, NE_QC_INT);
    T_EQ_INT(a.first[0][2].v.i, 0);
    T_EQ_DBL(a.first[0][3].v.f, vof(0, 0), 0);
    T_EQ_INT(a.first[1][2].type, NE_QC_NULL);
    T_EQ_DBL(a.first[1][3].v.f, vof(1, 0), 0);
}

static void test_desc_offset_limit(void)
{
    size_t peak;
    /* the latest second, series in reverse order, after skipping 3 */
    struct got g = query("SELECT v FROM m ORDER BY time DESC LIMIT 5 OFFSET 3", 10000, true,
                         &peak);
    T_EQ_STR(g.err, "");
    T_EQ_U64(g.rows, 5);
    T_CHECK(g.order_ok);
    for (int r = 0; r < 5; r++) {
        T_EQ_INT(g.first[r][0].v.i, EU_T0 + (int64_t)(PTS - 1) * EU_SEC);
        T_EQ_DBL(g.first[r][1].v.f, vof(NS - 1 - 3 - r, PTS - 1), 0);
    }
    /* a LIMIT stops the reading early: one window's worth, not the data */
    T_CHECK(peak < 8u << 20);
}

static void test_time_range_and_filter(void)
{
    size_t peak;
    /* seconds 1000..1999 of series d042 where k is set: every other second */
    struct got g = query("SELECT k, v FROM m WHERE dev = 'd042' AND k >= 0 AND "
                         "time >= '2026-01-01T00:16:40Z' AND time < '2026-01-01T00:33:20Z'",
                         2048, false, &peak); /* the smallest window: 1,024 rows */
    T_EQ_STR(g.err, "");
    T_EQ_U64(g.rows, 500);
    T_CHECK(g.order_ok);
    T_EQ_INT(g.first[0][0].v.i, EU_T0 + 1000 * EU_SEC);
    T_EQ_INT(g.first[0][1].v.i, 42 * 10000 + 1000);
    T_EQ_DBL(g.first[1][2].v.f, vof(42, 1002), 0);
}

struct lines {
    size_t n, partial;
    bool ok;
};

static int count_lines(void *ctx, const char *p, size_t n)
{
    struct lines *l = ctx;
    for (size_t i = 0; i < n; i++)
        l->n += p[i] == '\n';
    /* a line at most: chunk_size rows */
    const char *q = memmem(p, n, "\"partial\":true}]", 16);
    l->partial += q != NULL;
    return 0;
}

static void test_chunked(void)
{
    struct lines l = {0};
    struct ne_qwriter_opts wo = {.format = NE_QFMT_JSON, .epoch = "ns", .emit = count_lines,
                                 .emit_ctx = &l, .chunked = true, .chunk_size = 1000};
    struct ne_qwriter *w = NULL;
    T_OK(ne_qwriter_new(&wo, &w));
    struct ne_query_opts qo = {.db = "db", .now_ns = EU_T0, .raw_window_values = 1500};
    const char *q = "SELECT v FROM m WHERE dev = 'd007'";
    T_OK(ne_query_text(&src, &qo, q, strlen(q), ne_qwriter_out(w)));
    T_OK(ne_qwriter_finish(w));
    ne_qwriter_free(&w);
    /* 5,000 rows in responses of 1,000: five lines, four of them partial */
    T_EQ_INT(l.n, 5);
    T_EQ_INT(l.partial, 4);
}

/* Transformations stream too: their state continues across windows, so
 * small windows give what one window gives, with the same small bound on
 * memory. */
static void test_transforms_streamed(void)
{
    static const char *const qs[] = {
        "SELECT derivative(v, 1s) FROM m",
        "SELECT difference(k), moving_average(v, 7) FROM m WHERE dev = 'd042'",
        "SELECT cumulative_sum(k), non_negative_derivative(v) FROM m WHERE dev =~ /d04/ "
        "ORDER BY time DESC",
        "SELECT moving_average(v, 10) FROM m WHERE dev = 'd042' ORDER BY time DESC LIMIT 3",
    };
    for (size_t i = 0; i < sizeof qs / sizeof *qs; i++) {
        bool desc = strstr(qs[i], "DESC") != NULL;
        size_t peak_small, peak_whole;
        struct got a = query(qs[i], 2048, desc, &peak_small); /* windows of 1,024 rows */
        struct got b = query(qs[i], UINT64_MAX, desc, &peak_whole);
        T_EQ_STR(a.err, "");
        T_EQ_STR(b.err, "");
        T_CHECK(a.rows > 0);
        T_EQ_U64(a.rows, b.rows);
        T_CHECK(a.sum == b.sum);
        T_CHECK(a.order_ok && b.order_ok);
        if (i == 0) { /* reads 1,000,000 rows: bounded like a plain raw SELECT */
            fprintf(stderr, "  derivative peak bytes: small windows %zu, one window %zu\n",
                    peak_small, peak_whole);
            T_EQ_U64(a.rows, PTS - 1); /* rows of one time after the first get none */
            T_CHECK(peak_small < 8u << 20);
            T_CHECK(peak_small * 8 < peak_whole);
        }
    }
    size_t peak;
    /* v rises by 1 a second in every series */
    struct got d = query("SELECT derivative(v, 1s) FROM m WHERE dev = 'd042'", 2048, false, &peak);
    T_EQ_U64(d.rows, PTS - 1);
    T_EQ_INT(d.first[0][0].v.i, EU_T0 + EU_SEC);
    T_EQ_DBL(d.first[0][1].v.f, 1.0, 0);
    /* ORDER BY time DESC runs them backwards, as InfluxDB does: the running
     * sum starts at the latest k (420000 + 4998) */
    struct got c = query("SELECT cumulative_sum(k) FROM m WHERE dev = 'd042' ORDER BY time DESC "
                         "LIMIT 2", 2048, true, &peak);
    T_EQ_U64(c.rows, 2);
    T_EQ_INT(c.first[0][0].v.i, EU_T0 + (int64_t)(PTS - 2) * EU_SEC);
    T_EQ_INT(c.first[0][1].v.i, 420000 + PTS - 2);
    T_EQ_INT(c.first[1][1].v.i, 2 * 420000 + (PTS - 2) + (PTS - 4));
    /* the first full window of ten going back: seconds 4999..4990 */
    struct got m = query("SELECT moving_average(v, 10) FROM m WHERE dev = 'd042' "
                         "ORDER BY time DESC LIMIT 3", 2048, true, &peak);
    T_EQ_U64(m.rows, 3);
    T_EQ_INT(m.first[0][0].v.i, EU_T0 + (int64_t)(PTS - 10) * EU_SEC);
    T_EQ_DBL(m.first[0][1].v.f, vof(42, PTS - 10) + 4.5, 1e-6);
    T_EQ_DBL(m.first[2][1].v.f, vof(42, PTS - 12) + 4.5, 1e-6);
    /* the whole answer of one series: a cumulative sum over 2,500 values
     * crossing window boundaries */
    struct got all = query("SELECT cumulative_sum(k) FROM m WHERE dev = 'd042' ORDER BY time DESC",
                           2048, true, &peak);
    T_EQ_U64(all.rows, PTS / 2);
    struct got lim = query("SELECT cumulative_sum(k) FROM m WHERE dev = 'd042' LIMIT 1 OFFSET 2499",
                           2048, false, &peak);
    T_EQ_U64(lim.rows, 1);
    T_EQ_INT(lim.first[0][1].v.i, 2500LL * 420000 + 2499LL * 2500);
}

int main(void)
{
    if (!mkdtemp(dir))
        return 1;
    load();
    T_RUN(test_bounded_and_same);
    T_RUN(test_desc_offset_limit);
    T_RUN(test_time_range_and_filter);
    T_RUN(test_chunked);
    T_RUN(test_transforms_streamed);
    ne_store_close(&store);
    eu_rmtree(dir);
    return t_done();
}
