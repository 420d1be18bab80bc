/*
 * engine_crash_test.c - crash loop. A child process writes batches (sync and
 * interval durability, alternating) and reports each acknowledged batch to
 * the parent through a pipe; the parent SIGKILLs it at a random moment
 * (during open/recovery, mid-write, mid-flush), reopens the store and
 * checks that every acknowledged point is present with its value.
 * NEOEDGE_CRASH_ITERATIONS sets the number of kills (default 200);
 * NEOEDGE_CRASH_SEED the random seed (printed on failure).
 */
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine_util.h"
#include "t.h"

#include "ports/log.h"

#define PTS  40 /* points per batch */
#define DEVS 8  /* series */
#define MAXB 4096

static char g_dir[256];
static uint64_t g_rng;

static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static const char *const devs[DEVS] = {"d0", "d1", "d2", "d3", "d4", "d5", "d6", "d7"};

/* Point p of batch k of iteration it: series devs[p % DEVS], a timestamp
 * unique per (it, k, p / DEVS), a value derived from all three. */
static int64_t ts_of(int it, int k, int p)
{
    return EU_T0 + ((int64_t)it * MAXB * PTS + (int64_t)k * PTS + p / DEVS) * EU_SEC;
}

static double val_of(int it, int k, int p)
{
    return it * 1e6 + k * 100 + p;
}

static void opts_for(struct ne_store_opts *o, int it)
{
    eu_opts(o, g_dir);
    o->durability = it % 2 ? NE_STORE_INTERVAL : NE_STORE_SYNC;
    o->max_loss_ns = 5000000;
    o->memtable_bytes = 96 << 10; /* flushes (and segments) every few batches */
    o->segment_target_bytes = 1 << 20;
}

static void child(int it, int fd)
{
    struct ne_store_opts o;
    opts_for(&o, it);
    struct ne_store *s;
    if (ne_store_open(&o, &s) != 0) _exit(2);
    struct ne_batch b;
    ne_batch_init(&b);
    for (int k = 0; k < MAXB; k++) {
        ne_batch_reset(&b);
        for (int p = 0; p < PTS; p++) {
            union ne_value iv = {.i = k};
            ne_batch_begin(&b, NE_SV("m"), ts_of(it, k, p));
            ne_batch_tag(&b, NE_SV("dev"), ne_sv_c(devs[p % DEVS]));
            ne_batch_field_f(&b, NE_SV("x"), val_of(it, k, p));
            ne_batch_field(&b, NE_SV("k"), NE_V_INT, iv);
            ne_batch_end(&b);
        }
        struct ne_write_result r;
        int rc;
        while ((rc = ne_store_write(s, "iot", &b, &r)) == NE_EBUSY)
            ne_time_sleep_ns(1000000);
        if (rc || r.accepted != PTS) _exit(3);
        uint32_t kk = (uint32_t)k;
        if (write(fd, &kk, sizeof kk) != sizeof kk) _exit(4);
    }
    _exit(0);
}

struct acked {
    bool b[MAXB];
    int n;
};

/* Runs one child, kills it at a random moment; fills which batches were
 * acknowledged. Returns 0 or -1 if the child failed by itself. */
static int run_child(int it, struct acked *a)
{
    int pfd[2];
    if (pipe(pfd) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        child(it, pfd[1]);
    }
    close(pfd[1]);
    memset(a, 0, sizeof *a);
    int want = (int)(rnd() % 40); /* acks to wait for before the kill */
    uint32_t k;
    while (a->n < want && read(pfd[0], &k, sizeof k) == sizeof k) {
        a->b[k] = true;
        a->n++;
    }
    ne_time_sleep_ns((int64_t)(rnd() % 3000) * 1000);
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    while (read(pfd[0], &k, sizeof k) == sizeof k) {
        a->b[k] = true;
        a->n++;
    }
    close(pfd[0]);
    if (WIFEXITED(st)) {
        fprintf(stderr, "iteration %d: child exited by itself with %d\n", it, WEXITSTATUS(st));
        return -1;
    }
    return 0;
}

struct check {
    int it;
    const struct acked *a;
    size_t seen_x, bad;
    bool found[MAXB][PTS];
};

static int check_chunk(void *ctx, const struct ne_scan_chunk *c)
{
    struct check *ck = ctx;
    if (strcmp(c->field, "x") != 0) return 0;
    int d = c->series->tags[0].val.p[1] - '0';
    for (size_t i = 0; i < c->n; i++) {
        int64_t rel = (c->ts[i] - EU_T0) / EU_SEC - (int64_t)ck->it * MAXB * PTS;
        int k = (int)(rel / PTS), p = (int)(rel % PTS) * DEVS + d;
        if (k < 0 || k >= MAXB || p >= PTS || c->v.f[i] != val_of(ck->it, k, p)) {
            ck->bad++;
            continue;
        }
        ck->found[k][p] = true;
        ck->seen_x++;
    }
    return 0;
}

/* Every acknowledged point of iteration it is there with its value. */
static int verify_iteration(struct ne_store *s, int it, const struct acked *a)
{
    struct check *ck = calloc(1, sizeof *ck);
    ck->it = it;
    ck->a = a;
    struct ne_store_scan_req q = {.db = "iot",
                                  .measurement = "m",
                                  .field = "x",
                                  .t0 = ts_of(it, 0, 0),
                                  .t1 = ts_of(it, MAXB - 1, PTS - 1)};
    int rc = ne_store_scan(s, &q, check_chunk, ck);
    if (rc == NE_ENOTFOUND && a->n == 0) rc = 0;
    size_t missing = 0;
    for (int k = 0; k < MAXB; k++)
        for (int p = 0; a->b[k] && p < PTS; p++)
            missing += !ck->found[k][p];
    if (rc || missing || ck->bad) {
        fprintf(stderr, "iteration %d: scan %d, %zu acknowledged points missing, %zu wrong\n", it,
                rc, missing, ck->bad);
        rc = -1;
    }
    free(ck);
    return rc;
}

static void test_crash_loop(void)
{
    const char *e = getenv("NEOEDGE_CRASH_ITERATIONS");
    int iters = e ? atoi(e) : 200;
    e = getenv("NEOEDGE_CRASH_SEED");
    g_rng = e ? strtoull(e, NULL, 10) : (uint64_t)ne_time_mono_ns() | 1;
    uint64_t seed = g_rng;
    T_CHECK(t_tmpdir(g_dir, sizeof g_dir));
    struct acked *hist = calloc((size_t)iters, sizeof *hist);
    int failures = 0;
    long total_acked = 0;
    for (int it = 0; it < iters && failures == 0; it++) {
        if (run_child(it, &hist[it]) != 0) {
            failures++;
            break;
        }
        total_acked += hist[it].n;
        struct ne_store_opts o;
        opts_for(&o, it);
        struct ne_store *s = NULL;
        if (ne_store_open(&o, &s) != 0) {
            fprintf(stderr, "iteration %d: reopen failed\n", it);
            failures++;
            break;
        }
        failures += verify_iteration(s, it, &hist[it]) != 0;
        /* now and then: everything acknowledged so far, and a compaction */
        if (it % 25 == 24 || it == iters - 1) {
            for (int j = 0; j <= it && !failures; j++)
                failures += verify_iteration(s, j, &hist[j]) != 0;
            if (ne_store_compact(s) != 0) failures++;
        }
        ne_store_close(&s);
    }
    if (failures)
        fprintf(stderr, "crash loop failed; rerun with NEOEDGE_CRASH_SEED=%llu\n",
                (unsigned long long)seed);
    else
        fprintf(stderr, "%d kills, %ld acknowledged batches verified\n", iters, total_acked);
    T_EQ_INT(failures, 0);
    FILE *f = fopen("/dev/null", "w");
    T_OK(ne_store_verify_dir(g_dir, f));
    fclose(f);
    free(hist);
    eu_rmtree(g_dir);
}

int main(void)
{
    ne_log_set_level(NE_LOG_OFF);
    T_RUN(test_crash_loop);
    return t_done();
}
