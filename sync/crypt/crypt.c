/*
 * crypt.c - the chunked AES-256-GCM envelope of crypt.h: key parsing,
 * sealing one chunk, the push writer, the positional sealer and the file
 * encrypt/decrypt calls built on them.
 *
 * Invariants: a chunk is sealed only once it is known whether it is the
 * last (the final flag is in its AAD), so the writer holds back a full
 * chunk until more plaintext arrives or finish is called. Decryption
 * releases plaintext only by renaming a fully authenticated temporary
 * file into place.
 */
#include "sync/crypt/crypt.h"

#include <errno.h>
#include <mbedtls/gcm.h>
#include <mbedtls/platform_util.h>
#include <mbedtls/sha256.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/types.h>

#include "ports/err.h"
#include "ports/platform.h"

#define MAGIC       "NEENC"
#define MAGIC_LEN   5
#define NONCE_LEN   12
#define AAD_LEN     (NE_CRYPT_HEADER_SIZE + 1)
#define MAX_CHUNKS  (1ull << 32)
#define OFF_VERSION 5
#define OFF_CHUNK   6
#define OFF_PREFIX  10
#define OFF_KEY_ID  18
#define NO_CHUNK    UINT64_MAX

/* ---- small helpers ------------------------------------------------------ */

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void set_why(char *why, size_t nwhy, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_why(char *why, size_t nwhy, const char *fmt, ...)
{
    if (!why || nwhy == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, nwhy, fmt, ap);
    va_end(ap);
}

static void hex8(const uint8_t id[NE_CRYPT_KEY_ID_SIZE], char out[2 * NE_CRYPT_KEY_ID_SIZE + 1])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < NE_CRYPT_KEY_ID_SIZE; i++) {
        out[2 * i] = digits[id[i] >> 4];
        out[2 * i + 1] = digits[id[i] & 15];
    }
    out[2 * NE_CRYPT_KEY_ID_SIZE] = '\0';
}

/* Fills buf with n bytes from the kernel's random source. */
static int random_bytes(uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return NE_EIO;
        got += (size_t)r;
    }
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool chunk_ok(uint32_t chunk)
{
    return chunk >= 1 && chunk <= NE_CRYPT_CHUNK_MAX;
}

/* Chunks needed for plain bytes: at least one (an empty last chunk). */
static uint64_t chunk_count(uint64_t plain, uint32_t chunk)
{
    return plain == 0 ? 1 : plain / chunk + (plain % chunk != 0);
}

/* ---- keys and sizes ------------------------------------------------------ */

int ne_crypt_key_parse_why(const char *hex64, uint8_t key[NE_CRYPT_KEY_SIZE], char *why,
                           size_t nwhy)
{
    if (!hex64) {
        set_why(why, nwhy, "no key given");
        return NE_EINVAL;
    }
    size_t n = strlen(hex64);
    if (n != 2 * NE_CRYPT_KEY_SIZE) {
        set_why(why, nwhy, "expected 64 hex digits (32 bytes), got %zu characters", n);
        return NE_EINVAL;
    }
    uint8_t tmp[NE_CRYPT_KEY_SIZE];
    for (size_t i = 0; i < n; i += 2) {
        int hi = hex_value(hex64[i]), lo = hex_value(hex64[i + 1]);
        size_t bad = hi < 0 ? i : lo < 0 ? i + 1 : n;
        if (bad < n) {
            mbedtls_platform_zeroize(tmp, sizeof(tmp));
            unsigned char c = (unsigned char)hex64[bad];
            if (c >= 0x20 && c < 0x7f)
                set_why(why, nwhy, "character %zu ('%c') is not a hex digit", bad + 1, c);
            else
                set_why(why, nwhy, "character %zu (byte 0x%02x) is not a hex digit", bad + 1, c);
            return NE_EINVAL;
        }
        tmp[i / 2] = (uint8_t)(hi << 4 | lo);
    }
    memcpy(key, tmp, sizeof(tmp));
    mbedtls_platform_zeroize(tmp, sizeof(tmp));
    return 0;
}

int ne_crypt_key_parse(const char *hex64, uint8_t key[NE_CRYPT_KEY_SIZE])
{
    return ne_crypt_key_parse_why(hex64, key, NULL, 0);
}

void ne_crypt_key_id(const uint8_t key[NE_CRYPT_KEY_SIZE], uint8_t id[NE_CRYPT_KEY_ID_SIZE])
{
    uint8_t digest[32];
    mbedtls_sha256_ret(key, NE_CRYPT_KEY_SIZE, digest, 0);
    memcpy(id, digest, NE_CRYPT_KEY_ID_SIZE);
}

uint64_t ne_crypt_sealed_size(uint64_t plain, uint32_t chunk)
{
    if (chunk == 0) chunk = NE_CRYPT_CHUNK_DEFAULT;
    return NE_CRYPT_HEADER_SIZE + plain + NE_CRYPT_TAG_SIZE * chunk_count(plain, chunk);
}

/* ---- one chunk ------------------------------------------------------------
 * struct seal is the keyed cipher plus the header every chunk binds to. */

struct seal {
    mbedtls_gcm_context gcm;
    uint8_t header[NE_CRYPT_HEADER_SIZE];
};

/* Keys s and builds its header. prefix NULL: a random one. */
static int seal_init(struct seal *s, const uint8_t key[NE_CRYPT_KEY_SIZE], uint32_t chunk,
                     const uint8_t *prefix)
{
    mbedtls_gcm_init(&s->gcm);
    memcpy(s->header, MAGIC, MAGIC_LEN);
    s->header[OFF_VERSION] = NE_CRYPT_VERSION;
    put_be32(s->header + OFF_CHUNK, chunk);
    if (prefix) {
        memcpy(s->header + OFF_PREFIX, prefix, NE_CRYPT_PREFIX_SIZE);
    } else {
        int rc = random_bytes(s->header + OFF_PREFIX, NE_CRYPT_PREFIX_SIZE);
        if (rc) return rc;
    }
    ne_crypt_key_id(key, s->header + OFF_KEY_ID);
    if (mbedtls_gcm_setkey(&s->gcm, MBEDTLS_CIPHER_ID_AES, key, 8 * NE_CRYPT_KEY_SIZE) != 0)
        return NE_EINVAL;
    return 0;
}

static void seal_free(struct seal *s)
{
    mbedtls_gcm_free(&s->gcm); /* zeroizes the key schedule */
}

/* The nonce and AAD of chunk index (see the format in crypt.h). */
static void chunk_params(const struct seal *s, uint64_t index, bool final, uint8_t nonce[NONCE_LEN],
                         uint8_t aad[AAD_LEN])
{
    memcpy(nonce, s->header + OFF_PREFIX, NE_CRYPT_PREFIX_SIZE);
    put_be32(nonce + NE_CRYPT_PREFIX_SIZE, (uint32_t)index);
    memcpy(aad, s->header, NE_CRYPT_HEADER_SIZE);
    aad[NE_CRYPT_HEADER_SIZE] = final ? 1 : 0;
}

/* Seals len bytes of in as chunk index into out (len + 16 bytes). */
static int seal_chunk(struct seal *s, uint64_t index, bool final, const uint8_t *in, size_t len,
                      uint8_t *out)
{
    uint8_t nonce[NONCE_LEN], aad[AAD_LEN];
    chunk_params(s, index, final, nonce, aad);
    if (mbedtls_gcm_crypt_and_tag(&s->gcm, MBEDTLS_GCM_ENCRYPT, len, nonce, NONCE_LEN, aad, AAD_LEN,
                                  in, out, NE_CRYPT_TAG_SIZE, out + len) != 0)
        return NE_EIO;
    return 0;
}

/* Opens chunk index: in holds len ciphertext bytes then the tag; out gets
 * len plaintext bytes. NE_ECHECKSUM when it does not authenticate. */
static int open_chunk(struct seal *s, uint64_t index, bool final, const uint8_t *in, size_t len,
                      uint8_t *out)
{
    uint8_t nonce[NONCE_LEN], aad[AAD_LEN];
    chunk_params(s, index, final, nonce, aad);
    int rc = mbedtls_gcm_auth_decrypt(&s->gcm, len, nonce, NONCE_LEN, aad, AAD_LEN, in + len,
                                      NE_CRYPT_TAG_SIZE, in, out);
    return rc == 0 ? 0 : NE_ECHECKSUM;
}

/* ---- push writer ----------------------------------------------------------- */

struct ne_crypt_writer {
    struct seal s;
    ne_crypt_sink_fn sink;
    void *ctx;
    uint32_t chunk;
    uint8_t *plain;  /* chunk bytes: plaintext not sealed yet */
    size_t have;     /* bytes in plain */
    uint8_t *sealed; /* chunk + 16 bytes */
    uint64_t index;  /* index of the chunk being filled */
    uint64_t total;  /* bytes handed to the sink */
    bool header_sent, finished, failed;
};

int ne_crypt_writer_open(const uint8_t key[NE_CRYPT_KEY_SIZE], uint32_t chunk,
                         ne_crypt_sink_fn sink, void *ctx, struct ne_crypt_writer **out)
{
    if (chunk == 0) chunk = NE_CRYPT_CHUNK_DEFAULT;
    if (!key || !sink || !out || !chunk_ok(chunk)) return NE_EINVAL;
    struct ne_crypt_writer *w = ne_calloc(1, sizeof(*w));
    if (!w) return NE_ENOMEM;
    int rc = seal_init(&w->s, key, chunk, NULL);
    w->sink = sink;
    w->ctx = ctx;
    w->chunk = chunk;
    w->plain = rc ? NULL : ne_malloc(chunk);
    w->sealed = rc ? NULL : ne_malloc((size_t)chunk + NE_CRYPT_TAG_SIZE);
    if (!rc && (!w->plain || !w->sealed)) rc = NE_ENOMEM;
    if (rc) {
        ne_crypt_writer_close(&w);
        return rc;
    }
    *out = w;
    return 0;
}

static int writer_sink(struct ne_crypt_writer *w, const void *buf, size_t len)
{
    int rc = w->sink(w->ctx, buf, len);
    if (rc) return rc;
    w->total += len;
    return 0;
}

/* Seals what plain holds as the current chunk and sinks it (the header
 * before the first chunk). */
static int writer_flush(struct ne_crypt_writer *w, bool final)
{
    if (!final && w->index + 1 >= MAX_CHUNKS) return NE_ETOOBIG;
    int rc = 0;
    if (!w->header_sent) {
        rc = writer_sink(w, w->s.header, NE_CRYPT_HEADER_SIZE);
        if (rc) return rc;
        w->header_sent = true;
    }
    rc = seal_chunk(&w->s, w->index, final, w->plain, w->have, w->sealed);
    if (!rc) rc = writer_sink(w, w->sealed, w->have + NE_CRYPT_TAG_SIZE);
    if (rc) return rc;
    w->index++;
    w->have = 0;
    return 0;
}

int ne_crypt_writer_write(struct ne_crypt_writer *w, const void *buf, size_t len)
{
    if (!w || (!buf && len)) return NE_EINVAL;
    if (w->failed) return NE_EFAILED;
    if (w->finished) return NE_EINVAL;
    const uint8_t *p = buf;
    while (len > 0) {
        /* A full chunk is sealed only now that more plaintext follows it. */
        if (w->have == w->chunk) {
            int rc = writer_flush(w, false);
            if (rc) {
                w->failed = true;
                return rc;
            }
        }
        size_t n = w->chunk - w->have < len ? w->chunk - w->have : len;
        memcpy(w->plain + w->have, p, n);
        w->have += n;
        p += n;
        len -= n;
    }
    return 0;
}

int ne_crypt_writer_finish(struct ne_crypt_writer *w, uint64_t *sealed)
{
    if (!w) return NE_EINVAL;
    if (w->failed) return NE_EFAILED;
    if (w->finished) return NE_EINVAL;
    int rc = writer_flush(w, true);
    if (rc) {
        w->failed = true;
        return rc;
    }
    w->finished = true;
    if (sealed) *sealed = w->total;
    return 0;
}

void ne_crypt_writer_close(struct ne_crypt_writer **wp)
{
    if (!wp || !*wp) return;
    struct ne_crypt_writer *w = *wp;
    seal_free(&w->s);
    if (w->plain) {
        mbedtls_platform_zeroize(w->plain, w->chunk);
        ne_free(w->plain);
    }
    ne_free(w->sealed);
    ne_free(w);
    *wp = NULL;
}

/* ---- positional sealer ----------------------------------------------------- */

struct ne_crypt_sealer {
    struct seal s;
    ne_crypt_read_fn read;
    void *ctx;
    uint32_t chunk;
    uint64_t plain_size;
    uint64_t nchunks;
    uint8_t *plain;    /* chunk bytes */
    uint8_t *sealed;   /* chunk + 16 bytes: sealed chunk `cached` */
    uint64_t cached;   /* index of the chunk in sealed, NO_CHUNK if none */
    size_t cached_len; /* its sealed length */
};

int ne_crypt_sealer_open(const uint8_t key[NE_CRYPT_KEY_SIZE], uint32_t chunk,
                         const uint8_t prefix[NE_CRYPT_PREFIX_SIZE], ne_crypt_read_fn read,
                         void *ctx, uint64_t plain_size, struct ne_crypt_sealer **out)
{
    if (chunk == 0) chunk = NE_CRYPT_CHUNK_DEFAULT;
    if (!key || !read || !out || !chunk_ok(chunk)) return NE_EINVAL;
    if (chunk_count(plain_size, chunk) > MAX_CHUNKS) return NE_ETOOBIG;
    struct ne_crypt_sealer *s = ne_calloc(1, sizeof(*s));
    if (!s) return NE_ENOMEM;
    int rc = seal_init(&s->s, key, chunk, prefix);
    s->read = read;
    s->ctx = ctx;
    s->chunk = chunk;
    s->plain_size = plain_size;
    s->nchunks = chunk_count(plain_size, chunk);
    s->cached = NO_CHUNK;
    s->plain = rc ? NULL : ne_malloc(chunk);
    s->sealed = rc ? NULL : ne_malloc((size_t)chunk + NE_CRYPT_TAG_SIZE);
    if (!rc && (!s->plain || !s->sealed)) rc = NE_ENOMEM;
    if (rc) {
        ne_crypt_sealer_close(&s);
        return rc;
    }
    *out = s;
    return 0;
}

uint64_t ne_crypt_sealer_size(const struct ne_crypt_sealer *s)
{
    return ne_crypt_sealed_size(s->plain_size, s->chunk);
}

const uint8_t *ne_crypt_sealer_prefix(const struct ne_crypt_sealer *s)
{
    return s->s.header + OFF_PREFIX;
}

/* Reads exactly n plaintext bytes at off into buf. */
static int sealer_read_plain(struct ne_crypt_sealer *s, uint64_t off, uint8_t *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        size_t nr = 0;
        int rc = s->read(s->ctx, off + got, buf + got, n - got, &nr);
        if (rc) return rc;
        if (nr == 0) return NE_EIO; /* the plaintext ended early */
        got += nr;
    }
    return 0;
}

/* Makes chunk index the cached sealed chunk. */
static int sealer_load(struct ne_crypt_sealer *s, uint64_t index)
{
    if (s->cached == index) return 0;
    uint64_t off = index * s->chunk;
    size_t n = s->plain_size - off < s->chunk ? (size_t)(s->plain_size - off) : s->chunk;
    s->cached = NO_CHUNK;
    int rc = sealer_read_plain(s, off, s->plain, n);
    if (!rc) rc = seal_chunk(&s->s, index, index + 1 == s->nchunks, s->plain, n, s->sealed);
    if (rc) return rc;
    s->cached = index;
    s->cached_len = n + NE_CRYPT_TAG_SIZE;
    return 0;
}

int ne_crypt_sealer_read(void *sealer, uint64_t off, void *buf, size_t len, size_t *nread)
{
    struct ne_crypt_sealer *s = sealer;
    uint64_t size = ne_crypt_sealer_size(s);
    uint8_t *p = buf;
    size_t done = 0;
    const uint64_t unit = (uint64_t)s->chunk + NE_CRYPT_TAG_SIZE;
    while (done < len && off < size) {
        const uint8_t *src;
        size_t avail;
        if (off < NE_CRYPT_HEADER_SIZE) {
            src = s->s.header + off;
            avail = NE_CRYPT_HEADER_SIZE - (size_t)off;
        } else {
            uint64_t rel = off - NE_CRYPT_HEADER_SIZE;
            int rc = sealer_load(s, rel / unit);
            if (rc) return rc;
            size_t in = (size_t)(rel % unit);
            src = s->sealed + in;
            avail = s->cached_len - in;
        }
        size_t n = avail < len - done ? avail : len - done;
        memcpy(p + done, src, n);
        done += n;
        off += n;
    }
    *nread = done;
    return 0;
}

void ne_crypt_sealer_close(struct ne_crypt_sealer **sp)
{
    if (!sp || !*sp) return;
    struct ne_crypt_sealer *s = *sp;
    seal_free(&s->s);
    if (s->plain) {
        mbedtls_platform_zeroize(s->plain, s->chunk);
        ne_free(s->plain);
    }
    ne_free(s->sealed);
    ne_free(s);
    *sp = NULL;
}

/* ---- atomic output file ------------------------------------------------------
 * path.tmp is written, fdatasynced and renamed over path; the directory is
 * synced after. */

struct out_file {
    char *path;
    char *tmp;
    struct ne_file *f;
};

static int out_begin(struct out_file *o, const char *path)
{
    memset(o, 0, sizeof(*o));
    size_t n = strlen(path);
    o->path = ne_strdup(path);
    o->tmp = ne_malloc(n + 5);
    if (!o->path || !o->tmp) return NE_ENOMEM;
    memcpy(o->tmp, path, n);
    memcpy(o->tmp + n, ".tmp", 5);
    if (ne_fs_exists(o->tmp)) {
        int rc = ne_fs_unlink(o->tmp);
        if (rc) return rc;
    }
    return ne_file_open(o->tmp, NE_F_WRITE | NE_F_CREATE | NE_F_EXCL, &o->f);
}

static int out_sink(void *ctx, const void *buf, size_t len)
{
    struct out_file *o = ctx;
    return ne_file_append(o->f, buf, len);
}

/* The directory part of path ("." when none). ne_malloc'd. */
static char *dir_of(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return ne_strdup(".");
    if (slash == path) return ne_strdup("/");
    return ne_strndup(path, (size_t)(slash - path));
}

static int out_commit(struct out_file *o)
{
    int rc = ne_file_datasync(o->f);
    int crc = ne_file_close(&o->f);
    if (!rc) rc = crc;
    if (!rc) rc = ne_fs_rename(o->tmp, o->path);
    if (!rc) {
        char *dir = dir_of(o->path);
        rc = dir ? ne_fs_sync_dir(dir) : NE_ENOMEM;
        ne_free(dir);
    }
    return rc;
}

/* Releases o; removes the temporary file unless it was committed. */
static void out_end(struct out_file *o, bool committed)
{
    ne_file_close(&o->f);
    if (!committed && o->tmp && ne_fs_exists(o->tmp)) ne_fs_unlink(o->tmp);
    ne_free(o->path);
    ne_free(o->tmp);
    memset(o, 0, sizeof(*o));
}

/* ---- files ----------------------------------------------------------------- */

/* Streams the file `in` through w. */
static int encrypt_stream(struct ne_file *in, struct ne_crypt_writer *w, uint8_t *buf, size_t n)
{
    uint64_t off = 0;
    for (;;) {
        size_t nr = 0;
        int rc = ne_file_pread(in, buf, n, off, &nr);
        if (rc) return rc;
        if (nr == 0) return 0;
        rc = ne_crypt_writer_write(w, buf, nr);
        if (rc) return rc;
        off += nr;
    }
}

int ne_crypt_encrypt_file_chunked(const uint8_t key[NE_CRYPT_KEY_SIZE], uint32_t chunk,
                                  const char *in_path, const char *out_path)
{
    if (!key || !in_path || !out_path || !chunk_ok(chunk)) return NE_EINVAL;
    struct ne_file *in = NULL;
    struct ne_crypt_writer *w = NULL;
    struct out_file o;
    bool committed = false;
    uint8_t *buf = NULL;
    int rc = out_begin(&o, out_path);
    if (!rc) rc = ne_file_open(in_path, NE_F_READ, &in);
    if (!rc) rc = ne_crypt_writer_open(key, chunk, out_sink, &o, &w);
    if (!rc && !(buf = ne_malloc(chunk))) rc = NE_ENOMEM;
    if (!rc) rc = encrypt_stream(in, w, buf, chunk);
    if (!rc) rc = ne_crypt_writer_finish(w, NULL);
    if (!rc) rc = out_commit(&o);
    committed = rc == 0;
    ne_free(buf);
    ne_crypt_writer_close(&w);
    ne_file_close(&in);
    out_end(&o, committed);
    return rc;
}

int ne_crypt_encrypt_file(const uint8_t key[NE_CRYPT_KEY_SIZE], const char *in_path,
                          const char *out_path)
{
    return ne_crypt_encrypt_file_chunked(key, NE_CRYPT_CHUNK_DEFAULT, in_path, out_path);
}

/* What the header and the size say about an envelope being opened. */
struct layout {
    uint32_t chunk;
    uint64_t nchunks;
    size_t last_len; /* plaintext bytes of the last chunk */
};

/* Checks the header of in (size bytes) against key; fills s and l. */
static int open_header(struct ne_file *in, uint64_t size, const uint8_t key[NE_CRYPT_KEY_SIZE],
                       struct seal *s, struct layout *l, char *why, size_t nwhy)
{
    uint8_t h[NE_CRYPT_HEADER_SIZE];
    size_t nr = 0;
    int rc = ne_file_pread(in, h, sizeof(h), 0, &nr);
    if (rc) {
        set_why(why, nwhy, "reading the header: %s", ne_strerror(rc));
        return rc;
    }
    if (nr < MAGIC_LEN || memcmp(h, MAGIC, MAGIC_LEN) != 0) {
        set_why(why, nwhy, "not a neoedge encrypted file (no NEENC header)");
        return NE_ECORRUPT;
    }
    if (nr < sizeof(h)) {
        set_why(why, nwhy, "envelope header cut short (%zu of %d bytes)", nr, NE_CRYPT_HEADER_SIZE);
        return NE_ECORRUPT;
    }
    if (h[OFF_VERSION] != NE_CRYPT_VERSION) {
        set_why(why, nwhy, "envelope version %u is not supported (this build reads %d)",
                h[OFF_VERSION], NE_CRYPT_VERSION);
        return NE_EVERSION;
    }
    l->chunk = get_be32(h + OFF_CHUNK);
    if (!chunk_ok(l->chunk)) {
        set_why(why, nwhy, "bad chunk size %u in the envelope header", (unsigned)l->chunk);
        return NE_ECORRUPT;
    }
    rc = seal_init(s, key, l->chunk, h + OFF_PREFIX);
    if (rc) {
        set_why(why, nwhy, "setting up AES-256-GCM: %s", ne_strerror(rc));
        return rc;
    }
    if (memcmp(s->header, h, sizeof(h)) != 0) {
        char want[17], have[17];
        hex8(h + OFF_KEY_ID, want);
        hex8(s->header + OFF_KEY_ID, have);
        set_why(why, nwhy, "wrong key (the file needs key id %s, the key given has %s)", want,
                have);
        return NE_EPERM;
    }
    /* The layout follows from the size: see ENVELOPE FORMAT in crypt.h. */
    uint64_t body = size - NE_CRYPT_HEADER_SIZE;
    uint64_t unit = (uint64_t)l->chunk + NE_CRYPT_TAG_SIZE;
    uint64_t full = body / unit, rem = body % unit;
    if (rem != 0 && rem < NE_CRYPT_TAG_SIZE) {
        set_why(why, nwhy, "truncated or tampered at chunk %llu (it ends inside a tag)",
                (unsigned long long)full);
        return NE_ECHECKSUM;
    }
    if (body == 0) {
        set_why(why, nwhy, "truncated or tampered at chunk 0 (no chunk after the header)");
        return NE_ECHECKSUM;
    }
    l->nchunks = full + (rem != 0);
    l->last_len = rem != 0 ? (size_t)(rem - NE_CRYPT_TAG_SIZE) : l->chunk;
    if (l->nchunks > MAX_CHUNKS) {
        set_why(why, nwhy, "more chunks than the format allows (%llu)",
                (unsigned long long)l->nchunks);
        return NE_ECORRUPT;
    }
    return 0;
}

/* Authenticates and writes every chunk of in to o. buf holds chunk + 16
 * bytes, plain chunk bytes. */
static int decrypt_chunks(struct ne_file *in, struct seal *s, const struct layout *l,
                          struct out_file *o, uint8_t *buf, uint8_t *plain, char *why, size_t nwhy)
{
    uint64_t off = NE_CRYPT_HEADER_SIZE;
    for (uint64_t i = 0; i < l->nchunks; i++) {
        bool final = i + 1 == l->nchunks;
        size_t n = final ? l->last_len : l->chunk;
        size_t nr = 0;
        int rc = ne_file_pread(in, buf, n + NE_CRYPT_TAG_SIZE, off, &nr);
        if (!rc && nr != n + NE_CRYPT_TAG_SIZE) rc = NE_EIO; /* shrank while reading */
        if (rc) {
            set_why(why, nwhy, "reading chunk %llu: %s", (unsigned long long)i, ne_strerror(rc));
            return rc;
        }
        rc = open_chunk(s, i, final, buf, n, plain);
        if (rc) {
            set_why(why, nwhy, "truncated or tampered at chunk %llu of %llu", (unsigned long long)i,
                    (unsigned long long)l->nchunks);
            return rc;
        }
        rc = ne_file_append(o->f, plain, n);
        if (rc) {
            set_why(why, nwhy, "writing %s: %s", o->tmp, ne_strerror(rc));
            return rc;
        }
        off += n + NE_CRYPT_TAG_SIZE;
    }
    return 0;
}

int ne_crypt_decrypt_file(const uint8_t key[NE_CRYPT_KEY_SIZE], const char *in_path,
                          const char *out_path, char *why, size_t nwhy)
{
    if (why && nwhy) why[0] = '\0';
    if (!key || !in_path || !out_path) return NE_EINVAL;
    struct ne_file *in = NULL;
    struct seal s;
    bool committed = false;
    struct layout l = {0};
    struct out_file o = {0};
    uint8_t *buf = NULL, *plain = NULL;
    uint64_t size = 0;
    mbedtls_gcm_init(&s.gcm); /* so seal_free is safe on every path */
    int rc = ne_file_open(in_path, NE_F_READ, &in);
    if (!rc) rc = ne_file_size(in, &size);
    if (rc) set_why(why, nwhy, "opening %s: %s", in_path, ne_strerror(rc));
    if (!rc) rc = open_header(in, size, key, &s, &l, why, nwhy);
    if (!rc) {
        buf = ne_malloc((size_t)l.chunk + NE_CRYPT_TAG_SIZE);
        plain = ne_malloc(l.chunk);
        if (!buf || !plain) rc = NE_ENOMEM;
    }
    if (!rc) {
        rc = out_begin(&o, out_path);
        if (rc) set_why(why, nwhy, "creating %s.tmp: %s", out_path, ne_strerror(rc));
    }
    if (!rc) rc = decrypt_chunks(in, &s, &l, &o, buf, plain, why, nwhy);
    if (!rc) {
        rc = out_commit(&o);
        if (rc) set_why(why, nwhy, "publishing %s: %s", out_path, ne_strerror(rc));
    }
    committed = rc == 0;
    seal_free(&s);
    if (plain) mbedtls_platform_zeroize(plain, l.chunk);
    ne_free(plain);
    ne_free(buf);
    ne_file_close(&in);
    out_end(&o, committed);
    return rc;
}
