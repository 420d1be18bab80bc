/*
 * mod_sync.c - the "sync" module: starts a sink runner per configured sink
 * with the driver of its type, passes the lowest cursor to the store, and
 * reports health and the sinks' figures (mod_sync.h).
 */
#include "agent/mod_sync.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "agent/sbuf.h"
#include "ports/err.h"
#include "ports/log.h"
#include "sync/sink/central_sink.h"
#include "sync/sink/s3_sink.h"
#include "sync/sink/sink.h"

#define MOD "sync"

struct sync_mod {
    const struct ne_agent *agent;
    struct ne_sink **sinks; /* one per cfg->sinks entry, same order */
    size_t n;
    pthread_mutex_t mu;     /* guards cursor, reported */
    uint64_t *cursor;
    bool *reported;
};

static pthread_mutex_t running_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sync_mod *running;

static bool sync_enabled(const struct ne_config *cfg)
{
    return cfg->nsinks > 0;
}

/* The store may compact or evict a segment only when every sink has it:
 * pass the lowest cursor on, once every sink has reported one. */
static void on_cursor(void *ctx, const char *sink, uint64_t seq)
{
    struct sync_mod *m = ctx;
    const struct ne_config *cfg = m->agent->cfg;
    pthread_mutex_lock(&m->mu);
    bool all = true;
    uint64_t low = UINT64_MAX;
    for (size_t i = 0; i < cfg->nsinks; i++) {
        if (strcmp(cfg->sinks[i].name, sink) == 0) {
            m->cursor[i] = seq;
            m->reported[i] = true;
        }
        all = all && m->reported[i];
        if (m->cursor[i] < low) low = m->cursor[i];
    }
    pthread_mutex_unlock(&m->mu);
    if (all) ne_store_set_synced_seq(m->agent->store, low);
}

static int driver_new(const struct ne_cfg_sink *k, struct ne_sink_driver *drv)
{
    switch (k->type) {
    case NE_SINK_S3:
        return ne_s3_sink_new(k, drv);
    case NE_SINK_CENTRAL:
        return ne_central_sink_new(k, drv);
    }
    return NE_EINVAL;
}

static void sync_free(struct sync_mod *m)
{
    for (size_t i = 0; i < m->n; i++)
        ne_sink_stop(&m->sinks[i]);
    pthread_mutex_destroy(&m->mu);
    ne_free(m->sinks);
    ne_free(m->cursor);
    ne_free(m->reported);
    ne_free(m);
}

static int start_one(struct sync_mod *m, const struct ne_cfg_sink *k)
{
    const struct ne_agent *a = m->agent;
    struct ne_sink_driver drv;
    memset(&drv, 0, sizeof drv);
    int rc = driver_new(k, &drv);
    if (rc) {
        ne_log(NE_LOG_ERROR, MOD, "cannot set up sink", "sink", k->name, "err", ne_strerror(rc),
               NULL);
        return rc;
    }
    struct ne_sink_opts o = {
        .name = k->name,
        .data_dir = a->data_dir,
        .node_id = a->cfg->node_id,
        .store = a->store,
        .windows = k->windows,
        .backlog_max_age_ns = k->backlog_max_age_ns,
        .on_cursor = on_cursor,
        .on_cursor_ctx = m,
    };
    rc = ne_sink_start(&o, &drv, &m->sinks[m->n]);
    if (rc) {
        ne_log(NE_LOG_ERROR, MOD, "cannot start sink", "sink", k->name, "err", ne_strerror(rc),
               NULL);
        return rc;
    }
    m->n++;
    return 0;
}

static int sync_start(struct ne_agent *a)
{
    const struct ne_config *cfg = a->cfg;
    struct sync_mod *m = ne_calloc(1, sizeof *m);
    if (!m) return NE_ENOMEM;
    m->agent = a;
    pthread_mutex_init(&m->mu, NULL);
    m->sinks = ne_calloc(cfg->nsinks, sizeof *m->sinks);
    m->cursor = ne_calloc(cfg->nsinks, sizeof *m->cursor);
    m->reported = ne_calloc(cfg->nsinks, sizeof *m->reported);
    int rc = m->sinks && m->cursor && m->reported ? 0 : NE_ENOMEM;
    for (size_t i = 0; !rc && i < cfg->nsinks; i++)
        rc = start_one(m, &cfg->sinks[i]);
    if (rc) {
        sync_free(m);
        return rc;
    }
    pthread_mutex_lock(&running_mu);
    running = m;
    pthread_mutex_unlock(&running_mu);
    return 0;
}

static void sync_stop(struct ne_agent *a)
{
    pthread_mutex_lock(&running_mu);
    struct sync_mod *m = running && running->agent == a ? running : NULL;
    if (m) running = NULL;
    pthread_mutex_unlock(&running_mu);
    if (m) sync_free(m);
}

static void sync_health(struct ne_agent *a, struct ne_health *h)
{
    pthread_mutex_lock(&running_mu);
    struct sync_mod *m = running && running->agent == a ? running : NULL;
    h->status = NE_HEALTH_OK;
    h->reason[0] = '\0';
    for (size_t i = 0; m && i < m->n; i++) {
        struct ne_sink_status st;
        ne_sink_status(m->sinks[i], &st);
        if (st.status > (int)h->status) {
            h->status = (enum ne_health_status)st.status;
            snprintf(h->reason, sizeof h->reason, "%s", st.reason);
        }
    }
    pthread_mutex_unlock(&running_mu);
}

bool agent__sync_running(const struct ne_agent *a)
{
    pthread_mutex_lock(&running_mu);
    bool r = running && running->agent == a;
    pthread_mutex_unlock(&running_mu);
    return r;
}

void agent__sync_kick(const struct ne_agent *a)
{
    pthread_mutex_lock(&running_mu);
    for (size_t i = 0; running && running->agent == a && i < running->n; i++)
        ne_sink_kick(running->sinks[i]);
    pthread_mutex_unlock(&running_mu);
}

static void json_u64(struct agent__sbuf *b, const char *key, uint64_t v)
{
    char t[96];
    snprintf(t, sizeof t, ",\"%s\":%" PRIu64, key, v);
    agent__sb_str(b, t);
}

static void sink_json(struct agent__sbuf *b, const struct ne_cfg_sink *k, struct ne_sink *s)
{
    struct ne_sink_status st;
    ne_sink_status(s, &st);
    static const char *const names[] = {"ok", "degraded", "failing"};
    agent__sb_str(b, "{\"name\":");
    agent__sb_json(b, k->name);
    agent__sb_str(b, ",\"type\":");
    agent__sb_json(b, k->type == NE_SINK_S3 ? "s3" : "central");
    agent__sb_str(b, ",\"status\":");
    agent__sb_json(b, names[st.status < 0 || st.status > 2 ? 2 : st.status]);
    agent__sb_str(b, ",\"reason\":");
    agent__sb_json(b, st.reason);
    json_u64(b, "cursor", st.cursor);
    json_u64(b, "backlog_segments", st.backlog_segments);
    json_u64(b, "backlog_bytes", st.backlog_bytes);
    char t[128];
    snprintf(t, sizeof t, ",\"oldest_age_seconds\":%.3f", (double)st.oldest_age_ns / 1e9);
    agent__sb_str(b, t);
    json_u64(b, "delivered_segments", st.delivered_segments);
    json_u64(b, "delivered_bytes", st.delivered_bytes);
    json_u64(b, "delivered_rows", st.delivered_rows);
    json_u64(b, "lost_segments", st.lost_segments);
    snprintf(t, sizeof t, ",\"upload_bytes_per_second\":%.1f,\"in_window\":%s",
             st.upload_bytes_per_s, st.in_window ? "true" : "false");
    agent__sb_str(b, t);
    agent__sb_str(b, ",\"errors\":{");
    for (int e = 1; e < NE_SINK_ERR__COUNT; e++) {
        snprintf(t, sizeof t, "%s\"%s\":%" PRIu64, e > 1 ? "," : "",
                 ne_sink_err_name((enum ne_sink_err)e), st.errors[e]);
        agent__sb_str(b, t);
    }
    agent__sb_str(b, "}}");
}

int agent__sync_json(const struct ne_agent *a, struct agent__sbuf *b)
{
    pthread_mutex_lock(&running_mu);
    struct sync_mod *m = running && running->agent == a ? running : NULL;
    agent__sb_str(b, "[");
    for (size_t i = 0; m && i < m->n; i++) {
        if (i) agent__sb_str(b, ",");
        sink_json(b, &a->cfg->sinks[i], m->sinks[i]);
    }
    agent__sb_str(b, "]");
    pthread_mutex_unlock(&running_mu);
    return b->err;
}

const struct ne_module_ops agent__sync_ops = {
    .name = "sync",
    .enabled = sync_enabled,
    .start = sync_start,
    .stop = sync_stop,
    .health = sync_health,
};
