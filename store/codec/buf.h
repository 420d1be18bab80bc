/*
 * buf.h - a growable byte buffer (writer) and a bounds-checked reader.
 *
 * struct ne_buf is the output type of every encoder in store/ and may be
 * reused by any module that builds binary records (segments, WAL frames).
 * It owns its memory (ne_malloc/ne_realloc, so allocation-failure injection
 * reaches it); ne_buf_free releases it. Appends either succeed whole or
 * leave the buffer unchanged and return NE_ENOMEM.
 *
 * struct ne_rd reads a byte range it does not own. Every read checks the
 * remaining length and returns NE_ECORRUPT instead of running past the end,
 * so decoders built on it never read out of bounds on garbage input.
 *
 * Integers are little-endian. Varints are LEB128 (7 bits per byte, low
 * group first, at most 10 bytes for 64 bits); signed varints are zigzag
 * encoded first ((v << 1) ^ (v >> 63)).
 */
#ifndef NE_STORE_CODEC_BUF_H
#define NE_STORE_CODEC_BUF_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ports/err.h"

/* ---- writer ---------------------------------------------------------- */

struct ne_buf {
    uint8_t *p; /* bytes [0, len) are valid; NULL while cap == 0 */
    size_t len;
    size_t cap;
};

#define NE_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

/* An empty buffer (no allocation until the first append). */
void ne_buf_init(struct ne_buf *b);

/* Frees the memory and leaves an empty buffer. NULL-safe. */
void ne_buf_free(struct ne_buf *b);

/* Forgets the content, keeps the capacity. */
static inline void ne_buf_reset(struct ne_buf *b)
{
    b->len = 0;
}

/* Ensures room for `extra` more bytes without reallocation. Growth is
 * geometric. Returns 0 or NE_ENOMEM (buffer unchanged). Pointers into
 * b->p are invalidated when it reallocates. */
int ne_buf_reserve(struct ne_buf *b, size_t extra);

/* Extends len by n and returns a pointer to the n new (uninitialised)
 * bytes, or NULL on allocation failure (buffer unchanged). */
uint8_t *ne_buf_grow(struct ne_buf *b, size_t n);

/* Appends n bytes (p may be NULL when n == 0). 0 or NE_ENOMEM. */
int ne_buf_append(struct ne_buf *b, const void *p, size_t n);

/* Fixed-width little-endian appends. 0 or NE_ENOMEM. */
int ne_buf_put_u8(struct ne_buf *b, uint8_t v);
int ne_buf_put_u16le(struct ne_buf *b, uint16_t v);
int ne_buf_put_u32le(struct ne_buf *b, uint32_t v);
int ne_buf_put_u64le(struct ne_buf *b, uint64_t v);

/* LEB128 varint / zigzag varint appends. 0 or NE_ENOMEM. */
int ne_buf_put_uvarint(struct ne_buf *b, uint64_t v);
int ne_buf_put_svarint(struct ne_buf *b, int64_t v);

/* Overwrites 4 bytes at off (off + 4 <= len). For length/CRC fields
 * reserved earlier. Returns 0 or NE_EINVAL if out of range. */
int ne_buf_patch_u32le(struct ne_buf *b, size_t off, uint32_t v);

/* Number of bytes ne_buf_put_uvarint would append for v (1..10). */
size_t ne_uvarint_len(uint64_t v);

/* ---- reader ---------------------------------------------------------- */

struct ne_rd {
    const uint8_t *p;   /* next byte */
    const uint8_t *end; /* one past the last readable byte */
};

static inline void ne_rd_init(struct ne_rd *r, const void *p, size_t n)
{
    r->p = (const uint8_t *)p;
    r->end = r->p + n;
}

static inline size_t ne_rd_left(const struct ne_rd *r)
{
    return (size_t)(r->end - r->p);
}

/* Each returns 0, or NE_ECORRUPT when the bytes run out (or a varint is
 * longer than 10 bytes / overflows 64 bits); *v is written only on success
 * and the reader advances only on success. */
int ne_rd_u8(struct ne_rd *r, uint8_t *v);
int ne_rd_u16le(struct ne_rd *r, uint16_t *v);
int ne_rd_u32le(struct ne_rd *r, uint32_t *v);
int ne_rd_u64le(struct ne_rd *r, uint64_t *v);
int ne_rd_uvarint(struct ne_rd *r, uint64_t *v);
int ne_rd_svarint(struct ne_rd *r, int64_t *v);

/* Borrows the next n bytes: *out points into the reader's range. */
int ne_rd_bytes(struct ne_rd *r, size_t n, const uint8_t **out);

/* ---- little-endian helpers (unaligned-safe) ------------------------------ */

static inline uint64_t ne_load_u64le(const void *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static inline uint32_t ne_load_u32le(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    return v;
}

static inline void ne_store_u64le(void *p, uint64_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    memcpy(p, &v, 8);
}

static inline void ne_store_u32le(void *p, uint32_t v)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap32(v);
#endif
    memcpy(p, &v, 4);
}

/* Zigzag maps small signed numbers to small unsigned ones:
 * 0,-1,1,-2,... -> 0,1,2,3,... Defined for the whole int64 range. */
static inline uint64_t ne_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(-(int64_t)((uint64_t)v >> 63));
}

static inline int64_t ne_unzigzag(uint64_t u)
{
    return (int64_t)((u >> 1) ^ (uint64_t) - (int64_t)(u & 1));
}

#endif
