/*
 * membership_udp_test.c - SWIM over real UDP sockets on loopback: members
 * on free ports in one process (one thread each) converge, detect a
 * crashed member, survive a broken direct link through indirect probes,
 * see a restarted member rejoin and a leaving member leave; a node with
 * another cluster key is never let in. Waits poll the
 * views with a generous give-up bound; nothing asserts on elapsed time.
 */
#include <stdatomic.h>
#include <stdio.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sharding/membership.h"
#include "t.h"

#define N          4
#define GIVE_UP_MS 20000

static struct ne_membership *mem[N];
static char ids[N][16];
static char seed_addr[64];
static atomic_int dead_seen[N][N];

static void on_change(void *ctx, const char *id, const char *addr, enum ne_swim_state from,
                      enum ne_swim_state to, uint64_t inc)
{
    int obs = (int)(intptr_t)ctx, subj = -1;
    sscanf(id, "m%d", &subj);
    if (to == NE_SWIM_DEAD && subj >= 0 && subj < N) atomic_fetch_add(&dead_seen[obs][subj], 1);
}

static const uint8_t cluster_key[] = "site-7 cluster key, 32 bytes ok";

static int start_with_key(int i, uint64_t inc, const uint8_t *key)
{
    snprintf(ids[i], sizeof ids[i], "m%d", i);
    struct ne_cluster_opts c;
    ne_cluster_opts_default(&c);
    c.node_id = ids[i];
    c.listen = "127.0.0.1:0";
    const char *seeds[1] = {seed_addr};
    c.seeds = seeds;
    c.nseeds = i == 0 ? 0 : 1;
    c.probe_interval_ms = 100;
    c.probe_timeout_ms = 40;
    c.suspect_timeout_ms = 1000;
    c.key = key;
    c.key_len = 32;
    struct ne_membership_opts o = {
        .cluster = &c, .incarnation = inc, .on_change = on_change, .ctx = (void *)(intptr_t)i};
    int rc = ne_membership_start(&o, &mem[i]);
    if (rc == 0 && i == 0) snprintf(seed_addr, sizeof seed_addr, "%s", ne_membership_addr(mem[0]));
    return rc;
}

static int start(int i, uint64_t inc)
{
    return start_with_key(i, inc, cluster_key);
}

static enum ne_swim_state view(int obs, int subj)
{
    struct ne_swim_member_info mi;
    char id[16];
    snprintf(id, sizeof id, "m%d", subj);
    return ne_membership_find(mem[obs], id, &mi) == 0 ? mi.state : NE_SWIM_NONE;
}

/* Waits until every running member sees subj in state st. */
static bool wait_all(int subj, enum ne_swim_state st)
{
    for (int waited = 0; waited < GIVE_UP_MS; waited += 20) {
        bool ok = true;
        for (int o = 0; o < N && ok; o++)
            if (mem[o] && o != subj) ok = view(o, subj) == st;
        if (ok) return true;
        ne_time_sleep_ns(20 * 1000000ll);
    }
    return false;
}

static bool wait_converged(void)
{
    for (int s = 0; s < N; s++)
        if (mem[s] && !wait_all(s, NE_SWIM_ALIVE)) return false;
    return true;
}

static void test_converge(void)
{
    for (int i = 0; i < N; i++)
        if (!mem[i]) T_OK(start(i, 10));
    T_CHECK(wait_converged());
    for (int i = 0; i < N; i++)
        T_EQ_U64(ne_membership_count(mem[i], NE_SWIM_ALIVE), N);
    struct ne_swim_member_info snap[N + 1];
    T_EQ_U64(ne_membership_snapshot(mem[2], snap, N + 1), N);
    T_EQ_STR(snap[0].id, "m2");
}

static void test_indirect_probes_bridge_broken_link(void)
{
    /* m0 and m1 cannot talk directly; m2 and m3 relay their probes */
    T_OK(ne_membership_set_drop(mem[0], ne_membership_addr(mem[1]), true));
    T_OK(ne_membership_set_drop(mem[1], ne_membership_addr(mem[0]), true));
    ne_time_sleep_ns(2000 * 1000000ll); /* 20 periods, 2 suspicion timeouts */
    T_EQ_INT(atomic_load(&dead_seen[0][1]), 0);
    T_EQ_INT(atomic_load(&dead_seen[1][0]), 0);
    T_EQ_INT(view(0, 1), NE_SWIM_ALIVE);
    T_OK(ne_membership_set_drop(mem[0], ne_membership_addr(mem[1]), false));
    T_OK(ne_membership_set_drop(mem[1], ne_membership_addr(mem[0]), false));
}

static void test_wrong_key_kept_out(void)
{
    static const uint8_t other_key[] = "another cluster's key, 32 bytes";
    T_OK(start(0, 10));                                      /* the seed */
    T_OK(start_with_key(3, 30, other_key));                  /* joins through the same seed */
    ne_time_sleep_ns(1000 * 1000000ll);                      /* 10 periods of trying */
    T_EQ_U64(ne_membership_count(mem[3], NE_SWIM_ALIVE), 1); /* alone */
    struct ne_swim_member_info mi;
    T_EQ_INT(ne_membership_find(mem[0], "m3", &mi), NE_ENOTFOUND);
    T_CHECK(ne_membership_rejected(mem[0]) > 0);
    ne_membership_stop(&mem[3]);
}

static void test_crash_detected_then_rejoin(void)
{
    ne_membership_stop(&mem[3]); /* like kill -9: nothing announced */
    T_CHECK(wait_all(3, NE_SWIM_DEAD));
    T_OK(start(3, 20)); /* restart: new port, higher incarnation */
    T_CHECK(wait_all(3, NE_SWIM_ALIVE));
    struct ne_swim_member_info mi;
    T_OK(ne_membership_find(mem[0], "m3", &mi));
    /* 20, or higher if a slow machine made someone suspect it and it refuted */
    T_CHECK(mi.incarnation >= 20);
    T_EQ_STR(mi.addr, ne_membership_addr(mem[3]));
}

/* A graceful stop over UDP: the others see STOPPED at once, never DEAD,
 * and a restart brings it back ALIVE. */
static void test_graceful_stop_then_restart(void)
{
    T_OK(ne_membership_announce_stop(mem[1]));
    ne_time_sleep_ns(50 * 1000000ll);
    ne_membership_stop(&mem[1]);
    T_CHECK(wait_all(1, NE_SWIM_STOPPED));
    T_EQ_INT(atomic_load(&dead_seen[0][1]), 0);
    T_OK(start(1, 30));
    T_CHECK(wait_all(1, NE_SWIM_ALIVE));
}

/* A crashed member removed by hand becomes LEFT everywhere; a live one is
 * refused. */
static void test_remove_dead_member(void)
{
    T_EQ_INT(ne_membership_remove(mem[0], "m1", NULL, UINT64_MAX), NE_EBUSY);
    ne_membership_stop(&mem[3]);
    T_CHECK(wait_all(3, NE_SWIM_DEAD));
    T_OK(ne_membership_remove(mem[0], "m3", NULL, UINT64_MAX));
    T_CHECK(wait_all(3, NE_SWIM_LEFT));
}

static void test_graceful_leave(void)
{
    T_OK(ne_membership_leave(mem[2]));
    ne_time_sleep_ns(50 * 1000000ll);
    ne_membership_stop(&mem[2]);
    T_CHECK(wait_all(2, NE_SWIM_LEFT));
    T_EQ_INT(atomic_load(&dead_seen[0][2]), 0);
}

int main(void)
{
    ne_log_set_level(NE_LOG_WARN);
    T_RUN(test_wrong_key_kept_out);
    T_RUN(test_converge);
    T_RUN(test_indirect_probes_bridge_broken_link);
    T_RUN(test_crash_detected_then_rejoin);
    T_RUN(test_graceful_stop_then_restart);
    T_RUN(test_remove_dead_member);
    T_RUN(test_graceful_leave);
    for (int i = 0; i < N; i++)
        ne_membership_stop(&mem[i]);
    return t_done();
}
