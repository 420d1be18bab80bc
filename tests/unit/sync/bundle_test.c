/*
 * bundle_test.c - segment bundles: a real store's segment goes out as a
 * bundle and comes back as batches written into a second store, whose
 * contents must equal the first's with gateway=<node> added (every value
 * type, series with and without tags, a series with a gateway tag of its
 * own, fields present at different timestamps, several databases, more
 * points than a batch and a block). The positional reader gives the same
 * bytes as the whole file at any offset. Every kind of damage is refused
 * with the reason naming the part: header, version, dictionary, segment
 * bytes, trailer, truncation anywhere, stray bytes, a dictionary lacking a
 * series, a header that disagrees with its segment.
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/crc32c.h"
#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "store/codec/buf.h"
#include "store/store.h"
#include "sync/bundle/bundle.h"
#include "sync/bundle/bundle_int.h"
#include "t.h"

#define NODE "gw-7"
#define NPTS 12000 /* more than a batch (10,000) and than a block (4,096) */

static char root[256];

/* ---- a source store with one segment ------------------------------------------ */

static int add_point(struct ne_batch *b, const char *meas, const char *const *tags, int64_t ts,
                     int i)
{
    int rc = ne_batch_begin(b, ne_sv_c(meas), ts);
    for (int t = 0; !rc && tags && tags[t]; t += 2)
        rc = ne_batch_tag(b, ne_sv_c(tags[t]), ne_sv_c(tags[t + 1]));
    if (!rc) rc = ne_batch_field_f(b, NE_SV("temp"), 20.0 + (i % 100) * 0.25);
    if (!rc && i % 3 == 0) /* a field present at every third timestamp only */
        rc = ne_batch_field(b, NE_SV("count"), NE_V_INT, (union ne_value){.i = -(int64_t)i * 7});
    if (!rc && i % 5 == 0)
        rc = ne_batch_field(b, NE_SV("ok"), NE_V_BOOL, (union ne_value){.b = i % 10 == 0});
    if (!rc && i % 7 == 0)
        rc = ne_batch_field(b, NE_SV("bytes"), NE_V_UINT,
                            (union ne_value){.u = UINT64_MAX - (uint64_t)i});
    if (!rc && i % 11 == 0) {
        static const char *const words[] = {"", "idle", "grüße", "a \"quoted\" word"};
        rc = ne_batch_field(b, NE_SV("state"), NE_V_STRING,
                            (union ne_value){.s = ne_sv_c(words[(i / 11) % 4])});
    }
    return rc ? rc : ne_batch_end(b);
}

/* Writes the test data into s: db "iot" with three series (one without
 * tags, one whose own gateway tag will be replaced), db "lab" with one. */
static int fill_store(struct ne_store *s)
{
    static const char *const t1[] = {"device", "d1", "site", "s1", NULL};
    static const char *const t2[] = {"a", "x", "gateway", "own", "z", "y", NULL};
    static const char *const t3[] = {"room", "r9", NULL};
    struct ne_batch b;
    ne_batch_init(&b);
    struct ne_write_result res;
    int rc = 0;
    const int64_t t0 = 1700000000000000000ll;
    for (int i = 0; !rc && i < NPTS; i++) {
        rc = add_point(&b, "env", t1, t0 + i * 1000000000ll, i);
        if (!rc && i % 2 == 0) rc = add_point(&b, "env", t2, t0 + i * 500000000ll, i);
        if (!rc && i < 50) rc = add_point(&b, "power", NULL, t0 + i * 60000000000ll, i);
        if (!rc && b.npts >= 4000) {
            rc = ne_store_write(s, "iot", &b, &res);
            ne_batch_reset(&b);
        }
    }
    if (!rc) rc = ne_store_write(s, "iot", &b, &res);
    ne_batch_reset(&b);
    for (int i = 0; !rc && i < 300; i++)
        rc = add_point(&b, "env", t3, t0 + i * 3000000000ll, i);
    if (!rc) rc = ne_store_write(s, "lab", &b, &res);
    ne_batch_free(&b);
    return rc ? rc : ne_store_flush(s);
}

static int open_store(const char *name, struct ne_store **out)
{
    char dir[512];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    int rc = ne_fs_mkdir_p(dir);
    if (rc) return rc;
    struct ne_store_opts o;
    ne_store_opts_default(&o);
    o.data_dir = dir;
    o.future_grace_ns = 0;
    return ne_store_open(&o, out);
}

/* The source store (opened once) and its only segment. */
static struct ne_store *src;
static struct ne_store_seg_desc seg;
static char bundle_path[512];
static uint8_t *good;
static size_t good_len;

static int setup_source(void)
{
    int rc = open_store("src", &src);
    if (!rc) rc = fill_store(src);
    if (rc) return rc;
    if (ne_store_segments_after(src, 0, &seg, 1, NULL) != 1) return NE_ENOTFOUND;
    struct ne_bundle *b = NULL;
    snprintf(bundle_path, sizeof bundle_path, "%s/good.bundle", root);
    rc = ne_bundle_open(src, &seg, NODE, &b);
    if (!rc) rc = ne_bundle_write_file(b, bundle_path);
    ne_bundle_close(&b);
    if (!rc) rc = ne_fs_read_all(bundle_path, (char **)&good, &good_len);
    return rc;
}

/* ---- store contents as text ------------------------------------------------------ */

struct dump {
    char **lines;
    size_t n, cap;
    const char *gateway; /* replaces (or adds) the gateway tag when set */
};

static void dump_add(struct dump *d, const char *line)
{
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 1024;
        d->lines = realloc(d->lines, d->cap * sizeof *d->lines);
    }
    d->lines[d->n++] = strdup(line);
}

static int dump_chunk(void *ctx, const struct ne_scan_chunk *c)
{
    struct dump *d = ctx;
    char series[512];
    int off = snprintf(series, sizeof series, "%s/%s", c->series->db, c->series->measurement);
    const char *gw = d->gateway;
    for (uint32_t i = 0; i < c->series->ntags; i++) {
        const struct ne_tag *t = &c->series->tags[i];
        if (ne_sv_eq(t->key, NE_SV("gateway"))) {
            if (!gw) gw = t->val.p;
            continue;
        }
        off += snprintf(series + off, sizeof series - (size_t)off, ",%.*s=%.*s", (int)t->key.n,
                        t->key.p, (int)t->val.n, t->val.p);
    }
    snprintf(series + off, sizeof series - (size_t)off, ",gateway=%s", gw ? gw : "-");
    for (size_t i = 0; i < c->n; i++) {
        char line[1024], val[256];
        switch (c->type) {
        case NE_V_FLOAT:
            snprintf(val, sizeof val, "%.17g", c->v.f[i]);
            break;
        case NE_V_INT:
            snprintf(val, sizeof val, "%" PRId64 "i", c->v.i[i]);
            break;
        case NE_V_UINT:
            snprintf(val, sizeof val, "%" PRIu64 "u", c->v.u[i]);
            break;
        case NE_V_BOOL:
            snprintf(val, sizeof val, "%s", c->v.b[i] ? "true" : "false");
            break;
        default:
            snprintf(val, sizeof val, "\"%.*s\"", (int)c->v.s[i].n, c->v.s[i].p);
        }
        snprintf(line, sizeof line, "%s %s=%s %" PRId64, series, c->field, val, c->ts[i]);
        dump_add(d, line);
    }
    return 0;
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int dump_store(struct ne_store *s, const char *gateway, struct dump *d)
{
    static const char *const dm[][2] = {{"iot", "env"}, {"iot", "power"}, {"lab", "env"}};
    memset(d, 0, sizeof *d);
    d->gateway = gateway;
    for (size_t i = 0; i < sizeof dm / sizeof dm[0]; i++) {
        struct ne_store_scan_req q = {
            .db = dm[i][0], .measurement = dm[i][1], .t0 = INT64_MIN, .t1 = INT64_MAX};
        int rc = ne_store_scan(s, &q, dump_chunk, d);
        if (rc) return rc;
    }
    qsort(d->lines, d->n, sizeof *d->lines, cmp_line);
    return 0;
}

static void dump_free(struct dump *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->lines[i]);
    free(d->lines);
}

/* ---- round trip ---------------------------------------------------------------------- */

static void test_info(void)
{
    struct ne_bundle *b = NULL;
    T_OK(ne_bundle_open(src, &seg, NODE, &b));
    const struct ne_bundle_info *i = ne_bundle_info(b);
    T_EQ_STR(i->node, NODE);
    T_EQ_U64(i->segment_id, seg.id);
    T_EQ_U64(i->seq_min, seg.seq_min);
    T_EQ_U64(i->seq_max, seg.seq_max);
    T_EQ_INT(i->min_ts, seg.min_ts);
    T_EQ_INT(i->max_ts, seg.max_ts);
    T_EQ_INT(i->nseries, 4);
    T_EQ_U64(i->segment_bytes, seg.bytes);
    T_EQ_U64(i->total_bytes, i->header_bytes + i->dict_bytes + seg.bytes + NE_BUNDLE_TRAILER_BYTES);
    T_EQ_U64(i->total_bytes, good_len);
    T_EQ_U64(i->header_bytes, NE_BUNDLE_HEADER_FIXED + strlen(NODE) + 4);
    uint8_t sha[32];
    T_OK(ne_bundle_parse_checksum(i->checksum, sha));
    T_CHECK(memcmp(sha, good + good_len - 36, 32) == 0); /* the trailer's SHA-256 */
    struct ne_s3_reader r = ne_bundle_reader(b);
    T_EQ_U64(r.size, good_len);
    T_CHECK(r.ctx == b && r.read == ne_bundle_read);
    ne_bundle_close(&b);
    T_CHECK(b == NULL);
    ne_bundle_close(&b); /* NULL-safe */
}

static void test_checksum_parse(void)
{
    uint8_t sha[32];
    char s[NE_BUNDLE_CHECKSUM_MAX];
    for (int i = 0; i < 32; i++)
        sha[i] = (uint8_t)(i * 37 + 5);
    bundle__checksum_str(sha, s);
    T_EQ_INT(strlen(s), 71);
    uint8_t back[32];
    T_OK(ne_bundle_parse_checksum(s, back));
    T_CHECK(memcmp(back, sha, 32) == 0);
    s[20] = 'g';
    T_EQ_INT(ne_bundle_parse_checksum(s, back), NE_EINVAL);
    T_EQ_INT(ne_bundle_parse_checksum("sha256:00", back), NE_EINVAL);
    T_EQ_INT(ne_bundle_parse_checksum("md5:"
                                      "00",
                                      back),
             NE_EINVAL);
    T_EQ_INT(ne_bundle_parse_checksum(NULL, back), NE_EINVAL);
}

/* Reads at every kind of offset and length, crossing every boundary. */
static void test_positional_reads(void)
{
    struct ne_bundle *b = NULL;
    T_OK(ne_bundle_open(src, &seg, NODE, &b));
    const struct ne_bundle_info *i = ne_bundle_info(b);
    uint64_t seg_at = i->header_bytes + i->dict_bytes, tr_at = seg_at + i->segment_bytes;
    const uint64_t offs[] = {
        0,         1,     i->header_bytes - 3, seg_at - 1,   seg_at,   seg_at + 4095,
        tr_at - 5, tr_at, tr_at + 43,          good_len - 1, good_len, good_len + 9};
    const size_t lens[] = {1, 7, 100, 4096, 70000, good_len + 100};
    uint8_t *buf = malloc(good_len + 200);
    for (size_t a = 0; a < sizeof offs / sizeof offs[0]; a++) {
        for (size_t l = 0; l < sizeof lens / sizeof lens[0]; l++) {
            size_t got = 12345;
            T_OK(ne_bundle_read(b, offs[a], buf, lens[l], &got));
            size_t want = offs[a] >= good_len            ? 0
                          : lens[l] < good_len - offs[a] ? lens[l]
                                                         : (size_t)(good_len - offs[a]);
            T_EQ_U64(got, want);
            if (want) T_CHECK(memcmp(buf, good + offs[a], want) == 0);
        }
    }
    /* Sequential reads in odd sizes give the file byte for byte. */
    uint64_t off = 0;
    size_t step = 333;
    while (off < good_len) {
        size_t got = 0;
        T_OK(ne_bundle_read(b, off, buf, step, &got));
        T_CHECK(got > 0 && memcmp(buf, good + off, got) == 0);
        off += got;
        step = step * 3 % 9001 + 1;
    }
    free(buf);
    ne_bundle_close(&b);
}

static void test_round_trip(void)
{
    struct ne_bundle_in *in = NULL;
    char why[256];
    struct ne_bundle_in_opts o = {.batch_points = 0};
    T_OK(ne_bundle_in_open(bundle_path, &o, &in, why, sizeof why));
    const struct ne_bundle_info *i = ne_bundle_in_info(in);
    T_EQ_STR(i->node, NODE);
    T_EQ_U64(i->segment_id, seg.id);
    T_EQ_U64(i->total_bytes, good_len);

    struct ne_store *dst = NULL;
    T_OK(open_store("dst", &dst));
    struct ne_batch b;
    ne_batch_init(&b);
    const char *db = NULL;
    int rc, batches = 0;
    uint64_t points = 0, values = 0;
    while ((rc = ne_bundle_in_next(in, &b, &db)) == 1) {
        batches++;
        T_CHECK(b.npts > 0 && b.npts <= NE_BUNDLE_BATCH_POINTS);
        for (uint32_t p = 0; p < b.npts; p++) {
            const struct ne_point *pt = &b.pts[p];
            const struct ne_tag *t = ne_point_tags(&b, pt);
            bool has_gw = false;
            for (uint32_t k = 0; k < pt->ntags; k++) {
                if (k) T_CHECK(ne_sv_cmp(t[k - 1].key, t[k].key) < 0);
                if (ne_sv_eq(t[k].key, NE_SV("gateway"))) {
                    T_CHECK(ne_sv_eq(t[k].val, NE_SV(NODE)));
                    has_gw = true;
                }
            }
            T_CHECK(has_gw);
            values += pt->nfields;
        }
        struct ne_write_result res;
        T_OK(ne_store_write(dst, db, &b, &res));
        T_EQ_INT(res.rejected, 0);
        points += res.accepted;
    }
    T_EQ_INT(rc, 0);
    T_CHECK(batches >= 3); /* > 10,000 points in db iot, then db lab */
    T_EQ_U64(values, ne_bundle_in_values(in));
    T_EQ_U64(values, seg.points);
    T_CHECK(points < values);                    /* fields of one timestamp travel as one point */
    T_EQ_INT(ne_bundle_in_next(in, &b, &db), 0); /* stays at the end */

    char scratch[600];
    snprintf(scratch, sizeof scratch, "%s.seg", bundle_path);
    T_CHECK(ne_fs_exists(scratch));
    ne_bundle_in_close(&in);
    T_CHECK(!ne_fs_exists(scratch));
    T_CHECK(ne_fs_exists(bundle_path));

    struct dump want, got;
    T_OK(dump_store(src, NODE, &want));
    T_OK(dump_store(dst, NULL, &got));
    T_EQ_U64(got.n, want.n);
    T_EQ_U64(got.n, seg.points);
    for (size_t k = 0; k < want.n && k < got.n; k++)
        T_EQ_STR(got.lines[k], want.lines[k]);
    dump_free(&want);
    dump_free(&got);
    ne_batch_free(&b);
    ne_store_close(&dst);
}

/* Small batches: every batch holds one database and at most the limit. */
static void test_small_batches(void)
{
    struct ne_bundle_in *in = NULL;
    char why[256], scratch[600];
    snprintf(scratch, sizeof scratch, "%s/elsewhere.seg", root);
    struct ne_bundle_in_opts o = {.batch_points = 777, .scratch_path = scratch};
    T_OK(ne_bundle_in_open(bundle_path, &o, &in, why, sizeof why));
    T_CHECK(ne_fs_exists(scratch));
    struct ne_batch b;
    ne_batch_init(&b);
    const char *db = NULL, *last_db = NULL;
    int rc, switches = 0;
    uint64_t values = 0;
    while ((rc = ne_bundle_in_next(in, &b, &db)) == 1) {
        T_CHECK(b.npts <= 777);
        if (!last_db || strcmp(last_db, db) != 0) switches++;
        last_db = db;
        values += b.nfields;
    }
    T_EQ_INT(rc, 0);
    T_EQ_INT(switches, 2); /* iot, then lab */
    T_EQ_U64(values, seg.points);
    ne_batch_free(&b);
    ne_bundle_in_close(&in);
    T_CHECK(!ne_fs_exists(scratch));
}

static void test_missing_segment(void)
{
    struct ne_store_seg_desc d = seg;
    snprintf(d.path, sizeof d.path, "%.200s/nope/0000000000000063.seg", root);
    struct ne_bundle *b = NULL;
    T_EQ_INT(ne_bundle_open(src, &d, NODE, &b), NE_ENOTFOUND);
    T_CHECK(b == NULL);
    T_EQ_INT(ne_bundle_open(src, &seg, "", &b), NE_EINVAL);
    char longnode[300];
    memset(longnode, 'n', sizeof longnode - 1);
    longnode[sizeof longnode - 1] = '\0';
    T_EQ_INT(ne_bundle_open(src, &seg, longnode, &b), NE_EINVAL);
}

/* ---- damage ---------------------------------------------------------------------------- */

/* Writes bytes as a bundle file and opens it; returns the code, the reason
 * in why. Checks that no scratch copy is left behind on failure. */
static int try_bytes(const uint8_t *p, size_t len, char *why, size_t n)
{
    char path[600], scratch[700];
    snprintf(path, sizeof path, "%s/bad.bundle", root);
    snprintf(scratch, sizeof scratch, "%s.seg", path);
    if (ne_fs_write_atomic(path, p, len) != 0) return 1;
    struct ne_bundle_in *in = NULL;
    int rc = ne_bundle_in_open(path, NULL, &in, why, n);
    if (rc == 0) ne_bundle_in_close(&in);
    if (ne_fs_exists(scratch)) return 2;
    return rc;
}

/* Flips one bit at off of a copy of the good bundle. */
static int try_flip(uint64_t off, char *why, size_t n)
{
    uint8_t *p = malloc(good_len);
    memcpy(p, good, good_len);
    p[off] ^= 0x10;
    int rc = try_bytes(p, good_len, why, n);
    free(p);
    return rc;
}

static void test_header_damage(void)
{
    char why[256];
    T_EQ_INT(try_flip(0, why, sizeof why), NE_ECORRUPT);
    T_CHECK(strstr(why, "bad magic"));
    T_EQ_INT(try_flip(9, why, sizeof why), NE_ECHECKSUM); /* segment id */
    T_EQ_STR(why, "bundle header: checksum mismatch");
    T_EQ_INT(try_flip(NE_BUNDLE_HEADER_FIXED + 1, why, sizeof why), NE_ECHECKSUM); /* node id */
    T_EQ_INT(try_flip(NE_BUNDLE_HEADER_FIXED + strlen(NODE) + 1, why, sizeof why), NE_ECHECKSUM);
    T_EQ_INT(try_flip(7, why, sizeof why), NE_ECORRUPT); /* node length 4 + 4096 */
    T_CHECK(strstr(why, "node id length"));
    T_EQ_INT(try_flip(6, why, sizeof why), NE_ECHECKSUM); /* node length 20 */

    /* A newer version with a valid CRC is refused as such. */
    uint8_t *p = malloc(good_len);
    memcpy(p, good, good_len);
    size_t hl = NE_BUNDLE_HEADER_FIXED + strlen(NODE);
    p[4] = 2;
    ne_store_u32le(p + hl, ne_crc32c(0, p, hl));
    T_EQ_INT(try_bytes(p, good_len, why, sizeof why), NE_EVERSION);
    T_CHECK(strstr(why, "version 2"));
    free(p);
}

static void test_dictionary_damage(void)
{
    char why[256];
    const uint64_t hl = NE_BUNDLE_HEADER_FIXED + strlen(NODE) + 4;
    const uint64_t dl = ne_load_u64le(good + 48);
    const uint64_t offs[] = {hl, hl + 9, hl + dl / 2, hl + dl - 5, hl + dl - 1};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        T_EQ_INT(try_flip(offs[i], why, sizeof why), NE_ECHECKSUM);
        T_EQ_STR(why, "bundle dictionary: checksum mismatch");
    }
}

static void test_segment_damage(void)
{
    char why[256];
    const uint64_t hl = NE_BUNDLE_HEADER_FIXED + strlen(NODE) + 4;
    const uint64_t at = hl + ne_load_u64le(good + 48), sl = ne_load_u64le(good + 56);
    const uint64_t offs[] = {at, at + 1, at + sl / 3, at + sl / 2, at + sl - 8, at + sl - 1};
    for (size_t i = 0; i < sizeof offs / sizeof offs[0]; i++) {
        T_EQ_INT(try_flip(offs[i], why, sizeof why), NE_ECHECKSUM);
        T_EQ_STR(why, "bundle segment bytes: CRC32C mismatch");
    }
}

static void test_trailer_damage(void)
{
    char why[256];
    T_EQ_INT(try_flip(good_len - NE_BUNDLE_TRAILER_BYTES, why, sizeof why), NE_ECORRUPT);
    T_CHECK(strstr(why, "bundle trailer: bad magic"));
    for (size_t k = 4; k < NE_BUNDLE_TRAILER_BYTES; k += 13) {
        T_EQ_INT(try_flip(good_len - NE_BUNDLE_TRAILER_BYTES + k, why, sizeof why), NE_ECHECKSUM);
        T_EQ_STR(why, "bundle trailer: checksum mismatch");
    }
}

static void test_truncation(void)
{
    char why[256];
    const uint64_t hl = NE_BUNDLE_HEADER_FIXED + strlen(NODE) + 4;
    const uint64_t dl = ne_load_u64le(good + 48);
    const size_t cuts[] = {0,
                           3,
                           40,
                           (size_t)hl - 1,
                           (size_t)(hl + dl / 2),
                           (size_t)(hl + dl + 100),
                           good_len / 2,
                           good_len - 44,
                           good_len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        int rc = try_bytes(good, cuts[i], why, sizeof why);
        T_EQ_INT(rc, NE_ECORRUPT);
        T_CHECK(strstr(why, "truncated"));
    }
    /* And a byte too many. */
    uint8_t *p = malloc(good_len + 1);
    memcpy(p, good, good_len);
    p[good_len] = 0;
    T_EQ_INT(try_bytes(p, good_len + 1, why, sizeof why), NE_ECORRUPT);
    T_CHECK(strstr(why, "1 stray bytes"));
    free(p);
}

/* Rebuilds a bundle from the good one with a new header and dictionary
 * (their CRCs right), keeping segment and trailer: consistent framing
 * around contents that disagree. */
static int rebuild(const struct ne_bundle_info *hdr, const struct ne_buf *dict, char *why, size_t n)
{
    const uint64_t hl = NE_BUNDLE_HEADER_FIXED + strlen(NODE) + 4;
    const uint64_t rest_at = hl + ne_load_u64le(good + 48);
    struct ne_buf b = NE_BUF_INIT;
    struct ne_bundle_info h = *hdr;
    h.dict_bytes = dict->len;
    int rc = bundle__header_put(&b, &h);
    if (!rc) rc = ne_buf_append(&b, dict->p, dict->len);
    if (!rc) rc = ne_buf_append(&b, good + rest_at, good_len - rest_at);
    if (!rc) rc = try_bytes(b.p, b.len, why, n);
    ne_buf_free(&b);
    return rc;
}

struct dict_ctx {
    struct ne_buf dict;
    uint32_t count;
};

static int collect_series(void *ctx, const struct ne_series_info *s)
{
    struct dict_ctx *d = ctx;
    d->count++;
    return bundle__dict_put(&d->dict, s);
}

static void test_inconsistent_contents(void)
{
    char why[256];
    struct ne_bundle_in *in = NULL;
    T_OK(ne_bundle_in_open(bundle_path, NULL, &in, why, sizeof why));
    struct ne_bundle_info h = *ne_bundle_in_info(in);
    ne_bundle_in_close(&in);

    /* The dictionary of db iot only: the lab series is missing. */
    struct dict_ctx d = {NE_BUF_INIT, 0};
    T_OK(ne_store_list_series(src, "iot", "env", collect_series, &d));
    T_OK(ne_store_list_series(src, "iot", "power", collect_series, &d));
    T_OK(ne_buf_put_u32le(&d.dict, ne_crc32c(0, d.dict.p, d.dict.len)));
    struct ne_bundle_info h2 = h;
    h2.nseries = d.count;
    T_EQ_INT(rebuild(&h2, &d.dict, why, sizeof why), NE_ECORRUPT);
    T_CHECK(strstr(why, "which the dictionary lacks"));
    ne_buf_free(&d.dict);

    /* The right dictionary but a header naming another segment. */
    struct ne_buf dict = NE_BUF_INIT;
    const uint64_t hl = NE_BUNDLE_HEADER_FIXED + strlen(NODE) + 4;
    T_OK(ne_buf_append(&dict, good + hl, (size_t)ne_load_u64le(good + 48)));
    T_OK(rebuild(&h, &dict, why, sizeof why)); /* unchanged: fine */
    h2 = h;
    h2.segment_id++;
    T_EQ_INT(rebuild(&h2, &dict, why, sizeof why), NE_ECORRUPT);
    T_CHECK(strstr(why, "does not match its segment"));
    h2 = h;
    h2.nseries++;
    T_EQ_INT(rebuild(&h2, &dict, why, sizeof why), NE_ECORRUPT);
    T_CHECK(strstr(why, "bundle dictionary"));
    ne_buf_free(&dict);
}

static void test_not_a_file(void)
{
    char why[256], path[600];
    snprintf(path, sizeof path, "%s/absent.bundle", root);
    struct ne_bundle_in *in = NULL;
    T_EQ_INT(ne_bundle_in_open(path, NULL, &in, why, sizeof why), NE_ENOTFOUND);
    T_CHECK(strstr(why, "absent.bundle"));
    T_CHECK(in == NULL);
}

int main(void)
{
    ne_log_set_level(NE_LOG_OFF);
    if (!t_tmpdir(root, sizeof root)) return 1;
    int rc = setup_source();
    if (rc) {
        fprintf(stderr, "setup failed: %s\n", ne_strerror(rc));
        return 1;
    }
    T_RUN(test_info);
    T_RUN(test_checksum_parse);
    T_RUN(test_positional_reads);
    T_RUN(test_round_trip);
    T_RUN(test_small_batches);
    T_RUN(test_missing_segment);
    T_RUN(test_header_damage);
    T_RUN(test_dictionary_damage);
    T_RUN(test_segment_damage);
    T_RUN(test_trailer_damage);
    T_RUN(test_truncation);
    T_RUN(test_inconsistent_contents);
    T_RUN(test_not_a_file);
    ne_store_close(&src);
    ne_free(good);
    ne_fs_remove_tree(root);
    return t_done();
}
