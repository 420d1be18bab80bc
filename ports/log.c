/*
 * log.c - leveled log lines in logfmt or JSON on stderr.
 *
 * Line layouts (one line per call, '\n'-terminated):
 *   logfmt: ts=2026-01-01T00:00:00.123Z level=info mod=store msg="segment sealed" id=42
 *   JSON:   {"ts":"2026-01-01T00:00:00.123Z","level":"info","mod":"store","msg":"...","id":"42"}
 *
 * Invariants:
 *  - A whole line is built in memory and handed to one write(2), so lines
 *    from concurrent threads never interleave (pipes and files opened with
 *    O_APPEND keep writes of this size whole).
 *  - logfmt values are bare when they hold no space, '=', '"', control byte
 *    or DEL, and are otherwise double-quoted with \" \\ \n \r \t and \xNN
 *    escapes. Keys are made valid by replacing such bytes with '_'.
 *  - JSON strings escape '"', '\\' and every control byte (\uXXXX).
 *  - The logger never allocates through ne_malloc, so fault injection of
 *    allocations is not perturbed by logging; a line longer than the stack
 *    buffer falls back to libc malloc, and is truncated if that fails.
 *  - Timestamps come from ne_time_wall_ns (UTC, milliseconds), so tests that
 *    inject the wall clock get deterministic lines.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ports/log.h"
#include "ports/platform.h"
#include "ports/ports_internal.h"

static _Atomic int g_level = NE_LOG_INFO;
static _Atomic int g_json;
static _Atomic int g_fd = 2;

static const char *const level_names[] = {"debug", "info", "warn", "error", "off"};

void ne_log_set_level(enum ne_log_level lvl)
{
    if ((unsigned)lvl <= NE_LOG_OFF) atomic_store(&g_level, (int)lvl);
}

enum ne_log_level ne_log_get_level(void)
{
    return (enum ne_log_level)atomic_load(&g_level);
}

void ne_log_set_json(int json)
{
    atomic_store(&g_json, json ? 1 : 0);
}

int ne_log_level_parse(const char *s, enum ne_log_level *out)
{
    if (!s) return NE_EINVAL;
    for (int i = 0; i <= NE_LOG_OFF; i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum ne_log_level)i;
            return 0;
        }
    }
    if (strcmp(s, "warning") == 0) {
        *out = NE_LOG_WARN;
        return 0;
    }
    return NE_EINVAL;
}

void ports__log_set_fd(int fd)
{
    atomic_store(&g_fd, fd < 0 ? 2 : fd);
}

/* ---- line buffer ------------------------------------------------------------ */

struct line {
    char *p;
    size_t len, cap;
    bool heap, truncated;
    char stack[1024];
};

static void line_init(struct line *l)
{
    l->p = l->stack;
    l->len = 0;
    l->cap = sizeof l->stack;
    l->heap = false;
    l->truncated = false;
}

static bool line_reserve(struct line *l, size_t more)
{
    if (l->len + more <= l->cap) return true;
    if (l->truncated) return false;
    size_t cap = l->cap * 2;
    while (cap < l->len + more)
        cap *= 2;
    char *np = l->heap ? realloc(l->p, cap) : malloc(cap);
    if (!np) {
        l->truncated = true;
        return false;
    }
    if (!l->heap) memcpy(np, l->p, l->len);
    l->p = np;
    l->cap = cap;
    l->heap = true;
    return true;
}

static void put(struct line *l, const char *s, size_t n)
{
    if (!line_reserve(l, n + 1)) return;
    memcpy(l->p + l->len, s, n);
    l->len += n;
}

static void puts_(struct line *l, const char *s)
{
    put(l, s, strlen(s));
}

static void putc_(struct line *l, char c)
{
    put(l, &c, 1);
}

/* ---- quoting ----------------------------------------------------------------- */

static bool logfmt_plain(unsigned char c)
{
    return c > ' ' && c != '=' && c != '"' && c != 0x7f;
}

static bool logfmt_needs_quotes(const char *s)
{
    if (*s == '\0') return true;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (!logfmt_plain(*p)) return true;
    return false;
}

static void put_escaped(struct line *l, const char *s, bool json)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        char esc[8];
        switch (c) {
        case '"':
            puts_(l, "\\\"");
            break;
        case '\\':
            puts_(l, "\\\\");
            break;
        case '\n':
            puts_(l, "\\n");
            break;
        case '\r':
            puts_(l, "\\r");
            break;
        case '\t':
            puts_(l, "\\t");
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                snprintf(esc, sizeof esc, json ? "\\u%04x" : "\\x%02x", c);
                puts_(l, esc);
            } else {
                putc_(l, (char)c);
            }
        }
    }
}

static void put_key(struct line *l, const char *k, bool json, bool first)
{
    if (json) {
        puts_(l, first ? "\"" : ",\"");
        put_escaped(l, k, true);
        puts_(l, "\":");
        return;
    }
    if (!first) putc_(l, ' ');
    if (*k == '\0') putc_(l, '_');
    for (const unsigned char *p = (const unsigned char *)k; *p; p++)
        putc_(l, logfmt_plain(*p) ? (char)*p : '_');
    putc_(l, '=');
}

static void put_value(struct line *l, const char *v, bool json)
{
    if (!v) v = "";
    if (json || logfmt_needs_quotes(v)) {
        putc_(l, '"');
        put_escaped(l, v, json);
        putc_(l, '"');
    } else {
        puts_(l, v);
    }
}

static void put_pair(struct line *l, const char *k, const char *v, bool json, bool first)
{
    put_key(l, k, json, first);
    put_value(l, v, json);
}

static void format_ts(char *buf, size_t n)
{
    int64_t ns = ne_time_wall_ns();
    if (ns < 0) ns = 0;
    time_t secs = (time_t)(ns / 1000000000);
    int ms = (int)((ns / 1000000) % 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    snprintf(buf, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

static void write_line(const struct line *l)
{
    int fd = atomic_load(&g_fd);
    size_t off = 0;
    while (off < l->len) {
        ssize_t w = write(fd, l->p + off, l->len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return;
        off += (size_t)w;
    }
}

/* Builds and writes one line; kv is the NULL-ended key/value list or NULL. */
static void emit(enum ne_log_level lvl, const char *mod, const char *msg, va_list *kv)
{
    bool json = atomic_load_explicit(&g_json, memory_order_relaxed);
    char ts[80];
    format_ts(ts, sizeof ts);
    struct line l;
    line_init(&l);
    if (json) putc_(&l, '{');
    put_pair(&l, "ts", ts, json, true);
    put_pair(&l, "level", level_names[lvl], json, false);
    put_pair(&l, "mod", mod ? mod : "", json, false);
    put_pair(&l, "msg", msg ? msg : "", json, false);
    if (kv) {
        const char *k;
        while ((k = va_arg(*kv, const char *)) != NULL)
            put_pair(&l, k, va_arg(*kv, const char *), json, false);
    }
    if (json) putc_(&l, '}');
    /* put() keeps one byte spare, or the line was truncated: end it anyway. */
    if (l.len < l.cap)
        l.p[l.len++] = '\n';
    else
        l.p[l.len - 1] = '\n';
    write_line(&l);
    if (l.heap) free(l.p);
}

static bool enabled(enum ne_log_level lvl)
{
    return (unsigned)lvl < NE_LOG_OFF &&
           (int)lvl >= atomic_load_explicit(&g_level, memory_order_relaxed);
}

void ne_log(enum ne_log_level lvl, const char *mod, const char *msg, ...)
{
    if (!enabled(lvl)) return;
    va_list ap;
    va_start(ap, msg);
    emit(lvl, mod, msg, &ap);
    va_end(ap);
}

void ne_logf(enum ne_log_level lvl, const char *mod, const char *fmt, ...)
{
    if (!enabled(lvl)) return;
    char stackbuf[512];
    char *msg = stackbuf;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(stackbuf, sizeof stackbuf, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof stackbuf) {
        char *big = malloc((size_t)n + 1);
        if (big) {
            va_start(ap, fmt);
            vsnprintf(big, (size_t)n + 1, fmt, ap);
            va_end(ap);
            msg = big;
        }
    }
    emit(lvl, mod, n < 0 ? fmt : msg, NULL);
    if (msg != stackbuf) free(msg);
}
