/*
 * engine_lww_test.c - last-writer-wins versions through the whole store:
 * for one (series, field, timestamp) the greatest version wins in the
 * memtable, at flush, when a read merges memtable and segments, in
 * compaction, and after WAL replay; equal versions go to the larger value
 * (store/lww.h), unversioned writes count as version 0 and the newest of
 * them wins; two stores that receive the same versioned writes in
 * opposite orders read the same, also when the versions tie (floats,
 * integers, strings; in the memtable, at flush, in a read merging a
 * segment and the memtable, after compaction).
 */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine_util.h"
#include "ports/log.h"
#include "t.h"

static char g_root[256];

/* What one scan of m/x returned, by timestamp slot (ts = EU_T0 + k s). */
#define NK 4
struct got {
    int64_t v[NK];
    uint64_t ver[NK];
    bool have[NK];
    int bad;
};

static int collect(void *ctx, const struct ne_scan_chunk *c)
{
    struct got *g = ctx;
    for (size_t i = 0; i < c->n; i++) {
        int64_t k = (c->ts[i] - EU_T0) / EU_SEC;
        if (k < 0 || k >= NK || g->have[k] || c->type != NE_V_INT) {
            g->bad++;
            continue;
        }
        g->have[k] = true;
        g->v[k] = c->v.i[i];
        g->ver[k] = c->ver ? c->ver[i] : 0;
    }
    return 0;
}

/* A failed scan shows as bad > 0 (and no slot), which every check sees. */
static struct got read_all(struct ne_store *s)
{
    struct got g = {0};
    struct ne_store_scan_req q = {
        .db = "iot", .measurement = "m", .field = "x", .t0 = INT64_MIN, .t1 = INT64_MAX};
    if (ne_store_scan(s, &q, collect, &g))
        g.bad++;
    return g;
}

/* Writes x=v at slot k with version ver (0: an unversioned write). */
static void put(struct ne_store *s, int k, int64_t v, uint64_t ver)
{
    struct ne_batch b;
    struct ne_write_result res;
    ne_batch_init(&b);
    eu_point_i(&b, "m", "dev", "a", "x", EU_T0 + k * EU_SEC, v);
    if (ver)
        T_OK(ne_store_write_versioned(s, "iot", &b, &ver, &res));
    else
        T_OK(ne_store_write(s, "iot", &b, &res));
    T_EQ_INT(res.accepted, 1);
    ne_batch_free(&b);
}

/* NULL on failure: the callers' first check then fails. */
static struct ne_store *open_store(const char *name)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", g_root, name);
    struct ne_store_opts o;
    eu_opts(&o, dir);
    struct ne_store *s = NULL;
    int rc = ne_store_open(&o, &s);
    if (rc)
        fprintf(stderr, "open %s: %s\n", dir, ne_strerror(rc));
    return s;
}

static uint64_t segments(struct ne_store *s)
{
    struct ne_store_stats st;
    ne_store_stats(s, &st);
    return st.segments;
}

#define CHECK_AT(g, k, val, version)                                                              \
    do {                                                                                          \
        T_EQ_INT((g).bad, 0);                                                                     \
        T_CHECK((g).have[k]);                                                                     \
        T_EQ_INT((g).v[k], (val));                                                                \
        T_EQ_U64((g).ver[k], (version));                                                          \
    } while (0)

static void test_memtable(void)
{
    struct ne_store *s = open_store("mem");
    T_CHECK(s != NULL);
    put(s, 0, 1, 200);
    put(s, 0, 2, 100); /* older version arriving later: loses */
    CHECK_AT(read_all(s), 0, 1, 200);
    put(s, 0, 3, 200); /* equal version: the larger value */
    CHECK_AT(read_all(s), 0, 3, 200);
    put(s, 0, 2, 200); /* ... whichever came last */
    CHECK_AT(read_all(s), 0, 3, 200);
    put(s, 0, 4, 0); /* unversioned counts as 0 */
    CHECK_AT(read_all(s), 0, 3, 200);
    /* an unversioned column stays unversioned in reads */
    put(s, 1, 7, 0);
    put(s, 1, 8, 0);
    CHECK_AT(read_all(s), 1, 8, 200 * 0);
    ne_store_close(&s);
}

/* Flush writes the winner and its version into the segment; a read that
 * merges segments and memtable applies the versions across them. */
static void test_flush_and_read_merge(void)
{
    struct ne_store *s = open_store("flush");
    T_CHECK(s != NULL);
    put(s, 0, 1, 200);
    put(s, 0, 2, 100);
    put(s, 1, 5, 0);
    T_OK(ne_store_flush(s));
    T_EQ_U64(segments(s), 1);
    struct got g = read_all(s);
    CHECK_AT(g, 0, 1, 200);
    CHECK_AT(g, 1, 5, 0);
    put(s, 0, 3, 150); /* memtable older than the segment's version */
    put(s, 1, 6, 0);   /* unversioned: newest wins as before */
    g = read_all(s);
    CHECK_AT(g, 0, 1, 200);
    CHECK_AT(g, 1, 6, 0);
    put(s, 0, 4, 250);
    CHECK_AT(read_all(s), 0, 4, 250);
    ne_store_close(&s);
}

/* Compaction: an older segment holding the greater version keeps it. */
static void test_compaction(void)
{
    struct ne_store *s = open_store("compact");
    T_CHECK(s != NULL);
    put(s, 0, 10, 900);
    put(s, 1, 20, 100);
    T_OK(ne_store_flush(s));
    put(s, 0, 11, 800);
    put(s, 1, 21, 200);
    put(s, 2, 30, 0);
    T_OK(ne_store_flush(s));
    put(s, 2, 31, 0);
    put(s, 3, 40, 5);
    T_OK(ne_store_flush(s));
    T_EQ_U64(segments(s), 3);
    struct got before = read_all(s);
    T_OK(ne_store_compact(s));
    T_EQ_U64(segments(s), 1);
    struct got g = read_all(s);
    CHECK_AT(g, 0, 10, 900);
    CHECK_AT(g, 1, 21, 200);
    CHECK_AT(g, 2, 31, 0);
    CHECK_AT(g, 3, 40, 5);
    for (int k = 0; k < NK; k++)
        T_EQ_INT(before.v[k], g.v[k]);
    ne_store_close(&s);
    /* and after a reopen */
    s = open_store("compact");
    T_CHECK(s != NULL);
    CHECK_AT(read_all(s), 0, 10, 900);
    ne_store_close(&s);
}

/* WAL replay: versions come back from version 2 records. */
static void test_replay(void)
{
    pid_t pid = fork();
    if (pid == 0) {
        struct ne_store *s = open_store("replay");
        if (!s)
            _exit(2);
        put(s, 0, 1, 500);
        put(s, 0, 2, 400);
        put(s, 1, 3, 0);
        put(s, 2, 4, 7);
        put(s, 2, 5, 0);
        _exit(t_done()); /* as if killed: nothing flushed */
    }
    int st = 0;
    waitpid(pid, &st, 0);
    T_CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    struct ne_store *s = open_store("replay");
    T_CHECK(s != NULL);
    struct got g = read_all(s);
    CHECK_AT(g, 0, 1, 500);
    CHECK_AT(g, 1, 3, 0);
    CHECK_AT(g, 2, 4, 7);
    ne_store_close(&s);
}

/* Two replicas receiving the same writes in opposite orders converge. */
static void test_order_independent(void)
{
    struct ne_store *a = open_store("ra"), *b = open_store("rb");
    T_CHECK(a && b);
    static const struct {
        int k;
        int64_t v;
        uint64_t ver;
    } w[] = {{0, 1, 300}, {0, 2, 301}, {1, 3, 50}, {1, 4, 49}, {2, 5, 10}, {0, 6, 299}};
    size_t n = sizeof w / sizeof w[0];
    for (size_t i = 0; i < n; i++) {
        put(a, w[i].k, w[i].v, w[i].ver);
        put(b, w[n - 1 - i].k, w[n - 1 - i].v, w[n - 1 - i].ver);
        if (i == 2)
            T_OK(ne_store_flush(b)); /* different memtable/segment split too */
    }
    struct got ga = read_all(a), gb = read_all(b);
    for (int k = 0; k < 3; k++) {
        T_CHECK(ga.have[k] && gb.have[k]);
        T_EQ_INT(ga.v[k], gb.v[k]);
        T_EQ_U64(ga.ver[k], gb.ver[k]);
    }
    CHECK_AT(ga, 0, 2, 301);
    CHECK_AT(ga, 1, 3, 50);
    ne_store_close(&a);
    ne_store_close(&b);
}

/* ---- ties: equal versions, different values --------------------------------- */

/* One write of fields i (int), f (float) and s (string) at slot k. */
struct tw {
    int64_t i;
    double f;
    const char *s;
};

static void put_tw(struct ne_store *s, int k, const struct tw *w, uint64_t ver)
{
    struct ne_batch b;
    struct ne_write_result res;
    ne_batch_init(&b);
    ne_batch_begin(&b, NE_SV("m"), EU_T0 + k * EU_SEC);
    ne_batch_tag(&b, NE_SV("dev"), NE_SV("a"));
    ne_batch_field(&b, NE_SV("i"), NE_V_INT, (union ne_value){.i = w->i});
    ne_batch_field_f(&b, NE_SV("f"), w->f);
    ne_batch_field(&b, NE_SV("s"), NE_V_STRING, (union ne_value){.s = ne_sv_c(w->s)});
    ne_batch_end(&b);
    T_OK(ne_store_write_versioned(s, "iot", &b, &ver, &res));
    T_EQ_INT(res.accepted, 1);
    ne_batch_free(&b);
}

/* Checks that s holds, at slot k, the values of want. */
static void check_tw(struct ne_store *s, int k, const struct tw *want)
{
    struct eu_rows r = {0};
    static const char *const fields[3] = {"i", "f", "s"};
    for (int f = 0; f < 3; f++) {
        T_OK(eu_scan(s, "iot", "m", fields[f], &r));
        size_t at = r.n;
        for (size_t j = 0; j < r.n; j++)
            if (r.ts[j] == EU_T0 + k * EU_SEC) at = j;
        T_CHECK(at < r.n);
        if (at == r.n) continue;
        if (f == 0) T_EQ_INT((int64_t)r.f[at], want->i);
        if (f == 1) T_CHECK(r.f[at] == want->f);
        if (f == 2) T_CHECK(r.s[at] && strcmp(r.s[at], want->s) == 0);
    }
    eu_rows_free(&r);
}

/* Pairs of writes with one version; per field the larger value wins: by
 * the unsigned 64-bit pattern (so -3 > 5 and -1.0 > 2.5), strings byte by
 * byte with a prefix first. Slot 0: the second write wins every field;
 * slot 1: the first wins the numbers, the second the string. */
static const struct tw tie_a[2] = {{5, 2.5, "ab"}, {9, 0.5, "abc"}};
static const struct tw tie_b[2] = {{-3, -1.0, "abc"}, {7, 0.25, "abd"}};
static const struct tw tie_win[2] = {{-3, -1.0, "abc"}, {9, 0.5, "abd"}};
#define TIE_VER 0x0123456789abcd01ULL

/* mode 0: both writes in the memtable; 1: a flush between them (a read
 * merges segment and memtable), then a flush and a compaction; 2: both
 * in the memtable, then a flush. Stores a and b get them in opposite
 * orders; both read the winners at every step. */
static void tie_run(int mode, const char *na, const char *nb)
{
    struct ne_store *st[2] = {open_store(na), open_store(nb)};
    T_CHECK(st[0] && st[1]);
    if (!st[0] || !st[1]) return;
    for (int r = 0; r < 2; r++) {
        for (int k = 0; k < 2; k++)
            put_tw(st[r], k, r == 0 ? &tie_a[k] : &tie_b[k], TIE_VER);
        if (mode == 1) T_OK(ne_store_flush(st[r]));
        for (int k = 0; k < 2; k++)
            put_tw(st[r], k, r == 0 ? &tie_b[k] : &tie_a[k], TIE_VER);
        for (int k = 0; k < 2; k++)
            check_tw(st[r], k, &tie_win[k]);
        if (mode == 0) continue;
        T_OK(ne_store_flush(st[r]));
        for (int k = 0; k < 2; k++)
            check_tw(st[r], k, &tie_win[k]);
        if (mode != 1) continue;
        T_EQ_U64(segments(st[r]), 2);
        T_OK(ne_store_compact(st[r]));
        T_EQ_U64(segments(st[r]), 1);
        for (int k = 0; k < 2; k++)
            check_tw(st[r], k, &tie_win[k]);
    }
    ne_store_close(&st[0]);
    ne_store_close(&st[1]);
}

static void test_ties_memtable(void)
{
    tie_run(0, "tie-mem-a", "tie-mem-b");
}

static void test_ties_flush(void)
{
    tie_run(2, "tie-flush-a", "tie-flush-b");
}

static void test_ties_merge_and_compaction(void)
{
    tie_run(1, "tie-merge-a", "tie-merge-b");
}

/* An unversioned overwrite keeps the old rule: the later write wins,
 * even when its value is smaller. */
static void test_unversioned_later_wins(void)
{
    struct ne_store *s = open_store("unv");
    T_CHECK(s != NULL);
    put(s, 0, 9, 0);
    put(s, 0, 4, 0);
    CHECK_AT(read_all(s), 0, 4, 0);
    T_OK(ne_store_flush(s));
    put(s, 0, 2, 0);
    CHECK_AT(read_all(s), 0, 2, 0);
    T_OK(ne_store_flush(s));
    T_OK(ne_store_compact(s));
    CHECK_AT(read_all(s), 0, 2, 0);
    ne_store_close(&s);
}

int main(void)
{
    ne_log_set_level(NE_LOG_OFF);
    if (!t_tmpdir(g_root, sizeof g_root))
        return 1;
    T_RUN(test_memtable);
    T_RUN(test_flush_and_read_merge);
    T_RUN(test_compaction);
    T_RUN(test_replay);
    T_RUN(test_order_independent);
    T_RUN(test_ties_memtable);
    T_RUN(test_ties_flush);
    T_RUN(test_ties_merge_and_compaction);
    T_RUN(test_unversioned_later_wins);
    eu_rmtree(g_root);
    return t_done();
}
