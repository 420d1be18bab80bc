/*
 * rebalance.h - shard moves: what this node holds of each shard while the
 * ring changes under it, and when it may serve, pull or drop a shard.
 *
 * Every node keeps three facts per shard about itself:
 *
 *   owner     it owns the shard on the current placement ring;
 *   complete  its copy holds everything the shard held when it gained it
 *             (it was an owner from the start, or it pulled the shard in
 *             full from a node whose copy was complete);
 *   present   it has a copy at all (possibly incomplete) that is not
 *             dropped yet.
 *
 * A shard this node gains on a new ring is "moving" (owner, not complete)
 * until a full pull from a live node holding a complete copy finishes
 * (ne_rebal_pulled). A shard it loses stays present, and it keeps
 * serving reads for it, until every owner on the current ring reports a
 * complete copy; only then may it drop its copy (ne_rebal_may_drop). So
 * a shard never has fewer complete copies than before a change unless
 * nodes are down, and a read is always routed to a complete copy when a
 * live one exists (ne_rebal_status, exchanged with the peers).
 *
 * A shard nobody holds complete, while the status of every member is
 * known, has nothing to move: its owners take it as complete
 * (ne_rebal_bootstrap). That is how a new cluster starts, and how a node
 * alone takes writes before its peers start.
 *
 * A decommissioned node leaves the placement ring (the caller builds the
 * ring without it) but keeps serving the shards it held until their
 * owners hold them; ne_rebal_done tells when nothing depends on it.
 *
 * Status wire format (frame types NE_FT_MOVE_STATUS, little endian):
 *   request: [shards u32]
 *   reply:   [flags u8][shards u32][holds: ceil(shards / 8) bytes]
 *            ([tag u8] when flags bit 1 is set)
 *            flags bit 0: the node is decommissioned; holds bit s (byte
 *            s / 8, bit s % 8): the node holds shard s complete; tag: the
 *            tag ending the versions the node stamps (sharding/hlc.h), so
 *            that members learn a tag set in the config (cluster.node_tag).
 * The persisted state (data_dir/cluster/shards, ne_rebal_save) is
 *   [magic "NESHRD1\n" 8 bytes][shards u32][flags u8]([state u8] x shards)
 *   [crc32c u32 of everything before]
 * with state bit 0 owner, bit 1 complete, bit 2 present.
 *
 * Not thread-safe: the caller serialises calls.
 */
#ifndef NE_SHARDING_REBALANCE_H
#define NE_SHARDING_REBALANCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sharding/frame.h"
#include "sharding/ring.h"
#include "store/store.h"

struct ne_rebal; /* opaque */

/* Whether node (a member name) holds shard complete, as last reported by
 * it (the caller's cache of ne_rebal_status replies, or this node's own
 * state). Unknown: false. */
typedef bool (*ne_rebal_holds_fn)(void *ctx, uint32_t shard, const char *node);

/* A new state for shards shards. joining: this node has no state yet and
 * may join a cluster holding data, so every shard it is given is moving
 * until pulled or bootstrapped; otherwise nothing is held until the first
 * ne_rebal_apply, which then takes the owned shards as complete.
 * Returns 0 and *out (free with ne_rebal_free), NE_EINVAL or NE_ENOMEM. */
int ne_rebal_new(uint32_t shards, bool joining, struct ne_rebal **out);
void ne_rebal_free(struct ne_rebal **p); /* NULL-safe; sets *p to NULL */

/* Loads the state saved by ne_rebal_save (bytes of the file). Returns 0
 * and *out, NE_ECORRUPT (bad magic, size or checksum), NE_EINVAL (another
 * shard count) or NE_ENOMEM. */
int ne_rebal_load(const uint8_t *p, size_t n, uint32_t shards, struct ne_rebal **out);
/* After a restart: no copy is complete any more (this node may have
 * missed writes while it was away, and may have been removed, its shards
 * moved to others, meanwhile); owned shards are moving again, and a pull brings
 * only what differs from a holder (or, when nobody holds a shard, it is
 * taken as it is: a whole cluster restarted). */
void ne_rebal_restarted(struct ne_rebal *rb);

/* Appends the state to out. 0 or NE_ENOMEM. */
int ne_rebal_save(const struct ne_rebal *rb, struct ne_pbuf *out);

/* Places this node (self) on the ring to: shards it gains become moving
 * (unless it still holds a complete copy), shards it loses are kept until
 * they may be dropped. self absent from to (decommissioned): it loses
 * every shard. Returns 0 or NE_EINVAL (another shard count). */
int ne_rebal_apply(struct ne_rebal *rb, const struct ne_ring *to, const char *self);

/* The version tag this node's status reports (not saved; unset: none). */
void ne_rebal_set_tag(struct ne_rebal *rb, uint8_t tag);

/* Marks this node decommissioned (sticky, saved, reported in the status). */
void ne_rebal_set_decommissioned(struct ne_rebal *rb);
bool ne_rebal_decommissioned(const struct ne_rebal *rb);

uint32_t ne_rebal_shards(const struct ne_rebal *rb);
/* This node holds shard complete: it may serve reads for it and be the
 * source of another node's pull. */
bool ne_rebal_holds(const struct ne_rebal *rb, uint32_t shard);
/* This node owns shard but has not got it complete yet. */
bool ne_rebal_moving(const struct ne_rebal *rb, uint32_t shard);
/* This node owns shard (on the last ring applied). */
bool ne_rebal_owner(const struct ne_rebal *rb, uint32_t shard);
/* This node has a copy of shard it no longer owns. */
bool ne_rebal_leaving(const struct ne_rebal *rb, uint32_t shard);
/* Shards moving to this node / kept for others, counted. */
uint32_t ne_rebal_count_moving(const struct ne_rebal *rb);
uint32_t ne_rebal_count_leaving(const struct ne_rebal *rb);

/* A full pull of a moving shard finished from a node holding it complete:
 * the copy here is complete now. No effect on a shard not moving. */
void ne_rebal_pulled(struct ne_rebal *rb, uint32_t shard);

/* Takes moving shards that no member holds complete as complete:
 * members are every member of the ring (names), and known[i] tells
 * whether member i's status is known (this node's always is). Nothing
 * changes for a shard while some member's status is unknown (a dead
 * member may hold it). Returns the number of shards taken. */
uint32_t ne_rebal_bootstrap(struct ne_rebal *rb, const char *const *members, const bool *known,
                            size_t n, ne_rebal_holds_fn holds, void *ctx);

/* True if this node may drop its copy of shard: it no longer owns it on
 * ring (the ring last applied), has a copy, and every owner of the shard
 * on ring holds it complete. */
bool ne_rebal_may_drop(const struct ne_rebal *rb, const struct ne_ring *ring, uint32_t shard,
                       ne_rebal_holds_fn holds, void *ctx);
/* The copy of shard was deleted from the store. */
void ne_rebal_dropped(struct ne_rebal *rb, uint32_t shard);

/* Decommissioned and no shard copy left that its owners do not hold:
 * the node may be stopped. */
bool ne_rebal_done(const struct ne_rebal *rb, const struct ne_ring *ring, ne_rebal_holds_fn holds,
                   void *ctx);

/* Deletes from st, in every database, the series of the shards whose bit
 * is set in mask (ceil(shards / 8) bytes, borrowed): the drop of copies
 * that may be dropped. Returns 0 or the store's error (see
 * ne_store_delete; what was deleted before it stays deleted). */
int ne_rebal_delete_shards(struct ne_store *st, uint32_t shards, const uint8_t *mask);

/* Status messages (format above). */
int ne_rebal_status_req(uint32_t shards, struct ne_pbuf *out);
/* Serves a status request: 0 with the reply in out, NE_ECORRUPT (malformed
 * request), NE_EINVAL (the asker's shard count differs) or NE_ENOMEM. */
int ne_rebal_status_serve(const struct ne_rebal *rb, const uint8_t *msg, size_t n,
                          struct ne_pbuf *out);
/* Parses a reply of a node with shards shards into holds (ceil(shards/8)
 * bytes, written on success), *decommissioned and *tag (may be NULL; -1
 * when the reply carries none). Returns 0 or NE_ECORRUPT (short,
 * trailing bytes, another shard count). */
int ne_rebal_status_parse(const uint8_t *p, size_t n, uint32_t shards, uint8_t *holds,
                          bool *decommissioned, int *tag);

static inline bool ne_rebal_bit(const uint8_t *bits, uint32_t i)
{
    return (bits[i / 8] >> (i % 8)) & 1u;
}

#endif
