/*
 * select.c - SELECT: raw rows, aggregates, GROUP BY time and tags, fill,
 * transformations, ordering and limits.
 *
 * Plan per measurement: load the schema, expand wildcards into columns,
 * bind every aggregate call to a slot (function + field), load the series
 * that pass the tag filter and group them by the GROUP BY tags. Then per
 * group:
 *  - aggregate queries feed one accumulator per (slot, time bucket) from
 *    column scans; a block that lies wholly inside one bucket is folded
 *    from its statistics without decoding, where the function allows it
 *    (count, sum, mean, min, max, first, last, spread) and no row filter
 *    needs the values;
 *  - raw queries (and aggregates with a field filter) join each series'
 *    columns on time into rows, filter them, and merge the series' rows
 *    by time.
 * Accumulators hold O(buckets) state, value lists only for median, mode
 * and percentile.
 *
 * Semantics follow InfluxDB 1.x: ties in min/max keep the earliest point,
 * first/last ties keep the larger value, median of an even count is
 * a + (b - a) / 2, percentile picks index floor(n * p / 100 + 0.5) - 1,
 * stddev is the sample deviation (null for one value), count() fills empty
 * buckets with 0 under fill(null).
 */
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"
#include "store/query/select_int.h"

static const struct {
    const char *name;
    enum afn fn;
    bool selector;   /* returns a point's own time when alone */
    bool numeric;    /* needs a numeric field */
    bool from_stats; /* can fold whole-block statistics */
} afns[] = {
    {"count", A_COUNT, false, false, true},     {"sum", A_SUM, false, true, true},
    {"mean", A_MEAN, false, true, true},        {"median", A_MEDIAN, false, true, false},
    {"mode", A_MODE, false, false, false},      {"min", A_MIN, true, true, true},
    {"max", A_MAX, true, true, true},           {"first", A_FIRST, true, false, true},
    {"last", A_LAST, true, false, true},        {"spread", A_SPREAD, false, true, true},
    {"stddev", A_STDDEV, false, true, false},   {"percentile", A_PERCENTILE, true, true, false},
};

static const struct {
    const char *name;
    enum tfn fn;
} tfns[] = {
    {"derivative", T_DERIV}, {"non_negative_derivative", T_NNDERIV}, {"difference", T_DIFF},
    {"non_negative_difference", T_NNDIFF}, {"moving_average", T_MAVG},
    {"cumulative_sum", T_CUMSUM},
};

static const char *const unsupported_fns[] = {
    "distinct", "integral", "top", "bottom", "sample", "holt_winters", "holt_winters_with_fit",
    "elapsed", "count_hll", "chande_momentum_oscillator", "exponential_moving_average",
    "double_exponential_moving_average", "kaufmans_efficiency_ratio",
    "kaufmans_adaptive_moving_average", "triple_exponential_moving_average",
    "triple_exponential_derivative", "relative_strength_index",
};

/* ---- planning ----------------------------------------------------------------------- */

static int afn_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof afns / sizeof afns[0]; i++)
        if (strcmp(afns[i].name, name) == 0)
            return (int)i;
    return -1;
}

static enum tfn tfn_lookup(const char *name)
{
    for (size_t i = 0; i < sizeof tfns / sizeof tfns[0]; i++)
        if (strcmp(tfns[i].name, name) == 0)
            return tfns[i].fn;
    return T_NONE;
}

static bool is_unsupported_fn(const char *name)
{
    for (size_t i = 0; i < sizeof unsupported_fns / sizeof unsupported_fns[0]; i++)
        if (strcmp(unsupported_fns[i], name) == 0)
            return true;
    return false;
}

bool query__has_call(const struct ne_iql_expr *e)
{
    if (!e)
        return false;
    if (e->kind == NE_IQL_CALL)
        return true;
    return query__has_call(e->lhs) || query__has_call(e->rhs);
}

static int field_index(struct plan *p, const char *name, uint8_t type)
{
    for (size_t i = 0; i < p->fields.n; i++)
        if (strcmp(p->fields.v[i], name) == 0)
            return (int)i;
    if (p->fields.n >= sizeof p->field_types)
        return -1;
    const char *d = query__pool_dup(&p->pool, name, strlen(name));
    if (query__strs_push(&p->fields, d))
        return -1;
    p->field_types[p->fields.n - 1] = type;
    return (int)p->fields.n - 1;
}

/* Collects the fields referenced by e (raw rows and row filters). */
static int need_fields(struct qexec *x, struct plan *p, const struct ne_iql_expr *e,
                       const struct qschema *sch)
{
    if (!e)
        return 0;
    if (e->kind == NE_IQL_REF && query__ref_kind(sch, e) == QREF_FIELD) {
        int t = query__schema_field_type(sch, e->str);
        if (t >= 0 && field_index(p, e->str, (uint8_t)t) < 0)
            return query__fail(x, "too many fields");
        return 0;
    }
    int rc = need_fields(x, p, e->lhs, sch);
    if (rc == 0)
        rc = need_fields(x, p, e->rhs, sch);
    for (size_t i = 0; rc == 0 && i < e->nargs; i++)
        rc = need_fields(x, p, e->args[i], sch);
    return rc;
}

/* Binds an aggregate call (on a field ref, or on field wf when expanded
 * from a wildcard) to a slot. */
static int bind_call(struct qexec *x, struct plan *p, const struct ne_iql_expr *call,
                     const char *wf, const struct qschema *sch)
{
    int ai = afn_lookup(call->str);
    if (ai < 0) {
        if (is_unsupported_fn(call->str))
            return query__fail(x, "function %s() is not supported by neoedge yet", call->str);
        return query__fail(x, "undefined function %s()", call->str);
    }
    size_t want = afns[ai].fn == A_PERCENTILE ? 2 : 1;
    if (call->nargs != want)
        return query__fail(x, "invalid number of arguments for %s, expected %zu, got %zu",
                           call->str, want, call->nargs);
    const struct ne_iql_expr *arg = call->args[0];
    const char *field = wf;
    if (!field) {
        if (arg->kind != NE_IQL_REF)
            return query__fail(x, "expected field argument in %s()", call->str);
        field = arg->str;
    }
    int type = query__schema_field_type(sch, field);
    struct slot s = {.fn = afns[ai].fn, .field = field, .type = (uint8_t)(type < 0 ? 0 : type)};
    if (afns[ai].fn == A_PERCENTILE) {
        const struct ne_iql_expr *n = call->args[1];
        if (n->kind != NE_IQL_NUMBER && n->kind != NE_IQL_INTEGER)
            return query__fail(x, "expected float argument in percentile()");
        s.param = n->kind == NE_IQL_NUMBER ? n->num : (double)n->ival;
    }
    if (type >= 0 && afns[ai].numeric && (type == NE_V_STRING || type == NE_V_BOOL))
        return query__fail(x, "unsupported %s iterator type: %s field \"%s\"", call->str,
                           ne_vtype_name((enum ne_vtype)type), field);
    if (p->nslots == MAX_SLOTS || p->nbinds == sizeof p->binds / sizeof p->binds[0])
        return query__fail(x, "too many aggregates in one statement");
    p->slots[p->nslots] = s;
    p->binds[p->nbinds].call = call;
    p->binds[p->nbinds].slot = (int)p->nslots;
    p->nbinds++;
    p->nslots++;
    return 0;
}

static int bind_calls(struct qexec *x, struct plan *p, const struct ne_iql_expr *e,
                      const char *wf, const struct qschema *sch)
{
    if (!e)
        return 0;
    if (e->kind == NE_IQL_CALL) {
        if (tfn_lookup(e->str) != T_NONE)
            return query__fail(x, "%s() must be the outermost function of a field", e->str);
        return bind_call(x, p, e, wf, sch);
    }
    int rc = bind_calls(x, p, e->lhs, wf, sch);
    return rc ? rc : bind_calls(x, p, e->rhs, wf, sch);
}

/* Column name from an expression: calls and refs joined by '_'. */
static void name_parts(const struct ne_iql_expr *e, char *buf, size_t n, size_t *len)
{
    if (!e)
        return;
    if (e->kind == NE_IQL_CALL || e->kind == NE_IQL_REF) {
        int k = snprintf(buf + *len, *len < n ? n - *len : 0, "%s%s", *len ? "_" : "", e->str);
        if (k > 0)
            *len += (size_t)k;
        return;
    }
    name_parts(e->lhs, buf, n, len);
    name_parts(e->rhs, buf, n, len);
}

static int add_column(struct qexec *x, struct plan *p, const struct ne_iql_field *f,
                      const char *wf, const struct qschema *sch)
{
    if (p->ncols == MAX_COLS)
        return query__fail(x, "too many columns");
    struct column *c = &p->cols[p->ncols];
    memset(c, 0, sizeof *c);
    c->raw_field = -1;
    c->wild_field = wf;
    const struct ne_iql_expr *e = f->expr;
    while (e->kind == NE_IQL_PAREN)
        e = e->lhs;
    char *nb = p->names_buf[p->ncols];
    if (e->kind == NE_IQL_CALL && tfn_lookup(e->str) != T_NONE) {
        c->tf = tfn_lookup(e->str);
        if (e->nargs < 1)
            return query__fail(x, "invalid number of arguments for %s", e->str);
        c->expr = e->args[0];
        c->tf_unit = 1000000000LL;
        if (c->tf == T_MAVG) {
            if (e->nargs != 2 || e->args[1]->kind != NE_IQL_INTEGER || e->args[1]->ival < 1)
                return query__fail(x, "moving_average window must be an integer greater than "
                                      "or equal to 1");
            c->tf_n = e->args[1]->ival;
        } else if (e->nargs == 2) {
            if (e->args[1]->kind != NE_IQL_DURATION || e->args[1]->ival <= 0)
                return query__fail(x, "second argument to %s must be a duration", e->str);
            c->tf_unit = e->args[1]->ival;
            c->tf_unit_given = true;
        } else if (e->nargs > 2) {
            return query__fail(x, "invalid number of arguments for %s", e->str);
        }
        if (wf)
            snprintf(nb, 128, "%s_%s", e->str, wf);
        else
            snprintf(nb, 128, "%s", e->str);
    } else {
        c->expr = e;
        size_t len = 0;
        nb[0] = 0;
        if (wf && e->kind == NE_IQL_CALL)
            snprintf(nb, 128, "%s_%s", e->str, wf);
        else
            name_parts(e, nb, 128, &len);
        if (!nb[0])
            snprintf(nb, 128, "%s", "expr");
    }
    c->name = f->alias ? f->alias : nb;
    if (p->aggregate) {
        int rc = bind_calls(x, p, c->expr, wf, sch);
        if (rc)
            return rc;
    } else if (c->expr->kind == NE_IQL_REF && query__ref_kind(sch, c->expr) == QREF_FIELD) {
        int t = query__schema_field_type(sch, c->expr->str);
        c->raw_field = field_index(p, c->expr->str, (uint8_t)(t < 0 ? NE_V_FLOAT : t));
    } else {
        int rc = need_fields(x, p, c->expr, sch);
        if (rc)
            return rc;
    }
    p->ncols++;
    return 0;
}

/* Makes repeated column names unique: mean, mean_1, mean_2 (counted over
 * the names as written, before any renaming). */
static void dedup_names(struct plan *p)
{
    char orig[MAX_COLS][128]; /* 8 KiB of stack, not of every thread's TLS */
    for (size_t i = 0; i < p->ncols; i++)
        snprintf(orig[i], sizeof orig[i], "%s", p->cols[i].name);
    for (size_t i = 1; i < p->ncols; i++) {
        int k = 0;
        for (size_t j = 0; j < i; j++)
            if (strcmp(orig[i], orig[j]) == 0)
                k++;
        if (k) {
            char tmp[128];
            snprintf(tmp, sizeof tmp, "%s_%d", orig[i], k);
            memcpy(p->names_buf[i], tmp, sizeof tmp);
            p->cols[i].name = p->names_buf[i];
        }
    }
}

static bool wildcard_type_ok(const struct ne_iql_expr *call, uint8_t type)
{
    int ai = afn_lookup(call->str);
    if (ai < 0 || !afns[ai].numeric)
        return true;
    return type == NE_V_FLOAT || type == NE_V_INT || type == NE_V_UINT;
}

/* The call under a transform, or e itself. */
static const struct ne_iql_expr *inner_call(const struct ne_iql_expr *e)
{
    while (e->kind == NE_IQL_PAREN)
        e = e->lhs;
    if (e->kind == NE_IQL_CALL && tfn_lookup(e->str) != T_NONE && e->nargs >= 1)
        e = e->args[0];
    return e;
}

bool query__has_field_ref(const struct ne_iql_expr *e, const struct qschema *sch)
{
    if (!e)
        return false;
    if (e->kind == NE_IQL_REF)
        return query__ref_kind(sch, e) == QREF_FIELD;
    if (query__has_field_ref(e->lhs, sch) || query__has_field_ref(e->rhs, sch))
        return true;
    for (size_t i = 0; i < e->nargs; i++)
        if (query__has_field_ref(e->args[i], sch))
            return true;
    return false;
}

static int plan_fields(struct qexec *x, const struct ne_iql_stmt *st, const struct qschema *sch,
                       struct plan *p)
{
    p->aggregate = false;
    for (size_t i = 0; i < st->nfields; i++) {
        const struct ne_iql_expr *e = inner_call(st->fields[i].expr);
        if (query__has_call(e))
            p->aggregate = true;
    }
    for (size_t i = 0; i < st->nfields; i++) {
        const struct ne_iql_expr *e = inner_call(st->fields[i].expr);
        bool agg = query__has_call(e);
        if (agg != p->aggregate && e->kind != NE_IQL_NUMBER && e->kind != NE_IQL_INTEGER)
            return query__fail(x, "mixing aggregate and non-aggregate queries is not supported");
    }
    if (st->group_interval_ns && !p->aggregate)
        return query__fail(x, "GROUP BY requires at least one aggregate function");
    for (size_t i = 0; i < st->nfields; i++) {
        const struct ne_iql_field *f = &st->fields[i];
        const struct ne_iql_expr *e = inner_call(f->expr);
        bool wild_arg = e->kind == NE_IQL_CALL && e->nargs >= 1 &&
                        (e->args[0]->kind == NE_IQL_WILDCARD || e->args[0]->kind == NE_IQL_REGEX);
        if (wild_arg) {
            regex_t re;
            bool is_re = e->args[0]->kind == NE_IQL_REGEX;
            if (is_re && query__regex_compile(&re, e->args[0]->str, x->err, sizeof x->err))
                return NE_EINVAL;
            int rc = 0;
            for (size_t k = 0; rc == 0 && k < sch->field_names.n; k++) {
                const char *fname = sch->field_names.v[k];
                if (is_re && !query__regex_match(&re, fname, strlen(fname)))
                    continue;
                if (!wildcard_type_ok(e, sch->field_types[k]))
                    continue;
                struct ne_iql_field ff = {f->expr, NULL};
                rc = add_column(x, p, &ff, fname, sch);
            }
            if (is_re)
                regfree(&re);
            if (rc)
                return rc;
            continue;
        }
        if (e->kind == NE_IQL_WILDCARD || e->kind == NE_IQL_REGEX) {
            if (p->aggregate)
                return query__fail(x, "mixing aggregate and non-aggregate queries is not "
                                      "supported");
            /* raw *: fields and tags together, sorted; tags in GROUP BY are
             * left out (they become series tags) */
            struct qstrs names = {0};
            regex_t re;
            bool is_re = e->kind == NE_IQL_REGEX;
            if (is_re && query__regex_compile(&re, e->str, x->err, sizeof x->err))
                return NE_EINVAL;
            int rc = 0;
            for (size_t k = 0; rc == 0 && k < sch->field_names.n; k++)
                if (e->ref_type != 2 &&
                    (!is_re || query__regex_match(&re, sch->field_names.v[k],
                                                  strlen(sch->field_names.v[k]))))
                    rc = query__strs_push(&names, sch->field_names.v[k]);
            for (size_t k = 0; rc == 0 && k < sch->tag_keys.n; k++) {
                const char *tk = sch->tag_keys.v[k];
                bool grouped = st->group_all_tags;
                for (size_t g = 0; g < st->ngroup_tags; g++)
                    grouped |= strcmp(st->group_tags[g], tk) == 0;
                if (e->ref_type != 1 && !grouped &&
                    query__schema_field_type(sch, tk) < 0 &&
                    (!is_re || query__regex_match(&re, tk, strlen(tk))))
                    rc = query__strs_push(&names, tk);
            }
            if (is_re)
                regfree(&re);
            query__strs_sort_unique(&names);
            for (size_t k = 0; rc == 0 && k < names.n; k++) {
                struct ne_iql_expr *ref = query__pool_alloc(&p->pool, sizeof *ref);
                if (!ref) {
                    rc = NE_ENOMEM;
                    break;
                }
                ref->kind = NE_IQL_REF;
                ref->str = names.v[k];
                ref->ref_type = query__schema_field_type(sch, names.v[k]) >= 0 ? 1 : 2;
                struct ne_iql_field ff = {ref, NULL};
                rc = add_column(x, p, &ff, NULL, sch);
            }
            query__strs_free(&names);
            if (rc)
                return rc;
            continue;
        }
        int rc = add_column(x, p, f, NULL, sch);
        if (rc)
            return rc;
    }
    dedup_names(p);
    p->selector_slot = -1;
    if (p->aggregate && p->nslots == 1) {
        for (size_t i = 0; i < sizeof afns / sizeof afns[0]; i++)
            if (afns[i].fn == p->slots[0].fn && afns[i].selector)
                p->selector_slot = 0;
    }
    if (!p->aggregate) {
        bool any_field = false;
        for (size_t i = 0; i < p->ncols; i++)
            if (p->cols[i].raw_field >= 0 || query__has_field_ref(p->cols[i].expr, sch))
                any_field = true;
        if (!any_field)
            p->ncols = 0; /* tags alone select nothing (InfluxDB answers empty) */
    }
    return 0;
}

/* ---- evaluation of aggregate columns --------------------------------------------- */

static struct ne_qcell eval_agg(const struct plan *p, const struct ne_iql_expr *e,
                                const struct ne_qcell *slot_vals, int64_t now_ns)
{
    switch (e->kind) {
    case NE_IQL_CALL:
        for (size_t i = 0; i < p->nbinds; i++)
            if (p->binds[i].call == e)
                return slot_vals[p->binds[i].slot];
        break;
    case NE_IQL_PAREN:
        return eval_agg(p, e->lhs, slot_vals, now_ns);
    case NE_IQL_BINARY:
        return query__arith(e->op, eval_agg(p, e->lhs, slot_vals, now_ns),
                            eval_agg(p, e->rhs, slot_vals, now_ns));
    default: {
        struct qrow_ctx r = {.now_ns = now_ns};
        return query__eval(e, &r);
    }
    }
    struct ne_qcell n = {.type = NE_QC_NULL};
    return n;
}

/* The slot value of column c for wildcard-expanded columns: its binding
 * is the slot created with that field. */
static struct ne_qcell column_value(const struct plan *p, size_t c, const struct ne_qcell *sv,
                                    int64_t now_ns)
{
    const struct column *col = &p->cols[c];
    if (col->wild_field) {
        /* the binding created for this column: the n-th binding of the
         * call whose slot field is wild_field */
        for (size_t i = 0; i < p->nbinds; i++)
            if (p->slots[p->binds[i].slot].field == col->wild_field &&
                (p->binds[i].call == col->expr || p->binds[i].call == inner_call(col->expr)))
                return sv[p->binds[i].slot];
    }
    return eval_agg(p, col->expr, sv, now_ns);
}

/* ---- aggregate groups ------------------------------------------------------------------ */

struct agg_scan {
    struct acc *accs; /* one slot's nb accumulators */
    struct qpool *pool; /* copies of string values kept by accumulators */
    const struct slot *slot;
    int64_t start, interval, nb;
    bool stats_ok;
    int rc;
};

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t bucket_of(const struct agg_scan *s, int64_t t)
{
    return s->interval ? floor_div(t - s->start, s->interval) : 0;
}

/* The first index in [i, n) of ascending ts with ts[j] >= limit, found by
 * galloping from i: a bucket's run costs O(log run), not O(run). */
static size_t run_end(const int64_t *ts, size_t i, size_t n, int64_t limit)
{
    size_t lo = i, step = 1;
    while (lo + step < n && ts[lo + step] < limit) {
        lo += step;
        step *= 2;
    }
    size_t hi = lo + step < n ? lo + step : n; /* ts[lo] < limit <= ts[hi] (or hi == n) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (ts[mid] < limit)
            lo = mid;
        else
            hi = mid;
    }
    return hi;
}

/* run_end, first trying i + guess (the previous run's length): regular
 * points make every full bucket's run as long as the last one, and two
 * compares then replace the search. */
static size_t run_end_guess(const int64_t *ts, size_t i, size_t n, int64_t limit, size_t guess)
{
    size_t j = i + guess;
    if (guess && j < n && ts[j - 1] < limit && ts[j] >= limit)
        return j;
    return run_end(ts, i, n, limit);
}

static int agg_points(void *arg, uint64_t sid, const int64_t *ts, const void *vals, size_t n)
{
    struct agg_scan *s = arg;
    size_t i = 0, guess = 0;
    while (i < n) {
        int64_t b = bucket_of(s, ts[i]);
        size_t j = n;
        if (s->interval && ts[n - 1] >= s->start + (b + 1) * s->interval) {
            j = run_end_guess(ts, i, n, s->start + (b + 1) * s->interval, guess);
            guess = j - i;
        }
        if (b >= 0 && b < s->nb) {
            int rc = query__acc_add_run(&s->accs[b], s->slot, ts, vals, i, j - i, s->pool);
            if (rc)
                return s->rc = rc;
        }
        i = j;
    }
    return 0;
}

static int agg_block(void *arg, uint64_t sid, const struct ne_block_stats *st)
{
    struct agg_scan *s = arg;
    if (!s->stats_ok || st->count == 0 || st->type == NE_V_STRING)
        return 0;
    if ((st->flags & NE_STATS_HAS_NAN) != 0)
        return 0;
    int64_t b = bucket_of(s, st->min_ts);
    if (b != bucket_of(s, st->max_ts) || b < 0 || b >= s->nb)
        return 0;
    query__acc_fold(&s->accs[b], st);
    return 1;
}

struct min_scan {
    int64_t min;
    bool found;
};

static int min_points(void *arg, uint64_t sid, const int64_t *ts, const void *vals, size_t n)
{
    struct min_scan *m = arg;
    if (n && (!m->found || ts[0] < m->min)) {
        m->min = ts[0];
        m->found = true;
    }
    return 0;
}

static int min_block(void *arg, uint64_t sid, const struct ne_block_stats *st)
{
    struct min_scan *m = arg;
    if (st->count && (!m->found || st->min_ts < m->min)) {
        m->min = st->min_ts;
        m->found = true;
    }
    return 1;
}

/* Row-level accumulation (aggregates with a field filter): read rows, keep
 * those passing the WHERE, feed each slot from its field's cell. */
static int agg_from_rows(struct qexec *x, const struct ne_iql_stmt *st, const struct plan *p,
                         const struct qschema *sch, const struct qseries *const *series,
                         size_t ns, int64_t lo, int64_t hi, struct agg_scan *scans)
{
    struct rowset rs = {.width = p->fields.n};
    int rc = query__collect_group_rows(x, p, sch, series, ns, lo, hi, &rs);
    int slot_field[MAX_SLOTS];
    for (size_t s = 0; s < p->nslots; s++) {
        slot_field[s] = -1;
        for (size_t f = 0; f < p->fields.n; f++)
            if (strcmp(p->fields.v[f], p->slots[s].field) == 0)
                slot_field[s] = (int)f;
    }
    for (size_t r = 0; rc == 0 && r < rs.n; r++) {
        const struct ne_qcell *cells = rs.cells + r * rs.width;
        struct qrow_ctx ctx = {.time = rs.t[r], .series = series[rs.series[r]], .sch = sch,
                               .names = p->fields.v, .cells = cells, .n = p->fields.n,
                               .now_ns = x->opts->now_ns};
        if (st->where && !query__eval_bool(st->where, &ctx))
            continue;
        for (size_t s = 0; rc == 0 && s < p->nslots; s++) {
            int fi = slot_field[s];
            if (fi < 0 || cells[fi].type == NE_QC_NULL)
                continue;
            int64_t b = bucket_of(&scans[s], rs.t[r]);
            if (b < 0 || b >= scans[s].nb)
                continue;
            rc = query__acc_add(&scans[s].accs[b], p->slots[s].fn, cells[fi], rs.t[r]);
        }
    }
    query__rowset_free(&rs);
    return rc;
}

/* The GROUP BY tag keys of a measurement. */
struct grouping {
    const char **keys; /* group tag keys, sorted */
    size_t nkeys;
    struct qstrs owned;
};

/* The buckets of an aggregate: [lo, hi] is scanned; bucket b starts at
 * start + b * interval (one bucket without GROUP BY time); rows before
 * emit_from were read only for transformations. */
struct agg_range {
    int64_t lo, hi, start, nb, emit_from;
};

/* Works out the buckets for the given series. Returns 0 with r->nb == 0 when
 * there is nothing to answer (no data when the range had to come from it). */
static int agg_range_of(struct qexec *x, const struct ne_iql_stmt *st, const struct plan *p,
                        const struct qschema *sch, const struct qwhere *w,
                        const struct qseries *const *series, size_t ns, struct agg_range *r)
{
    int64_t interval = st->group_interval_ns;
    memset(r, 0, sizeof *r);
    r->lo = w->has_tmin ? w->tmin : INT64_MIN;
    r->hi = w->has_tmax ? w->tmax : INT64_MAX;
    r->emit_from = INT64_MIN;
    r->nb = 1;
    if (interval && !w->has_tmax)
        r->hi = x->opts->now_ns;
    if (interval && !w->has_tmin) {
        struct min_scan m = {0};
        struct idmap map = {0};
        int rc = query__idmap_build(&map, series, ns);
        for (size_t s = 0; rc == 0 && s < p->nslots; s++)
            rc = x->src->scan(x->src->ctx, sch->db, sch->meas, map.ids, map.n, p->slots[s].field,
                              (enum ne_vtype)p->slots[s].type, r->lo, r->hi, min_points,
                              min_block, &m);
        query__idmap_free(&map);
        if (rc || !m.found) {
            r->nb = 0;
            return rc;
        }
        r->lo = m.min;
    }
    /* Transformations of GROUP BY time aggregates see the intervals just
     * before the range too (as InfluxDB computes them): one for
     * derivative and difference, N-1 for moving_average(N). Rows before
     * the range are dropped after the transformation. */
    if (interval && w->has_tmin) {
        int64_t extra = 0;
        for (size_t c = 0; c < p->ncols; c++) {
            int64_t e = p->cols[c].tf == T_MAVG   ? p->cols[c].tf_n - 1
                        : p->cols[c].tf == T_NONE || p->cols[c].tf == T_CUMSUM ? 0
                                                                                : 1;
            extra = e > extra ? e : extra;
        }
        if (extra > 0) {
            int64_t off0 = st->group_offset_ns % interval;
            r->emit_from = floor_div(r->lo - off0, interval) * interval + off0;
            r->lo = r->emit_from - extra * interval;
        }
    }
    if (interval) {
        int64_t off = st->group_offset_ns % interval;
        r->start = floor_div(r->lo - off, interval) * interval + off;
        r->nb = floor_div(r->hi - r->start, interval) + 1;
        uint64_t maxb = x->opts->max_buckets ? x->opts->max_buckets : 1000000;
        if (r->nb <= 0) {
            r->nb = 0;
            return 0;
        }
        if ((uint64_t)r->nb > maxb)
            return query__fail(x, "max-select-buckets limit exceeded: (%lld/%llu)",
                               (long long)r->nb, (unsigned long long)maxb);
    }
    return 0;
}

/* One group's accumulators: one agg_scan (nb buckets) per slot. */
struct agg_state {
    struct agg_scan *scans;
    struct qpool strpool;
};

static int agg_state_init(struct agg_state *a, const struct ne_iql_stmt *st,
                          const struct plan *p, const struct agg_range *r)
{
    memset(a, 0, sizeof *a);
    a->scans = ne_calloc(p->nslots ? p->nslots : 1, sizeof *a->scans);
    if (!a->scans)
        return NE_ENOMEM;
    for (size_t s = 0; s < p->nslots; s++) {
        struct agg_scan *sc = &a->scans[s];
        sc->accs = ne_calloc((size_t)r->nb, sizeof(struct acc));
        if (!sc->accs)
            return NE_ENOMEM;
        sc->slot = &p->slots[s];
        sc->pool = &a->strpool;
        sc->start = r->start;
        sc->interval = st->group_interval_ns;
        sc->nb = r->nb;
        bool time_from_point = (int)s == p->selector_slot && !st->group_interval_ns;
        for (size_t k = 0; k < sizeof afns / sizeof afns[0]; k++)
            if (afns[k].fn == p->slots[s].fn)
                sc->stats_ok = afns[k].from_stats && !time_from_point;
        /* percentile's value lists keep times only when the row shows them */
        for (int64_t b = 0; time_from_point && b < r->nb; b++)
            sc->accs[b].nums.with_t = true;
    }
    return 0;
}

static void agg_state_free(struct agg_state *a, const struct plan *p, const struct agg_range *r)
{
    for (size_t s = 0; a->scans && s < p->nslots; s++) {
        if (!a->scans[s].accs)
            continue;
        for (int64_t b = 0; b < r->nb; b++)
            query__acc_free(&a->scans[s].accs[b]);
        ne_free(a->scans[s].accs);
    }
    ne_free(a->scans);
    query__pool_free(&a->strpool);
    memset(a, 0, sizeof *a);
}

/* Turns one group's accumulators into rows (fill, transformations) and
 * writes them as a result series. */
static int agg_emit(struct qexec *x, const struct ne_iql_stmt *st, struct plan *p,
                    const struct qschema *sch, const struct qwhere *w,
                    const struct agg_range *r, struct agg_state *a, const struct ne_tag *gtags,
                    size_t ngtags)
{
    int64_t interval = st->group_interval_ns;
    struct group_out g = {.ncols = p->ncols};
    bool any_data = false;
    bool *empty = ne_calloc((size_t)r->nb, sizeof *empty);
    int rc = empty ? 0 : NE_ENOMEM;
    for (int64_t b = 0; rc == 0 && b < r->nb; b++) {
        struct ne_qcell sv[MAX_SLOTS];
        int64_t sel_t = INT64_MIN;
        bool has = false;
        for (size_t s = 0; s < p->nslots; s++) {
            int64_t t;
            has |= a->scans[s].accs[b].n > 0;
            sv[s] = query__acc_result(&a->scans[s].accs[b], &p->slots[s], &t);
            if ((int)s == p->selector_slot)
                sel_t = t;
        }
        any_data |= has;
        if (!has && st->fill == NE_FILL_NONE)
            continue;
        if (!has && !interval)
            continue;
        struct ne_qcell cells[MAX_COLS];
        for (size_t c = 0; c < p->ncols; c++)
            cells[c] = column_value(p, c, sv, x->opts->now_ns);
        int64_t t = interval ? r->start + b * interval : (w->has_tmin ? w->tmin : 0);
        if (!interval && p->selector_slot >= 0 && sel_t != INT64_MIN)
            t = sel_t;
        empty[g.n] = !has;
        if (!has && st->fill != NE_FILL_NULL)
            for (size_t c = 0; c < p->ncols; c++)
                if (cells[c].type == NE_QC_INT && cells[c].v.i == 0 &&
                    p->cols[c].expr->kind == NE_IQL_CALL)
                    cells[c].type = NE_QC_NULL; /* count() of nothing: filled below */
        rc = query__gout_add(&g, t, cells);
    }
    if (rc == 0 && any_data) {
        if (interval && st->fill != NE_FILL_NULL && st->fill != NE_FILL_NONE)
            query__apply_fill(&g, st, empty);
        for (size_t c = 0; rc == 0 && c < p->ncols; c++)
            if (p->cols[c].tf != T_NONE)
                rc = query__apply_transform(&g, c, &p->cols[c], interval, st->order_desc);
        if (rc == 0)
            rc = query__emit_group(x, st, p, sch->meas, gtags, ngtags, &g, r->emit_from);
    }
    ne_free(empty);
    query__gout_free(&g);
    return rc;
}

/* ---- scanning on two threads ----------------------------------------------------------- */

/* Aggregates over at least this many series read half of them on a second
 * thread when the source allows it: below it, starting a thread costs
 * more than it saves. */
#define PARALLEL_MIN_SERIES 128

/* The scans of every slot over one list of series ids; args[s] is slot s's
 * callback argument. Runs on the caller's thread or on one of its own. */
struct scan_job {
    const struct qexec *x;
    const struct qschema *sch;
    const struct plan *p;
    const uint64_t *ids;
    size_t n;
    int64_t lo, hi;
    ne_qsrc_points_fn points;
    ne_qsrc_block_fn block;
    void **args;
    int rc;
};

static int scan_job_run(struct scan_job *j)
{
    const struct ne_qsrc *src = j->x->src;
    int rc = 0;
    for (size_t s = 0; rc == 0 && s < j->p->nslots; s++)
        rc = src->scan(src->ctx, j->sch->db, j->sch->meas, j->ids, j->n, j->p->slots[s].field,
                       (enum ne_vtype)j->p->slots[s].type, j->lo, j->hi, j->points, j->block,
                       j->args[s]);
    return rc;
}

static void *scan_job_main(void *arg)
{
    struct scan_job *j = arg;
    j->rc = scan_job_run(j);
    return NULL;
}

/* Runs a here and b on a thread of its own (b after a if no thread can
 * be started). The jobs must touch disjoint accumulators. Returns the
 * first non-zero result. */
static int scan_pair(struct scan_job *a, struct scan_job *b)
{
    pthread_t t;
    bool threaded = pthread_create(&t, NULL, scan_job_main, b) == 0;
    a->rc = scan_job_run(a);
    if (threaded)
        pthread_join(t, NULL);
    else
        b->rc = scan_job_run(b);
    return a->rc ? a->rc : b->rc;
}

/* True if the slots' accumulators can be filled in two halves and merged
 * (query__acc_merge): numbers only, no value lists. */
static bool slots_mergeable(const struct plan *p)
{
    for (size_t s = 0; s < p->nslots; s++) {
        enum afn fn = p->slots[s].fn;
        uint8_t t = p->slots[s].type;
        if (fn == A_MEDIAN || fn == A_MODE || fn == A_PERCENTILE || fn == A_STDDEV)
            return false;
        if (t != NE_V_FLOAT && t != NE_V_INT && t != NE_V_UINT)
            return false;
    }
    return true;
}

static bool parallel_ok(const struct qexec *x, size_t nseries)
{
    return x->src->parallel_scan && nseries >= PARALLEL_MIN_SERIES;
}

/* One group's scans with the series split in two: the second half fills
 * accumulators of its own, merged into a's afterwards. */
static int agg_scan_split(struct qexec *x, const struct ne_iql_stmt *st, const struct plan *p,
                          const struct qschema *sch, const struct idmap *map,
                          const struct agg_range *r, struct agg_state *a)
{
    struct agg_state b;
    int rc = agg_state_init(&b, st, p, r);
    void *args_a[MAX_SLOTS], *args_b[MAX_SLOTS];
    for (size_t s = 0; s < p->nslots; s++) {
        args_a[s] = &a->scans[s];
        args_b[s] = &b.scans[s];
    }
    size_t half = map->n / 2;
    struct scan_job ja = {.x = x, .sch = sch, .p = p, .ids = map->ids, .n = half, .lo = r->lo,
                          .hi = r->hi, .points = agg_points, .block = agg_block, .args = args_a};
    struct scan_job jb = ja;
    jb.ids = map->ids + half;
    jb.n = map->n - half;
    jb.args = args_b;
    if (rc == 0)
        rc = scan_pair(&ja, &jb);
    for (size_t s = 0; rc == 0 && s < p->nslots; s++)
        for (int64_t k = 0; k < r->nb; k++)
            query__acc_merge(&a->scans[s].accs[k], &b.scans[s].accs[k]);
    agg_state_free(&b, p, r);
    return rc;
}

static int run_agg_group(struct qexec *x, const struct ne_iql_stmt *st, struct plan *p,
                         const struct qschema *sch, const struct qwhere *w,
                         const struct qseries *const *series, size_t ns, const struct ne_tag *gtags,
                         size_t ngtags)
{
    struct agg_range r;
    int rc = agg_range_of(x, st, p, sch, w, series, ns, &r);
    if (rc || r.nb == 0)
        return rc;
    struct agg_state a;
    rc = agg_state_init(&a, st, p, &r);
    if (rc == 0 && w->row_filter) {
        for (size_t s = 0; rc == 0 && s < p->nslots; s++)
            if (field_index(p, p->slots[s].field, p->slots[s].type) < 0)
                rc = query__fail(x, "too many fields");
        if (rc == 0)
            rc = need_fields(x, p, st->where, sch);
        if (rc == 0)
            rc = agg_from_rows(x, st, p, sch, series, ns, r.lo, r.hi, a.scans);
    } else if (rc == 0) {
        struct idmap map = {0};
        rc = query__idmap_build(&map, series, ns);
        if (rc == 0 && parallel_ok(x, ns) && slots_mergeable(p)) {
            rc = agg_scan_split(x, st, p, sch, &map, &r, &a);
            query__idmap_free(&map);
            goto emit;
        }
        for (size_t s = 0; rc == 0 && s < p->nslots; s++) {
            rc = x->src->scan(x->src->ctx, sch->db, sch->meas, map.ids, map.n,
                              p->slots[s].field, (enum ne_vtype)p->slots[s].type, r.lo, r.hi,
                              agg_points, agg_block, &a.scans[s]);
            if (rc == 0)
                rc = a.scans[s].rc;
        }
        query__idmap_free(&map);
    }
emit:
    if (rc == 0)
        rc = agg_emit(x, st, p, sch, w, &r, &a, gtags, ngtags);
    agg_state_free(&a, p, &r);
    return rc;
}

/* Many GROUP BY groups sharing one bucket range: one store scan per slot
 * over the series of every group, each run routed to its group's
 * accumulators, instead of one scan (a walk over the whole measurement)
 * per group. */
struct agg_router {
    const struct idmap *map;
    const uint32_t *group_of; /* index in the series order -> group */
    struct agg_state *states;
    size_t slot;
};

static int route_points(void *arg, uint64_t sid, const int64_t *ts, const void *vals, size_t n)
{
    const struct agg_router *ro = arg;
    int i = query__idmap_find(ro->map, sid);
    if (i < 0)
        return 0;
    struct agg_scan *sc = &ro->states[ro->group_of[i]].scans[ro->slot];
    int rc = agg_points(sc, sid, ts, vals, n);
    return rc ? rc : sc->rc;
}

static int route_block(void *arg, uint64_t sid, const struct ne_block_stats *st)
{
    const struct agg_router *ro = arg;
    int i = query__idmap_find(ro->map, sid);
    if (i < 0)
        return 0;
    return agg_block(&ro->states[ro->group_of[i]].scans[ro->slot], sid, st);
}

/* The groups' scans in two halves of about as many series each, one on a
 * thread of its own: the halves share no group, so no accumulator. */
static int agg_groups_split(struct qexec *x, const struct plan *p, const struct qschema *sch,
                            const struct agg_range *r, const struct qseries *const *all,
                            const size_t *groups, size_t ngroups, const uint32_t *group_of,
                            struct agg_state *states)
{
    size_t ns = groups[ngroups] - groups[0], k = 1;
    while (k + 1 < ngroups && groups[k] - groups[0] < ns / 2)
        k++;
    size_t na = groups[k] - groups[0];
    struct idmap ma = {0}, mb = {0};
    int rc = query__idmap_build(&ma, all, na);
    if (rc == 0)
        rc = query__idmap_build(&mb, all + na, ns - na);
    struct agg_router ra[MAX_SLOTS], rb[MAX_SLOTS];
    void *args_a[MAX_SLOTS], *args_b[MAX_SLOTS];
    for (size_t s = 0; s < p->nslots; s++) {
        ra[s] = (struct agg_router){&ma, group_of, states, s};
        rb[s] = (struct agg_router){&mb, group_of + na, states, s};
        args_a[s] = &ra[s];
        args_b[s] = &rb[s];
    }
    struct scan_job ja = {.x = x, .sch = sch, .p = p, .ids = ma.ids, .n = ma.n, .lo = r->lo,
                          .hi = r->hi, .points = route_points, .block = route_block,
                          .args = args_a};
    struct scan_job jb = ja;
    jb.ids = mb.ids;
    jb.n = mb.n;
    jb.args = args_b;
    if (rc == 0)
        rc = scan_pair(&ja, &jb);
    query__idmap_free(&ma);
    query__idmap_free(&mb);
    return rc;
}

/* groups[k] = the first index in series of group k, groups[ngroups] = ns. */
static int run_agg_groups(struct qexec *x, const struct ne_iql_stmt *st, struct plan *p,
                          const struct qschema *sch, const struct qwhere *w,
                          const struct qseries *const *series, const size_t *groups,
                          size_t ngroups, const struct grouping *gr)
{
    size_t ns = groups[ngroups] - groups[0];
    const struct qseries *const *all = series + groups[0];
    struct agg_range r;
    int rc = agg_range_of(x, st, p, sch, w, all, ns, &r);
    if (rc || r.nb == 0)
        return rc;
    struct agg_state *states = ne_calloc(ngroups, sizeof *states);
    uint32_t *group_of = ne_malloc(ns * sizeof *group_of + 1);
    struct idmap map = {0};
    if (!states || !group_of)
        rc = NE_ENOMEM;
    for (size_t k = 0; rc == 0 && k < ngroups; k++) {
        rc = agg_state_init(&states[k], st, p, &r);
        for (size_t i = groups[k]; i < groups[k + 1]; i++)
            group_of[i - groups[0]] = (uint32_t)k;
    }
    if (rc == 0 && parallel_ok(x, ns) && ngroups > 1) {
        rc = agg_groups_split(x, p, sch, &r, all, groups, ngroups, group_of, states);
        goto emit;
    }
    if (rc == 0)
        rc = query__idmap_build(&map, all, ns);
    for (size_t s = 0; rc == 0 && s < p->nslots; s++) {
        struct agg_router ro = {&map, group_of, states, s};
        rc = x->src->scan(x->src->ctx, sch->db, sch->meas, map.ids, map.n, p->slots[s].field,
                          (enum ne_vtype)p->slots[s].type, r.lo, r.hi, route_points,
                          route_block, &ro);
    }
emit:
    for (size_t k = 0; rc == 0 && k < ngroups; k++) {
        struct ne_tag gtags[64];
        size_t ngt = gr->nkeys < 64 ? gr->nkeys : 64;
        for (size_t t = 0; t < ngt; t++) {
            gtags[t].key = ne_sv_c(gr->keys[t]);
            gtags[t].val = query__series_tag(series[groups[k]], gr->keys[t]);
        }
        rc = agg_emit(x, st, p, sch, w, &r, &states[k], gtags, ngt);
    }
    query__idmap_free(&map);
    for (size_t k = 0; states && k < ngroups; k++)
        agg_state_free(&states[k], p, &r);
    ne_free(states);
    ne_free(group_of);
    return rc;
}

/* ---- raw groups ------------------------------------------------------------------------ */

static int run_raw_group(struct qexec *x, const struct ne_iql_stmt *st, struct plan *p,
                         const struct qschema *sch, const struct qwhere *w,
                         const struct qseries *const *series, size_t ns,
                         const struct ne_tag *gtags, size_t ngtags)
{
    int rc = w->row_filter ? need_fields(x, p, st->where, sch) : 0;
    return rc ? rc : query__raw_streamed(x, st, p, sch, w, series, ns, gtags, ngtags);
}

/* ---- grouping ------------------------------------------------------------------------------ */

static int grouping_init(struct qexec *x, const struct ne_iql_stmt *st, const struct qschema *sch,
                         struct grouping *g)
{
    memset(g, 0, sizeof *g);
    int rc = 0;
    if (st->group_all_tags) {
        for (size_t i = 0; rc == 0 && i < sch->tag_keys.n; i++)
            rc = query__strs_push(&g->owned, sch->tag_keys.v[i]);
    }
    for (size_t i = 0; rc == 0 && i < st->ngroup_tags; i++)
        rc = query__strs_push(&g->owned, st->group_tags[i]);
    for (size_t r = 0; rc == 0 && r < st->ngroup_tag_regexes; r++) {
        regex_t re;
        if (query__regex_compile(&re, st->group_tag_regexes[r], x->err, sizeof x->err))
            return NE_EINVAL;
        for (size_t i = 0; rc == 0 && i < sch->tag_keys.n; i++)
            if (query__regex_match(&re, sch->tag_keys.v[i], strlen(sch->tag_keys.v[i])))
                rc = query__strs_push(&g->owned, sch->tag_keys.v[i]);
        regfree(&re);
    }
    query__strs_sort_unique(&g->owned);
    g->keys = g->owned.v;
    g->nkeys = g->owned.n;
    return rc;
}

struct sref {
    const struct qseries *s;
    const struct grouping *g;
};

static int cmp_group(const struct qseries *a, const struct qseries *b, const struct grouping *g)
{
    for (size_t k = 0; k < g->nkeys; k++) {
        int c = ne_sv_cmp(query__series_tag(a, g->keys[k]), query__series_tag(b, g->keys[k]));
        if (c)
            return c;
    }
    return 0;
}

/* Series key order (tags are sorted by key): measurement-local, as
 * InfluxDB orders series. */
static int cmp_series_key(const struct qseries *a, const struct qseries *b)
{
    uint32_t n = a->ntags < b->ntags ? a->ntags : b->ntags;
    for (uint32_t i = 0; i < n; i++) {
        int c = ne_sv_cmp(a->tags[i].key, b->tags[i].key);
        if (c)
            return c;
        c = ne_sv_cmp(a->tags[i].val, b->tags[i].val);
        if (c)
            return c;
    }
    return a->ntags < b->ntags ? -1 : a->ntags > b->ntags;
}

static int cmp_sref(const void *x, const void *y, void *ctx)
{
    const struct qseries *const *a = x, *const *b = y;
    int c = cmp_group(*a, *b, ctx);
    return c ? c : cmp_series_key(*a, *b);
}

static int select_measurement(struct qexec *x, const struct ne_iql_stmt *st, const char *db,
                              const char *meas, int64_t *series_budget, int64_t *series_skip)
{
    struct qschema sch;
    int rc = query__schema_load(x, db, meas, &sch);
    if (rc)
        return rc;
    struct plan *p = ne_calloc(1, sizeof *p);
    struct qseries_list l = {0};
    struct grouping gr = {0};
    const struct qseries **refs = NULL;
    size_t *bounds = NULL;
    if (!p) {
        rc = NE_ENOMEM;
        goto out;
    }
    rc = plan_fields(x, st, &sch, p);
    if (rc)
        goto out;
    if (p->ncols == 0)
        goto out; /* wildcard over a measurement without matching fields */
    struct qwhere w;
    rc = query__where_analyze(x, st->where, &sch, &w);
    if (rc)
        goto out;
    rc = query__series_load(x, db, meas, st->where, &sch, &l);
    if (rc || l.n == 0)
        goto out;
    rc = grouping_init(x, st, &sch, &gr);
    if (rc)
        goto out;
    refs = ne_malloc(l.n * sizeof *refs);
    if (!refs) {
        rc = NE_ENOMEM;
        goto out;
    }
    for (size_t i = 0; i < l.n; i++)
        refs[i] = &l.v[i];
    qsort_r(refs, l.n, sizeof *refs, cmp_sref, &gr);
    /* the groups this statement answers, after SOFFSET and within SLIMIT:
     * bounds[k] .. bounds[k + 1] in refs */
    bounds = ne_malloc((l.n + 1) * sizeof *bounds);
    if (!bounds) {
        rc = NE_ENOMEM;
        goto out;
    }
    size_t ngroups = 0;
    for (size_t i = 0; i < l.n && *series_budget != 0;) {
        size_t j = i + 1;
        while (j < l.n && cmp_group(refs[i], refs[j], &gr) == 0)
            j++;
        if (*series_skip > 0) {
            (*series_skip)--;
        } else {
            bounds[ngroups++] = i;
            bounds[ngroups] = j;
            if (*series_budget > 0)
                (*series_budget)--;
        }
        i = j;
    }
    if (p->aggregate && ngroups > 1 && !w.row_filter &&
        (w.has_tmin || !st->group_interval_ns)) {
        rc = run_agg_groups(x, st, p, &sch, &w, refs, bounds, ngroups, &gr);
        goto out;
    }
    for (size_t k = 0; rc == 0 && k < ngroups; k++) {
        size_t i = bounds[k], j = bounds[k + 1];
        struct ne_tag gtags[64];
        size_t ngt = gr.nkeys < 64 ? gr.nkeys : 64;
        for (size_t t = 0; t < ngt; t++) {
            gtags[t].key = ne_sv_c(gr.keys[t]);
            gtags[t].val = query__series_tag(refs[i], gr.keys[t]);
        }
        rc = p->aggregate ? run_agg_group(x, st, p, &sch, &w, refs + i, j - i, gtags, ngt)
                          : run_raw_group(x, st, p, &sch, &w, refs + i, j - i, gtags, ngt);
    }
out:
    ne_free(bounds);
    ne_free(refs);
    query__strs_free(&gr.owned);
    query__series_free(&l);
    if (p) {
        query__strs_free(&p->fields);
        query__pool_free(&p->pool);
        ne_free(p);
    }
    query__schema_free(&sch);
    return rc;
}

int query__select(struct qexec *x, const struct ne_iql_stmt *st)
{
    if (st->into)
        return query__fail(x, "SELECT ... INTO is not supported");
    if (st->tz && strcmp(st->tz, "UTC") != 0 && strcmp(st->tz, "Etc/UTC") != 0)
        return query__fail(x, "tz('%s') is not supported: neoedge answers in UTC", st->tz);
    const char *db = query__stmt_db(x, st);
    int rc = query__need_db(x, db);
    if (rc)
        return rc;
    struct qpool pool = {0};
    struct qstrs ms = {0};
    rc = query__resolve_sources(x, db, st, &pool, &ms);
    int64_t budget = st->slimit > 0 ? st->slimit : -1;
    int64_t skip = st->soffset > 0 ? st->soffset : 0;
    for (size_t i = 0; rc == 0 && i < ms.n; i++)
        rc = select_measurement(x, st, db, ms.v[i], &budget, &skip);
    query__strs_free(&ms);
    query__pool_free(&pool);
    return rc;
}
