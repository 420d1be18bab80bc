/*
 * wire.h - the byte-level helpers the sharding wire formats share
 * (replicate.c's write batches, scan.c's scan and metadata messages):
 * little-endian appenders onto a struct ne_pbuf, and a bounds-checked
 * reader over untrusted bytes whose failure is sticky, so a decoder reads
 * every field and checks `bad` once at the end.
 */
#ifndef NE_SHARDING_WIRE_H
#define NE_SHARDING_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "sharding/frame.h"

/* Appenders: 0, or NE_ENOMEM with b unchanged. */
static inline int ne_wire_put(struct ne_pbuf *b, const void *p, size_t n)
{
    int rc = ne_pbuf_reserve(b, n);
    if (rc != 0) return rc;
    if (n) memcpy(b->p + b->len, p, n);
    b->len += n;
    return 0;
}

static inline int ne_wire_put_u8(struct ne_pbuf *b, uint8_t v)
{
    return ne_wire_put(b, &v, 1);
}

static inline int ne_wire_put_u16(struct ne_pbuf *b, uint16_t v)
{
    uint8_t p[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    return ne_wire_put(b, p, 2);
}

static inline int ne_wire_put_u32(struct ne_pbuf *b, uint32_t v)
{
    uint8_t p[4];
    ne_put_u32(p, v);
    return ne_wire_put(b, p, 4);
}

static inline int ne_wire_put_u64(struct ne_pbuf *b, uint64_t v)
{
    uint8_t p[8];
    ne_put_u64(p, v);
    return ne_wire_put(b, p, 8);
}

/* A reader over n bytes at p (borrowed). Reads past the end return zeros
 * (NULL for take) and set bad, which stays set. */
struct ne_wire_rd {
    const uint8_t *p;
    size_t n, off;
    bool bad;
};

static inline const uint8_t *ne_wire_take(struct ne_wire_rd *r, size_t k)
{
    if (r->bad || r->n - r->off < k) {
        r->bad = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += k;
    return p;
}

static inline uint8_t ne_wire_u8(struct ne_wire_rd *r)
{
    const uint8_t *p = ne_wire_take(r, 1);
    return p ? p[0] : 0;
}

static inline uint16_t ne_wire_u16(struct ne_wire_rd *r)
{
    const uint8_t *p = ne_wire_take(r, 2);
    return p ? (uint16_t)(p[0] | p[1] << 8) : 0;
}

static inline uint32_t ne_wire_u32(struct ne_wire_rd *r)
{
    const uint8_t *p = ne_wire_take(r, 4);
    return p ? ne_get_u32(p) : 0;
}

static inline uint64_t ne_wire_u64(struct ne_wire_rd *r)
{
    const uint8_t *p = ne_wire_take(r, 8);
    return p ? ne_get_u64(p) : 0;
}

#endif
