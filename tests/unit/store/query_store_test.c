/*
 * query_store_test.c - SELECT aggregates over a real store with many
 * series, where the executor reads half of the series on a second thread:
 * the answers equal those of a source that forbids it, and the counts and
 * sums worked out by hand. SHOW TAG VALUES read from the series index's
 * value lists answers, in every output format, exactly as the walk over
 * every series does (a source without the lists).
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
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    if (!s) return NULL;
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

/* Measurements a, b, c with tags k1..k3 whose values differ in length,
 * need JSON or CSV escapes or are not ASCII; then a DELETE of some series
 * and a DROP MEASUREMENT. */
static const char *const g_tvals[] = {
        "v",  "vv", "v1",       "v10",       "v2",       "q\"uote", "l<t",  "g>t",
        "a&b", "c,d", "\xc3\xbc", "12345678", "123456789", "abcdefghijklmnopqrstuvwxyz0123456789",
        "back\\slash", "tab\there", "sp ace", "long<value", "gt>gt", "amp&&amp", "ctl\x01ctl",
        "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", "seventeen<chars>!"};
#define NTVALS (sizeof g_tvals / sizeof *g_tvals)

static struct ne_store *open_tagged(void)
{
    static const char *const *vals = g_tvals;
    static const char *const keys[] = {"k1", "k2", "k3"};
    static const char *const meas[] = {"a", "b", "c"};
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    if (!s) return NULL;
    struct ne_batch b;
    ne_batch_init(&b);
    uint64_t rng = 12345;
    for (int i = 0; i < 500; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        ne_batch_begin(&b, ne_sv_c(meas[(rng >> 33) % 3]), EU_T0 + i * EU_SEC);
        for (int k = 0; k < 3; k++)
            if ((rng >> (40 + k)) & 3)
                ne_batch_tag(&b, ne_sv_c(keys[k]),
                             ne_sv_c(vals[(rng >> (20 + 5 * k)) % NTVALS]));
        ne_batch_field_f(&b, ne_sv_c("x"), i);
        ne_batch_end(&b);
    }
    for (size_t i = 0; i < NTVALS; i++) { /* d: every value once */
        ne_batch_begin(&b, ne_sv_c("d"), EU_T0);
        ne_batch_tag(&b, ne_sv_c("k"), ne_sv_c(vals[i]));
        ne_batch_field_f(&b, ne_sv_c("x"), 1);
        ne_batch_end(&b);
    }
    struct ne_write_result r;
    int rc = ne_store_write(s, "db", &b, &r);
    ne_batch_free(&b);
    struct ne_qsrc src;
    ne_store_qsrc(s, &src);
    char *t = NULL;
    if (!rc) rc = qt_query(&src, (struct ne_qwriter_opts){.format = NE_QFMT_JSON},
                           "DELETE FROM a WHERE k1 = 'v1'; DROP MEASUREMENT c", &t);
    free(t);
    if (rc) ne_store_close(&s);
    return s;
}

static const char *const tv_queries[] = {
    "SHOW TAG VALUES FROM a WITH KEY = \"k1\"",
    "SHOW TAG VALUES WITH KEY = \"k2\"",
    "SHOW TAG VALUES FROM a, b WITH KEY IN (\"k3\", \"k1\", \"k3\")",
    "SHOW TAG VALUES WITH KEY IN (\"k2\", \"k1\") LIMIT 7 OFFSET 9",
    "SHOW TAG VALUES FROM b WITH KEY IN (\"k2\", \"k1\") LIMIT 3 OFFSET 15",
    "SHOW TAG VALUES FROM b WITH KEY = \"k2\" OFFSET 100",
    "SHOW TAG VALUES FROM b WITH KEY = \"k2\" LIMIT 1",
    "SHOW TAG VALUES FROM a WITH KEY = \"nosuch\"",
    "SHOW TAG VALUES FROM nosuch WITH KEY = \"k1\"",
    "SHOW TAG VALUES FROM c WITH KEY = \"k1\"",
    "SHOW TAG VALUES FROM /[ab]/ WITH KEY = \"k3\"",
    "SHOW TAG VALUES FROM a WITH KEY != \"k1\"",
    "SHOW TAG VALUES FROM a WITH KEY =~ /k[12]/",
    "SHOW TAG VALUES WITH KEY !~ /2/ LIMIT 5 OFFSET 12",
    "SHOW TAG VALUES WITH KEY != \"k3\"",
    "SHOW TAG VALUES FROM b WITH KEY =~ /nothing/",
    "SHOW TAG VALUES FROM a WITH KEY = \"k1\" WHERE k2 = 'v'",
    "SHOW TAG VALUES FROM a WITH KEY = \"k1\"; SHOW TAG VALUES FROM b WITH KEY = \"k3\"",
    "SHOW TAG KEYS",
    "SHOW TAG KEYS FROM a LIMIT 1 OFFSET 1",
    "SHOW TAG KEYS FROM c",
    "SHOW TAG KEYS FROM d WHERE k = 'v'",
};

/* The answer of q over src in writer options wo (malloc'ed; "" when the
 * writer wrote nothing, as CSV does for no series), NULL on failure. */
static char *run_as(const struct ne_qsrc *src, struct ne_qwriter_opts wo, const char *q)
{
    char *t = NULL;
    if (qt_query(src, wo, q, &t)) {
        free(t);
        return NULL;
    }
    return t ? t : strdup("");
}

/* Appends s as a JSON string the way InfluxDB writes it (HTML-safe). */
static void json_str(char *out, size_t cap, const char *s)
{
    size_t n = strlen(out);
    n += (size_t)snprintf(out + n, cap - n, "\"");
    for (; *s && n + 8 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') n += (size_t)snprintf(out + n, cap - n, "\\%c", c);
        else if (c == '\n') n += (size_t)snprintf(out + n, cap - n, "\\n");
        else if (c == '\r') n += (size_t)snprintf(out + n, cap - n, "\\r");
        else if (c == '\t') n += (size_t)snprintf(out + n, cap - n, "\\t");
        else if (c < 0x20 || c == '<' || c == '>' || c == '&')
            n += (size_t)snprintf(out + n, cap - n, "\\u%04x", c);
        else out[n++] = (char)c, out[n] = 0;
    }
    snprintf(out + n, cap - n, "\"");
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void test_tag_values_from_index(void)
{
    struct ne_store *s = open_tagged();
    T_CHECK(s);
    if (!s) return;
    struct ne_qsrc idx, walk;
    ne_store_qsrc(s, &idx);
    T_CHECK(idx.tag_values != NULL);
    walk = idx;
    walk.tag_values = NULL;
    walk.tag_keys = NULL;
    const struct ne_qwriter_opts fmts[] = {
        {.format = NE_QFMT_JSON},
        {.format = NE_QFMT_JSON, .chunked = true, .chunk_size = 3},
        {.format = NE_QFMT_CSV},
        {.format = NE_QFMT_TABLE},
    };
    for (size_t f = 0; f < sizeof fmts / sizeof *fmts; f++)
        for (size_t i = 0; i < sizeof tv_queries / sizeof *tv_queries; i++) {
            char *a = run_as(&idx, fmts[f], tv_queries[i]);
            char *b = run_as(&walk, fmts[f], tv_queries[i]);
            T_CHECK(a && b);
            if (a && b) T_EQ_STR(a, b);
            free(a);
            free(b);
        }
    /* by hand: every value once, sorted, escaped */
    const char *sorted[NTVALS];
    memcpy(sorted, g_tvals, sizeof sorted);
    qsort(sorted, NTVALS, sizeof *sorted, cmp_cstr);
    char want[4096] = "\"values\":[";
    for (size_t i = 0; i < NTVALS; i++) {
        strcat(want, i ? ",[\"k\"," : "[\"k\",");
        json_str(want, sizeof want, sorted[i]);
        strcat(want, "]");
    }
    strcat(want, "]}");
    char *d = run_as(&idx, fmts[0], "SHOW TAG VALUES FROM d WITH KEY = \"k\"");
    bool found = d && strstr(d, want);
    if (!found) fprintf(stderr, "want %s\ngot  %s\n", want, d ? d : "(failed)");
    free(d);
    T_CHECK(found);
    /* escapes in the index's rows, the deleted value gone */
    char *a = run_as(&idx, fmts[0], tv_queries[0]);
    T_CHECK(a && strstr(a, "[\"k1\",\"l\\u003ct\"]") && strstr(a, "[\"k1\",\"q\\\"uote\"]"));
    T_CHECK(a && !strstr(a, "\"v1\"") && strstr(a, "[\"k1\",\"v10\"]"));
    free(a);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

int main(void)
{
    T_RUN(test_split_scans);
    T_RUN(test_tag_values_from_index);
    return t_done();
}
