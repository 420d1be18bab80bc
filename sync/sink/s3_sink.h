/*
 * s3_sink.h - the S3 driver of cloud sync: ships each sealed segment to a
 * bucket as Parquet objects (format parquet) or as one self-describing
 * segment bundle (format native), optionally encrypted (sync/crypt).
 *
 * Object keys (prefix = the sink's prefix, when set, followed by '/'):
 *
 *   parquet: {prefix}db={db}/measurement={m}/date=YYYY-MM-DD/hour=HH/
 *              {node}-{segment id as 16 hex}.parquet
 *            one object per (database, measurement, UTC hour) of the
 *            segment, the Hive layout query engines read as partitions;
 *   native:  {prefix}native/node={node}/{segment id as 16 hex}.neseg
 *            one object per segment: a segment bundle (sync/bundle), the
 *            segment file behind its series dictionary. Keys sort by
 *            segment id, so a listing of one node is in WAL order.
 *
 * Encrypted objects get ".enc" appended and hold the sync/crypt envelope
 * (`neoedge decrypt` restores the original). Names depend only on the
 * node, the segment and its content, so a repeated delivery rewrites the
 * same objects and never adds a second copy.
 *
 * Resuming: the driver keeps two files in the sink's state directory,
 * both replaced atomically:
 *   PROGRESS - which segment is being delivered, how many of its objects
 *              are complete, and the encryption nonce prefix of the object
 *              in progress (format in s3_sink.c). A delivery repeated after
 *              a restart skips the complete objects; the exported files
 *              are deterministic, and with the saved nonce prefix so are
 *              their encrypted forms, so an interrupted object is resent
 *              byte for byte.
 *   UPLOAD   - the multipart state of the object in progress
 *              (ne_s3_upload_encode), saved after the upload is created
 *              and after every part: after kill -9 the next delivery asks
 *              the server which parts it holds (ListParts), sends the rest
 *              and completes. A state that belongs to another object is
 *              aborted on the server.
 * Parquet objects are spooled to state_dir/spool, one at a time, and
 * removed once uploaded; a bundle streams from the segment file. Memory is
 * bounded by one multipart part (or one object below multipart_threshold).
 */
#ifndef NE_SYNC_SINK_S3_SINK_H
#define NE_SYNC_SINK_S3_SINK_H

#include "config/config.h"
#include "sync/sink/sink.h"

/* Builds the S3 driver for cfg (type s3): copies what it needs from cfg
 * (cfg may be freed afterwards) and opens an S3 client with credentials
 * from cfg, else the environment, else the shared credentials file
 * (ne_s3_creds_resolve). On success *out holds the driver (type "s3");
 * the caller hands it to ne_sink_start, which owns it from then on.
 * Returns 0, NE_EINVAL (bad options or encryption key, logged with the
 * reason), NE_ENOTFOUND (no credentials anywhere) or NE_ENOMEM. */
int ne_s3_sink_new(const struct ne_cfg_sink *cfg, struct ne_sink_driver *out);

/* The kind of a failed S3 call, from the client's last failure (exposed
 * for tests): 401/403 auth, 429 and 503 SlowDown throttle, other 5xx
 * server, other 4xx rejected, timeouts timeout, connection failures
 * connect. */
struct ne_s3_failure;
enum ne_sink_err ne_s3_sink_classify(const struct ne_s3_failure *f, int rc);

#endif
