/*
 * mqtt.c - the MQTT ingest source on Paho MQTTAsync.
 *
 * Threads: Paho runs one receive thread and one send thread shared by all
 * the clients of the process; the message-arrived callback runs on the
 * receive thread, so a held message (below) pauses every broker at once,
 * which is what backpressure from the one store should do. A
 * supervisor thread of ours owns connecting: Paho's automatic reconnect does
 * not retry a first connect that failed, and falling back from MQTT 5 to
 * 3.1.1 needs the client to be re-created, which callbacks may not do.
 *
 * Acknowledgement invariant: Paho 1.3.12 sends PUBACK (QoS 1) or PUBREC
 * (QoS 2 under MQTT 5) right after the arrival callback returns, whatever
 * it returns - returning 0 only queues the message inside the client, and it
 * is acknowledged anyway. So the callback never returns before the sink
 * accepted the batch: on NE_EBUSY / NE_ENOSPC / NE_EFAILED it waits (with
 * doubling pauses) and retries the sink. While it waits the receive thread
 * reads nothing, TCP fills up and the broker's in-flight window throttles
 * the publishers. If the wait outlasts the keepalive the broker drops the
 * connection and redelivers to the persistent session after the reconnect.
 * A payload that cannot be decoded is acknowledged and counted.
 *
 * State per client (under ne_mqtt.mu): IDLE (waiting for next_ns), CONNECTING,
 * SUBSCRIBING, UP. Every transition to UP goes through a fresh SUBSCRIBE of
 * every filter, so a broker that lost its sessions gets them back.
 */
#include "ingest/mqtt/mqtt.h"

#include <MQTTAsync.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "ingest/decode/decode.h"
#include "ports/log.h"
#include "ports/metrics.h"
#include "ports/platform.h"

#define MOD           "mqtt"
#define MAX_TPL_TAGS  16
#define STOP_GRACE_NS (2 * 1000000000LL)

enum tkind { TL_LIT, TL_PLUS, TL_HASH, TL_TAG, TL_MEAS, TL_FIELD };

struct tlevel {
    enum tkind kind;
    struct ne_sv text; /* literal or tag name */
};

struct msub {
    char *topic;        /* as subscribed */
    const char *filter; /* topic without "$share/<group>/" */
    int qos;
    enum ne_payload format;
    char *database, *measurement, *field;
    char *tpl_text; /* owns the level texts */
    struct tlevel *tpl;
    size_t ntpl;
};

enum cstate { CS_IDLE = 0, CS_CONNECTING, CS_SUBSCRIBING, CS_UP };

struct mclient {
    struct ne_mqtt *m;
    char *uri;
    MQTTAsync h;
    int version; /* MQTTVERSION_5 or MQTTVERSION_3_1_1 */
    bool recreate;
    bool probe; /* classify the last transport failure */
    bool dis_done;
    atomic_bool broken; /* Paho refused to create the client (health: failing) */
    enum cstate state;
    int64_t next_ns;
    int backoff_ms;
    char why[200];
    char logged[200]; /* the last failure logged: log each reason once */
    atomic_int in_cb;
    int64_t last_log_ns;
    struct ne_batch batch;
    struct ne_tag tags[MAX_TPL_TAGS];
    struct ne_metric *g_conn;
};

struct ne_mqtt {
    struct ne_ingest_sink sink;
    struct ne_mqtt_opts o; /* strings below are owned copies */
    char *client_id, *username, *password, *ca, *cert, *key;
    struct msub *subs;
    size_t nsubs;
    char **sub_topics; /* for MQTTAsync_subscribeMany */
    int *sub_qos;
    MQTTSubscribe_options *sub_opts; /* MQTT 5 */
    struct mclient *cl;
    size_t ncl;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t sup;
    bool sup_started;
    bool stopping;
    atomic_int busy; /* the sink is refusing: a callback is holding */
    atomic_uint_fast64_t n_msgs, n_acked, n_refused, n_points, n_rej;
    atomic_uint n_connects;
};

void ne_mqtt_opts_default(struct ne_mqtt_opts *o)
{
    memset(o, 0, sizeof *o);
    o->client_id = "neoedge";
    o->keepalive_s = 30;
    o->max_inflight = 1000;
    o->min_retry_ms = 500;
    o->max_retry_ms = 30000;
    o->busy_min_ms = 10;
    o->busy_max_ms = 1000;
    o->tls.verify_hostname = true;
}

/* ---- topic filters and templates ---------------------------------------- */

/* MQTT filter matching: '+' one level, '#' the rest (also the parent). */
static bool filter_match(const char *f, const char *t, size_t tn)
{
    const char *te = t + tn;
    if (tn > 0 && t[0] == '$' && (f[0] == '+' || f[0] == '#')) return false;
    for (;;) {
        if (f[0] == '#') return true;
        const char *fe = strchr(f, '/');
        size_t fl = fe ? (size_t)(fe - f) : strlen(f);
        const char *tl_end = memchr(t, '/', (size_t)(te - t));
        size_t tl = tl_end ? (size_t)(tl_end - t) : (size_t)(te - t);
        if (!(fl == 1 && f[0] == '+') && (fl != tl || memcmp(f, t, fl) != 0)) return false;
        if (!fe && !tl_end) return true;
        if (!fe) return false;
        if (!tl_end) return strcmp(fe + 1, "#") == 0;
        f = fe + 1;
        t = tl_end + 1;
    }
}

static int tpl_compile(struct msub *s, const char *tpl)
{
    size_t n = 1;
    for (const char *p = tpl; *p; p++)
        n += *p == '/';
    s->tpl_text = ne_strdup(tpl);
    s->tpl = ne_calloc(n, sizeof *s->tpl);
    if (!s->tpl_text || !s->tpl) return NE_ENOMEM;
    char *p = s->tpl_text;
    size_t ntags = 0;
    for (size_t i = 0; i < n; i++) {
        char *e = strchr(p, '/');
        if (e) *e = '\0';
        size_t len = strlen(p);
        struct tlevel *l = &s->tpl[i];
        l->text = (struct ne_sv){p, (uint32_t)len};
        if (strcmp(p, "+") == 0) {
            l->kind = TL_PLUS;
        } else if (strcmp(p, "#") == 0) {
            if (i != n - 1) goto bad;
            l->kind = TL_HASH;
        } else if (len >= 3 && p[0] == '{' && p[len - 1] == '}') {
            l->text = (struct ne_sv){p + 1, (uint32_t)(len - 2)};
            if (strcmp(p, "{measurement}") == 0) {
                l->kind = TL_MEAS;
            } else if (strcmp(p, "{field}") == 0) {
                l->kind = TL_FIELD;
            } else {
                l->kind = TL_TAG;
                if (++ntags > MAX_TPL_TAGS) goto bad;
            }
        } else if (strchr(p, '{') || strchr(p, '}') || len == 0) {
            goto bad;
        } else {
            l->kind = TL_LIT;
        }
        p = e ? e + 1 : p + len;
    }
    s->ntpl = n;
    return 0;
bad:
    NE_ERROR(MOD, "invalid topic template \"%s\" (levels are literals, +, # last, or {name})", tpl);
    return NE_EINVAL;
}

/* What a topic says about its points. */
struct tmatch {
    struct ne_sv meas, field;
    size_t ntags;
};

/* Matches topic against the template; fills c->tags. false: no match. */
static bool tpl_match(const struct msub *s, struct mclient *c, const char *t, size_t tn,
                      struct tmatch *out)
{
    memset(out, 0, sizeof *out);
    const char *te = t + tn;
    const char *lvl = t;
    for (size_t i = 0; i < s->ntpl; i++) {
        const struct tlevel *l = &s->tpl[i];
        if (l->kind == TL_HASH) return true;
        if (!lvl) return false; /* topic has fewer levels */
        const char *e = memchr(lvl, '/', (size_t)(te - lvl));
        struct ne_sv v = {lvl, (uint32_t)((e ? e : te) - lvl)};
        switch (l->kind) {
        case TL_LIT:
            if (!ne_sv_eq(v, l->text)) return false;
            break;
        case TL_TAG:
            if (v.n == 0) return false;
            c->tags[out->ntags].key = l->text;
            c->tags[out->ntags].val = v;
            out->ntags++;
            break;
        case TL_MEAS:
            if (v.n == 0) return false;
            out->meas = v;
            break;
        case TL_FIELD:
            if (v.n == 0) return false;
            out->field = v;
            break;
        default:
            break;
        }
        lvl = e ? e + 1 : NULL;
    }
    return lvl == NULL; /* extra topic levels do not match */
}

static const struct msub *find_sub(const struct ne_mqtt *m, const char *t, size_t tn)
{
    for (size_t i = 0; i < m->nsubs; i++)
        if (filter_match(m->subs[i].filter, t, tn)) return &m->subs[i];
    return NULL;
}

/* ---- message arrival ------------------------------------------------------ */

static bool sink_retryable(int rc)
{
    return rc == NE_EBUSY || rc == NE_ENOSPC || rc == NE_EFAILED || rc == NE_ENOMEM ||
           rc == NE_EAGAIN || rc == NE_ETIMEOUT || rc == NE_EIO || rc == NE_ECLOSED;
}

static const char *hold_reason(int rc)
{
    switch (rc) {
    case NE_EBUSY:
        return "backpressure";
    case NE_ENOSPC:
        return "disk_full";
    default:
        return "unavailable";
    }
}

static void reject(struct mclient *c, const char *reason, uint64_t points, const char *detail)
{
    struct ne_mqtt *m = c->m;
    atomic_fetch_add(&m->n_rej, 1);
    ne_ingest_count_rejected("mqtt", reason, points ? points : 1);
    int64_t now = ne_time_mono_ns();
    if (now - c->last_log_ns > 1000000000LL) { /* at most one line per second */
        c->last_log_ns = now;
        ne_log(NE_LOG_WARN, MOD, "message rejected", "broker", c->uri, "reason", reason, "detail",
               detail, NULL);
    }
}

/* Waits up to ms on the source's condition variable; false when stopping. */
static bool pause_ms(struct ne_mqtt *m, int ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&m->mu);
    if (!m->stopping) pthread_cond_timedwait(&m->cv, &m->mu, &ts);
    bool go_on = !m->stopping;
    pthread_mutex_unlock(&m->mu);
    return go_on;
}

/* Writes c->batch to the sink until it is taken. Returns 1 (acknowledge) or
 * 0 when stopping with the sink still refusing. */
static int write_until_taken(struct mclient *c, const char *db)
{
    struct ne_mqtt *m = c->m;
    int delay = m->o.busy_min_ms;
    int64_t stop_seen = 0;
    bool held = false;
    for (;;) {
        struct ne_write_result res;
        memset(&res, 0, sizeof res);
        int rc = m->sink.write(m->sink.ctx, db, &c->batch, &res);
        if (rc == 0) {
            if (held) atomic_fetch_sub(&m->busy, 1);
            atomic_fetch_add(&m->n_points, res.accepted);
            uint64_t values = res.rejected ? 0 : ne_batch_values(&c->batch);
            ne_ingest_count_accepted("mqtt", res.accepted, values);
            if (res.rejected) ne_ingest_count_result("mqtt", &res);
            return 1;
        }
        if (!sink_retryable(rc)) {
            if (held) atomic_fetch_sub(&m->busy, 1);
            reject(c, "invalid", c->batch.npts, ne_strerror(rc));
            return 1;
        }
        if (!held) {
            held = true;
            atomic_fetch_add(&m->busy, 1);
            NE_DEBUG(MOD, "sink refused a message (%s): holding its acknowledgement",
                     hold_reason(rc));
        }
        atomic_fetch_add(&m->n_refused, 1);
        if (!pause_ms(m, delay)) {
            int64_t now = ne_time_mono_ns();
            if (!stop_seen) stop_seen = now;
            if (now - stop_seen > STOP_GRACE_NS) {
                atomic_fetch_sub(&m->busy, 1);
                NE_WARN(MOD, "stopping while the sink refuses a message (%s)", hold_reason(rc));
                return 0;
            }
            ne_time_sleep_ns((int64_t)delay * 1000000LL);
        }
        delay = delay * 2 > m->o.busy_max_ms ? m->o.busy_max_ms : delay * 2;
    }
}

/* Returns 1 when the message may be acknowledged. */
static int handle_message(struct mclient *c, const char *topic, size_t tn, const char *buf,
                          size_t len)
{
    struct ne_mqtt *m = c->m;
    atomic_fetch_add(&m->n_msgs, 1);
    if (m->o.max_payload_bytes && len > m->o.max_payload_bytes) {
        reject(c, "too_large", 1, topic);
        return 1;
    }
    const struct msub *s = find_sub(m, topic, tn);
    if (!s) {
        reject(c, "topic", 1, topic);
        return 1;
    }
    struct tmatch tm = {0};
    if (s->ntpl && !tpl_match(s, c, topic, tn, &tm)) {
        reject(c, "topic", 1, topic);
        return 1;
    }
    struct ne_decode_opts d = {0};
    d.format = s->format;
    d.tags = c->tags;
    d.ntags = tm.ntags;
    d.measurement = tm.meas;
    if (!d.measurement.n && s->measurement) d.measurement = ne_sv_c(s->measurement);
    if (!d.measurement.n) {
        const char *last = memrchr(topic, '/', tn);
        last = last ? last + 1 : topic;
        d.measurement = (struct ne_sv){last, (uint32_t)(topic + tn - last)};
    }
    d.field = tm.field.n ? tm.field : ne_sv_c(s->field ? s->field : "value");

    struct ne_decode_report rep;
    int rc;
    for (;;) {
        ne_batch_reset(&c->batch);
        rc = ne_decode(&d, buf, len, &c->batch, &rep);
        if (rc != NE_ENOMEM) break;
        if (!pause_ms(m, m->o.busy_max_ms))
            return 0; /* out of memory while stopping: not acknowledged */
    }
    if (rc == NE_EPARSE) {
        reject(c, "parse", rep.bad, rep.first_error);
    } else if (rc != 0) {
        reject(c, "invalid", 1, ne_strerror(rc));
        return 1;
    }
    if (c->batch.npts == 0) return 1;
    return write_until_taken(c, s->database);
}

static int on_message(void *ctx, char *topic, int tlen, MQTTAsync_message *msg)
{
    struct mclient *c = ctx;
    atomic_fetch_add(&c->in_cb, 1);
    size_t tn = tlen > 0 ? (size_t)tlen : strlen(topic);
    int ack = handle_message(c, topic, tn, msg->payload, (size_t)msg->payloadlen);
    if (ack) {
        atomic_fetch_add(&c->m->n_acked, 1);
        MQTTAsync_freeMessage(&msg);
        MQTTAsync_free(topic);
    }
    atomic_fetch_sub(&c->in_cb, 1);
    return ack;
}

/* Paho may run a callback while ne_mqtt_stop destroys its client: every
 * callback counts itself in c->in_cb, and stop waits for zero first. */
#define CB_ENTER(ctx) atomic_fetch_add(&((struct mclient *)(ctx))->in_cb, 1)
#define CB_LEAVE(ctx) atomic_fetch_sub(&((struct mclient *)(ctx))->in_cb, 1)

/* ---- connection state ---------------------------------------------------- */

static void set_state(struct mclient *c, enum cstate st)
{
    c->state = st;
    ne_metric_set(c->g_conn, st == CS_UP ? 1.0 : 0.0);
}

/* Called with m->mu held: go IDLE and retry after the current backoff. */
static void schedule_retry(struct mclient *c, const char *why)
{
    struct ne_mqtt *m = c->m;
    set_state(c, CS_IDLE);
    snprintf(c->why, sizeof c->why, "%s", why);
    c->next_ns = ne_time_mono_ns() + (int64_t)c->backoff_ms * 1000000LL;
    c->backoff_ms = c->backoff_ms * 2 > m->o.max_retry_ms ? m->o.max_retry_ms : c->backoff_ms * 2;
    pthread_cond_broadcast(&m->cv);
}

static void subscribed(struct mclient *c, const char *bad)
{
    struct ne_mqtt *m = c->m;
    pthread_mutex_lock(&m->mu);
    if (c->state == CS_SUBSCRIBING) {
        set_state(c, CS_UP);
        c->logged[0] = '\0';
        c->backoff_ms = m->o.min_retry_ms;
        snprintf(c->why, sizeof c->why, "%s", bad ? bad : "");
        atomic_fetch_add(&m->n_connects, 1);
    }
    pthread_mutex_unlock(&m->mu);
    if (bad)
        NE_ERROR(MOD, "%s: %s", c->uri, bad);
    else
        NE_INFO(MOD, "%s: connected and subscribed to %zu filter(s)", c->uri, m->nsubs);
}

static void on_sub_ok5(void *ctx, MQTTAsync_successData5 *d)
{
    CB_ENTER(ctx);
    struct mclient *c = ctx;
    char bad[160] = "";
    /* Paho fills the array only for more than one filter. */
    int n = d->alt.sub.reasonCodeCount;
    for (int i = 0; i < n && i < (int)c->m->nsubs; i++) {
        int rc = n > 1 ? (int)d->alt.sub.reasonCodes[i] : (int)d->reasonCode;
        if (rc >= 0x80 && !bad[0])
            snprintf(bad, sizeof bad, "subscription to %s refused: %s", c->m->subs[i].topic,
                     MQTTReasonCode_toString((enum MQTTReasonCodes)rc));
    }
    subscribed(c, bad[0] ? bad : NULL);
    CB_LEAVE(ctx);
}

static void on_sub_ok(void *ctx, MQTTAsync_successData *d)
{
    CB_ENTER(ctx);
    struct mclient *c = ctx;
    char bad[160] = "";
    if (c->m->nsubs == 1) {
        if (d->alt.qos == 0x80)
            snprintf(bad, sizeof bad, "subscription to %s refused", c->m->subs[0].topic);
    } else if (d->alt.qosList) {
        for (size_t i = 0; i < c->m->nsubs; i++)
            if (d->alt.qosList[i] == 0x80 && !bad[0])
                snprintf(bad, sizeof bad, "subscription to %s refused", c->m->subs[i].topic);
    }
    subscribed(c, bad[0] ? bad : NULL);
    CB_LEAVE(ctx);
}

static void on_sub_fail5(void *ctx, MQTTAsync_failureData5 *d)
{
    CB_ENTER(ctx);
    struct mclient *c = ctx;
    pthread_mutex_lock(&c->m->mu);
    char why[200];
    snprintf(why, sizeof why, "subscribe failed: %s",
             d->message ? d->message : MQTTReasonCode_toString(d->reasonCode));
    snprintf(c->why, sizeof c->why, "%s", why);
    pthread_mutex_unlock(&c->m->mu);
    NE_ERROR(MOD, "%s: %s", c->uri, why);
    CB_LEAVE(ctx);
}

static void on_sub_fail(void *ctx, MQTTAsync_failureData *d)
{
    CB_ENTER(ctx);
    struct mclient *c = ctx;
    pthread_mutex_lock(&c->m->mu);
    snprintf(c->why, sizeof c->why, "subscribe failed: %s", d->message ? d->message : "refused");
    pthread_mutex_unlock(&c->m->mu);
    NE_ERROR(MOD, "%s: subscribe failed (code %d)", c->uri, d->code);
    CB_LEAVE(ctx);
}

static void subscribe_all(struct mclient *c)
{
    struct ne_mqtt *m = c->m;
    MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
    ro.context = c;
    if (c->version == MQTTVERSION_5) {
        ro.onSuccess5 = on_sub_ok5;
        ro.onFailure5 = on_sub_fail5;
        ro.subscribeOptionsList = m->sub_opts;
        ro.subscribeOptionsCount = (int)m->nsubs;
    } else {
        ro.onSuccess = on_sub_ok;
        ro.onFailure = on_sub_fail;
    }
    pthread_mutex_lock(&m->mu);
    bool stopping = m->stopping;
    if (!stopping) set_state(c, CS_SUBSCRIBING);
    pthread_mutex_unlock(&m->mu);
    if (stopping) return;
    int rc = MQTTAsync_subscribeMany(c->h, (int)m->nsubs, m->sub_topics, m->sub_qos, &ro);
    if (rc != MQTTASYNC_SUCCESS) {
        pthread_mutex_lock(&m->mu);
        snprintf(c->why, sizeof c->why, "subscribe failed: %s", MQTTAsync_strerror(rc));
        pthread_mutex_unlock(&m->mu);
        NE_ERROR(MOD, "%s: subscribe failed: %s", c->uri, MQTTAsync_strerror(rc));
    }
}

static void on_conn_ok5(void *ctx, MQTTAsync_successData5 *d)
{
    CB_ENTER(ctx);
    subscribe_all(ctx);
    CB_LEAVE(ctx);
}

static void on_conn_ok(void *ctx, MQTTAsync_successData *d)
{
    CB_ENTER(ctx);
    subscribe_all(ctx);
    CB_LEAVE(ctx);
}

/* Text for a refusing CONNACK: 3.1.1 return codes 1-5, MQTT 5 reason codes. */
static const char *connack_text(int code)
{
    static const char *const v3[] = {"",
                                     "unacceptable protocol version",
                                     "client id rejected",
                                     "server unavailable",
                                     "bad user name or password",
                                     "not authorized"};
    if (code >= 1 && code <= 5) return v3[code];
    const char *t = MQTTReasonCode_toString((enum MQTTReasonCodes)code);
    return t ? t : "refused";
}

/* Paho reports a refusing CONNACK with its code in `code` (reasonCode stays
 * 0); a transport failure has code < 0 and a message. */
static void conn_failed(struct mclient *c, int code, int reason, const char *msg)
{
    struct ne_mqtt *m = c->m;
    char why[200];
    if (code <= 0 && reason > 0) code = reason;
    pthread_mutex_lock(&m->mu);
    bool proto = code == 1 || code == MQTTREASONCODE_UNSUPPORTED_PROTOCOL_VERSION;
    if (proto && c->version == MQTTVERSION_5 && m->o.protocol == 0) {
        c->version = MQTTVERSION_3_1_1;
        c->recreate = true;
        c->backoff_ms = 0; /* retry at once with 3.1.1 */
        schedule_retry(c, "broker refused MQTT 5, retrying with 3.1.1");
        c->backoff_ms = m->o.min_retry_ms;
        pthread_mutex_unlock(&m->mu);
        NE_INFO(MOD, "%s: broker does not speak MQTT 5, falling back to 3.1.1", c->uri);
        return;
    }
    if (code > 0) {
        snprintf(why, sizeof why, "connect refused: %s", connack_text(code));
    } else {
        snprintf(why, sizeof why, "%s", msg ? msg : "connect failed");
        c->probe = true;
    }
    /* transport failures are logged once classified (probe_reason) */
    bool changed = !c->probe && strcmp(why, c->logged) != 0;
    if (changed) snprintf(c->logged, sizeof c->logged, "%s", why);
    schedule_retry(c, why);
    pthread_mutex_unlock(&m->mu);
    if (changed) NE_WARN(MOD, "mqtt %s: %s, retrying", c->uri, why);
}

static void on_conn_fail5(void *ctx, MQTTAsync_failureData5 *d)
{
    CB_ENTER(ctx);
    conn_failed(ctx, d->code, d->reasonCode, d->message);
    CB_LEAVE(ctx);
}

static void on_conn_fail(void *ctx, MQTTAsync_failureData *d)
{
    CB_ENTER(ctx);
    conn_failed(ctx, d->code, 0, d->message);
    CB_LEAVE(ctx);
}

static void on_conn_lost(void *ctx, char *cause)
{
    CB_ENTER(ctx);
    struct mclient *c = ctx;
    pthread_mutex_lock(&c->m->mu);
    c->backoff_ms = c->m->o.min_retry_ms;
    schedule_retry(c, cause ? cause : "connection lost");
    pthread_mutex_unlock(&c->m->mu);
    NE_WARN(MOD, "%s: connection lost, reconnecting", c->uri);
    CB_LEAVE(ctx);
}

/* ---- the supervisor -------------------------------------------------------- */

/* Tells "connection refused" from other transport failures for /health. */
static void probe_reason(const char *uri, char *why, size_t n)
{
    const char *hp = strstr(uri, "://");
    hp = hp ? hp + 3 : uri;
    char host[256];
    const char *colon = strrchr(hp, ':');
    const char *slash = strchr(hp, '/');
    if (!colon || (slash && slash < colon)) return;
    size_t hl = (size_t)(colon - hp);
    if (hl >= sizeof host) return;
    memcpy(host, hp, hl);
    host[hl] = '\0';
    char port[16];
    snprintf(port, sizeof port, "%.*s", (int)strcspn(colon + 1, "/"), colon + 1);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int g = getaddrinfo(host, port, &hints, &ai);
    if (g != 0) {
        snprintf(why, n, "cannot resolve %.64s: %s", host, gai_strerror(g));
        return;
    }
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int err = 0;
    if (fd >= 0) {
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno == EINPROGRESS) {
            struct pollfd p = {.fd = fd, .events = POLLOUT};
            if (poll(&p, 1, 1000) == 1) {
                socklen_t l = sizeof err;
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l);
            } else {
                err = ETIMEDOUT;
            }
        } else {
            err = errno;
        }
        close(fd);
    }
    freeaddrinfo(ai);
    if (err == ECONNREFUSED)
        snprintf(why, n, "connection refused");
    else if (err == ETIMEDOUT)
        snprintf(why, n, "connect timed out");
    else if (err)
        snprintf(why, n, "%s", strerror(err));
}

static pthread_once_t paho_once = PTHREAD_ONCE_INIT;

/* Paho would initialise OpenSSL (error strings, config, algorithm tables:
 * about 2 MiB resident) when the first client is created, TLS or not.
 * OpenSSL 1.1+ initialises itself when a TLS connection first needs it, so
 * a daemon with plain tcp:// brokers never pays for it. */
static void paho_init_once(void)
{
    MQTTAsync_init_options io = MQTTAsync_init_options_initializer;
    io.do_openssl_init = 0;
    MQTTAsync_global_init(&io);
}

static int create_client(struct mclient *c)
{
    pthread_once(&paho_once, paho_init_once);
    MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer;
    co.MQTTVersion = c->version;
    int rc = MQTTAsync_createWithOptions(&c->h, c->uri, c->m->client_id,
                                         MQTTCLIENT_PERSISTENCE_NONE, NULL, &co);
    if (rc != MQTTASYNC_SUCCESS) {
        NE_ERROR(MOD, "%s: cannot create client: %s", c->uri, MQTTAsync_strerror(rc));
        c->h = NULL;
        c->broken = true;
        return NE_EINVAL;
    }
    c->broken = false;
    MQTTAsync_setCallbacks(c->h, c, on_conn_lost, on_message, NULL);
    return 0;
}

static bool uri_is_tls(const char *uri)
{
    return strncmp(uri, "ssl://", 6) == 0 || strncmp(uri, "wss://", 6) == 0 ||
           strncmp(uri, "mqtts://", 8) == 0;
}

static bool uri_is_ws(const char *uri)
{
    return strncmp(uri, "ws://", 5) == 0 || strncmp(uri, "wss://", 6) == 0;
}

/* Starts one connect attempt (supervisor thread, m->mu not held). */
static void start_connect(struct mclient *c)
{
    struct ne_mqtt *m = c->m;
    if (c->recreate && c->h) {
        MQTTAsync_destroy(&c->h);
        c->h = NULL;
    }
    c->recreate = false;
    if (!c->h && create_client(c) != 0) {
        pthread_mutex_lock(&m->mu);
        schedule_retry(c, "cannot create client");
        pthread_mutex_unlock(&m->mu);
        return;
    }
    MQTTAsync_connectOptions co = MQTTAsync_connectOptions_initializer;
    MQTTAsync_connectOptions co5 = MQTTAsync_connectOptions_initializer5;
    MQTTProperties props = MQTTProperties_initializer;
    bool v5 = c->version == MQTTVERSION_5;
    if (v5) {
        co = co5;
        co.cleanstart = m->o.clean_session;
        MQTTProperty p = {.identifier = MQTTPROPERTY_CODE_SESSION_EXPIRY_INTERVAL};
        /* A persistent MQTT 5 session must outlive the connection. */
        p.value.integer4 = m->o.clean_session ? 0 : 0xFFFFFFFFu;
        MQTTProperties_add(&props, &p);
        MQTTProperty rm = {.identifier = MQTTPROPERTY_CODE_RECEIVE_MAXIMUM};
        rm.value.integer2 = (unsigned short)(m->o.max_inflight > 65535 ? 65535 : m->o.max_inflight);
        MQTTProperties_add(&props, &rm);
        co.connectProperties = &props;
        co.onSuccess5 = on_conn_ok5;
        co.onFailure5 = on_conn_fail5;
    } else {
        co.MQTTVersion = MQTTVERSION_3_1_1;
        co.cleansession = m->o.clean_session;
        co.onSuccess = on_conn_ok;
        co.onFailure = on_conn_fail;
    }
    co.keepAliveInterval = uri_is_ws(c->uri) && m->o.keepalive_s > 45 ? 45 : m->o.keepalive_s;
    co.maxInflight = m->o.max_inflight;
    co.username = m->username;
    co.password = m->password;
    co.connectTimeout = 10;
    co.retryInterval = 0;
    co.automaticReconnect = 0;
    co.context = c;
    MQTTAsync_SSLOptions ssl = MQTTAsync_SSLOptions_initializer;
    if (uri_is_tls(c->uri)) {
        ssl.trustStore = m->ca;
        ssl.keyStore = m->cert;
        ssl.privateKey = m->key;
        ssl.enableServerCertAuth = 1;
        ssl.verify = m->o.tls.verify_hostname ? 1 : 0;
        co.ssl = &ssl;
    }
    pthread_mutex_lock(&m->mu);
    set_state(c, CS_CONNECTING);
    pthread_mutex_unlock(&m->mu);
    int rc = MQTTAsync_connect(c->h, &co);
    MQTTProperties_free(&props);
    if (rc != MQTTASYNC_SUCCESS) {
        char why[160];
        snprintf(why, sizeof why, "connect failed: %s", MQTTAsync_strerror(rc));
        pthread_mutex_lock(&m->mu);
        schedule_retry(c, why);
        pthread_mutex_unlock(&m->mu);
    }
}

static void *supervise(void *arg)
{
    struct ne_mqtt *m = arg;
    pthread_mutex_lock(&m->mu);
    while (!m->stopping) {
        int64_t now = ne_time_mono_ns();
        int64_t wake = now + 1000000000LL;
        for (size_t i = 0; i < m->ncl && !m->stopping; i++) {
            struct mclient *c = &m->cl[i];
            if (c->probe) {
                c->probe = false;
                char why[160] = "";
                pthread_mutex_unlock(&m->mu);
                probe_reason(c->uri, why, sizeof why);
                pthread_mutex_lock(&m->mu);
                if (!why[0] && c->state == CS_IDLE && m->o.protocol == 0) {
                    /* reachable, yet closed before any CONNACK: some 3.1.1
                     * brokers hang up on an MQTT 5 CONNECT; alternate */
                    c->version = c->version == MQTTVERSION_5 ? MQTTVERSION_3_1_1 : MQTTVERSION_5;
                    c->recreate = true;
                }
                if (why[0] && c->state == CS_IDLE) {
                    snprintf(c->why, sizeof c->why, "%s", why);
                    if (strcmp(why, c->logged) != 0) {
                        snprintf(c->logged, sizeof c->logged, "%s", why);
                        NE_WARN(MOD, "mqtt %s: %s, retrying", c->uri, why);
                    }
                }
            }
            if (c->state == CS_IDLE && now >= c->next_ns) {
                pthread_mutex_unlock(&m->mu);
                start_connect(c);
                pthread_mutex_lock(&m->mu);
            }
            if (c->state == CS_IDLE && c->next_ns < wake) wake = c->next_ns;
        }
        if (m->stopping) break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t d = wake - ne_time_mono_ns();
        if (d < 0) d = 0;
        ts.tv_sec += (time_t)(d / 1000000000LL);
        ts.tv_nsec += (long)(d % 1000000000LL);
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&m->cv, &m->mu, &ts);
    }
    pthread_mutex_unlock(&m->mu);
    return NULL;
}

/* ---- start / stop ------------------------------------------------------------ */

static char *dup_or_null(const char *s)
{
    return s && s[0] ? ne_strdup(s) : NULL;
}

static int copy_sub(struct msub *d, const struct ne_mqtt_sub_opts *s)
{
    if (!s->topic || !s->topic[0]) {
        NE_ERROR(MOD, "subscription without a topic filter");
        return NE_EINVAL;
    }
    if (s->qos < 0 || s->qos > 2) {
        NE_ERROR(MOD, "subscription %s: qos %d is not 0, 1 or 2", s->topic, s->qos);
        return NE_EINVAL;
    }
    d->topic = ne_strdup(s->topic);
    d->database = ne_strdup(s->database && s->database[0] ? s->database : "iot");
    d->measurement = dup_or_null(s->measurement);
    d->field = dup_or_null(s->field);
    if (!d->topic || !d->database || (s->measurement && s->measurement[0] && !d->measurement) ||
        (s->field && s->field[0] && !d->field))
        return NE_ENOMEM;
    d->qos = s->qos;
    d->format = s->format == NE_PAYLOAD_AUTO ? NE_PAYLOAD_LINE : s->format;
    d->filter = d->topic;
    if (strncmp(d->topic, "$share/", 7) == 0) {
        const char *g = strchr(d->topic + 7, '/');
        if (!g || g == d->topic + 7 || !g[1]) {
            NE_ERROR(MOD, "shared subscription \"%s\" needs $share/<group>/<filter>", s->topic);
            return NE_EINVAL;
        }
        d->filter = g + 1;
    }
    if (s->template_ && s->template_[0]) return tpl_compile(d, s->template_);
    return 0;
}

static void free_all(struct ne_mqtt *m)
{
    for (size_t i = 0; i < m->nsubs; i++) {
        struct msub *s = &m->subs[i];
        ne_free(s->topic);
        ne_free(s->database);
        ne_free(s->measurement);
        ne_free(s->field);
        ne_free(s->tpl_text);
        ne_free(s->tpl);
    }
    for (size_t i = 0; i < m->ncl; i++) {
        ne_free(m->cl[i].uri);
        ne_batch_free(&m->cl[i].batch);
    }
    ne_free(m->subs);
    ne_free(m->sub_topics);
    ne_free(m->sub_qos);
    ne_free(m->sub_opts);
    ne_free(m->cl);
    ne_free(m->client_id);
    ne_free(m->username);
    ne_free(m->password);
    ne_free(m->ca);
    ne_free(m->cert);
    ne_free(m->key);
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    ne_free(m);
}

static int check_opts(const struct ne_mqtt_opts *o, const struct ne_ingest_sink *sink)
{
    if (!sink || !sink->write) {
        NE_ERROR(MOD, "no sink");
        return NE_EINVAL;
    }
    if (o->nbrokers == 0 || o->nsubs == 0) {
        NE_ERROR(MOD, "need at least one broker and one subscription");
        return NE_EINVAL;
    }
    if (o->protocol != 0 && o->protocol != 4 && o->protocol != 5) {
        NE_ERROR(MOD, "protocol %d is not 0 (auto), 4 (3.1.1) or 5", o->protocol);
        return NE_EINVAL;
    }
    for (size_t i = 0; i < o->nbrokers; i++) {
        const char *u = o->brokers[i];
        if (!u || !(strncmp(u, "tcp://", 6) == 0 || strncmp(u, "mqtt://", 7) == 0 ||
                    uri_is_tls(u) || uri_is_ws(u))) {
            NE_ERROR(MOD, "broker \"%s\" is not a tcp://, ssl://, ws:// or wss:// URI",
                     u ? u : "(null)");
            return NE_EINVAL;
        }
    }
    return 0;
}

static void fill_defaults(struct ne_mqtt_opts *o)
{
    struct ne_mqtt_opts d;
    ne_mqtt_opts_default(&d);
    if (o->keepalive_s <= 0) o->keepalive_s = d.keepalive_s;
    if (o->max_inflight <= 0) o->max_inflight = d.max_inflight;
    if (o->min_retry_ms <= 0) o->min_retry_ms = d.min_retry_ms;
    if (o->max_retry_ms < o->min_retry_ms)
        o->max_retry_ms = o->min_retry_ms > d.max_retry_ms ? o->min_retry_ms : d.max_retry_ms;
    if (o->busy_min_ms <= 0) o->busy_min_ms = d.busy_min_ms;
    if (o->busy_max_ms < o->busy_min_ms)
        o->busy_max_ms = o->busy_min_ms > d.busy_max_ms ? o->busy_min_ms : d.busy_max_ms;
}

static int init_clients(struct ne_mqtt *m, const struct ne_mqtt_opts *o)
{
    m->cl = ne_calloc(o->nbrokers, sizeof *m->cl);
    if (!m->cl) return NE_ENOMEM;
    for (size_t i = 0; i < o->nbrokers; i++) {
        struct mclient *c = &m->cl[i];
        c->m = m;
        ne_batch_init(&c->batch);
        m->ncl++;
        c->uri = ne_strdup(strncmp(o->brokers[i], "mqtt://", 7) == 0 ? o->brokers[i] + 7
                                                                     : o->brokers[i]);
        if (!c->uri) return NE_ENOMEM;
        if (strncmp(o->brokers[i], "mqtt://", 7) == 0) { /* Paho wants tcp:// */
            char *u = ne_malloc(strlen(c->uri) + 7);
            if (!u) return NE_ENOMEM;
            sprintf(u, "tcp://%s", c->uri);
            ne_free(c->uri);
            c->uri = u;
        }
        c->version = o->protocol == 4 ? MQTTVERSION_3_1_1 : MQTTVERSION_5;
        c->backoff_ms = o->min_retry_ms;
        snprintf(c->why, sizeof c->why, "connecting");
        char labels[300];
        snprintf(labels, sizeof labels, "broker=\"%s\"", c->uri);
        c->g_conn = ne_metric_gauge("neoedge_mqtt_connected",
                                    "1 while connected and subscribed to the broker", labels);
        ne_metric_set(c->g_conn, 0);
        if (create_client(c) != 0) return NE_EINVAL;
    }
    return 0;
}

int ne_mqtt_start(const struct ne_mqtt_opts *opts, const struct ne_ingest_sink *sink,
                  struct ne_mqtt **out)
{
    int rc = check_opts(opts, sink);
    if (rc) return rc;
    struct ne_mqtt *m = ne_calloc(1, sizeof *m);
    if (!m) return NE_ENOMEM;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    m->sink = *sink;
    m->o = *opts;
    fill_defaults(&m->o);
    m->client_id = ne_strdup(opts->client_id && opts->client_id[0] ? opts->client_id : "neoedge");
    m->username = dup_or_null(opts->username);
    m->password = dup_or_null(opts->password);
    m->ca = dup_or_null(opts->tls.ca_file);
    m->cert = dup_or_null(opts->tls.cert_file);
    m->key = dup_or_null(opts->tls.key_file);
    m->subs = ne_calloc(opts->nsubs, sizeof *m->subs);
    m->sub_topics = ne_calloc(opts->nsubs, sizeof *m->sub_topics);
    m->sub_qos = ne_calloc(opts->nsubs, sizeof *m->sub_qos);
    m->sub_opts = ne_calloc(opts->nsubs, sizeof *m->sub_opts);
    rc = NE_ENOMEM;
    if (!m->client_id || !m->subs || !m->sub_topics || !m->sub_qos || !m->sub_opts) goto fail;
    /* the copies above own the strings; opts is not kept */
    m->o.brokers = NULL;
    m->o.subs = NULL;
    m->o.client_id = m->o.username = m->o.password = NULL;
    m->o.tls.ca_file = m->o.tls.cert_file = m->o.tls.key_file = NULL;
    for (size_t i = 0; i < opts->nsubs; i++) {
        m->nsubs++;
        if ((rc = copy_sub(&m->subs[i], &opts->subs[i])) != 0) goto fail;
        m->sub_topics[i] = m->subs[i].topic;
        m->sub_qos[i] = m->subs[i].qos;
        MQTTSubscribe_options so = MQTTSubscribe_options_initializer;
        /* Retained messages only with a new subscription, not again on every
         * reconnect: a timestamp-less retained value would be stored anew. */
        so.retainHandling = 1;
        m->sub_opts[i] = so;
    }
    if ((rc = init_clients(m, opts)) != 0) goto fail;
    if (pthread_create(&m->sup, NULL, supervise, m) != 0) {
        rc = NE_ENOMEM;
        goto fail;
    }
    m->sup_started = true;
    *out = m;
    return 0;
fail:
    for (size_t i = 0; i < m->ncl; i++)
        if (m->cl[i].h) MQTTAsync_destroy(&m->cl[i].h);
    free_all(m);
    return rc;
}

static void on_dis_done(void *ctx, MQTTAsync_successData *d)
{
    CB_ENTER(ctx);
    struct mclient *c = ctx;
    pthread_mutex_lock(&c->m->mu);
    c->dis_done = true;
    pthread_cond_broadcast(&c->m->cv);
    pthread_mutex_unlock(&c->m->mu);
    CB_LEAVE(ctx);
}

static void on_dis_fail(void *ctx, MQTTAsync_failureData *d)
{
    on_dis_done(ctx, NULL);
}

static void on_dis_done5(void *ctx, MQTTAsync_successData5 *d)
{
    on_dis_done(ctx, NULL);
}

static void on_dis_fail5(void *ctx, MQTTAsync_failureData5 *d)
{
    on_dis_done(ctx, NULL);
}

/* Disconnects one client and waits (bounded) for Paho to confirm. */
static void disconnect_client(struct mclient *c)
{
    struct ne_mqtt *m = c->m;
    if (!c->h) return;
    if (MQTTAsync_isConnected(c->h)) {
        MQTTAsync_disconnectOptions d = MQTTAsync_disconnectOptions_initializer;
        MQTTAsync_disconnectOptions d5 = MQTTAsync_disconnectOptions_initializer5;
        if (c->version == MQTTVERSION_5) {
            d = d5;
            d.onSuccess5 = on_dis_done5;
            d.onFailure5 = on_dis_fail5;
        } else {
            d.onSuccess = on_dis_done;
            d.onFailure = on_dis_fail;
        }
        d.context = c;
        d.timeout = 0;
        if (MQTTAsync_disconnect(c->h, &d) == MQTTASYNC_SUCCESS) {
            int64_t deadline = ne_time_mono_ns() + 3000000000LL;
            pthread_mutex_lock(&m->mu);
            while (!c->dis_done && ne_time_mono_ns() < deadline) {
                pthread_mutex_unlock(&m->mu);
                ne_time_sleep_ns(5000000);
                pthread_mutex_lock(&m->mu);
            }
            pthread_mutex_unlock(&m->mu);
        }
    }
    /* Paho may still be inside a callback for this client. */
    while (atomic_load(&c->in_cb) > 0)
        ne_time_sleep_ns(1000000);
    MQTTAsync_setCallbacks(c->h, NULL, NULL, NULL, NULL);
    MQTTAsync_destroy(&c->h);
    c->h = NULL;
    ne_metric_set(c->g_conn, 0);
}

void ne_mqtt_stop(struct ne_mqtt **mp)
{
    if (!mp || !*mp) return;
    struct ne_mqtt *m = *mp;
    pthread_mutex_lock(&m->mu);
    m->stopping = true;
    pthread_cond_broadcast(&m->cv);
    pthread_mutex_unlock(&m->mu);
    if (m->sup_started) pthread_join(m->sup, NULL);
    for (size_t i = 0; i < m->ncl; i++)
        disconnect_client(&m->cl[i]);
    free_all(m);
    *mp = NULL;
}

int ne_mqtt_health(struct ne_mqtt *m, char *why, size_t n)
{
    if (why && n) why[0] = '\0';
    pthread_mutex_lock(&m->mu);
    const struct mclient *down = NULL;
    bool broken = false; /* a client Paho cannot even create */
    for (size_t i = 0; i < m->ncl; i++) {
        if (m->cl[i].state == CS_UP && !m->cl[i].why[0]) continue;
        if (!down) down = &m->cl[i];
        broken |= atomic_load(&m->cl[i].broken);
    }
    int st = 0;
    if (down) {
        /* an unreachable broker is degraded, not failing: the rest of the
         * daemon works and the client keeps retrying */
        st = broken ? 2 : 1;
        if (why && n)
            snprintf(why, n, "mqtt %s: %s%s", down->uri, down->why,
                     down->state != CS_UP && down->next_ns ? ", retrying" : "");
    } else if (atomic_load(&m->busy) > 0) {
        st = 1;
        if (why && n) snprintf(why, n, "mqtt: the store is refusing writes, acknowledgements held");
    }
    pthread_mutex_unlock(&m->mu);
    return st;
}

void ne_mqtt_stats(struct ne_mqtt *m, struct ne_mqtt_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!m) return;
    out->messages = atomic_load(&m->n_msgs);
    out->acked = atomic_load(&m->n_acked);
    out->refusals = atomic_load(&m->n_refused);
    out->points = atomic_load(&m->n_points);
    out->rejected = atomic_load(&m->n_rej);
    out->connects = atomic_load(&m->n_connects);
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < m->ncl; i++)
        out->connected += m->cl[i].state == CS_UP;
    pthread_mutex_unlock(&m->mu);
}
