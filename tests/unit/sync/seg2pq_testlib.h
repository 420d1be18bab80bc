/*
 * seg2pq_testlib.h - the data set of the segment-to-Parquet tests, shared by
 * seg2pq_test.c (objects, keys, row counts, determinism, skip) and
 * seg2pq_gen.c (objects plus expectations for the DuckDB read-back).
 *
 * Two databases, three measurements, eight series with different tag sets,
 * every value type, fields missing from some points, a series present in
 * only some hours, three UTC hours of points every 5 minutes, and names
 * that need care: a tag key "time", fields named "time" and like a tag,
 * one field with two types, '/', '=', '%' and UTF-8 in names and values.
 * Expectations are computed from the spec below, never from the converter.
 */
#ifndef NE_TESTS_SEG2PQ_TESTLIB_H
#define NE_TESTS_SEG2PQ_TESTLIB_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "store/point.h"
#include "store/store.h"

#define TL_T0   1767225600000000000LL /* 2026-01-01T00:00:00Z */
#define TL_SEC  1000000000LL
#define TL_HOUR (3600 * TL_SEC)
#define TL_NK   36 /* points every 5 minutes over 3 hours */
#define TL_NOBJ 7

enum tl_gen { G_TEMP, G_HUM, G_COUNT, G_BIG, G_OK, G_NOTE, G_W, G_V, G_VI, G_TIME, G_PHASE, G_F };

struct tl_field {
    const char *name;
    uint8_t type;    /* enum ne_vtype */
    int gen;         /* enum tl_gen */
    const char *col; /* the Parquet column the converter must use */
};

struct tl_series {
    const char *db, *meas;
    unsigned ntags;
    const char *tk[2], *tv[2]; /* sorted by key */
    unsigned hours;            /* bit h: has points in hour h */
    unsigned nf;
    struct tl_field f[6];
};

#define F_(n, t, g, c)                                                                             \
    {                                                                                              \
        n, t, g, c                                                                                 \
    }
static const struct tl_series tl_series[] = {
    {"farm",
     "env",
     2,
     {"dev", "site"},
     {"1", "a"},
     7,
     6,
     {F_("temp", NE_V_FLOAT, G_TEMP, "temp"), F_("hum", NE_V_FLOAT, G_HUM, "hum"),
      F_("count", NE_V_INT, G_COUNT, "count"), F_("big", NE_V_UINT, G_BIG, "big"),
      F_("ok", NE_V_BOOL, G_OK, "ok"), F_("note", NE_V_STRING, G_NOTE, "note")}},
    {"farm",
     "env",
     2,
     {"dev", "site"},
     {"2", "a"},
     5,
     2,
     {F_("temp", NE_V_FLOAT, G_TEMP, "temp"), F_("count", NE_V_INT, G_COUNT, "count")}},
    {"farm", "env", 1, {"site"}, {"b/=\xc3\xbc"}, 7, 1, {F_("temp", NE_V_FLOAT, G_TEMP, "temp")}},
    {"farm",
     "env",
     2,
     {"room", "site"},
     {"x y", "a"},
     7,
     2,
     {F_("hum", NE_V_FLOAT, G_HUM, "hum"), F_("ok", NE_V_BOOL, G_OK, "ok")}},
    {"farm",
     "power",
     1,
     {"phase"},
     {"L1"},
     7,
     4,
     {F_("phase", NE_V_INT, G_PHASE, "phase_field"), F_("time", NE_V_FLOAT, G_TIME, "time_field"),
      F_("v", NE_V_FLOAT, G_V, "v"), F_("w", NE_V_FLOAT, G_W, "w")}},
    {"farm",
     "power",
     1,
     {"phase"},
     {"L2"},
     7,
     2,
     {F_("v", NE_V_INT, G_VI, "v_integer"), F_("w", NE_V_FLOAT, G_W, "w")}},
    {"farm", "power", 1, {"time"}, {"t1"}, 2, 1, {F_("w", NE_V_FLOAT, G_W, "w")}},
    {"alpha",
     "m/x=1%\xc3\xbc",
     1,
     {"k"},
     {"v=1/2 \xe2\x82\xac"},
     2,
     1,
     {F_("f", NE_V_FLOAT, G_F, "f")}},
};
#undef F_
#define TL_NSERIES (sizeof tl_series / sizeof tl_series[0])

/* The schema each measurement's objects must have, "name:DuckDB type". */
struct tl_schema {
    const char *db, *meas;
    unsigned ntag; /* tag columns after time */
    const char *cols[12];
};
static const struct tl_schema tl_schemas[] = {
    {"alpha", "m/x=1%\xc3\xbc", 1, {"time", "k", "f", NULL}},
    {"farm",
     "env",
     3,
     {"time", "dev", "room", "site", "big", "count", "hum", "note", "ok", "temp", NULL}},
    {"farm",
     "power",
     2,
     {"time", "phase", "time_tag", "phase_field", "time_field", "v", "v_integer", "w", NULL}},
};

/* The objects in converter order. */
struct tl_obj {
    const char *db, *meas;
    int hour; /* 0..2 after TL_T0 */
    const char *key;
};
static const struct tl_obj tl_objs[TL_NOBJ] = {
    {"alpha", "m/x=1%\xc3\xbc", 1,
     "db=alpha/measurement=m%2Fx%3D1%25\xc3\xbc/date=2026-01-01/hour=01"},
    {"farm", "env", 0, "db=farm/measurement=env/date=2026-01-01/hour=00"},
    {"farm", "env", 1, "db=farm/measurement=env/date=2026-01-01/hour=01"},
    {"farm", "env", 2, "db=farm/measurement=env/date=2026-01-01/hour=02"},
    {"farm", "power", 0, "db=farm/measurement=power/date=2026-01-01/hour=00"},
    {"farm", "power", 1, "db=farm/measurement=power/date=2026-01-01/hour=01"},
    {"farm", "power", 2, "db=farm/measurement=power/date=2026-01-01/hour=02"},
};

static inline const struct tl_schema *tl_schema_of(const char *db, const char *meas)
{
    for (size_t i = 0; i < sizeof tl_schemas / sizeof tl_schemas[0]; i++)
        if (!strcmp(tl_schemas[i].db, db) && !strcmp(tl_schemas[i].meas, meas))
            return &tl_schemas[i];
    return NULL;
}

static inline int64_t tl_ts(unsigned si, int k)
{
    return TL_T0 + (int64_t)k * 300 * TL_SEC + (int64_t)si * TL_SEC;
}

static inline int tl_hour(int k)
{
    return k / 12;
}

/* Whether field fi of series si has a value at step k. */
static inline int tl_present(unsigned si, unsigned fi, int k)
{
    const struct tl_series *s = &tl_series[si];
    if (!(s->hours >> tl_hour(k) & 1)) return 0;
    switch (s->f[fi].gen) {
    case G_HUM:
        return k % 3 != 0;
    case G_NOTE:
        return k % 4 == 0;
    default:
        return 1;
    }
}

/* Whether the value at k reaches Parquet (uint above INT64_MAX does not). */
static inline int tl_written(unsigned si, unsigned fi, int k)
{
    return tl_present(si, fi, k) && !(tl_series[si].f[fi].gen == G_BIG && k >= 32);
}

static inline int tl_point(unsigned si, int k)
{
    for (unsigned fi = 0; fi < tl_series[si].nf; fi++)
        if (tl_present(si, fi, k)) return 1;
    return 0;
}

/* The value of field fi of series si at step k; strings are written into
 * sbuf (64 bytes). */
static inline union ne_value tl_value(unsigned si, unsigned fi, int k, char *sbuf)
{
    union ne_value v;
    memset(&v, 0, sizeof v);
    switch (tl_series[si].f[fi].gen) {
    case G_TEMP:
        v.f = 20.0 + k * 0.25 + si;
        break;
    case G_HUM:
        v.f = 40.5 + k;
        break;
    case G_COUNT:
        v.i = (int64_t)k * 1000 - 5000;
        break;
    case G_BIG:
        v.u = (uint64_t)k << 58; /* k >= 32 passes INT64_MAX */
        break;
    case G_OK:
        v.b = k % 2 == 0;
        break;
    case G_NOTE:
        snprintf(sbuf, 64, "n/=\xc3\xa9-%02d", k);
        v.s = ne_sv_c(sbuf);
        break;
    case G_W:
        v.f = 100.0 + k * 1.5 + si;
        break;
    case G_V:
        v.f = 230.0 + k * 0.5;
        break;
    case G_VI:
        v.i = 230 + k;
        break;
    case G_TIME:
        v.f = k * 0.125;
        break;
    case G_PHASE:
        v.i = k % 3 + 1;
        break;
    default: /* G_F */
        v.f = -k * 2.5;
        break;
    }
    return v;
}

/* Appends every point of database db to b. Returns 0 or an error. */
static inline int tl_fill(struct ne_batch *b, const char *db)
{
    for (unsigned si = 0; si < TL_NSERIES; si++) {
        const struct tl_series *s = &tl_series[si];
        if (strcmp(s->db, db) != 0) continue;
        for (int k = 0; k < TL_NK; k++) {
            if (!tl_point(si, k)) continue;
            int rc = ne_batch_begin(b, ne_sv_c(s->meas), tl_ts(si, k));
            for (unsigned t = 0; !rc && t < s->ntags; t++)
                rc = ne_batch_tag(b, ne_sv_c(s->tk[t]), ne_sv_c(s->tv[t]));
            for (unsigned fi = 0; !rc && fi < s->nf; fi++) {
                if (!tl_present(si, fi, k)) continue;
                char sbuf[64];
                union ne_value v = tl_value(si, fi, k, sbuf);
                if (s->f[fi].type == NE_V_STRING) v.s = ne_batch_copy(b, v.s.p, v.s.n);
                rc = ne_batch_field(b, ne_sv_c(s->f[fi].name), s->f[fi].type, v);
            }
            if (!rc) rc = ne_batch_end(b);
            if (rc) return rc;
        }
    }
    return 0;
}

/* Rows, written values and unsigned values nulled of object o. */
static inline void tl_obj_counts(const struct tl_obj *o, uint64_t *rows, uint64_t *values,
                                 uint64_t *nulled)
{
    *rows = *values = *nulled = 0;
    for (unsigned si = 0; si < TL_NSERIES; si++) {
        const struct tl_series *s = &tl_series[si];
        if (strcmp(s->db, o->db) || strcmp(s->meas, o->meas)) continue;
        for (int k = 0; k < TL_NK; k++) {
            if (tl_hour(k) != o->hour || !tl_point(si, k)) continue;
            (*rows)++;
            for (unsigned fi = 0; fi < s->nf; fi++) {
                *values += (uint64_t)tl_written(si, fi, k);
                *nulled += (uint64_t)(tl_present(si, fi, k) && !tl_written(si, fi, k));
            }
        }
    }
}

/* A store under dir holding the data set, flushed into one segment:
 * *seg_path gets its path. Returns 0 or an error (the store stays open on
 * success: ne_store_close). */
static inline int tl_store(const char *dir, struct ne_store **out, char *seg_path, size_t n)
{
    struct ne_store_opts o;
    ne_store_opts_default(&o);
    o.data_dir = dir;
    o.durability = NE_STORE_SYNC;
    o.future_grace_ns = 0;
    o.memtable_max_age_ns = 0;
    int rc = ne_store_open(&o, out);
    if (rc) return rc;
    const char *dbs[] = {"farm", "alpha"};
    for (size_t d = 0; !rc && d < 2; d++) {
        struct ne_batch b;
        ne_batch_init(&b);
        struct ne_write_result res;
        rc = tl_fill(&b, dbs[d]);
        if (!rc) rc = ne_store_write(*out, dbs[d], &b, &res);
        if (!rc && res.rejected) {
            fprintf(stderr, "store refused a point: %s\n", res.first_error);
            rc = -1;
        }
        ne_batch_free(&b);
    }
    if (!rc) rc = ne_store_flush(*out);
    struct ne_store_seg_desc segs[4];
    size_t nseg = rc ? 0 : ne_store_segments_after(*out, 0, segs, 4, NULL);
    if (!rc && nseg != 1) {
        fprintf(stderr, "expected one segment, the store has %zu\n", nseg);
        rc = -1;
    }
    if (!rc) snprintf(seg_path, n, "%s", segs[0].path);
    if (rc) ne_store_close(out);
    return rc;
}

#endif
