/*
 * test_crashsim.c - the power-loss simulation itself (ports/crashsim.c).
 *
 * Each case runs its I/O in a child process with the simulation armed; the
 * child ends in a simulated crash, and the parent checks the files left:
 * synced bytes always survive, unsynced sectors follow the configured fates,
 * pending creates/renames/unlinks are undone unless their directory was
 * fsync'ed, and the same seed gives the same disk.
 */
#include <errno.h>
#include <fcntl.h>

#include "crash_util.h"
#include "t.h"

#include "ports/log.h"

#define SECT 512

static char g_dir[256];
static char g_a[300], g_b[300];

/* Writes len bytes of c to path and fsyncs it, outside ports/. */
static int put_file(const char *path, int c, size_t len)
{
    char buf[8192];
    memset(buf, c, sizeof buf);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) return -1;
    for (size_t off = 0; off < len;) {
        size_t n = len - off < sizeof buf ? len - off : sizeof buf;
        if (write(fd, buf, n) != (ssize_t)n) break;
        off += n;
    }
    int rc = fsync(fd);
    close(fd);
    return rc;
}

/* Reads path into buf (cap bytes); returns its length or -1 if missing. */
static long get_file(const char *path, uint8_t *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    if (fd < 0) return -1;
    long n = (long)read(fd, buf, cap);
    close(fd);
    return n;
}

static bool all_are(const uint8_t *p, size_t n, uint8_t c)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != c) return false;
    return true;
}

static struct ne_crashsim_opts g_opts;

static void arm(void)
{
    if (ne_crashsim_arm(&g_opts) != 0) _exit(3);
}

/* ---- data fates ------------------------------------------------------------ */

/* A durable 4 KiB of 'A'; then 1 KiB of 'B' over its start and 2 KiB of 'C'
 * appended, unsynced; crash at the next sync (of another file). */
static int child_overwrite(void *arg)
{
    (void)arg;
    arm();
    struct ne_file *f;
    char b[1024], c[2048];
    memset(b, 'B', sizeof b);
    memset(c, 'C', sizeof c);
    if (ne_file_open(g_a, NE_F_WRITE, &f)) return 4;
    if (ne_file_pwrite(f, b, sizeof b, 0) || ne_file_append(f, c, sizeof c)) return 5;
    ne_fs_sync_dir(g_dir); /* sync #1: the crash */
    return 6;
}

static void overwrite_with(uint32_t keep, uint32_t drop, uint32_t garble, uint32_t torn,
                           uint8_t *out, long *len)
{
    put_file(g_a, 'A', 4096);
    g_opts = (struct ne_crashsim_opts){.seed = 7, .crash_at_sync = 1, .w_keep = keep,
                                       .w_drop = drop, .w_garble = garble, .w_torn = torn};
    int st = cu_run_child(child_overwrite, NULL);
    *len = st == NE_CRASHSIM_EXIT ? get_file(g_a, out, 16384) : -2 - st;
}

static void test_unsynced_dropped(void)
{
    uint8_t buf[16384];
    long n;
    overwrite_with(0, 1, 0, 0, buf, &n);
    T_EQ_INT(n, 4096);
    T_CHECK(all_are(buf, 4096, 'A'));
}

static void test_unsynced_kept(void)
{
    uint8_t buf[16384];
    long n;
    overwrite_with(1, 0, 0, 0, buf, &n);
    T_EQ_INT(n, 4096 + 2048);
    T_CHECK(all_are(buf, 1024, 'B'));
    T_CHECK(all_are(buf + 1024, 3072, 'A'));
    T_CHECK(all_are(buf + 4096, 2048, 'C'));
}

static void test_unsynced_garbled_and_torn(void)
{
    uint8_t buf[16384];
    long n;
    overwrite_with(0, 0, 1, 1, buf, &n);
    T_CHECK(n >= 4096 && n <= 6144);
    /* sectors never written since the sync are untouched */
    T_CHECK(all_are(buf + 1024, 3072, 'A'));
    /* every rewritten sector was garbled or torn: none is intact new or
     * intact old data */
    for (int s = 0; s < 2; s++) {
        T_CHECK(!all_are(buf + s * SECT, SECT, 'B'));
        T_CHECK(!all_are(buf + s * SECT, SECT, 'A'));
    }
}

static void test_mixed_fates_are_per_sector(void)
{
    uint8_t buf[16384];
    long n;
    overwrite_with(0, 0, 0, 0, buf, &n); /* default weights */
    T_CHECK(n >= 4096 && n <= 6144);
    T_CHECK(all_are(buf + 1024, 3072, 'A'));
    /* the same seed gives the same disk */
    uint8_t again[16384];
    long n2;
    overwrite_with(0, 0, 0, 0, again, &n2);
    T_EQ_INT(n2, n);
    T_CHECK(memcmp(buf, again, (size_t)n) == 0);
}

/* Synced data survives whatever the fates. */
static int child_synced(void *arg)
{
    (void)arg;
    arm();
    struct ne_file *f;
    char c[3000];
    memset(c, 'C', sizeof c);
    if (ne_file_open(g_a, NE_F_WRITE, &f)) return 4;
    if (ne_file_append(f, c, sizeof c) || ne_file_datasync(f)) return 5;
    memset(c, 'D', sizeof c);
    if (ne_file_append(f, c, sizeof c)) return 5;
    ne_file_datasync(f); /* sync #2: the crash */
    return 6;
}

static void test_synced_survives(void)
{
    put_file(g_a, 'A', 100);
    g_opts = (struct ne_crashsim_opts){.seed = 11, .crash_at_sync = 2, .w_drop = 1, .w_garble = 1,
                                       .w_torn = 1};
    T_EQ_INT(cu_run_child(child_synced, NULL), NE_CRASHSIM_EXIT);
    uint8_t buf[16384];
    long n = get_file(g_a, buf, sizeof buf);
    T_CHECK(n >= 3100 && n <= 6100);
    T_CHECK(all_are(buf, 100, 'A'));
    T_CHECK(all_are(buf + 100, 3000, 'C'));
}

/* Crash right after the 3rd write: it and the writes before it may land
 * (all kept here), nothing after it runs. */
static int child_nth_write(void *arg)
{
    (void)arg;
    arm();
    struct ne_file *f;
    if (ne_file_open(g_a, NE_F_WRITE | NE_F_CREATE | NE_F_TRUNC, &f)) return 4;
    for (int i = 0; i < 10; i++) {
        char c[100];
        memset(c, 'a' + i, sizeof c);
        if (ne_file_append(f, c, sizeof c)) return 5;
    }
    return 6;
}

static void test_crash_at_write(void)
{
    unlink(g_a);
    g_opts = (struct ne_crashsim_opts){.seed = 3, .crash_at_write = 3, .w_keep = 1,
                                       .dir_policy = NE_CRASHSIM_DIR_KEEP_ALL};
    T_EQ_INT(cu_run_child(child_nth_write, NULL), NE_CRASHSIM_EXIT);
    uint8_t buf[4096];
    T_EQ_INT(get_file(g_a, buf, sizeof buf), 300);
    T_CHECK(all_are(buf, 100, 'a') && all_are(buf + 100, 100, 'b') && all_are(buf + 200, 100, 'c'));
}

/* A truncate since the sync is either kept or undone, never half. */
static int child_truncate(void *arg)
{
    (void)arg;
    arm();
    struct ne_file *f;
    if (ne_file_open(g_a, NE_F_WRITE, &f) || ne_file_truncate(f, 100)) return 4;
    ne_crashsim_crash_now();
}

static void test_truncate_all_or_nothing(void)
{
    int seen[2] = {0, 0};
    for (uint64_t seed = 1; seed <= 12; seed++) {
        put_file(g_a, 'A', 4096);
        g_opts = (struct ne_crashsim_opts){.seed = seed, .w_drop = 1};
        T_EQ_INT(cu_run_child(child_truncate, NULL), NE_CRASHSIM_EXIT);
        uint8_t buf[8192];
        long n = get_file(g_a, buf, sizeof buf);
        T_CHECK(n == 100 || n == 4096);
        T_CHECK(all_are(buf, (size_t)n, 'A'));
        seen[n == 4096]++;
    }
    T_CHECK(seen[0] > 0 && seen[1] > 0); /* both outcomes happen */
}

/* ---- directory operations ------------------------------------------------------ */

/* Creates b with data, syncs the data, then renames it over nothing to a;
 * optionally syncs the directory; then crashes. */
static int child_create_rename(void *arg)
{
    bool sync_dir = *(bool *)arg;
    arm();
    struct ne_file *f;
    if (ne_file_open(g_b, NE_F_WRITE | NE_F_CREATE | NE_F_EXCL, &f)) return 4;
    if (ne_file_append(f, "hello", 5) || ne_file_datasync(f)) return 5;
    ne_file_close(&f);
    if (ne_fs_rename(g_b, g_a)) return 6;
    if (sync_dir && ne_fs_sync_dir(g_dir)) return 7;
    ne_crashsim_crash_now();
}

static void test_create_rename_undone(void)
{
    unlink(g_a);
    unlink(g_b);
    bool sync_dir = false;
    g_opts = (struct ne_crashsim_opts){.seed = 5, .dir_policy = NE_CRASHSIM_DIR_UNDO_ALL};
    T_EQ_INT(cu_run_child(child_create_rename, &sync_dir), NE_CRASHSIM_EXIT);
    T_CHECK(!ne_fs_exists(g_a));
    T_CHECK(!ne_fs_exists(g_b));
}

static void test_create_rename_kept(void)
{
    unlink(g_a);
    unlink(g_b);
    bool sync_dir = false;
    g_opts = (struct ne_crashsim_opts){.seed = 5, .dir_policy = NE_CRASHSIM_DIR_KEEP_ALL};
    T_EQ_INT(cu_run_child(child_create_rename, &sync_dir), NE_CRASHSIM_EXIT);
    uint8_t buf[64];
    T_EQ_INT(get_file(g_a, buf, sizeof buf), 5);
    T_CHECK(memcmp(buf, "hello", 5) == 0);
    T_CHECK(!ne_fs_exists(g_b));
}

static void test_dir_sync_makes_durable(void)
{
    unlink(g_a);
    unlink(g_b);
    bool sync_dir = true;
    g_opts = (struct ne_crashsim_opts){.seed = 5, .dir_policy = NE_CRASHSIM_DIR_UNDO_ALL};
    T_EQ_INT(cu_run_child(child_create_rename, &sync_dir), NE_CRASHSIM_EXIT);
    uint8_t buf[64];
    T_EQ_INT(get_file(g_a, buf, sizeof buf), 5);
    T_CHECK(memcmp(buf, "hello", 5) == 0);
}

/* ne_fs_write_atomic over an old file, crashing at its directory fsync:
 * the old content comes back whole, or the new one is there whole. */
static int child_atomic(void *arg)
{
    (void)arg;
    arm();
    ne_fs_write_atomic(g_a, "new content", 11); /* sync #2 (dir) crashes */
    return 6;
}

static void test_atomic_publish(void)
{
    int outcomes[2] = {0, 0};
    for (uint64_t seed = 1; seed <= 10; seed++) {
        put_file(g_a, 'o', 7);
        g_opts = (struct ne_crashsim_opts){.seed = seed, .crash_at_sync = 2};
        T_EQ_INT(cu_run_child(child_atomic, NULL), NE_CRASHSIM_EXIT);
        uint8_t buf[64];
        long n = get_file(g_a, buf, sizeof buf);
        bool old = n == 7 && all_are(buf, 7, 'o');
        bool nu = n == 11 && memcmp(buf, "new content", 11) == 0;
        T_CHECK(old || nu);
        outcomes[nu]++;
        char tmp[320];
        snprintf(tmp, sizeof tmp, "%s.tmp", g_a);
        unlink(tmp);
    }
    T_CHECK(outcomes[0] > 0 && outcomes[1] > 0);
}

static int child_unlink(void *arg)
{
    (void)arg;
    arm();
    if (ne_fs_unlink(g_a)) return 4;
    if (ne_fs_exists(g_a)) return 5;
    ne_crashsim_crash_now();
}

static void test_unlink_undone(void)
{
    put_file(g_a, 'u', 1000);
    g_opts = (struct ne_crashsim_opts){.seed = 1, .dir_policy = NE_CRASHSIM_DIR_UNDO_ALL};
    T_EQ_INT(cu_run_child(child_unlink, NULL), NE_CRASHSIM_EXIT);
    uint8_t buf[2048];
    T_EQ_INT(get_file(g_a, buf, sizeof buf), 1000);
    T_CHECK(all_are(buf, 1000, 'u'));
}

/* ---- observers and counters ---------------------------------------------------- */

struct obs {
    uint64_t last_stamp;
    int calls, bad;
};

static void on_synced(void *ctx, enum ne_crashsim_sync_kind kind, const char *path, uint64_t at)
{
    struct obs *o = ctx;
    o->calls++;
    if (at <= o->last_stamp || (kind == NE_CRASHSIM_SYNC_FILE && strcmp(path, g_a) != 0)) o->bad++;
    o->last_stamp = at;
}

static void test_observer_and_stats(void)
{
    struct obs o = {0};
    struct ne_crashsim_opts opts = {.seed = 9, .on_synced = on_synced, .ctx = &o};
    T_OK(ne_crashsim_arm(&opts));
    T_CHECK(ne_crashsim_armed());
    struct ne_file *f;
    T_OK(ne_file_open(g_a, NE_F_WRITE | NE_F_CREATE | NE_F_TRUNC, &f));
    uint64_t before = ne_crashsim_clock();
    T_OK(ne_file_append(f, "x", 1));
    T_CHECK(ne_crashsim_clock() > before);
    T_OK(ne_file_datasync(f));
    T_OK(ne_fs_sync_dir(g_dir));
    struct ne_crashsim_stats st;
    ne_crashsim_stats(&st);
    T_EQ_U64(st.syncs, 2);
    T_EQ_U64(st.writes, 1);
    T_EQ_U64(st.dir_ops_pending, 0);
    T_CHECK(st.files_tracked >= 1);
    ne_file_close(&f);
    ne_crashsim_disarm();
    T_CHECK(!ne_crashsim_armed());
    T_EQ_INT(o.calls, 2);
    T_EQ_INT(o.bad, 0);
    T_EQ_INT(ne_crashsim_arm(&(struct ne_crashsim_opts){.sector_bytes = 3}), NE_EINVAL);
}

int main(void)
{
    ne_log_set_level(NE_LOG_OFF);
    if (cu_mkdtemp(g_dir, sizeof g_dir, "crashsim") != 0) return 1;
    snprintf(g_a, sizeof g_a, "%s/a", g_dir);
    snprintf(g_b, sizeof g_b, "%s/b", g_dir);
    T_RUN(test_unsynced_dropped);
    T_RUN(test_unsynced_kept);
    T_RUN(test_unsynced_garbled_and_torn);
    T_RUN(test_mixed_fates_are_per_sector);
    T_RUN(test_synced_survives);
    T_RUN(test_crash_at_write);
    T_RUN(test_truncate_all_or_nothing);
    T_RUN(test_create_rename_undone);
    T_RUN(test_create_rename_kept);
    T_RUN(test_dir_sync_makes_durable);
    T_RUN(test_atomic_publish);
    T_RUN(test_unlink_undone);
    T_RUN(test_observer_and_stats);
    ne_fs_remove_tree(g_dir);
    return t_done();
}
