/*
 * swim_sim_test.c - the SWIM state machine over a simulated network: N
 * nodes in one process, a message queue with delays, random loss,
 * partitions and crashed nodes, driven by a simulated millisecond clock.
 * Bounds are in protocol periods, never wall-clock time.
 */
#include <stdio.h>

#include "ports/err.h"
#include "sharding/swim.h"
#include "t.h"

#define MAXN   8
#define PERIOD 1000

struct sim_msg {
    int to;
    int64_t at;
    size_t n;
    uint8_t *buf;
};

struct node_ctx {
    struct sim *sim;
    int idx;
};

struct sim {
    int n;
    int64_t now;
    double loss;
    uint64_t rng;
    bool cut[MAXN][MAXN];
    bool down[MAXN];
    struct ne_swim *node[MAXN];
    struct node_ctx ctx[MAXN];
    uint64_t inc0[MAXN];
    struct sim_msg *q;
    size_t nq, cap;
    uint64_t sent, lost;
    int dead_events[MAXN][MAXN]; /* [observer][subject] transitions to DEAD */
    int self_removed[MAXN];      /* a node learned it had been removed */
    int64_t remove_after;        /* remove_after_ms of the nodes started */
};

static struct sim S;
static uint64_t g_seed = 0x1234567887654321ull; /* network randomness */

static uint64_t rnd(void)
{
    S.rng ^= S.rng << 13, S.rng ^= S.rng >> 7, S.rng ^= S.rng << 17;
    return S.rng;
}

static int addr_idx(const char *addr)
{
    int i = -1;
    sscanf(addr, "10.0.0.%d:7946", &i);
    return i;
}

static void sim_send(void *vctx, const char *to_addr, const uint8_t *msg, size_t n)
{
    struct node_ctx *c = vctx;
    int to = addr_idx(to_addr);
    S.sent++;
    if (to < 0 || to >= S.n || S.cut[c->idx][to] || (double)(rnd() % 10000) < S.loss * 10000) {
        S.lost++;
        return;
    }
    if (S.nq == S.cap) {
        S.cap = S.cap ? S.cap * 2 : 256;
        S.q = realloc(S.q, S.cap * sizeof *S.q);
    }
    struct sim_msg *m = &S.q[S.nq++];
    m->to = to;
    m->at = S.now + 1 + (int64_t)(rnd() % 20); /* 1..20 ms latency */
    m->n = n;
    m->buf = malloc(n);
    memcpy(m->buf, msg, n);
}

static void on_change(void *vctx, const char *id, const char *addr, enum ne_swim_state from,
                      enum ne_swim_state to, uint64_t inc)
{
    struct node_ctx *c = vctx;
    int subj = addr_idx(addr);
    if (to == NE_SWIM_DEAD && subj >= 0) S.dead_events[c->idx][subj]++;
    if (subj == c->idx && from == NE_SWIM_LEFT && to == NE_SWIM_ALIVE) S.self_removed[subj]++;
    if (subj == c->idx && !(from == NE_SWIM_LEFT && to == NE_SWIM_ALIVE)) abort();
}

static void start_node(int i, uint64_t inc)
{
    char id[24], addr[32];
    snprintf(id, sizeof id, "node-%d", i);
    snprintf(addr, sizeof addr, "10.0.0.%d:7946", i);
    S.ctx[i] = (struct node_ctx){&S, i};
    struct ne_swim_opts o = {
        .id = id,
        .addr = addr,
        .incarnation = inc,
        .probe_interval_ms = PERIOD,
        .probe_timeout_ms = 300,
        .suspect_timeout_ms = 5 * PERIOD,
        .remove_after_ms = S.remove_after,
        .seed = 1234 + (uint64_t)i * 77 + inc,
        .send = sim_send,
        .on_change = on_change,
        .ctx = &S.ctx[i],
    };
    ne_swim_free(&S.node[i]);
    if (ne_swim_new(&o, &S.node[i]) != 0) abort();
    S.inc0[i] = inc;
    S.down[i] = false;
    const char *seed = "10.0.0.0:7946";
    ne_swim_join(S.node[i], &seed, 1, S.now);
}

static void sim_init_removing(int n, double loss, int64_t remove_after)
{
    for (size_t i = 0; i < S.nq; i++)
        free(S.q[i].buf);
    free(S.q);
    for (int i = 0; i < MAXN; i++)
        ne_swim_free(&S.node[i]);
    memset(&S, 0, sizeof S);
    S.n = n;
    S.loss = loss;
    S.remove_after = remove_after;
    S.rng = g_seed;
    for (int i = 0; i < n; i++)
        start_node(i, 100);
}

static void sim_init(int n, double loss)
{
    sim_init_removing(n, loss, 0);
}

static void step(int64_t ms)
{
    for (int64_t k = 0; k < ms; k++) {
        S.now++;
        size_t w = 0;
        for (size_t r = 0; r < S.nq; r++) {
            struct sim_msg m = S.q[r];
            if (m.at > S.now) {
                S.q[w++] = m;
                continue;
            }
            if (!S.down[m.to]) ne_swim_receive(S.node[m.to], m.buf, m.n, S.now);
            free(m.buf);
        }
        S.nq = w;
        for (int i = 0; i < S.n; i++)
            if (!S.down[i]) ne_swim_tick(S.node[i], S.now);
    }
}

static enum ne_swim_state view(int obs, int subj)
{
    char id[24];
    snprintf(id, sizeof id, "node-%d", subj);
    struct ne_swim_member_info mi;
    if (ne_swim_find(S.node[obs], id, &mi) != 0) return NE_SWIM_NONE;
    return mi.state;
}

static uint64_t view_inc(int obs, int subj)
{
    char id[24];
    snprintf(id, sizeof id, "node-%d", subj);
    struct ne_swim_member_info mi;
    return ne_swim_find(S.node[obs], id, &mi) == 0 ? mi.incarnation : 0;
}

/* True when every live node sees every live node alive and every down
 * node in state `down_state`. */
static bool converged(enum ne_swim_state down_state)
{
    for (int o = 0; o < S.n; o++) {
        if (S.down[o]) continue;
        for (int s = 0; s < S.n; s++)
            if (view(o, s) != (S.down[s] ? down_state : NE_SWIM_ALIVE)) return false;
    }
    return true;
}

/* Runs until converged(state) or max_periods pass; returns periods used
 * (rounded up), or -1. */
static int run_until(enum ne_swim_state state, int max_periods)
{
    for (int ms = 0; ms <= max_periods * PERIOD; ms += 10) {
        if (converged(state)) return (ms + PERIOD - 1) / PERIOD;
        step(10);
    }
    return -1;
}

static bool identical_views(void)
{
    int ref = -1;
    for (int o = 0; o < S.n && ref < 0; o++)
        if (!S.down[o]) ref = o;
    for (int o = 0; o < S.n; o++) {
        if (S.down[o]) continue;
        for (int s = 0; s < S.n; s++)
            if (view(o, s) != view(ref, s) || view_inc(o, s) != view_inc(ref, s)) return false;
    }
    return true;
}

static void test_join_converges_under_loss(void)
{
    sim_init(6, 0.05);
    int p = run_until(NE_SWIM_ALIVE, 20);
    T_CHECK(p >= 0);
    T_CHECK(identical_views());
    for (int o = 0; o < S.n; o++)
        T_EQ_U64(ne_swim_size(S.node[o]), 6);
    step(30 * PERIOD);   /* steady state: no false death under 5% loss */
    T_CHECK(S.lost > 0); /* the loss really happened */
    T_CHECK(converged(NE_SWIM_ALIVE));
    for (int o = 0; o < S.n; o++)
        for (int s = 0; s < S.n; s++)
            T_EQ_INT(S.dead_events[o][s], 0);
}

static void test_crashed_node_detected_dead_in_bounded_periods(void)
{
    sim_init(6, 0.05);
    T_CHECK(run_until(NE_SWIM_ALIVE, 20) >= 0);
    S.down[3] = true;
    /* Bound: the round-robin order reaches the node within 2(N-1) periods
     * at the latest, it then stays suspect for 5 periods, and the news
     * spreads by gossip in a few more. */
    int bound = 2 * (S.n - 1) + 5 + 4;
    int p = run_until(NE_SWIM_DEAD, bound);
    if (p < 0) T_FAIL_("node 3 not seen dead by all within %d periods", bound);
    T_CHECK(p >= 5); /* never before the suspicion timeout */
    T_CHECK(identical_views());
    for (int o = 0; o < S.n; o++)
        for (int s = 0; s < S.n; s++)
            if (s != 3) T_EQ_INT(S.dead_events[o][s], 0);
}

static void test_suspected_node_refutes(void)
{
    sim_init(5, 0.0);
    T_CHECK(run_until(NE_SWIM_ALIVE, 20) >= 0);
    for (int i = 0; i < S.n; i++)
        S.cut[2][i] = S.cut[i][2] = true;
    bool suspected = false;
    for (int ms = 0; ms < 6 * PERIOD && !suspected; ms += 10) {
        step(10);
        for (int o = 0; o < S.n; o++)
            suspected |= o != 2 && view(o, 2) == NE_SWIM_SUSPECT;
    }
    T_CHECK(suspected);
    for (int i = 0; i < S.n; i++)
        S.cut[2][i] = S.cut[i][2] = false;
    T_CHECK(run_until(NE_SWIM_ALIVE, 4) >= 0);
    T_CHECK(ne_swim_incarnation(S.node[2]) > 100); /* it raised its incarnation */
    for (int o = 0; o < S.n; o++) {
        T_EQ_U64(view_inc(o, 2), ne_swim_incarnation(S.node[2]));
        T_EQ_INT(S.dead_events[o][2], 0);
    }
}

static void test_partition_heals(void)
{
    sim_init(6, 0.02);
    T_CHECK(run_until(NE_SWIM_ALIVE, 20) >= 0);
    for (int a = 0; a < 3; a++)
        for (int b = 3; b < 6; b++)
            S.cut[a][b] = S.cut[b][a] = true;
    step(15 * PERIOD);
    T_EQ_INT(view(0, 4), NE_SWIM_DEAD);
    T_EQ_INT(view(4, 1), NE_SWIM_DEAD);
    T_EQ_INT(view(0, 1), NE_SWIM_ALIVE);
    memset(S.cut, 0, sizeof S.cut);
    int p = run_until(NE_SWIM_ALIVE, 15);
    if (p < 0) T_FAIL_("views did not reconcile after the partition healed");
    /* incarnations raised by the refutations spread within 2N periods */
    for (int ms = 0; ms < 2 * S.n * PERIOD && !identical_views(); ms += 10)
        step(10);
    T_CHECK(identical_views());
    T_CHECK(converged(NE_SWIM_ALIVE));
}

static void test_long_partition_heals_through_seeds(void)
{
    sim_init(6, 0.02);
    T_CHECK(run_until(NE_SWIM_ALIVE, 20) >= 0);
    for (int a = 0; a < 3; a++)
        for (int b = 3; b < 6; b++)
            S.cut[a][b] = S.cut[b][a] = true;
    step(45 * PERIOD); /* longer than the 30-period dead-probe window */
    T_EQ_INT(view(0, 4), NE_SWIM_DEAD);
    T_EQ_INT(view(5, 2), NE_SWIM_DEAD);
    memset(S.cut, 0, sizeof S.cut);
    int p = run_until(NE_SWIM_ALIVE, 25);
    if (p < 0) T_FAIL_("views did not reconcile after a long partition");
}

static void test_graceful_leave(void)
{
    sim_init(5, 0.0);
    T_CHECK(run_until(NE_SWIM_ALIVE, 20) >= 0);
    T_OK(ne_swim_leave(S.node[4], S.now));
    step(50);
    S.down[4] = true;
    T_CHECK(run_until(NE_SWIM_LEFT, 3) >= 0);
    for (int o = 0; o < 4; o++)
        T_EQ_INT(S.dead_events[o][4], 0);
}

static void test_restarted_node_rejoins(void)
{
    sim_init(5, 0.02);
    T_CHECK(run_until(NE_SWIM_ALIVE, 20) >= 0);
    S.down[3] = true;
    T_CHECK(run_until(NE_SWIM_DEAD, 20) >= 0);
    start_node(3, 500); /* a restart: new process, higher incarnation */
    int p = run_until(NE_SWIM_ALIVE, 5);
    T_CHECK(p >= 0);
    for (int o = 0; o < S.n; o++)
        T_EQ_U64(view_inc(o, 3), 500);
}

/* A stop is announced: the others see it STOPPED at once (no suspicion,
 * no death), and it comes back ALIVE with its new incarnation. */
static void test_graceful_stop_and_restart(void)
{
    sim_init(5, 0.02);
    T_CHECK(run_until(NE_SWIM_ALIVE, 20) >= 0);
    T_OK(ne_swim_stop(S.node[4], S.now));
    step(50);
    S.down[4] = true;
    T_CHECK(run_until(NE_SWIM_STOPPED, 3) >= 0);
    step(20 * PERIOD); /* stays stopped: never suspected, never dead */
    T_CHECK(converged(NE_SWIM_STOPPED));
    for (int o = 0; o < 4; o++)
        T_EQ_INT(S.dead_events[o][4], 0);
    start_node(4, 700);
    T_CHECK(run_until(NE_SWIM_ALIVE, 5) >= 0);
    for (int o = 0; o < S.n; o++)
        T_EQ_U64(view_inc(o, 4), 700);
}

/* With remove_after set, a crashed member becomes LEFT on every member
 * (at the incarnation it had), and a restart brings it back. */
static void test_dead_member_removed_then_rejoins(void)
{
    sim_init_removing(5, 0.02, 20 * PERIOD);
    T_CHECK(run_until(NE_SWIM_ALIVE, 20) >= 0);
    S.down[3] = true;
    T_CHECK(run_until(NE_SWIM_DEAD, 15) >= 0);
    T_CHECK(!converged(NE_SWIM_LEFT));
    int p = run_until(NE_SWIM_LEFT, 30);
    T_CHECK(p >= 0);
    for (int o = 0; o < S.n; o++)
        if (o != 3) T_EQ_U64(view_inc(o, 3), 100);
    start_node(3, 900);
    T_CHECK(run_until(NE_SWIM_ALIVE, 10) >= 0);
    for (int o = 0; o < S.n; o++)
        T_EQ_U64(view_inc(o, 3), 900);
}

/* A stopped member is removed like a dead one. */
static void test_stopped_member_removed(void)
{
    sim_init_removing(4, 0.0, 10 * PERIOD);
    T_CHECK(run_until(NE_SWIM_ALIVE, 20) >= 0);
    T_OK(ne_swim_stop(S.node[2], S.now));
    step(50);
    S.down[2] = true;
    T_CHECK(run_until(NE_SWIM_STOPPED, 3) >= 0);
    T_CHECK(run_until(NE_SWIM_LEFT, 15) >= 0);
}

/* The two sides of a partition: the majority removes the minority after
 * the timeout, the minority removes nobody; once healed, the removed
 * members refute their removal and everyone is alive again. */
static void test_minority_removes_nobody(void)
{
    sim_init_removing(5, 0.0, 15 * PERIOD);
    T_CHECK(run_until(NE_SWIM_ALIVE, 20) >= 0);
    for (int a = 0; a < 3; a++)
        for (int b = 3; b < 5; b++)
            S.cut[a][b] = S.cut[b][a] = true;
    step(40 * PERIOD);
    for (int o = 0; o < 3; o++)
        for (int s = 3; s < 5; s++)
            T_EQ_INT(view(o, s), NE_SWIM_LEFT);
    for (int o = 3; o < 5; o++)
        for (int s = 0; s < 3; s++)
            T_EQ_INT(view(o, s), NE_SWIM_DEAD);
    for (int i = 0; i < S.n; i++)
        T_EQ_INT(S.self_removed[i], 0);
    memset(S.cut, 0, sizeof S.cut);
    T_CHECK(run_until(NE_SWIM_ALIVE, 30) >= 0);
    for (int o = 0; o < S.n; o++)
        T_CHECK(view_inc(o, 3) > 100);
    /* each removed node was told, once per removal it refuted */
    for (int i = 0; i < S.n; i++)
        T_EQ_INT(S.self_removed[i], (i >= 3 ? 1 : 0));
}

/* ne_swim_remove: refused for a live member and for ourselves; a dead
 * member becomes LEFT and every member hears of it; an unknown one is
 * added as LEFT (a removal remembered across a restart). */
static void test_remove_by_hand(void)
{
    sim_init(4, 0.0);
    T_CHECK(run_until(NE_SWIM_ALIVE, 20) >= 0);
    T_EQ_INT(ne_swim_remove(S.node[0], "node-2", NULL, UINT64_MAX, S.now), NE_EBUSY);
    T_EQ_INT(ne_swim_remove(S.node[0], "node-0", NULL, UINT64_MAX, S.now), NE_EINVAL);
    T_EQ_INT(ne_swim_remove(S.node[0], "node-9", NULL, 0, S.now), NE_EINVAL);
    S.down[2] = true;
    T_CHECK(run_until(NE_SWIM_DEAD, 15) >= 0);
    /* a removal remembered from incarnation 99: node-2 came back since */
    T_EQ_INT(ne_swim_remove(S.node[0], "node-2", "10.0.0.2:7946", 99, S.now), NE_EBUSY);
    T_EQ_INT(view(0, 2), NE_SWIM_DEAD);
    T_OK(ne_swim_remove(S.node[0], "node-2", NULL, UINT64_MAX, S.now));
    T_EQ_INT(view(0, 2), NE_SWIM_LEFT);
    T_CHECK(run_until(NE_SWIM_LEFT, 3) >= 0);
    T_OK(ne_swim_remove(S.node[1], "node-2", NULL, UINT64_MAX, S.now)); /* LEFT already */
    T_OK(ne_swim_remove(S.node[1], "gone", "10.0.0.7:7946", 42, S.now));
    struct ne_swim_member_info mi;
    T_OK(ne_swim_find(S.node[1], "gone", &mi));
    T_EQ_INT(mi.state, NE_SWIM_LEFT);
    T_EQ_U64(mi.incarnation, 42);
    step(3 * PERIOD);
    T_OK(ne_swim_find(S.node[3], "gone", &mi));
    T_EQ_INT(mi.state, NE_SWIM_LEFT);
}

static void drop_send(void *ctx, const char *to, const uint8_t *msg, size_t n)
{
    (void)ctx, (void)to, (void)msg, (void)n;
}

/* Feeds node a one SYNC from "b" carrying the update (state, inc) about "c". */
static void feed(struct ne_swim *a, uint8_t state, uint64_t inc)
{
    struct ne_swim_msg m = {.type = NE_SWIM_SYNC, .seq = 1, .incarnation = 1, .nupdates = 1};
    strcpy(m.id, "b");
    strcpy(m.addr, "b:1");
    m.updates[0] = (struct ne_swim_update){.state = state, .incarnation = inc};
    strcpy(m.updates[0].id, "c");
    strcpy(m.updates[0].addr, "c:1");
    uint8_t buf[NE_SWIM_MAX_MSG];
    size_t len = ne_swim_msg_encode(&m, buf);
    if (len == 0 || ne_swim_receive(a, buf, len, 1) != 0) abort();
}

static enum ne_swim_state state_of_c(struct ne_swim *a, uint64_t *inc)
{
    struct ne_swim_member_info mi;
    if (ne_swim_find(a, "c", &mi) != 0) return NE_SWIM_NONE;
    *inc = mi.incarnation;
    return mi.state;
}

/* Which update wins at the same incarnation: STOPPED over ALIVE, SUSPECT
 * and DEAD; LEFT over STOPPED; nothing but a higher incarnation over
 * STOPPED or LEFT. */
static void test_stopped_precedence(void)
{
    struct ne_swim_opts o = {.id = "a", .addr = "a:1", .incarnation = 1, .send = drop_send};
    struct ne_swim *a = NULL;
    T_OK(ne_swim_new(&o, &a));
    static const struct {
        uint8_t state;
        uint64_t inc;
        enum ne_swim_state want;
    } steps[] = {
        {NE_SWIM_ALIVE, 5, NE_SWIM_ALIVE},     {NE_SWIM_DEAD, 5, NE_SWIM_DEAD},
        {NE_SWIM_STOPPED, 5, NE_SWIM_STOPPED}, {NE_SWIM_DEAD, 5, NE_SWIM_STOPPED},
        {NE_SWIM_SUSPECT, 5, NE_SWIM_STOPPED}, {NE_SWIM_ALIVE, 5, NE_SWIM_STOPPED},
        {NE_SWIM_LEFT, 5, NE_SWIM_LEFT},       {NE_SWIM_STOPPED, 5, NE_SWIM_LEFT},
        {NE_SWIM_ALIVE, 6, NE_SWIM_ALIVE},     {NE_SWIM_STOPPED, 6, NE_SWIM_STOPPED},
        {NE_SWIM_DEAD, 7, NE_SWIM_DEAD},
    };
    size_t i = 0;
    enum ne_swim_state got = NE_SWIM_NONE;
    uint64_t inc = 0;
    for (; i < sizeof steps / sizeof steps[0]; i++) {
        feed(a, steps[i].state, steps[i].inc);
        got = state_of_c(a, &inc);
        if (got != steps[i].want || inc != steps[i].inc) break;
    }
    ne_swim_free(&a);
    if (i < sizeof steps / sizeof steps[0])
        T_FAIL_("step %zu: c is %s at %llu, want %s", i, ne_swim_state_name(got),
                (unsigned long long)inc, ne_swim_state_name(steps[i].want));
}

static void test_message_codec(void)
{
    struct ne_swim_msg m = {.type = NE_SWIM_PING_REQ, .seq = 7, .incarnation = 99};
    strcpy(m.id, "a");
    strcpy(m.addr, "10.0.0.1:1");
    strcpy(m.target_id, "b");
    strcpy(m.target_addr, "10.0.0.2:1");
    m.nupdates = 2;
    m.updates[0] = (struct ne_swim_update){.state = NE_SWIM_SUSPECT, .incarnation = 5};
    strcpy(m.updates[0].id, "c");
    strcpy(m.updates[0].addr, "x:1");
    m.updates[1] = (struct ne_swim_update){.state = NE_SWIM_LEFT, .incarnation = 6};
    strcpy(m.updates[1].id, "d");
    strcpy(m.updates[1].addr, "y:2");
    uint8_t buf[NE_SWIM_MAX_MSG];
    size_t n = ne_swim_msg_encode(&m, buf);
    T_CHECK(n > 0);
    struct ne_swim_msg d;
    T_OK(ne_swim_msg_decode(buf, n, &d));
    T_EQ_INT(d.type, NE_SWIM_PING_REQ);
    T_EQ_U64(d.seq, 7);
    T_EQ_U64(d.incarnation, 99);
    T_EQ_STR(d.target_addr, "10.0.0.2:1");
    T_EQ_INT(d.nupdates, 2);
    T_EQ_STR(d.updates[1].id, "d");
    T_EQ_INT(d.updates[1].state, NE_SWIM_LEFT);
    m.updates[1].state = NE_SWIM_STOPPED;
    n = ne_swim_msg_encode(&m, buf);
    T_OK(ne_swim_msg_decode(buf, n, &d));
    T_EQ_INT(d.updates[1].state, NE_SWIM_STOPPED);
    m.updates[1].state = NE_SWIM_NONE; /* never on the wire */
    n = ne_swim_msg_encode(&m, buf);
    T_EQ_INT(ne_swim_msg_decode(buf, n, &d), NE_ECORRUPT);
    m.updates[1].state = NE_SWIM_LEFT;
    n = ne_swim_msg_encode(&m, buf);
    for (size_t cut = 0; cut < n; cut++)
        T_CHECK(ne_swim_msg_decode(buf, cut, &d) != 0);
    buf[20] ^= 1;
    T_EQ_INT(ne_swim_msg_decode(buf, n, &d), NE_ECORRUPT);
}

int main(void)
{
    T_RUN(test_message_codec);
    T_RUN(test_stopped_precedence);
    /* every scenario under several independent loss/latency patterns */
    for (uint64_t k = 1; k <= 8; k++) {
        g_seed = 0x9E3779B97F4A7C15ull * k;
        fprintf(stderr, "network seed %llu\n", (unsigned long long)k);
        T_RUN(test_join_converges_under_loss);
        T_RUN(test_crashed_node_detected_dead_in_bounded_periods);
        T_RUN(test_suspected_node_refutes);
        T_RUN(test_partition_heals);
        T_RUN(test_long_partition_heals_through_seeds);
        T_RUN(test_graceful_leave);
        T_RUN(test_restarted_node_rejoins);
        T_RUN(test_graceful_stop_and_restart);
        T_RUN(test_dead_member_removed_then_rejoins);
        T_RUN(test_stopped_member_removed);
        T_RUN(test_minority_removes_nobody);
        T_RUN(test_remove_by_hand);
    }
    sim_init(0, 0);
    return t_done();
}
