/*
 * engine_delete_crash_test.c - crash loop for deletion. A child writes
 * batches and deletes some of them again (one device's points of the batch
 * before), reporting every acknowledged write and delete through a pipe;
 * the parent SIGKILLs it at a random moment (mid-write, mid-delete, during
 * the flush a delete makes, during compaction purging), reopens the store
 * and checks every batch of every iteration so far: an acknowledged delete
 * holds, an acknowledged write not deleted is whole, anything else is all
 * or nothing. NEOEDGE_CRASH_ITERATIONS sets the kills (default 40),
 * NEOEDGE_CRASH_SEED the random seed (printed on failure).
 */
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine_util.h"
#include "t.h"

#include "ports/log.h"

#define DEVS  4
#define PTS   25 /* points per device and batch */
#define MAXB  64 /* batches per iteration */
#define ITMAX 1000

static char g_dir[256];
static uint64_t g_rng;

static uint64_t rnd(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static const char *const devs[DEVS] = {"d0", "d1", "d2", "d3"};

static int64_t ts_of(int it, int k, int j)
{
    return EU_T0 + ((int64_t)it * MAXB * PTS + (int64_t)k * PTS + j) * EU_SEC;
}

static double val_of(int it, int k, int d, int j)
{
    return it * 1e6 + k * 1000 + d * 100 + j;
}

static void opts_for(struct ne_store_opts *o, int it)
{
    eu_opts(o, g_dir);
    o->durability = it % 2 ? NE_STORE_INTERVAL : NE_STORE_SYNC;
    o->max_loss_ns = 5000000;
    o->memtable_bytes = 64 << 10;
    o->segment_target_bytes = 1 << 20;
}

/* What the parent learns: w = batch written, d = device deleted + 1. */
struct ack {
    uint8_t kind, k, dev;
};

static bool dev_is(void *ctx, const struct ne_series_info *si)
{
    return si->ntags && strcmp(si->tags[0].val.p, ctx) == 0;
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
        for (int d = 0; d < DEVS; d++)
            for (int j = 0; j < PTS; j++)
                eu_point_f(&b, "m", "dev", devs[d], "x", ts_of(it, k, j), val_of(it, k, d, j));
        struct ne_write_result r;
        int rc;
        while ((rc = ne_store_write(s, "iot", &b, &r)) == NE_EBUSY)
            ne_time_sleep_ns(1000000);
        if (rc || r.accepted != DEVS * PTS) _exit(3);
        struct ack a = {'w', (uint8_t)k, 0};
        if (write(fd, &a, sizeof a) != sizeof a) _exit(4);
        if (k % 2 == 0) continue;
        int d = k % DEVS; /* the batch before loses one device */
        struct ne_store_delete_req q = {.db = "iot",
                                        .measurement = "m",
                                        .filter = dev_is,
                                        .filter_ctx = (void *)devs[d],
                                        .t0 = ts_of(it, k - 1, 0),
                                        .t1 = ts_of(it, k - 1, PTS - 1)};
        if (ne_store_delete(s, &q)) _exit(5);
        a = (struct ack){'d', (uint8_t)(k - 1), (uint8_t)d};
        if (write(fd, &a, sizeof a) != sizeof a) _exit(4);
    }
    _exit(0);
}

/* Per iteration: acknowledged writes and deletes. */
struct hist {
    bool written[MAXB];
    bool deleted[MAXB][DEVS];
};

static void note(struct hist *h, const struct ack *a)
{
    if (a->kind == 'w')
        h->written[a->k] = true;
    else
        h->deleted[a->k][a->dev] = true;
}

static int run_child(int it, struct hist *h)
{
    int pfd[2];
    if (pipe(pfd) != 0) return -1;
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        child(it, pfd[1]);
    }
    close(pfd[1]);
    int want = (int)(rnd() % 60), got = 0;
    struct ack a;
    while (got < want && read(pfd[0], &a, sizeof a) == sizeof a) {
        note(h, &a);
        got++;
    }
    ne_time_sleep_ns((int64_t)(rnd() % 4000) * 1000);
    kill(pid, SIGKILL);
    int st = 0;
    waitpid(pid, &st, 0);
    while (read(pfd[0], &a, sizeof a) == sizeof a)
        note(h, &a);
    close(pfd[0]);
    if (WIFEXITED(st) && WEXITSTATUS(st) != 0) {
        fprintf(stderr, "iteration %d: child failed with %d\n", it, WEXITSTATUS(st));
        return -1;
    }
    return 0;
}

/* Points found per (iteration, batch, device); wrong values counted. */
struct found {
    int n[ITMAX][MAXB][DEVS];
    size_t bad;
};

static int count_chunk(void *ctx, const struct ne_scan_chunk *c)
{
    struct found *f = ctx;
    int d = c->series->tags[0].val.p[1] - '0';
    for (size_t i = 0; i < c->n; i++) {
        int64_t rel = (c->ts[i] - EU_T0) / EU_SEC;
        int it = (int)(rel / (MAXB * PTS)), k = (int)(rel / PTS % MAXB), j = (int)(rel % PTS);
        if (it >= ITMAX || d < 0 || d >= DEVS || c->v.f[i] != val_of(it, k, d, j)) {
            f->bad++;
            continue;
        }
        f->n[it][k][d]++;
    }
    return 0;
}

/* Checks iterations [0, upto] against what was acknowledged. */
static int verify(struct ne_store *s, const struct hist *h, int upto)
{
    struct found *f = calloc(1, sizeof *f);
    struct ne_store_scan_req q = {
        .db = "iot", .measurement = "m", .field = "x", .t0 = INT64_MIN, .t1 = INT64_MAX};
    int rc = ne_store_scan(s, &q, count_chunk, f);
    if (rc == NE_ENOTFOUND) rc = 0;
    int wrong = 0;
    for (int it = 0; it <= upto; it++)
        for (int k = 0; k < MAXB; k++)
            for (int d = 0; d < DEVS; d++) {
                int n = f->n[it][k][d];
                bool ok = h[it].deleted[k][d] ? n == 0
                          : h[it].written[k] &&
                                  (k % 2 == 1 || (k + 1) % DEVS != d || !h[it].written[k + 1])
                              ? n == PTS
                              : n == 0 || n == PTS; /* not acknowledged: all or nothing */
                if (!ok && wrong++ < 5)
                    fprintf(stderr,
                            "iteration %d batch %d %s: %d points (written %d, deleted %d)\n", it, k,
                            devs[d], n, h[it].written[k], h[it].deleted[k][d]);
            }
    if (rc || wrong || f->bad) {
        fprintf(stderr, "scan %d, %d batches wrong, %zu wrong values\n", rc, wrong, f->bad);
        rc = -1;
    }
    free(f);
    return rc;
}

static void test_delete_crash_loop(void)
{
    const char *e = getenv("NEOEDGE_CRASH_ITERATIONS");
    int iters = e ? atoi(e) : 40;
    if (iters > ITMAX) iters = ITMAX;
    e = getenv("NEOEDGE_CRASH_SEED");
    g_rng = e ? strtoull(e, NULL, 10) : (uint64_t)ne_time_mono_ns() | 1;
    uint64_t seed = g_rng;
    T_CHECK(t_tmpdir(g_dir, sizeof g_dir));
    struct hist *h = calloc((size_t)iters, sizeof *h);
    int failed = 0;
    for (int it = 0; it < iters && !failed; it++) {
        failed = run_child(it, &h[it]) != 0;
        struct ne_store_opts o;
        opts_for(&o, it);
        struct ne_store *s = NULL;
        if (!failed && ne_store_open(&o, &s) != 0) {
            fprintf(stderr, "iteration %d: reopen failed\n", it);
            failed = 1;
        }
        if (!failed && verify(s, h, it) != 0) {
            fprintf(stderr, "iteration %d failed\n", it);
            failed = 1;
        }
        ne_store_close(&s);
    }
    if (failed) fprintf(stderr, "NEOEDGE_CRASH_SEED=%llu\n", (unsigned long long)seed);
    free(h);
    eu_rmtree(g_dir);
    T_CHECK(!failed);
}

int main(void)
{
    ne_log_set_level(NE_LOG_ERROR);
    T_RUN(test_delete_crash_loop);
    return t_done();
}
