/*
 * point.h - the point model and the batch every ingest path produces.
 *
 * A point is a measurement, a tag set (sorted by key), an int64 nanosecond
 * timestamp and one or more typed fields. Series = measurement + tags;
 * column = series + field.
 *
 * A batch stores points in three flat arrays (points, tags, fields) so a
 * decoder appends without a per-point allocation. Strings are views
 * (pointer + length): they point either into the caller's input buffer
 * (zero-copy) or into the batch's arena (ne_batch_copy, for text that had
 * to be unescaped). A batch is therefore valid only while the input buffer
 * it was decoded from is alive, and until ne_batch_reset / ne_batch_free.
 * Points of one series may share one tag range (ne_batch_begin_same), so
 * readers take a point's tags through tag0/ntags and never assume that
 * the ranges of successive points follow each other.
 */
#ifndef NE_STORE_POINT_H
#define NE_STORE_POINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ne_vtype {
    NE_V_FLOAT = 1,
    NE_V_INT = 2,
    NE_V_UINT = 3,
    NE_V_BOOL = 4,
    NE_V_STRING = 5,
};

/* "float", "integer", "unsigned", "boolean", "string" (InfluxDB's names). */
const char *ne_vtype_name(enum ne_vtype t);

struct ne_sv {
    const char *p;
    uint32_t n;
};

#define NE_SV(lit) ((struct ne_sv){(lit), (uint32_t)(sizeof(lit) - 1)})
static inline struct ne_sv ne_sv_c(const char *s);
bool ne_sv_eq(struct ne_sv a, struct ne_sv b);
int ne_sv_cmp(struct ne_sv a, struct ne_sv b);

struct ne_tag {
    struct ne_sv key, val;
};

union ne_value {
    double f;
    int64_t i;
    uint64_t u;
    bool b;
    struct ne_sv s;
};

struct ne_field {
    struct ne_sv key;
    uint8_t type; /* enum ne_vtype */
    union ne_value v;
};

/* Timestamp meaning "not given": the writer fills in the arrival time. */
#define NE_TS_UNSET INT64_MIN

/* Where a writer may remember the series a tag set resolved to, so that a
 * later point with the same tag set skips the lookup by key. It is owned
 * by a decoder that keeps the series of earlier payloads (one place per
 * series text) and lives as long as the tag text it describes; the store
 * reads and writes it only while writing a batch that points to it, under
 * its lock. The store that filled it names itself in `index` (an id no
 * other series index of the process has had), so a place filled by
 * another store, or by one since closed, is never trusted; {0, NULL} is
 * empty. */
struct ne_series_hint {
    uint64_t index;
    void *series;
};

struct ne_point {
    struct ne_sv meas;
    uint32_t tag0, ntags;     /* b->tags[tag0 .. tag0+ntags), sorted by key */
    uint32_t field0, nfields; /* b->fields[field0 .. field0+nfields) */
    int64_t ts;               /* ns since the epoch, or NE_TS_UNSET */
    /* NULL, or the hint of this point's final tag set (set by the decoder
     * after ne_batch_begin_tags, or when it remembers a series; copied by
     * ne_batch_begin_same) */
    struct ne_series_hint *hint;
};

struct ne_arena_chunk;

/* ne_batch.open: no point open, one with its own tags, one whose tags are
 * an earlier point's (ne_batch_begin_same), one whose final tags were
 * given whole (ne_batch_begin_tags). */
enum {
    NE_BATCH_CLOSED = 0,
    NE_BATCH_OPEN_OWN = 1,
    NE_BATCH_OPEN_SAME = 2,
    NE_BATCH_OPEN_FINAL = 3,
};

struct ne_batch {
    struct ne_point *pts;
    uint32_t npts, cap_pts;
    struct ne_tag *tags;
    uint32_t ntags, cap_tags;
    struct ne_field *fields;
    uint32_t nfields, cap_fields;
    struct ne_arena_chunk *arena; /* chunks for copied strings */
    int open;                     /* a point is being built (NE_BATCH_OPEN_*) */
    uint32_t nsame;               /* points begun with ne_batch_begin_same
                                     (aborted ones too): 0 means no two
                                     points share a tag range */
};

/* Initialises an empty batch (no allocation until the first append). */
void ne_batch_init(struct ne_batch *b);

/* Forgets all points, keeps the capacity (and the first arena chunk). */
void ne_batch_reset(struct ne_batch *b);

/* Frees everything the batch owns. The struct may be re-initialised. */
void ne_batch_free(struct ne_batch *b);

/* Makes room for pts more points holding tags tags and fields fields in
 * all, so that a decoder that can count them beforehand appends without
 * reallocating (appends past it still grow). Returns 0 or NE_ENOMEM (the
 * points already in the batch are kept). */
int ne_batch_reserve(struct ne_batch *b, uint32_t pts, uint32_t tags, uint32_t fields);

/* Starts a point. Returns 0 or NE_ENOMEM. */
int ne_batch_begin(struct ne_batch *b, struct ne_sv meas, int64_t ts);

/* Starts a point of the same series as the complete point b->pts[like]:
 * it shares that point's measurement view and its final (sorted,
 * deduplicated) tag range, so two points with the same tag0 and ntags
 * (> 0) and the same measurement view are of one series, and nothing is
 * copied or sorted again. No tag may be added to it (ne_batch_tag answers
 * NE_EINVAL). For decoders that recognise a series they already decoded.
 * Returns 0, NE_EINVAL (like is not a complete point) or NE_ENOMEM. */
int ne_batch_begin_same(struct ne_batch *b, uint32_t like, int64_t ts);

/* Starts a point whose final tag set is known: tags[0..ntags) sorted by
 * key, no key twice (as ne_batch_end leaves them). The tag views are
 * copied into the batch; the text they point to is the caller's and must
 * outlive the batch's use. No tag may be added and none is sorted again.
 * For decoders that keep the series of earlier payloads. Returns 0 or
 * NE_ENOMEM. */
int ne_batch_begin_tags(struct ne_batch *b, struct ne_sv meas, const struct ne_tag *tags,
                        uint32_t ntags, int64_t ts);

/* Adds a tag / a field to the point being built. Return 0 or NE_ENOMEM. */
int ne_batch_tag(struct ne_batch *b, struct ne_sv key, struct ne_sv val);
int ne_batch_field(struct ne_batch *b, struct ne_sv key, enum ne_vtype type, union ne_value v);
int ne_batch_field_f(struct ne_batch *b, struct ne_sv key, double v);

/* ne_batch_field without a call while the field array has room: decoders
 * add every value through it. */
static inline int ne_batch_field_fast(struct ne_batch *b, struct ne_sv key, enum ne_vtype type,
                                      union ne_value v)
{
    if (!b->open || b->nfields >= b->cap_fields) return ne_batch_field(b, key, type, v);
    struct ne_field *f = &b->fields[b->nfields++];
    f->key = key;
    f->type = (uint8_t)type;
    f->v = v;
    b->pts[b->npts].nfields++;
    return 0;
}

/* Sets the timestamp of the point being built (decoders that read it last). */
void ne_batch_set_ts(struct ne_batch *b, int64_t ts);

/* Finishes the point: sorts its tags by key, and keeps the last of
 * duplicate tag keys and of duplicate field keys (as InfluxDB does).
 * Returns 0, or NE_EINVAL (and drops the point) if it has no field or an
 * empty measurement. */
int ne_batch_end(struct ne_batch *b);

/* ne_batch_end for a caller that knows the point's field keys are all
 * different (e.g. each equal to the key at the same place in an earlier
 * complete point): the duplicate check is skipped. */
int ne_batch_end_distinct(struct ne_batch *b);

/* Drops the point being built (a decoder that hit an error in it). */
void ne_batch_abort(struct ne_batch *b);

/* Copies n bytes into the batch's arena; the view lives as long as the
 * batch. Returns a view with p == NULL on allocation failure. */
struct ne_sv ne_batch_copy(struct ne_batch *b, const char *p, size_t n);

/* Gives every point whose timestamp is NE_TS_UNSET the time now_ns. */
void ne_batch_fill_ts(struct ne_batch *b, int64_t now_ns);

/* Accessors. */
static inline const struct ne_tag *ne_point_tags(const struct ne_batch *b,
                                                 const struct ne_point *p)
{
    return b->tags + p->tag0;
}
static inline const struct ne_field *ne_point_fields(const struct ne_batch *b,
                                                     const struct ne_point *p)
{
    return b->fields + p->field0;
}

/* memcmp(a, b, n) == 0 without a call, for the short names of points
 * (keys, tag values, series texts): words, the last one overlapping, never
 * a byte past n. */
static inline bool ne_bytes_eq(const char *a, const char *b, size_t n);

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12, d 1..31):
 * the calendar arithmetic every RFC3339 parser of the project shares. */
int64_t ne_days_from_civil(int64_t y, int m, int d);

/* Number of field values in the batch (points x their fields). */
static inline uint64_t ne_batch_values(const struct ne_batch *b)
{
    return b->nfields;
}

#include <string.h>
static inline struct ne_sv ne_sv_c(const char *s)
{
    struct ne_sv v = {s, (uint32_t)strlen(s)};
    return v;
}

static inline bool ne_bytes_eq(const char *a, const char *b, size_t n)
{
    uint64_t x, y;
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            if (x != y) return false;
        }
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    if (n >= 4) {
        uint32_t u, v, s, t;
        memcpy(&u, a, 4);
        memcpy(&v, b, 4);
        memcpy(&s, a + n - 4, 4);
        memcpy(&t, b + n - 4, 4);
        return u == v && s == t;
    }
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i]) return false;
    return true;
}

#endif
