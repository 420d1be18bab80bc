/*
 * bench_antientropy.c - what an anti-entropy round costs: two stores
 * loaded with the same line-protocol file (every point versioned), then
 * rounds between them, requests served in-process (no network): replicas
 * equal (roots only), one side missing a share of the series in one hour,
 * and one side missing every point of a share of the series; then, with
 * --now, the same equal replicas compared by windowed rounds (a 1 h
 * window and a sweep of 12, the defaults of replication.anti_entropy_*):
 * the first round with the peer (full), then --routine routine rounds.
 * Prints a table (wall time, points read for digests on both ends, points
 * repaired, bytes pulled). Never asserts on time.
 *
 *   bench_antientropy --file bench/data/s1-q5m.lp [--lines N] [--shards 64]
 *                     [--dir DIR] [--now] [--routine 6]
 *
 * --now shifts every timestamp by whole hours so that the file's last
 * line falls in the current hour (windows are taken from the wall clock).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/decode/decode.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sharding/antientropy.h"
#include "tests/unit/sharding/ae_testlib.h"

/* Writes batch b into a (all points) and into b_side (the points whose
 * series hash falls outside the skipped share, and outside skip_t0..t1
 * for a share of series), all with version ver. */
struct skip {
    unsigned share;     /* skip 1 in share series (0: none) */
    int64_t t0, t1;     /* ... in this time range */
};

static bool skipped(const struct ne_batch *b, const struct ne_point *p, const struct skip *sk)
{
    if (!sk->share || p->ts < sk->t0 || p->ts > sk->t1) return false;
    uint64_t h = ne_ring_series_hash(p->meas, ne_point_tags(b, p), p->ntags);
    return h % sk->share == 0;
}

/* The timestamp (ns) ending the last of the first max_lines lines of text. */
static int64_t last_ts(const char *text, size_t len, uint64_t max_lines)
{
    const char *p = text, *end = text + len, *last = text;
    for (uint64_t n = 0; p < end && n < max_lines; n++) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        last = p;
        p = nl ? nl + 1 : end;
    }
    const char *e = p > last && p[-1] == '\n' ? p - 1 : p, *sp = e;
    while (sp > last && sp[-1] != ' ')
        sp--;
    return strtoll(sp, NULL, 10);
}

static int load(struct ae_side *a, struct ae_side *bs, const char *path, uint64_t max_lines,
                struct skip *sk, bool to_now, uint64_t *points)
{
    char *text = NULL;
    size_t len = 0;
    int rc = ne_fs_read_all(path, &text, &len);
    if (rc) return rc;
    int64_t shift = 0;
    if (to_now) {
        shift = (ne_time_wall_ns() - last_ts(text, len, max_lines)) / NE_AE_BUCKET_NS;
        shift *= NE_AE_BUCKET_NS; /* whole hours: the buckets keep their shape */
        if (sk->t1 != INT64_MAX) sk->t1 += shift;
        if (sk->t0 != INT64_MIN) sk->t0 += shift;
    }
    struct ne_batch b, part;
    ne_batch_init(&b);
    part = b;
    uint64_t *ver = ne_malloc(5000 * sizeof *ver), lines = 0;
    struct ne_point *keep = ne_malloc(5000 * sizeof *keep);
    const char *p = text, *end = text + len;
    while (!rc && p < end && lines < max_lines) {
        const char *q = p;
        int n = 0;
        while (q < end && n < 5000 && lines + (uint64_t)n < max_lines) {
            const char *nl = memchr(q, '\n', (size_t)(end - q));
            q = nl ? nl + 1 : end;
            n++;
        }
        ne_batch_reset(&b);
        struct ne_decode_opts dopts = {.format = NE_PAYLOAD_LINE};
        struct ne_decode_report rep;
        rc = ne_decode(&dopts, p, (size_t)(q - p), &b, &rep);
        for (uint32_t i = 0; i < b.npts; i++)
            b.pts[i].ts += shift;
        for (uint32_t i = 0; i < b.npts; i++)
            ver[i] = 1000000 + lines + i;
        struct ne_write_result res;
        if (!rc) rc = ne_store_write_versioned(a->st, "iot", &b, ver, &res);
        /* the other side: the same points less the skipped ones */
        uint32_t k = 0;
        for (uint32_t i = 0; i < b.npts; i++)
            if (!skipped(&b, &b.pts[i], sk)) {
                keep[k] = b.pts[i];
                ver[k++] = 1000000 + lines + i;
            }
        part = b;
        part.pts = keep;
        part.npts = k;
        if (!rc && k) rc = ne_store_write_versioned(bs->st, "iot", &part, ver, &res);
        *points += b.npts;
        lines += (uint64_t)n;
        p = q;
    }
    ne_free(ver);
    ne_free(keep);
    ne_batch_free(&b);
    ne_free(text);
    return rc;
}

/* One round of ae (on b's store) with a; a table row. */
static void row(const char *what, struct ae_side *a, struct ne_ae *ae, const struct ne_ring *r)
{
    struct ne_ae_stats s0, s1, a0, a1;
    ne_ae_stats(ae, &s0);
    ne_ae_stats(a->ae, &a0);
    int64_t t0 = ne_time_mono_ns();
    int rc = ne_ae_round(ae, r, 1, 0, ae_call_peer, a);
    int64_t t1 = ne_time_mono_ns();
    ne_ae_stats(ae, &s1);
    ne_ae_stats(a->ae, &a1);
    uint64_t read = s1.points_digested - s0.points_digested + a1.points_digested -
                    a0.points_digested;
    printf("| %s | %.3f | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " | %" PRIu64 " | %.1f | %s |\n",
           what, (double)(t1 - t0) / 1e9, read, s1.buckets_differing - s0.buckets_differing,
           s1.series_differing - s0.series_differing, s1.points_repaired - s0.points_repaired,
           (double)(s1.bytes_pulled - s0.bytes_pulled) / 1048576.0, rc ? ne_strerror(rc) : "ok");
}

int main(int argc, char **argv)
{
    const char *file = NULL, *dir = "/tmp/neoedge-bench-ae";
    uint64_t lines = 100000;
    uint32_t shards = 64, routine = 6;
    bool to_now = false;
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--now")) {
            to_now = true;
            memmove(&argv[i], &argv[i + 1], (size_t)(argc - i) * sizeof *argv);
            argc--;
            break;
        }
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--file")) file = argv[i + 1];
        else if (!strcmp(argv[i], "--lines")) lines = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--shards")) shards = (uint32_t)strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--dir")) dir = argv[i + 1];
        else if (!strcmp(argv[i], "--routine")) routine = (uint32_t)strtoul(argv[i + 1], NULL, 10);
    }
    if (!file) {
        fprintf(stderr, "usage: bench_antientropy --file FILE.lp [--lines N] [--shards N] "
                        "[--dir DIR] [--now] [--routine N]\n");
        return 2;
    }
    ne_log_set_level(NE_LOG_WARN);
    ne_fs_remove_tree(dir);
    struct ae_side a = {0}, b = {0};
    const char *names[] = {"a", "b"};
    struct ne_ring_opts ro = {.shards = shards, .vnodes = 16, .rf = 2};
    struct ne_ring *r = NULL;
    uint64_t points = 0;
    /* b misses 1 in 10 series over the first 10 minutes of data */
    struct skip sk = {.share = 10, .t0 = INT64_MIN, .t1 = 1767225600000000000LL + 600LL * 1000000000LL};
    int rc = ne_fs_mkdir_p(dir);
    if (!rc) rc = ae_side_open(&a, dir, "a", shards, -1);
    if (!rc) rc = ae_side_open(&b, dir, "b", shards, -1);
    if (!rc) rc = ne_ring_build(&ro, names, 2, &r);
    if (!rc) rc = load(&a, &b, file, lines, &sk, to_now, &points);
    if (rc) {
        fprintf(stderr, "bench_antientropy: %s\n", ne_strerror(rc));
        return 1;
    }
    printf("anti-entropy rounds: %s, %" PRIu64 " lines (%" PRIu64 " points), %u shards, "
           "replicas in memtables; b lacks 1 in 10 series for the first 10 minutes%s\n\n",
           file, lines, points, shards, to_now ? "; timestamps shifted to end this hour" : "");
    printf("| round (b pulls from a) | wall s | points read | buckets differing | series pulled "
           "| points repaired | MiB pulled | result |\n|---|---|---|---|---|---|---|---|\n");
    row("all time: b lacks some series in one hour", &a, b.ae, r);
    row("all time: equal replicas (roots only)", &a, b.ae, r);
    ne_store_flush(a.st);
    ne_store_flush(b.st);
    row("all time: equal replicas, in segments", &a, b.ae, r);
    if (to_now) {
        struct ne_ae *wb = NULL;
        struct ne_ae_opts wo = {.store = b.st, .window_ns = NE_AE_BUCKET_NS};
        if (ne_ae_new(&wo, &wb) == 0) {
            row("window 1h: first round with the peer (full)", &a, wb, r);
            for (uint32_t k = 0; k < routine; k++) {
                char what[64];
                snprintf(what, sizeof what, "window 1h: routine round %u, equal", k + 1);
                row(what, &a, wb, r);
            }
            ne_ae_free(&wb);
        }
    }
    ne_ring_free(&r);
    ae_side_close(&a);
    ae_side_close(&b);
    ne_fs_remove_tree(dir);
    return 0;
}
