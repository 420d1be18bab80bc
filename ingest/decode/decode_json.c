/*
 * decode_json.c - a strict RFC 8259 JSON parser into the decoders' tree.
 *
 * The whole document is parsed before anything is mapped, so a syntax
 * error anywhere rejects the document whole. The tree (struct dnode) is a
 * preorder array: a container node is followed by its children (for an
 * object, key then value for each member) and records in `next` the index
 * just past its subtree. Strings without escapes are views into the input;
 * escaped ones are decoded (\uXXXX and surrogate pairs to UTF-8) into the
 * batch arena. Nesting is limited to NE_DECODE_MAX_DEPTH, so the recursion
 * is bounded.
 */
#include "ingest/decode/decode_internal.h"

#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"

struct jp {
    struct decode_ctx *c;
    const char *start, *p, *end;
    const char *err;
};

uint32_t decode__node(struct decode_ctx *c, enum dnode_kind kind)
{
    if (decode__grow(c, (void **)&c->nodes, &c->cap_nodes, (size_t)c->nnodes + 1, sizeof *c->nodes,
                     c->nodes0) != 0)
        return UINT32_MAX;
    struct dnode *d = &c->nodes[c->nnodes];
    memset(d, 0, sizeof *d);
    d->kind = (uint8_t)kind;
    d->next = c->nnodes + 1;
    return c->nnodes++;
}

static int fail(struct jp *J, const char *why)
{
    if (!J->err) J->err = why;
    return NE_EPARSE;
}

static void skip_ws(struct jp *J)
{
    while (J->p < J->end && (*J->p == ' ' || *J->p == '\t' || *J->p == '\n' || *J->p == '\r'))
        J->p++;
}

static int hex4(const char *p, unsigned *out)
{
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        char ch = p[i];
        unsigned d;
        if (ch >= '0' && ch <= '9')
            d = (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            d = (unsigned)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            d = (unsigned)(ch - 'A' + 10);
        else
            return -1;
        v = v << 4 | d;
    }
    *out = v;
    return 0;
}

static char *put_utf8(char *w, unsigned cp)
{
    if (cp < 0x80) {
        *w++ = (char)cp;
    } else if (cp < 0x800) {
        *w++ = (char)(0xC0 | cp >> 6);
        *w++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *w++ = (char)(0xE0 | cp >> 12);
        *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *w++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *w++ = (char)(0xF0 | cp >> 18);
        *w++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *w++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *w++ = (char)(0x80 | (cp & 0x3F));
    }
    return w;
}

/* Decodes the escaped string s[0..n) (between the quotes) into the arena. */
static int unescape_string(struct jp *J, const char *s, size_t n, struct ne_sv *out)
{
    struct decode_ctx *c = J->c;
    if (decode__scratch(c, n) != 0) return NE_ENOMEM;
    char *w = c->scratch;
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '\\') {
            *w++ = s[i];
            continue;
        }
        char e = s[++i];
        switch (e) {
        case '"':
        case '\\':
        case '/':
            *w++ = e;
            break;
        case 'b':
            *w++ = '\b';
            break;
        case 'f':
            *w++ = '\f';
            break;
        case 'n':
            *w++ = '\n';
            break;
        case 'r':
            *w++ = '\r';
            break;
        case 't':
            *w++ = '\t';
            break;
        case 'u': {
            unsigned cp, lo;
            if (i + 4 >= n) return fail(J, "bad \\u escape");
            if (hex4(s + i + 1, &cp) != 0) return fail(J, "bad \\u escape");
            i += 4;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (i + 6 >= n) return fail(J, "lone surrogate in \\u escape");
                if (s[i + 1] != '\\' || s[i + 2] != 'u' || hex4(s + i + 3, &lo) != 0 ||
                    lo < 0xDC00 || lo > 0xDFFF)
                    return fail(J, "lone surrogate in \\u escape");
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return fail(J, "lone surrogate in \\u escape");
            }
            w = put_utf8(w, cp);
            break;
        }
        default:
            return fail(J, "bad escape in string");
        }
    }
    *out = decode__copy(c, c->scratch, (size_t)(w - c->scratch));
    return out->p ? 0 : NE_ENOMEM;
}

/* Parses a string at J->p (on the opening quote) into *out. */
static int string(struct jp *J, struct ne_sv *out)
{
    const char *s = ++J->p, *p = s, *end = J->end;
    bool esc = false;
    for (;;) {
        while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
            p++;
        if (p == end) return fail(J, "unterminated string");
        if (*p == '"') break;
        if (*p != '\\') return fail(J, "control character in string");
        esc = true;
        p += 2;
        if (p >= end) return fail(J, "unterminated string");
    }
    J->p = p + 1;
    if (!esc) {
        out->p = s;
        out->n = (uint32_t)(p - s);
        return 0;
    }
    if (p - s > UINT32_MAX) return fail(J, "string too long");
    return unescape_string(J, s, (size_t)(p - s), out);
}

static bool digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static int number(struct jp *J, uint32_t idx)
{
    const char *s = J->p, *p = s, *end = J->end;
    bool integer = true;
    if (p < end && *p == '-') p++;
    if (p == end || !digit(*p)) return fail(J, "invalid number");
    if (*p == '0')
        p++;
    else
        while (p < end && digit(*p))
            p++;
    if (p < end && *p == '.') {
        integer = false;
        p++;
        if (p == end || !digit(*p)) return fail(J, "invalid number");
        while (p < end && digit(*p))
            p++;
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        integer = false;
        p++;
        if (p < end && (*p == '+' || *p == '-')) p++;
        if (p == end || !digit(*p)) return fail(J, "invalid number");
        while (p < end && digit(*p))
            p++;
    }
    J->p = p;
    struct dnode *d = &J->c->nodes[idx];
    d->s.p = s;
    d->s.n = (uint32_t)(p - s);
    int rc = decode__float(s, (size_t)(p - s), &d->f);
    if (rc == NE_ENOMEM) {
        J->c->nomem = 1;
        return rc;
    }
    if (rc != 0) return fail(J, "number out of range");
    if (integer && decode__int(s, (size_t)(p - s), &d->i) == 0) d->is_int = 1;
    return 0;
}

static int literal(struct jp *J, const char *word, size_t n)
{
    if ((size_t)(J->end - J->p) < n || memcmp(J->p, word, n) != 0)
        return fail(J, "invalid literal");
    J->p += n;
    return 0;
}

static int value(struct jp *J, int depth);

static int container(struct jp *J, int depth, bool obj)
{
    struct decode_ctx *c = J->c;
    if (depth >= NE_DECODE_MAX_DEPTH) return fail(J, "nesting too deep");
    uint32_t idx = decode__node(c, obj ? DN_OBJ : DN_ARR);
    if (idx == UINT32_MAX) return NE_ENOMEM;
    char close = obj ? '}' : ']';
    uint32_t count = 0;
    J->p++;
    skip_ws(J);
    if (J->p < J->end && *J->p == close) {
        J->p++;
        c->nodes[idx].next = c->nnodes;
        return 0;
    }
    for (;;) {
        skip_ws(J);
        if (obj) {
            if (J->p == J->end || *J->p != '"') return fail(J, "expected a string key");
            uint32_t k = decode__node(c, DN_STR);
            if (k == UINT32_MAX) return NE_ENOMEM;
            struct ne_sv key;
            int rc = string(J, &key);
            if (rc != 0) return rc;
            c->nodes[k].s = key;
            skip_ws(J);
            if (J->p == J->end || *J->p != ':') return fail(J, "expected ':'");
            J->p++;
        }
        int rc = value(J, depth + 1);
        if (rc != 0) return rc;
        count++;
        skip_ws(J);
        if (J->p < J->end && *J->p == ',') {
            J->p++;
            continue;
        }
        if (J->p < J->end && *J->p == close) {
            J->p++;
            break;
        }
        return fail(J, obj ? "expected ',' or '}'" : "expected ',' or ']'");
    }
    c->nodes[idx].n = count;
    c->nodes[idx].next = c->nnodes;
    return 0;
}

static int value(struct jp *J, int depth)
{
    struct decode_ctx *c = J->c;
    skip_ws(J);
    if (J->p == J->end) return fail(J, "unexpected end of input");
    uint32_t idx;
    switch (*J->p) {
    case '{':
        return container(J, depth, true);
    case '[':
        return container(J, depth, false);
    case '"': {
        idx = decode__node(c, DN_STR);
        if (idx == UINT32_MAX) return NE_ENOMEM;
        struct ne_sv s;
        int rc = string(J, &s);
        if (rc == 0) c->nodes[idx].s = s;
        return rc;
    }
    case 't':
        if (decode__node(c, DN_TRUE) == UINT32_MAX) return NE_ENOMEM;
        return literal(J, "true", 4);
    case 'f':
        if (decode__node(c, DN_FALSE) == UINT32_MAX) return NE_ENOMEM;
        return literal(J, "false", 5);
    case 'n':
        if (decode__node(c, DN_NULL) == UINT32_MAX) return NE_ENOMEM;
        return literal(J, "null", 4);
    default:
        idx = decode__node(c, DN_NUM);
        if (idx == UINT32_MAX) return NE_ENOMEM;
        return number(J, idx);
    }
}

int decode__json_tree(struct decode_ctx *c, const char *buf, size_t len)
{
    struct jp J = {.c = c, .start = buf, .p = buf, .end = buf + len};
    c->nnodes = 0;
    int rc = value(&J, 0);
    if (rc == 0) {
        skip_ws(&J);
        if (J.p != J.end) rc = fail(&J, "trailing data after the document");
    }
    if (c->nomem) return NE_ENOMEM;
    if (rc != 0) {
        c->rep->records = 1;
        decode__bad(c, 1, NE_EPARSE, "invalid JSON at byte %zu: %s", (size_t)(J.p - J.start),
                    J.err ? J.err : "syntax error");
        return NE_EPARSE;
    }
    return 0;
}
