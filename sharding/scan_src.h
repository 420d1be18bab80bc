/*
 * scan_src.h - the query executor's data source over a whole cluster.
 *
 * One is made per query from a snapshot of the membership. For every
 * shard it chooses one live owner on the ring built over every known
 * member (this node when it owns the shard; else the first live owner,
 * primary first; while shards move, a node holding a complete copy, see
 * ne_csrc_opts.holds), reads the chosen shards of this node from the local
 * store and those of the others with the remote read protocol (scan.h),
 * and hands the executor the union. Series ids it gives out are series
 * hashes (ne_ring_series_hash), the same on every node, so a series has
 * one id whichever node holds it.
 *
 * Nothing is silently left out: a shard with no live owner, or a peer that
 * fails a call (it is not asked again during the query), becomes a
 * warning naming the shards and nodes, handed to the executor through the
 * source's warnings callback, which puts it in the statement's
 * "messages". The answer carries what could be read.
 *
 * Names (SHOW DATABASES / MEASUREMENTS, field keys) are the union over
 * every live member. CREATE acts on this node's store only. DROP and
 * DELETE go to ne_csrc_opts.deleter as tombstones (tomb.h), which the
 * cluster applies on every member; without a deleter DROP acts on this
 * node's store only and DELETE is not offered (the executor answers
 * "not supported"). A DELETE names the series it picked by their hashes
 * (the ids this source gives out), so it reaches the series the cluster
 * read lists; when some shard could not be read (no live replica, a peer
 * failing a call) it is refused, nothing deleted, with a warning saying
 * why.
 * Not thread-safe: one query at a time uses a source.
 */
#ifndef NE_SHARDING_SCAN_SRC_H
#define NE_SHARDING_SCAN_SRC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/query/query.h"

struct ne_transport;
struct ne_tomb;
struct ne_csrc; /* opaque */

/* Deletes cluster-wide what t names (its version is set by the callee).
 * Returns 0 once this node applied it and the other members' copies are
 * queued, or an error code. */
typedef int (*ne_csrc_delete_fn)(void *ctx, struct ne_tomb *t);

struct ne_csrc_member {
    const char *id;   /* node id */
    const char *addr; /* its transport address "host:port" */
    bool live;        /* alive or suspect: worth asking */
    bool unplaced;    /* not on the placement ring (decommissioned): read
                       * from only for shards holds() says it holds */
};

struct ne_csrc_opts {
    const struct ne_qsrc *local;          /* this node's store source (copied) */
    struct ne_transport *tp;              /* borrowed; must outlive the source */
    const char *self;                     /* this node's id, one of members */
    const struct ne_csrc_member *members; /* every member known (copied) */
    size_t nmembers;
    uint32_t shards, vnodes, rf; /* the ring's shape (ring.h) */
    /* Shard moves (rebalance.h): whether a member holds a shard complete.
     * NULL: every owner does. Otherwise a shard is read from an owner
     * holding it (this node first), else from any live member holding it
     * (an old owner keeping it while it moves, a decommissioned node),
     * else from a live owner as without it. */
    bool (*holds)(void *ctx, uint32_t shard, const char *node);
    void *holds_ctx;
    ne_csrc_delete_fn deleter;   /* DROP and DELETE; NULL: see above */
    void *deleter_ctx;
    uint32_t max_reply;          /* reply budget asked of peers; 0: default */
    uint32_t max_listed;         /* series hashes a scan request lists at most; beyond,
                                  * the peer sends its chosen shards whole and the ids
                                  * are picked here. 0: 65536 */
};

/* Builds the ring and the per-shard choice. Returns 0 and *out (free with
 * ne_csrc_free), NE_EINVAL (self not a member, bad names, a live peer but
 * no transport) or NE_ENOMEM. */
int ne_csrc_new(const struct ne_csrc_opts *o, struct ne_csrc **out);

/* The executor's view of c (valid while c lives). */
void ne_csrc_qsrc(struct ne_csrc *c, struct ne_qsrc *out);

/* Shards that have no live owner (ascending; borrowed) and their count. */
const uint32_t *ne_csrc_missing(const struct ne_csrc *c, size_t *n);

/* The node chosen to answer for shard, or NULL when none is live.
 * Borrowed. */
const char *ne_csrc_chosen(const struct ne_csrc *c, uint32_t shard);

/* NULL-safe; sets *pc to NULL. */
void ne_csrc_free(struct ne_csrc **pc);

#endif
