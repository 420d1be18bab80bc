/*
 * coap_source_test.c - the CoAP source against coap-client-openssl.
 *
 * The server listens on free loopback ports (UDP and DTLS-PSK); requests
 * come from the real libcoap client binary, plus hand-made UDP datagrams for
 * the retransmission case (coap-client cannot be told to repeat a message
 * id). A recording sink identifies each point by its "seq" field.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "ingest/coap/coap.h"
#include "mqtt_testlib.h"
#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "t.h"

#define CLIENT      "coap-client-openssl"
#define MAX_PAYLOAD 16384

static char g_dir[256];
static int g_udp, g_dtls;
static struct rec_sink g_rec;
static struct ne_coap *g_srv;
static char g_out[65536];

static int start_server(void)
{
    static const struct ne_coap_psk_opts psk[] = {{"dev1", "secret-one"}, {"dev2", "secret-two"}};
    static const struct ne_coap_path_opts paths[] = {
        {.path = "write", .database = "field"},
        {.path = "senml", .format = NE_PAYLOAD_SENML_JSON, .measurement = "meter"},
    };
    char udp[32], dtls[32];
    g_udp = tl_free_port(true);
    g_dtls = tl_free_port(true);
    snprintf(udp, sizeof udp, "127.0.0.1:%d", g_udp);
    snprintf(dtls, sizeof dtls, "127.0.0.1:%d", g_dtls);
    struct ne_coap_opts o;
    ne_coap_opts_default(&o);
    o.listen = udp;
    o.dtls_listen = dtls;
    o.psk = psk;
    o.npsk = 2;
    o.paths = paths;
    o.npaths = 2;
    o.max_payload_bytes = MAX_PAYLOAD;
    struct ne_ingest_sink sink = rec_init(&g_rec, "seq");
    return ne_coap_start(&o, &sink, &g_srv);
}

/* Runs coap-client with extra args, the body from a file; output in g_out. */
static int client(const char *method, const char *url, const char *body, size_t blen,
                  char *const extra[])
{
    char path[300];
    snprintf(path, sizeof path, "%s/body", g_dir);
    if (tl_write_file(path, body, blen) != 0) return -1;
    char *argv[32];
    int n = 0;
    argv[n++] = CLIENT;
    argv[n++] = "-m";
    argv[n++] = (char *)method;
    argv[n++] = "-f";
    argv[n++] = path;
    argv[n++] = "-B";
    argv[n++] = "5";
    for (int i = 0; extra && extra[i] && n < 28; i++)
        argv[n++] = extra[i];
    argv[n++] = (char *)url;
    argv[n] = NULL;
    int rc = tl_run(argv, NULL, g_out, sizeof g_out, 60);
    if (getenv("NE_TEST_VERBOSE")) fprintf(stderr, "$ %s %s -> %d\n%s\n", method, url, rc, g_out);
    return rc;
}

static void url(char *buf, size_t n, bool dtls, const char *path)
{
    snprintf(buf, n, "%s://127.0.0.1:%d/%s", dtls ? "coaps" : "coap", dtls ? g_dtls : g_udp, path);
}

static bool seen(uint64_t id)
{
    pthread_mutex_lock(&g_rec.mu);
    bool s = g_rec.seen[id] > 0;
    pthread_mutex_unlock(&g_rec.mu);
    return s;
}

/* ---- tests ---------------------------------------------------------------------- */

static void test_each_content_format(void)
{
    char u[128];
    url(u, sizeof u, false, "write");
    /* text/plain: line protocol */
    const char *lp = "env,src=coap seq=1i\n";
    T_EQ_INT(client("post", u, lp, strlen(lp), (char *[]){"-t", "0", NULL}), 0);
    /* application/json */
    const char *js = "{\"measurement\":\"env\",\"seq\":2,\"tags\":{\"src\":\"coap\"}}";
    T_EQ_INT(client("post", u, js, strlen(js), (char *[]){"-t", "50", NULL}), 0);
    /* application/senml+json */
    const char *sj = "[{\"bn\":\"urn:dev:7:\",\"n\":\"seq\",\"v\":3}]";
    T_EQ_INT(client("put", u, sj, strlen(sj), (char *[]){"-t", "110", NULL}), 0);
    /* application/senml+cbor: [{0:"seq", 2:4}] */
    const unsigned char sc[] = {0x81, 0xA2, 0x00, 0x63, 's', 'e', 'q', 0x02, 0x04};
    T_EQ_INT(client("post", u, (const char *)sc, sizeof sc, (char *[]){"-t", "112", NULL}), 0);
    /* application/cbor: {"measurement":"env","seq":5} */
    const unsigned char cb[] = {0xA2, 0x6B, 'm',  'e', 'a', 's', 'u',  'r', 'e', 'm', 'e',
                                'n',  't',  0x63, 'e', 'n', 'v', 0x63, 's', 'e', 'q', 0x05};
    T_EQ_INT(client("post", u, (const char *)cb, sizeof cb, (char *[]){"-t", "60", NULL}), 0);
    /* no Content-Format on a SenML path: the path's format */
    char su[128];
    url(su, sizeof su, false, "senml");
    const char *sj2 = "[{\"n\":\"seq\",\"v\":6}]";
    T_EQ_INT(client("post", su, sj2, strlen(sj2), NULL), 0);
    for (uint64_t id = 1; id <= 6; id++)
        if (!seen(id))
            T_FAIL_("point seq=%llu not stored (see the request with that id above)",
                    (unsigned long long)id);
    /* SenML names map to a device tag and a field; a path names the
     * measurement of formats that carry none */
    bool senml = false, meter = false;
    for (size_t i = 0; i < REC_SAMPLES; i++) {
        char smp[256];
        rec_sample(&g_rec, i, smp, sizeof smp);
        senml |= strcmp(smp, "write,device=urn:dev:7 seq=3") == 0;
        meter |= strcmp(smp, "meter seq=6") == 0;
    }
    T_CHECK(senml);
    T_CHECK(meter);
    {
        struct rec_counts rc = rec_counts(&g_rec); /* a copy: db outlives the call */
        T_EQ_STR(rc.db, "iot");
    }
    struct ne_coap_stats st;
    ne_coap_stats(g_srv, &st);
    T_EQ_U64(st.stored, 6);
    T_EQ_U64(st.bad, 0);
}

static void test_blockwise_large_body(void)
{
    char u[128];
    url(u, sizeof u, false, "write");
    char *body = malloc(MAX_PAYLOAD);
    size_t len = 0;
    for (int i = 100; i < 400; i++)
        len += (size_t)snprintf(body + len, MAX_PAYLOAD - len, "blk,n=%d seq=%di\n", i % 3, i);
    T_CHECK(len > 4096 && len < MAX_PAYLOAD);
    struct ne_coap_stats before, after;
    ne_coap_stats(g_srv, &before);
    int rc = client("post", u, body, len, (char *[]){"-t", "0", "-b", "64", NULL});
    free(body);
    ne_coap_stats(g_srv, &after);
    T_EQ_INT(rc, 0);
    for (uint64_t id = 100; id < 400; id++)
        if (!seen(id)) T_FAIL_("block-wise point seq=%llu missing", (unsigned long long)id);
    T_EQ_U64(after.requests - before.requests, 1); /* one whole body */
    T_EQ_U64(after.points - before.points, 300);
}

static void test_dtls_psk(void)
{
    char u[128];
    url(u, sizeof u, true, "write");
    const char *ok = "dtls seq=500i";
    T_EQ_INT(client("post", u, ok, strlen(ok), (char *[]){"-u", "dev1", "-k", "secret-one", NULL}),
             0);
    T_CHECK(seen(500));
    const char *ok2 = "dtls seq=503i";
    T_EQ_INT(
        client("post", u, ok2, strlen(ok2), (char *[]){"-u", "dev2", "-k", "secret-two", NULL}), 0);
    T_CHECK(seen(503));
    uint64_t pts = rec_counts(&g_rec).points;
    struct ne_coap_stats before, after;
    ne_coap_stats(g_srv, &before);
    const char *bad = "dtls seq=501i";
    client("post", u, bad, strlen(bad), (char *[]){"-u", "dev1", "-k", "wrong-key", NULL});
    const char *bad2 = "dtls seq=502i";
    client("post", u, bad2, strlen(bad2), (char *[]){"-u", "intruder", "-k", "secret-one", NULL});
    /* coap-client exits 0 even when the handshake fails: check the store */
    ne_coap_stats(g_srv, &after);
    T_CHECK(!seen(501));
    T_CHECK(!seen(502));
    T_EQ_U64(rec_counts(&g_rec).points, pts);
    T_EQ_U64(after.requests, before.requests); /* no request got through */
}

static void test_unsupported_format_415(void)
{
    char u[128];
    url(u, sizeof u, false, "write");
    const char *b = "env seq=700i";
    struct ne_coap_stats before, after;
    ne_coap_stats(g_srv, &before);
    client("post", u, b, strlen(b), (char *[]){"-t", "41", NULL}); /* application/xml */
    ne_coap_stats(g_srv, &after);
    T_CHECK(strstr(g_out, "4.15") != NULL);
    T_EQ_U64(after.bad - before.bad, 1);
    T_CHECK(!seen(700));
}

static void test_too_large_413(void)
{
    char u[128];
    url(u, sizeof u, false, "write");
    size_t len = MAX_PAYLOAD + 1000;
    char *body = malloc(len);
    memset(body, '#', len); /* comment lines: would decode to nothing */
    for (size_t i = 80; i < len; i += 80)
        body[i] = '\n';
    client("post", u, body, len, (char *[]){"-t", "0", "-b", "1024", "-v", "6", NULL});
    free(body);
    T_CHECK(strstr(g_out, "4.13") != NULL);
    char size1[32];
    snprintf(size1, sizeof size1, "Size1:%d", MAX_PAYLOAD);
    if (!strstr(g_out, size1)) T_FAIL_("no %s in the 4.13 answer:\n%s", size1, g_out);
}

static void test_bad_payload_400_names_record(void)
{
    char u[128];
    url(u, sizeof u, false, "write");
    const char *b = "env seq=800i\nenv seq=zz\n";
    client("post", u, b, strlen(b), (char *[]){"-t", "0", NULL});
    T_CHECK(strstr(g_out, "4.00") != NULL);
    if (!strstr(g_out, "env seq=zz"))
        T_FAIL_("diagnostic does not name the bad record:\n%s", g_out);
    T_CHECK(seen(800)); /* the good line of a partial write is kept */
    const char *all_bad = "{not json";
    client("post", u, all_bad, strlen(all_bad), (char *[]){"-t", "50", NULL});
    T_CHECK(strstr(g_out, "4.00") != NULL);
}

static void test_busy_sink_503(void)
{
    char u[128];
    url(u, sizeof u, false, "write");
    atomic_store(&g_rec.refuse, 1);
    g_rec.refuse_rc = NE_EBUSY;
    const char *lbl = "source=\"coap\",reason=\"backpressure\"";
    double bp0 = tl_metric("neoedge_points_rejected_total", lbl);
    const char *b = "env seq=900i";
    client("post", u, b, strlen(b), (char *[]){"-t", "0", "-v", "6", NULL});
    T_CHECK(strstr(g_out, "5.03") != NULL);
    if (!strstr(g_out, "Max-Age:1")) T_FAIL_("no Max-Age in the 5.03 answer:\n%s", g_out);
    T_CHECK(!seen(900));
    T_EQ_DBL(tl_metric("neoedge_points_rejected_total", lbl) - bp0, 1.0, 0.0);
    T_EQ_INT(ne_coap_health(g_srv, NULL, 0), 1);
    /* the device retries and the store takes it */
    client("post", u, b, strlen(b), (char *[]){"-t", "0", NULL});
    T_CHECK(seen(900));
    atomic_store(&g_rec.refuse, 1);
    g_rec.refuse_rc = NE_ENOSPC;
    const char *b2 = "env seq=901i";
    client("post", u, b2, strlen(b2), (char *[]){"-t", "0", NULL});
    T_CHECK(strstr(g_out, "5.00") != NULL);
    T_CHECK(!seen(901));
}

/* One confirmable POST /write with Content-Format 0. */
static size_t make_con(uint8_t *buf, uint16_t mid, const char *payload)
{
    size_t n = 0;
    buf[n++] = 0x42; /* version 1, CON, token length 2 */
    buf[n++] = 0x02; /* POST */
    buf[n++] = (uint8_t)(mid >> 8);
    buf[n++] = (uint8_t)mid;
    buf[n++] = 0xAB;
    buf[n++] = (uint8_t)mid;
    buf[n++] = 0xB5; /* Uri-Path (11), 5 bytes */
    memcpy(buf + n, "write", 5);
    n += 5;
    buf[n++] = 0x10; /* Content-Format (12), empty = 0 text/plain */
    buf[n++] = 0xFF;
    memcpy(buf + n, payload, strlen(payload));
    return n + strlen(payload);
}

static int exchange(int fd, const uint8_t *req, size_t len, uint8_t *resp, size_t cap)
{
    if (send(fd, req, len, 0) != (ssize_t)len) return -1;
    ssize_t r = recv(fd, resp, cap, 0);
    return (int)r;
}

static void test_retransmitted_con_stored_once(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)g_udp),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    T_CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    uint8_t req[128], r1[256], r2[256], r3[256];
    uint64_t pts = rec_counts(&g_rec).points;
    size_t len = make_con(req, 0x1234, "dd seq=600i");
    int n1 = exchange(fd, req, len, r1, sizeof r1);
    int n2 = exchange(fd, req, len, r2, sizeof r2); /* the retransmission */
    len = make_con(req, 0x1235, "dd seq=601i");
    int n3 = exchange(fd, req, len, r3, sizeof r3);
    close(fd);
    T_CHECK(n1 >= 4 && n2 >= 4 && n3 >= 4);
    T_EQ_INT(r1[0] >> 4 & 3, 2); /* ACK */
    T_EQ_INT(r1[1], 0x44);       /* 2.04 */
    T_EQ_INT(r2[1], 0x44);       /* same answer again */
    T_EQ_INT(r2[2] << 8 | r2[3], 0x1234);
    T_EQ_INT(r3[1], 0x44);
    T_CHECK(seen(600) && seen(601));
    pthread_mutex_lock(&g_rec.mu);
    int c600 = g_rec.seen[600];
    pthread_mutex_unlock(&g_rec.mu);
    T_EQ_INT(c600, 1);
    T_EQ_U64(rec_counts(&g_rec).points - pts, 2);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    ne_log_set_level(NE_LOG_ERROR);
    if (!t_tmpdir(g_dir, sizeof g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    int rc = start_server();
    if (rc != 0) {
        fprintf(stderr, "ne_coap_start: %s\n", ne_strerror(rc));
        tl_rmtree(g_dir);
        return 1;
    }
    T_RUN(test_each_content_format);
    T_RUN(test_blockwise_large_body);
    T_RUN(test_dtls_psk);
    T_RUN(test_unsupported_format_415);
    T_RUN(test_too_large_413);
    T_RUN(test_bad_payload_400_names_record);
    T_RUN(test_busy_sink_503);
    T_RUN(test_retransmitted_con_stored_once);
    ne_coap_stop(&g_srv);
    rec_free(&g_rec);
    tl_rmtree(g_dir);
    return t_done();
}
