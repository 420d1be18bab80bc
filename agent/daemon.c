/*
 * daemon.c - the lifecycle of `neoedge run`.
 *
 * Start: config (file or embedded default, then environment overrides, then
 * --data-dir) -> logging -> fault injection (NEOEDGE_FAULTS, tests only) ->
 * I/O backend -> data dir (created if missing, probed for writing, locked
 * with ne_fs_lock_dir) -> signals blocked in every thread -> the modules of
 * ne_agent_modules in order. Any failure stops what was started, in
 * reverse, and exits 1 with one line on stderr: the daemon is never left
 * half-started.
 *
 * Run: the main thread waits on a signalfd and, every
 * NE_HEAP_TRIM_INTERVAL_MS without a signal, returns the allocator's free
 * pages to the kernel (agent/heap.h). SIGTERM/SIGINT stop the
 * daemon gracefully (modules in reverse order, each draining its work in
 * flight); SIGHUP reloads the config.
 *
 * Reload: the file is loaded and validated again. On error the running
 * config stays and the reason is logged. Otherwise every changed key is
 * logged; the keys the daemon can change at run time (log level and format,
 * http.auth_token) are applied by the modules' reload callbacks, the others
 * are logged as "needs restart". The config the modules started with stays
 * alive until exit (modules borrow its strings); the latest loaded one is
 * what the next reload compares against.
 *
 * Service manager: when $NOTIFY_SOCKET is set (systemd Type=notify), the
 * daemon sends "READY=1" once every module is up (the store open, the
 * admin HTTP server listening), "RELOADING=1" + "MONOTONIC_USEC=..." before
 * a SIGHUP reload and "READY=1" after it, and "STOPPING=1" when it starts
 * to shut down. Each message is one AF_UNIX datagram of NEWLINE-separated
 * KEY=VALUE lines; a socket path starting with '@' names an abstract
 * socket (the '@' becomes a NUL byte). Without $NOTIFY_SOCKET nothing is
 * sent; a failed send is logged once and never stops the daemon.
 *
 * Invariants: SIGTERM, SIGINT and SIGHUP are blocked before the first thread
 * is created, so only the main thread ever sees them (through the signalfd).
 */
#include "agent/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/heap.h"
#include "config/config.h"
#include "ports/log.h"
#include "ports/platform.h"

#define MOD "agent"

/* ---- config ----------------------------------------------------------- */

int ne_daemon_load_config(const char *path, struct ne_config **out)
{
    struct ne_config_error err;
    memset(&err, 0, sizeof(err));
    struct ne_config *cfg = NULL;
    int rc = ne_config_load(path, NULL, &cfg, &err);
    if (rc != 0) {
        char line[1024];
        if (err.msg[0])
            fprintf(stderr, "%s\n", ne_config_error_format(&err, line, sizeof(line)));
        else
            fprintf(stderr, "%s: %s\n", path ? path : "(default config)", ne_strerror(rc));
        return rc;
    }
    *out = cfg;
    return 0;
}

static void apply_log_settings(const struct ne_config *cfg)
{
    ne_log_set_level(cfg->log.level);
    ne_log_set_json(cfg->log.json);
}

/* ---- data dir ----------------------------------------------------------- */

/* Creates the directory if missing and proves it is writable by creating
 * and removing a probe file (access(2) would lie for root and on read-only
 * mounts). Prints the reason on failure. */
static int prepare_data_dir(const char *dir)
{
    int rc = ne_fs_mkdir_p(dir);
    if (rc != 0) {
        fprintf(stderr, "data dir %s cannot be created: %s\n", dir, ne_strerror(rc));
        return rc;
    }
    char probe[4096];
    snprintf(probe, sizeof(probe), "%s/.neoedge-write-probe", dir);
    int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        fprintf(stderr, "data dir %s is not writable: %s\n", dir, strerror(e));
        return ne_err_from_errno(e);
    }
    close(fd);
    unlink(probe);
    return 0;
}

/* Reads the pid the lock holder wrote into dir/LOCK; 0 if unknown. */
static long lock_holder_pid(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/LOCK", dir);
    char *text = NULL;
    size_t len = 0;
    if (ne_fs_read_all(path, &text, &len) != 0) return 0;
    long pid = strtol(text, NULL, 10);
    ne_free(text);
    return pid > 0 ? pid : 0;
}

static int lock_data_dir(const char *dir, int *fd)
{
    int rc = ne_fs_lock_dir(dir, fd);
    if (rc == NE_ELOCKED) {
        long pid = lock_holder_pid(dir);
        if (pid)
            fprintf(stderr, "data dir %s is in use by pid %ld\n", dir, pid);
        else
            fprintf(stderr, "data dir %s is in use by another process\n", dir);
    } else if (rc != 0) {
        fprintf(stderr, "data dir %s cannot be locked: %s\n", dir, ne_strerror(rc));
    }
    return rc;
}

/* ---- signals ------------------------------------------------------------ */

/* Blocks the daemon's signals in this thread (and so in every thread it
 * creates) and returns a signalfd for them, or -1. */
static int block_signals(void)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0) return -1;
    signal(SIGPIPE, SIG_IGN);
    return signalfd(-1, &set, SFD_CLOEXEC);
}

static void unblock_signals(int sfd)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    if (sfd >= 0) close(sfd);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}

/* Waits up to timeout_ms for the next signal; returns its number, 0 when
 * the time passed without one, or -1 on error. */
static int wait_signal(int sfd, int timeout_ms)
{
    struct signalfd_siginfo si;
    for (;;) {
        struct pollfd pfd = {.fd = sfd, .events = POLLIN};
        int pr = poll(&pfd, 1, timeout_ms);
        if (pr == 0) return 0;
        if (pr < 0 && errno == EINTR) continue;
        if (pr < 0) return -1;
        ssize_t n = read(sfd, &si, sizeof(si));
        if (n == (ssize_t)sizeof(si)) return (int)si.ssi_signo;
        if (n < 0 && errno == EINTR) continue;
        return -1;
    }
}

/* ---- service manager notification ------------------------------------ */

/* Fills *sa from $NOTIFY_SOCKET; returns the address length, 0 when the
 * variable is unset or unusable. */
static socklen_t notify_address(struct sockaddr_un *sa)
{
    const char *path = getenv("NOTIFY_SOCKET");
    if (!path || !*path) return 0;
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(sa->sun_path)) return 0;
    memset(sa, 0, sizeof(*sa));
    sa->sun_family = AF_UNIX;
    memcpy(sa->sun_path, path, len);
    if (path[0] == '@') {
        sa->sun_path[0] = '\0'; /* abstract: the length, not a NUL, ends it */
        return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    }
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
}

/* Sends one state message to the service manager, if there is one. */
static void notify_service_manager(const char *msg)
{
    static bool warned;
    struct sockaddr_un sa;
    socklen_t salen = notify_address(&sa);
    if (salen == 0) return;
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ssize_t n = -1;
    int e = 0;
    if (fd >= 0) {
        n = sendto(fd, msg, strlen(msg), MSG_NOSIGNAL, (struct sockaddr *)&sa, salen);
        e = errno;
        close(fd);
    } else {
        e = errno;
    }
    if (n < 0 && !warned) {
        warned = true;
        ne_log(NE_LOG_WARN, MOD, "cannot notify the service manager", "socket",
               getenv("NOTIFY_SOCKET"), "err", strerror(e), NULL);
    }
}

/* "RELOADING=1" with the CLOCK_MONOTONIC time systemd expects with it. */
static void notify_reloading(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    char msg[64];
    snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000u);
    notify_service_manager(msg);
}

/* ---- modules ------------------------------------------------------------- */

static size_t module_count(void)
{
    size_t n = 0;
    while (ne_agent_modules[n])
        n++;
    return n;
}

static void stop_modules(struct ne_agent *a, const bool *started, size_t n)
{
    for (size_t i = n; i-- > 0;) {
        if (!started[i]) continue;
        const struct ne_module_ops *m = ne_agent_modules[i];
        ne_log(NE_LOG_INFO, MOD, "stopping module", "module", m->name, NULL);
        m->stop(a);
    }
}

/* Starts every enabled module in order; on failure stops the started ones
 * in reverse and returns the error. */
static int start_modules(struct ne_agent *a, bool *started)
{
    size_t n = module_count();
    for (size_t i = 0; i < n; i++) {
        const struct ne_module_ops *m = ne_agent_modules[i];
        if (m->enabled && !m->enabled(a->cfg)) {
            ne_log(NE_LOG_INFO, MOD, "module disabled", "module", m->name, NULL);
            continue;
        }
        int rc = m->start(a);
        if (rc != 0) {
            ne_log(NE_LOG_ERROR, MOD, "module failed to start", "module", m->name, "err",
                   ne_strerror(rc), NULL);
            m->stop(a);
            stop_modules(a, started, i);
            return rc;
        }
        started[i] = true;
    }
    return 0;
}

/* ---- reload -------------------------------------------------------------- */

struct diff_ctx {
    unsigned changed;
};

/* Keys the daemon applies at run time. ne_config_diff may call more keys
 * "live" than the daemon can change today (store tuning has no setter):
 * those are reported as needing a restart, which is what they need. */
static bool key_applied_live(const char *key)
{
    return strncmp(key, "log.", 4) == 0 || strcmp(key, "http.auth_token") == 0;
}

static void log_changed_key(void *ctx, const char *key, bool live)
{
    struct diff_ctx *d = ctx;
    d->changed++;
    if (live && key_applied_live(key))
        ne_log(NE_LOG_INFO, MOD, "config key changed, applied", "key", key, NULL);
    else
        ne_log(NE_LOG_WARN, MOD, "config key changed, needs restart", "key", key, NULL);
}

/* Loads the config again. On error keeps *current; on success applies the
 * live keys and makes the new config current. */
static void reload(struct ne_agent *a, const char *path, const char *data_dir_override,
                   const bool *started, struct ne_config **current)
{
    ne_log(NE_LOG_INFO, MOD, "reloading config", "path", path ? path : "(embedded default)", NULL);
    struct ne_config_error err;
    memset(&err, 0, sizeof(err));
    struct ne_config *next = NULL;
    int rc = ne_config_load(path, NULL, &next, &err);
    if (rc != 0) {
        char line[1024];
        ne_log(NE_LOG_ERROR, MOD, "reload failed, keeping the running config", "err",
               err.msg[0] ? ne_config_error_format(&err, line, sizeof(line)) : ne_strerror(rc),
               NULL);
        return;
    }
    if (data_dir_override) {
        char *dd = ne_strdup(data_dir_override);
        if (!dd) {
            ne_log(NE_LOG_ERROR, MOD, "reload failed, keeping the running config", "err",
                   ne_strerror(NE_ENOMEM), NULL);
            ne_config_free(&next);
            return;
        }
        ne_free(next->data_dir);
        next->data_dir = dd;
    }
    /* Report the changes at the more verbose of the old and new levels, so
     * a switch to a quieter level is still seen in the log. */
    enum ne_log_level lvl = ne_log_get_level();
    if (next->log.level < lvl) ne_log_set_level(next->log.level);
    struct diff_ctx d = {0};
    ne_config_diff(*current, next, log_changed_key, &d);
    apply_log_settings(next);
    for (size_t i = 0; ne_agent_modules[i]; i++)
        if (started[i] && ne_agent_modules[i]->reload) ne_agent_modules[i]->reload(a, next);
    char nbuf[24];
    snprintf(nbuf, sizeof(nbuf), "%u", d.changed);
    ne_log(NE_LOG_INFO, MOD, "config reloaded", "changed", nbuf, NULL);
    if (*current != a->cfg) ne_config_free(current);
    *current = next;
}

/* ---- run ----------------------------------------------------------------- */

static int arm_faults_from_env(void)
{
    const char *spec = getenv("NEOEDGE_FAULTS");
    if (!spec || !*spec) return 0;
    int rc = ne_fault_arm_spec(spec);
    if (rc != 0) fprintf(stderr, "NEOEDGE_FAULTS=%s: %s\n", spec, ne_strerror(rc));
    return rc;
}

static int override_data_dir(struct ne_config *cfg, const char *dir)
{
    if (!dir) return 0;
    char *dd = ne_strdup(dir);
    if (!dd) return NE_ENOMEM;
    ne_free(cfg->data_dir);
    cfg->data_dir = dd;
    return 0;
}

/* Everything before the modules: returns 0 with the lock held. */
static int prepare(const struct ne_daemon_opts *o, struct ne_config **cfg, int *lock_fd)
{
    int rc = ne_daemon_load_config(o->config_path, cfg);
    if (rc != 0) return rc;
    rc = override_data_dir(*cfg, o->data_dir);
    if (rc != 0) {
        fprintf(stderr, "neoedge: %s\n", ne_strerror(rc));
        return rc;
    }
    apply_log_settings(*cfg);
    rc = arm_faults_from_env();
    if (rc != 0) return rc;
    rc = ne_io_init((*cfg)->storage.io_backend);
    if (rc != 0) {
        fprintf(stderr, "storage.io_backend %s: %s\n",
                ne_io_backend_name((*cfg)->storage.io_backend), ne_strerror(rc));
        return rc;
    }
    rc = prepare_data_dir((*cfg)->data_dir);
    if (rc != 0) return rc;
    return lock_data_dir((*cfg)->data_dir, lock_fd);
}

static void serve(struct ne_agent *a, int sfd, const struct ne_daemon_opts *o, const bool *started)
{
    struct ne_config *current = (struct ne_config *)a->cfg;
    for (;;) {
        int sig = wait_signal(sfd, NE_HEAP_TRIM_INTERVAL_MS);
        if (sig == 0) {
            (void)ne_heap_trim();
            continue;
        }
        if (sig == SIGHUP) {
            notify_reloading();
            reload(a, o->config_path, o->data_dir, started, &current);
            notify_service_manager("READY=1\nSTATUS=serving");
            continue;
        }
        notify_service_manager("STOPPING=1\nSTATUS=stopping");
        ne_log(NE_LOG_INFO, MOD, "stopping", "signal",
               sig == SIGINT    ? "SIGINT"
               : sig == SIGTERM ? "SIGTERM"
                                : "error",
               NULL);
        break;
    }
    if (current != a->cfg) ne_config_free(&current);
}

int ne_daemon_run(const struct ne_daemon_opts *o)
{
    struct ne_config *cfg = NULL;
    int lock_fd = -1;
    int exit_code = 1;
    int rc = prepare(o, &cfg, &lock_fd);
    if (rc != 0) goto out;

    int sfd = block_signals();
    if (sfd < 0) {
        fprintf(stderr, "neoedge: cannot set up signal handling: %s\n", strerror(errno));
        goto out_unlock;
    }
    struct ne_agent a;
    memset(&a, 0, sizeof(a));
    a.cfg = cfg;
    a.data_dir = cfg->data_dir;

    bool started[16] = {false};
    if (module_count() > sizeof(started) / sizeof(started[0]))
        abort(); /* the table outgrew this array: a build mistake */
    rc = start_modules(&a, started);
    if (rc != 0) {
        unblock_signals(sfd);
        goto out_unlock;
    }
    ne_log(NE_LOG_INFO, MOD, "neoedge started", "version", ne_agent_version(), "data_dir",
           cfg->data_dir, "node", cfg->node_id ? cfg->node_id : "", NULL);
    notify_service_manager("READY=1\nSTATUS=serving");
    (void)ne_heap_register_metrics(); /* a missing counter does not stop the trims */
    serve(&a, sfd, o, started);
    stop_modules(&a, started, module_count());
    unblock_signals(sfd);
    ne_log(NE_LOG_INFO, MOD, "neoedge stopped", NULL);
    exit_code = 0;
out_unlock:
    ne_fs_unlock_dir(lock_fd);
out:
    ne_config_free(&cfg);
    return exit_code;
}
