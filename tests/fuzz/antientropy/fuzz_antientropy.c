/*
 * fuzz_antientropy.c - arbitrary bytes (1) as an anti-entropy request of
 * the type named by the first byte, served over a small store, and (2) as
 * every reply a round receives from its peer (roots, buckets, series and
 * pulled records, whose points are written to the store), by a round
 * over all time and by a windowed one (routine once one succeeded, with
 * a sweep slice). Nothing may
 * crash, leak or read out of bounds; malformed input is refused.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sharding/antientropy.h"

#define SHARDS 4

static struct ne_store *g_store;
static struct ne_ae *g_ae, *g_wae; /* all time; a 1 h window, sweep of 2 */
static struct ne_ring *g_ring;
static char g_dir[64];

static void done(void)
{
    ne_ae_free(&g_ae);
    ne_ae_free(&g_wae);
    ne_ring_free(&g_ring);
    ne_store_close(&g_store);
    ne_fs_remove_tree(g_dir);
}

static int setup(void)
{
    ne_log_set_level(NE_LOG_OFF);
    snprintf(g_dir, sizeof g_dir, "/tmp/fuzz-ae-XXXXXX");
    if (!mkdtemp(g_dir)) return -1;
    struct ne_store_opts o;
    ne_store_opts_default(&o);
    o.data_dir = g_dir;
    o.durability = NE_STORE_NONE;
    o.future_grace_ns = 0;
    if (ne_store_open(&o, &g_store)) return -1;
    struct ne_batch b;
    ne_batch_init(&b);
    uint64_t ver[8];
    static char devs[8][8]; /* the batch's views point here until the write */
    for (int i = 0; i < 8; i++) {
        snprintf(devs[i], sizeof devs[i], "d%d", i);
        ne_batch_begin(&b, NE_SV("m"), 1767225600000000000LL + i * 1000000000LL);
        ne_batch_tag(&b, NE_SV("dev"), ne_sv_c(devs[i]));
        ne_batch_field_f(&b, NE_SV("v"), i);
        ne_batch_end(&b);
        ver[i] = 1000 + (uint64_t)i;
    }
    struct ne_write_result res;
    ne_store_write_versioned(g_store, "iot", &b, ver, &res);
    ne_batch_free(&b);
    struct ne_ae_opts ao = {.store = g_store};
    const char *names[] = {"a", "b"};
    struct ne_ring_opts ro = {.shards = SHARDS, .vnodes = 4, .rf = 2};
    struct ne_ae_opts wo = {
        .store = g_store, .window_ns = 3600LL * 1000000000LL, .sweep_rounds = 2};
    if (ne_ae_new(&ao, &g_ae) || ne_ae_new(&wo, &g_wae) || ne_ring_build(&ro, names, 2, &g_ring))
        return -1;
    atexit(done);
    return 0;
}

struct canned {
    const uint8_t *p;
    size_t n;
};

/* The peer of the round: answers every request with the fuzz bytes, typed
 * as the reply that request expects. */
static int canned_call(void *ctx, uint8_t type, const void *msg, size_t n, struct ne_pbuf *reply,
                       uint8_t *reply_type)
{
    struct canned *c = ctx;
    (void)msg, (void)n;
    reply->len = 0;
    if (ne_pbuf_reserve(reply, c->n ? c->n : 1)) return NE_ENOMEM;
    if (c->n) memcpy(reply->p, c->p, c->n);
    reply->len = c->n;
    *reply_type = (uint8_t)(type + 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) ready = setup() == 0 ? 1 : -1;
    if (ready < 0 || size < 1) return 0;
    static const uint8_t types[4] = {NE_FT_AE_ROOTS, NE_FT_AE_BUCKETS, NE_FT_AE_SERIES,
                                     NE_FT_AE_PULL};
    struct ne_pbuf reply = {0};
    uint8_t rt = 0;
    (void)ne_ae_handle(g_ae, SHARDS, types[data[0] & 3], data + 1, size - 1, &reply, &rt);
    ne_pbuf_free(&reply);
    struct canned c = {data + 1, size - 1};
    (void)ne_ae_round(g_ae, g_ring, 0, 1, canned_call, &c);
    (void)ne_ae_round(g_wae, g_ring, 0, 1, canned_call, &c);
    return 0;
}
