/*
 * decode_cbor.c - a minimal CBOR (RFC 8949) parser into the decoders' tree.
 *
 * Supported: unsigned and negative integers, byte and text strings (also
 * indefinite-length, whose chunks are joined in the batch arena), arrays
 * and maps (definite and indefinite), tags (skipped: the tagged item is
 * used), false/true/null/undefined (undefined reads as null), and half,
 * single and double floats. Map keys must be text strings or integers.
 * Not supported (the document is refused): simple values other than the
 * four above, reserved additional-information values 28-30.
 *
 * Every data item header is one initial byte, major type in the top three
 * bits and additional information in the low five:
 *
 *    7 6 5 4 3 2 1 0
 *   +-----+---------+------------------------------------------+
 *   |major| ai      | argument: ai < 24 itself; 24/25/26/27 =>  |
 *   +-----+---------+ 1/2/4/8 big-endian bytes follow; 31 =>     |
 *                     indefinite length (ended by 0xFF)          |
 *
 * Definite lengths are checked against the bytes left before anything is
 * allocated, so a hostile length cannot make the parser reserve memory.
 */
#include "ingest/decode/decode_internal.h"

#include <math.h>
#include <string.h>

#include "ports/err.h"

struct cp {
    struct decode_ctx *c;
    const uint8_t *start, *p, *end;
    const char *err;
};

static int fail(struct cp *P, const char *why)
{
    if (!P->err) P->err = why;
    return NE_EPARSE;
}

static int head(struct cp *P, int *major, int *ai, uint64_t *arg)
{
    if (P->p >= P->end) return fail(P, "unexpected end of input");
    uint8_t ib = *P->p++;
    *major = ib >> 5;
    *ai = ib & 31;
    if (*ai < 24) {
        *arg = (uint64_t)*ai;
        return 0;
    }
    if (*ai == 31) {
        *arg = 0;
        return 0;
    }
    if (*ai > 27) return fail(P, "reserved additional information");
    size_t n = (size_t)1 << (*ai - 24);
    if ((size_t)(P->end - P->p) < n) return fail(P, "unexpected end of input");
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++)
        v = v << 8 | P->p[i];
    P->p += n;
    *arg = v;
    return 0;
}

static double half_to_double(uint16_t h)
{
    int e = (h >> 10) & 0x1F;
    int m = h & 0x3FF;
    double v;
    if (e == 0)
        v = ldexp(m, -24);
    else if (e == 31)
        v = m == 0 ? INFINITY : NAN;
    else
        v = ldexp(m + 1024, e - 25);
    return (h & 0x8000) ? -v : v;
}

static double bits_to_double(int ai, uint64_t arg)
{
    if (ai == 25) return half_to_double((uint16_t)arg);
    if (ai == 26) {
        uint32_t u = (uint32_t)arg;
        float f;
        memcpy(&f, &u, sizeof f);
        return f;
    }
    double d;
    memcpy(&d, &arg, sizeof d);
    return d;
}

/* A definite or indefinite string of major type `major` into *out. */
static int string(struct cp *P, int major, int ai, uint64_t arg, struct ne_sv *out)
{
    struct decode_ctx *c = P->c;
    if (ai != 31) {
        if (arg > (uint64_t)(P->end - P->p) || arg > UINT32_MAX)
            return fail(P, "string longer than the input");
        out->p = (const char *)P->p;
        out->n = (uint32_t)arg;
        P->p += arg;
        return 0;
    }
    /* Indefinite: join the definite chunks in scratch, then copy. */
    size_t used = 0;
    for (;;) {
        if (P->p >= P->end) return fail(P, "unexpected end of input");
        if (*P->p == 0xFF) {
            P->p++;
            break;
        }
        int m, a;
        uint64_t len;
        int rc = head(P, &m, &a, &len);
        if (rc != 0) return rc;
        if (m != major || a == 31) return fail(P, "bad chunk in an indefinite-length string");
        if (len > (uint64_t)(P->end - P->p) || used + len > UINT32_MAX)
            return fail(P, "string longer than the input");
        if (decode__scratch(c, used + (size_t)len + 1) != 0) return NE_ENOMEM;
        memcpy(c->scratch + used, P->p, (size_t)len);
        used += (size_t)len;
        P->p += len;
    }
    *out = decode__copy(c, used ? c->scratch : "", used);
    return out->p ? 0 : NE_ENOMEM;
}

static int item(struct cp *P, int depth, bool key);

static bool at_break(struct cp *P)
{
    if (P->p < P->end && *P->p == 0xFF) {
        P->p++;
        return true;
    }
    return false;
}

static int container(struct cp *P, int depth, bool map, int ai, uint64_t arg)
{
    struct decode_ctx *c = P->c;
    if (depth >= NE_DECODE_MAX_DEPTH) return fail(P, "nesting too deep");
    bool indef = ai == 31;
    /* Each element takes at least one byte (a map pair two). */
    if (!indef && arg > (uint64_t)(P->end - P->p) / (map ? 2 : 1))
        return fail(P, "container longer than the input");
    uint32_t idx = decode__node(c, map ? DN_OBJ : DN_ARR);
    if (idx == UINT32_MAX) return NE_ENOMEM;
    uint32_t count = 0;
    for (uint64_t i = 0; indef || i < arg; i++) {
        if (indef && at_break(P)) break;
        if (map) {
            int rc = item(P, depth + 1, true);
            if (rc != 0) return rc;
        }
        int rc = item(P, depth + 1, false);
        if (rc != 0) return rc;
        count++;
    }
    c->nodes[idx].n = count;
    c->nodes[idx].next = c->nnodes;
    return 0;
}

static int number_node(struct cp *P, int major, uint64_t arg)
{
    uint32_t idx = decode__node(P->c, DN_NUM);
    if (idx == UINT32_MAX) return NE_ENOMEM;
    struct dnode *d = &P->c->nodes[idx];
    if (arg <= (uint64_t)INT64_MAX) {
        d->is_int = 1;
        d->i = major == 0 ? (int64_t)arg : -1 - (int64_t)arg;
        d->f = (double)d->i;
    } else {
        d->f = major == 0 ? (double)arg : -1.0 - (double)arg;
    }
    return 0;
}

static int simple(struct cp *P, int ai, uint64_t arg)
{
    enum dnode_kind k;
    switch (ai) {
    case 20:
        k = DN_FALSE;
        break;
    case 21:
        k = DN_TRUE;
        break;
    case 22:
    case 23:
        k = DN_NULL;
        break;
    case 25:
    case 26:
    case 27: {
        uint32_t idx = decode__node(P->c, DN_NUM);
        if (idx == UINT32_MAX) return NE_ENOMEM;
        P->c->nodes[idx].f = bits_to_double(ai, arg);
        return 0;
    }
    case 31:
        return fail(P, "unexpected break");
    default:
        return fail(P, "unsupported simple value");
    }
    return decode__node(P->c, k) == UINT32_MAX ? NE_ENOMEM : 0;
}

static int item(struct cp *P, int depth, bool key)
{
    int major, ai;
    uint64_t arg;
    int rc = head(P, &major, &ai, &arg);
    if (rc != 0) return rc;
    /* Tags: skip any number of them, then read the tagged item. */
    while (major == 6) {
        if (ai == 31) return fail(P, "indefinite tag");
        rc = head(P, &major, &ai, &arg);
        if (rc != 0) return rc;
    }
    if (ai == 31 && (major == 0 || major == 1)) return fail(P, "indefinite integer");
    if (key && major != 0 && major != 1 && major != 3)
        return fail(P, "map key is not a text string or an integer");
    switch (major) {
    case 0:
    case 1:
        return number_node(P, major, arg);
    case 2:
    case 3: {
        uint32_t idx = decode__node(P->c, major == 2 ? DN_BYTES : DN_STR);
        if (idx == UINT32_MAX) return NE_ENOMEM;
        struct ne_sv s;
        rc = string(P, major, ai, arg, &s);
        if (rc == 0) P->c->nodes[idx].s = s;
        return rc;
    }
    case 4:
    case 5:
        return container(P, depth, major == 5, ai, arg);
    default:
        return simple(P, ai, arg);
    }
}

int decode__cbor_tree(struct decode_ctx *c, const char *buf, size_t len)
{
    struct cp P = {.c = c,
                   .start = (const uint8_t *)buf,
                   .p = (const uint8_t *)buf,
                   .end = (const uint8_t *)buf + len};
    c->nnodes = 0;
    int rc = item(&P, 0, false);
    if (rc == 0 && P.p != P.end) rc = fail(&P, "trailing data after the document");
    if (c->nomem) return NE_ENOMEM;
    if (rc != 0) {
        c->rep->records = 1;
        decode__bad(c, 1, NE_EPARSE, "invalid CBOR at byte %zu: %s", (size_t)(P.p - P.start),
                    P.err ? P.err : "malformed");
        return NE_EPARSE;
    }
    return 0;
}
