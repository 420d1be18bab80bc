/*
 * antientropy_test.c - anti-entropy between two real stores, requests
 * served in-process by ne_ae_handle: equal content written in another
 * order and batching has equal digests (nothing is pulled); missing
 * points, whole missing buckets and series, and conflicting versions are
 * found level by level and pulled, the greater version winning on both
 * sides (equal versions with different values: the larger value, on both
 * sides); after one round each way the replicas read the same, and a
 * further round finds nothing; a pull too big for one reply is split.
 * With a window, a routine round reads only the recent hours and its
 * sweep slice of shards (counted points), yet an old difference is
 * repaired by the sweep within sweep_rounds rounds, and at once by a full
 * round after ne_ae_full_next.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/log.h"
#include "ports/platform.h"
#include "sharding/antientropy.h"
#include "sharding/wire.h"
#include "ae_testlib.h"
#include "t.h"

#define T0    1767225600000000000LL /* 2026-01-01T00:00:00Z */
#define SEC   1000000000LL
#define HOUR  (3600 * SEC)

static char g_root[256];

/* A side in g_root/name whose memtable is never flushed for its age. */
static void side_open(struct ae_side *s, const char *name, uint32_t shards)
{
    T_OK(ae_side_open(s, g_root, name, shards, 0));
}

/* Writes dev=<dev> x=<v> at ts with version ver (0: unversioned). */
static void put(struct ae_side *s, const char *db, int dev, int64_t ts, double v, uint64_t ver)
{
    char name[16];
    snprintf(name, sizeof name, "d%03d", dev);
    struct ne_batch b;
    ne_batch_init(&b);
    ne_batch_begin(&b, NE_SV("env"), ts);
    ne_batch_tag(&b, NE_SV("dev"), ne_sv_c(name));
    ne_batch_field_f(&b, NE_SV("x"), v);
    ne_batch_end(&b);
    struct ne_write_result res;
    if (ver)
        T_OK(ne_store_write_versioned(s->st, db, &b, &ver, &res));
    else
        T_OK(ne_store_write(s->st, db, &b, &res));
    T_EQ_INT(res.accepted, 1);
    ne_batch_free(&b);
}

/* The whole content of a store as text lines, sorted: "db series field ts
 * value version". */
struct dump {
    char **line;
    size_t n, cap;
    const char *db;
};

static int dump_chunk(void *ctx, const struct ne_scan_chunk *c)
{
    struct dump *d = ctx;
    for (size_t i = 0; i < c->n; i++) {
        if (d->n == d->cap) {
            d->cap = d->cap ? d->cap * 2 : 256;
            d->line = realloc(d->line, d->cap * sizeof *d->line);
        }
        char buf[256];
        snprintf(buf, sizeof buf, "%s %s,%s=%s %s %lld %.17g %llu", d->db,
                 c->series->measurement, c->series->tags[0].key.p, c->series->tags[0].val.p,
                 c->field, (long long)c->ts[i], c->v.f[i],
                 (unsigned long long)(c->ver ? c->ver[i] : 0));
        d->line[d->n++] = strdup(buf);
    }
    return 0;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void dump(struct ae_side *s, struct dump *d)
{
    static const char *const dbs[] = {"iot", "lab"};
    memset(d, 0, sizeof *d);
    for (int i = 0; i < 2; i++) {
        d->db = dbs[i];
        struct ne_store_scan_req q = {
            .db = dbs[i], .measurement = "env", .t0 = INT64_MIN, .t1 = INT64_MAX};
        int rc = ne_store_scan(s->st, &q, dump_chunk, d);
        T_CHECK(rc == 0 || rc == NE_ENOTFOUND);
    }
    qsort(d->line, d->n, sizeof *d->line, str_cmp);
}

static void dump_free(struct dump *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->line[i]);
    free(d->line);
}

static bool same(struct ae_side *a, struct ae_side *b)
{
    struct dump da, db;
    dump(a, &da);
    dump(b, &db);
    bool eq = da.n == db.n;
    for (size_t i = 0; eq && i < da.n; i++)
        if (strcmp(da.line[i], db.line[i]) != 0) {
            fprintf(stderr, "differ: %s | %s\n", da.line[i], db.line[i]);
            eq = false;
        }
    if (da.n != db.n) fprintf(stderr, "differ: %zu vs %zu points\n", da.n, db.n);
    dump_free(&da);
    dump_free(&db);
    return eq;
}

static struct ne_ring *ring2(uint32_t shards)
{
    const char *names[] = {"a", "b"};
    struct ne_ring_opts ro = {.shards = shards, .vnodes = 16, .rf = 2};
    struct ne_ring *r = NULL;
    return ne_ring_build(&ro, names, 2, &r) == 0 ? r : NULL; /* NULL: the round fails */
}

/* The same points in another order and other batches: equal roots. */
static void test_equal_content(void)
{
    struct ae_side a, b;
    side_open(&a, "eq-a", 16);
    side_open(&b, "eq-b", 16);
    for (int dev = 0; dev < 20; dev++)
        for (int k = 0; k < 10; k++)
            put(&a, "iot", dev, T0 + k * 900 * SEC, dev * 100 + k, 1000 + (uint64_t)k);
    for (int k = 9; k >= 0; k--)
        for (int dev = 19; dev >= 0; dev--)
            put(&b, "iot", dev, T0 + k * 900 * SEC, dev * 100 + k, 1000 + (uint64_t)k);
    T_OK(ne_store_flush(b.st)); /* a segment on one side, memtable on the other */
    struct ne_ring *r = ring2(16);
    T_OK(ne_ae_round(a.ae, r, 0, 1, ae_call_peer, &b));
    struct ne_ae_stats st;
    ne_ae_stats(a.ae, &st);
    T_EQ_U64(st.rounds, 1);
    T_EQ_U64(st.buckets_compared, 0); /* no root differed */
    T_EQ_U64(st.points_repaired, 0);
    T_CHECK(same(&a, &b));
    ne_ring_free(&r);
    ae_side_close(&a);
    ae_side_close(&b);
}

/* The stored value and version of devices 1 and 2 at T0 on side a end
 * with d1 and d2 (" value version" as dump writes them). */
static void expect_t0_values(struct ae_side *a, const char *d1, const char *d2)
{
    struct dump d;
    dump(a, &d);
    int seen = 0;
    for (size_t i = 0; i < d.n; i++) {
        if (strstr(d.line[i], "iot env,dev=d001 x 1767225600000000000 ")) {
            T_CHECK(strstr(d.line[i], d1) != NULL);
            seen++;
        }
        if (strstr(d.line[i], "iot env,dev=d002 x 1767225600000000000 ")) {
            T_CHECK(strstr(d.line[i], d2) != NULL);
            seen++;
        }
    }
    T_EQ_INT(seen, 2);
    dump_free(&d);
}

static void test_repair(void)
{
    struct ae_side a, b;
    side_open(&a, "rp-a", 8);
    side_open(&b, "rp-b", 8);
    /* common ground, over 3 hours */
    for (int dev = 0; dev < 30; dev++)
        for (int k = 0; k < 6; k++) {
            put(&a, "iot", dev, T0 + k * 1800 * SEC, dev + k, 10);
            put(&b, "iot", dev, T0 + k * 1800 * SEC, dev + k, 10);
        }
    T_OK(ne_store_flush(a.st));
    /* a missed some points of some series (a hint lost) */
    for (int dev = 0; dev < 30; dev += 7)
        put(&b, "iot", dev, T0 + 600 * SEC, 1e6 + dev, 20);
    /* a missed a whole bucket and a whole series, in another database */
    for (int k = 0; k < 5; k++)
        put(&b, "lab", 99, T0 + 5 * HOUR + k * SEC, k, 30);
    /* b missed what a took alone */
    put(&a, "iot", 3, T0 + 2 * HOUR + 7 * SEC, 3.5, 40);
    /* conflicts: the greater version wins wherever it was written */
    put(&a, "iot", 1, T0, -1, 100); /* a: older */
    put(&b, "iot", 1, T0, -2, 200); /* b: newer -> wins */
    put(&a, "iot", 2, T0, -3, 60);  /* a: newer -> wins */
    put(&b, "iot", 2, T0, -4, 50);
    T_CHECK(!same(&a, &b));

    struct ne_ring *r = ring2(8);
    T_OK(ne_ae_round(a.ae, r, 0, 1, ae_call_peer, &b)); /* a pulls from b */
    struct ne_ae_stats st;
    ne_ae_stats(a.ae, &st);
    T_CHECK(st.buckets_differing > 0);
    T_CHECK(st.buckets_differing < st.buckets_compared);
    T_CHECK(st.series_differing > 0);
    /* 5 missed points, 5 of lab, 1 conflict won by b, plus the points of
     * the series pulled whole in their buckets (already equal: harmless) */
    T_CHECK(st.points_repaired >= 11);
    T_OK(ne_ae_round(b.ae, r, 1, 0, ae_call_peer, &a)); /* b pulls from a */
    T_CHECK(same(&a, &b));

    expect_t0_values(&a, " -2 200", " -3 60");

    /* converged: another round each way compares roots only */
    ne_ae_stats(a.ae, &st);
    uint64_t compared = st.buckets_compared, repaired = st.points_repaired;
    T_OK(ne_ae_round(a.ae, r, 0, 1, ae_call_peer, &b));
    ne_ae_stats(a.ae, &st);
    T_EQ_U64(st.buckets_compared, compared);
    T_EQ_U64(st.points_repaired, repaired);
    T_EQ_U64(st.rounds, 2);
    ne_ring_free(&r);
    ae_side_close(&a);
    ae_side_close(&b);
}

/* Equal versions, different values (a tie the cluster tries to prevent):
 * digests differ, the pulls in both directions leave both sides with the
 * larger value (store/lww.h), and then the digests agree. */
static void test_tie_repair(void)
{
    struct ae_side a, b;
    side_open(&a, "tie-a", 8);
    side_open(&b, "tie-b", 8);
    for (int dev = 0; dev < 10; dev++) {
        put(&a, "iot", dev, T0 + 60 * SEC, dev, 10);
        put(&b, "iot", dev, T0 + 60 * SEC, dev, 10);
    }
    put(&a, "iot", 1, T0, 5.0, 77); /* -1.0 has the larger bit pattern */
    put(&b, "iot", 1, T0, -1.0, 77);
    put(&a, "iot", 2, T0, 0.5, 77); /* 0.5 > 0.25 */
    put(&b, "iot", 2, T0, 0.25, 77);
    T_OK(ne_store_flush(a.st)); /* a segment on one side, memtable on the other */
    T_CHECK(!same(&a, &b));
    struct ne_ring *r = ring2(8);
    T_OK(ne_ae_round(a.ae, r, 0, 1, ae_call_peer, &b));
    T_OK(ne_ae_round(b.ae, r, 1, 0, ae_call_peer, &a));
    T_CHECK(same(&a, &b));
    expect_t0_values(&a, " -1 77", " 0.5 77");
    struct ne_ae_stats st;
    ne_ae_stats(a.ae, &st);
    uint64_t compared = st.buckets_compared;
    T_OK(ne_ae_round(a.ae, r, 0, 1, ae_call_peer, &b)); /* converged: roots agree */
    ne_ae_stats(a.ae, &st);
    T_EQ_U64(st.buckets_compared, compared);
    ne_ring_free(&r);
    ae_side_close(&a);
    ae_side_close(&b);
}

/* One series with more points in a bucket than one pull reply holds. */
static void test_big_pull(void)
{
    struct ae_side a, b;
    side_open(&a, "big-a", 4);
    side_open(&b, "big-b", 4);
    struct ne_batch bt;
    ne_batch_init(&bt);
    uint64_t *ver = malloc(3000 * sizeof *ver);
    for (int part = 0; part < 10; part++) {
        ne_batch_reset(&bt);
        for (int i = 0; i < 3000; i++) {
            int k = part * 3000 + i;
            ne_batch_begin(&bt, NE_SV("env"), T0 + (int64_t)k * 100000000LL);
            ne_batch_tag(&bt, NE_SV("dev"), NE_SV("a-rather-long-device-name-0001"));
            ne_batch_field_f(&bt, NE_SV("x"), k);
            ne_batch_end(&bt);
            ver[i] = 7;
        }
        struct ne_write_result res;
        T_OK(ne_store_write_versioned(b.st, "iot", &bt, ver, &res));
    }
    free(ver);
    ne_batch_free(&bt);
    struct ne_ring *r = ring2(4);
    T_OK(ne_ae_round(a.ae, r, 0, 1, ae_call_peer, &b));
    struct ne_ae_stats st;
    ne_ae_stats(a.ae, &st);
    T_EQ_U64(st.points_repaired, 30000);
    T_CHECK(st.bytes_pulled > NE_AE_PULL_MAX); /* so it took several replies */
    T_CHECK(same(&a, &b));
    ne_ring_free(&r);
    ae_side_close(&a);
    ae_side_close(&b);
}

/* A shard move: one shard pulled in full, over every hour, whatever the
 * ring; with a small budget it takes several calls, each going on from
 * what is already here, and says when it is complete. */
static void test_pull_shard(void)
{
    struct ae_side a, b;
    side_open(&a, "mv-a", 4);
    side_open(&b, "mv-b", 4);
    for (int dev = 0; dev < 40; dev++)
        for (int k = 0; k < 6; k++)
            put(&b, "iot", dev, T0 + k * HOUR / 2, dev * 10 + k, 50 + (uint64_t)k);
    struct ne_ae *small = NULL;
    struct ne_ae_opts ao = {.store = a.st, .max_pull_bytes = 600};
    T_OK(ne_ae_new(&ao, &small));
    uint64_t bytes = 0;
    bool complete = false;
    int calls = 0;
    while (!complete && calls < 1000) {
        T_OK(ne_ae_pull_shard(small, 4, 1, ae_call_peer, &b, &bytes, &complete));
        calls++;
    }
    T_CHECK(complete);
    T_CHECK(calls > 1); /* the budget cut it */
    T_OK(ne_ae_pull_shard(small, 4, 1, ae_call_peer, &b, &bytes, &complete));
    T_CHECK(complete);
    T_EQ_U64(bytes, 0); /* nothing differs any more */
    T_CHECK(!same(&a, &b)); /* only shard 1 so far */
    for (uint32_t sh = 0; sh < 4; sh++) {
        T_OK(ne_ae_pull_shard(a.ae, 4, sh, ae_call_peer, &b, &bytes, &complete));
        T_CHECK(complete);
    }
    T_CHECK(same(&a, &b));
    T_EQ_INT(ne_ae_pull_shard(a.ae, 4, 4, ae_call_peer, &b, &bytes, &complete), NE_EINVAL);
    ne_ae_free(&small);
    ae_side_close(&a);
    ae_side_close(&b);
}

/* The shard of device dev's series (env,dev=dNNN) among shards. */
static uint32_t dev_shard(int dev, uint32_t shards)
{
    char name[16];
    snprintf(name, sizeof name, "d%03d", dev);
    struct ne_tag tag = {NE_SV("dev"), ne_sv_c(name)};
    return (uint32_t)(ne_ring_series_hash(NE_SV("env"), &tag, 1) % shards);
}

/* Whether side s holds value v for device dev at ts. */
static bool holds(struct ae_side *s, int dev, int64_t ts, double v)
{
    char want[128];
    snprintf(want, sizeof want, "iot env,dev=d%03d x %lld %.17g ", dev, (long long)ts, v);
    struct dump d;
    dump(s, &d);
    bool found = false;
    for (size_t i = 0; i < d.n && !found; i++)
        found = strncmp(d.line[i], want, strlen(want)) == 0;
    dump_free(&d);
    return found;
}

static uint64_t digested(struct ne_ae *ae)
{
    struct ne_ae_stats st;
    ne_ae_stats(ae, &st);
    return st.points_digested;
}

#define W_SHARDS 8
#define W_SWEEP  4
#define W_DEVS   40
#define W_OLD    24 /* points per device, one an hour, ten days ago */
#define W_NEW    2  /* points per device in the last ten minutes */

/* Routine rounds with a 1 h window and a sweep of 4 rounds: a routine
 * round over equal replicas reads exactly the recent points and the
 * points of its sweep slice (shard % 4 == position), on both ends; an
 * old difference is left until the sweep reaches its shard, within 4
 * rounds; a recent one is repaired at once; after ne_ae_full_next the
 * next round compares all time. */
static void test_window_sweep(void)
{
    struct ae_side a, b;
    side_open(&a, "win-a", W_SHARDS);
    side_open(&b, "win-b", W_SHARDS);
    struct ne_ae *wa = NULL, *wb = NULL; /* a's server side, b's rounds */
    struct ne_ae_opts ao = {.store = a.st, .window_ns = HOUR, .sweep_rounds = W_SWEEP};
    T_OK(ne_ae_new(&ao, &wa));
    ao.store = b.st;
    T_OK(ne_ae_new(&ao, &wb));
    struct ae_side aw = {.st = a.st, .ae = wa, .shards = W_SHARDS};
    int64_t now = ne_time_wall_ns(), old = now - 10 * 24 * HOUR;
    for (int dev = 0; dev < W_DEVS; dev++) {
        for (int k = 0; k < W_OLD; k++) {
            put(&a, "iot", dev, old + k * HOUR, dev + k, 10 + (uint64_t)k);
            put(&b, "iot", dev, old + k * HOUR, dev + k, 10 + (uint64_t)k);
        }
        for (int k = 0; k < W_NEW; k++) {
            put(&a, "iot", dev, now - (10 - 5 * k) * 60 * SEC, dev, 100 + (uint64_t)k);
            put(&b, "iot", dev, now - (10 - 5 * k) * 60 * SEC, dev, 100 + (uint64_t)k);
        }
    }
    T_OK(ne_store_flush(a.st));
    struct ne_ring *r = ring2(W_SHARDS);
    const uint64_t all = W_DEVS * (W_OLD + W_NEW);

    /* the first round with a peer is full */
    uint64_t b0 = digested(wb), a0 = digested(wa);
    T_OK(ne_ae_round(wb, r, 1, 0, ae_call_peer, &aw));
    struct ne_ae_stats st;
    ne_ae_stats(wb, &st);
    T_EQ_U64(st.rounds_full, 1);
    T_EQ_U64(digested(wb) - b0, all);
    T_EQ_U64(digested(wa) - a0, all);

    /* a routine round: recent points, and all of slice 0's */
    uint64_t want = 0;
    for (int dev = 0; dev < W_DEVS; dev++)
        want += dev_shard(dev, W_SHARDS) % W_SWEEP == 0 ? W_OLD + W_NEW : W_NEW;
    T_CHECK(want < all / 2); /* the slice holds some old points, not most */
    b0 = digested(wb);
    a0 = digested(wa);
    T_OK(ne_ae_round(wb, r, 1, 0, ae_call_peer, &aw));
    ne_ae_stats(wb, &st);
    T_EQ_U64(st.rounds_full, 1);
    T_EQ_U64(st.buckets_compared, 0);
    T_EQ_U64(digested(wb) - b0, want);
    T_EQ_U64(digested(wa) - a0, want);

    /* a's newer values: one old (device 7), one recent (device 3) */
    int64_t old_ts = old + 5 * HOUR, new_ts = now - 10 * 60 * SEC;
    put(&a, "iot", 7, old_ts, 777, 500);
    put(&a, "iot", 3, new_ts, 333, 500);
    uint32_t pos7 = dev_shard(7, W_SHARDS) % W_SWEEP;
    uint32_t pos = 1; /* the sweep's next slice */
    T_OK(ne_ae_round(wb, r, 1, 0, ae_call_peer, &aw));
    T_CHECK(holds(&b, 3, new_ts, 333)); /* in the window: at once */
    T_EQ_INT(holds(&b, 7, old_ts, 777), pos7 == pos);
    int rounds = 1;
    while (!holds(&b, 7, old_ts, 777) && rounds < W_SWEEP) {
        pos = (pos + 1) % W_SWEEP;
        T_OK(ne_ae_round(wb, r, 1, 0, ae_call_peer, &aw));
        rounds++;
        T_EQ_INT(holds(&b, 7, old_ts, 777), pos7 == pos); /* only when its slice is swept */
    }
    T_CHECK(holds(&b, 7, old_ts, 777));
    T_CHECK(rounds <= W_SWEEP);

    /* a peer back from an absence: the next round compares all time */
    put(&a, "iot", 11, old_ts, 1111, 500);
    ne_ae_full_next(wb);
    b0 = digested(wb);
    T_OK(ne_ae_round(wb, r, 1, 0, ae_call_peer, &aw));
    ne_ae_stats(wb, &st);
    T_EQ_U64(st.rounds_full, 2);
    T_CHECK(digested(wb) - b0 >= all);
    T_CHECK(holds(&b, 11, old_ts, 1111));
    T_CHECK(same(&a, &b));
    ne_ring_free(&r);
    ne_ae_free(&wa);
    ne_ae_free(&wb);
    ae_side_close(&a);
    ae_side_close(&b);
}

/* Windowed requests: a window in BUCKETS limits the reply to its hours;
 * an inverted or short window is refused. */
static void test_window_wire(void)
{
    struct ae_side a;
    side_open(&a, "ww", 1);
    for (int k = 0; k < 6; k++)
        put(&a, "iot", 1, T0 + k * HOUR, k, 1 + (uint64_t)k);
    struct ne_pbuf req = {0}, reply = {0};
    uint8_t rt = 0;
    T_OK(ne_wire_put_u64(&req, (uint64_t)NE_AE_BUCKET_NS));
    T_OK(ne_wire_put_u32(&req, 0));
    T_OK(ne_ae_handle(a.ae, 1, NE_FT_AE_BUCKETS, req.p, req.len, &reply, &rt));
    T_EQ_U64(ne_get_u32(reply.p), 6); /* no window: all hours */
    T_OK(ne_wire_put_u64(&req, (uint64_t)(T0 + 3 * HOUR + 1))); /* rounded down to hour 3 */
    T_OK(ne_wire_put_u64(&req, (uint64_t)INT64_MAX));
    T_OK(ne_ae_handle(a.ae, 1, NE_FT_AE_BUCKETS, req.p, req.len, &reply, &rt));
    T_EQ_U64(ne_get_u32(reply.p), 3);
    req.len -= 16;
    T_OK(ne_wire_put_u64(&req, (uint64_t)(T0 + HOUR)));
    T_OK(ne_wire_put_u64(&req, (uint64_t)T0));
    T_EQ_INT(ne_ae_handle(a.ae, 1, NE_FT_AE_BUCKETS, req.p, req.len, &reply, &rt), NE_ECORRUPT);
    req.len -= 8;
    T_EQ_INT(ne_ae_handle(a.ae, 1, NE_FT_AE_BUCKETS, req.p, req.len, &reply, &rt), NE_ECORRUPT);
    ne_pbuf_free(&req);
    ne_pbuf_free(&reply);
    ae_side_close(&a);
}

static void test_malformed(void)
{
    struct ae_side a;
    side_open(&a, "bad", 4);
    struct ne_pbuf reply = {0};
    uint8_t rt = 0;
    uint8_t junk[9] = {1, 2, 3};
    T_EQ_INT(ne_ae_handle(a.ae, 4, NE_FT_AE_ROOTS, junk, sizeof junk, &reply, &rt), NE_ECORRUPT);
    T_EQ_INT(ne_ae_handle(a.ae, 4, NE_FT_AE_PULL, junk, 3, &reply, &rt), NE_ECORRUPT);
    T_EQ_INT(ne_ae_handle(a.ae, 4, 99, junk, sizeof junk, &reply, &rt), NE_ECORRUPT);
    ne_pbuf_free(&reply);
    ae_side_close(&a);
}

int main(void)
{
    ne_log_set_level(NE_LOG_OFF);
    if (!t_tmpdir(g_root, sizeof g_root))
        return 1;
    T_RUN(test_equal_content);
    T_RUN(test_repair);
    T_RUN(test_tie_repair);
    T_RUN(test_big_pull);
    T_RUN(test_pull_shard);
    T_RUN(test_malformed);
    T_RUN(test_window_sweep);
    T_RUN(test_window_wire);
    ne_fs_remove_tree(g_root);
    return t_done();
}
