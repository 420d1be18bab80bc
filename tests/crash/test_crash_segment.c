/*
 * test_crash_segment.c - power loss while the segment writer publishes.
 *
 * The directory starts with segment 1 (content A, durable). A child arms
 * the crash simulation and runs the segment life cycle: writes segment 2
 * (content B, overlapping A on some columns and times) with ne_segw_* and
 * publishes it, merges 1 and 2 into 3 (ne_seg_merge), then unlinks 1 and 2
 * and fsyncs the directory (the compaction protocol of segment.h). The
 * power is cut at every sync in turn (and at a sample of writes), with
 * several seeds. Afterwards, with the simulation off:
 *   - ne_seg_clean_tmp removes leftovers; every remaining <id>.seg passes
 *     ne_seg_verify (never a torn .seg);
 *   - the data visible through the segments (newer id wins) is A or A+B,
 *     and A+B once ne_segw_finish of segment 2 had returned 0;
 *   - each segment holds exactly its own content (1: A, 2: B, 3: A+B).
 * NEOEDGE_CRASH_SEED (printed) reproduces a run; NEOEDGE_CRASH_ITERATIONS
 * sets the number of seeds per crash point (default 12);
 * NEOEDGE_CRASH_KEEP_DIR=1 keeps the directory of a failure.
 */
#include <errno.h>
#include <inttypes.h>

#include "crash_util.h"
#include "t.h"

#include "ports/log.h"
#include "store/segment/segment.h"

#define NSID 24
#define NK 3000
#define T0 1700000000000000000LL

static char g_dir[300];

/* Content A: series 0..15, points 0..1999. B: series 8..23, points
 * 1000..2999, other values (so B wins where both exist). */
static bool in_a(int sid, int k)
{
    return sid < 16 && k < 2000;
}

static bool in_b(int sid, int k)
{
    return sid >= 8 && k >= 1000;
}

static int64_t val_a(int sid, int k)
{
    return (int64_t)sid * 100000 + k;
}

static int64_t val_b(int sid, int k)
{
    return -((int64_t)sid * 100000 + k) - 1;
}

static int write_seg(uint64_t id, bool b_content)
{
    struct ne_segw_opts o = {.block_points = 512, .wal_seq_min = id * 10,
                             .wal_seq_max = id * 10 + 5};
    struct ne_segw *w = NULL;
    int rc = ne_segw_open(g_dir, id, &o, &w);
    if (rc) return rc;
    static int64_t ts[NK], v[NK];
    for (int sid = 0; sid < NSID && !rc; sid++) {
        uint32_t n = 0;
        for (int k = 0; k < NK; k++) {
            if (b_content ? !in_b(sid, k) : !in_a(sid, k)) continue;
            ts[n] = T0 + k;
            v[n++] = b_content ? val_b(sid, k) : val_a(sid, k);
        }
        if (!n) continue;
        struct ne_seg_colkey key = {(uint64_t)sid + 1, NE_SV("v"), NE_V_INT, 0};
        rc = ne_segw_add_column(w, &key, ts, v, n);
    }
    if (rc) {
        ne_segw_abort(&w);
        return rc;
    }
    return ne_segw_finish(&w, NULL);
}

static int g_pipe = -1;

/* The life cycle the child runs (also run once, armed without a crash, to
 * count its syncs and writes). Returns 0 or the first error. */
static int life_cycle(void)
{
    int rc = write_seg(2, true);
    if (rc) return rc;
    if (g_pipe >= 0) cu_say(g_pipe, "P2\n");
    struct ne_seg *in[2] = {NULL, NULL};
    char p1[300], p2[300];
    ne_seg_path(p1, sizeof p1, g_dir, 1);
    ne_seg_path(p2, sizeof p2, g_dir, 2);
    if ((rc = ne_seg_open(p1, &in[0])) || (rc = ne_seg_open(p2, &in[1]))) goto out;
    struct ne_seg_merge_opts mo;
    ne_seg_merge_opts_default(&mo);
    mo.block_points = 700;
    if ((rc = ne_seg_merge(in, 2, g_dir, 3, &mo, NULL))) goto out;
    if (g_pipe >= 0) cu_say(g_pipe, "P3\n");
    ne_seg_close(&in[0]);
    ne_seg_close(&in[1]);
    if ((rc = ne_fs_unlink(p1)) || (rc = ne_fs_unlink(p2))) goto out;
    rc = ne_fs_sync_dir(g_dir);
out:
    ne_seg_close(&in[0]);
    ne_seg_close(&in[1]);
    return rc;
}

struct child_args {
    struct ne_crashsim_opts co;
};

static int child_main(void *arg)
{
    struct child_args *a = arg;
    if (ne_crashsim_arm(&a->co)) return 80;
    int rc = life_cycle();
    return rc ? 81 : 0;
}

/* A line the child reported: P2 / P3, segment 2 / merge 3 published. */
static void on_published(void *ctx, const char *line)
{
    int *published = ctx;
    if (strcmp(line, "P3") == 0)
        *published = 3;
    else if (strcmp(line, "P2") == 0 && *published < 2)
        *published = 2;
}

/* Runs a child; *published gets 2 or 3 if segment 2 / merge 3 were
 * reported published before the crash, else 0. Returns the exit status. */
static int run_child(struct child_args *a, int *published)
{
    *published = 0;
    return cu_run_child_lines(child_main, a, &g_pipe, on_published, published);
}

/* ---- checking ------------------------------------------------------------------ */

struct view {
    bool has[NSID][NK];
    int64_t v[NSID][NK];
};

/* Reads every point of the segment at path into vw (later calls win). */
static int load_seg(const char *path, struct view *vw, char *why, size_t wn)
{
    struct ne_seg *r = NULL;
    int rc = ne_seg_open(path, &r);
    if (rc) {
        snprintf(why, wn, "%s: open: %s", path, ne_strerror(rc));
        return rc;
    }
    struct ne_seg_block blk;
    ne_seg_block_init(&blk);
    const struct ne_seg_info *info = ne_seg_info(r);
    for (uint32_t c = 0; c < info->ncols && !rc; c++) {
        const struct ne_seg_col *col = ne_seg_col(r, c);
        int sid = (int)col->key.series_id - 1;
        if (sid < 0 || sid >= NSID || col->key.type != NE_V_INT) {
            snprintf(why, wn, "%s: unexpected column %d", path, sid);
            rc = NE_ECORRUPT;
            break;
        }
        for (uint32_t b = 0; b < col->nblocks && !rc; b++) {
            if ((rc = ne_seg_block_read(r, c, b, &blk))) {
                snprintf(why, wn, "%s: block read: %s", path, ne_strerror(rc));
                break;
            }
            for (uint32_t i = 0; i < blk.n; i++) {
                int64_t k = blk.ts[i] - T0;
                if (k < 0 || k >= NK) {
                    snprintf(why, wn, "%s: unexpected timestamp", path);
                    rc = NE_ECORRUPT;
                    break;
                }
                vw->has[sid][k] = true;
                vw->v[sid][k] = blk.v.i[i];
            }
        }
    }
    ne_seg_block_free(&blk);
    ne_seg_close(&r);
    return rc;
}

/* Compares vw with A (with_b false) or A+B. */
static bool view_is(const struct view *vw, bool with_b, bool with_a)
{
    for (int sid = 0; sid < NSID; sid++) {
        for (int k = 0; k < NK; k++) {
            bool b = with_b && in_b(sid, k), a = with_a && in_a(sid, k);
            bool want = a || b;
            if (vw->has[sid][k] != want) return false;
            if (want && vw->v[sid][k] != (b ? val_b(sid, k) : val_a(sid, k))) return false;
        }
    }
    return true;
}

static struct view g_all, g_one;

/* Checks the directory after a crash. Returns 0 or 1 with why. */
static int check_dir(int published, char *why, size_t wn)
{
    if (ne_seg_clean_tmp(g_dir)) {
        snprintf(why, wn, "ne_seg_clean_tmp failed");
        return 1;
    }
    memset(&g_all, 0, sizeof g_all);
    bool present[4] = {false};
    for (uint64_t id = 1; id <= 3; id++) {
        char path[300], reason[256] = "";
        ne_seg_path(path, sizeof path, g_dir, id);
        if (!ne_fs_exists(path)) continue;
        present[id] = true;
        int rc = ne_seg_verify(path, reason, sizeof reason);
        if (rc) {
            snprintf(why, wn, "segment %" PRIu64 " torn or corrupt: %s: %s", id, ne_strerror(rc),
                     reason);
            return 1;
        }
        memset(&g_one, 0, sizeof g_one);
        if (load_seg(path, &g_one, why, wn) || load_seg(path, &g_all, why, wn)) return 1;
        bool ok = id == 1 ? view_is(&g_one, false, true)
                          : id == 2 ? view_is(&g_one, true, false) : view_is(&g_one, true, true);
        if (!ok) {
            snprintf(why, wn, "segment %" PRIu64 " does not hold its content", id);
            return 1;
        }
    }
    bool a_only = view_is(&g_all, false, true), ab = view_is(&g_all, true, true);
    if (!a_only && !ab) {
        snprintf(why, wn, "visible data is neither A nor A+B (present: 1=%d 2=%d 3=%d)",
                 present[1], present[2], present[3]);
        return 1;
    }
    if (published >= 2 && !ab) {
        snprintf(why, wn, "segment 2 was published but its data is gone (present: 1=%d 2=%d 3=%d)",
                 present[1], present[2], present[3]);
        return 1;
    }
    if (published >= 3 && !present[3]) {
        snprintf(why, wn, "merged segment 3 was published but is gone");
        return 1;
    }
    return 0;
}

/* Fresh directory holding the durable segment 1. */
static int setup_dir(void)
{
    ne_fs_remove_tree(g_dir);
    if (ne_fs_mkdir_p(g_dir)) return -1;
    return write_seg(1, false);
}

static void test_segment_publish_crash(void)
{
    uint64_t seed = cu_seed();
    long per_point = cu_iterations(12);
    fprintf(stderr, "crash_segment: seed %" PRIu64 " (NEOEDGE_CRASH_SEED=%" PRIu64 ")\n", seed,
            seed);
    char base[256];
    T_CHECK(cu_mkdtemp(base, sizeof base, "crash-seg") == 0);
    snprintf(g_dir, sizeof g_dir, "%s/seg", base);

    /* count the syncs and writes of one life cycle */
    T_OK(setup_dir());
    struct ne_crashsim_opts count = {.seed = 1};
    T_OK(ne_crashsim_arm(&count));
    int rc = life_cycle();
    struct ne_crashsim_stats st;
    ne_crashsim_stats(&st);
    ne_crashsim_disarm();
    T_OK(rc);
    if (st.syncs < 5 || st.writes < 2)
        T_FAIL_("a life cycle made %" PRIu64 " syncs and %" PRIu64 " writes", st.syncs, st.writes);

    uint64_t r = seed;
    long runs = 0, by_published[4] = {0, 0, 0, 0};
    /* every sync, then a sample of writes */
    uint64_t points = st.syncs + (uint64_t)(st.writes < 40 ? st.writes : 40);
    for (uint64_t pt = 0; pt < points; pt++) {
        for (long s = 0; s < per_point; s++) {
            struct child_args a = {.co = {.seed = cu_rnd(&r) | 1}};
            if (pt < st.syncs)
                a.co.crash_at_sync = pt + 1;
            else
                a.co.crash_at_write = 1 + cu_rnd(&r) % st.writes;
            if (s % 3 == 1) a.co.sector_bytes = 4096;
            T_OK(setup_dir());
            int published = 0;
            int status = run_child(&a, &published);
            if (status != NE_CRASHSIM_EXIT) {
                ne_fs_remove_tree(base);
                T_FAIL_("child exited %d (crash at sync %" PRIu64 " write %" PRIu64 ")", status,
                        a.co.crash_at_sync, a.co.crash_at_write);
            }
            char why[512] = "";
            bool keep = getenv("NEOEDGE_CRASH_KEEP_DIR") != NULL;
            if (check_dir(published, why, sizeof why) && !keep) ne_fs_remove_tree(base);
            if (why[0])
                T_FAIL_("%s (crash at sync %" PRIu64 " / write %" PRIu64 ", crash seed %" PRIu64
                        ", NEOEDGE_CRASH_SEED=%" PRIu64 ", dir %s %s)",
                        why, a.co.crash_at_sync, a.co.crash_at_write, a.co.seed, seed, g_dir,
                        keep ? "kept" : "removed; NEOEDGE_CRASH_KEEP_DIR=1 keeps it");
            runs++;
            by_published[published]++;
        }
    }
    fprintf(stderr,
            "crash_segment: %ld crashes over %" PRIu64 " syncs and %" PRIu64
            " writes per cycle; before publish=%ld, after segment 2=%ld, after merge=%ld\n",
            runs, st.syncs, st.writes, by_published[0], by_published[2], by_published[3]);
    T_CHECK(by_published[0] > 0 && by_published[2] > 0 && by_published[3] > 0);
    ne_fs_remove_tree(base);
}

int main(void)
{
    ne_log_set_level(getenv("NEOEDGE_CRASH_VERBOSE") ? NE_LOG_INFO : NE_LOG_OFF);
    T_RUN(test_segment_publish_crash);
    return t_done();
}
