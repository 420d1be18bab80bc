/*
 * segment_merge_test.c - ne_seg_merge: last write wins on identical
 * (series, field, ts) with the newest input winning, overlapping and
 * disjoint time ranges, columns present in some inputs only, retention
 * (keep_min_ts) and column filtering, type conflicts, database and WAL
 * range unions, randomized merges checked against a reference model,
 * and failures that publish nothing.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ports/log.h"
#include "ports/platform.h"
#include "segment_testlib.h"
#include "store/segment/seg_internal.h"
#include "t.h"

static char g_dir[256];
static uint64_t g_next_id = 1;
/* random_merge's time grid for inputs and output (0: none), and how many
 * output blocks were copied from an input (same CRC) under it */
static int64_t g_grid;
static uint32_t g_grid_min;
static size_t g_grid_copied;

/* Codec options for inputs whose blocks must differ from any the merge
 * re-encodes (timestamps forced raw; the merge chooses): an output block
 * equal to an input block was then copied. */
static const struct ne_codec_opts *raw_ts_opts(void)
{
    static struct ne_codec_opts o;
    ne_codec_opts_default(&o);
    o.force_ts = NE_CODEC_INT_RAW;
    return &o;
}

static struct ne_seg *open_id(uint64_t id)
{
    return tl_open(g_dir, id);
}

/* Writes cols as a new segment and opens it. */
static struct ne_seg *write_open(struct tl_col *cols, size_t n, const struct ne_segw_opts *o)
{
    uint64_t id = g_next_id++;
    if (tl_write(g_dir, id, cols, n, o, NULL))
        return NULL;
    return open_id(id);
}

/* True if block b of column col in x and block c of column d in y are the
 * same bytes (a block's CRC32C taken with its own trailing CRC is the
 * same constant for every block, so comparing index CRCs says nothing). */
static bool same_block(const struct ne_seg *x, uint32_t col, uint32_t b, const struct ne_seg *y,
                       uint32_t d, uint32_t c)
{
    const struct ne_seg_blockref *p = ne_seg_block(x, col, b), *q = ne_seg_block(y, d, c);
    if (!p || !q || p->len != q->len || p->vlen != q->vlen)
        return false;
    size_t n = (size_t)p->len + p->vlen;
    uint8_t *u = malloc(n), *v = malloc(n);
    FILE *f = fopen(ne_seg_path_of(x), "rb"), *g = fopen(ne_seg_path_of(y), "rb");
    bool same = u && v && f && g && fseek(f, (long)p->off, SEEK_SET) == 0 &&
                fseek(g, (long)q->off, SEEK_SET) == 0 && fread(u, 1, n, f) == n &&
                fread(v, 1, n, g) == n && memcmp(u, v, n) == 0;
    if (f)
        fclose(f);
    if (g)
        fclose(g);
    free(u);
    free(v);
    return same;
}

/* ---- reference model: all points of one column from all inputs ------------- */

struct ref_pt {
    int64_t ts;
    uint32_t input, idx; /* which input column, which point */
};

static int ref_cmp(const void *a, const void *b)
{
    const struct ref_pt *x = a, *y = b;
    if (x->ts != y->ts)
        return x->ts < y->ts ? -1 : 1;
    return x->input < y->input ? -1 : x->input > y->input;
}

/* Checks that merged column `got` equals the newest-wins union of
 * in[0..n) (NULL entries: the input lacks the column), keeping ts >= min. */
static void check_lww(const struct tl_col *got, struct tl_col *const *in, size_t n, int64_t min)
{
    size_t total = 0;
    for (size_t k = 0; k < n; k++)
        total += in[k] ? in[k]->n : 0;
    struct ref_pt *pts = calloc(total + 1, sizeof *pts);
    size_t m = 0;
    for (size_t k = 0; k < n; k++)
        for (uint32_t j = 0; in[k] && j < in[k]->n; j++)
            if (in[k]->ts[j] >= min)
                pts[m++] = (struct ref_pt){in[k]->ts[j], (uint32_t)k, j};
    qsort(pts, m, sizeof *pts, ref_cmp);
    size_t w = 0;
    for (size_t k = 0; k < m; k++) {
        if (k + 1 < m && pts[k + 1].ts == pts[k].ts)
            continue; /* a newer input has the same timestamp */
        pts[w++] = pts[k];
    }
    bool ok = got->n == w;
    for (size_t k = 0; ok && k < w; k++) {
        const struct tl_col *src = in[pts[k].input];
        ok = got->ts[k] == pts[k].ts &&
             tl_val_eq(src, pts[k].idx, got->type, tl_vals(got), (uint32_t)k);
        if (!ok)
            fprintf(stderr, "  point %zu: ts %" PRId64 " want %" PRId64 " (input %u)\n", k,
                    got->ts[k], pts[k].ts, pts[k].input);
    }
    free(pts);
    T_CHECK(ok);
}

/* The merge output r (segment id out) of the two one-column inputs in,
 * written from a and b: every point last-writer-wins, the file verified.
 * Closes r and the inputs and frees a and b. */
static void check_merged(struct ne_seg *r, uint64_t out, struct ne_seg **in, struct tl_col *a,
                         struct tl_col *b)
{
    struct tl_col got;
    T_OK(tl_read_col(r, 0, &got));
    struct tl_col *srcs[2] = {a, b};
    check_lww(&got, srcs, 2, INT64_MIN);
    tl_free(&got);
    ne_seg_close(&r);
    char path[512];
    T_OK(ne_seg_path(path, sizeof path, g_dir, out));
    T_OK(ne_seg_verify(path, NULL, 0));
    ne_seg_close(&in[0]);
    ne_seg_close(&in[1]);
    tl_free(a);
    tl_free(b);
}

static void test_lww_two_inputs(void)
{
    struct tl_col a, b;
    tl_fill(&a, 1, "v", NE_V_INT, 100, 0, 10);
    tl_fill(&b, 1, "v", NE_V_INT, 100, 0, 10);
    for (uint32_t k = 0; k < 100; k++) {
        a.ts[k] = (int64_t)k * 10;        /* 0 .. 990 */
        a.i[k] = 1;
        b.ts[k] = 500 + (int64_t)k * 10;  /* 500 .. 1490 */
        b.i[k] = 2;
    }
    struct ne_segw_opts o = {.block_points = 16};
    struct ne_seg *in[2] = {write_open(&a, 1, &o), write_open(&b, 1, &o)};
    T_CHECK(in[0] && in[1]);
    uint64_t out = g_next_id++;
    struct ne_seg_info info;
    T_OK(ne_seg_merge(in, 2, g_dir, out, NULL, &info));
    T_EQ_U64(info.npoints, 150);
    struct ne_seg *r = open_id(out);
    T_CHECK(r != NULL);
    struct tl_col got;
    T_OK(tl_read_col(r, 0, &got));
    T_EQ_INT(got.n, 150);
    for (uint32_t k = 0; k < 150; k++) {
        T_EQ_INT(got.ts[k], (int64_t)k * 10);
        T_EQ_INT(got.i[k], k < 50 ? 1 : 2);
    }
    tl_free(&got);
    ne_seg_close(&r);
    /* the other order: the old values win where they are now newest */
    struct ne_seg *rev[2] = {in[1], in[0]};
    out = g_next_id++;
    T_OK(ne_seg_merge(rev, 2, g_dir, out, NULL, NULL));
    r = open_id(out);
    T_OK(tl_read_col(r, 0, &got));
    T_EQ_INT(got.n, 150);
    for (uint32_t k = 0; k < 150; k++)
        T_EQ_INT(got.i[k], k < 100 ? 1 : 2);
    tl_free(&got);
    ne_seg_close(&r);
    ne_seg_close(&in[0]);
    ne_seg_close(&in[1]);
    tl_free(&a);
    tl_free(&b);
}

static int64_t cell_of(int64_t t)
{
    return t / g_grid - (t % g_grid != 0 && t < 0);
}

/* Under a grid (and blocks larger than any column), output column col has
 * the writer's block shape whether blocks were copied or re-encoded:
 * every block but the last holds align_min points or more and ends a
 * cell. Counts the blocks that are some input's block byte for byte. */
static void check_grid_blocks(const struct ne_seg *r, uint32_t col, struct ne_seg *const *in,
                              size_t nin)
{
    const struct ne_seg_col *c = ne_seg_col(r, col);
    for (uint32_t b = 0; b < c->nblocks; b++) {
        const struct ne_seg_blockref *x = ne_seg_block(r, col, b);
        if (b + 1 < c->nblocks) {
            const struct ne_seg_blockref *y = ne_seg_block(r, col, b + 1);
            T_CHECK(x->stats.count >= g_grid_min);
            T_CHECK(cell_of(x->stats.max_ts) < cell_of(y->stats.min_ts));
        }
        for (size_t k = 0; k < nin; k++) {
            const struct ne_seg_info *ii = ne_seg_info(in[k]);
            for (uint32_t ic = 0; ic < ii->ncols; ic++) {
                const struct ne_seg_col *icol = ne_seg_col(in[k], ic);
                if (ne_seg_colkey_cmp(&icol->key, &c->key) != 0)
                    continue;
                for (uint32_t ib = 0; ib < icol->nblocks; ib++) {
                    if (same_block(r, col, b, in[k], ic, ib))
                        g_grid_copied++;
                }
            }
        }
    }
}

/* Random inputs with overlapping time ranges, all types, columns in some
 * inputs only; the result matches the reference model and verifies. */
static void random_merge(size_t nin, uint32_t block_points, int64_t keep_min, uint32_t in_bp)
{
    static const uint8_t types[] = {NE_V_FLOAT, NE_V_INT, NE_V_UINT, NE_V_BOOL, NE_V_STRING};
    static const char *const fields[] = {"a", "b", "c", "d", "e"};
    enum { NS = 6, NF = 5 };
    struct tl_col data[4][NS * NF];
    bool has[4][NS * NF];
    struct ne_seg *in[4];
    for (size_t k = 0; k < nin; k++) {
        struct tl_col cols[NS * NF];
        size_t nc = 0;
        for (int c = 0; c < NS * NF; c++) {
            has[k][c] = tl_rand() % 4 != 0;
            if (!has[k][c])
                continue;
            uint32_t n = 1 + (uint32_t)(tl_rand() % 700);
            int64_t t0 = (int64_t)(tl_rand() % 4000) - 1000;
            tl_fill(&data[k][c], 10 + (uint64_t)(c / NF), fields[c % NF], types[c % NF], n, t0,
                    1 + (int64_t)(tl_rand() % 5));
            /* make the timestamps collide often across inputs */
            for (uint32_t j = 0; j < n; j++)
                data[k][c].ts[j] = t0 + (int64_t)j * 3;
            cols[nc++] = data[k][c];
        }
        struct ne_segw_opts o = {.block_points = in_bp ? in_bp : 1 + (uint32_t)(tl_rand() % 200),
                                 .wal_seq_min = 10 * k + 1, .wal_seq_max = 10 * k + 5,
                                 .align_ns = g_grid, .align_min = g_grid_min,
                                 .codec = g_grid ? raw_ts_opts() : NULL};
        in[k] = write_open(cols, nc, &o);
        T_CHECK(in[k] != NULL);
    }
    struct ne_seg_merge_opts mo;
    ne_seg_merge_opts_default(&mo);
    mo.block_points = block_points;
    mo.keep_min_ts = keep_min;
    mo.align_ns = g_grid;
    mo.align_min = g_grid_min;
    uint64_t out = g_next_id++;
    struct ne_seg_info info;
    T_OK(ne_seg_merge(in, nin, g_dir, out, &mo, &info));
    T_EQ_U64(info.wal_seq_min, 1);
    T_EQ_U64(info.wal_seq_max, 10 * (nin - 1) + 5);
    char path[512], why[256];
    T_OK(ne_seg_path(path, sizeof path, g_dir, out));
    T_OK(ne_seg_verify(path, why, sizeof why));
    struct ne_seg *r = open_id(out);
    T_CHECK(r != NULL);
    uint32_t ci = 0;
    for (int c = 0; c < NS * NF; c++) {
        struct tl_col *srcs[4] = {NULL, NULL, NULL, NULL};
        bool any = false;
        for (size_t k = 0; k < nin; k++) {
            if (has[k][c]) {
                srcs[k] = &data[k][c];
                for (uint32_t j = 0; j < data[k][c].n; j++)
                    any |= data[k][c].ts[j] >= keep_min;
            }
        }
        if (!any)
            continue; /* nothing left of this column */
        struct tl_col got;
        T_OK(tl_read_col(r, ci++, &got));
        T_EQ_U64(got.sid, 10 + (uint64_t)(c / NF));
        T_EQ_STR(got.field, fields[c % NF]);
        check_lww(&got, srcs, nin, keep_min);
        tl_free(&got);
        if (g_grid)
            check_grid_blocks(r, ci - 1, in, nin);
        if (t_cur_failed)
            break;
    }
    T_EQ_INT(ne_seg_info(r)->ncols, ci);
    ne_seg_close(&r);
    for (size_t k = 0; k < nin; k++) {
        ne_seg_close(&in[k]);
        for (int c = 0; c < NS * NF; c++)
            if (has[k][c])
                tl_free(&data[k][c]);
    }
}

static void test_random_overlapping(void)
{
    for (int round = 0; round < 12 && !t_cur_failed; round++)
        random_merge(2 + (size_t)(round % 3), round % 2 ? 37 : 4096, INT64_MIN, 0);
}

/* Inputs and output with the same block size: full blocks that do not
 * collide are copied verbatim, the rest merged point by point. */
static void test_same_block_size(void)
{
    for (int round = 0; round < 8 && !t_cur_failed; round++)
        random_merge(2 + (size_t)(round % 3), 16, round % 2 ? INT64_MIN : 300, 16);
}

/* Disjoint inputs: every full block of the output is an input block, byte
 * for byte, and the data is still exactly the union. */
static void test_verbatim_copy(void)
{
    struct tl_col a, b;
    tl_fill(&a, 1, "v", NE_V_FLOAT, 1050, 0, 10);
    tl_fill(&b, 1, "v", NE_V_FLOAT, 1000, a.ts[a.n - 1] + 1, 10);
    struct ne_segw_opts o = {.block_points = 100};
    struct ne_seg *in[2] = {write_open(&a, 1, &o), write_open(&b, 1, &o)};
    struct ne_seg_merge_opts mo;
    ne_seg_merge_opts_default(&mo);
    mo.block_points = 100;
    uint64_t out = g_next_id++;
    T_OK(ne_seg_merge(in, 2, g_dir, out, &mo, NULL));
    struct ne_seg *r = open_id(out);
    T_CHECK(r != NULL);
    const struct ne_seg_col *c = ne_seg_col(r, 0);
    /* a: 10 full blocks copied + its 50-point tail re-encoded; b: 10 copied */
    T_EQ_INT(c->nblocks, 21);
    for (uint32_t k = 0; k < 10; k++) {
        T_CHECK(same_block(r, 0, k, in[0], 0, k));
        T_CHECK(same_block(r, 0, 11 + k, in[1], 0, k));
        struct ne_block_stats sc, si; /* the copied entry keeps its full stats */
        T_OK(ne_seg_block_stats(r, 0, 11 + k, &sc));
        T_OK(ne_seg_block_stats(in[1], 0, k, &si));
        T_EQ_INT(sc.count, si.count);
        T_CHECK(memcmp(&sc.sum_f, &si.sum_f, sizeof sc.sum_f) == 0); /* bit for bit: NaNs */
        T_CHECK(sc.min.u == si.min.u && sc.max.u == si.max.u && sc.flags == si.flags);
        T_EQ_INT(sc.first_ts, si.first_ts);
        T_EQ_INT(sc.last_ts, si.last_ts);
    }
    T_EQ_INT(ne_seg_block(r, 0, 10)->stats.count, 50);
    check_merged(r, out, in, &a, &b);
}

/* Under a time grid, blocks the grid closed are copied verbatim unless
 * another input has points in their cell: A holds cells 0 to 2 and part
 * of 3, B the rest of 3 and part of 4 (and, in the second round, points
 * in cell 1 that win over A's there). */
static void test_grid_copy(void)
{
    for (int overlap = 0; overlap < 2; overlap++) {
        struct tl_col a, b;
        tl_fill(&a, 1, "v", NE_V_FLOAT, 350, 0, 1);
        tl_fill(&b, 1, "v", NE_V_FLOAT, 100 + (overlap ? 11 : 0), 0, 1);
        for (uint32_t k = 0; k < a.n; k++)
            a.ts[k] = k; /* 0..349 */
        for (uint32_t k = 0; k < b.n; k++) /* [150..160] 350..449 */
            b.ts[k] = overlap && k < 11 ? 150 + k : 350 + k - (overlap ? 11 : 0);
        struct ne_segw_opts o = {.align_ns = 100, .align_min = 10, .codec = raw_ts_opts()};
        struct ne_seg *in[2] = {write_open(&a, 1, &o), write_open(&b, 1, &o)};
        T_EQ_INT(ne_seg_col(in[0], 0)->nblocks, 4);
        T_EQ_INT(ne_seg_col(in[1], 0)->nblocks, overlap ? 3 : 2);
        struct ne_seg_merge_opts mo;
        ne_seg_merge_opts_default(&mo);
        mo.align_ns = 100;
        mo.align_min = 10;
        uint64_t out = g_next_id++;
        T_OK(ne_seg_merge(in, 2, g_dir, out, &mo, NULL));
        struct ne_seg *r = open_id(out);
        T_CHECK(r != NULL);
        T_EQ_INT(ne_seg_col(r, 0)->nblocks, 5); /* one per cell */
        uint32_t bl = overlap ? 2 : 1;          /* B's block of cell 4 */
        T_CHECK(same_block(r, 0, 0, in[0], 0, 0));
        T_CHECK(same_block(r, 0, 1, in[0], 0, 1) == !overlap);
        T_CHECK(same_block(r, 0, 2, in[0], 0, 2));
        T_CHECK(!same_block(r, 0, 3, in[0], 0, 3));
        T_EQ_INT(ne_seg_block(r, 0, 3)->stats.count, 100);
        T_CHECK(same_block(r, 0, 4, in[1], 0, bl));
        struct ne_block_stats sc, si; /* a copied entry keeps its stats */
        T_OK(ne_seg_block_stats(r, 0, 2, &sc));
        T_OK(ne_seg_block_stats(in[0], 0, 2, &si));
        T_CHECK(seg__stats_equal(&sc, &si));
        check_merged(r, out, in, &a, &b);
    }
}

/* Random merges under a grid, with retention in some rounds: same data as
 * the model, the writer's block shape, and some blocks copied. */
static void test_grid_random(void)
{
    g_grid = 60;
    g_grid_min = 8;
    g_grid_copied = 0;
    for (int round = 0; round < 10 && !t_cur_failed; round++)
        random_merge(2 + (size_t)(round % 3), 4096,
                     round % 3 == 2 ? (int64_t)(tl_rand() % 2000) : INT64_MIN, 0);
    T_CHECK(g_grid_copied > 0);
    g_grid = 0;
    g_grid_min = 0;
}

/* Inputs far larger than the merge's read-ahead window (store/segment
 * seg__ra), with blocks larger than the window too: the window is
 * refilled many times, for decoded and for copied blocks, and the result
 * is still exactly the union. */
static void test_readahead_windows(void)
{
    struct ne_codec_opts raw;
    ne_codec_opts_default(&raw);
    raw.zstd_level = 0;
    raw.force_ts = NE_CODEC_INT_RAW;
    raw.force_val = NE_CODEC_F_RAW;
    for (int big = 0; big < 2; big++) {
        uint32_t bp = big ? 20000 : 300; /* 20,000 raw points: 320 KB a block */
        struct tl_col a, b;
        tl_fill(&a, 1, "v", NE_V_FLOAT, 60000, 0, 10);
        tl_fill(&b, 1, "v", NE_V_FLOAT, 30000, 0, 10);
        for (uint32_t k = 0; k < b.n; k++) /* B overlaps A's middle third, on and off its points */
            b.ts[k] = a.ts[20000] + (int64_t)k * 7;
        struct ne_segw_opts o = {.block_points = bp, .codec = &raw};
        struct ne_seg *in[2] = {write_open(&a, 1, &o), write_open(&b, 1, &o)};
        T_CHECK(in[0] && in[1]);
        T_CHECK(ne_seg_info(in[0])->file_bytes > 4 * SEG_RA_CHUNK);
        struct ne_seg_merge_opts mo;
        ne_seg_merge_opts_default(&mo);
        mo.block_points = bp; /* default codecs: a re-encoded block differs */
        uint64_t out = g_next_id++;
        T_OK(ne_seg_merge(in, 2, g_dir, out, &mo, NULL));
        struct ne_seg *r = open_id(out);
        T_CHECK(r != NULL);
        T_CHECK(same_block(r, 0, 0, in[0], 0, 0)); /* A's first blocks: copied */
        check_merged(r, out, in, &a, &b);
    }
}

/* A damaged input block fails the merge (copied or decoded), and nothing
 * is published. */
static void test_corrupt_input_fails(void)
{
    for (int copy = 0; copy < 2; copy++) {
        struct tl_col a, b;
        tl_fill(&a, 1, "v", NE_V_INT, 400, 0, 10);
        tl_fill(&b, 1, "v", NE_V_INT, 400, copy ? a.ts[a.n - 1] + 1 : 5, 10);
        struct ne_segw_opts o = {.block_points = 100};
        struct ne_seg *in[2] = {write_open(&a, 1, &o), write_open(&b, 1, &o)};
        const struct ne_seg_blockref *ref = ne_seg_block(in[1], 0, 2);
        char path[512];
        T_OK(ne_seg_path(path, sizeof path, g_dir, ne_seg_info(in[1])->seg_id));
        FILE *f = fopen(path, "r+b");
        T_CHECK(f != NULL);
        fseek(f, (long)(ref->off + ref->len / 2), SEEK_SET);
        int ch = fgetc(f);
        fseek(f, (long)(ref->off + ref->len / 2), SEEK_SET);
        fputc(ch ^ 0x10, f);
        fclose(f);
        struct ne_seg_merge_opts mo;
        ne_seg_merge_opts_default(&mo);
        mo.block_points = 100;
        uint64_t out = g_next_id++;
        T_EQ_INT(ne_seg_merge(in, 2, g_dir, out, &mo, NULL), NE_ECHECKSUM);
        T_OK(ne_seg_path(path, sizeof path, g_dir, out));
        T_CHECK(!ne_fs_exists(path));
        T_EQ_INT(tl_count_suffix(g_dir, ".seg.tmp"), 0);
        ne_seg_close(&in[0]);
        ne_seg_close(&in[1]);
        tl_free(&a);
        tl_free(&b);
    }
}

static void test_retention(void)
{
    for (int round = 0; round < 6 && !t_cur_failed; round++)
        random_merge(3, 50, (int64_t)(tl_rand() % 3000) - 500, round % 2 ? 50 : 0);
}

static void test_disjoint_and_single(void)
{
    struct tl_col a, b;
    tl_fill(&a, 1, "x", NE_V_FLOAT, 5000, 0, 1000);
    tl_fill(&b, 2, "x", NE_V_FLOAT, 300, 0, 1000);
    struct ne_seg *in[2] = {write_open(&a, 1, NULL), write_open(&b, 1, NULL)};
    uint64_t out = g_next_id++;
    T_OK(ne_seg_merge(in, 2, g_dir, out, NULL, NULL));
    struct ne_seg *r = open_id(out);
    T_EQ_INT(ne_seg_info(r)->ncols, 2);
    struct tl_col got;
    struct tl_col *s0[2] = {&a, NULL}, *s1[2] = {NULL, &b};
    T_OK(tl_read_col(r, 0, &got));
    check_lww(&got, s0, 2, INT64_MIN);
    tl_free(&got);
    T_OK(tl_read_col(r, 1, &got));
    check_lww(&got, s1, 2, INT64_MIN);
    tl_free(&got);
    ne_seg_close(&r);
    /* one input: a copy; zero inputs: an empty segment */
    out = g_next_id++;
    T_OK(ne_seg_merge(in, 1, g_dir, out, NULL, NULL));
    r = open_id(out);
    T_EQ_U64(ne_seg_info(r)->npoints, 5000);
    ne_seg_close(&r);
    out = g_next_id++;
    struct ne_seg_info info;
    T_OK(ne_seg_merge(NULL, 0, g_dir, out, NULL, &info));
    T_EQ_INT(info.ncols, 0);
    r = open_id(out);
    T_CHECK(r != NULL);
    ne_seg_close(&r);
    ne_seg_close(&in[0]);
    ne_seg_close(&in[1]);
    tl_free(&a);
    tl_free(&b);
}

static bool drop_lab_and_sid3(void *ctx, const struct ne_seg_colkey *key, const char *db)
{
    (*(int *)ctx)++;
    return strcmp(db, "lab") != 0 && key->series_id != 3;
}

/* Databases are unioned and remapped; keep_col sees the names. */
static void test_dbs_and_filter(void)
{
    struct tl_col a[2], b[2];
    tl_fill(&a[0], 1, "v", NE_V_INT, 10, 0, 1);
    tl_fill(&a[1], 2, "v", NE_V_INT, 10, 0, 1);
    a[0].db = 0; /* plant */
    a[1].db = 1; /* lab */
    tl_fill(&b[0], 3, "v", NE_V_INT, 10, 0, 1);
    tl_fill(&b[1], 4, "v", NE_V_INT, 10, 0, 1);
    b[0].db = 0; /* home */
    b[1].db = 1; /* plant */
    const char *da[] = {"plant", "lab"}, *dbn[] = {"home", "plant"};
    struct ne_segw_opts oa = {.dbs = da, .ndbs = 2}, ob = {.dbs = dbn, .ndbs = 2};
    struct ne_seg *in[2] = {write_open(a, 2, &oa), write_open(b, 2, &ob)};
    uint64_t out = g_next_id++;
    T_OK(ne_seg_merge(in, 2, g_dir, out, NULL, NULL));
    struct ne_seg *r = open_id(out);
    T_EQ_INT(ne_seg_info(r)->ndbs, 3);
    for (uint32_t c = 0; c < 4; c++) {
        const struct ne_seg_col *col = ne_seg_col(r, c);
        const char *want[] = {"plant", "lab", "home", "plant"};
        T_EQ_STR(ne_seg_db_name(r, col->key.db), want[c]);
    }
    ne_seg_close(&r);
    int calls = 0;
    struct ne_seg_merge_opts mo;
    ne_seg_merge_opts_default(&mo);
    mo.keep_col = drop_lab_and_sid3;
    mo.ctx = &calls;
    out = g_next_id++;
    T_OK(ne_seg_merge(in, 2, g_dir, out, &mo, NULL));
    T_EQ_INT(calls, 4);
    r = open_id(out);
    T_EQ_INT(ne_seg_info(r)->ncols, 2);
    T_EQ_U64(ne_seg_col(r, 0)->key.series_id, 1);
    T_EQ_U64(ne_seg_col(r, 1)->key.series_id, 4);
    ne_seg_close(&r);
    ne_seg_close(&in[0]);
    ne_seg_close(&in[1]);
    for (int k = 0; k < 2; k++) {
        tl_free(&a[k]);
        tl_free(&b[k]);
    }
}

/* A column whose type changed: the newest input's type wins. */
static void test_type_conflict(void)
{
    struct tl_col a, b;
    tl_fill(&a, 1, "v", NE_V_INT, 50, 0, 1);
    tl_fill(&b, 1, "v", NE_V_STRING, 20, 1000, 1);
    struct ne_seg *in[2] = {write_open(&a, 1, NULL), write_open(&b, 1, NULL)};
    uint64_t out = g_next_id++;
    T_OK(ne_seg_merge(in, 2, g_dir, out, NULL, NULL));
    struct ne_seg *r = open_id(out);
    T_EQ_INT(ne_seg_col(r, 0)->key.type, NE_V_STRING);
    struct tl_col got;
    T_OK(tl_read_col(r, 0, &got));
    struct tl_col *srcs[2] = {NULL, &b};
    check_lww(&got, srcs, 2, INT64_MIN);
    tl_free(&got);
    ne_seg_close(&r);
    ne_seg_close(&in[0]);
    ne_seg_close(&in[1]);
    tl_free(&a);
    tl_free(&b);
}

/* A merge that fails (disk full at any write, an allocation) publishes
 * nothing and leaves the inputs intact. */
static void test_failure_publishes_nothing(void)
{
    struct tl_col a, b;
    tl_fill(&a, 1, "v", NE_V_FLOAT, 3000, 0, 10);
    tl_fill(&b, 1, "v", NE_V_FLOAT, 3000, 5, 10);
    struct ne_segw_opts o = {.block_points = 300};
    struct ne_seg *in[2] = {write_open(&a, 1, &o), write_open(&b, 1, &o)};
    char path[512];
    for (int op = 0; op < 2; op++) {
        bool done = false;
        for (uint64_t nth = 1; nth < 500 && !done; nth++) {
            uint64_t out = g_next_id++;
            ne_fault_reset();
            if (op == 0)
                ne_fault_arm(NE_FAULT_WRITE, nth, NE_FAULT_ENOSPC, true);
            else
                ne_fault_arm(NE_FAULT_ALLOC, nth, NE_FAULT_NULL, false);
            int rc = ne_seg_merge(in, 2, g_dir, out, NULL, NULL);
            bool fired = ne_fault_fired(op == 0 ? NE_FAULT_WRITE : NE_FAULT_ALLOC) > 0;
            ne_fault_reset();
            T_OK(ne_seg_path(path, sizeof path, g_dir, out));
            if (rc) {
                T_CHECK(fired);
                T_CHECK(!ne_fs_exists(path));
            } else {
                T_OK(ne_seg_verify(path, NULL, 0));
                done = !fired;
            }
            T_EQ_INT(tl_count_suffix(g_dir, ".seg.tmp"), 0);
        }
        T_CHECK(done);
    }
    for (int k = 0; k < 2; k++) {
        T_OK(ne_seg_path(path, sizeof path, g_dir, ne_seg_info(in[k])->seg_id));
        T_OK(ne_seg_verify(path, NULL, 0));
        ne_seg_close(&in[k]);
    }
    tl_free(&a);
    tl_free(&b);
}

/* A merge killed (SIGKILL) at an arbitrary moment leaves either no output
 * or the complete one, at worst a stale tmp that ne_seg_clean_tmp removes;
 * the inputs are untouched. */
static void test_killed_merge(void)
{
    enum { NC = 40 };
    struct tl_col a[NC], b[NC];
    for (int c = 0; c < NC; c++) {
        char f[8];
        snprintf(f, sizeof f, "f%02d", c);
        tl_fill(&a[c], 1, f, NE_V_FLOAT, 4000, 0, 10);
        tl_fill(&b[c], 1, f, NE_V_FLOAT, 4000, 5, 10);
    }
    struct ne_seg *in[2] = {write_open(a, NC, NULL), write_open(b, NC, NULL)};
    T_CHECK(in[0] && in[1]);
    struct ne_seg_info want;
    uint64_t ref = g_next_id++;
    int64_t t0 = ne_time_mono_ns();
    T_OK(ne_seg_merge(in, 2, g_dir, ref, NULL, &want));
    /* spread the kill points over about the time a merge takes here */
    uint64_t span_us = (uint64_t)(ne_time_mono_ns() - t0) / 1000 * 5 / 4 + 1;
    char path[512];
    int complete = 0, absent = 0;
    for (int round = 0; round < 12; round++) {
        uint64_t out = g_next_id++;
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0)
            _exit(ne_seg_merge(in, 2, g_dir, out, NULL, NULL) ? 1 : 0);
        T_CHECK(pid > 0);
        usleep((useconds_t)(tl_rand() % span_us));
        kill(pid, SIGKILL);
        int st = 0;
        waitpid(pid, &st, 0);
        T_CHECK(!WIFEXITED(st) || WEXITSTATUS(st) == 0);
        T_OK(ne_seg_path(path, sizeof path, g_dir, out));
        if (ne_fs_exists(path)) {
            complete++;
            struct ne_seg *r = open_id(out);
            T_CHECK(r != NULL);
            T_EQ_U64(ne_seg_info(r)->npoints, want.npoints);
            T_EQ_INT(ne_seg_info(r)->ncols, want.ncols);
            ne_seg_close(&r);
            T_OK(ne_seg_verify(path, NULL, 0));
        } else {
            absent++;
        }
        T_OK(ne_seg_clean_tmp(g_dir));
        T_EQ_INT(tl_count_suffix(g_dir, ".seg.tmp"), 0);
    }
    fprintf(stderr, "  killed merges: %d complete, %d absent\n", complete, absent);
    for (int k = 0; k < 2; k++) {
        T_OK(ne_seg_path(path, sizeof path, g_dir, ne_seg_info(in[k])->seg_id));
        T_OK(ne_seg_verify(path, NULL, 0));
        ne_seg_close(&in[k]);
    }
    for (int c = 0; c < NC; c++) {
        tl_free(&a[c]);
        tl_free(&b[c]);
    }
}

int main(void)
{
    ne_log_set_level(NE_LOG_OFF);
    if (!t_tmpdir(g_dir, sizeof g_dir))
        return 1;
    T_RUN(test_lww_two_inputs);
    T_RUN(test_random_overlapping);
    T_RUN(test_retention);
    T_RUN(test_same_block_size);
    T_RUN(test_verbatim_copy);
    T_RUN(test_grid_copy);
    T_RUN(test_grid_random);
    T_RUN(test_readahead_windows);
    T_RUN(test_corrupt_input_fails);
    T_RUN(test_disjoint_and_single);
    T_RUN(test_dbs_and_filter);
    T_RUN(test_type_conflict);
    T_RUN(test_failure_publishes_nothing);
    T_RUN(test_killed_merge);
    ne_fs_remove_tree(g_dir);
    return t_done();
}
