/*
 * codec_roundtrip.c - every column codec round-trips bit for bit: special
 * floats, integer extremes, empty and non-ASCII strings, n = 0, 1, 2,
 * constant and random series; and the codec choice behaves as documented.
 */
#include <float.h>
#include <math.h>
#include <pthread.h>

#include "t.h"
#include "codec_util.h"
#include "ports/crc32c.h"
#include "store/codec/codec_internal.h"

static const int int_codecs[] = {NE_CODEC_INT_RAW, NE_CODEC_INT_FOR, NE_CODEC_INT_DELTA,
                                 NE_CODEC_INT_DOD, NE_CODEC_INT_DELTA_GCD};
#define N_INT_CODECS (sizeof int_codecs / sizeof int_codecs[0])
static const int float_codecs[] = {NE_CODEC_F_RAW, NE_CODEC_F_DECIMAL, NE_CODEC_F_XOR};

static double from_bits(uint64_t u)
{
    double d;
    memcpy(&d, &u, 8);
    return d;
}

static void fill_ts_regular(int64_t *ts, size_t n, int64_t t0, int64_t step)
{
    for (size_t i = 0; i < n; i++)
        ts[i] = t0 + (int64_t)i * step;
}

/* Round trip with every forced value codec of the family and every
 * forced timestamp codec, zstd on and off; returns the first failure. */
static int rt_all(enum ne_vtype t, const int64_t *ts, const void *vals, size_t n)
{
    struct ne_codec_opts o;
    const int *vc = NULL;
    size_t nvc = 0;
    static const int bool_codecs[] = {NE_CODEC_B_BITMAP, NE_CODEC_B_RLE};
    static const int str_codecs[] = {NE_CODEC_S_PLAIN, NE_CODEC_S_DICT};
    switch (t) {
    case NE_V_FLOAT:
        vc = float_codecs, nvc = 3;
        break;
    case NE_V_INT:
    case NE_V_UINT:
        vc = int_codecs, nvc = N_INT_CODECS;
        break;
    case NE_V_BOOL:
        vc = bool_codecs, nvc = 2;
        break;
    case NE_V_STRING:
        vc = str_codecs, nvc = 2;
        break;
    }
    for (size_t z = 0; z < 2; z++) {
        for (size_t k = 0; k <= nvc; k++) {
            for (size_t j = 0; j <= N_INT_CODECS; j++) {
                ne_codec_opts_default(&o);
                o.zstd_level = z ? 3 : 0;
                o.zstd_min = 1;
                o.force_val = k < nvc ? (uint8_t)vc[k] : 0;
                o.force_ts = j < N_INT_CODECS ? (uint8_t)int_codecs[j] : 0;
                o.exhaustive = (k + j) & 1;
                struct cu_result r = cu_roundtrip(t, ts, vals, n, &o);
                if (r.rc) {
                    fprintf(stderr,
                            "  type %d n %zu force_val %d force_ts %d zstd %zu: rc %d at %zu\n", t,
                            n, o.force_val, o.force_ts, z, r.rc, r.mismatch);
                    return r.rc;
                }
                if (o.force_ts && r.info.ts_codec != o.force_ts) {
                    fprintf(stderr, "  forced ts codec %d not used (%d)\n", o.force_ts,
                            r.info.ts_codec);
                    return NE_EINVAL;
                }
            }
        }
    }
    return 0;
}

static void test_buf_varints(void)
{
    static const uint64_t vals[] = {
        0, 1, 127, 128, 300, 16383, 16384, UINT32_MAX, (uint64_t)INT64_MAX, UINT64_MAX};
    struct ne_buf b = NE_BUF_INIT;
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        T_OK(ne_buf_put_uvarint(&b, vals[i]));
        T_OK(ne_buf_put_svarint(&b, (int64_t)vals[i]));
        T_OK(ne_buf_put_u32le(&b, (uint32_t)vals[i]));
        T_OK(ne_buf_put_u64le(&b, vals[i]));
    }
    struct ne_rd r;
    ne_rd_init(&r, b.p, b.len);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        uint64_t u, u64;
        int64_t s;
        uint32_t u32;
        T_OK(ne_rd_uvarint(&r, &u));
        T_EQ_U64(u, vals[i]);
        T_EQ_INT(ne_uvarint_len(vals[i]) > 0, 1);
        T_OK(ne_rd_svarint(&r, &s));
        T_EQ_U64((uint64_t)s, vals[i]);
        T_OK(ne_rd_u32le(&r, &u32));
        T_EQ_U64(u32, (uint32_t)vals[i]);
        T_OK(ne_rd_u64le(&r, &u64));
        T_EQ_U64(u64, vals[i]);
    }
    T_EQ_INT(ne_rd_left(&r), 0);
    uint8_t x;
    T_EQ_INT(ne_rd_u8(&r, &x), NE_ECORRUPT);
    /* truncated and overlong varints */
    static const uint8_t trunc[] = {0x80, 0x80};
    static const uint8_t over[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02};
    uint64_t u;
    ne_rd_init(&r, trunc, sizeof trunc);
    T_EQ_INT(ne_rd_uvarint(&r, &u), NE_ECORRUPT);
    T_EQ_INT(ne_rd_left(&r), 2);
    ne_rd_init(&r, over, sizeof over);
    T_EQ_INT(ne_rd_uvarint(&r, &u), NE_ECORRUPT);
    T_EQ_INT(ne_buf_patch_u32le(&b, b.len - 3, 1), NE_EINVAL);
    ne_buf_free(&b);
    T_CHECK(b.p == NULL && b.len == 0);
}

static void test_zigzag(void)
{
    static const int64_t v[] = {0, -1, 1, -2, 2, INT64_MIN, INT64_MAX, INT64_MIN + 1};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        T_EQ_INT(ne_unzigzag(ne_zigzag(v[i])), v[i]);
    T_EQ_U64(ne_zigzag(-1), 1);
    T_EQ_U64(ne_zigzag(1), 2);
    T_EQ_U64(ne_zigzag(INT64_MIN), UINT64_MAX);
}

static void test_pack_every_width(void)
{
    uint64_t v[300], back[300];
    for (unsigned w = 0; w <= 64; w++) {
        uint64_t mask = w == 64 ? UINT64_MAX : (UINT64_C(1) << w) - 1;
        for (size_t i = 0; i < 300; i++)
            v[i] = 1000 + (cu_rand() & mask); /* wraps for w = 64: fine */
        if (w > 0) v[7] = 1000 + mask;        /* make the width exact */
        for (size_t m = 0; m <= 300; m += (m < 3 ? 1 : 97)) {
            struct ne_buf b = NE_BUF_INIT;
            T_OK(codec__pack(v, m, &b));
            T_EQ_U64(b.len, codec__pack_cost(v, m));
            struct ne_rd r;
            ne_rd_init(&r, b.p, b.len);
            T_OK(codec__unpack(&r, m, back));
            T_EQ_INT(ne_rd_left(&r), 0);
            for (size_t i = 0; i < m; i++)
                T_EQ_U64(back[i], v[i]);
            ne_buf_free(&b);
        }
    }
}

static void test_float_specials(void)
{
    double v[] = {NAN,
                  -NAN,
                  from_bits(0x7ff0000000000001ULL),
                  from_bits(0x7ff8dead0000beefULL),
                  from_bits(0xfff4000000000123ULL),
                  INFINITY,
                  -INFINITY,
                  0.0,
                  -0.0,
                  DBL_MIN,
                  DBL_MAX,
                  -DBL_MAX,
                  DBL_TRUE_MIN,
                  -DBL_TRUE_MIN,
                  from_bits(0x000fffffffffffffULL),
                  1.0,
                  21.37,
                  0.1 + 0.2,
                  1e300,
                  -1e-300};
    size_t n = sizeof v / sizeof v[0];
    int64_t ts[sizeof v / sizeof v[0]];
    fill_ts_regular(ts, n, 1767225600000000000LL, 1000000000LL);
    T_OK(rt_all(NE_V_FLOAT, ts, v, n));
    /* each special alone and in pairs */
    for (size_t i = 0; i < n; i++) {
        T_OK(rt_all(NE_V_FLOAT, ts, v + i, 1));
        if (i + 1 < n) T_OK(rt_all(NE_V_FLOAT, ts, v + i, 2));
    }
}

static void test_float_decimal_chosen(void)
{
    enum { N = 3600 };
    static double temp[N], hum[N], pres[N];
    static int64_t ts[N];
    fill_ts_regular(ts, N, 1767225600000000000LL, 1000000000LL);
    int64_t a = 2137, b = 452, c = 101325;
    for (size_t i = 0; i < N; i++) {
        a += (int64_t)(cu_rand() % 7) - 3;
        b += (int64_t)(cu_rand() % 3) - 1;
        c += (int64_t)(cu_rand() % 5) - 2;
        temp[i] = (double)a / 100;
        hum[i] = (double)b / 10;
        pres[i] = (double)c / 100;
    }
    struct ne_codec_opts o;
    ne_codec_opts_default(&o);
    struct cu_result r = cu_roundtrip(NE_V_FLOAT, ts, temp, N, &o);
    T_OK(r.rc);
    T_EQ_INT(r.info.val_codec, NE_CODEC_F_DECIMAL);
    T_EQ_INT(r.info.val_param, 2);
    T_CHECK(r.block_len < N / 2); /* 3 bits per value at most, plus headers */
    r = cu_roundtrip(NE_V_FLOAT, ts, hum, N, &o);
    T_OK(r.rc);
    T_EQ_INT(r.info.val_codec, NE_CODEC_F_DECIMAL);
    T_EQ_INT(r.info.val_param, 1);
    r = cu_roundtrip(NE_V_FLOAT, ts, pres, N, &o);
    T_OK(r.rc);
    T_EQ_INT(r.info.val_codec, NE_CODEC_F_DECIMAL);
    T_EQ_INT(r.info.val_param, 2);
    /* the regular timestamps are almost free */
    T_CHECK(r.info.ts_codec == NE_CODEC_INT_DOD || r.info.ts_codec == NE_CODEC_INT_DELTA);
    T_CHECK(r.info.ts_len <= 2 + 20 + (N + 127) / 128);
    /* a few specials become exceptions of the decimal codec, exact */
    size_t before = r.block_len;
    pres[0] = -0.0;
    pres[100] = NAN;
    pres[101] = from_bits(0x7ff0000000000abcULL);
    pres[N - 1] = -INFINITY;
    pres[2000] = 0.1 + 0.2;
    r = cu_roundtrip(NE_V_FLOAT, ts, pres, N, &o);
    T_OK(r.rc);
    T_EQ_INT(r.info.val_codec, NE_CODEC_F_DECIMAL);
    T_CHECK(r.block_len < before + 5 * 10 + 64);
    T_OK(rt_all(NE_V_FLOAT, ts, pres, N));
    T_OK(rt_all(NE_V_FLOAT, ts, pres, 101));
    /* more than n/32 of them: another codec, still exact */
    for (size_t i = 0; i < N / 32 + 1; i++)
        pres[i * 31] = NAN;
    r = cu_roundtrip(NE_V_FLOAT, ts, pres, N, &o);
    T_OK(r.rc);
    T_CHECK(r.info.val_codec != NE_CODEC_F_DECIMAL);
    /* and forcing it is refused, falling back to auto */
    o.force_val = NE_CODEC_F_DECIMAL;
    r = cu_roundtrip(NE_V_FLOAT, ts, pres, N, &o);
    T_OK(r.rc);
    T_CHECK(r.info.val_codec != NE_CODEC_F_DECIMAL);
}

/* The decimal scale is the smallest that fits, whatever the first values
 * suggest: whole numbers first and two decimals after, three decimals
 * first and one after (the first ones exceptions), or a leading NaN. */
static void test_float_decimal_scale_search(void)
{
    enum { N = 1000 };
    static double v[N];
    static int64_t ts[N];
    struct ne_codec_opts o;
    ne_codec_opts_default(&o);
    for (size_t i = 0; i < N; i++) {
        ts[i] = (int64_t)i;
        v[i] = i < 8 ? 21.0 + (double)i : (double)(2100 + (int)(cu_rand() % 500)) / 100;
    }
    struct cu_result r = cu_roundtrip(NE_V_FLOAT, ts, v, N, &o);
    T_OK(r.rc);
    T_EQ_INT(r.info.val_codec, NE_CODEC_F_DECIMAL);
    T_EQ_INT(r.info.val_param, 2);
    for (size_t i = 0; i < N; i++)
        v[i] = i < 4 ? 21.125 + (double)i : (double)(200 + (int)(cu_rand() % 50)) / 10;
    r = cu_roundtrip(NE_V_FLOAT, ts, v, N, &o);
    T_OK(r.rc);
    T_EQ_INT(r.info.val_codec, NE_CODEC_F_DECIMAL);
    T_EQ_INT(r.info.val_param, 1);
    v[0] = NAN;
    v[1] = NAN;
    r = cu_roundtrip(NE_V_FLOAT, ts, v, N, &o);
    T_OK(r.rc);
    T_EQ_INT(r.info.val_codec, NE_CODEC_F_DECIMAL);
    T_EQ_INT(r.info.val_param, 1);
    /* ten random decimals: decimal is kept without the full XOR trial,
     * and is indeed smaller than XOR */
    for (size_t i = 0; i < N; i++)
        v[i] = (double)(int64_t)(cu_rand() % 1000000000000ULL) / 1e10;
    r = cu_roundtrip(NE_V_FLOAT, ts, v, N, &o);
    T_OK(r.rc);
    T_EQ_INT(r.info.val_codec, NE_CODEC_F_DECIMAL);
    o.force_val = NE_CODEC_F_XOR;
    struct cu_result x = cu_roundtrip(NE_V_FLOAT, ts, v, N, &o);
    T_OK(x.rc);
    T_EQ_INT(x.info.val_codec, NE_CODEC_F_XOR);
    T_CHECK(r.block_len < x.block_len);
}

/* Integral and decimal values around 2^51..2^53, where rounding changes
 * method, and large negative ones. */
static void test_float_decimal_large(void)
{
    enum { N = 600 };
    static double v[N];
    static int64_t ts[N];
    for (size_t i = 0; i < N; i++) {
        ts[i] = (int64_t)i;
        double base = i % 3 == 0 ? 2251799813685248.0 : i % 3 == 1 ? 4503599627370496.0 : -9e15;
        v[i] = base + (double)(int64_t)(cu_rand() % 2001 - 1000);
    }
    T_OK(rt_all(NE_V_FLOAT, ts, v, N));
    struct cu_result r = cu_roundtrip(NE_V_FLOAT, ts, v, N, NULL);
    T_OK(r.rc);
    T_EQ_INT(r.info.val_codec, NE_CODEC_F_DECIMAL);
    T_EQ_INT(r.info.val_param, 0);
    for (size_t i = 0; i < N; i++)
        v[i] = (double)(int64_t)(cu_rand() % 2000000001 - 1000000000) / 1e6; /* 6 decimals */
    r = cu_roundtrip(NE_V_FLOAT, ts, v, N, NULL);
    T_OK(r.rc);
    T_EQ_INT(r.info.val_codec, NE_CODEC_F_DECIMAL);
    T_EQ_INT(r.info.val_param, 6);
}

static void test_float_random(void)
{
    enum { N = 2000 };
    static double v[N];
    static int64_t ts[N];
    for (size_t i = 0; i < N; i++) {
        v[i] = from_bits(cu_rand());
        ts[i] = (int64_t)cu_rand();
    }
    T_OK(rt_all(NE_V_FLOAT, ts, v, N));
    struct cu_result r = cu_roundtrip(NE_V_FLOAT, ts, v, N, NULL);
    T_OK(r.rc);
    /* random bits cannot shrink: raw, and never much larger than raw */
    T_EQ_INT(r.info.val_codec, NE_CODEC_F_RAW);
    T_CHECK(r.block_len <= 16 * N + 64);
    /* a random walk of many-digit floats: xor or decimal, both exact */
    double x = 52.5;
    for (size_t i = 0; i < N; i++) {
        x += ((double)(cu_rand() % 2001) - 1000.0) * 1e-7;
        v[i] = x;
    }
    T_OK(rt_all(NE_V_FLOAT, ts, v, N));
}

/* The float codec choice sizes XOR without writing it: the size must be
 * exactly what the encoder writes, whatever the bit windows do. */
static void test_xor_size_exact(void)
{
    enum { N = 1000 };
    static double v[N];
    static int64_t ts[N];
    static const size_t lens[] = {1, 2, 3, 10, 64, 65, 129, 700, N};
    for (int pat = 0; pat < 5; pat++) {
        for (size_t i = 0; i < N; i++) {
            ts[i] = (int64_t)i;
            uint64_t r = cu_rand();
            switch (pat) {
            case 0: memcpy(&v[i], &r, sizeof r); if (isnan(v[i])) v[i] = 1.0; break;
            case 1: v[i] = 21.5; break;
            case 2: v[i] = 20.0 + (double)(r % 1000) / 997.0; break;
            case 3: v[i] = i % 2 ? 1e300 : -1e-300; break;
            default: v[i] = i % 7 ? v[i ? i - 1 : 0] : (double)(r % 100000) / 3.0; break;
            }
        }
        for (size_t k = 0; k < sizeof lens / sizeof lens[0]; k++) {
            struct ne_codec_opts o;
            ne_codec_opts_default(&o);
            o.zstd_level = 0;
            o.force_val = NE_CODEC_F_XOR;
            struct cu_result r = cu_roundtrip(NE_V_FLOAT, ts, v, lens[k], &o);
            T_OK(r.rc);
            T_EQ_INT(r.info.val_codec, NE_CODEC_F_XOR);
            T_EQ_U64(r.info.val_len, 1 + codec__xor_size(v, lens[k]));
        }
    }
}

/* Timestamp parts are kept per thread and reused for the same
 * timestamps: a block whose timestamps differ only inside (same count,
 * first and last) or that forces another codec must not get a kept part,
 * and more distinct sets than are kept cycle through. */
static void test_ts_memo(void)
{
    enum { N = 300, SETS = 40 };
    static int64_t ts[SETS][N];
    static double v[N];
    for (size_t k = 0; k < SETS; k++)
        for (size_t i = 0; i < N; i++)
            ts[k][i] = 1767225600000000000LL + (int64_t)i * 10000000000LL +
                       (i == N / 2 ? (int64_t)k : 0); /* sets differ in one value */
    for (size_t i = 0; i < N; i++)
        v[i] = (double)i;
    for (int round = 0; round < 3; round++) {
        for (size_t k = 0; k < SETS; k++) {
            struct cu_result r = cu_roundtrip(NE_V_FLOAT, ts[k], v, N, NULL);
            T_OK(r.rc); /* decodes to ts[k] itself, not a kept neighbour */
            T_CHECK(r.mismatch == SIZE_MAX);
            struct ne_codec_opts o;
            ne_codec_opts_default(&o);
            o.force_ts = NE_CODEC_INT_RAW;
            r = cu_roundtrip(NE_V_FLOAT, ts[k], v, N, &o);
            T_OK(r.rc);
            T_EQ_INT(r.info.ts_codec, NE_CODEC_INT_RAW);
            r = cu_roundtrip(NE_V_FLOAT, ts[k], v, N, NULL);
            T_OK(r.rc);
            T_CHECK(r.info.ts_codec != NE_CODEC_INT_RAW);
        }
    }
}

static void test_int_extremes(void)
{
    int64_t v[] = {INT64_MIN,     INT64_MAX, 0,         -1,        1,
                   INT64_MIN,     INT64_MIN, INT64_MAX, INT64_MAX, INT64_MIN + 1,
                   INT64_MAX - 1, 42,        -42};
    uint64_t u[] = {0, UINT64_MAX, 1, UINT64_MAX - 1, (uint64_t)INT64_MAX, (uint64_t)INT64_MIN, 7};
    int64_t ts[16];
    size_t nv = sizeof v / sizeof v[0], nu = sizeof u / sizeof u[0];
    /* timestamps at the extremes too */
    for (size_t i = 0; i < 16; i++)
        ts[i] = i & 1 ? INT64_MAX - (int64_t)i : INT64_MIN + (int64_t)i;
    T_OK(rt_all(NE_V_INT, ts, v, nv));
    T_OK(rt_all(NE_V_UINT, ts, u, nu));
    for (size_t i = 0; i + 2 <= nv; i++)
        T_OK(rt_all(NE_V_INT, ts + i, v + i, 2));
    for (size_t i = 0; i + 2 <= nu; i++)
        T_OK(rt_all(NE_V_UINT, ts + i, u + i, 2));
}

static void test_int_random_and_patterns(void)
{
    enum { N = 3000 };
    static int64_t v[N], ts[N];
    static uint64_t u[N];
    for (size_t i = 0; i < N; i++) {
        v[i] = (int64_t)cu_rand();
        u[i] = cu_rand() >> (cu_rand() % 64);
        ts[i] = 1767225600000000000LL + (int64_t)i * 10000000000LL + (int64_t)(cu_rand() % 1000);
    }
    T_OK(rt_all(NE_V_INT, ts, v, N));
    T_OK(rt_all(NE_V_UINT, ts, u, N));
    /* a counter: delta wins, a few bits per value */
    for (size_t i = 0; i < N; i++)
        v[i] = 1000000 + (int64_t)i * 3 + (int64_t)(cu_rand() % 4);
    struct cu_result r = cu_roundtrip(NE_V_INT, ts, v, N, NULL);
    T_OK(r.rc);
    T_CHECK(r.info.val_codec == NE_CODEC_INT_DELTA || r.info.val_codec == NE_CODEC_INT_DOD);
    T_CHECK(r.info.val_len < N); /* < 8 bits per value */
    /* battery-like: mostly constant, stepping down */
    for (size_t i = 0; i < N; i++)
        v[i] = 100 - (int64_t)(i / 400);
    r = cu_roundtrip(NE_V_INT, ts, v, N, NULL);
    T_OK(r.rc);
    T_CHECK(r.info.val_len < N / 16);
}

/* The value section's length with the value codec forced to id (0:
 * chosen automatically); *got gets the codec used, -1 when the block did
 * not round-trip. */
static size_t int_section_len(enum ne_vtype t, const int64_t *ts, const void *v, size_t n, int id,
                              int *got)
{
    struct ne_codec_opts o;
    ne_codec_opts_default(&o);
    o.zstd_level = 0;
    o.force_ts = NE_CODEC_INT_RAW;
    o.force_val = (uint8_t)id;
    struct cu_result r = cu_roundtrip(t, ts, v, n, &o);
    *got = r.rc ? -1 : r.info.val_codec;
    return r.info.val_len;
}

/* The automatic integer codec sizes its candidates without building them:
 * it must still pick exactly the smallest of delta, delta of deltas and
 * FOR (the first of them on a tie, raw when none is under 8 bytes per
 * value), for streams that wrap, span 64 bits, start or end mid-miniblock
 * or change width from one miniblock to the next. */
static void test_int_auto_is_smallest(void)
{
    enum { N = 700 };
    static int64_t v[N], ts[N];
    static const size_t lens[] = {1, 2, 3, 5, 127, 128, 129, 130, 256, 257, 258, 385, N};
    static const int order[] = {NE_CODEC_INT_DELTA, NE_CODEC_INT_DOD, NE_CODEC_INT_FOR};
    for (int pat = 0; pat < 7; pat++) {
        for (size_t i = 0; i < N; i++) {
            ts[i] = 1767225600000000000LL + (int64_t)i;
            uint64_t r = cu_rand();
            switch (pat) {
            case 0: v[i] = (int64_t)(r >> (r % 64)) * ((r & 1) ? 1 : -1); break;
            case 1: v[i] = 1000 + 3 * (int64_t)i + (int64_t)(r % 5); break;
            case 2: v[i] = (int64_t)(i * i) * ((i / 128) % 2 ? 1 : 1000); break;
            case 3: v[i] = (int64_t)((uint64_t)INT64_MAX + i * 0x3000000000000000ULL); break;
            case 4: v[i] = i % 129 == 0 ? INT64_MIN : (int64_t)(r % 16); break;
            case 5: v[i] = (int64_t)(r % 100000) - 50000 + (i > 300 ? INT64_MAX / 2 : 0); break;
            default: v[i] = 25000 + (int64_t)(r % 3) - 1; break;
            }
        }
        for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++) {
            for (int ty = 0; ty < 2; ty++) {
                enum ne_vtype t = ty ? NE_V_UINT : NE_V_INT;
                size_t n = lens[li], best = SIZE_MAX;
                int want = NE_CODEC_INT_RAW, got;
                for (size_t k = 0; k < 3; k++) {
                    size_t len = int_section_len(t, ts, v, n, order[k], &got);
                    T_EQ_INT(got, order[k]);
                    if (len < best) best = len, want = order[k];
                }
                if (best >= 1 + 8 * n) want = NE_CODEC_INT_RAW;
                size_t len = int_section_len(t, ts, v, n, 0, &got);
                if (got != want || (want != NE_CODEC_INT_RAW && len != best))
                    fprintf(stderr, "  pattern %d type %d n %zu: auto %d (%zu bytes), want %d (%zu)\n",
                            pat, (int)t, n, got, len, want, best);
                T_EQ_INT(got, want);
                if (want != NE_CODEC_INT_RAW) T_EQ_U64(len, best);
            }
        }
    }
}

static void test_small_n_every_type(void)
{
    int64_t ts[3] = {5, -7, 9};
    double f[3] = {1.5, -0.0, NAN};
    int64_t i[3] = {INT64_MIN, 3, INT64_MAX};
    uint64_t u[3] = {UINT64_MAX, 0, 9};
    bool b[3] = {true, false, true};
    struct ne_sv s[3] = {NE_SV(""), NE_SV("h\xc3\xa9llo"), NE_SV("a\0b")};
    for (size_t n = 0; n <= 3; n++) {
        T_OK(rt_all(NE_V_FLOAT, ts, f, n));
        T_OK(rt_all(NE_V_INT, ts, i, n));
        T_OK(rt_all(NE_V_UINT, ts, u, n));
        T_OK(rt_all(NE_V_BOOL, ts, b, n));
        T_OK(rt_all(NE_V_STRING, ts, s, n));
    }
    /* NULL arrays are fine only for n == 0 */
    struct ne_buf out = NE_BUF_INIT;
    T_OK(ne_codec_encode_block(NE_V_INT, NULL, NULL, 0, NULL, &out, NULL));
    T_EQ_INT(ne_codec_encode_block(NE_V_INT, NULL, NULL, 1, NULL, &out, NULL), NE_EINVAL);
    T_EQ_INT(ne_codec_encode_block((enum ne_vtype)9, ts, i, 1, NULL, &out, NULL), NE_EINVAL);
    T_EQ_INT(ne_codec_encode_block(NE_V_INT, ts, i, NE_CODEC_MAX_VALUES + 1, NULL, &out, NULL),
             NE_EINVAL);
    ne_buf_free(&out);
}

/* The delta decoders sum each miniblock as it is unpacked, with shortcuts
 * for miniblocks of width 0 (one repeated delta, or delta of deltas):
 * regular, quadratic and wrapping stretches mixed with irregular ones,
 * across miniblock boundaries, through both forced codecs. */
static void test_delta_runs(void)
{
    enum { N = 1000 };
    static int64_t ts[N], v[N];
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < N; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        ts[i] = 1767225600000000000LL + (int64_t)i * 1000000000LL;
        if (i < 300)
            v[i] = (int64_t)(i * i) - 5000;                  /* constant dod, not 0 */
        else if (i < 600)
            v[i] = 42 - 7 * (int64_t)i;                       /* constant delta */
        else if (i < 700)
            v[i] = (int64_t)(x % 1000);                       /* irregular */
        else if (i < 900)
            v[i] = (int64_t)((uint64_t)INT64_MAX + (uint64_t)i * 0x4000000000000000ULL); /* wraps */
        else
            v[i] = (int64_t)x;                                /* 64-bit noise */
    }
    static const int forced[] = {NE_CODEC_INT_DELTA, NE_CODEC_INT_DOD, NE_CODEC_INT_DELTA_GCD};
    for (size_t f = 0; f < 3; f++) {
        for (size_t n = 0; n <= N; n += n < 10 ? 1 : 127) {
            struct ne_codec_opts o;
            ne_codec_opts_default(&o);
            o.zstd_level = 0;
            o.force_val = (uint8_t)forced[f];
            o.force_ts = (uint8_t)forced[(f + 1) % 3];
            struct cu_result r = cu_roundtrip(NE_V_INT, ts + (N - n), v + (N - n), n, &o);
            T_OK(r.rc);
            r = cu_roundtrip(NE_V_INT, ts, v, n, &o);
            T_OK(r.rc);
            if (n) T_EQ_INT(r.info.val_codec, forced[f]);
        }
    }
}

/* Timestamps of a period with missing points: int-delta-gcd is chosen,
 * far below what the delta of deltas costs once a gap widens its
 * miniblock; it round-trips at the extremes (deltas of 2^63, negative
 * and wrapping steps, a divisor above INT64_MAX falls back) and the
 * decoder rejects a zero divisor. */
static void test_delta_gcd(void)
{
    enum { N = 360 };
    static int64_t ts[N];
    static double v[N];
    int64_t t = 1767225600000000000LL;
    for (size_t i = 0; i < N; i++) {
        t += 10000000000LL * (cu_rand() % 20 == 0 ? 1 + (int64_t)(cu_rand() % 4) : 1);
        ts[i] = t;
        v[i] = (double)(i % 7);
    }
    struct ne_codec_opts o;
    ne_codec_opts_default(&o);
    o.zstd_level = 0;
    struct cu_result r = cu_roundtrip(NE_V_FLOAT, ts, v, N, &o);
    T_OK(r.rc);
    T_EQ_INT(r.info.ts_codec, NE_CODEC_INT_DELTA_GCD);
    T_CHECK(r.info.ts_len < N / 2); /* under 4 bits per timestamp */
    o.force_ts = NE_CODEC_INT_DOD;
    struct cu_result d = cu_roundtrip(NE_V_FLOAT, ts, v, N, &o);
    T_OK(d.rc);
    T_CHECK(r.info.ts_len * 4 < d.info.ts_len);

    /* integer values: steps of 2^62 wrap; INT64_MIN deltas; a divisor of
     * 2^63 (above INT64_MAX) is not used */
    static const int64_t steps[] = {INT64_MIN, INT64_C(1) << 62, -6, 3000};
    static int64_t iv[N];
    for (size_t k = 0; k < sizeof steps / sizeof steps[0]; k++) {
        for (size_t i = 0; i < N; i++)
            iv[i] = (int64_t)((uint64_t)INT64_MAX + (uint64_t)steps[k] * (i + (i % 3 == 0)));
        T_OK(rt_all(NE_V_INT, ts, iv, N));
        T_OK(rt_all(NE_V_UINT, ts, iv, N));
    }

    /* g = 0 in a hand-made section: corrupt, never a division */
    o.force_ts = NE_CODEC_INT_DELTA_GCD;
    struct ne_buf out = NE_BUF_INIT;
    T_OK(ne_codec_encode_block(NE_V_FLOAT, ts, v, 3, &o, &out, NULL));
    struct ne_block_info info;
    T_OK(ne_codec_block_info(out.p, out.len, &info));
    T_EQ_INT(info.ts_codec, NE_CODEC_INT_DELTA_GCD);
    /* header 4 + count 1 + ts_len 1 + codec id 1 + svarint v0 (9) = g */
    size_t g_at = 4 + 1 + 1 + 1 + 9;
    struct ne_rd rd;
    uint64_t g;
    ne_rd_init(&rd, out.p + g_at, 5);
    T_OK(ne_rd_uvarint(&rd, &g));
    T_EQ_U64(g, 10000000000ULL); /* steps of 10 s: a 5-byte varint */
    T_EQ_INT(ne_rd_left(&rd), 0);
    int64_t back_ts[3];
    double back_v[3];
    size_t got;
    static const uint8_t zero5[5] = {0x80, 0x80, 0x80, 0x80, 0x00}; /* 0, same length */
    memcpy(out.p + g_at, zero5, sizeof zero5);
    ne_store_u32le(out.p + out.len - 4, ne_crc32c(0, out.p, out.len - 4));
    T_EQ_INT(ne_codec_decode_block(out.p, out.len, NE_V_FLOAT, back_ts, back_v, 3, NULL, &got),
             NE_ECORRUPT);
    ne_buf_free(&out);
}

static void test_constant_series(void)
{
    enum { N = 4096 };
    static int64_t ts[N], iv[N];
    static double fv[N];
    static bool bv[N];
    static struct ne_sv sv[N];
    fill_ts_regular(ts, N, 1767225600000000000LL, 1000000000LL);
    for (size_t i = 0; i < N; i++) {
        iv[i] = -123456789;
        fv[i] = 3.25;
        bv[i] = true;
        sv[i] = NE_SV("ok");
    }
    struct ne_codec_opts o;
    ne_codec_opts_default(&o);
    o.zstd_level = 0; /* measure the codecs themselves */
    struct cu_result r;
    r = cu_roundtrip(NE_V_INT, ts, iv, N, &o);
    T_OK(r.rc);
    T_CHECK(r.block_len < 100);
    r = cu_roundtrip(NE_V_FLOAT, ts, fv, N, &o);
    T_OK(r.rc);
    T_CHECK(r.block_len < 100);
    r = cu_roundtrip(NE_V_BOOL, ts, bv, N, &o);
    T_OK(r.rc);
    T_EQ_INT(r.info.val_codec, NE_CODEC_B_RLE);
    T_CHECK(r.block_len < 100);
    r = cu_roundtrip(NE_V_STRING, ts, sv, N, &o);
    T_OK(r.rc);
    T_EQ_INT(r.info.val_codec, NE_CODEC_S_DICT);
    T_CHECK(r.block_len < 100);
    T_OK(rt_all(NE_V_STRING, ts, sv, 300));
}

static void test_strings(void)
{
    enum { N = 1500 };
    static int64_t ts[N];
    static struct ne_sv sv[N];
    static char pool[N][24];
    static char big[70000];
    memset(big, 'x', sizeof big);
    big[5] = '\0';
    fill_ts_regular(ts, N, 0, 1);
    static const char *words[] = {"ok", "warn", "", "\xe6\xb8\xa9\xe5\xba\xa6", "\xff\xfe\x00z"};
    for (size_t i = 0; i < N; i++) {
        size_t k = cu_rand() % 5;
        sv[i].p = words[k];
        sv[i].n = (uint32_t)(k == 4 ? 4 : strlen(words[k]));
    }
    T_OK(rt_all(NE_V_STRING, ts, sv, N));
    /* all distinct: plain wins */
    for (size_t i = 0; i < N; i++) {
        int len = snprintf(pool[i], sizeof pool[i], "dev-%zu-%llu", i,
                           (unsigned long long)(cu_rand() % 100000));
        sv[i].p = pool[i];
        sv[i].n = (uint32_t)len;
    }
    struct ne_codec_opts o;
    ne_codec_opts_default(&o);
    o.zstd_level = 0;
    struct cu_result r = cu_roundtrip(NE_V_STRING, ts, sv, N, &o);
    T_OK(r.rc);
    T_EQ_INT(r.info.val_codec, NE_CODEC_S_PLAIN);
    T_OK(rt_all(NE_V_STRING, ts, sv, N));
    /* long strings with NULs */
    sv[0] = (struct ne_sv){big, sizeof big};
    sv[1] = (struct ne_sv){big, 1};
    sv[2] = (struct ne_sv){big + 3, sizeof big - 3};
    T_OK(rt_all(NE_V_STRING, ts, sv, 3));
    r = cu_roundtrip(NE_V_STRING, ts, sv, 3, NULL);
    T_OK(r.rc);
    T_CHECK(r.info.zstd); /* 140 kB of 'x' compresses */
    T_CHECK(r.block_len < 2000);
}

static void test_bools(void)
{
    enum { N = 1000 };
    static int64_t ts[N];
    static bool b[N];
    fill_ts_regular(ts, N, 100, 10);
    for (size_t i = 0; i < N; i++)
        b[i] = cu_rand() & 1;
    T_OK(rt_all(NE_V_BOOL, ts, b, N));
    struct cu_result r = cu_roundtrip(NE_V_BOOL, ts, b, N, NULL);
    T_OK(r.rc);
    T_EQ_INT(r.info.val_codec, NE_CODEC_B_BITMAP);
    for (size_t i = 0; i < N; i++)
        b[i] = (i / 100) & 1;
    T_OK(rt_all(NE_V_BOOL, ts, b, N));
    for (size_t n = 1; n <= 17; n++)
        T_OK(rt_all(NE_V_BOOL, ts, b + 95, n));
}

/* A body of random bytes (ten random decimals per value) skips zstd
 * unless the encoding is exhaustive, and loses nothing by it. */
static void test_zstd_skips_random(void)
{
    enum { N = 1000 };
    static double v[N];
    static int64_t ts[N];
    for (size_t i = 0; i < N; i++) {
        ts[i] = (int64_t)i * 1000000000;
        v[i] = (double)(int64_t)(cu_rand() % 1000000000000ULL) / 1e10;
    }
    struct ne_codec_opts o;
    ne_codec_opts_default(&o);
    struct cu_result fast = cu_roundtrip(NE_V_FLOAT, ts, v, N, &o);
    T_OK(fast.rc);
    T_CHECK(!fast.info.zstd);
    T_CHECK(fast.info.body_len >= 512);
    o.exhaustive = true;
    struct cu_result all = cu_roundtrip(NE_V_FLOAT, ts, v, N, &o);
    T_OK(all.rc);
    T_CHECK(!all.info.zstd); /* tried, and not smaller */
}

/* Regular timestamps (one constant step) take a shortcut in the choice
 * of the timestamp codec: the block must be byte for byte the one the
 * chosen codec writes when forced, and no other codec may be smaller. */
static void test_regular_timestamps(void)
{
    enum { N = 1000 };
    static int64_t ts[N];
    static double v[N];
    static const size_t sizes[] = {16, 17, 127, 128, 129, 130, 131, 257, 1000};
    static const int64_t steps[] = {1, 1000000000, 60000000000LL, 3};
    static const int64_t starts[] = {1767225600000000000LL, -5000, 0, INT64_MIN / 2};
    static const uint8_t forced[] = {NE_CODEC_INT_DELTA, NE_CODEC_INT_DOD, NE_CODEC_INT_FOR,
                                     NE_CODEC_INT_RAW};
    for (size_t i = 0; i < N; i++)
        v[i] = (double)(i % 10);
    for (size_t a = 0; a < sizeof starts / sizeof starts[0]; a++)
        for (size_t b = 0; b < sizeof steps / sizeof steps[0]; b++)
            for (size_t c = 0; c < sizeof sizes / sizeof sizes[0]; c++) {
                size_t n = sizes[c];
                for (size_t i = 0; i < n; i++)
                    ts[i] = starts[a] + (int64_t)i * steps[b];
                struct ne_codec_opts o;
                ne_codec_opts_default(&o);
                o.zstd_level = 0;
                struct ne_buf auto_b = NE_BUF_INIT, forced_b = NE_BUF_INIT;
                T_OK(ne_codec_encode_block(NE_V_FLOAT, ts, v, n, &o, &auto_b, NULL));
                struct cu_result r = cu_roundtrip(NE_V_FLOAT, ts, v, n, &o);
                T_OK(r.rc);
                o.force_ts = r.info.ts_codec;
                T_OK(ne_codec_encode_block(NE_V_FLOAT, ts, v, n, &o, &forced_b, NULL));
                T_EQ_U64(auto_b.len, forced_b.len);
                T_CHECK(auto_b.len == forced_b.len &&
                        memcmp(auto_b.p, forced_b.p, auto_b.len) == 0);
                for (size_t f = 0; f < sizeof forced / sizeof forced[0]; f++) {
                    o.force_ts = forced[f];
                    struct cu_result x = cu_roundtrip(NE_V_FLOAT, ts, v, n, &o);
                    T_OK(x.rc);
                    T_CHECK(r.block_len <= x.block_len);
                }
                ne_buf_free(&auto_b);
                ne_buf_free(&forced_b);
            }
}

static void test_zstd_flag(void)
{
    enum { N = 2000 };
    static int64_t ts[N];
    static struct ne_sv sv[N];
    static char text[N][16];
    for (size_t i = 0; i < N; i++) {
        ts[i] = (int64_t)(cu_rand() % 1000);
        snprintf(text[i], sizeof text[i], "msg-%03zu-abc", i % 700);
        sv[i] = ne_sv_c(text[i]);
    }
    struct ne_codec_opts o;
    ne_codec_opts_default(&o);
    struct cu_result with = cu_roundtrip(NE_V_STRING, ts, sv, N, &o);
    T_OK(with.rc);
    T_CHECK(with.info.zstd);
    T_CHECK(with.block_len < with.info.body_len);
    o.zstd_level = 0;
    struct cu_result without = cu_roundtrip(NE_V_STRING, ts, sv, N, &o);
    T_OK(without.rc);
    T_CHECK(!without.info.zstd);
    T_CHECK(with.block_len < without.block_len);
    /* decoding a zstd block needs scratch */
    struct ne_buf out = NE_BUF_INIT;
    o.zstd_level = 3;
    T_OK(ne_codec_encode_block(NE_V_STRING, ts, sv, N, &o, &out, NULL));
    static struct ne_sv back[N];
    size_t got = 0;
    T_EQ_INT(ne_codec_decode_block(out.p, out.len, NE_V_STRING, NULL, back, N, NULL, &got),
             NE_EINVAL);
    ne_buf_free(&out);
}

static void test_names_and_peek(void)
{
    T_EQ_STR(ne_codec_name(NE_CODEC_F_DECIMAL), "f-decimal");
    T_EQ_STR(ne_codec_name(NE_CODEC_INT_DOD), "int-dod");
    T_EQ_STR(ne_codec_name(NE_CODEC_INT_DELTA_GCD), "int-delta-gcd");
    T_EQ_STR(ne_codec_name(200), "unknown");
    int64_t ts[2] = {1, 2};
    bool b[2] = {true, false};
    struct ne_buf out = NE_BUF_INIT;
    T_OK(ne_buf_put_u8(&out, 0xAA)); /* blocks append after existing bytes */
    T_OK(ne_codec_encode_block(NE_V_BOOL, ts, b, 2, NULL, &out, NULL));
    enum ne_vtype t;
    uint32_t n;
    T_OK(ne_codec_block_peek(out.p + 1, out.len - 1, &t, &n));
    struct ne_block_info info;
    T_OK(ne_codec_block_info(out.p + 1, out.len - 1, &info));
    T_EQ_INT(info.count, 2);
    T_EQ_INT(info.block_len, out.len - 1);
    T_CHECK(info.ts_len >= 1 && info.val_len >= 1);
    T_EQ_INT(info.ts_len + info.val_len + 1, info.body_len); /* + the ts_len varint */
    T_CHECK(!info.zstd);
    T_EQ_INT(t, NE_V_BOOL);
    T_EQ_INT(n, 2);
    T_EQ_INT(out.p[0], 0xAA);
    ne_buf_free(&out);
}

static void test_alloc_failures(void)
{
    enum { N = 600 };
    static int64_t ts[N];
    static double v[N];
    static struct ne_sv sv[N];
    for (size_t i = 0; i < N; i++) {
        ts[i] = (int64_t)i * 7;
        v[i] = (double)(cu_rand() % 1000) / 10;
        sv[i] = i % 3 ? NE_SV("alpha") : NE_SV("beta");
    }
    int failures = 0;
    for (uint64_t nth = 1; nth < 40; nth++) {
        struct ne_buf out = NE_BUF_INIT;
        ne_fault_arm(NE_FAULT_ALLOC, nth, NE_FAULT_NULL, false);
        int rc1 = ne_codec_encode_block(NE_V_FLOAT, ts, v, N, NULL, &out, NULL);
        int rc2 = ne_codec_encode_block(NE_V_STRING, ts, sv, N, NULL, &out, NULL);
        ne_fault_reset();
        T_CHECK(rc1 == 0 || rc1 == NE_ENOMEM);
        T_CHECK(rc2 == 0 || rc2 == NE_ENOMEM);
        failures += rc1 != 0 || rc2 != 0;
        /* whatever succeeded still decodes */
        if (rc1 == 0 && rc2 == 0) {
            struct cu_result r = cu_roundtrip(NE_V_FLOAT, ts, v, N, NULL);
            T_OK(r.rc);
        }
        ne_buf_free(&out);
    }
    T_CHECK(failures > 0);
    /* decoding: the zstd scratch and the dictionary table may fail too */
    struct ne_buf blk = NE_BUF_INIT;
    struct ne_codec_opts o;
    ne_codec_opts_default(&o);
    o.zstd_min = 1;
    T_OK(ne_codec_encode_block(NE_V_STRING, ts, sv, N, &o, &blk, NULL));
    static struct ne_sv back[N];
    int dec_failures = 0;
    for (uint64_t nth = 1; nth < 6; nth++) {
        struct ne_buf scratch = NE_BUF_INIT;
        size_t got = 0;
        ne_fault_arm(NE_FAULT_ALLOC, nth, NE_FAULT_NULL, false);
        int rc = ne_codec_decode_block(blk.p, blk.len, NE_V_STRING, NULL, back, N, &scratch, &got);
        ne_fault_reset();
        T_CHECK(rc == 0 || rc == NE_ENOMEM);
        dec_failures += rc != 0;
        if (rc == 0) {
            T_EQ_INT(got, N);
            T_CHECK(ne_sv_eq(back[N - 1], sv[N - 1]));
        }
        ne_buf_free(&scratch);
    }
    T_CHECK(dec_failures > 0);
    ne_buf_free(&blk);
}

static void test_max_block(void)
{
    size_t n = NE_CODEC_MAX_VALUES;
    int64_t *ts = ne_malloc(n * sizeof *ts);
    double *v = ne_malloc(n * sizeof *v);
    T_CHECK(ts && v);
    int64_t m = 2000;
    for (size_t i = 0; i < n; i++) {
        ts[i] = 1767225600000000000LL + (int64_t)i * 100000000LL;
        m += (int64_t)(cu_rand() % 5) - 2;
        v[i] = (double)m / 100;
    }
    struct cu_result r = cu_roundtrip(NE_V_FLOAT, ts, v, n, NULL);
    ne_free(ts);
    ne_free(v);
    T_OK(r.rc);
    T_EQ_INT(r.info.count, n);
    T_EQ_INT(r.info.val_codec, NE_CODEC_F_DECIMAL);
    T_CHECK(r.block_len < n / 2);
}

/* Each thread has its own zstd contexts: concurrent encoders and decoders
 * must not interfere, and the contexts are released at thread exit (the
 * leak checker would report them otherwise). */
static void *thread_body(void *arg)
{
    enum { N = 1000 };
    int64_t ts[N];
    struct ne_sv sv[N];
    char text[N][12];
    size_t seed = (size_t)(uintptr_t)arg;
    for (size_t i = 0; i < N; i++) {
        ts[i] = (int64_t)(i * 1000 + seed);
        snprintf(text[i], sizeof text[i], "t%zu-%zu", seed, i % 50);
        sv[i] = ne_sv_c(text[i]);
    }
    struct ne_codec_opts o;
    ne_codec_opts_default(&o);
    o.zstd_min = 1;
    for (int k = 0; k < 20; k++) {
        struct cu_result r = cu_roundtrip(NE_V_STRING, ts, sv, N, &o);
        if (r.rc || !r.info.zstd)
            return (void *)1;
    }
    return NULL;
}

static void test_threads(void)
{
    pthread_t th[4];
    for (size_t i = 0; i < 4; i++)
        T_EQ_INT(pthread_create(&th[i], NULL, thread_body, (void *)(uintptr_t)i), 0);
    int bad = 0;
    for (size_t i = 0; i < 4; i++) {
        void *ret;
        pthread_join(th[i], &ret);
        bad += ret != NULL;
    }
    T_EQ_INT(bad, 0);
}

int main(void)
{
    T_RUN(test_buf_varints);
    T_RUN(test_zigzag);
    T_RUN(test_pack_every_width);
    T_RUN(test_float_specials);
    T_RUN(test_float_decimal_chosen);
    T_RUN(test_float_decimal_large);
    T_RUN(test_float_decimal_scale_search);
    T_RUN(test_float_random);
    T_RUN(test_xor_size_exact);
    T_RUN(test_ts_memo);
    T_RUN(test_int_extremes);
    T_RUN(test_int_random_and_patterns);
    T_RUN(test_int_auto_is_smallest);
    T_RUN(test_small_n_every_type);
    T_RUN(test_delta_runs);
    T_RUN(test_delta_gcd);
    T_RUN(test_constant_series);
    T_RUN(test_strings);
    T_RUN(test_bools);
    T_RUN(test_regular_timestamps);
    T_RUN(test_zstd_flag);
    T_RUN(test_zstd_skips_random);
    T_RUN(test_names_and_peek);
    T_RUN(test_alloc_failures);
    T_RUN(test_threads);
    T_RUN(test_max_block);
    return t_done();
}
