/*
 * engine_write_test.c - the store's write path and reads: validation
 * (type conflicts, cardinality, future, late window, invalid), last writer
 * wins, out-of-order data across flushes, persistence across reopen, and
 * the metadata lookups.
 */
#include "engine_util.h"
#include "t.h"

#include <pthread.h>

#include "ports/log.h"
#include "ports/metrics.h"

static char g_dir[256];

static void test_write_scan_reopen(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    struct ne_batch b;
    ne_batch_init(&b);
    for (int i = 0; i < 100; i++)
        eu_point_f(&b, "env", "site", i % 2 ? "a" : "b", "temp", EU_T0 + i * EU_SEC, i * 0.5);
    struct ne_write_result r;
    T_OK(ne_store_write(s, "iot", &b, &r));
    T_EQ_INT(r.accepted, 100);
    T_EQ_INT(r.rejected, 0);
    struct eu_rows rows = {0};
    T_OK(eu_scan(s, "iot", "env", "temp", &rows));
    T_EQ_U64(rows.n, 100);
    T_EQ_INT(rows.chunks, 2);
    /* reopen: the WAL replays (no flush happened: close flushes) */
    ne_store_close(&s);
    T_CHECK(s == NULL);
    s = eu_open(&o);
    T_CHECK(s);
    T_OK(eu_scan(s, "iot", "env", "temp", &rows));
    T_EQ_U64(rows.n, 100);
    double sum = 0;
    for (size_t i = 0; i < rows.n; i++)
        sum += rows.f[i];
    T_EQ_DBL(sum, 0.5 * (99 * 100 / 2), 1e-9);
    struct ne_store_stats st;
    ne_store_stats(s, &st);
    T_EQ_U64(st.series, 2);
    T_CHECK(st.segments >= 1);
    T_CHECK(!st.failed);
    eu_rows_free(&rows);
    ne_batch_free(&b);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

static void test_type_conflict(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    struct ne_batch b;
    ne_batch_init(&b);
    eu_point_f(&b, "env", "site", "a", "temp", EU_T0, 1.5);
    struct ne_write_result r;
    T_OK(ne_store_write(s, "iot", &b, &r));
    ne_batch_reset(&b);
    eu_point_i(&b, "env", "site", "a", "temp", EU_T0 + 1, 7);
    eu_point_f(&b, "env", "site", "a", "temp", EU_T0 + 2, 2.5);
    T_OK(ne_store_write(s, "iot", &b, &r));
    T_EQ_INT(r.accepted, 1);
    T_EQ_INT(r.rejected, 1);
    T_EQ_INT(r.by_reason[NE_REJ_TYPE], 1);
    T_EQ_STR(r.first_error, "field \"temp\" is float in env,site=a, got integer");
    struct eu_rows rows = {0};
    T_OK(eu_scan(s, "iot", "env", "temp", &rows));
    T_EQ_U64(rows.n, 2);
    T_EQ_DBL(rows.f[1], 2.5, 0);
    /* the type survives a restart */
    ne_store_close(&s);
    s = eu_open(&o);
    T_CHECK(s);
    ne_batch_reset(&b);
    eu_point_i(&b, "env", "site", "a", "temp", EU_T0 + 3, 7);
    T_OK(ne_store_write(s, "iot", &b, &r));
    T_EQ_INT(r.by_reason[NE_REJ_TYPE], 1);
    eu_rows_free(&rows);
    ne_batch_free(&b);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

static void test_cardinality(void)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    o.max_series_per_measurement = 3;
    o.max_series_per_db = 5;
    struct ne_store *s = eu_open(&o);
    T_CHECK(s);
    struct ne_batch b;
    ne_batch_init(&b);
    static const char *const devs[] = {"d0", "d1", "d2", "d3", "d4"};
    for (int i = 0; i < 5; i++)
        eu_point_f(&b, "m1", "dev", devs[i], "x", EU_T0 + i, i);
    struct ne_write_result r;
    T_OK(ne_store_write(s, "iot", &b, &r));
    T_EQ_INT(r.accepted, 3);
    T_EQ_INT(r.by_reason[NE_REJ_CARDINALITY], 2);
    T_CHECK(strstr(r.first_error, "m1") != NULL);
    /* existing series keep flowing */
    ne_batch_reset(&b);
    eu_point_f(&b, "m1", "dev", "d0", "x", EU_T0 + 100, 1);
    eu_point_f(&b, "m2", "dev", "d0", "x", EU_T0 + 100, 1);
    eu_point_f(&b, "m2", "dev", "d1", "x", EU_T0 + 100, 1);
    eu_point_f(&b, "m2", "dev", "d2", "x", EU_T0 + 100, 1); /* 6th series in db */
    T_OK(ne_store_write(s, "iot", &b, &r));
    T_EQ_INT(r.accepted, 3);
    T_EQ_INT(r.by_reason[NE_REJ_CARDINALITY], 1);
    T_CHECK(strstr(r.first_error, "database") != NULL);
    /* another database has its own budget */
    T_OK(ne_store_write(s, "other", &b, &r));
    T_EQ_INT(r.accepted, 4);
    ne_batch_free(&b);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* Points sharing a tag range (ne_batch_begin_same) go to the series of
 * the point they share it with; one whose series was refused (over the
 * cardinality limit) is refused too, and one with the same tags but
 * another measurement is its own series. */
static void test_shared_tags(void)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    o.max_series_per_measurement = 2;
    struct ne_store *s = eu_open(&o);
    T_CHECK(s);
    struct ne_batch b;
    ne_batch_init(&b);
    static const char *const devs[] = {"d0", "d1", "d2"};
    for (int i = 0; i < 3; i++)
        eu_point_f(&b, "env", "dev", devs[i], "t", EU_T0, i);
    for (int k = 1; k <= 3; k++)
        for (uint32_t i = 0; i < 3; i++) {
            T_OK(ne_batch_begin_same(&b, i, EU_T0 + k * EU_SEC));
            T_OK(ne_batch_field_f(&b, ne_sv_c("t"), 10.0 * k + i));
            T_OK(ne_batch_end(&b));
        }
    /* same tag range, other measurement view */
    T_OK(ne_batch_begin_same(&b, 0, EU_T0 + 9 * EU_SEC));
    b.pts[b.npts].meas = ne_sv_c("other");
    T_OK(ne_batch_field_f(&b, ne_sv_c("t"), 99.0));
    T_OK(ne_batch_end(&b));
    struct ne_write_result r;
    T_OK(ne_store_write(s, "iot", &b, &r));
    T_EQ_INT(r.accepted, 9);
    T_EQ_INT(r.by_reason[NE_REJ_CARDINALITY], 4);
    struct eu_rows rows = {0};
    T_OK(eu_scan(s, "iot", "env", "t", &rows));
    T_EQ_U64(rows.n, 8);
    for (size_t i = 0; i < rows.n; i++) {
        T_CHECK(rows.tagval[i] != NULL);
        int dev = rows.tagval[i] ? rows.tagval[i][1] - '0' : -1;
        int k = (int)((rows.ts[i] - EU_T0) / EU_SEC);
        T_EQ_DBL(rows.f[i], k ? 10.0 * k + dev : dev, 0);
    }
    T_OK(eu_scan(s, "iot", "other", "t", &rows));
    T_EQ_U64(rows.n, 1);
    T_EQ_DBL(rows.f[0], 99.0, 0);
    T_CHECK(rows.tagval[0] && strcmp(rows.tagval[0], "d0") == 0);
    eu_rows_free(&rows);
    ne_batch_free(&b);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* The store keeps the tables of shared tag ranges between writes: a
 * second batch laid out like the first, with other series at the same
 * places, must reach its own series, not the first batch's. */
static void test_shared_tags_next_batch(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    struct ne_batch b;
    ne_batch_init(&b);
    static const char *const devs[2][2] = {{"d0", "d1"}, {"e0", "e1"}};
    for (int batch = 0; batch < 2; batch++) {
        ne_batch_reset(&b);
        for (int i = 0; i < 2; i++)
            eu_point_f(&b, "env", "dev", devs[batch][i], "t", EU_T0, 100 * batch + i);
        for (uint32_t i = 0; i < 2; i++) {
            T_OK(ne_batch_begin_same(&b, i, EU_T0 + EU_SEC));
            T_OK(ne_batch_field_f(&b, ne_sv_c("t"), 100 * batch + 10 + i));
            T_OK(ne_batch_end(&b));
        }
        struct ne_write_result r;
        T_OK(ne_store_write(s, "iot", &b, &r));
        T_EQ_INT(r.accepted, 4);
    }
    struct eu_rows rows = {0};
    T_OK(eu_scan(s, "iot", "env", "t", &rows));
    T_EQ_U64(rows.n, 8);
    for (size_t i = 0; i < rows.n; i++) {
        T_CHECK(rows.tagval[i] != NULL);
        if (!rows.tagval[i]) continue;
        int batch = rows.tagval[i][0] == 'e', dev = rows.tagval[i][1] - '0';
        int k = (int)((rows.ts[i] - EU_T0) / EU_SEC);
        T_EQ_DBL(rows.f[i], 100.0 * batch + 10.0 * k + dev, 0);
    }
    eu_rows_free(&rows);
    ne_batch_free(&b);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* Writes one point env,dev=<dev> t=k at EU_T0 + k s whose tag set carries
 * hint h, to db of s; *sid: the id of the series that took it (0 when the
 * write or the scan failed). */
static void write_hinted(struct ne_store *s, const char *db, const char *dev, int k,
                         struct ne_series_hint *h, uint64_t *sid)
{
    *sid = 0;
    struct ne_batch b;
    ne_batch_init(&b);
    T_OK(ne_batch_begin(&b, ne_sv_c("env"), EU_T0 + k * EU_SEC));
    T_OK(ne_batch_tag(&b, ne_sv_c("dev"), ne_sv_c(dev)));
    T_OK(ne_batch_field_f(&b, ne_sv_c("t"), k));
    T_OK(ne_batch_end(&b));
    b.pts[0].hint = h;
    struct ne_write_result r;
    T_OK(ne_store_write(s, db, &b, &r));
    T_EQ_INT(r.accepted, 1);
    ne_batch_free(&b);
    struct eu_rows rows = {0};
    T_OK(eu_scan(s, db, "env", "t", &rows));
    for (size_t i = 0; i < rows.n; i++)
        if (rows.ts[i] == EU_T0 + k * EU_SEC) *sid = rows.sid[i];
    eu_rows_free(&rows);
}

static uint64_t series_of(struct ne_store *s)
{
    struct ne_store_stats st;
    ne_store_stats(s, &st);
    return st.series;
}

/* A point's series hint (the line decoder's memo keeps one per series
 * text) is filled by the store that resolves it and then saves the
 * lookup by key, but only where it is still the right answer: in another
 * database, in another store (open at the same time or opened after the
 * first closed), and once the series is deleted, the key decides again
 * and the hint is filled anew. */
static void test_series_hints(void)
{
    struct ne_store_opts o, o2;
    char dir2[256];
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    struct ne_store *s2 = eu_open_new(&o2, t_tmpdir(dir2, sizeof dir2));
    T_CHECK(s && s2);
    struct ne_series_hint h = {0, NULL}, h0 = {0, NULL};
    uint64_t d0, d1, sid, other, again;
    write_hinted(s, "iot", "d0", 1, &h0, &d0);
    write_hinted(s, "iot", "d1", 2, &h, &d1);
    T_CHECK(d0 && d1 && d0 != d1);
    T_CHECK(h.index != 0 && h.series != NULL && h0.series != h.series);
    struct ne_series_hint filled = h;
    /* the hint serves: same series, nothing new */
    write_hinted(s, "iot", "d1", 3, &h, &sid);
    T_EQ_U64(sid, d1);
    T_CHECK(h.index == filled.index && h.series == filled.series);
    T_EQ_U64(series_of(s), 2);
    /* another database: its own series, and the hint now names it */
    write_hinted(s, "other", "d1", 4, &h, &other);
    T_EQ_U64(series_of(s), 3);
    T_CHECK(other && other != d1 && h.series != filled.series);
    /* back: the key finds d1 again */
    write_hinted(s, "iot", "d1", 5, &h, &sid);
    T_EQ_U64(sid, d1);
    T_CHECK(h.series == filled.series);
    /* another store: the hint is not its own */
    write_hinted(s2, "iot", "d1", 6, &h, &sid);
    T_CHECK(sid != 0);
    T_EQ_U64(series_of(s2), 1);
    T_CHECK(h.index != filled.index);
    write_hinted(s, "iot", "d1", 7, &h, &sid);
    T_EQ_U64(sid, d1);
    T_EQ_U64(series_of(s), 3);
    /* the series deleted: a new one takes the point, the old points stay gone */
    T_OK(ne_store_drop_measurement(s, "iot", "env"));
    write_hinted(s, "iot", "d1", 8, &h, &again);
    T_CHECK(again && again != d1 && again != d0 && again != other);
    T_CHECK(h.series != filled.series);
    struct eu_rows rows = {0};
    T_OK(eu_scan(s, "iot", "env", "t", &rows));
    T_EQ_U64(rows.n, 1);
    T_CHECK(rows.sid[0] == again && rows.f[0] == 8.0);
    eu_rows_free(&rows);
    /* a store opened after the first closed does not take its hints,
     * even where its index happens to sit at the same address */
    ne_store_close(&s2);
    eu_rmtree(dir2);
    filled = h;
    ne_store_close(&s);
    s = eu_open(&o);
    T_CHECK(s);
    write_hinted(s, "iot", "d1", 9, &h, &sid);
    T_EQ_U64(sid, again);
    T_CHECK(h.index != filled.index && h.index != 0);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* Adds a point of the series of point like (ne_batch_begin_same) at
 * EU_T0 + k seconds with fields keys[i] = k * 10 + i, an integer where
 * is_int[i], else a float. */
static void shared_point(struct ne_batch *b, uint32_t like, int k, const struct ne_sv *keys,
                         const int *is_int, int n)
{
    T_OK(ne_batch_begin_same(b, like, EU_T0 + k * EU_SEC));
    for (int i = 0; i < n; i++) {
        union ne_value v;
        if (is_int[i])
            v.i = k * 10 + i;
        else
            v.f = k * 10 + i;
        T_OK(ne_batch_field(b, keys[i], is_int[i] ? NE_V_INT : NE_V_FLOAT, v));
    }
    T_OK(ne_batch_end(b));
}

/* Field `field` of measurement m holds the values vals[j] at the
 * seconds ks[j] (n of them), in time order. */
static void check_field(struct ne_store *s, const char *field, const int *ks, const double *vals,
                        int n)
{
    struct eu_rows rows = {0};
    T_OK(eu_scan(s, "iot", "m", field, &rows));
    T_EQ_U64(rows.n, (uint64_t)n);
    for (int j = 0; j < n && (size_t)j < rows.n; j++) {
        T_CHECK(rows.ts[j] == EU_T0 + ks[j] * EU_SEC);
        T_EQ_DBL(rows.f[j], vals[j], 0);
    }
    eu_rows_free(&rows);
}

/* Points of one series whose field keys are the very views of its first
 * point's (as the line decoder hands them out) take that point's field
 * slots; anything else - a key of equal text at another address, another
 * order, another count, another type - is looked up by name, so a type
 * conflict is still refused with its message, and every value lands in
 * its own field, before and after a restart (WAL replay). */
static void test_shared_fields(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    static const char text[] = "a b a";
    const struct ne_sv a = {text, 1}, bk = {text + 2, 1}, a_copy = {text + 4, 1};
    const struct ne_sv ab[2] = {a, bk}, ba[2] = {bk, a}, copy_b[2] = {a_copy, bk};
    const struct ne_sv abc[3] = {a, bk, NE_SV("c")};
    const int floats[3] = {0, 0, 0}, b_int[2] = {0, 1}, a_int[2] = {1, 0};
    struct ne_batch b;
    ne_batch_init(&b);
    T_OK(ne_batch_begin(&b, NE_SV("m"), EU_T0)); /* k = 0: a, b floats */
    T_OK(ne_batch_tag(&b, NE_SV("dev"), NE_SV("d0")));
    T_OK(ne_batch_field_f(&b, a, 0));
    T_OK(ne_batch_field_f(&b, bk, 1));
    T_OK(ne_batch_end(&b));
    shared_point(&b, 0, 1, ab, floats, 2);     /* same views: shared slots */
    shared_point(&b, 0, 2, ab, b_int, 2);      /* b as integer: refused */
    shared_point(&b, 0, 3, ba, floats, 2);     /* other order */
    shared_point(&b, 0, 4, copy_b, floats, 2); /* equal text elsewhere */
    shared_point(&b, 0, 5, abc, floats, 3);    /* one more field */
    shared_point(&b, 0, 6, ab, a_int, 2);      /* a as integer: refused */
    shared_point(&b, 0, 7, ab, floats, 2);
    struct ne_write_result r;
    T_OK(ne_store_write(s, "iot", &b, &r));
    T_EQ_INT(r.accepted, 6);
    T_EQ_INT(r.rejected, 2);
    T_EQ_INT(r.by_reason[NE_REJ_TYPE], 2);
    T_EQ_STR(r.first_error, "field \"b\" is float in m,dev=d0, got integer");
    for (int pass = 0; pass < 2; pass++) {
        static const int ka[] = {0, 1, 3, 4, 5, 7}, kc[] = {5};
        static const double va[] = {0, 10, 31, 40, 50, 70}, vb[] = {1, 11, 30, 41, 51, 71};
        static const double vc[] = {52};
        check_field(s, "a", ka, va, 6);
        check_field(s, "b", ka, vb, 6);
        check_field(s, "c", kc, vc, 1);
        ne_store_close(&s); /* then once more, from the WAL */
        if (pass == 0) {
            s = eu_open(&o);
            T_CHECK(s);
        }
    }
    ne_batch_free(&b);
    eu_rmtree(g_dir);
}

/* Field v of m holds, in time order, one point per slot k with a value
 * (want[k] != 0, at EU_T0 + k * step): that value. */
static void check_slots(struct ne_store *s, const double *want, int n, int64_t step)
{
    struct eu_rows rows = {0};
    T_OK(eu_scan(s, "iot", "m", "v", &rows));
    size_t expect = 0;
    for (int k = 0; k < n; k++)
        expect += want[k] != 0;
    T_EQ_U64(rows.n, expect);
    size_t bad = 0;
    for (size_t i = 0; i < rows.n; i++) {
        int64_t k = (rows.ts[i] - EU_T0) / step;
        if (k < 0 || k >= n || want[k] != rows.f[i] || (i && rows.ts[i] <= rows.ts[i - 1])) bad++;
    }
    T_EQ_U64(bad, 0);
    eu_rows_free(&rows);
}

/* Mostly ascending times with a few late points and rewrites of earlier
 * times (the cheap sort's case): every time once, in order, the value
 * written last for it. */
static void test_late_points(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    struct ne_batch b;
    ne_batch_init(&b);
    enum { N = 3000 };
    static double want[N];
    for (int i = 0; i < N; i++) {
        int k = i % 100 == 99 ? i - 7 : i; /* late: 7 back, a rewrite of k */
        if (i % 100 == 98) k = i + 1;      /* early: the next one comes late */
        want[k] = i + 0.5;
        eu_point_f(&b, "m", "d", "1", "v", EU_T0 + (int64_t)k * EU_SEC, want[k]);
    }
    struct ne_write_result r;
    T_OK(ne_store_write(s, "iot", &b, &r));
    T_EQ_INT(r.accepted, N);
    T_OK(ne_store_flush(s));
    check_slots(s, want, N, EU_SEC);
    ne_batch_free(&b);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

static int64_t fixed_clock(void *ctx)
{
    return *(int64_t *)ctx;
}

static void test_future_and_late(void)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    o.future_grace_ns = 600 * EU_SEC;
    o.late_window_ns = 3600 * EU_SEC;
    int64_t now = EU_T0 + 86400 * EU_SEC;
    ne_time_set_wall_clock(fixed_clock, &now);
    struct ne_store *s = eu_open(&o);
    T_CHECK(s);
    struct ne_batch b;
    ne_batch_init(&b);
    eu_point_f(&b, "m", NULL, NULL, "x", now + 601 * EU_SEC, 1);  /* future */
    eu_point_f(&b, "m", NULL, NULL, "x", now + 599 * EU_SEC, 2);  /* ok */
    eu_point_f(&b, "m", NULL, NULL, "x", now - 3601 * EU_SEC, 3); /* too old */
    eu_point_f(&b, "m", NULL, NULL, "x", now - 3599 * EU_SEC, 4); /* ok */
    eu_point_f(&b, "m", NULL, NULL, "x", NE_TS_UNSET, 5);         /* arrival time */
    struct ne_write_result r;
    T_OK(ne_store_write(s, "iot", &b, &r));
    T_EQ_INT(r.accepted, 3);
    T_EQ_INT(r.by_reason[NE_REJ_FUTURE], 1);
    T_EQ_INT(r.by_reason[NE_REJ_TOO_OLD], 1);
    T_CHECK(strstr(r.first_error, "future") != NULL);
    struct eu_rows rows = {0};
    T_OK(eu_scan(s, "iot", "m", "x", &rows));
    T_EQ_U64(rows.n, 3);
    T_EQ_INT(rows.ts[1], now);
    T_EQ_DBL(rows.f[1], 5, 0);
    eu_rows_free(&rows);
    ne_batch_free(&b);
    ne_store_close(&s);
    ne_time_set_wall_clock(NULL, NULL);
    eu_rmtree(g_dir);
}

static void test_invalid(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    struct ne_batch b;
    ne_batch_init(&b);
    eu_point_f(&b, "m", NULL, NULL, "x", EU_T0, NAN);
    eu_point_f(&b, "m", "k", "", "x", EU_T0, 1);
    eu_point_f(&b, "m", NULL, NULL, "x", EU_T0, 1);
    struct ne_write_result r;
    T_OK(ne_store_write(s, "iot", &b, &r));
    T_EQ_INT(r.accepted, 1);
    T_EQ_INT(r.by_reason[NE_REJ_INVALID], 2);
    ne_batch_free(&b);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* Duplicate (series, ts, field): the later write wins, in the memtable,
 * across a flush (segment vs memtable), across segments, and after
 * compaction. */
static void test_lww(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    struct ne_batch b;
    ne_batch_init(&b);
    struct ne_write_result r;
    struct eu_rows rows = {0};
    /* same batch: the second occurrence wins */
    eu_point_f(&b, "m", "d", "1", "x", EU_T0, 1);
    eu_point_f(&b, "m", "d", "1", "x", EU_T0, 2);
    T_OK(ne_store_write(s, "iot", &b, &r));
    T_OK(eu_scan(s, "iot", "m", "x", &rows));
    T_EQ_U64(rows.n, 1);
    T_EQ_DBL(rows.f[0], 2, 0);
    T_OK(ne_store_flush(s));
    /* memtable over segment */
    ne_batch_reset(&b);
    eu_point_f(&b, "m", "d", "1", "x", EU_T0, 3);
    T_OK(ne_store_write(s, "iot", &b, &r));
    T_OK(eu_scan(s, "iot", "m", "x", &rows));
    T_EQ_U64(rows.n, 1);
    T_EQ_DBL(rows.f[0], 3, 0);
    /* newer segment over older */
    T_OK(ne_store_flush(s));
    T_OK(eu_scan(s, "iot", "m", "x", &rows));
    T_EQ_U64(rows.n, 1);
    T_EQ_DBL(rows.f[0], 3, 0);
    ne_batch_reset(&b);
    eu_point_f(&b, "m", "d", "1", "x", EU_T0, 4);
    T_OK(ne_store_write(s, "iot", &b, &r));
    T_OK(ne_store_flush(s));
    struct ne_store_stats st;
    ne_store_stats(s, &st);
    T_EQ_U64(st.segments, 3);
    T_OK(ne_store_compact(s));
    ne_store_stats(s, &st);
    T_EQ_U64(st.segments, 1);
    T_OK(eu_scan(s, "iot", "m", "x", &rows));
    T_EQ_U64(rows.n, 1);
    T_EQ_DBL(rows.f[0], 4, 0);
    /* and after a restart */
    ne_store_close(&s);
    s = eu_open(&o);
    T_CHECK(s);
    T_OK(eu_scan(s, "iot", "m", "x", &rows));
    T_EQ_U64(rows.n, 1);
    T_EQ_DBL(rows.f[0], 4, 0);
    eu_rows_free(&rows);
    ne_batch_free(&b);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* Late, out-of-order points of any age land in order after flushes. */
static void test_out_of_order(void)
{
    struct ne_store_opts o;
    eu_opts(&o, t_tmpdir(g_dir, sizeof g_dir));
    o.memtable_bytes = 256 << 10; /* several flushes */
    struct ne_store *s = eu_open(&o);
    T_CHECK(s);
    struct ne_batch b;
    ne_batch_init(&b);
    struct ne_write_result r;
    const int n = 20000;
    uint64_t x = 88172645463325252ull;
    double *want = calloc(n, sizeof *want);
    for (int round = 0; round < 4; round++) {
        ne_batch_reset(&b);
        for (int i = 0; i < n / 4; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            int k = (int)(x % (uint64_t)n); /* random slot, repeated slots overwrite */
            want[k] = round * 1000000 + i + 1;
            eu_point_i(&b, "m", "d", "1", "v", EU_T0 - (int64_t)k * EU_SEC * 3600,
                       (int64_t)want[k]);
        }
        int rc;
        while ((rc = ne_store_write(s, "iot", &b, &r)) == NE_EBUSY)
            ne_time_sleep_ns(1000000);
        T_OK(rc);
    }
    T_OK(ne_store_flush(s));
    struct ne_store_stats st;
    ne_store_stats(s, &st);
    T_CHECK(st.segments >= 2);
    check_slots(s, want, n, -EU_SEC * 3600);
    free(want);
    ne_batch_free(&b);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

static int add_name(void *ctx, const char *name)
{
    char *buf = ctx;
    strcat(buf, name);
    strcat(buf, ";");
    return 0;
}

static int add_field(void *ctx, const char *name, enum ne_vtype t)
{
    char *buf = ctx;
    strcat(buf, name);
    strcat(buf, ":");
    strcat(buf, ne_vtype_name(t));
    strcat(buf, ";");
    return 0;
}

static int add_series(void *ctx, const struct ne_series_info *si)
{
    char *buf = ctx;
    strcat(buf, si->measurement);
    for (uint32_t i = 0; i < si->ntags; i++) {
        strcat(buf, ",");
        strcat(buf, si->tags[i].key.p);
        strcat(buf, "=");
        strcat(buf, si->tags[i].val.p);
    }
    strcat(buf, ";");
    return 0;
}

static void test_lookups(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    struct ne_batch b;
    ne_batch_init(&b);
    union ne_value sv = {.s = NE_SV("ok")};
    ne_batch_begin(&b, NE_SV("env"), EU_T0);
    ne_batch_tag(&b, NE_SV("site"), NE_SV("s1"));
    ne_batch_tag(&b, NE_SV("dev"), NE_SV("d1"));
    ne_batch_field_f(&b, NE_SV("temp"), 20);
    ne_batch_field(&b, NE_SV("status"), NE_V_STRING, sv);
    ne_batch_end(&b);
    ne_batch_begin(&b, NE_SV("env"), EU_T0);
    ne_batch_tag(&b, NE_SV("site"), NE_SV("s2"));
    ne_batch_tag(&b, NE_SV("dev"), NE_SV("d2"));
    ne_batch_field_f(&b, NE_SV("hum"), 40);
    ne_batch_end(&b);
    eu_point_f(&b, "power", "site", "s1", "w", EU_T0, 1);
    struct ne_write_result r;
    T_OK(ne_store_write(s, "iot", &b, &r));
    T_OK(ne_store_write(s, "lab", &b, &r));
    char buf[1024] = "";
    T_OK(ne_store_list_databases(s, add_name, buf));
    T_EQ_STR(buf, "iot;lab;");
    buf[0] = 0;
    T_OK(ne_store_list_measurements(s, "iot", add_name, buf));
    T_EQ_STR(buf, "env;power;");
    buf[0] = 0;
    T_OK(ne_store_tag_keys(s, "iot", "env", add_name, buf));
    T_EQ_STR(buf, "dev;site;");
    buf[0] = 0;
    T_OK(ne_store_tag_values(s, "iot", "env", "site", add_name, buf));
    T_EQ_STR(buf, "s1;s2;");
    buf[0] = 0;
    T_OK(ne_store_field_keys(s, "iot", "env", add_field, buf));
    T_EQ_STR(buf, "hum:float;status:string;temp:float;");
    buf[0] = 0;
    T_OK(ne_store_series_with_tag(s, "iot", "env", "site", "s2", add_series, buf));
    T_EQ_STR(buf, "env,dev=d2,site=s2;");
    buf[0] = 0;
    T_OK(ne_store_list_series(s, "iot", "env", add_series, buf));
    T_EQ_STR(buf, "env,dev=d1,site=s1;env,dev=d2,site=s2;");
    T_EQ_INT(ne_store_list_measurements(s, "nope", add_name, buf), NE_ENOTFOUND);
    /* strings read back, across a flush */
    T_OK(ne_store_flush(s));
    struct eu_rows rows = {0};
    T_OK(eu_scan(s, "iot", "env", "status", &rows));
    T_EQ_U64(rows.n, 1);
    T_EQ_STR(rows.s[0], "ok");
    /* the index survives a restart */
    ne_store_close(&s);
    s = eu_open(&o);
    T_CHECK(s);
    buf[0] = 0;
    T_OK(ne_store_series_with_tag(s, "lab", "env", "site", "s1", add_series, buf));
    T_EQ_STR(buf, "env,dev=d1,site=s1;");
    eu_rows_free(&rows);
    ne_batch_free(&b);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

#define GC_THREADS 4
#define GC_WRITES  50

struct gc_arg {
    struct ne_store *s;
    int id, failed;
};

static void *gc_writer(void *p)
{
    struct gc_arg *a = p;
    static const char *const devs[GC_THREADS] = {"t0", "t1", "t2", "t3"};
    struct ne_batch b;
    ne_batch_init(&b);
    for (int k = 0; k < GC_WRITES; k++) {
        ne_batch_reset(&b);
        for (int i = 0; i < 10; i++)
            eu_point_f(&b, "gc", "dev", devs[a->id], "x", EU_T0 + (k * 10 + i) * EU_SEC,
                       a->id * 1000 + k * 10 + i);
        struct ne_write_result r;
        if (ne_store_write(a->s, "iot", &b, &r) || r.accepted != 10) a->failed++;
    }
    ne_batch_free(&b);
    return NULL;
}

/* Concurrent writers in sync mode: every acknowledged point is there, and
 * group commit shares fdatasyncs (never more than one per write). */
static void test_group_commit(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    struct ne_metric *fs = ne_metric_counter("neoedge_store_wal_fsyncs_total", "", NULL);
    double fs0 = ne_metric_value(fs);
    pthread_t th[GC_THREADS];
    struct gc_arg args[GC_THREADS];
    for (int i = 0; i < GC_THREADS; i++) {
        args[i] = (struct gc_arg){s, i, 0};
        pthread_create(&th[i], NULL, gc_writer, &args[i]);
    }
    for (int i = 0; i < GC_THREADS; i++) {
        pthread_join(th[i], NULL);
        T_EQ_INT(args[i].failed, 0);
    }
    double syncs = ne_metric_value(fs) - fs0;
    T_CHECK(syncs >= 1 && syncs <= GC_THREADS * GC_WRITES);
    struct eu_rows rows = {0};
    T_OK(eu_scan(s, "iot", "gc", "x", &rows));
    T_EQ_U64(rows.n, GC_THREADS * GC_WRITES * 10);
    size_t bad = 0;
    for (size_t i = 0; i < rows.n; i++) {
        int id = rows.tagval[i][1] - '0';
        if (rows.f[i] != id * 1000 + (rows.ts[i] - EU_T0) / EU_SEC) bad++;
    }
    T_EQ_U64(bad, 0);
    eu_rows_free(&rows);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

struct blockcount {
    uint64_t in_blocks, in_chunks, nblocks;
    double sum;
};

static int bc_chunk(void *ctx, const struct ne_scan_chunk *c)
{
    struct blockcount *bc = ctx;
    bc->in_chunks += c->n;
    for (size_t i = 0; i < c->n; i++)
        bc->sum += c->v.f[i];
    return 0;
}

static int bc_block(void *ctx, const struct ne_scan_block *b)
{
    struct blockcount *bc = ctx;
    bc->in_blocks += b->stats->count;
    bc->sum += b->stats->sum_f;
    bc->nblocks++;
    return 1; /* used: the block is not decoded */
}

static int bc_decline(void *ctx, const struct ne_scan_block *b)
{
    ((struct blockcount *)ctx)->nblocks++;
    (void)b;
    return 0; /* declined: the block is decoded */
}

/* Whole blocks come as statistics, the rest as values; together they add
 * up to the same as a plain scan. A block overlapped by newer data in the
 * memtable must be decoded (last writer wins needs the values). */
static void test_scan_blocks(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    struct ne_batch b;
    ne_batch_init(&b);
    const int n = 20000;
    for (int i = 0; i < n; i++)
        eu_point_f(&b, "m", "d", "1", "x", EU_T0 + i * EU_SEC, i);
    struct ne_write_result r;
    T_OK(ne_store_write(s, "iot", &b, &r));
    T_OK(ne_store_flush(s));
    struct ne_store_scan_req q = {.db = "iot",
                                  .measurement = "m",
                                  .field = "x",
                                  .t0 = EU_T0 + 100 * EU_SEC,
                                  .t1 = EU_T0 + (n - 101) * EU_SEC};
    struct blockcount bc = {0};
    T_OK(ne_store_scan_blocks(s, &q, bc_chunk, bc_block, &bc));
    T_CHECK(bc.nblocks >= 2);
    T_EQ_U64(bc.in_blocks + bc.in_chunks, n - 200);
    double want = 0;
    for (int i = 100; i < n - 100; i++)
        want += i;
    T_EQ_DBL(bc.sum, want, 1e-3);
    struct blockcount bd = {0};
    T_OK(ne_store_scan_blocks(s, &q, bc_chunk, bc_decline, &bd));
    T_EQ_U64(bd.nblocks, bc.nblocks);
    T_EQ_U64(bd.in_chunks, n - 200);
    T_EQ_DBL(bd.sum, want, 1e-3);
    /* overwrite one point in the middle: its block is decoded now */
    ne_batch_reset(&b);
    eu_point_f(&b, "m", "d", "1", "x", EU_T0 + (n / 2) * EU_SEC, -1);
    T_OK(ne_store_write(s, "iot", &b, &r));
    struct blockcount bc2 = {0};
    T_OK(ne_store_scan_blocks(s, &q, bc_chunk, bc_block, &bc2));
    T_EQ_U64(bc2.in_blocks + bc2.in_chunks, n - 200);
    T_EQ_DBL(bc2.sum, want - (n / 2) - 1, 1e-3);
    T_CHECK(bc2.nblocks == bc.nblocks - 1);
    ne_batch_free(&b);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* Scans of a part of the data: one block alone is cut to the range and
 * handed over as decoded; segments whose times interleave (late data)
 * are merged in time order, the newer segment winning on equal times,
 * with one sorted chunk per column either way. */
static void test_scan_ranges(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    struct ne_batch b;
    ne_batch_init(&b);
    struct ne_write_result r;
    for (int i = 0; i < 200; i += 2) /* even seconds */
        eu_point_f(&b, "m", "d", "1", "x", EU_T0 + i * EU_SEC, i);
    T_OK(ne_store_write(s, "iot", &b, &r));
    T_OK(ne_store_flush(s));
    struct eu_rows rows = {0};
    struct ne_store_scan_req q = {.db = "iot", .measurement = "m", .field = "x",
                                  .t0 = EU_T0 + 9 * EU_SEC, .t1 = EU_T0 + 20 * EU_SEC};
    T_OK(ne_store_scan(s, &q, eu_collect, &rows));
    T_EQ_INT(rows.chunks, 1);
    T_EQ_U64(rows.n, 6); /* 10, 12, .. 20 */
    T_CHECK(rows.ts[0] == EU_T0 + 10 * EU_SEC);
    T_CHECK(rows.ts[5] == EU_T0 + 20 * EU_SEC);
    T_EQ_DBL(rows.f[5], 20, 0);
    eu_rows_free(&rows);
    /* nothing in range: no chunk */
    q.t0 = q.t1 = EU_T0 + 11 * EU_SEC;
    T_OK(ne_store_scan(s, &q, eu_collect, &rows));
    T_EQ_INT(rows.chunks, 0);
    /* late odd seconds and a rewrite of 50..60 in a second segment */
    ne_batch_reset(&b);
    for (int i = 1; i < 100; i += 2)
        eu_point_f(&b, "m", "d", "1", "x", EU_T0 + i * EU_SEC, i);
    for (int i = 50; i <= 60; i += 2)
        eu_point_f(&b, "m", "d", "1", "x", EU_T0 + i * EU_SEC, -i);
    T_OK(ne_store_write(s, "iot", &b, &r));
    T_OK(ne_store_flush(s));
    q.t0 = EU_T0 + 40 * EU_SEC;
    q.t1 = EU_T0 + 70 * EU_SEC;
    eu_rows_free(&rows);
    T_OK(ne_store_scan(s, &q, eu_collect, &rows)); /* eu_collect fails on disorder */
    T_EQ_INT(rows.chunks, 1);
    T_EQ_U64(rows.n, 31);
    size_t bad = 0;
    for (size_t i = 0; i < rows.n; i++) {
        int sec = 40 + (int)i;
        double want = sec >= 50 && sec <= 60 && sec % 2 == 0 ? -sec : sec;
        if (rows.ts[i] != EU_T0 + sec * EU_SEC || rows.f[i] != want) bad++;
    }
    T_EQ_U64(bad, 0);
    eu_rows_free(&rows);
    ne_batch_free(&b);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

int main(void)
{
    ne_log_set_level(NE_LOG_ERROR);
    T_RUN(test_write_scan_reopen);
    T_RUN(test_type_conflict);
    T_RUN(test_cardinality);
    T_RUN(test_shared_tags);
    T_RUN(test_shared_tags_next_batch);
    T_RUN(test_shared_fields);
    T_RUN(test_series_hints);
    T_RUN(test_late_points);
    T_RUN(test_future_and_late);
    T_RUN(test_invalid);
    T_RUN(test_lww);
    T_RUN(test_out_of_order);
    T_RUN(test_lookups);
    T_RUN(test_scan_blocks);
    T_RUN(test_scan_ranges);
    T_RUN(test_group_commit);
    return t_done();
}
