/*
 * http_write_test.c - the InfluxDB write handler without a transport:
 * statuses and bodies for success, parse errors, partial writes, store
 * backpressure and disk full (a fake sink returns them), size limits, gzip
 * bodies (real zlib streams), authentication forms, v1 and v2 parameters.
 */
#include <strings.h>
#include <zlib.h>

#include "ingest/http/http_write.h"
#include "ports/err.h"
#include "ports/metrics.h"
#include "ports/platform.h"
#include "t.h"

/* ---- a request built from arrays -------------------------------------------- */

struct kv {
    const char *k, *v;
};

struct reqctx {
    struct kv q[6], h[6];
};

static const char *find_kv(const struct kv *a, const char *k, int icase)
{
    for (int i = 0; i < 6 && a[i].k; i++)
        if (icase ? !strcasecmp(a[i].k, k) : !strcmp(a[i].k, k)) return a[i].v;
    return NULL;
}

static const char *q_fn(void *ctx, const char *k)
{
    return find_kv(((struct reqctx *)ctx)->q, k, 0);
}

static const char *h_fn(void *ctx, const char *k)
{
    return find_kv(((struct reqctx *)ctx)->h, k, 1);
}

/* ---- a fake sink ---------------------------------------------------------------- */

struct fake {
    int rc;          /* what write returns */
    uint32_t reject; /* points to refuse (type conflict) */
    int calls;
    char db[64];
    uint32_t npts;
    int64_t ts0;
    double last; /* the last point's first field (a float) */
};

static int fake_write(void *ctx, const char *db, const struct ne_batch *b,
                      struct ne_write_result *res)
{
    struct fake *f = ctx;
    f->calls++;
    snprintf(f->db, sizeof f->db, "%s", db);
    f->npts = b->npts;
    f->ts0 = b->npts ? b->pts[0].ts : 0;
    f->last = b->npts ? b->fields[b->pts[b->npts - 1].field0].v.f : 0;
    if (f->rc) return f->rc;
    uint32_t rej = f->reject < b->npts ? f->reject : b->npts;
    res->accepted = b->npts - rej;
    res->rejected = rej;
    res->by_reason[NE_REJ_TYPE] = rej;
    if (rej)
        snprintf(res->first_error, sizeof res->first_error,
                 "field type conflict: input field \"v\" on measurement \"m\" is type float, "
                 "already exists as type integer");
    return 0;
}

static struct fake F;
static struct ne_ingest_sink SINK = {fake_write, &F};
static struct ne_http_resp RESP;

static int call(const struct ne_http_write_opts *o, const char *method, const char *path,
                struct reqctx *rc, const char *body, size_t len)
{
    struct ne_http_req req = {
        .method = method,
        .path = path,
        .query = q_fn,
        .header = h_fn,
        .ctx = rc,
        .body = body,
        .body_len = len,
    };
    ne_http_resp_free(&RESP);
    memset(&RESP, 0, sizeof RESP);
    return ne_http_write_handle(o, &SINK, &req, &RESP);
}

static int post(const char *path, struct reqctx *rc, const char *body)
{
    memset(&F, 0, sizeof F);
    return call(NULL, "POST", path, rc, body, strlen(body));
}

static const char *body(void)
{
    static char buf[1024];
    size_t n = RESP.body_len < sizeof buf - 1 ? RESP.body_len : sizeof buf - 1;
    memcpy(buf, RESP.body ? RESP.body : "", n);
    buf[n] = '\0';
    return buf;
}

static double counter(const char *name, const char *labels)
{
    struct ne_metric *m = ne_metric_find(name, labels);
    return m ? ne_metric_value(m) : 0;
}

/* gzip of text, via zlib's deflate with the gzip wrapper. */
static size_t gz(const char *text, size_t n, unsigned char *out, size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = (Bytef *)(uintptr_t)text;
    zs.avail_in = (uInt)n;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    deflate(&zs, Z_FINISH);
    size_t len = cap - zs.avail_out;
    deflateEnd(&zs);
    return len;
}

/* ---- cases -------------------------------------------------------------------- */

static void test_v1_success(void)
{
    struct reqctx rc = {.q = {{"db", "iot"}, {"precision", "s"}, {"rp", "autogen"}}};
    double before = counter("neoedge_points_accepted_total", "source=\"http\"");
    T_OK(post("/write", &rc, "m,t=a v=1 1767225600\nm v=2 1767225601\n"));
    T_EQ_INT(RESP.status, 204);
    T_CHECK(RESP.body == NULL);
    T_EQ_INT(F.calls, 1);
    T_EQ_STR(F.db, "iot");
    T_EQ_INT(F.npts, 2);
    T_EQ_INT(F.ts0, 1767225600000000000LL);
    T_EQ_INT(RESP.points_written, 2);
    T_EQ_DBL(counter("neoedge_points_accepted_total", "source=\"http\"") - before, 2, 0);
}

static void test_missing_db(void)
{
    struct reqctx rc;
    memset(&rc, 0, sizeof rc);
    T_OK(post("/write", &rc, "m v=1"));
    T_EQ_INT(RESP.status, 400);
    T_EQ_STR(body(), "{\"error\":\"database is required\"}");
    T_EQ_INT(F.calls, 0);
    T_OK(post("/api/v2/write", &rc, "m v=1"));
    T_EQ_STR(body(), "{\"code\":\"invalid\",\"message\":\"bucket is required\"}");
}

static void test_parse_error(void)
{
    struct reqctx rc = {.q = {{"db", "iot"}}};
    double before = counter("neoedge_points_rejected_total", "source=\"http\",reason=\"parse\"");
    T_OK(post("/write", &rc, "bad\n"));
    T_EQ_INT(RESP.status, 400);
    T_EQ_STR(body(), "{\"error\":\"unable to parse 'bad': missing fields\"}");
    T_EQ_STR(RESP.influx_error, "unable to parse 'bad': missing fields");
    T_EQ_STR(RESP.content_type, "application/json");
    T_EQ_INT(F.calls, 0);
    T_EQ_DBL(counter("neoedge_points_rejected_total", "source=\"http\",reason=\"parse\"") - before,
             1, 0);
    /* quotes in the message are escaped in the JSON body */
    T_OK(post("/write", &rc, "m s=\"x"));
    T_EQ_STR(body(), "{\"error\":\"unable to parse 'm s=\\\"x': unbalanced quotes\"}");
}

static void test_partial_write(void)
{
    struct reqctx rc = {.q = {{"db", "iot"}}};
    T_OK(post("/write", &rc, "m v=1\nx y\nm v=2\n"));
    T_EQ_INT(RESP.status, 400);
    T_EQ_INT(F.npts, 2);
    T_EQ_STR(
        body(),
        "{\"error\":\"partial write: unable to parse 'x y': invalid field format dropped=1\"}");
    T_EQ_INT(RESP.points_written, 2);
    T_EQ_INT(RESP.points_dropped, 1);
}

static void test_store_rejections(void)
{
    struct reqctx rc = {.q = {{"db", "iot"}}};
    memset(&F, 0, sizeof F);
    F.reject = 1;
    const char *b = "m v=1\nm v=2\n";
    T_OK(call(NULL, "POST", "/write", &rc, b, strlen(b)));
    T_EQ_INT(RESP.status, 400);
    T_CHECK(strstr(body(), "partial write: field type conflict") != NULL);
    T_CHECK(strstr(body(), "dropped=1\"}") != NULL);
    T_EQ_INT(RESP.points_written, 1);
}

static void test_store_failures(void)
{
    static const struct {
        int rc, status;
        const char *retry;
    } cases[] = {
        {NE_EBUSY, 503, "1"},
        {NE_EFAILED, 503, "1"},
        {NE_ENOSPC, 507, "1"},
        {NE_EIO, 500, ""},
    };
    struct reqctx rc = {.q = {{"db", "iot"}}};
    double before =
        counter("neoedge_points_rejected_total", "source=\"http\",reason=\"backpressure\"");
    for (size_t i = 0; i < 4; i++) {
        memset(&F, 0, sizeof F);
        F.rc = cases[i].rc;
        T_OK(call(NULL, "POST", "/write", &rc, "m v=1", 5));
        T_EQ_INT(RESP.status, cases[i].status);
        T_EQ_STR(RESP.retry_after, cases[i].retry);
        T_CHECK(RESP.body_len > 0 && RESP.body[0] == '{');
        T_EQ_INT(RESP.points_written, 0);
    }
    T_EQ_DBL(counter("neoedge_points_rejected_total", "source=\"http\",reason=\"backpressure\"") -
                 before,
             1, 0);
    struct ne_http_write_opts o = {.retry_after_s = 7};
    F.rc = NE_EBUSY;
    T_OK(call(&o, "POST", "/write", &rc, "m v=1", 5));
    T_EQ_STR(RESP.retry_after, "7");
}

static void test_body_limits(void)
{
    struct reqctx rc = {.q = {{"db", "iot"}}};
    struct ne_http_write_opts o = {.max_body_bytes = 64};
    char big[200];
    memset(big, 'a', sizeof big);
    memcpy(big, "m v=1\n#", 7);
    memset(&F, 0, sizeof F);
    T_OK(call(&o, "POST", "/write", &rc, big, sizeof big));
    T_EQ_INT(RESP.status, 413);
    T_EQ_STR(body(), "{\"error\":\"http: request body too large\"}");
    T_EQ_INT(F.calls, 0);
    /* small when compressed, too large inflated */
    static char text[100000];
    for (size_t i = 0; i < sizeof text; i++)
        text[i] = i % 20 == 19 ? '\n' : (i % 20 == 0 ? '#' : 'x');
    static unsigned char z[8192];
    size_t zn = gz(text, sizeof text, z, sizeof z);
    T_CHECK(zn < 4096);
    struct reqctx rz = {.q = {{"db", "iot"}}, .h = {{"Content-Encoding", "gzip"}}};
    o.max_body_bytes = 4096;
    T_OK(call(&o, "POST", "/write", &rz, (const char *)z, zn));
    T_EQ_INT(RESP.status, 413);
    T_EQ_INT(F.calls, 0);
}

static void test_gzip(void)
{
    static char text[64000];
    size_t n = 0;
    for (int i = 0; n + 64 < sizeof text; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "m,dev=d%d v=%d.5 %d\n", i % 7, i, i + 1);
    static unsigned char z[65536];
    size_t zn = gz(text, n, z, sizeof z);
    struct reqctx rc = {.q = {{"bucket", "iot"}, {"org", "x"}},
                        .h = {{"content-encoding", "GZIP"}}};
    memset(&F, 0, sizeof F);
    T_OK(call(NULL, "POST", "/api/v2/write", &rc, (const char *)z, zn));
    T_EQ_INT(RESP.status, 204);
    uint32_t lines = 0;
    for (size_t i = 0; i < n; i++)
        lines += text[i] == '\n';
    T_EQ_INT(F.npts, lines);
    T_EQ_INT(F.ts0, 1);
    /* a corrupt stream is a client error */
    z[zn / 2] ^= 0x55;
    z[zn / 2 + 1] ^= 0x55;
    T_OK(call(NULL, "POST", "/api/v2/write", &rc, (const char *)z, zn));
    T_EQ_INT(RESP.status, 400);
    T_OK(call(NULL, "POST", "/api/v2/write", &rc, (const char *)z, zn / 3));
    T_EQ_INT(RESP.status, 400);
    struct reqctx rb = {.q = {{"db", "iot"}}, .h = {{"Content-Encoding", "br"}}};
    T_OK(call(NULL, "POST", "/write", &rb, "m v=1", 5));
    T_EQ_INT(RESP.status, 415);
}

static void test_auth(void)
{
    struct ne_http_write_opts o = {.auth_token = "s3cret"};
    static const struct {
        const char *path, *qk, *qv, *auth;
        int status;
        const char *body;
    } cases[] = {
        {"/write", NULL, NULL, NULL, 401,
         "{\"error\":\"unable to parse authentication credentials\"}"},
        {"/write", NULL, NULL, "Token nope", 401, "{\"error\":\"authorization failed\"}"},
        {"/write", NULL, NULL, "Token s3cret", 204, ""},
        {"/write", NULL, NULL, "Bearer s3cret", 204, ""},
        {"/write", NULL, NULL, "Basic dXNlcjpzM2NyZXQ=", 204, ""}, /* user:s3cret */
        {"/write", NULL, NULL, "Basic dXNlcjp3cm9uZw==", 401,
         "{\"error\":\"authorization failed\"}"},
        {"/write", "p", "s3cret", NULL, 204, ""},
        {"/write", "p", "s3cre", NULL, 401, "{\"error\":\"authorization failed\"}"},
        {"/api/v2/write", NULL, NULL, NULL, 401,
         "{\"code\":\"unauthorized\",\"message\":\"unauthorized access\"}"},
        {"/api/v2/write", NULL, NULL, "Token s3cret", 204, ""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct reqctx rc = {.q = {{"db", "iot"}, {"bucket", "iot"}}};
        rc.q[2].k = cases[i].qk;
        rc.q[2].v = cases[i].qv;
        rc.h[0].k = cases[i].auth ? "Authorization" : NULL;
        rc.h[0].v = cases[i].auth;
        memset(&F, 0, sizeof F);
        T_OK(call(&o, "POST", cases[i].path, &rc, "m v=1", 5));
        if (RESP.status != cases[i].status) T_FAIL_("case %zu: status %d", i, RESP.status);
        T_EQ_STR(body(), cases[i].body);
        T_EQ_INT(F.calls, cases[i].status == 204);
    }
}

static void test_v2_bucket_and_precision(void)
{
    struct reqctx rc = {.q = {{"bucket", "plant/autogen"}, {"precision", "ms"}}};
    T_OK(post("/api/v2/write", &rc, "m v=1 1500"));
    T_EQ_INT(RESP.status, 204);
    T_EQ_STR(F.db, "plant");
    T_EQ_INT(F.ts0, 1500000000LL);
    struct reqctx bad = {.q = {{"db", "iot"}, {"precision", "d"}}};
    T_OK(post("/write", &bad, "m v=1"));
    T_EQ_INT(RESP.status, 400);
    T_EQ_STR(body(), "{\"error\":\"invalid precision\"}");
    struct reqctx dots = {.q = {{"db", ".."}}};
    T_OK(post("/write", &dots, "m v=1"));
    T_EQ_INT(RESP.status, 400);
}

/* Allocation failures anywhere in a request (gzip, decode, answer): the
 * handler answers 503 (retry) or, when even the answer cannot be built,
 * returns NE_ENOMEM; it never writes a partial batch or leaks. */
static void test_allocation_failures(void)
{
    static char text[4000];
    size_t n = 0;
    for (int i = 0; n + 40 < sizeof text; i++)
        n += (size_t)snprintf(text + n, sizeof text - n, "m\\ x,t=%d v=%d 1\n", i, i);
    static unsigned char z[8192];
    size_t zn = gz(text, n, z, sizeof z);
    struct reqctx rc = {.q = {{"db", "iot"}}, .h = {{"Content-Encoding", "gzip"}}};
    int done = 0, answered503 = 0;
    for (uint64_t nth = 1; nth < 500 && !done; nth++) {
        memset(&F, 0, sizeof F);
        ne_fault_reset();
        ne_fault_arm(NE_FAULT_ALLOC, nth, NE_FAULT_NULL, false);
        int r = call(NULL, "POST", "/write", &rc, (const char *)z, zn);
        uint64_t fired = ne_fault_fired(NE_FAULT_ALLOC);
        ne_fault_reset();
        if (!fired) {
            T_OK(r);
            T_EQ_INT(RESP.status, 204);
            done = 1;
            continue;
        }
        if (r == NE_ENOMEM) continue;
        T_OK(r);
        if (RESP.status == 503) {
            answered503++;
            T_EQ_INT(F.calls, 0);
            T_EQ_STR(RESP.retry_after, "1");
        } else {
            T_EQ_INT(RESP.status, 204); /* a failure in metrics registration only */
        }
    }
    T_CHECK(done);
    T_CHECK(answered503 > 0);
}

/* A batch kept by the caller serves one request after the other: each
 * request sees its own points only, and the batch is left empty (its
 * views into the body die with the request) with its room kept. */
static void test_kept_batch(void)
{
    struct ne_batch kept;
    ne_batch_init(&kept);
    struct ne_http_write_opts o = {.batch = &kept};
    struct reqctx rc = {.q = {{"db", "iot"}}};
    static const char b1[] = "m,t=a v=1 1\nm,t=b v=2 2\nm,t=a v=3 3\n";
    static const char b2[] = "m,t=c v=4 4\nm v=x 5\n";
    memset(&F, 0, sizeof F);
    T_OK(call(&o, "POST", "/write", &rc, b1, strlen(b1)));
    T_EQ_INT(RESP.status, 204);
    T_EQ_INT(F.npts, 3);
    T_EQ_DBL(F.last, 3, 0);
    T_EQ_INT(kept.npts, 0);
    T_EQ_INT(kept.nfields, 0);
    T_CHECK(kept.cap_pts >= 3);
    uint32_t cap = kept.cap_pts;
    T_OK(call(&o, "POST", "/write", &rc, b2, strlen(b2)));
    T_EQ_INT(RESP.status, 400);
    T_CHECK(strstr(body(), "partial write") != NULL);
    T_EQ_INT(F.npts, 1);
    T_EQ_DBL(F.last, 4, 0);
    T_EQ_INT(kept.npts, 0);
    T_EQ_INT(kept.cap_pts, cap);
    F.rc = NE_EBUSY; /* refused whole: still left empty */
    T_OK(call(&o, "POST", "/write", &rc, b1, strlen(b1)));
    T_EQ_INT(RESP.status, 503);
    T_EQ_INT(kept.npts, 0);
    F.rc = 0;
    ne_batch_free(&kept);
}

static void test_routes_and_methods(void)
{
    struct reqctx rc = {.q = {{"db", "iot"}}};
    T_OK(call(NULL, "GET", "/write", &rc, NULL, 0));
    T_EQ_INT(RESP.status, 405);
    T_OK(call(NULL, "GET", "/ping", &rc, NULL, 0));
    T_EQ_INT(RESP.status, 204);
    T_OK(call(NULL, "HEAD", "/ping", &rc, NULL, 0));
    T_EQ_INT(RESP.status, 204);
    T_EQ_INT(call(NULL, "POST", "/query", &rc, NULL, 0), NE_ENOTFOUND);
    T_CHECK(ne_http_write_path("/api/v2/write"));
    T_CHECK(!ne_http_write_path("/api/v2/query"));
    /* an empty body writes nothing and succeeds */
    memset(&F, 0, sizeof F);
    T_OK(call(NULL, "POST", "/write", &rc, NULL, 0));
    T_EQ_INT(RESP.status, 204);
    T_EQ_INT(F.calls, 0);
}

int main(void)
{
    T_RUN(test_v1_success);
    T_RUN(test_missing_db);
    T_RUN(test_parse_error);
    T_RUN(test_partial_write);
    T_RUN(test_store_rejections);
    T_RUN(test_store_failures);
    T_RUN(test_body_limits);
    T_RUN(test_gzip);
    T_RUN(test_auth);
    T_RUN(test_v2_bucket_and_precision);
    T_RUN(test_allocation_failures);
    T_RUN(test_kept_batch);
    T_RUN(test_routes_and_methods);
    ne_http_resp_free(&RESP);
    return t_done();
}
