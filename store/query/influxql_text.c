/*
 * influxql_text.c - InfluxQL literals and text: duration literals
 * ("1h30m", "500ms", "1w"), RFC3339 times, and formatting an expression
 * back to InfluxQL.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ports/err.h"
#include "store/point.h"
#include "store/query/influxql.h"

/* ---- literals ------------------------------------------------------------------ */

int ne_iql_parse_duration(const char *s, size_t len, int64_t *out_ns)
{
    const char *p = s, *end = s + len;
    int64_t total = 0;
    if (p == end)
        return NE_EPARSE;
    while (p < end) {
        if (!isdigit((unsigned char)*p))
            return NE_EPARSE;
        int64_t v = 0;
        while (p < end && isdigit((unsigned char)*p)) {
            if (v > (INT64_MAX - 9) / 10)
                return NE_ERANGE;
            v = v * 10 + (*p++ - '0');
        }
        int64_t unit;
        if (end - p >= 2 && p[0] == 'n' && p[1] == 's') {
            unit = 1;
            p += 2;
        } else if (end - p >= 2 && p[0] == 'm' && p[1] == 's') {
            unit = 1000000;
            p += 2;
        } else if (end - p >= 2 && (unsigned char)p[0] == 0xC2 && (unsigned char)p[1] == 0xB5) {
            unit = 1000; /* µ */
            p += 2;
        } else if (p < end && *p == 'u') {
            unit = 1000;
            p++;
        } else if (p < end && *p == 's') {
            unit = 1000000000LL;
            p++;
        } else if (p < end && *p == 'm') {
            unit = 60LL * 1000000000LL;
            p++;
        } else if (p < end && *p == 'h') {
            unit = 3600LL * 1000000000LL;
            p++;
        } else if (p < end && *p == 'd') {
            unit = 86400LL * 1000000000LL;
            p++;
        } else if (p < end && *p == 'w') {
            unit = 7 * 86400LL * 1000000000LL;
            p++;
        } else {
            return NE_EPARSE;
        }
        if (v > INT64_MAX / unit || total > INT64_MAX - v * unit)
            return NE_ERANGE;
        total += v * unit;
    }
    *out_ns = total;
    return 0;
}

static int digits(const char **pp, const char *end, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (*pp >= end || !isdigit((unsigned char)**pp))
            return -1;
        v = v * 10 + (*(*pp)++ - '0');
    }
    *out = v;
    return 0;
}

int ne_iql_parse_time(const char *s, int64_t *out_ns)
{
    const char *p = s, *end = s + strlen(s);
    int Y, M, D, h = 0, mi = 0, sec = 0;
    if (digits(&p, end, 4, &Y) || p >= end || *p++ != '-' || digits(&p, end, 2, &M) ||
        p >= end || *p++ != '-' || digits(&p, end, 2, &D))
        return NE_EPARSE;
    int64_t frac = 0;
    int64_t tz = 0;
    if (p < end && (*p == 'T' || *p == ' ')) {
        p++;
        if (digits(&p, end, 2, &h) || p >= end || *p++ != ':' || digits(&p, end, 2, &mi) ||
            p >= end || *p++ != ':' || digits(&p, end, 2, &sec))
            return NE_EPARSE;
        if (p < end && *p == '.') {
            p++;
            int n = 0;
            while (p < end && isdigit((unsigned char)*p)) {
                if (n < 9) {
                    frac = frac * 10 + (*p - '0');
                    n++;
                }
                p++;
            }
            if (n == 0)
                return NE_EPARSE;
            while (n++ < 9)
                frac *= 10;
        }
        if (p < end && (*p == 'Z' || *p == 'z')) {
            p++;
        } else if (p < end && (*p == '+' || *p == '-')) {
            int sign = *p++ == '-' ? -1 : 1, th, tm;
            if (digits(&p, end, 2, &th) || p >= end || *p++ != ':' || digits(&p, end, 2, &tm))
                return NE_EPARSE;
            tz = sign * ((int64_t)th * 3600 + tm * 60);
        }
    }
    if (p != end || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || mi > 59 || sec > 60)
        return NE_EPARSE;
    int64_t days = ne_days_from_civil(Y, M, D);
    int64_t secs = days * 86400 + h * 3600 + mi * 60 + sec - tz;
    if (secs > INT64_MAX / 1000000000LL || secs < INT64_MIN / 1000000000LL)
        return NE_ERANGE;
    *out_ns = secs * 1000000000LL + frac;
    return 0;
}

/* ---- formatting -------------------------------------------------------------- */

struct fmtbuf {
    char *p;
    size_t n, len;
};

static void fput(struct fmtbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fput(struct fmtbuf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = b->len < b->n ? b->n - b->len : 0;
    int k = vsnprintf(room ? b->p + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (k > 0)
        b->len += (size_t)k;
}

static const char *op_text(enum ne_iql_op op)
{
    static const char *const t[] = {"", "+", "-", "*", "/", "%", "=", "!=", "<", "<=", ">",
                                    ">=", "=~", "!~", "AND", "OR", "&", "|", "^"};
    return (size_t)op < sizeof t / sizeof t[0] ? t[op] : "?";
}

static void fmt_expr(struct fmtbuf *b, const struct ne_iql_expr *e)
{
    switch (e->kind) {
    case NE_IQL_NUMBER:
        fput(b, "%.17g", e->num);
        break;
    case NE_IQL_INTEGER:
        fput(b, "%lld", (long long)e->ival);
        break;
    case NE_IQL_STRING:
        fput(b, "'%s'", e->str);
        break;
    case NE_IQL_DURATION:
        fput(b, "%lldns", (long long)e->ival);
        break;
    case NE_IQL_REGEX:
        fput(b, "/%s/", e->str);
        break;
    case NE_IQL_BOOL:
        fput(b, "%s", e->ival ? "true" : "false");
        break;
    case NE_IQL_REF:
        fput(b, "%s", e->str);
        break;
    case NE_IQL_WILDCARD:
        fput(b, "*");
        break;
    case NE_IQL_NOW:
        fput(b, "now()");
        break;
    case NE_IQL_CALL:
        fput(b, "%s(", e->str);
        for (size_t i = 0; i < e->nargs; i++) {
            if (i)
                fput(b, ", ");
            fmt_expr(b, e->args[i]);
        }
        fput(b, ")");
        break;
    case NE_IQL_PAREN:
        fput(b, "(");
        fmt_expr(b, e->lhs);
        fput(b, ")");
        break;
    case NE_IQL_BINARY:
        fmt_expr(b, e->lhs);
        fput(b, " %s ", op_text(e->op));
        fmt_expr(b, e->rhs);
        break;
    }
}

size_t ne_iql_expr_format(const struct ne_iql_expr *e, char *buf, size_t n)
{
    struct fmtbuf b = {buf, n, 0};
    if (n)
        buf[0] = 0;
    fmt_expr(&b, e);
    return b.len;
}
