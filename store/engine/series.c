/*
 * series.c - the series index: (database, measurement, sorted tags) ->
 * dense uint64 series id, per-series field name -> type, measurement and
 * database tables, postings (tag key=value -> series), the tag value index
 * (measurement, tag key -> distinct values, sorted) and cardinality
 * limits.
 *
 * Invariants: series ids are 1, 2, 3, ... in creation order and never
 * reused; a field slot of a series never changes its type; the index only
 * grows while the store is open, so pointers to series, measurements and
 * databases stay valid. A lookup of an existing series hashes the views of
 * the batch directly and allocates nothing.
 *
 * Deletion marks rather than frees: a dropped database keeps its slot
 * (dropped = true) and a deleted series stays in every table with
 * dead = true. The key lookup table holds the newest series of a key, so
 * a write after a delete creates a new series (new id) that replaces the
 * dead one there; postings and measurement lists keep both, and readers
 * skip the dead. Live counts (database, measurement, index) drive the
 * cardinality limits and the listings.
 *
 * Tag value index: each measurement lists its tag keys (struct eng_tkey),
 * each key its distinct values in order of first appearance (a posting
 * holds its value's index there) with the number of live series having
 * it. A permutation of them sorted by value is brought up to date by the
 * first listing after new values came (values made in ascending order,
 * the usual case, only extend it; others sort it again), so SHOW TAG
 * VALUES walks one sorted list instead of every series. It is rebuilt
 * from the series log at open like the rest of the index, never written.
 *
 * Persistence: dir/series.log, append-only, replayed at open. New records
 * are buffered and written + fdatasync'ed by eng_index_sync before any
 * segment that references their ids is published (the WAL carries its own
 * series definitions, so the log never needs a sync per write).
 *
 *   file header (16 bytes)
 *   +------------+-----------+----------+------------------------------+
 *   | magic u32  | version   | reserved | crc32c u32 of bytes 0..11    |
 *   | "NESL" LE  | u16 = 1   | u16, u32 |                              |
 *   +------------+-----------+----------+------------------------------+
 *   records, each:
 *   +---------+---------------------+--------------------------------+
 *   | len u32 | crc32c u32 (payload)| payload (len bytes)            |
 *   +---------+---------------------+--------------------------------+
 *   payload: u8 kind, then (varints are LEB128)
 *     1 DATABASE  db_index, name_len, name
 *     2 SERIES    series_id, db_index, meas_len, meas, ntags,
 *                 (key_len, key, val_len, val) x ntags
 *     3 FIELD     series_id, slot, u8 type, name_len, name
 *     4 DELETE    seq, seg_limit, db_index, u8 what, then by what:
 *                 2 database:    nothing (every series of db dies, db dropped)
 *                 1 measurement: meas_len, meas (its series die)
 *                 0 series:      sv t0, sv t1, ndead, id deltas x ndead,
 *                                nrange, id deltas x nrange
 *                 (ids ascending, each stored as the difference to the
 *                 previous one; the dead ids die, the range ids lose their
 *                 points in [t0, t1] in segments with id < seg_limit; seq
 *                 is the first WAL sequence number after the delete)
 *   A DATABASE record naming an existing index revives a dropped database.
 *   Records apply in file order. A bad length or CRC at the end is a torn tail: cut there. All integers
 *   little-endian.
 */
#include "store/engine/engine.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/crc32c.h"
#include "ports/log.h"
#include "ports/platform.h"

#define SL_MAGIC   0x4c53454eu /* "NESL" */
#define SL_VERSION 1
#define SL_HDR     16

enum { SL_DB = 1, SL_SERIES = 2, SL_FIELD = 3, SL_DELETE = 4 };

struct posting {
    uint64_t hash;
    uint32_t meas;
    uint32_t vi; /* the value's index in its tag key's vals */
    struct ne_sv key, val; /* views into the first series' tags */
    struct eng_series **series;
    uint64_t n, cap;
};

struct eng_index {
    uint64_t uid; /* no other index of the process has had it (hints) */
    char *path;
    struct ne_file *log;
    struct ne_buf pending; /* records not yet written */
    uint64_t max_per_db, max_per_meas;

    struct eng_db *dbs;
    uint32_t ndbs, cap_dbs;

    struct eng_meas **meas;
    uint32_t nmeas, cap_meas;
    uint32_t *meas_tab; /* open addressing: meas index + 1, 0 = empty */
    uint32_t meas_tab_cap;

    struct eng_series **by_id; /* by_id[id - 1] */
    uint64_t nseries, cap_by_id;
    struct eng_series **tab; /* open addressing by hash */
    uint64_t tab_cap;

    struct posting *post; /* open addressing; series == NULL is empty */
    uint64_t post_cap, npost;

    uint64_t nlive, ndead; /* series alive / dead */
    struct eng_tomb **tombs;
    size_t ntombs, cap_tombs;
    uint64_t max_del_seq, max_seg_limit;
};

/* ---- hashing ------------------------------------------------------------ */

#define HMUL 0x9E3779B97F4A7C15ull

/* The last n (< 8) bytes of a string as a word without a call: two
 * overlapping loads from 4 bytes, three single ones below (with n, which
 * the hash mixes in, every text gives its own word). */
static inline uint64_t tail_word(const uint8_t *s, size_t n)
{
    if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        return a | (uint64_t)b << 32;
    }
    if (!n) return 0;
    return s[0] | (uint64_t)s[n >> 1] << 8 | (uint64_t)s[n - 1] << 16;
}

static inline uint64_t hmix(uint64_t h, const void *p, size_t n)
{
    const uint8_t *s = p;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * HMUL;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    h = (h ^ tail_word(s, n) ^ ((uint64_t)n << 59)) * HMUL;
    h ^= h >> 32;
    return h;
}

static uint64_t hash_series(uint32_t db, struct ne_sv meas, const struct ne_tag *tags,
                            uint32_t ntags)
{
    uint64_t h = hmix(0x51ed27a1u + db, meas.p, meas.n);
    for (uint32_t i = 0; i < ntags; i++) {
        h = hmix(h, tags[i].key.p, tags[i].key.n);
        h = hmix(h, tags[i].val.p, tags[i].val.n);
    }
    return h ? h : 1;
}

static uint64_t hash_meas(uint32_t db, const char *p, uint32_t n)
{
    uint64_t h = hmix(0x7a3c11u + db, p, n);
    return h ? h : 1;
}

static uint64_t hash_post(uint32_t meas, struct ne_sv k, struct ne_sv v)
{
    uint64_t h = hmix(0x2545F491u + meas, k.p, k.n);
    h = hmix(h, v.p, v.n);
    return h ? h : 1;
}

/* Copies n bytes and a NUL (names may hold NUL bytes from a damaged WAL:
 * the length, not strlen, is what counts). */
static char *dupn(const char *p, size_t n)
{
    char *d = ne_malloc(n + 1);
    if (d) {
        if (n) memcpy(d, p, n);
        d[n] = 0;
    }
    return d;
}

static inline bool sv_same(struct ne_sv a, struct ne_sv b)
{
    return a.n == b.n && ne_bytes_eq(a.p, b.p, a.n);
}

/* ---- series log ----------------------------------------------------------- */

static int log_begin(struct eng_index *ix, size_t *at)
{
    *at = ix->pending.len;
    return ne_buf_grow(&ix->pending, ENG_REC_HDR) ? 0 : NE_ENOMEM;
}

static void log_end(struct eng_index *ix, size_t at)
{
    uint8_t *h = ix->pending.p + at;
    size_t n = ix->pending.len - at - ENG_REC_HDR;
    ne_store_u32le(h, (uint32_t)n);
    ne_store_u32le(h + 4, ne_crc32c(0, h + ENG_REC_HDR, n));
}

static int put_sv(struct ne_buf *b, struct ne_sv s)
{
    int rc = ne_buf_put_uvarint(b, s.n);
    return rc ? rc : ne_buf_append(b, s.p, s.n);
}

static int log_db(struct eng_index *ix, uint32_t i)
{
    size_t at, keep = ix->pending.len;
    int rc = log_begin(ix, &at);
    if (!rc) rc = ne_buf_put_u8(&ix->pending, SL_DB);
    if (!rc) rc = ne_buf_put_uvarint(&ix->pending, i);
    if (!rc) rc = put_sv(&ix->pending, ne_sv_c(ix->dbs[i].name));
    if (rc) {
        ix->pending.len = keep;
        return rc;
    }
    log_end(ix, at);
    return 0;
}

static int log_series(struct eng_index *ix, const struct eng_series *s)
{
    size_t at, keep = ix->pending.len;
    struct ne_buf *b = &ix->pending;
    int rc = log_begin(ix, &at);
    if (!rc) rc = ne_buf_put_u8(b, SL_SERIES);
    if (!rc) rc = ne_buf_put_uvarint(b, s->id);
    if (!rc) rc = ne_buf_put_uvarint(b, s->db);
    if (!rc) rc = put_sv(b, s->meas_name);
    if (!rc) rc = ne_buf_put_uvarint(b, s->ntags);
    for (uint32_t i = 0; !rc && i < s->ntags; i++) {
        rc = put_sv(b, s->tags[i].key);
        if (!rc) rc = put_sv(b, s->tags[i].val);
    }
    if (rc) {
        b->len = keep;
        return rc;
    }
    log_end(ix, at);
    return 0;
}

static int log_field(struct eng_index *ix, const struct eng_series *s, uint32_t slot)
{
    size_t at, keep = ix->pending.len;
    struct ne_buf *b = &ix->pending;
    int rc = log_begin(ix, &at);
    if (!rc) rc = ne_buf_put_u8(b, SL_FIELD);
    if (!rc) rc = ne_buf_put_uvarint(b, s->id);
    if (!rc) rc = ne_buf_put_uvarint(b, slot);
    if (!rc) rc = ne_buf_put_u8(b, s->fields[slot].type);
    if (!rc) rc = put_sv(b, s->fields[slot].name);
    if (rc) {
        b->len = keep;
        return rc;
    }
    log_end(ix, at);
    return 0;
}

int eng_index_take_pending(struct eng_index *ix, struct ne_buf *out)
{
    struct ne_buf t = *out;
    *out = ix->pending;
    ix->pending = t;
    ne_buf_reset(&ix->pending);
    return 0;
}

int eng_index_write_pending(struct eng_index *ix, struct ne_buf *b)
{
    if (!b->len) return 0;
    int rc = ne_file_append(ix->log, b->p, b->len);
    if (!rc) rc = ne_file_datasync(ix->log);
    if (rc) {
        ne_log(NE_LOG_ERROR, ENG_MOD, "series log write failed", "path", ix->path, "err",
               ne_strerror(rc), NULL);
        return rc;
    }
    ne_buf_reset(b);
    return 0;
}

void eng_index_restore_pending(struct eng_index *ix, struct ne_buf *b)
{
    /* records taken but not written go back in front of newer ones */
    if (b->len && ne_buf_append(b, ix->pending.p, ix->pending.len) == 0) {
        struct ne_buf t = ix->pending;
        ix->pending = *b;
        *b = t;
    }
    ne_buf_reset(b);
}

int eng_index_sync(struct eng_index *ix)
{
    struct ne_buf b = NE_BUF_INIT;
    eng_index_take_pending(ix, &b);
    int rc = eng_index_write_pending(ix, &b);
    if (rc) eng_index_restore_pending(ix, &b);
    ne_buf_free(&b);
    return rc;
}

/* ---- tables ---------------------------------------------------------------- */

static int grow_ptrs(void **arr, uint64_t *cap, uint64_t need, size_t elt)
{
    if (need <= *cap) return 0;
    uint64_t nc = *cap ? *cap * 2 : 16;
    while (nc < need)
        nc *= 2;
    void *p = ne_realloc(*arr, nc * elt);
    if (!p) return NE_ENOMEM;
    *arr = p;
    *cap = nc;
    return 0;
}

static int series_tab_rehash(struct eng_index *ix)
{
    uint64_t nc = ix->tab_cap ? ix->tab_cap * 2 : 1024;
    struct eng_series **t = ne_calloc(nc, sizeof *t);
    if (!t) return NE_ENOMEM;
    for (uint64_t i = 0; i < ix->tab_cap; i++) {
        struct eng_series *s = ix->tab[i];
        if (!s) continue;
        uint64_t j = s->hash & (nc - 1);
        while (t[j])
            j = (j + 1) & (nc - 1);
        t[j] = s;
    }
    ne_free(ix->tab);
    ix->tab = t;
    ix->tab_cap = nc;
    return 0;
}

static int meas_tab_rehash(struct eng_index *ix)
{
    uint32_t nc = ix->meas_tab_cap ? ix->meas_tab_cap * 2 : 64;
    uint32_t *t = ne_calloc(nc, sizeof *t);
    if (!t) return NE_ENOMEM;
    for (uint32_t i = 0; i < ix->nmeas; i++) {
        uint32_t j = (uint32_t)(ix->meas[i]->hash & (nc - 1));
        while (t[j])
            j = (j + 1) & (nc - 1);
        t[j] = i + 1;
    }
    ne_free(ix->meas_tab);
    ix->meas_tab = t;
    ix->meas_tab_cap = nc;
    return 0;
}

static int post_rehash(struct eng_index *ix)
{
    uint64_t nc = ix->post_cap ? ix->post_cap * 2 : 256;
    struct posting *t = ne_calloc(nc, sizeof *t);
    if (!t) return NE_ENOMEM;
    for (uint64_t i = 0; i < ix->post_cap; i++) {
        if (!ix->post[i].series) continue;
        uint64_t j = ix->post[i].hash & (nc - 1);
        while (t[j].series)
            j = (j + 1) & (nc - 1);
        t[j] = ix->post[i];
    }
    ne_free(ix->post);
    ix->post = t;
    ix->post_cap = nc;
    return 0;
}

static struct posting *post_find(const struct eng_index *ix, uint32_t meas, struct ne_sv k,
                                 struct ne_sv v, uint64_t h)
{
    if (!ix->post_cap) return NULL;
    for (uint64_t j = h & (ix->post_cap - 1);; j = (j + 1) & (ix->post_cap - 1)) {
        struct posting *p = &ix->post[j];
        if (!p->series) return p;
        if (p->hash == h && p->meas == meas && sv_same(p->key, k) && sv_same(p->val, v)) return p;
    }
}

/* One distinct value of a tag key: a view into the first series' tags and
 * the number of live series having it. */
struct eng_tval {
    struct ne_sv val;
    uint64_t nlive;
};

struct eng_tkey {
    struct ne_sv key;      /* view into the first series' tags */
    uint64_t nlive;        /* live series having the key */
    struct eng_tval *vals; /* order of first appearance, never moved */
    uint32_t *order;       /* indices of vals; the first nsorted by value */
    uint32_t n, cap, nsorted;
};

static struct eng_tkey *tkey_get(struct eng_meas *m, struct ne_sv key);
static int tkey_append(struct eng_tkey *k, struct ne_sv val, uint32_t *vi);

static int post_add(struct eng_index *ix, struct eng_series *s, const struct ne_tag *t)
{
    if ((ix->npost + 1) * 4 > ix->post_cap * 3) {
        int rc = post_rehash(ix);
        if (rc) return rc;
    }
    uint64_t h = hash_post(s->meas, t->key, t->val);
    struct posting *p = post_find(ix, s->meas, t->key, t->val, h);
    struct eng_tkey *k = tkey_get(ix->meas[s->meas], t->key);
    if (!k) return NE_ENOMEM;
    int rc;
    if (!p->series) {
        uint32_t vi;
        if ((rc = tkey_append(k, t->val, &vi))) return rc;
        p->hash = h;
        p->meas = s->meas;
        p->vi = vi;
        p->key = t->key;
        p->val = t->val;
        p->n = p->cap = 0;
        ix->npost++;
    }
    struct eng_series **arr = p->series;
    rc = grow_ptrs((void **)&arr, &p->cap, p->n + 1, sizeof *arr);
    if (rc) {
        if (!p->series) { /* keep the slot marked empty, the value unlisted */
            ix->npost--;
            k->n--;
        }
        return rc;
    }
    p->series = arr;
    p->series[p->n++] = s;
    k->vals[p->vi].nlive++;
    k->nlive++;
    return 0;
}

/* ---- tag value index -------------------------------------------------------- */

static int meas_lookup(const struct eng_index *ix, uint32_t db, const char *p, uint32_t n,
                       uint64_t h, uint32_t *slot);

/* Byte order, shorter first on a common prefix (strcmp's order for
 * strings without NUL bytes). */
static int sv_order(struct ne_sv a, struct ne_sv b)
{
    int c = memcmp(a.p, b.p, a.n < b.n ? a.n : b.n);
    return c ? c : (a.n > b.n) - (a.n < b.n);
}

static struct eng_tkey *tkey_find(const struct eng_meas *m, struct ne_sv key)
{
    for (uint32_t i = 0; i < m->ntkeys; i++)
        if (sv_same(m->tkeys[i].key, key)) return &m->tkeys[i];
    return NULL;
}

/* The entry of key in m, added (empty) when new. NULL when out of memory. */
static struct eng_tkey *tkey_get(struct eng_meas *m, struct ne_sv key)
{
    struct eng_tkey *k = tkey_find(m, key);
    if (k) return k;
    if (m->ntkeys == m->cap_tkeys) {
        uint32_t nc = m->cap_tkeys ? m->cap_tkeys * 2 : 4;
        struct eng_tkey *a = ne_realloc(m->tkeys, nc * sizeof *a);
        if (!a) return NULL;
        m->tkeys = a;
        m->cap_tkeys = nc;
    }
    k = &m->tkeys[m->ntkeys++];
    *k = (struct eng_tkey){.key = key};
    return k;
}

/* Appends val (new to k) with no live series yet; *vi gets its index. */
static int tkey_append(struct eng_tkey *k, struct ne_sv val, uint32_t *vi)
{
    if (k->n == k->cap) {
        if (k->cap >= UINT32_MAX / 2) return NE_ELIMIT;
        uint32_t nc = k->cap ? k->cap * 2 : 8;
        struct eng_tval *v = ne_realloc(k->vals, (size_t)nc * sizeof *v);
        if (!v) return NE_ENOMEM;
        k->vals = v;
        uint32_t *o = ne_realloc(k->order, (size_t)nc * sizeof *o);
        if (!o) return NE_ENOMEM; /* vals grew: harmless, cap stays */
        k->order = o;
        k->cap = nc;
    }
    k->vals[k->n] = (struct eng_tval){val, 0};
    *vi = k->n++;
    return 0;
}

struct tval_ref {
    struct ne_sv val;
    uint32_t i;
};

static int cmp_tval_ref(const void *a, const void *b)
{
    return sv_order(((const struct tval_ref *)a)->val, ((const struct tval_ref *)b)->val);
}

/* Brings k->order up to date with the values appended since it was last
 * sorted: new values above every sorted one in ascending order extend it,
 * anything else sorts all again. */
static int tkey_fold(struct eng_tkey *k)
{
    uint32_t i = k->nsorted;
    for (; i < k->n; i++) {
        if (i > 0 && sv_order(k->vals[k->order[i - 1]].val, k->vals[i].val) >= 0) break;
        k->order[i] = i;
    }
    if (i == k->n) {
        k->nsorted = k->n;
        return 0;
    }
    struct tval_ref *r = ne_malloc((size_t)k->n * sizeof *r);
    if (!r) return NE_ENOMEM;
    for (uint32_t j = 0; j < k->n; j++)
        r[j] = (struct tval_ref){k->vals[j].val, j};
    qsort(r, k->n, sizeof *r, cmp_tval_ref);
    for (uint32_t j = 0; j < k->n; j++)
        k->order[j] = r[j].i;
    ne_free(r);
    k->nsorted = k->n;
    return 0;
}

int eng_index_tag_values(struct eng_index *ix, uint32_t db, struct ne_sv meas, struct ne_sv key,
                         struct ne_sv **vals, size_t *n, size_t *cap)
{
    uint32_t slot;
    if (meas_lookup(ix, db, meas.p, meas.n, hash_meas(db, meas.p, meas.n), &slot))
        return NE_ENOTFOUND;
    struct eng_tkey *k = tkey_find(ix->meas[slot], key);
    if (!k || k->n == 0) return 0;
    int rc = tkey_fold(k);
    if (rc) return rc;
    if (*cap - *n < k->n) { /* room for every value, dead ones' too */
        size_t nc = *n + k->n;
        struct ne_sv *v = ne_realloc(*vals, nc * sizeof *v);
        if (!v) return NE_ENOMEM;
        *vals = v;
        *cap = nc;
    }
    struct ne_sv *out = *vals + *n;
    const struct eng_tval *tv = k->vals;
    const uint32_t *order = k->order;
    for (uint32_t i = 0, nv = k->n; i < nv; i++) {
        const struct eng_tval *v = &tv[order[i]];
        if (v->nlive) *out++ = v->val;
    }
    *n = (size_t)(out - *vals);
    return 0;
}

/* One series of meas with tag t died: its value loses a live series. */
static void tval_unref(struct eng_index *ix, const struct eng_series *s, const struct ne_tag *t)
{
    struct posting *p = post_find(ix, s->meas, t->key, t->val, hash_post(s->meas, t->key, t->val));
    struct eng_tkey *k = tkey_find(ix->meas[s->meas], t->key);
    if (p && p->series && k && p->vi < k->n && k->vals[p->vi].nlive) {
        k->vals[p->vi].nlive--;
        k->nlive--;
    }
}

int eng_index_tag_keys(const struct eng_index *ix, uint32_t db, struct ne_sv meas,
                       struct ne_sv **keys, size_t *n, size_t *cap)
{
    uint32_t slot;
    if (meas_lookup(ix, db, meas.p, meas.n, hash_meas(db, meas.p, meas.n), &slot))
        return NE_ENOTFOUND;
    const struct eng_meas *m = ix->meas[slot];
    if (*cap - *n < m->ntkeys) {
        size_t nc = *n + m->ntkeys;
        struct ne_sv *v = ne_realloc(*keys, nc * sizeof *v);
        if (!v) return NE_ENOMEM;
        *keys = v;
        *cap = nc;
    }
    for (uint32_t i = 0; i < m->ntkeys; i++)
        if (m->tkeys[i].nlive) (*keys)[(*n)++] = m->tkeys[i].key;
    return 0;
}

/* ---- databases and measurements ------------------------------------------- */

static int db_add(struct eng_index *ix, struct ne_sv name, uint32_t *out)
{
    if (ix->ndbs == ix->cap_dbs) {
        uint32_t nc = ix->cap_dbs ? ix->cap_dbs * 2 : 4;
        struct eng_db *d = ne_realloc(ix->dbs, nc * sizeof *d);
        if (!d) return NE_ENOMEM;
        ix->dbs = d;
        ix->cap_dbs = nc;
    }
    char *n = dupn(name.p, name.n);
    if (!n) return NE_ENOMEM;
    struct eng_db *d = &ix->dbs[ix->ndbs];
    d->name = n;
    d->id = ix->ndbs;
    d->nseries = 0;
    d->dropped = false;
    *out = ix->ndbs++;
    return 0;
}

static bool db_named(const struct eng_db *d, struct ne_sv name)
{
    return strlen(d->name) == name.n && memcmp(d->name, name.p, name.n) == 0;
}

int eng_index_db(struct eng_index *ix, struct ne_sv name, uint32_t *out)
{
    for (uint32_t i = 0; i < ix->ndbs; i++) {
        if (!db_named(&ix->dbs[i], name)) continue;
        if (ix->dbs[i].dropped) {
            /* revived: the record comes after the DELETE that dropped it */
            int rc = log_db(ix, i);
            if (rc) return rc;
            ix->dbs[i].dropped = false;
        }
        *out = i;
        return 0;
    }
    uint32_t i;
    int rc = db_add(ix, name, &i);
    if (!rc) rc = log_db(ix, i);
    if (!rc) *out = i;
    return rc;
}

int eng_index_db_any(struct eng_index *ix, struct ne_sv name, uint32_t *out)
{
    for (uint32_t i = 0; i < ix->ndbs; i++) {
        if (db_named(&ix->dbs[i], name)) {
            *out = i;
            return 0;
        }
    }
    return eng_index_db(ix, name, out);
}

static int meas_lookup(const struct eng_index *ix, uint32_t db, const char *p, uint32_t n,
                       uint64_t h, uint32_t *slot)
{
    if (!ix->meas_tab_cap) return NE_ENOTFOUND;
    for (uint32_t j = (uint32_t)(h & (ix->meas_tab_cap - 1));;
         j = (j + 1) & (ix->meas_tab_cap - 1)) {
        uint32_t v = ix->meas_tab[j];
        if (!v) {
            *slot = j;
            return NE_ENOTFOUND;
        }
        const struct eng_meas *m = ix->meas[v - 1];
        if (m->hash == h && m->db == db && m->len == n && memcmp(m->name, p, n) == 0) {
            *slot = v - 1;
            return 0;
        }
    }
}

static int meas_get(struct eng_index *ix, uint32_t db, struct ne_sv name, uint32_t *out)
{
    uint64_t h = hash_meas(db, name.p, name.n);
    uint32_t slot = 0;
    if (meas_lookup(ix, db, name.p, name.n, h, &slot) == 0) {
        *out = slot;
        return 0;
    }
    if ((ix->nmeas + 1) * 2 > ix->meas_tab_cap) {
        int rc = meas_tab_rehash(ix);
        if (rc) return rc;
        meas_lookup(ix, db, name.p, name.n, h, &slot);
    }
    if (ix->nmeas == ix->cap_meas) {
        uint32_t nc = ix->cap_meas ? ix->cap_meas * 2 : 16;
        struct eng_meas **a = ne_realloc(ix->meas, nc * sizeof *a);
        if (!a) return NE_ENOMEM;
        ix->meas = a;
        ix->cap_meas = nc;
    }
    struct eng_meas *m = ne_calloc(1, sizeof *m);
    char *n = m ? dupn(name.p, name.n) : NULL;
    if (!n) {
        ne_free(m);
        return NE_ENOMEM;
    }
    m->name = n;
    m->len = name.n;
    m->db = db;
    m->hash = h;
    ix->meas[ix->nmeas] = m;
    ix->meas_tab[slot] = ix->nmeas + 1;
    *out = ix->nmeas++;
    return 0;
}

/* ---- series ------------------------------------------------------------- */

static bool series_matches(const struct eng_series *s, uint32_t db, struct ne_sv meas,
                           const struct ne_tag *tags, uint32_t ntags)
{
    if (s->db != db || s->ntags != ntags || !sv_same(s->meas_name, meas)) return false;
    for (uint32_t i = 0; i < ntags; i++)
        if (!sv_same(s->tags[i].key, tags[i].key) || !sv_same(s->tags[i].val, tags[i].val))
            return false;
    return true;
}

static struct eng_series **series_slot(const struct eng_index *ix, uint32_t db, struct ne_sv meas,
                                       const struct ne_tag *tags, uint32_t ntags, uint64_t h)
{
    for (uint64_t j = h & (ix->tab_cap - 1);; j = (j + 1) & (ix->tab_cap - 1)) {
        struct eng_series *s = ix->tab[j];
        if (!s || (s->hash == h && series_matches(s, db, meas, tags, ntags))) return &ix->tab[j];
    }
}

/* Builds a series in one allocation: struct, tag array, then the bytes. */
static struct eng_series *series_build(uint32_t db, struct ne_sv meas, const struct ne_tag *tags,
                                       uint32_t ntags, uint64_t h)
{
    size_t bytes = meas.n + 1;
    for (uint32_t i = 0; i < ntags; i++)
        bytes += tags[i].key.n + tags[i].val.n + 2;
    size_t sz = sizeof(struct eng_series) + ntags * sizeof(struct ne_tag) + bytes;
    struct eng_series *s = ne_calloc(1, sz);
    if (!s) return NULL;
    s->tags = (struct ne_tag *)(s + 1);
    char *c = (char *)(s->tags + ntags);
    memcpy(c, meas.p, meas.n);
    c[meas.n] = 0;
    s->meas_name = (struct ne_sv){c, meas.n};
    c += meas.n + 1;
    for (uint32_t i = 0; i < ntags; i++) {
        memcpy(c, tags[i].key.p, tags[i].key.n);
        c[tags[i].key.n] = 0;
        s->tags[i].key = (struct ne_sv){c, tags[i].key.n};
        c += tags[i].key.n + 1;
        memcpy(c, tags[i].val.p, tags[i].val.n);
        c[tags[i].val.n] = 0;
        s->tags[i].val = (struct ne_sv){c, tags[i].val.n};
        c += tags[i].val.n + 1;
    }
    s->ntags = ntags;
    s->db = db;
    s->hash = h;
    return s;
}

static void series_destroy(struct eng_series *s)
{
    for (uint32_t i = 0; i < s->nfields; i++)
        ne_free((void *)s->fields[i].name.p);
    ne_free(s->fields);
    ne_free(s);
}

/* Inserts a new series with the given id into every table. */
static int series_insert(struct eng_index *ix, uint64_t id, uint32_t db, struct ne_sv meas,
                         const struct ne_tag *tags, uint32_t ntags, uint64_t h,
                         struct eng_series **out)
{
    int rc;
    if ((ix->nseries + 1) * 4 > ix->tab_cap * 3 && (rc = series_tab_rehash(ix))) return rc;
    if ((rc = grow_ptrs((void **)&ix->by_id, &ix->cap_by_id, id, sizeof *ix->by_id))) return rc;
    uint32_t mi;
    if ((rc = meas_get(ix, db, meas, &mi))) return rc;
    struct eng_meas *m = ix->meas[mi];
    if ((rc = grow_ptrs((void **)&m->series, &m->cap_series, m->nseries + 1, sizeof(void *))))
        return rc;
    struct eng_series *s = series_build(db, meas, tags, ntags, h);
    if (!s) return NE_ENOMEM;
    s->id = id;
    s->meas = mi;
    for (uint32_t i = 0; i < ntags; i++) {
        if ((rc = post_add(ix, s, &s->tags[i]))) {
            /* postings already added keep a pointer: keep s alive as a
             * registered series rather than free it under them */
            break;
        }
    }
    *series_slot(ix, db, meas, tags, ntags, h) = s;
    for (uint64_t i = ix->nseries; i < id - 1; i++)
        ix->by_id[i] = NULL;
    ix->by_id[id - 1] = s;
    if (id > ix->nseries) ix->nseries = id;
    m->series[m->nseries++] = s;
    m->nlive++;
    ix->dbs[db].nseries++;
    ix->nlive++;
    *out = s;
    return rc;
}

static int series_create(struct eng_index *ix, uint32_t db, struct ne_sv meas,
                         const struct ne_tag *tags, uint32_t ntags, uint64_t h,
                         struct eng_series **out, char *why, size_t nwhy)
{
    if (ix->max_per_db && ix->dbs[db].nseries >= ix->max_per_db) {
        if (why)
            snprintf(why, nwhy, "database \"%s\" has reached its limit of %llu series",
                     ix->dbs[db].name, (unsigned long long)ix->max_per_db);
        return NE_ELIMIT;
    }
    if (ix->max_per_meas) {
        uint32_t slot;
        uint64_t mh = hash_meas(db, meas.p, meas.n);
        if (meas_lookup(ix, db, meas.p, meas.n, mh, &slot) == 0 &&
            ix->meas[slot]->nlive >= ix->max_per_meas) {
            if (why)
                snprintf(why, nwhy, "measurement \"%.*s\" has reached its limit of %llu series",
                         (int)meas.n, meas.p, (unsigned long long)ix->max_per_meas);
            return NE_ELIMIT;
        }
    }
    int rc = series_insert(ix, ix->nseries + 1, db, meas, tags, ntags, h, out);
    if (!rc) rc = log_series(ix, *out);
    return rc;
}

int eng_index_series_parts(struct eng_index *ix, uint32_t db, struct ne_sv meas,
                           const struct ne_tag *tags, uint32_t ntags, bool keep_dead,
                           struct eng_series **out)
{
    uint64_t h = hash_series(db, meas, tags, ntags);
    if (ix->tab_cap) {
        struct eng_series *s = *series_slot(ix, db, meas, tags, ntags, h);
        if (s && (!s->dead || keep_dead)) {
            *out = s;
            return 0;
        }
    }
    /* replay recreates what was accepted before: the limits do not apply */
    int rc = series_insert(ix, ix->nseries + 1, db, meas, tags, ntags, h, out);
    return rc ? rc : log_series(ix, *out);
}

/* The series of a hint, when this index filled it and that series is
 * still the live one of its key in db: series are never freed while the
 * index is open, and a live series is the one its key finds. */
static struct eng_series *hint_series(const struct eng_index *ix, uint32_t db,
                                      const struct ne_series_hint *hint)
{
    if (!hint || hint->index != ix->uid) return NULL;
    struct eng_series *s = hint->series;
    return s->db == db && !s->dead ? s : NULL;
}

int eng_index_series(struct eng_index *ix, uint32_t db, const struct ne_batch *b,
                     const struct ne_point *p, struct eng_series **out, char *why, size_t nwhy)
{
    struct eng_series *s = hint_series(ix, db, p->hint);
    if (s) {
        *out = s;
        return 0;
    }
    const struct ne_tag *tags = ne_point_tags(b, p);
    uint64_t h = hash_series(db, p->meas, tags, p->ntags);
    int rc = 0;
    s = ix->tab_cap ? *series_slot(ix, db, p->meas, tags, p->ntags, h) : NULL;
    if (!s || s->dead) rc = series_create(ix, db, p->meas, tags, p->ntags, h, &s, why, nwhy);
    if (rc) return rc;
    if (p->hint) *p->hint = (struct ne_series_hint){ix->uid, s};
    *out = s;
    return 0;
}

int eng_series_field_find(const struct eng_series *s, struct ne_sv name, uint32_t hint)
{
    if (hint < s->nfields && sv_same(s->fields[hint].name, name)) return (int)hint;
    for (uint32_t i = 0; i < s->nfields; i++)
        if (sv_same(s->fields[i].name, name)) return (int)i;
    return -1;
}

static int field_insert(struct eng_series *s, struct ne_sv name, uint8_t type)
{
    if (s->nfields == s->cap_fields) {
        uint32_t nc = s->cap_fields ? s->cap_fields * 2 : 4;
        struct eng_field *f = ne_realloc(s->fields, nc * sizeof *f);
        if (!f) return NE_ENOMEM;
        s->fields = f;
        s->cap_fields = nc;
    }
    char *n = dupn(name.p, name.n);
    if (!n) return NE_ENOMEM;
    struct eng_field *f = &s->fields[s->nfields];
    memset(f, 0, sizeof *f);
    f->name = (struct ne_sv){n, name.n};
    f->type = type;
    f->mt_idx[0] = f->mt_idx[1] = UINT32_MAX;
    return (int)s->nfields++;
}

int eng_index_field_add(struct eng_index *ix, struct eng_series *s, struct ne_sv name, uint8_t type)
{
    int slot = field_insert(s, name, type);
    if (slot < 0) return slot;
    int rc = log_field(ix, s, (uint32_t)slot);
    return rc ? rc : slot;
}

/* ---- deletions ------------------------------------------------------------ */

static int rd_sv(struct ne_rd *r, struct ne_sv *out);

bool eng_tomb_has(const struct eng_tomb *t, uint64_t id)
{
    size_t lo = 0, hi = t->nids;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->ids[mid] == id) return true;
        if (t->ids[mid] < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

void eng_tomb_unref(struct eng_tomb *t)
{
    if (!t || --t->refs > 0) return;
    ne_free(t->ids);
    ne_free(t);
}

static int put_ids(struct ne_buf *b, const uint64_t *ids, size_t n)
{
    int rc = ne_buf_put_uvarint(b, n);
    for (size_t i = 0; !rc && i < n; i++)
        rc = ne_buf_put_uvarint(b, ids[i] - (i ? ids[i - 1] : 0));
    return rc;
}

int eng_index_encode_del(const struct eng_del *d, struct ne_buf *out)
{
    size_t at = out->len;
    if (!ne_buf_grow(out, ENG_REC_HDR)) return NE_ENOMEM; /* length and CRC, set below */
    int rc = ne_buf_put_u8(out, SL_DELETE);
    if (!rc) rc = ne_buf_put_uvarint(out, d->seq);
    if (!rc) rc = ne_buf_put_uvarint(out, d->seg_limit);
    if (!rc) rc = ne_buf_put_uvarint(out, d->db);
    if (!rc) rc = ne_buf_put_u8(out, (uint8_t)d->what);
    if (!rc && d->what == ENG_DEL_MEAS) rc = put_sv(out, d->meas);
    if (!rc && d->what == ENG_DEL_SERIES) {
        rc = ne_buf_put_svarint(out, d->t0);
        if (!rc) rc = ne_buf_put_svarint(out, d->t1);
        if (!rc) rc = put_ids(out, d->dead, d->ndead);
        if (!rc) rc = put_ids(out, d->range, d->nrange);
    }
    if (rc) {
        out->len = at;
        return rc;
    }
    uint8_t *h = out->p + at;
    size_t n = out->len - at - ENG_REC_HDR;
    ne_store_u32le(h, (uint32_t)n);
    ne_store_u32le(h + 4, ne_crc32c(0, h + ENG_REC_HDR, n));
    return 0;
}

static void series_kill(struct eng_index *ix, struct eng_series *s)
{
    if (s->dead) return;
    s->dead = true;
    for (uint32_t i = 0; i < s->ntags; i++)
        tval_unref(ix, s, &s->tags[i]);
    ix->dbs[s->db].nseries--;
    ix->meas[s->meas]->nlive--;
    ix->nlive--;
    ix->ndead++;
}

static void meas_kill(struct eng_index *ix, struct eng_meas *m)
{
    for (uint64_t i = 0; i < m->nseries; i++)
        series_kill(ix, m->series[i]);
}

static int tomb_add(struct eng_index *ix, const struct eng_del *d)
{
    if (ix->ntombs == ix->cap_tombs) {
        size_t nc = ix->cap_tombs ? ix->cap_tombs * 2 : 8;
        struct eng_tomb **v = ne_realloc(ix->tombs, nc * sizeof *v);
        if (!v) return NE_ENOMEM;
        ix->tombs = v;
        ix->cap_tombs = nc;
    }
    struct eng_tomb *t = ne_calloc(1, sizeof *t);
    uint64_t *ids = t ? ne_malloc(d->nrange * sizeof *ids) : NULL;
    if (!ids) {
        ne_free(t);
        return NE_ENOMEM;
    }
    memcpy(ids, d->range, d->nrange * sizeof *ids);
    *t = (struct eng_tomb){.seq = d->seq,
                           .seg_limit = d->seg_limit,
                           .t0 = d->t0,
                           .t1 = d->t1,
                           .ids = ids,
                           .nids = d->nrange,
                           .refs = 1};
    ix->tombs[ix->ntombs++] = t;
    return 0;
}

int eng_index_apply_del(struct eng_index *ix, const struct eng_del *d)
{
    if (d->db >= ix->ndbs) return NE_ECORRUPT;
    if (d->seq > ix->max_del_seq) ix->max_del_seq = d->seq;
    if (d->seg_limit > ix->max_seg_limit) ix->max_seg_limit = d->seg_limit;
    if (d->what == ENG_DEL_DB) {
        for (uint32_t i = 0; i < ix->nmeas; i++)
            if (ix->meas[i]->db == d->db) meas_kill(ix, ix->meas[i]);
        ix->dbs[d->db].dropped = true;
        return 0;
    }
    if (d->what == ENG_DEL_MEAS) {
        uint32_t slot;
        uint64_t h = hash_meas(d->db, d->meas.p, d->meas.n);
        if (meas_lookup(ix, d->db, d->meas.p, d->meas.n, h, &slot) == 0)
            meas_kill(ix, ix->meas[slot]);
        return 0;
    }
    for (size_t i = 0; i < d->ndead; i++) {
        struct eng_series *s = eng_index_series_by_id(ix, d->dead[i]);
        if (s) series_kill(ix, s);
    }
    return d->nrange ? tomb_add(ix, d) : 0;
}

/* Reads n ascending ids (stored as deltas) into a new array. */
static int rd_ids(struct ne_rd *r, uint64_t **out, size_t *n)
{
    uint64_t cnt, prev = 0;
    *out = NULL;
    *n = 0;
    if (ne_rd_uvarint(r, &cnt) || cnt > (uint64_t)(r->end - r->p)) return NE_ECORRUPT; /* >= 1 byte each */
    if (!cnt) return 0;
    uint64_t *v = ne_malloc(cnt * sizeof *v);
    if (!v) return NE_ENOMEM;
    for (uint64_t i = 0; i < cnt; i++) {
        uint64_t d;
        if (ne_rd_uvarint(r, &d) || (i && d == 0)) {
            ne_free(v);
            return NE_ECORRUPT;
        }
        v[i] = prev += d;
    }
    *out = v;
    *n = (size_t)cnt;
    return 0;
}

static int load_delete(struct eng_index *ix, struct ne_rd *r)
{
    struct eng_del d = {0};
    uint64_t db;
    uint8_t what;
    uint64_t *dead = NULL, *range = NULL;
    int rc = ne_rd_uvarint(r, &d.seq);
    if (!rc) rc = ne_rd_uvarint(r, &d.seg_limit);
    if (!rc) rc = ne_rd_uvarint(r, &db);
    if (!rc) rc = ne_rd_u8(r, &what);
    if (rc || db >= ix->ndbs || what > ENG_DEL_DB) return NE_ECORRUPT;
    d.db = (uint32_t)db;
    d.what = (enum eng_del_what)what;
    if (d.what == ENG_DEL_MEAS && rd_sv(r, &d.meas)) return NE_ECORRUPT;
    if (d.what == ENG_DEL_SERIES) {
        rc = ne_rd_svarint(r, &d.t0);
        if (!rc) rc = ne_rd_svarint(r, &d.t1);
        if (!rc) rc = rd_ids(r, &dead, &d.ndead);
        if (!rc) rc = rd_ids(r, &range, &d.nrange);
        d.dead = dead;
        d.range = range;
    }
    if (!rc) rc = eng_index_apply_del(ix, &d);
    ne_free(dead);
    ne_free(range);
    return rc;
}

/* ---- loading the log ------------------------------------------------------ */

static int rd_sv(struct ne_rd *r, struct ne_sv *out)
{
    uint64_t n;
    const uint8_t *p;
    int rc = ne_rd_uvarint(r, &n);
    if (!rc && n > UINT32_MAX) rc = NE_ECORRUPT;
    if (!rc) rc = ne_rd_bytes(r, (size_t)n, &p);
    if (!rc) *out = (struct ne_sv){(const char *)p, (uint32_t)n};
    return rc;
}

static int load_series(struct eng_index *ix, struct ne_rd *r)
{
    uint64_t id, db, ntags;
    struct ne_sv meas;
    int rc = ne_rd_uvarint(r, &id);
    if (!rc) rc = ne_rd_uvarint(r, &db);
    if (!rc) rc = rd_sv(r, &meas);
    if (!rc) rc = ne_rd_uvarint(r, &ntags);
    if (rc || db >= ix->ndbs || id == 0 || id <= ix->nseries || ntags > 65535) return NE_ECORRUPT;
    struct ne_tag tags[ntags ? ntags : 1];
    for (uint64_t i = 0; i < ntags; i++) {
        if (rd_sv(r, &tags[i].key) || rd_sv(r, &tags[i].val)) return NE_ECORRUPT;
    }
    uint64_t h = hash_series((uint32_t)db, meas, tags, (uint32_t)ntags);
    struct eng_series *s;
    return series_insert(ix, id, (uint32_t)db, meas, tags, (uint32_t)ntags, h, &s);
}

static int load_field(struct eng_index *ix, struct ne_rd *r)
{
    uint64_t id, slot;
    uint8_t type;
    struct ne_sv name;
    if (ne_rd_uvarint(r, &id) || ne_rd_uvarint(r, &slot) || ne_rd_u8(r, &type) || rd_sv(r, &name))
        return NE_ECORRUPT;
    struct eng_series *s = eng_index_series_by_id(ix, id);
    if (!s || slot != s->nfields || type < NE_V_FLOAT || type > NE_V_STRING) return NE_ECORRUPT;
    int rc = field_insert(s, name, type);
    return rc < 0 ? rc : 0;
}

static int load_record(struct eng_index *ix, const uint8_t *p, size_t n)
{
    struct ne_rd r;
    uint8_t kind;
    ne_rd_init(&r, p, n);
    if (ne_rd_u8(&r, &kind)) return NE_ECORRUPT;
    if (kind == SL_DB) {
        uint64_t i;
        struct ne_sv name;
        uint32_t got;
        if (ne_rd_uvarint(&r, &i) || rd_sv(&r, &name) || i > ix->ndbs) return NE_ECORRUPT;
        if (i == ix->ndbs) return db_add(ix, name, &got);
        if (!db_named(&ix->dbs[i], name)) return NE_ECORRUPT;
        ix->dbs[i].dropped = false; /* revived */
        return 0;
    }
    if (kind == SL_SERIES) return load_series(ix, &r);
    if (kind == SL_FIELD) return load_field(ix, &r);
    if (kind == SL_DELETE) return load_delete(ix, &r);
    return NE_ECORRUPT;
}

static int write_header(struct ne_file *f)
{
    uint8_t h[SL_HDR] = {0};
    ne_store_u32le(h, SL_MAGIC);
    h[4] = SL_VERSION;
    ne_store_u32le(h + 12, ne_crc32c(0, h, 12));
    int rc = ne_file_append(f, h, sizeof h);
    return rc ? rc : ne_file_datasync(f);
}

static int check_header(const uint8_t *h, size_t n)
{
    if (n < SL_HDR || ne_load_u32le(h) != SL_MAGIC || ne_load_u32le(h + 12) != ne_crc32c(0, h, 12))
        return NE_ECORRUPT;
    if ((h[4] | h[5] << 8) != SL_VERSION) return NE_EVERSION;
    return 0;
}

static int load_log(struct eng_index *ix)
{
    char *data = NULL;
    size_t len = 0;
    int rc = ne_fs_read_all(ix->path, &data, &len);
    if (rc) return rc;
    const uint8_t *p = (const uint8_t *)data;
    /* A bad header on a file holding nothing else is a creation cut short
     * by a power loss (write_header syncs before any record is appended),
     * not corruption: start over as for a short header. */
    if (len < SL_HDR || (len == SL_HDR && check_header(p, len) == NE_ECORRUPT)) {
        /* created but its header never made it: start over */
        ne_free(data);
        return ne_file_truncate(ix->log, 0) ?: write_header(ix->log);
    }
    if ((rc = check_header(p, len))) {
        ne_log(NE_LOG_ERROR, ENG_MOD, "series log has a bad header", "path", ix->path, "err",
               ne_strerror(rc), NULL);
        ne_free(data);
        return rc;
    }
    size_t off = SL_HDR;
    while (off + ENG_REC_HDR <= len) {
        uint32_t n = ne_load_u32le(p + off), crc = ne_load_u32le(p + off + 4);
        if (n > ENG_REC_MAX || n > len - off - ENG_REC_HDR ||
            ne_crc32c(0, p + off + ENG_REC_HDR, n) != crc)
            break;
        if ((rc = load_record(ix, p + off + ENG_REC_HDR, n))) {
            ne_log(NE_LOG_ERROR, ENG_MOD, "series log record is invalid", "path", ix->path, "err",
                   ne_strerror(rc), NULL);
            break;
        }
        off += ENG_REC_HDR + n;
    }
    ne_free(data);
    if (off < len) {
        char o[32];
        snprintf(o, sizeof o, "%zu", off);
        ne_log(NE_LOG_WARN, ENG_MOD, "series log tail cut", "path", ix->path, "offset", o, NULL);
        rc = ne_file_truncate(ix->log, off);
    }
    return rc == NE_ECORRUPT ? 0 : rc;
}

int eng_index_open(const char *dir, uint64_t max_per_db, uint64_t max_per_meas,
                   struct eng_index **out)
{
    static _Atomic uint64_t last_uid;
    struct eng_index *ix = ne_calloc(1, sizeof *ix);
    if (!ix) return NE_ENOMEM;
    ix->uid = atomic_fetch_add(&last_uid, 1) + 1;
    size_t n = strlen(dir) + sizeof "/series.log";
    int rc = NE_ENOMEM;
    ix->path = ne_malloc(n);
    if (!ix->path) goto fail;
    snprintf(ix->path, n, "%s/series.log", dir);
    ix->max_per_db = max_per_db;
    ix->max_per_meas = max_per_meas;
    bool existed = ne_fs_exists(ix->path);
    if ((rc = ne_file_open(ix->path, NE_F_WRITE | NE_F_CREATE, &ix->log))) goto fail;
    rc = existed ? load_log(ix) : write_header(ix->log);
    if (!rc && !existed) rc = ne_fs_sync_dir(dir);
    if (rc) goto fail;
    *out = ix;
    return 0;
fail:
    ne_log(NE_LOG_ERROR, ENG_MOD, "cannot open the series index", "dir", dir, "err",
           ne_strerror(rc), NULL);
    eng_index_close(&ix);
    return rc;
}

void eng_index_close(struct eng_index **ip)
{
    struct eng_index *ix = *ip;
    if (!ix) return;
    if (ix->log && ix->pending.len) (void)eng_index_sync(ix);
    ne_file_close(&ix->log);
    for (uint64_t i = 0; i < ix->nseries; i++)
        if (ix->by_id[i]) series_destroy(ix->by_id[i]);
    for (uint32_t i = 0; i < ix->nmeas; i++) {
        for (uint32_t k = 0; k < ix->meas[i]->ntkeys; k++) {
            ne_free(ix->meas[i]->tkeys[k].vals);
            ne_free(ix->meas[i]->tkeys[k].order);
        }
        ne_free(ix->meas[i]->tkeys);
        ne_free(ix->meas[i]->series);
        ne_free(ix->meas[i]->name);
        ne_free(ix->meas[i]);
    }
    for (uint64_t i = 0; i < ix->post_cap; i++)
        ne_free(ix->post[i].series);
    for (uint32_t i = 0; i < ix->ndbs; i++)
        ne_free(ix->dbs[i].name);
    for (size_t i = 0; i < ix->ntombs; i++)
        eng_tomb_unref(ix->tombs[i]);
    ne_free(ix->tombs);
    ne_free(ix->post);
    ne_free(ix->meas);
    ne_free(ix->meas_tab);
    ne_free(ix->dbs);
    ne_free(ix->by_id);
    ne_free(ix->tab);
    ne_buf_free(&ix->pending);
    ne_free(ix->path);
    ne_free(ix);
    *ip = NULL;
}

/* ---- accessors -------------------------------------------------------------- */

uint32_t eng_index_ndbs(const struct eng_index *ix)
{
    return ix->ndbs;
}

const struct eng_db *eng_index_db_at(const struct eng_index *ix, uint32_t i)
{
    return i < ix->ndbs ? &ix->dbs[i] : NULL;
}

int eng_index_db_find(const struct eng_index *ix, const char *name, uint32_t *out)
{
    for (uint32_t i = 0; i < ix->ndbs; i++)
        if (!ix->dbs[i].dropped && strcmp(ix->dbs[i].name, name) == 0) {
            *out = i;
            return 0;
        }
    return NE_ENOTFOUND;
}

uint32_t eng_index_nmeas(const struct eng_index *ix)
{
    return ix->nmeas;
}

const struct eng_meas *eng_index_meas_at(const struct eng_index *ix, uint32_t i)
{
    return i < ix->nmeas ? ix->meas[i] : NULL;
}

int eng_index_meas_find(const struct eng_index *ix, uint32_t db, const char *name,
                        const struct eng_meas **out)
{
    uint32_t n = (uint32_t)strlen(name), slot;
    if (meas_lookup(ix, db, name, n, hash_meas(db, name, n), &slot)) return NE_ENOTFOUND;
    *out = ix->meas[slot];
    return 0;
}

uint64_t eng_index_nseries(const struct eng_index *ix)
{
    return ix->nseries;
}

uint64_t eng_index_nlive(const struct eng_index *ix)
{
    return ix->nlive;
}

uint64_t eng_index_ndead(const struct eng_index *ix)
{
    return ix->ndead;
}

size_t eng_index_ntombs(const struct eng_index *ix)
{
    return ix->ntombs;
}

struct eng_tomb *eng_index_tomb_at(const struct eng_index *ix, size_t i)
{
    return i < ix->ntombs ? ix->tombs[i] : NULL;
}

void eng_index_retire_tomb(struct eng_index *ix, size_t i)
{
    if (i >= ix->ntombs) return;
    eng_tomb_unref(ix->tombs[i]);
    memmove(&ix->tombs[i], &ix->tombs[i + 1], (ix->ntombs - i - 1) * sizeof *ix->tombs);
    ix->ntombs--;
}

void eng_index_del_marks(const struct eng_index *ix, uint64_t *max_seq, uint64_t *max_seg_limit)
{
    *max_seq = ix->max_del_seq;
    *max_seg_limit = ix->max_seg_limit;
}

struct eng_series *eng_index_series_by_id(const struct eng_index *ix, uint64_t id)
{
    return id >= 1 && id <= ix->nseries ? ix->by_id[id - 1] : NULL;
}

struct eng_series *const *eng_index_postings(const struct eng_index *ix, const struct eng_meas *m,
                                             struct ne_sv key, struct ne_sv val, uint64_t *n)
{
    *n = 0;
    if (!m->nseries) return NULL;
    uint32_t mi = m->series[0]->meas;
    struct posting *p = post_find(ix, mi, key, val, hash_post(mi, key, val));
    if (!p || !p->series) return NULL;
    *n = p->n;
    return p->series;
}
