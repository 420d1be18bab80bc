/*
 * fuzz_wal.c - feeds arbitrary bytes to the store as its only WAL file and
 * opens it: recovery (torn tails, mid-file corruption, quarantine), payload
 * decoding and replay into the memtable must never crash or leak, and the
 * store must come up readable. `inspect wal` runs on the same bytes.
 *
 * Input: byte 0 selects the mode, the rest is the file. Mode bit 0 set:
 * the harness first rewrites the header CRC and every record's CRC it can
 * frame (format in store/engine/wal.c), so the fuzzer reaches the payload
 * decoder instead of stopping at checksums.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ports/crc32c.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "store/store.h"

static void fix_crcs(uint8_t *p, size_t n)
{
    if (n < 32) return;
    uint32_t c = ne_crc32c(0, p, 28);
    memcpy(p + 28, &c, 4);
    size_t off = 32;
    while (off + 16 <= n) {
        uint32_t len;
        memcpy(&len, p + off, 4);
        if (len > n - off - 16) break;
        c = ne_crc32c(0, p + off + 8, 8 + (size_t)len);
        memcpy(p + off + 4, &c, 4);
        off += 16 + len;
    }
}

static int count_chunk(void *ctx, const struct ne_scan_chunk *c)
{
    *(size_t *)ctx += c->n;
    return 0;
}

/* Lookup callbacks must not call the store: collect names, then scan. */
struct names {
    char *v[64];
    int n;
};

static int add_name(void *ctx, const char *name)
{
    struct names *nm = ctx;
    if (nm->n < 64) nm->v[nm->n++] = strdup(name);
    return 0;
}

static void scan_all(struct ne_store *s)
{
    struct names dbs = {0};
    ne_store_list_databases(s, add_name, &dbs);
    for (int i = 0; i < dbs.n; i++) {
        struct names ms = {0};
        ne_store_list_measurements(s, dbs.v[i], add_name, &ms);
        for (int k = 0; k < ms.n; k++) {
            size_t n = 0;
            struct ne_store_scan_req q = {
                .db = dbs.v[i], .measurement = ms.v[k], .t0 = INT64_MIN, .t1 = INT64_MAX};
            ne_store_scan(s, &q, count_chunk, &n);
            free(ms.v[k]);
        }
        free(dbs.v[i]);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char dir[256];
    char wal[512], path[600];
    if (!dir[0]) {
        ne_log_set_level(NE_LOG_OFF);
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(dir, sizeof dir, "%s/neoedge-fuzz-wal-%d", base, (int)getpid());
    }
    if (size < 1) return 0;
    ne_fs_remove_tree(dir);
    snprintf(wal, sizeof wal, "%s/store/wal", dir);
    ne_fs_mkdir_p(wal);
    snprintf(path, sizeof path, "%s/wal-0000000000000001.log", wal);
    uint8_t *buf = malloc(size);
    memcpy(buf, data + 1, size - 1);
    if (data[0] & 1) fix_crcs(buf, size - 1);
    ne_fs_write_atomic(path, buf, size - 1);
    free(buf);

    FILE *devnull = fopen("/dev/null", "w");
    ne_store_inspect_wal(path, devnull);
    struct ne_store_opts o;
    ne_store_opts_default(&o);
    o.data_dir = dir;
    o.durability = NE_STORE_NONE;
    o.future_grace_ns = 0;
    struct ne_store *s = NULL;
    if (ne_store_open(&o, &s) == 0) {
        scan_all(s);
        ne_store_close(&s);
    }
    ne_store_verify_dir(dir, devnull);
    fclose(devnull);
    ne_fs_remove_tree(dir);
    return 0;
}
