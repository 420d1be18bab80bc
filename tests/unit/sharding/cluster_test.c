/*
 * cluster_test.c - defaults and validation of the sharding options.
 */
#include "ports/err.h"
#include "ports/log.h"
#include "sharding/cluster.h"
#include "t.h"

static const uint8_t key[32] = "0123456789abcdef0123456789abcdef";

static void valid(struct ne_cluster_opts *o)
{
    ne_cluster_opts_default(o);
    o->node_id = "gw-1";
    o->listen = "0.0.0.0:7946";
    o->key = key;
    o->key_len = sizeof key;
}

static void test_defaults(void)
{
    struct ne_cluster_opts o;
    ne_cluster_opts_default(&o);
    T_EQ_INT(o.replication_factor, 2);
    T_EQ_INT(o.shards, 1024);
    T_CHECK(o.probe_timeout_ms < o.probe_interval_ms);
    T_CHECK(o.suspect_timeout_ms > o.probe_interval_ms);
    T_EQ_INT(ne_cluster_opts_check(&o), NE_EINVAL); /* no id, address or key */
    valid(&o);
    T_OK(ne_cluster_opts_check(&o));
}

static void test_rejects(void)
{
    struct ne_cluster_opts o;
    valid(&o);
    o.key_len = 8;
    T_EQ_INT(ne_cluster_opts_check(&o), NE_EINVAL);
    valid(&o);
    o.node_id = "a-node-id-that-is-far-too-long-to-fit-into-the-sixty-three-bytes-limit";
    T_EQ_INT(ne_cluster_opts_check(&o), NE_EINVAL);
    valid(&o);
    o.replication_factor = 0;
    T_EQ_INT(ne_cluster_opts_check(&o), NE_EINVAL);
    valid(&o);
    o.probe_timeout_ms = o.probe_interval_ms;
    T_EQ_INT(ne_cluster_opts_check(&o), NE_EINVAL);
    valid(&o);
    const char *seeds[] = {"10.0.0.1:7946", ""};
    o.seeds = seeds;
    o.nseeds = 2;
    T_EQ_INT(ne_cluster_opts_check(&o), NE_EINVAL);
    o.nseeds = 1;
    T_OK(ne_cluster_opts_check(&o));
}

int main(void)
{
    ne_log_set_level(NE_LOG_OFF);
    T_RUN(test_defaults);
    T_RUN(test_rejects);
    return t_done();
}
