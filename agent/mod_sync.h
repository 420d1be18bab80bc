/*
 * mod_sync.h - the daemon's "sync" module: one sink runner (sync/sink) per
 * entry of the config's sinks list, each with its driver (s3, central).
 *
 * The module passes the lowest cursor of all sinks to the store
 * (ne_store_set_synced_seq) once every sink has reported its cursor, so a
 * segment stays out of compaction and retention until every sink has
 * delivered it. Health: the worst sink; "failing" when a destination
 * refuses our credentials, "degraded" while deliveries fail or the oldest
 * undelivered segment is older than the sink's backlog_max_age.
 *
 * One daemon runs per process, so the running sinks are kept by this
 * module and found again from the agent they were started for.
 */
#ifndef NE_AGENT_MOD_SYNC_H
#define NE_AGENT_MOD_SYNC_H

#include <stdbool.h>

#include "agent/agent.h"

struct agent__sbuf;

/* The module's row of ne_agent_modules (start after the store and the
 * sources, stop first). */
extern const struct ne_module_ops agent__sync_ops;

/* True while the sync module runs for agent a. */
bool agent__sync_running(const struct ne_agent *a);

/* Wakes every sink to look for new segments (after a flush). No-op when
 * the module is not running. */
void agent__sync_kick(const struct ne_agent *a);

/* Appends the sinks of a as a JSON array:
 *   [{"name","type","status","reason","cursor","backlog_segments",
 *     "backlog_bytes","oldest_age_seconds","delivered_segments",
 *     "delivered_bytes","delivered_rows","lost_segments",
 *     "upload_bytes_per_second","in_window","errors":{"<kind>":N,...}},...]
 * ("[]" when the module is not running). Returns 0 or NE_ENOMEM. */
int agent__sync_json(const struct ne_agent *a, struct agent__sbuf *b);

#endif
