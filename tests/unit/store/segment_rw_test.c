/*
 * segment_rw_test.c - segment writer and reader: round trips over many
 * series and every type, block stats against stats recomputed from the
 * data, lookups and time-range block selection, publication (no tmp file
 * left, existing ids refused), argument checks, unknown versions, the
 * tools, and I/O / allocation failures injected through ports.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ports/crc32c.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "segment_testlib.h"
#include "store/segment/seg_internal.h"
#include "t.h"

static char g_dir[256];

static const uint8_t TYPES[] = {NE_V_FLOAT, NE_V_INT, NE_V_UINT, NE_V_BOOL, NE_V_STRING};
static const char *const FIELDS[] = {"a_temp", "b_count", "c_bytes", "d_on", "e_status"};

#define NSER 24
#define NCOL (NSER * 5)

/* NSER series x 5 fields (one per type), in key order. */
static void make_cols(struct tl_col *cols, uint32_t maxn)
{
    for (uint32_t s = 0; s < NSER; s++) {
        for (uint32_t f = 0; f < 5; f++) {
            uint32_t n = 1 + (uint32_t)(tl_rand() % maxn);
            tl_fill(&cols[s * 5 + f], 1000 + s * 7, FIELDS[f], TYPES[f], n,
                    1767225600000000000LL + (int64_t)s * 1000, 1000000000LL);
            cols[s * 5 + f].db = s % 2;
        }
    }
}

static void free_cols(struct tl_col *cols, size_t n)
{
    for (size_t k = 0; k < n; k++)
        tl_free(&cols[k]);
}

static bool num_eq(uint8_t type, union ne_stat_val a, union ne_stat_val b)
{
    if (type == NE_V_FLOAT)
        return a.f == b.f || (isnan(a.f) && isnan(b.f));
    return a.u == b.u;
}

/* The stats that matter for the type are equal. */
static bool stats_eq(const struct ne_block_stats *a, const struct ne_block_stats *b)
{
    if (a->type != b->type || a->count != b->count || a->min_ts != b->min_ts ||
        a->max_ts != b->max_ts || a->first_ts != b->first_ts || a->last_ts != b->last_ts)
        return false;
    switch (a->type) {
    case NE_V_FLOAT:
        if (!(a->sum_f == b->sum_f || (isnan(a->sum_f) && isnan(b->sum_f))))
            return false;
        break;
    case NE_V_INT:
    case NE_V_UINT:
        if (a->sum_hi != b->sum_hi || a->sum_lo != b->sum_lo)
            return false;
        break;
    case NE_V_BOOL:
        if (a->true_count != b->true_count)
            return false;
        break;
    default:
        return a->first_s.n == b->first_s.n && a->last_s.n == b->last_s.n &&
               memcmp(a->first_s.p, b->first_s.p, a->first_s.n) == 0 &&
               memcmp(a->last_s.p, b->last_s.p, a->last_s.n) == 0;
    }
    return num_eq(a->type, a->min, b->min) && num_eq(a->type, a->max, b->max) &&
           num_eq(a->type, a->first, b->first) && num_eq(a->type, a->last, b->last);
}

static const void *vals_at(const struct tl_col *c, uint32_t k)
{
    size_t vs = c->type == NE_V_STRING ? sizeof(struct ne_sv)
                : c->type == NE_V_BOOL ? sizeof(bool)
                                       : 8;
    return (const uint8_t *)tl_vals(c) + (size_t)k * vs;
}

/* Checks column idx of r against the source column, point by point and
 * block stats by recomputing them from the source slice. */
static void check_col(const struct ne_seg *r, uint32_t idx, const struct tl_col *src,
                      uint32_t block_points)
{
    const struct ne_seg_col *c = ne_seg_col(r, idx);
    T_CHECK(c != NULL);
    T_EQ_U64(c->key.series_id, src->sid);
    T_EQ_INT(c->key.type, src->type);
    T_EQ_INT(c->key.db, src->db);
    T_EQ_INT(c->key.field.n, strlen(src->field));
    T_CHECK(memcmp(c->key.field.p, src->field, c->key.field.n) == 0);
    T_EQ_U64(c->npoints, src->n);
    T_EQ_INT(c->nblocks, (src->n + block_points - 1) / block_points);
    T_EQ_INT(c->min_ts, src->ts[0]);
    T_EQ_INT(c->max_ts, src->ts[src->n - 1]);
    struct ne_block_stats whole, cs;
    T_OK(ne_block_stats_compute(src->type, src->ts, tl_vals(src), src->n, &whole));
    T_OK(ne_seg_col_stats(r, idx, &cs));
    T_EQ_INT(cs.count, src->n);
    T_EQ_INT(cs.min_ts, whole.min_ts);
    T_EQ_INT(cs.max_ts, whole.max_ts);
    if (src->type != NE_V_STRING) { /* float sums may differ in the last bit */
        T_CHECK(num_eq(src->type, cs.min, whole.min));
        T_CHECK(num_eq(src->type, cs.max, whole.max));
        T_CHECK(num_eq(src->type, cs.first, whole.first));
        T_CHECK(num_eq(src->type, cs.last, whole.last));
    }
    if (src->type == NE_V_INT || src->type == NE_V_UINT)
        T_CHECK(cs.sum_lo == whole.sum_lo && cs.sum_hi == whole.sum_hi);
    if (src->type == NE_V_BOOL)
        T_EQ_U64(cs.true_count, whole.true_count);
    uint32_t k = 0;
    for (uint32_t b = 0; b < c->nblocks; b++) {
        const struct ne_seg_blockref *ref = ne_seg_block(r, idx, b);
        uint32_t cnt = src->n - k < block_points ? src->n - k : block_points;
        struct ne_block_stats want, got;
        T_OK(ne_block_stats_compute(src->type, src->ts + k, vals_at(src, k), cnt, &want));
        T_OK(ne_seg_block_stats(r, idx, b, &got));
        T_CHECK(stats_eq(&want, &got));
        T_EQ_INT(ref->stats.count, cnt);
        T_EQ_INT(ref->stats.min_ts, want.min_ts);
        T_EQ_INT(ref->stats.max_ts, want.max_ts);
        k += cnt;
    }
    T_EQ_INT(ne_seg_block_stats(r, idx, c->nblocks, &whole), NE_EINVAL);
    struct tl_col got;
    T_OK(tl_read_col(r, idx, &got));
    T_EQ_INT(got.n, src->n);
    for (uint32_t j = 0; j < src->n; j++) {
        if (got.ts[j] != src->ts[j] || !tl_val_eq(src, j, src->type, tl_vals(&got), j)) {
            tl_free(&got);
            T_FAIL_("column %u point %u differs", idx, j);
        }
    }
    tl_free(&got);
}

static void test_roundtrip_many(void)
{
    static struct tl_col cols[NCOL];
    make_cols(cols, 3000);
    const char *dbs[] = {"plant", "lab"};
    struct ne_segw_opts o = {.block_points = 256, .dbs = dbs, .ndbs = 2,
                             .wal_seq_min = 5, .wal_seq_max = 9};
    struct ne_seg_info wi;
    T_OK(tl_write(g_dir, 7, cols, NCOL, &o, &wi));
    uint64_t npts = 0;
    int64_t mn = INT64_MAX, mx = INT64_MIN;
    for (size_t k = 0; k < NCOL; k++) {
        npts += cols[k].n;
        mn = cols[k].ts[0] < mn ? cols[k].ts[0] : mn;
        mx = cols[k].ts[cols[k].n - 1] > mx ? cols[k].ts[cols[k].n - 1] : mx;
    }
    T_EQ_U64(wi.npoints, npts);
    T_EQ_INT(wi.ncols, NCOL);
    T_EQ_INT(wi.nseries, NSER);

    char path[512];
    T_OK(ne_seg_path(path, sizeof path, g_dir, 7));
    struct ne_seg *r;
    T_OK(ne_seg_open(path, &r));
    const struct ne_seg_info *i = ne_seg_info(r);
    T_EQ_U64(i->seg_id, 7);
    T_EQ_U64(i->npoints, npts);
    T_EQ_INT(i->ncols, NCOL);
    T_EQ_INT(i->nseries, NSER);
    T_EQ_U64(i->nblocks, wi.nblocks);
    T_EQ_INT(i->min_ts, mn);
    T_EQ_INT(i->max_ts, mx);
    T_EQ_U64(i->wal_seq_min, 5);
    T_EQ_U64(i->wal_seq_max, 9);
    T_EQ_U64(i->file_bytes, wi.file_bytes);
    uint64_t fsz = 0;
    T_OK(ne_fs_file_size(path, &fsz));
    T_EQ_U64(i->file_bytes, fsz);
    T_EQ_INT(i->ndbs, 2);
    T_EQ_STR(ne_seg_db_name(r, 0), "plant");
    T_EQ_STR(ne_seg_db_name(r, 1), "lab");
    T_CHECK(ne_seg_db_name(r, 2) == NULL);
    for (uint32_t k = 0; k < NCOL; k++) {
        check_col(r, k, &cols[k], 256);
        if (t_cur_failed)
            break;
    }
    T_CHECK(ne_seg_col(r, NCOL) == NULL);
    ne_seg_close(&r);
    T_CHECK(r == NULL);
    free_cols(cols, NCOL);
}

/* The footer's stored and raw lengths from the tail of segment id. */
static void footer_lengths(uint64_t id, uint32_t *stored, uint32_t *raw)
{
    char path[512];
    uint8_t t[40]; /* the tail: footer offset, stored and raw lengths, ... */
    *stored = *raw = 0;
    T_OK(ne_seg_path(path, sizeof path, g_dir, id));
    FILE *f = fopen(path, "rb");
    T_CHECK(f != NULL);
    if (!f) return;
    T_CHECK(fseek(f, -(long)sizeof t, SEEK_END) == 0 && fread(t, 1, sizeof t, f) == sizeof t);
    fclose(f);
    *stored = (uint32_t)t[8] | (uint32_t)t[9] << 8 | (uint32_t)t[10] << 16 | (uint32_t)t[11] << 24;
    *raw = (uint32_t)t[12] | (uint32_t)t[13] << 8 | (uint32_t)t[14] << 16 | (uint32_t)t[15] << 24;
}

/* footer_raw stores the footer without zstd; the segment reads back the
 * same, and the same columns with a compressed footer are smaller. */
static void test_footer_raw(void)
{
    static struct tl_col cols[NCOL];
    make_cols(cols, 2000);
    const char *dbs[] = {"plant", "lab"};
    struct ne_segw_opts o = {.block_points = 128, .dbs = dbs, .ndbs = 2};
    struct ne_seg_info zi, ri;
    T_OK(tl_write(g_dir, 810, cols, NCOL, &o, &zi));
    o.footer_raw = true;
    T_OK(tl_write(g_dir, 811, cols, NCOL, &o, &ri));
    uint32_t zs, zr, rs, rr;
    footer_lengths(810, &zs, &zr);
    footer_lengths(811, &rs, &rr);
    T_CHECK(zs < zr);
    T_EQ_INT(rs, rr);
    T_EQ_INT(rr, zr);
    T_EQ_U64(ri.file_bytes - zi.file_bytes, rs - zs);
    struct ne_seg *r = tl_open(g_dir, 811);
    T_CHECK(r != NULL);
    for (uint32_t k = 0; r && k < NCOL && !t_cur_failed; k++)
        check_col(r, k, &cols[k], 128);
    ne_seg_close(&r);
    free_cols(cols, NCOL);
}

/* Field names are kept once per distinct name while there are few, copied
 * past that: 3 series x 200 names (more than the distinct names the reader
 * shares), each column's name, stats and points must read back. */
static void test_many_field_names(void)
{
    enum { NS = 3, NF = 200 };
    static struct tl_col cols[NS * NF];
    for (uint32_t s = 0; s < NS; s++)
        for (uint32_t f = 0; f < NF; f++) {
            char name[24];
            snprintf(name, sizeof name, "f%03u%s", f, f % 3 ? "" : "_longer_name");
            tl_fill(&cols[s * NF + f], 10 + s, name, TYPES[f % 5], 3 + f % 7, 1000, 10);
        }
    T_OK(tl_write(g_dir, 900, cols, NS * NF, NULL, NULL));
    struct ne_seg *r = tl_open(g_dir, 900);
    T_CHECK(r != NULL);
    for (uint32_t k = 0; r && k < NS * NF && !t_cur_failed; k++) {
        check_col(r, k, &cols[k], NE_SEG_BLOCK_POINTS);
        uint32_t idx = UINT32_MAX;
        T_OK(ne_seg_find_col(r, cols[k].sid, ne_sv_c(cols[k].field), &idx));
        T_EQ_INT(idx, k);
    }
    ne_seg_close(&r);
    free_cols(cols, NS * NF);
}

/* Appending in random chunks gives the very same file as one call. */
static void test_streaming_chunks(void)
{
    static uint64_t base = 100;
    uint64_t id1 = base++, id2 = base++;
    struct tl_col cols[5];
    for (int f = 0; f < 5; f++)
        tl_fill(&cols[f], 42, FIELDS[f], TYPES[f], 5000, 0, 10);
    struct ne_segw_opts o = {.block_points = 1000};
    T_OK(tl_write(g_dir, id1, cols, 5, &o, NULL));
    struct ne_segw *w;
    T_OK(ne_segw_open(g_dir, id2, &o, &w));
    for (int f = 0; f < 5; f++) {
        struct ne_seg_colkey key = tl_key(&cols[f]);
        T_OK(ne_segw_begin_column(w, &key));
        uint32_t k = 0;
        while (k < cols[f].n) {
            uint32_t m = 1 + (uint32_t)(tl_rand() % 1500);
            if (m > cols[f].n - k)
                m = cols[f].n - k;
            T_OK(ne_segw_append(w, cols[f].ts + k, vals_at(&cols[f], k), m));
            k += m;
        }
        T_OK(ne_segw_end_column(w));
    }
    T_OK(ne_segw_finish(&w, NULL));
    T_CHECK(w == NULL);
    char p1[512], p2[512];
    char *a = NULL, *b = NULL;
    size_t na = 0, nb = 0;
    T_OK(ne_seg_path(p1, sizeof p1, g_dir, id1));
    T_OK(ne_seg_path(p2, sizeof p2, g_dir, id2));
    T_OK(ne_fs_read_all(p1, &a, &na));
    T_OK(ne_fs_read_all(p2, &b, &nb));
    /* only the segment id differs: header bytes 8..23, footer and tail
     * (the compressed footers may then differ in length too) */
    struct ne_seg *r1, *r2;
    T_OK(ne_seg_open(p1, &r1));
    T_OK(ne_seg_open(p2, &r2));
    const struct ne_seg_blockref *last = ne_seg_block(r1, 4, ne_seg_col(r1, 4)->nblocks - 1);
    uint64_t blocks_end = last->off + last->len;
    const struct ne_seg_blockref *last2 = ne_seg_block(r2, 4, ne_seg_col(r2, 4)->nblocks - 1);
    T_EQ_U64(last2->off + last2->len, blocks_end);
    T_CHECK(blocks_end < na && blocks_end < nb && memcmp(a + 24, b + 24, blocks_end - 24) == 0);
    for (uint32_t c = 0; c < 5; c++)
        check_col(r2, c, &cols[c], 1000);
    ne_seg_close(&r1);
    ne_seg_close(&r2);
    ne_free(a);
    ne_free(b);
    free_cols(cols, 5);
}

/* The grid cell of t (floor, times before the epoch included). */
static int64_t cell_of_ts(int64_t t, int64_t grid)
{
    return t / grid - (t % grid < 0);
}

/* The block sizes the writer's time grid rule gives: a block ends when it
 * is full, or before a point in a later grid cell than the block's last
 * point once it holds align_min points. Written as a point-by-point model
 * of the rule, apart from the writer's chunked search. */
static size_t grid_model(const int64_t *ts, uint32_t n, uint32_t bp, int64_t g, uint32_t min,
                         uint32_t *sizes)
{
    size_t nb = 0;
    uint32_t cur = 0;
    for (uint32_t i = 0; i < n; i++) {
        bool cut = cur == bp;
        if (cur && cur >= min) {
            cut |= cell_of_ts(ts[i], g) > cell_of_ts(ts[i - 1], g);
        }
        if (cut) {
            sizes[nb++] = cur;
            cur = 0;
        }
        cur++;
    }
    if (cur)
        sizes[nb++] = cur;
    return nb;
}

static void test_time_grid(void)
{
    static uint64_t id = 0x9000;
    /* dense (many points a cell: cut at each cell), sparse (fewer than
     * align_min a cell: blocks span cells), times before the epoch, and
     * every type; appended in random chunks */
    struct {
        uint32_t n;
        int64_t t0, dt;
    } shapes[] = {{5000, -300000, 10}, {3000, 7, 5000}, {700, -1000000, 3}};
    const int64_t grid = 20000; /* tl_fill's steps: dt plus 100 on average */
    const uint32_t bp = 256, min = 16;
    for (size_t sh = 0; sh < sizeof shapes / sizeof shapes[0]; sh++) {
        struct tl_col cols[5];
        for (int f = 0; f < 5; f++)
            tl_fill(&cols[f], 7, FIELDS[f], TYPES[f], shapes[sh].n, shapes[sh].t0, shapes[sh].dt);
        struct ne_segw_opts o = {.block_points = bp, .align_ns = grid, .align_min = min};
        struct ne_segw *w;
        T_OK(ne_segw_open(g_dir, id, &o, &w));
        for (int f = 0; f < 5; f++) {
            struct ne_seg_colkey key = tl_key(&cols[f]);
            T_OK(ne_segw_begin_column(w, &key));
            for (uint32_t k = 0, m; k < cols[f].n; k += m) {
                m = 1 + (uint32_t)(tl_rand() % 400);
                if (m > cols[f].n - k)
                    m = cols[f].n - k;
                T_OK(ne_segw_append(w, cols[f].ts + k, vals_at(&cols[f], k), m));
            }
            T_OK(ne_segw_end_column(w));
        }
        T_OK(ne_segw_finish(&w, NULL));
        struct ne_seg *r = tl_open(g_dir, id++);
        uint32_t *sizes = malloc(shapes[sh].n * sizeof *sizes);
        T_CHECK(sizes != NULL);
        for (uint32_t c = 0; c < 5; c++) {
            size_t nb = grid_model(cols[c].ts, cols[c].n, bp, grid, min, sizes);
            const struct ne_seg_col *col = ne_seg_col(r, c);
            T_EQ_U64(col->nblocks, nb);
            uint32_t k = 0, inside = 0, mid_cell = 0;
            for (uint32_t b = 0; b < nb; b++) {
                const struct ne_seg_blockref *ref = ne_seg_block(r, c, b);
                T_EQ_U64(ref->stats.count, sizes[b]);
                T_EQ_INT(ref->stats.min_ts, cols[c].ts[k]);
                T_EQ_INT(ref->stats.max_ts, cols[c].ts[k + sizes[b] - 1]);
                int64_t first = cell_of_ts(ref->stats.min_ts, grid);
                bool in_one = first == cell_of_ts(ref->stats.max_ts, grid);
                bool mid = b > 0 && cell_of_ts(cols[c].ts[k - 1], grid) == first;
                inside += in_one;
                mid_cell += mid && !in_one;
                k += sizes[b];
            }
            T_EQ_U64(k, cols[c].n);
            /* dense shapes: every block that begins at the start of a
             * cell lies inside it (one begun mid-cell, after a full
             * block, may reach into the next) */
            if (shapes[sh].dt * min < grid)
                T_EQ_U64(inside, nb - mid_cell);
            struct tl_col got;
            T_OK(tl_read_col(r, c, &got));
            T_EQ_INT(got.n, cols[c].n);
            for (uint32_t j = 0; j < got.n; j++)
                T_CHECK(got.ts[j] == cols[c].ts[j] &&
                        tl_val_eq(&cols[c], j, cols[c].type, tl_vals(&got), j));
            tl_free(&got);
        }
        free(sizes);
        ne_seg_close(&r);
        free_cols(cols, 5);
    }
    struct ne_segw_opts bad = {.align_ns = -1};
    struct ne_segw *w = NULL;
    T_EQ_INT(ne_segw_open(g_dir, id++, &bad, &w), NE_EINVAL);
}

static void test_find_and_range(void)
{
    struct tl_col cols[6];
    tl_fill(&cols[0], 5, "x", NE_V_FLOAT, 1000, 0, 100);
    tl_fill(&cols[1], 5, "y", NE_V_INT, 10, 0, 100);
    tl_fill(&cols[2], 9, "", NE_V_BOOL, 300, 0, 100);
    tl_fill(&cols[3], 9, "a", NE_V_FLOAT, 300, 0, 100);
    tl_fill(&cols[4], 9, "ab", NE_V_UINT, 300, 0, 100);
    tl_fill(&cols[5], 20, "x", NE_V_STRING, 777, -50000, 100);
    struct ne_segw_opts o = {.block_points = 64};
    T_OK(tl_write(g_dir, 200, cols, 6, &o, NULL));
    char path[512];
    T_OK(ne_seg_path(path, sizeof path, g_dir, 200));
    struct ne_seg *r;
    T_OK(ne_seg_open(path, &r));
    uint32_t idx = 99, first = 99, count = 99;
    T_OK(ne_seg_find_col(r, 9, ne_sv_c("ab"), &idx));
    T_EQ_INT(idx, 4);
    T_OK(ne_seg_find_col(r, 9, ne_sv_c(""), &idx));
    T_EQ_INT(idx, 2);
    T_EQ_INT(ne_seg_find_col(r, 9, ne_sv_c("b"), &idx), NE_ENOTFOUND);
    T_EQ_INT(ne_seg_find_col(r, 6, ne_sv_c("x"), &idx), NE_ENOTFOUND);
    T_OK(ne_seg_find_series(r, 9, &first, &count));
    T_EQ_INT(first, 2);
    T_EQ_INT(count, 3);
    T_OK(ne_seg_find_series(r, 20, &first, &count));
    T_EQ_INT(first, 5);
    T_EQ_INT(count, 1);
    T_EQ_INT(ne_seg_find_series(r, 10, &first, &count), NE_ENOTFOUND);
    T_EQ_INT(ne_seg_find_series(r, 21, &first, &count), NE_ENOTFOUND);
    for (int q = 0; q < 2000; q++) {
        uint32_t c = (uint32_t)(tl_rand() % 6);
        const struct ne_seg_col *col = ne_seg_col(r, c);
        int64_t span = col->max_ts - col->min_ts + 4000;
        int64_t t0 = col->min_ts - 2000 + (int64_t)(tl_rand() % (uint64_t)span);
        int64_t t1 = t0 + (int64_t)(tl_rand() % 3000) - 200;
        uint32_t f, e;
        ne_seg_blocks_in_range(r, c, t0, t1, &f, &e);
        for (uint32_t b = 0; b < col->nblocks; b++) {
            const struct ne_seg_bspan *st = &ne_seg_block(r, c, b)->stats;
            bool overlaps = t0 <= t1 && st->max_ts >= t0 && st->min_ts <= t1;
            if (overlaps != (b >= f && b < e))
                T_FAIL_("col %u range [%" PRId64 ",%" PRId64 "] block %u", c, t0, t1, b);
        }
    }
    ne_seg_close(&r);
    free_cols(cols, 6);
}

static void test_publication(void)
{
    struct tl_col c;
    tl_fill(&c, 1, "v", NE_V_FLOAT, 100, 0, 1);
    T_OK(tl_write(g_dir, 300, &c, 1, NULL, NULL));
    T_EQ_INT(tl_count_suffix(g_dir, ".seg.tmp"), 0);
    char path[512];
    T_OK(ne_seg_path(path, sizeof path, g_dir, 300));
    T_CHECK(ne_fs_exists(path));
    /* an id is never reused */
    struct ne_segw *w = NULL;
    T_EQ_INT(ne_segw_open(g_dir, 300, NULL, &w), NE_EEXISTS);
    T_CHECK(w == NULL);
    /* a stale tmp (crash mid-write) is replaced by a new writer */
    char tmp[600];
    T_OK(ne_seg_path(tmp, sizeof tmp, g_dir, 301));
    strcat(tmp, ".tmp");
    T_OK(ne_fs_write_atomic(tmp, "garbage", 7));
    T_OK(ne_segw_open(g_dir, 301, NULL, &w));
    struct ne_seg_colkey key = tl_key(&c);
    T_OK(ne_segw_add_column(w, &key, c.ts, c.f, c.n));
    T_EQ_INT(tl_count_suffix(g_dir, ".seg.tmp"), 1);
    T_OK(ne_segw_finish(&w, NULL));
    T_EQ_INT(tl_count_suffix(g_dir, ".seg.tmp"), 0);
    /* abort leaves nothing */
    T_OK(ne_segw_open(g_dir, 302, NULL, &w));
    T_OK(ne_segw_add_column(w, &key, c.ts, c.f, c.n));
    ne_segw_abort(&w);
    T_CHECK(w == NULL);
    T_OK(ne_seg_path(path, sizeof path, g_dir, 302));
    T_CHECK(!ne_fs_exists(path));
    T_EQ_INT(tl_count_suffix(g_dir, ".seg.tmp"), 0);
    /* ne_seg_clean_tmp removes stale tmps only */
    T_OK(ne_fs_write_atomic(tmp, "garbage", 7));
    T_EQ_INT(tl_count_suffix(g_dir, ".seg.tmp"), 1);
    int before = tl_count_suffix(g_dir, ".seg");
    T_OK(ne_seg_clean_tmp(g_dir));
    T_EQ_INT(tl_count_suffix(g_dir, ".seg.tmp"), 0);
    T_EQ_INT(tl_count_suffix(g_dir, ".seg"), before);
    tl_free(&c);
}

static void test_argument_checks(void)
{
    struct tl_col c;
    tl_fill(&c, 10, "m", NE_V_INT, 50, 0, 1);
    struct ne_segw *w;
    T_OK(ne_segw_open(g_dir, 400, NULL, &w));
    struct ne_seg_colkey key = tl_key(&c);
    T_EQ_INT(ne_segw_append(w, c.ts, c.i, c.n), NE_EINVAL); /* no column begun */
    T_OK(ne_segw_begin_column(w, &key));
    T_EQ_INT(ne_segw_begin_column(w, &key), NE_EINVAL); /* nested */
    T_OK(ne_segw_append(w, c.ts, c.i, 10));
    T_EQ_INT(ne_segw_append(w, c.ts + 9, c.i, 2), NE_EINVAL); /* ts repeats */
    int64_t back[2] = {c.ts[20], c.ts[19]};
    T_EQ_INT(ne_segw_append(w, back, c.i, 2), NE_EINVAL); /* ts goes back */
    T_OK(ne_segw_append(w, c.ts + 10, c.i + 10, 40));
    T_OK(ne_segw_end_column(w));
    T_EQ_INT(ne_segw_begin_column(w, &key), NE_EINVAL); /* same key again */
    struct ne_seg_colkey k2 = key;
    k2.field = ne_sv_c("l"); /* "l" < "m" */
    T_EQ_INT(ne_segw_begin_column(w, &k2), NE_EINVAL);
    k2.series_id = 9;
    T_EQ_INT(ne_segw_begin_column(w, &k2), NE_EINVAL);
    k2.series_id = 10;
    k2.field = ne_sv_c("ma");
    k2.type = 9;
    T_EQ_INT(ne_segw_begin_column(w, &k2), NE_EINVAL); /* bad type */
    k2.type = NE_V_FLOAT;
    k2.db = 1;
    T_EQ_INT(ne_segw_begin_column(w, &k2), NE_EINVAL); /* no such db */
    k2.db = 0;
    T_OK(ne_segw_begin_column(w, &k2));
    T_OK(ne_segw_end_column(w)); /* an empty column is not recorded */
    struct ne_seg_info info;
    T_OK(ne_segw_finish(&w, &info));
    T_EQ_INT(info.ncols, 1);
    T_EQ_U64(info.npoints, 50);
    char path[512];
    T_OK(ne_seg_path(path, sizeof path, g_dir, 400));
    struct ne_seg *r;
    T_OK(ne_seg_open(path, &r));
    check_col(r, 0, &c, NE_SEG_BLOCK_POINTS);
    ne_seg_close(&r);
    struct ne_segw_opts big = {.block_points = NE_SEG_BLOCK_POINTS_MAX + 1};
    T_EQ_INT(ne_segw_open(g_dir, 401, &big, &w), NE_EINVAL);
    tl_free(&c);
}

static void test_empty_segment(void)
{
    struct ne_segw *w;
    T_OK(ne_segw_open(g_dir, 500, NULL, &w));
    struct ne_seg_info wi;
    T_OK(ne_segw_finish(&w, &wi));
    T_EQ_INT(wi.ncols, 0);
    char path[512], why[200];
    T_OK(ne_seg_path(path, sizeof path, g_dir, 500));
    struct ne_seg *r;
    T_OK(ne_seg_open(path, &r));
    T_EQ_INT(ne_seg_info(r)->ncols, 0);
    T_EQ_U64(ne_seg_info(r)->npoints, 0);
    T_EQ_INT(ne_seg_info(r)->min_ts, 0);
    T_EQ_INT(ne_seg_find_series(r, 1, &(uint32_t){0}, &(uint32_t){0}), NE_ENOTFOUND);
    ne_seg_close(&r);
    T_OK(ne_seg_verify(path, why, sizeof why));
}

/* Block stats whose first/last timestamps are not the block's min/max (a
 * writer of time-sorted blocks never makes them; a block copied with such
 * stats does) are kept whole and read back as they were written; the
 * usual ones are read back from the values the index keeps. */
static void test_stats_kept_whole(void)
{
    struct tl_col c;
    struct ne_seg_info info;
    tl_fill(&c, 9, "v", NE_V_FLOAT, 50, 1700000000000000000LL, 1000000000LL);
    T_OK(tl_write(g_dir, 550, &c, 1, NULL, &info));
    struct ne_seg *r = tl_open(g_dir, 550);
    T_CHECK(r != NULL);
    const struct ne_seg_blockref *ref = ne_seg_block(r, 0, 0);
    T_CHECK(ref != NULL);
    struct ne_block_stats st, got;
    T_OK(ne_seg_block_stats(r, 0, 0, &st));
    T_EQ_INT(st.first_ts, st.min_ts);
    T_EQ_INT(st.last_ts, st.max_ts);
    uint8_t *raw = ne_malloc(ref->len);
    T_CHECK(raw != NULL);
    T_OK(seg__pread(r, raw, ref->len, ref->off));
    struct ne_block_stats odd = st;
    odd.first_ts = st.max_ts; /* as if the block were not sorted by time */
    odd.last_ts = st.min_ts;
    struct ne_segw *w;
    struct ne_seg_colkey key = tl_key(&c);
    T_OK(ne_segw_open(g_dir, 551, NULL, &w));
    T_OK(ne_segw_begin_column(w, &key));
    T_OK(seg__segw_copy_block(w, raw, ref->len, ref->crc, 0, 0, &odd));
    T_OK(ne_segw_end_column(w));
    T_OK(ne_segw_finish(&w, &info));
    struct ne_seg *r2 = tl_open(g_dir, 551);
    T_CHECK(r2 != NULL);
    T_OK(ne_seg_block_stats(r2, 0, 0, &got));
    T_CHECK(stats_eq(&odd, &got));
    T_EQ_INT(got.first_ts, st.max_ts);
    T_EQ_INT(got.last_ts, st.min_ts);
    T_OK(ne_seg_block_stats(r, 0, 0, &got));
    T_CHECK(stats_eq(&st, &got));
    ne_seg_close(&r2);
    ne_seg_close(&r);
    ne_free(raw);
    tl_free(&c);
}

/* Rewrites the tail's version (and its CRC, so only the version is wrong). */
static void test_unknown_version(void)
{
    struct tl_col c;
    tl_fill(&c, 1, "v", NE_V_FLOAT, 10, 0, 1);
    T_OK(tl_write(g_dir, 600, &c, 1, NULL, NULL));
    char path[512];
    T_OK(ne_seg_path(path, sizeof path, g_dir, 600));
    char *buf;
    size_t n;
    T_OK(ne_fs_read_all(path, &buf, &n));
    uint8_t *t = (uint8_t *)buf + n - 40;
    t[20] = 3; /* 1 and 2 are known */
    uint32_t crc = ne_crc32c(0, t, 32);
    for (int k = 0; k < 4; k++)
        t[32 + k] = (uint8_t)(crc >> (8 * k));
    T_OK(ne_fs_write_atomic(path, buf, n));
    ne_free(buf);
    struct ne_seg *r = NULL;
    T_EQ_INT(ne_seg_open(path, &r), NE_EVERSION);
    T_CHECK(r == NULL);
    char why[200];
    T_EQ_INT(ne_seg_verify(path, why, sizeof why), NE_EVERSION);
    tl_free(&c);
}

static void test_names(void)
{
    char p[64];
    uint64_t id = 0;
    T_OK(ne_seg_path(p, sizeof p, "/d", 0x1234abcdULL));
    T_EQ_STR(p, "/d/000000001234abcd.seg");
    T_EQ_INT(ne_seg_path(p, 10, "/d", 1), NE_ERANGE);
    T_OK(ne_seg_parse_name("000000001234abcd.seg", &id));
    T_EQ_U64(id, 0x1234abcdULL);
    T_OK(ne_seg_parse_name("ffffffffffffffff.seg", &id));
    T_EQ_U64(id, UINT64_MAX);
    T_EQ_INT(ne_seg_parse_name("000000001234abcd.seg.tmp", &id), NE_EINVAL);
    T_EQ_INT(ne_seg_parse_name("000000001234ABCD.seg", &id), NE_EINVAL);
    T_EQ_INT(ne_seg_parse_name("1234abcd.seg", &id), NE_EINVAL);
    T_EQ_INT(ne_seg_parse_name("series.log", &id), NE_EINVAL);
}

static void test_inspect_verify(void)
{
    struct tl_col cols[5];
    for (int f = 0; f < 5; f++)
        tl_fill(&cols[f], 77, FIELDS[f], TYPES[f], 900, 0, 1000);
    const char *dbs[] = {"home"};
    struct ne_segw_opts o = {.block_points = 200, .dbs = dbs, .ndbs = 1};
    T_OK(tl_write(g_dir, 700, cols, 5, &o, NULL));
    char path[512], why[256];
    T_OK(ne_seg_path(path, sizeof path, g_dir, 700));
    T_OK(ne_seg_verify(path, why, sizeof why));
    T_CHECK(strncmp(why, "ok", 2) == 0);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    T_OK(ne_seg_inspect(path, f));
    fclose(f);
    T_CHECK(strstr(text, "all verified") != NULL);
    T_CHECK(strstr(text, "\"home\"") != NULL);
    int lines = 0;
    for (const char *p = text; (p = strstr(p, "  column ")) != NULL; p++)
        lines++;
    T_EQ_INT(lines, 5);
    T_CHECK(strstr(text, "field \"e_status\" string") != NULL);
    T_CHECK(strstr(text, "4500 points") != NULL);
    free(text);
    f = open_memstream(&text, &len);
    T_CHECK(ne_seg_inspect("/nonexistent/x.seg", f) != 0);
    fclose(f);
    T_CHECK(strstr(text, "cannot open") != NULL);
    free(text);
    free_cols(cols, 5);
}

/* Every write, sync or allocation failure makes the writer fail cleanly:
 * no published segment, no tmp file, no leak (ASan). */
static void test_injected_faults(void)
{
    struct tl_col cols[5];
    for (int f = 0; f < 5; f++)
        tl_fill(&cols[f], 3, FIELDS[f], TYPES[f], 3000, 0, 1000);
    struct ne_segw_opts o = {.block_points = 500};
    char path[512];
    enum ne_fault_op ops[] = {NE_FAULT_WRITE, NE_FAULT_SYNC, NE_FAULT_ALLOC};
    enum ne_fault_kind kinds[] = {NE_FAULT_ENOSPC, NE_FAULT_EIO, NE_FAULT_NULL};
    uint64_t id = 10000;
    for (int op = 0; op < 3; op++) {
        bool succeeded = false;
        for (uint64_t nth = 1; nth < 400 && !succeeded; nth++, id++) {
            ne_fault_reset();
            ne_fault_arm(ops[op], nth, kinds[op], false);
            int rc = tl_write(g_dir, id, cols, 5, &o, NULL);
            bool fired = ne_fault_fired(ops[op]) > 0;
            ne_fault_reset();
            T_OK(ne_seg_path(path, sizeof path, g_dir, id));
            if (rc == 0) {
                /* the fault never fired (all calls done) or hit a path that may
                 * fail harmlessly: the segment must then be complete */
                T_OK(ne_seg_verify(path, NULL, 0));
                succeeded = !fired;
            } else {
                T_CHECK(fired);
                T_CHECK(!ne_fs_exists(path));
            }
            T_EQ_INT(tl_count_suffix(g_dir, ".seg.tmp"), 0);
        }
        T_CHECK(succeeded);
    }
    free_cols(cols, 5);
}

/* The same round trip through the io_uring file backend, where the kernel
 * allows it (skipped, and said so, where it does not). */
static void test_roundtrip_uring(void)
{
    if (ne_io_init(NE_IO_URING) != 0) {
        fprintf(stderr, "  io_uring refused here: skipped\n");
        return;
    }
    T_EQ_INT(ne_io_backend_active(), NE_IO_URING);
    test_streaming_chunks();
    T_OK(ne_io_init(NE_IO_POSIX));
}

/* Opening under allocation failures: NE_ENOMEM, nothing leaked (ASan). */
static void test_open_alloc_faults(void)
{
    struct tl_col cols[5];
    for (int f = 0; f < 5; f++)
        tl_fill(&cols[f], 9, FIELDS[f], TYPES[f], 700, 0, 1000);
    const char *dbs[] = {"x", "y"};
    struct ne_segw_opts o = {.block_points = 100, .dbs = dbs, .ndbs = 2};
    T_OK(tl_write(g_dir, 5000, cols, 5, &o, NULL));
    char path[512];
    T_OK(ne_seg_path(path, sizeof path, g_dir, 5000));
    bool opened = false;
    for (uint64_t nth = 1; nth < 200 && !opened; nth++) {
        struct ne_seg *r = NULL;
        ne_fault_reset();
        ne_fault_arm(NE_FAULT_ALLOC, nth, NE_FAULT_NULL, false);
        int rc = ne_seg_open(path, &r);
        bool fired = ne_fault_fired(NE_FAULT_ALLOC) > 0;
        ne_fault_reset();
        if (rc) {
            T_EQ_INT(rc, NE_ENOMEM);
            T_CHECK(fired && r == NULL);
            continue;
        }
        opened = !fired;
        struct ne_seg_block blk;
        ne_seg_block_init(&blk);
        T_OK(ne_seg_block_read(r, 4, 6, &blk));
        T_EQ_INT(blk.n, 100);
        ne_seg_block_free(&blk);
        ne_seg_close(&r);
    }
    T_CHECK(opened);
    free_cols(cols, 5);
}

int main(void)
{
    ne_log_set_level(NE_LOG_OFF);
    if (!t_tmpdir(g_dir, sizeof g_dir))
        return 1;
    T_RUN(test_roundtrip_many);
    T_RUN(test_many_field_names);
    T_RUN(test_footer_raw);
    T_RUN(test_streaming_chunks);
    T_RUN(test_time_grid);
    T_RUN(test_find_and_range);
    T_RUN(test_publication);
    T_RUN(test_argument_checks);
    T_RUN(test_empty_segment);
    T_RUN(test_stats_kept_whole);
    T_RUN(test_unknown_version);
    T_RUN(test_names);
    T_RUN(test_inspect_verify);
    T_RUN(test_injected_faults);
    T_RUN(test_open_alloc_faults);
    T_RUN(test_roundtrip_uring);
    ne_fs_remove_tree(g_dir);
    return t_done();
}
