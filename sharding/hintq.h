/*
 * hintq.h - a durable FIFO of write records for one peer (the hint queue
 * of hinted handoff).
 *
 * The replicator (replicate.h) appends one record per accepted write that
 * the peer owns a part of; the peer's sender reads records from the head,
 * ships them and acknowledges them. The queue survives a crash: appended
 * records stay until acknowledged or dropped by a bound.
 *
 * On disk, in the queue's directory:
 *
 *   <seq>.hq    segment files, seq = 16 lower-case hex digits, ascending;
 *               only the last one is appended to. A file is:
 *                 header  [magic "NEHQ"][version u32 = 1][seq u64]  (16 B)
 *                 records [len u32][crc u32][time i64][points u32]
 *                         [payload: len bytes]
 *               All integers little endian. crc is CRC32C over time,
 *               points and payload (12 + len bytes). time is when the
 *               record was appended (wall clock, ns since the epoch),
 *               points how many points the payload carries (for counters;
 *               the payload is opaque here).
 *   cursor      [magic "NEHC"][version u32 = 1][seq u64][off u64][crc u32]
 *               (crc: CRC32C of the 24 bytes before it): the position of
 *               the first record not yet acknowledged. Written atomically
 *               (temp file, rename) at most once a second while records
 *               are acknowledged, by ne_hintq_save_cursor, at close, and
 *               at open when recovery moved it (e.g. past the end of a
 *               file whose acknowledged tail a power cut took: records
 *               appended later must never sit before the saved cursor).
 *               A lost or stale cursor only makes already acknowledged
 *               records be sent again, which the receiver's last-writer-wins
 *               store absorbs.
 *
 * Recovery (ne_hintq_open): the files after the cursor are read record by
 * record; a record that is short or fails its CRC ends its file there (a
 * torn tail after a crash): the file is truncated to the last whole record
 * and the loss is logged. Files wholly before the cursor are deleted.
 *
 * Durability: with opts.sync every append is fdatasync'd before
 * ne_hintq_append returns; otherwise appends reach the disk at
 * ne_hintq_sync (the replicator calls it at least every max_lag), at the
 * first append after opts.sync_interval_ns, when a file is rolled and at
 * close. Each of these also fsyncs the directory when a file was created
 * since (with opts.sync, creating a file does), so a synced record never
 * vanishes with its file's name.
 *
 * Bounds: ne_hintq_expire drops head records older than max_age_ns;
 * ne_hintq_append and ne_hintq_trim drop head records until the queued
 * bytes fit max_bytes. Dropped records are counted (points, by reason).
 *
 * Thread-safety: every function takes the queue's lock; one appender
 * thread and one reader (peek + ack) may work at once.
 */
#ifndef NE_SHARDING_HINTQ_H
#define NE_SHARDING_HINTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "sharding/frame.h"

#define NE_HINTQ_FILE_HDR 16 /* bytes of a segment file header */
#define NE_HINTQ_REC_HDR  20 /* bytes of a record header */

struct ne_hintq; /* opaque */

struct ne_hintq_opts {
    const char *dir;     /* the queue's directory (created if missing; borrowed) */
    const char *name;    /* for log messages (e.g. the peer id; borrowed) */
    uint64_t file_bytes; /* roll to a new segment file past this; 0: 1 MiB (a
                            file goes once all of it is acknowledged, so this
                            bounds the acknowledged bytes kept on disk) */
    uint64_t max_bytes;  /* bound on queued record bytes; 0: none */
    int64_t max_age_ns;  /* ne_hintq_expire drops records older; 0: none */
    bool sync;           /* fdatasync every append before returning */
    /* Without sync: an append also syncs when the last sync is this old
     * (0: only ne_hintq_sync, rolls and close sync). */
    int64_t sync_interval_ns;
};

/* Opens (creating if needed) the queue in o->dir and recovers it as
 * described above. Returns 0 and *out (close with ne_hintq_close),
 * NE_EINVAL, NE_ENOMEM or an I/O error code. */
int ne_hintq_open(const struct ne_hintq_opts *o, struct ne_hintq **out);

/* Syncs what was appended, saves the cursor and frees the queue.
 * NULL-safe; sets *pq to NULL. */
void ne_hintq_close(struct ne_hintq **pq);

/* Appends one record (payload of n bytes carrying `points` points) stamped
 * with time now_ns. When the queue would then exceed max_bytes the oldest
 * records are dropped first (counted under "max_bytes"); a record larger
 * than max_bytes by itself is refused with NE_ETOOBIG. With opts.sync the
 * record is durable when 0 is returned. Returns 0, NE_ETOOBIG, NE_ENOSPC,
 * NE_EIO or NE_EFAILED (a failed sync: the queue must be reopened). */
int ne_hintq_append(struct ne_hintq *q, int64_t now_ns, uint32_t points, const void *payload,
                    size_t n);

/* fdatasyncs the records appended since the last sync. Returns 0 or an
 * I/O error code. */
int ne_hintq_sync(struct ne_hintq *q);

/* One record of a batch read by ne_hintq_peek. */
struct ne_hintq_rec {
    uint64_t seq, off; /* where the record starts */
    uint32_t len;      /* payload bytes */
    uint32_t points;
    int64_t time;
    size_t at; /* offset of the payload in the batch's buf */
};

/* Records read from the head, not yet acknowledged. Zero-initialise;
 * free with ne_hintq_batch_free. */
struct ne_hintq_batch {
    struct ne_pbuf buf; /* the payloads, one after the other */
    struct ne_hintq_rec *recs;
    size_t n, cap;
    uint64_t points;
    uint64_t end_seq, end_off; /* the position just after the last record */
};
void ne_hintq_batch_free(struct ne_hintq_batch *b);

/* Reads records from the head into b (its old content is replaced), at
 * least one and then as many as fit in max_bytes of payload. A record
 * whose CRC fails is dropped (counted under "corrupt", logged) and the
 * rest of its file skipped. Returns 0 with b->n == 0 when the queue is
 * empty, 0 with records, NE_ENOMEM or an I/O error code. */
int ne_hintq_peek(struct ne_hintq *q, size_t max_bytes, struct ne_hintq_batch *b);

/* Acknowledges the records of b: the cursor moves past them (records
 * already dropped meanwhile are not counted twice), files wholly before
 * it are deleted, and the cursor file is saved when the last save is a
 * second old. Returns 0 or an I/O error code from saving the cursor. */
int ne_hintq_ack(struct ne_hintq *q, const struct ne_hintq_batch *b);

/* Saves the cursor file if the cursor moved since it was last saved and
 * that save is a second old (the replicator calls it periodically, so that
 * an idle queue's cursor reaches the disk too and a crash resends little).
 * Returns 0 or an I/O error code. */
int ne_hintq_save_cursor(struct ne_hintq *q);

/* Drops head records appended before now_ns - max_age_ns (counted under
 * "hint_window"). Returns the number of points dropped. */
uint64_t ne_hintq_expire(struct ne_hintq *q, int64_t now_ns);

/* Drops head records until at most max_bytes are queued (counted under
 * "max_bytes"). Returns the number of points dropped. */
uint64_t ne_hintq_trim(struct ne_hintq *q, uint64_t max_bytes);

struct ne_hintq_stats {
    uint64_t bytes;           /* queued record bytes (headers included) */
    uint64_t records;         /* queued records */
    uint64_t points;          /* points in the queued records */
    int64_t oldest;           /* time of the head record; 0 when empty */
    uint64_t files;           /* segment files on disk */
    uint64_t appended;        /* records appended since open */
    uint64_t dropped_age;     /* points dropped by the age bound since open */
    uint64_t dropped_bytes;   /* points dropped by the byte bound since open */
    uint64_t dropped_corrupt; /* points dropped for a bad CRC since open */
    uint64_t truncated;       /* torn tail bytes cut at open */
};
void ne_hintq_stats(struct ne_hintq *q, struct ne_hintq_stats *out);

/* Checks the queue in dir offline, changing nothing (`neoedge verify`):
 * the cursor file (absent, or whole with a valid CRC), and every segment
 * file from the cursor on: its header, then whole records with valid CRCs
 * up to its end (in the cursor's file from the cursor's offset: the
 * acknowledged bytes before it are not read). Files before the cursor's
 * are drained ones the next open deletes. Prints one line per file to out
 * (borrowed). Returns 0 if healthy, NE_ECORRUPT (a torn tail or a corrupt
 * record, header or cursor: the first problem is returned, all are
 * printed), NE_EVERSION, or an I/O error code. The queue must not be open
 * in another process. */
int ne_hintq_verify_dir(const char *dir, FILE *out);

#endif
