/*
 * decode_num.c - number, time and small text conversions for the decoders.
 *
 * Float parsing has a fast path that is exact: a decimal with at most 19
 * significant digits whose integer mantissa m is below 2^53 and whose power
 * of ten e is within [-22, 22] is m * 10^e or m / 10^e, where both operands
 * are exact doubles and the one IEEE operation rounds correctly, so the
 * result is bit-identical to strtod's. Every other form goes to strtod on a
 * NUL-terminated copy. Sensor data (a few digits, a few decimals) always
 * takes the fast path.
 */
#include "ingest/decode/decode_internal.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"

static const double pow10_exact[23] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static inline bool is_digit(char ch)
{
    return (unsigned char)(ch - '0') < 10;
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
        if (nfrac) d /= pow10_exact[nfrac];
        *out = neg ? -d : d;
        return 0;
    }
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
        d = exp10 < 0 ? d / pow10_exact[-exp10] : d * pow10_exact[exp10];
        *out = neg ? -d : d;
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
