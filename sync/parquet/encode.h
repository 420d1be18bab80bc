/*
 * encode.h - Parquet value encodings, internal to the Parquet writer.
 *
 * Each encoder appends to a pq_buf (sticky NE_ENOMEM, see thrift.h) and
 * never allocates per value. Bit packing is LSB first throughout, as the
 * format specifies for the RLE/bit-packed hybrid, BOOLEAN PLAIN and
 * DELTA_BINARY_PACKED miniblocks.
 */
#ifndef NE_SYNC_PARQUET_ENCODE_H
#define NE_SYNC_PARQUET_ENCODE_H

#include <stddef.h>
#include <stdint.h>

#include "sync/parquet/thrift.h"

/* Smallest bit width that holds every value in 0..max. 0 for max == 0. */
int pq__bit_width(uint64_t max);

/* RLE/bit-packed hybrid of n values of bw (0..32) bits each, without any
 * length prefix: runs of 8 or more equal values become RLE runs, the rest
 * bit-packed groups of 8 (the last group zero-padded). */
void pq__rle_encode(struct pq_buf *b, const uint32_t *v, size_t n, int bw);

/* DELTA_BINARY_PACKED of n values: blocks of 128 values, 4 miniblocks of 32.
 * Deltas wrap modulo 2^64, so any int64 sequence round-trips. */
void pq__delta_encode(struct pq_buf *b, const int64_t *v, size_t n);

/* BOOLEAN PLAIN: n values (0 = false, else true), one bit each. */
void pq__bool_plain(struct pq_buf *b, const uint8_t *v, size_t n);

/* CRC-32 (ISO-HDLC, the gzip/zlib polynomial) as used by Parquet page
 * headers. Start with 0. crc32("123456789") == 0xCBF43926. */
uint32_t pq__crc32(uint32_t crc, const void *p, size_t n);

#endif
