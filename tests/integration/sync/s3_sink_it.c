/*
 * s3_sink_it.c - the S3 sink driver against s3rver behind the verifying,
 * fault-injecting proxy (run through tests/integration/s3/run_s3.sh).
 *
 * A real store in a temporary directory seals segments; the driver's
 * deliver is called the way the sink runner calls it. The cases check
 * what the runner relies on: failures sorted into kinds with the server's
 * reason, a delivery stopped between parts resuming from its saved state
 * (ListParts, no part sent twice), an encrypted object resumed with the
 * same bytes, and a repeated delivery of a delivered segment sending
 * nothing.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "ports/err.h"
#include "ports/platform.h"
#include "store/store.h"
#include "sync/crypt/crypt.h"
#include "sync/s3/s3.h"
#include "sync/sink/s3_sink.h"
#include "t.h"
#include "tests/integration/s3/s3_it_lib.h"

#define KEY_HEX "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

static long stat_of(const char *key)
{
    char *s = s3_it_admin("/stats", NULL), pat[80];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = s ? strstr(s, pat) : NULL;
    long v = p ? strtol(p + strlen(pat), NULL, 10) : 0;
    free(s);
    return v;
}

static void faults(const char *json)
{
    free(s3_it_admin("/faults", json));
}

static void reset_proxy(void)
{
    free(s3_it_admin("/reset", ""));
}

/* ---- a store with sealed segments -------------------------------------------------- */

static char tmp_dir[256];

struct fixture {
    char dir[512];
    struct ne_store *store;
    struct ne_store_seg_desc seg;
};

static struct ne_sv sv(const char *s)
{
    return (struct ne_sv){s, strlen(s)};
}

/* Writes n points of measurement meas (1 KB random text fields when big,
 * which do not compress: about 0.8 MB of Parquet per 1000 points) and
 * seals them into one segment, described in f->seg. */
static int seal_points(struct fixture *f, const char *meas, int n, bool big, uint64_t seed)
{
    struct ne_batch b;
    ne_batch_init(&b);
    static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char blob[1001];
    uint64_t x = seed | 1;
    int64_t base = (ne_time_wall_ns() / 3600000000000LL - 2) * 3600000000000LL;
    int rc = 0;
    for (int i = 0; !rc && i < n; i++) {
        rc = ne_batch_begin(&b, sv(meas), base + (int64_t)i * 100000000);
        if (!rc) rc = ne_batch_tag(&b, sv("dev"), sv(i % 2 ? "d1" : "d0"));
        if (!rc) rc = ne_batch_field_f(&b, sv("v"), i * 0.5);
        if (!rc && big) {
            for (int k = 0; k < 1000; k++) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                blob[k] = b64[x % 64];
            }
            blob[1000] = '\0';
            union ne_value v = {.s = ne_batch_copy(&b, blob, 1000)};
            rc = ne_batch_field(&b, sv("payload"), NE_V_STRING, v);
        }
        if (!rc) rc = ne_batch_end(&b);
    }
    struct ne_write_result wr;
    if (!rc) rc = ne_store_write(f->store, "iot", &b, &wr);
    ne_batch_free(&b);
    if (!rc) rc = ne_store_flush(f->store);
    struct ne_store_seg_desc d[64];
    size_t got = rc ? 0 : ne_store_segments_after(f->store, 0, d, 64, NULL);
    if (!rc && got == 0) rc = NE_ENOTFOUND;
    if (!rc) f->seg = d[got - 1];
    return rc;
}

static int fixture_open(struct fixture *f, const char *name)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "%s/%s", tmp_dir, name);
    struct ne_store_opts o;
    ne_store_opts_default(&o);
    o.data_dir = f->dir;
    o.memtable_bytes = 256u << 20;
    o.hold_for_sync = true;
    int rc = ne_fs_mkdir_p(f->dir);
    return rc ? rc : ne_store_open(&o, &f->store);
}

static void fixture_close(struct fixture *f)
{
    ne_store_close(&f->store);
}

/* ---- the runner's side ------------------------------------------------------------- */

struct runner {
    char state_dir[600];
    uint64_t bytes;
    int stop_after_parts; /* stopping() once UPLOAD holds this many parts (0: never) */
};

static void count_bytes(void *r, uint64_t n)
{
    ((struct runner *)r)->bytes += n;
}

static bool stopping(void *rp)
{
    struct runner *r = rp;
    if (!r->stop_after_parts) return false;
    char path[700], *buf = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/UPLOAD", r->state_dir);
    if (ne_fs_read_all(path, &buf, &n) != 0) return false;
    struct ne_s3_upload u = {0};
    bool stop = ne_s3_upload_decode(buf, n, &u) == 0 &&
                ne_s3_upload_done(&u) >= (uint32_t)r->stop_after_parts;
    ne_s3_upload_reset(&u);
    ne_free(buf);
    return stop;
}

static struct ne_sink_env make_env(struct fixture *f, struct runner *r, const char *sink)
{
    snprintf(r->state_dir, sizeof r->state_dir, "%s/sync/%s", f->dir, sink);
    ne_fs_mkdir_p(r->state_dir);
    return (struct ne_sink_env){.name = sink,
                                .node_id = "gw-it",
                                .state_dir = r->state_dir,
                                .store = f->store,
                                .count_bytes = count_bytes,
                                .stopping = stopping,
                                .runner = r};
}

static void base_cfg(struct ne_cfg_sink *c, const char *prefix)
{
    static char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%s", s3_it_env("S3_IT_PROXY_PORT"));
    memset(c, 0, sizeof *c);
    c->name = (char *)"archive";
    c->type = NE_SINK_S3;
    c->endpoint = endpoint;
    c->region = (char *)"us-east-1";
    c->bucket = (char *)s3_it_env("S3_IT_BUCKET");
    c->prefix = (char *)prefix;
    c->path_style = true;
    c->access_key = (char *)s3_it_env("S3_IT_ACCESS");
    c->secret_key = (char *)s3_it_env("S3_IT_SECRET");
    c->multipart_threshold = 5u << 20;
    c->part_size = 5u << 20;
    c->verify_tls = true;
    c->max_retries = 0;
}

/* Counts keys under prefix straight from s3rver. */
static int count_keys(const char *prefix)
{
    char ready[600], url[512];
    snprintf(ready, sizeof ready, "%s/ready", s3_it_env("S3_IT_TMP"));
    char *r = NULL;
    size_t n = 0;
    if (ne_fs_read_all(ready, &r, &n) != 0) return -1;
    const char *p = strstr(r, "\"s3\":");
    long port = p ? strtol(p + 5, NULL, 10) : 0;
    ne_free(r);
    snprintf(url, sizeof url, "http://127.0.0.1:%ld/%s?list-type=2&prefix=%s/", port,
             s3_it_env("S3_IT_BUCKET"), prefix);
    char *list = s3_it_http(url, NULL);
    int count = 0;
    for (const char *q = list; q && (q = strstr(q, "<Key>")); q++)
        count++;
    free(list);
    return count;
}

/* ---- cases -------------------------------------------------------------------------- */

static void test_classify(void)
{
    struct ne_s3_failure f = {.kind = NE_S3_FAIL_HTTP, .status = 403};
    T_EQ_INT(ne_s3_sink_classify(&f, NE_EPERM), NE_SINK_ERR_AUTH);
    f.status = 401;
    T_EQ_INT(ne_s3_sink_classify(&f, NE_EIO), NE_SINK_ERR_AUTH);
    f.status = 429;
    T_EQ_INT(ne_s3_sink_classify(&f, NE_EAGAIN), NE_SINK_ERR_THROTTLE);
    f.status = 503;
    snprintf(f.code, sizeof f.code, "SlowDown");
    T_EQ_INT(ne_s3_sink_classify(&f, NE_EAGAIN), NE_SINK_ERR_THROTTLE);
    f.status = 500;
    snprintf(f.code, sizeof f.code, "InternalError");
    T_EQ_INT(ne_s3_sink_classify(&f, NE_EAGAIN), NE_SINK_ERR_SERVER);
    f.status = 400;
    T_EQ_INT(ne_s3_sink_classify(&f, NE_EINVAL), NE_SINK_ERR_REJECTED);
    f = (struct ne_s3_failure){.kind = NE_S3_FAIL_TIMEOUT};
    T_EQ_INT(ne_s3_sink_classify(&f, NE_ETIMEOUT), NE_SINK_ERR_TIMEOUT);
    f = (struct ne_s3_failure){.kind = NE_S3_FAIL_CONNECT};
    T_EQ_INT(ne_s3_sink_classify(&f, NE_EAGAIN), NE_SINK_ERR_CONNECT);
}

static void test_bad_key_refused(void)
{
    struct ne_cfg_sink c;
    struct ne_sink_driver d;
    base_cfg(&c, "badkey");
    c.encryption_key = (char *)"00112233";
    T_EQ_INT(ne_s3_sink_new(&c, &d), NE_EINVAL);
}

/* One delivery under a queued fault: the kind and the reason it reports. */
static void expect_kind(struct fixture *f, const char *fault, enum ne_sink_err want,
                        const char *want_msg)
{
    struct ne_cfg_sink c;
    struct ne_sink_driver d;
    struct runner r = {0};
    base_cfg(&c, "kinds");
    T_OK(ne_s3_sink_new(&c, &d));
    struct ne_sink_env e = make_env(f, &r, "kinds");
    faults(fault);
    struct ne_sink_result res = {0};
    int rc = d.deliver(d.ctx, &e, &f->seg, &res);
    d.destroy(d.ctx);
    reset_proxy();
    T_CHECK(rc != 0);
    T_EQ_STR(ne_sink_err_name(res.kind), ne_sink_err_name(want));
    T_CHECK(strstr(res.msg, want_msg) != NULL);
    T_CHECK(strstr(res.msg, "kinds/db=iot/measurement=k/") != NULL);
}

static void test_failure_kinds(void)
{
    struct fixture f;
    T_OK(fixture_open(&f, "kinds"));
    T_OK(seal_points(&f, "k", 100, false, 1));
    expect_kind(&f, "[{\"kind\":\"403\"}]", NE_SINK_ERR_AUTH, "s3 403 AccessDenied");
    expect_kind(&f, "[{\"kind\":\"503\",\"count\":2}]", NE_SINK_ERR_THROTTLE, "s3 503 SlowDown");
    expect_kind(&f, "[{\"kind\":\"500\",\"count\":2}]", NE_SINK_ERR_SERVER, "s3 500 InternalError");
    expect_kind(&f, "[{\"kind\":\"reset\",\"count\":2}]", NE_SINK_ERR_CONNECT, "s3 transport");
    /* a wrong secret: the proxy's own verdict, not a queued fault */
    struct ne_cfg_sink c;
    struct ne_sink_driver d;
    struct runner r = {0};
    base_cfg(&c, "kinds");
    c.secret_key = (char *)"wrong/secret";
    T_OK(ne_s3_sink_new(&c, &d));
    struct ne_sink_env e = make_env(&f, &r, "kinds");
    struct ne_sink_result res = {0};
    long before = stat_of("requests");
    T_EQ_INT(d.deliver(d.ctx, &e, &f.seg, &res), NE_EPERM);
    d.destroy(d.ctx);
    T_EQ_INT(stat_of("requests") - before, 1); /* no retry on 403 */
    T_EQ_INT(res.kind, NE_SINK_ERR_AUTH);
    T_CHECK(strstr(res.msg, "SignatureDoesNotMatch") != NULL);
    T_EQ_INT(count_keys("kinds"), 0);
    fixture_close(&f);
}

static void test_connection_refused(void)
{
    struct fixture f;
    T_OK(fixture_open(&f, "refused"));
    T_OK(seal_points(&f, "k", 10, false, 2));
    struct ne_cfg_sink c;
    struct ne_sink_driver d;
    struct runner r = {0};
    base_cfg(&c, "refused");
    c.endpoint = (char *)"http://127.0.0.1:1";
    T_OK(ne_s3_sink_new(&c, &d));
    struct ne_sink_env e = make_env(&f, &r, "refused");
    struct ne_sink_result res = {0};
    T_CHECK(d.deliver(d.ctx, &e, &f.seg, &res) != 0);
    d.destroy(d.ctx);
    T_EQ_INT(res.kind, NE_SINK_ERR_CONNECT);
    fixture_close(&f);
}

/* A multipart object stopped after part 1 resumes with ListParts and
 * sends part 2 only; delivering again afterwards sends nothing. */
static void test_stop_and_resume(void)
{
    struct fixture f;
    T_OK(fixture_open(&f, "resume"));
    T_OK(seal_points(&f, "big", 9000, true, 3));
    struct ne_cfg_sink c;
    struct ne_sink_driver d;
    struct runner r = {.stop_after_parts = 1};
    base_cfg(&c, "resume");
    T_OK(ne_s3_sink_new(&c, &d));
    struct ne_sink_env e = make_env(&f, &r, "resume");
    reset_proxy();
    struct ne_sink_result res = {0};
    T_EQ_INT(d.deliver(d.ctx, &e, &f.seg, &res), NE_ECLOSED);
    T_EQ_INT(res.kind, NE_SINK_ERR_NONE);
    T_EQ_INT(res.objects, 0);
    T_EQ_INT(stat_of("upload_part_ok"), 1);
    T_CHECK(r.bytes >= (5u << 20));
    d.destroy(d.ctx); /* a restart: a new driver, the state on disk */

    r.stop_after_parts = 0;
    T_OK(ne_s3_sink_new(&c, &d));
    memset(&res, 0, sizeof res);
    T_OK(d.deliver(d.ctx, &e, &f.seg, &res));
    T_EQ_INT(res.objects, 1);
    T_EQ_INT(res.rows, 9000);
    T_EQ_INT(stat_of("list_parts_ok"), 1);
    T_EQ_INT(stat_of("upload_part_ok"), 2);
    T_EQ_INT(stat_of("complete_ok"), 1);
    T_EQ_INT(stat_of("create_ok"), 1);
    char up[700];
    snprintf(up, sizeof up, "%s/UPLOAD", r.state_dir);
    T_CHECK(!ne_fs_exists(up));

    /* the runner repeats a delivery when it crashed before its cursor */
    long before = stat_of("requests");
    memset(&res, 0, sizeof res);
    T_OK(d.deliver(d.ctx, &e, &f.seg, &res));
    T_EQ_INT(stat_of("requests"), before);
    T_EQ_INT(count_keys("resume"), 1);
    d.destroy(d.ctx);
    fixture_close(&f);
}

/* GETs key through a plain client into path. */
static int fetch_to(const char *key, const char *path)
{
    struct ne_s3_opts o;
    struct ne_s3 *c = NULL;
    static char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%s", s3_it_env("S3_IT_PROXY_PORT"));
    ne_s3_opts_init(&o);
    o.endpoint = endpoint;
    o.bucket = s3_it_env("S3_IT_BUCKET");
    o.access_key = s3_it_env("S3_IT_ACCESS");
    o.secret_key = s3_it_env("S3_IT_SECRET");
    o.region = "us-east-1";
    o.path_style = true;
    uint8_t *buf = NULL;
    size_t n = 0;
    int rc = ne_s3_open(&o, &c);
    if (!rc) rc = ne_s3_get_object(c, key, 0, &buf, &n);
    if (!rc) rc = ne_fs_write_atomic(path, buf, n);
    ne_free(buf);
    ne_s3_close(&c);
    return rc;
}

struct found {
    char key[512];
};

static int remember_key(void *ctx, const char *key, uint64_t size, const char *etag)
{
    (void)size;
    (void)etag;
    snprintf(((struct found *)ctx)->key, 512, "%s", key);
    return 0;
}

static int only_key(const char *prefix, char *out)
{
    struct ne_s3_opts o;
    struct ne_s3 *c = NULL;
    static char endpoint[64];
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%s", s3_it_env("S3_IT_PROXY_PORT"));
    ne_s3_opts_init(&o);
    o.endpoint = endpoint;
    o.bucket = s3_it_env("S3_IT_BUCKET");
    o.access_key = s3_it_env("S3_IT_ACCESS");
    o.secret_key = s3_it_env("S3_IT_SECRET");
    o.region = "us-east-1";
    o.path_style = true;
    struct found fd = {{0}};
    int rc = ne_s3_open(&o, &c);
    if (!rc) rc = ne_s3_list_objects(c, prefix, remember_key, &fd);
    ne_s3_close(&c);
    snprintf(out, 512, "%s", fd.key);
    return rc ? rc : fd.key[0] ? 0 : NE_ENOTFOUND;
}

/* An encrypted multipart object stopped after part 1 and resumed by a new
 * driver decrypts to exactly the Parquet bytes a plain sink uploads. */
static void test_encrypted_resume(void)
{
    struct fixture f;
    T_OK(fixture_open(&f, "enc"));
    T_OK(seal_points(&f, "big", 9000, true, 4));
    struct ne_cfg_sink c;
    struct ne_sink_driver d;
    struct runner r = {.stop_after_parts = 1};
    base_cfg(&c, "enc");
    c.encryption_key = (char *)KEY_HEX;
    T_OK(ne_s3_sink_new(&c, &d));
    struct ne_sink_env e = make_env(&f, &r, "enc");
    reset_proxy();
    struct ne_sink_result res = {0};
    T_EQ_INT(d.deliver(d.ctx, &e, &f.seg, &res), NE_ECLOSED);
    d.destroy(d.ctx);
    r.stop_after_parts = 0;
    T_OK(ne_s3_sink_new(&c, &d));
    T_OK(d.deliver(d.ctx, &e, &f.seg, &res));
    d.destroy(d.ctx);
    T_EQ_INT(stat_of("upload_part_ok"), 2);

    struct ne_cfg_sink p;
    struct runner rp = {0};
    base_cfg(&p, "plain");
    T_OK(ne_s3_sink_new(&p, &d));
    struct ne_sink_env ep = make_env(&f, &rp, "plain");
    memset(&res, 0, sizeof res);
    T_OK(d.deliver(d.ctx, &ep, &f.seg, &res));
    d.destroy(d.ctx);

    char ek[512], pk[512], encp[700], decp[700], plainp[700], why[NE_CRYPT_WHY_MAX];
    T_OK(only_key("enc/", ek));
    T_OK(only_key("plain/", pk));
    T_CHECK(strlen(ek) > 4 && strcmp(ek + strlen(ek) - 12, ".parquet.enc") == 0);
    snprintf(encp, sizeof encp, "%s/obj.enc", f.dir);
    snprintf(decp, sizeof decp, "%s/obj.dec", f.dir);
    snprintf(plainp, sizeof plainp, "%s/obj.parquet", f.dir);
    T_OK(fetch_to(ek, encp));
    T_OK(fetch_to(pk, plainp));
    uint8_t key[NE_CRYPT_KEY_SIZE];
    T_OK(ne_crypt_key_parse(KEY_HEX, key));
    T_OK(ne_crypt_decrypt_file(key, encp, decp, why, sizeof why));
    char *a = NULL, *b = NULL;
    size_t an = 0, bn = 0;
    T_OK(ne_fs_read_all(decp, &a, &an));
    T_OK(ne_fs_read_all(plainp, &b, &bn));
    T_EQ_U64(an, bn);
    T_CHECK(an > (5u << 20) && memcmp(a, b, an) == 0);
    ne_free(a);
    ne_free(b);
    fixture_close(&f);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    snprintf(tmp_dir, sizeof tmp_dir, "%s/sink-it", s3_it_env("S3_IT_TMP"));
    T_RUN(test_classify);
    T_RUN(test_bad_key_refused);
    T_RUN(test_failure_kinds);
    T_RUN(test_connection_refused);
    T_RUN(test_stop_and_resume);
    T_RUN(test_encrypted_resume);
    return t_done();
}
