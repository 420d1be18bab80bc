/*
 * fuzz_write_batch.c - arbitrary bytes as an NE_FT_WRITE_BATCH request
 * served by a replicator (sharding/replicate.h): records, versions, runs
 * of databases and keeper records, whose points are written only where
 * the keeps callback says this node still keeps their shard (here: every
 * other series hash). Nothing may crash, leak or read out of bounds; a
 * request served must have handed every point it held, written or
 * skipped, to the store callback, which checks what it is given.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ports/err.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "sharding/replicate.h"

static struct ne_replicator *g_rep;
static uint64_t g_written;

static int write_points(void *ctx, const char *db, const struct ne_batch *b, const uint64_t *ver,
                        struct ne_write_result *res)
{
    (void)ctx;
    if (!db[0] || b->npts == 0) abort(); /* runs are never empty, names never missing */
    for (uint32_t i = 0; i < b->npts; i++) {
        const struct ne_point *p = &b->pts[i];
        if (p->ts == NE_TS_UNSET || p->nfields == 0) abort();
        if (ver) g_written += ver[i] != 0; /* every version is readable */
    }
    g_written += b->npts;
    res->accepted = b->npts;
    return 0;
}

static bool keeps(void *ctx, uint64_t series_hash)
{
    (void)ctx;
    return series_hash & 1;
}

static void setup(void)
{
    char dir[] = "/tmp/fuzz-write-batch-XXXXXX";
    if (!mkdtemp(dir)) abort();
    ne_log_set_level(NE_LOG_OFF);
    struct ne_replicator_opts o = {
        .node_id = "fuzz",
        .hint_dir = dir,
        .durability = NE_STORE_NONE,
        .local_write = write_points,
        .keeps = keeps,
    };
    if (ne_replicator_start(&o, &g_rep) != 0) abort();
    (void)ne_fs_remove_tree(dir); /* nothing is ever queued here */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_rep) setup();
    struct ne_pbuf reply = {0};
    uint8_t type = 0;
    int rc = ne_replicator_handle(g_rep, "peer", data, size, &reply, &type);
    if (rc == 0 && (type != NE_FT_WRITE_ACK || reply.len != 8)) abort();
    ne_pbuf_free(&reply);
    return 0;
}
