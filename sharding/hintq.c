/*
 * hintq.c - the durable per-peer hint queue (format and rules in hintq.h).
 *
 * In memory the queue keeps one entry per segment file: its size and what
 * it still holds from the cursor on (records, points, record bytes). The
 * totals are the sums of those entries, so a drop, an acknowledgement or a
 * skipped corrupt tail adjusts both the same way. The cursor always points
 * into the first file; reaching the end of a file that is not the last
 * one deletes it and moves the cursor to the next.
 */
#include "sharding/hintq.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "ports/crc32c.h"
#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"

#define MOD               "replication"
#define HQ_MAGIC          "NEHQ"
#define HC_MAGIC          "NEHC"
#define HQ_VERSION        1
#define CURSOR_BYTES      28
#define CURSOR_SAVE_NS    1000000000LL
#define DEFAULT_FILE_SIZE (1u << 20)
#define PATH_LEN          1100

struct hq_file {
    uint64_t seq, size;
    uint64_t records, points, bytes; /* from the cursor on (whole file if later) */
};

struct ne_hintq {
    pthread_mutex_t mu;
    char *dir, *name;
    struct ne_hintq_opts o;
    struct hq_file *files; /* ascending seq; the last one is appended to */
    size_t nfiles, cap;
    struct ne_file *active; /* the last file, open for appending */
    struct ne_file *rd;     /* read handle of rd_seq (a file before the last) */
    uint64_t rd_seq;
    uint64_t cur_seq, cur_off; /* the head: first record not acknowledged */
    bool unsynced;             /* appends since the last datasync */
    bool dir_unsynced;         /* a file created since the directory was fsync'ed */
    int64_t synced_mono;       /* when the last datasync was */
    bool cursor_moved;         /* since the last cursor save */
    int64_t cursor_saved_mono;
    struct ne_pbuf scratch;
    struct ne_hintq_stats st;
};

/* ---- helpers -------------------------------------------------------------- */

static void file_path(const struct ne_hintq *q, uint64_t seq, char *out, size_t n)
{
    snprintf(out, n, "%s/%016" PRIx64 ".hq", q->dir, seq);
}

static void put_i64(uint8_t *p, int64_t v)
{
    ne_put_u64(p, (uint64_t)v);
}

static int64_t get_i64(const uint8_t *p)
{
    return (int64_t)ne_get_u64(p);
}

static void log_u64(enum ne_log_level lvl, const struct ne_hintq *q, const char *msg, const char *k,
                    uint64_t v, const char *path)
{
    char num[24];
    snprintf(num, sizeof num, "%" PRIu64, v);
    ne_log(lvl, MOD, msg, "queue", q->name, k, num, "path", path, NULL);
}

static void totals_sub(struct ne_hintq *q, struct hq_file *f, uint64_t recs, uint64_t pts,
                       uint64_t bytes)
{
    f->records -= recs;
    f->points -= pts;
    f->bytes -= bytes;
    q->st.records -= recs;
    q->st.points -= pts;
    q->st.bytes -= bytes;
}

static int files_push(struct ne_hintq *q, uint64_t seq, uint64_t size)
{
    if (q->nfiles == q->cap) {
        size_t nc = q->cap ? q->cap * 2 : 8;
        struct hq_file *nf = ne_realloc(q->files, nc * sizeof *nf);
        if (!nf) return NE_ENOMEM;
        q->files = nf;
        q->cap = nc;
    }
    q->files[q->nfiles++] = (struct hq_file){.seq = seq, .size = size};
    q->st.files = q->nfiles;
    return 0;
}

static bool is_last(const struct ne_hintq *q, const struct hq_file *f)
{
    return f == &q->files[q->nfiles - 1];
}

/* The handle to read file f with (the active one for the last file). */
static int reader(struct ne_hintq *q, const struct hq_file *f, struct ne_file **out)
{
    if (is_last(q, f)) {
        *out = q->active;
        return 0;
    }
    if (q->rd && q->rd_seq == f->seq) {
        *out = q->rd;
        return 0;
    }
    ne_file_close(&q->rd);
    char path[PATH_LEN];
    file_path(q, f->seq, path, sizeof path);
    int rc = ne_file_open(path, NE_F_READ, &q->rd);
    if (rc != 0) return rc;
    q->rd_seq = f->seq;
    *out = q->rd;
    return 0;
}

/* Reads the record header at off of f: 0, or NE_ECORRUPT when no whole
 * record fits before the end of the file. */
static int read_rec_hdr(struct ne_hintq *q, const struct hq_file *f, uint64_t off, uint32_t *len,
                        uint32_t *crc, int64_t *time, uint32_t *points)
{
    struct ne_file *fh;
    int rc = reader(q, f, &fh);
    if (rc != 0) return rc;
    uint8_t h[NE_HINTQ_REC_HDR];
    size_t got = 0;
    if (f->size - off < NE_HINTQ_REC_HDR) return NE_ECORRUPT;
    if ((rc = ne_file_pread(fh, h, sizeof h, off, &got)) != 0) return rc;
    if (got != sizeof h) return NE_ECORRUPT;
    *len = ne_get_u32(h);
    *crc = ne_get_u32(h + 4);
    *time = get_i64(h + 8);
    *points = ne_get_u32(h + 16);
    if ((uint64_t)*len > f->size - off - NE_HINTQ_REC_HDR) return NE_ECORRUPT;
    return 0;
}

/* ---- the head ------------------------------------------------------------- */

static void delete_file(struct ne_hintq *q, size_t i)
{
    char path[PATH_LEN];
    file_path(q, q->files[i].seq, path, sizeof path);
    if (q->rd && q->rd_seq == q->files[i].seq) ne_file_close(&q->rd);
    int rc = ne_fs_unlink(path);
    if (rc != 0 && rc != NE_ENOTFOUND)
        ne_log(NE_LOG_WARN, MOD, "cannot delete a drained hint file", "path", path, "err",
               ne_strerror(rc), NULL);
    memmove(&q->files[i], &q->files[i + 1], (q->nfiles - i - 1) * sizeof *q->files);
    q->nfiles--;
    q->st.files = q->nfiles;
}

/* Moves the cursor out of drained files (deleting them) and reads the
 * time of the head record. */
static void head_settle(struct ne_hintq *q)
{
    while (q->nfiles > 1 && q->cur_off >= q->files[0].size) {
        struct hq_file *f = &q->files[0];
        totals_sub(q, f, f->records, f->points, f->bytes); /* zero unless out of step */
        delete_file(q, 0);
        q->cur_seq = q->files[0].seq;
        q->cur_off = NE_HINTQ_FILE_HDR;
        q->cursor_moved = true;
    }
    q->st.oldest = 0;
    if (q->st.records == 0) return;
    uint32_t len, crc, pts;
    int64_t t;
    if (read_rec_hdr(q, &q->files[0], q->cur_off, &len, &crc, &t, &pts) == 0) q->st.oldest = t;
}

/* Gives up the rest of the head file (a record in it is unreadable). */
static void skip_head_file(struct ne_hintq *q, const char *why)
{
    struct hq_file *f = &q->files[0];
    char path[PATH_LEN];
    file_path(q, f->seq, path, sizeof path);
    ne_log(NE_LOG_ERROR, MOD, "hint file unreadable from here on: its remaining records are lost",
           "queue", q->name, "path", path, "why", why, NULL);
    q->st.dropped_corrupt += f->points;
    totals_sub(q, f, f->records, f->points, f->bytes);
    q->cur_off = f->size;
    q->cursor_moved = true;
    head_settle(q);
}

/* Drops the head record; returns its points. */
static uint64_t drop_head(struct ne_hintq *q)
{
    struct hq_file *f = &q->files[0];
    uint32_t len, crc, pts;
    int64_t t;
    if (read_rec_hdr(q, f, q->cur_off, &len, &crc, &t, &pts) != 0 || f->records == 0) {
        uint64_t lost = f->points;
        skip_head_file(q, "bad record header");
        return lost;
    }
    totals_sub(q, f, 1, pts, NE_HINTQ_REC_HDR + (uint64_t)len);
    q->cur_off += NE_HINTQ_REC_HDR + (uint64_t)len;
    q->cursor_moved = true;
    head_settle(q);
    return pts;
}

static int save_cursor(struct ne_hintq *q)
{
    uint8_t b[CURSOR_BYTES];
    memcpy(b, HC_MAGIC, 4);
    ne_put_u32(b + 4, HQ_VERSION);
    ne_put_u64(b + 8, q->cur_seq);
    ne_put_u64(b + 16, q->cur_off);
    ne_put_u32(b + 24, ne_crc32c(0, b, 24));
    char path[PATH_LEN];
    snprintf(path, sizeof path, "%s/cursor", q->dir);
    int rc = ne_fs_write_atomic(path, b, sizeof b);
    if (rc == 0) {
        q->cursor_moved = false;
        q->cursor_saved_mono = ne_time_mono_ns();
    }
    return rc;
}

static void load_cursor(struct ne_hintq *q)
{
    char path[PATH_LEN];
    snprintf(path, sizeof path, "%s/cursor", q->dir);
    char *b = NULL;
    size_t n = 0;
    q->cur_seq = 0;
    q->cur_off = NE_HINTQ_FILE_HDR;
    if (ne_fs_read_all(path, &b, &n) != 0) return;
    const uint8_t *u = (const uint8_t *)b;
    if (n == CURSOR_BYTES && memcmp(u, HC_MAGIC, 4) == 0 && ne_get_u32(u + 4) == HQ_VERSION &&
        ne_get_u32(u + 24) == ne_crc32c(0, u, 24)) {
        q->cur_seq = ne_get_u64(u + 8);
        q->cur_off = ne_get_u64(u + 16);
    } else {
        ne_log(NE_LOG_WARN, MOD, "hint queue cursor unreadable: resending from the first file",
               "queue", q->name, "path", path, NULL);
    }
    ne_free(b);
}

/* ---- open: listing, scanning, truncating ---------------------------------- */

static int parse_seq(const char *name, uint64_t *seq)
{
    size_t len = strlen(name);
    if (len != 19 || strcmp(name + 16, ".hq") != 0) return NE_EINVAL;
    uint64_t v = 0;
    for (int i = 0; i < 16; i++) {
        char c = name[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
        if (d < 0) return NE_EINVAL;
        v = v << 4 | (uint64_t)d;
    }
    *seq = v;
    return 0;
}

static int list_one(void *ctx, const char *name, bool is_dir)
{
    struct ne_hintq *q = ctx;
    uint64_t seq;
    if (is_dir || parse_seq(name, &seq) != 0) return 0;
    char path[PATH_LEN];
    file_path(q, seq, path, sizeof path);
    uint64_t size = 0;
    if (ne_fs_file_size(path, &size) != 0) return 0;
    return files_push(q, seq, size) == 0 ? 0 : NE_ENOMEM;
}

static int check_file_hdr(struct ne_file *fh, uint64_t seq)
{
    uint8_t h[NE_HINTQ_FILE_HDR];
    size_t got = 0;
    int rc = ne_file_pread(fh, h, sizeof h, 0, &got);
    if (rc != 0) return rc;
    if (got != sizeof h || memcmp(h, HQ_MAGIC, 4) != 0 || ne_get_u64(h + 8) != seq)
        return NE_ECORRUPT;
    return ne_get_u32(h + 4) == HQ_VERSION ? 0 : NE_EVERSION;
}

/* Counts the whole records of f from off; *end gets where they stop. */
static int scan_records(struct ne_hintq *q, struct ne_file *fh, struct hq_file *f, uint64_t off,
                        uint64_t *end)
{
    for (;;) {
        uint8_t h[NE_HINTQ_REC_HDR];
        size_t got = 0;
        *end = off;
        if (f->size - off < NE_HINTQ_REC_HDR) return 0;
        int rc = ne_file_pread(fh, h, sizeof h, off, &got);
        if (rc != 0) return rc;
        uint32_t len = ne_get_u32(h);
        if (got != sizeof h || (uint64_t)len > f->size - off - NE_HINTQ_REC_HDR) return 0;
        q->scratch.len = 0;
        if ((rc = ne_pbuf_reserve(&q->scratch, len)) != 0) return rc;
        if ((rc = ne_file_pread(fh, q->scratch.p, len, off + NE_HINTQ_REC_HDR, &got)) != 0)
            return rc;
        uint32_t crc = ne_crc32c(ne_crc32c(0, h + 8, 12), q->scratch.p, len);
        if (got != len || crc != ne_get_u32(h + 4)) return 0;
        f->records++;
        f->points += ne_get_u32(h + 16);
        f->bytes += NE_HINTQ_REC_HDR + (uint64_t)len;
        off += NE_HINTQ_REC_HDR + (uint64_t)len;
    }
}

/* Checks file i from `from`, cutting a torn tail. Returns 0, or
 * NE_ECORRUPT when its header is bad (the caller removes it). */
static int recover_file(struct ne_hintq *q, size_t i, uint64_t from)
{
    struct hq_file *f = &q->files[i];
    char path[PATH_LEN];
    file_path(q, f->seq, path, sizeof path);
    struct ne_file *fh = NULL;
    int rc = ne_file_open(path, NE_F_WRITE, &fh);
    if (rc != 0) return rc;
    if ((rc = check_file_hdr(fh, f->seq)) != 0) {
        ne_file_close(&fh);
        log_u64(NE_LOG_ERROR, q, "hint file has a bad header: removed", "bytes", f->size, path);
        return NE_ECORRUPT;
    }
    uint64_t end = from;
    rc = scan_records(q, fh, f, from, &end);
    if (rc == 0 && end < f->size) {
        log_u64(NE_LOG_WARN, q, "hint file had a torn or corrupt tail: cut", "bytes", f->size - end,
                path);
        q->st.truncated += f->size - end;
        rc = ne_file_truncate(fh, end);
        if (rc == 0) rc = ne_file_datasync(fh);
        f->size = end;
    }
    ne_file_close(&fh);
    return rc;
}

static int create_file(struct ne_hintq *q, uint64_t seq)
{
    char path[PATH_LEN];
    file_path(q, seq, path, sizeof path);
    struct ne_file *fh = NULL;
    int rc = ne_file_open(path, NE_F_WRITE | NE_F_CREATE | NE_F_TRUNC, &fh);
    if (rc != 0) return rc;
    uint8_t h[NE_HINTQ_FILE_HDR];
    memcpy(h, HQ_MAGIC, 4);
    ne_put_u32(h + 4, HQ_VERSION);
    ne_put_u64(h + 8, seq);
    rc = ne_file_append(fh, h, sizeof h);
    if (rc == 0 && q->o.sync) rc = ne_file_datasync(fh);
    if (rc == 0 && q->o.sync) rc = ne_fs_sync_dir(q->dir);
    if (rc == 0) rc = files_push(q, seq, NE_HINTQ_FILE_HDR);
    if (rc != 0) {
        ne_file_close(&fh);
        (void)ne_fs_unlink(path);
        return rc;
    }
    ne_file_close(&q->active);
    q->active = fh;
    /* without sync, the header and the new name reach the disk with the
     * next sync, before any record in the file counts as durable */
    if (!q->o.sync) q->unsynced = q->dir_unsynced = true;
    return 0;
}

static int open_active(struct ne_hintq *q)
{
    struct hq_file *last = &q->files[q->nfiles - 1];
    char path[PATH_LEN];
    file_path(q, last->seq, path, sizeof path);
    return ne_file_open(path, NE_F_WRITE, &q->active);
}

static void add_file_totals(struct ne_hintq *q, const struct hq_file *f)
{
    q->st.records += f->records;
    q->st.points += f->points;
    q->st.bytes += f->bytes;
}

/* Drops files before the cursor, checks the rest, places the cursor and
 * saves it when it moved. */
static int recover(struct ne_hintq *q)
{
    load_cursor(q);
    uint64_t saved_seq = q->cur_seq, saved_off = q->cur_off;
    size_t i = 0;
    while (i < q->nfiles) {
        struct hq_file *f = &q->files[i];
        if (f->seq < q->cur_seq) {
            delete_file(q, i);
            continue;
        }
        uint64_t from = NE_HINTQ_FILE_HDR;
        if (i == 0 && f->seq == q->cur_seq && q->cur_off > from)
            from = q->cur_off < f->size ? q->cur_off : f->size;
        int rc = recover_file(q, i, from);
        if (rc == NE_ECORRUPT) {
            delete_file(q, i);
            continue;
        }
        if (rc != 0) return rc;
        if (i == 0) {
            q->cur_seq = f->seq;
            q->cur_off = from;
        }
        add_file_totals(q, f);
        i++;
    }
    if (q->nfiles == 0) {
        int rc = create_file(q, q->cur_seq + 1);
        if (rc != 0) return rc;
        q->cur_seq = q->files[0].seq;
        q->cur_off = NE_HINTQ_FILE_HDR;
    } else {
        int rc = open_active(q);
        if (rc != 0) return rc;
    }
    head_settle(q);
    /* A cursor left past the end of its file (its records were acknowledged,
     * then lost with a power cut) or in a file gone must not stay on disk:
     * records appended from here on would sit before it, and the next
     * recovery would skip them. */
    if (q->cur_seq != saved_seq || q->cur_off != saved_off) return save_cursor(q);
    return 0;
}

int ne_hintq_open(const struct ne_hintq_opts *o, struct ne_hintq **out)
{
    *out = NULL;
    if (!o || !o->dir || !o->dir[0]) return NE_EINVAL;
    struct ne_hintq *q = ne_calloc(1, sizeof *q);
    if (!q) return NE_ENOMEM;
    q->o = *o;
    if (!q->o.file_bytes) q->o.file_bytes = DEFAULT_FILE_SIZE;
    q->dir = ne_strdup(o->dir);
    q->name = ne_strdup(o->name ? o->name : o->dir);
    pthread_mutex_init(&q->mu, NULL);
    int rc = q->dir && q->name ? 0 : NE_ENOMEM;
    if (rc == 0) rc = ne_fs_mkdir_p(q->dir);
    if (rc == 0) rc = ne_fs_list_dir(q->dir, list_one, q);
    if (rc == 0) rc = recover(q);
    if (rc != 0) {
        ne_log(NE_LOG_ERROR, MOD, "cannot open the hint queue", "queue", q->name, "dir", q->dir,
               "err", ne_strerror(rc), NULL);
        ne_hintq_close(&q);
        return rc;
    }
    q->o.dir = q->dir;
    q->o.name = q->name;
    q->cursor_saved_mono = q->synced_mono = ne_time_mono_ns();
    *out = q;
    return 0;
}

static int sync_locked(struct ne_hintq *q);

void ne_hintq_close(struct ne_hintq **pq)
{
    struct ne_hintq *q = pq ? *pq : NULL;
    if (!q) return;
    *pq = NULL;
    if (q->active) (void)sync_locked(q);
    if (q->active && q->cursor_moved) (void)save_cursor(q);
    ne_file_close(&q->active);
    ne_file_close(&q->rd);
    ne_pbuf_free(&q->scratch);
    pthread_mutex_destroy(&q->mu);
    ne_free(q->files);
    ne_free(q->dir);
    ne_free(q->name);
    ne_free(q);
}

/* ---- append --------------------------------------------------------------- */

/* Makes what was appended durable: the active file's data and, when a file
 * was created since, the directory (a synced file whose name is lost at a
 * power cut takes its records with it). */
static int sync_locked(struct ne_hintq *q)
{
    if (q->unsynced) {
        int rc = ne_file_datasync(q->active);
        if (rc != 0) return rc;
        q->unsynced = false;
        q->synced_mono = ne_time_mono_ns();
    }
    if (q->dir_unsynced) {
        int rc = ne_fs_sync_dir(q->dir);
        if (rc != 0) return rc;
        q->dir_unsynced = false;
    }
    return 0;
}

static int roll(struct ne_hintq *q)
{
    int rc = sync_locked(q);
    if (rc != 0) return rc;
    rc = create_file(q, q->files[q->nfiles - 1].seq + 1);
    if (rc == 0) q->st.files = q->nfiles;
    return rc;
}

static int write_record(struct ne_hintq *q, int64_t now_ns, uint32_t points, const void *payload,
                        size_t n)
{
    q->scratch.len = 0;
    int rc = ne_pbuf_reserve(&q->scratch, NE_HINTQ_REC_HDR + n);
    if (rc != 0) return rc;
    uint8_t *h = q->scratch.p;
    put_i64(h + 8, now_ns);
    ne_put_u32(h + 16, points);
    memcpy(h + NE_HINTQ_REC_HDR, payload, n);
    ne_put_u32(h, (uint32_t)n);
    ne_put_u32(h + 4, ne_crc32c(0, h + 8, 12 + n));
    struct hq_file *f = &q->files[q->nfiles - 1];
    rc = ne_file_append(q->active, h, NE_HINTQ_REC_HDR + n);
    if (rc != 0) {
        (void)ne_file_truncate(q->active, f->size); /* no partial record stays */
        return rc;
    }
    q->unsynced = true;
    f->size += NE_HINTQ_REC_HDR + n;
    f->records++;
    f->points += points;
    f->bytes += NE_HINTQ_REC_HDR + n;
    q->st.records++;
    q->st.points += points;
    q->st.bytes += NE_HINTQ_REC_HDR + n;
    q->st.appended++;
    if (q->st.records == 1) q->st.oldest = now_ns;
    return 0;
}

int ne_hintq_append(struct ne_hintq *q, int64_t now_ns, uint32_t points, const void *payload,
                    size_t n)
{
    uint64_t need = NE_HINTQ_REC_HDR + (uint64_t)n;
    if (n > UINT32_MAX || (q->o.max_bytes && need > q->o.max_bytes)) return NE_ETOOBIG;
    pthread_mutex_lock(&q->mu);
    while (q->o.max_bytes && q->st.records && q->st.bytes + need > q->o.max_bytes)
        q->st.dropped_bytes += drop_head(q);
    int rc = 0;
    struct hq_file *last = &q->files[q->nfiles - 1];
    if (last->size > NE_HINTQ_FILE_HDR && last->size + need > q->o.file_bytes) rc = roll(q);
    if (rc == 0) rc = write_record(q, now_ns, points, payload, n);
    bool due =
        q->o.sync_interval_ns > 0 && ne_time_mono_ns() - q->synced_mono >= q->o.sync_interval_ns;
    if (rc == 0 && (q->o.sync || due)) rc = sync_locked(q);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int ne_hintq_sync(struct ne_hintq *q)
{
    pthread_mutex_lock(&q->mu);
    int rc = sync_locked(q);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

/* ---- read, acknowledge ---------------------------------------------------- */

void ne_hintq_batch_free(struct ne_hintq_batch *b)
{
    ne_pbuf_free(&b->buf);
    ne_free(b->recs);
    memset(b, 0, sizeof *b);
}

static int batch_add(struct ne_hintq_batch *b, const struct ne_hintq_rec *r)
{
    if (b->n == b->cap) {
        size_t nc = b->cap ? b->cap * 2 : 16;
        struct ne_hintq_rec *nr = ne_realloc(b->recs, nc * sizeof *nr);
        if (!nr) return NE_ENOMEM;
        b->recs = nr;
        b->cap = nc;
    }
    b->recs[b->n++] = *r;
    b->points += r->points;
    return 0;
}

/* Reads the record at (f, off) into b. NE_ECORRUPT: unreadable. */
static int read_record(struct ne_hintq *q, const struct hq_file *f, uint64_t off,
                       struct ne_hintq_batch *b)
{
    struct ne_hintq_rec r = {.seq = f->seq, .off = off};
    uint32_t crc;
    int rc = read_rec_hdr(q, f, off, &r.len, &crc, &r.time, &r.points);
    if (rc != 0) return rc;
    struct ne_file *fh;
    if ((rc = reader(q, f, &fh)) != 0) return rc;
    if ((rc = ne_pbuf_reserve(&b->buf, r.len)) != 0) return rc;
    size_t got = 0;
    r.at = b->buf.len;
    rc = ne_file_pread(fh, b->buf.p + r.at, r.len, off + NE_HINTQ_REC_HDR, &got);
    if (rc != 0) return rc;
    if (got != r.len) return NE_ECORRUPT;
    uint8_t h[12];
    put_i64(h, r.time);
    ne_put_u32(h + 8, r.points);
    if (ne_crc32c(ne_crc32c(0, h, 12), b->buf.p + r.at, r.len) != crc) return NE_ECORRUPT;
    if ((rc = batch_add(b, &r)) != 0) return rc;
    b->buf.len += r.len;
    return 0;
}

int ne_hintq_peek(struct ne_hintq *q, size_t max_bytes, struct ne_hintq_batch *b)
{
    b->buf.len = 0;
    b->n = 0;
    b->points = 0;
    pthread_mutex_lock(&q->mu);
    int rc = 0;
    size_t fi = 0;
    uint64_t off = q->cur_off;
    while (fi < q->nfiles && q->st.records > 0) {
        const struct hq_file *f = &q->files[fi];
        if (off >= f->size) {
            if (++fi < q->nfiles) off = NE_HINTQ_FILE_HDR;
            continue;
        }
        if (b->n && b->buf.len + NE_HINTQ_REC_HDR >= max_bytes) break;
        size_t before = b->n;
        rc = read_record(q, f, off, b);
        if (rc == NE_ECORRUPT && fi == 0 && b->n == 0) {
            skip_head_file(q, "record checksum mismatch");
            off = q->cur_off;
            rc = 0;
            continue;
        }
        if (rc != 0) break;
        if (b->n == before) break;
        const struct ne_hintq_rec *r = &b->recs[b->n - 1];
        off += NE_HINTQ_REC_HDR + (uint64_t)r->len;
        b->end_seq = f->seq;
        b->end_off = off;
        if (b->buf.len >= max_bytes) break;
    }
    if (rc == NE_ECORRUPT) rc = 0; /* a later file's bad record waits to be the head */
    pthread_mutex_unlock(&q->mu);
    return rc;
}

static bool pos_before(uint64_t s1, uint64_t o1, uint64_t s2, uint64_t o2)
{
    return s1 < s2 || (s1 == s2 && o1 < o2);
}

static struct hq_file *find_file(struct ne_hintq *q, uint64_t seq)
{
    for (size_t i = 0; i < q->nfiles; i++)
        if (q->files[i].seq == seq) return &q->files[i];
    return NULL;
}

int ne_hintq_ack(struct ne_hintq *q, const struct ne_hintq_batch *b)
{
    if (b->n == 0) return 0;
    pthread_mutex_lock(&q->mu);
    for (size_t i = 0; i < b->n; i++) {
        const struct ne_hintq_rec *r = &b->recs[i];
        if (pos_before(r->seq, r->off, q->cur_seq, q->cur_off)) continue; /* dropped since */
        struct hq_file *f = find_file(q, r->seq);
        if (!f) continue;
        totals_sub(q, f, 1, r->points, NE_HINTQ_REC_HDR + (uint64_t)r->len);
    }
    if (pos_before(q->cur_seq, q->cur_off, b->end_seq, b->end_off)) {
        /* records of b may span files: every file before end_seq is drained */
        while (q->nfiles > 1 && q->files[0].seq < b->end_seq) {
            q->cur_off = q->files[0].size;
            head_settle(q);
        }
        q->cur_seq = b->end_seq;
        q->cur_off = b->end_off;
        q->cursor_moved = true;
    }
    head_settle(q);
    q->st.files = q->nfiles;
    int rc = 0;
    if (q->cursor_moved && ne_time_mono_ns() - q->cursor_saved_mono >= CURSOR_SAVE_NS)
        rc = save_cursor(q);
    pthread_mutex_unlock(&q->mu);
    return rc;
}

int ne_hintq_save_cursor(struct ne_hintq *q)
{
    pthread_mutex_lock(&q->mu);
    bool due = ne_time_mono_ns() - q->cursor_saved_mono >= CURSOR_SAVE_NS;
    int rc = q->cursor_moved && due ? save_cursor(q) : 0;
    pthread_mutex_unlock(&q->mu);
    return rc;
}

uint64_t ne_hintq_expire(struct ne_hintq *q, int64_t now_ns)
{
    if (q->o.max_age_ns <= 0) return 0;
    uint64_t dropped = 0;
    pthread_mutex_lock(&q->mu);
    while (q->st.records && q->st.oldest && q->st.oldest < now_ns - q->o.max_age_ns)
        dropped += drop_head(q);
    q->st.dropped_age += dropped;
    q->st.files = q->nfiles;
    pthread_mutex_unlock(&q->mu);
    return dropped;
}

uint64_t ne_hintq_trim(struct ne_hintq *q, uint64_t max_bytes)
{
    uint64_t dropped = 0;
    pthread_mutex_lock(&q->mu);
    while (q->st.records && q->st.bytes > max_bytes)
        dropped += drop_head(q);
    q->st.dropped_bytes += dropped;
    q->st.files = q->nfiles;
    pthread_mutex_unlock(&q->mu);
    return dropped;
}

void ne_hintq_stats(struct ne_hintq *q, struct ne_hintq_stats *out)
{
    pthread_mutex_lock(&q->mu);
    *out = q->st;
    pthread_mutex_unlock(&q->mu);
}

/* ---- offline check -------------------------------------------------------- */

struct verify {
    const char *dir;
    FILE *out;
    bool have_cursor;
    uint64_t cur_seq, cur_off;
    int rc; /* the first problem */
};

static void verify_problem(struct verify *v, int rc)
{
    if (v->rc == 0) v->rc = rc;
}

static void verify_cursor(struct verify *v)
{
    char path[PATH_LEN];
    snprintf(path, sizeof path, "%s/cursor", v->dir);
    if (!ne_fs_exists(path)) {
        fprintf(v->out, "%s: absent (the queue reads from its first file)\n", path);
        return;
    }
    char *b = NULL;
    size_t n = 0;
    int rc = ne_fs_read_all(path, &b, &n);
    const uint8_t *u = (const uint8_t *)b;
    if (rc != 0) {
        fprintf(v->out, "%s: cannot read: %s\n", path, ne_strerror(rc));
        verify_problem(v, rc);
    } else if (n != CURSOR_BYTES || memcmp(u, HC_MAGIC, 4) != 0 ||
               ne_get_u32(u + 24) != ne_crc32c(0, u, 24)) {
        fprintf(v->out, "%s: corrupt (%zu bytes)\n", path, n);
        verify_problem(v, NE_ECORRUPT);
    } else if (ne_get_u32(u + 4) != HQ_VERSION) {
        fprintf(v->out, "%s: unknown version %u\n", path, ne_get_u32(u + 4));
        verify_problem(v, NE_EVERSION);
    } else {
        v->have_cursor = true;
        v->cur_seq = ne_get_u64(u + 8);
        v->cur_off = ne_get_u64(u + 16);
        fprintf(v->out, "%s: ok, file %016" PRIx64 " offset %" PRIu64 "\n", path, v->cur_seq,
                v->cur_off);
    }
    ne_free(b);
}

/* Checks one segment file held in memory from offset from. */
static int verify_records(const char *path, const uint8_t *b, size_t n, uint64_t from, FILE *out)
{
    uint64_t off = from, recs = 0;
    while (n - off >= NE_HINTQ_REC_HDR) {
        uint32_t len = ne_get_u32(b + off);
        if ((uint64_t)len > n - off - NE_HINTQ_REC_HDR ||
            ne_crc32c(0, b + off + 8, 12 + (size_t)len) != ne_get_u32(b + off + 4))
            break;
        off += NE_HINTQ_REC_HDR + (uint64_t)len;
        recs++;
    }
    if (off < n) {
        fprintf(out,
                "%s: %" PRIu64 " whole records, then a torn or corrupt one at offset %" PRIu64
                " (%" PRIu64 " bytes to the end)\n",
                path, recs, off, (uint64_t)n - off);
        return NE_ECORRUPT;
    }
    fprintf(out, "%s: ok, %" PRIu64 " records from offset %" PRIu64 "\n", path, recs, from);
    return 0;
}

static int verify_one(void *ctx, const char *name, bool is_dir)
{
    struct verify *v = ctx;
    uint64_t seq;
    if (is_dir || parse_seq(name, &seq) != 0) return 0;
    char path[PATH_LEN];
    snprintf(path, sizeof path, "%s/%s", v->dir, name);
    if (v->have_cursor && seq < v->cur_seq) {
        fprintf(v->out, "%s: drained (deleted at the next open)\n", path);
        return 0;
    }
    char *b = NULL;
    size_t n = 0;
    int rc = ne_fs_read_all(path, &b, &n);
    const uint8_t *u = (const uint8_t *)b;
    uint64_t from = NE_HINTQ_FILE_HDR;
    if (v->have_cursor && seq == v->cur_seq) from = v->cur_off;
    if (rc != 0) {
        fprintf(v->out, "%s: cannot read: %s\n", path, ne_strerror(rc));
    } else if (n < NE_HINTQ_FILE_HDR || memcmp(u, HQ_MAGIC, 4) != 0 || ne_get_u64(u + 8) != seq) {
        fprintf(v->out, "%s: bad header\n", path);
        rc = NE_ECORRUPT;
    } else if (ne_get_u32(u + 4) != HQ_VERSION) {
        fprintf(v->out, "%s: unknown version %u\n", path, ne_get_u32(u + 4));
        rc = NE_EVERSION;
    } else if (from < NE_HINTQ_FILE_HDR || from > n) {
        fprintf(v->out, "%s: the cursor's offset %" PRIu64 " is outside the file (%zu bytes)\n",
                path, from, n);
        rc = NE_ECORRUPT;
    } else {
        rc = verify_records(path, u, n, from, v->out);
    }
    ne_free(b);
    if (rc != 0) verify_problem(v, rc);
    return 0;
}

int ne_hintq_verify_dir(const char *dir, FILE *out)
{
    struct verify v = {.dir = dir, .out = out};
    verify_cursor(&v);
    int rc = ne_fs_list_dir(dir, verify_one, &v);
    if (rc != 0) {
        fprintf(out, "%s: cannot list: %s\n", dir, ne_strerror(rc));
        verify_problem(&v, rc);
    }
    return v.rc;
}
