/*
 * ring_test.c - hash ring: balance, minimal movement on join and leave,
 * determinism, RF larger than the cluster, diff correctness, series hash.
 */
#include <stdio.h>

#include "ports/err.h"
#include "ports/platform.h"
#include "sharding/ring.h"
#include "t.h"

static const char *names[] = {"gw-a", "gw-b", "gw-c", "gw-d", "gw-e", "gw-f",
                              "gw-g", "gw-h", "gw-i", "gw-j", "gw-k", "gw-l"};

/* Primary and replica counts per node; returns max/min of the totals. */
static double spread(const struct ne_ring *r, uint32_t *count)
{
    size_t n = ne_ring_nodes(r);
    memset(count, 0, n * sizeof *count);
    for (uint32_t s = 0; s < ne_ring_shards(r); s++)
        for (uint32_t j = 0; j < ne_ring_replicas(r); j++)
            count[ne_ring_owners(r, s)[j]]++;
    uint32_t mx = 0, mn = UINT32_MAX;
    for (size_t i = 0; i < n; i++) {
        mx = count[i] > mx ? count[i] : mx;
        mn = count[i] < mn ? count[i] : mn;
    }
    return mn ? (double)mx / mn : 1e9;
}

static void test_balance(void)
{
    /* With 128 virtual nodes a node's share deviates by about 1/sqrt(128)
     * (~9%); 1.5 leaves room for the tails over every cluster size. */
    for (size_t n = 2; n <= 12; n++) {
        for (uint32_t rf = 1; rf <= 3; rf++) {
            struct ne_ring *r;
            struct ne_ring_opts o = {.shards = 1024, .vnodes = 128, .rf = rf};
            T_OK(ne_ring_build(&o, names, n, &r));
            uint32_t count[12];
            double ratio = spread(r, count);
            uint64_t total = 0;
            for (size_t i = 0; i < n; i++)
                total += count[i];
            ne_ring_free(&r);
            T_EQ_U64(total, 1024u * (rf < n ? rf : n));
            if (ratio > 1.5) T_FAIL_("n=%zu rf=%u max/min=%.2f", n, rf, ratio);
        }
    }
}

static void test_owners_distinct_and_rf_capped(void)
{
    struct ne_ring *r;
    struct ne_ring_opts o = {.shards = 256, .vnodes = 16, .rf = 5};
    T_OK(ne_ring_build(&o, names, 3, &r));
    T_EQ_INT(ne_ring_replicas(r), 3); /* RF 5 over 3 nodes: everyone owns all */
    for (uint32_t s = 0; s < 256; s++) {
        const uint32_t *own = ne_ring_owners(r, s);
        T_CHECK(own[0] != own[1] && own[1] != own[2] && own[0] != own[2]);
        for (uint32_t i = 0; i < 3; i++)
            T_CHECK(ne_ring_is_owner(r, s, i));
    }
    ne_ring_free(&r);
    T_OK(ne_ring_build(&o, names, 1, &r));
    T_EQ_INT(ne_ring_replicas(r), 1);
    T_EQ_INT(ne_ring_owners(r, 17)[0], 0);
    ne_ring_free(&r);
}

static void test_deterministic_any_order(void)
{
    const char *shuffled[] = {"gw-e", "gw-a", "gw-d", "gw-c", "gw-b"};
    struct ne_ring *r1, *r2;
    struct ne_ring_opts o = {.rf = 2};
    T_OK(ne_ring_build(&o, names, 5, &r1));
    T_OK(ne_ring_build(&o, shuffled, 5, &r2));
    for (uint32_t s = 0; s < ne_ring_shards(r1); s++)
        for (uint32_t j = 0; j < 2; j++)
            T_EQ_STR(ne_ring_node_name(r1, ne_ring_owners(r1, s)[j]),
                     ne_ring_node_name(r2, ne_ring_owners(r2, s)[j]));
    struct ne_shard_move *mv = NULL;
    size_t nmv = 99;
    T_OK(ne_ring_diff(r1, r2, &mv, &nmv));
    T_EQ_U64(nmv, 0);
    T_CHECK(mv == NULL);
    ne_ring_free(&r1);
    ne_ring_free(&r2);
}

/* Applies the moves to from's ownership and checks the result is to's. */
static int check_diff(const struct ne_ring *from, const struct ne_ring *to,
                      const struct ne_shard_move *mv, size_t n)
{
    for (uint32_t s = 0; s < ne_ring_shards(to); s++) {
        for (uint32_t j = 0; j < ne_ring_replicas(to); j++) {
            const char *name = ne_ring_node_name(to, ne_ring_owners(to, s)[j]);
            int fi = ne_ring_node_index(from, name);
            bool had = fi >= 0 && ne_ring_is_owner(from, s, (uint32_t)fi);
            bool gained = false;
            for (size_t k = 0; k < n; k++)
                gained |= mv[k].shard == s && mv[k].gain && strcmp(mv[k].node, name) == 0;
            if (had == gained) return -1;
        }
    }
    for (size_t k = 0; k < n; k++) {
        int ti = ne_ring_node_index(to, mv[k].node);
        bool owns_after = ti >= 0 && ne_ring_is_owner(to, mv[k].shard, (uint32_t)ti);
        if (owns_after != mv[k].gain) return -1;
    }
    return 0;
}

static void test_join_moves_about_one_nth(void)
{
    for (size_t n = 3; n <= 10; n++) {
        struct ne_ring *before, *after;
        struct ne_ring_opts o = {.shards = 1024, .rf = 1};
        T_OK(ne_ring_build(&o, names, n, &before));
        T_OK(ne_ring_build(&o, names, n + 1, &after));
        struct ne_shard_move *mv;
        size_t nmv;
        T_OK(ne_ring_diff(before, after, &mv, &nmv));
        T_OK(check_diff(before, after, mv, nmv));
        size_t gains = 0;
        for (size_t k = 0; k < nmv; k++) {
            if (mv[k].gain) {
                gains++;
                T_EQ_STR(mv[k].node, names[n]); /* only the newcomer gains */
            }
        }
        T_EQ_U64(nmv, 2 * gains); /* each gained shard lost by one old owner */
        double ideal = 1024.0 / (double)(n + 1);
        if (gains < ideal * 0.6 || gains > ideal * 1.5)
            T_FAIL_("n=%zu: %zu shards moved, ideal %.0f", n, gains, ideal);
        ne_free(mv);
        ne_ring_free(&before);
        ne_ring_free(&after);
    }
}

static void test_leave_moves_only_its_shards(void)
{
    struct ne_ring *before, *after;
    struct ne_ring_opts o = {.shards = 1024, .rf = 2};
    const char *without_c[] = {"gw-a", "gw-b", "gw-d", "gw-e", "gw-f"};
    T_OK(ne_ring_build(&o, names, 6, &before));
    T_OK(ne_ring_build(&o, without_c, 5, &after));
    struct ne_shard_move *mv;
    size_t nmv;
    T_OK(ne_ring_diff(before, after, &mv, &nmv));
    T_OK(check_diff(before, after, mv, nmv));
    uint32_t held = 0;
    int c = ne_ring_node_index(before, "gw-c");
    for (uint32_t s = 0; s < 1024; s++)
        held += ne_ring_is_owner(before, s, (uint32_t)c);
    size_t losses = 0;
    for (size_t k = 0; k < nmv; k++) {
        if (!mv[k].gain) {
            losses++;
            T_EQ_STR(mv[k].node, "gw-c"); /* nobody else loses a shard */
        }
    }
    T_EQ_U64(losses, held);
    T_EQ_U64(nmv, 2 * held); /* each of its shards gets exactly one new owner */
    ne_free(mv);
    ne_ring_free(&before);
    ne_ring_free(&after);
}

static void test_rejects_bad_members(void)
{
    struct ne_ring *r = NULL;
    const char *dup[] = {"a", "b", "a"};
    const char *empty[] = {"a", ""};
    T_EQ_INT(ne_ring_build(NULL, dup, 3, &r), NE_EINVAL);
    T_EQ_INT(ne_ring_build(NULL, empty, 2, &r), NE_EINVAL);
    T_EQ_INT(ne_ring_build(NULL, dup, 0, &r), NE_EINVAL);
    T_CHECK(r == NULL);
    struct ne_ring *a, *b;
    struct ne_ring_opts o1 = {.shards = 64}, o2 = {.shards = 128};
    T_OK(ne_ring_build(&o1, names, 2, &a));
    T_OK(ne_ring_build(&o2, names, 2, &b));
    struct ne_shard_move *mv;
    size_t n;
    T_EQ_INT(ne_ring_diff(a, b, &mv, &n), NE_EINVAL);
    ne_ring_free(&a);
    ne_ring_free(&b);
}

static void test_alloc_failure_is_clean(void)
{
    for (uint64_t nth = 1; nth <= 6; nth++) {
        struct ne_ring *r = NULL;
        ne_fault_arm(NE_FAULT_ALLOC, nth, NE_FAULT_NULL, false);
        int rc = ne_ring_build(NULL, names, 4, &r);
        ne_fault_reset();
        if (rc == 0)
            ne_ring_free(&r);
        else
            T_EQ_INT(rc, NE_ENOMEM);
    }
}

static void test_series_hash(void)
{
    struct ne_tag t1[] = {{NE_SV("host"), NE_SV("a")}, {NE_SV("region"), NE_SV("eu")}};
    struct ne_tag t2[] = {{NE_SV("host"), NE_SV("a")}, {NE_SV("region"), NE_SV("eu")}};
    struct ne_tag t3[] = {{NE_SV("host"), NE_SV("ar")}, {NE_SV("egion"), NE_SV("eu")}};
    uint64_t h1 = ne_ring_series_hash(NE_SV("cpu"), t1, 2);
    T_EQ_U64(h1, ne_ring_series_hash(NE_SV("cpu"), t2, 2));
    T_CHECK(h1 != ne_ring_series_hash(NE_SV("cpu"), t3, 2)); /* boundaries count */
    T_CHECK(h1 != ne_ring_series_hash(NE_SV("cpu"), t1, 1));
    T_CHECK(h1 != ne_ring_series_hash(NE_SV("mem"), t1, 2));
    /* keys spread evenly over shards */
    uint32_t hist[16] = {0};
    char key[32];
    for (int i = 0; i < 16000; i++) {
        int n = snprintf(key, sizeof key, "sensor-%d", i);
        hist[ne_ring_hash(key, (size_t)n) % 16]++;
    }
    for (int i = 0; i < 16; i++)
        T_CHECK(hist[i] > 850 && hist[i] < 1150);
}

int main(void)
{
    T_RUN(test_balance);
    T_RUN(test_owners_distinct_and_rf_capped);
    T_RUN(test_deterministic_any_order);
    T_RUN(test_join_moves_about_one_nth);
    T_RUN(test_leave_moves_only_its_shards);
    T_RUN(test_rejects_bad_members);
    T_RUN(test_alloc_failure_is_clean);
    T_RUN(test_series_hash);
    return t_done();
}
