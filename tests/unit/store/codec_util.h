/*
 * codec_util.h - helpers shared by the codec unit tests: a deterministic
 * generator, and an encode -> decode round trip that compares bit for bit.
 */
#ifndef NE_TESTS_CODEC_UTIL_H
#define NE_TESTS_CODEC_UTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "ports/platform.h"
#include "store/codec/codec.h"

static uint64_t cu_rng_state = 0x9E3779B97F4A7C15ULL;

static inline uint64_t cu_rand(void)
{
    uint64_t x = cu_rng_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    return cu_rng_state = x;
}

static inline size_t cu_elem_size(enum ne_vtype t)
{
    switch (t) {
    case NE_V_FLOAT:
        return sizeof(double);
    case NE_V_INT:
    case NE_V_UINT:
        return 8;
    case NE_V_BOOL:
        return sizeof(bool);
    case NE_V_STRING:
        return sizeof(struct ne_sv);
    }
    return 0;
}

/* Compares value i of two arrays of type t bit for bit. */
static inline bool cu_same(enum ne_vtype t, const void *a, const void *b, size_t i)
{
    if (t == NE_V_STRING) {
        struct ne_sv x = ((const struct ne_sv *)a)[i], y = ((const struct ne_sv *)b)[i];
        return x.n == y.n && (x.n == 0 || memcmp(x.p, y.p, x.n) == 0);
    }
    size_t es = cu_elem_size(t);
    return memcmp((const char *)a + i * es, (const char *)b + i * es, es) == 0;
}

struct cu_result {
    int rc;           /* first error, 0 if the round trip held */
    size_t mismatch;  /* index of the first differing value, or SIZE_MAX */
    size_t block_len; /* encoded size */
    struct ne_block_info info;
};

/* Encodes, decodes (values + timestamps, then timestamps only) and compares. */
static inline struct cu_result cu_roundtrip(enum ne_vtype t, const int64_t *ts, const void *vals,
                                            size_t n, const struct ne_codec_opts *o)
{
    struct cu_result r = {0, SIZE_MAX, 0, {0}};
    struct ne_buf out = NE_BUF_INIT, scratch = NE_BUF_INIT;
    size_t es = cu_elem_size(t), got = 0;
    int64_t *ts2 = ne_malloc((n + 1) * sizeof *ts2);
    void *v2 = ne_malloc((n + 1) * es);
    if (!ts2 || !v2) {
        r.rc = NE_ENOMEM;
        goto out;
    }
    if ((r.rc = ne_codec_encode_block(t, ts, vals, n, o, &out, NULL)) != 0) goto out;
    r.block_len = out.len;
    if ((r.rc = ne_codec_block_info(out.p, out.len, &r.info)) != 0) goto out;
    if ((r.rc = ne_codec_decode_block(out.p, out.len, t, ts2, v2, n, &scratch, &got)) != 0)
        goto out;
    if (got != n) {
        r.rc = NE_ECORRUPT;
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        if (ts2[i] != ts[i] || !cu_same(t, vals, v2, i)) {
            r.mismatch = i;
            r.rc = NE_ECORRUPT;
            goto out;
        }
    }
    memset(ts2, 0, (n + 1) * sizeof *ts2);
    if ((r.rc = ne_codec_decode_ts(out.p, out.len, ts2, n, &scratch, &got)) != 0) goto out;
    for (size_t i = 0; i < n; i++) {
        if (ts2[i] != ts[i]) {
            r.mismatch = i;
            r.rc = NE_ECORRUPT;
            goto out;
        }
    }
out:
    ne_free(ts2);
    ne_free(v2);
    ne_buf_free(&out);
    ne_buf_free(&scratch);
    return r;
}

#endif
