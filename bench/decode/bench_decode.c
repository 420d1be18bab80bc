/*
 * bench_decode.c - line-protocol decode throughput on one core.
 *
 * Usage: bench_decode [-l LINES_PER_BATCH] [-r REPEAT] NAME=FILE...
 * Each FILE (line protocol, e.g. from gen_iot.py) is read into memory, cut
 * into batches of LINES_PER_BATCH lines (default 5000, what HTTP clients
 * send) and decoded REPEAT times (default 3) into one reused batch; the best
 * run is reported. Times are the thread's CPU time, so the figures are per
 * core even on a busy machine. Prints one row per file: MB/s, lines/s and field
 * values/s. No assertion on time: this prints figures, it does not judge.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest/decode/decode.h"
#include "ports/platform.h"

struct dataset {
    const char *name;
    char *buf;
    size_t len;
    size_t *cuts; /* batch boundaries: ncuts + 1 offsets */
    size_t ncuts;
    uint64_t lines;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int load(struct dataset *d, const char *path, size_t per_batch)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s\n", path);
        return -1;
    }
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    d->buf = malloc((size_t)n + 1);
    if (!d->buf || fread(d->buf, 1, (size_t)n, f) != (size_t)n) {
        fclose(f);
        fprintf(stderr, "cannot read %s\n", path);
        return -1;
    }
    fclose(f);
    d->len = (size_t)n;
    size_t cap = 1024;
    d->cuts = malloc(cap * sizeof *d->cuts);
    d->cuts[0] = 0;
    d->ncuts = 0;
    size_t in_batch = 0;
    for (size_t i = 0; i < d->len; i++) {
        if (d->buf[i] != '\n') continue;
        d->lines++;
        if (++in_batch == per_batch || i + 1 == d->len) {
            if (d->ncuts + 2 > cap) {
                cap *= 2;
                d->cuts = realloc(d->cuts, cap * sizeof *d->cuts);
            }
            d->cuts[++d->ncuts] = i + 1;
            in_batch = 0;
        }
    }
    if (d->cuts[d->ncuts] != d->len) {
        d->cuts[++d->ncuts] = d->len;
    }
    return 0;
}

static int run(const struct dataset *d, int repeat)
{
    struct ne_batch b;
    ne_batch_init(&b);
    struct ne_decode_opts o;
    memset(&o, 0, sizeof o);
    o.format = NE_PAYLOAD_LINE;
    o.now_ns = 1;
    double best = 1e30;
    uint64_t values = 0, points = 0, bad = 0;
    for (int r = 0; r < repeat; r++) {
        values = points = bad = 0;
        double t0 = now_s();
        for (size_t k = 0; k < d->ncuts; k++) {
            struct ne_decode_report rep;
            ne_batch_reset(&b);
            int rc = ne_decode(&o, d->buf + d->cuts[k], d->cuts[k + 1] - d->cuts[k], &b, &rep);
            if (rc == NE_ENOMEM) {
                fprintf(stderr, "out of memory\n");
                return -1;
            }
            values += rep.values;
            points += rep.points;
            bad += rep.bad;
        }
        double t = now_s() - t0;
        if (t < best) best = t;
    }
    ne_batch_free(&b);
    printf("| %-8s | %9.1f | %9" PRIu64 " | %10" PRIu64 " | %6" PRIu64
           " | %8.3f | %8.1f | %11.2f | %13.2f |\n",
           d->name, (double)d->len / 1e6, points, values, bad, best, (double)d->len / 1e6 / best,
           (double)d->lines / best / 1e6, (double)values / best / 1e6);
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    size_t per_batch = 5000;
    int repeat = 3, i = 1, rc = 0;
    for (; i < argc && argv[i][0] == '-'; i += 2) {
        if (i + 1 >= argc) break;
        if (!strcmp(argv[i], "-l"))
            per_batch = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "-r"))
            repeat = atoi(argv[i + 1]);
    }
    if (i >= argc || per_batch == 0 || repeat < 1) {
        fprintf(stderr, "usage: bench_decode [-l LINES_PER_BATCH] [-r REPEAT] NAME=FILE...\n");
        return 2;
    }
    printf("line-protocol decode, one core, batches of %zu lines, best of %d\n\n", per_batch,
           repeat);
    printf("| dataset  |        MB |    points |     values |    bad |        s |     MB/s | M "
           "lines/s | M values/s |\n");
    printf("|----------|-----------|-----------|------------|--------|----------|----------|-------"
           "----|------------|\n");
    for (; i < argc; i++) {
        struct dataset d;
        memset(&d, 0, sizeof d);
        char *eq = strchr(argv[i], '=');
        d.name = eq ? argv[i] : "data";
        const char *path = eq ? eq + 1 : argv[i];
        if (eq) *eq = '\0';
        if (load(&d, path, per_batch) != 0) return 1;
        if (run(&d, repeat) != 0) rc = 1;
        free(d.buf);
        free(d.cuts);
    }
    return rc;
}
