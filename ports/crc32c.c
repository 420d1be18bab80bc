/*
 * crc32c.c - CRC-32C (Castagnoli, reflected polynomial 0x82F63B78).
 *
 * Two implementations with identical results: the SSE4.2 crc32 instruction
 * (8 bytes per step) when the CPU has it, and a slicing-by-8 table walk
 * elsewhere. The choice is made once, on the first call, from cpuid.
 *
 * Convention: ne_crc32c(0, buf, len) is the standard CRC-32C (initial value
 * and final xor 0xFFFFFFFF are applied inside), and passing a previous
 * result as crc extends it: crc(a||b) == ne_crc32c(ne_crc32c(0, a), b).
 */
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "ports/crc32c.h"
#include "ports/ports_internal.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#define NE_CRC_X86 1
#endif

#define POLY 0x82F63B78u

static uint32_t g_table[8][256];
static pthread_once_t g_table_once = PTHREAD_ONCE_INIT;

static void build_tables(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c >> 1) ^ (POLY & (0u - (c & 1u)));
        g_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            g_table[t][i] = (g_table[t - 1][i] >> 8) ^ g_table[0][g_table[t - 1][i] & 0xFF];
}

static uint64_t load_le64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

uint32_t ports__crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&g_table_once, build_tables);
    const unsigned char *p = buf;
    uint32_t c = ~crc;
    while (len >= 8) {
        uint64_t v = load_le64(p) ^ c;
        c = g_table[7][v & 0xFF] ^ g_table[6][(v >> 8) & 0xFF] ^ g_table[5][(v >> 16) & 0xFF] ^
            g_table[4][(v >> 24) & 0xFF] ^ g_table[3][(v >> 32) & 0xFF] ^
            g_table[2][(v >> 40) & 0xFF] ^ g_table[1][(v >> 48) & 0xFF] ^ g_table[0][v >> 56];
        p += 8;
        len -= 8;
    }
    while (len--)
        c = (c >> 8) ^ g_table[0][(c ^ *p++) & 0xFF];
    return ~c;
}

#ifdef NE_CRC_X86
/*
 * The crc32 instruction has a latency of three cycles but can start one per
 * cycle, so a long buffer is cut into three equal blocks whose CRCs run
 * interleaved, then are joined: with the raw (non-inverted) register, the
 * state after blocks A|B|C of n bytes each is
 *     shift_n(shift_n(crc(S, A)) ^ crc(0, B)) ^ crc(0, C)
 * where shift_n, "feed n zero bytes", is linear over GF(2) and is applied
 * with four 256-entry tables built once from the byte table.
 */
#define LONG_BLOCK  8192u
#define SHORT_BLOCK 256u

static uint32_t g_shift_long[4][256], g_shift_short[4][256];
static pthread_once_t g_shift_once = PTHREAD_ONCE_INIT;

/* Feeds n zero bytes to the raw register c. */
static uint32_t feed_zeros(uint32_t c, size_t n)
{
    while (n--)
        c = (c >> 8) ^ g_table[0][c & 0xFF];
    return c;
}

static void build_shift(uint32_t t[4][256], size_t n)
{
    uint32_t basis[32];
    for (int i = 0; i < 32; i++)
        basis[i] = feed_zeros(1u << i, n);
    for (int k = 0; k < 4; k++) {
        for (uint32_t b = 0; b < 256; b++) {
            uint32_t v = 0;
            for (int j = 0; j < 8; j++)
                if (b & (1u << j)) v ^= basis[8 * k + j];
            t[k][b] = v;
        }
    }
}

static void build_shift_tables(void)
{
    pthread_once(&g_table_once, build_tables);
    build_shift(g_shift_long, LONG_BLOCK);
    build_shift(g_shift_short, SHORT_BLOCK);
}

static uint32_t shift(const uint32_t t[4][256], uint32_t c)
{
    return t[0][c & 0xFF] ^ t[1][(c >> 8) & 0xFF] ^ t[2][(c >> 16) & 0xFF] ^ t[3][c >> 24];
}

/* Runs three interleaved streams over blocks of n bytes while at least
 * three remain; returns the joined raw register. */
__attribute__((target("sse4.2"))) static uint64_t
crc_3way(uint64_t c, const unsigned char **pp, size_t *lenp, size_t n, const uint32_t t[4][256])
{
    const unsigned char *p = *pp;
    size_t len = *lenp;
    while (len >= 3 * n) {
        uint64_t c1 = 0, c2 = 0;
        for (size_t i = 0; i < n; i += 8) {
            uint64_t v0, v1, v2;
            memcpy(&v0, p + i, 8);
            memcpy(&v1, p + n + i, 8);
            memcpy(&v2, p + 2 * n + i, 8);
            c = _mm_crc32_u64(c, v0);
            c1 = _mm_crc32_u64(c1, v1);
            c2 = _mm_crc32_u64(c2, v2);
        }
        c = shift(t, shift(t, (uint32_t)c) ^ (uint32_t)c1) ^ (uint32_t)c2;
        p += 3 * n;
        len -= 3 * n;
    }
    *pp = p;
    *lenp = len;
    return c;
}

__attribute__((target("sse4.2"))) uint32_t ports__crc32c_hw(uint32_t crc, const void *buf,
                                                            size_t len)
{
    const unsigned char *p = buf;
    uint64_t c = ~crc;
    /* No alignment prologue: unaligned 8-byte loads cost the same on x86-64,
     * and short records (the common case) skip up to seven byte steps. */
    if (len >= 3 * SHORT_BLOCK) {
        pthread_once(&g_shift_once, build_shift_tables);
        c = crc_3way(c, &p, &len, LONG_BLOCK, g_shift_long);
        c = crc_3way(c, &p, &len, SHORT_BLOCK, g_shift_short);
    }
    while (len >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c = _mm_crc32_u64(c, v);
        p += 8;
        len -= 8;
    }
    while (len--)
        c = _mm_crc32_u8((uint32_t)c, *p++);
    return ~(uint32_t)c;
}

bool ports__crc32c_have_hw(void)
{
    return __builtin_cpu_supports("sse4.2");
}
#else
uint32_t ports__crc32c_hw(uint32_t crc, const void *buf, size_t len)
{
    return ports__crc32c_sw(crc, buf, len);
}

bool ports__crc32c_have_hw(void)
{
    return false;
}
#endif

typedef uint32_t (*crc_fn)(uint32_t, const void *, size_t);

static crc_fn _Atomic g_impl;

static crc_fn choose_impl(void)
{
    crc_fn fn = ports__crc32c_have_hw() ? ports__crc32c_hw : ports__crc32c_sw;
    atomic_store_explicit(&g_impl, fn, memory_order_relaxed);
    return fn;
}

uint32_t ne_crc32c(uint32_t crc, const void *buf, size_t len)
{
    crc_fn fn = atomic_load_explicit(&g_impl, memory_order_relaxed);
    if (__builtin_expect(fn == NULL, 0)) fn = choose_impl();
    return fn(crc, buf, len);
}
