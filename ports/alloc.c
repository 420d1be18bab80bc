/*
 * alloc.c - the allocation wrappers every module uses.
 *
 * They are libc's allocator plus the NE_FAULT_ALLOC hook, so a test can make
 * the Nth allocation anywhere in the process fail and check that the caller
 * returns NE_ENOMEM and leaks nothing. Unarmed, the hook costs one relaxed
 * atomic load; so does the byte accounting that tests use to bound the
 * memory of an operation (ne_alloc_track).
 */
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "ports/platform.h"
#include "ports/ports_internal.h"

static bool alloc_fails(void)
{
    return ports__fault_check(NE_FAULT_ALLOC) >= 0;
}

/* Accounting (ne_alloc_track): bytes held net of frees since it started,
 * and their peak. Off, it costs one relaxed load per call. */
static atomic_bool track_on;
static atomic_llong track_cur, track_peak;

static void track_add(void *p, long long sign)
{
    if (!p || !atomic_load_explicit(&track_on, memory_order_relaxed)) return;
    long long d = sign * (long long)malloc_usable_size(p);
    long long cur = atomic_fetch_add(&track_cur, d) + d;
    long long peak = atomic_load(&track_peak);
    while (cur > peak && !atomic_compare_exchange_weak(&track_peak, &peak, cur)) {
    }
}

void ne_alloc_track(bool on)
{
    atomic_store(&track_on, false);
    if (!on) return; /* stopped: the peak stays readable */
    atomic_store(&track_cur, 0);
    atomic_store(&track_peak, 0);
    atomic_store(&track_on, true);
}

size_t ne_alloc_peak(void)
{
    long long p = atomic_load(&track_peak);
    return p > 0 ? (size_t)p : 0;
}

void *ne_malloc(size_t n)
{
    if (alloc_fails()) return NULL;
    void *p = malloc(n ? n : 1);
    track_add(p, 1);
    return p;
}

void *ne_calloc(size_t count, size_t size)
{
    if (alloc_fails()) return NULL;
    if (count == 0 || size == 0) count = size = 1;
    void *p = calloc(count, size);
    track_add(p, 1);
    return p;
}

void *ne_realloc(void *p, size_t n)
{
    if (alloc_fails()) return NULL;
    size_t old = p && atomic_load_explicit(&track_on, memory_order_relaxed) ? malloc_usable_size(p)
                                                                           : 0;
    void *q = realloc(p, n ? n : 1);
    if (q && old) atomic_fetch_sub(&track_cur, (long long)old);
    track_add(q, 1);
    return q;
}

bool ne_realloc_array(void *pp, size_t n, size_t size)
{
    void *p;
    memcpy(&p, pp, sizeof p); /* object pointers share one representation (POSIX) */
    p = ne_realloc(p, n * size);
    if (!p) return false;
    memcpy(pp, &p, sizeof p);
    return true;
}

size_t ne_grown_cap(size_t cap, size_t first, size_t need)
{
    size_t c = cap ? cap : first;
    while (c < need)
        c *= 2;
    return c;
}

void ne_free(void *p)
{
    track_add(p, -1);
    free(p);
}

char *ne_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = ne_malloc(len + 1);
    if (!d) return NULL;
    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

char *ne_strdup(const char *s)
{
    return ne_strndup(s, strlen(s));
}

void ne_alloc_trim(void)
{
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
}
