/*
 * mqtt_source_test.c - the MQTT source against a real mosquitto broker.
 *
 * Each test starts its own broker on a free loopback port, starts the
 * source with a recording sink, publishes numbered messages with
 * mosquitto_pub or the paho python publisher (mqtt_pub.py) and checks that
 * every id arrived: line protocol, JSON and raw payloads with a topic
 * template; QoS 0, 1 and 2 (MQTT 5 and 3.1.1); a shared subscription split
 * over two source instances; a broker restart in the middle of a stream and
 * a broker that lost its sessions; a sink that refuses for a while; a
 * message held by a refusing sink and redelivered after its holder was
 * killed (proof that it was never acknowledged); poison, oversized and
 * off-template messages; an unreachable and a refusing broker; TLS with CA,
 * hostname verification and a client certificate.
 */
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest/mqtt/mqtt.h"
#include "mqtt_testlib.h"
#include "ports/err.h"
#include "ports/log.h"
#include "ports/metrics.h"
#include "ports/platform.h"
#include "t.h"

#ifndef MQTT_PUB_PY
#error "MQTT_PUB_PY must name tests/unit/ingest/mqtt_pub.py"
#endif

#define CHUNK_LINES 5000 /* mosquitto_pub -l stops early past 65,535 at QoS 1 */

static char g_dir[256];
static struct tl_broker g_broker;
static char g_uri[64];
static struct rec_sink g_rec; /* shared by the tests: freed once in main */
static struct ne_ingest_sink g_sink;

static struct ne_ingest_sink rec_reset(const char *id_field)
{
    rec_clear(&g_rec);
    g_rec.id_field = id_field;
    atomic_store(&g_rec.refuse, 0);
    g_rec.refuse_rc = NE_EBUSY;
    return g_sink;
}

static int broker_up(bool persistence)
{
    char dir[300];
    snprintf(dir, sizeof dir, "%s/broker", g_dir);
    tl_rmtree(dir);
    ne_fs_mkdir_p(dir);
    int port = tl_free_port(false);
    snprintf(g_uri, sizeof g_uri, "tcp://127.0.0.1:%d", port);
    return tl_broker_start(&g_broker, dir, port, persistence);
}

static struct ne_mqtt *src_start(const char *client_id, const struct ne_mqtt_sub_opts *subs,
                                 size_t nsubs, const struct ne_ingest_sink *sink)
{
    const char *brokers[] = {g_uri};
    struct ne_mqtt_opts o;
    ne_mqtt_opts_default(&o);
    o.brokers = brokers;
    o.nbrokers = 1;
    o.client_id = client_id;
    o.subs = subs;
    o.nsubs = nsubs;
    o.min_retry_ms = 100;
    o.max_retry_ms = 500;
    o.max_inflight = 100;
    o.busy_max_ms = 40; /* keeps the refusal test short */
    struct ne_mqtt *m = NULL;
    if (ne_mqtt_start(&o, sink, &m) != 0) return NULL;
    return m;
}

/* False at once for a source that did not start. */
static bool wait_up(struct ne_mqtt *m, int timeout_s)
{
    if (!m) return false;
    int64_t end = ne_time_mono_ns() + (int64_t)timeout_s * 1000000000LL;
    while (ne_time_mono_ns() < end) {
        if (ne_mqtt_health(m, NULL, 0) == 0) return true;
        ne_time_sleep_ns(20000000);
    }
    return false;
}

/* Publishes ids [first, first+count) as line protocol with mosquitto_pub -l,
 * in chunks of at most CHUNK_LINES lines. Returns 0 when every run exits 0. */
static int pub_lines(const char *topic, int qos, int first, int count)
{
    char path[300], port[16], q[4];
    snprintf(path, sizeof path, "%s/lines.txt", g_dir);
    snprintf(port, sizeof port, "%d", g_broker.port);
    snprintf(q, sizeof q, "%d", qos);
    for (int start = first; start < first + count; start += CHUNK_LINES) {
        int n = first + count - start < CHUNK_LINES ? first + count - start : CHUNK_LINES;
        FILE *f = fopen(path, "w");
        if (!f) return -1;
        for (int i = start; i < start + n; i++)
            fprintf(f, "cpu,host=h%d,src=mosq seq=%di,load=%d.5\n", i % 7, i, i % 100);
        fclose(f);
        char *argv[] = {"mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", q, "-t",
                        (char *)topic,   "-l", NULL};
        char out[512];
        int rc = tl_run(argv, path, out, sizeof out, 120);
        if (rc != 0) {
            fprintf(stderr, "mosquitto_pub exited %d: %s\n", rc, out);
            return -1;
        }
    }
    return 0;
}

static int pub_py(const char *topic, int qos, const char *fmt, int first, int count,
                  const char *client_id, int pace)
{
    char port[16], q[4], a[16], n[16], p[16];
    snprintf(port, sizeof port, "%d", g_broker.port);
    snprintf(q, sizeof q, "%d", qos);
    snprintf(a, sizeof a, "%d", first);
    snprintf(n, sizeof n, "%d", count);
    snprintf(p, sizeof p, "%d", pace);
    char *argv[] = {"/usr/bin/python3", MQTT_PUB_PY, port, (char *)topic, q,
                    (char *)fmt,        a,           n,    "--client-id", (char *)client_id,
                    "--pace",           p,           NULL};
    char out[2048];
    int rc = tl_run(argv, NULL, out, sizeof out, 150);
    if (rc != 0) fprintf(stderr, "mqtt_pub.py exited %d: %s\n", rc, out);
    return rc;
}

static pid_t pub_py_bg(const char *topic, int qos, const char *fmt, int first, int count,
                       const char *client_id, int pace)
{
    static char port[16], q[4], a[16], n[16], p[16];
    snprintf(port, sizeof port, "%d", g_broker.port);
    snprintf(q, sizeof q, "%d", qos);
    snprintf(a, sizeof a, "%d", first);
    snprintf(n, sizeof n, "%d", count);
    snprintf(p, sizeof p, "%d", pace);
    char *argv[] = {"/usr/bin/python3", MQTT_PUB_PY, port,        (char *)topic, q,
                    (char *)fmt,        a,           n,           "--client-id", (char *)client_id,
                    "--pace",           p,           "--timeout", "120",         NULL};
    return tl_spawn(argv, NULL, NULL);
}

/* ---- tests ------------------------------------------------------------------- */

static void test_line_qos1_mosquitto_pub(void)
{
    T_OK(broker_up(false));
    struct ne_ingest_sink sink = rec_reset("seq");
    struct ne_mqtt_sub_opts sub = {
        .topic = "lp/#", .qos = 1, .format = NE_PAYLOAD_LINE, .database = "plant"};
    struct ne_mqtt *m = src_start("neoedge-lp", &sub, 1, &sink);
    bool up = wait_up(m, 10);
    const int n = 12000;
    int prc = up ? pub_lines("lp/gw1", 1, 0, n) : -1;
    uint64_t got = rec_wait(&g_rec, n, 60);
    struct ne_mqtt_stats st;
    ne_mqtt_stats(m, &st);
    char s0[256];
    rec_sample(&g_rec, 0, s0, sizeof s0);
    ne_mqtt_stop(&m);
    tl_broker_stop(&g_broker);
    T_CHECK(up);
    T_EQ_INT(prc, 0);
    T_EQ_U64(got, n);
    T_EQ_U64(rec_missing(&g_rec, n), 0);
    T_EQ_U64(g_rec.no_id, 0);
    {
        struct rec_counts rc = rec_counts(&g_rec); /* a copy: db outlives the call */
        T_EQ_STR(rc.db, "plant");
    }
    T_CHECK(strncmp(s0, "cpu,host=h", 10) == 0 && strstr(s0, ",src=mosq seq=") != NULL);
    T_EQ_U64(st.rejected, 0);
    T_CHECK(st.acked >= (uint64_t)n);
}

static void test_json_qos2_template(void)
{
    T_OK(broker_up(false));
    struct ne_ingest_sink sink = rec_reset("seq");
    struct ne_mqtt_sub_opts sub = {
        .topic = "js/+/+", .qos = 2, .format = NE_PAYLOAD_JSON, .template_ = "js/{site}/{device}"};
    struct ne_mqtt *m = src_start("neoedge-js", &sub, 1, &sink);
    bool up = wait_up(m, 10);
    const int n = 2000;
    int prc = up ? pub_py("js/lyon/dev7", 2, "json", 0, n, "pub-js", 0) : -1;
    uint64_t got = rec_wait(&g_rec, n, 60);
    char s0[256];
    rec_sample(&g_rec, 0, s0, sizeof s0);
    ne_mqtt_stop(&m);
    tl_broker_stop(&g_broker);
    T_CHECK(up);
    T_EQ_INT(prc, 0);
    T_EQ_U64(got, n);
    T_EQ_U64(rec_counts(&g_rec).dups, 0); /* QoS 2: exactly once */
    {
        struct rec_counts rc = rec_counts(&g_rec); /* a copy: db outlives the call */
        T_EQ_STR(rc.db, "iot");
    }
    /* measurement from the payload, tags from the topic and the payload */
    T_CHECK(strncmp(s0, "py,", 3) == 0);
    T_CHECK(strstr(s0, "device=dev7") != NULL);
    T_CHECK(strstr(s0, "site=lyon") != NULL);
    T_CHECK(strstr(s0, "src=paho") != NULL);
}

static void test_raw_qos0_template_and_topic_reject(void)
{
    T_OK(broker_up(false));
    struct ne_ingest_sink sink = rec_reset("reading");
    struct ne_mqtt_sub_opts sub = {.topic = "sensors/#",
                                   .qos = 0,
                                   .format = NE_PAYLOAD_RAW,
                                   .template_ = "sensors/{site}/{device}/{measurement}",
                                   .field = "reading"};
    struct ne_mqtt *m = src_start("neoedge-raw", &sub, 1, &sink);
    bool up = wait_up(m, 10);
    const int n = 2000;
    int prc = up ? pub_py("sensors/s1/boiler/temperature", 0, "raw", 0, n, "pub-raw", 200) : -1;
    uint64_t got = rec_wait(&g_rec, n, 60);
    /* one level short of the template: rejected with reason "topic" */
    double topic0 =
        tl_metric("neoedge_payloads_rejected_total", "source=\"mqtt\",reason=\"topic\"");
    int prc2 = up ? pub_py("sensors/s1/boiler", 1, "raw", 7, 1, "pub-raw2", 0) : -1;
    struct ne_mqtt_stats st = {0};
    for (int i = 0; i < 250 && st.rejected == 0; i++) {
        ne_time_sleep_ns(20000000);
        ne_mqtt_stats(m, &st);
    }
    char s0[256];
    rec_sample(&g_rec, 0, s0, sizeof s0);
    ne_mqtt_stop(&m);
    tl_broker_stop(&g_broker);
    T_CHECK(up);
    T_EQ_INT(prc, 0);
    T_EQ_INT(prc2, 0);
    T_EQ_U64(got, n);
    T_EQ_U64(st.rejected, 1);
    T_EQ_DBL(tl_metric("neoedge_payloads_rejected_total", "source=\"mqtt\",reason=\"topic\"") -
                 topic0,
             1.0, 0.0);
    struct rec_counts rc = rec_counts(&g_rec);
    T_EQ_U64(rc.points, (uint64_t)n + rc.dups);
    T_CHECK(strncmp(s0, "temperature,device=boiler,site=s1 reading=", 42) == 0);
}

static void test_shared_subscription_two_instances(void)
{
    T_OK(broker_up(false));
    struct ne_ingest_sink sink = rec_reset("seq");
    struct ne_mqtt_sub_opts sub = {
        .topic = "$share/edge/sh/#", .qos = 1, .format = NE_PAYLOAD_LINE};
    struct ne_mqtt *a = src_start("neoedge-a", &sub, 1, &sink);
    struct ne_mqtt *b = src_start("neoedge-b", &sub, 1, &sink);
    bool up = wait_up(a, 10) && wait_up(b, 10);
    const int n = 6000;
    int prc = up ? pub_lines("sh/x", 1, 0, n) : -1;
    uint64_t got = rec_wait(&g_rec, n, 60);
    ne_time_sleep_ns(200000000); /* a duplicate would arrive now */
    struct ne_mqtt_stats sa, sb;
    ne_mqtt_stats(a, &sa);
    ne_mqtt_stats(b, &sb);
    ne_mqtt_stop(&a);
    ne_mqtt_stop(&b);
    tl_broker_stop(&g_broker);
    T_CHECK(up);
    T_EQ_INT(prc, 0);
    T_EQ_U64(got, n);
    T_EQ_U64(rec_counts(&g_rec).dups, 0);
    T_EQ_U64(sa.points + sb.points, n);
    T_CHECK(sa.points > 0 && sb.points > 0); /* the broker split the stream */
}

static void test_broker_restart_mid_stream(void)
{
    T_OK(broker_up(true));
    struct ne_ingest_sink sink = rec_reset("seq");
    struct ne_mqtt_sub_opts sub = {.topic = "rs/#", .qos = 1, .format = NE_PAYLOAD_LINE};
    struct ne_mqtt *m = src_start("neoedge-rs", &sub, 1, &sink);
    bool up = wait_up(m, 10);
    const int n = 6000;
    pid_t pub = pub_py_bg("rs/a", 1, "line", 0, n, "pub-rs", 20);
    uint64_t before = rec_wait(&g_rec, n / 4, 60);
    tl_broker_stop(&g_broker); /* SIGTERM: mosquitto saves its sessions */
    char why[256] = "";
    int health = 0;
    for (int i = 0; i < 200 && health == 0; i++) {
        ne_time_sleep_ns(20000000);
        health = m ? ne_mqtt_health(m, why, sizeof why) : 0;
    }
    ne_time_sleep_ns(300000000);
    int h2 = m ? ne_mqtt_health(m, why, sizeof why) : 0;
    char why_down[256];
    snprintf(why_down, sizeof why_down, "%s", why);
    char dir[300];
    snprintf(dir, sizeof dir, "%s/broker", g_dir);
    int restarted = tl_broker_start(&g_broker, dir, g_broker.port, true);
    int prc = tl_wait(pub, 150);
    uint64_t got = rec_wait(&g_rec, n, 60);
    struct ne_mqtt_stats st;
    ne_mqtt_stats(m, &st);
    ne_mqtt_stop(&m);
    tl_broker_stop(&g_broker);
    T_CHECK(up);
    T_CHECK(before >= (uint64_t)n / 4);
    T_CHECK(before < (uint64_t)n); /* the restart really was mid-stream */
    T_EQ_INT(health, 1);           /* degraded */
    T_EQ_INT(h2, 1);               /* degraded */
    T_CHECK(strstr(why_down, g_uri) != NULL);
    T_CHECK(strstr(why_down, "retrying") != NULL);
    T_EQ_INT(restarted, 0);
    T_EQ_INT(prc, 0);
    T_EQ_U64(got, n); /* every message the broker acknowledged arrived */
    T_EQ_U64(rec_missing(&g_rec, n), 0);
    T_CHECK(st.connects >= 2);
}

static void test_busy_sink_holds_then_stores(void)
{
    T_OK(broker_up(false));
    struct ne_ingest_sink sink = rec_reset("seq");
    atomic_store(&g_rec.refuse, 40);
    g_rec.refuse_rc = NE_EBUSY;
    struct ne_mqtt_sub_opts sub = {.topic = "bz/#", .qos = 1, .format = NE_PAYLOAD_LINE};
    struct ne_mqtt *m = src_start("neoedge-bz", &sub, 1, &sink);
    bool up = wait_up(m, 10);
    int prc = up ? pub_lines("bz/1", 1, 0, 500) : -1;
    uint64_t got = rec_wait(&g_rec, 500, 60);
    struct ne_mqtt_stats st;
    ne_mqtt_stats(m, &st);
    int health = m ? ne_mqtt_health(m, NULL, 0) : -1;
    /* a disk-full store: held as well, then stored once space returns */
    g_rec.refuse_rc = NE_ENOSPC;
    atomic_store(&g_rec.refuse, 10);
    int prc2 = pub_lines("bz/2", 1, 500, 100);
    uint64_t got2 = rec_wait(&g_rec, 600, 60);
    ne_mqtt_stop(&m);
    tl_broker_stop(&g_broker);
    T_CHECK(up);
    T_EQ_INT(prc, 0);
    T_EQ_INT(prc2, 0);
    T_EQ_U64(got, 500);
    T_EQ_U64(got2, 600);
    T_EQ_U64(rec_missing(&g_rec, 600), 0);
    T_EQ_U64(g_rec.refused, 50);
    T_CHECK(st.refusals >= 40);
    T_EQ_U64(st.rejected, 0);
    T_EQ_INT(health, 0); /* healthy again once the sink takes messages */
}

static void test_bad_payload_acked_and_counted(void)
{
    T_OK(broker_up(false));
    struct ne_ingest_sink sink = rec_reset("seq");
    struct ne_mqtt_sub_opts sub = {.topic = "bad/#", .qos = 1, .format = NE_PAYLOAD_LINE};
    struct ne_mqtt *m = src_start("neoedge-bad", &sub, 1, &sink);
    bool up = wait_up(m, 10);
    char port[16];
    snprintf(port, sizeof port, "%d", g_broker.port);
    char *argv[] = {"mosquitto_pub",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    port,
                    "-q",
                    "1",
                    "-t",
                    "bad/x",
                    "-m",
                    "this is = not line protocol",
                    NULL};
    const char *lbl = "source=\"mqtt\",reason=\"parse\"";
    double parse0 = tl_metric("neoedge_points_rejected_total", lbl);
    char out[256];
    int r1 = up ? tl_run(argv, NULL, out, sizeof out, 30) : -1;
    int prc = up ? pub_lines("bad/y", 1, 0, 100) : -1; /* the stream goes on */
    uint64_t got = rec_wait(&g_rec, 100, 60);
    struct ne_mqtt_stats st;
    ne_mqtt_stats(m, &st);
    ne_mqtt_stop(&m);
    tl_broker_stop(&g_broker);
    T_CHECK(up);
    T_EQ_INT(r1, 0);
    T_EQ_INT(prc, 0);
    T_EQ_U64(got, 100);
    T_EQ_U64(st.rejected, 1);
    T_EQ_DBL(tl_metric("neoedge_points_rejected_total", lbl) - parse0, 1.0, 0.0);
    T_EQ_U64(st.messages, 101); /* acknowledged: never delivered again */
    T_EQ_U64(st.acked, 101);
}

static void test_unreachable_broker_not_fatal(void)
{
    struct ne_ingest_sink sink = rec_reset("seq");
    int port = tl_free_port(false);
    snprintf(g_uri, sizeof g_uri, "tcp://127.0.0.1:%d", port);
    struct ne_mqtt_sub_opts sub = {.topic = "x/#", .qos = 1};
    struct ne_mqtt *m = src_start("neoedge-un", &sub, 1, &sink);
    char why[256] = "";
    int h = 0;
    for (int i = 0; m && i < 250; i++) {
        h = ne_mqtt_health(m, why, sizeof why);
        if (strstr(why, "connection refused")) break;
        ne_time_sleep_ns(20000000);
    }
    /* the broker appears later: the source connects by itself */
    char dir[300];
    snprintf(dir, sizeof dir, "%s/broker", g_dir);
    ne_fs_mkdir_p(dir);
    int started = tl_broker_start(&g_broker, dir, port, false);
    char glabel[128];
    snprintf(glabel, sizeof glabel, "broker=\"%s\"", g_uri);
    double gauge_down = tl_metric("neoedge_mqtt_connected", glabel);
    bool up = started == 0 && wait_up(m, 15);
    double gauge_up = tl_metric("neoedge_mqtt_connected", glabel);
    ne_mqtt_stop(&m);
    tl_broker_stop(&g_broker);
    T_EQ_INT(h, 1); /* degraded */
    char want[128];
    snprintf(want, sizeof want, "mqtt %s: connection refused, retrying", g_uri);
    T_EQ_STR(why, want);
    T_EQ_INT(started, 0);
    T_CHECK(up);
    T_EQ_DBL(gauge_down, 0.0, 0.0);
    T_EQ_DBL(gauge_up, 1.0, 0.0);
}

static void test_invalid_options(void)
{
    struct ne_ingest_sink sink = rec_reset("seq");
    const char *brokers[] = {"tcp://127.0.0.1:1"};
    struct ne_mqtt_sub_opts sub = {.topic = "a/#", .qos = 1, .template_ = "a/#/{x}"};
    struct ne_mqtt_opts o;
    ne_mqtt_opts_default(&o);
    o.brokers = brokers;
    o.nbrokers = 1;
    o.subs = &sub;
    o.nsubs = 1;
    struct ne_mqtt *m = NULL;
    T_EQ_INT(ne_mqtt_start(&o, &sink, &m), NE_EINVAL); /* '#' not last */
    sub.template_ = NULL;
    sub.qos = 3;
    T_EQ_INT(ne_mqtt_start(&o, &sink, &m), NE_EINVAL);
    sub.qos = 1;
    sub.topic = "$share/nogroup";
    T_EQ_INT(ne_mqtt_start(&o, &sink, &m), NE_EINVAL);
    sub.topic = "a/#";
    brokers[0] = "http://127.0.0.1:1";
    T_EQ_INT(ne_mqtt_start(&o, &sink, &m), NE_EINVAL);
    T_CHECK(m == NULL);
}

static void test_mqtt311_qos2_and_too_large(void)
{
    T_OK(broker_up(false));
    struct ne_ingest_sink sink = rec_reset("seq");
    const char *brokers[] = {g_uri};
    struct ne_mqtt_sub_opts sub = {.topic = "v4/#", .qos = 2, .format = NE_PAYLOAD_LINE};
    struct ne_mqtt_opts o;
    ne_mqtt_opts_default(&o);
    o.brokers = brokers;
    o.nbrokers = 1;
    o.client_id = "neoedge-v4";
    o.protocol = 4;
    o.max_payload_bytes = 64;
    o.subs = &sub;
    o.nsubs = 1;
    struct ne_mqtt *m = NULL;
    int src_rc = ne_mqtt_start(&o, &sink, &m);
    bool up = src_rc == 0 && wait_up(m, 10);
    int prc = up ? pub_py("v4/a", 2, "line", 0, 500, "pub-v4", 0) : -1;
    uint64_t got = rec_wait(&g_rec, 500, 60);
    char port[16];
    snprintf(port, sizeof port, "%d", g_broker.port);
    char big[200];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "big seq=9999i,pad=\"", 19);
    big[sizeof big - 2] = '"';
    const char *lbl = "source=\"mqtt\",reason=\"too_large\"";
    double tl0 = tl_metric("neoedge_payloads_rejected_total", lbl);
    char *argv[] = {"mosquitto_pub", "-h", "127.0.0.1", "-p", port, "-q", "1", "-t",
                    "v4/big",        "-m", big,         NULL};
    char out[256];
    int r1 = up ? tl_run(argv, NULL, out, sizeof out, 30) : -1;
    struct ne_mqtt_stats st = {0};
    for (int i = 0; i < 250 && st.rejected == 0; i++) {
        ne_time_sleep_ns(20000000);
        ne_mqtt_stats(m, &st);
    }
    ne_mqtt_stop(&m);
    tl_broker_stop(&g_broker);
    T_CHECK(up);
    T_EQ_INT(prc, 0);
    T_EQ_U64(got, 500);
    T_EQ_U64(rec_counts(&g_rec).dups, 0); /* QoS 2 under 3.1.1: exactly once as well */
    T_EQ_INT(r1, 0);
    T_EQ_U64(st.rejected, 1);
    T_EQ_DBL(tl_metric("neoedge_payloads_rejected_total", lbl) - tl0, 1.0, 0.0);
    T_CHECK(!g_rec.seen[9999]);
}

/* Makes a CA and three certificates signed by it: servers "good" (names
 * 127.0.0.1) and "wrong" (names only other.example), and a "client". */
static int make_certs(const char *d)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd,
             "set -e; cd '%s';"
             "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
             " -keyout ca.key -out ca.crt -days 2 -subj /CN=neoedge-test-ca;"
             "for n in good wrong client; do"
             " openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
             " -keyout $n.key -out $n.csr -subj /CN=$n;"
             " done;"
             "echo 'subjectAltName=IP:127.0.0.1,DNS:localhost' > good.ext;"
             "echo 'subjectAltName=DNS:other.example' > wrong.ext;"
             "echo 'extendedKeyUsage=clientAuth' > client.ext;"
             "for n in good wrong client; do"
             " openssl x509 -req -in $n.csr -CA ca.crt -CAkey ca.key -CAcreateserial"
             " -out $n.crt -days 2 -extfile $n.ext;"
             " done; chmod 644 *.key",
             d);
    char *argv[] = {"sh", "-c", cmd, NULL};
    char out[4096];
    int rc = tl_run(argv, NULL, out, sizeof out, 60);
    if (rc != 0) fprintf(stderr, "certificate set-up failed: %s\n", out);
    return rc;
}

static struct ne_mqtt *tls_src(const char *uri, const char *ca, bool verify, const char *cert,
                               const char *key, const struct ne_mqtt_sub_opts *sub,
                               const struct ne_ingest_sink *sink)
{
    const char *brokers[] = {uri};
    struct ne_mqtt_opts o;
    ne_mqtt_opts_default(&o);
    o.brokers = brokers;
    o.nbrokers = 1;
    o.client_id = "neoedge-tls";
    o.subs = sub;
    o.nsubs = 1;
    o.min_retry_ms = 100;
    o.max_retry_ms = 300;
    o.tls.ca_file = ca;
    o.tls.cert_file = cert;
    o.tls.key_file = key;
    if (!verify) o.tls.verify_hostname = false;
    struct ne_mqtt *m = NULL;
    return ne_mqtt_start(&o, sink, &m) == 0 ? m : NULL;
}

static void test_tls_ca_hostname_and_client_cert(void)
{
    char dir[300], conf[400], ca[400], log[400];
    snprintf(dir, sizeof dir, "%s/tls", g_dir);
    tl_rmtree(dir);
    ne_fs_mkdir_p(dir);
    T_OK(make_certs(dir));
    int plain = tl_free_port(false), good = tl_free_port(false), wrong = tl_free_port(false);
    int mutual = tl_free_port(false);
    struct passwd *pw = getpwuid(geteuid());
    char text[2048];
    int n = snprintf(text, sizeof text,
                     "per_listener_settings false\nallow_anonymous true\npersistence false\n"
                     "user %s\n"
                     "listener %d 127.0.0.1\n"
                     "listener %d 127.0.0.1\ncafile %s/ca.crt\ncertfile %s/good.crt\n"
                     "keyfile %s/good.key\n"
                     "listener %d 127.0.0.1\ncafile %s/ca.crt\ncertfile %s/wrong.crt\n"
                     "keyfile %s/wrong.key\n"
                     "listener %d 127.0.0.1\ncafile %s/ca.crt\ncertfile %s/good.crt\n"
                     "keyfile %s/good.key\nrequire_certificate true\n",
                     pw ? pw->pw_name : "root", plain, good, dir, dir, dir, wrong, dir, dir, dir,
                     mutual, dir, dir, dir);
    snprintf(conf, sizeof conf, "%s/tls.conf", dir);
    snprintf(ca, sizeof ca, "%s/ca.crt", dir);
    snprintf(log, sizeof log, "%s/mosquitto.log", dir);
    T_OK(tl_write_file(conf, text, (size_t)n));
    char *argv[] = {"mosquitto", "-c", conf, NULL};
    pid_t broker = tl_spawn(argv, NULL, log);
    bool listening = tl_wait_tcp(plain, 10) && tl_wait_tcp(good, 10) && tl_wait_tcp(wrong, 10) &&
                     tl_wait_tcp(mutual, 10);
    g_broker.pid = broker;
    g_broker.port = plain;

    struct ne_ingest_sink sink = rec_reset("seq");
    struct ne_mqtt_sub_opts sub = {.topic = "tls/#", .qos = 1, .format = NE_PAYLOAD_LINE};
    char uri[64];
    /* the right CA and a certificate naming 127.0.0.1: connects, data flows */
    snprintf(uri, sizeof uri, "ssl://127.0.0.1:%d", good);
    struct ne_mqtt *m = tls_src(uri, ca, true, NULL, NULL, &sub, &sink);
    bool up_good = m && wait_up(m, 10);
    int prc = up_good ? pub_lines("tls/a", 1, 0, 200) : -1;
    uint64_t got = rec_wait(&g_rec, 200, 30);
    ne_mqtt_stop(&m);
    /* a certificate for another name: refused while verification is on */
    snprintf(uri, sizeof uri, "ssl://127.0.0.1:%d", wrong);
    m = tls_src(uri, ca, true, NULL, NULL, &sub, &sink);
    bool up_wrong = m && wait_up(m, 2);
    char why[256] = "";
    int h_wrong = m ? ne_mqtt_health(m, why, sizeof why) : -1;
    if (getenv("NE_TEST_VERBOSE")) fprintf(stderr, "wrong-name broker: %s\n", why);
    ne_mqtt_stop(&m);
    /* ... and accepted when it is turned off */
    m = tls_src(uri, ca, false, NULL, NULL, &sub, &sink);
    bool up_noverify = m && wait_up(m, 10);
    ne_mqtt_stop(&m);
    /* a broker that requires a client certificate: refused without one */
    char cert[400], key[400];
    snprintf(cert, sizeof cert, "%s/client.crt", dir);
    snprintf(key, sizeof key, "%s/client.key", dir);
    snprintf(uri, sizeof uri, "ssl://127.0.0.1:%d", mutual);
    m = tls_src(uri, ca, true, NULL, NULL, &sub, &sink);
    bool up_nocert = m && wait_up(m, 2);
    ne_mqtt_stop(&m);
    m = tls_src(uri, ca, true, cert, key, &sub, &sink);
    bool up_cert = m && wait_up(m, 10);
    ne_mqtt_stop(&m);
    tl_broker_stop(&g_broker);
    T_CHECK(listening);
    T_CHECK(up_good);
    T_EQ_INT(prc, 0);
    T_EQ_U64(got, 200);
    T_CHECK(!up_wrong);
    T_EQ_INT(h_wrong, 1); /* degraded */
    T_CHECK(strstr(why, "retrying") != NULL);
    T_CHECK(up_noverify);
    T_CHECK(!up_nocert);
    T_CHECK(up_cert);
}

static void test_refused_connack_reported(void)
{
    char dir[300], conf[400], text[512];
    snprintf(dir, sizeof dir, "%s/auth", g_dir);
    ne_fs_mkdir_p(dir);
    int port = tl_free_port(false);
    int n = snprintf(text, sizeof text,
                     "listener %d 127.0.0.1\nallow_anonymous false\npersistence false\n", port);
    snprintf(conf, sizeof conf, "%s/auth.conf", dir);
    T_OK(tl_write_file(conf, text, (size_t)n));
    char *argv[] = {"mosquitto", "-c", conf, NULL};
    g_broker.pid = tl_spawn(argv, NULL, NULL);
    g_broker.port = port;
    bool listening = tl_wait_tcp(port, 10);
    snprintf(g_uri, sizeof g_uri, "tcp://127.0.0.1:%d", port);
    struct ne_ingest_sink sink = rec_reset("seq");
    struct ne_mqtt_sub_opts sub = {.topic = "a/#", .qos = 1};
    struct ne_mqtt *m = src_start("neoedge-auth", &sub, 1, &sink);
    char why[256] = "";
    int h = 0;
    for (int i = 0; m && i < 250 && !strstr(why, "refused"); i++) {
        ne_time_sleep_ns(20000000);
        h = ne_mqtt_health(m, why, sizeof why);
    }
    ne_mqtt_stop(&m);
    tl_broker_stop(&g_broker);
    T_CHECK(listening);
    T_EQ_INT(h, 1); /* degraded */
    char want[160];
    snprintf(want, sizeof want, "mqtt %s: connect refused: Not authorized, retrying", g_uri);
    T_EQ_STR(why, want);
}

/* ---- a held message survives the death of its holder ------------------------ */

static int g_hold_fd = -1;

static int refusing_write(void *ctx, const char *db, const struct ne_batch *b,
                          struct ne_write_result *res)
{
    if (write(g_hold_fd, "R", 1) != 1) return NE_EIO;
    return NE_EBUSY;
}

/* Child mode: a source whose sink refuses everything, until SIGKILL. */
static int hold_child(const char *uri, const char *client_id, int fd)
{
    g_hold_fd = fd;
    snprintf(g_uri, sizeof g_uri, "%s", uri);
    struct ne_ingest_sink sink = {.write = refusing_write};
    struct ne_mqtt_sub_opts sub = {.topic = "hold/#", .qos = 1, .format = NE_PAYLOAD_LINE};
    struct ne_mqtt *m = src_start(client_id, &sub, 1, &sink);
    if (!m || !wait_up(m, 10)) return 1;
    if (write(fd, "U", 1) != 1) return 1;
    for (;;)
        pause();
}

/* Reads one byte from fd within timeout_s; returns it or -1. */
static int read_byte(int fd, int timeout_s)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char ch;
    if (poll(&pfd, 1, timeout_s * 1000) != 1 || read(fd, &ch, 1) != 1) return -1;
    return ch;
}

static void test_held_message_redelivered_after_kill(void)
{
    int p[2];
    T_CHECK(pipe(p) == 0);
    T_OK(broker_up(false));
    char fd[16];
    snprintf(fd, sizeof fd, "%d", p[1]);
    char *argv[] = {"/proc/self/exe", "--hold-child", g_uri, "neoedge-hold", fd, NULL};
    pid_t child = tl_spawn(argv, NULL, NULL);
    close(p[1]);
    int up = read_byte(p[0], 15);
    char port[16];
    snprintf(port, sizeof port, "%d", g_broker.port);
    char *pub[] = {"mosquitto_pub", "-h", "127.0.0.1",    "-p", port, "-q", "1", "-t",
                   "hold/x",        "-m", "held seq=77i", NULL};
    char out[256];
    int prc = up == 'U' ? tl_run(pub, NULL, out, sizeof out, 30) : -1;
    /* refused twice: the message is held and offered to the sink again */
    int r1 = read_byte(p[0], 15), r2 = read_byte(p[0], 15);
    tl_kill(child, SIGKILL);
    close(p[0]);
    /* the same client id again: the broker must redeliver the message */
    struct ne_ingest_sink sink = rec_reset("seq");
    struct ne_mqtt_sub_opts sub = {.topic = "hold/#", .qos = 1, .format = NE_PAYLOAD_LINE};
    struct ne_mqtt *m = src_start("neoedge-hold", &sub, 1, &sink);
    uint64_t got = rec_wait(&g_rec, 1, 20);
    ne_mqtt_stop(&m);
    tl_broker_stop(&g_broker);
    T_EQ_INT(up, 'U');
    T_EQ_INT(prc, 0);
    T_EQ_INT(r1, 'R');
    T_EQ_INT(r2, 'R');
    T_EQ_U64(got, 1);
    T_CHECK(g_rec.seen[77] >= 1);
}

static void test_resubscribes_when_broker_lost_session(void)
{
    T_OK(broker_up(false)); /* no persistence: a restart forgets every session */
    struct ne_ingest_sink sink = rec_reset("seq");
    struct ne_mqtt_sub_opts sub = {.topic = "re/#", .qos = 1, .format = NE_PAYLOAD_LINE};
    struct ne_mqtt *m = src_start("neoedge-re", &sub, 1, &sink);
    bool up = wait_up(m, 10);
    int port = g_broker.port;
    tl_broker_stop(&g_broker);
    bool down = false;
    for (int i = 0; i < 250 && !down; i++) {
        ne_time_sleep_ns(20000000);
        down = m && ne_mqtt_health(m, NULL, 0) != 0;
    }
    char dir[300];
    snprintf(dir, sizeof dir, "%s/broker", g_dir);
    int restarted = tl_broker_start(&g_broker, dir, port, false);
    bool up2 = restarted == 0 && wait_up(m, 15);
    int prc = up2 ? pub_lines("re/a", 1, 0, 300) : -1;
    uint64_t got = rec_wait(&g_rec, 300, 30);
    struct ne_mqtt_stats st;
    ne_mqtt_stats(m, &st);
    ne_mqtt_stop(&m);
    tl_broker_stop(&g_broker);
    T_CHECK(up);
    T_CHECK(down);
    T_CHECK(up2);
    T_EQ_INT(prc, 0);
    T_EQ_U64(got, 300); /* only if the filter was subscribed again */
    T_EQ_U64(st.connects, 2);
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc == 5 && strcmp(argv[1], "--hold-child") == 0) {
        ne_log_set_level(NE_LOG_ERROR);
        return hold_child(argv[2], argv[3], atoi(argv[4]));
    }
    ne_log_set_level(getenv("NE_TEST_VERBOSE") ? NE_LOG_DEBUG : NE_LOG_ERROR);
    if (!t_tmpdir(g_dir, sizeof g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    g_sink = rec_init(&g_rec, "seq");
    /* an argument runs only the tests whose name contains it */
#define RUN(fn)                                                                                    \
    do {                                                                                           \
        if (argc < 2 || strstr(#fn, argv[1])) T_RUN(fn);                                           \
    } while (0)
    RUN(test_invalid_options);
    RUN(test_line_qos1_mosquitto_pub);
    RUN(test_json_qos2_template);
    RUN(test_raw_qos0_template_and_topic_reject);
    RUN(test_shared_subscription_two_instances);
    RUN(test_busy_sink_holds_then_stores);
    RUN(test_held_message_redelivered_after_kill);
    RUN(test_bad_payload_acked_and_counted);
    RUN(test_unreachable_broker_not_fatal);
    RUN(test_resubscribes_when_broker_lost_session);
    RUN(test_refused_connack_reported);
    RUN(test_mqtt311_qos2_and_too_large);
    RUN(test_tls_ca_hostname_and_client_cert);
    RUN(test_broker_restart_mid_stream);
    rec_free(&g_rec);
    tl_rmtree(g_dir);
    return t_done();
}
