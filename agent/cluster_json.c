/*
 * cluster_json.c - GET /api/v1/cluster: what this node sees of the
 * cluster as JSON (members, counts, the placement ring, the transport,
 * anti-entropy and shard moves), written into the caller's buffer from
 * snapshots taken under the cluster's locks.
 */
#include <stdio.h>
#include <string.h>

#include "agent/cluster_int.h"
#include "agent/mod_cluster.h"
#include "ports/err.h"
#include "ports/platform.h"

static void sb_u64(struct agent__sbuf *b, uint64_t v)
{
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)v);
    agent__sb_str(b, num);
}

/* A named count of a JSON object. */
struct u64_field {
    const char *name;
    uint64_t v;
};

#define NFIELDS(f) (sizeof(f) / sizeof((f)[0]))

/* Appends "name":v for each of the n fields, separated by commas, the first
 * after lead ("{" opening the object, "," after other members). */
static void sb_u64_fields(struct agent__sbuf *b, const char *lead, const struct u64_field *f,
                          size_t n)
{
    for (size_t i = 0; i < n; i++) {
        agent__sb_str(b, i ? "," : lead);
        agent__sb_str(b, "\"");
        agent__sb_str(b, f[i].name);
        agent__sb_str(b, "\":");
        sb_u64(b, f[i].v);
    }
}

static void json_member(struct agent__sbuf *b, const struct ne_swim_member_info *m)
{
    agent__sb_str(b, "{\"id\":");
    agent__sb_json(b, m->id);
    agent__sb_str(b, ",\"addr\":");
    agent__sb_json(b, m->addr);
    agent__sb_str(b, ",\"state\":");
    agent__sb_json(b, ne_swim_state_name(m->state));
    agent__sb_str(b, ",\"incarnation\":");
    sb_u64(b, m->incarnation);
    agent__sb_str(b, "}");
}

/* Shards each ring node is primary for and owns (primary or replica). */
static void json_ring_nodes(struct agent__sbuf *b, const struct ne_ring *r)
{
    size_t nn = ne_ring_nodes(r);
    uint32_t shards = ne_ring_shards(r), reps = ne_ring_replicas(r);
    agent__sb_str(b, "[");
    for (size_t i = 0; i < nn; i++) {
        uint64_t primary = 0, owned = 0;
        for (uint32_t s = 0; s < shards; s++) {
            const uint32_t *own = ne_ring_owners(r, s);
            primary += own[0] == i;
            for (uint32_t k = 0; k < reps; k++)
                owned += own[k] == i;
        }
        agent__sb_str(b, i ? ",{\"id\":" : "{\"id\":");
        agent__sb_json(b, ne_ring_node_name(r, (uint32_t)i));
        agent__sb_str(b, ",\"primary\":");
        sb_u64(b, primary);
        agent__sb_str(b, ",\"owned\":");
        sb_u64(b, owned);
        agent__sb_str(b, "}");
    }
    agent__sb_str(b, "]");
}

/* Owners of every shard, primary first, as indices into "nodes". */
static void json_ring_owners(struct agent__sbuf *b, const struct ne_ring *r)
{
    uint32_t shards = ne_ring_shards(r), reps = ne_ring_replicas(r);
    agent__sb_str(b, "[");
    for (uint32_t s = 0; s < shards; s++) {
        const uint32_t *own = ne_ring_owners(r, s);
        agent__sb_str(b, s ? ",[" : "[");
        for (uint32_t k = 0; k < reps; k++) {
            if (k) agent__sb_str(b, ",");
            sb_u64(b, own[k]);
        }
        agent__sb_str(b, "]");
    }
    agent__sb_str(b, "]");
}

/* The ring the live members (alive or suspect, not decommissioned) would
 * compute. */
static int json_ring(struct agent__sbuf *b, const struct cluster *c,
                     const struct ne_swim_member_info *ms, size_t n)
{
    const char *names[MAX_MEMBERS];
    size_t nn = 0;
    for (size_t i = 0; i < n; i++)
        if ((ms[i].state == NE_SWIM_ALIVE || ms[i].state == NE_SWIM_SUSPECT) &&
            !agent__cluster_unplaced((struct cluster *)c, ms[i].id))
            names[nn++] = ms[i].id;
    if (nn == 0) return NE_EINVAL; /* a decommissioned node alone */
    struct ne_ring_opts ro = {
        .shards = c->opts.shards, .vnodes = c->opts.vnodes, .rf = c->opts.replication_factor};
    struct ne_ring *r = NULL;
    int rc = ne_ring_build(&ro, names, nn, &r);
    if (rc != 0) return rc;
    const struct u64_field f[] = {
        {"shards", ne_ring_shards(r)},
        {"vnodes", c->opts.vnodes},
        {"replication_factor", c->opts.replication_factor},
        {"replicas", ne_ring_replicas(r)},
    };
    sb_u64_fields(b, "{", f, NFIELDS(f));
    agent__sb_str(b, ",\"nodes\":");
    json_ring_nodes(b, r);
    agent__sb_str(b, ",\"owners\":");
    json_ring_owners(b, r);
    agent__sb_str(b, "}");
    ne_ring_free(&r);
    return 0;
}

static void json_transport(struct agent__sbuf *b, const struct cluster *c)
{
    struct ne_transport_stats st;
    ne_transport_stats(c->tp, &st);
    agent__sb_str(b, "{\"addr\":");
    agent__sb_json(b, ne_transport_addr(c->tp));
    const struct u64_field f[] = {
        {"dialed", st.dialed},
        {"accepted", st.accepted},
        {"handshake_failed", st.handshake_failed},
    };
    sb_u64_fields(b, ",", f, NFIELDS(f));
    agent__sb_str(b, "}");
}

static void json_counts(struct agent__sbuf *b, const struct ne_swim_member_info *ms, size_t n)
{
    size_t counts[NSTATES] = {0};
    for (size_t i = 0; i < n; i++)
        if (ms[i].state < NSTATES) counts[ms[i].state]++;
    for (int s = 0; s < NSTATES; s++) {
        agent__sb_str(b, s ? ",\"" : "{\"");
        agent__sb_str(b, agent__cluster_state_names[s]);
        agent__sb_str(b, "\":");
        sb_u64(b, counts[s]);
    }
    agent__sb_str(b, "}");
}

static void json_antientropy(struct agent__sbuf *b, const struct cluster *c)
{
    struct ne_ae_stats st;
    ne_ae_stats(c->ae, &st);
    const struct u64_field f[] = {
        {"interval_s", (uint64_t)(c->ae_interval_ns / 1000000000LL)},
        {"rounds", st.rounds},
        {"rounds_failed", st.rounds_failed},
        {"buckets_compared", st.buckets_compared},
        {"buckets_differing", st.buckets_differing},
        {"series_differing", st.series_differing},
        {"points_repaired", st.points_repaired},
        {"bytes_pulled", st.bytes_pulled},
        {"rounds_full", st.rounds_full},
        {"points_digested", st.points_digested},
    };
    sb_u64_fields(b, "{", f, NFIELDS(f));
    agent__sb_str(b, "}");
}

/* "rebalance": this node's shard moves and decommission state, and the
 * members it places without: decommissioned, refused for their node tags
 * ("refused" names this node itself when it refused to join), and removed
 * (LEFT: left or removed while down). */
static void json_rebalance(struct agent__sbuf *b, struct cluster *c)
{
    pthread_mutex_lock(&c->mv_mu);
    uint64_t moving = ne_rebal_count_moving(c->rb), leaving = ne_rebal_count_leaving(c->rb);
    uint64_t moves = c->mv_moves, bytes = c->mv_bytes, points = c->mv_points,
             dropped = c->mv_dropped;
    const char *dec = c->mv_done ? "done" : ne_rebal_decommissioned(c->rb) ? "leaving" : "none";
    pthread_mutex_unlock(&c->mv_mu);
    const struct u64_field f[] = {
        {"shards_moving", moving}, {"shards_leaving", leaving}, {"moves_completed", moves},
        {"bytes_moved", bytes},    {"points_moved", points},    {"shards_dropped", dropped},
    };
    sb_u64_fields(b, "{", f, NFIELDS(f));
    agent__sb_str(b, ",\"decommission\":");
    agent__sb_json(b, dec);
    agent__sb_str(b, ",\"decommissioned\":[");
    pthread_mutex_lock(&c->ring_mu);
    for (int refused = 0; refused < 2; refused++) {
        if (refused) agent__sb_str(b, "],\"refused\":[");
        bool first = true;
        for (size_t i = 0; i < c->nring; i++) {
            const struct ring_member *m = &c->ring_members[i];
            bool in =
                refused ? (i == 0 ? atomic_load(&c->self_refused) : m->refused) : i > 0 && m->decom;
            if (!in) continue;
            agent__sb_str(b, first ? "" : ",");
            agent__sb_json(b, m->id);
            first = false;
        }
    }
    agent__sb_str(b, "],\"removed\":[");
    bool first = true;
    for (size_t i = 1; i < c->nring; i++)
        if (c->ring_members[i].state == NE_SWIM_LEFT) {
            agent__sb_str(b, first ? "" : ",");
            agent__sb_json(b, c->ring_members[i].id);
            first = false;
        }
    pthread_mutex_unlock(&c->ring_mu);
    agent__sb_str(b, "]}");
}

int agent__cluster_json(const struct ne_agent *a, struct agent__sbuf *b)
{
    struct cluster *c = agent__cluster_find(a);
    if (!c) return NE_ENOTFOUND;
    struct ne_swim_member_info *ms = ne_calloc(MAX_MEMBERS, sizeof *ms);
    if (!ms) return NE_ENOMEM;
    size_t n = ne_membership_snapshot(c->mem, ms, MAX_MEMBERS);
    if (n > MAX_MEMBERS) n = MAX_MEMBERS;
    agent__sb_str(b, "{\"node\":{\"id\":");
    agent__sb_json(b, ms[0].id);
    agent__sb_str(b, ",\"addr\":");
    agent__sb_json(b, ms[0].addr);
    agent__sb_str(b, ",\"incarnation\":");
    sb_u64(b, ms[0].incarnation);
    agent__sb_str(b, "},\"members\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) agent__sb_str(b, ",");
        json_member(b, &ms[i]);
    }
    agent__sb_str(b, "],\"counts\":");
    json_counts(b, ms, n);
    agent__sb_str(b, ",\"ring\":");
    /* NE_ENOMEM shows in b->err; names are unique, so nothing else fails */
    if (json_ring(b, c, ms, n) != 0) agent__sb_str(b, "null");
    agent__sb_str(b, ",\"transport\":");
    json_transport(b, c);
    agent__sb_str(b, ",\"rejected_datagrams\":");
    sb_u64(b, ne_membership_rejected(c->mem));
    agent__sb_str(b, ",\"antientropy\":");
    json_antientropy(b, c);
    agent__sb_str(b, ",\"rebalance\":");
    json_rebalance(b, c);
    agent__sb_str(b, "}\n");
    ne_free(ms);
    return b->err;
}
