/*
 * crash_util.h - helpers shared by the crash tests: a scratch directory on
 * a RAM disk when there is one (the simulation decides durability, so the
 * tests need no real fsync), running a function in a child process, seeds
 * and iteration counts from the environment.
 */
#ifndef NE_TESTS_CRASH_UTIL_H
#define NE_TESTS_CRASH_UTIL_H

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

/* NEOEDGE_CRASH_ITERATIONS, else def. */
static inline long cu_iterations(long def)
{
    const char *e = getenv("NEOEDGE_CRASH_ITERATIONS");
    long n = e && *e ? strtol(e, NULL, 10) : 0;
    return n > 0 ? n : def;
}

#endif
