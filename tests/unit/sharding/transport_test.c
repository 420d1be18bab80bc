/*
 * transport_test.c - the TLS-PSK peer transport on loopback: calls and
 * replies, compression, connection pooling, concurrent callers, a node
 * with the wrong key refused, incompatible protocol versions refused, an
 * unexpected node id, timeouts, handler errors and the partition hook.
 */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/metrics.h"
#include "ports/platform.h"
#include "sharding/transport.h"
#include "t.h"

#define T_ECHO (NE_FT_APP + 0) /* reply = request reversed */
#define T_SLOW (NE_FT_APP + 1) /* sleeps 400 ms, then replies */
#define T_FAIL (NE_FT_APP + 2) /* handler error NE_ENOSPC */

static const uint8_t key1[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t key2[32] = "0123456789abcdef0123456789abcdeX";

static int handler(void *ctx, const char *peer_id, uint8_t type, const uint8_t *msg, size_t n,
                   struct ne_pbuf *reply, uint8_t *reply_type)
{
    (void)ctx;
    if (type == T_FAIL) return NE_ENOSPC;
    if (type == T_SLOW) ne_time_sleep_ns(400 * 1000000ll);
    if (ne_pbuf_reserve(reply, n + 64) != 0) return NE_ENOMEM;
    int k = snprintf((char *)reply->p, 64, "%s:", peer_id);
    for (size_t i = 0; i < n; i++)
        reply->p[k + i] = msg[n - 1 - i];
    reply->len = (size_t)k + n;
    *reply_type = type;
    return 0;
}

static struct ne_transport *start(const char *id, const uint8_t *key, const char *listen,
                                  uint8_t pmin, uint8_t pmax)
{
    struct ne_transport_opts o = {
        .node_id = id,
        .incarnation = 1,
        .listen = listen,
        .key = key,
        .key_len = 32,
        .connect_timeout_ms = 2000,
        .io_timeout_ms = 2000,
        .proto_min = pmin,
        .proto_max = pmax,
        .handler = handler,
    };
    struct ne_transport *t = NULL;
    return ne_transport_start(&o, &t) == 0 ? t : NULL;
}

static struct ne_transport *srv, *cli;

static void test_call_and_reply(void)
{
    srv = start("gw-b", key1, "127.0.0.1:0", 0, 0);
    cli = start("gw-a", key1, "127.0.0.1:0", 0, 0);
    T_CHECK(srv && cli);
    T_CHECK(strncmp(ne_transport_addr(srv), "127.0.0.1:", 10) == 0);
    struct ne_pbuf r = {0};
    uint8_t rt = 0;
    T_OK(ne_transport_call(cli, "gw-b", ne_transport_addr(srv), T_ECHO, "abc", 3, &r, &rt));
    T_EQ_INT(rt, T_ECHO);
    T_EQ_U64(r.len, 8);
    T_CHECK(memcmp(r.p, "gw-a:cba", 8) == 0); /* the server knows who called */
    T_OK(ne_transport_ping(cli, NULL, ne_transport_addr(srv)));
    ne_pbuf_free(&r);
}

static void test_large_payload_compressed(void)
{
    size_t n = 1u << 20;
    uint8_t *big = ne_malloc(n);
    T_CHECK(big != NULL);
    for (size_t i = 0; i < n; i++)
        big[i] = (uint8_t)("cpu,host=gw usage=0.5 "[i % 22]);
    struct ne_transport_stats before, after;
    ne_transport_stats(cli, &before);
    struct ne_pbuf r = {0};
    uint8_t rt;
    int rc = ne_transport_call(cli, "gw-b", ne_transport_addr(srv), T_ECHO, big, n, &r, &rt);
    ne_transport_stats(cli, &after);
    bool same = rc == 0 && r.len == n + 5;
    for (size_t i = 0; same && i < n; i++)
        same = r.p[5 + i] == big[n - 1 - i];
    ne_free(big);
    ne_pbuf_free(&r);
    T_OK(rc);
    T_CHECK(same);
    uint64_t raw = after.raw_bytes_out - before.raw_bytes_out;
    uint64_t wire = after.wire_bytes_out - before.wire_bytes_out;
    T_EQ_U64(raw, n);
    T_CHECK(wire * 20 < raw); /* repetitive data shrinks a lot */
}

static void test_pool_reuses_connections(void)
{
    struct ne_transport_stats before, after;
    ne_transport_stats(cli, &before);
    struct ne_pbuf r = {0};
    uint8_t rt;
    for (int i = 0; i < 20; i++)
        T_OK(ne_transport_call(cli, "gw-b", ne_transport_addr(srv), T_ECHO, "x", 1, &r, &rt));
    ne_transport_stats(cli, &after);
    T_EQ_U64(after.dialed, before.dialed); /* every call on the pooled connection */
    ne_pbuf_free(&r);
}

struct worker {
    int ok;
    int id;
};

static void *call_many(void *arg)
{
    struct worker *w = arg;
    struct ne_pbuf r = {0};
    char msg[32];
    for (int i = 0; i < 25; i++) {
        int n = snprintf(msg, sizeof msg, "w%d-%d", w->id, i);
        uint8_t rt;
        if (ne_transport_call(cli, "gw-b", ne_transport_addr(srv), T_ECHO, msg, (size_t)n, &r,
                              &rt) != 0 ||
            r.len != (size_t)n + 5)
            continue;
        bool match = true;
        for (int j = 0; j < n; j++)
            match &= r.p[5 + j] == (uint8_t)msg[n - 1 - j];
        w->ok += match;
    }
    ne_pbuf_free(&r);
    return NULL;
}

static void test_concurrent_callers(void)
{
    pthread_t th[6];
    struct worker w[6];
    for (int i = 0; i < 6; i++) {
        w[i] = (struct worker){0, i};
        pthread_create(&th[i], NULL, call_many, &w[i]);
    }
    for (int i = 0; i < 6; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < 6; i++)
        T_EQ_INT(w[i].ok, 25);
    struct ne_transport_stats st;
    ne_transport_stats(cli, &st);
    T_CHECK(st.dialed <= 7); /* at most one connection per concurrent caller */
}

static void test_wrong_key_refused(void)
{
    struct ne_transport *intruder = start("evil", key2, NULL, 0, 0);
    T_CHECK(intruder != NULL);
    struct ne_transport_stats before, after;
    ne_transport_stats(srv, &before);
    struct ne_pbuf r = {0};
    uint8_t rt;
    /* capture the log lines of the attempt */
    char logpath[] = "/tmp/neoedge-transport-log-XXXXXX";
    int lfd = mkstemp(logpath);
    T_CHECK(lfd >= 0);
    fflush(stderr);
    int saved = dup(2);
    dup2(lfd, 2);
    int rc = ne_transport_call(intruder, NULL, ne_transport_addr(srv), T_ECHO, "a", 1, &r, &rt);
    T_EQ_INT(rc, NE_EPERM);
    /* the server counted (and logged) the failed handshake */
    for (int i = 0; i < 200; i++) {
        ne_transport_stats(srv, &after);
        if (after.handshake_failed > before.handshake_failed) break;
        ne_time_sleep_ns(10 * 1000000ll);
    }
    dup2(saved, 2);
    close(saved);
    char *log = NULL;
    size_t loglen = 0;
    int rrc = ne_fs_read_all(logpath, &log, &loglen);
    unlink(logpath);
    close(lfd);
    T_OK(rrc);
    /* logged on the server, with the intruder's address */
    bool logged = strstr(log, "handshake failed") && strstr(log, "side=server") &&
                  strstr(log, "peer=127.0.0.1:");
    ne_free(log);
    T_CHECK(logged);
    T_EQ_U64(after.handshake_failed, before.handshake_failed + 1);
    T_EQ_U64(after.accepted, before.accepted);
    /* both ends counted it in /metrics */
    T_EQ_DBL(ne_metric_value(ne_metric_find("neoedge_peer_handshake_failures_total", NULL)), 2, 0);
    ne_transport_stop(&intruder);
    ne_pbuf_free(&r);
}

static void test_incompatible_version_refused(void)
{
    struct ne_transport *future = start("gw-new", key1, NULL, 2, 3);
    T_CHECK(future != NULL);
    struct ne_transport_stats before, after;
    ne_transport_stats(srv, &before);
    T_EQ_INT(ne_transport_ping(future, NULL, ne_transport_addr(srv)), NE_EVERSION);
    ne_transport_stats(srv, &after);
    T_EQ_U64(after.refused, before.refused + 1);
    ne_transport_stop(&future);
    /* an overlapping range negotiates the common version */
    struct ne_transport *wide = start("gw-wide", key1, NULL, 1, 5);
    T_OK(ne_transport_ping(wide, NULL, ne_transport_addr(srv)));
    ne_transport_stop(&wide);
}

static void test_unexpected_node(void)
{
    T_EQ_INT(ne_transport_ping(cli, "gw-zzz", ne_transport_addr(srv)), NE_ECONFLICT);
}

static void test_timeout_and_handler_error(void)
{
    struct ne_transport_opts o = {
        .node_id = "gw-t", .key = key1, .key_len = 32, .io_timeout_ms = 100};
    struct ne_transport *impatient = NULL;
    T_OK(ne_transport_start(&o, &impatient));
    struct ne_pbuf r = {0};
    uint8_t rt;
    T_EQ_INT(ne_transport_call(impatient, "gw-b", ne_transport_addr(srv), T_SLOW, "s", 1, &r, &rt),
             NE_ETIMEOUT);
    T_EQ_INT(ne_transport_call(cli, "gw-b", ne_transport_addr(srv), T_FAIL, "f", 1, &r, &rt),
             NE_ENOSPC);
    /* the connection stays usable after a handler error */
    T_OK(ne_transport_call(cli, "gw-b", ne_transport_addr(srv), T_ECHO, "ok", 2, &r, &rt));
    ne_transport_stop(&impatient);
    ne_pbuf_free(&r);
    /* nobody listening: refused quickly, not hung */
    struct ne_transport *lone = start("gw-l", key1, "127.0.0.1:0", 0, 0);
    char dead_addr[64];
    snprintf(dead_addr, sizeof dead_addr, "%s", ne_transport_addr(lone));
    ne_transport_stop(&lone);
    int rc = ne_transport_ping(cli, NULL, dead_addr);
    T_CHECK(rc == NE_ECLOSED || rc == NE_ETIMEOUT);
}

static void test_partition_hook(void)
{
    const char *addr = ne_transport_addr(srv);
    T_OK(ne_transport_set_drop(cli, "gw-b", true));
    T_EQ_INT(ne_transport_ping(cli, "gw-b", addr), NE_ETIMEOUT);
    T_OK(ne_transport_set_drop(cli, "gw-b", false));
    T_OK(ne_transport_ping(cli, "gw-b", addr));
    /* the server side drops the client: requests go unanswered */
    T_OK(ne_transport_set_drop(srv, "gw-a", true));
    T_CHECK(ne_transport_ping(cli, "gw-b", addr) != 0);
    T_OK(ne_transport_set_drop(srv, "gw-a", false));
    T_OK(ne_transport_ping(cli, "gw-b", addr));
}

int main(void)
{
    ne_log_set_level(NE_LOG_WARN);
    T_RUN(test_call_and_reply);
    T_RUN(test_large_payload_compressed);
    T_RUN(test_pool_reuses_connections);
    T_RUN(test_concurrent_callers);
    T_RUN(test_wrong_key_refused);
    T_RUN(test_incompatible_version_refused);
    T_RUN(test_unexpected_node);
    T_RUN(test_timeout_and_handler_error);
    T_RUN(test_partition_hook);
    ne_transport_stop(&cli);
    ne_transport_stop(&srv);
    return t_done();
}
