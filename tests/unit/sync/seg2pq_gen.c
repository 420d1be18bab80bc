/*
 * seg2pq_gen.c - builds the seg2pq data set in a store, converts its
 * segment to Parquet objects and lays them out as OUTDIR/<key suffix>/
 * <segment>-<index>.parquet, then writes OUTDIR/expect.json, computed from
 * the data set spec (seg2pq_testlib.h), not from the converter, for
 * seg2pq_duckdb.mjs to check through DuckDB.
 *
 * Usage: seg2pq_gen OUTDIR
 *
 * expect.json: {"objects": [{"file", "key", "db", "measurement", "rows",
 *   "columns": [[name, DuckDB type], ...], "tag_columns": [name, ...],
 *   "series": [{"tags": {col: value|null}, "rows", "min_us", "max_us",
 *               "fields": [{"col", "type", "count", "sum", "min", "max"}]}]}]}
 * Integers, their sums and time bounds are strings (exact); a column with
 * no value in a series has count 0 and null sum/min/max.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sync/export/seg2pq.h"

#include "seg2pq_testlib.h"

struct out {
    const char *dir;
    char files[TL_NOBJ][512];
    size_t n;
};

/* Keeps each object under OUTDIR/<key suffix>/ (a hard link survives the
 * converter's unlink of the spool file). */
static int keep(void *ctx, const struct ne_seg2pq_obj *obj)
{
    struct out *o = ctx;
    if (o->n == TL_NOBJ) return NE_ERANGE;
    char dir[1024], path[1200];
    snprintf(dir, sizeof dir, "%s/%s", o->dir, obj->key_suffix);
    int rc = ne_fs_mkdir_p(dir);
    if (rc) return rc;
    const char *base = strrchr(obj->path, '/') + 1;
    snprintf(path, sizeof path, "%s/%s", dir, base);
    char *data;
    size_t len;
    rc = ne_fs_read_all(obj->path, &data, &len);
    if (rc) return rc;
    rc = ne_fs_write_atomic(path, data, len);
    ne_free(data);
    snprintf(o->files[o->n++], sizeof o->files[0], "%s/%s", obj->key_suffix, base);
    return rc;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static const char *duck_type(uint8_t t)
{
    switch (t) {
    case NE_V_FLOAT:
        return "DOUBLE";
    case NE_V_BOOL:
        return "BOOLEAN";
    case NE_V_STRING:
        return "VARCHAR";
    default:
        return "BIGINT";
    }
}

/* The source type of Parquet column col of measurement (db, meas). */
static int col_type(const char *db, const char *meas, const char *col, uint8_t *type)
{
    for (unsigned si = 0; si < TL_NSERIES; si++) {
        const struct tl_series *s = &tl_series[si];
        if (strcmp(s->db, db) || strcmp(s->meas, meas)) continue;
        for (unsigned fi = 0; fi < s->nf; fi++)
            if (!strcmp(s->f[fi].col, col)) {
                *type = s->f[fi].type;
                return 0;
            }
    }
    return -1;
}

static const char *tag_col(const char *key)
{
    return strcmp(key, "time") ? key : "time_tag";
}

static const char *i128_text(__int128 v, char buf[48])
{
    char tmp[48];
    size_t n = 0;
    unsigned __int128 u = v < 0 ? -(unsigned __int128)v : (unsigned __int128)v;
    do {
        tmp[n++] = (char)('0' + (int)(u % 10));
        u /= 10;
    } while (u);
    size_t w = 0;
    if (v < 0) buf[w++] = '-';
    while (n)
        buf[w++] = tmp[--n];
    buf[w] = 0;
    return buf;
}

/* Statistics of field column col of series si in hour h. */
static void field_stats(FILE *f, unsigned si, int h, const char *col, uint8_t type)
{
    const struct tl_series *s = &tl_series[si];
    unsigned long long count = 0;
    double fsum = 0, fmin = 0, fmax = 0;
    __int128 isum = 0; /* DuckDB sums BIGINT into HUGEINT */
    long long imin = 0, imax = 0;
    char smin[64] = "", smax[64] = "", sumtxt[48];
    for (unsigned fi = 0; fi < s->nf; fi++) {
        if (strcmp(s->f[fi].col, col)) continue;
        for (int k = 0; k < TL_NK; k++) {
            if (tl_hour(k) != h || !tl_written(si, fi, k)) continue;
            char sb[64];
            union ne_value v = tl_value(si, fi, k, sb);
            long long iv = type == NE_V_UINT ? (long long)v.u : type == NE_V_BOOL ? v.b : v.i;
            bool first = count++ == 0;
            if (type == NE_V_FLOAT) {
                fsum += v.f;
                fmin = first || v.f < fmin ? v.f : fmin;
                fmax = first || v.f > fmax ? v.f : fmax;
            } else if (type == NE_V_STRING) {
                if (first || strcmp(sb, smin) < 0) snprintf(smin, sizeof smin, "%s", sb);
                if (first || strcmp(sb, smax) > 0) snprintf(smax, sizeof smax, "%s", sb);
            } else {
                isum += iv;
                imin = first || iv < imin ? iv : imin;
                imax = first || iv > imax ? iv : imax;
            }
        }
    }
    fprintf(f, "{\"col\": ");
    json_str(f, col);
    fprintf(f, ", \"type\": \"%s\", \"count\": %llu", duck_type(type), count);
    if (count == 0)
        fprintf(f, ", \"sum\": null, \"min\": null, \"max\": null}");
    else if (type == NE_V_FLOAT)
        fprintf(f, ", \"sum\": %.17g, \"min\": %.17g, \"max\": %.17g}", fsum, fmin, fmax);
    else if (type == NE_V_STRING) {
        fprintf(f, ", \"sum\": null, \"min\": ");
        json_str(f, smin);
        fprintf(f, ", \"max\": ");
        json_str(f, smax);
        fputc('}', f);
    } else
        fprintf(f, ", \"sum\": \"%s\", \"min\": \"%lld\", \"max\": \"%lld\"}",
                i128_text(isum, sumtxt), imin, imax);
}

/* One series of object o, if it has rows in the hour. */
static void series_json(FILE *f, const struct tl_obj *o, const struct tl_schema *sc, unsigned si,
                        bool *first)
{
    const struct tl_series *s = &tl_series[si];
    unsigned rows = 0;
    int64_t tmin = 0, tmax = 0;
    for (int k = 0; k < TL_NK; k++) {
        if (tl_hour(k) != o->hour || !tl_point(si, k)) continue;
        if (rows++ == 0) tmin = tl_ts(si, k);
        tmax = tl_ts(si, k);
    }
    if (rows == 0) return;
    fprintf(f, "%s\n    {\"tags\": {", *first ? "" : ",");
    *first = false;
    for (unsigned c = 1; c <= sc->ntag; c++) {
        const char *val = NULL;
        for (unsigned t = 0; t < s->ntags; t++)
            if (!strcmp(tag_col(s->tk[t]), sc->cols[c])) val = s->tv[t];
        fprintf(f, "%s", c > 1 ? ", " : "");
        json_str(f, sc->cols[c]);
        fprintf(f, ": ");
        if (val)
            json_str(f, val);
        else
            fprintf(f, "null");
    }
    fprintf(f, "}, \"rows\": %u, \"min_us\": \"%" PRId64 "\", \"max_us\": \"%" PRId64 "\",", rows,
            tmin / 1000, tmax / 1000);
    fprintf(f, " \"fields\": [");
    for (unsigned c = 1 + sc->ntag; sc->cols[c]; c++) {
        uint8_t type = 0;
        col_type(o->db, o->meas, sc->cols[c], &type);
        fprintf(f, "%s\n      ", c > 1 + sc->ntag ? "," : "");
        field_stats(f, si, o->hour, sc->cols[c], type);
    }
    fprintf(f, "]}");
}

static void object_json(FILE *f, const struct tl_obj *o, const char *file)
{
    const struct tl_schema *sc = tl_schema_of(o->db, o->meas);
    uint64_t rows, values, nulled;
    tl_obj_counts(o, &rows, &values, &nulled);
    fprintf(f, "{\"file\": ");
    json_str(f, file);
    fprintf(f, ", \"key\": ");
    json_str(f, o->key);
    fprintf(f, ", \"db\": ");
    json_str(f, o->db);
    fprintf(f, ", \"measurement\": ");
    json_str(f, o->meas);
    fprintf(f, ", \"rows\": %" PRIu64 ",\n  \"columns\": [", rows);
    for (unsigned c = 0; sc->cols[c]; c++) {
        uint8_t type = 0;
        const char *dt = c == 0          ? "TIMESTAMP WITH TIME ZONE"
                         : c <= sc->ntag ? "VARCHAR"
                         : col_type(o->db, o->meas, sc->cols[c], &type) == 0 ? duck_type(type)
                                                                             : "?";
        fprintf(f, "%s[", c ? ", " : "");
        json_str(f, sc->cols[c]);
        fprintf(f, ", \"%s\"]", dt);
    }
    fprintf(f, "],\n  \"tag_columns\": [");
    for (unsigned c = 1; c <= sc->ntag; c++) {
        fprintf(f, "%s", c > 1 ? ", " : "");
        json_str(f, sc->cols[c]);
    }
    fprintf(f, "],\n  \"series\": [");
    bool first = true;
    for (unsigned si = 0; si < TL_NSERIES; si++)
        if (!strcmp(tl_series[si].db, o->db) && !strcmp(tl_series[si].meas, o->meas))
            series_json(f, o, sc, si, &first);
    fprintf(f, "]}");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: seg2pq_gen OUTDIR\n");
        return 2;
    }
    ne_log_set_level(NE_LOG_WARN);
    char store_dir[1024], spool[1100], seg[1200];
    snprintf(store_dir, sizeof store_dir, "%s/store", argv[1]);
    snprintf(spool, sizeof spool, "%s/spool", argv[1]);
    struct ne_store *s;
    int rc = ne_fs_mkdir_p(spool);
    if (!rc) rc = tl_store(store_dir, &s, seg, sizeof seg);
    if (rc) {
        fprintf(stderr, "building the store failed: %d\n", rc);
        return 1;
    }
    char objdir[1100];
    snprintf(objdir, sizeof objdir, "%s/objects", argv[1]);
    struct out out = {.dir = objdir};
    struct ne_seg2pq_opts o = {
        .spool_dir = spool, .resolve = ne_seg2pq_resolve_store, .resolve_ctx = s, .node = "n1"};
    struct ne_seg2pq_stats st;
    rc = ne_seg2pq_convert(seg, &o, 0, keep, &out, &st);
    ne_store_close(&s);
    if (rc || out.n != TL_NOBJ) {
        fprintf(stderr, "conversion failed: %s, %zu objects\n", ne_strerror(rc), out.n);
        return 1;
    }
    char path[1200];
    snprintf(path, sizeof path, "%s/expect.json", argv[1]);
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        return 1;
    }
    fprintf(f, "{\"objects\": [\n");
    for (size_t i = 0; i < TL_NOBJ; i++) {
        if (i) fprintf(f, ",\n");
        object_json(f, &tl_objs[i], out.files[i]);
    }
    fprintf(f, "\n]}\n");
    if (fclose(f)) {
        perror(path);
        return 1;
    }
    printf("%zu objects, %" PRIu64 " rows, %" PRIu64 " values, %" PRIu64 " bytes in %s\n", out.n,
           st.rows, st.values, st.bytes, objdir);
    return 0;
}
