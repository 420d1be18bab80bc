/*
 * output.c - result writers: InfluxDB 1.x JSON, CSV and a text table.
 *
 * JSON is written as the executor streams it:
 *   {"results":[{"statement_id":0,"series":[{"name":"env","tags":{"site":"a"},
 *     "columns":["time","mean"],"values":[["2026-01-01T00:00:00Z",21.5]]}]}]}
 * A statement without series is {"statement_id":0}; one with an error
 * {"statement_id":0,"error":"..."}; a series without rows has no "values"
 * (as InfluxDB omits it). Messages of a statement (ne_qout.message, e.g. a
 * partial cluster answer) follow its series as
 * "messages":[{"level":"warning","text":"..."}], in the last chunk line
 * when chunked. Floats are printed in the shortest form
 * that reads back to the same double, without an exponent for magnitudes
 * in [1e-6, 1e21), as InfluxDB's JSON encoder prints them. Times are
 * RFC3339 with trailing fractional zeros trimmed, or integers when an
 * epoch precision is requested.
 *
 * Chunked JSON (InfluxDB's chunked=true) is one complete response per line:
 *   {"results":[{"statement_id":0,"series":[{"name":"env","columns":[..],
 *     "values":[..chunk_size rows..],"partial":true}],"partial":true}]}\n
 *   {"results":[{"statement_id":0,"series":[{..the rest..}]}]}\n
 * cut as enum ne_qchunking says: the series header is repeated in every
 * part, "partial" marks a series part that continues and a response that
 * is not the statement's last (NE_QCHUNK_ROWS only). Each line is emitted
 * as soon as it ends, so memory holds at most one chunk.
 *
 * CSV follows InfluxDB 1.x: "name,tags,time,<columns>", one header per
 * change of columns, times as integers (ns unless an epoch is given).
 * Chunked CSV is the same text, handed out every chunk_size rows and at
 * each statement's end, as InfluxDB streams it.
 * The table format (for the CLI) buffers one series to align its columns
 * and prints a statement's messages as "WARNING: text" lines; CSV has no
 * place for them.
 */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"
#include "store/query/query.h"

#define FLUSH_AT 65536

struct ne_qwriter {
    struct ne_qwriter_opts o;
    int64_t epoch_div; /* 0: RFC3339 */
    char *buf;
    size_t len, cap;
    int rc;
    bool nomem;
    /* JSON state */
    bool any_stmt, any_series, any_row, stmt_has_series;
    /* chunked JSON state */
    int stmt_id;
    enum ne_qchunking how;
    bool line_open;   /* a response line with its series array is open */
    size_t chunk_rows; /* rows in the current series part */
    char *hdr;        /* the current series' header, repeated per part */
    size_t hdr_len;
    char *msgs; /* the statement's "messages" objects, comma separated */
    size_t msgs_len;
    /* CSV state */
    char *last_header;
    const char *cur_name;
    char cur_tags[1024];
    /* table state: one series buffered as lines */
    char **tcells;
    size_t tn, tcap, tcols;
    struct ne_qout out;
};

/* ---- buffer ----------------------------------------------------------------- */

/* Makes room for n more bytes after len. False once the writer failed
 * (error or out of memory: nothing more is written). */
static bool reserve(struct ne_qwriter *w, size_t n)
{
    if (w->rc || w->nomem)
        return false;
    if (w->len + n > w->cap) {
        size_t cap = w->cap ? w->cap : 4096;
        while (cap < w->len + n)
            cap *= 2;
        char *b = ne_realloc(w->buf, cap);
        if (!b) {
            w->nomem = true;
            return false;
        }
        w->buf = b;
        w->cap = cap;
    }
    return true;
}

static void put(struct ne_qwriter *w, const char *p, size_t n)
{
    if (!reserve(w, n))
        return;
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void puts_(struct ne_qwriter *w, const char *s)
{
    put(w, s, strlen(s));
}

static int flush(struct ne_qwriter *w)
{
    if (w->nomem)
        return NE_ENOMEM;
    if (w->o.keep)
        return w->rc; /* the whole answer stays for ne_qwriter_take */
    if (w->rc == 0 && w->len)
        w->rc = w->o.emit(w->o.emit_ctx, w->buf, w->len);
    w->len = 0;
    return w->rc;
}

static int maybe_flush(struct ne_qwriter *w)
{
    if (w->nomem)
        return NE_ENOMEM;
    return w->len >= FLUSH_AT ? flush(w) : w->rc;
}

/* ---- scalars ------------------------------------------------------------------ */

/* The bytes JSON strings (and InfluxDB's HTML-safe escaping) must escape. */
static const bool json_special_tab[256] = {
    [0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1, [0x06] = 1,
    [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1, [0x0c] = 1, [0x0d] = 1,
    [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1, [0x12] = 1, [0x13] = 1, [0x14] = 1,
    [0x15] = 1, [0x16] = 1, [0x17] = 1, [0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1,
    [0x1c] = 1, [0x1d] = 1, [0x1e] = 1, [0x1f] = 1, ['"'] = 1,  ['\\'] = 1, ['<'] = 1,
    ['>'] = 1,  ['&'] = 1,
};

static bool json_special(unsigned char c)
{
    return json_special_tab[c];
}

static void put_json_string(struct ne_qwriter *w, const char *s, size_t n)
{
    size_t plain = 0;
    while (plain < n && !json_special((unsigned char)s[plain]))
        plain++;
    if (plain == n && w->len + n + 2 <= w->cap) { /* the usual case: one copy */
        char *d = w->buf + w->len;
        d[0] = '"';
        memcpy(d + 1, s, n);
        d[n + 1] = '"';
        w->len += n + 2;
        return;
    }
    put(w, "\"", 1);
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char tmp[8];
        if (c == '"')
            esc = "\\\"";
        else if (c == '\\')
            esc = "\\\\";
        else if (c == '\n')
            esc = "\\n";
        else if (c == '\r')
            esc = "\\r";
        else if (c == '\t')
            esc = "\\t";
        else if (c < 0x20 || c == '<' || c == '>' || c == '&') {
            snprintf(tmp, sizeof tmp, "\\u%04x", c);
            esc = tmp;
        }
        if (esc) {
            put(w, s + start, i - start);
            puts_(w, esc);
            start = i + 1;
        }
    }
    put(w, s + start, n - start);
    put(w, "\"", 1);
}

/* Shortest decimal digits of v that read back exactly: digits (no dot)
 * and the decimal exponent of the first digit. */
static void shortest_digits(double v, char *digits, int *exp10)
{
    char tmp[40];
    for (int p = 14; p <= 16; p++) {
        snprintf(tmp, sizeof tmp, "%.*e", p, v);
        if (strtod(tmp, NULL) == v || p == 16)
            break;
    }
    /* tmp: [-]d.ddddde[+-]XX */
    const char *q = tmp;
    if (*q == '-')
        q++;
    size_t n = 0;
    for (; *q && *q != 'e'; q++)
        if (*q != '.')
            digits[n++] = *q;
    while (n > 1 && digits[n - 1] == '0')
        n--;
    digits[n] = 0;
    *exp10 = atoi(q + 1);
}

static const double pow10_exact[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                     1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                     1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* The fewest decimals k (up to 15 significant digits in all) such that
 * some integer m reads back as v = m / 10^k: m and 10^k are exact
 * doubles (m < 10^15, k <= 22), so the division is correctly rounded
 * (Clinger's fast path) and the test is exact. For 1e-6 <= v < 1e15,
 * where Go's 'f' format prints no exponent. false: no such short form,
 * the caller takes the general path. */
static bool short_decimal(double v, uint64_t *m_out, int *k_out)
{
    if (!(v >= 1e-6 && v < 1e15))
        return false;
    for (int k = 0; k <= 21; k++) {
        double x = v * pow10_exact[k];
        if (x >= 1e15)
            return false;
        uint64_t m = (uint64_t)(x + 0.5);
        for (uint64_t c = m ? m - 1 : 0; c <= m + 1; c++) {
            if ((double)c / pow10_exact[k] == v) {
                *m_out = c;
                *k_out = k;
                return true;
            }
        }
    }
    return false;
}

/* Writes m / 10^k with k decimals (no trailing zeros: k is minimal). */
static size_t format_decimal(bool neg, uint64_t m, int k, char *out, size_t cap)
{
    char digits[24];
    int nd = 0;
    do {
        digits[nd++] = (char)('0' + m % 10);
        m /= 10;
    } while (m);
    while (nd <= k) /* a leading 0 before the point */
        digits[nd++] = '0';
    char buf[48];
    size_t w = 0;
    if (neg)
        buf[w++] = '-';
    for (int i = nd - 1; i >= 0; i--) {
        buf[w++] = digits[i];
        if (i == k && k > 0)
            buf[w++] = '.';
    }
    size_t n = w < cap ? w : (cap ? cap - 1 : 0);
    memcpy(out, buf, n);
    if (cap)
        out[n] = 0;
    return w;
}

/* Formats a float the way Go's strconv 'f'/-1 (and JSON) does. */
static size_t format_float(double v, char *out, size_t cap)
{
    if (isnan(v))
        return (size_t)snprintf(out, cap, "NaN");
    if (isinf(v))
        return (size_t)snprintf(out, cap, v > 0 ? "+Inf" : "-Inf");
    if (v == 0)
        return (size_t)snprintf(out, cap, signbit(v) ? "-0" : "0");
    uint64_t m;
    int k;
    if (short_decimal(fabs(v), &m, &k))
        return format_decimal(v < 0, m, k, out, cap);
    char d[32];
    int e;
    shortest_digits(v, d, &e);
    size_t nd = strlen(d), w = 0;
    char buf[400];
    if (v < 0)
        buf[w++] = '-';
    if (e < -6 || e >= 21) {
        buf[w++] = d[0];
        if (nd > 1) {
            buf[w++] = '.';
            memcpy(buf + w, d + 1, nd - 1);
            w += nd - 1;
        }
        /* Go: e+21, e-07 cleaned up to e-7 by the JSON encoder */
        w += (size_t)snprintf(buf + w, sizeof buf - w, e < 0 ? "e-%d" : "e+%02d", e < 0 ? -e : e);
    } else if (e < 0) {
        buf[w++] = '0';
        buf[w++] = '.';
        for (int i = -1; i > e; i--)
            buf[w++] = '0';
        memcpy(buf + w, d, nd);
        w += nd;
    } else {
        for (int i = 0; i <= e || (size_t)i < nd; i++) {
            if (i == e + 1)
                buf[w++] = '.';
            buf[w++] = (size_t)i < nd ? d[i] : '0';
        }
    }
    buf[w] = 0;
    return (size_t)snprintf(out, cap, "%s", buf);
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static size_t format_time(int64_t ns, char *out, size_t cap)
{
    int64_t secs = ns / 1000000000LL, frac = ns % 1000000000LL;
    if (frac < 0) {
        frac += 1000000000LL;
        secs--;
    }
    int64_t days = secs / 86400, rem = secs % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);
    char f[16] = "";
    if (frac) {
        snprintf(f, sizeof f, ".%09lld", (long long)frac);
        size_t fl = strlen(f);
        while (fl > 1 && f[fl - 1] == '0')
            f[--fl] = 0;
    }
    int n = snprintf(out, cap, "%04lld-%02d-%02dT%02d:%02d:%02d%sZ", (long long)y, m, d,
                     (int)(rem / 3600), (int)(rem % 3600 / 60), (int)(rem % 60), f);
    return n < 0 ? 0 : (size_t)n;
}

/* Formats a cell as text for CSV/table (strings unquoted). */
/* Decimal text of an integer (printf's "%llu" / "%lld", without its
 * cost per call). Returns the length; out holds it when cap allows. */
static size_t format_uint(uint64_t u, bool neg, char *out, size_t cap)
{
    char d[24];
    size_t n = 0;
    do {
        d[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (neg)
        d[n++] = '-';
    size_t w = 0;
    for (; w < n && w + 1 < cap; w++)
        out[w] = d[n - 1 - w];
    if (cap)
        out[w] = 0;
    return n;
}

static size_t format_int(int64_t i, char *out, size_t cap)
{
    return format_uint(i < 0 ? 0 - (uint64_t)i : (uint64_t)i, i < 0, out, cap);
}

static size_t cell_text(const struct ne_qwriter *w, const struct ne_qcell *c, char *out,
                        size_t cap, bool csv_time_ns)
{
    switch (c->type) {
    case NE_QC_NULL:
        return out[0] = 0, 0;
    case NE_QC_FLOAT:
        return format_float(c->v.f, out, cap);
    case NE_QC_INT:
        return format_int(c->v.i, out, cap);
    case NE_QC_UINT:
        return format_uint(c->v.u, false, out, cap);
    case NE_QC_BOOL:
        return (size_t)snprintf(out, cap, "%s", c->v.b ? "true" : "false");
    case NE_QC_TIME:
        if (w->epoch_div)
            return format_int(c->v.i / w->epoch_div, out, cap);
        if (csv_time_ns)
            return format_int(c->v.i, out, cap);
        return format_time(c->v.i, out, cap);
    case NE_QC_STRING: {
        size_t n = c->v.s.n < cap - 1 ? c->v.s.n : cap - 1;
        memcpy(out, c->v.s.p, n);
        out[n] = 0;
        return n;
    }
    }
    return 0;
}

/* ---- JSON ------------------------------------------------------------------------ */

static int j_begin_statement(void *ctx, int id)
{
    struct ne_qwriter *w = ctx;
    w->stmt_id = id;
    w->msgs_len = 0;
    w->how = NE_QCHUNK_ROWS;
    w->stmt_has_series = false;
    if (w->o.chunked) {
        w->any_stmt = true;
        return 0; /* the response line starts with its first series */
    }
    char b[48];
    snprintf(b, sizeof b, "%s{\"statement_id\":%d", w->any_stmt ? "," : "{\"results\":[", id);
    puts_(w, b);
    w->any_stmt = true;
    return maybe_flush(w);
}

static int j_chunking(void *ctx, enum ne_qchunking how)
{
    struct ne_qwriter *w = ctx;
    w->how = how;
    return 0;
}

/* Chunked: opens a response line for the current statement. */
static void j_open_line(struct ne_qwriter *w)
{
    char b[64];
    snprintf(b, sizeof b, "{\"results\":[{\"statement_id\":%d,\"series\":[", w->stmt_id);
    puts_(w, b);
    w->line_open = true;
}

/* Writes the statement's messages, if any: ,"messages":[...]. */
static void j_put_messages(struct ne_qwriter *w)
{
    if (!w->msgs_len)
        return;
    puts_(w, ",\"messages\":[");
    put(w, w->msgs, w->msgs_len);
    put(w, "]", 1);
}

/* Keeps {"level":..,"text":..} for the statement's end: rendered into the
 * buffer's tail, copied out, and the tail dropped again. */
static int j_message(void *ctx, const char *level, const char *text)
{
    struct ne_qwriter *w = ctx;
    size_t at = w->len;
    puts_(w, w->msgs_len ? ",{\"level\":" : "{\"level\":");
    put_json_string(w, level, strlen(level));
    puts_(w, ",\"text\":");
    put_json_string(w, text, strlen(text));
    put(w, "}", 1);
    if (w->nomem || w->rc)
        return w->nomem ? NE_ENOMEM : w->rc;
    size_t n = w->len - at;
    char *m = ne_realloc(w->msgs, w->msgs_len + n);
    if (!m)
        return NE_ENOMEM;
    memcpy(m + w->msgs_len, w->buf + at, n);
    w->msgs = m;
    w->msgs_len += n;
    w->len = at;
    return 0;
}

/* Chunked: ends the open line; partial says more follows for this
 * statement. Emits the line. */
static int j_close_line(struct ne_qwriter *w, bool partial, const char *error)
{
    put(w, "]", 1);
    if (partial)
        puts_(w, ",\"partial\":true");
    else
        j_put_messages(w);
    if (error) {
        puts_(w, ",\"error\":");
        put_json_string(w, error, strlen(error));
    }
    puts_(w, "}]}\n");
    w->line_open = false;
    return flush(w);
}

/* Chunked: the current series continues in a new response line. */
static int j_cut_series(struct ne_qwriter *w)
{
    puts_(w, "],\"partial\":true}");
    int rc = j_close_line(w, true, NULL);
    j_open_line(w);
    put(w, w->hdr, w->hdr_len);
    w->any_row = false;
    w->chunk_rows = 0;
    return rc;
}

/* Keeps a copy of the series header just written (from offset at). */
static int j_keep_header(struct ne_qwriter *w, size_t at)
{
    if (w->nomem || w->rc)
        return w->nomem ? NE_ENOMEM : w->rc;
    size_t n = w->len - at;
    char *h = ne_realloc(w->hdr, n ? n : 1);
    if (!h)
        return NE_ENOMEM;
    memcpy(h, w->buf + at, n);
    w->hdr = h;
    w->hdr_len = n;
    return 0;
}

static int j_begin_series(void *ctx, const char *name, const struct ne_tag *tags, size_t ntags,
                          const char *const *cols, size_t ncols)
{
    struct ne_qwriter *w = ctx;
    size_t at = 0;
    if (w->o.chunked) {
        int rc = w->line_open ? j_close_line(w, w->how == NE_QCHUNK_ROWS, NULL) : 0;
        if (rc)
            return rc;
        j_open_line(w);
        at = w->len;
        put(w, "{", 1);
        w->chunk_rows = 0;
    } else {
        puts_(w, w->stmt_has_series ? ",{" : ",\"series\":[{");
    }
    w->stmt_has_series = true;
    bool comma = false;
    if (name) {
        puts_(w, "\"name\":");
        put_json_string(w, name, strlen(name));
        comma = true;
    }
    if (ntags) {
        puts_(w, comma ? ",\"tags\":{" : "\"tags\":{");
        for (size_t i = 0; i < ntags; i++) {
            if (i)
                put(w, ",", 1);
            put_json_string(w, tags[i].key.p, tags[i].key.n);
            put(w, ":", 1);
            put_json_string(w, tags[i].val.p, tags[i].val.n);
        }
        put(w, "}", 1);
        comma = true;
    }
    puts_(w, comma ? ",\"columns\":[" : "\"columns\":[");
    for (size_t i = 0; i < ncols; i++) {
        if (i)
            put(w, ",", 1);
        put_json_string(w, cols[i], strlen(cols[i]));
    }
    put(w, "]", 1);
    w->any_row = false;
    if (w->o.chunked) {
        int rc = j_keep_header(w, at);
        if (rc)
            return rc;
    }
    return maybe_flush(w);
}

#define BYTES1 0x0101010101010101ull
#define BYTES80 0x8080808080808080ull

/* Zero if none of the eight bytes of x is one json_special escapes and
 * all are ASCII; else non-zero ("maybe special": a byte from 0x80 up is
 * flagged too, and the caller takes the exact byte by byte path). A byte subtracted below zero
 * sets its top bit, so b - c sets it for every byte under c, and for the
 * equality tests (b ^ c) - 1 sets it where b == c; '"' and '&' differ only
 * in bit 2 and '<' and '>' only in bit 1, so each pair is one test. A
 * borrow carried into the next byte only comes from a byte already
 * flagged. */
static inline uint64_t word_unsure(uint64_t x)
{
    return (x | (x - BYTES1 * 0x20) | (((x | BYTES1 * 0x04) ^ BYTES1 * '&') - BYTES1) |
            (((x | BYTES1 * 0x02) ^ BYTES1 * '>') - BYTES1) | ((x ^ BYTES1 * '\\') - BYTES1)) &
           BYTES80;
}

#if defined(__GNUC__)
typedef unsigned char u8x16 __attribute__((vector_size(16)));
typedef signed char s8x16 __attribute__((vector_size(16)));

/* word_unsure(a) | word_unsure(b) in 16 byte lanes at once (SSE2 on
 * x86-64, NEON on ARM): a lane is flagged when its byte is under 0x20 or
 * from 0x80 up (one signed compare), or is one of '"' '&' '<' '>' '\'.
 * Zero when neither word needs escaping; else non-zero. */
static inline uint64_t pair_unsure(uint64_t a, uint64_t b)
{
    uint64_t w[2] = {a, b};
    u8x16 x;
    memcpy(&x, w, sizeof x);
    s8x16 m = ((s8x16)x < 0x20) | ((x | 0x04) == '&') | ((x | 0x02) == '>') | (x == '\\');
    memcpy(w, &m, sizeof w);
    return w[0] | w[1];
}
#else
static inline uint64_t pair_unsure(uint64_t a, uint64_t b)
{
    return word_unsure(a) | word_unsure(b);
}
#endif

/* Copies the n bytes of s to d; false (d then partly written) at the
 * first byte JSON or InfluxDB's HTML-safe escaping must escape. */
static bool copy_plain_bytes(char *d, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (json_special(c))
            return false;
        d[i] = (char)c;
    }
    return true;
}

/* copy_plain_bytes for n > 16, sixteen bytes at a time; the last 16
 * may overlap bytes already copied. */
static bool copy_plain_long(char *d, const char *s, size_t n)
{
    uint64_t x, y;
    for (size_t i = 0; i + 16 < n; i += 16) {
        memcpy(&x, s + i, 8);
        memcpy(&y, s + i + 8, 8);
        if (pair_unsure(x, y))
            return copy_plain_bytes(d, s, n);
        memcpy(d + i, &x, 8);
        memcpy(d + i + 8, &y, 8);
    }
    memcpy(&x, s + n - 16, 8);
    memcpy(&y, s + n - 8, 8);
    if (pair_unsure(x, y))
        return copy_plain_bytes(d, s, n);
    memcpy(d + n - 16, &x, 8);
    memcpy(d + n - 8, &y, 8);
    return true;
}

/* copy_plain_bytes, a word at a time: a string of 4 to 16 bytes is two
 * words that may overlap (bytes checked twice are harmless), checked
 * together. A word word_unsure flags sends the whole string to the byte
 * by byte check. */
static inline bool copy_plain(char *d, const char *s, size_t n)
{
    if (n > 16)
        return copy_plain_long(d, s, n);
    if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        if (pair_unsure(a, b))
            return copy_plain_bytes(d, s, n);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
        return true;
    }
    if (n >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, s, 4);
        memcpy(&hi, s + n - 4, 4);
        if (word_unsure(lo | (uint64_t)hi << 32))
            return copy_plain_bytes(d, s, n);
        memcpy(d, &lo, 4);
        memcpy(d + n - 4, &hi, 4);
        return true;
    }
    return copy_plain_bytes(d, s, n);
}

/* A row of strings none of which needs escaping (the rows of the SHOW
 * statements), written with one reservation and no calls per cell. False
 * when the row is not such a row or the writer failed: nothing is then
 * written and the general path writes it (or sees the failure). */
static bool j_row_plain(struct ne_qwriter *w, const struct ne_qcell *cells, size_t n)
{
    static const char first[] = ",\"values\":[[", next[] = ",[";
    size_t need = sizeof first + 1;
    for (size_t i = 0; i < n; i++) {
        if (cells[i].type != NE_QC_STRING)
            return false;
        need += cells[i].v.s.n + 3;
    }
    if (!reserve(w, need))
        return false;
    char *d = w->buf + w->len;
    const char *open = w->any_row ? next : first;
    size_t on = w->any_row ? sizeof next - 1 : sizeof first - 1;
    memcpy(d, open, on);
    d += on;
    for (size_t i = 0; i < n; i++) {
        if (i)
            *d++ = ',';
        *d++ = '"';
        if (!copy_plain(d, cells[i].v.s.p, cells[i].v.s.n))
            return false;
        d += cells[i].v.s.n;
        *d++ = '"';
    }
    *d++ = ']';
    w->len = (size_t)(d - w->buf);
    w->any_row = true;
    return true;
}

static int j_row(void *ctx, const struct ne_qcell *cells, size_t n)
{
    struct ne_qwriter *w = ctx;
    if (w->o.chunked && w->how == NE_QCHUNK_ROWS && w->chunk_rows == w->o.chunk_size) {
        int rc = j_cut_series(w);
        if (rc)
            return rc;
    }
    w->chunk_rows++;
    if (j_row_plain(w, cells, n))
        return maybe_flush(w);
    puts_(w, w->any_row ? ",[" : ",\"values\":[[");
    w->any_row = true;
    char b[400];
    for (size_t i = 0; i < n; i++) {
        if (i)
            put(w, ",", 1);
        const struct ne_qcell *c = &cells[i];
        switch (c->type) {
        case NE_QC_NULL:
            puts_(w, "null");
            break;
        case NE_QC_STRING:
            put_json_string(w, c->v.s.p, c->v.s.n);
            break;
        case NE_QC_TIME:
            if (!w->epoch_div) {
                size_t k = format_time(c->v.i, b, sizeof b);
                put(w, "\"", 1);
                put(w, b, k);
                put(w, "\"", 1);
                break;
            }
            /* fallthrough */
        default:
            if (c->type == NE_QC_FLOAT && (isnan(c->v.f) || isinf(c->v.f))) {
                puts_(w, "null"); /* JSON has no NaN/Inf */
                break;
            }
            put(w, b, cell_text(w, c, b, sizeof b, false));
        }
    }
    put(w, "]", 1);
    return maybe_flush(w);
}

/* rows_str2 row by row through j_row. */
static int j_rows_str2_each(struct ne_qwriter *w, struct ne_sv first, const struct ne_sv *second,
                            size_t n)
{
    struct ne_qcell c[2] = {{.type = NE_QC_STRING, .v.s = first}, {.type = NE_QC_STRING}};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        c[1].v.s = second[i];
        rc = j_row(w, c, 2);
    }
    return rc;
}

/* Rows of two strings whose first is the same on every row (SHOW TAG
 * VALUES): that cell is checked and laid out once as the row's opening
 * ["first"," and copied per row in fixed-size moves; each second string
 * is checked and copied a word at a time, straight into the buffer, which
 * is grown once for the whole run. The series' first row, a row whose
 * second string needs escaping, and all rows when the first string does,
 * is long, or the answer is cut by rows, go through j_row. */
static int j_rows_str2(void *ctx, struct ne_sv first, const struct ne_sv *second, size_t n)
{
    enum { PRE = 64 };
    struct ne_qwriter *w = ctx;
    char pre[PRE] = {0};
    size_t pn = first.n + 5;
    if ((w->o.chunked && w->how == NE_QCHUNK_ROWS) || pn > PRE ||
        !copy_plain(pre + 2, first.p, first.n))
        return j_rows_str2_each(w, first, second, n);
    if (n && !w->any_row) { /* opens "values" */
        int rc = j_rows_str2_each(w, first, second, 1);
        if (rc)
            return rc;
        second++;
        n--;
    }
    memcpy(pre, "[\"", 2);
    memcpy(pre + 2 + first.n, "\",\"", 3);
    /* a row: ',', 16 or PRE bytes moved whole (pn of them kept), value, "] */
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += 1 + pn + second[i].n + 2;
    if (!w->o.keep && total > FLUSH_AT) /* emitted as it goes: bounded */
        total = FLUSH_AT;
    if (!reserve(w, total + PRE))
        return w->nomem ? NE_ENOMEM : w->rc;
    char *d = w->buf + w->len;
    for (size_t i = 0; i < n; i++) {
        size_t vn = second[i].n;
        if ((size_t)(w->buf + w->cap - d) < 1 + PRE + vn + 2) {
            w->len = (size_t)(d - w->buf);
            int rc = w->len >= FLUSH_AT ? flush(w) : 0;
            if (rc)
                return rc;
            if (!reserve(w, 1 + PRE + vn + 2))
                return w->nomem ? NE_ENOMEM : w->rc;
            d = w->buf + w->len;
        }
        d[0] = ',';
        if (pn <= 16) /* the usual key: one 16-byte move */
            memcpy(d + 1, pre, 16);
        else
            memcpy(d + 1, pre, PRE);
        char *v = d + 1 + pn;
        if (!copy_plain(v, second[i].p, vn)) {
            w->len = (size_t)(d - w->buf);
            int rc = j_rows_str2_each(w, first, second + i, 1);
            if (rc)
                return rc;
            d = w->buf + w->len;
            continue;
        }
        v[vn] = '"';
        v[vn + 1] = ']';
        d = v + vn + 2;
        w->chunk_rows++;
    }
    w->len = (size_t)(d - w->buf);
    return maybe_flush(w);
}

static int j_end_series(void *ctx)
{
    struct ne_qwriter *w = ctx;
    puts_(w, w->any_row ? "]}" : "}");
    return maybe_flush(w);
}

static int j_end_statement(void *ctx, const char *error)
{
    struct ne_qwriter *w = ctx;
    if (w->o.chunked) {
        if (w->line_open)
            return j_close_line(w, false, error);
        char b[48];
        snprintf(b, sizeof b, "{\"results\":[{\"statement_id\":%d", w->stmt_id);
        puts_(w, b);
        j_put_messages(w);
        if (error) {
            puts_(w, ",\"error\":");
            put_json_string(w, error, strlen(error));
        }
        puts_(w, "}]}\n");
        return flush(w);
    }
    if (w->stmt_has_series)
        put(w, "]", 1);
    j_put_messages(w);
    if (error) {
        puts_(w, ",\"error\":");
        put_json_string(w, error, strlen(error));
    }
    put(w, "}", 1);
    return maybe_flush(w);
}

/* ---- CSV ----------------------------------------------------------------------------- */

static void put_csv_field(struct ne_qwriter *w, const char *s, size_t n)
{
    bool quote = memchr(s, ',', n) || memchr(s, '"', n) || memchr(s, '\n', n);
    if (!quote) {
        put(w, s, n);
        return;
    }
    put(w, "\"", 1);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '"')
            put(w, "\"", 1);
        put(w, s + i, 1);
    }
    put(w, "\"", 1);
}

static int c_begin_statement(void *ctx, int id)
{
    struct ne_qwriter *w = ctx;
    if (w->any_stmt && w->any_series)
        put(w, "\n", 1);
    w->any_stmt = true;
    return maybe_flush(w);
}

static int c_begin_series(void *ctx, const char *name, const struct ne_tag *tags, size_t ntags,
                          const char *const *cols, size_t ncols)
{
    struct ne_qwriter *w = ctx;
    char header[4096];
    size_t h = (size_t)snprintf(header, sizeof header, "name,tags");
    for (size_t i = 0; i < ncols && h < sizeof header; i++)
        h += (size_t)snprintf(header + h, sizeof header - h, ",%s", cols[i]);
    if (!w->last_header || strcmp(w->last_header, header) != 0) {
        puts_(w, header);
        put(w, "\n", 1);
        ne_free(w->last_header);
        w->last_header = ne_strdup(header);
    }
    w->cur_name = name ? name : "";
    size_t t = 0;
    w->cur_tags[0] = 0;
    for (size_t i = 0; i < ntags && t < sizeof w->cur_tags; i++)
        t += (size_t)snprintf(w->cur_tags + t, sizeof w->cur_tags - t, "%s%.*s=%.*s",
                              i ? "," : "", (int)tags[i].key.n, tags[i].key.p,
                              (int)tags[i].val.n, tags[i].val.p);
    w->any_series = true;
    return maybe_flush(w);
}

static int c_row(void *ctx, const struct ne_qcell *cells, size_t n)
{
    struct ne_qwriter *w = ctx;
    put_csv_field(w, w->cur_name, strlen(w->cur_name));
    put(w, ",", 1);
    put_csv_field(w, w->cur_tags, strlen(w->cur_tags));
    char b[400];
    for (size_t i = 0; i < n; i++) {
        put(w, ",", 1);
        size_t k = cell_text(w, &cells[i], b, sizeof b, true);
        if (cells[i].type == NE_QC_STRING)
            put_csv_field(w, cells[i].v.s.p, cells[i].v.s.n);
        else
            put(w, b, k);
    }
    put(w, "\n", 1);
    if (w->o.chunked && ++w->chunk_rows == w->o.chunk_size) {
        w->chunk_rows = 0;
        return flush(w); /* one chunk of rows goes out as it is complete */
    }
    return maybe_flush(w);
}

static int c_end_series(void *ctx)
{
    return 0;
}

static int c_end_statement(void *ctx, const char *error)
{
    struct ne_qwriter *w = ctx;
    if (error) {
        puts_(w, "error\n");
        put_csv_field(w, error, strlen(error));
        put(w, "\n", 1);
    }
    return w->o.chunked ? flush(w) : maybe_flush(w);
}

/* ---- table ------------------------------------------------------------------------------ */

static int t_push(struct ne_qwriter *w, const char *s)
{
    if (w->tn == w->tcap) {
        size_t cap = w->tcap ? w->tcap * 2 : 64;
        char **v = ne_realloc(w->tcells, cap * sizeof *v);
        if (!v)
            return NE_ENOMEM;
        w->tcells = v;
        w->tcap = cap;
    }
    w->tcells[w->tn] = ne_strdup(s);
    if (!w->tcells[w->tn])
        return NE_ENOMEM;
    w->tn++;
    return 0;
}

static int t_begin_series(void *ctx, const char *name, const struct ne_tag *tags, size_t ntags,
                          const char *const *cols, size_t ncols)
{
    struct ne_qwriter *w = ctx;
    if (w->any_series)
        put(w, "\n", 1);
    w->any_series = true;
    if (name) {
        puts_(w, "name: ");
        puts_(w, name);
        put(w, "\n", 1);
    }
    if (ntags) {
        puts_(w, "tags: ");
        for (size_t i = 0; i < ntags; i++) {
            char b[512];
            snprintf(b, sizeof b, "%s%.*s=%.*s", i ? ", " : "", (int)tags[i].key.n,
                     tags[i].key.p, (int)tags[i].val.n, tags[i].val.p);
            puts_(w, b);
        }
        put(w, "\n", 1);
    }
    w->tcols = ncols;
    for (size_t i = 0; i < ncols; i++)
        if (t_push(w, cols[i]))
            return NE_ENOMEM;
    for (size_t i = 0; i < ncols; i++) {
        char dash[256];
        size_t n = strlen(cols[i]) < sizeof dash - 1 ? strlen(cols[i]) : sizeof dash - 1;
        memset(dash, '-', n);
        dash[n] = 0;
        if (t_push(w, dash))
            return NE_ENOMEM;
    }
    return 0;
}

static int t_row(void *ctx, const struct ne_qcell *cells, size_t n)
{
    struct ne_qwriter *w = ctx;
    char b[400];
    for (size_t i = 0; i < n; i++) {
        cell_text(w, &cells[i], b, sizeof b, false);
        if (t_push(w, b))
            return NE_ENOMEM;
    }
    return 0;
}

static int t_end_series(void *ctx)
{
    struct ne_qwriter *w = ctx;
    size_t widths[256] = {0};
    size_t nc = w->tcols < 256 ? w->tcols : 256;
    for (size_t i = 0; i < w->tn; i++) {
        size_t c = i % w->tcols;
        if (c < nc && strlen(w->tcells[i]) > widths[c])
            widths[c] = strlen(w->tcells[i]);
    }
    for (size_t i = 0; i < w->tn; i++) {
        size_t c = i % w->tcols;
        puts_(w, w->tcells[i]);
        if (c + 1 == w->tcols) {
            put(w, "\n", 1);
        } else {
            size_t pad = (c < nc ? widths[c] : 0) - strlen(w->tcells[i]) + 1;
            for (size_t k = 0; k < pad; k++)
                put(w, " ", 1);
        }
        ne_free(w->tcells[i]);
    }
    w->tn = 0;
    return maybe_flush(w);
}

/* A message after the statement's tables: "WARNING: text". */
static int t_message(void *ctx, const char *level, const char *text)
{
    struct ne_qwriter *w = ctx;
    char up[16];
    size_t n = 0;
    for (; level[n] && n < sizeof up; n++)
        up[n] = (char)toupper((unsigned char)level[n]);
    put(w, up, n);
    puts_(w, ": ");
    puts_(w, text);
    put(w, "\n", 1);
    return maybe_flush(w);
}

static int t_end_statement(void *ctx, const char *error)
{
    struct ne_qwriter *w = ctx;
    if (error) {
        puts_(w, "ERR: ");
        puts_(w, error);
        put(w, "\n", 1);
    }
    return maybe_flush(w);
}

static int t_begin_statement(void *ctx, int id)
{
    return 0;
}

/* ---- public --------------------------------------------------------------------------- */

static int epoch_divisor(const char *e, int64_t *out)
{
    if (!e || !*e) {
        *out = 0;
        return 0;
    }
    static const struct {
        const char *n;
        int64_t d;
    } units[] = {{"ns", 1}, {"n", 1}, {"u", 1000}, {"\xc2\xb5", 1000}, {"us", 1000},
                 {"ms", 1000000}, {"s", 1000000000LL}, {"m", 60000000000LL},
                 {"h", 3600000000000LL}};
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(units[i].n, e) == 0) {
            *out = units[i].d;
            return 0;
        }
    return NE_EINVAL;
}

int ne_qwriter_new(const struct ne_qwriter_opts *o, struct ne_qwriter **out)
{
    int64_t div;
    if (!o || (o->keep ? o->chunked : !o->emit) || epoch_divisor(o->epoch, &div))
        return NE_EINVAL;
    struct ne_qwriter *w = ne_calloc(1, sizeof *w);
    if (!w)
        return NE_ENOMEM;
    w->o = *o;
    w->o.chunked = o->chunked && (o->format == NE_QFMT_JSON || o->format == NE_QFMT_CSV);
    if (!w->o.chunk_size)
        w->o.chunk_size = 10000; /* InfluxDB's default */
    w->epoch_div = div;
    w->out.ctx = w;
    switch (o->format) {
    case NE_QFMT_CSV:
        w->out.begin_statement = c_begin_statement;
        w->out.begin_series = c_begin_series;
        w->out.row = c_row;
        w->out.end_series = c_end_series;
        w->out.end_statement = c_end_statement;
        break;
    case NE_QFMT_TABLE:
        w->out.begin_statement = t_begin_statement;
        w->out.begin_series = t_begin_series;
        w->out.row = t_row;
        w->out.end_series = t_end_series;
        w->out.end_statement = t_end_statement;
        w->out.message = t_message;
        break;
    default:
        w->out.begin_statement = j_begin_statement;
        w->out.chunking = j_chunking;
        w->out.begin_series = j_begin_series;
        w->out.row = j_row;
        w->out.rows_str2 = j_rows_str2;
        w->out.end_series = j_end_series;
        w->out.end_statement = j_end_statement;
        w->out.message = j_message;
    }
    *out = w;
    return 0;
}

const struct ne_qout *ne_qwriter_out(struct ne_qwriter *w)
{
    return &w->out;
}

int ne_qwriter_finish(struct ne_qwriter *w)
{
    if (w->o.format == NE_QFMT_JSON && !(w->o.chunked && w->any_stmt))
        puts_(w, w->any_stmt ? "]}\n" : "{\"results\":[]}\n");
    return flush(w);
}

int ne_qwriter_take(struct ne_qwriter *w, char **p, size_t *n)
{
    *p = NULL;
    *n = 0;
    if (w->nomem)
        return NE_ENOMEM;
    if (w->rc)
        return w->rc;
    if (w->len) {
        *p = w->buf;
        *n = w->len;
        w->buf = NULL;
        w->len = w->cap = 0;
    }
    return 0;
}

void ne_qwriter_free(struct ne_qwriter **wp)
{
    if (!wp || !*wp)
        return;
    struct ne_qwriter *w = *wp;
    for (size_t i = 0; i < w->tn; i++)
        ne_free(w->tcells[i]);
    ne_free(w->tcells);
    ne_free(w->last_header);
    ne_free(w->hdr);
    ne_free(w->msgs);
    ne_free(w->buf);
    ne_free(w);
    *wp = NULL;
}

size_t ne_query_format_float(double v, char *out, size_t cap)
{
    return format_float(v, out, cap);
}
size_t ne_query_format_time(int64_t ns, char *out, size_t cap)
{
    return format_time(ns, out, cap);
}
