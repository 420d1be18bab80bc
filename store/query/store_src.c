/*
 * store_src.c - the query executor's data source over the local store.
 *
 * Maps struct ne_qsrc onto store/store.h: metadata lookups go to the
 * series index, scans to ne_store_scan_blocks with a series filter that
 * looks ids up in the executor's sorted id list. The store hands a block's
 * statistics only when no other segment or memtable overlaps it, so a
 * folded block is never double counted.
 */
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "store/query/query.h"
#include "store/store.h"

/* Missing databases and measurements read as empty. */
static int empty_ok(int rc)
{
    return rc == NE_ENOTFOUND ? 0 : rc;
}

static int s_databases(void *ctx, ne_qsrc_name_fn fn, void *arg)
{
    return ne_store_list_databases(ctx, fn, arg);
}

static int s_measurements(void *ctx, const char *db, ne_qsrc_name_fn fn, void *arg)
{
    return empty_ok(ne_store_list_measurements(ctx, db, fn, arg));
}

struct series_fwd {
    ne_qsrc_series_fn fn;
    void *arg;
};

static int fwd_series(void *ctx, const struct ne_series_info *s)
{
    struct series_fwd *f = ctx;
    struct ne_qsrc_series q = {s->id, s->tags, s->ntags};
    return f->fn(f->arg, &q);
}

static int s_series(void *ctx, const char *db, const char *meas, ne_qsrc_series_fn fn, void *arg)
{
    struct series_fwd f = {fn, arg};
    return empty_ok(ne_store_list_series(ctx, db, meas, fwd_series, &f));
}

static int s_fields(void *ctx, const char *db, const char *meas, ne_qsrc_field_fn fn, void *arg)
{
    return empty_ok(ne_store_field_keys(ctx, db, meas, fn, arg));
}

static int s_tag_values(void *ctx, const char *db, const char *meas, const char *key,
                        struct ne_sv **vals, size_t *n, size_t *cap)
{
    return empty_ok(ne_store_tag_value_views(ctx, db, meas, key, vals, n, cap));
}

static int s_tag_keys(void *ctx, const char *db, const char *meas, struct ne_sv **keys,
                      size_t *n, size_t *cap)
{
    return empty_ok(ne_store_tag_key_views(ctx, db, meas, keys, n, cap));
}

struct scan_fwd {
    const uint64_t *ids;
    size_t nids;
    ne_qsrc_points_fn points;
    ne_qsrc_block_fn block;
    void *arg;
};

static bool id_wanted(void *ctx, const struct ne_series_info *s)
{
    const struct scan_fwd *f = ctx;
    size_t lo = 0, hi = f->nids;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (f->ids[mid] == s->id)
            return true;
        if (f->ids[mid] < s->id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

static int fwd_chunk(void *ctx, const struct ne_scan_chunk *c)
{
    const struct scan_fwd *f = ctx;
    if (c->n == 0)
        return 0;
    return f->points(f->arg, c->series->id, c->ts, (const void *)c->v.f, c->n);
}

static int fwd_block(void *ctx, const struct ne_scan_block *b)
{
    const struct scan_fwd *f = ctx;
    return f->block ? f->block(f->arg, b->series->id, b->stats) : 0;
}

static int s_scan(void *ctx, const char *db, const char *meas, const uint64_t *ids, size_t nids,
                  const char *field, enum ne_vtype type, int64_t t0, int64_t t1,
                  ne_qsrc_points_fn points_fn, ne_qsrc_block_fn block_fn, void *arg)
{
    struct scan_fwd f = {ids, nids, points_fn, block_fn, arg};
    struct ne_store_scan_req q = {.db = db, .measurement = meas, .filter = id_wanted,
                                  .filter_ctx = &f, .field = field, .t0 = t0, .t1 = t1};
    (void)type;
    if (nids == 0)
        return 0;
    return empty_ok(ne_store_scan_blocks(ctx, &q, fwd_chunk, block_fn ? fwd_block : NULL, &f));
}

static int s_create_database(void *ctx, const char *db)
{
    return ne_store_create_database(ctx, db);
}

static int s_drop_database(void *ctx, const char *db)
{
    return ne_store_drop_database(ctx, db);
}

static int s_drop_measurement(void *ctx, const char *db, const char *meas)
{
    return ne_store_drop_measurement(ctx, db, meas);
}

static int s_delete_points(void *ctx, const char *db, const uint64_t *ids, size_t n, int64_t t0,
                           int64_t t1)
{
    struct scan_fwd f = {.ids = ids, .nids = n};
    struct ne_store_delete_req r = {
        .db = db, .filter = id_wanted, .filter_ctx = &f, .t0 = t0, .t1 = t1};
    return n ? ne_store_delete(ctx, &r) : 0;
}

void ne_store_qsrc(struct ne_store *s, struct ne_qsrc *out)
{
    memset(out, 0, sizeof *out);
    out->ctx = s;
    out->databases = s_databases;
    out->measurements = s_measurements;
    out->series = s_series;
    out->fields = s_fields;
    out->tag_values = s_tag_values;
    out->tag_keys = s_tag_keys;
    out->scan = s_scan;
    out->create_database = s_create_database;
    out->drop_database = s_drop_database;
    out->drop_measurement = s_drop_measurement;
    out->delete_points = s_delete_points;
    out->parallel_scan = true; /* scans take the store lock per series */
}
