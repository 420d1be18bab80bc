/*
 * bench_store.c - imports a line-protocol file through ne_store_write in
 * batches (default 5,000 lines, durability interval), then flushes and
 * compacts, and prints a table: field values/s (store write path alone, and
 * end to end with decoding), CPU seconds per million values, bytes on disk
 * per field value, peak RSS, idle RSS. Never asserts on time.
 *
 *   python3 /work/shared/bench/gen_iot.py --shape sensors --devices 1000 \
 *       --duration 1h --seed 1 > s1.lp
 *   bench_store --file s1.lp [--dir DIR] [--batch 5000] [--durability sync|interval|none]
 *               [--memtable-mib 16] [--lines N]
 */
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ingest/decode/decode.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "store/store.h"

struct args {
    const char *file, *dir;
    int batch;
    enum ne_store_durability dur;
    uint64_t memtable;
    uint64_t max_lines;
};

static void usage(void)
{
    fprintf(stderr, "usage: bench_store --file FILE.lp [--dir DIR] [--batch N] "
                    "[--durability sync|interval|none] [--memtable-mib N] [--lines N]\n");
    exit(2);
}

static void parse_args(int argc, char **argv, struct args *a)
{
    a->batch = 5000;
    a->dur = NE_STORE_INTERVAL;
    a->memtable = 16u << 20;
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v) usage();
        if (!strcmp(argv[i], "--file"))
            a->file = v;
        else if (!strcmp(argv[i], "--dir"))
            a->dir = v;
        else if (!strcmp(argv[i], "--batch"))
            a->batch = atoi(v);
        else if (!strcmp(argv[i], "--memtable-mib"))
            a->memtable = (uint64_t)atoi(v) << 20;
        else if (!strcmp(argv[i], "--lines"))
            a->max_lines = strtoull(v, NULL, 10);
        else if (!strcmp(argv[i], "--durability"))
            a->dur = !strcmp(v, "sync")   ? NE_STORE_SYNC
                     : !strcmp(v, "none") ? NE_STORE_NONE
                                          : NE_STORE_INTERVAL;
        else
            usage();
        i++;
    }
    if (!a->file || a->batch <= 0) usage();
}

static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss / 1024.0;
}

static double cur_rss_mib(void)
{
    long pages = 0, rss = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &rss) != 2) rss = 0;
        fclose(f);
    }
    return rss * (double)sysconf(_SC_PAGESIZE) / (1 << 20);
}

/* Reads the file in chunks and hands each run of `batch` lines to fn. */
struct reader {
    int fd;
    char *buf;
    size_t cap, len, off;
    bool eof;
};

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
        if (n == want || (r->eof && i == r->len) || (r->eof && n)) {
            if (r->eof && n < want) i = r->len;
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

int main(int argc, char **argv)
{
    struct args a = {0};
    parse_args(argc, argv, &a);
    ne_log_set_level(NE_LOG_WARN);
    char tmpl[] = "/tmp/neoedge-bench-store-XXXXXX";
    const char *dir = a.dir ? a.dir : mkdtemp(tmpl);
    struct reader rd = {.fd = open(a.file, O_RDONLY), .cap = 4 << 20};
    if (rd.fd < 0 || !dir) {
        perror(a.file);
        return 1;
    }
    rd.buf = malloc(rd.cap);
    struct ne_store_opts o;
    ne_store_opts_default(&o);
    o.data_dir = dir;
    o.durability = a.dur;
    o.memtable_bytes = a.memtable;
    o.future_grace_ns = 0;
    o.max_series_per_db = 0;
    o.max_series_per_measurement = 0;
    struct ne_store *s;
    int rc = ne_store_open(&o, &s);
    if (rc) {
        fprintf(stderr, "open: %s\n", ne_strerror(rc));
        return 1;
    }
    double idle_rss = cur_rss_mib();
    struct ne_batch b;
    ne_batch_init(&b);
    struct ne_decode_opts dopts = {.format = NE_PAYLOAD_LINE};
    uint64_t lines = 0, values = 0, points = 0, busy = 0, rejected = 0;
    int64_t store_ns = 0, store_cpu_ns = 0, t_start = ne_time_mono_ns();
    double cpu0 = cpu_s();
    const char *p;
    size_t n;
    while ((n = next_lines(&rd, a.batch, &p)) > 0) {
        ne_batch_reset(&b);
        struct ne_decode_report rep;
        ne_decode(&dopts, p, n, &b, &rep);
        lines += rep.records;
        struct ne_write_result res;
        int64_t t0 = ne_time_mono_ns(), c0 = thread_cpu_ns();
        while ((rc = ne_store_write(s, "bench", &b, &res)) == NE_EBUSY) {
            busy++;
            ne_time_sleep_ns(200000);
        }
        store_ns += ne_time_mono_ns() - t0;
        store_cpu_ns += thread_cpu_ns() - c0;
        if (rc) {
            fprintf(stderr, "write: %s\n", ne_strerror(rc));
            return 1;
        }
        points += res.accepted;
        rejected += res.rejected;
        values += ne_batch_values(&b);
        if (a.max_lines && lines >= a.max_lines) break;
    }
    int64_t t_ingest = ne_time_mono_ns() - t_start;
    double ingest_peak = peak_rss_mib(), ingest_rss = cur_rss_mib();
    struct ne_store_stats st0;
    ne_store_stats(s, &st0);
    double cpu_ingest = cpu_s() - cpu0;
    int64_t t1 = ne_time_mono_ns();
    rc = ne_store_flush(s);
    if (!rc) rc = ne_store_compact(s);
    int64_t t_compact = ne_time_mono_ns() - t1;
    if (rc) fprintf(stderr, "flush/compact: %s\n", ne_strerror(rc));
    struct ne_store_stats st;
    ne_store_stats(s, &st);
    double after_rss = cur_rss_mib();
    char segdir[4200];
    snprintf(segdir, sizeof segdir, "%s/store/seg", dir);
    uint64_t seg_bytes = 0, all_bytes = 0;
    ne_fs_dir_usage(segdir, &seg_bytes);
    ne_fs_dir_usage(dir, &all_bytes);
    ne_store_close(&s);
    ne_batch_free(&b);
    free(rd.buf);
    close(rd.fd);

    const char *durs[] = {"sync", "interval", "none"};
    printf("store benchmark: %s, batches of %d lines, durability %s, memtable %" PRIu64 " MiB\n",
           a.file, a.batch, durs[a.dur], a.memtable >> 20);
    printf("| metric | value |\n|---|---|\n");
    printf("| lines / points / field values | %" PRIu64 " / %" PRIu64 " / %" PRIu64 " |\n", lines,
           points, values);
    printf("| rejected points | %" PRIu64 " |\n", rejected);
    printf("| store write path (ne_store_write only) | %.2f M values/s |\n",
           values / (store_ns / 1e9) / 1e6);
    printf("| store write path, per core (writer thread CPU) | %.2f M values/s |\n",
           values / (store_cpu_ns / 1e9) / 1e6);
    printf("| end to end (decode + write, wall) | %.2f M values/s |\n",
           values / (t_ingest / 1e9) / 1e6);
    printf("| CPU seconds per million values (decode + write, all threads) | %.3f |\n",
           cpu_ingest / (values / 1e6));
    printf("| flush + compaction (wall) | %.2f s |\n", t_compact / 1e9);
    printf("| segments at the end of ingest / after compaction | %" PRIu64 " / %" PRIu64 " |\n",
           st0.segments, st.segments);
    printf("| bytes on disk per field value (segments) | %.3f |\n",
           values ? (double)seg_bytes / values : 0);
    printf("| bytes on disk, whole store (segments, WAL, index) | %" PRIu64 " |\n", all_bytes);
    printf("| backpressure waits (NE_EBUSY) | %" PRIu64 " |\n", busy);
    printf("| peak RSS | %.1f MiB |\n", peak_rss_mib());
    printf("| peak RSS during ingest / RSS at its end | %.1f / %.1f MiB |\n", ingest_peak,
           ingest_rss);
    printf("| idle RSS (store open, empty) | %.1f MiB |\n", idle_rss);
    printf("| RSS after compaction (store open) | %.1f MiB |\n", after_rss);
    if (!a.dir) ne_fs_remove_tree(dir);
    return 0;
}
