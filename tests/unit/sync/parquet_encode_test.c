/*
 * parquet_encode_test.c - the Parquet writer's building blocks: Thrift
 * compact encoding against byte sequences worked out from the protocol
 * specification, and the value encodings round-tripped through the
 * independent decoders of parquet_test_read.h.
 */
#include <stdint.h>
#include <string.h>

#include "ports/platform.h"
#include "sync/parquet/encode.h"
#include "sync/parquet/thrift.h"
#include "t.h"
#include "parquet_test_read.h"

static uint64_t seed = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    seed ^= seed << 13;
    seed ^= seed >> 7;
    seed ^= seed << 17;
    return seed;
}

#define T_BYTES(buf, ...)                                                                          \
    do {                                                                                           \
        const uint8_t want_[] = {__VA_ARGS__};                                                     \
        T_EQ_INT((buf)->len, sizeof(want_));                                                       \
        T_CHECK(memcmp((buf)->p, want_, sizeof(want_)) == 0);                                      \
    } while (0)

static void test_thrift_field_headers(void)
{
    struct pq_buf b = {0};
    struct pq_tc t;
    pq__tc_init(&t, &b);
    pq__tc_i32(&t, 1, 3);      /* delta 1, i32: 0x15, zigzag(3) = 6 */
    pq__tc_i64(&t, 2, -1);     /* delta 1, i64: 0x16, zigzag(-1) = 1 */
    pq__tc_bool(&t, 4, true);  /* delta 2, true: 0x21 */
    pq__tc_bool(&t, 5, false); /* delta 1, false: 0x12 */
    pq__tc_i32(&t, 40, 300);   /* delta 35: long form 0x05, zigzag(40) = 80, 600 = d8 04 */
    pq__tc_i16(&t, 41, -2);    /* delta 1, i16: 0x14, zigzag(-2) = 3 */
    pq__tc_end(&t);
    T_BYTES(&b, 0x15, 0x06, 0x16, 0x01, 0x21, 0x12, 0x05, 0x50, 0xd8, 0x04, 0x14, 0x03, 0x00);
    T_OK(b.err);
    pq__buf_free(&b);
}

static void test_thrift_nested_and_lists(void)
{
    struct pq_buf b = {0};
    struct pq_tc t;
    pq__tc_init(&t, &b);
    pq__tc_struct(&t, 3);            /* 0x3c */
    pq__tc_str(&t, 1, "ab");         /* inner ids restart: 0x18 02 'a' 'b' */
    pq__tc_end(&t);                  /* 0x00 */
    pq__tc_list(&t, 4, PQ_T_I32, 2); /* delta 1 list: 0x19, header 0x25 */
    pq__tc_elem_i32(&t, 0);
    pq__tc_elem_i32(&t, -64);            /* zigzag 127 = 0x7f */
    pq__tc_list(&t, 5, PQ_T_STRUCT, 20); /* 0x19, 0xfc, varint 20 */
    for (int i = 0; i < 20; i++) {
        pq__tc_elem_struct(&t);
        pq__tc_end(&t);
    }
    pq__tc_i32(&t, 6, 1); /* last id is still 5 after the list: 0x15 02 */
    pq__tc_end(&t);
    const uint8_t head[] = {0x3c, 0x18, 0x02, 'a',  'b',  0x00, 0x19,
                            0x25, 0x00, 0x7f, 0x19, 0xfc, 20};
    T_EQ_INT(b.len, sizeof(head) + 20 + 3);
    T_CHECK(memcmp(b.p, head, sizeof(head)) == 0);
    for (size_t i = 0; i < 20; i++)
        T_EQ_INT(b.p[sizeof(head) + i], 0);
    T_EQ_INT(b.p[sizeof(head) + 20], 0x15);
    T_EQ_INT(b.p[sizeof(head) + 21], 0x02);
    T_EQ_INT(b.p[sizeof(head) + 22], 0x00);

    /* the test decoder sees the same structure */
    struct rd r = {b.p, b.p + b.len, 0};
    struct tv root = {0};
    tv_read(&r, 12, &root, 0);
    T_CHECK(!r.bad && r.p == r.end);
    T_EQ_INT(tv_get(tv_get(&root, 3), 1)->len, 2);
    T_EQ_INT(tv_get(&root, 4)->kids[1].i, -64);
    T_EQ_INT(tv_get(&root, 5)->nkids, 20);
    T_EQ_INT(tv_int(&root, 6, 0), 1);
    tv_free(&root);
    pq__buf_free(&b);
}

static void test_varint_and_le(void)
{
    struct pq_buf b = {0};
    pq__buf_uvarint(&b, 0);
    pq__buf_uvarint(&b, 127);
    pq__buf_uvarint(&b, 128);
    pq__buf_uvarint(&b, UINT64_MAX);
    pq__buf_le32(&b, 0x01020304);
    T_EQ_INT(b.len, 1 + 1 + 2 + 10 + 4);
    struct rd r = {b.p, b.p + b.len, 0};
    T_EQ_U64(rd_uvarint(&r), 0);
    T_EQ_U64(rd_uvarint(&r), 127);
    T_EQ_U64(rd_uvarint(&r), 128);
    T_EQ_U64(rd_uvarint(&r), UINT64_MAX);
    T_EQ_U64(rd_le32(&r), 0x01020304);
    pq__buf_free(&b);
}

static void test_bit_width(void)
{
    T_EQ_INT(pq__bit_width(0), 0);
    T_EQ_INT(pq__bit_width(1), 1);
    T_EQ_INT(pq__bit_width(2), 2);
    T_EQ_INT(pq__bit_width(255), 8);
    T_EQ_INT(pq__bit_width(256), 9);
    T_EQ_INT(pq__bit_width(UINT64_MAX), 64);
}

/* Round-trips v through the hybrid encoder and the test decoder. */
static int rle_roundtrip(const uint32_t *v, size_t n, int bw, size_t *enc_len)
{
    struct pq_buf b = {0};
    pq__rle_encode(&b, v, n, bw);
    if (b.err) return -1;
    uint32_t *out = calloc(n ? n : 1, sizeof(*out));
    struct rd r = {b.p, b.p + b.len, 0};
    int rc = rle_decode(&r, bw, out, n);
    if (rc == 0 && (r.p != r.end || (n && memcmp(out, v, n * sizeof(*v)) != 0))) rc = -1;
    *enc_len = b.len;
    free(out);
    pq__buf_free(&b);
    return rc;
}

static void test_rle_hybrid(void)
{
    enum { N = 5000 };
    uint32_t *v = calloc(N, sizeof(*v));
    size_t len;
    for (int bw = 1; bw <= 32; bw++) {
        uint32_t mask = bw == 32 ? UINT32_MAX : (1u << bw) - 1;
        for (int pattern = 0; pattern < 4; pattern++) {
            for (size_t i = 0; i < N; i++) {
                switch (pattern) {
                case 0:
                    v[i] = (uint32_t)rnd() & mask;
                    break; /* noise */
                case 1:
                    v[i] = (uint32_t)(i / 100) & mask;
                    break; /* long runs */
                case 2:
                    v[i] = (uint32_t)(rnd() % 7 ? 1 : 0) & mask;
                    break;
                default:
                    v[i] = (i % 19 < 11 ? mask : (uint32_t)rnd() & mask);
                    break;
                }
            }
            for (size_t n = 0; n <= N; n += (n < 40 ? 1 : 997))
                if (rle_roundtrip(v, n, bw, &len) != 0)
                    T_FAIL_("bw %d pattern %d n %zu", bw, pattern, n);
        }
    }
    /* a constant column is one RLE run: header + value bytes */
    for (size_t i = 0; i < N; i++)
        v[i] = 1;
    T_OK(rle_roundtrip(v, N, 1, &len));
    T_EQ_INT(len, 2 + 1);
    free(v);
}

static int delta_roundtrip(const int64_t *v, size_t n)
{
    struct pq_buf b = {0};
    pq__delta_encode(&b, v, n);
    int64_t *out = calloc(n ? n : 1, sizeof(*out));
    size_t got = 0;
    struct rd r = {b.p, b.p + b.len, 0};
    int rc = b.err ? -1 : delta_decode(&r, out, n, &got);
    if (rc == 0 && (got != n || r.p != r.end || (n && memcmp(out, v, n * 8) != 0))) rc = -1;
    free(out);
    pq__buf_free(&b);
    return rc;
}

static void test_delta_binary_packed(void)
{
    enum { N = 2000 };
    int64_t *v = calloc(N, sizeof(*v));
    for (int pattern = 0; pattern < 6; pattern++) {
        for (size_t i = 0; i < N; i++) {
            switch (pattern) {
            case 0:
                v[i] = 1767225600000000000ll + (int64_t)i * 1000000000;
                break;
            case 1:
                v[i] = (int64_t)rnd();
                break; /* full-width deltas, wrapping */
            case 2:
                v[i] = i % 2 ? INT64_MAX : INT64_MIN;
                break;
            case 3:
                v[i] = 42;
                break;
            case 4:
                v[i] = -(int64_t)i * 3 + (int64_t)(rnd() % 5);
                break;
            default:
                v[i] = (int64_t)(rnd() % 1000) - 500;
                break;
            }
        }
        static const size_t ns[] = {0,   1,   2,   31,  32,  33,   127, 128,
                                    129, 130, 161, 256, 257, 1999, 2000};
        for (size_t k = 0; k < sizeof(ns) / sizeof(ns[0]); k++)
            if (delta_roundtrip(v, ns[k]) != 0) T_FAIL_("pattern %d n %zu", pattern, ns[k]);
    }
    /* a regular series costs about nothing per value */
    struct pq_buf b = {0};
    for (size_t i = 0; i < N; i++)
        v[i] = 1000 + (int64_t)i * 10;
    pq__delta_encode(&b, v, N);
    T_CHECK(b.len < 200);
    pq__buf_free(&b);
    free(v);
}

static void test_bool_plain(void)
{
    const uint8_t v[10] = {1, 0, 0, 1, 1, 0, 0, 0, 0, 7};
    struct pq_buf b = {0};
    pq__bool_plain(&b, v, 10);
    T_BYTES(&b, 0x19, 0x02);
    pq__buf_free(&b);
}

static void test_crc32(void)
{
    T_EQ_U64(pq__crc32(0, "123456789", 9), 0xCBF43926u);
    T_EQ_U64(pq__crc32(0, "", 0), 0);
    /* incremental equals one shot */
    T_EQ_U64(pq__crc32(pq__crc32(0, "1234", 4), "56789", 5), 0xCBF43926u);
}

static void test_buf_alloc_failure(void)
{
    struct pq_buf b = {0};
    ne_fault_arm(NE_FAULT_ALLOC, 1, NE_FAULT_NULL, false);
    pq__buf_le64(&b, 1);
    T_EQ_INT(b.err, NE_ENOMEM);
    pq__buf_le64(&b, 2); /* sticky: nothing more is appended */
    T_EQ_INT(b.len, 0);
    ne_fault_reset();
    pq__buf_free(&b);
}

int main(void)
{
    T_RUN(test_thrift_field_headers);
    T_RUN(test_thrift_nested_and_lists);
    T_RUN(test_varint_and_le);
    T_RUN(test_bit_width);
    T_RUN(test_rle_hybrid);
    T_RUN(test_delta_binary_packed);
    T_RUN(test_bool_plain);
    T_RUN(test_crc32);
    T_RUN(test_buf_alloc_failure);
    return t_done();
}
