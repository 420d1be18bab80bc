/*
 * engine_wal_test.c - WAL recovery: a record torn at every byte offset is
 * cut back to the last complete record; corruption in the middle of a file
 * is quarantined (valid prefix kept, error counted, verify reports it);
 * `inspect wal` describes records and damage.
 */
#include <sys/wait.h>
#include <unistd.h>

#include "engine_util.h"
#include "t.h"

#include "ports/log.h"
#include "ports/metrics.h"

#define NREC        6
#define PTS_PER_REC 3

static char g_dir[256];

/* In a child process (killed state: no close, no flush), writes NREC
 * batches in sync mode, so the WAL holds exactly NREC records. */
static int make_wal(const char *dir)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct ne_store_opts o;
        eu_opts(&o, dir);
        struct ne_store *s;
        if (ne_store_open(&o, &s)) _exit(2);
        struct ne_batch b;
        ne_batch_init(&b);
        static const char *const devs[] = {"a", "b", "c"};
        for (int r = 0; r < NREC; r++) {
            ne_batch_reset(&b);
            for (int p = 0; p < PTS_PER_REC; p++)
                eu_point_f(&b, "m", "dev", devs[p], "x", EU_T0 + r * EU_SEC, r * 10 + p);
            struct ne_write_result res;
            if (ne_store_write(s, "iot", &b, &res) || res.accepted != PTS_PER_REC) _exit(3);
        }
        _exit(0); /* as if killed: nothing flushed */
    }
    int st = 0;
    waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int find_wal(void *ctx, const char *name, bool is_dir)
{
    if (!is_dir && strncmp(name, "wal-", 4) == 0 && strlen(name) == 24) {
        snprintf(ctx, 64, "%s", name);
        return 1;
    }
    return 0;
}

/* Reads the only WAL file of the store at dir. */
static int read_wal(const char *dir, char *name, char **data, size_t *len)
{
    char wdir[512], path[600];
    snprintf(wdir, sizeof wdir, "%s/store/wal", dir);
    name[0] = 0;
    ne_fs_list_dir(wdir, find_wal, name);
    if (!name[0]) return -1;
    snprintf(path, sizeof path, "%s/%s", wdir, name);
    return ne_fs_read_all(path, data, len);
}

/* A fresh store dir holding only the WAL file (first len bytes of data). */
static void plant_wal(const char *dir, const char *name, const char *data, size_t len)
{
    char wdir[512], path[600];
    eu_rmtree(dir);
    snprintf(wdir, sizeof wdir, "%s/store/wal", dir);
    ne_fs_mkdir_p(wdir);
    snprintf(path, sizeof path, "%s/%s", wdir, name);
    ne_fs_write_atomic(path, data, len);
}

static size_t count_points(struct ne_store *s, int *bad)
{
    struct eu_rows rows = {0};
    int rc = eu_scan(s, "iot", "m", "x", &rows);
    size_t n = rc == NE_ENOTFOUND ? 0 : rows.n;
    *bad = rc && rc != NE_ENOTFOUND;
    /* every value must be the one written for its (record, device) */
    for (size_t i = 0; i < rows.n; i++) {
        int r = (int)((rows.ts[i] - EU_T0) / EU_SEC);
        int p = rows.tagval[i][0] - 'a';
        if (rows.f[i] != r * 10 + p) *bad = 1;
    }
    eu_rows_free(&rows);
    return n;
}

/* The offsets loop reopens the store hundreds of times: on tmpfs when
 * there is one, since what it checks does not depend on fsync latency. */
static char *fast_tmpdir(char *buf, size_t n)
{
    if (access("/dev/shm", W_OK) == 0) {
        snprintf(buf, n, "/dev/shm/neoedge-test-XXXXXX");
        return mkdtemp(buf);
    }
    return t_tmpdir(buf, n);
}

static void test_torn_every_offset(void)
{
    char src[256], name[64];
    char *data = NULL;
    size_t len = 0;
    T_CHECK(t_tmpdir(src, sizeof src));
    T_CHECK(fast_tmpdir(g_dir, sizeof g_dir));
    T_EQ_INT(make_wal(src), 0);
    T_OK(read_wal(src, name, &data, &len));
    /* record ends, from the documented layout: 32-byte header, then
     * [len u32][crc u32][seq u64][payload] */
    size_t ends[NREC + 1], nends = 0, off = 32;
    while (off + 16 <= len && nends < NREC + 1) {
        uint32_t n = (uint8_t)data[off] | (uint8_t)data[off + 1] << 8 |
                     (uint8_t)data[off + 2] << 16 | (uint32_t)(uint8_t)data[off + 3] << 24;
        off += 16 + n;
        ends[nends++] = off;
    }
    T_EQ_U64(nends, NREC);
    T_EQ_U64(ends[NREC - 1], len);
    struct ne_store_opts o;
    eu_opts(&o, g_dir);
    o.durability = NE_STORE_INTERVAL; /* the checks do not need fsyncs */
    size_t failures = 0;
    for (size_t cut = 0; cut <= len; cut++) {
        plant_wal(g_dir, name, data, cut);
        size_t whole = 0;
        for (size_t i = 0; i < nends; i++)
            whole += ends[i] <= cut;
        struct ne_store *s = NULL;
        int rc = ne_store_open(&o, &s);
        if (rc) {
            fprintf(stderr, "cut %zu: open failed %d\n", cut, rc);
            failures++;
            continue;
        }
        int bad = 0;
        size_t n = count_points(s, &bad);
        if (bad || n != whole * PTS_PER_REC) {
            fprintf(stderr, "cut %zu: %zu points (want %zu), bad %d\n", cut, n, whole * PTS_PER_REC,
                    bad);
            failures++;
        }
        /* the store goes on: a write after recovery, then everything again
         * after a reopen */
        struct ne_batch b;
        ne_batch_init(&b);
        eu_point_f(&b, "m", "dev", "z", "x", EU_T0 - EU_SEC, 0);
        struct ne_write_result res;
        if (ne_store_write(s, "iot", &b, &res) || res.accepted != 1) failures++;
        ne_store_close(&s);
        bool reopen = cut % 5 == 0 || cut == len; /* a sample keeps it fast */
        if (reopen && ne_store_open(&o, &s) == 0) {
            struct eu_rows rows = {0};
            eu_scan(s, "iot", "m", "x", &rows);
            if (rows.n != whole * PTS_PER_REC + 1) failures++;
            eu_rows_free(&rows);
            ne_store_close(&s);
        } else if (reopen) {
            failures++;
        }
        ne_batch_free(&b);
    }
    T_EQ_U64(failures, 0);
    ne_free(data);
    eu_rmtree(src);
    eu_rmtree(g_dir);
}

static int path_exists_cb(void *ctx, const char *name, bool is_dir)
{
    (void)is_dir;
    return strstr(name, ".quarantine") ? (*(int *)ctx = 1) : 0;
}

static void test_mid_file_corruption(void)
{
    char src[256], name[64];
    char *data = NULL;
    size_t len = 0;
    T_CHECK(t_tmpdir(src, sizeof src));
    T_CHECK(t_tmpdir(g_dir, sizeof g_dir));
    T_EQ_INT(make_wal(src), 0);
    T_OK(read_wal(src, name, &data, &len));
    /* find record 2 and flip a byte of its payload */
    size_t off = 32;
    for (int r = 0; r < 2; r++)
        off += 16 + ((uint8_t)data[off] | (uint8_t)data[off + 1] << 8);
    data[off + 20] ^= 0x5a;
    plant_wal(g_dir, name, data, len);

    /* inspect describes the damage */
    char path[600];
    snprintf(path, sizeof path, "%s/store/wal/%s", g_dir, name);
    char *report = NULL;
    size_t rlen = 0;
    FILE *f = open_memstream(&report, &rlen);
    T_EQ_INT(ne_store_inspect_wal(path, f), NE_ECORRUPT);
    fclose(f);
    T_CHECK(strstr(report, "corruption followed by valid records") != NULL);
    T_CHECK(strstr(report, "2 valid records") != NULL);
    free(report);

    struct ne_metric *q = ne_metric_counter("neoedge_store_quarantined_files_total", "", NULL);
    double q0 = ne_metric_value(q);
    struct ne_store_opts o;
    eu_opts(&o, g_dir);
    struct ne_store *s = NULL;
    T_OK(ne_store_open(&o, &s));
    int bad = 0;
    T_EQ_U64(count_points(s, &bad), 2 * PTS_PER_REC);
    T_EQ_INT(bad, 0);
    T_EQ_DBL(ne_metric_value(q) - q0, 1, 0);
    ne_store_close(&s);
    char wdir[512];
    snprintf(wdir, sizeof wdir, "%s/store/wal", g_dir);
    int found = 0;
    ne_fs_list_dir(wdir, path_exists_cb, &found);
    T_EQ_INT(found, 1);
    /* the valid prefix was made durable in a segment: still there */
    T_OK(ne_store_open(&o, &s));
    T_EQ_U64(count_points(s, &bad), 2 * PTS_PER_REC);
    ne_store_close(&s);
    /* verify reports the quarantined file */
    f = fopen("/dev/null", "w");
    T_CHECK(ne_store_verify_dir(g_dir, f) != 0);
    fclose(f);
    ne_free(data);
    eu_rmtree(src);
    eu_rmtree(g_dir);
}

static void test_inspect_and_verify_healthy(void)
{
    char name[64];
    char *data = NULL;
    size_t len = 0;
    T_CHECK(t_tmpdir(g_dir, sizeof g_dir));
    T_EQ_INT(make_wal(g_dir), 0);
    T_OK(read_wal(g_dir, name, &data, &len));
    char path[600];
    snprintf(path, sizeof path, "%s/store/wal/%s", g_dir, name);
    char *report = NULL;
    size_t rlen = 0;
    FILE *f = open_memstream(&report, &rlen);
    T_OK(ne_store_inspect_wal(path, f));
    fclose(f);
    T_CHECK(strstr(report, "6 valid records") != NULL);
    T_CHECK(strstr(report, "db=iot points=3") != NULL);
    free(report);
    f = fopen("/dev/null", "w");
    T_OK(ne_store_verify_dir(g_dir, f));
    /* after a reopen (replay, flush at close) the store is still healthy */
    struct ne_store_opts o;
    eu_opts(&o, g_dir);
    struct ne_store *s = NULL;
    T_OK(ne_store_open(&o, &s));
    ne_store_close(&s);
    T_OK(ne_store_verify_dir(g_dir, f));
    fclose(f);
    ne_free(data);
    eu_rmtree(g_dir);
}

static int count_wal(void *ctx, const char *name, bool is_dir)
{
    if (!is_dir && strncmp(name, "wal-", 4) == 0) (*(int *)ctx)++;
    return 0;
}

/* A WAL left by a run with durability is replayed, flushed and removed by a
 * run without one. */
static void test_switch_to_none(void)
{
    T_CHECK(t_tmpdir(g_dir, sizeof g_dir));
    T_EQ_INT(make_wal(g_dir), 0);
    struct ne_store_opts o;
    eu_opts(&o, g_dir);
    o.durability = NE_STORE_NONE;
    struct ne_store *s = NULL;
    T_OK(ne_store_open(&o, &s));
    int bad = 0;
    T_EQ_U64(count_points(s, &bad), NREC * PTS_PER_REC);
    char wdir[512];
    snprintf(wdir, sizeof wdir, "%s/store/wal", g_dir);
    int nwal = 0;
    ne_fs_list_dir(wdir, count_wal, &nwal);
    T_EQ_INT(nwal, 0);
    ne_store_close(&s);
    T_OK(ne_store_open(&o, &s));
    T_EQ_U64(count_points(s, &bad), NREC * PTS_PER_REC);
    T_EQ_INT(bad, 0);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

int main(void)
{
    ne_log_set_level(NE_LOG_OFF);
    T_RUN(test_inspect_and_verify_healthy);
    T_RUN(test_mid_file_corruption);
    T_RUN(test_torn_every_offset);
    T_RUN(test_switch_to_none);
    return t_done();
}
