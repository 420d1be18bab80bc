/*
 * ring.c - consistent-hash ring with virtual nodes and a precomputed
 * shard -> owners table.
 *
 * Invariants: members are sorted by name and unique; tokens are sorted by
 * (token, node) so equal tokens (astronomically rare) still order the same
 * everywhere; owners[s * rep .. +rep) are distinct node indices, primary
 * first. Lookups are O(1) after the build; the build is O(N*V log(N*V) +
 * S*rep*walk).
 */
#include "sharding/ring.h"

#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"
#include "sharding/cluster.h"

struct token {
    uint64_t pos;
    uint32_t node;
};

struct ne_ring {
    uint32_t shards, vnodes, rep;
    size_t n;
    char (*names)[NE_NODE_ID_MAX + 1];
    struct token *tokens; /* n * vnodes, sorted */
    uint32_t *owners;     /* shards * rep */
};

#define FNV_OFFSET 0xcbf29ce484222325ull
#define FNV_PRIME  0x100000001b3ull

static uint64_t fnv_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= FNV_PRIME;
    }
    return h;
}

static uint64_t fnv_len(uint64_t h, uint32_t n)
{
    unsigned char b[4] = {(unsigned char)n, (unsigned char)(n >> 8), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 24)};
    return fnv_bytes(h, b, 4);
}

static uint64_t fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdull;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ull;
    k ^= k >> 33;
    return k;
}

uint64_t ne_ring_hash(const void *p, size_t n)
{
    return fmix64(fnv_bytes(FNV_OFFSET, p, n));
}

uint64_t ne_ring_series_hash(struct ne_sv meas, const struct ne_tag *tags, uint32_t ntags)
{
    uint64_t h = fnv_len(FNV_OFFSET, meas.n);
    h = fnv_bytes(h, meas.p, meas.n);
    for (uint32_t i = 0; i < ntags; i++) {
        h = fnv_len(h, tags[i].key.n);
        h = fnv_bytes(h, tags[i].key.p, tags[i].key.n);
        h = fnv_len(h, tags[i].val.n);
        h = fnv_bytes(h, tags[i].val.p, tags[i].val.n);
    }
    return fmix64(h);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int cmp_token(const void *a, const void *b)
{
    const struct token *x = a, *y = b;
    if (x->pos != y->pos) return x->pos < y->pos ? -1 : 1;
    return x->node < y->node ? -1 : x->node > y->node;
}

/* Copies the names sorted; rejects empty, long and duplicate names. */
static int copy_names(struct ne_ring *r, const char *const *nodes, size_t n)
{
    const char **tmp = ne_malloc(n * sizeof *tmp);
    if (!tmp) return NE_ENOMEM;
    memcpy(tmp, nodes, n * sizeof *tmp);
    int rc = 0;
    for (size_t i = 0; i < n && !rc; i++)
        if (!tmp[i] || !*tmp[i] || strlen(tmp[i]) > NE_NODE_ID_MAX) rc = NE_EINVAL;
    if (!rc) {
        qsort(tmp, n, sizeof *tmp, cmp_name);
        for (size_t i = 1; i < n && !rc; i++)
            if (strcmp(tmp[i - 1], tmp[i]) == 0) rc = NE_EINVAL;
    }
    if (!rc) {
        r->names = ne_calloc(n, sizeof *r->names);
        if (!r->names) rc = NE_ENOMEM;
        for (size_t i = 0; i < n && !rc; i++)
            strcpy(r->names[i], tmp[i]);
    }
    ne_free(tmp);
    return rc;
}

static int place_tokens(struct ne_ring *r)
{
    size_t nt = r->n * r->vnodes;
    r->tokens = ne_malloc(nt * sizeof *r->tokens);
    if (!r->tokens) return NE_ENOMEM;
    char buf[NE_NODE_ID_MAX + 16];
    for (size_t i = 0; i < r->n; i++) {
        size_t len = strlen(r->names[i]);
        memcpy(buf, r->names[i], len);
        buf[len] = '#';
        for (uint32_t v = 0; v < r->vnodes; v++) {
            /* decimal suffix, written by hand to keep the loop cheap */
            char num[12];
            int k = 0;
            uint32_t x = v;
            do {
                num[k++] = (char)('0' + x % 10);
                x /= 10;
            } while (x);
            for (int j = 0; j < k; j++)
                buf[len + 1 + j] = num[k - 1 - j];
            struct token *t = &r->tokens[i * r->vnodes + v];
            t->pos = ne_ring_hash(buf, len + 1 + (size_t)k);
            t->node = (uint32_t)i;
        }
    }
    qsort(r->tokens, nt, sizeof *r->tokens, cmp_token);
    return 0;
}

/* First token at or after pos (wrapping to 0). */
static size_t token_after(const struct ne_ring *r, uint64_t pos)
{
    size_t lo = 0, hi = r->n * r->vnodes;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->tokens[mid].pos < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo == r->n * r->vnodes ? 0 : lo;
}

static uint64_t shard_pos(uint32_t shards, uint32_t s)
{
    uint64_t step = UINT64_MAX / shards;
    return step * s + step / 2;
}

static void fill_owners(struct ne_ring *r)
{
    size_t nt = r->n * r->vnodes;
    for (uint32_t s = 0; s < r->shards; s++) {
        uint32_t *own = &r->owners[(size_t)s * r->rep];
        uint32_t got = 0;
        size_t t = token_after(r, shard_pos(r->shards, s));
        for (size_t step = 0; step < nt && got < r->rep; step++, t = (t + 1) % nt) {
            uint32_t node = r->tokens[t].node;
            bool seen = false;
            for (uint32_t j = 0; j < got; j++)
                seen |= own[j] == node;
            if (!seen) own[got++] = node;
        }
    }
}

int ne_ring_build(const struct ne_ring_opts *o, const char *const *nodes, size_t n,
                  struct ne_ring **out)
{
    if (n == 0 || n > UINT32_MAX / 1024) return NE_EINVAL;
    struct ne_ring *r = ne_calloc(1, sizeof *r);
    if (!r) return NE_ENOMEM;
    r->shards = o && o->shards ? o->shards : 1024;
    r->vnodes = o && o->vnodes ? o->vnodes : 128;
    uint32_t rf = o && o->rf ? o->rf : 1;
    r->n = n;
    r->rep = rf < n ? rf : (uint32_t)n;
    int rc = copy_names(r, nodes, n);
    if (!rc) rc = place_tokens(r);
    if (!rc) {
        r->owners = ne_malloc((size_t)r->shards * r->rep * sizeof *r->owners);
        if (!r->owners) rc = NE_ENOMEM;
    }
    if (rc) {
        ne_ring_free(&r);
        return rc;
    }
    fill_owners(r);
    *out = r;
    return 0;
}

void ne_ring_free(struct ne_ring **pr)
{
    if (!pr || !*pr) return;
    struct ne_ring *r = *pr;
    ne_free(r->names);
    ne_free(r->tokens);
    ne_free(r->owners);
    ne_free(r);
    *pr = NULL;
}

uint32_t ne_ring_shards(const struct ne_ring *r)
{
    return r->shards;
}

uint32_t ne_ring_replicas(const struct ne_ring *r)
{
    return r->rep;
}

size_t ne_ring_nodes(const struct ne_ring *r)
{
    return r->n;
}

const char *ne_ring_node_name(const struct ne_ring *r, uint32_t idx)
{
    return idx < r->n ? r->names[idx] : NULL;
}

int ne_ring_node_index(const struct ne_ring *r, const char *name)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(r->names[mid], name);
        if (c == 0) return (int)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

const uint32_t *ne_ring_owners(const struct ne_ring *r, uint32_t shard)
{
    return &r->owners[(size_t)(shard % r->shards) * r->rep];
}

bool ne_ring_is_owner(const struct ne_ring *r, uint32_t shard, uint32_t idx)
{
    const uint32_t *own = ne_ring_owners(r, shard);
    for (uint32_t i = 0; i < r->rep; i++)
        if (own[i] == idx) return true;
    return false;
}

static bool owns_name(const struct ne_ring *r, uint32_t shard, const char *name)
{
    int idx = ne_ring_node_index(r, name);
    return idx >= 0 && ne_ring_is_owner(r, shard, (uint32_t)idx);
}

/* Appends one move, growing the array geometrically. */
static int push_move(struct ne_shard_move **v, size_t *n, size_t *cap, struct ne_shard_move m)
{
    if (*n == *cap) {
        size_t nc = *cap ? *cap * 2 : 64;
        struct ne_shard_move *nv = ne_realloc(*v, nc * sizeof *nv);
        if (!nv) return NE_ENOMEM;
        *v = nv;
        *cap = nc;
    }
    (*v)[(*n)++] = m;
    return 0;
}

int ne_ring_diff(const struct ne_ring *from, const struct ne_ring *to, struct ne_shard_move **out,
                 size_t *n)
{
    if (from->shards != to->shards) return NE_EINVAL;
    struct ne_shard_move *v = NULL;
    size_t cnt = 0, cap = 0;
    int rc = 0;
    for (uint32_t s = 0; s < from->shards && !rc; s++) {
        const uint32_t *fo = ne_ring_owners(from, s), *too = ne_ring_owners(to, s);
        for (uint32_t i = 0; i < from->rep && !rc; i++) {
            const char *name = from->names[fo[i]];
            if (!owns_name(to, s, name))
                rc = push_move(&v, &cnt, &cap, (struct ne_shard_move){s, false, name});
        }
        for (uint32_t i = 0; i < to->rep && !rc; i++) {
            const char *name = to->names[too[i]];
            if (!owns_name(from, s, name))
                rc = push_move(&v, &cnt, &cap, (struct ne_shard_move){s, true, name});
        }
    }
    if (rc) {
        ne_free(v);
        return rc;
    }
    *out = v;
    *n = cnt;
    return 0;
}
