/*
 * internal.h - what the files of the S3 client share (module-internal).
 */
#ifndef NE_SYNC_S3_INTERNAL_H
#define NE_SYNC_S3_INTERNAL_H

#include <curl/curl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sync/s3/s3.h"
#include "sync/s3/sigv4.h"

/* A growable byte buffer (response bodies, XML). */
struct s3_buf {
    char *p;
    size_t len, cap;
};

int s3__buf_put(struct s3_buf *b, const void *p, size_t n);
int s3__buf_printf(struct s3_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void s3__buf_free(struct s3_buf *b);

struct ne_s3 {
    CURL *curl;
    char *scheme;    /* "http" or "https" */
    char *authority; /* host[:port] of the endpoint, port omitted when default */
    char *bucket;
    char *prefix; /* "" when none */
    char *region;
    char *ca_file;
    struct ne_s3_creds creds;
    struct ne_s3_opts o; /* numeric options (string pointers cleared) */
    uint8_t *body;       /* request body buffer (one part or one small object) */
    size_t body_cap;
    struct s3_buf resp; /* last response body */
    struct ne_s3_stats st;
    struct ne_metric *m_requests, *m_retries, *m_bytes, *m_failures; /* registry-owned */
    uint64_t rng;
    char err[NE_S3_ERR_MAX];
    struct ne_s3_failure fail; /* kind of the last failed attempt (ne_s3_last_failure) */
    bool stopped;              /* the progress callback stopped the current upload */
};

/* One logical request; the engine signs and sends it, retrying as needed. */
struct s3_req {
    const char *method;  /* "GET", "PUT", "POST", "HEAD", "DELETE" */
    const char *key;     /* object key without prefix; NULL: the bucket */
    const char *query;   /* canonical query string or NULL */
    const uint8_t *body; /* borrowed; NULL for none */
    size_t body_len;
    const char *content_type; /* sent (and signed); default for a body: octet-stream */
    size_t max_resp;          /* response body limit (0: 1 MiB) */
};

struct s3_resp {
    long status;
    char etag[NE_S3_ETAG_MAX];
    uint64_t content_length;
    bool has_length;
    char code[64]; /* S3 error code ("" when none) */
};

/* Sends r with retries. The response body is in c->resp. Returns 0 for a
 * 2xx answer, else NE_EPERM (403), NE_ENOTFOUND (404), NE_EAGAIN (5xx/429
 * after the retries), NE_ETIMEOUT, NE_EIO, NE_ETOOBIG; *out is filled for
 * any HTTP answer. c->err says what failed. Logs nothing: the caller does. */
int s3__request(struct ne_s3 *c, const struct s3_req *r, struct s3_resp *out);

/* Finds the text of the first <tag>...</tag> in [s, e). Returns false if
 * absent; vs and ve delimit the raw (still escaped) text. */
bool s3__xml_find(const char *s, const char *e, const char *tag, const char **vs, const char **ve);

/* Copies XML text with the five entities and &#N; / &#xN; decoded.
 * Returns 0 or NE_ETOOBIG. */
int s3__xml_text(const char *s, const char *e, char *out, size_t cap);

/* Escapes s for XML text into b. */
int s3__xml_escape(struct s3_buf *b, const char *s);

/* Ensures c->body holds n bytes. */
int s3__body_reserve(struct ne_s3 *c, size_t n);

#endif
