/*
 * select_int.h - what the parts of SELECT share: the plan (columns bound to
 * aggregate slots) and the per-bucket accumulators (select_acc.c).
 */
#ifndef NE_STORE_QUERY_SELECT_INT_H
#define NE_STORE_QUERY_SELECT_INT_H

#include "store/query/qinternal.h"

#define MAX_COLS 64
#define MAX_SLOTS 64

enum afn {
    A_COUNT, A_SUM, A_MEAN, A_MEDIAN, A_MODE, A_MIN, A_MAX, A_FIRST, A_LAST, A_SPREAD,
    A_STDDEV, A_PERCENTILE,
};


enum tfn { T_NONE = 0, T_DERIV, T_NNDERIV, T_DIFF, T_NNDIFF, T_MAVG, T_CUMSUM };



struct slot {
    enum afn fn;
    const char *field;
    uint8_t type; /* enum ne_vtype of the field */
    double param; /* percentile N */
};

struct binding {
    const struct ne_iql_expr *call;
    int slot;
};

struct column {
    const char *name;
    const struct ne_iql_expr *expr; /* inner expression (under a transform) */
    enum tfn tf;
    int64_t tf_unit; /* derivative unit ns */
    bool tf_unit_given; /* unit written in the call (else: the GROUP BY interval or 1s) */
    int64_t tf_n;    /* moving_average window */
    const char *wild_field; /* set when expanded from mean(*): the field */
    int raw_field;          /* raw: index into the needed fields, -1 for expr */
};

struct plan {
    bool aggregate;
    struct column cols[MAX_COLS];
    size_t ncols;
    struct slot slots[MAX_SLOTS];
    size_t nslots;
    struct binding binds[MAX_SLOTS * 2];
    size_t nbinds;
    int selector_slot; /* >= 0: the one selector whose time is the row's */
    struct qstrs fields; /* raw/filter: fields read per row (pool strings) */
    uint8_t field_types[MAX_COLS * 2];
    struct qpool pool;
    char names_buf[MAX_COLS][128];
};

struct vlist {
    struct ne_qcell *v;
    int64_t *t;
    size_t n, cap;
};

/* The values of a bucket for percentile() and median(), compact: 8 bytes
 * per value as order-preserving keys (query__num_key), plus 8 for its time
 * only when the answer carries the selected point's time (with_t). */
struct nlist {
    uint64_t *k;
    int64_t *t;
    size_t n, cap;
    uint8_t type; /* enum ne_vtype of the keys */
    bool with_t;
};

struct acc {
    uint64_t n;
    double sum_f;
    uint64_t sum_u; /* int/uint sums wrap as InfluxDB's do */
    struct ne_qcell min, max, first, last;
    int64_t min_t, max_t, first_t, last_t;
    struct vlist vals; /* mode, stddev */
    struct nlist nums; /* median, percentile */
};

/* Adds one point to a; values are kept for median, mode, percentile and
 * stddev. 0 or NE_ENOMEM. */
int query__acc_add(struct acc *a, enum afn fn, struct ne_qcell c, int64_t t);
/* Adds n points of vals (the slot's type) from index i0, all in one bucket
 * and ascending in time; strings are copied into pool. 0 or NE_ENOMEM. */
int query__acc_add_run(struct acc *a, const struct slot *sl, const int64_t *ts,
                       const void *vals, size_t i0, size_t n, struct qpool *pool);
/* Merges b (points of other series in the same bucket) into a, with the
 * tie rules of query__acc_add. For numbers without value lists (count,
 * sum, mean, min, max, first, last, spread); b is left as it was. */
void query__acc_merge(struct acc *a, const struct acc *b);
/* Folds a whole block's statistics (count, sum, min, max, first, last). */
void query__acc_fold(struct acc *a, const struct ne_block_stats *st);
/* The slot's value over a; *t gets the selected point's time (or INT64_MIN). */
struct ne_qcell query__acc_result(struct acc *a, const struct slot *s, int64_t *t);
void query__acc_free(struct acc *a);

/* Cell i of a typed value array; strings copied into pool when not NULL. */
struct ne_qcell query__typed_cell(uint8_t type, const void *vals, size_t i, struct qpool *pool);
struct ne_qcell query__fcell(double f);
bool query__cell_lt(const struct ne_qcell *a, const struct ne_qcell *b);
bool query__cell_eq(const struct ne_qcell *a, const struct ne_qcell *b);
double query__cell_f(const struct ne_qcell *c);

/* ---- rows (select_rows.c) ---- */

struct colbuf {
    int64_t *t;
    struct ne_qcell *c;
    size_t n, cap;
    uint8_t type;
    struct qpool *pool;
    int rc;
};

struct idmap {
    uint64_t *ids; /* ascending */
    uint32_t *idx; /* parallel: index into the group's series */
    size_t n;
};

struct rowset {
    int64_t *t;
    uint32_t *series; /* index into the group's series */
    struct ne_qcell *cells; /* n * width */
    size_t n, cap, width;
    struct qpool pool;
};

struct rowref {
    int64_t t;
    size_t i;
};

struct outrow {
    int64_t t;
    struct ne_qcell *cells; /* ncols */
};

struct group_out {
    struct outrow *rows;
    size_t n, cap, ncols;
    struct ne_qcell *store;
    size_t store_n, store_cap;
};

/* Sorted series ids of a group with their index in the group. */
int query__idmap_build(struct idmap *m, const struct qseries *const *series, size_t ns);
void query__idmap_free(struct idmap *m);
/* The group index of series id, or -1. */
int query__idmap_find(const struct idmap *m, uint64_t id);
/* Reads the plan's fields of the group's series in [lo, hi] (one scan per
 * field) and appends one row per series and distinct time to rs. */
int query__collect_group_rows(struct qexec *x, const struct plan *p, const struct qschema *sch,
                              const struct qseries *const *series, size_t ns, int64_t lo,
                              int64_t hi, struct rowset *rs);
void query__rowset_free(struct rowset *r);
/* qsort order of struct rowref: time, then insertion order. */
int query__cmp_rowref(const void *a, const void *b);
/* Appends a row of g->ncols cells (copied). 0 or NE_ENOMEM. */
int query__gout_add(struct group_out *g, int64_t t, const struct ne_qcell *cells);
void query__gout_free(struct group_out *g);
/* derivative, difference, moving_average, cumulative_sum over column col
 * of all of g's rows (in time order), run backwards in time for desc
 * (ORDER BY time DESC, as InfluxDB does). 0, or NE_ENOMEM with g unchanged. */
int query__apply_transform(struct group_out *g, size_t col, const struct column *c,
                           int64_t group_interval, bool desc);
/* A transformation's state between runs of rows, so that a group can be
 * transformed window after window (select_raw.c): the previous value and
 * time, the moving_average window (owned, tf_n values) and the running sum. */
struct tf_state {
    bool desc; /* rows come backwards in time (set by the caller) */
    bool have_prev;
    double prev, cum, wsum;
    int64_t prev_t;
    double *win;
    size_t wn, wpos;
};
/* Initialises s for column c. 0 or NE_ENOMEM (s then needs no free). */
int query__tf_init(struct tf_state *s, const struct column *c);
void query__tf_free(struct tf_state *s);
/* Transforms column col of g's rows (in their order), continuing from s. */
void query__tf_apply(struct tf_state *s, struct group_out *g, size_t col, const struct column *c,
                     int64_t group_interval);
/* fill(previous|linear|value) of the cells of empty buckets. */
void query__apply_fill(struct group_out *g, const struct ne_iql_stmt *st, const bool *empty);
/* Writes the group's rows as one result series (ORDER BY, OFFSET, LIMIT;
 * rows before emit_from are left out). */
int query__emit_group(struct qexec *x, const struct ne_iql_stmt *st, const struct plan *p,
                      const char *meas, const struct ne_tag *tags, size_t ntags,
                      struct group_out *g, int64_t emit_from);
/* True if e contains a function call (select.c). */
bool query__has_call(const struct ne_iql_expr *e);
/* True if e refers to a field of sch (select.c). */
bool query__has_field_ref(const struct ne_iql_expr *e, const struct qschema *sch);
/* Runs a raw SELECT (transformations too) over one group in time windows
 * of about opts->raw_window_values field values, writing the result series
 * (ORDER BY, OFFSET, LIMIT) as it goes (select_raw.c). */
int query__raw_streamed(struct qexec *x, const struct ne_iql_stmt *st, const struct plan *p,
                        const struct qschema *sch, const struct qwhere *w,
                        const struct qseries *const *series, size_t ns,
                        const struct ne_tag *gtags, size_t ngtags);

#endif
