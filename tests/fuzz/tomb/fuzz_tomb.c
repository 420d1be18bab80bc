/*
 * fuzz_tomb.c - arbitrary bytes, by the first byte's low two bits, as
 * (0) one tombstone: a decoded one re-encodes to the same bytes and is
 * matched against a few points; (1) a tombstone list as anti-entropy
 * exchanges it, learned into a set over a small store (what it names is
 * deleted there); (2) the set's file, opened; (3) an anti-entropy
 * NE_FT_AE_TOMBS request served (digest, list) by a node keeping a set.
 * Nothing may crash, leak or read out of bounds; malformed input is
 * refused.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sharding/antientropy.h"
#include "sharding/tomb.h"

static struct ne_store *g_store;
static struct ne_tombs *g_tombs; /* the set of the serving node */
static struct ne_ae *g_ae;
static char g_dir[64], g_file[96];

static void done(void)
{
    ne_ae_free(&g_ae);
    ne_tombs_close(&g_tombs);
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
    char served[96];
    snprintf(served, sizeof served, "%s/served", g_dir);
    if (ne_tombs_open(served, 0, 0, &g_tombs)) return -1;
    struct ne_ae_opts ao = {.store = g_store, .tombs = g_tombs};
    if (ne_ae_new(&ao, &g_ae)) return -1;
    atexit(done);
    return 0;
}

static void serve(const uint8_t *p, size_t n)
{
    struct ne_pbuf reply = {0};
    uint8_t rt = 0;
    if (ne_ae_handle(g_ae, 4, NE_FT_AE_TOMBS, p, n, &reply, &rt) == 0 &&
        (rt != NE_FT_AE_TOMBS_REPLY || reply.len < 9))
        abort();
    ne_pbuf_free(&reply);
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
    case 2:
        file(data + 1, size - 1);
        break;
    default:
        serve(data + 1, size - 1);
        break;
    }
    return 0;
}
