/*
 * hlc_test.c - hybrid logical clock: monotonicity, causality across skewed
 * clocks, logical overflow, skew bound, LWW order, concurrency.
 */
#include <pthread.h>

#include "ports/err.h"
#include "sharding/hlc.h"
#include "t.h"

struct fake {
    int64_t ms;
};

static int64_t fake_ms(void *ctx)
{
    return ((struct fake *)ctx)->ms;
}

static void test_pack(void)
{
    uint64_t ts = ne_hlc_pack(1700000000123ull, 42);
    T_EQ_U64(ne_hlc_ms(ts), 1700000000123ull);
    T_EQ_INT(ne_hlc_logical(ts), 42);
    T_CHECK(ne_hlc_pack(5, 0) > ne_hlc_pack(4, 0xFFFF));
}

static void test_monotonic_when_clock_stalls_or_goes_back(void)
{
    struct fake f = {1000};
    struct ne_hlc h;
    ne_hlc_init(&h, fake_ms, &f, 0);
    uint64_t a = ne_hlc_now(&h);
    T_EQ_U64(ne_hlc_ms(a), 1000);
    uint64_t b = ne_hlc_now(&h);
    T_CHECK(b > a);
    T_EQ_U64(ne_hlc_ms(b), 1000);
    T_EQ_INT(ne_hlc_logical(b), 1);
    f.ms = 500; /* wall clock stepped back */
    uint64_t c = ne_hlc_now(&h);
    T_CHECK(c > b);
    f.ms = 2000;
    uint64_t d = ne_hlc_now(&h);
    T_EQ_U64(d, ne_hlc_pack(2000, 0)); /* catches up with the wall clock */
}

static void test_receive_from_skewed_peer(void)
{
    struct fake fa = {10000}, fb = {10000 + 3000}; /* b runs 3 s fast */
    struct ne_hlc a, b;
    ne_hlc_init(&a, fake_ms, &fa, 0);
    ne_hlc_init(&b, fake_ms, &fb, 0);
    uint64_t sent = ne_hlc_now(&b);
    uint64_t got;
    T_OK(ne_hlc_update(&a, sent, &got));
    T_CHECK(got > sent); /* causality despite a's slower clock */
    uint64_t next = ne_hlc_now(&a);
    T_CHECK(next > got);
    T_EQ_U64(ne_hlc_ms(next), ne_hlc_ms(sent)); /* stays within the logical part */
    /* a message from the slow node back to b is still ordered after */
    uint64_t back;
    uint64_t reply = ne_hlc_now(&a);
    T_OK(ne_hlc_update(&b, reply, &back));
    T_CHECK(back > reply && back > sent);
}

static void test_skew_bound(void)
{
    struct fake f = {10000};
    struct ne_hlc h;
    ne_hlc_init(&h, fake_ms, &f, 500);
    uint64_t before = ne_hlc_now(&h), out = 0;
    T_EQ_INT(ne_hlc_update(&h, ne_hlc_pack(10000 + 501, 0), &out), NE_ERANGE);
    T_EQ_U64(out, 0);
    T_OK(ne_hlc_update(&h, ne_hlc_pack(10000 + 500, 7), &out));
    T_EQ_U64(out, ne_hlc_pack(10500, 8));
    T_CHECK(out > before);
}

static void test_logical_overflow_carries(void)
{
    struct fake f = {77};
    struct ne_hlc h;
    ne_hlc_init(&h, fake_ms, &f, 0);
    uint64_t prev = ne_hlc_now(&h);
    for (int i = 0; i < 70000; i++) {
        uint64_t x = ne_hlc_now(&h);
        if (x <= prev) T_FAIL_("not increasing at %d", i);
        prev = x;
    }
    T_EQ_U64(ne_hlc_ms(prev), 78); /* 70001 events carried into the next ms */
}

static void test_lww(void)
{
    T_CHECK(ne_hlc_lww_cmp(5, 1, 6, 0) < 0);
    T_CHECK(ne_hlc_lww_cmp(6, 0, 5, 9) > 0);
    T_CHECK(ne_hlc_lww_cmp(6, 2, 6, 1) > 0); /* tie: higher node id wins */
    T_CHECK(ne_hlc_lww_cmp(6, 1, 6, 2) < 0);
    T_EQ_INT(ne_hlc_lww_cmp(6, 1, 6, 1), 0);
}

#define THREADS 4
#define PER     20000
static struct ne_hlc shared;
static uint64_t seen[THREADS][PER];

/* Store versions: integer order is HLC order, then node tag; the HLC
 * part comes back for merging; extremes clamp rather than wrap. */
static void test_lww_version(void)
{
    uint64_t a = ne_hlc_pack(1767225600123ull, 5), b = ne_hlc_pack(1767225600123ull, 6);
    uint8_t ta = ne_lww_node_tag("node-a"), tb = ne_lww_node_tag("node-b");
    T_CHECK(ta != tb);
    T_CHECK(ne_lww_version(a, 255) < ne_lww_version(b, 0));
    T_CHECK(ne_lww_version(a, ta) != ne_lww_version(a, tb));
    T_CHECK((ne_lww_version(a, ta) < ne_lww_version(a, tb)) == (ta < tb));
    T_EQ_U64(ne_lww_version_hlc(ne_lww_version(a, ta)), a);
    T_EQ_U64(ne_lww_version_hlc(ne_lww_version(b, tb)), b);
    uint64_t big = ne_hlc_pack(1767225600124ull, NE_HLC_LOGICAL_MAX);
    T_CHECK(ne_lww_version(big, 0) > ne_lww_version(b, 255));
    T_EQ_U64(ne_lww_version(big, 0) >> 8 & NE_LWW_LOGICAL_MAX, NE_LWW_LOGICAL_MAX);
    T_CHECK(ne_lww_version(UINT64_MAX, 7) >> 22 == NE_LWW_MS_MAX);
}

static void *worker(void *arg)
{
    uint64_t *out = arg;
    for (int i = 0; i < PER; i++)
        out[i] = ne_hlc_now(&shared);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Of two members sharing a node tag, exactly one gives way, the same on
 * every node: the later to join (greater incarnation), then the greater id. */
static void test_tag_yields(void)
{
    T_EQ_INT(ne_lww_node_tag("node1"), ne_lww_node_tag("node200")); /* they collide */
    T_CHECK(ne_lww_node_tag("node1") != ne_lww_node_tag("node3"));
    T_CHECK(ne_lww_tag_yields("node1", 2000, "node200", 1000));
    T_CHECK(!ne_lww_tag_yields("node200", 1000, "node1", 2000));
    T_CHECK(ne_lww_tag_yields("node200", 1000, "node1", 1000)); /* same start: the greater id */
    T_CHECK(!ne_lww_tag_yields("node1", 1000, "node200", 1000));
}

static void test_concurrent_unique(void)
{
    ne_hlc_init(&shared, NULL, NULL, 0);
    pthread_t th[THREADS];
    for (int i = 0; i < THREADS; i++)
        pthread_create(&th[i], NULL, worker, seen[i]);
    for (int i = 0; i < THREADS; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < THREADS; i++)
        for (int j = 1; j < PER; j++)
            T_CHECK(seen[i][j] > seen[i][j - 1]);
    qsort(seen, THREADS * PER, sizeof(uint64_t), cmp_u64);
    uint64_t *all = &seen[0][0];
    for (int i = 1; i < THREADS * PER; i++)
        T_CHECK(all[i] != all[i - 1]);
}

int main(void)
{
    T_RUN(test_pack);
    T_RUN(test_monotonic_when_clock_stalls_or_goes_back);
    T_RUN(test_receive_from_skewed_peer);
    T_RUN(test_skew_bound);
    T_RUN(test_logical_overflow_carries);
    T_RUN(test_lww);
    T_RUN(test_lww_version);
    T_RUN(test_tag_yields);
    T_RUN(test_concurrent_unique);
    return t_done();
}
