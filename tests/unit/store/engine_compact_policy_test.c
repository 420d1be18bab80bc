/*
 * engine_compact_policy_test.c - what background compaction chooses to
 * merge (store/engine/compact.c): flushes whose hour cell is still being
 * filled stay apart while writes arrive and the open segments are few;
 * once a newer hour begins they merge in one run, each value re-encoded
 * once; once writes pause, what is left merges too. Steady writes make
 * flushes of steady size (no memtable full before it holds anything).
 * A flush's footer is stored raw unless a disk budget or a sink holds.
 *
 * The policy is driven through eng_compact_once (the compactor's step);
 * the background compactor runs too, so every check holds whichever of the
 * two made a merge.
 */
#include "engine_util.h"
#include "t.h"

#include "ports/log.h"
#include "store/engine/store_int.h"

static char g_dir[256];

#define HOUR (3600 * EU_SEC)

/* Writes n points of series dev, one per second from t, then flushes. */
static int write_flush(struct ne_store *s, const char *dev, int64_t t, int n)
{
    struct ne_batch b;
    ne_batch_init(&b);
    for (int i = 0; i < n; i++)
        eu_point_f(&b, "m", "dev", dev, "x", t + i * EU_SEC, i * 0.5);
    struct ne_write_result r;
    int rc = ne_store_write(s, "iot", &b, &r);
    ne_batch_free(&b);
    return rc ? rc : ne_store_flush(s);
}

/* One point into the memtable, not flushed: writes are still arriving. */
static int write_one(struct ne_store *s, int64_t t)
{
    struct ne_batch b;
    ne_batch_init(&b);
    eu_point_f(&b, "m", "dev", "live", "x", t, 1);
    struct ne_write_result r;
    int rc = ne_store_write(s, "iot", &b, &r);
    ne_batch_free(&b);
    return rc;
}

static uint64_t nsegs(struct ne_store *s)
{
    struct ne_store_stats st;
    ne_store_stats(s, &st);
    return st.segments;
}

/* Runs compaction steps until one finds nothing to do; returns how many
 * merged, or -1 on an error. */
static int compact_all(struct ne_store *s)
{
    int n = 0;
    bool did = true;
    while (did) {
        if (eng_compact_once(s, &did)) return -1;
        n += did;
    }
    return n;
}

/* Points of m.x in the store, or SIZE_MAX when the scan fails. */
static size_t count_points(struct ne_store *s)
{
    struct eu_rows rows = {0};
    size_t n = eu_scan(s, "iot", "m", "x", &rows) ? SIZE_MAX : rows.n;
    eu_rows_free(&rows);
    return n;
}

static void test_open_cell_waits_then_merges(void)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    struct ne_store *s = NULL;
    T_OK(ne_store_open(&o, &s));
    /* six flushes of the same size inside the first hour (the old size
     * tiers merged any four of them at once) */
    for (int k = 0; k < 6; k++)
        T_OK(write_flush(s, "a", EU_T0 + k * 500 * EU_SEC, 400));
    T_OK(write_one(s, EU_T0 + 3500 * EU_SEC));
    T_EQ_INT(compact_all(s), 0);
    T_EQ_U64(nsegs(s), 6);

    /* a flush reaching into the next hour closes the first: the run of
     * its segments merges once, with the one that straddles the hours */
    T_OK(write_flush(s, "a", EU_T0 + 3400 * EU_SEC, 400)); /* to 3799 s */
    T_OK(write_flush(s, "a", EU_T0 + HOUR + 300 * EU_SEC, 400));
    T_OK(write_one(s, EU_T0 + HOUR + 900 * EU_SEC));
    T_CHECK(compact_all(s) >= 0);
    T_EQ_U64(nsegs(s), 2);
    struct ne_store_seg_desc d[4];
    T_EQ_U64(ne_store_segments_after(s, 0, d, 4, NULL), 2);
    T_EQ_INT(d[0].min_ts, EU_T0);
    T_EQ_INT(d[0].max_ts, EU_T0 + 3799 * EU_SEC);
    T_EQ_INT(d[1].min_ts, EU_T0 + HOUR + 300 * EU_SEC);
    /* the second hour is still open: nothing more merges */
    T_EQ_INT(compact_all(s), 0);
    T_EQ_U64(count_points(s), 8 * 400 + 2); /* and the two of series live */

    /* writes pause: the open hour's flushes merge too (the background
     * compactor does it once everything is in segments and no write came
     * for a while; wait for it, with a bound). The first hour's segment,
     * much larger than they are, is left as it is rather than copied. */
    uint64_t first_id = d[0].id;
    T_OK(ne_store_flush(s));
    for (int i = 0; i < 600 && nsegs(s) > 2; i++)
        ne_time_sleep_ns(50000000);
    T_EQ_U64(ne_store_segments_after(s, 0, d, 4, NULL), 2);
    T_EQ_U64(d[0].id, first_id);
    T_EQ_INT(d[1].min_ts, EU_T0 + HOUR + 300 * EU_SEC);
    T_EQ_INT(d[1].max_ts, EU_T0 + HOUR + 900 * EU_SEC);
    T_EQ_U64(count_points(s), 8 * 400 + 2);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* Past the limit of open segments, flushes whose cell is still open merge
 * anyway (each open segment holds its index in memory): all of them in one
 * run, not pair by pair. */
static void test_limit_merges_open_cell(void)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    struct ne_store *s = NULL;
    T_OK(ne_store_open(&o, &s));
    for (int k = 0; k < 12; k++) {
        T_OK(write_flush(s, "a", EU_T0 + k * 100 * EU_SEC, 100));
        T_OK(write_one(s, EU_T0 + 3500 * EU_SEC));
        T_EQ_INT(compact_all(s), 0);
        T_EQ_U64(nsegs(s), (uint64_t)k + 1);
    }
    T_OK(write_flush(s, "a", EU_T0 + 1200 * EU_SEC, 100));
    T_OK(write_one(s, EU_T0 + 3500 * EU_SEC));
    T_CHECK(compact_all(s) >= 0);
    T_EQ_U64(nsegs(s), 1);
    T_EQ_U64(count_points(s), 13 * 100 + 1);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* A steady source (the same columns, one value each per round) makes
 * flushes of about one size: no memtable is full before it holds anything
 * because the room its columns reserve from the previous one's sizes
 * exceeds its seal limit. */
static void test_steady_flush_sizes(void)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    o.memtable_bytes = 1u << 20;
    o.durability = NE_STORE_INTERVAL;
    o.segment_target_bytes = 1; /* no merges: one segment per flush */
    struct ne_store *s = NULL;
    T_OK(ne_store_open(&o, &s));
    static char dev[500][8]; /* the batch borrows the tag values */
    for (int k = 0; k < 500; k++)
        snprintf(dev[k], sizeof dev[k], "d%03d", k);
    for (int round = 0; round < 600; round++) {
        struct ne_batch b;
        ne_batch_init(&b);
        for (int k = 0; k < 500; k++) {
            eu_point_f(&b, "m", "dev", dev[k], "x", EU_T0 + round * EU_SEC, k);
        }
        struct ne_write_result r;
        int rc = ne_store_write(s, "iot", &b, &r);
        ne_batch_free(&b);
        T_OK(rc);
    }
    T_OK(ne_store_flush(s));
    struct ne_store_seg_desc d[64];
    size_t n = ne_store_segments_after(s, 0, d, 64, NULL);
    T_CHECK(n >= 4 && n < 64);
    uint64_t most = 0, total = 0;
    for (size_t i = 0; i < n; i++) {
        total += d[i].points;
        if (d[i].points > most) most = d[i].points;
    }
    T_EQ_U64(total, 600 * 500);
    for (size_t i = 0; i + 1 < n; i++) /* the last holds what was left */
        if (d[i].points < most / 2)
            T_FAIL_("flush %zu of %zu holds %llu values, the largest %llu", i, n,
                    (unsigned long long)d[i].points, (unsigned long long)most);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* Sets *raw when the footer of the one segment a flush of 200 series made
 * is stored without zstd (its stored length, from the tail, is its raw
 * length). */
static void flush_footer_raw(const struct ne_store_opts *o, bool *raw)
{
    struct ne_store *s = NULL;
    *raw = false;
    T_OK(ne_store_open(o, &s));
    static char dev[200][8]; /* the batch borrows the tag values */
    struct ne_batch b;
    ne_batch_init(&b);
    for (int k = 0; k < 200; k++) {
        snprintf(dev[k], sizeof dev[k], "d%03d", k);
        eu_point_f(&b, "m", "dev", dev[k], "x", EU_T0, k);
    }
    struct ne_write_result r;
    T_OK(ne_store_write(s, "iot", &b, &r));
    ne_batch_free(&b);
    T_OK(ne_store_flush(s));
    struct ne_store_seg_desc d[4];
    size_t n = ne_store_segments_after(s, 0, d, 4, NULL);
    T_EQ_INT(n, 1);
    uint8_t t[40]; /* the tail: footer offset, stored and raw lengths, ... */
    FILE *f = n == 1 ? fopen(d[0].path, "rb") : NULL;
    T_CHECK(f != NULL);
    bool ok = f && fseek(f, -(long)sizeof t, SEEK_END) == 0 && fread(t, 1, sizeof t, f) == sizeof t;
    if (f) fclose(f);
    ne_store_close(&s);
    eu_rmtree(o->data_dir);
    T_CHECK(ok);
    *raw = ok && memcmp(t + 8, t + 12, 4) == 0;
}

/* A flush stores its footer raw (compaction rewrites it soon), except
 * with a disk budget or when segments wait for a sink. */
static void test_flush_footer_raw(void)
{
    struct ne_store_opts o;
    bool raw = false;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    flush_footer_raw(&o, &raw);
    T_CHECK(raw);
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    o.retention_max_disk_bytes = 1ull << 30;
    flush_footer_raw(&o, &raw);
    T_CHECK(!raw);
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    o.hold_for_sync = true;
    flush_footer_raw(&o, &raw);
    T_CHECK(!raw);
}

int main(void)
{
    ne_log_set_level(NE_LOG_ERROR);
    T_RUN(test_open_cell_waits_then_merges);
    T_RUN(test_limit_merges_open_cell);
    T_RUN(test_steady_flush_sizes);
    T_RUN(test_flush_footer_raw);
    return t_done();
}
