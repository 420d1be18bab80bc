/*
 * store.c - the store: open/recovery, the write path, memtable sealing and
 * flushing to segments, failure handling, stats.
 *
 * Directory layout (data_dir/store):
 *   LOCK               advisory lock of the running process
 *   series.log         the series index and the deletions (series.c, delete.c)
 *   CHECKPOINT         highest WAL sequence number flushed to segments
 *   wal/wal-<gen>.log  write-ahead log files (wal.c)
 *   seg/<id>.seg       segments (store/segment); each records the WAL range
 *                      [seq_min, seq_max] it holds
 *
 * Invariants:
 *   - sequence numbers are given under store.mu, in the order points enter
 *     the memtable, so "newer" is well defined: within a memtable by
 *     insertion order, between segments by seq range (ranges never overlap:
 *     replay skips every seq <= max(CHECKPOINT, newest segment's seq_max)),
 *     and the memtables are newer than every segment;
 *   - a WAL file is deleted only after every record in it is in a durable
 *     segment and CHECKPOINT says so;
 *   - at most one sealed memtable exists; when the active one fills while
 *     the sealed one is still flushing, writes wait for that flush (at most
 *     WRITE_WAIT_NS), then get NE_EBUSY;
 *   - after a failed fdatasync nothing is acknowledged until the flusher
 *     thread has closed the WAL (cut back to its durable offset), replayed
 *     it into a fresh memtable and opened a new WAL file.
 *
 * CHECKPOINT (20 bytes, published with write-tmp/fsync/rename/fsync-dir):
 *   +-------------+-------------+----------+-----------------+--------------+
 *   | magic u32   | version u16 | reserved | flushed_seq u64 | crc32c u32   |
 *   | "NECK"      | = 1         | u16 = 0  |                 | of bytes 0-15|
 *   +-------------+-------------+----------+-----------------+--------------+
 *   Every WAL record with seq <= flushed_seq is in a durable segment.
 *
 * WAL record payload (one ne_store_write call):
 *   u8 version (1, or 2 for a versioned write) | uv db_len, db |
 *   u32 npoints (patched at the end) |
 *   per point:
 *     uv (series_ref << 1 | def); if def: uv meas_len, meas, uv ntags,
 *        (uv klen, key, uv vlen, val) x ntags   -- first use in a WAL epoch
 *     sv ts - previous point's ts (0 before the first point)
 *     version 2 only: uv ver   -- the point's last-writer-wins version
 *     uv nfields, per field:
 *        uv (slot << 1 | def); if def: u8 type, uv name_len, name
 *        value: float u64 bits | int sv | uint uv | bool u8 | string uv len, bytes
 *   series_ref and slot are the index's id and field slot at write time;
 *   replay resolves them through the definitions met earlier in the same
 *   file.
 */
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ports/crc32c.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "store/engine/store_int.h"

#define CK_MAGIC       0x4b43454eu /* "NECK" */
#define CK_LEN         20
#define MAX_TAGS       1024
#define MAX_STRING     (64u << 10)
#define DISK_RESERVE   (8u << 20)
#define PROBE_NS       50000000LL /* a full disk is retried this often */
#define SPACE_CHECK_NS 1000000000LL
#define WRITE_WAIT_NS  1000000000LL /* longest wait for room before NE_EBUSY */
/* Defaults of the memtable budget (see memtable.c on why 12 MiB) and of
 * the segment size compaction aims at, for options left 0. */
#define DEFAULT_MEMTABLE_BYTES (12u << 20)
#define DEFAULT_SEGMENT_BYTES  (64u << 20)
/* With this many segments open and a merge running, a flush waits (at most
 * FLUSH_HOLD_NS) for the merge to publish before it adds one more: each
 * open segment keeps its index in memory, and an import whose flushes
 * outrun the merges would otherwise pile them up. */
#define FLUSH_HOLD_SEGS 14
#define FLUSH_HOLD_NS   500000000LL

static const char *const reject_names[NE_REJ__COUNT] = {"future", "too_old", "type", "cardinality",
                                                        "invalid"};

const char *ne_reject_name(enum ne_reject r)
{
    return (unsigned)r < NE_REJ__COUNT ? reject_names[r] : "unknown";
}

void ne_store_opts_default(struct ne_store_opts *o)
{
    memset(o, 0, sizeof *o);
    o->data_dir = "./neoedge-data";
    o->durability = NE_STORE_INTERVAL;
    o->max_loss_ns = 100000000LL;
    o->memtable_bytes = DEFAULT_MEMTABLE_BYTES;
    o->memtable_max_age_ns = 600LL * 1000000000LL;
    o->segment_target_bytes = DEFAULT_SEGMENT_BYTES;
    o->future_grace_ns = 600LL * 1000000000LL;
    o->max_series_per_db = 1000000;
    o->max_series_per_measurement = 100000;
}

/* ---- checkpoint --------------------------------------------------------- */

static int ck_write(struct ne_store *s, uint64_t seq)
{
    char path[4096];
    uint8_t b[CK_LEN] = {0};
    snprintf(path, sizeof path, "%s/CHECKPOINT", s->root);
    ne_store_u32le(b, CK_MAGIC);
    b[4] = 1;
    ne_store_u64le(b + 8, seq);
    ne_store_u32le(b + 16, ne_crc32c(0, b, 16));
    return ne_fs_write_atomic(path, b, sizeof b);
}

static int ck_read(struct ne_store *s, uint64_t *seq)
{
    char path[4096];
    char *d = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/CHECKPOINT", s->root);
    *seq = 0;
    int rc = ne_fs_read_all(path, &d, &n);
    if (rc == NE_ENOTFOUND) return 0;
    if (rc) return rc;
    const uint8_t *b = (const uint8_t *)d;
    if (n != CK_LEN || ne_load_u32le(b) != CK_MAGIC ||
        ne_load_u32le(b + 16) != ne_crc32c(0, b, 16)) {
        ne_log(NE_LOG_ERROR, ENG_MOD, "CHECKPOINT is corrupt; relying on segment WAL ranges",
               "path", path, NULL);
    } else {
        *seq = ne_load_u64le(b + 8);
    }
    ne_free(d);
    return 0;
}

/* ---- segments list ---------------------------------------------------------- */

int eng_seg_load(const char *path, struct eng_seg **out)
{
    struct eng_seg *g = ne_calloc(1, sizeof *g);
    if (!g) return NE_ENOMEM;
    int rc = ne_seg_open(path, &g->r);
    if (rc) {
        ne_free(g);
        return rc;
    }
    const struct ne_seg_info *in = ne_seg_info(g->r);
    g->id = in->seg_id;
    g->seq_min = in->wal_seq_min;
    g->seq_max = in->wal_seq_max;
    g->min_ts = in->min_ts;
    g->max_ts = in->max_ts;
    g->bytes = in->file_bytes;
    if (ne_fs_mtime_ns(path, &g->sealed_ns) != 0) g->sealed_ns = ne_time_wall_ns();
    g->refs = 1; /* the list's reference */
    *out = g;
    return 0;
}

static int seg_cmp(const void *a, const void *b)
{
    const struct eng_seg *x = *(struct eng_seg *const *)a, *y = *(struct eng_seg *const *)b;
    if (x->seq_min != y->seq_min) return x->seq_min < y->seq_min ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

void eng_segs_publish(struct ne_store *s, struct eng_seg *g)
{
    /* capacity is reserved by the caller through segs_reserve */
    s->segs[s->nsegs++] = g;
    qsort(s->segs, s->nsegs, sizeof *s->segs, seg_cmp);
    eng_update_gauges(s);
}

static int segs_reserve(struct ne_store *s, size_t extra)
{
    if (s->nsegs + extra <= s->cap_segs) return 0;
    size_t nc = s->cap_segs ? s->cap_segs * 2 : 16;
    while (nc < s->nsegs + extra)
        nc *= 2;
    struct eng_seg **p = ne_realloc(s->segs, nc * sizeof *p);
    if (!p) return NE_ENOMEM;
    s->segs = p;
    s->cap_segs = nc;
    return 0;
}

void eng_seg_unref(struct ne_store *s, struct eng_seg *g)
{
    if (--g->refs > 0) return;
    if (g->dead) {
        /* unlinked by eng_reap, outside the lock; if the path cannot be
         * queued, open will remove the superseded or evicted file later */
        char *path = ne_strdup(ne_seg_path_of(g->r));
        if (path && s->ngrave == s->cap_grave) {
            size_t nc = s->cap_grave ? s->cap_grave * 2 : 8;
            char **p = ne_realloc(s->grave, nc * sizeof *p);
            if (p) {
                s->grave = p;
                s->cap_grave = nc;
            }
        }
        if (path && s->ngrave < s->cap_grave)
            s->grave[s->ngrave++] = path;
        else
            ne_free(path);
    }
    ne_seg_close(&g->r);
    ne_free(g);
}

void eng_reap(struct ne_store *s)
{
    pthread_mutex_lock(&s->mu);
    char **v = s->grave;
    size_t n = s->ngrave;
    s->grave = NULL;
    s->ngrave = s->cap_grave = 0;
    pthread_mutex_unlock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        int rc = ne_fs_unlink(v[i]);
        if (rc && rc != NE_ENOTFOUND)
            ne_log(NE_LOG_WARN, ENG_MOD, "cannot remove segment", "path", v[i], "err",
                   ne_strerror(rc), NULL);
        ne_free(v[i]);
    }
    if (n) (void)ne_fs_sync_dir(s->seg_dir);
    ne_free(v);
}

void eng_update_gauges(struct ne_store *s)
{
    uint64_t bytes = 0;
    for (size_t i = 0; i < s->nsegs; i++)
        bytes += s->segs[i]->bytes;
    ne_metric_set(s->m_segments, (double)s->nsegs);
    ne_metric_set(s->m_seg_bytes, (double)bytes);
    ne_metric_set(s->m_mt_bytes, (double)((s->active ? s->active->bytes : 0) +
                                          (s->sealed ? s->sealed->bytes : 0)));
    ne_metric_set(s->m_series, (double)eng_index_nlive(s->ix));
}

struct seg_scan {
    struct ne_store *s;
    int rc;
};

static int seg_list_cb(void *ctx, const char *name, bool is_dir)
{
    struct seg_scan *sc = ctx;
    struct ne_store *s = sc->s;
    uint64_t id;
    char path[4096];
    if (is_dir || ne_seg_parse_name(name, &id)) return 0;
    snprintf(path, sizeof path, "%s/%s", s->seg_dir, name);
    if (id >= s->next_seg_id) s->next_seg_id = id + 1;
    struct eng_seg *g;
    int rc = eng_seg_load(path, &g);
    if (rc) {
        char q[4200];
        snprintf(q, sizeof q, "%s.quarantine", path);
        ne_log(NE_LOG_ERROR, ENG_MOD, "segment unreadable: quarantined", "path", path, "err",
               ne_strerror(rc), NULL);
        ne_metric_inc(s->m_quarantined);
        (void)ne_fs_rename(path, q);
        return 0;
    }
    if ((rc = segs_reserve(s, 1))) {
        eng_seg_unref(s, g);
        return rc;
    }
    s->segs[s->nsegs++] = g;
    return 0;
}

/* A crash between publishing a merged segment and deleting its inputs
 * leaves both: an input whose WAL range lies inside a newer segment's range
 * is superseded and removed now. */
static void drop_superseded(struct ne_store *s)
{
    for (size_t i = 0; i < s->nsegs; i++) {
        struct eng_seg *g = s->segs[i];
        for (size_t j = 0; j < s->nsegs && !g->dead; j++) {
            struct eng_seg *h = s->segs[j];
            g->dead =
                h != g && h->id > g->id && h->seq_min <= g->seq_min && g->seq_max <= h->seq_max;
        }
    }
    size_t keep = 0;
    for (size_t i = 0; i < s->nsegs; i++) {
        struct eng_seg *g = s->segs[i];
        if (g->dead) {
            ne_log(NE_LOG_INFO, ENG_MOD, "removing segment superseded by compaction", "path",
                   ne_seg_path_of(g->r), NULL);
            eng_seg_unref(s, g);
            continue;
        }
        s->segs[keep++] = g;
    }
    s->nsegs = keep;
    if (s->nsegs) qsort(s->segs, s->nsegs, sizeof *s->segs, seg_cmp);
}

/* ---- WAL payload ------------------------------------------------------------- */

static int put_sv(struct ne_buf *b, struct ne_sv s)
{
    int rc = ne_buf_put_uvarint(b, s.n);
    return rc ? rc : ne_buf_append(b, s.p, s.n);
}

/* A point's record is written through a cursor into room reserved once
 * (rec_bound): the same bytes as the ne_buf_put_* calls, without a bounds
 * check and a call per varint. */
#define UV_MAX 10u

static inline uint8_t *rec_uv(uint8_t *q, uint64_t v)
{
    while (v >= 0x80) {
        *q++ = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    *q++ = (uint8_t)v;
    return q;
}

static inline uint8_t *rec_sv(uint8_t *q, struct ne_sv s)
{
    q = rec_uv(q, s.n);
    if (s.n) memcpy(q, s.p, s.n);
    return q + s.n;
}

/* Upper bound of the bytes point_store writes for the fields f of a point
 * of series se. */
static size_t rec_bound(const struct eng_series *se, uint64_t epoch, const struct ne_field *f,
                        uint32_t nfields)
{
    size_t n = 4 * UV_MAX; /* series ref, ts delta, version (v2), nfields */
    if (se->wal_gen != epoch) { /* the series definition is due */
        n += 2 * UV_MAX + se->meas_name.n;
        for (uint32_t i = 0; i < se->ntags; i++)
            n += 2 * UV_MAX + se->tags[i].key.n + se->tags[i].val.n;
    }
    for (uint32_t i = 0; i < nfields; i++) {
        n += 3 * UV_MAX + 1 + f[i].key.n; /* slot, type, name, value */
        if (f[i].type == NE_V_STRING) n += f[i].v.s.n;
    }
    return n;
}

static uint8_t *rec_series(uint8_t *q, const struct eng_series *se, uint64_t epoch)
{
    bool def = se->wal_gen != epoch;
    q = rec_uv(q, se->id << 1 | def);
    if (!def) return q;
    q = rec_sv(q, se->meas_name);
    q = rec_uv(q, se->ntags);
    for (uint32_t i = 0; i < se->ntags; i++) {
        q = rec_sv(q, se->tags[i].key);
        q = rec_sv(q, se->tags[i].val);
    }
    return q;
}

static uint8_t *rec_value(uint8_t *q, uint8_t type, const union ne_value *v)
{
    switch (type) {
    case NE_V_FLOAT: {
        uint64_t u;
        memcpy(&u, &v->f, 8);
        ne_store_u64le(q, u);
        return q + 8;
    }
    case NE_V_INT:
        return rec_uv(q, ne_zigzag(v->i));
    case NE_V_UINT:
        return rec_uv(q, v->u);
    case NE_V_BOOL:
        *q = v->b ? 1 : 0;
        return q + 1;
    default:
        return rec_sv(q, v->s);
    }
}

/* ---- the write path -------------------------------------------------------------- */

struct wctx {
    struct ne_store *s;
    struct ne_write_result *res;
    int64_t now;
    uint32_t db;
    const uint64_t *ver; /* per point LWW versions, or NULL */
    uint64_t cur_ver;    /* the version of the point being stored */
    struct ne_buf *wb; /* WAL record being built, or NULL */
    uint64_t epoch;
    int64_t prev_ts;
    uint32_t npts;
    uint64_t nvals;
    int *slots; /* field slots of the point (-1: new), slots0 or owned */
    uint32_t cap_slots;
    int slots0[64];
};

static void series_text(const struct eng_series *se, char *buf, size_t n)
{
    int k = snprintf(buf, n, "%s", se->meas_name.p);
    for (uint32_t i = 0; i < se->ntags && k > 0 && (size_t)k < n; i++)
        k += snprintf(buf + k, n - (size_t)k, ",%s=%s", se->tags[i].key.p, se->tags[i].val.p);
}

static void reject(struct wctx *c, const struct ne_point *p, enum ne_reject why, const char *fmt,
                   ...) __attribute__((format(printf, 4, 5)));

static void reject(struct wctx *c, const struct ne_point *p, enum ne_reject why, const char *fmt,
                   ...)
{
    struct ne_write_result *r = c->res;
    if (!r->rejected) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->first_error, sizeof r->first_error, fmt, ap);
        va_end(ap);
    }
    (void)p;
    r->rejected++;
    r->by_reason[why]++;
    ne_metric_inc(c->s->m_rej[why]);
}

static bool sv_ok(struct ne_sv v)
{
    return v.n > 0 && v.p;
}

/* Checks what needs no index: names, values, time. tags_ok: p's tag
 * range is one an earlier valid point of the batch was checked with. */
static bool point_valid(struct wctx *c, const struct ne_batch *b, const struct ne_point *p,
                        int64_t ts, bool tags_ok)
{
    const struct ne_store_opts *o = &c->s->o;
    if (!sv_ok(p->meas) || p->ntags > MAX_TAGS || p->nfields == 0) {
        reject(c, p, NE_REJ_INVALID, "invalid point: %s",
               !sv_ok(p->meas)   ? "empty measurement"
               : p->nfields == 0 ? "no field"
                                 : "too many tags");
        return false;
    }
    const struct ne_tag *t = ne_point_tags(b, p);
    for (uint32_t i = 0; i < p->ntags && !tags_ok; i++) {
        if (!sv_ok(t[i].key) || !sv_ok(t[i].val)) {
            reject(c, p, NE_REJ_INVALID, "invalid point in %.*s: empty tag key or value",
                   (int)p->meas.n, p->meas.p);
            return false;
        }
    }
    const struct ne_field *f = ne_point_fields(b, p);
    for (uint32_t i = 0; i < p->nfields; i++) {
        bool bad = !sv_ok(f[i].key) || f[i].type < NE_V_FLOAT || f[i].type > NE_V_STRING ||
                   (f[i].type == NE_V_FLOAT && !isfinite(f[i].v.f)) ||
                   (f[i].type == NE_V_STRING && f[i].v.s.n > MAX_STRING);
        if (bad) {
            reject(c, p, NE_REJ_INVALID, "invalid field %.*s in %.*s", (int)f[i].key.n,
                   f[i].key.p ? f[i].key.p : "", (int)p->meas.n, p->meas.p);
            return false;
        }
    }
    if (o->future_grace_ns > 0 && ts > c->now && ts - c->now > o->future_grace_ns) {
        reject(c, p, NE_REJ_FUTURE,
               "point in %.*s at %" PRId64 " is %" PRId64 " s in the future (grace %" PRId64 " s)",
               (int)p->meas.n, p->meas.p, ts, (ts - c->now) / 1000000000,
               o->future_grace_ns / 1000000000);
        return false;
    }
    if (o->late_window_ns > 0 && ts < c->now - o->late_window_ns) {
        reject(c, p, NE_REJ_TOO_OLD, "point in %.*s at %" PRId64 " is older than the late window",
               (int)p->meas.n, p->meas.p, ts);
        return false;
    }
    return true;
}

/* Makes c->slots hold at least n slots. 0 or NE_ENOMEM. */
static int slots_reserve(struct wctx *c, uint32_t n)
{
    if (n <= c->cap_slots) return 0;
    int *p = ne_malloc((size_t)n * sizeof *p);
    if (!p) return NE_ENOMEM;
    if (c->slots != c->slots0) ne_free(c->slots);
    c->slots = p;
    c->cap_slots = n;
    return 0;
}

/* Resolves the field slots of p into c->slots (-1: a field new to se).
 * Returns 0, 1 when a type conflict rejected the point, or NE_ENOMEM. */
static int fields_resolve(struct wctx *c, const struct ne_batch *b, const struct ne_point *p,
                          struct eng_series *se)
{
    const struct ne_field *f = ne_point_fields(b, p);
    if (slots_reserve(c, p->nfields)) return NE_ENOMEM;
    for (uint32_t i = 0; i < p->nfields; i++) {
        int slot = eng_series_field_find(se, f[i].key, i);
        if (slot >= 0 && se->fields[slot].type != f[i].type) {
            char key[160];
            series_text(se, key, sizeof key);
            reject(c, p, NE_REJ_TYPE, "field \"%s\" is %s in %s, got %s", se->fields[slot].name.p,
                   ne_vtype_name(se->fields[slot].type), key, ne_vtype_name(f[i].type));
            return 1;
        }
        c->slots[i] = slot;
    }
    return 0;
}

/* Stores point p of series se: new fields are added to the index, the
 * point's WAL record is appended to c->wb, its values to the memtable.
 * c->slots holds its field slots (fields_resolve) and gets the new
 * ones. */
static int point_store(struct wctx *c, const struct ne_batch *b, const struct ne_point *p,
                       struct eng_series *se, int64_t ts)
{
    struct ne_store *s = c->s;
    struct ne_buf *wb = c->wb;
    const struct ne_field *f = ne_point_fields(b, p);
    const uint32_t n = p->nfields;
    int *slots = c->slots;
    int rc = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (slots[i] >= 0) continue;
        int slot = eng_index_field_add(s->ix, se, f[i].key, f[i].type);
        if (slot < 0) return slot; /* nothing of p kept */
        slots[i] = slot;
    }
    if (wb) {
        if ((rc = ne_buf_reserve(wb, rec_bound(se, c->epoch, f, n)))) return rc;
        uint8_t *q = rec_series(wb->p + wb->len, se, c->epoch);
        q = rec_uv(q, ne_zigzag((int64_t)((uint64_t)ts - (uint64_t)c->prev_ts)));
        if (c->ver) q = rec_uv(q, c->cur_ver); /* payload version 2 */
        q = rec_uv(q, n);
        for (uint32_t i = 0; i < n; i++) {
            struct eng_field *ef = &se->fields[slots[i]];
            bool def = ef->wal_gen != c->epoch; /* a new field has wal_gen 0 */
            q = rec_uv(q, (uint64_t)slots[i] << 1 | def);
            if (def) {
                *q++ = ef->type;
                q = rec_sv(q, ef->name);
                ef->wal_gen = c->epoch;
            }
            q = rec_value(q, ef->type, &f[i].v);
        }
        wb->len = (size_t)(q - wb->p);
        se->wal_gen = c->epoch;
    }
    if (c->ver) {
        for (uint32_t i = 0; i < n && !rc; i++)
            rc = eng_mt_append_v(s->active, se, (uint32_t)slots[i], ts, &f[i].v, c->cur_ver);
    } else {
        rc = eng_mt_append_row(s->active, se, slots, f, n, ts);
    }
    if (rc) return rc;
    c->prev_ts = ts;
    c->npts++;
    c->nvals += n;
    c->res->accepted++;
    s->points_written++;
    s->values_written += n;
    return 0;
}

/* Points of a batch that share a tag range (ne_batch_begin_same) are of
 * one series: the series found for the first of them, by its tag0, serves
 * the others without hashing and comparing the tags again. And when a
 * later point's field keys are the very views of that first point's
 * (decoders hand out one view per repeated key: line protocol does for
 * the points of a series that list their fields the same way), the
 * slots found for the first point serve it too, without comparing names.
 * Made only for a batch with such points (b->nsame); used for one write,
 * under mu, so no series can be dropped and no slot change meanwhile. */
struct same_series {
    struct eng_series *se;
    uint32_t pt1; /* 1 + index of the point it was found for; 0: none */
};

struct same {
    struct same_series *by_tag0; /* b->ntags entries */
    /* b->nfields entries: the slots of the fields of the first points of
     * their series (by the points' field0), -1 while unknown */
    int *fslots;
};

/* Tables larger than this go back after the write instead of being kept. */
#define SAME_KEEP_BYTES (8u << 20)

/* Makes *arr hold at least n entries of size elem (keeping it when it
 * does). Returns false without memory. */
static bool same_reserve(void **arr, size_t *cap, size_t n, size_t elem)
{
    if (n <= *cap) return true;
    size_t nc = n + n / 4;
    void *p = ne_realloc(*arr, nc * elem);
    if (!p) return false;
    *arr = p;
    *cap = nc;
    return true;
}

/* The tables for b from the store's kept ones (mu held). */
static void same_init(struct same *sm, struct ne_store *s, const struct ne_batch *b)
{
    sm->by_tag0 = NULL;
    sm->fslots = NULL;
    if (!b->nsame || !b->ntags) return;
    if (!same_reserve(&s->same_tag0, &s->same_tag0_cap, b->ntags, sizeof *sm->by_tag0) ||
        !same_reserve((void **)&s->same_fslots, &s->same_fslots_cap, b->nfields,
                      sizeof *sm->fslots))
        return; /* without memory, every point looks its series up */
    sm->by_tag0 = s->same_tag0;
    sm->fslots = s->same_fslots;
    memset(sm->by_tag0, 0, (size_t)b->ntags * sizeof *sm->by_tag0);
    memset(sm->fslots, 0xff, (size_t)b->nfields * sizeof *sm->fslots);
}

/* Lets the store keep the tables unless they grew past SAME_KEEP_BYTES. */
static void same_done(struct ne_store *s)
{
    if (s->same_tag0_cap * sizeof(struct same_series) + s->same_fslots_cap * sizeof(int) <=
        SAME_KEEP_BYTES)
        return;
    ne_free(s->same_tag0);
    ne_free(s->same_fslots);
    s->same_tag0 = NULL;
    s->same_fslots = NULL;
    s->same_tag0_cap = s->same_fslots_cap = 0;
}

/* The first point of p's series in b whose series was found, or NULL. */
static const struct ne_point *same_first(const struct same *sm, const struct ne_batch *b,
                                         const struct ne_point *p)
{
    if (!sm->by_tag0 || !p->ntags || p->tag0 >= b->ntags || !sm->by_tag0[p->tag0].pt1) return NULL;
    const struct ne_point *q = &b->pts[sm->by_tag0[p->tag0].pt1 - 1];
    if (q->ntags != p->ntags || q->meas.p != p->meas.p || q->meas.n != p->meas.n) return NULL;
    return q;
}

static void same_put(struct same *sm, const struct ne_batch *b, uint32_t i, struct eng_series *se)
{
    const struct ne_point *p = &b->pts[i];
    if (sm->by_tag0 && p->ntags && p->tag0 < b->ntags && !sm->by_tag0[p->tag0].pt1)
        sm->by_tag0[p->tag0] = (struct same_series){se, i + 1};
}

/* c->slots for p from the first point q of its series when p's field keys
 * are q's own views and the types agree (else false: the full lookup
 * decides, and words any conflict). */
static bool same_fields(struct wctx *c, const struct same *sm, const struct ne_batch *b,
                        const struct ne_point *p, const struct ne_point *q,
                        const struct eng_series *se)
{
    if (p->nfields != q->nfields || p->nfields > c->cap_slots) return false;
    const struct ne_field *f = ne_point_fields(b, p), *g = ne_point_fields(b, q);
    const int *qs = sm->fslots + q->field0;
    for (uint32_t i = 0; i < p->nfields; i++) {
        if (f[i].key.p != g[i].key.p || f[i].key.n != g[i].key.n || qs[i] < 0 ||
            se->fields[qs[i]].type != f[i].type)
            return false;
        c->slots[i] = qs[i];
    }
    return true;
}

/* Remembers the slots of the first point of a series (point i). */
static void same_put_fields(struct wctx *c, struct same *sm, const struct ne_batch *b, uint32_t i)
{
    const struct ne_point *p = &b->pts[i];
    if (sm->fslots && sm->by_tag0[p->tag0].pt1 == i + 1)
        memcpy(sm->fslots + p->field0, c->slots, (size_t)p->nfields * sizeof *c->slots);
}

static int write_points(struct wctx *c, const struct ne_batch *b)
{
    char why[200];
    int rc = 0;
    struct same sm;
    same_init(&sm, c->s, b);
    c->slots = c->slots0;
    c->cap_slots = sizeof c->slots0 / sizeof c->slots0[0];
    for (uint32_t i = 0; i < b->npts; i++) {
        const struct ne_point *p = &b->pts[i];
        int64_t ts = p->ts == NE_TS_UNSET ? c->now : p->ts;
        const struct ne_point *q = same_first(&sm, b, p);
        if (!point_valid(c, b, p, ts, q != NULL)) continue;
        struct eng_series *se = q ? sm.by_tag0[p->tag0].se : NULL;
        if (!se) {
            rc = eng_index_series(c->s->ix, c->db, b, p, &se, why, sizeof why);
            if (rc == NE_ELIMIT) {
                reject(c, p, NE_REJ_CARDINALITY, "%s", why);
                rc = 0;
                continue;
            }
            if (rc) break;
            same_put(&sm, b, i, se);
        }
        if (!q || !same_fields(c, &sm, b, p, q, se)) {
            rc = fields_resolve(c, b, p, se);
            if (rc == 1) {
                rc = 0;
                continue;
            }
            if (rc) break;
        }
        if (c->ver) c->cur_ver = c->ver[i];
        if ((rc = point_store(c, b, p, se, ts))) break;
        same_put_fields(c, &sm, b, i);
    }
    same_done(c->s);
    if (c->slots != c->slots0) ne_free(c->slots);
    c->slots = NULL;
    return rc;
}

/* Swaps in a fresh memtable; mu held. The WAL does not rotate here: a file
 * may hold records of both memtables, it is dropped once every record in it
 * is flushed, and replay skips records by sequence number. */
static int seal_locked(struct ne_store *s)
{
    if (s->sealed || !s->active->values) return s->sealed ? NE_EBUSY : 0;
    struct eng_memtable *m;
    int rc = eng_mt_new(s->next_mt_gen, s->mt_pool, &m);
    if (rc) return rc;
    s->next_mt_gen++;
    /* the next memtable seals at half the budget: its columns' first
     * capacities get at most 7/8 of that, the rest is for those that grow */
    uint64_t seal_at = s->o.memtable_bytes / 2;
    eng_mt_note_sizes(s->active, seal_at - seal_at / 8);
    s->sealed = s->active;
    s->active = m;
    pthread_cond_broadcast(&s->cv);
    return 0;
}

static bool mt_full(const struct ne_store *s)
{
    return s->active->bytes >= s->o.memtable_bytes / 2;
}

/* Admission before a write: state, disk, memtable room. mu held.
 * NE_EBUSY: the budget is full while the sealed memtable flushes. */
static int admit_once(struct ne_store *s)
{
    if (atomic_load(&s->state) != ENG_OK) return NE_EFAILED;
    int64_t now = ne_time_mono_ns();
    s->last_write_mono = now;
    if (atomic_load(&s->disk_full)) {
        if (now - s->disk_probe_mono < PROBE_NS) return NE_ENOSPC;
        s->disk_probe_mono = now;
    }
    if (s->wal && now - s->space_check_mono >= SPACE_CHECK_NS) {
        uint64_t free_b = 0;
        s->space_check_mono = now;
        if (ne_fs_free_space(s->root, &free_b) == 0 && free_b < DISK_RESERVE) {
            if (!atomic_exchange(&s->disk_full, true))
                ne_log(NE_LOG_ERROR, ENG_MOD,
                       "disk almost full: writes refused until space returns", "dir", s->root,
                       NULL);
            snprintf(s->why, sizeof s->why, "disk full");
            s->disk_probe_mono = now;
            return NE_ENOSPC;
        }
    }
    if (mt_full(s)) {
        int rc = seal_locked(s);
        /* while the sealed one flushes, the active one may use the rest of
         * the budget */
        if (rc == NE_EBUSY && s->active->bytes + s->sealed->bytes < s->o.memtable_bytes) rc = 0;
        if (rc == NE_EBUSY) return atomic_load(&s->disk_full) ? NE_ENOSPC : NE_EBUSY;
        if (rc) return rc;
    } else if (s->wal && eng_wal_want_rotate(s->wal)) {
        int rc = eng_wal_rotate(s->wal, NULL);
        if (rc) return rc;
    }
    return 0;
}

static void timed_wait(struct ne_store *s, int64_t ns);

/* Admission, waiting up to WRITE_WAIT_NS for a flush in progress when the
 * budget is full: a flush frees room within a fraction of a second, and
 * answering busy at once makes every source decode its batch again for
 * the retry. Waits for a delete in progress too. mu held (released while
 * waiting). */
static int admit_locked(struct ne_store *s)
{
    int64_t deadline = 0;
    for (;;) {
        while (s->deleting) /* a delete flushes and logs: writes after it wait */
            pthread_cond_wait(&s->cv, &s->mu);
        int rc = admit_once(s);
        if (rc != NE_EBUSY) return rc;
        int64_t now = ne_time_mono_ns();
        if (!deadline) deadline = now + WRITE_WAIT_NS;
        if (now >= deadline) {
            ne_metric_inc(s->m_backpressure);
            return rc;
        }
        timed_wait(s, deadline - now); /* the flusher broadcasts when done */
    }
}

static void note_disk_result(struct ne_store *s, int rc)
{
    if (rc == NE_ENOSPC) {
        if (!atomic_exchange(&s->disk_full, true))
            ne_log(NE_LOG_ERROR, ENG_MOD,
                   "disk full: writes are refused (WAL intact) until space returns", "dir", s->root,
                   NULL);
        s->disk_probe_mono = ne_time_mono_ns();
        snprintf(s->why, sizeof s->why, "disk full");
        ne_metric_inc(s->m_nospc);
    } else if (rc == 0 && atomic_load(&s->disk_full)) {
        atomic_store(&s->disk_full, false);
        s->why[0] = 0;
        ne_log(NE_LOG_INFO, ENG_MOD, "disk space is back: writes resume", "dir", s->root, NULL);
    }
}

static int store_write(struct ne_store *s, const char *db, const struct ne_batch *b,
                       const uint64_t *ver, struct ne_write_result *res);

int ne_store_write(struct ne_store *s, const char *db, const struct ne_batch *b,
                   struct ne_write_result *res)
{
    return store_write(s, db, b, NULL, res);
}

int ne_store_write_versioned(struct ne_store *s, const char *db, const struct ne_batch *b,
                             const uint64_t *ver, struct ne_write_result *res)
{
    return store_write(s, db, b, ver, res);
}

static int store_write(struct ne_store *s, const char *db, const struct ne_batch *b,
                       const uint64_t *ver, struct ne_write_result *res)
{
    struct ne_write_result dummy;
    if (!res) res = &dummy;
    memset(res, 0, sizeof *res);
    if (!s || !db || !*db || !b) return NE_EINVAL;
    if (atomic_load(&s->state) != ENG_OK) return NE_EFAILED;
    struct wctx c = {.s = s, .res = res, .now = ne_time_wall_ns(), .ver = ver};
    pthread_mutex_lock(&s->mu);
    int rc = admit_locked(s);
    if (!rc) rc = eng_index_db(s->ix, ne_sv_c(db), &c.db);
    if (rc) {
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    size_t npts_at = 0;
    if (s->wal) {
        c.wb = eng_wal_begin(s->wal);
        if (!c.wb) {
            pthread_mutex_unlock(&s->mu);
            return NE_ENOMEM;
        }
        c.epoch = eng_wal_gen(s->wal);
        rc = ne_buf_put_u8(c.wb, ver ? 2 : 1);
        if (!rc) rc = put_sv(c.wb, ne_sv_c(db));
        npts_at = c.wb->len;
        if (!rc) rc = ne_buf_put_u32le(c.wb, 0);
    }
    if (!rc) rc = write_points(&c, b);
    uint64_t seq = 0;
    if (s->wal) {
        if (rc || !c.npts) {
            eng_wal_abort(s->wal);
        } else {
            ne_buf_patch_u32le(c.wb, npts_at, c.npts);
            seq = eng_wal_commit(s->wal);
        }
    } else if (!rc && c.npts) {
        seq = s->next_seq++;
    }
    if (seq && s->wal) s->wal_users++;
    if (seq) {
        if (!s->active->seq_min) s->active->seq_min = seq;
        s->active->seq_max = seq;
        if (!s->active->first_mono) s->active->first_mono = ne_time_mono_ns();
    }
    pthread_mutex_unlock(&s->mu);
    if (rc) {
        ne_log(NE_LOG_ERROR, ENG_MOD, "write failed", "db", db, "err", ne_strerror(rc), NULL);
        return rc;
    }
    if (seq && s->wal) {
        rc = eng_wal_wait(s->wal, seq);
        bool failed = rc == NE_EFAILED || eng_wal_failed(s->wal);
        pthread_mutex_lock(&s->mu);
        if (failed && atomic_exchange(&s->state, ENG_FAILED) == ENG_OK)
            snprintf(s->why, sizeof s->why, "WAL sync failed: recovering");
        if (failed && !rc) rc = NE_EFAILED;
        note_disk_result(s, failed ? -1 : rc);
        /* only recovery waits for the last WAL user: waking the flusher on
         * every write would cost a context switch per batch */
        if (--s->wal_users == 0 && atomic_load(&s->state) != ENG_OK)
            pthread_cond_broadcast(&s->cv);
        pthread_mutex_unlock(&s->mu);
        if (rc) return rc;
    }
    ne_metric_add(s->m_points, res->accepted);
    ne_metric_add(s->m_values, c.nvals);
    return 0;
}

/* ---- flushing ------------------------------------------------------------------ */

struct colref {
    struct eng_mcol *c;
};

static int colref_cmp(const void *a, const void *b)
{
    const struct eng_mcol *x = ((const struct colref *)a)->c, *y = ((const struct colref *)b)->c;
    if (x->s->id != y->s->id) return x->s->id < y->s->id ? -1 : 1;
    struct ne_sv fx = x->s->fields[x->slot].name, fy = y->s->fields[y->slot].name;
    int r = memcmp(fx.p, fy.p, fx.n < fy.n ? fx.n : fy.n);
    return r ? r : (fx.n > fy.n) - (fx.n < fy.n);
}

/* Scratch for the value types the memtable does not store natively. */
struct conv {
    bool *b;
    struct ne_sv *sv;
    size_t cap;
};

static const void *col_values(const struct eng_memtable *m, const struct eng_mcol *c,
                              struct conv *cv, int *rc)
{
    *rc = 0;
    if (c->type != NE_V_BOOL && c->type != NE_V_STRING)
        return c->v; /* double / int64 / uint64 share the 8-byte slots */
    if (cv->cap < c->n) {
        size_t nc = c->n;
        bool *b = ne_realloc(cv->b, nc * sizeof *b);
        if (b) cv->b = b;
        struct ne_sv *sv = b ? ne_realloc(cv->sv, nc * sizeof *sv) : NULL;
        if (!sv) {
            *rc = NE_ENOMEM;
            return NULL;
        }
        cv->sv = sv;
        cv->cap = nc;
    }
    if (c->type == NE_V_BOOL) {
        for (uint32_t i = 0; i < c->n; i++)
            cv->b[i] = c->v[i].u != 0;
        return cv->b;
    }
    for (uint32_t i = 0; i < c->n; i++)
        cv->sv[i] = eng_mt_str(m, c->v[i]);
    return cv->sv;
}

/* Whether a flush stores its footer without zstd: compaction merges the
 * flushes of an hour once it is complete, and at rest (compact.c), so the
 * larger footer lives minutes and its compression would be work for a
 * file soon rewritten. Not with a disk budget, where every byte counts
 * meanwhile (a flush of a few seconds of data is mostly footer, and
 * retention would evict it before it is merged), nor when segments wait
 * for a sink, which keeps them longer and may ship them as they are. */
static bool flush_footer_raw(const struct ne_store *s)
{
    return s->o.retention_max_disk_bytes == 0 && !s->o.hold_for_sync;
}

static int write_segment(struct ne_store *s, struct eng_memtable *m, struct colref *order,
                         uint32_t ncols, const char *const *dbs, uint32_t ndbs, uint64_t id,
                         struct ne_seg_info *info)
{
    struct ne_segw_opts so = {.dbs = dbs,
                              .ndbs = ndbs,
                              .wal_seq_min = m->seq_min,
                              .wal_seq_max = m->seq_max,
                              .align_ns = ENG_BLOCK_GRID_NS,
                              .align_min = ENG_BLOCK_GRID_MIN,
                              .footer_raw = flush_footer_raw(s)};
    struct ne_segw *w = NULL;
    struct conv cv = {0};
    int rc = ne_segw_open(s->seg_dir, id, &so, &w);
    for (uint32_t i = 0; !rc && i < ncols; i++) {
        struct eng_mcol *c = order[i].c;
        if (!c->n) continue;
        struct ne_seg_colkey k = {.series_id = c->s->id,
                                  .field = c->s->fields[c->slot].name,
                                  .type = c->type,
                                  .db = c->s->db};
            const void *vals = col_values(m, c, &cv, &rc);
        if (!rc) rc = ne_segw_begin_column_v(w, &k, c->ver ? NE_SEG_COL_VERSIONED : 0);
        if (!rc) rc = ne_segw_append_v(w, c->ts, vals, c->ver, c->n);
        if (!rc) rc = ne_segw_end_column(w);
    }
    if (!rc)
        rc = ne_segw_finish(&w, info);
    else
        ne_segw_abort(&w);
    ne_free(cv.b);
    ne_free(cv.sv);
    return rc;
}

int eng_store_flush_sealed(struct ne_store *s)
{
    pthread_mutex_lock(&s->mu);
    struct eng_memtable *m = s->sealed;
    if (!m || s->flushing) {
        pthread_mutex_unlock(&s->mu);
        return 0;
    }
    s->flushing = true;
    int rc = 0;
    struct colref *order = ne_malloc((size_t)(m->ncols ? m->ncols : 1) * sizeof *order);
    uint32_t ndbs = eng_index_ndbs(s->ix);
    const char **dbs = ne_malloc((ndbs ? ndbs : 1) * sizeof *dbs);
    if (!order || !dbs) rc = NE_ENOMEM;
    for (uint32_t i = 0; !rc && i < m->ncols; i++) {
        eng_mt_col_finish(m, &m->cols[i]);
        order[i].c = &m->cols[i];
    }
    for (uint32_t i = 0; !rc && i < ndbs; i++)
        dbs[i] = eng_index_db_at(s->ix, i)->name;
    struct ne_buf ipend = NE_BUF_INIT;
    eng_index_take_pending(s->ix, &ipend);
    uint64_t id = s->next_seg_id++;
    pthread_mutex_unlock(&s->mu);

    struct ne_seg_info info;
    struct eng_seg *g = NULL;
    uint64_t mt_bytes = m->bytes;
    if (!rc && (rc = eng_index_write_pending(s->ix, &ipend)) != 0) {
        pthread_mutex_lock(&s->mu);
        eng_index_restore_pending(s->ix, &ipend);
        pthread_mutex_unlock(&s->mu);
    }
    ne_buf_free(&ipend);
    if (!rc) {
        qsort(order, m->ncols, sizeof *order, colref_cmp);
        rc = write_segment(s, m, order, m->ncols, dbs, ndbs, id, &info);
    }
    if (!rc) {
        char path[4096];
        ne_seg_path(path, sizeof path, s->seg_dir, id);
        rc = eng_seg_load(path, &g);
    }
    ne_free(order);
    ne_free(dbs);

    pthread_mutex_lock(&s->mu);
    if (!rc && (rc = segs_reserve(s, 1))) eng_seg_unref(s, g);
    if (!rc) {
        eng_segs_publish(s, g);
        s->flushed_seq = m->seq_max;
        s->sealed = NULL;
        struct eng_wal *w = s->wal; /* replaced only by recovery, on this thread */
        uint64_t upto = s->flushed_seq;
        pthread_mutex_unlock(&s->mu);
        eng_mt_free(&m);
        ne_alloc_trim(); /* the memtable's columns, scattered through the heap */
        int crc = ck_write(s, upto);
        /* start a new WAL file so that the flushed records stop taking disk
         * once no later record shares their file; under the store lock, as
         * in the write path: a sequence number handed out is in the WAL
         * buffer before any rotation */
        if (!crc && w) {
            pthread_mutex_lock(&s->mu);
            if (s->wal == w && eng_wal_rotate(w, NULL) != 0)
                ne_log(NE_LOG_WARN, ENG_MOD, "WAL rotation after flush failed", NULL);
            pthread_mutex_unlock(&s->mu);
        }
        if (!crc && w) eng_wal_drop_upto(w, upto);
        pthread_mutex_lock(&s->mu);
        ne_metric_inc(s->m_flushes);
        ne_metric_add(s->m_flush_bytes, info.file_bytes);
        ne_logf(NE_LOG_DEBUG, ENG_MOD,
                "memtable flushed: segment %" PRIu64 ", %" PRIu64 " values in %u columns, %" PRIu64
                " memtable bytes, %" PRIu64 " file bytes",
                id, info.npoints, info.ncols, mt_bytes, info.file_bytes);
        if (atomic_load(&s->disk_full) && !crc) note_disk_result(s, 0);
    } else {
        ne_log(NE_LOG_ERROR, ENG_MOD, "memtable flush failed; will retry", "err", ne_strerror(rc),
               NULL);
        if (rc == NE_ENOSPC) note_disk_result(s, rc);
    }
    s->flushing = false;
    s->flush_err = rc;
    s->flush_attempts++;
    eng_update_gauges(s);
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

int ne_store_flush(struct ne_store *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t target = s->active->seq_max ? s->active->seq_max : s->sealed ? s->sealed->seq_max : 0;
    int rc = 0;
    while (s->flushed_seq < target) {
        if (atomic_load(&s->state) != ENG_OK) {
            rc = NE_EFAILED;
            break;
        }
        if (!s->sealed && !s->active->values) break; /* records without values (nothing to flush) */
        if (!s->sealed && (rc = seal_locked(s))) break;
        uint64_t attempts = s->flush_attempts;
        pthread_cond_broadcast(&s->cv);
        while (s->flush_attempts == attempts && atomic_load(&s->state) == ENG_OK)
            pthread_cond_wait(&s->cv, &s->mu);
        if (s->flush_err) {
            rc = s->flush_err;
            break;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

/* ---- replay -------------------------------------------------------------------- */

struct rmap {
    uint64_t ref; /* the WAL's series reference + 1 (0: empty slot) */
    struct eng_series *se;
    uint64_t gen;
    uint32_t *slots; /* WAL slot -> index slot + 1 (0: unknown) */
    uint32_t nslots;
};

struct replay {
    struct ne_store *s;
    uint64_t gen;
    struct rmap *map; /* open addressing by ref: refs come from the file */
    size_t cap, n;
};

static int rmap_grow(struct replay *rp)
{
    size_t nc = rp->cap ? rp->cap * 2 : 1024;
    struct rmap *m = ne_calloc(nc, sizeof *m);
    if (!m) return NE_ENOMEM;
    for (size_t i = 0; i < rp->cap; i++) {
        if (!rp->map[i].ref) continue;
        size_t j = (size_t)(rp->map[i].ref * 0x9E3779B97F4A7C15ull) & (nc - 1);
        while (m[j].ref)
            j = (j + 1) & (nc - 1);
        m[j] = rp->map[i];
    }
    ne_free(rp->map);
    rp->map = m;
    rp->cap = nc;
    return 0;
}

static struct rmap *rmap_get(struct replay *rp, uint64_t ref)
{
    if ((rp->n + 1) * 2 > rp->cap && rmap_grow(rp)) return NULL;
    uint64_t key = ref + 1;
    size_t j = (size_t)(key * 0x9E3779B97F4A7C15ull) & (rp->cap - 1);
    while (rp->map[j].ref && rp->map[j].ref != key)
        j = (j + 1) & (rp->cap - 1);
    if (!rp->map[j].ref) {
        rp->map[j].ref = key;
        rp->n++;
    }
    return &rp->map[j];
}

static int rd_sv(struct ne_rd *r, struct ne_sv *out)
{
    uint64_t n;
    const uint8_t *p;
    if (ne_rd_uvarint(r, &n) || n > UINT32_MAX || ne_rd_bytes(r, (size_t)n, &p)) return NE_ECORRUPT;
    *out = (struct ne_sv){(const char *)p, (uint32_t)n};
    return 0;
}

/* apply: the record is newer than every segment; otherwise it was
 * flushed before, and a series a later delete killed is resolved to the
 * dead one rather than brought back. */
static int replay_series(struct replay *rp, struct ne_rd *r, uint32_t db, bool apply,
                         struct rmap **out)
{
    struct ne_store *s = rp->s;
    uint64_t v;
    if (ne_rd_uvarint(r, &v)) return NE_ECORRUPT;
    uint64_t ref = v >> 1;
    struct rmap *m = rmap_get(rp, ref);
    if (!m) return NE_ENOMEM;
    if (v & 1) {
        struct ne_sv meas;
        uint64_t ntags;
        if (rd_sv(r, &meas) || ne_rd_uvarint(r, &ntags) || ntags > MAX_TAGS) return NE_ECORRUPT;
        struct ne_tag tags[MAX_TAGS];
        for (uint64_t i = 0; i < ntags; i++)
            if (rd_sv(r, &tags[i].key) || rd_sv(r, &tags[i].val)) return NE_ECORRUPT;
        int rc = eng_index_series_parts(s->ix, db, meas, tags, (uint32_t)ntags, !apply, &m->se);
        if (rc) return rc;
        m->gen = rp->gen;
        m->nslots = 0;
    } else if (!m->se || m->gen != rp->gen) {
        return NE_ECORRUPT; /* a reference without its definition */
    }
    *out = m;
    return 0;
}

static int replay_field(struct replay *rp, struct ne_rd *r, struct rmap *m, uint32_t *slot)
{
    uint64_t v;
    if (ne_rd_uvarint(r, &v) || (v >> 1) > 65535) return NE_ECORRUPT;
    uint32_t ws = (uint32_t)(v >> 1);
    if (ws >= m->nslots) {
        uint32_t *p = ne_realloc(m->slots, (ws + 1) * sizeof *p);
        if (!p) return NE_ENOMEM;
        memset(p + m->nslots, 0, (ws + 1 - m->nslots) * sizeof *p);
        m->slots = p;
        m->nslots = ws + 1;
    }
    if (v & 1) {
        uint8_t type;
        struct ne_sv name;
        if (ne_rd_u8(r, &type) || rd_sv(r, &name) || type < NE_V_FLOAT || type > NE_V_STRING)
            return NE_ECORRUPT;
        int sl = eng_series_field_find(m->se, name, ws);
        if (sl < 0) sl = eng_index_field_add(rp->s->ix, m->se, name, type);
        if (sl < 0) return sl;
        if (m->se->fields[sl].type != type) return NE_ECONFLICT;
        m->slots[ws] = (uint32_t)sl + 1;
    }
    if (!m->slots[ws]) return NE_ECORRUPT;
    *slot = m->slots[ws] - 1;
    return 0;
}

static int replay_value(struct ne_rd *r, uint8_t type, union ne_value *v)
{
    uint64_t u;
    uint8_t b;
    switch (type) {
    case NE_V_FLOAT:
        if (ne_rd_u64le(r, &u)) return NE_ECORRUPT;
        memcpy(&v->f, &u, 8);
        return 0;
    case NE_V_INT:
        return ne_rd_svarint(r, &v->i);
    case NE_V_UINT:
        return ne_rd_uvarint(r, &v->u);
    case NE_V_BOOL:
        if (ne_rd_u8(r, &b)) return NE_ECORRUPT;
        v->b = b != 0;
        return 0;
    default:
        return rd_sv(r, &v->s);
    }
}

static int replay_points(struct replay *rp, struct ne_rd *r, uint32_t db, uint32_t npts, bool apply,
                         bool versioned)
{
    struct ne_store *s = rp->s;
    int64_t ts = 0;
    for (uint32_t i = 0; i < npts; i++) {
        struct rmap *m;
        int64_t d;
        uint64_t nf;
        int rc = replay_series(rp, r, db, apply, &m);
        if (rc) return rc;
        uint64_t ver = 0;
        if (ne_rd_svarint(r, &d) || (versioned && ne_rd_uvarint(r, &ver)) ||
            ne_rd_uvarint(r, &nf))
            return NE_ECORRUPT;
        ts = (int64_t)((uint64_t)ts + (uint64_t)d);
        for (uint64_t k = 0; k < nf; k++) {
            uint32_t slot;
            union ne_value v;
            if ((rc = replay_field(rp, r, m, &slot))) return rc;
            if ((rc = replay_value(r, m->se->fields[slot].type, &v))) return rc;
            if (apply && (rc = eng_mt_append_v(s->active, m->se, slot, ts, &v, ver))) return rc;
        }
    }
    return 0;
}

static int replay_record(void *ctx, uint64_t seq, uint64_t gen, const uint8_t *p, size_t n)
{
    struct replay *rp = ctx;
    struct ne_store *s = rp->s;
    struct ne_rd r;
    uint8_t ver;
    struct ne_sv db;
    uint32_t npts, dbi;
    ne_rd_init(&r, p, n);
    if (ne_rd_u8(&r, &ver) || (ver != 1 && ver != 2) || rd_sv(&r, &db) ||
        ne_rd_u32le(&r, &npts))
        return NE_ECORRUPT;
    if (gen != rp->gen) rp->gen = gen; /* references are per file */
    pthread_mutex_lock(&s->mu);
    bool apply = seq > s->flushed_seq;
    /* a flushed record must not revive a database dropped after it */
    int rc = apply ? eng_index_db(s->ix, db, &dbi) : eng_index_db_any(s->ix, db, &dbi);
    if (!rc) rc = replay_points(rp, &r, dbi, npts, apply, ver == 2);
    if (!rc && apply) {
        if (!s->active->seq_min) s->active->seq_min = seq;
        s->active->seq_max = seq;
        if (!s->active->first_mono) s->active->first_mono = ne_time_mono_ns();
    }
    bool full = !rc && mt_full(s);
    if (full) rc = seal_locked(s);
    pthread_mutex_unlock(&s->mu);
    if (rc) {
        char sq[32];
        snprintf(sq, sizeof sq, "%" PRIu64, seq);
        ne_log(NE_LOG_ERROR, ENG_MOD, "WAL record does not decode", "seq", sq, "err",
               ne_strerror(rc), NULL);
        return rc;
    }
    return full ? eng_store_flush_sealed(s) : 0;
}

static int replay_wal(struct ne_store *s, struct eng_replay_report *rep)
{
    struct replay rp = {.s = s};
    int rc = eng_wal_replay(s->wal_dir, s->flushed_seq, replay_record, &rp, rep);
    for (size_t i = 0; i < rp.cap; i++)
        ne_free(rp.map[i].slots);
    ne_free(rp.map);
    if (rep->quarantined) ne_metric_add(s->m_quarantined, rep->quarantined);
    if (rep->records) {
        char nrec[32], nf[32];
        snprintf(nrec, sizeof nrec, "%" PRIu64, rep->records);
        snprintf(nf, sizeof nf, "%" PRIu64, rep->files);
        ne_log(NE_LOG_INFO, ENG_MOD, "WAL replayed", "records", nrec, "files", nf, NULL);
    }
    return rc;
}

/* Opens the WAL after a replay and forgets what segments already hold. */
static int wal_start(struct ne_store *s, const struct eng_replay_report *rep)
{
    uint64_t next_seq = (rep->last_seq > s->flushed_seq ? rep->last_seq : s->flushed_seq) + 1;
    if (s->o.durability == NE_STORE_NONE) {
        s->next_seq = next_seq;
        return 0;
    }
    struct eng_wal_opts wo = {.dir = s->wal_dir,
                              .mode = s->o.durability,
                              .max_loss_ns = s->o.max_loss_ns,
                              .next_seq = next_seq,
                              .next_gen = rep->last_gen + 1};
    struct eng_wal *w;
    int rc = eng_wal_open(&wo, &w);
    if (!rc) rc = eng_wal_adopt(w);
    if (rc) {
        eng_wal_close(&w);
        return rc;
    }
    eng_wal_drop_upto(w, s->flushed_seq);
    pthread_mutex_lock(&s->mu);
    s->wal = w;
    pthread_mutex_unlock(&s->mu);
    return 0;
}

/* ---- failure recovery ------------------------------------------------------------ */

static void recover(struct ne_store *s)
{
    ne_log(NE_LOG_WARN, ENG_MOD, "recovering: reopening the WAL and replaying", NULL);
    /* the sealed memtable goes to a segment first: it holds every
     * acknowledged record up to its last sequence number (and maybe a few
     * never acknowledged ones, which a retry would rewrite identically) */
    while (s->sealed && eng_store_flush_sealed(s) != 0 && !s->stop)
        ne_time_sleep_ns(200000000);
    pthread_mutex_lock(&s->mu);
    while (s->wal_users > 0)
        pthread_cond_wait(&s->cv, &s->mu);
    struct eng_wal *w = s->wal;
    s->wal = NULL;
    struct eng_memtable *old = s->active, *m = NULL;
    int rc = eng_mt_new(s->next_mt_gen, s->mt_pool, &m);
    if (!rc) {
        s->next_mt_gen++;
        s->active = m;
    }
    pthread_mutex_unlock(&s->mu);
    if (rc) {
        s->wal = w;
        return; /* try again later */
    }
    eng_wal_close(&w); /* cuts the file back to its durable offset */
    eng_mt_free(&old);
    struct eng_replay_report rep;
    rc = replay_wal(s, &rep);
    if (!rc) rc = wal_start(s, &rep);
    pthread_mutex_lock(&s->mu);
    if (!rc) {
        atomic_store(&s->state, ENG_OK);
        s->why[0] = 0;
        ne_metric_inc(s->m_recoveries);
        ne_log(NE_LOG_INFO, ENG_MOD, "recovered: writes accepted again", NULL);
    } else {
        ne_log(NE_LOG_ERROR, ENG_MOD, "recovery failed; will retry", "err", ne_strerror(rc), NULL);
        snprintf(s->why, sizeof s->why, "WAL recovery failed: %s", ne_strerror(rc));
    }
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

/* ---- background flusher -------------------------------------------------------------- */

static void timed_wait(struct ne_store *s, int64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t t = ts.tv_nsec + ns;
    ts.tv_sec += t / 1000000000;
    ts.tv_nsec = t % 1000000000;
    pthread_cond_timedwait(&s->cv, &s->mu, &ts);
}

/* True while a flush should wait for the merge in progress (see
 * FLUSH_HOLD_SEGS); *since is when the wait began (0: none). mu held. */
static bool flush_held(const struct ne_store *s, int64_t *since)
{
    int64_t now = ne_time_mono_ns();
    if (!s->compacting || s->nsegs < FLUSH_HOLD_SEGS) {
        *since = 0;
        return false;
    }
    if (!*since) *since = now;
    return now - *since < FLUSH_HOLD_NS;
}

static void *flusher_main(void *arg)
{
    struct ne_store *s = arg;
    int64_t backoff = 0, held = 0;
    pthread_mutex_lock(&s->mu);
    while (!s->stop) {
        if (s->wal && eng_wal_failed(s->wal) && atomic_load(&s->state) == ENG_OK) {
            /* a background fdatasync failed */
            atomic_store(&s->state, ENG_FAILED);
            snprintf(s->why, sizeof s->why, "WAL sync failed: recovering");
        }
        if (atomic_load(&s->state) != ENG_OK) {
            pthread_mutex_unlock(&s->mu);
            recover(s);
            pthread_mutex_lock(&s->mu);
            if (atomic_load(&s->state) != ENG_OK) timed_wait(s, 200000000);
            continue;
        }
        if (s->sealed && !s->flushing && !backoff && flush_held(s, &held)) {
            timed_wait(s, 20000000);
            continue;
        }
        if (s->sealed && !s->flushing && !backoff) {
            held = 0;
            pthread_mutex_unlock(&s->mu);
            int rc = eng_store_flush_sealed(s);
            pthread_mutex_lock(&s->mu);
            backoff = rc ? 200000000 : 0;
            continue;
        }
        int64_t age = s->o.memtable_max_age_ns;
        if (!s->sealed && age > 0 && s->active->first_mono &&
            ne_time_mono_ns() - s->active->first_mono >= age)
            (void)seal_locked(s);
        /* nothing written since the last flush: the memory kept for the
         * next memtables goes back (writes that come take it anew) */
        if (!s->sealed && !s->active->values) eng_mt_pool_trim(s->mt_pool);
        timed_wait(s, backoff ? backoff : 100000000);
        backoff = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- open / close ----------------------------------------------------------------------- */

static char *path_join(const char *a, const char *b)
{
    size_t n = strlen(a) + strlen(b) + 2;
    char *p = ne_malloc(n);
    if (p) snprintf(p, n, "%s/%s", a, b);
    return p;
}

static void metrics_init(struct ne_store *s)
{
    s->m_points = ne_metric_counter("neoedge_store_points_written_total",
                                    "Points stored (acknowledged or pending)", NULL);
    s->m_values =
        ne_metric_counter("neoedge_store_values_written_total", "Field values stored", NULL);
    for (int i = 0; i < NE_REJ__COUNT; i++) {
        char l[64];
        snprintf(l, sizeof l, "reason=\"%s\"", reject_names[i]);
        s->m_rej[i] = ne_metric_counter("neoedge_store_points_rejected_total",
                                        "Points refused by the store, by reason", l);
    }
    s->m_flushes = ne_metric_counter("neoedge_store_flushes_total", "Memtables flushed", NULL);
    s->m_segments = ne_metric_gauge("neoedge_store_segments", "Segments on disk", NULL);
    s->m_seg_bytes =
        ne_metric_gauge("neoedge_store_segment_bytes", "Bytes of segments on disk", NULL);
    s->m_mt_bytes =
        ne_metric_gauge("neoedge_store_memtable_bytes", "Bytes held by memtables", NULL);
    s->m_evicted = ne_metric_counter("neoedge_store_segments_evicted_total",
                                     "Segments dropped by retention", NULL);
    s->m_evicted_bytes =
        ne_metric_counter("neoedge_store_evicted_bytes_total", "Bytes dropped by retention", NULL);
    s->m_evicted_unsynced = ne_metric_counter(
        "neoedge_store_segments_evicted_unsynced_total",
        "Segments retention dropped before every sink delivered them", NULL);
    s->m_quarantined = ne_metric_counter("neoedge_store_quarantined_files_total",
                                         "Corrupt files set aside at recovery", NULL);
    s->m_recoveries = ne_metric_counter("neoedge_store_recoveries_total",
                                        "WAL reopen-and-replay after a failed fsync", NULL);
    s->m_compactions = ne_metric_counter("neoedge_store_compactions_total", "Segment merges", NULL);
    s->m_flush_bytes = ne_metric_counter("neoedge_store_flush_bytes_total",
                                         "Segment bytes written by memtable flushes", NULL);
    s->m_compact_bytes = ne_metric_counter("neoedge_store_compaction_bytes_total",
                                           "Segment bytes written by merges", NULL);
    s->m_series = ne_metric_gauge("neoedge_store_series", "Series in the index", NULL);
    s->m_backpressure = ne_metric_counter("neoedge_store_backpressure_total",
                                          "Writes refused with busy (memtable budget)", NULL);
    s->m_nospc = ne_metric_counter("neoedge_store_disk_full_total",
                                   "Writes refused because the disk is full", NULL);
}

static int open_dirs(struct ne_store *s)
{
    s->root = path_join(s->o.data_dir, "store");
    s->wal_dir = s->root ? path_join(s->root, "wal") : NULL;
    s->seg_dir = s->root ? path_join(s->root, "seg") : NULL;
    if (!s->seg_dir || !s->wal_dir) return NE_ENOMEM;
    int rc = ne_fs_mkdir_p(s->wal_dir);
    if (!rc) rc = ne_fs_mkdir_p(s->seg_dir);
    if (!rc) rc = ne_fs_lock_dir(s->root, &s->lock_fd);
    return rc;
}

static int load_segments(struct ne_store *s)
{
    int rc = ne_seg_clean_tmp(s->seg_dir);
    struct seg_scan sc = {.s = s};
    if (!rc) rc = ne_fs_list_dir(s->seg_dir, seg_list_cb, &sc);
    if (rc) return rc;
    drop_superseded(s);
    eng_reap(s);
    uint64_t ck;
    if ((rc = ck_read(s, &ck))) return rc;
    s->flushed_seq = ck;
    for (size_t i = 0; i < s->nsegs; i++)
        if (s->segs[i]->seq_max > s->flushed_seq) s->flushed_seq = s->segs[i]->seq_max;
    return 0;
}

static void store_free(struct ne_store *s)
{
    eng_wal_close(&s->wal);
    eng_mt_free(&s->active);
    eng_mt_free(&s->sealed);
    eng_mt_pool_free(&s->mt_pool);
    for (size_t i = 0; i < s->nsegs; i++)
        eng_seg_unref(s, s->segs[i]);
    ne_free(s->segs);
    eng_reap(s);
    eng_index_close(&s->ix);
    ne_free(s->same_tag0);
    ne_free(s->same_fslots);
    if (s->lock_fd >= 0) ne_fs_unlock_dir(s->lock_fd);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    ne_free(s->root);
    ne_free(s->wal_dir);
    ne_free(s->seg_dir);
    ne_free((void *)s->o.data_dir);
    ne_free(s);
}

/* Seals and flushes without the flusher thread (open time). */
static int flush_inline(struct ne_store *s)
{
    pthread_mutex_lock(&s->mu);
    int rc = s->sealed ? 0 : seal_locked(s);
    pthread_mutex_unlock(&s->mu);
    return rc ? rc : eng_store_flush_sealed(s);
}

int ne_store_open(const struct ne_store_opts *opts, struct ne_store **out)
{
    if (!opts || !opts->data_dir || !out) return NE_EINVAL;
    struct ne_store *s = ne_calloc(1, sizeof *s);
    if (!s) return NE_ENOMEM;
    s->o = *opts;
    s->lock_fd = -1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_cond_init(&s->cv, &ca);
    pthread_condattr_destroy(&ca);
    s->o.data_dir = ne_strdup(opts->data_dir);
    if (!s->o.memtable_bytes) s->o.memtable_bytes = DEFAULT_MEMTABLE_BYTES;
    if (!s->o.segment_target_bytes) s->o.segment_target_bytes = DEFAULT_SEGMENT_BYTES;
    s->next_mt_gen = 2;
    s->next_seg_id = 1;
    metrics_init(s);
    int rc = s->o.data_dir ? open_dirs(s) : NE_ENOMEM;
    if (!rc) rc = load_segments(s);
    if (!rc)
        rc = eng_index_open(s->root, s->o.max_series_per_db, s->o.max_series_per_measurement,
                            &s->ix);
    if (!rc) {
        pthread_mutex_lock(&s->mu);
        eng_del_open(s); /* before replay: it raises flushed_seq */
        pthread_mutex_unlock(&s->mu);
    }
    if (!rc) rc = eng_mt_pool_new(s->o.memtable_bytes, &s->mt_pool);
    if (!rc && !(rc = eng_mt_new(s->next_mt_gen, s->mt_pool, &s->active))) s->next_mt_gen++;
    struct eng_replay_report rep = {0};
    if (!rc) rc = replay_wal(s, &rep);
    if (!rc) rc = wal_start(s, &rep);
    if (!rc && (rep.quarantined || (s->o.durability == NE_STORE_NONE && rep.records)))
        rc = flush_inline(s);
    if (!rc && s->o.durability == NE_STORE_NONE && rep.files)
        rc = eng_wal_remove_all(s->wal_dir); /* left by a run with a WAL: now in segments */
    if (!rc && pthread_create(&s->flusher, NULL, flusher_main, s) == 0)
        s->has_flusher = true;
    else if (!rc)
        rc = NE_ENOMEM;
    if (!rc && pthread_create(&s->compactor, NULL, eng_compactor_main, s) == 0)
        s->has_compactor = true;
    else if (!rc)
        rc = NE_ENOMEM;
    if (rc) {
        ne_log(NE_LOG_ERROR, ENG_MOD, "cannot open the store", "dir", opts->data_dir, "err",
               ne_strerror(rc), NULL);
        ne_store_close(&s);
        return rc;
    }
    pthread_mutex_lock(&s->mu);
    eng_update_gauges(s);
    pthread_mutex_unlock(&s->mu);
    *out = s;
    return 0;
}

static void stop_thread(struct ne_store *s, pthread_t t, bool *has, bool *stop)
{
    if (!*has) return;
    pthread_mutex_lock(&s->mu);
    *stop = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    pthread_join(t, NULL);
    *has = false;
}

void ne_store_close(struct ne_store **sp)
{
    struct ne_store *s = sp ? *sp : NULL;
    if (!s) return;
    stop_thread(s, s->compactor, &s->has_compactor, &s->stop_compactor);
    if (s->has_flusher && atomic_load(&s->state) == ENG_OK) (void)ne_store_flush(s);
    stop_thread(s, s->flusher, &s->has_flusher, &s->stop);
    store_free(s);
    *sp = NULL;
}

/* ---- stats and hooks ----------------------------------------------------------------------- */

void ne_store_stats(struct ne_store *s, struct ne_store_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    out->points_written = s->points_written;
    out->values_written = s->values_written;
    out->wal_bytes = s->wal ? eng_wal_bytes(s->wal) : 0;
    for (size_t i = 0; i < s->nsegs; i++)
        out->segment_bytes += s->segs[i]->bytes;
    out->segments = s->nsegs;
    out->memtable_bytes = s->active->bytes + (s->sealed ? s->sealed->bytes : 0);
    out->series = eng_index_nlive(s->ix);
    out->disk_budget_bytes = s->o.retention_max_disk_bytes;
    out->disk_full = atomic_load(&s->disk_full);
    out->failed = atomic_load(&s->state) != ENG_OK;
    snprintf(out->why, sizeof out->why, "%s", s->why);
    pthread_mutex_unlock(&s->mu);
}

void ne_store_set_synced_seq(struct ne_store *s, uint64_t seq)
{
    pthread_mutex_lock(&s->mu);
    if (seq > s->synced_seq) s->synced_seq = seq;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

static void seg_desc(const struct eng_seg *g, struct ne_store_seg_desc *d)
{
    const struct ne_seg_info *in = ne_seg_info(g->r);
    *d = (struct ne_store_seg_desc){.id = g->id,
                                    .seq_min = g->seq_min,
                                    .seq_max = g->seq_max,
                                    .min_ts = g->min_ts,
                                    .max_ts = g->max_ts,
                                    .sealed_ns = g->sealed_ns,
                                    .bytes = g->bytes,
                                    .points = in->npoints};
    snprintf(d->path, sizeof d->path, "%s", ne_seg_path_of(g->r));
}

size_t ne_store_segments_after(struct ne_store *s, uint64_t after_seq,
                               struct ne_store_seg_desc *out, size_t max,
                               struct ne_store_backlog *backlog)
{
    size_t n = 0;
    struct ne_store_backlog b = {0};
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nsegs; i++) { /* ordered by seq_min */
        const struct eng_seg *g = s->segs[i];
        if (g->seq_max <= after_seq) continue;
        if (n < max) seg_desc(g, &out[n++]);
        b.segments++;
        b.bytes += g->bytes;
        if (!b.oldest_sealed_ns || g->sealed_ns < b.oldest_sealed_ns)
            b.oldest_sealed_ns = g->sealed_ns;
    }
    pthread_mutex_unlock(&s->mu);
    if (backlog) *backlog = b;
    return n;
}
