/*
 * http_write.c - InfluxDB 1.x /write and 2.x /api/v2/write, transport-free
 * (the endpoints, statuses and bodies are documented in http_write.h).
 *
 * Flow of one write: route -> method -> credentials -> database -> precision
 * -> size -> Content-Encoding (gzip inflated with a bounded output) ->
 * ne_decode (line protocol, partial-write semantics) -> sink->write once ->
 * the answer. Each request owns its batch and inflate buffer; nothing is
 * shared between concurrent calls but the sink. Error texts go into the
 * JSON body (escaped) and into X-Influxdb-Error (control bytes replaced),
 * in InfluxDB's wording so clients that match on it (Telegraf drops
 * "partial write" and "unable to parse" answers instead of retrying) behave.
 */
#include "ingest/http/http_write.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "ingest/decode/decode.h"
#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"

#define DEFAULT_MAX_BODY (25u * 1024 * 1024)

enum api { API_V1, API_V2 };

struct wctx {
    const struct ne_http_write_opts *o;
    const struct ne_http_req *req;
    struct ne_http_resp *resp;
    enum api api;
};

bool ne_http_write_path(const char *path)
{
    return path &&
           (!strcmp(path, "/write") || !strcmp(path, "/api/v2/write") || !strcmp(path, "/ping"));
}

void ne_http_resp_free(struct ne_http_resp *resp)
{
    if (!resp) return;
    ne_free(resp->body);
    resp->body = NULL;
    resp->body_len = 0;
}

static const char *hdr(const struct ne_http_req *r, const char *name)
{
    return r->header ? r->header(r->ctx, name) : NULL;
}

static const char *qry(const struct ne_http_req *r, const char *key)
{
    return r->query ? r->query(r->ctx, key) : NULL;
}

/* ---- answers --------------------------------------------------------------- */

static size_t json_escape(char *dst, const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            if (dst) dst[n] = '\\', dst[n + 1] = (char)ch;
            n += 2;
        } else if (ch < 0x20) {
            if (dst) snprintf(dst + n, 7, "\\u%04x", ch);
            n += 6;
        } else {
            if (dst) dst[n] = (char)ch;
            n++;
        }
    }
    return n;
}

static const char *v2_code(int status)
{
    switch (status) {
    case 400:
        return "invalid";
    case 401:
        return "unauthorized";
    case 405:
        return "method not allowed";
    case 413:
        return "request too large";
    case 415:
        return "unsupported media type";
    case 503:
        return "unavailable";
    default:
        return "internal error";
    }
}

/* Fills an error answer. Returns 0 or NE_ENOMEM. */
static int answer_error(struct wctx *w, int status, const char *msg)
{
    struct ne_http_resp *r = w->resp;
    r->status = status;
    snprintf(r->influx_error, sizeof r->influx_error, "%s", msg);
    for (char *p = r->influx_error; *p; p++)
        if ((unsigned char)*p < 0x20) *p = ' ';
    const char *pre = w->api == API_V1 ? "{\"error\":\"" : "{\"code\":\"";
    size_t n = strlen(pre) + json_escape(NULL, msg) + 32;
    if (w->api == API_V2) n += strlen(v2_code(status)) + 16;
    char *body = ne_malloc(n);
    if (!body) return NE_ENOMEM;
    size_t k = (size_t)snprintf(body, n, "%s", pre);
    if (w->api == API_V2)
        k += (size_t)snprintf(body + k, n - k, "%s\",\"message\":\"", v2_code(status));
    k += json_escape(body + k, msg);
    k += (size_t)snprintf(body + k, n - k, "\"}");
    ne_free(r->body);
    r->body = body;
    r->body_len = k;
    snprintf(r->content_type, sizeof r->content_type, "application/json");
    return 0;
}

static void answer_empty(struct wctx *w, int status)
{
    w->resp->status = status;
    w->resp->content_type[0] = '\0';
}

static void set_retry_after(struct wctx *w)
{
    int s = w->o->retry_after_s > 0 ? w->o->retry_after_s : 1;
    snprintf(w->resp->retry_after, sizeof w->resp->retry_after, "%d", s);
}

/* ---- credentials --------------------------------------------------------- */

/* Compares a secret without an early exit (only the length may leak). */
static bool same_secret(const char *a, const char *b, size_t bn)
{
    size_t an = strlen(a), n = an < bn ? an : bn;
    unsigned diff = an != bn;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned)((unsigned char)a[i] ^ (unsigned char)b[i]);
    return diff == 0;
}

static int b64val(char ch)
{
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+' || ch == '-') return 62;
    if (ch == '/' || ch == '_') return 63;
    return -1;
}

/* Decodes base64 into out (NUL-terminated). Returns length or -1. */
static int b64decode(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (; *s && *s != '='; s++) {
        int v = b64val(*s);
        if (v < 0) return -1;
        acc = acc << 6 | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (n + 1 >= cap) return -1;
            out[n++] = (char)((acc >> bits) & 0xFF);
        }
    }
    out[n] = '\0';
    return (int)n;
}

enum auth { AUTH_OK, AUTH_NONE, AUTH_BAD };

/* Checks the credentials of a request against opts->auth_token. */
static enum auth check_auth(struct wctx *w)
{
    const char *token = w->o->auth_token;
    if (!token || !*token) return AUTH_OK;
    const char *p = qry(w->req, "p");
    if (p) return same_secret(token, p, strlen(p)) ? AUTH_OK : AUTH_BAD;
    const char *a = hdr(w->req, "Authorization");
    if (!a || !*a) return AUTH_NONE;
    if (!strncasecmp(a, "Token ", 6) || !strncasecmp(a, "Bearer ", 7)) {
        const char *t = a + (a[0] == 'T' || a[0] == 't' ? 6 : 7);
        while (*t == ' ')
            t++;
        return same_secret(token, t, strlen(t)) ? AUTH_OK : AUTH_BAD;
    }
    if (!strncasecmp(a, "Basic ", 6)) {
        char dec[512];
        if (b64decode(a + 6, dec, sizeof dec) < 0) return AUTH_BAD;
        const char *colon = strchr(dec, ':');
        if (!colon) return AUTH_BAD;
        return same_secret(token, colon + 1, strlen(colon + 1)) ? AUTH_OK : AUTH_BAD;
    }
    return AUTH_BAD;
}

/* ---- body ------------------------------------------------------------------ */

static voidpf z_alloc(voidpf opaque, uInt items, uInt size)
{
    (void)opaque;
    return ne_calloc(items, size);
}

static void z_free(voidpf opaque, voidpf p)
{
    (void)opaque;
    ne_free(p);
}

/* Inflates a gzip body into *out (ne_malloc'd). Returns 0, NE_ETOOBIG
 * (more than max bytes), NE_EPARSE (not gzip / corrupt) or NE_ENOMEM. */
static int gunzip(const char *in, size_t n, size_t max, char **out, size_t *outlen)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    zs.zalloc = z_alloc;
    zs.zfree = z_free;
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) return NE_ENOMEM;
    size_t cap = n * 4 < 65536 ? 65536 : n * 4, len = 0;
    if (cap > max + 1) cap = max + 1;
    char *buf = ne_malloc(cap);
    int rc = buf ? 0 : NE_ENOMEM;
    zs.next_in = (Bytef *)(uintptr_t)in;
    zs.avail_in = (uInt)n;
    while (rc == 0) {
        if (len == cap) {
            if (cap > max) {
                rc = NE_ETOOBIG;
                break;
            }
            size_t ncap = cap * 2 > max + 1 ? max + 1 : cap * 2;
            char *nb = ne_realloc(buf, ncap);
            if (!nb) {
                rc = NE_ENOMEM;
                break;
            }
            buf = nb;
            cap = ncap;
        }
        zs.next_out = (Bytef *)buf + len;
        zs.avail_out = (uInt)(cap - len);
        int z = inflate(&zs, Z_NO_FLUSH);
        len = cap - zs.avail_out;
        if (z == Z_STREAM_END) {
            if (zs.avail_in == 0) break;
            inflateReset(&zs); /* another gzip member follows */
        } else if (z == Z_MEM_ERROR) {
            rc = NE_ENOMEM;
        } else if (z == Z_BUF_ERROR && zs.avail_in == 0) {
            rc = NE_EPARSE; /* truncated stream */
        } else if (z != Z_OK && z != Z_BUF_ERROR) {
            rc = NE_EPARSE;
        }
    }
    inflateEnd(&zs);
    if (rc == 0 && len > max) rc = NE_ETOOBIG;
    if (rc != 0) {
        ne_free(buf);
        return rc;
    }
    *out = buf;
    *outlen = len;
    return 0;
}

/* ---- write ------------------------------------------------------------------ */

/* The database named by the request, in db[] ("" if missing). */
static void database_of(struct wctx *w, char *db, size_t cap)
{
    const char *v = qry(w->req, w->api == API_V1 ? "db" : "bucket");
    db[0] = '\0';
    if (!v) return;
    size_t n = strlen(v);
    if (w->api == API_V2) {
        const char *slash = strchr(v, '/'); /* "db/rp" */
        if (slash) n = (size_t)(slash - v);
    }
    if (n >= cap) n = cap - 1;
    memcpy(db, v, n);
    db[n] = '\0';
}

static bool valid_db(const char *db)
{
    if (!*db || !strcmp(db, ".") || !strcmp(db, "..")) return false;
    for (const char *p = db; *p; p++)
        if ((unsigned char)*p < 0x20 || *p == '/' || *p == '\\') return false;
    return true;
}

static int store_failed(struct wctx *w, int rc, uint32_t npts)
{
    char msg[160];
    if (rc == NE_EBUSY || rc == NE_EFAILED) {
        ne_ingest_count_rejected("http", rc == NE_EBUSY ? "backpressure" : "unavailable", npts);
        set_retry_after(w);
        snprintf(msg, sizeof msg, "%s",
                 rc == NE_EBUSY ? "write buffer full: the store is applying backpressure, retry"
                                : "the store is recovering from a failed sync, retry");
        return answer_error(w, 503, msg);
    }
    if (rc == NE_ENOSPC) {
        ne_ingest_count_rejected("http", "disk_full", npts);
        set_retry_after(w);
        return answer_error(w, 507, "no space left on device: nothing was written, retry later");
    }
    ne_ingest_count_rejected("http", "unavailable", npts);
    snprintf(msg, sizeof msg, "write failed: %s", ne_strerror(rc));
    NE_ERROR("http", "write failed: %s", ne_strerror(rc));
    return answer_error(w, 500, msg);
}

/* Memory ran out while decoding: transient, so the client retries. */
static int out_of_memory(struct wctx *w)
{
    NE_WARN("http", "out of memory while decoding a write");
    set_retry_after(w);
    return answer_error(w, 503, "out of memory, retry");
}

/* Decodes body and writes it. Returns 0 or NE_ENOMEM. */
static int write_body(struct wctx *w, const struct ne_ingest_sink *sink, const char *db,
                      int64_t prec, const char *body, size_t len)
{
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.format = NE_PAYLOAD_LINE;
    o.precision_ns = prec;
    o.memo = w->o->memo;
    struct ne_batch own, *b = w->o->batch;
    if (b) {
        ne_batch_reset(b);
    } else {
        ne_batch_init(&own);
        b = &own;
    }
    struct ne_decode_report rep;
    int rc = ne_decode(&o, body, len, b, &rep);
    if (rc == NE_ENOMEM) {
        rc = out_of_memory(w);
        goto out;
    }
    rc = 0;
    if (rep.bad) ne_ingest_count_rejected("http", "parse", rep.bad);
    w->resp->points_dropped = rep.bad;
    if (b->npts == 0) {
        if (rep.bad)
            rc = answer_error(w, 400, rep.first_error);
        else
            answer_empty(w, 204);
        goto out;
    }
    struct ne_write_result res;
    memset(&res, 0, sizeof res);
    int wrc = sink->write(sink->ctx, db, b, &res);
    if (wrc != 0) {
        w->resp->points_dropped += b->npts;
        rc = store_failed(w, wrc, b->npts);
        goto out;
    }
    uint64_t values = ne_batch_values(b);
    if (res.rejected && b->npts) values = values * res.accepted / b->npts;
    ne_ingest_count_accepted("http", res.accepted, values);
    ne_ingest_count_result("http", &res);
    w->resp->points_written = res.accepted;
    w->resp->points_dropped += res.rejected;
    if (w->resp->points_dropped == 0) {
        answer_empty(w, 204);
        goto out;
    }
    char msg[sizeof rep.first_error + 64];
    snprintf(msg, sizeof msg, "partial write: %s dropped=%u",
             rep.bad ? rep.first_error : res.first_error, w->resp->points_dropped);
    rc = answer_error(w, 400, msg);
out:
    if (b == &own)
        ne_batch_free(b);
    else
        ne_batch_reset(b); /* its views into body die with this request */
    return rc;
}

static int handle_write(struct wctx *w, const struct ne_ingest_sink *sink)
{
    const struct ne_http_req *req = w->req;
    if (strcmp(req->method, "POST") != 0)
        return answer_error(w, 405, "method not allowed: use POST");
    enum auth a = check_auth(w);
    if (a != AUTH_OK) {
        ne_ingest_count_rejected("http", "auth", 0);
        if (w->api == API_V2) return answer_error(w, 401, "unauthorized access");
        return answer_error(w, 401,
                            a == AUTH_NONE ? "unable to parse authentication credentials"
                                           : "authorization failed");
    }
    char db[256];
    database_of(w, db, sizeof db);
    if (!*db)
        return answer_error(w, 400,
                            w->api == API_V1 ? "database is required" : "bucket is required");
    if (!valid_db(db)) return answer_error(w, 400, "invalid database name");
    int64_t prec;
    if (ne_decode_precision(qry(req, "precision"), &prec) != 0)
        return answer_error(w, 400, "invalid precision");
    uint64_t max = w->o->max_body_bytes ? w->o->max_body_bytes : DEFAULT_MAX_BODY;
    if (req->body_len > max) {
        ne_ingest_count_rejected("http", "too_large", 0);
        return answer_error(w, 413, "http: request body too large");
    }
    const char *enc = hdr(req, "Content-Encoding");
    if (enc && *enc && strcasecmp(enc, "identity") != 0) {
        if (strcasecmp(enc, "gzip") != 0) {
            ne_ingest_count_rejected("http", "unsupported_encoding", 0);
            return answer_error(w, 415, "unsupported Content-Encoding (use gzip or identity)");
        }
        char *plain = NULL;
        size_t plen = 0;
        int rc = gunzip(req->body ? req->body : "", req->body_len, (size_t)max, &plain, &plen);
        if (rc == NE_ENOMEM) return out_of_memory(w);
        if (rc == NE_ETOOBIG) {
            ne_ingest_count_rejected("http", "too_large", 0);
            return answer_error(w, 413, "http: request body too large");
        }
        if (rc != 0) {
            ne_ingest_count_rejected("http", "parse", 0);
            return answer_error(w, 400, "unable to decode gzip body");
        }
        rc = write_body(w, sink, db, prec, plain, plen);
        ne_free(plain);
        return rc;
    }
    return write_body(w, sink, db, prec, req->body, req->body_len);
}

int ne_http_write_handle(const struct ne_http_write_opts *opts, const struct ne_ingest_sink *sink,
                         const struct ne_http_req *req, struct ne_http_resp *resp)
{
    if (!req || !req->path || !ne_http_write_path(req->path)) return NE_ENOTFOUND;
    static const struct ne_http_write_opts defaults;
    struct wctx w = {.o = opts ? opts : &defaults, .req = req, .resp = resp};
    w.api = strcmp(req->path, "/api/v2/write") == 0 ? API_V2 : API_V1;
    resp->status = 500;
    const char *method = req->method ? req->method : "";
    if (strcmp(req->path, "/ping") == 0) {
        if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
            return answer_error(&w, 405, "method not allowed: use GET or HEAD");
        answer_empty(&w, 204);
        return 0;
    }
    struct ne_http_req r = *req;
    r.method = method;
    w.req = &r;
    return handle_write(&w, sink);
}
