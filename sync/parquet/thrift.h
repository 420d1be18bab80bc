/*
 * thrift.h - growable byte buffer and Thrift compact protocol encoder,
 * internal to the Parquet writer (prefix pq__: the parquet part of sync).
 *
 * Only what the Parquet footer and page headers need is here: structs,
 * lists, i16/i32/i64, bool, binary. The caller drives the nesting; the
 * encoder keeps the last field id per open struct so field headers use the
 * short delta form whenever the spec allows it.
 *
 * Errors are sticky: a failed allocation sets buf->err (NE_ENOMEM) and every
 * later append is a no-op, so a whole structure is encoded and its error
 * checked once at the end.
 */
#ifndef NE_SYNC_PARQUET_THRIFT_H
#define NE_SYNC_PARQUET_THRIFT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Owns p (ne_malloc); len bytes used of cap. Zero-initialise to start. */
struct pq_buf {
    uint8_t *p;
    size_t len, cap;
    int err; /* 0 or the first NE_E* error */
};

/* Makes room for n more bytes. Returns 0 or NE_ENOMEM (also sets err). */
int pq__buf_reserve(struct pq_buf *b, size_t n);
void pq__buf_put(struct pq_buf *b, const void *p, size_t n);
void pq__buf_byte(struct pq_buf *b, uint8_t v);
void pq__buf_le32(struct pq_buf *b, uint32_t v);
void pq__buf_le64(struct pq_buf *b, uint64_t v);
void pq__buf_uvarint(struct pq_buf *b, uint64_t v);
void pq__buf_free(struct pq_buf *b);

/* Compact protocol element types (the 4-bit codes of the spec). */
enum pq_ttype {
    PQ_T_BOOL_TRUE = 1,
    PQ_T_BOOL_FALSE = 2,
    PQ_T_BYTE = 3,
    PQ_T_I16 = 4,
    PQ_T_I32 = 5,
    PQ_T_I64 = 6,
    PQ_T_DOUBLE = 7,
    PQ_T_BINARY = 8,
    PQ_T_LIST = 9,
    PQ_T_SET = 10,
    PQ_T_MAP = 11,
    PQ_T_STRUCT = 12,
};

#define PQ_THRIFT_MAX_DEPTH 16

/* Encoder over a borrowed buffer. The outermost struct is implicit: start
 * writing fields right after pq__tc_init and finish with pq__tc_end. */
struct pq_tc {
    struct pq_buf *b;
    int depth;
    int16_t last[PQ_THRIFT_MAX_DEPTH];
};

void pq__tc_init(struct pq_tc *t, struct pq_buf *b);

/* Fields of the current struct; ids must increase within a struct. */
void pq__tc_i16(struct pq_tc *t, int16_t id, int16_t v);
void pq__tc_i32(struct pq_tc *t, int16_t id, int32_t v);
void pq__tc_i64(struct pq_tc *t, int16_t id, int64_t v);
void pq__tc_bool(struct pq_tc *t, int16_t id, bool v);
void pq__tc_bin(struct pq_tc *t, int16_t id, const void *p, size_t n);
void pq__tc_str(struct pq_tc *t, int16_t id, const char *s);
/* Opens a struct-valued field; close it with pq__tc_end. */
void pq__tc_struct(struct pq_tc *t, int16_t id);
/* Opens a list-valued field of n elements of type et. */
void pq__tc_list(struct pq_tc *t, int16_t id, enum pq_ttype et, uint32_t n);

/* List elements. */
void pq__tc_elem_i32(struct pq_tc *t, int32_t v);
void pq__tc_elem_str(struct pq_tc *t, const char *s);
/* Opens a struct element of a list; close it with pq__tc_end. */
void pq__tc_elem_struct(struct pq_tc *t);

/* Writes the stop byte of the innermost open struct. */
void pq__tc_end(struct pq_tc *t);

#endif
