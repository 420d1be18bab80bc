/*
 * central.h - the central role's receiver: gateways push sealed segments
 * as bundles (sync/bundle) to POST /api/v1/segments; the receiver checks
 * each one completely and merges its points into the local store with the
 * tag gateway=<node id>, so /query answers over the whole fleet.
 *
 * The protocol (the gateway side is sync/sink/central_sink.c):
 *
 *   POST /api/v1/segments
 *   Authorization: Bearer <central.token>
 *   X-Neoedge-Node: <node id of the sender, 1..255 bytes>
 *   X-Neoedge-Segment: <segment id, 1..16 hex digits>
 *   X-Neoedge-Checksum: sha256:<64 hex digits of the segment bytes>
 *   Content-Length: <bundle size>
 *   <the bundle>
 *
 * Answers (JSON bodies):
 *   200 {"status":"stored","points":N,"values":V,"rejected":R}
 *       merged (R points the store refused, e.g. beyond its series limits;
 *       they are logged and counted, and not retried)
 *   200 {"status":"duplicate"}   this (node, segment, checksum) was merged
 *                                 before; nothing written again
 *   400 {"error":"..."}          missing/bad headers, or the bundle failed
 *                                 a check (the reason names it); nothing
 *                                 written
 *   401 {"error":"..."}          no or wrong bearer token
 *   409 {"error":"..."}          this node's segment id was merged before
 *                                 with another checksum
 *   413 {"error":"..."}          above central.max_segment_size (answered
 *                                 before the body when Content-Length says so)
 *   503 {"error":"..."} + Retry-After   the same segment is being merged by
 *                                 another request, or the store is busy
 *   500/507 {"error":"..."}      the store or the disk failed
 * The duplicate and conflict answers are given as soon as the headers say
 * so (a client sending Expect: 100-continue saves the upload); every other
 * success is answered only after the points reached the store's
 * configured durability.
 *
 * Files under data_dir/central:
 *   incoming/   bodies being received (removed when answered; the folder
 *               is emptied at start)
 *   received    the idempotency log, format in central.c
 *
 * Merging is idempotent by content (the store keeps one value per series,
 * field and timestamp), so a crash between the merge and the log append
 * only means the gateway's retry merges the same points again.
 *
 * Thread-safe: pushes run concurrently on the HTTP threads; the log and
 * its in-memory index are guarded by one mutex, and a given (node,
 * segment) is merged by one request at a time.
 */
#ifndef NE_AGENT_CENTRAL_H
#define NE_AGENT_CENTRAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ingest/ingest.h"
#include "store/store.h"

struct ne_central_opts {
    const char *data_dir;      /* state lives in data_dir/central (borrowed for open) */
    const char *token;         /* bearer token pushes must carry (copied); required */
    uint64_t max_bundle_bytes; /* largest accepted push; 0: 1 GiB */
    struct ne_store *store;    /* borrowed; outlives the receiver */
    /* Where merged points are written (borrowed, read at every write, so a
     * sink wrapped later counts): the agent's sink, which in a cluster also
     * forwards points to the owners of their shards, so several central
     * nodes share the fleet's data like gateways do. NULL: the store. */
    const struct ne_ingest_sink *sink;
};

struct ne_central; /* opaque */

/* Creates data_dir/central/incoming (emptying it), loads the received log
 * (a torn tail is cut off and logged; an unknown version is NE_EVERSION)
 * and registers the metrics
 *   neoedge_central_pushes_total{result="stored|duplicate|rejected|failed"}
 *   neoedge_central_points_total
 *   neoedge_central_bytes_total.
 * On success *out owns the receiver: ne_central_close. Returns 0,
 * NE_EINVAL (no token or store), NE_EVERSION / NE_ECORRUPT (the log), an
 * I/O error or NE_ENOMEM, each logged with the path. */
int ne_central_open(const struct ne_central_opts *o, struct ne_central **out);

/* Frees; pushes must be over. Sets *cp to NULL. NULL-safe. */
void ne_central_close(struct ne_central **cp);

/* An answer to send. */
struct ne_central_reply {
    int status;        /* HTTP status */
    char body[768];    /* JSON, NUL-terminated */
    char error[600];   /* the reason of a refusal as plain text; "" otherwise */
    int retry_after_s; /* > 0: send Retry-After */
};

/* Looks a request header up (case-insensitive name); NULL when absent. */
typedef const char *(*ne_central_header_fn)(void *ctx, const char *name);

struct ne_central_push; /* one push being received; opaque */

/* Starts a push once the request headers are in: checks the token, the
 * X-Neoedge-* headers and the declared length (has_len: a Content-Length
 * was sent), answers a duplicate or a conflict at once, and opens the
 * temporary file the body goes to. Returns 0 and *out (feed it the body,
 * then ne_central_finish; free it with ne_central_push_free in any case),
 * or an NE_E* code with *reply holding the answer to send now (no push). */
int ne_central_begin(struct ne_central *c, ne_central_header_fn header, void *ctx,
                     uint64_t declared_len, bool has_len, struct ne_central_push **out,
                     struct ne_central_reply *reply);

/* Appends n body bytes to the push's file. Past max_bundle_bytes, or after
 * a write error, the rest is dropped (the answer says why). Returns 0 or
 * the error that stopped it (then keep calling; finish answers). */
int ne_central_body(struct ne_central_push *p, const void *data, size_t n);

/* The body is complete: checks the bundle, merges it and fills *reply
 * (see the table above). The temporary file is gone afterwards. */
void ne_central_finish(struct ne_central_push *p, struct ne_central_reply *reply);

/* Removes what is left of the push (an aborted upload's file) and frees.
 * Sets *pp to NULL. NULL-safe. */
void ne_central_push_free(struct ne_central_push **pp);

#endif
