/*
 * s3_it_client.c - the S3 client against s3rver behind the verifying proxy
 * (run through run_s3.sh, which starts both on loopback).
 *
 * Every request the client makes is checked by the proxy: SigV4 signature
 * recomputed with @aws-sdk/signature-v4, x-amz-content-sha256 equal to the
 * body's SHA-256, Content-MD5 equal to its MD5. The proxy's admin port
 * injects faults and reports per-operation counters, which the cases use
 * to assert what went over the wire (retries, resumed parts, no retry on
 * 403). Objects are read back with GET and compared byte for byte.
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/metrics.h"
#include "ports/platform.h"
#include "sync/s3/s3.h"
#include "t.h"
#include "tests/integration/s3/s3_it_lib.h"

#define PART (256u << 10)
#define HIVE "db=iot/measurement=env/date=2026-01-01/hour=00/"

static void faults(const char *json)
{
    free(s3_it_admin("/faults", json));
}

/* Counters from /stats. */
struct counts {
    long requests, rejected, completes, tokens_signed;
    long put, upload_part, create, list_parts, complete, abort_, list_parts_err, complete_err;
    char *raw;
};

static long num_after(const char *s, const char *key)
{
    char pat[80];
    snprintf(pat, sizeof(pat), "\"%s\":", key);
    const char *p = s ? strstr(s, pat) : NULL;
    return p ? strtol(p + strlen(pat), NULL, 10) : 0;
}

static struct counts stats(void)
{
    struct counts c = {0};
    c.raw = s3_it_admin("/stats", NULL);
    c.requests = num_after(c.raw, "requests");
    c.rejected = num_after(c.raw, "rejected");
    c.completes = num_after(c.raw, "completes");
    c.tokens_signed = num_after(c.raw, "tokens_signed");
    c.put = num_after(c.raw, "put_ok");
    c.upload_part = num_after(c.raw, "upload_part_ok");
    c.create = num_after(c.raw, "create_ok");
    c.list_parts = num_after(c.raw, "list_parts_ok");
    c.list_parts_err = num_after(c.raw, "list_parts_err");
    c.complete = num_after(c.raw, "complete_ok");
    c.complete_err = num_after(c.raw, "complete_err");
    c.abort_ = num_after(c.raw, "abort_ok");
    return c;
}

/* ---- helpers ------------------------------------------------------------------ */

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t x = seed | 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)(x >> 24);
    }
}

static void base_opts(struct ne_s3_opts *o)
{
    static char endpoint[64];
    snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%s", s3_it_env("S3_IT_PROXY_PORT"));
    ne_s3_opts_init(o);
    o->endpoint = endpoint;
    o->bucket = s3_it_env("S3_IT_BUCKET");
    o->access_key = s3_it_env("S3_IT_ACCESS");
    o->secret_key = s3_it_env("S3_IT_SECRET");
    o->region = "us-east-1";
    o->path_style = true;
    o->allow_small_parts = true;
    o->part_size = PART;
    o->multipart_threshold = 2 * PART;
    o->max_retries = 4;
    o->backoff_base_ms = 5;
    o->backoff_max_ms = 50;
    o->timeout_ms = 10000;
    o->connect_timeout_ms = 2000;
}

static struct ne_s3 *client(const struct ne_s3_opts *o)
{
    struct ne_s3 *c = NULL;
    return ne_s3_open(o, &c) == 0 ? c : NULL;
}

/* GETs key and compares it with want. */
static int same_object(struct ne_s3 *c, const char *key, const uint8_t *want, size_t n)
{
    uint8_t *got = NULL;
    size_t len = 0;
    int rc = ne_s3_get_object(c, key, 0, &got, &len);
    if (rc) return rc;
    rc = len == n && (n == 0 || memcmp(got, want, n) == 0) ? 0 : NE_ECORRUPT;
    ne_free(got);
    return rc;
}

struct listing {
    const char *want;
    int seen;
    uint64_t size;
};

static int on_key(void *ctx, const char *key, uint64_t size, const char *etag)
{
    struct listing *l = ctx;
    (void)etag;
    if (strcmp(key, l->want) == 0) {
        l->seen++;
        l->size = size;
    }
    return 0;
}

/* ---- cases ------------------------------------------------------------------------ */

static void test_single_put_roundtrip(void)
{
    struct ne_s3_opts o;
    base_opts(&o);
    o.prefix = "gw1/";
    struct ne_s3 *c = client(&o);
    T_CHECK(c != NULL);
    size_t n = 100000;
    uint8_t *data = malloc(n);
    fill_random(data, n, 1);
    const char *key = HIVE "single.bin";
    struct counts before = stats();
    struct ne_s3_reader r = ne_s3_reader_mem(data, n);
    struct ne_s3_object_info info = {0}, head = {0};
    T_OK(ne_s3_put_object(c, key, &r, NULL, &info));
    struct counts after = stats();
    T_EQ_INT(after.put - before.put, 1);
    T_EQ_INT(after.upload_part - before.upload_part, 0);
    T_EQ_INT(after.rejected - before.rejected, 0);
    T_CHECK(info.etag[0] != '\0');
    T_OK(ne_s3_head_object(c, key, &head));
    T_EQ_U64(head.size, n);
    T_EQ_STR(head.etag, info.etag);
    T_OK(same_object(c, key, data, n));
    struct listing l = {.want = key};
    T_OK(ne_s3_list_objects(c, "db=iot/", on_key, &l));
    T_EQ_INT(l.seen, 1);
    T_EQ_U64(l.size, n);
    T_OK(ne_s3_delete_object(c, key));
    T_EQ_INT(ne_s3_head_object(c, key, &head), NE_ENOTFOUND);
    /* An empty object is a valid object. */
    struct ne_s3_reader empty = ne_s3_reader_mem("", 0);
    T_OK(ne_s3_put_object(c, "empty", &empty, NULL, &info));
    T_OK(ne_s3_head_object(c, "empty", &head));
    T_EQ_U64(head.size, 0);
    T_OK(same_object(c, "empty", NULL, 0));
    free(before.raw);
    free(after.raw);
    free(data);
    ne_s3_close(&c);
}

static void test_multipart_roundtrip(void)
{
    struct ne_s3_opts o;
    base_opts(&o);
    struct ne_s3 *c = client(&o);
    T_CHECK(c != NULL);
    size_t n = 5 * PART + 12345; /* six parts, the last one short */
    uint8_t *data = malloc(n);
    fill_random(data, n, 2);
    const char *key = HIVE "multi.parquet";
    struct counts before = stats();
    struct ne_s3_reader r = ne_s3_reader_mem(data, n);
    struct ne_s3_object_info info = {0}, head = {0};
    T_OK(ne_s3_put_object(c, key, &r, NULL, &info));
    struct counts after = stats();
    T_EQ_INT(after.create - before.create, 1);
    T_EQ_INT(after.upload_part - before.upload_part, 6);
    T_EQ_INT(after.complete - before.complete, 1);
    T_EQ_INT(after.put - before.put, 0);
    T_EQ_INT(after.rejected - before.rejected, 0);
    T_OK(ne_s3_head_object(c, key, &head));
    T_EQ_U64(head.size, n);
    T_OK(same_object(c, key, data, n));
    free(before.raw);
    free(after.raw);
    free(data);
    ne_s3_close(&c);
}

struct crash {
    const char *path;
    uint32_t stop_after; /* parts done when the "process dies" */
};

static int persist_then_crash(void *ctx, const struct ne_s3_upload *u)
{
    struct crash *cr = ctx;
    uint8_t *buf = NULL;
    size_t len = 0;
    int rc = ne_s3_upload_encode(u, &buf, &len);
    if (!rc) rc = ne_fs_write_atomic(cr->path, buf, len);
    ne_free(buf);
    if (rc) return rc;
    return ne_s3_upload_done(u) >= cr->stop_after ? NE_EIO : 0;
}

static int load_state(const char *path, struct ne_s3_upload *u)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = ne_fs_read_all(path, &buf, &len);
    if (!rc) rc = ne_s3_upload_decode(buf, len, u);
    ne_free(buf);
    return rc;
}

static void test_resume_after_crash(void)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/upload.state", s3_it_env("S3_IT_TMP"));
    struct ne_s3_opts o;
    base_opts(&o);
    size_t n = 7 * PART + 99;
    uint8_t *data = malloc(n);
    fill_random(data, n, 3);
    const char *key = HIVE "resume.parquet";
    struct ne_s3_reader r = ne_s3_reader_mem(data, n);

    /* First run: dies after three acknowledged parts. */
    struct ne_s3 *c = client(&o);
    T_CHECK(c != NULL);
    struct ne_s3_upload u = {0};
    struct crash cr = {.path = path, .stop_after = 3};
    struct ne_s3_put_opts po = {.upload = &u, .progress = persist_then_crash, .progress_ctx = &cr};
    T_EQ_INT(ne_s3_put_object(c, key, &r, &po, NULL), NE_EIO);
    ne_s3_upload_reset(&u);
    ne_s3_close(&c);

    /* Restart: only the persisted record survives. */
    struct ne_s3_upload saved = {0};
    T_OK(load_state(path, &saved));
    T_EQ_INT(ne_s3_upload_done(&saved), 3);
    T_EQ_INT(saved.nparts, 8);
    struct counts before = stats();
    c = client(&o);
    T_CHECK(c != NULL);
    struct ne_s3_put_opts po2 = {.upload = &saved};
    struct ne_s3_object_info info = {0}, head = {0};
    T_OK(ne_s3_put_object(c, key, &r, &po2, &info));
    struct counts after = stats();
    T_EQ_INT(after.list_parts - before.list_parts, 1);
    T_EQ_INT(after.create - before.create, 0);
    T_EQ_INT(after.upload_part - before.upload_part, 8 - 3);
    T_EQ_INT(after.complete - before.complete, 1);
    T_CHECK(saved.upload_id == NULL); /* reset on success */
    T_OK(ne_s3_head_object(c, key, &head));
    T_EQ_U64(head.size, n);
    T_OK(same_object(c, key, data, n));
    struct listing l = {.want = key};
    T_OK(ne_s3_list_objects(c, HIVE, on_key, &l));
    T_EQ_INT(l.seen, 1);
    free(before.raw);
    free(after.raw);
    free(data);
    ne_s3_close(&c);
}

static void test_abort_then_stale_state_restarts(void)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/abort.state", s3_it_env("S3_IT_TMP"));
    struct ne_s3_opts o;
    base_opts(&o);
    size_t n = 3 * PART;
    uint8_t *data = malloc(n);
    fill_random(data, n, 4);
    const char *key = "abort/obj.bin";
    struct ne_s3_reader r = ne_s3_reader_mem(data, n);
    struct ne_s3 *c = client(&o);
    T_CHECK(c != NULL);
    struct ne_s3_upload u = {0};
    struct crash cr = {.path = path, .stop_after = 1};
    struct ne_s3_put_opts po = {.upload = &u, .progress = persist_then_crash, .progress_ctx = &cr};
    T_EQ_INT(ne_s3_put_object(c, key, &r, &po, NULL), NE_EIO);
    T_CHECK(u.upload_id != NULL);
    struct counts before = stats();
    T_OK(ne_s3_upload_abort(c, &u));
    T_CHECK(u.upload_id == NULL);

    /* The persisted record now names an upload the server forgot. */
    struct ne_s3_upload stale = {0};
    T_OK(load_state(path, &stale));
    struct ne_s3_put_opts po2 = {.upload = &stale};
    T_OK(ne_s3_put_object(c, key, &r, &po2, NULL));
    struct counts after = stats();
    T_EQ_INT(after.abort_ - before.abort_, 1);
    T_EQ_INT(after.list_parts_err - before.list_parts_err, 1);
    T_EQ_INT(after.create - before.create, 1);
    T_EQ_INT(after.upload_part - before.upload_part, 3);
    T_OK(same_object(c, key, data, n));
    free(before.raw);
    free(after.raw);
    free(data);
    ne_s3_close(&c);
}

static void test_retries_through_faults(void)
{
    struct ne_s3_opts o;
    base_opts(&o);
    struct ne_s3 *c = client(&o);
    T_CHECK(c != NULL);
    size_t n = 4 * PART + 1;
    uint8_t *data = malloc(n);
    fill_random(data, n, 5);
    const char *key = HIVE "retry.parquet";
    struct ne_s3_reader r = ne_s3_reader_mem(data, n);
    faults("[{\"kind\":\"500\",\"method\":\"PUT\",\"query\":\"partNumber=2&\"},"
           "{\"kind\":\"503\",\"method\":\"PUT\",\"query\":\"partNumber=3&\"},"
           "{\"kind\":\"reset\",\"method\":\"PUT\",\"query\":\"partNumber=4&\"},"
           "{\"kind\":\"drop\",\"method\":\"POST\",\"query\":\"uploadId=\"}]");
    struct counts before = stats();
    struct ne_s3_object_info info = {0};
    T_OK(ne_s3_put_object(c, key, &r, NULL, &info));
    struct counts after = stats();
    struct ne_s3_stats st;
    ne_s3_stats(c, &st);
    /* 500 and 503 are retried by the client; a reset or a lost answer on a
     * reused connection may be retried inside libcurl first. */
    T_CHECK(st.retries >= 2 && st.retries <= 4);
    T_EQ_INT(after.upload_part - before.upload_part, 5);
    T_EQ_INT(after.completes - before.completes, 1);
    T_EQ_INT(after.complete_err - before.complete_err, 2); /* dropped + NoSuchUpload */
    T_EQ_U64(info.size, n);
    T_OK(same_object(c, key, data, n));

    /* A single PUT through a 503 and a reset. */
    faults("[{\"kind\":\"503\",\"method\":\"PUT\"},{\"kind\":\"reset\",\"method\":\"PUT\"}]");
    struct ne_s3_reader small = ne_s3_reader_mem(data, 1000);
    uint64_t retries_before = st.retries;
    free(before.raw);
    before = stats();
    double m_retries = ne_metric_value(ne_metric_find("neoedge_s3_retries_total", NULL));
    T_OK(ne_s3_put_object(c, "retry/small.bin", &small, NULL, NULL));
    T_CHECK(ne_metric_value(ne_metric_find("neoedge_s3_retries_total", NULL)) > m_retries);
    free(after.raw);
    after = stats();
    ne_s3_stats(c, &st);
    T_CHECK(st.retries > retries_before);
    T_EQ_INT(after.put - before.put, 1);
    T_EQ_INT(after.requests - before.requests, 3);
    T_OK(same_object(c, "retry/small.bin", data, 1000));
    free(before.raw);
    free(after.raw);
    free(data);
    ne_s3_close(&c);
}

static void test_timeout_is_retried(void)
{
    struct ne_s3_opts o;
    base_opts(&o);
    o.timeout_ms = 1000;
    struct ne_s3 *c = client(&o);
    T_CHECK(c != NULL);
    uint8_t data[4096];
    fill_random(data, sizeof(data), 6);
    faults("[{\"kind\":\"slow\",\"method\":\"PUT\",\"ms\":3000}]");
    struct ne_s3_reader r = ne_s3_reader_mem(data, sizeof(data));
    T_OK(ne_s3_put_object(c, "slow/obj.bin", &r, NULL, NULL));
    struct ne_s3_stats st;
    ne_s3_stats(c, &st);
    T_EQ_U64(st.retries, 1);
    T_OK(same_object(c, "slow/obj.bin", data, sizeof(data)));
    ne_s3_close(&c);
}

static void test_retries_give_up(void)
{
    struct ne_s3_opts o;
    base_opts(&o);
    o.max_retries = 2;
    struct ne_s3 *c = client(&o);
    T_CHECK(c != NULL);
    faults("[{\"kind\":\"500\",\"method\":\"PUT\",\"count\":3}]");
    struct counts before = stats();
    struct ne_s3_reader r = ne_s3_reader_mem("x", 1);
    T_EQ_INT(ne_s3_put_object(c, "giveup.bin", &r, NULL, NULL), NE_EAGAIN);
    struct counts after = stats();
    T_EQ_INT(after.requests - before.requests, 3);
    T_CHECK(strstr(ne_s3_last_error(c), "s3 500 InternalError") != NULL);
    free(before.raw);
    free(after.raw);
    ne_s3_close(&c);
}

static void test_forbidden_is_not_retried(void)
{
    struct ne_s3_opts o;
    base_opts(&o);
    o.secret_key = "not-the-secret";
    struct ne_s3 *c = client(&o);
    T_CHECK(c != NULL);
    uint8_t *data = malloc(3 * PART);
    fill_random(data, 3 * PART, 7);
    struct counts before = stats();
    struct ne_s3_reader r = ne_s3_reader_mem(data, 1000);
    T_EQ_INT(ne_s3_put_object(c, "denied.bin", &r, NULL, NULL), NE_EPERM);
    T_CHECK(strstr(ne_s3_last_error(c), "s3 403 SignatureDoesNotMatch") != NULL);
    struct ne_s3_reader big = ne_s3_reader_mem(data, 3 * PART);
    T_EQ_INT(ne_s3_put_object(c, "denied-multi.bin", &big, NULL, NULL), NE_EPERM);
    struct counts after = stats();
    T_EQ_INT(after.requests - before.requests, 2); /* one each, no retry storm */
    T_EQ_INT(after.rejected - before.rejected, 2);
    struct ne_s3_stats st;
    ne_s3_stats(c, &st);
    T_EQ_U64(st.retries, 0);
    ne_s3_close(&c);

    /* A 403 the server decides on its own is final too. */
    base_opts(&o);
    c = client(&o);
    T_CHECK(c != NULL);
    faults("[{\"kind\":\"403\",\"method\":\"PUT\"}]");
    T_EQ_INT(ne_s3_put_object(c, "denied2.bin", &r, NULL, NULL), NE_EPERM);
    T_CHECK(strstr(ne_s3_last_error(c), "s3 403 AccessDenied") != NULL);
    ne_s3_stats(c, &st);
    T_EQ_U64(st.requests, 1);
    free(before.raw);
    free(after.raw);
    free(data);
    ne_s3_close(&c);
}

static void test_session_token_signed(void)
{
    struct ne_s3_opts o;
    base_opts(&o);
    o.session_token = s3_it_env("S3_IT_TOKEN");
    struct ne_s3 *c = client(&o);
    T_CHECK(c != NULL);
    uint8_t data[2000];
    fill_random(data, sizeof(data), 8);
    struct counts before = stats();
    struct ne_s3_reader r = ne_s3_reader_mem(data, sizeof(data));
    T_OK(ne_s3_put_object(c, "token/obj.bin", &r, NULL, NULL));
    T_OK(same_object(c, "token/obj.bin", data, sizeof(data)));
    struct counts after = stats();
    T_EQ_INT(after.tokens_signed - before.tokens_signed, 2);
    T_EQ_INT(after.requests - before.requests, 2);
    ne_s3_close(&c);

    o.session_token = "some-other-token";
    c = client(&o);
    T_CHECK(c != NULL);
    T_EQ_INT(ne_s3_put_object(c, "token/obj2.bin", &r, NULL, NULL), NE_EPERM);
    T_CHECK(strstr(ne_s3_last_error(c), "403 InvalidToken") != NULL);
    free(before.raw);
    free(after.raw);
    ne_s3_close(&c);
}

static void test_virtual_host_addressing(void)
{
    /* curl resolves *.localhost to loopback; s3rver maps
     * <bucket>.s3.localhost to the bucket (serviceEndpoint "localhost"). */
    char endpoint[64], host[128];
    snprintf(endpoint, sizeof(endpoint), "http://s3.localhost:%s", s3_it_env("S3_IT_PROXY_PORT"));
    snprintf(host, sizeof(host),
             "\"path\":\"/vhost/obj%%3D1.bin\",\"query\":\"\",\"status\":200,"
             "\"host\":\"%s.s3.localhost:%s\"",
             s3_it_env("S3_IT_BUCKET"), s3_it_env("S3_IT_PROXY_PORT"));
    struct ne_s3_opts o;
    base_opts(&o);
    o.endpoint = endpoint;
    o.path_style = false;
    struct ne_s3 *c = client(&o);
    T_CHECK(c != NULL);
    size_t n = 3 * PART + 7;
    uint8_t *data = malloc(n);
    fill_random(data, n, 9);
    struct ne_s3_reader r = ne_s3_reader_mem(data, 5000);
    T_OK(ne_s3_put_object(c, "vhost/obj=1.bin", &r, NULL, NULL));
    struct counts s = stats();
    T_CHECK(s.raw && strstr(s.raw, host) != NULL);
    free(s.raw);
    T_OK(same_object(c, "vhost/obj=1.bin", data, 5000));
    struct ne_s3_reader big = ne_s3_reader_mem(data, n);
    T_OK(ne_s3_put_object(c, "vhost/multi.bin", &big, NULL, NULL));
    T_OK(same_object(c, "vhost/multi.bin", data, n));
    struct listing l = {.want = "vhost/multi.bin"};
    T_OK(ne_s3_list_objects(c, "vhost/", on_key, &l));
    T_EQ_INT(l.seen, 1);
    T_EQ_U64(l.size, n);
    /* Path-style sees the same objects. */
    base_opts(&o);
    struct ne_s3 *p = client(&o);
    T_CHECK(p != NULL);
    T_OK(same_object(p, "vhost/multi.bin", data, n));
    free(data);
    ne_s3_close(&p);
    ne_s3_close(&c);
}

static void test_bandwidth_capped_upload_completes(void)
{
    struct ne_s3_opts o;
    base_opts(&o);
    o.bandwidth_bytes_per_s = 8u << 20;
    struct ne_s3 *c = client(&o);
    T_CHECK(c != NULL);
    size_t n = 3 * PART;
    uint8_t *data = malloc(n);
    fill_random(data, n, 10);
    struct ne_s3_reader r = ne_s3_reader_mem(data, n);
    T_OK(ne_s3_put_object(c, "capped.bin", &r, NULL, NULL));
    struct ne_s3_stats st;
    ne_s3_stats(c, &st);
    T_CHECK(st.bytes_sent >= n);
    T_OK(same_object(c, "capped.bin", data, n));
    free(data);
    ne_s3_close(&c);
}

static void test_tls_verification(void)
{
    const char *port = getenv("S3_IT_TLS_PORT"), *ca = getenv("S3_IT_CA");
    T_CHECK(port && strcmp(port, "0") != 0 && ca); /* run_s3.sh makes the certificate */
    char endpoint[64];
    snprintf(endpoint, sizeof(endpoint), "https://127.0.0.1:%s", port);
    struct ne_s3_opts o;
    base_opts(&o);
    o.endpoint = endpoint;
    uint8_t data[3000];
    fill_random(data, sizeof(data), 11);
    struct ne_s3_reader r = ne_s3_reader_mem(data, sizeof(data));

    /* Verification is on by default: a self-signed server is refused, once. */
    struct ne_s3 *c = client(&o);
    T_CHECK(c != NULL);
    T_EQ_INT(ne_s3_put_object(c, "tls/obj.bin", &r, NULL, NULL), NE_EPERM);
    T_CHECK(strstr(ne_s3_last_error(c), "s3 transport") != NULL);
    struct ne_s3_stats st;
    ne_s3_stats(c, &st);
    T_EQ_U64(st.requests, 1);
    ne_s3_close(&c);

    /* Trusting its certificate makes it work. */
    o.ca_file = ca;
    c = client(&o);
    T_CHECK(c != NULL);
    T_OK(ne_s3_put_object(c, "tls/obj.bin", &r, NULL, NULL));
    T_OK(same_object(c, "tls/obj.bin", data, sizeof(data)));
    ne_s3_close(&c);

    /* So does turning verification off explicitly. */
    o.ca_file = NULL;
    o.verify_tls = false;
    c = client(&o);
    T_CHECK(c != NULL);
    T_OK(same_object(c, "tls/obj.bin", data, sizeof(data)));
    ne_s3_close(&c);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    T_RUN(test_single_put_roundtrip);
    T_RUN(test_multipart_roundtrip);
    T_RUN(test_resume_after_crash);
    T_RUN(test_abort_then_stale_state_restarts);
    T_RUN(test_retries_through_faults);
    T_RUN(test_timeout_is_retried);
    T_RUN(test_retries_give_up);
    T_RUN(test_forbidden_is_not_retried);
    T_RUN(test_session_token_signed);
    T_RUN(test_virtual_host_addressing);
    T_RUN(test_bandwidth_capped_upload_completes);
    T_RUN(test_tls_verification);
    int rc = t_done();
    curl_global_cleanup();
    return rc;
}
