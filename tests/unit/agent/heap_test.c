/*
 * heap_test.c - memory stays bounded through many segment cycles.
 *
 * A store with a small memtable, segment target and disk budget takes the
 * same series set again and again, each round flushed, compacted and
 * evicted, under the daemon's allocator policy (agent/heap.h). After a
 * warm-up the C heap in use must stay where it was (no structure grows
 * with the number of segments that came and went), and after a trim the
 * resident memory the allocator keeps beyond that must stay put too (the
 * memory freed by retired segment indexes goes back to the kernel).
 *
 * The figures come from glibc's mallinfo2 and /proc; AddressSanitizer
 * replaces the allocator, so under it the test only runs the cycles.
 */
#include <stdio.h>
#include <string.h>

#include "agent/heap.h"
#include "agent/procstats.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "store/point.h"
#include "store/store.h"
#include "t.h"

#define SERIES 1000
#define FIELDS 5
#define WARM   20
#define ROUNDS 200
#define MIB    (1024.0 * 1024.0)

static const char *const field_names[FIELDS] = {"temp", "hum", "press", "volt", "rssi"};

/* One point per series at second round, FIELDS float fields each. */
static void write_round(struct ne_store *s, struct ne_batch *b, int round)
{
    ne_batch_reset(b);
    int64_t ts = 1767225600000000000LL + (int64_t)round * 1000000000LL;
    for (int i = 0; i < SERIES; i++) {
        char dev[24];
        int n = snprintf(dev, sizeof dev, "dev%04d", i);
        ne_batch_begin(b, ne_sv_c("sensors"), ts);
        ne_batch_tag(b, ne_sv_c("device"), ne_batch_copy(b, dev, (size_t)n)); /* dev is reused */
        for (int f = 0; f < FIELDS; f++)
            ne_batch_field_f(b, ne_sv_c(field_names[f]), (double)(i * 31 + f + round) * 0.25);
        T_CHECK(ne_batch_end(b) == 0);
    }
    struct ne_write_result res;
    T_OK(ne_store_write(s, "soak", b, &res));
    T_CHECK(res.accepted == SERIES);
}

/* One cycle: a round of points, a flush, compaction and retention. */
static void cycle(struct ne_store *s, struct ne_batch *b, int round)
{
    write_round(s, b, round);
    T_OK(ne_store_flush(s));
    T_OK(ne_store_compact(s));
}

static void test_bounded_through_segment_cycles(void)
{
    char dir[256];
    T_CHECK(t_tmpdir(dir, sizeof dir) != NULL);
    struct ne_store_opts o;
    ne_store_opts_default(&o);
    o.data_dir = dir;
    o.durability = NE_STORE_NONE;
    o.future_grace_ns = 0;
    o.memtable_max_age_ns = 0;
    o.memtable_bytes = 4u << 20;
    o.segment_target_bytes = 256u << 10;
    o.retention_max_disk_bytes = 1u << 20;
    struct ne_store *s = NULL;
    T_OK(ne_store_open(&o, &s));
    struct ne_batch batch, *b = &batch;
    ne_batch_init(b);
    if (!s) return;

    for (int r = 0; r < WARM; r++) cycle(s, b, r);
    (void)ne_heap_trim();
    double in_use0 = ne_procstats_heap_in_use();
    double kept0 = ne_procstats_rss_bytes() - in_use0;
    struct ne_store_stats st0;
    ne_store_stats(s, &st0);

    for (int r = WARM; r < WARM + ROUNDS; r++) cycle(s, b, r);
    (void)ne_heap_trim();
    double in_use1 = ne_procstats_heap_in_use();
    double kept1 = ne_procstats_rss_bytes() - in_use1;
    struct ne_store_stats st1;
    ne_store_stats(s, &st1);

    printf("# after %d rounds: heap in use %.1f MiB, RSS beyond it %.1f MiB, %llu segments\n",
           WARM, in_use0 / MIB, kept0 / MIB, (unsigned long long)st0.segments);
    printf("# after %d rounds: heap in use %.1f MiB, RSS beyond it %.1f MiB, %llu segments\n",
           WARM + ROUNDS, in_use1 / MIB, kept1 / MIB, (unsigned long long)st1.segments);
    /* retention kept the store itself bounded: the premise of the rest */
    T_CHECK(st1.segments <= st0.segments + 4);
    T_CHECK(st1.series == SERIES);
#if !defined(__SANITIZE_ADDRESS__)
    T_CHECK(in_use0 > 0);
    /* one more segment index (a few hundred KiB here) is noise, ten times
     * the rounds' worth of retired segments is not */
    T_CHECK(in_use1 <= in_use0 * 1.10 + 2 * MIB);
    T_CHECK(kept1 <= kept0 + 4 * MIB);
#endif
    ne_batch_free(b);
    ne_store_close(&s);
    ne_fs_remove_tree(dir);
}

int main(void)
{
    ne_heap_setup();
    ne_log_set_level(NE_LOG_WARN); /* one eviction per round otherwise */
    T_RUN(test_bounded_through_segment_cycles);
    return t_done();
}
