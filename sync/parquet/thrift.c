/*
 * thrift.c - growable byte buffer and the Thrift compact protocol encoder
 * used for Parquet page headers and the file footer.
 *
 * Compact protocol, as written here:
 *
 *   field header   delta 1..15:  [ delta:4 | type:4 ]
 *                  otherwise:    [ 0:4 | type:4 ] zigzag-varint(i16 id)
 *   bool field     the value is the type nibble (1 = true, 2 = false)
 *   i16/i32/i64    zigzag, then ULEB128 varint
 *   binary         varint length, then the bytes
 *   list           n < 15: [ n:4 | elem:4 ]; else [ 0xF | elem:4 ] varint n
 *   struct         its fields, then a stop byte 0x00
 *
 * Invariant: t->last[t->depth] is the id of the last field written in the
 * innermost open struct (0 right after it was opened).
 */
#include "sync/parquet/thrift.h"

#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"

int pq__buf_reserve(struct pq_buf *b, size_t n)
{
    if (b->err) return b->err;
    if (b->cap - b->len >= n) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->err = NE_ENOMEM;
            return b->err;
        }
        cap *= 2;
    }
    uint8_t *p = ne_realloc(b->p, cap);
    if (!p) {
        b->err = NE_ENOMEM;
        return b->err;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

void pq__buf_put(struct pq_buf *b, const void *p, size_t n)
{
    if (n == 0 || pq__buf_reserve(b, n) != 0) return;
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

void pq__buf_byte(struct pq_buf *b, uint8_t v)
{
    if (pq__buf_reserve(b, 1) != 0) return;
    b->p[b->len++] = v;
}

void pq__buf_le32(struct pq_buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    pq__buf_put(b, x, 4);
}

void pq__buf_le64(struct pq_buf *b, uint64_t v)
{
    uint8_t x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (uint8_t)(v >> (8 * i));
    pq__buf_put(b, x, 8);
}

void pq__buf_uvarint(struct pq_buf *b, uint64_t v)
{
    uint8_t x[10];
    size_t n = 0;
    while (v >= 0x80) {
        x[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    x[n++] = (uint8_t)v;
    pq__buf_put(b, x, n);
}

void pq__buf_free(struct pq_buf *b)
{
    ne_free(b->p);
    memset(b, 0, sizeof(*b));
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

void pq__tc_init(struct pq_tc *t, struct pq_buf *b)
{
    memset(t, 0, sizeof(*t));
    t->b = b;
}

static void field_header(struct pq_tc *t, int16_t id, enum pq_ttype type)
{
    int delta = id - t->last[t->depth];
    if (delta > 0 && delta <= 15) {
        pq__buf_byte(t->b, (uint8_t)(delta << 4 | type));
    } else {
        pq__buf_byte(t->b, (uint8_t)type);
        pq__buf_uvarint(t->b, zigzag(id));
    }
    t->last[t->depth] = id;
}

static void push(struct pq_tc *t)
{
    if (t->depth + 1 >= PQ_THRIFT_MAX_DEPTH) {
        if (!t->b->err) t->b->err = NE_ELIMIT;
        return;
    }
    t->depth++;
    t->last[t->depth] = 0;
}

void pq__tc_i16(struct pq_tc *t, int16_t id, int16_t v)
{
    field_header(t, id, PQ_T_I16);
    pq__buf_uvarint(t->b, zigzag(v));
}

void pq__tc_i32(struct pq_tc *t, int16_t id, int32_t v)
{
    field_header(t, id, PQ_T_I32);
    pq__buf_uvarint(t->b, zigzag(v));
}

void pq__tc_i64(struct pq_tc *t, int16_t id, int64_t v)
{
    field_header(t, id, PQ_T_I64);
    pq__buf_uvarint(t->b, zigzag(v));
}

void pq__tc_bool(struct pq_tc *t, int16_t id, bool v)
{
    field_header(t, id, v ? PQ_T_BOOL_TRUE : PQ_T_BOOL_FALSE);
}

void pq__tc_bin(struct pq_tc *t, int16_t id, const void *p, size_t n)
{
    field_header(t, id, PQ_T_BINARY);
    pq__buf_uvarint(t->b, n);
    pq__buf_put(t->b, p, n);
}

void pq__tc_str(struct pq_tc *t, int16_t id, const char *s)
{
    pq__tc_bin(t, id, s, strlen(s));
}

void pq__tc_struct(struct pq_tc *t, int16_t id)
{
    field_header(t, id, PQ_T_STRUCT);
    push(t);
}

void pq__tc_list(struct pq_tc *t, int16_t id, enum pq_ttype et, uint32_t n)
{
    field_header(t, id, PQ_T_LIST);
    if (n < 15) {
        pq__buf_byte(t->b, (uint8_t)(n << 4 | et));
    } else {
        pq__buf_byte(t->b, (uint8_t)(0xF0 | et));
        pq__buf_uvarint(t->b, n);
    }
}

void pq__tc_elem_i32(struct pq_tc *t, int32_t v)
{
    pq__buf_uvarint(t->b, zigzag(v));
}

void pq__tc_elem_str(struct pq_tc *t, const char *s)
{
    size_t n = strlen(s);
    pq__buf_uvarint(t->b, n);
    pq__buf_put(t->b, s, n);
}

void pq__tc_elem_struct(struct pq_tc *t)
{
    push(t);
}

void pq__tc_end(struct pq_tc *t)
{
    pq__buf_byte(t->b, 0);
    if (t->depth > 0) t->depth--;
}
