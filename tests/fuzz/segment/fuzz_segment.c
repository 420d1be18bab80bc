/*
 * fuzz_segment.c - the segment reader on arbitrary bytes, in memory.
 *
 * The first input byte picks how the rest is used:
 *   even: the rest is a whole segment file (tail, header, footer, blocks);
 *   odd:  the rest is [u16 le n][n block bytes][footer bytes]: the target
 *         wraps it in a valid header and tail (right CRCs, uncompressed
 *         footer, seg_id taken from the footer's first varint, format
 *         version 2) so the footer parser and the index checks, versioned
 *         columns included, are reached past the CRCs.
 * Whatever opens is then exercised: every lookup, every block read (which
 * checks its CRC, decodes and cross-checks the index), and the statistics
 * parsed on demand from what the reader kept of the footer (they were
 * checked at open, so they must parse and agree with the index entry).
 * Invariant: no crash, no leak, no out-of-bounds access, whatever the bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ports/crc32c.h"
#include "ports/log.h"
#include "store/segment/seg_internal.h"

static void exercise(const struct ne_seg *r)
{
    const struct ne_seg_info *i = ne_seg_info(r);
    struct ne_seg_block blk;
    ne_seg_block_init(&blk);
    for (uint32_t d = 0; d < i->ndbs; d++)
        (void)strlen(ne_seg_db_name(r, d));
    for (uint32_t c = 0; c < i->ncols && c < 64; c++) {
        const struct ne_seg_col *col = ne_seg_col(r, c);
        uint32_t idx, first, count, f, e;
        if (ne_seg_find_col(r, col->key.series_id, col->key.field, &idx) != 0 || idx != c)
            abort(); /* a listed column must be found at its own index */
        if (ne_seg_find_series(r, col->key.series_id, &first, &count) != 0)
            abort();
        ne_seg_blocks_in_range(r, c, col->min_ts, col->max_ts, &f, &e);
        if (f != 0 || e != col->nblocks)
            abort();
        for (uint32_t b = 0; b < col->nblocks && b < 16; b++) {
            const struct ne_seg_blockref *ref = ne_seg_block(r, c, b);
            struct ne_block_stats st;
            if (seg__block_load(r, c, b, &blk) == 0 && blk.n != ref->stats.count)
                abort();
            if (ne_seg_block_stats(r, c, b, &st) != 0 || st.type != col->key.type ||
                st.count != ref->stats.count || st.min_ts != ref->stats.min_ts ||
                st.max_ts != ref->stats.max_ts)
                abort();
            (void)seg__block_vcrc(r, ref);
        }
        struct ne_block_stats cs;
        if (ne_seg_col_stats(r, c, &cs) != 0 || cs.min_ts != col->min_ts ||
            cs.max_ts != col->max_ts || (col->npoints < UINT32_MAX && cs.count != col->npoints))
            abort();
    }
    ne_seg_block_free(&blk);
}

static uint8_t *wrap(const uint8_t *p, size_t n, size_t *out_len)
{
    if (n < 2)
        return NULL;
    size_t nb = (size_t)p[0] | ((size_t)p[1] << 8);
    p += 2;
    n -= 2;
    if (nb > n)
        nb = n;
    size_t nf = n - nb;
    struct ne_rd rd;
    uint64_t seg_id = 0;
    ne_rd_init(&rd, p + nb, nf);
    (void)ne_rd_uvarint(&rd, &seg_id);
    size_t total = SEG_HEADER_SIZE + n + SEG_TAIL_SIZE;
    uint8_t *f = calloc(1, total);
    if (!f)
        return NULL;
    seg__put32(f, SEG_MAGIC);
    seg__put16(f + 4, SEG_VERSION);
    seg__put64(f + 8, seg_id);
    seg__put32(f + 20, ne_crc32c(0, f, 20));
    memcpy(f + SEG_HEADER_SIZE, p, n);
    uint8_t *t = f + SEG_HEADER_SIZE + n;
    seg__put64(t, SEG_HEADER_SIZE + nb);
    seg__put32(t + 8, (uint32_t)nf);
    seg__put32(t + 12, (uint32_t)nf);
    seg__put32(t + 16, ne_crc32c(0, p + nb, nf));
    seg__put16(t + 20, SEG_VERSION_LWW); /* version 2 parses a superset: versioned columns too */
    seg__put64(t + 24, seg_id);
    seg__put32(t + 32, ne_crc32c(0, t, 32));
    seg__put32(t + 36, SEG_TAIL_MAGIC);
    *out_len = total;
    return f;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ne_log_set_level(NE_LOG_OFF);
    if (size < 1)
        return 0;
    uint8_t *owned = NULL;
    const uint8_t *p = data + 1;
    size_t n = size - 1;
    if (data[0] & 1) {
        owned = wrap(p, n, &n);
        if (!owned)
            return 0;
        p = owned;
    }
    struct ne_seg *r;
    if (seg__open_mem(p, n, &r) == 0) {
        exercise(r);
        ne_seg_close(&r);
    }
    free(owned);
    return 0;
}
