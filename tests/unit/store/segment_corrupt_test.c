/*
 * segment_corrupt_test.c - damaged segment files are always detected:
 * every single-byte change anywhere in a small segment (header, blocks,
 * footer, tail) makes ne_seg_verify fail and makes the reader return an
 * error (at open or at the damaged block), never crash (ASan/UBSan);
 * every truncation and appended garbage is refused at open.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "ports/log.h"
#include "ports/platform.h"
#include "segment_testlib.h"
#include "t.h"

static char g_dir[256];
static char *g_good;
static size_t g_len;

/* Builds a small segment with every type and several blocks per column. */
static int make_small(char *path, size_t n)
{
    static const uint8_t types[] = {NE_V_FLOAT, NE_V_INT, NE_V_UINT, NE_V_BOOL, NE_V_STRING};
    static const char *const fields[] = {"f", "i", "u", "b", "s"};
    struct tl_col cols[5];
    for (int k = 0; k < 5; k++)
        tl_fill(&cols[k], 1 + (uint64_t)(k / 2), fields[k], types[k], 24, 1000, 10);
    /* keys must ascend: (1,f) (1,i) (2,b) (2,u) (3,s) */
    struct tl_col order[5] = {cols[0], cols[1], cols[3], cols[2], cols[4]};
    order[2].sid = 2;
    order[3].sid = 2;
    order[4].sid = 3;
    const char *dbs[] = {"db"};
    struct ne_segw_opts o = {.block_points = 10, .dbs = dbs, .ndbs = 1,
                             .wal_seq_min = 1, .wal_seq_max = 2};
    int rc = tl_write(g_dir, 1, order, 5, &o, NULL);
    for (int k = 0; k < 5; k++)
        tl_free(&cols[k]);
    if (!rc)
        rc = ne_seg_path(path, n, g_dir, 1);
    return rc;
}

/* Writes a damaged copy (no fsync: the copies are throwaway). Unlinking
 * first makes a new file rather than truncating the old one, which some
 * file systems (ext4 auto_da_alloc) answer with a flush at close. */
static int put_file(const char *path, const void *buf, size_t n)
{
    unlink(path);
    FILE *f = fopen(path, "wb");
    if (!f)
        return NE_EIO;
    size_t w = n ? fwrite(buf, 1, n, f) : 0;
    return (fclose(f) == 0 && w == n) ? 0 : NE_EIO;
}

/* Opens path and reads every block; returns the first error (0 if all
 * reads succeeded). */
static int read_everything(const char *path)
{
    struct ne_seg *r;
    int rc = ne_seg_open(path, &r);
    if (rc)
        return rc;
    struct ne_seg_block blk;
    ne_seg_block_init(&blk);
    const struct ne_seg_info *i = ne_seg_info(r);
    for (uint32_t c = 0; c < i->ncols && !rc; c++)
        for (uint32_t b = 0; b < ne_seg_col(r, c)->nblocks && !rc; b++)
            rc = ne_seg_block_read(r, c, b, &blk);
    ne_seg_block_free(&blk);
    ne_seg_close(&r);
    return rc;
}

static bool is_data_error(int rc)
{
    return rc == NE_ECORRUPT || rc == NE_ECHECKSUM || rc == NE_EVERSION;
}

static void test_pristine_is_fine(void)
{
    char path[512], why[256];
    T_OK(make_small(path, sizeof path));
    T_OK(ne_fs_read_all(path, &g_good, &g_len));
    T_CHECK(g_len > 200);
    fprintf(stderr, "  segment under test: %zu bytes\n", g_len);
    T_OK(ne_seg_verify(path, why, sizeof why));
    T_OK(read_everything(path));
}

static void flip_all(uint8_t mask)
{
    char path[512];
    snprintf(path, sizeof path, "%s/flip.seg", g_dir);
    char *buf = malloc(g_len);
    size_t verify_missed = 0, read_missed = 0;
    for (size_t i = 0; i < g_len; i++) {
        memcpy(buf, g_good, g_len);
        buf[i] = (char)(buf[i] ^ mask);
        if (put_file(path, buf, g_len) != 0)
            T_FAIL_("cannot write %s", path);
        int v = ne_seg_verify(path, NULL, 0);
        if (!is_data_error(v)) {
            fprintf(stderr, "  byte %zu ^ 0x%02x: verify returned %d\n", i, mask, v);
            verify_missed++;
        }
        if (!is_data_error(read_everything(path)))
            read_missed++;
    }
    free(buf);
    T_EQ_U64(verify_missed, 0);
    T_EQ_U64(read_missed, 0);
}

static void test_flip_every_byte(void)
{
    T_CHECK(g_good != NULL);
    flip_all(0x01);
    flip_all(0x80);
    flip_all(0xff);
}

static void test_truncated(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/trunc.seg", g_dir);
    for (size_t n = 0; n < g_len; n++) {
        T_OK(put_file(path, g_good, n));
        struct ne_seg *r = NULL;
        int rc = ne_seg_open(path, &r);
        if (!is_data_error(rc))
            T_FAIL_("truncated to %zu bytes: open returned %d", n, rc);
        T_CHECK(r == NULL);
        T_CHECK(ne_seg_verify(path, NULL, 0) != 0);
    }
}

static void test_trailing_garbage(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/long.seg", g_dir);
    char *buf = malloc(g_len + 64);
    memcpy(buf, g_good, g_len);
    for (size_t extra = 1; extra <= 64; extra++) {
        memset(buf + g_len, (int)extra, extra);
        T_OK(put_file(path, buf, g_len + extra));
        T_CHECK(is_data_error(read_everything(path)));
    }
    /* the tail copied to the end again (a duplicated write) */
    memcpy(buf + g_len, g_good + g_len - 40, 40);
    T_OK(put_file(path, buf, g_len + 40));
    T_CHECK(is_data_error(read_everything(path)));
    free(buf);
}

/* Random multi-byte damage: overwritten runs and swapped ranges. */
static void test_random_damage(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/rand.seg", g_dir);
    char *buf = malloc(g_len);
    for (int round = 0; round < 1000; round++) {
        memcpy(buf, g_good, g_len);
        size_t at = tl_rand() % g_len, run = 1 + tl_rand() % 16;
        for (size_t k = at; k < at + run && k < g_len; k++)
            buf[k] = (char)tl_rand();
        if (memcmp(buf, g_good, g_len) == 0)
            continue;
        T_OK(put_file(path, buf, g_len));
        T_CHECK(ne_seg_verify(path, NULL, 0) != 0);
        T_CHECK(is_data_error(read_everything(path)));
    }
    free(buf);
}

static void test_not_a_segment(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/zero.seg", g_dir);
    char zeros[4096] = {0};
    T_OK(put_file(path, zeros, sizeof zeros));
    T_CHECK(is_data_error(read_everything(path)));
    snprintf(path, sizeof path, "%s/missing.seg", g_dir);
    struct ne_seg *r;
    T_EQ_INT(ne_seg_open(path, &r), NE_ENOTFOUND);
    char why[128] = "";
    T_CHECK(ne_seg_verify(path, why, sizeof why) != 0);
    T_CHECK(why[0] != '\0');
}

int main(void)
{
    ne_log_set_level(NE_LOG_OFF);
    if (!t_tmpdir(g_dir, sizeof g_dir))
        return 1;
    T_RUN(test_pristine_is_fine);
    T_RUN(test_flip_every_byte);
    T_RUN(test_truncated);
    T_RUN(test_trailing_garbage);
    T_RUN(test_random_damage);
    T_RUN(test_not_a_segment);
    ne_free(g_good);
    ne_fs_remove_tree(g_dir);
    return t_done();
}
