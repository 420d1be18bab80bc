/*
 * cluster.h - the options of the sharding module, as agent/ hands them over.
 *
 * One struct for the whole module: node identity, peer addresses, the
 * cluster key, the ring shape and the failure-detector timings. Strings and
 * arrays are borrowed: they must outlive whatever is started with them.
 * Proposed config keys are given beside each field.
 */
#ifndef NE_SHARDING_CLUSTER_H
#define NE_SHARDING_CLUSTER_H

#include <stddef.h>
#include <stdint.h>

/* Longest node id (bytes, without the NUL) and peer address ("host:port"). */
#define NE_NODE_ID_MAX 63
#define NE_ADDR_MAX    63

struct ne_cluster_opts {
    const char *node_id;      /* cluster.node_id: unique, 1..63 bytes */
    const char *listen;       /* cluster.listen: "host:port", TCP and UDP */
    const char *advertise;    /* cluster.advertise: address peers dial; NULL: listen */
    const char *const *seeds; /* cluster.seeds: "host:port" list */
    size_t nseeds;
    const uint8_t *key; /* cluster.key: pre-shared key, 16..64 bytes */
    size_t key_len;
    uint32_t replication_factor; /* replication.factor (default 2) */
    uint32_t shards;             /* cluster.shards (default 1024; fixed for a cluster) */
    uint32_t vnodes;             /* cluster.vnodes (default 128 per node) */
    uint32_t probe_interval_ms;  /* cluster.probe_interval_ms (default 1000) */
    uint32_t probe_timeout_ms;   /* cluster.probe_timeout_ms (default 300) */
    uint32_t suspect_timeout_ms; /* cluster.suspect_timeout_ms (default 5000) */
    uint32_t indirect_probes;    /* cluster.indirect_probes (default 3) */
    uint32_t connect_timeout_ms; /* cluster.connect_timeout_ms (default 2000) */
    uint32_t io_timeout_ms;      /* cluster.io_timeout_ms (default 5000) */
    uint32_t pool_per_peer;      /* cluster.pool_per_peer (default 4) */
    uint64_t max_lag_ms;         /* replication.max_lag_ms (default 1000) */
    uint64_t hint_window_ms;     /* replication.hint_window_ms (default 3 h) */
    uint64_t hint_max_bytes;     /* replication.hint_max_bytes (default 256 MiB) */
    uint64_t remove_after_ms;    /* replication.dead_member_timeout (default 3 h; 0: never) */
};

/* Fills o with the defaults above (strings NULL, no seeds, no key). */
void ne_cluster_opts_default(struct ne_cluster_opts *o);

/* Checks o: node id and listen present and short enough, key 16..64 bytes,
 * rf >= 1, shards and vnodes >= 1, probe timeout < probe interval.
 * Returns 0 or NE_EINVAL, after logging which field is wrong. */
int ne_cluster_opts_check(const struct ne_cluster_opts *o);

#endif
