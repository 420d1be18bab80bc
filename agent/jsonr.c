/*
 * jsonr.c - the JSON reader of jsonr.h: recursive descent over RFC 8259.
 *
 * Arrays and objects grow their item arrays by doubling. A failure leaves
 * the partly built node consistent (n counts the items set), so freeing
 * the tree on any error is enough.
 */
#include "agent/jsonr.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"

#define MAX_DEPTH 64

struct jp {
    const char *p, *start, *end;
    char *err;
    size_t errn;
    int depth;
};

static int fail(struct jp *j, const char *what)
{
    if (j->err && j->errn)
        snprintf(j->err, j->errn, "offset %zu: %s", (size_t)(j->p - j->start), what);
    return NE_EINVAL;
}

static void skip_ws(struct jp *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static bool take_word(struct jp *j, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0) return false;
    j->p += n;
    return true;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A \u escape at j->p (after the backslash and 'u'), with a following
 * low surrogate when it is a high one. Writes UTF-8 to o. */
static int unicode_escape(struct jp *j, char *o, size_t *w)
{
    unsigned cp, lo;
    if (j->end - j->p < 4 || hex4(j->p, &cp) != 0) return fail(j, "bad \\u escape");
    j->p += 4;
    if (cp >= 0xD800 && cp < 0xDC00) {
        if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || hex4(j->p + 2, &lo) != 0 ||
            lo < 0xDC00 || lo > 0xDFFF)
            return fail(j, "unpaired surrogate in \\u escape");
        j->p += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    } else if (cp >= 0xDC00 && cp < 0xE000) {
        return fail(j, "unpaired surrogate in \\u escape");
    }
    *w = put_utf8(o, cp);
    return 0;
}

static int simple_escape(char c, char *out)
{
    switch (c) {
    case '"':
        *out = '"';
        return 0;
    case '\\':
        *out = '\\';
        return 0;
    case '/':
        *out = '/';
        return 0;
    case 'b':
        *out = '\b';
        return 0;
    case 'f':
        *out = '\f';
        return 0;
    case 'n':
        *out = '\n';
        return 0;
    case 'r':
        *out = '\r';
        return 0;
    case 't':
        *out = '\t';
        return 0;
    default:
        return -1;
    }
}

/* A string at j->p (on the opening quote) into a new NUL-terminated buffer.
 * Escapes never make the text longer, so the raw length bounds it. */
static int parse_string(struct jp *j, char **out)
{
    j->p++;
    const char *q = j->p;
    while (q < j->end && *q != '"') {
        if (*q == '\\') q++;
        q++;
    }
    if (q >= j->end) return fail(j, "unterminated string");
    char *s = ne_malloc((size_t)(q - j->p) + 1), *o = s;
    if (!s) return NE_ENOMEM;
    while (j->p < q) {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20) {
            ne_free(s);
            return fail(j, "control character in string");
        }
        if (c != '\\') {
            *o++ = (char)c;
            j->p++;
            continue;
        }
        j->p++;
        char e = *j->p++;
        if (e == 'u') {
            size_t w = 0;
            int rc = unicode_escape(j, o, &w);
            if (rc != 0) {
                ne_free(s);
                return rc;
            }
            o += w;
        } else if (simple_escape(e, o++) != 0) {
            ne_free(s);
            j->p--;
            return fail(j, "bad escape in string");
        }
    }
    *o = '\0';
    j->p = q + 1;
    *out = s;
    return 0;
}

static int parse_number(struct jp *j, double *out)
{
    const char *s = j->p;
    if (j->p < j->end && *j->p == '-') j->p++;
    const char *digits = j->p;
    while (j->p < j->end && ((*j->p >= '0' && *j->p <= '9') || *j->p == '.' || *j->p == 'e' ||
                             *j->p == 'E' || *j->p == '+' || *j->p == '-'))
        j->p++;
    if (j->p == digits || *digits < '0' || *digits > '9') return fail(j, "bad number");
    char buf[64];
    size_t n = (size_t)(j->p - s);
    if (n >= sizeof buf) return fail(j, "number too long");
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end = NULL;
    *out = strtod(buf, &end);
    if (!end || *end) {
        j->p = s;
        return fail(j, "bad number");
    }
    return 0;
}

static int parse_value(struct jp *j, struct agent__jv *v);

/* Makes room for one more item (and key, for objects). */
static int grow(struct agent__jv *v, size_t *cap)
{
    if (v->n < *cap) return 0;
    size_t nc = *cap ? *cap * 2 : 4;
    struct agent__jv *items = ne_realloc(v->items, nc * sizeof *items);
    if (!items) return NE_ENOMEM;
    v->items = items;
    if (v->kind == AJ_OBJ) {
        char **keys = ne_realloc(v->keys, nc * sizeof *keys);
        if (!keys) return NE_ENOMEM;
        v->keys = keys;
    }
    *cap = nc;
    return 0;
}

/* Arrays and objects: j->p is on the opening bracket. */
static int parse_container(struct jp *j, struct agent__jv *v, bool obj)
{
    if (++j->depth > MAX_DEPTH) return fail(j, "nested too deeply");
    v->kind = obj ? AJ_OBJ : AJ_ARR;
    char close = obj ? '}' : ']';
    size_t cap = 0;
    j->p++;
    skip_ws(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        j->depth--;
        return 0;
    }
    for (;;) {
        int rc = grow(v, &cap);
        if (rc != 0) return rc;
        char *key = NULL;
        if (obj) {
            skip_ws(j);
            if (j->p >= j->end || *j->p != '"') return fail(j, "expected a member name");
            if ((rc = parse_string(j, &key)) != 0) return rc;
            skip_ws(j);
            if (j->p >= j->end || *j->p != ':') {
                ne_free(key);
                return fail(j, "expected ':'");
            }
            j->p++;
        }
        struct agent__jv *item = &v->items[v->n];
        memset(item, 0, sizeof *item);
        if (obj) v->keys[v->n] = key;
        v->n++; /* counted now: freed with the tree even if it fails below */
        if ((rc = parse_value(j, item)) != 0) return rc;
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') {
            j->p++;
            continue;
        }
        if (j->p < j->end && *j->p == close) {
            j->p++;
            j->depth--;
            return 0;
        }
        return fail(j, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

static int parse_value(struct jp *j, struct agent__jv *v)
{
    skip_ws(j);
    if (j->p >= j->end) return fail(j, "unexpected end");
    switch (*j->p) {
    case '{':
        return parse_container(j, v, true);
    case '[':
        return parse_container(j, v, false);
    case '"':
        v->kind = AJ_STR;
        return parse_string(j, &v->str);
    case 't':
    case 'f':
        v->kind = AJ_BOOL;
        v->b = *j->p == 't';
        return take_word(j, v->b ? "true" : "false") ? 0 : fail(j, "bad literal");
    case 'n':
        v->kind = AJ_NULL;
        return take_word(j, "null") ? 0 : fail(j, "bad literal");
    default:
        v->kind = AJ_NUM;
        return parse_number(j, &v->num);
    }
}

static void free_value(struct agent__jv *v)
{
    for (size_t i = 0; i < v->n; i++) {
        free_value(&v->items[i]);
        if (v->keys) ne_free(v->keys[i]);
    }
    ne_free(v->items);
    ne_free(v->keys);
    ne_free(v->str);
}

void agent__json_free(struct agent__jv **v)
{
    if (!v || !*v) return;
    free_value(*v);
    ne_free(*v);
    *v = NULL;
}

int agent__json_parse(const char *text, size_t len, struct agent__jv **out, char *err, size_t errn)
{
    *out = NULL;
    struct agent__jv *root = ne_calloc(1, sizeof *root);
    if (!root) return NE_ENOMEM;
    struct jp j = {.p = text, .start = text, .end = text + len, .err = err, .errn = errn};
    int rc = parse_value(&j, root);
    if (rc == 0) {
        skip_ws(&j);
        if (j.p != j.end) rc = fail(&j, "text after the value");
    }
    if (rc != 0) {
        agent__json_free(&root);
        return rc;
    }
    *out = root;
    return 0;
}

const struct agent__jv *agent__json_get(const struct agent__jv *o, const char *key)
{
    if (!o || o->kind != AJ_OBJ) return NULL;
    for (size_t i = 0; i < o->n; i++)
        if (strcmp(o->keys[i], key) == 0) return &o->items[i];
    return NULL;
}

double agent__json_num(const struct agent__jv *v, double dflt)
{
    return v && v->kind == AJ_NUM ? v->num : dflt;
}

const char *agent__json_str(const struct agent__jv *v, const char *dflt)
{
    return v && v->kind == AJ_STR ? v->str : dflt;
}

bool agent__json_bool(const struct agent__jv *v, bool dflt)
{
    return v && v->kind == AJ_BOOL ? v->b : dflt;
}
