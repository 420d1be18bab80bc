/*
 * procstats.h - process figures for /metrics, read from /proc/self.
 */
#ifndef NE_AGENT_PROCSTATS_H
#define NE_AGENT_PROCSTATS_H

/* Registers, once per process, the computed gauges
 *   neoedge_build_info{version="..."} 1
 *   process_resident_memory_bytes, process_virtual_memory_bytes,
 *   process_cpu_seconds_total, process_open_fds, process_max_fds,
 *   process_start_time_seconds,
 *   neoedge_heap_in_use_bytes, neoedge_heap_free_bytes,
 *   neoedge_heap_mmapped_bytes
 * in the metrics registry (ports/metrics.h); their values are read from
 * /proc/self each time /metrics is rendered. version is copied. Returns 0
 * or NE_ENOMEM. */
int ne_procstats_register(const char *version);

/* The individual figures (tests). Each returns -1 when /proc cannot be read. */
double ne_procstats_rss_bytes(void);
double ne_procstats_cpu_seconds(void);
double ne_procstats_open_fds(void);
double ne_procstats_start_time(void);

/* The C heap as glibc's allocator sees it (mallinfo2, summed over every
 * arena). in_use: bytes handed out by malloc and not yet freed, including
 * large blocks served by mmap; free: bytes held in the arenas' free lists
 * (memory the process already owns but does not use: resident only where
 * touched, returned to the kernel by malloc_trim); mmapped: the part of
 * in_use served by mmap. Each returns -1 when the C library has no
 * mallinfo2 (the figures under a sanitizer are its own, not glibc's). */
double ne_procstats_heap_in_use(void);
double ne_procstats_heap_free(void);
double ne_procstats_heap_mmapped(void);

/* Seconds since the process started, on the boot clock (CLOCK_BOOTTIME):
 * unaffected by wall clock steps, which gateways without a battery-backed
 * clock see at every boot. -1 when /proc cannot be read. */
double ne_procstats_uptime_seconds(void);

#endif
