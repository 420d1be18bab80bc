/*
 * s3_sigv4_test.c - the SigV4 signer against AWS's published vectors: the
 * generic SigV4 test suite (service "service", 2015-08-30) and the S3
 * header-signing examples (examplebucket, 2013-05-24), plus the encoders
 * the signer relies on.
 */
#include <string.h>

#include "ports/err.h"
#include "sync/s3/sigv4.h"
#include "t.h"

#define SUITE_AK   "AKIDEXAMPLE"
#define SUITE_SK   "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
#define SUITE_DATE "20150830T123600Z"
#define EMPTY_SHA  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define S3_AK      "AKIAIOSFODNN7EXAMPLE"
#define S3_SK      "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

static const char *sig_of(const char *auth)
{
    const char *p = strstr(auth, "Signature=");
    return p ? p + 10 : "";
}

static void suite_sign(const char *method, const char *curi, const char *cquery,
                       const struct s3_hdr *h, size_t nh, const char *payload, char *out,
                       size_t cap)
{
    char sha[S3_SHA256_HEX];
    s3__sha256_hex(payload, strlen(payload), sha);
    struct s3_sign_in in = {.method = method,
                            .curi = curi,
                            .cquery = cquery,
                            .hdrs = h,
                            .nhdrs = nh,
                            .payload_hash = sha,
                            .amz_date = SUITE_DATE,
                            .region = "us-east-1",
                            .service = "service",
                            .access_key = SUITE_AK,
                            .secret_key = SUITE_SK};
    int rc = s3__sign(&in, out, cap);
    if (rc) out[0] = '\0';
}

static void test_suite_get_vanilla(void)
{
    struct s3_hdr h[] = {{"host", "example.amazonaws.com"}, {"x-amz-date", SUITE_DATE}};
    char auth[512];
    suite_sign("GET", "/", "", h, 2, "", auth, sizeof(auth));
    T_EQ_STR(auth, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/"
                   "aws4_request, SignedHeaders=host;x-amz-date, "
                   "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

static void test_suite_query_order(void)
{
    struct s3_kv kv[] = {{"Param2", "value2"}, {"Param1", "value1"}};
    char q[128], auth[512];
    T_OK(s3__query_build(kv, 2, q, sizeof(q)));
    T_EQ_STR(q, "Param1=value1&Param2=value2");
    struct s3_hdr h[] = {{"x-amz-date", SUITE_DATE}, {"host", "example.amazonaws.com"}};
    suite_sign("GET", "/", q, h, 2, "", auth, sizeof(auth));
    T_EQ_STR(sig_of(auth), "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

static void test_suite_query_unreserved(void)
{
    const char *u = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    struct s3_kv kv[] = {{u, u}};
    char q[256], auth[512];
    T_OK(s3__query_build(kv, 1, q, sizeof(q)));
    struct s3_hdr h[] = {{"host", "example.amazonaws.com"}, {"x-amz-date", SUITE_DATE}};
    suite_sign("GET", "/", q, h, 2, "", auth, sizeof(auth));
    T_EQ_STR(sig_of(auth), "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197");
}

static void test_suite_utf8_path(void)
{
    /* The raw path "/\u1234" as UTF-8, percent-encoded once. */
    char curi[64], auth[512];
    s3__uri_encode("/\xe1\x88\xb4", 4, true, curi, sizeof(curi));
    T_EQ_STR(curi, "/%E1%88%B4");
    struct s3_hdr h[] = {{"host", "example.amazonaws.com"}, {"x-amz-date", SUITE_DATE}};
    suite_sign("GET", curi, "", h, 2, "", auth, sizeof(auth));
    T_EQ_STR(sig_of(auth), "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85");
}

static void test_suite_post_form(void)
{
    struct s3_hdr h[] = {{"content-type", "application/x-www-form-urlencoded"},
                         {"host", "example.amazonaws.com"},
                         {"x-amz-date", SUITE_DATE}};
    char auth[512];
    suite_sign("POST", "/", "", h, 3, "Param1=value1", auth, sizeof(auth));
    T_CHECK(strstr(auth, "SignedHeaders=content-type;host;x-amz-date,") != NULL);
    T_EQ_STR(sig_of(auth), "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a");
}

static void test_s3_get_object_example(void)
{
    struct s3_hdr h[] = {{"host", "examplebucket.s3.amazonaws.com"},
                         {"range", "bytes=0-9"},
                         {"x-amz-content-sha256", EMPTY_SHA},
                         {"x-amz-date", "20130524T000000Z"}};
    struct s3_sign_in in = {.method = "GET",
                            .curi = "/test.txt",
                            .cquery = "",
                            .hdrs = h,
                            .nhdrs = 4,
                            .payload_hash = EMPTY_SHA,
                            .amz_date = "20130524T000000Z",
                            .region = "us-east-1",
                            .service = "s3",
                            .access_key = S3_AK,
                            .secret_key = S3_SK};
    char auth[512];
    T_OK(s3__sign(&in, auth, sizeof(auth)));
    T_EQ_STR(auth, "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
                   "aws4_request, SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
                   "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

static void test_s3_put_object_example(void)
{
    /* Body "Welcome to Amazon S3." and key "test$file.text". */
    const char *body = "Welcome to Amazon S3.";
    char sha[S3_SHA256_HEX], curi[64], auth[512];
    s3__sha256_hex(body, strlen(body), sha);
    T_EQ_STR(sha, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072");
    s3__uri_encode("/test$file.text", 15, true, curi, sizeof(curi));
    T_EQ_STR(curi, "/test%24file.text");
    struct s3_hdr h[] = {{"date", "Fri, 24 May 2013 00:00:00 GMT"},
                         {"host", "examplebucket.s3.amazonaws.com"},
                         {"x-amz-content-sha256", sha},
                         {"x-amz-date", "20130524T000000Z"},
                         {"x-amz-storage-class", "REDUCED_REDUNDANCY"}};
    struct s3_sign_in in = {.method = "PUT",
                            .curi = curi,
                            .cquery = "",
                            .hdrs = h,
                            .nhdrs = 5,
                            .payload_hash = sha,
                            .amz_date = "20130524T000000Z",
                            .region = "us-east-1",
                            .service = "s3",
                            .access_key = S3_AK,
                            .secret_key = S3_SK};
    T_OK(s3__sign(&in, auth, sizeof(auth)));
    T_EQ_STR(sig_of(auth), "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
}

static void test_s3_list_example(void)
{
    struct s3_kv kv[] = {{"prefix", "J"}, {"max-keys", "2"}};
    char q[64], auth[512];
    T_OK(s3__query_build(kv, 2, q, sizeof(q)));
    T_EQ_STR(q, "max-keys=2&prefix=J");
    struct s3_hdr h[] = {{"host", "examplebucket.s3.amazonaws.com"},
                         {"x-amz-content-sha256", EMPTY_SHA},
                         {"x-amz-date", "20130524T000000Z"}};
    struct s3_sign_in in = {.method = "GET",
                            .curi = "/",
                            .cquery = q,
                            .hdrs = h,
                            .nhdrs = 3,
                            .payload_hash = EMPTY_SHA,
                            .amz_date = "20130524T000000Z",
                            .region = "us-east-1",
                            .service = "s3",
                            .access_key = S3_AK,
                            .secret_key = S3_SK};
    T_OK(s3__sign(&in, auth, sizeof(auth)));
    T_EQ_STR(sig_of(auth), "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
}

static void test_canonical_request_shape(void)
{
    struct s3_hdr h[] = {
        {"x-amz-date", "20130524T000000Z"}, {"host", "h"}, {"my-header", "  a   b  c "}};
    struct s3_sign_in in = {.method = "POST",
                            .curi = "/k",
                            .cquery = "uploads=",
                            .hdrs = h,
                            .nhdrs = 3,
                            .payload_hash = EMPTY_SHA,
                            .amz_date = "20130524T000000Z",
                            .region = "r",
                            .service = "s3",
                            .access_key = "a",
                            .secret_key = "s"};
    char cr[512];
    T_OK(s3__canonical_request(&in, cr, sizeof(cr)));
    T_EQ_STR(cr, "POST\n/k\nuploads=\nhost:h\nmy-header:a b c\nx-amz-date:20130524T000000Z\n\n"
                 "host;my-header;x-amz-date\n" EMPTY_SHA);
    T_EQ_INT(s3__canonical_request(&in, cr, 20), NE_ETOOBIG);
    struct s3_hdr dup[] = {{"host", "h"}, {"host", "i"}};
    in.hdrs = dup;
    in.nhdrs = 2;
    char auth[512];
    T_EQ_INT(s3__sign(&in, auth, sizeof(auth)), NE_EINVAL);
}

static void test_uri_encode(void)
{
    char out[256];
    const char *key = "db=iot/measurement=env/date=2026-01-01/hour=00/a b+c~_.parquet";
    size_t n = s3__uri_encode(key, strlen(key), true, out, sizeof(out));
    T_EQ_STR(out, "db%3Diot/measurement%3Denv/date%3D2026-01-01/hour%3D00/a%20b%2Bc~_.parquet");
    T_EQ_U64(n, strlen(out));
    s3__uri_encode("a/b=c", 5, false, out, sizeof(out));
    T_EQ_STR(out, "a%2Fb%3Dc");
    /* Truncation reports the full length and stays NUL-terminated. */
    n = s3__uri_encode("a=b", 3, false, out, 4);
    T_EQ_U64(n, 5);
    T_EQ_INT(strlen(out) < 4, 1);
    T_EQ_U64(s3__uri_encode("\xff", 1, false, NULL, 0), 3);
}

static void test_query_escaping(void)
{
    struct s3_kv kv[] = {{"uploadId", "a/b+c=="}, {"partNumber", "7"}, {"uploads", ""}};
    char q[128];
    T_OK(s3__query_build(kv, 3, q, sizeof(q)));
    T_EQ_STR(q, "partNumber=7&uploadId=a%2Fb%2Bc%3D%3D&uploads=");
    T_EQ_INT(s3__query_build(kv, 3, q, 10), NE_ETOOBIG);
}

static void test_base64_hex_date(void)
{
    char b[16];
    s3__base64((const uint8_t *)"f", 1, b);
    T_EQ_STR(b, "Zg==");
    s3__base64((const uint8_t *)"fo", 2, b);
    T_EQ_STR(b, "Zm8=");
    s3__base64((const uint8_t *)"foobar", 6, b);
    T_EQ_STR(b, "Zm9vYmFy");
    char d[17];
    s3__amz_date(1369353600LL * 1000000000LL, d);
    T_EQ_STR(d, "20130524T000000Z");
}

int main(void)
{
    T_RUN(test_suite_get_vanilla);
    T_RUN(test_suite_query_order);
    T_RUN(test_suite_query_unreserved);
    T_RUN(test_suite_utf8_path);
    T_RUN(test_suite_post_form);
    T_RUN(test_s3_get_object_example);
    T_RUN(test_s3_put_object_example);
    T_RUN(test_s3_list_example);
    T_RUN(test_canonical_request_shape);
    T_RUN(test_uri_encode);
    T_RUN(test_query_escaping);
    T_RUN(test_base64_hex_date);
    return t_done();
}
