/*
 * sigv4.c - AWS Signature Version 4 (header form) for S3 requests.
 *
 * Canonical request (one line each, '\n' between, none after the hash):
 *
 *   METHOD
 *   canonical URI          percent-encoded path (S3: encoded once, '/' kept)
 *   canonical query        k=v pairs, encoded, sorted by key then value
 *   name:value             one line per signed header, names lowercase, sorted,
 *   ...                    value trimmed with inner blank runs folded to one
 *   (empty line)
 *   signed header names    "a;b;c"
 *   payload hash           hex SHA-256 of the body (the real hash, always)
 *
 * String to sign: "AWS4-HMAC-SHA256\n<amz date>\n<scope>\n<hex sha256(canonical)>",
 * scope = "<yyyymmdd>/<region>/<service>/aws4_request"; the signing key is
 * the HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request".
 *
 * Invariant: nothing here touches the network or the clock; the caller
 * gives the date, so the output is a pure function of the input.
 */
#include "sync/s3/sigv4.h"

#include <mbedtls/md.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ports/err.h"
#include "ports/platform.h"

static bool unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '_' || ch == '.' || ch == '~';
}

size_t s3__uri_encode(const char *s, size_t n, bool keep_slash, char *out, size_t cap)
{
    static const char hx[] = "0123456789ABCDEF";
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (unreserved(ch) || (keep_slash && ch == '/')) {
            if (o + 1 < cap) out[o] = (char)ch;
            o++;
        } else {
            if (o + 3 < cap) {
                out[o] = '%';
                out[o + 1] = hx[ch >> 4];
                out[o + 2] = hx[ch & 15];
            }
            o += 3;
        }
    }
    if (cap) out[o < cap ? o : cap - 1] = '\0';
    return o;
}

struct enc_kv {
    char *k;
    char *v;
};

static int cmp_enc_kv(const void *a, const void *b)
{
    const struct enc_kv *x = a, *y = b;
    int c = strcmp(x->k, y->k);
    return c ? c : strcmp(x->v, y->v);
}

static char *encode_dup(const char *s)
{
    size_t n = strlen(s);
    size_t need = s3__uri_encode(s, n, false, NULL, 0);
    char *p = ne_malloc(need + 1);
    if (p) s3__uri_encode(s, n, false, p, need + 1);
    return p;
}

int s3__query_build(const struct s3_kv *kv, size_t n, char *out, size_t cap)
{
    int rc = 0;
    struct enc_kv *e = n ? ne_calloc(n, sizeof(*e)) : NULL;
    if (n && !e) return NE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        e[i].k = encode_dup(kv[i].key);
        e[i].v = encode_dup(kv[i].value ? kv[i].value : "");
        if (!e[i].k || !e[i].v) {
            rc = NE_ENOMEM;
            goto out;
        }
    }
    if (n) qsort(e, n, sizeof(*e), cmp_enc_kv);
    size_t o = 0;
    if (cap == 0) {
        rc = NE_ETOOBIG;
        goto out;
    }
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(out + o, cap - o, "%s%s=%s", i ? "&" : "", e[i].k, e[i].v);
        if (w < 0 || (size_t)w >= cap - o) {
            rc = NE_ETOOBIG;
            goto out;
        }
        o += (size_t)w;
    }
out:
    for (size_t i = 0; e && i < n; i++) {
        ne_free(e[i].k);
        ne_free(e[i].v);
    }
    ne_free(e);
    return rc;
}

void s3__hex(const uint8_t *in, size_t n, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void s3__base64(const uint8_t *in, size_t n, char *out)
{
    static const char tb[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = tb[v >> 18];
        out[o++] = tb[(v >> 12) & 63];
        out[o++] = tb[(v >> 6) & 63];
        out[o++] = tb[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        out[o++] = tb[v >> 18];
        out[o++] = tb[(v >> 12) & 63];
        out[o++] = i + 1 < n ? tb[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
}

void s3__sha256_hex(const void *buf, size_t len, char out[S3_SHA256_HEX])
{
    uint8_t d[32];
    mbedtls_sha256_ret(buf, len, d, 0);
    s3__hex(d, 32, out);
}

void s3__hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32])
{
    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), key, klen, msg, mlen, out);
}

void s3__amz_date(int64_t wall_ns, char out[17])
{
    time_t t = (time_t)(wall_ns / 1000000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm);
}

static int cmp_hdr(const void *a, const void *b)
{
    return strcmp(((const struct s3_hdr *)a)->name, ((const struct s3_hdr *)b)->name);
}

/* Appends a header value trimmed, with blank runs folded to one space. */
static size_t put_trimmed(char *out, size_t o, size_t cap, const char *v)
{
    while (*v == ' ' || *v == '\t')
        v++;
    bool blank = false;
    for (; *v; v++) {
        if (*v == ' ' || *v == '\t') {
            blank = true;
            continue;
        }
        if (blank) {
            if (o < cap) out[o] = ' ';
            o++;
            blank = false;
        }
        if (o < cap) out[o] = *v;
        o++;
    }
    return o;
}

static size_t put_str(char *out, size_t o, size_t cap, const char *s)
{
    size_t n = strlen(s);
    if (o < cap) memcpy(out + o, s, o + n <= cap ? n : cap - o);
    return o + n;
}

/* Sorted copy of the headers; NE_EINVAL on duplicates. */
static int sorted_headers(const struct s3_sign_in *in, struct s3_hdr **out)
{
    struct s3_hdr *h = ne_malloc((in->nhdrs ? in->nhdrs : 1) * sizeof(*h));
    if (!h) return NE_ENOMEM;
    memcpy(h, in->hdrs, in->nhdrs * sizeof(*h));
    qsort(h, in->nhdrs, sizeof(*h), cmp_hdr);
    for (size_t i = 1; i < in->nhdrs; i++) {
        if (strcmp(h[i - 1].name, h[i].name) == 0) {
            ne_free(h);
            return NE_EINVAL;
        }
    }
    *out = h;
    return 0;
}

static size_t put_signed_names(char *out, size_t o, size_t cap, const struct s3_hdr *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (i) o = put_str(out, o, cap, ";");
        o = put_str(out, o, cap, h[i].name);
    }
    return o;
}

static int canonical(const struct s3_sign_in *in, const struct s3_hdr *h, char *out, size_t cap)
{
    size_t o = 0;
    o = put_str(out, o, cap, in->method);
    o = put_str(out, o, cap, "\n");
    o = put_str(out, o, cap, in->curi);
    o = put_str(out, o, cap, "\n");
    o = put_str(out, o, cap, in->cquery ? in->cquery : "");
    o = put_str(out, o, cap, "\n");
    for (size_t i = 0; i < in->nhdrs; i++) {
        o = put_str(out, o, cap, h[i].name);
        o = put_str(out, o, cap, ":");
        o = put_trimmed(out, o, cap, h[i].value);
        o = put_str(out, o, cap, "\n");
    }
    o = put_str(out, o, cap, "\n");
    o = put_signed_names(out, o, cap, h, in->nhdrs);
    o = put_str(out, o, cap, "\n");
    o = put_str(out, o, cap, in->payload_hash);
    if (o >= cap) return NE_ETOOBIG;
    out[o] = '\0';
    return 0;
}

int s3__canonical_request(const struct s3_sign_in *in, char *out, size_t cap)
{
    struct s3_hdr *h;
    int rc = sorted_headers(in, &h);
    if (rc) return rc;
    rc = canonical(in, h, out, cap);
    ne_free(h);
    return rc;
}

static void signing_key(const struct s3_sign_in *in, uint8_t key[32])
{
    char k0[160];
    int n = snprintf(k0, sizeof(k0), "AWS4%s", in->secret_key);
    size_t kl = n < 0 ? 0 : ((size_t)n < sizeof(k0) ? (size_t)n : sizeof(k0) - 1);
    s3__hmac_sha256(k0, kl, in->amz_date, 8, key);
    s3__hmac_sha256(key, 32, in->region, strlen(in->region), key);
    s3__hmac_sha256(key, 32, in->service, strlen(in->service), key);
    s3__hmac_sha256(key, 32, "aws4_request", 12, key);
    memset(k0, 0, sizeof(k0));
}

int s3__sign(const struct s3_sign_in *in, char *out, size_t cap)
{
    if (!in->amz_date || strlen(in->amz_date) != 16 || strlen(in->secret_key) > 128)
        return NE_EINVAL;
    struct s3_hdr *h = NULL;
    char *creq = NULL;
    int rc = sorted_headers(in, &h);
    if (rc) return rc;
    /* Size it: every piece is bounded by its strlen (trimming only shrinks). */
    size_t ccap = strlen(in->method) + strlen(in->curi) + strlen(in->cquery ? in->cquery : "") +
                  strlen(in->payload_hash) + 16;
    for (size_t i = 0; i < in->nhdrs; i++)
        ccap += 2 * strlen(h[i].name) + strlen(h[i].value) + 4;
    creq = ne_malloc(ccap);
    if (!creq) {
        rc = NE_ENOMEM;
        goto out;
    }
    rc = canonical(in, h, creq, ccap);
    if (rc) goto out;

    char scope[160], creq_hash[S3_SHA256_HEX], sts[400];
    snprintf(scope, sizeof(scope), "%.8s/%s/%s/aws4_request", in->amz_date, in->region,
             in->service);
    s3__sha256_hex(creq, strlen(creq), creq_hash);
    int n =
        snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n%s\n%s\n%s", in->amz_date, scope, creq_hash);
    if (n < 0 || (size_t)n >= sizeof(sts)) {
        rc = NE_ETOOBIG;
        goto out;
    }
    uint8_t key[32], sig[32];
    char sighex[65];
    signing_key(in, key);
    s3__hmac_sha256(key, 32, sts, (size_t)n, sig);
    s3__hex(sig, 32, sighex);

    size_t o = 0;
    o = put_str(out, o, cap, "AWS4-HMAC-SHA256 Credential=");
    o = put_str(out, o, cap, in->access_key);
    o = put_str(out, o, cap, "/");
    o = put_str(out, o, cap, scope);
    o = put_str(out, o, cap, ", SignedHeaders=");
    o = put_signed_names(out, o, cap, h, in->nhdrs);
    o = put_str(out, o, cap, ", Signature=");
    o = put_str(out, o, cap, sighex);
    if (o >= cap) {
        rc = NE_ETOOBIG;
        goto out;
    }
    out[o] = '\0';
out:
    ne_free(creq);
    ne_free(h);
    return rc;
}
