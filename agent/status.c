/*
 * status.c - the JSON of GET /api/v1/status (layout in status.h).
 *
 * Store figures come from ne_store_stats (current sizes, not the counters
 * of /metrics); the rest from the config the modules were started with and
 * from which modules run.
 */
#include "agent/status.h"

#include <inttypes.h>
#include <stdio.h>

#include "agent/mod_cluster.h"
#include "agent/procstats.h"
#include "agent/sbuf.h"
#include "ports/err.h"

static void put_u64(struct agent__sbuf *b, const char *key, uint64_t v, bool comma)
{
    char num[64];
    snprintf(num, sizeof num, "%s\"%s\":%" PRIu64, comma ? "," : "", key, v);
    agent__sb_str(b, num);
}

static void put_bool(struct agent__sbuf *b, const char *key, bool v, bool comma)
{
    char kv[64];
    snprintf(kv, sizeof kv, "%s\"%s\":%s", comma ? "," : "", key, v ? "true" : "false");
    agent__sb_str(b, kv);
}

static void put_str(struct agent__sbuf *b, const char *key, const char *v, bool comma)
{
    char k[64];
    snprintf(k, sizeof k, "%s\"%s\":", comma ? "," : "", key);
    agent__sb_str(b, k);
    agent__sb_json(b, v ? v : "");
}

static uint64_t ns_to_s(int64_t ns)
{
    return ns > 0 ? (uint64_t)(ns / 1000000000LL) : 0;
}

static void put_store(struct agent__sbuf *b, struct ne_agent *a)
{
    agent__sb_str(b, ",\"store\":");
    if (!a->store) {
        agent__sb_str(b, "null");
        return;
    }
    struct ne_store_stats st;
    ne_store_stats(a->store, &st);
    const struct ne_cfg_storage *cs = &a->cfg->storage;
    agent__sb_str(b, "{");
    put_u64(b, "segments", st.segments, false);
    put_u64(b, "segment_bytes", st.segment_bytes, true);
    put_u64(b, "wal_bytes", st.wal_bytes, true);
    put_u64(b, "memtable_bytes", st.memtable_bytes, true);
    put_u64(b, "memtable_budget_bytes", cs->memtable_bytes, true);
    put_u64(b, "series", st.series, true);
    put_u64(b, "points_written", st.points_written, true);
    put_u64(b, "values_written", st.values_written, true);
    put_u64(b, "disk_budget_bytes", st.disk_budget_bytes, true);
    put_u64(b, "retention_max_age_seconds", ns_to_s(cs->retention.max_age_ns), true);
    put_bool(b, "disk_full", st.disk_full, true);
    put_bool(b, "failed", st.failed, true);
    agent__sb_str(b, "}");
}

static void put_sinks(struct agent__sbuf *b, const struct ne_config *cfg)
{
    agent__sb_str(b, ",\"sinks\":[");
    for (size_t i = 0; i < cfg->nsinks; i++) {
        if (i) agent__sb_str(b, ",");
        agent__sb_json(b, cfg->sinks[i].name ? cfg->sinks[i].name : "");
    }
    agent__sb_str(b, "]");
}

int agent__status_json(struct ne_agent *a, bool auth, struct agent__sbuf *b)
{
    const struct ne_config *cfg = a->cfg;
    agent__sb_str(b, "{");
    put_str(b, "node", cfg->node_id, false);
    put_str(b, "version", ne_agent_version_short(), true);
    put_str(b, "build", ne_agent_version(), true);
    put_str(b, "role", cfg->role == NE_ROLE_CENTRAL ? "central" : "gateway", true);
    char up[64];
    snprintf(up, sizeof up, ",\"uptime_seconds\":%.3f", ne_procstats_uptime_seconds());
    agent__sb_str(b, up);
    put_str(b, "data_dir", a->data_dir, true);
    put_str(b, "default_database", cfg->default_database, true);
    put_bool(b, "auth", auth, true);
    agent__sb_str(b, ",\"sources\":{");
    put_bool(b, "http", cfg->http.enabled, false);
    put_bool(b, "mqtt", agent__source_running(a, "mqtt"), true);
    put_bool(b, "coap", agent__source_running(a, "coap"), true);
    agent__sb_str(b, "}");
    put_bool(b, "cluster", agent__cluster_running(a), true);
    put_sinks(b, cfg);
    put_store(b, a);
    agent__sb_str(b, "}\n");
    return b->err;
}
