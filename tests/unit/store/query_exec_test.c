/* Tests of the InfluxQL executor over a small in-memory source: meta
 * queries, raw selects, aggregates with GROUP BY time and tags, fill,
 * transformations, limits, and the JSON/CSV writers. Expected answers are
 * worked out by hand from the data below. */
#include "store/query/query.h"

#include "ports/err.h"
#include "ports/platform.h"
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "t.h"

/* Data: measurement "env" in db "iot", two series, t = 0..5 s.
 *   series 1: site=a,device=d1  temp = 10,11,12,13,14,15  n (int) = 1..6
 *   series 2: site=b,device=d2  temp = 20,22,24 at t = 0,2,4 s; st = "ok"
 */
#define S 1000000000LL

struct col {
    uint64_t sid;
    const char *field;
    enum ne_vtype type;
    int64_t ts[8];
    double f[8];
    int64_t i[8];
    const char *s[8];
    size_t n;
};

static const struct col cols[] = {
    {1, "n", NE_V_INT, {0, S, 2 * S, 3 * S, 4 * S, 5 * S}, {0}, {1, 2, 3, 4, 5, 6}, {0}, 6},
    {1, "temp", NE_V_FLOAT, {0, S, 2 * S, 3 * S, 4 * S, 5 * S}, {10, 11, 12, 13, 14, 15}, {0},
     {0}, 6},
    {2, "st", NE_V_STRING, {0, 2 * S, 4 * S}, {0}, {0}, {"ok", "ok", "warn"}, 3},
    {2, "temp", NE_V_FLOAT, {0, 2 * S, 4 * S}, {20, 22, 24}, {0}, {0}, 3},
};

static int m_dbs(void *ctx, ne_qsrc_name_fn fn, void *arg)
{
    return fn(arg, "iot");
}

static int m_meas(void *ctx, const char *db, ne_qsrc_name_fn fn, void *arg)
{
    return strcmp(db, "iot") == 0 ? fn(arg, "env") : 0;
}

static int m_series(void *ctx, const char *db, const char *meas, ne_qsrc_series_fn fn, void *arg)
{
    if (strcmp(meas, "env") != 0)
        return 0;
    struct ne_tag t1[2] = {{NE_SV("device"), NE_SV("d1")}, {NE_SV("site"), NE_SV("a")}};
    struct ne_tag t2[2] = {{NE_SV("device"), NE_SV("d2")}, {NE_SV("site"), NE_SV("b")}};
    struct ne_qsrc_series s1 = {1, t1, 2}, s2 = {2, t2, 2};
    int rc = fn(arg, &s1);
    return rc ? rc : fn(arg, &s2);
}

static int m_fields(void *ctx, const char *db, const char *meas, ne_qsrc_field_fn fn, void *arg)
{
    int rc = fn(arg, "n", NE_V_INT);
    if (!rc)
        rc = fn(arg, "st", NE_V_STRING);
    if (!rc)
        rc = fn(arg, "temp", NE_V_FLOAT);
    return rc;
}

static int m_scan(void *ctx, const char *db, const char *meas, const uint64_t *ids, size_t nids,
                  const char *field, enum ne_vtype type, int64_t t0, int64_t t1,
                  ne_qsrc_points_fn pfn, ne_qsrc_block_fn bfn, void *arg)
{
    for (size_t c = 0; c < sizeof cols / sizeof cols[0]; c++) {
        const struct col *k = &cols[c];
        bool wanted = false;
        for (size_t j = 0; j < nids; j++)
            wanted |= ids[j] == k->sid;
        if (!wanted || strcmp(k->field, field) != 0)
            continue;
        /* one run per column, as the store delivers a chunk */
        size_t i = 0, j;
        while (i < k->n && k->ts[i] < t0)
            i++;
        for (j = i; j < k->n && k->ts[j] <= t1;)
            j++;
        if (j == i)
            continue;
        struct ne_sv sv[8];
        for (size_t m = i; m < j; m++)
            sv[m] = k->s[m] ? ne_sv_c(k->s[m]) : (struct ne_sv){"", 0};
        const void *vals = type == NE_V_FLOAT ? (const void *)(k->f + i)
                           : type == NE_V_INT ? (const void *)(k->i + i)
                                              : (const void *)(sv + i);
        int rc = pfn(arg, k->sid, k->ts + i, vals, j - i);
        if (rc)
            return rc;
    }
    return 0;
}

static const struct ne_qsrc src = {.databases = m_dbs, .measurements = m_meas,
                                   .series = m_series, .fields = m_fields, .scan = m_scan};

struct sink {
    char buf[16384];
    size_t n;
};

static int emit(void *ctx, const char *p, size_t n)
{
    struct sink *s = ctx;
    if (s->n + n >= sizeof s->buf)
        return -1;
    memcpy(s->buf + s->n, p, n);
    s->n += n;
    s->buf[s->n] = 0;
    return 0;
}

static const char *run(const char *q, enum ne_qfmt fmt, const char *epoch)
{
    static struct sink s;
    s.n = 0;
    s.buf[0] = 0;
    struct ne_qwriter_opts wo = {.format = fmt, .epoch = epoch, .emit = emit, .emit_ctx = &s};
    struct ne_qwriter *w = NULL;
    if (ne_qwriter_new(&wo, &w) != 0)
        return "writer failed";
    struct ne_query_opts qo = {.db = "iot", .now_ns = 10 * S};
    ne_query_text(&src, &qo, q, strlen(q), ne_qwriter_out(w));
    ne_qwriter_finish(w);
    ne_qwriter_free(&w);
    return s.buf;
}

static const char *json(const char *q)
{
    return run(q, NE_QFMT_JSON, "s");
}

static void test_meta(void)
{
    T_EQ_STR(json("SHOW DATABASES"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"databases\","
             "\"columns\":[\"name\"],\"values\":[[\"iot\"]]}]}]}\n");
    T_EQ_STR(json("SHOW MEASUREMENTS"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"measurements\","
             "\"columns\":[\"name\"],\"values\":[[\"env\"]]}]}]}\n");
    T_EQ_STR(json("SHOW TAG VALUES FROM env WITH KEY = \"site\" WHERE device = 'd2'"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"key\",\"value\"],\"values\":[[\"site\",\"b\"]]}]}]}\n");
    T_EQ_STR(json("SHOW FIELD KEYS"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"fieldKey\",\"fieldType\"],\"values\":[[\"n\",\"integer\"],[\"st\",\"string\"],"
             "[\"temp\",\"float\"]]}]}]}\n");
    T_EQ_STR(json("SHOW SERIES"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"columns\":[\"key\"],\"values\":"
             "[[\"env,device=d1,site=a\"],[\"env,device=d2,site=b\"]]}]}]}\n");
    /* the pairs arrive out of order: device, site, device, site */
    T_EQ_STR(json("SHOW TAG VALUES FROM env WITH KEY IN (\"site\", \"device\")"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"key\",\"value\"],\"values\":[[\"device\",\"d1\"],[\"device\",\"d2\"],"
             "[\"site\",\"a\"],[\"site\",\"b\"]]}]}]}\n");
    T_EQ_STR(json("SHOW TAG VALUES FROM env WITH KEY = \"device\""),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"key\",\"value\"],\"values\":[[\"device\",\"d1\"],[\"device\",\"d2\"]]}]}]}\n");
    T_EQ_STR(json("SHOW TAG VALUES FROM env WITH KEY =~ /e/ LIMIT 2 OFFSET 1"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"key\",\"value\"],\"values\":[[\"device\",\"d2\"],[\"site\",\"a\"]]}]}]}\n");
    T_EQ_STR(json("SHOW TAG VALUES FROM env WITH KEY = \"dev\""), "{\"results\":[{\"statement_id\":0}]}\n");
    T_EQ_STR(json("SHOW TAG KEYS; SHOW MEASUREMENTS ON nope"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"tagKey\"],\"values\":[[\"device\"],[\"site\"]]}]},{\"statement_id\":1,"
             "\"error\":\"database not found: nope\"}]}\n");
}

static void test_raw(void)
{
    T_EQ_STR(json("SELECT temp, site FROM env WHERE time >= 3s AND temp > 13"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"time\",\"temp\",\"site\"],\"values\":[[4,14,\"a\"],[4,24,\"b\"],[5,15,\"a\"]]}]}]}\n");
    T_EQ_STR(json("SELECT * FROM env WHERE site = 'b' ORDER BY time DESC LIMIT 2"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"time\",\"device\",\"n\",\"site\",\"st\",\"temp\"],\"values\":"
             "[[4,\"d2\",null,\"b\",\"warn\",24],[2,\"d2\",null,\"b\",\"ok\",22]]}]}]}\n");
    T_EQ_STR(run("SELECT temp FROM env WHERE device = 'd2' AND time = 2s", NE_QFMT_JSON, NULL),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"time\",\"temp\"],\"values\":[[\"1970-01-01T00:00:02Z\",22]]}]}]}\n");
}

static void test_aggregates(void)
{
    /* all 9 temps: 10..15, 20, 22, 24 -> sum 141, mean 15.666.. */
    T_EQ_STR(json("SELECT count(temp), sum(temp), min(temp), max(temp), spread(temp) FROM env"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"time\",\"count\",\"sum\",\"min\",\"max\",\"spread\"],\"values\":"
             "[[0,9,141,10,24,14]]}]}]}\n");
    /* a single selector returns the point's own time */
    T_EQ_STR(json("SELECT max(temp) FROM env"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"time\",\"max\"],\"values\":[[4,24]]}]}]}\n");
    T_EQ_STR(json("SELECT median(temp), mode(st), percentile(temp, 50) FROM env"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"time\",\"median\",\"mode\",\"percentile\"],\"values\":[[0,14,\"ok\",14]]}]}]}\n");
    /* integer sums stay integers; mean is a float */
    T_EQ_STR(json("SELECT sum(n), mean(n), first(n), last(n) FROM env"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"time\",\"sum\",\"mean\",\"first\",\"last\"],\"values\":[[0,21,3.5,1,6]]}]}]}\n");
    T_EQ_STR(json("SELECT mean(temp) * 2 + 1 AS x FROM env WHERE site = 'a'"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"time\",\"x\"],\"values\":[[0,26]]}]}]}\n");
}

static void test_group_by(void)
{
    T_EQ_STR(json("SELECT mean(temp) FROM env WHERE time >= 0s AND time < 6s GROUP BY "
                  "time(2s), site"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"tags\":"
             "{\"site\":\"a\"},\"columns\":[\"time\",\"mean\"],\"values\":[[0,10.5],[2,12.5],"
             "[4,14.5]]},{\"name\":\"env\",\"tags\":{\"site\":\"b\"},\"columns\":[\"time\","
             "\"mean\"],\"values\":[[0,20],[2,22],[4,24]]}]}]}\n");
    /* fill: series b has no point in [1s,2s) buckets of 1s */
    T_EQ_STR(json("SELECT count(temp), max(temp) FROM env WHERE site='b' AND time >= 0s AND "
                  "time <= 2s GROUP BY time(1s)"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"time\",\"count\",\"max\"],\"values\":[[0,1,20],[1,0,null],[2,1,22]]}]}]}\n");
    T_EQ_STR(json("SELECT max(temp) FROM env WHERE site='b' AND time >= 0s AND time <= 4s "
                  "GROUP BY time(1s) fill(linear)"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"time\",\"max\"],\"values\":[[0,20],[1,21],[2,22],[3,23],[4,24]]}]}]}\n");
    T_EQ_STR(json("SELECT max(temp) FROM env WHERE site='b' AND time >= 0s AND time <= 2s "
                  "GROUP BY time(1s) fill(none)"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"time\",\"max\"],\"values\":[[0,20],[2,22]]}]}]}\n");
    T_EQ_STR(json("SELECT max(temp) FROM env WHERE site='b' AND time >= 0s AND time <= 2s "
                  "GROUP BY time(1s) fill(previous)"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"time\",\"max\"],\"values\":[[0,20],[1,20],[2,22]]}]}]}\n");
    T_EQ_STR(json("SELECT max(temp) FROM env WHERE site='b' AND time >= 0s AND time <= 2s "
                  "GROUP BY time(1s) fill(-1)"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"time\",\"max\"],\"values\":[[0,20],[1,-1],[2,22]]}]}]}\n");
    T_EQ_STR(json("SELECT last(temp) FROM env GROUP BY * SLIMIT 1 SOFFSET 1"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"tags\":"
             "{\"device\":\"d2\",\"site\":\"b\"},\"columns\":[\"time\",\"last\"],\"values\":"
             "[[4,24]]}]}]}\n");
}

static void test_column_names(void)
{
    T_EQ_STR(json("SELECT max(temp), max(temp), max(temp), mean(temp) * 2 FROM env"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"time\",\"max\",\"max_1\",\"max_2\",\"mean\"],\"values\":"
             "[[0,24,24,24,31.333333333333332]]}]}]}\n");
}

static void test_transforms(void)
{
    /* derivative of the per-2s mean of site a: (12.5-10.5)/2s per 2s interval = 2 */
    T_EQ_STR(json("SELECT derivative(mean(temp)) FROM env WHERE site='a' AND time >= 0s AND "
                  "time < 6s GROUP BY time(2s)"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"time\",\"derivative\"],\"values\":[[2,2],[4,2]]}]}]}\n");
    T_EQ_STR(json("SELECT difference(temp), moving_average(temp, 2) FROM env WHERE site = 'b'"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"time\",\"difference\",\"moving_average\"],\"values\":[[2,2,21],[4,2,23]]}]}]}\n");
    T_EQ_STR(json("SELECT non_negative_derivative(temp, 1s) FROM env WHERE site = 'b'"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"time\",\"non_negative_derivative\"],\"values\":[[2,1],[4,1]]}]}]}\n");
}

static void test_errors(void)
{
    T_EQ_STR(json("SELECT mean(temp), temp FROM env"),
             "{\"results\":[{\"statement_id\":0,\"error\":\"mixing aggregate and non-aggregate "
             "queries is not supported\"}]}\n");
    T_EQ_STR(json("SELECT top(temp, 3) FROM env"),
             "{\"results\":[{\"statement_id\":0,\"error\":\"function top() is not supported by "
             "neoedge yet\"}]}\n");
    T_EQ_STR(json("SELECT mean(st) FROM env"),
             "{\"results\":[{\"statement_id\":0,\"error\":\"unsupported mean iterator type: "
             "string field \\\"st\\\"\"}]}\n");
    T_EQ_STR(json("SELEC 1"),
             "{\"results\":[{\"statement_id\":0,\"error\":\"found SELEC, expected SELECT, "
             "DELETE, SHOW, CREATE, DROP at line 1, char 1\"}]}\n");
    T_EQ_STR(json("SELECT site FROM env"), "{\"results\":[{\"statement_id\":0}]}\n");
}

static void test_csv_and_table(void)
{
    T_EQ_STR(run("SELECT temp FROM env WHERE site = 'b' AND time <= 2s GROUP BY site",
                 NE_QFMT_CSV, NULL),
             "name,tags,time,temp\nenv,site=b,0,20\nenv,site=b,2000000000,22\n");
    T_EQ_STR(run("SHOW DATABASES", NE_QFMT_TABLE, NULL), "name: databases\nname\n----\niot\n");
}

struct pieces {
    struct sink s;
    int calls;
};

static int emit_piece(void *ctx, const char *p, size_t n)
{
    struct pieces *pc = ctx;
    pc->calls++;
    return emit(&pc->s, p, n);
}

/* chunked CSV: the text of the unchunked answer, handed out every
 * chunk_size rows (and at each statement's end) rather than at the end. */
static void test_csv_chunked(void)
{
    const char *q = "SELECT temp FROM env WHERE time <= 2s; SELECT n FROM env WHERE time < 1s";
    char whole[1024];
    snprintf(whole, sizeof whole, "%s", run(q, NE_QFMT_CSV, NULL));
    static struct pieces pc;
    struct ne_qwriter_opts wo = {.format = NE_QFMT_CSV, .emit = emit_piece, .emit_ctx = &pc,
                                 .chunked = true, .chunk_size = 2};
    struct ne_qwriter *w = NULL;
    T_OK(ne_qwriter_new(&wo, &w));
    struct ne_query_opts qo = {.db = "iot", .now_ns = 10 * S};
    T_OK(ne_query_text(&src, &qo, q, strlen(q), ne_qwriter_out(w)));
    int before_finish = pc.calls;
    T_OK(ne_qwriter_finish(w));
    ne_qwriter_free(&w);
    T_EQ_STR(pc.s.buf, whole);
    /* 5 rows in the first statement (the two series merged by time), 1 in
     * the second:
     * out after rows 2 and 4, at the end of statement 1, then at the end
     * of statement 2 */
    T_EQ_STR(whole, "name,tags,time,temp\nenv,,0,10\nenv,,0,20\nenv,,1000000000,11\n"
                    "env,,2000000000,12\nenv,,2000000000,22\n\nname,tags,time,n\nenv,,0,1\n");
    T_EQ_INT(before_finish, 4);
}

static void test_formats(void)
{
    char b[64];
    ne_query_format_float(21.37, b, sizeof b);
    T_EQ_STR(b, "21.37");
    ne_query_format_float(1e21, b, sizeof b);
    T_EQ_STR(b, "1e+21");
    ne_query_format_float(123456789012345680000.0, b, sizeof b);
    T_EQ_STR(b, "123456789012345680000");
    ne_query_format_float(0.000001, b, sizeof b);
    T_EQ_STR(b, "0.000001");
    ne_query_format_float(1.5e-7, b, sizeof b);
    T_EQ_STR(b, "1.5e-7");
    ne_query_format_float(-0.1, b, sizeof b);
    T_EQ_STR(b, "-0.1");
    ne_query_format_float(100, b, sizeof b);
    T_EQ_STR(b, "100");
    ne_query_format_float(0.30000000000000004, b, sizeof b);
    T_EQ_STR(b, "0.30000000000000004");
    ne_query_format_time(1767225600500000000LL, b, sizeof b);
    T_EQ_STR(b, "2026-01-01T00:00:00.5Z");
    ne_query_format_time(-1, b, sizeof b);
    T_EQ_STR(b, "1969-12-31T23:59:59.999999999Z");
}

/* The fewest significant digits (%.*g) that read back as v. */
static int shortest_len(double v)
{
    char t[64];
    for (int p = 1; p < 17; p++) {
        snprintf(t, sizeof t, "%.*g", p, v);
        if (strtod(t, NULL) == v)
            return p;
    }
    return 17;
}

/* Significant digits in a decimal text ("-0.00120" -> 3, "1.5e-7" -> 2). */
static int sig_digits(const char *s)
{
    int n = 0, lead = 1, trail = 0;
    for (; *s && *s != 'e'; s++) {
        if (*s < '0' || *s > '9')
            continue;
        if (lead && *s == '0')
            continue;
        lead = 0;
        n++;
        trail = *s == '0' ? trail + 1 : 0;
    }
    /* zeros before the point of an integer count as padding */
    return n - trail > 0 ? n - trail : n;
}

/* Floats of every magnitude the plain form covers, short decimals (the
 * usual sensor readings) and arbitrary bit patterns: each text reads back
 * exactly and has no more significant digits than needed. */
static void test_float_text(void)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    size_t bad_rt = 0, bad_len = 0;
    for (int i = 0; i < 200000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        double v;
        if (i % 2) {
            int k = (int)(x % 12);
            v = (double)(int64_t)((x >> 8) % 100000000) / pow(10, k);
        } else {
            uint64_t bits = x;
            memcpy(&v, &bits, sizeof v);
            if (isnan(v) || isinf(v) || fabs(v) < 1e-6 || fabs(v) >= 1e15)
                continue;
        }
        if (x & 1 << 20)
            v = -v;
        char b[64];
        ne_query_format_float(v, b, sizeof b);
        if (strtod(b, NULL) != v)
            bad_rt++;
        else if (v != 0 && sig_digits(b) > shortest_len(v))
            bad_len++;
    }
    T_EQ_U64(bad_rt, 0);
    T_EQ_U64(bad_len, 0);
    T_EQ_STR(json("SELECT max(n) FROM env WHERE site = 'a'"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"time\",\"max\"],\"values\":[[5,6]]}]}]}\n");
    T_EQ_STR(run("SELECT min(n) FROM env", NE_QFMT_JSON, "ns"),
             "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"env\",\"columns\":"
             "[\"time\",\"min\"],\"values\":[[0,1]]}]}]}\n");
}

/* Rows of strings, plain and needing escapes, through the JSON writer
 * directly: a row written in one go and a row that falls back to escaping
 * give the same text as ever. */
static void test_json_string_rows(void)
{
    struct sink s = {0};
    struct ne_qwriter_opts wo = {.format = NE_QFMT_JSON, .emit = emit, .emit_ctx = &s};
    struct ne_qwriter *w = NULL;
    T_OK(ne_qwriter_new(&wo, &w));
    const struct ne_qout *o = ne_qwriter_out(w);
    const char *names[2] = {"key", "value"};
    struct ne_qcell plain[2] = {{.type = NE_QC_STRING}, {.type = NE_QC_STRING}};
    plain[0].v.s = ne_sv_c("k");
    plain[1].v.s = ne_sv_c("v-1");
    struct ne_qcell esc[2] = {{.type = NE_QC_STRING}, {.type = NE_QC_STRING}};
    esc[0].v.s = ne_sv_c("k");
    esc[1].v.s = ne_sv_c("a\"b<c>\\&\n");
    struct ne_qcell mixed[2] = {{.type = NE_QC_STRING}, {.type = NE_QC_INT}};
    mixed[0].v.s = ne_sv_c("");
    mixed[1].v.i = 7;
    T_OK(o->begin_statement(o->ctx, 0));
    T_OK(o->begin_series(o->ctx, "m", NULL, 0, names, 2));
    T_OK(o->row(o->ctx, esc, 2));
    T_OK(o->row(o->ctx, plain, 2));
    T_OK(o->row(o->ctx, mixed, 2));
    T_OK(o->end_series(o->ctx));
    T_OK(o->end_statement(o->ctx, NULL));
    T_OK(ne_qwriter_finish(w));
    ne_qwriter_free(&w);
    T_EQ_STR(s.buf, "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\",\"columns\":"
                    "[\"key\",\"value\"],\"values\":[[\"k\",\"a\\\"b\\u003cc\\u003e\\\\\\u0026\\n\"],"
                    "[\"k\",\"v-1\"],[\"\",7]]}]}]}\n");
}

/* Each byte that needs escaping, at each place of a 16-byte value, is
 * escaped: the row writer's path for plain strings gives way to the
 * escaping one wherever the byte is. */
static void test_json_escape_positions(void)
{
    static const char specials[] = "\"\\<>&\x01\x1f\n";
    static const char *const escs[] = {"\\\"", "\\\\", "\\u003c", "\\u003e",
                                       "\\u0026", "\\u0001", "\\u001f", "\\n"};
    for (size_t k = 0; k < sizeof specials - 1; k++) {
        for (size_t pos = 0; pos < 16; pos++) {
            char v[17] = "abcdefghijklmnop", want[64];
            v[pos] = specials[k];
            snprintf(want, sizeof want, "\"%.*s%s%s\"", (int)pos, "abcdefghijklmnop", escs[k],
                     "abcdefghijklmnop" + pos + 1);
            struct sink s = {0};
            struct ne_qwriter_opts wo = {.format = NE_QFMT_JSON, .emit = emit, .emit_ctx = &s};
            struct ne_qwriter *w = NULL;
            T_OK(ne_qwriter_new(&wo, &w));
            const struct ne_qout *o = ne_qwriter_out(w);
            const char *names[1] = {"value"};
            struct ne_qcell c = {.type = NE_QC_STRING};
            c.v.s = (struct ne_sv){v, 16};
            T_OK(o->begin_statement(o->ctx, 0));
            T_OK(o->begin_series(o->ctx, "m", NULL, 0, names, 1));
            T_OK(o->row(o->ctx, &c, 1));
            T_OK(o->end_series(o->ctx));
            T_OK(o->end_statement(o->ctx, NULL));
            T_OK(ne_qwriter_finish(w));
            ne_qwriter_free(&w);
            T_CHECK(strstr(s.buf, want) != NULL);
        }
    }
}

/* An emit target that grows: the whole text, NUL-terminated, in p. */
struct growing {
    char *p;
    size_t n, cap;
    bool failed;
};

static int emit_growing(void *ctx, const char *p, size_t n)
{
    struct growing *g = ctx;
    if (g->n + n + 1 > g->cap) {
        size_t cap = (g->n + n + 1) * 2;
        char *b = realloc(g->p, cap);
        if (!b) {
            g->failed = true;
            return -1;
        }
        g->p = b;
        g->cap = cap;
    }
    memcpy(g->p + g->n, p, n);
    g->n += n;
    g->p[g->n] = 0;
    return 0;
}

/* rows_str2 (SHOW TAG VALUES' rows) and row by row, for values of every
 * length from 1 to 40 (the checks of 4 to 7, 8 to 16 and over 16 bytes)
 * with each byte that needs escaping, and a byte of UTF-8, at each place:
 * both writers give the text escaped byte by byte here. */
static void test_rows_str2_lengths(void)
{
    static const char specials[] = "\"\\<>&\x01\x1f\n\xc3";
    enum { NV = 40 * 40 * (sizeof specials - 1) + 40 };
    static char vals[NV][41];
    static struct ne_sv second[NV];
    size_t n = 0;
    for (size_t len = 1; len <= 40; len++) {
        memset(vals[n], 'a' + (char)(len % 26), len);
        second[n] = (struct ne_sv){vals[n], len};
        n++;
        for (size_t pos = 0; pos < len; pos++)
            for (size_t k = 0; k < sizeof specials - 1; k++) {
                memset(vals[n], 'q', len);
                vals[n][pos] = specials[k];
                second[n] = (struct ne_sv){vals[n], len};
                n++;
            }
    }
    const char *names[2] = {"key", "value"};
    char *text[2] = {NULL, NULL};
    for (int way = 0; way < 2; way++) {
        struct growing s = {0};
        struct ne_qwriter_opts wo = {.format = NE_QFMT_JSON, .emit = emit_growing, .emit_ctx = &s};
        struct ne_qwriter *w = NULL;
        T_OK(ne_qwriter_new(&wo, &w));
        const struct ne_qout *o = ne_qwriter_out(w);
        T_OK(o->begin_statement(o->ctx, 0));
        T_OK(o->begin_series(o->ctx, "m", NULL, 0, names, 2));
        if (way == 0) {
            T_OK(o->rows_str2(o->ctx, ne_sv_c("device"), second, n));
        } else {
            for (size_t i = 0; i < n; i++) {
                struct ne_qcell c[2] = {{.type = NE_QC_STRING}, {.type = NE_QC_STRING}};
                c[0].v.s = ne_sv_c("device");
                c[1].v.s = second[i];
                T_OK(o->row(o->ctx, c, 2));
            }
        }
        T_OK(o->end_series(o->ctx));
        T_OK(o->end_statement(o->ctx, NULL));
        T_OK(ne_qwriter_finish(w));
        ne_qwriter_free(&w);
        T_CHECK(s.p != NULL && !s.failed);
        text[way] = s.p;
    }
    /* and the text InfluxDB's escaping gives, built here byte by byte */
    struct growing want = {0};
    const char *head = "{\"results\":[{\"statement_id\":0,\"series\":[{\"name\":\"m\","
                       "\"columns\":[\"key\",\"value\"],\"values\":[";
    emit_growing(&want, head, strlen(head));
    for (size_t i = 0; i < n; i++) {
        const char *open = i ? ",[\"device\",\"" : "[\"device\",\"";
        emit_growing(&want, open, strlen(open));
        for (size_t j = 0; j < second[i].n; j++) {
            unsigned char c = (unsigned char)second[i].p[j];
            char e[8];
            if (c == '"' || c == '\\')
                snprintf(e, sizeof e, "\\%c", c);
            else if (c == '\n')
                snprintf(e, sizeof e, "\\n");
            else if (c < 0x20 || c == '<' || c == '>' || c == '&')
                snprintf(e, sizeof e, "\\u%04x", c);
            else
                snprintf(e, sizeof e, "%c", c);
            emit_growing(&want, e, strlen(e));
        }
        emit_growing(&want, "\"]", 2);
    }
    emit_growing(&want, "]}]}]}\n", strlen("]}]}]}\n"));
    T_CHECK(text[0] && text[1] && want.p && !want.failed);
    T_CHECK(text[0] && want.p && strcmp(text[0], want.p) == 0);
    T_CHECK(text[1] && want.p && strcmp(text[1], want.p) == 0);
    free(text[0]);
    free(text[1]);
    free(want.p);
}

/* A keeping writer hands over the same text a writer emits, and only
 * unchunked. */
static void test_writer_keep(void)
{
    const char *q = "SHOW TAG VALUES FROM env WITH KEY IN (\"site\", \"device\"); SHOW DATABASES";
    char want[4096];
    snprintf(want, sizeof want, "%s", run(q, NE_QFMT_JSON, "s"));
    struct ne_qwriter_opts wo = {.format = NE_QFMT_JSON, .epoch = "s", .keep = true};
    struct ne_qwriter *w = NULL;
    T_OK(ne_qwriter_new(&wo, &w));
    struct ne_query_opts qo = {.db = "iot", .now_ns = 10 * S};
    T_OK(ne_query_text(&src, &qo, q, strlen(q), ne_qwriter_out(w)));
    T_OK(ne_qwriter_finish(w));
    char *p = NULL;
    size_t n = 0;
    T_OK(ne_qwriter_take(w, &p, &n));
    T_CHECK(p != NULL && n == strlen(want) && memcmp(p, want, n) == 0);
    ne_free(p);
    T_OK(ne_qwriter_take(w, &p, &n)); /* nothing is left */
    T_CHECK(p == NULL && n == 0);
    ne_qwriter_free(&w);
    wo.chunked = true;
    T_CHECK(ne_qwriter_new(&wo, &w) == NE_EINVAL);
}

int main(void)
{
    T_RUN(test_json_string_rows);
    T_RUN(test_writer_keep);
    T_RUN(test_json_escape_positions);
    T_RUN(test_rows_str2_lengths);
    T_RUN(test_meta);
    T_RUN(test_raw);
    T_RUN(test_aggregates);
    T_RUN(test_group_by);
    T_RUN(test_column_names);
    T_RUN(test_transforms);
    T_RUN(test_errors);
    T_RUN(test_csv_and_table);
    T_RUN(test_csv_chunked);
    T_RUN(test_formats);
    T_RUN(test_float_text);
    return t_done();
}
