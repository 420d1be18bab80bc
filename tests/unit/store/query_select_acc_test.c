/* Tests of the percentile() and median() accumulators against a sorted
 * copy of the same values: floats (negative, -0.0/+0.0, infinities,
 * denormals), int64 and uint64 extremes, heavy ties, sizes on both sides of
 * the radix selection's cut-over; and the time of the selected point when
 * several equal values compete (earliest first, as points arrive in time
 * order). Values come through both entry points: whole runs from a scan
 * and single cells from filtered rows. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"
#include "store/query/select_int.h"
#include "t.h"

static uint64_t rng = 0x243f6a8885a308d3ULL;

static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    if (x < y) return -1;
    if (x > y) return 1;
    /* -0.0 before +0.0, as the keys order them */
    return signbit(y) - signbit(x);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return x < y ? -1 : x > y;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static size_t pct_index(size_t n, double p)
{
    return (size_t)(floor((double)n * p / 100.0 + 0.5) - 1);
}

/* Feeds v[0..n) (type t) into two accumulators: runs for percentile(p),
 * single cells for median. Checks both answers against the sorted copy. */
static void check_set(uint8_t t, const void *v, const int64_t *ts, size_t n, double p)
{
    struct slot sp = {.fn = A_PERCENTILE, .field = "x", .type = t, .param = p};
    struct slot sm = {.fn = A_MEDIAN, .field = "x", .type = t};
    struct acc ap, am;
    memset(&ap, 0, sizeof ap);
    memset(&am, 0, sizeof am);
    /* runs of uneven lengths, as blocks come */
    for (size_t i = 0; i < n;) {
        size_t k = 1 + next() % 3000;
        if (k > n - i) k = n - i;
        T_OK(query__acc_add_run(&ap, &sp, ts, v, i, k, NULL));
        i += k;
    }
    for (size_t i = 0; i < n; i++)
        T_OK(query__acc_add(&am, A_MEDIAN, query__typed_cell(t, v, i, NULL), ts[i]));
    void *sorted = ne_malloc(n * 8 + 8);
    memcpy(sorted, v, n * 8);
    qsort(sorted, n, 8, t == NE_V_FLOAT ? cmp_dbl : t == NE_V_INT ? cmp_i64 : cmp_u64);
    int64_t tt;
    struct ne_qcell c = query__acc_result(&ap, &sp, &tt);
    size_t idx = pct_index(n, p);
    if (idx >= n) {
        T_EQ_INT(c.type, NE_QC_NULL);
    } else if (t == NE_V_FLOAT) {
        T_EQ_INT(c.type, NE_QC_FLOAT);
        T_CHECK(memcmp(&c.v.f, (double *)sorted + idx, 8) == 0);
    } else if (t == NE_V_INT) {
        T_EQ_INT(c.type, NE_QC_INT);
        T_CHECK(c.v.i == ((int64_t *)sorted)[idx]);
    } else {
        T_EQ_INT(c.type, NE_QC_UINT);
        T_CHECK(c.v.u == ((uint64_t *)sorted)[idx]);
    }
    c = query__acc_result(&am, &sm, &tt);
    T_EQ_INT(c.type, NE_QC_FLOAT);
    struct ne_qcell hi = query__typed_cell(t, sorted, n / 2, NULL);
    struct ne_qcell lo = query__typed_cell(t, sorted, n % 2 ? n / 2 : n / 2 - 1, NULL);
    double flo = query__cell_f(&lo), fhi = query__cell_f(&hi);
    double want = n % 2 ? fhi : flo + (fhi - flo) / 2;
    T_CHECK(memcmp(&c.v.f, &want, 8) == 0 || (isnan(c.v.f) && isnan(want)));
    query__acc_free(&ap);
    query__acc_free(&am);
    ne_free(sorted);
}

static const size_t sizes[] = {1, 2, 3, 7, 100, 4095, 4096, 4097, 10000, 250000};
static const double pcts[] = {0.1, 1, 50, 95, 99.9, 100};

/* Fills v[0..n) (8-byte values) with value set shape number shape. */
typedef void fill_fn(void *v, size_t n, int shape);

/* check_set over every size of sizes, every percentile of pcts and each
 * of the nshapes shapes fill makes, for each of the ntypes types. */
static void check_sets(const uint8_t *types, size_t ntypes, int nshapes, fill_fn *fill)
{
    size_t nmax = 250000;
    uint64_t *v = ne_malloc(nmax * sizeof *v);
    int64_t *ts = ne_malloc(nmax * sizeof *ts);
    for (size_t i = 0; i < nmax; i++)
        ts[i] = (int64_t)i;
    for (size_t z = 0; z < sizeof sizes / sizeof sizes[0]; z++) {
        size_t n = sizes[z];
        for (int shape = 0; shape < nshapes; shape++) {
            fill(v, n, shape);
            for (size_t k = 0; k < sizeof pcts / sizeof pcts[0]; k++)
                for (size_t t = 0; t < ntypes; t++)
                    check_set(types[t], v, ts, n, pcts[k]);
        }
    }
    ne_free(v);
    ne_free(ts);
}

static void fill_floats(void *vals, size_t n, int shape)
{
    double *v = vals;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = next();
        if (shape == 0) /* sensor-like: few decimals, clustered */
            v[i] = (double)(int64_t)(r % 4000 + 1500) / 100.0;
        else if (shape == 1) /* anything but NaN */
            v[i] = (double)(int64_t)r / (double)(1 + (r >> 40)) * ((r & 1) ? 1e-300 : 1e3);
        else /* heavy ties, both zeros, infinities */
            v[i] = (double[]){-0.0, 0.0, 1.5, -1.5, INFINITY, -INFINITY, 5e-324}[r % 7];
    }
}

static void fill_integers(void *vals, size_t n, int shape)
{
    int64_t *v = vals;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = next();
        v[i] = shape == 0 ? (int64_t)r : (int64_t[]){INT64_MIN, INT64_MAX, -1, 0, 1}[r % 5];
    }
}

static void test_floats(void)
{
    check_sets((const uint8_t[]){NE_V_FLOAT}, 1, 3, fill_floats);
}

static void test_integers(void)
{
    check_sets((const uint8_t[]){NE_V_INT, NE_V_UINT}, 2, 2, fill_integers);
}

/* With the point's time kept: of equal values, the rank picks among them
 * in time order. Values 7 at t = 50..59 (ten ties), 1 at t = 0..49,
 * 9 at t = 60..99, fed in a shuffled time order. */
static void test_selected_time(void)
{
    enum { N = 100 };
    double v[N];
    int64_t ts[N];
    for (size_t i = 0; i < N; i++) {
        ts[i] = (int64_t)i;
        v[i] = i < 50 ? 1 : i < 60 ? 7 : 9;
    }
    for (size_t i = N - 1; i > 0; i--) {
        size_t j = next() % (i + 1);
        double x = v[i];
        int64_t y = ts[i];
        v[i] = v[j], ts[i] = ts[j];
        v[j] = x, ts[j] = y;
    }
    /* rank 55 (1-based): percentile 55 -> index 54 -> the 5th 7, at t = 54 */
    struct slot sp = {.fn = A_PERCENTILE, .field = "x", .type = NE_V_FLOAT, .param = 55};
    struct acc a;
    memset(&a, 0, sizeof a);
    a.nums.with_t = true;
    for (size_t i = 0; i < N; i++)
        T_OK(query__acc_add_run(&a, &sp, ts, v, i, 1, NULL));
    int64_t t;
    struct ne_qcell c = query__acc_result(&a, &sp, &t);
    T_EQ_INT(c.type, NE_QC_FLOAT);
    T_EQ_DBL(c.v.f, 7, 0);
    T_EQ_INT(t, 54);
    sp.param = 100; /* the last 9: t = 99 */
    c = query__acc_result(&a, &sp, &t);
    T_EQ_DBL(c.v.f, 9, 0);
    T_EQ_INT(t, 99);
    query__acc_free(&a);
    /* without times kept, the time is left to the caller (bucket start) */
    memset(&a, 0, sizeof a);
    T_OK(query__acc_add_run(&a, &sp, ts, v, 0, N, NULL));
    c = query__acc_result(&a, &sp, &t);
    T_EQ_DBL(c.v.f, 9, 0);
    T_CHECK(t == INT64_MIN);
    query__acc_free(&a);
}

/* The value list is 8 bytes per value: far below the 32+ of a cell list. */
static void test_compact(void)
{
    enum { N = 100000 };
    static double v[N];
    static int64_t ts[N];
    for (size_t i = 0; i < N; i++)
        v[i] = (double)i, ts[i] = (int64_t)i;
    struct slot sp = {.fn = A_PERCENTILE, .field = "x", .type = NE_V_FLOAT, .param = 50};
    struct acc a;
    memset(&a, 0, sizeof a);
    T_OK(query__acc_add_run(&a, &sp, ts, v, 0, N, NULL));
    T_EQ_U64(a.nums.n, N);
    T_CHECK(a.nums.cap < 2 * N);
    T_CHECK(a.nums.t == NULL);
    T_CHECK(a.vals.n == 0 && a.vals.v == NULL);
    query__acc_free(&a);
}

int main(void)
{
    T_RUN(test_floats);
    T_RUN(test_integers);
    T_RUN(test_selected_time);
    T_RUN(test_compact);
    return t_done();
}
