/*
 * bench_s3.c - upload throughput of the S3 client on loopback.
 *
 * Run through bench/s3/run.sh, which starts s3rver behind the verifying
 * proxy and exports its port. For each object size the client uploads the
 * same random body a few times under distinct keys (1 MiB as one PUT,
 * 16 MiB and 128 MiB as multipart uploads of 8 MiB parts) and the table
 * shows MB/s (10^6 bytes per second of wall time, median run). A second
 * table shows the client-side cost alone: SHA-256 + MD5 of the body, which
 * every request pays before it is sent. Never asserts on time.
 */
#include <mbedtls/md5.h>
#include <mbedtls/sha256.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/platform.h"
#include "sync/s3/s3.h"

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (!v) {
        fprintf(stderr, "%s is not set: run bench/s3/run.sh\n", name);
        exit(2);
    }
    return v;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_dbl);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

struct row {
    const char *label;
    size_t size;
    int runs;
};

static int bench_row(struct ne_s3 *c, const struct row *r, const uint8_t *data)
{
    double mbps[16];
    struct ne_s3_stats before, after;
    ne_s3_stats(c, &before);
    for (int i = 0; i < r->runs; i++) {
        char key[96];
        snprintf(key, sizeof(key), "bench/size=%zu/run=%d.bin", r->size, i);
        struct ne_s3_reader rd = ne_s3_reader_mem(data, r->size);
        int64_t t0 = ne_time_mono_ns();
        int rc = ne_s3_put_object(c, key, &rd, NULL, NULL);
        int64_t t1 = ne_time_mono_ns();
        if (rc) {
            fprintf(stderr, "upload failed: %s\n", ne_s3_last_error(c));
            return rc;
        }
        mbps[i] = (double)r->size / 1e6 / ((double)(t1 - t0) / 1e9);
    }
    ne_s3_stats(c, &after);
    size_t parts = r->size >= (8u << 20) ? (r->size + (8u << 20) - 1) / (8u << 20) : 1;
    printf("| %-8s | %-9s | %5zu | %4d | %8llu | %8.1f |\n", r->label,
           parts > 1 ? "multipart" : "PUT", parts, r->runs,
           (unsigned long long)((after.requests - before.requests) / (uint64_t)r->runs),
           median(mbps, r->runs));
    return 0;
}

static void bench_hashing(const uint8_t *data, size_t n)
{
    uint8_t d[32];
    int64_t t0 = ne_time_mono_ns();
    mbedtls_sha256_ret(data, n, d, 0);
    int64_t t1 = ne_time_mono_ns();
    mbedtls_md5_ret(data, n, d);
    int64_t t2 = ne_time_mono_ns();
    printf("\n| client hash | MB/s |\n|---|---:|\n");
    printf("| SHA-256 (x-amz-content-sha256) | %.0f |\n",
           (double)n / 1e6 / ((double)(t1 - t0) / 1e9));
    printf("| MD5 (Content-MD5) | %.0f |\n", (double)n / 1e6 / ((double)(t2 - t1) / 1e9));
}

int main(void)
{
    static const struct row rows[] = {
        {"1 MiB", 1u << 20, 9},
        {"16 MiB", 16u << 20, 5},
        {"128 MiB", 128u << 20, 3},
    };
    char endpoint[64];
    snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%s", env("S3_IT_PROXY_PORT"));
    struct ne_s3_opts o;
    ne_s3_opts_init(&o);
    o.endpoint = endpoint;
    o.bucket = env("S3_IT_BUCKET");
    o.access_key = env("S3_IT_ACCESS");
    o.secret_key = env("S3_IT_SECRET");
    o.region = "us-east-1";
    o.path_style = true;
    o.part_size = 8u << 20;
    o.multipart_threshold = 8u << 20;
    struct ne_s3 *c = NULL;
    if (ne_s3_open(&o, &c)) return 1;
    size_t max = 128u << 20;
    uint8_t *data = malloc(max);
    if (!data) return 1;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i < max; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(data + i, &x, 8);
    }
    printf("S3 upload to s3rver on loopback through the SigV4-verifying proxy\n\n");
    printf("| object   | mode      | parts | runs | requests | MB/s     |\n");
    printf("|----------|-----------|------:|-----:|---------:|---------:|\n");
    int rc = 0;
    for (size_t i = 0; !rc && i < sizeof(rows) / sizeof(rows[0]); i++)
        rc = bench_row(c, &rows[i], data);
    bench_hashing(data, max);
    free(data);
    ne_s3_close(&c);
    return rc ? 1 : 0;
}
