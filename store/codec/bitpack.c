/*
 * bitpack.c - frame-of-reference bit packing in miniblocks, and the LSB-
 * first bit reader used by the XOR float codec.
 *
 * Packed stream layout (m values, m known to the reader):
 *
 *   +--------------+------+---------------------+------+-------------- ...
 *   | uvarint ref  | u8 w | ceil(k*w/8) bytes   | u8 w | ...
 *   +--------------+------+---------------------+------+-------------- ...
 *                  \_______ miniblock 0 _________/
 *
 * ref is the minimum value; each miniblock holds k = min(128, left) values
 * as (v - ref) in w bits (0 <= w <= 64), packed LSB first: value j starts at
 * bit j*w of the miniblock's first byte. A miniblock whose values all
 * equal ref has w = 0 and no bytes, so constant runs cost 8 bits per 128
 * values. Invariant: unused high bits of a miniblock's last byte are 0
 * (the decoder does not check them).
 */
#include "store/codec/codec_internal.h"

static unsigned bit_width(uint64_t x)
{
    return x ? 64u - (unsigned)__builtin_clzll(x) : 0u;
}

static uint64_t min_of(const uint64_t *v, size_t m)
{
    uint64_t lo = UINT64_MAX;
    for (size_t i = 0; i < m; i++)
        lo = v[i] < lo ? v[i] : lo;
    return m ? lo : 0;
}

static unsigned mini_width(const uint64_t *v, size_t k, uint64_t ref)
{
    uint64_t acc = 0;
    for (size_t i = 0; i < k; i++)
        acc |= v[i] - ref;
    return bit_width(acc);
}

size_t codec__pack_cost(const uint64_t *v, size_t m)
{
    uint64_t ref = min_of(v, m);
    size_t cost = ne_uvarint_len(ref);
    for (size_t i = 0; i < m; i += CODEC__MINI) {
        size_t k = m - i < CODEC__MINI ? m - i : CODEC__MINI;
        cost += 1 + (k * mini_width(v + i, k, ref) + 7) / 8;
    }
    return cost;
}

/* Packs k values (minus ref) at width w <= 56 into q, which has room for
 * ceil(k*w/8) bytes and PACK_SLACK more: each value is or-ed into a
 * word of pending bits (fewer than 8 before it, so w + 7 <= 63 fit) that
 * is stored whole, and the pointer moves on by the bytes completed. The
 * last store leaves the partial byte with zero high bits and zeros in the
 * slack. */
#define PACK_SLACK 8

static void pack_mini_words(const uint64_t *v, size_t k, uint64_t ref, unsigned w, uint8_t *q)
{
    uint64_t acc = 0;
    unsigned nacc = 0;
    for (size_t i = 0; i < k; i++) {
        acc |= (v[i] - ref) << nacc;
        nacc += w;
        ne_store_u64le(q, acc);
        unsigned nb = nacc >> 3;
        q += nb;
        acc >>= 8 * nb; /* nb <= 7: nacc <= 63 */
        nacc &= 7;
    }
}

/* Packs k values (minus ref) at width w into q, which has room for
 * ceil(k*w/8) bytes and PACK_SLACK more. */
static void pack_mini(const uint64_t *v, size_t k, uint64_t ref, unsigned w, uint8_t *q)
{
    if (w == 0) return;
    if (w <= 56) {
        pack_mini_words(v, k, ref, w, q);
        return;
    }
    uint64_t acc = 0;
    unsigned nacc = 0;
    for (size_t i = 0; i < k; i++) {
        uint64_t x = v[i] - ref;
        unsigned left = w;
        while (left) {
            unsigned take = left > 32 ? 32 : left;
            uint64_t part = take == 64 ? x : (x & ((UINT64_C(1) << take) - 1));
            acc |= part << nacc;
            nacc += take;
            x = take == 64 ? 0 : x >> take;
            left -= take;
            while (nacc >= 8) {
                *q++ = (uint8_t)acc;
                acc >>= 8;
                nacc -= 8;
            }
        }
    }
    if (nacc) *q = (uint8_t)acc;
}

/* Appends the packed stream of v[0..m) given its minimum ref and, when hi
 * is not NULL, each miniblock's maximum (else the widths are found here). */
static int pack_stream(const uint64_t *v, size_t m, uint64_t ref, const uint64_t *hi,
                       struct ne_buf *out)
{
    size_t start = out->len;
    int rc = ne_buf_put_uvarint(out, ref);
    for (size_t i = 0; rc == 0 && i < m; i += CODEC__MINI) {
        size_t k = m - i < CODEC__MINI ? m - i : CODEC__MINI;
        unsigned w = hi ? bit_width(hi[i / CODEC__MINI] - ref) : mini_width(v + i, k, ref);
        size_t nb = (k * w + 7) / 8;
        uint8_t *q = ne_buf_grow(out, 1 + nb + PACK_SLACK);
        if (!q) {
            rc = NE_ENOMEM;
            break;
        }
        out->len -= PACK_SLACK;
        q[0] = (uint8_t)w;
        pack_mini(v + i, k, ref, w, q + 1);
    }
    if (rc) out->len = start;
    return rc;
}

int codec__pack(const uint64_t *v, size_t m, struct ne_buf *out)
{
    return pack_stream(v, m, min_of(v, m), NULL, out);
}

int codec__pack_known(const uint64_t *v, size_t m, uint64_t ref, const uint64_t *hi,
                      struct ne_buf *out)
{
    return pack_stream(v, m, ref, hi, out);
}

/* Extracts value j of width w from b; b must have 9 readable bytes from
 * byte (j*w)/8 on. */
static inline uint64_t get_bits(const uint8_t *b, size_t bit, unsigned w)
{
    unsigned sh = (unsigned)(bit & 7);
    uint64_t x = ne_load_u64le(b + (bit >> 3)) >> sh;
    if (w > 56 && sh) x |= (uint64_t)b[(bit >> 3) + 8] << (64 - sh);
    return w == 64 ? x : x & ((UINT64_C(1) << w) - 1);
}

static inline __attribute__((always_inline)) void
unpack_fixed(const uint8_t *b, size_t k, unsigned w, uint64_t ref, uint64_t *out)
{
    uint64_t mask = w == 64 ? UINT64_MAX : (UINT64_C(1) << w) - 1;
    if (w <= 56) {
        for (size_t j = 0; j < k; j++) {
            size_t bit = j * w;
            out[j] = ref + ((ne_load_u64le(b + (bit >> 3)) >> (bit & 7)) & mask);
        }
    } else {
        for (size_t j = 0; j < k; j++)
            out[j] = ref + get_bits(b, j * w, w);
    }
}

/* Constant widths let the compiler strength-reduce the bit arithmetic. */
#define UNPACK_CASE(W)                                                                             \
    case W:                                                                                        \
        unpack_fixed(b, k, W, ref, out);                                                           \
        break;

CODEC__WIDE static void unpack_mini(const uint8_t *b, size_t k, unsigned w, uint64_t ref,
                                    uint64_t *out)
{
    switch (w) {
    case 0:
        for (size_t j = 0; j < k; j++)
            out[j] = ref;
        break;
        UNPACK_CASE(1)
        UNPACK_CASE(2)
        UNPACK_CASE(3)
        UNPACK_CASE(4)
        UNPACK_CASE(5)
        UNPACK_CASE(6)
        UNPACK_CASE(7)
        UNPACK_CASE(8)
        UNPACK_CASE(9)
        UNPACK_CASE(10)
        UNPACK_CASE(11)
        UNPACK_CASE(12)
        UNPACK_CASE(13)
        UNPACK_CASE(14)
        UNPACK_CASE(15)
        UNPACK_CASE(16)
    default:
        unpack_fixed(b, k, w, ref, out);
        break;
    }
}

int codec__unpack_next(struct ne_rd *r, size_t k, uint64_t ref, uint64_t *out, unsigned *width)
{
    uint8_t w;
    const uint8_t *b;
    int rc;
    if ((rc = ne_rd_u8(r, &w)) != 0) return rc;
    if (w > 64 || k > CODEC__MINI) return NE_ECORRUPT;
    size_t nb = (k * w + 7) / 8;
    if ((rc = ne_rd_bytes(r, nb, &b)) != 0) return rc;
    *width = w;
    if (w == 0) return 0; /* every value is ref: the caller knows */
    if (ne_rd_left(r) >= 9) {
        unpack_mini(b, k, w, ref, out);
    } else {
        /* near the end of the input: work on a zero-padded copy */
        uint8_t pad[CODEC__MINI * 8 + 16];
        memset(pad, 0, sizeof pad);
        memcpy(pad, b, nb);
        unpack_mini(pad, k, w, ref, out);
    }
    return 0;
}

int codec__unpack(struct ne_rd *r, size_t m, uint64_t *out)
{
    uint64_t ref;
    int rc = ne_rd_uvarint(r, &ref);
    if (rc) return rc;
    for (size_t i = 0; i < m; i += CODEC__MINI) {
        size_t k = m - i < CODEC__MINI ? m - i : CODEC__MINI;
        unsigned w;
        if ((rc = codec__unpack_next(r, k, ref, out + i, &w)) != 0) return rc;
        if (w == 0)
            for (size_t j = 0; j < k; j++)
                out[i + j] = ref;
    }
    return 0;
}

/* ---- bit reader ----------------------------------------------------------- */

void codec__br_init(struct codec__br *r, const uint8_t *p, size_t len)
{
    r->p = p;
    r->end = p + len;
    r->acc = 0;
    r->nacc = 0;
}

static int br_get32(struct codec__br *r, unsigned nbits, uint64_t *v)
{
    if (r->nacc < nbits) {
        if (r->end - r->p >= 4) {
            r->acc |= (uint64_t)ne_load_u32le(r->p) << r->nacc;
            r->p += 4;
            r->nacc += 32;
        } else {
            while (r->nacc < nbits && r->p < r->end) {
                r->acc |= (uint64_t)*r->p++ << r->nacc;
                r->nacc += 8;
            }
            if (r->nacc < nbits) return NE_ECORRUPT;
        }
    }
    *v = r->acc & ((UINT64_C(1) << nbits) - 1);
    r->acc >>= nbits;
    r->nacc -= nbits;
    return 0;
}

int codec__br_get(struct codec__br *r, unsigned nbits, uint64_t *v)
{
    uint64_t lo, hi;
    int rc;
    if (nbits == 0) {
        *v = 0;
        return 0;
    }
    if (nbits <= 32) return br_get32(r, nbits, v);
    if ((rc = br_get32(r, 32, &lo)) != 0 || (rc = br_get32(r, nbits - 32, &hi)) != 0) return rc;
    *v = lo | hi << 32;
    return 0;
}
