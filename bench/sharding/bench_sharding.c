/*
 * bench_sharding.c - prints what the sharding foundation costs: ring build
 * and series lookups, balance and movement, frame encode/decode, TLS
 * round trips between two transports on loopback, and placing writes on
 * the hint queues (with and without shard keepers). Prints figures only;
 * never asserts on time. Usage: bench_sharding [lookups], or
 * bench_sharding submit [MODE] for the submit rows alone (MODE 0, 1 or 2:
 * that row only, e.g. under valgrind --tool=callgrind).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/log.h"
#include "ports/platform.h"
#include "sharding/frame.h"
#include "sharding/replicate.h"
#include "sharding/ring.h"
#include "sharding/transport.h"

static double secs(int64_t t0)
{
    return (double)(ne_time_mono_ns() - t0) / 1e9;
}

/* Fills buf with line protocol of varying sensors, values and times (about
 * what a gateway forwards), so compression figures are realistic. */
static void line_protocol(char *buf, size_t n)
{
    uint64_t x = 0x9E3779B97F4A7C15ull;
    size_t off = 0;
    long long ts = 1700000000000000000ll;
    while (off < n) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        char line[128];
        int k = snprintf(
            line, sizeof line, "temperature,site=plant-7,sensor=s%03u value=%.2f %lld\n",
            (unsigned)(x % 500), 15.0 + (double)(x >> 40) / (double)(1 << 20), ts += 1000000);
        size_t take = (size_t)k < n - off ? (size_t)k : n - off;
        memcpy(buf + off, line, take);
        off += take;
    }
}

static const char *names[] = {"gw-01", "gw-02", "gw-03", "gw-04", "gw-05", "gw-06",
                              "gw-07", "gw-08", "gw-09", "gw-10", "gw-11", "gw-12",
                              "gw-13", "gw-14", "gw-15", "gw-16"};

static void bench_ring(long lookups)
{
    printf("%-34s %12s %12s %10s %10s\n", "ring (1024 shards, 128 vnodes, RF 2)", "build ms",
           "lookups/s", "max/min", "join moved");
    for (size_t n = 3; n <= 16; n *= 2) {
        struct ne_ring_opts o = {.shards = 1024, .vnodes = 128, .rf = 2};
        struct ne_ring *r, *r2;
        int64_t t0 = ne_time_mono_ns();
        if (ne_ring_build(&o, names, n, &r) != 0) return;
        double build = secs(t0) * 1e3;
        struct ne_tag tags[2] = {{NE_SV("site"), NE_SV("plant-7")}, {NE_SV("sensor"), {0, 0}}};
        static char ids[4096][12];
        for (int i = 0; i < 4096; i++)
            snprintf(ids[i], sizeof ids[i], "s%d", i);
        uint64_t sink = 0;
        t0 = ne_time_mono_ns();
        for (long i = 0; i < lookups; i++) {
            const char *id = ids[i & 4095];
            tags[1].val = (struct ne_sv){id, (uint32_t)strlen(id)};
            uint64_t h = ne_ring_series_hash(NE_SV("temperature"), tags, 2);
            sink += ne_ring_owners(r, ne_ring_shard_of_hash(r, h))[0];
        }
        double rate = (double)lookups / secs(t0);
        uint32_t cnt[16] = {0}, mx = 0, mn = UINT32_MAX;
        for (uint32_t s = 0; s < 1024; s++)
            for (uint32_t j = 0; j < ne_ring_replicas(r); j++)
                cnt[ne_ring_owners(r, s)[j]]++;
        for (size_t i = 0; i < n; i++)
            mx = cnt[i] > mx ? cnt[i] : mx, mn = cnt[i] < mn ? cnt[i] : mn;
        struct ne_shard_move *mv = NULL;
        size_t nmv = 0;
        if (ne_ring_build(&o, names, n + 1, &r2) == 0 && ne_ring_diff(r, r2, &mv, &nmv) == 0) {
            char label[40];
            snprintf(label, sizeof label, "  %zu nodes (+1 joins)", n);
            printf("%-34s %12.2f %12.0f %10.2f %9.1f%%\n", label, build, rate, (double)mx / mn,
                   100.0 * (double)(nmv / 2) / (1024.0 * 2));
        }
        ne_free(mv);
        ne_ring_free(&r2);
        ne_ring_free(&r);
        if (sink == 42) puts("");
    }
}

static void bench_frames(void)
{
    size_t n = 256 * 1024;
    char *payload = ne_malloc(n);
    line_protocol(payload, n);
    struct ne_pbuf out = {0}, scratch = {0};
    int reps = 200;
    for (int mode = 0; mode < 2; mode++) {
        size_t cmin = mode ? 4096 : 0;
        int64_t t0 = ne_time_mono_ns();
        for (int i = 0; i < reps; i++) {
            out.len = 0;
            ne_frame_encode(&out, NE_FT_APP, payload, n, cmin);
        }
        double enc = (double)n * reps / secs(t0) / 1e6;
        t0 = ne_time_mono_ns();
        uint8_t type;
        const uint8_t *msg;
        size_t mlen, used;
        for (int i = 0; i < reps; i++)
            ne_frame_decode(out.p, out.len, &scratch, &type, &msg, &mlen, &used);
        double dec = (double)n * reps / secs(t0) / 1e6;
        printf("frame %-28s %9.0f MB/s enc %7.0f MB/s dec  wire/raw %.4f\n",
               mode ? "(zstd level 1, line protocol)" : "(plain)", enc, dec,
               (double)out.len / (double)n);
    }
    ne_pbuf_free(&out);
    ne_pbuf_free(&scratch);
    ne_free(payload);
}

static int echo(void *ctx, const char *peer, uint8_t type, const uint8_t *msg, size_t n,
                struct ne_pbuf *reply, uint8_t *rt)
{
    (void)ctx, (void)peer, (void)msg;
    *rt = type;
    if (ne_pbuf_reserve(reply, 8) != 0) return -1;
    ne_put_u64(reply->p, n);
    reply->len = 8;
    return 0;
}

static void bench_transport(void)
{
    static const uint8_t key[32] = "bench-cluster-key-0123456789abcd";
    struct ne_transport_opts o = {
        .node_id = "srv", .listen = "127.0.0.1:0", .key = key, .key_len = 32, .handler = echo};
    struct ne_transport *srv = NULL, *cli = NULL;
    if (ne_transport_start(&o, &srv) != 0) return;
    o.node_id = "cli";
    o.listen = NULL;
    if (ne_transport_start(&o, &cli) != 0) {
        ne_transport_stop(&srv);
        return;
    }
    const char *addr = ne_transport_addr(srv);
    struct ne_pbuf r = {0};
    uint8_t rt;
    int calls = 5000;
    int64_t t0 = ne_time_mono_ns();
    for (int i = 0; i < calls; i++)
        ne_transport_call(cli, "srv", addr, NE_FT_APP, "x", 1, &r, &rt);
    printf("transport small calls (pooled TLS)  %9.0f calls/s\n", calls / secs(t0));
    int hs = 50;
    t0 = ne_time_mono_ns();
    for (int i = 0; i < hs; i++) {
        ne_transport_forget(cli, addr);
        ne_transport_call(cli, "srv", addr, NE_FT_APP, "x", 1, &r, &rt);
    }
    printf("transport new connection + call     %9.0f conn/s\n", hs / secs(t0));
    size_t n = 1u << 20;
    char *big = ne_malloc(n);
    line_protocol(big, n);
    int reps = 50;
    t0 = ne_time_mono_ns();
    for (int i = 0; i < reps; i++)
        ne_transport_call(cli, "srv", addr, NE_FT_APP, big, n, &r, &rt);
    printf("transport 1 MiB line-protocol calls %9.0f MB/s\n", (double)n * reps / secs(t0) / 1e6);
    ne_free(big);
    ne_pbuf_free(&r);
    ne_transport_stop(&cli);
    ne_transport_stop(&srv);
}

/* Keeper bits for three nodes: each holds what it owns on r, and with
 * moving, gw-01 also keeps one shard in 8 it does not own (a move). */
static void keeper_bits(const struct ne_ring *r, uint8_t bits[3][128], bool moving)
{
    memset(bits, 0, 3 * 128);
    uint32_t shards = ne_ring_shards(r);
    for (uint32_t sh = 0; sh < shards; sh++) {
        for (uint32_t k = 0; k < ne_ring_replicas(r); k++) {
            uint32_t o = ne_ring_owners(r, sh)[k];
            bits[o][sh / 8] |= (uint8_t)(1u << (sh % 8));
        }
        if (moving && sh % 8 == 0) bits[0][sh / 8] |= (uint8_t)(1u << (sh % 8));
    }
}

/* Points per second through ne_replicator_submit on gw-02 of a 3-node
 * ring at factor 2 (1024 shards), batches of 5000 points of 1000 series,
 * queues in a scratch directory (nothing sent): no keepers, every member
 * keeping what it owns (the steady state with shard moves tracked), and
 * gw-01 keeping one shard in 8 more (a move: keeper records too). */
static void bench_submit(int only)
{
    enum { BATCH = 5000, BATCHES = 40 };
    char dir[] = "/tmp/bench-submit-XXXXXX";
    if (!mkdtemp(dir)) return;
    struct ne_batch b;
    ne_batch_init(&b);
    uint64_t *ver = malloc(BATCH * sizeof *ver);
    for (int i = 0; i < BATCH; i++) {
        char dev[16];
        snprintf(dev, sizeof dev, "d%04d", i % 1000);
        ne_batch_begin(&b, NE_SV("env"), 1700000000000000000ll + i);
        ne_batch_tag(&b, NE_SV("dev"), ne_batch_copy(&b, dev, strlen(dev)));
        ne_batch_field_f(&b, NE_SV("temp"), 20.0 + i % 7);
        ne_batch_end(&b);
        ver[i] = 1000 + (uint64_t)i;
    }
    const char *three[] = {"gw-01", "gw-02", "gw-03"};
    struct ne_ring_opts ro = {.shards = 1024, .vnodes = 128, .rf = 2};
    static const char *const label[3] = {"no keepers", "keepers = owners (steady)",
                                         "gw-01 keeps 1/8 more (move)"};
    printf("\n%-44s %12s %14s\n", "submit (3 nodes, RF 2, 5000-point batches)", "Mpoints/s",
           "keeper points");
    for (int mode = 0; mode < 3; mode++) {
        if (only >= 0 && mode != only) continue;
        char hints[64];
        snprintf(hints, sizeof hints, "%s/m%d", dir, mode);
        struct ne_replicator_opts o = {
            .node_id = "gw-02", .hint_dir = hints, .durability = NE_STORE_NONE};
        struct ne_replicator *rep = NULL;
        struct ne_ring *r = NULL;
        if (ne_replicator_start(&o, &rep) != 0 || ne_ring_build(&ro, three, 3, &r) != 0) break;
        static uint8_t bits[3][128];
        keeper_bits(r, bits, mode == 2);
        struct ne_repl_keeper k[3] = {{"gw-01", bits[0]}, {"gw-02", bits[1]}, {"gw-03", bits[2]}};
        if (mode > 0) ne_replicator_set_keepers(rep, 1024, k, 3);
        ne_replicator_set_ring(rep, r); /* the replicator owns it */
        int64_t t0 = ne_time_mono_ns();
        for (int i = 0; i < BATCHES; i++)
            if (ne_replicator_submit(rep, "iot", &b, ver) != 0) break;
        double t = secs(t0);
        struct ne_replicator_peer_stats st;
        uint64_t kept = ne_replicator_peer_stats(rep, "gw-01", &st) == 0 ? st.keeper_points : 0;
        printf("%-44s %12.2f %14llu\n", label[mode], BATCH * (double)BATCHES / t / 1e6,
               (unsigned long long)kept);
        ne_replicator_stop(&rep);
    }
    (void)ne_fs_remove_tree(dir);
    free(ver);
    ne_batch_free(&b);
}

int main(int argc, char **argv)
{
    ne_log_set_level(NE_LOG_WARN);
    if (argc > 1 && strcmp(argv[1], "submit") == 0) {
        bench_submit(argc > 2 ? atoi(argv[2]) : -1);
        return 0;
    }
    long lookups = argc > 1 ? atol(argv[1]) : 2000000;
    bench_ring(lookups);
    bench_frames();
    bench_transport();
    bench_submit(-1);
    return 0;
}
