/*
 * buf.c - growable byte buffer and bounds-checked reader (see buf.h).
 *
 * Invariants: 0 <= len <= cap; p == NULL iff cap == 0. A failed append
 * leaves len and the content unchanged. The reader never advances past
 * end and never dereferences a byte at or beyond it.
 */
#include "store/codec/buf.h"

#include "ports/platform.h"

void ne_buf_init(struct ne_buf *b)
{
    b->p = NULL;
    b->len = 0;
    b->cap = 0;
}

void ne_buf_free(struct ne_buf *b)
{
    if (!b) return;
    ne_free(b->p);
    ne_buf_init(b);
}

int ne_buf_reserve(struct ne_buf *b, size_t extra)
{
    if (extra <= b->cap - b->len) return 0;
    if (extra > SIZE_MAX / 2 - b->len) return NE_ENOMEM;
    size_t need = b->len + extra;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    uint8_t *np = ne_realloc(b->p, cap);
    if (!np) return NE_ENOMEM;
    b->p = np;
    b->cap = cap;
    return 0;
}

uint8_t *ne_buf_grow(struct ne_buf *b, size_t n)
{
    if (ne_buf_reserve(b, n) != 0) return NULL;
    uint8_t *at = b->p + b->len;
    b->len += n;
    return at;
}

int ne_buf_append(struct ne_buf *b, const void *p, size_t n)
{
    if (n == 0) return 0;
    uint8_t *at = ne_buf_grow(b, n);
    if (!at) return NE_ENOMEM;
    memcpy(at, p, n);
    return 0;
}

int ne_buf_put_u8(struct ne_buf *b, uint8_t v)
{
    return ne_buf_append(b, &v, 1);
}

int ne_buf_put_u16le(struct ne_buf *b, uint16_t v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    return ne_buf_append(b, x, 2);
}

int ne_buf_put_u32le(struct ne_buf *b, uint32_t v)
{
    uint8_t x[4];
    ne_store_u32le(x, v);
    return ne_buf_append(b, x, 4);
}

int ne_buf_put_u64le(struct ne_buf *b, uint64_t v)
{
    uint8_t x[8];
    ne_store_u64le(x, v);
    return ne_buf_append(b, x, 8);
}

size_t ne_uvarint_len(uint64_t v)
{
    size_t n = 1;
    while (v >= 0x80) {
        v >>= 7;
        n++;
    }
    return n;
}

int ne_buf_put_uvarint(struct ne_buf *b, uint64_t v)
{
    uint8_t x[10];
    size_t n = 0;
    while (v >= 0x80) {
        x[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    x[n++] = (uint8_t)v;
    return ne_buf_append(b, x, n);
}

int ne_buf_put_svarint(struct ne_buf *b, int64_t v)
{
    return ne_buf_put_uvarint(b, ne_zigzag(v));
}

int ne_buf_patch_u32le(struct ne_buf *b, size_t off, uint32_t v)
{
    if (off > b->len || b->len - off < 4) return NE_EINVAL;
    ne_store_u32le(b->p + off, v);
    return 0;
}

int ne_rd_u8(struct ne_rd *r, uint8_t *v)
{
    if (r->p >= r->end) return NE_ECORRUPT;
    *v = *r->p++;
    return 0;
}

int ne_rd_u16le(struct ne_rd *r, uint16_t *v)
{
    if (ne_rd_left(r) < 2) return NE_ECORRUPT;
    *v = (uint16_t)(r->p[0] | (r->p[1] << 8));
    r->p += 2;
    return 0;
}

int ne_rd_u32le(struct ne_rd *r, uint32_t *v)
{
    if (ne_rd_left(r) < 4) return NE_ECORRUPT;
    *v = ne_load_u32le(r->p);
    r->p += 4;
    return 0;
}

int ne_rd_u64le(struct ne_rd *r, uint64_t *v)
{
    if (ne_rd_left(r) < 8) return NE_ECORRUPT;
    *v = ne_load_u64le(r->p);
    r->p += 8;
    return 0;
}

int ne_rd_uvarint(struct ne_rd *r, uint64_t *v)
{
    uint64_t x = 0;
    const uint8_t *q = r->p;
    for (unsigned shift = 0; shift < 70; shift += 7) {
        if (q >= r->end) return NE_ECORRUPT;
        uint8_t c = *q++;
        if (shift == 63 && c > 1) return NE_ECORRUPT; /* would overflow 64 bits */
        x |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) {
            *v = x;
            r->p = q;
            return 0;
        }
    }
    return NE_ECORRUPT;
}

int ne_rd_svarint(struct ne_rd *r, int64_t *v)
{
    uint64_t u;
    int rc = ne_rd_uvarint(r, &u);
    if (rc == 0) *v = ne_unzigzag(u);
    return rc;
}

int ne_rd_bytes(struct ne_rd *r, size_t n, const uint8_t **out)
{
    if (ne_rd_left(r) < n) return NE_ECORRUPT;
    *out = r->p;
    r->p += n;
    return 0;
}
