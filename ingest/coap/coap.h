/*
 * coap.h - the CoAP ingest source (libcoap 3).
 *
 * A server thread owns a libcoap context with a plain UDP endpoint and a
 * DTLS-PSK endpoint (per-device identities and keys; a wrong key fails the
 * handshake). Each configured path accepts POST and PUT; the body (reassembled
 * by libcoap when sent block-wise, RFC 7959) is decoded by its Content-Format
 * (or the path's format) and written to the sink. Answers:
 *   2.04 Changed            the sink stored the batch;
 *   4.00 Bad Request        the payload does not decode (diagnostic payload
 *                           naming the first bad record);
 *   4.13 Request Entity Too Large  over max_payload_bytes (with Size1);
 *   4.15 Unsupported Content-Format;
 *   5.03 Service Unavailable with Max-Age   the sink is busy (backpressure);
 *   5.00 Internal Server Error               anything else.
 * A retransmitted confirmable request (same message id from the same peer)
 * is answered from libcoap's response cache and not stored twice.
 */
#ifndef NE_INGEST_COAP_COAP_H
#define NE_INGEST_COAP_COAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/ingest.h"

struct ne_coap_psk_opts {
    const char *identity; /* the device's PSK identity */
    const char *key;      /* its pre-shared key (the bytes of the text) */
};

struct ne_coap_path_opts {
    const char *path;        /* URI path without leading '/', e.g. "write" */
    const char *database;    /* NULL: "iot" */
    enum ne_payload format;  /* AUTO: by Content-Format (none: line protocol) */
    const char *measurement; /* for payloads that name none; NULL: the path */
};

struct ne_coap_opts {
    const char *listen;      /* "host:port" for UDP; NULL or "": disabled */
    const char *dtls_listen; /* "host:port" for DTLS-PSK; NULL or "": disabled */
    const struct ne_coap_psk_opts *psk;
    size_t npsk;
    const struct ne_coap_path_opts *paths; /* none: one path "write" */
    size_t npaths;
    uint64_t max_payload_bytes; /* 0: default 1 MiB */
    int busy_max_age_s;         /* Max-Age of a 5.03; default 1 */
};

/* Fills o with the defaults: listen "127.0.0.1:5683", dtls_listen
 * "127.0.0.1:5684", no PSK, no paths (one path "write"), 1 MiB. */
void ne_coap_opts_default(struct ne_coap_opts *o);

struct ne_coap; /* opaque */

/* Copies opts, binds the endpoints and starts the server thread. A DTLS
 * endpoint without any PSK identity is an error (NE_EINVAL). Returns 0,
 * NE_EINVAL (bad options, logged), NE_EADDRINUSE or NE_EIO (bind failed),
 * NE_ENOMEM. The sink struct is copied; sink->ctx must outlive the source.
 * On success *out owns the server: stop it with ne_coap_stop. */
int ne_coap_start(const struct ne_coap_opts *opts, const struct ne_ingest_sink *sink,
                  struct ne_coap **out);

/* Stops the server thread, closes the endpoints, frees. Sets *cp to NULL.
 * NULL-safe. */
void ne_coap_stop(struct ne_coap **cp);

/* 0 ok; 1 degraded (the sink refused requests recently: backpressure or a
 * full disk); 2 failing (the server thread stopped). why (n bytes, may be
 * NULL) gets a one-line reason or "". */
int ne_coap_health(struct ne_coap *c, char *why, size_t n);

/* Counters of this instance (tests and the console). */
struct ne_coap_stats {
    uint64_t requests; /* POST/PUT requests handled (whole bodies) */
    uint64_t stored;   /* answered 2.04 */
    uint64_t points;   /* points accepted by the sink */
    uint64_t bad;      /* answered 4.00 / 4.13 / 4.15 */
    uint64_t busy;     /* answered 5.03 */
    uint64_t failed;   /* answered 5.00 */
};
void ne_coap_stats(struct ne_coap *c, struct ne_coap_stats *out);

#endif
