/*
 * seg_internal.h - what the files of store/segment/ share: the on-disk
 * constants (the layout itself is drawn in segment_writer.c), little-endian
 * helpers, the reader's in-memory index and the block encode/decode glue
 * to store/codec. Not for use outside store/segment/ (the fuzz target
 * excepted: it drives seg__open_mem and seg__block_load directly).
 */
#ifndef NE_STORE_SEG_INTERNAL_H
#define NE_STORE_SEG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "store/codec/buf.h"
#include "store/segment/segment.h"

/* ---- format constants (see segment_writer.c) ------------------------------ */

#define SEG_MAGIC 0x4745534Eu      /* "NSEG" read as little-endian bytes */
#define SEG_TAIL_MAGIC 0x5447534Eu /* "NSGT" */
#define SEG_VERSION 1u      /* header version; tail version of files without versions */
#define SEG_VERSION_LWW 2u  /* tail version of files with a versioned column */
#define SEG_TYPE_VERSIONED 0x80u /* version 2 footer: type byte flag */
#define SEG_HEADER_SIZE 24u
#define SEG_TAIL_SIZE 40u
#define SEG_TAIL_ZSTD 1u         /* tail flag: the footer is one zstd frame */
#define SEG_FOOTER_RAW_MAX (1u << 30)
#define SEG_BLOCK_LEN_MAX (1u << 30)
#define SEG_WBUF_FLUSH (1u << 20) /* the writer appends to the file in ~1 MiB */

/* ---- little-endian encoding --------------------------------------------- */

static inline void seg__put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void seg__put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void seg__put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline uint16_t seg__get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}
static inline uint32_t seg__get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}
static inline uint64_t seg__get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

/* Grows *p (an array of elements of size sz, capacity *cap) to hold at least
 * need elements. Returns 0 or NE_ENOMEM (*p untouched). */
int seg__grow(void **p, size_t *cap, size_t need, size_t sz);

/* ---- the reader -------------------------------------------------------------- */

struct ne_seg {
    char *path;                      /* owned */
    struct ne_file *f;               /* NULL for an in-memory segment */
    const uint8_t *mem;              /* borrowed bytes of an in-memory segment */
    uint64_t size;                   /* file size */
    struct ne_seg_info info;
    uint64_t footer_off;
    uint32_t footer_len, footer_raw_len, footer_crc;
    char **dbs;                      /* ndbs names, each ne_malloc'd */
    struct ne_seg_col *cols;         /* ncols, key order */
    uint32_t *col_block0;            /* first block of column i in blocks[] */
    struct ne_seg_blockref *blocks;  /* nblocks, column by column, time order */
    uint8_t *footer;                 /* raw footer, while open parses it */
    uint8_t *arena;                  /* what stays of the footer: field
                                        names (cols' key.field views), block
                                        stats and version CRCs, parsed on
                                        demand (see segment_reader.c) */
    size_t arena_len;
};

/* Opens a segment held in memory (len bytes at p, borrowed: they must
 * outlive the reader). Same checks as ne_seg_open. */
int seg__open_mem(const void *p, size_t len, struct ne_seg **out);

/* CRC32C of the version stream of block ref (read from the footer the
 * reader keeps), 0 for a block without one. */
uint32_t seg__block_vcrc(const struct ne_seg *r, const struct ne_seg_blockref *ref);

/* Reads len bytes at off from the segment's file (or memory). NE_ECORRUPT
 * if the file is shorter. */
int seg__pread(const struct ne_seg *r, void *buf, size_t len, uint64_t off);

/* A read-ahead window over one segment, for a caller that reads its
 * blocks in file order (a merge reads every input column by column, so
 * sequentially): one pread of up to SEG_RA_CHUNK bytes serves the many
 * small blocks that would each have cost a system call. Zeroed = empty;
 * the caller owns it and frees it with seg__ra_free. */
#define SEG_RA_CHUNK (128u << 10)
struct seg__ra {
    uint8_t *p;
    size_t cap, len;
    uint64_t off; /* file offset of p[0] */
};
void seg__ra_free(struct seg__ra *ra);

/* Points *out at the len bytes at off of r: from the window when it holds
 * them, else after reading [off, off + SEG_RA_CHUNK) (at least len, not
 * past the blocks) into it. Valid until the next call with ra. 0,
 * NE_ENOMEM or seg__pread's errors. */
int seg__ra_get(const struct ne_seg *r, struct seg__ra *ra, uint64_t off, size_t len,
                const uint8_t **out);

/* ne_seg_block_read (same checks, same log line on failure) with the
 * block's bytes read through ra. */
int seg__block_read_ra(const struct ne_seg *r, struct seg__ra *ra, uint32_t col, uint32_t b,
                       struct ne_seg_block *blk);

/* Bytes per element of the value array of type (struct ne_sv for strings),
 * 0 for an unknown type. */
size_t seg__vsize(uint8_t type);

/* True if type is one of enum ne_vtype. */
bool seg__type_ok(uint8_t type);

/* ---- blocks -------------------------------------------------------------- */

/* Reads block b of column col into blk: CRC32C first, then decode and
 * checks against the index entry. Logs nothing. */
int seg__block_load(const struct ne_seg *r, uint32_t col, uint32_t b, struct ne_seg_block *blk);

/* Appends an already-encoded block (len bytes at raw, then its vlen bytes
 * of version stream, with the CRC32Cs and stats as found in another
 * segment's index) to the open column, verbatim; vlen must be non-zero
 * exactly when the open column is versioned.
 * A partial block pending in the writer is written first (so it may end up
 * shorter than block_points). st->type must be the column's type and
 * st->min_ts above the column's last timestamp, else NE_EINVAL. The bytes
 * are not checked here: the caller has verified crc. */
int seg__segw_copy_block(struct ne_segw *w, const uint8_t *raw, size_t len, uint32_t crc,
                         uint32_t vlen, uint32_t vcrc, const struct ne_block_stats *st);

/* Version streams (layout in segment_writer.c): encodes n versions onto
 * out (0 or NE_ENOMEM); decodes exactly n from len bytes at p into ver
 * (0 or NE_ECORRUPT). */
int seg__ver_encode(const uint64_t *ver, uint32_t n, struct ne_buf *out);
int seg__ver_decode(const uint8_t *p, size_t len, uint64_t *ver, uint32_t n);

/* The writer's points per block. */
uint32_t seg__segw_block_points(const struct ne_segw *w);

/* Points of the open column waiting in the writer's partial block; when
 * there are any, *last_ts gets the last one's timestamp. */
uint32_t seg__segw_pending(const struct ne_segw *w, int64_t *last_ts);

/* True if the stats that matter for their type are equal (floats by value,
 * any NaN equal to any NaN; string views by content). */
bool seg__stats_equal(const struct ne_block_stats *a, const struct ne_block_stats *b);

#endif
