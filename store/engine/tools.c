/*
 * tools.c - offline inspection of a store: `neoedge inspect wal PATH`
 * (ne_store_inspect_wal) and `neoedge verify DATA_DIR`
 * (ne_store_verify_dir). Read-only, except that nothing is ever repaired:
 * verify reports, the store repairs at open.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "ports/crc32c.h"
#include "ports/platform.h"
#include "store/engine/store_int.h"

static int rd_sv(struct ne_rd *r, struct ne_sv *out)
{
    uint64_t n;
    const uint8_t *p;
    if (ne_rd_uvarint(r, &n) || n > UINT32_MAX || ne_rd_bytes(r, (size_t)n, &p)) return NE_ECORRUPT;
    *out = (struct ne_sv){(const char *)p, (uint32_t)n};
    return 0;
}

/* Walks a payload (format in store.c) without an index: prints the
 * database, the point count, and the first point's series if defined. */
int eng_payload_print(const uint8_t *p, size_t n, FILE *out)
{
    struct ne_rd r;
    uint8_t ver;
    struct ne_sv db;
    uint32_t npts;
    uint64_t ref;
    ne_rd_init(&r, p, n);
    if (ne_rd_u8(&r, &ver) || (ver != 1 && ver != 2) || rd_sv(&r, &db) ||
        ne_rd_u32le(&r, &npts))
        return NE_ECORRUPT;
    fprintf(out, "db=%.*s points=%" PRIu32 "%s", (int)db.n, db.p, npts,
            ver == 2 ? " versioned" : "");
    if (npts && ne_rd_uvarint(&r, &ref) == 0) {
        fprintf(out, " first_series=%" PRIu64, ref >> 1);
        struct ne_sv meas;
        uint64_t ntags;
        if ((ref & 1) && rd_sv(&r, &meas) == 0 && ne_rd_uvarint(&r, &ntags) == 0) {
            fprintf(out, " (%.*s", (int)meas.n, meas.p);
            for (uint64_t i = 0; i < ntags && i < 16; i++) {
                struct ne_sv k, v;
                if (rd_sv(&r, &k) || rd_sv(&r, &v)) return NE_ECORRUPT;
                fprintf(out, ",%.*s=%.*s", (int)k.n, k.p, (int)v.n, v.p);
            }
            fputc(')', out);
        }
    }
    return 0;
}

int ne_store_inspect_wal(const char *path, FILE *out)
{
    return eng_wal_inspect(path, out);
}

struct verify {
    FILE *out;
    const char *dir;
    int first;
    unsigned nfiles, nbad;
};

static void vfail(struct verify *v, int rc)
{
    v->nbad++;
    if (!v->first) v->first = rc;
}

static int verify_wal_cb(void *ctx, const char *name, bool is_dir)
{
    struct verify *v = ctx;
    char path[4096];
    if (is_dir) return 0;
    snprintf(path, sizeof path, "%s/%s", v->dir, name);
    if (strstr(name, ".quarantine")) {
        fprintf(v->out, "QUARANTINED %s (set aside at recovery; inspect it)\n", path);
        vfail(v, NE_ECORRUPT);
        return 0;
    }
    if (strncmp(name, "wal-", 4) != 0) return 0;
    v->nfiles++;
    FILE *sink = fopen("/dev/null", "w");
    int rc = eng_wal_inspect(path, sink ? sink : v->out);
    if (sink) fclose(sink);
    fprintf(v->out, "%s %s%s\n", rc ? "BAD" : "ok", path,
            rc ? " (a torn tail is cut at the next open)" : "");
    if (rc) vfail(v, rc);
    return 0;
}

static int verify_seg_cb(void *ctx, const char *name, bool is_dir)
{
    struct verify *v = ctx;
    char path[4096], why[256] = "";
    uint64_t id;
    if (is_dir) return 0;
    snprintf(path, sizeof path, "%s/%s", v->dir, name);
    if (strstr(name, ".quarantine")) {
        fprintf(v->out, "QUARANTINED %s\n", path);
        vfail(v, NE_ECORRUPT);
        return 0;
    }
    if (ne_seg_parse_name(name, &id)) return 0;
    v->nfiles++;
    int rc = ne_seg_verify(path, why, sizeof why);
    fprintf(v->out, "%s %s%s%s\n", rc ? "BAD" : "ok", path, rc ? ": " : "", why);
    if (rc) vfail(v, rc);
    return 0;
}

static int verify_series_log(const char *root, FILE *out)
{
    char path[4200];
    char *d = NULL;
    size_t n = 0;
    snprintf(path, sizeof path, "%s/series.log", root);
    int rc = ne_fs_read_all(path, &d, &n);
    if (rc == NE_ENOTFOUND) {
        fprintf(out, "ok %s (absent: empty store)\n", path);
        return 0;
    }
    if (rc) {
        fprintf(out, "BAD %s: %s\n", path, ne_strerror(rc));
        return rc;
    }
    const uint8_t *p = (const uint8_t *)d;
    size_t off = 16, recs = 0;
    if (n < 16 || ne_load_u32le(p) != 0x4c53454eu || ne_load_u32le(p + 12) != ne_crc32c(0, p, 12))
        rc = NE_ECORRUPT;
    while (!rc && off + 8 <= n) {
        uint32_t len = ne_load_u32le(p + off);
        if (len > n - off - 8 || ne_crc32c(0, p + off + 8, len) != ne_load_u32le(p + off + 4))
            break;
        off += 8 + (size_t)len;
        recs++;
    }
    if (!rc && off != n) rc = NE_ECORRUPT;
    fprintf(out, "%s %s (%zu records%s)\n", rc ? "BAD" : "ok", path, recs,
            rc ? ", invalid bytes after them" : "");
    ne_free(d);
    return rc;
}

int ne_store_verify_dir(const char *data_dir, FILE *out)
{
    char root[4096], wal[4200], seg[4200];
    snprintf(root, sizeof root, "%s/store", data_dir);
    snprintf(wal, sizeof wal, "%s/wal", root);
    snprintf(seg, sizeof seg, "%s/seg", root);
    if (!ne_fs_exists(root)) {
        fprintf(out, "no store under %s\n", data_dir);
        return NE_ENOTFOUND;
    }
    struct verify v = {.out = out};
    int rc = verify_series_log(root, out);
    if (rc) vfail(&v, rc);
    v.dir = wal;
    rc = ne_fs_list_dir(wal, verify_wal_cb, &v);
    if (rc && rc != NE_ENOTFOUND) vfail(&v, rc);
    v.dir = seg;
    rc = ne_fs_list_dir(seg, verify_seg_cb, &v);
    if (rc && rc != NE_ENOTFOUND) vfail(&v, rc);
    fprintf(out, "%s: %u files checked, %u problems\n", v.first ? "UNHEALTHY" : "healthy", v.nfiles,
            v.nbad);
    return v.first;
}
