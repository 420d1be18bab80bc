/*
 * parse.c - the scalar grammars of the config file and small helpers.
 *
 * Durations: one or more <number><unit> groups, e.g. "100ms", "1h30m",
 * "1.5s"; units ns, us (or µs), ms, s, m, h, d, w; a bare "0" means zero.
 * Sizes: <number>[unit], units B, KB, MB, GB, TB (powers of 1000) and KiB,
 * MiB, GiB, TiB (powers of 1024), case-insensitive; a bare number is bytes.
 * Both refuse negative values and anything that overflows 63 bits.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/internal.h"
#include "ports/err.h"
#include "ports/platform.h"

extern char **environ;

/* A number with an optional fraction: whole part, fraction digits (at most
 * 9 kept) and their count. Returns the characters consumed (0: none). */
struct decimal {
    uint64_t whole;
    uint64_t frac;
    int frac_digits;
};

static size_t scan_decimal(const char *s, struct decimal *d, bool *overflow)
{
    size_t i = 0;
    memset(d, 0, sizeof *d);
    while (isdigit((unsigned char)s[i])) {
        if (__builtin_mul_overflow(d->whole, 10, &d->whole) ||
            __builtin_add_overflow(d->whole, (uint64_t)(s[i] - '0'), &d->whole))
            *overflow = true;
        i++;
    }
    size_t whole_len = i;
    if (s[i] == '.' && isdigit((unsigned char)s[i + 1])) {
        i++;
        while (isdigit((unsigned char)s[i])) {
            if (d->frac_digits < 9) {
                d->frac = d->frac * 10 + (uint64_t)(s[i] - '0');
                d->frac_digits++;
            }
            i++;
        }
    } else if (whole_len == 0) {
        return 0;
    }
    return i;
}

/* d * unit, or false on overflow past INT64_MAX. */
static bool scale(const struct decimal *d, uint64_t unit, uint64_t *out)
{
    uint64_t v;
    if (__builtin_mul_overflow(d->whole, unit, &v)) return false;
    uint64_t p10 = 1;
    for (int i = 0; i < d->frac_digits; i++)
        p10 *= 10;
    unsigned __int128 f = (unsigned __int128)d->frac * unit / p10;
    if (__builtin_add_overflow(v, (uint64_t)f, &v) || v > (uint64_t)INT64_MAX) return false;
    *out = v;
    return true;
}

struct unit {
    const char *name;
    uint64_t mult;
};

static const struct unit duration_units[] = {
    {"ns", 1ULL},
    {"us", 1000ULL},
    {"\xc2\xb5s", 1000ULL},
    {"ms", 1000000ULL},
    {"s", 1000000000ULL},
    {"m", 60ULL * 1000000000ULL},
    {"h", 3600ULL * 1000000000ULL},
    {"d", 86400ULL * 1000000000ULL},
    {"w", 7ULL * 86400ULL * 1000000000ULL},
    {NULL, 0},
};

/* The longest unit name that prefixes s ("ms" before "m"). */
static const struct unit *match_unit(const struct unit *units, const char *s, bool nocase)
{
    const struct unit *best = NULL;
    size_t best_len = 0;
    for (const struct unit *u = units; u->name; u++) {
        size_t n = strlen(u->name);
        int cmp = nocase ? strncasecmp(s, u->name, n) : strncmp(s, u->name, n);
        if (cmp == 0 && n > best_len) {
            best = u;
            best_len = n;
        }
    }
    return best;
}

int ne_config_parse_duration(const char *s, int64_t *out_ns)
{
    if (!s || !*s) return NE_EINVAL;
    if (strcmp(s, "0") == 0) {
        *out_ns = 0;
        return 0;
    }
    uint64_t total = 0;
    const char *p = s;
    while (*p) {
        struct decimal d;
        bool overflow = false;
        size_t n = scan_decimal(p, &d, &overflow);
        if (n == 0 || overflow) return n == 0 ? NE_EINVAL : NE_ERANGE;
        p += n;
        const struct unit *u = match_unit(duration_units, p, false);
        if (!u) return NE_EINVAL;
        p += strlen(u->name);
        uint64_t v;
        if (!scale(&d, u->mult, &v) || __builtin_add_overflow(total, v, &total) ||
            total > (uint64_t)INT64_MAX)
            return NE_ERANGE;
    }
    *out_ns = (int64_t)total;
    return 0;
}

static const struct unit size_units[] = {
    {"b", 1ULL},
    {"kb", 1000ULL},
    {"mb", 1000000ULL},
    {"gb", 1000000000ULL},
    {"tb", 1000000000000ULL},
    {"kib", 1ULL << 10},
    {"mib", 1ULL << 20},
    {"gib", 1ULL << 30},
    {"tib", 1ULL << 40},
    {NULL, 0},
};

int ne_config_parse_size(const char *s, uint64_t *out_bytes)
{
    if (!s || !*s) return NE_EINVAL;
    struct decimal d;
    bool overflow = false;
    size_t n = scan_decimal(s, &d, &overflow);
    if (n == 0) return NE_EINVAL;
    if (overflow) return NE_ERANGE;
    const char *p = s + n;
    uint64_t mult = 1;
    if (*p) {
        const struct unit *u = match_unit(size_units, p, true);
        if (!u || p[strlen(u->name)] != '\0') return NE_EINVAL;
        mult = u->mult;
    } else if (d.frac_digits > 0) {
        return NE_EINVAL; /* "1.5" bytes */
    }
    uint64_t v;
    if (!scale(&d, mult, &v)) return NE_ERANGE;
    *out_bytes = v;
    return 0;
}

int config__parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", NULL};
    static const char *const no[] = {"false", "no", "off", NULL};
    for (int i = 0; yes[i]; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return NE_EINVAL;
}

int config__parse_int(const char *s, int64_t *out)
{
    if (!*s || isspace((unsigned char)*s)) return NE_EINVAL;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (*end != '\0') return NE_EINVAL;
    if (errno == ERANGE) return NE_ERANGE;
    *out = v;
    return 0;
}

int config__parse_u64(const char *s, uint64_t *out)
{
    if (!isdigit((unsigned char)*s)) return *s == '-' ? NE_ERANGE : NE_EINVAL;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end != '\0') return NE_EINVAL;
    if (errno == ERANGE || v > (unsigned long long)INT64_MAX) return NE_ERANGE;
    *out = v;
    return 0;
}

void config__fmt_duration(int64_t ns, char *buf, size_t n)
{
    if (ns == 0) {
        snprintf(buf, n, "0");
        return;
    }
    /* largest exact unit, skipping the "µs" spelling and weeks */
    static const int order[] = {7, 6, 5, 4, 3, 1, 0};
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        const struct unit *u = &duration_units[order[i]];
        if ((uint64_t)ns % u->mult == 0) {
            snprintf(buf, n, "%llu%s", (unsigned long long)((uint64_t)ns / u->mult), u->name);
            return;
        }
    }
    snprintf(buf, n, "%lldns", (long long)ns);
}

void config__fmt_size(uint64_t bytes, char *buf, size_t n)
{
    static const char *const names[] = {"TiB", "GiB", "MiB", "KiB"};
    static const int shifts[] = {40, 30, 20, 10};
    for (int i = 0; i < 4 && bytes; i++) {
        uint64_t m = 1ULL << shifts[i];
        if (bytes % m == 0) {
            snprintf(buf, n, "%llu%s", (unsigned long long)(bytes / m), names[i]);
            return;
        }
    }
    snprintf(buf, n, "%llu", (unsigned long long)bytes);
}

int config__distance(const char *a, const char *b)
{
    enum { MAX = 64 };
    size_t la = strlen(a), lb = strlen(b);
    if (la >= MAX || lb >= MAX) return 100;
    int d[MAX + 1][MAX + 1];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int cost = tolower((unsigned char)a[i - 1]) != tolower((unsigned char)b[j - 1]);
            int v = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < v) v = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < v) v = d[i - 1][j - 1] + cost;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                d[i - 2][j - 2] + 1 < v)
                v = d[i - 2][j - 2] + 1;
            d[i][j] = v;
        }
    }
    return d[la][lb];
}

const char *config__getenv(char *const *envp, const char *name)
{
    if (!envp) envp = environ;
    if (!envp) return NULL;
    size_t n = strlen(name);
    for (size_t i = 0; envp[i]; i++)
        if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=') return envp[i] + n + 1;
    return NULL;
}

void config__env_name(const char *path, char *buf, size_t n)
{
    size_t o = (size_t)snprintf(buf, n, "NEOEDGE_");
    for (const char *p = path; *p && o + 1 < n; p++)
        buf[o++] = *p == '.' ? '_' : (char)toupper((unsigned char)*p);
    if (o < n) buf[o] = '\0';
}

static bool var_start(char c)
{
    return isalpha((unsigned char)c) || c == '_';
}

static bool var_char(char c)
{
    return isalnum((unsigned char)c) || c == '_';
}

/* Resolves the ${...} starting at in (pointing at '$'); appends the value to
 * b and returns the characters consumed, or 0 with msg set. */
static size_t expand_one(const char *in, char *const *envp, struct cfg_buf *b, char *msg, size_t n)
{
    const char *name = in + 2;
    size_t len = 0;
    if (!var_start(name[0])) {
        snprintf(msg, n, "'${' must be followed by a variable name (write $$ for a literal $)");
        return 0;
    }
    while (var_char(name[len]))
        len++;
    const char *fallback = NULL;
    size_t flen = 0;
    const char *end = name + len;
    if (end[0] == ':' && end[1] == '-') {
        fallback = end + 2;
        const char *close = strchr(fallback, '}');
        if (!close) {
            snprintf(msg, n, "unterminated ${%.*s:-", (int)(len > 64 ? 64 : len), name);
            return 0;
        }
        flen = (size_t)(close - fallback);
        end = close;
    }
    if (*end != '}') {
        snprintf(msg, n, "unterminated or malformed ${%.*s", (int)(len > 64 ? 64 : len), name);
        return 0;
    }
    char var[128];
    if (len >= sizeof var) {
        snprintf(msg, n, "variable name too long in ${...}");
        return 0;
    }
    memcpy(var, name, len);
    var[len] = '\0';
    const char *val = config__getenv(envp, var);
    if (val) {
        config__buf_puts(b, val);
    } else if (fallback) {
        config__buf_printf(b, "%.*s", (int)flen, fallback);
    } else {
        snprintf(msg, n, "environment variable %s is not set (used as ${%s})", var, var);
        return 0;
    }
    return (size_t)(end - in) + 1;
}

int config__expand(const char *in, char *const *envp, char **out, char *msg, size_t n)
{
    struct cfg_buf b = {0};
    config__buf_puts(&b, "");
    for (const char *p = in; *p;) {
        if (p[0] == '$' && p[1] == '$') {
            config__buf_puts(&b, "$");
            p += 2;
        } else if (p[0] == '$' && p[1] == '{') {
            size_t used = expand_one(p, envp, &b, msg, n);
            if (used == 0) {
                ne_free(b.p);
                return NE_EINVAL;
            }
            p += used;
        } else {
            const char *next = strchr(p + 1, '$');
            size_t len = next ? (size_t)(next - p) : strlen(p);
            config__buf_printf(&b, "%.*s", (int)len, p);
            p += len;
        }
    }
    if (b.oom) {
        ne_free(b.p);
        return NE_ENOMEM;
    }
    *out = b.p;
    return 0;
}
