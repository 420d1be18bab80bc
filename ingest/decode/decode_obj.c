/*
 * decode_obj.c - JSON and CBOR objects -> points (the mapping is documented
 * in decode.h).
 *
 * A record (one object) is gathered into the context's record arrays first,
 * because the measurement and the time may come after the fields; then it
 * is appended to the batch in one go. Keys of nested members are built in a
 * path buffer and copied into the batch arena; top-level keys are views.
 */
#include "ingest/decode/decode_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"

struct rec {
    struct decode_ctx *c;
    uint32_t index; /* 1-based record number */
    struct ne_sv meas;
    int64_t ts;
    const char *err;
    char errbuf[160];
    char *path; /* flattened key being built */
    size_t plen, pcap;
};

static bool sv_is(struct ne_sv s, const char *lit)
{
    size_t n = strlen(lit);
    return s.n == n && memcmp(s.p, lit, n) == 0;
}

static int rec_tag(struct rec *R, struct ne_sv k, struct ne_sv v)
{
    struct decode_ctx *c = R->c;
    if (decode__grow(c, (void **)&c->rtags, &c->cap_rtags, (size_t)c->nrtags + 1, sizeof *c->rtags,
                     c->rtags0) != 0)
        return NE_ENOMEM;
    c->rtags[c->nrtags].key = k;
    c->rtags[c->nrtags].val = v;
    c->nrtags++;
    return 0;
}

static int rec_field(struct rec *R, struct ne_sv k, enum ne_vtype t, union ne_value v)
{
    struct decode_ctx *c = R->c;
    if (decode__grow(c, (void **)&c->rfields, &c->cap_rfields, (size_t)c->nrfields + 1,
                     sizeof *c->rfields, c->rfields0) != 0)
        return NE_ENOMEM;
    c->rfields[c->nrfields].key = k;
    c->rfields[c->nrfields].type = (uint8_t)t;
    c->rfields[c->nrfields].v = v;
    c->nrfields++;
    return 0;
}

/* The text of a key node (CBOR integer keys are written in decimal). */
static struct ne_sv key_text(struct decode_ctx *c, const struct dnode *k)
{
    if (k->kind == DN_STR) return k->s;
    char tmp[32];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)k->i);
    return decode__copy(c, tmp, (size_t)n);
}

/* A scalar as tag text; {NULL,0} with R->err set if it is not a scalar. */
static struct ne_sv scalar_text(struct rec *R, const struct dnode *v)
{
    struct decode_ctx *c = R->c;
    char tmp[40];
    int n;
    switch (v->kind) {
    case DN_STR:
        return v->s;
    case DN_TRUE:
        return NE_SV("true");
    case DN_FALSE:
        return NE_SV("false");
    case DN_BYTES:
        return decode__base64url(c, v->s.p, v->s.n);
    case DN_NUM:
        if (v->s.p) return v->s; /* JSON: as written */
        if (v->is_int)
            n = snprintf(tmp, sizeof tmp, "%lld", (long long)v->i);
        else
            n = snprintf(tmp, sizeof tmp, "%.17g", v->f);
        return decode__copy(c, tmp, (size_t)n);
    default:
        R->err = "tag values must be strings, numbers or booleans";
        return (struct ne_sv){NULL, 0};
    }
}

static int path_push(struct rec *R, struct ne_sv part, size_t *saved)
{
    *saved = R->plen;
    size_t need = R->plen + 1 + part.n;
    if (need > R->pcap) {
        size_t cap = R->pcap ? R->pcap * 2 : 128;
        while (cap < need)
            cap *= 2;
        char *p = ne_realloc(R->path, cap);
        if (!p) {
            R->c->nomem = 1;
            return NE_ENOMEM;
        }
        R->path = p;
        R->pcap = cap;
    }
    if (R->plen) R->path[R->plen++] = '.';
    memcpy(R->path + R->plen, part.p, part.n);
    R->plen += part.n;
    return 0;
}

/* Adds v (any kind) as field(s) named by the current path. */
static int flatten(struct rec *R, uint32_t vi)
{
    struct decode_ctx *c = R->c;
    const struct dnode *v = &c->nodes[vi];
    union ne_value u;
    enum ne_vtype t;
    switch (v->kind) {
    case DN_NULL:
        return 0;
    case DN_TRUE:
    case DN_FALSE:
        t = NE_V_BOOL;
        u.b = v->kind == DN_TRUE;
        break;
    case DN_NUM:
        t = NE_V_FLOAT;
        u.f = v->f;
        if (!isfinite(u.f)) {
            R->err = "non-finite number";
            return 0;
        }
        break;
    case DN_STR:
        t = NE_V_STRING;
        u.s = v->s;
        break;
    case DN_BYTES:
        t = NE_V_STRING;
        u.s = decode__base64url(c, v->s.p, v->s.n);
        if (!u.s.p) return NE_ENOMEM;
        break;
    case DN_OBJ:
    case DN_ARR: {
        uint32_t i = vi + 1;
        for (uint32_t k = 0; k < v->n && !R->err; k++) {
            struct ne_sv part;
            char tmp[16];
            if (v->kind == DN_OBJ) {
                part = key_text(c, &c->nodes[i]);
                i = c->nodes[i].next;
            } else {
                part.p = tmp;
                part.n = (uint32_t)snprintf(tmp, sizeof tmp, "%u", k);
            }
            if (!part.p) return NE_ENOMEM;
            size_t saved;
            if (path_push(R, part, &saved) != 0) return NE_ENOMEM;
            int rc = flatten(R, i);
            R->plen = saved;
            if (rc != 0) return rc;
            v = &c->nodes[vi];
            i = c->nodes[i].next;
        }
        return 0;
    }
    default:
        return 0;
    }
    if (R->plen == 0) {
        R->err = "empty field key";
        return 0;
    }
    struct ne_sv key = decode__copy(c, R->path, R->plen);
    if (!key.p) return NE_ENOMEM;
    return rec_field(R, key, t, u);
}

static bool is_time_key(struct decode_ctx *c, struct ne_sv k)
{
    if (c->time_key.n) return ne_sv_eq(k, c->time_key);
    return sv_is(k, "time") || sv_is(k, "timestamp");
}

static bool is_tag_key(struct decode_ctx *c, struct ne_sv k)
{
    for (size_t i = 0; i < c->o->ntag_keys; i++)
        if (ne_sv_eq(k, c->o->tag_keys[i])) return true;
    return false;
}

static void set_time(struct rec *R, const struct dnode *v)
{
    struct decode_ctx *c = R->c;
    if (v->kind == DN_STR) {
        if (decode__rfc3339(v->s.p, v->s.n, &R->ts) != 0)
            R->err = "invalid time: expected RFC 3339 text or a number";
        return;
    }
    if (v->kind != DN_NUM) {
        R->err = "invalid time: expected RFC 3339 text or a number";
        return;
    }
    int64_t unit = c->o->time_unit_ns;
    double a = fabs(v->f);
    if (!unit) unit = a < 1e11 ? 1000000000 : a < 1e14 ? 1000000 : a < 1e17 ? 1000 : 1;
    int rc;
    int shift = unit == 1            ? 0
                : unit == 1000       ? 3
                : unit == 1000000    ? 6
                : unit == 1000000000 ? 9
                                     : -1;
    if (v->is_int) {
        rc = decode__scale(v->i, unit, &R->ts);
    } else if (v->s.p && shift >= 0) {
        /* JSON text: the decimal is scaled exactly, not through a double */
        rc = decode__decimal_pow10(v->s.p, v->s.n, shift, &R->ts);
        if (rc == 0 && R->ts == NE_TS_UNSET) rc = NE_ERANGE;
    } else {
        double ns = v->f * (double)unit;
        rc = (isfinite(ns) && fabs(ns) < 9.2e18) ? 0 : NE_ERANGE;
        if (rc == 0) R->ts = llround(ns);
    }
    if (rc != 0) R->err = "time outside range";
}

static int tags_object(struct rec *R, uint32_t oi)
{
    struct decode_ctx *c = R->c;
    uint32_t i = oi + 1;
    for (uint32_t k = 0; k < c->nodes[oi].n && !R->err; k++) {
        struct ne_sv key = key_text(c, &c->nodes[i]);
        i = c->nodes[i].next;
        if (!key.p) return NE_ENOMEM;
        if (c->nodes[i].kind != DN_NULL) {
            struct ne_sv val = scalar_text(R, &c->nodes[i]);
            if (c->nomem) return NE_ENOMEM;
            if (val.p && rec_tag(R, key, val) != 0) return NE_ENOMEM;
        }
        i = c->nodes[i].next;
    }
    return 0;
}

static int member(struct rec *R, struct ne_sv key, uint32_t vi)
{
    struct decode_ctx *c = R->c;
    const struct dnode *v = &c->nodes[vi];
    if (ne_sv_eq(key, c->meas_key)) {
        if (v->kind != DN_STR || v->s.n == 0)
            R->err = "the measurement must be a non-empty string";
        else
            R->meas = v->s;
        return 0;
    }
    if (is_time_key(c, key)) {
        set_time(R, v);
        return 0;
    }
    if (v->kind == DN_OBJ && sv_is(key, "tags")) return tags_object(R, vi);
    if (v->kind == DN_OBJ && sv_is(key, "fields"))
        return flatten(R, vi); /* path is empty: no prefix */
    if (is_tag_key(c, key)) {
        if (v->kind == DN_NULL) return 0;
        struct ne_sv val = scalar_text(R, v);
        if (c->nomem) return NE_ENOMEM;
        return val.p ? rec_tag(R, key, val) : 0;
    }
    size_t saved;
    if (path_push(R, key, &saved) != 0) return NE_ENOMEM;
    int rc = flatten(R, vi);
    R->plen = saved;
    return rc;
}

static int emit(struct rec *R)
{
    struct decode_ctx *c = R->c;
    if (R->meas.n == 0) {
        R->err = "missing measurement";
        return 0;
    }
    if (c->nrfields == 0) {
        R->err = "missing fields";
        return 0;
    }
    if (ne_batch_begin(c->b, R->meas, R->ts) != 0) return NE_ENOMEM;
    for (uint32_t i = 0; i < c->nrtags; i++)
        if (ne_batch_tag(c->b, c->rtags[i].key, c->rtags[i].val) != 0) return NE_ENOMEM;
    for (uint32_t i = 0; i < c->nrfields; i++)
        if (ne_batch_field(c->b, c->rfields[i].key, c->rfields[i].type, c->rfields[i].v) != 0)
            return NE_ENOMEM;
    int rc = decode__end_point(c);
    if (rc == NE_ENOMEM) return rc;
    if (rc != 0) R->err = "invalid point";
    return 0;
}

/* Maps the object at node oi. Returns 0 or NE_ENOMEM; a bad record sets
 * R->err. */
static int record(struct rec *R, uint32_t oi)
{
    struct decode_ctx *c = R->c;
    c->nrtags = c->nrfields = 0;
    R->meas = c->meas;
    R->ts = NE_TS_UNSET;
    R->err = NULL;
    R->plen = 0;
    if (c->nodes[oi].kind != DN_OBJ) {
        R->err = "expected an object";
        return 0;
    }
    uint32_t i = oi + 1;
    for (uint32_t k = 0; k < c->nodes[oi].n && !R->err; k++) {
        struct ne_sv key = key_text(c, &c->nodes[i]);
        if (!key.p) return NE_ENOMEM;
        i = c->nodes[i].next;
        int rc = member(R, key, i);
        if (rc != 0) return rc;
        i = c->nodes[i].next;
    }
    if (R->err) return 0;
    return emit(R);
}

int decode__objects(struct decode_ctx *c)
{
    struct rec R = {.c = c};
    int rc = 0;
    const struct dnode *root = &c->nodes[0];
    uint32_t first = 0, count = 1;
    if (root->kind == DN_ARR) {
        first = 1;
        count = root->n;
    }
    uint32_t i = first;
    for (uint32_t k = 0; k < count; k++) {
        c->rep->records++;
        R.index = k + 1;
        rc = record(&R, i);
        if (rc != 0) break;
        if (R.err && decode__bad(c, R.index, NE_EPARSE, "record %u: %s", R.index, R.err)) break;
        i = c->nodes[i].next;
    }
    if (c->b->open) ne_batch_abort(c->b);
    ne_free(R.path);
    return rc;
}
