/*
 * central_sink.h - the central driver of cloud sync: pushes each sealed
 * segment, as a segment bundle (sync/bundle), to a central neoedge
 * (POST <url>/api/v1/segments; the receiver and the answers are described
 * in agent/central.h).
 *
 * One delivery builds the bundle (its header and series dictionary in
 * memory, the segment file streamed from disk) and sends it in one POST
 * with a known Content-Length and Expect: 100-continue, so the central
 * node can refuse (wrong token, duplicate, too large) before the body
 * travels. The headers carry Authorization: Bearer <token>, the node id,
 * the segment id and the bundle's checksum.
 *
 * Answers: 200 stored or duplicate -> delivered (a repeat after a crash
 * between push and cursor write is answered duplicate and costs no
 * upload); 401/403 -> NE_SINK_ERR_AUTH with the server's message (no fast
 * retry); 429 and 503 -> throttle; other 5xx -> server; other 4xx ->
 * rejected; connection, DNS and TLS failures -> connect; timeouts ->
 * timeout. Throttle, server, connect and timeout failures are retried
 * within the delivery up to max_retries times with exponential backoff
 * and full jitter (200 ms doubling to 20 s) before the runner takes over.
 *
 * TLS: the server certificate and host name are verified (ca_file, else
 * the system store) unless verify_tls is false. bandwidth caps the upload
 * rate (bytes/s). A request may last 5 minutes plus the bundle's size at
 * the capped rate (or at 64 KiB/s without a cap); a transfer that moves
 * nothing for 5 minutes is a timeout. Bytes are counted through
 * env->count_bytes as they leave; a stopping daemon aborts the transfer
 * (NE_ECLOSED).
 */
#ifndef NE_SYNC_SINK_CENTRAL_SINK_H
#define NE_SYNC_SINK_CENTRAL_SINK_H

#include "config/config.h"
#include "sync/sink/sink.h"

/* Builds the central driver for cfg (type central): copies url, token,
 * ca_file, verify_tls, bandwidth and max_retries (cfg may be freed
 * afterwards) and creates its HTTP handle. On success *out holds the
 * driver (type "central"), which the caller hands to ne_sink_start.
 * Returns 0, NE_EINVAL (no url or token, or a url that is not http(s)://,
 * logged with the reason) or NE_ENOMEM. */
int ne_central_sink_new(const struct ne_cfg_sink *cfg, struct ne_sink_driver *out);

#endif
