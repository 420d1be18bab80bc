/*
 * exec.c - running a parsed query: pools, regexes, output helpers, schema
 * and series loading, and the WHERE evaluator shared by every statement.
 *
 * Meta statements (SHOW, CREATE, DROP, DELETE) live in meta.c, SELECT in
 * select.c.
 *
 * WHERE handling: top-level AND conjuncts that compare time with a
 * constant narrow the scan range; conjuncts over tags alone filter series
 * before any data is read; everything else (fields, or time inside an OR)
 * is evaluated per row. Tag references that a series lacks compare as the
 * empty string, as in InfluxDB.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"
#include "store/query/qinternal.h"

/* ---- pools and string arrays --------------------------------------------- */

struct qpool_chunk {
    struct qpool_chunk *next;
    size_t cap, used;
    char data[];
};

const char *query__pool_dup(struct qpool *p, const char *s, size_t n)
{
    struct qpool_chunk *c = p->head;
    if (!c || c->cap - c->used < n + 1) {
        size_t cap = n + 1 > 16384 ? n + 1 : 16384;
        c = ne_malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = p->head;
        p->head = c;
    }
    char *d = c->data + c->used;
    memcpy(d, s, n);
    d[n] = 0;
    c->used += n + 1;
    return d;
}

void *query__pool_alloc(struct qpool *p, size_t n)
{
    struct qpool_chunk *c = p->head;
    size_t pad = c ? (8 - (c->used & 7)) & 7 : 0;
    if (!c || c->cap - c->used < n + pad) {
        size_t cap = n + 8 > 16384 ? n + 8 : 16384;
        c = ne_malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = p->head;
        p->head = c;
        pad = (8 - ((uintptr_t)c->data & 7)) & 7;
    }
    c->used += pad;
    void *d = c->data + c->used;
    memset(d, 0, n);
    c->used += n;
    return d;
}

void query__pool_free(struct qpool *p)
{
    struct qpool_chunk *c = p->head;
    while (c) {
        struct qpool_chunk *n = c->next;
        ne_free(c);
        c = n;
    }
    p->head = NULL;
}

int query__strs_push(struct qstrs *a, const char *s)
{
    if (!s)
        return NE_ENOMEM;
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 16;
        const char **v = ne_realloc(a->v, cap * sizeof *v);
        if (!v)
            return NE_ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = s;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

void query__strs_sort_unique(struct qstrs *a)
{
    if (a->n < 2)
        return;
    qsort(a->v, a->n, sizeof *a->v, cmp_str);
    size_t w = 1;
    for (size_t i = 1; i < a->n; i++)
        if (strcmp(a->v[i], a->v[w - 1]) != 0)
            a->v[w++] = a->v[i];
    a->n = w;
}

bool query__strs_has(const struct qstrs *a, const char *s)
{
    size_t lo = 0, hi = a->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(a->v[mid], s);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

void query__strs_free(struct qstrs *a)
{
    ne_free(a->v);
    memset(a, 0, sizeof *a);
}

/* ---- regexes ------------------------------------------------------------ */

int query__regex_compile(regex_t *re, const char *pattern, char *err, size_t errn)
{
    size_t n = strlen(pattern);
    char *buf = ne_malloc(n * 12 + 1);
    if (!buf)
        return NE_ENOMEM;
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (pattern[i] == '\\' && i + 1 < n) {
            const char *rep = NULL;
            switch (pattern[i + 1]) {
            case 'd': rep = "[0-9]"; break;
            case 'D': rep = "[^0-9]"; break;
            case 'w': rep = "[A-Za-z0-9_]"; break;
            case 'W': rep = "[^A-Za-z0-9_]"; break;
            case 's': rep = "[[:space:]]"; break;
            case 'S': rep = "[^[:space:]]"; break;
            default: break;
            }
            if (rep) {
                memcpy(buf + w, rep, strlen(rep));
                w += strlen(rep);
                i++;
                continue;
            }
            buf[w++] = pattern[i++];
        }
        buf[w++] = pattern[i];
    }
    buf[w] = 0;
    int rc = regcomp(re, buf, REG_EXTENDED | REG_NOSUB);
    ne_free(buf);
    if (rc != 0) {
        char m[128];
        regerror(rc, re, m, sizeof m);
        snprintf(err, errn, "invalid regex /%s/: %s", pattern, m);
        return NE_EPARSE;
    }
    return 0;
}

bool query__regex_match(const regex_t *re, const char *s, size_t n)
{
    char stackbuf[256];
    char *buf = n < sizeof stackbuf ? stackbuf : ne_malloc(n + 1);
    if (!buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = 0;
    bool m = regexec(re, buf, 0, NULL, 0) == 0;
    if (buf != stackbuf)
        ne_free(buf);
    return m;
}

/* Compiled regexes are cached on the expression node pointer. The AST is
 * immutable, so a small per-process cache keyed by pattern text would do,
 * but a per-call compile keeps the executor free of global state; the
 * series filter compiles once per series list, the row filter once per
 * statement (see compile cache below). */
struct recache {
    const char *pat;
    regex_t re;
    bool ok;
};
static _Thread_local struct recache re_cache[16];
static _Thread_local int re_cache_n;

static const regex_t *regex_get(const char *pat)
{
    for (int i = 0; i < re_cache_n; i++)
        if (re_cache[i].pat == pat)
            return re_cache[i].ok ? &re_cache[i].re : NULL;
    int slot;
    if (re_cache_n < 16) {
        slot = re_cache_n++;
    } else {
        slot = 15;
        if (re_cache[15].ok)
            regfree(&re_cache[15].re);
    }
    char err[256];
    re_cache[slot].pat = pat;
    re_cache[slot].ok = query__regex_compile(&re_cache[slot].re, pat, err, sizeof err) == 0;
    return re_cache[slot].ok ? &re_cache[slot].re : NULL;
}

static void regex_cache_clear(void)
{
    for (int i = 0; i < re_cache_n; i++) {
        if (re_cache[i].ok)
            regfree(&re_cache[i].re);
        re_cache[i].ok = false;
    }
    re_cache_n = 0;
}

/* ---- output helpers -------------------------------------------------------- */

int query__fail(struct qexec *x, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(x->err, sizeof x->err, fmt, ap);
    va_end(ap);
    return NE_EINVAL;
}

int query__begin_series(struct qexec *x, const char *name, const struct ne_tag *tags,
                        size_t ntags, const char *const *cols, size_t ncols)
{
    if (x->out_rc)
        return x->out_rc;
    x->out_rc = x->out->begin_series(x->out->ctx, name, tags, ntags, cols, ncols);
    return x->out_rc;
}

int query__row(struct qexec *x, const struct ne_qcell *cells, size_t n)
{
    if (x->out_rc)
        return x->out_rc;
    x->out_rc = x->out->row(x->out->ctx, cells, n);
    return x->out_rc;
}

int query__rows_str2(struct qexec *x, struct ne_sv first, const struct ne_sv *second, size_t n)
{
    if (x->out_rc)
        return x->out_rc;
    if (x->out->rows_str2) {
        x->out_rc = x->out->rows_str2(x->out->ctx, first, second, n);
        return x->out_rc;
    }
    struct ne_qcell c[2] = {{.type = NE_QC_STRING, .v.s = first}, {.type = NE_QC_STRING}};
    for (size_t i = 0; x->out_rc == 0 && i < n; i++) {
        c[1].v.s = second[i];
        x->out_rc = x->out->row(x->out->ctx, c, 2);
    }
    return x->out_rc;
}

int query__end_series(struct qexec *x)
{
    if (x->out_rc)
        return x->out_rc;
    x->out_rc = x->out->end_series(x->out->ctx);
    return x->out_rc;
}

/* ---- schema and series ------------------------------------------------------ */

int query__collect_name(void *arg, const char *name)
{
    struct query_collect *c = arg;
    int rc = query__strs_push(c->strs, query__pool_dup(c->pool, name, strlen(name)));
    return rc ? (c->rc = rc) : 0;
}

static int collect_field(void *arg, const char *name, enum ne_vtype type)
{
    struct query_collect *c = arg;
    size_t i = c->strs->n;
    int rc = query__collect_name(arg, name);
    if (rc)
        return rc;
    if (i >= c->types_cap) {
        size_t cap = c->types_cap ? c->types_cap * 2 : 16;
        uint8_t *t = ne_realloc(*c->types, cap);
        if (!t)
            return c->rc = NE_ENOMEM;
        *c->types = t;
        c->types_cap = cap;
    }
    (*c->types)[i] = (uint8_t)type;
    return 0;
}

struct tagkey_ctx {
    struct qschema *s;
    int rc;
};

static int collect_tag_keys(void *arg, const struct ne_qsrc_series *se)
{
    struct tagkey_ctx *c = arg;
    for (uint32_t i = 0; i < se->ntags; i++) {
        const struct ne_tag *t = &se->tags[i];
        char key[256];
        size_t n = t->key.n < sizeof key - 1 ? t->key.n : sizeof key - 1;
        memcpy(key, t->key.p, n);
        key[n] = 0;
        /* cheap checks before a pool copy: the key at the same place
         * (series of a measurement mostly carry the same keys), then the
         * last few keys */
        const struct qstrs *ks = &c->s->tag_keys;
        bool seen = i < ks->n && strcmp(ks->v[i], key) == 0;
        for (size_t j = ks->n; !seen && j > 0 && j + 16 > ks->n; j--)
            if (strcmp(c->s->tag_keys.v[j - 1], key) == 0) {
                seen = true;
                break;
            }
        if (!seen) {
            int rc = query__strs_push(&c->s->tag_keys, query__pool_dup(&c->s->pool, key, n));
            if (rc)
                return c->rc = rc;
        }
    }
    return 0;
}

int query__schema_load(struct qexec *x, const char *db, const char *meas, struct qschema *s)
{
    memset(s, 0, sizeof *s);
    s->db = db;
    s->meas = meas;
    struct query_collect cc = {.pool = &s->pool, .strs = &s->field_names, .types = &s->field_types};
    int rc = x->src->fields(x->src->ctx, db, meas, collect_field, &cc);
    if (rc == 0)
        rc = cc.rc;
    if (rc == 0) {
        /* keep types parallel while sorting: simple insertion (few fields) */
        for (size_t i = 1; i < s->field_names.n; i++)
            for (size_t j = i; j > 0 && strcmp(s->field_names.v[j - 1], s->field_names.v[j]) > 0;
                 j--) {
                const char *t = s->field_names.v[j];
                s->field_names.v[j] = s->field_names.v[j - 1];
                s->field_names.v[j - 1] = t;
                uint8_t ty = s->field_types[j];
                s->field_types[j] = s->field_types[j - 1];
                s->field_types[j - 1] = ty;
            }
        struct tagkey_ctx tc = {s, 0};
        rc = x->src->series(x->src->ctx, db, meas, collect_tag_keys, &tc);
        if (rc == 0)
            rc = tc.rc;
        query__strs_sort_unique(&s->tag_keys);
    }
    if (rc)
        query__schema_free(s);
    return rc;
}

void query__schema_free(struct qschema *s)
{
    query__strs_free(&s->field_names);
    query__strs_free(&s->tag_keys);
    ne_free(s->field_types);
    query__pool_free(&s->pool);
    s->field_types = NULL;
}

int query__schema_field_type(const struct qschema *s, const char *name)
{
    size_t lo = 0, hi = s->field_names.n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(s->field_names.v[mid], name);
        if (c == 0)
            return s->field_types[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

enum qref_kind query__ref_kind(const struct qschema *s, const struct ne_iql_expr *ref)
{
    if (ref->ref_type == 2)
        return QREF_TAG;
    if (ref->ref_type == 1)
        return QREF_FIELD;
    if (strcasecmp(ref->str, "time") == 0)
        return QREF_TIME;
    if (query__schema_field_type(s, ref->str) >= 0)
        return QREF_FIELD;
    return QREF_TAG;
}

struct ne_sv query__series_tag(const struct qseries *s, const char *key)
{
    struct ne_sv k = ne_sv_c(key);
    for (uint32_t i = 0; i < s->ntags; i++)
        if (ne_sv_eq(s->tags[i].key, k))
            return s->tags[i].val;
    return (struct ne_sv){"", 0};
}

/* Three-valued evaluation of a WHERE over a series: 1 true, 0 false,
 * -1 unknown (depends on time or fields). */
static int eval_series(const struct ne_iql_expr *e, const struct qseries *se,
                       const struct qschema *sch);

static bool is_literal(const struct ne_iql_expr *e)
{
    return e->kind == NE_IQL_STRING || e->kind == NE_IQL_NUMBER || e->kind == NE_IQL_INTEGER ||
           e->kind == NE_IQL_BOOL || e->kind == NE_IQL_REGEX || e->kind == NE_IQL_DURATION;
}

static int tag_compare(enum ne_iql_op op, struct ne_sv val, const struct ne_iql_expr *lit)
{
    if (op == NE_OP_EQREGEX || op == NE_OP_NEQREGEX) {
        if (lit->kind != NE_IQL_REGEX)
            return 0;
        const regex_t *re = regex_get(lit->str);
        if (!re)
            return 0;
        bool m = query__regex_match(re, val.p, val.n);
        return op == NE_OP_EQREGEX ? m : !m;
    }
    if (lit->kind != NE_IQL_STRING)
        return op == NE_OP_NEQ; /* a tag never equals a number */
    int c = ne_sv_cmp(val, ne_sv_c(lit->str));
    switch (op) {
    case NE_OP_EQ: return c == 0;
    case NE_OP_NEQ: return c != 0;
    case NE_OP_LT: return c < 0;
    case NE_OP_LTE: return c <= 0;
    case NE_OP_GT: return c > 0;
    case NE_OP_GTE: return c >= 0;
    default: return -1;
    }
}

static enum ne_iql_op swap_op(enum ne_iql_op op)
{
    switch (op) {
    case NE_OP_LT: return NE_OP_GT;
    case NE_OP_LTE: return NE_OP_GTE;
    case NE_OP_GT: return NE_OP_LT;
    case NE_OP_GTE: return NE_OP_LTE;
    default: return op;
    }
}

static int eval_series(const struct ne_iql_expr *e, const struct qseries *se,
                       const struct qschema *sch)
{
    if (!e)
        return 1;
    if (e->kind == NE_IQL_PAREN)
        return eval_series(e->lhs, se, sch);
    if (e->kind == NE_IQL_BOOL)
        return (int)e->ival;
    if (e->kind != NE_IQL_BINARY)
        return -1;
    if (e->op == NE_OP_AND || e->op == NE_OP_OR) {
        int a = eval_series(e->lhs, se, sch), b = eval_series(e->rhs, se, sch);
        if (e->op == NE_OP_AND)
            return (a == 0 || b == 0) ? 0 : (a == 1 && b == 1) ? 1 : -1;
        return (a == 1 || b == 1) ? 1 : (a == 0 && b == 0) ? 0 : -1;
    }
    const struct ne_iql_expr *ref = e->lhs, *lit = e->rhs;
    enum ne_iql_op op = e->op;
    if (ref->kind != NE_IQL_REF) {
        ref = e->rhs;
        lit = e->lhs;
        op = swap_op(op);
    }
    if (ref->kind != NE_IQL_REF || !is_literal(lit))
        return -1;
    if (query__ref_kind(sch, ref) != QREF_TAG)
        return -1;
    return tag_compare(op, query__series_tag(se, ref->str), lit);
}

struct series_ctx {
    struct qseries_list *l;
    const struct ne_iql_expr *where;
    const struct qschema *sch;
    int rc;
};

static int collect_series(void *arg, const struct ne_qsrc_series *s)
{
    struct series_ctx *c = arg;
    struct qseries_list *l = c->l;
    struct qseries tmp = {.id = s->id, .tags = (struct ne_tag *)s->tags, .ntags = s->ntags};
    if (c->where && eval_series(c->where, &tmp, c->sch) == 0)
        return 0;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        struct qseries *v = ne_realloc(l->v, cap * sizeof *v);
        if (!v)
            return c->rc = NE_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    struct ne_tag *tags = NULL;
    if (s->ntags) {
        tags = query__pool_alloc(&l->pool, sizeof *tags * s->ntags);
        if (!tags)
            return c->rc = NE_ENOMEM;
        for (uint32_t i = 0; i < s->ntags; i++) {
            const char *k = query__pool_dup(&l->pool, s->tags[i].key.p, s->tags[i].key.n);
            const char *v = query__pool_dup(&l->pool, s->tags[i].val.p, s->tags[i].val.n);
            if (!k || !v)
                return c->rc = NE_ENOMEM;
            tags[i].key = (struct ne_sv){k, s->tags[i].key.n};
            tags[i].val = (struct ne_sv){v, s->tags[i].val.n};
        }
    }
    l->v[l->n++] = (struct qseries){s->id, tags, s->ntags};
    return 0;
}

int query__series_load(struct qexec *x, const char *db, const char *meas,
                       const struct ne_iql_expr *where, const struct qschema *sch,
                       struct qseries_list *out)
{
    memset(out, 0, sizeof *out);
    struct series_ctx c = {out, where, sch, 0};
    int rc = x->src->series(x->src->ctx, db, meas, collect_series, &c);
    if (rc == 0)
        rc = c.rc;
    if (rc)
        query__series_free(out);
    return rc;
}

void query__series_free(struct qseries_list *l)
{
    ne_free(l->v);
    query__pool_free(&l->pool);
    memset(l, 0, sizeof *l);
}

/* ---- expression evaluation ------------------------------------------------------ */

int query__eval_time(const struct ne_iql_expr *e, int64_t now_ns, int64_t *out)
{
    switch (e->kind) {
    case NE_IQL_NOW:
        *out = now_ns;
        return 0;
    case NE_IQL_INTEGER:
    case NE_IQL_DURATION:
        *out = e->ival;
        return 0;
    case NE_IQL_NUMBER:
        *out = (int64_t)e->num;
        return 0;
    case NE_IQL_STRING:
        return ne_iql_parse_time(e->str, out);
    case NE_IQL_PAREN:
        return query__eval_time(e->lhs, now_ns, out);
    case NE_IQL_BINARY: {
        int64_t a, b;
        if (e->op != NE_OP_ADD && e->op != NE_OP_SUB)
            return NE_EINVAL;
        if (query__eval_time(e->lhs, now_ns, &a) || query__eval_time(e->rhs, now_ns, &b))
            return NE_EINVAL;
        *out = e->op == NE_OP_ADD ? a + b : a - b;
        return 0;
    }
    default:
        return NE_EINVAL;
    }
}

static struct ne_qcell null_cell(void)
{
    struct ne_qcell c = {.type = NE_QC_NULL};
    return c;
}

static bool cell_num(const struct ne_qcell *c, double *out)
{
    switch (c->type) {
    case NE_QC_FLOAT: *out = c->v.f; return true;
    case NE_QC_INT:
    case NE_QC_TIME: *out = (double)c->v.i; return true;
    case NE_QC_UINT: *out = (double)c->v.u; return true;
    default: return false;
    }
}

static struct ne_qcell lit_cell(const struct ne_iql_expr *e)
{
    struct ne_qcell c = null_cell();
    switch (e->kind) {
    case NE_IQL_NUMBER: c.type = NE_QC_FLOAT; c.v.f = e->num; break;
    case NE_IQL_INTEGER:
    case NE_IQL_DURATION: c.type = NE_QC_INT; c.v.i = e->ival; break;
    case NE_IQL_STRING: c.type = NE_QC_STRING; c.v.s = ne_sv_c(e->str); break;
    case NE_IQL_BOOL: c.type = NE_QC_BOOL; c.v.b = e->ival != 0; break;
    default: break;
    }
    return c;
}

struct ne_qcell query__arith(enum ne_iql_op op, struct ne_qcell a, struct ne_qcell b)
{
    struct ne_qcell r = null_cell();
    if (a.type == NE_QC_INT && b.type == NE_QC_INT) {
        int64_t x = a.v.i, y = b.v.i;
        r.type = NE_QC_INT;
        switch (op) {
        case NE_OP_ADD: r.v.i = (int64_t)((uint64_t)x + (uint64_t)y); return r;
        case NE_OP_SUB: r.v.i = (int64_t)((uint64_t)x - (uint64_t)y); return r;
        case NE_OP_MUL: r.v.i = (int64_t)((uint64_t)x * (uint64_t)y); return r;
        case NE_OP_DIV: /* InfluxQL divides integers as floats */
            r.type = NE_QC_FLOAT;
            r.v.f = (double)x / (double)y;
            return r;
        case NE_OP_MOD: if (y == 0 || (x == INT64_MIN && y == -1)) return null_cell();
            r.v.i = x % y; return r;
        case NE_OP_BITAND: r.v.i = x & y; return r;
        case NE_OP_BITOR: r.v.i = x | y; return r;
        case NE_OP_BITXOR: r.v.i = x ^ y; return r;
        default: return null_cell();
        }
    }
    double x, y;
    if (!cell_num(&a, &x) || !cell_num(&b, &y))
        return null_cell();
    r.type = NE_QC_FLOAT;
    switch (op) {
    case NE_OP_ADD: r.v.f = x + y; break;
    case NE_OP_SUB: r.v.f = x - y; break;
    case NE_OP_MUL: r.v.f = x * y; break;
    case NE_OP_DIV: r.v.f = x / y; break;
    case NE_OP_MOD: r.v.f = fmod(x, y); break;
    default: return null_cell();
    }
    return r;
}

static int cmp_cells(struct ne_qcell a, struct ne_qcell b, bool *ok)
{
    *ok = true;
    if (a.type == NE_QC_STRING && b.type == NE_QC_STRING)
        return ne_sv_cmp(a.v.s, b.v.s);
    if (a.type == NE_QC_BOOL && b.type == NE_QC_BOOL)
        return (int)a.v.b - (int)b.v.b;
    if (a.type == NE_QC_INT && b.type == NE_QC_INT)
        return a.v.i < b.v.i ? -1 : a.v.i > b.v.i;
    double x, y;
    if (cell_num(&a, &x) && cell_num(&b, &y))
        return x < y ? -1 : x > y ? 1 : 0;
    *ok = false;
    return 0;
}

static struct ne_qcell ref_value(const struct ne_iql_expr *e, const struct qrow_ctx *r)
{
    struct ne_qcell c = null_cell();
    if (r->sch && query__ref_kind(r->sch, e) == QREF_TIME) {
        c.type = NE_QC_TIME;
        c.v.i = r->time;
        return c;
    }
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->names[i], e->str) == 0)
            return r->cells[i];
    if (r->series && (!r->sch || query__ref_kind(r->sch, e) == QREF_TAG)) {
        struct ne_sv v = query__series_tag(r->series, e->str);
        c.type = NE_QC_STRING;
        c.v.s = v;
    }
    return c;
}

struct ne_qcell query__eval(const struct ne_iql_expr *e, const struct qrow_ctx *r)
{
    switch (e->kind) {
    case NE_IQL_PAREN:
        return query__eval(e->lhs, r);
    case NE_IQL_REF:
        return ref_value(e, r);
    case NE_IQL_NOW: {
        struct ne_qcell c = {.type = NE_QC_TIME};
        c.v.i = r->now_ns;
        return c;
    }
    case NE_IQL_BINARY:
        break;
    default:
        return lit_cell(e);
    }
    if (e->op == NE_OP_AND || e->op == NE_OP_OR) {
        struct ne_qcell c = {.type = NE_QC_BOOL};
        bool a = query__eval_bool(e->lhs, r);
        c.v.b = e->op == NE_OP_AND ? (a && query__eval_bool(e->rhs, r))
                                   : (a || query__eval_bool(e->rhs, r));
        return c;
    }
    if (e->op >= NE_OP_EQ && e->op <= NE_OP_NEQREGEX) {
        struct ne_qcell c = {.type = NE_QC_BOOL};
        struct ne_qcell a = query__eval(e->lhs, r);
        if (e->op == NE_OP_EQREGEX || e->op == NE_OP_NEQREGEX) {
            const regex_t *re = e->rhs->kind == NE_IQL_REGEX ? regex_get(e->rhs->str) : NULL;
            bool m = re && a.type == NE_QC_STRING && query__regex_match(re, a.v.s.p, a.v.s.n);
            c.v.b = e->op == NE_OP_EQREGEX ? m : (a.type == NE_QC_STRING && !m);
            return c;
        }
        struct ne_qcell b = query__eval(e->rhs, r);
        /* time compared with a string literal: an RFC3339 time */
        if (a.type == NE_QC_TIME && b.type == NE_QC_STRING) {
            int64_t t;
            if (query__eval_time(e->rhs, r->now_ns, &t) == 0) {
                b.type = NE_QC_TIME;
                b.v.i = t;
            }
        } else if (b.type == NE_QC_TIME && a.type == NE_QC_STRING) {
            int64_t t;
            if (query__eval_time(e->lhs, r->now_ns, &t) == 0) {
                a.type = NE_QC_TIME;
                a.v.i = t;
            }
        }
        if (a.type == NE_QC_TIME && b.type != NE_QC_TIME) {
            int64_t t;
            if (query__eval_time(e->rhs, r->now_ns, &t) == 0) {
                b.type = NE_QC_INT;
                b.v.i = t;
            }
            a.type = NE_QC_INT;
        } else if (a.type == NE_QC_TIME && b.type == NE_QC_TIME) {
            a.type = b.type = NE_QC_INT;
        }
        if (a.type == NE_QC_NULL || b.type == NE_QC_NULL) {
            c.v.b = false;
            return c;
        }
        bool ok;
        int k = cmp_cells(a, b, &ok);
        if (!ok) {
            c.v.b = e->op == NE_OP_NEQ;
            return c;
        }
        switch (e->op) {
        case NE_OP_EQ: c.v.b = k == 0; break;
        case NE_OP_NEQ: c.v.b = k != 0; break;
        case NE_OP_LT: c.v.b = k < 0; break;
        case NE_OP_LTE: c.v.b = k <= 0; break;
        case NE_OP_GT: c.v.b = k > 0; break;
        default: c.v.b = k >= 0; break;
        }
        return c;
    }
    struct ne_qcell a = query__eval(e->lhs, r), b = query__eval(e->rhs, r);
    if (a.type == NE_QC_TIME)
        a.type = NE_QC_INT;
    if (b.type == NE_QC_TIME)
        b.type = NE_QC_INT;
    return query__arith(e->op, a, b);
}

bool query__eval_bool(const struct ne_iql_expr *e, const struct qrow_ctx *r)
{
    struct ne_qcell c = query__eval(e, r);
    return c.type == NE_QC_BOOL && c.v.b;
}

/* ---- WHERE analysis -------------------------------------------------------------- */

static bool refs_only(const struct ne_iql_expr *e, const struct qschema *sch, int kind_mask)
{
    if (!e)
        return true;
    switch (e->kind) {
    case NE_IQL_REF:
        return (kind_mask >> query__ref_kind(sch, e)) & 1;
    case NE_IQL_PAREN:
        return refs_only(e->lhs, sch, kind_mask);
    case NE_IQL_BINARY:
        return refs_only(e->lhs, sch, kind_mask) && refs_only(e->rhs, sch, kind_mask);
    case NE_IQL_CALL:
    case NE_IQL_WILDCARD:
        return false;
    default:
        return true;
    }
}

static bool mentions_time(const struct ne_iql_expr *e, const struct qschema *sch)
{
    return !refs_only(e, sch, (1 << QREF_TAG) | (1 << QREF_FIELD));
}

static int time_conjunct(struct qexec *x, const struct ne_iql_expr *e, struct qwhere *w)
{
    const struct ne_iql_expr *ref = e->lhs, *val = e->rhs;
    enum ne_iql_op op = e->op;
    if (!(ref->kind == NE_IQL_REF && strcasecmp(ref->str, "time") == 0)) {
        ref = e->rhs;
        val = e->lhs;
        op = swap_op(op);
    }
    if (!(ref->kind == NE_IQL_REF && strcasecmp(ref->str, "time") == 0))
        return 1;
    int64_t t;
    if (query__eval_time(val, x->opts->now_ns, &t) != 0) {
        if (val->kind == NE_IQL_STRING)
            return query__fail(x, "invalid time '%s': expected RFC3339 like "
                                  "2026-01-01T00:00:00Z",
                               val->str);
        return 1;
    }
    int64_t lo = INT64_MIN, hi = INT64_MAX;
    switch (op) {
    case NE_OP_GT: lo = t == INT64_MAX ? t : t + 1; break;
    case NE_OP_GTE: lo = t; break;
    case NE_OP_LT: hi = t == INT64_MIN ? t : t - 1; break;
    case NE_OP_LTE: hi = t; break;
    case NE_OP_EQ: lo = hi = t; break;
    default: return 1; /* != : per-row */
    }
    if (lo != INT64_MIN && (!w->has_tmin || lo > w->tmin)) {
        w->tmin = lo;
        w->has_tmin = true;
    }
    if (hi != INT64_MAX && (!w->has_tmax || hi < w->tmax)) {
        w->tmax = hi;
        w->has_tmax = true;
    }
    return 0;
}

static int analyze(struct qexec *x, const struct ne_iql_expr *e, const struct qschema *sch,
                   struct qwhere *w)
{
    while (e->kind == NE_IQL_PAREN)
        e = e->lhs;
    if (e->kind == NE_IQL_BINARY && e->op == NE_OP_AND) {
        int rc = analyze(x, e->lhs, sch, w);
        return rc ? rc : analyze(x, e->rhs, sch, w);
    }
    if (refs_only(e, sch, 1 << QREF_TAG))
        return 0; /* handled exactly by the series filter */
    if (e->kind == NE_IQL_BINARY && e->op >= NE_OP_EQ && e->op <= NE_OP_GTE &&
        mentions_time(e, sch) && refs_only(e, sch, 1 << QREF_TIME)) {
        int rc = time_conjunct(x, e, w);
        if (rc < 0)
            return rc;
        if (rc == 0)
            return 0;
    }
    w->row_filter = true;
    return 0;
}

int query__where_analyze(struct qexec *x, const struct ne_iql_expr *where,
                         const struct qschema *sch, struct qwhere *out)
{
    memset(out, 0, sizeof *out);
    out->tmin = INT64_MIN;
    out->tmax = INT64_MAX;
    if (!where)
        return 0;
    return analyze(x, where, sch, out);
}

/* ---- sources --------------------------------------------------------------------- */

const char *query__stmt_db(const struct qexec *x, const struct ne_iql_stmt *st)
{
    if (st->on_db)
        return st->on_db;
    for (size_t i = 0; i < st->nsources; i++)
        if (st->sources[i].db)
            return st->sources[i].db;
    return x->opts->db && x->opts->db[0] ? x->opts->db : NULL;
}

int query__resolve_sources(struct qexec *x, const char *db, const struct ne_iql_stmt *st,
                           struct qpool *pool, struct qstrs *out)
{
    struct qstrs all = {0};
    struct query_collect cc = {.pool = pool, .strs = &all};
    int rc = x->src->measurements(x->src->ctx, db, query__collect_name, &cc);
    if (rc == 0)
        rc = cc.rc;
    query__strs_sort_unique(&all);
    for (size_t i = 0; rc == 0 && i < st->nsources; i++) {
        const struct ne_iql_source *s = &st->sources[i];
        if (s->regex) {
            regex_t re;
            if (query__regex_compile(&re, s->regex, x->err, sizeof x->err)) {
                rc = NE_EINVAL;
                break;
            }
            for (size_t j = 0; rc == 0 && j < all.n; j++)
                if (query__regex_match(&re, all.v[j], strlen(all.v[j])))
                    rc = query__strs_push(out, all.v[j]);
            regfree(&re);
        } else if (query__strs_has(&all, s->name)) {
            rc = query__strs_push(out, s->name);
        }
    }
    if (st->nsources == 0)
        for (size_t j = 0; rc == 0 && j < all.n; j++)
            rc = query__strs_push(out, all.v[j]);
    query__strs_sort_unique(out);
    query__strs_free(&all);
    return rc;
}

static int pass_warning(void *arg, const char *text)
{
    const struct qexec *x = arg;
    return x->out->message ? x->out->message(x->out->ctx, "warning", text) : 0;
}

/* Hands the source's warnings of the statement to the output. */
static int pass_warnings(struct qexec *x)
{
    return x->src->warnings ? x->src->warnings(x->src->ctx, pass_warning, x) : 0;
}

int ne_query_run(const struct ne_qsrc *src, const struct ne_query_opts *opts,
                 const struct ne_iql_query *q, const struct ne_qout *out)
{
    struct qexec x = {.src = src, .opts = opts, .out = out};
    for (size_t i = 0; i < q->nstmts; i++) {
        x.err[0] = 0;
        x.out_rc = out->begin_statement(out->ctx, (int)i);
        if (!x.out_rc && out->chunking)
            x.out_rc = out->chunking(out->ctx, query__chunking(&q->stmts[i]));
        if (x.out_rc)
            break;
        int rc = query__run_statement(&x, &q->stmts[i]);
        regex_cache_clear();
        if (x.out_rc)
            break;
        if (rc && !x.err[0])
            snprintf(x.err, sizeof x.err, "%s", ne_strerror(rc));
        x.out_rc = pass_warnings(&x);
        if (x.out_rc)
            break;
        x.out_rc = out->end_statement(out->ctx, rc ? x.err : NULL);
        if (x.out_rc)
            break;
    }
    return x.out_rc;
}

int ne_query_text(const struct ne_qsrc *src, const struct ne_query_opts *opts, const char *text,
                  size_t len, const struct ne_qout *out)
{
    struct ne_iql_query *q = NULL;
    char err[512];
    int rc = ne_iql_parse(text, len, &q, err, sizeof err);
    if (rc) {
        rc = out->begin_statement(out->ctx, 0);
        if (rc == 0)
            rc = out->end_statement(out->ctx, err);
        return rc;
    }
    rc = ne_query_run(src, opts, q, out);
    ne_iql_free(&q);
    return rc;
}
