/*
 * scan_test.c - the remote read protocol: request and reply codecs (round
 * trips, every truncation and malformation refused), serving scans and
 * series listings from a real store in bounded pages, and the cluster
 * source over two stores and a TLS transport on loopback: each shard read
 * from its chosen node only, the union merged, a shard without a live
 * owner or a peer that stops answering reported as a warning message.
 */
#include "../store/engine_util.h"
#include "../store/query_testlib.h"
#include "t.h"

#include "ports/err.h"
#include "sharding/ring.h"
#include "sharding/scan.h"
#include "sharding/scan_src.h"
#include "sharding/tomb.h"
#include "sharding/transport.h"
#include "store/query/query.h"

#define NSER   20
#define NPTS   50
#define SHARDS 8

static const uint8_t key[32] = "fanout-test-key-0123456789abcdef";

/* ---- codecs ---------------------------------------------------------------- */

static void test_scan_req_roundtrip_and_corruption(void)
{
    uint32_t shards[] = {1, 4, 7};
    uint64_t series[] = {5, 99, 1ull << 63};
    struct ne_scan_req q = {.db = "db",
                            .meas = "cpu",
                            .field = "usage",
                            .type = NE_V_FLOAT,
                            .t0 = -5,
                            .t1 = 1000,
                            .ring_shards = 8,
                            .shards = shards,
                            .nshards = 3,
                            .series = series,
                            .nseries = 3,
                            .token = {true, 42, 77},
                            .max_reply = 4096};
    struct ne_pbuf b = {0};
    T_OK(ne_scan_req_encode(&q, &b));
    struct ne_scan_req d;
    T_OK(ne_scan_req_decode(b.p, b.len, &d));
    T_EQ_STR(d.db, "db");
    T_EQ_STR(d.meas, "cpu");
    T_EQ_STR(d.field, "usage");
    T_EQ_INT(d.type, NE_V_FLOAT);
    T_EQ_INT(d.t0, -5);
    T_EQ_INT(d.t1, 1000);
    T_EQ_U64(d.ring_shards, 8);
    T_EQ_U64(d.nshards, 3);
    T_EQ_U64(d.shards[2], 7);
    T_EQ_U64(d.nseries, 3);
    T_EQ_U64(d.series[2], 1ull << 63);
    T_CHECK(d.token.set);
    T_EQ_U64(d.token.series, 42);
    T_EQ_INT(d.token.ts, 77);
    T_EQ_U64(d.max_reply, 4096);
    ne_scan_req_release(&d);
    for (size_t cut = 0; cut < b.len; cut++) {
        int rc = ne_scan_req_decode(b.p, cut, &d);
        ne_scan_req_release(&d);
        T_EQ_INT(rc, NE_ECORRUPT);
    }
    b.p[0] = 9;
    T_EQ_INT(ne_scan_req_decode(b.p, b.len, &d), NE_EVERSION);
    ne_scan_req_release(&d);
    /* unsorted shards, a shard outside the ring, no field */
    uint32_t bad[] = {4, 1};
    q.shards = bad;
    q.nshards = 2;
    b.len = 0;
    T_OK(ne_scan_req_encode(&q, &b));
    T_EQ_INT(ne_scan_req_decode(b.p, b.len, &d), NE_ECORRUPT);
    ne_scan_req_release(&d);
    uint32_t outside[] = {8};
    q.shards = outside;
    q.nshards = 1;
    b.len = 0;
    T_OK(ne_scan_req_encode(&q, &b));
    T_EQ_INT(ne_scan_req_decode(b.p, b.len, &d), NE_ECORRUPT);
    ne_scan_req_release(&d);
    q.field = "";
    T_EQ_INT(ne_scan_req_encode(&q, &b), NE_EINVAL);
    ne_pbuf_free(&b);
}

struct got {
    int chunks;
    size_t points;
    double fsum;
    int64_t isum;
    int trues;
    char strs[64];
    char tags[64];
};

static int got_chunk(void *arg, const struct ne_scan_chunk_msg *c)
{
    struct got *g = arg;
    g->chunks++;
    g->points += c->n;
    for (size_t i = 0; i < c->n; i++) {
        if (c->type == NE_V_FLOAT) g->fsum += ((const double *)c->vals)[i];
        if (c->type == NE_V_INT) g->isum += ((const int64_t *)c->vals)[i];
        if (c->type == NE_V_UINT) g->isum += (int64_t)((const uint64_t *)c->vals)[i];
        if (c->type == NE_V_BOOL) g->trues += ((const bool *)c->vals)[i];
        if (c->type == NE_V_STRING) {
            const struct ne_sv *s = (const struct ne_sv *)c->vals + i;
            strncat(g->strs, s->p, s->n);
        }
    }
    if (c->ntags)
        snprintf(g->tags, sizeof g->tags, "%.*s=%.*s", (int)c->tags[0].key.n, c->tags[0].key.p,
                 (int)c->tags[0].val.n, c->tags[0].val.p);
    return 0;
}

static void test_scan_reply_roundtrip_every_type(void)
{
    int64_t ts[3] = {1, 2, 3};
    double f[3] = {0.5, 1.25, -2};
    int64_t i[3] = {-4, 5, 6};
    uint64_t u[3] = {7, 8, UINT64_MAX - 20};
    bool bo[3] = {true, false, true};
    struct ne_sv s[3] = {NE_SV("ab"), NE_SV(""), NE_SV("cd")};
    struct ne_tag tag = {NE_SV("host"), NE_SV("a")};
    struct ne_pbuf b = {0};
    T_OK(ne_scan_reply_init(&b));
    const void *vals[] = {f, i, u, bo, s};
    for (int t = NE_V_FLOAT; t <= NE_V_STRING; t++) {
        struct ne_scan_chunk_msg c = {NE_SV("m"), &tag, 1, (uint8_t)t, 3, ts, vals[t - 1]};
        size_t before = b.len;
        T_OK(ne_scan_reply_add(&b, &c));
        T_EQ_U64(b.len - before, ne_scan_chunk_size(&c));
    }
    struct ne_scan_token next = {true, 9, 10};
    ne_scan_reply_finish(&b, &next);
    struct got g = {0};
    struct ne_scan_token back;
    T_OK(ne_scan_reply_parse(b.p, b.len, &back, got_chunk, &g));
    T_EQ_INT(g.chunks, 5);
    T_EQ_U64(g.points, 15);
    T_EQ_DBL(g.fsum, -0.25, 0);
    T_EQ_INT(g.isum, 7 + 15 + (int64_t)(UINT64_MAX - 20));
    T_EQ_INT(g.trues, 2);
    T_EQ_STR(g.strs, "abcd");
    T_EQ_STR(g.tags, "host=a");
    T_CHECK(back.set && back.series == 9 && back.ts == 10);
    /* every truncation fails cleanly (or parses a whole prefix of chunks) */
    for (size_t cut = 0; cut < b.len; cut++) {
        struct got h = {0};
        int rc = ne_scan_reply_parse(b.p, cut, &back, got_chunk, &h);
        T_CHECK(rc == NE_ECORRUPT || (rc == 0 && h.chunks < 5));
    }
    /* unsorted timestamps are refused */
    int64_t bad_ts[2] = {5, 5};
    T_OK(ne_scan_reply_init(&b));
    struct ne_scan_chunk_msg c = {NE_SV("m"), NULL, 0, NE_V_FLOAT, 2, bad_ts, f};
    T_OK(ne_scan_reply_add(&b, &c));
    struct got h = {0};
    T_EQ_INT(ne_scan_reply_parse(b.p, b.len, &back, got_chunk, &h), NE_ECORRUPT);
    ne_pbuf_free(&b);
}

static int count_entry(void *arg, const struct ne_meta_entry *e)
{
    struct got *g = arg;
    g->chunks++;
    if (e->name) strncat(g->strs, e->name, sizeof g->strs - strlen(g->strs) - 1);
    if (e->ntags) snprintf(g->tags, sizeof g->tags, "%s=%s", e->tags[0].key.p, e->tags[0].val.p);
    g->isum += e->type;
    return 0;
}

static void test_meta_roundtrip(void)
{
    uint32_t shards[] = {0, 3};
    struct ne_meta_req q = {.op = NE_META_SERIES,
                            .db = "db",
                            .meas = "m",
                            .ring_shards = 4,
                            .shards = shards,
                            .nshards = 2,
                            .skip = 7,
                            .max_reply = 100};
    struct ne_pbuf b = {0};
    T_OK(ne_meta_req_encode(&q, &b));
    struct ne_meta_req d;
    T_OK(ne_meta_req_decode(b.p, b.len, &d));
    T_EQ_INT(d.op, NE_META_SERIES);
    T_EQ_STR(d.meas, "m");
    T_EQ_U64(d.nshards, 2);
    T_EQ_U64(d.shards[1], 3);
    T_EQ_U64(d.skip, 7);
    ne_meta_req_release(&d);
    for (size_t cut = 0; cut < b.len; cut++) {
        T_EQ_INT(ne_meta_req_decode(b.p, cut, &d), NE_ECORRUPT);
        ne_meta_req_release(&d);
    }
    struct ne_tag tag = {NE_SV("dev"), NE_SV("x1")};
    struct ne_meta_entry e = {.tags = &tag, .ntags = 1};
    T_OK(ne_meta_reply_init(&b));
    T_OK(ne_meta_reply_add(&b, NE_META_SERIES, &e));
    ne_meta_reply_finish(&b, true);
    struct got g = {0};
    bool more = false;
    T_OK(ne_meta_reply_parse(b.p, b.len, NE_META_SERIES, &more, count_entry, &g));
    T_CHECK(more);
    T_EQ_INT(g.chunks, 1);
    T_EQ_STR(g.tags, "dev=x1");
    struct ne_meta_entry f1 = {.name = "temp", .type = NE_V_FLOAT};
    struct ne_meta_entry f2 = {.name = "ok", .type = NE_V_BOOL};
    T_OK(ne_meta_reply_init(&b));
    T_OK(ne_meta_reply_add(&b, NE_META_FIELDS, &f1));
    T_OK(ne_meta_reply_add(&b, NE_META_FIELDS, &f2));
    ne_meta_reply_finish(&b, false);
    memset(&g, 0, sizeof g);
    T_OK(ne_meta_reply_parse(b.p, b.len, NE_META_FIELDS, &more, count_entry, &g));
    T_CHECK(!more);
    T_EQ_STR(g.strs, "tempok");
    T_EQ_INT(g.isum, NE_V_FLOAT + NE_V_BOOL);
    b.p[b.len - 1] = 99; /* not a type */
    T_EQ_INT(ne_meta_reply_parse(b.p, b.len, NE_META_FIELDS, &more, count_entry, &g), NE_ECORRUPT);
    ne_pbuf_free(&b);
}

/* ---- serving from a store ------------------------------------------------------ */

/* m,host=hK x=(base + K) at EU_T0 + i s, i < NPTS, K < NSER; also s (string). */
static struct ne_store *open_store(char *dir, size_t n, double base)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(dir, n));
    struct ne_store *s = NULL;
    if (ne_store_open(&o, &s)) return NULL;
    struct ne_batch b;
    ne_batch_init(&b);
    static char hosts[NSER][16]; /* the batch keeps views of them */
    for (int k = 0; k < NSER; k++) {
        snprintf(hosts[k], sizeof hosts[k], "h%02d", k);
        for (int i = 0; i < NPTS; i++)
            eu_point_f(&b, "m", "host", hosts[k], "x", EU_T0 + i * EU_SEC, base + k);
    }
    eu_point_i(&b, "n", "host", "h00", "c", EU_T0, 3);
    struct ne_write_result r;
    int rc = ne_store_write(s, "db", &b, &r);
    ne_batch_free(&b);
    if (rc) ne_store_close(&s);
    return s;
}

static uint64_t hash_in(const char *meas, int k)
{
    char host[16];
    snprintf(host, sizeof host, "h%02d", k);
    struct ne_tag t = {NE_SV("host"), ne_sv_c(host)};
    return ne_ring_series_hash(ne_sv_c(meas), &t, 1);
}

static uint64_t hash_of(int k)
{
    return hash_in("m", k);
}

struct pages {
    int pages;
    size_t points;
    double sum;
    int64_t last_ts[NSER];
    bool order_ok;
};

static int page_chunk(void *arg, const struct ne_scan_chunk_msg *c)
{
    struct pages *p = arg;
    int k = atoi(c->tags[0].val.p + 1);
    for (size_t i = 0; i < c->n; i++) {
        if (c->ts[i] <= p->last_ts[k]) p->order_ok = false; /* a point twice or out of order */
        p->last_ts[k] = c->ts[i];
        p->sum += ((const double *)c->vals)[i];
    }
    p->points += c->n;
    return 0;
}

/* Runs a whole paged scan through ne_scan_serve, as a peer would. */
static int serve_all(const struct ne_qsrc *src, struct ne_scan_req q, struct pages *p)
{
    struct ne_pbuf msg = {0}, reply = {0};
    int rc;
    memset(p, 0, sizeof *p);
    p->order_ok = true;
    for (int k = 0; k < NSER; k++)
        p->last_ts[k] = INT64_MIN;
    do {
        msg.len = 0;
        uint8_t type = 0;
        rc = ne_scan_req_encode(&q, &msg);
        if (!rc) rc = ne_scan_serve(src, NE_FT_SCAN_REQ, msg.p, msg.len, &reply, &type);
        if (!rc && type != NE_FT_SCAN_REPLY) rc = -1;
        if (!rc && reply.len > NE_SCAN_REPLY_MIN) rc = -2; /* over budget */
        if (!rc) rc = ne_scan_reply_parse(reply.p, reply.len, &q.token, page_chunk, p);
        p->pages++;
    } while (!rc && q.token.set && p->pages < 10000);
    ne_pbuf_free(&msg);
    ne_pbuf_free(&reply);
    return rc;
}

static void test_serve_pages_and_shard_filter(void)
{
    char dir[256];
    struct ne_store *s = open_store(dir, sizeof dir, 0);
    T_CHECK(s);
    struct ne_qsrc src;
    ne_store_qsrc(s, &src);
    uint32_t all[SHARDS], some[] = {1, 2, 5};
    for (uint32_t i = 0; i < SHARDS; i++)
        all[i] = i;
    struct ne_scan_req q = {.db = "db",
                            .meas = "m",
                            .field = "x",
                            .type = NE_V_FLOAT,
                            .t0 = INT64_MIN,
                            .t1 = INT64_MAX,
                            .ring_shards = SHARDS,
                            .shards = all,
                            .nshards = SHARDS,
                            .max_reply = 1};
    struct pages p;
    T_OK(serve_all(&src, q, &p));
    T_EQ_U64(p.points, NSER * NPTS);
    T_CHECK(p.order_ok);
    T_CHECK(p.pages > 10); /* 1000 points at ~16 bytes in 1 KiB replies */
    T_EQ_DBL(p.sum, NPTS * (NSER * (NSER - 1) / 2.0), 1e-9);
    /* a subset of shards: exactly the series hashing there */
    size_t want = 0;
    double wsum = 0;
    for (int k = 0; k < NSER; k++) {
        uint32_t sh = (uint32_t)(hash_of(k) % SHARDS);
        if (sh == 1 || sh == 2 || sh == 5) {
            want += NPTS;
            wsum += NPTS * k;
        }
    }
    q.shards = some;
    q.nshards = 3;
    q.t0 = EU_T0 + 10 * EU_SEC; /* and a time range */
    T_OK(serve_all(&src, q, &p));
    T_EQ_U64(p.points, want / NPTS * (NPTS - 10));
    T_EQ_DBL(p.sum, wsum / NPTS * (NPTS - 10), 1e-9);
    T_CHECK(p.order_ok);
    /* a series list narrows further */
    uint64_t one = hash_of(3);
    uint32_t its = (uint32_t)(one % SHARDS);
    q.shards = &its;
    q.nshards = 1;
    q.series = &one;
    q.nseries = 1;
    q.t0 = INT64_MIN;
    T_OK(serve_all(&src, q, &p));
    T_EQ_U64(p.points, NPTS);
    T_EQ_DBL(p.sum, 3.0 * NPTS, 1e-9);
    /* the wrong type is refused, an unknown field is empty */
    q.type = NE_V_INT;
    T_EQ_INT(serve_all(&src, q, &p), NE_ECONFLICT);
    q.field = "nosuch";
    T_OK(serve_all(&src, q, &p));
    T_EQ_U64(p.points, 0);
    ne_store_close(&s);
    eu_rmtree(dir);
}

static void test_serve_meta_pages(void)
{
    char dir[256];
    struct ne_store *s = open_store(dir, sizeof dir, 0);
    T_CHECK(s);
    struct ne_qsrc src;
    ne_store_qsrc(s, &src);
    uint32_t all[SHARDS];
    for (uint32_t i = 0; i < SHARDS; i++)
        all[i] = i;
    struct ne_meta_req q = {.op = NE_META_SERIES,
                            .db = "db",
                            .meas = "m",
                            .ring_shards = SHARDS,
                            .shards = all,
                            .nshards = SHARDS,
                            .max_reply = 1};
    struct ne_pbuf msg = {0}, reply = {0};
    struct got g = {0};
    int pages = 0;
    bool more = true;
    while (more && pages < 100) {
        msg.len = 0;
        uint8_t type;
        q.skip = (uint32_t)g.chunks;
        T_OK(ne_meta_req_encode(&q, &msg));
        T_OK(ne_scan_serve(&src, NE_FT_META_REQ, msg.p, msg.len, &reply, &type));
        T_EQ_INT(type, NE_FT_META_REPLY);
        T_OK(ne_meta_reply_parse(reply.p, reply.len, q.op, &more, count_entry, &g));
        pages++;
    }
    T_EQ_INT(g.chunks, NSER);
    T_EQ_INT(pages, 1); /* 20 short tag sets fit in 1 KiB */
    q.op = NE_META_MEASUREMENTS;
    q.skip = 0;
    memset(&g, 0, sizeof g);
    msg.len = 0;
    uint8_t type;
    T_OK(ne_meta_req_encode(&q, &msg));
    T_OK(ne_scan_serve(&src, NE_FT_META_REQ, msg.p, msg.len, &reply, &type));
    T_OK(ne_meta_reply_parse(reply.p, reply.len, q.op, &more, count_entry, &g));
    T_EQ_STR(g.strs, "mn");
    /* a garbled request is an error, not a crash */
    T_EQ_INT(ne_scan_serve(&src, NE_FT_META_REQ, msg.p, 3, &reply, &type), NE_ECORRUPT);
    ne_pbuf_free(&msg);
    ne_pbuf_free(&reply);
    ne_store_close(&s);
    eu_rmtree(dir);
}

/* ---- the cluster source ------------------------------------------------------- */

static char *run_as(const struct ne_qsrc *src, const char *q, enum ne_qfmt fmt)
{
    char *t = NULL;
    qt_query(src, (struct ne_qwriter_opts){.format = fmt, .epoch = "s"}, q, &t);
    return t; /* what was written, an error answer too */
}

static char *run(const struct ne_qsrc *src, const char *q)
{
    return run_as(src, q, NE_QFMT_JSON);
}

static bool has(const char *hay, const char *needle)
{
    bool ok = hay && strstr(hay, needle);
    if (!ok) fprintf(stderr, "    missing %s\n    in %s\n", needle, hay ? hay : "(null)");
    return ok;
}

static struct ne_qsrc g_served; /* what node b's transport serves */

static int serve(void *ctx, const char *peer, uint8_t type, const uint8_t *msg, size_t n,
                 struct ne_pbuf *reply, uint8_t *reply_type)
{
    (void)ctx;
    (void)peer;
    return ne_scan_serve(&g_served, type, msg, n, reply, reply_type);
}

static struct ne_transport *start_tp(const char *id, bool server)
{
    struct ne_transport_opts o = {.node_id = id,
                                  .incarnation = 1,
                                  .listen = server ? "127.0.0.1:0" : NULL,
                                  .key = key,
                                  .key_len = 32,
                                  .connect_timeout_ms = 2000,
                                  .io_timeout_ms = 2000,
                                  .handler = server ? serve : NULL};
    struct ne_transport *t = NULL;
    return ne_transport_start(&o, &t) == 0 ? t : NULL;
}

/* m2,host=hK y=1 at EU_T0, as a float or as an integer. */
static int write_m2(struct ne_store *s, bool as_int)
{
    static char hosts[NSER][16];
    struct ne_batch b;
    ne_batch_init(&b);
    for (int k = 0; k < NSER; k++) {
        snprintf(hosts[k], sizeof hosts[k], "h%02d", k);
        if (as_int)
            eu_point_i(&b, "m2", "host", hosts[k], "y", EU_T0, 1);
        else
            eu_point_f(&b, "m2", "host", hosts[k], "y", EU_T0, 1);
    }
    struct ne_write_result r;
    int rc = ne_store_write(s, "db", &b, &r);
    ne_batch_free(&b);
    return rc;
}

/* What the cluster source handed its deleter. */
struct deletions {
    int n;
    uint8_t kind;
    uint32_t nseries;
    uint64_t first;
    int64_t t0, t1;
    char meas[32];
};

static int record_delete(void *ctx, struct ne_tomb *t)
{
    struct deletions *d = ctx;
    d->n++;
    d->kind = t->kind;
    d->nseries = t->nseries;
    d->first = t->nseries ? t->series[0] : 0;
    d->t0 = t->t0;
    d->t1 = t->t1;
    snprintf(d->meas, sizeof d->meas, "%s", t->meas ? t->meas : "");
    return 0;
}

/* Node a holds x = K for series K, node b x = 100 + K, both every series:
 * a fanned-out read must take each series from its shard's chosen node.
 * DELETE and DROP go to the deleter, a DELETE by the hashes of the series
 * it picks, and only when every shard could be read. */
static void test_cluster_source_two_nodes(void)
{
    char da[256], db[256];
    struct ne_store *sa = open_store(da, sizeof da, 0), *sb = open_store(db, sizeof db, 100);
    T_CHECK(sa && sb);
    struct ne_qsrc la;
    ne_store_qsrc(sa, &la);
    ne_store_qsrc(sb, &g_served);
    struct ne_transport *tb = start_tp("b", true), *ta = start_tp("a", false);
    T_CHECK(ta && tb);
    struct ne_csrc_member ms[] = {{"a", "", true, false},
                                  {"b", ne_transport_addr(tb), true, false}};
    struct deletions del = {0};
    struct ne_csrc_opts o = {.deleter = record_delete,
                             .deleter_ctx = &del,
                             .local = &la,
                             .tp = ta,
                             .self = "a",
                             .members = ms,
                             .nmembers = 2,
                             .shards = SHARDS,
                             .vnodes = 16,
                             .rf = 1,
                             .max_reply = 1};
    struct ne_csrc *c = NULL;
    T_OK(ne_csrc_new(&o, &c));
    double want = 0;
    int on_b = 0;
    for (int k = 0; k < NSER; k++) {
        const char *who = ne_csrc_chosen(c, (uint32_t)(hash_of(k) % SHARDS));
        T_CHECK(who);
        on_b += strcmp(who, "b") == 0;
        want += NPTS * (strcmp(who, "b") == 0 ? 100.0 + k : k);
    }
    T_CHECK(on_b > 0 && on_b < NSER); /* both nodes answer for some */
    struct ne_qsrc cs;
    ne_csrc_qsrc(c, &cs);
    char exp[256];
    snprintf(exp, sizeof exp, "[[0,%d,%.0f]]", NSER * NPTS, want);
    char *a = run(&cs, "SELECT count(x), sum(x) FROM m");
    T_CHECK(has(a, exp));
    T_CHECK(a && !strstr(a, "messages"));
    free(a);
    a = run(&cs, "SHOW TAG VALUES FROM m WITH KEY = host");
    T_CHECK(has(a, "[\"host\",\"h00\"]") && has(a, "[\"host\",\"h19\"]"));
    free(a);
    a = run(&cs, "SELECT last(x) FROM m WHERE host = 'h07'");
    snprintf(exp, sizeof exp, "%.0f]]",
             strcmp(ne_csrc_chosen(c, (uint32_t)(hash_of(7) % SHARDS)), "b") ? 7.0 : 107.0);
    T_CHECK(has(a, exp));
    free(a);
    a = run(&cs, "DELETE FROM m WHERE host = 'h07' AND time >= 5s AND time <= 9s");
    T_CHECK(has(a, "{\"results\":[{\"statement_id\":0}]}"));
    free(a);
    T_EQ_INT(del.n, 1);
    T_EQ_INT(del.kind, NE_TOMB_POINTS);
    T_EQ_INT(del.nseries, 1);
    T_EQ_U64(del.first, hash_of(7));
    T_EQ_INT(del.t0, 5000000000LL);
    T_EQ_INT(del.t1, 9000000000LL);
    a = run(&cs, "DELETE FROM m WHERE host =~ /^h0/");
    T_CHECK(has(a, "{\"results\":[{\"statement_id\":0}]}"));
    free(a);
    T_EQ_INT(del.n, 2);
    T_EQ_INT(del.nseries, 10); /* h00..h09, listed by both nodes, named once */

    /* y is a float on a, an integer on b: b's points are left out, said so */
    T_OK(write_m2(sa, false));
    T_OK(write_m2(sb, true));
    a = run(&cs, "SELECT count(y) FROM m2");
    int m2_on_a = 0;
    for (int k = 0; k < NSER; k++)
        m2_on_a += strcmp(ne_csrc_chosen(c, (uint32_t)(hash_in("m2", k) % SHARDS)), "a") == 0;
    T_CHECK(m2_on_a < NSER);
    snprintf(exp, sizeof exp, "[[0,%d]]", m2_on_a);
    T_CHECK(has(a, exp));
    T_CHECK(has(a, "partial result: field y is not of type float on node b"));
    free(a);

    /* ids beyond max_listed: b sends its shards whole, a keeps what it asked
     * (all but one series of b's) */
    int skip = 0;
    while (strcmp(ne_csrc_chosen(c, (uint32_t)(hash_of(skip) % SHARDS)), "b") != 0)
        skip++;
    ne_csrc_free(&c);
    o.max_listed = 1;
    T_OK(ne_csrc_new(&o, &c));
    ne_csrc_qsrc(c, &cs);
    char q[96];
    snprintf(q, sizeof q, "SELECT count(x) FROM m WHERE host != 'h%02d'", skip);
    a = run(&cs, q);
    snprintf(exp, sizeof exp, "[[0,%d]]", (NSER - 1) * NPTS);
    T_CHECK(has(a, exp));
    free(a);
    ne_csrc_free(&c);
    o.max_listed = 0;

    /* b down (known dead): its shards are missing and named */
    ms[1].live = false;
    T_OK(ne_csrc_new(&o, &c));
    size_t nmiss = 0;
    ne_csrc_missing(c, &nmiss);
    T_CHECK(nmiss > 0);
    ne_csrc_qsrc(c, &cs);
    a = run(&cs, "SELECT count(x) FROM m; SHOW MEASUREMENTS");
    snprintf(exp, sizeof exp, "[[0,%d]]", (NSER - on_b) * NPTS);
    T_CHECK(has(a, exp));
    T_CHECK(has(a, "\"messages\":[{\"level\":\"warning\",\"text\":\"partial result: "));
    T_CHECK(has(a, "owners down: b"));
    T_CHECK(has(a, "\"statement_id\":1,\"series\""));
    free(a);
    a = run_as(&cs, "SELECT count(x) FROM m", NE_QFMT_TABLE);
    T_CHECK(has(a, "WARNING: partial result: "));
    free(a);
    int before = del.n;
    a = run(&cs, "DELETE FROM m WHERE host = 'h07'");
    T_CHECK(has(a, "\"error\":\"delete failed: "));
    T_CHECK(has(a, "DELETE refused: not every shard could be read"));
    free(a);
    T_EQ_INT(del.n, before); /* nothing handed over */
    a = run(&cs, "DROP MEASUREMENT m2"); /* by name: goes on, warning kept */
    T_CHECK(has(a, "{\"results\":[{\"statement_id\":0,\"messages\""));
    T_CHECK(a && !strstr(a, "error"));
    free(a);
    T_EQ_INT(del.n, before + 1);
    T_EQ_INT(del.kind, NE_TOMB_MEASUREMENT);
    T_EQ_STR(del.meas, "m2");
    ne_csrc_free(&c);

    /* b thought alive but gone: the call fails, the answer says so */
    ms[1].live = true;
    T_OK(ne_csrc_new(&o, &c));
    ne_transport_stop(&tb);
    ne_csrc_qsrc(c, &cs);
    a = run(&cs, "SELECT count(x) FROM m");
    T_CHECK(has(a, exp));
    T_CHECK(has(a, "partial result: node b ("));
    T_CHECK(has(a, "did not answer"));
    free(a);
    before = del.n;
    a = run(&cs, "DELETE FROM m WHERE host = 'h07'");
    T_CHECK(has(a, "DELETE refused: not every shard could be read"));
    free(a);
    T_EQ_INT(del.n, before);
    ne_csrc_free(&c);
    ne_transport_stop(&ta);
    ne_store_close(&sa);
    ne_store_close(&sb);
    eu_rmtree(da);
    eu_rmtree(db);
}

/* Shard moves: b holds the even shards complete, c (off the ring, e.g.
 * decommissioned) holds every shard, this node (a) none: each shard is read
 * from an owner holding it, else from c; when nobody holds a shard the
 * owners are asked as before. */
static int g_holds_mode;
static bool holds_even_b(void *ctx, uint32_t shard, const char *node)
{
    (void)ctx;
    if (g_holds_mode == 1) return false;
    if (strcmp(node, "b") == 0) return shard % 2 == 0;
    return strcmp(node, "c") == 0;
}

static void test_cluster_source_reads_holders(void)
{
    char da[256];
    struct ne_store *sa = open_store(da, sizeof da, 0);
    struct ne_transport *ta = start_tp("a", false);
    T_CHECK(sa && ta);
    struct ne_qsrc la;
    ne_store_qsrc(sa, &la);
    struct ne_csrc_member ms[] = {{"a", "", true, false},
                                  {"b", "127.0.0.1:1", true, false},
                                  {"c", "127.0.0.1:2", true, true}};
    struct ne_csrc_opts o = {.local = &la,
                             .tp = ta,
                             .self = "a",
                             .members = ms,
                             .nmembers = 3,
                             .shards = SHARDS,
                             .vnodes = 16,
                             .rf = 2,
                             .holds = holds_even_b};
    struct ne_csrc *c = NULL;
    g_holds_mode = 0;
    T_OK(ne_csrc_new(&o, &c));
    for (uint32_t s = 0; s < SHARDS; s++)
        T_EQ_STR(ne_csrc_chosen(c, s), s % 2 == 0 ? "b" : "c");
    size_t nmiss = 0;
    (void)ne_csrc_missing(c, &nmiss);
    T_EQ_INT(nmiss, 0);
    ne_csrc_free(&c);
    g_holds_mode = 1; /* nobody holds anything: the owners, this node first */
    T_OK(ne_csrc_new(&o, &c));
    for (uint32_t s = 0; s < SHARDS; s++)
        T_EQ_STR(ne_csrc_chosen(c, s), "a");
    ne_csrc_free(&c);
    ne_transport_stop(&ta);
    ne_store_close(&sa);
    eu_rmtree(da);
}

int main(void)
{
    T_RUN(test_scan_req_roundtrip_and_corruption);
    T_RUN(test_scan_reply_roundtrip_every_type);
    T_RUN(test_meta_roundtrip);
    T_RUN(test_serve_pages_and_shard_filter);
    T_RUN(test_serve_meta_pages);
    T_RUN(test_cluster_source_two_nodes);
    T_RUN(test_cluster_source_reads_holders);
    return t_done();
}
