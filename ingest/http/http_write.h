/*
 * http_write.h - the InfluxDB-compatible write endpoints, without a transport.
 *
 * agent/ owns the HTTP server (libmicrohttpd); for each request on one of
 * the paths below it fills a struct ne_http_req (callbacks for query
 * parameters and headers, the whole body) and sends back the struct
 * ne_http_resp this handler fills. Nothing here knows about sockets, so the
 * same handler serves any transport and is tested without one.
 *
 * Endpoints:
 *   POST /write          InfluxDB 1.x: db (required), precision (n/ns, u/us,
 *                        ms, s, m, h), rp and consistency ignored; credentials
 *                        from u/p query parameters, Basic, Token or Bearer.
 *   POST /api/v2/write   InfluxDB 2.x: bucket (required; "db/rp" maps to db),
 *                        org/orgID ignored, precision (ns, us, ms, s);
 *                        credentials from "Authorization: Token <token>".
 *   GET|HEAD /ping       204 (clients probe it; 1.x also on /ping?verbose).
 * Databases need no creation: the store creates one on its first write, so
 * InfluxDB's 404 "database not found" never happens.
 *
 * Bodies are line protocol, optionally "Content-Encoding: gzip" (inflated
 * with zlib). max_body_bytes bounds the body as received and once inflated.
 *
 * Answers (1.x bodies are {"error":"..."}, 2.x bodies {"code":"...",
 * "message":"..."}; the message is also put in X-Influxdb-Error):
 *   204  everything written;
 *   400  a parse error with nothing to write ("unable to parse '...': ..."),
 *        or a partial write ("partial write: <first reason> dropped=N") when
 *        some lines or points were refused and the rest was written;
 *        a missing db/bucket, a bad precision;
 *   401  auth_token is set and the request does not carry it;
 *   405  a method other than POST (GET/HEAD for /ping);
 *   413  the body is larger than max_body_bytes (raw or inflated);
 *   415  a Content-Encoding other than identity or gzip;
 *   503  + Retry-After: the store is applying backpressure (NE_EBUSY) or is
 *        recovering from a failed fsync (NE_EFAILED), or memory ran out
 *        while decoding; nothing was written;
 *   507  the disk is full (NE_ENOSPC); nothing was written, retry later;
 *   500  anything else.
 * Clients such as Telegraf retry 5xx answers and drop 4xx ones, which is
 * what each case needs. Every refused point is counted with
 * ne_ingest_count_* (source "http").
 */
#ifndef NE_INGEST_HTTP_HTTP_WRITE_H
#define NE_INGEST_HTTP_HTTP_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/ingest.h"

/* The InfluxDB version announced in X-Influxdb-Version (clients check it). */
#define NE_HTTP_INFLUX_VERSION "1.8.10"

struct ne_http_write_opts {
    const char *auth_token;  /* NULL or "": no authentication */
    uint64_t max_body_bytes; /* 0: 25 MiB (InfluxDB's default) */
    int retry_after_s;       /* Retry-After on 503/507; 0: 1 second */
    /* NULL: the body is decoded into a batch made for the request. Else a
     * batch the caller keeps between requests (ne_batch_init'ed, borrowed
     * for the call): it is reset before and after use, so its arrays are
     * reused rather than allocated, faulted in and freed per request. */
    struct ne_batch *batch;
    /* NULL, or a series memo the caller keeps between requests with the
     * batch (borrowed for the call, see ne_series_memo in decode.h): lines
     * of series seen in earlier requests skip parsing their tags. */
    struct ne_series_memo *memo;
};

/* One request. Everything is borrowed for the duration of the call. */
struct ne_http_req {
    const char *method; /* "POST", "GET", ... */
    const char *path;   /* without the query string */
    /* Returns the (URL-decoded) value of a query parameter, NULL if absent. */
    const char *(*query)(void *ctx, const char *key);
    /* Returns a request header (case-insensitive name), NULL if absent. */
    const char *(*header)(void *ctx, const char *name);
    void *ctx;
    const char *body; /* the whole body as received (may be NULL if 0) */
    size_t body_len;
};

/* The answer. Zero it before the call; release with ne_http_resp_free. */
struct ne_http_resp {
    int status;
    char content_type[64]; /* "application/json", or "" for no body */
    char *body;            /* owned (ne_malloc); NULL for 204 */
    size_t body_len;
    char retry_after[16];   /* Retry-After value, "" if none */
    char influx_error[512]; /* X-Influxdb-Error value, "" if none */
    /* Always send X-Influxdb-Version: NE_HTTP_INFLUX_VERSION as well. */
    uint32_t points_written; /* for the access log */
    uint32_t points_dropped;
};

/* True if (method-independent) path is one this handler serves. */
bool ne_http_write_path(const char *path);

/* Handles one request and fills *resp (status, body, headers), calling
 * sink->write once for a well-formed body. Returns 0 when *resp holds an
 * answer to send (including 4xx/5xx ones); NE_ENOTFOUND if the path is not
 * one of ours (resp untouched); NE_ENOMEM if no answer could be built (send
 * a bare 500). Thread-safe: concurrent calls share nothing but the sink. */
int ne_http_write_handle(const struct ne_http_write_opts *opts, const struct ne_ingest_sink *sink,
                         const struct ne_http_req *req, struct ne_http_resp *resp);

/* Frees resp->body and sets it to NULL. NULL-safe. */
void ne_http_resp_free(struct ne_http_resp *resp);

#endif
