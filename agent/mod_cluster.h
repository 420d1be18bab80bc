/*
 * mod_cluster.h - the daemon's "cluster" module: membership (SWIM over UDP)
 * and the peer transport (TLS-PSK) of sharding/, started from the cluster
 * and replication sections of the config, with its health, metrics, the
 * JSON of GET /api/v1/cluster and `neoedge cluster status`.
 *
 * Health: degraded (never failing: the node still serves its own data)
 * while a member is suspect or dead, naming it, or while a node with seeds
 * sees no one but itself. Metrics: neoedge_cluster_members{state=...} and
 * neoedge_cluster_member_state{node=...} (0 alive, 1 suspect, 2 dead,
 * 3 left). A graceful stop announces LEFT to the members.
 *
 * Replication (sharding/replicate.h): while the module runs, the agent's
 * sink writes to the local store and then queues each write for the other
 * owners of its shards (hint queues in data_dir/cluster/hints/<peer>/);
 * writes received from peers go to the local store only. Metrics
 * neoedge_replication_*{peer=...}.
 *
 * The module is enabled when cluster.listen or cluster.seeds is set. One
 * daemon runs per process, so the running cluster is kept by this module
 * and found again from the agent it was started for.
 */
#ifndef NE_AGENT_MOD_CLUSTER_H
#define NE_AGENT_MOD_CLUSTER_H

#include <stdbool.h>

#include "agent/agent.h"

struct agent__sbuf;

/* The module's row of ne_agent_modules (start after the store). */
extern const struct ne_module_ops agent__cluster_ops;

/* True while the cluster module runs for agent a. */
bool agent__cluster_running(const struct ne_agent *a);

/* A query source over the whole cluster for one query (sharding/
 * scan_src.h), from the membership as it is now: every shard read from
 * one live owner, missing ones reported in the answer's messages. The
 * caller owns *out (ne_csrc_free) and must free it before the module
 * stops (admin HTTP, which runs queries, stops first). Returns 0,
 * NE_ENOTFOUND when the module is not running for a, or NE_ENOMEM. */
struct ne_csrc;
int agent__cluster_source(const struct ne_agent *a, struct ne_csrc **out);

/* Appends the cluster view of a as one JSON object:
 *   {"node":{"id","addr","incarnation"},
 *    "members":[{"id","addr","state","incarnation"},...],   (self first;
 *               state: alive, suspect, dead, left, stopped)
 *    "counts":{"alive":N,"suspect":N,"dead":N,"left":N,"stopped":N},
 *    "ring":{"shards","vnodes","replication_factor","replicas",
 *            "nodes":[{"id","primary","owned"},...],        (alive + suspect)
 *            "owners":[[i,...],...]},  (per shard, primary first: indices
 *                                       into nodes)
 *    "transport":{"addr","dialed","accepted","handshake_failed"},
 *    "rejected_datagrams":N,
 *    "antientropy":{...},
 *    "rebalance":{...,"decommission","decommissioned":[id,...],
 *                 "removed":[id,...]}}   (members off the placement ring)
 * Returns 0, NE_ENOTFOUND when the module is not running for a, or
 * NE_ENOMEM (b->err is also set by the buffer). */
int agent__cluster_json(const struct ne_agent *a, struct agent__sbuf *b);

/* Decommissions node (NULL or "": this node; another member is asked over
 * the peer transport): it leaves the placement ring, keeps serving the
 * shards it holds until their new owners have pulled them, then reports
 * "done" (GET /api/v1/cluster "rebalance"."decommission"). Returns 0, or
 * NE_ENOTFOUND / NE_EAGAIN / a transport error with a message in err. */
int agent__cluster_decommission(const struct ne_agent *a, const char *node, char *err, size_t n);

/* Removes node, a member that is down (dead or stopped), from the
 * placement ring at once, as replication.dead_member_timeout would: the
 * removal is gossiped to every member and saved, and its shards are
 * copied to their new owners from the live replicas. It rejoins if it
 * comes back. Returns 0 (also when it was removed already), or with a
 * message in err NE_ENOTFOUND (clustering off, unknown member), NE_EINVAL
 * (no node given) or NE_EBUSY (this node, or a member alive or suspect). */
int agent__cluster_remove(const struct ne_agent *a, const char *node, char *err, size_t n);

/* `neoedge cluster status`: prints the member table of a running daemon
 * (GET /api/v1/cluster). Returns the exit code. */
int agent__cmd_cluster_status(int argc, char **argv);
/* `neoedge cluster decommission`: asks a daemon to decommission a node. */
int agent__cmd_cluster_decommission(int argc, char **argv);
/* `neoedge cluster remove`: asks a daemon to remove a member that is down. */
int agent__cmd_cluster_remove(int argc, char **argv);

#endif
