/*
 * scan_src.c - the cluster data source (scan_src.h).
 *
 * Per query: the ring over every known member, chosen[shard] (ring node
 * index or -1), and per node the shards it answers for. Each source call
 * asks this node's store directly (own shards only: the store also keeps
 * writes it received for shards it does not own) and every other node
 * with chosen shards over the transport, then merges:
 *   names   union, sorted, unique;
 *   fields  union by name, the first type seen kept (this node's first);
 *   series  union sorted by series key, one entry per series hash;
 *   scan    ids (series hashes) grouped by chosen node; chunks forwarded
 *           as they come, a series' points all from one node.
 * Warnings are kept (deduplicated) until the executor takes them at the
 * end of a statement; a failed node is remembered for the whole query.
 */
#include "sharding/scan_src.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"
#include "sharding/ring.h"
#include "sharding/scan.h"
#include "sharding/tomb.h"
#include "sharding/transport.h"

#define MAX_WARNINGS 32
#define NAMED_SHARDS 16    /* shards named in a warning before "and N more" */
#define LIST_MAX     65536 /* series hashes listed in a scan request (512 KiB) */

struct node {
    char id[64], addr[64];
    bool live, self;
    int failed;       /* 0, or the error of the call that failed */
    uint32_t *shards; /* shards chosen for this node, ascending */
    uint32_t nshards;
};

struct ne_csrc {
    struct ne_qsrc local;
    struct ne_transport *tp;
    uint32_t max_reply, max_listed;
    struct ne_ring *ring;
    struct node *nodes; /* by ring node index, then members not on the ring */
    bool (*holds)(void *ctx, uint32_t shard, const char *node); /* may be NULL */
    void *holds_ctx;
    ne_csrc_delete_fn deleter; /* may be NULL */
    void *deleter_ctx;
    size_t nnodes;
    int32_t *chosen; /* per shard */
    uint32_t *missing;
    size_t nmissing;
    char *warn[MAX_WARNINGS];
    size_t nwarn;
};

/* ---- warnings -------------------------------------------------------------- */

static void warn(struct ne_csrc *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void warn(struct ne_csrc *c, const char *fmt, ...)
{
    char text[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    for (size_t i = 0; i < c->nwarn; i++)
        if (strcmp(c->warn[i], text) == 0) return;
    if (c->nwarn == MAX_WARNINGS) return;
    size_t n = strlen(text) + 1;
    char *w = ne_malloc(n);
    if (!w) return;
    memcpy(w, text, n);
    c->warn[c->nwarn++] = w;
}

/* "3, 5, 9 and 12 more" into out. */
static void shard_list(const uint32_t *v, size_t n, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && i < NAMED_SHARDS && used < cap; i++) {
        int w = snprintf(out + used, cap - used, "%s%u", i ? ", " : "", v[i]);
        used += w > 0 ? (size_t)w : 0;
    }
    if (n > NAMED_SHARDS && used < cap)
        snprintf(out + used, cap - used, " and %zu more", n - NAMED_SHARDS);
}

/* The owners of the missing shards, for the warning: "node3, node4". */
static void missing_owners(const struct ne_csrc *c, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = 0;
    for (size_t i = 0; i < c->nnodes && used < cap; i++) {
        if (c->nodes[i].live) continue;
        bool owns = false;
        for (size_t k = 0; k < c->nmissing && !owns; k++)
            owns = ne_ring_is_owner(c->ring, c->missing[k], (uint32_t)i);
        if (!owns) continue;
        int w = snprintf(out + used, cap - used, "%s%s", used ? ", " : "", c->nodes[i].id);
        used += w > 0 ? (size_t)w : 0;
    }
}

/* Every data access notes the shards nobody can answer for. */
static void warn_missing(struct ne_csrc *c)
{
    if (c->nmissing == 0) return;
    char list[256], owners[256];
    shard_list(c->missing, c->nmissing, list, sizeof list);
    missing_owners(c, owners, sizeof owners);
    warn(c,
         "partial result: %zu of %u shards have no live replica (owners down: %s); "
         "missing shards: %s",
         c->nmissing, ne_ring_shards(c->ring), owners, list);
}

static void warn_failed(struct ne_csrc *c, const struct node *n)
{
    char list[256];
    shard_list(n->shards, n->nshards, list, sizeof list);
    warn(c, "partial result: node %s (%s) did not answer (%s); missing shards: %s", n->id, n->addr,
         ne_strerror(n->failed), list);
}

/* Node id holds field with another type than the one read. */
static void warn_type(struct ne_csrc *c, const char *id, const char *field, enum ne_vtype want)
{
    warn(c,
         "partial result: field %s is not of type %s on node %s; its points there are left "
         "out",
         field, ne_vtype_name(want), id);
}

/* A call to node n failed with rc: remember it for the query. */
static void node_failed(struct ne_csrc *c, struct node *n, int rc)
{
    n->failed = rc;
    ne_transport_forget(c->tp, n->addr);
    warn_failed(c, n);
}

/* Whether node n is to be asked: live, not failed (a failed one is
 * warned about again, for this statement). */
static bool ask(struct ne_csrc *c, struct node *n)
{
    if (!n->live) return false;
    if (n->failed) {
        warn_failed(c, n);
        return false;
    }
    return true;
}

static int c_warnings(void *ctx, ne_qsrc_name_fn fn, void *arg)
{
    struct ne_csrc *c = ctx;
    int rc = 0;
    for (size_t i = 0; i < c->nwarn; i++) {
        if (rc == 0) rc = fn(arg, c->warn[i]);
        ne_free(c->warn[i]);
    }
    c->nwarn = 0;
    return rc;
}

/* ---- names ----------------------------------------------------------------- */

struct names {
    char **v;
    uint8_t *types;
    size_t n, cap;
    int rc;
};

static int names_add(struct names *a, const char *s, uint8_t type)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 32;
        char **v = ne_realloc(a->v, cap * sizeof *v);
        if (!v) return a->rc = NE_ENOMEM;
        a->v = v;
        uint8_t *t = ne_realloc(a->types, cap);
        if (!t) return a->rc = NE_ENOMEM;
        a->types = t;
        a->cap = cap;
    }
    size_t len = strlen(s) + 1;
    char *d = ne_malloc(len);
    if (!d) return a->rc = NE_ENOMEM;
    memcpy(d, s, len);
    a->types[a->n] = type;
    a->v[a->n++] = d;
    return 0;
}

static void names_free(struct names *a)
{
    for (size_t i = 0; i < a->n; i++)
        ne_free(a->v[i]);
    ne_free(a->v);
    ne_free(a->types);
}

static int collect_name(void *arg, const char *name)
{
    return names_add(arg, name, 0);
}

static int collect_field(void *arg, const char *name, enum ne_vtype type)
{
    return names_add(arg, name, (uint8_t)type);
}

static int collect_entry(void *arg, const struct ne_meta_entry *e)
{
    return names_add(arg, e->name, e->type);
}

/* Sorts by name keeping the first of equal names (stable by insertion). */
struct name_ix {
    const char *s;
    size_t i;
};

static int by_name(const void *a, const void *b)
{
    const struct name_ix *x = a, *y = b;
    int r = strcmp(x->s, y->s);
    return r ? r : (x->i > y->i) - (x->i < y->i);
}

/* Emits the union; fields with their types when field_fn is given. */
static int names_emit(struct names *a, ne_qsrc_name_fn name_fn, ne_qsrc_field_fn field_fn,
                      void *arg)
{
    struct name_ix *ix = ne_malloc((a->n ? a->n : 1) * sizeof *ix);
    if (!ix) return NE_ENOMEM;
    for (size_t i = 0; i < a->n; i++)
        ix[i] = (struct name_ix){a->v[i], i};
    qsort(ix, a->n, sizeof *ix, by_name);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < a->n; i++) {
        if (i && strcmp(ix[i].s, ix[i - 1].s) == 0) continue;
        rc = field_fn ? field_fn(arg, ix[i].s, (enum ne_vtype)a->types[ix[i].i])
                      : name_fn(arg, ix[i].s);
    }
    ne_free(ix);
    return rc;
}

/* Runs a name listing on this node (local_rc) and on every other live
 * node (op), then emits the union. */
static int names_everywhere(struct ne_csrc *c, int local_rc, struct names *a, uint8_t op,
                            const char *db, const char *meas, ne_qsrc_name_fn name_fn,
                            ne_qsrc_field_fn field_fn, void *arg)
{
    int rc = local_rc == NE_ENOTFOUND ? 0 : local_rc;
    if (rc == 0) rc = a->rc;
    for (size_t i = 0; rc == 0 && i < c->nnodes; i++) {
        struct node *n = &c->nodes[i];
        if (n->self || !ask(c, n)) continue;
        struct ne_meta_req q = {.op = op, .db = db, .meas = meas, .max_reply = c->max_reply};
        int r = ne_meta_remote(c->tp, n->id, n->addr, &q, collect_entry, a);
        if (a->rc)
            rc = a->rc;
        else if (r != 0)
            node_failed(c, n, r);
    }
    if (rc == 0) rc = names_emit(a, name_fn, field_fn, arg);
    names_free(a);
    return rc;
}

static int c_databases(void *ctx, ne_qsrc_name_fn fn, void *arg)
{
    struct ne_csrc *c = ctx;
    warn_missing(c);
    struct names a = {0};
    int rc = c->local.databases(c->local.ctx, collect_name, &a);
    return names_everywhere(c, rc, &a, NE_META_DATABASES, "", "", fn, NULL, arg);
}

static int c_measurements(void *ctx, const char *db, ne_qsrc_name_fn fn, void *arg)
{
    struct ne_csrc *c = ctx;
    warn_missing(c);
    struct names a = {0};
    int rc = c->local.measurements(c->local.ctx, db, collect_name, &a);
    return names_everywhere(c, rc, &a, NE_META_MEASUREMENTS, db, "", fn, NULL, arg);
}

static int c_fields(void *ctx, const char *db, const char *meas, ne_qsrc_field_fn fn, void *arg)
{
    struct ne_csrc *c = ctx;
    warn_missing(c);
    struct names a = {0};
    int rc = c->local.fields(c->local.ctx, db, meas, collect_field, &a);
    return names_everywhere(c, rc, &a, NE_META_FIELDS, db, meas, NULL, fn, arg);
}

/* ---- series ---------------------------------------------------------------- */

struct cseries {
    uint64_t hash;
    struct ne_tag *tags; /* one allocation: tags then their bytes */
    uint32_t ntags;
};

struct series_acc {
    struct cseries *v;
    size_t n, cap;
    int rc;
};

static int series_add(struct series_acc *a, uint64_t h, const struct ne_tag *tags, uint32_t nt)
{
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 64;
        struct cseries *v = ne_realloc(a->v, cap * sizeof *v);
        if (!v) return a->rc = NE_ENOMEM;
        a->v = v;
        a->cap = cap;
    }
    size_t bytes = nt * sizeof(struct ne_tag);
    for (uint32_t i = 0; i < nt; i++)
        bytes += tags[i].key.n + tags[i].val.n + 2;
    struct ne_tag *t = ne_malloc(bytes ? bytes : 1);
    if (!t) return a->rc = NE_ENOMEM;
    char *p = (char *)(t + nt);
    for (uint32_t i = 0; i < nt; i++) {
        memcpy(p, tags[i].key.p, tags[i].key.n);
        p[tags[i].key.n] = 0;
        t[i].key = (struct ne_sv){p, tags[i].key.n};
        p += tags[i].key.n + 1;
        memcpy(p, tags[i].val.p, tags[i].val.n);
        p[tags[i].val.n] = 0;
        t[i].val = (struct ne_sv){p, tags[i].val.n};
        p += tags[i].val.n + 1;
    }
    a->v[a->n++] = (struct cseries){h, t, nt};
    return 0;
}

static void series_acc_free(struct series_acc *a)
{
    for (size_t i = 0; i < a->n; i++)
        ne_free(a->v[i].tags);
    ne_free(a->v);
}

static int by_key(const void *pa, const void *pb)
{
    const struct cseries *a = pa, *b = pb;
    for (uint32_t i = 0; i < a->ntags && i < b->ntags; i++) {
        int r = ne_sv_cmp(a->tags[i].key, b->tags[i].key);
        if (!r) r = ne_sv_cmp(a->tags[i].val, b->tags[i].val);
        if (r) return r;
    }
    if (a->ntags != b->ntags) return a->ntags < b->ntags ? -1 : 1;
    return (a->hash > b->hash) - (a->hash < b->hash);
}

struct remote_series {
    struct series_acc *acc;
    struct ne_sv meas;
};

static int collect_remote_series(void *arg, const struct ne_meta_entry *e)
{
    struct remote_series *r = arg;
    uint64_t h = ne_ring_series_hash(r->meas, e->tags, e->ntags);
    return series_add(r->acc, h, e->tags, e->ntags);
}

static int local_series(struct ne_csrc *c, struct node *self, const char *db, const char *meas,
                        struct series_acc *a)
{
    struct ne_scan_series_set set;
    int rc = ne_scan_series_select(&c->local, db, meas, ne_ring_shards(c->ring), self->shards,
                                   self->nshards, NULL, 0, &set);
    for (size_t i = 0; rc == 0 && i < set.n; i++)
        rc = series_add(a, set.v[i].hash, set.v[i].tags, set.v[i].ntags);
    ne_scan_series_free(&set);
    return rc;
}

static int c_series(void *ctx, const char *db, const char *meas, ne_qsrc_series_fn fn, void *arg)
{
    struct ne_csrc *c = ctx;
    warn_missing(c);
    struct series_acc a = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < c->nnodes; i++) {
        struct node *n = &c->nodes[i];
        if (n->nshards == 0) continue;
        if (n->self) {
            rc = local_series(c, n, db, meas, &a);
            continue;
        }
        if (!ask(c, n)) continue;
        struct ne_meta_req q = {.op = NE_META_SERIES,
                                .db = db,
                                .meas = meas,
                                .ring_shards = ne_ring_shards(c->ring),
                                .shards = n->shards,
                                .nshards = n->nshards,
                                .max_reply = c->max_reply};
        struct remote_series r = {&a, ne_sv_c(meas)};
        int e = ne_meta_remote(c->tp, n->id, n->addr, &q, collect_remote_series, &r);
        if (a.rc)
            rc = a.rc;
        else if (e != 0)
            node_failed(c, n, e);
    }
    if (rc == 0 && a.n) qsort(a.v, a.n, sizeof *a.v, by_key);
    for (size_t i = 0; rc == 0 && i < a.n; i++) {
        if (i && a.v[i].hash == a.v[i - 1].hash) continue;
        struct ne_qsrc_series s = {a.v[i].hash, a.v[i].tags, a.v[i].ntags};
        rc = fn(arg, &s);
    }
    series_acc_free(&a);
    return rc;
}

/* ---- scan -------------------------------------------------------------------- */

struct scan_ctx {
    struct ne_csrc *c;
    const struct ne_scan_series_set *set; /* local: local id -> hash */
    ne_qsrc_points_fn points;
    ne_qsrc_block_fn block;
    void *arg;
    int cb_rc; /* what the executor's callback returned */
    /* remote: the ids asked for when the request does not list them */
    const uint64_t *want;
    size_t nwant;
};

static int local_points(void *arg, uint64_t id, const int64_t *ts, const void *vals, size_t n)
{
    struct scan_ctx *s = arg;
    const struct ne_scan_series *ser = ne_scan_series_find(s->set, id);
    if (!ser) return 0;
    return s->cb_rc = s->points(s->arg, ser->hash, ts, vals, n);
}

static int local_block(void *arg, uint64_t id, const struct ne_block_stats *st)
{
    struct scan_ctx *s = arg;
    const struct ne_scan_series *ser = ne_scan_series_find(s->set, id);
    if (!ser) return 0;
    int rc = s->block(s->arg, ser->hash, st);
    if (rc < 0) s->cb_rc = rc;
    return rc;
}

static int remote_chunk(void *arg, const struct ne_scan_chunk_msg *m)
{
    struct scan_ctx *s = arg;
    uint64_t h = ne_ring_series_hash(m->meas, m->tags, m->ntags);
    if (s->want && !ne_scan_has_u64(s->want, s->nwant, h)) return 0;
    return s->cb_rc = s->points(s->arg, h, m->ts, m->vals, m->n);
}

/* The ids (ascending series hashes) whose shard node ni answers for. */
static uint64_t *ids_of_node(const struct ne_csrc *c, uint32_t ni, const uint64_t *ids, size_t nids,
                             uint32_t *out_n)
{
    uint64_t *v = ne_malloc((nids ? nids : 1) * sizeof *v);
    uint32_t n = 0;
    for (size_t i = 0; v && i < nids; i++)
        if (c->chosen[ne_ring_shard_of_hash(c->ring, ids[i])] == (int32_t)ni) v[n++] = ids[i];
    *out_n = n;
    return v;
}

static int scan_local(struct scan_ctx *s, struct node *self, const struct ne_scan_req *q)
{
    struct ne_csrc *c = s->c;
    enum ne_vtype t;
    int rc = ne_scan_field_type(&c->local, q->db, q->meas, q->field, &t);
    if (rc == NE_ENOTFOUND) return 0;
    if (rc) return rc;
    if ((uint8_t)t != q->type) {
        warn_type(c, self->id, q->field, (enum ne_vtype)q->type);
        return 0;
    }
    struct ne_scan_series_set set;
    rc = ne_scan_series_select(&c->local, q->db, q->meas, q->ring_shards, q->shards, q->nshards,
                               q->series, q->nseries, &set);
    uint64_t *lids = rc == 0 ? ne_malloc((set.n ? set.n : 1) * sizeof *lids) : NULL;
    if (rc == 0 && !lids) rc = NE_ENOMEM;
    for (size_t i = 0; rc == 0 && i < set.n; i++)
        lids[i] = set.v[i].id;
    s->set = &set;
    if (rc == 0 && set.n)
        rc = c->local.scan(c->local.ctx, q->db, q->meas, lids, set.n, q->field, t, q->t0, q->t1,
                           local_points, s->block ? local_block : NULL, s);
    ne_free(lids);
    ne_scan_series_free(&set);
    return rc == NE_ENOTFOUND ? 0 : rc;
}

static int c_scan(void *ctx, const char *db, const char *meas, const uint64_t *ids, size_t nids,
                  const char *field, enum ne_vtype type, int64_t t0, int64_t t1,
                  ne_qsrc_points_fn points_fn, ne_qsrc_block_fn block_fn, void *arg)
{
    struct ne_csrc *c = ctx;
    warn_missing(c);
    struct scan_ctx s = {.c = c, .points = points_fn, .block = block_fn, .arg = arg};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < c->nnodes; i++) {
        struct node *n = &c->nodes[i];
        if (n->nshards == 0 || (!n->self && !ask(c, n))) continue;
        uint32_t nmine = 0;
        uint64_t *mine = ids_of_node(c, (uint32_t)i, ids, nids, &nmine);
        if (!mine) return NE_ENOMEM;
        struct ne_scan_req q = {.db = db,
                                .meas = meas,
                                .field = field,
                                .type = (uint8_t)type,
                                .t0 = t0,
                                .t1 = t1,
                                .ring_shards = ne_ring_shards(c->ring),
                                .shards = n->shards,
                                .nshards = n->nshards,
                                .series = mine,
                                .nseries = nmine,
                                .max_reply = c->max_reply};
        if (nmine == 0) {
            /* nothing asked of this node */
        } else if (n->self) {
            rc = scan_local(&s, n, &q);
        } else {
            if (nmine > c->max_listed) {
                /* a long list would make a huge request: ask for the
                 * node's whole shards and keep the ids wanted here */
                q.series = NULL;
                q.nseries = 0;
                s.want = mine;
                s.nwant = nmine;
            }
            int e = ne_scan_remote(c->tp, n->id, n->addr, &q, remote_chunk, &s);
            s.want = NULL;
            if (s.cb_rc)
                rc = s.cb_rc;
            else if (e == NE_ECONFLICT)
                warn_type(c, n->id, field, type);
            else if (e != 0)
                node_failed(c, n, e);
        }
        ne_free(mine);
    }
    return rc;
}

/* ---- writes: CREATE on this node; DROP and DELETE cluster-wide ------------------ */

static int c_create_database(void *ctx, const char *db)
{
    struct ne_csrc *c = ctx;
    return c->local.create_database ? c->local.create_database(c->local.ctx, db) : NE_EUNSUPPORTED;
}

static int c_drop_database(void *ctx, const char *db)
{
    struct ne_csrc *c = ctx;
    if (c->deleter) {
        struct ne_tomb t = {.kind = NE_TOMB_DATABASE, .db = db};
        return c->deleter(c->deleter_ctx, &t);
    }
    return c->local.drop_database ? c->local.drop_database(c->local.ctx, db) : NE_EUNSUPPORTED;
}

static int c_drop_measurement(void *ctx, const char *db, const char *meas)
{
    struct ne_csrc *c = ctx;
    if (c->deleter) {
        struct ne_tomb t = {.kind = NE_TOMB_MEASUREMENT, .db = db, .meas = meas};
        return c->deleter(c->deleter_ctx, &t);
    }
    return c->local.drop_measurement ? c->local.drop_measurement(c->local.ctx, db, meas)
                                     : NE_EUNSUPPORTED;
}

/* Whether every shard could be read: none without a live replica, no
 * peer failed a call. */
static bool read_whole(const struct ne_csrc *c)
{
    for (size_t i = 0; i < c->nnodes; i++)
        if (c->nodes[i].failed) return false;
    return c->nmissing == 0;
}

/* ids are series hashes, ascending (the executor sorts them), repeats
 * left out here; a long list becomes several tombstones of at most
 * NE_TOMB_SERIES_MAX series. A DELETE names the series it picked, so it
 * is refused (NE_EAGAIN, said in a warning) when some shard could not be
 * read: series there would be missed. */
static int c_delete_points(void *ctx, const char *db, const uint64_t *all, size_t nall, int64_t t0,
                           int64_t t1)
{
    struct ne_csrc *c = ctx;
    if (!read_whole(c)) {
        warn(c, "DELETE refused: not every shard could be read, so the series it picks are not "
                "all known; nothing was deleted");
        return NE_EAGAIN;
    }
    uint64_t *ids = nall ? ne_malloc(nall * sizeof *ids) : NULL;
    if (nall && !ids) return NE_ENOMEM;
    size_t n = 0;
    for (size_t i = 0; i < nall; i++)
        if (n == 0 || all[i] != ids[n - 1]) ids[n++] = all[i];
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < n; i += NE_TOMB_SERIES_MAX) {
        size_t k = n - i < NE_TOMB_SERIES_MAX ? n - i : NE_TOMB_SERIES_MAX;
        struct ne_tomb t = {.kind = NE_TOMB_POINTS,
                            .db = db,
                            .t0 = t0,
                            .t1 = t1,
                            .series = ids + i,
                            .nseries = (uint32_t)k};
        rc = c->deleter(c->deleter_ctx, &t);
    }
    ne_free(ids);
    return rc;
}

/* ---- set-up -------------------------------------------------------------------- */

static int find_member(const struct ne_csrc_opts *o, const char *id)
{
    for (size_t i = 0; i < o->nmembers; i++)
        if (strcmp(o->members[i].id, id) == 0) return (int)i;
    return -1;
}

static void node_init(struct ne_csrc *c, struct node *n, const struct ne_csrc_member *m,
                      const char *self)
{
    snprintf(n->id, sizeof n->id, "%s", m->id);
    snprintf(n->addr, sizeof n->addr, "%s", m->addr ? m->addr : "");
    n->self = strcmp(m->id, self) == 0;
    n->live = m->live || n->self;
    (void)c;
}

/* nodes[]: the ring's nodes by index, then the members not on the ring. */
static int setup_nodes(struct ne_csrc *c, const struct ne_csrc_opts *o)
{
    size_t nring = ne_ring_nodes(c->ring), extra = 0;
    for (size_t i = 0; i < o->nmembers; i++)
        extra += o->members[i].unplaced;
    c->nnodes = nring + extra;
    c->nodes = ne_calloc(c->nnodes, sizeof *c->nodes);
    if (!c->nodes) return NE_ENOMEM;
    bool have_self = false;
    for (size_t i = 0; i < c->nnodes; i++) {
        struct node *n = &c->nodes[i];
        const struct ne_csrc_member *m;
        if (i < nring) {
            m = &o->members[find_member(o, ne_ring_node_name(c->ring, (uint32_t)i))];
        } else {
            size_t k = 0, want = i - nring;
            while (!o->members[k].unplaced || want--)
                k++;
            m = &o->members[k];
        }
        node_init(c, n, m, o->self);
        have_self |= n->self;
        if (n->live && !n->self && !c->tp) return NE_EINVAL; /* no way to ask it */
    }
    return have_self ? 0 : NE_EINVAL;
}

/* A node holding shard complete, live: this node first, then the first
 * found among owners (holders on the ring), then among every node. */
static int32_t pick_holder(const struct ne_csrc *c, uint32_t s)
{
    const uint32_t *own = ne_ring_owners(c->ring, s);
    uint32_t reps = ne_ring_replicas(c->ring);
    int32_t pick = -1;
    for (uint32_t k = 0; k < reps; k++) {
        const struct node *n = &c->nodes[own[k]];
        if (!n->live || !c->holds(c->holds_ctx, s, n->id)) continue;
        if (n->self) return (int32_t)own[k];
        if (pick < 0) pick = (int32_t)own[k];
    }
    if (pick >= 0) return pick;
    for (size_t i = 0; i < c->nnodes; i++) {
        const struct node *n = &c->nodes[i];
        if (!n->live || !c->holds(c->holds_ctx, s, n->id)) continue;
        if (n->self) return (int32_t)i;
        if (pick < 0) pick = (int32_t)i;
    }
    return pick;
}

/* chosen[s]: a live holder (pick_holder) when holds is given; else this
 * node if it owns s, else the first live owner, else -1. */
static int choose(struct ne_csrc *c)
{
    uint32_t shards = ne_ring_shards(c->ring), reps = ne_ring_replicas(c->ring);
    c->chosen = ne_malloc(shards * sizeof *c->chosen);
    c->missing = ne_malloc(shards * sizeof *c->missing);
    if (!c->chosen || !c->missing) return NE_ENOMEM;
    for (uint32_t s = 0; s < shards; s++) {
        const uint32_t *own = ne_ring_owners(c->ring, s);
        int32_t held = c->holds ? pick_holder(c, s) : -1, pick = -1;
        for (uint32_t k = 0; held < 0 && k < reps; k++) {
            const struct node *n = &c->nodes[own[k]];
            if (n->self)
                pick = (int32_t)own[k];
            else if (n->live && pick < 0)
                pick = (int32_t)own[k];
        }
        if (held >= 0) pick = held;
        c->chosen[s] = pick;
        if (pick < 0)
            c->missing[c->nmissing++] = s;
        else
            c->nodes[pick].nshards++;
    }
    for (size_t i = 0; i < c->nnodes; i++) {
        c->nodes[i].shards = ne_malloc((c->nodes[i].nshards + 1) * sizeof(uint32_t));
        if (!c->nodes[i].shards) return NE_ENOMEM;
        c->nodes[i].nshards = 0;
    }
    for (uint32_t s = 0; s < shards; s++) {
        if (c->chosen[s] < 0) continue;
        struct node *n = &c->nodes[c->chosen[s]];
        n->shards[n->nshards++] = s;
    }
    return 0;
}

int ne_csrc_new(const struct ne_csrc_opts *o, struct ne_csrc **out)
{
    *out = NULL;
    if (!o->local || !o->self || o->nmembers == 0) return NE_EINVAL;
    struct ne_csrc *c = ne_calloc(1, sizeof *c);
    const char **names = ne_malloc(o->nmembers * sizeof *names);
    if (!c || !names) {
        ne_free(c);
        ne_free(names);
        return NE_ENOMEM;
    }
    c->local = *o->local;
    c->tp = o->tp;
    c->max_reply = o->max_reply;
    c->max_listed = o->max_listed ? o->max_listed : LIST_MAX;
    c->holds = o->holds;
    c->holds_ctx = o->holds_ctx;
    c->deleter = o->deleter;
    c->deleter_ctx = o->deleter_ctx;
    size_t nnames = 0;
    for (size_t i = 0; i < o->nmembers; i++)
        if (!o->members[i].unplaced) names[nnames++] = o->members[i].id;
    struct ne_ring_opts ro = {.shards = o->shards, .vnodes = o->vnodes, .rf = o->rf};
    int rc = nnames ? ne_ring_build(&ro, names, nnames, &c->ring) : NE_EINVAL;
    ne_free(names);
    if (rc == 0) rc = setup_nodes(c, o);
    if (rc == 0) rc = choose(c);
    if (rc != 0) {
        ne_csrc_free(&c);
        return rc;
    }
    *out = c;
    return 0;
}

void ne_csrc_qsrc(struct ne_csrc *c, struct ne_qsrc *out)
{
    memset(out, 0, sizeof *out);
    out->ctx = c;
    out->databases = c_databases;
    out->measurements = c_measurements;
    out->series = c_series;
    out->fields = c_fields;
    out->scan = c_scan;
    out->create_database = c_create_database;
    out->drop_database = c_drop_database;
    out->drop_measurement = c_drop_measurement;
    if (c->deleter) out->delete_points = c_delete_points;
    out->warnings = c_warnings;
}

const uint32_t *ne_csrc_missing(const struct ne_csrc *c, size_t *n)
{
    *n = c->nmissing;
    return c->missing;
}

const char *ne_csrc_chosen(const struct ne_csrc *c, uint32_t shard)
{
    if (shard >= ne_ring_shards(c->ring) || c->chosen[shard] < 0) return NULL;
    return c->nodes[c->chosen[shard]].id;
}

void ne_csrc_free(struct ne_csrc **pc)
{
    struct ne_csrc *c = pc ? *pc : NULL;
    if (!c) return;
    for (size_t i = 0; i < c->nnodes; i++)
        ne_free(c->nodes[i].shards);
    for (size_t i = 0; i < c->nwarn; i++)
        ne_free(c->warn[i]);
    ne_free(c->nodes);
    ne_free(c->chosen);
    ne_free(c->missing);
    ne_ring_free(&c->ring);
    ne_free(c);
    *pc = NULL;
}
