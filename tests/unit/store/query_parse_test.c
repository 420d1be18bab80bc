/* Tests of the InfluxQL parser: statement shapes, precedence, literals,
 * clauses, and the wording of syntax errors. */
#include "store/query/influxql.h"

#include "ports/err.h"
#include "t.h"

static struct ne_iql_query *parse_ok(const char *q)
{
    struct ne_iql_query *out = NULL;
    char err[256];
    int rc = ne_iql_parse(q, strlen(q), &out, err, sizeof err);
    if (rc != 0)
        fprintf(stderr, "  parse of [%s] failed: %s\n", q, err);
    return out;
}

static const char *fmt(const struct ne_iql_expr *e)
{
    static char buf[512];
    ne_iql_expr_format(e, buf, sizeof buf);
    return buf;
}

static void test_select_grafana_panel(void)
{
    struct ne_iql_query *q = parse_ok(
        "SELECT mean(\"temperature\") FROM \"env\" WHERE (\"site\" = 'site-00') AND "
        "time >= 1767225600000ms and time <= 1767229200000ms GROUP BY time(1m), \"device\" "
        "fill(null) ORDER BY time DESC LIMIT 10 SLIMIT 5");
    T_CHECK(q != NULL);
    T_EQ_INT(q->nstmts, 1);
    const struct ne_iql_stmt *s = &q->stmts[0];
    T_EQ_INT(s->kind, NE_IQL_SELECT);
    T_EQ_INT(s->nfields, 1);
    T_EQ_STR(fmt(s->fields[0].expr), "mean(temperature)");
    T_EQ_STR(s->sources[0].name, "env");
    T_EQ_INT(s->group_interval_ns, 60000000000LL);
    T_EQ_INT(s->ngroup_tags, 1);
    T_EQ_STR(s->group_tags[0], "device");
    T_EQ_INT(s->fill, NE_FILL_NULL);
    T_CHECK(s->order_desc);
    T_EQ_INT(s->limit, 10);
    T_EQ_INT(s->slimit, 5);
    T_EQ_STR(fmt(s->where),
             "(site = 'site-00') AND time >= 1767225600000000000ns AND time <= "
             "1767229200000000000ns");
    ne_iql_free(&q);
    T_CHECK(q == NULL);
}

static void test_precedence_and_arith(void)
{
    struct ne_iql_query *q = parse_ok("select mean(a) * 9 / 5 + 32 AS f, -x FROM m "
                                      "WHERE a = 1 OR b = 2 AND c =~ /x\\/y/");
    T_CHECK(q != NULL);
    const struct ne_iql_stmt *s = &q->stmts[0];
    const struct ne_iql_expr *e = s->fields[0].expr;
    T_EQ_INT(e->kind, NE_IQL_BINARY);
    T_EQ_INT(e->op, NE_OP_ADD);
    T_EQ_INT(e->lhs->op, NE_OP_DIV);
    T_EQ_INT(e->lhs->lhs->op, NE_OP_MUL);
    T_EQ_STR(s->fields[0].alias, "f");
    T_EQ_INT(s->fields[1].expr->op, NE_OP_MUL); /* -x == -1 * x */
    T_EQ_INT(s->where->op, NE_OP_OR);
    T_EQ_INT(s->where->rhs->op, NE_OP_AND);
    T_EQ_INT(s->where->rhs->rhs->op, NE_OP_EQREGEX);
    T_EQ_STR(s->where->rhs->rhs->rhs->str, "x/y");
    ne_iql_free(&q);
}

static void test_multi_statements_and_meta(void)
{
    struct ne_iql_query *q = parse_ok(
        "SHOW DATABASES; show measurements with measurement =~ /en.*/ limit 3;"
        "SHOW TAG KEYS FROM env; SHOW TAG VALUES FROM \"env\" WITH KEY = \"device\";"
        "SHOW TAG VALUES WITH KEY IN (site, device); SHOW FIELD KEYS ON iot FROM env;"
        "SHOW SERIES FROM env WHERE site = 'a'; SHOW RETENTION POLICIES ON iot;"
        "CREATE DATABASE x; DROP DATABASE x; DROP MEASUREMENT env;"
        "DELETE FROM env WHERE time < '2026-01-01T00:00:00Z' AND site = 'a'");
    T_CHECK(q != NULL);
    T_EQ_INT(q->nstmts, 12);
    T_EQ_INT(q->stmts[0].kind, NE_IQL_SHOW_DATABASES);
    T_EQ_INT(q->stmts[1].kind, NE_IQL_SHOW_MEASUREMENTS);
    T_EQ_INT(q->stmts[1].with_meas_op, NE_OP_EQREGEX);
    T_EQ_STR(q->stmts[1].with_meas, "en.*");
    T_EQ_INT(q->stmts[1].limit, 3);
    T_EQ_INT(q->stmts[2].kind, NE_IQL_SHOW_TAG_KEYS);
    T_EQ_INT(q->stmts[3].kind, NE_IQL_SHOW_TAG_VALUES);
    T_EQ_INT(q->stmts[3].with_key_op, NE_OP_EQ);
    T_EQ_STR(q->stmts[3].with_keys[0], "device");
    T_EQ_INT(q->stmts[4].nwith_keys, 2);
    T_EQ_STR(q->stmts[5].on_db, "iot");
    T_EQ_INT(q->stmts[6].kind, NE_IQL_SHOW_SERIES);
    T_CHECK(q->stmts[6].where != NULL);
    T_EQ_INT(q->stmts[7].kind, NE_IQL_SHOW_RETENTION_POLICIES);
    T_EQ_STR(q->stmts[8].on_db, "x");
    T_EQ_INT(q->stmts[9].kind, NE_IQL_DROP_DATABASE);
    T_EQ_INT(q->stmts[10].kind, NE_IQL_DROP_MEASUREMENT);
    T_EQ_INT(q->stmts[11].kind, NE_IQL_DELETE);
    T_EQ_STR(q->stmts[11].sources[0].name, "env");
    ne_iql_free(&q);
}

static void test_sources_and_group(void)
{
    struct ne_iql_query *q =
        parse_ok("SELECT * FROM \"iot\".\"autogen\".\"env\", /^read/ GROUP BY *, time(1h, 15m) "
                 "fill(-1.5) OFFSET 2 SOFFSET 1 tz('UTC')");
    T_CHECK(q != NULL);
    const struct ne_iql_stmt *s = &q->stmts[0];
    T_EQ_INT(s->nsources, 2);
    T_EQ_STR(s->sources[0].db, "iot");
    T_EQ_STR(s->sources[0].rp, "autogen");
    T_EQ_STR(s->sources[0].name, "env");
    T_EQ_STR(s->sources[1].regex, "^read");
    T_CHECK(s->group_all_tags);
    T_EQ_INT(s->group_interval_ns, 3600000000000LL);
    T_EQ_INT(s->group_offset_ns, 900000000000LL);
    T_EQ_INT(s->fill, NE_FILL_VALUE);
    T_EQ_DBL(s->fill_value, -1.5, 0);
    T_EQ_INT(s->offset, 2);
    T_EQ_INT(s->soffset, 1);
    T_EQ_STR(s->tz, "UTC");
    T_EQ_INT(s->fields[0].expr->kind, NE_IQL_WILDCARD);
    ne_iql_free(&q);
}

static void test_now_and_durations(void)
{
    struct ne_iql_query *q =
        parse_ok("SELECT percentile(v, 95), v::field FROM m WHERE time > now() - 1h30m");
    T_CHECK(q != NULL);
    const struct ne_iql_stmt *s = &q->stmts[0];
    T_EQ_INT(s->fields[0].expr->nargs, 2);
    T_EQ_INT(s->fields[1].expr->ref_type, 1);
    const struct ne_iql_expr *rhs = s->where->rhs;
    T_EQ_INT(rhs->op, NE_OP_SUB);
    T_EQ_INT(rhs->lhs->kind, NE_IQL_NOW);
    T_EQ_INT(rhs->rhs->ival, 5400000000000LL);
    ne_iql_free(&q);
    int64_t ns;
    T_OK(ne_iql_parse_duration("500ms", 5, &ns));
    T_EQ_INT(ns, 500000000);
    T_OK(ne_iql_parse_duration("1w", 2, &ns));
    T_EQ_INT(ns, 604800000000000LL);
    T_EQ_INT(ne_iql_parse_duration("5x", 2, &ns), NE_EPARSE);
}

static void test_times(void)
{
    int64_t ns;
    T_OK(ne_iql_parse_time("2026-01-01T00:00:00Z", &ns));
    T_EQ_INT(ns, 1767225600000000000LL);
    T_OK(ne_iql_parse_time("2026-01-01T01:00:00.5+01:00", &ns));
    T_EQ_INT(ns, 1767225600500000000LL);
    T_OK(ne_iql_parse_time("1970-01-01", &ns));
    T_EQ_INT(ns, 0);
    T_EQ_INT(ne_iql_parse_time("2026-13-01T00:00:00Z", &ns), NE_EPARSE);
    T_EQ_INT(ne_iql_parse_time("yesterday", &ns), NE_EPARSE);
}

static void expect_err(const char *q, int rc, const char *msg)
{
    struct ne_iql_query *out = NULL;
    char err[256];
    int got = ne_iql_parse(q, strlen(q), &out, err, sizeof err);
    if (got != rc || strstr(err, msg) == NULL) {
        fprintf(stderr, "  [%s]: rc %d (want %d), err \"%s\" (want \"%s\")\n", q, got, rc, err,
                msg);
        t_cur_failed = 1;
    }
    T_CHECK(out == NULL);
}

static void test_errors(void)
{
    expect_err("SELEKT * FROM m", NE_EPARSE,
               "found SELEKT, expected SELECT, DELETE, SHOW, CREATE, DROP at line 1, char 1");
    expect_err("SELECT FROM m", NE_EPARSE, "found FROM, expected identifier");
    expect_err("SELECT a FROM", NE_EPARSE, "found EOF, expected identifier");
    expect_err("SELECT a FROM m WHERE b = 'x", NE_EPARSE, "unterminated string");
    expect_err("SELECT a FROM m GROUP BY time(-1m)", NE_EPARSE, "positive duration");
    expect_err("SELECT a FROM m fill(sideways)", NE_EPARSE, "fill() only supports");
    expect_err("SELECT a FROM m ORDER BY a", NE_EUNSUPPORTED, "ORDER BY time");
    expect_err("SELECT a FROM (SELECT b FROM m)", NE_EUNSUPPORTED, "subqueries");
    expect_err("SHOW USERS", NE_EUNSUPPORTED, "SHOW USERS is not supported");
    expect_err("GRANT ALL TO bob", NE_EUNSUPPORTED, "GRANT statements");
    expect_err("", NE_EPARSE, "found EOF");
    expect_err("SELECT a FROM m LIMIT x", NE_EPARSE, "expected integer");
    expect_err("SELECT a FROM m\n  WHERE b = ", NE_EPARSE, "at line 2");
}

int main(void)
{
    T_RUN(test_select_grafana_panel);
    T_RUN(test_precedence_and_arith);
    T_RUN(test_multi_statements_and_meta);
    T_RUN(test_sources_and_group);
    T_RUN(test_now_and_durations);
    T_RUN(test_times);
    T_RUN(test_errors);
    return t_done();
}
