/*
 * bench_sync.c - cloud sync upload cost: throughput and CPU of the S3
 * client on loopback, with and without encryption at rest.
 *
 * Run it (Release build, s3rver behind the SigV4-verifying proxy):
 *
 *   cmake -S . -B build-rel -G Ninja -DCMAKE_BUILD_TYPE=Release -DNE_BENCH=ON
 *   cmake --build build-rel --target bench_sync
 *   bench/sync/run.sh build-rel
 *
 * For each object size (1 MiB as one PUT; 16 MiB and 64 MiB as multipart
 * uploads of 8 MiB parts) the same random body is uploaded a few times
 * under distinct keys (ne_s3_put_object), first as is, then sealed on the
 * fly by a positional sealer (sync/crypt/crypt.h, 1 MiB chunks) so no
 * sealed copy is ever materialised. Figures:
 *
 *   MB/s          10^6 plaintext bytes per second of wall time, median run
 *   CPU s/GB      user + system CPU seconds of this process (getrusage)
 *                 per 10^9 plaintext bytes, over all runs of the row: what
 *                 the uploader costs, the server being another process
 *   enc s/GB      the encrypted row's CPU s/GB minus the plain row's: what
 *                 encryption adds to an upload
 *
 * A last table seals the largest body into memory with no upload, for the
 * cost of AES-256-GCM alone. Never asserts on time: the figures are
 * printed, the exit status only says whether every upload succeeded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "ports/err.h"
#include "ports/platform.h"
#include "sync/crypt/crypt.h"
#include "sync/s3/s3.h"

#define PART_SIZE (8u << 20)

static const char *env(const char *name)
{
    const char *v = getenv(name);
    if (!v) {
        fprintf(stderr, "%s is not set: run bench/sync/run.sh\n", name);
        exit(2);
    }
    return v;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
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

struct result {
    double mbps;       /* median, plaintext MB/s */
    double cpu_per_gb; /* CPU seconds per 10^9 plaintext bytes */
};

/* The plaintext body as the sealer reads it. */
struct body {
    const uint8_t *p;
    size_t n;
};

static int body_read(void *ctx, uint64_t off, void *buf, size_t len, size_t *nread)
{
    const struct body *b = ctx;
    size_t avail = off < b->n ? b->n - (size_t)off : 0;
    *nread = len < avail ? len : avail;
    memcpy(buf, b->p + off, *nread);
    return 0;
}

/* Uploads data[0, size) once under key, sealed when key_bytes is set. */
static int upload_once(struct ne_s3 *c, const char *key, const uint8_t *data, size_t size,
                       const uint8_t *key_bytes)
{
    struct body b = {data, size};
    struct ne_crypt_sealer *s = NULL;
    struct ne_s3_reader r = ne_s3_reader_mem(data, size);
    if (key_bytes) {
        int rc = ne_crypt_sealer_open(key_bytes, 0, NULL, body_read, &b, size, &s);
        if (rc) return rc;
        r = (struct ne_s3_reader){ne_crypt_sealer_read, s, ne_crypt_sealer_size(s)};
    }
    int rc = ne_s3_put_object(c, key, &r, NULL, NULL);
    if (rc) fprintf(stderr, "upload of %s failed: %s\n", key, ne_s3_last_error(c));
    ne_crypt_sealer_close(&s);
    return rc;
}

static int bench_row(struct ne_s3 *c, const struct row *r, const uint8_t *data,
                     const uint8_t *key_bytes, struct result *out)
{
    double mbps[16];
    double cpu0 = cpu_seconds();
    for (int i = 0; i < r->runs; i++) {
        char key[96];
        snprintf(key, sizeof(key), "bench/%s/size=%zu/run=%d.bin%s", key_bytes ? "enc" : "plain",
                 r->size, i, key_bytes ? ".enc" : "");
        int64_t t0 = ne_time_mono_ns();
        int rc = upload_once(c, key, data, r->size, key_bytes);
        int64_t t1 = ne_time_mono_ns();
        if (rc) return rc;
        mbps[i] = (double)r->size / 1e6 / ((double)(t1 - t0) / 1e9);
    }
    double cpu = cpu_seconds() - cpu0;
    out->mbps = median(mbps, r->runs);
    out->cpu_per_gb = cpu / ((double)r->size * r->runs / 1e9);
    return 0;
}

static int sink_count(void *ctx, const void *buf, size_t len)
{
    (void)buf;
    *(uint64_t *)ctx += len;
    return 0;
}

/* AES-256-GCM alone: seals n bytes through the push writer, no upload. */
static void bench_seal_only(const uint8_t *data, size_t n, const uint8_t *key_bytes)
{
    struct ne_crypt_writer *w = NULL;
    uint64_t sunk = 0;
    double cpu0 = cpu_seconds();
    int64_t t0 = ne_time_mono_ns();
    int rc = ne_crypt_writer_open(key_bytes, 0, sink_count, &sunk, &w);
    if (!rc) rc = ne_crypt_writer_write(w, data, n);
    if (!rc) rc = ne_crypt_writer_finish(w, NULL);
    int64_t t1 = ne_time_mono_ns();
    double cpu = cpu_seconds() - cpu0;
    ne_crypt_writer_close(&w);
    if (rc) {
        fprintf(stderr, "sealing failed: %s\n", ne_strerror(rc));
        return;
    }
    printf("\n| sealing only (no upload) | MB/s | CPU s/GB | sealed bytes |\n");
    printf("|---|---:|---:|---:|\n");
    printf("| %zu MiB, 1 MiB chunks | %.0f | %.3f | %llu |\n", n >> 20,
           (double)n / 1e6 / ((double)(t1 - t0) / 1e9), cpu / ((double)n / 1e9),
           (unsigned long long)sunk);
}

static struct ne_s3 *open_client(void)
{
    static char endpoint[64];
    snprintf(endpoint, sizeof(endpoint), "http://127.0.0.1:%s", env("S3_IT_PROXY_PORT"));
    struct ne_s3_opts o;
    ne_s3_opts_init(&o);
    o.endpoint = endpoint;
    o.bucket = env("S3_IT_BUCKET");
    o.access_key = env("S3_IT_ACCESS");
    o.secret_key = env("S3_IT_SECRET");
    o.region = "us-east-1";
    o.path_style = true;
    o.part_size = PART_SIZE;
    o.multipart_threshold = PART_SIZE;
    struct ne_s3 *c = NULL;
    if (ne_s3_open(&o, &c) != 0) {
        fprintf(stderr, "cannot open the S3 client\n");
        return NULL;
    }
    return c;
}

static uint8_t *random_body(size_t n)
{
    uint8_t *data = malloc(n);
    if (!data) return NULL;
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (size_t i = 0; i + 8 <= n; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(data + i, &x, 8);
    }
    return data;
}

int main(void)
{
    static const struct row rows[] = {
        {"1 MiB", 1u << 20, 9},
        {"16 MiB", 16u << 20, 5},
        {"64 MiB", 64u << 20, 3},
    };
    const size_t nrows = sizeof(rows) / sizeof(rows[0]);
    const size_t max = 64u << 20;
    uint8_t key_bytes[NE_CRYPT_KEY_SIZE];
    for (int i = 0; i < NE_CRYPT_KEY_SIZE; i++)
        key_bytes[i] = (uint8_t)(i * 7 + 1);
    struct ne_s3 *c = open_client();
    uint8_t *data = random_body(max);
    if (!c || !data) return 1;
    /* Warm-up: connection, server-side bucket state. */
    int rc = upload_once(c, "bench/warmup.bin", data, 1u << 20, NULL);

    printf("S3 upload to s3rver on loopback through the SigV4-verifying proxy\n");
    printf("(8 MiB parts at and above 8 MiB; encryption: AES-256-GCM, 1 MiB chunks)\n\n");
    printf("| object | mode | runs | plain MB/s | plain CPU s/GB | encrypted MB/s "
           "| encrypted CPU s/GB | enc s/GB |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|\n");
    for (size_t i = 0; !rc && i < nrows; i++) {
        struct result plain, enc;
        rc = bench_row(c, &rows[i], data, NULL, &plain);
        if (!rc) rc = bench_row(c, &rows[i], data, key_bytes, &enc);
        if (rc) break;
        printf("| %s | %s | %d | %.1f | %.2f | %.1f | %.2f | %+.2f |\n", rows[i].label,
               rows[i].size >= PART_SIZE ? "multipart" : "PUT", rows[i].runs, plain.mbps,
               plain.cpu_per_gb, enc.mbps, enc.cpu_per_gb, enc.cpu_per_gb - plain.cpu_per_gb);
        fflush(stdout);
    }
    if (!rc) bench_seal_only(data, max, key_bytes);
    free(data);
    ne_s3_close(&c);
    return rc ? 1 : 0;
}
