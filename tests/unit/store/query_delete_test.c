/*
 * query_delete_test.c - the InfluxQL statements that change data (DELETE,
 * DROP MEASUREMENT, DROP DATABASE) over a real store, the chunked JSON
 * answer (InfluxDB 1.x's chunked=true lines and "partial" marks), and the
 * streamed answer (ne_qstream): same bytes as the direct writer, bounded
 * buffer, a reader that goes away mid-answer.
 */
#include "engine_util.h"
#include "query_testlib.h"
#include "t.h"

#include "ports/log.h"
#include "store/query/query.h"

static char g_dir[256];

/* Runs q against s (default db "db") and returns the JSON answer (malloc'ed). */
static char *run(struct ne_store *s, const char *q, bool chunked, size_t chunk_size)
{
    struct ne_qwriter_opts wo = {
        .format = NE_QFMT_JSON, .epoch = "s", .chunked = chunked, .chunk_size = chunk_size};
    struct ne_qsrc src;
    ne_store_qsrc(s, &src);
    char *t = NULL;
    if (qt_query(&src, wo, q, &t)) {
        free(t);
        return NULL;
    }
    return t ? t : strdup("");
}

static bool has(const char *hay, const char *needle)
{
    bool ok = hay && strstr(hay, needle);
    if (!ok) fprintf(stderr, "    missing %s\n    in %s\n", needle, hay ? hay : "(null)");
    return ok;
}

/* m,dev=a and m,dev=b: x = 0..4 at t = 0..4 s; n,dev=a: x = 7 at 0 s. */
static struct ne_store *open_loaded(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    if (!s) return NULL;
    struct ne_batch b;
    ne_batch_init(&b);
    for (int i = 0; i < 5; i++) {
        eu_point_f(&b, "m", "dev", "a", "x", EU_T0 + i * EU_SEC, i);
        eu_point_f(&b, "m", "dev", "b", "x", EU_T0 + i * EU_SEC, 10 + i);
    }
    eu_point_f(&b, "n", "dev", "a", "x", EU_T0, 7);
    struct ne_write_result r;
    int rc = ne_store_write(s, "db", &b, &r);
    ne_batch_free(&b);
    if (rc) ne_store_close(&s);
    return s;
}

static void test_delete_statements(void)
{
    struct ne_store *s = open_loaded();
    T_CHECK(s);
    char *a = run(s, "DELETE FROM m WHERE x > 1", false, 0);
    T_CHECK(has(a, "\"error\":\"fields not supported in WHERE clause during deletion: \\\"x\\\" is "
                   "a field of m\""));
    free(a);
    a = run(s, "DELETE FROM m WHERE dev = 'a' AND time >= 1767225601s AND time < 1767225604s",
            false, 0);
    T_EQ_STR(a, "{\"results\":[{\"statement_id\":0}]}\n");
    free(a);
    a = run(s, "SELECT x FROM m WHERE dev = 'a'", false, 0);
    T_EQ_STR(a, "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"columns\":"
                "[\"time\",\"x\"],\"values\":[[1767225600,0],[1767225604,4]]}]}]}\n");
    free(a);
    /* without FROM: every measurement; without time: all of it */
    a = run(s, "DELETE WHERE dev = 'a'; SHOW SERIES; SELECT x FROM n", false, 0);
    T_EQ_STR(a, "{\"results\":[{\"statement_id\":0},{\"statement_id\":1,\"series\":[{\"columns\":"
                "[\"key\"],\"values\":[[\"m,dev=b\"]]}]},{\"statement_id\":2}]}\n");
    free(a);
    a = run(s, "DROP MEASUREMENT nosuch; DROP MEASUREMENT m; SHOW MEASUREMENTS; SELECT x FROM m",
            false, 0);
    T_EQ_STR(a, "{\"results\":[{\"statement_id\":0},{\"statement_id\":1},{\"statement_id\":2},"
                "{\"statement_id\":3}]}\n");
    free(a);
    a = run(s, "DROP DATABASE db; SHOW DATABASES; SELECT x FROM m; DROP DATABASE db", false, 0);
    T_EQ_STR(a, "{\"results\":[{\"statement_id\":0},{\"statement_id\":1,\"series\":[{\"name\":"
                "\"databases\",\"columns\":[\"name\"]}]},{\"statement_id\":2,\"error\":"
                "\"database not found: db\"},{\"statement_id\":3}]}\n");
    free(a);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

static void test_chunked_lines(void)
{
    struct ne_store *s = open_loaded();
    T_CHECK(s);
    char *a = run(s,
                  "SELECT x FROM m WHERE time <= 1767225602s GROUP BY dev; SHOW TAG KEYS; "
                  "SELECT x FROM nosuch",
                  true, 2);
    T_EQ_STR(
        a, "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"tags\":{\"dev\":"
           "\"a\"},\"columns\":[\"time\",\"x\"],\"values\":[[1767225600,0],[1767225601,1]],"
           "\"partial\":true}],\"partial\":true}]}\n"
           "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"tags\":{\"dev\":"
           "\"a\"},\"columns\":[\"time\",\"x\"],\"values\":[[1767225602,2]]}],\"partial\":true}]}\n"
           "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"tags\":{\"dev\":"
           "\"b\"},\"columns\":[\"time\",\"x\"],\"values\":[[1767225600,10],[1767225601,11]],"
           "\"partial\":true}],\"partial\":true}]}\n"
           "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"tags\":{\"dev\":"
           "\"b\"},\"columns\":[\"time\",\"x\"],\"values\":[[1767225602,12]]}]}]}\n"
           "{\"results\":[{\"statement_id\":1,\"series\":[{\"name\":\"m\",\"columns\":"
           "[\"tagKey\"],\"values\":[[\"dev\"]]}]}]}\n"
           "{\"results\":[{\"statement_id\":1,\"series\":[{\"name\":\"n\",\"columns\":"
           "[\"tagKey\"],\"values\":[[\"dev\"]]}]}]}\n"
           "{\"results\":[{\"statement_id\":2}]}\n");
    free(a);
    /* a series that fills its chunk exactly is not followed by an empty part */
    a = run(s, "SELECT x FROM n", true, 1);
    T_EQ_STR(a, "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"n\",\"columns\":"
                "[\"time\",\"x\"],\"values\":[[1767225600,7]]}]}]}\n");
    free(a);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* Reads a stream to its end in pieces of at most step bytes. */
static char *drain(struct ne_qstream *st, size_t step, long *last)
{
    struct qt_text t = {0};
    char buf[64];
    long n;
    while ((n = ne_qstream_read(st, buf, step < sizeof buf ? step : sizeof buf)) > 0)
        qt_text_emit(&t, buf, (size_t)n);
    *last = n;
    return t.p ? t.p : strdup("");
}

static struct ne_qstream *start(struct ne_store *s, const char *q, size_t max_buffered)
{
    struct ne_iql_query *pq = NULL;
    char err[256];
    if (ne_iql_parse(q, strlen(q), &pq, err, sizeof err)) return NULL;
    struct ne_qsrc src;
    ne_store_qsrc(s, &src);
    struct ne_query_opts qo = {.db = "db", .now_ns = EU_T0};
    struct ne_qstream_opts so = {
        .src = &src,
        .qopts = &qo,
        .wopts = {.format = NE_QFMT_JSON, .epoch = "s", .chunked = true, .chunk_size = 2},
        .max_buffered = max_buffered};
    struct ne_qstream *st = NULL;
    if (ne_qstream_start(&so, pq, &st)) {
        ne_iql_free(&pq);
        return NULL;
    }
    return st;
}

static void test_stream_same_bytes(void)
{
    struct ne_store *s = open_loaded();
    T_CHECK(s);
    const char *q = "SELECT x FROM m GROUP BY dev; SHOW TAG KEYS; SELECT nope FROM nosuch";
    char *want = run(s, q, true, 2);
    struct ne_qstream *st = start(s, q, 16); /* a tiny buffer: the query waits on the reader */
    T_CHECK(st);
    long last = 1;
    char *got = drain(st, 7, &last);
    ne_qstream_free(&st);
    T_CHECK(st == NULL);
    T_EQ_INT(last, 0);
    T_EQ_STR(got, want);
    free(got);
    free(want);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

static void test_stream_reader_gone(void)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    struct ne_store *s = NULL;
    T_OK(ne_store_open(&o, &s));
    struct ne_batch b;
    ne_batch_init(&b);
    for (int i = 0; i < 50000; i++)
        eu_point_f(&b, "m", "dev", "a", "x", EU_T0 + i * EU_SEC, i);
    struct ne_write_result r;
    T_OK(ne_store_write(s, "db", &b, &r));
    ne_batch_free(&b);
    /* 50,000 rows in chunks of 2 are far more than the 1 KiB buffer: the
     * query thread blocks until freed, which must stop and join it */
    struct ne_qstream *st = start(s, "SELECT x FROM m", 1024);
    T_CHECK(st);
    char buf[100];
    T_CHECK(ne_qstream_read(st, buf, sizeof buf) > 0);
    ne_qstream_free(&st);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

int main(void)
{
    ne_log_set_level(NE_LOG_ERROR);
    T_RUN(test_delete_statements);
    T_RUN(test_chunked_lines);
    T_RUN(test_stream_same_bytes);
    T_RUN(test_stream_reader_gone);
    return t_done();
}
