/*
 * stats.c - block statistics: computed at encode time, merged across
 * blocks, and serialised for segment footers.
 *
 * Invariants: count == 0 means "no values" (everything else zero).
 * Integer sums are exact 128-bit two's complement (sum_hi:sum_lo); sum_f is
 * derived from them. Float min/max skip NaN.
 *
 * Serialised layout (little-endian, varints as in buf.h):
 *
 *   u8 type | u8 flags | uvarint count
 *   if count > 0:
 *     svarint min_ts | uvarint max_ts-min_ts | uvarint first_ts-min_ts |
 *     uvarint last_ts-min_ts                        (differences mod 2^64)
 *     float:      u64le min | max | first | last | sum_f   (IEEE bits)
 *     int, uint:  u64le min | max | first | last | svarint sum_hi | u64le sum_lo
 *     bool:       uvarint true_count | u8 bits (first, last, min, max)
 *     string:     uvarint len | bytes (first) | uvarint len | bytes (last)
 */
#include <math.h>

#include "store/codec/codec.h"

static bool type_ok(int t)
{
    return t >= NE_V_FLOAT && t <= NE_V_STRING;
}

static void sum_add_i(struct ne_block_stats *st, int64_t v)
{
    uint64_t lo = st->sum_lo + (uint64_t)v;
    uint64_t hi = (uint64_t)st->sum_hi + (lo < st->sum_lo) + (v < 0 ? UINT64_MAX : 0);
    st->sum_lo = lo;
    st->sum_hi = (int64_t)hi;
}

static void sum_add_u(struct ne_block_stats *st, uint64_t v)
{
    uint64_t lo = st->sum_lo + v;
    st->sum_hi = (int64_t)((uint64_t)st->sum_hi + (lo < st->sum_lo));
    st->sum_lo = lo;
}

static double sum128_to_double(int64_t hi, uint64_t lo)
{
    if (hi == ((int64_t)lo < 0 ? -1 : 0))
        return (double)(int64_t)lo; /* fits in int64: exact up to rounding */
    bool neg = hi < 0;
    uint64_t h = (uint64_t)hi;
    if (neg) { /* two's complement negation of the 128-bit value */
        h = ~h + (lo == 0);
        lo = ~lo + 1;
    }
    double mag = (double)h * 18446744073709551616.0 + (double)lo;
    return neg ? -mag : mag;
}

static void ts_stats(const int64_t *ts, size_t n, struct ne_block_stats *st)
{
    int64_t lo = ts[0], hi = ts[0];
    for (size_t i = 1; i < n; i++) {
        lo = ts[i] < lo ? ts[i] : lo;
        hi = ts[i] > hi ? ts[i] : hi;
    }
    st->min_ts = lo;
    st->max_ts = hi;
    st->first_ts = ts[0];
    st->last_ts = ts[n - 1];
}

/* min, max and sum of v[0..n) (n >= 1) when no value is NaN: false (and
 * nothing set) when one is. The same comparisons and the same order of
 * additions as the general loop below, without its per-value branches. */
static bool float_stats_no_nan(const double *v, size_t n, struct ne_block_stats *st)
{
    double lo = v[0], hi = v[0], sum = 0;
    bool nan = false;
    for (size_t i = 0; i < n; i++) {
        double x = v[i];
        nan |= x != x;
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
        sum += x;
    }
    if (nan) return false;
    st->min.f = lo;
    st->max.f = hi;
    st->sum_f = sum;
    return true;
}

static void float_stats(const double *v, size_t n, struct ne_block_stats *st)
{
    st->first.f = v[0];
    st->last.f = v[n - 1];
    if (float_stats_no_nan(v, n, st)) return;
    double lo = NAN, hi = NAN, sum = 0;
    bool any = false;
    for (size_t i = 0; i < n; i++) {
        double x = v[i];
        if (isnan(x)) {
            st->flags |= NE_STATS_HAS_NAN;
            continue;
        }
        if (!any) {
            lo = hi = x;
            any = true;
        }
        lo = x < lo ? x : lo;
        hi = x > hi ? x : hi;
        sum += x;
    }
    st->min.f = lo;
    st->max.f = hi;
    st->sum_f = sum;
}

static void int_stats(const int64_t *v, size_t n, struct ne_block_stats *st)
{
    int64_t lo = v[0], hi = v[0];
    for (size_t i = 0; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
        sum_add_i(st, v[i]);
    }
    st->min.i = lo;
    st->max.i = hi;
    st->first.i = v[0];
    st->last.i = v[n - 1];
    st->sum_f = sum128_to_double(st->sum_hi, st->sum_lo);
}

static void uint_stats(const uint64_t *v, size_t n, struct ne_block_stats *st)
{
    uint64_t lo = v[0], hi = v[0];
    for (size_t i = 0; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
        sum_add_u(st, v[i]);
    }
    st->min.u = lo;
    st->max.u = hi;
    st->first.u = v[0];
    st->last.u = v[n - 1];
    st->sum_f = sum128_to_double(st->sum_hi, st->sum_lo);
}

static void bool_stats(const bool *v, size_t n, struct ne_block_stats *st)
{
    uint64_t t = 0;
    for (size_t i = 0; i < n; i++)
        t += v[i] ? 1 : 0;
    st->true_count = t;
    st->first.u = v[0] ? 1 : 0;
    st->last.u = v[n - 1] ? 1 : 0;
    st->min.u = t == n ? 1 : 0; /* 0 when any false */
    st->max.u = t > 0 ? 1 : 0;  /* 1 when any true */
}

int ne_block_stats_compute(enum ne_vtype t, const int64_t *ts, const void *vals, size_t n,
                           struct ne_block_stats *out)
{
    if (!type_ok(t) || n > NE_CODEC_MAX_VALUES || (n && (!ts || !vals))) return NE_EINVAL;
    struct ne_block_stats st;
    memset(&st, 0, sizeof st);
    st.type = (uint8_t)t;
    st.count = (uint32_t)n;
    if (n) {
        ts_stats(ts, n, &st);
        switch (t) {
        case NE_V_FLOAT:
            float_stats(vals, n, &st);
            break;
        case NE_V_INT:
            int_stats(vals, n, &st);
            break;
        case NE_V_UINT:
            uint_stats(vals, n, &st);
            break;
        case NE_V_BOOL:
            bool_stats(vals, n, &st);
            break;
        case NE_V_STRING:
            st.first_s = ((const struct ne_sv *)vals)[0];
            st.last_s = ((const struct ne_sv *)vals)[n - 1];
            break;
        }
    }
    *out = st;
    return 0;
}

static void merge_minmax(struct ne_block_stats *a, const struct ne_block_stats *b)
{
    switch (a->type) {
    case NE_V_FLOAT:
        if (isnan(a->min.f) || b->min.f < a->min.f) a->min.f = b->min.f;
        if (isnan(a->max.f) || b->max.f > a->max.f) a->max.f = b->max.f;
        a->sum_f += b->sum_f;
        break;
    case NE_V_INT:
    case NE_V_UINT: {
        bool sgn = a->type == NE_V_INT;
        if (sgn ? b->min.i < a->min.i : b->min.u < a->min.u) a->min = b->min;
        if (sgn ? b->max.i > a->max.i : b->max.u > a->max.u) a->max = b->max;
        uint64_t lo = a->sum_lo + b->sum_lo;
        a->sum_hi = (int64_t)((uint64_t)a->sum_hi + (uint64_t)b->sum_hi + (lo < a->sum_lo));
        a->sum_lo = lo;
        a->sum_f = sum128_to_double(a->sum_hi, a->sum_lo);
        break;
    }
    case NE_V_BOOL:
        a->true_count += b->true_count;
        a->min.u &= b->min.u;
        a->max.u |= b->max.u;
        break;
    }
}

int ne_block_stats_merge(struct ne_block_stats *a, const struct ne_block_stats *b)
{
    if (b->count == 0) return a->count == 0 || a->type == b->type ? 0 : NE_EINVAL;
    if (a->count == 0) {
        *a = *b;
        return 0;
    }
    if (a->type != b->type) return NE_EINVAL;
    merge_minmax(a, b);
    if (b->first_ts < a->first_ts) {
        a->first_ts = b->first_ts;
        a->first = b->first;
        a->first_s = b->first_s;
    }
    if (b->last_ts >= a->last_ts) {
        a->last_ts = b->last_ts;
        a->last = b->last;
        a->last_s = b->last_s;
    }
    a->min_ts = b->min_ts < a->min_ts ? b->min_ts : a->min_ts;
    a->max_ts = b->max_ts > a->max_ts ? b->max_ts : a->max_ts;
    a->count += b->count;
    a->flags |= b->flags;
    return 0;
}

int ne_block_stats_sum_i64(const struct ne_block_stats *st, int64_t *out)
{
    /* fits iff hi is the sign extension of lo */
    int64_t ext = (int64_t)st->sum_lo < 0 ? -1 : 0;
    if (st->sum_hi != ext) return NE_ERANGE;
    *out = (int64_t)st->sum_lo;
    return 0;
}

/* ---- serialisation --------------------------------------------------------- */

static int put_sv(struct ne_buf *out, struct ne_sv s)
{
    int rc = ne_buf_put_uvarint(out, s.n);
    return rc ? rc : ne_buf_append(out, s.p, s.n);
}

static int put_body(const struct ne_block_stats *st, struct ne_buf *out)
{
    int rc = 0;
    uint64_t base = (uint64_t)st->min_ts;
    rc |= ne_buf_put_svarint(out, st->min_ts);
    rc |= ne_buf_put_uvarint(out, (uint64_t)st->max_ts - base);
    rc |= ne_buf_put_uvarint(out, (uint64_t)st->first_ts - base);
    rc |= ne_buf_put_uvarint(out, (uint64_t)st->last_ts - base);
    switch (st->type) {
    case NE_V_FLOAT:
    case NE_V_INT:
    case NE_V_UINT:
        rc |= ne_buf_put_u64le(out, st->min.u);
        rc |= ne_buf_put_u64le(out, st->max.u);
        rc |= ne_buf_put_u64le(out, st->first.u);
        rc |= ne_buf_put_u64le(out, st->last.u);
        if (st->type == NE_V_FLOAT) {
            uint64_t u;
            memcpy(&u, &st->sum_f, 8);
            rc |= ne_buf_put_u64le(out, u);
        } else {
            rc |= ne_buf_put_svarint(out, st->sum_hi);
            rc |= ne_buf_put_u64le(out, st->sum_lo);
        }
        break;
    case NE_V_BOOL:
        rc |= ne_buf_put_uvarint(out, st->true_count);
        rc |= ne_buf_put_u8(out, (uint8_t)((st->first.u & 1) | (st->last.u & 1) << 1 |
                                           (st->min.u & 1) << 2 | (st->max.u & 1) << 3));
        break;
    case NE_V_STRING:
        rc |= put_sv(out, st->first_s);
        rc |= put_sv(out, st->last_s);
        break;
    }
    return rc ? NE_ENOMEM : 0;
}

int ne_block_stats_put(const struct ne_block_stats *st, struct ne_buf *out)
{
    size_t start = out->len;
    int rc = 0;
    if (!type_ok(st->type)) return NE_EINVAL;
    rc |= ne_buf_put_u8(out, st->type);
    rc |= ne_buf_put_u8(out, st->flags);
    rc |= ne_buf_put_uvarint(out, st->count);
    if (rc == 0 && st->count) rc = put_body(st, out);
    if (rc) {
        out->len = start;
        return NE_ENOMEM;
    }
    return 0;
}

static int get_sv(struct ne_rd *r, struct ne_sv *s)
{
    uint64_t n;
    const uint8_t *b;
    if (ne_rd_uvarint(r, &n) || n > UINT32_MAX || ne_rd_bytes(r, (size_t)n, &b)) return NE_ECORRUPT;
    s->p = (const char *)b;
    s->n = (uint32_t)n;
    return 0;
}

static int get_times(struct ne_rd *r, struct ne_block_stats *st)
{
    uint64_t dmax, dfirst, dlast;
    int64_t min_ts;
    int bad = 0;
    bad |= ne_rd_svarint(r, &min_ts);
    bad |= ne_rd_uvarint(r, &dmax);
    bad |= ne_rd_uvarint(r, &dfirst);
    bad |= ne_rd_uvarint(r, &dlast);
    if (bad) return NE_ECORRUPT;
    st->min_ts = min_ts;
    st->max_ts = (int64_t)((uint64_t)min_ts + dmax);
    st->first_ts = (int64_t)((uint64_t)min_ts + dfirst);
    st->last_ts = (int64_t)((uint64_t)min_ts + dlast);
    return 0;
}

/* The per-type part that follows last_ts: st->type and st->count set. */
static int get_values(struct ne_rd *r, struct ne_block_stats *st)
{
    uint64_t tc;
    uint8_t bits;
    int bad = 0;
    switch (st->type) {
    case NE_V_FLOAT:
    case NE_V_INT:
    case NE_V_UINT:
        bad |= ne_rd_u64le(r, &st->min.u);
        bad |= ne_rd_u64le(r, &st->max.u);
        bad |= ne_rd_u64le(r, &st->first.u);
        bad |= ne_rd_u64le(r, &st->last.u);
        if (st->type == NE_V_FLOAT) {
            uint64_t u = 0;
            bad |= ne_rd_u64le(r, &u);
            memcpy(&st->sum_f, &u, 8);
        } else {
            bad |= ne_rd_svarint(r, &st->sum_hi);
            bad |= ne_rd_u64le(r, &st->sum_lo);
            st->sum_f = sum128_to_double(st->sum_hi, st->sum_lo);
        }
        break;
    case NE_V_BOOL:
        bad |= ne_rd_uvarint(r, &tc);
        bad |= ne_rd_u8(r, &bits);
        if (bad || tc > st->count || bits > 15) return NE_ECORRUPT;
        st->true_count = tc;
        st->first.u = bits & 1;
        st->last.u = (bits >> 1) & 1;
        st->min.u = (bits >> 2) & 1;
        st->max.u = (bits >> 3) & 1;
        break;
    case NE_V_STRING:
        bad |= get_sv(r, &st->first_s);
        bad |= get_sv(r, &st->last_s);
        break;
    }
    return bad ? NE_ECORRUPT : 0;
}

int ne_block_stats_get_split(const uint8_t *p, size_t len, struct ne_block_stats *out,
                             size_t *used, size_t *values_off)
{
    struct ne_rd r;
    struct ne_block_stats st;
    uint64_t count;
    memset(&st, 0, sizeof st);
    ne_rd_init(&r, p, len);
    if (ne_rd_u8(&r, &st.type) || ne_rd_u8(&r, &st.flags) || ne_rd_uvarint(&r, &count))
        return NE_ECORRUPT;
    if (!type_ok(st.type) || count > UINT32_MAX) return NE_ECORRUPT;
    st.count = (uint32_t)count;
    size_t voff = 0;
    if (st.count) {
        if (get_times(&r, &st) != 0) return NE_ECORRUPT;
        voff = (size_t)(r.p - p);
        if (get_values(&r, &st) != 0) return NE_ECORRUPT;
    }
    *out = st;
    *used = (size_t)(r.p - p);
    if (values_off) *values_off = voff ? voff : *used;
    return 0;
}

int ne_block_stats_get(const uint8_t *p, size_t len, struct ne_block_stats *out, size_t *used)
{
    return ne_block_stats_get_split(p, len, out, used, NULL);
}

int ne_block_stats_get_values(const uint8_t *p, size_t len, struct ne_block_stats *st,
                              size_t *used)
{
    struct ne_rd r;
    if (!type_ok(st->type) || st->count == 0) return NE_EINVAL;
    ne_rd_init(&r, p, len);
    if (get_values(&r, st) != 0) return NE_ECORRUPT;
    *used = (size_t)(r.p - p);
    return 0;
}
