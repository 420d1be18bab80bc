/*
 * codec_corrupt.c - decoders reject damaged blocks and never read out of
 * bounds: every truncation, every single-bit flip (caught by the CRC), and
 * damage behind a recomputed CRC (caught, or decoded without a crash, by
 * the codecs' own checks). ASan makes any stray read fail the test.
 */
#include <math.h>

#include "t.h"
#include "codec_util.h"
#include "ports/crc32c.h"

enum { N = 300 };

static int64_t g_ts[N];
static double g_f[N];
static int64_t g_i[N];
static bool g_b[N];
static struct ne_sv g_s[N];

static void fill(void)
{
    static const char *w[] = {"ok", "warn", "", "\xc3\xa9t\xc3\xa9"};
    for (size_t i = 0; i < N; i++) {
        g_ts[i] = 1767225600000000000LL + (int64_t)i * 1000000000LL + (i % 17 == 0 ? 5 : 0);
        g_f[i] = (double)(2000 + (int64_t)(cu_rand() % 50)) / 100;
        g_i[i] = (int64_t)(cu_rand() % 1000) - 500;
        g_b[i] = (cu_rand() % 5) == 0;
        g_s[i] = ne_sv_c(w[cu_rand() % 4]);
    }
}

struct sample {
    enum ne_vtype t;
    const void *vals;
    int force_val;
    int zstd;
};

static const struct sample samples[] = {
    {NE_V_FLOAT, g_f, NE_CODEC_F_DECIMAL, 0}, {NE_V_FLOAT, g_f, NE_CODEC_F_XOR, 0},
    {NE_V_FLOAT, g_f, NE_CODEC_F_RAW, 1},     {NE_V_INT, g_i, NE_CODEC_INT_DELTA, 0},
    {NE_V_INT, g_i, NE_CODEC_INT_FOR, 1},     {NE_V_UINT, g_i, NE_CODEC_INT_DOD, 0},
    {NE_V_BOOL, g_b, NE_CODEC_B_BITMAP, 0},   {NE_V_BOOL, g_b, NE_CODEC_B_RLE, 0},
    {NE_V_STRING, g_s, NE_CODEC_S_DICT, 0},   {NE_V_STRING, g_s, NE_CODEC_S_PLAIN, 1},
};

static int encode_sample(const struct sample *s, size_t n, struct ne_buf *out)
{
    struct ne_codec_opts o;
    ne_codec_opts_default(&o);
    o.force_val = (uint8_t)s->force_val;
    o.zstd_level = s->zstd ? 3 : 0;
    o.zstd_min = 1;
    return ne_codec_encode_block(s->t, g_ts, s->vals, n, &o, out, NULL);
}

/* Decodes a copy of exactly len bytes (so ASan sees any overread). */
static int decode_copy(enum ne_vtype t, const uint8_t *p, size_t len, struct ne_buf *scratch)
{
    uint8_t *c = ne_malloc(len ? len : 1);
    static int64_t ts[N + 8];
    static struct ne_sv vals[N + 8]; /* large enough for every type */
    size_t got = 0;
    if (!c) return NE_ENOMEM;
    if (len) memcpy(c, p, len);
    int rc = ne_codec_decode_block(c, len, t, ts, vals, N + 8, scratch, &got);
    if (rc == 0 && got > N + 8) rc = NE_EINVAL;
    ne_free(c);
    return rc;
}

static void fix_crc(uint8_t *p, size_t len)
{
    ne_store_u32le(p + len - 4, ne_crc32c(0, p, len - 4));
}

static void test_truncation_every_offset(void)
{
    struct ne_buf scratch = NE_BUF_INIT;
    for (size_t k = 0; k < sizeof samples / sizeof samples[0]; k++) {
        struct ne_buf out = NE_BUF_INIT;
        T_OK(encode_sample(&samples[k], N, &out));
        T_OK(decode_copy(samples[k].t, out.p, out.len, &scratch));
        for (size_t len = 0; len < out.len; len++) {
            int rc = decode_copy(samples[k].t, out.p, len, &scratch);
            if (rc == 0) T_FAIL_("sample %zu truncated to %zu of %zu decoded", k, len, out.len);
        }
        ne_buf_free(&out);
    }
    ne_buf_free(&scratch);
}

static void test_bit_flips_fail_checksum(void)
{
    struct ne_buf scratch = NE_BUF_INIT;
    for (size_t k = 0; k < sizeof samples / sizeof samples[0]; k++) {
        struct ne_buf out = NE_BUF_INIT;
        T_OK(encode_sample(&samples[k], N, &out));
        for (size_t i = 0; i < out.len; i++) {
            for (int bit = 0; bit < 8; bit += 3) {
                out.p[i] ^= (uint8_t)(1u << bit);
                int rc = decode_copy(samples[k].t, out.p, out.len, &scratch);
                out.p[i] ^= (uint8_t)(1u << bit);
                if (rc == 0) T_FAIL_("sample %zu: flip of byte %zu bit %d decoded", k, i, bit);
                /* byte 1 is the version: a changed version says so */
                if (i == 1 && rc != NE_EVERSION) T_FAIL_("sample %zu: version flip gave %d", k, rc);
            }
        }
        ne_buf_free(&out);
    }
    ne_buf_free(&scratch);
}

/* Damage behind a valid CRC reaches the codecs: they must not crash or
 * overrun, and structural damage must be reported. */
static void test_damage_behind_valid_crc(void)
{
    struct ne_buf scratch = NE_BUF_INIT;
    size_t rejected = 0, total = 0, dropped = 0, dropped_rejected = 0;
    for (size_t k = 0; k < sizeof samples / sizeof samples[0]; k++) {
        for (size_t n = 0; n <= N; n += (n < 4 ? 1 : 148)) {
            struct ne_buf out = NE_BUF_INIT;
            T_OK(encode_sample(&samples[k], n, &out));
            uint8_t *c = ne_malloc(out.len);
            T_CHECK(c != NULL);
            for (size_t i = 4; i + 4 < out.len; i++) {
                for (int m = 0; m < 4; m++) {
                    memcpy(c, out.p, out.len);
                    static const uint8_t pat[] = {0xff, 0x80, 0x01, 0x7f};
                    c[i] = m == 0 ? (uint8_t)~c[i] : pat[m];
                    fix_crc(c, out.len);
                    int rc = decode_copy(samples[k].t, c, out.len, &scratch);
                    total++;
                    rejected += rc != 0;
                    T_CHECK(rc == 0 || rc == NE_ECORRUPT || rc == NE_ETOOBIG || rc == NE_ECONFLICT);
                }
                /* drop a byte (CRC fixed): usually the lengths no longer add
                 * up; a varint that shrinks into a valid one may still decode */
                memcpy(c, out.p, i);
                memcpy(c + i, out.p + i + 1, out.len - i - 1);
                fix_crc(c, out.len - 1);
                int rc = decode_copy(samples[k].t, c, out.len - 1, &scratch);
                dropped++;
                dropped_rejected += rc != 0;
                T_CHECK(rc == 0 || rc == NE_ECORRUPT || rc == NE_ETOOBIG);
            }
            ne_free(c);
            ne_buf_free(&out);
        }
    }
    ne_buf_free(&scratch);
    T_CHECK(rejected > total / 10); /* the codecs' own checks do work */
    T_CHECK(dropped_rejected > dropped / 2);
}

static void test_header_errors(void)
{
    struct ne_buf out = NE_BUF_INIT, scratch = NE_BUF_INIT;
    static int64_t ts[N];
    static double f[N];
    size_t got = 123;
    T_OK(encode_sample(&samples[0], N, &out));
    T_EQ_INT(ne_codec_decode_block(out.p, out.len, NE_V_INT, ts, f, N, &scratch, &got),
             NE_ECONFLICT);
    T_EQ_INT(ne_codec_decode_block(out.p, out.len, NE_V_FLOAT, ts, f, N - 1, &scratch, &got),
             NE_ETOOBIG);
    T_EQ_INT(got, 123); /* untouched on failure */
    /* timestamps-only decode ignores the type */
    T_OK(ne_codec_decode_ts(out.p, out.len, ts, N, &scratch, &got));
    T_EQ_INT(got, N);
    T_EQ_INT(ts[N - 1], g_ts[N - 1]);
    /* version 2 with a valid CRC is NE_EVERSION, never a guess */
    out.p[1] = 2;
    fix_crc(out.p, out.len);
    T_EQ_INT(ne_codec_decode_block(out.p, out.len, NE_V_FLOAT, ts, f, N, &scratch, &got),
             NE_EVERSION);
    enum ne_vtype t;
    uint32_t cnt;
    T_EQ_INT(ne_codec_block_peek(out.p, out.len, &t, &cnt), NE_EVERSION);
    out.p[1] = 1;
    out.p[3] = 0x80; /* unknown flag */
    fix_crc(out.p, out.len);
    T_EQ_INT(ne_codec_decode_block(out.p, out.len, NE_V_FLOAT, ts, f, N, &scratch, &got),
             NE_ECORRUPT);
    T_EQ_INT(ne_codec_decode_block(NULL, 0, NE_V_FLOAT, ts, f, N, &scratch, &got), NE_ECORRUPT);
    ne_buf_free(&out);
    ne_buf_free(&scratch);
}

int main(void)
{
    fill();
    T_RUN(test_truncation_every_offset);
    T_RUN(test_bit_flips_fail_checksum);
    T_RUN(test_damage_behind_valid_crc);
    T_RUN(test_header_errors);
    return t_done();
}
