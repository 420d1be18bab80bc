/*
 * influxql.h - the InfluxQL parser: text -> statements (an AST).
 *
 * Supported: SELECT (fields, calls, arithmetic, wildcards, FROM one or more
 * measurements or /regex/, WHERE, GROUP BY time(i[,offset]) and tags or *,
 * fill(), ORDER BY time, LIMIT/OFFSET, SLIMIT/SOFFSET, tz()), SHOW
 * DATABASES|MEASUREMENTS|TAG KEYS|TAG VALUES|FIELD KEYS|SERIES|RETENTION
 * POLICIES, CREATE DATABASE, DROP DATABASE|MEASUREMENT, DELETE. Several
 * statements may be separated by ';'.
 *
 * Memory: every node and string of a parse lives in one arena owned by the
 * struct ne_iql_query; ne_iql_free releases all of it.
 *
 * Time literals: RFC3339 strings compared with time ('2026-01-01T00:00:00Z'),
 * integers with a unit suffix or none (ns), now() and now() +/- durations.
 */
#ifndef NE_STORE_QUERY_INFLUXQL_H
#define NE_STORE_QUERY_INFLUXQL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ne_iql_expr_kind {
    NE_IQL_NUMBER,   /* num */
    NE_IQL_INTEGER,  /* ival (no decimal point) */
    NE_IQL_STRING,   /* str: a '...' literal */
    NE_IQL_DURATION, /* ival in ns */
    NE_IQL_REGEX,    /* str: the pattern between slashes */
    NE_IQL_BOOL,     /* ival 0/1 */
    NE_IQL_REF,      /* str: identifier; ref_type: 0 any, 1 field, 2 tag */
    NE_IQL_WILDCARD, /* '*'; ref_type as for REF (*::field) */
    NE_IQL_CALL,     /* str: function name (lower case); args */
    NE_IQL_BINARY,   /* op; lhs, rhs */
    NE_IQL_PAREN,    /* lhs */
    NE_IQL_NOW,      /* now() */
};

enum ne_iql_op {
    NE_OP_ADD = 1, NE_OP_SUB, NE_OP_MUL, NE_OP_DIV, NE_OP_MOD,
    NE_OP_EQ, NE_OP_NEQ, NE_OP_LT, NE_OP_LTE, NE_OP_GT, NE_OP_GTE,
    NE_OP_EQREGEX, NE_OP_NEQREGEX, NE_OP_AND, NE_OP_OR,
    NE_OP_BITAND, NE_OP_BITOR, NE_OP_BITXOR,
};

struct ne_iql_expr {
    enum ne_iql_expr_kind kind;
    enum ne_iql_op op;
    double num;
    int64_t ival;
    const char *str;
    int ref_type;
    struct ne_iql_expr *lhs, *rhs;
    struct ne_iql_expr **args;
    size_t nargs;
};

struct ne_iql_field {
    struct ne_iql_expr *expr;
    const char *alias; /* AS name, or NULL */
};

struct ne_iql_source {
    const char *db, *rp; /* NULL when not given */
    const char *name;    /* measurement name, or NULL with regex */
    const char *regex;   /* /re/ source, or NULL */
};

enum ne_iql_fill { NE_FILL_NULL = 0, NE_FILL_NONE, NE_FILL_PREVIOUS, NE_FILL_LINEAR, NE_FILL_VALUE };

enum ne_iql_stmt_kind {
    NE_IQL_SELECT = 1,
    NE_IQL_SHOW_DATABASES,
    NE_IQL_SHOW_MEASUREMENTS,
    NE_IQL_SHOW_TAG_KEYS,
    NE_IQL_SHOW_TAG_VALUES,
    NE_IQL_SHOW_FIELD_KEYS,
    NE_IQL_SHOW_SERIES,
    NE_IQL_SHOW_RETENTION_POLICIES,
    NE_IQL_CREATE_DATABASE,
    NE_IQL_DROP_DATABASE,
    NE_IQL_DROP_MEASUREMENT,
    NE_IQL_DELETE,
};

struct ne_iql_stmt {
    enum ne_iql_stmt_kind kind;
    const char *on_db; /* ON db (SHOW ...), or the CREATE/DROP name */
    /* SELECT */
    struct ne_iql_field *fields;
    size_t nfields;
    struct ne_iql_source *sources; /* FROM; also SHOW ... FROM, DELETE FROM */
    size_t nsources;
    struct ne_iql_expr *where;
    int64_t group_interval_ns; /* 0: no GROUP BY time */
    int64_t group_offset_ns;
    const char **group_tags; /* GROUP BY tag names */
    size_t ngroup_tags;
    const char **group_tag_regexes; /* GROUP BY /re/ */
    size_t ngroup_tag_regexes;
    bool group_all_tags; /* GROUP BY * */
    enum ne_iql_fill fill;
    double fill_value;
    bool fill_value_is_int;
    bool order_desc;
    int64_t limit, offset, slimit, soffset; /* 0 = none */
    const char *tz;
    const char *into; /* SELECT ... INTO: parsed to give a clear error */
    /* SHOW TAG VALUES: WITH KEY op ... */
    enum ne_iql_op with_key_op; /* EQ, NEQ, EQREGEX, NEQREGEX, or 0 for IN */
    const char **with_keys;     /* names (EQ/NEQ/IN) */
    size_t nwith_keys;
    const char *with_key_regex;
    /* SHOW MEASUREMENTS WITH MEASUREMENT op name|/re/ */
    enum ne_iql_op with_meas_op;
    const char *with_meas; /* name or regex source */
};

struct ne_iql_query {
    struct ne_iql_stmt *stmts;
    size_t nstmts;
    struct iql_arena *arena; /* owns everything above */
};

/* Parses text (len bytes, need not be NUL-terminated); now() stays a node
 * for the executor. On success *out is a new query (ne_iql_free). On error
 * returns NE_EPARSE with a message such as
 * "found FOO, expected SELECT, DELETE, SHOW, CREATE, DROP at line 1, char 1"
 * in err (InfluxDB's wording), or NE_EUNSUPPORTED naming the construct. */
int ne_iql_parse(const char *text, size_t len, struct ne_iql_query **out, char *err, size_t errn);

void ne_iql_free(struct ne_iql_query **q);

/* Formats an expression back to InfluxQL (column names such as "mean",
 * or "mean_temperature"-free forms are built by the executor). Writes at
 * most n bytes; returns the length it needed. */
size_t ne_iql_expr_format(const struct ne_iql_expr *e, char *buf, size_t n);

/* Parses an RFC3339 time ("2026-01-01T00:00:00Z", fractional seconds and
 * offsets allowed) into ns. Returns 0 or NE_EPARSE. */
int ne_iql_parse_time(const char *s, int64_t *out_ns);

/* Parses a duration literal body ("10s", "1h30m", "500ms", "1w"). */
int ne_iql_parse_duration(const char *s, size_t len, int64_t *out_ns);

#endif
