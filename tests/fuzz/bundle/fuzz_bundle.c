/*
 * fuzz_bundle.c - the central node's segment receiver under libFuzzer: a
 * pushed body is checked and read exactly as POST /api/v1/segments does
 * (ne_bundle_in_open, then every batch with ne_bundle_in_next).
 *
 * Input: one mode byte, then the body. Mode bit 0 set: before the body is
 * handed over, every checksum the format has (header CRC, dictionary CRC,
 * segment CRC32C and SHA-256 in the trailer, trailer CRC) is recomputed
 * from the layout in sync/bundle/bundle.h, so mutations reach the
 * dictionary and segment parsers instead of stopping at a checksum.
 *
 * Besides "no crash, no sanitizer report", checks that an accepted bundle
 * yields well-formed batches (a database name, points with a measurement,
 * at least one field, the gateway tag, tags sorted) and that a rejected
 * one says why.
 */
#include <mbedtls/sha256.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ports/crc32c.h"
#include "ports/log.h"
#include "ports/platform.h"
#include "store/codec/buf.h"
#include "sync/bundle/bundle.h"

static void check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_bundle: %s\n", what);
        abort();
    }
}

/* Recomputes the checksums of a bundle laid out as bundle.h says, where
 * the sizes in its header fit the buffer. */
static void fix_checksums(uint8_t *p, size_t n)
{
    if (n < NE_BUNDLE_HEADER_FIXED) return;
    uint64_t node_len = (uint64_t)p[6] | (uint64_t)p[7] << 8, dict_len = ne_load_u64le(p + 48),
             seg_len = ne_load_u64le(p + 56);
    uint64_t hdr = NE_BUNDLE_HEADER_FIXED + node_len;
    if (hdr + 4 > n) return;
    ne_store_u32le(p + hdr, ne_crc32c(0, p, hdr));
    uint64_t dict = hdr + 4;
    if (dict_len < 4 || dict_len > n - dict) return;
    ne_store_u32le(p + dict + dict_len - 4, ne_crc32c(0, p + dict, dict_len - 4));
    uint64_t seg = dict + dict_len;
    if (seg_len > n - seg || n - seg - seg_len < NE_BUNDLE_TRAILER_BYTES) return;
    uint8_t *t = p + seg + seg_len;
    ne_store_u32le(t + 4, ne_crc32c(0, p + seg, seg_len));
    mbedtls_sha256_ret(p + seg, seg_len, t + 8, 0);
    ne_store_u32le(t + 40, ne_crc32c(0, t, 40));
}

static void check_batch(const struct ne_batch *b, const char *db)
{
    check(db && db[0], "batch without a database");
    for (uint32_t i = 0; i < b->npts; i++) {
        const struct ne_point *pt = &b->pts[i];
        check(pt->meas.n > 0, "point without a measurement");
        check(pt->nfields > 0, "point without a field");
        int gw = 0;
        for (uint32_t t = 0; t < pt->ntags; t++) {
            const struct ne_tag *tg = &b->tags[pt->tag0 + t];
            if (tg->key.n == 7 && memcmp(tg->key.p, NE_BUNDLE_GATEWAY_TAG, 7) == 0) gw = 1;
            if (t > 0) {
                const struct ne_tag *pv = &b->tags[pt->tag0 + t - 1];
                uint32_t m = pv->key.n < tg->key.n ? pv->key.n : tg->key.n;
                int c = memcmp(pv->key.p, tg->key.p, m);
                check(c < 0 || (c == 0 && pv->key.n < tg->key.n), "tags not sorted");
            }
        }
        check(gw, "point without the gateway tag");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[64], scratch[80];
    if (!path[0]) {
        ne_log_set_level(NE_LOG_OFF);
        const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        snprintf(path, sizeof path, "%s/fuzz-bundle-%d", dir, (int)getpid());
        snprintf(scratch, sizeof scratch, "%s.seg", path);
    }
    if (size < 1) return 0;
    uint8_t *body = malloc(size - 1 + 1);
    check(body != NULL, "malloc");
    memcpy(body, data + 1, size - 1);
    if (data[0] & 1) fix_checksums(body, size - 1);
    check(ne_fs_write_atomic(path, body, size - 1) == 0, "cannot write the input file");
    free(body);
    struct ne_bundle_in_opts o = {.scratch_path = scratch, .batch_points = 64};
    struct ne_bundle_in *in = NULL;
    char why[256] = "";
    int rc = ne_bundle_in_open(path, &o, &in, why, sizeof why);
    if (rc != 0) {
        check(in == NULL, "reader left open after a failure");
        check(why[0] != '\0', "rejected without a reason");
    } else {
        struct ne_batch b;
        ne_batch_init(&b);
        const char *db = NULL;
        int more;
        while ((more = ne_bundle_in_next(in, &b, &db)) == 1)
            check_batch(&b, db);
        check(more == 0 || more == NE_ENOMEM || more == NE_EIO, "unexpected read error");
        ne_batch_free(&b);
        ne_bundle_in_close(&in);
    }
    unlink(path);
    unlink(scratch);
    return 0;
}
