/*
 * codec_internal.h - what the codec files share inside store/codec/.
 *
 * Each codec is one static const struct codec__ops (id, name, encode,
 * decode). Encoders append a section to a buffer; decoders read exactly one
 * section [p, p + len) holding n values and must reject anything that does
 * not parse (NE_ECORRUPT), never reading outside it.
 */
#ifndef NE_STORE_CODEC_INTERNAL_H
#define NE_STORE_CODEC_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/codec/buf.h"
#include "store/codec/codec.h"

/* The hot decode loops are compiled for the baseline ISA and, on x86-64
 * with GCC or clang and glibc, also for AVX2 and AVX-512; the loader picks
 * the best the CPU has (ifunc), so one binary runs everywhere. Not under
 * the address or thread sanitizers: their instrumented ifunc resolvers
 * would run before the sanitizer's runtime is set up. */
#if defined(__x86_64__) && defined(__GNUC__) && defined(__GLIBC__) && \
    !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define CODEC__WIDE __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define CODEC__WIDE
#endif

/* Values per packed miniblock: each miniblock has its own bit width. */
#define CODEC__MINI 128

struct codec__ops {
    uint8_t id;
    const char *name;
    uint8_t vtype; /* enum ne_vtype of the values (timestamps: NE_V_INT) */
    /* Appends the section for n values of vtype. Returns 0, NE_ENOMEM, or
     * NE_EUNSUPPORTED when this codec cannot represent these values (out
     * is then restored). *param gets a codec detail for ne_block_info. */
    int (*encode)(const void *vals, size_t n, uint8_t vtype, struct ne_buf *out, uint8_t *param);
    /* Decodes exactly n values from the section into out (the type's
     * array). Strings are views into [p, p + len). 0 or NE_ECORRUPT. */
    int (*decode)(const uint8_t *p, size_t len, size_t n, void *out);
};

/* Length of the f-xor section of v[0..n) (without its codec id byte),
 * counted as the encoder lays out the bits but without writing them. */
size_t codec__xor_size(const double *v, size_t n);

/* Codec lookup by id; NULL when unknown. */
const struct codec__ops *codec__find(int id);

/* ---- bit packing (bitpack.c) ------------------------------------------- */

/* Packed stream of m unsigned values:
 *   uvarint ref | per miniblock of up to 128 values: u8 width w (0..64),
 *   then ceil(k * w / 8) bytes holding (v - ref) in w bits each, LSB first.
 * ref is the minimum of the values. */
size_t codec__pack_cost(const uint64_t *v, size_t m);
int codec__pack(const uint64_t *v, size_t m, struct ne_buf *out);
/* codec__pack when the caller sized the stream already: ref is its
 * minimum and hi[t] the largest value of miniblock t (t < ceil(m / 128)),
 * so no pass over v is needed to find the widths. Borrows v and hi. */
int codec__pack_known(const uint64_t *v, size_t m, uint64_t ref, const uint64_t *hi,
                      struct ne_buf *out);
/* Reads a packed stream of m values from r into out[0..m). */
int codec__unpack(struct ne_rd *r, size_t m, uint64_t *out);
/* One miniblock of k <= CODEC__MINI values (after the stream's uvarint ref,
 * read by the caller): *width gets its bit width; for width 0 (every value
 * equals ref) out is left untouched, else out[0..k) gets the values. Lets
 * decoders fuse their own pass with the unpacking while the miniblock is
 * hot. 0 or NE_ECORRUPT. */
int codec__unpack_next(struct ne_rd *r, size_t k, uint64_t ref, uint64_t *out, unsigned *width);

/* Bit reader, LSB first (XOR float codec; its encoder writes the bits
 * into room it reserves up front). */
struct codec__br {
    const uint8_t *p, *end;
    uint64_t acc;
    unsigned nacc;
};
void codec__br_init(struct codec__br *r, const uint8_t *p, size_t len);
/* Reads nbits (<= 64). 0 or NE_ECORRUPT when the bits run out. */
int codec__br_get(struct codec__br *r, unsigned nbits, uint64_t *v);

/* ---- integer streams (codec_int.c) ------------------------------------- */

/* Encodes n 64-bit integers (signed or unsigned per vtype) with the best
 * of raw/for/delta/dod (or with `force` if not NE_CODEC_AUTO): appends
 * u8 codec id + section (no length), and returns the id in *id. */
int codec__int_encode_best(const uint64_t *v, size_t n, uint8_t vtype, int force,
                           struct ne_buf *out, uint8_t *id);
/* codec__int_encode_best for timestamps: int-delta-gcd is a candidate
 * too. Values are left without it: the divisor search and the division
 * cost every stream whose deltas share a factor (decimal mantissas often
 * do) for a codec that pays off on periodic timestamps with gaps. */
int codec__ts_encode_best(const int64_t *ts, size_t n, int force, struct ne_buf *out, uint8_t *id);
/* Reads u8 id + section from r (the section runs to r->end), n values. */
int codec__int_decode_any(const uint8_t *p, size_t len, size_t n, uint64_t *out);

/* The smaller of b-bitmap and b-rle for these values (codec_bool.c). */
const struct codec__ops *codec__bool_pick(const bool *v, size_t n);

/* Appends the smaller string section, without codec id (codec_string.c). */
int codec__str_encode_best(const struct ne_sv *v, size_t n, bool exhaustive, struct ne_buf *out,
                           uint8_t *id);

extern const struct codec__ops codec__int_raw, codec__int_for, codec__int_delta, codec__int_dod,
    codec__int_delta_gcd;
extern const struct codec__ops codec__f_raw, codec__f_decimal, codec__f_xor;
extern const struct codec__ops codec__b_bitmap, codec__b_rle;
extern const struct codec__ops codec__s_plain, codec__s_dict;

#endif
