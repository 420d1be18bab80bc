/*
 * procstats.h - process figures for /metrics, read from /proc/self.
 */
#ifndef NE_AGENT_PROCSTATS_H
#define NE_AGENT_PROCSTATS_H

/* Registers, once per process, the computed gauges
 *   neoedge_build_info{version="..."} 1
 *   process_resident_memory_bytes, process_virtual_memory_bytes,
 *   process_cpu_seconds_total, process_open_fds, process_max_fds,
 *   process_start_time_seconds
 * in the metrics registry (ports/metrics.h); their values are read from
 * /proc/self each time /metrics is rendered. version is copied. Returns 0
 * or NE_ENOMEM. */
int ne_procstats_register(const char *version);

/* The individual figures (tests). Each returns -1 when /proc cannot be read. */
double ne_procstats_rss_bytes(void);
double ne_procstats_cpu_seconds(void);
double ne_procstats_open_fds(void);
double ne_procstats_start_time(void);

/* Seconds since the process started, on the boot clock (CLOCK_BOOTTIME):
 * unaffected by wall clock steps, which gateways without a battery-backed
 * clock see at every boot. -1 when /proc cannot be read. */
double ne_procstats_uptime_seconds(void);

#endif
