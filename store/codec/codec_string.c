/*
 * codec_string.c - string column codecs. Strings are arbitrary bytes
 * (empty, non-UTF-8, embedded NULs all fine), at most 2^32-1 bytes each.
 * Decoded values are views into the section: nothing is copied.
 *
 *   s-plain: n x (uvarint len | len bytes)
 *   s-dict:  uvarint d (1 <= d <= n, or 0 when n == 0) |
 *            d x (uvarint len | len bytes)        distinct strings, in order
 *                                                 of first appearance
 *            | u8 int codec id | int section of n ids (each < d)
 *
 * Mostly-constant columns ("ok", "ok", ..., "warn") become a dictionary of
 * a few entries and id runs that pack to width 0 per miniblock.
 */
#include "store/codec/codec_internal.h"

#include "ports/platform.h"

static size_t plain_cost(const struct ne_sv *v, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ne_uvarint_len(v[i].n) + v[i].n;
    return c;
}

static int plain_encode(const void *vals, size_t n, uint8_t vtype, struct ne_buf *out,
                        uint8_t *param)
{
    const struct ne_sv *v = vals;
    size_t start = out->len;
    int rc = ne_buf_reserve(out, plain_cost(v, n));
    for (size_t i = 0; rc == 0 && i < n; i++) {
        rc = ne_buf_put_uvarint(out, v[i].n);
        if (rc == 0) rc = ne_buf_append(out, v[i].p, v[i].n);
    }
    *param = 0;
    if (rc) out->len = start;
    return rc;
}

static int read_sv(struct ne_rd *r, struct ne_sv *sv)
{
    uint64_t len;
    const uint8_t *b;
    int rc = ne_rd_uvarint(r, &len);
    if (rc) return rc;
    if (len > UINT32_MAX || (rc = ne_rd_bytes(r, (size_t)len, &b)) != 0) return NE_ECORRUPT;
    sv->p = (const char *)b;
    sv->n = (uint32_t)len;
    return 0;
}

static int plain_decode(const uint8_t *p, size_t len, size_t n, void *outv)
{
    struct ne_sv *out = outv;
    struct ne_rd r;
    int rc;
    ne_rd_init(&r, p, len);
    for (size_t i = 0; i < n; i++)
        if ((rc = read_sv(&r, &out[i])) != 0) return rc;
    return ne_rd_left(&r) ? NE_ECORRUPT : 0;
}

/* ---- dictionary ----------------------------------------------------------------- */

static uint64_t sv_hash(struct ne_sv s)
{
    uint64_t h = 1469598103934665603ULL ^ s.n;
    for (uint32_t i = 0; i < s.n; i++)
        h = (h ^ (uint8_t)s.p[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

/* Short strings (status words) are compared inline, not with a call. */
static inline bool sv_same(struct ne_sv a, struct ne_sv b)
{
    if (a.n != b.n) return false;
    if (a.n > 8) return memcmp(a.p, b.p, a.n) == 0;
    for (uint32_t i = 0; i < a.n; i++)
        if (a.p[i] != b.p[i]) return false;
    return true;
}

/* Assigns ids (order of first appearance) to v[0..n); ids[i] gets the id of
 * v[i], first[k] the index of the first value with id k. *nd = distinct. */
static int build_dict(const struct ne_sv *v, size_t n, uint64_t *ids, uint32_t *first, size_t *nd)
{
    size_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    uint32_t *slot = ne_malloc(cap * sizeof *slot); /* id + 1, 0 = empty */
    if (!slot) return NE_ENOMEM;
    memset(slot, 0, cap * sizeof *slot);
    size_t d = 0;
    for (size_t i = 0; i < n; i++) {
        if (i && sv_same(v[i], v[i - 1])) { /* a run: no hashing */
            ids[i] = ids[i - 1];
            continue;
        }
        size_t h = (size_t)sv_hash(v[i]) & (cap - 1);
        while (slot[h] && !sv_same(v[first[slot[h] - 1]], v[i]))
            h = (h + 1) & (cap - 1);
        if (!slot[h]) {
            first[d] = (uint32_t)i;
            slot[h] = (uint32_t)++d;
        }
        ids[i] = slot[h] - 1;
    }
    ne_free(slot);
    *nd = d;
    return 0;
}

static int dict_put(const struct ne_sv *v, size_t n, const uint64_t *ids, const uint32_t *first,
                    size_t d, struct ne_buf *out)
{
    uint8_t id;
    int rc = ne_buf_put_uvarint(out, d);
    for (size_t k = 0; rc == 0 && k < d; k++) {
        struct ne_sv s = v[first[k]];
        rc = ne_buf_put_uvarint(out, s.n);
        if (rc == 0) rc = ne_buf_append(out, s.p, s.n);
    }
    if (rc == 0) rc = codec__int_encode_best(ids, n, NE_V_UINT, NE_CODEC_AUTO, out, &id);
    return rc;
}

/* Encodes s-dict unless the dictionary holds more than max_d entries
 * (NE_EUNSUPPORTED). */
static int dict_encode_max(const struct ne_sv *v, size_t n, size_t max_d, struct ne_buf *out)
{
    size_t start = out->len, d = 0;
    uint64_t *ids = ne_malloc((n ? n : 1) * sizeof *ids);
    uint32_t *first = ne_malloc((n ? n : 1) * sizeof *first);
    int rc = ids && first ? 0 : NE_ENOMEM;
    if (rc == 0) rc = build_dict(v, n, ids, first, &d);
    if (rc == 0 && d > max_d) rc = NE_EUNSUPPORTED;
    if (rc == 0) rc = dict_put(v, n, ids, first, d, out);
    ne_free(ids);
    ne_free(first);
    if (rc) out->len = start;
    return rc;
}

static int dict_encode(const void *vals, size_t n, uint8_t vtype, struct ne_buf *out,
                       uint8_t *param)
{
    *param = 0;
    return dict_encode_max(vals, n, n, out);
}

static int dict_decode(const uint8_t *p, size_t len, size_t n, void *outv)
{
    struct ne_sv *out = outv;
    struct ne_rd r;
    uint64_t d;
    int rc;
    ne_rd_init(&r, p, len);
    if ((rc = ne_rd_uvarint(&r, &d)) != 0) return rc;
    if (d > n || (n > 0 && d == 0) || d > ne_rd_left(&r)) return NE_ECORRUPT;
    struct ne_sv *dict = ne_malloc((d ? (size_t)d : 1) * sizeof *dict);
    if (!dict) return NE_ENOMEM;
    for (size_t k = 0; rc == 0 && k < d; k++)
        rc = read_sv(&r, &dict[k]);
    /* ids go to the first 8n bytes of out, then expand backwards in place:
     * out[i] (16 bytes at 16i) only overwrites ids at >= i. */
    uint64_t *ids = outv;
    if (rc == 0) rc = codec__int_decode_any(r.p, ne_rd_left(&r), n, ids);
    for (size_t i = n; rc == 0 && i-- > 0;) {
        uint64_t k = ids[i];
        if (k >= d) {
            rc = NE_ECORRUPT;
            break;
        }
        out[i] = dict[k];
    }
    ne_free(dict);
    return rc;
}

const struct codec__ops codec__s_plain = {.id = NE_CODEC_S_PLAIN,
                                          .name = "s-plain",
                                          .vtype = NE_V_STRING,
                                          .encode = plain_encode,
                                          .decode = plain_decode};
const struct codec__ops codec__s_dict = {.id = NE_CODEC_S_DICT,
                                         .name = "s-dict",
                                         .vtype = NE_V_STRING,
                                         .encode = dict_encode,
                                         .decode = dict_decode};

/* Dictionary when it is smaller than plain (tried only while the number of
 * distinct values stays at most half of n, unless exhaustive). Appends
 * the chosen section; *id gets the codec. */
int codec__str_encode_best(const struct ne_sv *v, size_t n, bool exhaustive, struct ne_buf *out,
                           uint8_t *id)
{
    size_t start = out->len;
    size_t pc = plain_cost(v, n);
    uint8_t param;
    int rc = dict_encode_max(v, n, exhaustive ? n : n / 2 + 1, out);
    if (rc == 0 && out->len - start < pc) {
        *id = NE_CODEC_S_DICT;
        return 0;
    }
    if (rc != 0 && rc != NE_EUNSUPPORTED) return rc;
    out->len = start;
    *id = NE_CODEC_S_PLAIN;
    return plain_encode(v, n, NE_V_STRING, out, &param);
}
