/*
 * bench_ports.c - throughput of the ports/ hot paths; prints a table.
 * Not a test: nothing is asserted. Run from a build without sanitizers:
 *   ports_bench [dir]      (dir defaults to $TMPDIR or /tmp)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/crc32c.h"
#include "ports/metrics.h"
#include "ports/platform.h"
#include "ports/ports_internal.h"

static double secs_since(int64_t t0)
{
    return (double)(ne_time_mono_ns() - t0) / 1e9;
}

static void bench_crc(void)
{
    size_t len = 1 << 20;
    unsigned char *buf = ne_malloc(len);
    for (size_t i = 0; i < len; i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    int reps = 2000;
    uint32_t sink = 0;
    int64_t t0 = ne_time_mono_ns();
    for (int i = 0; i < reps; i++)
        sink = ne_crc32c(sink, buf, len);
    double hw = (double)len * reps / secs_since(t0) / 1e9;
    reps = 200;
    t0 = ne_time_mono_ns();
    for (int i = 0; i < reps; i++)
        sink = ports__crc32c_sw(sink, buf, len);
    double sw = (double)len * reps / secs_since(t0) / 1e9;
    printf("%-40s %10.2f GB/s\n", "crc32c ne_crc32c (1 MiB)", hw);
    printf("%-40s %10.2f GB/s\n", "crc32c table (1 MiB)", sw);
    t0 = ne_time_mono_ns();
    for (int i = 0; i < 10000000; i++)
        sink ^= ne_crc32c(sink, buf + (i & 1023), 24);
    printf("%-40s %10.1f ns\n", "crc32c 24-byte record", secs_since(t0) * 1e9 / 1e7);
    if (sink == 42) printf(" \n");
    ne_free(buf);
}

static void bench_files(const char *dir, enum ne_io_backend b)
{
    if (ne_io_init(b) != 0) {
        printf("%-40s %10s\n", ne_io_backend_name(b), "refused");
        return;
    }
    char path[512];
    snprintf(path, sizeof path, "%s/ports_bench.dat", dir);
    struct ne_file *f = NULL;
    if (ne_file_open(path, NE_F_WRITE | NE_F_CREATE | NE_F_TRUNC, &f) != 0) return;
    static unsigned char blk[64 << 10];
    memset(blk, 0xA5, sizeof blk);
    size_t sizes[] = {4096, 65536};
    for (size_t s = 0; s < 2; s++) {
        ne_file_truncate(f, 0);
        size_t total = 256u << 20, n = total / sizes[s];
        int64_t t0 = ne_time_mono_ns();
        for (size_t i = 0; i < n; i++)
            ne_file_append(f, blk, sizes[s]);
        double t = secs_since(t0);
        char label[64];
        snprintf(label, sizeof label, "%s append %zu KiB", ne_io_backend_name(b), sizes[s] >> 10);
        printf("%-40s %10.0f MB/s %8.2f us/op\n", label, total / t / 1e6, t * 1e6 / (double)n);
    }
    ne_file_truncate(f, 0);
    int n = 200;
    int64_t t0 = ne_time_mono_ns();
    for (int i = 0; i < n; i++) {
        ne_file_append(f, blk, 4096);
        ne_file_datasync(f);
    }
    double t = secs_since(t0);
    char label[64];
    snprintf(label, sizeof label, "%s append 4 KiB + fdatasync", ne_io_backend_name(b));
    printf("%-40s %10.0f op/s %8.1f us/op\n", label, n / t, t * 1e6 / n);
    ne_file_close(&f);
    ne_fs_unlink(path);
}

static void bench_hooks(void)
{
    int n = 20000000;
    int64_t t0 = ne_time_mono_ns();
    for (int i = 0; i < n; i++) {
        void *p = ne_malloc(32);
        ne_free(p);
    }
    double wrapped = secs_since(t0);
    t0 = ne_time_mono_ns();
    for (int i = 0; i < n; i++) {
        void *p = malloc(32);
        __asm__ volatile("" : : "r"(p) : "memory");
        free(p);
    }
    double raw = secs_since(t0);
    printf("%-40s %10.2f ns\n", "ne_malloc+ne_free (unarmed)", wrapped * 1e9 / n);
    printf("%-40s %10.2f ns\n", "malloc+free", raw * 1e9 / n);

    struct ne_metric *c = ne_metric_counter("bench_total", "b", NULL);
    struct ne_metric *h = ne_metric_histogram("bench_seconds", "b", NULL,
                                              (const double[]){0.001, 0.01, 0.1, 1, 10}, 5);
    t0 = ne_time_mono_ns();
    for (int i = 0; i < n; i++)
        ne_metric_inc(c);
    printf("%-40s %10.2f ns\n", "ne_metric_inc (one thread)", secs_since(t0) * 1e9 / n);
    t0 = ne_time_mono_ns();
    for (int i = 0; i < n; i++)
        ne_metric_observe(h, (double)(i & 31) * 0.01);
    printf("%-40s %10.2f ns\n", "ne_metric_observe (5 bounds)", secs_since(t0) * 1e9 / n);
    t0 = ne_time_mono_ns();
    for (int i = 0; i < n; i++)
        ne_time_wall_ns();
    printf("%-40s %10.2f ns\n", "ne_time_wall_ns", secs_since(t0) * 1e9 / n);
    ne_metrics_reset();
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
    printf("%-40s %10s\n", "operation", "result");
    bench_crc();
    bench_hooks();
    bench_files(dir, NE_IO_POSIX);
    bench_files(dir, NE_IO_URING);
    return 0;
}
