/*
 * cluster_int.h - what the cluster module's files share: the state of the
 * running cluster (struct cluster, owned by mod_cluster.c, which starts
 * and stops it) and the lookups the JSON writer (cluster_json.c) needs.
 * Locks and invariants are described in mod_cluster.c's header comment.
 */
#ifndef NE_AGENT_CLUSTER_INT_H
#define NE_AGENT_CLUSTER_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "agent/agent.h"
#include "agent/sbuf.h"
#include "ports/metrics.h"
#include "sharding/antientropy.h"
#include "sharding/cluster.h"
#include "sharding/hlc.h"
#include "sharding/membership.h"
#include "sharding/rebalance.h"
#include "sharding/removed.h"
#include "sharding/replicate.h"
#include "sharding/tomb.h"
#include "sharding/transport.h"
#include "store/query/query.h"

#define MAX_MEMBERS 256
#define NSTATES     5 /* alive, suspect, dead, left, stopped */

struct cluster {
    const struct ne_agent *agent;
    struct ne_cluster_opts opts; /* strings borrowed from the agent's config */
    struct ne_membership *mem;
    struct ne_transport *tp;
    struct ne_qsrc local; /* this node's store, as peers' reads see it */
    pthread_t checker;    /* pings the seeds once over the transport */
    bool checker_started;
    atomic_bool stop;
    size_t other_seeds; /* seeds that are not this node */
    long counts[NSTATES];
    struct ne_metric *m_members[NSTATES];
    /* replication */
    struct ne_agent *owner;      /* whose sink is wrapped (NULL: not wrapped) */
    struct ne_ingest_sink inner; /* the sink before wrapping: the local store */
    pthread_rwlock_t rep_lock;   /* rep against inbound requests at stop */
    pthread_rwlock_t drop_lock;  /* inbound writes (read) against a shard drop (write) */
    struct ne_replicator *rep;   /* NULL until started */
    struct ne_hlc hlc;           /* versions of the writes this node accepts */
    uint8_t node_tag;            /* ne_lww_node_tag of this node */
    /* cluster-wide deletions (see "deletions" below) */
    struct ne_tombs *tombs;
    pthread_mutex_t tomb_mu;     /* tomb_seen */
    uint64_t tomb_seen;          /* ne_tombs_dropped already in the metric */
    struct ne_metric *m_tomb_dropped, *m_tombs;
    /* anti-entropy */
    struct ne_ae *ae;
    int64_t ae_interval_ns;       /* read once at start (a reload needs a restart) */
    pthread_t ae_thread;
    bool ae_started;
    pthread_mutex_t ae_mu;
    pthread_cond_t ae_cv;
    bool ae_kick;                 /* a peer came back alive: run a pass now */
    struct ne_ae_stats ae_seen;   /* counters already added to the metrics */
    struct ne_metric *m_ae[5];
    const char *partition_file;   /* NEOEDGE_TEST_PARTITION (tests only) */
    char dropped[16][NE_NODE_ID_MAX + 1];
    char dropped_addr[16][NE_ADDR_MAX + 1];
    size_t ndropped;
    pthread_mutex_t ring_mu;     /* the member table below */
    struct ring_member {
        char id[NE_NODE_ID_MAX + 1];
        char addr[NE_ADDR_MAX + 1]; /* its member address ("": not known yet) */
        uint64_t inc;               /* its incarnation, as membership last said */
        enum ne_swim_state state;
        bool decom;              /* decommissioned: off the placement ring */
        bool refused;            /* its node tag collides: refused (node tags below) */
    } ring_members[MAX_MEMBERS]; /* every member seen, self first */
    size_t nring;
    struct ne_pbuf removed_saved; /* data_dir/cluster/removed as last saved */
    struct ne_metric *m_removed;  /* members removed after being down */
    int64_t started_ns;           /* monotonic time the module started */
    atomic_bool ring_stale;
    atomic_bool self_decom;              /* this node is decommissioned */
    atomic_bool self_refused;            /* this node refused to join (node tags) */
    char refused_by[NE_NODE_ID_MAX + 1]; /* the member it collides with (ring_mu) */
    atomic_bool self_removed;            /* the others had removed this node: re-pull */
    /* shard moves (cluster_moves.c) */
    pthread_mutex_t mv_mu; /* everything down to mv_done */
    struct ne_rebal *rb;
    struct peer_status {
        char id[NE_NODE_ID_MAX + 1];
        uint8_t *holds;  /* ceil(shards / 8) bytes; NULL: never heard */
        int64_t seen_ns; /* monotonic time of its last status (0: none valid) */
        uint64_t inc;    /* its incarnation when that status was taken */
        int tag1;        /* 1 + the version tag its status gave; 0: none (from its id) */
    } peers[MAX_MEMBERS];
    size_t npeers;
    uint8_t *drop_seen;   /* per shard: ticks in a row a drop was allowed */
    int64_t moving_since; /* when shards last became moving here */
    struct ne_pbuf saved; /* the state as last saved */
    uint64_t mv_bytes, mv_points, mv_moves, mv_dropped;
    bool mv_done;                  /* decommissioned and nothing depends on this node */
    atomic_llong member_change_ns; /* monotonic time of the last member change */
    struct ne_metric *m_mv[7];
};

/* Names of the member states, by enum ne_swim_state (NSTATES of them). */
extern const char *const agent__cluster_state_names[NSTATES];

/* The running cluster of a (NULL: none). Only the daemon's threads call
 * it, between start and stop; the cluster stays valid until stop. */
struct cluster *agent__cluster_find(const struct ne_agent *a);

/* Whether member id is off the placement ring: decommissioned, refused
 * for its node tag, or any other member while this node is refused. */
bool agent__cluster_unplaced(struct cluster *c, const char *id);

/* ---- shared by mod_cluster.c and cluster_moves.c ---------------------------
 * Everything below runs on the daemon's threads between start and stop;
 * c is the running cluster. Nothing returned is owned by the caller. */

/* A peer to call over the transport: ctx of agent__cluster_ae_call. */
struct ae_peer {
    struct cluster *c;
    const char *id, *addr; /* borrowed */
};

/* The anti-entropy request callback (sharding/antientropy.h): one
 * transport call to the struct ae_peer ctx. Returns 0 or an NE_E* code. */
int agent__cluster_ae_call(void *ctx, uint8_t type, const void *msg, size_t n,
                           struct ne_pbuf *reply, uint8_t *reply_type);

/* Whether addr is this node's membership or listen address. */
bool agent__cluster_is_self(const struct cluster *c, const char *addr);

/* Whether member id is cut off by the test partition hook. */
bool agent__cluster_is_dropped(const struct cluster *c, const char *id);

/* Whether requests of peer id are refused: it is, or this node is
 * (node tags). Takes ring_mu. */
bool agent__cluster_peer_refused(struct cluster *c, const char *id);

/* Refuses the later of every pair of live members sharing a node tag,
 * and takes a refusal back once the collision is gone; ms[0..n) as
 * membership listed them, self first. Takes mv_mu, then ring_mu (not
 * nested). */
void agent__cluster_tag_check(struct cluster *c, const struct ne_swim_member_info *ms, size_t n);

/* Builds the write ring into *out (the caller's, freed with
 * ne_ring_free); ring_mu held. names: room for MAX_MEMBERS, filled with
 * *n borrowed ids. Returns 0 or an NE_E* code. */
int agent__cluster_ring_build_locked(struct cluster *c, const char **names, size_t *n,
                                     struct ne_ring **out);

/* Rebuilds the replicator's ring when members came or left (ring_mu). */
void agent__cluster_ring_refresh(struct cluster *c);

/* Removes the members of the last run's write ring that membership has
 * not heard of since this node started, once dead_member_timeout has
 * passed since the start and a majority is seen alive (anti-entropy
 * thread). */
void agent__cluster_remove_forgotten(struct cluster *c);

/* ---- shard moves (cluster_moves.c) ---- */

/* The status kept of peer id (NULL: none; with add, a new empty one
 * unless MAX_MEMBERS are known); mv_mu held. Points into c. */
struct peer_status *agent__cluster_peer_find(struct cluster *c, const char *id, bool add);

/* Forgets the status of every member of ms[1..n) (a membership snapshot)
 * whose incarnation is not the one the status was taken at: a restarted
 * member comes back with a new incarnation and without the shards it
 * held complete before, which its old status would still claim for up to
 * STATUS_FRESH_NS. mv_mu held. */
void agent__cluster_statuses_check(struct cluster *c, const struct ne_swim_member_info *ms,
                                   size_t n);

/* rebalance.h's holds callback (ctx: the cluster); mv_mu held. */
bool agent__cluster_holds_locked(void *ctx, uint32_t shard, const char *node);

/* The replicator's keeps callback (ctx: the cluster): this node owns the
 * series' shard or has not dropped its copy. Takes mv_mu. */
bool agent__cluster_keeps_shard(void *ctx, uint64_t series_hash);

/* Loads data_dir/cluster/shards (an unreadable file: every shard is
 * pulled again) and sets up the move state and metrics. Returns 0 or an
 * NE_E* code; agent__cluster_stop_moves frees what was set up either
 * way. */
int agent__cluster_start_moves(struct cluster *c);

/* Frees what agent__cluster_start_moves set up. */
void agent__cluster_stop_moves(struct cluster *c);

/* One tick of shard moves (anti-entropy thread): apply the ring, poll
 * statuses, pull moving shards, drop kept ones. */
void agent__cluster_move_tick(struct cluster *c);

/* Decommissions this node (saved; reported in its status). */
void agent__cluster_decommission_self(struct cluster *c);

/* Answers a transport request of shard moves (NE_FT_MOVE_STATUS,
 * NE_FT_DECOMMISSION) into reply. Returns 0 or an NE_E* code. */
int agent__cluster_handle_moves(struct cluster *c, uint8_t type, const uint8_t *msg, size_t n,
                                struct ne_pbuf *reply, uint8_t *reply_type);

#endif
