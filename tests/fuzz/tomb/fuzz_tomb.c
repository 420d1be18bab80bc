/*
 * fuzz_tomb.c - arbitrary bytes, by the first byte's low two bits, as
 * (0) one tombstone: a decoded one re-encodes to the same bytes and is
 * matched against a few points; (1) a tombstone list as anti-entropy
 * exchanges it, learned into a set over a small store (what it names is
 * deleted there); (2) the set's file, opened. Nothing may crash, leak or
 * read out of bounds; malformed input is refused.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sharding/tomb.h"

static struct ne_store *g_store;
static char g_dir[64], g_file[96];

static void done(void)
{
    ne_store_close(&g_store);
    ne_fs_remove_tree(g_dir);
}

static int setup(void)
{
    ne_log_set_level(NE_LOG_OFF);
    snprintf(g_dir, sizeof g_dir, "/tmp/fuzz-tomb-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    snprintf(g_file, sizeof g_file, "%s/tombstones", g_dir);
    struct ne_store_opts o;
    ne_store_opts_default(&o);
    o.data_dir = g_dir;
    o.durability = NE_STORE_NONE;
    o.future_grace_ns = 0;
    if (ne_store_open(&o, &g_store)) return -1;
    atexit(done);
    return 0;
}

static void one(const uint8_t *p, size_t n)
{
    struct ne_tomb *t = NULL;
    if (ne_tomb_decode(p, n, &t) != 0) return;
    struct ne_pbuf b = {0};
    if (ne_tomb_encode(t, &b) != 0 || b.len != n || memcmp(b.p, p, n) != 0) abort();
    static const int64_t ts[] = {INT64_MIN, -1, 0, 1767225600000000000LL, INT64_MAX};
    for (size_t i = 0; i < sizeof ts / sizeof ts[0]; i++) {
        (void)ne_tomb_covers(t, t->db, NE_SV("m"), t->nseries ? t->series[0] : 0, ts[i], 0);
        (void)ne_tomb_covers(t, "iot", NE_SV("m"), 42, ts[i], t->version);
    }
    ne_pbuf_free(&b);
    ne_free(t);
}

static void list(const uint8_t *p, size_t n)
{
    (void)remove(g_file);
    struct ne_tombs *t = NULL;
    if (ne_tombs_open(g_file, 0, 0, &t) != 0) abort();
    uint32_t got = 0;
    (void)ne_tombs_merge(t, g_store, p, n, 0, &got);
    if (ne_tombs_count(t) < got) abort();
    ne_tombs_close(&t);
}

static void file(const uint8_t *p, size_t n)
{
    if (ne_fs_write_atomic(g_file, p, n) != 0) return;
    struct ne_tombs *t = NULL;
    if (ne_tombs_open(g_file, 0, 0, &t) == 0) {
        struct ne_pbuf b = {0};
        (void)ne_tombs_encode(t, &b);
        ne_pbuf_free(&b);
        ne_tombs_close(&t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) ready = setup() == 0 ? 1 : -1;
    if (ready < 0 || size < 1) return 0;
    switch (data[0] & 3) {
    case 0:
        one(data + 1, size - 1);
        break;
    case 1:
        list(data + 1, size - 1);
        break;
    default:
        file(data + 1, size - 1);
        break;
    }
    return 0;
}
