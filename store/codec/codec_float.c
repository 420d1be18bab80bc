/*
 * codec_float.c - float column codecs. Every codec round-trips the 64-bit
 * patterns exactly (NaN payloads, +-Inf, -0.0, denormals).
 *
 *   f-raw:     n x u64le (the IEEE-754 bits)
 *   f-decimal: u8 s (0..18) | uvarint e | e x (uvarint gap | u64le bits) |
 *              u8 int codec id | int section of n int64 m[i]
 *              with v[i] == (double)m[i] / 10^s bit for bit. Sensor values
 *              written with few decimals (21.37, 45.2) become small integers
 *              whose deltas pack into a few bits. Values that are not such
 *              decimals (NaN, +-Inf, -0.0, more digits) are exceptions, at
 *              most n/32 per block: their IEEE bits are listed with their
 *              position (gap = positions skipped since the previous
 *              exception) and their m repeats the previous m (the next one
 *              for leading exceptions), keeping deltas small. A block with
 *              more exceptions falls back to f-xor or f-raw.
 *   f-xor:     Gorilla-style XOR with the previous value, LSB-first bits:
 *              first value: 64 bits. Then per value x = bits ^ prev:
 *                x == 0                              : '0'
 *                fits the previous (lz, tz) window   : '1' '0' + (64-lz-tz) bits
 *                otherwise                           : '1' '1' + 6 bits lz +
 *                                                      6 bits (len-1) + len bits
 *              (len = 64 - lz - tz, the bits are x >> tz). Up to 7 zero
 *              padding bits at the end.
 *
 * Why division and not multiplication by 0.01: 10^s is exact in a double
 * for s <= 22 and IEEE division is correctly rounded, so m / 10^s is the
 * double nearest to the decimal m * 10^-s - the value a parser of "21.37"
 * produced in the first place.
 */
#include <math.h>

#include "store/codec/codec_internal.h"

#include "ports/platform.h"

#define DEC_MAX_SCALE 18

static const double pow10_tab[DEC_MAX_SCALE + 1] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,
    1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18,
};

static uint64_t dbits(double d)
{
    uint64_t u;
    memcpy(&u, &d, 8);
    return u;
}

/* ---- raw --------------------------------------------------------------------- */

static int fraw_encode(const void *vals, size_t n, uint8_t vtype, struct ne_buf *out,
                       uint8_t *param)
{
    return codec__int_raw.encode(vals, n, NE_V_UINT, out, param);
}

static int fraw_decode(const uint8_t *p, size_t len, size_t n, void *out)
{
    return codec__int_raw.decode(p, len, n, out);
}

/* ---- decimal ----------------------------------------------------------------- */

/* Round to nearest (even), inline: adding and removing 1.5 * 2^52 leaves
 * no fraction bits for |x| < 2^51; from 2^52 on every double is integral.
 * (nearbyint is an out-of-line call on baseline x86-64.) */
static inline double round_near(double x)
{
    double a = fabs(x);
    if (a < 2251799813685248.0) /* 2^51 */
        return (x + 6755399441055744.0) - 6755399441055744.0;
    return a < 4503599627370496.0 ? nearbyint(x) : x;
}

static bool dec_exact(double v, int s, int64_t *m)
{
    double x = v * pow10_tab[s];
    if (!(fabs(x) < 9.2e18)) return false;
    double r = round_near(x);
    /* cheap reject: an exact decimal gives x within a few ulps of k */
    if (fabs(x - r) > fabs(x) * 1e-14) return false;
    int64_t k = (int64_t)r;
    if (dbits((double)k / pow10_tab[s]) != dbits(v)) return false;
    *m = k;
    return true;
}

/* Exceptions allowed in a decimal block: n / 2^DEC_EXC_SHIFT. */
#define DEC_EXC_SHIFT 5

static int min_scale(double v)
{
    int64_t m;
    for (int s = 0; s <= DEC_MAX_SCALE; s++)
        if (dec_exact(v, s, &m)) return s;
    return DEC_MAX_SCALE + 1;
}

/* True when all but max_exc values are exact decimals at scale s; stops
 * at the first value too many. */
static bool dec_fits(const double *v, size_t n, int s, size_t max_exc)
{
    size_t bad = 0;
    int64_t m;
    for (size_t i = 0; i < n; i++)
        if (!dec_exact(v[i], s, &m) && ++bad > max_exc) return false;
    return true;
}

/* Fills m[] at scale s; values that are not exact there become
 * exceptions (positions in exc[], m repeats the previous value - the next
 * one for leading exceptions - so the integer deltas stay small). Returns the number of exceptions,
 * or SIZE_MAX when more than max_exc. */
static size_t dec_fill(const double *v, size_t n, int s, uint64_t *m, uint32_t *exc, size_t max_exc)
{
    size_t ne = 0;
    int64_t prev = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t k;
        if (dec_exact(v[i], s, &k)) {
            prev = k;
        } else {
            if (ne == max_exc) return SIZE_MAX;
            exc[ne++] = (uint32_t)i;
            k = prev;
        }
        m[i] = (uint64_t)k;
    }
    /* leading exceptions take the first regular value instead of 0 */
    size_t first = 0;
    while (first < ne && exc[first] == first)
        first++;
    for (size_t i = 0; i < first && first < n; i++)
        m[i] = m[first];
    return ne;
}

/* The smallest scale at which all but n/32 values are exact decimals;
 * -1 if there is none (the block is not decimal data). Fills m and exc at
 * that scale (dec_fill; *ne exceptions). A value exact at scale s is
 * exact at every larger one until v * 10^s leaves the int64 range, so
 * below a scale that fits, those that fit are the ones from the answer up
 * and a binary search finds it; above a guess that does not fit, scales
 * are tried upwards (one that does not fit mostly fails within a few
 * values). The guess is the smallest own scale of the first values (a
 * column mostly keeps its number of decimals): usually it fits and the
 * next one down does not - one filling pass and one short one. */
#define DEC_GUESS_VALUES 4

static int dec_scale_fill(const double *v, size_t n, uint64_t *m, uint32_t *exc, size_t *ne)
{
    size_t max_exc = n >> DEC_EXC_SHIFT;
    *ne = 0;
    if (n == 0) return 0;
    int g = DEC_MAX_SCALE, s;
    /* the first few values that are decimals at all (not NaN, not noise) */
    for (size_t i = 0, seen = 0; i < n && i < 4 * DEC_GUESS_VALUES && seen < DEC_GUESS_VALUES;
         i++) {
        int k = min_scale(v[i]);
        if (k > DEC_MAX_SCALE) continue;
        seen++;
        if (k < g) g = k;
    }
    *ne = dec_fill(v, n, g, m, exc, max_exc);
    if (*ne != SIZE_MAX) {
        if (g == 0 || !dec_fits(v, n, g - 1, max_exc)) return g;
        int lo = 0, hi = g - 1; /* the answer is in [lo, hi], and hi fits */
        while (lo < hi) {
            int mid = lo + (hi - lo) / 2;
            if (dec_fits(v, n, mid, max_exc))
                hi = mid;
            else
                lo = mid + 1;
        }
        s = hi;
    } else {
        for (s = g + 1; s <= DEC_MAX_SCALE && !dec_fits(v, n, s, max_exc); s++)
            ;
        if (s > DEC_MAX_SCALE) return -1;
    }
    *ne = dec_fill(v, n, s, m, exc, max_exc);
    return *ne == SIZE_MAX ? -1 : s;
}

static int dec_put_exceptions(const double *v, const uint32_t *exc, size_t ne, struct ne_buf *out)
{
    int rc = ne_buf_put_uvarint(out, ne);
    for (size_t j = 0; rc == 0 && j < ne; j++) {
        rc = ne_buf_put_uvarint(out, j ? exc[j] - exc[j - 1] - 1 : exc[0]);
        if (rc == 0) rc = ne_buf_put_u64le(out, dbits(v[exc[j]]));
    }
    return rc;
}

static int dec_encode(const void *vals, size_t n, uint8_t vtype, struct ne_buf *out, uint8_t *param)
{
    const double *v = vals;
    size_t start = out->len, max_exc = n >> DEC_EXC_SHIFT, ne = 0;
    uint64_t *m = ne_malloc((n ? n : 1) * sizeof *m);
    uint32_t *exc = ne_malloc((max_exc + 1) * sizeof *exc);
    int rc = m && exc ? 0 : NE_ENOMEM, s = 0;
    if (rc == 0) s = dec_scale_fill(v, n, m, exc, &ne);
    uint8_t id;
    if (rc == 0 && s < 0) rc = NE_EUNSUPPORTED;
    if (rc == 0) rc = ne_buf_put_u8(out, (uint8_t)s);
    if (rc == 0) rc = dec_put_exceptions(v, exc, ne, out);
    if (rc == 0) rc = codec__int_encode_best(m, n, NE_V_INT, NE_CODEC_AUTO, out, &id);
    ne_free(m);
    ne_free(exc);
    if (rc)
        out->len = start;
    else
        *param = (uint8_t)s;
    return rc;
}

/* |m| < 2^51: then m + 1.5 * 2^52, formed on the bit pattern, is a double
 * whose value is exactly 1.5 * 2^52 + m, and subtracting the constant gives
 * (double)m exactly - with plain SIMD adds, no int64 -> double instruction. */
#define MAGIC_BITS UINT64_C(0x4338000000000000)
#define MAGIC_DBL  6755399441055744.0 /* 1.5 * 2^52 */
#define SMALL_LIM  (UINT64_C(1) << 51)

static bool all_small(const uint64_t *u, size_t n)
{
    uint64_t bad = 0;
    for (size_t i = 0; i < n; i++)
        bad |= (u[i] + SMALL_LIM) >> 52; /* 0 iff -2^51 <= m < 2^51 */
    return bad == 0;
}

CODEC__WIDE static void ints_to_decimal(void *buf, size_t n, double scale)
{
    uint64_t *u = buf;
    double *d = buf;
    if (all_small(u, n)) {
        for (size_t i = 0; i < n; i++) {
            uint64_t b = u[i] + MAGIC_BITS;
            double x;
            memcpy(&x, &b, 8);
            d[i] = (x - MAGIC_DBL) / scale;
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            int64_t m = (int64_t)u[i];
            d[i] = (double)m / scale;
        }
    }
}

/* Checks the exception list at r (n values) and skips it. */
static int dec_skip_exceptions(struct ne_rd *r, size_t n, uint64_t *count)
{
    uint64_t ne, gap, bits;
    size_t pos = 0;
    if (ne_rd_uvarint(r, &ne) != 0 || ne > n) return NE_ECORRUPT;
    for (uint64_t j = 0; j < ne; j++) {
        if (ne_rd_uvarint(r, &gap) != 0 || gap >= n - pos || ne_rd_u64le(r, &bits) != 0)
            return NE_ECORRUPT;
        pos += (size_t)gap + 1;
    }
    *count = ne;
    return 0;
}

/* Patches the (already checked) exceptions into d. */
static void dec_apply_exceptions(struct ne_rd *r, double *d)
{
    uint64_t ne, gap, bits;
    size_t pos = 0;
    ne_rd_uvarint(r, &ne);
    for (uint64_t j = 0; j < ne; j++) {
        ne_rd_uvarint(r, &gap);
        ne_rd_u64le(r, &bits);
        pos += (size_t)gap;
        memcpy(&d[pos], &bits, 8);
        pos++;
    }
}

static int dec_decode(const uint8_t *p, size_t len, size_t n, void *outv)
{
    struct ne_rd r, exc;
    uint64_t ne;
    if (len < 1 || p[0] > DEC_MAX_SCALE) return NE_ECORRUPT;
    ne_rd_init(&r, p + 1, len - 1);
    exc = r;
    int rc = dec_skip_exceptions(&r, n, &ne);
    if (rc == 0) rc = codec__int_decode_any(r.p, ne_rd_left(&r), n, outv);
    if (rc) return rc;
    ints_to_decimal(outv, n, pow10_tab[p[0]]);
    if (ne) dec_apply_exceptions(&exc, outv);
    return 0;
}

/* ---- xor ------------------------------------------------------------------------ */

/* A bit writer into room reserved up front (LSB first, as codec__bw):
 * no bounds check or buffer growth per field. */
struct xw {
    uint8_t *q;
    uint64_t acc;
    unsigned nacc; /* < 32 between calls */
};

static inline void xw_put32(struct xw *w, uint64_t v, unsigned nbits) /* nbits <= 32 */
{
    w->acc |= (v & ((UINT64_C(1) << nbits) - 1)) << w->nacc;
    w->nacc += nbits;
    if (w->nacc >= 32) {
        ne_store_u32le(w->q, (uint32_t)w->acc);
        w->q += 4;
        w->acc >>= 32;
        w->nacc -= 32;
    }
}

static inline void xw_put(struct xw *w, uint64_t v, unsigned nbits) /* nbits <= 64 */
{
    if (nbits > 32) {
        xw_put32(w, v & 0xffffffffu, 32);
        xw_put32(w, v >> 32, nbits - 32);
    } else {
        xw_put32(w, v, nbits);
    }
}

/* At most 64 bits for the first value and 2 + 6 + 6 + 64 per other one. */
static size_t xor_bound(size_t n)
{
    return (64 + (n - 1) * 78 + 7) / 8 + 4;
}

size_t codec__xor_size(const double *v, size_t n)
{
    if (n == 0) return 0;
    uint64_t prev = dbits(v[0]), bits = 64;
    unsigned plz = 65, ptz = 65;
    for (size_t i = 1; i < n; i++) {
        uint64_t cur = dbits(v[i]), x = cur ^ prev;
        prev = cur;
        if (x == 0) {
            bits += 1;
            continue;
        }
        unsigned lz = (unsigned)__builtin_clzll(x), tz = (unsigned)__builtin_ctzll(x);
        if (plz <= 64 && lz >= plz && tz >= ptz) {
            bits += 2 + 64 - plz - ptz;
        } else {
            bits += 14 + 64 - lz - tz;
            plz = lz;
            ptz = tz;
        }
    }
    return (size_t)((bits + 7) / 8);
}

static int xor_encode(const void *vals, size_t n, uint8_t vtype, struct ne_buf *out, uint8_t *param)
{
    const double *v = vals;
    (void)vtype;
    *param = 0;
    if (n == 0) return 0;
    struct xw w = {.q = ne_buf_grow(out, xor_bound(n))};
    if (!w.q) return NE_ENOMEM;
    uint64_t prev = dbits(v[0]);
    unsigned plz = 65, ptz = 65; /* no window yet */
    xw_put(&w, prev, 64);
    for (size_t i = 1; i < n; i++) {
        uint64_t cur = dbits(v[i]);
        uint64_t x = cur ^ prev;
        prev = cur;
        if (x == 0) {
            xw_put32(&w, 0, 1);
            continue;
        }
        unsigned lz = (unsigned)__builtin_clzll(x), tz = (unsigned)__builtin_ctzll(x);
        if (plz <= 64 && lz >= plz && tz >= ptz) {
            xw_put32(&w, 1, 2); /* '1' then '0' */
            xw_put(&w, x >> ptz, 64 - plz - ptz);
        } else {
            unsigned len = 64 - lz - tz;
            /* '1' '1', 6 bits lz, 6 bits len - 1: one 14-bit field */
            xw_put32(&w, 3u | (uint64_t)lz << 2 | (uint64_t)(len - 1) << 8, 14);
            xw_put(&w, x >> tz, len);
            plz = lz;
            ptz = tz;
        }
    }
    while (w.nacc > 0) {
        *w.q++ = (uint8_t)w.acc;
        w.acc >>= 8;
        w.nacc = w.nacc > 8 ? w.nacc - 8 : 0;
    }
    out->len = (size_t)(w.q - out->p);
    return 0;
}

static int xor_decode(const uint8_t *p, size_t len, size_t n, void *outv)
{
    uint64_t *out = outv;
    struct codec__br r;
    uint64_t prev, bit, x;
    unsigned plz = 65, ptz = 65;
    int rc;
    codec__br_init(&r, p, len);
    if (n == 0) return len == 0 ? 0 : NE_ECORRUPT;
    if ((rc = codec__br_get(&r, 64, &prev)) != 0) return rc;
    out[0] = prev;
    for (size_t i = 1; i < n; i++) {
        if ((rc = codec__br_get(&r, 1, &bit)) != 0) return rc;
        if (bit) {
            if ((rc = codec__br_get(&r, 1, &bit)) != 0) return rc;
            if (bit) {
                uint64_t lz, l1;
                if ((rc = codec__br_get(&r, 6, &lz)) != 0 || (rc = codec__br_get(&r, 6, &l1)) != 0)
                    return rc;
                if (lz + l1 + 1 > 64) return NE_ECORRUPT;
                plz = (unsigned)lz;
                ptz = 64 - plz - (unsigned)(l1 + 1);
            } else if (plz > 64) {
                return NE_ECORRUPT;
            }
            if ((rc = codec__br_get(&r, 64 - plz - ptz, &x)) != 0) return rc;
            prev ^= x << ptz;
        }
        out[i] = prev;
    }
    /* only padding may remain */
    if ((size_t)(r.end - r.p) * 8 + r.nacc >= 8) return NE_ECORRUPT;
    return 0;
}

const struct codec__ops codec__f_raw = {.id = NE_CODEC_F_RAW,
                                        .name = "f-raw",
                                        .vtype = NE_V_FLOAT,
                                        .encode = fraw_encode,
                                        .decode = fraw_decode};
const struct codec__ops codec__f_decimal = {.id = NE_CODEC_F_DECIMAL,
                                            .name = "f-decimal",
                                            .vtype = NE_V_FLOAT,
                                            .encode = dec_encode,
                                            .decode = dec_decode};
const struct codec__ops codec__f_xor = {.id = NE_CODEC_F_XOR,
                                        .name = "f-xor",
                                        .vtype = NE_V_FLOAT,
                                        .encode = xor_encode,
                                        .decode = xor_decode};
