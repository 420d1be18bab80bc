/*
 * decode_senml.c - SenML (RFC 8428) packs, JSON or CBOR, -> points (the
 * mapping to measurement, device tag and field is documented in decode.h).
 *
 * A pack is an array of records (a lone record object is accepted too).
 * JSON labels are the short names; CBOR labels are the integers of RFC 8428
 * table 6 (text labels are accepted as well):
 *
 *   bver -1  bn -2  bt -3  bu -4  bv -5  bs -6
 *   n     0  u   1  v   2  vs  3  vb  4  s   5  t  6  ut  7  vd  8
 *
 * Base fields of a record apply to it and to every later record until
 * changed. The resolved name is split without copying when the split point
 * falls at the join of bn and n (the usual "urn:dev:...:" + "temp").
 */
#include "ingest/decode/decode_internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "ports/err.h"

enum lbl {
    L_UNKNOWN = 0,
    L_MUST, /* unknown label ending in '_' */
    L_BVER,
    L_BN,
    L_BT,
    L_BU,
    L_BV,
    L_BS,
    L_N,
    L_U,
    L_V,
    L_VS,
    L_VB,
    L_S,
    L_T,
    L_UT,
    L_VD,
};

static const struct {
    const char *name;
    int cbor;
    enum lbl l;
} labels[] = {
    {"bver", -1, L_BVER}, {"bn", -2, L_BN}, {"bt", -3, L_BT}, {"bu", -4, L_BU}, {"bv", -5, L_BV},
    {"bs", -6, L_BS},     {"n", 0, L_N},    {"u", 1, L_U},    {"v", 2, L_V},    {"vs", 3, L_VS},
    {"vb", 4, L_VB},      {"s", 5, L_S},    {"t", 6, L_T},    {"ut", 7, L_UT},  {"vd", 8, L_VD},
};

static enum lbl label_of(const struct dnode *k)
{
    size_t nl = sizeof labels / sizeof labels[0];
    if (k->kind == DN_NUM) {
        if (!k->is_int) return L_UNKNOWN;
        for (size_t i = 0; i < nl; i++)
            if (labels[i].cbor == k->i) return labels[i].l;
        return L_UNKNOWN;
    }
    for (size_t i = 0; i < nl; i++)
        if (strlen(labels[i].name) == k->s.n && memcmp(labels[i].name, k->s.p, k->s.n) == 0)
            return labels[i].l;
    return (k->s.n > 0 && k->s.p[k->s.n - 1] == '_') ? L_MUST : L_UNKNOWN;
}

/* Base values carried from record to record. */
struct base {
    struct ne_sv bn, bu;
    int64_t bt_ns; /* exact: JSON times are read from their decimal text */
    double bv, bs;
};

/* A time node in ns: exact from JSON text, else from the number. */
static int node_ns(const struct dnode *d, int64_t *ns)
{
    if (d->s.p) return decode__decimal_ns(d->s.p, d->s.n, ns);
    if (d->is_int) return decode__scale(d->i, 1000000000, ns);
    return decode__seconds_to_ns(d->f, ns);
}

/* One record's own fields (node indexes, 0 when absent). */
struct srec {
    uint32_t n, u, v, vs, vb, vd, s, t;
    bool has_base;
};

static const char *set_base(struct base *B, enum lbl l, const struct dnode *v)
{
    switch (l) {
    case L_BN:
    case L_BU:
        if (v->kind != DN_STR) return l == L_BN ? "bn must be a string" : "bu must be a string";
        if (l == L_BN)
            B->bn = v->s;
        else
            B->bu = v->s;
        return NULL;
    case L_BVER:
        if (v->kind != DN_NUM) return "bver must be a number";
        if (v->f > 10) return "unsupported SenML version";
        return NULL;
    default:
        if (v->kind != DN_NUM || !isfinite(v->f)) return "base value must be a finite number";
        if (l == L_BT)
            return node_ns(v, &B->bt_ns) == 0 ? NULL : "bt outside range";
        else if (l == L_BV)
            B->bv = v->f;
        else
            B->bs = v->f;
        return NULL;
    }
}

/* Reads the record's labels; applies base fields to *B. */
static const char *scan_record(struct decode_ctx *c, uint32_t oi, struct base *B, struct srec *r)
{
    memset(r, 0, sizeof *r);
    uint32_t i = oi + 1;
    for (uint32_t k = 0; k < c->nodes[oi].n; k++) {
        enum lbl l = label_of(&c->nodes[i]);
        i = c->nodes[i].next;
        const struct dnode *v = &c->nodes[i];
        const char *err = NULL;
        switch (l) {
        case L_MUST:
            return "unsupported must-understand field";
        case L_UNKNOWN:
        case L_UT:
            break;
        case L_BVER:
        case L_BN:
        case L_BT:
        case L_BU:
        case L_BV:
        case L_BS:
            r->has_base = true;
            err = set_base(B, l, v);
            break;
        case L_N:
            r->n = i;
            break;
        case L_U:
            r->u = i;
            break;
        case L_V:
            r->v = i;
            break;
        case L_VS:
            r->vs = i;
            break;
        case L_VB:
            r->vb = i;
            break;
        case L_VD:
            r->vd = i;
            break;
        case L_S:
            r->s = i;
            break;
        case L_T:
            r->t = i;
            break;
        }
        if (err) return err;
        i = c->nodes[i].next;
    }
    return NULL;
}

static bool name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == ':' || ch == '.' || ch == '/' || ch == '_';
}

static bool valid_name(struct ne_sv a, struct ne_sv b)
{
    for (uint32_t i = 0; i < a.n; i++)
        if (!name_char(a.p[i])) return false;
    for (uint32_t i = 0; i < b.n; i++)
        if (!name_char(b.p[i])) return false;
    return true;
}

static int last_sep(struct ne_sv s)
{
    for (uint32_t i = s.n; i > 0; i--)
        if (s.p[i - 1] == ':' || s.p[i - 1] == '/') return (int)(i - 1);
    return -1;
}

/* Joins a and b in the arena (views when one side is empty). */
static struct ne_sv join(struct decode_ctx *c, struct ne_sv a, struct ne_sv b)
{
    if (a.n == 0) return b;
    if (b.n == 0) return a;
    if (decode__scratch(c, (size_t)a.n + b.n) != 0) return (struct ne_sv){NULL, 0};
    memcpy(c->scratch, a.p, a.n);
    memcpy(c->scratch + a.n, b.p, b.n);
    return decode__copy(c, c->scratch, (size_t)a.n + b.n);
}

/* Splits bn + n into device (may be empty) and field key. */
static int split_name(struct decode_ctx *c, struct ne_sv bn, struct ne_sv n, struct ne_sv *dev,
                      struct ne_sv *key)
{
    int pos = last_sep(n);
    if (pos >= 0) {
        *dev = join(c, bn, (struct ne_sv){n.p, (uint32_t)pos});
        *key = (struct ne_sv){n.p + pos + 1, n.n - (uint32_t)pos - 1};
    } else if ((pos = last_sep(bn)) >= 0) {
        *dev = (struct ne_sv){bn.p, (uint32_t)pos};
        *key = join(c, (struct ne_sv){bn.p + pos + 1, bn.n - (uint32_t)pos - 1}, n);
    } else {
        *dev = (struct ne_sv){"", 0};
        *key = join(c, bn, n);
    }
    return c->nomem ? NE_ENOMEM : 0;
}

static bool base64_text(struct ne_sv s)
{
    for (uint32_t i = 0; i < s.n; i++) {
        char ch = s.p[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '_' || ch == '+' || ch == '/' || ch == '='))
            return false;
    }
    return true;
}

/* The record's value as a field; err set on a type mismatch. */
static const char *value_of(struct decode_ctx *c, const struct srec *r, const struct base *B,
                            enum ne_vtype *t, union ne_value *u)
{
    const struct dnode *n = c->nodes;
    if (r->v) {
        if (n[r->v].kind != DN_NUM) return "v must be a number";
        *t = NE_V_FLOAT;
        u->f = n[r->v].f + B->bv;
        if (!isfinite(u->f)) return "v must be finite";
    } else if (r->vs) {
        if (n[r->vs].kind != DN_STR) return "vs must be a string";
        *t = NE_V_STRING;
        u->s = n[r->vs].s;
    } else if (r->vb) {
        if (n[r->vb].kind != DN_TRUE && n[r->vb].kind != DN_FALSE) return "vb must be a boolean";
        *t = NE_V_BOOL;
        u->b = n[r->vb].kind == DN_TRUE;
    } else {
        *t = NE_V_STRING;
        if (n[r->vd].kind == DN_BYTES) {
            u->s = decode__base64url(c, n[r->vd].s.p, n[r->vd].s.n);
        } else if (n[r->vd].kind == DN_STR && base64_text(n[r->vd].s)) {
            u->s = n[r->vd].s;
        } else {
            return "vd must be base64 data";
        }
    }
    return NULL;
}

static const char *time_of(struct decode_ctx *c, const struct srec *r, const struct base *B,
                           int64_t *ts)
{
    int64_t t = 0, ns;
    if (r->t) {
        if (c->nodes[r->t].kind != DN_NUM) return "t must be a number";
        if (node_ns(&c->nodes[r->t], &t) != 0) return "time outside range";
    }
    if (__builtin_add_overflow(B->bt_ns, t, &ns)) return "time outside range";
    if (ns < 268435456LL * 1000000000) { /* below 2^28 s: relative to now */
        if (__builtin_add_overflow(c->now_ns, ns, &ns)) return "time outside range";
    }
    if (ns == NE_TS_UNSET) return "time outside range";
    *ts = ns;
    return NULL;
}

/* Builds the point of one record. Returns 0 or NE_ENOMEM; *err on a bad
 * record. */
static int emit(struct decode_ctx *c, const struct srec *r, const struct base *B, const char **err)
{
    const struct dnode *nd = c->nodes;
    int nvalues = !!r->v + !!r->vs + !!r->vb + !!r->vd;
    if (nvalues > 1) return *err = "more than one value", 0;
    struct ne_sv n = {"", 0};
    if (r->n) {
        if (nd[r->n].kind != DN_STR) return *err = "n must be a string", 0;
        n = nd[r->n].s;
    }
    if (!valid_name(B->bn, n)) return *err = "invalid character in name", 0;
    struct ne_sv unit = B->bu;
    if (r->u) {
        if (nd[r->u].kind != DN_STR) return *err = "u must be a string", 0;
        unit = nd[r->u].s;
    }
    enum ne_vtype t = NE_V_FLOAT;
    union ne_value v = {0};
    if (nvalues && (*err = value_of(c, r, B, &t, &v)) != NULL) return 0;
    double sum = 0;
    if (r->s) {
        if (nd[r->s].kind != DN_NUM || !isfinite(nd[r->s].f + B->bs))
            return *err = "s must be a finite number", 0;
        sum = nd[r->s].f + B->bs;
    }
    int64_t ts;
    if ((*err = time_of(c, r, B, &ts)) != NULL) return 0;
    struct ne_sv dev, key;
    if (split_name(c, B->bn, n, &dev, &key) != 0) return NE_ENOMEM;
    if (key.n == 0) key = NE_SV("value");
    struct ne_sv meas = c->meas.n ? c->meas : NE_SV("senml");
    if (ne_batch_begin(c->b, meas, ts) != 0) return NE_ENOMEM;
    if (dev.n && ne_batch_tag(c->b, NE_SV("device"), dev) != 0) return NE_ENOMEM;
    if (unit.n && ne_batch_tag(c->b, NE_SV("unit"), unit) != 0) return NE_ENOMEM;
    if (nvalues && ne_batch_field(c->b, key, t, v) != 0) return NE_ENOMEM;
    if (r->s) {
        struct ne_sv skey = key;
        if (nvalues) {
            skey = join(c, key, NE_SV("_sum"));
            if (!skey.p) return NE_ENOMEM;
        }
        if (ne_batch_field_f(c->b, skey, sum) != 0) return NE_ENOMEM;
    }
    int rc = decode__end_point(c);
    if (rc == NE_ENOMEM) return rc;
    if (rc != 0) *err = "invalid point";
    return 0;
}

int decode__senml(struct decode_ctx *c)
{
    struct base B = {.bn = {"", 0}, .bu = {"", 0}};
    const struct dnode *root = &c->nodes[0];
    uint32_t i = 0, count = 1;
    if (root->kind == DN_ARR) {
        i = 1;
        count = root->n;
    }
    for (uint32_t k = 0; k < count; k++, i = c->nodes[i].next) {
        uint32_t index = k + 1;
        const char *err = NULL;
        struct srec r;
        if (c->nodes[i].kind != DN_OBJ) {
            err = "expected a record object";
        } else if ((err = scan_record(c, i, &B, &r)) == NULL) {
            bool has_value = r.v || r.vs || r.vb || r.vd || r.s;
            if (!has_value && r.has_base) continue; /* a record of base fields only */
            if (!has_value)
                err = "missing value";
            else if (emit(c, &r, &B, &err) != 0)
                return NE_ENOMEM;
        }
        c->rep->records++;
        if (err) {
            if (c->b->open) ne_batch_abort(c->b);
            if (decode__bad(c, index, NE_EPARSE, "record %u: %s", index, err)) break;
        }
    }
    return 0;
}
