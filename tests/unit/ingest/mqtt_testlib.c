/*
 * mqtt_testlib.c - helpers for the MQTT and CoAP source tests (see the
 * header). Child processes are plain fork/exec so a test controls their
 * signals; every helper that waits has a timeout so a hung child fails the
 * test instead of hanging ctest.
 */
#include "mqtt_testlib.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ports/err.h"
#include "ports/metrics.h"
#include "ports/platform.h"

/* ---- recording sink --------------------------------------------------------- */

static void fmt_point(const struct ne_batch *b, const struct ne_point *p, char *out, size_t n)
{
    size_t o = 0;
    o += (size_t)snprintf(out + o, n - o, "%.*s", (int)p->meas.n, p->meas.p);
    const struct ne_tag *t = ne_point_tags(b, p);
    for (uint32_t i = 0; i < p->ntags && o < n; i++)
        o += (size_t)snprintf(out + o, n - o, ",%.*s=%.*s", (int)t[i].key.n, t[i].key.p,
                              (int)t[i].val.n, t[i].val.p);
    const struct ne_field *f = ne_point_fields(b, p);
    for (uint32_t i = 0; i < p->nfields && o < n; i++) {
        const char *sep = i ? "," : " ";
        switch (f[i].type) {
        case NE_V_FLOAT:
            o += (size_t)snprintf(out + o, n - o, "%s%.*s=%g", sep, (int)f[i].key.n, f[i].key.p,
                                  f[i].v.f);
            break;
        case NE_V_INT:
            o += (size_t)snprintf(out + o, n - o, "%s%.*s=%lldi", sep, (int)f[i].key.n, f[i].key.p,
                                  (long long)f[i].v.i);
            break;
        case NE_V_UINT:
            o += (size_t)snprintf(out + o, n - o, "%s%.*s=%lluu", sep, (int)f[i].key.n, f[i].key.p,
                                  (unsigned long long)f[i].v.u);
            break;
        case NE_V_BOOL:
            o += (size_t)snprintf(out + o, n - o, "%s%.*s=%s", sep, (int)f[i].key.n, f[i].key.p,
                                  f[i].v.b ? "true" : "false");
            break;
        default:
            o += (size_t)snprintf(out + o, n - o, "%s%.*s=\"%.*s\"", sep, (int)f[i].key.n,
                                  f[i].key.p, (int)f[i].v.s.n, f[i].v.s.p);
        }
    }
}

static bool point_id(const struct rec_sink *r, const struct ne_batch *b, const struct ne_point *p,
                     uint64_t *id)
{
    const struct ne_field *f = ne_point_fields(b, p);
    for (uint32_t i = 0; i < p->nfields; i++) {
        if (!ne_sv_eq(f[i].key, ne_sv_c(r->id_field))) continue;
        if (f[i].type == NE_V_INT && f[i].v.i >= 0)
            *id = (uint64_t)f[i].v.i;
        else if (f[i].type == NE_V_UINT)
            *id = f[i].v.u;
        else if (f[i].type == NE_V_FLOAT && f[i].v.f >= 0)
            *id = (uint64_t)f[i].v.f;
        else
            return false;
        return *id < REC_MAX_IDS;
    }
    return false;
}

static int rec_write(void *ctx, const char *db, const struct ne_batch *b,
                     struct ne_write_result *res)
{
    struct rec_sink *r = ctx;
    if (atomic_load(&r->refuse) > 0 && atomic_fetch_sub(&r->refuse, 1) > 0) {
        pthread_mutex_lock(&r->mu);
        r->refused++;
        pthread_mutex_unlock(&r->mu);
        return r->refuse_rc;
    }
    pthread_mutex_lock(&r->mu);
    r->calls++;
    snprintf(r->db, sizeof r->db, "%s", db);
    for (uint32_t i = 0; i < b->npts; i++) {
        const struct ne_point *p = &b->pts[i];
        uint64_t id;
        if (r->nsample < REC_SAMPLES) fmt_point(b, p, r->sample[r->nsample++], sizeof r->sample[0]);
        r->points++;
        if (!point_id(r, b, p, &id)) {
            r->no_id++;
            continue;
        }
        if (r->seen[id]++ == 0)
            r->distinct++;
        else
            r->dups++;
    }
    pthread_mutex_unlock(&r->mu);
    res->accepted = b->npts;
    return 0;
}

struct ne_ingest_sink rec_init(struct rec_sink *r, const char *id_field)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->id_field = id_field;
    r->seen = calloc(REC_MAX_IDS, sizeof *r->seen);
    r->refuse_rc = NE_EBUSY;
    return (struct ne_ingest_sink){.write = rec_write, .ctx = r};
}

void rec_free(struct rec_sink *r)
{
    free(r->seen);
    pthread_mutex_destroy(&r->mu);
}

void rec_clear(struct rec_sink *r)
{
    pthread_mutex_lock(&r->mu);
    memset(r->seen, 0, REC_MAX_IDS * sizeof *r->seen);
    r->points = r->distinct = r->dups = r->no_id = r->calls = r->refused = 0;
    r->nsample = 0;
    r->db[0] = '\0';
    pthread_mutex_unlock(&r->mu);
}

uint64_t rec_wait(struct rec_sink *r, uint64_t n, int timeout_s)
{
    int64_t end = ne_time_mono_ns() + (int64_t)timeout_s * 1000000000LL;
    for (;;) {
        pthread_mutex_lock(&r->mu);
        uint64_t d = r->distinct;
        pthread_mutex_unlock(&r->mu);
        if (d >= n || ne_time_mono_ns() > end) return d;
        ne_time_sleep_ns(20000000);
    }
}

uint64_t rec_missing(struct rec_sink *r, uint64_t n)
{
    uint64_t miss = 0;
    pthread_mutex_lock(&r->mu);
    for (uint64_t i = 0; i < n && i < REC_MAX_IDS; i++)
        miss += r->seen[i] == 0;
    pthread_mutex_unlock(&r->mu);
    return miss;
}

void rec_sample(struct rec_sink *r, size_t i, char *out, size_t n)
{
    pthread_mutex_lock(&r->mu);
    snprintf(out, n, "%s", i < r->nsample ? r->sample[i] : "");
    pthread_mutex_unlock(&r->mu);
}

struct rec_counts rec_counts(struct rec_sink *r)
{
    struct rec_counts c;
    pthread_mutex_lock(&r->mu);
    c.points = r->points;
    c.distinct = r->distinct;
    c.dups = r->dups;
    memcpy(c.db, r->db, sizeof c.db);
    pthread_mutex_unlock(&r->mu);
    return c;
}

double tl_metric(const char *name, const char *labels)
{
    struct ne_metric *m = ne_metric_find(name, labels);
    return m ? ne_metric_value(m) : 0.0;
}

/* ---- ports and processes ---------------------------------------------------- */

int tl_free_port(bool udp)
{
    int fd = socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof a;
    int port = -1;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

bool tl_wait_tcp(int port, int timeout_s)
{
    int64_t end = ne_time_mono_ns() + (int64_t)timeout_s * 1000000000LL;
    while (ne_time_mono_ns() < end) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in a = {.sin_family = AF_INET,
                                .sin_port = htons((uint16_t)port),
                                .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
        close(fd);
        if (ok) return true;
        ne_time_sleep_ns(20000000);
    }
    return false;
}

pid_t tl_spawn(char *const argv[], const char *in_path, const char *out_path)
{
    pid_t pid = fork();
    if (pid != 0) return pid;
    /* a crashed test must not leave its broker behind */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    int in = open(in_path ? in_path : "/dev/null", O_RDONLY);
    int out = open(out_path ? out_path : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (in < 0 || out < 0) _exit(126);
    dup2(in, 0);
    dup2(out, 1);
    dup2(out, 2);
    close(in);
    close(out);
    execvp(argv[0], argv);
    _exit(127);
}

int tl_kill(pid_t pid, int sig)
{
    int st = 0;
    if (pid <= 0) return -1;
    kill(pid, sig);
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return st;
}

int tl_wait(pid_t pid, int timeout_s)
{
    int64_t end = ne_time_mono_ns() + (int64_t)timeout_s * 1000000000LL;
    int st = 0;
    for (;;) {
        pid_t w = waitpid(pid, &st, WNOHANG);
        if (w == pid) return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (w < 0) return -1;
        if (ne_time_mono_ns() > end) {
            tl_kill(pid, SIGKILL);
            return -1;
        }
        ne_time_sleep_ns(5000000);
    }
}

int tl_run(char *const argv[], const char *in_path, char *out, size_t n, int timeout_s)
{
    char path[] = "/tmp/neoedge-run-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return -1;
    close(fd);
    pid_t pid = tl_spawn(argv, in_path, path);
    int rc = pid > 0 ? tl_wait(pid, timeout_s) : -1;
    if (out && n) {
        out[0] = '\0';
        FILE *f = fopen(path, "r");
        if (f) {
            size_t got = fread(out, 1, n - 1, f);
            out[got] = '\0';
            fclose(f);
        }
    }
    unlink(path);
    return rc;
}

int tl_write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t w = fwrite(buf, 1, len, f);
    return fclose(f) == 0 && w == len ? 0 : -1;
}

static int rm_one(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    return remove(p);
}

void tl_rmtree(const char *dir)
{
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- mosquitto --------------------------------------------------------------- */

int tl_broker_start(struct tl_broker *b, const char *dir, int port, bool persistence)
{
    memset(b, 0, sizeof *b);
    b->port = port;
    snprintf(b->dir, sizeof b->dir, "%s", dir);
    snprintf(b->conf, sizeof b->conf, "%s/mosquitto.conf", dir);
    struct passwd *pw = getpwuid(geteuid());
    char text[1024];
    int n = snprintf(text, sizeof text,
                     "listener %d 127.0.0.1\n"
                     "allow_anonymous true\n"
                     "persistence %s\n"
                     "persistence_location %s/\n"
                     "max_queued_messages 0\n"
                     "max_inflight_messages 100\n"
                     "log_dest stderr\n"
                     "log_type error\n"
                     "log_type warning\n"
                     "user %s\n", /* as root mosquitto would switch to a user
                                     that cannot write the persistence dir */
                     port, persistence ? "true" : "false", dir, pw ? pw->pw_name : "root");
    if (tl_write_file(b->conf, text, (size_t)n) != 0) return -1;
    char log[300];
    snprintf(log, sizeof log, "%s/mosquitto.log", dir);
    char *argv[] = {"mosquitto", "-c", b->conf, NULL};
    b->pid = tl_spawn(argv, NULL, log);
    if (b->pid <= 0 || !tl_wait_tcp(port, 10)) {
        tl_broker_stop(b);
        return -1;
    }
    return 0;
}

void tl_broker_stop(struct tl_broker *b)
{
    if (b->pid > 0) tl_kill(b->pid, SIGTERM);
    b->pid = 0;
}
