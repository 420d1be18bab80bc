/*
 * tomb_test.c - cluster-wide deletions as tombstones: the codec and its
 * refusals, which versioned points a tombstone covers (older versions
 * only, inside what it names), filtering a received batch, the durable
 * set (learned once, applied to a real store, kept across reopen, expired
 * by ttl, a damaged file refused), list exchange, deletions in hint
 * records (applied in order with the points around them, broadcast to
 * every peer's queue), and anti-entropy between two real stores: a
 * replica that missed a deletion learns it in the round's exchange and
 * the deleted points are not pulled back, while a point written after
 * the deletion survives on both.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sharding/antientropy.h"
#include "sharding/hlc.h"
#include "sharding/replicate.h"
#include "sharding/ring.h"
#include "sharding/tomb.h"
#include "ae_testlib.h"
#include "t.h"

#define SEC 1000000000LL
#define MS  1000000LL
#define T0  1767225600000000000LL /* 2026-01-01T00:00:00Z */

static char g_root[256];

/* A version stamped at wall-clock ms (node tag 7). */
static uint64_t ver_at_ms(int64_t ms)
{
    return ne_lww_version(ne_hlc_pack((uint64_t)ms, 0), 7);
}

static uint64_t hash_of(const char *meas, const char *dev)
{
    struct ne_tag tag = {NE_SV("dev"), ne_sv_c(dev)};
    return ne_ring_series_hash(ne_sv_c(meas), &tag, 1);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* ---- codec ---------------------------------------------------------------- */

static void test_codec_round_trip(void)
{
    uint64_t series[2] = {hash_of("env", "d1"), hash_of("env", "d2")};
    qsort(series, 2, sizeof *series, cmp_u64);
    struct ne_tomb in[3] = {
        {.kind = NE_TOMB_DATABASE, .version = 11, .db = "iot"},
        {.kind = NE_TOMB_MEASUREMENT, .version = 12, .db = "iot", .meas = "env"},
        {.kind = NE_TOMB_POINTS,
         .version = 13,
         .db = "lab",
         .t0 = -5,
         .t1 = 99,
         .series = series,
         .nseries = 2},
    };
    for (int i = 0; i < 3; i++) {
        struct ne_pbuf b = {0};
        T_OK(ne_tomb_encode(&in[i], &b));
        struct ne_tomb *out = NULL;
        T_OK(ne_tomb_decode(b.p, b.len, &out));
        T_EQ_INT(out->kind, in[i].kind);
        T_EQ_U64(out->version, in[i].version);
        T_EQ_STR(out->db, in[i].db);
        if (in[i].meas)
            T_EQ_STR(out->meas, in[i].meas);
        else
            T_CHECK(out->meas == NULL);
        T_EQ_INT(out->nseries, in[i].nseries);
        if (in[i].kind == NE_TOMB_POINTS) {
            T_EQ_INT(out->t0, -5);
            T_EQ_INT(out->t1, 99);
            T_EQ_U64(out->series[0], series[0]);
            T_EQ_U64(out->series[1], series[1]);
        } else {
            T_CHECK(out->t0 == INT64_MIN && out->t1 == INT64_MAX);
        }
        /* every cut is refused, and so is a trailing byte */
        for (size_t n = 0; n < b.len; n++) {
            struct ne_tomb *x = NULL;
            T_EQ_INT(ne_tomb_decode(b.p, n, &x), NE_ECORRUPT);
        }
        T_OK(ne_pbuf_reserve(&b, b.len + 1));
        b.p[b.len] = 0;
        struct ne_tomb *x = NULL;
        T_EQ_INT(ne_tomb_decode(b.p, b.len + 1, &x), NE_ECORRUPT);
        ne_free(out);
        ne_pbuf_free(&b);
    }
}

static void test_codec_refusals(void)
{
    uint64_t unsorted[2] = {9, 3}, one = 4;
    struct ne_tomb bad[] = {
        {.kind = 0, .version = 1, .db = "iot"},
        {.kind = 4, .version = 1, .db = "iot"},
        {.kind = NE_TOMB_DATABASE, .version = 1, .db = ""},
        {.kind = NE_TOMB_DATABASE, .version = 1, .db = "iot", .meas = "env"},
        {.kind = NE_TOMB_MEASUREMENT, .version = 1, .db = "iot"},
        {.kind = NE_TOMB_POINTS, .version = 1, .db = "iot", .t0 = 0, .t1 = 1},
        {.kind = NE_TOMB_POINTS,
         .version = 1,
         .db = "iot",
         .t0 = 0,
         .t1 = 1,
         .series = unsorted,
         .nseries = 2},
        {.kind = NE_TOMB_POINTS,
         .version = 1,
         .db = "iot",
         .t0 = 2,
         .t1 = 1,
         .series = &one,
         .nseries = 1},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ne_pbuf b = {0};
        if (ne_tomb_encode(&bad[i], &b) != NE_EINVAL) {
            ne_pbuf_free(&b);
            T_FAIL_("tombstone %zu was encoded", i);
        }
        ne_pbuf_free(&b);
    }
    /* a database tombstone claiming a time range is refused on decode */
    struct ne_tomb ok = {.kind = NE_TOMB_DATABASE, .version = 1, .db = "iot"};
    struct ne_pbuf b = {0};
    T_OK(ne_tomb_encode(&ok, &b));
    b.p[1 + 8 + 2 + 3 + 2] ^= 1; /* t0's low byte: no longer INT64_MIN */
    struct ne_tomb *x = NULL;
    T_EQ_INT(ne_tomb_decode(b.p, b.len, &x), NE_ECORRUPT);
    ne_pbuf_free(&b);
}

/* ---- matching ------------------------------------------------------------- */

static void test_covers_by_version(void)
{
    uint64_t h1 = hash_of("env", "d1"), h2 = hash_of("env", "d2");
    uint64_t s[1] = {h1};
    struct ne_tomb pts = {.kind = NE_TOMB_POINTS,
                          .version = 1000,
                          .db = "iot",
                          .t0 = 100,
                          .t1 = 200,
                          .series = s,
                          .nseries = 1};
    struct ne_sv env = NE_SV("env");
    T_CHECK(ne_tomb_covers(&pts, "iot", env, h1, 150, 999));   /* older: deleted */
    T_CHECK(ne_tomb_covers(&pts, "iot", env, h1, 150, 0));     /* unversioned: older */
    T_CHECK(!ne_tomb_covers(&pts, "iot", env, h1, 150, 1000)); /* the same version: kept */
    T_CHECK(!ne_tomb_covers(&pts, "iot", env, h1, 150, 1001)); /* written after: kept */
    T_CHECK(ne_tomb_covers(&pts, "iot", env, h1, 100, 1));     /* bounds inclusive */
    T_CHECK(ne_tomb_covers(&pts, "iot", env, h1, 200, 1));
    T_CHECK(!ne_tomb_covers(&pts, "iot", env, h1, 99, 1));
    T_CHECK(!ne_tomb_covers(&pts, "iot", env, h1, 201, 1));
    T_CHECK(!ne_tomb_covers(&pts, "iot", env, h2, 150, 1)); /* another series */
    T_CHECK(!ne_tomb_covers(&pts, "lab", env, h1, 150, 1)); /* another database */

    struct ne_tomb meas = {
        .kind = NE_TOMB_MEASUREMENT, .version = 1000, .db = "iot", .meas = "env"};
    T_CHECK(ne_tomb_covers(&meas, "iot", env, h2, INT64_MIN, 5));
    T_CHECK(!ne_tomb_covers(&meas, "iot", NE_SV("envx"), h2, 0, 5));
    T_CHECK(!ne_tomb_covers(&meas, "iot", NE_SV("en"), h2, 0, 5));
    T_CHECK(!ne_tomb_covers(&meas, "iot", env, h2, 0, 2000));

    struct ne_tomb db = {.kind = NE_TOMB_DATABASE, .version = 1000, .db = "iot"};
    T_CHECK(ne_tomb_covers(&db, "iot", NE_SV("any"), 1, INT64_MAX, 999));
    T_CHECK(!ne_tomb_covers(&db, "iot", NE_SV("any"), 1, 0, 1000));
    T_CHECK(!ne_tomb_covers(&db, "io", NE_SV("any"), 1, 0, 1));
}

/* ---- stores --------------------------------------------------------------- */

static struct ne_store *store_open(const char *name)
{
    struct ne_store *s = NULL;
    return ae_store_open(g_root, name, -1, &s) == 0 ? s : NULL;
}

/* Appends env,dev=<dev> x=<v> at ts to b. */
static void add_point(struct ne_batch *b, const char *meas, const char *dev, int64_t ts, double v)
{
    ne_batch_begin(b, ne_sv_c(meas), ts);
    ne_batch_tag(b, NE_SV("dev"), ne_sv_c(dev));
    ne_batch_field_f(b, NE_SV("x"), v);
    ne_batch_end(b);
}

static void put(struct ne_store *s, const char *meas, const char *dev, int64_t ts, double v,
                uint64_t ver)
{
    struct ne_batch b;
    ne_batch_init(&b);
    add_point(&b, meas, dev, ts, v);
    struct ne_write_result res;
    int rc = ne_store_write_versioned(s, "iot", &b, &ver, &res);
    ne_batch_free(&b);
    T_OK(rc);
    T_EQ_INT(res.accepted, 1);
}

struct tally {
    size_t n;
    double sum;
};

static int count_chunk(void *ctx, const struct ne_scan_chunk *c)
{
    struct tally *t = ctx;
    t->n += c->n;
    for (size_t i = 0; i < c->n; i++)
        t->sum += c->v.f[i];
    return 0;
}

static struct tally scan_all(struct ne_store *s, const char *meas)
{
    struct ne_store_scan_req q = {
        .db = "iot", .measurement = meas, .t0 = INT64_MIN, .t1 = INT64_MAX};
    struct tally t = {0};
    int rc = ne_store_scan(s, &q, count_chunk, &t);
    if (rc != 0 && rc != NE_ENOTFOUND) t.n = (size_t)-1;
    return t;
}

/* Points of meas in the store of database iot. */
static size_t count(struct ne_store *s, const char *meas)
{
    return scan_all(s, meas).n;
}

/* Sum of their x values. */
static double sum(struct ne_store *s, const char *meas)
{
    return scan_all(s, meas).sum;
}

static void tombs_path(const char *name, char *out, size_t n)
{
    snprintf(out, n, "%s/%s.tombs", g_root, name);
}

/* ---- filtering ------------------------------------------------------------ */

static void test_filter_batch(void)
{
    char path[512];
    tombs_path("filter", path, sizeof path);
    struct ne_store *st = store_open("filter");
    T_CHECK(st != NULL);
    struct ne_tombs *t = NULL;
    T_OK(ne_tombs_open(path, 0, T0, &t));

    struct ne_batch b;
    ne_batch_init(&b);
    add_point(&b, "env", "d1", T0 + 1, 1); /* older, covered: dropped */
    add_point(&b, "env", "d1", T0 + 2, 2); /* newer: kept */
    add_point(&b, "env", "d2", T0 + 3, 3); /* series not listed: kept */
    add_point(&b, "env", "d1", T0 + 9, 4); /* outside the range: kept */
    add_point(&b, "env", "d1", T0 + 4, 5); /* older, covered: dropped */
    uint64_t ver[5] = {10, 30, 10, 10, 10};

    struct ne_tombs_kept k;
    T_OK(ne_tombs_filter(t, "iot", &b, ver, &k)); /* empty set: b itself */
    T_CHECK(k.b.pts == b.pts && k.ver == ver && k.dropped == 0);
    ne_tombs_kept_free(&k);

    uint64_t s1 = hash_of("env", "d1");
    struct ne_tomb tb = {.kind = NE_TOMB_POINTS,
                         .version = 20,
                         .db = "iot",
                         .t0 = T0,
                         .t1 = T0 + 5,
                         .series = &s1,
                         .nseries = 1};
    T_EQ_INT(ne_tombs_learn(t, st, &tb, T0), 1);
    T_EQ_INT(ne_tombs_learn(t, st, &tb, T0), 0); /* known */
    T_EQ_INT(ne_tombs_count(t), 1);

    T_OK(ne_tombs_filter(t, "iot", &b, ver, &k));
    T_EQ_INT(k.dropped, 2);
    T_EQ_INT(k.b.npts, 3);
    T_EQ_INT(k.b.pts[0].ts, T0 + 2);
    T_EQ_INT(k.b.pts[1].ts, T0 + 3);
    T_EQ_INT(k.b.pts[2].ts, T0 + 9);
    T_EQ_U64(k.ver[0], 30);
    T_EQ_U64(k.ver[1], 10);
    ne_tombs_kept_free(&k);
    T_EQ_U64(ne_tombs_dropped(t), 2);

    T_OK(ne_tombs_filter(t, "lab", &b, ver, &k)); /* another database */
    T_EQ_INT(k.dropped, 0);
    ne_tombs_kept_free(&k);
    T_OK(ne_tombs_filter(t, "iot", &b, NULL, &k)); /* unversioned: not filtered */
    T_EQ_INT(k.dropped, 0);
    ne_tombs_kept_free(&k);

    ne_batch_free(&b);
    ne_tombs_close(&t);
    ne_store_close(&st);
}

/* Many tombstones: each DELETE names its own series; whole ones mixed
 * in; once they expire nothing is filtered any more. */
static void test_filter_many(void)
{
    char path[512];
    tombs_path("many", path, sizeof path);
    struct ne_store *st = store_open("many");
    T_CHECK(st != NULL);
    int64_t now = ne_time_wall_ns();
    struct ne_tombs *t = NULL;
    T_OK(ne_tombs_open(path, 3600 * SEC, now, &t));
    uint64_t v_del = ver_at_ms(now / MS);
    for (int k = 0; k < 40; k++) {
        char dev[8];
        snprintf(dev, sizeof dev, "d%d", k);
        uint64_t h = hash_of("env", dev);
        struct ne_tomb tb = {.kind = NE_TOMB_POINTS,
                             .version = v_del + (uint64_t)k,
                             .db = "iot",
                             .t0 = T0,
                             .t1 = T0 + 10 * SEC,
                             .series = &h,
                             .nseries = 1};
        T_EQ_INT(ne_tombs_learn(t, st, &tb, now), 1);
    }
    struct ne_tomb m = {.kind = NE_TOMB_MEASUREMENT, .version = v_del, .db = "iot", .meas = "gone"};
    T_EQ_INT(ne_tombs_learn(t, st, &m, now), 1);

    struct ne_batch b;
    ne_batch_init(&b);
    static char devs[50][8]; /* the batch's views point here */
    for (int k = 0; k < 50; k++) {
        snprintf(devs[k], sizeof devs[k], "d%d", k);
        add_point(&b, "env", devs[k], T0 + 5 * SEC, k);  /* deleted for d0..d39 */
        add_point(&b, "env", devs[k], T0 + 20 * SEC, k); /* after the range: kept */
    }
    add_point(&b, "gone", "d0", T0 + 99 * SEC, 1);
    uint64_t *ver = malloc(b.npts * sizeof *ver);
    for (uint32_t i = 0; i < b.npts; i++)
        ver[i] = v_del - 1;
    ver[2 * 7] = v_del + 100; /* d7 at T0+5s written after its deletion */
    struct ne_tombs_kept k;
    T_OK(ne_tombs_filter(t, "iot", &b, ver, &k));
    T_EQ_INT(k.dropped, 40 - 1 + 1);
    for (uint32_t i = 0; i < k.b.npts; i++) {
        const struct ne_point *p = &k.b.pts[i];
        bool in_range = p->ts == T0 + 5 * SEC;
        const struct ne_tag *tag = ne_point_tags(&k.b, p);
        char num[8] = "";
        memcpy(num, tag->val.p + 1, tag->val.n - 1 < 7 ? tag->val.n - 1 : 7);
        int dev = atoi(num);
        T_CHECK(p->meas.n == 3);
        T_CHECK(!in_range || dev >= 40 || dev == 7);
    }
    ne_tombs_kept_free(&k);

    T_EQ_INT(ne_tombs_expire(t, now + 3601 * SEC), 41);
    T_OK(ne_tombs_filter(t, "iot", &b, ver, &k));
    T_EQ_INT(k.dropped, 0);
    ne_tombs_kept_free(&k);
    free(ver);
    ne_batch_free(&b);
    ne_tombs_close(&t);
    ne_store_close(&st);
}

/* ---- the durable set ------------------------------------------------------ */

static void test_learn_applies_and_persists(void)
{
    char path[512];
    tombs_path("set", path, sizeof path);
    struct ne_store *st = store_open("set");
    T_CHECK(st != NULL);
    int64_t now = ne_time_wall_ns();
    uint64_t v_del = ver_at_ms(now / MS);
    put(st, "env", "d1", T0 + 1 * SEC, 1, v_del - 1000);
    put(st, "env", "d2", T0 + 1 * SEC, 2, v_del - 1000);
    put(st, "gone", "d1", T0 + 1 * SEC, 3, v_del - 1000);
    T_EQ_INT(count(st, "env"), 2);

    struct ne_tombs *t = NULL;
    T_OK(ne_tombs_open(path, 3600 * SEC, now, &t));
    uint64_t s1 = hash_of("env", "d1");
    struct ne_tomb pts = {.kind = NE_TOMB_POINTS,
                          .version = v_del,
                          .db = "iot",
                          .t0 = T0,
                          .t1 = T0 + 10 * SEC,
                          .series = &s1,
                          .nseries = 1};
    struct ne_tomb meas = {
        .kind = NE_TOMB_MEASUREMENT, .version = v_del + 1, .db = "iot", .meas = "gone"};
    T_EQ_INT(ne_tombs_learn(t, st, &pts, now), 1);
    T_EQ_INT(ne_tombs_learn(t, st, &meas, now), 1);
    T_EQ_INT(count(st, "env"), 1); /* d1 deleted, d2 kept */
    T_EQ_INT(count(st, "gone"), 0);

    /* a write after the deletion at the same place stays */
    put(st, "env", "d1", T0 + 1 * SEC, 9, v_del + 5);
    T_EQ_INT(count(st, "env"), 2);

    /* reopened: both are known, so learning them again changes nothing */
    ne_tombs_close(&t);
    T_OK(ne_tombs_open(path, 3600 * SEC, now, &t));
    T_EQ_INT(ne_tombs_count(t), 2);
    T_EQ_INT(ne_tombs_learn(t, st, &pts, now), 0);
    T_EQ_INT(count(st, "env"), 2);

    /* an old tombstone is not taken in, and the ttl forgets the others */
    struct ne_tomb old = {
        .kind = NE_TOMB_DATABASE, .version = ver_at_ms(now / MS - 7200 * 1000), .db = "iot"};
    T_EQ_INT(ne_tombs_learn(t, st, &old, now), 0);
    T_EQ_INT(count(st, "env"), 2);
    T_EQ_INT(ne_tombs_expire(t, now + 1800 * SEC), 0);
    T_EQ_INT(ne_tombs_expire(t, now + 3601 * SEC), 2);
    T_EQ_INT(ne_tombs_count(t), 0);
    ne_tombs_close(&t);
    T_OK(ne_tombs_open(path, 3600 * SEC, now, &t));
    T_EQ_INT(ne_tombs_count(t), 0);
    ne_tombs_close(&t);
    ne_store_close(&st);
}

static void test_damaged_file_refused(void)
{
    char path[512];
    tombs_path("damaged", path, sizeof path);
    struct ne_store *st = store_open("damaged");
    T_CHECK(st != NULL);
    struct ne_tombs *t = NULL;
    T_OK(ne_tombs_open(path, 0, T0, &t));
    struct ne_tomb db = {.kind = NE_TOMB_DATABASE, .version = 77, .db = "iot"};
    T_EQ_INT(ne_tombs_learn(t, st, &db, T0), 1);
    ne_tombs_close(&t);
    char *buf = NULL;
    size_t len = 0;
    T_OK(ne_fs_read_all(path, &buf, &len));
    T_CHECK(len > 20);
    buf[len - 1] ^= 0x40; /* a byte of the tombstone: its CRC fails */
    T_OK(ne_fs_write_atomic(path, buf, len));
    T_EQ_INT(ne_tombs_open(path, 0, T0, &t), NE_ECORRUPT);
    buf[len - 1] ^= 0x40;
    buf[4] = 9; /* an unknown format */
    T_OK(ne_fs_write_atomic(path, buf, len));
    T_EQ_INT(ne_tombs_open(path, 0, T0, &t), NE_EVERSION);
    T_OK(ne_fs_write_atomic(path, buf, 7)); /* cut inside the header */
    T_EQ_INT(ne_tombs_open(path, 0, T0, &t), NE_ECORRUPT);
    ne_free(buf);
    ne_store_close(&st);
}

static void test_list_exchange(void)
{
    char pa[512], pb[512];
    tombs_path("la", pa, sizeof pa);
    tombs_path("lb", pb, sizeof pb);
    struct ne_store *sa = store_open("la"), *sb = store_open("lb");
    T_CHECK(sa && sb);
    struct ne_tombs *a = NULL, *b = NULL;
    T_OK(ne_tombs_open(pa, 0, T0, &a));
    T_OK(ne_tombs_open(pb, 0, T0, &b));
    put(sb, "env", "d1", T0, 1, 5);
    put(sb, "other", "d1", T0, 1, 5);
    struct ne_tomb m = {.kind = NE_TOMB_MEASUREMENT, .version = 10, .db = "iot", .meas = "env"};
    struct ne_tomb d = {.kind = NE_TOMB_DATABASE, .version = 9, .db = "lab"};
    T_EQ_INT(ne_tombs_learn(a, sa, &m, T0), 1);
    T_EQ_INT(ne_tombs_learn(a, sa, &d, T0), 1);
    struct ne_pbuf list = {0};
    T_OK(ne_tombs_encode(a, &list));
    uint32_t got = 0;
    T_OK(ne_tombs_merge(b, sb, list.p, list.len, T0, &got));
    T_EQ_INT(got, 2);
    T_EQ_INT(count(sb, "env"), 0);
    T_EQ_INT(count(sb, "other"), 1);
    T_OK(ne_tombs_merge(b, sb, list.p, list.len, T0, &got));
    T_EQ_INT(got, 0);
    T_EQ_INT(ne_tombs_merge(b, sb, list.p, list.len - 1, T0, &got), NE_ECORRUPT);
    ne_pbuf_free(&list);
    ne_tombs_close(&a);
    ne_tombs_close(&b);
    ne_store_close(&sa);
    ne_store_close(&sb);
}

/* A tombstone travels in a hint record and is told apart from points. */
static void test_hint_record(void)
{
    struct ne_tomb m = {.kind = NE_TOMB_MEASUREMENT, .version = 10, .db = "iot", .meas = "env"};
    struct ne_pbuf rec = {0};
    T_OK(ne_repl_encode_tomb(&rec, &m));
    T_CHECK(ne_repl_is_tomb(rec.p, rec.len));
    struct ne_tomb *x = NULL;
    T_OK(ne_tomb_decode(rec.p + 2, rec.len - 2, &x));
    T_EQ_STR(x->meas, "env");
    ne_free(x);
    struct ne_batch b;
    ne_batch_init(&b);
    add_point(&b, "env", "d1", T0, 1);
    uint64_t v = 3;
    uint32_t idx = 0;
    struct ne_pbuf pts = {0};
    T_OK(ne_repl_encode(&pts, "iot", &b, &v, &idx, 1));
    T_CHECK(!ne_repl_is_tomb(pts.p, pts.len));
    ne_batch_free(&b);
    ne_pbuf_free(&pts);
    ne_pbuf_free(&rec);
}

/* ---- the replicator: hint records in order -------------------------------------- */

struct events {
    char log[8][16];
    int n;
    bool fail_tomb;
};

static int ev_write(void *ctx, const char *db, const struct ne_batch *b, const uint64_t *ver,
                    struct ne_write_result *res)
{
    struct events *e = ctx;
    (void)ver;
    if (e->n < 8) snprintf(e->log[e->n++], 16, "w%s:%u", db, b->npts);
    res->accepted = b->npts;
    return 0;
}

static int ev_tomb(void *ctx, const uint8_t *p, size_t n)
{
    struct events *e = ctx;
    struct ne_tomb *t = NULL;
    int rc = ne_tomb_decode(p, n, &t);
    if (rc == 0 && e->n < 8) snprintf(e->log[e->n++], 16, "t%s:%u", t->db, t->kind);
    ne_free(t);
    return rc ? rc : e->fail_tomb ? NE_EIO : 0;
}

/* Appends [len u32][record] to a WRITE_BATCH request, counting it. */
static void request_add(struct ne_pbuf *req, const struct ne_pbuf *rec)
{
    if (req->len == 0) {
        ne_pbuf_reserve(req, 4);
        memset(req->p, 0, 4);
        req->len = 4;
    }
    ne_put_u32(req->p, ne_get_u32(req->p) + 1);
    ne_pbuf_reserve(req, req->len + 4 + rec->len);
    ne_put_u32(req->p + req->len, (uint32_t)rec->len);
    memcpy(req->p + req->len + 4, rec->p, rec->len);
    req->len += 4 + rec->len;
}

static void test_replicator_order_and_broadcast(void)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/hints", g_root);
    struct events ev = {0};
    struct ne_replicator_opts o = {.node_id = "self",
                                   .hint_dir = dir,
                                   .durability = NE_STORE_NONE,
                                   .local_write = ev_write,
                                   .local_tomb = ev_tomb,
                                   .ctx = &ev};
    struct ne_replicator *r = NULL;
    T_OK(ne_replicator_start(&o, &r));

    struct ne_batch b;
    ne_batch_init(&b);
    add_point(&b, "env", "d1", T0, 1);
    add_point(&b, "env", "d2", T0, 2);
    uint64_t ver[2] = {5, 5};
    uint32_t idx[2] = {0, 1};
    struct ne_pbuf p1 = {0}, p2 = {0}, tr = {0}, req = {0}, bad = {0}, reply = {0};
    T_OK(ne_repl_encode(&p1, "iot", &b, ver, idx, 2));
    T_OK(ne_repl_encode(&p2, "iot", &b, ver, idx, 1));
    struct ne_tomb m = {.kind = NE_TOMB_MEASUREMENT, .version = 9, .db = "iot", .meas = "env"};
    T_OK(ne_repl_encode_tomb(&tr, &m));
    request_add(&req, &p1);
    request_add(&req, &tr);
    request_add(&req, &p2);
    uint8_t rt = 0;
    T_OK(ne_replicator_handle(r, "peer", req.p, req.len, &reply, &rt));
    T_EQ_INT(rt, NE_FT_WRITE_ACK);
    T_EQ_INT(ev.n, 3); /* the points before the deletion, it, the points after */
    T_EQ_STR(ev.log[0], "wiot:2");
    T_EQ_STR(ev.log[1], "tiot:2");
    T_EQ_STR(ev.log[2], "wiot:1");

    /* a deletion that cannot be applied fails the batch (the sender retries) */
    ev.n = 0;
    ev.fail_tomb = true;
    T_EQ_INT(ne_replicator_handle(r, "peer", req.p, req.len, &reply, &rt), NE_EIO);
    ev.fail_tomb = false;

    /* a damaged deletion refuses the whole batch before anything is written */
    ev.n = 0;
    tr.p[2] = 9; /* the kind */
    request_add(&bad, &p1);
    request_add(&bad, &tr);
    T_EQ_INT(ne_replicator_handle(r, "peer", bad.p, bad.len, &reply, &rt), NE_ECORRUPT);
    T_EQ_INT(ev.n, 0);

    /* broadcast: one record per peer but this node, queues made as needed */
    tr.len = 0;
    T_OK(ne_repl_encode_tomb(&tr, &m));
    const char *peers[] = {"self", "p1", "p2"};
    T_OK(ne_replicator_broadcast(r, peers, 3, tr.p, tr.len));
    struct ne_replicator_peer_stats ps;
    T_OK(ne_replicator_peer_stats(r, "p1", &ps));
    T_EQ_U64(ps.queue_records, 1);
    T_EQ_U64(ps.queue_points, 0);
    T_OK(ne_replicator_peer_stats(r, "p2", &ps));
    T_EQ_U64(ps.queue_records, 1);
    T_EQ_INT(ne_replicator_peer_stats(r, "self", &ps), NE_ENOTFOUND);

    ne_replicator_stop(&r);
    ne_batch_free(&b);
    ne_pbuf_free(&p1);
    ne_pbuf_free(&p2);
    ne_pbuf_free(&tr);
    ne_pbuf_free(&req);
    ne_pbuf_free(&bad);
    ne_pbuf_free(&reply);
}

/* ---- anti-entropy ------------------------------------------------------------ */

static void side_open(struct ae_side *s, const char *name, struct ne_tombs **t)
{
    char path[512];
    tombs_path(name, path, sizeof path);
    T_OK(ae_side_open(s, g_root, name, 8, 0));
    T_OK(ne_tombs_open(path, 0, T0, t));
    ne_ae_free(&s->ae); /* again, with the tombstones */
    struct ne_ae_opts o = {.store = s->st, .tombs = *t};
    T_OK(ne_ae_new(&o, &s->ae));
}

/* ae_call_peer, counting the tombstone requests and their bytes. */
struct counted {
    struct ae_side *peer;
    int tomb_calls;
    size_t tomb_bytes;
};

static int counted_call(void *ctx, uint8_t type, const void *msg, size_t n, struct ne_pbuf *reply,
                        uint8_t *reply_type)
{
    struct counted *c = ctx;
    int rc = ae_call_peer(c->peer, type, msg, n, reply, reply_type);
    if (type == NE_FT_AE_TOMBS) {
        c->tomb_calls++;
        c->tomb_bytes += n + reply->len;
    }
    return rc;
}

static void test_antientropy_carries_deletion(void)
{
    struct ae_side a, b;
    struct ne_tombs *ta = NULL, *tb = NULL;
    side_open(&a, "aea", &ta);
    side_open(&b, "aeb", &tb);
    const char *names[] = {"a", "b"};
    struct ne_ring_opts ro = {.shards = 8, .vnodes = 16, .rf = 2};
    struct ne_ring *r = NULL;
    T_OK(ne_ring_build(&ro, names, 2, &r));
    /* both hold d1 and d2; a then deletes d1 (b missed it) and gets a
     * newer d1 point inside the deleted range */
    for (int i = 0; i < 10; i++) {
        put(a.st, "env", "d1", T0 + i * SEC, i, 100);
        put(b.st, "env", "d1", T0 + i * SEC, i, 100);
        put(a.st, "env", "d2", T0 + i * SEC, i, 100);
        put(b.st, "env", "d2", T0 + i * SEC, i, 100);
    }
    uint64_t s1 = hash_of("env", "d1");
    struct ne_tomb del = {.kind = NE_TOMB_POINTS,
                          .version = 200,
                          .db = "iot",
                          .t0 = T0,
                          .t1 = T0 + 100 * SEC,
                          .series = &s1,
                          .nseries = 1};
    T_EQ_INT(ne_tombs_learn(ta, a.st, &del, T0), 1);
    put(a.st, "env", "d1", T0 + 3 * SEC, 42, 300);
    T_EQ_INT(count(a.st, "env"), 11);

    /* a pulls from b first: b's old d1 points are dropped on arrival and
     * b learns the deletion from the exchange */
    struct counted cb = {.peer = &b};
    T_OK(ne_ae_round(a.ae, r, 0, 1, counted_call, &cb));
    T_EQ_INT(cb.tomb_calls, 2); /* digests differ, b has nothing to send: a sends its list */
    T_EQ_INT(ne_tombs_count(tb), 1);
    T_EQ_U64(ne_tombs_digest(ta), ne_tombs_digest(tb));
    T_EQ_INT(count(a.st, "env"), 11);
    T_EQ_INT(count(b.st, "env"), 10); /* d2 only: d1 deleted there too */
    /* b pulls the newer point back from a */
    T_OK(ne_ae_round(b.ae, r, 1, 0, ae_call_peer, &a));
    T_EQ_INT(count(b.st, "env"), 11);
    struct ne_ae_stats st;
    ne_ae_stats(a.ae, &st);
    T_EQ_U64(st.points_repaired, 0);
    /* a further round each way finds nothing */
    cb.tomb_calls = 0;
    cb.tomb_bytes = 0;
    T_OK(ne_ae_round(a.ae, r, 0, 1, counted_call, &cb));
    T_EQ_INT(cb.tomb_calls, 1); /* equal sets: digests only */
    T_EQ_INT(cb.tomb_bytes, 18);
    T_OK(ne_ae_round(b.ae, r, 1, 0, ae_call_peer, &a));
    T_EQ_INT(count(a.st, "env"), 11);
    T_EQ_INT(count(b.st, "env"), 11);

    T_EQ_DBL(sum(a.st, "env"), 42 + 45, 0);
    T_EQ_DBL(sum(b.st, "env"), 42 + 45, 0);

    /* a shard move pulling from a node that still holds the old points
     * (no exchange there): they are dropped on arrival and counted */
    struct ae_side c;
    T_OK(ae_side_open(&c, g_root, "aec", 8, 0));
    for (int i = 0; i < 10; i++)
        put(c.st, "env", "d1", T0 + i * SEC, 100 + i, 100);
    uint64_t before = ne_tombs_dropped(ta), bytes = 0;
    bool complete = false;
    T_OK(ne_ae_pull_shard(a.ae, 8, ne_ring_shard_of_hash(r, s1), ae_call_peer, &c, &bytes,
                          &complete));
    T_CHECK(complete);
    T_EQ_U64(ne_tombs_dropped(ta) - before, 10);
    T_EQ_INT(count(a.st, "env"), 11);
    T_EQ_DBL(sum(a.st, "env"), 42 + 45, 0);

    ne_ring_free(&r);
    ne_tombs_close(&ta);
    ne_tombs_close(&tb);
    ae_side_close(&a);
    ae_side_close(&b);
    ae_side_close(&c);
}

int main(void)
{
    ne_log_set_level(NE_LOG_OFF);
    if (!t_tmpdir(g_root, sizeof g_root)) return 1;
    T_RUN(test_codec_round_trip);
    T_RUN(test_codec_refusals);
    T_RUN(test_covers_by_version);
    T_RUN(test_filter_batch);
    T_RUN(test_filter_many);
    T_RUN(test_learn_applies_and_persists);
    T_RUN(test_damaged_file_refused);
    T_RUN(test_list_exchange);
    T_RUN(test_hint_record);
    T_RUN(test_replicator_order_and_broadcast);
    T_RUN(test_antientropy_carries_deletion);
    ne_fs_remove_tree(g_root);
    return t_done();
}
