/*
 * central_sink.c - the central driver of cloud sync (protocol and error
 * mapping in central_sink.h).
 *
 * Invariants: one CURL easy handle per driver, reset before each attempt
 * (its connection cache survives, so pushes reuse the connection); the
 * runner calls deliver from one thread, so the handle needs no lock. The
 * body is read from the bundle by offset, so curl may rewind it (seek
 * callback) and a retry resends the same bytes.
 */
#include "sync/sink/central_sink.h"

#include <curl/curl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sync/bundle/bundle.h"

#define MOD                "sync"
#define PUSH_PATH          "/api/v1/segments"
#define RESP_MAX           4096
#define CONNECT_TIMEOUT_MS 10000L
#define BASE_TIMEOUT_MS    300000ull       /* on top of the upload time */
#define FLOOR_RATE         (64ull * 1024u) /* bytes/s assumed without a cap */
#define STALL_S            300L            /* nothing moving this long: timeout */
#define BACKOFF_BASE_MS    200
#define BACKOFF_MAX_MS     20000

struct central_sink {
    char *url; /* <cfg url>/api/v1/segments */
    char *auth_header;
    char *ca_file;
    bool verify_tls;
    uint64_t bandwidth;
    int max_retries;
    CURL *curl;
    uint64_t rng;
};

/* One attempt's transfer state. */
struct xfer {
    struct ne_bundle *b;
    const struct ne_sink_env *env;
    uint64_t off;
    int read_err;
    char resp[RESP_MAX];
    size_t resp_len;
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* ---- curl callbacks ------------------------------------------------------------ */

static size_t on_read(char *buf, size_t size, size_t nitems, void *ud)
{
    struct xfer *x = ud;
    size_t got = 0;
    int rc = ne_bundle_read(x->b, x->off, buf, size * nitems, &got);
    if (rc) {
        x->read_err = rc;
        return CURL_READFUNC_ABORT;
    }
    x->off += got;
    if (got && x->env->count_bytes) x->env->count_bytes(x->env->runner, got);
    return got;
}

static int on_seek(void *ud, curl_off_t offset, int origin)
{
    struct xfer *x = ud;
    if (origin != SEEK_SET || offset < 0) return CURL_SEEKFUNC_CANTSEEK;
    x->off = (uint64_t)offset;
    return CURL_SEEKFUNC_OK;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb, room = sizeof x->resp - 1 - x->resp_len;
    size_t take = n < room ? n : room; /* the rest of a long answer is not needed */
    memcpy(x->resp + x->resp_len, p, take);
    x->resp_len += take;
    x->resp[x->resp_len] = '\0';
    return n;
}

static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt, (void)dn, (void)ut, (void)un;
    const struct xfer *x = ud;
    return x->env->stopping && x->env->stopping(x->env->runner) ? 1 : 0;
}

/* ---- answers -------------------------------------------------------------------- */

/* The text of "key":"..." in a JSON answer (escapes reduced to the
 * escaped character), or "" when absent. */
static void json_text(const char *json, const char *key, char *out, size_t n)
{
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *p = strstr(json, pat);
    size_t o = 0;
    if (p) {
        for (p += strlen(pat); *p && *p != '"' && o + 1 < n; p++) {
            if (*p == '\\' && p[1]) p++;
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static uint64_t json_u64(const char *json, const char *key)
{
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(json, pat);
    return p ? strtoull(p + strlen(pat), NULL, 10) : 0;
}

/* Turns an HTTP answer into the delivery's result. */
static int classify_status(long status, const struct xfer *x, struct ne_sink_result *res)
{
    char msg[200], word[32];
    json_text(x->resp, "error", msg, sizeof msg);
    if (status == 200) {
        json_text(x->resp, "status", word, sizeof word);
        if (strcmp(word, "stored") == 0 || strcmp(word, "duplicate") == 0) {
            res->objects = 1;
            res->rows = json_u64(x->resp, "points");
            return 0;
        }
        res->kind = NE_SINK_ERR_REJECTED;
        snprintf(res->msg, sizeof res->msg,
                 "central 200 without a push status: is the url a neoedge central node?");
        return NE_EINVAL;
    }
    int rc;
    if (status == 401 || status == 403) {
        res->kind = NE_SINK_ERR_AUTH;
        rc = NE_EPERM;
    } else if (status == 429 || status == 503) {
        res->kind = NE_SINK_ERR_THROTTLE;
        rc = NE_EAGAIN;
    } else if (status >= 500) {
        res->kind = NE_SINK_ERR_SERVER;
        rc = NE_EIO;
    } else {
        res->kind = NE_SINK_ERR_REJECTED;
        rc = status == 409 ? NE_ECONFLICT : status == 413 ? NE_ETOOBIG : NE_EINVAL;
    }
    snprintf(res->msg, sizeof res->msg, "central %ld: %s", status,
             msg[0] ? msg : "(no error message)");
    return rc;
}

static int classify_curl(CURLcode cc, const char *errbuf, const struct xfer *x,
                         struct ne_sink_result *res)
{
    if (cc == CURLE_ABORTED_BY_CALLBACK && x->env->stopping && x->env->stopping(x->env->runner))
        return NE_ECLOSED;
    if (x->read_err) {
        res->kind = NE_SINK_ERR_LOCAL;
        snprintf(res->msg, sizeof res->msg, "central: reading the segment: %s",
                 ne_strerror(x->read_err));
        return x->read_err;
    }
    const char *why = errbuf[0] ? errbuf : curl_easy_strerror(cc);
    if (cc == CURLE_OPERATION_TIMEDOUT) {
        res->kind = NE_SINK_ERR_TIMEOUT;
        snprintf(res->msg, sizeof res->msg, "central timeout: %s", why);
        return NE_ETIMEOUT;
    }
    res->kind = NE_SINK_ERR_CONNECT;
    snprintf(res->msg, sizeof res->msg, "central connect: %s", why);
    return NE_EIO;
}

/* ---- one push -------------------------------------------------------------------- */

static struct curl_slist *push_headers(const struct central_sink *k, const struct ne_bundle_info *i)
{
    char node[NE_BUNDLE_NODE_MAX + 32], seg[64], ck[NE_BUNDLE_CHECKSUM_MAX + 32];
    snprintf(node, sizeof node, "X-Neoedge-Node: %s", i->node);
    snprintf(seg, sizeof seg, "X-Neoedge-Segment: %016" PRIx64, i->segment_id);
    snprintf(ck, sizeof ck, "X-Neoedge-Checksum: %s", i->checksum);
    const char *lines[] = {
        k->auth_header,        node, seg, ck, "Content-Type: application/vnd.neoedge.bundle",
        "Expect: 100-continue"};
    struct curl_slist *h = NULL;
    for (size_t n = 0; n < sizeof lines / sizeof lines[0]; n++) {
        struct curl_slist *t = curl_slist_append(h, lines[n]);
        if (!t) {
            curl_slist_free_all(h);
            return NULL;
        }
        h = t;
    }
    return h;
}

static void set_options(struct central_sink *k, struct xfer *x, struct curl_slist *h, char *errbuf)
{
    CURL *c = k->curl;
    uint64_t total = ne_bundle_info(x->b)->total_bytes;
    uint64_t rate = k->bandwidth ? k->bandwidth : FLOOR_RATE;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, k->url);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)total);
    curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
    curl_easy_setopt(c, CURLOPT_READDATA, x);
    curl_easy_setopt(c, CURLOPT_SEEKFUNCTION, on_seek);
    curl_easy_setopt(c, CURLOPT_SEEKDATA, x);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, x);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(BASE_TIMEOUT_MS + total / rate * 1000u));
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, STALL_S);
    if (k->bandwidth) curl_easy_setopt(c, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)k->bandwidth);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, k->verify_tls ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, k->verify_tls ? 2L : 0L);
    if (k->ca_file) curl_easy_setopt(c, CURLOPT_CAINFO, k->ca_file);
}

static int push_once(struct central_sink *k, const struct ne_sink_env *env, struct ne_bundle *b,
                     struct ne_sink_result *res)
{
    struct xfer *x = ne_calloc(1, sizeof *x);
    struct curl_slist *h = x ? push_headers(k, ne_bundle_info(b)) : NULL;
    if (!h) {
        ne_free(x);
        res->kind = NE_SINK_ERR_LOCAL;
        snprintf(res->msg, sizeof res->msg, "central: out of memory");
        return NE_ENOMEM;
    }
    x->b = b;
    x->env = env;
    char errbuf[CURL_ERROR_SIZE] = "";
    set_options(k, x, h, errbuf);
    memset(res, 0, sizeof *res);
    CURLcode cc = curl_easy_perform(k->curl);
    int rc;
    if (cc != CURLE_OK) {
        rc = classify_curl(cc, errbuf, x, res);
    } else {
        long status = 0;
        curl_easy_getinfo(k->curl, CURLINFO_RESPONSE_CODE, &status);
        rc = classify_status(status, x, res);
    }
    curl_easy_setopt(k->curl, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(k->curl, CURLOPT_ERRORBUFFER, NULL);
    curl_slist_free_all(h);
    ne_free(x);
    return rc;
}

/* ---- retries ------------------------------------------------------------------------- */

static bool retryable(enum ne_sink_err kind)
{
    return kind == NE_SINK_ERR_CONNECT || kind == NE_SINK_ERR_TIMEOUT ||
           kind == NE_SINK_ERR_THROTTLE || kind == NE_SINK_ERR_SERVER;
}

static uint64_t next_rand(struct central_sink *k)
{
    uint64_t v = k->rng;
    v ^= v >> 12;
    v ^= v << 25;
    v ^= v >> 27;
    k->rng = v;
    return v * 0x2545F4914F6CDD1Dull;
}

/* Sleeps a full-jitter backoff for retry number attempt (0-based), in
 * short steps so a stopping daemon is not held. false if stopping. */
static bool backoff(struct central_sink *k, const struct ne_sink_env *env, int attempt)
{
    int64_t ceil_ms = BACKOFF_BASE_MS;
    for (int i = 0; i < attempt && ceil_ms < BACKOFF_MAX_MS; i++)
        ceil_ms *= 2;
    if (ceil_ms > BACKOFF_MAX_MS) ceil_ms = BACKOFF_MAX_MS;
    int64_t left = (int64_t)(next_rand(k) % (uint64_t)(ceil_ms + 1)) * 1000000ll;
    while (left > 0) {
        if (env->stopping && env->stopping(env->runner)) return false;
        int64_t step = left < 100000000ll ? left : 100000000ll;
        ne_time_sleep_ns(step);
        left -= step;
    }
    return !(env->stopping && env->stopping(env->runner));
}

static int deliver(void *ctx, const struct ne_sink_env *env, const struct ne_store_seg_desc *seg,
                   struct ne_sink_result *res)
{
    struct central_sink *k = ctx;
    struct ne_bundle *b = NULL;
    int rc = ne_bundle_open(env->store, seg, env->node_id, &b);
    if (rc == NE_ENOTFOUND) return rc;
    if (rc) {
        res->kind = NE_SINK_ERR_LOCAL;
        snprintf(res->msg, sizeof res->msg, "central: bundling segment %016" PRIx64 ": %s", seg->id,
                 ne_strerror(rc));
        return rc;
    }
    for (int attempt = 0;; attempt++) {
        rc = push_once(k, env, b, res);
        if (rc == 0 || rc == NE_ECLOSED || !retryable(res->kind) || attempt >= k->max_retries)
            break;
        ne_log(NE_LOG_DEBUG, MOD, "push failed, retrying", "url", k->url, "err", res->msg, NULL);
        if (!backoff(k, env, attempt)) {
            rc = NE_ECLOSED;
            break;
        }
    }
    ne_bundle_close(&b);
    return rc;
}

static void destroy(void *ctx)
{
    struct central_sink *k = ctx;
    if (!k) return;
    if (k->curl) curl_easy_cleanup(k->curl);
    ne_free(k->url);
    ne_free(k->auth_header);
    ne_free(k->ca_file);
    ne_free(k);
}

/* ---- construction ------------------------------------------------------------------------ */

static char *push_url(const char *base)
{
    size_t n = strlen(base);
    while (n && base[n - 1] == '/')
        n--;
    size_t pl = strlen(PUSH_PATH);
    bool has_path = n >= pl && memcmp(base + n - pl, PUSH_PATH, pl) == 0;
    char *u = ne_malloc(n + pl + 1);
    if (!u) return NULL;
    memcpy(u, base, n);
    memcpy(u + n, has_path ? "" : PUSH_PATH, has_path ? 1 : pl + 1);
    return u;
}

int ne_central_sink_new(const struct ne_cfg_sink *cfg, struct ne_sink_driver *out)
{
    const char *name = cfg && cfg->name ? cfg->name : "?";
    if (!cfg || !cfg->url || !cfg->token || !*cfg->token) {
        ne_log(NE_LOG_ERROR, MOD, "a central sink needs url and token", "sink", name, NULL);
        return NE_EINVAL;
    }
    if (strncmp(cfg->url, "http://", 7) != 0 && strncmp(cfg->url, "https://", 8) != 0) {
        ne_log(NE_LOG_ERROR, MOD, "central sink url must start with http:// or https://", "sink",
               name, "url", cfg->url, NULL);
        return NE_EINVAL;
    }
    pthread_once(&curl_once, curl_init_once);
    struct central_sink *k = ne_calloc(1, sizeof *k);
    if (!k) return NE_ENOMEM;
    size_t al = strlen(cfg->token) + 32;
    k->url = push_url(cfg->url);
    k->auth_header = ne_malloc(al);
    if (k->auth_header) snprintf(k->auth_header, al, "Authorization: Bearer %s", cfg->token);
    k->ca_file = cfg->ca_file ? ne_strdup(cfg->ca_file) : NULL;
    k->verify_tls = cfg->verify_tls;
    k->bandwidth = cfg->bandwidth_bytes_per_s;
    k->max_retries = cfg->max_retries > 0 ? cfg->max_retries : 0;
    k->rng = (uint64_t)ne_time_mono_ns() | 1u;
    k->curl = curl_easy_init();
    if (!k->url || !k->auth_header || (cfg->ca_file && !k->ca_file) || !k->curl) {
        destroy(k);
        return NE_ENOMEM;
    }
    *out = (struct ne_sink_driver){
        .type = "central", .deliver = deliver, .destroy = destroy, .ctx = k};
    return 0;
}
