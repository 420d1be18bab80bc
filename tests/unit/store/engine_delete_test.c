/*
 * engine_delete_test.c - deletion in the store: DELETE by time range and by
 * tag, DROP MEASUREMENT, DROP DATABASE; the deleted points stay gone after
 * a close, a crash (a child that _exits without closing) and compaction;
 * compaction gives the bytes back; writes after a delete, at the same
 * timestamps, are visible; deleted points are gone from memtable-fed
 * segments and older segments alike; block statistics are never used for
 * a block a tombstone touches; segments not yet synced stay as they are
 * until they are.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine_util.h"
#include "t.h"

#include "ports/log.h"

static char g_dir[256];

/* Writes n points of meas,dev=dev x=base+i, one per second from EU_T0 + t0 s. */
static int put_run(struct ne_store *s, const char *db, const char *meas, const char *dev, int t0,
                   int n, double base)
{
    struct ne_batch b;
    ne_batch_init(&b);
    for (int i = 0; i < n; i++)
        eu_point_f(&b, meas, "dev", dev, "x", EU_T0 + (int64_t)(t0 + i) * EU_SEC, base + i);
    struct ne_write_result r;
    int rc = ne_store_write(s, db, &b, &r);
    ne_batch_free(&b);
    return rc ? rc : r.accepted == (uint32_t)n ? 0 : -1;
}

/* Points of db/meas (all series) whose series' tag is dev (NULL: any),
 * with ts in seconds from EU_T0 in [lo, hi]; their sum goes to *sum. */
static size_t count(struct ne_store *s, const char *db, const char *meas, const char *dev, int lo,
                    int hi, double *sum)
{
    struct eu_rows r = {0};
    size_t n = 0;
    double acc = 0;
    if (eu_scan(s, db, meas, "x", &r) == 0) {
        for (size_t i = 0; i < r.n; i++) {
            int64_t sec = (r.ts[i] - EU_T0) / EU_SEC;
            if (dev && (!r.tagval[i] || strcmp(r.tagval[i], dev) != 0)) continue;
            if (sec < lo || sec > hi) continue;
            n++;
            acc += r.f[i];
        }
    }
    eu_rows_free(&r);
    if (sum) *sum = acc;
    return n;
}

static bool dev_is(void *ctx, const struct ne_series_info *si)
{
    return si->ntags && strcmp(si->tags[0].val.p, ctx) == 0;
}

static int del_range(struct ne_store *s, const char *db, const char *meas, const char *dev, int lo,
                     int hi)
{
    struct ne_store_delete_req r = {
        .db = db,
        .measurement = meas,
        .filter = dev ? dev_is : NULL,
        .filter_ctx = (void *)dev,
        .t0 = lo == INT32_MIN ? INT64_MIN : EU_T0 + (int64_t)lo * EU_SEC,
        .t1 = hi == INT32_MAX ? INT64_MAX : EU_T0 + (int64_t)hi * EU_SEC};
    return ne_store_delete(s, &r);
}

/* Collects names (databases, measurements) joined by ',' */
static int name_cat(void *ctx, const char *name)
{
    char *b = ctx;
    size_t n = strlen(b);
    snprintf(b + n, 256 - n, "%s%s", n ? "," : "", name);
    return 0;
}

static int series_cat(void *ctx, const struct ne_series_info *si)
{
    return name_cat(ctx, si->ntags ? si->tags[0].val.p : "-");
}

/* Series a and b of m over [0, 100) s: [0, 50) in a segment, the rest in
 * the memtable. */
static int load_ab(struct ne_store *s)
{
    int rc = put_run(s, "db", "m", "a", 0, 50, 0);
    if (!rc) rc = put_run(s, "db", "m", "b", 0, 50, 1000);
    if (!rc) rc = ne_store_flush(s);
    if (!rc) rc = put_run(s, "db", "m", "a", 50, 50, 50);
    if (!rc) rc = put_run(s, "db", "m", "b", 50, 50, 1050);
    return rc;
}

static void test_delete_time_range(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    T_OK(load_ab(s));
    /* across the segment and the memtable part */
    T_OK(del_range(s, "db", "m", "a", 40, 59));
    T_EQ_U64(count(s, "db", "m", "a", 0, 99, NULL), 80);
    T_EQ_U64(count(s, "db", "m", "a", 40, 59, NULL), 0);
    T_EQ_U64(count(s, "db", "m", "b", 0, 99, NULL), 100);
    /* the series keeps its other points: still listed */
    char names[256] = "";
    T_OK(ne_store_list_series(s, "db", "m", series_cat, names));
    T_EQ_STR(names, "a,b");
    /* a range with nothing in it, and an unknown measurement: no error */
    T_OK(del_range(s, "db", "m", "a", 500, 600));
    T_OK(del_range(s, "db", "nosuch", NULL, INT32_MIN, INT32_MAX));
    T_EQ_INT(del_range(s, "nosuch", "m", NULL, 0, 1), NE_ENOTFOUND);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

static void test_delete_by_tag_all_time(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    T_OK(load_ab(s));
    struct ne_store_stats st;
    ne_store_stats(s, &st);
    T_EQ_U64(st.series, 2);
    T_OK(del_range(s, "db", "m", "b", INT32_MIN, INT32_MAX));
    T_EQ_U64(count(s, "db", "m", NULL, 0, 99, NULL), 100); /* only a's */
    T_EQ_U64(count(s, "db", "m", "b", 0, 99, NULL), 0);
    char names[256] = "";
    T_OK(ne_store_list_series(s, "db", "m", series_cat, names));
    T_EQ_STR(names, "a");
    ne_store_stats(s, &st);
    T_EQ_U64(st.series, 1); /* cardinality forgets it */
    /* a range that covers every point of a series drops it as well */
    T_OK(del_range(s, "db", "m", "a", -10, 200));
    names[0] = 0;
    T_OK(ne_store_list_series(s, "db", "m", series_cat, names));
    T_EQ_STR(names, "");
    names[0] = 0;
    T_OK(ne_store_list_measurements(s, "db", name_cat, names));
    T_EQ_STR(names, ""); /* no series left: no measurement */
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

static void test_drop_measurement(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    T_OK(load_ab(s));
    T_OK(put_run(s, "db", "n", "a", 0, 10, 0));
    T_OK(ne_store_drop_measurement(s, "db", "m"));
    char names[256] = "";
    T_OK(ne_store_list_measurements(s, "db", name_cat, names));
    T_EQ_STR(names, "n");
    T_EQ_U64(count(s, "db", "m", NULL, -1000, 1000, NULL), 0);
    T_EQ_U64(count(s, "db", "n", NULL, -1000, 1000, NULL), 10);
    T_EQ_INT(ne_store_drop_measurement(s, "db", "m"), NE_ENOTFOUND); /* already gone */
    /* written again: a fresh measurement, the old points stay gone */
    T_OK(put_run(s, "db", "m", "a", 5, 2, 500));
    double sum;
    T_EQ_U64(count(s, "db", "m", NULL, -1000, 1000, &sum), 2);
    T_EQ_DBL(sum, 1001, 0);
    ne_store_close(&s);
    s = eu_open(&o);
    T_CHECK(s);
    T_EQ_U64(count(s, "db", "m", NULL, -1000, 1000, &sum), 2);
    T_EQ_DBL(sum, 1001, 0);
    names[0] = 0;
    T_OK(ne_store_list_measurements(s, "db", name_cat, names));
    T_EQ_STR(names, "m,n");
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

static void test_drop_database(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    T_OK(put_run(s, "gone", "m", "a", 0, 100, 0)); /* a segment of its own */
    T_OK(ne_store_flush(s));
    T_OK(put_run(s, "kept", "m", "a", 0, 100, 0));
    T_OK(ne_store_flush(s));
    T_OK(put_run(s, "gone", "m", "b", 0, 10, 0)); /* memtable */
    T_OK(put_run(s, "kept", "m", "b", 0, 10, 0));
    struct ne_store_stats st0, st1;
    ne_store_stats(s, &st0);
    T_OK(ne_store_drop_database(s, "gone"));
    char names[256] = "";
    T_OK(ne_store_list_databases(s, name_cat, names));
    T_EQ_STR(names, "kept");
    T_EQ_INT(ne_store_list_measurements(s, "gone", name_cat, names), NE_ENOTFOUND);
    struct ne_store_scan_req q = {
        .db = "gone", .measurement = "m", .t0 = INT64_MIN, .t1 = INT64_MAX};
    T_EQ_INT(ne_store_scan(s, &q, eu_collect, &(struct eu_rows){0}), NE_ENOTFOUND);
    T_EQ_U64(count(s, "kept", "m", NULL, -1000, 1000, NULL), 110);
    /* the segment that held only "gone" went at once */
    ne_store_stats(s, &st1);
    T_EQ_U64(st1.series, 2);
    T_CHECK(st1.segment_bytes < st0.segment_bytes + 400); /* + the flushed memtable */
    T_EQ_INT(ne_store_drop_database(s, "gone"), NE_ENOTFOUND);
    /* writing again creates it fresh */
    T_OK(put_run(s, "gone", "m", "a", 3, 1, 77));
    double sum;
    T_EQ_U64(count(s, "gone", "m", NULL, -1000, 1000, &sum), 1);
    T_EQ_DBL(sum, 77, 0);
    ne_store_close(&s);
    s = eu_open(&o);
    T_CHECK(s);
    T_EQ_U64(count(s, "gone", "m", NULL, -1000, 1000, &sum), 1);
    T_EQ_DBL(sum, 77, 0);
    T_EQ_U64(count(s, "kept", "m", NULL, -1000, 1000, NULL), 110);
    names[0] = 0;
    T_OK(ne_store_list_databases(s, name_cat, names));
    T_EQ_STR(names, "gone,kept");
    /* dropped with nothing written after: stays dropped across a reopen */
    T_OK(ne_store_drop_database(s, "gone"));
    ne_store_close(&s);
    s = eu_open(&o);
    T_CHECK(s);
    names[0] = 0;
    T_OK(ne_store_list_databases(s, name_cat, names));
    T_EQ_STR(names, "kept");
    T_OK(ne_store_create_database(s, "gone")); /* CREATE revives it, empty */
    names[0] = 0;
    T_OK(ne_store_list_databases(s, name_cat, names));
    T_EQ_STR(names, "gone,kept");
    T_EQ_U64(count(s, "gone", "m", NULL, -1000, 1000, NULL), 0);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

static void test_restart_keeps_deletes(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    T_OK(load_ab(s));
    T_OK(del_range(s, "db", "m", "a", 10, 89));
    T_OK(del_range(s, "db", "m", "b", INT32_MIN, INT32_MAX));
    /* written after the delete, at deleted timestamps: visible */
    T_OK(put_run(s, "db", "m", "a", 20, 5, 9000));
    T_OK(put_run(s, "db", "m", "b", 0, 3, 7000));
    ne_store_close(&s);
    s = eu_open(&o);
    T_CHECK(s);
    double sum;
    T_EQ_U64(count(s, "db", "m", "a", 0, 99, NULL), 25);
    T_EQ_U64(count(s, "db", "m", "a", 10, 89, &sum), 5);
    T_EQ_DBL(sum, 5 * 9000 + 10, 0);
    T_EQ_U64(count(s, "db", "m", "b", 0, 99, &sum), 3);
    T_EQ_DBL(sum, 3 * 7000 + 3, 0);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* The child: deletes, writes after the delete, and _exits without closing
 * (the memtable and the unsynced state die with it). */
static void crash_child(const struct ne_store_opts *o)
{
    struct ne_store *s = eu_open((struct ne_store_opts *)o);
    if (!s || load_ab(s)) _exit(2);
    if (del_range(s, "db", "m", "a", 10, 89)) _exit(3);
    if (ne_store_drop_measurement(s, "db", "m2")) _exit(4);
    if (put_run(s, "db", "m", "a", 20, 5, 9000)) _exit(5); /* WAL only */
    _exit(0);
}

static void test_crash_after_delete(void)
{
    for (int mode = 0; mode < 2; mode++) {
        struct ne_store_opts o;
        eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
        o.durability = mode ? NE_STORE_INTERVAL : NE_STORE_SYNC;
        o.max_loss_ns = 1000000;
        struct ne_store *s = eu_open(&o);
        T_CHECK(s);
        T_OK(put_run(s, "db", "m2", "z", 0, 10, 0));
        ne_store_close(&s);
        pid_t pid = fork();
        if (pid == 0) crash_child(&o);
        int status = 0;
        T_CHECK(waitpid(pid, &status, 0) == pid);
        T_CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        s = eu_open(&o);
        T_CHECK(s);
        double sum;
        /* the write after the delete reached the kernel: it survives */
        T_EQ_U64(count(s, "db", "m", "a", 10, 89, &sum), 5);
        T_EQ_DBL(sum, 5 * 9000 + 10, 0);
        T_EQ_U64(count(s, "db", "m", "a", 0, 9, NULL), 10);
        T_EQ_U64(count(s, "db", "m", "a", 90, 99, NULL), 10);
        T_EQ_U64(count(s, "db", "m", "b", 0, 99, NULL), 100);
        T_EQ_U64(count(s, "db", "m2", NULL, -1000, 1000, NULL), 0);
        char names[256] = "";
        T_OK(ne_store_list_measurements(s, "db", name_cat, names));
        T_EQ_STR(names, "m");
        ne_store_close(&s);
        eu_rmtree(g_dir);
    }
}

static void test_compaction_purges_and_reclaims(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    for (int k = 0; k < 4; k++) {
        T_OK(put_run(s, "db", "m", "a", k * 5000, 5000, k));
        T_OK(put_run(s, "db", "m", "b", k * 5000, 5000, k));
        T_OK(ne_store_flush(s));
    }
    T_OK(ne_store_compact(s));
    struct ne_store_stats st0, st1, st2;
    ne_store_stats(s, &st0);
    T_OK(del_range(s, "db", "m", NULL, 0, 14999)); /* three quarters, both series */
    T_OK(ne_store_compact(s));
    ne_store_stats(s, &st1);
    T_CHECK(st1.segment_bytes * 2 < st0.segment_bytes);
    T_EQ_U64(count(s, "db", "m", NULL, 0, 100000, NULL), 2 * 5000);
    /* nothing more to purge: a second pass changes nothing */
    T_OK(ne_store_compact(s));
    ne_store_stats(s, &st2);
    T_EQ_U64(st2.segment_bytes, st1.segment_bytes);
    T_EQ_U64(st2.segments, st1.segments);
    /* the rewritten segment still answers after a reopen, and a write into
     * the deleted range is visible through compaction */
    T_OK(put_run(s, "db", "m", "a", 100, 10, 5));
    T_OK(ne_store_flush(s));
    T_OK(ne_store_compact(s));
    ne_store_close(&s);
    s = eu_open(&o);
    T_CHECK(s);
    T_EQ_U64(count(s, "db", "m", NULL, 0, 100000, NULL), 2 * 5000 + 10);
    T_EQ_U64(count(s, "db", "m", "a", 0, 14999, NULL), 10);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* The same timestamps in an older segment, a newer segment and the
 * memtable: a delete removes them in all three; what is written after it
 * is visible, before and after compaction. */
static void test_tombstone_vs_memtable_and_segments(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    T_OK(put_run(s, "db", "m", "a", 0, 100, 0));
    T_OK(ne_store_flush(s));
    T_OK(put_run(s, "db", "m", "a", 0, 100, 1000));
    T_OK(ne_store_flush(s));
    T_OK(put_run(s, "db", "m", "a", 0, 100, 2000)); /* memtable */
    T_OK(del_range(s, "db", "m", "a", 30, 39));
    double sum;
    T_EQ_U64(count(s, "db", "m", "a", 0, 99, &sum), 90);
    T_EQ_U64(count(s, "db", "m", "a", 30, 39, NULL), 0);
    T_EQ_U64(count(s, "db", "m", "a", 0, 0, &sum), 1);
    T_EQ_DBL(sum, 2000, 0); /* the newest write wins where nothing was deleted */
    T_OK(put_run(s, "db", "m", "a", 35, 1, 5000)); /* memtable again */
    T_EQ_U64(count(s, "db", "m", "a", 30, 39, &sum), 1);
    T_EQ_DBL(sum, 5000, 0);
    T_OK(ne_store_flush(s));
    T_OK(ne_store_compact(s));
    T_EQ_U64(count(s, "db", "m", "a", 30, 39, &sum), 1);
    T_EQ_DBL(sum, 5000, 0);
    T_EQ_U64(count(s, "db", "m", "a", 0, 99, NULL), 91);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* Aggregates: block statistics only for blocks no tombstone touches. */
struct agg {
    uint64_t n;
    double sum;
};

static int agg_chunk(void *ctx, const struct ne_scan_chunk *c)
{
    struct agg *a = ctx;
    for (size_t i = 0; i < c->n; i++) {
        a->n++;
        a->sum += c->v.f[i];
    }
    return 0;
}

static int agg_block(void *ctx, const struct ne_scan_block *b)
{
    struct agg *a = ctx;
    a->n += b->stats->count;
    a->sum += b->stats->sum_f;
    return 1;
}

static void test_block_stats_respect_tombstones(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    T_OK(put_run(s, "db", "m", "a", 0, 20000, 0)); /* several 4096-point blocks */
    T_OK(ne_store_flush(s));
    T_OK(del_range(s, "db", "m", "a", 5000, 5009));  /* inside one block */
    T_OK(del_range(s, "db", "m", "a", 8192, 12287)); /* one whole block */
    struct ne_store_scan_req q = {
        .db = "db", .measurement = "m", .field = "x", .t0 = INT64_MIN, .t1 = INT64_MAX};
    struct agg a = {0};
    T_OK(ne_store_scan_blocks(s, &q, agg_chunk, agg_block, &a));
    double want = 0;
    uint64_t n = 0;
    for (int i = 0; i < 20000; i++) {
        if ((i >= 5000 && i <= 5009) || (i >= 8192 && i <= 12287)) continue;
        want += i;
        n++;
    }
    T_EQ_U64(a.n, n);
    T_EQ_DBL(a.sum, want, 0);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* With a sink configured, a segment not yet delivered keeps its bytes
 * (it is delivered as sealed) but reads already leave the points out;
 * once synced, compaction purges it. */
static void test_unsynced_segments_wait(void)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    o.hold_for_sync = true;
    struct ne_store *s = eu_open(&o);
    T_CHECK(s);
    T_OK(put_run(s, "db", "m", "a", 0, 5000, 0));
    T_OK(ne_store_flush(s));
    struct ne_store_seg_desc d[4];
    T_EQ_U64(ne_store_segments_after(s, 0, d, 4, NULL), 1);
    struct ne_store_stats st0, st1;
    ne_store_stats(s, &st0);
    T_OK(ne_store_drop_measurement(s, "db", "m"));
    T_OK(ne_store_compact(s));
    ne_store_stats(s, &st1);
    T_EQ_U64(st1.segment_bytes, st0.segment_bytes);
    struct ne_store_seg_desc d2[4];
    T_EQ_U64(ne_store_segments_after(s, 0, d2, 4, NULL), 1);
    T_EQ_U64(d2[0].id, d[0].id);
    T_EQ_U64(count(s, "db", "m", NULL, -1000, 100000, NULL), 0);
    ne_store_set_synced_seq(s, d[0].seq_max);
    T_OK(ne_store_compact(s));
    ne_store_stats(s, &st1);
    T_EQ_U64(st1.segments, 0);
    T_EQ_U64(st1.segment_bytes, 0);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* Compaction running the whole time while deletes come one after the
 * other: no deleted point may come back through a merge, now or after a
 * reopen. */
struct churn {
    struct ne_store *s;
    atomic_int stop;
    int rc;
};

static void *churn_main(void *arg)
{
    struct churn *c = arg;
    while (!atomic_load(&c->stop) && !c->rc) {
        c->rc = ne_store_compact(c->s);
        ne_time_sleep_ns(200000);
    }
    return NULL;
}

static void test_deletes_during_compaction(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    static const char *const devs[4] = {"a", "b", "c", "d"};
    for (int k = 0; k < 8; k++) {
        for (int d = 0; d < 4; d++)
            T_OK(put_run(s, "db", "m", devs[d], k * 500, 500, k));
        T_OK(ne_store_flush(s));
    }
    struct churn c = {.s = s};
    pthread_t th;
    T_CHECK(pthread_create(&th, NULL, churn_main, &c) == 0);
    /* 32 deletes of 100 s each, every series, spread over the 4000 s */
    for (int i = 0; i < 32; i++) {
        T_OK(del_range(s, "db", "m", devs[i % 4], i * 125, i * 125 + 99));
        if (i % 8 == 7) T_OK(put_run(s, "db", "m", "e", i * 10, 10, 0)); /* new segments too */
    }
    atomic_store(&c.stop, 1);
    pthread_join(th, NULL);
    T_OK(c.rc);
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < 32; i++)
            T_EQ_U64(count(s, "db", "m", devs[i % 4], i * 125, i * 125 + 99, NULL), 0);
        T_EQ_U64(count(s, "db", "m", NULL, 0, 4000, NULL), 4 * 4000 - 32 * 100 + 40);
        ne_store_close(&s);
        s = eu_open(&o);
        T_CHECK(s);
    }
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

int main(void)
{
    ne_log_set_level(NE_LOG_ERROR);
    T_RUN(test_delete_time_range);
    T_RUN(test_delete_by_tag_all_time);
    T_RUN(test_drop_measurement);
    T_RUN(test_drop_database);
    T_RUN(test_restart_keeps_deletes);
    T_RUN(test_crash_after_delete);
    T_RUN(test_compaction_purges_and_reclaims);
    T_RUN(test_tombstone_vs_memtable_and_segments);
    T_RUN(test_block_stats_respect_tombstones);
    T_RUN(test_unsynced_segments_wait);
    T_RUN(test_deletes_during_compaction);
    return t_done();
}
