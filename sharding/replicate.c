/*
 * replicate.c - forwarding accepted writes to their shards' other owners
 * through durable per-peer hint queues (see replicate.h).
 *
 * Locks, in the order they may nest:
 *   ring_lock (rwlock)  the ring writes are placed with; read-held while a
 *                       write is split and appended;
 *   peers_mu            the peer table (peers are only ever added);
 *   peer->mu            a sender's wake-up flag and figures;
 *   the queue's own lock (hintq.c).
 * A sender thread never holds a lock across a transport call.
 */
#include "sharding/replicate.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/metrics.h"
#include "ports/platform.h"
#include "sharding/cluster.h"
#include "sharding/hintq.h"
#include "sharding/tomb.h"
#include "sharding/wire.h"

#define MOD           "replication"
#define MAX_PEERS     256
#define DB_MAX        255
#define DB_VERSIONED  0x8000u /* db_len flag: points carry versions */
#define DB_KEEPER     0x4000u /* db_len flag: for a peer keeping their shards */
#define DB_FLAGS      (DB_VERSIONED | DB_KEEPER)
#define REC_TOMB      0x2000u /* first u16 of a tombstone record (replicate.h) */
#define BACKOFF_MIN   (100 * 1000000LL)
#define BACKOFF_MAX   (2000 * 1000000LL)
#define GAUGE_EVERY   (1000 * 1000000LL)
#define DEFAULT_BATCH (1u << 20)
#define BATCH_MAX     (8u << 20)
#define RECORD_MAX    (4u << 20) /* + BATCH_MAX stays below NE_FRAME_MAX */
#define PATH_LEN      1100

struct peer {
    char id[NE_NODE_ID_MAX + 1];
    struct ne_replicator *r;
    struct ne_hintq *q;
    pthread_t th;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool kick;
    /* sender state (sender thread only) */
    int64_t backoff_ns, retry_at;
    int64_t last_sync;
    bool failing;
    struct ne_hintq_batch batch;
    struct ne_pbuf req, reply;
    /* figures */
    atomic_uint_fast64_t sent_points;
    atomic_uint_fast64_t keeper_points;             /* queued in keeper records */
    uint64_t seen_window, seen_bytes, seen_corrupt; /* dropped counts already in metrics */
    struct ne_metric *m_bytes, *m_records, *m_lag, *m_sent, *m_drop_window, *m_drop_bytes,
        *m_drop_corrupt;
};

/* A peer keeping shards while they move (ne_replicator_set_keepers). */
struct keeper {
    char id[NE_NODE_ID_MAX + 1];
    uint8_t *holds; /* keep_shards bits */
};

struct ne_replicator {
    struct ne_replicator_opts o;
    char node_id[NE_NODE_ID_MAX + 1];
    char *hint_dir;
    pthread_rwlock_t ring_lock; /* ring, self and the keepers */
    struct ne_ring *ring;
    int self; /* index of this node in ring, or -1 */
    struct keeper *keep;
    size_t nkeep;
    uint32_t keep_shards;
    pthread_mutex_t peers_mu;
    struct peer *peers[MAX_PEERS];
    size_t npeers;
    atomic_bool stop;
    struct ne_metric *m_received, *m_skipped;
};

static void keepers_free(struct keeper *k, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ne_free(k[i].holds);
    ne_free(k);
}

/* ---- the record codec ----------------------------------------------------- */

static int put_str(struct ne_pbuf *o, struct ne_sv s)
{
    int rc = ne_wire_put_u32(o, s.n);
    return rc ? rc : ne_wire_put(o, s.p, s.n);
}

static int put_value(struct ne_pbuf *o, const struct ne_field *f)
{
    int rc = ne_wire_put(o, &f->type, 1);
    if (rc != 0) return rc;
    switch (f->type) {
    case NE_V_FLOAT: {
        uint64_t u;
        memcpy(&u, &f->v.f, sizeof u);
        return ne_wire_put_u64(o, u);
    }
    case NE_V_INT:
        return ne_wire_put_u64(o, (uint64_t)f->v.i);
    case NE_V_UINT:
        return ne_wire_put_u64(o, f->v.u);
    case NE_V_BOOL: {
        uint8_t b = f->v.b ? 1 : 0;
        return ne_wire_put(o, &b, 1);
    }
    case NE_V_STRING:
        return put_str(o, f->v.s);
    default:
        return NE_EINVAL;
    }
}

static int put_point(struct ne_pbuf *o, const struct ne_batch *b, const struct ne_point *p)
{
    if (p->ts == NE_TS_UNSET || p->ntags > UINT16_MAX || p->nfields > UINT16_MAX) return NE_EINVAL;
    int rc = put_str(o, p->meas);
    if (rc == 0) rc = ne_wire_put_u64(o, (uint64_t)p->ts);
    if (rc == 0) rc = ne_wire_put_u16(o, (uint16_t)p->ntags);
    const struct ne_tag *t = ne_point_tags(b, p);
    for (uint32_t i = 0; rc == 0 && i < p->ntags; i++) {
        rc = put_str(o, t[i].key);
        if (rc == 0) rc = put_str(o, t[i].val);
    }
    if (rc == 0) rc = ne_wire_put_u16(o, (uint16_t)p->nfields);
    const struct ne_field *f = ne_point_fields(b, p);
    for (uint32_t i = 0; rc == 0 && i < p->nfields; i++) {
        rc = put_str(o, f[i].key);
        if (rc == 0) rc = put_value(o, &f[i]);
    }
    return rc;
}

/* ne_repl_encode with the record flags (DB_KEEPER) added to db_len. */
static int encode(struct ne_pbuf *out, const char *db, const struct ne_batch *b,
                  const uint64_t *ver, const uint32_t *idx, size_t n, uint16_t flags)
{
    size_t dl = strlen(db), start = out->len;
    if (dl > DB_MAX || n > UINT32_MAX) return NE_EINVAL;
    int rc = ne_wire_put_u16(out, (uint16_t)(dl | flags | (ver ? DB_VERSIONED : 0)));
    if (rc == 0) rc = ne_wire_put(out, db, dl);
    if (rc == 0) rc = ne_wire_put_u32(out, (uint32_t)n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (ver) rc = ne_wire_put_u64(out, ver[idx[i]]);
        if (rc == 0) rc = put_point(out, b, &b->pts[idx[i]]);
    }
    if (rc != 0) out->len = start;
    return rc;
}

int ne_repl_encode(struct ne_pbuf *out, const char *db, const struct ne_batch *b,
                   const uint64_t *ver, const uint32_t *idx, size_t n)
{
    return encode(out, db, b, ver, idx, n, 0);
}

static struct ne_sv get_str(struct ne_wire_rd *r)
{
    uint32_t n = ne_wire_u32(r);
    const uint8_t *p = ne_wire_take(r, n);
    struct ne_sv s = {p ? (const char *)p : "", p ? n : 0};
    return s;
}

static int get_value(struct ne_wire_rd *r, uint8_t type, union ne_value *v)
{
    switch (type) {
    case NE_V_FLOAT: {
        uint64_t u = ne_wire_u64(r);
        memcpy(&v->f, &u, sizeof u);
        return 0;
    }
    case NE_V_INT:
        v->i = (int64_t)ne_wire_u64(r);
        return 0;
    case NE_V_UINT:
        v->u = ne_wire_u64(r);
        return 0;
    case NE_V_BOOL: {
        const uint8_t *p = ne_wire_take(r, 1);
        if (p && *p > 1) return NE_ECORRUPT;
        v->b = p && *p;
        return 0;
    }
    case NE_V_STRING:
        v->s = get_str(r);
        return 0;
    default:
        return NE_ECORRUPT;
    }
}

static int get_point(struct ne_wire_rd *r, struct ne_batch *b)
{
    struct ne_sv meas = get_str(r);
    int64_t ts = (int64_t)ne_wire_u64(r);
    uint16_t nt = ne_wire_u16(r);
    if (r->bad || ts == NE_TS_UNSET) return NE_ECORRUPT;
    int rc = ne_batch_begin(b, meas, ts);
    for (uint16_t i = 0; rc == 0 && i < nt; i++) {
        struct ne_sv k = get_str(r), v = get_str(r);
        rc = r->bad ? NE_ECORRUPT : ne_batch_tag(b, k, v);
    }
    uint16_t nf = rc == 0 ? ne_wire_u16(r) : 0;
    for (uint16_t i = 0; rc == 0 && i < nf; i++) {
        struct ne_sv k = get_str(r);
        const uint8_t *t = ne_wire_take(r, 1);
        union ne_value v;
        memset(&v, 0, sizeof v);
        rc = t ? get_value(r, *t, &v) : NE_ECORRUPT;
        if (rc == 0) rc = r->bad ? NE_ECORRUPT : ne_batch_field(b, k, (enum ne_vtype) * t, v);
    }
    if (rc != 0) {
        ne_batch_abort(b);
        return rc;
    }
    /* a point the sender's store took has a field and a measurement */
    return ne_batch_end(b) == 0 ? 0 : NE_ECORRUPT;
}

void ne_repl_vers_free(struct ne_repl_vers *vs)
{
    ne_free(vs->v);
    memset(vs, 0, sizeof *vs);
}

/* Sets the version of point i (growing the array). */
static int vers_set(struct ne_repl_vers *vs, uint32_t i, uint64_t ver)
{
    if (!vs) return 0;
    if (i >= vs->cap) {
        size_t nc = vs->cap ? vs->cap * 2 : 256;
        while (nc <= i)
            nc *= 2;
        uint64_t *v = ne_realloc(vs->v, nc * sizeof *v);
        if (!v) return NE_ENOMEM;
        vs->v = v;
        vs->cap = nc;
    }
    vs->v[i] = ver;
    if (ver) vs->any = true;
    return 0;
}

/* Decodes one record, appending its points to b and their versions;
 * *keeper (may be NULL) tells whether it is a keeper record. */
static int decode_append(const uint8_t *p, size_t n, char *db, struct ne_batch *b,
                         struct ne_repl_vers *vs, bool *keeper)
{
    struct ne_wire_rd r = {.p = p, .n = n};
    uint16_t dl = ne_wire_u16(&r);
    bool versioned = (dl & DB_VERSIONED) != 0;
    if (keeper) *keeper = (dl & DB_KEEPER) != 0;
    dl &= (uint16_t)~DB_FLAGS;
    const uint8_t *d = ne_wire_take(&r, dl);
    if (!d || dl > DB_MAX || dl == 0) return NE_ECORRUPT;
    memcpy(db, d, dl);
    db[dl] = '\0';
    uint32_t np = ne_wire_u32(&r);
    if (r.bad) return NE_ECORRUPT;
    for (uint32_t i = 0; i < np; i++) {
        uint64_t ver = versioned ? ne_wire_u64(&r) : 0;
        if (r.bad) return NE_ECORRUPT;
        uint32_t at = b->npts;
        int rc = get_point(&r, b);
        if (rc == 0) rc = vers_set(vs, at, ver);
        if (rc != 0) return rc;
    }
    return r.off == n ? 0 : NE_ECORRUPT;
}

int ne_repl_decode(const uint8_t *p, size_t n, char *db, struct ne_batch *b,
                   struct ne_repl_vers *vs)
{
    ne_batch_reset(b);
    if (vs) vs->any = false;
    return decode_append(p, n, db, b, vs, NULL);
}

/* ---- peers ---------------------------------------------------------------- */

/* The directory name of a peer: its id, with a leading '.' written %2E so
 * that "." and ".." stay ordinary names (ids never hold '%'). */
static void peer_dir(const struct ne_replicator *r, const char *id, char *out, size_t n)
{
    if (id[0] == '.')
        snprintf(out, n, "%s/%%2E%s", r->hint_dir, id + 1);
    else
        snprintf(out, n, "%s/%s", r->hint_dir, id);
}

static void peer_metrics(struct peer *p)
{
    char l[128], ld[192];
    snprintf(l, sizeof l, "peer=\"%s\"", p->id); /* ids: letters, digits, - _ . */
    p->m_bytes =
        ne_metric_gauge("neoedge_replication_queue_bytes",
                        "Bytes queued for a peer (hints included), not yet acknowledged", l);
    p->m_records = ne_metric_gauge("neoedge_replication_queue_records",
                                   "Write records queued for a peer, not yet acknowledged", l);
    p->m_lag = ne_metric_gauge("neoedge_replication_lag_seconds",
                               "Age of the oldest write record a peer has not acknowledged", l);
    p->m_sent =
        ne_metric_counter("neoedge_replication_sent_points_total", "Points a peer acknowledged", l);
    const char *help = "Points given up for a peer: older than hint_window, over "
                       "hint_max_size, or unreadable";
    snprintf(ld, sizeof ld, "%s,reason=\"hint_window\"", l);
    p->m_drop_window = ne_metric_counter("neoedge_replication_dropped_points_total", help, ld);
    snprintf(ld, sizeof ld, "%s,reason=\"max_bytes\"", l);
    p->m_drop_bytes = ne_metric_counter("neoedge_replication_dropped_points_total", help, ld);
    snprintf(ld, sizeof ld, "%s,reason=\"corrupt\"", l);
    p->m_drop_corrupt = ne_metric_counter("neoedge_replication_dropped_points_total", help, ld);
}

static void count_drop(struct peer *p, uint64_t now_total, uint64_t *seen, struct ne_metric *m,
                       const char *reason)
{
    if (now_total <= *seen) return;
    uint64_t d = now_total - *seen;
    *seen = now_total;
    ne_metric_add(m, d);
    char num[24];
    snprintf(num, sizeof num, "%" PRIu64, d);
    ne_log(NE_LOG_WARN, MOD, "points for a peer dropped from its hint queue: lost for it", "peer",
           p->id, "reason", reason, "points", num, NULL);
}

/* Publishes the queue's figures (sender thread, and after appends). */
static void peer_update_metrics(struct peer *p)
{
    struct ne_hintq_stats st;
    pthread_mutex_lock(&p->mu); /* read and publish as one step: the last caller wins */
    ne_hintq_stats(p->q, &st);
    ne_metric_set(p->m_bytes, (double)st.bytes);
    ne_metric_set(p->m_records, (double)st.records);
    double lag = 0;
    if (st.records && st.oldest) {
        int64_t age = ne_time_wall_ns() - st.oldest;
        lag = age > 0 ? (double)age / 1e9 : 0;
    }
    ne_metric_set(p->m_lag, lag);
    count_drop(p, st.dropped_age, &p->seen_window, p->m_drop_window, "hint_window");
    count_drop(p, st.dropped_bytes, &p->seen_bytes, p->m_drop_bytes, "max_bytes");
    count_drop(p, st.dropped_corrupt, &p->seen_corrupt, p->m_drop_corrupt, "corrupt");
    pthread_mutex_unlock(&p->mu);
}

static void *sender_main(void *arg);

static void peer_free(struct peer *p)
{
    if (!p) return;
    ne_hintq_close(&p->q);
    ne_hintq_batch_free(&p->batch);
    ne_pbuf_free(&p->req);
    ne_pbuf_free(&p->reply);
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    ne_free(p);
}

/* Opens the queue of peer id and starts its sender. peers_mu held. */
static int peer_add(struct ne_replicator *r, const char *id, struct peer **out)
{
    if (r->npeers == MAX_PEERS) return NE_ELIMIT;
    struct peer *p = ne_calloc(1, sizeof *p);
    if (!p) return NE_ENOMEM;
    snprintf(p->id, sizeof p->id, "%s", id);
    p->r = r;
    pthread_mutex_init(&p->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    char dir[PATH_LEN];
    peer_dir(r, id, dir, sizeof dir);
    struct ne_hintq_opts qo = {
        .dir = dir,
        .name = p->id,
        .file_bytes = r->o.file_bytes,
        .max_bytes = r->o.hint_max_bytes,
        .max_age_ns = r->o.hint_window_ns,
        .sync = r->o.durability == NE_STORE_SYNC,
        .sync_interval_ns = r->o.durability == NE_STORE_INTERVAL ? r->o.max_lag_ns : 0,
    };
    int rc = ne_hintq_open(&qo, &p->q);
    if (rc != 0) {
        peer_free(p);
        return rc;
    }
    peer_metrics(p);
    peer_update_metrics(p);
    p->last_sync = ne_time_mono_ns();
    if (r->o.tp) {
        if (pthread_create(&p->th, NULL, sender_main, p) != 0) {
            peer_free(p);
            return NE_ENOMEM;
        }
        p->started = true;
    }
    r->peers[r->npeers++] = p;
    *out = p;
    return 0;
}

static struct peer *peer_find_locked(struct ne_replicator *r, const char *id)
{
    for (size_t i = 0; i < r->npeers; i++)
        if (strcmp(r->peers[i]->id, id) == 0) return r->peers[i];
    return NULL;
}

static int peer_get(struct ne_replicator *r, const char *id, struct peer **out)
{
    pthread_mutex_lock(&r->peers_mu);
    struct peer *p = peer_find_locked(r, id);
    int rc = p ? 0 : peer_add(r, id, &p);
    pthread_mutex_unlock(&r->peers_mu);
    if (rc != 0)
        ne_log(NE_LOG_ERROR, MOD, "cannot open the hint queue of a peer", "peer", id, "err",
               ne_strerror(rc), NULL);
    *out = p;
    return rc;
}

static void peer_kick(struct peer *p)
{
    pthread_mutex_lock(&p->mu);
    p->kick = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

/* ---- the sender ----------------------------------------------------------- */

static int64_t wake_interval(const struct ne_replicator *r)
{
    int64_t w = r->o.max_lag_ns / 2;
    if (w < 5 * 1000000LL) w = 5 * 1000000LL;
    return w > GAUGE_EVERY ? GAUGE_EVERY : w;
}

/* Sleeps until kicked, stopped or ns passed. */
static void sender_wait(struct peer *p, int64_t ns)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t t = (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec + ns;
    ts.tv_sec = t / 1000000000LL;
    ts.tv_nsec = t % 1000000000LL;
    pthread_mutex_lock(&p->mu);
    while (!p->kick && !atomic_load(&p->r->stop))
        if (pthread_cond_timedwait(&p->cv, &p->mu, &ts) != 0) break;
    p->kick = false;
    pthread_mutex_unlock(&p->mu);
}

/* Expiry by age, the cursor save and the interval-mode sync. */
static void sender_housekeeping(struct peer *p)
{
    const struct ne_replicator *r = p->r;
    (void)ne_hintq_expire(p->q, ne_time_wall_ns());
    int src = ne_hintq_save_cursor(p->q);
    if (src != 0)
        ne_log(NE_LOG_WARN, MOD, "cannot save a hint queue cursor (records may be sent again)",
               "peer", p->id, "err", ne_strerror(src), NULL);
    int64_t now = ne_time_mono_ns();
    if (r->o.durability == NE_STORE_INTERVAL && now - p->last_sync >= r->o.max_lag_ns / 2) {
        int rc = ne_hintq_sync(p->q);
        if (rc != 0)
            ne_log(NE_LOG_ERROR, MOD, "cannot sync a hint queue", "peer", p->id, "err",
                   ne_strerror(rc), NULL);
        p->last_sync = now;
    }
}

static int encode_request(struct peer *p)
{
    struct ne_pbuf *o = &p->req;
    o->len = 0;
    int rc = ne_wire_put_u32(o, (uint32_t)p->batch.n);
    for (size_t i = 0; rc == 0 && i < p->batch.n; i++) {
        const struct ne_hintq_rec *rec = &p->batch.recs[i];
        rc = ne_wire_put_u32(o, rec->len);
        if (rc == 0) rc = ne_wire_put(o, p->batch.buf.p + rec->at, rec->len);
    }
    return rc;
}

static void sender_failed(struct peer *p, int rc)
{
    int64_t now = ne_time_mono_ns();
    p->backoff_ns = p->backoff_ns ? p->backoff_ns * 2 : BACKOFF_MIN;
    if (p->backoff_ns > BACKOFF_MAX) p->backoff_ns = BACKOFF_MAX;
    p->retry_at = now + p->backoff_ns;
    if (!p->failing)
        ne_log(NE_LOG_WARN, MOD, "cannot deliver to a peer: keeping its writes as hints", "peer",
               p->id, "err", ne_strerror(rc), NULL);
    p->failing = true;
}

static void sender_ok(struct peer *p)
{
    if (p->failing)
        ne_log(NE_LOG_INFO, MOD, "peer reachable again: draining its hints", "peer", p->id, NULL);
    p->failing = false;
    p->backoff_ns = 0;
}

/* Sends one batch. Returns 1 when a batch was acknowledged, 0 when the
 * queue is empty, or a negative code. */
static int send_one(struct peer *p, const char *addr)
{
    struct ne_replicator *r = p->r;
    int rc = ne_hintq_peek(p->q, r->o.batch_bytes, &p->batch);
    if (rc != 0 || p->batch.n == 0) return rc;
    if ((rc = encode_request(p)) != 0) return rc;
    uint8_t type = 0;
    rc = ne_transport_call(r->o.tp, p->id, addr, NE_FT_WRITE_BATCH, p->req.p, p->req.len, &p->reply,
                           &type);
    if (rc == 0 && type != NE_FT_WRITE_ACK) rc = NE_ECORRUPT;
    if (rc != 0) return rc;
    rc = ne_hintq_ack(p->q, &p->batch);
    if (rc != 0)
        ne_log(NE_LOG_WARN, MOD, "cannot save a hint queue cursor (records may be sent again)",
               "peer", p->id, "err", ne_strerror(rc), NULL);
    atomic_fetch_add(&p->sent_points, p->batch.points);
    ne_metric_add(p->m_sent, p->batch.points);
    return 1;
}

/* Sends batches until the queue is empty, the peer fails or stop. */
static void sender_drain(struct peer *p)
{
    struct ne_replicator *r = p->r;
    char addr[NE_ADDR_MAX + 8];
    int rc = r->o.peer_addr ? r->o.peer_addr(r->o.ctx, p->id, addr, sizeof addr) : NE_ENOTFOUND;
    if (rc != 0) {
        sender_failed(p, rc);
        return;
    }
    int64_t published = ne_time_mono_ns();
    while (!atomic_load(&r->stop)) {
        rc = send_one(p, addr);
        if (rc < 0) {
            sender_failed(p, rc);
            return;
        }
        if (rc == 0) break;
        sender_ok(p);
        if (ne_time_mono_ns() - published >= GAUGE_EVERY) { /* a long drain */
            peer_update_metrics(p);
            published = ne_time_mono_ns();
        }
    }
}

static void *sender_main(void *arg)
{
    struct peer *p = arg;
    struct ne_replicator *r = p->r;
    int64_t wake = wake_interval(r);
    while (!atomic_load(&r->stop)) {
        int64_t now = ne_time_mono_ns();
        int64_t wait = wake;
        if (p->failing && p->retry_at - now < wait) wait = p->retry_at - now;
        if (wait > 0) sender_wait(p, wait);
        if (atomic_load(&r->stop)) break;
        sender_housekeeping(p);
        struct ne_hintq_stats st;
        ne_hintq_stats(p->q, &st);
        if (st.records && (!p->failing || ne_time_mono_ns() >= p->retry_at)) sender_drain(p);
        peer_update_metrics(p);
    }
    return NULL;
}

/* ---- start, stop ---------------------------------------------------------- */

static int peer_id_of_dir(const char *name, char *id, size_t n)
{
    if (strncmp(name, "%2E", 3) == 0)
        snprintf(id, n, ".%s", name + 3);
    else
        snprintf(id, n, "%s", name);
    size_t len = strlen(id);
    if (len == 0 || len > NE_NODE_ID_MAX) return NE_EINVAL;
    for (const char *c = id; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '_' || *c == '.'))
            return NE_EINVAL;
    return 0;
}

static int open_existing(void *ctx, const char *name, bool is_dir)
{
    struct ne_replicator *r = ctx;
    char id[NE_NODE_ID_MAX + 8];
    if (!is_dir || peer_id_of_dir(name, id, sizeof id) != 0 || strcmp(id, r->node_id) == 0)
        return 0;
    struct peer *p;
    int rc = peer_get(r, id, &p);
    if (rc != 0) return rc;
    struct ne_hintq_stats st;
    ne_hintq_stats(p->q, &st);
    if (st.records) {
        char num[24];
        snprintf(num, sizeof num, "%" PRIu64, st.points);
        ne_log(NE_LOG_INFO, MOD, "hints from a previous run will be replayed", "peer", id, "points",
               num, NULL);
    }
    return 0;
}

int ne_replicator_start(const struct ne_replicator_opts *o, struct ne_replicator **out)
{
    *out = NULL;
    if (!o || !o->node_id || !o->node_id[0] || strlen(o->node_id) > NE_NODE_ID_MAX ||
        !o->hint_dir || !o->hint_dir[0])
        return NE_EINVAL;
    struct ne_replicator *r = ne_calloc(1, sizeof *r);
    if (!r) return NE_ENOMEM;
    r->o = *o;
    if (r->o.max_lag_ns <= 0) r->o.max_lag_ns = 1000000000LL;
    if (!r->o.batch_bytes) r->o.batch_bytes = DEFAULT_BATCH;
    if (r->o.batch_bytes > BATCH_MAX) r->o.batch_bytes = BATCH_MAX;
    snprintf(r->node_id, sizeof r->node_id, "%s", o->node_id);
    r->o.node_id = r->node_id;
    r->hint_dir = ne_strdup(o->hint_dir);
    r->o.hint_dir = r->hint_dir;
    r->self = -1;
    pthread_rwlock_init(&r->ring_lock, NULL);
    pthread_mutex_init(&r->peers_mu, NULL);
    r->m_received = ne_metric_counter("neoedge_replication_received_points_total",
                                      "Points received from peers and stored here", NULL);
    r->m_skipped = ne_metric_counter(
        "neoedge_replication_keeper_skipped_points_total",
        "Points sent to this node as a keeper of a moving shard it had dropped since "
        "(their owners got them): not stored",
        NULL);
    int rc = r->hint_dir ? ne_fs_mkdir_p(r->hint_dir) : NE_ENOMEM;
    if (rc == 0) rc = ne_fs_list_dir(r->hint_dir, open_existing, r);
    if (rc != 0) {
        ne_log(NE_LOG_ERROR, MOD, "cannot open the hint queues", "dir", o->hint_dir, "err",
               ne_strerror(rc), NULL);
        ne_replicator_stop(&r);
        return rc;
    }
    *out = r;
    return 0;
}

void ne_replicator_stop(struct ne_replicator **pr)
{
    struct ne_replicator *r = pr ? *pr : NULL;
    if (!r) return;
    *pr = NULL;
    atomic_store(&r->stop, true);
    for (size_t i = 0; i < r->npeers; i++)
        peer_kick(r->peers[i]);
    for (size_t i = 0; i < r->npeers; i++) {
        struct peer *p = r->peers[i];
        if (p->started) pthread_join(p->th, NULL);
        peer_free(p);
    }
    ne_ring_free(&r->ring);
    keepers_free(r->keep, r->nkeep);
    pthread_rwlock_destroy(&r->ring_lock);
    pthread_mutex_destroy(&r->peers_mu);
    ne_free(r->hint_dir);
    ne_free(r);
}

/* Whether the keepers are k[0..n) already; ring_lock held. */
static bool keepers_same(const struct ne_replicator *r, uint32_t shards,
                         const struct ne_repl_keeper *k, size_t n)
{
    size_t nb = ((size_t)shards + 7) / 8;
    if (r->nkeep != n || (n && r->keep_shards != shards)) return false;
    for (size_t i = 0; i < n; i++)
        if (strcmp(r->keep[i].id, k[i].id) != 0 || memcmp(r->keep[i].holds, k[i].holds, nb) != 0)
            return false;
    return true;
}

int ne_replicator_set_keepers(struct ne_replicator *r, uint32_t shards,
                              const struct ne_repl_keeper *k, size_t n)
{
    /* called every second with what mostly did not change: the write lock
     * (which waits for every write being placed) only for a change */
    pthread_rwlock_rdlock(&r->ring_lock);
    bool same = keepers_same(r, shards, k, n);
    pthread_rwlock_unlock(&r->ring_lock);
    if (same) return 0;
    size_t nb = ((size_t)shards + 7) / 8;
    struct keeper *keep = n ? ne_calloc(n, sizeof *keep) : NULL;
    int rc = n && !keep ? NE_ENOMEM : 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        snprintf(keep[i].id, sizeof keep[i].id, "%s", k[i].id);
        keep[i].holds = ne_malloc(nb ? nb : 1);
        if (!keep[i].holds)
            rc = NE_ENOMEM;
        else if (nb)
            memcpy(keep[i].holds, k[i].holds, nb);
    }
    if (rc != 0) {
        keepers_free(keep, n);
        return rc;
    }
    pthread_rwlock_wrlock(&r->ring_lock);
    struct keeper *old = r->keep;
    size_t nold = r->nkeep;
    r->keep = keep;
    r->nkeep = n;
    r->keep_shards = shards;
    pthread_rwlock_unlock(&r->ring_lock);
    keepers_free(old, nold);
    return 0;
}

void ne_replicator_set_ring(struct ne_replicator *r, struct ne_ring *ring)
{
    pthread_rwlock_wrlock(&r->ring_lock);
    ne_ring_free(&r->ring);
    r->ring = ring;
    r->self = ring ? ne_ring_node_index(ring, r->node_id) : -1;
    pthread_rwlock_unlock(&r->ring_lock);
}

/* ---- submit --------------------------------------------------------------- */

/* Keeps all queues together within hint_max_bytes, trimming `grown`. */
static void enforce_budget(struct ne_replicator *r, struct peer *grown)
{
    if (!r->o.hint_max_bytes || !grown) return;
    uint64_t total = 0, mine = 0;
    pthread_mutex_lock(&r->peers_mu);
    for (size_t i = 0; i < r->npeers; i++) {
        struct ne_hintq_stats st;
        ne_hintq_stats(r->peers[i]->q, &st);
        total += st.bytes;
        if (r->peers[i] == grown) mine = st.bytes;
    }
    pthread_mutex_unlock(&r->peers_mu);
    if (total <= r->o.hint_max_bytes) return;
    uint64_t excess = total - r->o.hint_max_bytes;
    (void)ne_hintq_trim(grown->q, mine > excess ? mine - excess : 0);
}

/* Appends points idx[0..n) of b to p's queue, as records of at most
 * RECORD_MAX bytes (halving the slice until it fits), so that every batch
 * a sender reads fits in one transport frame. */
static int append_points(struct peer *p, const char *db, const struct ne_batch *b,
                         const uint64_t *ver, const uint32_t *idx, size_t n, uint16_t flags,
                         struct ne_pbuf *enc)
{
    enc->len = 0;
    int rc = encode(enc, db, b, ver, idx, n, flags);
    if (rc != 0) return rc;
    if (enc->len > RECORD_MAX && n > 1) {
        size_t half = n / 2;
        rc = append_points(p, db, b, ver, idx, half, flags, enc);
        return rc ? rc : append_points(p, db, b, ver, idx + half, n - half, flags, enc);
    }
    rc = ne_hintq_append(p->q, ne_time_wall_ns(), (uint32_t)n, enc->p, enc->len);
    if (rc == 0 && (flags & DB_KEEPER)) atomic_fetch_add(&p->keeper_points, n);
    return rc;
}

static const struct keeper *keeper_find(const struct ne_replicator *r, const char *id)
{
    for (size_t i = 0; i < r->nkeep; i++)
        if (strcmp(r->keep[i].id, id) == 0) return &r->keep[i];
    return NULL;
}

static bool keeps_shard(const struct ne_replicator *r, const struct keeper *kp, uint32_t shard)
{
    return kp && shard < r->keep_shards && (kp->holds[shard / 8] >> (shard % 8) & 1u);
}

/* Where one batch goes, per point: its shard, and scratch for the points
 * of one peer (those it owns, those it only keeps). */
struct placing {
    const char *db;
    const struct ne_batch *b;
    const uint64_t *ver;
    uint32_t *shard, *own, *kept;
    struct ne_pbuf enc;
};

/* Appends to peer id's queue the points of the batch whose shards it owns
 * (ring index k; -1: off the ring) and, in keeper records, those whose
 * shards it only keeps (kp; NULL: none). */
static int submit_to(struct ne_replicator *r, const char *id, int k, const struct keeper *kp,
                     struct placing *pl)
{
    size_t n = 0, nk = 0;
    for (uint32_t i = 0; i < pl->b->npts; i++) {
        if (k >= 0 && ne_ring_is_owner(r->ring, pl->shard[i], (uint32_t)k))
            pl->own[n++] = i;
        else if (keeps_shard(r, kp, pl->shard[i]))
            pl->kept[nk++] = i;
    }
    if (n == 0 && nk == 0) return 0;
    struct peer *p = NULL;
    int rc = peer_get(r, id, &p);
    if (rc == 0 && n) rc = append_points(p, pl->db, pl->b, pl->ver, pl->own, n, 0, &pl->enc);
    if (rc == 0 && nk)
        rc = append_points(p, pl->db, pl->b, pl->ver, pl->kept, nk, DB_KEEPER, &pl->enc);
    if (rc != 0) {
        ne_log(NE_LOG_ERROR, MOD, "cannot queue points for a peer", "peer", id, "err",
               ne_strerror(rc), NULL);
        return rc;
    }
    peer_update_metrics(p); /* the gauges never lag an append */
    peer_kick(p);
    enforce_budget(r, p);
    return 0;
}

int ne_replicator_submit(struct ne_replicator *r, const char *db, const struct ne_batch *b,
                         const uint64_t *ver)
{
    if (b->npts == 0) return 0;
    pthread_rwlock_rdlock(&r->ring_lock);
    /* a node off the ring (decommissioned) forwards everything it takes */
    if (!r->ring || (r->self >= 0 && ne_ring_nodes(r->ring) < 2 && r->nkeep == 0)) {
        pthread_rwlock_unlock(&r->ring_lock);
        return 0;
    }
    struct placing pl = {.db = db, .b = b, .ver = ver};
    pl.shard = ne_malloc(3 * (size_t)b->npts * sizeof *pl.shard);
    if (!pl.shard) {
        pthread_rwlock_unlock(&r->ring_lock);
        return NE_ENOMEM;
    }
    pl.own = pl.shard + b->npts;
    pl.kept = pl.own + b->npts;
    for (uint32_t i = 0; i < b->npts; i++) {
        const struct ne_point *p = &b->pts[i];
        uint64_t h = ne_ring_series_hash(p->meas, ne_point_tags(b, p), p->ntags);
        pl.shard[i] = ne_ring_shard_of_hash(r->ring, h);
    }
    int rc = 0;
    size_t nn = ne_ring_nodes(r->ring);
    for (uint32_t k = 0; k < nn; k++) { /* the ring's nodes, keepers or not */
        const char *id = ne_ring_node_name(r->ring, k);
        if ((int)k == r->self) continue;
        int e = submit_to(r, id, (int)k, keeper_find(r, id), &pl);
        if (e != 0 && rc == 0) rc = e;
    }
    for (size_t i = 0; i < r->nkeep; i++) { /* keepers off the ring (decommissioned) */
        const struct keeper *kp = &r->keep[i];
        if (strcmp(kp->id, r->node_id) == 0 || ne_ring_node_index(r->ring, kp->id) >= 0) continue;
        int e = submit_to(r, kp->id, -1, kp, &pl);
        if (e != 0 && rc == 0) rc = e;
    }
    pthread_rwlock_unlock(&r->ring_lock);
    ne_pbuf_free(&pl.enc);
    ne_free(pl.shard);
    return rc;
}

int ne_replicator_broadcast(struct ne_replicator *r, const char *const *peers, size_t n,
                            const void *rec, size_t len)
{
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(peers[i], r->node_id) == 0) continue;
        struct peer *p = NULL;
        int e = peer_get(r, peers[i], &p);
        if (e == 0) e = ne_hintq_append(p->q, ne_time_wall_ns(), 0, rec, len);
        if (e != 0) {
            ne_log(NE_LOG_ERROR, MOD, "cannot queue a deletion for a peer", "peer", peers[i], "err",
                   ne_strerror(e), NULL);
            if (rc == 0) rc = e;
            continue;
        }
        peer_update_metrics(p);
        peer_kick(p);
        enforce_budget(r, p);
    }
    return rc;
}

/* ---- receive -------------------------------------------------------------- */

struct tally {
    uint64_t accepted, rejected, skipped;
};

/* Keeps, of the points [from, to) of a keeper run, those whose shard this
 * node still keeps: moved to the front of a copy of the point array (and
 * of the versions), *n of them. Returns 0 or NE_ENOMEM. */
static int keeper_filter(struct ne_replicator *r, const struct ne_batch *b,
                         const struct ne_repl_vers *vs, uint32_t from, uint32_t to,
                         struct ne_point **pts, uint64_t **ver, uint32_t *n)
{
    *pts = ne_malloc((size_t)(to - from) * sizeof **pts);
    *ver = vs->any ? ne_malloc((size_t)(to - from) * sizeof **ver) : NULL;
    if (!*pts || (vs->any && !*ver)) return NE_ENOMEM;
    *n = 0;
    for (uint32_t i = from; i < to; i++) {
        const struct ne_point *p = &b->pts[i];
        if (!r->o.keeps(r->o.ctx, ne_ring_series_hash(p->meas, ne_point_tags(b, p), p->ntags)))
            continue;
        if (*ver) (*ver)[*n] = vs->v[i];
        (*pts)[(*n)++] = *p;
    }
    return 0;
}

/* Writes points [from, to) of b, all of database db, to the local store;
 * of a keeper run only the points of shards this node still keeps. */
static int write_run(struct ne_replicator *r, const char *peer_id, const char *db,
                     const struct ne_batch *b, const struct ne_repl_vers *vs, uint32_t from,
                     uint32_t to, bool keeper, struct tally *t)
{
    if (to == from) return 0;
    struct ne_batch run = *b;
    run.pts = b->pts + from;
    run.npts = to - from;
    const uint64_t *ver = vs->any ? vs->v + from : NULL;
    struct ne_point *kpts = NULL;
    uint64_t *kver = NULL;
    int rc = 0;
    if (keeper && r->o.keeps) {
        rc = keeper_filter(r, b, vs, from, to, &kpts, &kver, &run.npts);
        run.pts = kpts;
        ver = kver;
        t->skipped += (to - from) - run.npts;
    }
    struct ne_write_result res;
    memset(&res, 0, sizeof res);
    if (rc == 0 && run.npts) rc = r->o.local_write(r->o.ctx, db, &run, ver, &res);
    ne_free(kpts);
    ne_free(kver);
    if (rc != 0) return rc;
    t->accepted += res.accepted;
    t->rejected += res.rejected;
    if (res.rejected)
        ne_log(NE_LOG_WARN, MOD, "points from a peer refused by the store", "peer", peer_id, "db",
               db, "first", res.first_error, NULL);
    return 0;
}

/* Checks a WRITE_BATCH request: every record whole and decodable. */
static int check_request(const uint8_t *msg, size_t n, uint32_t *nrec, struct ne_batch *b)
{
    struct ne_wire_rd r = {.p = msg, .n = n};
    *nrec = ne_wire_u32(&r);
    char db[DB_MAX + 1];
    for (uint32_t i = 0; i < *nrec; i++) {
        uint32_t len = ne_wire_u32(&r);
        const uint8_t *p = ne_wire_take(&r, len);
        if (!p) return NE_ECORRUPT;
        int rc;
        if (ne_repl_is_tomb(p, len)) {
            struct ne_tomb *t = NULL;
            rc = ne_tomb_decode(p + 2, len - 2, &t);
            ne_free(t);
        } else {
            rc = ne_repl_decode(p, len, db, b, NULL);
        }
        if (rc != 0) return rc;
    }
    return r.bad || r.off != n ? NE_ECORRUPT : 0;
}

bool ne_repl_is_tomb(const uint8_t *p, size_t n)
{
    return n >= 2 && (p[0] | p[1] << 8) == REC_TOMB;
}

int ne_repl_encode_tomb(struct ne_pbuf *out, const struct ne_tomb *t)
{
    int rc = ne_wire_put_u16(out, REC_TOMB);
    return rc == 0 ? ne_tomb_encode(t, out) : rc;
}

/* Hands a tombstone record to local_tomb. */
static int take_tomb(struct ne_replicator *r, const char *peer_id, const uint8_t *p, size_t n)
{
    if (!r->o.local_tomb) return NE_EUNSUPPORTED;
    int rc = r->o.local_tomb(r->o.ctx, p + 2, n - 2);
    if (rc != 0)
        ne_log(NE_LOG_WARN, MOD, "a deletion from a peer could not be applied", "peer", peer_id,
               "err", ne_strerror(rc), NULL);
    return rc;
}

int ne_replicator_handle(struct ne_replicator *r, const char *peer_id, const uint8_t *msg, size_t n,
                         struct ne_pbuf *reply, uint8_t *reply_type)
{
    if (!r->o.local_write) return NE_EUNSUPPORTED;
    struct ne_batch b;
    ne_batch_init(&b);
    struct ne_repl_vers vs = {0};
    uint32_t nrec = 0;
    int rc = check_request(msg, n, &nrec, &b);
    if (rc != 0) {
        ne_log(NE_LOG_WARN, MOD, "malformed write batch from a peer: refused", "peer", peer_id,
               "err", ne_strerror(rc), NULL);
        ne_batch_free(&b);
        return rc;
    }
    /* consecutive records of one database (and kind: keeper or not) are
     * written together: one wait for the store's durability per run, not
     * per record */
    struct ne_wire_rd rr = {.p = msg, .n = n, .off = 4};
    struct tally t = {0};
    char db[DB_MAX + 1] = "", next[DB_MAX + 1];
    bool keeper = false, next_keeper = false;
    uint32_t start = 0; /* first point of the current run */
    ne_batch_reset(&b);
    for (uint32_t i = 0; rc == 0 && i < nrec; i++) {
        uint32_t len = ne_wire_u32(&rr);
        const uint8_t *p = ne_wire_take(&rr, len);
        uint32_t before = b.npts;
        if (ne_repl_is_tomb(p, len)) { /* in order: the points before it first */
            if (before > start) rc = write_run(r, peer_id, db, &b, &vs, start, before, keeper, &t);
            start = before;
            if (rc == 0) rc = take_tomb(r, peer_id, p, len);
            continue;
        }
        rc = decode_append(p, len, next, &b, &vs, &next_keeper);
        if (rc == 0 && before > start && (strcmp(next, db) != 0 || next_keeper != keeper)) {
            rc = write_run(r, peer_id, db, &b, &vs, start, before, keeper, &t);
            start = before;
        }
        memcpy(db, next, sizeof db);
        keeper = next_keeper;
    }
    if (rc == 0 && b.npts > start)
        rc = write_run(r, peer_id, db, &b, &vs, start, b.npts, keeper, &t);
    ne_batch_free(&b);
    ne_repl_vers_free(&vs);
    ne_metric_add(r->m_received, t.accepted);
    ne_metric_add(r->m_skipped, t.skipped);
    if (rc != 0) return rc;
    reply->len = 0;
    rc = ne_wire_put_u32(reply, (uint32_t)t.accepted);
    if (rc == 0) rc = ne_wire_put_u32(reply, (uint32_t)t.rejected);
    *reply_type = NE_FT_WRITE_ACK;
    return rc;
}

int ne_replicator_peer_stats(struct ne_replicator *r, const char *peer_id,
                             struct ne_replicator_peer_stats *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&r->peers_mu);
    struct peer *p = peer_find_locked(r, peer_id);
    pthread_mutex_unlock(&r->peers_mu);
    if (!p) return NE_ENOTFOUND;
    struct ne_hintq_stats st;
    ne_hintq_stats(p->q, &st);
    out->queue_bytes = st.bytes;
    out->queue_records = st.records;
    out->queue_points = st.points;
    if (st.records && st.oldest) {
        int64_t age = ne_time_wall_ns() - st.oldest;
        out->lag_seconds = age > 0 ? (double)age / 1e9 : 0;
    }
    out->sent_points = atomic_load(&p->sent_points);
    out->dropped_window = st.dropped_age;
    out->dropped_bytes = st.dropped_bytes;
    out->dropped_corrupt = st.dropped_corrupt;
    out->keeper_points = atomic_load(&p->keeper_points);
    return 0;
}
