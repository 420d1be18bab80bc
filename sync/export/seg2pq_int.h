/*
 * seg2pq_int.h - what the two halves of the segment-to-Parquet converter
 * share: the plan (seg2pq_plan.c: the segment's series resolved, sorted and
 * grouped by database and measurement; each group's Parquet schema) and
 * the conversion (seg2pq.c: hours, rows, objects).
 */
#ifndef NE_SYNC_EXPORT_SEG2PQ_INT_H
#define NE_SYNC_EXPORT_SEG2PQ_INT_H

#include <stdint.h>

#include "store/codec/buf.h"
#include "store/segment/segment.h"
#include "sync/export/seg2pq.h"

/* A string copied into the plan's text buffer: off while the buffer grows,
 * p once it is final (s2_plan_build fixes every p up before returning). */
struct s2_text {
    size_t off;
    uint32_t len;
    const char *p; /* NUL-terminated */
};

struct s2_tag {
    struct s2_text key, val;
};

/* A series of the segment the resolver knew. */
struct s2_series {
    uint64_t id;
    uint32_t col0, ncols; /* its columns in the segment: [col0, col0 + ncols) */
    const char *db;       /* borrowed from the segment reader */
    struct s2_text meas;
    uint32_t tag0, ntags; /* plan.tags[tag0 .. tag0 + ntags) */
};

/* The series of one (database, measurement): plan.series[s0 .. s0 + ns). */
struct s2_group {
    uint32_t s0, ns;
};

struct s2_plan {
    struct s2_series *series; /* sorted by (db, measurement, id) */
    uint32_t nseries;
    struct s2_tag *tags;
    uint32_t ntags;
    struct s2_group *groups; /* in object order */
    uint32_t ngroups;
    struct ne_buf text; /* measurement and tag bytes, each NUL-terminated */
};

/* Resolves every series of the segment through o->resolve, copies their
 * text, drops the unknown ones (counted in st), sorts and groups the rest.
 * On success *p owns memory: s2_plan_free. */
int s2_plan_build(const struct ne_seg *seg, const struct ne_seg2pq_opts *o, struct s2_plan *p,
                  struct ne_seg2pq_stats *st);
void s2_plan_free(struct s2_plan *p);

/* A field column of a group's schema. */
struct s2_field {
    struct ne_sv name; /* borrowed from the segment reader */
    uint8_t type;      /* enum ne_vtype */
};

/* A group's Parquet schema: column 0 is time, then ntag tag columns, then
 * nfield field columns. */
struct s2_schema {
    struct ne_pq_column *cols;
    uint32_t ncols;
    char **names;           /* owned column names, ncols entries */
    struct ne_sv *tag_keys; /* sorted; views into the plan's text */
    uint32_t ntag;
    struct s2_field *fields; /* sorted by (name, InfluxDB type preference) */
    uint32_t nfield;
};

/* Builds group g's schema and writes, for every segment column of the
 * group's series, its Parquet column index into pcol[column]. Returns 0,
 * NE_ETOOBIG (more than NE_PQ_MAX_COLS columns) or NE_ENOMEM. On success
 * *sch owns memory: s2_schema_free. */
int s2_schema_build(const struct ne_seg *seg, const struct s2_plan *p, const struct s2_group *g,
                    uint32_t *pcol, struct s2_schema *sch);
void s2_schema_free(struct s2_schema *sch);

#endif
