/*
 * meta.c - the statements that are not SELECT: SHOW DATABASES,
 * MEASUREMENTS, TAG KEYS, TAG VALUES, FIELD KEYS, SERIES, RETENTION
 * POLICIES, CREATE/DROP DATABASE, DROP MEASUREMENT and DELETE, and the
 * dispatch of one statement.
 *
 * Answers follow InfluxDB 1.x: one result series per measurement for the
 * per-measurement SHOWs, names sorted, LIMIT/OFFSET applied to the rows; a
 * missing database is "database not found: NAME".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"
#include "store/query/qinternal.h"

static struct ne_qcell cell_str(const char *s)
{
    struct ne_qcell c = {.type = NE_QC_STRING};
    c.v.s = ne_sv_c(s);
    return c;
}

/* Emits one series with one string column from a sorted list. */
static int emit_names(struct qexec *x, const char *name, const char *col,
                      const struct qstrs *list, const struct ne_iql_stmt *st)
{
    if (list->n == 0)
        return 0;
    size_t off = st->offset > 0 ? (size_t)st->offset : 0;
    size_t lim = st->limit > 0 ? (size_t)st->limit : SIZE_MAX;
    if (off >= list->n)
        return 0;
    const char *cols[1] = {col};
    int rc = query__begin_series(x, name, NULL, 0, cols, 1);
    for (size_t i = off; rc == 0 && i < list->n && i - off < lim; i++) {
        struct ne_qcell c = cell_str(list->v[i]);
        rc = query__row(x, &c, 1);
    }
    return rc ? rc : query__end_series(x);
}

/* ---- meta statements ------------------------------------------------------------- */

static bool db_exists(struct qexec *x, const char *db)
{
    struct qpool pool = {0};
    struct qstrs dbs = {0};
    struct query_collect cc = {.pool = &pool, .strs = &dbs};
    x->src->databases(x->src->ctx, query__collect_name, &cc);
    bool found = false;
    for (size_t i = 0; i < dbs.n && !found; i++)
        found = strcmp(dbs.v[i], db) == 0;
    query__strs_free(&dbs);
    query__pool_free(&pool);
    return found;
}

int query__need_db(struct qexec *x, const char *db)
{
    if (!db)
        return query__fail(x, "database name required");
    if (!db_exists(x, db))
        return query__fail(x, "database not found: %s", db);
    return 0;
}

static int show_databases(struct qexec *x, const struct ne_iql_stmt *st)
{
    struct qpool pool = {0};
    struct qstrs dbs = {0};
    struct query_collect cc = {.pool = &pool, .strs = &dbs};
    int rc = x->src->databases(x->src->ctx, query__collect_name, &cc);
    if (rc == 0)
        rc = cc.rc;
    query__strs_sort_unique(&dbs);
    if (rc == 0) {
        const char *cols[1] = {"name"};
        rc = query__begin_series(x, "databases", NULL, 0, cols, 1);
        for (size_t i = 0; rc == 0 && i < dbs.n; i++) {
            struct ne_qcell c = cell_str(dbs.v[i]);
            rc = query__row(x, &c, 1);
        }
        if (rc == 0)
            rc = query__end_series(x);
    }
    query__strs_free(&dbs);
    query__pool_free(&pool);
    return rc;
}

/* True if measurement meas has a series matching where (or where NULL). */
/* Loads the schema of meas and its series that pass where, hands both to
 * fn, and frees them whatever fn returns. Returns fn's result or a load
 * error. */
typedef int (*meta_series_fn)(struct qexec *x, const struct qschema *sch,
                              const struct qseries_list *l, void *ctx);

static int with_series(struct qexec *x, const char *db, const char *meas,
                       const struct ne_iql_expr *where, meta_series_fn fn, void *ctx)
{
    /* the schema only tells tags from fields in where: without one, the
     * callbacks see an empty schema and nothing is read for it */
    struct qschema sch = {.db = db, .meas = meas};
    int rc = where ? query__schema_load(x, db, meas, &sch) : 0;
    if (rc)
        return rc;
    struct qseries_list l;
    rc = query__series_load(x, db, meas, where, &sch, &l);
    if (rc == 0) {
        rc = fn(x, &sch, &l, ctx);
        query__series_free(&l);
    }
    query__schema_free(&sch);
    return rc;
}

static int any_series(struct qexec *x, const struct qschema *sch, const struct qseries_list *l,
                      void *ctx)
{
    *(bool *)ctx = l->n > 0;
    return 0;
}

static int meas_matches_where(struct qexec *x, const char *db, const char *meas,
                              const struct ne_iql_expr *where, bool *out)
{
    *out = true;
    return where ? with_series(x, db, meas, where, any_series, out) : 0;
}

static int show_measurements(struct qexec *x, const struct ne_iql_stmt *st)
{
    const char *db = query__stmt_db(x, st);
    int rc = query__need_db(x, db);
    if (rc)
        return rc;
    struct qpool pool = {0};
    struct qstrs all = {0}, keep = {0};
    struct query_collect cc = {.pool = &pool, .strs = &all};
    rc = x->src->measurements(x->src->ctx, db, query__collect_name, &cc);
    if (rc == 0)
        rc = cc.rc;
    query__strs_sort_unique(&all);
    regex_t re;
    bool have_re = false;
    if (rc == 0 && (st->with_meas_op == NE_OP_EQREGEX || st->with_meas_op == NE_OP_NEQREGEX)) {
        rc = query__regex_compile(&re, st->with_meas, x->err, sizeof x->err);
        have_re = rc == 0;
    }
    for (size_t i = 0; rc == 0 && i < all.n; i++) {
        const char *m = all.v[i];
        bool ok = true;
        if (st->with_meas_op == NE_OP_EQ)
            ok = strcmp(m, st->with_meas) == 0;
        else if (st->with_meas_op == NE_OP_NEQ)
            ok = strcmp(m, st->with_meas) != 0;
        else if (have_re)
            ok = query__regex_match(&re, m, strlen(m)) == (st->with_meas_op == NE_OP_EQREGEX);
        if (ok)
            rc = meas_matches_where(x, db, m, st->where, &ok);
        if (rc == 0 && ok)
            rc = query__strs_push(&keep, m);
    }
    if (have_re)
        regfree(&re);
    if (rc == 0)
        rc = emit_names(x, "measurements", "name", &keep, st);
    query__strs_free(&all);
    query__strs_free(&keep);
    query__pool_free(&pool);
    return rc;
}

static int for_each_measurement(struct qexec *x, const struct ne_iql_stmt *st, const char *db,
                                int (*fn)(struct qexec *, const struct ne_iql_stmt *,
                                          const char *db, const char *meas))
{
    struct qpool pool = {0};
    struct qstrs ms = {0};
    int rc = query__resolve_sources(x, db, st, &pool, &ms);
    for (size_t i = 0; rc == 0 && i < ms.n; i++)
        rc = fn(x, st, db, ms.v[i]);
    query__strs_free(&ms);
    query__pool_free(&pool);
    return rc;
}

struct meta_ctx {
    const struct ne_iql_stmt *st;
    const char *meas;
};

static int emit_tag_keys(struct qexec *x, const struct qschema *sch, const struct qseries_list *l,
                         void *ctx)
{
    const struct meta_ctx *m = ctx;
    struct qstrs keys = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < l->n; i++)
        for (uint32_t j = 0; rc == 0 && j < l->v[i].ntags; j++)
            rc = query__strs_push(&keys, l->v[i].tags[j].key.p);
    query__strs_sort_unique(&keys);
    if (rc == 0)
        rc = emit_names(x, m->meas, "tagKey", &keys, m->st);
    query__strs_free(&keys);
    return rc;
}

/* SHOW TAG KEYS without WHERE: the keys the source's index lists. */
static int tag_keys_indexed(struct qexec *x, const struct ne_iql_stmt *st, const char *db,
                            const char *meas)
{
    struct ne_sv *all = NULL;
    size_t n = 0, cap = 0;
    struct qstrs keys = {0};
    int rc = x->src->tag_keys(x->src->ctx, db, meas, &all, &n, &cap);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = query__strs_push(&keys, all[i].p); /* views end in a NUL */
    query__strs_sort_unique(&keys);
    if (rc == 0)
        rc = emit_names(x, meas, "tagKey", &keys, st);
    query__strs_free(&keys);
    ne_free(all);
    return rc;
}

static int tag_keys_of(struct qexec *x, const struct ne_iql_stmt *st, const char *db,
                       const char *meas)
{
    if (!st->where && x->src->tag_keys)
        return tag_keys_indexed(x, st, db, meas);
    struct meta_ctx m = {st, meas};
    return with_series(x, db, meas, st->where, emit_tag_keys, &m);
}

static bool key_selected(const struct ne_iql_stmt *st, const char *key, const regex_t *re)
{
    switch (st->with_key_op) {
    case NE_OP_EQREGEX:
    case NE_OP_NEQREGEX:
        return re && query__regex_match(re, key, strlen(key)) == (st->with_key_op == NE_OP_EQREGEX);
    case NE_OP_NEQ:
        return strcmp(key, st->with_keys[0]) != 0;
    default:
        for (size_t i = 0; i < st->nwith_keys; i++)
            if (strcmp(key, st->with_keys[i]) == 0)
                return true;
        return false;
    }
}

/* A tag's key and value with their lengths (neither holds a NUL). */
struct kv {
    const char *k, *v;
    uint32_t kn, vn;
};

/* Byte order of two short strings, as strcmp orders them, compared in
 * line: tag keys and values are mostly a few bytes sharing a prefix, which
 * is skipped eight bytes at a time. */
static int sv_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    size_t n = an < bn ? an : bn, i = 0;
    for (uint64_t x, y; i + 8 <= n; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            break;
    }
    for (; i < n; i++)
        if (a[i] != b[i])
            return (unsigned char)a[i] < (unsigned char)b[i] ? -1 : 1;
    return an < bn ? -1 : an > bn;
}

static bool sv_eq(const char *a, size_t an, const char *b, size_t bn)
{
    return an == bn && memcmp(a, b, an) == 0;
}

static int cmp_kv(const void *a, const void *b)
{
    const struct kv *x = a, *y = b;
    int c = x->k == y->k ? 0 : sv_cmp(x->k, x->kn, y->k, y->kn);
    return c ? c : sv_cmp(x->v, x->vn, y->v, y->vn);
}

/* The (key, value) pairs of SHOW TAG VALUES. Keys are interned (one
 * pointer per distinct key) so that sorting compares most keys by
 * pointer; values are copied into pool. */
struct tv_ctx {
    const struct ne_iql_stmt *st;
    const char *meas;
    const regex_t *re;
    struct kv *kvs;
    size_t n, cap;
    struct qstrs keys; /* distinct selected keys, in pool */
    const char *last_key; /* the key interned last, and its length */
    size_t last_key_n;
    const char *one_key; /* WITH KEY = one key: that key and its length */
    size_t one_key_n;
    struct qpool pool;
    int rc;
};

/* The interned copy of key k (added when new). NULL when out of memory. */
static const char *tv_key(struct tv_ctx *t, struct ne_sv k)
{
    if (t->last_key && sv_eq(t->last_key, t->last_key_n, k.p, k.n))
        return t->last_key; /* most series repeat the previous one's key */
    const char *d = NULL;
    for (size_t i = t->keys.n; i > 0 && !d; i--)
        if (sv_eq(t->keys.v[i - 1], strlen(t->keys.v[i - 1]), k.p, k.n))
            d = t->keys.v[i - 1];
    if (!d) {
        d = query__pool_dup(&t->pool, k.p, k.n);
        if (!d || query__strs_push(&t->keys, d))
            return NULL;
    }
    t->last_key = d;
    t->last_key_n = k.n;
    return d;
}

/* key_selected, with WITH KEY = one key told by length first. */
static bool tv_selected(const struct tv_ctx *t, struct ne_sv key)
{
    if (t->one_key)
        return sv_eq(key.p, key.n, t->one_key, t->one_key_n);
    return key_selected(t->st, key.p, t->re);
}

/* Room for one more pair in t->kvs: 0 or NE_ENOMEM (also kept in t->rc). */
static int tv_reserve(struct tv_ctx *t)
{
    if (t->n < t->cap)
        return 0;
    size_t cap = t->cap ? t->cap * 2 : 256;
    struct kv *nk = ne_realloc(t->kvs, cap * sizeof *nk);
    if (!nk)
        return t->rc = NE_ENOMEM;
    t->kvs = nk;
    t->cap = cap;
    return 0;
}

static int tv_add(struct tv_ctx *t, const struct ne_tag *tags, uint32_t ntags)
{
    for (uint32_t j = 0; j < ntags; j++) {
        if (!tv_selected(t, tags[j].key))
            continue;
        if (tv_reserve(t))
            return t->rc;
        const char *k = tv_key(t, tags[j].key);
        const char *v = query__pool_dup(&t->pool, tags[j].val.p, tags[j].val.n);
        if (!k || !v)
            return t->rc = NE_ENOMEM;
        t->kvs[t->n++] = (struct kv){k, v, tags[j].key.n, tags[j].val.n};
    }
    return 0;
}

/* The source's series callback: tags are borrowed for the call. */
static int tv_add_series(void *arg, const struct ne_qsrc_series *s)
{
    return tv_add(arg, s->tags, s->ntags);
}

static int tv_add_list(struct qexec *x, const struct qschema *sch, const struct qseries_list *l,
                       void *ctx)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < l->n; i++)
        rc = tv_add(ctx, l->v[i].tags, l->v[i].ntags);
    return rc;
}

/* Sorts the n (> 0) pairs of kvs in place and drops repeats; returns how
 * many are left. Series made in order often come sorted already: one pass
 * then both checks the order and drops repeats; the first pair out of
 * order sends what is left (the kept pairs and the unseen ones) to qsort. */
static size_t sort_unique_kvs(struct kv *kvs, size_t n)
{
    size_t w = 1, i = 1;
    for (int c; i < n && (c = cmp_kv(&kvs[i], &kvs[w - 1])) >= 0; i++)
        if (c > 0)
            kvs[w++] = kvs[i];
    if (i == n)
        return w;
    memmove(kvs + w, kvs + i, (n - i) * sizeof *kvs);
    n = w + (n - i);
    qsort(kvs, n, sizeof *kvs, cmp_kv);
    w = 1;
    for (i = 1; i < n; i++)
        if (cmp_kv(&kvs[i], &kvs[w - 1]) != 0)
            kvs[w++] = kvs[i];
    return w;
}

/* Sorts and de-duplicates the pairs and writes them as one series. */
static int emit_tag_values(struct qexec *x, struct tv_ctx *t)
{
    const struct ne_iql_stmt *st = t->st;
    size_t n = t->n;
    if (n == 0)
        return 0;
    struct kv *kvs = t->kvs;
    n = sort_unique_kvs(kvs, n);
    size_t off = st->offset > 0 ? (size_t)st->offset : 0;
    size_t lim = st->limit > 0 ? (size_t)st->limit : SIZE_MAX;
    if (off >= n)
        return 0;
    const char *cols[2] = {"key", "value"};
    int rc = query__begin_series(x, t->meas, NULL, 0, cols, 2);
    struct ne_qcell c[2] = {{.type = NE_QC_STRING}, {.type = NE_QC_STRING}};
    for (size_t i = off; rc == 0 && i < n && i - off < lim; i++) {
        c[0].v.s = (struct ne_sv){kvs[i].k, kvs[i].kn};
        c[1].v.s = (struct ne_sv){kvs[i].v, kvs[i].vn};
        rc = query__row(x, c, 2);
    }
    return rc ? rc : query__end_series(x);
}

/* ---- SHOW TAG VALUES from the source's index ---- */

/* The values of the selected keys, as views the source keeps valid for
 * the statement: keys[i]'s values are vals[start[i] .. start[i + 1]). */
struct tv_index {
    const char **keys; /* distinct, ascending */
    size_t nkeys;
    size_t *start; /* nkeys + 1 */
    struct ne_sv *vals;
    size_t n, cap;
};

static int cmp_key_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* True if the answer can come from the source's sorted value lists:
 * WITH KEY = k or IN (k, ...), or != / =~ / !~ when the source also lists
 * the keys, without WHERE. */
static bool tv_indexed(const struct qexec *x, const struct ne_iql_stmt *st)
{
    if (!x->src->tag_values || st->where)
        return false;
    bool by_list = st->with_key_op != NE_OP_NEQ && st->with_key_op != NE_OP_EQREGEX &&
                   st->with_key_op != NE_OP_NEQREGEX;
    return by_list ? st->nwith_keys > 0 : x->src->tag_keys != NULL;
}

/* Fills t->keys with the keys the statement selects, unsorted: its own
 * list, or those of the measurement's keys that pass != or the regex re. */
static int tvi_keys(struct qexec *x, const struct ne_iql_stmt *st, const char *db,
                    const char *meas, const regex_t *re, struct tv_index *t)
{
    size_t nk = st->nwith_keys;
    bool by_list = st->with_key_op != NE_OP_NEQ && st->with_key_op != NE_OP_EQREGEX &&
                   st->with_key_op != NE_OP_NEQREGEX;
    if (by_list) {
        t->keys = ne_malloc(nk * sizeof *t->keys);
        if (!t->keys)
            return NE_ENOMEM;
        memcpy(t->keys, st->with_keys, nk * sizeof *t->keys);
        t->nkeys = nk;
        return 0;
    }
    struct ne_sv *all = NULL;
    size_t n = 0, cap = 0;
    int rc = x->src->tag_keys(x->src->ctx, db, meas, &all, &n, &cap);
    t->keys = rc == 0 && n ? ne_malloc(n * sizeof *t->keys) : NULL;
    if (rc == 0 && n && !t->keys)
        rc = NE_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (key_selected(st, all[i].p, re))
            t->keys[t->nkeys++] = all[i].p; /* keys hold no NUL: views end in one */
    ne_free(all);
    return rc;
}

/* Reads the values of each selected key, keys taken in ascending order,
 * each once: the (key, value) pairs then come sorted and distinct, as
 * the series walk would sort them. */
static int tvi_load(struct qexec *x, const struct ne_iql_stmt *st, const char *db,
                    const char *meas, const regex_t *re, struct tv_index *t)
{
    int rc = tvi_keys(x, st, db, meas, re, t);
    size_t nk = t->nkeys;
    t->nkeys = 0;
    t->start = rc == 0 ? ne_malloc((nk + 1) * sizeof *t->start) : NULL;
    if (rc == 0 && !t->start)
        rc = NE_ENOMEM;
    if (rc)
        return rc;
    if (nk)
        qsort(t->keys, nk, sizeof *t->keys, cmp_key_ptr);
    for (size_t i = 0; rc == 0 && i < nk; i++) {
        if (t->nkeys > 0 && strcmp(t->keys[i], t->keys[t->nkeys - 1]) == 0)
            continue;
        t->keys[t->nkeys] = t->keys[i];
        t->start[t->nkeys++] = t->n;
        rc = x->src->tag_values(x->src->ctx, db, meas, t->keys[i], &t->vals, &t->n, &t->cap);
    }
    t->start[t->nkeys] = t->n;
    return rc;
}

/* Writes rows [off, off + lim) of the pairs as one series, a run of rows
 * per key. */
static int tvi_emit(struct qexec *x, const struct ne_iql_stmt *st, const char *meas,
                    const struct tv_index *t)
{
    size_t off = st->offset > 0 ? (size_t)st->offset : 0;
    size_t lim = st->limit > 0 ? (size_t)st->limit : SIZE_MAX;
    if (off >= t->n)
        return 0;
    size_t end = t->n - off < lim ? t->n : off + lim;
    const char *cols[2] = {"key", "value"};
    int rc = query__begin_series(x, meas, NULL, 0, cols, 2);
    for (size_t i = 0; rc == 0 && i < t->nkeys; i++) {
        size_t a = t->start[i] > off ? t->start[i] : off;
        size_t b = t->start[i + 1] < end ? t->start[i + 1] : end;
        if (a < b)
            rc = query__rows_str2(x, ne_sv_c(t->keys[i]), t->vals + a, b - a);
    }
    return rc ? rc : query__end_series(x);
}

static int tag_values_indexed(struct qexec *x, const struct ne_iql_stmt *st, const char *db,
                              const char *meas, const regex_t *re)
{
    struct tv_index t = {0};
    int rc = tvi_load(x, st, db, meas, re, &t);
    if (rc == 0)
        rc = tvi_emit(x, st, meas, &t);
    ne_free(t.keys);
    ne_free(t.start);
    ne_free(t.vals);
    return rc;
}

static int tag_values_of(struct qexec *x, const struct ne_iql_stmt *st, const char *db,
                         const char *meas)
{
    regex_t re;
    struct tv_ctx t = {.st = st, .meas = meas};
    if (st->with_key_op == NE_OP_EQ && st->nwith_keys == 1) {
        t.one_key = st->with_keys[0];
        t.one_key_n = strlen(t.one_key);
    }
    if (st->with_key_regex) {
        int rc = query__regex_compile(&re, st->with_key_regex, x->err, sizeof x->err);
        if (rc)
            return rc;
        t.re = &re;
    }
    if (tv_indexed(x, st)) {
        int rc = tag_values_indexed(x, st, db, meas, t.re);
        if (t.re)
            regfree(&re);
        return rc;
    }
    /* without WHERE the series' tags are read where they are, uncopied */
    int rc = st->where ? with_series(x, db, meas, st->where, tv_add_list, &t)
                       : x->src->series(x->src->ctx, db, meas, tv_add_series, &t);
    if (rc == 0)
        rc = t.rc;
    if (rc == 0)
        rc = emit_tag_values(x, &t);
    if (t.re)
        regfree(&re);
    ne_free(t.kvs);
    query__strs_free(&t.keys);
    query__pool_free(&t.pool);
    return rc;
}

static int field_keys_of(struct qexec *x, const struct ne_iql_stmt *st, const char *db,
                         const char *meas)
{
    struct qschema sch;
    int rc = query__schema_load(x, db, meas, &sch);
    if (rc)
        return rc;
    if (sch.field_names.n) {
        const char *cols[2] = {"fieldKey", "fieldType"};
        rc = query__begin_series(x, meas, NULL, 0, cols, 2);
        size_t off = st->offset > 0 ? (size_t)st->offset : 0;
        size_t lim = st->limit > 0 ? (size_t)st->limit : SIZE_MAX;
        for (size_t i = off; rc == 0 && i < sch.field_names.n && i - off < lim; i++) {
            struct ne_qcell c[2] = {cell_str(sch.field_names.v[i]),
                                    cell_str(ne_vtype_name(sch.field_types[i]))};
            rc = query__row(x, c, 2);
        }
        if (rc == 0)
            rc = query__end_series(x);
    }
    query__schema_free(&sch);
    return rc;
}

/* SHOW SERIES: one result series, keys sorted. */
struct series_keys {
    struct qstrs keys;
    struct qpool pool;
};

struct sk_ctx {
    const char *meas;
    struct series_keys *sk;
};

static int collect_series_keys(struct qexec *x, const struct qschema *sch,
                               const struct qseries_list *l, void *ctx)
{
    const struct sk_ctx *c = ctx;
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < l->n; i++) {
        size_t need = strlen(c->meas) + 1;
        for (uint32_t j = 0; j < l->v[i].ntags; j++)
            need += l->v[i].tags[j].key.n + l->v[i].tags[j].val.n + 2;
        char *buf = ne_malloc(need + 1);
        if (!buf)
            return NE_ENOMEM;
        size_t w = (size_t)snprintf(buf, need + 1, "%s", c->meas);
        for (uint32_t j = 0; j < l->v[i].ntags; j++)
            w += (size_t)snprintf(buf + w, need + 1 - w, ",%s=%s", l->v[i].tags[j].key.p,
                                  l->v[i].tags[j].val.p);
        rc = query__strs_push(&c->sk->keys, query__pool_dup(&c->sk->pool, buf, w));
        ne_free(buf);
    }
    return rc;
}

static int series_keys_of(struct qexec *x, const struct ne_iql_stmt *st, const char *db,
                          const char *meas, struct series_keys *sk)
{
    struct sk_ctx c = {meas, sk};
    return with_series(x, db, meas, st->where, collect_series_keys, &c);
}

static int show_series(struct qexec *x, const struct ne_iql_stmt *st)
{
    const char *db = query__stmt_db(x, st);
    int rc = query__need_db(x, db);
    if (rc)
        return rc;
    struct qpool pool = {0};
    struct qstrs ms = {0};
    struct series_keys sk = {0};
    rc = query__resolve_sources(x, db, st, &pool, &ms);
    for (size_t i = 0; rc == 0 && i < ms.n; i++)
        rc = series_keys_of(x, st, db, ms.v[i], &sk);
    query__strs_sort_unique(&sk.keys);
    if (rc == 0)
        rc = emit_names(x, NULL, "key", &sk.keys, st);
    query__strs_free(&sk.keys);
    query__pool_free(&sk.pool);
    query__strs_free(&ms);
    query__pool_free(&pool);
    return rc;
}

static int show_retention_policies(struct qexec *x, const struct ne_iql_stmt *st)
{
    const char *db = query__stmt_db(x, st);
    int rc = query__need_db(x, db);
    if (rc)
        return rc;
    const char *cols[5] = {"name", "duration", "shardGroupDuration", "replicaN", "default"};
    rc = query__begin_series(x, NULL, NULL, 0, cols, 5);
    struct ne_qcell c[5] = {cell_str("autogen"), cell_str("0s"), cell_str("168h0m0s")};
    c[3].type = NE_QC_INT;
    c[3].v.i = 1;
    c[4].type = NE_QC_BOOL;
    c[4].v.b = true;
    if (rc == 0)
        rc = query__row(x, c, 5);
    return rc ? rc : query__end_series(x);
}

/* The first field a WHERE refers to in sch, or NULL. */
static const char *field_in(const struct ne_iql_expr *e, const struct qschema *sch)
{
    if (!e)
        return NULL;
    if (e->kind == NE_IQL_REF)
        return query__ref_kind(sch, e) == QREF_FIELD ? e->str : NULL;
    const char *f = field_in(e->lhs, sch);
    return f ? f : field_in(e->rhs, sch);
}

/* Series ids of DELETE, gathered over the measurements. */
struct id_list {
    uint64_t *v;
    size_t n, cap;
};

static int ids_add(struct id_list *l, const struct qseries_list *sl)
{
    if (l->n + sl->n > l->cap) {
        size_t cap = (l->n + sl->n) * 2;
        uint64_t *v = ne_realloc(l->v, cap * sizeof *v);
        if (!v)
            return NE_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    for (size_t j = 0; j < sl->n; j++)
        l->v[l->n++] = sl->v[j].id;
    return 0;
}

static int cmp_id(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* The series of measurement meas that DELETE's WHERE picks, added to ids;
 * its time bounds into *w. Only tags and time may be compared (as in
 * InfluxDB): a field is an error naming it. */
static int delete_pick(struct qexec *x, const struct ne_iql_stmt *st, const char *db,
                       const char *meas, struct qwhere *w, struct id_list *ids)
{
    struct qschema sch;
    int rc = query__schema_load(x, db, meas, &sch);
    if (rc)
        return rc;
    rc = query__where_analyze(x, st->where, &sch, w);
    if (rc == 0 && w->row_filter) {
        const char *f = field_in(st->where, &sch);
        rc = f ? query__fail(x, "fields not supported in WHERE clause during deletion: \"%s\" "
                                "is a field of %s",
                             f, meas)
               : query__fail(x, "DELETE accepts tag conditions and a time range joined by "
                                "AND (time compared inside OR cannot be deleted by)");
    }
    struct qseries_list l = {0};
    if (rc == 0)
        rc = query__series_load(x, db, meas, st->where, &sch, &l);
    if (rc == 0)
        rc = ids_add(ids, &l);
    query__series_free(&l);
    query__schema_free(&sch);
    return rc;
}

static int delete_points(struct qexec *x, const struct ne_iql_stmt *st)
{
    const char *db = query__stmt_db(x, st);
    int rc = query__need_db(x, db);
    if (rc)
        return rc;
    if (!x->src->delete_points)
        return query__fail(x, "DELETE is not supported by this store");
    struct qpool pool = {0};
    struct qstrs ms = {0};
    struct id_list ids = {0};
    struct qwhere w = {.tmin = INT64_MIN, .tmax = INT64_MAX};
    rc = query__resolve_sources(x, db, st, &pool, &ms);
    for (size_t i = 0; rc == 0 && i < ms.n; i++)
        rc = delete_pick(x, st, db, ms.v[i], &w, &ids);
    /* called with no series too: a source that could not list them all
     * (a cluster missing shards) refuses rather than delete nothing */
    if (rc == 0 && w.tmin <= w.tmax) {
        if (ids.n) qsort(ids.v, ids.n, sizeof *ids.v, cmp_id);
        rc = x->src->delete_points(x->src->ctx, db, ids.v, ids.n, w.tmin, w.tmax);
        if (rc == NE_ENOTFOUND) /* dropped meanwhile */
            rc = 0;
        if (rc && !x->err[0])
            query__fail(x, "delete failed: %s", ne_strerror(rc));
    }
    ne_free(ids.v);
    query__strs_free(&ms);
    query__pool_free(&pool);
    return rc;
}

static int run_change(struct qexec *x, const struct ne_iql_stmt *st)
{
    int rc;
    switch (st->kind) {
    case NE_IQL_CREATE_DATABASE:
        if (!x->src->create_database)
            return query__fail(x, "CREATE DATABASE is not supported by this store");
        rc = x->src->create_database(x->src->ctx, st->on_db);
        break;
    case NE_IQL_DROP_DATABASE:
        if (!x->src->drop_database)
            return query__fail(x, "DROP DATABASE is not supported by this store");
        rc = x->src->drop_database(x->src->ctx, st->on_db);
        if (rc == NE_ENOTFOUND)
            rc = 0; /* InfluxDB: dropping a missing database succeeds */
        break;
    default: {
        /* on_db holds the measurement here: the database is the default one */
        const char *db = x->opts->db && x->opts->db[0] ? x->opts->db : NULL;
        rc = query__need_db(x, db);
        if (rc)
            return rc;
        if (!x->src->drop_measurement)
            return query__fail(x, "DROP MEASUREMENT is not supported by this store");
        rc = x->src->drop_measurement(x->src->ctx, db, st->on_db);
        if (rc == NE_ENOTFOUND)
            rc = 0; /* InfluxDB: dropping a missing measurement succeeds */
        break;
    }
    }
    if (rc && !x->err[0])
        query__fail(x, "%s", ne_strerror(rc));
    return rc;
}

enum ne_qchunking query__chunking(const struct ne_iql_stmt *st)
{
    switch (st->kind) {
    case NE_IQL_SHOW_DATABASES:
    case NE_IQL_SHOW_MEASUREMENTS:
    case NE_IQL_SHOW_TAG_KEYS:
    case NE_IQL_SHOW_TAG_VALUES:
    case NE_IQL_SHOW_RETENTION_POLICIES:
        return NE_QCHUNK_SERIES; /* InfluxDB's meta executors send whole series */
    default:
        return NE_QCHUNK_ROWS; /* SELECT, and the SHOWs InfluxDB runs as one */
    }
}

int query__run_statement(struct qexec *x, const struct ne_iql_stmt *st)
{
    const char *db;
    int rc;
    switch (st->kind) {
    case NE_IQL_SELECT:
        return query__select(x, st);
    case NE_IQL_SHOW_DATABASES:
        return show_databases(x, st);
    case NE_IQL_SHOW_MEASUREMENTS:
        return show_measurements(x, st);
    case NE_IQL_SHOW_TAG_KEYS:
    case NE_IQL_SHOW_TAG_VALUES:
    case NE_IQL_SHOW_FIELD_KEYS:
        db = query__stmt_db(x, st);
        rc = query__need_db(x, db);
        if (rc)
            return rc;
        return for_each_measurement(x, st, db,
                                    st->kind == NE_IQL_SHOW_TAG_KEYS     ? tag_keys_of
                                    : st->kind == NE_IQL_SHOW_TAG_VALUES ? tag_values_of
                                                                         : field_keys_of);
    case NE_IQL_SHOW_SERIES:
        return show_series(x, st);
    case NE_IQL_SHOW_RETENTION_POLICIES:
        return show_retention_policies(x, st);
    case NE_IQL_DELETE:
        return delete_points(x, st);
    default:
        return run_change(x, st);
    }
}

