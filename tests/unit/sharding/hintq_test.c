/*
 * hintq_test.c - the durable hint queue: append and read back in order,
 * the cursor across reopen, rolling and deleting drained files, a
 * crash-torn tail cut at open, a corrupt record skipped at read time, the
 * byte and age bounds with their counters, acknowledgements racing
 * with drops, the file count after a reopen, a cursor left past a lost
 * tail, a rolled file's name surviving a power cut, and the offline check
 * (`neoedge verify`).
 */
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "ports/crashsim.h"
#include "ports/crc32c.h"
#include "ports/err.h"
#include "ports/platform.h"
#include "sharding/hintq.h"
#include "t.h"

static char dir[256];

static struct ne_hintq *open_q(uint64_t file_bytes, uint64_t max_bytes, int64_t max_age, bool sync)
{
    struct ne_hintq_opts o = {.dir = dir,
                              .name = "peer-t",
                              .file_bytes = file_bytes,
                              .max_bytes = max_bytes,
                              .max_age_ns = max_age,
                              .sync = sync};
    struct ne_hintq *q = NULL;
    return ne_hintq_open(&o, &q) == 0 ? q : NULL;
}

static void fresh_dir(void)
{
    if (dir[0]) ne_fs_remove_tree(dir);
    T_CHECK(t_tmpdir(dir, sizeof dir) != NULL);
}

/* Appends record i: payload "rec-<i>" padded to 40 bytes, i+1 points. */
static int append_i(struct ne_hintq *q, int i, int64_t t)
{
    char p[40];
    memset(p, '.', sizeof p);
    int k = snprintf(p, sizeof p, "rec-%d", i);
    p[k] = '.';
    return ne_hintq_append(q, t, (uint32_t)i + 1, p, sizeof p);
}

static bool rec_is(const struct ne_hintq_batch *b, size_t k, int i)
{
    char want[16];
    int n = snprintf(want, sizeof want, "rec-%d.", i);
    return k < b->n && b->recs[k].len == 40 && memcmp(b->buf.p + b->recs[k].at, want, n) == 0 &&
           b->recs[k].points == (uint32_t)i + 1;
}

#define REC_BYTES (NE_HINTQ_REC_HDR + 40)

static void test_append_peek_ack(void)
{
    fresh_dir();
    struct ne_hintq *q = open_q(0, 0, 0, true);
    T_CHECK(q != NULL);
    for (int i = 0; i < 3; i++)
        T_OK(append_i(q, i, 1000 + i));
    struct ne_hintq_stats st;
    ne_hintq_stats(q, &st);
    T_EQ_U64(st.records, 3);
    T_EQ_U64(st.points, 1 + 2 + 3);
    T_EQ_U64(st.bytes, 3 * REC_BYTES);
    T_EQ_INT(st.oldest, 1000);
    struct ne_hintq_batch b = {0};
    T_OK(ne_hintq_peek(q, 1 << 20, &b));
    T_EQ_U64(b.n, 3);
    T_CHECK(rec_is(&b, 0, 0) && rec_is(&b, 1, 1) && rec_is(&b, 2, 2));
    T_EQ_U64(b.points, 6);
    /* a small limit still yields one record */
    T_OK(ne_hintq_peek(q, 1, &b));
    T_EQ_U64(b.n, 1);
    T_CHECK(rec_is(&b, 0, 0));
    T_OK(ne_hintq_ack(q, &b));
    ne_hintq_stats(q, &st);
    T_EQ_U64(st.records, 2);
    T_EQ_U64(st.points, 5);
    T_EQ_INT(st.oldest, 1001);
    T_OK(ne_hintq_peek(q, 1 << 20, &b));
    T_EQ_U64(b.n, 2);
    T_CHECK(rec_is(&b, 0, 1) && rec_is(&b, 1, 2));
    T_OK(ne_hintq_ack(q, &b));
    ne_hintq_stats(q, &st);
    T_EQ_U64(st.records, 0);
    T_EQ_U64(st.bytes, 0);
    T_EQ_INT(st.oldest, 0);
    T_OK(ne_hintq_peek(q, 1 << 20, &b));
    T_EQ_U64(b.n, 0);
    ne_hintq_batch_free(&b);
    ne_hintq_close(&q);
}

static void test_cursor_survives_reopen(void)
{
    fresh_dir();
    struct ne_hintq *q = open_q(0, 0, 0, false);
    T_CHECK(q != NULL);
    for (int i = 0; i < 4; i++)
        T_OK(append_i(q, i, 10 + i));
    struct ne_hintq_batch b = {0};
    T_OK(ne_hintq_peek(q, 2 * 40, &b));
    T_EQ_U64(b.n, 2);
    T_OK(ne_hintq_ack(q, &b));
    ne_hintq_close(&q); /* saves the cursor */
    q = open_q(0, 0, 0, false);
    T_CHECK(q != NULL);
    struct ne_hintq_stats st;
    ne_hintq_stats(q, &st);
    T_EQ_U64(st.records, 2);
    T_EQ_U64(st.points, 3 + 4);
    T_EQ_INT(st.oldest, 12);
    T_OK(ne_hintq_peek(q, 1 << 20, &b));
    T_EQ_U64(b.n, 2);
    T_CHECK(rec_is(&b, 0, 2) && rec_is(&b, 1, 3));
    /* appends after reopen go after the old records */
    T_OK(append_i(q, 4, 20));
    T_OK(ne_hintq_peek(q, 1 << 20, &b));
    T_EQ_U64(b.n, 3);
    T_CHECK(rec_is(&b, 2, 4));
    ne_hintq_batch_free(&b);
    ne_hintq_close(&q);
}

static void test_roll_and_delete(void)
{
    fresh_dir();
    /* two records per file */
    struct ne_hintq *q = open_q(NE_HINTQ_FILE_HDR + 2 * REC_BYTES, 0, 0, false);
    T_CHECK(q != NULL);
    for (int i = 0; i < 7; i++)
        T_OK(append_i(q, i, i + 1));
    struct ne_hintq_stats st;
    ne_hintq_stats(q, &st);
    T_EQ_U64(st.files, 4);
    T_EQ_U64(st.records, 7);
    struct ne_hintq_batch b = {0};
    T_OK(ne_hintq_peek(q, 5 * 40, &b)); /* spans three files */
    T_EQ_U64(b.n, 5);
    for (int i = 0; i < 5; i++)
        T_CHECK(rec_is(&b, (size_t)i, i));
    T_OK(ne_hintq_ack(q, &b));
    ne_hintq_stats(q, &st);
    T_EQ_U64(st.files, 2); /* the two drained files are gone */
    T_EQ_U64(st.records, 2);
    char path[400];
    snprintf(path, sizeof path, "%s/0000000000000001.hq", dir);
    T_CHECK(!ne_fs_exists(path));
    snprintf(path, sizeof path, "%s/0000000000000003.hq", dir);
    T_CHECK(ne_fs_exists(path));
    T_OK(ne_hintq_peek(q, 1 << 20, &b));
    T_EQ_U64(b.n, 2);
    T_CHECK(rec_is(&b, 0, 5) && rec_is(&b, 1, 6));
    ne_hintq_batch_free(&b);
    ne_hintq_close(&q);
}

/* Appends raw bytes to a file, as a crash in the middle of a write leaves. */
static int append_raw(const char *path, const void *p, size_t n)
{
    struct ne_file *f = NULL;
    int rc = ne_file_open(path, NE_F_WRITE, &f);
    if (rc == 0) rc = ne_file_append(f, p, n);
    ne_file_close(&f);
    return rc;
}

static void test_torn_tail_cut_at_open(void)
{
    fresh_dir();
    struct ne_hintq *q = open_q(0, 0, 0, true);
    T_CHECK(q != NULL);
    for (int i = 0; i < 3; i++)
        T_OK(append_i(q, i, 5));
    ne_hintq_close(&q);
    char path[400];
    snprintf(path, sizeof path, "%s/0000000000000001.hq", dir);
    uint64_t whole = 0;
    T_OK(ne_fs_file_size(path, &whole));
    /* a record header promising 40 bytes, and only 7 of them */
    uint8_t torn[NE_HINTQ_REC_HDR + 7] = {40, 0, 0, 0, 1, 2, 3, 4};
    T_OK(append_raw(path, torn, sizeof torn));
    q = open_q(0, 0, 0, true);
    T_CHECK(q != NULL);
    struct ne_hintq_stats st;
    ne_hintq_stats(q, &st);
    T_EQ_U64(st.records, 3);
    T_EQ_U64(st.truncated, sizeof torn);
    uint64_t now = 0;
    T_OK(ne_fs_file_size(path, &now));
    T_EQ_U64(now, whole);
    /* the queue goes on after the cut */
    T_OK(append_i(q, 3, 6));
    struct ne_hintq_batch b = {0};
    T_OK(ne_hintq_peek(q, 1 << 20, &b));
    T_EQ_U64(b.n, 4);
    T_CHECK(rec_is(&b, 3, 3));
    ne_hintq_close(&q);

    /* a whole last record whose bytes are wrong (CRC) is cut as well */
    uint8_t bad = 'X';
    struct ne_file *f = NULL;
    T_OK(ne_file_open(path, NE_F_WRITE, &f));
    T_OK(ne_file_pwrite(f, &bad, 1, whole + NE_HINTQ_REC_HDR + 10));
    ne_file_close(&f);
    q = open_q(0, 0, 0, true);
    T_CHECK(q != NULL);
    ne_hintq_stats(q, &st);
    T_EQ_U64(st.records, 3);
    T_EQ_U64(st.truncated, REC_BYTES);
    T_OK(ne_hintq_peek(q, 1 << 20, &b));
    T_EQ_U64(b.n, 3);
    T_CHECK(rec_is(&b, 2, 2));
    ne_hintq_batch_free(&b);
    ne_hintq_close(&q);
}

static void test_corrupt_record_skipped(void)
{
    fresh_dir();
    struct ne_hintq *q = open_q(NE_HINTQ_FILE_HDR + 2 * REC_BYTES, 0, 0, false);
    T_CHECK(q != NULL);
    for (int i = 0; i < 4; i++)
        T_OK(append_i(q, i, 7));
    T_OK(ne_hintq_sync(q));
    /* the disk flips a byte of record 0 while the queue is open */
    char path[400];
    snprintf(path, sizeof path, "%s/0000000000000001.hq", dir);
    struct ne_file *f = NULL;
    uint8_t bad = 'Z';
    T_OK(ne_file_open(path, NE_F_WRITE, &f));
    T_OK(ne_file_pwrite(f, &bad, 1, NE_HINTQ_FILE_HDR + NE_HINTQ_REC_HDR + 2));
    ne_file_close(&f);
    struct ne_hintq_batch b = {0};
    T_OK(ne_hintq_peek(q, 1 << 20, &b));
    /* records 0 and 1 (the rest of the damaged file) are given up */
    T_EQ_U64(b.n, 2);
    T_CHECK(rec_is(&b, 0, 2) && rec_is(&b, 1, 3));
    struct ne_hintq_stats st;
    ne_hintq_stats(q, &st);
    T_EQ_U64(st.dropped_corrupt, 1 + 2);
    T_EQ_U64(st.records, 2);
    T_CHECK(!ne_fs_exists(path));
    ne_hintq_batch_free(&b);
    ne_hintq_close(&q);
}

static void test_bound_by_bytes(void)
{
    fresh_dir();
    struct ne_hintq *q = open_q(NE_HINTQ_FILE_HDR + 2 * REC_BYTES, 3 * REC_BYTES, 0, false);
    T_CHECK(q != NULL);
    for (int i = 0; i < 5; i++)
        T_OK(append_i(q, i, 100 + i));
    struct ne_hintq_stats st;
    ne_hintq_stats(q, &st);
    T_EQ_U64(st.records, 3);
    T_EQ_U64(st.bytes, 3 * REC_BYTES);
    T_EQ_U64(st.dropped_bytes, 1 + 2); /* the two oldest, 1 and 2 points */
    T_EQ_INT(st.oldest, 102);
    struct ne_hintq_batch b = {0};
    T_OK(ne_hintq_peek(q, 1 << 20, &b));
    T_EQ_U64(b.n, 3);
    T_CHECK(rec_is(&b, 0, 2) && rec_is(&b, 2, 4));
    /* one record larger than the whole budget is refused */
    char big[4 * REC_BYTES] = {0};
    T_EQ_INT(ne_hintq_append(q, 1, 1, big, sizeof big), NE_ETOOBIG);
    /* trim to one record */
    T_EQ_U64(ne_hintq_trim(q, REC_BYTES), 3 + 4);
    ne_hintq_stats(q, &st);
    T_EQ_U64(st.records, 1);
    T_EQ_U64(st.dropped_bytes, 1 + 2 + 3 + 4);
    /* acknowledging the batch read before the trim counts nothing twice */
    T_OK(ne_hintq_ack(q, &b));
    ne_hintq_stats(q, &st);
    T_EQ_U64(st.records, 0);
    T_EQ_U64(st.points, 0);
    T_EQ_U64(st.bytes, 0);
    ne_hintq_batch_free(&b);
    ne_hintq_close(&q);
}

static void test_bound_by_age(void)
{
    fresh_dir();
    struct ne_hintq *q = open_q(0, 0, 1000, false);
    T_CHECK(q != NULL);
    T_OK(append_i(q, 0, 1000));
    T_OK(append_i(q, 1, 2000));
    T_OK(append_i(q, 2, 5000));
    T_EQ_U64(ne_hintq_expire(q, 2900), 1); /* 1000 is older than 1900 */
    T_EQ_U64(ne_hintq_expire(q, 3500), 2); /* 2000 is older than 2500 */
    T_EQ_U64(ne_hintq_expire(q, 3500), 0);
    struct ne_hintq_stats st;
    ne_hintq_stats(q, &st);
    T_EQ_U64(st.records, 1);
    T_EQ_U64(st.dropped_age, 3);
    T_EQ_INT(st.oldest, 5000);
    ne_hintq_close(&q);
    /* the drop is remembered across a reopen (the cursor moved) */
    q = open_q(0, 0, 1000, false);
    T_CHECK(q != NULL);
    ne_hintq_stats(q, &st);
    T_EQ_U64(st.records, 1);
    T_EQ_U64(st.appended, 0);
    ne_hintq_close(&q);
}

/* Files on disk in dir with the .hq suffix. */
static int count_hq(void *ctx, const char *name, bool is_dir)
{
    size_t n = strlen(name);
    if (!is_dir && n > 3 && strcmp(name + n - 3, ".hq") == 0) ++*(uint64_t *)ctx;
    return 0;
}

static void test_files_counted_after_reopen(void)
{
    fresh_dir();
    struct ne_hintq *q = open_q(NE_HINTQ_FILE_HDR + 2 * REC_BYTES, 0, 0, true);
    T_CHECK(q != NULL);
    T_OK(append_i(q, 0, 1));
    T_OK(append_i(q, 1, 2));
    struct ne_hintq_batch b = {0};
    T_OK(ne_hintq_peek(q, 1 << 20, &b));
    T_OK(ne_hintq_ack(q, &b)); /* the cursor ends the only file: it stays */
    T_OK(append_i(q, 2, 3));   /* rolls to a second file */
    ne_hintq_close(&q);
    /* the reopen finds the first file drained and deletes it */
    q = open_q(NE_HINTQ_FILE_HDR + 2 * REC_BYTES, 0, 0, true);
    T_CHECK(q != NULL);
    struct ne_hintq_stats st;
    ne_hintq_stats(q, &st);
    uint64_t on_disk = 0;
    T_OK(ne_fs_list_dir(dir, count_hq, &on_disk));
    T_EQ_U64(on_disk, 1);
    T_EQ_U64(st.files, on_disk);
    T_EQ_U64(st.records, 1);
    ne_hintq_batch_free(&b);
    ne_hintq_close(&q);
}

/* Writes the cursor file as the queue does (hintq.h). */
static int write_cursor(uint64_t seq, uint64_t off)
{
    uint8_t c[28] = {'N', 'E', 'H', 'C', 1};
    for (int k = 0; k < 8; k++) {
        c[8 + k] = (uint8_t)(seq >> (8 * k));
        c[16 + k] = (uint8_t)(off >> (8 * k));
    }
    uint32_t crc = ne_crc32c(0, c, 24);
    for (int k = 0; k < 4; k++)
        c[24 + k] = (uint8_t)(crc >> (8 * k));
    char path[400];
    snprintf(path, sizeof path, "%s/cursor", dir);
    return ne_fs_write_atomic(path, c, sizeof c);
}

static void test_cursor_past_a_lost_tail(void)
{
    fresh_dir();
    struct ne_hintq *q = open_q(0, 0, 0, false);
    T_CHECK(q != NULL);
    T_OK(append_i(q, 0, 1));
    T_OK(append_i(q, 1, 2));
    ne_hintq_close(&q);
    /* A power cut after a cursor save that acknowledged four records of
     * which only two reached the disk: the cursor is past the file's end. */
    T_OK(write_cursor(1, NE_HINTQ_FILE_HDR + 4 * REC_BYTES));
    q = open_q(0, 0, 0, false);
    T_CHECK(q != NULL);
    struct ne_hintq_stats st;
    ne_hintq_stats(q, &st);
    T_EQ_U64(st.records, 0);
    /* records appended now start where the file ends, before that cursor;
     * a close with nothing acknowledged must not leave it behind */
    for (int i = 2; i < 6; i++)
        T_OK(append_i(q, i, 10 + i));
    ne_hintq_close(&q);
    q = open_q(0, 0, 0, false);
    T_CHECK(q != NULL);
    ne_hintq_stats(q, &st);
    T_EQ_U64(st.records, 4);
    T_EQ_U64(st.truncated, 0);
    struct ne_hintq_batch b = {0};
    T_OK(ne_hintq_peek(q, 1 << 20, &b));
    T_EQ_U64(b.n, 4);
    T_CHECK(rec_is(&b, 0, 2) && rec_is(&b, 3, 5));
    ne_hintq_batch_free(&b);
    ne_hintq_close(&q);
}

/* Child: appends across two rolls without opts.sync, syncs, loses power
 * with every directory operation since arming undone unless fsync'ed. */
static int rolled_then_cut(void)
{
    struct ne_crashsim_opts co = {.seed = 7, .dir_policy = NE_CRASHSIM_DIR_UNDO_ALL};
    if (ne_crashsim_arm(&co) != 0) return 2;
    struct ne_hintq *q = open_q(NE_HINTQ_FILE_HDR + 2 * REC_BYTES, 0, 0, false);
    if (!q) return 3;
    for (int i = 0; i < 5; i++)
        if (append_i(q, i, 100 + i) != 0) return 4;
    if (ne_hintq_sync(q) != 0) return 5; /* all five are durable now */
    ne_crashsim_crash_now();
}

static void test_rolled_file_survives_power_cut(void)
{
    fresh_dir();
    fflush(stderr);
    pid_t pid = fork();
    T_CHECK(pid >= 0);
    if (pid == 0) _exit(rolled_then_cut());
    int st = 0;
    T_CHECK(waitpid(pid, &st, 0) == pid);
    T_CHECK(WIFEXITED(st));
    T_EQ_INT(WEXITSTATUS(st), NE_CRASHSIM_EXIT);
    struct ne_hintq *q = open_q(NE_HINTQ_FILE_HDR + 2 * REC_BYTES, 0, 0, false);
    T_CHECK(q != NULL);
    struct ne_hintq_batch b = {0};
    T_OK(ne_hintq_peek(q, 1 << 20, &b));
    T_EQ_U64(b.n, 5);
    T_CHECK(rec_is(&b, 0, 0) && rec_is(&b, 2, 2) && rec_is(&b, 4, 4));
    ne_hintq_batch_free(&b);
    ne_hintq_close(&q);
}

/* ne_hintq_verify_dir into a memory stream; the report goes to *rep. */
static int verify_q(char **rep)
{
    size_t n = 0;
    FILE *f = open_memstream(rep, &n);
    if (!f) return NE_ENOMEM;
    int rc = ne_hintq_verify_dir(dir, f);
    fclose(f);
    return rc;
}

static void test_verify_dir(void)
{
    fresh_dir();
    char *rep = NULL;
    T_EQ_INT(verify_q(&rep), 0); /* an empty directory */
    free(rep);
    struct ne_hintq *q = open_q(NE_HINTQ_FILE_HDR + 2 * REC_BYTES, 0, 0, true);
    T_CHECK(q != NULL);
    for (int i = 0; i < 5; i++)
        T_OK(append_i(q, i, 1 + i));
    struct ne_hintq_batch b = {0};
    T_OK(ne_hintq_peek(q, 3 * 40, &b));
    T_OK(ne_hintq_ack(q, &b)); /* the cursor ends up inside the second file */
    ne_hintq_batch_free(&b);
    ne_hintq_close(&q);
    T_EQ_INT(verify_q(&rep), 0);
    T_CHECK(strstr(rep, "0000000000000002.hq: ok, 1 records from offset") != NULL);
    T_CHECK(strstr(rep, "0000000000000003.hq: ok, 1 records") != NULL);
    free(rep);
    /* a torn tail is reported, then cut by the next open */
    char path[400];
    snprintf(path, sizeof path, "%s/0000000000000003.hq", dir);
    uint8_t torn[NE_HINTQ_REC_HDR + 3] = {40};
    T_OK(append_raw(path, torn, sizeof torn));
    T_EQ_INT(verify_q(&rep), NE_ECORRUPT);
    T_CHECK(strstr(rep, "0000000000000003.hq: 1 whole records, then a torn or corrupt one") !=
            NULL);
    free(rep);
    q = open_q(NE_HINTQ_FILE_HDR + 2 * REC_BYTES, 0, 0, true);
    T_CHECK(q != NULL);
    ne_hintq_close(&q);
    T_EQ_INT(verify_q(&rep), 0);
    free(rep);
    /* a corrupt cursor */
    snprintf(path, sizeof path, "%s/cursor", dir);
    T_OK(ne_fs_write_atomic(path, "NEHC-not-a-cursor", 17));
    T_EQ_INT(verify_q(&rep), NE_ECORRUPT);
    T_CHECK(strstr(rep, "cursor: corrupt") != NULL);
    free(rep);
}

int main(void)
{
    T_RUN(test_append_peek_ack);
    T_RUN(test_cursor_survives_reopen);
    T_RUN(test_roll_and_delete);
    T_RUN(test_torn_tail_cut_at_open);
    T_RUN(test_corrupt_record_skipped);
    T_RUN(test_bound_by_bytes);
    T_RUN(test_bound_by_age);
    T_RUN(test_files_counted_after_reopen);
    T_RUN(test_cursor_past_a_lost_tail);
    T_RUN(test_rolled_file_survives_power_cut);
    T_RUN(test_verify_dir);
    if (dir[0]) ne_fs_remove_tree(dir);
    return t_done();
}
