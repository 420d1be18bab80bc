/*
 * fuzz_removed.c - arbitrary bytes as data_dir/cluster/removed
 * (sharding/removed.h). Nothing may crash or read out of bounds; a file
 * that parses must write back to the same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "sharding/removed.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ne_removed_entry e[16];
    size_t n = 0;
    if (ne_removed_parse(data, size, e, 16, &n) != 0) return 0;
    struct ne_pbuf out = {0};
    if (ne_removed_format(e, n, &out) != 0) abort();
    if (out.len != size || memcmp(out.p, data, size) != 0) abort();
    ne_pbuf_free(&out);
    return 0;
}
