/*
 * fuzz_line.c - line protocol decoder under libFuzzer.
 *
 * Besides "no crash, no sanitizer report", checks two properties:
 *  - the report agrees with the batch (points, values, bad <= records);
 *  - round trip: every decoded point whose names hold no backslash or
 *    newline is written back as line protocol (escaping what the format
 *    requires) and decoded again, and must come back identical (names,
 *    tags, field types and bit-exact values, timestamp);
 *  - series cache: the input twice over (so its series repeat) decodes to
 *    the same report and points as with the cache turned off;
 *  - series memo: the input decoded once with a memo (from a copy then
 *    overwritten), then again from another copy with the memo (and, for
 *    half the inputs, other option tags), decodes to the same report and
 *    points as without it.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/decode/decode.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_line: %s\n", what);
        abort();
    }
}

struct out {
    char *p;
    size_t n, cap;
};

static void put(struct out *o, const char *s, size_t n)
{
    if (o->n + n > o->cap) {
        o->cap = (o->n + n) * 2 + 64;
        o->p = realloc(o->p, o->cap);
        check(o->p != NULL, "realloc");
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
}

static void put_escaped(struct out *o, struct ne_sv s, const char *specials)
{
    for (uint32_t i = 0; i < s.n; i++) {
        if (strchr(specials, s.p[i]) && s.p[i]) put(o, "\\", 1);
        put(o, s.p + i, 1);
    }
}

static int plain(struct ne_sv s)
{
    for (uint32_t i = 0; i < s.n; i++)
        if (s.p[i] == '\\' || s.p[i] == '\n') return 0;
    return 1;
}

static int writable(const struct ne_batch *b, const struct ne_point *p)
{
    if (!plain(p->meas) || p->meas.p[0] == '#') return 0;
    for (uint32_t i = 0; i < p->ntags; i++)
        if (!plain(ne_point_tags(b, p)[i].key) || !plain(ne_point_tags(b, p)[i].val)) return 0;
    for (uint32_t i = 0; i < p->nfields; i++)
        if (!plain(ne_point_fields(b, p)[i].key)) return 0;
    return 1;
}

static void write_point(struct out *o, const struct ne_batch *b, const struct ne_point *p)
{
    char num[64];
    put_escaped(o, p->meas, ", ");
    for (uint32_t i = 0; i < p->ntags; i++) {
        put(o, ",", 1);
        put_escaped(o, ne_point_tags(b, p)[i].key, ",= ");
        put(o, "=", 1);
        put_escaped(o, ne_point_tags(b, p)[i].val, ",= ");
    }
    for (uint32_t i = 0; i < p->nfields; i++) {
        const struct ne_field *f = &ne_point_fields(b, p)[i];
        put(o, i ? "," : " ", 1);
        put_escaped(o, f->key, ",= ");
        put(o, "=", 1);
        int n = 0;
        switch (f->type) {
        case NE_V_FLOAT:
            n = snprintf(num, sizeof num, "%.17g", f->v.f);
            break;
        case NE_V_INT:
            n = snprintf(num, sizeof num, "%lldi", (long long)f->v.i);
            break;
        case NE_V_UINT:
            n = snprintf(num, sizeof num, "%lluu", (unsigned long long)f->v.u);
            break;
        case NE_V_BOOL:
            n = snprintf(num, sizeof num, "%s", f->v.b ? "true" : "false");
            break;
        case NE_V_STRING:
            put(o, "\"", 1);
            put_escaped(o, f->v.s, "\"\\");
            put(o, "\"", 1);
            break;
        }
        put(o, num, (size_t)n);
    }
    if (p->ts != NE_TS_UNSET) {
        int n = snprintf(num, sizeof num, " %lld", (long long)p->ts);
        put(o, num, (size_t)n);
    }
    put(o, "\n", 1);
}

static void same_point(const struct ne_batch *a, const struct ne_point *p, const struct ne_batch *b,
                       const struct ne_point *q)
{
    check(ne_sv_eq(p->meas, q->meas), "measurement differs");
    check(p->ts == q->ts, "timestamp differs");
    check(p->ntags == q->ntags && p->nfields == q->nfields, "counts differ");
    for (uint32_t i = 0; i < p->ntags; i++) {
        check(ne_sv_eq(ne_point_tags(a, p)[i].key, ne_point_tags(b, q)[i].key), "tag key");
        check(ne_sv_eq(ne_point_tags(a, p)[i].val, ne_point_tags(b, q)[i].val), "tag value");
    }
    for (uint32_t i = 0; i < p->nfields; i++) {
        const struct ne_field *f = &ne_point_fields(a, p)[i], *g = &ne_point_fields(b, q)[i];
        check(ne_sv_eq(f->key, g->key) && f->type == g->type, "field key/type");
        if (f->type == NE_V_STRING)
            check(ne_sv_eq(f->v.s, g->v.s), "string value");
        else if (f->type == NE_V_BOOL)
            check(f->v.b == g->v.b, "bool value");
        else
            check(memcmp(&f->v, &g->v, 8) == 0, "numeric value");
    }
}

/* Two decodes of the same text (what names the second way) gave the same
 * return code, report and points. */
static void same_decode(const char *what, int rca, const struct ne_decode_report *ra,
                        const struct ne_batch *a, int rcb, const struct ne_decode_report *rb,
                        const struct ne_batch *b)
{
    char msg[96];
    snprintf(msg, sizeof msg, "%s: return code, report or points differ", what);
    check(rca == rcb, msg);
    check(ra->records == rb->records && ra->points == rb->points && ra->values == rb->values &&
              ra->bad == rb->bad && ra->first_record == rb->first_record &&
              strcmp(ra->first_error, rb->first_error) == 0,
          msg);
    check(a->npts == b->npts, msg);
    for (uint32_t i = 0; i < a->npts; i++)
        same_point(a, &a->pts[i], b, &b->pts[i]);
}

/* Decodes the input twice over with and without the series cache. */
static void check_series_cache(const uint8_t *data, size_t size)
{
    char *twice = malloc(2 * size + 2);
    check(twice != NULL, "malloc");
    memcpy(twice, data, size);
    twice[size] = '\n';
    memcpy(twice + size + 1, data, size);
    size_t n = 2 * size + 1;
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.now_ns = 1;
    struct ne_batch a, b;
    ne_batch_init(&a);
    ne_batch_init(&b);
    struct ne_decode_report ra, rb;
    int rca = ne_decode(&o, twice, n, &a, &ra);
    o.no_series_cache = true;
    int rcb = ne_decode(&o, twice, n, &b, &rb);
    same_decode("series cache", rca, &ra, &a, rcb, &rb, &b);
    ne_batch_free(&a);
    ne_batch_free(&b);
    free(twice);
}

/* Decodes a fresh copy of data with o; the copy is overwritten after. */
static int decode_copy(const struct ne_decode_opts *o, const uint8_t *data, size_t size,
                       struct ne_batch *b, struct ne_decode_report *r, char **copy)
{
    *copy = malloc(size + 1);
    check(*copy != NULL, "malloc");
    memcpy(*copy, data, size);
    ne_batch_reset(b);
    return ne_decode(o, *copy, size, b, r);
}

static void check_series_memo(const uint8_t *data, size_t size)
{
    static const struct ne_tag extra[] = {{{"t", 1}, {"x", 1}}};
    struct ne_series_memo *memo = NULL;
    check(ne_series_memo_new(size % 2 ? 4096 : 0, &memo) == 0, "memo");
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.now_ns = 1;
    o.memo = memo;
    struct ne_batch a, b;
    ne_batch_init(&a);
    ne_batch_init(&b);
    struct ne_decode_report ra, rb;
    char *c1 = NULL, *c2 = NULL;
    (void)decode_copy(&o, data, size, &a, &ra, &c1);
    memset(c1, '#', size);
    if (size && (data[0] & 1)) {
        o.tags = extra;
        o.ntags = 1;
    }
    int rca = decode_copy(&o, data, size, &a, &ra, &c2);
    o.memo = NULL;
    int rcb = ne_decode(&o, (const char *)data, size, &b, &rb);
    same_decode("series memo", rca, &ra, &a, rcb, &rb, &b);
    ne_batch_free(&a);
    ne_batch_free(&b);
    ne_series_memo_free(memo);
    free(c1);
    free(c2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.format = NE_PAYLOAD_LINE;
    o.now_ns = 1;
    struct ne_batch b, c;
    ne_batch_init(&b);
    ne_batch_init(&c);
    struct ne_decode_report r;
    int rc = ne_decode(&o, (const char *)data, size, &b, &r);
    check(rc == 0 || rc == NE_EPARSE || rc == NE_ENOMEM, "unexpected return");
    check(r.points == b.npts && r.values == b.nfields, "report disagrees with batch");
    check(r.bad + r.points == r.records || r.stopped, "records != points + bad");
    check((rc == NE_EPARSE) == (r.bad > 0), "return code vs bad count");
    struct out w = {0};
    uint32_t *idx = calloc(b.npts + 1, sizeof *idx);
    uint32_t nw = 0;
    for (uint32_t i = 0; i < b.npts; i++) {
        check(b.pts[i].nfields > 0 && b.pts[i].meas.n > 0, "empty point");
        if (writable(&b, &b.pts[i])) {
            write_point(&w, &b, &b.pts[i]);
            idx[nw++] = i;
        }
    }
    if (nw) {
        struct ne_decode_report r2;
        rc = ne_decode(&o, w.p, w.n, &c, &r2);
        if (rc != 0) fprintf(stderr, "re-decode failed: %s\n", r2.first_error);
        check(rc == 0 && c.npts == nw, "round trip lost points");
        for (uint32_t k = 0; k < nw; k++)
            same_point(&b, &b.pts[idx[k]], &c, &c.pts[k]);
    }
    free(idx);
    free(w.p);
    ne_batch_free(&b);
    ne_batch_free(&c);
    check_series_cache(data, size);
    check_series_memo(data, size);
    return 0;
}
