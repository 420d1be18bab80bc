/*
 * time.c - clocks: monotonic (CLOCK_MONOTONIC) and wall (CLOCK_REALTIME).
 *
 * Invariants: the monotonic clock is never injected. The wall clock can be
 * replaced by a test function; the pair (fn, ctx) is published as one
 * pointer to an immutable record, so a reader never sees fn with another
 * fn's ctx. Records are kept (never freed) because a reader may still hold
 * one; tests install a handful at most.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "ports/platform.h"

struct wall_hook {
    ne_wall_clock_fn fn;
    void *ctx;
};

/* A small ring of records so re-installing never frees one in use. */
#define HOOK_SLOTS 64
static struct wall_hook g_hooks[HOOK_SLOTS];
static _Atomic unsigned g_hook_next;
static struct wall_hook *_Atomic g_hook;

static int64_t read_clock(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t ne_time_mono_ns(void)
{
    return read_clock(CLOCK_MONOTONIC);
}

int64_t ne_time_wall_ns(void)
{
    struct wall_hook *h = atomic_load_explicit(&g_hook, memory_order_acquire);
    if (__builtin_expect(h != NULL, 0)) return h->fn(h->ctx);
    return read_clock(CLOCK_REALTIME);
}

void ne_time_set_wall_clock(ne_wall_clock_fn fn, void *ctx)
{
    if (!fn) {
        atomic_store_explicit(&g_hook, NULL, memory_order_release);
        return;
    }
    unsigned slot = atomic_fetch_add(&g_hook_next, 1) % HOOK_SLOTS;
    g_hooks[slot].fn = fn;
    g_hooks[slot].ctx = ctx;
    atomic_store_explicit(&g_hook, &g_hooks[slot], memory_order_release);
}

void ne_time_sleep_ns(int64_t ns)
{
    if (ns <= 0) return;
    struct timespec ts = {.tv_sec = ns / 1000000000, .tv_nsec = ns % 1000000000};
    while (clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, &ts) == EINTR) {
    }
}
