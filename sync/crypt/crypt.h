/*
 * crypt.h - encryption at rest for the objects cloud sync uploads.
 *
 * An object is sealed with AES-256-GCM in independently authenticated
 * chunks, so a multi-GB object is encrypted and decrypted in a bounded
 * amount of memory (one chunk), and any change to the sealed bytes -
 * a flipped bit, chunks reordered or dropped, the object cut short - is
 * detected. `neoedge decrypt` turns a sealed object back into the original.
 *
 * ENVELOPE FORMAT, version 1 (all integers big endian)
 *
 *   header, 26 bytes:
 *     offset  size  field
 *     0       5     magic "NEENC" (4e 45 45 4e 43)
 *     5       1     version: 1
 *     6       4     chunk_size: plaintext bytes per chunk, 1 .. 64 MiB
 *                   (the writer uses 1 MiB unless told otherwise)
 *     10      8     nonce prefix: random, drawn afresh for every object
 *     18      8     key id: the first 8 bytes of SHA-256(key), where key is
 *                   the 32 raw key bytes; tells a wrong key from tampering
 *
 *   then chunks 0, 1, ..., n-1 (n >= 1, at most 2^32), each:
 *     ciphertext  (as long as the chunk's plaintext)
 *     tag         16 bytes, the GCM authentication tag
 *
 *   Every chunk but the last holds exactly chunk_size plaintext bytes; the
 *   last holds 0 .. chunk_size bytes. The writer emits an empty last chunk
 *   only for an empty plaintext, so a plaintext of k * chunk_size bytes is
 *   k full chunks. Chunk i is AES-256-GCM with:
 *     key    the 32-byte key
 *     nonce  12 bytes: nonce prefix (8) || i as u32 big endian (4)
 *     AAD    27 bytes: the 26 header bytes || final flag (1 byte: 0x01 for
 *            the last chunk, 0x00 for the others)
 *
 *   The last chunk is the one that ends at the end of the object, so the
 *   layout follows from the object's size S: with body = S - 26 and
 *   unit = chunk_size + 16, body % unit == 0 means body / unit full chunks;
 *   body % unit >= 16 means body / unit full chunks plus a last chunk of
 *   body % unit - 16 bytes; anything else (or body == 0) is a cut object.
 *   The sealed size of p plaintext bytes is 26 + p + 16 * max(1,
 *   ceil(p / chunk_size)) (ne_crypt_sealed_size).
 *
 *   Why this detects what it does: the header is in every chunk's AAD
 *   (a changed chunk size, nonce or key id fails every chunk), the chunk
 *   index is in the nonce (moved or swapped chunks fail), and the final
 *   flag is in the AAD (an object cut at a chunk boundary ends on a chunk
 *   sealed as not-last, which fails). A random 64-bit nonce prefix per
 *   object keeps nonces unique under one key for far more objects than a
 *   gateway uploads (a repeat is expected only after about 2^32 objects).
 *
 *   Decrypting by hand, e.g. in Python with the `cryptography` package:
 *     AESGCM(key).decrypt(prefix + i.to_bytes(4, "big"),
 *                         ciphertext + tag, header + bytes([final]))
 *
 * KEYS are 32 bytes, written as 64 hex digits (ne_crypt_key_parse), e.g.
 * made with `openssl rand -hex 32`. Key material held by this module is
 * wiped when released.
 *
 * All calls return 0 or a negative NE_E* code (ports/err.h). None is
 * thread-safe on one handle; separate handles are independent.
 */
#ifndef NE_SYNC_CRYPT_H
#define NE_SYNC_CRYPT_H

#include <stddef.h>
#include <stdint.h>

#define NE_CRYPT_KEY_SIZE      32
#define NE_CRYPT_HEADER_SIZE   26
#define NE_CRYPT_TAG_SIZE      16
#define NE_CRYPT_PREFIX_SIZE   8
#define NE_CRYPT_KEY_ID_SIZE   8
#define NE_CRYPT_VERSION       1
#define NE_CRYPT_CHUNK_DEFAULT (1u << 20)  /* 1 MiB of plaintext per chunk */
#define NE_CRYPT_CHUNK_MAX     (64u << 20) /* largest chunk_size accepted */
#define NE_CRYPT_WHY_MAX       160         /* enough for any `why` text here */

/* ---- keys ------------------------------------------------------------------ */

/* Parses exactly 64 hex digits (either case, nothing else, no whitespace)
 * into key. Returns 0 or NE_EINVAL (key untouched). */
int ne_crypt_key_parse(const char *hex64, uint8_t key[NE_CRYPT_KEY_SIZE]);

/* As ne_crypt_key_parse; on NE_EINVAL, why (may be NULL) names the
 * problem, e.g. "expected 64 hex digits, got 63 characters" or
 * "character 5 ('g') is not a hex digit". */
int ne_crypt_key_parse_why(const char *hex64, uint8_t key[NE_CRYPT_KEY_SIZE], char *why,
                           size_t nwhy);

/* The key id of key (first 8 bytes of its SHA-256), as stored in headers. */
void ne_crypt_key_id(const uint8_t key[NE_CRYPT_KEY_SIZE], uint8_t id[NE_CRYPT_KEY_ID_SIZE]);

/* ---- sizes ----------------------------------------------------------------- */

/* The sealed size of `plain` plaintext bytes with chunks of `chunk` bytes
 * (0 means NE_CRYPT_CHUNK_DEFAULT): header + plaintext + one tag per chunk.
 * Use it as the Content-Length of an encrypted upload. */
uint64_t ne_crypt_sealed_size(uint64_t plain, uint32_t chunk);

/* ---- files ----------------------------------------------------------------- */

/* Seals the file in_path into out_path with chunks of NE_CRYPT_CHUNK_DEFAULT
 * bytes. out_path is written as out_path.tmp (a stale one is replaced),
 * fdatasynced, renamed over out_path and its directory synced; on failure
 * out_path is untouched and the temporary file removed. Returns 0, an I/O
 * code, or NE_ETOOBIG when the input would need more than 2^32 chunks. */
int ne_crypt_encrypt_file(const uint8_t key[NE_CRYPT_KEY_SIZE], const char *in_path,
                          const char *out_path);

/* As ne_crypt_encrypt_file with chunks of `chunk` plaintext bytes
 * (1 .. NE_CRYPT_CHUNK_MAX, else NE_EINVAL). */
int ne_crypt_encrypt_file_chunked(const uint8_t key[NE_CRYPT_KEY_SIZE], uint32_t chunk,
                                  const char *in_path, const char *out_path);

/* Opens the envelope in_path and writes the plaintext to out_path the same
 * way ne_crypt_encrypt_file writes (tmp, fdatasync, rename, sync dir): the
 * plaintext appears at out_path only once every chunk authenticated, so a
 * failed run never leaves unauthenticated bytes behind. Returns 0 or:
 *   NE_ECORRUPT   not an envelope (bad magic, short header, bad chunk size)
 *   NE_EVERSION   an envelope of an unknown version
 *   NE_EPERM      wrong key: the header's key id is not this key's
 *   NE_ECHECKSUM  truncated or tampered: a chunk did not authenticate, or
 *                 the size does not end on a chunk
 *   I/O codes     reading in_path or writing out_path
 * why (may be NULL; NE_CRYPT_WHY_MAX is enough) gets a one-line reason on
 * failure, e.g. "wrong key (file key id 0123456789abcdef, given key's
 * id fedcba9876543210)" or "truncated or tampered at chunk 3 of 8". */
int ne_crypt_decrypt_file(const uint8_t key[NE_CRYPT_KEY_SIZE], const char *in_path,
                          const char *out_path, char *why, size_t nwhy);

/* ---- streaming writer (push) --------------------------------------------------
 * Seals a plaintext handed over in pieces of any size and passes the sealed
 * bytes to a sink as they are produced (the header first, then one call per
 * chunk). Holds one chunk of plaintext and one of ciphertext. The sink has
 * the signature of ne_pq_write_fn, so a Parquet writer can stream into an
 * encrypting writer that streams into a file or an upload. */

/* Receives len sealed bytes; returns 0 or an NE_E* code, which stops the
 * writer (it is then failed: later calls return NE_EFAILED). */
typedef int (*ne_crypt_sink_fn)(void *ctx, const void *buf, size_t len);

struct ne_crypt_writer; /* opaque; owned by the caller of ne_crypt_writer_open */

/* Creates a writer with chunks of `chunk` bytes (0: NE_CRYPT_CHUNK_DEFAULT;
 * else 1 .. NE_CRYPT_CHUNK_MAX) and a fresh random nonce prefix. The key is
 * copied. Writes nothing yet. NE_EINVAL, NE_ENOMEM, NE_EIO (no randomness). */
int ne_crypt_writer_open(const uint8_t key[NE_CRYPT_KEY_SIZE], uint32_t chunk,
                         ne_crypt_sink_fn sink, void *ctx, struct ne_crypt_writer **out);

/* Adds len plaintext bytes (len may be 0). Full chunks are sealed and
 * sunk once it is known they are not the last. */
int ne_crypt_writer_write(struct ne_crypt_writer *w, const void *buf, size_t len);

/* Seals the last chunk and sinks it. After this only close is allowed.
 * *sealed (may be NULL) gets the total bytes sunk. */
int ne_crypt_writer_finish(struct ne_crypt_writer *w, uint64_t *sealed);

/* Releases *wp (wiping its key) and sets it to NULL. NULL-safe. Without a
 * finish the sunk bytes are not a valid envelope. */
void ne_crypt_writer_close(struct ne_crypt_writer **wp);

/* ---- positional sealer (pull) -------------------------------------------------
 * Presents the sealed form of a plaintext of known size as a positional
 * reader: ne_crypt_sealer_read has the signature of ne_s3_reader.read, so
 * an upload reads sealed bytes straight from a plaintext file:
 *
 *     struct ne_s3_reader r = {ne_crypt_sealer_read, sealer,
 *                              ne_crypt_sealer_size(sealer)};
 *
 * The same offset always gives the same bytes as long as the nonce prefix
 * stays the same: to resume an interrupted upload after a restart, persist
 * ne_crypt_sealer_prefix() with the upload state and pass it back. Holds
 * one sealed chunk (the last one read); sequential reads seal every chunk
 * once. */

/* Reads len plaintext bytes at off into buf; *nread gets the count, short
 * only at the end. Returns 0 or an NE_E* code. */
typedef int (*ne_crypt_read_fn)(void *ctx, uint64_t off, void *buf, size_t len, size_t *nread);

struct ne_crypt_sealer; /* opaque; owned by the caller of ne_crypt_sealer_open */

/* Creates a sealer over plain_size bytes readable through read/ctx
 * (borrowed until close). chunk as for the writer. prefix (may be NULL:
 * drawn at random) is the nonce prefix to use. The key is copied.
 * NE_EINVAL, NE_ETOOBIG (more than 2^32 chunks), NE_ENOMEM, NE_EIO. */
int ne_crypt_sealer_open(const uint8_t key[NE_CRYPT_KEY_SIZE], uint32_t chunk,
                         const uint8_t prefix[NE_CRYPT_PREFIX_SIZE], ne_crypt_read_fn read,
                         void *ctx, uint64_t plain_size, struct ne_crypt_sealer **out);

/* The sealed size (ne_crypt_sealed_size of the plaintext size). */
uint64_t ne_crypt_sealer_size(const struct ne_crypt_sealer *s);

/* The nonce prefix in use (8 bytes, borrowed; valid until close). */
const uint8_t *ne_crypt_sealer_prefix(const struct ne_crypt_sealer *s);

/* Fills buf with up to len sealed bytes from offset off; *nread gets the
 * count (short only at the end, 0 at or past it). sealer is a struct
 * ne_crypt_sealer *. Returns 0, the plaintext reader's error, or NE_EIO
 * when the plaintext ends before plain_size. */
int ne_crypt_sealer_read(void *sealer, uint64_t off, void *buf, size_t len, size_t *nread);

/* Releases *sp (wiping its key) and sets it to NULL. NULL-safe. */
void ne_crypt_sealer_close(struct ne_crypt_sealer **sp);

#endif
