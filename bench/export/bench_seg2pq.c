/*
 * bench_seg2pq.c - segment to Parquet export benchmark: imports a
 * line-protocol file into a store (database "bench", durability none),
 * flushes (and with --compact compacts), then converts every sealed segment
 * with ne_seg2pq_convert and prints one Markdown table row: segment bytes
 * per value, Parquet bytes per value, objects, conversion values/s (wall),
 * CPU seconds per GB of Parquet (converting thread) and the peak RSS added
 * while converting (VmHWM over VmRSS after malloc_trim, reset before the
 * conversion). Never asserts on time.
 *
 *   python3 /work/shared/bench/gen_iot.py --shape sensors --devices 1000 \
 *       --duration 1h --seed 1 > s1.lp
 *   bench_seg2pq --file s1.lp [--name S1] [--compact] [--keep OUTDIR]
 *                [--memtable-mib 16] [--lines N] [--repeat N] [--header]
 *
 * --repeat N converts N times and reports the fastest run (the machine is
 * shared; sizes are the same every run).
 * --keep OUTDIR keeps the objects as OUTDIR/<key suffix>/<seg>-<index>.parquet
 * (hard links) and writes OUTDIR/values (field values converted), for
 * bench/export/duckdb_compare.mjs. bench/export/run.sh runs S1 and I1.
 */
#include <fcntl.h>
#include <inttypes.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ingest/decode/decode.h"
#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "store/store.h"
#include "sync/export/seg2pq.h"

struct args {
    const char *file, *name, *keep;
    bool compact, header;
    uint64_t memtable, max_lines;
    int repeat;
};

static void usage(void)
{
    fprintf(stderr, "usage: bench_seg2pq --file FILE.lp [--name NAME] [--compact] [--keep DIR] "
                    "[--memtable-mib N] [--lines N] [--repeat N] [--header]\n");
    exit(2);
}

static void parse_args(int argc, char **argv, struct args *a)
{
    a->memtable = 16u << 20;
    a->name = "-";
    a->repeat = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--compact")) {
            a->compact = true;
            continue;
        }
        if (!strcmp(argv[i], "--header")) {
            a->header = true;
            continue;
        }
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (!strcmp(argv[i], "--file"))
            a->file = v;
        else if (!strcmp(argv[i], "--name"))
            a->name = v;
        else if (!strcmp(argv[i], "--keep"))
            a->keep = v;
        else if (!strcmp(argv[i], "--memtable-mib"))
            a->memtable = strtoull(v, NULL, 10) << 20;
        else if (!strcmp(argv[i], "--lines"))
            a->max_lines = strtoull(v, NULL, 10);
        else if (!strcmp(argv[i], "--repeat"))
            a->repeat = atoi(v);
        else
            usage();
        i++;
    }
    if (!a->file || a->repeat < 1) usage();
}

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* VmHWM / VmRSS of this process in KiB (0 if unknown). */
static long status_kib(const char *field)
{
    char line[256];
    long v = 0;
    size_t n = strlen(field);
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, n)) v = atol(line + n + 1);
    if (f) fclose(f);
    return v;
}

/* Resets the peak RSS to the current RSS (Linux clear_refs "5"). */
static void reset_peak_rss(void)
{
    int fd = open("/proc/self/clear_refs", O_WRONLY);
    if (fd >= 0) {
        if (write(fd, "5", 1) != 1) fprintf(stderr, "cannot reset VmHWM\n");
        close(fd);
    }
}

/* ---- import ------------------------------------------------------------------ */

struct reader {
    int fd;
    char *buf;
    size_t cap, len, off;
    bool eof;
};

/* The next run of up to `want` whole lines. */
static size_t next_lines(struct reader *r, int want, const char **out)
{
    for (;;) {
        int n = 0;
        size_t i = r->off;
        while (i < r->len && n < want) {
            char *nl = memchr(r->buf + i, '\n', r->len - i);
            if (!nl) break;
            i = (size_t)(nl - r->buf) + 1;
            n++;
        }
        if (n == want || (r->eof && r->off < r->len)) {
            if (n < want) i = r->len;
            *out = r->buf + r->off;
            size_t got = i - r->off;
            r->off = i;
            return got;
        }
        if (r->eof) return 0;
        memmove(r->buf, r->buf + r->off, r->len - r->off);
        r->len -= r->off;
        r->off = 0;
        if (r->len == r->cap) {
            r->cap *= 2;
            r->buf = realloc(r->buf, r->cap);
        }
        ssize_t k = read(r->fd, r->buf + r->len, r->cap - r->len);
        if (k <= 0)
            r->eof = true;
        else
            r->len += (size_t)k;
    }
}

static int import(struct ne_store *s, const struct args *a, uint64_t *values)
{
    struct reader rd = {.fd = open(a->file, O_RDONLY), .cap = 4 << 20};
    if (rd.fd < 0) {
        perror(a->file);
        return NE_EIO;
    }
    rd.buf = malloc(rd.cap);
    struct ne_batch b;
    ne_batch_init(&b);
    struct ne_decode_opts dopts = {.format = NE_PAYLOAD_LINE};
    uint64_t lines = 0;
    const char *p;
    size_t n;
    int rc = 0;
    while (!rc && (n = next_lines(&rd, 5000, &p)) > 0) {
        ne_batch_reset(&b);
        struct ne_decode_report rep;
        ne_decode(&dopts, p, n, &b, &rep);
        lines += rep.records;
        struct ne_write_result res;
        while ((rc = ne_store_write(s, "bench", &b, &res)) == NE_EBUSY)
            ne_time_sleep_ns(200000);
        *values += ne_batch_values(&b);
        if (a->max_lines && lines >= a->max_lines) break;
    }
    ne_batch_free(&b);
    free(rd.buf);
    close(rd.fd);
    return rc;
}

/* ---- conversion ------------------------------------------------------------------ */

struct sink {
    const char *keep;
    uint64_t objects;
};

static int on_object(void *ctx, const struct ne_seg2pq_obj *o)
{
    struct sink *k = ctx;
    k->objects++;
    if (!k->keep) return 0;
    char dir[4096], path[4352];
    snprintf(dir, sizeof dir, "%s/%s", k->keep, o->key_suffix);
    int rc = ne_fs_mkdir_p(dir);
    if (rc) return rc;
    snprintf(path, sizeof path, "%s/%s", dir, strrchr(o->path, '/') + 1);
    if (link(o->path, path) != 0) {
        perror(path);
        return NE_EIO;
    }
    return 0;
}

struct result {
    uint64_t segments, seg_bytes, seg_values;
    uint64_t objects, rows, values, bytes, nulled;
    int64_t wall_ns, cpu_ns;
    long peak_add_kib;
};

static int convert_all(struct ne_store *s, const char *spool, const char *keep, struct result *r)
{
    size_t max = 1u << 16;
    struct ne_store_seg_desc *segs = malloc(max * sizeof *segs);
    if (!segs) return NE_ENOMEM;
    size_t n = ne_store_segments_after(s, 0, segs, max, NULL);
    struct ne_seg2pq_opts o = {
        .spool_dir = spool, .resolve = ne_seg2pq_resolve_store, .resolve_ctx = s, .node = "bench"};
    struct sink k = {.keep = keep};
    malloc_trim(0); /* what import and compaction freed leaves the RSS */
    long rss0 = status_kib("VmRSS:");
    reset_peak_rss();
    int64_t t0 = ne_time_mono_ns(), c0 = thread_cpu_ns();
    int rc = 0;
    for (size_t i = 0; !rc && i < n; i++) {
        struct ne_seg2pq_stats st;
        rc = ne_seg2pq_convert(segs[i].path, &o, 0, on_object, &k, &st);
        r->segments++;
        r->seg_bytes += segs[i].bytes;
        r->seg_values += segs[i].points;
        r->objects += st.objects;
        r->rows += st.rows;
        r->values += st.values;
        r->bytes += st.bytes;
        r->nulled += st.uint_nulled;
    }
    r->wall_ns = ne_time_mono_ns() - t0;
    r->cpu_ns = thread_cpu_ns() - c0;
    r->peak_add_kib = status_kib("VmHWM:") - rss0;
    free(segs);
    return rc;
}

int main(int argc, char **argv)
{
    struct args a = {0};
    parse_args(argc, argv, &a);
    ne_log_set_level(NE_LOG_WARN);
    char tmpl[] = "/tmp/neoedge-bench-seg2pq-XXXXXX";
    const char *dir = mkdtemp(tmpl);
    if (!dir) {
        perror("mkdtemp");
        return 1;
    }
    struct ne_store_opts o;
    ne_store_opts_default(&o);
    o.data_dir = dir;
    o.durability = NE_STORE_NONE;
    o.memtable_bytes = a.memtable;
    o.future_grace_ns = 0;
    o.max_series_per_db = 0;
    o.max_series_per_measurement = 0;
    /* as with a sink configured: flush segments stay as they are until
     * synced (background compaction would replace them while we convert) */
    o.hold_for_sync = !a.compact;
    struct ne_store *s;
    int rc = ne_store_open(&o, &s);
    uint64_t values_in = 0;
    if (!rc) rc = import(s, &a, &values_in);
    if (!rc) rc = ne_store_flush(s);
    if (!rc && a.compact) rc = ne_store_compact(s);
    char spool[4200];
    snprintf(spool, sizeof spool, "%s/spool", dir);
    if (!rc) rc = ne_fs_mkdir_p(spool);
    struct result r = {0};
    for (int i = 0; !rc && i < a.repeat; i++) {
        struct result ri = {0};
        rc = convert_all(s, spool, i == 0 ? a.keep : NULL, &ri);
        if (i == 0 || ri.wall_ns < r.wall_ns) r = ri;
    }
    if (s) ne_store_close(&s);
    ne_fs_remove_tree(dir);
    if (rc) {
        fprintf(stderr, "bench_seg2pq: %s\n", ne_strerror(rc));
        return 1;
    }
    if (a.keep) {
        char path[4200], txt[32];
        snprintf(path, sizeof path, "%s/values", a.keep);
        snprintf(txt, sizeof txt, "%" PRIu64 "\n", r.values);
        ne_fs_write_atomic(path, txt, strlen(txt));
    }
    double v = r.seg_values ? (double)r.seg_values : 1;
    if (a.header) {
        printf(
            "| data | segments | field values | segment B/value | objects | rows | Parquet "
            "B/value | M values/s (wall, with fsync) | M values per CPU s | CPU s per GB Parquet | "
            "peak RSS added |\n");
        printf("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    }
    printf("| %s | %" PRIu64 " | %" PRIu64 " | %.3f | %" PRIu64 " | %" PRIu64
           " | %.3f | %.2f | %.2f | %.1f | %.1f MiB |\n",
           a.name, r.segments, r.seg_values, r.seg_bytes / v, r.objects, r.rows, r.bytes / v,
           r.values / (r.wall_ns / 1e9) / 1e6, r.values / (r.cpu_ns / 1e9) / 1e6,
           (r.cpu_ns / 1e9) / (r.bytes / 1e9), r.peak_add_kib / 1024.0);
    if (r.values != r.seg_values)
        fprintf(stderr,
                "note: %" PRIu64 " values in segments, %" PRIu64 " converted (%" PRIu64
                " unsigned nulled)\n",
                r.seg_values, r.values, r.nulled);
    if (values_in != r.seg_values)
        fprintf(stderr, "note: %" PRIu64 " values imported, %" PRIu64 " in segments\n", values_in,
                r.seg_values);
    return 0;
}
