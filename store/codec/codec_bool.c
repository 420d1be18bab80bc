/*
 * codec_bool.c - boolean column codecs. Values are C bool (one byte, 0/1);
 * the decoder writes only 0 or 1.
 *
 *   b-bitmap: ceil(n/8) bytes, value i is bit (i % 8) of byte i / 8; unused
 *             high bits of the last byte are 0 (checked).
 *   b-rle:    [u8 first value (0/1) if n >= 1] | uvarint run lengths (each
 *             >= 1) alternating from the first value; they sum to n.
 *
 * The encoder picks the smaller; both sizes are computed without encoding.
 */
#include "store/codec/codec_internal.h"

static int bitmap_encode(const void *vals, size_t n, uint8_t vtype, struct ne_buf *out,
                         uint8_t *param)
{
    const bool *v = vals;
    size_t nb = (n + 7) / 8;
    uint8_t *q = ne_buf_grow(out, nb);
    if (!q) return NE_ENOMEM;
    memset(q, 0, nb);
    for (size_t i = 0; i < n; i++)
        q[i >> 3] |= (uint8_t)((v[i] ? 1u : 0u) << (i & 7));
    *param = 0;
    return 0;
}

static int bitmap_decode(const uint8_t *p, size_t len, size_t n, void *outv)
{
    bool *out = outv;
    if (len != (n + 7) / 8) return NE_ECORRUPT;
    if ((n & 7) && (p[len - 1] >> (n & 7))) return NE_ECORRUPT;
    for (size_t i = 0; i < n; i++)
        out[i] = (p[i >> 3] >> (i & 7)) & 1;
    return 0;
}

static size_t rle_cost(const bool *v, size_t n)
{
    if (n == 0) return 0;
    size_t cost = 1, run = 1;
    for (size_t i = 1; i < n; i++) {
        if (v[i] == v[i - 1]) {
            run++;
        } else {
            cost += ne_uvarint_len(run);
            run = 1;
        }
    }
    return cost + ne_uvarint_len(run);
}

static int rle_encode(const void *vals, size_t n, uint8_t vtype, struct ne_buf *out, uint8_t *param)
{
    const bool *v = vals;
    size_t start = out->len;
    int rc = 0;
    *param = 0;
    if (n == 0) return 0;
    rc = ne_buf_put_u8(out, v[0] ? 1 : 0);
    size_t run = 1;
    for (size_t i = 1; rc == 0 && i < n; i++) {
        if ((v[i] != 0) == (v[i - 1] != 0)) {
            run++;
        } else {
            rc = ne_buf_put_uvarint(out, run);
            run = 1;
        }
    }
    if (rc == 0) rc = ne_buf_put_uvarint(out, run);
    if (rc) out->len = start;
    return rc;
}

static int rle_decode(const uint8_t *p, size_t len, size_t n, void *outv)
{
    bool *out = outv;
    struct ne_rd r;
    uint8_t cur;
    int rc;
    ne_rd_init(&r, p, len);
    if (n == 0) return len == 0 ? 0 : NE_ECORRUPT;
    if ((rc = ne_rd_u8(&r, &cur)) != 0) return rc;
    if (cur > 1) return NE_ECORRUPT;
    size_t i = 0;
    while (i < n) {
        uint64_t run;
        if ((rc = ne_rd_uvarint(&r, &run)) != 0) return rc;
        if (run == 0 || run > n - i) return NE_ECORRUPT;
        memset(out + i, cur, (size_t)run);
        i += (size_t)run;
        cur ^= 1;
    }
    return ne_rd_left(&r) ? NE_ECORRUPT : 0;
}

const struct codec__ops codec__b_bitmap = {.id = NE_CODEC_B_BITMAP,
                                           .name = "b-bitmap",
                                           .vtype = NE_V_BOOL,
                                           .encode = bitmap_encode,
                                           .decode = bitmap_decode};
const struct codec__ops codec__b_rle = {.id = NE_CODEC_B_RLE,
                                        .name = "b-rle",
                                        .vtype = NE_V_BOOL,
                                        .encode = rle_encode,
                                        .decode = rle_decode};

/* The smaller of bitmap and RLE (sizes computed, not tried). */
const struct codec__ops *codec__bool_pick(const bool *v, size_t n)
{
    return rle_cost(v, n) < (n + 7) / 8 ? &codec__b_rle : &codec__b_bitmap;
}
