/*
 * coap.c - the CoAP ingest source on libcoap 3 (4.3.x).
 *
 * One server thread owns the coap_context and everything in it (libcoap is
 * not thread-safe); other threads only read the atomic counters and the
 * health fields. Request bodies sent block-wise (RFC 7959 Block1) are
 * reassembled by libcoap (COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY),
 * so a handler always sees one whole body.
 *
 * Duplicates: libcoap 4.3.1 drops a duplicate confirmable request only on
 * its separate-response (proxy) path; for ordinary requests it calls the
 * handler again. So the handler keeps its own response cache, keyed by the
 * peer's address and the message id: a retransmitted CON request (same id
 * from the same peer within EXCHANGE_LIFETIME, RFC 7252 section 4.5) gets
 * the first answer's code and options again and does not reach the sink.
 * The token and the body length must match too (see request_fp).
 * The cache is direct-mapped, DEDUP_SLOTS slots of 24 bytes (3 MiB, touched
 * lazily); a newer exchange evicts an older one in the same slot. The first
 * retransmission comes after ACK_TIMEOUT (2-3 s): the cache covers that at
 * ~30k requests/s, and the whole 45 s MAX_TRANSMIT_SPAN at ~3k requests/s.
 *
 * DTLS-PSK: libcoap asks psk_for_identity() for the key of the identity the
 * client presents; an unknown identity gets no key, and a wrong key fails the
 * handshake's Finished check, so no request of such a peer is ever handled.
 */
#include "ingest/coap/coap.h"
#include "ingest/coap/coap_internal.h"

#include <arpa/inet.h>
#include <coap3/coap.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/decode/decode.h"
#include "ports/log.h"
#include "ports/platform.h"

#define MOD                 "coap"
#define DEDUP_SLOTS         (1u << 17)
#define EXCHANGE_LIFETIME_S 247
#define DIAG_MAX            120
#define DEFAULT_MAX_PAYLOAD (1024 * 1024)

/* One answer, as sent (and as replayed to a retransmission). */
struct reply {
    uint8_t code;     /* COAP_RESPONSE_CODE(...) */
    uint32_t max_age; /* Max-Age option when code is 5.03 */
    uint32_t size1;   /* Size1 option when code is 4.13 */
    uint8_t ndiag;
    char diag[DIAG_MAX];
};

/* What a retransmission needs to be answered alike; the diagnostic text is
 * not kept (a replayed error says it repeats an earlier answer). */
struct dedup_slot {
    uint64_t peer; /* hash of the peer's address and port; 0: empty */
    uint32_t t_s;  /* monotonic seconds when answered */
    uint32_t aux;  /* Max-Age or Size1 */
    uint32_t fp;   /* hash of the token and the body length */
    uint16_t mid;
    uint8_t code;
};

struct cpath {
    struct ne_coap *c;
    char *path, *database, *measurement;
    enum ne_payload format;
};

struct cpsk {
    coap_bin_const_t id, key;
};

struct ne_coap {
    struct ne_ingest_sink sink;
    coap_context_t *ctx;
    struct cpath *paths;
    size_t npaths;
    struct cpsk *psk;
    size_t npsk;
    uint64_t max_payload;
    int busy_max_age;
    pthread_t thr;
    bool thr_started;
    atomic_bool stop, dead;
    struct ne_batch batch; /* server thread only */
    struct dedup_slot *dedup;
    atomic_uint_fast64_t n_req, n_stored, n_points, n_bad, n_busy, n_failed;
    _Atomic int64_t last_refusal_ns;
};

static pthread_once_t coap_once = PTHREAD_ONCE_INIT;

static void coap_init_once(void)
{
    coap_startup();
    coap_set_log_level(LOG_ERR);
    coap_dtls_set_log_level(LOG_ERR);
}

void ne_coap_opts_default(struct ne_coap_opts *o)
{
    memset(o, 0, sizeof *o);
    o->listen = "127.0.0.1:5683";
    o->dtls_listen = "127.0.0.1:5684";
    o->max_payload_bytes = DEFAULT_MAX_PAYLOAD;
    o->busy_max_age_s = 1;
}

/* ---- duplicate detection --------------------------------------------------- */

static void set_diag(struct reply *r, const char *prefix, const char *text);

static uint64_t peer_hash(const coap_address_t *a)
{
    size_t n = a->size < sizeof a->addr ? a->size : sizeof a->addr;
    const uint8_t *p = (const uint8_t *)&a->addr.sa;
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h | 1; /* never 0: 0 marks an empty slot */
}

static struct dedup_slot *dedup_slot(struct ne_coap *c, uint64_t peer, uint16_t mid)
{
    uint64_t h = (peer ^ ((uint64_t)mid * 0x9E3779B97F4A7C15ULL)) * 0xBF58476D1CE4E5B9ULL;
    return &c->dedup[(h >> 40) % DEDUP_SLOTS];
}

static uint32_t now_s(void)
{
    return (uint32_t)(ne_time_mono_ns() / 1000000000LL);
}

/* A retransmission repeats the token and the body, not only the message id:
 * checking them too keeps a client that reuses ids too early (against RFC
 * 7252 section 4.4) from having a new request taken for an old one. */
static uint32_t request_fp(const coap_pdu_t *req)
{
    coap_bin_const_t tok = coap_pdu_get_token(req);
    size_t len = 0, off = 0, total = 0;
    const uint8_t *data;
    if (!coap_get_data_large(req, &len, &data, &off, &total)) total = 0;
    uint32_t h = 2166136261u ^ (uint32_t)total;
    for (size_t i = 0; i < tok.length; i++)
        h = (h ^ tok.s[i]) * 16777619u;
    return h;
}

/* The answer given to (peer, mid) within EXCHANGE_LIFETIME, if any. */
static bool dedup_find(struct ne_coap *c, const coap_address_t *a, uint16_t mid, uint32_t fp,
                       struct reply *r)
{
    uint64_t peer = peer_hash(a);
    const struct dedup_slot *s = dedup_slot(c, peer, mid);
    if (s->peer != peer || s->mid != mid || s->fp != fp || now_s() - s->t_s > EXCHANGE_LIFETIME_S)
        return false;
    memset(r, 0, sizeof *r);
    r->code = s->code;
    r->max_age = r->size1 = s->aux;
    if (r->code != COAP_RESPONSE_CODE(204))
        set_diag(r, "", "repeated answer to a retransmitted request");
    return true;
}

static void dedup_put(struct ne_coap *c, const coap_address_t *a, uint16_t mid, uint32_t fp,
                      const struct reply *r)
{
    uint64_t peer = peer_hash(a);
    struct dedup_slot *s = dedup_slot(c, peer, mid);
    s->peer = peer;
    s->fp = fp;
    s->mid = mid;
    s->t_s = now_s();
    s->code = r->code;
    s->aux = r->code == COAP_RESPONSE_CODE(413) ? r->size1 : r->max_age;
}

/* ---- request handling ------------------------------------------------------ */

static void set_diag(struct reply *r, const char *prefix, const char *text)
{
    int n = snprintf(r->diag, sizeof r->diag, "%s%s", prefix, text);
    if (n < 0) n = 0;
    if (n >= (int)sizeof r->diag) n = (int)sizeof r->diag - 1;
    r->ndiag = (uint8_t)n;
}

/* Picks the payload format: a Content-Format other than text/plain wins,
 * otherwise the path's own format. NE_EUNSUPPORTED for an unknown one. */
static int pick_format(const struct cpath *p, const coap_pdu_t *req, enum ne_payload *out)
{
    coap_opt_iterator_t oi;
    coap_opt_t *o = coap_check_option(req, COAP_OPTION_CONTENT_FORMAT, &oi);
    if (o) {
        unsigned cf = coap_decode_var_bytes(coap_opt_value(o), coap_opt_length(o));
        enum ne_payload f;
        if (ne_decode_content_format(cf, &f) != 0) return NE_EUNSUPPORTED;
        if (cf != 0 || p->format == NE_PAYLOAD_AUTO) {
            *out = f;
            return 0;
        }
    }
    *out = p->format == NE_PAYLOAD_AUTO ? NE_PAYLOAD_LINE : p->format;
    return 0;
}

static void refused(struct ne_coap *c, struct reply *r, int rc, uint32_t npts)
{
    atomic_store(&c->last_refusal_ns, ne_time_mono_ns());
    if (rc == NE_EBUSY) {
        r->code = COAP_RESPONSE_CODE(503);
        r->max_age = (uint32_t)c->busy_max_age;
        set_diag(r, "", "busy, retry later");
        atomic_fetch_add(&c->n_busy, 1);
        ne_ingest_count_rejected("coap", "backpressure", npts);
        return;
    }
    r->code = COAP_RESPONSE_CODE(500);
    set_diag(r, "", rc == NE_ENOSPC ? "disk full" : ne_strerror(rc));
    atomic_fetch_add(&c->n_failed, 1);
    ne_ingest_count_rejected("coap", rc == NE_ENOSPC ? "disk_full" : "unavailable", npts);
}

/* Decodes the body and writes it to the sink; fills r with the answer. */
static void handle_body(struct cpath *p, const coap_pdu_t *req, const uint8_t *data, size_t len,
                        struct reply *r)
{
    struct ne_coap *c = p->c;
    if (len > c->max_payload) {
        r->code = COAP_RESPONSE_CODE(413);
        r->size1 = (uint32_t)(c->max_payload > UINT32_MAX ? UINT32_MAX : c->max_payload);
        set_diag(r, "", "payload too large");
        atomic_fetch_add(&c->n_bad, 1);
        ne_ingest_count_rejected("coap", "too_large", 1);
        return;
    }
    struct ne_decode_opts d = {0};
    if (pick_format(p, req, &d.format) != 0) {
        r->code = COAP_RESPONSE_CODE(415);
        set_diag(r, "", "unsupported content format");
        atomic_fetch_add(&c->n_bad, 1);
        ne_ingest_count_rejected("coap", "parse", 1);
        return;
    }
    d.measurement = ne_sv_c(p->measurement);
    struct ne_decode_report rep;
    ne_batch_reset(&c->batch);
    int rc = ne_decode(&d, (const char *)data, len, &c->batch, &rep);
    if (rc == NE_ENOMEM) {
        refused(c, r, NE_EBUSY, 1);
        return;
    }
    if (rc != 0 && rc != NE_EPARSE) {
        r->code = COAP_RESPONSE_CODE(400);
        set_diag(r, "", ne_strerror(rc));
        atomic_fetch_add(&c->n_bad, 1);
        ne_ingest_count_rejected("coap", "parse", 1);
        return;
    }
    if (rep.bad) ne_ingest_count_rejected("coap", "parse", rep.bad);
    if (c->batch.npts == 0) {
        r->code = COAP_RESPONSE_CODE(400);
        set_diag(r, "", rep.first_error[0] ? rep.first_error : "no points");
        atomic_fetch_add(&c->n_bad, 1);
        return;
    }
    struct ne_write_result res;
    memset(&res, 0, sizeof res);
    rc = c->sink.write(c->sink.ctx, p->database, &c->batch, &res);
    if (rc != 0) {
        refused(c, r, rc, c->batch.npts);
        return;
    }
    atomic_fetch_add(&c->n_points, res.accepted);
    ne_ingest_count_accepted("coap", res.accepted, res.rejected ? 0 : ne_batch_values(&c->batch));
    if (res.rejected) ne_ingest_count_result("coap", &res);
    if (rep.bad) { /* the good records are stored; name the first bad one */
        r->code = COAP_RESPONSE_CODE(400);
        set_diag(r, "partial write: ", rep.first_error);
        atomic_fetch_add(&c->n_bad, 1);
        return;
    }
    if (res.rejected) {
        r->code = COAP_RESPONSE_CODE(400);
        set_diag(r, "partial write: ", res.first_error);
        atomic_fetch_add(&c->n_bad, 1);
        return;
    }
    r->code = COAP_RESPONSE_CODE(204);
    atomic_fetch_add(&c->n_stored, 1);
}

static void send_reply(coap_pdu_t *resp, const struct reply *r)
{
    uint8_t buf[4];
    coap_pdu_set_code(resp, (coap_pdu_code_t)r->code);
    if (r->code == COAP_RESPONSE_CODE(503))
        coap_add_option(resp, COAP_OPTION_MAXAGE, coap_encode_var_safe(buf, sizeof buf, r->max_age),
                        buf);
    if (r->code == COAP_RESPONSE_CODE(413))
        coap_add_option(resp, COAP_OPTION_SIZE1, coap_encode_var_safe(buf, sizeof buf, r->size1),
                        buf);
    if (r->ndiag) coap_add_data(resp, r->ndiag, (const uint8_t *)r->diag);
}

static void on_write(coap_resource_t *res, coap_session_t *sess, const coap_pdu_t *req,
                     const coap_string_t *query, coap_pdu_t *resp)
{
    struct cpath *p = coap_resource_get_userdata(res);
    struct ne_coap *c = p->c;
    const coap_address_t *peer = coap_session_get_addr_remote(sess);
    bool con = coap_pdu_get_type(req) == COAP_MESSAGE_CON;
    uint16_t mid = (uint16_t)coap_pdu_get_mid(req);
    uint32_t fp = con ? request_fp(req) : 0;
    if (con && peer) {
        struct reply old;
        if (dedup_find(c, peer, mid, fp, &old)) {
            NE_DEBUG(MOD, "retransmitted request (mid %u): answered from the cache", mid);
            send_reply(resp, &old);
            return;
        }
    }
    atomic_fetch_add(&c->n_req, 1);
    size_t len = 0, off = 0, total = 0;
    const uint8_t *data = NULL;
    if (!coap_get_data_large(req, &len, &data, &off, &total)) {
        len = 0;
        data = (const uint8_t *)"";
    }
    struct reply r;
    memset(&r, 0, sizeof r);
    handle_body(p, req, data, len, &r);
    send_reply(resp, &r);
    if (con && peer) dedup_put(c, peer, mid, fp, &r);
}

static const coap_bin_const_t *psk_for_identity(coap_bin_const_t *id, coap_session_t *s, void *arg)
{
    struct ne_coap *c = arg;
    for (size_t i = 0; i < c->npsk; i++)
        if (c->psk[i].id.length == id->length && memcmp(c->psk[i].id.s, id->s, id->length) == 0)
            return &c->psk[i].key;
    NE_WARN(MOD, "DTLS: unknown PSK identity \"%.*s\"", (int)id->length, (const char *)id->s);
    return NULL;
}

/* ---- set-up -------------------------------------------------------------------- */

/* "host:port" or "[v6]:port" -> address. */
static int parse_addr(const char *s, coap_address_t *out)
{
    char host[256];
    const char *port;
    if (s[0] == '[') {
        const char *e = strchr(s, ']');
        if (!e || e[1] != ':' || (size_t)(e - s - 1) >= sizeof host) return NE_EINVAL;
        memcpy(host, s + 1, (size_t)(e - s - 1));
        host[e - s - 1] = '\0';
        port = e + 2;
    } else {
        const char *e = strrchr(s, ':');
        if (!e || (size_t)(e - s) >= sizeof host) return NE_EINVAL;
        memcpy(host, s, (size_t)(e - s));
        host[e - s] = '\0';
        port = e + 1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_flags = AI_PASSIVE | AI_NUMERICSERV},
                    *ai = NULL;
    if (getaddrinfo(host[0] ? host : NULL, port, &hints, &ai) != 0 || !ai) return NE_EINVAL;
    coap_address_init(out);
    out->size = ai->ai_addrlen;
    memcpy(&out->addr.sa, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return 0;
}

static int add_endpoint(struct ne_coap *c, const char *listen, coap_proto_t proto)
{
    coap_address_t a;
    if (parse_addr(listen, &a) != 0) {
        NE_ERROR(MOD, "invalid listen address \"%s\" (want host:port)", listen);
        return NE_EINVAL;
    }
    errno = 0;
    if (!coap_new_endpoint(c->ctx, &a, proto)) {
        int e = errno;
        NE_ERROR(MOD, "cannot listen on %s (%s): %s", listen,
                 proto == COAP_PROTO_DTLS ? "dtls" : "udp", e ? strerror(e) : "failed");
        return e == EADDRINUSE ? NE_EADDRINUSE : NE_EIO;
    }
    return 0;
}

static int setup_psk(struct ne_coap *c, const struct ne_coap_opts *o)
{
    if (!coap_dtls_is_supported()) {
        NE_ERROR(MOD, "this libcoap has no DTLS support");
        return NE_EUNSUPPORTED;
    }
    if (o->npsk == 0) {
        NE_ERROR(MOD, "DTLS listener %s needs at least one PSK identity", o->dtls_listen);
        return NE_EINVAL;
    }
    c->psk = ne_calloc(o->npsk, sizeof *c->psk);
    if (!c->psk) return NE_ENOMEM;
    for (size_t i = 0; i < o->npsk; i++) {
        const struct ne_coap_psk_opts *k = &o->psk[i];
        if (!k->identity || !k->identity[0] || !k->key || !k->key[0]) {
            NE_ERROR(MOD, "PSK entry %zu needs an identity and a key", i);
            return NE_EINVAL;
        }
        char *id = ne_strdup(k->identity), *key = ne_strdup(k->key);
        c->npsk++;
        c->psk[i].id = (coap_bin_const_t){strlen(k->identity), (const uint8_t *)id};
        c->psk[i].key = (coap_bin_const_t){strlen(k->key), (const uint8_t *)key};
        if (!id || !key) return NE_ENOMEM;
    }
    coap_dtls_spsk_t sp;
    memset(&sp, 0, sizeof sp);
    sp.version = COAP_DTLS_SPSK_SETUP_VERSION;
    sp.validate_id_call_back = psk_for_identity;
    sp.id_call_back_arg = c;
    if (!coap_context_set_psk2(c->ctx, &sp)) {
        NE_ERROR(MOD, "cannot set up DTLS-PSK");
        return NE_EIO;
    }
    return 0;
}

static int add_paths(struct ne_coap *c, const struct ne_coap_opts *o)
{
    static const struct ne_coap_path_opts def = {.path = "write"};
    size_t n = o->npaths ? o->npaths : 1;
    const struct ne_coap_path_opts *src = o->npaths ? o->paths : &def;
    c->paths = ne_calloc(n, sizeof *c->paths);
    if (!c->paths) return NE_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const struct ne_coap_path_opts *s = &src[i];
        struct cpath *p = &c->paths[i];
        if (!s->path || !s->path[0] || s->path[0] == '/') {
            NE_ERROR(MOD, "path %zu: want a path without a leading '/'", i);
            return NE_EINVAL;
        }
        c->npaths++;
        p->c = c;
        p->format = s->format;
        p->path = ne_strdup(s->path);
        p->database = ne_strdup(s->database && s->database[0] ? s->database : "iot");
        const char *meas = s->measurement && s->measurement[0] ? s->measurement : s->path;
        const char *slash = strrchr(meas, '/');
        p->measurement = ne_strdup(slash && meas == s->path ? slash + 1 : meas);
        if (!p->path || !p->database || !p->measurement) return NE_ENOMEM;
        coap_str_const_t *uri = coap_new_str_const((const uint8_t *)p->path, strlen(p->path));
        coap_resource_t *r = uri ? coap_resource_init(uri, COAP_RESOURCE_FLAGS_RELEASE_URI) : NULL;
        if (!r) return NE_ENOMEM;
        coap_resource_set_userdata(r, p);
        coap_register_handler(r, COAP_REQUEST_POST, on_write);
        coap_register_handler(r, COAP_REQUEST_PUT, on_write);
        coap_add_resource(c->ctx, r);
    }
    return 0;
}

static void *serve(void *arg)
{
    struct ne_coap *c = arg;
    while (!atomic_load(&c->stop)) {
        if (coap_io_process(c->ctx, 100) < 0) {
            NE_ERROR(MOD, "server loop failed");
            atomic_store(&c->dead, true);
            break;
        }
    }
    return NULL;
}

static void free_all(struct ne_coap *c)
{
    if (c->ctx) coap_free_context(c->ctx);
    for (size_t i = 0; i < c->npaths; i++) {
        ne_free(c->paths[i].path);
        ne_free(c->paths[i].database);
        ne_free(c->paths[i].measurement);
    }
    for (size_t i = 0; i < c->npsk; i++) {
        ne_free((void *)c->psk[i].id.s);
        ne_free((void *)c->psk[i].key.s);
    }
    ne_free(c->paths);
    ne_free(c->psk);
    ne_free(c->dedup);
    ne_batch_free(&c->batch);
    ne_free(c);
}

int ne_coap_start(const struct ne_coap_opts *opts, const struct ne_ingest_sink *sink,
                  struct ne_coap **out)
{
    if (!sink || !sink->write) {
        NE_ERROR(MOD, "no sink");
        return NE_EINVAL;
    }
    bool udp = opts->listen && opts->listen[0];
    bool dtls = opts->dtls_listen && opts->dtls_listen[0];
    if (!udp && !dtls) {
        NE_ERROR(MOD, "neither listen nor dtls_listen is set");
        return NE_EINVAL;
    }
    pthread_once(&coap_once, coap_init_once);
    struct ne_coap *c = ne_calloc(1, sizeof *c);
    if (!c) return NE_ENOMEM;
    c->sink = *sink;
    c->max_payload = opts->max_payload_bytes ? opts->max_payload_bytes : DEFAULT_MAX_PAYLOAD;
    c->busy_max_age = opts->busy_max_age_s > 0 ? opts->busy_max_age_s : 1;
    ne_batch_init(&c->batch);
    int rc = NE_ENOMEM;
    c->dedup = ne_calloc(DEDUP_SLOTS, sizeof *c->dedup);
    c->ctx = coap_new_context(NULL);
    if (!c->dedup || !c->ctx) goto fail;
    coap_context_set_block_mode(c->ctx, COAP_BLOCK_USE_LIBCOAP | COAP_BLOCK_SINGLE_BODY);
    if ((rc = add_paths(c, opts)) != 0) goto fail;
    if (dtls && (rc = setup_psk(c, opts)) != 0) goto fail;
    if (udp && (rc = add_endpoint(c, opts->listen, COAP_PROTO_UDP)) != 0) goto fail;
    if (dtls && (rc = add_endpoint(c, opts->dtls_listen, COAP_PROTO_DTLS)) != 0) goto fail;
    if (pthread_create(&c->thr, NULL, serve, c) != 0) {
        rc = NE_ENOMEM;
        goto fail;
    }
    c->thr_started = true;
    NE_INFO(MOD, "listening on %s%s%s%s", udp ? opts->listen : "", udp && dtls ? " and " : "",
            dtls ? "dtls " : "", dtls ? opts->dtls_listen : "");
    *out = c;
    return 0;
fail:
    free_all(c);
    return rc;
}

void ne_coap_stop(struct ne_coap **cp)
{
    if (!cp || !*cp) return;
    struct ne_coap *c = *cp;
    atomic_store(&c->stop, true);
    if (c->thr_started) pthread_join(c->thr, NULL);
    free_all(c);
    *cp = NULL;
}

int ne_coap_health(struct ne_coap *c, char *why, size_t n)
{
    if (why && n) why[0] = '\0';
    if (atomic_load(&c->dead)) {
        if (why && n) snprintf(why, n, "coap: server loop stopped");
        return 2;
    }
    int64_t t = atomic_load(&c->last_refusal_ns);
    if (t && ne_time_mono_ns() - t < 10LL * 1000000000LL) {
        if (why && n)
            snprintf(why, n, "coap: the store refused requests in the last 10 s (5.03/5.00)");
        return 1;
    }
    return 0;
}

void ne_coap_stats(struct ne_coap *c, struct ne_coap_stats *out)
{
    out->requests = atomic_load(&c->n_req);
    out->stored = atomic_load(&c->n_stored);
    out->points = atomic_load(&c->n_points);
    out->bad = atomic_load(&c->n_bad);
    out->busy = atomic_load(&c->n_busy);
    out->failed = atomic_load(&c->n_failed);
}

/* ---- the request path without sockets (fuzzing) ---------------------------- */

/* One reply cycle: the handling of on_write for a parsed request. */
static void probe_request(struct cpath *p, const coap_address_t *peer, const coap_pdu_t *req,
                          coap_pdu_t *resp, uint8_t *code)
{
    struct ne_coap *c = p->c;
    bool con = coap_pdu_get_type(req) == COAP_MESSAGE_CON;
    uint16_t mid = (uint16_t)coap_pdu_get_mid(req);
    uint32_t fp = con ? request_fp(req) : 0;
    struct reply r;
    memset(&r, 0, sizeof r);
    if (!(con && dedup_find(c, peer, mid, fp, &r))) {
        size_t len = 0, off = 0, total = 0;
        const uint8_t *data = NULL;
        if (!coap_get_data_large(req, &len, &data, &off, &total)) {
            len = 0;
            data = (const uint8_t *)"";
        }
        handle_body(p, req, data, len, &r);
        if (con) dedup_put(c, peer, mid, fp, &r);
    }
    send_reply(resp, &r);
    *code = r.code;
}

int ne_coap__handle_datagram(const uint8_t *data, size_t len, const struct ne_ingest_sink *sink,
                             uint64_t max_payload, struct ne_coap_probe *out)
{
    static struct ne_coap c;
    static struct cpath path = {
        .path = "write", .database = "fuzz", .measurement = "write", .format = NE_PAYLOAD_AUTO};
    memset(out, 0, sizeof *out);
    pthread_once(&coap_once, coap_init_once);
    if (!c.dedup) {
        c.dedup = ne_calloc(DEDUP_SLOTS, sizeof *c.dedup);
        if (!c.dedup) return NE_ENOMEM;
        ne_batch_init(&c.batch);
        path.c = &c;
        c.busy_max_age = 1;
    }
    c.sink = *sink;
    c.max_payload = max_payload;
    coap_pdu_t *req = coap_pdu_init(0, 0, 0, len + 16);
    if (!req) return NE_ENOMEM;
    coap_address_t peer;
    coap_address_init(&peer);
    peer.addr.sin.sin_family = AF_INET;
    peer.addr.sin.sin_port = htons(40000);
    peer.size = sizeof peer.addr.sin;
    if (coap_pdu_parse(COAP_PROTO_UDP, data, len, req)) {
        out->parsed = 1;
        if (coap_pdu_get_code(req) == COAP_REQUEST_CODE_POST) {
            out->handled = 1;
            for (int round = 0; round < 2; round++) {
                coap_pdu_t *resp = coap_pdu_init(COAP_MESSAGE_ACK, 0, coap_pdu_get_mid(req), 1152);
                if (!resp) break;
                uint8_t code = 0;
                probe_request(&path, &peer, req, resp, &code);
                if (round == 0)
                    out->code = code;
                else
                    out->retransmit_code = code;
                coap_delete_pdu(resp);
            }
        }
    }
    coap_delete_pdu(req);
    return 0;
}
