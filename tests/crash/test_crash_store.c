/*
 * test_crash_store.c - power-loss loop over the whole store.
 *
 * Each iteration forks a child that arms the crash simulation to cut the
 * power at sync #K (K drawn from the seed over the syncs a full run makes,
 * plus a margin so some runs end cleanly; every fourth run right after
 * write #K instead), opens a store and runs a workload
 * that touches every durable structure: WAL appends (group commit / the
 * interval syncer), new series (series.log), flushes (segment publish and
 * CHECKPOINT), a close and reopen (recovery), compaction (ne_store_compact)
 * and retention by age (batches timestamped hours in the past, isolated in
 * their own segments, evicted by the compaction call). The child reports
 * through a pipe every acknowledged batch with the simulation's logical
 * clock at the acknowledgement, and every successful WAL fdatasync with the
 * clock at its start.
 *
 * The parent then reopens the store (simulation off) and checks:
 *   - every point read back is one that was written, with its series and
 *     values (no phantom or garbled point), and each batch is all or nothing;
 *   - sync: every acknowledged batch is present;
 *     interval: every acknowledged batch is present unless it was
 *     acknowledged after the start of the last WAL fdatasync that completed
 *     before the crash (the loss window: "since the last successful
 *     fdatasync", measured on the simulation's clock, never on wall time);
 *   - after closing it, ne_store_verify_dir reports a healthy directory: a
 *     WAL tail torn by the power cut (even with a lost sector before a
 *     record that survived) is cut at recovery, never quarantined.
 * Usage: test_crash_store sync|interval. NEOEDGE_CRASH_ITERATIONS (default
 * 100 per mode; 5,000 or more for a soak), NEOEDGE_CRASH_SEED (printed) reproduce a run
 * (thread timing still varies: a seed fixes the choices, not the schedule).
 * NEOEDGE_CRASH_KEEP_GOING=1 counts failures instead of stopping at the
 * first, NEOEDGE_CRASH_KEEP_DIR=1 keeps a failing directory,
 * and NEOEDGE_CRASH_VERBOSE=1 shows the store's log.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "crash_util.h"
#include "t.h"

#include "ports/log.h"
#include "store/store.h"

#define NB 48        /* batches per run */
#define PTS 16       /* points per batch */
#define NMEAS 3
#define STEP 1000    /* timestamp stride between batches (ns) */
#define SEC 1000000000LL

static const char *g_mode;
static bool g_sync_mode;
static int64_t g_live_base, g_old_base; /* timestamps of live / expired batches */
static char g_dir[256];

/* ---- the deterministic workload ---------------------------------------------- */

struct plan {
    bool expired[NB];
};

static void make_plan(uint64_t seed, struct plan *p)
{
    uint64_t r = seed ^ 0x9e3779b97f4a7c15ULL;
    for (int i = 0; i < NB; i++)
        p->expired[i] = cu_rnd(&r) % 6 == 0;
}

static int meas_of(int i, int j)
{
    return (i + j) % NMEAS;
}

/* New series keep appearing as the run goes on (series index appends). */
static int dev_of(int i, int j)
{
    int span = 4 + i;
    return (i * 7 + j * 13) % span;
}

static int64_t ts_of(const struct plan *p, int i, int j)
{
    return (p->expired[i] ? g_old_base : g_live_base) + (int64_t)i * STEP + j;
}

static double fval_of(int i, int j)
{
    return i * 1000.0 + j + 0.25;
}

static void build_batch(const struct plan *p, int i, struct ne_batch *b)
{
    static char meas[NMEAS][8], devs[PTS][16];
    ne_batch_reset(b);
    for (int j = 0; j < PTS; j++) {
        snprintf(meas[meas_of(i, j)], sizeof meas[0], "m%d", meas_of(i, j));
        snprintf(devs[j], sizeof devs[j], "d%03d", dev_of(i, j));
        ne_batch_begin(b, ne_sv_c(meas[meas_of(i, j)]), ts_of(p, i, j));
        ne_batch_tag(b, NE_SV("dev"), ne_sv_c(devs[j]));
        ne_batch_field_f(b, NE_SV("v"), fval_of(i, j));
        ne_batch_field(b, NE_SV("n"), NE_V_INT, (union ne_value){.i = i * 1000 + j});
        ne_batch_end(b);
    }
}

static void store_opts(struct ne_store_opts *o)
{
    ne_store_opts_default(o);
    o->data_dir = g_dir;
    o->durability = g_sync_mode ? NE_STORE_SYNC : NE_STORE_INTERVAL;
    o->max_loss_ns = 2000000;
    o->memtable_bytes = 64u << 10;
    o->memtable_max_age_ns = 0;
    o->segment_target_bytes = 256u << 10;
    o->late_window_ns = 0;
    o->future_grace_ns = 3600 * SEC;
    o->retention_max_age_ns = 3600 * SEC;
}

/* ---- the child ------------------------------------------------------------------ */

static int g_pipe = -1;

static void on_synced(void *ctx, enum ne_crashsim_sync_kind kind, const char *path, uint64_t at)
{
    (void)ctx;
    if (kind == NE_CRASHSIM_SYNC_FILE && strstr(path, "/wal/"))
        cu_say(g_pipe, "W %" PRIu64 "\n", at);
}

/* Names the structure a sync belongs to, for the coverage table. */
static const char *site_of(const char *path)
{
    if (cu_ends_with(path, "/wal")) return "wal-dir";
    if (cu_ends_with(path, "/seg")) return "seg-dir";
    if (strstr(path, "/wal/")) return "wal-file";
    if (strstr(path, "/seg/")) return "segment";
    if (strstr(path, "series.log")) return "series-index";
    if (strstr(path, "CHECKPOINT")) return "checkpoint";
    return "store-dir";
}

static void on_crash(void *ctx, const struct ne_crashsim_report *r)
{
    /* the phase is set by the test's thread, the crash may hit another */
    const _Atomic int *phase = ctx;
    cu_say_cut(g_pipe, site_of(r->path), atomic_load_explicit(phase, memory_order_relaxed), r);
}

static int write_batch(struct ne_store *s, const struct plan *p, int i, struct ne_batch *b)
{
    struct ne_write_result res;
    build_batch(p, i, b);
    int rc;
    while ((rc = ne_store_write(s, "db", b, &res)) == NE_EBUSY)
        ne_time_sleep_ns(1000000);
    if (rc == 0 && res.accepted == PTS) {
        cu_say(g_pipe, "A %d %" PRIu64 "\n", i, ne_crashsim_clock());
        return 0;
    }
    cu_say(g_pipe, "E %d %d %u %s\n", i, rc, res.rejected, rc ? ne_strerror(rc) : res.first_error);
    return 1;
}

struct child_args {
    uint64_t seed;
    uint64_t crash_at;       /* sync number; 0: none */
    uint64_t crash_at_write; /* write number; 0: none */
};

/* Phases reported with the crash, for the coverage table. */
enum { PH_OPEN = 0, PH_WRITE, PH_FLUSH, PH_COMPACT, PH_CLOSE, PH_REOPEN, PH__N };
static const char *const phase_names[PH__N] = {"open", "write", "flush", "compact", "close",
                                               "reopen"};

static int child_main(void *arg)
{
    const struct child_args *a = arg;
    static _Atomic int phase;
    struct plan p;
    make_plan(a->seed, &p);
    struct ne_crashsim_opts co = {.seed = a->seed, .crash_at_sync = a->crash_at,
                                  .crash_at_write = a->crash_at_write,
                                  .on_synced = on_synced, .on_crash = on_crash, .ctx = &phase};
    if (ne_crashsim_arm(&co)) return 80;
    struct ne_store_opts o;
    store_opts(&o);
    struct ne_store *s = NULL;
    phase = PH_OPEN;
    if (ne_store_open(&o, &s)) return 81;
    struct ne_batch b;
    ne_batch_init(&b);
    int bad = 0;
    for (int i = 0; i < NB && !bad; i++) {
        if (p.expired[i]) { /* alone in its segment, so retention can drop it whole */
            phase = PH_FLUSH;
            if (ne_store_flush(s)) return 82;
        }
        phase = PH_WRITE;
        bad = write_batch(s, &p, i, &b);
        if (p.expired[i] || i % 7 == 6) {
            phase = PH_FLUSH;
            if (ne_store_flush(s)) return 82;
        }
        if (i % 12 == 11) {
            phase = PH_COMPACT;
            if (ne_store_compact(s)) return 83;
        }
        if (i == NB / 2) {
            phase = PH_CLOSE;
            ne_store_close(&s);
            phase = PH_REOPEN;
            if (ne_store_open(&o, &s)) return 84;
        }
    }
    phase = PH_CLOSE;
    ne_store_close(&s);
    ne_batch_free(&b);
    struct ne_crashsim_stats st;
    ne_crashsim_stats(&st);
    cu_say(g_pipe, "END %" PRIu64 " %" PRIu64 "\n", st.syncs, st.writes);
    ne_crashsim_disarm();
    return bad ? 85 : 0;
}

/* ---- the parent -------------------------------------------------------------------- */

struct outcome {
    int status;
    bool acked[NB];
    uint64_t ack_clock[NB];
    uint64_t last_wal_sync; /* start stamp of the last completed WAL sync */
    struct cu_report rep;
};

static void parse_line(void *ctx, const char *line)
{
    struct outcome *out = ctx;
    int i;
    uint64_t v;
    if (sscanf(line, "A %d %" SCNu64, &i, &v) == 2 && i >= 0 && i < NB) {
        out->acked[i] = true;
        out->ack_clock[i] = v;
    } else if (sscanf(line, "W %" SCNu64, &v) == 1) {
        if (v > out->last_wal_sync) out->last_wal_sync = v;
    } else {
        cu_parse_report(&out->rep, line);
    }
}

/* Runs one child and collects what it reported. */
static void run_child(struct child_args *a, struct outcome *out)
{
    memset(out, 0, sizeof *out);
    out->status = cu_run_child_lines(child_main, a, &g_pipe, parse_line, out);
}

/* What the reopened store holds, per batch and field. */
struct found {
    int v[NB], n[NB];
    int bad;
    char why[256];
};

struct scan_ctx {
    const struct plan *p;
    struct found *f;
    int meas;
};

static void bad_point(struct found *f, const char *what, int64_t ts)
{
    if (!f->bad++) snprintf(f->why, sizeof f->why, "%s (ts %" PRId64 ")", what, ts);
}

/* Maps a timestamp back to (batch, point); false if no batch wrote it. */
static bool decode_ts(const struct plan *p, int64_t ts, int *bi, int *pj)
{
    for (int k = 0; k < 2; k++) {
        int64_t base = k ? g_old_base : g_live_base;
        int64_t d = ts - base;
        if (d < 0 || d >= (int64_t)NB * STEP) continue;
        int i = (int)(d / STEP), j = (int)(d % STEP);
        if (j >= PTS || p->expired[i] != (k == 1)) return false;
        *bi = i;
        *pj = j;
        return true;
    }
    return false;
}

static int check_chunk(void *ctx, const struct ne_scan_chunk *c)
{
    struct scan_ctx *sc = ctx;
    bool is_v = strcmp(c->field, "v") == 0;
    if (!is_v && strcmp(c->field, "n") != 0) {
        bad_point(sc->f, "unknown field", c->n ? c->ts[0] : 0);
        return 0;
    }
    for (size_t k = 0; k < c->n; k++) {
        int i, j;
        if (!decode_ts(sc->p, c->ts[k], &i, &j)) {
            bad_point(sc->f, "timestamp no batch wrote", c->ts[k]);
            continue;
        }
        char dev[16];
        snprintf(dev, sizeof dev, "d%03d", dev_of(i, j));
        if (meas_of(i, j) != sc->meas || c->series->ntags != 1 ||
            strcmp(c->series->tags[0].val.p, dev) != 0) {
            bad_point(sc->f, "point in the wrong series", c->ts[k]);
            continue;
        }
        if (is_v ? (c->type != NE_V_FLOAT || c->v.f[k] != fval_of(i, j))
                 : (c->type != NE_V_INT || c->v.i[k] != i * 1000 + j)) {
            bad_point(sc->f, "wrong value", c->ts[k]);
            continue;
        }
        if (is_v)
            sc->f->v[i]++;
        else
            sc->f->n[i]++;
    }
    return 0;
}

static int scan_all(struct ne_store *s, const struct plan *p, struct found *f)
{
    memset(f, 0, sizeof *f);
    for (int m = 0; m < NMEAS; m++) {
        char meas[8];
        snprintf(meas, sizeof meas, "m%d", m);
        struct scan_ctx sc = {p, f, m};
        struct ne_store_scan_req q = {.db = "db", .measurement = meas, .t0 = INT64_MIN,
                                      .t1 = INT64_MAX};
        int rc = ne_store_scan(s, &q, check_chunk, &sc);
        if (rc && rc != NE_ENOTFOUND) return rc;
    }
    return 0;
}

/* Totals over the run, printed at the end. */
static struct {
    long iterations, crashes, clean, lost_acked_in_window, expired_evicted;
    long by_phase[PH__N];
    long by_site[8];
    uint64_t sectors_kept, sectors_lost, dir_undone, trunc_undone;
} g_tot;
static const char *const site_names[8] = {"wal-file", "wal-dir", "segment", "seg-dir",
                                          "series-index", "checkpoint", "store-dir", NULL};

static void tally(const struct outcome *o)
{
    g_tot.iterations++;
    if (!o->rep.crashed) {
        g_tot.clean++;
        return;
    }
    g_tot.crashes++;
    if (o->rep.phase >= 0 && o->rep.phase < PH__N) g_tot.by_phase[o->rep.phase]++;
    for (int k = 0; site_names[k]; k++)
        if (strcmp(site_names[k], o->rep.site) == 0) g_tot.by_site[k]++;
    g_tot.sectors_kept += o->rep.kept;
    g_tot.sectors_lost += o->rep.lost;
    g_tot.dir_undone += o->rep.dir_undone;
    g_tot.trunc_undone += o->rep.trunc_undone;
}

/* Checks the directory a child left. Returns 0, or 1 with why filled. */
static int check_after(const struct plan *p, const struct outcome *o, char *why, size_t wn)
{
    struct ne_store_opts so;
    store_opts(&so);
    struct ne_store *s = NULL;
    int rc = ne_store_open(&so, &s);
    if (rc) {
        snprintf(why, wn, "reopen failed: %s", ne_strerror(rc));
        return 1;
    }
    struct found f;
    rc = scan_all(s, p, &f);
    ne_store_close(&s);
    if (rc) {
        snprintf(why, wn, "scan failed: %s", ne_strerror(rc));
        return 1;
    }
    if (f.bad) {
        snprintf(why, wn, "%d bad points, first: %s", f.bad, f.why);
        return 1;
    }
    for (int i = 0; i < NB; i++) {
        if (f.v[i] != f.n[i] || (f.v[i] != 0 && f.v[i] != PTS)) {
            snprintf(why, wn, "batch %d is partial: %d/%d values of v, %d of n", i, f.v[i], PTS,
                     f.n[i]);
            return 1;
        }
        if (p->expired[i]) {
            g_tot.expired_evicted += o->acked[i] && f.v[i] == 0;
            continue;
        }
        if (!o->acked[i] || f.v[i] == PTS) continue;
        bool in_window = !g_sync_mode && o->ack_clock[i] >= o->last_wal_sync;
        if (!in_window) {
            snprintf(why, wn,
                     "acknowledged batch %d lost (acked at clock %" PRIu64
                     ", last completed WAL sync started at %" PRIu64 ")",
                     i, o->ack_clock[i], o->last_wal_sync);
            return 1;
        }
        g_tot.lost_acked_in_window++;
    }
    char *rep = NULL;
    size_t rlen = 0;
    FILE *mf = open_memstream(&rep, &rlen);
    rc = ne_store_verify_dir(g_dir, mf ? mf : stderr);
    if (mf) fclose(mf);
    if (rc) {
        snprintf(why, wn, "verify_dir: %s\n%.*s", ne_strerror(rc), (int)(rlen > 3000 ? 3000 : rlen),
                 rep ? rep : "");
    }
    free(rep);
    return rc ? 1 : 0;
}

static void test_power_loss_loop(void)
{
    uint64_t seed = cu_seed();
    long iters = cu_iterations(100);
    fprintf(stderr, "crash_store %s: seed %" PRIu64 " (NEOEDGE_CRASH_SEED=%" PRIu64
                    "), %ld iterations\n",
            g_mode, seed, seed, iters);
    /* a clean run tells how many syncs a full workload makes */
    T_CHECK(cu_mkdtemp(g_dir, sizeof g_dir, "crash-store") == 0);
    struct outcome o;
    struct child_args a = {.seed = cu_mix(seed, -1), .crash_at = 0};
    run_child(&a, &o);
    ne_fs_remove_tree(g_dir);
    if (o.status != 0) T_FAIL_("clean run exited %d: %s", o.status, o.rep.errors);
    T_CHECK(o.rep.end_syncs > 10);
    uint64_t clean_syncs = o.rep.end_syncs, clean_writes = o.rep.end_writes;
    long nbad = 0; /* with NEOEDGE_CRASH_KEEP_GOING: failures seen */
    for (long it = 0; it < iters; it++) {
        uint64_t is = cu_mix(seed, it);
        a = (struct child_args){.seed = is};
        cu_cut_point(is, it, clean_syncs, clean_writes, &a.crash_at, &a.crash_at_write);
        struct plan p;
        make_plan(is, &p);
        T_CHECK(cu_mkdtemp(g_dir, sizeof g_dir, "crash-store") == 0);
        run_child(&a, &o);
        char why[4096] = "";
        int bad = 0;
        if (o.status != 0 && o.status != NE_CRASHSIM_EXIT) {
            snprintf(why, sizeof why, "child exited %d: %s", o.status, o.rep.errors);
            bad = 1;
        } else if (o.rep.errors[0]) {
            snprintf(why, sizeof why, "write failed: %s", o.rep.errors);
            bad = 1;
        } else {
            bad = check_after(&p, &o, why, sizeof why);
        }
        tally(&o);
        if (bad) {
            fprintf(
                stderr,
                "FAIL iteration %ld (mode %s, run seed %" PRIu64 ", crash at sync %" PRIu64
                " / write %" PRIu64 ", site %s, phase %s): %s\n  dir %s %s\n",
                it, g_mode, seed, a.crash_at, a.crash_at_write, o.rep.crashed ? o.rep.site : "-",
                o.rep.crashed ? phase_names[o.rep.phase] : "-", why, g_dir,
                getenv("NEOEDGE_CRASH_KEEP_DIR") ? "kept"
                                                 : "removed (NEOEDGE_CRASH_KEEP_DIR=1 keeps it)");
            if (!getenv("NEOEDGE_CRASH_KEEP_DIR")) ne_fs_remove_tree(g_dir);
            if (!getenv("NEOEDGE_CRASH_KEEP_GOING"))
                T_FAIL_("power-loss check failed (NEOEDGE_CRASH_SEED=%" PRIu64 ")", seed);
            nbad++;
            continue;
        }
        ne_fs_remove_tree(g_dir);
    }
    fprintf(stderr,
            "crash_store %s: %ld iterations, %ld crashes, %ld clean ends; a clean run makes %" PRIu64
            " syncs and %" PRIu64 " writes\n  crash phase:",
            g_mode, g_tot.iterations, g_tot.crashes, g_tot.clean, clean_syncs, clean_writes);
    for (int k = 0; k < PH__N; k++)
        fprintf(stderr, " %s=%ld", phase_names[k], g_tot.by_phase[k]);
    fprintf(stderr, "\n  crash site:");
    for (int k = 0; site_names[k]; k++)
        fprintf(stderr, " %s=%ld", site_names[k], g_tot.by_site[k]);
    fprintf(stderr,
            "\n  unsynced sectors kept=%" PRIu64 " lost/garbled/torn=%" PRIu64
            ", dir ops undone=%" PRIu64 ", truncates undone=%" PRIu64
            "\n  acked batches lost inside the window=%ld, expired batches evicted=%ld\n",
            g_tot.sectors_kept, g_tot.sectors_lost, g_tot.dir_undone, g_tot.trunc_undone,
            g_tot.lost_acked_in_window, g_tot.expired_evicted);
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
    g_live_base = ne_time_wall_ns() - 600 * SEC;
    g_old_base = g_live_base - 5 * 3600 * SEC;
    T_RUN(test_power_loss_loop);
    return t_done();
}
