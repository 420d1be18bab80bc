/*
 * admin.h - the daemon's HTTP server (libmicrohttpd): health, metrics,
 * InfluxDB-compatible write and ping, flush.
 *
 * Routes:
 *   GET      /                 302 to /console
 *   GET      /console          the web console: one self-contained HTML page
 *                             embedded in the binary (agent/console/console.h);
 *                             404 when built with NE_CONSOLE=OFF
 *   GET      /api/v1/status    node, version, uptime, store figures and a
 *                             config summary (JSON, agent/status.h)
 *   GET|HEAD /ping            204, X-Influxdb-Version (clients probe it)
 *   GET      /health          200 ok|degraded, 503 failing (JSON)
 *   GET      /metrics         Prometheus text 0.0.4
 *   POST     /write           InfluxDB 1.x write (ingest/http)
 *   POST     /api/v2/write    InfluxDB 2.x write (ingest/http)
 *   POST     /api/v1/flush    seal the memtables into segments (204)
 *   GET      /api/v1/cluster  members, their states and the shard ring (JSON,
 *                             mod_cluster.h); 404 when clustering is off
 *   GET      /api/v1/sinks    cloud sync sinks: cursor, backlog, errors, health
 *                             (JSON array, mod_sync.h; [] without sinks)
 *   GET|POST /query           InfluxQL (InfluxDB 1.x: q, db, epoch, pretty;
 *                             q may come in a form body); JSON, or CSV for
 *                             Accept: application/csv, or a text table for
 *                             Accept: text/plain
 *   POST     /api/v1/segments  role central: a gateway's segment push
 *                             (agent/central.h: Bearer central.token, the
 *                             body streamed to disk, checked, merged); 404
 *                             on a gateway
 * The auth token, when set, guards write, query, flush and /api/v1/status.
 */
#ifndef NE_AGENT_ADMIN_H
#define NE_AGENT_ADMIN_H

#include <stdint.h>

struct ne_agent;
struct ne_admin; /* opaque */

struct ne_admin_opts {
    const char *listen;           /* "host:port"; port 0 picks a free one */
    int threads;                  /* worker threads (connections served at once) */
    uint64_t max_body_bytes;      /* bodies above are answered 413 unread */
    const char *auth_token;       /* NULL or "": no auth (copied) */
    const char *default_database; /* borrowed; lives as long as the server */
    struct ne_agent *agent;       /* borrowed: health, store, sink */
};

/* Binds opts->listen and starts serving. An address in use is reported
 * once on stderr naming it ("http.listen 127.0.0.1:8086: address already in
 * use") and returns NE_EADDRINUSE; other bind errors NE_EIO/NE_EPERM.
 * On success *out owns the server: stop it with ne_admin_stop. */
int ne_admin_start(const struct ne_admin_opts *opts, struct ne_admin **out);

/* Stops accepting, lets requests in flight finish, frees. Sets *ap to NULL.
 * NULL-safe. */
void ne_admin_stop(struct ne_admin **ap);

/* Replaces the auth token (SIGHUP reload); NULL or "" turns auth off.
 * Thread-safe; requests already running keep the token they checked. */
void ne_admin_set_auth_token(struct ne_admin *a, const char *token);

/* The port actually bound (useful with port 0). */
int ne_admin_port(const struct ne_admin *a);

#endif
