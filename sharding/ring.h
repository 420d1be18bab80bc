/*
 * ring.h - series -> shard -> owner nodes, on a consistent-hash ring.
 *
 * A series key is hashed (FNV-1a 64 with a 64-bit finaliser, see
 * ne_ring_hash) to one of `shards` shards (hash % shards). Shards sit at
 * evenly spaced positions on a 2^64 ring; each member node owns `vnodes`
 * tokens on it (token i of node "a" = ne_ring_hash("a#i")). The owners of a
 * shard are the first RF distinct nodes met walking clockwise from the
 * shard's position. Everything is a pure function of (member names, shards,
 * vnodes, RF): every node computes the same table from the same membership,
 * whatever the order of the list. When RF exceeds the member count, every
 * member owns every shard.
 *
 * A ring is immutable once built, so readers on any thread may share it.
 */
#ifndef NE_SHARDING_RING_H
#define NE_SHARDING_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/point.h"

struct ne_ring; /* opaque, immutable */

struct ne_ring_opts {
    uint32_t shards; /* 0: 1024 */
    uint32_t vnodes; /* 0: 128 */
    uint32_t rf;     /* 0: 1 */
};

/* The 64-bit hash used for keys and tokens: FNV-1a 64 over the bytes, then
 * the murmur3 fmix64 finaliser so close inputs spread over the whole ring. */
uint64_t ne_ring_hash(const void *p, size_t n);

/* Hash of a series (measurement + tag set, tags sorted by key as in a
 * finished ne_batch point). Each string is hashed with its length, so no
 * byte inside a name or value can make two series collide structurally.
 * No allocation. */
uint64_t ne_ring_series_hash(struct ne_sv meas, const struct ne_tag *tags, uint32_t ntags);

/* Builds a ring over n distinct node names (each 1..NE_NODE_ID_MAX bytes).
 * The ring copies the names. Returns 0 and *out (free with ne_ring_free),
 * NE_EINVAL for an empty/duplicate/too long name or n == 0, or NE_ENOMEM. */
int ne_ring_build(const struct ne_ring_opts *o, const char *const *nodes, size_t n,
                  struct ne_ring **out);

/* Frees *pr and sets it to NULL. NULL-safe. */
void ne_ring_free(struct ne_ring **pr);

uint32_t ne_ring_shards(const struct ne_ring *r);
/* Number of owners per shard: min(RF, member count). */
uint32_t ne_ring_replicas(const struct ne_ring *r);
/* Members, sorted by name; index i is the node index used below. */
size_t ne_ring_nodes(const struct ne_ring *r);
const char *ne_ring_node_name(const struct ne_ring *r, uint32_t idx); /* borrowed */
/* Index of a node name, or -1. */
int ne_ring_node_index(const struct ne_ring *r, const char *name);

/* The shard of a key hash. */
static inline uint32_t ne_ring_shard_of_hash(const struct ne_ring *r, uint64_t h)
{
    return (uint32_t)(h % ne_ring_shards(r));
}

/* Owners of shard, as node indices, primary first. Borrowed array of
 * ne_ring_replicas(r) entries, valid while the ring lives. */
const uint32_t *ne_ring_owners(const struct ne_ring *r, uint32_t shard);

/* True if node idx owns shard. */
bool ne_ring_is_owner(const struct ne_ring *r, uint32_t shard, uint32_t idx);

/* One change of ownership between two rings of the same shard count. */
struct ne_shard_move {
    uint32_t shard;
    bool gain;        /* true: node becomes an owner; false: node stops being one */
    const char *node; /* borrowed from the ring it is a member of */
};

/* Lists every (shard, node) whose ownership differs from `from` to `to`,
 * by shard, losses before gains. *out is ne_malloc'd (ne_free it; NULL when
 * *n is 0). Names point into from (losses) and to (gains). Returns 0,
 * NE_EINVAL if the shard counts differ, or NE_ENOMEM. */
int ne_ring_diff(const struct ne_ring *from, const struct ne_ring *to, struct ne_shard_move **out,
                 size_t *n);

#endif
