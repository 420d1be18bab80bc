/*
 * bench_mqtt.c - MQTT ingest throughput: one line-protocol point per message.
 *
 * Starts a mosquitto broker on a free loopback port (persistence off), the
 * MQTT source (ingest/mqtt) with a sink that only counts points (the store
 * has its own benchmarks), and `--publishers` mosquitto_pub -l processes that
 * each publish their share of the messages (input split into chunks of at
 * most 50,000 lines: mosquitto_pub -l at QoS 1 stops early past 65,535).
 * Reports messages/s from the first publish to the last point counted, and
 * the CPU the source's process used (the broker and publishers excluded).
 *
 *     bench_mqtt [--messages N] [--publishers P] [--qos 0|1|2] [--protocol 4|5]
 *
 * Needs mosquitto and mosquitto_pub on PATH. Never asserts on time.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ingest/mqtt/mqtt.h"
#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"

#define CHUNK_LINES 50000

static atomic_uint_fast64_t g_points, g_values;

static int count_write(void *ctx, const char *db, const struct ne_batch *b,
                       struct ne_write_result *res)
{
    atomic_fetch_add(&g_points, b->npts);
    atomic_fetch_add(&g_values, ne_batch_values(b));
    res->accepted = b->npts;
    return 0;
}

static int free_tcp_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    int port = -1;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static pid_t spawn(char *const argv[], const char *in)
{
    pid_t pid = fork();
    if (pid != 0) return pid;
    int fd = open(in ? in : "/dev/null", O_RDONLY);
    int null = open("/dev/null", O_WRONLY);
    dup2(fd, 0);
    dup2(null, 1);
    dup2(null, 2);
    execvp(argv[0], argv);
    _exit(127);
}

static bool wait_port(int port)
{
    for (int i = 0; i < 500; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok) return true;
        ne_time_sleep_ns(10000000);
    }
    return false;
}

/* Writes the chunk files of one publisher; returns how many. */
static int write_chunks(const char *dir, int pub, uint64_t first, uint64_t count)
{
    int nchunks = 0;
    for (uint64_t start = first; start < first + count; start += CHUNK_LINES) {
        uint64_t end = start + CHUNK_LINES < first + count ? start + CHUNK_LINES : first + count;
        char path[512];
        snprintf(path, sizeof path, "%s/p%d-%d.lp", dir, pub, nchunks++);
        FILE *f = fopen(path, "w");
        if (!f) return -1;
        for (uint64_t i = start; i < end; i++)
            fprintf(f, "env,site=s%llu,device=d%llu temp=%.2f,hum=%.1f,seq=%llui\n",
                    (unsigned long long)(i % 10), (unsigned long long)(i % 1000),
                    15.0 + (double)(i % 1000) / 100.0, 40.0 + (double)(i % 300) / 10.0,
                    (unsigned long long)i);
        fclose(f);
    }
    return nchunks;
}

/* One publisher: runs mosquitto_pub -l on each of its chunks in turn. */
static pid_t publisher(const char *dir, int pub, int nchunks, int port, int qos)
{
    pid_t pid = fork();
    if (pid != 0) return pid;
    char p[16], q[8];
    snprintf(p, sizeof p, "%d", port);
    snprintf(q, sizeof q, "%d", qos);
    for (int c = 0; c < nchunks; c++) {
        char path[512];
        snprintf(path, sizeof path, "%s/p%d-%d.lp", dir, pub, c);
        char *argv[] = {"mosquitto_pub", "-h", "127.0.0.1", "-p", p, "-q", q, "-t",
                        "bench/gw",      "-l", NULL};
        int st = 0;
        pid_t k = spawn(argv, path);
        waitpid(k, &st, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) _exit(1);
    }
    _exit(0);
}

static double cpu_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
    uint64_t total = 200000;
    int pubs = 2, qos = 1, proto = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--messages") == 0)
            total = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--publishers") == 0)
            pubs = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--qos") == 0)
            qos = atoi(argv[i + 1]);
        else if (strcmp(argv[i], "--protocol") == 0)
            proto = atoi(argv[i + 1]);
        else {
            fprintf(stderr,
                    "usage: %s [--messages N] [--publishers P] [--qos 0|1|2] [--protocol 4|5]\n",
                    argv[0]);
            return 2;
        }
    }
    if (pubs < 1 || pubs > 16 || qos < 0 || qos > 2) {
        fprintf(stderr, "--publishers 1..16, --qos 0..2\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    ne_log_set_level(NE_LOG_WARN);
    char dir[] = "/tmp/neoedge-bench-mqtt-XXXXXX";
    if (!mkdtemp(dir)) return 1;
    int port = free_tcp_port();
    char conf[512], text[512];
    snprintf(conf, sizeof conf, "%s/mosquitto.conf", dir);
    struct passwd *pw = getpwuid(geteuid());
    int n = snprintf(text, sizeof text,
                     "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                     "max_queued_messages 0\nmax_inflight_messages 100\nuser %s\n",
                     port, pw ? pw->pw_name : "root");
    FILE *f = fopen(conf, "w");
    if (!f || fwrite(text, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0) return 1;
    char *margv[] = {"mosquitto", "-c", conf, NULL};
    pid_t broker = spawn(margv, NULL);
    int rc = 1;
    struct ne_mqtt *m = NULL;
    int nchunks[16];
    for (int p = 0; p < pubs; p++)
        nchunks[p] = write_chunks(dir, p, total / (uint64_t)pubs * (uint64_t)p,
                                  p == pubs - 1 ? total - total / (uint64_t)pubs * (uint64_t)p
                                                : total / (uint64_t)pubs);
    if (!wait_port(port)) {
        fprintf(stderr, "mosquitto did not start\n");
        goto out;
    }
    char uri[64];
    snprintf(uri, sizeof uri, "tcp://127.0.0.1:%d", port);
    const char *brokers[] = {uri};
    struct ne_mqtt_sub_opts sub = {.topic = "bench/#", .qos = qos, .format = NE_PAYLOAD_LINE};
    struct ne_mqtt_opts o;
    ne_mqtt_opts_default(&o);
    o.brokers = brokers;
    o.nbrokers = 1;
    o.client_id = "neoedge-bench";
    o.clean_session = true;
    o.protocol = proto;
    o.subs = &sub;
    o.nsubs = 1;
    struct ne_ingest_sink sink = {.write = count_write};
    if ((rc = ne_mqtt_start(&o, &sink, &m)) != 0) goto out;
    for (int i = 0; i < 500 && ne_mqtt_health(m, NULL, 0) != 0; i++)
        ne_time_sleep_ns(10000000);
    double cpu0 = cpu_seconds();
    int64_t t0 = ne_time_mono_ns();
    pid_t pids[16];
    for (int p = 0; p < pubs; p++)
        pids[p] = publisher(dir, p, nchunks[p], port, qos);
    int failed = 0;
    for (int p = 0; p < pubs; p++) {
        int st = 0;
        waitpid(pids[p], &st, 0);
        failed += !WIFEXITED(st) || WEXITSTATUS(st) != 0;
    }
    /* wait for the tail; stop when nothing arrives for 2 s */
    uint64_t last = 0;
    int64_t last_change = ne_time_mono_ns(), t_end = last_change;
    while (atomic_load(&g_points) < total && ne_time_mono_ns() - last_change < 2000000000LL) {
        uint64_t now_pts = atomic_load(&g_points);
        if (now_pts != last) {
            last = now_pts;
            last_change = t_end = ne_time_mono_ns();
        }
        ne_time_sleep_ns(1000000);
    }
    if (atomic_load(&g_points) >= total) t_end = ne_time_mono_ns();
    double secs = (double)(t_end - t0) / 1e9;
    double cpu = cpu_seconds() - cpu0;
    uint64_t pts = atomic_load(&g_points);
    printf("MQTT ingest, one line-protocol point (3 fields) per message, loopback mosquitto\n");
    printf("| mqtt  | qos | publishers | messages  | received  | seconds | messages/s | values/s  "
           "| source cores |\n");
    printf("|-------|-----|------------|-----------|-----------|---------|------------|-----------|"
           "--------------|\n");
    printf("| %-5s | %3d | %10d | %9llu | %9llu | %7.2f | %10.0f | %9.0f | %12.2f |\n",
           proto == 4 ? "3.1.1" : "5", qos, pubs, (unsigned long long)total,
           (unsigned long long)pts, secs, (double)pts / secs, (double)atomic_load(&g_values) / secs,
           cpu / secs);
    if (failed) fprintf(stderr, "%d publisher(s) failed\n", failed);
    rc = failed ? 1 : 0;
out:
    ne_mqtt_stop(&m);
    if (broker > 0) {
        kill(broker, SIGTERM);
        waitpid(broker, NULL, 0);
    }
    char rm[600];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir);
    if (system(rm) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return rc;
}
