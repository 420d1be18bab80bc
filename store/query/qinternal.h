/*
 * qinternal.h - shared pieces of the query executor (not public).
 */
#ifndef NE_STORE_QUERY_QINTERNAL_H
#define NE_STORE_QUERY_QINTERNAL_H

#include <regex.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/query/query.h"

/* A growable pool of NUL-terminated strings; views stay valid until the
 * pool is freed (chunks never move). */
struct qpool {
    struct qpool_chunk *head;
};
const char *query__pool_dup(struct qpool *p, const char *s, size_t n);
/* n zeroed bytes aligned to 8, owned by the pool. NULL on failure. */
void *query__pool_alloc(struct qpool *p, size_t n);
void query__pool_free(struct qpool *p);

/* A growable array of string pointers (borrowed from a pool). */
struct qstrs {
    const char **v;
    size_t n, cap;
};
int query__strs_push(struct qstrs *a, const char *s);
void query__strs_sort_unique(struct qstrs *a);
bool query__strs_has(const struct qstrs *a, const char *s);
void query__strs_free(struct qstrs *a);

/* Compiles an InfluxQL (RE2-like) regex as a POSIX ERE, translating the
 * common escapes \d \w \s \D \W \S. 0 or NE_EPARSE (msg in err). */
int query__regex_compile(regex_t *re, const char *pattern, char *err, size_t errn);
bool query__regex_match(const regex_t *re, const char *s, size_t n);

/* The statement context every executor part sees. */
struct qexec {
    const struct ne_qsrc *src;
    const struct ne_query_opts *opts;
    const struct ne_qout *out;
    char err[512];
    int out_rc; /* first non-zero output callback result */
};

/* How a reference name resolves within a measurement. */
enum qref_kind { QREF_TIME, QREF_TAG, QREF_FIELD };

/* A measurement's schema loaded for a statement. */
struct qschema {
    const char *db, *meas;
    struct qstrs field_names; /* sorted */
    uint8_t *field_types;     /* parallel to field_names */
    struct qstrs tag_keys;    /* sorted, unique over the series */
    struct qpool pool;
};
int query__schema_load(struct qexec *x, const char *db, const char *meas, struct qschema *s);
void query__schema_free(struct qschema *s);
int query__schema_field_type(const struct qschema *s, const char *name); /* -1 if none */
enum qref_kind query__ref_kind(const struct qschema *s, const struct ne_iql_expr *ref);

/* Series of a measurement copied out of the source (tags owned by pool). */
struct qseries {
    uint64_t id;
    struct ne_tag *tags;
    uint32_t ntags;
};
struct qseries_list {
    struct qseries *v;
    size_t n, cap;
    struct qpool pool;
};
int query__series_load(struct qexec *x, const char *db, const char *meas,
                       const struct ne_iql_expr *where, const struct qschema *sch,
                       struct qseries_list *out);
void query__series_free(struct qseries_list *l);
/* The value of tag key in a series ("" if absent). */
struct ne_sv query__series_tag(const struct qseries *s, const char *key);

/* WHERE analysis: the time range implied by top-level AND conjuncts, and
 * whether a per-row filter is needed (fields, or time inside OR). */
struct qwhere {
    int64_t tmin, tmax; /* inclusive */
    bool has_tmin, has_tmax;
    bool row_filter;
};
int query__where_analyze(struct qexec *x, const struct ne_iql_expr *where,
                         const struct qschema *sch, struct qwhere *out);

/* Evaluates an expression over one row: time, the series' tags, and the
 * row's field values (names parallel to cells). */
struct qrow_ctx {
    int64_t time;
    const struct qseries *series;
    const struct qschema *sch;
    const char *const *names;
    const struct ne_qcell *cells;
    size_t n;
    int64_t now_ns;
};
struct ne_qcell query__eval(const struct ne_iql_expr *e, const struct qrow_ctx *r);
bool query__eval_bool(const struct ne_iql_expr *e, const struct qrow_ctx *r);
/* Arithmetic between two cells as InfluxQL does it (int op int stays int,
 * except division; anything with a float is float; else null). */
struct ne_qcell query__arith(enum ne_iql_op op, struct ne_qcell a, struct ne_qcell b);

/* Evaluates a constant time expression (now() - 1h, '2026-...', 123ms). */
int query__eval_time(const struct ne_iql_expr *e, int64_t now_ns, int64_t *out);

/* Collects names into a pool-backed string array (the callback of the
 * source's name listings); fields also record their types in *types. */
struct query_collect {
    struct qpool *pool;
    struct qstrs *strs;
    uint8_t **types;
    size_t types_cap;
    int rc;
};
int query__collect_name(void *arg, const char *name);

/* 0 if db is given and exists, else NE_EINVAL with "database name
 * required" or "database not found: NAME" (meta.c). */
int query__need_db(struct qexec *x, const char *db);

/* Runs one statement of any kind (meta.c). */
int query__run_statement(struct qexec *x, const struct ne_iql_stmt *st);
/* How a chunked answer of st is cut (meta.c). */
enum ne_qchunking query__chunking(const struct ne_iql_stmt *st);

/* Runs a SELECT statement. */
int query__select(struct qexec *x, const struct ne_iql_stmt *st);

/* Output helpers that record the first callback error. */
int query__begin_series(struct qexec *x, const char *name, const struct ne_tag *tags,
                        size_t ntags, const char *const *cols, size_t ncols);
int query__row(struct qexec *x, const struct ne_qcell *cells, size_t n);
/* n rows of two strings, first on each, second[i] (ne_qout.rows_str2, or
 * row once per row when the output has none). */
int query__rows_str2(struct qexec *x, struct ne_sv first, const struct ne_sv *second, size_t n);
int query__end_series(struct qexec *x);

/* Sets x->err and returns NE_EINVAL. */
int query__fail(struct qexec *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The database a statement reads: ON db, source db, or the default. */
const char *query__stmt_db(const struct qexec *x, const struct ne_iql_stmt *st);

/* Measurements matched by the statement's sources (sorted, unique). */
int query__resolve_sources(struct qexec *x, const char *db, const struct ne_iql_stmt *st,
                           struct qpool *pool, struct qstrs *out);

#endif
