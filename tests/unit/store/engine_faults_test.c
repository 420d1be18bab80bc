/*
 * engine_faults_test.c - the store under injected failures: a full disk
 * (writes refused with NE_ENOSPC, WAL intact, writes resume when space
 * returns, nothing acknowledged lost) and a failed fdatasync (the write is
 * never acknowledged, the store recovers by itself by replaying its WAL),
 * in sync and interval durability.
 */
#include "engine_util.h"
#include "t.h"

#include "ports/log.h"
#include "ports/metrics.h"

static char g_dir[256];

static int write_one(struct ne_store *s, const char *dev, int64_t ts, double v)
{
    struct ne_batch b;
    ne_batch_init(&b);
    eu_point_f(&b, "m", "dev", dev, "x", ts, v);
    struct ne_write_result r;
    int rc = ne_store_write(s, "iot", &b, &r);
    ne_batch_free(&b);
    return rc;
}

/* Retries a write until the store accepts it again (bounded). */
static int write_until_ok(struct ne_store *s, const char *dev, int64_t ts, double v)
{
    int rc = -1;
    for (int i = 0; i < 500 && rc != 0; i++) {
        rc = write_one(s, dev, ts, v);
        if (rc) ne_time_sleep_ns(10000000);
    }
    return rc;
}

/* Value stored at (dev, ts), or NAN if absent. */
static double lookup(struct ne_store *s, const char *dev, int64_t ts)
{
    struct eu_rows rows = {0};
    double v = NAN;
    eu_scan(s, "iot", "m", "x", &rows);
    for (size_t i = 0; i < rows.n; i++)
        if (rows.ts[i] == ts && strcmp(rows.tagval[i], dev) == 0) v = rows.f[i];
    eu_rows_free(&rows);
    return v;
}

static void disk_full(enum ne_store_durability mode)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    o.durability = mode;
    struct ne_store *s = NULL;
    T_OK(ne_store_open(&o, &s));
    T_OK(write_one(s, "a", EU_T0, 1));
    ne_fault_arm(NE_FAULT_WRITE, 1, NE_FAULT_ENOSPC, true);
    T_EQ_INT(write_one(s, "b", EU_T0, 2), NE_ENOSPC);
    struct ne_store_stats st;
    ne_store_stats(s, &st);
    T_CHECK(st.disk_full);
    T_CHECK(strstr(st.why, "disk full") != NULL);
    T_EQ_INT(write_one(s, "b", EU_T0 + 1, 2), NE_ENOSPC);
    T_EQ_INT(ne_store_flush(s), NE_ENOSPC); /* segments cannot be written either */
    ne_fault_disarm(NE_FAULT_WRITE);
    T_OK(write_until_ok(s, "c", EU_T0, 3));
    ne_store_stats(s, &st);
    T_CHECK(!st.disk_full);
    T_OK(ne_store_flush(s));
    ne_store_close(&s);
    T_OK(ne_store_open(&o, &s));
    T_EQ_DBL(lookup(s, "a", EU_T0), 1, 0);
    T_EQ_DBL(lookup(s, "c", EU_T0), 3, 0);
    ne_store_close(&s);
    FILE *f = fopen("/dev/null", "w");
    T_OK(ne_store_verify_dir(g_dir, f));
    fclose(f);
    eu_rmtree(g_dir);
}

static void test_disk_full_sync(void)
{
    disk_full(NE_STORE_SYNC);
}

static void test_disk_full_interval(void)
{
    disk_full(NE_STORE_INTERVAL);
}

static void test_fsync_eio_sync(void)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    struct ne_store *s = NULL;
    T_OK(ne_store_open(&o, &s));
    struct ne_metric *rec = ne_metric_counter("neoedge_store_recoveries_total", "", NULL);
    double rec0 = ne_metric_value(rec);
    T_OK(write_one(s, "a", EU_T0, 1));
    ne_fault_arm(NE_FAULT_SYNC, 1, NE_FAULT_EIO, false);
    /* the fdatasync of this write fails: never acknowledged */
    T_EQ_INT(write_one(s, "b", EU_T0, 2), NE_EFAILED);
    /* the store recovers by itself and takes writes again */
    T_OK(write_until_ok(s, "c", EU_T0, 3));
    T_CHECK(ne_metric_value(rec) - rec0 >= 1);
    struct ne_store_stats st;
    ne_store_stats(s, &st);
    T_CHECK(!st.failed);
    /* replayed from the last durable point: b was cut, a and c are there */
    T_EQ_DBL(lookup(s, "a", EU_T0), 1, 0);
    T_CHECK(isnan(lookup(s, "b", EU_T0)));
    T_EQ_DBL(lookup(s, "c", EU_T0), 3, 0);
    ne_store_close(&s);
    T_OK(ne_store_open(&o, &s));
    T_EQ_DBL(lookup(s, "a", EU_T0), 1, 0);
    T_CHECK(isnan(lookup(s, "b", EU_T0)));
    T_EQ_DBL(lookup(s, "c", EU_T0), 3, 0);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* Interval mode: the background fdatasync fails; the store notices, stops
 * acknowledging, reopens its WAL and recovers by itself. */
static void test_fsync_eio_interval(void)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    o.durability = NE_STORE_INTERVAL;
    o.max_loss_ns = 20000000;
    struct ne_store *s = NULL;
    T_OK(ne_store_open(&o, &s));
    struct ne_metric *rec = ne_metric_counter("neoedge_store_recoveries_total", "", NULL);
    double rec0 = ne_metric_value(rec);
    T_OK(write_one(s, "a", EU_T0, 1));
    ne_time_sleep_ns(100000000); /* a is synced by the background thread */
    ne_fault_arm(NE_FAULT_SYNC, 1, NE_FAULT_EIO, false);
    /* writes go on (acknowledged after write(), before the fdatasync) until
     * the store notices the failed background fdatasync and recovers; a
     * write racing with the failure may be refused */
    for (int i = 0; i < 500 && ne_metric_value(rec) == rec0; i++) {
        int rc = write_one(s, "b", EU_T0 + i, 2);
        T_CHECK(rc == 0 || rc == NE_EFAILED);
        ne_time_sleep_ns(5000000);
    }
    T_EQ_U64(ne_fault_fired(NE_FAULT_SYNC) >= 1, 1);
    T_OK(write_until_ok(s, "c", EU_T0, 3));
    T_CHECK(ne_metric_value(rec) - rec0 >= 1);
    T_EQ_DBL(lookup(s, "a", EU_T0), 1, 0);
    T_EQ_DBL(lookup(s, "c", EU_T0), 3, 0);
    ne_store_close(&s);
    T_OK(ne_store_open(&o, &s));
    T_EQ_DBL(lookup(s, "a", EU_T0), 1, 0);
    T_EQ_DBL(lookup(s, "c", EU_T0), 3, 0);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* Backpressure: with a tiny budget and the flusher held up by a full disk,
 * writes get NE_ENOSPC or NE_EBUSY, never a silent drop. */
static void test_backpressure(void)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    o.durability = NE_STORE_NONE;
    o.memtable_bytes = 64 << 10;
    struct ne_store *s = NULL;
    T_OK(ne_store_open(&o, &s));
    ne_fault_arm(NE_FAULT_WRITE, 1, NE_FAULT_ENOSPC, true); /* segments cannot be written */
    struct ne_batch b;
    ne_batch_init(&b);
    for (int i = 0; i < 1000; i++)
        eu_point_f(&b, "m", "dev", "a", "x", EU_T0 + i, i);
    int rc = 0, n = 0;
    for (; n < 200 && rc == 0; n++) {
        struct ne_write_result r;
        rc = ne_store_write(s, "iot", &b, &r);
    }
    T_CHECK(rc == NE_EBUSY || rc == NE_ENOSPC);
    T_CHECK(n > 1);
    ne_fault_disarm(NE_FAULT_WRITE);
    rc = -1;
    for (int i = 0; i < 500 && rc; i++) {
        struct ne_write_result r;
        rc = ne_store_write(s, "iot", &b, &r);
        if (rc) ne_time_sleep_ns(10000000);
    }
    T_OK(rc);
    ne_batch_free(&b);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

int main(void)
{
    ne_log_set_level(NE_LOG_OFF);
    T_RUN(test_disk_full_sync);
    T_RUN(test_disk_full_interval);
    T_RUN(test_fsync_eio_sync);
    T_RUN(test_fsync_eio_interval);
    T_RUN(test_backpressure);
    ne_fault_reset();
    return t_done();
}
