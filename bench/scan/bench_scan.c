/*
 * bench_scan.c - full-decode scan throughput of the store: the path a query
 * takes when it needs every point (percentile, raw SELECT, field filters).
 *
 *   bench_scan [-r REPEAT] [-t THREADS] DATA_DIR DB MEASUREMENT [FIELD...]
 *
 * Opens the store in DATA_DIR (no daemon may run on it), compacts it, then
 * for each FIELD (default: every field of MEASUREMENT) scans every series
 * with ne_store_scan over all time: segment blocks are read, checked,
 * decoded (timestamps and values), merged with the memtables and handed to
 * a callback that folds every timestamp and value, as the query engine's
 * callbacks do. Each row is the best of REPEAT passes (default 5):
 *   - CPU ms: the scanning threads' CPU time together (CLOCK_THREAD_CPUTIME_ID);
 *   - M values/s per core: decoded (timestamp, value) pairs per CPU second;
 *   - M values/s wall: the same per wall second (with -t 2, both threads
 *     split the series between them by id).
 * Figures only: nothing is asserted.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ports/platform.h"
#include "store/store.h"

#define MAX_THREADS 8
#define MAX_FIELDS 64

struct job {
    struct ne_store *s;
    const char *db, *meas, *field;
    unsigned k, nthreads;
    uint64_t values, series;
    uint64_t fold; /* keeps the loops honest */
    double cpu_s;
    int rc;
};

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool mine(void *ctx, const struct ne_series_info *s)
{
    const struct job *j = ctx;
    return s->id % j->nthreads == j->k;
}

static int on_chunk(void *ctx, const struct ne_scan_chunk *c)
{
    struct job *j = ctx;
    uint64_t acc = 0;
    for (size_t i = 0; i < c->n; i++)
        acc += (uint64_t)c->ts[i];
    if (c->type == NE_V_FLOAT || c->type == NE_V_INT || c->type == NE_V_UINT)
        for (size_t i = 0; i < c->n; i++)
            acc ^= c->v.u[i];
    else if (c->type == NE_V_BOOL)
        for (size_t i = 0; i < c->n; i++)
            acc += c->v.b[i];
    else
        for (size_t i = 0; i < c->n; i++)
            acc += c->v.s[i].n;
    j->fold += acc;
    j->values += c->n;
    j->series++;
    return 0;
}

static void *run_job(void *arg)
{
    struct job *j = arg;
    struct ne_store_scan_req q = {.db = j->db, .measurement = j->meas, .filter = mine,
                                  .filter_ctx = j, .field = j->field, .t0 = INT64_MIN,
                                  .t1 = INT64_MAX};
    double t0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
    j->rc = ne_store_scan(j->s, &q, on_chunk, j);
    j->cpu_s = clock_s(CLOCK_THREAD_CPUTIME_ID) - t0;
    return NULL;
}

struct fields {
    char *name[MAX_FIELDS];
    size_t n;
};

static int add_field(void *ctx, const char *name, enum ne_vtype type)
{
    struct fields *f = ctx;
    (void)type;
    if (f->n < MAX_FIELDS) f->name[f->n++] = strdup(name);
    return 0;
}

/* One pass over field with nthreads threads: *sum gets the threads' values,
 * series and CPU seconds added up, *wall_s the pass's wall time.
 * 0, or -1 (reported) when a scan failed. */
static int pass(struct ne_store *s, const char *db, const char *meas, const char *field,
                unsigned nthreads, struct job *sum, double *wall_s)
{
    struct job jobs[MAX_THREADS];
    pthread_t th[MAX_THREADS];
    double w0 = clock_s(CLOCK_MONOTONIC);
    for (unsigned k = 0; k < nthreads; k++) {
        jobs[k] = (struct job){.s = s, .db = db, .meas = meas, .field = field, .k = k,
                               .nthreads = nthreads};
        if (nthreads == 1)
            run_job(&jobs[k]);
        else if (pthread_create(&th[k], NULL, run_job, &jobs[k]) != 0)
            return -1;
    }
    for (unsigned k = 0; nthreads > 1 && k < nthreads; k++)
        pthread_join(th[k], NULL);
    *wall_s = clock_s(CLOCK_MONOTONIC) - w0;
    memset(sum, 0, sizeof *sum);
    for (unsigned k = 0; k < nthreads; k++) {
        if (jobs[k].rc) {
            fprintf(stderr, "scan of %s: %s\n", field, ne_strerror(jobs[k].rc));
            return -1;
        }
        sum->values += jobs[k].values;
        sum->series += jobs[k].series;
        sum->fold += jobs[k].fold;
        sum->cpu_s += jobs[k].cpu_s;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int repeat = 5, i = 1;
    unsigned nthreads = 1;
    for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
        if (!strcmp(argv[i], "-r"))
            repeat = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "-t"))
            nthreads = (unsigned)atoi(argv[i + 1]);
    }
    if (argc - i < 3 || repeat < 1 || nthreads < 1 || nthreads > MAX_THREADS) {
        fprintf(stderr, "usage: bench_scan [-r REPEAT] [-t THREADS] DATA_DIR DB MEASUREMENT "
                        "[FIELD...]\n");
        return 2;
    }
    const char *dir = argv[i], *db = argv[i + 1], *meas = argv[i + 2];
    struct ne_store_opts o;
    ne_store_opts_default(&o);
    o.data_dir = dir;
    struct ne_store *s = NULL;
    int rc = ne_store_open(&o, &s);
    if (rc == 0) rc = ne_store_compact(s);
    if (rc) {
        fprintf(stderr, "cannot open the store in %s: %s\n", dir, ne_strerror(rc));
        return 1;
    }
    struct fields f = {0};
    for (int k = i + 3; k < argc; k++)
        add_field(&f, argv[k], NE_V_FLOAT);
    if (f.n == 0 && (rc = ne_store_field_keys(s, db, meas, add_field, &f)) != 0) {
        fprintf(stderr, "no fields in %s.%s: %s\n", db, meas, ne_strerror(rc));
        ne_store_close(&s);
        return 1;
    }
    printf("full-decode scan (ne_store_scan: read, check, decode timestamps + values, merge), "
           "%u thread(s), best of %d\n\n",
           nthreads, repeat);
    printf("| field        | series |     values |   CPU ms |  wall ms | M values/s per core | "
           "M values/s wall |\n");
    printf("|--------------|-------:|-----------:|---------:|---------:|--------------------:|"
           "----------------:|\n");
    uint64_t all_v = 0;
    double all_cpu = 0, all_wall = 0, fold = 0;
    for (size_t k = 0; k < f.n; k++) {
        struct job best = {0}, cur;
        double best_wall = 1e30, wall;
        best.cpu_s = 1e30;
        for (int r = 0; r < repeat; r++) {
            if (pass(s, db, meas, f.name[k], nthreads, &cur, &wall) != 0) {
                ne_store_close(&s);
                return 1;
            }
            if (cur.cpu_s < best.cpu_s) best = cur;
            if (wall < best_wall) best_wall = wall;
        }
        fold += (double)(best.fold & 0xff);
        all_v += best.values;
        all_cpu += best.cpu_s;
        all_wall += best_wall;
        printf("| %-12s | %6" PRIu64 " | %10" PRIu64 " | %8.1f | %8.1f | %19.1f | %15.1f |\n",
               f.name[k], best.series, best.values, best.cpu_s * 1e3, best_wall * 1e3,
               (double)best.values / best.cpu_s / 1e6, (double)best.values / best_wall / 1e6);
        free(f.name[k]);
    }
    printf("| %-12s | %6s | %10" PRIu64 " | %8.1f | %8.1f | %19.1f | %15.1f |\n", "all", "",
           all_v, all_cpu * 1e3, all_wall * 1e3, (double)all_v / all_cpu / 1e6,
           (double)all_v / all_wall / 1e6);
    fprintf(stderr, "(fold %g)\n", fold);
    ne_store_close(&s);
    return 0;
}
