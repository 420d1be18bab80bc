/*
 * alloc.c - the allocation wrappers every module uses.
 *
 * They are libc's allocator plus the NE_FAULT_ALLOC hook, so a test can make
 * the Nth allocation anywhere in the process fail and check that the caller
 * returns NE_ENOMEM and leaks nothing. Unarmed, the hook costs one relaxed
 * atomic load.
 */
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

void *ne_malloc(size_t n)
{
    if (alloc_fails()) return NULL;
    return malloc(n ? n : 1);
}

void *ne_calloc(size_t count, size_t size)
{
    if (alloc_fails()) return NULL;
    if (count == 0 || size == 0) count = size = 1;
    return calloc(count, size);
}

void *ne_realloc(void *p, size_t n)
{
    if (alloc_fails()) return NULL;
    return realloc(p, n ? n : 1);
}

void ne_free(void *p)
{
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
