/*
 * parquet_test_read.h - independent decoders for the Parquet unit tests: the
 * Thrift compact protocol (as a generic tree), the RLE/bit-packed hybrid,
 * DELTA_BINARY_PACKED, and a small whole-file reader built on them. Written
 * from the format specification, separately from the writer, so a writer bug
 * is not mirrored by the checks. Test-only: aborts the test on malformed
 * input by returning errors the callers assert on.
 */
#ifndef NE_TESTS_PARQUET_TEST_READ_H
#define NE_TESTS_PARQUET_TEST_READ_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* ---- byte cursor ------------------------------------------------------- */

struct rd {
    const uint8_t *p, *end;
    int bad;
};

static inline uint8_t rd_byte(struct rd *r)
{
    if (r->p >= r->end) {
        r->bad = 1;
        return 0;
    }
    return *r->p++;
}

static inline uint64_t rd_uvarint(struct rd *r)
{
    uint64_t v = 0;
    for (int s = 0; s < 70; s += 7) {
        uint8_t b = rd_byte(r);
        v |= (uint64_t)(b & 0x7f) << s;
        if (!(b & 0x80)) return v;
    }
    r->bad = 1;
    return 0;
}

static inline int64_t rd_zigzag(struct rd *r)
{
    uint64_t u = rd_uvarint(r);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static inline uint32_t rd_le32(struct rd *r)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++)
        v |= (uint32_t)rd_byte(r) << (8 * i);
    return v;
}

/* ---- Thrift compact: a generic tree ---------------------------------------- */

enum { TV_BOOL = 1, TV_INT, TV_BIN, TV_LIST, TV_STRUCT };

struct tv {
    int kind;
    int16_t id; /* field id inside a struct */
    int64_t i;  /* bool / integer */
    const uint8_t *bin;
    size_t len;
    struct tv *kids; /* list elements or struct fields */
    size_t nkids;
};

static inline void tv_free(struct tv *v)
{
    for (size_t i = 0; i < v->nkids; i++)
        tv_free(&v->kids[i]);
    free(v->kids);
}

static inline void tv_read(struct rd *r, int type, struct tv *out, int depth);

static inline void tv_read_struct(struct rd *r, struct tv *out, int depth)
{
    out->kind = TV_STRUCT;
    int16_t last = 0;
    for (;;) {
        uint8_t h = rd_byte(r);
        if (r->bad || h == 0) return;
        int type = h & 15;
        int16_t id = (h >> 4) ? (int16_t)(last + (h >> 4)) : (int16_t)rd_zigzag(r);
        last = id;
        out->kids = realloc(out->kids, (out->nkids + 1) * sizeof(*out->kids));
        struct tv *k = &out->kids[out->nkids++];
        memset(k, 0, sizeof(*k));
        k->id = id;
        if (type == 1 || type == 2) {
            k->kind = TV_BOOL;
            k->i = type == 1;
        } else {
            tv_read(r, type, k, depth + 1);
        }
    }
}

static inline void tv_read(struct rd *r, int type, struct tv *out, int depth)
{
    if (depth > 32) {
        r->bad = 1;
        return;
    }
    switch (type) {
    case 3:
        out->kind = TV_INT;
        out->i = (int8_t)rd_byte(r);
        break;
    case 4:
    case 5:
    case 6:
        out->kind = TV_INT;
        out->i = rd_zigzag(r);
        break;
    case 8:
        out->kind = TV_BIN;
        out->len = rd_uvarint(r);
        out->bin = r->p;
        if ((size_t)(r->end - r->p) < out->len)
            r->bad = 1;
        else
            r->p += out->len;
        break;
    case 9: {
        uint8_t h = rd_byte(r);
        size_t n = h >> 4;
        if (n == 15) n = rd_uvarint(r);
        if (n > (size_t)(r->end - r->p) + 1) {
            r->bad = 1;
            return;
        }
        out->kind = TV_LIST;
        out->kids = calloc(n ? n : 1, sizeof(*out->kids));
        out->nkids = n;
        for (size_t i = 0; i < n && !r->bad; i++) {
            if ((h & 15) == 1 || (h & 15) == 2) {
                out->kids[i].kind = TV_BOOL;
                out->kids[i].i = rd_byte(r) == 1;
            } else {
                tv_read(r, h & 15, &out->kids[i], depth + 1);
            }
        }
        break;
    }
    case 12:
        tv_read_struct(r, out, depth);
        break;
    default:
        r->bad = 1;
    }
}

/* Field id of a struct, or NULL. */
static inline const struct tv *tv_get(const struct tv *s, int16_t id)
{
    if (!s || s->kind != TV_STRUCT) return NULL;
    for (size_t i = 0; i < s->nkids; i++)
        if (s->kids[i].id == id) return &s->kids[i];
    return NULL;
}

static inline int64_t tv_int(const struct tv *s, int16_t id, int64_t dflt)
{
    const struct tv *v = tv_get(s, id);
    return v ? v->i : dflt;
}

/* ---- RLE / bit-packed hybrid and DELTA_BINARY_PACKED ------------------------ */

static inline uint64_t rd_bits(const uint8_t *p, size_t bitpos, int bw)
{
    uint64_t v = 0;
    for (int i = 0; i < bw; i++) {
        size_t b = bitpos + (size_t)i;
        v |= (uint64_t)(p[b / 8] >> (b % 8) & 1) << i;
    }
    return v;
}

/* Decodes n values; returns 0 or -1. */
static inline int rle_decode(struct rd *r, int bw, uint32_t *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        uint64_t h = rd_uvarint(r);
        if (r->bad) return -1;
        if (h & 1) {
            size_t cnt = (size_t)(h >> 1) * 8;
            size_t bytes = (size_t)(h >> 1) * (size_t)bw;
            if ((size_t)(r->end - r->p) < bytes) return -1;
            for (size_t i = 0; i < cnt && got < n; i++)
                out[got++] = (uint32_t)rd_bits(r->p, i * (size_t)bw, bw);
            r->p += bytes;
        } else {
            size_t cnt = (size_t)(h >> 1);
            uint32_t v = 0;
            for (int i = 0; i < (bw + 7) / 8; i++)
                v |= (uint32_t)rd_byte(r) << (8 * i);
            if (cnt == 0 || cnt > n - got) return -1;
            for (size_t i = 0; i < cnt; i++)
                out[got++] = v;
        }
    }
    return r->bad ? -1 : 0;
}

/* Decodes a whole DELTA_BINARY_PACKED stream; *n gets the count. */
static inline int delta_decode(struct rd *r, int64_t *out, size_t cap, size_t *n)
{
    uint64_t block = rd_uvarint(r), minis = rd_uvarint(r), total = rd_uvarint(r);
    int64_t v = rd_zigzag(r);
    if (r->bad || block == 0 || minis == 0 || block % minis || (block / minis) % 8 || total > cap)
        return -1;
    size_t per = (size_t)(block / minis), got = 0;
    if (total) out[got++] = v;
    while (got < total) {
        int64_t mind = rd_zigzag(r);
        uint8_t w[64];
        if (minis > 64) return -1;
        for (size_t m = 0; m < minis; m++)
            w[m] = rd_byte(r);
        for (size_t m = 0; m < minis && got < total; m++) {
            size_t bytes = per * w[m] / 8;
            if (w[m] > 64 || (size_t)(r->end - r->p) < bytes) return -1;
            for (size_t i = 0; i < per && got < total; i++) {
                uint64_t d = rd_bits(r->p, i * w[m], w[m]);
                v = (int64_t)((uint64_t)v + (uint64_t)mind + d);
                out[got++] = v;
            }
            r->p += bytes;
        }
    }
    *n = got;
    return r->bad ? -1 : 0;
}

#endif
