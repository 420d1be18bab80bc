/*
 * antientropy.c - digests of the local store per shard, bucket and
 * series, the anti-entropy requests that exchange them, and the pull that
 * repairs what differs. Levels, wire formats and costs: antientropy.h.
 *
 * Digests are computed from a fresh read of the store each time (nothing
 * is cached, so they can never go stale), over the time window a round
 * asks for; the per-point hash covers every
 * byte that makes two replicas' answers differ: database, series, field,
 * type, timestamp, value and version.
 */
#include "sharding/antientropy.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sharding/replicate.h"
#include "sharding/tomb.h"
#include "sharding/wire.h"

#define MOD         "antientropy"
#define PULL_KEYS   256     /* series per pull request */
#define COMBINE_AT  (1u << 16) /* entries gathered before they are combined */
#define MAX_PEERS   64      /* peers whose round history is kept */
#define PEER_NAME   64

/* What a node remembers of its rounds with one peer (by ring node name). */
struct peer_hist {
    char name[PEER_NAME];
    int64_t last_ok;    /* wall time the last successful round started; 0: none */
    uint32_t sweep_pos; /* the shard slice the next round sweeps */
    bool full;          /* the next round compares all time */
};

struct ne_ae {
    struct ne_ae_opts o;
    _Atomic uint64_t rounds, rounds_failed, buckets_compared, buckets_differing, series_differing,
        points_repaired, bytes_pulled, tombs_learned, points_digested, rounds_full;
    pthread_mutex_t mu; /* guards peers */
    struct peer_hist peers[MAX_PEERS];
    size_t npeers;
};

/* ---- hashing -------------------------------------------------------------- */

static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

uint64_t ne_ae_series_key(const char *db, const struct ne_series_info *s)
{
    struct ne_sv meas = ne_sv_c(s->measurement);
    return mix64(ne_ring_hash(db, strlen(db)) ^
                 mix64(ne_ring_series_hash(meas, s->tags, s->ntags)));
}

static uint64_t shard_of(const struct ne_series_info *s, uint32_t shards)
{
    return ne_ring_series_hash(ne_sv_c(s->measurement), s->tags, s->ntags) % shards;
}

static uint64_t value_bits(const struct ne_scan_chunk *c, size_t i)
{
    switch (c->type) {
    case NE_V_FLOAT: {
        uint64_t u;
        memcpy(&u, &c->v.f[i], sizeof u);
        return u;
    }
    case NE_V_INT:
        return (uint64_t)c->v.i[i];
    case NE_V_UINT:
        return c->v.u[i];
    case NE_V_BOOL:
        return c->v.b[i] ? 1 : 0;
    default:
        return ne_ring_hash(c->v.s[i].p, c->v.s[i].n);
    }
}

/* H(point): the column's hash (series key, field, type) mixed with the
 * point's timestamp, value and version. */
static uint64_t point_hash(uint64_t col, const struct ne_scan_chunk *c, size_t i)
{
    uint64_t h = mix64(col ^ (uint64_t)c->ts[i]);
    h = mix64(h ^ value_bits(c, i));
    return mix64(h + (c->ver ? c->ver[i] : 0));
}

static uint64_t col_hash(uint64_t key, const struct ne_scan_chunk *c)
{
    return mix64(key ^ ne_ring_hash(c->field, strlen(c->field)) ^ (uint64_t)c->type << 56);
}

static int64_t bucket_of(int64_t ts, int64_t bns)
{
    int64_t b = ts / bns;
    return (ts % bns < 0) ? b - 1 : b; /* floor */
}

/* ---- digest tables ----------------------------------------------------- */

/* (a, b) -> digest entries, combined by sorting: a = shard or series key,
 * b = bucket (0 at the series level). */
struct dent {
    uint64_t a;
    int64_t b;
    uint64_t d;
};

struct dtab {
    struct dent *v;
    size_t n, cap, combined; /* v[0..combined) is sorted and unique */
};

static int dent_cmp(const void *x, const void *y)
{
    const struct dent *p = x, *q = y;
    if (p->a != q->a) return p->a < q->a ? -1 : 1;
    return (p->b > q->b) - (p->b < q->b);
}

static void dtab_combine(struct dtab *t)
{
    if (t->combined == t->n) return;
    qsort(t->v, t->n, sizeof *t->v, dent_cmp);
    size_t k = 0;
    for (size_t i = 0; i < t->n; i++) {
        if (k && t->v[k - 1].a == t->v[i].a && t->v[k - 1].b == t->v[i].b)
            t->v[k - 1].d += t->v[i].d;
        else
            t->v[k++] = t->v[i];
    }
    t->n = t->combined = k;
}

static int dtab_add(struct dtab *t, uint64_t a, int64_t b, uint64_t d)
{
    if (t->n == t->cap) {
        if (t->n - t->combined >= COMBINE_AT) dtab_combine(t);
        if (t->n == t->cap) {
            size_t nc = t->cap ? t->cap * 2 : 1024;
            struct dent *v = ne_realloc(t->v, nc * sizeof *v);
            if (!v) return NE_ENOMEM;
            t->v = v;
            t->cap = nc;
        }
    }
    t->v[t->n++] = (struct dent){a, b, d};
    return 0;
}

static void dtab_free(struct dtab *t)
{
    ne_free(t->v);
    memset(t, 0, sizeof *t);
}

/* Finds (a, b) in a combined table; NULL if absent. */
static const struct dent *dtab_find(const struct dtab *t, uint64_t a, int64_t b)
{
    struct dent k = {a, b, 0};
    return t->n ? bsearch(&k, t->v, t->n, sizeof k, dent_cmp) : NULL;
}

/* ---- reading the store ------------------------------------------------- */

struct names {
    char **v;
    size_t n, cap;
};

static int names_add(void *ctx, const char *name)
{
    struct names *nm = ctx;
    if (nm->n == nm->cap) {
        size_t nc = nm->cap ? nm->cap * 2 : 16;
        char **v = ne_realloc(nm->v, nc * sizeof *v);
        if (!v) return NE_ENOMEM;
        nm->v = v;
        nm->cap = nc;
    }
    if (!(nm->v[nm->n] = ne_strdup(name))) return NE_ENOMEM;
    nm->n++;
    return 0;
}

static void names_free(struct names *nm)
{
    for (size_t i = 0; i < nm->n; i++)
        ne_free(nm->v[i]);
    ne_free(nm->v);
    memset(nm, 0, sizeof *nm);
}

/* Calls fn for every column chunk of the store with points in [t0, t1] of
 * the series filter accepts (filter runs first, so other series are not
 * read at all). */
static int walk(struct ne_store *st, int64_t t0, int64_t t1, ne_store_filter_fn filter,
                ne_store_chunk_fn fn, void *ctx)
{
    struct names dbs = {0};
    int rc = ne_store_list_databases(st, names_add, &dbs);
    for (size_t i = 0; rc == 0 && i < dbs.n; i++) {
        struct names ms = {0};
        rc = ne_store_list_measurements(st, dbs.v[i], names_add, &ms);
        if (rc == NE_ENOTFOUND) rc = 0; /* dropped meanwhile */
        for (size_t j = 0; rc == 0 && j < ms.n; j++) {
            struct ne_store_scan_req q = {.db = dbs.v[i],
                                          .measurement = ms.v[j],
                                          .filter = filter,
                                          .filter_ctx = ctx,
                                          .t0 = t0,
                                          .t1 = t1};
            rc = ne_store_scan(st, &q, fn, ctx);
            if (rc == NE_ENOTFOUND) rc = 0;
        }
        names_free(&ms);
    }
    names_free(&dbs);
    return rc;
}

/* What a walk gathers: the roots of some shards (level 1: one sum per
 * shard, no table), the bucket digests of one shard (level 2), or the
 * series digests of one shard's bucket (level 3). */
enum glevel { G_ROOTS = 1, G_BUCKETS = 2, G_SERIES = 3 };
struct gather {
    struct ne_ae *ae;
    enum glevel level;
    int64_t bns;
    uint32_t shards;
    const bool *want; /* G_ROOTS: shards to digest (shards entries) */
    uint64_t *roots;  /* G_ROOTS: per shard, sum of its point hashes */
    bool *any;        /* G_ROOTS: per shard, some point was seen */
    uint32_t shard;   /* G_BUCKETS, G_SERIES: the shard */
    struct dtab t;    /* G_BUCKETS, G_SERIES */
};

static bool gather_filter(void *ctx, const struct ne_series_info *s)
{
    struct gather *g = ctx;
    uint32_t sh = (uint32_t)shard_of(s, g->shards);
    return g->level == G_ROOTS ? g->want[sh] : sh == g->shard;
}

static int gather_chunk(void *ctx, const struct ne_scan_chunk *c)
{
    struct gather *g = ctx;
    uint32_t sh = (uint32_t)shard_of(c->series, g->shards);
    uint64_t key = ne_ae_series_key(c->series->db, c->series);
    uint64_t col = col_hash(key, c);
    atomic_fetch_add(&g->ae->points_digested, c->n);
    size_t i = 0;
    while (i < c->n) { /* points are in time order: one entry per bucket run */
        int64_t b = bucket_of(c->ts[i], g->bns);
        uint64_t d = 0;
        for (; i < c->n && bucket_of(c->ts[i], g->bns) == b; i++)
            d += point_hash(col, c, i);
        int rc = 0;
        if (g->level == G_ROOTS) {
            g->roots[sh] += d; /* the sum of the shard's bucket digests */
            g->any[sh] = true;
        } else {
            rc = g->level == G_SERIES ? dtab_add(&g->t, key, 0, d) : dtab_add(&g->t, sh, b, d);
        }
        if (rc) return rc;
    }
    return 0;
}

/* True if bucket b's time range fits in int64 (a peer may send any b). */
static bool bucket_ok(int64_t b, int64_t bns)
{
    return b >= INT64_MIN / bns && b <= (INT64_MAX - (bns - 1)) / bns;
}

static int64_t bucket_t0(int64_t b, int64_t bns)
{
    return b * bns;
}

static int64_t bucket_t1(int64_t b, int64_t bns)
{
    return b * bns + (bns - 1);
}

/* Level 1 of the shards in want[] over the points with t0 <= ts <= t1:
 * roots[s] (shards entries, zeroed here; 0 for a shard without data). */
static int shard_roots(struct ne_ae *ae, uint32_t shards, const bool *want, int64_t t0, int64_t t1,
                       uint64_t *roots)
{
    bool *any = ne_calloc(shards, sizeof *any);
    if (!any) return NE_ENOMEM;
    memset(roots, 0, shards * sizeof *roots);
    struct gather g = {.ae = ae, .level = G_ROOTS, .bns = ae->o.bucket_ns, .shards = shards,
                       .want = want, .roots = roots, .any = any};
    int rc = walk(ae->o.store, t0, t1, gather_filter, gather_chunk, &g);
    for (uint32_t s = 0; s < shards; s++)
        if (any[s]) roots[s] = mix64(roots[s]) | 1; /* data never reads as "none" */
    ne_free(any);
    return rc;
}

/* Level 2 of one shard over [t0, t1] (whole buckets): (shard, bucket) ->
 * digest, combined. */
static int bucket_digests(struct ne_ae *ae, uint32_t shards, uint32_t shard, int64_t t0,
                          int64_t t1, struct dtab *out)
{
    struct gather g = {.ae = ae, .level = G_BUCKETS, .bns = ae->o.bucket_ns, .shards = shards,
                       .shard = shard};
    int rc = walk(ae->o.store, t0, t1, gather_filter, gather_chunk, &g);
    dtab_combine(&g.t);
    if (rc) dtab_free(&g.t);
    *out = g.t;
    return rc;
}

/* Level 3 of one shard and bucket: series key -> digest, combined. */
static int series_digests(struct ne_ae *ae, uint32_t shards, uint32_t shard, int64_t bucket,
                          struct dtab *out)
{
    struct gather g = {.ae = ae, .level = G_SERIES, .bns = ae->o.bucket_ns, .shards = shards,
                       .shard = shard};
    int rc = walk(ae->o.store, bucket_t0(bucket, g.bns), bucket_t1(bucket, g.bns), gather_filter,
                  gather_chunk, &g);
    dtab_combine(&g.t);
    if (rc) dtab_free(&g.t);
    *out = g.t;
    return rc;
}

/* Aligns t0 down to the start of its bucket (digests cover whole buckets). */
static int64_t window_t0(int64_t t0, int64_t bns)
{
    return t0 > INT64_MIN + bns ? bucket_t0(bucket_of(t0, bns), bns) : INT64_MIN;
}

/* ---- serving ------------------------------------------------------------ */

/* The optional [t0 i64][t1 i64] window that ends a ROOTS or BUCKETS
 * request (rest: bytes left after the fixed part): all time without it.
 * Returns 0 or NE_ECORRUPT. */
static int read_window(struct ne_wire_rd *r, size_t rest, int64_t bns, int64_t *t0, int64_t *t1)
{
    *t0 = INT64_MIN;
    *t1 = INT64_MAX;
    if (rest == 0) return 0;
    if (rest != 16) return NE_ECORRUPT;
    *t0 = (int64_t)ne_wire_u64(r);
    *t1 = (int64_t)ne_wire_u64(r);
    if (r->bad || *t0 > *t1) return NE_ECORRUPT;
    *t0 = window_t0(*t0, bns);
    return 0;
}

static int serve_roots(struct ne_ae *ae, uint32_t shards, struct ne_wire_rd *r,
                       struct ne_pbuf *reply)
{
    uint32_t n = ne_wire_u32(r);
    if (r->bad || n > shards || (size_t)n * 4 > r->n - r->off) return NE_ECORRUPT;
    size_t rest = r->n - r->off - (size_t)n * 4;
    bool *want = ne_calloc(shards, sizeof *want);
    uint32_t *list = ne_malloc((n ? n : 1) * sizeof *list);
    uint64_t *roots = ne_malloc(shards * sizeof *roots);
    int rc = want && list && roots ? 0 : NE_ENOMEM;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        list[i] = ne_wire_u32(r);
        if (list[i] >= shards) rc = NE_ECORRUPT;
        else want[list[i]] = true;
    }
    int64_t t0 = 0, t1 = 0;
    if (rc == 0) rc = read_window(r, rest, ae->o.bucket_ns, &t0, &t1);
    if (rc == 0) rc = shard_roots(ae, shards, want, t0, t1, roots);
    if (rc == 0) rc = ne_wire_put_u32(reply, n);
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        rc = ne_wire_put_u32(reply, list[i]);
        if (rc == 0) rc = ne_wire_put_u64(reply, roots[list[i]]);
    }
    ne_free(roots);
    ne_free(want);
    ne_free(list);
    return rc;
}

static int serve_buckets(struct ne_ae *ae, uint32_t shards, struct ne_wire_rd *r,
                         struct ne_pbuf *reply)
{
    uint32_t shard = ne_wire_u32(r);
    int64_t t0 = 0, t1 = 0;
    if (r->bad || shard >= shards || read_window(r, r->n - r->off, ae->o.bucket_ns, &t0, &t1))
        return NE_ECORRUPT;
    struct dtab t = {0};
    int rc = bucket_digests(ae, shards, shard, t0, t1, &t);
    if (rc == 0) rc = ne_wire_put_u32(reply, (uint32_t)t.n);
    for (size_t i = 0; rc == 0 && i < t.n; i++) {
        rc = ne_wire_put_u64(reply, (uint64_t)t.v[i].b);
        if (rc == 0) rc = ne_wire_put_u64(reply, t.v[i].d);
    }
    dtab_free(&t);
    return rc;
}

static int serve_series(struct ne_ae *ae, uint32_t shards, struct ne_wire_rd *r,
                        struct ne_pbuf *reply)
{
    uint32_t shard = ne_wire_u32(r);
    int64_t bucket = (int64_t)ne_wire_u64(r);
    if (r->bad || r->off != r->n || shard >= shards || !bucket_ok(bucket, ae->o.bucket_ns))
        return NE_ECORRUPT;
    struct dtab t = {0};
    int rc = series_digests(ae, shards, shard, bucket, &t);
    if (rc == 0) rc = ne_wire_put_u32(reply, (uint32_t)t.n);
    for (size_t i = 0; rc == 0 && i < t.n; i++) {
        rc = ne_wire_put_u64(reply, t.v[i].a);
        if (rc == 0) rc = ne_wire_put_u64(reply, t.v[i].d);
    }
    dtab_free(&t);
    return rc;
}

/* A pull being served: the series asked for, and the reply built. */
struct pull {
    uint32_t shards, shard;
    const uint64_t *keys; /* sorted */
    uint32_t nkeys;
    struct ne_pbuf *reply;
    uint32_t nrec;
    struct ne_batch b;
    uint64_t *ver;
    uint32_t *idx;
    size_t cap;
    struct ne_pbuf rec;
};

static int u64_cmp(const void *x, const void *y)
{
    uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
    return (a > b) - (a < b);
}

static int pull_grow(struct pull *p, size_t n)
{
    if (n <= p->cap) return 0;
    uint64_t *v = ne_realloc(p->ver, n * sizeof *v);
    if (v) p->ver = v;
    uint32_t *ix = v ? ne_realloc(p->idx, n * sizeof *ix) : NULL;
    if (!ix) return NE_ENOMEM;
    p->idx = ix;
    p->cap = n;
    return 0;
}

static union ne_value chunk_value(const struct ne_scan_chunk *c, size_t i)
{
    union ne_value v;
    memset(&v, 0, sizeof v);
    switch (c->type) {
    case NE_V_FLOAT:
        v.f = c->v.f[i];
        break;
    case NE_V_INT:
        v.i = c->v.i[i];
        break;
    case NE_V_UINT:
        v.u = c->v.u[i];
        break;
    case NE_V_BOOL:
        v.b = c->v.b[i];
        break;
    default:
        v.s = c->v.s[i];
        break;
    }
    return v;
}

static bool pull_filter(void *ctx, const struct ne_series_info *s)
{
    struct pull *p = ctx;
    uint64_t key = ne_ae_series_key(s->db, s);
    return shard_of(s, p->shards) == p->shard &&
           bsearch(&key, p->keys, p->nkeys, sizeof key, u64_cmp) != NULL;
}

/* One column of a pulled series: one record of its points. */
static int pull_chunk(void *ctx, const struct ne_scan_chunk *c)
{
    struct pull *p = ctx;
    int rc = pull_grow(p, c->n);
    ne_batch_reset(&p->b);
    struct ne_sv meas = ne_sv_c(c->series->measurement), field = ne_sv_c(c->field);
    for (size_t i = 0; rc == 0 && i < c->n; i++) {
        rc = ne_batch_begin(&p->b, meas, c->ts[i]);
        for (uint32_t t = 0; rc == 0 && t < c->series->ntags; t++)
            rc = ne_batch_tag(&p->b, c->series->tags[t].key, c->series->tags[t].val);
        if (rc == 0) rc = ne_batch_field(&p->b, field, c->type, chunk_value(c, i));
        if (rc == 0) rc = ne_batch_end(&p->b);
        p->ver[i] = c->ver ? c->ver[i] : 0;
        p->idx[i] = (uint32_t)i;
    }
    p->rec.len = 0;
    if (rc == 0) rc = ne_repl_encode(&p->rec, c->series->db, &p->b, p->ver, p->idx, c->n);
    if (rc == 0 && p->reply->len + p->rec.len + 4 > NE_AE_PULL_MAX) rc = NE_ETOOBIG;
    if (rc == 0) rc = ne_wire_put_u32(p->reply, (uint32_t)p->rec.len);
    if (rc == 0) rc = ne_wire_put(p->reply, p->rec.p, p->rec.len);
    if (rc == 0) p->nrec++;
    return rc;
}

static int serve_pull(struct ne_ae *ae, uint32_t shards, struct ne_wire_rd *r,
                      struct ne_pbuf *reply)
{
    uint32_t shard = ne_wire_u32(r);
    int64_t t0 = (int64_t)ne_wire_u64(r), t1 = (int64_t)ne_wire_u64(r);
    uint32_t n = ne_wire_u32(r);
    if (r->bad || shard >= shards || t0 > t1 || (size_t)n * 8 != r->n - r->off)
        return NE_ECORRUPT;
    uint64_t *keys = ne_malloc((n ? n : 1) * sizeof *keys);
    if (!keys) return NE_ENOMEM;
    for (uint32_t i = 0; i < n; i++)
        keys[i] = ne_wire_u64(r);
    qsort(keys, n, sizeof *keys, u64_cmp);
    struct pull p = {.shards = shards, .shard = shard, .keys = keys, .nkeys = n, .reply = reply};
    ne_batch_init(&p.b);
    int rc = ne_wire_put_u32(reply, 0); /* patched below */
    if (rc == 0) rc = walk(ae->o.store, t0, t1, pull_filter, pull_chunk, &p);
    if (rc == 0) ne_put_u32(reply->p, p.nrec);
    ne_batch_free(&p.b);
    ne_free(p.ver);
    ne_free(p.idx);
    ne_pbuf_free(&p.rec);
    ne_free(keys);
    return rc;
}

/* [digest u64][has_list u8]([list])? of this node's tombstones. */
static int tombs_msg(struct ne_tombs *t, bool with_list, struct ne_pbuf *out)
{
    out->len = 0;
    int rc = ne_wire_put_u64(out, ne_tombs_digest(t));
    if (rc == 0) rc = ne_wire_put_u8(out, with_list);
    return rc == 0 && with_list ? ne_tombs_encode(t, out) : rc;
}

/* Learns the list a tombstone message carries, if any; *digest gets the
 * sender's digest. */
static int tombs_take(struct ne_ae *ae, const uint8_t *p, size_t n, uint64_t *digest)
{
    struct ne_wire_rd r = {.p = p, .n = n};
    *digest = ne_wire_u64(&r);
    uint8_t with_list = ne_wire_u8(&r);
    if (r.bad || with_list > 1 || (!with_list && r.off != n)) return NE_ECORRUPT;
    if (!with_list) return 0;
    uint32_t got = 0;
    int rc =
        ne_tombs_merge(ae->o.tombs, ae->o.store, p + r.off, n - r.off, ne_time_wall_ns(), &got);
    if (got) atomic_fetch_add(&ae->tombs_learned, got);
    return rc;
}

/* Learns the list of a request, if any, and answers with this node's
 * digest, and its list when the digests differ. */
static int serve_tombs(struct ne_ae *ae, const uint8_t *msg, size_t n, struct ne_pbuf *reply)
{
    if (!ae->o.tombs) return NE_EUNSUPPORTED;
    uint64_t theirs = 0;
    int rc = tombs_take(ae, msg, n, &theirs);
    return rc == 0 ? tombs_msg(ae->o.tombs, theirs != ne_tombs_digest(ae->o.tombs), reply) : rc;
}

int ne_ae_handle(struct ne_ae *ae, uint32_t shards, uint8_t type, const uint8_t *msg, size_t n,
                 struct ne_pbuf *reply, uint8_t *reply_type)
{
    struct ne_wire_rd r = {.p = msg, .n = n};
    int64_t bns = 0;
    reply->len = 0;
    if (shards == 0) return NE_EINVAL;
    if (type == NE_FT_AE_TOMBS) {
        *reply_type = NE_FT_AE_TOMBS_REPLY;
        return serve_tombs(ae, msg, n, reply);
    }
    if (type != NE_FT_AE_PULL) {
        bns = (int64_t)ne_wire_u64(&r);
        if (r.bad || bns != ae->o.bucket_ns) return NE_ECORRUPT; /* both ends must agree */
    }
    switch (type) {
    case NE_FT_AE_ROOTS:
        *reply_type = NE_FT_AE_ROOTS_REPLY;
        return serve_roots(ae, shards, &r, reply);
    case NE_FT_AE_BUCKETS:
        *reply_type = NE_FT_AE_BUCKETS_REPLY;
        return serve_buckets(ae, shards, &r, reply);
    case NE_FT_AE_SERIES:
        *reply_type = NE_FT_AE_SERIES_REPLY;
        return serve_series(ae, shards, &r, reply);
    case NE_FT_AE_PULL:
        *reply_type = NE_FT_AE_PULL_REPLY;
        return serve_pull(ae, shards, &r, reply);
    default:
        return NE_ECORRUPT;
    }
}

/* ---- a round --------------------------------------------------------------- */

struct round {
    struct ne_ae *ae;
    const struct ne_ring *ring;
    uint32_t shards;
    ne_ae_call_fn call;
    void *ctx;
    struct ne_pbuf req, reply;
    uint64_t pulled; /* bytes this round */
    bool cut;        /* a pull was left for the next round (budget spent) */
    struct ne_batch b;
    struct ne_repl_vers vs;
};

static int call(struct round *rd, uint8_t type, uint8_t want)
{
    uint8_t got = 0;
    int rc = rd->call(rd->ctx, type, rd->req.p, rd->req.len, &rd->reply, &got);
    if (rc == 0 && got != want) rc = NE_ECORRUPT;
    return rc;
}

/* Writes the records of a pull reply into the local store. */
static int apply_pull(struct round *rd)
{
    struct ne_wire_rd r = {.p = rd->reply.p, .n = rd->reply.len};
    uint32_t nrec = ne_wire_u32(&r);
    char db[256];
    int rc = r.bad ? NE_ECORRUPT : 0;
    for (uint32_t i = 0; rc == 0 && i < nrec; i++) {
        uint32_t len = ne_wire_u32(&r);
        const uint8_t *p = ne_wire_take(&r, len);
        if (!p) return NE_ECORRUPT;
        rc = ne_repl_decode(p, len, db, &rd->b, &rd->vs);
        /* points a tombstone covers were deleted after they were written */
        struct ne_tombs_kept k = {0};
        if (rc == 0)
            rc = ne_tombs_filter(rd->ae->o.tombs, db, &rd->b, rd->vs.any ? rd->vs.v : NULL, &k);
        struct ne_write_result res = {0};
        if (rc == 0 && k.b.npts)
            rc = ne_store_write_versioned(rd->ae->o.store, db, &k.b, k.ver, &res);
        ne_tombs_kept_free(&k);
        if (rc == 0 && res.rejected)
            ne_log(NE_LOG_WARN, MOD, "repaired points refused by the store", "db", db, "first",
                   res.first_error, NULL);
        if (rc == 0) atomic_fetch_add(&rd->ae->points_repaired, res.accepted);
    }
    if (rc == 0 && r.off != r.n) rc = NE_ECORRUPT;
    return rc;
}

/* Pulls keys[0..n) of shard over [t0, t1], splitting what is too big. */
static int pull(struct round *rd, uint32_t shard, const uint64_t *keys, size_t n, int64_t t0,
                int64_t t1)
{
    if (rd->pulled >= rd->ae->o.max_pull_bytes) { /* the next round goes on */
        rd->cut = true;
        return 0;
    }
    rd->req.len = 0;
    int rc = ne_wire_put_u32(&rd->req, shard);
    if (rc == 0) rc = ne_wire_put_u64(&rd->req, (uint64_t)t0);
    if (rc == 0) rc = ne_wire_put_u64(&rd->req, (uint64_t)t1);
    if (rc == 0) rc = ne_wire_put_u32(&rd->req, (uint32_t)n);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = ne_wire_put_u64(&rd->req, keys[i]);
    if (rc == 0) rc = call(rd, NE_FT_AE_PULL, NE_FT_AE_PULL_REPLY);
    if (rc == NE_ETOOBIG && n > 1) {
        size_t h = n / 2;
        rc = pull(rd, shard, keys, h, t0, t1);
        return rc ? rc : pull(rd, shard, keys + h, n - h, t0, t1);
    }
    if (rc == NE_ETOOBIG && t0 < t1) {
        int64_t mid = t0 + (int64_t)(((uint64_t)t1 - (uint64_t)t0) / 2);
        rc = pull(rd, shard, keys, n, t0, mid);
        return rc ? rc : pull(rd, shard, keys, n, mid + 1, t1);
    }
    if (rc) return rc;
    rd->pulled += rd->reply.len;
    atomic_fetch_add(&rd->ae->bytes_pulled, rd->reply.len);
    return apply_pull(rd);
}

/* Level 3 of one differing bucket: pulls the series whose digests differ
 * (or that this node lacks). */
static int repair_bucket(struct round *rd, uint32_t shard, int64_t bucket)
{
    int64_t bns = rd->ae->o.bucket_ns;
    rd->req.len = 0;
    int rc = ne_wire_put_u64(&rd->req, (uint64_t)bns);
    if (rc == 0) rc = ne_wire_put_u32(&rd->req, shard);
    if (rc == 0) rc = ne_wire_put_u64(&rd->req, (uint64_t)bucket);
    if (rc == 0) rc = call(rd, NE_FT_AE_SERIES, NE_FT_AE_SERIES_REPLY);
    struct dtab mine = {0};
    if (rc == 0) rc = series_digests(rd->ae, rd->shards, shard, bucket, &mine);
    if (rc) return rc;
    struct ne_wire_rd r = {.p = rd->reply.p, .n = rd->reply.len};
    uint32_t n = ne_wire_u32(&r);
    if (r.bad || (size_t)n * 16 != r.n - r.off) {
        dtab_free(&mine);
        return NE_ECORRUPT;
    }
    uint64_t *keys = ne_malloc((n ? n : 1) * sizeof *keys);
    size_t nk = 0;
    if (!keys) rc = NE_ENOMEM;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        uint64_t key = ne_wire_u64(&r), d = ne_wire_u64(&r);
        const struct dent *e = dtab_find(&mine, key, 0);
        if (!e || e->d != d) keys[nk++] = key;
    }
    dtab_free(&mine);
    atomic_fetch_add(&rd->ae->series_differing, nk);
    for (size_t i = 0; rc == 0 && i < nk; i += PULL_KEYS)
        rc = pull(rd, shard, keys + i, nk - i < PULL_KEYS ? nk - i : PULL_KEYS,
                  bucket_t0(bucket, bns), bucket_t1(bucket, bns));
    ne_free(keys);
    return rc;
}

/* Appends the [t0 i64][t1 i64] window of a request, unless it is all time
 * (the form peers without windows understand). */
static int put_window(struct ne_pbuf *req, int64_t t0, int64_t t1)
{
    if (t0 == INT64_MIN && t1 == INT64_MAX) return 0;
    int rc = ne_wire_put_u64(req, (uint64_t)t0);
    return rc ? rc : ne_wire_put_u64(req, (uint64_t)t1);
}

/* Level 2 of one shard whose roots over [t0, t1] differ. */
static int repair_shard(struct round *rd, uint32_t shard, int64_t t0, int64_t t1)
{
    rd->req.len = 0;
    int rc = ne_wire_put_u64(&rd->req, (uint64_t)rd->ae->o.bucket_ns);
    if (rc == 0) rc = ne_wire_put_u32(&rd->req, shard);
    if (rc == 0) rc = put_window(&rd->req, t0, t1);
    if (rc == 0) rc = call(rd, NE_FT_AE_BUCKETS, NE_FT_AE_BUCKETS_REPLY);
    struct dtab mine = {0};
    if (rc == 0) rc = bucket_digests(rd->ae, rd->shards, shard, t0, t1, &mine);
    if (rc) return rc;
    struct ne_wire_rd r = {.p = rd->reply.p, .n = rd->reply.len};
    uint32_t n = ne_wire_u32(&r);
    int64_t *diff = NULL;
    if (r.bad || (size_t)n * 16 != r.n - r.off) rc = NE_ECORRUPT;
    else if (!(diff = ne_malloc((n ? n : 1) * sizeof *diff))) rc = NE_ENOMEM;
    size_t nd = 0;
    for (uint32_t i = 0; rc == 0 && i < n; i++) {
        int64_t b = (int64_t)ne_wire_u64(&r);
        uint64_t d = ne_wire_u64(&r);
        const struct dent *e = dtab_find(&mine, shard, b);
        if (!bucket_ok(b, rd->ae->o.bucket_ns) || bucket_t1(b, rd->ae->o.bucket_ns) < t0 ||
            bucket_t0(b, rd->ae->o.bucket_ns) > t1)
            rc = NE_ECORRUPT;
        else if (!e || e->d != d) diff[nd++] = b;
    }
    dtab_free(&mine);
    if (rc == 0) {
        atomic_fetch_add(&rd->ae->buckets_compared, n);
        atomic_fetch_add(&rd->ae->buckets_differing, nd);
    }
    for (size_t i = 0; rc == 0 && i < nd; i++)
        rc = repair_bucket(rd, shard, diff[i]);
    ne_free(diff);
    return rc;
}

/* Level 0: tombstones, before any data is compared, so that a replica
 * that missed a deletion neither keeps nor hands out the deleted points.
 * This node sends the digest of its tombstones; a peer with another
 * digest answers with its list, which this node learns; if the digests
 * still differ the peer lacks some, and this node sends its list. */
static int exchange_tombs(struct round *rd)
{
    struct ne_tombs *t = rd->ae->o.tombs;
    if (!t) return 0;
    uint64_t theirs = 0;
    int rc = tombs_msg(t, false, &rd->req);
    if (rc == 0) rc = call(rd, NE_FT_AE_TOMBS, NE_FT_AE_TOMBS_REPLY);
    if (rc == 0) rc = tombs_take(rd->ae, rd->reply.p, rd->reply.len, &theirs);
    if (rc == 0 && theirs != ne_tombs_digest(t)) {
        rc = tombs_msg(t, true, &rd->req);
        if (rc == 0) rc = call(rd, NE_FT_AE_TOMBS, NE_FT_AE_TOMBS_REPLY);
        if (rc == 0) rc = tombs_take(rd->ae, rd->reply.p, rd->reply.len, &theirs);
    }
    rd->req.len = 0;
    return rc;
}

/* Level 1 of the shards in want[] (n of them) over [t0, t1]: their
 * roots; repairs those that differ. */
static int compare_roots(struct round *rd, const bool *want, uint32_t n, int64_t t0, int64_t t1)
{
    if (n == 0) return 0;
    rd->req.len = 0;
    int rc = ne_wire_put_u64(&rd->req, (uint64_t)rd->ae->o.bucket_ns);
    if (rc == 0) rc = ne_wire_put_u32(&rd->req, n);
    for (uint32_t s = 0; rc == 0 && s < rd->shards; s++)
        if (want[s]) rc = ne_wire_put_u32(&rd->req, s);
    if (rc == 0) rc = put_window(&rd->req, t0, t1);
    if (rc == 0) rc = call(rd, NE_FT_AE_ROOTS, NE_FT_AE_ROOTS_REPLY);
    uint64_t *mine = rc == 0 ? ne_malloc(rd->shards * sizeof *mine) : NULL;
    if (rc == 0 && !mine) rc = NE_ENOMEM;
    if (rc == 0) rc = shard_roots(rd->ae, rd->shards, want, t0, t1, mine);
    if (rc) {
        ne_free(mine);
        return rc;
    }
    /* the reply is consumed before the next call reuses the buffer */
    struct ne_wire_rd r = {.p = rd->reply.p, .n = rd->reply.len};
    uint32_t m = ne_wire_u32(&r);
    bool sized = m <= n && (size_t)m * 12 == r.n - r.off;
    uint32_t *diff = sized ? ne_malloc((m ? m : 1) * 4) : NULL;
    size_t nd = 0;
    if (!diff) rc = sized ? NE_ENOMEM : NE_ECORRUPT;
    for (uint32_t i = 0; rc == 0 && i < m; i++) {
        uint32_t s = ne_wire_u32(&r);
        uint64_t root = ne_wire_u64(&r);
        if (s >= rd->shards || !want[s]) rc = NE_ECORRUPT; /* only the shards asked for */
        else if (root != 0 && root != mine[s]) diff[nd++] = s;
    }
    for (size_t i = 0; rc == 0 && i < nd; i++)
        rc = repair_shard(rd, diff[i], t0, t1);
    ne_free(diff);
    ne_free(mine);
    return rc;
}

/* The shards both own, split in two: those compared over all time
 * (every one in a full round, else the sweep's slice: shard % sweep ==
 * pos) and those compared over [w0, +inf) only. */
static int round_run(struct round *rd, uint32_t self, uint32_t peer, bool full, int64_t w0,
                     uint32_t sweep, uint32_t pos)
{
    int rc = exchange_tombs(rd);
    if (rc != 0) return rc;
    bool *all = ne_calloc(rd->shards, sizeof *all);
    bool *recent = ne_calloc(rd->shards, sizeof *recent);
    uint32_t nall = 0, nrecent = 0;
    if (!all || !recent) rc = NE_ENOMEM;
    for (uint32_t s = 0; rc == 0 && s < rd->shards; s++) {
        if (!ne_ring_is_owner(rd->ring, s, self) || !ne_ring_is_owner(rd->ring, s, peer)) continue;
        if (full || s % sweep == pos) {
            all[s] = true;
            nall++;
        } else {
            recent[s] = true;
            nrecent++;
        }
    }
    if (rc == 0) rc = compare_roots(rd, all, nall, INT64_MIN, INT64_MAX);
    if (rc == 0) rc = compare_roots(rd, recent, nrecent, w0, INT64_MAX);
    ne_free(all);
    ne_free(recent);
    return rc;
}

/* The history of peer name (created, marked for a full round, if new;
 * the oldest dropped when the table is full). Caller holds ae->mu. */
static struct peer_hist *peer_find(struct ne_ae *ae, const char *name)
{
    for (size_t i = 0; i < ae->npeers; i++)
        if (strcmp(ae->peers[i].name, name) == 0) return &ae->peers[i];
    size_t at = ae->npeers < MAX_PEERS ? ae->npeers++ : 0;
    if (at == 0 && ae->npeers == MAX_PEERS)
        for (size_t i = 1; i < MAX_PEERS; i++)
            if (ae->peers[i].last_ok < ae->peers[at].last_ok) at = i;
    struct peer_hist *h = &ae->peers[at];
    memset(h, 0, sizeof *h);
    snprintf(h->name, sizeof h->name, "%s", name);
    h->full = true;
    return h;
}

int ne_ae_round(struct ne_ae *ae, const struct ne_ring *ring, uint32_t self, uint32_t peer,
                ne_ae_call_fn fn, void *ctx)
{
    if (!ring || self >= ne_ring_nodes(ring) || peer >= ne_ring_nodes(ring) || self == peer)
        return NE_EINVAL;
    const char *name = ne_ring_node_name(ring, peer);
    int64_t start = ne_time_wall_ns();
    pthread_mutex_lock(&ae->mu);
    struct peer_hist h = *peer_find(ae, name ? name : "");
    pthread_mutex_unlock(&ae->mu);
    bool full = ae->o.window_ns == 0 || h.full || h.last_ok == 0;
    int64_t w0 = full ? INT64_MIN : window_t0(h.last_ok - ae->o.window_ns, ae->o.bucket_ns);
    struct round rd = {.ae = ae, .ring = ring, .shards = ne_ring_shards(ring), .call = fn,
                       .ctx = ctx};
    ne_batch_init(&rd.b);
    int rc = round_run(&rd, self, peer, full, w0, ae->o.sweep_rounds, h.sweep_pos);
    ne_batch_free(&rd.b);
    ne_repl_vers_free(&rd.vs);
    ne_pbuf_free(&rd.req);
    ne_pbuf_free(&rd.reply);
    pthread_mutex_lock(&ae->mu);
    struct peer_hist *ph = peer_find(ae, name ? name : "");
    if (rc == 0 && !rd.cut) { /* all compared, all pulled: the next round may be routine */
        ph->last_ok = start;
        ph->full = false;
        if (!full) ph->sweep_pos = (h.sweep_pos + 1) % ae->o.sweep_rounds;
    }
    pthread_mutex_unlock(&ae->mu);
    atomic_fetch_add(rc ? &ae->rounds_failed : &ae->rounds, 1);
    if (rc == 0 && full) atomic_fetch_add(&ae->rounds_full, 1);
    return rc;
}

void ne_ae_full_next(struct ne_ae *ae)
{
    pthread_mutex_lock(&ae->mu);
    for (size_t i = 0; i < ae->npeers; i++)
        ae->peers[i].full = true;
    pthread_mutex_unlock(&ae->mu);
}

int ne_ae_pull_shard(struct ne_ae *ae, uint32_t shards, uint32_t shard, ne_ae_call_fn fn, void *ctx,
                     uint64_t *bytes, bool *complete)
{
    if (shards == 0 || shard >= shards) return NE_EINVAL;
    struct round rd = {.ae = ae, .shards = shards, .call = fn, .ctx = ctx};
    ne_batch_init(&rd.b);
    int rc = repair_shard(&rd, shard, INT64_MIN, INT64_MAX);
    ne_batch_free(&rd.b);
    ne_repl_vers_free(&rd.vs);
    ne_pbuf_free(&rd.req);
    ne_pbuf_free(&rd.reply);
    *bytes = rd.pulled;
    *complete = rc == 0 && !rd.cut;
    return rc;
}

/* ---- lifecycle ------------------------------------------------------------ */

int ne_ae_new(const struct ne_ae_opts *o, struct ne_ae **out)
{
    if (!o || !o->store || o->bucket_ns < 0 || o->window_ns < 0) return NE_EINVAL;
    struct ne_ae *ae = ne_calloc(1, sizeof *ae);
    if (!ae) return NE_ENOMEM;
    ae->o = *o;
    if (!ae->o.bucket_ns) ae->o.bucket_ns = NE_AE_BUCKET_NS;
    if (!ae->o.max_pull_bytes) ae->o.max_pull_bytes = NE_AE_ROUND_PULL;
    if (!ae->o.sweep_rounds) ae->o.sweep_rounds = NE_AE_SWEEP_ROUNDS;
    if (pthread_mutex_init(&ae->mu, NULL) != 0) {
        ne_free(ae);
        return NE_ENOMEM;
    }
    *out = ae;
    return 0;
}

void ne_ae_free(struct ne_ae **pa)
{
    if (!pa || !*pa) return;
    pthread_mutex_destroy(&(*pa)->mu);
    ne_free(*pa);
    *pa = NULL;
}

void ne_ae_stats(const struct ne_ae *ae, struct ne_ae_stats *out)
{
    struct ne_ae *a = (struct ne_ae *)ae;
    out->rounds = atomic_load(&a->rounds);
    out->rounds_failed = atomic_load(&a->rounds_failed);
    out->buckets_compared = atomic_load(&a->buckets_compared);
    out->buckets_differing = atomic_load(&a->buckets_differing);
    out->series_differing = atomic_load(&a->series_differing);
    out->points_repaired = atomic_load(&a->points_repaired);
    out->bytes_pulled = atomic_load(&a->bytes_pulled);
    out->tombs_learned = atomic_load(&a->tombs_learned);
    out->points_digested = atomic_load(&a->points_digested);
    out->rounds_full = atomic_load(&a->rounds_full);
}
