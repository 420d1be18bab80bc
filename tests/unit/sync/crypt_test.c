/*
 * crypt_test.c - the encryption envelope (sync/crypt/crypt.h): key
 * parsing, sizes, a known-answer vector made with an independent AES-GCM
 * implementation (Python `cryptography`), file round trips around the
 * chunk boundaries, the push writer and the positional sealer, and every
 * kind of damage: flipped bytes, cuts, swapped chunks, a wrong key, a
 * foreign file, an unknown version.
 */
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"
#include "sync/crypt/crypt.h"
#include "t.h"

#define C NE_CRYPT_CHUNK_DEFAULT
#define H NE_CRYPT_HEADER_SIZE
#define T NE_CRYPT_TAG_SIZE

static char dir[256];
static uint8_t key[32], other_key[32];

/* ---- helpers ------------------------------------------------------------- */

static void fill_random(uint8_t *p, size_t n, uint64_t seed)
{
    uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        p[i] = (uint8_t)(x >> 24);
    }
}

static char *path(const char *name)
{
    static char buf[4][512];
    static int next;
    char *p = buf[next++ % 4];
    snprintf(p, sizeof(buf[0]), "%s/%s", dir, name);
    return p;
}

static int write_file(const char *p, const void *buf, size_t n)
{
    return ne_fs_write_atomic(p, buf, n);
}

/* Reads a whole file (ne_free). */
static uint8_t *read_file(const char *p, size_t *n)
{
    char *out = NULL;
    return ne_fs_read_all(p, &out, n) == 0 ? (uint8_t *)out : NULL;
}

static bool file_equals(const char *p, const uint8_t *want, size_t n)
{
    size_t got = 0;
    uint8_t *data = read_file(p, &got);
    bool ok = data && got == n && (n == 0 || memcmp(data, want, n) == 0);
    ne_free(data);
    return ok;
}

/* Seals size random bytes into "sealed.enc" (chunk bytes per chunk); the
 * plaintext is returned (ne_free) and also left in "plain". */
static uint8_t *make_sealed(size_t size, uint32_t chunk, uint64_t seed)
{
    uint8_t *data = ne_malloc(size ? size : 1);
    if (!data) return NULL;
    fill_random(data, size, seed);
    if (write_file(path("plain"), data, size) != 0 ||
        ne_crypt_encrypt_file_chunked(key, chunk, path("plain"), path("sealed.enc")) != 0) {
        ne_free(data);
        return NULL;
    }
    return data;
}

/* Decrypts "sealed.enc" into "out"; why gets the reason. */
static int decrypt(char *why)
{
    ne_fs_unlink(path("out"));
    return ne_crypt_decrypt_file(key, path("sealed.enc"), path("out"), why, NE_CRYPT_WHY_MAX);
}

/* Rewrites "sealed.enc" with fn applied to its bytes. */
static int edit_sealed(void (*fn)(uint8_t *buf, size_t *len, void *arg), void *arg)
{
    size_t n = 0;
    uint8_t *buf = read_file(path("sealed.enc"), &n);
    if (!buf) return NE_EIO;
    fn(buf, &n, arg);
    int rc = write_file(path("sealed.enc"), buf, n);
    ne_free(buf);
    return rc;
}

static void flip_byte(uint8_t *buf, size_t *len, void *arg)
{
    size_t at = *(size_t *)arg;
    if (at < *len) buf[at] ^= 0x01;
}

static void cut_to(uint8_t *buf, size_t *len, void *arg)
{
    (void)buf;
    *len = *(size_t *)arg;
}

/* Swaps sealed chunks 0 and 1 (both full, chunk bytes each). */
static void swap_first_chunks(uint8_t *buf, size_t *len, void *arg)
{
    size_t unit = *(uint32_t *)arg + (size_t)T;
    if (*len < H + 2 * unit) return;
    uint8_t *tmp = malloc(unit);
    if (!tmp) return;
    memcpy(tmp, buf + H, unit);
    memmove(buf + H, buf + H + unit, unit);
    memcpy(buf + H + unit, tmp, unit);
    free(tmp);
}

/* No output file, and no temporary one, after a failed decryption. */
static bool nothing_left(void)
{
    return !ne_fs_exists(path("out")) && !ne_fs_exists(path("out.tmp"));
}

/* ---- keys and sizes -------------------------------------------------------- */

static void test_key_parse(void)
{
    uint8_t k[32], want[32];
    for (int i = 0; i < 32; i++)
        want[i] = (uint8_t)i;
    T_OK(ne_crypt_key_parse("000102030405060708090a0b0c0d0e0f101112131415161718191A1B1C1D1E1F", k));
    T_CHECK(memcmp(k, want, 32) == 0);

    char why[NE_CRYPT_WHY_MAX];
    T_EQ_INT(ne_crypt_key_parse_why("abc", k, why, sizeof(why)), NE_EINVAL);
    T_EQ_STR(why, "expected 64 hex digits (32 bytes), got 3 characters");
    T_EQ_INT(
        ne_crypt_key_parse_why("00010203040506070809g a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                               k, why, sizeof(why)),
        NE_EINVAL);
    T_EQ_STR(why, "expected 64 hex digits (32 bytes), got 65 characters");
    T_EQ_INT(
        ne_crypt_key_parse_why("0001020304050607080xa0b0c0d0e0f101112131415161718191a1b1c1d1e1f0",
                               k, why, sizeof(why)),
        NE_EINVAL);
    T_EQ_STR(why, "character 20 ('x') is not a hex digit");
    T_EQ_INT(ne_crypt_key_parse(NULL, k), NE_EINVAL);
    T_CHECK(memcmp(k, want, 32) == 0); /* untouched on failure */
}

static void test_sealed_size(void)
{
    T_EQ_U64(ne_crypt_sealed_size(0, 0), H + T);
    T_EQ_U64(ne_crypt_sealed_size(1, 0), H + 1 + T);
    T_EQ_U64(ne_crypt_sealed_size(C, 0), H + C + T);
    T_EQ_U64(ne_crypt_sealed_size(C + 1, 0), H + C + 1 + 2 * T);
    T_EQ_U64(ne_crypt_sealed_size(10, 4), H + 10 + 3 * T);
    T_EQ_U64(ne_crypt_sealed_size(12, 4), H + 12 + 3 * T);
    T_EQ_U64(ne_crypt_sealed_size(5ull << 30, C), H + (5ull << 30) + 5120ull * T);
}

/* ---- known answer ----------------------------------------------------------
 * The envelope of "hello world" with key 00..1f, nonce prefix a0..a7 and
 * 4-byte chunks, as Python's cryptography AESGCM seals it following the
 * format text of crypt.h. */

static const char kat_hex[] =
    "4e45454e430100000004a0a1a2a3a4a5a6a7630dcd2966c43366963c82c4d9c1362ad5139b59e07730cdacbe"
    "dffa5ca3204bbfd3e376dc6cedbfee774e07130d6179a4fcc12902ade3c9bdc52db2e5e3eb987e00d0";

static int mem_read(void *ctx, uint64_t off, void *buf, size_t len, size_t *nread)
{
    const char *s = ctx;
    size_t n = strlen(s);
    size_t avail = off < n ? n - (size_t)off : 0;
    *nread = len < avail ? len : avail;
    memcpy(buf, s + off, *nread);
    return 0;
}

static void test_known_answer(void)
{
    uint8_t k[32], prefix[8], want[85];
    for (int i = 0; i < 32; i++)
        k[i] = (uint8_t)i;
    for (int i = 0; i < 8; i++)
        prefix[i] = (uint8_t)(0xa0 + i);
    for (size_t i = 0; i < sizeof(want); i++)
        sscanf(kat_hex + 2 * i, "%2hhx", &want[i]);
    struct ne_crypt_sealer *s = NULL;
    T_OK(ne_crypt_sealer_open(k, 4, prefix, mem_read, (void *)"hello world", 11, &s));
    T_EQ_U64(ne_crypt_sealer_size(s), sizeof(want));
    T_CHECK(memcmp(ne_crypt_sealer_prefix(s), prefix, 8) == 0);
    uint8_t got[100];
    size_t n = 0;
    T_OK(ne_crypt_sealer_read(s, 0, got, sizeof(got), &n));
    ne_crypt_sealer_close(&s);
    T_EQ_U64(n, sizeof(want));
    T_CHECK(memcmp(got, want, sizeof(want)) == 0);

    /* and it opens back */
    T_OK(write_file(path("sealed.enc"), want, sizeof(want)));
    char why[NE_CRYPT_WHY_MAX];
    ne_fs_unlink(path("out"));
    T_OK(ne_crypt_decrypt_file(k, path("sealed.enc"), path("out"), why, sizeof(why)));
    T_CHECK(file_equals(path("out"), (const uint8_t *)"hello world", 11));
}

/* ---- round trips ------------------------------------------------------------- */

static void roundtrip(size_t size, uint32_t chunk)
{
    uint8_t *data = make_sealed(size, chunk, size + chunk);
    T_CHECK(data != NULL);
    uint64_t sealed = 0;
    T_OK(ne_fs_file_size(path("sealed.enc"), &sealed));
    T_EQ_U64(sealed, ne_crypt_sealed_size(size, chunk));
    size_t hn = 0;
    uint8_t *h = read_file(path("sealed.enc"), &hn);
    T_CHECK(h != NULL && hn >= H);
    uint8_t id[8];
    ne_crypt_key_id(key, id);
    bool header_ok = memcmp(h, "NEENC\x01", 6) == 0 && h[6] == (uint8_t)(chunk >> 24) &&
                     h[7] == (uint8_t)(chunk >> 16) && h[8] == (uint8_t)(chunk >> 8) &&
                     h[9] == (uint8_t)chunk && memcmp(h + 18, id, 8) == 0;
    ne_free(h);
    T_CHECK(header_ok);
    char why[NE_CRYPT_WHY_MAX];
    int rc = decrypt(why);
    if (rc) fprintf(stderr, "  size %zu: %s\n", size, why);
    T_OK(rc);
    T_CHECK(file_equals(path("out"), data, size));
    T_CHECK(!ne_fs_exists(path("out.tmp")));
    ne_free(data);
}

static void test_roundtrip_default_chunk(void)
{
    const size_t sizes[] = {0, 1, C - 1, C, C + 1, 3 * C + C / 2};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        roundtrip(sizes[i], C);
        if (t_cur_failed) {
            fprintf(stderr, "  at size %zu\n", sizes[i]);
            return;
        }
    }
}

static void test_roundtrip_small_chunks(void)
{
    const size_t sizes[] = {0, 1, 999, 1000, 1001, 3500, 100000};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        roundtrip(sizes[i], 1000);
        if (t_cur_failed) return;
    }
    roundtrip(7, 1); /* one byte per chunk */
}

static void test_encrypt_is_randomised(void)
{
    /* Two seals of the same plaintext differ (fresh nonce prefix) and both open. */
    uint8_t *data = make_sealed(5000, 1000, 7);
    T_CHECK(data != NULL);
    size_t n1 = 0, n2 = 0;
    uint8_t *a = read_file(path("sealed.enc"), &n1);
    T_OK(ne_crypt_encrypt_file_chunked(key, 1000, path("plain"), path("sealed.enc")));
    uint8_t *b = read_file(path("sealed.enc"), &n2);
    bool differ = a && b && n1 == n2 && memcmp(a + 10, b + 10, 8) != 0 && memcmp(a, b, n1) != 0;
    ne_free(a);
    ne_free(b);
    T_CHECK(differ);
    char why[NE_CRYPT_WHY_MAX];
    T_OK(decrypt(why));
    T_CHECK(file_equals(path("out"), data, 5000));
    ne_free(data);
}

/* ---- streaming ------------------------------------------------------------ */

struct membuf {
    uint8_t *p;
    size_t len, cap;
};

static int membuf_sink(void *ctx, const void *buf, size_t len)
{
    struct membuf *m = ctx;
    if (m->len + len > m->cap) return NE_ENOSPC;
    memcpy(m->p + m->len, buf, len);
    m->len += len;
    return 0;
}

static void test_writer_pieces(void)
{
    /* Pieces of uneven sizes, including empty ones, give a valid envelope. */
    const size_t size = 10 * 1000 + 1;
    uint8_t *data = ne_malloc(size);
    struct membuf m = {ne_malloc(ne_crypt_sealed_size(size, 1000)), 0,
                       ne_crypt_sealed_size(size, 1000)};
    T_CHECK(data && m.p);
    fill_random(data, size, 11);
    struct ne_crypt_writer *w = NULL;
    T_OK(ne_crypt_writer_open(key, 1000, membuf_sink, &m, &w));
    size_t off = 0, step = 0;
    while (off < size) {
        size_t n = (step * 337) % 2500;
        if (n > size - off) n = size - off;
        T_OK(ne_crypt_writer_write(w, data + off, n));
        off += n;
        step++;
    }
    uint64_t total = 0;
    T_OK(ne_crypt_writer_finish(w, &total));
    T_EQ_INT(ne_crypt_writer_write(w, data, 1), NE_EINVAL); /* finished */
    ne_crypt_writer_close(&w);
    T_CHECK(w == NULL);
    T_EQ_U64(total, m.len);
    T_EQ_U64(m.len, ne_crypt_sealed_size(size, 1000));
    T_OK(write_file(path("sealed.enc"), m.p, m.len));
    char why[NE_CRYPT_WHY_MAX];
    T_OK(decrypt(why));
    T_CHECK(file_equals(path("out"), data, size));
    ne_free(m.p);
    ne_free(data);
}

static void test_writer_sink_failure(void)
{
    uint8_t data[3000] = {0};
    struct membuf m = {ne_malloc(100), 0, 100}; /* too small: the first chunk fails */
    struct ne_crypt_writer *w = NULL;
    T_OK(ne_crypt_writer_open(key, 1000, membuf_sink, &m, &w));
    T_EQ_INT(ne_crypt_writer_write(w, data, sizeof(data)), NE_ENOSPC);
    T_EQ_INT(ne_crypt_writer_write(w, data, 1), NE_EFAILED);
    T_EQ_INT(ne_crypt_writer_finish(w, NULL), NE_EFAILED);
    ne_crypt_writer_close(&w);
    ne_free(m.p);
    T_EQ_INT(ne_crypt_writer_open(key, NE_CRYPT_CHUNK_MAX + 1, membuf_sink, &m, &w), NE_EINVAL);
}

struct plain_src {
    const uint8_t *p;
    size_t n;
};

static int src_read(void *ctx, uint64_t off, void *buf, size_t len, size_t *nread)
{
    struct plain_src *s = ctx;
    size_t avail = off < s->n ? s->n - (size_t)off : 0;
    *nread = len < avail ? len : avail;
    memcpy(buf, s->p + off, *nread);
    return 0;
}

static void test_sealer_positional(void)
{
    /* Reads in odd slices and out of order give the same bytes as one read,
     * and those bytes open to the plaintext. */
    const size_t size = 4321;
    uint8_t data[4321], prefix[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    fill_random(data, size, 3);
    struct plain_src src = {data, size};
    struct ne_crypt_sealer *s = NULL;
    T_OK(ne_crypt_sealer_open(key, 1000, prefix, src_read, &src, size, &s));
    uint64_t total = ne_crypt_sealer_size(s);
    T_EQ_U64(total, ne_crypt_sealed_size(size, 1000));
    uint8_t *whole = ne_malloc(total), *pieces = ne_malloc(total);
    T_CHECK(whole && pieces);
    size_t n = 0;
    T_OK(ne_crypt_sealer_read(s, 0, whole, total + 100, &n));
    T_EQ_U64(n, total);
    /* backwards, in slices of 77 bytes */
    for (uint64_t end = total; end > 0;) {
        uint64_t off = end > 77 ? end - 77 : 0;
        T_OK(ne_crypt_sealer_read(s, off, pieces + off, (size_t)(end - off), &n));
        T_EQ_U64(n, end - off);
        end = off;
    }
    T_OK(ne_crypt_sealer_read(s, total, pieces, 10, &n));
    T_EQ_U64(n, 0);
    ne_crypt_sealer_close(&s);
    T_CHECK(memcmp(whole, pieces, total) == 0);
    T_OK(write_file(path("sealed.enc"), whole, total));
    char why[NE_CRYPT_WHY_MAX];
    T_OK(decrypt(why));
    T_CHECK(file_equals(path("out"), data, size));

    /* Same prefix, same bytes: a resumed upload sends what it sent before. */
    T_OK(ne_crypt_sealer_open(key, 1000, prefix, src_read, &src, size, &s));
    T_OK(ne_crypt_sealer_read(s, 0, pieces, total, &n));
    ne_crypt_sealer_close(&s);
    T_CHECK(memcmp(whole, pieces, total) == 0);

    /* A plaintext shorter than announced is an error, not a short envelope. */
    T_OK(ne_crypt_sealer_open(key, 1000, prefix, src_read, &src, size + 5, &s));
    T_EQ_INT(ne_crypt_sealer_read(s, 0, pieces, total, &n), NE_EIO);
    ne_crypt_sealer_close(&s);
    ne_free(whole);
    ne_free(pieces);
}

/* ---- damage ---------------------------------------------------------------- */

static void expect_fail(int want_rc, const char *want_why)
{
    char why[NE_CRYPT_WHY_MAX];
    int rc = decrypt(why);
    T_EQ_INT(rc, want_rc);
    if (!strstr(why, want_why)) T_FAIL_("why \"%s\" lacks \"%s\"", why, want_why);
    T_CHECK(nothing_left());
}

static void test_tamper_detected(void)
{
    const size_t size = 3 * C + C / 2;
    uint8_t *data = make_sealed(size, C, 1);
    T_CHECK(data != NULL);
    ne_free(data);
    size_t at = H + (C + T) + 5; /* ciphertext of chunk 1 */
    T_OK(edit_sealed(flip_byte, &at));
    expect_fail(NE_ECHECKSUM, "truncated or tampered at chunk 1 of 4");
    T_OK(edit_sealed(flip_byte, &at)); /* undone */
    char why[NE_CRYPT_WHY_MAX];
    T_OK(decrypt(why));

    at = H + 2 * (C + T) + C + 3; /* tag of chunk 2 */
    T_OK(edit_sealed(flip_byte, &at));
    expect_fail(NE_ECHECKSUM, "at chunk 2 of 4");
    T_OK(edit_sealed(flip_byte, &at));

    at = 12; /* nonce prefix: every chunk fails, the first is reported */
    T_OK(edit_sealed(flip_byte, &at));
    expect_fail(NE_ECHECKSUM, "at chunk 0 of 4");
    T_OK(edit_sealed(flip_byte, &at));

    at = 9; /* chunk size: the layout no longer fits the size */
    T_OK(edit_sealed(flip_byte, &at));
    char why2[NE_CRYPT_WHY_MAX];
    T_EQ_INT(decrypt(why2), NE_ECHECKSUM);
    T_CHECK(nothing_left());
}

static void test_truncation_detected(void)
{
    const size_t size = 2 * 1000 + 500;
    uint8_t *data = make_sealed(size, 1000, 2);
    T_CHECK(data != NULL);
    ne_free(data);
    size_t full = (size_t)ne_crypt_sealed_size(size, 1000);
    size_t cut = full - 1; /* inside the last tag */
    T_OK(edit_sealed(cut_to, &cut));
    expect_fail(NE_ECHECKSUM, "truncated or tampered at chunk 2 of 3");

    cut = H + 2 * (1000 + T); /* exactly after chunk 1: chunk 1 was not sealed as last */
    T_OK(edit_sealed(cut_to, &cut));
    expect_fail(NE_ECHECKSUM, "truncated or tampered at chunk 1 of 2");

    cut = H + 1000 + T + 7; /* inside the tag area of a short chunk */
    T_OK(edit_sealed(cut_to, &cut));
    expect_fail(NE_ECHECKSUM, "truncated or tampered at chunk 1");

    cut = H; /* the header alone */
    T_OK(edit_sealed(cut_to, &cut));
    expect_fail(NE_ECHECKSUM, "truncated or tampered at chunk 0");

    cut = H - 4; /* inside the header */
    T_OK(edit_sealed(cut_to, &cut));
    expect_fail(NE_ECORRUPT, "header cut short");

    /* An empty plaintext's only chunk cut off. */
    data = make_sealed(0, 1000, 3);
    ne_free(data);
    cut = H + T - 1;
    T_OK(edit_sealed(cut_to, &cut));
    expect_fail(NE_ECHECKSUM, "at chunk 0");
}

static void test_swapped_chunks_detected(void)
{
    uint32_t chunk = 1000;
    uint8_t *data = make_sealed(3 * chunk + 10, chunk, 4);
    T_CHECK(data != NULL);
    ne_free(data);
    T_OK(edit_sealed(swap_first_chunks, &chunk));
    expect_fail(NE_ECHECKSUM, "truncated or tampered at chunk 0 of 4");
}

static void test_wrong_key_reported(void)
{
    uint8_t *data = make_sealed(100, 1000, 5);
    T_CHECK(data != NULL);
    ne_free(data);
    char why[NE_CRYPT_WHY_MAX];
    ne_fs_unlink(path("out"));
    T_EQ_INT(ne_crypt_decrypt_file(other_key, path("sealed.enc"), path("out"), why, sizeof(why)),
             NE_EPERM);
    char want[128];
    uint8_t a[8], b[8];
    ne_crypt_key_id(key, a);
    ne_crypt_key_id(other_key, b);
    snprintf(want, sizeof(want),
             "wrong key (the file needs key id %02x%02x%02x%02x%02x%02x%02x%02x, the key given "
             "has %02x%02x%02x%02x%02x%02x%02x%02x)",
             a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], b[0], b[1], b[2], b[3], b[4], b[5],
             b[6], b[7]);
    T_EQ_STR(why, want);
    T_CHECK(nothing_left());
}

static void patch_byte(uint8_t *buf, size_t *len, void *arg)
{
    const uint8_t *pb = arg; /* {offset, value} */
    if (pb[0] < *len) buf[pb[0]] = pb[1];
}

static void test_not_an_envelope(void)
{
    uint8_t *data = make_sealed(100, 1000, 6);
    T_CHECK(data != NULL);
    ne_free(data);
    uint8_t magic[2] = {0, 'X'};
    T_OK(edit_sealed(patch_byte, magic));
    expect_fail(NE_ECORRUPT, "not a neoedge encrypted file");

    data = make_sealed(100, 1000, 6);
    ne_free(data);
    uint8_t version[2] = {5, 2};
    T_OK(edit_sealed(patch_byte, version));
    expect_fail(NE_EVERSION, "envelope version 2 is not supported");

    data = make_sealed(100, 1000, 6);
    ne_free(data);
    uint8_t zero_chunk[2] = {8, 0};
    uint8_t zero_chunk_lo[2] = {9, 0};
    T_OK(edit_sealed(patch_byte, zero_chunk));
    T_OK(edit_sealed(patch_byte, zero_chunk_lo));
    expect_fail(NE_ECORRUPT, "bad chunk size 0");

    T_OK(write_file(path("sealed.enc"), "PAR1", 4)); /* shorter than a header */
    expect_fail(NE_ECORRUPT, "not a neoedge encrypted file");

    char why[NE_CRYPT_WHY_MAX];
    T_EQ_INT(ne_crypt_decrypt_file(key, path("missing.enc"), path("out"), why, sizeof(why)),
             NE_ENOTFOUND);
    T_CHECK(strstr(why, "missing.enc") != NULL);
}

int main(void)
{
    if (!t_tmpdir(dir, sizeof(dir))) return 1;
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)(0x40 + i);
        other_key[i] = (uint8_t)(0x41 + i);
    }
    T_RUN(test_key_parse);
    T_RUN(test_sealed_size);
    T_RUN(test_known_answer);
    T_RUN(test_roundtrip_default_chunk);
    T_RUN(test_roundtrip_small_chunks);
    T_RUN(test_encrypt_is_randomised);
    T_RUN(test_writer_pieces);
    T_RUN(test_writer_sink_failure);
    T_RUN(test_sealer_positional);
    T_RUN(test_tamper_detected);
    T_RUN(test_truncation_detected);
    T_RUN(test_swapped_chunks_detected);
    T_RUN(test_wrong_key_reported);
    T_RUN(test_not_an_envelope);
    ne_fs_remove_tree(dir);
    return t_done();
}
