/*
 * wal.c - the write-ahead log: segmented files, group commit, recovery.
 *
 * Writers encode a record into a shared buffer while holding the store lock
 * (so sequence order = memtable insertion order), then wait outside it. The
 * first waiter that finds no I/O under way becomes the leader: it takes the
 * whole buffer, writes it with one append and, in sync mode, fdatasyncs;
 * then it wakes everyone. In interval mode writers return once the bytes
 * reached the kernel and a background thread fdatasyncs at least every
 * max_loss_ns. Invariants:
 *   - records reach the file in sequence order, each file holds a run of
 *     strictly increasing sequence numbers, and a file's successor starts
 *     only after the file was fdatasync'ed whole (rotation, by size, syncs);
 *   - a failed write is cut back (truncate) so the file stays a clean run of
 *     valid records, and its records are reported failed (never acked);
 *   - after a failed fdatasync nothing more is acknowledged: the WAL is
 *     failed until the store reopens it, cutting the file back to the last
 *     offset known durable.
 *   - a record's synced_upto never exceeds what a completed fdatasync
 *     covered in the file the record lands in (while a rotation creates the
 *     next file, new records claim only the header).
 *
 * File wal-<gen as 16 hex>.log:
 *   header (32 bytes)
 *   +-----------+---------+---------+---------+-----------+----------+---------+
 *   | magic u32 | version | flags   | gen u64 | first_seq | reserved | crc32c  |
 *   | "NEWL"    | u16 = 2 | u16 = 0 |         | u64       | u32 = 0  | of 0..27|
 *   +-----------+---------+---------+---------+-----------+----------+---------+
 *   records, back to back (version 2):
 *   +---------+------------------------+---------+----------------------------+
 *   | len u32 | crc32c u32 of seq+body | seq u64 | body (len bytes):          |
 *   |         |                        |         | synced_upto u64 | payload  |
 *   +---------+------------------------+---------+----------------------------+
 *   len = 8 + payload length. synced_upto is a file offset known durable
 *   (covered by a completed fdatasync, header included) when the record was
 *   sealed: WAL_HDR <= synced_upto <= the record's own offset. The payload
 *   is a write batch (format in store.c). Little-endian.
 *   Version 1 records have no synced_upto (body = payload); they are read
 *   as if each record proved every byte before it durable. Any other
 *   version is a hard error (NE_EVERSION).
 *
 * Recovery (eng_wal_replay): files in generation order; in each, records in
 * order. The first record with a bad length, CRC or non-increasing sequence,
 * at offset X, ends the valid prefix; the prefix is replayed. Then X is
 * judged against the durable point:
 *   - X lies in synced data when a newer WAL file exists (a file is synced
 *     whole before its successor is created) or when a valid record after X
 *     carries synced_upto > X. Then it is corruption of durable data: the
 *     file is renamed to <name>.quarantine, an error logged and counted;
 *   - otherwise it is a torn tail: the power went while unsynced bytes
 *     were in flight, so sectors may be missing even before later records
 *     that survived. Nothing there was durable (so, in sync mode, nothing
 *     was acknowledged); the file is truncated to X and made durable.
 * A record whose checksum is right but whose payload does not decode is
 * treated like corruption (prefix kept, file quarantined).
 * Limit: damage to synced records that nothing after them vouches for
 * (the last records of the newest file, when no later record survived)
 * cannot be told from a torn tail and is cut.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ports/crc32c.h"
#include "ports/log.h"
#include "ports/metrics.h"
#include "ports/platform.h"
#include "store/engine/engine.h"

#define WAL_MAGIC   0x4c57454eu /* "NEWL" */
#define WAL_VERSION 2 /* written; version 1 is still read */
#define WAL_HDR     32u
#define WREC_FRAME  16u /* len, crc, seq */
#define WREC_HDR    24u /* the frame and synced_upto (version 2) */
#define NFAIL       32

struct walfile {
    uint64_t gen, first_seq, last_seq; /* last_seq 0: no record */
    uint64_t bytes;
};

struct failrange {
    uint64_t lo, hi;
    int err;
};

struct eng_wal {
    char *dir;
    enum ne_store_durability mode;
    int64_t max_loss_ns;
    uint64_t file_bytes;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_cond_t sync_cv; /* the syncer sleeps on it: writers' broadcasts on cv
                               must not wake it for every record */
    struct ne_buf buf; /* records appended, not yet taken by a leader */
    struct ne_buf io;  /* the leader's chunk */
    size_t rec_at;     /* start of the record being built */
    uint64_t next_seq;
    uint64_t appended_seq; /* last sequence sealed into buf */
    uint64_t written_seq;  /* every seq <= this reached the kernel (or failed) */
    uint64_t synced_seq;   /* every seq <= this is durable (or failed) */
    bool w_busy;           /* a leader is writing (or rotating) */
    bool s_busy;           /* an fdatasync is under way */
    uint64_t epoch;        /* definitions are repeated once per epoch */
    int err;               /* sticky NE_EFAILED after a failed sync */
    struct failrange fails[NFAIL];
    unsigned nfails;

    struct ne_file *f;
    uint64_t f_synced_off; /* offset of the current file known durable */
    uint64_t claim_off;    /* synced_upto sealed into new records: a lower
                              bound of the durable offset of the file they
                              will reach */
    struct walfile *files; /* closed files, then the current one last */
    size_t nfiles, cap_files;

    pthread_t syncer;
    bool has_syncer, stop;

    struct ne_metric *m_bytes, *m_fsyncs, *m_fsync_fail, *m_write_fail;
};

/* ---- names and headers ----------------------------------------------------- */

static void file_path(char *buf, size_t n, const char *dir, uint64_t gen)
{
    snprintf(buf, n, "%s/wal-%016" PRIx64 ".log", dir, gen);
}

static int parse_name(const char *name, uint64_t *gen)
{
    char *end;
    if (strncmp(name, "wal-", 4) != 0 || strlen(name) != 4 + 16 + 4 ||
        strcmp(name + 20, ".log") != 0)
        return NE_EINVAL;
    errno = 0;
    unsigned long long v = strtoull(name + 4, &end, 16);
    if (errno || end != name + 20) return NE_EINVAL;
    *gen = v;
    return 0;
}

static void header_encode(uint8_t *h, uint64_t gen, uint64_t first_seq)
{
    memset(h, 0, WAL_HDR);
    ne_store_u32le(h, WAL_MAGIC);
    h[4] = WAL_VERSION;
    ne_store_u64le(h + 8, gen);
    ne_store_u64le(h + 16, first_seq);
    ne_store_u32le(h + 28, ne_crc32c(0, h, 28));
}

/* Checks a file header; on success *gen and *version are set. */
static int header_check(const uint8_t *h, size_t n, uint64_t *gen, unsigned *version)
{
    if (n < WAL_HDR || ne_load_u32le(h) != WAL_MAGIC ||
        ne_load_u32le(h + 28) != ne_crc32c(0, h, 28))
        return NE_ECORRUPT;
    unsigned v = (unsigned)(h[4] | h[5] << 8);
    if (v != 1 && v != WAL_VERSION) return NE_EVERSION;
    *gen = ne_load_u64le(h + 8);
    *version = v;
    return 0;
}

/* A decoded record: where its payload is and what it proves durable. */
struct wrec {
    uint64_t seq;
    uint64_t synced_upto;
    const uint8_t *payload;
    size_t payload_len;
    size_t total; /* bytes of the whole record */
};

/* Is the record at file offset off (p points at it, n bytes available) of
 * a version-`version` file valid, with seq >= min_seq? Fills *r. */
static bool record_valid(const uint8_t *p, size_t n, size_t off, unsigned version, uint64_t min_seq,
                         struct wrec *r)
{
    size_t extra = version >= 2 ? WREC_HDR - WREC_FRAME : 0;
    if (n < WREC_FRAME + extra) return false;
    uint32_t len = ne_load_u32le(p);
    if (len < extra || len - extra > ENG_REC_MAX || len > n - WREC_FRAME) return false;
    uint64_t s = ne_load_u64le(p + 8);
    if (s < min_seq || s - min_seq > (1ull << 40)) return false;
    /* version 1 proves nothing: read as "everything before me was durable" */
    uint64_t synced = extra ? ne_load_u64le(p + WREC_FRAME) : off;
    if (synced < WAL_HDR || synced > off) return false;
    if (ne_crc32c(0, p + 8, 8 + (size_t)len) != ne_load_u32le(p + 4)) return false;
    r->seq = s;
    r->synced_upto = synced;
    r->payload = p + WREC_FRAME + extra;
    r->payload_len = len - extra;
    r->total = WREC_FRAME + (size_t)len;
    return true;
}

/* ---- writer: files ----------------------------------------------------------- */

static int files_push(struct eng_wal *w, uint64_t gen, uint64_t first_seq, uint64_t last_seq,
                      uint64_t bytes)
{
    if (w->nfiles == w->cap_files) {
        size_t nc = w->cap_files ? w->cap_files * 2 : 8;
        struct walfile *f = ne_realloc(w->files, nc * sizeof *f);
        if (!f) return NE_ENOMEM;
        w->files = f;
        w->cap_files = nc;
    }
    w->files[w->nfiles++] = (struct walfile){gen, first_seq, last_seq, bytes};
    return 0;
}

static struct walfile *cur_file(struct eng_wal *w)
{
    return &w->files[w->nfiles - 1];
}

/* Creates file gen with its header, durable (file and directory). */
static int file_create(struct eng_wal *w, uint64_t gen, uint64_t first_seq, struct ne_file **out)
{
    char path[4096];
    uint8_t h[WAL_HDR];
    struct ne_file *f = NULL;
    file_path(path, sizeof path, w->dir, gen);
    header_encode(h, gen, first_seq);
    int rc = ne_file_open(path, NE_F_WRITE | NE_F_CREATE | NE_F_TRUNC, &f);
    if (!rc) rc = ne_file_append(f, h, sizeof h);
    /* The header is made durable in every mode before any record follows
     * it: a bad header on a file with records is then real corruption,
     * never a torn creation (replay_file relies on this). */
    if (!rc && w->mode != NE_STORE_NONE) rc = ne_file_datasync(f);
    if (!rc) rc = ne_fs_sync_dir(w->dir);
    if (rc) {
        ne_log(NE_LOG_ERROR, ENG_MOD, "cannot create WAL file", "path", path, "err",
               ne_strerror(rc), NULL);
        ne_file_close(&f);
        if (rc != NE_ENOSPC) (void)ne_fs_unlink(path);
        return rc;
    }
    *out = f;
    return 0;
}

/* ---- writer: group commit ---------------------------------------------------- */

static void fail_record(struct eng_wal *w, uint64_t lo, uint64_t hi, int err)
{
    w->fails[w->nfails % NFAIL] = (struct failrange){lo, hi, err};
    w->nfails++;
}

static int fail_lookup(const struct eng_wal *w, uint64_t seq)
{
    unsigned n = w->nfails < NFAIL ? w->nfails : NFAIL;
    for (unsigned i = 0; i < n; i++)
        if (seq >= w->fails[i].lo && seq <= w->fails[i].hi) return w->fails[i].err;
    return 0;
}

/* With mu held and the write slot (and the sync slot if want_sync) taken
 * by the caller: writes the pending buffer
 * (unlocking around the I/O), then syncs if want_sync. */
static int leader_io(struct eng_wal *w, bool want_sync)
{
    struct ne_buf tmp = w->io;
    w->io = w->buf;
    w->buf = tmp;
    ne_buf_reset(&w->buf);
    uint64_t lo = w->written_seq + 1, hi = w->appended_seq;
    size_t len = w->io.len;
    pthread_mutex_unlock(&w->mu);

    int rc = 0, wrc = 0;
    uint64_t before = 0;
    (void)ne_file_size(w->f, &before);
    if (len) {
        wrc = ne_file_append(w->f, w->io.p, len);
        if (wrc && ne_file_truncate(w->f, before) != 0)
            wrc = NE_EFAILED; /* the tail is unknown now */
    }
    uint64_t end = before + (wrc ? 0 : len);
    if (!wrc && want_sync) rc = ne_file_datasync(w->f);

    pthread_mutex_lock(&w->mu);
    ne_buf_reset(&w->io);
    if (len) {
        if (wrc) {
            /* records appended meanwhile may refer to series defined in
             * the lost chunk: they fail too, and definitions start over */
            hi = w->appended_seq;
            ne_buf_reset(&w->buf);
            w->epoch++;
            fail_record(w, lo, hi, wrc == NE_ENOSPC ? NE_ENOSPC : NE_EIO);
            ne_metric_inc(w->m_write_fail);
            if (wrc == NE_EFAILED) w->err = NE_EFAILED;
        } else {
            cur_file(w)->bytes = end;
            if (hi >= lo) cur_file(w)->last_seq = hi;
            ne_metric_add(w->m_bytes, len);
        }
        w->written_seq = hi;
    }
    if (want_sync) {
        ne_metric_inc(w->m_fsyncs);
        if (rc) {
            ne_metric_inc(w->m_fsync_fail);
            w->err = NE_EFAILED;
            ne_log(NE_LOG_ERROR, ENG_MOD, "WAL fdatasync failed: nothing more is acknowledged",
                   "path", ne_file_path(w->f), "err", ne_strerror(rc), NULL);
        } else {
            w->synced_seq = w->written_seq;
            w->f_synced_off = w->claim_off = end;
        }
    }
    if (wrc && !(wrc == NE_ENOSPC || wrc == NE_EIO || wrc == NE_EFAILED)) wrc = NE_EIO;
    return wrc ? wrc : rc;
}

static bool reached(const struct eng_wal *w, uint64_t seq)
{
    return w->mode == NE_STORE_SYNC ? seq <= w->synced_seq : seq <= w->written_seq;
}

int eng_wal_wait(struct eng_wal *w, uint64_t seq)
{
    pthread_mutex_lock(&w->mu);
    int rc = 0;
    for (;;) {
        if ((rc = fail_lookup(w, seq))) break;
        if (w->err && !(seq <= w->synced_seq)) {
            rc = w->err;
            break;
        }
        if (reached(w, seq)) break;
        bool sync = w->mode == NE_STORE_SYNC;
        if (!w->w_busy && !(sync && w->s_busy)) {
            w->w_busy = true;
            w->s_busy |= sync;
            (void)leader_io(w, sync);
            w->w_busy = false;
            if (sync) w->s_busy = false;
            pthread_cond_broadcast(&w->cv);
            continue;
        }
        pthread_cond_wait(&w->cv, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return rc;
}

/* Waits until neither a write nor a sync is under way; returns with mu
 * held and both slots taken. */
static void io_acquire(struct eng_wal *w)
{
    while (w->w_busy || w->s_busy)
        pthread_cond_wait(&w->cv, &w->mu);
    w->w_busy = w->s_busy = true;
}

static void io_release(struct eng_wal *w)
{
    w->w_busy = w->s_busy = false;
    pthread_cond_broadcast(&w->cv);
}

/* Interval mode: fdatasyncs what was written, while writers go on writing
 * (only rotation, which closes the file, excludes both). */
static void background_sync(struct eng_wal *w)
{
    while (w->s_busy)
        pthread_cond_wait(&w->cv, &w->mu);
    if (w->err) return;
    w->s_busy = true;
    uint64_t target = w->written_seq, off = cur_file(w)->bytes;
    struct ne_file *f = w->f;
    pthread_mutex_unlock(&w->mu);
    int rc = ne_file_datasync(f);
    pthread_mutex_lock(&w->mu);
    ne_metric_inc(w->m_fsyncs);
    if (rc) {
        ne_metric_inc(w->m_fsync_fail);
        w->err = NE_EFAILED;
        ne_log(NE_LOG_ERROR, ENG_MOD, "WAL fdatasync failed: nothing more is acknowledged", "path",
               ne_file_path(f), "err", ne_strerror(rc), NULL);
    } else {
        if (target > w->synced_seq) w->synced_seq = target;
        if (off > w->f_synced_off) w->f_synced_off = w->claim_off = off;
    }
    w->s_busy = false;
    pthread_cond_broadcast(&w->cv);
}

int eng_wal_sync(struct eng_wal *w)
{
    pthread_mutex_lock(&w->mu);
    io_acquire(w);
    int rc = w->err ? w->err : leader_io(w, true);
    io_release(w);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

static void *syncer_main(void *arg)
{
    struct eng_wal *w = arg;
    int64_t period = w->max_loss_ns > 0 ? w->max_loss_ns / 2 : 50000000;
    pthread_mutex_lock(&w->mu);
    while (!w->stop) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t ns = ts.tv_nsec + period;
        ts.tv_sec += ns / 1000000000;
        ts.tv_nsec = ns % 1000000000;
        pthread_cond_timedwait(&w->sync_cv, &w->mu, &ts);
        if (w->stop || w->err) continue;
        if (w->synced_seq >= w->written_seq) continue;
        background_sync(w);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* ---- writer: records ----------------------------------------------------------- */

struct ne_buf *eng_wal_begin(struct eng_wal *w)
{
    pthread_mutex_lock(&w->mu);
    w->rec_at = w->buf.len;
    if (!ne_buf_grow(&w->buf, WREC_HDR)) {
        pthread_mutex_unlock(&w->mu);
        return NULL;
    }
    return &w->buf;
}

uint64_t eng_wal_commit(struct eng_wal *w)
{
    uint64_t seq = w->next_seq++;
    uint8_t *h = w->buf.p + w->rec_at;
    size_t body = w->buf.len - w->rec_at - WREC_FRAME;
    ne_store_u32le(h, (uint32_t)body);
    ne_store_u64le(h + 8, seq);
    ne_store_u64le(h + WREC_FRAME, w->claim_off);
    ne_store_u32le(h + 4, ne_crc32c(0, h + 8, 8 + body));
    w->appended_seq = seq;
    pthread_mutex_unlock(&w->mu);
    return seq;
}

void eng_wal_abort(struct eng_wal *w)
{
    w->buf.len = w->rec_at;
    pthread_mutex_unlock(&w->mu);
}

uint64_t eng_wal_gen(const struct eng_wal *w)
{
    return w->epoch;
}

void eng_wal_set_next_seq(struct eng_wal *w, uint64_t seq)
{
    pthread_mutex_lock(&w->mu);
    w->next_seq = seq;
    w->appended_seq = w->written_seq = w->synced_seq = seq - 1;
    cur_file(w)->first_seq = seq;
    pthread_mutex_unlock(&w->mu);
}

bool eng_wal_want_rotate(struct eng_wal *w)
{
    pthread_mutex_lock(&w->mu);
    bool r = cur_file(w)->bytes + w->buf.len >= w->file_bytes;
    pthread_mutex_unlock(&w->mu);
    return r;
}

int eng_wal_rotate(struct eng_wal *w, uint64_t *first_seq_new)
{
    pthread_mutex_lock(&w->mu);
    io_acquire(w);
    int rc = w->err ? w->err : leader_io(w, true);
    struct ne_file *nf = NULL;
    uint64_t gen = cur_file(w)->gen + 1, first = w->next_seq;
    if (!rc) {
        /* records sealed from now on reach the new file (or, if it cannot
         * be created, the old one): its header is all they may claim */
        w->claim_off = WAL_HDR;
        pthread_mutex_unlock(&w->mu);
        rc = file_create(w, gen, first, &nf);
        pthread_mutex_lock(&w->mu);
    }
    if (!rc) rc = files_push(w, gen, first, 0, WAL_HDR);
    if (!rc) {
        ne_file_close(&w->f);
        w->f = nf;
        w->f_synced_off = WAL_HDR;
        w->epoch++;
        if (first_seq_new) *first_seq_new = first;
    } else if (nf) {
        ne_file_close(&nf);
    }
    io_release(w);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

void eng_wal_drop_upto(struct eng_wal *w, uint64_t upto)
{
    pthread_mutex_lock(&w->mu);
    size_t keep = 0;
    for (size_t i = 0; i < w->nfiles; i++) {
        struct walfile *f = &w->files[i];
        bool last = i + 1 == w->nfiles;
        uint64_t last_seq = last ? f->last_seq : w->files[i + 1].first_seq - 1;
        if (!last && last_seq <= upto) {
            char path[4096];
            file_path(path, sizeof path, w->dir, f->gen);
            int rc = ne_fs_unlink(path);
            if (rc && rc != NE_ENOTFOUND)
                ne_log(NE_LOG_WARN, ENG_MOD, "cannot remove WAL file", "path", path, "err",
                       ne_strerror(rc), NULL);
            continue;
        }
        w->files[keep++] = *f;
    }
    w->nfiles = keep;
    pthread_mutex_unlock(&w->mu);
}

uint64_t eng_wal_bytes(const struct eng_wal *w)
{
    struct eng_wal *ww = (struct eng_wal *)w;
    pthread_mutex_lock(&ww->mu);
    uint64_t n = 0;
    for (size_t i = 0; i < w->nfiles; i++)
        n += w->files[i].bytes;
    pthread_mutex_unlock(&ww->mu);
    return n;
}

uint64_t eng_wal_last_seq(const struct eng_wal *w)
{
    struct eng_wal *ww = (struct eng_wal *)w;
    pthread_mutex_lock(&ww->mu);
    uint64_t v = w->mode == NE_STORE_SYNC ? w->synced_seq : w->written_seq;
    pthread_mutex_unlock(&ww->mu);
    return v;
}

uint64_t eng_wal_next_seq(const struct eng_wal *w)
{
    struct eng_wal *ww = (struct eng_wal *)w;
    pthread_mutex_lock(&ww->mu);
    uint64_t v = w->next_seq;
    pthread_mutex_unlock(&ww->mu);
    return v;
}

bool eng_wal_failed(const struct eng_wal *w)
{
    struct eng_wal *ww = (struct eng_wal *)w;
    pthread_mutex_lock(&ww->mu);
    bool f = w->err != 0;
    pthread_mutex_unlock(&ww->mu);
    return f;
}

static int adopt_cb(void *ctx, const char *name, bool is_dir)
{
    struct eng_wal *w = ctx;
    uint64_t gen, size = 0, hgen;
    unsigned version;
    char path[4096];
    uint8_t h[WAL_HDR];
    size_t got = 0;
    struct ne_file *f = NULL;
    if (is_dir || parse_name(name, &gen) || gen >= cur_file(w)->gen) return 0;
    snprintf(path, sizeof path, "%s/%s", w->dir, name);
    int rc = ne_file_open(path, NE_F_READ, &f);
    if (!rc) rc = ne_file_pread(f, h, sizeof h, 0, &got);
    if (!rc) rc = ne_file_size(f, &size);
    ne_file_close(&f);
    if (rc || header_check(h, got, &hgen, &version)) return 0; /* replay already reported it */
    if ((rc = files_push(w, gen, ne_load_u64le(h + 16), 0, size))) return rc;
    /* keep the current file last, the others in generation order */
    struct walfile cur = w->files[w->nfiles - 2];
    w->files[w->nfiles - 2] = w->files[w->nfiles - 1];
    w->files[w->nfiles - 1] = cur;
    return 0;
}

int eng_wal_adopt(struct eng_wal *w)
{
    pthread_mutex_lock(&w->mu);
    int rc = ne_fs_list_dir(w->dir, adopt_cb, w);
    pthread_mutex_unlock(&w->mu);
    return rc;
}

int eng_wal_open(const struct eng_wal_opts *o, struct eng_wal **out)
{
    struct eng_wal *w = ne_calloc(1, sizeof *w);
    if (!w) return NE_ENOMEM;
    int rc = NE_ENOMEM;
    w->dir = ne_strdup(o->dir);
    if (!w->dir) goto fail;
    w->mode = o->mode;
    w->max_loss_ns = o->max_loss_ns;
    w->file_bytes = o->file_bytes ? o->file_bytes : (16u << 20);
    w->next_seq = o->next_seq ? o->next_seq : 1;
    w->appended_seq = w->written_seq = w->synced_seq = w->next_seq - 1;
    w->epoch = ((uint64_t)o->next_gen << 20) + 1;
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cv, NULL);
    pthread_cond_init(&w->sync_cv, NULL);
    w->m_bytes =
        ne_metric_counter("neoedge_store_wal_bytes_total", "Bytes appended to the WAL", NULL);
    w->m_fsyncs = ne_metric_counter("neoedge_store_wal_fsyncs_total", "WAL fdatasync calls", NULL);
    w->m_fsync_fail = ne_metric_counter("neoedge_store_wal_fsync_failures_total",
                                        "WAL fdatasync calls that failed", NULL);
    w->m_write_fail = ne_metric_counter("neoedge_store_wal_write_failures_total",
                                        "WAL writes that failed (disk full, I/O error)", NULL);
    if ((rc = file_create(w, o->next_gen, w->next_seq, &w->f))) goto fail;
    if ((rc = files_push(w, o->next_gen, w->next_seq, 0, WAL_HDR))) goto fail;
    w->f_synced_off = w->claim_off = WAL_HDR;
    if (w->mode == NE_STORE_INTERVAL) {
        if (pthread_create(&w->syncer, NULL, syncer_main, w) != 0) {
            rc = NE_ENOMEM;
            goto fail;
        }
        w->has_syncer = true;
    }
    *out = w;
    return 0;
fail:
    eng_wal_close(&w);
    return rc;
}

/* After a failed sync the current file may hold bytes the kernel never
 * wrote: cut it back to the last offset known durable, through a fresh
 * handle (the old one refuses every call). */
static void cut_failed_file(struct eng_wal *w)
{
    char path[4096];
    struct ne_file *f = NULL;
    file_path(path, sizeof path, w->dir, cur_file(w)->gen);
    int rc = ne_file_open(path, NE_F_WRITE, &f);
    if (!rc) rc = ne_file_truncate(f, w->f_synced_off);
    if (!rc) rc = ne_file_datasync(f);
    ne_file_close(&f);
    if (rc)
        ne_log(NE_LOG_ERROR, ENG_MOD, "cannot cut the WAL back after a failed sync", "path", path,
               "err", ne_strerror(rc), NULL);
}

void eng_wal_close(struct eng_wal **wp)
{
    struct eng_wal *w = *wp;
    if (!w) return;
    if (w->has_syncer) {
        pthread_mutex_lock(&w->mu);
        w->stop = true;
        pthread_cond_broadcast(&w->cv);
        pthread_cond_broadcast(&w->sync_cv);
        pthread_mutex_unlock(&w->mu);
        pthread_join(w->syncer, NULL);
    }
    if (w->f) {
        if (!w->err) (void)eng_wal_sync(w);
        ne_file_close(&w->f);
        if (w->err) cut_failed_file(w);
    }
    if (w->dir) {
        pthread_mutex_destroy(&w->mu);
        pthread_cond_destroy(&w->cv);
        pthread_cond_destroy(&w->sync_cv);
    }
    ne_buf_free(&w->buf);
    ne_buf_free(&w->io);
    ne_free(w->files);
    ne_free(w->dir);
    ne_free(w);
    *wp = NULL;
}

/* ---- recovery ------------------------------------------------------------------ */

struct gen_list {
    uint64_t *g;
    size_t n, cap;
};

static int list_cb(void *ctx, const char *name, bool is_dir)
{
    struct gen_list *l = ctx;
    uint64_t gen;
    if (is_dir || parse_name(name, &gen)) return 0;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 16;
        uint64_t *g = ne_realloc(l->g, nc * sizeof *g);
        if (!g) return NE_ENOMEM;
        l->g = g;
        l->cap = nc;
    }
    l->g[l->n++] = gen;
    return 0;
}

/* The furthest offset that valid records after off (resynchronising byte
 * by byte past damage) prove durable; 0 when none follows. Also counts
 * them in *nvalid. */
static uint64_t proven_durable_after(const uint8_t *p, size_t len, size_t off, unsigned version,
                                     uint64_t min_seq, size_t *nvalid)
{
    uint64_t proof = 0;
    *nvalid = 0;
    for (size_t c = off + 1; c + WREC_FRAME <= len;) {
        struct wrec r;
        if (!record_valid(p + c, len - c, c, version, min_seq, &r)) {
            c++;
            continue;
        }
        if (r.synced_upto > proof) proof = r.synced_upto;
        ++*nvalid;
        c += r.total;
    }
    return proof;
}

static int quarantine(const char *path)
{
    char q[4200];
    snprintf(q, sizeof q, "%s.quarantine", path);
    return ne_fs_rename(path, q);
}

static int cut_tail(const char *path, size_t off)
{
    struct ne_file *f = NULL;
    int rc = ne_file_open(path, NE_F_WRITE, &f);
    if (!rc) rc = ne_file_truncate(f, off);
    if (!rc) rc = ne_file_datasync(f);
    ne_file_close(&f);
    if (rc)
        ne_log(NE_LOG_ERROR, ENG_MOD, "cannot cut the torn WAL tail", "path", path, "err",
               ne_strerror(rc), NULL);
    return rc;
}

/* The valid prefix of a file ends at off < len: quarantines the file when
 * off lies in data known durable (newer file exists, or a later record says
 * so), else cuts the torn tail. */
static int judge_damage(const char *path, const uint8_t *p, size_t len, size_t off,
                        unsigned version, uint64_t min_seq, bool newest,
                        struct eng_replay_report *rep)
{
    char o[32], cut[32], nv[32];
    size_t nvalid = 0;
    uint64_t proof = proven_durable_after(p, len, off, version, min_seq, &nvalid);
    snprintf(o, sizeof o, "%zu", off);
    snprintf(nv, sizeof nv, "%zu", nvalid);
    if (!newest || proof > off) {
        ne_log(NE_LOG_ERROR, ENG_MOD,
               newest ? "WAL corrupt in synced data: valid prefix replayed, file quarantined"
                      : "WAL file followed by a newer one is damaged: valid prefix replayed, "
                        "file quarantined",
               "path", path, "offset", o, "valid_records_after", nv, NULL);
        rep->quarantined++;
        return quarantine(path);
    }
    snprintf(cut, sizeof cut, "%zu", len - off);
    ne_log(NE_LOG_WARN, ENG_MOD, "WAL torn tail cut (never synced)", "path", path, "offset", o,
           "bytes", cut, "valid_records_dropped", nv, NULL);
    rep->torn_cut++;
    return cut_tail(path, off);
}

/* Replays one file; newest: no later WAL file exists. */
static int replay_file(const char *dir, uint64_t gen, bool newest, uint64_t after_seq,
                       uint64_t *last_seq, eng_replay_fn fn, void *ctx,
                       struct eng_replay_report *rep)
{
    char path[4096];
    char *data = NULL;
    size_t len = 0;
    file_path(path, sizeof path, dir, gen);
    int rc = ne_fs_read_all(path, &data, &len);
    if (rc) {
        ne_log(NE_LOG_ERROR, ENG_MOD, "cannot read WAL file", "path", path, "err", ne_strerror(rc),
               NULL);
        return rc;
    }
    const uint8_t *p = (const uint8_t *)data;
    uint64_t hgen = 0;
    unsigned version = 0;
    size_t off = WAL_HDR;
    rep->files++;
    if (len < WAL_HDR || (len == WAL_HDR && header_check(p, len, &hgen, &version) == NE_ECORRUPT)) {
        /* created, header never complete or never durable (a power cut
         * during file_create, which syncs the header before any record is
         * appended): nothing was ever acknowledged in it */
        ne_free(data);
        ne_log(NE_LOG_WARN, ENG_MOD, "WAL file without a header removed", "path", path, NULL);
        rep->torn_cut++;
        return ne_fs_unlink(path);
    }
    if ((rc = header_check(p, len, &hgen, &version)) || hgen != gen) {
        ne_free(data);
        rc = rc ? rc : NE_ECORRUPT;
        ne_log(NE_LOG_ERROR, ENG_MOD, "WAL file has a bad header: quarantined", "path", path, "err",
               ne_strerror(rc), NULL);
        rep->quarantined++;
        return rc == NE_EVERSION ? rc : quarantine(path);
    }
    while (off < len) {
        struct wrec r;
        if (!record_valid(p + off, len - off, off, version, *last_seq + 1, &r)) break;
        /* records already in segments are passed too: later records may
         * refer to the series they define */
        rc = fn(ctx, r.seq, gen, r.payload, r.payload_len);
        if (rc == NE_ECORRUPT || rc == NE_ECONFLICT) {
            /* checksummed but undecodable: keep what came before, set the
             * file aside like any other damage */
            char sq[32];
            snprintf(sq, sizeof sq, "%" PRIu64, r.seq);
            ne_log(NE_LOG_ERROR, ENG_MOD,
                   "WAL record does not decode: valid prefix replayed, file quarantined", "path",
                   path, "seq", sq, NULL);
            rep->quarantined++;
            ne_free(data);
            return quarantine(path);
        }
        if (rc) {
            ne_free(data);
            return rc;
        }
        if (r.seq > after_seq) {
            rep->records++;
            rep->bytes += r.total;
        }
        *last_seq = r.seq;
        off += r.total;
    }
    if (off < len) rc = judge_damage(path, p, len, off, version, *last_seq + 1, newest, rep);
    ne_free(data);
    return rc;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int eng_wal_replay(const char *dir, uint64_t after_seq, eng_replay_fn fn, void *ctx,
                   struct eng_replay_report *rep)
{
    struct gen_list l = {0};
    memset(rep, 0, sizeof *rep);
    int rc = ne_fs_list_dir(dir, list_cb, &l);
    if (rc == NE_ENOTFOUND) rc = 0;
    if (l.n) qsort(l.g, l.n, sizeof *l.g, cmp_u64);
    uint64_t last_seq = 0;
    for (size_t i = 0; !rc && i < l.n; i++) {
        rc = replay_file(dir, l.g[i], i + 1 == l.n, after_seq, &last_seq, fn, ctx, rep);
        rep->last_gen = l.g[i];
    }
    rep->last_seq = last_seq > after_seq ? last_seq : after_seq;
    ne_free(l.g);
    return rc;
}

static int remove_cb(void *ctx, const char *name, bool is_dir)
{
    uint64_t gen;
    char path[4096];
    if (is_dir || parse_name(name, &gen)) return 0;
    snprintf(path, sizeof path, "%s/%s", (const char *)ctx, name);
    int rc = ne_fs_unlink(path);
    return rc == NE_ENOTFOUND ? 0 : rc;
}

int eng_wal_remove_all(const char *dir)
{
    int rc = ne_fs_list_dir(dir, remove_cb, (void *)dir);
    if (!rc) rc = ne_fs_sync_dir(dir);
    return rc == NE_ENOTFOUND ? 0 : rc;
}

/* ---- inspection ------------------------------------------------------------------ */

int eng_wal_inspect(const char *path, FILE *out)
{
    char *data = NULL;
    size_t len = 0;
    int rc = ne_fs_read_all(path, &data, &len);
    if (rc) {
        fprintf(out, "%s: cannot read: %s\n", path, ne_strerror(rc));
        return rc;
    }
    const uint8_t *p = (const uint8_t *)data;
    uint64_t gen = 0, last = 0, nrec = 0;
    unsigned version = 0;
    if ((rc = header_check(p, len, &gen, &version))) {
        fprintf(out, "%s: bad header: %s\n", path, ne_strerror(rc));
        ne_free(data);
        return rc;
    }
    fprintf(out,
            "file %s\nformat NEWL version %u, generation %" PRIu64 ", first seq %" PRIu64
            ", %zu bytes\n",
            path, version, gen, ne_load_u64le(p + 16), len);
    size_t off = WAL_HDR;
    while (off < len) {
        struct wrec r;
        if (!record_valid(p + off, len - off, off, version, last + 1, &r)) break;
        fprintf(out, "record seq %" PRIu64 " at %zu, %zu bytes, durable before %" PRIu64 ": ",
                r.seq, off, r.payload_len, r.synced_upto);
        if (eng_payload_print(r.payload, r.payload_len, out))
            fprintf(out, " (payload does not decode)");
        fputc('\n', out);
        last = r.seq;
        off += r.total;
        nrec++;
    }
    if (off < len) {
        size_t nvalid = 0;
        uint64_t proof = proven_durable_after(p, len, off, version, last + 1, &nvalid);
        if (proof > off)
            fprintf(out,
                    "INVALID at offset %zu: corruption in synced data (a later record proves "
                    "%" PRIu64 " bytes durable; %zu valid records after it)\n",
                    off, proof, nvalid);
        else
            fprintf(out,
                    "INVALID at offset %zu: torn tail, never synced (%zu bytes after the last "
                    "valid record, %zu valid records in them; corruption instead if a newer "
                    "WAL file exists)\n",
                    off, len - off, nvalid);
        rc = NE_ECORRUPT;
    }
    fprintf(out, "%" PRIu64 " valid records, last seq %" PRIu64 "\n", nrec, last);
    ne_free(data);
    return rc;
}
