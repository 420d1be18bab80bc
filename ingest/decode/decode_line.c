/*
 * decode_line.c - InfluxDB line protocol -> batch.
 *
 *   <measurement>[,<tag_key>=<tag_value>...] <field_key>=<field_value>[,...] [<timestamp>]\n
 *
 * One pass over the bytes: names are scanned sixteen bytes at a time with
 * SSE2 where there is SSE2, else eight (a word compare per separator), the
 * tail with a 256-entry class table; numbers are
 * converted while their token is found (decode_num.c: exact fast float
 * path). A name stops at its unescaped separators. A backslash always
 * takes the next byte with it while scanning (so an escaped separator never
 * ends a name) except a newline, which always ends the line outside a
 * quoted string. When unescaping, a
 * backslash before one of the element's special characters (measurement:
 * comma, space; tag keys/values and field keys: comma, equals, space;
 * string values: double quote, backslash) is dropped; any other backslash
 * is kept as a literal, as InfluxDB does.
 *
 * Zero-copy: names and values are views into the input unless they held an
 * escape, in which case the unescaped text is copied into the batch arena.
 * A bad line is dropped whole (ne_batch_abort); the scan then resumes after
 * the line's end, found with the same quote-aware rule InfluxDB uses, so a
 * string value with a newline inside a bad line does not start a new line.
 */
#include "ingest/decode/decode_internal.h"

#include <stdio.h>
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "ports/err.h"
#include "ports/platform.h"

enum {
    C_COMMA = 1,
    C_SPACE = 2,
    C_EQ = 4,
    C_NL = 8,
    C_BSL = 16,
    C_QUOTE = 32,
    C_CR = 64,
    C_TAB = 128,
};

static const uint8_t cls[256] = {
    [','] = C_COMMA, [' '] = C_SPACE, ['='] = C_EQ,  ['\n'] = C_NL,
    ['\\'] = C_BSL,  ['"'] = C_QUOTE, ['\r'] = C_CR, ['\t'] = C_TAB,
};

#define CL(ch) cls[(uint8_t)(ch)]

/* Ends of a field value token (number, boolean) or of a timestamp. */
#define VALUE_END (C_COMMA | C_SPACE | C_NL | C_CR)

struct lp {
    struct decode_ctx *c;
    const char *begin, *end;
    uint32_t lineno;      /* 1-based number of the line being parsed */
    uint32_t extra_lines; /* newlines inside string values of this line */
    const char *why;      /* reason of a bad line */
    char whybuf[160];
};

/* Word-at-a-time search: the bytes of v equal to ch get their top bit set in
 * the result. A borrow can only flag a byte above a true match, so the
 * lowest flagged byte is always a real one. */
#define ONES  0x0101010101010101ULL
#define HIGHS 0x8080808080808080ULL
static inline uint64_t match_byte(uint64_t v, unsigned char ch)
{
    uint64_t x = v ^ (ONES * ch);
    return (x - ONES) & ~x & HIGHS;
}

/* Flags the bytes of v in the classes of mask (C_COMMA, C_SPACE, C_EQ,
 * C_NL, C_BSL, C_QUOTE); mask is a constant at every call, so the unused
 * comparisons fold away. */
static inline uint64_t match_classes(uint64_t v, unsigned mask)
{
    uint64_t m = 0;
    if (mask & C_COMMA) m |= match_byte(v, ',');
    if (mask & C_SPACE) m |= match_byte(v, ' ');
    if (mask & C_EQ) m |= match_byte(v, '=');
    if (mask & C_NL) m |= match_byte(v, '\n');
    if (mask & C_BSL) m |= match_byte(v, '\\');
    if (mask & C_QUOTE) m |= match_byte(v, '"');
    return m;
}

#if defined(__SSE2__)
/* The same sixteen bytes at a time (SSE2 is part of every x86-64). */
static inline unsigned match_classes16(__m128i v, unsigned mask)
{
    __m128i m = _mm_setzero_si128();
    if (mask & C_COMMA) m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8(',')));
    if (mask & C_SPACE) m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8(' ')));
    if (mask & C_EQ) m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('=')));
    if (mask & C_NL) m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('\n')));
    if (mask & C_BSL) m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));
    if (mask & C_QUOTE) m = _mm_or_si128(m, _mm_cmpeq_epi8(v, _mm_set1_epi8('"')));
    return (unsigned)_mm_movemask_epi8(m);
}
#endif

/* First byte at or after p in one of the classes of mask, or end. */
static inline const char *find_class(const char *p, const char *end, unsigned mask)
{
#if defined(__SSE2__)
    while (end - p >= 16) {
        unsigned m = match_classes16(_mm_loadu_si128((const __m128i *)(const void *)p), mask);
        if (m) return p + __builtin_ctz(m);
        p += 16;
    }
#endif
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - p >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        uint64_t m = match_classes(v, mask);
        if (m) return p + (__builtin_ctzll(m) >> 3);
        p += 8;
    }
#endif
    while (p < end && !(CL(*p) & mask))
        p++;
    return p;
}

/* Scans a name up to one of the stop classes (a newline always stops). */
static inline const char *scan_name(const char *p, const char *end, unsigned stop, bool *esc)
{
    const unsigned mask = stop | C_BSL | C_NL;
    for (;;) {
        p = find_class(p, end, mask);
        if (p < end && *p == '\\') {
            *esc = true;
            p += (p + 1 < end && p[1] != '\n') ? 2 : 1;
            continue;
        }
        return p;
    }
}

/* Unescaped copy of a name: "\x" becomes x when x is one of specials. */
static struct ne_sv unescape(struct decode_ctx *c, const char *p, size_t n, unsigned specials)
{
    if (decode__scratch(c, n) != 0) return (struct ne_sv){NULL, 0};
    char *w = c->scratch;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\\' && i + 1 < n && (CL(p[i + 1]) & specials)) i++;
        *w++ = p[i];
    }
    return decode__copy(c, c->scratch, (size_t)(w - c->scratch));
}

static inline struct ne_sv name_sv(struct decode_ctx *c, const char *s, const char *e, bool esc,
                                   unsigned specials)
{
    if (esc) return unescape(c, s, (size_t)(e - s), specials);
    return (struct ne_sv){s, (uint32_t)(e - s)};
}

static inline bool at_line_end(const char *p, const char *end)
{
    return p == end || *p == '\n' || (*p == '\r' && (p + 1 == end || p[1] == '\n'));
}

static int bad(struct lp *L, const char *why)
{
    L->why = why;
    return 1;
}

/* Parses a quoted string value at p (on the opening quote). */
static int string_value(struct lp *L, const char **pp, union ne_value *v)
{
    const char *p = *pp + 1, *s = p, *end = L->end;
    bool esc = false;
    for (;;) {
        p = find_class(p, end, C_QUOTE | C_BSL | C_NL);
        if (p == end) return bad(L, "unbalanced quotes");
        if (*p == '"') break;
        if (*p == '\n') {
            L->extra_lines++;
            p++;
            continue;
        }
        esc = true; /* backslash: the next byte is taken as is */
        if (p + 1 < end && p[1] == '\n') L->extra_lines++;
        p += 2;
        if (p > end) return bad(L, "unbalanced quotes");
    }
    v->s = name_sv(L->c, s, p, esc, C_QUOTE | C_BSL);
    if (!v->s.p) return NE_ENOMEM;
    *pp = p + 1;
    return 0;
}

static inline bool is_digit(char ch)
{
    return (unsigned char)(ch - '0') < 10;
}

static int out_of_range(struct lp *L, const char *what, const char *s, size_t n)
{
    snprintf(L->whybuf, sizeof L->whybuf, "unable to parse %s %.*s: value out of range", what,
             (int)(n > 64 ? 64 : n), s);
    return bad(L, L->whybuf);
}

/* An integer field value: digits [ds, de) (after an optional '-' at s),
 * followed by 'i' or 'u' at de; u is their value as decode__digits read
 * it (exact up to 19 digits). */
static int integer_value(struct lp *L, const char *s, const char *ds, const char *de, uint64_t u,
                         enum ne_vtype *t, union ne_value *v)
{
    bool neg = ds != s;
    size_t n = (size_t)(de - ds);
    if (n == 0) return bad(L, "invalid number");
    if (*de == 'u') {
        *t = NE_V_UINT;
        if (neg) return bad(L, "invalid number");
        if (n > 19 && decode__uint(ds, n, &v->u) != 0)
            return out_of_range(L, "unsigned", s, (size_t)(de - s));
    } else {
        *t = NE_V_INT;
        if (n > 18 && decode__int(s, (size_t)(de - s), &v->i) != 0)
            return out_of_range(L, "integer", s, (size_t)(de - s));
    }
    if (n <= (*t == NE_V_UINT ? 19u : 18u)) {
        if (*t == NE_V_UINT)
            v->u = u;
        else
            v->i = neg ? -(int64_t)u : (int64_t)u;
    }
    return 0;
}

/* The common float of sensor data, inline: integer digits [ds, ie) read
 * into m, an optional fraction, no exponent, at most 19 digits with m
 * below 2^53, so m / 10^fraction digits is exact and correctly rounded
 * (as in decode__float_rest). False for anything else, which
 * decode__float_rest reads from the start. */
static inline bool short_float(const char *ds, const char *ie, uint64_t m, const char *end,
                               double *out, const char **stop)
{
    const char *q = ie;
    long nfrac = 0;
    if (q < end && *q == '.') {
        const char *fs = ++q;
        q = decode__digits(q, end, &m);
        nfrac = q - fs;
    }
    long n = (ie - ds) + nfrac;
    if (n == 0 || n > 19 || m >= (1ULL << 53) || (q < end && (*q == 'e' || *q == 'E')))
        return false;
    double d = (double)m;
    if (nfrac) d /= decode__pow10_exact[nfrac];
    *out = d;
    *stop = q;
    return true;
}

/* A number field value: float (1, -1.5, .5, 1e3), integer 1i, unsigned 1u.
 * One pass: the digits are read while the token is found. */
static int number_value(struct lp *L, const char **pp, enum ne_vtype *t, union ne_value *v)
{
    const char *s = *pp, *p = s, *end = L->end;
    if (*p == '-') p++;
    const char *ds = p;
    uint64_t u = 0;
    p = decode__digits(p, end, &u);
    int rc;
    if (p < end && (*p == 'i' || *p == 'u')) {
        rc = integer_value(L, s, ds, p, u, t, v);
        if (rc != 0) return rc;
        p++;
    } else if (short_float(ds, p, u, end, &v->f, &p)) {
        *t = NE_V_FLOAT;
        if (ds != s) v->f = -v->f;
    } else {
        *t = NE_V_FLOAT;
        rc = decode__float_rest(s, ds, p, u, end, &v->f, &p);
        if (rc == NE_ENOMEM) return rc;
        if (rc == NE_ERANGE) return bad(L, "invalid float"); /* InfluxDB's words for 1e999 */
        if (rc != 0) return bad(L, "invalid number");
    }
    if (p < end && !(CL(*p) & VALUE_END)) return bad(L, "invalid number");
    *pp = p;
    return 0;
}

static int bool_value(struct lp *L, const char **pp, union ne_value *v)
{
    const char *s = *pp, *p = s, *end = L->end;
    while (p < end && !(CL(*p) & VALUE_END))
        p++;
    *pp = p;
    bool b;
    if (!decode__bool_word(s, (size_t)(p - s), &b)) return bad(L, "invalid boolean");
    v->b = b;
    return 0;
}

static int field_value(struct lp *L, const char **pp, enum ne_vtype *t, union ne_value *v)
{
    char ch = **pp;
    if (ch == '"') {
        *t = NE_V_STRING;
        return string_value(L, pp, v);
    }
    if ((ch >= '0' && ch <= '9') || ch == '-' || ch == '.') return number_value(L, pp, t, v);
    if (ch == 'N' || ch == 'n') return bad(L, "invalid number");
    *t = NE_V_BOOL;
    return bool_value(L, pp, v);
}

static int parse_tags(struct lp *L, const char **pp)
{
    struct decode_ctx *c = L->c;
    const char *p = *pp, *end = L->end;
    while (p < end && *p == ',') {
        const char *ks = ++p;
        bool kesc = false, vesc = false;
        p = scan_name(p, end, C_COMMA | C_SPACE | C_EQ, &kesc);
        if (p == ks) return bad(L, "missing tag key");
        if (p == end || *p != '=') return bad(L, "missing tag value");
        const char *ke = p++, *vs = p;
        p = scan_name(p, end, C_COMMA | C_SPACE | C_EQ, &vesc);
        if (p == vs) return bad(L, "missing tag value");
        if (p < end && *p == '=') return bad(L, "invalid tag format");
        if (p == end || *p == '\n') return bad(L, "missing fields");
        struct ne_sv k = name_sv(c, ks, ke, kesc, C_COMMA | C_SPACE | C_EQ);
        struct ne_sv v = name_sv(c, vs, p, vesc, C_COMMA | C_SPACE | C_EQ);
        if (!k.p || !v.p || ne_batch_tag(c->b, k, v) != 0) return NE_ENOMEM;
    }
    *pp = p;
    return 0;
}

/* Length of the field key at p when it is the same text as guess, a key
 * decoded earlier from this payload without escapes (so a view of it):
 * those bytes hold no separator or backslash, so followed by '=' they are
 * exactly what scanning would find. 0 when it is not. */
static inline uint32_t key_as_guess(const struct lp *L, const char *p, struct ne_sv guess)
{
    if (guess.n == 0 || guess.p < L->begin || guess.p >= L->end) return 0;
    if ((size_t)(L->end - p) <= guess.n || p[guess.n] != '=') return 0;
    return ne_bytes_eq(p, guess.p, guess.n) ? guess.n : 0;
}

/* Parses the fields at p. like, when not NULL, is an earlier point of the
 * same series: its field keys are tried first, in order, since a source
 * mostly sends one series' fields the same way each time. *distinct is
 * set when every key was like's key at its place: like's keys are
 * distinct (its point is complete), so these are too. A key found that
 * way is like's own view, so the store can tell it is the same key by
 * its address. */
static int parse_fields(struct lp *L, const char **pp, struct ne_sv meas,
                        const struct ne_point *like, bool *distinct)
{
    struct decode_ctx *c = L->c;
    const char *p = *pp, *end = L->end;
    /* by index: appending fields may move the array */
    uint32_t g0 = like ? like->field0 : 0, nguess = like ? like->nfields : 0;
    *distinct = like != NULL;
    for (uint32_t i = 0;; i++) {
        const char *ks = p;
        struct ne_sv k;
        uint32_t gn = i < nguess ? key_as_guess(L, p, c->b->fields[g0 + i].key) : 0;
        if (gn) {
            k = c->b->fields[g0 + i].key; /* the same bytes, and the same view */
            p += gn + 1;
        } else {
            bool kesc = false;
            *distinct = false;
            p = scan_name(p, end, C_COMMA | C_SPACE | C_EQ, &kesc);
            if (p == ks)
                return bad(L, p < end && *p == '=' ? "missing field key" : "invalid field format");
            if (p == end || *p != '=') return bad(L, "invalid field format");
            const char *ke = p++;
            k = name_sv(c, ks, ke, kesc, C_COMMA | C_SPACE | C_EQ);
            if (!k.p) return NE_ENOMEM;
        }
        if (p == end || (CL(*p) & (C_COMMA | C_SPACE | C_NL | C_CR)))
            return bad(L, "missing field value");
        if (k.n == 4 && memcmp(k.p, "time", 4) == 0) {
            snprintf(L->whybuf, sizeof L->whybuf,
                     "invalid field name: input field \"time\" on measurement \"%.*s\" is invalid",
                     (int)(meas.n > 64 ? 64 : meas.n), meas.p);
            return bad(L, L->whybuf);
        }
        enum ne_vtype t;
        union ne_value v;
        int rc = field_value(L, &p, &t, &v);
        if (rc != 0) return rc;
        if (ne_batch_field_fast(c->b, k, t, v) != 0) return NE_ENOMEM;
        if (p < end && *p == ',') {
            p++;
            continue;
        }
        if (p == end || (CL(*p) & (C_SPACE | C_NL | C_TAB)) || at_line_end(p, end)) break;
        return bad(L, "invalid field format");
    }
    *pp = p;
    return 0;
}

static int parse_timestamp(struct lp *L, const char **pp)
{
    struct decode_ctx *c = L->c;
    const char *p = *pp, *end = L->end;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (at_line_end(p, end)) {
        *pp = p;
        return 0;
    }
    const char *s = p;
    if (*p == '-') p++;
    const char *ds = p;
    uint64_t u = 0;
    p = decode__digits(p, end, &u);
    if (p == ds || (p < end && !(CL(*p) & (C_SPACE | C_TAB | C_NL | C_CR))))
        return bad(L, "bad timestamp");
    int64_t ts;
    if (p - ds <= 19) { /* fits in 64 bits unsigned; check the sign's range */
        if (u > (uint64_t)INT64_MAX) return bad(L, "time outside range");
        ts = ds != s ? -(int64_t)u : (int64_t)u;
    } else if (decode__int(s, (size_t)(p - s), &ts) != 0) {
        return bad(L, "time outside range");
    }
    if (c->precision_ns != 1 && decode__scale(ts, c->precision_ns, &ts) != 0)
        return bad(L, "time outside range");
    if (ts == NE_TS_UNSET) return bad(L, "time outside range");
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (!at_line_end(p, end)) return bad(L, "bad timestamp");
    ne_batch_set_ts(c->b, ts);
    *pp = p;
    return 0;
}

/* ---- series cache -------------------------------------------------------
 *
 * Payloads repeat a few series many times (one line per device per
 * timestamp). A line whose series text - measurement and tag section up to
 * the first unescaped space, compared byte for byte as sent - was decoded
 * before in this payload starts its point with ne_batch_begin_same: the
 * earlier point's measurement and final tags, without scanning,
 * unescaping, sorting or deduplicating them again. That text parses the
 * same wherever it appears, so the point is the same; a series written
 * another way (other tag order, other escapes) takes the full path and
 * still reaches the same series in the store. Entries are views into the
 * payload and indexes into the batch, so the cache lives for one
 * ne_decode call. It starts with room for SC_START_SLOTS / 2 series (fewer
 * for a short payload), doubles when half full and holds at most
 * SC_MAX_SLOTS / 2.
 */
#define SC_MIN_SLOTS   64u
#define SC_START_SLOTS 1024u
#define SC_MAX_SLOTS   (1u << 15)
#define SC_MUL         0x9E3779B97F4A7C15ull

static uint64_t sc_hash(const char *p, size_t n)
{
    uint64_t h = 0x243F6A8885A308D3ull;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * SC_MUL;
        h ^= h >> 29;
    }
    uint64_t w = 0;
    if (n) memcpy(&w, p, n);
    h = (h ^ w ^ ((uint64_t)n << 59)) * SC_MUL;
    h ^= h >> 32;
    return h ? h : 1;
}

/* Sizes the cache for a payload of about `lines` more lines; without
 * memory the payload is simply decoded in full. */
static void sc_init(struct decode_ctx *c, size_t lines)
{
    if (c->o->no_series_cache || c->sc) return;
    uint32_t slots = SC_MIN_SLOTS;
    while (slots < 2 * lines && slots < SC_START_SLOTS)
        slots *= 2;
    c->sc = ne_calloc(slots, sizeof *c->sc);
    if (c->sc) c->sc_mask = slots - 1;
}

/* The entry of text [p, p+n) with hash h, or the free slot where it goes
 * (the table is never more than half full, so one is found). */
static struct decode_series *sc_slot(struct decode_ctx *c, uint64_t h, const char *p, uint32_t n)
{
    for (uint32_t i = (uint32_t)h & c->sc_mask;; i = (i + 1) & c->sc_mask) {
        struct decode_series *e = &c->sc[i];
        if (!e->h || (e->h == h && e->len == n && ne_bytes_eq(e->text, p, n))) return e;
    }
}

/* Doubles the table (false when it is at its bound or memory is short:
 * it then just stops taking new series). */
static bool sc_grow(struct decode_ctx *c)
{
    uint32_t slots = c->sc_mask + 1;
    if (slots >= SC_MAX_SLOTS) return false;
    struct decode_series *t = ne_calloc(2 * (size_t)slots, sizeof *t), *old = c->sc;
    if (!t) return false;
    c->sc = t;
    c->sc_mask = 2 * slots - 1;
    for (uint32_t i = 0; i < slots; i++)
        if (old[i].h) *sc_slot(c, old[i].h, old[i].text, old[i].len) = old[i];
    ne_free(old);
    return true;
}

/* Remembers that the point just completed came from series text [p, p+n)
 * (e: its free slot, found before the point was parsed). */
static void sc_put(struct decode_ctx *c, struct decode_series *e, uint64_t h, const char *p,
                   uint32_t n)
{
    if (c->sc_used + 1 > (c->sc_mask + 1) / 2) {
        if (!sc_grow(c)) return;
        e = sc_slot(c, h, p, n);
    }
    *e = (struct decode_series){.h = h, .text = p, .len = n, .pt = c->b->npts - 1};
    c->sc_used++;
}

/* The line after its series text: p is on the space that ends it and a
 * point is begun. */
static int parse_rest(struct lp *L, const char **pp, const char *p, struct ne_sv meas,
                      const struct ne_point *like)
{
    const char *end = L->end;
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    if (at_line_end(p, end)) return bad(L, "missing fields");
    bool distinct;
    int rc = parse_fields(L, &p, meas, like, &distinct);
    if (rc != 0) return rc;
    rc = parse_timestamp(L, &p);
    if (rc != 0) return rc;
    rc = distinct ? decode__end_point_distinct(L->c) : decode__end_point(L->c);
    if (rc == NE_ENOMEM) return rc;
    if (rc != 0) return bad(L, "missing fields");
    *pp = p;
    return 0;
}

/* parse_line for a line whose series text [line start, series_end) is not
 * in this payload's cache (slot: its free slot there, or NULL before the
 * cache is made; h its hash): when the memo of earlier payloads has it,
 * the point begins with its decoded tags; else the line is parsed in
 * full. */
static int parse_line_full(struct lp *L, const char **pp, struct decode_series *slot, uint64_t h,
                           const char *series_end);

static int parse_memo_line(struct lp *L, const char **pp, const char *series_end,
                           struct decode_series *slot, uint64_t h)
{
    struct decode_ctx *c = L->c;
    const char *s = *pp;
    uint32_t n = (uint32_t)(series_end - s);
    struct ne_sv meas;
    const struct ne_tag *tags;
    uint32_t ntags;
    struct ne_series_hint *hint;
    if (!decode__memo_find(c->memo, h, s, n, &meas, &tags, &ntags, &hint))
        return parse_line_full(L, pp, slot, h, series_end);
    if (ne_batch_begin_tags(c->b, meas, tags, ntags, NE_TS_UNSET) != 0) return NE_ENOMEM;
    c->b->pts[c->b->npts].hint = hint;
    int rc = parse_rest(L, pp, series_end, meas, NULL);
    if (rc == 0 && slot) sc_put(c, slot, h, s, n);
    return rc;
}

/* Parses the line at p. Returns 0 (point added), 1 (bad: L->why), or
 * NE_ENOMEM. *pp is left at the line's end when it succeeds. */
static int parse_line(struct lp *L, const char **pp)
{
    struct decode_ctx *c = L->c;
    const char *s = *pp, *end = L->end;
    if (!c->sc && !c->memo) return parse_line_full(L, pp, NULL, 0, NULL);
    bool esc = false;
    const char *series_end = scan_name(s, end, C_SPACE, &esc);
    if (series_end == end || *series_end != ' ') return parse_line_full(L, pp, NULL, 0, NULL);
    uint64_t h = sc_hash(s, (size_t)(series_end - s));
    /* no cache before the first line is parsed */
    struct decode_series *slot = c->sc ? sc_slot(c, h, s, (uint32_t)(series_end - s)) : NULL;
    if (slot && slot->h) {
        if (ne_batch_begin_same(c->b, slot->pt, NE_TS_UNSET) != 0) return NE_ENOMEM;
        const struct ne_point *like = &c->b->pts[slot->pt];
        return parse_rest(L, pp, series_end, like->meas, like);
    }
    if (c->memo) return parse_memo_line(L, pp, series_end, slot, h);
    return parse_line_full(L, pp, slot, h, series_end);
}

/* The line at *pp parsed in full; when series_end is not NULL, its series
 * text [*pp, series_end) (hash h) goes into the memo, and into the
 * payload's cache at slot when that is not NULL. */
static int parse_line_full(struct lp *L, const char **pp, struct decode_series *slot, uint64_t h,
                           const char *series_end)
{
    struct decode_ctx *c = L->c;
    const char *p = *pp, *end = L->end, *s = p;
    bool esc = false;
    p = scan_name(p, end, C_COMMA | C_SPACE, &esc);
    if (p == s) return bad(L, "missing measurement");
    if (p == end || *p == '\n') return bad(L, "missing fields");
    struct ne_sv meas = name_sv(c, s, p, esc, C_COMMA | C_SPACE);
    if (!meas.p || ne_batch_begin(c->b, meas, NE_TS_UNSET) != 0) return NE_ENOMEM;
    int rc = parse_tags(L, &p);
    if (rc != 0) return rc;
    const char *tags_end = p;
    rc = parse_rest(L, pp, p, meas, NULL);
    if (rc == 0 && series_end && tags_end == series_end) {
        uint32_t n = (uint32_t)(series_end - s);
        struct ne_point *pt = &c->b->pts[c->b->npts - 1];
        if (c->memo) pt->hint = decode__memo_put(c->memo, h, s, n, c->b, pt);
        if (slot) sc_put(c, slot, h, s, n);
    }
    return rc;
}

/* End of the line that starts at p, by InfluxDB's rule: once past the
 * first unescaped space, a double quote that follows more '=' than ','
 * opens or closes a string, and a newline inside a string does not end the
 * line. Counts the newlines it steps over into *nl. */
static const char *line_end(const char *p, const char *end, uint32_t *nl)
{
    bool quoted = false, fields = false;
    unsigned equals = 0, commas = 0;
    while (p < end) {
        char ch = *p;
        if (ch == '\\' && p + 1 < end && p[1] != '\n') {
            p += 2;
            continue;
        }
        if (ch == ' ') fields = true;
        if (fields && !quoted && ch == '=')
            equals++;
        else if (fields && !quoted && ch == ',')
            commas++;
        else if (fields && ch == '"' && equals > commas)
            quoted = !quoted;
        if (ch == '\n') {
            if (!quoted) return p;
            (*nl)++;
        }
        p++;
    }
    return p;
}

static bool report_bad(struct lp *L, const char *line)
{
    uint32_t nl = 0;
    const char *e = line_end(line, L->end, &nl);
    const char *te = e;
    if (te > line && te[-1] == '\r') te--;
    size_t n = (size_t)(te - line);
    const char *dots = "";
    if (n > 300) {
        n = 300;
        dots = "...";
    }
    return decode__bad(L->c, L->lineno, NE_EPARSE, "unable to parse '%.*s%s': %s", (int)n, line,
                       dots, L->why);
}

/* Once the first line of a body is parsed: room in the batch for as many
 * more points as there are newlines left, each with the first point's
 * counts of tags and fields (capped by what the bytes could hold), so a
 * body of similar lines fills the batch without reallocating. Only a
 * hint: a failure is left to the appends. Returns the lines counted. */
static size_t reserve_like_first(struct decode_ctx *c, const char *p, const char *end)
{
    const struct ne_point *first = &c->b->pts[c->b->npts - 1];
    size_t lines = 0, left = (size_t)(end - p);
    for (const char *q = p; (q = memchr(q, '\n', (size_t)(end - q))) != NULL; q++)
        lines++;
    size_t tags = lines * first->ntags, fields = lines * first->nfields;
    if (tags > left / 4) tags = left / 4; /* ",k=v" */
    if (fields > left / 4) fields = left / 4; /* "k=1," */
    if (lines > UINT32_MAX / 4 || tags > UINT32_MAX / 4 || fields > UINT32_MAX / 4) return lines;
    (void)ne_batch_reserve(c->b, (uint32_t)lines, (uint32_t)tags, (uint32_t)fields);
    return lines;
}

int decode__line(struct decode_ctx *c, const char *buf, size_t len)
{
    struct lp L = {.c = c, .begin = buf, .end = buf + len, .lineno = 1};
    const char *p = buf, *end = buf + len;
    bool reserved = false;
    if (c->o->memo && !c->o->no_series_cache) {
        decode__memo_start(c->o->memo, c->o);
        c->memo = c->o->memo;
    }
    while (p < end) {
        while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
            p++;
        if (p == end) break;
        if (*p == '\n') {
            p++;
            L.lineno++;
            continue;
        }
        if (*p == '#') {
            const char *nl = memchr(p, '\n', (size_t)(end - p));
            p = nl ? nl : end;
            continue;
        }
        c->rep->records++;
        const char *line = p;
        L.extra_lines = 0;
        int rc = parse_line(&L, &p);
        if (rc == NE_ENOMEM) {
            ne_batch_abort(c->b);
            return rc;
        }
        if (rc != 0) {
            ne_batch_abort(c->b);
            if (report_bad(&L, line)) return 0;
            uint32_t nl = 0;
            p = line_end(line, end, &nl);
            L.lineno += nl;
        } else {
            L.lineno += L.extra_lines;
            if (!reserved) {
                sc_init(c, reserve_like_first(c, p, end));
                reserved = true;
            }
        }
        if (p < end && *p == '\n') {
            p++;
            L.lineno++;
        }
    }
    return 0;
}
