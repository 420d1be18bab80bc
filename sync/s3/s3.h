/*
 * s3.h - the S3 client used by cloud sync.
 *
 * One client (struct ne_s3) talks to one bucket through libcurl over one
 * reused connection. It signs every request with AWS Signature Version 4
 * (our own signer, see sigv4.h: libcurl 7.88's CURLOPT_AWS_SIGV4 neither
 * canonicalises query strings such as "?uploads" nor hashes streamed
 * bodies), always with the real SHA-256 of the payload in
 * x-amz-content-sha256, a Content-MD5 integrity checksum on every body it
 * sends, and x-amz-security-token when a session token is set.
 *
 * Uploads: ne_s3_put_object streams the body from a positional reader.
 * Below opts.multipart_threshold it sends one PUT; at or above it, a
 * multipart upload (CreateMultipartUpload, UploadPart..., Complete). The
 * multipart progress lives in a struct ne_s3_upload the caller may persist
 * (ne_s3_upload_encode/decode, a checksummed binary record) after each
 * progress callback; handing the decoded state back to ne_s3_put_object
 * resumes the upload: the client asks the server which parts it holds
 * (ListParts), uploads the rest and completes. ne_s3_upload_abort gives up
 * an upload cleanly instead.
 *
 * Retries: 5xx, 429, timeouts and connection errors are retried up to
 * opts.max_retries times with exponential backoff and full jitter. A 403 is
 * never retried: it returns NE_EPERM and ne_s3_last_error() says why, e.g.
 * "s3 403 SignatureDoesNotMatch: The request signature we calculated ...".
 *
 * Keys are used as given (after opts.prefix); choosing deterministic keys
 * is the caller's job. A client is not thread-safe: use one per thread.
 * All calls return 0 or a negative NE_E* code (ports/err.h).
 */
#ifndef NE_SYNC_S3_H
#define NE_SYNC_S3_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NE_S3_MIN_PART_SIZE (5ull << 20) /* AWS minimum for all but the last part */
#define NE_S3_MAX_PARTS     10000u       /* AWS maximum part count */
#define NE_S3_ETAG_MAX      96           /* ETag text (quotes included), NUL-terminated */
#define NE_S3_UPLOAD_ID_MAX 1024         /* longest accepted UploadId */
#define NE_S3_ERR_MAX       256          /* ne_s3_last_error() buffer */

/* Client options. Strings are borrowed during ne_s3_open only (copied).
 * Always start from ne_s3_opts_init(): a zeroed struct would turn TLS
 * verification off. */
struct ne_s3_opts {
    const char *endpoint;   /* "http(s)://host[:port]"; NULL: https://s3.<region>.amazonaws.com */
    const char *region;     /* NULL: credentials resolution (AWS_REGION), else "us-east-1" */
    const char *bucket;     /* required */
    const char *prefix;     /* prepended to every key as is (e.g. "site1/"); may be NULL */
    bool path_style;        /* true: endpoint/bucket/key; false: bucket.host/key */
    const char *access_key; /* NULL: see ne_s3_creds_resolve */
    const char *secret_key;
    const char *session_token;      /* optional; sent as x-amz-security-token */
    uint64_t bandwidth_bytes_per_s; /* upload cap (CURLOPT_MAX_SEND_SPEED_LARGE); 0 = none */
    uint64_t part_size;             /* multipart part size; default 8 MiB, min 5 MiB */
    uint64_t multipart_threshold;   /* objects >= this go multipart; default 8 MiB, max 1 GiB
                                       (a single PUT is held in memory) */
    int64_t connect_timeout_ms;     /* default 5000 */
    int64_t timeout_ms;             /* whole-request limit; default 120000 */
    int max_retries;                /* retries after the first attempt; default 5 */
    int64_t backoff_base_ms;        /* first backoff ceiling; default 200 */
    int64_t backoff_max_ms;         /* backoff ceiling cap; default 20000 */
    bool verify_tls;                /* default true (peer and host name) */
    const char *ca_file;            /* optional CA bundle (PEM) */
    bool allow_small_parts;         /* tests only: accept part_size below 5 MiB */
};

/* Fills o with the defaults above (everything else NULL/0). */
void ne_s3_opts_init(struct ne_s3_opts *o);

/* ---- credentials ---------------------------------------------------------- */

struct ne_s3_creds {
    char access_key[128];
    char secret_key[128];
    char session_token[2048]; /* "" when none */
    char region[64];          /* "" when none found */
};

/* Resolves credentials in this order: the given values (access_key and
 * secret_key both set; session_token and region taken along), else the
 * environment AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN,
 * else the shared credentials file (AWS_SHARED_CREDENTIALS_FILE, else
 * $HOME/.aws/credentials), profile AWS_PROFILE or "default". The region is
 * the given one, else AWS_REGION, else AWS_DEFAULT_REGION, else the
 * profile's "region" key, else "". Any argument may be NULL. Returns 0,
 * NE_ENOTFOUND when no source has keys, NE_ETOOBIG for an oversized value. */
int ne_s3_creds_resolve(const char *access_key, const char *secret_key, const char *session_token,
                        const char *region, struct ne_s3_creds *out);

/* Parses the text of a shared credentials file (INI: [profile] sections,
 * key = value, '#' or ';' comments) and copies aws_access_key_id,
 * aws_secret_access_key, aws_session_token and region of `profile` into
 * out (fields not present are left alone). Returns 0, NE_ENOTFOUND if the
 * profile or its key pair is missing, NE_ETOOBIG for an oversized value. */
int ne_s3_creds_parse(const char *text, size_t len, const char *profile, struct ne_s3_creds *out);

/* ---- the client ----------------------------------------------------------- */

struct ne_s3; /* opaque; owned by the caller of ne_s3_open */

/* Validates opts, resolves credentials (ne_s3_creds_resolve) and creates a
 * client. NE_EINVAL for bad options, NE_ENOTFOUND without credentials. */
int ne_s3_open(const struct ne_s3_opts *opts, struct ne_s3 **out);

/* Releases *cp and sets it to NULL. NULL-safe. */
void ne_s3_close(struct ne_s3 **cp);

/* The last failure of this client as text ("" after a success), e.g.
 * "s3 403 SignatureDoesNotMatch: ..." or "s3 connect: Couldn't connect".
 * Borrowed; valid until the next call on the client. */
const char *ne_s3_last_error(const struct ne_s3 *c);

/* How the last failure of this client came about, for callers that sort
 * failures into kinds (the sink's retry policy and error metrics). */
enum ne_s3_fail_kind {
    NE_S3_FAIL_NONE = 0, /* the last request succeeded (or none was sent) */
    NE_S3_FAIL_HTTP,     /* the server answered an error: status and code say which */
    NE_S3_FAIL_CONNECT,  /* no connection: refused, DNS, TLS, reset or closed early */
    NE_S3_FAIL_TIMEOUT,  /* the request timed out */
    NE_S3_FAIL_OTHER,    /* a local or protocol failure (memory, oversized answer) */
};

struct ne_s3_failure {
    enum ne_s3_fail_kind kind;
    long status;   /* HTTP status with NE_S3_FAIL_HTTP, else 0 */
    char code[64]; /* S3 error code, e.g. "SlowDown", "SignatureDoesNotMatch"; "" when none */
};

/* Fills *out with the last failed attempt of the last request (after its
 * retries), or NE_S3_FAIL_NONE when that request succeeded. Reset by every
 * ne_s3_put_object call and every successful request. */
void ne_s3_last_failure(const struct ne_s3 *c, struct ne_s3_failure *out);

/* Counters of this client since ne_s3_open. The process-wide totals are
 * in /metrics: neoedge_s3_requests_total, neoedge_s3_retries_total,
 * neoedge_s3_upload_bytes_total, neoedge_s3_failures_total. */
struct ne_s3_stats {
    uint64_t requests;   /* HTTP attempts made, retries included */
    uint64_t retries;    /* attempts that were retries */
    uint64_t bytes_sent; /* request body bytes handed to the network */
};
void ne_s3_stats(const struct ne_s3 *c, struct ne_s3_stats *out);

/* Streams an object body: read fills buf with up to len bytes from offset
 * off and sets *nread (short only at the end; it is never asked for bytes
 * at or past size). The same offset must give the same bytes every time:
 * resumed uploads read again. Returns 0 or an NE_E* code, which the upload
 * returns. */
struct ne_s3_reader {
    int (*read)(void *ctx, uint64_t off, void *buf, size_t len, size_t *nread);
    void *ctx;
    uint64_t size; /* body length in bytes */
};

/* A reader over memory (ctx is the buffer; borrowed). */
struct ne_s3_reader ne_s3_reader_mem(const void *buf, size_t len);

/* One uploaded part of a multipart upload. */
struct ne_s3_part {
    uint32_t number;           /* 1-based */
    char etag[NE_S3_ETAG_MAX]; /* "" while not uploaded */
};

/* Multipart progress. Zero it (or ne_s3_upload_reset) before a first
 * attempt; keep it, or its encoding, across restarts to resume. The parts
 * array is owned by the struct: release it with ne_s3_upload_reset. */
struct ne_s3_upload {
    char *key;       /* full object key (prefix included) */
    char *upload_id; /* NULL until CreateMultipartUpload answered */
    uint64_t object_size;
    uint64_t part_size;
    uint32_t nparts;
    struct ne_s3_part *parts; /* nparts entries */
};

/* Frees what u owns and zeroes it. NULL-safe. */
void ne_s3_upload_reset(struct ne_s3_upload *u);

/* Number of parts with an ETag. */
uint32_t ne_s3_upload_done(const struct ne_s3_upload *u);

/* Serialises u (format in upload.c). On success *out is ne_malloc'd
 * (ne_free) and *len its size. */
int ne_s3_upload_encode(const struct ne_s3_upload *u, uint8_t **out, size_t *len);

/* Parses an encoding into *out (which must be zeroed or reset; owned by
 * the caller on success). NE_ECORRUPT/NE_ECHECKSUM/NE_EVERSION on bad
 * input. */
int ne_s3_upload_decode(const void *buf, size_t len, struct ne_s3_upload *out);

/* Called after CreateMultipartUpload and after every part: persist u now
 * to be able to resume. A non-zero return stops the upload with that
 * code (the upload stays open on the server, resumable). */
typedef int (*ne_s3_progress_fn)(void *ctx, const struct ne_s3_upload *u);

struct ne_s3_put_opts {
    const char *content_type;    /* default "application/octet-stream" */
    struct ne_s3_upload *upload; /* multipart state (may be NULL: kept internally) */
    ne_s3_progress_fn progress;  /* optional */
    void *progress_ctx;
};

/* What the server says about a stored object. */
struct ne_s3_object_info {
    uint64_t size;
    char etag[NE_S3_ETAG_MAX]; /* as sent by the server, quotes included */
};

/* Uploads key (opts.prefix is prepended) from r. A single PUT below the
 * multipart threshold, a multipart upload otherwise; with po->upload
 * holding an upload of the same key and size, resumes it (ListParts). If
 * the server no longer knows that upload, starts a new one. po may be
 * NULL. On success *info (may be NULL) gets size and ETag and po->upload
 * is reset. On failure an open multipart upload stays on the server and in
 * po->upload for a later resume or ne_s3_upload_abort. */
int ne_s3_put_object(struct ne_s3 *c, const char *key, const struct ne_s3_reader *r,
                     const struct ne_s3_put_opts *po, struct ne_s3_object_info *info);

/* Aborts the multipart upload in u (AbortMultipartUpload; an unknown
 * upload counts as aborted) and resets u. */
int ne_s3_upload_abort(struct ne_s3 *c, struct ne_s3_upload *u);

/* HEAD key: NE_ENOTFOUND if absent, else fills *info. Used to check
 * whether an object already exists with the expected size/ETag. */
int ne_s3_head_object(struct ne_s3 *c, const char *key, struct ne_s3_object_info *info);

/* GET key into a new buffer: *out is ne_malloc'd (ne_free), *len its size
 * (a NUL byte follows the data). NE_ENOTFOUND if absent; NE_ETOOBIG past
 * max_len (0 = no limit). */
int ne_s3_get_object(struct ne_s3 *c, const char *key, size_t max_len, uint8_t **out, size_t *len);

/* DELETE key (absent keys succeed, as in S3). */
int ne_s3_delete_object(struct ne_s3 *c, const char *key);

/* Lists keys under prefix (opts.prefix + prefix), following continuation
 * tokens. fn gets each key without opts.prefix, with its size and ETag
 * (borrowed for the call); a non-zero return stops and is returned. fn
 * must not call this client. */
typedef int (*ne_s3_list_fn)(void *ctx, const char *key, uint64_t size, const char *etag);
int ne_s3_list_objects(struct ne_s3 *c, const char *prefix, ne_s3_list_fn fn, void *ctx);

/* ---- helpers exposed for tests -------------------------------------------- */

/* Full-jitter backoff: a delay in [0, min(cap, base * 2^attempt)] ms
 * picked with the random value rnd (uniform over uint64). attempt is 0 for
 * the first retry. */
int64_t ne_s3_backoff_ms(int attempt, int64_t base_ms, int64_t cap_ms, uint64_t rnd);

/* Builds the request URL and the canonical URI for key (prefix applied)
 * under the client's addressing style. query (may be NULL) is appended
 * after '?' as given. Returns 0 or NE_ETOOBIG / NE_ENOMEM; *url and *curi
 * are ne_malloc'd. */
int ne_s3_build_url(const struct ne_s3 *c, const char *key, const char *query, char **url,
                    char **curi);

#endif
