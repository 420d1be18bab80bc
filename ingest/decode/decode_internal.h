/*
 * decode_internal.h - what the decoders of ingest/decode share.
 *
 * One struct decode_ctx lives for one ne_decode() call: the options with
 * their defaults resolved, the output batch, the report, and scratch space
 * reused across records (so nothing is allocated per point). JSON and CBOR
 * are first parsed into a flat preorder tree (struct dnode) kept in the
 * context, then the object and SenML mappers walk that tree.
 */
#ifndef NE_INGEST_DECODE_INTERNAL_H
#define NE_INGEST_DECODE_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "ingest/decode/decode.h"

/* ---- tree of a JSON or CBOR document ----------------------------------- */

enum dnode_kind {
    DN_NULL = 0,
    DN_FALSE,
    DN_TRUE,
    DN_NUM,   /* f (and i/is_int for integers); s = source text (JSON) */
    DN_STR,   /* s = decoded text */
    DN_BYTES, /* s = raw bytes (CBOR byte string) */
    DN_ARR,   /* n elements follow */
    DN_OBJ,   /* n (key, value) pairs follow, keys are DN_STR or DN_NUM */
};

struct dnode {
    uint8_t kind;
    uint8_t is_int; /* DN_NUM: i holds the exact integer */
    uint32_t n;     /* DN_ARR / DN_OBJ: element / pair count */
    uint32_t next;  /* index just past this subtree */
    struct ne_sv s;
    double f;
    int64_t i;
};

/* ---- the per-call context ----------------------------------------------- */

/* A line-protocol series seen in this payload (decode_line.c): the raw
 * series text of its first line and the point decoded from it. */
struct decode_series {
    uint64_t h;       /* hash of the text; 0: free slot */
    const char *text; /* view into the payload */
    uint32_t len;
    uint32_t pt; /* index of that point in the batch */
};

struct decode_ctx {
    const struct ne_decode_opts *o;
    struct ne_batch *b;
    struct ne_decode_report *rep;
    int64_t now_ns;
    int64_t precision_ns;
    struct ne_sv meas;     /* opts->measurement (may be empty) */
    struct ne_sv field;    /* opts->field or "value" */
    struct ne_sv time_key; /* opts->time_key (empty: time/timestamp) */
    struct ne_sv meas_key; /* opts->measurement_key or "measurement" */
    int nomem;             /* an allocation failed: stop */

    struct decode_series *sc; /* LINE series cache (open addressing), or NULL */
    uint32_t sc_mask, sc_used;
    struct ne_series_memo *memo; /* o->memo when LINE uses it, else NULL */

    /* Growable arrays start in the small buffers below, so a typical
     * single-record payload (one MQTT message) decodes without touching
     * the heap; they move to the heap only when they outgrow them. */
    char *scratch; /* unescape / concatenation space */
    uint32_t scratch_cap;

    struct dnode *nodes; /* the parsed document */
    uint32_t nnodes, cap_nodes;

    struct ne_tag *rtags; /* the record being mapped (objects) */
    uint32_t nrtags, cap_rtags;
    struct ne_field *rfields;
    uint32_t nrfields, cap_rfields;

    char scratch0[256];
    struct dnode nodes0[48];
    struct ne_tag rtags0[16];
    struct ne_field rfields0[16];
};

/* Records a bad record: counts it and keeps the first message ("record"
 * is the 1-based line or record number). Returns true when max_errors is
 * reached and decoding must stop. */
bool decode__bad(struct decode_ctx *c, uint32_t record, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Adds the option tags, ends the point being built and counts it.
 * Returns 0, NE_ENOMEM, or NE_EINVAL if the batch refused the point
 * (it has then been dropped). */
int decode__end_point(struct decode_ctx *c);
/* The same, for a point whose field keys are known to be all different. */
int decode__end_point_distinct(struct decode_ctx *c);

/* Copies n bytes into the batch arena; sets c->nomem and returns a view
 * with p == NULL on failure. */
struct ne_sv decode__copy(struct decode_ctx *c, const char *p, size_t n);

/* Makes room for need elements of elem bytes in *arr (capacity *cap),
 * doubling; an array still in its inline buffer `inline_buf` is copied to
 * the heap. Returns 0 or NE_ENOMEM (c->nomem set). */
int decode__grow(struct decode_ctx *c, void **arr, uint32_t *cap, size_t need, size_t elem,
                 const void *inline_buf);

/* Makes c->scratch at least n bytes. Returns 0 or NE_ENOMEM. */
int decode__scratch(struct decode_ctx *c, size_t n);

/* ---- series memo (decode_memo.c) ---------------------------------------- */

/* Before a payload: starts the memo over when it was full for the whole
 * last payload and found fewer than one in nine of its lookups, or when
 * it was filled with other extra tags than o's. */
void decode__memo_start(struct ne_series_memo *m, const struct ne_decode_opts *o);

/* Looks up series text p[0..n) with hash h (decode_line.c's) and counts
 * the lookup. On a hit sets the measurement and final tags (views into the
 * memo) and the series' hint (the memo's, for the point's ->hint) and
 * returns true. */
bool decode__memo_find(struct ne_series_memo *m, uint64_t h, const char *p, uint32_t n,
                       struct ne_sv *meas, const struct ne_tag **tags, uint32_t *ntags,
                       struct ne_series_hint **hint);

/* Remembers that series text p[0..n) (hash h) decoded to the complete
 * point pt of b: copies the text, measurement and tags and makes an empty
 * hint. Returns the text's hint (the memo's, living as long as its tags),
 * or NULL when the memo is full. */
struct ne_series_hint *decode__memo_put(struct ne_series_memo *m, uint64_t h, const char *p,
                                        uint32_t n, const struct ne_batch *b,
                                        const struct ne_point *pt);

/* ---- numbers (decode_num.c) ---------------------------------------------- */

/* Parses a decimal float p[0..n): [-+]?(digits[.digits*]|.digits)([eE][-+]?digits)?
 * The result equals strtod's. Returns 0, NE_EPARSE (syntax) or NE_ERANGE
 * (overflow to infinity). */
int decode__float(const char *p, size_t n, double *out);

/* Parses the longest number at p (same syntax as decode__float) and sets
 * *stop just past it. 0, NE_EPARSE (no digits, bad exponent), NE_ERANGE. */
int decode__float_prefix(const char *p, const char *end, double *out, const char **stop);

/* True if the 8 bytes at p are all ASCII digits. */
static inline bool decode__eight_digits(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return ((v & 0xF0F0F0F0F0F0F0F0ULL) |
            (((v + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) >> 4)) == 0x3333333333333333ULL;
}

/* The value of 8 ASCII digits at p (first digit most significant): pairs,
 * then quads, then the whole, combined inside one 64-bit word. */
static inline uint64_t decode__parse_eight(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    v -= 0x3030303030303030ULL;
    v = (v * 10 + (v >> 8)) & 0x00FF00FF00FF00FFULL;
    v = (v * 100 + (v >> 16)) & 0x0000FFFF0000FFFFULL;
    return (v * 10000 + (v >> 32)) & 0xFFFFFFFFULL;
}

/* The run of decimal digits at s (eight at a time where it can): returns
 * its end and sets *m to m * 10^digits + their value, wrapping modulo 2^64
 * (exact for up to 19 digits from *m = 0: callers count digits). Inline:
 * it runs for every number of every line. */
static inline const char *decode__digits(const char *s, const char *end, uint64_t *m)
{
    uint64_t v = *m;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    while (end - s >= 8 && decode__eight_digits(s)) {
        v = v * 100000000 + decode__parse_eight(s);
        s += 8;
    }
#endif
    while (s < end && (unsigned char)(*s - '0') < 10) {
        v = v * 10 + (uint64_t)(*s - '0');
        s++;
    }
    *m = v;
    return s;
}

/* 10^0 .. 10^22, the powers of ten a double holds exactly. */
extern const double decode__pow10_exact[23];

/* decode__float_prefix for a number at p whose integer digits [is, ie)
 * (after an optional sign at p) were already read into m by
 * decode__digits from 0. */
int decode__float_rest(const char *p, const char *is, const char *ie, uint64_t m, const char *end,
                       double *out, const char **stop);

/* Parses an optionally negative decimal integer. 0, NE_EPARSE or NE_ERANGE. */
int decode__int(const char *p, size_t n, int64_t *out);
/* Parses an unsigned decimal integer. 0, NE_EPARSE or NE_ERANGE. */
int decode__uint(const char *p, size_t n, uint64_t *out);

/* Parses an RFC 3339 date-time into ns since the epoch. 0 or NE_EPARSE. */
int decode__rfc3339(const char *p, size_t n, int64_t *out);

/* Converts seconds (a double) to ns with range checks. 0 or NE_ERANGE. */
int decode__seconds_to_ns(double s, int64_t *out);

/* Parses a decimal number of seconds (JSON number syntax, also with a
 * leading '+' or '.') exactly into ns, rounding at the 10th decimal.
 * 0, NE_EPARSE or NE_ERANGE. */
int decode__decimal_ns(const char *p, size_t n, int64_t *out);
/* Same for value * 10^shift (shift 0..9: a unit of ns, us, ms or s). */
int decode__decimal_pow10(const char *p, size_t n, int shift, int64_t *out);

/* Scales v (in units of unit_ns) to ns. 0 or NE_ERANGE. */
int decode__scale(int64_t v, int64_t unit_ns, int64_t *out);

/* Writes base64url (no padding) of p[0..n) into the batch arena. */
struct ne_sv decode__base64url(struct decode_ctx *c, const char *p, size_t n);

/* True if the text is a line-protocol boolean; *v gets its value. */
bool decode__bool_word(const char *p, size_t n, bool *v);

/* ---- formats ------------------------------------------------------------- */

int decode__line(struct decode_ctx *c, const char *buf, size_t len);
int decode__raw(struct decode_ctx *c, const char *buf, size_t len);

/* Parse a whole document into c->nodes. Return 0, NE_EPARSE (bad syntax;
 * reported as one bad record) or NE_ENOMEM. */
int decode__json_tree(struct decode_ctx *c, const char *buf, size_t len);
int decode__cbor_tree(struct decode_ctx *c, const char *buf, size_t len);

/* Map the parsed tree to points. Return 0 or NE_ENOMEM. */
int decode__objects(struct decode_ctx *c);
int decode__senml(struct decode_ctx *c);

/* Appends a node; returns its index or UINT32_MAX (c->nomem set). */
uint32_t decode__node(struct decode_ctx *c, enum dnode_kind kind);

#endif
