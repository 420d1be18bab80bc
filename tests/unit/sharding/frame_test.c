/*
 * frame_test.c - peer frames: round trip (plain and zstd), streaming
 * decode, every corruption refused, HELLO codec, version negotiation.
 */
#include "ports/err.h"
#include "sharding/frame.h"
#include "t.h"

static void test_roundtrip_plain_and_compressed(void)
{
    struct ne_pbuf out = {0}, scratch = {0};
    uint8_t big[20000];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = (uint8_t)("temperature=21.5 "[i % 17]);
    T_OK(ne_frame_encode(&out, NE_FT_APP, "hello", 5, 4096));
    size_t first = out.len;
    T_EQ_U64(first, NE_FRAME_HDR + 5);
    T_OK(ne_frame_encode(&out, NE_FT_APP + 1, big, sizeof big, 4096));
    T_CHECK(out.len - first < sizeof big / 4); /* compressed */
    T_EQ_INT(out.p[first + 4] & NE_FRAME_F_ZSTD, NE_FRAME_F_ZSTD);
    T_OK(ne_frame_encode(&out, NE_FT_PING, NULL, 0, 4096));

    uint8_t type;
    const uint8_t *msg;
    size_t n, used, off = 0;
    T_OK(ne_frame_decode(out.p, out.len, &scratch, &type, &msg, &n, &used));
    T_EQ_INT(type, NE_FT_APP);
    T_EQ_U64(n, 5);
    T_CHECK(memcmp(msg, "hello", 5) == 0);
    off += used;
    T_OK(ne_frame_decode(out.p + off, out.len - off, &scratch, &type, &msg, &n, &used));
    T_EQ_INT(type, NE_FT_APP + 1);
    T_EQ_U64(n, sizeof big);
    T_CHECK(memcmp(msg, big, sizeof big) == 0);
    off += used;
    T_OK(ne_frame_decode(out.p + off, out.len - off, &scratch, &type, &msg, &n, &used));
    T_EQ_INT(type, NE_FT_PING);
    T_EQ_U64(n, 0);
    T_EQ_U64(off + used, out.len);
    ne_pbuf_free(&out);
    ne_pbuf_free(&scratch);
}

static void test_incompressible_stays_plain(void)
{
    struct ne_pbuf out = {0};
    uint8_t rnd[8192];
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < sizeof rnd; i++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        rnd[i] = (uint8_t)x;
    }
    T_OK(ne_frame_encode(&out, NE_FT_APP, rnd, sizeof rnd, 1));
    T_EQ_INT(out.p[4], 0);
    T_EQ_U64(out.len, NE_FRAME_HDR + sizeof rnd);
    ne_pbuf_free(&out);
}

static void test_partial_input_is_again(void)
{
    struct ne_pbuf out = {0}, scratch = {0};
    T_OK(ne_frame_encode(&out, NE_FT_APP, "abcdef", 6, 0));
    uint8_t type;
    const uint8_t *msg;
    size_t n, used;
    for (size_t cut = 0; cut < out.len; cut++)
        T_EQ_INT(ne_frame_decode(out.p, cut, &scratch, &type, &msg, &n, &used), NE_EAGAIN);
    ne_pbuf_free(&out);
    ne_pbuf_free(&scratch);
}

static void test_every_bit_flip_is_refused(void)
{
    struct ne_pbuf out = {0}, scratch = {0};
    char payload[3000];
    for (size_t i = 0; i < sizeof payload; i++)
        payload[i] = (char)('a' + i % 5);
    T_OK(ne_frame_encode(&out, NE_FT_APP, payload, sizeof payload, 64));
    T_CHECK(out.p[4] & NE_FRAME_F_ZSTD);
    uint8_t type;
    const uint8_t *msg;
    size_t n, used;
    for (size_t byte = 0; byte < out.len; byte++) {
        for (int bit = 0; bit < 8; bit++) {
            out.p[byte] ^= (uint8_t)(1u << bit);
            int rc = ne_frame_decode(out.p, out.len, &scratch, &type, &msg, &n, &used);
            out.p[byte] ^= (uint8_t)(1u << bit);
            if (rc == 0) T_FAIL_("flip of byte %zu bit %d accepted", byte, bit);
        }
    }
    ne_pbuf_free(&out);
    ne_pbuf_free(&scratch);
}

static void test_header_checks(void)
{
    struct ne_pbuf out = {0};
    T_OK(ne_frame_encode(&out, NE_FT_APP, "x", 1, 0));
    struct ne_frame_hdr h;
    uint8_t hdr[NE_FRAME_HDR];
    memcpy(hdr, out.p, sizeof hdr);
    hdr[2] = 2;
    T_EQ_INT(ne_frame_parse_hdr(hdr, &h), NE_EVERSION);
    memcpy(hdr, out.p, sizeof hdr);
    hdr[0] = 'X';
    T_EQ_INT(ne_frame_parse_hdr(hdr, &h), NE_ECORRUPT);
    memcpy(hdr, out.p, sizeof hdr);
    hdr[4] = 0x80;
    T_EQ_INT(ne_frame_parse_hdr(hdr, &h), NE_ECORRUPT);
    memcpy(hdr, out.p, sizeof hdr);
    ne_put_u32(hdr + 5, NE_FRAME_MAX + 1);
    T_EQ_INT(ne_frame_parse_hdr(hdr, &h), NE_ETOOBIG);
    T_EQ_INT(ne_frame_encode(&out, NE_FT_APP, out.p, (size_t)NE_FRAME_MAX + 1, 0), NE_ETOOBIG);
    ne_pbuf_free(&out);
}

static void test_hello(void)
{
    struct ne_hello h = {
        .node_id = "gw-7", .incarnation = 1700000000000ull, .proto_min = 1, .proto_max = 3};
    struct ne_pbuf b = {0};
    T_OK(ne_hello_encode(&h, &b));
    struct ne_hello d;
    T_OK(ne_hello_decode(b.p, b.len, &d));
    T_EQ_STR(d.node_id, "gw-7");
    T_EQ_U64(d.incarnation, 1700000000000ull);
    T_EQ_INT(d.proto_min, 1);
    T_EQ_INT(d.proto_max, 3);
    T_EQ_INT(ne_hello_decode(b.p, b.len - 1, &d), NE_ECORRUPT);
    b.p[0] = 4; /* min > max */
    T_EQ_INT(ne_hello_decode(b.p, b.len, &d), NE_ECORRUPT);
    ne_pbuf_free(&b);
    T_EQ_INT(ne_proto_negotiate(1, 3, 2, 5), 3);
    T_EQ_INT(ne_proto_negotiate(1, 1, 1, 1), 1);
    T_EQ_INT(ne_proto_negotiate(1, 1, 2, 3), 0);
}

int main(void)
{
    T_RUN(test_roundtrip_plain_and_compressed);
    T_RUN(test_incompressible_stays_plain);
    T_RUN(test_partial_input_is_again);
    T_RUN(test_every_bit_flip_is_refused);
    T_RUN(test_header_checks);
    T_RUN(test_hello);
    return t_done();
}
