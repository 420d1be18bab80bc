/*
 * rebalance_test.c - the shard move state machine over simulated nodes:
 * bootstrap of a new cluster, a node added (who owns, who serves reads,
 * when a drop is allowed), a new owner dying mid-move, a dropped shard
 * owned again, decommission, the saved state and the status messages.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"
#include "sharding/rebalance.h"
#include "sharding/ring.h"
#include "t.h"

#define SHARDS 64
#define MAXN   5

struct sim {
    const char *names[MAXN];
    struct ne_rebal *rb[MAXN];
    bool alive[MAXN];
    size_t n;
};

static int sim_index(const struct sim *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->names[i], name) == 0) return (int)i;
    return -1;
}

/* What a peer learns from a live node's status; a dead node holds
 * nothing as far as anyone can tell. */
static bool holds(void *ctx, uint32_t shard, const char *node)
{
    struct sim *s = ctx;
    int i = sim_index(s, node);
    return i >= 0 && s->alive[i] && ne_rebal_holds(s->rb[i], shard);
}

static struct ne_ring *ring_of(struct sim *s, const bool *in, uint32_t rf)
{
    const char *names[MAXN];
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        if (in[i]) names[n++] = s->names[i];
    struct ne_ring_opts o = {.shards = SHARDS, .vnodes = 16, .rf = rf};
    struct ne_ring *r = NULL;
    if (ne_ring_build(&o, names, n, &r) != 0) {
        fprintf(stderr, "cannot build a ring\n");
        exit(1);
    }
    return r;
}

static void apply_all(struct sim *s, const struct ne_ring *r)
{
    for (size_t i = 0; i < s->n; i++)
        T_OK(ne_rebal_apply(s->rb[i], r, s->names[i]));
}

/* Live nodes holding shard complete (the copies a read may use). */
static int complete_copies(struct sim *s, uint32_t shard)
{
    int n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += holds(s, shard, s->names[i]);
    return n;
}

/* Nodes with any copy (complete or not, dead or alive). */
static int copies(struct sim *s, uint32_t shard)
{
    int n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += ne_rebal_owner(s->rb[i], shard) || ne_rebal_leaving(s->rb[i], shard);
    return n;
}

/* Each live node's bootstrap with every ring member's status known. */
static void bootstrap_all(struct sim *s, const struct ne_ring *r)
{
    const char *members[MAXN];
    bool known[MAXN];
    size_t n = ne_ring_nodes(r);
    for (size_t k = 0; k < n; k++) {
        members[k] = ne_ring_node_name(r, (uint32_t)k);
        known[k] = s->alive[sim_index(s, members[k])];
    }
    for (size_t i = 0; i < s->n; i++)
        if (s->alive[i]) ne_rebal_bootstrap(s->rb[i], members, known, n, holds, s);
}

/* Node i pulls up to max of its moving shards from a live holder. */
static uint32_t pull_some(struct sim *s, size_t i, uint32_t max)
{
    uint32_t done = 0;
    for (uint32_t sh = 0; sh < SHARDS && done < max; sh++) {
        if (!ne_rebal_moving(s->rb[i], sh)) continue;
        for (size_t j = 0; j < s->n; j++)
            if (j != i && holds(s, sh, s->names[j])) {
                ne_rebal_pulled(s->rb[i], sh);
                done++;
                break;
            }
    }
    return done;
}

/* A new cluster forms: the first owner to bootstrap a shard takes it,
 * the other owners see it held and pull it. */
static void form(struct sim *s, const struct ne_ring *r)
{
    bootstrap_all(s, r);
    for (size_t i = 0; i < s->n; i++)
        if (s->alive[i]) pull_some(s, i, SHARDS);
}

/* Every node drops what it may; returns the number of drops. */
static uint32_t drop_all(struct sim *s, const struct ne_ring *r)
{
    uint32_t n = 0;
    for (size_t i = 0; i < s->n; i++)
        for (uint32_t sh = 0; s->alive[i] && sh < SHARDS; sh++)
            if (ne_rebal_may_drop(s->rb[i], r, sh, holds, s)) {
                ne_rebal_dropped(s->rb[i], sh);
                n++;
            }
    return n;
}

static void sim_init(struct sim *s, size_t n)
{
    static const char *names[MAXN] = {"gw-a", "gw-b", "gw-c", "gw-d", "gw-e"};
    memset(s, 0, sizeof *s);
    s->n = n;
    for (size_t i = 0; i < n; i++) {
        s->names[i] = names[i];
        s->alive[i] = true;
        T_OK(ne_rebal_new(SHARDS, true, &s->rb[i]));
    }
}

static void sim_free(struct sim *s)
{
    for (size_t i = 0; i < s->n; i++)
        ne_rebal_free(&s->rb[i]);
}

/* A new cluster: nobody holds anything, every status known: the owners
 * take their shards as complete, and nothing moves. */
static void test_bootstrap(void)
{
    struct sim s;
    sim_init(&s, 3);
    bool in[MAXN] = {true, true, true};
    struct ne_ring *r = ring_of(&s, in, 2);
    apply_all(&s, r);
    for (uint32_t sh = 0; sh < SHARDS; sh++)
        T_EQ_INT(complete_copies(&s, sh), 0);
    T_EQ_INT(ne_rebal_count_moving(s.rb[0]) > 0, 1);
    /* one member's status unknown: nothing is taken (it may hold data) */
    const char *members[3] = {"gw-a", "gw-b", "gw-c"};
    bool known[3] = {true, true, false};
    T_EQ_INT(ne_rebal_bootstrap(s.rb[0], members, known, 3, holds, &s), 0);
    form(&s, r);
    for (uint32_t sh = 0; sh < SHARDS; sh++) {
        T_EQ_INT(complete_copies(&s, sh), 2);
        T_EQ_INT(copies(&s, sh), 2);
    }
    for (size_t i = 0; i < 3; i++)
        T_EQ_INT(ne_rebal_count_moving(s.rb[i]), 0);
    ne_ring_free(&r);
    sim_free(&s);
}

/* A simulation of n nodes formed on the ring of all of them (replication
 * rf), which it returns (the caller frees it). */
static struct ne_ring *formed(struct sim *s, size_t n, uint32_t rf)
{
    sim_init(s, n);
    bool in[MAXN] = {false};
    for (size_t i = 0; i < n; i++)
        in[i] = true;
    struct ne_ring *r = ring_of(s, in, rf);
    apply_all(s, r);
    form(s, r);
    return r;
}

/* A simulation of four nodes: nodes 0 to 2 form a cluster on their ring
 * (replication rf) while node 3 is down; then node 3 starts and every
 * node applies the ring of all four. *r3 and *r4 get the two rings
 * (sim_rings_free frees them and the simulation). */
static void fourth_joins(struct sim *s, uint32_t rf, struct ne_ring **r3, struct ne_ring **r4)
{
    sim_init(s, 4);
    s->alive[3] = false;
    bool in3[MAXN] = {true, true, true, false};
    *r3 = ring_of(s, in3, rf);
    for (size_t i = 0; i < 3; i++)
        T_OK(ne_rebal_apply(s->rb[i], *r3, s->names[i]));
    form(s, *r3);
    s->alive[3] = true;
    bool in4[MAXN] = {true, true, true, true};
    *r4 = ring_of(s, in4, rf);
    apply_all(s, *r4);
}

/* Frees the two rings of a test and its simulation. */
static void sim_rings_free(struct sim *s, struct ne_ring **r3, struct ne_ring **r4)
{
    ne_ring_free(r3);
    ne_ring_free(r4);
    sim_free(s);
}

/* A fourth node joins a cluster with data: it pulls what it gains, reads
 * always find RF complete copies, and the old owners drop theirs only
 * after the new owner holds the shard. */
static void test_join(void)
{
    struct sim s;
    struct ne_ring *r3, *r4;
    fourth_joins(&s, 2, &r3, &r4); /* gw-d starts after the others */
    /* the new node cannot bootstrap: the others hold every shard */
    bootstrap_all(&s, r4);
    uint32_t moving = ne_rebal_count_moving(s.rb[3]);
    T_CHECK(moving > 0);
    uint32_t leaving = 0;
    for (size_t i = 0; i < 3; i++) {
        T_EQ_INT(ne_rebal_count_moving(s.rb[i]), 0);
        leaving += ne_rebal_count_leaving(s.rb[i]);
    }
    T_EQ_INT(leaving, moving); /* one old owner gives way per gained shard */
    uint32_t pulled = 0, dropped = 0;
    while (pulled < moving) {
        for (uint32_t sh = 0; sh < SHARDS; sh++) {
            T_EQ_INT(complete_copies(&s, sh) >= 2, 1); /* never below RF */
            /* a moving shard is never served by its incomplete new owner */
            if (ne_rebal_moving(s.rb[3], sh)) T_CHECK(!holds(&s, sh, "gw-d"));
        }
        /* before the new owner holds it, nobody may drop a shard */
        for (size_t i = 0; i < 3; i++)
            for (uint32_t sh = 0; sh < SHARDS; sh++)
                if (ne_rebal_moving(s.rb[3], sh))
                    T_CHECK(!ne_rebal_may_drop(s.rb[i], r4, sh, holds, &s));
        dropped += drop_all(&s, r4);
        uint32_t k = pull_some(&s, 3, 3);
        T_CHECK(k > 0);
        pulled += k;
    }
    dropped += drop_all(&s, r4);
    T_EQ_INT(dropped, leaving);
    T_EQ_INT(drop_all(&s, r4), 0); /* nothing twice */
    for (uint32_t sh = 0; sh < SHARDS; sh++) {
        T_EQ_INT(complete_copies(&s, sh), 2);
        T_EQ_INT(copies(&s, sh), 2); /* old owners dropped theirs */
        for (size_t i = 0; i < 4; i++)
            T_EQ_INT(ne_rebal_owner(s.rb[i], sh), ne_ring_is_owner(r4, sh, (uint32_t)i));
    }
    sim_rings_free(&s, &r3, &r4);
}

/* The new owner dies half way: what it had not pulled stays on the old
 * owners (no drop), and what it had pulled is not dropped either while
 * it is down (its copy cannot be confirmed). */
static void test_new_owner_dies(void)
{
    struct sim s;
    struct ne_ring *r3, *r4;
    fourth_joins(&s, 2, &r3, &r4);
    uint32_t moving = ne_rebal_count_moving(s.rb[3]);
    T_CHECK(moving >= 2);
    T_EQ_INT(pull_some(&s, 3, moving / 2), moving / 2);
    s.alive[3] = false; /* dies; it stays on the ring (a dead member keeps its shards) */
    T_EQ_INT(drop_all(&s, r4), 0);
    for (uint32_t sh = 0; sh < SHARDS; sh++) {
        if (!ne_ring_is_owner(r4, sh, 3)) continue;
        /* the surviving old copies still serve every shard it gained */
        T_EQ_INT(complete_copies(&s, sh), 2);
    }
    /* it comes back: pulls the rest, then the old owners drop */
    s.alive[3] = true;
    T_EQ_INT(pull_some(&s, 3, SHARDS), moving - moving / 2);
    T_EQ_INT(drop_all(&s, r4), moving);
    for (uint32_t sh = 0; sh < SHARDS; sh++)
        T_EQ_INT(copies(&s, sh), 2);
    sim_rings_free(&s, &r3, &r4);
}

/* The source of a pull dies: the new owner pulls from the other holder. */
static void test_source_dies(void)
{
    struct sim s;
    struct ne_ring *r3, *r4;
    fourth_joins(&s, 3, &r3, &r4); /* every old node holds every shard */
    s.alive[0] = false;
    uint32_t moving = ne_rebal_count_moving(s.rb[3]);
    T_EQ_INT(pull_some(&s, 3, SHARDS), moving);
    sim_rings_free(&s, &r3, &r4);
}

/* Decommission: the node leaves the ring, keeps serving its shards until
 * the others hold them, and is done only then. */
static void test_decommission(void)
{
    struct sim s;
    struct ne_ring *r4 = formed(&s, 4, 2);
    ne_rebal_set_decommissioned(s.rb[2]);
    bool in3[MAXN] = {true, true, false, true};
    struct ne_ring *r3 = ring_of(&s, in3, 2);
    apply_all(&s, r3);
    T_CHECK(!ne_rebal_done(s.rb[2], r3, holds, &s));
    T_CHECK(ne_rebal_count_leaving(s.rb[2]) > 0);
    for (uint32_t sh = 0; sh < SHARDS; sh++) {
        T_EQ_INT(ne_rebal_owner(s.rb[2], sh), 0);
        T_EQ_INT(complete_copies(&s, sh), 2); /* its copies still count */
    }
    /* a re-applied ring that still lists it gives it nothing */
    T_OK(ne_rebal_apply(s.rb[2], r4, "gw-c"));
    T_EQ_INT(ne_rebal_count_moving(s.rb[2]), 0);
    T_OK(ne_rebal_apply(s.rb[2], r3, "gw-c"));
    for (size_t i = 0; i < 4; i++)
        if (i != 2) pull_some(&s, i, SHARDS);
    T_CHECK(ne_rebal_done(s.rb[2], r3, holds, &s));
    drop_all(&s, r3);
    for (uint32_t sh = 0; sh < SHARDS; sh++) {
        T_EQ_INT(copies(&s, sh), 2);
        T_EQ_INT(ne_rebal_leaving(s.rb[2], sh), 0);
    }
    sim_rings_free(&s, &r3, &r4);
}

/* A node restarts: its copies are complete no more; it pulls from a
 * holder, or, when the whole cluster restarted, takes them as they are. */
static void test_restart(void)
{
    struct sim s;
    struct ne_ring *r = formed(&s, 3, 2);
    ne_rebal_restarted(s.rb[0]);
    T_OK(ne_rebal_apply(s.rb[0], r, "gw-a"));
    uint32_t moving = ne_rebal_count_moving(s.rb[0]);
    T_CHECK(moving > 0);
    bootstrap_all(&s, r); /* the co-owners hold them: nothing taken */
    T_EQ_INT(ne_rebal_count_moving(s.rb[0]), moving);
    for (uint32_t sh = 0; sh < SHARDS; sh++)
        T_EQ_INT(complete_copies(&s, sh) >= 1, 1); /* reads still have a copy */
    T_EQ_INT(pull_some(&s, 0, SHARDS), moving);
    /* the whole cluster restarts */
    for (size_t i = 0; i < 3; i++)
        ne_rebal_restarted(s.rb[i]);
    bootstrap_all(&s, r);
    for (uint32_t sh = 0; sh < SHARDS; sh++)
        T_EQ_INT(complete_copies(&s, sh) >= 1, 1);
    ne_ring_free(&r);
    sim_free(&s);
}

static void test_save_load(void)
{
    struct sim s;
    struct ne_ring *r = formed(&s, 2, 1);
    ne_rebal_set_decommissioned(s.rb[1]);
    struct ne_pbuf b = {0};
    T_OK(ne_rebal_save(s.rb[1], &b));
    struct ne_rebal *back = NULL;
    T_OK(ne_rebal_load(b.p, b.len, SHARDS, &back));
    T_CHECK(ne_rebal_decommissioned(back));
    for (uint32_t sh = 0; sh < SHARDS; sh++) {
        T_EQ_INT(ne_rebal_holds(back, sh), ne_rebal_holds(s.rb[1], sh));
        T_EQ_INT(ne_rebal_owner(back, sh), ne_rebal_owner(s.rb[1], sh));
    }
    ne_rebal_free(&back);
    T_EQ_INT(ne_rebal_load(b.p, b.len, SHARDS + 1, &back), NE_EINVAL);
    b.p[14] ^= 0x2; /* a shard state byte: the checksum no longer matches */
    T_EQ_INT(ne_rebal_load(b.p, b.len, SHARDS, &back), NE_ECORRUPT);
    T_EQ_INT(ne_rebal_load(b.p, 10, SHARDS, &back), NE_ECORRUPT);
    ne_pbuf_free(&b);
    ne_ring_free(&r);
    sim_free(&s);
}

/* The ring changes back after the old owners dropped their copies: a
 * shard a node dropped and owns again is moving, never held (whatever
 * writes reached it meanwhile, its copy is partial), and its status says
 * so: reads and keeper writes go elsewhere until it pulled the shard. */
static void test_dropped_regained(void)
{
    struct sim s;
    struct ne_ring *r3, *r4;
    fourth_joins(&s, 1, &r3, &r4);
    bootstrap_all(&s, r4);
    while (pull_some(&s, 3, SHARDS) > 0) {
    }
    bool was_leaving[3][SHARDS];
    for (size_t i = 0; i < 3; i++)
        for (uint32_t sh = 0; sh < SHARDS; sh++)
            was_leaving[i][sh] = ne_rebal_leaving(s.rb[i], sh);
    T_CHECK(drop_all(&s, r4) > 0);
    s.alive[3] = false; /* gw-d leaves: the ring is the old one again */
    for (size_t i = 0; i < 3; i++)
        T_OK(ne_rebal_apply(s.rb[i], r3, s.names[i]));
    struct ne_pbuf req = {0}, rep = {0};
    T_OK(ne_rebal_status_req(SHARDS, &req));
    uint32_t regained = 0;
    for (size_t i = 0; i < 3; i++) {
        T_OK(ne_rebal_status_serve(s.rb[i], req.p, req.len, &rep));
        uint8_t bits[SHARDS / 8];
        bool dec = true;
        T_OK(ne_rebal_status_parse(rep.p, rep.len, SHARDS, bits, &dec, NULL));
        for (uint32_t sh = 0; sh < SHARDS; sh++) {
            if (!was_leaving[i][sh]) continue;
            regained++;
            T_CHECK(ne_rebal_owner(s.rb[i], sh));
            T_CHECK(ne_rebal_moving(s.rb[i], sh));
            T_CHECK(!ne_rebal_holds(s.rb[i], sh));
            T_CHECK(!ne_rebal_bit(bits, sh));
        }
        rep.len = 0;
    }
    T_CHECK(regained > 0);
    ne_pbuf_free(&req);
    ne_pbuf_free(&rep);
    sim_rings_free(&s, &r3, &r4);
}

static void test_status(void)
{
    struct sim s;
    struct ne_ring *r = formed(&s, 2, 1);
    struct ne_pbuf req = {0}, rep = {0};
    T_OK(ne_rebal_status_req(SHARDS, &req));
    T_OK(ne_rebal_status_serve(s.rb[0], req.p, req.len, &rep));
    uint8_t bits[SHARDS / 8];
    bool dec = true;
    int tag = 0;
    T_OK(ne_rebal_status_parse(rep.p, rep.len, SHARDS, bits, &dec, &tag));
    T_CHECK(!dec);
    T_EQ_INT(tag, -1); /* no tag set: none sent */
    for (uint32_t sh = 0; sh < SHARDS; sh++)
        T_EQ_INT(ne_rebal_bit(bits, sh), ne_rebal_holds(s.rb[0], sh));
    T_EQ_INT(ne_rebal_status_parse(rep.p, rep.len - 1, SHARDS, bits, &dec, NULL), NE_ECORRUPT);
    T_EQ_INT(ne_rebal_status_parse(rep.p, rep.len, SHARDS * 2, bits, &dec, NULL), NE_ECORRUPT);
    /* with the node's version tag (cluster.node_tag) */
    ne_rebal_set_tag(s.rb[0], 200);
    T_OK(ne_rebal_status_serve(s.rb[0], req.p, req.len, &rep));
    T_OK(ne_rebal_status_parse(rep.p, rep.len, SHARDS, bits, &dec, &tag));
    T_EQ_INT(tag, 200);
    for (uint32_t sh = 0; sh < SHARDS; sh++)
        T_EQ_INT(ne_rebal_bit(bits, sh), ne_rebal_holds(s.rb[0], sh));
    T_EQ_INT(ne_rebal_status_parse(rep.p, rep.len - 1, SHARDS, bits, &dec, &tag), NE_ECORRUPT);
    T_EQ_INT(ne_rebal_status_serve(s.rb[0], req.p, req.len - 1, &rep), NE_ECORRUPT);
    req.len = 0;
    T_OK(ne_rebal_status_req(SHARDS + 8, &req));
    T_EQ_INT(ne_rebal_status_serve(s.rb[0], req.p, req.len, &rep), NE_EINVAL);
    ne_pbuf_free(&req);
    ne_pbuf_free(&rep);
    ne_ring_free(&r);
    sim_free(&s);
}

int main(void)
{
    T_RUN(test_bootstrap);
    T_RUN(test_join);
    T_RUN(test_new_owner_dies);
    T_RUN(test_source_dies);
    T_RUN(test_decommission);
    T_RUN(test_restart);
    T_RUN(test_save_load);
    T_RUN(test_dropped_regained);
    T_RUN(test_status);
    return t_done();
}
