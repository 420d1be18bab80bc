/*
 * sink_test.c - the sink runner against a real store: segments are handed
 * to the driver oldest first, each once; the cursor survives a restart
 * and a restart resumes after it; failures are retried and counted, an
 * authorisation failure turns the sink "failing" without a retry storm;
 * the cursor releases delivered segments to compaction; upload windows.
 *
 * The driver here copies each segment file into a destination directory
 * (a stand-in for a bucket: the runner's contract is the subject, not a
 * remote store) and can be told to fail.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>

#include "../store/engine_util.h"
#include "t.h"

#include "ports/err.h"
#include "ports/log.h"
#include "sync/sink/sink.h"

static char g_dir[256];

#define MAX_DELIV 64

struct copy_driver {
    char dest[300];
    atomic_int fail_left;      /* fail this many calls ... */
    enum ne_sink_err fail_kind; /* ... with this kind */
    atomic_int calls;
    pthread_mutex_t mu;
    uint64_t ids[MAX_DELIV]; /* segment ids delivered, in order */
    size_t n;
};

static int copy_deliver(void *ctx, const struct ne_sink_env *env,
                        const struct ne_store_seg_desc *seg, struct ne_sink_result *res)
{
    struct copy_driver *d = ctx;
    atomic_fetch_add(&d->calls, 1);
    if (atomic_load(&d->fail_left) != 0) {
        if (atomic_load(&d->fail_left) > 0) atomic_fetch_sub(&d->fail_left, 1);
        res->kind = d->fail_kind;
        snprintf(res->msg, sizeof res->msg, "test destination refuses (%s)",
                 ne_sink_err_name(d->fail_kind));
        return NE_EIO;
    }
    char *data = NULL;
    size_t len = 0;
    int rc = ne_fs_read_all(seg->path, &data, &len);
    if (rc) return rc;
    char out[400];
    snprintf(out, sizeof out, "%s/%s-%016" PRIx64 ".seg", d->dest, env->node_id, seg->id);
    rc = ne_fs_write_atomic(out, data, len);
    ne_free(data);
    if (rc) return rc;
    env->count_bytes(env->runner, len);
    res->objects = 1;
    res->rows = seg->points;
    pthread_mutex_lock(&d->mu);
    if (d->n < MAX_DELIV) d->ids[d->n++] = seg->id;
    pthread_mutex_unlock(&d->mu);
    return 0;
}

static struct ne_sink_driver driver_of(struct copy_driver *d)
{
    return (struct ne_sink_driver){.type = "test", .deliver = copy_deliver, .ctx = d};
}

static void copy_init(struct copy_driver *d, const char *dest)
{
    memset(d, 0, sizeof *d);
    snprintf(d->dest, sizeof d->dest, "%s", dest);
    pthread_mutex_init(&d->mu, NULL);
    T_OK(ne_fs_mkdir_p(dest));
}

static size_t delivered(struct copy_driver *d)
{
    pthread_mutex_lock(&d->mu);
    size_t n = d->n;
    pthread_mutex_unlock(&d->mu);
    return n;
}

struct marks {
    atomic_uint_fast64_t last;
    atomic_int calls;
};

static void on_cursor(void *ctx, const char *sink, uint64_t seq)
{
    struct marks *m = ctx;
    (void)sink;
    atomic_store(&m->last, seq);
    atomic_fetch_add(&m->calls, 1);
}

static int write_flush(struct ne_store *s, int k)
{
    struct ne_batch b;
    ne_batch_init(&b);
    for (int i = 0; i < 20; i++)
        eu_point_f(&b, "m", "dev", "a", "x", EU_T0 + (k * 100 + i) * EU_SEC, k * 100 + i);
    struct ne_write_result r;
    int rc = ne_store_write(s, "iot", &b, &r);
    ne_batch_free(&b);
    return rc ? rc : ne_store_flush(s);
}

static void sink_opts(struct ne_sink_opts *o, struct ne_store *s, struct marks *m)
{
    memset(o, 0, sizeof *o);
    o->name = "archive";
    o->data_dir = g_dir;
    o->node_id = "gw-1";
    o->store = s;
    o->retry_base_ns = 20 * 1000000LL;
    o->retry_max_ns = 200 * 1000000LL;
    o->idle_poll_ns = 20 * 1000000LL;
    o->on_cursor = on_cursor;
    o->on_cursor_ctx = m;
}

/* Polls until the sink's cursor reaches seq (10 s deadline). */
static bool wait_cursor(struct ne_sink *k, uint64_t seq)
{
    for (int i = 0; i < 1000; i++) {
        if (ne_sink_cursor(k) >= seq) return true;
        ne_time_sleep_ns(10 * 1000000LL);
    }
    return false;
}

static uint64_t last_seq(struct ne_store *s)
{
    struct ne_store_seg_desc d[64];
    size_t n = ne_store_segments_after(s, 0, d, 64, NULL);
    return n ? d[n - 1].seq_max : 0;
}

/* A store in a fresh directory with hold_for_sync set (a sink exists). */
static struct ne_store *open_held_store(void)
{
    struct ne_store_opts so;
    eu_opts(&so, t_tmpdir(g_dir, sizeof g_dir));
    so.hold_for_sync = true;
    struct ne_store *s = NULL;
    return ne_store_open(&so, &s) == 0 ? s : NULL;
}

/* A copy driver whose "bucket" is g_dir/bucket. */
static void bucket_init(struct copy_driver *d)
{
    char dest[300];
    snprintf(dest, sizeof dest, "%s/bucket", g_dir);
    copy_init(d, dest);
}

static void finish(struct ne_store **s, struct copy_driver *d)
{
    pthread_mutex_destroy(&d->mu);
    ne_store_close(s);
    eu_rmtree(g_dir);
}

static void test_delivers_in_order_and_resumes(void)
{
    struct ne_store *s = open_held_store();
    T_CHECK(s != NULL);
    for (int k = 0; k < 5; k++)
        T_OK(write_flush(s, k));
    struct ne_store_seg_desc segs[16];
    T_EQ_U64(ne_store_segments_after(s, 0, segs, 16, NULL), 5);

    struct copy_driver d;
    bucket_init(&d);
    struct marks m = {0};
    struct ne_sink_opts o;
    sink_opts(&o, s, &m);
    struct ne_sink *k = NULL;
    struct ne_sink_driver drv = driver_of(&d);
    T_OK(ne_sink_start(&o, &drv, &k));
    T_CHECK(wait_cursor(k, segs[4].seq_max));
    T_EQ_U64(delivered(&d), 5);
    for (int i = 0; i < 5; i++)
        T_EQ_U64(d.ids[i], segs[i].id); /* oldest first, each once */
    T_EQ_U64(atomic_load(&m.last), segs[4].seq_max);
    struct ne_sink_status st;
    ne_sink_status(k, &st);
    T_EQ_INT(st.status, 0);
    T_EQ_U64(st.backlog_segments, 0);
    T_EQ_U64(st.delivered_segments, 5);
    T_EQ_U64(st.delivered_rows, 100);
    T_CHECK(st.delivered_bytes > 0);
    ne_sink_stop(&k);

    /* the cursor is on disk */
    uint64_t seq, id;
    T_OK(ne_sink_read_cursor(g_dir, "archive", &seq, &id));
    T_EQ_U64(seq, segs[4].seq_max);
    T_EQ_U64(id, segs[4].id);

    /* three more segments while the sink is down; a restart delivers
     * only those */
    for (int k2 = 5; k2 < 8; k2++)
        T_OK(write_flush(s, k2));
    T_OK(ne_sink_start(&o, &drv, &k));
    T_CHECK(wait_cursor(k, last_seq(s)));
    T_EQ_U64(delivered(&d), 8);
    for (int i = 5; i < 8; i++)
        T_CHECK(d.ids[i] > d.ids[i - 1]);
    ne_sink_stop(&k);

    /* delivered segments are released to compaction once the agent
     * passes the mark on */
    ne_store_set_synced_seq(s, atomic_load(&m.last));
    T_OK(ne_store_compact(s));
    T_EQ_U64(ne_store_segments_after(s, 0, segs, 16, NULL), 1);
    finish(&s, &d);
}

static void test_failures_retried_and_counted(void)
{
    struct ne_store *s = open_held_store();
    T_CHECK(s != NULL);
    for (int k = 0; k < 3; k++)
        T_OK(write_flush(s, k));
    struct copy_driver d;
    bucket_init(&d);
    atomic_store(&d.fail_left, 4);
    d.fail_kind = NE_SINK_ERR_SERVER;
    struct marks m = {0};
    struct ne_sink_opts o;
    sink_opts(&o, s, &m);
    struct ne_sink *k = NULL;
    struct ne_sink_driver drv = driver_of(&d);
    T_OK(ne_sink_start(&o, &drv, &k));
    T_CHECK(wait_cursor(k, last_seq(s)));
    struct ne_sink_status st;
    ne_sink_status(k, &st);
    T_EQ_U64(st.errors[NE_SINK_ERR_SERVER], 4);
    T_EQ_U64(delivered(&d), 3); /* each once despite the retries */
    T_EQ_INT(st.status, 0);     /* healthy again after a success */
    T_EQ_INT(atomic_load(&d.calls), 7);
    ne_sink_stop(&k);
    finish(&s, &d);
}

static void test_auth_failure_is_failing_without_storm(void)
{
    struct ne_store *s = open_held_store();
    T_CHECK(s != NULL);
    T_OK(write_flush(s, 0));
    struct copy_driver d;
    bucket_init(&d);
    atomic_store(&d.fail_left, -1); /* forever */
    d.fail_kind = NE_SINK_ERR_AUTH;
    struct marks m = {0};
    struct ne_sink_opts o;
    sink_opts(&o, s, &m);
    o.retry_max_ns = 30LL * 1000000000LL; /* an auth failure waits the longest step */
    struct ne_sink *k = NULL;
    struct ne_sink_driver drv = driver_of(&d);
    T_OK(ne_sink_start(&o, &drv, &k));
    for (int i = 0; i < 500 && atomic_load(&d.calls) == 0; i++)
        ne_time_sleep_ns(10 * 1000000LL);
    /* flushes kick the runner; a kick must not cut the wait short */
    for (int k2 = 1; k2 < 4; k2++) {
        T_OK(write_flush(s, k2));
        ne_sink_kick(k);
    }
    ne_time_sleep_ns(300 * 1000000LL);
    T_EQ_INT(atomic_load(&d.calls), 1);
    struct ne_sink_status st;
    ne_sink_status(k, &st);
    T_EQ_INT(st.status, 2);
    T_CHECK(strstr(st.reason, "test destination refuses (auth)") != NULL);
    T_EQ_U64(st.backlog_segments, 4); /* data kept */
    T_EQ_U64(st.errors[NE_SINK_ERR_AUTH], 1);
    ne_sink_stop(&k); /* stops promptly inside the long wait */
    struct ne_store_backlog bl;
    ne_store_segments_after(s, 0, NULL, 0, &bl);
    T_EQ_U64(bl.segments, 4);
    finish(&s, &d);
}

static void test_corrupt_cursor_starts_over(void)
{
    struct ne_store *s = open_held_store();
    T_CHECK(s != NULL);
    T_OK(write_flush(s, 0));
    char path[400];
    snprintf(path, sizeof path, "%s/sync/archive", g_dir);
    T_OK(ne_fs_mkdir_p(path));
    snprintf(path, sizeof path, "%s/sync/archive/CURSOR", g_dir);
    T_OK(ne_fs_write_atomic(path, "garbage", 7));
    uint64_t seq, id;
    T_EQ_INT(ne_sink_read_cursor(g_dir, "archive", &seq, &id), NE_ECORRUPT);
    struct copy_driver d;
    bucket_init(&d);
    struct marks m = {0};
    struct ne_sink_opts o;
    sink_opts(&o, s, &m);
    struct ne_sink *k = NULL;
    struct ne_sink_driver drv = driver_of(&d);
    T_OK(ne_sink_start(&o, &drv, &k));
    T_CHECK(wait_cursor(k, last_seq(s)));
    T_EQ_U64(delivered(&d), 1);
    ne_sink_stop(&k);
    T_OK(ne_sink_read_cursor(g_dir, "archive", &seq, &id));
    T_EQ_U64(seq, last_seq(s));
    finish(&s, &d);
}

static void test_windows(void)
{
    const int64_t day0 = EU_T0; /* 00:00 UTC */
    const int64_t min = 60 * EU_SEC;
    T_CHECK(ne_sink_in_window(NULL, day0));
    T_CHECK(ne_sink_in_window("", day0));
    T_CHECK(ne_sink_in_window("22:00-06:00", day0 + 23 * 60 * min));
    T_CHECK(ne_sink_in_window("22:00-06:00", day0 + 5 * 60 * min + 59 * min));
    T_CHECK(!ne_sink_in_window("22:00-06:00", day0 + 6 * 60 * min));
    T_CHECK(!ne_sink_in_window("22:00-06:00", day0 + 12 * 60 * min));
    T_CHECK(ne_sink_in_window("01:00-02:00,12:00-24:00", day0 + 23 * 60 * min));
    T_CHECK(ne_sink_in_window("01:00-02:00,12:00-24:00", day0 + 90 * min));
    T_CHECK(!ne_sink_in_window("01:00-02:00,12:00-24:00", day0 + 3 * 60 * min));
    T_EQ_STR(ne_sink_err_name(NE_SINK_ERR_THROTTLE), "throttle");
}

int main(void)
{
    ne_log_set_level(NE_LOG_OFF);
    T_RUN(test_windows);
    T_RUN(test_delivers_in_order_and_resumes);
    T_RUN(test_failures_retried_and_counted);
    T_RUN(test_auth_failure_is_failing_without_storm);
    T_RUN(test_corrupt_cursor_starts_over);
    return t_done();
}
