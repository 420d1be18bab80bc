/*
 * decode_num.c - number, time and small text conversions for the decoders.
 *
 * Float parsing has two exact paths before strtod. A decimal with at most
 * 19 significant digits whose integer mantissa m is below 2^53 and whose
 * power of ten e is within [-22, 22] is m * 10^e or m / 10^e, where both
 * operands are exact doubles and the one IEEE operation rounds correctly
 * (Clinger), so the result is bit-identical to strtod's. Sensor data (a few
 * digits, a few decimals) always takes that path. A longer mantissa (16 to
 * 19 digits: what printing a double with %.17g gives) or a larger power
 * takes the Eisel-Lemire path (eisel_lemire below) while e is within
 * [POW5_QMIN, POW5_QMAX]; with more than 19 digits it is tried on the
 * first 19 and on them plus one, and taken when both round alike. Only
 * what neither decides goes to strtod on a NUL-terminated copy.
 */
#include "ingest/decode/decode_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"

const double decode__pow10_exact[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static inline bool is_digit(char ch)
{
    return (unsigned char)(ch - '0') < 10;
}

/* ---- Eisel-Lemire -----------------------------------------------------------
 *
 * w * 10^q for a 64-bit w, correctly rounded (to nearest, ties to even),
 * from one or two 64x64-bit products with a 128-bit approximation of 5^q
 * (D. Lemire, "Number Parsing at a Gigabyte per Second", Software:
 * Practice and Experience 51(8), 2021, sections 5 and 6). pow5_128[q -
 * POW5_QMIN] = {high, low} 64 bits of 5^q scaled by a power of two into
 * [2^127, 2^128): for q >= 0, 5^q shifted (left, or right with the bits
 * below dropped); for q < 0, floor(2^b / 5^-q) + 1 with b = z + 127
 * (q >= -27) or b = 2z + 128 truncated to its top 128 bits (q < -27),
 * where z is the bit length of 5^-q - 1 (the least z with 2^z >= 5^-q).
 * The table covers the exponents line protocol and JSON carry in
 * practice; anything outside, and every case where the truncated product
 * cannot decide the rounding, answers false and strtod decides.
 */
#define POW5_QMIN (-64)
#define POW5_QMAX 64

static const uint64_t pow5_128[POW5_QMAX - POW5_QMIN + 1][2] = {
    {0xa87fea27a539e9a5ULL, 0x3f2398d747b36224ULL}, /* -64 */
    {0xd29fe4b18e88640eULL, 0x8eec7f0d19a03aadULL}, /* -63 */
    {0x83a3eeeef9153e89ULL, 0x1953cf68300424acULL}, /* -62 */
    {0xa48ceaaab75a8e2bULL, 0x5fa8c3423c052dd7ULL}, /* -61 */
    {0xcdb02555653131b6ULL, 0x3792f412cb06794dULL}, /* -60 */
    {0x808e17555f3ebf11ULL, 0xe2bbd88bbee40bd0ULL}, /* -59 */
    {0xa0b19d2ab70e6ed6ULL, 0x5b6aceaeae9d0ec4ULL}, /* -58 */
    {0xc8de047564d20a8bULL, 0xf245825a5a445275ULL}, /* -57 */
    {0xfb158592be068d2eULL, 0xeed6e2f0f0d56712ULL}, /* -56 */
    {0x9ced737bb6c4183dULL, 0x55464dd69685606bULL}, /* -55 */
    {0xc428d05aa4751e4cULL, 0xaa97e14c3c26b886ULL}, /* -54 */
    {0xf53304714d9265dfULL, 0xd53dd99f4b3066a8ULL}, /* -53 */
    {0x993fe2c6d07b7fabULL, 0xe546a8038efe4029ULL}, /* -52 */
    {0xbf8fdb78849a5f96ULL, 0xde98520472bdd033ULL}, /* -51 */
    {0xef73d256a5c0f77cULL, 0x963e66858f6d4440ULL}, /* -50 */
    {0x95a8637627989aadULL, 0xdde7001379a44aa8ULL}, /* -49 */
    {0xbb127c53b17ec159ULL, 0x5560c018580d5d52ULL}, /* -48 */
    {0xe9d71b689dde71afULL, 0xaab8f01e6e10b4a6ULL}, /* -47 */
    {0x9226712162ab070dULL, 0xcab3961304ca70e8ULL}, /* -46 */
    {0xb6b00d69bb55c8d1ULL, 0x3d607b97c5fd0d22ULL}, /* -45 */
    {0xe45c10c42a2b3b05ULL, 0x8cb89a7db77c506aULL}, /* -44 */
    {0x8eb98a7a9a5b04e3ULL, 0x77f3608e92adb242ULL}, /* -43 */
    {0xb267ed1940f1c61cULL, 0x55f038b237591ed3ULL}, /* -42 */
    {0xdf01e85f912e37a3ULL, 0x6b6c46dec52f6688ULL}, /* -41 */
    {0x8b61313bbabce2c6ULL, 0x2323ac4b3b3da015ULL}, /* -40 */
    {0xae397d8aa96c1b77ULL, 0xabec975e0a0d081aULL}, /* -39 */
    {0xd9c7dced53c72255ULL, 0x96e7bd358c904a21ULL}, /* -38 */
    {0x881cea14545c7575ULL, 0x7e50d64177da2e54ULL}, /* -37 */
    {0xaa242499697392d2ULL, 0xdde50bd1d5d0b9e9ULL}, /* -36 */
    {0xd4ad2dbfc3d07787ULL, 0x955e4ec64b44e864ULL}, /* -35 */
    {0x84ec3c97da624ab4ULL, 0xbd5af13bef0b113eULL}, /* -34 */
    {0xa6274bbdd0fadd61ULL, 0xecb1ad8aeacdd58eULL}, /* -33 */
    {0xcfb11ead453994baULL, 0x67de18eda5814af2ULL}, /* -32 */
    {0x81ceb32c4b43fcf4ULL, 0x80eacf948770ced7ULL}, /* -31 */
    {0xa2425ff75e14fc31ULL, 0xa1258379a94d028dULL}, /* -30 */
    {0xcad2f7f5359a3b3eULL, 0x096ee45813a04330ULL}, /* -29 */
    {0xfd87b5f28300ca0dULL, 0x8bca9d6e188853fcULL}, /* -28 */
    {0x9e74d1b791e07e48ULL, 0x775ea264cf55347eULL}, /* -27 */
    {0xc612062576589ddaULL, 0x95364afe032a819eULL}, /* -26 */
    {0xf79687aed3eec551ULL, 0x3a83ddbd83f52205ULL}, /* -25 */
    {0x9abe14cd44753b52ULL, 0xc4926a9672793543ULL}, /* -24 */
    {0xc16d9a0095928a27ULL, 0x75b7053c0f178294ULL}, /* -23 */
    {0xf1c90080baf72cb1ULL, 0x5324c68b12dd6339ULL}, /* -22 */
    {0x971da05074da7beeULL, 0xd3f6fc16ebca5e04ULL}, /* -21 */
    {0xbce5086492111aeaULL, 0x88f4bb1ca6bcf585ULL}, /* -20 */
    {0xec1e4a7db69561a5ULL, 0x2b31e9e3d06c32e6ULL}, /* -19 */
    {0x9392ee8e921d5d07ULL, 0x3aff322e62439fd0ULL}, /* -18 */
    {0xb877aa3236a4b449ULL, 0x09befeb9fad487c3ULL}, /* -17 */
    {0xe69594bec44de15bULL, 0x4c2ebe687989a9b4ULL}, /* -16 */
    {0x901d7cf73ab0acd9ULL, 0x0f9d37014bf60a11ULL}, /* -15 */
    {0xb424dc35095cd80fULL, 0x538484c19ef38c95ULL}, /* -14 */
    {0xe12e13424bb40e13ULL, 0x2865a5f206b06fbaULL}, /* -13 */
    {0x8cbccc096f5088cbULL, 0xf93f87b7442e45d4ULL}, /* -12 */
    {0xafebff0bcb24aafeULL, 0xf78f69a51539d749ULL}, /* -11 */
    {0xdbe6fecebdedd5beULL, 0xb573440e5a884d1cULL}, /* -10 */
    {0x89705f4136b4a597ULL, 0x31680a88f8953031ULL}, /* -9 */
    {0xabcc77118461cefcULL, 0xfdc20d2b36ba7c3eULL}, /* -8 */
    {0xd6bf94d5e57a42bcULL, 0x3d32907604691b4dULL}, /* -7 */
    {0x8637bd05af6c69b5ULL, 0xa63f9a49c2c1b110ULL}, /* -6 */
    {0xa7c5ac471b478423ULL, 0x0fcf80dc33721d54ULL}, /* -5 */
    {0xd1b71758e219652bULL, 0xd3c36113404ea4a9ULL}, /* -4 */
    {0x83126e978d4fdf3bULL, 0x645a1cac083126eaULL}, /* -3 */
    {0xa3d70a3d70a3d70aULL, 0x3d70a3d70a3d70a4ULL}, /* -2 */
    {0xccccccccccccccccULL, 0xcccccccccccccccdULL}, /* -1 */
    {0x8000000000000000ULL, 0x0000000000000000ULL}, /* 0 */
    {0xa000000000000000ULL, 0x0000000000000000ULL}, /* 1 */
    {0xc800000000000000ULL, 0x0000000000000000ULL}, /* 2 */
    {0xfa00000000000000ULL, 0x0000000000000000ULL}, /* 3 */
    {0x9c40000000000000ULL, 0x0000000000000000ULL}, /* 4 */
    {0xc350000000000000ULL, 0x0000000000000000ULL}, /* 5 */
    {0xf424000000000000ULL, 0x0000000000000000ULL}, /* 6 */
    {0x9896800000000000ULL, 0x0000000000000000ULL}, /* 7 */
    {0xbebc200000000000ULL, 0x0000000000000000ULL}, /* 8 */
    {0xee6b280000000000ULL, 0x0000000000000000ULL}, /* 9 */
    {0x9502f90000000000ULL, 0x0000000000000000ULL}, /* 10 */
    {0xba43b74000000000ULL, 0x0000000000000000ULL}, /* 11 */
    {0xe8d4a51000000000ULL, 0x0000000000000000ULL}, /* 12 */
    {0x9184e72a00000000ULL, 0x0000000000000000ULL}, /* 13 */
    {0xb5e620f480000000ULL, 0x0000000000000000ULL}, /* 14 */
    {0xe35fa931a0000000ULL, 0x0000000000000000ULL}, /* 15 */
    {0x8e1bc9bf04000000ULL, 0x0000000000000000ULL}, /* 16 */
    {0xb1a2bc2ec5000000ULL, 0x0000000000000000ULL}, /* 17 */
    {0xde0b6b3a76400000ULL, 0x0000000000000000ULL}, /* 18 */
    {0x8ac7230489e80000ULL, 0x0000000000000000ULL}, /* 19 */
    {0xad78ebc5ac620000ULL, 0x0000000000000000ULL}, /* 20 */
    {0xd8d726b7177a8000ULL, 0x0000000000000000ULL}, /* 21 */
    {0x878678326eac9000ULL, 0x0000000000000000ULL}, /* 22 */
    {0xa968163f0a57b400ULL, 0x0000000000000000ULL}, /* 23 */
    {0xd3c21bcecceda100ULL, 0x0000000000000000ULL}, /* 24 */
    {0x84595161401484a0ULL, 0x0000000000000000ULL}, /* 25 */
    {0xa56fa5b99019a5c8ULL, 0x0000000000000000ULL}, /* 26 */
    {0xcecb8f27f4200f3aULL, 0x0000000000000000ULL}, /* 27 */
    {0x813f3978f8940984ULL, 0x4000000000000000ULL}, /* 28 */
    {0xa18f07d736b90be5ULL, 0x5000000000000000ULL}, /* 29 */
    {0xc9f2c9cd04674edeULL, 0xa400000000000000ULL}, /* 30 */
    {0xfc6f7c4045812296ULL, 0x4d00000000000000ULL}, /* 31 */
    {0x9dc5ada82b70b59dULL, 0xf020000000000000ULL}, /* 32 */
    {0xc5371912364ce305ULL, 0x6c28000000000000ULL}, /* 33 */
    {0xf684df56c3e01bc6ULL, 0xc732000000000000ULL}, /* 34 */
    {0x9a130b963a6c115cULL, 0x3c7f400000000000ULL}, /* 35 */
    {0xc097ce7bc90715b3ULL, 0x4b9f100000000000ULL}, /* 36 */
    {0xf0bdc21abb48db20ULL, 0x1e86d40000000000ULL}, /* 37 */
    {0x96769950b50d88f4ULL, 0x1314448000000000ULL}, /* 38 */
    {0xbc143fa4e250eb31ULL, 0x17d955a000000000ULL}, /* 39 */
    {0xeb194f8e1ae525fdULL, 0x5dcfab0800000000ULL}, /* 40 */
    {0x92efd1b8d0cf37beULL, 0x5aa1cae500000000ULL}, /* 41 */
    {0xb7abc627050305adULL, 0xf14a3d9e40000000ULL}, /* 42 */
    {0xe596b7b0c643c719ULL, 0x6d9ccd05d0000000ULL}, /* 43 */
    {0x8f7e32ce7bea5c6fULL, 0xe4820023a2000000ULL}, /* 44 */
    {0xb35dbf821ae4f38bULL, 0xdda2802c8a800000ULL}, /* 45 */
    {0xe0352f62a19e306eULL, 0xd50b2037ad200000ULL}, /* 46 */
    {0x8c213d9da502de45ULL, 0x4526f422cc340000ULL}, /* 47 */
    {0xaf298d050e4395d6ULL, 0x9670b12b7f410000ULL}, /* 48 */
    {0xdaf3f04651d47b4cULL, 0x3c0cdd765f114000ULL}, /* 49 */
    {0x88d8762bf324cd0fULL, 0xa5880a69fb6ac800ULL}, /* 50 */
    {0xab0e93b6efee0053ULL, 0x8eea0d047a457a00ULL}, /* 51 */
    {0xd5d238a4abe98068ULL, 0x72a4904598d6d880ULL}, /* 52 */
    {0x85a36366eb71f041ULL, 0x47a6da2b7f864750ULL}, /* 53 */
    {0xa70c3c40a64e6c51ULL, 0x999090b65f67d924ULL}, /* 54 */
    {0xd0cf4b50cfe20765ULL, 0xfff4b4e3f741cf6dULL}, /* 55 */
    {0x82818f1281ed449fULL, 0xbff8f10e7a8921a4ULL}, /* 56 */
    {0xa321f2d7226895c7ULL, 0xaff72d52192b6a0dULL}, /* 57 */
    {0xcbea6f8ceb02bb39ULL, 0x9bf4f8a69f764490ULL}, /* 58 */
    {0xfee50b7025c36a08ULL, 0x02f236d04753d5b4ULL}, /* 59 */
    {0x9f4f2726179a2245ULL, 0x01d762422c946590ULL}, /* 60 */
    {0xc722f0ef9d80aad6ULL, 0x424d3ad2b7b97ef5ULL}, /* 61 */
    {0xf8ebad2b84e0d58bULL, 0xd2e0898765a7deb2ULL}, /* 62 */
    {0x9b934c3b330c8577ULL, 0x63cc55f49f88eb2fULL}, /* 63 */
    {0xc2781f49ffcfa6d5ULL, 0x3cbf6b71c76b25fbULL}, /* 64 */
};

/* floor(x / 65536), also for negative x. */
static inline int floor_div_65536(int x)
{
    return x >= 0 ? x / 65536 : -((65535 - x) / 65536);
}

/* Sets *out to (neg ? -1 : 1) * w * 10^q, correctly rounded, and returns
 * true; false (nothing written) when it cannot tell: q outside the table,
 * a product too close to a rounding boundary, a subnormal or an infinite
 * result. */
static bool eisel_lemire(uint64_t w, int q, bool neg, double *out)
{
    if (w == 0 || q < POW5_QMIN || q > POW5_QMAX) return false;
    int lz = __builtin_clzll(w);
    w <<= lz;
    const uint64_t *t = pow5_128[q - POW5_QMIN];
    unsigned __int128 p = (unsigned __int128)w * t[0];
    uint64_t hi = (uint64_t)(p >> 64), lo = (uint64_t)p;
    if ((hi & 0x1FF) == 0x1FF) { /* the bits below the 55 kept may carry: refine */
        uint64_t h2 = (uint64_t)(((unsigned __int128)w * t[1]) >> 64);
        lo += h2;
        if (h2 > lo) hi++;
    }
    if (lo == UINT64_MAX) return false; /* the truncated tail might still carry */
    int upper = (int)(hi >> 63);
    int shift = upper + 9; /* keep 54 bits: the 53 of a double, one to round */
    uint64_t mant = hi >> shift;
    /* binary exponent: floor(q * log2(10)) + 63 + upper - lz, biased */
    int e2 = floor_div_65536((152170 + 65536) * q) + 63 + upper - lz + 1023;
    if (e2 <= 0 || e2 >= 0x7FF) return false;
    /* exactly between two doubles (possible only for small q): to even */
    if (lo <= 1 && q >= -4 && q <= 23 && (mant & 3) == 1 && (mant << shift) == hi) mant &= ~1ULL;
    mant += mant & 1;
    mant >>= 1;
    if (mant >= (2ULL << 52)) { /* rounded up to the next power of two */
        mant = 1ULL << 52;
        e2++;
    }
    if (e2 >= 0x7FF) return false;
    uint64_t bits = (mant & ~(1ULL << 52)) | (uint64_t)e2 << 52 | (uint64_t)neg << 63;
    memcpy(out, &bits, sizeof bits);
    return true;
}

/* strtod on a bounded copy; text is already known to be well-formed. */
static int float_slow(const char *p, size_t n, double *out)
{
    char stackbuf[128];
    char *tmp = stackbuf;
    if (n >= sizeof stackbuf) {
        tmp = ne_malloc(n + 1); /* rare: a number longer than 127 characters */
        if (!tmp) return NE_ENOMEM;
    }
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    errno = 0;
    double d = strtod(tmp, NULL);
    int e = errno;
    if (tmp != stackbuf) ne_free(tmp);
    if (e == ERANGE && isinf(d)) return NE_ERANGE;
    *out = d;
    return 0;
}

static int float_careful(const char *p, const char *end, double *out, const char **stop);

int decode__float_prefix(const char *p, const char *end, double *out, const char **stop)
{
    const char *s = p;
    if (s < end && (*s == '-' || *s == '+')) s++;
    uint64_t m = 0;
    const char *ie = decode__digits(s, end, &m);
    return decode__float_rest(p, s, ie, m, end, out, stop);
}

int decode__float_rest(const char *p, const char *is, const char *ie, uint64_t m, const char *end,
                       double *out, const char **stop)
{
    /* Fast path: at most 19 digits in all, so the mantissa is exact. */
    bool neg = is > p && *p == '-';
    const char *s = ie;
    long nint = ie - is, nfrac = 0;
    if (s < end && *s == '.') {
        const char *fs = ++s;
        s = decode__digits(s, end, &m);
        nfrac = s - fs;
    }
    if (nint + nfrac == 0) return NE_EPARSE;
    if (nint + nfrac > 19 || (s < end && (*s == 'e' || *s == 'E')))
        return float_careful(p, end, out, stop);
    *stop = s;
    if (m == 0) {
        *out = neg ? -0.0 : 0.0;
        return 0;
    }
    if (m < (1ULL << 53) && nfrac <= 22) {
        double d = (double)m;
        if (nfrac) d /= decode__pow10_exact[nfrac];
        *out = neg ? -d : d;
        return 0;
    }
    if (eisel_lemire(m, -(int)nfrac, neg, out)) return 0;
    return float_slow(p, (size_t)(s - p), out);
}

/* Any length, with an exponent: the significant digits are counted so the
 * exact path is taken whenever it applies; strtod otherwise. */
static int float_careful(const char *p, const char *end, double *out, const char **stop)
{
    const char *s = p;
    bool neg = false;
    if (s < end && (*s == '-' || *s == '+')) neg = *s++ == '-';
    uint64_t m = 0;
    int sig = 0, exp10 = 0, digits = 0;
    bool many = false;
    for (; s < end && is_digit(*s); s++, digits++) {
        if (m == 0 && *s == '0') continue;
        if (sig < 19) {
            m = m * 10 + (uint64_t)(*s - '0');
            sig++;
        } else {
            many = true;
            exp10++;
        }
    }
    if (s < end && *s == '.') {
        s++;
        for (; s < end && is_digit(*s); s++, digits++) {
            if (m == 0 && *s == '0') {
                exp10--;
                continue;
            }
            if (sig < 19) {
                m = m * 10 + (uint64_t)(*s - '0');
                sig++;
                exp10--;
            } else {
                many = true;
            }
        }
    }
    if (digits == 0) return NE_EPARSE;
    if (s < end && (*s == 'e' || *s == 'E')) {
        s++;
        bool eneg = false;
        if (s < end && (*s == '-' || *s == '+')) eneg = *s++ == '-';
        if (s == end || !is_digit(*s)) return NE_EPARSE;
        int ev = 0;
        for (; s < end && is_digit(*s); s++)
            if (ev < 100000) ev = ev * 10 + (*s - '0');
        exp10 += eneg ? -ev : ev;
    }
    *stop = s;
    if (m == 0) {
        *out = neg ? -0.0 : 0.0;
        return 0;
    }
    if (!many && m < (1ULL << 53) && exp10 >= -22 && exp10 <= 22) {
        double d = (double)m;
        d = exp10 < 0 ? d / decode__pow10_exact[-exp10] : d * decode__pow10_exact[exp10];
        *out = neg ? -d : d;
        return 0;
    }
    if (!many && eisel_lemire(m, exp10, neg, out)) return 0;
    /* digits past the 19th: the value lies in [m, m + 1) * 10^exp10, so
     * when both ends round to one double, so does it */
    double lo, hi;
    if (many && eisel_lemire(m, exp10, neg, &lo) && eisel_lemire(m + 1, exp10, neg, &hi) &&
        memcmp(&lo, &hi, sizeof lo) == 0) {
        *out = lo;
        return 0;
    }
    return float_slow(p, (size_t)(s - p), out);
}

int decode__float(const char *p, size_t n, double *out)
{
    const char *stop;
    double d;
    int rc = decode__float_prefix(p, p + n, &d, &stop);
    if (rc != 0) return rc;
    if (stop != p + n) return NE_EPARSE;
    *out = d;
    return 0;
}

static int parse_digits(const char *s, const char *end, uint64_t *out)
{
    if (s == end) return NE_EPARSE;
    uint64_t v = 0;
    if (end - s <= 19) { /* 19 digits always fit in 64 bits */
        for (; s < end; s++) {
            if (!is_digit(*s)) return NE_EPARSE;
            v = v * 10 + (uint64_t)(*s - '0');
        }
        *out = v;
        return 0;
    }
    for (; s < end; s++) {
        if (!is_digit(*s)) return NE_EPARSE;
        uint64_t d = (uint64_t)(*s - '0');
        if (v > (UINT64_MAX - d) / 10) return NE_ERANGE;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int decode__int(const char *p, size_t n, int64_t *out)
{
    bool neg = n > 0 && p[0] == '-';
    uint64_t u;
    int rc = parse_digits(p + neg, p + n, &u);
    if (rc != 0) return rc;
    if (neg) {
        if (u > (uint64_t)INT64_MAX + 1) return NE_ERANGE;
        *out = u == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)u;
    } else {
        if (u > (uint64_t)INT64_MAX) return NE_ERANGE;
        *out = (int64_t)u;
    }
    return 0;
}

int decode__uint(const char *p, size_t n, uint64_t *out)
{
    return parse_digits(p, p + n, out);
}

int decode__scale(int64_t v, int64_t unit_ns, int64_t *out)
{
    int64_t r;
    if (__builtin_mul_overflow(v, unit_ns, &r) || r == NE_TS_UNSET) return NE_ERANGE;
    *out = r;
    return 0;
}

int decode__seconds_to_ns(double s, int64_t *out)
{
    if (!(fabs(s) < 9.2e9)) return NE_ERANGE;
    double whole = floor(s);
    int64_t ns = (int64_t)whole * 1000000000 + llround((s - whole) * 1e9);
    *out = ns;
    return 0;
}

static bool fixed_digits(const char *p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit(p[i])) return false;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return true;
}

static bool leap_year(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

int decode__rfc3339(const char *p, size_t n, int64_t *out)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int Y, M, D, h, mi, sec;
    if (n < 20 || !fixed_digits(p, 4, &Y) || p[4] != '-' || !fixed_digits(p + 5, 2, &M) ||
        p[7] != '-' || !fixed_digits(p + 8, 2, &D) ||
        (p[10] != 'T' && p[10] != 't' && p[10] != ' ') || !fixed_digits(p + 11, 2, &h) ||
        p[13] != ':' || !fixed_digits(p + 14, 2, &mi) || p[16] != ':' ||
        !fixed_digits(p + 17, 2, &sec))
        return NE_EPARSE;
    if (M < 1 || M > 12 || D < 1 || h > 23 || mi > 59 || sec > 60) return NE_EPARSE;
    if (D > mdays[M - 1] + (M == 2 && leap_year(Y))) return NE_EPARSE;
    size_t i = 19;
    int64_t frac = 0;
    if (i < n && p[i] == '.') {
        i++;
        int nd = 0;
        for (; i < n && is_digit(p[i]); i++, nd++)
            if (nd < 9) frac = frac * 10 + (p[i] - '0');
        if (nd == 0) return NE_EPARSE;
        for (; nd < 9; nd++)
            frac *= 10;
    }
    int64_t off = 0;
    if (i < n && (p[i] == 'Z' || p[i] == 'z')) {
        i++;
    } else if (i + 6 == n && (p[i] == '+' || p[i] == '-') && p[i + 3] == ':') {
        int oh, om;
        if (!fixed_digits(p + i + 1, 2, &oh) || !fixed_digits(p + i + 4, 2, &om) || oh > 23 ||
            om > 59)
            return NE_EPARSE;
        off = (oh * 60 + om) * 60;
        if (p[i] == '-') off = -off;
        i += 6;
    } else {
        return NE_EPARSE;
    }
    if (i != n) return NE_EPARSE;
    int64_t secs = ne_days_from_civil(Y, M, D) * 86400 + h * 3600 + mi * 60 + sec - off;
    int64_t ns;
    if (__builtin_mul_overflow(secs, (int64_t)1000000000, &ns) ||
        __builtin_add_overflow(ns, frac, &ns))
        return NE_ERANGE;
    *out = ns;
    return 0;
}

struct ne_sv decode__base64url(struct decode_ctx *c, const char *p, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    size_t out = n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
    if (decode__scratch(c, out + 1) != 0) return (struct ne_sv){NULL, 0};
    char *w = c->scratch;
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *w++ = tab[v >> 18];
        *w++ = tab[(v >> 12) & 63];
        *w++ = tab[(v >> 6) & 63];
        *w++ = tab[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        *w++ = tab[v >> 18];
        *w++ = tab[(v >> 12) & 63];
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        *w++ = tab[v >> 18];
        *w++ = tab[(v >> 12) & 63];
        *w++ = tab[(v >> 6) & 63];
    }
    return decode__copy(c, c->scratch, (size_t)(w - c->scratch));
}

bool decode__bool_word(const char *p, size_t n, bool *v)
{
    switch (n) {
    case 1:
        if (p[0] == 't' || p[0] == 'T') return *v = true, true;
        if (p[0] == 'f' || p[0] == 'F') return *v = false, true;
        return false;
    case 4:
        if (!memcmp(p, "true", 4) || !memcmp(p, "True", 4) || !memcmp(p, "TRUE", 4))
            return *v = true, true;
        return false;
    case 5:
        if (!memcmp(p, "false", 5) || !memcmp(p, "False", 5) || !memcmp(p, "FALSE", 5))
            return *v = false, true;
        return false;
    }
    return false;
}

int decode__decimal_ns(const char *p, size_t n, int64_t *out)
{
    return decode__decimal_pow10(p, n, 9, out);
}

int decode__decimal_pow10(const char *p, size_t n, int shift, int64_t *out)
{
    /* Gather the significant digits and where the decimal point falls,
     * then read them as nanoseconds: exact, with the 10th decimal rounding. */
    char dig[40];
    int nd = 0, dp = 0, exp10 = 0;
    bool neg = false, seen_point = false, any = false;
    size_t i = 0;
    if (i < n && (p[i] == '-' || p[i] == '+')) neg = p[i++] == '-';
    for (; i < n; i++) {
        char ch = p[i];
        if (ch == '.' && !seen_point) {
            seen_point = true;
            continue;
        }
        if (!is_digit(ch)) break;
        any = true;
        if (nd == 0 && ch == '0') {
            if (seen_point) dp--;
            continue;
        }
        if (nd < (int)sizeof dig) dig[nd++] = ch;
        if (!seen_point) dp++;
    }
    if (!any) return NE_EPARSE;
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        bool eneg = false;
        if (i < n && (p[i] == '-' || p[i] == '+')) eneg = p[i++] == '-';
        if (i == n || !is_digit(p[i])) return NE_EPARSE;
        for (; i < n && is_digit(p[i]); i++)
            if (exp10 < 100000) exp10 = exp10 * 10 + (p[i] - '0');
        if (eneg) exp10 = -exp10;
    }
    if (i != n) return NE_EPARSE;
    int point = dp + exp10 + shift; /* digits before the result's point */
    if (point > 19) return NE_ERANGE;
    uint64_t v = 0;
    for (int k = 0; k < point; k++)
        v = v * 10 + (uint64_t)(k < nd ? dig[k] - '0' : 0);
    if (point >= 0 && point < nd && dig[point] >= '5') v++;
    if (v > (uint64_t)INT64_MAX) return NE_ERANGE;
    *out = neg ? -(int64_t)v : (int64_t)v;
    return 0;
}
