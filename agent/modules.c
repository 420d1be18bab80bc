/*
 * modules.c - the daemon's module table: store, admin HTTP, MQTT, CoAP.
 *
 * Each module is one `static const struct ne_module_ops` that turns its
 * section of struct ne_config into the module's own options struct (modules
 * never read the config), starts it, stops it, applies live config changes
 * and reports health. The order of ne_agent_modules is the start order; see
 * agent.h for why it is this one.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "agent/admin.h"
#include "agent/agent.h"
#include "agent/mod_cluster.h"
#include "agent/mod_sync.h"
#include "agent/sbuf.h"
#include "agent/version.h"
#include "ingest/coap/coap.h"
#include "ingest/mqtt/mqtt.h"
#include "ports/log.h"
#include "ports/platform.h"

#define MOD "agent"

/* ---- version ------------------------------------------------------------- */

const char *ne_agent_version_short(void)
{
    return NE_VERSION;
}

static char version_buf[128];
static pthread_once_t version_once = PTHREAD_ONCE_INIT;

/* a->mqtt and a->coap: set by the main thread as those modules start and
 * stop, while the HTTP threads look at them for /health and /status.
 * Published and taken back under this lock, and a health check runs under
 * it, so a module is never stopped under a check that reads it. */
static pthread_mutex_t sources_mu = PTHREAD_MUTEX_INITIALIZER;

bool agent__source_running(const struct ne_agent *a, const char *name)
{
    pthread_mutex_lock(&sources_mu);
    bool r = strcmp(name, "mqtt") == 0 ? a->mqtt != NULL : strcmp(name, "coap") == 0 && a->coap;
    pthread_mutex_unlock(&sources_mu);
    return r;
}

static void version_init(void)
{
    if (NE_GIT_DESCRIBE[0])
        snprintf(version_buf, sizeof(version_buf), "%s (%s)", NE_VERSION, NE_GIT_DESCRIBE);
    else
        snprintf(version_buf, sizeof(version_buf), "%s", NE_VERSION);
}

const char *ne_agent_version(void)
{
    pthread_once(&version_once, version_init);
    return version_buf;
}

const char *ne_health_name(enum ne_health_status s)
{
    switch (s) {
    case NE_HEALTH_OK:
        return "ok";
    case NE_HEALTH_DEGRADED:
        return "degraded";
    default:
        return "failing";
    }
}

static void health_set(struct ne_health *h, int status, const char *why)
{
    h->status = status <= 0 ? NE_HEALTH_OK : status == 1 ? NE_HEALTH_DEGRADED : NE_HEALTH_FAILING;
    if (why != h->reason) snprintf(h->reason, sizeof(h->reason), "%s", why ? why : "");
}

static enum ne_payload payload_of(enum ne_format f)
{
    switch (f) {
    case NE_FMT_LINE:
        return NE_PAYLOAD_LINE;
    case NE_FMT_JSON:
        return NE_PAYLOAD_JSON;
    case NE_FMT_SENML_JSON:
        return NE_PAYLOAD_SENML_JSON;
    case NE_FMT_SENML_CBOR:
        return NE_PAYLOAD_SENML_CBOR;
    case NE_FMT_CBOR:
        return NE_PAYLOAD_CBOR;
    case NE_FMT_RAW:
        return NE_PAYLOAD_RAW;
    default:
        return NE_PAYLOAD_AUTO;
    }
}

/* ---- store --------------------------------------------------------------- */

static int sink_write(void *ctx, const char *db, const struct ne_batch *b,
                      struct ne_write_result *res)
{
    return ne_store_write(ctx, db, b, res);
}

static enum ne_store_durability durability_of(enum ne_durability d)
{
    switch (d) {
    case NE_DUR_SYNC:
        return NE_STORE_SYNC;
    case NE_DUR_NONE:
        return NE_STORE_NONE;
    default:
        return NE_STORE_INTERVAL;
    }
}

/* The store's options from the config (shared with the CLI tools). */
void agent__store_opts(const struct ne_config *cfg, const char *data_dir, struct ne_store_opts *o)
{
    const struct ne_cfg_storage *s = &cfg->storage;
    ne_store_opts_default(o);
    o->data_dir = data_dir;
    o->durability = durability_of(s->durability);
    o->max_loss_ns = s->max_loss_ns;
    o->memtable_bytes = s->memtable_bytes;
    o->memtable_max_age_ns = s->memtable_max_age_ns;
    o->segment_target_bytes = s->segment_target_bytes;
    o->late_window_ns = s->late_window_ns;
    o->future_grace_ns = s->future_grace_ns;
    o->max_series_per_db = s->max_series_per_db;
    o->max_series_per_measurement = s->max_series_per_measurement;
    o->retention_max_age_ns = s->retention.max_age_ns;
    o->retention_max_disk_bytes = s->retention.max_disk_bytes;
    o->retention_evict_unsynced = s->retention.evict_unsynced;
    o->hold_for_sync = cfg->nsinks > 0;
}

static int store_start(struct ne_agent *a)
{
    struct ne_store_opts o;
    agent__store_opts(a->cfg, a->data_dir, &o);
    int rc = ne_store_open(&o, &a->store);
    if (rc != 0) {
        ne_log(NE_LOG_ERROR, MOD, "cannot open the store", "data_dir", a->data_dir, "err",
               ne_strerror(rc), NULL);
        return rc;
    }
    a->sink.write = sink_write;
    a->sink.ctx = a->store;
    return 0;
}

static void store_stop(struct ne_agent *a)
{
    ne_store_close(&a->store);
    memset(&a->sink, 0, sizeof(a->sink));
}

static void store_health(struct ne_agent *a, struct ne_health *h)
{
    struct ne_store_stats st;
    memset(&st, 0, sizeof(st));
    ne_store_stats(a->store, &st);
    if (st.failed)
        health_set(h, NE_HEALTH_FAILING, st.why[0] ? st.why : "store failed");
    else if (st.disk_full)
        health_set(h, NE_HEALTH_DEGRADED, st.why[0] ? st.why : "disk full");
    else
        health_set(h, NE_HEALTH_OK, st.why);
}

static const struct ne_module_ops store_ops = {
    .name = "store",
    .start = store_start,
    .stop = store_stop,
    .health = store_health,
};

/* ---- admin HTTP ---------------------------------------------------------- */

static bool http_enabled(const struct ne_config *cfg)
{
    return cfg->http.enabled;
}

static int http_start(struct ne_agent *a)
{
    const struct ne_cfg_http *h = &a->cfg->http;
    struct ne_admin_opts o = {
        .listen = h->listen,
        .threads = h->threads,
        .max_body_bytes = h->max_body_bytes,
        .auth_token = h->auth_token,
        .default_database = a->cfg->default_database,
        .agent = a,
    };
    return ne_admin_start(&o, &a->admin);
}

static void http_stop(struct ne_agent *a)
{
    ne_admin_stop(&a->admin);
}

static void http_reload(struct ne_agent *a, const struct ne_config *next)
{
    ne_admin_set_auth_token(a->admin, next->http.auth_token);
}

static const struct ne_module_ops http_ops = {
    .name = "http",
    .enabled = http_enabled,
    .start = http_start,
    .stop = http_stop,
    .reload = http_reload,
};

/* ---- MQTT ---------------------------------------------------------------- */

static bool mqtt_enabled(const struct ne_config *cfg)
{
    return cfg->mqtt.enabled;
}

static void mqtt_sub_opts(const struct ne_cfg_mqtt_sub *c, struct ne_mqtt_sub_opts *o)
{
    o->topic = c->topic;
    o->qos = c->qos;
    o->format = payload_of(c->format);
    o->database = c->database;
    o->template_ = c->template_;
    o->measurement = c->measurement;
    o->field = c->field;
}

static int mqtt_start(struct ne_agent *a)
{
    const struct ne_cfg_mqtt *c = &a->cfg->mqtt;
    struct ne_mqtt_opts o;
    ne_mqtt_opts_default(&o);
    o.brokers = (const char *const *)c->brokers;
    o.nbrokers = c->nbrokers;
    o.client_id = c->client_id;
    o.username = c->username;
    o.password = c->password;
    o.clean_session = c->clean_session;
    o.protocol = c->protocol;
    o.keepalive_s = c->keepalive_s;
    o.max_inflight = c->max_inflight;
    o.max_payload_bytes = c->max_payload_bytes;
    o.tls.ca_file = c->tls.ca_file;
    o.tls.cert_file = c->tls.cert_file;
    o.tls.key_file = c->tls.key_file;
    o.tls.verify_hostname = c->tls.verify_hostname;

    struct ne_mqtt_sub_opts *subs = NULL;
    if (c->nsubs) {
        subs = ne_calloc(c->nsubs, sizeof(*subs));
        if (!subs) return NE_ENOMEM;
        for (size_t i = 0; i < c->nsubs; i++)
            mqtt_sub_opts(&c->subs[i], &subs[i]);
    }
    o.subs = subs;
    o.nsubs = c->nsubs;
    struct ne_mqtt *m = NULL;
    int rc = ne_mqtt_start(&o, &a->sink, &m);
    ne_free(subs); /* ne_mqtt_start copied what it keeps */
    pthread_mutex_lock(&sources_mu);
    a->mqtt = m; /* NULL when it failed */
    pthread_mutex_unlock(&sources_mu);
    return rc;
}

static void mqtt_stop(struct ne_agent *a)
{
    pthread_mutex_lock(&sources_mu);
    struct ne_mqtt *m = a->mqtt;
    a->mqtt = NULL;
    pthread_mutex_unlock(&sources_mu);
    ne_mqtt_stop(&m);
}

static void mqtt_health(struct ne_agent *a, struct ne_health *h)
{
    int st = ne_mqtt_health(a->mqtt, h->reason, sizeof(h->reason));
    health_set(h, st, h->reason);
}

static const struct ne_module_ops mqtt_ops = {
    .name = "mqtt",
    .enabled = mqtt_enabled,
    .start = mqtt_start,
    .stop = mqtt_stop,
    .health = mqtt_health,
};

/* ---- CoAP ---------------------------------------------------------------- */

static bool coap_enabled(const struct ne_config *cfg)
{
    return cfg->coap.enabled;
}

static int coap_start(struct ne_agent *a)
{
    const struct ne_cfg_coap *c = &a->cfg->coap;
    struct ne_coap_opts o;
    ne_coap_opts_default(&o);
    o.listen = c->listen;
    o.dtls_listen = c->dtls_listen;
    o.max_payload_bytes = c->max_payload_bytes;

    struct ne_coap_psk_opts *psk = NULL;
    struct ne_coap_path_opts *paths = NULL;
    int rc = NE_ENOMEM;
    if (c->npsk && !(psk = ne_calloc(c->npsk, sizeof(*psk)))) goto out;
    if (c->npaths && !(paths = ne_calloc(c->npaths, sizeof(*paths)))) goto out;
    for (size_t i = 0; i < c->npsk; i++) {
        psk[i].identity = c->psk[i].identity;
        psk[i].key = c->psk[i].key;
    }
    for (size_t i = 0; i < c->npaths; i++) {
        paths[i].path = c->paths[i].path;
        paths[i].database = c->paths[i].database;
        paths[i].format = payload_of(c->paths[i].format);
        paths[i].measurement = c->paths[i].measurement;
    }
    o.psk = psk;
    o.npsk = c->npsk;
    o.paths = paths;
    o.npaths = c->npaths;
    struct ne_coap *cs = NULL;
    rc = ne_coap_start(&o, &a->sink, &cs); /* logs a bind failure itself */
    pthread_mutex_lock(&sources_mu);
    a->coap = cs; /* NULL when it failed */
    pthread_mutex_unlock(&sources_mu);
out:
    ne_free(psk);
    ne_free(paths);
    return rc;
}

static void coap_stop(struct ne_agent *a)
{
    pthread_mutex_lock(&sources_mu);
    struct ne_coap *cs = a->coap;
    a->coap = NULL;
    pthread_mutex_unlock(&sources_mu);
    ne_coap_stop(&cs);
}

static void coap_health(struct ne_agent *a, struct ne_health *h)
{
    int st = ne_coap_health(a->coap, h->reason, sizeof(h->reason));
    health_set(h, st, h->reason);
}

static const struct ne_module_ops coap_ops = {
    .name = "coap",
    .enabled = coap_enabled,
    .start = coap_start,
    .stop = coap_stop,
    .health = coap_health,
};

const struct ne_module_ops *const ne_agent_modules[] = {
    &store_ops, &agent__cluster_ops, &http_ops, &mqtt_ops, &coap_ops, &agent__sync_ops, NULL,
};

/* ---- health -------------------------------------------------------------- */

static bool is_source(const char *name)
{
    return strcmp(name, "mqtt") == 0 || strcmp(name, "coap") == 0;
}

/* sources_mu held by the caller for the sources. */
static bool module_running(const struct ne_agent *a, const char *name)
{
    if (strcmp(name, "store") == 0) return a->store != NULL;
    if (strcmp(name, "mqtt") == 0) return a->mqtt != NULL;
    if (strcmp(name, "coap") == 0) return a->coap != NULL;
    if (strcmp(name, "cluster") == 0) return agent__cluster_running(a);
    if (strcmp(name, "sync") == 0) return agent__sync_running(a);
    return false;
}

int ne_agent_health_json(struct ne_agent *a, char **out, size_t *len, enum ne_health_status *status)
{
    struct agent__sbuf b = {0};
    enum ne_health_status worst = NE_HEALTH_OK;
    agent__sb_str(&b, "{\"status\":\"\",\"checks\":[");
    size_t status_at = strlen("{\"status\":\"");
    bool first = true;
    for (size_t i = 0; ne_agent_modules[i]; i++) {
        const struct ne_module_ops *m = ne_agent_modules[i];
        bool source = is_source(m->name);
        if (!m->health) continue;
        if (source) pthread_mutex_lock(&sources_mu);
        bool running = module_running(a, m->name);
        struct ne_health h;
        memset(&h, 0, sizeof(h));
        if (running) m->health(a, &h);
        if (source) pthread_mutex_unlock(&sources_mu);
        if (!running) continue;
        if (source && h.status > NE_HEALTH_DEGRADED) h.status = NE_HEALTH_DEGRADED;
        if (h.status > worst) worst = h.status;
        agent__sb_str(&b, first ? "{\"name\":" : ",{\"name\":");
        first = false;
        agent__sb_json(&b, m->name);
        agent__sb_str(&b, ",\"status\":");
        agent__sb_json(&b, ne_health_name(h.status));
        if (h.status != NE_HEALTH_OK && h.reason[0]) {
            agent__sb_str(&b, ",\"reason\":");
            agent__sb_json(&b, h.reason);
        }
        agent__sb_str(&b, "}");
    }
    agent__sb_str(&b, "],\"version\":");
    agent__sb_json(&b, ne_agent_version_short());
    agent__sb_str(&b, "}\n");
    if (b.err) {
        ne_free(b.p);
        return b.err;
    }
    /* Insert the overall status now that it is known. */
    const char *word = ne_health_name(worst);
    size_t wl = strlen(word);
    char *p = ne_malloc(b.len + wl + 1);
    if (!p) {
        ne_free(b.p);
        return NE_ENOMEM;
    }
    memcpy(p, b.p, status_at);
    memcpy(p + status_at, word, wl);
    memcpy(p + status_at + wl, b.p + status_at, b.len - status_at + 1);
    ne_free(b.p);
    *out = p;
    *len = b.len + wl;
    *status = worst;
    return 0;
}
