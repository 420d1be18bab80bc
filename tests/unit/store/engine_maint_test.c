/*
 * engine_maint_test.c - compaction and retention: merging keeps every point
 * (and the newest value of duplicates), a crash between publishing a merge
 * and deleting its inputs neither loses nor duplicates data; retention drops
 * whole segments by age and by disk budget, oldest first, keeps segments
 * not yet synced unless allowed, and counts every eviction; flushes and
 * merges end blocks at whole hours.
 */
#include "engine_util.h"
#include "t.h"

#include "ports/log.h"
#include "ports/metrics.h"

static char g_dir[256];

/* Writes n points of series dev, one per second from t, value base + i,
 * then flushes: one segment. */
static int write_flush(struct ne_store *s, const char *dev, int64_t t, int n, double base)
{
    struct ne_batch b;
    ne_batch_init(&b);
    for (int i = 0; i < n; i++)
        eu_point_f(&b, "m", "dev", dev, "x", t + i * EU_SEC, base + i);
    struct ne_write_result r;
    int rc = ne_store_write(s, "iot", &b, &r);
    ne_batch_free(&b);
    return rc ? rc : ne_store_flush(s);
}

static double sum_values(struct ne_store *s, size_t *n)
{
    struct eu_rows rows = {0};
    double sum = 0;
    eu_scan(s, "iot", "m", "x", &rows);
    for (size_t i = 0; i < rows.n; i++)
        sum += rows.f[i];
    *n = rows.n;
    eu_rows_free(&rows);
    return sum;
}

static void test_compaction_keeps_data(void)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    struct ne_store *s = NULL;
    T_OK(ne_store_open(&o, &s));
    /* 8 segments, each overlapping the previous one's time range by half */
    for (int k = 0; k < 8; k++)
        T_OK(write_flush(s, k % 2 ? "a" : "b", EU_T0 + k * 50 * EU_SEC, 100, k * 1000));
    struct ne_store_stats st;
    size_t n0, n1;
    double sum0 = sum_values(s, &n0);
    T_OK(ne_store_compact(s));
    ne_store_stats(s, &st);
    T_EQ_U64(st.segments, 1);
    double sum1 = sum_values(s, &n1);
    T_EQ_U64(n1, n0);
    T_EQ_DBL(sum1, sum0, 1e-6);
    /* series a and b alternate, so the segments overlap in time but hold
     * no duplicate (series, ts): every one of the 800 points is there */
    T_EQ_U64(n1, 8 * 100);
    ne_store_close(&s);
    T_OK(ne_store_open(&o, &s));
    size_t n2;
    T_EQ_DBL(sum_values(s, &n2), sum0, 1e-6);
    T_EQ_U64(n2, n0);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* What a block scan offered: statistics of blocks and decoded points. */
struct grid_seen {
    size_t blocks, block_points, decoded, spanning;
};

static int grid_block(void *ctx, const struct ne_scan_block *b)
{
    struct grid_seen *g = ctx;
    const int64_t hour = 3600 * EU_SEC;
    g->blocks++;
    g->block_points += b->stats->count;
    g->spanning += (b->stats->min_ts - EU_T0) / hour != (b->stats->max_ts - EU_T0) / hour;
    return 1; /* statistics used: not decoded */
}

static int grid_points(void *ctx, const struct ne_scan_chunk *c)
{
    ((struct grid_seen *)ctx)->decoded += c->n;
    return 0;
}

/* Flushes and merges end blocks at whole hours: 3 hours of 10 s points
 * written in flushes that cut across the hours come back, compacted, as
 * one block per hour, each offered as statistics. */
static void test_blocks_end_at_hours(void)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    struct ne_store *s = NULL;
    T_OK(ne_store_open(&o, &s));
    const int n = 3 * 360;
    for (int i0 = 0; i0 < n; i0 += 250) { /* a flush every 2,500 s */
        struct ne_batch b;
        ne_batch_init(&b);
        for (int i = i0; i < n && i < i0 + 250; i++)
            eu_point_f(&b, "m", "dev", "a", "x", EU_T0 + i * 10 * EU_SEC, i);
        struct ne_write_result r;
        T_OK(ne_store_write(s, "iot", &b, &r));
        ne_batch_free(&b);
        T_OK(ne_store_flush(s));
    }
    T_OK(ne_store_compact(s));
    struct ne_store_stats st;
    ne_store_stats(s, &st);
    T_EQ_U64(st.segments, 1);
    struct grid_seen g = {0};
    struct ne_store_scan_req q = {.db = "iot", .measurement = "m", .field = "x",
                                  .t0 = EU_T0, .t1 = EU_T0 + 3 * 3600 * EU_SEC - 1};
    T_OK(ne_store_scan_blocks(s, &q, grid_points, grid_block, &g));
    T_EQ_U64(g.blocks, 3);
    T_EQ_U64(g.block_points, (uint64_t)n);
    T_EQ_U64(g.decoded, 0);
    T_EQ_U64(g.spanning, 0);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

static void test_compaction_lww_overlap(void)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    struct ne_store *s = NULL;
    T_OK(ne_store_open(&o, &s));
    for (int k = 0; k < 5; k++)
        T_OK(write_flush(s, "a", EU_T0, 100, k * 1000)); /* same 100 points, 5 times */
    T_OK(ne_store_compact(s));
    size_t n;
    double sum = sum_values(s, &n);
    T_EQ_U64(n, 100);
    T_EQ_DBL(sum, 100 * 4000 + 99 * 100 / 2, 1e-6);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

static int copy_seg(void *ctx, const char *name, bool is_dir)
{
    const char **dirs = ctx;
    char from[600], to[600];
    char *d = NULL;
    size_t len = 0;
    if (is_dir || !strstr(name, ".seg")) return 0;
    snprintf(from, sizeof from, "%s/%s", dirs[0], name);
    snprintf(to, sizeof to, "%s/%s", dirs[1], name);
    if (ne_fs_read_all(from, &d, &len) == 0) ne_fs_write_atomic(to, d, len);
    ne_free(d);
    return 0;
}

/* A crash after the merged segment was published but before its inputs
 * were deleted: put the inputs back next to the output and reopen. */
static void test_compaction_crash_leftovers(void)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    char saved[256], segdir[600];
    T_CHECK(t_tmpdir(saved, sizeof saved));
    snprintf(segdir, sizeof segdir, "%s/store/seg", g_dir);
    struct ne_store *s = NULL;
    T_OK(ne_store_open(&o, &s));
    for (int k = 0; k < 4; k++)
        T_OK(write_flush(s, "a", EU_T0 + k * 10 * EU_SEC, 20, k * 100));
    size_t n0;
    double sum0 = sum_values(s, &n0);
    const char *save_dirs[2] = {segdir, saved};
    ne_fs_list_dir(segdir, copy_seg, save_dirs); /* the inputs */
    T_OK(ne_store_compact(s));
    ne_store_close(&s);
    const char *back_dirs[2] = {saved, segdir};
    ne_fs_list_dir(saved, copy_seg, back_dirs); /* resurrect them */
    T_OK(ne_store_open(&o, &s));
    struct ne_store_stats st;
    ne_store_stats(s, &st);
    T_EQ_U64(st.segments, 1);
    size_t n1;
    T_EQ_DBL(sum_values(s, &n1), sum0, 1e-6);
    T_EQ_U64(n1, n0);
    ne_store_close(&s);
    eu_rmtree(saved);
    eu_rmtree(g_dir);
}

static int64_t g_now;
static int64_t clock_fn(void *ctx)
{
    (void)ctx;
    return g_now;
}

static void test_retention_age(void)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    o.retention_max_age_ns = 3600 * EU_SEC;
    o.segment_target_bytes = 1; /* retention drops whole segments: keep them apart */
    o.hold_for_sync = true;     /* a sink is configured */
    g_now = EU_T0 + 10 * 3600 * EU_SEC;
    ne_time_set_wall_clock(clock_fn, NULL);
    struct ne_metric *ev = ne_metric_counter("neoedge_store_segments_evicted_total", "", NULL);
    double ev0 = ne_metric_value(ev);
    struct ne_store *s = NULL;
    T_OK(ne_store_open(&o, &s));
    /* three segments: 9 h old, 5 h old, 10 min old */
    T_OK(write_flush(s, "a", g_now - 9 * 3600 * EU_SEC, 10, 0));
    T_OK(write_flush(s, "a", g_now - 5 * 3600 * EU_SEC, 10, 100));
    T_OK(write_flush(s, "a", g_now - 600 * EU_SEC, 10, 200));
    struct ne_store_seg_desc d[4];
    struct ne_store_backlog bl;
    T_EQ_U64(ne_store_segments_after(s, 0, d, 4, &bl), 3);
    T_EQ_U64(bl.segments, 3);
    T_CHECK(d[0].seq_max < d[1].seq_min && d[1].seq_max < d[2].seq_min);
    T_EQ_U64(bl.bytes, d[0].bytes + d[1].bytes + d[2].bytes);
    /* nothing synced yet: nothing goes, nothing merges */
    T_OK(ne_store_compact(s));
    T_EQ_U64(ne_store_segments_after(s, 0, d, 4, NULL), 3);
    /* a sink has delivered the first segment only */
    ne_store_set_synced_seq(s, d[0].seq_max);
    struct ne_store_seg_desc rest[4];
    T_EQ_U64(ne_store_segments_after(s, d[0].seq_max, rest, 4, &bl), 2);
    T_EQ_U64(bl.segments, 2);
    T_EQ_U64(rest[0].id, d[1].id);
    T_OK(ne_store_compact(s));
    size_t n;
    sum_values(s, &n);
    /* the 9 h segment went; the 5 h one is old but not synced: kept... */
    T_EQ_DBL(ne_metric_value(ev) - ev0, 1, 0);
    T_EQ_U64(n, 20);
    /* ...until the sink catches up (the mark never moves back) */
    ne_store_set_synced_seq(s, d[1].seq_max);
    ne_store_set_synced_seq(s, 1);
    T_OK(ne_store_compact(s));
    sum_values(s, &n);
    T_EQ_U64(n, 10);
    ne_store_close(&s);
    ne_time_set_wall_clock(NULL, NULL);
    eu_rmtree(g_dir);
}

static void test_retention_budget(void)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    o.segment_target_bytes = 1; /* no compaction: keep one segment per flush */
    struct ne_store *s = NULL;
    T_OK(ne_store_open(&o, &s));
    for (int k = 0; k < 6; k++)
        T_OK(write_flush(s, "a", EU_T0 + k * 1000 * EU_SEC, 500, k * 1e6));
    struct ne_store_stats st;
    ne_store_stats(s, &st);
    T_EQ_U64(st.segments, 6);
    uint64_t per = st.segment_bytes / 6;
    ne_store_close(&s);
    /* a budget for about three segments and the WAL: the oldest go */
    o.retention_max_disk_bytes = per * 3 + per / 2 + 64; /* + a new WAL file's header */
    T_OK(ne_store_open(&o, &s));
    T_OK(ne_store_compact(s));
    ne_store_stats(s, &st);
    if (!(st.segments >= 2 && st.segments <= 3))
        fprintf(stderr, "segments %llu bytes %llu wal %llu per %llu budget %llu\n",
                (unsigned long long)st.segments, (unsigned long long)st.segment_bytes,
                (unsigned long long)st.wal_bytes, (unsigned long long)per,
                (unsigned long long)o.retention_max_disk_bytes);
    T_CHECK(st.segments >= 2 && st.segments <= 3);
    T_CHECK(st.segment_bytes <= o.retention_max_disk_bytes);
    struct eu_rows rows = {0};
    T_OK(eu_scan(s, "iot", "m", "x", &rows));
    T_EQ_U64(rows.n, st.segments * 500);
    /* what is left is the newest data */
    T_EQ_INT(rows.ts[rows.n - 1], EU_T0 + 5 * 1000 * EU_SEC + 499 * EU_SEC);
    T_CHECK(rows.ts[0] >= EU_T0 + 3 * 1000 * EU_SEC);
    eu_rows_free(&rows);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

int main(void)
{
    ne_log_set_level(NE_LOG_ERROR);
    T_RUN(test_compaction_keeps_data);
    T_RUN(test_compaction_lww_overlap);
    T_RUN(test_blocks_end_at_hours);
    T_RUN(test_compaction_crash_leftovers);
    T_RUN(test_retention_age);
    T_RUN(test_retention_budget);
    return t_done();
}
