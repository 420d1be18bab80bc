/*
 * procstats.c - process figures from /proc/self for /metrics.
 *
 * Sources (proc(5)):
 *   /proc/self/statm   field 2: resident pages; field 1: total program pages
 *   /proc/self/stat    fields 14, 15: utime, stime (clock ticks);
 *                      field 22: start time (clock ticks after boot, the
 *                      boot clock CLOCK_BOOTTIME counts from)
 *   /proc/stat         "btime": boot time in seconds since the epoch
 *   /proc/self/fd      one entry per open descriptor
 *   getrlimit(RLIMIT_NOFILE) for process_max_fds
 *   mallinfo2() (glibc >= 2.33) for the neoedge_heap_* gauges: uordblks
 *                      + hblkhd in use, fordblks free in the arenas, hblkhd
 *                      served by mmap. RSS minus in-use is what the
 *                      allocator keeps (free chunks, arena tops, per-thread
 *                      arenas) plus code, stacks and libraries.
 * The comm field of /proc/self/stat may hold spaces and parentheses, so the
 * numeric fields are read after its last ')'.
 */
#include "agent/procstats.h"

#include <dirent.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "ports/err.h"
#include "ports/metrics.h"

static int read_small_file(const char *path, char *buf, size_t n)
{
    FILE *f = fopen(path, "re");
    if (!f) return -1;
    size_t got = fread(buf, 1, n - 1, f);
    fclose(f);
    buf[got] = '\0';
    return got > 0 ? 0 : -1;
}

static double statm_field(int idx)
{
    char buf[256];
    if (read_small_file("/proc/self/statm", buf, sizeof(buf)) != 0) return -1;
    unsigned long long v[2] = {0, 0};
    if (sscanf(buf, "%llu %llu", &v[0], &v[1]) != 2) return -1;
    return (double)v[idx] * (double)sysconf(_SC_PAGESIZE);
}

double ne_procstats_rss_bytes(void)
{
    return statm_field(1);
}

static double vm_bytes(void *ctx)
{
    (void)ctx;
    return statm_field(0);
}

/* Reads fields 14.. of /proc/self/stat: utime, stime and starttime. */
static int stat_times(unsigned long long *utime, unsigned long long *stime,
                      unsigned long long *start)
{
    char buf[2048];
    if (read_small_file("/proc/self/stat", buf, sizeof(buf)) != 0) return -1;
    const char *p = strrchr(buf, ')');
    if (!p) return -1;
    /* After ") " come fields 3.. : state ppid pgrp session tty tpgid flags
     * minflt cminflt majflt cmajflt utime stime cutime cstime priority nice
     * num_threads itrealvalue starttime. */
    char state;
    long long skip[9];
    long long cutime, cstime, prio, nice, nthreads, itreal;
    int n = sscanf(p + 1,
                   " %c %lld %lld %lld %lld %lld %lld %lld %lld %lld %lld %llu %llu %lld %lld %lld "
                   "%lld %lld %lld %llu",
                   &state, &skip[0], &skip[1], &skip[2], &skip[3], &skip[4], &skip[5], &skip[6],
                   &skip[7], &skip[8], &skip[8], utime, stime, &cutime, &cstime, &prio, &nice,
                   &nthreads, &itreal, start);
    return n == 20 ? 0 : -1;
}

double ne_procstats_cpu_seconds(void)
{
    unsigned long long u, s, st;
    if (stat_times(&u, &s, &st) != 0) return -1;
    return (double)(u + s) / (double)sysconf(_SC_CLK_TCK);
}

static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "re");
    if (!f) return -1;
    char line[512];
    double bt = -1;
    while (fgets(line, sizeof(line), f)) {
        unsigned long long v;
        if (sscanf(line, "btime %llu", &v) == 1) {
            bt = (double)v;
            break;
        }
    }
    fclose(f);
    return bt;
}

double ne_procstats_start_time(void)
{
    unsigned long long u, s, st;
    double bt = boot_time();
    if (bt < 0 || stat_times(&u, &s, &st) != 0) return -1;
    return bt + (double)st / (double)sysconf(_SC_CLK_TCK);
}

double ne_procstats_uptime_seconds(void)
{
    unsigned long long u, s, st;
    struct timespec now;
    if (stat_times(&u, &s, &st) != 0 || clock_gettime(CLOCK_BOOTTIME, &now) != 0) return -1;
    double up = (double)now.tv_sec + (double)now.tv_nsec / 1e9 -
                (double)st / (double)sysconf(_SC_CLK_TCK);
    return up > 0 ? up : 0;
}

double ne_procstats_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d) return -1;
    double n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') n++;
    closedir(d);
    return n - 1; /* the descriptor opendir itself holds */
}

#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
#define NE_HAVE_MALLINFO2 1
#endif

double ne_procstats_heap_in_use(void)
{
#ifdef NE_HAVE_MALLINFO2
    struct mallinfo2 mi = mallinfo2();
    return (double)(mi.uordblks + mi.hblkhd);
#else
    return -1;
#endif
}

double ne_procstats_heap_free(void)
{
#ifdef NE_HAVE_MALLINFO2
    struct mallinfo2 mi = mallinfo2();
    return (double)mi.fordblks;
#else
    return -1;
#endif
}

double ne_procstats_heap_mmapped(void)
{
#ifdef NE_HAVE_MALLINFO2
    struct mallinfo2 mi = mallinfo2();
    return (double)mi.hblkhd;
#else
    return -1;
#endif
}

static double heap_in_use_fn(void *ctx)
{
    (void)ctx;
    return ne_procstats_heap_in_use();
}

static double heap_free_fn(void *ctx)
{
    (void)ctx;
    return ne_procstats_heap_free();
}

static double heap_mmapped_fn(void *ctx)
{
    (void)ctx;
    return ne_procstats_heap_mmapped();
}

static double max_fds(void *ctx)
{
    (void)ctx;
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return -1;
    return rl.rlim_cur == RLIM_INFINITY ? -1 : (double)rl.rlim_cur;
}

static double rss_fn(void *ctx)
{
    (void)ctx;
    return ne_procstats_rss_bytes();
}

static double cpu_fn(void *ctx)
{
    (void)ctx;
    return ne_procstats_cpu_seconds();
}

static double fds_fn(void *ctx)
{
    (void)ctx;
    return ne_procstats_open_fds();
}

static double start_fn(void *ctx)
{
    (void)ctx;
    return ne_procstats_start_time();
}

static double one_fn(void *ctx)
{
    (void)ctx;
    return 1;
}

int ne_procstats_register(const char *version)
{
    char labels[192];
    snprintf(labels, sizeof(labels), "version=\"%s\"", version);
    struct {
        const char *name, *help, *labels;
        ne_metric_fn fn;
    } g[] = {
        {"neoedge_build_info", "neoedge build information (always 1)", labels, one_fn},
        {"process_resident_memory_bytes", "Resident memory size in bytes.", NULL, rss_fn},
        {"process_virtual_memory_bytes", "Virtual memory size in bytes.", NULL, vm_bytes},
        {"process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", NULL,
         cpu_fn},
        {"process_open_fds", "Number of open file descriptors.", NULL, fds_fn},
        {"process_max_fds", "Maximum number of open file descriptors.", NULL, max_fds},
        {"process_start_time_seconds", "Start time of the process since unix epoch in seconds.",
         NULL, start_fn},
        {"neoedge_heap_in_use_bytes",
         "C heap bytes allocated and not freed (glibc mallinfo2, all arenas).", NULL,
         heap_in_use_fn},
        {"neoedge_heap_free_bytes",
         "C heap bytes free in the allocator's arenas, kept by the process.", NULL, heap_free_fn},
        {"neoedge_heap_mmapped_bytes", "C heap bytes in large blocks served by mmap.", NULL,
         heap_mmapped_fn},
    };
    for (size_t i = 0; i < sizeof(g) / sizeof(g[0]); i++)
        if (!ne_metric_gauge_fn(g[i].name, g[i].help, g[i].labels, g[i].fn, NULL)) return NE_ENOMEM;
    return 0;
}
