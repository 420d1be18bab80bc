/*
 * central.c - the central role's receiver of segment pushes (protocol and
 * answers in central.h).
 *
 * A push goes: headers checked (token, node, segment, checksum, size) ->
 * body streamed to data_dir/central/incoming/<n>.bundle -> the bundle
 * checked completely (ne_bundle_in_open) and compared with the headers ->
 * the (node, segment) claimed in the index -> points written to the store
 * database by database -> a record appended to the received log and
 * fsync'ed -> 200. Nothing reaches the store before the whole bundle
 * passed its checks.
 *
 * The received log, data_dir/central/received (little endian):
 *
 *   +-----------------------------------------------------------+
 *   | u32 magic "NECR" (0x5243454e) | u32 version (1)           |
 *   +-----------------------------------------------------------+
 *   | record: u32 len | payload (len bytes) | u32 crc32c of the  |
 *   |         len field and the payload                         |
 *   |   payload: u64 segment id | 32 bytes SHA-256 of the       |
 *   |            segment | u64 points stored | u64 field values |
 *   |            | i64 wall time merged (ns) | u8 node_len      |
 *   |            | node id (node_len bytes, 1..255)             |
 *   +-----------------------------------------------------------+
 *   | record ...                                                |
 *
 * Records are only appended, each fsync'ed before its push is answered.
 * Loading stops at the first record that is short, oversized or fails its
 * CRC, and cuts the file there (a torn append); an unknown version is an
 * error, never a guess. The whole log is indexed in memory: one entry per
 * pushed segment (about 64 bytes).
 */
#include "agent/central.h"
#include "agent/agent.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ports/crc32c.h"
#include "ports/log.h"
#include "ports/metrics.h"
#include "ports/platform.h"
#include "store/codec/buf.h"
#include "sync/bundle/bundle.h"

#define MOD           "central"
#define LOG_MAGIC     0x5243454eu /* "NECR" */
#define LOG_VERSION   1u
#define LOG_HEADER    8u
#define REC_FIXED     (8u + 32u + 8u + 8u + 8u + 1u) /* payload before the node id */
#define REC_MIN       (REC_FIXED + 1u)
#define REC_MAX       (REC_FIXED + NE_BUNDLE_NODE_MAX)
#define LOAD_CHUNK    (64u * 1024u)
#define DEFAULT_MAX   (1ull << 30)
#define BUSY_RETRIES  200 /* store backpressure: 200 x 50 ms before answering 503 */
#define BUSY_SLEEP_NS 50000000ll

enum { E_EMPTY = 0, E_MERGING, E_DONE, E_RELEASED };

/* One (node, segment) ever pushed. */
struct entry {
    uint64_t seg;
    uint32_t node; /* index in c->nodes */
    uint8_t state; /* E_* */
    uint8_t sha[32];
};

struct ne_central {
    char *dir, *incoming, *log_path, *token;
    uint64_t max;
    struct ne_store *store;
    const struct ne_ingest_sink *sink; /* NULL: write to the store */
    atomic_uint_fast64_t next_tmp;

    pthread_mutex_t mu;  /* guards everything below */
    struct ne_file *log; /* NULL after a failed append: reopened at log_end */
    uint64_t log_end;    /* end of the last durable record */
    char **nodes;        /* distinct node ids */
    uint32_t nnodes, cap_nodes;
    uint32_t *node_slots; /* hash of nodes: index + 1, 0 = free */
    size_t node_cap;
    struct entry *tab; /* open addressing on (node, seg) */
    size_t cap, used;

    struct ne_metric *m_stored, *m_dup, *m_rejected, *m_failed, *m_points, *m_bytes;
};

struct ne_central_push {
    struct ne_central *c;
    char node[NE_BUNDLE_NODE_MAX + 1];
    uint64_t seg;
    uint8_t sha[32];
    char checksum[NE_BUNDLE_CHECKSUM_MAX];
    char path[4096];
    struct ne_file *f;
    uint64_t declared, received;
    bool has_len, too_big;
    int werr; /* first write error */
};

/* ---- replies ---------------------------------------------------------------- */

/* Appends s as JSON string content (quotes, backslashes and control
 * characters escaped), cutting it to fit. */
static size_t json_put(char *out, size_t at, size_t n, const char *s)
{
    for (; *s && at + 7 < n; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[at++] = '\\';
            out[at++] = (char)ch;
        } else if (ch < 0x20) {
            at += (size_t)snprintf(out + at, n - at, "\\u%04x", ch);
        } else {
            out[at++] = (char)ch;
        }
    }
    out[at] = '\0';
    return at;
}

static int reply_error(struct ne_central_reply *r, int status, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int reply_error(struct ne_central_reply *r, int status, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->error, sizeof r->error, fmt, ap);
    va_end(ap);
    r->status = status;
    size_t at = (size_t)snprintf(r->body, sizeof r->body, "{\"error\":\"");
    at = json_put(r->body, at, sizeof r->body - 3, r->error);
    snprintf(r->body + at, sizeof r->body - at, "\"}\n");
    return rc;
}

static void reply_duplicate(struct ne_central_reply *r)
{
    r->status = 200;
    r->error[0] = '\0';
    snprintf(r->body, sizeof r->body, "{\"status\":\"duplicate\"}\n");
}

/* ---- the index ---------------------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static uint64_t hash_key(uint32_t node, uint64_t seg)
{
    uint64_t h = seg * 0x9e3779b97f4a7c15ull ^ ((uint64_t)node + 1) * 0xc2b2ae3d27d4eb4full;
    return h ^ (h >> 29);
}

static int node_slots_grow(struct ne_central *c)
{
    size_t cap = c->node_cap ? c->node_cap * 2 : 64;
    uint32_t *s = ne_calloc(cap, sizeof *s);
    if (!s) return NE_ENOMEM;
    for (uint32_t i = 0; i < c->nnodes; i++) {
        size_t k = hash_str(c->nodes[i]) & (cap - 1);
        while (s[k])
            k = (k + 1) & (cap - 1);
        s[k] = i + 1;
    }
    ne_free(c->node_slots);
    c->node_slots = s;
    c->node_cap = cap;
    return 0;
}

/* The index of node, added when add is set. -1: absent (or out of memory
 * when adding). */
static int64_t node_index(struct ne_central *c, const char *node, bool add)
{
    if (c->node_cap) {
        for (size_t k = hash_str(node) & (c->node_cap - 1); c->node_slots[k];
             k = (k + 1) & (c->node_cap - 1))
            if (strcmp(c->nodes[c->node_slots[k] - 1], node) == 0) return c->node_slots[k] - 1;
    }
    if (!add) return -1;
    if ((c->nnodes + 1) * 2 > c->node_cap && node_slots_grow(c)) return -1;
    if (c->nnodes == c->cap_nodes) {
        uint32_t nc = c->cap_nodes ? c->cap_nodes * 2 : 16;
        char **p = ne_realloc(c->nodes, nc * sizeof *p);
        if (!p) return -1;
        c->nodes = p;
        c->cap_nodes = nc;
    }
    char *copy = ne_strdup(node);
    if (!copy) return -1;
    c->nodes[c->nnodes] = copy;
    size_t k = hash_str(node) & (c->node_cap - 1);
    while (c->node_slots[k])
        k = (k + 1) & (c->node_cap - 1);
    c->node_slots[k] = c->nnodes + 1;
    return c->nnodes++;
}

static struct entry *find_entry(struct ne_central *c, uint32_t node, uint64_t seg)
{
    if (!c->cap) return NULL;
    for (size_t k = hash_key(node, seg) & (c->cap - 1); c->tab[k].state != E_EMPTY;
         k = (k + 1) & (c->cap - 1))
        if (c->tab[k].node == node && c->tab[k].seg == seg) return &c->tab[k];
    return NULL;
}

static int tab_grow(struct ne_central *c)
{
    size_t cap = c->cap ? c->cap * 2 : 1024;
    struct entry *t = ne_calloc(cap, sizeof *t);
    if (!t) return NE_ENOMEM;
    for (size_t i = 0; i < c->cap; i++) {
        if (c->tab[i].state == E_EMPTY) continue;
        size_t k = hash_key(c->tab[i].node, c->tab[i].seg) & (cap - 1);
        while (t[k].state != E_EMPTY)
            k = (k + 1) & (cap - 1);
        t[k] = c->tab[i];
    }
    ne_free(c->tab);
    c->tab = t;
    c->cap = cap;
    return 0;
}

/* The entry of (node, seg), created (state E_RELEASED) when missing. */
static struct entry *get_entry(struct ne_central *c, const char *node_id, uint64_t seg)
{
    int64_t node = node_index(c, node_id, true);
    if (node < 0) return NULL;
    struct entry *e = find_entry(c, (uint32_t)node, seg);
    if (e) return e;
    if ((c->used + 1) * 10 > c->cap * 7 && tab_grow(c)) return NULL;
    size_t k = hash_key((uint32_t)node, seg) & (c->cap - 1);
    while (c->tab[k].state != E_EMPTY)
        k = (k + 1) & (c->cap - 1);
    e = &c->tab[k];
    e->node = (uint32_t)node;
    e->seg = seg;
    e->state = E_RELEASED;
    c->used++;
    return e;
}

/* ---- the received log ------------------------------------------------------------- */

/* Parses one record's payload into the index. */
static int apply_record(struct ne_central *c, const uint8_t *p, uint32_t len)
{
    uint8_t node_len = p[REC_FIXED - 1];
    if (node_len == 0 || REC_FIXED + node_len != len) return NE_ECORRUPT;
    char node[NE_BUNDLE_NODE_MAX + 1];
    memcpy(node, p + REC_FIXED, node_len);
    node[node_len] = '\0';
    struct entry *e = get_entry(c, node, ne_load_u64le(p));
    if (!e) return NE_ENOMEM;
    memcpy(e->sha, p + 8, 32);
    e->state = E_DONE;
    return 0;
}

/* Reads the records from LOG_HEADER on; *end gets the end of the last
 * valid one (the file size when all are). */
static int load_records(struct ne_central *c, struct ne_file *f, uint64_t size, uint64_t *end)
{
    uint8_t *buf = ne_malloc(LOAD_CHUNK);
    if (!buf) return NE_ENOMEM;
    uint64_t off = LOG_HEADER;
    bool torn = false;
    int rc = 0;
    while (!rc && !torn && off < size) {
        size_t got = 0, at = 0;
        rc = ne_file_pread(f, buf, LOAD_CHUNK, off, &got);
        while (!rc && got - at >= 4) {
            uint32_t len = ne_load_u32le(buf + at);
            if (len < REC_MIN || len > REC_MAX) {
                torn = true;
                break;
            }
            if (got - at < 8u + len) break; /* completes in the next chunk, or torn */
            if (ne_crc32c(0, buf + at, 4u + len) != ne_load_u32le(buf + at + 4 + len)) {
                torn = true;
                break;
            }
            rc = apply_record(c, buf + at + 4, len);
            if (rc == NE_ECORRUPT) {
                rc = 0;
                torn = true;
                break;
            }
            at += 8u + len;
        }
        if (at == 0) torn = true; /* nothing whole here: cut short by the end of the file */
        off += at;
    }
    ne_free(buf);
    *end = off;
    return rc;
}

static int write_log_header(struct ne_file *f)
{
    uint8_t h[LOG_HEADER];
    ne_store_u32le(h, LOG_MAGIC);
    ne_store_u32le(h + 4, LOG_VERSION);
    int rc = ne_file_truncate(f, 0);
    if (!rc) rc = ne_file_append(f, h, sizeof h);
    if (!rc) rc = ne_file_datasync(f);
    return rc;
}

static int open_log(struct ne_central *c)
{
    struct ne_file *f = NULL;
    uint64_t size = 0, end = LOG_HEADER;
    int rc = ne_file_open(c->log_path, NE_F_WRITE | NE_F_CREATE, &f);
    if (!rc) rc = ne_file_size(f, &size);
    if (!rc && size < LOG_HEADER) {
        rc = write_log_header(f); /* new, or torn before its header was whole */
        if (!rc) rc = ne_fs_sync_dir(c->dir);
        size = LOG_HEADER;
    } else if (!rc) {
        uint8_t h[LOG_HEADER];
        size_t got = 0;
        rc = ne_file_pread(f, h, sizeof h, 0, &got);
        if (!rc && ne_load_u32le(h) != LOG_MAGIC) {
            ne_log(NE_LOG_ERROR, MOD, "not a received log (bad magic)", "path", c->log_path, NULL);
            rc = NE_ECORRUPT;
        } else if (!rc && ne_load_u32le(h + 4) != LOG_VERSION) {
            ne_logf(NE_LOG_ERROR, MOD, "%s: received log version %" PRIu32 " is not supported",
                    c->log_path, ne_load_u32le(h + 4));
            rc = NE_EVERSION;
        }
        if (!rc) rc = load_records(c, f, size, &end);
    }
    if (!rc && end < size) {
        char cut[32], at[32];
        snprintf(cut, sizeof cut, "%" PRIu64, size - end);
        snprintf(at, sizeof at, "%" PRIu64, end);
        ne_log(NE_LOG_WARN, MOD, "received log: cutting a torn tail", "path", c->log_path, "bytes",
               cut, "offset", at, NULL);
        rc = ne_file_truncate(f, end);
        if (!rc) rc = ne_file_datasync(f);
    }
    if (rc) {
        ne_file_close(&f);
        return rc;
    }
    c->log = f;
    c->log_end = end;
    return 0;
}

/* Appends and syncs the record of a merged push. Under c->mu. */
static int log_append(struct ne_central *c, const struct ne_central_push *p, uint64_t points,
                      uint64_t values)
{
    uint8_t rec[8 + REC_MAX];
    size_t nl = strlen(p->node);
    uint32_t len = (uint32_t)(REC_FIXED + nl);
    ne_store_u32le(rec, len);
    ne_store_u64le(rec + 4, p->seg);
    memcpy(rec + 12, p->sha, 32);
    ne_store_u64le(rec + 44, points);
    ne_store_u64le(rec + 52, values);
    ne_store_u64le(rec + 60, (uint64_t)ne_time_wall_ns());
    rec[68] = (uint8_t)nl;
    memcpy(rec + 69, p->node, nl);
    ne_store_u32le(rec + 4 + len, ne_crc32c(0, rec, 4u + len));
    int rc = 0;
    if (!c->log) { /* after a failure: reopen and drop what the failed append left */
        rc = ne_file_open(c->log_path, NE_F_WRITE, &c->log);
        if (!rc) rc = ne_file_truncate(c->log, c->log_end);
    }
    if (!rc) rc = ne_file_append(c->log, rec, 8u + len);
    if (!rc) rc = ne_file_datasync(c->log);
    if (rc) {
        ne_log(NE_LOG_ERROR, MOD, "cannot append to the received log", "path", c->log_path, "err",
               ne_strerror(rc), NULL);
        ne_file_close(&c->log);
        return rc;
    }
    c->log_end += 8u + len;
    return 0;
}

/* ---- open / close ------------------------------------------------------------------- */

static char *path_join(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *p = ne_malloc(la + lb + 2);
    if (!p) return NULL;
    memcpy(p, a, la);
    p[la] = '/';
    memcpy(p + la + 1, b, lb + 1);
    return p;
}

static void register_metrics(struct ne_central *c)
{
    static const char *const help = "Segment pushes received from gateways, by result";
    c->m_stored = ne_metric_counter("neoedge_central_pushes_total", help, "result=\"stored\"");
    c->m_dup = ne_metric_counter("neoedge_central_pushes_total", help, "result=\"duplicate\"");
    c->m_rejected = ne_metric_counter("neoedge_central_pushes_total", help, "result=\"rejected\"");
    c->m_failed = ne_metric_counter("neoedge_central_pushes_total", help, "result=\"failed\"");
    c->m_points = ne_metric_counter("neoedge_central_points_total",
                                    "Points merged into the store from gateway pushes", NULL);
    c->m_bytes = ne_metric_counter("neoedge_central_bytes_total",
                                   "Bundle bytes received from gateway pushes", NULL);
}

int ne_central_open(const struct ne_central_opts *o, struct ne_central **out)
{
    if (!o || !o->data_dir || !o->token || !*o->token || !o->store) return NE_EINVAL;
    struct ne_central *c = ne_calloc(1, sizeof *c);
    if (!c) return NE_ENOMEM;
    pthread_mutex_init(&c->mu, NULL);
    c->store = o->store;
    c->sink = o->sink;
    c->max = o->max_bundle_bytes ? o->max_bundle_bytes : DEFAULT_MAX;
    int rc = NE_ENOMEM;
    if (!(c->token = ne_strdup(o->token)) || !(c->dir = path_join(o->data_dir, "central")) ||
        !(c->incoming = path_join(c->dir, "incoming")) ||
        !(c->log_path = path_join(c->dir, "received")))
        goto fail;
    /* Bodies left by a crash are incomplete or unanswered: the senders
     * push them again. */
    rc = ne_fs_remove_tree(c->incoming);
    if (!rc) rc = ne_fs_mkdir_p(c->incoming);
    if (rc) {
        ne_log(NE_LOG_ERROR, MOD, "cannot prepare the incoming folder", "path", c->incoming, "err",
               ne_strerror(rc), NULL);
        goto fail;
    }
    rc = open_log(c);
    if (rc) {
        if (rc != NE_EVERSION)
            ne_log(NE_LOG_ERROR, MOD, "cannot load the received log", "path", c->log_path, "err",
                   ne_strerror(rc), NULL);
        goto fail;
    }
    register_metrics(c);
    char nbuf[32], mbuf[32];
    snprintf(nbuf, sizeof nbuf, "%zu", c->used);
    snprintf(mbuf, sizeof mbuf, "%" PRIu64, c->max);
    ne_log(NE_LOG_INFO, MOD, "accepting segment pushes", "received", nbuf, "max_bytes", mbuf, NULL);
    *out = c;
    return 0;
fail:
    ne_central_close(&c);
    return rc;
}

void ne_central_close(struct ne_central **cp)
{
    struct ne_central *c = cp ? *cp : NULL;
    if (!c) return;
    ne_file_close(&c->log);
    for (uint32_t i = 0; i < c->nnodes; i++)
        ne_free(c->nodes[i]);
    ne_free(c->nodes);
    ne_free(c->node_slots);
    ne_free(c->tab);
    ne_free(c->token);
    ne_free(c->dir);
    ne_free(c->incoming);
    ne_free(c->log_path);
    pthread_mutex_destroy(&c->mu);
    ne_free(c);
    *cp = NULL;
}

/* ---- begin: headers --------------------------------------------------------------------- */


static bool valid_node(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > NE_BUNDLE_NODE_MAX) return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return false;
    return true;
}

static bool parse_seg_id(const char *s, uint64_t *out)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 16) return false;
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        int d = ch >= '0' && ch <= '9'   ? ch - '0'
                : ch >= 'a' && ch <= 'f' ? ch - 'a' + 10
                : ch >= 'A' && ch <= 'F' ? ch - 'A' + 10
                                         : -1;
        if (d < 0) return false;
        v = v << 4 | (uint64_t)d;
    }
    *out = v;
    return true;
}

static int check_auth(struct ne_central *c, const char *h, struct ne_central_reply *r)
{
    if (!h || strncasecmp(h, "Bearer ", 7) != 0)
        return reply_error(r, 401, NE_EPERM,
                           "missing bearer token: send Authorization: Bearer <central.token>");
    const char *t = h + 7;
    while (*t == ' ')
        t++;
    if (!agent__token_equal(t, c->token))
        return reply_error(r, 401, NE_EPERM,
                           "wrong token: the push does not carry this node's central.token");
    return 0;
}

/* Answers from the index alone when it can: a duplicate, a conflict, or
 * the same segment being merged right now. Under c->mu. 1 when *r holds
 * the answer. */
static int known_answer(struct ne_central *c, const struct ne_central_push *p,
                        struct ne_central_reply *r)
{
    int64_t node = node_index(c, p->node, false);
    struct entry *e = node < 0 ? NULL : find_entry(c, (uint32_t)node, p->seg);
    if (!e || e->state == E_RELEASED) return 0;
    if (e->state == E_MERGING) {
        r->retry_after_s = 5;
        reply_error(r, 503, NE_EBUSY, "segment %016" PRIx64 " of node %s is being merged right now",
                    p->seg, p->node);
        return 1;
    }
    if (memcmp(e->sha, p->sha, 32) == 0) {
        reply_duplicate(r);
        return 1;
    }
    char had[NE_BUNDLE_CHECKSUM_MAX];
    snprintf(had, sizeof had, "sha256:");
    for (int i = 0; i < 32; i++)
        snprintf(had + 7 + 2 * i, 3, "%02x", e->sha[i]);
    reply_error(r, 409, NE_ECONFLICT,
                "segment %016" PRIx64 " of node %s was stored before with checksum %s; this push "
                "has %s (was the node's data dir replaced without a new node_id?)",
                p->seg, p->node, had, p->checksum);
    return 1;
}

/* The status as text for a log line. Static buffer per thread. */
static const char *status_text(int status)
{
    static _Thread_local char buf[8];
    snprintf(buf, sizeof buf, "%d", status);
    return buf;
}

/* Counts an answer in the push metrics. */
static void count_reply(struct ne_central *c, const struct ne_central_reply *r)
{
    if (r->status == 200)
        ne_metric_inc(strstr(r->body, "duplicate") ? c->m_dup : c->m_stored);
    else if (r->status >= 500)
        ne_metric_inc(c->m_failed);
    else
        ne_metric_inc(c->m_rejected);
}

static int begin_checks(struct ne_central *c, ne_central_header_fn header, void *ctx,
                        uint64_t declared, bool has_len, struct ne_central_push *p,
                        struct ne_central_reply *r)
{
    const char *node = header(ctx, "X-Neoedge-Node");
    if (valid_node(node)) snprintf(p->node, sizeof p->node, "%s", node); /* for the log */
    int rc = check_auth(c, header(ctx, "Authorization"), r);
    if (rc) return rc;
    const char *seg = header(ctx, "X-Neoedge-Segment");
    const char *ck = header(ctx, "X-Neoedge-Checksum");
    if (!valid_node(node))
        return reply_error(r, 400, NE_EINVAL,
                           "X-Neoedge-Node: missing or not a node id (1 to 255 printable bytes)");
    if (!parse_seg_id(seg, &p->seg))
        return reply_error(r, 400, NE_EINVAL,
                           "X-Neoedge-Segment: missing or not a segment id (1 to 16 hex digits)");
    if (ne_bundle_parse_checksum(ck, p->sha) != 0)
        return reply_error(r, 400, NE_EINVAL,
                           "X-Neoedge-Checksum: missing or not sha256:<64 hex digits>");
    if (has_len && declared > c->max)
        return reply_error(r, 413, NE_ETOOBIG,
                           "push of %" PRIu64 " bytes is above central.max_segment_size (%" PRIu64
                           " bytes)",
                           declared, c->max);
    snprintf(p->checksum, sizeof p->checksum, "%s", ck);
    for (char *s = p->checksum; *s; s++)
        if (*s >= 'A' && *s <= 'F') *s = (char)(*s - 'A' + 'a');
    return 0;
}

int ne_central_begin(struct ne_central *c, ne_central_header_fn header, void *ctx,
                     uint64_t declared_len, bool has_len, struct ne_central_push **out,
                     struct ne_central_reply *reply)
{
    memset(reply, 0, sizeof *reply);
    struct ne_central_push *p = ne_calloc(1, sizeof *p);
    if (!p) return reply_error(reply, 503, NE_ENOMEM, "out of memory");
    p->c = c;
    p->declared = declared_len;
    p->has_len = has_len;
    int rc = begin_checks(c, header, ctx, declared_len, has_len, p, reply);
    if (!rc) {
        pthread_mutex_lock(&c->mu);
        if (known_answer(c, p, reply)) rc = NE_EEXISTS;
        pthread_mutex_unlock(&c->mu);
    }
    if (!rc) {
        uint64_t n = atomic_fetch_add(&c->next_tmp, 1);
        snprintf(p->path, sizeof p->path, "%s/%" PRIx64 "-%" PRIu64 ".bundle", c->incoming,
                 (uint64_t)ne_time_wall_ns(), n);
        rc = ne_file_open(p->path, NE_F_WRITE | NE_F_CREATE | NE_F_EXCL, &p->f);
        if (rc) {
            p->path[0] = '\0';
            reply_error(reply, rc == NE_ENOSPC ? 507 : 500, rc, "cannot store the push: %s",
                        ne_strerror(rc));
        }
    }
    if (rc) {
        if (reply->status != 200 && reply->status != 503)
            ne_log(NE_LOG_WARN, MOD, "push refused", "node", p->node[0] ? p->node : "?", "status",
                   status_text(reply->status), "why", reply->error, NULL);
        count_reply(c, reply);
        ne_central_push_free(&p);
        return rc;
    }
    *out = p;
    return 0;
}

int ne_central_body(struct ne_central_push *p, const void *data, size_t n)
{
    if (p->too_big) return NE_ETOOBIG;
    if (p->werr) return p->werr;
    if (p->received + n > p->c->max) {
        p->too_big = true; /* a body longer than declared, or none declared */
        ne_file_close(&p->f);
        ne_fs_unlink(p->path);
        p->path[0] = '\0';
        return NE_ETOOBIG;
    }
    int rc = ne_file_append(p->f, data, n);
    if (rc) {
        p->werr = rc;
        return rc;
    }
    p->received += n;
    ne_metric_add(p->c->m_bytes, n);
    return 0;
}

/* ---- finish: verify, claim, merge, record ----------------------------------------------- */

/* Writes through the sink (else the store), waiting out backpressure for
 * a while. */
static int write_patiently(const struct ne_central *c, const char *db, const struct ne_batch *b,
                           struct ne_write_result *res)
{
    int rc = NE_EBUSY;
    for (int i = 0; i < BUSY_RETRIES && rc == NE_EBUSY; i++) {
        if (i) ne_time_sleep_ns(BUSY_SLEEP_NS);
        memset(res, 0, sizeof *res);
        rc = c->sink ? c->sink->write(c->sink->ctx, db, b, res)
                     : ne_store_write(c->store, db, b, res);
    }
    return rc;
}

struct merged {
    uint64_t points, rejected;
    char first_error[256];
};

static int merge(struct ne_central *c, struct ne_bundle_in *in, struct merged *m)
{
    struct ne_batch b;
    ne_batch_init(&b);
    const char *db = NULL;
    int rc;
    while ((rc = ne_bundle_in_next(in, &b, &db)) == 1) {
        struct ne_write_result res;
        rc = write_patiently(c, db, &b, &res);
        if (rc) break;
        m->points += res.accepted;
        m->rejected += res.rejected;
        if (res.rejected && !m->first_error[0])
            snprintf(m->first_error, sizeof m->first_error, "%s", res.first_error);
    }
    ne_batch_free(&b);
    return rc < 0 ? rc : 0;
}

/* The bundle must be the one the headers announced. */
static int match_headers(const struct ne_central_push *p, const struct ne_bundle_info *i,
                         struct ne_central_reply *r)
{
    if (strcmp(i->node, p->node) != 0)
        return reply_error(r, 400, NE_EINVAL,
                           "bundle is from node \"%s\", X-Neoedge-Node says \"%s\"", i->node,
                           p->node);
    if (i->segment_id != p->seg)
        return reply_error(r, 400, NE_EINVAL,
                           "bundle holds segment %016" PRIx64
                           ", X-Neoedge-Segment says %016" PRIx64,
                           i->segment_id, p->seg);
    if (strcmp(i->checksum, p->checksum) != 0)
        return reply_error(r, 400, NE_EINVAL, "bundle checksum is %s, X-Neoedge-Checksum says %s",
                           i->checksum, p->checksum);
    return 0;
}

/* Claims (node, segment) for this push, or answers from the index. */
static struct entry *claim(struct ne_central *c, const struct ne_central_push *p,
                           struct ne_central_reply *r)
{
    pthread_mutex_lock(&c->mu);
    struct entry *e = NULL;
    if (!known_answer(c, p, r)) {
        e = get_entry(c, p->node, p->seg);
        if (e)
            e->state = E_MERGING;
        else
            reply_error(r, 503, NE_ENOMEM, "out of memory");
    }
    pthread_mutex_unlock(&c->mu);
    return e;
}

static int status_of_store_error(int rc)
{
    if (rc == NE_ENOSPC) return 507;
    return ne_err_retryable(rc) ? 503 : 500;
}

/* Merges a verified bundle and records it; fills *r. */
static void store_bundle(struct ne_central_push *p, struct ne_bundle_in *in,
                         struct ne_central_reply *r)
{
    struct ne_central *c = p->c;
    struct entry *e = claim(c, p, r);
    if (!e) return;
    /* The entry stays in place while it is E_MERGING: the table only
     * moves entries when it grows, under c->mu, so look it up again. */
    struct merged m = {0};
    int rc = merge(c, in, &m);
    uint64_t values = ne_bundle_in_values(in);
    pthread_mutex_lock(&c->mu);
    e = find_entry(c, (uint32_t)node_index(c, p->node, false), p->seg);
    if (!rc) rc = log_append(c, p, m.points, values);
    e->state = rc ? E_RELEASED : E_DONE;
    if (!rc) memcpy(e->sha, p->sha, 32);
    pthread_mutex_unlock(&c->mu);
    if (rc) {
        if (rc == NE_EBUSY) r->retry_after_s = 5;
        reply_error(r, status_of_store_error(rc), rc, "merging segment %016" PRIx64 " failed: %s",
                    p->seg, ne_strerror(rc));
        ne_log(NE_LOG_ERROR, MOD, "merge failed", "node", p->node, "err", ne_strerror(rc), NULL);
        return;
    }
    ne_metric_add(c->m_points, m.points);
    r->status = 200;
    snprintf(r->body, sizeof r->body,
             "{\"status\":\"stored\",\"points\":%" PRIu64 ",\"values\":%" PRIu64
             ",\"rejected\":%" PRIu64 "}\n",
             m.points, values, m.rejected);
    char seg[24], pts[24], rej[24];
    snprintf(seg, sizeof seg, "%016" PRIx64, p->seg);
    snprintf(pts, sizeof pts, "%" PRIu64, m.points);
    snprintf(rej, sizeof rej, "%" PRIu64, m.rejected);
    ne_log(NE_LOG_INFO, MOD, "segment stored", "node", p->node, "segment", seg, "points", pts,
           "rejected", rej, m.rejected ? "first_error" : NULL, m.first_error, NULL);
}

static bool data_error(int rc)
{
    return rc == NE_ECORRUPT || rc == NE_ECHECKSUM || rc == NE_EVERSION;
}

void ne_central_finish(struct ne_central_push *p, struct ne_central_reply *r)
{
    memset(r, 0, sizeof *r);
    struct ne_central *c = p->c;
    struct ne_bundle_in *in = NULL;
    char why[400] = "";
    int crc = p->f ? ne_file_close(&p->f) : 0;
    if (p->too_big) {
        reply_error(r, 413, NE_ETOOBIG,
                    "push is above central.max_segment_size (%" PRIu64 " bytes)", c->max);
    } else if (p->werr || crc) {
        int e = p->werr ? p->werr : crc;
        reply_error(r, e == NE_ENOSPC ? 507 : 500, e, "cannot store the push: %s", ne_strerror(e));
    } else if (p->has_len && p->received != p->declared) {
        reply_error(r, 400, NE_ECORRUPT, "body has %" PRIu64 " bytes, Content-Length said %" PRIu64,
                    p->received, p->declared);
    } else {
        char scratch[4200];
        snprintf(scratch, sizeof scratch, "%s.seg", p->path);
        struct ne_bundle_in_opts o = {.scratch_path = scratch};
        int rc = ne_bundle_in_open(p->path, &o, &in, why, sizeof why);
        if (rc && data_error(rc))
            reply_error(r, 400, rc, "bundle rejected: %s", why);
        else if (rc)
            reply_error(r, status_of_store_error(rc), rc, "cannot read the push: %s", why);
        else if (!match_headers(p, ne_bundle_in_info(in), r))
            store_bundle(p, in, r);
    }
    ne_bundle_in_close(&in);
    if (p->path[0]) ne_fs_unlink(p->path);
    p->path[0] = '\0';
    if (r->status != 200)
        ne_log(r->status >= 500 ? NE_LOG_ERROR : NE_LOG_WARN, MOD, "push refused", "node", p->node,
               "status", status_text(r->status), "why", r->error, NULL);
    count_reply(c, r);
}

void ne_central_push_free(struct ne_central_push **pp)
{
    struct ne_central_push *p = pp ? *pp : NULL;
    if (!p) return;
    ne_file_close(&p->f);
    if (p->path[0]) ne_fs_unlink(p->path);
    ne_free(p);
    *pp = NULL;
}
