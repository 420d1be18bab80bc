/*
 * test_crc32c.c - CRC-32C: published check values, the hardware and table
 * implementations agreeing on random buffers at every alignment and length,
 * and incremental extension.
 */
#include "ports/crc32c.h"
#include "ports/ports_internal.h"
#include "t.h"

static uint64_t g_seed = 0x9E3779B97F4A7C15ull;

static uint8_t next_byte(void)
{
    g_seed ^= g_seed << 13;
    g_seed ^= g_seed >> 7;
    g_seed ^= g_seed << 17;
    return (uint8_t)g_seed;
}

static void test_check_values(void)
{
    T_EQ_U64(ne_crc32c(0, "123456789", 9), 0xE3069283u);
    T_EQ_U64(ports__crc32c_sw(0, "123456789", 9), 0xE3069283u);
    T_EQ_U64(ne_crc32c(0, "", 0), 0);
    /* RFC 3720 (iSCSI) B.4: 32 bytes of zeros, of 0xFF, and 0..31. */
    uint8_t buf[32];
    memset(buf, 0, sizeof buf);
    T_EQ_U64(ne_crc32c(0, buf, 32), 0x8A9136AAu);
    memset(buf, 0xFF, sizeof buf);
    T_EQ_U64(ne_crc32c(0, buf, 32), 0x62A8AB43u);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)i;
    T_EQ_U64(ne_crc32c(0, buf, 32), 0x46DD794Eu);
    for (int i = 0; i < 32; i++)
        buf[i] = (uint8_t)(31 - i);
    T_EQ_U64(ne_crc32c(0, buf, 32), 0x113FDB5Cu);
}

static void test_hardware_matches_software(void)
{
    if (!ports__crc32c_have_hw()) {
        fprintf(stderr, "  (no SSE4.2 on this CPU: table implementation only)\n");
        return;
    }
    enum { MAX = 3 * 8192 * 2 + 4096 + 64 };
    static uint8_t buf[MAX];
    for (size_t i = 0; i < MAX; i++)
        buf[i] = next_byte();
    for (size_t off = 0; off < 16; off++) {
        for (size_t len = 0; len + off <= MAX; len += 1 + len / 3) {
            uint32_t sw = ports__crc32c_sw(0, buf + off, len);
            uint32_t hw = ports__crc32c_hw(0, buf + off, len);
            if (sw != hw) T_FAIL_("off %zu len %zu: sw %08x hw %08x", off, len, sw, hw);
        }
    }
}

static void test_incremental_equals_whole(void)
{
    uint8_t buf[1000];
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = next_byte();
    uint32_t whole = ne_crc32c(0, buf, sizeof buf);
    for (size_t cut = 0; cut <= sizeof buf; cut += 37) {
        uint32_t c = ne_crc32c(ne_crc32c(0, buf, cut), buf + cut, sizeof buf - cut);
        T_EQ_U64(c, whole);
        uint32_t s = ports__crc32c_sw(ports__crc32c_sw(0, buf, cut), buf + cut, sizeof buf - cut);
        T_EQ_U64(s, whole);
    }
    /* A flipped bit changes the checksum. */
    buf[500] ^= 4;
    T_CHECK(ne_crc32c(0, buf, sizeof buf) != whole);
}

int main(void)
{
    T_RUN(test_check_values);
    T_RUN(test_hardware_matches_software);
    T_RUN(test_incremental_equals_whole);
    return t_done();
}
