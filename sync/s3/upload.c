/*
 * upload.c - the persisted state of a multipart upload.
 *
 * The caller stores this record (e.g. next to its upload cursor) after
 * every progress callback; decoding it after a restart lets the client
 * resume the same upload instead of starting over. Layout, little-endian:
 *
 *   off  size  field
 *   0    4     magic "NS3U"
 *   4    2     version (1)
 *   6    2     reserved (0)
 *   8    8     object_size
 *   16   8     part_size
 *   24   4     nparts (1..10000)
 *   28   4     key_len (1..4096)
 *   32   4     upload_id_len (0..1023; 0 = not created yet)
 *   36   ...   key bytes, then upload id bytes
 *        ...   nparts x { u8 etag_len (0 = part not uploaded), etag bytes }
 *   end-4 4    CRC32C of every byte before it
 *
 * Invariants: nparts == ceil(object_size / part_size); an ETag is stored
 * only for a part the server acknowledged.
 */
#include <string.h>

#include "ports/crc32c.h"
#include "ports/err.h"
#include "ports/platform.h"
#include "sync/s3/s3.h"

#define UP_MAGIC   "NS3U"
#define UP_VERSION 1
#define UP_HEADER  36
#define UP_KEY_MAX 4096

void ne_s3_upload_reset(struct ne_s3_upload *u)
{
    if (!u) return;
    ne_free(u->key);
    ne_free(u->upload_id);
    ne_free(u->parts);
    memset(u, 0, sizeof(*u));
}

uint32_t ne_s3_upload_done(const struct ne_s3_upload *u)
{
    uint32_t n = 0;
    for (uint32_t i = 0; u->parts && i < u->nparts; i++)
        n += u->parts[i].etag[0] != '\0';
    return n;
}

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static bool shape_ok(uint64_t size, uint64_t part_size, uint32_t nparts)
{
    if (part_size == 0 || nparts == 0 || nparts > NE_S3_MAX_PARTS) return false;
    uint64_t want = size == 0 ? 1 : (size + part_size - 1) / part_size;
    return want == nparts;
}

int ne_s3_upload_encode(const struct ne_s3_upload *u, uint8_t **out, size_t *len)
{
    size_t klen = u->key ? strlen(u->key) : 0;
    size_t ilen = u->upload_id ? strlen(u->upload_id) : 0;
    if (klen == 0 || klen > UP_KEY_MAX || ilen >= NE_S3_UPLOAD_ID_MAX || !u->parts ||
        !shape_ok(u->object_size, u->part_size, u->nparts))
        return NE_EINVAL;
    size_t n = UP_HEADER + klen + ilen + 4;
    for (uint32_t i = 0; i < u->nparts; i++)
        n += 1 + strlen(u->parts[i].etag);
    uint8_t *b = ne_malloc(n);
    if (!b) return NE_ENOMEM;
    memcpy(b, UP_MAGIC, 4);
    put_u16(b + 4, UP_VERSION);
    put_u16(b + 6, 0);
    put_u64(b + 8, u->object_size);
    put_u64(b + 16, u->part_size);
    put_u32(b + 24, u->nparts);
    put_u32(b + 28, (uint32_t)klen);
    put_u32(b + 32, (uint32_t)ilen);
    size_t o = UP_HEADER;
    memcpy(b + o, u->key, klen);
    o += klen;
    if (ilen) memcpy(b + o, u->upload_id, ilen);
    o += ilen;
    for (uint32_t i = 0; i < u->nparts; i++) {
        size_t el = strlen(u->parts[i].etag);
        b[o++] = (uint8_t)el;
        memcpy(b + o, u->parts[i].etag, el);
        o += el;
    }
    put_u32(b + o, ne_crc32c(0, b, o));
    *out = b;
    *len = n;
    return 0;
}

static int decode_parts(const uint8_t *p, const uint8_t *end, struct ne_s3_upload *u)
{
    for (uint32_t i = 0; i < u->nparts; i++) {
        if (p >= end) return NE_ECORRUPT;
        size_t el = *p++;
        if (el >= NE_S3_ETAG_MAX || (size_t)(end - p) < el) return NE_ECORRUPT;
        u->parts[i].number = i + 1;
        memcpy(u->parts[i].etag, p, el);
        u->parts[i].etag[el] = '\0';
        p += el;
    }
    return p == end ? 0 : NE_ECORRUPT;
}

int ne_s3_upload_decode(const void *buf, size_t len, struct ne_s3_upload *out)
{
    const uint8_t *b = buf;
    if (len < UP_HEADER + 4 || memcmp(b, UP_MAGIC, 4) != 0) return NE_ECORRUPT;
    if (get_u32(b + len - 4) != ne_crc32c(0, b, len - 4)) return NE_ECHECKSUM;
    if (get_u16(b + 4) != UP_VERSION) return NE_EVERSION;
    struct ne_s3_upload u;
    memset(&u, 0, sizeof(u));
    u.object_size = get_u64(b + 8);
    u.part_size = get_u64(b + 16);
    u.nparts = get_u32(b + 24);
    uint32_t klen = get_u32(b + 28), ilen = get_u32(b + 32);
    const uint8_t *end = b + len - 4;
    if (!shape_ok(u.object_size, u.part_size, u.nparts) || klen == 0 || klen > UP_KEY_MAX ||
        ilen >= NE_S3_UPLOAD_ID_MAX || (size_t)(end - (b + UP_HEADER)) < (size_t)klen + ilen)
        return NE_ECORRUPT;
    int rc = NE_ENOMEM;
    u.key = ne_strndup((const char *)b + UP_HEADER, klen);
    u.upload_id = ilen ? ne_strndup((const char *)b + UP_HEADER + klen, ilen) : NULL;
    u.parts = ne_calloc(u.nparts, sizeof(*u.parts));
    if (!u.key || (ilen && !u.upload_id) || !u.parts) goto fail;
    rc = decode_parts(b + UP_HEADER + klen + ilen, end, &u);
    if (rc) goto fail;
    *out = u;
    return 0;
fail:
    ne_s3_upload_reset(&u);
    return rc;
}
