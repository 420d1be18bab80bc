/*
 * block.c - the column block: header, codec choice, zstd, checksum.
 *
 * A block holds n values of one column with their timestamps. Layout
 * (little-endian; varints as in buf.h):
 *
 *   +------+------+-------+-------+---------------+------------------+------+--------+
 *   | 0xBC | ver  | vtype | flags | uvarint count | [uvarint rawlen] | body | crc32c |
 *   | u8   | u8=1 | u8    | u8    |               |  if flags & ZSTD |      | u32le  |
 *   +------+------+-------+-------+---------------+------------------+------+--------+
 *
 *   flags bit 0 (ZSTD): body is one zstd frame that inflates to rawlen bytes.
 *   Other flag bits are 0. crc32c (Castagnoli) covers every byte before it.
 *
 *   body (after inflation):
 *   +-----------------+-----------------------------------+---------------------------+
 *   | uvarint ts_len  | timestamps: u8 int codec | section | values: u8 codec | section |
 *   +-----------------+-----------------------------------+---------------------------+
 *                      \________ ts_len bytes ___________/ \______ rest of body ______/
 *
 * Codec ids are enum ne_codec_id; each section's layout is in the file of
 * its codec (codec_int.c, codec_float.c, codec_bool.c, codec_string.c).
 * An unknown version is NE_EVERSION; anything else that does not parse is
 * NE_ECORRUPT (NE_ECHECKSUM on a CRC mismatch): never a guess.
 *
 * Invariants: the encoder restores out->len on any failure; the decoder
 * never reads outside [p, p + len) and writes at most count elements.
 */
#include <math.h>
#include <pthread.h>
#include <zstd.h>

#include "store/codec/codec_internal.h"

#include "ports/crc32c.h"
#include "ports/platform.h"

#define BLOCK_MAGIC   0xBC
#define BLOCK_VERSION 1
#define FLAG_ZSTD     0x01
#define BLOCK_MIN_LEN 9 /* 4 fixed + 1 count + 4 crc */
/* A decoder bound on inflated bodies (a sanity limit, not a format one). */
#define RAW_BODY_MAX ((uint64_t)1 << 31)

/* Above this many bytes per value the decimal float codec is beaten by XOR
 * often enough to try both. */
#define DEC_GOOD_BYTES_PER_VALUE 2

static const struct codec__ops *const all_codecs[] = {
    &codec__int_raw,  &codec__int_for, &codec__int_delta, &codec__int_dod,
    &codec__int_delta_gcd, &codec__f_raw, &codec__f_decimal, &codec__f_xor,
    &codec__b_bitmap, &codec__b_rle,   &codec__s_plain,   &codec__s_dict,
};

const struct codec__ops *codec__find(int id)
{
    for (size_t i = 0; i < sizeof all_codecs / sizeof all_codecs[0]; i++)
        if (all_codecs[i]->id == id) return all_codecs[i];
    return NULL;
}

const char *ne_codec_name(int id)
{
    const struct codec__ops *ops = codec__find(id);
    return ops ? ops->name : "unknown";
}

void ne_codec_opts_default(struct ne_codec_opts *o)
{
    memset(o, 0, sizeof *o);
    o->zstd_level = 1;
    o->zstd_min = 256;
}

/* The codec family a value type uses (ints and uints share the int one). */
static uint8_t family(uint8_t vtype)
{
    return vtype == NE_V_UINT ? NE_V_INT : vtype;
}

static bool type_ok(int t)
{
    return t >= NE_V_FLOAT && t <= NE_V_STRING;
}

/* ---- per-thread state: zstd contexts, recent timestamp parts ---------------- */

/* Timestamp parts this thread encoded last: the columns of one series
 * mostly share their timestamps (one line carries all of a point's
 * fields), and a flush or merge writes a series' columns one after the
 * other, each as a run of blocks, so the blocks of the next column mostly
 * repeat the parts of the previous one's. MEMO_SLOTS parts are kept,
 * replaced in turn, each for at most MEMO_MAX_VALUES timestamps (a
 * segment's default block size: 32 KiB a slot). */
#define MEMO_SLOTS      16
#define MEMO_MAX_VALUES 4096

struct ts_memo {
    int64_t *ts; /* a copy of the timestamps */
    size_t n, cap;
    int force;
    struct ne_buf part; /* uvarint ts_len + timestamp part */
};

struct zctx {
    ZSTD_CCtx *c;
    ZSTD_DCtx *d;
    struct ts_memo memo[MEMO_SLOTS];
    unsigned memo_next; /* the slot replaced next */
};

static pthread_key_t zkey;
static pthread_once_t zonce = PTHREAD_ONCE_INIT;
static int zkey_err;

static void zctx_free(void *p)
{
    struct zctx *z = p;
    ZSTD_freeCCtx(z->c);
    ZSTD_freeDCtx(z->d);
    for (size_t i = 0; i < MEMO_SLOTS; i++) {
        ne_free(z->memo[i].ts);
        ne_buf_free(&z->memo[i].part);
    }
    ne_free(z);
}

static void zkey_make(void)
{
    zkey_err = pthread_key_create(&zkey, zctx_free);
}

static struct zctx *zctx_get(void)
{
    pthread_once(&zonce, zkey_make);
    if (zkey_err) return NULL;
    struct zctx *z = pthread_getspecific(zkey);
    if (z) return z;
    z = ne_calloc(1, sizeof *z);
    if (!z) return NULL;
    if (pthread_setspecific(zkey, z) != 0) {
        ne_free(z);
        return NULL;
    }
    return z;
}

static ZSTD_CCtx *cctx_get(void)
{
    struct zctx *z = zctx_get();
    if (z && !z->c) z->c = ZSTD_createCCtx();
    return z ? z->c : NULL;
}

static ZSTD_DCtx *dctx_get(void)
{
    struct zctx *z = zctx_get();
    if (z && !z->d) z->d = ZSTD_createDCtx();
    return z ? z->d : NULL;
}

/* ---- encoding ---------------------------------------------------------------- */

/* Appends u8 id + section for a forced codec; NE_EUNSUPPORTED when it is not
 * valid for the type or cannot represent the values. */
static int encode_forced(int id, uint8_t vtype, const void *vals, size_t n, struct ne_buf *out,
                         uint8_t *got)
{
    const struct codec__ops *ops = codec__find(id);
    uint8_t param;
    size_t start = out->len;
    if (!ops || ops->vtype != family(vtype)) return NE_EUNSUPPORTED;
    int rc = ne_buf_put_u8(out, ops->id);
    if (rc == 0) rc = ops->encode(vals, n, vtype, out, &param);
    if (rc) {
        out->len = start;
        return rc;
    }
    *got = ops->id;
    return 0;
}

/* Appends id + section with ops; returns the size in *sz. */
static int try_codec(const struct codec__ops *ops, const void *vals, size_t n, uint8_t vtype,
                     struct ne_buf *out, size_t *sz)
{
    size_t start = out->len;
    uint8_t param;
    int rc = ne_buf_put_u8(out, ops->id);
    if (rc == 0) rc = ops->encode(vals, n, vtype, out, &param);
    if (rc) {
        out->len = start;
        return rc;
    }
    *sz = out->len - start;
    return 0;
}

/* XOR is tried on its first XOR_SAMPLE values when a block has more than
 * twice that many; decimal is kept without the full XOR encoding when the
 * sample's size, scaled to the block, is above decimal's by more than
 * 1/XOR_MARGIN. Random-digit data (many decimals, wide deltas) then pays
 * for one codec and a sample instead of two codecs. */
#define XOR_SAMPLE 64
#define XOR_MARGIN 8

/* True when XOR, judged on a sample (sized, not written), will clearly not
 * beat dsz bytes of decimal for v[0..n). */
static bool xor_clearly_worse(const double *v, size_t n, size_t dsz)
{
    if (n <= 2 * XOR_SAMPLE) return false;
    size_t est = (1 + codec__xor_size(v, XOR_SAMPLE)) * (n / XOR_SAMPLE);
    return est > dsz + dsz / XOR_MARGIN;
}

/* Float: decimal when it applies and is clearly good (or XOR's sample is
 * clearly worse), else the smallest of decimal, XOR and raw. */
static int float_encode_best(const double *v, size_t n, bool exhaustive, struct ne_buf *out,
                             uint8_t *id)
{
    size_t start = out->len, dsz = 0, xsz = 0;
    int rc = try_codec(&codec__f_decimal, v, n, NE_V_FLOAT, out, &dsz);
    if (rc && rc != NE_EUNSUPPORTED) return rc;
    bool have_dec = rc == 0;
    if (have_dec && !exhaustive &&
        (dsz <= 1 + DEC_GOOD_BYTES_PER_VALUE * n || xor_clearly_worse(v, n, dsz))) {
        *id = NE_CODEC_F_DECIMAL;
        return 0;
    }
    /* XOR is sized without being written; it is encoded only if chosen */
    xsz = 1 + codec__xor_size(v, n);
    if (have_dec && dsz <= xsz && dsz <= 1 + 8 * n) {
        *id = NE_CODEC_F_DECIMAL;
        return 0;
    }
    out->len = start;
    if (xsz <= 1 + 8 * n) {
        *id = NE_CODEC_F_XOR;
        return try_codec(&codec__f_xor, v, n, NE_V_FLOAT, out, &xsz);
    }
    *id = NE_CODEC_F_RAW;
    return try_codec(&codec__f_raw, v, n, NE_V_FLOAT, out, &xsz);
}

static int encode_values(uint8_t t, const void *vals, size_t n, const struct ne_codec_opts *o,
                         struct ne_buf *out, uint8_t *id)
{
    size_t sz, start = out->len;
    int rc;
    if (o->force_val) {
        rc = encode_forced(o->force_val, t, vals, n, out, id);
        if (rc != NE_EUNSUPPORTED) return rc;
    }
    switch (t) {
    case NE_V_FLOAT:
        return float_encode_best(vals, n, o->exhaustive, out, id);
    case NE_V_INT:
    case NE_V_UINT:
        return codec__int_encode_best(vals, n, t, NE_CODEC_AUTO, out, id);
    case NE_V_BOOL: {
        const struct codec__ops *ops = codec__bool_pick(vals, n);
        *id = ops->id;
        return try_codec(ops, vals, n, t, out, &sz);
    }
    case NE_V_STRING:
        if ((rc = ne_buf_put_u8(out, 0)) != 0) return rc;
        if ((rc = codec__str_encode_best(vals, n, o->exhaustive, out, id)) != 0) {
            out->len = start;
            return rc;
        }
        out->p[start] = *id;
        return 0;
    }
    return NE_EINVAL;
}

/* Appends uvarint ts_len + timestamp part: the part is encoded first, then
 * shifted right to make room for its length. */
static int encode_ts_part(const int64_t *ts, size_t n, const struct ne_codec_opts *o,
                          struct ne_buf *out)
{
    size_t at = out->len;
    uint8_t id;
    int rc = codec__ts_encode_best(ts, n, o->force_ts, out, &id);
    if (rc) return rc;
    size_t plen = out->len - at;
    uint8_t hdr[10];
    size_t hl = 0;
    for (uint64_t x = plen;; x >>= 7) {
        hdr[hl++] = (uint8_t)(x >= 0x80 ? (x & 0x7f) | 0x80 : x);
        if (x < 0x80) break;
    }
    if (!ne_buf_grow(out, hl)) {
        out->len = at;
        return NE_ENOMEM;
    }
    memmove(out->p + at + hl, out->p + at, plen);
    memcpy(out->p + at, hdr, hl);
    return 0;
}

/* Keeps ts[0..n) and the part written at out[at..) as this thread's memo;
 * a failure only leaves the memo empty. */
static void memo_keep(struct ts_memo *m, const int64_t *ts, size_t n, int force,
                      const struct ne_buf *out, size_t at)
{
    m->n = 0;
    if (n > m->cap) {
        int64_t *t = ne_realloc(m->ts, n * sizeof *t);
        if (!t) return;
        m->ts = t;
        m->cap = n;
    }
    ne_buf_reset(&m->part);
    if (ne_buf_append(&m->part, out->p + at, out->len - at) != 0) return;
    memcpy(m->ts, ts, n * sizeof *ts);
    m->n = n;
    m->force = force;
}

/* The memo slot holding the part of ts[0..n) under force, or NULL. */
static const struct ts_memo *memo_find(const struct zctx *z, const int64_t *ts, size_t n,
                                       int force)
{
    for (size_t i = 0; i < MEMO_SLOTS; i++) {
        const struct ts_memo *m = &z->memo[i];
        if (m->n == n && m->force == force && m->ts[0] == ts[0] && m->ts[n - 1] == ts[n - 1] &&
            memcmp(m->ts, ts, n * sizeof *ts) == 0)
            return m;
    }
    return NULL;
}

/* encode_ts_part, or the bytes it wrote for the same timestamps on this
 * thread lately (the part depends only on the timestamps and force_ts). */
static int encode_ts(const int64_t *ts, size_t n, const struct ne_codec_opts *o, struct ne_buf *out)
{
    struct zctx *z = n && n <= MEMO_MAX_VALUES ? zctx_get() : NULL;
    const struct ts_memo *hit = z ? memo_find(z, ts, n, o->force_ts) : NULL;
    if (hit) return ne_buf_append(out, hit->part.p, hit->part.len);
    size_t at = out->len;
    int rc = encode_ts_part(ts, n, o, out);
    if (rc == 0 && z) {
        memo_keep(&z->memo[z->memo_next], ts, n, o->force_ts, out, at);
        z->memo_next = (z->memo_next + 1) % MEMO_SLOTS;
    }
    return rc;
}

/* zstd is not tried on a body whose bytes look random: a collision
 * entropy (Renyi order 2, log2(n^2 / sum of squared byte counts): one
 * log2, unlike Shannon's one per byte value) within ZSTD_SKIP_MARGIN bits
 * of what n random bytes show (the expected sum is n + n(n-1)/256), as
 * packed wide deltas of noisy values (many-digit readings) have. There
 * zstd kept no block of S1 or I1 (bench_codec) yet cost more than the
 * column codecs. Bodies under ENTROPY_MIN bytes are always tried: a
 * histogram of so few bytes says little. */
#define ZSTD_SKIP_MARGIN 0.5
#define ENTROPY_MIN      256
/* Bodies of SAMPLE_FROM bytes or more are judged on every SAMPLE_STEP-th
 * byte: a histogram of 340 bytes or more still tells random bytes from
 * structured ones, and the step is odd so that a 2-, 4- or 8-byte period
 * in the data cannot line up with it. */
#define SAMPLE_FROM 1024
#define SAMPLE_STEP 3

static bool looks_random(const uint8_t *p, size_t len)
{
    if (len < ENTROPY_MIN) return false;
    size_t step = len >= SAMPLE_FROM ? SAMPLE_STEP : 1, n = 0;
    uint32_t h[256] = {0};
    for (size_t i = 0; i < len; i += step, n++)
        h[p[i]]++;
    uint64_t sq = 0;
    for (size_t k = 0; k < 256; k++)
        sq += (uint64_t)h[k] * h[k];
    double dn = (double)n, random_sq = dn + dn * (dn - 1) / 256;
    /* H2 > H2(random) - margin  <=>  random_sq / sq > 2^-margin */
    return random_sq > (double)sq * exp2(-ZSTD_SKIP_MARGIN);
}

/* Replaces the body at [body_at, len) by its zstd frame when smaller. */
static int maybe_zstd(struct ne_buf *out, size_t hdr_at, size_t body_at, int level, bool always)
{
    size_t raw = out->len - body_at;
    if (!always && looks_random(out->p + body_at, raw)) return 0;
    size_t bound = ZSTD_compressBound(raw);
    ZSTD_CCtx *cc = cctx_get();
    if (!cc) return NE_ENOMEM;
    uint8_t *tmp = ne_malloc(bound);
    if (!tmp) return NE_ENOMEM;
    size_t zn = ZSTD_compressCCtx(cc, tmp, bound, out->p + body_at, raw, level);
    if (!ZSTD_isError(zn) && zn + ne_uvarint_len(raw) < raw) {
        out->len = body_at;
        int rc = ne_buf_put_uvarint(out, raw);
        rc = rc ? rc : ne_buf_append(out, tmp, zn); /* fits: shorter than before */
        out->p[hdr_at + 3] |= FLAG_ZSTD;
        ne_free(tmp);
        return rc;
    }
    ne_free(tmp);
    return 0;
}

int ne_codec_encode_block(enum ne_vtype t, const int64_t *ts, const void *vals, size_t n,
                          const struct ne_codec_opts *opts, struct ne_buf *out,
                          struct ne_block_stats *st)
{
    struct ne_codec_opts defaults;
    if (!opts) {
        ne_codec_opts_default(&defaults);
        opts = &defaults;
    }
    if (!type_ok(t) || n > NE_CODEC_MAX_VALUES || (n && (!ts || !vals)) || !out) return NE_EINVAL;
    size_t start = out->len;
    uint8_t vid;
    uint8_t hdr[4] = {BLOCK_MAGIC, BLOCK_VERSION, (uint8_t)t, 0};
    int rc = ne_buf_append(out, hdr, 4);
    rc = rc ? rc : ne_buf_put_uvarint(out, n);
    size_t body_at = out->len;
    rc = rc ? rc : encode_ts(ts, n, opts, out);
    rc = rc ? rc : encode_values((uint8_t)t, vals, n, opts, out, &vid);
    if (rc == 0 && opts->zstd_level > 0 && out->len - body_at >= opts->zstd_min)
        rc = maybe_zstd(out, start, body_at, opts->zstd_level, opts->exhaustive);
    if (rc == 0) rc = ne_buf_put_u32le(out, ne_crc32c(0, out->p + start, out->len - start));
    if (rc == 0 && st) rc = ne_block_stats_compute(t, ts, vals, n, st);
    if (rc) out->len = start;
    return rc;
}

/* ---- decoding ---------------------------------------------------------------- */

struct parsed {
    uint8_t type, flags;
    uint32_t count;
    const uint8_t *body; /* inflated body */
    size_t body_len;
};

static int parse_header(const uint8_t *p, size_t len, struct ne_rd *r, uint8_t *type,
                        uint8_t *flags, uint32_t *count)
{
    uint64_t n;
    if (!p || len < BLOCK_MIN_LEN || p[0] != BLOCK_MAGIC) return NE_ECORRUPT;
    if (p[1] != BLOCK_VERSION) return NE_EVERSION;
    if (!type_ok(p[2]) || (p[3] & ~FLAG_ZSTD)) return NE_ECORRUPT;
    ne_rd_init(r, p + 4, len - 8);
    if (ne_rd_uvarint(r, &n) != 0 || n > NE_CODEC_MAX_VALUES) return NE_ECORRUPT;
    *type = p[2];
    *flags = p[3];
    *count = (uint32_t)n;
    return 0;
}

static int inflate_body(struct ne_rd *r, uint32_t count, struct ne_buf *scratch, struct parsed *out)
{
    uint64_t raw;
    if (ne_rd_uvarint(r, &raw) != 0 || raw > RAW_BODY_MAX) return NE_ECORRUPT;
    unsigned long long fcs = ZSTD_getFrameContentSize(r->p, ne_rd_left(r));
    if (fcs != raw) return NE_ECORRUPT; /* also rejects unknown/error sizes */
    if (!scratch) return NE_EINVAL;
    ZSTD_DCtx *dc = dctx_get();
    if (!dc) return NE_ENOMEM;
    ne_buf_reset(scratch);
    if (ne_buf_reserve(scratch, raw ? (size_t)raw : 1) != 0) return NE_ENOMEM;
    size_t got = ZSTD_decompressDCtx(dc, scratch->p, (size_t)raw, r->p, ne_rd_left(r));
    if (ZSTD_isError(got) || got != raw) return NE_ECORRUPT;
    scratch->len = (size_t)raw;
    out->body = scratch->p;
    out->body_len = (size_t)raw;
    return 0;
}

/* Checks header and CRC, inflates the body if needed. */
static int open_block(const uint8_t *p, size_t len, struct ne_buf *scratch, struct parsed *out)
{
    struct ne_rd r;
    int rc = parse_header(p, len, &r, &out->type, &out->flags, &out->count);
    if (rc) return rc;
    if (ne_crc32c(0, p, len - 4) != ne_load_u32le(p + len - 4)) return NE_ECHECKSUM;
    if (out->flags & FLAG_ZSTD) return inflate_body(&r, out->count, scratch, out);
    out->body = r.p;
    out->body_len = ne_rd_left(&r);
    return 0;
}

/* Splits the body into the timestamp part and the value part. */
static int split_body(const struct parsed *b, const uint8_t **tsp, size_t *tsl, const uint8_t **vp,
                      size_t *vl)
{
    struct ne_rd r;
    uint64_t tl;
    ne_rd_init(&r, b->body, b->body_len);
    if (ne_rd_uvarint(&r, &tl) != 0 || tl > ne_rd_left(&r)) return NE_ECORRUPT;
    *tsp = r.p;
    *tsl = (size_t)tl;
    *vp = r.p + tl;
    *vl = ne_rd_left(&r) - (size_t)tl;
    if (*vl < 1) return NE_ECORRUPT;
    return 0;
}

static int decode_values(uint8_t type, const uint8_t *vp, size_t vl, size_t n, void *out)
{
    const struct codec__ops *ops = codec__find(vp[0]);
    if (!ops || ops->vtype != family(type)) return NE_ECORRUPT;
    return ops->decode(vp + 1, vl - 1, n, out);
}

static int decode_common(const uint8_t *p, size_t len, int want_type, int64_t *ts_out,
                         void *vals_out, size_t cap, struct ne_buf *scratch, size_t *n_out)
{
    struct parsed b;
    const uint8_t *tsp, *vp;
    size_t tsl, vl;
    int rc = open_block(p, len, scratch, &b);
    if (rc) return rc;
    if (want_type && b.type != want_type) return NE_ECONFLICT;
    if (b.count > cap) return NE_ETOOBIG;
    if ((rc = split_body(&b, &tsp, &tsl, &vp, &vl)) != 0) return rc;
    if (ts_out && (rc = codec__int_decode_any(tsp, tsl, b.count, (uint64_t *)ts_out)) != 0)
        return rc;
    if (vals_out && (rc = decode_values(b.type, vp, vl, b.count, vals_out)) != 0) return rc;
    *n_out = b.count;
    return 0;
}

int ne_codec_decode_block(const uint8_t *p, size_t len, enum ne_vtype t, int64_t *ts_out,
                          void *vals_out, size_t cap, struct ne_buf *scratch, size_t *n_out)
{
    if (!type_ok(t) || !n_out) return NE_EINVAL;
    return decode_common(p, len, t, ts_out, vals_out, cap, scratch, n_out);
}

int ne_codec_decode_ts(const uint8_t *p, size_t len, int64_t *ts_out, size_t cap,
                       struct ne_buf *scratch, size_t *n_out)
{
    if (!n_out) return NE_EINVAL;
    return decode_common(p, len, 0, ts_out, NULL, cap, scratch, n_out);
}

int ne_codec_block_peek(const uint8_t *p, size_t len, enum ne_vtype *type, uint32_t *count)
{
    struct ne_rd r;
    uint8_t t, flags;
    uint32_t n;
    int rc = parse_header(p, len, &r, &t, &flags, &n);
    if (rc) return rc;
    *type = (enum ne_vtype)t;
    *count = n;
    return 0;
}

int ne_codec_block_info(const uint8_t *p, size_t len, struct ne_block_info *out)
{
    struct ne_buf scratch = NE_BUF_INIT;
    struct parsed b;
    const uint8_t *tsp, *vp;
    size_t tsl, vl;
    int rc = open_block(p, len, &scratch, &b);
    if (rc == 0) rc = split_body(&b, &tsp, &tsl, &vp, &vl);
    if (rc == 0 && tsl < 1) rc = NE_ECORRUPT;
    if (rc == 0) {
        memset(out, 0, sizeof *out);
        out->type = b.type;
        out->count = b.count;
        out->zstd = (b.flags & FLAG_ZSTD) != 0;
        out->block_len = len;
        out->body_len = b.body_len;
        out->ts_len = tsl;
        out->val_len = vl;
        out->ts_codec = tsp[0];
        out->val_codec = vp[0];
        if (vp[0] == NE_CODEC_F_DECIMAL && vl >= 2) out->val_param = vp[1];
    }
    ne_buf_free(&scratch);
    return rc;
}
