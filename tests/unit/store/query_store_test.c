/*
 * query_store_test.c - SELECT aggregates over a real store with many
 * series, where the executor reads half of the series on a second thread:
 * the answers equal those of a source that forbids it, and the counts and
 * sums worked out by hand.
 */
#include "engine_util.h"
#include "query_testlib.h"
#include "t.h"

#include "store/query/query.h"

static char g_dir[256];

#define NSERIES 300
#define NPOINTS 600 /* one per second: 10 one-minute buckets */

/* The JSON answer of q over src (malloc'ed), NULL on failure. */
static char *run(const struct ne_qsrc *src, const char *q)
{
    char *t = NULL;
    if (qt_query(src, (struct ne_qwriter_opts){.format = NE_QFMT_JSON, .epoch = "s"}, q, &t)) {
        free(t);
        return NULL;
    }
    return t;
}

/* m,d=NNN,g=K x=(i % 4) * 0.5 (exact in binary: sums do not depend on
 * their order), y=i (int), in two segments and a memtable. */
static struct ne_store *open_loaded(void)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    struct ne_store *s = NULL;
    if (ne_store_open(&o, &s)) return NULL;
    struct ne_batch b;
    ne_batch_init(&b);
    static char dvs[NSERIES][8], gvs[NSERIES][4]; /* the batch borrows tag text */
    int rc = 0;
    for (int part = 0; rc == 0 && part < 3; part++) {
        ne_batch_reset(&b);
        for (int d = 0; d < NSERIES; d++) {
            char *dv = dvs[d], *gv = gvs[d];
            snprintf(dv, sizeof dvs[d], "%03d", d);
            snprintf(gv, sizeof gvs[d], "%d", d % 3);
            for (int i = part * NPOINTS / 3; i < (part + 1) * NPOINTS / 3; i++) {
                ne_batch_begin(&b, ne_sv_c("m"), EU_T0 + i * EU_SEC);
                ne_batch_tag(&b, ne_sv_c("d"), ne_sv_c(dv));
                ne_batch_tag(&b, ne_sv_c("g"), ne_sv_c(gv));
                ne_batch_field_f(&b, ne_sv_c("x"), (i % 4) * 0.5);
                union ne_value y = {.i = i};
                ne_batch_field(&b, ne_sv_c("y"), NE_V_INT, y);
                ne_batch_end(&b);
            }
        }
        struct ne_write_result r;
        rc = ne_store_write(s, "db", &b, &r);
        if (rc == 0 && part < 2) rc = ne_store_flush(s);
    }
    ne_batch_free(&b);
    if (rc) ne_store_close(&s);
    return s;
}

static const char *const queries[] = {
    /* one group: the series split in two, accumulators merged */
    "SELECT count(x), sum(x), mean(x), min(x), max(x), first(y), last(y), spread(y), sum(y) "
    "FROM m WHERE time >= '2026-01-01T00:00:00Z' AND time < '2026-01-01T00:10:00Z' "
    "GROUP BY time(1m)",
    /* many groups: the groups split in two */
    "SELECT max(x), min(y), count(y), mean(x) FROM m WHERE time >= '2026-01-01T00:00:00Z' "
    "AND time < '2026-01-01T00:10:00Z' GROUP BY time(5m), d",
    "SELECT sum(y) FROM m WHERE time >= '2026-01-01T00:00:00Z' GROUP BY g",
    /* value lists: not split for one group */
    "SELECT median(x), percentile(y, 90) FROM m WHERE time >= '2026-01-01T00:00:00Z' "
    "AND time < '2026-01-01T00:10:00Z' GROUP BY time(5m)",
};

static void test_split_scans(void)
{
    struct ne_store *s = open_loaded();
    T_CHECK(s);
    struct ne_qsrc par, ser;
    ne_store_qsrc(s, &par);
    T_CHECK(par.parallel_scan);
    ser = par;
    ser.parallel_scan = false;
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        char *a = run(&par, queries[i]), *b = run(&ser, queries[i]);
        T_CHECK(a && b);
        if (a && b) T_EQ_STR(a, b);
        free(a);
        free(b);
    }
    /* by hand: each minute holds 60 points of each of the 300 series; x
     * cycles through 0, 0.5, 1, 1.5 (45 a minute), y = i */
    char *a = run(&par, queries[0]);
    T_CHECK(a && strstr(a, "[1767225600,18000,13500,0.75,0,1.5,0,59,59,531000]"));
    T_CHECK(a && strstr(a, "[1767226140,18000,13500,0.75,0,1.5,540,599,59,10251000]"));
    free(a);
    /* group g=0 holds 100 series; sum of y over one series: 599*600/2 */
    a = run(&par, queries[2]);
    T_CHECK(a && strstr(a, "\"tags\":{\"g\":\"0\"},\"columns\":[\"time\",\"sum\"],"
                           "\"values\":[[1767225600,17970000]]"));
    free(a);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

int main(void)
{
    T_RUN(test_split_scans);
    return t_done();
}
