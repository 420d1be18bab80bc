/*
 * tomb.c - cluster-wide deletions as tombstones: the codec, matching a
 * versioned point against them, applying one to the store, and the
 * durable set (formats in tomb.h).
 *
 * Invariants of the set: e[] holds distinct tombstones (by encoding),
 * each one allocation from ne_tomb_decode with its encoding beside it;
 * the file holds every tombstone whose learning finished (a tombstone
 * starts filtering before it is applied, and reaches the file only
 * after). A point that passed the filter reaches the store before any
 * tombstone learned later is applied: the filter's read lock is held
 * until the caller has written what it kept (ne_tombs_kept_free), and
 * learning takes the write lock to put a tombstone in.
 */
#include "sharding/tomb.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "ports/crc32c.h"
#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sharding/hlc.h"
#include "sharding/ring.h"
#include "sharding/wire.h"

#define MOD         "cluster"
#define FILE_MAGIC  0x5354454Eu /* "NETS" */
#define FILE_FORMAT 1u
#define NAME_MAX_   255u

/* ---- codec ------------------------------------------------------------------ */

static bool name_ok(const char *s, bool may_be_empty)
{
    size_t n = s ? strlen(s) : 0;
    return n <= NAME_MAX_ && (n > 0 || may_be_empty);
}

static bool series_ascending(const uint64_t *v, uint32_t n)
{
    for (uint32_t i = 1; i < n; i++)
        if (v[i - 1] >= v[i]) return false;
    return true;
}

/* The rules of tomb.h on a decoded or to-be-encoded tombstone. */
static bool tomb_valid(const struct ne_tomb *t)
{
    if (!name_ok(t->db, false)) return false;
    switch (t->kind) {
    case NE_TOMB_DATABASE:
        return (!t->meas || !t->meas[0]) && t->nseries == 0;
    case NE_TOMB_MEASUREMENT:
        return name_ok(t->meas, false) && t->nseries == 0;
    case NE_TOMB_POINTS:
        return (!t->meas || !t->meas[0]) && t->t0 <= t->t1 && t->nseries > 0 &&
               t->nseries <= NE_TOMB_SERIES_MAX && series_ascending(t->series, t->nseries);
    default:
        return false;
    }
}

static int put_name(struct ne_pbuf *o, const char *s)
{
    size_t n = s ? strlen(s) : 0;
    int rc = ne_wire_put_u16(o, (uint16_t)n);
    return rc == 0 && n ? ne_wire_put(o, s, n) : rc;
}

int ne_tomb_encode(const struct ne_tomb *t, struct ne_pbuf *out)
{
    if (!tomb_valid(t)) return NE_EINVAL;
    bool pts = t->kind == NE_TOMB_POINTS;
    int rc = ne_wire_put_u8(out, t->kind);
    if (rc == 0) rc = ne_wire_put_u64(out, t->version);
    if (rc == 0) rc = put_name(out, t->db);
    if (rc == 0) rc = put_name(out, t->kind == NE_TOMB_MEASUREMENT ? t->meas : NULL);
    if (rc == 0) rc = ne_wire_put_u64(out, (uint64_t)(pts ? t->t0 : INT64_MIN));
    if (rc == 0) rc = ne_wire_put_u64(out, (uint64_t)(pts ? t->t1 : INT64_MAX));
    if (rc == 0) rc = ne_wire_put_u32(out, pts ? t->nseries : 0);
    for (uint32_t i = 0; rc == 0 && pts && i < t->nseries; i++)
        rc = ne_wire_put_u64(out, t->series[i]);
    return rc;
}

int ne_tomb_decode(const uint8_t *p, size_t n, struct ne_tomb **out)
{
    struct ne_wire_rd r = {.p = p, .n = n};
    uint8_t kind = ne_wire_u8(&r);
    uint64_t version = ne_wire_u64(&r);
    uint16_t dl = ne_wire_u16(&r);
    const uint8_t *db = ne_wire_take(&r, dl);
    uint16_t ml = ne_wire_u16(&r);
    const uint8_t *meas = ne_wire_take(&r, ml);
    int64_t t0 = (int64_t)ne_wire_u64(&r), t1 = (int64_t)ne_wire_u64(&r);
    uint32_t ns = ne_wire_u32(&r);
    if (r.bad || ns > NE_TOMB_SERIES_MAX || (size_t)ns * 8 != r.n - r.off) return NE_ECORRUPT;
    if (memchr(db, 0, dl) || (ml && memchr(meas, 0, ml))) return NE_ECORRUPT;
    /* one block: the struct, the series (8-aligned after it), then names */
    size_t head = (sizeof(struct ne_tomb) + 7) & ~(size_t)7;
    uint8_t *m = ne_malloc(head + (size_t)ns * 8 + dl + 1 + ml + 1);
    if (!m) return NE_ENOMEM;
    struct ne_tomb *t = (struct ne_tomb *)m;
    uint64_t *series = (uint64_t *)(m + head);
    char *dbs = (char *)(series + ns), *ms = dbs + dl + 1;
    for (uint32_t i = 0; i < ns; i++)
        series[i] = ne_wire_u64(&r);
    memcpy(dbs, db, dl);
    dbs[dl] = '\0';
    if (ml) memcpy(ms, meas, ml);
    ms[ml] = '\0';
    *t = (struct ne_tomb){.kind = kind,
                          .version = version,
                          .db = dbs,
                          .meas = ml ? ms : NULL,
                          .t0 = t0,
                          .t1 = t1,
                          .series = series,
                          .nseries = ns};
    bool all_time = t0 == INT64_MIN && t1 == INT64_MAX;
    if (!tomb_valid(t) || (kind != NE_TOMB_POINTS && !all_time)) {
        ne_free(m);
        return NE_ECORRUPT;
    }
    *out = t;
    return 0;
}

static bool series_listed(const struct ne_tomb *t, uint64_t h)
{
    size_t lo = 0, hi = t->nseries;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->series[mid] == h) return true;
        if (t->series[mid] < h)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static bool sv_is(struct ne_sv a, const char *s)
{
    return strlen(s) == a.n && memcmp(a.p, s, a.n) == 0;
}

bool ne_tomb_covers(const struct ne_tomb *t, const char *db, struct ne_sv meas, uint64_t series,
                    int64_t ts, uint64_t ver)
{
    if (ver >= t->version || strcmp(t->db, db) != 0) return false;
    switch (t->kind) {
    case NE_TOMB_DATABASE:
        return true;
    case NE_TOMB_MEASUREMENT:
        return sv_is(meas, t->meas);
    default:
        return ts >= t->t0 && ts <= t->t1 && series_listed(t, series);
    }
}

/* ---- applying one to the store ------------------------------------------------ */

static bool pick_series(void *ctx, const struct ne_series_info *s)
{
    const struct ne_tomb *t = ctx;
    struct ne_sv m = {s->measurement, (uint32_t)strlen(s->measurement)};
    return series_listed(t, ne_ring_series_hash(m, s->tags, s->ntags));
}

int ne_tomb_apply(struct ne_store *s, const struct ne_tomb *t)
{
    int rc;
    if (t->kind == NE_TOMB_DATABASE) {
        rc = ne_store_drop_database(s, t->db);
    } else if (t->kind == NE_TOMB_MEASUREMENT) {
        rc = ne_store_drop_measurement(s, t->db, t->meas);
    } else {
        struct ne_store_delete_req r = {
            .db = t->db, .filter = pick_series, .filter_ctx = (void *)t, .t0 = t->t0, .t1 = t->t1};
        rc = ne_store_delete(s, &r);
    }
    return rc == NE_ENOTFOUND ? 0 : rc;
}

/* ---- the set ------------------------------------------------------------------ */

struct entry {
    struct ne_tomb *t;  /* from ne_tomb_decode */
    struct ne_pbuf enc; /* its encoding: identity and what is saved */
};

struct ne_tombs {
    char *path;
    int64_t ttl_ns;
    pthread_rwlock_t lock;    /* e[], n */
    pthread_mutex_t learn_mu; /* one learning at a time */
    struct entry *e;
    size_t n, cap;
    atomic_size_t count;
    atomic_uint_fast64_t dropped; /* points filtered out since open */
    /* every series NE_TOMB_POINTS tombstones name, as an open-addressing
     * set (0 marks a free slot; has_zero for the hash 0), so that a point
     * of a series no tombstone names costs one probe; rebuilt with e[].
     * NULL (no memory): every point is checked against every tombstone */
    uint64_t *idx;
    size_t idx_mask;
    bool has_zero;
};

static void index_put(uint64_t *idx, size_t mask, uint64_t h)
{
    size_t i = (size_t)h & mask;
    while (idx[i] && idx[i] != h)
        i = (i + 1) & mask;
    idx[i] = h;
}

/* Rebuilds the series index after e[] changed (write lock held). */
static void index_rebuild_locked(struct ne_tombs *t)
{
    size_t total = 0;
    for (size_t i = 0; i < t->n; i++)
        total += t->e[i].t->nseries;
    size_t cap = 16;
    while (cap < 2 * total)
        cap *= 2;
    ne_free(t->idx);
    t->idx = ne_calloc(cap, sizeof *t->idx);
    t->idx_mask = cap - 1;
    t->has_zero = false;
    for (size_t i = 0; t->idx && i < t->n; i++)
        for (uint32_t j = 0; j < t->e[i].t->nseries; j++) {
            uint64_t h = t->e[i].t->series[j];
            if (h == 0)
                t->has_zero = true;
            else
                index_put(t->idx, t->idx_mask, h);
        }
}

/* Whether some NE_TOMB_POINTS tombstone may name series h. */
static bool index_has(const struct ne_tombs *t, uint64_t h)
{
    if (!t->idx) return true;
    if (h == 0) return t->has_zero;
    for (size_t i = (size_t)h & t->idx_mask; t->idx[i]; i = (i + 1) & t->idx_mask)
        if (t->idx[i] == h) return true;
    return false;
}

static bool expired(const struct ne_tombs *t, uint64_t version, int64_t now_ns)
{
    if (t->ttl_ns <= 0) return false;
    int64_t ms = (int64_t)ne_hlc_ms(ne_lww_version_hlc(version));
    return ms < (now_ns - t->ttl_ns) / 1000000;
}

static void entry_free(struct entry *e)
{
    ne_free(e->t);
    ne_pbuf_free(&e->enc);
}

static ssize_t find_locked(const struct ne_tombs *t, const uint8_t *enc, size_t n)
{
    for (size_t i = 0; i < t->n; i++)
        if (t->e[i].enc.len == n && memcmp(t->e[i].enc.p, enc, n) == 0) return (ssize_t)i;
    return -1;
}

/* Adds the tombstone encoded in enc[0..n) (decoded as tb). Takes tb. */
static int add_locked(struct ne_tombs *t, struct ne_tomb *tb, const uint8_t *enc, size_t n)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        struct entry *e = ne_realloc(t->e, cap * sizeof *e);
        if (!e) return NE_ENOMEM;
        t->e = e;
        t->cap = cap;
    }
    struct entry *e = &t->e[t->n];
    memset(e, 0, sizeof *e);
    if (ne_pbuf_reserve(&e->enc, n) != 0) return NE_ENOMEM;
    memcpy(e->enc.p, enc, n);
    e->enc.len = n;
    e->t = tb;
    t->n++;
    atomic_store(&t->count, t->n);
    return 0;
}

static void remove_at_locked(struct ne_tombs *t, size_t i)
{
    entry_free(&t->e[i]);
    t->e[i] = t->e[--t->n];
    atomic_store(&t->count, t->n);
}

static int save_locked(struct ne_tombs *t)
{
    struct ne_pbuf b = {0};
    int rc = ne_wire_put_u32(&b, FILE_MAGIC);
    if (rc == 0) rc = ne_wire_put_u32(&b, FILE_FORMAT);
    if (rc == 0) rc = ne_wire_put_u32(&b, (uint32_t)t->n);
    for (size_t i = 0; rc == 0 && i < t->n; i++) {
        const struct ne_pbuf *e = &t->e[i].enc;
        rc = ne_wire_put_u32(&b, (uint32_t)e->len);
        if (rc == 0) rc = ne_wire_put_u32(&b, ne_crc32c(0, e->p, e->len));
        if (rc == 0) rc = ne_wire_put(&b, e->p, e->len);
    }
    if (rc == 0) rc = ne_fs_write_atomic(t->path, b.p, b.len);
    if (rc != 0)
        ne_log(NE_LOG_ERROR, MOD, "cannot save the tombstones", "path", t->path, "err",
               ne_strerror(rc), NULL);
    ne_pbuf_free(&b);
    return rc;
}

static int load(struct ne_tombs *t, int64_t now_ns)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = ne_fs_read_all(t->path, &buf, &len);
    if (rc == NE_ENOTFOUND) return 0;
    if (rc != 0) return rc;
    struct ne_wire_rd r = {.p = (const uint8_t *)buf, .n = len};
    uint32_t magic = ne_wire_u32(&r), format = ne_wire_u32(&r), count = ne_wire_u32(&r);
    if (r.bad || magic != FILE_MAGIC)
        rc = NE_ECORRUPT;
    else if (format != FILE_FORMAT)
        rc = NE_EVERSION;
    for (uint32_t i = 0; rc == 0 && i < count; i++) {
        uint32_t n = ne_wire_u32(&r), crc = ne_wire_u32(&r);
        const uint8_t *p = ne_wire_take(&r, n);
        struct ne_tomb *tb = NULL;
        if (!p || ne_crc32c(0, p, n) != crc)
            rc = NE_ECORRUPT;
        else
            rc = ne_tomb_decode(p, n, &tb);
        if (rc == 0 && (expired(t, tb->version, now_ns) || find_locked(t, p, n) >= 0))
            ne_free(tb);
        else if (rc == 0 && (rc = add_locked(t, tb, p, n)) != 0)
            ne_free(tb);
    }
    if (rc == 0 && r.off != r.n) rc = NE_ECORRUPT;
    if (rc == 0) index_rebuild_locked(t);
    if (rc != 0)
        ne_log(NE_LOG_ERROR, MOD, "the tombstone file is unreadable", "path", t->path, "err",
               ne_strerror(rc), NULL);
    ne_free(buf);
    return rc;
}

void ne_tombs_close(struct ne_tombs **pt)
{
    struct ne_tombs *t = pt ? *pt : NULL;
    if (!t) return;
    for (size_t i = 0; i < t->n; i++)
        entry_free(&t->e[i]);
    ne_free(t->e);
    ne_free(t->idx);
    ne_free(t->path);
    pthread_rwlock_destroy(&t->lock);
    pthread_mutex_destroy(&t->learn_mu);
    ne_free(t);
    *pt = NULL;
}

int ne_tombs_open(const char *path, int64_t ttl_ns, int64_t now_ns, struct ne_tombs **out)
{
    if (!path || !path[0] || ttl_ns < 0) return NE_EINVAL;
    struct ne_tombs *t = ne_calloc(1, sizeof *t);
    if (!t) return NE_ENOMEM;
    /* writers first: learning a tombstone must not starve behind the
     * read locks that the write path keeps (ne_tombs_filter) */
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&t->lock, &ra);
    pthread_rwlockattr_destroy(&ra);
    pthread_mutex_init(&t->learn_mu, NULL);
    t->ttl_ns = ttl_ns;
    size_t pl = strlen(path);
    t->path = ne_malloc(pl + 1);
    int rc = t->path ? 0 : NE_ENOMEM;
    if (rc == 0) {
        memcpy(t->path, path, pl + 1);
        rc = load(t, now_ns);
    }
    if (rc != 0) {
        ne_tombs_close(&t);
        return rc;
    }
    *out = t;
    return 0;
}

size_t ne_tombs_count(struct ne_tombs *t)
{
    return atomic_load(&t->count);
}

uint64_t ne_tombs_dropped(struct ne_tombs *t)
{
    return atomic_load(&t->dropped);
}

uint64_t ne_tombs_digest(struct ne_tombs *t)
{
    uint64_t d = 0;
    pthread_rwlock_rdlock(&t->lock);
    for (size_t i = 0; i < t->n; i++)
        d += ne_ring_hash(t->e[i].enc.p, t->e[i].enc.len);
    pthread_rwlock_unlock(&t->lock);
    return d;
}

/* Puts tb in the set if new and not expired: 1 added (filtering from now
 * on), 0 not, or an error. */
static int insert(struct ne_tombs *t, const struct ne_tomb *tb, int64_t now_ns, struct ne_pbuf *enc)
{
    enc->len = 0;
    int rc = ne_tomb_encode(tb, enc);
    if (rc != 0) return rc;
    if (expired(t, tb->version, now_ns)) return 0;
    struct ne_tomb *own = NULL;
    if ((rc = ne_tomb_decode(enc->p, enc->len, &own)) != 0) return rc;
    pthread_rwlock_wrlock(&t->lock);
    rc = find_locked(t, enc->p, enc->len) >= 0 ? 0 : add_locked(t, own, enc->p, enc->len);
    bool added = rc == 0 && t->n && t->e[t->n - 1].t == own;
    if (added) index_rebuild_locked(t);
    pthread_rwlock_unlock(&t->lock);
    if (!added) ne_free(own);
    return rc != 0 ? rc : added;
}

static void forget(struct ne_tombs *t, const struct ne_pbuf *enc)
{
    pthread_rwlock_wrlock(&t->lock);
    ssize_t i = find_locked(t, enc->p, enc->len);
    if (i >= 0) remove_at_locked(t, (size_t)i);
    index_rebuild_locked(t);
    pthread_rwlock_unlock(&t->lock);
}

int ne_tombs_learn(struct ne_tombs *t, struct ne_store *s, const struct ne_tomb *tb, int64_t now_ns)
{
    struct ne_pbuf enc = {0};
    pthread_mutex_lock(&t->learn_mu);
    int rc = insert(t, tb, now_ns, &enc);
    if (rc == 1) {
        int e = ne_tomb_apply(s, tb);
        if (e == 0) {
            pthread_rwlock_rdlock(&t->lock);
            e = save_locked(t);
            pthread_rwlock_unlock(&t->lock);
        }
        if (e != 0) {
            forget(t, &enc);
            rc = e;
        }
    }
    pthread_mutex_unlock(&t->learn_mu);
    ne_pbuf_free(&enc);
    return rc;
}

int ne_tombs_expire(struct ne_tombs *t, int64_t now_ns)
{
    pthread_mutex_lock(&t->learn_mu);
    pthread_rwlock_wrlock(&t->lock);
    int gone = 0;
    for (size_t i = t->n; i-- > 0;)
        if (expired(t, t->e[i].t->version, now_ns)) {
            remove_at_locked(t, i);
            gone++;
        }
    if (gone) index_rebuild_locked(t);
    int rc = gone ? save_locked(t) : 0;
    pthread_rwlock_unlock(&t->lock);
    pthread_mutex_unlock(&t->learn_mu);
    return rc != 0 ? rc : gone;
}

static int by_version_desc(const void *a, const void *b)
{
    uint64_t x = (*(const struct entry *const *)a)->t->version;
    uint64_t y = (*(const struct entry *const *)b)->t->version;
    return (x < y) - (x > y);
}

int ne_tombs_encode(struct ne_tombs *t, struct ne_pbuf *out)
{
    pthread_rwlock_rdlock(&t->lock);
    const struct entry **order = t->n ? ne_malloc(t->n * sizeof *order) : NULL;
    int rc = t->n && !order ? NE_ENOMEM : 0;
    size_t at = out->len, used = 4;
    uint32_t k = 0;
    if (rc == 0) rc = ne_wire_put_u32(out, 0);
    for (size_t i = 0; rc == 0 && i < t->n; i++)
        order[i] = &t->e[i];
    if (rc == 0 && t->n) qsort(order, t->n, sizeof *order, by_version_desc);
    for (size_t i = 0; rc == 0 && i < t->n; i++) {
        const struct ne_pbuf *e = &order[i]->enc;
        if (used + 4 + e->len > NE_TOMB_LIST_MAX) continue;
        rc = ne_wire_put_u32(out, (uint32_t)e->len);
        if (rc == 0) rc = ne_wire_put(out, e->p, e->len);
        used += 4 + e->len;
        k++;
    }
    pthread_rwlock_unlock(&t->lock);
    if (rc == 0) ne_put_u32(out->p + at, k);
    ne_free(order);
    return rc;
}

int ne_tombs_merge(struct ne_tombs *t, struct ne_store *s, const uint8_t *p, size_t n,
                   int64_t now_ns, uint32_t *learned)
{
    struct ne_wire_rd r = {.p = p, .n = n};
    uint32_t count = ne_wire_u32(&r), got = 0;
    int rc = r.bad ? NE_ECORRUPT : 0;
    for (uint32_t i = 0; rc == 0 && i < count; i++) {
        uint32_t len = ne_wire_u32(&r);
        const uint8_t *q = ne_wire_take(&r, len);
        struct ne_tomb *tb = NULL;
        rc = q ? ne_tomb_decode(q, len, &tb) : NE_ECORRUPT;
        if (rc == 0) rc = ne_tombs_learn(t, s, tb, now_ns);
        if (rc == 1) got++;
        if (rc == 1) rc = 0;
        ne_free(tb);
    }
    if (rc == 0 && r.off != r.n) rc = NE_ECORRUPT;
    if (learned) *learned = got;
    return rc;
}

/* ---- filtering arrivals ----------------------------------------------------------- */

/* The tombstones of one batch worth checking: those of its database,
 * newer than its oldest point, whose range meets the batch's; the whole
 * ones (database, measurement) first, then the NE_TOMB_POINTS ones. */
struct cands {
    const struct ne_tomb **v;
    size_t n, nwhole;
};

/* Whether a candidate covers point p of b written with version v. The
 * series hash is computed only when NE_TOMB_POINTS candidates exist, and
 * they are looked at only when the index says one names the series. */
static bool covered(const struct ne_tombs *t, const struct cands *c, const char *db,
                    const struct ne_batch *b, const struct ne_point *p, uint64_t v)
{
    for (size_t i = 0; i < c->nwhole; i++)
        if (ne_tomb_covers(c->v[i], db, p->meas, 0, p->ts, v)) return true;
    if (c->nwhole == c->n) return false;
    uint64_t h = ne_ring_series_hash(p->meas, ne_point_tags(b, p), p->ntags);
    if (!index_has(t, h)) return false;
    for (size_t i = c->nwhole; i < c->n; i++)
        if (ne_tomb_covers(c->v[i], db, p->meas, h, p->ts, v)) return true;
    return false;
}

static bool cand_ok(const struct ne_tomb *tb, const char *db, uint64_t oldest, int64_t tmin,
                    int64_t tmax)
{
    return tb->version > oldest && tb->t0 <= tmax && tb->t1 >= tmin && strcmp(tb->db, db) == 0;
}

void ne_tombs_kept_free(struct ne_tombs_kept *k)
{
    if (k->locked) pthread_rwlock_unlock(&k->locked->lock);
    ne_free(k->own_pts);
    ne_free(k->own_ver);
    memset(k, 0, sizeof *k);
}

int ne_tombs_filter(struct ne_tombs *t, const char *db, const struct ne_batch *b,
                    const uint64_t *ver, struct ne_tombs_kept *k)
{
    memset(k, 0, sizeof *k);
    k->b = *b;
    k->ver = ver;
    if (!t || !ver) return 0;
    pthread_rwlock_rdlock(&t->lock); /* until ne_tombs_kept_free */
    k->locked = t;
    /* the candidates: tombstones of db newer than the oldest point whose
     * range meets the batch's */
    uint64_t oldest = UINT64_MAX;
    int64_t tmin = INT64_MAX, tmax = INT64_MIN;
    for (uint32_t j = 0; j < b->npts; j++) {
        if (ver[j] < oldest) oldest = ver[j];
        if (b->pts[j].ts < tmin) tmin = b->pts[j].ts;
        if (b->pts[j].ts > tmax) tmax = b->pts[j].ts;
    }
    const struct ne_tomb *few[32], **c = few;
    if (t->n > 32 && !(c = ne_malloc(t->n * sizeof *c))) {
        ne_tombs_kept_free(k);
        return NE_ENOMEM;
    }
    struct cands cs = {.v = c};
    for (int pass = 0; pass < 2; pass++) {
        for (size_t j = 0; j < t->n; j++) {
            const struct ne_tomb *tb = t->e[j].t;
            if ((tb->kind == NE_TOMB_POINTS) == (pass == 1) && cand_ok(tb, db, oldest, tmin, tmax))
                c[cs.n++] = tb;
        }
        if (pass == 0) cs.nwhole = cs.n;
    }
    uint32_t i = cs.n ? 0 : b->npts;
    while (i < b->npts && !covered(t, &cs, db, b, &b->pts[i], ver[i]))
        i++;
    int rc = 0;
    if (i < b->npts) { /* something goes: copy the rest that stays */
        k->own_pts = ne_malloc((size_t)b->npts * sizeof *k->own_pts);
        k->own_ver = ne_malloc((size_t)b->npts * sizeof *k->own_ver);
        rc = k->own_pts && k->own_ver ? 0 : NE_ENOMEM;
        uint32_t n = 0;
        for (uint32_t j = 0; rc == 0 && j < b->npts; j++) {
            if (j >= i && covered(t, &cs, db, b, &b->pts[j], ver[j])) continue;
            k->own_pts[n] = b->pts[j];
            k->own_ver[n++] = ver[j];
        }
        k->b.pts = k->own_pts;
        k->b.npts = n;
        k->ver = k->own_ver;
        k->dropped = b->npts - n;
        atomic_fetch_add(&t->dropped, k->dropped);
    }
    if (c != few) ne_free(c);
    if (rc != 0) ne_tombs_kept_free(k);
    return rc;
}
