/*
 * bench_coap.c - CoAP ingest throughput: single-reading SenML JSON requests.
 *
 * The parent process runs the CoAP source (ingest/coap) on a free loopback
 * UDP port with a sink that only counts points (the store is measured by its
 * own benchmarks). Child processes (--clients) are the load generators,
 * written with the libcoap client API: each session keeps window/clients
 * requests outstanding (for CON, NSTART is raised to that: a session stands
 * for that many devices with one request in flight each). Each request is a POST /write
 * with Content-Format 110 and one SenML record. Responses 2.04 count as done;
 * a NON request without an answer after a quiet period counts as lost.
 *
 *     bench_coap [--requests N] [--window W] [--clients C] [--mode non|con|both]
 *
 * Prints one table row per mode; never asserts on time.
 */
#include <arpa/inet.h>
#include <coap3/coap.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ingest/coap/coap.h"
#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"

/* ---- the counting sink (server side) ------------------------------------------ */

static atomic_uint_fast64_t g_points;

static int count_write(void *ctx, const char *db, const struct ne_batch *b,
                       struct ne_write_result *res)
{
    atomic_fetch_add(&g_points, b->npts);
    res->accepted = b->npts;
    return 0;
}

/* ---- the load generator (child process) ------------------------------------------ */

struct load {
    uint64_t sent, ok, other, lost;
    uint64_t outstanding;
    int64_t last_rx_ns;
};

static struct load g_load;

static coap_response_t on_response(coap_session_t *s, const coap_pdu_t *sent, const coap_pdu_t *rcv,
                                   const coap_mid_t mid)
{
    if (coap_pdu_get_code(rcv) == COAP_RESPONSE_CODE(204))
        g_load.ok++;
    else
        g_load.other++;
    if (g_load.outstanding) g_load.outstanding--;
    g_load.last_rx_ns = ne_time_mono_ns();
    return COAP_RESPONSE_OK;
}

static int send_one(coap_session_t *s, bool con, uint64_t i)
{
    coap_pdu_t *pdu =
        coap_pdu_init(con ? COAP_MESSAGE_CON : COAP_MESSAGE_NON, COAP_REQUEST_CODE_POST,
                      coap_new_message_id(s), coap_session_max_pdu_size(s));
    if (!pdu) return -1;
    uint8_t tok[8], cf[4];
    size_t tl;
    coap_session_new_token(s, &tl, tok);
    coap_add_token(pdu, tl, tok);
    coap_add_option(pdu, COAP_OPTION_URI_PATH, 5, (const uint8_t *)"write");
    coap_add_option(pdu, COAP_OPTION_CONTENT_FORMAT, coap_encode_var_safe(cf, sizeof cf, 110), cf);
    char body[128];
    int n = snprintf(body, sizeof body,
                     "[{\"n\":\"urn:dev:bench%04u:temp\",\"u\":\"Cel\",\"v\":%u.%u}]",
                     (unsigned)(i % 1000), (unsigned)(15 + i % 20), (unsigned)(i % 10));
    coap_add_data(pdu, (size_t)n, (const uint8_t *)body);
    if (coap_send(s, pdu) == COAP_INVALID_MID) return -1;
    g_load.sent++;
    g_load.outstanding++;
    return 0;
}

/* Runs the load; writes "sent ok other lost ns" to fd. */
static int run_load(int port, bool con, uint64_t total, uint64_t window, int fd)
{
    coap_startup();
    coap_set_log_level(LOG_ERR);
    coap_context_t *ctx = coap_new_context(NULL);
    coap_address_t dst;
    coap_address_init(&dst);
    dst.size = sizeof(struct sockaddr_in);
    dst.addr.sin.sin_family = AF_INET;
    dst.addr.sin.sin_port = htons((uint16_t)port);
    dst.addr.sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    coap_session_t *s = ctx ? coap_new_client_session(ctx, NULL, &dst, COAP_PROTO_UDP) : NULL;
    if (!s) return 1;
    if (con) coap_session_set_nstart(s, (uint16_t)(window > 65535 ? 65535 : window));
    coap_register_response_handler(ctx, on_response);
    int64_t t0 = ne_time_mono_ns();
    g_load.last_rx_ns = t0;
    while (g_load.sent < total || g_load.outstanding > 0) {
        while (g_load.outstanding < window && g_load.sent < total)
            if (send_one(s, con, g_load.sent) != 0) break;
        /* block for answers only when nothing more may be sent */
        bool full = g_load.outstanding >= window || g_load.sent >= total;
        coap_io_process(ctx, full ? 5 : COAP_IO_NO_WAIT);
        /* NON has no retransmission: after a quiet spell the rest is lost */
        if (!con && ne_time_mono_ns() - g_load.last_rx_ns > 200000000LL) {
            g_load.lost += g_load.outstanding;
            g_load.outstanding = 0;
            g_load.last_rx_ns = ne_time_mono_ns();
        }
    }
    int64_t ns = ne_time_mono_ns() - t0;
    char line[160];
    int n =
        snprintf(line, sizeof line, "%llu %llu %llu %llu %lld\n", (unsigned long long)g_load.sent,
                 (unsigned long long)g_load.ok, (unsigned long long)g_load.other,
                 (unsigned long long)g_load.lost, (long long)ns);
    ssize_t w = write(fd, line, (size_t)n);
    coap_session_release(s);
    coap_free_context(ctx);
    coap_cleanup();
    return w == n ? 0 : 1;
}

/* ---- driver ------------------------------------------------------------------- */

static int free_udp_port(void)
{
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int one_run(int port, bool con, uint64_t total, uint64_t window, int clients)
{
    int p[2];
    if (pipe(p) != 0) return 1;
    uint64_t pts0 = atomic_load(&g_points);
    double cpu0 = cpu_seconds();
    pid_t pids[64];
    for (int i = 0; i < clients; i++) {
        pids[i] = fork();
        if (pids[i] == 0) {
            close(p[0]);
            _exit(run_load(port, con, total / (uint64_t)clients, window / (uint64_t)clients, p[1]));
        }
    }
    close(p[1]);
    unsigned long long sent = 0, ok = 0, other = 0, lost = 0;
    long long ns = 0;
    FILE *f = fdopen(p[0], "r");
    char buf[160];
    int got = 0;
    while (f && fgets(buf, sizeof buf, f)) {
        unsigned long long a, b, c, d;
        long long e;
        if (sscanf(buf, "%llu %llu %llu %llu %lld", &a, &b, &c, &d, &e) != 5) continue;
        sent += a, ok += b, other += c, lost += d;
        ns = e > ns ? e : ns; /* the slowest client ends the run */
        got++;
    }
    if (f) fclose(f);
    for (int i = 0; i < clients; i++)
        waitpid(pids[i], NULL, 0);
    if (got != clients) {
        fprintf(stderr, "%d of %d load generators failed\n", clients - got, clients);
        return 1;
    }
    double secs = (double)ns / 1e9;
    double cpu = cpu_seconds() - cpu0;
    printf(
        "| %-4s | %7d | %9llu | %6llu | %9llu | %5llu | %5llu | %7.2f | %10.0f | %6.2f | %9llu |\n",
        con ? "CON" : "NON", clients, sent, (unsigned long long)window, ok, other, lost, secs,
        (double)ok / secs, cpu / secs, (unsigned long long)(atomic_load(&g_points) - pts0));
    return 0;
}

int main(int argc, char **argv)
{
    uint64_t total = 200000, window = 128;
    int clients = 4;
    const char *mode = "both";
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--requests") == 0)
            total = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--window") == 0)
            window = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--clients") == 0)
            clients = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--mode") == 0)
            mode = argv[i + 1];
        else {
            fprintf(stderr,
                    "usage: %s [--requests N] [--window W] [--clients C] [--mode non|con|both]\n",
                    argv[0]);
            return 2;
        }
    }
    if (clients < 1 || clients > 64 || window < (uint64_t)clients) {
        fprintf(stderr, "--clients must be 1..64 and at most --window\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ne_log_set_level(NE_LOG_WARN);
    int port = free_udp_port();
    char listen[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
    struct ne_coap_opts o;
    ne_coap_opts_default(&o);
    o.listen = listen;
    o.dtls_listen = NULL;
    struct ne_ingest_sink sink = {.write = count_write, .ctx = NULL};
    struct ne_coap *srv = NULL;
    int rc = ne_coap_start(&o, &sink, &srv);
    if (rc != 0) {
        fprintf(stderr, "ne_coap_start: %s\n", ne_strerror(rc));
        return 1;
    }
    printf("CoAP ingest, single-reading SenML JSON (Content-Format 110), loopback UDP\n");
    printf("| mode | clients | requests  | window | 2.04      | other | lost  | seconds | "
           "requests/s | server | points    |\n");
    printf("|      |         |           |        |           |       |       |         |          "
           "  | cores  | stored    |\n");
    printf("|------|---------|-----------|--------|-----------|-------|-------|---------|----------"
           "--|--------|-----------|\n");
    if (strcmp(mode, "con") != 0) rc |= one_run(port, false, total, window, clients);
    if (strcmp(mode, "non") != 0) rc |= one_run(port, true, total, window, clients);
    ne_coap_stop(&srv);
    return rc;
}
