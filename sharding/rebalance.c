/*
 * rebalance.c - per-shard move state of this node (see rebalance.h for
 * the rules and the two formats it defines: the status message and the
 * saved state file).
 *
 * Invariants: complete implies present; a shard that is neither owned
 * nor present is plain "not here" (state 0).
 */
#include "sharding/rebalance.h"

#include <string.h>

#include "ports/crc32c.h"
#include "ports/err.h"
#include "ports/platform.h"
#include "sharding/wire.h"

#define ST_OWNER    0x1u
#define ST_COMPLETE 0x2u
#define ST_PRESENT  0x4u

#define F_DECOMMISSIONED 0x1u
#define F_TAG            0x2u /* status only: the node's version tag follows the holds */

static const char magic[8] = {'N', 'E', 'S', 'H', 'R', 'D', '1', '\n'};

struct ne_rebal {
    uint32_t shards;
    uint8_t flags;
    bool applied; /* a ring was applied or the state was loaded */
    bool joining;
    int tag;      /* the node's version tag for the status, or -1 (not saved) */
    uint8_t st[]; /* ST_* per shard */
};

static struct ne_rebal *alloc(uint32_t shards)
{
    if (shards == 0) return NULL;
    struct ne_rebal *rb = ne_calloc(1, sizeof *rb + shards);
    if (rb) {
        rb->shards = shards;
        rb->tag = -1;
    }
    return rb;
}

int ne_rebal_new(uint32_t shards, bool joining, struct ne_rebal **out)
{
    if (shards == 0) return NE_EINVAL;
    struct ne_rebal *rb = alloc(shards);
    if (!rb) return NE_ENOMEM;
    rb->joining = joining;
    *out = rb;
    return 0;
}

void ne_rebal_free(struct ne_rebal **p)
{
    if (!p || !*p) return;
    ne_free(*p);
    *p = NULL;
}

int ne_rebal_load(const uint8_t *p, size_t n, uint32_t shards, struct ne_rebal **out)
{
    struct ne_wire_rd r = {.p = p, .n = n};
    const uint8_t *m = ne_wire_take(&r, sizeof magic);
    uint32_t ns = ne_wire_u32(&r);
    uint8_t flags = ne_wire_u8(&r);
    if (r.bad || memcmp(m, magic, sizeof magic) != 0 || ns == 0) return NE_ECORRUPT;
    if ((size_t)ns + 4 != r.n - r.off) return NE_ECORRUPT;
    const uint8_t *st = ne_wire_take(&r, ns);
    uint32_t crc = ne_wire_u32(&r);
    if (r.bad || crc != ne_crc32c(0, p, n - 4)) return NE_ECORRUPT;
    if (ns != shards) return NE_EINVAL;
    struct ne_rebal *rb = alloc(shards);
    if (!rb) return NE_ENOMEM;
    rb->flags = flags & F_DECOMMISSIONED;
    rb->applied = true;
    for (uint32_t s = 0; s < shards; s++) {
        uint8_t v = st[s] & (ST_OWNER | ST_COMPLETE | ST_PRESENT);
        if (v & ST_COMPLETE) v |= ST_PRESENT;
        rb->st[s] = v;
    }
    *out = rb;
    return 0;
}

void ne_rebal_restarted(struct ne_rebal *rb)
{
    for (uint32_t s = 0; s < rb->shards; s++)
        rb->st[s] &= (uint8_t)~ST_COMPLETE;
}

int ne_rebal_save(const struct ne_rebal *rb, struct ne_pbuf *out)
{
    size_t start = out->len;
    int rc = ne_wire_put(out, magic, sizeof magic);
    if (rc == 0) rc = ne_wire_put_u32(out, rb->shards);
    if (rc == 0) rc = ne_wire_put_u8(out, rb->flags);
    if (rc == 0) rc = ne_wire_put(out, rb->st, rb->shards);
    if (rc == 0) rc = ne_wire_put_u32(out, ne_crc32c(0, out->p + start, out->len - start));
    return rc;
}

int ne_rebal_apply(struct ne_rebal *rb, const struct ne_ring *to, const char *self)
{
    if (ne_ring_shards(to) != rb->shards) return NE_EINVAL;
    int idx = rb->flags & F_DECOMMISSIONED ? -1 : ne_ring_node_index(to, self);
    bool first = !rb->applied;
    for (uint32_t s = 0; s < rb->shards; s++) {
        bool own = idx >= 0 && ne_ring_is_owner(to, s, (uint32_t)idx);
        uint8_t v = rb->st[s];
        if (own && first && !rb->joining)
            v = ST_OWNER | ST_COMPLETE | ST_PRESENT;
        else if (own)
            v |= ST_OWNER | ST_PRESENT; /* complete stays what it was */
        else
            v &= (uint8_t)~ST_OWNER; /* kept (present) until it may be dropped */
        rb->st[s] = v;
    }
    rb->applied = true;
    return 0;
}

void ne_rebal_set_decommissioned(struct ne_rebal *rb)
{
    rb->flags |= F_DECOMMISSIONED;
}

void ne_rebal_set_tag(struct ne_rebal *rb, uint8_t tag)
{
    rb->tag = tag;
}

bool ne_rebal_decommissioned(const struct ne_rebal *rb)
{
    return rb->flags & F_DECOMMISSIONED;
}

uint32_t ne_rebal_shards(const struct ne_rebal *rb)
{
    return rb->shards;
}

bool ne_rebal_holds(const struct ne_rebal *rb, uint32_t shard)
{
    return shard < rb->shards && (rb->st[shard] & ST_COMPLETE);
}

bool ne_rebal_moving(const struct ne_rebal *rb, uint32_t shard)
{
    return shard < rb->shards && (rb->st[shard] & (ST_OWNER | ST_COMPLETE)) == ST_OWNER;
}

bool ne_rebal_owner(const struct ne_rebal *rb, uint32_t shard)
{
    return shard < rb->shards && (rb->st[shard] & ST_OWNER);
}

bool ne_rebal_leaving(const struct ne_rebal *rb, uint32_t shard)
{
    return shard < rb->shards && (rb->st[shard] & (ST_OWNER | ST_PRESENT)) == ST_PRESENT;
}

uint32_t ne_rebal_count_moving(const struct ne_rebal *rb)
{
    uint32_t n = 0;
    for (uint32_t s = 0; s < rb->shards; s++)
        n += ne_rebal_moving(rb, s);
    return n;
}

uint32_t ne_rebal_count_leaving(const struct ne_rebal *rb)
{
    uint32_t n = 0;
    for (uint32_t s = 0; s < rb->shards; s++)
        n += ne_rebal_leaving(rb, s);
    return n;
}

void ne_rebal_pulled(struct ne_rebal *rb, uint32_t shard)
{
    if (ne_rebal_moving(rb, shard)) rb->st[shard] |= ST_COMPLETE | ST_PRESENT;
}

uint32_t ne_rebal_bootstrap(struct ne_rebal *rb, const char *const *members, const bool *known,
                            size_t n, ne_rebal_holds_fn holds, void *ctx)
{
    for (size_t i = 0; i < n; i++)
        if (!known[i]) return 0;
    uint32_t taken = 0;
    for (uint32_t s = 0; s < rb->shards; s++) {
        if (!ne_rebal_moving(rb, s)) continue;
        bool held = false;
        for (size_t i = 0; i < n && !held; i++)
            held = holds(ctx, s, members[i]);
        if (held) continue;
        rb->st[s] |= ST_COMPLETE;
        taken++;
    }
    return taken;
}

bool ne_rebal_may_drop(const struct ne_rebal *rb, const struct ne_ring *ring, uint32_t shard,
                       ne_rebal_holds_fn holds, void *ctx)
{
    if (!ne_rebal_leaving(rb, shard) || ne_ring_shards(ring) != rb->shards) return false;
    const uint32_t *own = ne_ring_owners(ring, shard);
    uint32_t reps = ne_ring_replicas(ring);
    if (reps == 0) return false;
    for (uint32_t k = 0; k < reps; k++)
        if (!holds(ctx, shard, ne_ring_node_name(ring, own[k]))) return false;
    return true;
}

void ne_rebal_dropped(struct ne_rebal *rb, uint32_t shard)
{
    if (ne_rebal_leaving(rb, shard)) rb->st[shard] = 0;
}

bool ne_rebal_done(const struct ne_rebal *rb, const struct ne_ring *ring, ne_rebal_holds_fn holds,
                   void *ctx)
{
    if (!ne_rebal_decommissioned(rb)) return false;
    for (uint32_t s = 0; s < rb->shards; s++)
        if ((rb->st[s] & ST_PRESENT) && !ne_rebal_may_drop(rb, ring, s, holds, ctx)) return false;
    return true;
}

/* ---- status messages ---------------------------------------------------------- */

int ne_rebal_status_req(uint32_t shards, struct ne_pbuf *out)
{
    return ne_wire_put_u32(out, shards);
}

int ne_rebal_status_serve(const struct ne_rebal *rb, const uint8_t *msg, size_t n,
                          struct ne_pbuf *out)
{
    struct ne_wire_rd r = {.p = msg, .n = n};
    uint32_t shards = ne_wire_u32(&r);
    if (r.bad || r.off != r.n) return NE_ECORRUPT;
    if (shards != rb->shards) return NE_EINVAL;
    size_t nb = ((size_t)shards + 7) / 8;
    out->len = 0;
    int rc = ne_pbuf_reserve(out, 6 + nb);
    if (rc) return rc;
    (void)ne_wire_put_u8(out, (uint8_t)(rb->flags | (rb->tag >= 0 ? F_TAG : 0)));
    (void)ne_wire_put_u32(out, shards);
    uint8_t *bits = out->p + out->len;
    memset(bits, 0, nb);
    for (uint32_t s = 0; s < shards; s++)
        if (ne_rebal_holds(rb, s)) bits[s / 8] |= (uint8_t)(1u << (s % 8));
    out->len += nb;
    if (rb->tag >= 0) (void)ne_wire_put_u8(out, (uint8_t)rb->tag);
    return 0;
}

int ne_rebal_status_parse(const uint8_t *p, size_t n, uint32_t shards, uint8_t *holds,
                          bool *decommissioned, int *tag)
{
    struct ne_wire_rd r = {.p = p, .n = n};
    uint8_t flags = ne_wire_u8(&r);
    uint32_t ns = ne_wire_u32(&r);
    size_t nb = ((size_t)shards + 7) / 8, extra = flags & F_TAG ? 1 : 0;
    if (r.bad || ns != shards || r.n - r.off != nb + extra) return NE_ECORRUPT;
    memcpy(holds, p + r.off, nb);
    *decommissioned = flags & F_DECOMMISSIONED;
    if (tag) *tag = extra ? p[r.off + nb] : -1;
    return 0;
}

/* ---- dropping copies ----------------------------------------------------------- */

struct drop_ctx {
    uint32_t shards;
    const uint8_t *mask;
};

static bool drop_filter(void *ctx, const struct ne_series_info *s)
{
    const struct drop_ctx *d = ctx;
    uint64_t h = ne_ring_series_hash(ne_sv_c(s->measurement), s->tags, s->ntags);
    return ne_rebal_bit(d->mask, (uint32_t)(h % d->shards));
}

struct db_list {
    char **names;
    size_t n, cap;
    int err;
};

static int db_add(void *ctx, const char *name)
{
    struct db_list *l = ctx;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        char **np = ne_realloc(l->names, nc * sizeof *np);
        if (!np) return l->err = NE_ENOMEM;
        l->names = np;
        l->cap = nc;
    }
    size_t len = strlen(name) + 1;
    if (!(l->names[l->n] = ne_malloc(len))) return l->err = NE_ENOMEM;
    memcpy(l->names[l->n++], name, len);
    return 0;
}

int ne_rebal_delete_shards(struct ne_store *st, uint32_t shards, const uint8_t *mask)
{
    struct db_list l = {0};
    int rc = ne_store_list_databases(st, db_add, &l);
    if (rc == 0) rc = l.err;
    struct drop_ctx d = {shards, mask};
    for (size_t i = 0; rc == 0 && i < l.n; i++) {
        struct ne_store_delete_req r = {.db = l.names[i],
                                        .filter = drop_filter,
                                        .filter_ctx = &d,
                                        .t0 = INT64_MIN,
                                        .t1 = INT64_MAX};
        rc = ne_store_delete(st, &r);
        if (rc == NE_ENOTFOUND) rc = 0; /* dropped meanwhile */
    }
    for (size_t i = 0; i < l.n; i++)
        ne_free(l.names[i]);
    ne_free(l.names);
    return rc;
}
