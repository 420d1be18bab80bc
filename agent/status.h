/*
 * status.h - the daemon's summary for operators: GET /api/v1/status (the
 * web console and `neoedge status` read it).
 */
#ifndef NE_AGENT_STATUS_H
#define NE_AGENT_STATUS_H

#include <stdbool.h>

#include "agent/agent.h"

struct agent__sbuf;

/* Appends the summary of the running daemon a as one JSON object:
 *   {"node":"gw-1","version":"0.1.0","build":"0.1.0 (v0.1.0-3-gabc)",
 *    "role":"gateway","uptime_seconds":12.5,"data_dir":"/var/lib/neoedge",
 *    "default_database":"iot","auth":true,
 *    "sources":{"http":true,"mqtt":true,"coap":false},
 *    "cluster":false,"sinks":["s3"],
 *    "store":{"segments":N,"segment_bytes":N,"wal_bytes":N,
 *             "memtable_bytes":N,"memtable_budget_bytes":N,"series":N,
 *             "points_written":N,"values_written":N,
 *             "disk_budget_bytes":N,"retention_max_age_seconds":N,
 *             "disk_full":false,"failed":false}}
 * A budget or max age of 0 means none; "store" is null when the store is
 * not open. auth says whether the HTTP API asks for a token (it may change
 * at reload, so the caller passes the current state). uptime_seconds
 * counts from the process start on the boot clock (-1 when unknown).
 * Returns 0 or NE_ENOMEM (b->err is set too). */
int agent__status_json(struct ne_agent *a, bool auth, struct agent__sbuf *b);

#endif
