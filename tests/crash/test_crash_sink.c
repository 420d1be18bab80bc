/*
 * test_crash_sink.c - power loss while a sink delivers segments and
 * persists its cursor.
 *
 * Before arming, a store holds NSEG flushed segments. A child arms the
 * crash simulation and runs a sink whose driver "uploads" each segment by
 * publishing a copy of it into a destination directory (temp, fsync,
 * rename, fsync dir: the destination is durable before deliver returns, as
 * a remote store's 200 is) and then lets the runner persist the cursor.
 * The power is cut at every sync in turn, with several seeds per point.
 * Afterwards, with the simulation off:
 *   - the cursor file is readable (old or new, never torn): 0 or the
 *     seq_max of one of the segments;
 *   - every segment at or below the cursor is at the destination, byte for
 *     byte (nothing the cursor claims is missing: no loss);
 *   - a sink restarted without the simulation delivers exactly the
 *     segments above the cursor, and then all NSEG are at the destination.
 * NEOEDGE_CRASH_SEED (printed) reproduces a run; NEOEDGE_CRASH_ITERATIONS
 * sets the seeds per crash point (default 4).
 */
#include <inttypes.h>
#include <stdarg.h>
#include <pthread.h>

#include "crash_util.h"
#include "t.h"

#include "ports/err.h"
#include "ports/log.h"
#include "store/store.h"
#include "sync/sink/sink.h"

#define NSEG 6
#define T0   1700000000000000000LL

static char g_dir[300];
static struct ne_store_seg_desc g_segs[NSEG];

struct dest {
    char dir[400];
    pthread_mutex_t mu;
    uint64_t ids[64];
    size_t n;
};

static void dest_name(char *buf, size_t n, const char *dir, uint64_t id)
{
    snprintf(buf, n, "%s/%016" PRIx64 ".seg", dir, id);
}

static int publish_deliver(void *ctx, const struct ne_sink_env *env,
                           const struct ne_store_seg_desc *seg, struct ne_sink_result *res)
{
    struct dest *d = ctx;
    (void)env;
    char *data = NULL;
    size_t len = 0;
    int rc = ne_fs_read_all(seg->path, &data, &len);
    if (rc) return rc;
    char out[500];
    dest_name(out, sizeof out, d->dir, seg->id);
    rc = ne_fs_write_atomic(out, data, len);
    ne_free(data);
    if (rc) {
        res->kind = NE_SINK_ERR_LOCAL;
        return rc;
    }
    pthread_mutex_lock(&d->mu);
    if (d->n < 64) d->ids[d->n++] = seg->id;
    pthread_mutex_unlock(&d->mu);
    return 0;
}

static struct ne_store *open_store(void)
{
    struct ne_store_opts o;
    ne_store_opts_default(&o);
    o.data_dir = g_dir;
    o.durability = NE_STORE_SYNC;
    o.future_grace_ns = 0;
    o.memtable_max_age_ns = 0;
    o.hold_for_sync = true;
    struct ne_store *s = NULL;
    return ne_store_open(&o, &s) == 0 ? s : NULL;
}

static int run_sink(struct ne_store *s, struct dest *d, uint64_t until_seq)
{
    struct ne_sink_opts o = {.name = "archive",
                             .data_dir = g_dir,
                             .node_id = "gw",
                             .store = s,
                             .retry_base_ns = 1000000,
                             .retry_max_ns = 5000000,
                             .idle_poll_ns = 2000000};
    struct ne_sink_driver drv = {.type = "test", .deliver = publish_deliver, .ctx = d};
    struct ne_sink *k = NULL;
    int rc = ne_sink_start(&o, &drv, &k);
    if (rc) return rc;
    for (int i = 0; i < 5000 && ne_sink_cursor(k) < until_seq; i++)
        ne_time_sleep_ns(1000000);
    bool done = ne_sink_cursor(k) >= until_seq;
    ne_sink_stop(&k);
    return done ? 0 : NE_ETIMEOUT;
}

struct child_arg {
    uint64_t seed, at_sync;
};

static int child(void *p)
{
    struct child_arg *a = p;
    ne_log_set_level(getenv("NEOEDGE_CRASH_VERBOSE") ? NE_LOG_DEBUG : NE_LOG_OFF);
    struct ne_store *s = open_store();
    if (!s) return 3;
    static struct dest d;
    snprintf(d.dir, sizeof d.dir, "%s/bucket", g_dir);
    pthread_mutex_init(&d.mu, NULL);
    if (ne_fs_mkdir_p(d.dir) != 0) return 6;
    struct ne_crashsim_opts co = {.seed = a->seed, .crash_at_sync = a->at_sync};
    if (ne_crashsim_arm(&co) != 0) return 4;
    int rc = run_sink(s, &d, g_segs[NSEG - 1].seq_max);
    ne_crashsim_disarm();
    ne_store_close(&s);
    return rc == 0 ? 0 : 5;
}

/* Reports a failed invariant of the current test and returns false. */
static bool fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static bool fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "  FAIL %s: ", t_cur_name);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    t_cur_failed = 1;
    return false;
}

static bool same_file(const char *a, const char *b)
{
    char *x = NULL, *y = NULL;
    size_t nx = 0, ny = 0;
    bool ok = ne_fs_read_all(a, &x, &nx) == 0 && ne_fs_read_all(b, &y, &ny) == 0 && nx == ny &&
              memcmp(x, y, nx) == 0;
    ne_free(x);
    ne_free(y);
    return ok;
}

/* Checks the state after a crash; returns true when every invariant holds. */
static bool check_after(uint64_t seed, uint64_t at)
{
    uint64_t cur = 0, id = 0;
    int rc = ne_sink_read_cursor(g_dir, "archive", &cur, &id);
    if (rc) {
        return fail("seed %" PRIu64 " sync %" PRIu64 ": cursor unreadable: %s", seed, at,
                ne_strerror(rc));
    }
    bool known = cur == 0;
    char dest[400], out[500];
    snprintf(dest, sizeof dest, "%s/bucket", g_dir);
    for (int i = 0; i < NSEG; i++) {
        if (g_segs[i].seq_max == cur) known = true;
        if (g_segs[i].seq_max > cur) continue;
        dest_name(out, sizeof out, dest, g_segs[i].id);
        if (!same_file(out, g_segs[i].path)) {
            return fail("seed %" PRIu64 " sync %" PRIu64 ": cursor %" PRIu64
                    " claims segment %d delivered but the destination lacks it",
                    seed, at, cur, i);
        }
    }
    if (!known) {
        return fail("seed %" PRIu64 " sync %" PRIu64 ": cursor %" PRIu64 " is no segment's end", seed,
                at, cur);
    }
    /* recovery: a plain restart delivers exactly what is above the cursor */
    struct ne_store *s = open_store();
    if (!s) return false;
    struct dest d = {0};
    snprintf(d.dir, sizeof d.dir, "%s", dest);
    pthread_mutex_init(&d.mu, NULL);
    rc = run_sink(s, &d, g_segs[NSEG - 1].seq_max);
    ne_store_close(&s);
    size_t expect = 0;
    for (int i = 0; i < NSEG; i++)
        expect += g_segs[i].seq_max > cur;
    bool ok = rc == 0 && d.n == expect;
    for (size_t i = 0; ok && i < d.n; i++)
        ok = d.ids[i] == g_segs[NSEG - expect + i].id;
    for (int i = 0; ok && i < NSEG; i++) {
        dest_name(out, sizeof out, dest, g_segs[i].id);
        ok = same_file(out, g_segs[i].path);
    }
    pthread_mutex_destroy(&d.mu);
    if (!ok)
        return fail("seed %" PRIu64 " sync %" PRIu64 ": restart delivered %zu (expected %zu, rc %d)",
                    seed, at, d.n, expect, rc);
    return true;
}

static int make_store(void)
{
    struct ne_store *s = open_store();
    if (!s) return NE_EIO;
    for (int k = 0; k < NSEG; k++) {
        struct ne_batch b;
        ne_batch_init(&b);
        for (int i = 0; i < 50; i++) {
            ne_batch_begin(&b, ne_sv_c("m"), T0 + (int64_t)(k * 50 + i) * 1000000000LL);
            ne_batch_tag(&b, ne_sv_c("dev"), ne_sv_c("a"));
            ne_batch_field_f(&b, ne_sv_c("x"), k * 50 + i);
            ne_batch_end(&b);
        }
        struct ne_write_result r;
        int rc = ne_store_write(s, "iot", &b, &r);
        ne_batch_free(&b);
        if (rc || (rc = ne_store_flush(s))) {
            ne_store_close(&s);
            return rc;
        }
    }
    size_t n = ne_store_segments_after(s, 0, g_segs, NSEG, NULL);
    ne_store_close(&s);
    return n == NSEG ? 0 : NE_ECORRUPT;
}

static void test_power_loss_during_delivery(void)
{
    uint64_t seed = cu_seed();
    long iters = cu_iterations(4);
    fprintf(stderr, "crash_sink: seed %" PRIu64 " (NEOEDGE_CRASH_SEED=%" PRIu64
                    " reproduces), %ld seeds per sync point\n",
            seed, seed, iters);
    long crashes = 0, runs = 0;
    for (uint64_t at = 1;; at++) {
        bool crashed_here = false;
        for (long it = 0; it < iters; it++) {
            T_CHECK(cu_mkdtemp(g_dir, sizeof g_dir, "crash-sink") == 0);
            T_OK(make_store());
            struct child_arg a = {.seed = seed + at * 7919 + (uint64_t)it, .at_sync = at};
            int st = cu_run_child(child, &a);
            runs++;
            if (st == NE_CRASHSIM_EXIT) {
                crashes++;
                crashed_here = true;
            } else if (st != 0) {
                T_FAIL_("child exited %d at sync %" PRIu64, st, at);
            }
            bool ok = check_after(a.seed, at);
            ne_fs_remove_tree(g_dir);
            if (!ok) return;
        }
        if (!crashed_here) break; /* past the last sync of a whole run */
    }
    fprintf(stderr, "crash_sink: %ld runs, %ld power cuts\n", runs, crashes);
    T_CHECK(crashes >= NSEG * 2); /* each delivery has several syncs */
}

int main(void)
{
    ne_log_set_level(NE_LOG_OFF);
    T_RUN(test_power_loss_during_delivery);
    return t_done();
}
