/*
 * test_crash_hintq.c - power-loss loop over a peer's hint queue
 * (sharding/hintq.h).
 *
 * Each iteration forks a child that arms the crash simulation to cut the
 * power at sync #K (K drawn over the syncs a full run makes, plus a margin
 * so some runs end cleanly; every fourth run right after write #K instead)
 * and drives one queue with small files (rolls and drained-file deletions
 * every few records) through a workload drawn from the seed: appends of
 * records of varied sizes (some larger than a file), peeks, acknowledgements,
 * syncs, trims, expiry by age, cursor saves, and closes with a reopen
 * (recovery inside the run). Half the runs also bound the queue's bytes, so
 * appends drop head records. One run in sixteen sleeps past the cursor's
 * save interval once and then acknowledges everything, so the cursor is
 * written in the middle of the run (in interval mode possibly past records
 * that are not yet durable); three in four of those lose power right then.
 *
 * Every record carries its number (1, 2, ...) and a payload, size, point
 * count and time that follow from that number, so anything read back can
 * be checked byte for byte. The child keeps a model of the queue (the head:
 * the first record neither acknowledged nor dropped, and the next number),
 * checks every peek and the queue's counters against it while it runs, and
 * reports through a pipe: each append started, the records known durable
 * (sync: when append returns; interval: when ne_hintq_sync or close
 * returns), the head each call leaves when it completes (sent before the
 * call, so a crash inside it counts its acknowledgements and drops), and
 * each completed cursor save (seen as the fdatasync of "cursor.tmp" and
 * then the fsync of the queue's directory) with the head it recorded.
 *
 * What the queue promises, and what the parent checks after reopening with
 * the simulation off:
 *   - reopening never fails, and no record is delivered torn or corrupt:
 *     every record read back is one that was appended, byte for byte, and
 *     none is dropped as corrupt while draining;
 *   - order: the records read back are consecutive numbers (no gap, no
 *     duplicate, no reordering);
 *   - no loss: every durable record at or after the head of the crash is
 *     there;
 *   - at-least-once, bounded: a record acknowledged (or dropped by a bound)
 *     before the crash comes back only if it is at or after the head of the
 *     last completed cursor save (the cursor is saved at most once a second,
 *     at close, and at open when recovery moved it; a stale one resends,
 *     never skips);
 *   - nothing that was never appended appears (no record past the last
 *     append started);
 *   - the counters (records, points, bytes, oldest, files) match what is
 *     read back, and the files on disk hold no more than the queued bytes
 *     plus one file's worth of acknowledged bytes, their headers, and the
 *     one record that may overflow a file;
 *   - the recovered queue goes on working: records appended after the
 *     drain, a close and a reopen come back exactly (a cursor left behind
 *     by the recovery would cut them off);
 *   - the offline check `neoedge verify` runs on each queue
 *     (ne_hintq_verify_dir) finds it healthy right after the recovery and
 *     after the last close.
 * Usage: test_crash_hintq sync|interval. NEOEDGE_CRASH_ITERATIONS (default
 * 100; 5,000 or more for a soak), NEOEDGE_CRASH_SEED (printed) reproduces a
 * run, NEOEDGE_CRASH_KEEP_GOING=1 counts failures instead of stopping at the
 * first, NEOEDGE_CRASH_KEEP_DIR=1 keeps a failing directory and
 * NEOEDGE_CRASH_VERBOSE=1 shows the queue's log.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>

#include "crash_util.h"
#include "t.h"

#include "ports/err.h"
#include "ports/log.h"
#include "sharding/hintq.h"

#define NOPS       160  /* workload steps per run */
#define FILE_BYTES 1024 /* queue file size: rolls every few records */
#define MAX_BYTES  6144 /* byte bound of the bounded runs */
#define STEP       1000 /* record time stride (ns) */
#define MAX_AGE    (40 * STEP)
#define T0         1700000000000000000LL
#define BIG_LEN    1100 /* payload of the records that overflow a file */

static const char *g_mode;
static bool g_sync_mode;
static char g_dir[256];

/* ---- records: everything follows from the number ------------------------------ */

static uint64_t hash64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    return x ^ (x >> 33);
}

static uint32_t len_of(uint64_t id)
{
    uint64_t h = hash64(id);
    return h % 19 == 0 ? BIG_LEN + (uint32_t)(h >> 20) % 64 : 8 + (uint32_t)(h >> 8) % 200;
}

static uint32_t pts_of(uint64_t id)
{
    return 1 + (uint32_t)(id % 7);
}

static int64_t time_of(uint64_t id)
{
    return T0 + (int64_t)id * STEP;
}

static uint64_t rec_bytes(uint64_t id)
{
    return NE_HINTQ_REC_HDR + (uint64_t)len_of(id);
}

/* The payload: the number (8 bytes, little endian), then bytes of a hash. */
static void payload_of(uint64_t id, uint8_t *out)
{
    uint32_t n = len_of(id);
    uint64_t h = hash64(id ^ 0x5bd1e995);
    for (uint32_t k = 0; k < n; k++) {
        if (k % 8 == 0) h = hash64(h + k);
        out[k] = (uint8_t)(h >> (8 * (k % 8)));
    }
    for (int k = 0; k < 8; k++)
        out[k] = (uint8_t)(id >> (8 * k));
}

/* Checks record k of b is record `id`, byte for byte. */
static bool rec_ok(const struct ne_hintq_batch *b, size_t k, uint64_t id, char *why, size_t wn)
{
    static uint8_t want[BIG_LEN + 64];
    const struct ne_hintq_rec *r = &b->recs[k];
    if (r->len != len_of(id) || r->points != pts_of(id) || r->time != time_of(id)) {
        snprintf(why, wn, "record %" PRIu64 " read back with len %u points %u time %" PRId64, id,
                 r->len, r->points, r->time);
        return false;
    }
    payload_of(id, want);
    if (memcmp(b->buf.p + r->at, want, r->len) != 0) {
        snprintf(why, wn, "record %" PRIu64 " read back with a different payload", id);
        return false;
    }
    return true;
}

/* The number a record says it is (0 when it is too short to say). */
static uint64_t id_in(const struct ne_hintq_batch *b, size_t k)
{
    const struct ne_hintq_rec *r = &b->recs[k];
    if (r->len < 8) return 0;
    uint64_t id = 0;
    for (int i = 7; i >= 0; i--)
        id = id << 8 | (uint8_t)b->buf.p[r->at + (size_t)i];
    return id;
}

/* Totals of the records [from, to). */
struct span {
    uint64_t records, points, bytes;
};

static struct span span_of(uint64_t from, uint64_t to)
{
    struct span s = {0};
    for (uint64_t id = from; id < to; id++) {
        s.records++;
        s.points += pts_of(id);
        s.bytes += rec_bytes(id);
    }
    return s;
}

static void queue_opts(struct ne_hintq_opts *o, bool bounded)
{
    *o = (struct ne_hintq_opts){.dir = g_dir,
                                .name = "peer-crash",
                                .file_bytes = FILE_BYTES,
                                .max_bytes = bounded ? MAX_BYTES : 0,
                                .max_age_ns = MAX_AGE,
                                .sync = g_sync_mode};
}

/* ---- the workload ---------------------------------------------------------------- */

enum op { OP_APPEND, OP_ACK, OP_PEEK, OP_SYNC, OP_TRIM, OP_EXPIRE, OP_SAVE, OP_REOPEN, OP_ACK_ALL };

struct plan {
    bool bounded;
    int sleep_at;         /* step before which the run sleeps past the cursor save interval; -1 */
    bool cut_after_sleep; /* the power goes right after that step */
    enum op ops[NOPS];
    uint32_t arg[NOPS];
};

static void make_plan(uint64_t seed, struct plan *p)
{
    uint64_t r = seed ^ 0x9e3779b97f4a7c15ULL;
    p->bounded = cu_rnd(&r) % 2 == 0;
    p->sleep_at = cu_rnd(&r) % 16 == 0 ? 20 + (int)(cu_rnd(&r) % (NOPS - 40)) : -1;
    p->cut_after_sleep = cu_rnd(&r) % 4 != 0;
    for (int i = 0; i < NOPS; i++) {
        unsigned k = (unsigned)(cu_rnd(&r) % 100);
        p->ops[i] = k < 58   ? OP_APPEND
                    : k < 72 ? OP_ACK
                    : k < 77 ? OP_PEEK
                    : k < 83 ? OP_SYNC
                    : k < 87 ? OP_TRIM
                    : k < 90 ? OP_EXPIRE
                    : k < 95 ? OP_SAVE
                             : OP_REOPEN;
        p->arg[i] = (uint32_t)cu_rnd(&r);
    }
    if (p->sleep_at >= 0) p->ops[p->sleep_at] = OP_ACK_ALL;
}

/* ---- the child -------------------------------------------------------------------- */

static int g_pipe = -1;

/* A cursor save is complete when the temp file was synced and then the
 * directory: the rename in between is durable. */
static bool g_tmp_synced, g_cursor_saved;

static void on_synced(void *ctx, enum ne_crashsim_sync_kind kind, const char *path, uint64_t at)
{
    (void)ctx;
    (void)at;
    if (kind == NE_CRASHSIM_SYNC_FILE) {
        g_tmp_synced = cu_ends_with(path, "/cursor.tmp");
    } else if (g_tmp_synced && strcmp(path, g_dir) == 0) {
        g_tmp_synced = false;
        g_cursor_saved = true;
    }
}

static const char *site_of(const char *path)
{
    if (cu_ends_with(path, "/cursor.tmp")) return "cursor";
    if (cu_ends_with(path, ".hq")) return "hint-file";
    return "hint-dir";
}

/* Phases reported with the crash, for the coverage table. */
enum { PH_OPEN = 0, PH_APPEND, PH_ACK, PH_SYNC, PH_BOUND, PH_SAVE, PH_CLOSE, PH_REOPEN, PH__N };
static const char *const phase_names[PH__N] = {"open",        "append", "ack",   "sync",
                                               "trim/expire", "save",   "close", "reopen"};
static int g_phase;

static void on_crash(void *ctx, const struct ne_crashsim_report *r)
{
    (void)ctx;
    cu_say_cut(g_pipe, site_of(r->path), g_phase, r);
}

/* The child's model of the queue: records [head, next) are queued. */
struct model {
    uint64_t head, next;
    bool bounded;
};

static int child_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int child_fail(const char *fmt, ...)
{
    char line[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    cu_say(g_pipe, "E %s\n", line);
    return 70;
}

static int check_counters(struct ne_hintq *q, const struct model *m, const char *after)
{
    struct ne_hintq_stats st;
    ne_hintq_stats(q, &st);
    struct span s = span_of(m->head, m->next);
    int64_t oldest = m->head < m->next ? time_of(m->head) : 0;
    if (st.records != s.records || st.points != s.points || st.bytes != s.bytes ||
        st.oldest != oldest || st.dropped_corrupt != 0)
        return child_fail("after %s: counters records %" PRIu64 " points %" PRIu64 " bytes %" PRIu64
                          " oldest %" PRId64 " corrupt %" PRIu64 ", model %" PRIu64 "/%" PRIu64
                          "/%" PRIu64 "/%" PRId64,
                          after, st.records, st.points, st.bytes, st.oldest, st.dropped_corrupt,
                          s.records, s.points, s.bytes, oldest);
    return 0;
}

/* Peeks and checks the batch is the model's head records. */
static int peek_check(struct ne_hintq *q, const struct model *m, size_t max,
                      struct ne_hintq_batch *b)
{
    int rc = ne_hintq_peek(q, max, b);
    if (rc) return child_fail("peek: %s", ne_strerror(rc));
    if ((b->n == 0) != (m->head == m->next))
        return child_fail("peek gave %zu records, model holds %" PRIu64, b->n, m->next - m->head);
    char why[200];
    for (size_t k = 0; k < b->n; k++) {
        if (m->head + k >= m->next) return child_fail("peek gave records never appended");
        if (!rec_ok(b, k, m->head + k, why, sizeof why)) return child_fail("peek: %s", why);
    }
    return 0;
}

/* The head after dropping head records while keep(head) says no. */
static uint64_t head_after_bytes(const struct model *m, uint64_t bound, uint64_t need)
{
    uint64_t h = m->head, bytes = span_of(m->head, m->next).bytes;
    while (h < m->next && bytes + need > bound) {
        bytes -= rec_bytes(h);
        h++;
    }
    return h;
}

static uint64_t head_after_age(const struct model *m, int64_t now)
{
    uint64_t h = m->head;
    while (h < m->next && time_of(h) < now - MAX_AGE)
        h++;
    return h;
}

/* Reports the head the next call leaves when it completes. */
static void will_leave(uint64_t head)
{
    cu_say(g_pipe, "H %" PRIu64 "\n", head);
}

/* After a call returned: reports a cursor save it completed. */
static void saved_check(const struct model *m)
{
    if (g_cursor_saved) cu_say(g_pipe, "F %" PRIu64 "\n", m->head);
    g_cursor_saved = false;
}

static int step_append(struct ne_hintq *q, struct model *m)
{
    static uint8_t buf[BIG_LEN + 64];
    uint64_t id = m->next;
    uint64_t h = m->bounded ? head_after_bytes(m, MAX_BYTES, rec_bytes(id)) : m->head;
    will_leave(h);
    cu_say(g_pipe, "N %" PRIu64 "\n", id);
    payload_of(id, buf);
    g_phase = PH_APPEND;
    int rc = ne_hintq_append(q, time_of(id), pts_of(id), buf, len_of(id));
    if (rc) return child_fail("append %" PRIu64 ": %s", id, ne_strerror(rc));
    m->head = h;
    m->next = id + 1;
    if (g_sync_mode) cu_say(g_pipe, "D %" PRIu64 "\n", id);
    return 0;
}

static int step_ack(struct ne_hintq *q, struct model *m, size_t max, struct ne_hintq_batch *b)
{
    int rc = peek_check(q, m, max, b);
    if (rc) return rc;
    will_leave(m->head + b->n);
    g_phase = PH_ACK;
    rc = ne_hintq_ack(q, b);
    m->head += b->n;
    saved_check(m);
    return rc ? child_fail("ack: %s", ne_strerror(rc)) : 0;
}

static int step_reopen(struct ne_hintq **q, struct model *m)
{
    struct ne_hintq_opts o;
    queue_opts(&o, m->bounded);
    g_phase = PH_CLOSE;
    ne_hintq_close(q);
    cu_say(g_pipe, "D %" PRIu64 "\n", m->next - 1);
    saved_check(m);
    g_phase = PH_REOPEN;
    int rc = ne_hintq_open(&o, q);
    saved_check(m);
    return rc ? child_fail("reopen: %s", ne_strerror(rc)) : 0;
}

/* After a trim or an expiry (what) that dropped pts points: they must be
 * the records before h; the model's head moves to h. Returns 0 or the
 * child's failure status. */
static int dropped_to(struct model *m, uint64_t h, uint64_t pts, const char *what)
{
    uint64_t want = span_of(m->head, h).points;
    if (pts != want)
        return child_fail("%s dropped %" PRIu64 " points, model %" PRIu64, what, pts, want);
    m->head = h;
    return 0;
}

static int step(struct ne_hintq **qp, struct model *m, enum op op, uint32_t arg,
                struct ne_hintq_batch *b)
{
    struct ne_hintq *q = *qp;
    int rc = 0;
    switch (op) {
    case OP_APPEND:
        return step_append(q, m);
    case OP_ACK:
        return step_ack(q, m, 1 + arg % 1500, b);
    case OP_ACK_ALL:
        return step_ack(q, m, SIZE_MAX, b);
    case OP_PEEK:
        return peek_check(q, m, 1 + arg % 3000, b);
    case OP_SYNC:
        g_phase = PH_SYNC;
        if ((rc = ne_hintq_sync(q)) != 0) return child_fail("sync: %s", ne_strerror(rc));
        if (m->next > 1) cu_say(g_pipe, "D %" PRIu64 "\n", m->next - 1);
        return 0;
    case OP_TRIM: {
        uint64_t bytes = span_of(m->head, m->next).bytes;
        uint64_t bound = bytes ? arg % (bytes + 1) : 0;
        uint64_t h = head_after_bytes(m, bound, 0);
        will_leave(h);
        g_phase = PH_BOUND;
        return dropped_to(m, h, ne_hintq_trim(q, bound), "trim");
    }
    case OP_EXPIRE: {
        int64_t now = time_of(m->next);
        uint64_t h = head_after_age(m, now);
        will_leave(h);
        g_phase = PH_BOUND;
        return dropped_to(m, h, ne_hintq_expire(q, now), "expire");
    }
    case OP_SAVE:
        g_phase = PH_SAVE;
        rc = ne_hintq_save_cursor(q);
        saved_check(m);
        return rc ? child_fail("save cursor: %s", ne_strerror(rc)) : 0;
    case OP_REOPEN:
        return step_reopen(qp, m);
    }
    return 0;
}

struct child_args {
    uint64_t seed;
    uint64_t crash_at;       /* sync number; 0: none */
    uint64_t crash_at_write; /* write number; 0: none */
};

static int child_main(void *arg)
{
    const struct child_args *a = arg;
    struct plan p;
    make_plan(a->seed, &p);
    struct ne_crashsim_opts co = {.seed = a->seed,
                                  .crash_at_sync = a->crash_at,
                                  .crash_at_write = a->crash_at_write,
                                  .on_synced = on_synced,
                                  .on_crash = on_crash};
    if (ne_crashsim_arm(&co)) return 80;
    struct ne_hintq_opts o;
    queue_opts(&o, p.bounded);
    struct ne_hintq *q = NULL;
    g_phase = PH_OPEN;
    int rc = ne_hintq_open(&o, &q);
    if (rc) return child_fail("open: %s", ne_strerror(rc));
    struct model m = {.head = 1, .next = 1, .bounded = p.bounded};
    saved_check(&m); /* a new queue saves its cursor */
    struct ne_hintq_batch b = {0};
    static const char *const op_names[] = {"append", "ack",  "peek",   "sync",   "trim",
                                           "expire", "save", "reopen", "ack all"};
    for (int i = 0; i < NOPS && rc == 0; i++) {
        if (i == p.sleep_at) ne_time_sleep_ns(1050 * 1000000LL); /* the next ack saves */
        rc = step(&q, &m, p.ops[i], p.arg[i], &b);
        if (rc == 0) rc = check_counters(q, &m, op_names[p.ops[i]]);
        if (rc == 0 && i == p.sleep_at && p.cut_after_sleep && (a->crash_at || a->crash_at_write))
            ne_crashsim_crash_now();
    }
    g_phase = PH_CLOSE;
    ne_hintq_batch_free(&b);
    ne_hintq_close(&q);
    if (rc == 0 && m.next > 1) cu_say(g_pipe, "D %" PRIu64 "\n", m.next - 1);
    saved_check(&m);
    struct ne_crashsim_stats st;
    ne_crashsim_stats(&st);
    cu_say(g_pipe, "END %" PRIu64 " %" PRIu64 "\n", st.syncs, st.writes);
    ne_crashsim_disarm();
    return rc;
}

/* ---- the parent ---------------------------------------------------------------------- */

struct outcome {
    int status;
    uint64_t started; /* last append started (0: none) */
    uint64_t durable; /* every record up to this one was durable */
    uint64_t head;    /* the head the last call started would leave */
    uint64_t floor;   /* the head of the last completed cursor save */
    struct cu_report rep;
};

static void parse_line(void *ctx, const char *line)
{
    struct outcome *out = ctx;
    uint64_t v;
    if (sscanf(line, "N %" SCNu64, &v) == 1) {
        out->started = v;
    } else if (sscanf(line, "D %" SCNu64, &v) == 1) {
        if (v > out->durable) out->durable = v;
    } else if (sscanf(line, "H %" SCNu64, &v) == 1) {
        out->head = v;
    } else if (sscanf(line, "F %" SCNu64, &v) == 1) {
        out->floor = v;
    } else {
        cu_parse_report(&out->rep, line);
    }
}

/* Runs one child and collects what it reported. */
static void run_child(struct child_args *a, struct outcome *out)
{
    memset(out, 0, sizeof *out);
    out->head = out->floor = 1;
    out->status = cu_run_child_lines(child_main, a, &g_pipe, parse_line, out);
}

/* The segment files of the queue directory. */
struct disk {
    uint64_t files, bytes, others;
    char other[64];
};

static int disk_one(void *ctx, const char *name, bool is_dir)
{
    struct disk *d = ctx;
    size_t n = strlen(name);
    if (!is_dir && n == 19 && strcmp(name + 16, ".hq") == 0) {
        char path[400];
        uint64_t size = 0;
        snprintf(path, sizeof path, "%s/%s", g_dir, name);
        if (ne_fs_file_size(path, &size) != 0) return NE_EIO;
        d->files++;
        d->bytes += size;
    } else if (is_dir || (strcmp(name, "cursor") != 0 && strcmp(name, "cursor.tmp") != 0)) {
        if (!d->others++) snprintf(d->other, sizeof d->other, "%s", name);
    }
    return 0;
}

/* The counters against the records delivered [first, end). */
static bool check_counters_of(const struct ne_hintq_stats *st, uint64_t first, uint64_t end,
                              char *why, size_t wn)
{
    struct span s = span_of(first, end);
    int64_t oldest = first < end ? time_of(first) : 0;
    if (st->records != s.records || st->points != s.points || st->bytes != s.bytes ||
        st->oldest != oldest) {
        snprintf(
            why, wn,
            "counters say %" PRIu64 " records %" PRIu64 " points %" PRIu64 " bytes oldest %" PRId64
            "; the queue holds %" PRIu64 "/%" PRIu64 "/%" PRIu64 "/%" PRId64,
            st->records, st->points, st->bytes, st->oldest, s.records, s.points, s.bytes, oldest);
        return false;
    }
    return true;
}

/* The files on disk against the counters: nothing unexpected, bounded. */
static bool check_disk(const struct ne_hintq_stats *st, char *why, size_t wn)
{
    struct disk d = {0};
    if (ne_fs_list_dir(g_dir, disk_one, &d) != 0) {
        snprintf(why, wn, "cannot list the queue directory");
        return false;
    }
    /* a file rolls past FILE_BYTES, or holds one record larger than that */
    uint64_t max_file = NE_HINTQ_FILE_HDR + NE_HINTQ_REC_HDR + BIG_LEN + 64;
    uint64_t bound = st->bytes + d.files * NE_HINTQ_FILE_HDR + max_file;
    if (d.others || d.files != st->files || d.bytes > bound) {
        snprintf(why, wn,
                 "disk: %" PRIu64 " files (counter %" PRIu64 "), %" PRIu64 " bytes (bound %" PRIu64
                 "), %" PRIu64 " unexpected entries (%s)",
                 d.files, st->files, d.bytes, bound, d.others, d.others ? d.other : "-");
        return false;
    }
    return true;
}

/* Reads the whole queue from the head, acknowledging as it goes. On return
 * [*first, *end) are the records delivered (consecutive, checked). */
static bool drain(struct ne_hintq *q, uint64_t seed, uint64_t max_id, uint64_t *first,
                  uint64_t *end, char *why, size_t wn)
{
    struct ne_hintq_batch b = {0};
    uint64_t r = seed;
    *first = *end = 0;
    bool ok = true;
    for (;;) {
        int rc = ne_hintq_peek(q, 1 + cu_rnd(&r) % 2500, &b);
        if (rc) {
            snprintf(why, wn, "peek: %s", ne_strerror(rc));
            ok = false;
            break;
        }
        if (b.n == 0) break;
        for (size_t k = 0; k < b.n && ok; k++) {
            uint64_t id = id_in(&b, k);
            if (id == 0 || id > max_id) {
                snprintf(why, wn,
                         "a record that was never appended (says %" PRIu64 ", last started %" PRIu64
                         ")",
                         id, max_id);
                ok = false;
            } else if (*end && id != *end) {
                snprintf(why, wn, "record %" PRIu64 " follows record %" PRIu64, id, *end - 1);
                ok = false;
            } else {
                ok = rec_ok(&b, k, id, why, wn);
                if (!*end) *first = id;
                *end = id + 1;
            }
        }
        if (!ok) break;
        if ((rc = ne_hintq_ack(q, &b)) != 0) {
            snprintf(why, wn, "ack: %s", ne_strerror(rc));
            ok = false;
            break;
        }
    }
    ne_hintq_batch_free(&b);
    return ok;
}

/* Totals over the run, printed at the end. */
static struct {
    long iterations, crashes, clean, resent, lost_in_window, cursor_saves;
    long by_phase[PH__N];
    long by_site[3];
    uint64_t sectors_kept, sectors_lost, dir_undone, trunc_undone, truncated_bytes;
} g_tot;
static const char *const site_names[3] = {"hint-file", "hint-dir", "cursor"};

static void tally(const struct outcome *o)
{
    g_tot.iterations++;
    g_tot.cursor_saves += o->floor > 1;
    if (!o->rep.crashed) {
        g_tot.clean++;
        return;
    }
    g_tot.crashes++;
    if (o->rep.phase >= 0 && o->rep.phase < PH__N) g_tot.by_phase[o->rep.phase]++;
    for (int k = 0; k < 3; k++)
        if (strcmp(site_names[k], o->rep.site) == 0) g_tot.by_site[k]++;
    g_tot.sectors_kept += o->rep.kept;
    g_tot.sectors_lost += o->rep.lost;
    g_tot.dir_undone += o->rep.dir_undone;
    g_tot.trunc_undone += o->rep.trunc_undone;
}

/* What came back against what was promised. */
static bool check_promises(const struct outcome *o, uint64_t first, uint64_t end, char *why,
                           size_t wn)
{
    bool empty = end == 0;
    /* every durable record at or after the head must be there */
    if (o->head <= o->durable && (empty || first > o->head || end <= o->durable)) {
        snprintf(why, wn,
                 "durable records lost: [%" PRIu64 ", %" PRIu64 "] were owed, [%" PRIu64
                 ", %" PRIu64 ") came back",
                 o->head, o->durable, first, end);
        return false;
    }
    /* acknowledged records come back only from the last saved cursor on */
    if (!empty && first < o->floor) {
        snprintf(why, wn,
                 "record %" PRIu64
                 " came back though the last completed cursor save was at %" PRIu64,
                 first, o->floor);
        return false;
    }
    if (!empty && first < o->head) g_tot.resent += (long)(o->head - first);
    /* what is missing past the head was never durable (checked above) */
    uint64_t have = empty || end - 1 < o->head - 1 ? o->head - 1 : end - 1;
    if (o->started > have) g_tot.lost_in_window += (long)(o->started - have);
    return true;
}

/* ne_hintq_verify_dir (what `neoedge verify` runs on each queue): true when
 * healthy, else why gets its report. */
static bool verify_ok(const char *when, char *why, size_t wn)
{
    char *rep = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&rep, &n);
    int rc = f ? ne_hintq_verify_dir(g_dir, f) : NE_ENOMEM;
    if (f) fclose(f);
    if (rc != 0)
        snprintf(why, wn, "verify %s: %s\n%.*s", when, ne_strerror(rc), (int)(n > 1000 ? 1000 : n),
                 rep ? rep : "");
    free(rep);
    return rc == 0;
}

/* Reopens, drains, checks; then appends after the recovery and reads back. */
static int check_after(const struct plan *p, const struct outcome *o, uint64_t seed, char *why,
                       size_t wn)
{
    struct ne_hintq_opts qo;
    queue_opts(&qo, p->bounded);
    struct ne_hintq *q = NULL;
    int rc = ne_hintq_open(&qo, &q);
    if (rc) {
        snprintf(why, wn, "reopen failed: %s", ne_strerror(rc));
        return 1;
    }
    struct ne_hintq_stats st;
    ne_hintq_stats(q, &st);
    g_tot.truncated_bytes += st.truncated;
    struct ne_hintq_stats before = st;
    uint64_t first = 0, end = 0;
    bool ok = verify_ok("after the recovery", why, wn) && check_disk(&st, why, wn);
    if (ok) ok = drain(q, seed, o->started, &first, &end, why, wn);
    if (ok) ok = check_counters_of(&before, first, end ? end : first, why, wn);
    ne_hintq_stats(q, &st);
    if (ok && st.dropped_corrupt) {
        snprintf(why, wn, "%" PRIu64 " points dropped as corrupt while draining",
                 st.dropped_corrupt);
        ok = false;
    }
    if (ok) ok = check_counters_of(&st, 0, 0, why, wn) && check_disk(&st, why, wn);
    if (ok) ok = check_promises(o, first, end, why, wn);
    /* the recovered queue goes on: append, close, reopen, read back */
    static uint8_t buf[BIG_LEN + 64];
    uint64_t next = o->started + 1;
    for (uint64_t id = next; ok && id < next + 6; id++) {
        payload_of(id, buf);
        if ((rc = ne_hintq_append(q, time_of(id), pts_of(id), buf, len_of(id))) != 0) {
            snprintf(why, wn, "append after recovery: %s", ne_strerror(rc));
            ok = false;
        }
    }
    ne_hintq_close(&q);
    if (ok && (rc = ne_hintq_open(&qo, &q)) != 0) {
        snprintf(why, wn, "second reopen failed: %s", ne_strerror(rc));
        ok = false;
    }
    if (ok) {
        ok = drain(q, seed + 1, next + 5, &first, &end, why, wn);
        if (ok && (first != next || end != next + 6)) {
            snprintf(why, wn,
                     "after recovery, appended [%" PRIu64 ", %" PRIu64 "), read back [%" PRIu64
                     ", %" PRIu64 ")",
                     next, next + 6, first, end);
            ok = false;
        }
    }
    ne_hintq_close(&q);
    if (ok) ok = verify_ok("after the last close", why, wn);
    return ok ? 0 : 1;
}

static void print_totals(uint64_t clean_syncs, uint64_t clean_writes)
{
    fprintf(
        stderr,
        "crash_hintq %s: %ld iterations, %ld power cuts, %ld clean ends; a clean run makes %" PRIu64
        " syncs and %" PRIu64 " writes\n  crash phase:",
        g_mode, g_tot.iterations, g_tot.crashes, g_tot.clean, clean_syncs, clean_writes);
    for (int k = 0; k < PH__N; k++)
        fprintf(stderr, " %s=%ld", phase_names[k], g_tot.by_phase[k]);
    fprintf(stderr, "\n  crash site:");
    for (int k = 0; k < 3; k++)
        fprintf(stderr, " %s=%ld", site_names[k], g_tot.by_site[k]);
    fprintf(stderr,
            "\n  unsynced sectors kept=%" PRIu64 " lost/garbled/torn=%" PRIu64
            ", dir ops undone=%" PRIu64 ", truncates undone=%" PRIu64
            ", torn tail bytes cut=%" PRIu64 "\n  runs with a cursor save=%ld, acknowledged records"
            " resent=%ld, unsynced records lost=%ld\n",
            g_tot.sectors_kept, g_tot.sectors_lost, g_tot.dir_undone, g_tot.trunc_undone,
            g_tot.truncated_bytes, g_tot.cursor_saves, g_tot.resent, g_tot.lost_in_window);
}

static void test_power_loss_loop(void)
{
    uint64_t seed = cu_seed();
    long iters = cu_iterations(100);
    fprintf(stderr,
            "crash_hintq %s: seed %" PRIu64 " (NEOEDGE_CRASH_SEED=%" PRIu64 "), %ld iterations\n",
            g_mode, seed, seed, iters);
    /* a clean run tells how many syncs a full workload makes */
    T_CHECK(cu_mkdtemp(g_dir, sizeof g_dir, "crash-hintq") == 0);
    struct outcome o;
    struct child_args a = {.seed = cu_mix(seed, -1)};
    run_child(&a, &o);
    ne_fs_remove_tree(g_dir);
    if (o.status != 0) T_FAIL_("clean run exited %d: %s", o.status, o.rep.errors);
    T_CHECK(o.rep.end_syncs > 10);
    uint64_t clean_syncs = o.rep.end_syncs, clean_writes = o.rep.end_writes;
    long nbad = 0;
    for (long it = 0; it < iters; it++) {
        uint64_t is = cu_mix(seed, it);
        a = (struct child_args){.seed = is};
        cu_cut_point(is, it, clean_syncs, clean_writes, &a.crash_at, &a.crash_at_write);
        struct plan p;
        make_plan(is, &p);
        T_CHECK(cu_mkdtemp(g_dir, sizeof g_dir, "crash-hintq") == 0);
        run_child(&a, &o);
        char why[1600] = "";
        int bad = 0;
        if (o.status != 0 && o.status != NE_CRASHSIM_EXIT) {
            snprintf(why, sizeof why, "child exited %d: %s", o.status, o.rep.errors);
            bad = 1;
        } else {
            bad = check_after(&p, &o, is, why, sizeof why);
        }
        tally(&o);
        if (bad) {
            fprintf(
                stderr,
                "FAIL iteration %ld (mode %s, run seed %" PRIu64 ", crash at sync %" PRIu64
                " / write %" PRIu64 ", site %s, phase %s; started %" PRIu64 " durable %" PRIu64
                " head %" PRIu64 " saved head %" PRIu64 "): %s\n  dir %s %s\n",
                it, g_mode, seed, a.crash_at, a.crash_at_write, o.rep.crashed ? o.rep.site : "-",
                o.rep.crashed ? phase_names[o.rep.phase] : "-", o.started, o.durable, o.head,
                o.floor, why, g_dir,
                getenv("NEOEDGE_CRASH_KEEP_DIR") ? "kept"
                                                 : "removed (NEOEDGE_CRASH_KEEP_DIR=1 keeps it)");
            if (!getenv("NEOEDGE_CRASH_KEEP_DIR")) ne_fs_remove_tree(g_dir);
            if (!getenv("NEOEDGE_CRASH_KEEP_GOING")) {
                print_totals(clean_syncs, clean_writes);
                T_FAIL_("power-loss check failed (NEOEDGE_CRASH_SEED=%" PRIu64 ")", seed);
            }
            nbad++;
            continue;
        }
        ne_fs_remove_tree(g_dir);
    }
    print_totals(clean_syncs, clean_writes);
    T_CHECK(g_tot.crashes > 0);
    if (nbad) T_FAIL_("%ld iterations failed (NEOEDGE_CRASH_SEED=%" PRIu64 ")", nbad, seed);
}

int main(int argc, char **argv)
{
    g_mode = argc > 1 ? argv[1] : "sync";
    if (strcmp(g_mode, "sync") != 0 && strcmp(g_mode, "interval") != 0) {
        fprintf(stderr, "usage: %s sync|interval\n", argv[0]);
        return 2;
    }
    g_sync_mode = strcmp(g_mode, "sync") == 0;
    ne_log_set_level(getenv("NEOEDGE_CRASH_VERBOSE") ? NE_LOG_INFO : NE_LOG_OFF);
    T_RUN(test_power_loss_loop);
    return t_done();
}
