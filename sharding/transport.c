/*
 * transport.c - TLS-PSK peer connections: handshake, HELLO, framed calls,
 * connection pool, server threads, partition hook.
 *
 * Connection life: TCP connect (bounded by connect_timeout) -> TLS 1.2
 * handshake with the cluster PSK -> HELLO / HELLO_ACK (or REFUSE) -> any
 * number of request/reply pairs, one at a time -> pooled while idle.
 * Frames are defined in frame.c. Every socket read waits in poll() with
 * the timeout of the current phase (handshake, request, idle), so no peer
 * can hold a thread forever; ne_transport_stop shuts the sockets down to
 * wake the threads.
 *
 * Invariants: a pooled connection has completed HELLO and has no request
 * in flight; a connection that failed in any way is closed, never pooled.
 */
#include "sharding/transport.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/ssl.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/metrics.h"
#include "ports/platform.h"
#include "sharding/cluster.h"
#include "sharding/net.h"

#define PSK_IDENTITY   "neoedge-cluster"
#define MAX_DROPS      16
#define ACCEPT_POLL_MS 50

static const int suites[] = {
    MBEDTLS_TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256,
    MBEDTLS_TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256,
    MBEDTLS_TLS_PSK_WITH_AES_128_GCM_SHA256,
    0,
};

/* Fast curves first: the default list starts with secp521r1. */
static const mbedtls_ecp_group_id curves[] = {
    MBEDTLS_ECP_DP_CURVE25519,
    MBEDTLS_ECP_DP_SECP256R1,
    MBEDTLS_ECP_DP_NONE,
};

struct conn {
    int fd;
    int timeout_ms; /* for the next read: set per phase */
    mbedtls_ssl_context ssl;
    char addr[NE_ADDR_MAX + 1];
    char peer_id[64];
    struct ne_pbuf rx, scratch, tx;
    struct conn *next; /* pool link */
};

struct peer {
    char addr[NE_ADDR_MAX + 1];
    struct conn *idle;
    uint32_t nidle;
    struct peer *next;
};

struct server_conn {
    pthread_t thread;
    atomic_bool done;
    struct conn c;
    struct ne_transport *t;
    struct server_conn *next;
};

struct ne_transport {
    struct ne_transport_opts o;
    uint8_t key[64];
    char node_id[64];
    char addr[NE_ADDR_MAX + 1];
    int lfd;
    pthread_t accept_thread;
    atomic_bool stopping;
    mbedtls_entropy_context entropy;
    mbedtls_ctr_drbg_context drbg;
    mbedtls_ssl_config cli, srv;
    pthread_mutex_t mu; /* peers, drops, server conns */
    struct peer *peers;
    struct server_conn *sconns;
    char drops[MAX_DROPS][64];
    _Atomic uint64_t dialed, accepted, hs_failed, refused, frames_out, raw_out, wire_out;
    struct ne_metric *m_hs_failed, *m_refused; /* process-wide, shared by transports */
};

/* ---- socket I/O under mbedTLS ---------------------------------------------- */

static int wait_fd(int fd, short ev, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = ev};
    for (;;) {
        int r = poll(&p, 1, timeout_ms > 0 ? timeout_ms : -1);
        if (r > 0) return 0;
        if (r == 0) return NE_ETIMEOUT;
        if (errno != EINTR) return NE_EIO;
    }
}

static int bio_send(void *ctx, const unsigned char *buf, size_t len)
{
    struct conn *c = ctx;
    for (;;) {
        ssize_t w = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w >= 0) return (int)w;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return MBEDTLS_ERR_NET_SEND_FAILED;
        if (wait_fd(c->fd, POLLOUT, c->timeout_ms) != 0) return MBEDTLS_ERR_NET_SEND_FAILED;
    }
}

/* mbedTLS passes its own configured timeout (0 here); the phase timeout
 * kept in the connection is the one that applies. */
static int bio_recv(void *ctx, unsigned char *buf, size_t len, uint32_t unused_timeout)
{
    struct conn *c = ctx;
    for (;;) {
        ssize_t r = recv(c->fd, buf, len, MSG_DONTWAIT);
        if (r >= 0) return (int)r;
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) return MBEDTLS_ERR_NET_RECV_FAILED;
        int rc = wait_fd(c->fd, POLLIN, c->timeout_ms);
        if (rc == NE_ETIMEOUT) return MBEDTLS_ERR_SSL_TIMEOUT;
        if (rc) return MBEDTLS_ERR_NET_RECV_FAILED;
    }
}

static int map_ssl_err(int r)
{
    switch (r) {
    case MBEDTLS_ERR_SSL_TIMEOUT:
        return NE_ETIMEOUT;
    case MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY:
    case MBEDTLS_ERR_NET_CONN_RESET:
        return NE_ECLOSED;
    case MBEDTLS_ERR_SSL_ALLOC_FAILED:
        return NE_ENOMEM;
    default:
        return NE_EIO;
    }
}

static int ssl_write_all(struct conn *c, const uint8_t *p, size_t n)
{
    while (n) {
        int w = mbedtls_ssl_write(&c->ssl, p, n);
        if (w == MBEDTLS_ERR_SSL_WANT_READ || w == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
        if (w < 0) return map_ssl_err(w);
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int ssl_read_exact(struct conn *c, uint8_t *p, size_t n)
{
    while (n) {
        int r = mbedtls_ssl_read(&c->ssl, p, n);
        if (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE) continue;
        if (r == 0) return NE_ECLOSED;
        if (r < 0) return map_ssl_err(r);
        p += r;
        n -= (size_t)r;
    }
    return 0;
}

/* ---- frames over a connection ----------------------------------------------- */

static int send_frame(struct ne_transport *t, struct conn *c, uint8_t type, const void *msg,
                      size_t n)
{
    c->tx.len = 0;
    int rc = ne_frame_encode(&c->tx, type, msg, n, t->o.compress_min);
    if (rc) return rc;
    c->timeout_ms = (int)t->o.io_timeout_ms;
    rc = ssl_write_all(c, c->tx.p, c->tx.len);
    if (rc == 0) {
        atomic_fetch_add(&t->frames_out, 1);
        atomic_fetch_add(&t->raw_out, n);
        atomic_fetch_add(&t->wire_out, c->tx.len);
    }
    return rc;
}

/* Reads one frame; first_timeout bounds the wait for its first byte (idle
 * connections wait longer), the rest must follow within io_timeout. */
static int recv_frame(struct ne_transport *t, struct conn *c, int first_timeout, uint8_t *type,
                      const uint8_t **msg, size_t *n)
{
    uint8_t hdr[NE_FRAME_HDR];
    c->timeout_ms = first_timeout;
    int rc = ssl_read_exact(c, hdr, 1);
    c->timeout_ms = (int)t->o.io_timeout_ms;
    if (rc == 0) rc = ssl_read_exact(c, hdr + 1, NE_FRAME_HDR - 1);
    struct ne_frame_hdr h;
    if (rc == 0) rc = ne_frame_parse_hdr(hdr, &h);
    if (rc == 0) {
        c->rx.len = 0;
        rc = ne_pbuf_reserve(&c->rx, h.len ? h.len : 1);
    }
    if (rc == 0) rc = ssl_read_exact(c, c->rx.p, h.len);
    if (rc == 0) rc = ne_frame_open(&h, hdr, c->rx.p, &c->scratch, msg, n);
    if (rc == 0) *type = h.type;
    return rc;
}

/* ---- connection set-up and teardown ----------------------------------------- */

static void conn_close(struct conn *c, bool notify)
{
    if (c->fd >= 0) {
        if (notify) {
            c->timeout_ms = 100;
            (void)mbedtls_ssl_close_notify(&c->ssl);
        }
        close(c->fd);
        c->fd = -1;
    }
    mbedtls_ssl_free(&c->ssl);
    ne_pbuf_free(&c->rx);
    ne_pbuf_free(&c->scratch);
    ne_pbuf_free(&c->tx);
}

static void hs_failed(struct ne_transport *t, const struct conn *c, int r, const char *side)
{
    char err[128];
    mbedtls_strerror(r, err, sizeof err);
    ne_log(NE_LOG_ERROR, "sharding", "peer TLS handshake failed (wrong cluster key?)", "peer",
           c->addr, "side", side, "err", err, NULL);
    atomic_fetch_add(&t->hs_failed, 1);
    ne_metric_inc(t->m_hs_failed);
}

static int tls_handshake(struct ne_transport *t, struct conn *c, mbedtls_ssl_config *conf,
                         const char *side)
{
    mbedtls_ssl_init(&c->ssl);
    int r = mbedtls_ssl_setup(&c->ssl, conf);
    if (r) return NE_ENOMEM;
    mbedtls_ssl_set_bio(&c->ssl, c, bio_send, NULL, bio_recv);
    c->timeout_ms = (int)t->o.connect_timeout_ms;
    do
        r = mbedtls_ssl_handshake(&c->ssl);
    while (r == MBEDTLS_ERR_SSL_WANT_READ || r == MBEDTLS_ERR_SSL_WANT_WRITE);
    if (r == 0) return 0;
    if (r == MBEDTLS_ERR_SSL_TIMEOUT) {
        ne_log(NE_LOG_WARN, "sharding", "peer TLS handshake timed out", "peer", c->addr, NULL);
        return NE_ETIMEOUT;
    }
    hs_failed(t, c, r, side);
    return NE_EPERM;
}

/* Requests and replies are small and latency-bound: no Nagle delay. */
static void no_delay(int fd)
{
    int one = 1;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int tcp_connect(struct ne_transport *t, const char *addr, int *out)
{
    struct sockaddr_in sa;
    if (sharding__addr_parse(addr, &sa) != 0) return NE_EINVAL;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return ne_err_from_errno(errno);
    int rc = 0;
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno != EINPROGRESS) {
            rc = NE_ECLOSED;
        } else if ((rc = wait_fd(fd, POLLOUT, (int)t->o.connect_timeout_ms)) == 0) {
            int err = 0;
            socklen_t el = sizeof err;
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el);
            rc = err ? NE_ECLOSED : 0;
        }
    }
    if (rc) {
        close(fd);
        return rc;
    }
    no_delay(fd);
    *out = fd;
    return 0;
}

static struct ne_hello my_hello(const struct ne_transport *t, uint8_t lo, uint8_t hi)
{
    struct ne_hello h = {.incarnation = t->o.incarnation, .proto_min = lo, .proto_max = hi};
    memcpy(h.node_id, t->node_id, sizeof h.node_id);
    return h;
}

/* Client side of HELLO: checks the version chosen and the peer's id. */
static int client_hello(struct ne_transport *t, struct conn *c, const char *peer_id)
{
    struct ne_pbuf hb = {0};
    struct ne_hello h = my_hello(t, t->o.proto_min, t->o.proto_max);
    int rc = ne_hello_encode(&h, &hb);
    if (rc == 0) rc = send_frame(t, c, NE_FT_HELLO, hb.p, hb.len);
    ne_pbuf_free(&hb);
    uint8_t type;
    const uint8_t *msg;
    size_t n;
    if (rc == 0) rc = recv_frame(t, c, (int)t->o.connect_timeout_ms, &type, &msg, &n);
    if (rc) return rc;
    if (type == NE_FT_REFUSE) {
        char why[128];
        snprintf(why, sizeof why, "%.*s", (int)(n < 127 ? n : 127), (const char *)msg);
        ne_log(NE_LOG_ERROR, "sharding", "peer refused our protocol version", "peer", c->addr,
               "reason", why, NULL);
        return NE_EVERSION;
    }
    struct ne_hello ack;
    if (type != NE_FT_HELLO_ACK || ne_hello_decode(msg, n, &ack) != 0) return NE_ECORRUPT;
    if (ack.proto_max < t->o.proto_min || ack.proto_max > t->o.proto_max) return NE_EVERSION;
    if (peer_id && strcmp(peer_id, ack.node_id) != 0) {
        ne_log(NE_LOG_ERROR, "sharding", "unexpected node at peer address", "peer", c->addr,
               "expected", peer_id, "got", ack.node_id, NULL);
        return NE_ECONFLICT;
    }
    memcpy(c->peer_id, ack.node_id, sizeof c->peer_id);
    return 0;
}

static int dial(struct ne_transport *t, const char *addr, const char *peer_id, struct conn **out)
{
    struct conn *c = ne_calloc(1, sizeof *c);
    if (!c) return NE_ENOMEM;
    snprintf(c->addr, sizeof c->addr, "%s", addr);
    c->fd = -1;
    int rc = tcp_connect(t, addr, &c->fd);
    if (rc == 0) rc = tls_handshake(t, c, &t->cli, "client");
    if (rc == 0) rc = client_hello(t, c, peer_id);
    if (rc) {
        conn_close(c, false);
        ne_free(c);
        return rc;
    }
    atomic_fetch_add(&t->dialed, 1);
    *out = c;
    return 0;
}

/* ---- drops and pool ---------------------------------------------------------- */

static bool is_dropped(struct ne_transport *t, const char *peer_id)
{
    if (!peer_id || !*peer_id) return false;
    bool d = false;
    pthread_mutex_lock(&t->mu);
    for (int i = 0; i < MAX_DROPS && !d; i++)
        d = t->drops[i][0] && strcmp(t->drops[i], peer_id) == 0;
    pthread_mutex_unlock(&t->mu);
    return d;
}

int ne_transport_set_drop(struct ne_transport *t, const char *peer_id, bool drop)
{
    int rc = drop ? NE_ELIMIT : 0;
    pthread_mutex_lock(&t->mu);
    for (int i = 0; i < MAX_DROPS; i++) {
        if (!drop && strcmp(t->drops[i], peer_id) == 0)
            t->drops[i][0] = 0;
        else if (drop && rc && (!t->drops[i][0] || strcmp(t->drops[i], peer_id) == 0)) {
            snprintf(t->drops[i], sizeof t->drops[i], "%s", peer_id);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&t->mu);
    return rc;
}

/* Caller holds mu. */
static struct peer *peer_get(struct ne_transport *t, const char *addr, bool create)
{
    for (struct peer *p = t->peers; p; p = p->next)
        if (strcmp(p->addr, addr) == 0) return p;
    if (!create) return NULL;
    struct peer *p = ne_calloc(1, sizeof *p);
    if (!p) return NULL;
    snprintf(p->addr, sizeof p->addr, "%s", addr);
    p->next = t->peers;
    t->peers = p;
    return p;
}

static struct conn *pool_take(struct ne_transport *t, const char *addr)
{
    pthread_mutex_lock(&t->mu);
    struct peer *p = peer_get(t, addr, false);
    struct conn *c = p ? p->idle : NULL;
    if (c) {
        p->idle = c->next;
        p->nidle--;
        c->next = NULL;
    }
    pthread_mutex_unlock(&t->mu);
    return c;
}

static void pool_put(struct ne_transport *t, struct conn *c)
{
    pthread_mutex_lock(&t->mu);
    struct peer *p = atomic_load(&t->stopping) ? NULL : peer_get(t, c->addr, true);
    if (p && p->nidle < t->o.pool_per_peer) {
        c->next = p->idle;
        p->idle = c;
        p->nidle++;
        c = NULL;
    }
    pthread_mutex_unlock(&t->mu);
    if (c) {
        conn_close(c, true);
        ne_free(c);
    }
}

void ne_transport_forget(struct ne_transport *t, const char *addr)
{
    struct conn *c;
    while ((c = pool_take(t, addr)) != NULL) {
        conn_close(c, true);
        ne_free(c);
    }
}

/* ---- client calls ------------------------------------------------------------- */

static int reply_error(const uint8_t *msg, size_t n)
{
    if (n < 4) return NE_EIO;
    int32_t code = (int32_t)ne_get_u32(msg);
    return code < 0 && code > NE__ERR_FIRST - 100 ? code : NE_EIO;
}

static int roundtrip(struct ne_transport *t, struct conn *c, uint8_t type, const void *msg,
                     size_t n, struct ne_pbuf *reply, uint8_t *reply_type)
{
    int rc = send_frame(t, c, type, msg, n);
    uint8_t rt;
    const uint8_t *rm;
    size_t rn;
    if (rc == 0) rc = recv_frame(t, c, (int)t->o.io_timeout_ms, &rt, &rm, &rn);
    if (rc) return rc;
    if (rt == NE_FT_ERROR) return reply_error(rm, rn); /* the connection stays usable */
    reply->len = 0;
    if (ne_pbuf_reserve(reply, rn ? rn : 1) != 0) return NE_ENOMEM;
    memcpy(reply->p, rm, rn);
    reply->len = rn;
    *reply_type = rt;
    return 0;
}

/* Errors after which the connection is still in a clean state. */
static bool conn_reusable(int rc)
{
    return rc == 0 ||
           (rc != NE_ETIMEOUT && rc != NE_ECLOSED && rc != NE_EIO && rc != NE_ECHECKSUM &&
            rc != NE_ECORRUPT && rc != NE_EVERSION && rc != NE_ETOOBIG && rc != NE_ENOMEM);
}

int ne_transport_call(struct ne_transport *t, const char *peer_id, const char *addr, uint8_t type,
                      const void *msg, size_t n, struct ne_pbuf *reply, uint8_t *reply_type)
{
    if (n > NE_FRAME_MAX) return NE_ETOOBIG;
    if (is_dropped(t, peer_id)) return NE_ETIMEOUT;
    struct conn *c = pool_take(t, addr);
    bool reused = c != NULL;
    int rc = 0;
    if (!c && (rc = dial(t, addr, peer_id, &c)) != 0) return rc;
    if (peer_id && strcmp(peer_id, c->peer_id) != 0) {
        pool_put(t, c);
        ne_log(NE_LOG_ERROR, "sharding", "unexpected node at peer address", "peer", addr,
               "expected", peer_id, "got", c->peer_id, NULL);
        return NE_ECONFLICT;
    }
    if (is_dropped(t, c->peer_id)) {
        pool_put(t, c);
        return NE_ETIMEOUT;
    }
    rc = roundtrip(t, c, type, msg, n, reply, reply_type);
    if (rc && reused && (rc == NE_ECLOSED || rc == NE_EIO)) {
        /* a pooled connection the peer closed meanwhile: one fresh try */
        conn_close(c, false);
        ne_free(c);
        if ((rc = dial(t, addr, peer_id, &c)) != 0) return rc;
        rc = roundtrip(t, c, type, msg, n, reply, reply_type);
    }
    if (conn_reusable(rc)) {
        pool_put(t, c);
    } else {
        conn_close(c, false);
        ne_free(c);
    }
    return rc;
}

int ne_transport_ping(struct ne_transport *t, const char *peer_id, const char *addr)
{
    static const char probe[] = "ping";
    struct ne_pbuf r = {0};
    uint8_t rt = 0;
    int rc = ne_transport_call(t, peer_id, addr, NE_FT_PING, probe, sizeof probe - 1, &r, &rt);
    if (rc == 0 && (rt != NE_FT_PONG || r.len != sizeof probe - 1 || memcmp(r.p, probe, r.len)))
        rc = NE_ECORRUPT;
    ne_pbuf_free(&r);
    return rc;
}

/* ---- server --------------------------------------------------------------------- */

static int server_hello(struct ne_transport *t, struct conn *c)
{
    uint8_t type;
    const uint8_t *msg;
    size_t n;
    int rc = recv_frame(t, c, (int)t->o.connect_timeout_ms, &type, &msg, &n);
    if (rc) return rc;
    struct ne_hello h;
    if (type != NE_FT_HELLO || ne_hello_decode(msg, n, &h) != 0) return NE_ECORRUPT;
    uint8_t v = ne_proto_negotiate(h.proto_min, h.proto_max, t->o.proto_min, t->o.proto_max);
    if (v == 0) {
        char why[96];
        snprintf(why, sizeof why, "protocol %u..%u not supported, this node speaks %u..%u",
                 h.proto_min, h.proto_max, t->o.proto_min, t->o.proto_max);
        atomic_fetch_add(&t->refused, 1);
        ne_metric_inc(t->m_refused);
        ne_log(NE_LOG_WARN, "sharding", "peer refused", "peer", c->addr, "node", h.node_id, "why",
               why, NULL);
        (void)send_frame(t, c, NE_FT_REFUSE, why, strlen(why));
        return NE_EVERSION;
    }
    memcpy(c->peer_id, h.node_id, sizeof c->peer_id);
    struct ne_pbuf ab = {0};
    struct ne_hello ack = my_hello(t, v, v);
    rc = ne_hello_encode(&ack, &ab);
    if (rc == 0) rc = send_frame(t, c, NE_FT_HELLO_ACK, ab.p, ab.len);
    ne_pbuf_free(&ab);
    return rc;
}

static int serve_one(struct ne_transport *t, struct conn *c, struct ne_pbuf *reply)
{
    uint8_t type, rtype = 0;
    const uint8_t *msg;
    size_t n;
    int rc = recv_frame(t, c, (int)t->o.idle_timeout_ms, &type, &msg, &n);
    if (rc) return rc;
    if (is_dropped(t, c->peer_id)) return NE_ECLOSED;
    reply->len = 0;
    if (type == NE_FT_PING) {
        rtype = NE_FT_PONG;
        rc = ne_pbuf_reserve(reply, n ? n : 1);
        if (rc == 0 && n) memcpy(reply->p, msg, n);
        reply->len = rc == 0 ? n : 0;
    } else {
        rc = t->o.handler ? t->o.handler(t->o.ctx, c->peer_id, type, msg, n, reply, &rtype)
                          : NE_EUNSUPPORTED;
    }
    if (rc) {
        uint8_t e[4];
        ne_put_u32(e, (uint32_t)rc);
        return send_frame(t, c, NE_FT_ERROR, e, sizeof e);
    }
    return send_frame(t, c, rtype, reply->p, reply->len);
}

static void *serve_conn(void *arg)
{
    struct server_conn *sc = arg;
    struct ne_transport *t = sc->t;
    struct conn *c = &sc->c;
    int rc = tls_handshake(t, c, &t->srv, "server");
    if (rc == 0) rc = server_hello(t, c);
    if (rc == 0) {
        atomic_fetch_add(&t->accepted, 1);
        struct ne_pbuf reply = {0};
        while (!atomic_load(&t->stopping) && serve_one(t, c, &reply) == 0) {
        }
        ne_pbuf_free(&reply);
    }
    if (rc == 0) {
        c->timeout_ms = 100;
        (void)mbedtls_ssl_close_notify(&c->ssl);
    }
    /* reap() may shut this fd down concurrently: close it under the lock */
    pthread_mutex_lock(&t->mu);
    close(c->fd);
    c->fd = -1;
    pthread_mutex_unlock(&t->mu);
    conn_close(c, false);
    atomic_store(&sc->done, true);
    return NULL;
}

/* Joins finished connection threads; with all, shuts the rest down first. */
static void reap(struct ne_transport *t, bool all)
{
    pthread_mutex_lock(&t->mu);
    struct server_conn **pp = &t->sconns, *dead = NULL;
    while (*pp) {
        struct server_conn *sc = *pp;
        if (all && !atomic_load(&sc->done) && sc->c.fd >= 0) shutdown(sc->c.fd, SHUT_RDWR);
        if (all || atomic_load(&sc->done)) {
            *pp = sc->next;
            sc->next = dead;
            dead = sc;
        } else {
            pp = &sc->next;
        }
    }
    pthread_mutex_unlock(&t->mu);
    while (dead) {
        struct server_conn *sc = dead;
        dead = sc->next;
        pthread_join(sc->thread, NULL);
        ne_free(sc);
    }
}

static void accept_one(struct ne_transport *t)
{
    struct sockaddr_in from;
    socklen_t fl = sizeof from;
    int fd = accept4(t->lfd, (struct sockaddr *)&from, &fl, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd < 0) return;
    struct server_conn *sc = ne_calloc(1, sizeof *sc);
    if (!sc) {
        close(fd);
        return;
    }
    no_delay(fd);
    sc->t = t;
    sc->c.fd = fd;
    sharding__addr_format(&from, sc->c.addr, sizeof sc->c.addr);
    pthread_mutex_lock(&t->mu);
    if (pthread_create(&sc->thread, NULL, serve_conn, sc) != 0) {
        pthread_mutex_unlock(&t->mu);
        close(fd);
        ne_free(sc);
        return;
    }
    sc->next = t->sconns;
    t->sconns = sc;
    pthread_mutex_unlock(&t->mu);
}

static void *accept_loop(void *arg)
{
    struct ne_transport *t = arg;
    while (!atomic_load(&t->stopping)) {
        if (wait_fd(t->lfd, POLLIN, ACCEPT_POLL_MS) == 0) accept_one(t);
        reap(t, false);
    }
    return NULL;
}

/* ---- lifecycle ------------------------------------------------------------------ */

static int tls_conf(struct ne_transport *t, mbedtls_ssl_config *conf, int endpoint)
{
    mbedtls_ssl_config_init(conf);
    if (mbedtls_ssl_config_defaults(conf, endpoint, MBEDTLS_SSL_TRANSPORT_STREAM,
                                    MBEDTLS_SSL_PRESET_DEFAULT) != 0)
        return NE_EIO;
    mbedtls_ssl_conf_rng(conf, mbedtls_ctr_drbg_random, &t->drbg);
    mbedtls_ssl_conf_authmode(conf, MBEDTLS_SSL_VERIFY_NONE); /* the PSK authenticates */
    mbedtls_ssl_conf_ciphersuites(conf, suites);
    mbedtls_ssl_conf_curves(conf, curves);
    mbedtls_ssl_conf_min_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    mbedtls_ssl_conf_max_version(conf, MBEDTLS_SSL_MAJOR_VERSION_3, MBEDTLS_SSL_MINOR_VERSION_3);
    if (mbedtls_ssl_conf_psk(conf, t->key, t->o.key_len, (const unsigned char *)PSK_IDENTITY,
                             sizeof PSK_IDENTITY - 1) != 0)
        return NE_EIO;
    return 0;
}

static int tls_init(struct ne_transport *t)
{
    mbedtls_entropy_init(&t->entropy);
    mbedtls_ctr_drbg_init(&t->drbg);
    mbedtls_ssl_config_init(&t->cli);
    mbedtls_ssl_config_init(&t->srv);
    static const char pers[] = "neoedge-peer";
    if (mbedtls_ctr_drbg_seed(&t->drbg, mbedtls_entropy_func, &t->entropy,
                              (const unsigned char *)pers, sizeof pers - 1) != 0)
        return NE_EIO;
    int rc = tls_conf(t, &t->cli, MBEDTLS_SSL_IS_CLIENT);
    if (rc == 0) rc = tls_conf(t, &t->srv, MBEDTLS_SSL_IS_SERVER);
    return rc;
}

static void set_defaults(struct ne_transport_opts *o)
{
    if (!o->connect_timeout_ms) o->connect_timeout_ms = 2000;
    if (!o->io_timeout_ms) o->io_timeout_ms = 5000;
    if (!o->idle_timeout_ms) o->idle_timeout_ms = 60000;
    if (!o->pool_per_peer) o->pool_per_peer = 4;
    if (!o->compress_min) o->compress_min = 4096;
    if (!o->proto_min) o->proto_min = NE_PROTO_MIN;
    if (!o->proto_max) o->proto_max = NE_PROTO_MAX;
}

static void free_transport(struct ne_transport *t)
{
    mbedtls_ssl_config_free(&t->cli);
    mbedtls_ssl_config_free(&t->srv);
    mbedtls_ctr_drbg_free(&t->drbg);
    mbedtls_entropy_free(&t->entropy);
    pthread_mutex_destroy(&t->mu);
    memset(t->key, 0, sizeof t->key);
    ne_free(t);
}

int ne_transport_start(const struct ne_transport_opts *o, struct ne_transport **out)
{
    if (!o->node_id || !*o->node_id || strlen(o->node_id) > 63 || !o->key || o->key_len < 16 ||
        o->key_len > 64)
        return NE_EINVAL;
    struct ne_transport *t = ne_calloc(1, sizeof *t);
    if (!t) return NE_ENOMEM;
    t->o = *o;
    set_defaults(&t->o);
    memcpy(t->key, o->key, o->key_len);
    snprintf(t->node_id, sizeof t->node_id, "%s", o->node_id);
    t->o.node_id = t->node_id;
    t->o.key = t->key;
    t->o.listen = NULL;
    t->lfd = -1;
    pthread_mutex_init(&t->mu, NULL);
    t->m_hs_failed = ne_metric_counter("neoedge_peer_handshake_failures_total",
                                       "Peer TLS handshakes that failed (wrong cluster key)", NULL);
    t->m_refused = ne_metric_counter("neoedge_peer_refused_total",
                                     "Peer connections refused for the protocol version", NULL);
    int rc = tls_init(t);
    if (rc == 0 && o->listen) {
        struct sockaddr_in bound;
        t->lfd = sharding__bind(o->listen, SOCK_STREAM, &bound);
        rc = t->lfd < 0 ? t->lfd : 0;
        if (rc == 0) {
            sharding__addr_format(&bound, t->addr, sizeof t->addr);
            if (pthread_create(&t->accept_thread, NULL, accept_loop, t) != 0) {
                close(t->lfd);
                rc = NE_ENOMEM;
            }
        }
    }
    if (rc) {
        free_transport(t);
        return rc;
    }
    *out = t;
    return 0;
}

void ne_transport_stop(struct ne_transport **pt)
{
    if (!pt || !*pt) return;
    struct ne_transport *t = *pt;
    atomic_store(&t->stopping, true);
    if (t->lfd >= 0) {
        pthread_join(t->accept_thread, NULL);
        close(t->lfd);
    }
    reap(t, true);
    while (t->peers) {
        struct peer *p = t->peers;
        t->peers = p->next;
        while (p->idle) {
            struct conn *c = p->idle;
            p->idle = c->next;
            conn_close(c, true);
            ne_free(c);
        }
        ne_free(p);
    }
    free_transport(t);
    *pt = NULL;
}

const char *ne_transport_addr(const struct ne_transport *t)
{
    return t->addr;
}

void ne_transport_stats(const struct ne_transport *t, struct ne_transport_stats *out)
{
    out->dialed = atomic_load(&t->dialed);
    out->accepted = atomic_load(&t->accepted);
    out->handshake_failed = atomic_load(&t->hs_failed);
    out->refused = atomic_load(&t->refused);
    out->frames_out = atomic_load(&t->frames_out);
    out->raw_bytes_out = atomic_load(&t->raw_out);
    out->wire_bytes_out = atomic_load(&t->wire_out);
}
