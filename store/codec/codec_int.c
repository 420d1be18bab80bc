/*
 * codec_int.c - integer stream codecs: timestamps, int64, uint64, and the
 * scaled integers of the decimal float codec.
 *
 * All arithmetic is done on uint64 bit patterns (wrapping), so every int64
 * and uint64 value, extremes included, round-trips; zigzag maps the
 * wrapped differences to small unsigned numbers. Packed streams are
 * described in bitpack.c. Section layouts (n known to the reader):
 *
 *   int-raw:   n x u64le
 *   int-for:   u8 signed (1: values are int64, packed as v ^ 2^63 so that
 *              the order is preserved; 0: uint64) | packed stream of n
 *   int-delta: [svarint v0 if n >= 1] | packed stream of n-1 zigzag(v[i]-v[i-1])
 *   int-dod:   [svarint v0 if n >= 1] [svarint d1 = v1-v0 if n >= 2] |
 *              packed stream of n-2 zigzag(d[i] - d[i-1]), d[i] = v[i]-v[i-1]
 *   int-delta-gcd: [svarint v0 if n >= 1] | uvarint g (>= 1) |
 *              packed stream of n-1 zigzag(d[i] / g), d[i] = v[i]-v[i-1]
 *              taken as int64, every d[i] a multiple of g (the decoder
 *              multiplies back modulo 2^64). Timestamps of a periodic
 *              source with missing points step by multiples of the
 *              period: their deltas divided by it are small, where the
 *              delta of deltas of the raw values takes ~35 bits at the
 *              first gap (10 s periods in nanoseconds). Chosen by size
 *              for timestamps only (codec__ts_encode_best).
 *
 * (the packed stream is always present, possibly with 0 values.) A section
 * must be consumed exactly; leftovers are NE_ECORRUPT.
 */
#include "store/codec/codec_internal.h"

#include "ports/platform.h"

#define SIGN_BIAS (UINT64_C(1) << 63)

static bool is_signed(uint8_t vtype)
{
    return vtype != NE_V_UINT;
}

/* ---- raw ----------------------------------------------------------------- */

static int raw_encode(const void *vals, size_t n, uint8_t vtype, struct ne_buf *out, uint8_t *param)
{
    const uint64_t *v = vals;
    uint8_t *q = ne_buf_grow(out, n * 8);
    if (!q) return NE_ENOMEM;
    for (size_t i = 0; i < n; i++)
        ne_store_u64le(q + 8 * i, v[i]);
    *param = 64;
    return 0;
}

static int raw_decode(const uint8_t *p, size_t len, size_t n, void *outv)
{
    uint64_t *out = outv;
    if (len != n * 8) return NE_ECORRUPT;
    for (size_t i = 0; i < n; i++)
        out[i] = ne_load_u64le(p + 8 * i);
    return 0;
}

/* ---- the three transforms -------------------------------------------------- */

enum xform { X_FOR, X_DELTA, X_DOD };

/* Fills s with the stream to pack for transform x; returns its length. */
CODEC__WIDE static size_t make_stream(enum xform x, const uint64_t *v, size_t n, bool sgn,
                                      uint64_t *s)
{
    switch (x) {
    case X_FOR: {
        uint64_t bias = sgn ? SIGN_BIAS : 0;
        for (size_t i = 0; i < n; i++)
            s[i] = v[i] ^ bias;
        return n;
    }
    case X_DELTA:
        for (size_t i = 1; i < n; i++)
            s[i - 1] = ne_zigzag((int64_t)(v[i] - v[i - 1]));
        return n > 1 ? n - 1 : 0;
    case X_DOD:
        for (size_t i = 2; i < n; i++)
            s[i - 2] = ne_zigzag((int64_t)((v[i] - v[i - 1]) - (v[i - 1] - v[i - 2])));
        return n > 2 ? n - 2 : 0;
    }
    return 0;
}

static size_t head_cost(enum xform x, const uint64_t *v, size_t n)
{
    size_t c = 0;
    if (x == X_FOR) return 1;
    if (n >= 1) c += ne_uvarint_len(ne_zigzag((int64_t)v[0]));
    if (x == X_DOD && n >= 2) c += ne_uvarint_len(ne_zigzag((int64_t)(v[1] - v[0])));
    return c;
}

static int put_head(enum xform x, const uint64_t *v, size_t n, bool sgn, struct ne_buf *out)
{
    if (x == X_FOR) return ne_buf_put_u8(out, sgn ? 1 : 0);
    int rc = 0;
    if (n >= 1) rc = ne_buf_put_svarint(out, (int64_t)v[0]);
    if (rc == 0 && x == X_DOD && n >= 2) rc = ne_buf_put_svarint(out, (int64_t)(v[1] - v[0]));
    return rc;
}

static int xform_encode(enum xform x, const uint64_t *v, size_t n, uint8_t vtype,
                        struct ne_buf *out)
{
    size_t start = out->len;
    uint64_t *s = ne_malloc(n ? n * sizeof *s : 1);
    if (!s) return NE_ENOMEM;
    bool sgn = is_signed(vtype);
    size_t m = make_stream(x, v, n, sgn, s);
    int rc = put_head(x, v, n, sgn, out);
    if (rc == 0) rc = codec__pack(s, m, out);
    ne_free(s);
    if (rc) out->len = start;
    return rc;
}

/* Turns k unpacked zigzag deltas in o (or, for width w == 0, k times ref,
 * not stored) into values following prev; returns the last value. */
static inline uint64_t delta_run(uint64_t *o, size_t k, unsigned w, uint64_t ref, uint64_t prev)
{
    if (w == 0) { /* a regular stretch: no dependency chain, vectorisable */
        uint64_t d = (uint64_t)ne_unzigzag(ref);
        for (size_t j = 0; j < k; j++)
            o[j] = prev + (uint64_t)(j + 1) * d;
        return prev + (uint64_t)k * d;
    }
    for (size_t j = 0; j < k; j++) {
        prev += (uint64_t)ne_unzigzag(o[j]);
        o[j] = prev;
    }
    return prev;
}

/* The same for zigzag deltas of deltas; *d is the running delta. */
static inline uint64_t dod_run(uint64_t *o, size_t k, unsigned w, uint64_t ref, uint64_t prev,
                               uint64_t *d)
{
    uint64_t dd = (uint64_t)ne_unzigzag(ref), cur = *d;
    if (w == 0 && dd == 0) {
        for (size_t j = 0; j < k; j++)
            o[j] = prev + (uint64_t)(j + 1) * cur;
        return prev + (uint64_t)k * cur;
    }
    for (size_t j = 0; j < k; j++) {
        cur += w ? (uint64_t)ne_unzigzag(o[j]) : dd;
        prev += cur;
        o[j] = prev;
    }
    *d = cur;
    return prev;
}

CODEC__WIDE static int xform_decode(enum xform x, const uint8_t *p, size_t len, size_t n, uint64_t *out)
{
    struct ne_rd r;
    int rc;
    int64_t v0 = 0, d1 = 0;
    ne_rd_init(&r, p, len);
    if (x == X_FOR) {
        uint8_t sgn;
        if ((rc = ne_rd_u8(&r, &sgn)) != 0 || (rc = codec__unpack(&r, n, out)) != 0) return rc;
        if (sgn > 1) return NE_ECORRUPT;
        if (sgn)
            for (size_t i = 0; i < n; i++)
                out[i] ^= SIGN_BIAS;
        return ne_rd_left(&r) ? NE_ECORRUPT : 0;
    }
    if (n >= 1 && (rc = ne_rd_svarint(&r, &v0)) != 0) return rc;
    if (x == X_DOD && n >= 2 && (rc = ne_rd_svarint(&r, &d1)) != 0) return rc;
    size_t skip = x == X_DELTA ? 1 : 2;
    size_t m = n > skip ? n - skip : 0;
    uint64_t ref, prev = (uint64_t)v0, d = (uint64_t)d1;
    if ((rc = ne_rd_uvarint(&r, &ref)) != 0) return rc;
    if (n >= 1) out[0] = prev;
    if (x == X_DOD && n >= 2) out[1] = prev = prev + d;
    /* unpack and sum up one miniblock at a time, while it is in cache */
    uint64_t *dst = out + (n - m);
    for (size_t i = 0; i < m; i += CODEC__MINI) {
        size_t k = m - i < CODEC__MINI ? m - i : CODEC__MINI;
        unsigned w;
        if ((rc = codec__unpack_next(&r, k, ref, dst + i, &w)) != 0) return rc;
        if (x == X_DELTA)
            prev = delta_run(dst + i, k, w, ref, prev);
        else
            prev = dod_run(dst + i, k, w, ref, prev, &d);
    }
    if (ne_rd_left(&r)) return NE_ECORRUPT;
    return 0;
}

/* ---- deltas with a common divisor ---------------------------------------- */

static uint64_t gcd64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

/* |d| of a wrapped difference read as int64 (2^63 for INT64_MIN). */
static uint64_t abs_delta(uint64_t d)
{
    return (int64_t)d < 0 ? 0 - d : d;
}

/* The greatest common divisor of v's deltas (as int64), at most
 * INT64_MAX; 0 when every delta is 0. Stops at 1, which a noisy stream
 * reaches within a few values. */
static uint64_t delta_gcd(const uint64_t *v, size_t n)
{
    uint64_t g = 0;
    for (size_t i = 1; i < n; i++) {
        uint64_t a = abs_delta(v[i] - v[i - 1]);
        if (g == 0 ? a == 0 : a % g == 0) continue;
        g = gcd64(g, a);
        if (g == 1) return 1;
    }
    return g > (uint64_t)INT64_MAX ? 1 : g;
}

/* Fills s with zigzag(d[i] / g) for the n-1 deltas of v; returns n-1. */
static size_t gcd_stream(const uint64_t *v, size_t n, uint64_t g, uint64_t *s)
{
    for (size_t i = 1; i < n; i++)
        s[i - 1] = ne_zigzag((int64_t)(v[i] - v[i - 1]) / (int64_t)g);
    return n > 1 ? n - 1 : 0;
}

static size_t gcd_head_cost(const uint64_t *v, size_t n, uint64_t g)
{
    return head_cost(X_DELTA, v, n) + ne_uvarint_len(g);
}

static int gcd_put_head(const uint64_t *v, size_t n, uint64_t g, struct ne_buf *out)
{
    int rc = n >= 1 ? ne_buf_put_svarint(out, (int64_t)v[0]) : 0;
    return rc ? rc : ne_buf_put_uvarint(out, g);
}

/* Encodes any values: without a divisor above 1, g is 1 (plain deltas). */
static int delta_gcd_encode(const void *vals, size_t n, uint8_t vtype, struct ne_buf *out,
                            uint8_t *param)
{
    const uint64_t *v = vals;
    (void)vtype;
    uint64_t g = delta_gcd(v, n);
    if (g == 0) g = 1;
    size_t start = out->len;
    uint64_t *s = ne_malloc(n ? n * sizeof *s : 1);
    if (!s) return NE_ENOMEM;
    size_t m = gcd_stream(v, n, g, s);
    int rc = gcd_put_head(v, n, g, out);
    if (rc == 0) rc = codec__pack(s, m, out);
    ne_free(s);
    if (rc) out->len = start;
    *param = 0;
    return rc;
}

CODEC__WIDE static int delta_gcd_decode(const uint8_t *p, size_t len, size_t n, void *outv)
{
    uint64_t *out = outv;
    struct ne_rd r;
    int64_t v0 = 0;
    uint64_t g, ref;
    int rc;
    ne_rd_init(&r, p, len);
    if (n >= 1 && (rc = ne_rd_svarint(&r, &v0)) != 0) return rc;
    if ((rc = ne_rd_uvarint(&r, &g)) != 0) return rc;
    if (g == 0) return NE_ECORRUPT;
    if ((rc = ne_rd_uvarint(&r, &ref)) != 0) return rc;
    uint64_t prev = (uint64_t)v0;
    if (n >= 1) out[0] = prev;
    size_t m = n > 1 ? n - 1 : 0;
    uint64_t *dst = out + 1;
    for (size_t i = 0; i < m; i += CODEC__MINI) {
        size_t k = m - i < CODEC__MINI ? m - i : CODEC__MINI;
        unsigned w;
        if ((rc = codec__unpack_next(&r, k, ref, dst + i, &w)) != 0) return rc;
        if (w == 0) {
            uint64_t d = (uint64_t)ne_unzigzag(ref) * g;
            for (size_t j = 0; j < k; j++)
                dst[i + j] = prev + (uint64_t)(j + 1) * d;
            prev += (uint64_t)k * d;
            continue;
        }
        for (size_t j = 0; j < k; j++) {
            prev += (uint64_t)ne_unzigzag(dst[i + j]) * g;
            dst[i + j] = prev;
        }
    }
    return ne_rd_left(&r) ? NE_ECORRUPT : 0;
}

#define XFORM_CODEC(NAME, X)                                                                       \
    static int NAME##_encode(const void *vals, size_t n, uint8_t vtype, struct ne_buf *out,        \
                             uint8_t *param)                                                       \
    {                                                                                              \
        *param = 0;                                                                                \
        return xform_encode(X, vals, n, vtype, out);                                               \
    }                                                                                              \
    static int NAME##_decode(const uint8_t *p, size_t len, size_t n, void *out)                    \
    {                                                                                              \
        return xform_decode(X, p, len, n, out);                                                    \
    }

XFORM_CODEC(for, X_FOR)
XFORM_CODEC(delta, X_DELTA)
XFORM_CODEC(dod, X_DOD)

const struct codec__ops codec__int_raw = {.id = NE_CODEC_INT_RAW,
                                          .name = "int-raw",
                                          .vtype = NE_V_INT,
                                          .encode = raw_encode,
                                          .decode = raw_decode};
const struct codec__ops codec__int_for = {.id = NE_CODEC_INT_FOR,
                                          .name = "int-for",
                                          .vtype = NE_V_INT,
                                          .encode = for_encode,
                                          .decode = for_decode};
const struct codec__ops codec__int_delta = {.id = NE_CODEC_INT_DELTA,
                                            .name = "int-delta",
                                            .vtype = NE_V_INT,
                                            .encode = delta_encode,
                                            .decode = delta_decode};
const struct codec__ops codec__int_dod = {.id = NE_CODEC_INT_DOD,
                                          .name = "int-dod",
                                          .vtype = NE_V_INT,
                                          .encode = dod_encode,
                                          .decode = dod_decode};
const struct codec__ops codec__int_delta_gcd = {.id = NE_CODEC_INT_DELTA_GCD,
                                                .name = "int-delta-gcd",
                                                .vtype = NE_V_INT,
                                                .encode = delta_gcd_encode,
                                                .decode = delta_gcd_decode};

/* ---- choosing ---------------------------------------------------------------- */

static const struct codec__ops *xform_ops(enum xform x)
{
    return x == X_FOR ? &codec__int_for : x == X_DELTA ? &codec__int_delta : &codec__int_dod;
}

/* ---- regular series ------------------------------------------------------
 *
 * Timestamps of a periodic source step by one constant d > 0: every delta
 * is d and every delta of deltas 0, so both streams are constant and their
 * sizes follow from n alone, and the order-preserving FOR stream of a
 * strictly ascending signed series has its minimum first and each
 * miniblock's maximum last. encode_auto's choice is then made in one pass
 * that checks the steps, without building and sizing the three streams,
 * and a constant stream is written directly (ref, then a zero width per
 * miniblock: what codec__pack writes for it). */
static size_t nmini(size_t m)
{
    return (m + CODEC__MINI - 1) / CODEC__MINI;
}

static unsigned width_of(uint64_t x)
{
    return x ? 64u - (unsigned)__builtin_clzll(x) : 0u;
}

/* The constant step of a strictly ascending signed v[0..n), or 0. */
static uint64_t regular_step(const uint64_t *v, size_t n)
{
    uint64_t d = v[1] - v[0];
    if ((int64_t)d <= 0) return 0;
    for (size_t i = 1; i < n; i++)
        if (v[i] - v[i - 1] != d || (int64_t)v[i] <= (int64_t)v[i - 1]) return 0;
    return d;
}

/* Size of the FOR section of an ascending signed v (codec__pack_cost of
 * v ^ 2^63, plus its sign byte). */
static size_t regular_for_cost(const uint64_t *v, size_t n)
{
    uint64_t ref = v[0] ^ SIGN_BIAS;
    size_t cost = 1 + ne_uvarint_len(ref);
    for (size_t i = 0; i < n; i += CODEC__MINI) {
        size_t k = n - i < CODEC__MINI ? n - i : CODEC__MINI;
        uint64_t hi = v[i + k - 1] ^ SIGN_BIAS;
        cost += 1 + (k * width_of(hi - ref) + 7) / 8;
    }
    return cost;
}

/* Appends a packed stream of m copies of ref. */
static int put_constant_stream(uint64_t ref, size_t m, struct ne_buf *out)
{
    int rc = ne_buf_put_uvarint(out, ref);
    size_t nb = nmini(m);
    uint8_t *q = rc ? NULL : ne_buf_grow(out, nb);
    if (!q) return NE_ENOMEM;
    memset(q, 0, nb);
    return 0;
}

/* Encodes v as encode_auto would when it is a regular signed series of at
 * least REGULAR_MIN values; returns 1 when it did not apply (nothing
 * written), else 0 or an error. */
#define REGULAR_MIN 16

static int encode_regular(const uint64_t *v, size_t n, uint8_t vtype, struct ne_buf *out,
                          uint8_t *id)
{
    if (!is_signed(vtype) || n < REGULAR_MIN) return 1;
    uint64_t d = regular_step(v, n);
    if (!d) return 1;
    uint64_t zd = ne_zigzag((int64_t)d);
    size_t delta = head_cost(X_DELTA, v, n) + ne_uvarint_len(zd) + nmini(n - 1);
    size_t dod = head_cost(X_DOD, v, n) + 1 + nmini(n - 2);
    size_t forc = regular_for_cost(v, n);
    /* encode_auto's order and rule: DELTA, DOD, FOR, the first smallest */
    enum xform x = X_DELTA;
    size_t best = delta;
    if (dod < best) x = X_DOD, best = dod;
    if (forc < best || best >= 8 * n) return 1; /* FOR or raw: the general path */
    size_t start = out->len;
    int rc = ne_buf_put_u8(out, xform_ops(x)->id);
    if (rc == 0) rc = put_head(x, v, n, true, out);
    if (rc == 0) rc = put_constant_stream(x == X_DELTA ? zd : 0, x == X_DELTA ? n - 1 : n - 2, out);
    if (rc) {
        out->len = start;
        return rc;
    }
    *id = xform_ops(x)->id;
    return 0;
}

/* ---- sizing without building ---------------------------------------------
 *
 * A packed stream's size (codec__pack_cost) needs its minimum ref and, per
 * miniblock, the bit width of the values minus ref. That width is the
 * width of the miniblock's largest value minus ref (the highest bit set in
 * an OR of numbers is the highest bit of the largest), so one pass that
 * keeps the minimum and each miniblock's maximum sizes a stream exactly,
 * without writing it: three candidate transforms then cost three passes
 * over v (in cache) instead of building, scanning for the minimum and
 * OR-ing each stream. Only the chosen stream is built. */

/* Stream element j of transform x over v (sgn: FOR's order-preserving
 * bias), as make_stream writes it. */
static inline uint64_t xform_at(enum xform x, const uint64_t *v, size_t j, uint64_t bias)
{
    switch (x) {
    case X_FOR:
        return v[j] ^ bias;
    case X_DELTA:
        return ne_zigzag((int64_t)(v[j + 1] - v[j]));
    case X_DOD:
        return ne_zigzag((int64_t)((v[j + 2] - v[j + 1]) - (v[j + 1] - v[j])));
    }
    return 0;
}

/* Minimum and maximum of elements [i, i + k) of x's stream. */
static inline void xform_range(enum xform x, const uint64_t *v, size_t i, size_t k,
                               uint64_t bias, uint64_t *lo, uint64_t *hi)
{
    uint64_t mn = UINT64_MAX, mx = 0;
    for (size_t j = i; j < i + k; j++) {
        uint64_t s = xform_at(x, v, j, bias);
        mn = s < mn ? s : mn;
        mx = s > mx ? s : mx;
    }
    *lo = mn;
    *hi = mx;
}

/* codec__pack_cost of x's stream over v, which has n values, plus its
 * head. hi (room for n / CODEC__MINI + 1) gets each miniblock's maximum
 * and *refp the stream's minimum: what codec__pack_known needs. */
CODEC__WIDE static size_t xform_cost(enum xform x, const uint64_t *v, size_t n, bool sgn,
                                     uint64_t *hi, uint64_t *refp)
{
    size_t skip = x == X_FOR ? 0 : x == X_DELTA ? 1 : 2;
    size_t m = n > skip ? n - skip : 0, nm = 0;
    uint64_t bias = sgn ? SIGN_BIAS : 0, ref = m ? UINT64_MAX : 0;
    for (size_t i = 0; i < m; i += CODEC__MINI, nm++) {
        size_t k = m - i < CODEC__MINI ? m - i : CODEC__MINI;
        uint64_t lo;
        /* constant arguments per case: each loop is specialised */
        if (x == X_FOR)
            xform_range(X_FOR, v, i, k, bias, &lo, &hi[nm]);
        else if (x == X_DELTA)
            xform_range(X_DELTA, v, i, k, 0, &lo, &hi[nm]);
        else
            xform_range(X_DOD, v, i, k, 0, &lo, &hi[nm]);
        ref = lo < ref ? lo : ref;
    }
    size_t cost = head_cost(x, v, n) + ne_uvarint_len(ref);
    for (size_t t = 0; t < nm; t++) {
        size_t k = m - t * CODEC__MINI < CODEC__MINI ? m - t * CODEC__MINI : CODEC__MINI;
        cost += 1 + (k * width_of(hi[t] - ref) + 7) / 8;
    }
    *refp = ref;
    return cost;
}

/* Exact encoded sizes of the three transforms (xform_cost), and (with gcd)
 * of int-delta-gcd when the deltas share a divisor above 1; encodes the
 * smallest, or raw when none beats 8 bytes per value. Only the chosen
 * stream is built and packed. */
static int encode_auto(const uint64_t *v, size_t n, uint8_t vtype, bool gcd, struct ne_buf *out,
                       uint8_t *id)
{
    int reg = encode_regular(v, n, vtype, out, id);
    if (reg <= 0) return reg;
    size_t nhi = n / CODEC__MINI + 1;
    uint64_t *scratch = ne_malloc((n + 2 * nhi) * sizeof *scratch);
    if (!scratch) return NE_ENOMEM;
    uint64_t *stream = scratch, *hi = scratch + n, *best_hi = hi + nhi, best_ref = 0;
    size_t best_cost = 8 * n;
    enum xform best_x = X_FOR;
    bool packed = false, sgn = is_signed(vtype);
    static const enum xform order[] = {X_DELTA, X_DOD, X_FOR};
    for (size_t k = 0; k < 3; k++) {
        uint64_t ref;
        size_t c = xform_cost(order[k], v, n, sgn, hi, &ref);
        if (c < best_cost) {
            uint64_t *t = best_hi;
            best_hi = hi;
            hi = t;
            best_ref = ref;
            best_cost = c;
            best_x = order[k];
            packed = true;
        }
    }
    uint64_t g = gcd && n > 2 ? delta_gcd(v, n) : 0;
    bool scaled = false;
    size_t m = 0;
    if (g > 1) {
        m = gcd_stream(v, n, g, stream);
        size_t c = gcd_head_cost(v, n, g) + codec__pack_cost(stream, m);
        if (c < best_cost) packed = scaled = true;
    }
    if (packed && !scaled) m = make_stream(best_x, v, n, sgn, stream);
    size_t start = out->len;
    const struct codec__ops *ops = scaled   ? &codec__int_delta_gcd
                                   : packed ? xform_ops(best_x)
                                            : &codec__int_raw;
    int rc = ne_buf_put_u8(out, ops->id);
    if (rc == 0 && packed) {
        rc = scaled ? gcd_put_head(v, n, g, out) : put_head(best_x, v, n, sgn, out);
        if (rc == 0)
            rc = scaled ? codec__pack(stream, m, out)
                        : codec__pack_known(stream, m, best_ref, best_hi, out);
    } else if (rc == 0) {
        uint8_t param;
        rc = raw_encode(v, n, vtype, out, &param);
    }
    ne_free(scratch);
    if (rc) {
        out->len = start;
        return rc;
    }
    *id = ops->id;
    return 0;
}

static int encode_best(const uint64_t *v, size_t n, uint8_t vtype, int force, bool gcd,
                       struct ne_buf *out, uint8_t *id)
{
    const struct codec__ops *ops = force ? codec__find(force) : NULL;
    size_t start = out->len;
    uint8_t param;
    int rc;
    if (!ops || ops->vtype != NE_V_INT) return encode_auto(v, n, vtype, gcd, out, id);
    if ((rc = ne_buf_put_u8(out, ops->id)) != 0) return rc;
    if ((rc = ops->encode(v, n, vtype, out, &param)) != 0) {
        out->len = start;
        return rc;
    }
    *id = ops->id;
    return 0;
}

int codec__int_encode_best(const uint64_t *v, size_t n, uint8_t vtype, int force,
                           struct ne_buf *out, uint8_t *id)
{
    return encode_best(v, n, vtype, force, false, out, id);
}

int codec__ts_encode_best(const int64_t *ts, size_t n, int force, struct ne_buf *out, uint8_t *id)
{
    return encode_best((const uint64_t *)ts, n, NE_V_INT, force, true, out, id);
}

int codec__int_decode_any(const uint8_t *p, size_t len, size_t n, uint64_t *out)
{
    if (len < 1) return NE_ECORRUPT;
    const struct codec__ops *ops = codec__find(p[0]);
    if (!ops || ops->vtype != NE_V_INT) return NE_ECORRUPT;
    return ops->decode(p + 1, len - 1, n, out);
}
