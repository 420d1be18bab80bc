/*
 * emit.c - writes configuration as YAML: the commented default file
 * (ne_config_default_yaml) and the effective values with their origin
 * (ne_config_explain). Both walk the schema table, so every key appears.
 *
 * Invariant: what is written loads back to the same values (strings are
 * quoted when plain YAML would change them, '$' before '{' or '$' is
 * doubled so ${VAR} expansion leaves it alone); only explain's redacted
 * secrets differ.
 */
#include <ctype.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config/internal.h"
#include "ports/platform.h"

/* ---- growable string ------------------------------------------------- */

static bool buf_reserve(struct cfg_buf *b, size_t extra)
{
    if (b->oom) return false;
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1)
        cap *= 2;
    char *p = ne_realloc(b->p, cap);
    if (!p) {
        b->oom = true;
        return false;
    }
    b->p = p;
    b->cap = cap;
    return true;
}

void config__buf_puts(struct cfg_buf *b, const char *s)
{
    size_t n = strlen(s);
    if (!buf_reserve(b, n)) return;
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

void config__buf_printf(struct cfg_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || !buf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->p + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

static void indent_to(struct cfg_buf *b, int indent)
{
    config__buf_printf(b, "%*s", indent, "");
}

/* ---- scalars ---------------------------------------------------------- */

static bool plain_safe(const char *s)
{
    static const char *const words[] = {"true", "false", "yes", "no", "on", "off",
                                        "null", "~",     "y",   "n",  NULL};
    if (!*s) return false;
    for (int i = 0; words[i]; i++)
        if (strcasecmp(s, words[i]) == 0) return false;
    if (!(isalnum((unsigned char)s[0]) || s[0] == '.' || s[0] == '/' || s[0] == '_')) return false;
    for (const char *c = s; *c; c++)
        if (!(isalnum((unsigned char)*c) || strchr("_./:+@=-", *c))) return false;
    return s[strlen(s) - 1] != ':'; /* "a:" would read as a mapping key */
}

/* Length of the UTF-8 sequence at s and its code point; 0 when invalid. */
static size_t utf8_decode(const unsigned char *s, uint32_t *cp)
{
    size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    if (n == 0 || s[0] >= 0xf8) return 0;
    uint32_t v = s[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
    if (v < min[n] || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return n;
}

/* Code points a YAML reader would refuse or fold as a line break. */
static bool must_escape(uint32_t cp)
{
    return (cp >= 0x80 && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 || cp == 0xfeff ||
           cp == 0xfffe || cp == 0xffff;
}

static void put_quoted(struct cfg_buf *b, const char *s)
{
    config__buf_puts(b, "\"");
    for (const unsigned char *c = (const unsigned char *)s; *c;) {
        uint32_t cp;
        size_t n;
        if (*c == '"' || *c == '\\') {
            config__buf_printf(b, "\\%c", *c);
        } else if (*c < 0x20 || *c == 0x7f) {
            config__buf_printf(b, "\\x%02x", *c);
        } else if (*c == '$' && (c[1] == '{' || c[1] == '$')) {
            config__buf_puts(b, "$$");
        } else if (*c < 0x80) {
            config__buf_printf(b, "%c", *c);
        } else if ((n = utf8_decode(c, &cp)) == 0) {
            config__buf_printf(b, "\\x%02x", *c); /* not UTF-8: keep it loadable */
        } else {
            if (must_escape(cp))
                config__buf_printf(b, "\\u%04x", (unsigned)cp);
            else
                config__buf_printf(b, "%.*s", (int)n, (const char *)c);
            c += n;
            continue;
        }
        c++;
    }
    config__buf_puts(b, "\"");
}

static void put_string(struct cfg_buf *b, const char *s)
{
    if (!s)
        config__buf_puts(b, "null");
    else if (plain_safe(s))
        config__buf_puts(b, s);
    else
        put_quoted(b, s);
}

static int get_int(const void *p, size_t size)
{
    if (size == sizeof(bool)) return *(const bool *)p;
    return *(const int *)p;
}

static const char *enum_name(const struct cfg_key *k, int v)
{
    for (const struct cfg_enum *e = k->enums; e->name; e++)
        if (e->value == v) return e->name;
    return "?";
}

/* A scalar value as YAML text. */
static void put_scalar(struct cfg_buf *b, const struct cfg_key *k, const void *base, bool redact)
{
    const char *p = (const char *)base + k->off;
    char tmp[64];
    switch (k->kind) {
    case CFG_K_STR: {
        const char *s = *(char *const *)p;
        put_string(b, s && redact && (k->flags & CFG_F_SECRET) ? "<redacted>" : s);
        return;
    }
    case CFG_K_BOOL:
        config__buf_puts(b, *(const bool *)p ? "true" : "false");
        return;
    case CFG_K_INT:
        config__buf_printf(b, "%d", *(const int *)p);
        return;
    case CFG_K_U64:
        config__buf_printf(b, "%llu", (unsigned long long)*(const uint64_t *)p);
        return;
    case CFG_K_DURATION:
        config__fmt_duration(*(const int64_t *)p, tmp, sizeof tmp);
        break;
    case CFG_K_SECONDS:
        config__fmt_duration((int64_t) * (const int *)p * 1000000000LL, tmp, sizeof tmp);
        break;
    case CFG_K_SIZE:
        config__fmt_size(*(const uint64_t *)p, tmp, sizeof tmp);
        break;
    case CFG_K_ENUM:
        put_string(b, enum_name(k, get_int(p, k->size)));
        return;
    default:
        return;
    }
    config__buf_puts(b, tmp);
}

static void put_comment(struct cfg_buf *b, const char *trail)
{
    if (trail) config__buf_printf(b, "  # %s", trail);
    config__buf_puts(b, "\n");
}

/* One list item: "- first: v" then the other set fields beneath. */
static void put_item(struct cfg_buf *b, const struct cfg_table *t, const void *item, int indent,
                     bool redact)
{
    bool first = true;
    for (size_t i = 0; i < t->nkeys; i++) {
        const struct cfg_key *f = &t->keys[i];
        if (f->kind == CFG_K_STR && !*(char *const *)((const char *)item + f->off)) continue;
        indent_to(b, first ? indent : indent + 2);
        config__buf_printf(b, "%s%s: ", first ? "- " : "", f->path);
        put_scalar(b, f, item, redact);
        config__buf_puts(b, "\n");
        first = false;
    }
}

/* Writes "name: value  # trail" for any kind (lists as block items). */
static void put_entry(struct cfg_buf *b, const struct cfg_key *k, const char *name,
                      const void *base, int indent, const char *trail, bool redact)
{
    const char *p = (const char *)base + k->off;
    indent_to(b, indent);
    config__buf_printf(b, "%s:", name);
    if (k->kind != CFG_K_STRLIST && k->kind != CFG_K_LIST) {
        config__buf_puts(b, " ");
        put_scalar(b, k, base, redact);
        put_comment(b, trail);
        return;
    }
    size_t n = *(const size_t *)((const char *)base + k->count_off);
    if (n == 0) {
        config__buf_puts(b, " []");
        put_comment(b, trail);
        return;
    }
    put_comment(b, trail);
    for (size_t i = 0; i < n; i++) {
        if (k->kind == CFG_K_STRLIST) {
            indent_to(b, indent + 2);
            config__buf_puts(b, "- ");
            put_string(b, (*(char **const *)p)[i]);
            config__buf_puts(b, "\n");
        } else {
            const char *items = *(const char *const *)p;
            put_item(b, k->item, items + i * k->item->item_size, indent + 2, redact);
        }
    }
}

void config__emit_value(struct cfg_buf *b, const struct cfg_key *k, const void *base, int indent,
                        bool redact)
{
    put_entry(b, k, k->path, base, indent, NULL, redact);
}

void config__value_text(struct cfg_buf *b, const struct cfg_key *k, const void *base)
{
    put_entry(b, k, "", base, 0, NULL, false);
}

/* ---- sections ---------------------------------------------------------- */

static const char *last_part(const char *path)
{
    const char *dot = strrchr(path, '.');
    return dot ? dot + 1 : path;
}

static const char *section_doc(const char *path, size_t len)
{
    for (const struct cfg_section *s = config__sections; s->path; s++)
        if (strlen(s->path) == len && strncmp(s->path, path, len) == 0) return s->doc;
    return NULL;
}

/* Opens the sections of path that are not open yet (cur holds the open
 * section path and is updated) and returns the key's indentation. */
static int open_sections(struct cfg_buf *b, const char *path, char *cur, size_t cn, bool docs)
{
    const char *key = last_part(path);
    size_t sec_len = key > path ? (size_t)(key - path - 1) : 0;
    bool still_open = true;
    int depth = 0;
    for (size_t pos = 0; pos < sec_len; depth++) {
        size_t end = pos;
        while (end < sec_len && path[end] != '.')
            end++;
        still_open =
            still_open && strncmp(cur, path, end) == 0 && (cur[end] == '\0' || cur[end] == '.');
        if (!still_open) {
            const char *doc = docs ? section_doc(path, end) : NULL;
            if (docs) config__buf_puts(b, "\n");
            if (doc) {
                indent_to(b, depth * 2);
                config__buf_printf(b, "# %s\n", doc);
            }
            indent_to(b, depth * 2);
            config__buf_printf(b, "%.*s:\n", (int)(end - pos), path + pos);
        }
        pos = end + 1;
    }
    snprintf(cur, cn, "%.*s", (int)sec_len, path);
    return depth * 2;
}

/* ---- default YAML ------------------------------------------------------ */

/* Writes text as "# " comment lines of at most ~80 columns; continuation
 * lines are indented by hang more spaces after the '#'. */
static void put_wrapped_hang(struct cfg_buf *b, int indent, int hang, const char *text)
{
    const char *p = text;
    bool first = true;
    while (*p) {
        int width = 78 - indent - (first ? 0 : hang);
        int len = (int)strlen(p);
        int cut = len;
        if (len > width) {
            cut = width;
            while (cut > 0 && p[cut] != ' ')
                cut--;
            if (cut == 0) cut = len;
        }
        indent_to(b, indent);
        config__buf_printf(b, "# %*s%.*s\n", first ? 0 : hang, "", cut, p);
        p += cut;
        while (*p == ' ')
            p++;
        first = false;
    }
}

static void put_wrapped(struct cfg_buf *b, int indent, const char *text)
{
    put_wrapped_hang(b, indent, 0, text);
}

static void put_meta(struct cfg_buf *b, const struct cfg_key *k, const char *path, int indent,
                     const void *defaults)
{
    struct cfg_buf m = {0};
    char env[128];
    if (k->enums) {
        config__buf_puts(&m, "One of:");
        for (const struct cfg_enum *e = k->enums; e->name; e++)
            config__buf_printf(&m, "%s %s", e == k->enums ? "" : ",", e->name);
        config__buf_puts(&m, ". ");
    }
    if (k->min < k->max) {
        char lo[32], hi[32];
        if (k->kind == CFG_K_DURATION) {
            config__fmt_duration(k->min, lo, sizeof lo);
            config__fmt_duration(k->max, hi, sizeof hi);
        } else if (k->kind == CFG_K_SIZE) {
            config__fmt_size((uint64_t)k->min, lo, sizeof lo);
            config__fmt_size((uint64_t)k->max, hi, sizeof hi);
        } else {
            const char *unit = k->kind == CFG_K_SECONDS ? "s" : "";
            snprintf(lo, sizeof lo, "%lld%s", (long long)k->min, unit);
            snprintf(hi, sizeof hi, "%lld%s", (long long)k->max, unit);
        }
        config__buf_printf(&m, "Range: %s to %s. ", lo, hi);
    }
    if (k->def && k->kind != CFG_K_LIST && k->kind != CFG_K_STRLIST) {
        config__buf_puts(&m, "Default: ");
        put_scalar(&m, k, defaults, false);
        config__buf_puts(&m, ". ");
    } else if (!k->def) {
        config__buf_puts(&m, k->flags & CFG_F_DERIVED ? "Default: derived. " : "Default: unset. ");
    }
    if (path) {
        config__env_name(path, env, sizeof env);
        config__buf_printf(&m, "Env: %s. ", env);
        config__buf_puts(&m, k->flags & CFG_F_LIVE ? "Reload: live." : "Reload: restart.");
    }
    if (!m.oom && m.p) put_wrapped(b, indent, m.p);
    ne_free(m.p);
}

/* Documents the fields of a list's items, as comments above the list. */
static void put_item_docs(struct cfg_buf *b, const struct cfg_table *t, int indent)
{
    indent_to(b, indent);
    config__buf_puts(b, "# Each item:\n");
    for (size_t i = 0; i < t->nkeys; i++) {
        const struct cfg_key *f = &t->keys[i];
        struct cfg_buf line = {0};
        config__buf_printf(&line, "  %s: %s%s", f->path,
                           f->flags & CFG_F_REQUIRED ? "(required) " : "", f->doc);
        if (!line.oom && line.p) put_wrapped_hang(b, indent, 4, line.p);
        ne_free(line.p);
        if (f->def) {
            struct cfg_buf d = {0};
            config__buf_printf(&d, "    Default: %s.", f->def);
            if (!d.oom && d.p) put_wrapped_hang(b, indent, 4, d.p);
            ne_free(d.p);
        } else if (f->example) {
            struct cfg_buf d = {0};
            config__buf_printf(&d, "    Example: %s.", f->example);
            if (!d.oom && d.p) put_wrapped_hang(b, indent, 4, d.p);
            ne_free(d.p);
        }
        if (f->enums) {
            struct cfg_buf e = {0};
            config__buf_puts(&e, "    One of:");
            for (const struct cfg_enum *v = f->enums; v->name; v++)
                config__buf_printf(&e, "%s %s", v == f->enums ? "" : ",", v->name);
            config__buf_puts(&e, ".");
            if (!e.oom && e.p) put_wrapped_hang(b, indent, 4, e.p);
            ne_free(e.p);
        }
    }
}

static const char header[] =
    "# neoedge configuration.\n"
    "#\n"
    "# Every key is shown with its default; keys without one are commented out.\n"
    "# Precedence, lowest first: these defaults, this file, environment variables\n"
    "# NEOEDGE_<PATH> (dots become '_', upper case: NEOEDGE_STORAGE_DURABILITY=sync;\n"
    "# list values comma-separated, lists of records as YAML flow text).\n"
    "# ${VAR} inside any value expands from the environment (${VAR:-fallback}\n"
    "# when unset); $$ is a literal $.\n"
    "# Durations: 250ms, 10s, 5m, 3h, 30d, 1h30m (0: off).\n"
    "# Sizes: 512KiB, 64MiB, 2GiB, 1GB, or a number of bytes.\n"
    "# Reload (SIGHUP) applies keys marked \"Reload: live\"; others need a restart.\n";

static void emit_default(struct cfg_buf *b, const struct ne_config *defaults)
{
    char cur[128] = "";
    config__buf_puts(b, header);
    for (size_t i = 0; i < config__schema.nkeys; i++) {
        const struct cfg_key *k = &config__schema.keys[i];
        size_t before = b->len;
        int indent = open_sections(b, k->path, cur, sizeof cur, true);
        if (b->len == before) config__buf_puts(b, "\n");
        put_wrapped(b, indent, k->doc);
        put_meta(b, k, k->path, indent, defaults);
        if (k->kind == CFG_K_LIST) put_item_docs(b, k->item, indent);
        if (!k->def) {
            indent_to(b, indent);
            config__buf_printf(b, "# %s: %s\n", last_part(k->path), k->example ? k->example : "");
            continue;
        }
        put_entry(b, k, last_part(k->path), defaults, indent, NULL, false);
    }
}

static pthread_mutex_t default_lock = PTHREAD_MUTEX_INITIALIZER;
static char default_text[40000];
static bool default_ready;

const char *ne_config_default_yaml(void)
{
    pthread_mutex_lock(&default_lock);
    if (!default_ready) {
        struct ne_config *defaults = NULL;
        if (config__load_defaults(&defaults) == 0) {
            struct cfg_buf b = {0};
            emit_default(&b, defaults);
            if (!b.oom && b.p && b.len < sizeof default_text) {
                memcpy(default_text, b.p, b.len + 1);
                default_ready = true;
            }
            ne_free(b.p);
            ne_config_free(&defaults);
        }
    }
    pthread_mutex_unlock(&default_lock);
    return default_text;
}

/* ---- explain ----------------------------------------------------------- */

static void origin_text(const struct ne_config *cfg, size_t i, const char *path, char *buf,
                        size_t n)
{
    const struct cfg_origin *o = cfg->meta ? &cfg->meta->origin[i] : NULL;
    char env[128];
    switch (o ? o->src : CFG_SRC_DEFAULT) {
    case CFG_SRC_FILE:
        snprintf(buf, n, "file %s:%d:%d", cfg->meta->name, o->line, o->col);
        break;
    case CFG_SRC_ENV:
        config__env_name(path, env, sizeof env);
        snprintf(buf, n, "env %s", env);
        break;
    case CFG_SRC_DERIVED:
        snprintf(buf, n, "derived");
        break;
    default:
        snprintf(buf, n, "default");
        break;
    }
}

char *ne_config_explain(const struct ne_config *cfg)
{
    if (!cfg) return NULL;
    struct cfg_buf b = {0};
    char cur[128] = "";
    config__buf_printf(&b,
                       "# effective configuration (%s); each comment says where the value "
                       "came from\n",
                       cfg->meta && cfg->meta->name ? cfg->meta->name : "built-in defaults");
    for (size_t i = 0; i < config__schema.nkeys; i++) {
        const struct cfg_key *k = &config__schema.keys[i];
        int indent = open_sections(&b, k->path, cur, sizeof cur, false);
        char origin[400];
        origin_text(cfg, i, k->path, origin, sizeof origin);
        put_entry(&b, k, last_part(k->path), cfg, indent, origin, true);
    }
    if (b.oom) {
        ne_free(b.p);
        return NULL;
    }
    return b.p;
}
