/*
 * segment_version_test.c - versioned columns in segments (format version
 * 2): versions survive a write/read round trip across blocks, files
 * without a versioned column stay version 1, a damaged version stream is
 * caught by its CRC, and ne_seg_merge keeps on equal timestamps the value
 * with the greatest version whatever the input order (verbatim block
 * copies included), counting an unversioned point as version 0.
 */
#include <stdio.h>
#include <stdlib.h>

#include "ports/log.h"
#include "ports/platform.h"
#include "segment_testlib.h"
#include "t.h"

static char g_dir[256];
static uint64_t g_next_id = 1;

static struct ne_seg *open_id(uint64_t id)
{
    return tl_open(g_dir, id);
}

/* Writes one int column (series 1, field "v") with versions ver (NULL:
 * an unversioned column) as a new segment; returns its id. */
static uint64_t write_col(const int64_t *ts, const int64_t *vals, const uint64_t *ver, uint32_t n,
                          uint32_t block_points)
{
    uint64_t id = g_next_id++;
    struct ne_segw_opts o = {.block_points = block_points};
    struct ne_segw *w = NULL;
    struct ne_seg_colkey k = {.series_id = 1, .field = NE_SV("v"), .type = NE_V_INT};
    /* in two calls, to cross the partial-block path */
    uint32_t third = n / 3;
    int rc = ne_segw_open(g_dir, id, &o, &w);
    if (!rc)
        rc = ne_segw_begin_column_v(w, &k, ver ? NE_SEG_COL_VERSIONED : 0);
    if (!rc)
        rc = ne_segw_append_v(w, ts, vals, ver, third);
    if (!rc)
        rc = ne_segw_append_v(w, ts + third, vals + third, ver ? ver + third : NULL, n - third);
    if (!rc)
        rc = ne_segw_end_column(w);
    if (!rc)
        rc = ne_segw_finish(&w, NULL);
    ne_segw_abort(&w);
    if (rc)
        fprintf(stderr, "write_col: %s\n", ne_strerror(rc));
    return rc ? 0 : id; /* 0: open_id finds nothing and the caller's check fails */
}

/* Reads column 0 of r: n points into ts/vals/ver (ver 0 where none). */
static uint32_t read_col(const struct ne_seg *r, int64_t *ts, int64_t *vals, uint64_t *ver,
                         bool *any_ver)
{
    struct ne_seg_block blk;
    ne_seg_block_init(&blk);
    uint32_t n = 0;
    *any_ver = false;
    for (uint32_t b = 0; b < ne_seg_col(r, 0)->nblocks; b++) {
        if (ne_seg_block_read(r, 0, b, &blk))
            break;
        for (uint32_t j = 0; j < blk.n; j++, n++) {
            ts[n] = blk.ts[j];
            vals[n] = blk.v.i[j];
            ver[n] = blk.ver ? blk.ver[j] : 0;
        }
        *any_ver |= blk.ver != NULL;
    }
    ne_seg_block_free(&blk);
    return n;
}

#define N 300

static void test_round_trip(void)
{
    int64_t ts[N], v[N], gts[N], gv[N];
    uint64_t ver[N], gver[N];
    for (uint32_t k = 0; k < N; k++) {
        ts[k] = 1000 + (int64_t)k * 7;
        v[k] = (int64_t)k * 3 - 100;
        /* not monotonic: deltas of both signs, and extremes */
        ver[k] = k % 5 == 0 ? UINT64_MAX - k : (uint64_t)(tl_rand() >> (k % 40));
    }
    uint64_t id = write_col(ts, v, ver, N, 64);
    struct ne_seg *r = open_id(id);
    T_CHECK(r != NULL);
    T_EQ_INT(ne_seg_info(r)->version, 2);
    T_CHECK(ne_seg_col(r, 0)->flags & NE_SEG_COL_VERSIONED);
    bool any;
    T_EQ_INT(read_col(r, gts, gv, gver, &any), N);
    T_CHECK(any);
    for (uint32_t k = 0; k < N; k++) {
        T_EQ_INT(gts[k], ts[k]);
        T_EQ_INT(gv[k], v[k]);
        T_EQ_U64(gver[k], ver[k]);
    }
    char path[512], why[128];
    ne_seg_path(path, sizeof path, g_dir, id);
    T_OK(ne_seg_verify(path, why, sizeof why));
    ne_seg_close(&r);

    /* unversioned: the file stays version 1 and blocks carry no versions */
    id = write_col(ts, v, NULL, N, 64);
    r = open_id(id);
    T_CHECK(r != NULL);
    T_EQ_INT(ne_seg_info(r)->version, 1);
    T_EQ_INT(ne_seg_col(r, 0)->flags, 0);
    T_EQ_INT(read_col(r, gts, gv, gver, &any), N);
    T_CHECK(!any);
    ne_seg_close(&r);
}

static void test_corrupt_versions(void)
{
    int64_t ts[N], v[N];
    uint64_t ver[N];
    for (uint32_t k = 0; k < N; k++) {
        ts[k] = (int64_t)k;
        v[k] = 7;
        ver[k] = 1000000 + k;
    }
    uint64_t id = write_col(ts, v, ver, N, 1000);
    struct ne_seg *r = open_id(id);
    T_CHECK(r != NULL);
    const struct ne_seg_blockref *ref = ne_seg_block(r, 0, 0);
    T_CHECK(ref->vlen > 0);
    uint64_t at = ref->off + ref->len + ref->vlen / 2;
    ne_seg_close(&r);
    char path[512], why[128];
    ne_seg_path(path, sizeof path, g_dir, id);
    char *d = NULL;
    size_t n = 0;
    T_OK(ne_fs_read_all(path, &d, &n));
    d[at] ^= 0x5a;
    T_OK(ne_fs_write_atomic(path, d, n));
    ne_free(d);
    T_CHECK(ne_seg_verify(path, why, sizeof why) == NE_ECHECKSUM);
    r = open_id(id);
    T_CHECK(r != NULL);
    struct ne_seg_block blk;
    ne_seg_block_init(&blk);
    T_EQ_INT(ne_seg_block_read(r, 0, 0, &blk), NE_ECHECKSUM);
    ne_seg_block_free(&blk);
    ne_seg_close(&r);
}

/* Two inputs over the same timestamps; input `hi_old` (the older one)
 * holds the greater version on even points. */
static void merge_case(bool second_unversioned, uint32_t bp)
{
    int64_t ts[N], a[N], b[N], gts[2 * N], gv[2 * N];
    uint64_t va[N], vb[N], gver[2 * N];
    for (uint32_t k = 0; k < N; k++) {
        ts[k] = (int64_t)k * 10;
        a[k] = 1;
        b[k] = 2;
        va[k] = k % 2 == 0 ? 500 : 100;
        vb[k] = k % 3 == 0 ? 500 : 300; /* k % 6 == 0: equal versions */
    }
    struct ne_seg *in[3];
    in[0] = open_id(write_col(ts, a, va, N, bp));
    in[1] = open_id(write_col(ts, b, second_unversioned ? NULL : vb, N, bp));
    /* a third input, disjoint in time: its full blocks are copied verbatim */
    int64_t ts3[N], c3[N];
    uint64_t v3[N];
    for (uint32_t k = 0; k < N; k++) {
        ts3[k] = 100000 + (int64_t)k;
        c3[k] = 3;
        v3[k] = 42 + k;
    }
    in[2] = open_id(write_col(ts3, c3, v3, N, bp));
    T_CHECK(in[0] && in[1] && in[2]);
    struct ne_seg_merge_opts mo;
    ne_seg_merge_opts_default(&mo);
    mo.block_points = bp;
    uint64_t out = g_next_id++;
    T_OK(ne_seg_merge(in, 3, g_dir, out, &mo, NULL));
    struct ne_seg *r = open_id(out);
    T_CHECK(r != NULL);
    T_CHECK(ne_seg_col(r, 0)->flags & NE_SEG_COL_VERSIONED);
    bool any;
    T_EQ_INT(read_col(r, gts, gv, gver, &any), 2 * N);
    for (uint32_t k = 0; k < N; k++) {
        uint64_t vbk = second_unversioned ? 0 : vb[k];
        /* greater version wins; equal: the larger value (b's 2) */
        int64_t want = va[k] > vbk ? 1 : 2;
        T_EQ_INT(gts[k], ts[k]);
        T_EQ_INT(gv[k], want);
        T_EQ_U64(gver[k], want == 1 ? va[k] : vbk);
    }
    for (uint32_t k = 0; k < N; k++) {
        T_EQ_INT(gts[N + k], ts3[k]);
        T_EQ_INT(gv[N + k], 3);
        T_EQ_U64(gver[N + k], v3[k]);
    }
    ne_seg_close(&r);

    /* the other input order gives the same values, ties included */
    struct ne_seg *rev[3] = {in[1], in[0], in[2]};
    out = g_next_id++;
    T_OK(ne_seg_merge(rev, 3, g_dir, out, &mo, NULL));
    r = open_id(out);
    T_CHECK(r != NULL);
    T_EQ_INT(read_col(r, gts, gv, gver, &any), 2 * N);
    for (uint32_t k = 0; k < N; k++) {
        uint64_t vbk = second_unversioned ? 0 : vb[k];
        T_EQ_INT(gv[k], va[k] > vbk ? 1 : 2); /* a tie: the larger value, still b's */
    }
    ne_seg_close(&r);
    for (int i = 0; i < 3; i++)
        ne_seg_close(&in[i]);
}

static void test_merge_lww(void)
{
    merge_case(false, 32);
    merge_case(false, 4096);
    merge_case(true, 32);
}

int main(void)
{
    ne_log_set_level(NE_LOG_OFF);
    if (!t_tmpdir(g_dir, sizeof g_dir))
        return 1;
    T_RUN(test_round_trip);
    T_RUN(test_corrupt_versions);
    T_RUN(test_merge_lww);
    ne_fs_remove_tree(g_dir);
    return t_done();
}
