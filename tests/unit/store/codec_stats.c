/*
 * codec_stats.c - block statistics: values against a straightforward
 * recomputation, exact 128-bit integer sums, NaN handling, merging, and the
 * footer serialisation (round trip, truncation).
 */
#include <math.h>
#include <string.h>

#include "t.h"
#include "codec_util.h"

static void test_float_stats(void)
{
    int64_t ts[6] = {50, 10, 40, 30, 20, 60};
    double v[6] = {2.5, NAN, -1.25, 8.0, -0.0, 3.0};
    struct ne_block_stats st;
    struct ne_buf out = NE_BUF_INIT;
    T_OK(ne_codec_encode_block(NE_V_FLOAT, ts, v, 6, NULL, &out, &st));
    T_EQ_INT(st.type, NE_V_FLOAT);
    T_EQ_INT(st.count, 6);
    T_CHECK(st.flags & NE_STATS_HAS_NAN);
    T_EQ_DBL(st.min.f, -1.25, 0);
    T_EQ_DBL(st.max.f, 8.0, 0);
    T_EQ_DBL(st.sum_f, 2.5 - 1.25 + 8.0 + 3.0, 1e-12);
    T_EQ_DBL(st.first.f, 2.5, 0);
    T_EQ_DBL(st.last.f, 3.0, 0);
    T_EQ_INT(st.min_ts, 10);
    T_EQ_INT(st.max_ts, 60);
    T_EQ_INT(st.first_ts, 50);
    T_EQ_INT(st.last_ts, 60);
    double nans[2] = {NAN, NAN};
    T_OK(ne_block_stats_compute(NE_V_FLOAT, ts, nans, 2, &st));
    T_CHECK(isnan(st.min.f) && isnan(st.max.f));
    T_EQ_DBL(st.sum_f, 0, 0);
    ne_buf_free(&out);
}

/* Without NaN the statistics take a branch-free loop: the same minimum,
 * maximum (signed zeros and infinities compared as the general loop does)
 * and the same sum, added in the same order, bit for bit. */
static uint64_t bits_of(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static void test_float_stats_without_nan(void)
{
    enum { N = 1000 };
    static int64_t ts[N];
    static double v[N];
    for (size_t i = 0; i < N; i++) {
        ts[i] = (int64_t)i;
        v[i] = (double)(int64_t)(cu_rand() % 2000001 - 1000000) / 1000.0;
    }
    v[0] = 0.0;
    v[1] = -0.0;
    v[N / 2] = INFINITY;
    v[N - 1] = -INFINITY;
    for (int pass = 0; pass < 2; pass++) {
        if (pass) v[N / 2] = v[N - 1] = 1.5; /* and all finite */
        double lo = v[0], hi = v[0], sum = 0;
        for (size_t i = 0; i < N; i++) {
            lo = v[i] < lo ? v[i] : lo;
            hi = v[i] > hi ? v[i] : hi;
            sum += v[i];
        }
        struct ne_block_stats st;
        T_OK(ne_block_stats_compute(NE_V_FLOAT, ts, v, N, &st));
        T_CHECK(!(st.flags & NE_STATS_HAS_NAN));
        T_EQ_U64(bits_of(st.min.f), bits_of(lo));
        T_EQ_U64(bits_of(st.max.f), bits_of(hi));
        T_EQ_U64(bits_of(st.sum_f), bits_of(sum));
        T_EQ_U64(bits_of(st.first.f), bits_of(v[0]));
        T_EQ_U64(bits_of(st.last.f), bits_of(v[N - 1]));
    }
}

static void test_int_stats_exact_sum(void)
{
    enum { N = 1000 };
    static int64_t ts[N], v[N];
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    double dsum = 0;
    for (size_t i = 0; i < N; i++) {
        ts[i] = (int64_t)i;
        v[i] = (int64_t)(cu_rand() % 2000001) - 1000000;
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
        dsum += (double)v[i];
    }
    struct ne_block_stats st;
    T_OK(ne_block_stats_compute(NE_V_INT, ts, v, N, &st));
    T_EQ_INT(st.min.i, lo);
    T_EQ_INT(st.max.i, hi);
    int64_t s;
    T_OK(ne_block_stats_sum_i64(&st, &s));
    T_EQ_DBL((double)s, dsum, 0.5);
    T_EQ_DBL(st.sum_f, dsum, 0.5);
    /* three times INT64_MAX: exact in 128 bits, not in int64 */
    int64_t big[3] = {INT64_MAX, INT64_MAX, INT64_MAX};
    T_OK(ne_block_stats_compute(NE_V_INT, ts, big, 3, &st));
    T_EQ_INT(ne_block_stats_sum_i64(&st, &s), NE_ERANGE);
    T_EQ_INT(st.sum_hi, 1);
    T_EQ_U64(st.sum_lo, (UINT64_C(1) << 63) - 3); /* 3 * (2^63 - 1) = 2^64 + 2^63 - 3 */
    int64_t neg[3] = {INT64_MIN, INT64_MIN, 5};
    T_OK(ne_block_stats_compute(NE_V_INT, ts, neg, 3, &st));
    T_EQ_INT(st.sum_hi, -1);
    T_EQ_U64(st.sum_lo, 5);
    T_EQ_DBL(st.sum_f, -18446744073709551616.0 + 5, 1e4);
    uint64_t u[2] = {UINT64_MAX, UINT64_MAX};
    T_OK(ne_block_stats_compute(NE_V_UINT, ts, u, 2, &st));
    T_EQ_INT(st.sum_hi, 1);
    T_EQ_U64(st.sum_lo, UINT64_MAX - 1);
    T_EQ_U64(st.max.u, UINT64_MAX);
    T_EQ_U64(st.min.u, UINT64_MAX);
}

static void test_bool_string_stats(void)
{
    int64_t ts[4] = {1, 2, 3, 4};
    bool b[4] = {false, true, true, false};
    struct ne_sv s[4] = {NE_SV("first"), NE_SV(""), NE_SV("x"), NE_SV("l\xc3\xa4st")};
    struct ne_block_stats st;
    T_OK(ne_block_stats_compute(NE_V_BOOL, ts, b, 4, &st));
    T_EQ_U64(st.true_count, 2);
    T_EQ_U64(st.first.u, 0);
    T_EQ_U64(st.last.u, 0);
    T_EQ_U64(st.min.u, 0);
    T_EQ_U64(st.max.u, 1);
    struct ne_buf out = NE_BUF_INIT;
    T_OK(ne_codec_encode_block(NE_V_STRING, ts, s, 4, NULL, &out, &st));
    T_EQ_INT(st.count, 4);
    T_CHECK(st.first_s.p == s[0].p && st.first_s.n == 5);
    T_CHECK(st.last_s.p == s[3].p && st.last_s.n == 5);
    ne_buf_free(&out);
}

static void test_merge(void)
{
    enum { N = 500 };
    static int64_t ts[N], v[N];
    for (size_t i = 0; i < N; i++) {
        ts[i] = 1000 + (int64_t)i;
        v[i] = (int64_t)(cu_rand() % 100) - 50;
    }
    struct ne_block_stats whole, a, b, acc;
    T_OK(ne_block_stats_compute(NE_V_INT, ts, v, N, &whole));
    T_OK(ne_block_stats_compute(NE_V_INT, ts, v, 200, &a));
    T_OK(ne_block_stats_compute(NE_V_INT, ts + 200, v + 200, N - 200, &b));
    memset(&acc, 0, sizeof acc);
    T_OK(ne_block_stats_merge(&acc, &b)); /* order must not matter */
    T_OK(ne_block_stats_merge(&acc, &a));
    T_EQ_INT(acc.count, whole.count);
    T_EQ_INT(acc.min.i, whole.min.i);
    T_EQ_INT(acc.max.i, whole.max.i);
    T_EQ_INT(acc.sum_hi, whole.sum_hi);
    T_EQ_U64(acc.sum_lo, whole.sum_lo);
    T_EQ_INT(acc.first.i, whole.first.i);
    T_EQ_INT(acc.last.i, whole.last.i);
    T_EQ_INT(acc.first_ts, whole.first_ts);
    T_EQ_INT(acc.last_ts, whole.last_ts);
    T_EQ_INT(acc.min_ts, whole.min_ts);
    T_EQ_INT(acc.max_ts, whole.max_ts);
    double f[2] = {1.0, 2.0};
    struct ne_block_stats fs;
    T_OK(ne_block_stats_compute(NE_V_FLOAT, ts, f, 2, &fs));
    T_EQ_INT(ne_block_stats_merge(&acc, &fs), NE_EINVAL);
    /* float merge where one side is all NaN */
    double nn[1] = {NAN};
    struct ne_block_stats ns;
    T_OK(ne_block_stats_compute(NE_V_FLOAT, ts + 10, nn, 1, &ns));
    T_OK(ne_block_stats_merge(&ns, &fs));
    T_EQ_DBL(ns.min.f, 1.0, 0);
    T_EQ_DBL(ns.max.f, 2.0, 0);
    T_CHECK(ns.flags & NE_STATS_HAS_NAN);
}

static void check_same(const struct ne_block_stats *a, const struct ne_block_stats *b, int *bad)
{
    *bad = a->type != b->type || a->flags != b->flags || a->count != b->count ||
           a->min_ts != b->min_ts || a->max_ts != b->max_ts || a->first_ts != b->first_ts ||
           a->last_ts != b->last_ts;
    if (a->count == 0 || *bad) return;
    switch (a->type) {
    case NE_V_FLOAT:
    case NE_V_INT:
    case NE_V_UINT:
        *bad = a->min.u != b->min.u || a->max.u != b->max.u || a->first.u != b->first.u ||
               a->last.u != b->last.u || memcmp(&a->sum_f, &b->sum_f, 8) != 0 ||
               a->sum_hi != b->sum_hi || a->sum_lo != b->sum_lo;
        break;
    case NE_V_BOOL:
        *bad = a->true_count != b->true_count || a->first.u != b->first.u ||
               a->last.u != b->last.u || a->min.u != b->min.u || a->max.u != b->max.u;
        break;
    case NE_V_STRING:
        *bad = !ne_sv_eq(a->first_s, b->first_s) || !ne_sv_eq(a->last_s, b->last_s);
        break;
    }
}

static void test_serialise(void)
{
    int64_t ts[3] = {INT64_MIN, 0, INT64_MAX};
    double f[3] = {-0.0, NAN, 1e300};
    int64_t i[3] = {INT64_MIN, INT64_MAX, INT64_MAX};
    bool b[3] = {true, false, true};
    struct ne_sv s[3] = {NE_SV(""), NE_SV("mid"), NE_SV("\xe2\x82\xac end")};
    const void *vals[] = {f, i, i, b, s};
    struct ne_buf out = NE_BUF_INIT;
    struct ne_block_stats st[6], back;
    for (int t = NE_V_FLOAT; t <= NE_V_STRING; t++)
        T_OK(ne_block_stats_compute((enum ne_vtype)t, ts, vals[t - 1], 3, &st[t - 1]));
    T_OK(ne_block_stats_compute(NE_V_INT, ts, i, 0, &st[5]));
    for (int k = 0; k < 6; k++)
        T_OK(ne_block_stats_put(&st[k], &out));
    size_t off = 0, used;
    for (int k = 0; k < 6; k++) {
        int bad;
        T_OK(ne_block_stats_get(out.p + off, out.len - off, &back, &used));
        check_same(&st[k], &back, &bad);
        if (bad) T_FAIL_("stats of type %d differ after get", st[k].type);
        off += used;
    }
    T_EQ_INT(off, out.len);
    /* every truncation of the first record fails */
    size_t first_len;
    T_OK(ne_block_stats_get(out.p, out.len, &back, &first_len));
    for (size_t len = 0; len < first_len; len++) {
        uint8_t *c = ne_malloc(len ? len : 1);
        memcpy(c, out.p, len);
        int rc = ne_block_stats_get(c, len, &back, &used);
        ne_free(c);
        T_EQ_INT(rc, NE_ECORRUPT);
    }
    uint8_t junk[3] = {9, 0, 0};
    T_EQ_INT(ne_block_stats_get(junk, 3, &back, &used), NE_ECORRUPT);
    ne_buf_free(&out);
}

/* The values part parsed alone, with the type, count and times given by
 * the caller, gives back the same stats; count 0 has no values part. */
static void test_split_values(void)
{
    int64_t ts[3] = {-5, 7, 1700000000000000000};
    double f[3] = {2.5, NAN, -1e-300};
    int64_t i[3] = {INT64_MIN, 3, INT64_MAX};
    bool b[3] = {false, false, true};
    struct ne_sv s[3] = {NE_SV("first"), NE_SV(""), NE_SV("last one")};
    const void *vals[] = {f, i, i, b, s};
    for (int t = NE_V_FLOAT; t <= NE_V_STRING; t++) {
        struct ne_buf out = NE_BUF_INIT;
        struct ne_block_stats st, full, part;
        size_t used, voff, vused;
        int bad;
        T_OK(ne_block_stats_compute((enum ne_vtype)t, ts, vals[t - 1], 3, &st));
        T_OK(ne_block_stats_put(&st, &out));
        T_OK(ne_block_stats_get_split(out.p, out.len, &full, &used, &voff));
        T_EQ_INT(used, out.len);
        T_CHECK(voff > 2 && voff < used);
        memset(&part, 0, sizeof part);
        part.type = st.type;
        part.flags = st.flags;
        part.count = st.count;
        part.min_ts = part.first_ts = st.min_ts;
        part.max_ts = part.last_ts = st.max_ts;
        T_OK(ne_block_stats_get_values(out.p + voff, used - voff, &part, &vused));
        T_EQ_INT(vused, used - voff);
        check_same(&st, &part, &bad);
        if (bad) T_FAIL_("stats of type %d differ after get_values", t);
        /* every truncation of the values fails */
        for (size_t len = 0; len + voff < used; len++) {
            uint8_t *c = ne_malloc(len ? len : 1);
            memcpy(c, out.p + voff, len);
            int rc = ne_block_stats_get_values(c, len, &part, &vused);
            ne_free(c);
            T_EQ_INT(rc, NE_ECORRUPT);
        }
        part.count = 0;
        T_EQ_INT(ne_block_stats_get_values(out.p + voff, used - voff, &part, &vused), NE_EINVAL);
        ne_buf_free(&out);
    }
    struct ne_buf out = NE_BUF_INIT;
    struct ne_block_stats empty, back;
    size_t used, voff;
    T_OK(ne_block_stats_compute(NE_V_INT, ts, i, 0, &empty));
    T_OK(ne_block_stats_put(&empty, &out));
    T_OK(ne_block_stats_get_split(out.p, out.len, &back, &used, &voff));
    T_EQ_INT(voff, used);
    ne_buf_free(&out);
}

int main(void)
{
    T_RUN(test_float_stats);
    T_RUN(test_float_stats_without_nan);
    T_RUN(test_int_stats_exact_sum);
    T_RUN(test_bool_string_stats);
    T_RUN(test_merge);
    T_RUN(test_serialise);
    T_RUN(test_split_values);
    return t_done();
}
