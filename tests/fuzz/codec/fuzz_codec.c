/*
 * fuzz_codec.c - libFuzzer target for the column block codecs.
 *
 * Input byte 0 picks the mode:
 *   even: the rest is decoded as a block of type (byte 1 % 5) + 1, as is,
 *         then with a valid magic/version and a recomputed CRC so the bytes
 *         reach the individual codecs; also peek, info, timestamps-only
 *         decode and the stats parser. Nothing may crash or overrun.
 *   odd:  the rest becomes values (type, count, codec choices and data all
 *         taken from the input); they are encoded, decoded and compared bit
 *         for bit; a difference aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ports/crc32c.h"
#include "ports/platform.h"
#include "store/codec/codec.h"

#define MAXN 4096

static int64_t g_ts[MAXN];
static uint64_t g_vals[MAXN * 2]; /* large enough for every type */

static void decode_all(const uint8_t *p, size_t len, enum ne_vtype t, struct ne_buf *scratch)
{
    size_t got;
    enum ne_vtype pt;
    uint32_t cnt;
    struct ne_block_info info;
    struct ne_block_stats st;
    ne_codec_decode_block(p, len, t, g_ts, g_vals, MAXN, scratch, &got);
    ne_codec_decode_ts(p, len, g_ts, MAXN, scratch, &got);
    ne_codec_block_peek(p, len, &pt, &cnt);
    ne_codec_block_info(p, len, &info);
    ne_block_stats_get(p, len, &st, &got);
}

static void fuzz_decode(const uint8_t *data, size_t size)
{
    if (size < 2) return;
    enum ne_vtype t = (enum ne_vtype)(data[0] % 5 + 1);
    struct ne_buf scratch = NE_BUF_INIT;
    uint8_t *c = malloc(size - 1);
    if (!c) return;
    memcpy(c, data + 1, size - 1);
    size_t len = size - 1;
    decode_all(c, len, t, &scratch);
    if (len >= 9) {
        c[0] = 0xBC;
        c[1] = 1;
        ne_store_u32le(c + len - 4, ne_crc32c(0, c, len - 4));
        decode_all(c, len, t, &scratch);
    }
    free(c);
    ne_buf_free(&scratch);
}

struct src {
    const uint8_t *p;
    size_t n;
};

static uint64_t take(struct src *s, size_t k)
{
    uint64_t v = 0;
    for (size_t i = 0; i < k && s->n; i++, s->p++, s->n--)
        v |= (uint64_t)*s->p << (8 * i);
    return v;
}

static bool same(enum ne_vtype t, const void *a, const void *b, size_t i)
{
    if (t == NE_V_STRING) {
        const struct ne_sv *x = (const struct ne_sv *)a + i, *y = (const struct ne_sv *)b + i;
        return x->n == y->n && (x->n == 0 || memcmp(x->p, y->p, x->n) == 0);
    }
    if (t == NE_V_BOOL) return ((const bool *)a)[i] == ((const bool *)b)[i];
    return memcmp((const uint64_t *)a + i, (const uint64_t *)b + i, 8) == 0;
}

/* Values from the input: each takes 1..8 bytes, added to the previous value
 * in small-delta modes so the interesting codecs get picked. */
static const char text[] = "ok\0warn\0\xc3\xa9t\xc3\xa9\xff\xfe temperature humidity "
                           "pressure status 0123456789abcdefghijklmnopqrstuvwxyz";

static size_t make_values(struct src *s, enum ne_vtype t, int64_t *ts, void *vals, struct ne_sv *sv)
{
    uint8_t shape = (uint8_t)take(s, 1);
    size_t n = (size_t)take(s, 2) % MAXN;
    size_t w = shape % 8 + 1;
    int64_t step = (int64_t)take(s, 2);
    uint64_t cur = take(s, 8);
    static const double scale[] = {1, 10, 100, 1000};
    for (size_t i = 0; i < n; i++) {
        if (shape & 0x10)
            ts[i] = (int64_t)take(s, 8);
        else if (shape & 0x80 && i) /* a period with gaps: int-delta-gcd */
            ts[i] = (int64_t)((uint64_t)ts[i - 1] + (uint64_t)step * (1 + take(s, 1) % 4));
        else /* wrapping steps */
            ts[i] = i ? (int64_t)((uint64_t)ts[i - 1] + (uint64_t)step) : (int64_t)cur;
        uint64_t x = take(s, w);
        if (shape & 0x20)
            cur += x - (UINT64_C(1) << (8 * w - 1));
        else
            cur = x;
        switch (t) {
        case NE_V_FLOAT:
            if (shape & 0x40) {
                double d = (double)(int64_t)cur / scale[shape >> 6 & 3 ? 3 : (i & 3)];
                memcpy((uint64_t *)vals + i, &d, 8);
            } else {
                ((uint64_t *)vals)[i] = cur;
            }
            break;
        case NE_V_INT:
        case NE_V_UINT:
            ((uint64_t *)vals)[i] = cur;
            break;
        case NE_V_BOOL:
            ((bool *)vals)[i] = cur & 1;
            break;
        case NE_V_STRING: {
            size_t off = (size_t)(cur % 64), len = (size_t)(x % 16);
            sv[i].p = text + off;
            sv[i].n = (uint32_t)(off + len <= sizeof text ? len : sizeof text - off);
            break;
        }
        }
    }
    return n;
}

static void fuzz_roundtrip(const uint8_t *data, size_t size)
{
    struct src s = {data, size};
    enum ne_vtype t = (enum ne_vtype)(take(&s, 1) % 5 + 1);
    struct ne_codec_opts o;
    ne_codec_opts_default(&o);
    uint8_t ob = (uint8_t)take(&s, 1);
    o.zstd_level = ob & 1 ? 1 : 0;
    o.zstd_min = 1;
    o.exhaustive = (ob & 2) != 0;
    o.force_ts = (uint8_t)((ob >> 2) & 7) <= 5 ? (uint8_t)((ob >> 2) & 7) : 0;
    o.force_val = (uint8_t)take(&s, 1) % 64;
    static struct ne_sv sv[MAXN];
    static uint64_t vals[MAXN];
    static int64_t ts[MAXN];
    size_t n = make_values(&s, t, ts, vals, sv);
    const void *in = t == NE_V_STRING ? (const void *)sv : (const void *)vals;
    struct ne_buf out = NE_BUF_INIT, scratch = NE_BUF_INIT;
    struct ne_block_stats st;
    size_t got = 0;
    if (ne_codec_encode_block(t, ts, in, n, &o, &out, &st) != 0) abort();
    if (ne_codec_decode_block(out.p, out.len, t, g_ts, g_vals, MAXN, &scratch, &got) != 0 ||
        got != n)
        abort();
    for (size_t i = 0; i < n; i++)
        if (g_ts[i] != ts[i] || !same(t, in, g_vals, i)) abort();
    struct ne_buf sb = NE_BUF_INIT;
    struct ne_block_stats back;
    if (ne_block_stats_put(&st, &sb) != 0 || ne_block_stats_get(sb.p, sb.len, &back, &got) != 0 ||
        got != sb.len || back.count != n)
        abort();
    ne_buf_free(&sb);
    ne_buf_free(&out);
    ne_buf_free(&scratch);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    if (data[0] & 1)
        fuzz_roundtrip(data + 1, size - 1);
    else
        fuzz_decode(data + 1, size - 1);
    return 0;
}
