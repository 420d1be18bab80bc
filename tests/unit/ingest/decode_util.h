/*
 * decode_util.h - helpers shared by the decoder unit tests: decode a text
 * with given options, and look points, tags and fields up by name.
 */
#ifndef NE_TESTS_DECODE_UTIL_H
#define NE_TESTS_DECODE_UTIL_H

#include <string.h>

#include "ingest/decode/decode.h"
#include "ports/err.h"

static inline int sv_is(struct ne_sv s, const char *lit)
{
    return s.p && s.n == strlen(lit) && memcmp(s.p, lit, s.n) == 0;
}

/* Copies a view into a static buffer as a C string (for T_EQ_STR). */
static inline const char *sv_str(struct ne_sv s)
{
    static char buf[4][512];
    static int k;
    char *b = buf[k++ & 3];
    size_t n = s.n < 511 ? s.n : 511;
    if (s.p) memcpy(b, s.p, n);
    b[s.p ? n : 0] = '\0';
    return b;
}

static inline const struct ne_field *find_field(const struct ne_batch *b, uint32_t pt,
                                                const char *key)
{
    const struct ne_point *p = &b->pts[pt];
    const struct ne_field *f = ne_point_fields(b, p);
    for (uint32_t i = 0; i < p->nfields; i++)
        if (sv_is(f[i].key, key)) return &f[i];
    return NULL;
}

static inline const char *find_tag(const struct ne_batch *b, uint32_t pt, const char *key)
{
    const struct ne_point *p = &b->pts[pt];
    const struct ne_tag *t = ne_point_tags(b, p);
    for (uint32_t i = 0; i < p->ntags; i++)
        if (sv_is(t[i].key, key)) return sv_str(t[i].val);
    return NULL;
}

/* Decodes text (strlen) with format fmt and otherwise default options. */
static inline int dec_text(enum ne_payload fmt, const char *text, struct ne_batch *b,
                           struct ne_decode_report *rep)
{
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.format = fmt;
    o.now_ns = 1767225600000000000LL;
    return ne_decode(&o, text, strlen(text), b, rep);
}

#endif
