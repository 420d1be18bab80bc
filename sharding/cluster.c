/*
 * cluster.c - defaults and validation of struct ne_cluster_opts.
 * No state: the running pieces (membership, transport) copy what they need.
 */
#include "sharding/cluster.h"

#include <string.h>

#include "ports/err.h"
#include "ports/log.h"

void ne_cluster_opts_default(struct ne_cluster_opts *o)
{
    memset(o, 0, sizeof *o);
    o->replication_factor = 2;
    o->shards = 1024;
    o->vnodes = 128;
    o->probe_interval_ms = 1000;
    o->probe_timeout_ms = 300;
    o->suspect_timeout_ms = 5000;
    o->indirect_probes = 3;
    o->connect_timeout_ms = 2000;
    o->io_timeout_ms = 5000;
    o->pool_per_peer = 4;
    o->max_lag_ms = 1000;
    o->hint_window_ms = 3ull * 3600 * 1000;
    o->hint_max_bytes = 256ull << 20;
    o->remove_after_ms = 3ull * 3600 * 1000;
}

static int bad(const char *field, const char *why)
{
    ne_log(NE_LOG_ERROR, "sharding", "invalid cluster option", "field", field, "why", why, NULL);
    return NE_EINVAL;
}

static int check_str(const char *s, size_t max, const char *field)
{
    if (!s || !*s) return bad(field, "missing");
    if (strlen(s) > max) return bad(field, "too long");
    return 0;
}

int ne_cluster_opts_check(const struct ne_cluster_opts *o)
{
    int rc;
    if ((rc = check_str(o->node_id, NE_NODE_ID_MAX, "cluster.node_id")) != 0) return rc;
    if ((rc = check_str(o->listen, NE_ADDR_MAX, "cluster.listen")) != 0) return rc;
    if (o->advertise && (rc = check_str(o->advertise, NE_ADDR_MAX, "cluster.advertise")) != 0)
        return rc;
    if (!o->key || o->key_len < 16 || o->key_len > 64)
        return bad("cluster.key", "must be 16..64 bytes");
    if (o->replication_factor < 1) return bad("replication.factor", "must be >= 1");
    if (o->shards < 1 || o->vnodes < 1)
        return bad("cluster.shards", "shards and vnodes must be >= 1");
    if (o->probe_timeout_ms >= o->probe_interval_ms)
        return bad("cluster.probe_timeout_ms", "must be below probe_interval_ms");
    for (size_t i = 0; i < o->nseeds; i++)
        if ((rc = check_str(o->seeds[i], NE_ADDR_MAX, "cluster.seeds")) != 0) return rc;
    return 0;
}
