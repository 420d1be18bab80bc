/*
 * bundle_int.h - what the sending (bundle.c) and receiving (bundle_in.c)
 * halves of the segment bundle share: the header, trailer and dictionary
 * codecs of the format described in bundle.h.
 */
#ifndef NE_SYNC_BUNDLE_INT_H
#define NE_SYNC_BUNDLE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "store/codec/buf.h"
#include "sync/bundle/bundle.h"

#define BUNDLE_MOD "bundle"
/* Limits of dictionary strings (bundle.h). */
#define BUNDLE_DB_MAX   255u
#define BUNDLE_NAME_MAX 65535u
#define BUNDLE_TAGS_MAX 65535u

/* Appends the header of info (node, segment id, ranges, sizes, nseries)
 * with its CRC. 0 or NE_ENOMEM. */
int bundle__header_put(struct ne_buf *b, const struct ne_bundle_info *info);

/* Decodes the fixed part of a header (NE_BUNDLE_HEADER_FIXED bytes at p)
 * into info (ids, ranges, sizes, header_bytes) and *version, after
 * checking the magic and the node id length. 0 or NE_ECORRUPT (reason in
 * why). */
int bundle__header_fixed(const uint8_t *p, struct ne_bundle_info *info, uint16_t *version,
                         char *why, size_t n);

/* Checks a whole header (hdr, len bytes: fixed part, node id, CRC): its
 * CRC, then the version, then the flags, and copies the node id into
 * info. 0, NE_ECHECKSUM, NE_EVERSION or NE_ECORRUPT (reason in why). */
int bundle__header_finish(const uint8_t *hdr, size_t len, uint16_t version,
                          struct ne_bundle_info *info, char *why, size_t n);

/* Appends one dictionary entry. 0, NE_ENOMEM, or NE_EINVAL for a series
 * whose names break the format's limits. */
int bundle__dict_put(struct ne_buf *b, const struct ne_series_info *s);

/* The trailer of a segment whose bytes have crc and sha. */
void bundle__trailer_make(uint32_t crc, const uint8_t sha[32],
                          uint8_t out[NE_BUNDLE_TRAILER_BYTES]);

/* Checks a trailer's magic and CRC and returns its segment crc and sha.
 * 0, NE_ECORRUPT or NE_ECHECKSUM (reason in why). */
int bundle__trailer_read(const uint8_t in[NE_BUNDLE_TRAILER_BYTES], uint32_t *crc, uint8_t sha[32],
                         char *why, size_t n);

/* "sha256:<64 lower-case hex>". */
void bundle__checksum_str(const uint8_t sha[32], char out[NE_BUNDLE_CHECKSUM_MAX]);

#endif
