/*
 * bundle.c - the segment bundle's codecs (header, dictionary, trailer; the
 * format is drawn in bundle.h) and its sending side.
 *
 * Sending keeps in memory only the header + dictionary (prefix) and the
 * 44-byte trailer; the segment bytes in between are read from the open
 * segment file on demand. The file is read once at open to compute the
 * trailer's checksums, so the checksum string is known before the first
 * byte goes out (it travels in a request header). The file handle is kept
 * open for the bundle's life: the store may unlink the segment meanwhile
 * (compaction after a delivery, retention) and the bytes stay readable.
 */
#include "sync/bundle/bundle.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <mbedtls/sha256.h>

#include "ports/crc32c.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "store/segment/segment.h"
#include "sync/bundle/bundle_int.h"

#define READ_CHUNK (64u * 1024u)

/* ---- format codecs ---------------------------------------------------------- */

int bundle__header_put(struct ne_buf *b, const struct ne_bundle_info *info)
{
    size_t start = b->len;
    size_t node_len = strlen(info->node);
    int rc = ne_buf_put_u32le(b, NE_BUNDLE_MAGIC);
    if (!rc) rc = ne_buf_put_u16le(b, NE_BUNDLE_VERSION);
    if (!rc) rc = ne_buf_put_u16le(b, (uint16_t)node_len);
    if (!rc) rc = ne_buf_put_u64le(b, info->segment_id);
    if (!rc) rc = ne_buf_put_u64le(b, info->seq_min);
    if (!rc) rc = ne_buf_put_u64le(b, info->seq_max);
    if (!rc) rc = ne_buf_put_u64le(b, (uint64_t)info->min_ts);
    if (!rc) rc = ne_buf_put_u64le(b, (uint64_t)info->max_ts);
    if (!rc) rc = ne_buf_put_u64le(b, info->dict_bytes);
    if (!rc) rc = ne_buf_put_u64le(b, info->segment_bytes);
    if (!rc) rc = ne_buf_put_u32le(b, info->nseries);
    if (!rc) rc = ne_buf_put_u32le(b, 0); /* flags */
    if (!rc) rc = ne_buf_append(b, info->node, node_len);
    if (!rc) rc = ne_buf_put_u32le(b, ne_crc32c(0, b->p + start, b->len - start));
    return rc;
}

int bundle__header_fixed(const uint8_t *p, struct ne_bundle_info *info, uint16_t *version,
                         char *why, size_t n)
{
    if (ne_load_u32le(p) != NE_BUNDLE_MAGIC) {
        snprintf(why, n, "not a segment bundle: bad magic in the header");
        return NE_ECORRUPT;
    }
    uint16_t node_len = (uint16_t)(p[6] | (p[7] << 8));
    if (node_len == 0 || node_len > NE_BUNDLE_NODE_MAX) {
        snprintf(why, n, "bundle header: node id length %u out of range 1..%u", node_len,
                 NE_BUNDLE_NODE_MAX);
        return NE_ECORRUPT;
    }
    memset(info, 0, sizeof *info);
    info->segment_id = ne_load_u64le(p + 8);
    info->seq_min = ne_load_u64le(p + 16);
    info->seq_max = ne_load_u64le(p + 24);
    info->min_ts = (int64_t)ne_load_u64le(p + 32);
    info->max_ts = (int64_t)ne_load_u64le(p + 40);
    info->dict_bytes = ne_load_u64le(p + 48);
    info->segment_bytes = ne_load_u64le(p + 56);
    info->nseries = ne_load_u32le(p + 64);
    info->header_bytes = NE_BUNDLE_HEADER_FIXED + node_len + 4u;
    *version = (uint16_t)(p[4] | (p[5] << 8));
    return 0;
}

int bundle__header_finish(const uint8_t *hdr, size_t len, uint16_t version,
                          struct ne_bundle_info *info, char *why, size_t n)
{
    /* The version is checked after the CRC: a flipped bit there is
     * damage, not a newer format. */
    uint32_t want = ne_load_u32le(hdr + len - 4);
    if (ne_crc32c(0, hdr, len - 4) != want) {
        snprintf(why, n, "bundle header: checksum mismatch");
        return NE_ECHECKSUM;
    }
    if (version != NE_BUNDLE_VERSION) {
        snprintf(why, n, "bundle version %u is not supported (this build reads %u)", version,
                 NE_BUNDLE_VERSION);
        return NE_EVERSION;
    }
    size_t node_len = len - NE_BUNDLE_HEADER_FIXED - 4;
    memcpy(info->node, hdr + NE_BUNDLE_HEADER_FIXED, node_len);
    info->node[node_len] = '\0';
    if (strlen(info->node) != node_len) {
        snprintf(why, n, "bundle header: node id holds a NUL byte");
        return NE_ECORRUPT;
    }
    if (ne_load_u32le(hdr + 68) != 0) {
        snprintf(why, n, "bundle header: unknown flags 0x%" PRIx32, ne_load_u32le(hdr + 68));
        return NE_ECORRUPT;
    }
    return 0;
}

static int put_str(struct ne_buf *b, const char *p, size_t len)
{
    int rc = ne_buf_put_u32le(b, (uint32_t)len);
    return rc ? rc : ne_buf_append(b, p, len);
}

int bundle__dict_put(struct ne_buf *b, const struct ne_series_info *s)
{
    size_t dl = strlen(s->db), ml = strlen(s->measurement);
    if (dl == 0 || dl > BUNDLE_DB_MAX || ml == 0 || ml > BUNDLE_NAME_MAX ||
        s->ntags > BUNDLE_TAGS_MAX)
        return NE_EINVAL;
    for (uint32_t i = 0; i < s->ntags; i++)
        if (s->tags[i].key.n == 0 || s->tags[i].key.n > BUNDLE_NAME_MAX ||
            s->tags[i].val.n > BUNDLE_NAME_MAX)
            return NE_EINVAL;
    int rc = ne_buf_put_u64le(b, s->id);
    if (!rc) rc = put_str(b, s->db, dl);
    if (!rc) rc = put_str(b, s->measurement, ml);
    if (!rc) rc = ne_buf_put_u32le(b, s->ntags);
    for (uint32_t i = 0; !rc && i < s->ntags; i++) {
        rc = put_str(b, s->tags[i].key.p, s->tags[i].key.n);
        if (!rc) rc = put_str(b, s->tags[i].val.p, s->tags[i].val.n);
    }
    return rc;
}

void bundle__trailer_make(uint32_t crc, const uint8_t sha[32], uint8_t out[NE_BUNDLE_TRAILER_BYTES])
{
    ne_store_u32le(out, NE_BUNDLE_TRAILER_MAGIC);
    ne_store_u32le(out + 4, crc);
    memcpy(out + 8, sha, 32);
    ne_store_u32le(out + 40, ne_crc32c(0, out, 40));
}

int bundle__trailer_read(const uint8_t in[NE_BUNDLE_TRAILER_BYTES], uint32_t *crc, uint8_t sha[32],
                         char *why, size_t n)
{
    if (ne_load_u32le(in) != NE_BUNDLE_TRAILER_MAGIC) {
        snprintf(why, n, "bundle trailer: bad magic (truncated or damaged bundle)");
        return NE_ECORRUPT;
    }
    if (ne_crc32c(0, in, 40) != ne_load_u32le(in + 40)) {
        snprintf(why, n, "bundle trailer: checksum mismatch");
        return NE_ECHECKSUM;
    }
    *crc = ne_load_u32le(in + 4);
    memcpy(sha, in + 8, 32);
    return 0;
}

void bundle__checksum_str(const uint8_t sha[32], char out[NE_BUNDLE_CHECKSUM_MAX])
{
    static const char hex[] = "0123456789abcdef";
    memcpy(out, "sha256:", 7);
    for (int i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[sha[i] >> 4];
        out[8 + 2 * i] = hex[sha[i] & 15];
    }
    out[71] = '\0';
}

static int hexdigit(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int ne_bundle_parse_checksum(const char *s, uint8_t out[32])
{
    if (!s || strncmp(s, "sha256:", 7) != 0 || strlen(s) != 7 + 64) return NE_EINVAL;
    uint8_t tmp[32];
    for (int i = 0; i < 32; i++) {
        int hi = hexdigit(s[7 + 2 * i]), lo = hexdigit(s[8 + 2 * i]);
        if (hi < 0 || lo < 0) return NE_EINVAL;
        tmp[i] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(out, tmp, 32);
    return 0;
}

/* ---- sending ----------------------------------------------------------------- */

struct ne_bundle {
    struct ne_bundle_info info;
    struct ne_file *seg;  /* the segment file, open for the bundle's life */
    struct ne_buf prefix; /* header + dictionary */
    uint8_t trailer[NE_BUNDLE_TRAILER_BYTES];
};

/* Reads the whole segment file once: CRC32C and SHA-256 of its bytes. */
static int hash_segment(struct ne_file *f, uint64_t size, uint32_t *crc, uint8_t sha[32])
{
    uint8_t *buf = ne_malloc(READ_CHUNK);
    if (!buf) return NE_ENOMEM;
    mbedtls_sha256_context sc;
    mbedtls_sha256_init(&sc);
    mbedtls_sha256_starts_ret(&sc, 0);
    uint32_t c = 0;
    int rc = 0;
    for (uint64_t off = 0; !rc && off < size;) {
        size_t want = size - off < READ_CHUNK ? (size_t)(size - off) : READ_CHUNK, got = 0;
        rc = ne_file_pread(f, buf, want, off, &got);
        if (!rc && got != want) rc = NE_EIO; /* the file shrank under us */
        if (rc) break;
        c = ne_crc32c(c, buf, got);
        mbedtls_sha256_update_ret(&sc, buf, got);
        off += got;
    }
    if (!rc) {
        mbedtls_sha256_finish_ret(&sc, sha);
        *crc = c;
    }
    mbedtls_sha256_free(&sc);
    ne_free(buf);
    return rc;
}

/* Appends the dictionary entries of every series the segment's columns
 * use (columns are sorted by series id, so each id comes once, in order)
 * and its CRC. Sets *nseries. */
static int build_dict(struct ne_store *store, const struct ne_seg *sr, struct ne_buf *dict,
                      uint32_t *nseries)
{
    const struct ne_seg_info *si = ne_seg_info(sr);
    uint32_t count = 0;
    uint64_t last = 0;
    int rc = 0;
    for (uint32_t i = 0; !rc && i < si->ncols; i++) {
        uint64_t id = ne_seg_col(sr, i)->key.series_id;
        if (count && id == last) continue;
        struct ne_series_info s;
        rc = ne_store_series_info(store, id, &s);
        if (rc == NE_ENOTFOUND) {
            ne_logf(NE_LOG_ERROR, BUNDLE_MOD,
                    "%s: series id %" PRIu64 " is not in the store's index", ne_seg_path_of(sr),
                    id);
            return NE_ECORRUPT;
        }
        if (!rc) rc = bundle__dict_put(dict, &s);
        if (rc == NE_EINVAL) {
            ne_logf(NE_LOG_ERROR, BUNDLE_MOD, "series %" PRIu64 " (%s): names exceed bundle limits",
                    id, s.measurement);
            return NE_ECORRUPT;
        }
        last = id;
        count++;
    }
    if (!rc) rc = ne_buf_put_u32le(dict, ne_crc32c(0, dict->p, dict->len));
    if (!rc) *nseries = count;
    return rc;
}

static int valid_node(const char *node)
{
    size_t n = node ? strlen(node) : 0;
    return n > 0 && n <= NE_BUNDLE_NODE_MAX;
}

int ne_bundle_open(struct ne_store *store, const struct ne_store_seg_desc *seg, const char *node_id,
                   struct ne_bundle **out)
{
    if (!store || !seg || !out || !valid_node(node_id)) return NE_EINVAL;
    struct ne_bundle *b = ne_calloc(1, sizeof *b);
    if (!b) return NE_ENOMEM;
    struct ne_seg *sr = NULL;
    struct ne_buf dict = NE_BUF_INIT;
    uint64_t size = 0;
    uint8_t sha[32];
    uint32_t crc = 0;
    if (!ne_fs_exists(seg->path)) {
        ne_free(b);
        return NE_ENOTFOUND;
    }
    int rc = ne_file_open(seg->path, NE_F_READ, &b->seg);
    if (!rc) rc = ne_file_size(b->seg, &size);
    if (!rc) rc = ne_seg_open(seg->path, &sr);
    if (!rc) rc = build_dict(store, sr, &dict, &b->info.nseries);
    if (!rc) rc = hash_segment(b->seg, size, &crc, sha);
    if (rc) goto fail;

    const struct ne_seg_info *si = ne_seg_info(sr);
    struct ne_bundle_info *in = &b->info;
    snprintf(in->node, sizeof in->node, "%s", node_id);
    in->segment_id = si->seg_id;
    in->seq_min = si->wal_seq_min;
    in->seq_max = si->wal_seq_max;
    in->min_ts = si->min_ts;
    in->max_ts = si->max_ts;
    in->dict_bytes = dict.len;
    in->segment_bytes = size;
    rc = bundle__header_put(&b->prefix, in);
    if (!rc) rc = ne_buf_append(&b->prefix, dict.p, dict.len);
    if (rc) goto fail;
    in->header_bytes = b->prefix.len - dict.len;
    in->total_bytes = b->prefix.len + size + NE_BUNDLE_TRAILER_BYTES;
    bundle__trailer_make(crc, sha, b->trailer);
    bundle__checksum_str(sha, in->checksum);
    ne_seg_close(&sr);
    ne_buf_free(&dict);
    *out = b;
    return 0;
fail:
    ne_seg_close(&sr);
    ne_buf_free(&dict);
    ne_bundle_close(&b);
    return rc;
}

const struct ne_bundle_info *ne_bundle_info(const struct ne_bundle *b)
{
    return &b->info;
}

/* Copies the part of src [0, n) that overlaps the read window. */
static size_t copy_part(const uint8_t *src, uint64_t src_off, uint64_t n, uint64_t off,
                        uint8_t *dst, size_t len)
{
    if (off >= src_off + n || off + len <= src_off) return 0;
    uint64_t from = off > src_off ? off - src_off : 0;
    uint64_t to = off + len < src_off + n ? off + len - src_off : n;
    memcpy(dst + (src_off + from - off), src + from, (size_t)(to - from));
    return (size_t)(to - from);
}

int ne_bundle_read(void *ctx, uint64_t off, void *buf, size_t len, size_t *nread)
{
    struct ne_bundle *b = ctx;
    const uint64_t total = b->info.total_bytes, plen = b->prefix.len;
    const uint64_t seg_end = plen + b->info.segment_bytes;
    *nread = 0;
    if (off >= total) return 0;
    if (len > total - off) len = (size_t)(total - off);
    uint8_t *dst = buf;
    size_t done = copy_part(b->prefix.p, 0, plen, off, dst, len);
    if (off + len > plen && off < seg_end) {
        uint64_t from = off > plen ? off : plen;
        uint64_t to = off + len < seg_end ? off + len : seg_end;
        size_t got = 0;
        int rc = ne_file_pread(b->seg, dst + (from - off), (size_t)(to - from), from - plen, &got);
        if (rc) return rc;
        if (got != to - from) return NE_EIO; /* the segment file shrank */
        done += got;
    }
    done += copy_part(b->trailer, seg_end, NE_BUNDLE_TRAILER_BYTES, off, dst, len);
    *nread = done;
    return 0;
}

struct ne_s3_reader ne_bundle_reader(struct ne_bundle *b)
{
    struct ne_s3_reader r = {.read = ne_bundle_read, .ctx = b, .size = b->info.total_bytes};
    return r;
}

int ne_bundle_write_file(struct ne_bundle *b, const char *path)
{
    struct ne_file *f = NULL;
    uint8_t *buf = ne_malloc(READ_CHUNK);
    int rc = buf ? ne_file_open(path, NE_F_WRITE | NE_F_CREATE | NE_F_TRUNC, &f) : NE_ENOMEM;
    for (uint64_t off = 0; !rc && off < b->info.total_bytes;) {
        size_t got = 0;
        rc = ne_bundle_read(b, off, buf, READ_CHUNK, &got);
        if (!rc) rc = ne_file_pwrite(f, buf, got, off);
        off += got;
    }
    if (!rc) rc = ne_file_datasync(f);
    int crc = ne_file_close(&f);
    ne_free(buf);
    return rc ? rc : crc;
}

void ne_bundle_close(struct ne_bundle **bp)
{
    struct ne_bundle *b = bp ? *bp : NULL;
    if (!b) return;
    ne_file_close(&b->seg);
    ne_buf_free(&b->prefix);
    ne_free(b);
    *bp = NULL;
}
