/*
 * decode.c - the ne_decode() entry point, the report, and the RAW format.
 *
 * Invariants: a decoder appends complete points only (a record that fails
 * half way is aborted with ne_batch_abort); every bad record goes through
 * decode__bad exactly once; scratch space belongs to the call and is freed
 * before ne_decode returns, so nothing outlives it but the batch.
 */
#include "ingest/decode/decode_internal.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ports/err.h"
#include "ports/platform.h"

bool decode__bad(struct decode_ctx *c, uint32_t record, int code, const char *fmt, ...)
{
    struct ne_decode_report *r = c->rep;
    r->bad++;
    if (r->bad == 1) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->first_error, sizeof r->first_error, fmt, ap);
        va_end(ap);
        r->first_record = record;
        r->first_code = code;
    }
    if (c->o->max_errors && r->bad >= c->o->max_errors) {
        r->stopped = true;
        return true;
    }
    return false;
}

struct ne_sv decode__copy(struct decode_ctx *c, const char *p, size_t n)
{
    struct ne_sv v = ne_batch_copy(c->b, p, n);
    if (!v.p) c->nomem = 1;
    return v;
}

int decode__grow(struct decode_ctx *c, void **arr, uint32_t *cap, size_t need, size_t elem,
                 const void *inline_buf)
{
    if (need <= *cap) return 0;
    size_t ncap = *cap ? *cap : 16;
    while (ncap < need)
        ncap *= 2;
    if (ncap > UINT32_MAX || ncap > SIZE_MAX / elem) {
        c->nomem = 1;
        return NE_ENOMEM;
    }
    void *p;
    if (*arr == inline_buf) {
        p = ne_malloc(ncap * elem);
        if (p) memcpy(p, *arr, (size_t)*cap * elem);
    } else {
        p = ne_realloc(*arr, ncap * elem);
    }
    if (!p) {
        c->nomem = 1;
        return NE_ENOMEM;
    }
    *arr = p;
    *cap = (uint32_t)ncap;
    return 0;
}

int decode__scratch(struct decode_ctx *c, size_t n)
{
    return decode__grow(c, (void **)&c->scratch, &c->scratch_cap, n, 1, c->scratch0);
}

static int end_point(struct decode_ctx *c, bool fields_distinct)
{
    const struct ne_decode_opts *o = c->o;
    /* a point sharing an earlier point's tags has the extra ones already */
    size_t nextra = c->b->open == NE_BATCH_OPEN_OWN ? o->ntags : 0;
    for (size_t i = 0; i < nextra; i++)
        if (ne_batch_tag(c->b, o->tags[i].key, o->tags[i].val) != 0) {
            ne_batch_abort(c->b);
            c->nomem = 1;
            return NE_ENOMEM;
        }
    uint32_t f0 = c->b->pts[c->b->npts].field0;
    int rc = fields_distinct ? ne_batch_end_distinct(c->b) : ne_batch_end(c->b);
    if (rc != 0) return rc;
    c->rep->points++;
    c->rep->values += c->b->nfields - f0;
    return 0;
}

int decode__end_point(struct decode_ctx *c)
{
    return end_point(c, false);
}

int decode__end_point_distinct(struct decode_ctx *c)
{
    return end_point(c, true);
}

/* ---- RAW ------------------------------------------------------------------ */

static bool is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

int decode__raw(struct decode_ctx *c, const char *buf, size_t len)
{
    while (len && is_space(buf[0]))
        buf++, len--;
    while (len && is_space(buf[len - 1]))
        len--;
    c->rep->records = 1;
    if (len == 0) {
        decode__bad(c, 1, NE_EPARSE, "empty payload");
        return 0;
    }
    if (c->meas.n == 0) {
        decode__bad(c, 1, NE_EINVAL, "missing measurement");
        return 0;
    }
    union ne_value v;
    enum ne_vtype t;
    bool bv;
    if (decode__float(buf, len, &v.f) == 0) {
        t = NE_V_FLOAT;
    } else if (decode__bool_word(buf, len, &bv)) {
        t = NE_V_BOOL;
        v.b = bv;
    } else {
        t = NE_V_STRING;
        if (len >= 2 && buf[0] == '"' && buf[len - 1] == '"') buf++, len -= 2;
        v.s.p = buf;
        v.s.n = (uint32_t)len;
    }
    if (ne_batch_begin(c->b, c->meas, NE_TS_UNSET) != 0 ||
        ne_batch_field(c->b, c->field, t, v) != 0) {
        ne_batch_abort(c->b);
        return NE_ENOMEM;
    }
    int rc = decode__end_point(c);
    return rc == NE_ENOMEM ? rc : 0;
}

/* ---- entry ------------------------------------------------------------------ */

static int check_opts(const struct ne_decode_opts *o)
{
    if (o->format < NE_PAYLOAD_AUTO || o->format > NE_PAYLOAD_RAW) return NE_EINVAL;
    if (o->precision_ns < 0 || o->time_unit_ns < 0) return NE_EINVAL;
    if (o->ntags && !o->tags) return NE_EINVAL;
    if (o->ntag_keys && !o->tag_keys) return NE_EINVAL;
    return 0;
}

static void ctx_init(struct decode_ctx *c, const struct ne_decode_opts *o, struct ne_batch *b,
                     struct ne_decode_report *rep)
{
    memset(c, 0, offsetof(struct decode_ctx, scratch0)); /* not the inline buffers */
    c->o = o;
    c->b = b;
    c->rep = rep;
    c->now_ns = o->now_ns ? o->now_ns : ne_time_wall_ns();
    c->precision_ns = o->precision_ns ? o->precision_ns : 1;
    c->meas = o->measurement.p ? o->measurement : (struct ne_sv){"", 0};
    c->field = o->field.n ? o->field : NE_SV("value");
    c->time_key = o->time_key.p ? o->time_key : (struct ne_sv){"", 0};
    c->meas_key = o->measurement_key.n ? o->measurement_key : NE_SV("measurement");
    c->scratch = c->scratch0;
    c->scratch_cap = sizeof c->scratch0;
    c->nodes = c->nodes0;
    c->cap_nodes = sizeof c->nodes0 / sizeof c->nodes0[0];
    c->rtags = c->rtags0;
    c->cap_rtags = sizeof c->rtags0 / sizeof c->rtags0[0];
    c->rfields = c->rfields0;
    c->cap_rfields = sizeof c->rfields0 / sizeof c->rfields0[0];
}

static void ctx_free(struct decode_ctx *c)
{
    ne_free(c->sc);
    if (c->scratch != c->scratch0) ne_free(c->scratch);
    if (c->nodes != c->nodes0) ne_free(c->nodes);
    if (c->rtags != c->rtags0) ne_free(c->rtags);
    if (c->rfields != c->rfields0) ne_free(c->rfields);
}

static int run_tree(struct decode_ctx *c, const char *buf, size_t len, bool cbor, bool senml)
{
    int rc = cbor ? decode__cbor_tree(c, buf, len) : decode__json_tree(c, buf, len);
    if (rc != 0) return rc;
    return senml ? decode__senml(c) : decode__objects(c);
}

int ne_decode(const struct ne_decode_opts *opts, const char *buf, size_t len, struct ne_batch *out,
              struct ne_decode_report *rep)
{
    struct ne_decode_report local;
    if (!rep) rep = &local;
    memset(rep, 0, sizeof *rep);
    if (!opts || !out || (!buf && len)) return NE_EINVAL;
    int rc = check_opts(opts);
    if (rc != 0) return rc;
    if (!buf) buf = "";
    struct decode_ctx c;
    ctx_init(&c, opts, out, rep);
    switch (opts->format) {
    case NE_PAYLOAD_AUTO:
    case NE_PAYLOAD_LINE:
        rc = decode__line(&c, buf, len);
        break;
    case NE_PAYLOAD_JSON:
        rc = run_tree(&c, buf, len, false, false);
        break;
    case NE_PAYLOAD_CBOR:
        rc = run_tree(&c, buf, len, true, false);
        break;
    case NE_PAYLOAD_SENML_JSON:
        rc = run_tree(&c, buf, len, false, true);
        break;
    case NE_PAYLOAD_SENML_CBOR:
        rc = run_tree(&c, buf, len, true, true);
        break;
    case NE_PAYLOAD_RAW:
        rc = decode__raw(&c, buf, len);
        break;
    }
    if (c.nomem) rc = NE_ENOMEM;
    ctx_free(&c);
    if (out->open) ne_batch_abort(out);
    if (rc == NE_ENOMEM) return rc;
    return rep->bad ? NE_EPARSE : 0;
}

/* ---- format helpers ----------------------------------------------------------- */

int ne_decode_content_format(unsigned cf, enum ne_payload *out)
{
    enum ne_payload p;
    switch (cf) {
    case 0:
        p = NE_PAYLOAD_LINE;
        break;
    case 50:
        p = NE_PAYLOAD_JSON;
        break;
    case 60:
        p = NE_PAYLOAD_CBOR;
        break;
    case 110:
        p = NE_PAYLOAD_SENML_JSON;
        break;
    case 112:
        p = NE_PAYLOAD_SENML_CBOR;
        break;
    default:
        return NE_EUNSUPPORTED;
    }
    *out = p;
    return 0;
}

int ne_decode_content_type(const char *ct, enum ne_payload *out)
{
    static const struct {
        const char *name;
        enum ne_payload p;
    } map[] = {
        {"text/plain", NE_PAYLOAD_LINE},
        {"application/json", NE_PAYLOAD_JSON},
        {"application/cbor", NE_PAYLOAD_CBOR},
        {"application/senml+json", NE_PAYLOAD_SENML_JSON},
        {"application/senml+cbor", NE_PAYLOAD_SENML_CBOR},
    };
    if (!ct || !*ct) {
        *out = NE_PAYLOAD_LINE;
        return 0;
    }
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, "; \t");
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strlen(map[i].name) == n && strncasecmp(ct, map[i].name, n) == 0) {
            *out = map[i].p;
            return 0;
        }
    return NE_EUNSUPPORTED;
}

int ne_decode_precision(const char *s, int64_t *out_ns)
{
    static const struct {
        const char *name;
        int64_t ns;
    } map[] = {
        {"", 1},
        {"n", 1},
        {"ns", 1},
        {"u", 1000},
        {"us", 1000},
        {"\xc2\xb5", 1000}, /* µ */
        {"ms", 1000000},
        {"s", 1000000000},
        {"m", 60LL * 1000000000},
        {"h", 3600LL * 1000000000},
    };
    if (!s) s = "";
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (strcmp(s, map[i].name) == 0) {
            *out_ns = map[i].ns;
            return 0;
        }
    return NE_EINVAL;
}
