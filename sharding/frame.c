/*
 * frame.c - encoder and decoder of peer frames (the TLS record payload).
 *
 * Wire layout (all integers little endian):
 *
 *   0       2     3     4      5               9              13
 *   +-------+-----+-----+------+---------------+---------------+------------+
 *   | magic | ver | type| flags| len u32       | crc32c u32    | payload    |
 *   | 'P''E'| =1  |     |      | payload bytes | hdr[0..9) +   | len bytes  |
 *   |       |     |     |      | on the wire   | payload       |            |
 *   +-------+-----+-----+------+---------------+---------------+------------+
 *
 *   flags bit 0 (NE_FRAME_F_ZSTD): payload = [raw_len u32][zstd frame], the
 *   message is the decompressed frame and must be exactly raw_len bytes.
 *   Other flag bits must be zero. len <= NE_FRAME_MAX, raw_len too.
 *   The CRC32C covers the first 9 header bytes (magic..len) and then the
 *   payload exactly as sent, so corruption is caught before decompression.
 *
 * An unknown version is refused (NE_EVERSION), never guessed. TLS already
 * authenticates the bytes; the CRC catches bugs and torn buffers.
 */
#include "sharding/frame.h"

#include <string.h>
#include <zstd.h>

#include "ports/crc32c.h"
#include "ports/err.h"
#include "ports/platform.h"

int ne_pbuf_reserve(struct ne_pbuf *b, size_t need)
{
    if (b->cap - b->len >= need) return 0;
    size_t nc = b->cap ? b->cap : 256;
    while (nc - b->len < need)
        nc *= 2;
    uint8_t *np = ne_realloc(b->p, nc);
    if (!np) return NE_ENOMEM;
    b->p = np;
    b->cap = nc;
    return 0;
}

void ne_pbuf_free(struct ne_pbuf *b)
{
    ne_free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

static void put_hdr(uint8_t *h, uint8_t type, uint8_t flags, uint32_t len)
{
    h[0] = (uint8_t)(NE_FRAME_MAGIC & 0xff);
    h[1] = (uint8_t)(NE_FRAME_MAGIC >> 8);
    h[2] = NE_FRAME_VERSION;
    h[3] = type;
    h[4] = flags;
    ne_put_u32(h + 5, len);
}

/* Tries to compress into out after a reserved header; returns the wire
 * payload length, or 0 when compression does not pay (or fails). */
static size_t try_compress(struct ne_pbuf *out, const void *payload, size_t n)
{
    size_t bound = ZSTD_compressBound(n);
    if (ne_pbuf_reserve(out, NE_FRAME_HDR + 4 + bound) != 0) return 0;
    uint8_t *dst = out->p + out->len + NE_FRAME_HDR;
    size_t z = ZSTD_compress(dst + 4, bound, payload, n, 1);
    if (ZSTD_isError(z) || z + 4 >= n) return 0;
    ne_put_u32(dst, (uint32_t)n);
    return z + 4;
}

int ne_frame_encode(struct ne_pbuf *out, uint8_t type, const void *payload, size_t n,
                    size_t compress_min)
{
    if (n > NE_FRAME_MAX) return NE_ETOOBIG;
    size_t wire = 0;
    uint8_t flags = 0;
    if (compress_min && n >= compress_min && (wire = try_compress(out, payload, n)) != 0)
        flags = NE_FRAME_F_ZSTD;
    if (!flags) {
        if (ne_pbuf_reserve(out, NE_FRAME_HDR + n) != 0) return NE_ENOMEM;
        if (n) memcpy(out->p + out->len + NE_FRAME_HDR, payload, n);
        wire = n;
    }
    uint8_t *h = out->p + out->len;
    put_hdr(h, type, flags, (uint32_t)wire);
    uint32_t crc = ne_crc32c(0, h, 9);
    crc = ne_crc32c(crc, h + NE_FRAME_HDR, wire);
    ne_put_u32(h + 9, crc);
    out->len += NE_FRAME_HDR + wire;
    return 0;
}

int ne_frame_parse_hdr(const uint8_t *hdr, struct ne_frame_hdr *out)
{
    if ((hdr[0] | hdr[1] << 8) != NE_FRAME_MAGIC) return NE_ECORRUPT;
    if (hdr[2] != NE_FRAME_VERSION) return NE_EVERSION;
    if (hdr[4] & ~NE_FRAME_F_ZSTD) return NE_ECORRUPT;
    uint32_t len = ne_get_u32(hdr + 5);
    if (len > NE_FRAME_MAX) return NE_ETOOBIG;
    out->version = hdr[2];
    out->type = hdr[3];
    out->flags = hdr[4];
    out->len = len;
    out->crc = ne_get_u32(hdr + 9);
    return 0;
}

static int inflate(const uint8_t *wire, size_t n, struct ne_pbuf *scratch, const uint8_t **msg,
                   size_t *msg_len)
{
    if (n < 4) return NE_ECORRUPT;
    uint32_t raw = ne_get_u32(wire);
    if (raw > NE_FRAME_MAX) return NE_ECORRUPT;
    unsigned long long fsz = ZSTD_getFrameContentSize(wire + 4, n - 4);
    if (fsz != raw) /* also rejects unknown and error sizes */
        return NE_ECORRUPT;
    scratch->len = 0;
    if (ne_pbuf_reserve(scratch, raw ? raw : 1) != 0) return NE_ENOMEM;
    size_t got = ZSTD_decompress(scratch->p, raw, wire + 4, n - 4);
    if (ZSTD_isError(got) || got != raw) return NE_ECORRUPT;
    *msg = scratch->p;
    *msg_len = raw;
    return 0;
}

int ne_frame_open(const struct ne_frame_hdr *h, const uint8_t *hdr, const uint8_t *wire,
                  struct ne_pbuf *scratch, const uint8_t **msg, size_t *msg_len)
{
    uint32_t crc = ne_crc32c(0, hdr, 9);
    crc = ne_crc32c(crc, wire, h->len);
    if (crc != h->crc) return NE_ECHECKSUM;
    if (h->flags & NE_FRAME_F_ZSTD) return inflate(wire, h->len, scratch, msg, msg_len);
    *msg = wire;
    *msg_len = h->len;
    return 0;
}

int ne_frame_decode(const uint8_t *buf, size_t n, struct ne_pbuf *scratch, uint8_t *type,
                    const uint8_t **msg, size_t *msg_len, size_t *consumed)
{
    if (n < NE_FRAME_HDR) return NE_EAGAIN;
    struct ne_frame_hdr h;
    int rc = ne_frame_parse_hdr(buf, &h);
    if (rc) return rc;
    if (n - NE_FRAME_HDR < h.len) return NE_EAGAIN;
    rc = ne_frame_open(&h, buf, buf + NE_FRAME_HDR, scratch, msg, msg_len);
    if (rc) return rc;
    *type = h.type;
    *consumed = NE_FRAME_HDR + h.len;
    return 0;
}

/* ---- HELLO ------------------------------------------------------------- */

int ne_hello_encode(const struct ne_hello *h, struct ne_pbuf *out)
{
    size_t idl = strnlen(h->node_id, sizeof h->node_id);
    if (idl == 0 || idl >= sizeof h->node_id) return NE_EINVAL;
    if (ne_pbuf_reserve(out, 11 + idl) != 0) return NE_ENOMEM;
    uint8_t *p = out->p + out->len;
    p[0] = h->proto_min;
    p[1] = h->proto_max;
    ne_put_u64(p + 2, h->incarnation);
    p[10] = (uint8_t)idl;
    memcpy(p + 11, h->node_id, idl);
    out->len += 11 + idl;
    return 0;
}

int ne_hello_decode(const uint8_t *p, size_t n, struct ne_hello *out)
{
    if (n < 11) return NE_ECORRUPT;
    size_t idl = p[10];
    if (idl == 0 || idl > 63 || n != 11 + idl || p[0] > p[1] || p[0] == 0) return NE_ECORRUPT;
    if (memchr(p + 11, 0, idl)) return NE_ECORRUPT;
    out->proto_min = p[0];
    out->proto_max = p[1];
    out->incarnation = ne_get_u64(p + 2);
    memcpy(out->node_id, p + 11, idl);
    out->node_id[idl] = 0;
    return 0;
}

uint8_t ne_proto_negotiate(uint8_t amin, uint8_t amax, uint8_t bmin, uint8_t bmax)
{
    uint8_t lo = amin > bmin ? amin : bmin;
    uint8_t hi = amax < bmax ? amax : bmax;
    return lo <= hi ? hi : 0;
}
