/*
 * heap.h - how the daemon uses glibc's allocator: a few arenas, large
 * blocks straight from the kernel, and free pages handed back regularly.
 */
#ifndef NE_AGENT_HEAP_H
#define NE_AGENT_HEAP_H

/* Blocks of at least this size are served by mmap and unmapped when freed
 * (glibc's initial threshold, kept fixed: glibc would otherwise raise it to
 * the size of the largest block freed, up to 32 MiB, and serve segment
 * indexes, memtable columns and request buffers from the arenas, where
 * they fragment). */
#define NE_HEAP_MMAP_THRESHOLD (128u << 10)

/* How often the daemon's main thread returns free heap pages to the kernel
 * (ne_heap_trim). */
#define NE_HEAP_TRIM_INTERVAL_MS 10000

/* Sets the allocator up for a long-running daemon: at most two arenas and
 * the fixed mmap threshold above. Call once, before any thread starts.
 * Does nothing where the C library is not glibc. */
void ne_heap_setup(void);

/* Returns the free pages of every arena to the kernel (malloc_trim(0):
 * the top of each arena and whole free pages inside it), so that resident
 * memory follows what is in use rather than the highest it has been.
 * Takes each arena's lock in turn, briefly. Returns the drop of the
 * resident set across the call in bytes (0 when it did not drop or /proc
 * cannot be read), and adds it to the counter
 * neoedge_heap_released_bytes_total once ne_heap_register_metrics ran. */
double ne_heap_trim(void);

/* Registers neoedge_heap_released_bytes_total. Returns 0 or NE_ENOMEM. */
int ne_heap_register_metrics(void);

#endif
