/*
 * point.c - the batch: flat arrays of points, tags and fields, plus an
 * arena for strings that had to be copied.
 *
 * Invariants: b->npts points are complete; while b->open, the point at
 * index b->npts is being built and owns fields [field0, nfields) at the
 * end of the array, and either owns tags [tag0, ntags) at the end of that
 * array (NE_BATCH_OPEN_OWN; NE_BATCH_OPEN_FINAL when they were given
 * sorted and whole, so end does not sort them) or shares an earlier
 * complete point's tag range (NE_BATCH_OPEN_SAME: then b->ntags is not past
 * its tags and is left alone on end and abort). Arena chunks never move, so
 * views into them stay valid until reset/free. Growth is geometric, so a
 * decoder appending a steady stream allocates only while the batch grows
 * to its working size.
 */
#include "store/point.h"

#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"

#define ARENA_MIN_CHUNK 4096u

struct ne_arena_chunk {
    struct ne_arena_chunk *next;
    size_t cap, used;
    char data[];
};

const char *ne_vtype_name(enum ne_vtype t)
{
    switch (t) {
    case NE_V_FLOAT:
        return "float";
    case NE_V_INT:
        return "integer";
    case NE_V_UINT:
        return "unsigned";
    case NE_V_BOOL:
        return "boolean";
    case NE_V_STRING:
        return "string";
    }
    return "unknown";
}

bool ne_sv_eq(struct ne_sv a, struct ne_sv b)
{
    return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

int ne_sv_cmp(struct ne_sv a, struct ne_sv b)
{
    uint32_t n = a.n < b.n ? a.n : b.n;
    int c = n ? memcmp(a.p, b.p, n) : 0;
    if (c != 0)
        return c;
    return a.n < b.n ? -1 : a.n > b.n ? 1 : 0;
}

void ne_batch_init(struct ne_batch *b)
{
    memset(b, 0, sizeof *b);
}

void ne_batch_reset(struct ne_batch *b)
{
    b->npts = b->ntags = b->nfields = 0;
    b->nsame = 0;
    b->open = NE_BATCH_CLOSED;
    if (!b->arena)
        return;
    /* Keep the first chunk for reuse, free the rest. */
    struct ne_arena_chunk *c = b->arena->next;
    while (c) {
        struct ne_arena_chunk *next = c->next;
        ne_free(c);
        c = next;
    }
    b->arena->next = NULL;
    b->arena->used = 0;
}

void ne_batch_free(struct ne_batch *b)
{
    ne_batch_reset(b);
    ne_free(b->arena);
    ne_free(b->pts);
    ne_free(b->tags);
    ne_free(b->fields);
    memset(b, 0, sizeof *b);
}

/* Ensures room for one more element in *arr (elem bytes each). */
static int grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap)
        return 0;
    uint32_t ncap = *cap ? *cap * 2 : 64;
    while (ncap < need)
        ncap *= 2;
    void *p = ne_realloc(*arr, (size_t)ncap * elem);
    if (!p)
        return NE_ENOMEM;
    *arr = p;
    *cap = ncap;
    return 0;
}

/* Grows *arr to exactly have + more elements when it holds fewer. */
static int reserve_exact(void **arr, uint32_t *cap, uint32_t have, uint32_t more, size_t elem)
{
    if (more > UINT32_MAX / 2 - have)
        return NE_ENOMEM;
    uint32_t need = have + more;
    if (need <= *cap)
        return 0;
    void *p = ne_realloc(*arr, (size_t)need * elem);
    if (!p)
        return NE_ENOMEM;
    *arr = p;
    *cap = need;
    return 0;
}

int ne_batch_reserve(struct ne_batch *b, uint32_t pts, uint32_t tags, uint32_t fields)
{
    /* pts + 1: an open point sits at pts[npts] */
    if (pts >= UINT32_MAX / 2 ||
        reserve_exact((void **)&b->pts, &b->cap_pts, b->npts, pts + 1, sizeof *b->pts) ||
        reserve_exact((void **)&b->tags, &b->cap_tags, b->ntags, tags, sizeof *b->tags) ||
        reserve_exact((void **)&b->fields, &b->cap_fields, b->nfields, fields, sizeof *b->fields))
        return NE_ENOMEM;
    return 0;
}

int ne_batch_begin(struct ne_batch *b, struct ne_sv meas, int64_t ts)
{
    if (b->open)
        ne_batch_abort(b);
    if (grow((void **)&b->pts, &b->cap_pts, b->npts + 1, sizeof *b->pts))
        return NE_ENOMEM;
    struct ne_point *p = &b->pts[b->npts];
    p->meas = meas;
    p->ts = ts;
    p->tag0 = b->ntags;
    p->ntags = 0;
    p->field0 = b->nfields;
    p->nfields = 0;
    p->hint = NULL;
    b->open = NE_BATCH_OPEN_OWN;
    return 0;
}

int ne_batch_begin_same(struct ne_batch *b, uint32_t like, int64_t ts)
{
    if (b->open)
        ne_batch_abort(b);
    if (like >= b->npts)
        return NE_EINVAL;
    if (grow((void **)&b->pts, &b->cap_pts, b->npts + 1, sizeof *b->pts))
        return NE_ENOMEM;
    const struct ne_point *l = &b->pts[like];
    struct ne_point *p = &b->pts[b->npts];
    p->meas = l->meas;
    p->ts = ts;
    p->tag0 = l->tag0;
    p->ntags = l->ntags;
    p->field0 = b->nfields;
    p->nfields = 0;
    p->hint = l->hint;
    b->open = NE_BATCH_OPEN_SAME;
    b->nsame++;
    return 0;
}

int ne_batch_begin_tags(struct ne_batch *b, struct ne_sv meas, const struct ne_tag *tags,
                        uint32_t ntags, int64_t ts)
{
    if (b->open)
        ne_batch_abort(b);
    if (ntags > UINT32_MAX / 2 - b->ntags ||
        grow((void **)&b->tags, &b->cap_tags, b->ntags + ntags, sizeof *b->tags) ||
        ne_batch_begin(b, meas, ts))
        return NE_ENOMEM;
    struct ne_point *p = &b->pts[b->npts];
    if (ntags)
        memcpy(b->tags + b->ntags, tags, (size_t)ntags * sizeof *tags);
    p->ntags = ntags;
    b->ntags += ntags;
    b->open = NE_BATCH_OPEN_FINAL;
    return 0;
}

int ne_batch_tag(struct ne_batch *b, struct ne_sv key, struct ne_sv val)
{
    if (b->open != NE_BATCH_OPEN_OWN)
        return NE_EINVAL;
    if (grow((void **)&b->tags, &b->cap_tags, b->ntags + 1, sizeof *b->tags))
        return NE_ENOMEM;
    b->tags[b->ntags].key = key;
    b->tags[b->ntags].val = val;
    b->ntags++;
    b->pts[b->npts].ntags++;
    return 0;
}

int ne_batch_field(struct ne_batch *b, struct ne_sv key, enum ne_vtype type, union ne_value v)
{
    if (!b->open)
        return NE_EINVAL;
    if (grow((void **)&b->fields, &b->cap_fields, b->nfields + 1, sizeof *b->fields))
        return NE_ENOMEM;
    struct ne_field *f = &b->fields[b->nfields];
    f->key = key;
    f->type = (uint8_t)type;
    f->v = v;
    b->nfields++;
    b->pts[b->npts].nfields++;
    return 0;
}

int ne_batch_field_f(struct ne_batch *b, struct ne_sv key, double v)
{
    union ne_value u;
    u.f = v;
    return ne_batch_field(b, key, NE_V_FLOAT, u);
}

void ne_batch_set_ts(struct ne_batch *b, int64_t ts)
{
    if (b->open)
        b->pts[b->npts].ts = ts;
}

/* ne_sv_cmp deciding on the first bytes without a call where it can:
 * tag and field keys mostly differ there. Runs for every key of every
 * point decoded. */
static inline int key_cmp(struct ne_sv a, struct ne_sv b)
{
    if (a.n && b.n && a.p[0] != b.p[0])
        return (unsigned char)a.p[0] < (unsigned char)b.p[0] ? -1 : 1;
    return ne_sv_cmp(a, b);
}

static inline bool key_eq(struct ne_sv a, struct ne_sv b)
{
    return a.n == b.n && (a.n == 0 || (a.p[0] == b.p[0] && memcmp(a.p, b.p, a.n) == 0));
}

/* Insertion sort: tag sets are small (a handful of keys) and usually
 * sorted already, where this is a single pass. Stable, so among equal
 * keys the later one stays later. */
static void sort_tags(struct ne_tag *t, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++) {
        struct ne_tag x = t[i];
        uint32_t j = i;
        while (j > 0 && key_cmp(t[j - 1].key, x.key) > 0) {
            t[j] = t[j - 1];
            j--;
        }
        t[j] = x;
    }
}

/* Keeps the last of equal adjacent tag keys; returns the new count. */
static uint32_t dedup_tags(struct ne_tag *t, uint32_t n)
{
    uint32_t w = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (w > 0 && key_eq(t[w - 1].key, t[i].key))
            t[w - 1] = t[i];
        else
            t[w++] = t[i];
    }
    return w;
}

/* Keeps the last of duplicate field keys, preserving first-seen order.
 * Quadratic, but field lists are short; the common no-duplicate case on
 * small lists costs a few comparisons. */
static uint32_t dedup_fields(struct ne_field *f, uint32_t n)
{
    uint32_t w = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t j;
        for (j = 0; j < w; j++)
            if (key_eq(f[j].key, f[i].key))
                break;
        if (j < w)
            f[j] = f[i];
        else
            f[w++] = f[i];
    }
    return w;
}

/* True when no two of the n keys can be equal: each key sets one of 128
 * bits chosen by its length and first, middle and last bytes, and no bit
 * is set twice. One pass instead of the pairwise comparison for the common
 * list without duplicates; a collision only means "compare them all". */
static bool keys_surely_distinct(const struct ne_field *f, uint32_t n)
{
    uint64_t seen[2] = {0, 0};
    for (uint32_t i = 0; i < n; i++) {
        struct ne_sv k = f[i].key;
        if (!k.n)
            return false;
        const unsigned char *q = (const unsigned char *)k.p;
        uint32_t h = k.n * 0x9E3779B1u + q[0] * 0x85EBCA77u + q[k.n - 1] * 0xC2B2AE3Du +
                     q[k.n / 2] * 0x27D4EB2Fu;
        h >>= 25;
        uint64_t bit = UINT64_C(1) << (h & 63);
        if (seen[h >> 6] & bit)
            return false;
        seen[h >> 6] |= bit;
    }
    return true;
}

static int end_point(struct ne_batch *b, bool fields_distinct)
{
    if (!b->open)
        return NE_EINVAL;
    struct ne_point *p = &b->pts[b->npts];
    if (p->nfields == 0 || p->meas.n == 0) {
        ne_batch_abort(b);
        return NE_EINVAL;
    }
    if (p->ntags > 1 && b->open == NE_BATCH_OPEN_OWN) {
        sort_tags(b->tags + p->tag0, p->ntags);
        p->ntags = dedup_tags(b->tags + p->tag0, p->ntags);
        b->ntags = p->tag0 + p->ntags;
    }
    if (p->nfields > 1 && !fields_distinct &&
        !keys_surely_distinct(b->fields + p->field0, p->nfields)) {
        p->nfields = dedup_fields(b->fields + p->field0, p->nfields);
        b->nfields = p->field0 + p->nfields;
    }
    b->npts++;
    b->open = NE_BATCH_CLOSED;
    return 0;
}

int ne_batch_end(struct ne_batch *b)
{
    return end_point(b, false);
}

int ne_batch_end_distinct(struct ne_batch *b)
{
    return end_point(b, true);
}

void ne_batch_abort(struct ne_batch *b)
{
    if (!b->open)
        return;
    struct ne_point *p = &b->pts[b->npts];
    if (b->open != NE_BATCH_OPEN_SAME)
        b->ntags = p->tag0;
    b->nfields = p->field0;
    b->open = NE_BATCH_CLOSED;
}

struct ne_sv ne_batch_copy(struct ne_batch *b, const char *p, size_t n)
{
    struct ne_sv out = {NULL, 0};
    if (n > UINT32_MAX)
        return out;
    struct ne_arena_chunk *c = b->arena;
    if (!c || c->cap - c->used < n) {
        size_t cap = ARENA_MIN_CHUNK;
        if (c && c->cap * 2 > cap)
            cap = c->cap * 2;
        while (cap < n)
            cap *= 2;
        struct ne_arena_chunk *nc = ne_malloc(sizeof *nc + cap);
        if (!nc)
            return out;
        nc->cap = cap;
        nc->used = 0;
        /* The newest chunk goes first; the first chunk kept by reset is
         * then the largest one. */
        nc->next = c;
        b->arena = nc;
        c = nc;
    }
    char *dst = c->data + c->used;
    if (n)
        memcpy(dst, p, n);
    c->used += n;
    out.p = dst;
    out.n = (uint32_t)n;
    return out;
}

void ne_batch_fill_ts(struct ne_batch *b, int64_t now_ns)
{
    for (uint32_t i = 0; i < b->npts; i++)
        if (b->pts[i].ts == NE_TS_UNSET)
            b->pts[i].ts = now_ns;
}

int64_t ne_days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}
