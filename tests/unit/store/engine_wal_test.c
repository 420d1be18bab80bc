/*
 * engine_wal_test.c - WAL recovery: a record torn at every byte offset is
 * cut back to the last complete record; damage in data a later record
 * proves synced (or in a file followed by a newer one) is quarantined
 * (valid prefix kept, error counted, verify reports it); a hole in the
 * never-synced tail, even with valid records after it, is cut (verify
 * healthy); version 1 files are still read, unknown versions refused;
 * `inspect wal` describes records and damage.
 */
#include <sys/wait.h>
#include <unistd.h>

#include "engine_util.h"
#include "t.h"

#include "ports/crc32c.h"
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
    T_CHECK(strstr(report, "corruption in synced data") != NULL);
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

/* ---- durable point: holes after it are cut, damage before it is kept ---- */

static uint32_t ld32(const char *p)
{
    const uint8_t *u = (const uint8_t *)p;
    return u[0] | u[1] << 8 | u[2] << 16 | (uint32_t)u[3] << 24;
}

static uint64_t ld64(const char *p)
{
    return ld32(p) | (uint64_t)ld32(p + 4) << 32;
}

static void st32(char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (char)(v >> (8 * i));
}

static void st64(char *p, uint64_t v)
{
    st32(p, (uint32_t)v);
    st32(p + 4, (uint32_t)(v >> 32));
}

/* Start offsets of the records of a version 2 file, from the documented
 * layout: [len u32][crc u32][seq u64][synced_upto u64][payload], len counting
 * synced_upto and payload. Returns the count. */
static size_t rec_offsets(const char *data, size_t len, size_t *offs, size_t max)
{
    size_t n = 0, off = 32;
    while (off + 24 <= len && n < max) {
        offs[n++] = off;
        off += 16 + ld32(data + off);
    }
    return off == len ? n : 0;
}

/* Rewrites the synced_upto of the record at off (and its CRC). */
static void set_claim(char *data, size_t off, uint64_t claim)
{
    st64(data + off + 16, claim);
    st32(data + off + 4, ne_crc32c(0, data + off + 8, 8 + (size_t)ld32(data + off)));
}

static int quarantined_in(const char *dir)
{
    char wdir[512];
    int found = 0;
    snprintf(wdir, sizeof wdir, "%s/store/wal", dir);
    ne_fs_list_dir(wdir, path_exists_cb, &found);
    return found;
}

static char *inspect_report(const char *dir, const char *name, int *rc)
{
    char path[600];
    char *report = NULL;
    size_t rlen = 0;
    snprintf(path, sizeof path, "%s/store/wal/%s", dir, name);
    FILE *f = open_memstream(&report, &rlen);
    *rc = ne_store_inspect_wal(path, f);
    fclose(f);
    return report;
}

static int verify_quiet(const char *dir)
{
    FILE *f = fopen("/dev/null", "w");
    int rc = ne_store_verify_dir(dir, f);
    fclose(f);
    return rc;
}

/* In sync mode each record is sealed after the previous one was synced: it
 * claims everything before itself durable. */
static void test_writer_claims_synced_offset(void)
{
    char name[64];
    char *data = NULL;
    size_t len = 0, offs[NREC + 1];
    T_CHECK(t_tmpdir(g_dir, sizeof g_dir));
    T_EQ_INT(make_wal(g_dir), 0);
    T_OK(read_wal(g_dir, name, &data, &len));
    T_EQ_INT(data[4], 2); /* format version */
    T_EQ_U64(rec_offsets(data, len, offs, NREC + 1), NREC);
    for (size_t i = 0; i < NREC; i++)
        T_EQ_U64(ld64(data + offs[i] + 16), offs[i]);
    int rc = 0;
    char *report = inspect_report(g_dir, name, &rc);
    T_OK(rc);
    T_CHECK(strstr(report, "version 2") != NULL);
    free(report);
    ne_free(data);
    eu_rmtree(g_dir);
}

struct damage_case {
    int last_synced; /* records after this one claim only its end durable */
    int damaged;     /* record whose payload is garbled */
    bool newer_file; /* a newer (header-only) WAL file follows */
    bool quarantine; /* expected outcome */
    int kept;        /* records replayed */
};

/* A header-only file of generation gen (first_seq next): what a rotation
 * leaves before any record. */
static void plant_newer(const char *dir, const char *name, uint64_t first_seq)
{
    char hdr[32] = {0}, path[600], nname[64];
    unsigned long long gen = strtoull(name + 4, NULL, 16) + 1;
    snprintf(nname, sizeof nname, "wal-%016llx.log", gen);
    memcpy(hdr, "NEWL", 4);
    hdr[4] = 2;
    st64(hdr + 8, gen);
    st64(hdr + 16, first_seq);
    st32(hdr + 28, ne_crc32c(0, hdr, 28));
    snprintf(path, sizeof path, "%s/store/wal/%s", dir, nname);
    ne_fs_write_atomic(path, hdr, sizeof hdr);
}

static void run_damage_case(const char *src_data, size_t len, const char *name,
                            const struct damage_case *c)
{
    size_t offs[NREC + 1];
    char *data = ne_malloc(len);
    T_CHECK(data != NULL);
    memcpy(data, src_data, len);
    T_EQ_U64(rec_offsets(data, len, offs, NREC + 1), NREC);
    /* as if the records after last_synced were written without a sync */
    for (int i = c->last_synced + 1; i < NREC; i++)
        set_claim(data, offs[i], offs[c->last_synced + 1]);
    for (size_t k = 0; k < 8; k++) /* a lost sector: garbled payload bytes */
        data[offs[c->damaged] + 24 + k] ^= (char)0xa5;
    plant_wal(g_dir, name, data, len);
    if (c->newer_file) plant_newer(g_dir, name, NREC + 1);

    int rc = 0;
    char *report = inspect_report(g_dir, name, &rc);
    T_EQ_INT(rc, NE_ECORRUPT);
    bool in_synced = c->damaged <= c->last_synced;
    T_CHECK(strstr(report, in_synced ? "corruption in synced data" : "torn tail") != NULL);
    free(report);

    struct ne_metric *q = ne_metric_counter("neoedge_store_quarantined_files_total", "", NULL);
    double q0 = ne_metric_value(q);
    struct ne_store_opts o;
    eu_opts(&o, g_dir);
    struct ne_store *s = NULL;
    T_OK(ne_store_open(&o, &s));
    int bad = 0;
    T_EQ_U64(count_points(s, &bad), (size_t)c->kept * PTS_PER_REC);
    T_EQ_INT(bad, 0);
    T_EQ_DBL(ne_metric_value(q) - q0, c->quarantine ? 1 : 0, 0);
    /* the store goes on after the cut */
    struct ne_batch b;
    ne_batch_init(&b);
    eu_point_f(&b, "m", "dev", "z", "x", EU_T0 - EU_SEC, 0);
    struct ne_write_result res;
    T_OK(ne_store_write(s, "iot", &b, &res));
    T_EQ_U64(res.accepted, 1);
    ne_batch_free(&b);
    ne_store_close(&s);
    T_EQ_INT(quarantined_in(g_dir), c->quarantine ? 1 : 0);
    if (c->quarantine)
        T_CHECK(verify_quiet(g_dir) != 0);
    else
        T_OK(verify_quiet(g_dir));
    /* everything again after a reopen */
    T_OK(ne_store_open(&o, &s));
    T_EQ_U64(count_points(s, &bad), (size_t)c->kept * PTS_PER_REC + 1);
    ne_store_close(&s);
    ne_free(data);
}

static void test_hole_vs_durable_point(void)
{
    static const struct damage_case cases[] = {
        /* holes in the never-synced tail, valid records after them: cut */
        {.last_synced = 2, .damaged = 4, .quarantine = false, .kept = 4},
        {.last_synced = 2, .damaged = 3, .quarantine = false, .kept = 3},
        {.last_synced = -1, .damaged = 0, .quarantine = false, .kept = 0},
        /* the same damage inside data a later record proves synced */
        {.last_synced = 2, .damaged = 1, .quarantine = true, .kept = 1},
        {.last_synced = 2, .damaged = 2, .quarantine = true, .kept = 2},
        /* a newer WAL file proves the whole file was synced */
        {.last_synced = 2, .damaged = 4, .newer_file = true, .quarantine = true, .kept = 4},
    };
    char src[256], name[64];
    char *data = NULL;
    size_t len = 0;
    T_CHECK(t_tmpdir(src, sizeof src));
    T_CHECK(fast_tmpdir(g_dir, sizeof g_dir));
    T_EQ_INT(make_wal(src), 0);
    T_OK(read_wal(src, name, &data, &len));
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fprintf(stderr, "  case %zu: synced up to record %d, record %d damaged%s\n", i,
                cases[i].last_synced, cases[i].damaged, cases[i].newer_file ? ", newer file" : "");
        run_damage_case(data, len, name, &cases[i]);
    }
    ne_free(data);
    eu_rmtree(src);
    eu_rmtree(g_dir);
}

/* Version 1 (no synced_upto) is still read, with its old rule (a valid
 * record after damage means corruption); an unknown version is refused. */
static void test_versions(void)
{
    char src[256], name[64];
    char *data = NULL;
    size_t len = 0, offs[NREC + 1];
    T_CHECK(t_tmpdir(src, sizeof src));
    T_CHECK(fast_tmpdir(g_dir, sizeof g_dir));
    T_EQ_INT(make_wal(src), 0);
    T_OK(read_wal(src, name, &data, &len));
    T_EQ_U64(rec_offsets(data, len, offs, NREC + 1), NREC);
    /* v1: [len u32][crc u32 of seq+payload][seq u64][payload] */
    char *v1 = ne_malloc(len);
    T_CHECK(v1 != NULL);
    memcpy(v1, data, 32);
    v1[4] = 1;
    st32(v1 + 28, ne_crc32c(0, v1, 28));
    size_t n1 = 32, v1_offs[NREC];
    for (size_t i = 0; i < NREC; i++) {
        size_t body = ld32(data + offs[i]) - 8;
        v1_offs[i] = n1;
        st32(v1 + n1, (uint32_t)body);
        memcpy(v1 + n1 + 8, data + offs[i] + 8, 8);
        memcpy(v1 + n1 + 16, data + offs[i] + 24, body);
        st32(v1 + n1 + 4, ne_crc32c(0, v1 + n1 + 8, 8 + body));
        n1 += 16 + body;
    }
    struct ne_store_opts o;
    eu_opts(&o, g_dir);
    struct ne_store *s = NULL;
    int bad = 0;
    plant_wal(g_dir, name, v1, n1);
    T_OK(ne_store_open(&o, &s));
    T_EQ_U64(count_points(s, &bad), NREC * PTS_PER_REC);
    T_EQ_INT(bad, 0);
    ne_store_close(&s);
    T_OK(verify_quiet(g_dir));

    v1[v1_offs[3] + 20] ^= 0x5a;
    plant_wal(g_dir, name, v1, n1);
    T_OK(ne_store_open(&o, &s));
    T_EQ_U64(count_points(s, &bad), 3 * PTS_PER_REC);
    ne_store_close(&s);
    T_EQ_INT(quarantined_in(g_dir), 1);

    data[4] = 3;
    st32(data + 28, ne_crc32c(0, data, 28));
    plant_wal(g_dir, name, data, len);
    T_EQ_INT(ne_store_open(&o, &s), NE_EVERSION);
    T_CHECK(s == NULL);
    ne_free(v1);
    ne_free(data);
    eu_rmtree(src);
    eu_rmtree(g_dir);
}

int main(void)
{
    ne_log_set_level(NE_LOG_OFF);
    T_RUN(test_inspect_and_verify_healthy);
    T_RUN(test_mid_file_corruption);
    T_RUN(test_torn_every_offset);
    T_RUN(test_writer_claims_synced_offset);
    T_RUN(test_hole_vs_durable_point);
    T_RUN(test_versions);
    T_RUN(test_switch_to_none);
    return t_done();
}
