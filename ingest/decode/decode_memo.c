/*
 * decode_memo.c - line-protocol series remembered across payloads
 * (struct ne_series_memo, declared in decode.h).
 *
 * An entry maps a series text as sent (measurement and tag section, up to
 * the first unescaped space, byte for byte) to the point it decoded to:
 * its measurement and its final tags (sorted, deduplicated, the decode
 * options' extra tags included). The same text always decodes to the same
 * series, so a later payload's line with that text can begin its point
 * with those tags (ne_batch_begin_tags) and parse only its fields and
 * timestamp.
 *
 * Layout: an open-addressing table of entries (never more than half full)
 * and an arena of chunks holding each entry's copied text, measurement,
 * tag array and tag bytes. Nothing is freed one entry at a time: when the
 * memo reaches its byte bound it takes no new series. A memo that was
 * full for a whole payload is kept while it found the series of at least
 * one in nine of that payload's lookups (sources that outnumber it still
 * find the ones it holds), and started over when it found fewer: the
 * sources changed. A decode with other extra tags than the entries were
 * made with starts it over too.
 */
#include <stdlib.h>
#include <string.h>

#include "ingest/decode/decode_internal.h"
#include "ports/err.h"
#include "ports/platform.h"

#define MEMO_CHUNK       (64u * 1024)
#define MEMO_MIN_SLOTS   256u
#define MEMO_DEFAULT_MAX (4u << 20)

struct memo_entry {
    uint64_t h;       /* hash of text (decode_line.c's); 0: free slot */
    const char *text; /* the series text, in the arena */
    uint32_t len;
    uint32_t ntags;
    struct ne_sv meas;
    const struct ne_tag *tags; /* in the arena, their bytes too */
    struct ne_series_hint *hint; /* in the arena: it stays put when the
                                    table grows */
};

struct memo_chunk {
    struct memo_chunk *next;
    size_t used, cap;
    _Alignas(16) char data[];
};

struct ne_series_memo {
    struct memo_entry *tab;
    uint32_t mask, used;
    struct memo_chunk *chunks;
    size_t bytes;          /* table + chunks */
    size_t max_bytes;      /* bound on bytes */
    uint64_t extra_fp;     /* fingerprint of the extra tags of the entries */
    bool full;             /* a series was not taken for want of room */
    bool full_before;      /* full when the last payload began */
    uint64_t hits, misses; /* lookups of the last payload */
};

int ne_series_memo_new(size_t max_bytes, struct ne_series_memo **out)
{
    *out = NULL;
    struct ne_series_memo *m = ne_calloc(1, sizeof *m);
    if (!m) return NE_ENOMEM;
    m->max_bytes = max_bytes ? max_bytes : MEMO_DEFAULT_MAX;
    *out = m;
    return 0;
}

static void memo_clear(struct ne_series_memo *m)
{
    while (m->chunks) {
        struct memo_chunk *c = m->chunks;
        m->chunks = c->next;
        ne_free(c);
    }
    ne_free(m->tab);
    m->tab = NULL;
    m->mask = m->used = 0;
    m->bytes = 0;
    m->full = false;
}

void ne_series_memo_free(struct ne_series_memo *m)
{
    if (!m) return;
    memo_clear(m);
    ne_free(m);
}

size_t ne_series_memo_bytes(const struct ne_series_memo *m)
{
    return m ? m->bytes : 0;
}

uint32_t ne_series_memo_count(const struct ne_series_memo *m)
{
    return m ? m->used : 0;
}

/* A fingerprint of the extra tags: entries hold them among their tags. */
static uint64_t extra_fingerprint(const struct ne_tag *tags, size_t ntags)
{
    uint64_t h = 0x8F1BBCDCCA62C1D6ull ^ ntags;
    for (size_t i = 0; i < ntags; i++) {
        struct ne_sv kv[2] = {tags[i].key, tags[i].val};
        for (int j = 0; j < 2; j++) {
            for (uint32_t k = 0; k < kv[j].n; k++)
                h = (h ^ (uint8_t)kv[j].p[k]) * 0x100000001B3ull;
            h = (h ^ 0xFF) * 0x100000001B3ull; /* ends the string */
        }
    }
    return h;
}

void decode__memo_start(struct ne_series_memo *m, const struct ne_decode_opts *o)
{
    uint64_t fp = extra_fingerprint(o->tags, o->ntags);
    bool stale = m->full && m->full_before && m->hits * 8 < m->misses;
    if (stale || fp != m->extra_fp) memo_clear(m);
    m->extra_fp = fp;
    m->full_before = m->full;
    m->hits = m->misses = 0;
}

static struct memo_entry *memo_slot(const struct ne_series_memo *m, uint64_t h, const char *p,
                                    uint32_t n)
{
    for (uint32_t i = (uint32_t)h & m->mask;; i = (i + 1) & m->mask) {
        struct memo_entry *e = &m->tab[i];
        if (!e->h || (e->h == h && e->len == n && ne_bytes_eq(e->text, p, n))) return e;
    }
}

bool decode__memo_find(struct ne_series_memo *m, uint64_t h, const char *p, uint32_t n,
                       struct ne_sv *meas, const struct ne_tag **tags, uint32_t *ntags,
                       struct ne_series_hint **hint)
{
    const struct memo_entry *e = m->used ? memo_slot(m, h, p, n) : NULL;
    if (!e || !e->h) {
        m->misses++;
        return false;
    }
    m->hits++;
    *meas = e->meas;
    *tags = e->tags;
    *ntags = e->ntags;
    *hint = e->hint;
    return true;
}

/* n bytes from the arena (16-byte aligned), or NULL when the bound is
 * reached or memory is short. */
static void *memo_alloc(struct ne_series_memo *m, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    struct memo_chunk *c = m->chunks;
    if (!c || c->cap - c->used < n) {
        size_t cap = n > MEMO_CHUNK ? n : MEMO_CHUNK;
        if (m->bytes + sizeof *c + cap > m->max_bytes) return NULL;
        if (!(c = ne_malloc(sizeof *c + cap))) return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = m->chunks;
        m->chunks = c;
        m->bytes += sizeof *c + cap;
    }
    void *p = c->data + c->used;
    c->used += n;
    return p;
}

/* Doubles the table (or makes the first one). false when over the bound
 * or short of memory. */
static bool memo_grow(struct ne_series_memo *m)
{
    uint32_t slots = m->tab ? (m->mask + 1) * 2 : MEMO_MIN_SLOTS;
    size_t old_bytes = m->tab ? (size_t)(m->mask + 1) * sizeof *m->tab : 0;
    size_t new_bytes = (size_t)slots * sizeof *m->tab;
    if (slots > (1u << 30) || m->bytes - old_bytes + new_bytes > m->max_bytes) return false;
    struct memo_entry *t = ne_calloc(slots, sizeof *t), *old = m->tab;
    if (!t) return false;
    uint32_t old_slots = m->tab ? m->mask + 1 : 0;
    m->tab = t;
    m->mask = slots - 1;
    for (uint32_t i = 0; i < old_slots; i++)
        if (old[i].h) *memo_slot(m, old[i].h, old[i].text, old[i].len) = old[i];
    ne_free(old);
    m->bytes = m->bytes - old_bytes + new_bytes;
    return true;
}

/* Copies s to *d and advances it; returns the copy's view. */
static struct ne_sv put_text(char **d, struct ne_sv s)
{
    struct ne_sv out = {*d, s.n};
    if (s.n) memcpy(*d, s.p, s.n);
    *d += s.n;
    return out;
}

struct ne_series_hint *decode__memo_put(struct ne_series_memo *m, uint64_t h, const char *p,
                                        uint32_t n, const struct ne_batch *b,
                                        const struct ne_point *pt)
{
    if (m->full) return NULL;
    if ((m->used + 1) * 2 > (m->tab ? m->mask + 1 : 0) && !memo_grow(m)) {
        m->full = true;
        return NULL;
    }
    struct memo_entry *e = memo_slot(m, h, p, n);
    if (e->h) return e->hint; /* already there */
    /* one block: the hint, the tag array, then the text, measurement and
     * tag bytes */
    const struct ne_tag *src = pt->ntags ? ne_point_tags(b, pt) : NULL;
    size_t size = sizeof(struct ne_series_hint) + (size_t)pt->ntags * sizeof(struct ne_tag) + n +
                  pt->meas.n;
    for (uint32_t i = 0; i < pt->ntags; i++)
        size += (size_t)src[i].key.n + src[i].val.n;
    struct ne_series_hint *hint = memo_alloc(m, size);
    if (!hint) {
        m->full = true;
        return NULL;
    }
    *hint = (struct ne_series_hint){0, NULL};
    struct ne_tag *tags = (struct ne_tag *)(hint + 1);
    char *d = (char *)(tags + pt->ntags);
    const char *text = put_text(&d, (struct ne_sv){p, n}).p;
    struct ne_sv meas = put_text(&d, pt->meas);
    for (uint32_t i = 0; i < pt->ntags; i++) {
        tags[i].key = put_text(&d, src[i].key);
        tags[i].val = put_text(&d, src[i].val);
    }
    *e = (struct memo_entry){.h = h,
                             .text = text,
                             .len = n,
                             .ntags = pt->ntags,
                             .meas = meas,
                             .tags = tags,
                             .hint = hint};
    m->used++;
    return hint;
}
