/*
 * transport.h - authenticated, framed request/response between peers.
 *
 * TCP + TLS 1.2 (mbedTLS) with a pre-shared cluster key: PSK cipher
 * suites only (ECDHE-PSK first, for forward secrecy), so both ends prove
 * they hold the key and a node with another key fails the handshake (it is
 * logged with its address and counted). After TLS the client sends HELLO
 * (node id, incarnation, protocol range) and the server answers HELLO_ACK
 * with the version chosen, or REFUSE when the ranges do not meet. Then
 * each call is one request frame and one reply frame (frame.h), on a
 * connection taken from a per-peer pool and returned after success.
 *
 * Threads: the server runs one accept thread and one thread per inbound
 * connection; calls may be made from any number of threads at once.
 */
#ifndef NE_SHARDING_TRANSPORT_H
#define NE_SHARDING_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sharding/frame.h"

struct ne_transport;

/* Serves one request from an authenticated peer (peer_id as it said in
 * its HELLO). Put the reply payload in reply (empty on entry) and its type
 * in *reply_type, and return 0; or return a negative NE_E* code, which the
 * caller of ne_transport_call gets back. msg is borrowed for the call.
 * Runs on a connection thread, possibly concurrently with other calls. */
typedef int (*ne_transport_handler_fn)(void *ctx, const char *peer_id, uint8_t type,
                                       const uint8_t *msg, size_t n, struct ne_pbuf *reply,
                                       uint8_t *reply_type);

struct ne_transport_opts {
    const char *node_id;  /* 1..63 bytes */
    uint64_t incarnation; /* sent in HELLO */
    const char *listen;   /* "host:port" (port 0: a free one); NULL: client only */
    const uint8_t *key;   /* cluster pre-shared key, 16..64 bytes (copied) */
    size_t key_len;
    uint32_t connect_timeout_ms;     /* TCP connect + TLS handshake + HELLO; 0: 2000 */
    uint32_t io_timeout_ms;          /* one request/reply; 0: 5000 */
    uint32_t idle_timeout_ms;        /* server closes idle connections; 0: 60000 */
    uint32_t pool_per_peer;          /* idle connections kept per peer; 0: 4 */
    size_t compress_min;             /* compress payloads >= this; 0: 4096 */
    uint8_t proto_min, proto_max;    /* 0: NE_PROTO_MIN..NE_PROTO_MAX (tests override) */
    ne_transport_handler_fn handler; /* NULL: only PING is served */
    void *ctx;
};

/* Starts the transport (and the server when listen is set). Returns 0 and
 * *out (stop with ne_transport_stop), NE_EINVAL, NE_EADDRINUSE, NE_ENOMEM
 * or NE_EIO (TLS set-up). */
int ne_transport_start(const struct ne_transport_opts *o, struct ne_transport **out);

/* Closes the listener, every pooled and inbound connection, joins the
 * threads and frees everything. No ne_transport_call may be in flight.
 * NULL-safe; sets *pt to NULL. */
void ne_transport_stop(struct ne_transport **pt);

/* "host:port" the server is bound to (the port chosen for port 0), or ""
 * without a server. Borrowed. */
const char *ne_transport_addr(const struct ne_transport *t);

/* Sends one request to the peer at addr and waits for its reply, which is
 * written into reply (its old content is replaced) with its type in
 * *reply_type. peer_id, when not NULL, must match the id the peer gives in
 * its HELLO_ACK. Returns 0, or: NE_ETIMEOUT (connect, handshake or reply
 * too slow, or traffic to this peer dropped by ne_transport_set_drop),
 * NE_EPERM (TLS handshake failed: not the same cluster key), NE_EVERSION
 * (no common protocol version), NE_ECONFLICT (another node answered),
 * NE_ECLOSED / NE_EIO (connection lost), NE_ETOOBIG, NE_ENOMEM, or the
 * code the peer's handler returned. When a pooled connection turns out to
 * be broken the request is sent once more on a fresh one, so a handler may
 * see a request twice: requests must be idempotent (last-writer-wins
 * writes are). */
int ne_transport_call(struct ne_transport *t, const char *peer_id, const char *addr, uint8_t type,
                      const void *msg, size_t n, struct ne_pbuf *reply, uint8_t *reply_type);

/* Round trip of a PING. Returns as ne_transport_call. */
int ne_transport_ping(struct ne_transport *t, const char *peer_id, const char *addr);

/* Test hook (partition simulation): while set, calls to peer_id fail with
 * NE_ETIMEOUT without sending, and requests from peer_id are dropped (the
 * connection is closed unanswered). Up to 16 peers. Returns 0 or NE_ELIMIT. */
int ne_transport_set_drop(struct ne_transport *t, const char *peer_id, bool drop);

/* Closes the idle pooled connections to addr (e.g. after a peer died). */
void ne_transport_forget(struct ne_transport *t, const char *addr);

struct ne_transport_stats {
    uint64_t dialed;           /* outbound connections established */
    uint64_t accepted;         /* inbound connections past HELLO */
    uint64_t handshake_failed; /* TLS handshakes that failed (both sides) */
    uint64_t refused;          /* HELLOs refused for the protocol version */
    uint64_t frames_out;       /* frames written */
    uint64_t raw_bytes_out;    /* message bytes before compression */
    uint64_t wire_bytes_out;   /* frame bytes written (headers included) */
};
void ne_transport_stats(const struct ne_transport *t, struct ne_transport_stats *out);

#endif
