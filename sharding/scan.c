/*
 * scan.c - the remote read protocol (scan.h): codecs, the serving side
 * over the local store source, and the paging caller.
 *
 * Wire layouts (integers little endian; str = [len u16][bytes][0x00], the
 * NUL is checked so decoded strings can be used in place):
 *
 *   SCAN_REQ   [ver u8 = 1][db str][meas str][field str][type u8]
 *              [t0 i64][t1 i64][ring_shards u32]
 *              [nshards u32][shard u32 x nshards]
 *              [nseries u32][series hash u64 x nseries]
 *              [token_set u8][token_series u64][token_ts i64][max_reply u32]
 *   SCAN_REPLY [ver u8 = 1][token_set u8][token_series u64][token_ts i64]
 *              then chunks up to the end of the message:
 *              [meas str][ntags u16]([key str][value str]) x ntags
 *              [type u8][n u32][ts i64 x n][values]
 *              values by type: float u64 (IEEE bits), integer i64,
 *              unsigned u64, boolean u8 (0/1), string ([len u32][bytes]) x n.
 *              A set token means "ask again with it": more points follow.
 *   META_REQ   [ver u8 = 1][op u8][db str][meas str][ring_shards u32]
 *              [nshards u32][shard u32 x nshards][skip u32][max_reply u32]
 *   META_REPLY [ver u8 = 1][more u8] then entries up to the end:
 *              DATABASES, MEASUREMENTS: [name str]
 *              FIELDS: [name str][type u8]
 *              SERIES: [ntags u16]([key str][value str]) x ntags
 *
 * Serving a scan: the series of the request's shards are listed from the
 * store and read in ascending local id (the store scans series in creation
 * order, which is id order, each series' points ascending in time). When
 * the next run would pass the budget, the reply is cut inside the run and
 * the token names the series and the first timestamp not sent; at least
 * one point goes into every reply, so a scan always progresses. Metadata
 * replies are cut by entry count (skip), which stays right as long as the
 * listing does not change between two pages (a name added meanwhile may be
 * seen twice, which the caller's union absorbs, or once later).
 */
#include "sharding/scan.h"

#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"
#include "sharding/ring.h"
#include "sharding/transport.h"
#include "sharding/wire.h"

#define STR_MAX   65535u
#define STOP_FULL 1 /* points callback: the reply is full */

/* ---- writing ------------------------------------------------------------ */

static int put_str(struct ne_pbuf *b, const char *s, size_t n)
{
    if (n > STR_MAX) return NE_EINVAL;
    int rc = ne_wire_put_u16(b, (uint16_t)n);
    if (rc == 0) rc = ne_wire_put(b, s, n);
    return rc ? rc : ne_wire_put_u8(b, 0);
}

static int put_cstr(struct ne_pbuf *b, const char *s)
{
    return put_str(b, s ? s : "", s ? strlen(s) : 0);
}

static int put_tags(struct ne_pbuf *b, const struct ne_tag *tags, uint32_t ntags)
{
    if (ntags > 0xffffu) return NE_EINVAL;
    int rc = ne_wire_put_u16(b, (uint16_t)ntags);
    for (uint32_t i = 0; rc == 0 && i < ntags; i++) {
        rc = put_str(b, tags[i].key.p, tags[i].key.n);
        if (rc == 0) rc = put_str(b, tags[i].val.p, tags[i].val.n);
    }
    return rc;
}

static int put_token(struct ne_pbuf *b, const struct ne_scan_token *t)
{
    int rc = ne_wire_put_u8(b, t && t->set);
    if (rc == 0) rc = ne_wire_put_u64(b, t && t->set ? t->series : 0);
    return rc ? rc : ne_wire_put_u64(b, t && t->set ? (uint64_t)t->ts : 0);
}

/* ---- reading ------------------------------------------------------------ */

/* A str: a view of its bytes, NUL-terminated in place, no NUL inside. */
static struct ne_sv rd_str(struct ne_wire_rd *r)
{
    uint16_t n = ne_wire_u16(r);
    const uint8_t *p = ne_wire_take(r, (size_t)n + 1);
    if (!p || p[n] != 0 || memchr(p, 0, n)) {
        r->bad = true;
        return (struct ne_sv){"", 0};
    }
    return (struct ne_sv){(const char *)p, n};
}

static void rd_token(struct ne_wire_rd *r, struct ne_scan_token *t)
{
    uint8_t set = ne_wire_u8(r);
    t->series = ne_wire_u64(r);
    t->ts = (int64_t)ne_wire_u64(r);
    t->set = set == 1;
    if (set > 1) r->bad = true;
}

/* Reads count u32s (ascending, each < bound) into a fresh array. */
static uint32_t *rd_u32_array(struct ne_wire_rd *r, uint32_t count, uint32_t bound)
{
    if (r->bad || (r->n - r->off) / 4 < count) {
        r->bad = true;
        return NULL;
    }
    uint32_t *v = ne_malloc(((size_t)count + 1) * sizeof *v);
    if (!v) return NULL;
    for (uint32_t i = 0; i < count; i++) {
        v[i] = ne_wire_u32(r);
        if (v[i] >= bound || (i && v[i] <= v[i - 1])) r->bad = true;
    }
    return v;
}

static uint64_t *rd_u64_array(struct ne_wire_rd *r, uint32_t count)
{
    if (r->bad || (r->n - r->off) / 8 < count) {
        r->bad = true;
        return NULL;
    }
    uint64_t *v = ne_malloc(((size_t)count + 1) * sizeof *v);
    if (!v) return NULL;
    for (uint32_t i = 0; i < count; i++) {
        v[i] = ne_wire_u64(r);
        if (i && v[i] <= v[i - 1]) r->bad = true;
    }
    return v;
}

/* ---- scan requests ------------------------------------------------------ */

int ne_scan_req_encode(const struct ne_scan_req *q, struct ne_pbuf *out)
{
    if (!q->field || !*q->field || q->ring_shards == 0) return NE_EINVAL;
    int rc = ne_wire_put_u8(out, NE_SCAN_WIRE_VERSION);
    if (rc == 0) rc = put_cstr(out, q->db);
    if (rc == 0) rc = put_cstr(out, q->meas);
    if (rc == 0) rc = put_cstr(out, q->field);
    if (rc == 0) rc = ne_wire_put_u8(out, q->type);
    if (rc == 0) rc = ne_wire_put_u64(out, (uint64_t)q->t0);
    if (rc == 0) rc = ne_wire_put_u64(out, (uint64_t)q->t1);
    if (rc == 0) rc = ne_wire_put_u32(out, q->ring_shards);
    if (rc == 0) rc = ne_wire_put_u32(out, q->nshards);
    for (uint32_t i = 0; rc == 0 && i < q->nshards; i++)
        rc = ne_wire_put_u32(out, q->shards[i]);
    if (rc == 0) rc = ne_wire_put_u32(out, q->nseries);
    for (uint32_t i = 0; rc == 0 && i < q->nseries; i++)
        rc = ne_wire_put_u64(out, q->series[i]);
    if (rc == 0) rc = put_token(out, &q->token);
    return rc ? rc : ne_wire_put_u32(out, q->max_reply);
}

/* The arrays a decoded request owns (its owned_). */
struct req_arrays {
    uint32_t *shards;
    uint64_t *series;
};

int ne_scan_req_decode(const uint8_t *p, size_t n, struct ne_scan_req *q)
{
    memset(q, 0, sizeof *q);
    struct ne_wire_rd r = {p, n, 0, false};
    if (n >= 1 && p[0] != NE_SCAN_WIRE_VERSION) return NE_EVERSION;
    (void)ne_wire_u8(&r);
    q->db = rd_str(&r).p;
    q->meas = rd_str(&r).p;
    struct ne_sv field = rd_str(&r);
    q->field = field.p;
    q->type = ne_wire_u8(&r);
    q->t0 = (int64_t)ne_wire_u64(&r);
    q->t1 = (int64_t)ne_wire_u64(&r);
    q->ring_shards = ne_wire_u32(&r);
    if (r.bad || q->ring_shards == 0 || field.n == 0 || q->type < NE_V_FLOAT ||
        q->type > NE_V_STRING)
        return NE_ECORRUPT;
    struct req_arrays *a = ne_calloc(1, sizeof *a);
    if (!a) return NE_ENOMEM;
    q->owned_ = a;
    q->nshards = ne_wire_u32(&r);
    a->shards = rd_u32_array(&r, q->nshards, q->ring_shards);
    if (!r.bad && !a->shards) return NE_ENOMEM;
    q->nseries = ne_wire_u32(&r);
    a->series = rd_u64_array(&r, q->nseries);
    if (!r.bad && !a->series) return NE_ENOMEM;
    rd_token(&r, &q->token);
    q->max_reply = ne_wire_u32(&r);
    q->shards = a->shards;
    q->series = a->series;
    return r.bad || r.off != n ? NE_ECORRUPT : 0;
}

void ne_scan_req_release(struct ne_scan_req *q)
{
    struct req_arrays *a = q->owned_;
    if (a) {
        ne_free(a->shards);
        ne_free(a->series);
        ne_free(a);
    }
    q->owned_ = NULL;
    q->shards = NULL;
    q->series = NULL;
}

/* ---- scan replies ------------------------------------------------------- */

#define REPLY_HDR 18 /* ver + token */

int ne_scan_reply_init(struct ne_pbuf *out)
{
    out->len = 0;
    int rc = ne_wire_put_u8(out, NE_SCAN_WIRE_VERSION);
    return rc ? rc : put_token(out, NULL);
}

static size_t value_size(uint8_t type, const void *vals, size_t i)
{
    if (type == NE_V_BOOL) return 1;
    if (type == NE_V_STRING) return 4 + ((const struct ne_sv *)vals)[i].n;
    return 8;
}

static size_t chunk_head_size(const struct ne_scan_chunk_msg *c)
{
    size_t n = 3 + c->meas.n + 2 + 1 + 4;
    for (uint32_t i = 0; i < c->ntags; i++)
        n += 6 + c->tags[i].key.n + c->tags[i].val.n;
    return n;
}

size_t ne_scan_chunk_size(const struct ne_scan_chunk_msg *c)
{
    size_t n = chunk_head_size(c);
    for (size_t i = 0; i < c->n; i++)
        n += 8 + value_size(c->type, c->vals, i);
    return n;
}

static int put_values(struct ne_pbuf *b, uint8_t type, const void *vals, size_t n)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        switch (type) {
        case NE_V_FLOAT: {
            uint64_t bits;
            memcpy(&bits, (const double *)vals + i, 8);
            rc = ne_wire_put_u64(b, bits);
            break;
        }
        case NE_V_INT:
        case NE_V_UINT:
            rc = ne_wire_put_u64(b, ((const uint64_t *)vals)[i]);
            break;
        case NE_V_BOOL:
            rc = ne_wire_put_u8(b, ((const bool *)vals)[i] ? 1 : 0);
            break;
        case NE_V_STRING: {
            const struct ne_sv *s = (const struct ne_sv *)vals + i;
            rc = ne_wire_put_u32(b, s->n);
            if (rc == 0) rc = ne_wire_put(b, s->p, s->n);
            break;
        }
        default:
            rc = NE_EINVAL;
        }
    }
    return rc;
}

int ne_scan_reply_add(struct ne_pbuf *out, const struct ne_scan_chunk_msg *c)
{
    if (c->n > UINT32_MAX || c->type < NE_V_FLOAT || c->type > NE_V_STRING) return NE_EINVAL;
    int rc = ne_pbuf_reserve(out, ne_scan_chunk_size(c));
    if (rc == 0) rc = put_str(out, c->meas.p, c->meas.n);
    if (rc == 0) rc = put_tags(out, c->tags, c->ntags);
    if (rc == 0) rc = ne_wire_put_u8(out, c->type);
    if (rc == 0) rc = ne_wire_put_u32(out, (uint32_t)c->n);
    for (size_t i = 0; rc == 0 && i < c->n; i++)
        rc = ne_wire_put_u64(out, (uint64_t)c->ts[i]);
    return rc ? rc : put_values(out, c->type, c->vals, c->n);
}

void ne_scan_reply_finish(struct ne_pbuf *out, const struct ne_scan_token *next)
{
    if (out->len < REPLY_HDR) return;
    bool set = next && next->set;
    out->p[1] = set;
    ne_put_u64(out->p + 2, set ? next->series : 0);
    ne_put_u64(out->p + 10, set ? (uint64_t)next->ts : 0);
}

/* Scratch arrays a parser decodes into (aligned, reused per chunk). */
struct scratch {
    struct ne_tag *tags;
    size_t tags_cap;
    int64_t *ts;
    union ne_value *vals; /* large enough for every value array type */
    size_t cap;
};

static void scratch_free(struct scratch *s)
{
    ne_free(s->tags);
    ne_free(s->ts);
    ne_free(s->vals);
}

static int scratch_tags(struct scratch *s, size_t n)
{
    if (n <= s->tags_cap) return 0;
    struct ne_tag *t = ne_realloc(s->tags, n * sizeof *t);
    if (!t) return NE_ENOMEM;
    s->tags = t;
    s->tags_cap = n;
    return 0;
}

static int scratch_points(struct scratch *s, size_t n)
{
    if (n <= s->cap) return 0;
    int64_t *ts = ne_realloc(s->ts, n * sizeof *ts);
    if (!ts) return NE_ENOMEM;
    s->ts = ts;
    union ne_value *v = ne_realloc(s->vals, n * sizeof *v);
    if (!v) return NE_ENOMEM;
    s->vals = v;
    s->cap = n;
    return 0;
}

/* Reads [ntags u16] + pairs into s->tags. */
static int rd_tags(struct ne_wire_rd *r, struct scratch *s, uint32_t *ntags)
{
    *ntags = ne_wire_u16(r);
    if (r->bad) return NE_ECORRUPT;
    if (scratch_tags(s, *ntags ? *ntags : 1) != 0) return NE_ENOMEM;
    for (uint32_t i = 0; i < *ntags; i++) {
        s->tags[i].key = rd_str(r);
        s->tags[i].val = rd_str(r);
    }
    return r->bad ? NE_ECORRUPT : 0;
}

/* Reads n values of type into the scratch array. */
static int rd_values(struct ne_wire_rd *r, struct scratch *s, uint8_t type, size_t n)
{
    double *f = (double *)s->vals;
    uint64_t *u = (uint64_t *)s->vals;
    bool *b = (bool *)s->vals;
    struct ne_sv *sv = (struct ne_sv *)s->vals;
    for (size_t i = 0; i < n && !r->bad; i++) {
        switch (type) {
        case NE_V_FLOAT: {
            uint64_t bits = ne_wire_u64(r);
            memcpy(&f[i], &bits, 8);
            break;
        }
        case NE_V_INT:
        case NE_V_UINT:
            u[i] = ne_wire_u64(r);
            break;
        case NE_V_BOOL: {
            uint8_t v = ne_wire_u8(r);
            if (v > 1) r->bad = true;
            b[i] = v == 1;
            break;
        }
        case NE_V_STRING: {
            uint32_t len = ne_wire_u32(r);
            const uint8_t *p = ne_wire_take(r, len);
            sv[i] = (struct ne_sv){p ? (const char *)p : "", p ? len : 0};
            break;
        }
        default:
            r->bad = true;
        }
    }
    return r->bad ? NE_ECORRUPT : 0;
}

/* One chunk of a reply; calls fn. */
static int rd_chunk(struct ne_wire_rd *r, struct scratch *s, ne_scan_chunk_fn fn, void *arg)
{
    struct ne_scan_chunk_msg c = {0};
    c.meas = rd_str(r);
    int rc = rd_tags(r, s, &c.ntags);
    if (rc) return rc;
    c.type = ne_wire_u8(r);
    uint32_t n = ne_wire_u32(r);
    /* every point takes at least 9 bytes: bound n before allocating */
    if (r->bad || n == 0 || (r->n - r->off) / 9 < n) return NE_ECORRUPT;
    if (scratch_points(s, n) != 0) return NE_ENOMEM;
    for (uint32_t i = 0; i < n; i++) {
        s->ts[i] = (int64_t)ne_wire_u64(r);
        if (i && s->ts[i] <= s->ts[i - 1]) r->bad = true;
    }
    if ((rc = rd_values(r, s, c.type, n)) != 0) return rc;
    c.tags = s->tags;
    c.n = n;
    c.ts = s->ts;
    c.vals = s->vals;
    return fn(arg, &c);
}

int ne_scan_reply_parse(const uint8_t *p, size_t n, struct ne_scan_token *next, ne_scan_chunk_fn fn,
                        void *arg)
{
    struct ne_wire_rd r = {p, n, 0, false};
    if (n >= 1 && p[0] != NE_SCAN_WIRE_VERSION) return NE_EVERSION;
    (void)ne_wire_u8(&r);
    rd_token(&r, next);
    if (r.bad) return NE_ECORRUPT;
    struct scratch s = {0};
    int rc = 0;
    while (rc == 0 && r.off < n)
        rc = rd_chunk(&r, &s, fn, arg);
    scratch_free(&s);
    return rc;
}

/* ---- metadata requests and replies -------------------------------------- */

int ne_meta_req_encode(const struct ne_meta_req *q, struct ne_pbuf *out)
{
    if (q->op < NE_META_DATABASES || q->op > NE_META_SERIES) return NE_EINVAL;
    if (q->op == NE_META_SERIES && q->ring_shards == 0) return NE_EINVAL;
    int rc = ne_wire_put_u8(out, NE_SCAN_WIRE_VERSION);
    if (rc == 0) rc = ne_wire_put_u8(out, q->op);
    if (rc == 0) rc = put_cstr(out, q->db);
    if (rc == 0) rc = put_cstr(out, q->meas);
    if (rc == 0) rc = ne_wire_put_u32(out, q->ring_shards);
    if (rc == 0) rc = ne_wire_put_u32(out, q->nshards);
    for (uint32_t i = 0; rc == 0 && i < q->nshards; i++)
        rc = ne_wire_put_u32(out, q->shards[i]);
    if (rc == 0) rc = ne_wire_put_u32(out, q->skip);
    return rc ? rc : ne_wire_put_u32(out, q->max_reply);
}

int ne_meta_req_decode(const uint8_t *p, size_t n, struct ne_meta_req *q)
{
    memset(q, 0, sizeof *q);
    struct ne_wire_rd r = {p, n, 0, false};
    if (n >= 1 && p[0] != NE_SCAN_WIRE_VERSION) return NE_EVERSION;
    (void)ne_wire_u8(&r);
    q->op = ne_wire_u8(&r);
    q->db = rd_str(&r).p;
    q->meas = rd_str(&r).p;
    q->ring_shards = ne_wire_u32(&r);
    q->nshards = ne_wire_u32(&r);
    if (r.bad || q->op < NE_META_DATABASES || q->op > NE_META_SERIES ||
        (q->op == NE_META_SERIES && q->ring_shards == 0))
        return NE_ECORRUPT;
    uint32_t *shards = rd_u32_array(&r, q->nshards, q->ring_shards ? q->ring_shards : 1);
    if (!r.bad && !shards) return NE_ENOMEM;
    q->owned_ = shards;
    q->shards = shards;
    q->skip = ne_wire_u32(&r);
    q->max_reply = ne_wire_u32(&r);
    return r.bad || r.off != n ? NE_ECORRUPT : 0;
}

void ne_meta_req_release(struct ne_meta_req *q)
{
    ne_free(q->owned_);
    q->owned_ = NULL;
    q->shards = NULL;
}

int ne_meta_reply_init(struct ne_pbuf *out)
{
    out->len = 0;
    int rc = ne_wire_put_u8(out, NE_SCAN_WIRE_VERSION);
    return rc ? rc : ne_wire_put_u8(out, 0);
}

int ne_meta_reply_add(struct ne_pbuf *out, uint8_t op, const struct ne_meta_entry *e)
{
    if (op == NE_META_SERIES) return put_tags(out, e->tags, e->ntags);
    int rc = put_cstr(out, e->name);
    if (rc == 0 && op == NE_META_FIELDS) rc = ne_wire_put_u8(out, e->type);
    return rc;
}

void ne_meta_reply_finish(struct ne_pbuf *out, bool more)
{
    if (out->len >= 2) out->p[1] = more;
}

int ne_meta_reply_parse(const uint8_t *p, size_t n, uint8_t op, bool *more, ne_meta_entry_fn fn,
                        void *arg)
{
    struct ne_wire_rd r = {p, n, 0, false};
    if (n >= 1 && p[0] != NE_SCAN_WIRE_VERSION) return NE_EVERSION;
    (void)ne_wire_u8(&r);
    uint8_t m = ne_wire_u8(&r);
    if (r.bad || m > 1) return NE_ECORRUPT;
    *more = m == 1;
    struct scratch s = {0};
    int rc = 0;
    while (rc == 0 && r.off < n) {
        struct ne_meta_entry e = {0};
        if (op == NE_META_SERIES) {
            rc = rd_tags(&r, &s, &e.ntags);
            e.tags = s.tags;
        } else {
            e.name = rd_str(&r).p;
            if (op == NE_META_FIELDS) {
                e.type = ne_wire_u8(&r);
                if (e.type < NE_V_FLOAT || e.type > NE_V_STRING) r.bad = true;
            }
            rc = r.bad ? NE_ECORRUPT : 0;
        }
        if (rc == 0) rc = fn(arg, &e);
    }
    scratch_free(&s);
    return rc;
}

/* ---- local series selection --------------------------------------------- */

static bool has_u32(const uint32_t *v, uint32_t n, uint32_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v[mid] == x) return true;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

bool ne_scan_has_u64(const uint64_t *v, size_t n, uint64_t x)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (v[mid] == x) return true;
        if (v[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

struct select_ctx {
    struct ne_scan_series_set *out;
    struct ne_sv meas;
    uint32_t ring_shards;
    const uint32_t *shards;
    uint32_t nshards;
    const uint64_t *hashes;
    uint32_t nhashes;
    int rc;
};

/* Appends s's tag bytes to the string buffer; the views hold offsets
 * (p = NULL + offset) until the set is complete and the buffer settled. */
static int keep_series(struct select_ctx *c, const struct ne_qsrc_series *s, uint64_t h)
{
    struct ne_scan_series_set *o = c->out;
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 64;
        struct ne_scan_series *v = ne_realloc(o->v, cap * sizeof *v);
        if (!v) return NE_ENOMEM;
        o->v = v;
        o->cap = cap;
    }
    struct ne_tag *tags = s->ntags ? ne_malloc(s->ntags * sizeof *tags) : NULL;
    if (s->ntags && !tags) return NE_ENOMEM;
    for (uint32_t i = 0; i < s->ntags; i++) {
        size_t ko = o->strings.len;
        int rc = ne_wire_put(&o->strings, s->tags[i].key.p, s->tags[i].key.n);
        size_t vo = o->strings.len;
        if (rc == 0) rc = ne_wire_put(&o->strings, s->tags[i].val.p, s->tags[i].val.n);
        if (rc) {
            ne_free(tags);
            return rc;
        }
        tags[i].key = (struct ne_sv){(const char *)(uintptr_t)ko, s->tags[i].key.n};
        tags[i].val = (struct ne_sv){(const char *)(uintptr_t)vo, s->tags[i].val.n};
    }
    o->v[o->n++] = (struct ne_scan_series){s->id, h, tags, s->ntags};
    return 0;
}

static int select_one(void *arg, const struct ne_qsrc_series *s)
{
    struct select_ctx *c = arg;
    uint64_t h = ne_ring_series_hash(c->meas, s->tags, s->ntags);
    if (!has_u32(c->shards, c->nshards, (uint32_t)(h % c->ring_shards))) return 0;
    if (c->nhashes && !ne_scan_has_u64(c->hashes, c->nhashes, h)) return 0;
    return c->rc = keep_series(c, s, h);
}

static int by_id(const void *a, const void *b)
{
    uint64_t x = ((const struct ne_scan_series *)a)->id, y = ((const struct ne_scan_series *)b)->id;
    return x < y ? -1 : x > y;
}

int ne_scan_series_select(const struct ne_qsrc *local, const char *db, const char *meas,
                          uint32_t ring_shards, const uint32_t *shards, uint32_t nshards,
                          const uint64_t *hashes, uint32_t nhashes, struct ne_scan_series_set *out)
{
    memset(out, 0, sizeof *out);
    if (ring_shards == 0 || nshards == 0) return 0;
    struct select_ctx c = {out, ne_sv_c(meas), ring_shards, shards, nshards, hashes, nhashes, 0};
    int rc = local->series(local->ctx, db, meas, select_one, &c);
    if (c.rc) rc = c.rc;
    if (rc == NE_ENOTFOUND) rc = 0;
    for (size_t i = 0; i < out->n; i++) /* offsets become views */
        for (uint32_t k = 0; k < out->v[i].ntags; k++) {
            struct ne_tag *t = &out->v[i].tags[k];
            t->key.p = (const char *)out->strings.p + (uintptr_t)t->key.p;
            t->val.p = (const char *)out->strings.p + (uintptr_t)t->val.p;
        }
    if (out->n) qsort(out->v, out->n, sizeof *out->v, by_id);
    return rc;
}

void ne_scan_series_free(struct ne_scan_series_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        ne_free(s->v[i].tags);
    ne_free(s->v);
    ne_pbuf_free(&s->strings);
    memset(s, 0, sizeof *s);
}

const struct ne_scan_series *ne_scan_series_find(const struct ne_scan_series_set *s, uint64_t id)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (s->v[mid].id == id) return &s->v[mid];
        if (s->v[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

struct field_find {
    const char *name;
    enum ne_vtype type;
    bool found;
};

static int find_field(void *arg, const char *name, enum ne_vtype type)
{
    struct field_find *f = arg;
    if (strcmp(name, f->name) != 0) return 0;
    f->type = type;
    f->found = true;
    return 1;
}

int ne_scan_field_type(const struct ne_qsrc *local, const char *db, const char *meas,
                       const char *field, enum ne_vtype *type)
{
    struct field_find f = {field, 0, false};
    int rc = local->fields(local->ctx, db, meas, find_field, &f);
    if (f.found) {
        *type = f.type;
        return 0;
    }
    return rc < 0 && rc != NE_ENOTFOUND ? rc : NE_ENOTFOUND;
}

/* ---- serving a scan ----------------------------------------------------- */

struct serve_scan {
    const struct ne_scan_req *q;
    const struct ne_scan_series_set *set;
    struct ne_pbuf *reply;
    size_t budget;
    size_t chunks; /* chunks in the reply */
    struct ne_scan_token next;
    int rc;
};

/* How many of the run's first n points fit in the budget (at least one
 * when the reply holds no chunk yet). */
static size_t points_that_fit(const struct serve_scan *s, const struct ne_scan_chunk_msg *c)
{
    size_t used = s->reply->len + chunk_head_size(c), k = 0;
    while (k < c->n) {
        size_t add = 8 + value_size(c->type, c->vals, k);
        if (used + add > s->budget) break;
        used += add;
        k++;
    }
    return k == 0 && s->chunks == 0 ? 1 : k;
}

static int serve_points(void *arg, uint64_t id, const int64_t *ts, const void *vals, size_t n)
{
    struct serve_scan *s = arg;
    const struct ne_scan_series *ser = ne_scan_series_find(s->set, id);
    if (!ser || n == 0) return 0;
    struct ne_scan_chunk_msg c = {
        ne_sv_c(s->q->meas), ser->tags, ser->ntags, s->q->type, n, ts, vals};
    size_t k = points_that_fit(s, &c);
    if (k < n) {
        s->next = (struct ne_scan_token){true, id, ts[k]};
        if (k == 0) return STOP_FULL;
        c.n = k;
    }
    int rc = ne_scan_reply_add(s->reply, &c);
    if (rc) return s->rc = rc;
    s->chunks++;
    return k < n ? STOP_FULL : 0;
}

/* Scans the series of set from index `from` on. */
static int serve_scan_from(const struct ne_qsrc *local, struct serve_scan *s, size_t from,
                           int64_t t0)
{
    size_t n = s->set->n - from;
    if (n == 0) return 0;
    uint64_t *ids = ne_malloc(n * sizeof *ids);
    if (!ids) return NE_ENOMEM;
    for (size_t i = 0; i < n; i++)
        ids[i] = s->set->v[from + i].id;
    int rc = local->scan(local->ctx, s->q->db, s->q->meas, ids, n, s->q->field,
                         (enum ne_vtype)s->q->type, t0, s->q->t1, serve_points, NULL, s);
    ne_free(ids);
    if (s->rc) return s->rc;
    if (rc == STOP_FULL) return STOP_FULL;
    return rc == NE_ENOTFOUND ? 0 : rc;
}

/* The local type must be the one asked for: values are read as it. */
static int check_type(const struct ne_qsrc *local, const struct ne_scan_req *q, bool *absent)
{
    enum ne_vtype t;
    int rc = ne_scan_field_type(local, q->db, q->meas, q->field, &t);
    *absent = rc == NE_ENOTFOUND;
    if (rc) return *absent ? 0 : rc;
    return (uint8_t)t == q->type ? 0 : NE_ECONFLICT;
}

static int serve_scan_req(const struct ne_qsrc *local, const struct ne_scan_req *q,
                          struct ne_pbuf *reply)
{
    bool absent = false;
    int rc = check_type(local, q, &absent);
    if (rc) return rc;
    if ((rc = ne_scan_reply_init(reply)) != 0) return rc;
    struct ne_scan_series_set set;
    if (!absent)
        rc = ne_scan_series_select(local, q->db, q->meas, q->ring_shards, q->shards, q->nshards,
                                   q->series, q->nseries, &set);
    else
        memset(&set, 0, sizeof set);
    uint32_t budget = q->max_reply ? q->max_reply : NE_SCAN_REPLY_DEFAULT;
    budget = budget < NE_SCAN_REPLY_MIN ? NE_SCAN_REPLY_MIN : budget;
    budget = budget > NE_SCAN_REPLY_MAX ? NE_SCAN_REPLY_MAX : budget;
    struct serve_scan s = {.q = q, .set = &set, .reply = reply, .budget = budget};
    size_t from = 0;
    if (rc == 0 && q->token.set) {
        while (from < set.n && set.v[from].id < q->token.series)
            from++;
        if (from < set.n && set.v[from].id == q->token.series) {
            /* the series the last reply was cut in: from the token's time */
            struct ne_scan_series_set one = set;
            one.v = &set.v[from];
            one.n = 1;
            s.set = &one;
            int64_t t0 = q->token.ts > q->t0 ? q->token.ts : q->t0;
            rc = serve_scan_from(local, &s, 0, t0);
            s.set = &set;
            from++;
        }
    }
    if (rc == 0) rc = serve_scan_from(local, &s, from, q->t0);
    ne_scan_series_free(&set);
    if (rc == STOP_FULL)
        rc = 0;
    else if (rc == 0)
        s.next.set = false;
    if (rc == 0) ne_scan_reply_finish(reply, &s.next);
    return rc;
}

/* ---- serving metadata ---------------------------------------------------- */

struct serve_meta {
    const struct ne_meta_req *q;
    struct ne_pbuf *reply;
    size_t budget;
    uint32_t seen, added;
    bool more;
    int rc;
};

/* Adds one entry unless it was sent before (skip) or the budget is spent. */
static int meta_add(struct serve_meta *m, const struct ne_meta_entry *e)
{
    if (m->seen++ < m->q->skip) return 0;
    size_t before = m->reply->len;
    int rc = ne_meta_reply_add(m->reply, m->q->op, e);
    if (rc) return m->rc = rc;
    if (m->reply->len > m->budget && m->added > 0) {
        m->reply->len = before;
        m->more = true;
        return STOP_FULL;
    }
    m->added++;
    return 0;
}

static int meta_name(void *arg, const char *name)
{
    struct ne_meta_entry e = {.name = name};
    return meta_add(arg, &e);
}

static int meta_field(void *arg, const char *name, enum ne_vtype type)
{
    struct ne_meta_entry e = {.name = name, .type = (uint8_t)type};
    return meta_add(arg, &e);
}

static int serve_meta_req(const struct ne_qsrc *local, const struct ne_meta_req *q,
                          struct ne_pbuf *reply)
{
    int rc = ne_meta_reply_init(reply);
    if (rc) return rc;
    uint32_t budget = q->max_reply ? q->max_reply : NE_SCAN_REPLY_DEFAULT;
    budget = budget < NE_SCAN_REPLY_MIN ? NE_SCAN_REPLY_MIN : budget;
    budget = budget > NE_SCAN_REPLY_MAX ? NE_SCAN_REPLY_MAX : budget;
    struct serve_meta m = {.q = q, .reply = reply, .budget = budget};
    switch (q->op) {
    case NE_META_DATABASES:
        rc = local->databases(local->ctx, meta_name, &m);
        break;
    case NE_META_MEASUREMENTS:
        rc = local->measurements(local->ctx, q->db, meta_name, &m);
        break;
    case NE_META_FIELDS:
        rc = local->fields(local->ctx, q->db, q->meas, meta_field, &m);
        break;
    default: { /* NE_META_SERIES: by local id, the order paging needs */
        struct ne_scan_series_set set;
        rc = ne_scan_series_select(local, q->db, q->meas, q->ring_shards, q->shards, q->nshards,
                                   NULL, 0, &set);
        for (size_t i = 0; rc == 0 && i < set.n; i++) {
            struct ne_meta_entry e = {.tags = set.v[i].tags, .ntags = set.v[i].ntags};
            rc = meta_add(&m, &e);
        }
        ne_scan_series_free(&set);
    }
    }
    if (m.rc) return m.rc;
    if (rc == STOP_FULL || rc == NE_ENOTFOUND) rc = 0;
    if (rc == 0) ne_meta_reply_finish(reply, m.more);
    return rc;
}

bool ne_scan_is_request(uint8_t type)
{
    return type == NE_FT_SCAN_REQ || type == NE_FT_META_REQ;
}

int ne_scan_serve(const struct ne_qsrc *local, uint8_t type, const uint8_t *msg, size_t n,
                  struct ne_pbuf *reply, uint8_t *reply_type)
{
    int rc;
    if (type == NE_FT_SCAN_REQ) {
        struct ne_scan_req q;
        rc = ne_scan_req_decode(msg, n, &q);
        if (rc == 0) rc = serve_scan_req(local, &q, reply);
        ne_scan_req_release(&q);
        *reply_type = NE_FT_SCAN_REPLY;
    } else if (type == NE_FT_META_REQ) {
        struct ne_meta_req q;
        rc = ne_meta_req_decode(msg, n, &q);
        if (rc == 0) rc = serve_meta_req(local, &q, reply);
        ne_meta_req_release(&q);
        *reply_type = NE_FT_META_REPLY;
    } else {
        rc = NE_EINVAL;
    }
    return rc;
}

/* ---- calling ------------------------------------------------------------- */

int ne_scan_remote(struct ne_transport *t, const char *peer_id, const char *addr,
                   const struct ne_scan_req *req, ne_scan_chunk_fn fn, void *arg)
{
    struct ne_scan_req q = *req;
    struct ne_pbuf msg = {0}, reply = {0};
    int rc;
    do {
        msg.len = 0;
        uint8_t rtype = 0;
        rc = ne_scan_req_encode(&q, &msg);
        if (rc == 0)
            rc =
                ne_transport_call(t, peer_id, addr, NE_FT_SCAN_REQ, msg.p, msg.len, &reply, &rtype);
        if (rc == 0 && rtype != NE_FT_SCAN_REPLY) rc = NE_ECORRUPT;
        struct ne_scan_token next = {0};
        if (rc == 0) rc = ne_scan_reply_parse(reply.p, reply.len, &next, fn, arg);
        q.token = next;
    } while (rc == 0 && q.token.set);
    ne_pbuf_free(&msg);
    ne_pbuf_free(&reply);
    return rc;
}

struct meta_count {
    ne_meta_entry_fn fn;
    void *arg;
    uint32_t n;
};

static int count_entry(void *arg, const struct ne_meta_entry *e)
{
    struct meta_count *c = arg;
    c->n++;
    return c->fn(c->arg, e);
}

int ne_meta_remote(struct ne_transport *t, const char *peer_id, const char *addr,
                   const struct ne_meta_req *req, ne_meta_entry_fn fn, void *arg)
{
    struct ne_meta_req q = *req;
    struct ne_pbuf msg = {0}, reply = {0};
    struct meta_count cnt = {fn, arg, 0};
    bool more = false;
    int rc;
    do {
        msg.len = 0;
        uint8_t rtype = 0;
        uint32_t before = cnt.n;
        q.skip = req->skip + cnt.n;
        rc = ne_meta_req_encode(&q, &msg);
        if (rc == 0)
            rc =
                ne_transport_call(t, peer_id, addr, NE_FT_META_REQ, msg.p, msg.len, &reply, &rtype);
        if (rc == 0 && rtype != NE_FT_META_REPLY) rc = NE_ECORRUPT;
        if (rc == 0) rc = ne_meta_reply_parse(reply.p, reply.len, q.op, &more, count_entry, &cnt);
        if (rc == 0 && more && cnt.n == before) rc = NE_ECORRUPT; /* no progress */
    } while (rc == 0 && more);
    ne_pbuf_free(&msg);
    ne_pbuf_free(&reply);
    return rc;
}
