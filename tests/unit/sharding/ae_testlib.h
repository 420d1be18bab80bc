/*
 * ae_testlib.h - two anti-entropy sides in one process, for the
 * anti-entropy tests and benchmark: a store each, and a peer call that
 * hands a request straight to the other side's ne_ae_handle.
 */
#ifndef NE_TESTS_AE_TESTLIB_H
#define NE_TESTS_AE_TESTLIB_H

#include <stdio.h>
#include <string.h>

#include "ports/platform.h"
#include "sharding/antientropy.h"
#include "store/store.h"

/* One side: its store, its anti-entropy state and its shard count. */
struct ae_side {
    struct ne_store *st;
    struct ne_ae *ae;
    uint32_t shards;
};

/* The peer call of ne_ae_round: ctx is the struct ae_side answering. */
static inline int ae_call_peer(void *ctx, uint8_t type, const void *msg, size_t n,
                               struct ne_pbuf *reply, uint8_t *reply_type)
{
    struct ae_side *peer = ctx;
    return ne_ae_handle(peer->ae, peer->shards, type, msg, n, reply, reply_type);
}

/* Opens a store in root/name into *out (no durability, no limit on future
 * times; memtable_max_age_ns, or the default when negative). Returns 0 or
 * the store's error. */
static inline int ae_store_open(const char *root, const char *name, int64_t memtable_max_age_ns,
                                struct ne_store **out)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/%s", root, name);
    struct ne_store_opts o;
    ne_store_opts_default(&o);
    o.data_dir = dir;
    o.durability = NE_STORE_NONE;
    o.future_grace_ns = 0;
    if (memtable_max_age_ns >= 0) o.memtable_max_age_ns = memtable_max_age_ns;
    return ne_store_open(&o, out);
}

/* Opens side s on a store as ae_store_open does. Returns 0 or the first
 * error; ae_side_close frees what was opened either way. */
static inline int ae_side_open(struct ae_side *s, const char *root, const char *name,
                               uint32_t shards, int64_t memtable_max_age_ns)
{
    memset(s, 0, sizeof *s);
    s->shards = shards;
    int rc = ae_store_open(root, name, memtable_max_age_ns, &s->st);
    if (rc) return rc;
    struct ne_ae_opts ao = {.store = s->st};
    return ne_ae_new(&ao, &s->ae);
}

static inline void ae_side_close(struct ae_side *s)
{
    ne_ae_free(&s->ae);
    ne_store_close(&s->st);
}

#endif
