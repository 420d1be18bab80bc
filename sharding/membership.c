/*
 * membership.c - the network loop around the SWIM state machine.
 *
 * One thread: poll the UDP socket with a short timeout, hand datagrams to
 * ne_swim_receive, and tick the state machine with the monotonic clock in
 * milliseconds. The swim is guarded by a mutex so queries from other
 * threads see a consistent view.
 *
 * Datagram on the wire: the SWIM message (format in swim.c) followed by a
 * 16-byte tag, the first half of HMAC-SHA256(cluster key, message):
 *
 *   +------------------------------+----------------------------+
 *   | SWIM message (<= 4096 bytes) | HMAC-SHA256[0..16) of it   |
 *   +------------------------------+----------------------------+
 *
 * A datagram whose tag does not verify (another cluster, a node without
 * the key, a forgery) is dropped and counted before it is even decoded.
 * The tag does not stop a replay of a captured datagram; SWIM tolerates
 * duplicates, and incarnations only move forward.
 */
#include "sharding/membership.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <mbedtls/md.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/metrics.h"
#include "ports/platform.h"
#include "sharding/net.h"
#include "sharding/ring.h"

#define MAX_DROPS 16
#define POLL_MS   5
#define TAG_LEN   16

struct ne_membership {
    int fd;
    char addr[NE_ADDR_MAX + 1];
    pthread_mutex_t mu;
    pthread_t thread;
    atomic_bool stop;
    struct ne_swim *swim;
    ne_swim_change_fn user_fn; /* the caller's change callback and its ctx */
    void *user_ctx;
    char drops[MAX_DROPS][NE_ADDR_MAX + 1];
    uint8_t key[64];
    size_t key_len;
    _Atomic uint64_t rejected; /* datagrams whose tag did not verify */
    struct ne_metric *m_rejected;
    uint8_t rx[NE_SWIM_MAX_MSG + TAG_LEN + 1];
    uint8_t tx[NE_SWIM_MAX_MSG + TAG_LEN];
};

static int64_t now_ms(void)
{
    return ne_time_mono_ns() / 1000000;
}

/* Caller holds mu. */
static bool dropped(const struct ne_membership *m, const char *addr)
{
    for (int i = 0; i < MAX_DROPS; i++)
        if (m->drops[i][0] && strcmp(m->drops[i], addr) == 0) return true;
    return false;
}

static void tag(const struct ne_membership *m, const uint8_t *msg, size_t n, uint8_t *out)
{
    uint8_t full[32];
    mbedtls_md_hmac(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), m->key, m->key_len, msg, n, full);
    memcpy(out, full, TAG_LEN);
}

/* Constant-time check of the trailing tag. */
static bool tag_ok(const struct ne_membership *m, const uint8_t *p, size_t n)
{
    if (n <= TAG_LEN) return false;
    uint8_t want[TAG_LEN];
    tag(m, p, n - TAG_LEN, want);
    uint8_t diff = 0;
    for (int i = 0; i < TAG_LEN; i++)
        diff |= (uint8_t)(want[i] ^ p[n - TAG_LEN + i]);
    return diff == 0;
}

/* Called by the swim with mu held. */
static void udp_send(void *ctx, const char *to, const uint8_t *msg, size_t n)
{
    struct ne_membership *m = ctx;
    struct sockaddr_in sa;
    if (n > NE_SWIM_MAX_MSG || dropped(m, to) || sharding__addr_parse(to, &sa) != 0) return;
    memcpy(m->tx, msg, n);
    tag(m, msg, n, m->tx + n);
    /* Best effort: a lost datagram is what the protocol is built for. */
    (void)sendto(m->fd, m->tx, n + TAG_LEN, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *)&sa,
                 sizeof sa);
}

static void reject(struct ne_membership *m, const char *from)
{
    /* log the first and then every 1000th, so a flood cannot fill the log */
    ne_metric_inc(m->m_rejected);
    if (atomic_fetch_add(&m->rejected, 1) % 1000 == 0)
        ne_log(NE_LOG_WARN, "sharding", "membership datagram failed authentication (wrong key?)",
               "peer", from, NULL);
}

static void drain(struct ne_membership *m)
{
    for (;;) {
        struct sockaddr_in from;
        socklen_t fl = sizeof from;
        ssize_t r =
            recvfrom(m->fd, m->rx, sizeof m->rx, MSG_DONTWAIT, (struct sockaddr *)&from, &fl);
        if (r < 0) return;
        char fa[32];
        sharding__addr_format(&from, fa, sizeof fa);
        if (!tag_ok(m, m->rx, (size_t)r)) {
            reject(m, fa);
            continue;
        }
        pthread_mutex_lock(&m->mu);
        if (!dropped(m, fa)) (void)ne_swim_receive(m->swim, m->rx, (size_t)r - TAG_LEN, now_ms());
        pthread_mutex_unlock(&m->mu);
    }
}

static void *loop(void *arg)
{
    struct ne_membership *m = arg;
    while (!atomic_load(&m->stop)) {
        struct pollfd p = {.fd = m->fd, .events = POLLIN};
        if (poll(&p, 1, POLL_MS) > 0) drain(m);
        pthread_mutex_lock(&m->mu);
        ne_swim_tick(m->swim, now_ms());
        pthread_mutex_unlock(&m->mu);
    }
    return NULL;
}

/* The advertised address: cluster.advertise, else the listen host with the
 * port actually bound. */
static void advertised(const struct ne_cluster_opts *c, const struct sockaddr_in *bound, char *out,
                       size_t n)
{
    if (c->advertise) {
        snprintf(out, n, "%s", c->advertise);
        return;
    }
    char host[NE_ADDR_MAX - 5]; /* room for ":65535" */
    snprintf(host, sizeof host, "%s", c->listen);
    char *colon = strrchr(host, ':');
    if (colon) *colon = 0;
    snprintf(out, n, "%s:%u", host, (unsigned)ntohs(bound->sin_port));
}

static void on_change(void *ctx, const char *id, const char *addr, enum ne_swim_state from,
                      enum ne_swim_state to, uint64_t inc)
{
    struct ne_membership *m = ctx;
    ne_log(to == NE_SWIM_ALIVE || to == NE_SWIM_LEFT || to == NE_SWIM_STOPPED ? NE_LOG_INFO
                                                                              : NE_LOG_WARN,
           "sharding", "member changed", "node", id, "addr", addr, "from", ne_swim_state_name(from),
           "to", ne_swim_state_name(to), NULL);
    m->user_fn(m->user_ctx, id, addr, from, to, inc);
}

static int make_swim(struct ne_membership *m, const struct ne_membership_opts *o)
{
    const struct ne_cluster_opts *c = o->cluster;
    struct ne_swim_opts so = {
        .id = c->node_id,
        .addr = m->addr,
        .incarnation = o->incarnation ? o->incarnation : (uint64_t)(ne_time_wall_ns() / 1000000),
        .probe_interval_ms = c->probe_interval_ms,
        .probe_timeout_ms = c->probe_timeout_ms,
        .suspect_timeout_ms = c->suspect_timeout_ms,
        .remove_after_ms =
            c->remove_after_ms > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)c->remove_after_ms,
        .indirect_k = c->indirect_probes,
        .seed = o->seed
                    ? o->seed
                    : (uint64_t)ne_time_mono_ns() ^ ne_ring_hash(c->node_id, strlen(c->node_id)),
        .send = udp_send,
        .on_change = o->on_change ? on_change : NULL,
        .ctx = m,
    };
    return ne_swim_new(&so, &m->swim);
}

int ne_membership_start(const struct ne_membership_opts *o, struct ne_membership **out)
{
    const struct ne_cluster_opts *c = o->cluster;
    if (!c || !c->node_id || !c->listen || !c->key || c->key_len < 16 || c->key_len > 64)
        return NE_EINVAL;
    struct ne_membership *m = ne_calloc(1, sizeof *m);
    if (!m) return NE_ENOMEM;
    struct sockaddr_in bound;
    m->fd = sharding__bind(c->listen, SOCK_DGRAM, &bound);
    if (m->fd < 0) {
        int rc = m->fd;
        ne_free(m);
        return rc;
    }
    advertised(c, &bound, m->addr, sizeof m->addr);
    memcpy(m->key, c->key, c->key_len);
    m->key_len = c->key_len;
    m->m_rejected = ne_metric_counter("neoedge_membership_rejected_total",
                                      "Membership datagrams dropped: authentication failed", NULL);
    m->user_fn = o->on_change;
    m->user_ctx = o->ctx;
    pthread_mutex_init(&m->mu, NULL);
    int rc = make_swim(m, o);
    if (rc == 0) {
        pthread_mutex_lock(&m->mu);
        rc = ne_swim_join(m->swim, c->seeds, c->nseeds, now_ms());
        pthread_mutex_unlock(&m->mu);
    }
    if (rc == 0 && pthread_create(&m->thread, NULL, loop, m) != 0) rc = NE_ENOMEM;
    if (rc) {
        ne_swim_free(&m->swim);
        close(m->fd);
        pthread_mutex_destroy(&m->mu);
        ne_free(m);
        return rc;
    }
    ne_log(NE_LOG_INFO, "sharding", "membership started", "node", c->node_id, "addr", m->addr,
           NULL);
    *out = m;
    return 0;
}

void ne_membership_stop(struct ne_membership **pm)
{
    if (!pm || !*pm) return;
    struct ne_membership *m = *pm;
    atomic_store(&m->stop, true);
    pthread_join(m->thread, NULL);
    close(m->fd);
    ne_swim_free(&m->swim);
    pthread_mutex_destroy(&m->mu);
    memset(m->key, 0, sizeof m->key);
    ne_free(m);
    *pm = NULL;
}

int ne_membership_leave(struct ne_membership *m)
{
    pthread_mutex_lock(&m->mu);
    int rc = ne_swim_leave(m->swim, now_ms());
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int ne_membership_announce_stop(struct ne_membership *m)
{
    pthread_mutex_lock(&m->mu);
    int rc = ne_swim_stop(m->swim, now_ms());
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int ne_membership_remove(struct ne_membership *m, const char *id, const char *addr, uint64_t inc)
{
    pthread_mutex_lock(&m->mu);
    int rc = ne_swim_remove(m->swim, id, addr, inc, now_ms());
    pthread_mutex_unlock(&m->mu);
    return rc;
}

const char *ne_membership_addr(const struct ne_membership *m)
{
    return m->addr;
}

size_t ne_membership_count(struct ne_membership *m, enum ne_swim_state st)
{
    pthread_mutex_lock(&m->mu);
    size_t n = ne_swim_count(m->swim, st);
    pthread_mutex_unlock(&m->mu);
    return n;
}

size_t ne_membership_snapshot(struct ne_membership *m, struct ne_swim_member_info *out, size_t max)
{
    pthread_mutex_lock(&m->mu);
    size_t n = ne_swim_size(m->swim);
    for (size_t i = 0; i < n && i < max; i++)
        ne_swim_member(m->swim, i, &out[i]);
    pthread_mutex_unlock(&m->mu);
    return n;
}

int ne_membership_find(struct ne_membership *m, const char *id, struct ne_swim_member_info *out)
{
    pthread_mutex_lock(&m->mu);
    int rc = ne_swim_find(m->swim, id, out);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

int ne_membership_set_drop(struct ne_membership *m, const char *addr, bool drop)
{
    int rc = drop ? NE_ELIMIT : 0;
    pthread_mutex_lock(&m->mu);
    for (int i = 0; i < MAX_DROPS; i++) {
        if (!drop && strcmp(m->drops[i], addr) == 0) {
            m->drops[i][0] = 0;
        } else if (drop && (m->drops[i][0] == 0 || strcmp(m->drops[i], addr) == 0) && rc) {
            snprintf(m->drops[i], sizeof m->drops[i], "%s", addr);
            rc = 0;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

uint64_t ne_membership_rejected(const struct ne_membership *m)
{
    return atomic_load(&m->rejected);
}
