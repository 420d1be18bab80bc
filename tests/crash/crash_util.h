/*
 * crash_util.h - helpers shared by the crash tests: a scratch directory on
 * a RAM disk when there is one (the simulation decides durability, so the
 * tests need no real fsync), running a function in a child process (with
 * a pipe for the lines it reports), seeds and iteration counts from the
 * environment.
 */
#ifndef NE_TESTS_CRASH_UTIL_H
#define NE_TESTS_CRASH_UTIL_H

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ports/crashsim.h"
#include "ports/platform.h"

/* Creates a fresh directory for one test run into buf. Returns 0 or -1. */
static inline int cu_mkdtemp(char *buf, size_t n, const char *tag)
{
    const char *base = getenv("NEOEDGE_CRASH_TMP");
    struct stat st;
    if (!base) base = (stat("/dev/shm", &st) == 0 && access("/dev/shm", W_OK) == 0) ? "/dev/shm" : "/tmp";
    snprintf(buf, n, "%s/neoedge-%s-XXXXXX", base, tag);
    return mkdtemp(buf) ? 0 : -1;
}

/* Runs fn(arg) in a child process that exits with fn's return value (or
 * NE_CRASHSIM_EXIT when the simulation crashed it). Returns the exit
 * status, or 1000 + signal number if it died by a signal, -1 if fork
 * failed. stdout/stderr are flushed first so nothing prints twice. */
static inline int cu_run_child(int (*fn)(void *), void *arg)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) _exit(fn(arg));
    int st = 0;
    while (waitpid(pid, &st, 0) < 0)
        ;
    if (WIFSIGNALED(st)) return 1000 + WTERMSIG(st);
    return WEXITSTATUS(st);
}

/* Runs fn(arg) in a child process, as cu_run_child, with a pipe back to
 * the parent: in the child *child_fd is the pipe's write end (for
 * cu_say) before fn runs. The parent reads until the child closed it and
 * hands each line, without its newline, to on_line(ctx, line) (a line of
 * 512 bytes or more arrives in pieces). Returns the child's exit status,
 * 1000 + signal number if it died by a signal, -1 if pipe or fork failed. */
static inline int cu_run_child_lines(int (*fn)(void *), void *arg, int *child_fd,
                                     void (*on_line)(void *ctx, const char *line), void *ctx)
{
    int fds[2];
    if (pipe(fds) != 0) return -1;
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        close(fds[0]);
        *child_fd = fds[1];
        _exit(fn(arg));
    }
    close(fds[1]);
    char buf[8192], line[512];
    size_t ll = 0;
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) != 0) {
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        for (ssize_t k = 0; k < n; k++) {
            if (buf[k] == '\n' || ll == sizeof line - 1) {
                line[ll] = '\0';
                on_line(ctx, line);
                ll = 0;
            } else {
                line[ll++] = buf[k];
            }
        }
    }
    close(fds[0]);
    if (pid < 0) return -1;
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    return WIFSIGNALED(st) ? 1000 + WTERMSIG(st) : WEXITSTATUS(st);
}

/* Writes a printf-formatted report (cut at 511 bytes) to fd, the child's
 * end of the cu_run_child_lines pipe; a failed write ends the child with
 * exit status 90. */
static inline void cu_say(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void cu_say(int fd, const char *fmt, ...)
{
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n >= (int)sizeof line) n = (int)sizeof line - 1;
    if (n > 0 && write(fd, line, (size_t)n) != n) _exit(90);
}

/* How a child ended, from its report lines: the power cut ("C", written
 * by cu_say_cut), the syncs and writes of a clean end ("END"), and its
 * error lines ("E ..."), one after the other. */
struct cu_report {
    bool crashed;
    char site[32], cause[16];
    int phase;
    uint64_t kept, lost, dir_pending, dir_undone, trunc_undone;
    uint64_t end_syncs, end_writes;
    char errors[1024];
};

/* In the child: reports the power cut r, in phase phase of the test, at
 * site (the structure the cut file belongs to), to fd. */
static inline void cu_say_cut(int fd, const char *site, int phase,
                              const struct ne_crashsim_report *r)
{
    cu_say(fd, "C %s %s %d %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", site,
           r->cause, phase, r->kept, r->dropped + r->garbled + r->torn, r->dir_ops_pending,
           r->dir_ops_undone, r->truncates_undone);
}

/* In the parent: takes a C, END or E line into rep. Returns true when it
 * was one of them. */
static inline bool cu_parse_report(struct cu_report *rep, const char *line)
{
    uint64_t a[5];
    char site[32], cause[16];
    int phase;
    if (sscanf(line, "C %31s %15s %d %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
               site, cause, &phase, &a[0], &a[1], &a[2], &a[3], &a[4]) == 8) {
        rep->crashed = true;
        snprintf(rep->site, sizeof rep->site, "%s", site);
        snprintf(rep->cause, sizeof rep->cause, "%s", cause);
        rep->phase = phase;
        rep->kept = a[0];
        rep->lost = a[1];
        rep->dir_pending = a[2];
        rep->dir_undone = a[3];
        rep->trunc_undone = a[4];
    } else if (sscanf(line, "END %" SCNu64 " %" SCNu64, &a[0], &a[1]) == 2) {
        rep->end_syncs = a[0];
        rep->end_writes = a[1];
    } else if (line[0] == 'E') {
        size_t n = strlen(rep->errors);
        snprintf(rep->errors + n, sizeof rep->errors - n, "%s", line);
    } else {
        return false;
    }
    return true;
}

/* True when s ends with suffix (naming the file a sync belongs to). */
static inline bool cu_ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

/* xorshift64*: the tests' reproducible random numbers. */
static inline uint64_t cu_rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1DULL;
}

/* A seed from NEOEDGE_CRASH_SEED, else from the clock (printed by callers). */
static inline uint64_t cu_seed(void)
{
    const char *e = getenv("NEOEDGE_CRASH_SEED");
    if (e && *e) return strtoull(e, NULL, 0);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec * 1000003u) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
}

/* The seed of iteration it of a run seeded with seed (never 0). */
static inline uint64_t cu_mix(uint64_t seed, long it)
{
    uint64_t r = seed + (uint64_t)it * 0x9e3779b97f4a7c15ULL;
    cu_rnd(&r);
    return cu_rnd(&r) | 1;
}

/* Where iteration it of a power-loss loop (run seed is) cuts the power,
 * given the syncs and writes of a clean run: three runs in four at a sync
 * (up to a tenth past the clean count, so some runs end cleanly), one
 * right after a write. Sets one of *at_sync and *at_write, the other to 0. */
static inline void cu_cut_point(uint64_t is, long it, uint64_t clean_syncs, uint64_t clean_writes,
                                uint64_t *at_sync, uint64_t *at_write)
{
    uint64_t r = is;
    uint64_t max_sync = clean_syncs + clean_syncs / 10 + 1;
    uint64_t max_write = clean_writes + clean_writes / 10 + 1;
    *at_sync = *at_write = 0;
    if (it % 4 == 3)
        *at_write = 1 + cu_rnd(&r) % max_write;
    else
        *at_sync = 1 + cu_rnd(&r) % max_sync;
}

/* NEOEDGE_CRASH_ITERATIONS, else def. */
static inline long cu_iterations(long def)
{
    const char *e = getenv("NEOEDGE_CRASH_ITERATIONS");
    long n = e && *e ? strtol(e, NULL, 10) : 0;
    return n > 0 ? n : def;
}

#endif
