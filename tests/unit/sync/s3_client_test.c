/*
 * s3_client_test.c - the parts of the S3 client that need no server:
 * addressing and key escaping, option checks, the backoff schedule,
 * credentials resolution and parsing, and the multipart state record.
 */
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"
#include "sync/s3/internal.h"
#include "sync/s3/s3.h"
#include "t.h"

#define HIVE_KEY "db=iot/measurement=env/date=2026-01-01/hour=00/part-0001.parquet"
#define HIVE_ENC "db%3Diot/measurement%3Denv/date%3D2026-01-01/hour%3D00/part-0001.parquet"

static struct ne_s3 *open_client(const char *endpoint, bool path_style, const char *prefix)
{
    struct ne_s3_opts o;
    ne_s3_opts_init(&o);
    o.endpoint = endpoint;
    o.bucket = "my-bucket";
    o.prefix = prefix;
    o.path_style = path_style;
    o.access_key = "AK";
    o.secret_key = "SK";
    o.region = "eu-west-1";
    struct ne_s3 *c = NULL;
    return ne_s3_open(&o, &c) == 0 ? c : NULL;
}

static void test_url_path_style(void)
{
    struct ne_s3 *c = open_client("http://127.0.0.1:9000", true, "site1/");
    T_CHECK(c != NULL);
    char *url = NULL, *curi = NULL;
    T_OK(ne_s3_build_url(c, HIVE_KEY, NULL, &url, &curi));
    T_EQ_STR(url, "http://127.0.0.1:9000/my-bucket/site1/" HIVE_ENC);
    T_EQ_STR(curi, "/my-bucket/site1/" HIVE_ENC);
    ne_free(url);
    ne_free(curi);
    T_OK(ne_s3_build_url(c, NULL, "list-type=2&prefix=x", &url, &curi));
    T_EQ_STR(url, "http://127.0.0.1:9000/my-bucket?list-type=2&prefix=x");
    T_EQ_STR(curi, "/my-bucket");
    ne_free(url);
    ne_free(curi);
    ne_s3_close(&c);
    T_CHECK(c == NULL);
}

static void test_url_virtual_host(void)
{
    /* Default ports are dropped so the signed Host equals what is sent. */
    struct ne_s3 *c = open_client("https://s3.eu-west-1.amazonaws.com:443/", false, NULL);
    T_CHECK(c != NULL);
    char *url = NULL, *curi = NULL;
    T_OK(ne_s3_build_url(c, "a b/é+?#.txt", "uploads=", &url, &curi));
    T_EQ_STR(url,
             "https://my-bucket.s3.eu-west-1.amazonaws.com/a%20b/%C3%A9%2B%3F%23.txt?uploads=");
    T_EQ_STR(curi, "/a%20b/%C3%A9%2B%3F%23.txt");
    ne_free(url);
    ne_free(curi);
    T_OK(ne_s3_build_url(c, NULL, NULL, &url, &curi));
    T_EQ_STR(url, "https://my-bucket.s3.eu-west-1.amazonaws.com/");
    T_EQ_STR(curi, "/");
    ne_free(url);
    ne_free(curi);
    ne_s3_close(&c);
}

static void test_default_endpoint(void)
{
    struct ne_s3 *c = open_client(NULL, false, "");
    T_CHECK(c != NULL);
    char *url = NULL, *curi = NULL;
    T_OK(ne_s3_build_url(c, "k", NULL, &url, &curi));
    T_EQ_STR(url, "https://my-bucket.s3.eu-west-1.amazonaws.com/k");
    ne_free(url);
    ne_free(curi);
    ne_s3_close(&c);
}

static void test_bad_options(void)
{
    struct ne_s3_opts o;
    struct ne_s3 *c = NULL;
    ne_s3_opts_init(&o);
    T_CHECK(o.verify_tls);
    o.access_key = "AK";
    o.secret_key = "SK";
    o.bucket = "Bad_Bucket";
    T_EQ_INT(ne_s3_open(&o, &c), NE_EINVAL);
    o.bucket = "ok-bucket";
    o.endpoint = "ftp://x";
    T_EQ_INT(ne_s3_open(&o, &c), NE_EINVAL);
    o.endpoint = "http://host:1/path";
    T_EQ_INT(ne_s3_open(&o, &c), NE_EINVAL);
    o.endpoint = "http://host:1";
    o.part_size = 1 << 20;
    T_EQ_INT(ne_s3_open(&o, &c), NE_EINVAL);
    o.allow_small_parts = true;
    T_OK(ne_s3_open(&o, &c));
    T_CHECK(c != NULL);
    T_EQ_STR(ne_s3_last_error(c), "");
    ne_s3_close(&c);
    ne_s3_close(&c); /* NULL-safe */
}

static void test_backoff_bounds(void)
{
    /* Ceilings double from base and stop at the cap; values stay within. */
    const int64_t base = 100, cap = 5000;
    int64_t want_ceiling[] = {100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000};
    for (int a = 0; a < 9; a++) {
        T_EQ_INT(ne_s3_backoff_ms(a, base, cap, UINT64_MAX),
                 UINT64_MAX % (uint64_t)(want_ceiling[a] + 1));
        T_EQ_INT(ne_s3_backoff_ms(a, base, cap, (uint64_t)want_ceiling[a]), want_ceiling[a]);
        T_EQ_INT(ne_s3_backoff_ms(a, base, cap, 0), 0);
        uint64_t x = 88172645463325252ull;
        for (int i = 0; i < 1000; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            int64_t d = ne_s3_backoff_ms(a, base, cap, x);
            T_CHECK(d >= 0 && d <= want_ceiling[a]);
        }
    }
    T_EQ_INT(ne_s3_backoff_ms(1000, base, cap, (uint64_t)cap), cap);
    T_EQ_INT(ne_s3_backoff_ms(3, 0, cap, 12345), 0);
}

static const char CREDS_FILE[] = "# shared credentials\n"
                                 "[default]\n"
                                 "aws_access_key_id = AKDEFAULT\n"
                                 "aws_secret_access_key=SKDEFAULT\n"
                                 "\n"
                                 "[ prod ]\r\n"
                                 "  aws_access_key_id   =  AKPROD  \r\n"
                                 "; comment\n"
                                 "aws_secret_access_key = SK/PROD+x=\r\n"
                                 "aws_session_token = TOKEN==\n"
                                 "region = ap-south-1\n"
                                 "[half]\n"
                                 "aws_access_key_id = AKHALF\n";

static void test_creds_parse(void)
{
    struct ne_s3_creds c;
    memset(&c, 0, sizeof(c));
    T_OK(ne_s3_creds_parse(CREDS_FILE, strlen(CREDS_FILE), "default", &c));
    T_EQ_STR(c.access_key, "AKDEFAULT");
    T_EQ_STR(c.secret_key, "SKDEFAULT");
    T_EQ_STR(c.session_token, "");
    memset(&c, 0, sizeof(c));
    T_OK(ne_s3_creds_parse(CREDS_FILE, strlen(CREDS_FILE), "prod", &c));
    T_EQ_STR(c.access_key, "AKPROD");
    T_EQ_STR(c.secret_key, "SK/PROD+x=");
    T_EQ_STR(c.session_token, "TOKEN==");
    T_EQ_STR(c.region, "ap-south-1");
    T_EQ_INT(ne_s3_creds_parse(CREDS_FILE, strlen(CREDS_FILE), "half", &c), NE_ENOTFOUND);
    T_EQ_INT(ne_s3_creds_parse(CREDS_FILE, strlen(CREDS_FILE), "nope", &c), NE_ENOTFOUND);
    char big[400];
    memset(big, 'x', sizeof(big));
    memcpy(big, "[default]\naws_access_key_id=", 28);
    T_EQ_INT(ne_s3_creds_parse(big, sizeof(big), "default", &c), NE_ETOOBIG);
}

static void clear_env(void)
{
    const char *vars[] = {
        "AWS_ACCESS_KEY_ID",  "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",          "AWS_REGION",
        "AWS_DEFAULT_REGION", "AWS_PROFILE",           "AWS_SHARED_CREDENTIALS_FILE"};
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++)
        unsetenv(vars[i]);
}

static void test_creds_resolve_order(void)
{
    char dir[256], path[300];
    T_CHECK(t_tmpdir(dir, sizeof(dir)) != NULL);
    snprintf(path, sizeof(path), "%s/credentials", dir);
    T_OK(ne_fs_write_atomic(path, CREDS_FILE, strlen(CREDS_FILE)));
    clear_env();
    setenv("HOME", dir, 1); /* no $HOME/.aws here */
    struct ne_s3_creds c;
    T_EQ_INT(ne_s3_creds_resolve(NULL, NULL, NULL, NULL, &c), NE_ENOTFOUND);

    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    setenv("AWS_PROFILE", "prod", 1);
    T_OK(ne_s3_creds_resolve(NULL, NULL, NULL, NULL, &c));
    T_EQ_STR(c.access_key, "AKPROD");
    T_EQ_STR(c.region, "ap-south-1");

    setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "SKENV", 1);
    setenv("AWS_SESSION_TOKEN", "TOKENV", 1);
    setenv("AWS_REGION", "us-west-2", 1);
    T_OK(ne_s3_creds_resolve(NULL, NULL, NULL, NULL, &c));
    T_EQ_STR(c.access_key, "AKENV");
    T_EQ_STR(c.session_token, "TOKENV");
    T_EQ_STR(c.region, "us-west-2");

    T_OK(ne_s3_creds_resolve("AKCFG", "SKCFG", NULL, "eu-north-1", &c));
    T_EQ_STR(c.access_key, "AKCFG");
    T_EQ_STR(c.secret_key, "SKCFG");
    T_EQ_STR(c.session_token, "");
    T_EQ_STR(c.region, "eu-north-1");
    /* Half a pair in the configuration falls through to the environment. */
    T_OK(ne_s3_creds_resolve("AKCFG", NULL, NULL, NULL, &c));
    T_EQ_STR(c.access_key, "AKENV");
    clear_env();
    T_OK(ne_fs_remove_tree(dir));
}

static void test_upload_record_roundtrip(void)
{
    struct ne_s3_upload u = {0}, v = {0};
    u.key = ne_strdup("site/" HIVE_KEY);
    u.upload_id = ne_strdup("2~abc/def+ghi==");
    u.object_size = 3 * (5ull << 20) + 17;
    u.part_size = 5ull << 20;
    u.nparts = 4;
    u.parts = ne_calloc(4, sizeof(*u.parts));
    T_CHECK(u.key && u.upload_id && u.parts);
    strcpy(u.parts[0].etag, "\"0123456789abcdef0123456789abcdef\"");
    strcpy(u.parts[2].etag, "\"ffff\"");
    T_EQ_INT(ne_s3_upload_done(&u), 2);
    uint8_t *buf = NULL;
    size_t len = 0;
    T_OK(ne_s3_upload_encode(&u, &buf, &len));
    T_OK(ne_s3_upload_decode(buf, len, &v));
    T_EQ_STR(v.key, u.key);
    T_EQ_STR(v.upload_id, u.upload_id);
    T_EQ_U64(v.object_size, u.object_size);
    T_EQ_U64(v.part_size, u.part_size);
    T_EQ_INT(v.nparts, 4);
    T_EQ_STR(v.parts[0].etag, u.parts[0].etag);
    T_EQ_STR(v.parts[1].etag, "");
    T_EQ_STR(v.parts[2].etag, "\"ffff\"");
    T_EQ_INT(v.parts[3].number, 4);
    ne_s3_upload_reset(&v);

    /* Every flipped byte is caught (checksum, magic or shape). */
    for (size_t i = 0; i < len; i++) {
        buf[i] ^= 0x5a;
        int rc = ne_s3_upload_decode(buf, len, &v);
        buf[i] ^= 0x5a;
        T_CHECK(rc == NE_ECHECKSUM || rc == NE_ECORRUPT);
    }
    T_EQ_INT(ne_s3_upload_decode(buf, len - 1, &v), NE_ECHECKSUM);
    T_EQ_INT(ne_s3_upload_decode(buf, 10, &v), NE_ECORRUPT);
    ne_free(buf);

    /* A shape that does not add up is refused at encode time. */
    u.nparts = 3;
    T_EQ_INT(ne_s3_upload_encode(&u, &buf, &len), NE_EINVAL);
    ne_s3_upload_reset(&u);
    T_CHECK(u.key == NULL && u.parts == NULL && u.nparts == 0);
}

static void test_reader_mem(void)
{
    const char data[] = "0123456789";
    struct ne_s3_reader r = ne_s3_reader_mem(data, 10);
    char out[4];
    size_t n = 0;
    T_EQ_U64(r.size, 10);
    T_OK(r.read(r.ctx, 6, out, 4, &n));
    T_EQ_U64(n, 4);
    T_CHECK(memcmp(out, "6789", 4) == 0);
}

static void test_xml_helpers(void)
{
    const char *doc = "<R><Contents><Key>a&amp;b&lt;c&gt;&quot;&apos;&#233;&#x41;</Key></Contents>"
                      "<Contents><Key>second</Key></Contents><Bad>&#xZZ;&unknown;</Bad></R>";
    const char *e = doc + strlen(doc), *vs, *ve, *ks, *ke;
    char out[64];
    T_CHECK(s3__xml_find(doc, e, "Contents", &vs, &ve));
    T_CHECK(s3__xml_find(vs, ve, "Key", &ks, &ke));
    T_OK(s3__xml_text(ks, ke, out, sizeof(out)));
    T_EQ_STR(out, "a&b<c>\"'\xc3\xa9"
                  "A");
    T_EQ_INT(s3__xml_text(ks, ke, out, 4), NE_ETOOBIG);
    T_CHECK(s3__xml_find(ve, e, "Key", &ks, &ke)); /* the next block */
    T_OK(s3__xml_text(ks, ke, out, sizeof(out)));
    T_EQ_STR(out, "second");
    T_CHECK(s3__xml_find(doc, e, "Bad", &vs, &ve));
    T_OK(s3__xml_text(vs, ve, out, sizeof(out))); /* not entities: kept as is */
    T_EQ_STR(out, "&#xZZ;&unknown;");
    T_CHECK(!s3__xml_find(doc, e, "Missing", &vs, &ve));
    struct s3_buf b = {0};
    T_OK(s3__xml_escape(&b, "\"e\"<&>"));
    T_EQ_STR(b.p, "&quot;e&quot;&lt;&amp;&gt;");
    s3__buf_free(&b);
}

/* Every allocation of open and decode may fail: the calls report
 * NE_ENOMEM and leak nothing (the sanitizer build checks the leaks). */
static void test_allocation_failures(void)
{
    struct ne_s3_upload u = {0};
    u.key = ne_strdup("k");
    u.upload_id = ne_strdup("id");
    u.object_size = 10;
    u.part_size = 4;
    u.nparts = 3;
    u.parts = ne_calloc(3, sizeof(*u.parts));
    uint8_t *buf = NULL;
    size_t len = 0;
    T_OK(ne_s3_upload_encode(&u, &buf, &len));
    ne_s3_upload_reset(&u);
    int ok = 0, nomem = 0;
    for (uint64_t nth = 1; nth < 40; nth++) {
        ne_fault_arm(NE_FAULT_ALLOC, nth, NE_FAULT_NULL, false);
        struct ne_s3_upload v = {0};
        int rc = ne_s3_upload_decode(buf, len, &v);
        ne_fault_reset();
        T_CHECK(rc == 0 || rc == NE_ENOMEM);
        ok += rc == 0;
        nomem += rc == NE_ENOMEM;
        ne_s3_upload_reset(&v);

        ne_fault_arm(NE_FAULT_ALLOC, nth, NE_FAULT_NULL, false);
        struct ne_s3 *c = open_client("http://127.0.0.1:1", true, "p/");
        ne_fault_reset();
        ne_s3_close(&c);
    }
    T_CHECK(ok > 0 && nomem > 0);
    ne_free(buf);
}

int main(void)
{
    T_RUN(test_url_path_style);
    T_RUN(test_url_virtual_host);
    T_RUN(test_default_endpoint);
    T_RUN(test_bad_options);
    T_RUN(test_backoff_bounds);
    T_RUN(test_creds_parse);
    T_RUN(test_creds_resolve_order);
    T_RUN(test_upload_record_roundtrip);
    T_RUN(test_reader_mem);
    T_RUN(test_xml_helpers);
    T_RUN(test_allocation_failures);
    return t_done();
}
