/*
 * heap.c - the allocator policy of the daemon (see heap.h).
 *
 * Why: the store loads one index per segment (columns and block references
 * with their statistics: a few MiB for a segment of ten thousand columns)
 * and frees it when compaction or retention retires the segment, about
 * once a second under steady ingest. With glibc's defaults those blocks
 * came from the arenas (the dynamic mmap threshold had grown past them),
 * small long-lived allocations settled between them, and the arenas kept
 * tens of MiB free but resident, slowly more as the holes moved: RSS crept
 * up while the heap in use stayed flat. A fixed mmap threshold gives the
 * large blocks back on free; the periodic trim returns the free pages the
 * small ones leave behind.
 */
#include "agent/heap.h"

#include <malloc.h>
#include <stddef.h>

#include "agent/procstats.h"
#include "ports/err.h"
#include "ports/metrics.h"

static struct ne_metric *m_released;

void ne_heap_setup(void)
{
#ifdef __GLIBC__
    mallopt(M_ARENA_MAX, 2);
    mallopt(M_MMAP_THRESHOLD, (int)NE_HEAP_MMAP_THRESHOLD);
#endif
}

double ne_heap_trim(void)
{
#ifdef __GLIBC__
    double before = ne_procstats_rss_bytes();
    malloc_trim(0);
    double after = ne_procstats_rss_bytes();
    double released = before >= 0 && after >= 0 && before > after ? before - after : 0;
    if (m_released && released > 0) ne_metric_add(m_released, (uint64_t)released);
    return released;
#else
    return 0;
#endif
}

int ne_heap_register_metrics(void)
{
    if (m_released) return 0;
    m_released = ne_metric_counter("neoedge_heap_released_bytes_total",
                                   "Resident bytes the periodic heap trim returned to the kernel.",
                                   NULL);
    return m_released ? 0 : NE_ENOMEM;
}
