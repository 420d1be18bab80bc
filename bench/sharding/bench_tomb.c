/*
 * bench_tomb.c - what the arrival filter of cluster deletions costs a
 * replicated write: batches of 5,000 points decoded from a line-protocol
 * file (every point versioned) go through ne_tombs_filter against sets of
 * tombstones of increasing size, in memory (no store write), with every
 * point older than the tombstones (a hint or pull of data written before
 * the deletions) or newer (writes after them). Prints a
 * table: median ns per point over the runs, points dropped. Never asserts
 * on time.
 *
 *   bench_tomb --file bench/data/s1-q5m.lp [--lines N] [--runs R] [--dir DIR]
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/decode/decode.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sharding/hlc.h"
#include "sharding/ring.h"
#include "sharding/tomb.h"

#define BATCH 5000
#define VER   1000000u /* every point's version; tombstones are newer */

struct batches {
    struct ne_batch *b;
    size_t n;
    uint64_t points;
    uint64_t *hash; /* distinct series hashes seen, for DELETEs that hit */
    size_t nhash, caphash;
    char *text; /* the file: the batches' strings point into it */
};

static void hash_add(struct batches *bs, uint64_t h)
{
    for (size_t i = bs->nhash; i-- > 0 && i + 64 > bs->nhash;)
        if (bs->hash[i] == h) return; /* cheap dedup of neighbours; the sort does the rest */
    if (bs->nhash == bs->caphash) {
        bs->caphash = bs->caphash ? bs->caphash * 2 : 1024;
        bs->hash = realloc(bs->hash, bs->caphash * sizeof *bs->hash);
    }
    bs->hash[bs->nhash++] = h;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int load(const char *path, uint64_t max_lines, struct batches *bs)
{
    size_t len = 0;
    int rc = ne_fs_read_all(path, &bs->text, &len);
    if (rc) return rc;
    const char *p = bs->text, *end = bs->text + len;
    uint64_t lines = 0;
    while (!rc && p < end && lines < max_lines) {
        const char *q = p;
        int n = 0;
        while (q < end && n < BATCH && lines + (uint64_t)n < max_lines) {
            const char *nl = memchr(q, '\n', (size_t)(end - q));
            q = nl ? nl + 1 : end;
            n++;
        }
        bs->b = realloc(bs->b, (bs->n + 1) * sizeof *bs->b);
        struct ne_batch *b = &bs->b[bs->n++];
        ne_batch_init(b);
        struct ne_decode_opts dopts = {.format = NE_PAYLOAD_LINE};
        struct ne_decode_report rep;
        rc = ne_decode(&dopts, p, (size_t)(q - p), b, &rep);
        for (uint32_t i = 0; i < b->npts; i++)
            hash_add(bs, ne_ring_series_hash(b->pts[i].meas, ne_point_tags(b, &b->pts[i]),
                                             b->pts[i].ntags));
        bs->points += b->npts;
        lines += (uint64_t)n;
        p = q;
    }
    qsort(bs->hash, bs->nhash, sizeof *bs->hash, cmp_u64);
    size_t k = 0;
    for (size_t i = 0; i < bs->nhash; i++)
        if (k == 0 || bs->hash[i] != bs->hash[k - 1]) bs->hash[k++] = bs->hash[i];
    bs->nhash = k;
    return rc;
}

/* Adds n DELETE tombstones of `per` series each: series from the data
 * set when hit (1 in 10 of its series, all time), else made up. */
static int add_deletes(struct ne_tombs *t, struct ne_store *st, const struct batches *bs, int n,
                       uint32_t per, bool hit, uint64_t *seq)
{
    uint64_t *s = malloc(per * sizeof *s);
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        uint32_t k = 0;
        for (uint32_t j = 0; j < per; j++) {
            uint64_t h = hit && bs->nhash ? bs->hash[((size_t)i * per + j) * 10 % bs->nhash]
                                          : ne_ring_hash(&(uint64_t){(uint64_t)i << 32 | j}, 8);
            s[k++] = h;
        }
        qsort(s, k, sizeof *s, cmp_u64);
        uint32_t u = 0;
        for (uint32_t j = 0; j < k; j++)
            if (u == 0 || s[j] != s[u - 1]) s[u++] = s[j];
        struct ne_tomb tb = {.kind = NE_TOMB_POINTS,
                             .version = VER + ++*seq,
                             .db = "iot",
                             .t0 = INT64_MIN,
                             .t1 = INT64_MAX,
                             .series = s,
                             .nseries = u};
        int r = ne_tombs_learn(t, st, &tb, 0);
        rc = r < 0 ? r : 0;
    }
    free(s);
    return rc;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* One table row: the batches, every point at version v, through t. */
static void row(const char *what, struct ne_tombs *t, const struct batches *bs, int runs,
                uint64_t v)
{
    uint64_t *ver = malloc(BATCH * sizeof *ver);
    for (int i = 0; i < BATCH; i++)
        ver[i] = v;
    double *ns = malloc((size_t)runs * sizeof *ns);
    uint64_t dropped = 0;
    for (int r = 0; r < runs; r++) {
        dropped = 0;
        int64_t t0 = ne_time_mono_ns();
        for (size_t i = 0; i < bs->n; i++) {
            struct ne_tombs_kept k;
            if (ne_tombs_filter(t, "iot", &bs->b[i], ver, &k) == 0) {
                dropped += k.dropped;
                ne_tombs_kept_free(&k);
            }
        }
        ns[r] = (double)(ne_time_mono_ns() - t0) / (double)bs->points;
    }
    qsort(ns, (size_t)runs, sizeof *ns, cmp_dbl);
    printf("| %s | %zu | %.1f | %.1f–%.1f | %" PRIu64 " |\n", what, ne_tombs_count(t), ns[runs / 2],
           ns[0], ns[runs - 1], dropped);
    free(ns);
    free(ver);
}

int main(int argc, char **argv)
{
    const char *file = NULL, *dir = NULL;
    uint64_t lines = 100000;
    int runs = 7;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--file"))
            file = argv[i + 1];
        else if (!strcmp(argv[i], "--lines"))
            lines = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--runs"))
            runs = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--dir"))
            dir = argv[i + 1];
    }
    if (!file || runs < 1) {
        fprintf(stderr, "usage: bench_tomb --file F.lp [--lines N] [--runs R] [--dir DIR]\n");
        return 2;
    }
    ne_log_set_level(NE_LOG_OFF);
    char root[256], path[300];
    snprintf(root, sizeof root, "%s/bench-tomb-XXXXXX", dir ? dir : "/tmp");
    if (!mkdtemp(root)) return 1;
    snprintf(path, sizeof path, "%s/tombstones", root);
    struct ne_store_opts so;
    ne_store_opts_default(&so);
    so.data_dir = root;
    so.durability = NE_STORE_NONE;
    struct ne_store *st = NULL;
    struct ne_tombs *t = NULL;
    struct batches bs = {0};
    int rc = ne_store_open(&so, &st);
    if (!rc) rc = ne_tombs_open(path, 0, 0, &t);
    if (!rc) rc = load(file, lines, &bs);
    if (rc) {
        fprintf(stderr, "bench_tomb: %s\n", ne_strerror(rc));
        return 1;
    }
    printf("%" PRIu64 " points in %zu batches of up to %d, %zu series; median of %d runs\n\n",
           bs.points, bs.n, BATCH, bs.nhash, runs);
    printf("| tombstones of the batch's database (points older unless said) | count | ns/point | "
           "range | dropped |\n");
    printf("|---|---|---|---|---|\n");
    uint64_t seq = 0;
    row("none", t, &bs, runs, VER);
    struct ne_tomb drop = {.kind = NE_TOMB_MEASUREMENT,
                           .version = VER + ++seq,
                           .db = "iot",
                           .meas = "no_such_measurement"};
    rc = ne_tombs_learn(t, st, &drop, 0) < 0;
    row("+1 DROP MEASUREMENT (no match)", t, &bs, runs, VER);
    if (!rc) rc = add_deletes(t, st, &bs, 15, 1000, false, &seq);
    row("+15 DELETEs of 1000 series (no match)", t, &bs, runs, VER);
    if (!rc) rc = add_deletes(t, st, &bs, 240, 100, false, &seq);
    row("+240 DELETEs of 100 series (no match)", t, &bs, runs, VER);
    row("the same 256, points written after them", t, &bs, runs, VER + 1000000);
    struct ne_tombs *hit = NULL;
    char hpath[320];
    snprintf(hpath, sizeof hpath, "%s/hit", root);
    if (!rc) rc = ne_tombs_open(hpath, 0, 0, &hit);
    if (!rc) rc = add_deletes(hit, st, &bs, 1, (uint32_t)(bs.nhash / 10 + 1), true, &seq);
    if (!rc) row("1 DELETE of 1 in 10 series (hits)", hit, &bs, runs, VER);
    if (!rc) row("the same, points written after it", hit, &bs, runs, VER + 1000000);
    ne_tombs_close(&hit);
    ne_tombs_close(&t);
    ne_store_close(&st);
    for (size_t i = 0; i < bs.n; i++)
        ne_batch_free(&bs.b[i]);
    free(bs.b);
    free(bs.hash);
    ne_free(bs.text);
    ne_fs_remove_tree(root);
    return rc ? 1 : 0;
}
