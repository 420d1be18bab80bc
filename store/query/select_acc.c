/*
 * select_acc.c - per-bucket accumulators of SELECT: points, runs of points
 * and whole-block statistics folded into count, sum, extremes, first/last,
 * and value lists for median, mode, percentile and stddev.
 *
 * Tie rules follow InfluxDB 1.x: min/max keep the earliest point, first/last
 * of equal times keep the larger value, median of an even count is
 * a + (b - a) / 2, percentile picks index floor(n * p / 100 + 0.5) - 1,
 * stddev is the sample deviation (null for one value).
 *
 * percentile() and median() keep their bucket's values compactly, as 8-byte
 * keys whose unsigned order is the value order (plus 8-byte times only when
 * the answer carries the selected point's time), and find the order
 * statistic they need without sorting: for large buckets a sample brackets
 * the answer and one pass keeps the keys inside the bracket (at most an
 * eighth of them); otherwise, or when the bracket misses, radix selection:
 * a histogram of 16 key bits at a time narrows the candidates to one
 * digit's values, copied aside, until few are left for an in-place
 * selection. Equal values are ordered by time, as InfluxDB's sort leaves
 * points that arrived in time order.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"
#include "store/query/select_int.h"

/* ---- value accumulators ------------------------------------------------------- */

static void merge_run(struct acc *a, const struct ne_qcell *mn, int64_t tmn,
                      const struct ne_qcell *mx, int64_t tmx, const struct ne_qcell *fi,
                      int64_t tfi, const struct ne_qcell *la, int64_t tla, size_t n);



bool query__cell_lt(const struct ne_qcell *a, const struct ne_qcell *b)
{
    switch (a->type) {
    case NE_QC_FLOAT: return a->v.f < b->v.f;
    case NE_QC_INT: return a->v.i < b->v.i;
    case NE_QC_UINT: return a->v.u < b->v.u;
    case NE_QC_BOOL: return a->v.b < b->v.b;
    case NE_QC_STRING: return ne_sv_cmp(a->v.s, b->v.s) < 0;
    default: return false;
    }
}

bool query__cell_eq(const struct ne_qcell *a, const struct ne_qcell *b)
{
    return !query__cell_lt(a, b) && !query__cell_lt(b, a);
}

double query__cell_f(const struct ne_qcell *c)
{
    switch (c->type) {
    case NE_QC_FLOAT: return c->v.f;
    case NE_QC_INT: return (double)c->v.i;
    case NE_QC_UINT: return (double)c->v.u;
    case NE_QC_BOOL: return c->v.b;
    default: return NAN;
    }
}

static int vlist_push(struct vlist *l, struct ne_qcell c, int64_t t)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        struct ne_qcell *v = ne_realloc(l->v, cap * sizeof *v);
        if (!v)
            return NE_ENOMEM;
        l->v = v;
        int64_t *tt = ne_realloc(l->t, cap * sizeof *tt);
        if (!tt)
            return NE_ENOMEM;
        l->t = tt;
        l->cap = cap;
    }
    l->v[l->n] = c;
    l->t[l->n] = t;
    l->n++;
    return 0;
}

static bool needs_values(enum afn fn)
{
    return fn == A_MODE || fn == A_STDDEV;
}

static bool needs_nums(enum afn fn)
{
    return fn == A_MEDIAN || fn == A_PERCENTILE;
}

/* ---- compact value lists and selection (median, percentile) ---------------------- */

#define SIGN_BIT (UINT64_C(1) << 63)

/* Order-preserving key of a float's bits: negative values have every bit
 * flipped, others only the sign; -0.0 < +0.0, NaNs beyond the infinities. */
static inline uint64_t fkey(uint64_t bits)
{
    return bits ^ ((uint64_t)((int64_t)bits >> 63) | SIGN_BIT); /* branch-free */
}

static inline uint64_t fkey_inv(uint64_t k)
{
    return k & SIGN_BIT ? k & ~SIGN_BIT : ~k;
}

static uint64_t key_of_cell(uint8_t type, const struct ne_qcell *c)
{
    uint64_t bits;
    switch (type) {
    case NE_V_FLOAT: {
        double f = c->type == NE_QC_FLOAT ? c->v.f : query__cell_f(c);
        memcpy(&bits, &f, 8);
        return fkey(bits);
    }
    case NE_V_UINT: return c->type == NE_QC_UINT ? c->v.u : (uint64_t)c->v.i;
    default: return (c->type == NE_QC_UINT ? c->v.u : (uint64_t)c->v.i) ^ SIGN_BIT;
    }
}

static struct ne_qcell cell_of_key(uint8_t type, uint64_t k)
{
    struct ne_qcell c = {.type = NE_QC_NULL};
    switch (type) {
    case NE_V_FLOAT: {
        uint64_t bits = fkey_inv(k);
        c.type = NE_QC_FLOAT;
        memcpy(&c.v.f, &bits, 8);
        break;
    }
    case NE_V_UINT: c.type = NE_QC_UINT; c.v.u = k; break;
    default: c.type = NE_QC_INT; c.v.i = (int64_t)(k ^ SIGN_BIT); break;
    }
    return c;
}

static int nlist_reserve(struct nlist *l, size_t more)
{
    if (l->n + more <= l->cap)
        return 0;
    size_t cap = ne_grown_cap(l->cap, 64, l->n + more);
    if (!ne_realloc_array(&l->k, cap, sizeof *l->k) ||
        (l->with_t && !ne_realloc_array(&l->t, cap, sizeof *l->t)))
        return NE_ENOMEM;
    l->cap = cap;
    return 0;
}

/* Appends n values of type (the slot's) with their times. */
static int nlist_push_run(struct nlist *l, uint8_t type, const void *vals, const int64_t *ts,
                          size_t n)
{
    if (nlist_reserve(l, n))
        return NE_ENOMEM;
    const uint64_t *u = vals; /* double, int64 and uint64 share the size */
    uint64_t *k = l->k + l->n;
    if (type == NE_V_FLOAT)
        for (size_t i = 0; i < n; i++)
            k[i] = fkey(u[i]);
    else if (type == NE_V_UINT)
        memcpy(k, u, n * sizeof *k);
    else
        for (size_t i = 0; i < n; i++)
            k[i] = u[i] ^ SIGN_BIT;
    if (l->with_t)
        memcpy(l->t + l->n, ts, n * sizeof *ts);
    l->type = type;
    l->n += n;
    return 0;
}

static int nlist_push(struct nlist *l, uint8_t type, const struct ne_qcell *c, int64_t t)
{
    if (nlist_reserve(l, 1))
        return NE_ENOMEM;
    l->k[l->n] = key_of_cell(type, c);
    if (l->with_t)
        l->t[l->n] = t;
    l->type = type;
    l->n++;
    return 0;
}

static void nlist_free(struct nlist *l)
{
    ne_free(l->k);
    ne_free(l->t);
    memset(l, 0, sizeof *l);
}

static inline void uswap(uint64_t *a, uint64_t *b)
{
    uint64_t x = *a;
    *a = *b;
    *b = x;
}

/* The k-th smallest of v[0..n) (k < n), reordering v: Hoare's selection
 * with a median-of-three pivot, O(n) on average. */
static uint64_t nth_u64(uint64_t *v, size_t n, size_t k)
{
    size_t lo = 0, hi = n - 1;
    while (hi > lo) {
        size_t mid = lo + (hi - lo) / 2;
        if (v[mid] < v[lo]) uswap(&v[mid], &v[lo]);
        if (v[hi] < v[lo]) uswap(&v[hi], &v[lo]);
        if (v[hi] < v[mid]) uswap(&v[hi], &v[mid]);
        uint64_t pivot = v[mid];
        size_t i = lo, j = hi;
        while (i <= j) {
            while (v[i] < pivot)
                i++;
            while (pivot < v[j])
                j--;
            if (i <= j) {
                uswap(&v[i], &v[j]);
                i++;
                if (j == 0) /* j would go below 0: the left part is empty */
                    break;
                j--;
            }
        }
        if (k <= j && j < i)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return v[k];
    }
    return v[k];
}

/* Below this many candidates a copy and nth_u64 beat another histogram. */
#define SELECT_SMALL 4096
#define DIGIT_BITS 16

/* The k-th smallest (k < n) of keys[0..n), which is left unchanged.
 * Scratch: the candidates left after the first digit that narrows them
 * (at most n - 1 keys), and 256 KiB of counters when n > SELECT_SMALL.
 * 0 or NE_ENOMEM. */
static int radix_select(const uint64_t *keys, size_t n, size_t k, uint64_t *out)
{
    uint64_t *buf = NULL;
    uint32_t *cnt = NULL;
    const uint64_t *src = keys;
    size_t m = n;
    uint64_t prefix = 0;
    int rc = 0;
    for (int shift = 64 - DIGIT_BITS; shift >= 0; shift -= DIGIT_BITS) {
        if (m <= SELECT_SMALL) {
            if (!buf && !(buf = ne_malloc(m * sizeof *buf))) {
                rc = NE_ENOMEM;
                break;
            }
            if (src != buf)
                memcpy(buf, src, m * sizeof *buf);
            *out = nth_u64(buf, m, k);
            goto done;
        }
        if (!cnt && !(cnt = ne_malloc(((size_t)1 << DIGIT_BITS) * sizeof *cnt))) {
            rc = NE_ENOMEM;
            break;
        }
        memset(cnt, 0, ((size_t)1 << DIGIT_BITS) * sizeof *cnt);
        for (size_t i = 0; i < m; i++)
            cnt[(src[i] >> shift) & 0xffff]++;
        uint32_t d = 0;
        while (k >= cnt[d]) /* cnt sums to m > k: stops inside */
            k -= cnt[d++];
        prefix |= (uint64_t)d << shift;
        size_t c = cnt[d];
        if (c == m)
            continue; /* every candidate has this digit: look further */
        if (!buf && !(buf = ne_malloc(c * sizeof *buf))) {
            rc = NE_ENOMEM;
            break;
        }
        size_t j = 0;
        for (size_t i = 0; i < m; i++) /* in place when src == buf: j <= i */
            if (((src[i] >> shift) & 0xffff) == d)
                buf[j++] = src[i];
        src = buf;
        m = c;
    }
    if (rc == 0)
        *out = prefix; /* every digit fixed: the candidates all equal it */
done:
    ne_free(buf);
    ne_free(cnt);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

#define SAMPLE_MIN_N 65536
#define SAMPLE_N 2048
#define SAMPLE_MARGIN 128 /* about 3 standard deviations of a rank in the sample */

/* The k-th smallest of keys[0..n) in one pass when a sample brackets it
 * (Floyd and Rivest): the sample's ranks around k's give [lo, hi]; one pass
 * counts the keys below lo and copies those in [lo, hi] (about n/8 at
 * most, by design); the answer is among them when the counts agree.
 * Returns 1 with *out set, 0 when the bracket missed or was too wide (the
 * caller then uses radix_select), or NE_ENOMEM. */
static int sample_select(const uint64_t *keys, size_t n, size_t k, uint64_t *out)
{
    uint64_t sample[SAMPLE_N];
    for (size_t i = 0; i < SAMPLE_N; i++) /* evenly spread: deterministic */
        sample[i] = keys[(size_t)((double)i * (double)n / SAMPLE_N)];
    qsort(sample, SAMPLE_N, sizeof *sample, cmp_u64);
    size_t r = (size_t)((double)k * SAMPLE_N / (double)n);
    uint64_t lo = sample[r > SAMPLE_MARGIN ? r - SAMPLE_MARGIN : 0];
    uint64_t hi = sample[r + SAMPLE_MARGIN < SAMPLE_N ? r + SAMPLE_MARGIN : SAMPLE_N - 1];
    size_t cap = n / 8, below = 0, in = 0;
    uint64_t *buf = ne_malloc(cap * sizeof *buf);
    if (!buf)
        return NE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        uint64_t x = keys[i];
        below += x < lo;
        if (x >= lo && x <= hi) {
            if (in == cap) {
                ne_free(buf);
                return 0; /* far more ties or spread than the sample said */
            }
            buf[in++] = x;
        }
    }
    int found = k >= below && k - below < in;
    if (found)
        *out = nth_u64(buf, in, k - below);
    ne_free(buf);
    return found;
}

/* The k-th smallest (key, time) of l (k < l->n): *key, and *t the time of
 * that point when l has times (else INT64_MIN). 0 or NE_ENOMEM. */
static int nlist_select(const struct nlist *l, size_t k, uint64_t *key, int64_t *t)
{
    int rc = l->n >= SAMPLE_MIN_N ? sample_select(l->k, l->n, k, key) : 0;
    if (rc < 0)
        return rc;
    rc = rc ? 0 : radix_select(l->k, l->n, k, key);
    *t = INT64_MIN;
    if (rc || !l->with_t)
        return rc;
    /* among the points equal to the key, the one of rank k - (# smaller) */
    size_t below = 0, eq = 0;
    for (size_t i = 0; i < l->n; i++) {
        below += l->k[i] < *key;
        eq += l->k[i] == *key;
    }
    uint64_t *tt = ne_malloc(eq * sizeof *tt);
    if (!tt)
        return NE_ENOMEM;
    size_t j = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->k[i] == *key)
            tt[j++] = (uint64_t)l->t[i] ^ SIGN_BIT;
    *t = (int64_t)(nth_u64(tt, eq, k - below) ^ SIGN_BIT);
    ne_free(tt);
    return 0;
}

static uint8_t cell_vtype(const struct ne_qcell *c)
{
    return c->type == NE_QC_UINT ? NE_V_UINT : c->type == NE_QC_FLOAT ? NE_V_FLOAT : NE_V_INT;
}

int query__acc_add(struct acc *a, enum afn fn, struct ne_qcell c, int64_t t)
{
    if (a->n == 0) {
        a->min = a->max = a->first = a->last = c;
        a->min_t = a->max_t = a->first_t = a->last_t = t;
    } else {
        if (query__cell_lt(&c, &a->min) || (query__cell_eq(&c, &a->min) && t < a->min_t)) {
            a->min = c;
            a->min_t = t;
        }
        if (query__cell_lt(&a->max, &c) || (query__cell_eq(&c, &a->max) && t < a->max_t)) {
            a->max = c;
            a->max_t = t;
        }
        if (t < a->first_t || (t == a->first_t && query__cell_lt(&a->first, &c))) {
            a->first = c;
            a->first_t = t;
        }
        if (t > a->last_t || (t == a->last_t && query__cell_lt(&a->last, &c))) {
            a->last = c;
            a->last_t = t;
        }
    }
    a->n++;
    if (c.type == NE_QC_FLOAT)
        a->sum_f += c.v.f;
    else if (c.type == NE_QC_INT)
        a->sum_u += (uint64_t)c.v.i;
    else if (c.type == NE_QC_UINT)
        a->sum_u += c.v.u;
    if (needs_values(fn))
        return vlist_push(&a->vals, c, t);
    if (needs_nums(fn) && c.type != NE_QC_NULL)
        return nlist_push(&a->nums, a->nums.n ? a->nums.type : cell_vtype(&c), &c, t);
    return 0;
}

static struct ne_qcell stat_cell(uint8_t type, union ne_stat_val v)
{
    struct ne_qcell c = {.type = NE_QC_NULL};
    switch (type) {
    case NE_V_FLOAT: c.type = NE_QC_FLOAT; c.v.f = v.f; break;
    case NE_V_INT: c.type = NE_QC_INT; c.v.i = v.i; break;
    case NE_V_UINT: c.type = NE_QC_UINT; c.v.u = v.u; break;
    case NE_V_BOOL: c.type = NE_QC_BOOL; c.v.b = v.u != 0; break;
    default: break;
    }
    return c;
}

/* Folds a whole block's statistics into a (count/sum/mean/min/max/
 * first/last/spread). min/max times are unknown from stats: only used
 * where the row time is the bucket's. */
void query__acc_fold(struct acc *a, const struct ne_block_stats *st)
{
    struct ne_qcell mn = stat_cell(st->type, st->min), mx = stat_cell(st->type, st->max);
    struct ne_qcell fi = stat_cell(st->type, st->first), la = stat_cell(st->type, st->last);
    if (st->type == NE_V_STRING) {
        fi.type = la.type = NE_QC_STRING;
        fi.v.s = st->first_s;
        la.v.s = st->last_s;
    }
    if (a->n == 0) {
        a->min = mn;
        a->max = mx;
        a->first = fi;
        a->last = la;
        a->min_t = a->max_t = st->min_ts;
        a->first_t = st->first_ts;
        a->last_t = st->last_ts;
    } else {
        if (query__cell_lt(&mn, &a->min))
            a->min = mn;
        if (query__cell_lt(&a->max, &mx))
            a->max = mx;
        if (st->first_ts < a->first_t || (st->first_ts == a->first_t && query__cell_lt(&a->first, &fi))) {
            a->first = fi;
            a->first_t = st->first_ts;
        }
        if (st->last_ts > a->last_t || (st->last_ts == a->last_t && query__cell_lt(&a->last, &la))) {
            a->last = la;
            a->last_t = st->last_ts;
        }
    }
    a->n += st->count;
    if (st->type == NE_V_FLOAT)
        a->sum_f += st->sum_f;
    else if (st->type == NE_V_INT || st->type == NE_V_UINT)
        a->sum_u += st->sum_lo;
}

void query__acc_merge(struct acc *a, const struct acc *b)
{
    if (b->n == 0)
        return;
    if (a->n == 0) {
        struct vlist keep = a->vals;
        *a = *b;
        a->vals = keep;
        return;
    }
    merge_run(a, &b->min, b->min_t, &b->max, b->max_t, &b->first, b->first_t, &b->last,
              b->last_t, (size_t)b->n);
    a->sum_f += b->sum_f;
    a->sum_u += b->sum_u;
}

static int cmp_vals(const void *x, const void *y)
{
    const struct ne_qcell *a = x, *b = y;
    return query__cell_lt(a, b) ? -1 : query__cell_lt(b, a) ? 1 : 0;
}

/* Sorts a's value list by value, keeping times parallel. */
static int sort_vals(struct vlist *l)
{
    struct {
        struct ne_qcell c;
        int64_t t;
    } *tmp = ne_malloc(l->n * sizeof *tmp + 1);
    if (!tmp)
        return NE_ENOMEM;
    for (size_t i = 0; i < l->n; i++) {
        tmp[i].c = l->v[i];
        tmp[i].t = l->t[i];
    }
    qsort(tmp, l->n, sizeof *tmp, cmp_vals); /* cell is the first member */
    for (size_t i = 0; i < l->n; i++) {
        l->v[i] = tmp[i].c;
        l->t[i] = tmp[i].t;
    }
    ne_free(tmp);
    return 0;
}

struct ne_qcell query__fcell(double f)
{
    struct ne_qcell c = {.type = NE_QC_FLOAT};
    c.v.f = f;
    return c;
}

/* The result of slot s over accumulator a; *t gets the selected time. */
struct ne_qcell query__acc_result(struct acc *a, const struct slot *s, int64_t *t)
{
    struct ne_qcell null = {.type = NE_QC_NULL};
    *t = INT64_MIN;
    if (a->n == 0) {
        if (s->fn == A_COUNT) {
            struct ne_qcell c = {.type = NE_QC_INT};
            c.v.i = 0;
            return c;
        }
        return null;
    }
    switch (s->fn) {
    case A_COUNT: {
        struct ne_qcell c = {.type = NE_QC_INT};
        c.v.i = (int64_t)a->n;
        return c;
    }
    case A_SUM:
        if (s->type == NE_V_FLOAT)
            return query__fcell(a->sum_f);
        if (s->type == NE_V_UINT) {
            struct ne_qcell c = {.type = NE_QC_UINT};
            c.v.u = a->sum_u;
            return c;
        } else {
            struct ne_qcell c = {.type = NE_QC_INT};
            c.v.i = (int64_t)a->sum_u;
            return c;
        }
    case A_MEAN:
        if (s->type == NE_V_FLOAT)
            return query__fcell(a->sum_f / (double)a->n);
        if (s->type == NE_V_UINT)
            return query__fcell((double)a->sum_u / (double)a->n);
        return query__fcell((double)(int64_t)a->sum_u / (double)a->n);
    case A_MIN:
        *t = a->min_t;
        return a->min;
    case A_MAX:
        *t = a->max_t;
        return a->max;
    case A_FIRST:
        *t = a->first_t;
        return a->first;
    case A_LAST:
        *t = a->last_t;
        return a->last;
    case A_SPREAD:
        if (a->min.type == NE_QC_FLOAT)
            return query__fcell(a->max.v.f - a->min.v.f);
        if (a->min.type == NE_QC_UINT) {
            struct ne_qcell c = {.type = NE_QC_UINT};
            c.v.u = a->max.v.u - a->min.v.u;
            return c;
        } else {
            struct ne_qcell c = {.type = NE_QC_INT};
            c.v.i = (int64_t)((uint64_t)a->max.v.i - (uint64_t)a->min.v.i);
            return c;
        }
    case A_STDDEV: {
        if (a->vals.n < 2)
            return null;
        double mean = 0;
        for (size_t i = 0; i < a->vals.n; i++)
            mean += query__cell_f(&a->vals.v[i]);
        mean /= (double)a->vals.n;
        double var = 0;
        for (size_t i = 0; i < a->vals.n; i++) {
            double d = query__cell_f(&a->vals.v[i]) - mean;
            var += d * d;
        }
        return query__fcell(sqrt(var / (double)(a->vals.n - 1)));
    }
    case A_MEDIAN: {
        const struct nlist *l = &a->nums;
        uint64_t khi, klo;
        int64_t unused;
        if (l->n == 0 || nlist_select(l, l->n / 2, &khi, &unused))
            return null;
        struct ne_qcell hi = cell_of_key(l->type, khi);
        if (l->n % 2)
            return query__fcell(query__cell_f(&hi));
        if (nlist_select(l, l->n / 2 - 1, &klo, &unused))
            return null;
        struct ne_qcell lo = cell_of_key(l->type, klo);
        double flo = query__cell_f(&lo), fhi = query__cell_f(&hi);
        return query__fcell(flo + (fhi - flo) / 2);
    }
    case A_MODE: {
        if (sort_vals(&a->vals))
            return null;
        size_t best = 0, best_n = 0;
        for (size_t i = 0; i < a->vals.n;) {
            size_t j = i + 1;
            while (j < a->vals.n && query__cell_eq(&a->vals.v[j], &a->vals.v[i]))
                j++;
            if (j - i > best_n) {
                best_n = j - i;
                best = i;
            }
            i = j;
        }
        return a->vals.v[best];
    }
    case A_PERCENTILE: {
        const struct nlist *l = &a->nums;
        double idx = floor((double)l->n * s->param / 100.0 + 0.5) - 1;
        uint64_t key;
        if (idx < 0 || idx >= (double)l->n || nlist_select(l, (size_t)idx, &key, t))
            return null;
        return cell_of_key(l->type, key);
    }
    }
    return null;
}

void query__acc_free(struct acc *a)
{
    ne_free(a->vals.v);
    ne_free(a->vals.t);
    nlist_free(&a->nums);
}


struct ne_qcell query__typed_cell(uint8_t type, const void *vals, size_t i, struct qpool *pool)
{
    struct ne_qcell c = {.type = NE_QC_NULL};
    switch (type) {
    case NE_V_FLOAT: c.type = NE_QC_FLOAT; c.v.f = ((const double *)vals)[i]; break;
    case NE_V_INT: c.type = NE_QC_INT; c.v.i = ((const int64_t *)vals)[i]; break;
    case NE_V_UINT: c.type = NE_QC_UINT; c.v.u = ((const uint64_t *)vals)[i]; break;
    case NE_V_BOOL: c.type = NE_QC_BOOL; c.v.b = ((const bool *)vals)[i]; break;
    case NE_V_STRING: {
        struct ne_sv s = ((const struct ne_sv *)vals)[i];
        c.type = NE_QC_STRING;
        if (pool) {
            const char *d = query__pool_dup(pool, s.p, s.n);
            if (!d) {
                c.type = NE_QC_NULL;
                break;
            }
            s.p = d;
        }
        c.v.s = s;
        break;
    }
    }
    return c;
}

/* Folds a run of numeric points (ascending times, one bucket) into a.
 * Tight typed loops: this is the full-decode aggregation path. */
#define FOLD_RUN(T, CT, FIELD, SUMEXPR)                                                    \
    do {                                                                                   \
        const T *v = (const T *)vals + i0;                                                 \
        T mn = v[0], mx = v[0];                                                            \
        size_t imn = 0, imx = 0;                                                           \
        for (size_t k = 0; k < n; k++) {                                                   \
            SUMEXPR;                                                                       \
            if (v[k] < mn) {                                                               \
                mn = v[k];                                                                 \
                imn = k;                                                                   \
            }                                                                              \
            if (v[k] > mx) {                                                               \
                mx = v[k];                                                                 \
                imx = k;                                                                   \
            }                                                                              \
        }                                                                                  \
        struct ne_qcell cmn = {.type = CT}, cmx = {.type = CT}, cf = {.type = CT},         \
                        cl = {.type = CT};                                                 \
        cmn.v.FIELD = mn;                                                                  \
        cmx.v.FIELD = mx;                                                                  \
        cf.v.FIELD = v[0];                                                                 \
        cl.v.FIELD = v[n - 1];                                                             \
        merge_run(a, &cmn, ts[imn], &cmx, ts[imx], &cf, ts[0], &cl, ts[n - 1], n);         \
    } while (0)

/* Merges a run's extremes into a with the same tie rules as acc_add. */
static void merge_run(struct acc *a, const struct ne_qcell *mn, int64_t tmn,
                      const struct ne_qcell *mx, int64_t tmx, const struct ne_qcell *fi,
                      int64_t tfi, const struct ne_qcell *la, int64_t tla, size_t n)
{
    if (a->n == 0) {
        a->min = *mn;
        a->min_t = tmn;
        a->max = *mx;
        a->max_t = tmx;
        a->first = *fi;
        a->first_t = tfi;
        a->last = *la;
        a->last_t = tla;
    } else {
        if (query__cell_lt(mn, &a->min) || (query__cell_eq(mn, &a->min) && tmn < a->min_t)) {
            a->min = *mn;
            a->min_t = tmn;
        }
        if (query__cell_lt(&a->max, mx) || (query__cell_eq(mx, &a->max) && tmx < a->max_t)) {
            a->max = *mx;
            a->max_t = tmx;
        }
        if (tfi < a->first_t || (tfi == a->first_t && query__cell_lt(&a->first, fi))) {
            a->first = *fi;
            a->first_t = tfi;
        }
        if (tla > a->last_t || (tla == a->last_t && query__cell_lt(&a->last, la))) {
            a->last = *la;
            a->last_t = tla;
        }
    }
    a->n += n;
}

/* The sum of a run of floats in four interleaved partial sums: one
 * running sum waits out the latency of every addition, four keep the adder
 * busy. The order differs from a point-by-point sum only in the last bits
 * (as the sums of block statistics and of the two scan threads do). */
static double sum_run(const double *v, size_t n)
{
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t k = 0;
    for (; k + 4 <= n; k += 4) {
        s0 += v[k];
        s1 += v[k + 1];
        s2 += v[k + 2];
        s3 += v[k + 3];
    }
    for (; k < n; k++)
        s0 += v[k];
    return (s0 + s1) + (s2 + s3);
}

/* min() or max() of a run of floats: only the one extreme (the earliest
 * point holding it) is kept, as it is all the result reads. false if the
 * run holds a NaN (the caller then goes point by point). */
static bool extreme_run(struct acc *a, bool want_max, const int64_t *ts, const double *v,
                        size_t n)
{
    double best = v[0];
    size_t ib = 0;
    bool nan = false;
    if (want_max) {
        for (size_t k = 0; k < n; k++) {
            nan |= v[k] != v[k];
            if (v[k] > best) {
                best = v[k];
                ib = k;
            }
        }
    } else {
        for (size_t k = 0; k < n; k++) {
            nan |= v[k] != v[k];
            if (v[k] < best) {
                best = v[k];
                ib = k;
            }
        }
    }
    if (nan)
        return false;
    struct ne_qcell *cur = want_max ? &a->max : &a->min;
    int64_t *cur_t = want_max ? &a->max_t : &a->min_t;
    bool better = want_max ? best > cur->v.f : best < cur->v.f;
    if (a->n == 0 || better || (best == cur->v.f && ts[ib] < *cur_t)) {
        *cur = query__fcell(best);
        *cur_t = ts[ib];
    }
    a->n += n;
    return true;
}

int query__acc_add_run(struct acc *a, const struct slot *sl, const int64_t *ts,
                       const void *vals, size_t i0, size_t n, struct qpool *pool)
{
    ts += i0;
    if ((sl->fn == A_MAX || sl->fn == A_MIN) && sl->type == NE_V_FLOAT &&
        extreme_run(a, sl->fn == A_MAX, ts, (const double *)vals + i0, n))
        return 0;
    if (sl->fn == A_COUNT) { /* count needs nothing but the count */
        a->n += n;
        return 0;
    }
    if ((sl->fn == A_SUM || sl->fn == A_MEAN) && sl->type == NE_V_FLOAT) {
        a->sum_f += sum_run((const double *)vals + i0, n);
        a->n += n;
        return 0;
    }
    if (needs_nums(sl->fn) && sl->type != NE_V_BOOL && sl->type != NE_V_STRING) {
        a->n += n;
        return nlist_push_run(&a->nums, sl->type, (const uint64_t *)vals + i0, ts, n);
    }
    if (needs_values(sl->fn) || sl->type == NE_V_BOOL || sl->type == NE_V_STRING) {
        for (size_t k = 0; k < n; k++) {
            int rc = query__acc_add(a, sl->fn, query__typed_cell(sl->type, vals, i0 + k, pool), ts[k]);
            if (rc)
                return rc;
        }
        return 0;
    }
    if (sl->type == NE_V_FLOAT) {
        double sum = 0;
        bool nan = false;
        for (size_t k = 0; k < n; k++)
            nan |= ((const double *)vals)[i0 + k] != ((const double *)vals)[i0 + k];
        if (nan) { /* NaN breaks the min/max loop's ordering: go point by point */
            for (size_t k = 0; k < n; k++) {
                int rc = query__acc_add(a, sl->fn, query__typed_cell(sl->type, vals, i0 + k, pool), ts[k]);
                if (rc)
                    return rc;
            }
            return 0;
        }
        FOLD_RUN(double, NE_QC_FLOAT, f, sum += v[k]);
        a->sum_f += sum;
    } else if (sl->type == NE_V_INT) {
        uint64_t sum = 0;
        FOLD_RUN(int64_t, NE_QC_INT, i, sum += (uint64_t)v[k]);
        a->sum_u += sum;
    } else {
        uint64_t sum = 0;
        FOLD_RUN(uint64_t, NE_QC_UINT, u, sum += v[k]);
        a->sum_u += sum;
    }
    return 0;
}
