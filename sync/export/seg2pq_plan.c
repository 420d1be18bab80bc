/*
 * seg2pq_plan.c - the converter's plan: which series a segment holds, what
 * they are called, in which order they become objects, and the Parquet
 * schema of each (database, measurement).
 *
 * Series text is copied out of the resolver's answer into one buffer (the
 * resolver's strings need not outlive the call), as offsets first and as
 * pointers once the buffer stops growing. Column naming follows the rules
 * in seg2pq.h; every rule is a pure function of the sorted tag keys and
 * fields, so the names, like the rest of the output, are deterministic.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sync/export/seg2pq_int.h"

/* ---- plan ---------------------------------------------------------------- */

static int text_add(struct ne_buf *b, const char *p, size_t n, struct s2_text *out)
{
    if (n > UINT32_MAX - 1) return NE_ETOOBIG;
    int rc = ne_buf_reserve(b, n + 1);
    if (rc) return rc;
    out->off = b->len;
    out->len = (uint32_t)n;
    out->p = NULL;
    if (n) memcpy(b->p + b->len, p, n);
    b->p[b->len + n] = 0;
    b->len += n + 1;
    return 0;
}

static void text_fix(const struct ne_buf *b, struct s2_text *t)
{
    t->p = (const char *)b->p + t->off;
}

static int grow(void **arr, uint32_t *cap, uint32_t need, size_t elem)
{
    if (need <= *cap) return 0;
    uint32_t nc = *cap ? *cap : 64;
    while (nc < need)
        nc *= 2;
    void *a = ne_realloc(*arr, (size_t)nc * elem);
    if (!a) return NE_ENOMEM;
    *arr = a;
    *cap = nc;
    return 0;
}

/* Copies the resolver's answer for s into the plan. */
static int series_copy(struct s2_plan *p, uint32_t *tag_cap, const struct ne_series_info *in,
                       struct s2_series *s)
{
    const char *m = in->measurement ? in->measurement : "";
    int rc = text_add(&p->text, m, strlen(m), &s->meas);
    if (!rc) rc = grow((void **)&p->tags, tag_cap, p->ntags + in->ntags, sizeof *p->tags);
    s->tag0 = p->ntags;
    s->ntags = 0;
    for (uint32_t i = 0; !rc && i < in->ntags; i++) {
        struct s2_tag *t = &p->tags[p->ntags];
        rc = text_add(&p->text, in->tags[i].key.p, in->tags[i].key.n, &t->key);
        if (!rc) rc = text_add(&p->text, in->tags[i].val.p, in->tags[i].val.n, &t->val);
        if (!rc) {
            p->ntags++;
            s->ntags++;
        }
    }
    return rc;
}

/* Asks the resolver about the series whose columns start at col0. */
static int series_resolve(const struct ne_seg *seg, const struct ne_seg2pq_opts *o,
                          struct s2_plan *p, uint32_t *tag_cap, struct s2_series *s,
                          struct ne_seg2pq_stats *st)
{
    struct ne_series_info in = {0};
    int rc = o->resolve(o->resolve_ctx, s->id, &in);
    if (rc == NE_ENOTFOUND) {
        uint64_t values = 0;
        for (uint32_t c = s->col0; c < s->col0 + s->ncols; c++)
            values += ne_seg_col(seg, c)->npoints;
        st->unknown_series++;
        st->unknown_values += values;
        NE_WARN("sync",
                "segment %016llx: series %llu is not in the series index; its %llu "
                "values are left out of the Parquet export",
                (unsigned long long)ne_seg_info(seg)->seg_id, (unsigned long long)s->id,
                (unsigned long long)values);
        return 1;
    }
    if (rc) {
        NE_ERROR("sync", "segment %016llx: resolving series %llu failed: %s",
                 (unsigned long long)ne_seg_info(seg)->seg_id, (unsigned long long)s->id,
                 ne_strerror(rc));
        return rc;
    }
    return series_copy(p, tag_cap, &in, s);
}

/* The run of columns of one series starting at column c. */
static int series_at(const struct ne_seg *seg, uint32_t c, struct s2_series *s)
{
    const struct ne_seg_info *info = ne_seg_info(seg);
    const struct ne_seg_col *first = ne_seg_col(seg, c);
    *s = (struct s2_series){.id = first->key.series_id, .col0 = c, .ncols = 0};
    uint32_t end = c;
    while (end < info->ncols && ne_seg_col(seg, end)->key.series_id == s->id) {
        if (ne_seg_col(seg, end)->key.db != first->key.db) {
            NE_ERROR("sync", "segment %016llx: series %llu has columns in two databases",
                     (unsigned long long)info->seg_id, (unsigned long long)s->id);
            return NE_ECORRUPT;
        }
        end++;
    }
    if (first->key.db >= info->ndbs && !(info->ndbs == 0 && first->key.db == 0)) {
        NE_ERROR("sync", "segment %016llx: column %u names database %u of %u",
                 (unsigned long long)info->seg_id, c, first->key.db, info->ndbs);
        return NE_ECORRUPT;
    }
    s->ncols = end - c;
    s->db = info->ndbs ? ne_seg_db_name(seg, first->key.db) : "";
    return 0;
}

static int series_cmp(const void *a, const void *b)
{
    const struct s2_series *x = a, *y = b;
    int c = strcmp(x->db, y->db);
    if (c) return c;
    c = ne_sv_cmp((struct ne_sv){x->meas.p, x->meas.len}, (struct ne_sv){y->meas.p, y->meas.len});
    if (c) return c;
    return x->id < y->id ? -1 : x->id > y->id;
}

static bool same_group(const struct s2_series *a, const struct s2_series *b)
{
    return strcmp(a->db, b->db) == 0 && a->meas.len == b->meas.len &&
           memcmp(a->meas.p, b->meas.p, a->meas.len) == 0;
}

/* Text offsets become pointers; series are sorted and cut into groups. */
static int plan_finish(struct s2_plan *p)
{
    for (uint32_t i = 0; i < p->nseries; i++)
        text_fix(&p->text, &p->series[i].meas);
    for (uint32_t i = 0; i < p->ntags; i++) {
        text_fix(&p->text, &p->tags[i].key);
        text_fix(&p->text, &p->tags[i].val);
    }
    if (p->nseries > 1) qsort(p->series, p->nseries, sizeof *p->series, series_cmp);
    p->groups = ne_malloc((p->nseries ? p->nseries : 1) * sizeof *p->groups);
    if (!p->groups) return NE_ENOMEM;
    for (uint32_t i = 0; i < p->nseries; i++) {
        if (i == 0 || !same_group(&p->series[i - 1], &p->series[i]))
            p->groups[p->ngroups++] = (struct s2_group){i, 0};
        p->groups[p->ngroups - 1].ns++;
    }
    return 0;
}

int s2_plan_build(const struct ne_seg *seg, const struct ne_seg2pq_opts *o, struct s2_plan *p,
                  struct ne_seg2pq_stats *st)
{
    memset(p, 0, sizeof *p);
    ne_buf_init(&p->text);
    const struct ne_seg_info *info = ne_seg_info(seg);
    p->series = ne_malloc((info->nseries ? info->nseries : 1) * sizeof *p->series);
    if (!p->series) return NE_ENOMEM;
    uint32_t tag_cap = 0;
    int rc = 0;
    for (uint32_t c = 0; !rc && c < info->ncols;) {
        struct s2_series s;
        rc = series_at(seg, c, &s);
        if (rc) break;
        c += s.ncols;
        if (p->nseries == info->nseries) {
            rc = NE_ECORRUPT; /* more series than the footer counted */
            break;
        }
        rc = series_resolve(seg, o, p, &tag_cap, &s, st);
        if (rc == 0) p->series[p->nseries++] = s;
        if (rc == 1) rc = 0;
    }
    if (!rc) rc = plan_finish(p);
    if (rc) s2_plan_free(p);
    return rc;
}

void s2_plan_free(struct s2_plan *p)
{
    ne_free(p->series);
    ne_free(p->tags);
    ne_free(p->groups);
    ne_buf_free(&p->text);
    memset(p, 0, sizeof *p);
}

/* ---- schema ---------------------------------------------------------------- */

/* InfluxDB's preference among the types of one field name: the first type
 * present keeps the plain column name. */
static int type_rank(uint8_t t)
{
    switch (t) {
    case NE_V_FLOAT:
        return 0;
    case NE_V_INT:
        return 1;
    case NE_V_UINT:
        return 2;
    case NE_V_STRING:
        return 3;
    default:
        return 4; /* NE_V_BOOL */
    }
}

static enum ne_pq_kind type_kind(uint8_t t)
{
    switch (t) {
    case NE_V_FLOAT:
        return NE_PQ_DOUBLE;
    case NE_V_BOOL:
        return NE_PQ_BOOL;
    case NE_V_STRING:
        return NE_PQ_STRING;
    default:
        return NE_PQ_INT64; /* NE_V_INT, NE_V_UINT */
    }
}

static int sv_qcmp(const void *a, const void *b)
{
    return ne_sv_cmp(*(const struct ne_sv *)a, *(const struct ne_sv *)b);
}

static int field_cmp(const struct s2_field *a, const struct s2_field *b)
{
    int c = ne_sv_cmp(a->name, b->name);
    if (c) return c;
    return type_rank(a->type) - type_rank(b->type);
}

static int field_qcmp(const void *a, const void *b)
{
    return field_cmp(a, b);
}

/* The group's distinct tag keys, sorted. */
static int collect_tag_keys(const struct s2_plan *p, const struct s2_group *g,
                            struct s2_schema *sch)
{
    uint32_t n = 0;
    for (uint32_t i = g->s0; i < g->s0 + g->ns; i++)
        n += p->series[i].ntags;
    sch->tag_keys = ne_malloc((n ? n : 1) * sizeof *sch->tag_keys);
    if (!sch->tag_keys) return NE_ENOMEM;
    n = 0;
    for (uint32_t i = g->s0; i < g->s0 + g->ns; i++) {
        const struct s2_series *s = &p->series[i];
        for (uint32_t t = 0; t < s->ntags; t++) {
            const struct s2_text *k = &p->tags[s->tag0 + t].key;
            sch->tag_keys[n++] = (struct ne_sv){k->p, k->len};
        }
    }
    if (n > 1) qsort(sch->tag_keys, n, sizeof *sch->tag_keys, sv_qcmp);
    uint32_t w = 0;
    for (uint32_t i = 0; i < n; i++)
        if (w == 0 || !ne_sv_eq(sch->tag_keys[w - 1], sch->tag_keys[i]))
            sch->tag_keys[w++] = sch->tag_keys[i];
    sch->ntag = w;
    return 0;
}

/* The group's distinct (field, type) pairs, sorted. */
static int collect_fields(const struct ne_seg *seg, const struct s2_plan *p,
                          const struct s2_group *g, struct s2_schema *sch)
{
    uint32_t n = 0;
    for (uint32_t i = g->s0; i < g->s0 + g->ns; i++)
        n += p->series[i].ncols;
    sch->fields = ne_malloc((n ? n : 1) * sizeof *sch->fields);
    if (!sch->fields) return NE_ENOMEM;
    n = 0;
    for (uint32_t i = g->s0; i < g->s0 + g->ns; i++) {
        const struct s2_series *s = &p->series[i];
        for (uint32_t c = s->col0; c < s->col0 + s->ncols; c++) {
            const struct ne_seg_colkey *k = &ne_seg_col(seg, c)->key;
            sch->fields[n++] = (struct s2_field){k->field, k->type};
        }
    }
    if (n > 1) qsort(sch->fields, n, sizeof *sch->fields, field_qcmp);
    uint32_t w = 0;
    for (uint32_t i = 0; i < n; i++)
        if (w == 0 || field_cmp(&sch->fields[w - 1], &sch->fields[i]) != 0)
            sch->fields[w++] = sch->fields[i];
    sch->nfield = w;
    return 0;
}

/* Names handed out so far, kept sorted for lookups. */
struct names {
    char **v;
    uint32_t n;
};

static uint32_t names_pos(const struct names *nm, const char *s, bool *found)
{
    uint32_t lo = 0, hi = nm->n;
    *found = false;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        int c = strcmp(nm->v[mid], s);
        if (c == 0) {
            *found = true;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool names_has(const struct names *nm, const char *s)
{
    bool found;
    names_pos(nm, s, &found);
    return found;
}

static void names_insert(struct names *nm, char *s)
{
    bool found;
    uint32_t at = names_pos(nm, s, &found);
    memmove(nm->v + at + 1, nm->v + at, (nm->n - at) * sizeof *nm->v);
    nm->v[at] = s;
    nm->n++;
}

/* base (NUL bytes written as "%00", "" as "_") followed by suffix,
 * malloc'd. */
static char *name_make(struct ne_sv base, const char *suffix)
{
    if (base.n == 0) base = NE_SV("_");
    size_t extra = strlen(suffix), len = base.n;
    for (uint32_t i = 0; i < base.n; i++)
        if (base.p[i] == 0) len += 2;
    char *s = ne_malloc(len + extra + 1);
    if (!s) return NULL;
    size_t w = 0;
    for (uint32_t i = 0; i < base.n; i++) {
        if (base.p[i] == 0) {
            memcpy(s + w, "%00", 3);
            w += 3;
        } else {
            s[w++] = base.p[i];
        }
    }
    memcpy(s + w, suffix, extra + 1);
    return s;
}

/* The first of base, base+clash, base+clash+"2", ... not taken yet. */
static char *name_unique(const struct names *nm, struct ne_sv base, const char *clash)
{
    char *s = name_make(base, "");
    char suffix[48];
    for (unsigned k = 1; s && names_has(nm, s); k++) {
        ne_free(s);
        if (k == 1)
            snprintf(suffix, sizeof suffix, "%s", clash);
        else
            snprintf(suffix, sizeof suffix, "%s%u", clash, k);
        s = name_make(base, suffix);
    }
    return s;
}

/* The wanted name of field i before collisions: "<name>" for the first
 * type of a name, "<name>_<type>" for the others. */
static char *field_base(const struct s2_schema *sch, uint32_t i)
{
    const struct s2_field *f = &sch->fields[i];
    bool primary = i == 0 || !ne_sv_eq(sch->fields[i - 1].name, f->name);
    char suffix[32] = "";
    if (!primary) snprintf(suffix, sizeof suffix, "_%s", ne_vtype_name(f->type));
    return name_make(f->name, suffix);
}

static int assign_names(struct s2_schema *sch)
{
    struct names nm = {ne_malloc(sch->ncols * sizeof(char *)), 0};
    if (!nm.v) return NE_ENOMEM;
    int rc = 0;
    for (uint32_t c = 0; !rc && c < sch->ncols; c++) {
        char *s;
        if (c == 0) {
            s = name_make(NE_SV("time"), "");
        } else if (c <= sch->ntag) {
            s = name_unique(&nm, sch->tag_keys[c - 1], "_tag");
        } else {
            char *base = field_base(sch, c - 1 - sch->ntag);
            s = base ? name_unique(&nm, ne_sv_c(base), "_field") : NULL;
            ne_free(base);
        }
        if (!s) {
            rc = NE_ENOMEM;
            break;
        }
        sch->names[c] = s;
        sch->cols[c].name = s;
        names_insert(&nm, s);
    }
    ne_free(nm.v);
    return rc;
}

static uint32_t field_index(const struct s2_schema *sch, const struct ne_seg_colkey *k)
{
    struct s2_field key = {k->field, k->type};
    uint32_t lo = 0, hi = sch->nfield;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (field_cmp(&sch->fields[mid], &key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo; /* always found: the fields come from these very columns */
}

int s2_schema_build(const struct ne_seg *seg, const struct s2_plan *p, const struct s2_group *g,
                    uint32_t *pcol, struct s2_schema *sch)
{
    memset(sch, 0, sizeof *sch);
    int rc = collect_tag_keys(p, g, sch);
    if (!rc) rc = collect_fields(seg, p, g, sch);
    if (rc) goto out;
    size_t ncols = 1 + (size_t)sch->ntag + sch->nfield;
    if (ncols > NE_PQ_MAX_COLS) {
        const struct s2_series *s = &p->series[g->s0];
        NE_ERROR("sync",
                 "segment %016llx: measurement \"%s\" of database \"%s\" needs %zu Parquet "
                 "columns (%u tags, %u fields), more than %u",
                 (unsigned long long)ne_seg_info(seg)->seg_id, s->meas.p, s->db, ncols, sch->ntag,
                 sch->nfield, (unsigned)NE_PQ_MAX_COLS);
        rc = NE_ETOOBIG;
        goto out;
    }
    sch->ncols = (uint32_t)ncols;
    sch->cols = ne_calloc(ncols, sizeof *sch->cols);
    sch->names = ne_calloc(ncols, sizeof *sch->names);
    if (!sch->cols || !sch->names) {
        rc = NE_ENOMEM;
        goto out;
    }
    sch->cols[0].kind = NE_PQ_TIME;
    for (uint32_t t = 0; t < sch->ntag; t++)
        sch->cols[1 + t].kind = NE_PQ_TAG;
    for (uint32_t f = 0; f < sch->nfield; f++)
        sch->cols[1 + sch->ntag + f].kind = type_kind(sch->fields[f].type);
    rc = assign_names(sch);
    for (uint32_t i = g->s0; !rc && i < g->s0 + g->ns; i++) {
        const struct s2_series *s = &p->series[i];
        for (uint32_t c = s->col0; c < s->col0 + s->ncols; c++)
            pcol[c] = 1 + sch->ntag + field_index(sch, &ne_seg_col(seg, c)->key);
    }
out:
    if (rc) s2_schema_free(sch);
    return rc;
}

void s2_schema_free(struct s2_schema *sch)
{
    for (uint32_t i = 0; sch->names && i < sch->ncols; i++)
        ne_free(sch->names[i]);
    ne_free(sch->names);
    ne_free(sch->cols);
    ne_free(sch->tag_keys);
    ne_free(sch->fields);
    memset(sch, 0, sizeof *sch);
}
