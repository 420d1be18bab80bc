/*
 * memtable.c - columnar in-memory append buffers.
 *
 * One column per (series, field): a timestamp array and an array of 8-byte
 * value slots, appended in WAL sequence order. A column starts with room for
 * what it held in the previous memtable (eng_field.mt_hint, plus an eighth;
 * eng_mt_note_sizes keeps the hints within what the next memtable may
 * hold and, after a short memtable, at no less than half the hint before)
 * and then grows by half when full (doubling from 16 without a hint), so a
 * steady source costs one allocation per column per memtable and little
 * unused capacity; nothing is allocated per point. Column arrays are
 * carved from slabs (see below) that pass, through the store's pool, from
 * a flushed memtable to the next: a column's memory is mostly pages the
 * process already has, not pages the kernel must map and zero again
 * after every flush (on I1, with the smaller default budget this asked
 * for, a third fewer minor faults and 9% less CPU for the import,
 * bench/README.md). Strings are copied into
 * one arena per memtable and referenced by (offset << 32 | length).
 * m->bytes counts every byte held (capacities, not lengths), which is what
 * the memory budget is charged.
 *
 * Invariant: a column's values are in insertion order; eng_mt_col_finish
 * turns them into time order, keeping for equal timestamps the value
 * inserted last (last writer wins, deterministic by WAL order) - unless
 * the values carry versions (replicated writes): then store/lww.h decides
 * (the greatest version, equal versions by value). A column holds a version
 * array only from its first versioned value on (earlier ones count as 0),
 * so a store without versions pays one pointer test per append.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "ports/platform.h"
#include "store/engine/engine.h"
#include "store/lww.h"

/* ---- slabs and the pool ------------------------------------------------ */

/* A slab is one heap block (above the mmap threshold, so pages of its
 * own) that column arrays are carved from, 16-byte aligned, front to
 * back; nothing is freed from it before the memtable is. An array larger
 * than SLAB_MAX_ARRAY is a heap block of its own (eng_mcol.heap). */
#define SLAB_BYTES     (256u << 10)
#define SLAB_DATA      (SLAB_BYTES - 64)
#define SLAB_MAX_ARRAY (SLAB_DATA / 8)

struct eng_slab {
    struct eng_slab *next;
    size_t used;
    _Alignas(16) unsigned char data[SLAB_DATA];
};

struct eng_mt_pool {
    pthread_mutex_t mu;
    struct eng_slab *free;
    uint64_t nfree, max;   /* slabs kept, and at most */
    struct eng_mcol *cols; /* a column table to start with, or NULL */
    uint32_t cap_cols;
};

/* Under AddressSanitizer the unused part of a slab, and an array left
 * behind when its column grew, are poisoned: reading past a column's
 * capacity is caught as if each array were a block of its own. */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#define SLAB_POISON(p, n)   ASAN_POISON_MEMORY_REGION((p), (n))
#define SLAB_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define SLAB_POISON(p, n)   ((void)(p), (void)(n))
#define SLAB_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

int eng_mt_pool_new(uint64_t max_bytes, struct eng_mt_pool **out)
{
    struct eng_mt_pool *p = ne_calloc(1, sizeof *p);
    if (!p) return NE_ENOMEM;
    pthread_mutex_init(&p->mu, NULL);
    p->max = max_bytes / SLAB_BYTES;
    *out = p;
    return 0;
}

static void slabs_free(struct eng_slab *sl)
{
    while (sl) {
        struct eng_slab *next = sl->next;
        SLAB_UNPOISON(sl->data, SLAB_DATA);
        ne_free(sl);
        sl = next;
    }
}

/* Frees what the pool keeps (it stays usable). */
void eng_mt_pool_trim(struct eng_mt_pool *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    struct eng_slab *sl = p->free;
    struct eng_mcol *cols = p->cols;
    p->free = NULL;
    p->nfree = 0;
    p->cols = NULL;
    p->cap_cols = 0;
    pthread_mutex_unlock(&p->mu);
    slabs_free(sl);
    ne_free(cols);
}

void eng_mt_pool_free(struct eng_mt_pool **pp)
{
    struct eng_mt_pool *p = *pp;
    if (!p) return;
    eng_mt_pool_trim(p);
    pthread_mutex_destroy(&p->mu);
    ne_free(p);
    *pp = NULL;
}

uint64_t eng_mt_pool_bytes(struct eng_mt_pool *p)
{
    if (!p) return 0;
    pthread_mutex_lock(&p->mu);
    uint64_t b = p->nfree * SLAB_BYTES + (uint64_t)p->cap_cols * sizeof(struct eng_mcol);
    pthread_mutex_unlock(&p->mu);
    return b;
}

/* A slab from the pool or the heap, empty; NULL without memory. */
static struct eng_slab *slab_take(struct eng_mt_pool *p)
{
    struct eng_slab *sl = NULL;
    if (p) {
        pthread_mutex_lock(&p->mu);
        if ((sl = p->free)) {
            p->free = sl->next;
            p->nfree--;
        }
        pthread_mutex_unlock(&p->mu);
    }
    if (!sl) {
        if (!(sl = ne_malloc(sizeof *sl))) return NULL;
        SLAB_POISON(sl->data, SLAB_DATA);
    }
    sl->used = 0;
    return sl;
}

/* Gives m's slabs and column table to its pool, keeping what it may. */
static void pool_give(struct eng_memtable *m)
{
    struct eng_mt_pool *p = m->pool;
    struct eng_slab *sl = m->slabs;
    struct eng_mcol *cols = m->cols;
    m->slabs = NULL;
    m->cols = NULL;
    if (p) {
        pthread_mutex_lock(&p->mu);
        while (sl && p->nfree < p->max) {
            struct eng_slab *next = sl->next;
            SLAB_POISON(sl->data, SLAB_DATA);
            sl->next = p->free;
            p->free = sl;
            p->nfree++;
            sl = next;
        }
        if (cols && m->cap_cols > p->cap_cols) {
            struct eng_mcol *old = p->cols;
            p->cols = cols;
            p->cap_cols = m->cap_cols;
            cols = old;
        }
        pthread_mutex_unlock(&p->mu);
    }
    slabs_free(sl); /* those the pool did not take */
    ne_free(cols);
}

/* bytes (rounded up to 16) carved from m's slabs; NULL without memory. */
static void *carve(struct eng_memtable *m, size_t bytes)
{
    bytes = (bytes + 15) & ~(size_t)15;
    struct eng_slab *sl = m->slabs;
    if (!sl || SLAB_DATA - sl->used < bytes) {
        if (!(sl = slab_take(m->pool))) return NULL;
        sl->next = m->slabs;
        m->slabs = sl;
    }
    void *q = sl->data + sl->used;
    sl->used += bytes;
    SLAB_UNPOISON(q, bytes);
    return q;
}

int eng_mt_new(uint64_t gen, struct eng_mt_pool *pool, struct eng_memtable **out)
{
    struct eng_memtable *m = ne_calloc(1, sizeof *m);
    if (!m) return NE_ENOMEM;
    m->gen = gen;
    m->pool = pool;
    m->bytes = sizeof *m;
    if (pool) {
        pthread_mutex_lock(&pool->mu);
        m->cols = pool->cols;
        m->cap_cols = pool->cap_cols;
        pool->cols = NULL;
        pool->cap_cols = 0;
        pthread_mutex_unlock(&pool->mu);
        m->bytes += (uint64_t)m->cap_cols * sizeof *m->cols;
    }
    *out = m;
    return 0;
}

void eng_mt_free(struct eng_memtable **mp)
{
    struct eng_memtable *m = *mp;
    if (!m) return;
    for (uint32_t i = 0; i < m->ncols; i++) {
        if (m->cols[i].heap) {
            ne_free(m->cols[i].ts);
            ne_free(m->cols[i].v);
        }
        ne_free(m->cols[i].ver);
    }
    pool_give(m);
    ne_free(m->strs);
    ne_free(m);
    *mp = NULL;
}

struct eng_mcol *eng_mt_find(const struct eng_memtable *m, const struct eng_series *s,
                             uint32_t slot)
{
    const struct eng_field *f = &s->fields[slot];
    unsigned g = m->gen & 1;
    if (f->mt_gen[g] == m->gen && f->mt_idx[g] < m->ncols) return &m->cols[f->mt_idx[g]];
    return NULL;
}

static inline int col_get(struct eng_memtable *m, struct eng_series *s, uint32_t slot,
                          struct eng_mcol **out)
{
    struct eng_field *f = &s->fields[slot];
    unsigned g = m->gen & 1;
    if (f->mt_gen[g] == m->gen && f->mt_idx[g] < m->ncols) {
        *out = &m->cols[f->mt_idx[g]];
        return 0;
    }
    if (m->ncols == m->cap_cols) {
        uint32_t nc = m->cap_cols ? m->cap_cols * 2 : 256;
        struct eng_mcol *c = ne_realloc(m->cols, nc * sizeof *c);
        if (!c) return NE_ENOMEM;
        m->bytes += (uint64_t)(nc - m->cap_cols) * sizeof *c;
        m->cols = c;
        m->cap_cols = nc;
    }
    struct eng_mcol *c = &m->cols[m->ncols];
    memset(c, 0, sizeof *c);
    c->s = s;
    c->slot = slot;
    c->type = f->type;
    c->sorted = true;
    c->min_ts = INT64_MAX;
    c->max_ts = INT64_MIN;
    f->mt_gen[g] = m->gen;
    f->mt_idx[g] = m->ncols++;
    *out = c;
    return 0;
}

#define COL_MIN_CAP 16u

/* First capacity of a column: what the hint asks for and a margin. */
static uint32_t col_first_cap(const struct eng_mcol *c)
{
    uint32_t h = c->s->fields[c->slot].mt_hint;
    if (h <= COL_MIN_CAP) return COL_MIN_CAP;
    return h > UINT32_MAX / 2 ? h : h + h / 8;
}

/* Moves column c's arrays to new ones of nc values: carved from the slabs
 * while they are small enough (the old ones stay there, poisoned, and
 * counted), else heap blocks of their own, grown in place from then on. */
static int col_move(struct eng_memtable *m, struct eng_mcol *c, uint32_t nc)
{
    size_t bytes = (size_t)nc * sizeof(int64_t);
    if (c->heap) {
        int64_t *ts = ne_realloc(c->ts, bytes);
        if (!ts) return NE_ENOMEM;
        c->ts = ts;
        union eng_val *v = ne_realloc(c->v, bytes);
        if (!v) return NE_ENOMEM; /* ts grew alone: harmless, cap stays */
        c->v = v;
        m->bytes += (uint64_t)(nc - c->cap) * 2 * sizeof(int64_t);
        return 0;
    }
    bool heap = bytes > SLAB_MAX_ARRAY;
    int64_t *ts = heap ? ne_malloc(bytes) : carve(m, bytes);
    union eng_val *v = !ts ? NULL : heap ? ne_malloc(bytes) : carve(m, bytes);
    if (!v) {
        if (heap) ne_free(ts);
        return NE_ENOMEM;
    }
    if (c->n) {
        memcpy(ts, c->ts, (size_t)c->n * sizeof *ts);
        memcpy(v, c->v, (size_t)c->n * sizeof *v);
    }
    if (c->cap) {
        SLAB_POISON(c->ts, (size_t)c->cap * sizeof *ts);
        SLAB_POISON(c->v, (size_t)c->cap * sizeof *v);
    }
    c->ts = ts;
    c->v = v;
    c->heap = heap;
    m->bytes += 2 * (uint64_t)bytes;
    return 0;
}

static int col_grow(struct eng_memtable *m, struct eng_mcol *c)
{
    if (c->cap > UINT32_MAX / 2) return NE_ETOOBIG;
    /* by half past a known size, doubling while the column has no history */
    uint32_t step = c->s->fields[c->slot].mt_hint ? c->cap / 2 : c->cap;
    uint32_t nc = c->cap ? c->cap + step : col_first_cap(c);
    int rc = col_move(m, c, nc);
    if (rc) return rc;
    if (c->ver) {
        uint64_t *ver = ne_realloc(c->ver, (size_t)nc * sizeof *ver);
        if (!ver) return NE_ENOMEM;
        c->ver = ver;
        m->bytes += (uint64_t)(nc - c->cap) * sizeof *ver;
    }
    c->cap = nc;
    return 0;
}

/* Gives column c its version array (the values so far get 0). */
static int ver_start(struct eng_memtable *m, struct eng_mcol *c)
{
    size_t cap = c->cap ? c->cap : 1;
    c->ver = ne_calloc(cap, sizeof *c->ver);
    if (!c->ver) return NE_ENOMEM;
    m->bytes += cap * sizeof *c->ver;
    return 0;
}

static int str_put(struct eng_memtable *m, struct ne_sv s, uint64_t *out)
{
    if (m->nstrs + s.n > m->cap_strs) {
        size_t nc = m->cap_strs ? m->cap_strs * 2 : 4096;
        while (nc < m->nstrs + s.n)
            nc *= 2;
        if (nc > UINT32_MAX) return NE_ETOOBIG;
        char *p = ne_realloc(m->strs, nc);
        if (!p) return NE_ENOMEM;
        m->bytes += nc - m->cap_strs;
        m->strs = p;
        m->cap_strs = nc;
    }
    if (s.n) memcpy(m->strs + m->nstrs, s.p, s.n);
    *out = ((uint64_t)m->nstrs << 32) | s.n;
    m->nstrs += s.n;
    return 0;
}

/* Appends v (of the column's type) to column c at ts. */
static inline int col_append(struct eng_memtable *m, struct eng_mcol *c, int64_t ts,
                             const union ne_value *v)
{
    int rc;
    if (c->n == c->cap && (rc = col_grow(m, c))) return rc;
    union eng_val ev;
    if (c->type == NE_V_STRING) {
        if ((rc = str_put(m, v->s, &ev.u))) return rc;
    } else if (c->type == NE_V_BOOL) {
        ev.u = v->b ? 1 : 0;
    } else {
        ev.u = v->u; /* float, int64 and uint64 share their 8 bytes */
    }
    /* while sorted, the last timestamp is the largest: compared with
     * max_ts, beside n, rather than read from the array, whose last line
     * has mostly left the cache since this column's last append */
    if (c->n && ts <= c->max_ts)
        c->sorted = false; /* equal timestamps need the LWW pass too */
    c->ts[c->n] = ts;
    c->v[c->n] = ev;
    if (c->ver) c->ver[c->n] = 0; /* eng_mt_append_v sets it after */
    c->n++;
    if (ts < c->min_ts) c->min_ts = ts;
    if (ts > c->max_ts) c->max_ts = ts;
    m->values++;
    return 0;
}

int eng_mt_append(struct eng_memtable *m, struct eng_series *s, uint32_t slot, int64_t ts,
                  const union ne_value *v)
{
    struct eng_mcol *c;
    int rc = col_get(m, s, slot, &c);
    return rc ? rc : col_append(m, c, ts, v);
}

int eng_mt_append_row(struct eng_memtable *m, struct eng_series *s, const int *slots,
                      const struct ne_field *f, uint32_t n, int64_t ts)
{
    for (uint32_t i = 0; i < n; i++) {
        struct eng_mcol *c;
        int rc = col_get(m, s, (uint32_t)slots[i], &c);
        if (!rc) rc = col_append(m, c, ts, &f[i].v);
        if (rc) return rc;
    }
    return 0;
}

/* The unversioned append stays the hot path of a single node (col_get is
 * inlined there alone); a versioned one appends, then sets the version,
 * giving the column its version array first (taking the value back if
 * that fails: the timestamp span may stay wider, which is harmless). */
int eng_mt_append_v(struct eng_memtable *m, struct eng_series *s, uint32_t slot, int64_t ts,
                    const union ne_value *v, uint64_t ver)
{
    int rc = eng_mt_append(m, s, slot, ts, v);
    if (rc || !ver) return rc;
    struct eng_mcol *c = eng_mt_find(m, s, slot);
    if (!c->ver && (rc = ver_start(m, c))) {
        c->n--;
        m->values--;
        return rc;
    }
    c->ver[c->n - 1] = ver;
    return 0;
}

/* The next hint of column c: its count, or half the hint before when
 * that is more (a short memtable halves the hint at most). */
static uint32_t next_hint(const struct eng_mcol *c)
{
    uint32_t h = c->s->fields[c->slot].mt_hint;
    return c->n >= h / 2 ? c->n : h / 2;
}

void eng_mt_note_sizes(const struct eng_memtable *m, uint64_t room)
{
    /* what the hints would reserve (an eighth added, 16 bytes a value),
     * scaled down when more than room leaves beside the column table and
     * string arena (about as large in the next memtable) */
    uint64_t fixed = (uint64_t)m->cap_cols * sizeof *m->cols + m->cap_strs;
    room = room > fixed ? room - fixed : 0;
    uint64_t want = 0;
    for (uint32_t i = 0; i < m->ncols; i++) {
        uint64_t h = next_hint(&m->cols[i]);
        want += h + h / 8;
    }
    want *= sizeof(int64_t) + sizeof(union eng_val);
    double scale = want > room ? (double)room / (double)want : 1.0;
    for (uint32_t i = 0; i < m->ncols; i++) {
        const struct eng_mcol *c = &m->cols[i];
        uint32_t h = next_hint(c);
        c->s->fields[c->slot].mt_hint = scale < 1.0 ? (uint32_t)((double)h * scale) : h;
    }
}

/* Bottom-up merge sort of (ts, v) by ts, stable. */
static void merge_sort(int64_t *ts, union eng_val *v, size_t n, int64_t *tts, union eng_val *tv)
{
    int64_t *sa = ts, *da = tts;
    union eng_val *sv = v, *dv = tv;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                if (sa[j] < sa[i]) {
                    da[k] = sa[j];
                    dv[k++] = sv[j++];
                } else {
                    da[k] = sa[i];
                    dv[k++] = sv[i++];
                }
            }
            while (i < mid) {
                da[k] = sa[i];
                dv[k++] = sv[i++];
            }
            while (j < hi) {
                da[k] = sa[j];
                dv[k++] = sv[j++];
            }
        }
        int64_t *t1 = sa;
        sa = da;
        da = t1;
        union eng_val *t2 = sv;
        sv = dv;
        dv = t2;
    }
    if (sa != ts) {
        memcpy(ts, sa, n * sizeof *ts);
        memcpy(v, sv, n * sizeof *v);
    }
}

/* Stable insertion sort of (ts, v) while it stays cheap: a column with a
 * few late points (the common unsorted case) is sorted in about one pass.
 * Past INSERTION_MOVES moves per value it stops and returns false, leaving
 * a permutation that keeps equal times in insertion order (nothing moved
 * past an equal time), for merge_sort to finish. */
#define INSERTION_MOVES 4

static bool insertion_sort_bounded(int64_t *ts, union eng_val *v, size_t n)
{
    size_t budget = INSERTION_MOVES * n;
    for (size_t i = 1; i < n; i++) {
        if (ts[i] >= ts[i - 1]) continue;
        int64_t t = ts[i];
        union eng_val x = v[i];
        size_t j = i;
        bool out = false;
        for (; j > 0 && ts[j - 1] > t; j--) {
            if (budget-- == 0) {
                out = true;
                break;
            }
            ts[j] = ts[j - 1];
            v[j] = v[j - 1];
        }
        ts[j] = t;
        v[j] = x;
        if (out) return false;
    }
    return true;
}

/* How the times ts[0..n) stand. */
enum time_order { TIMES_ASCENDING, TIMES_REPEATED, TIMES_UNSORTED };

static enum time_order time_order(const int64_t *ts, size_t n)
{
    bool dup = false;
    for (size_t i = 1; i < n; i++) {
        if (ts[i] < ts[i - 1]) return TIMES_UNSORTED;
        dup |= ts[i] == ts[i - 1];
    }
    return dup ? TIMES_REPEATED : TIMES_ASCENDING;
}

size_t eng_sort_dedup(int64_t *ts, union eng_val *v, size_t n, int64_t *tmp_ts,
                      union eng_val *tmp_v)
{
    enum time_order order = time_order(ts, n);
    if (order == TIMES_UNSORTED && !insertion_sort_bounded(ts, v, n))
        merge_sort(ts, v, n, tmp_ts, tmp_v);
    else if (order == TIMES_ASCENDING)
        return n;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && ts[k - 1] == ts[i]) {
            v[k - 1] = v[i]; /* later in insertion order wins */
            continue;
        }
        ts[k] = ts[i];
        v[k++] = v[i];
    }
    return k;
}

/* A value with its version and insertion rank, for the versioned sort. */
struct vrec {
    int64_t ts;
    uint64_t ver;
    union eng_val v;
    size_t ord;
};

static int vrec_cmp(const void *a, const void *b)
{
    const struct vrec *x = a, *y = b;
    if (x->ts != y->ts) return x->ts < y->ts ? -1 : 1;
    return (x->ord > y->ord) - (x->ord < y->ord);
}

/* Stable time sort of the three arrays. */
static void sort_v(int64_t *ts, union eng_val *v, uint64_t *ver, size_t n)
{
    struct vrec *r = ne_malloc(n * sizeof *r);
    if (r) {
        for (size_t i = 0; i < n; i++)
            r[i] = (struct vrec){ts[i], ver[i], v[i], i};
        qsort(r, n, sizeof *r, vrec_cmp);
        for (size_t i = 0; i < n; i++) {
            ts[i] = r[i].ts;
            ver[i] = r[i].ver;
            v[i] = r[i].v;
        }
        ne_free(r);
        return;
    }
    for (size_t i = 1; i < n; i++) { /* no memory: insertion sort, stable */
        int64_t t = ts[i];
        union eng_val x = v[i];
        uint64_t y = ver[i];
        size_t j = i;
        for (; j && ts[j - 1] > t; j--) {
            ts[j] = ts[j - 1];
            v[j] = v[j - 1];
            ver[j] = ver[j - 1];
        }
        ts[j] = t;
        v[j] = x;
        ver[j] = y;
    }
}

/* A value slot as the tie rule sees it (strings: their bytes in strs). */
static struct ne_lww_val lww_val(union eng_val v, uint8_t type, const char *strs)
{
    struct ne_lww_val x = {0};
    if (type == NE_V_STRING) {
        x.p = strs ? strs + (v.u >> 32) : "";
        x.n = (uint32_t)(v.u & 0xffffffffu);
    } else {
        x.u = v.u;
    }
    return x;
}

size_t eng_sort_dedup_v(int64_t *ts, union eng_val *v, uint64_t *ver, size_t n, uint8_t type,
                        const char *strs)
{
    enum time_order order = time_order(ts, n);
    if (order == TIMES_UNSORTED)
        sort_v(ts, v, ver, n);
    else if (order == TIMES_ASCENDING)
        return n;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (k && ts[k - 1] == ts[i]) {
            if (ne_lww_replaces(ver[i], lww_val(v[i], type, strs), ver[k - 1],
                                lww_val(v[k - 1], type, strs))) {
                v[k - 1] = v[i];
                ver[k - 1] = ver[i];
            }
            continue;
        }
        ts[k] = ts[i];
        ver[k] = ver[i];
        v[k++] = v[i];
    }
    return k;
}

uint32_t eng_mt_col_finish(const struct eng_memtable *m, struct eng_mcol *c)
{
    if (c->sorted || c->n < 2) return c->n;
    if (c->ver) {
        c->n = (uint32_t)eng_sort_dedup_v(c->ts, c->v, c->ver, c->n, c->type, m->strs);
        c->sorted = true;
        return c->n;
    }
    /* the spare capacity of neither array is enough in general: allocate
     * scratch once per unsorted column at flush time */
    int64_t *tts = ne_malloc((size_t)c->n * sizeof *tts);
    union eng_val *tv = ne_malloc((size_t)c->n * sizeof *tv);
    if (tts && tv) {
        c->n = (uint32_t)eng_sort_dedup(c->ts, c->v, c->n, tts, tv);
        c->sorted = true;
    } else {
        /* no memory for scratch: insertion sort in place, still stable */
        for (uint32_t i = 1; i < c->n; i++) {
            int64_t t = c->ts[i];
            union eng_val x = c->v[i];
            uint32_t j = i;
            while (j && c->ts[j - 1] > t) {
                c->ts[j] = c->ts[j - 1];
                c->v[j] = c->v[j - 1];
                j--;
            }
            c->ts[j] = t;
            c->v[j] = x;
        }
        c->n = (uint32_t)eng_sort_dedup(c->ts, c->v, c->n, NULL, NULL);
        c->sorted = true;
    }
    ne_free(tts);
    ne_free(tv);
    return c->n;
}
