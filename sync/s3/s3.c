/*
 * s3.c - the S3 client: options, addressing, the signed request engine
 * with retries, and the small object calls (HEAD, GET, DELETE, LIST).
 *
 * Every attempt is signed afresh (new x-amz-date) over the headers
 *   host, x-amz-date, x-amz-content-sha256 (real SHA-256 of the body),
 *   content-md5 and content-type (with a body), x-amz-security-token
 *   (with a session token),
 * and the Host header sent is exactly the one signed. Bodies come from
 * memory (the caller's part buffer), so a retry resends the same bytes.
 *
 * Retry policy: connection errors, timeouts, 5xx, 429 and S3's
 * RequestTimeout/BadDigest/XAmzContentSHA256Mismatch answers are retried up
 * to max_retries times, sleeping a full-jitter backoff in between; 403 is
 * final (NE_EPERM) so a wrong secret cannot cause a retry storm.
 *
 * Invariant: one CURL easy handle per client, reset before each attempt
 * (the connection cache survives the reset, so requests reuse the socket).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/metrics.h"
#include "ports/platform.h"
#include "sync/s3/internal.h"

#include <mbedtls/md5.h>

#define DEFAULT_PART (8ull << 20)
#define RESP_LIMIT   (1u << 20)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

void ne_s3_opts_init(struct ne_s3_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->part_size = DEFAULT_PART;
    o->multipart_threshold = DEFAULT_PART;
    o->connect_timeout_ms = 5000;
    o->timeout_ms = 120000;
    o->max_retries = 5;
    o->backoff_base_ms = 200;
    o->backoff_max_ms = 20000;
    o->verify_tls = true;
}

int64_t ne_s3_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms, uint64_t rnd)
{
    if (base_ms <= 0 || cap_ms <= 0) return 0;
    int64_t ceil_ms = base_ms;
    for (int i = 0; i < attempt && ceil_ms < cap_ms; i++)
        ceil_ms *= 2;
    if (ceil_ms > cap_ms) ceil_ms = cap_ms;
    return (int64_t)(rnd % ((uint64_t)ceil_ms + 1));
}

static uint64_t next_rand(struct ne_s3 *c)
{
    uint64_t x = c->rng;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    c->rng = x;
    return x * 0x2545F4914F6CDD1Dull;
}

const char *ne_s3_last_error(const struct ne_s3 *c)
{
    return c->err;
}

void ne_s3_last_failure(const struct ne_s3 *c, struct ne_s3_failure *out)
{
    *out = c->fail;
}

void ne_s3_stats(const struct ne_s3 *c, struct ne_s3_stats *out)
{
    *out = c->st;
}

int s3__body_reserve(struct ne_s3 *c, size_t n)
{
    if (n <= c->body_cap) return 0;
    uint8_t *p = ne_realloc(c->body, n);
    if (!p) return NE_ENOMEM;
    c->body = p;
    c->body_cap = n;
    return 0;
}

/* ---- open / close ------------------------------------------------------- */

/* Splits "scheme://authority[/]" ; drops a default port from authority. */
static int parse_endpoint(struct ne_s3 *c, const char *ep)
{
    const char *sep = strstr(ep, "://");
    if (!sep) return NE_EINVAL;
    size_t sl = (size_t)(sep - ep);
    const char *auth = sep + 3;
    size_t al = strcspn(auth, "/?#");
    if (al == 0 || (auth[al] && strcmp(auth + al, "/") != 0)) return NE_EINVAL;
    bool https = sl == 5 && strncasecmp(ep, "https", 5) == 0;
    if (!https && !(sl == 4 && strncasecmp(ep, "http", 4) == 0)) return NE_EINVAL;
    const char *dflt = https ? ":443" : ":80";
    size_t dl = strlen(dflt);
    if (al > dl && strncmp(auth + al - dl, dflt, dl) == 0 && auth[0] != '[') al -= dl;
    c->scheme = ne_strdup(https ? "https" : "http");
    c->authority = ne_strndup(auth, al);
    return c->scheme && c->authority ? 0 : NE_ENOMEM;
}

static bool bucket_ok(const char *b)
{
    size_t n = b ? strlen(b) : 0;
    if (n < 3 || n > 63) return false;
    for (size_t i = 0; i < n; i++) {
        char ch = b[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '.'))
            return false;
    }
    return true;
}

static int check_opts(const struct ne_s3_opts *o)
{
    if (!bucket_ok(o->bucket)) {
        NE_ERROR("s3", "invalid bucket name \"%s\"", o->bucket ? o->bucket : "");
        return NE_EINVAL;
    }
    if ((o->part_size < NE_S3_MIN_PART_SIZE && !o->allow_small_parts) || o->part_size == 0 ||
        o->part_size > (5ull << 30) || o->multipart_threshold == 0 || o->max_retries < 0 ||
        o->multipart_threshold > (1ull << 30)) {
        NE_ERROR("s3", "invalid part_size/multipart_threshold/max_retries");
        return NE_EINVAL;
    }
    return 0;
}

static int copy_opts(struct ne_s3 *c, const struct ne_s3_opts *o)
{
    int rc =
        ne_s3_creds_resolve(o->access_key, o->secret_key, o->session_token, o->region, &c->creds);
    if (rc) return rc;
    const char *region = c->creds.region[0] ? c->creds.region : "us-east-1";
    char dflt[160];
    snprintf(dflt, sizeof(dflt), "https://s3.%s.amazonaws.com", region);
    rc = parse_endpoint(c, o->endpoint ? o->endpoint : dflt);
    if (rc) {
        if (rc == NE_EINVAL)
            NE_ERROR("s3", "invalid endpoint \"%s\" (want http(s)://host[:port])", o->endpoint);
        return rc;
    }
    c->bucket = ne_strdup(o->bucket);
    c->prefix = ne_strdup(o->prefix ? o->prefix : "");
    c->region = ne_strdup(region);
    c->ca_file = o->ca_file ? ne_strdup(o->ca_file) : NULL;
    if (!c->bucket || !c->prefix || !c->region || (o->ca_file && !c->ca_file)) return NE_ENOMEM;
    c->o = *o;
    c->o.endpoint = c->o.region = c->o.bucket = c->o.prefix = NULL;
    c->o.access_key = c->o.secret_key = c->o.session_token = c->o.ca_file = NULL;
    return 0;
}

/* Process-wide counters, shared by every client (same name = same handle). */
static void register_metrics(struct ne_s3 *c)
{
    c->m_requests =
        ne_metric_counter("neoedge_s3_requests_total", "S3 HTTP attempts, retries included", NULL);
    c->m_retries = ne_metric_counter("neoedge_s3_retries_total",
                                     "S3 attempts that were retries after a failure", NULL);
    c->m_bytes =
        ne_metric_counter("neoedge_s3_upload_bytes_total", "Request body bytes sent to S3", NULL);
    c->m_failures = ne_metric_counter("neoedge_s3_failures_total",
                                      "S3 calls that failed after their retries", NULL);
}

int ne_s3_open(const struct ne_s3_opts *opts, struct ne_s3 **out)
{
    int rc = check_opts(opts);
    if (rc) return rc;
    pthread_once(&curl_once, curl_init_once);
    struct ne_s3 *c = ne_calloc(1, sizeof(*c));
    if (!c) return NE_ENOMEM;
    rc = copy_opts(c, opts);
    if (rc) goto fail;
    c->curl = curl_easy_init();
    if (!c->curl) {
        rc = NE_ENOMEM;
        goto fail;
    }
    register_metrics(c);
    c->rng = (uint64_t)ne_time_mono_ns() ^ (uint64_t)(uintptr_t)c ^ 0x9E3779B97F4A7C15ull;
    if (!c->rng) c->rng = 1;
    *out = c;
    return 0;
fail:
    ne_s3_close(&c);
    return rc;
}

void ne_s3_close(struct ne_s3 **cp)
{
    struct ne_s3 *c = cp ? *cp : NULL;
    if (!c) return;
    if (c->curl) curl_easy_cleanup(c->curl);
    ne_free(c->scheme);
    ne_free(c->authority);
    ne_free(c->bucket);
    ne_free(c->prefix);
    ne_free(c->region);
    ne_free(c->ca_file);
    ne_free(c->body);
    s3__buf_free(&c->resp);
    memset(&c->creds, 0, sizeof(c->creds));
    ne_free(c);
    *cp = NULL;
}

/* ---- addressing ----------------------------------------------------------- */

static const char *host_of(const struct ne_s3 *c, char *buf, size_t cap)
{
    if (c->o.path_style) return c->authority;
    snprintf(buf, cap, "%s.%s", c->bucket, c->authority);
    return buf;
}

int ne_s3_build_url(const struct ne_s3 *c, const char *key, const char *query, char **url,
                    char **curi)
{
    struct s3_buf path = {0}, u = {0};
    char hbuf[512];
    int rc = 0;
    if (c->o.path_style) rc = s3__buf_printf(&path, "/%s", c->bucket);
    if (!rc && key) {
        size_t fl = strlen(c->prefix) + strlen(key);
        char *full = ne_malloc(fl + 1);
        size_t need = 0;
        char *enc = NULL;
        if (full) {
            snprintf(full, fl + 1, "%s%s", c->prefix, key);
            need = s3__uri_encode(full, fl, true, NULL, 0);
            enc = ne_malloc(need + 1);
        }
        if (!full || !enc) {
            rc = NE_ENOMEM;
        } else {
            s3__uri_encode(full, fl, true, enc, need + 1);
            rc = s3__buf_put(&path, "/", 1);
            if (!rc) rc = s3__buf_put(&path, enc, need);
        }
        ne_free(full);
        ne_free(enc);
    }
    if (!rc && path.len == 0) rc = s3__buf_put(&path, "/", 1);
    if (!rc) rc = s3__buf_printf(&u, "%s://%s", c->scheme, host_of(c, hbuf, sizeof(hbuf)));
    if (!rc) rc = s3__buf_put(&u, path.p, path.len);
    if (!rc && query && *query) {
        rc = s3__buf_put(&u, "?", 1);
        if (!rc) rc = s3__buf_put(&u, query, strlen(query));
    }
    if (rc) {
        s3__buf_free(&path);
        s3__buf_free(&u);
        return rc;
    }
    *url = u.p;
    *curi = path.p;
    return 0;
}

/* ---- one attempt -------------------------------------------------------- */

struct attempt {
    struct ne_s3 *c;
    const struct s3_req *r;
    struct s3_resp *resp;
    size_t sent;
    size_t limit;
    bool too_big;
};

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    struct attempt *a = ud;
    size_t left = a->r->body_len - a->sent, n = size * nitems;
    if (n > left) n = left;
    memcpy(buf, a->r->body + a->sent, n);
    a->sent += n;
    a->c->st.bytes_sent += n;
    ne_metric_add(a->c->m_bytes, n);
    return n;
}

static int on_seek(void *ud, curl_off_t off, int origin)
{
    struct attempt *a = ud;
    if (origin != SEEK_SET || off < 0 || (uint64_t)off > a->r->body_len) return CURL_SEEKFUNC_FAIL;
    a->sent = (size_t)off;
    return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct attempt *a = ud;
    size_t n = size * nmemb;
    if (a->c->resp.len + n > a->limit) {
        a->too_big = true;
        return 0;
    }
    return s3__buf_put(&a->c->resp, p, n) ? 0 : n;
}

static bool header_is(const char *line, size_t n, const char *name, const char **val, size_t *vlen)
{
    size_t l = strlen(name);
    if (n <= l || strncasecmp(line, name, l) != 0 || line[l] != ':') return false;
    const char *v = line + l + 1, *e = line + n;
    while (v < e && (*v == ' ' || *v == '\t'))
        v++;
    while (e > v && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
        e--;
    *val = v;
    *vlen = (size_t)(e - v);
    return true;
}

static size_t on_header(char *line, size_t size, size_t nitems, void *ud)
{
    struct attempt *a = ud;
    size_t n = size * nitems, vl;
    const char *v;
    if (header_is(line, n, "etag", &v, &vl) && vl < NE_S3_ETAG_MAX) {
        memcpy(a->resp->etag, v, vl);
        a->resp->etag[vl] = '\0';
    } else if (header_is(line, n, "content-length", &v, &vl)) {
        a->resp->content_length = strtoull(v, NULL, 10);
        a->resp->has_length = true;
    }
    return n;
}

struct sig_headers {
    struct s3_hdr h[8];
    size_t n;
    char date[17];
    char sha[S3_SHA256_HEX];
    char md5[32];
    char host[512];
};

static void md5_b64(const uint8_t *p, size_t n, char out[32])
{
    uint8_t d[16];
    mbedtls_md5_ret(p, n, d);
    s3__base64(d, 16, out);
}

/* Hashes the body once per request (every attempt sends the same bytes). */
static void hash_body(const struct s3_req *r, struct sig_headers *sh)
{
    s3__sha256_hex(r->body ? (const void *)r->body : "", r->body ? r->body_len : 0, sh->sha);
    sh->md5[0] = '\0';
    if (r->body && r->body_len) md5_b64(r->body, r->body_len, sh->md5);
}

/* Fills the headers to sign; sh->sha and sh->md5 come from hash_body. */
static void collect_headers(struct ne_s3 *c, const struct s3_req *r, struct sig_headers *sh)
{
    sh->n = 0;
    char hb[sizeof(sh->host)];
    snprintf(sh->host, sizeof(sh->host), "%s", host_of(c, hb, sizeof(hb)));
    s3__amz_date(ne_time_wall_ns(), sh->date);
    sh->h[sh->n++] = (struct s3_hdr){"host", sh->host};
    sh->h[sh->n++] = (struct s3_hdr){"x-amz-date", sh->date};
    sh->h[sh->n++] = (struct s3_hdr){"x-amz-content-sha256", sh->sha};
    if (sh->md5[0]) sh->h[sh->n++] = (struct s3_hdr){"content-md5", sh->md5};
    if ((r->body && r->body_len) || r->content_type)
        sh->h[sh->n++] = (struct s3_hdr){
            "content-type", r->content_type ? r->content_type : "application/octet-stream"};
    if (c->creds.session_token[0])
        sh->h[sh->n++] = (struct s3_hdr){"x-amz-security-token", c->creds.session_token};
}

static int header_list(const struct sig_headers *sh, const char *auth, struct curl_slist **out)
{
    struct curl_slist *l = NULL, *t;
    char line[2400];
    for (size_t i = 0; i <= sh->n; i++) {
        if (i < sh->n)
            snprintf(line, sizeof(line), "%s: %s", sh->h[i].name, sh->h[i].value);
        else
            snprintf(line, sizeof(line), "Authorization: %s", auth);
        t = curl_slist_append(l, line);
        if (!t) goto nomem;
        l = t;
    }
    t = curl_slist_append(l, "Expect:");
    if (!t) goto nomem;
    *out = t;
    return 0;
nomem:
    curl_slist_free_all(l);
    return NE_ENOMEM;
}

static void set_common(struct ne_s3 *c, struct attempt *a, const char *url, size_t body_len)
{
    CURL *h = c->curl;
    const struct s3_req *r = a->r;
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)c->o.connect_timeout_ms);
    int64_t tmo = c->o.timeout_ms;
    if (c->o.bandwidth_bytes_per_s && body_len)
        tmo += (int64_t)(2000 * (uint64_t)body_len / c->o.bandwidth_bytes_per_s);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)tmo);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, c->o.verify_tls ? 1L : 0L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, c->o.verify_tls ? 2L : 0L);
    if (c->ca_file) curl_easy_setopt(h, CURLOPT_CAINFO, c->ca_file);
    if (c->o.bandwidth_bytes_per_s)
        curl_easy_setopt(h, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)c->o.bandwidth_bytes_per_s);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, a);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, a);
    if (strcmp(r->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else if (r->body) {
        curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)r->body_len);
        curl_easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(h, CURLOPT_READDATA, a);
        curl_easy_setopt(h, CURLOPT_SEEKFUNCTION, on_seek);
        curl_easy_setopt(h, CURLOPT_SEEKDATA, a);
        if (strcmp(r->method, "PUT") != 0) curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    } else if (strcmp(r->method, "GET") != 0) {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, r->method);
    }
}

enum verdict { V_OK, V_RETRY, V_FAIL };

static void parse_error_body(struct ne_s3 *c, struct s3_resp *resp, char *msg, size_t cap)
{
    const char *vs, *ve, *s = c->resp.p, *e = c->resp.p + c->resp.len;
    msg[0] = '\0';
    if (!s) return;
    if (s3__xml_find(s, e, "Code", &vs, &ve)) s3__xml_text(vs, ve, resp->code, sizeof(resp->code));
    if (s3__xml_find(s, e, "Message", &vs, &ve)) s3__xml_text(vs, ve, msg, cap);
}

static bool retryable_code(const char *code)
{
    return strcmp(code, "RequestTimeout") == 0 || strcmp(code, "BadDigest") == 0 ||
           strcmp(code, "XAmzContentSHA256Mismatch") == 0 || strcmp(code, "InternalError") == 0 ||
           strcmp(code, "SlowDown") == 0;
}

/* Classifies an HTTP answer; sets *err for a failure. */
static enum verdict judge_http(struct ne_s3 *c, const struct s3_req *r, struct s3_resp *resp,
                               int *err)
{
    char msg[160];
    long st = resp->status;
    if (st >= 200 && st < 300) {
        /* CompleteMultipartUpload may fail after a 200 with an <Error> body. */
        if (!(strcmp(r->method, "POST") == 0 && c->resp.p && strstr(c->resp.p, "<Error>")))
            return V_OK;
        st = 500;
    }
    parse_error_body(c, resp, msg, sizeof(msg));
    snprintf(c->err, sizeof(c->err), "s3 %ld %s%s%s", resp->status,
             resp->code[0] ? resp->code : "HTTP", msg[0] ? ": " : "", msg);
    c->fail.kind = NE_S3_FAIL_HTTP;
    c->fail.status = st;
    snprintf(c->fail.code, sizeof(c->fail.code), "%s", resp->code);
    if (st == 403) {
        *err = NE_EPERM;
        return V_FAIL;
    }
    if (st == 404) {
        *err = NE_ENOTFOUND;
        return V_FAIL;
    }
    if (st >= 500 || st == 429 || retryable_code(resp->code)) {
        *err = NE_EAGAIN;
        return V_RETRY;
    }
    *err = st == 400 ? NE_EINVAL : st == 409 ? NE_ECONFLICT : NE_EIO;
    return V_FAIL;
}

static enum verdict judge_curl(struct ne_s3 *c, CURLcode cc, bool too_big, int *err)
{
    snprintf(c->err, sizeof(c->err), "s3 transport: %s", curl_easy_strerror(cc));
    memset(&c->fail, 0, sizeof(c->fail));
    c->fail.kind = NE_S3_FAIL_CONNECT;
    switch (cc) {
    case CURLE_OPERATION_TIMEDOUT:
        c->fail.kind = NE_S3_FAIL_TIMEOUT;
        *err = NE_ETIMEOUT;
        return V_RETRY;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        *err = NE_EAGAIN;
        return V_RETRY;
    case CURLE_WRITE_ERROR:
        c->fail.kind = NE_S3_FAIL_OTHER;
        *err = too_big ? NE_ETOOBIG : NE_ENOMEM;
        return V_FAIL;
    case CURLE_PEER_FAILED_VERIFICATION:
        *err = NE_EPERM;
        return V_FAIL;
    default:
        c->fail.kind = NE_S3_FAIL_OTHER;
        *err = NE_EIO;
        return V_FAIL;
    }
}

static enum verdict attempt_once(struct ne_s3 *c, const struct s3_req *r, const char *url,
                                 const char *curi, struct sig_headers *sh, struct s3_resp *resp,
                                 int *err)
{
    struct curl_slist *hl = NULL;
    char auth[512];
    collect_headers(c, r, sh);
    struct s3_sign_in in = {
        .method = r->method,
        .curi = curi,
        .cquery = r->query ? r->query : "",
        .hdrs = sh->h,
        .nhdrs = sh->n,
        .payload_hash = sh->sha,
        .amz_date = sh->date,
        .region = c->region,
        .service = "s3",
        .access_key = c->creds.access_key,
        .secret_key = c->creds.secret_key,
    };
    *err = s3__sign(&in, auth, sizeof(auth));
    if (!*err) *err = header_list(sh, auth, &hl);
    if (*err) {
        snprintf(c->err, sizeof(c->err), "s3 signing: %s", ne_strerror(*err));
        return V_FAIL;
    }
    memset(resp, 0, sizeof(*resp));
    c->resp.len = 0;
    struct attempt a = {
        .c = c, .r = r, .resp = resp, .limit = r->max_resp ? r->max_resp : RESP_LIMIT};
    set_common(c, &a, url, r->body_len);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, hl);
    c->st.requests++;
    ne_metric_inc(c->m_requests);
    CURLcode cc = curl_easy_perform(c->curl);
    curl_slist_free_all(hl);
    if (cc != CURLE_OK) return judge_curl(c, cc, a.too_big, err);
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &resp->status);
    return judge_http(c, r, resp, err);
}

int s3__request(struct ne_s3 *c, const struct s3_req *r, struct s3_resp *out)
{
    char *url = NULL, *curi = NULL;
    int err = ne_s3_build_url(c, r->key, r->query, &url, &curi);
    if (err) return err;
    struct sig_headers sh;
    hash_body(r, &sh);
    for (int attempt = 0;; attempt++) {
        enum verdict v = attempt_once(c, r, url, curi, &sh, out, &err);
        if (v == V_OK) {
            err = 0;
            c->err[0] = '\0';
            memset(&c->fail, 0, sizeof(c->fail));
            break;
        }
        if (v == V_FAIL || attempt >= c->o.max_retries) break;
        int64_t ms =
            ne_s3_backoff_ms(attempt, c->o.backoff_base_ms, c->o.backoff_max_ms, next_rand(c));
        NE_WARN("s3", "%s %s failed (%s), retry %d/%d in %lld ms", r->method, r->key ? r->key : "/",
                c->err, attempt + 1, c->o.max_retries, (long long)ms);
        c->st.retries++;
        ne_metric_inc(c->m_retries);
        ne_time_sleep_ns(ms * 1000000);
    }
    if (err && err != NE_ENOTFOUND) ne_metric_inc(c->m_failures);
    ne_free(url);
    ne_free(curi);
    return err;
}

/* ---- small calls ---------------------------------------------------------- */

static void log_fail(struct ne_s3 *c, const char *what, const char *key, int rc)
{
    if (rc != NE_ENOTFOUND)
        NE_ERROR("s3", "%s %s/%s%s: %s", what, c->bucket, c->prefix, key ? key : "", c->err);
}

int ne_s3_head_object(struct ne_s3 *c, const char *key, struct ne_s3_object_info *info)
{
    struct s3_req r = {.method = "HEAD", .key = key};
    struct s3_resp resp;
    int rc = s3__request(c, &r, &resp);
    if (rc) {
        log_fail(c, "HEAD", key, rc);
        return rc;
    }
    info->size = resp.content_length;
    snprintf(info->etag, sizeof(info->etag), "%s", resp.etag);
    return 0;
}

int ne_s3_get_object(struct ne_s3 *c, const char *key, size_t max_len, uint8_t **out, size_t *len)
{
    struct s3_req r = {.method = "GET", .key = key, .max_resp = max_len ? max_len : SIZE_MAX - 1};
    struct s3_resp resp;
    int rc = s3__request(c, &r, &resp);
    if (rc) {
        log_fail(c, "GET", key, rc);
        return rc;
    }
    if (!c->resp.p && s3__buf_put(&c->resp, "", 0)) return NE_ENOMEM;
    /* Hand the response buffer over instead of copying a large body. */
    *out = (uint8_t *)c->resp.p;
    *len = c->resp.len;
    memset(&c->resp, 0, sizeof(c->resp));
    return 0;
}

int ne_s3_delete_object(struct ne_s3 *c, const char *key)
{
    struct s3_req r = {.method = "DELETE", .key = key};
    struct s3_resp resp;
    int rc = s3__request(c, &r, &resp);
    if (rc == NE_ENOTFOUND) rc = 0;
    if (rc) log_fail(c, "DELETE", key, rc);
    return rc;
}

/* Calls fn for each <Contents> of one ListObjectsV2 page. */
static int list_page(struct ne_s3 *c, size_t plen, ne_s3_list_fn fn, void *ctx)
{
    const char *s = c->resp.p, *e = c->resp.p + c->resp.len, *vs, *ve;
    char key[2048], etag[NE_S3_ETAG_MAX], num[32];
    while (s3__xml_find(s, e, "Contents", &vs, &ve)) {
        const char *ks, *ke;
        uint64_t size = 0;
        etag[0] = '\0';
        if (!s3__xml_find(vs, ve, "Key", &ks, &ke) || s3__xml_text(ks, ke, key, sizeof(key)))
            return NE_EPARSE;
        if (s3__xml_find(vs, ve, "Size", &ks, &ke) && !s3__xml_text(ks, ke, num, sizeof(num)))
            size = strtoull(num, NULL, 10);
        if (s3__xml_find(vs, ve, "ETag", &ks, &ke)) s3__xml_text(ks, ke, etag, sizeof(etag));
        int rc = strlen(key) >= plen ? fn(ctx, key + plen, size, etag) : 0;
        if (rc) return rc;
        s = ve;
    }
    return 0;
}

int ne_s3_list_objects(struct ne_s3 *c, const char *prefix, ne_s3_list_fn fn, void *ctx)
{
    char full[2048], token[1024] = "", query[4096];
    snprintf(full, sizeof(full), "%s%s", c->prefix, prefix ? prefix : "");
    for (;;) {
        struct s3_kv kv[3] = {{"list-type", "2"}, {"prefix", full}, {"continuation-token", token}};
        int rc = s3__query_build(kv, token[0] ? 3 : 2, query, sizeof(query));
        struct s3_req r = {.method = "GET", .key = NULL, .query = query, .max_resp = 16u << 20};
        struct s3_resp resp;
        if (!rc) rc = s3__request(c, &r, &resp);
        if (rc) {
            log_fail(c, "LIST", prefix, rc);
            return rc;
        }
        char *save = NULL;
        const char *vs, *ve, *s = c->resp.p, *e = c->resp.p + c->resp.len;
        bool more = s3__xml_find(s, e, "IsTruncated", &vs, &ve) && ve - vs == 4 &&
                    memcmp(vs, "true", 4) == 0;
        if (more && s3__xml_find(s, e, "NextContinuationToken", &vs, &ve) &&
            s3__xml_text(vs, ve, token, sizeof(token)) == 0)
            save = token;
        rc = list_page(c, strlen(c->prefix), fn, ctx);
        if (rc || !more || !save) return rc;
    }
}
