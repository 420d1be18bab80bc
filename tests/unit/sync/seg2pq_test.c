/*
 * seg2pq_test.c - segment to Parquet conversion: objects, keys, row counts,
 * column names and metadata (read from each file's footer with the
 * independent Thrift decoder), determinism, skip, stopping, unknown series,
 * and a hand-built segment with many small blocks, far-apart hours and
 * timestamps at both ends of the int64 range.
 * The DuckDB read-back of the values is seg2pq_duckdb.sh.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "store/segment/segment.h"
#include "store/store.h"
#include "sync/export/seg2pq.h"

#include "parquet_test_read.h"
#include "seg2pq_testlib.h"
#include "t.h"

/* ---- what fn saw ----------------------------------------------------------- */

#define MAXOBJ 64

struct got_obj {
    uint64_t index, rows, values, bytes;
    int64_t hour_start;
    char db[64], meas[64], key[256];
    char *data; /* the file's bytes */
    size_t len;
};

struct got {
    struct got_obj o[MAXOBJ];
    size_t n;
    int stop_at; /* return 42 from this call (1-based); 0: never */
};

static int collect(void *ctx, const struct ne_seg2pq_obj *obj)
{
    struct got *g = ctx;
    if (g->n == MAXOBJ) return -1;
    struct got_obj *o = &g->o[g->n++];
    o->index = obj->index;
    o->rows = obj->rows;
    o->values = obj->values;
    o->bytes = obj->bytes;
    o->hour_start = obj->hour_start_ns;
    snprintf(o->db, sizeof o->db, "%s", obj->db);
    snprintf(o->meas, sizeof o->meas, "%s", obj->measurement);
    snprintf(o->key, sizeof o->key, "%s", obj->key_suffix);
    int rc = ne_fs_read_all(obj->path, &o->data, &o->len);
    if (rc) return rc;
    if (g->stop_at && (int)g->n == g->stop_at) return 42;
    return 0;
}

static void got_free(struct got *g)
{
    for (size_t i = 0; i < g->n; i++)
        ne_free(g->o[i].data);
    memset(g, 0, sizeof *g);
}

/* ---- footer -------------------------------------------------------------------- */

struct footer {
    int64_t rows;
    char cols[16][48];
    size_t ncols;
    char kv[8][2][64];
    size_t nkv;
};

static int footer_read(const char *data, size_t len, struct footer *f)
{
    memset(f, 0, sizeof *f);
    if (len < 12 || memcmp(data, "PAR1", 4) || memcmp(data + len - 4, "PAR1", 4)) return -1;
    uint32_t flen = (uint32_t)(uint8_t)data[len - 8] | (uint32_t)(uint8_t)data[len - 7] << 8 |
                    (uint32_t)(uint8_t)data[len - 6] << 16 | (uint32_t)(uint8_t)data[len - 5] << 24;
    if (flen > len - 12) return -1;
    const uint8_t *p = (const uint8_t *)data + len - 8 - flen;
    struct rd r = {p, p + flen, 0};
    struct tv meta = {0};
    tv_read_struct(&r, &meta, 0);
    int rc = r.bad ? -1 : 0;
    f->rows = tv_int(&meta, 3, -1);
    const struct tv *schema = tv_get(&meta, 2);
    for (size_t i = 1; !rc && schema && i < schema->nkids && f->ncols < 16; i++) {
        const struct tv *name = tv_get(&schema->kids[i], 4);
        if (!name)
            rc = -1;
        else
            snprintf(f->cols[f->ncols++], 48, "%.*s", (int)name->len, (const char *)name->bin);
    }
    const struct tv *kv = tv_get(&meta, 5);
    for (size_t i = 0; !rc && kv && i < kv->nkids && f->nkv < 8; i++) {
        const struct tv *k = tv_get(&kv->kids[i], 1), *v = tv_get(&kv->kids[i], 2);
        if (!k || !v)
            rc = -1;
        else {
            snprintf(f->kv[f->nkv][0], 64, "%.*s", (int)k->len, (const char *)k->bin);
            snprintf(f->kv[f->nkv][1], 64, "%.*s", (int)v->len, (const char *)v->bin);
            f->nkv++;
        }
    }
    tv_free(&meta);
    return rc;
}

static const char *footer_kv(const struct footer *f, const char *key)
{
    for (size_t i = 0; i < f->nkv; i++)
        if (!strcmp(f->kv[i][0], key)) return f->kv[i][1];
    return NULL;
}

/* ---- fixture: a store holding the data set ---------------------------------------- */

static char g_dir[256], g_spool[300], g_seg[300];
static struct ne_store *g_store;

static int fixture_open(void)
{
    if (!t_tmpdir(g_dir, sizeof g_dir)) return -1;
    snprintf(g_spool, sizeof g_spool, "%s/spool", g_dir);
    int rc = ne_fs_mkdir_p(g_spool);
    if (!rc) rc = tl_store(g_dir, &g_store, g_seg, sizeof g_seg);
    return rc;
}

static void fixture_close(void)
{
    ne_store_close(&g_store);
    ne_fs_remove_tree(g_dir);
}

static struct ne_seg2pq_opts store_opts(void)
{
    struct ne_seg2pq_opts o = {.spool_dir = g_spool,
                               .resolve = ne_seg2pq_resolve_store,
                               .resolve_ctx = g_store,
                               .node = "edge-7"};
    return o;
}

static int spool_entries(void *ctx, const char *name, bool is_dir)
{
    (void)name;
    (void)is_dir;
    (*(int *)ctx)++;
    return 0;
}

static int spool_count(void)
{
    int n = 0;
    ne_fs_list_dir(g_spool, spool_entries, &n);
    return n;
}

/* ---- tests on the store's data set ------------------------------------------------- */

static void test_objects(void)
{
    struct ne_seg2pq_opts o = store_opts();
    struct got g = {0};
    struct ne_seg2pq_stats st;
    T_OK(ne_seg2pq_convert(g_seg, &o, 0, collect, &g, &st));
    T_EQ_U64(g.n, TL_NOBJ);
    T_EQ_U64(st.objects, TL_NOBJ);
    T_EQ_U64(st.skipped, 0);
    T_EQ_U64(st.unknown_series, 0);
    uint64_t rows = 0, values = 0, nulled = 0, bytes = 0;
    for (size_t i = 0; i < g.n; i++) {
        const struct got_obj *x = &g.o[i];
        const struct tl_obj *e = &tl_objs[i];
        uint64_t er, ev, en;
        tl_obj_counts(e, &er, &ev, &en);
        T_EQ_U64(x->index, i);
        T_EQ_STR(x->db, e->db);
        T_EQ_STR(x->meas, e->meas);
        T_EQ_STR(x->key, e->key);
        T_EQ_INT(x->hour_start, TL_T0 + e->hour * TL_HOUR);
        T_EQ_U64(x->rows, er);
        T_EQ_U64(x->values, ev);
        T_EQ_U64(x->bytes, x->len);
        rows += er;
        values += ev;
        nulled += en;
        bytes += x->len;

        struct footer f;
        T_OK(footer_read(x->data, x->len, &f));
        T_EQ_INT(f.rows, (int64_t)er);
        const struct tl_schema *sc = tl_schema_of(e->db, e->meas);
        T_CHECK(sc != NULL);
        size_t nc = 0;
        while (sc->cols[nc])
            nc++;
        T_EQ_U64(f.ncols, nc);
        for (size_t c = 0; c < nc; c++)
            T_EQ_STR(f.cols[c], sc->cols[c]);
        char hour[32];
        snprintf(hour, sizeof hour, "2026-01-01T%02d:00:00Z", e->hour);
        char seg_hex[17];
        snprintf(seg_hex, sizeof seg_hex, "%.16s", strrchr(g_seg, '/') + 1);
        T_EQ_STR(footer_kv(&f, "neoedge.segment"), seg_hex);
        T_EQ_STR(footer_kv(&f, "neoedge.node"), "edge-7");
        T_EQ_STR(footer_kv(&f, "neoedge.db"), e->db);
        T_EQ_STR(footer_kv(&f, "neoedge.measurement"), e->meas);
        T_EQ_STR(footer_kv(&f, "neoedge.hour"), hour);
    }
    T_EQ_U64(st.rows, rows);
    T_EQ_U64(st.values, values);
    T_EQ_U64(st.uint_nulled, nulled);
    T_EQ_U64(st.uint_nulled, 4); /* big at k = 32..35 */
    T_EQ_U64(st.bytes, bytes);
    T_EQ_INT(spool_count(), 0); /* every spool file removed */
    got_free(&g);
}

/* Same input, same bytes; skip hands over exactly the later objects. */
static void test_deterministic_and_skip(void)
{
    struct ne_seg2pq_opts o = store_opts();
    struct got a = {0}, b = {0};
    T_OK(ne_seg2pq_convert(g_seg, &o, 0, collect, &a, NULL));
    T_OK(ne_seg2pq_convert(g_seg, &o, 0, collect, &b, NULL));
    T_EQ_U64(a.n, TL_NOBJ);
    T_EQ_U64(b.n, a.n);
    for (size_t i = 0; i < a.n; i++) {
        T_EQ_U64(a.o[i].len, b.o[i].len);
        T_CHECK(memcmp(a.o[i].data, b.o[i].data, a.o[i].len) == 0);
    }
    for (uint64_t skip = 1; skip <= TL_NOBJ + 1; skip++) {
        struct got s = {0};
        struct ne_seg2pq_stats st;
        T_OK(ne_seg2pq_convert(g_seg, &o, skip, collect, &s, &st));
        uint64_t want = skip >= TL_NOBJ ? 0 : TL_NOBJ - skip;
        T_EQ_U64(s.n, want);
        T_EQ_U64(st.skipped, TL_NOBJ - want);
        for (size_t i = 0; i < s.n; i++) {
            const struct got_obj *x = &s.o[i], *y = &a.o[skip + i];
            T_EQ_U64(x->index, y->index);
            T_EQ_STR(x->key, y->key);
            T_EQ_U64(x->len, y->len);
            T_CHECK(memcmp(x->data, y->data, x->len) == 0);
        }
        got_free(&s);
    }
    got_free(&a);
    got_free(&b);
}

/* fn's non-zero value stops the conversion and is returned; the spool
 * file of the object it refused is removed too. */
static void test_fn_stops(void)
{
    struct ne_seg2pq_opts o = store_opts();
    struct got g = {.stop_at = 2};
    struct ne_seg2pq_stats st;
    T_EQ_INT(ne_seg2pq_convert(g_seg, &o, 0, collect, &g, &st), 42);
    T_EQ_U64(g.n, 2);
    T_EQ_U64(st.objects, 2);
    T_EQ_INT(spool_count(), 0);
    got_free(&g);
}

/* A series the index does not know is left out and counted. */
struct hide {
    struct ne_store *s;
    uint64_t hidden;
};

static int resolve_hiding(void *ctx, uint64_t id, struct ne_series_info *out)
{
    struct hide *h = ctx;
    int rc = ne_store_series_info(h->s, id, out);
    if (rc) return rc;
    if (h->hidden == 0 && !strcmp(out->measurement, "env") && out->ntags == 1) h->hidden = id;
    return id == h->hidden ? NE_ENOTFOUND : 0;
}

static void test_unknown_series(void)
{
    struct hide h = {g_store, 0};
    struct ne_seg2pq_opts o = store_opts();
    o.resolve = resolve_hiding;
    o.resolve_ctx = &h;
    struct got g = {0};
    struct ne_seg2pq_stats st;
    T_OK(ne_seg2pq_convert(g_seg, &o, 0, collect, &g, &st));
    T_CHECK(h.hidden != 0);
    T_EQ_U64(st.unknown_series, 1);
    T_EQ_U64(st.unknown_values, TL_NK); /* series 2: temp at every step */
    T_EQ_U64(g.n, TL_NOBJ);
    uint64_t er, ev, en;
    tl_obj_counts(&tl_objs[1], &er, &ev, &en);
    T_EQ_U64(g.o[1].rows, er - 12); /* its 12 points of hour 0 are gone */
    got_free(&g);
}

static void test_bad_args(void)
{
    struct ne_seg2pq_opts o = store_opts();
    struct got g = {0};
    T_EQ_INT(ne_seg2pq_convert(g_seg, NULL, 0, collect, &g, NULL), NE_EINVAL);
    o.resolve = NULL;
    T_EQ_INT(ne_seg2pq_convert(g_seg, &o, 0, collect, &g, NULL), NE_EINVAL);
    o = store_opts();
    T_EQ_INT(ne_seg2pq_convert(g_seg, &o, 0, NULL, &g, NULL), NE_EINVAL);
    char missing[400];
    snprintf(missing, sizeof missing, "%s/nope.seg", g_dir);
    T_CHECK(ne_seg2pq_convert(missing, &o, 0, collect, &g, NULL) < 0);
    o.spool_dir = missing; /* not a directory */
    T_CHECK(ne_seg2pq_convert(g_seg, &o, 0, collect, &g, NULL) < 0);
    T_EQ_U64(g.n, 0);
}

static void test_escape_and_clean(void)
{
    char out[64];
    const char *in = "a/b=c%d\x01\x7f \xc3\xbc";
    T_EQ_INT(ne_seg2pq_escape(in, strlen(in), out, sizeof out), 22);
    T_EQ_STR(out, "a%2Fb%3Dc%25d%01%7F \xc3\xbc");
    T_EQ_INT(ne_seg2pq_escape(in, strlen(in), out, 5), NE_ERANGE);
    T_EQ_INT(ne_seg2pq_escape("", 0, out, 1), 0);

    char p[400];
    const char *names[] = {"00000000000000aa-000003.parquet", "keep.parquet",
                           "00000000000000aa-x.parquet", "00000000000000aa-000001.parquet"};
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", g_spool, names[i]);
        T_OK(ne_fs_write_atomic(p, "x", 1));
    }
    T_OK(ne_seg2pq_clean_spool(g_spool));
    T_EQ_INT(spool_count(), 2);
    for (size_t i = 0; i < 4; i++) {
        snprintf(p, sizeof p, "%s/%s", g_spool, names[i]);
        T_EQ_INT(ne_fs_exists(p), i == 1 || i == 2);
        ne_fs_unlink(p);
    }
}

/* ---- a hand-built segment ----------------------------------------------------------- */

#define H TL_HOUR

/* series 1, 2: measurement "m"; series 3: "n" (string field) */
static const int64_t ts_1a[] = {INT64_MIN + 1, -2 * H - 1,   -1,       0, 5, H,
                                1000 * H,      1001 * H - 1, INT64_MAX};
static const int64_t ts_1b[] = {0, 7, H + 1, 5000 * H};
static const int64_t ts_3s[] = {0, H, 2 * H + 5, 3 * H, 4 * H, 5 * H, 5 * H + 1};

static int resolve_table(void *ctx, uint64_t id, struct ne_series_info *out)
{
    (void)ctx;
    static const struct ne_tag tags[] = {{NE_SV("host"), NE_SV("h1")},
                                         {NE_SV("host"), NE_SV("h2")}};
    if (id < 1 || id > 3) return NE_ENOTFOUND;
    *out = (struct ne_series_info){id, "d", id == 3 ? "n" : "m", id == 3 ? NULL : &tags[id - 1],
                                   id == 3 ? 0 : 1};
    return 0;
}

/* Writes the segment; *ts2 gets series 2's 20 timestamps. */
static int write_synthetic(const char *dir, int64_t *ts2)
{
    const char *dbs[] = {"d"};
    struct ne_segw_opts so = {.block_points = 4, .dbs = dbs, .ndbs = 1};
    struct ne_segw *w;
    int rc = ne_segw_open(dir, 9, &so, &w);
    if (rc) return rc;
    double f[20];
    int64_t iv[4] = {1, 2, 3, 4};
    struct ne_sv sv[7];
    char sb[7][8];
    for (int i = 0; i < 20; i++) {
        f[i] = i * 1.5;
        ts2[i] = (i < 10 ? 0 : 2 * H) + i * 60 * TL_SEC;
    }
    for (int i = 0; i < 7; i++) {
        snprintf(sb[i], sizeof sb[i], "s%d", i);
        sv[i] = ne_sv_c(sb[i]);
    }
    struct ne_seg_colkey k1a = {1, NE_SV("a"), NE_V_FLOAT, 0}, k1b = {1, NE_SV("b"), NE_V_INT, 0};
    struct ne_seg_colkey k2a = {2, NE_SV("a"), NE_V_FLOAT, 0},
                         k3s = {3, NE_SV("s"), NE_V_STRING, 0};
    rc = ne_segw_add_column(w, &k1a, ts_1a, f, 9);
    if (!rc) rc = ne_segw_add_column(w, &k1b, ts_1b, iv, 4);
    if (!rc) rc = ne_segw_add_column(w, &k2a, ts2, f, 20);
    if (!rc) rc = ne_segw_add_column(w, &k3s, ts_3s, sv, 7);
    if (rc) {
        ne_segw_abort(&w);
        return rc;
    }
    return ne_segw_finish(&w, NULL);
}

static int64_t hour_of(int64_t ts)
{
    int64_t q = ts / H;
    return ts % H < 0 ? q - 1 : q;
}

/* Brute force: objects (meas, hour) with rows and values, in order. */
struct exp_obj {
    char meas;
    int64_t hour;
    uint64_t rows, values;
};

static void exp_add(struct exp_obj *e, size_t *n, char meas, uint64_t sid, const int64_t *ts,
                    size_t cnt, const int64_t *other, size_t ocnt)
{
    (void)sid;
    for (size_t i = 0; i < cnt; i++) {
        size_t j = 0;
        while (j < *n && !(e[j].meas == meas && e[j].hour == hour_of(ts[i])))
            j++;
        if (j == *n) e[(*n)++] = (struct exp_obj){meas, hour_of(ts[i]), 0, 0};
        e[j].values++;
        bool shared = false; /* a row already counted for the same series */
        for (size_t k = 0; k < ocnt; k++)
            shared |= other[k] == ts[i];
        if (!shared) e[j].rows++;
    }
}

static int exp_cmp(const void *a, const void *b)
{
    const struct exp_obj *x = a, *y = b;
    if (x->meas != y->meas) return x->meas - y->meas;
    return x->hour < y->hour ? -1 : x->hour > y->hour;
}

static void test_synthetic_segment(void)
{
    char dir[256], spool[300], path[300];
    T_CHECK(t_tmpdir(dir, sizeof dir) != NULL);
    snprintf(spool, sizeof spool, "%s/spool", dir);
    T_OK(ne_fs_mkdir_p(spool));
    int64_t ts2[20];
    T_OK(write_synthetic(dir, ts2));
    T_OK(ne_seg_path(path, sizeof path, dir, 9));

    struct exp_obj e[64];
    size_t ne_ = 0;
    exp_add(e, &ne_, 'm', 1, ts_1a, 9, NULL, 0);
    exp_add(e, &ne_, 'm', 1, ts_1b, 4, ts_1a, 9);
    exp_add(e, &ne_, 'm', 2, ts2, 20, NULL, 0);
    exp_add(e, &ne_, 'n', 3, ts_3s, 7, NULL, 0);
    qsort(e, ne_, sizeof e[0], exp_cmp);

    struct ne_seg2pq_opts o = {.spool_dir = spool, .resolve = resolve_table};
    struct got g = {0};
    struct ne_seg2pq_stats st;
    T_OK(ne_seg2pq_convert(path, &o, 0, collect, &g, &st));
    T_EQ_U64(g.n, ne_);
    for (size_t i = 0; i < g.n; i++) {
        const struct got_obj *x = &g.o[i];
        char m[2] = {e[i].meas, 0};
        T_EQ_STR(x->meas, m);
        T_EQ_U64(x->rows, e[i].rows);
        T_EQ_U64(x->values, e[i].values);
        int64_t want_start = e[i].hour < -(INT64_MAX / H) ? INT64_MIN : e[i].hour * H;
        T_EQ_INT(x->hour_start, want_start);
        struct footer f;
        T_OK(footer_read(x->data, x->len, &f));
        T_EQ_INT(f.rows, (int64_t)e[i].rows);
        T_EQ_STR(footer_kv(&f, "neoedge.segment"), "0000000000000009");
        T_CHECK(footer_kv(&f, "neoedge.node") == NULL);
    }
    T_EQ_STR(g.o[1].key, "db=d/measurement=m/date=1969-12-31/hour=21"); /* -2h - 1 ns */
    T_EQ_U64(st.values, 9 + 4 + 20 + 7);

    /* every skip hands over the same tail */
    for (uint64_t skip = 1; skip < ne_; skip++) {
        struct got s = {0};
        T_OK(ne_seg2pq_convert(path, &o, skip, collect, &s, NULL));
        T_EQ_U64(s.n, ne_ - skip);
        for (size_t i = 0; i < s.n; i++) {
            T_EQ_U64(s.o[i].len, g.o[skip + i].len);
            T_CHECK(memcmp(s.o[i].data, g.o[skip + i].data, s.o[i].len) == 0);
        }
        got_free(&s);
    }
    got_free(&g);
    ne_fs_remove_tree(dir);
}

static int count_entries(void *ctx, const char *name, bool is_dir)
{
    (void)name;
    (void)is_dir;
    (*(int *)ctx)++;
    return 0;
}

/* Every allocation, write and sync failing in turn: an error comes back,
 * nothing leaks (ASan), no spool file stays, and the next run is whole. */
static void test_faults(void)
{
    char dir[256], spool[300], path[300];
    T_CHECK(t_tmpdir(dir, sizeof dir) != NULL);
    snprintf(spool, sizeof spool, "%s/spool", dir);
    T_OK(ne_fs_mkdir_p(spool));
    int64_t ts2[20];
    T_OK(write_synthetic(dir, ts2));
    T_OK(ne_seg_path(path, sizeof path, dir, 9));
    struct ne_seg2pq_opts o = {.spool_dir = spool, .resolve = resolve_table};
    struct got ref = {0};
    T_OK(ne_seg2pq_convert(path, &o, 0, collect, &ref, NULL));
    const enum ne_fault_op ops[] = {NE_FAULT_ALLOC, NE_FAULT_WRITE, NE_FAULT_SYNC};
    const enum ne_fault_kind kinds[] = {NE_FAULT_NULL, NE_FAULT_EIO, NE_FAULT_EIO};
    unsigned failed = 0;
    for (size_t f = 0; f < 3; f++) {
        for (uint64_t nth = 1; nth < 100000; nth++) {
            struct got g = {0};
            ne_fault_reset();
            ne_fault_arm(ops[f], nth, kinds[f], false);
            /* the last two objects only (each one is fsync'ed): the plan,
             * skipping the others and writing two objects still run */
            int rc = ne_seg2pq_convert(path, &o, ref.n - 2, collect, &g, NULL);
            bool fired = ne_fault_fired(ops[f]) > 0;
            ne_fault_reset();
            /* a failure the code can do without (a buffer left unshrunk)
             * must leave the run whole: the two objects asked for */
            bool absorbed = fired && rc == 0;
            if (absorbed) T_EQ_U64(g.n, 2);
            got_free(&g);
            int left = 0;
            ne_fs_list_dir(spool, count_entries, &left);
            T_EQ_INT(left, 0);
            if (!fired) {
                T_OK(rc);
                break;
            }
            if (absorbed) continue;
            T_CHECK(rc < 0);
            failed++;
        }
    }
    T_CHECK(failed > 20);
    struct got g = {0};
    T_OK(ne_seg2pq_convert(path, &o, 0, collect, &g, NULL));
    T_EQ_U64(g.n, ref.n);
    for (size_t i = 0; i < g.n && i < ref.n; i++)
        T_CHECK(g.o[i].len == ref.o[i].len && !memcmp(g.o[i].data, ref.o[i].data, g.o[i].len));
    got_free(&g);
    got_free(&ref);
    ne_fs_remove_tree(dir);
}

int main(void)
{
    ne_log_set_level(NE_LOG_ERROR);
    if (fixture_open()) {
        fprintf(stderr, "cannot build the test store\n");
        return 1;
    }
    T_RUN(test_objects);
    T_RUN(test_deterministic_and_skip);
    T_RUN(test_fn_stops);
    T_RUN(test_unknown_series);
    T_RUN(test_bad_args);
    T_RUN(test_escape_and_clean);
    fixture_close();
    /* no store open from here on: its threads would share the fault counters */
    T_RUN(test_synthetic_segment);
    T_RUN(test_faults);
    return t_done();
}
