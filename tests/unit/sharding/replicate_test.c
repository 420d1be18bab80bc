/*
 * replicate_test.c - the write side of replication with real parts: the
 * record codec (round trip, every truncation refused), and two or three
 * nodes on loopback, each with its own store, transport and replicator:
 * points reach the other owner; while traffic to the peer is dropped the
 * hint queue keeps them and the peer gets them when traffic flows again;
 * a replicator restarted with a full queue replays it; points are split
 * by owner, and nothing goes to a node that owns none of them; a keeper
 * of shards it no longer owns gets their points too, in keeper records it
 * stores only while it still keeps the shard.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/metrics.h"
#include "ports/platform.h"
#include "sharding/replicate.h"
#include "sharding/transport.h"
#include "store/store.h"
#include "t.h"

static const uint8_t key[32] = "replicate-test-key-0123456789abc";

/* ---- codec ---------------------------------------------------------------- */

static void build_batch(struct ne_batch *b, int n, int64_t ts0)
{
    ne_batch_init(b);
    for (int i = 0; i < n; i++) {
        char host[16];
        snprintf(host, sizeof host, "gw-%d", i);
        ne_batch_begin(b, NE_SV("cpu"), ts0 + i);
        ne_batch_tag(b, NE_SV("host"), ne_batch_copy(b, host, strlen(host)));
        ne_batch_tag(b, NE_SV("dc"), NE_SV("west"));
        ne_batch_field_f(b, NE_SV("usage"), 0.5 + i);
        ne_batch_end(b);
    }
}

static void test_codec_round_trip(void)
{
    struct ne_batch b;
    ne_batch_init(&b);
    ne_batch_begin(&b, NE_SV("m"), 42);
    ne_batch_tag(&b, NE_SV("k"), NE_SV("v"));
    union ne_value v;
    v.f = -1.25;
    ne_batch_field(&b, NE_SV("f"), NE_V_FLOAT, v);
    v.i = -7;
    ne_batch_field(&b, NE_SV("i"), NE_V_INT, v);
    v.u = UINT64_MAX;
    ne_batch_field(&b, NE_SV("u"), NE_V_UINT, v);
    v.b = true;
    ne_batch_field(&b, NE_SV("b"), NE_V_BOOL, v);
    v.s = NE_SV("text");
    ne_batch_field(&b, NE_SV("s"), NE_V_STRING, v);
    T_OK(ne_batch_end(&b));
    ne_batch_begin(&b, NE_SV("other"), -5);
    ne_batch_field_f(&b, NE_SV("x"), 3);
    T_OK(ne_batch_end(&b));

    struct ne_pbuf enc = {0};
    uint32_t idx[2] = {1, 0};
    T_OK(ne_repl_encode(&enc, "iot", &b, NULL, idx, 2));
    struct ne_batch d;
    ne_batch_init(&d);
    char db[256];
    struct ne_repl_vers vs = {0};
    T_OK(ne_repl_decode(enc.p, enc.len, db, &d, &vs));
    T_CHECK(!vs.any);
    T_EQ_STR(db, "iot");
    T_EQ_U64(d.npts, 2);
    T_CHECK(ne_sv_eq(d.pts[0].meas, NE_SV("other")) && d.pts[0].ts == -5);
    const struct ne_point *p = &d.pts[1];
    T_CHECK(ne_sv_eq(p->meas, NE_SV("m")) && p->ts == 42 && p->ntags == 1 && p->nfields == 5);
    const struct ne_field *f = ne_point_fields(&d, p);
    T_CHECK(ne_sv_eq(ne_point_tags(&d, p)[0].val, NE_SV("v")));
    T_CHECK(f[0].type == NE_V_FLOAT && f[0].v.f == -1.25);
    T_CHECK(f[1].type == NE_V_INT && f[1].v.i == -7);
    T_CHECK(f[2].type == NE_V_UINT && f[2].v.u == UINT64_MAX);
    T_CHECK(f[3].type == NE_V_BOOL && f[3].v.b);
    T_CHECK(f[4].type == NE_V_STRING && ne_sv_eq(f[4].v.s, NE_SV("text")));

    /* every truncation and a trailing byte are refused, never read past */
    for (size_t cut = 0; cut < enc.len; cut++) {
        uint8_t *copy = ne_malloc(cut ? cut : 1);
        memcpy(copy, enc.p, cut);
        int rc = ne_repl_decode(copy, cut, db, &d, NULL);
        ne_free(copy);
        if (rc != NE_ECORRUPT) T_FAIL_("cut at %zu: %d", cut, rc);
    }
    T_OK(ne_pbuf_reserve(&enc, 1));
    enc.p[enc.len++] = 0;
    T_EQ_INT(ne_repl_decode(enc.p, enc.len, db, &d, NULL), NE_ECORRUPT);

    /* a versioned record: each point keeps its version */
    uint64_t ver[2] = {UINT64_MAX - 1, 0x1234567890ull};
    enc.len = 0;
    T_OK(ne_repl_encode(&enc, "iot", &b, ver, idx, 2));
    T_OK(ne_repl_decode(enc.p, enc.len, db, &d, &vs));
    T_CHECK(vs.any);
    T_EQ_U64(d.npts, 2);
    T_CHECK(ne_sv_eq(d.pts[0].meas, NE_SV("other")));
    T_EQ_U64(vs.v[0], ver[1]);
    T_EQ_U64(vs.v[1], ver[0]);
    for (size_t cut = 0; cut < enc.len; cut++)
        if (ne_repl_decode(enc.p, cut, db, &d, &vs) != NE_ECORRUPT) T_FAIL_("cut at %zu", cut);
    ne_repl_vers_free(&vs);
    /* a point without its timestamp cannot be forwarded */
    ne_batch_begin(&b, NE_SV("late"), NE_TS_UNSET);
    ne_batch_field_f(&b, NE_SV("x"), 1);
    T_OK(ne_batch_end(&b));
    uint32_t last = 2;
    T_EQ_INT(ne_repl_encode(&enc, "iot", &b, NULL, &last, 1), NE_EINVAL);
    ne_pbuf_free(&enc);
    ne_batch_free(&d);
    ne_batch_free(&b);
}

/* ---- nodes on loopback ---------------------------------------------------- */

struct node {
    char id[16];
    char dir[256];
    struct ne_store *store;
    struct ne_transport *tp;
    _Atomic(struct ne_replicator *) rep;
};

static struct node nodes[3];

static int handler(void *ctx, const char *peer_id, uint8_t type, const uint8_t *msg, size_t n,
                   struct ne_pbuf *reply, uint8_t *reply_type)
{
    struct node *nd = ctx;
    struct ne_replicator *r = atomic_load(&nd->rep);
    if (type != NE_FT_WRITE_BATCH || !r) return NE_EUNSUPPORTED;
    return ne_replicator_handle(r, peer_id, msg, n, reply, reply_type);
}

static int peer_addr(void *ctx, const char *peer_id, char *addr, size_t n)
{
    (void)ctx;
    for (int i = 0; i < 3; i++)
        if (nodes[i].tp && strcmp(nodes[i].id, peer_id) == 0) {
            snprintf(addr, n, "%s", ne_transport_addr(nodes[i].tp));
            return 0;
        }
    return NE_ENOTFOUND;
}

static int store_write(void *ctx, const char *db, const struct ne_batch *b, const uint64_t *ver,
                       struct ne_write_result *res)
{
    return ver ? ne_store_write_versioned(ctx, db, b, ver, res) : ne_store_write(ctx, db, b, res);
}

/* Whether the nodes still keep the shards they lost (the keeps callback). */
static atomic_bool still_keeping = true;

static bool keeps(void *ctx, uint64_t series_hash)
{
    (void)ctx;
    (void)series_hash;
    return atomic_load(&still_keeping);
}

static int start_replicator_window(struct node *nd, int64_t hint_window_ns)
{
    char hints[300];
    snprintf(hints, sizeof hints, "%s/cluster/hints", nd->dir);
    struct ne_replicator_opts o = {
        .node_id = nd->id,
        .hint_dir = hints,
        .durability = NE_STORE_SYNC,
        .max_lag_ns = 20 * 1000000LL,
        .hint_window_ns = hint_window_ns,
        .tp = nd->tp,
        .peer_addr = peer_addr,
        .local_write = store_write,
        .keeps = keeps,
        .ctx = nd->store,
    };
    struct ne_replicator *r = NULL;
    int rc = ne_replicator_start(&o, &r);
    atomic_store(&nd->rep, r);
    return rc;
}

static int start_replicator(struct node *nd)
{
    return start_replicator_window(nd, 0);
}

static void restart_replicator(struct node *nd, int64_t hint_window_ns)
{
    struct ne_replicator *r = atomic_exchange(&nd->rep, NULL);
    ne_replicator_stop(&r);
    (void)start_replicator_window(nd, hint_window_ns);
}

static int node_start(struct node *nd, const char *id)
{
    snprintf(nd->id, sizeof nd->id, "%s", id);
    if (!t_tmpdir(nd->dir, sizeof nd->dir)) return NE_EIO;
    struct ne_store_opts so;
    ne_store_opts_default(&so);
    so.data_dir = nd->dir;
    so.durability = NE_STORE_SYNC;
    so.memtable_bytes = 128u << 20; /* room for the big write below */
    int rc = ne_store_open(&so, &nd->store);
    if (rc != 0) return rc;
    struct ne_transport_opts to = {
        .node_id = id,
        .incarnation = 1,
        .listen = "127.0.0.1:0",
        .key = key,
        .key_len = sizeof key,
        .connect_timeout_ms = 1000,
        .io_timeout_ms = 5000,
        .handler = handler,
        .ctx = nd,
    };
    if ((rc = ne_transport_start(&to, &nd->tp)) != 0) return rc;
    return start_replicator(nd);
}

static void node_stop(struct node *nd)
{
    struct ne_replicator *r = atomic_exchange(&nd->rep, NULL);
    ne_replicator_stop(&r);
    ne_transport_stop(&nd->tp);
    ne_store_close(&nd->store);
    ne_fs_remove_tree(nd->dir);
}

/* A ring over the first n nodes. */
static struct ne_ring *ring_of(int n, uint32_t rf)
{
    const char *names[3] = {nodes[0].id, nodes[1].id, nodes[2].id};
    struct ne_ring_opts o = {.shards = 64, .vnodes = 16, .rf = rf};
    struct ne_ring *r = NULL;
    return ne_ring_build(&o, names, (size_t)n, &r) == 0 ? r : NULL;
}

static uint64_t points_in(struct node *nd)
{
    struct ne_store_stats st;
    ne_store_stats(nd->store, &st);
    return st.points_written;
}

/* Polls until node nd holds want points, for at most 20 s. */
static bool wait_points(struct node *nd, uint64_t want)
{
    for (int i = 0; i < 2000; i++) {
        if (points_in(nd) >= want) return points_in(nd) == want;
        ne_time_sleep_ns(10 * 1000000LL);
    }
    return false;
}

static bool wait_queue_empty(struct node *nd, const char *peer)
{
    for (int i = 0; i < 2000; i++) {
        struct ne_replicator_peer_stats ps;
        if (ne_replicator_peer_stats(atomic_load(&nd->rep), peer, &ps) == 0 &&
            ps.queue_records == 0)
            return true;
        ne_time_sleep_ns(10 * 1000000LL);
    }
    return false;
}

/* Writes b into database db on nd, then submits it, as the agent's sink
 * does. */
static int write_db(struct node *nd, const char *db, const struct ne_batch *b)
{
    struct ne_write_result res;
    memset(&res, 0, sizeof res);
    int rc = ne_store_write(nd->store, db, b, &res);
    return rc ? rc : ne_replicator_submit(atomic_load(&nd->rep), db, b, NULL);
}

static int write_on(struct node *nd, const struct ne_batch *b)
{
    return write_db(nd, "iot", b);
}

static int count_db(void *ctx, const char *name)
{
    (void)name;
    (*(int *)ctx)++;
    return 0;
}

static void test_forward_and_hints(void)
{
    T_OK(node_start(&nodes[0], "node-a"));
    T_OK(node_start(&nodes[1], "node-b"));
    ne_replicator_set_ring(atomic_load(&nodes[0].rep), ring_of(2, 2));
    ne_replicator_set_ring(atomic_load(&nodes[1].rep), ring_of(2, 2));

    struct ne_batch b;
    build_batch(&b, 100, 1700000000000000000LL);
    T_OK(write_on(&nodes[0], &b));
    T_CHECK(wait_points(&nodes[1], 100)); /* RF 2 of 2: b owns every shard */
    T_CHECK(wait_queue_empty(&nodes[0], "node-b"));
    struct ne_replicator_peer_stats ps;
    T_OK(ne_replicator_peer_stats(atomic_load(&nodes[0].rep), "node-b", &ps));
    T_EQ_U64(ps.sent_points, 100);
    T_EQ_INT(ne_replicator_peer_stats(atomic_load(&nodes[1].rep), "node-a", &ps), NE_ENOTFOUND);
    T_EQ_DBL(ne_metric_value(ne_metric_find("neoedge_replication_received_points_total", NULL)),
             100, 0);

    /* node-b unreachable: the writes wait in node-a's hint queue */
    T_OK(ne_transport_set_drop(nodes[0].tp, "node-b", true));
    ne_batch_free(&b);
    build_batch(&b, 50, 1700000001000000000LL);
    T_OK(write_on(&nodes[0], &b));
    T_OK(ne_replicator_peer_stats(atomic_load(&nodes[0].rep), "node-b", &ps));
    T_EQ_U64(ps.queue_points, 50);
    T_CHECK(ps.queue_bytes > 0);

    /* node-a restarts with the queue full: it reopens it */
    struct ne_replicator *r = atomic_exchange(&nodes[0].rep, NULL);
    ne_replicator_stop(&r);
    T_OK(start_replicator(&nodes[0]));
    ne_replicator_set_ring(atomic_load(&nodes[0].rep), ring_of(2, 2));
    T_OK(ne_replicator_peer_stats(atomic_load(&nodes[0].rep), "node-b", &ps));
    T_EQ_U64(ps.queue_points, 50);
    T_EQ_U64(points_in(&nodes[1]), 100);

    /* traffic flows again: the hints drain */
    T_OK(ne_transport_set_drop(nodes[0].tp, "node-b", false));
    T_CHECK(wait_points(&nodes[1], 150));
    T_CHECK(wait_queue_empty(&nodes[0], "node-b"));
    T_OK(ne_replicator_peer_stats(atomic_load(&nodes[0].rep), "node-b", &ps));
    T_EQ_U64(ps.sent_points, 50); /* since the restart */
    T_EQ_U64(ps.dropped_window + ps.dropped_bytes + ps.dropped_corrupt, 0);
    T_EQ_DBL(
        ne_metric_value(ne_metric_find("neoedge_replication_queue_records", "peer=\"node-b\"")), 0,
        0);
    ne_batch_free(&b);
}

static void test_split_by_owner(void)
{
    T_OK(node_start(&nodes[2], "node-c"));
    /* RF 1 over three nodes: each point goes to its one owner only */
    for (int i = 0; i < 3; i++)
        ne_replicator_set_ring(atomic_load(&nodes[i].rep), ring_of(3, 1));
    struct ne_ring *ring = ring_of(3, 1);
    T_CHECK(ring != NULL);
    struct ne_batch b;
    build_batch(&b, 200, 1700000002000000000LL);
    uint64_t want[3] = {0};
    for (uint32_t i = 0; i < b.npts; i++) {
        const struct ne_point *p = &b.pts[i];
        uint32_t s = ne_ring_shard_of_hash(
            ring, ne_ring_series_hash(p->meas, ne_point_tags(&b, p), p->ntags));
        want[ne_ring_owners(ring, s)[0]]++;
    }
    T_CHECK(want[1] > 0 && want[2] > 0); /* 200 series spread over all three */
    uint64_t b0 = points_in(&nodes[1]), c0 = points_in(&nodes[2]);
    int ib = ne_ring_node_index(ring, "node-b"), ic = ne_ring_node_index(ring, "node-c");
    T_OK(write_on(&nodes[0], &b));
    T_CHECK(wait_points(&nodes[1], b0 + want[ib]));
    T_CHECK(wait_points(&nodes[2], c0 + want[ic]));
    T_CHECK(wait_queue_empty(&nodes[0], "node-c"));
    T_CHECK(wait_queue_empty(&nodes[0], "node-b"));
    T_EQ_U64(points_in(&nodes[1]), b0 + want[ib]); /* nothing more arrived */
    /* node-c never forwards what it received */
    struct ne_replicator_peer_stats ps;
    T_EQ_INT(ne_replicator_peer_stats(atomic_load(&nodes[2].rep), "node-a", &ps), NE_ENOTFOUND);
    T_EQ_INT(ne_replicator_peer_stats(atomic_load(&nodes[2].rep), "node-b", &ps), NE_ENOTFOUND);
    ne_ring_free(&ring);
    ne_batch_free(&b);
}

/* RF 1 over three nodes, node-c keeping every shard (a shard move in
 * progress): node-c gets every point, those it does not own in keeper
 * records; once it says it keeps none (dropped), those are skipped and
 * only its own shards' points are stored. node-b sees no difference. */
static void test_keepers(void)
{
    struct ne_ring *ring = ring_of(3, 1);
    T_CHECK(ring != NULL);
    uint8_t all[8];
    memset(all, 0xff, sizeof all);
    struct ne_repl_keeper k = {"node-c", all};
    struct ne_replicator *ra = atomic_load(&nodes[0].rep);
    T_OK(ne_replicator_set_keepers(ra, 64, &k, 1));
    int ib = ne_ring_node_index(ring, "node-b"), ic = ne_ring_node_index(ring, "node-c");
    for (int round = 0; round < 2; round++) {
        atomic_store(&still_keeping, round == 0);
        struct ne_batch b;
        build_batch(&b, 200, 1700000003000000000LL + round * 1000000000LL);
        uint64_t own_b = 0, own_c = 0;
        for (uint32_t i = 0; i < b.npts; i++) {
            const struct ne_point *p = &b.pts[i];
            uint32_t s = ne_ring_shard_of_hash(
                ring, ne_ring_series_hash(p->meas, ne_point_tags(&b, p), p->ntags));
            own_b += ne_ring_owners(ring, s)[0] == (uint32_t)ib;
            own_c += ne_ring_owners(ring, s)[0] == (uint32_t)ic;
        }
        struct ne_replicator_peer_stats before, after;
        T_OK(ne_replicator_peer_stats(ra, "node-c", &before));
        uint64_t b0 = points_in(&nodes[1]), c0 = points_in(&nodes[2]);
        T_OK(write_on(&nodes[0], &b));
        T_CHECK(wait_queue_empty(&nodes[0], "node-c"));
        T_CHECK(wait_queue_empty(&nodes[0], "node-b"));
        T_CHECK(wait_points(&nodes[1], b0 + own_b));
        T_CHECK(wait_points(&nodes[2], c0 + (round == 0 ? 200 : own_c)));
        T_OK(ne_replicator_peer_stats(ra, "node-c", &after));
        T_EQ_U64(after.keeper_points - before.keeper_points, 200 - own_c);
        ne_batch_free(&b);
    }
    atomic_store(&still_keeping, true);
    T_OK(ne_replicator_set_keepers(ra, 64, NULL, 0)); /* moves done: owners only */
    ne_ring_free(&ring);
}

/* A write larger than a transport frame reaches the peer in pieces. */
static void test_big_write_split(void)
{
    ne_replicator_set_ring(atomic_load(&nodes[0].rep), ring_of(2, 2));
    size_t len = 60u << 10;
    char *text = ne_malloc(len);
    T_CHECK(text != NULL);
    memset(text, 'x', len);
    struct ne_batch b;
    ne_batch_init(&b);
    for (int i = 0; i < 300; i++) { /* 18 MB, beyond NE_FRAME_MAX */
        union ne_value v = {.s = {text, (uint32_t)len}};
        ne_batch_begin(&b, NE_SV("blob"), 1700000003000000000LL + i);
        ne_batch_field(&b, NE_SV("data"), NE_V_STRING, v);
        ne_batch_end(&b);
    }
    uint64_t before = points_in(&nodes[1]);
    int rc = write_on(&nodes[0], &b);
    ne_batch_free(&b);
    ne_free(text);
    T_OK(rc);
    T_CHECK(wait_points(&nodes[1], before + 300));
    T_CHECK(wait_queue_empty(&nodes[0], "node-b"));
}

/* Hints of several databases drain in one request, each into its own. */
static void test_databases_in_one_batch(void)
{
    ne_replicator_set_ring(atomic_load(&nodes[0].rep), ring_of(2, 2));
    T_OK(ne_transport_set_drop(nodes[0].tp, "node-b", true));
    struct ne_batch b;
    build_batch(&b, 10, 1700000004000000000LL);
    uint64_t before = points_in(&nodes[1]);
    T_OK(write_db(&nodes[0], "iot", &b));
    T_OK(write_db(&nodes[0], "plant", &b));
    T_OK(write_db(&nodes[0], "iot", &b)); /* rewritten: last writer wins */
    ne_batch_free(&b);
    T_OK(ne_transport_set_drop(nodes[0].tp, "node-b", false));
    T_CHECK(wait_points(&nodes[1], before + 30));
    T_CHECK(wait_queue_empty(&nodes[0], "node-b"));
    int ndb = 0;
    T_OK(ne_store_list_databases(nodes[1].store, count_db, &ndb));
    T_EQ_INT(ndb, 2); /* iot and plant */
}

/* Hints older than the window are dropped and counted, never sent. */
static void test_hint_window_drops(void)
{
    restart_replicator(&nodes[0], 1000000LL); /* 1 ms */
    ne_replicator_set_ring(atomic_load(&nodes[0].rep), ring_of(2, 2));
    T_OK(ne_transport_set_drop(nodes[0].tp, "node-b", true));
    struct ne_batch b;
    build_batch(&b, 10, 1700000005000000000LL);
    uint64_t before = points_in(&nodes[1]);
    T_OK(write_on(&nodes[0], &b));
    ne_batch_free(&b);
    struct ne_replicator_peer_stats ps = {0};
    for (int i = 0; i < 2000 && ps.dropped_window < 10; i++) {
        ne_time_sleep_ns(10 * 1000000LL);
        T_OK(ne_replicator_peer_stats(atomic_load(&nodes[0].rep), "node-b", &ps));
    }
    T_EQ_U64(ps.dropped_window, 10);
    T_EQ_U64(ps.queue_records, 0);
    T_OK(ne_transport_set_drop(nodes[0].tp, "node-b", false));
    T_EQ_U64(points_in(&nodes[1]), before); /* lost for node-b, as counted */
    bool counted = false;
    for (int i = 0; i < 2000 && !counted; i++) { /* the sender publishes it */
        counted = ne_metric_value(ne_metric_find("neoedge_replication_dropped_points_total",
                                                 "peer=\"node-b\",reason=\"hint_window\"")) == 10;
        if (!counted) ne_time_sleep_ns(10 * 1000000LL);
    }
    T_CHECK(counted);
    restart_replicator(&nodes[0], 0);
}

static void test_malformed_request_refused(void)
{
    struct ne_pbuf reply = {0};
    uint8_t rt = 0;
    uint8_t junk[9] = {1, 0, 0, 0, 200, 0, 0, 0, 1};
    T_EQ_INT(ne_transport_call(nodes[0].tp, "node-b", ne_transport_addr(nodes[1].tp),
                               NE_FT_WRITE_BATCH, junk, sizeof junk, &reply, &rt),
             NE_ECORRUPT);
    ne_pbuf_free(&reply);
}

int main(void)
{
    ne_log_set_level(NE_LOG_ERROR);
    T_RUN(test_codec_round_trip);
    T_RUN(test_forward_and_hints);
    T_RUN(test_split_by_owner);
    T_RUN(test_keepers);
    T_RUN(test_big_write_split);
    T_RUN(test_databases_in_one_batch);
    T_RUN(test_hint_window_drops);
    T_RUN(test_malformed_request_refused);
    for (int i = 0; i < 3; i++)
        node_stop(&nodes[i]);
    return t_done();
}
