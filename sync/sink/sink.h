/*
 * sink.h - cloud sync: one sink ships the store's sealed segments, oldest
 * first, to one destination (an S3 bucket, a central neoedge), with a
 * durable cursor.
 *
 * A sink is a runner (sink.c, one thread per sink) plus a driver that
 * knows the destination (s3_sink.c, central_sink.c). The runner:
 *   - lists the segments above its cursor (ne_store_segments_after), in WAL
 *     order, and hands the oldest to the driver's deliver call;
 *   - after a successful delivery advances the cursor to the segment's
 *     seq_max and persists it (CURSOR file, atomic replace) before going on,
 *     so a restart resumes at the first undelivered segment and a crash
 *     between upload and cursor write only repeats that segment's upload
 *     (drivers make a repeat harmless: deterministic object names, or a
 *     receiver that is idempotent by segment id);
 *   - reports the cursor through on_cursor, so the agent can hold
 *     undelivered segments out of compaction and retention;
 *   - retries a failed delivery with exponential backoff and full jitter
 *     (1 s doubling to 5 min); an authorisation failure (NE_SINK_ERR_AUTH)
 *     waits the longest step and turns health "failing" with the reason;
 *   - runs only inside the configured UTC windows, if any;
 *   - keeps the figures /metrics and /health show (below).
 * A segment the store no longer has (evicted by retention before delivery,
 * only with retention.evict_unsynced) is skipped and counted as lost.
 *
 * The driver owns everything about the destination; what it keeps on disk
 * to resume a delivery lives in env->state_dir (data_dir/sync/<name>),
 * which the runner creates. The runner serialises calls: one deliver at a
 * time per sink.
 *
 * CURSOR file (data_dir/sync/<name>/CURSOR, 32 bytes, little endian):
 *   u32 magic "NESC" (0x4353454e) | u32 version (1) | u64 delivered_seq |
 *   u64 last segment id | u32 crc32c of the previous 28 bytes
 * A missing file means nothing delivered; a corrupt one is logged and read
 * as nothing delivered (deliveries are idempotent).
 */
#ifndef NE_SYNC_SINK_SINK_H
#define NE_SYNC_SINK_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Why a delivery failed: the runner's retry policy and the error metrics
 * (neoedge_sink_errors_total{sink,kind}) use it. */
enum ne_sink_err {
    NE_SINK_ERR_NONE = 0,
    NE_SINK_ERR_CONNECT,  /* no connection, DNS, TLS handshake, reset */
    NE_SINK_ERR_TIMEOUT,  /* the request timed out */
    NE_SINK_ERR_THROTTLE, /* 429, 503 SlowDown */
    NE_SINK_ERR_SERVER,   /* other 5xx */
    NE_SINK_ERR_AUTH,     /* 401, 403: wrong credentials or token; no fast retry */
    NE_SINK_ERR_REJECTED, /* other 4xx: the destination refused the request */
    NE_SINK_ERR_LOCAL,    /* reading the segment, spool disk, memory */
    NE_SINK_ERR__COUNT,
};

/* "connect", "timeout", ... Static. */
const char *ne_sink_err_name(enum ne_sink_err e);

/* What a delivery reports back. deliver fills it (zeroed by the runner). */
struct ne_sink_result {
    enum ne_sink_err kind; /* set when deliver fails */
    char msg[256];         /* one line naming what went wrong, e.g.
                              "s3 403 SignatureDoesNotMatch: ..." */
    uint64_t objects;      /* objects (or pushes) completed */
    uint64_t rows;         /* points (rows) delivered */
};

/* What the runner gives a driver. Borrowed for the call. */
struct ne_sink_env {
    const char *name;      /* the sink's name */
    const char *node_id;   /* this node, for object names and the gateway tag */
    const char *state_dir; /* data_dir/sync/<name>: the driver's own files */
    struct ne_store *store;
    /* Counts n more bytes sent (the upload rate and bytes metrics). Thread
     * safe; call as bytes leave. */
    void (*count_bytes)(void *runner, uint64_t n);
    /* True once the daemon is stopping: a long delivery should give up
     * soon (return NE_ECLOSED; the runner does not count that as an
     * error and retries after restart). */
    bool (*stopping)(void *runner);
    void *runner;
};

/* A driver: one destination. deliver sends the segment seg (its file is
 * at seg->path; open it at once: it may be removed only after the cursor
 * passes it, or by retention with evict_unsynced) and returns 0 when the
 * destination durably has it, NE_ENOTFOUND when the segment file is gone,
 * NE_ECLOSED when stopping, or another negative NE_E* code with
 * res->kind and res->msg set. destroy frees the driver (NULL-safe ctx). */
struct ne_sink_driver {
    const char *type; /* "s3", "central" */
    int (*deliver)(void *ctx, const struct ne_sink_env *env, const struct ne_store_seg_desc *seg,
                   struct ne_sink_result *res);
    void (*destroy)(void *ctx);
    void *ctx;
};

/* Called by the runner thread after the cursor advanced and was persisted
 * (and once at start with the loaded cursor). */
typedef void (*ne_sink_cursor_fn)(void *ctx, const char *sink, uint64_t delivered_seq);

struct ne_sink_opts {
    const char *name;     /* copied */
    const char *data_dir; /* the cursor lives in data_dir/sync/<name> (copied) */
    const char *node_id;  /* copied */
    struct ne_store *store;        /* borrowed; outlives the sink */
    const char *windows;           /* "22:00-06:00,..." UTC or NULL (copied) */
    int64_t backlog_max_age_ns;    /* health degraded past this (0: never) */
    int64_t retry_base_ns;         /* first backoff ceiling; 0: 1 s */
    int64_t retry_max_ns;          /* backoff cap; 0: 5 min */
    int64_t idle_poll_ns;          /* look for new segments at least this often; 0: 1 s */
    ne_sink_cursor_fn on_cursor;   /* may be NULL */
    void *on_cursor_ctx;
};

struct ne_sink; /* opaque */

/* Creates data_dir/sync/<name>, loads the cursor and starts the runner
 * thread. On success the sink owns drv (its destroy runs at ne_sink_stop)
 * and *out is the sink; on failure drv is destroyed too. Returns 0,
 * NE_EINVAL, NE_ENOMEM or an I/O error. */
int ne_sink_start(const struct ne_sink_opts *o, const struct ne_sink_driver *drv,
                  struct ne_sink **out);

/* Asks the runner to stop (a delivery in progress sees stopping() and
 * should return soon), joins it, destroys the driver, frees. Sets *sp to
 * NULL. NULL-safe. */
void ne_sink_stop(struct ne_sink **sp);

/* Wakes the runner to look for new segments now (after a flush). */
void ne_sink_kick(struct ne_sink *s);

/* The persisted cursor: every WAL sequence number <= it is delivered. */
uint64_t ne_sink_cursor(struct ne_sink *s);

/* Health and figures. status: 0 ok, 1 degraded (backlog older than
 * backlog_max_age, or deliveries failing for another reason), 2 failing
 * (the destination refuses our credentials). */
struct ne_sink_status {
    int status;
    char reason[256];
    uint64_t cursor;
    uint64_t backlog_segments, backlog_bytes;
    int64_t oldest_age_ns;    /* now - sealed time of the oldest undelivered segment; 0: none */
    uint64_t delivered_segments, delivered_bytes, delivered_rows;
    uint64_t lost_segments;   /* evicted before delivery */
    uint64_t errors[NE_SINK_ERR__COUNT];
    double upload_bytes_per_s; /* over the last minute */
    bool in_window;
};
void ne_sink_status(struct ne_sink *s, struct ne_sink_status *out);

/* Reads the cursor file of sink name under data_dir (for tools and tests).
 * Returns 0 (and *seq 0 when the file is missing) or NE_ECORRUPT. */
int ne_sink_read_cursor(const char *data_dir, const char *name, uint64_t *seq, uint64_t *seg_id);

/* True when wall time now_ns (UTC) falls inside windows (the config text,
 * NULL or "" = always). Exposed for tests. */
bool ne_sink_in_window(const char *windows, int64_t now_ns);

#endif
