/*
 * sigv4.h - AWS Signature Version 4 for the S3 client (module-internal).
 *
 * The caller builds the canonical pieces (URI already percent-encoded, query
 * already in canonical order, headers with lowercase names) and the signer
 * hashes and signs them. Hashing uses mbedTLS.
 */
#ifndef NE_SYNC_S3_SIGV4_H
#define NE_SYNC_S3_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define S3_SHA256_HEX 65 /* 64 hex digits + NUL */

/* A request header: lowercase name, value without surrounding blanks. */
struct s3_hdr {
    const char *name;
    const char *value;
};

/* A query parameter before encoding. */
struct s3_kv {
    const char *key;
    const char *value; /* "" for a bare key such as "uploads" */
};

struct s3_sign_in {
    const char *method;        /* "PUT" */
    const char *curi;          /* canonical URI, percent-encoded, starts with '/' */
    const char *cquery;        /* canonical query string ("" for none) */
    const struct s3_hdr *hdrs; /* every header to sign (host and x-amz-date included) */
    size_t nhdrs;
    const char *payload_hash; /* hex SHA-256 of the body */
    const char *amz_date;     /* "YYYYMMDDTHHMMSSZ" */
    const char *region;
    const char *service; /* "s3" */
    const char *access_key;
    const char *secret_key;
};

/* Percent-encodes n bytes of s as SigV4 asks: A-Z a-z 0-9 - _ . ~ stay,
 * everything else becomes %XX (uppercase hex); '/' stays when keep_slash.
 * Writes at most cap bytes (NUL included) and returns the length the full
 * encoding needs (without NUL), so a return >= cap means truncated. */
size_t s3__uri_encode(const char *s, size_t n, bool keep_slash, char *out, size_t cap);

/* Builds the canonical query string of n parameters: each key and value
 * encoded, pairs sorted by encoded key then value, joined "k=v&k=v". The
 * same string serves as the URL's query. Returns 0, NE_ETOOBIG if it does
 * not fit in cap, NE_ENOMEM. */
int s3__query_build(const struct s3_kv *kv, size_t n, char *out, size_t cap);

/* Hex SHA-256 of a buffer. */
void s3__sha256_hex(const void *buf, size_t len, char out[S3_SHA256_HEX]);

/* HMAC-SHA256. */
void s3__hmac_sha256(const void *key, size_t klen, const void *msg, size_t mlen, uint8_t out[32]);

/* Lowercase hex of n bytes (out holds 2n+1). */
void s3__hex(const uint8_t *in, size_t n, char *out);

/* Base64 (standard alphabet, padded) of n bytes; out holds 4*ceil(n/3)+1. */
void s3__base64(const uint8_t *in, size_t n, char *out);

/* "YYYYMMDDTHHMMSSZ" for wall-clock nanoseconds. out holds 17 bytes. */
void s3__amz_date(int64_t wall_ns, char out[17]);

/* Writes the canonical request into out (for tests and debugging).
 * Returns 0 or NE_ETOOBIG / NE_ENOMEM / NE_EINVAL. */
int s3__canonical_request(const struct s3_sign_in *in, char *out, size_t cap);

/* Computes the Authorization header value
 * "AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/aws4_request,
 * SignedHeaders=a;b, Signature=hex". Returns 0 or NE_ETOOBIG / NE_ENOMEM /
 * NE_EINVAL (headers unsorted is fine; duplicates are not). */
int s3__sign(const struct s3_sign_in *in, char *out, size_t cap);

#endif
