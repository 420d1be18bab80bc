/*
 * sink.c - the sink runner: cursor, delivery loop, retries, windows and the
 * figures of one sink (contract and cursor file format in sink.h).
 *
 * Thread model: one runner thread per sink does every delivery; the other
 * threads only read figures (ne_sink_status, /metrics) and kick or stop it.
 * s->mu guards the fields below it in struct ne_sink; the driver runs
 * without the lock.
 */
#include "sync/sink/sink.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "ports/crc32c.h"
#include "ports/err.h"
#include "ports/log.h"
#include "ports/metrics.h"
#include "ports/platform.h"
#include "store/codec/buf.h"

#define SINK_MOD       "sync"
#define CURSOR_MAGIC   0x4353454eu /* "NESC" */
#define CURSOR_VERSION 1u
#define CURSOR_LEN     32u
#define RATE_SLOTS     60 /* one-second slots of the upload rate window */
#define MAX_WINDOWS    16
#define BATCH_SEGS     16 /* segments listed per look */

struct sink_metrics {
    struct ne_metric *backlog_segs, *backlog_bytes, *oldest_age, *cursor, *delivered_segs,
        *delivered_bytes, *delivered_rows, *lost, *rate, *errors[NE_SINK_ERR__COUNT], *up;
};

struct ne_sink {
    char *name, *data_dir, *node_id, *state_dir, *windows;
    struct ne_store *store;
    struct ne_sink_driver drv;
    struct ne_sink_opts o;
    pthread_t thread;
    bool started;
    atomic_bool stop;
    atomic_uint_fast64_t bytes_now; /* sent since the runner last sampled */

    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool kicked;
    uint64_t cursor, last_seg_id;
    int status;
    char reason[256];
    uint64_t delivered_segs, delivered_bytes, delivered_rows, lost;
    uint64_t errors[NE_SINK_ERR__COUNT];
    uint64_t rate_slot[RATE_SLOTS]; /* bytes per second, ring */
    int64_t rate_sec;               /* the second rate_slot[rate_sec % RATE_SLOTS] is */
    bool in_window;
    struct ne_store_backlog backlog;

    struct sink_metrics m;
};

static const char *const err_names[NE_SINK_ERR__COUNT] = {
    "none", "connect", "timeout", "throttle", "server", "auth", "rejected", "local"};

const char *ne_sink_err_name(enum ne_sink_err e)
{
    return (unsigned)e < NE_SINK_ERR__COUNT ? err_names[e] : "unknown";
}

/* ---- cursor file --------------------------------------------------------------- */

static void cursor_path(char *buf, size_t n, const char *state_dir)
{
    snprintf(buf, n, "%s/CURSOR", state_dir);
}

static int cursor_read_path(const char *path, uint64_t *seq, uint64_t *seg_id)
{
    char *d = NULL;
    size_t n = 0;
    *seq = *seg_id = 0;
    int rc = ne_fs_read_all(path, &d, &n);
    if (rc == NE_ENOTFOUND) return 0;
    if (rc) return rc;
    const uint8_t *b = (const uint8_t *)d;
    if (n != CURSOR_LEN || ne_load_u32le(b) != CURSOR_MAGIC ||
        ne_load_u32le(b + 4) != CURSOR_VERSION || ne_load_u32le(b + 24) != ne_crc32c(0, b, 24)) {
        ne_free(d);
        return NE_ECORRUPT;
    }
    *seq = ne_load_u64le(b + 8);
    *seg_id = ne_load_u64le(b + 16);
    ne_free(d);
    return 0;
}

/* Writes the cursor with the atomic publish of ports (tmp, fsync, rename,
 * fsync dir): after a crash it is either the old or the new cursor. */
static int cursor_write(const char *state_dir, uint64_t seq, uint64_t seg_id)
{
    uint8_t b[CURSOR_LEN] = {0};
    char path[4096];
    ne_store_u32le(b, CURSOR_MAGIC);
    ne_store_u32le(b + 4, CURSOR_VERSION);
    ne_store_u64le(b + 8, seq);
    ne_store_u64le(b + 16, seg_id);
    ne_store_u32le(b + 24, ne_crc32c(0, b, 24));
    cursor_path(path, sizeof path, state_dir);
    return ne_fs_write_atomic(path, b, sizeof b);
}

int ne_sink_read_cursor(const char *data_dir, const char *name, uint64_t *seq, uint64_t *seg_id)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/sync/%s/CURSOR", data_dir, name);
    uint64_t dummy;
    return cursor_read_path(path, seq, seg_id ? seg_id : &dummy);
}

/* ---- windows ------------------------------------------------------------------- */

bool ne_sink_in_window(const char *windows, int64_t now_ns)
{
    int from[MAX_WINDOWS], to[MAX_WINDOWS];
    size_t n = 0;
    if (!windows || !*windows) return true;
    if (ne_config_parse_windows(windows, from, to, MAX_WINDOWS, &n) != 0) return true;
    int64_t secs = now_ns / 1000000000LL;
    int minute = (int)((secs % 86400 + 86400) % 86400 / 60);
    for (size_t i = 0; i < n; i++) {
        bool wraps = from[i] > to[i];
        if (!wraps && minute >= from[i] && minute < to[i]) return true;
        if (wraps && (minute >= from[i] || minute < to[i])) return true;
    }
    return false;
}

/* ---- figures -------------------------------------------------------------------- */

static void metrics_register(struct ne_sink *s)
{
    char l[160];
    snprintf(l, sizeof l, "sink=\"%s\",type=\"%s\"", s->name, s->drv.type);
    struct sink_metrics *m = &s->m;
    m->backlog_segs = ne_metric_gauge("neoedge_sink_backlog_segments",
                                      "Sealed segments not yet delivered", l);
    m->backlog_bytes = ne_metric_gauge("neoedge_sink_backlog_bytes",
                                       "Bytes of sealed segments not yet delivered", l);
    m->oldest_age = ne_metric_gauge("neoedge_sink_oldest_undelivered_age_seconds",
                                    "Age of the oldest undelivered segment (since sealed)", l);
    m->cursor = ne_metric_gauge("neoedge_sink_cursor_seq",
                                "Every WAL sequence number up to this is delivered", l);
    m->delivered_segs = ne_metric_counter("neoedge_sink_delivered_segments_total",
                                          "Segments delivered", l);
    m->delivered_bytes =
        ne_metric_counter("neoedge_sink_upload_bytes_total", "Bytes sent, retries included", l);
    m->delivered_rows = ne_metric_counter("neoedge_sink_delivered_rows_total",
                                          "Rows (points) delivered", l);
    m->lost = ne_metric_counter("neoedge_sink_lost_segments_total",
                                "Segments retention evicted before they were delivered", l);
    m->rate = ne_metric_gauge("neoedge_sink_upload_rate_bytes",
                              "Upload rate over the last minute, bytes per second", l);
    m->up = ne_metric_gauge("neoedge_sink_failing", "1 while the destination refuses us", l);
    for (int k = 1; k < NE_SINK_ERR__COUNT; k++) {
        char lk[200];
        snprintf(lk, sizeof lk, "%s,kind=\"%s\"", l, err_names[k]);
        m->errors[k] = ne_metric_counter("neoedge_sink_errors_total",
                                         "Failed delivery attempts, by kind", lk);
    }
}

/* Moves bytes counted since the last sample into the per-second ring.
 * mu held. */
static void rate_sample(struct ne_sink *s, int64_t now_mono)
{
    int64_t sec = now_mono / 1000000000LL;
    if (sec - s->rate_sec >= RATE_SLOTS) {
        memset(s->rate_slot, 0, sizeof s->rate_slot);
    } else {
        for (int64_t t = s->rate_sec + 1; t <= sec; t++)
            s->rate_slot[t % RATE_SLOTS] = 0;
    }
    s->rate_sec = sec;
    uint64_t b = atomic_exchange(&s->bytes_now, 0);
    s->rate_slot[sec % RATE_SLOTS] += b;
    s->delivered_bytes += b;
    ne_metric_add(s->m.delivered_bytes, b);
}

static double rate_of(const struct ne_sink *s)
{
    uint64_t sum = 0;
    for (int i = 0; i < RATE_SLOTS; i++)
        sum += s->rate_slot[i];
    return (double)sum / RATE_SLOTS;
}

/* Refreshes the backlog and health. mu held. */
static void refresh(struct ne_sink *s)
{
    struct ne_store_seg_desc d;
    int64_t now = ne_time_wall_ns();
    (void)ne_store_segments_after(s->store, s->cursor, &d, 0, &s->backlog);
    rate_sample(s, ne_time_mono_ns());
    int64_t age = s->backlog.oldest_sealed_ns ? now - s->backlog.oldest_sealed_ns : 0;
    if (age < 0) age = 0;
    ne_metric_set(s->m.backlog_segs, (double)s->backlog.segments);
    ne_metric_set(s->m.backlog_bytes, (double)s->backlog.bytes);
    ne_metric_set(s->m.oldest_age, (double)age / 1e9);
    ne_metric_set(s->m.cursor, (double)s->cursor);
    ne_metric_set(s->m.rate, rate_of(s));
    ne_metric_set(s->m.up, s->status == 2);
}

void ne_sink_status(struct ne_sink *s, struct ne_sink_status *out)
{
    pthread_mutex_lock(&s->mu);
    refresh(s);
    memset(out, 0, sizeof *out);
    out->cursor = s->cursor;
    out->backlog_segments = s->backlog.segments;
    out->backlog_bytes = s->backlog.bytes;
    int64_t now = ne_time_wall_ns();
    out->oldest_age_ns = s->backlog.oldest_sealed_ns ? now - s->backlog.oldest_sealed_ns : 0;
    if (out->oldest_age_ns < 0) out->oldest_age_ns = 0;
    out->delivered_segments = s->delivered_segs;
    out->delivered_bytes = s->delivered_bytes;
    out->delivered_rows = s->delivered_rows;
    out->lost_segments = s->lost;
    memcpy(out->errors, s->errors, sizeof out->errors);
    out->upload_bytes_per_s = rate_of(s);
    out->in_window = s->in_window;
    out->status = s->status;
    snprintf(out->reason, sizeof out->reason, "%s", s->reason);
    if (out->status == 0 && s->o.backlog_max_age_ns > 0 &&
        out->oldest_age_ns > s->o.backlog_max_age_ns) {
        out->status = 1;
        snprintf(out->reason, sizeof out->reason,
                 "sink %s: oldest undelivered segment is %" PRId64 " s old (backlog_max_age %" PRId64
                 " s), %" PRIu64 " segments waiting%s",
                 s->name, (int64_t)(out->oldest_age_ns / 1000000000LL),
                 (int64_t)(s->o.backlog_max_age_ns / 1000000000LL), out->backlog_segments,
                 s->in_window ? "" : " (outside the upload windows)");
    }
    pthread_mutex_unlock(&s->mu);
}

/* ---- driver callbacks ----------------------------------------------------------- */

static void env_count_bytes(void *runner, uint64_t n)
{
    struct ne_sink *s = runner;
    atomic_fetch_add(&s->bytes_now, n);
}

static bool env_stopping(void *runner)
{
    struct ne_sink *s = runner;
    return atomic_load(&s->stop);
}

/* ---- the loop --------------------------------------------------------------------- */

/* Waits up to ns, or until stopped, or (when kickable) kicked; returns
 * true when a kick ended the wait. mu held. A backoff is not kickable:
 * flushes kick the runner, and a failing destination must not see one
 * attempt per flush. */
static bool wait_ns(struct ne_sink *s, int64_t ns, bool kickable)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t t = (int64_t)ts.tv_nsec + ns % 1000000000LL;
    ts.tv_sec += (time_t)(ns / 1000000000LL + t / 1000000000LL);
    ts.tv_nsec = (long)(t % 1000000000LL);
    while (!(kickable && s->kicked) && !atomic_load(&s->stop)) {
        if (pthread_cond_timedwait(&s->cv, &s->mu, &ts) != 0) break;
    }
    bool kicked = kickable && s->kicked;
    if (kicked) s->kicked = false;
    return kicked;
}

/* Pauses the runner for ns (idle poll or backoff) in slices of at most a
 * second, refreshing the gauges after each: a backoff after a refused
 * credential lasts minutes and /metrics must not go stale meanwhile. */
static void pause_runner(struct ne_sink *s, int64_t ns, bool kickable)
{
    pthread_mutex_lock(&s->mu);
    if (!kickable) s->kicked = false; /* flushes during a failure do not count */
    int64_t until = ne_time_mono_ns() + ns;
    for (int64_t left = ns; left > 0 && !atomic_load(&s->stop);
         left = until - ne_time_mono_ns()) {
        bool kicked = wait_ns(s, left < 1000000000LL ? left : 1000000000LL, kickable);
        refresh(s);
        if (kicked) break;
    }
    pthread_mutex_unlock(&s->mu);
}

/* Full jitter: a uniform delay in [base/2, min(cap, base * 2^attempt)]. The
 * floor keeps a failing destination from being hammered when the random
 * draw is tiny. */
static int64_t backoff_ns(const struct ne_sink *s, int attempt, enum ne_sink_err kind)
{
    int64_t base = s->o.retry_base_ns > 0 ? s->o.retry_base_ns : 1000000000LL;
    int64_t cap = s->o.retry_max_ns > 0 ? s->o.retry_max_ns : 300000000000LL;
    if (kind == NE_SINK_ERR_AUTH) return cap; /* credentials do not heal by retrying */
    int64_t ceil = base;
    for (int i = 0; i < attempt && ceil < cap; i++)
        ceil *= 2;
    if (ceil > cap) ceil = cap;
    uint64_t r = ((uint64_t)ne_time_mono_ns() * 0x9e3779b97f4a7c15ull) ^ (uint64_t)(uintptr_t)s;
    r ^= r >> 29;
    int64_t lo = base / 2;
    return lo + (int64_t)(r % (uint64_t)(ceil - lo + 1));
}

static void note_failure(struct ne_sink *s, const struct ne_store_seg_desc *d,
                         const struct ne_sink_result *res, int rc)
{
    enum ne_sink_err k = res->kind ? res->kind : NE_SINK_ERR_LOCAL;
    char id[20];
    snprintf(id, sizeof id, "%016" PRIx64, d->id);
    pthread_mutex_lock(&s->mu);
    s->errors[k]++;
    ne_metric_inc(s->m.errors[k]);
    s->status = k == NE_SINK_ERR_AUTH ? 2 : 1;
    snprintf(s->reason, sizeof s->reason, "sink %.63s: %.180s", s->name,
             res->msg[0] ? res->msg : ne_strerror(rc));
    pthread_mutex_unlock(&s->mu);
    ne_log(k == NE_SINK_ERR_AUTH ? NE_LOG_ERROR : NE_LOG_WARN, SINK_MOD, "delivery failed", "sink",
           s->name, "segment", id, "kind", err_names[k], "err",
           res->msg[0] ? res->msg : ne_strerror(rc), NULL);
}

static int note_success(struct ne_sink *s, const struct ne_store_seg_desc *d,
                        const struct ne_sink_result *res)
{
    int rc = cursor_write(s->state_dir, d->seq_max, d->id);
    if (rc) {
        ne_log(NE_LOG_ERROR, SINK_MOD, "cannot write the sink cursor", "sink", s->name, "err",
               ne_strerror(rc), NULL);
        return rc;
    }
    pthread_mutex_lock(&s->mu);
    s->cursor = d->seq_max;
    s->last_seg_id = d->id;
    s->delivered_segs++;
    s->delivered_rows += res->rows;
    s->status = 0;
    s->reason[0] = '\0';
    ne_metric_inc(s->m.delivered_segs);
    ne_metric_add(s->m.delivered_rows, res->rows);
    refresh(s);
    pthread_mutex_unlock(&s->mu);
    if (s->o.on_cursor) s->o.on_cursor(s->o.on_cursor_ctx, s->name, d->seq_max);
    return 0;
}

/* A segment the store no longer lists was evicted before delivery: move
 * the cursor past it so the rest flows, and count it. */
static void skip_lost(struct ne_sink *s, const struct ne_store_seg_desc *d)
{
    char id[20];
    snprintf(id, sizeof id, "%016" PRIx64, d->id);
    ne_log(NE_LOG_ERROR, SINK_MOD, "segment evicted before delivery: skipped", "sink", s->name,
           "segment", id, NULL);
    pthread_mutex_lock(&s->mu);
    s->lost++;
    ne_metric_inc(s->m.lost);
    pthread_mutex_unlock(&s->mu);
    struct ne_sink_result none = {0};
    (void)note_success(s, d, &none);
}

static bool still_listed(struct ne_sink *s, const struct ne_store_seg_desc *d)
{
    struct ne_store_seg_desc v[BATCH_SEGS];
    size_t n = ne_store_segments_after(s->store, s->cursor, v, BATCH_SEGS, NULL);
    for (size_t i = 0; i < n; i++)
        if (v[i].id == d->id) return true;
    return false;
}

/* Delivers one segment. Returns 0 when delivered (or skipped as lost),
 * 1 when it should be retried later, with *kind set. */
static int deliver_one(struct ne_sink *s, const struct ne_store_seg_desc *d, enum ne_sink_err *kind)
{
    struct ne_sink_env env = {.name = s->name,
                              .node_id = s->node_id,
                              .state_dir = s->state_dir,
                              .store = s->store,
                              .count_bytes = env_count_bytes,
                              .stopping = env_stopping,
                              .runner = s};
    struct ne_sink_result res = {0};
    int rc = s->drv.deliver(s->drv.ctx, &env, d, &res);
    pthread_mutex_lock(&s->mu);
    rate_sample(s, ne_time_mono_ns());
    pthread_mutex_unlock(&s->mu);
    *kind = res.kind;
    if (rc == 0) return note_success(s, d, &res) ? 1 : 0;
    if (rc == NE_ECLOSED && atomic_load(&s->stop)) return 1;
    if (rc == NE_ENOTFOUND && !still_listed(s, d)) {
        skip_lost(s, d);
        return 0;
    }
    note_failure(s, d, &res, rc);
    return 1;
}

static void *runner_main(void *arg)
{
    struct ne_sink *s = arg;
    int attempt = 0;
    enum ne_sink_err kind = NE_SINK_ERR_NONE;
    while (!atomic_load(&s->stop)) {
        bool open = ne_sink_in_window(s->windows, ne_time_wall_ns());
        struct ne_store_seg_desc d[BATCH_SEGS];
        size_t n = 0;
        pthread_mutex_lock(&s->mu);
        s->in_window = open;
        uint64_t cur = s->cursor;
        refresh(s);
        pthread_mutex_unlock(&s->mu);
        if (open) n = ne_store_segments_after(s->store, cur, d, BATCH_SEGS, NULL);
        size_t done = 0;
        bool failed = false;
        for (; done < n && !atomic_load(&s->stop); done++) {
            if (!ne_sink_in_window(s->windows, ne_time_wall_ns())) break;
            if ((failed = deliver_one(s, &d[done], &kind) != 0)) break;
            attempt = 0;
        }
        int64_t pause = s->o.idle_poll_ns > 0 ? s->o.idle_poll_ns : 1000000000LL;
        if (failed) pause = backoff_ns(s, attempt++, kind); /* back off */
        else if (n == BATCH_SEGS && done == n) continue;    /* more waiting: go on */
        pause_runner(s, pause, !failed);
    }
    return NULL;
}

/* ---- lifecycle ---------------------------------------------------------------------- */

static void sink_free(struct ne_sink *s)
{
    if (s->drv.destroy) s->drv.destroy(s->drv.ctx);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    ne_free(s->name);
    ne_free(s->data_dir);
    ne_free(s->node_id);
    ne_free(s->state_dir);
    ne_free(s->windows);
    ne_free(s);
}

static int sink_load_cursor(struct ne_sink *s)
{
    char path[4096];
    cursor_path(path, sizeof path, s->state_dir);
    int rc = cursor_read_path(path, &s->cursor, &s->last_seg_id);
    if (rc == NE_ECORRUPT) {
        /* deliveries are idempotent: starting over repeats uploads, loses nothing */
        ne_log(NE_LOG_ERROR, SINK_MOD, "sink cursor is corrupt: delivering from the oldest segment",
               "sink", s->name, "path", path, NULL);
        s->cursor = s->last_seg_id = 0;
        return 0;
    }
    return rc;
}

int ne_sink_start(const struct ne_sink_opts *o, const struct ne_sink_driver *drv,
                  struct ne_sink **out)
{
    struct ne_sink *s = ne_calloc(1, sizeof *s);
    if (!s) {
        if (drv->destroy) drv->destroy(drv->ctx);
        return NE_ENOMEM;
    }
    s->drv = *drv;
    s->o = *o;
    s->store = o->store;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    atomic_init(&s->stop, false);
    atomic_init(&s->bytes_now, 0);
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/sync/%s", o->data_dir, o->name);
    s->name = ne_strdup(o->name);
    s->data_dir = ne_strdup(o->data_dir);
    s->node_id = ne_strdup(o->node_id ? o->node_id : "neoedge");
    s->state_dir = ne_strdup(dir);
    s->windows = o->windows ? ne_strdup(o->windows) : NULL;
    int rc = 0;
    if (!s->name || !s->data_dir || !s->node_id || !s->state_dir || (o->windows && !s->windows))
        rc = NE_ENOMEM;
    if (!rc) rc = ne_fs_mkdir_p(dir);
    if (!rc) rc = sink_load_cursor(s);
    if (rc) {
        sink_free(s);
        return rc;
    }
    metrics_register(s);
    pthread_mutex_lock(&s->mu);
    refresh(s);
    pthread_mutex_unlock(&s->mu);
    if (o->on_cursor) o->on_cursor(o->on_cursor_ctx, s->name, s->cursor);
    char cur[24]; /* the cursor at start: the runner moves it once it runs */
    snprintf(cur, sizeof cur, "%" PRIu64, s->cursor);
    if (pthread_create(&s->thread, NULL, runner_main, s) != 0) {
        sink_free(s);
        return NE_ENOMEM;
    }
    s->started = true;
    char tname[16]; /* "sink:<name>" in top -H, /proc/PID/task/TID/comm */
    snprintf(tname, sizeof tname, "sink:%.10s", s->name);
    (void)pthread_setname_np(s->thread, tname);
    ne_log(NE_LOG_INFO, SINK_MOD, "sink started", "sink", s->name, "type", s->drv.type, "cursor",
           cur, NULL);
    *out = s;
    return 0;
}

void ne_sink_kick(struct ne_sink *s)
{
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    s->kicked = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

void ne_sink_stop(struct ne_sink **sp)
{
    struct ne_sink *s = sp ? *sp : NULL;
    if (!s) return;
    atomic_store(&s->stop, true);
    ne_sink_kick(s);
    if (s->started) pthread_join(s->thread, NULL);
    sink_free(s);
    *sp = NULL;
}

uint64_t ne_sink_cursor(struct ne_sink *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t c = s->cursor;
    pthread_mutex_unlock(&s->mu);
    return c;
}
