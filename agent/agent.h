/*
 * agent.h - the running daemon as its parts see it: the agent state, the
 * module lifecycle table and health reports.
 *
 * Every long-lived part of the daemon (store, admin HTTP, MQTT, CoAP) is one
 * `const struct ne_module_ops` with designated initializers, listed in start
 * order in ne_agent_modules. The daemon starts them in that order and stops
 * them in reverse; a module whose section is disabled in the config is
 * skipped (its `enabled` callback says so).
 *
 * Start order and why:
 *   store  - everything that ingests writes into it;
 *   http   - admin HTTP next, so /health answers while sources connect and
 *            HTTP writes work as soon as the store is open;
 *   mqtt   - then the sources, which take data from devices;
 *   coap
 *   sync   - last, the sinks shipping sealed segments (mod_sync.h).
 * (cluster starts right after the store.) Stop order is the reverse: sinks
 * stop first (a delivery in progress gives up and resumes after restart),
 * sources stop taking data and finish what they hold in flight, then HTTP
 * drains its requests, then the store flushes and closes.
 */
#ifndef NE_AGENT_AGENT_H
#define NE_AGENT_AGENT_H

#include <stdbool.h>
#include <stddef.h>

#include "config/config.h"
#include "ingest/ingest.h"
#include "store/store.h"

struct ne_admin;
struct ne_mqtt;
struct ne_coap;

enum ne_health_status { NE_HEALTH_OK = 0, NE_HEALTH_DEGRADED = 1, NE_HEALTH_FAILING = 2 };

/* "ok", "degraded", "failing". Static string. */
const char *ne_health_name(enum ne_health_status s);

/* One module's health: a status and, unless ok, a one-line reason. */
struct ne_health {
    enum ne_health_status status;
    char reason[256];
};

/* The daemon's state. Owned by the daemon (agent/daemon.c); modules keep
 * their handles here. cfg is the config the modules were started with and
 * lives until the daemon exits (modules may borrow its strings). */
struct ne_agent {
    const struct ne_config *cfg;
    const char *data_dir; /* the data dir in use (borrowed from cfg or CLI) */
    struct ne_store *store;
    struct ne_ingest_sink sink; /* where sources write: the local store */
    struct ne_admin *admin;
    struct ne_mqtt *mqtt;
    struct ne_coap *coap;
};

/* One part of the daemon. start returns 0 or a negative NE_E* code after
 * logging the reason; stop must be safe after a failed start. reload gets
 * the newly loaded config and applies what it can change at run time;
 * health fills out. Callbacks other than start/stop may be NULL. */
struct ne_module_ops {
    const char *name;
    bool (*enabled)(const struct ne_config *cfg);
    int (*start)(struct ne_agent *a);
    void (*stop)(struct ne_agent *a);
    void (*reload)(struct ne_agent *a, const struct ne_config *next);
    void (*health)(struct ne_agent *a, struct ne_health *out);
};

/* The modules in start order, NULL-terminated. */
extern const struct ne_module_ops *const ne_agent_modules[];

/* Renders the daemon's health as JSON:
 *   {"status":"ok","checks":[{"name":"store","status":"ok"},
 *    {"name":"mqtt","status":"degraded","reason":"..."}],"version":"0.1.0"}
 * The overall status is the worst check. A source (mqtt, coap) that cannot
 * work (e.g. no broker reachable) is reported as degraded, not failing:
 * HTTP ingest and queries still work without it, so the node stays in
 * service (HTTP 200) while the reason is shown.
 * On success *out is malloc'd (ne_free); *status gets the overall status.
 * Returns 0 or NE_ENOMEM. */
int ne_agent_health_json(struct ne_agent *a, char **out, size_t *len,
                         enum ne_health_status *status);

/* Module-internal helpers shared by the daemon and the CLI tools. */

/* Whether source "mqtt" or "coap" is running, for a thread other than the
 * one that starts and stops the modules (an HTTP thread). */
bool agent__source_running(const struct ne_agent *a, const char *name);

/* Fills o with the store options of cfg for the store in data_dir
 * (borrowed). */
void agent__store_opts(const struct ne_config *cfg, const char *data_dir, struct ne_store_opts *o);

/* Takes the data dir lock (refusing if a daemon holds it), selects the I/O
 * backend and opens the store of dir. Prints the reason on failure. On
 * success the caller closes *out and then releases *lock_fd with
 * ne_fs_unlock_dir. */
int agent__open_store_locked(const struct ne_config *cfg, const char *dir, int *lock_fd,
                             struct ne_store **out);

/* Compares a presented token with the expected one in time that does not
 * depend on where they differ (admin.c). True when equal. */
bool agent__token_equal(const char *given, const char *want);

/* The version string shown by `neoedge version`, /health and /metrics,
 * e.g. "0.1.0" or "0.1.0 (v0.1.0-3-gabcdef)". Static. */
const char *ne_agent_version(void);

/* The short version ("0.1.0"). Static. */
const char *ne_agent_version_short(void);

#endif
