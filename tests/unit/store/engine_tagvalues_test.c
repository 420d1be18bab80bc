/*
 * engine_tagvalues_test.c - the series index's tag value lists (SHOW TAG
 * VALUES) and tag keys: after every change (series created in any order, values new
 * and repeated, DELETE of whole series, writes after a delete, DROP
 * MEASUREMENT, DROP DATABASE, a restart that replays series.log) the
 * values listed for each (measurement, tag key) are exactly the sorted
 * distinct values of that key among the live series that a walk over
 * ne_store_list_series finds, and the keys listed those the live series
 * have.
 */
#include "engine_util.h"
#include "t.h"

#include "ports/log.h"

static char g_dir[256];

/* Values of different lengths (the index sorts by bytes, shorter first on
 * a common prefix), some needing JSON escapes, some not ASCII. */
static const char *const g_vals[] = {
    "a",     "ab",     "abc",       "b",        "dev-9",   "dev-10",  "dev-100",
    "x\"y",  "p<q",    "\xc3\xa9t\xc3\xa9", "zzzzzzzzzzzzzzzzz", "0", "00", "dev-09",
};
#define NVALS (sizeof g_vals / sizeof *g_vals)

static const char *const g_meas[] = {"m", "n"};
static const char *const g_keys[] = {"host", "region", "zone"};

static uint64_t g_rng = 88172645463325252ull;

static unsigned rnd(unsigned n)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (unsigned)(g_rng % n);
}

/* Writes one point of meas with a random subset of the keys, random
 * values. */
static int put_random(struct ne_store *s, const char *db, const char *meas, int64_t ts)
{
    struct ne_batch b;
    ne_batch_init(&b);
    ne_batch_begin(&b, ne_sv_c(meas), ts);
    for (size_t k = 0; k < sizeof g_keys / sizeof *g_keys; k++)
        if (rnd(3)) ne_batch_tag(&b, ne_sv_c(g_keys[k]), ne_sv_c(g_vals[rnd(NVALS)]));
    ne_batch_field_f(&b, ne_sv_c("x"), 1.0);
    ne_batch_end(&b);
    struct ne_write_result r;
    int rc = ne_store_write(s, db, &b, &r);
    ne_batch_free(&b);
    return rc ? rc : r.accepted == 1 ? 0 : -1;
}

/* A list of strings joined by '|', as both sides are compared. */
struct joined {
    char buf[4096];
    size_t len;
};

static void join_add(struct joined *j, const char *s, size_t n)
{
    if (j->len + n + 2 > sizeof j->buf) return; /* the test's sets stay far below */
    if (j->len) j->buf[j->len++] = '|';
    memcpy(j->buf + j->len, s, n);
    j->len += n;
    j->buf[j->len] = 0;
}

/* The oracle: every live series' value of key, sorted, each once. */
struct walk {
    const char *key;
    const char *v[4096];
    size_t n;
};

static int walk_series(void *ctx, const struct ne_series_info *si)
{
    struct walk *w = ctx;
    for (uint32_t i = 0; i < si->ntags; i++)
        if (strcmp(si->tags[i].key.p, w->key) == 0 && w->n < 4096) w->v[w->n++] = si->tags[i].val.p;
    return 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int walk_values(struct ne_store *s, const char *db, const char *meas, const char *key,
                       struct joined *out)
{
    struct walk w = {.key = key};
    int rc = ne_store_list_series(s, db, meas, walk_series, &w);
    qsort(w.v, w.n, sizeof *w.v, cmp_str);
    for (size_t i = 0; i < w.n; i++)
        if (i == 0 || strcmp(w.v[i], w.v[i - 1]) != 0) join_add(out, w.v[i], strlen(w.v[i]));
    return rc;
}

/* The oracle for keys: every key a live series has, sorted, each once. */
static int walk_keys(void *ctx, const struct ne_series_info *si)
{
    struct walk *w = ctx;
    for (uint32_t i = 0; i < si->ntags; i++)
        if (w->n < 4096) w->v[w->n++] = si->tags[i].key.p;
    return 0;
}

static int cmp_sv(const void *a, const void *b)
{
    return strcmp(((const struct ne_sv *)a)->p, ((const struct ne_sv *)b)->p);
}

/* The index's keys of meas against the walk's. */
static void check_keys(struct ne_store *s, const char *db, const char *meas)
{
    struct walk w = {0};
    struct joined want = {0}, got = {0};
    int rc = ne_store_list_series(s, db, meas, walk_keys, &w);
    qsort(w.v, w.n, sizeof *w.v, cmp_str);
    for (size_t i = 0; i < w.n; i++)
        if (i == 0 || strcmp(w.v[i], w.v[i - 1]) != 0) join_add(&want, w.v[i], strlen(w.v[i]));
    struct ne_sv *k = NULL;
    size_t n = 0, cap = 0;
    T_EQ_INT(ne_store_tag_key_views(s, db, meas, &k, &n, &cap), rc);
    if (n) qsort(k, n, sizeof *k, cmp_sv);
    for (size_t i = 0; i < n; i++)
        join_add(&got, k[i].p, k[i].n);
    free(k);
    T_EQ_STR(got.buf, want.buf);
}

static int join_name(void *ctx, const char *name)
{
    join_add(ctx, name, strlen(name));
    return 0;
}

/* Checks both index listings (names and views) of every (measurement,
 * key) of db against the walk, return codes included (NE_ENOTFOUND for a
 * measurement db never had); with db_gone all must say NE_ENOTFOUND. */
static void check_all(struct ne_store *s, const char *db, bool db_gone)
{
    for (size_t m = 0; m < 2; m++)
        check_keys(s, db, g_meas[m]);
    for (size_t m = 0; m < 2; m++)
        for (size_t k = 0; k < sizeof g_keys / sizeof *g_keys; k++) {
            struct joined want = {0}, names = {0}, views = {0};
            int rc = walk_values(s, db, g_meas[m], g_keys[k], &want);
            if (db_gone) T_EQ_INT(rc, NE_ENOTFOUND);
            T_EQ_INT(ne_store_tag_values(s, db, g_meas[m], g_keys[k], join_name, &names), rc);
            struct ne_sv *v = NULL;
            size_t n = 0, cap = 0;
            T_EQ_INT(ne_store_tag_value_views(s, db, g_meas[m], g_keys[k], &v, &n, &cap), rc);
            for (size_t i = 0; i < n; i++) {
                T_EQ_U64(v[i].n, strlen(v[i].p)); /* views hold the whole value */
                join_add(&views, v[i].p, v[i].n);
            }
            free(v);
            T_EQ_STR(names.buf, want.buf);
            T_EQ_STR(views.buf, want.buf);
        }
}

/* Closes s and opens its store again (the lists rebuilt from
 * series.log), then checks them against the series; returns the store
 * (NULL when it does not open). */
static struct ne_store *restart_checked(struct ne_store *s, const struct ne_store_opts *o)
{
    ne_store_close(&s);
    s = eu_open(o);
    if (s) check_all(s, "db", false);
    return s;
}

static const char *g_kill_val; /* the host value del_host deletes */

static bool host_is(void *ctx, const struct ne_series_info *si)
{
    (void)ctx;
    for (uint32_t i = 0; i < si->ntags; i++)
        if (strcmp(si->tags[i].key.p, "host") == 0)
            return strcmp(si->tags[i].val.p, g_kill_val) == 0;
    return false;
}

/* DELETE FROM meas WHERE host = val, all time: those series die. */
static int del_host(struct ne_store *s, const char *meas, const char *val)
{
    g_kill_val = val;
    struct ne_store_delete_req r = {.db = "db", .measurement = meas, .filter = host_is,
                                    .t0 = INT64_MIN, .t1 = INT64_MAX};
    return ne_store_delete(s, &r);
}

/* Writes of random series, checked after each small batch (values come in
 * any order, so the sorted list is extended or sorted again). */
static void test_create(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    check_all(s, "db", true); /* no database yet */
    for (int i = 0; i < 400; i++) {
        T_OK(put_random(s, "db", g_meas[rnd(2)], EU_T0 + i * EU_SEC));
        if (i % 7 == 0) check_all(s, "db", false);
    }
    check_all(s, "db", false);
    /* a key no series has, a measurement that does not exist */
    struct ne_sv *v = NULL;
    size_t n = 0, cap = 0;
    T_OK(ne_store_tag_value_views(s, "db", "m", "nosuch", &v, &n, &cap));
    T_EQ_U64(n, 0);
    T_EQ_INT(ne_store_tag_value_views(s, "db", "nosuch", "host", &v, &n, &cap), NE_ENOTFOUND);
    free(v);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* Values made in ascending order only extend the sorted list; one out of
 * order in between sorts it again. */
static void test_ascending_then_not(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    struct ne_batch b;
    ne_batch_init(&b);
    static char val[300][16]; /* the batch keeps views of them */
    for (int i = 0; i < 300; i++) {
        snprintf(val[i], sizeof val[i], "d%05d", i == 150 ? 7 : i * 2 + 1); /* one lower */
        eu_point_f(&b, "m", "host", val[i], "x", EU_T0 + i, 1);
    }
    struct ne_write_result r;
    T_OK(ne_store_write(s, "db", &b, &r));
    ne_batch_free(&b);
    check_all(s, "db", false);
    ne_batch_init(&b);
    eu_point_f(&b, "m", "host", "d00000", "x", EU_T0, 1); /* before every one */
    eu_point_f(&b, "m", "host", "d99999", "x", EU_T0, 1); /* after every one */
    T_OK(ne_store_write(s, "db", &b, &r));
    ne_batch_free(&b);
    check_all(s, "db", false);
    struct joined j = {0};
    T_OK(ne_store_tag_values(s, "db", "m", "host", join_name, &j));
    T_CHECK(strncmp(j.buf, "d00000|d00001|d00003|d00005|d00007|d00007", 41) != 0); /* once */
    T_CHECK(strncmp(j.buf, "d00000|d00001|d00003|d00005|d00007|d00009", 41) == 0);

    ne_store_close(&s);
    eu_rmtree(g_dir);
}

/* DELETE of whole series, writes after it, DROP MEASUREMENT, a restart
 * (series.log replayed), DROP DATABASE and the database made again. */
static void test_delete_drop_restart(void)
{
    struct ne_store_opts o;
    struct ne_store *s = eu_open_new(&o, t_tmpdir(g_dir, sizeof g_dir));
    T_CHECK(s);
    for (int i = 0; i < 300; i++)
        T_OK(put_random(s, "db", g_meas[rnd(2)], EU_T0 + i * EU_SEC));
    T_OK(ne_store_flush(s));
    check_all(s, "db", false);
    T_OK(del_host(s, "m", "ab"));
    T_OK(del_host(s, "m", "dev-10"));
    T_OK(del_host(s, "n", "x\"y"));
    check_all(s, "db", false);
    struct joined j = {0};
    T_OK(ne_store_tag_values(s, "db", "m", "host", join_name, &j));
    T_CHECK(!strstr(j.buf, "|ab|") && !strstr(j.buf, "dev-10|"));
    /* a write after the delete brings the value back, as a new series */
    struct ne_batch b;
    ne_batch_init(&b);
    eu_point_f(&b, "m", "host", "ab", "x", EU_T0 + 1000 * EU_SEC, 1);
    struct ne_write_result r;
    T_OK(ne_store_write(s, "db", &b, &r));
    ne_batch_free(&b);
    check_all(s, "db", false);
    memset(&j, 0, sizeof j);
    T_OK(ne_store_tag_values(s, "db", "m", "host", join_name, &j));
    T_CHECK(strstr(j.buf, "ab") != NULL);
    /* restart: the lists are rebuilt from series.log, deletes included */
    s = restart_checked(s, &o);
    T_CHECK(s);
    T_OK(ne_store_drop_measurement(s, "db", "n"));
    check_all(s, "db", false);
    memset(&j, 0, sizeof j);
    T_OK(ne_store_tag_values(s, "db", "n", "host", join_name, &j));
    T_EQ_STR(j.buf, "");
    s = restart_checked(s, &o);
    T_CHECK(s);
    T_OK(ne_store_drop_database(s, "db"));
    check_all(s, "db", true);
    /* made again by a write: only the new series' values */
    ne_batch_init(&b);
    eu_point_f(&b, "n", "zone", "fresh", "x", EU_T0, 1);
    T_OK(ne_store_write(s, "db", &b, &r));
    ne_batch_free(&b);
    check_all(s, "db", false);
    memset(&j, 0, sizeof j);
    T_OK(ne_store_tag_values(s, "db", "n", "zone", join_name, &j));
    T_EQ_STR(j.buf, "fresh");
    s = restart_checked(s, &o);
    T_CHECK(s);
    ne_store_close(&s);
    eu_rmtree(g_dir);
}

int main(void)
{
    ne_log_set_level(NE_LOG_ERROR);
    T_RUN(test_create);
    T_RUN(test_ascending_then_not);
    T_RUN(test_delete_drop_restart);
    return t_done();
}
