/*
 * bundle_in.c - the receiving side of the segment bundle (format in
 * bundle.h): check a bundle file completely, then hand its points out as
 * store batches.
 *
 * Checks run outermost first, so the reason names the first part that is
 * wrong: size and header, dictionary, trailer, the segment bytes against
 * the trailer's checksums (while copying them into a scratch file, since a
 * segment is read from a file of its own), the segment's own structure
 * and blocks (ne_seg_verify), and finally that header, dictionary and
 * segment agree with each other. Nothing is handed out before all of it
 * passed.
 *
 * Reading turns columns back into points: the columns of one series are
 * consecutive in a segment; one cursor per column walks its blocks, and a
 * point is every column's value at the smallest pending timestamp. Memory
 * is one decoded block per column of the current series plus the batch.
 * Strings are copied into the batch's arena because a cursor reloads its
 * block buffers as it moves on.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "ports/crc32c.h"
#include "ports/platform.h"
#include "store/segment/segment.h"
#include "sync/bundle/bundle.h"
#include "sync/bundle/bundle_int.h"

#define COPY_CHUNK (64u * 1024u)

/* One dictionary entry; views point into the reader's copy of the
 * dictionary, db into its list of distinct database names. */
struct dict_series {
    uint64_t id;
    const char *db;
    struct ne_sv meas;
    uint32_t tag0, ntags; /* in->tags[tag0 .. tag0 + ntags) */
};

/* A column of the current series being walked. */
struct col_cur {
    uint32_t col;     /* column index in the segment */
    uint32_t nblocks; /* blocks of the column */
    uint32_t blk;     /* next block to read */
    uint32_t pos;     /* next point in data */
    struct ne_seg_block data;
};

struct ne_bundle_in {
    struct ne_bundle_info info;
    char *scratch; /* the segment's copy, removed at close */
    struct ne_seg *seg;
    uint32_t batch_points;
    uint8_t *dict; /* the dictionary bytes */
    struct dict_series *series;
    uint32_t nseries;
    struct ne_tag *tags;
    char **dbs; /* distinct database names, NUL-terminated */
    uint32_t ndbs;
    /* iteration */
    uint32_t next_col;             /* first column of the next series */
    const struct dict_series *cur; /* series being read, NULL between */
    struct col_cur *cols;
    uint32_t ncols, cap_cols;
    uint64_t values;
};

static int why_set(char *why, size_t n, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int why_set(char *why, size_t n, int rc, const char *fmt, ...)
{
    if (why && n) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, n, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Reads exactly len bytes at off. */
static int read_exact(struct ne_file *f, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    int rc = ne_file_pread(f, buf, len, off, &got);
    return rc ? rc : got == len ? 0 : NE_ECORRUPT;
}

/* ---- header ---------------------------------------------------------------- */

static int check_header(struct ne_bundle_in *in, struct ne_file *f, uint64_t size, char *why,
                        size_t n)
{
    uint8_t hdr[NE_BUNDLE_HEADER_FIXED + NE_BUNDLE_NODE_MAX + 4];
    if (size < NE_BUNDLE_HEADER_FIXED + 4 + 1 + 4 + NE_BUNDLE_TRAILER_BYTES)
        return why_set(why, n, NE_ECORRUPT,
                       "bundle truncated: %" PRIu64 " bytes, too short for a bundle", size);
    int rc = read_exact(f, hdr, NE_BUNDLE_HEADER_FIXED, 0);
    if (rc) return why_set(why, n, rc, "reading the bundle header: %s", ne_strerror(rc));
    uint16_t version = 0;
    rc = bundle__header_fixed(hdr, &in->info, &version, why, n);
    if (rc) return rc;
    size_t hl = (size_t)in->info.header_bytes;
    rc = read_exact(f, hdr + NE_BUNDLE_HEADER_FIXED, hl - NE_BUNDLE_HEADER_FIXED,
                    NE_BUNDLE_HEADER_FIXED);
    if (rc) return why_set(why, n, rc, "reading the bundle header: %s", ne_strerror(rc));
    rc = bundle__header_finish(hdr, hl, version, &in->info, why, n);
    if (rc) return rc;

    const struct ne_bundle_info *i = &in->info;
    if (i->dict_bytes < 4 || i->dict_bytes > NE_BUNDLE_DICT_MAX)
        return why_set(why, n, NE_ECORRUPT,
                       "bundle header: dictionary size %" PRIu64 " out of range", i->dict_bytes);
    if (i->segment_bytes > size)
        return why_set(why, n, NE_ECORRUPT,
                       "bundle truncated: %" PRIu64 " bytes, the segment alone is %" PRIu64, size,
                       i->segment_bytes);
    uint64_t total = hl + i->dict_bytes + i->segment_bytes + NE_BUNDLE_TRAILER_BYTES;
    if (size < total)
        return why_set(why, n, NE_ECORRUPT, "bundle truncated: %" PRIu64 " of %" PRIu64 " bytes",
                       size, total);
    if (size > total)
        return why_set(why, n, NE_ECORRUPT, "bundle has %" PRIu64 " stray bytes after its trailer",
                       size - total);
    in->info.total_bytes = total;
    return 0;
}

/* ---- dictionary -------------------------------------------------------------- */

static int rd_str(struct ne_rd *r, uint32_t min, uint32_t max, struct ne_sv *out)
{
    uint32_t len;
    const uint8_t *p;
    if (ne_rd_u32le(r, &len) || len < min || len > max || ne_rd_bytes(r, len, &p))
        return NE_ECORRUPT;
    out->p = (const char *)p;
    out->n = len;
    return 0;
}

/* The interned, NUL-terminated copy of database name v. */
static const char *intern_db(struct ne_bundle_in *in, struct ne_sv v)
{
    for (uint32_t i = 0; i < in->ndbs; i++)
        if (strlen(in->dbs[i]) == v.n && memcmp(in->dbs[i], v.p, v.n) == 0) return in->dbs[i];
    char **dbs = ne_realloc(in->dbs, (in->ndbs + 1) * sizeof *dbs);
    if (!dbs) return NULL;
    in->dbs = dbs;
    char *s = ne_strndup(v.p, v.n);
    if (!s) return NULL;
    in->dbs[in->ndbs++] = s;
    return s;
}

static int push_tag(struct ne_bundle_in *in, uint32_t *cap, uint32_t ntags, struct ne_tag t)
{
    if (ntags == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 64;
        struct ne_tag *p = ne_realloc(in->tags, nc * sizeof *p);
        if (!p) return NE_ENOMEM;
        in->tags = p;
        *cap = nc;
    }
    in->tags[ntags] = t;
    return 0;
}

/* Parses entry i into in->series[i]; *ntags counts the tags so far. */
static int parse_entry(struct ne_bundle_in *in, struct ne_rd *r, uint32_t i, uint32_t *ntags,
                       uint32_t *cap_tags, char *why, size_t n)
{
    struct dict_series *s = &in->series[i];
    struct ne_sv db;
    uint32_t nt;
    if (ne_rd_u64le(r, &s->id) || (i > 0 && s->id <= in->series[i - 1].id))
        return why_set(why, n, NE_ECORRUPT,
                       "bundle dictionary: entry %u: series id missing or out of order", i);
    if (rd_str(r, 1, BUNDLE_DB_MAX, &db) || memchr(db.p, '\0', db.n))
        return why_set(why, n, NE_ECORRUPT,
                       "bundle dictionary: series %" PRIu64 ": bad database name", s->id);
    if (rd_str(r, 1, BUNDLE_NAME_MAX, &s->meas))
        return why_set(why, n, NE_ECORRUPT,
                       "bundle dictionary: series %" PRIu64 ": bad measurement", s->id);
    if (ne_rd_u32le(r, &nt) || nt > BUNDLE_TAGS_MAX)
        return why_set(why, n, NE_ECORRUPT, "bundle dictionary: series %" PRIu64 ": bad tag count",
                       s->id);
    if (!(s->db = intern_db(in, db))) return NE_ENOMEM;
    s->tag0 = *ntags;
    s->ntags = nt;
    for (uint32_t k = 0; k < nt; k++) {
        struct ne_tag t;
        if (rd_str(r, 1, BUNDLE_NAME_MAX, &t.key) || rd_str(r, 0, BUNDLE_NAME_MAX, &t.val))
            return why_set(why, n, NE_ECORRUPT, "bundle dictionary: series %" PRIu64 ": bad tag %u",
                           s->id, k);
        if (k > 0 && ne_sv_cmp(in->tags[*ntags - 1].key, t.key) >= 0)
            return why_set(why, n, NE_ECORRUPT,
                           "bundle dictionary: series %" PRIu64 ": tags not sorted by key", s->id);
        if (push_tag(in, cap_tags, *ntags, t)) return NE_ENOMEM;
        (*ntags)++;
    }
    return 0;
}

static int load_dict(struct ne_bundle_in *in, struct ne_file *f, char *why, size_t n)
{
    size_t len = (size_t)in->info.dict_bytes;
    if (!(in->dict = ne_malloc(len))) return NE_ENOMEM;
    int rc = read_exact(f, in->dict, len, in->info.header_bytes);
    if (rc) return why_set(why, n, rc, "reading the bundle dictionary: %s", ne_strerror(rc));
    if (ne_crc32c(0, in->dict, len - 4) != ne_load_u32le(in->dict + len - 4))
        return why_set(why, n, NE_ECHECKSUM, "bundle dictionary: checksum mismatch");
    uint32_t count = in->info.nseries;
    /* Each entry takes at least 8 + 4 + 1 + 4 + 1 + 4 bytes. */
    if ((uint64_t)count * 22u > len)
        return why_set(why, n, NE_ECORRUPT, "bundle dictionary: %u series cannot fit in %zu bytes",
                       count, len);
    if (count && !(in->series = ne_calloc(count, sizeof *in->series))) return NE_ENOMEM;
    struct ne_rd r;
    ne_rd_init(&r, in->dict, len - 4);
    uint32_t ntags = 0, cap_tags = 0;
    for (uint32_t i = 0; i < count; i++) {
        rc = parse_entry(in, &r, i, &ntags, &cap_tags, why, n);
        if (rc) return rc;
    }
    if (ne_rd_left(&r) != 0)
        return why_set(why, n, NE_ECORRUPT, "bundle dictionary: %zu bytes left after %u series",
                       ne_rd_left(&r), count);
    in->nseries = count;
    return 0;
}

/* ---- trailer and segment bytes ---------------------------------------------- */

/* Copies the segment bytes into the scratch file, checking them against
 * the trailer's CRC32C and SHA-256 on the way. */
static int copy_segment(struct ne_bundle_in *in, struct ne_file *f, char *why, size_t n)
{
    const struct ne_bundle_info *i = &in->info;
    uint8_t trailer[NE_BUNDLE_TRAILER_BYTES], want_sha[32], sha[32];
    uint32_t want_crc = 0, crc = 0;
    uint64_t seg_off = i->header_bytes + i->dict_bytes;
    int rc = read_exact(f, trailer, sizeof trailer, seg_off + i->segment_bytes);
    if (rc) return why_set(why, n, rc, "reading the bundle trailer: %s", ne_strerror(rc));
    rc = bundle__trailer_read(trailer, &want_crc, want_sha, why, n);
    if (rc) return rc;

    struct ne_file *out = NULL;
    uint8_t *buf = ne_malloc(COPY_CHUNK);
    mbedtls_sha256_context sc;
    mbedtls_sha256_init(&sc);
    mbedtls_sha256_starts_ret(&sc, 0);
    rc = buf ? ne_file_open(in->scratch, NE_F_WRITE | NE_F_CREATE | NE_F_TRUNC, &out) : NE_ENOMEM;
    for (uint64_t done = 0; !rc && done < i->segment_bytes;) {
        uint64_t left = i->segment_bytes - done;
        size_t want = left < COPY_CHUNK ? (size_t)left : COPY_CHUNK;
        rc = read_exact(f, buf, want, seg_off + done);
        if (!rc) rc = ne_file_pwrite(out, buf, want, done);
        if (rc) break;
        crc = ne_crc32c(crc, buf, want);
        mbedtls_sha256_update_ret(&sc, buf, want);
        done += want;
    }
    if (!rc) mbedtls_sha256_finish_ret(&sc, sha);
    mbedtls_sha256_free(&sc);
    ne_free(buf);
    int crc_close = ne_file_close(&out);
    if (!rc) rc = crc_close;
    if (rc)
        return why_set(why, n, rc, "copying the segment bytes to %s: %s", in->scratch,
                       ne_strerror(rc));
    if (crc != want_crc)
        return why_set(why, n, NE_ECHECKSUM, "bundle segment bytes: CRC32C mismatch");
    if (memcmp(sha, want_sha, 32) != 0)
        return why_set(why, n, NE_ECHECKSUM, "bundle segment bytes: SHA-256 mismatch");
    bundle__checksum_str(sha, in->info.checksum);
    return 0;
}

/* ---- the segment against header and dictionary --------------------------------- */

static const struct dict_series *find_series(const struct ne_bundle_in *in, uint64_t id)
{
    uint32_t lo = 0, hi = in->nseries;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (in->series[mid].id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < in->nseries && in->series[lo].id == id ? &in->series[lo] : NULL;
}

static int check_segment(struct ne_bundle_in *in, char *why, size_t n)
{
    char segwhy[256] = "";
    int rc = ne_seg_verify(in->scratch, segwhy, sizeof segwhy);
    if (rc) return why_set(why, n, rc, "bundle segment: %s", segwhy[0] ? segwhy : ne_strerror(rc));
    rc = ne_seg_open(in->scratch, &in->seg);
    if (rc) return why_set(why, n, rc, "bundle segment: %s", ne_strerror(rc));
    const struct ne_seg_info *si = ne_seg_info(in->seg);
    const struct ne_bundle_info *h = &in->info;
    if (si->seg_id != h->segment_id || si->wal_seq_min != h->seq_min ||
        si->wal_seq_max != h->seq_max || si->min_ts != h->min_ts || si->max_ts != h->max_ts)
        return why_set(why, n, NE_ECORRUPT,
                       "bundle header does not match its segment (id %016" PRIx64 " vs %016" PRIx64
                       ", or its WAL or time range)",
                       h->segment_id, si->seg_id);
    for (uint32_t c = 0; c < si->ncols; c++) {
        const struct ne_seg_colkey *k = &ne_seg_col(in->seg, c)->key;
        const struct dict_series *s = find_series(in, k->series_id);
        if (!s)
            return why_set(why, n, NE_ECORRUPT,
                           "bundle segment: column %u uses series %" PRIu64
                           ", which the dictionary lacks",
                           c, k->series_id);
        const char *db = si->ndbs ? ne_seg_db_name(in->seg, k->db) : NULL;
        if (db && strcmp(db, s->db) != 0)
            return why_set(why, n, NE_ECORRUPT,
                           "bundle segment: series %" PRIu64
                           " is in database \"%s\", the dictionary says \"%s\"",
                           k->series_id, db, s->db);
    }
    return 0;
}

/* ---- open / close ------------------------------------------------------------- */

int ne_bundle_in_open(const char *path, const struct ne_bundle_in_opts *opts,
                      struct ne_bundle_in **out, char *why, size_t n)
{
    if (why && n) why[0] = '\0';
    if (!path || !out) return NE_EINVAL;
    struct ne_bundle_in *in = ne_calloc(1, sizeof *in);
    if (!in) return NE_ENOMEM;
    in->batch_points = opts && opts->batch_points ? opts->batch_points : NE_BUNDLE_BATCH_POINTS;
    size_t pl = strlen(path);
    if (opts && opts->scratch_path) {
        in->scratch = ne_strdup(opts->scratch_path);
    } else if ((in->scratch = ne_malloc(pl + 5))) {
        memcpy(in->scratch, path, pl);
        memcpy(in->scratch + pl, ".seg", 5);
    }
    struct ne_file *f = NULL;
    uint64_t size = 0;
    int rc = in->scratch ? 0 : NE_ENOMEM;
    if (!rc) rc = ne_file_open(path, NE_F_READ, &f);
    if (!rc) rc = ne_file_size(f, &size);
    if (rc) why_set(why, n, rc, "cannot read the bundle %s: %s", path, ne_strerror(rc));
    if (!rc) rc = check_header(in, f, size, why, n);
    if (!rc) rc = load_dict(in, f, why, n);
    if (!rc) rc = copy_segment(in, f, why, n);
    if (!rc) rc = check_segment(in, why, n);
    ne_file_close(&f);
    if (rc) {
        if (rc == NE_ENOMEM && why && n && !why[0]) why_set(why, n, rc, "out of memory");
        ne_bundle_in_close(&in);
        return rc;
    }
    *out = in;
    return 0;
}

const struct ne_bundle_info *ne_bundle_in_info(const struct ne_bundle_in *in)
{
    return &in->info;
}

uint64_t ne_bundle_in_values(const struct ne_bundle_in *in)
{
    return in->values;
}

void ne_bundle_in_close(struct ne_bundle_in **inp)
{
    struct ne_bundle_in *in = inp ? *inp : NULL;
    if (!in) return;
    ne_seg_close(&in->seg);
    if (in->scratch && ne_fs_exists(in->scratch)) ne_fs_unlink(in->scratch);
    for (uint32_t i = 0; i < in->cap_cols; i++)
        ne_seg_block_free(&in->cols[i].data);
    for (uint32_t i = 0; i < in->ndbs; i++)
        ne_free(in->dbs[i]);
    ne_free(in->dbs);
    ne_free(in->cols);
    ne_free(in->tags);
    ne_free(in->series);
    ne_free(in->dict);
    ne_free(in->scratch);
    ne_free(in);
    *inp = NULL;
}

/* ---- points ----------------------------------------------------------------------- */

/* Makes sure the cursor has a pending point, reading its next block when
 * the current one is used up. *has tells whether it has one. */
static int cur_fill(struct ne_bundle_in *in, struct col_cur *c, bool *has)
{
    while (c->pos >= c->data.n && c->blk < c->nblocks) {
        int rc = ne_seg_block_read(in->seg, c->col, c->blk++, &c->data);
        if (rc) return rc;
        c->pos = 0;
    }
    *has = c->pos < c->data.n;
    return 0;
}

static int start_series(struct ne_bundle_in *in, const struct dict_series *s)
{
    uint32_t first = 0, count = 0;
    if (ne_seg_find_series(in->seg, s->id, &first, &count) != 0) return NE_ECORRUPT;
    if (count > in->cap_cols) {
        struct col_cur *p = ne_realloc(in->cols, count * sizeof *p);
        if (!p) return NE_ENOMEM;
        for (uint32_t i = in->cap_cols; i < count; i++)
            ne_seg_block_init(&p[i].data);
        in->cols = p;
        in->cap_cols = count;
    }
    for (uint32_t i = 0; i < count; i++) {
        struct col_cur *c = &in->cols[i];
        c->col = first + i;
        c->nblocks = ne_seg_col(in->seg, first + i)->nblocks;
        c->blk = 0;
        c->pos = 0;
        c->data.n = 0;
        bool has;
        int rc = cur_fill(in, c, &has);
        if (rc) return rc;
    }
    in->ncols = count;
    in->next_col = first + count;
    in->cur = s;
    return 0;
}

/* The series' tags with gateway=<node> in its sorted place. */
static int add_tags(struct ne_bundle_in *in, struct ne_batch *b, const struct dict_series *s)
{
    const struct ne_sv gk = NE_SV(NE_BUNDLE_GATEWAY_TAG);
    const struct ne_sv gv = ne_sv_c(in->info.node);
    bool put = false;
    int rc = 0;
    for (uint32_t i = 0; !rc && i < s->ntags; i++) {
        const struct ne_tag *t = &in->tags[s->tag0 + i];
        int c = ne_sv_cmp(t->key, gk);
        if (!put && c >= 0) {
            rc = ne_batch_tag(b, gk, gv);
            put = true;
        }
        if (!rc && c != 0) rc = ne_batch_tag(b, t->key, t->val);
    }
    if (!rc && !put) rc = ne_batch_tag(b, gk, gv);
    return rc;
}

/* Adds the cursor's pending value as a field of the point being built. */
static int add_field(struct ne_bundle_in *in, struct ne_batch *b, const struct col_cur *c)
{
    const struct ne_seg_colkey *k = &ne_seg_col(in->seg, c->col)->key;
    union ne_value v;
    switch (k->type) {
    case NE_V_FLOAT:
        v.f = c->data.v.f[c->pos];
        break;
    case NE_V_INT:
        v.i = c->data.v.i[c->pos];
        break;
    case NE_V_UINT:
        v.u = c->data.v.u[c->pos];
        break;
    case NE_V_BOOL:
        v.b = c->data.v.b[c->pos];
        break;
    case NE_V_STRING: {
        struct ne_sv s = c->data.v.s[c->pos];
        v.s = s.n ? ne_batch_copy(b, s.p, s.n) : NE_SV("");
        if (!v.s.p) return NE_ENOMEM;
        break;
    }
    default:
        return NE_ECORRUPT;
    }
    return ne_batch_field(b, k->field, (enum ne_vtype)k->type, v);
}

/* Builds the current series' next point; *done when the series has none
 * left. */
static int next_point(struct ne_bundle_in *in, struct ne_batch *b, bool *done)
{
    int64_t t = INT64_MAX;
    bool any = false;
    for (uint32_t i = 0; i < in->ncols; i++) {
        const struct col_cur *c = &in->cols[i];
        if (c->pos < c->data.n && (!any || c->data.ts[c->pos] < t)) {
            t = c->data.ts[c->pos];
            any = true;
        }
    }
    *done = !any;
    if (!any) return 0;
    int rc = ne_batch_begin(b, in->cur->meas, t);
    if (!rc) rc = add_tags(in, b, in->cur);
    for (uint32_t i = 0; !rc && i < in->ncols; i++) {
        struct col_cur *c = &in->cols[i];
        if (c->pos >= c->data.n || c->data.ts[c->pos] != t) continue;
        rc = add_field(in, b, c);
        if (rc) break;
        in->values++;
        c->pos++;
        bool has;
        rc = cur_fill(in, c, &has);
    }
    if (rc) {
        ne_batch_abort(b);
        return rc;
    }
    return ne_batch_end(b);
}

int ne_bundle_in_next(struct ne_bundle_in *in, struct ne_batch *b, const char **db)
{
    ne_batch_reset(b);
    const char *bdb = NULL;
    const uint32_t ncols = ne_seg_info(in->seg)->ncols;
    while (b->npts < in->batch_points) {
        if (!in->cur) {
            if (in->next_col >= ncols) break;
            const struct dict_series *s =
                find_series(in, ne_seg_col(in->seg, in->next_col)->key.series_id);
            if (!s) return NE_ECORRUPT;     /* ruled out at open */
            if (bdb && s->db != bdb) break; /* names are interned: one batch, one database */
            int rc = start_series(in, s);
            if (rc) return rc;
        }
        bdb = in->cur->db;
        bool done = false;
        int rc = next_point(in, b, &done);
        if (rc) return rc;
        if (done) in->cur = NULL;
    }
    if (b->npts == 0) return 0;
    *db = bdb;
    return 1;
}
