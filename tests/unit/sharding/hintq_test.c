/*
 * hintq_test.c - the durable hint queue: append and read back in order,
 * the cursor across reopen, rolling and deleting drained files, a
 * crash-torn tail cut at open, a corrupt record skipped at read time, the
 * byte and age bounds with their counters, and acknowledgements racing
 * with drops.
 */
#include <stdio.h>
#include <string.h>

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

int main(void)
{
    T_RUN(test_append_peek_ack);
    T_RUN(test_cursor_survives_reopen);
    T_RUN(test_roll_and_delete);
    T_RUN(test_torn_tail_cut_at_open);
    T_RUN(test_corrupt_record_skipped);
    T_RUN(test_bound_by_bytes);
    T_RUN(test_bound_by_age);
    if (dir[0]) ne_fs_remove_tree(dir);
    return t_done();
}
