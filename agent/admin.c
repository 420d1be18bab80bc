/*
 * admin.c - the daemon's HTTP server on libmicrohttpd.
 *
 * Threads: libmicrohttpd's internal polling threads (epoll), a pool of
 * opts->threads; a handler runs on the pool thread that owns the
 * connection, so a store write blocks only that thread. Queries that read
 * data run on as many query threads (agent/workers.h), their connection
 * suspended meanwhile (/query is in admin_query.c).
 *
 * Request flow (MHD calls the access handler several times per request):
 *   1st call   headers are in: the route is looked up (404/405 at once);
 *              a body route checks Content-Length against max_body_bytes
 *              and answers 413 before reading the body; otherwise a
 *              struct request is attached to the connection;
 *   next calls body chunks are appended; past max_body_bytes (a chunked
 *              body with no Content-Length) the rest is read and dropped,
 *              never buffered, and the answer is 413;
 *   last call  (no more body) the route's handler builds the answer, or
 *              hands a query to the query threads and suspends the
 *              connection;
 *   resumed    the query thread's answer is sent.
 * The struct request is freed by the completion callback, whatever happens.
 * POST /api/v1/segments (role central) streams instead: its body goes to a
 * file as it arrives (agent/central.h), limited by central.max_segment_size.
 *
 * The listening socket is bound here rather than by libmicrohttpd so that a
 * bind failure can name the address and the reason precisely.
 *
 * Invariants: the auth token is read under mu and copied per request, so a
 * SIGHUP reload can replace it while requests run.
 */
#include "agent/admin.h"
#include "agent/admin_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/console/console.h"
#include "agent/central.h"
#include "agent/mod_sync.h"
#include "agent/mod_cluster.h"
#include "agent/procstats.h"
#include "agent/sbuf.h"
#include "agent/status.h"
#include "agent/workers.h"
#include "ingest/decode/decode.h"
#include "ingest/http/http_write.h"
#include "ingest/ingest.h"
#include "ports/log.h"
#include "ports/metrics.h"
#include "ports/platform.h"

#define MOD "http"

enum { M_GET = 1, M_HEAD = 2, M_POST = 4 };


/* The buffers of a write request: the body, the batch it decodes to and
 * the series memo of the writes before.
 * A 5,000-line write holds a few MiB in them, which malloc would map,
 * fault in and unmap again on every request; kept in ne_admin.pool
 * between requests (at most pool_max of them, the HTTP threads, and none
 * whose arrays outgrew WBUFS_KEEP_BYTES), they are reused as they are. */
struct wbufs {
    char *body;
    size_t cap;
    struct ne_batch batch;
    struct ne_series_memo *memo; /* series of earlier writes (bounded on its
                                    own), or NULL without memory */
    struct wbufs *next;
};

#define WBUFS_KEEP_BYTES (16u << 20)

/* libmicrohttpd's memory per connection: the headers, then what one read
 * of a body takes. Its default, 32 KiB, kept on purpose: libmicrohttpd
 * zeroes the whole of it before every request, so a larger pool costs
 * every request. With 128 KiB a 1.6 MB write body of 5,000 I1 lines
 * arrived in 23 reads instead of 90, but the import's CPU per value was
 * the same (0.269 against 0.268 s per million values, medians of 3
 * alternating runs of bench/ingest/ingest_cpu.py), while SHOW TAG VALUES
 * of 1,000 values took 37.7 instead of 34.7 to 35.8 us a request and an
 * empty request 22.5 instead of 21.1 us (medians of 300 requests in a
 * row, client and server on one CPU; 64 KiB: 35.4 to 36.3 and 21.4). */
#define CONN_MEMORY (32u * 1024)


struct route {
    const char *path;
    unsigned methods;
    bool body;
    void (*handle)(struct ne_admin *a, struct request *r, struct answer *out);
    struct ne_metric *requests; /* set at start */
};


/* ---- helpers ------------------------------------------------------------- */

static unsigned method_bit(const char *m)
{
    if (strcmp(m, "GET") == 0) return M_GET;
    if (strcmp(m, "HEAD") == 0) return M_HEAD;
    if (strcmp(m, "POST") == 0) return M_POST;
    return 0;
}

/* A JSON error body {"error":"msg"}; msg must need no escaping beyond
 * quotes, which are replaced. */
void agent__answer_error(struct answer *out, int status, const char *msg)
{
    out->status = status;
    size_t n = strlen(msg) + 16;
    char *b = ne_malloc(n);
    if (b) {
        int len = snprintf(b, n, "{\"error\":\"%s\"}\n", msg);
        for (int i = 10; i < len - 3; i++)
            if (b[i] == '"' || b[i] == '\\') b[i] = '\'';
        out->body = b;
        out->len = (size_t)len;
        out->content_type = "application/json";
    }
}

static char *token_copy(struct ne_admin *a)
{
    pthread_mutex_lock(&a->mu);
    char *t = a->token ? ne_strdup(a->token) : NULL;
    pthread_mutex_unlock(&a->mu);
    return t;
}

bool agent__token_equal(const char *given, const char *want)
{
    size_t gl = strlen(given), wl = strlen(want);
    unsigned char diff = (unsigned char)(gl != wl);
    for (size_t i = 0; i < wl; i++)
        diff |= (unsigned char)(want[i] ^ (i < gl ? given[i] : 0));
    return diff == 0;
}

/* Checks the token the way InfluxDB clients send it: "Authorization: Token
 * T" or "Bearer T", Basic with T as the password, or ?p=T. */
bool agent__authorized(struct ne_admin *a, struct MHD_Connection *c)
{
    char *want = token_copy(a);
    if (!want) return true;
    bool ok = false;
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    if (h && (strncasecmp(h, "Token ", 6) == 0 || strncasecmp(h, "Bearer ", 7) == 0))
        ok = agent__token_equal(strchr(h, ' ') + 1, want);
    if (!ok) {
        const char *p = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "p");
        ok = p && agent__token_equal(p, want);
    }
    if (!ok && h && strncasecmp(h, "Basic ", 6) == 0) {
        char *pass = NULL;
        char *user = MHD_basic_auth_get_username_password(c, &pass);
        ok = pass && agent__token_equal(pass, want);
        MHD_free(user);
        MHD_free(pass);
    }
    ne_free(want);
    return ok;
}

/* ---- handlers ------------------------------------------------------------ */

static void h_ping(struct ne_admin *a, struct request *r, struct answer *out)
{
    out->status = MHD_HTTP_NO_CONTENT;
    out->shared = a->ping;
}

static void h_health(struct ne_admin *a, struct request *r, struct answer *out)
{
    enum ne_health_status st;
    if (ne_agent_health_json(a->agent, &out->body, &out->len, &st) != 0) {
        out->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        return;
    }
    out->status = st == NE_HEALTH_FAILING ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK;
    out->content_type = "application/json";
}

/* Answers 200 with the JSON built in sb (taken over: sb is emptied), or
 * 500 when building it failed (rc). */
static void answer_json_sb(struct answer *out, struct agent__sbuf *sb, int rc)
{
    if (rc != 0) {
        agent__answer_error(out, MHD_HTTP_INTERNAL_SERVER_ERROR, ne_strerror(rc));
    } else {
        out->status = MHD_HTTP_OK;
        out->content_type = "application/json";
        out->body = sb->p; /* taken over */
        out->len = sb->len;
        sb->p = NULL;
    }
    agent__sb_free(sb);
}

/* The cluster as this node sees it (mod_cluster.h); 404 when clustering
 * is off. */
static void h_cluster(struct ne_admin *a, struct request *r, struct answer *out)
{
    struct agent__sbuf sb = {0};
    int rc = agent__cluster_json(a->agent, &sb);
    if (rc == NE_ENOTFOUND) {
        agent__answer_error(out, MHD_HTTP_NOT_FOUND,
                     "clustering is off: set cluster.listen and cluster.seeds");
        agent__sb_free(&sb);
        return;
    }
    answer_json_sb(out, &sb, rc);
}

/* The sinks of cloud sync (mod_sync.h); [] without sinks. */
static void h_sinks(struct ne_admin *a, struct request *r, struct answer *out)
{
    struct agent__sbuf sb = {0};
    (void)r;
    answer_json_sb(out, &sb, agent__sync_json(a->agent, &sb));
}

static void h_metrics(struct ne_admin *a, struct request *r, struct answer *out)
{
    out->body = ne_metrics_render(&out->len);
    out->status = out->body ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR;
    out->content_type = "text/plain; version=0.0.4; charset=utf-8";
}

static void h_flush(struct ne_admin *a, struct request *r, struct answer *out)
{
    if (!agent__authorized(a, r->conn)) {
        agent__answer_error(out, MHD_HTTP_UNAUTHORIZED, "authorization failed");
        return;
    }
    int rc = ne_store_flush(a->agent->store);
    if (rc == 0) {
        agent__sync_kick(a->agent); /* the new segment can go out now */
        out->status = MHD_HTTP_NO_CONTENT;
        return;
    }
    ne_log(NE_LOG_ERROR, MOD, "flush failed", "err", ne_strerror(rc), NULL);
    agent__answer_error(
        out, ne_err_retryable(rc) ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_INTERNAL_SERVER_ERROR,
        ne_strerror(rc));
}

/* POST /api/v1/cluster/decommission[?node=ID]: decommissions ID (this
 * node without it); same authorization as flush. 202: under way (GET
 * /api/v1/cluster on that node tells when it is done). */
static void h_decommission(struct ne_admin *a, struct request *r, struct answer *out)
{
    if (!agent__authorized(a, r->conn)) {
        agent__answer_error(out, MHD_HTTP_UNAUTHORIZED, "authorization failed");
        return;
    }
    const char *node = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "node");
    char err[256] = "";
    int rc = agent__cluster_decommission(a->agent, node, err, sizeof err);
    if (rc == 0) {
        out->status = MHD_HTTP_ACCEPTED;
        return;
    }
    agent__answer_error(out,
                 rc == NE_ENOTFOUND                        ? MHD_HTTP_NOT_FOUND
                 : ne_err_retryable(rc) || rc == NE_EAGAIN ? MHD_HTTP_SERVICE_UNAVAILABLE
                                                           : MHD_HTTP_BAD_GATEWAY,
                 err[0] ? err : ne_strerror(rc));
}

/* POST /api/v1/cluster/remove?node=ID: removes ID, a member that is
 * down, from the placement ring; same authorization as flush. 202:
 * removed (its shards are being copied); 409: it is running. */
static void h_remove(struct ne_admin *a, struct request *r, struct answer *out)
{
    if (!agent__authorized(a, r->conn)) {
        agent__answer_error(out, MHD_HTTP_UNAUTHORIZED, "authorization failed");
        return;
    }
    const char *node = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "node");
    char err[256] = "";
    int rc = agent__cluster_remove(a->agent, node, err, sizeof err);
    if (rc == 0) {
        out->status = MHD_HTTP_ACCEPTED;
        return;
    }
    agent__answer_error(out,
                 rc == NE_ENOTFOUND ? MHD_HTTP_NOT_FOUND
                 : rc == NE_EBUSY   ? MHD_HTTP_CONFLICT
                 : rc == NE_EINVAL  ? MHD_HTTP_BAD_REQUEST
                                    : MHD_HTTP_INTERNAL_SERVER_ERROR,
                 err[0] ? err : ne_strerror(rc));
}

static const char *req_query(void *ctx, const char *key)
{
    return MHD_lookup_connection_value(ctx, MHD_GET_ARGUMENT_KIND, key);
}

static const char *req_header(void *ctx, const char *name)
{
    return MHD_lookup_connection_value(ctx, MHD_HEADER_KIND, name);
}

/* Hands the request to the transport-free InfluxDB write handler and
 * copies its answer. */
static void h_write(struct ne_admin *a, struct request *r, struct answer *out)
{
    char *token = token_copy(a);
    struct ne_http_write_opts wo = {
        .auth_token = token,
        .max_body_bytes = a->max_body,
        .retry_after_s = 1,
        .batch = r->wb ? &r->wb->batch : NULL,
        .memo = r->wb ? r->wb->memo : NULL,
    };
    struct ne_http_req hr = {
        .method = r->method,
        .path = r->path,
        .query = req_query,
        .header = req_header,
        .ctx = r->conn,
        .body = r->body,
        .body_len = r->len,
    };
    struct ne_http_resp resp;
    memset(&resp, 0, sizeof(resp));
    int rc = ne_http_write_handle(&wo, &a->agent->sink, &hr, &resp);
    ne_free(token);
    if (rc != 0) {
        out->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        return;
    }
    out->status = resp.status;
    out->body = resp.body; /* taken over */
    out->len = resp.body_len;
    resp.body = NULL;
    if (resp.content_type[0]) {
        /* The write handler only ever answers JSON bodies. */
        out->content_type = "application/json";
    }
    snprintf(out->retry_after, sizeof(out->retry_after), "%s", resp.retry_after);
    snprintf(out->influx_error, sizeof(out->influx_error), "%s", resp.influx_error);
    ne_http_resp_free(&resp);
}

/* ---- /api/v1/segments (role central) ------------------------------------- */

/* Turns the receiver's reply into an answer. */
static void central_answer(const struct ne_central_reply *rep, struct answer *out)
{
    out->status = rep->status;
    out->body = ne_strdup(rep->body);
    out->len = out->body ? strlen(out->body) : 0;
    out->content_type = "application/json";
    if (rep->retry_after_s > 0)
        snprintf(out->retry_after, sizeof(out->retry_after), "%d", rep->retry_after_s);
}

/* The whole body is on disk: the receiver checks and merges it. */
static void h_segments(struct ne_admin *a, struct request *r, struct answer *out)
{
    struct ne_central_reply rep;
    ne_central_finish(r->push, &rep);
    central_answer(&rep, out);
}

/* ---- console and status -------------------------------------------------- */

static void h_root(struct ne_admin *a, struct request *r, struct answer *out)
{
    out->status = MHD_HTTP_FOUND;
    out->location = "/console";
}

/* The embedded page (agent/console/console.h). It holds no data: what it
 * shows comes from the API, each route with its own auth. */
static void h_console(struct ne_admin *a, struct request *r, struct answer *out)
{
    if (agent__console_html_len == 0) {
        agent__answer_error(out, MHD_HTTP_NOT_FOUND,
                     "the web console was left out of this build (NE_CONSOLE=OFF)");
        return;
    }
    out->status = MHD_HTTP_OK;
    out->content_type = "text/html; charset=utf-8";
    out->body = (char *)agent__console_html;
    out->len = agent__console_html_len;
    out->body_static = true;
    out->page = true;
}

/* Node, version, uptime, store figures and a config summary (status.h).
 * Guarded like query: it names paths and addresses of the node. */
static void h_status(struct ne_admin *a, struct request *r, struct answer *out)
{
    if (!agent__authorized(a, r->conn)) {
        agent__answer_error(out, MHD_HTTP_UNAUTHORIZED, "authorization failed");
        return;
    }
    char *token = token_copy(a);
    bool auth = token != NULL;
    ne_free(token);
    struct agent__sbuf sb = {0};
    answer_json_sb(out, &sb, agent__status_json(a->agent, auth, &sb) ? NE_ENOMEM : 0);
}

static struct route routes[] = {
    {"/", M_GET | M_HEAD, false, h_root, NULL},
    {"/console", M_GET | M_HEAD, false, h_console, NULL},
    {"/api/v1/status", M_GET | M_HEAD, false, h_status, NULL},
    {"/ping", M_GET | M_HEAD, false, h_ping, NULL},
    {"/health", M_GET | M_HEAD, false, h_health, NULL},
    {"/metrics", M_GET | M_HEAD, false, h_metrics, NULL},
    {"/write", M_POST, true, h_write, NULL},
    {"/api/v2/write", M_POST, true, h_write, NULL},
    {"/api/v1/flush", M_POST, false, h_flush, NULL},
    {"/api/v1/cluster", M_GET | M_HEAD, false, h_cluster, NULL},
    {"/api/v1/cluster/decommission", M_POST, false, h_decommission, NULL},
    {"/api/v1/cluster/remove", M_POST, false, h_remove, NULL},
    {"/api/v1/sinks", M_GET | M_HEAD, false, h_sinks, NULL},
    {"/query", M_GET | M_POST, true, agent__h_query, NULL},
    {"/api/v1/segments", M_POST, true, h_segments, NULL},
};

#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static struct route *find_route(const char *path)
{
    for (size_t i = 0; i < NROUTES; i++)
        if (strcmp(routes[i].path, path) == 0) return &routes[i];
    return NULL;
}

/* ---- libmicrohttpd glue -------------------------------------------------- */

/* The headers of every answer. */
static void add_common_headers(struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Influxdb-Version", NE_HTTP_INFLUX_VERSION);
    MHD_add_response_header(resp, "X-Influxdb-Build", "OSS");
    MHD_add_response_header(resp, "X-Neoedge-Version", ne_agent_version_short());
}

/* The empty 204 answer of /ping, with the common headers; NULL when out
 * of memory. The caller owns it (MHD_destroy_response). */
static struct MHD_Response *ping_response(void)
{
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (resp) add_common_headers(resp);
    return resp;
}

static enum MHD_Result send_answer(struct MHD_Connection *c, struct answer *ans)
{
    if (ans->shared) return MHD_queue_response(c, (unsigned)ans->status, ans->shared);
    struct MHD_Response *resp;
    if (ans->stream)
        resp = ans->stream;
    else if (ans->body && ans->body_static)
        resp = MHD_create_response_from_buffer(ans->len, ans->body, MHD_RESPMEM_PERSISTENT);
    else if (ans->body)
        resp = MHD_create_response_from_buffer_with_free_callback(ans->len, ans->body, ne_free);
    else
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    if (!resp) {
        if (!ans->body_static) ne_free(ans->body);
        return MHD_NO;
    }
    ans->body = NULL; /* the response owns it now */
    add_common_headers(resp);
    if (ans->content_type)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ans->content_type);
    if (ans->retry_after[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, ans->retry_after);
    if (ans->influx_error[0]) MHD_add_response_header(resp, "X-Influxdb-Error", ans->influx_error);
    if (ans->location) MHD_add_response_header(resp, MHD_HTTP_HEADER_LOCATION, ans->location);
    if (ans->page) {
        /* Everything the page needs is inline; it talks to this origin only. */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'none'; script-src 'unsafe-inline'; "
                                "style-src 'unsafe-inline'; img-src 'self' data: blob:; "
                                "connect-src 'self'; frame-ancestors 'none'");
    }
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)ans->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result answer_now(struct MHD_Connection *c, int status, const char *msg)
{
    struct answer ans = {0};
    if (msg) agent__answer_error(&ans, status, msg);
    ans.status = status;
    return send_answer(c, &ans);
}

/* The declared Content-Length, or 0 when absent or unreadable (chunked). */
static uint64_t declared_length(struct MHD_Connection *c)
{
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (!cl) return 0;
    char *end = NULL;
    errno = 0;
    unsigned long long n = strtoull(cl, &end, 10);
    return errno == 0 && end != cl ? (uint64_t)n : 0;
}

/* Kept write buffers, or new empty ones (NULL without memory: the
 * request then allocates its own). */
static struct wbufs *wbufs_take(struct ne_admin *a)
{
    pthread_mutex_lock(&a->pool_mu);
    struct wbufs *w = a->pool;
    if (w) {
        a->pool = w->next;
        a->npool--;
    }
    pthread_mutex_unlock(&a->pool_mu);
    if (!w && (w = ne_calloc(1, sizeof *w))) {
        ne_batch_init(&w->batch);
        (void)ne_series_memo_new(0, &w->memo); /* without one, writes decode in full */
    }
    return w;
}

static void wbufs_free(struct wbufs *w)
{
    ne_free(w->body);
    ne_batch_free(&w->batch);
    ne_series_memo_free(w->memo);
    ne_free(w);
}

/* Bytes held by w's arrays (the batch arena's first chunk aside). */
static size_t wbufs_bytes(const struct wbufs *w)
{
    const struct ne_batch *b = &w->batch;
    return w->cap + (size_t)b->cap_pts * sizeof *b->pts + (size_t)b->cap_tags * sizeof *b->tags +
           (size_t)b->cap_fields * sizeof *b->fields;
}

/* Keeps w for a later request, or frees it when enough are kept or it
 * grew too large to hold on to. */
static void wbufs_put(struct ne_admin *a, struct wbufs *w)
{
    bool keep = wbufs_bytes(w) <= WBUFS_KEEP_BYTES;
    if (keep) {
        pthread_mutex_lock(&a->pool_mu);
        keep = a->npool < a->pool_max;
        if (keep) {
            w->next = a->pool;
            a->pool = w;
            a->npool++;
        }
        pthread_mutex_unlock(&a->pool_mu);
    }
    if (!keep) wbufs_free(w);
}

/* Grows the body buffer to hold need bytes (plus a NUL): the declared
 * length when known (one allocation), else doubling from 64 KiB. */
static int grow_body(struct request *r, size_t need)
{
    if (!r->body && r->wb && r->wb->body) { /* the kept buffer first */
        r->body = r->wb->body;
        r->cap = r->wb->cap;
        r->wb->body = NULL;
        r->wb->cap = 0;
        if (need + 1 <= r->cap) return 0;
    }
    size_t cap = r->cap ? r->cap * 2 : (r->expect ? r->expect + 1 : 64 * 1024);
    while (cap < need + 1)
        cap *= 2;
    char *p = ne_realloc(r->body, cap);
    if (!p) return NE_ENOMEM;
    r->body = p;
    r->cap = cap;
    return 0;
}

static void append_body(struct ne_admin *a, struct request *r, const char *data, size_t n)
{
    if (r->too_big || r->nomem) return;
    if (a->max_body && r->len + n > a->max_body) {
        r->too_big = true; /* drop what we have and everything after */
        ne_free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
        return;
    }
    if (r->len + n + 1 > r->cap && grow_body(r, r->len + n) != 0) {
        r->nomem = true; /* answered 503: the client may retry */
        ne_free(r->body);
        r->body = NULL;
        r->len = r->cap = 0;
        return;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
}

static enum MHD_Result send_central_reply(struct MHD_Connection *c,
                                          const struct ne_central_reply *rep)
{
    struct answer ans = {0};
    central_answer(rep, &ans);
    return send_answer(c, &ans);
}

/* The segment push route streams its body: the receiver checks the
 * headers (and may answer at once, before the body is read), then writes
 * the body to a file as it arrives, never to memory; the size limit is
 * central.max_segment_size, not max_body_bytes. */
static enum MHD_Result first_call_stream(struct ne_admin *a, struct MHD_Connection *c,
                                         struct route *rt, const char *url, const char *method,
                                         void **con_cls)
{
    if (!a->central)
        return answer_now(c, MHD_HTTP_NOT_FOUND,
                          "segment pushes go to a central node; this node runs with role gateway");
    const char *cl =
        MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    struct ne_central_reply rep;
    struct ne_central_push *push = NULL;
    int rc =
        ne_central_begin(a->central, req_header, c, declared_length(c), cl != NULL, &push, &rep);
    if (rc != 0) return send_central_reply(c, &rep);
    struct request *r = ne_calloc(1, sizeof(*r));
    if (!r) {
        ne_central_push_free(&push);
        return answer_now(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    }
    r->push = push;
    r->route = rt;
    r->conn = c;
    r->method = method;
    r->path = url;
    *con_cls = r;
    return MHD_YES;
}

/* 413 for a body over max_body_bytes; a write's is counted with the
 * rejected payloads (its points were never read, so none are counted). */
static enum MHD_Result answer_too_large(struct MHD_Connection *c, const struct route *rt)
{
    if (rt->handle == h_write) ne_ingest_count_rejected("http", "too_large", 0);
    return answer_now(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large");
}

static enum MHD_Result first_call(struct ne_admin *a, struct MHD_Connection *c, const char *url,
                                  const char *method, void **con_cls)
{
    struct route *rt = find_route(url);
    if (!rt) return answer_now(c, MHD_HTTP_NOT_FOUND, "not found");
    unsigned mb = method_bit(method);
    if (!(rt->methods & mb))
        return answer_now(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed");
    ne_metric_inc(rt->requests);
    if (rt->handle == h_segments) return first_call_stream(a, c, rt, url, method, con_cls);
    uint64_t expect = rt->body ? declared_length(c) : 0;
    if (a->max_body && expect > a->max_body) return answer_too_large(c, rt);
    struct request *r = ne_calloc(1, sizeof(*r));
    if (!r) return answer_now(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    r->expect = (size_t)expect;
    if (rt->handle == h_write) r->wb = wbufs_take(a);
    r->route = rt;
    r->conn = c;
    r->method = method;
    r->path = url;
    *con_cls = r;
    return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct ne_admin *a = cls;
    struct request *r = *con_cls;
    if (!r) return first_call(a, c, url, method, con_cls);
    if (*upload_data_size > 0) {
        if (r->push)
            ne_central_body(r->push, upload_data, *upload_data_size);
        else if (r->route->body)
            append_body(a, r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->job) return send_answer(c, agent__query_job_answer(r->job)); /* resumed */
    if (r->too_big) return answer_too_large(c, r->route);
    if (r->nomem) return answer_now(c, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
    struct answer ans = {0};
    r->route->handle(a, r, &ans);
    if (r->job) return MHD_YES; /* suspended: answered once the query has run */
    return send_answer(c, &ans);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct ne_admin *a = cls;
    struct request *r = *con_cls;
    if (!r) return;
    ne_central_push_free(&r->push);
    agent__query_job_free(r->job);
    if (r->wb) {
        if (r->body) { /* the body buffer goes back with the batch */
            ne_free(r->wb->body);
            r->wb->body = r->body;
            r->wb->cap = r->cap;
            r->body = NULL;
        }
        wbufs_put(a, r->wb);
    }
    ne_free(r->body);
    ne_free(r);
    *con_cls = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    ne_log(NE_LOG_WARN, MOD, msg, NULL);
}

/* ---- listening socket -------------------------------------------------------- */

/* Splits "host:port" / "[v6]:port" / ":port". */
static int split_listen(const char *addr, char *host, size_t hn, char *port, size_t pn)
{
    const char *colon = strrchr(addr, ':');
    if (!colon || !colon[1]) return NE_EINVAL;
    const char *h = addr;
    size_t hl = (size_t)(colon - addr);
    if (hl >= 2 && h[0] == '[' && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl >= hn || strlen(colon + 1) >= pn) return NE_EINVAL;
    memcpy(host, h, hl);
    host[hl] = '\0';
    snprintf(port, pn, "%s", colon + 1);
    return 0;
}

static int bind_listen(const char *addr, int *out_fd, int *out_port)
{
    char host[256], port[32];
    if (!addr || split_listen(addr, host, sizeof(host), port, sizeof(port)) != 0) {
        fprintf(stderr, "http.listen %s: expected HOST:PORT\n", addr ? addr : "(null)");
        return NE_EINVAL;
    }
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai = NULL;
    int g = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
    if (g != 0) {
        fprintf(stderr, "http.listen %s: %s\n", addr, gai_strerror(g));
        return NE_EINVAL;
    }
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    int rc = 0;
    if (fd < 0) {
        rc = ne_err_from_errno(errno);
        fprintf(stderr, "http.listen %s: socket: %s\n", addr, strerror(errno));
        goto out;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 256) != 0) {
        int e = errno;
        rc = e == EADDRINUSE ? NE_EADDRINUSE : ne_err_from_errno(e);
        fprintf(stderr, "http.listen %s: %s\n", addr,
                e == EADDRINUSE ? "address already in use" : strerror(e));
        close(fd);
        goto out;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    getsockname(fd, (struct sockaddr *)&ss, &sl);
    *out_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                               : ((struct sockaddr_in *)&ss)->sin_port);
    *out_fd = fd;
out:
    freeaddrinfo(ai);
    return rc;
}

/* ---- start / stop ------------------------------------------------------------ */

static void register_route_metrics(void)
{
    for (size_t i = 0; i < NROUTES; i++) {
        char labels[128];
        snprintf(labels, sizeof(labels), "path=\"%s\"", routes[i].path);
        routes[i].requests = ne_metric_counter("neoedge_http_requests_total",
                                               "HTTP requests received, by route", labels);
    }
}

/* role central: the receiver of segment pushes (agent/central.h). */
static int central_start(struct ne_admin *a, struct ne_agent *ag)
{
    if (!ag || !ag->cfg || ag->cfg->role != NE_ROLE_CENTRAL) return 0;
    struct ne_central_opts co = {
        .data_dir = ag->data_dir,
        .token = ag->cfg->central.token,
        .max_bundle_bytes = ag->cfg->central.max_segment_bytes,
        .store = ag->store,
        .sink = &ag->sink,
    };
    int rc = ne_central_open(&co, &a->central);
    if (rc)
        ne_log(NE_LOG_ERROR, MOD, "cannot start receiving segment pushes", "err", ne_strerror(rc),
               NULL);
    return rc;
}

static void admin_free(struct ne_admin *a)
{
    if (a->ping) MHD_destroy_response(a->ping);
    agent__workers_free(&a->queries);
    ne_central_close(&a->central);
    while (a->pool) {
        struct wbufs *w = a->pool;
        a->pool = w->next;
        wbufs_free(w);
    }
    pthread_mutex_destroy(&a->pool_mu);
    pthread_mutex_destroy(&a->mu);
    ne_free(a->token);
    ne_free(a);
}

int ne_admin_start(const struct ne_admin_opts *o, struct ne_admin **out)
{
    struct ne_admin *a = ne_calloc(1, sizeof(*a));
    if (!a) return NE_ENOMEM;
    pthread_mutex_init(&a->mu, NULL);
    pthread_mutex_init(&a->pool_mu, NULL);
    a->pool_max = o->threads > 0 ? (unsigned)o->threads : 1;
    a->max_body = o->max_body_bytes;
    a->default_db = o->default_database;
    a->agent = o->agent;
    if (o->auth_token && *o->auth_token && !(a->token = ne_strdup(o->auth_token))) {
        admin_free(a);
        return NE_ENOMEM;
    }
    int rc = ne_procstats_register(ne_agent_version());
    if (rc != 0) {
        admin_free(a);
        return rc;
    }
    register_route_metrics();
    a->ping = ping_response();
    if (!a->ping) {
        admin_free(a);
        return NE_ENOMEM;
    }
    rc = central_start(a, o->agent);
    if (rc != 0) {
        admin_free(a);
        return rc;
    }

    int fd = -1;
    rc = bind_listen(o->listen, &fd, &a->port);
    if (rc != 0) {
        admin_free(a);
        return rc;
    }
    unsigned threads = o->threads > 0 ? (unsigned)o->threads : 1;
    rc = agent__workers_start(threads, "ne-query", &a->queries);
    if (rc != 0) {
        close(fd);
        admin_free(a);
        return rc;
    }
    a->mhd = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG |
                                  MHD_ALLOW_SUSPEND_RESUME,
                              0, NULL, NULL, on_request, a, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
                              a, MHD_OPTION_LISTEN_SOCKET, (MHD_socket)fd,
                              /* 0: no pool, its one thread (a pool of 1 is refused with a warning) */
                              MHD_OPTION_THREAD_POOL_SIZE, threads > 1 ? threads : 0u,
                              MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
                              MHD_OPTION_CONNECTION_TIMEOUT,
                              (unsigned)120, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1024,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, a, MHD_OPTION_END);
    if (!a->mhd) {
        fprintf(stderr, "http.listen %s: cannot start the HTTP server\n", o->listen);
        close(fd);
        admin_free(a);
        return NE_EIO;
    }
    char pbuf[16], tbuf[16];
    snprintf(pbuf, sizeof(pbuf), "%d", a->port);
    snprintf(tbuf, sizeof(tbuf), "%u", threads);
    ne_log(NE_LOG_INFO, MOD, "listening", "listen", o->listen, "port", pbuf, "threads", tbuf,
           "auth", a->token ? "token" : "off", NULL);
    *out = a;
    return 0;
}

void ne_admin_stop(struct ne_admin **ap)
{
    struct ne_admin *a = ap ? *ap : NULL;
    if (!a) return;
    /* The queries in flight end first and resume their connections
     * (libmicrohttpd must not stop with a connection suspended); a query
     * arriving meanwhile runs on its HTTP thread. Then the server stops
     * accepting and waits for its threads: requests in flight end. */
    agent__workers_stop(a->queries);
    MHD_stop_daemon(a->mhd);
    admin_free(a);
    *ap = NULL;
}

void ne_admin_set_auth_token(struct ne_admin *a, const char *token)
{
    if (!a) return;
    char *t = token && *token ? ne_strdup(token) : NULL;
    if (token && *token && !t) {
        ne_log(NE_LOG_ERROR, MOD, "cannot apply the new auth token", "err", ne_strerror(NE_ENOMEM),
               NULL);
        return;
    }
    pthread_mutex_lock(&a->mu);
    char *old = a->token;
    bool same = (!old && !t) || (old && t && strcmp(old, t) == 0);
    a->token = t;
    pthread_mutex_unlock(&a->mu);
    ne_free(old);
    if (same) return;
    ne_log(NE_LOG_INFO, MOD, "auth token updated", "auth", t ? "token" : "off", NULL);
}

int ne_admin_port(const struct ne_admin *a)
{
    return a ? a->port : 0;
}
